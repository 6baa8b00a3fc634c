/* Storms: spawning from several threads while another thread hammers malloc
 * and another one fires SIGUSR1/SIGCHLD at everybody. Checks: no deadlock (a
 * watchdog ends the test with a diagnosis instead of hanging), no handler
 * ever runs inside a child (signals also go to our process group, where a
 * child is until it execs: with the parent's mask not blocked around the
 * clone, the legacy-clone storm counts hundreds of such runs), every child
 * ends with exactly the status it was asked for, and nothing leaks (fds,
 * children: the fixture).
 *
 * The same from 1000 coroutines on 2 runtime workers (nf_spawn parks the
 * coroutine while a spawn helper thread clones, nf_proc_wait parks it on the
 * pidfd), with as many
 * spawns in total as the 2 threads make.
 *
 * NF_STORM_N sets spawns per thread (default 2000 here; tests/run-hardening
 * runs the specified 10000). */
#include "kit.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPAWNERS 2
#define CODES 16

static long storm_n(void)
{
	const char *s = getenv("NF_STORM_N");
	long n = s && *s ? strtol(s, NULL, 10) : 2000;
	return n > 0 ? n : 2000;
}

static nf_cmd *codes[CODES]; /* probe exit k, shared by all spawners */
static atomic_long progress, failures, wrong_status;
static atomic_int stop;
static char first_failure[256];
static atomic_flag failure_noted = ATOMIC_FLAG_INIT;

static void note_failure(const char *fmt, long a, long b)
{
	atomic_fetch_add(&failures, 1);
	if (!atomic_flag_test_and_set(&failure_noted))
		snprintf(first_failure, sizeof first_failure, fmt, a, b);
}

/* Spawn cmd (probe exit k), wait, and check it exited with exactly k. */
static void spawn_and_check(const nf_cmd *cmd, int k)
{
	nf_proc p;
	nf_error err;
	int e = nf_spawn(cmd, &p, &err);
	if (e) {
		note_failure("nf_spawn: errno %ld at op %ld", e, err.op);
		return;
	}
	int st = -1;
	e = nf_proc_wait(&p, &st, -1);
	if (e)
		note_failure("nf_proc_wait: errno %ld (exit %ld expected)", e, k);
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != k) {
		atomic_fetch_add(&wrong_status, 1);
		note_failure("status 0x%lx, expected exit %ld", st, k);
	}
	nf_proc_release(&p);
}

/* Spawn probe exit k for k cycling through 0..15 with the shared, compiled
 * cmds; every 32nd spawn builds, spawns and frees a fresh cmd instead, so
 * the builder and compiler allocate under the storm too. */
static void *spawner(void *arg)
{
	long n = *(long *)arg, seed = (long)(intptr_t)&n;
	for (long i = 0; i < n && !atomic_load(&stop); i++) {
		int k = (int)((i + seed) % CODES);
		nf_cmd *fresh = NULL;
		const nf_cmd *cmd = codes[k];
		if (i % 32 == 31) {
			char code[8];
			snprintf(code, sizeof code, "%d", 100 + k);
			char *argv[] = {(char *)probe_path(), "exit", code, NULL};
			int e = nf_cmd_new(&fresh, probe_path(), argv, NULL);
			if (e) {
				note_failure("nf_cmd_new: errno %ld (spawn %ld)", e, i);
				continue;
			}
			cmd = fresh;
			k += 100;
		}
		spawn_and_check(cmd, k);
		nf_cmd_free(fresh);
		atomic_fetch_add(&progress, 1);
	}
	return NULL;
}

/* Keeps malloc's arenas and locks busy: if a child ever took a malloc lock
 * (or ran code that does), a spawner would deadlock and the watchdog fire. */
static void *malloc_storm(void *arg)
{
	(void)arg;
	void *slot[64] = {0};
	unsigned x = 12345;
	while (!atomic_load(&stop)) {
		x = x * 1103515245 + 12345;
		unsigned i = (x >> 8) % 64;
		free(slot[i]);
		size_t size = 1 + (x >> 4) % (x & 1 ? 300000 : 2000); /* brk and mmap sizes */
		slot[i] = malloc(size);
		if (slot[i])
			((char *)slot[i])[size - 1] = 1;
	}
	for (int i = 0; i < 64; i++)
		free(slot[i]);
	return NULL;
}

static pthread_t spawner_threads[SPAWNERS];

/* Signals at our process group, where the children are until they exec:
 * only SIGCHLD and SIGURG, whose default (after exec) is to ignore, so a
 * program is never killed by them, while a handler that ran in a child
 * before exec would be counted. Needs a group of our own (setpgid in the
 * test). */
static void signal_group(long i)
{
	kill(0, i & 2 ? SIGURG : SIGCHLD);
}

/* SIGUSR1 and SIGCHLD at the process and at each spawner, SIGCHLD and SIGURG
 * at the group, as fast as the kernel takes them (a short pause now and
 * then keeps it from starving the spawners on 2 cores). */
static void *signal_storm(void *arg)
{
	(void)arg;
	long i = 0;
	while (!atomic_load(&stop)) {
		int sig = i & 1 ? SIGCHLD : SIGUSR1;
		kill(getpid(), sig);
		pthread_kill(spawner_threads[i % SPAWNERS], sig);
		signal_group(i);
		if (++i % 64 == 0)
			nanosleep(&(struct timespec){0, 50000}, NULL);
	}
	return NULL;
}

static void dump_threads(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd,
	         "for t in /proc/%d/task/*; do echo \"$t $(cat $t/wchan) $(cut -d' ' -f3 $t/stat)\"; done >&2",
	         (int)getpid());
	if (system(cmd) != 0)
		fprintf(stderr, "(could not list threads)\n");
}

/* Fails the test (exit 3: Check reports an early exit) when the spawners
 * make no progress for 30 s, after saying where every thread sleeps. */
static void *watchdog(void *arg)
{
	(void)arg;
	long last = -1;
	time_t since = time(NULL); /* by the clock: signals cut sleeps short */
	while (!atomic_load(&stop)) {
		nanosleep(&(struct timespec){0, 100000000}, NULL);
		long now = atomic_load(&progress);
		if (now != last) {
			last = now;
			since = time(NULL);
		}
		if (time(NULL) - since >= 30) {
			fprintf(stderr, "watchdog: no spawn finished for 30 s (%ld done): deadlock\n", now);
			dump_threads();
			_exit(3);
		}
	}
	return NULL;
}

/* Counting handlers for every storm signal, without SA_RESTART (every wait
 * in the library sees EINTR), in a process group of our own (the group
 * signals must not reach the test runner). */
static void storm_handlers(void)
{
	ck_assert_int_eq(setpgid(0, 0), 0);
	kit_install_counting_handler(SIGUSR1, 0);
	kit_install_counting_handler(SIGCHLD, 0);
	kit_install_counting_handler(SIGURG, 0);
}

static void make_codes(void)
{
	for (int k = 0; k < CODES; k++) {
		char code[8];
		snprintf(code, sizeof code, "%d", k);
		codes[k] = probe_cmd("exit", code);
	}
}

/* What every storm must end with: no failure, every spawn done, no handler
 * run in a child (and some in the parent, or the signals never came). */
static void check_storm(long expected)
{
	ck_assert_msg(atomic_load(&failures) == 0, "%ld failures (%ld wrong statuses); first: %s",
	              atomic_load(&failures), atomic_load(&wrong_status), first_failure);
	ck_assert_int_eq(atomic_load(&progress), expected);
	long in_child = atomic_load(&kit_handler_in_child), runs = atomic_load(&kit_handler_runs);
	ck_assert_msg(in_child == 0, "%ld handler runs inside children (of %ld)", in_child, runs);
	ck_assert_int_gt(runs, 0);
	for (int k = 0; k < CODES; k++)
		nf_cmd_free(codes[k]);
}

static void run_storm(void)
{
	long n = storm_n();
	make_codes();
	storm_handlers();
	pthread_t wd, ms, ss;
	ck_assert_int_eq(pthread_create(&wd, NULL, watchdog, NULL), 0);
	ck_assert_int_eq(pthread_create(&ms, NULL, malloc_storm, NULL), 0);
	for (int t = 0; t < SPAWNERS; t++)
		ck_assert_int_eq(pthread_create(&spawner_threads[t], NULL, spawner, &n), 0);
	ck_assert_int_eq(pthread_create(&ss, NULL, signal_storm, NULL), 0);
	for (int t = 0; t < SPAWNERS; t++)
		pthread_join(spawner_threads[t], NULL);
	atomic_store(&stop, 1);
	pthread_join(ss, NULL);
	pthread_join(ms, NULL);
	pthread_join(wd, NULL);

	check_storm(n * SPAWNERS);
}

START_TEST(threads_under_malloc_and_signal_storm) { run_storm(); }
END_TEST

/* ---- the same from coroutines ----------------------------------------------------- */

#define COROUTINES 1000

static long co_spawns; /* per coroutine */

/* One coroutine: spawns with the shared compiled cmds (and now and then a
 * fresh one), parked while a spawn helper clones (or on its own worker while
 * the other idles) and on the pidfd while waiting, checking statuses. */
static void co_spawner(void *arg)
{
	long id = (long)(intptr_t)arg;
	for (long i = 0; i < co_spawns; i++) {
		spawn_and_check(codes[(id + i) % CODES], (int)((id + i) % CODES));
		atomic_fetch_add(&progress, 1);
	}
}

/* Signals at the process only: the workers are the runtime's threads. */
static void *signal_storm_process(void *arg)
{
	(void)arg;
	for (long i = 0; !atomic_load(&stop); i++) {
		kill(getpid(), i & 1 ? SIGCHLD : SIGUSR1);
		signal_group(i);
		if (i % 64 == 63)
			nanosleep(&(struct timespec){0, 50000}, NULL);
	}
	return NULL;
}

/* 1000 coroutines on 2 workers spawn as many children in total as the
 * thread storm, under the same malloc and signal storms. */
START_TEST(coroutines_under_malloc_and_signal_storm)
{
	long total = storm_n() * SPAWNERS;
	co_spawns = (total + COROUTINES - 1) / COROUTINES;
	make_codes();
	storm_handlers();
	pthread_t wd, ms, ss;
	ck_assert_int_eq(pthread_create(&wd, NULL, watchdog, NULL), 0);
	ck_assert_int_eq(pthread_create(&ms, NULL, malloc_storm, NULL), 0);
	ck_assert_int_eq(pthread_create(&ss, NULL, signal_storm_process, NULL), 0);
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (long c = 0; c < COROUTINES; c++)
		ck_assert_int_eq(nf_go(co_spawner, (void *)(intptr_t)c), 0);
	nf_rt_stop();
	atomic_store(&stop, 1);
	pthread_join(ss, NULL);
	pthread_join(ms, NULL);
	pthread_join(wd, NULL);

	check_storm(co_spawns * COROUTINES);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("storm");
	/* Check's own timeout is the last resort; the watchdog speaks first. */
	TCase *tc = kit_tcase("threads", 1800);
	tcase_add_test(tc, threads_under_malloc_and_signal_storm);
	suite_add_tcase(s, tc);
	tc = kit_tcase("coroutines", 1800);
	tcase_add_test(tc, coroutines_under_malloc_and_signal_storm);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
