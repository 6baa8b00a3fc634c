/* Spawning from coroutines vs threads (issue targets: nofork from 1000
 * coroutines on 2 workers >= 0.9x the throughput of two threads running raw
 * vfork+execve loops; a ticker coroutine's worst lateness <= 1 ms).
 *
 * One process, interleaved rounds: each round runs every method once over
 * the same number of spawn+wait of the static exit0 target, in an order
 * rotated by the round. Reports the median spawns/s over rounds, min-max, the
 * ratio to the vfork threads, and for the coroutine methods the ticker's
 * worst lateness (a coroutine sleeping 1 ms in a loop on the same workers:
 * how late it wakes, i.e. how long a worker was kept from running it). A
 * plain thread runs the same ticker during every method, as a control: how
 * late the kernel wakes any thread under that method's load.
 *
 * Methods:
 *   vfork x2 threads     the reference: two threads, raw vfork+execve+waitpid
 *   nofork x2 threads    two threads, nf_spawn + nf_proc_wait (sync path)
 *   nofork coroutines    1000 coroutines on nf_rt_start(2), each spawning and
 *                        waiting in turn (parked while a spawn helper thread
 *                        clones, or on its own worker while the other one
 *                        idles; the wait parks on the pidfd in the poller)
 *
 * usage: coro_bench TARGET [rounds] [spawns-per-round]
 *   CORO_N=n          n spawning coroutines instead of 1000
 *   CORO_ONLY=prefix  only the method whose name starts with prefix, rounds
 *                     times, no table: a bare loop for perf stat/record
 */
#include <nofork.h>

#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int COROS = 1000;

extern char **environ;
static const char *target;
static char *targv[] = {"exit0", NULL};
static nf_cmd *cmd;
static int per_round;

/* ---- threads ---------------------------------------------------------------- */

__attribute__((noinline)) static void vfork_one(void)
{
	pid_t p = vfork();
	if (p == 0) {
		execve(target, targv, environ);
		_exit(127);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || st != 0)
		abort();
}

static void nofork_one(void)
{
	nf_proc p;
	int st;
	if (nf_spawn(cmd, &p, NULL) || nf_proc_wait(&p, &st, -1) || st != 0)
		abort();
	nf_proc_release(&p);
}

static void *thread_loop(void *arg)
{
	void (*one)(void) = (void (*)(void))arg;
	for (int i = 0; i < per_round / 2; i++)
		one();
	return NULL;
}

static double run_threads(void (*one)(void))
{
	pthread_t t[2];
	double t0 = hn_now_s();
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_loop, (void *)one);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return per_round / (hn_now_s() - t0);
}

static double run_vfork(double *late) { *late = NAN; return run_threads(vfork_one); }
static double run_nofork_threads(double *late) { *late = NAN; return run_threads(nofork_one); }

/* ---- coroutines ------------------------------------------------------------- */

static atomic_int left;     /* spawns still to start this round */
static atomic_int running;  /* spawning coroutines alive */
static atomic_llong worst_ns;

static void spawner(void *arg)
{
	(void)arg;
	while (atomic_fetch_sub(&left, 1) > 0)
		nofork_one();
	atomic_fetch_sub(&running, 1);
}

/* One 1 ms tick of sleep(): how much later than 1 ms it returned, kept in
 * *worst if it is the worst so far. */
static void tick(void (*sleep)(void), atomic_llong *worst)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	sleep();
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long late = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) - 1000000;
	long long w = atomic_load(worst);
	while (late > w && !atomic_compare_exchange_weak(worst, &w, late))
		;
}

static void sleep_coroutine(void) { nf_sleep_ms(1); }

static void ticker(void *arg)
{
	(void)arg;
	while (atomic_load(&running) > 0)
		tick(sleep_coroutine, &worst_ns);
}

static double run_coroutines(double *late)
{
	atomic_store(&left, per_round);
	atomic_store(&running, COROS);
	atomic_store(&worst_ns, 0);
	double t0 = hn_now_s();
	for (int i = 0; i < COROS; i++)
		if (nf_go(spawner, NULL))
			abort();
	if (nf_go(ticker, NULL))
		abort();
	while (atomic_load(&running) > 0) /* the ticker ends with the spawners */
		nf_sleep_ms(1);
	double rate = per_round / (hn_now_s() - t0);
	*late = (double)atomic_load(&worst_ns) / 1e6;
	return rate;
}

/* ---- a plain-thread ticker, the control ------------------------------------- */

/* The same 1 ms ticker as a plain thread, running during every method: how
 * late the kernel wakes any thread under that load. On 2 busy cores this,
 * not the runtime, bounds the coroutine ticker. */
static atomic_int tt_run;
static atomic_llong tt_worst_ns;

static void sleep_thread(void) { nanosleep(&(struct timespec){0, 1000000}, NULL); }

static void *thread_ticker(void *arg)
{
	(void)arg;
	while (atomic_load(&tt_run))
		tick(sleep_thread, &tt_worst_ns);
	return NULL;
}

static double run_with_thread_ticker(double (*run)(double *late), double *late, double *thread_late)
{
	pthread_t t;
	atomic_store(&tt_run, 1);
	atomic_store(&tt_worst_ns, 0);
	if (pthread_create(&t, NULL, thread_ticker, NULL))
		abort();
	double rate = run(late);
	atomic_store(&tt_run, 0);
	pthread_join(t, NULL);
	*thread_late = (double)atomic_load(&tt_worst_ns) / 1e6;
	return rate;
}

/* ---- driver ----------------------------------------------------------------- */

struct method {
	const char *name;
	double (*run)(double *late);
	double rate[64], late[64], tlate[64];
};

static struct method m[] = {
	{"vfork x2 threads", run_vfork, {0}, {0}, {0}},
	{"nofork x2 threads", run_nofork_threads, {0}, {0}, {0}},
	{"nofork 1000 coroutines / 2 workers", run_coroutines, {0}, {0}, {0}},
};
enum { M = sizeof m / sizeof *m };

/* Method j's round (hn_interleave's callback). */
static void one_round(void *arg, int r, int j)
{
	(void)arg;
	m[j].rate[r] = run_with_thread_ticker(m[j].run, &m[j].late[r], &m[j].tlate[r]);
}

/* The table, with medians over rounds (and of the per-round ratios). */
static void print_table(int rounds)
{
	double ratio[M][64];
	for (int r = 0; r < rounds; r++)
		for (int j = 0; j < M; j++)
			ratio[j][r] = m[j].rate[r] / m[0].rate[r];
	printf("### Spawn throughput: threads vs coroutines (%d rounds x %d spawn+wait of %s)\n\n", rounds, per_round,
	       target);
	printf("| method | median spawns/s | min-max | ratio to vfork x2 (median of per-round ratios) | coroutine ticker worst lateness, ms (median, max) | plain-thread ticker worst lateness, ms (median, max) |\n");
	printf("|---|---:|---|---:|---|---|\n");
	for (int j = 0; j < M; j++) {
		struct hn_stats rate = hn_stats(m[j].rate, rounds), rat = hn_stats(ratio[j], rounds);
		struct hn_stats late = hn_stats(m[j].late, rounds), tlate = hn_stats(m[j].tlate, rounds);
		char lates[64] = "-";
		if (!isnan(m[j].late[0]))
			snprintf(lates, sizeof lates, "%.2f, %.2f", late.med, late.max);
		printf("| %s | %.0f | %.0f-%.0f | %.3f | %s | %.2f, %.2f |\n", m[j].name, rate.med, rate.min,
		       rate.max, rat.med, lates, tlate.med, tlate.max);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s TARGET [rounds] [spawns-per-round]\n", argv[0]);
		return 2;
	}
	target = argv[1];
	if (getenv("CORO_N"))
		COROS = atoi(getenv("CORO_N"));
	int rounds = argc > 2 ? atoi(argv[2]) : 9;
	per_round = argc > 3 ? atoi(argv[3]) : 4000;
	if (rounds < 1 || per_round < COROS || COROS < 1)
		return 2;
	if (nf_cmd_new(&cmd, target, targv, NULL) || nf_rt_start(2))
		return 1;

	const char *only = getenv("CORO_ONLY"); /* one method, a bare loop for perf */
	if (only) {
		double late;
		for (int j = 0; j < M; j++)
			if (!strncmp(m[j].name, only, strlen(only)))
				for (int r = 0; r < rounds; r++)
					m[j].run(&late);
		nf_rt_stop();
		return 0;
	}
	if (rounds > 64)
		rounds = 64;
	double late_dummy;
	for (int j = 0; j < M; j++) /* warm-up: pools, page cache, plan */
		m[j].run(&late_dummy);
	hn_interleave(rounds, M, one_round, NULL);
	print_table(rounds);
	nf_rt_stop();
	nf_cmd_free(cmd);
	return 0;
}
