/* The runtime across fork(): the child of a process running coroutines
 * finds the runtime stopped and can start it again; a coroutine that forks
 * continues in the child as a plain thread; the parent's runtime carries on
 * undisturbed. Also: the runtime's own fds never take 0-2.
 *
 * Every fork child runs under alarm(), so a hang (nf_rt_stop waiting for
 * coroutines that do not exist there) ends it with SIGALRM instead of
 * blocking the suite; a failed check in a child ends it with exit status 1
 * (Check's fork mode). The parent fails the test unless the child exited 0.
 */
#include "kit.h"

#include <nofork.h>

#include "rt/rt.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_ALARM_S 20

/* In a fork child: die by SIGALRM after CHILD_ALARM_S (Check's own SIGALRM
 * handler, inherited, would not end the child). */
static void arm_alarm(void)
{
	signal(SIGALRM, SIG_DFL);
	alarm(CHILD_ALARM_S);
}

static void expect_child_ok(pid_t pid, const char *what)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(!(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM), "%s: the fork child hung", what);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the fork child failed (status 0x%x)", what, st);
}

/* Fork from the calling (plain) thread; the child runs body and exits 0. */
static void in_fork_child(void (*body)(void), const char *what)
{
	pid_t pid = fork();
	if (pid == 0) {
		arm_alarm();
		body();
		_exit(0);
	}
	expect_child_ok(pid, what);
}

/* ---- the parent's runtime: coroutines parked in timers and fd waits ------ */

#define NSLEEP 8
#define NWAIT 8
static int gate[2] = {-1, -1};
static nf_wg busy_wg = NF_WG_INIT;
static _Atomic int parked, released, woke, sleep_failed;

/* No ck_assert while a fork may happen: Check takes a mutex in every
 * assertion, and a fork child inherits it held by a thread it lacks. */
static void sleeper(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	while (!atomic_load(&released))
		if (nf_sleep_ms(10) != 0)
			atomic_store(&sleep_failed, 1);
	atomic_fetch_add(&woke, 1);
	nf_wg_done(&busy_wg);
}

/* Several waiters on one fd: all but the first wait on a dup. */
static void waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(&parked, 1);
	if (nf_wait_fd(gate[0], POLLIN, -1) == 0)
		atomic_fetch_add(&woke, 1);
	nf_wg_done(&busy_wg);
}

static void busy_runtime_start(void)
{
	ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
	ck_assert_int_eq(nf_rt_start(2), 0);
	nf_wg_add(&busy_wg, NSLEEP + NWAIT);
	for (int i = 0; i < NSLEEP; i++)
		ck_assert_int_eq(nf_go(sleeper, NULL), 0);
	for (int i = 0; i < NWAIT; i++)
		ck_assert_int_eq(nf_go(waiter, NULL), 0);
	while (atomic_load(&parked) < NSLEEP + NWAIT)
		nf_sleep_ms(1);
	nf_sleep_ms(20); /* let the last ones reach the heap and epoll */
}

static _Atomic int counted;

static void count_one(void *arg)
{
	atomic_fetch_add(&counted, 1);
	nf_wg_done(arg);
}

/* Run n coroutines on the running runtime; 1 if all of them ran. */
static int coroutines_run(int n)
{
	nf_wg wg = NF_WG_INIT;
	atomic_store(&counted, 0);
	nf_wg_add(&wg, n);
	for (int i = 0; i < n; i++)
		if (nf_go(count_one, &wg))
			return 0;
	nf_wg_wait(&wg);
	return atomic_load(&counted) == n;
}

/* The parent's coroutines all wake as they should, new ones run, and the
 * runtime stops. */
static void busy_runtime_finish(void)
{
	atomic_store(&released, 1);
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	nf_wg_wait(&busy_wg);
	ck_assert_int_eq(atomic_load(&sleep_failed), 0);
	ck_assert_int_eq(atomic_load(&woke), NSLEEP + NWAIT);
	ck_assert(coroutines_run(50));
	nf_rt_stop();
	close(gate[0]);
	close(gate[1]);
}

/* ---- checks run in the children ---------------------------------------------- */

/* The probe, spawned from here: it must be this process's child and have
 * the argv we gave it. */
static void check_probe_spawn(const char *tag)
{
	nf_cmd *cmd = probe_cmd(tag);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "ppid"), getpid());
	ck_assert_str_eq(probe_arg(&r, 1), tag);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}

/* A descriptor of this process whose /proc link is `target`, or -1. */
static int find_fd_to(const char *target)
{
	for (int fd = 0; fd < 1024; fd++) {
		char path[64], link[128];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, link, sizeof link - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (!strcmp(link, target))
			return fd;
	}
	return -1;
}

/* What a plain thread gets outside the runtime. */
static void check_thread_behaviour(void)
{
	ck_assert(!rt_in_coroutine());
	ck_assert_int_eq(rt_worker_index(), -1);
	ck_assert_int_eq(nf_go(count_one, NULL), ESRCH);
	ck_assert_int_eq(nf_sleep_ms(5), 0);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, 10), ETIMEDOUT);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, -1), 0);
	close(p[0]);
	close(p[1]);
}

static int spawn_ok;
static char spawn_tag[32];

static void spawn_probe_coroutine(void *arg)
{
	ck_assert(rt_in_coroutine());
	check_probe_spawn(spawn_tag);
	/* And the fresh poller works: a timer and an fd wait. */
	ck_assert_int_eq(nf_sleep_ms(5), 0);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, 10), ETIMEDOUT);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, -1), 0);
	close(p[0]);
	close(p[1]);
	spawn_ok = 1;
	nf_wg_done(arg);
}

/* Start the runtime, run coroutines, spawn the probe from one, stop. */
static void check_restart(int workers, const char *tag)
{
	ck_assert_int_eq(nf_rt_start(workers), 0);
	ck_assert(coroutines_run(100));
	nf_wg wg = NF_WG_INIT;
	nf_wg_add(&wg, 1);
	spawn_ok = 0;
	snprintf(spawn_tag, sizeof spawn_tag, "%s", tag);
	ck_assert_int_eq(nf_go(spawn_probe_coroutine, &wg), 0);
	nf_wg_wait(&wg);
	ck_assert(spawn_ok);
	nf_rt_stop();
}

/* ---- fork from a plain thread ------------------------------------------------ */

static void child_finds_runtime_stopped(void)
{
	check_thread_behaviour();
	nf_rt_stop(); /* nothing runs here: returns at once */
	/* The parent's epoll instance and eventfd are not reachable from here
	 * (epoll_ctl on them would change the parent's registrations). */
	ck_assert_int_eq(find_fd_to("anon_inode:[eventpoll]"), -1);
	ck_assert_int_eq(find_fd_to("anon_inode:[eventfd]"), -1);
}

START_TEST(fork_child_finds_runtime_stopped)
{
	busy_runtime_start();
	in_fork_child(child_finds_runtime_stopped, "runtime stopped in the child");
	busy_runtime_finish();
}
END_TEST

static void child_restarts_runtime(void)
{
	nf_rt_stop();
	check_restart(2, "fork-child-2");
	/* Once more, with one worker: its coroutine spawn parks in the poller
	 * (a lone worker never sleeps in clone). */
	check_restart(1, "fork-child-1");
	ck_assert_int_eq(nf_go(count_one, NULL), ESRCH);
}

START_TEST(fork_child_restarts_runtime)
{
	busy_runtime_start();
	in_fork_child(child_restarts_runtime, "restart in the child");
	busy_runtime_finish();
}
END_TEST

/* ---- fork from a coroutine ------------------------------------------------------ */

static pid_t forked_pid;
static int child_returns, lsan_quiet;

/* LeakSanitizer (tests/run-hardening's ASan build) checks at exit(): the
 * child that leaves through exit() would report the Check runner's heap it
 * inherited and exit 1. The sanitizer calls this hook, if defined, first. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return lsan_quiet; }

static void child_of_coroutine(void)
{
	check_thread_behaviour();
	check_probe_spawn("from-coroutine-child"); /* the thread way: sync */
	nf_rt_stop();
	check_restart(1, "coroutine-child-1");
	check_thread_behaviour();
}

static void forker(void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		arm_alarm();
		if (child_returns) {
			lsan_quiet = 1;
			return; /* out of the coroutine function, in the child */
		}
		child_of_coroutine();
		_exit(0);
	}
	ck_assert_int_ge(pid, 0);
	forked_pid = pid;
	nf_wg_done(arg);
}

static void fork_from_coroutine(const char *what)
{
	busy_runtime_start();
	nf_wg wg = NF_WG_INIT;
	nf_wg_add(&wg, 1);
	ck_assert_int_eq(nf_go(forker, &wg), 0);
	nf_wg_wait(&wg);
	expect_child_ok(forked_pid, what);
	busy_runtime_finish();
}

START_TEST(fork_in_coroutine_child_is_plain_thread)
{
	fork_from_coroutine("fork from a coroutine");
}
END_TEST

/* The forking coroutine's function returning in the child ends the child
 * with status 0, as the last thread's start function returning would. */
START_TEST(fork_in_coroutine_child_exits_when_fn_returns)
{
	child_returns = 1;
	fork_from_coroutine("coroutine function returning in the child");
}
END_TEST

/* ---- stdio closed ------------------------------------------------------------------ */

static int stdio_pipe[2];

static void stdio_waiter(void *arg)
{
	ck_assert_int_eq(nf_wait_fd(stdio_pipe[0], POLLIN, -1), 0);
	nf_wg_done(arg);
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* Another descriptor of the file stdio_pipe[0] refers to, or -1. */
static int find_dup_of_pipe(void)
{
	struct stat want, st;
	ck_assert_int_eq(fstat(stdio_pipe[0], &want), 0);
	for (int fd = 0; fd < 1024; fd++)
		if (fd != stdio_pipe[0] && fstat(fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino &&
		    fd != stdio_pipe[1])
			return fd;
	return -1;
}

static void child_stdio_closed(void)
{
	close(0);
	close(1);
	close(2);
	ck_assert_int_eq(nf_rt_start(1), 0);
	for (int fd = 0; fd <= 2; fd++)
		ck_assert_msg(!is_open(fd), "nf_rt_start opened fd %d", fd);
	/* The pipe takes 0 and 1, so nf_wait_fd's dup (for the second waiter
	 * on one fd) would be 2 if it took the lowest free number. */
	ck_assert_int_eq(pipe(stdio_pipe), 0);
	ck_assert_int_eq(stdio_pipe[0], 0);
	nf_wg wg = NF_WG_INIT;
	nf_wg_add(&wg, 2);
	ck_assert_int_eq(nf_go(stdio_waiter, &wg), 0);
	ck_assert_int_eq(nf_go(stdio_waiter, &wg), 0);
	int dup = -1;
	for (int i = 0; i < 10000 && (dup = find_dup_of_pipe()) < 0; i++)
		nf_sleep_ms(1);
	ck_assert_msg(dup >= 0, "no waiter got to dup the fd");
	ck_assert_int_ge(dup, 3);
	ck_assert_int_eq(write(stdio_pipe[1], "x", 1), 1);
	nf_wg_wait(&wg);
	nf_rt_stop();
}

START_TEST(runtime_fds_never_take_stdio)
{
	in_fork_child(child_stdio_closed, "stdio closed");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rt_fork");
	TCase *tc = kit_tcase("rt_fork", 60);
	tcase_add_test(tc, fork_child_finds_runtime_stopped);
	tcase_add_test(tc, fork_child_restarts_runtime);
	tcase_add_test(tc, fork_in_coroutine_child_is_plain_thread);
	tcase_add_test(tc, fork_in_coroutine_child_exits_when_fn_returns);
	tcase_add_test(tc, runtime_fds_never_take_stdio);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
