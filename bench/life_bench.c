/* A supervisor's work, nofork against posix_spawn + waitpid + kill by hand.
 *
 * One round: start N children (N/2 of the static `exit0` target, which ends
 * at once, N/2 of `pause`, which waits for a signal), take the ends of the
 * first half as they come, then stop the second half one by one with a
 * 2-step graceful stop (SIGTERM, up to 1000 ms; then SIGKILL, up to 1000
 * ms; `pause` dies of the TERM). Each method does exactly that:
 *
 *   nofork (thread)      nf_spawn of two compiled cmds; the ends with
 *                        nf_proc_wait_any over all N handles (a taken slot
 *                        set to NULL); the stops with nf_proc_stop
 *   nofork (coroutine)   the same calls inside one coroutine (nf_rt_start(2))
 *   by hand: waitpid     posix_spawn; waitpid(-1) for the ends; kill(pid,
 *                        SIGTERM) + a blocking waitpid(pid): no deadline,
 *                        so a child that ignored TERM would hang it (the
 *                        floor of what a hand-written stop costs)
 *   by hand: WNOHANG     the same with the deadline kept the usual way:
 *                        waitpid(pid, WNOHANG) every 1 ms until it ends or
 *                        1000 ms pass, then SIGKILL and a blocking waitpid
 *
 * Interleaved rounds (bench/harness.h); per round: wall time, CPU time of
 * the supervisor itself (getrusage RUSAGE_SELF: the spawns, the waits, the
 * polling), and CPU time of supervisor + children (RUSAGE_CHILDREN too).
 * Medians over rounds, min-max.
 *
 * usage: life_bench EXIT0 PAUSE [rounds] [children]
 */
#include <nofork.h>

#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *exit0_path, *pause_path;
static char *exit0_argv[] = {"exit0", NULL}, *pause_argv[] = {"pause", NULL};
static nf_cmd *exit0_cmd, *pause_cmd;
static int N = 1000;

static nf_proc *procs;
static nf_proc **set;
static pid_t *pids;

/* Wall-clock marks of the current round: after the starts, after the waits. */
static double t_started, t_waited;

static void die(const char *what, int e)
{
	fprintf(stderr, "life_bench: %s: %s\n", what, strerror(e));
	exit(1);
}

/* ---- nofork ------------------------------------------------------------------ */

static void nofork_round(void)
{
	for (int i = 0; i < N; i++) {
		int e = nf_spawn(i < N / 2 ? exit0_cmd : pause_cmd, &procs[i], NULL);
		if (e)
			die("nf_spawn", e);
		set[i] = &procs[i];
	}
	t_started = hn_now_s();
	for (int k = 0; k < N / 2; k++) {
		size_t i;
		int st, e = nf_proc_wait_any(set, (size_t)N, &i, &st, -1);
		if (e || i >= (size_t)N / 2 || st != 0)
			die("nf_proc_wait_any", e ? e : EPROTO);
		nf_proc_release(&procs[i]);
		set[i] = NULL;
	}
	t_waited = hn_now_s();
	static const nf_stop_step steps[] = {{SIGTERM, 1000}, {SIGKILL, 1000}};
	for (int i = N / 2; i < N; i++) {
		int st, e = nf_proc_stop(&procs[i], steps, 2, 0, &st);
		if (e || !WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
			die("nf_proc_stop", e ? e : EPROTO);
		nf_proc_release(&procs[i]);
	}
}

static atomic_int co_done;

static void nofork_coroutine(void *arg)
{
	(void)arg;
	nofork_round();
	atomic_store(&co_done, 1);
}

static void nofork_coroutine_round(void)
{
	atomic_store(&co_done, 0);
	int e = nf_go(nofork_coroutine, NULL);
	if (e)
		die("nf_go", e);
	while (!atomic_load(&co_done))
		nanosleep(&(struct timespec){0, 200000}, NULL);
}

/* ---- by hand ----------------------------------------------------------------- */

static void hand_start(void)
{
	for (int i = 0; i < N; i++) {
		int e = posix_spawn(&pids[i], i < N / 2 ? exit0_path : pause_path, NULL, NULL,
				    i < N / 2 ? exit0_argv : pause_argv, environ);
		if (e)
			die("posix_spawn", e);
	}
	t_started = hn_now_s();
	for (int k = 0; k < N / 2; k++) {
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, 0)) < 0 && errno == EINTR)
			;
		if (pid < 0 || st != 0)
			die("waitpid", pid < 0 ? errno : EPROTO);
	}
	t_waited = hn_now_s();
}

static void reap(pid_t pid, int want)
{
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r != pid || !WIFSIGNALED(st) || WTERMSIG(st) != want)
		die("waitpid", r < 0 ? errno : EPROTO);
}

static void hand_blocking_round(void)
{
	hand_start();
	for (int i = N / 2; i < N; i++) {
		kill(pids[i], SIGTERM);
		reap(pids[i], SIGTERM);
	}
}

static void hand_polling_round(void)
{
	hand_start();
	for (int i = N / 2; i < N; i++) {
		kill(pids[i], SIGTERM);
		int st = 0;
		pid_t r = 0;
		for (int ms = 0; ms <= 1000 && (r = waitpid(pids[i], &st, WNOHANG)) == 0; ms++)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
		if (r == pids[i]) {
			if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
				die("waitpid", EPROTO);
			continue;
		}
		kill(pids[i], SIGKILL);
		reap(pids[i], SIGKILL);
	}
}

/* ---- driver ------------------------------------------------------------------ */

static double cpu_self_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

struct method {
	const char *name;
	void (*round)(void);
	double wall[HN_MAX_ROUNDS], self[HN_MAX_ROUNDS], all[HN_MAX_ROUNDS];
	double start[HN_MAX_ROUNDS], wait[HN_MAX_ROUNDS], stop[HN_MAX_ROUNDS];
};

static struct method m[] = {
	{"nofork (thread): wait_any + stop", nofork_round, {0}, {0}, {0}, {0}, {0}, {0}},
	{"nofork (coroutine): wait_any + stop", nofork_coroutine_round, {0}, {0}, {0}, {0}, {0}, {0}},
	{"by hand: posix_spawn, waitpid, kill (no deadline)", hand_blocking_round, {0}, {0}, {0}, {0}, {0}, {0}},
	{"by hand: posix_spawn, waitpid, kill, WNOHANG every 1 ms", hand_polling_round, {0}, {0}, {0}, {0}, {0}, {0}},
};
enum { M = sizeof m / sizeof *m };

static void one_round(void *arg, int r, int j)
{
	(void)arg;
	double w = hn_now_s(), s = cpu_self_s(), a = hn_cpu_s();
	m[j].round();
	double end = hn_now_s();
	m[j].wall[r] = (end - w) * 1e3;
	m[j].start[r] = (t_started - w) * 1e3;
	m[j].wait[r] = (t_waited - t_started) * 1e3;
	m[j].stop[r] = (end - t_waited) * 1e3;
	m[j].self[r] = (cpu_self_s() - s) * 1e3;
	m[j].all[r] = (hn_cpu_s() - a) * 1e3;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s EXIT0 PAUSE [rounds] [children]\n", argv[0]);
		return 2;
	}
	exit0_path = argv[1];
	pause_path = argv[2];
	int rounds = argc > 3 ? atoi(argv[3]) : 9;
	N = argc > 4 ? atoi(argv[4]) : 1000;
	if (rounds < 1 || rounds > HN_MAX_ROUNDS || N < 2)
		return 2;
	/* Every child holds a pidfd of ours while it runs. */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)N + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)N + 64 ? rl.rlim_max : (rlim_t)N + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	procs = calloc((size_t)N, sizeof *procs);
	set = calloc((size_t)N, sizeof *set);
	pids = calloc((size_t)N, sizeof *pids);
	int e = !procs || !set || !pids ? ENOMEM : nf_cmd_new(&exit0_cmd, exit0_path, exit0_argv, NULL);
	if (!e)
		e = nf_cmd_new(&pause_cmd, pause_path, pause_argv, NULL);
	if (!e)
		e = nf_rt_start(2);
	if (e)
		die("setup", e);
	hn_print_load("before");
	for (int j = 0; j < M; j++) /* warm-up: pools, page cache, plans */
		m[j].round();
	hn_interleave(rounds, M, one_round, NULL);
	hn_print_load("after");
	printf("\n### Supervisor: %d children started, %d waited for as they end, %d stopped "
	       "(SIGTERM, then SIGKILL after 1000 ms), %d rounds\n\n",
	       N, N / 2, N - N / 2, rounds);
	printf("| method | wall ms (median, min-max) | start / wait / stop ms (medians) | supervisor CPU ms | supervisor + children CPU ms | wall / nofork (thread) |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	double base = hn_stats(m[0].wall, rounds).med;
	for (int j = 0; j < M; j++) {
		struct hn_stats w = hn_stats(m[j].wall, rounds), s = hn_stats(m[j].self, rounds),
				a = hn_stats(m[j].all, rounds);
		printf("| %s | %.1f (%.1f-%.1f) | %.1f / %.1f / %.1f | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) | %.2f |\n",
		       m[j].name, w.med, w.min, w.max, hn_stats(m[j].start, rounds).med, hn_stats(m[j].wait, rounds).med,
		       hn_stats(m[j].stop, rounds).med, s.med, s.min, s.max, a.med, a.min, a.max, w.med / base);
	}
	nf_rt_stop();
	nf_cmd_free(exit0_cmd);
	nf_cmd_free(pause_cmd);
	return 0;
}
