/* The child contract (README, "The child contract"), checked from outside:
 * - a signal storm during spawns never runs a parent's handler in a child;
 * - spawning while other threads hold stdio locks and malloc's main arena
 *   lock completes (a watchdog turns a deadlock into a failure);
 * - spawns keep working, with the right child state, after clone3 is denied
 *   (the clone fallback), checked here in a forked process.
 * (The child object's lack of undefined symbols is the meson test
 * asm-child-no-undefined; the action/attribute suites are rerun with clone3
 * denied as the meson tests *-clone3-enosys/eperm.) */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- signal storm ------------------------------------------------------------ */

static pid_t parent_pid;
static atomic_long handled;
static atomic_int foreign_pid; /* pid the handler ran in, if not ours */

static void storm_handler(int sig)
{
	(void)sig;
	pid_t me = (pid_t)syscall(SYS_getpid);
	if (me != parent_pid)
		atomic_store(&foreign_pid, (int)me);
	atomic_fetch_add(&handled, 1);
}

static atomic_int storm_stop;

static void *stormer(void *arg)
{
	(void)arg;
	/* Block it here so the spawning thread is the one interrupted. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	while (!atomic_load(&storm_stop))
		kill(0, SIGUSR1); /* our group: us and every child not yet exec'd */
	return NULL;
}

START_TEST(signal_storm_never_runs_handler_in_child)
{
	/* Check made this test process a group leader; make sure, since the
	 * storm goes to the whole group. */
	if (getpgrp() != getpid())
		ck_assert_int_eq(setpgid(0, 0), 0);
	parent_pid = getpid();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = storm_handler; /* no SA_RESTART: EINTR everywhere */
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);

	nf_cmd *cmd = probe_cmd("exit", "0");
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1); /* so the exec'd probe survives the storm */
	ck_assert_int_eq(nf_cmd_sigmask(cmd, &mask), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, "/dev/null", O_RDONLY, 0), 0);

	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, stormer, NULL), 0);
	int bad = 0, first_rc = 0, first_st = 0;
	for (int i = 0; i < 2000; i++) {
		nf_proc p;
		int rc = nf_spawn(cmd, &p, NULL);
		int st = -1;
		if (rc == 0) {
			rc = nf_proc_wait(&p, &st, -1);
			nf_proc_release(&p);
		}
		if ((rc != 0 || st != 0) && bad++ == 0) {
			first_rc = rc;
			first_st = st;
		}
	}
	atomic_store(&storm_stop, 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(atomic_load(&foreign_pid) == 0, "SIGUSR1 handler ran in pid %d, not in %d",
		      atomic_load(&foreign_pid), (int)parent_pid);
	ck_assert_msg(bad == 0, "%d of 2000 spawns failed; first: rc %d (%s), status 0x%x", bad, first_rc,
		      strerror(first_rc), first_st);
	ck_assert_msg(atomic_load(&handled) > 0, "the storm never reached this process");
	nf_cmd_free(cmd);
}
END_TEST

/* ---- locks held by other threads ------------------------------------------------
 * One thread holds stdout's lock. Another calls malloc_stats() with stderr on
 * a full pipe: glibc takes stderr's lock and the main arena's mutex, then
 * blocks in write() while holding both. A third hammers malloc/free. The
 * spawning thread (which would itself block on the main arena if anything
 * on the spawn path called malloc) must get through; the alarm is the
 * watchdog that fails the test instead of hanging. */

static atomic_int locks_release;
static atomic_int stdout_locked;

static void *hold_stdout(void *arg)
{
	(void)arg;
	flockfile(stdout);
	atomic_store(&stdout_locked, 1);
	while (!atomic_load(&locks_release))
		sched_yield();
	funlockfile(stdout);
	return NULL;
}

static atomic_int hammer_stop;

static void *hammer(void *arg)
{
	(void)arg;
	unsigned seed = 1;
	void *keep[64] = { 0 };
	while (!atomic_load(&hammer_stop)) {
		unsigned i = (seed = seed * 1103515245u + 12345u) >> 16;
		free(keep[i % 64]);
		keep[i % 64] = malloc(16 + i % 4096);
	}
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	return NULL;
}

static atomic_int stats_done;

static void *stats(void *arg)
{
	(void)arg;
	malloc_stats();
	atomic_store(&stats_done, 1);
	return NULL;
}


static atomic_int stats_tid;

static void *stats_tid_wrapper(void *arg)
{
	atomic_store(&stats_tid, (int)syscall(SYS_gettid));
	return stats(arg);
}

START_TEST(spawn_while_others_hold_locks)
{
	alarm(60); /* watchdog: SIGALRM's default action fails the test */
	nf_cmd *cmd = probe_cmd("exit", "0");
	ck_assert_int_eq(nf_cmd_open(cmd, 5, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(kit_spawn_wait(cmd), 0); /* compile the plan first */
	nf_cmd *fail = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_chdir(fail, "/nonexistent-nofork"), 0);
	nf_proc fp;
	nf_error ferr;
	ck_assert_int_eq(nf_spawn(fail, &fp, &ferr), ENOENT); /* compiled too */

	/* stderr onto a pipe that is already full. */
	int saved = dup(2);
	ck_assert_int_ge(saved, 0);
	int pfd[2];
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC | O_NONBLOCK), 0);
	char junk[4096];
	memset(junk, 'j', sizeof junk);
	while (write(pfd[1], junk, sizeof junk) > 0)
		;
	ck_assert_int_eq(fcntl(pfd[1], F_SETFL, 0), 0);
	ck_assert_int_eq(dup2(pfd[1], 2), 2);

	pthread_t tout, thammer, tstats;
	ck_assert_int_eq(pthread_create(&tout, NULL, hold_stdout, NULL), 0);
	ck_assert_int_eq(pthread_create(&thammer, NULL, hammer, NULL), 0);
	ck_assert_int_eq(pthread_create(&tstats, NULL, stats_tid_wrapper, NULL), 0);
	while (!atomic_load(&stdout_locked) || !atomic_load(&stats_tid))
		sched_yield();
	/* Wait until malloc_stats is blocked in write(2), i.e. holding the
	 * main arena's mutex. */
	while (kit_current_syscall((pid_t)atomic_load(&stats_tid)) != SYS_write)
		sched_yield();

	int bad = 0;
	for (int i = 0; i < 300; i++) {
		nf_proc p;
		int st = -1;
		int rc = nf_spawn(cmd, &p, NULL);
		if (rc == 0) {
			rc = nf_proc_wait(&p, &st, -1);
			nf_proc_release(&p);
		}
		bad += rc != 0 || st != 0;
		/* The error path too: the failing child is reaped, the record
		 * filled, without stdio or malloc. */
		bad += nf_spawn(fail, &fp, &ferr) != ENOENT || ferr.op != NF_OP_CHDIR;
	}
	/* Still blocked: the locks were held for the whole run. The thread may
	 * be running for a moment: a child's SIGCHLD sent while the spawning
	 * thread had every signal blocked is not discarded but handed to it,
	 * ignored there, and its write(2) restarts. So look again, briefly. */
	int still = !atomic_load(&stats_done) && kit_await_syscall((pid_t)atomic_load(&stats_tid), SYS_write, 1.0);

	/* Drain from this thread: creating a thread now would itself need
	 * malloc (its TLS) and block on the arena. pfd[0] is non-blocking. */
	while (!atomic_load(&stats_done))
		if (read(pfd[0], junk, sizeof junk) <= 0)
			sched_yield();
	ck_assert_int_eq(pthread_join(tstats, NULL), 0);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	close(pfd[1]);
	close(pfd[0]);
	atomic_store(&locks_release, 1);
	atomic_store(&hammer_stop, 1);
	ck_assert_int_eq(pthread_join(tout, NULL), 0);
	ck_assert_int_eq(pthread_join(thammer, NULL), 0);
	alarm(0);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(still, 1);
	nf_cmd_free(cmd);
	nf_cmd_free(fail);
}
END_TEST

/* ---- the clone fallback, in a forked process ------------------------------------- */

static volatile pid_t handler_ran_in;

static void record_handler(int sig)
{
	(void)sig;
	handler_ran_in = (pid_t)syscall(SYS_getpid);
}

/* In the forked process: deny clone3, then spawn probes and check their
 * state. Returns a small code for the parent (0 = all good). */
static int fallback_child(int err)
{
	if (kit_seccomp(&KIT_DENY_ALWAYS(SYS_clone3, err), 1, KIT_NNP) != 0)
		return 10;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != err)
		return 11;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = record_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	for (int s = 1; s < 32; s++) /* nothing ignored but what we ignore (nohup ignores SIGHUP) */
		if (s != SIGKILL && s != SIGSTOP && signal(s, SIG_DFL) == SIG_IGN)
			continue;
	signal(SIGUSR1, SIG_IGN);
	for (int i = 0; i < 50; i++) {
		nf_cmd *cmd = probe_cmd(NULL);
		sigset_t set, none;
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigemptyset(&none);
		nf_cmd_sigdefault(cmd, &set);
		nf_cmd_sigmask(cmd, &none);
		nf_cmd_setsid(cmd);
		nf_cmd_chdir(cmd, "/");
		probe_report r;
		probe_run_ok(cmd, &r);
		int ok = probe_hex(&r, "sigcaught") == 0 && probe_hex(&r, "sigign") == 0 &&
			 probe_hex(&r, "sigmask") == 0 && probe_long(&r, "sid") == r.pid &&
			 !strcmp(probe_get(&r, "cwd"), "/") && probe_long(&r, "nnp") == 1;
		probe_report_free(&r);
		nf_cmd_free(cmd);
		if (!ok)
			return 12;
	}
	/* Failure reporting works on this path as well. */
	nf_cmd *cmd = probe_cmd(NULL);
	nf_cmd_close(cmd, 150);
	nf_error e;
	nf_proc p;
	if (nf_spawn(cmd, &p, &e) != EBADF || e.op != NF_OP_CLOSE || e.fd != 150)
		return 13;
	nf_cmd_free(cmd);
	if (handler_ran_in != 0)
		return 14;
	siginfo_t si;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) != -1 || errno != ECHILD)
		return 15;
	return 0;
}

static void run_fallback(int err)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fallback_child(err));
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "fallback with clone3 -> %s: status 0x%x (exit 10-11 filter, 12 child state, "
		      "13 error record, 14 handler ran in a child, 15 zombie)",
		      strerror(err), st);
}

START_TEST(fallback_when_clone3_enosys)
{
	run_fallback(ENOSYS);
}
END_TEST

START_TEST(fallback_when_clone3_eperm)
{
	run_fallback(EPERM);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("contract");
	TCase *tc = kit_tcase("contract", 120);
	tcase_add_test(tc, signal_storm_never_runs_handler_in_child);
	tcase_add_test(tc, spawn_while_others_hold_locks);
	tcase_add_test(tc, fallback_when_clone3_enosys);
	tcase_add_test(tc, fallback_when_clone3_eperm);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
