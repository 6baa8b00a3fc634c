/* Spawning from coroutines: nf_spawn parks the coroutine while a runtime
 * helper thread sleeps in clone until the exec, nf_proc_wait parks it on the
 * pidfd in the poller, so the worker keeps running others; or, while another
 * worker idles, nf_spawn sleeps in clone on its own worker as from a thread. */
#include "kit.h"

#include <nofork.h>

#include "rt/rt.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
	ck_assert(rt_in_coroutine());
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
	struct rt_stats st;
	while (atomic_load(&exits_ok) < NSPAWN)
		nf_sleep_ms(5);
	rt_stats(&st);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&exits_ok), NSPAWN);
	for (int i = 0; i < NSPAWN; i++)
		ck_assert_int_eq(exit_seen[i], i + 1);
	/* Spawn helpers: 40 coroutines ask for spawns faster than children
	 * exec, yet no more than 4 helpers per worker ever clone at once. */
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
	struct rt_stats st;
	rt_stats(&st);
	ck_assert_uint_eq(st.spawn_blocking, 0); /* a lone worker never sleeps in clone */
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
	int64_t t = kit_now_ms();
	timeout_rc = nf_proc_wait(&p, NULL, 50);
	ck_assert_int_ge(kit_now_ms() - t, 50);
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

/* Two workers: with the other one idle, a coroutine's spawn goes the thread
 * way (its worker asleep in clone until the exec). Here the child blocks in
 * its plan, opening a FIFO for writing, until a coroutine that first sleeps
 * 20 ms opens the reading end: that timer must be served by the other
 * worker while this one sleeps, or neither ever goes on. */
static char *fifo;
static _Atomic int read_done;
static char fifo_text[8192];

static void fifo_reader(void *arg)
{
	(void)arg;
	nf_sleep_ms(20);
	int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	size_t len = 0;
	for (;;) {
		/* No POLLHUP before a writer came and went (pipe_poll). */
		ck_assert_int_eq(nf_wait_fd(fd, POLLIN, 10000), 0);
		ssize_t n = read(fd, fifo_text + len, sizeof fifo_text - 1 - len);
		if (n == 0)
			break;
		if (n < 0 && errno == EAGAIN)
			continue;
		ck_assert_int_gt(n, 0);
		len += (size_t)n;
	}
	fifo_text[len] = 0;
	close(fd);
	atomic_store(&read_done, 1);
}

static void fifo_writer(void *arg)
{
	uint64_t *blocking = arg;
	char want[4200];
	snprintf(want, sizeof want, "\nfd 1 cloexec=0 mode=w path=%s\n", fifo);
	struct rt_stats st;
	rt_stats(&st);
	uint64_t before = st.spawn_blocking;
	for (int i = 0; i < 5; i++) {
		atomic_store(&read_done, 0);
		ck_assert_int_eq(nf_go(fifo_reader, NULL), 0);
		nf_sleep_ms(2); /* the reader parks on its timer: both workers idle */
		nf_cmd *cmd = probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_open(cmd, 1, fifo, O_WRONLY, 0), 0);
		nf_proc p;
		ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
		int status;
		ck_assert_int_eq(nf_proc_wait(&p, &status, -1), 0);
		nf_proc_release(&p);
		nf_cmd_free(cmd);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		while (!atomic_load(&read_done))
			nf_sleep_ms(1);
		ck_assert_msg(strncmp(fifo_text, "argc 1\n", 7) == 0 && strstr(fifo_text, want),
			      "the probe's report through the FIFO: %s", fifo_text);
	}
	rt_stats(&st);
	*blocking = st.spawn_blocking - before;
}

START_TEST(blocking_spawn_leaves_timers_served)
{
	fifo = kit_tmp_file("fifo", "", 0600);
	ck_assert_int_eq(unlink(fifo), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(nf_rt_start(2), 0);
	uint64_t blocking = 0;
	ck_assert_int_eq(nf_go(fifo_writer, &blocking), 0);
	nf_rt_stop();
	/* The path under test was taken (the other worker idled each time). */
	ck_assert_uint_ge(blocking, 3);
	unlink(fifo);
	free(fifo);
}
END_TEST

/* nf_cmd_pdeathsig from a coroutine: the child's parent thread lives as long
 * as the process. Not a worker, not a spawn helper: nf_rt_stop ends those
 * (and a worker runs a spawn itself while another idles), which would send
 * the signal to children of a process that goes on. */
#define NDEATH 6
static nf_proc death_procs[NDEATH];
static _Atomic int death_spawned;

static void spawn_with_pdeathsig(void *arg)
{
	nf_proc *p = arg;
	nf_cmd *cmd = probe_cmd("sleep", "60000");
	if (nf_cmd_pdeathsig(cmd, SIGTERM) == 0 && nf_spawn(cmd, p, NULL) == 0)
		atomic_fetch_add(&death_spawned, 1);
	nf_cmd_free(cmd);
}

/* Start NDEATH such children from coroutines on 2 workers, then stop the
 * runtime. */
static void spawn_deathsig_children(void)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int i = 0; i < NDEATH; i++) {
		nf_sleep_ms(i % 2 ? 0 : 20); /* the other worker idles now and then */
		ck_assert_int_eq(nf_go(spawn_with_pdeathsig, &death_procs[i]), 0);
	}
	while (atomic_load(&death_spawned) < NDEATH)
		nf_sleep_ms(5);
	nf_rt_stop();
}

START_TEST(coroutine_pdeathsig_outlives_the_runtime)
{
	spawn_deathsig_children();
	for (int i = 0; i < NDEATH; i++) {
		int st = -1;
		/* Dying of the signal takes far less than 500 ms. */
		int rc = nf_proc_wait(&death_procs[i], &st, 500);
		ck_assert_msg(rc == ETIMEDOUT, "child %d ended (status 0x%x) after nf_rt_stop", i, st);
		ck_assert_int_eq(nf_proc_kill(&death_procs[i], SIGKILL), 0);
		ck_assert_int_eq(nf_proc_wait(&death_procs[i], &st, -1), 0);
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		nf_proc_release(&death_procs[i]);
	}
}
END_TEST

/* ... and the signal comes when that process exits: a subprocess spawns
 * the children, stops its runtime and exits; they are reparented to us (a
 * subreaper) and must die of SIGTERM. */
START_TEST(coroutine_pdeathsig_fires_at_process_exit)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t mid = fork();
	ck_assert_int_ge(mid, 0);
	if (mid == 0) {
		spawn_deathsig_children();
		for (int i = 0; i < NDEATH; i++)
			if (write(fds[1], &death_procs[i].pid, sizeof(pid_t)) != sizeof(pid_t))
				_exit(2);
		_exit(0);
	}
	close(fds[1]);
	pid_t kids[NDEATH];
	size_t got = 0;
	for (ssize_t r; got < sizeof kids && (r = read(fds[0], (char *)kids + got, sizeof kids - got)) > 0;)
		got += (size_t)r;
	ck_assert_uint_eq(got, sizeof kids);
	close(fds[0]);
	int st = -1;
	ck_assert_int_eq(waitpid(mid, &st, 0), mid);
	ck_assert_int_eq(st, 0);
	for (int i = 0; i < NDEATH; i++) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		ck_assert_int_eq(waitid(P_PID, (id_t)kids[i], &si, WEXITED), 0);
		ck_assert_msg(si.si_code == CLD_KILLED && si.si_status == SIGTERM, "child %d: code %d status %d", i,
		              si.si_code, si.si_status);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rt_spawn");
	TCase *tc = kit_tcase("rt_spawn", 30);
	tcase_add_test(tc, spawn_many_from_coroutines);
	tcase_add_test(tc, coroutine_pdeathsig_outlives_the_runtime);
	tcase_add_test(tc, coroutine_pdeathsig_fires_at_process_exit);
	tcase_add_loop_test(tc, wait_parks_the_coroutine_not_the_worker, 0, 2);
	tcase_add_test(tc, failures_and_timeouts_in_a_coroutine);
	tcase_add_test(tc, blocking_spawn_leaves_timers_served);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
