/* Spawning from coroutines: nf_spawn and nf_proc_wait park the coroutine in
 * the poller (report pipe, pidfd), so the worker keeps running others. */
#include "common.h"

#include <nofork.h>

#include "rt/rt.h"

#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define NSPAWN 40
static _Atomic int exits_ok;
static int exit_seen[NSPAWN];

static void spawn_exit_code(void *arg)
{
	int i = (int)(intptr_t)arg;
	char code[16];
	snprintf(code, sizeof code, "%d", i + 1);
	nf_cmd *cmd = probe_cmd("exit", code);
	nf_proc p;
	ck_assert(nf_rt_in_coroutine());
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	int status;
	ck_assert_int_eq(nf_proc_wait(&p, &status, -1), 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
	ck_assert(WIFEXITED(status));
	exit_seen[i] = WEXITSTATUS(status);
	atomic_fetch_add(&exits_ok, 1);
}

START_TEST(spawn_many_from_coroutines)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int i = 0; i < NSPAWN; i++)
		ck_assert_int_eq(nf_go(spawn_exit_code, (void *)(intptr_t)i), 0);
	struct nf_rt_stats st;
	while (atomic_load(&exits_ok) < NSPAWN)
		nf_sleep_ms(5);
	nf_rt_stats(&st);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&exits_ok), NSPAWN);
	for (int i = 0; i < NSPAWN; i++)
		ck_assert_int_eq(exit_seen[i], i + 1);
	/* Spawn slots: 40 coroutines clone faster than children exec, yet no
	 * more than 4 per worker are ever between clone and exec. */
	ck_assert_int_ge(st.spawn_max_in_flight, 2);
	ck_assert_int_le(st.spawn_max_in_flight, 8);
	ck_assert_uint_gt(st.spawn_waits, 0);
}
END_TEST

/* One worker: while one coroutine waits for a 500 ms child, another keeps
 * ticking on the same worker. A blocking wait would stop the ticks. */
static _Atomic int ticks, waiting_done;
static int ticks_during_wait, wait_status;

static void ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&waiting_done)) {
		nf_sleep_ms(10);
		atomic_fetch_add(&ticks, 1);
	}
}

/* arg non-NULL: without a pidfd, where the wait must poll, not block. */
static void slow_child(void *arg)
{
	nf_cmd *cmd = probe_cmd("sleep", "500");
	if (arg)
		ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	ck_assert_int_eq(p.pidfd >= 0, arg == NULL);
	int t0 = atomic_load(&ticks);
	ck_assert_int_eq(nf_proc_wait(&p, &wait_status, -1), 0);
	ticks_during_wait = atomic_load(&ticks) - t0;
	atomic_store(&waiting_done, 1);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}

START_TEST(wait_parks_the_coroutine_not_the_worker)
{
	ck_assert_int_eq(nf_rt_start(1), 0);
	ck_assert_int_eq(nf_go(ticker, NULL), 0);
	/* _i = 1: NF_NO_PIDFD (a blocking waitid here once stalled the worker) */
	ck_assert_int_eq(nf_go(slow_child, _i ? (void *)1 : NULL), 0);
	nf_rt_stop();
	ck_assert(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
	/* ~50 expected on an idle machine; a blocked worker gives 0 or 1. */
	ck_assert_int_ge(ticks_during_wait, 5);
}
END_TEST

static int fail_rc, timeout_rc, killed_status;
static nf_error fail_err;

static void failures(void *arg)
{
	(void)arg;
	char *argv[] = {"nope", NULL};
	nf_cmd *cmd;
	ck_assert_int_eq(nf_cmd_new(&cmd, "/nonexistent/nope", argv, NULL), 0);
	nf_proc p;
	fail_rc = nf_spawn(cmd, &p, &fail_err);
	nf_cmd_free(cmd);

	cmd = probe_cmd("sleep", "5000");
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	int64_t t = now_ms();
	timeout_rc = nf_proc_wait(&p, NULL, 50);
	ck_assert_int_ge(now_ms() - t, 50);
	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&p, &killed_status, -1), 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}

START_TEST(failures_and_timeouts_in_a_coroutine)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	ck_assert_int_eq(nf_go(failures, NULL), 0);
	nf_rt_stop();
	ck_assert_int_eq(fail_rc, ENOENT);
	ck_assert_int_eq(fail_err.err, ENOENT);
	ck_assert_int_eq(fail_err.op, NF_OP_EXEC);
	ck_assert_int_eq(timeout_rc, ETIMEDOUT);
	ck_assert(WIFSIGNALED(killed_status) && WTERMSIG(killed_status) == SIGKILL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rt_spawn");
	TCase *tc = common_tcase("rt_spawn", 30);
	tcase_add_test(tc, spawn_many_from_coroutines);
	tcase_add_loop_test(tc, wait_parks_the_coroutine_not_the_worker, 0, 2);
	tcase_add_test(tc, failures_and_timeouts_in_a_coroutine);
	suite_add_tcase(s, tc);
	return common_main(s);
}
