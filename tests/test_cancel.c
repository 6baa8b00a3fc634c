/* Thread cancellation (nofork.h, "Cancellation"): nf_spawn, nf_rt_stop and
 * nf_proc_release are not cancellation points, so a pending cancel waits for
 * the caller's next one and nothing is left behind; nf_proc_wait from a
 * thread is one, and a cancelled wait has reaped nothing: the handle still
 * works. Each thread here makes its own cancel pending (deferred) or is
 * cancelled while it waits, and must end as PTHREAD_CANCELED. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>

/* ASan unpoisons a frame's redzones as the function returns, which the
 * unwinding of a cancellation skips: the cancelled thread's own exit then
 * trips over the redzones of nf_proc_wait's frames (any cancelled frame with
 * an address-taken local does this: google/sanitizers#1399). A thread-exit
 * destructor clears them, as ASan itself does before a longjmp (its
 * __asan_handle_no_return trips over them too). */
static pthread_key_t unwound_key;
static pthread_once_t unwound_once = PTHREAD_ONCE_INIT;
static void forget_unwound(void *v)
{
	(void)v;
	pthread_attr_t a;
	void *lo;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a))
		return;
	if (!pthread_attr_getstack(&a, &lo, &size))
		__asan_unpoison_memory_region(lo, size);
	pthread_attr_destroy(&a);
}
static void make_unwound_key(void) { pthread_key_create(&unwound_key, forget_unwound); }
static void may_be_unwound(void)
{
	pthread_once(&unwound_once, make_unwound_key);
	pthread_setspecific(unwound_key, &unwound_key);
}
#else
static void may_be_unwound(void) {}
#endif

struct job {
	nf_cmd *cmd;
	nf_proc proc;
	nf_error err;
	int rc, status, start_rc;
	_Atomic pid_t tid;
	_Atomic int returned; /* the nofork call returned (was not cancelled) */
	_Atomic int ran;      /* a coroutine ran */
};

/* Join t within 10 s (a cancelled nf_rt_stop used to leave its lock held,
 * so whatever comes next must not hang the suite) and check it was
 * cancelled. */
static void join_cancelled(pthread_t t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	void *ret = NULL;
	int rc = pthread_timedjoin_np(t, &ret, &ts);
	ck_assert_msg(rc == 0, "the thread did not end: %s", strerror(rc));
	ck_assert_msg(ret == PTHREAD_CANCELED, "the thread was not cancelled");
}

static void run_cancelled(void *(*fn)(void *), struct job *j)
{
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, fn, j), 0);
	join_cancelled(t);
}

/* ---- nf_spawn is not a cancellation point -------------------------------------- */

static void *spawn_pending(void *arg)
{
	struct job *j = arg;
	pthread_cancel(pthread_self()); /* deferred: pending until a cancellation point */
	j->rc = nf_spawn(j->cmd, &j->proc, &j->err);
	j->returned = 1;
	pthread_testcancel();
	return NULL;
}

/* The failed child is reaped (waitid) and its pidfd closed inside nf_spawn:
 * neither may act on the pending cancel. The fixture checks for the zombie
 * and the fd. */
START_TEST(spawn_failing_exec_with_cancel_pending)
{
	char *const argv[] = { "prog", NULL };
	struct job j = { 0 };
	ck_assert_int_eq(nf_cmd_new(&j.cmd, "/nonexistent-nofork/prog", argv, NULL), 0);
	if (kit_no_pidfd())
		ck_assert_int_eq(nf_cmd_flags(j.cmd, NF_NO_PIDFD), 0);
	run_cancelled(spawn_pending, &j);
	ck_assert_msg(j.returned, "nf_spawn was cancelled");
	ck_assert_int_eq(j.rc, ENOENT);
	ck_assert_int_eq(j.err.err, ENOENT);
	ck_assert_int_eq(j.err.op, NF_OP_EXEC);
	ck_assert_int_eq(j.proc.pid, -1);
	ck_assert_int_eq(j.proc.pidfd, -1);
	nf_cmd_free(j.cmd);
}
END_TEST

/* Under NF_TEST_CLOSE_RANGE/NF_TEST_UNSHARE=eperm the first spawn reaps a
 * child that could not leave the shared fd table and spawns again: that
 * reap must not act on the cancel either. */
START_TEST(spawn_succeeding_with_cancel_pending)
{
	struct job j = { .cmd = probe_cmd("exit", "3") };
	run_cancelled(spawn_pending, &j);
	ck_assert_msg(j.returned, "nf_spawn was cancelled");
	ck_assert_msg(j.rc == 0, "nf_spawn: %s", strerror(j.rc));
	ck_assert_int_gt(j.proc.pid, 0);
	int status = -1;
	ck_assert_int_eq(nf_proc_wait(&j.proc, &status, -1), 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status 0x%x", status);
	nf_proc_release(&j.proc);
	nf_cmd_free(j.cmd);
}
END_TEST

/* ---- nf_proc_wait is a clean cancellation point ---------------------------------- */

static void *wait_forever(void *arg)
{
	struct job *j = arg;
	may_be_unwound();
	j->tid = (pid_t)syscall(SYS_gettid);
	j->rc = nf_proc_wait(&j->proc, &j->status, -1);
	j->returned = 1;
	return NULL;
}

/* The hard moment: the cancel arrives after the child ended but before the
 * waiting thread ran again. A waitid that reaps would then lose the status
 * (glibc acts on the cancel as the syscall returns). The order is forced on
 * one CPU: the waiter runs SCHED_FIFO 1, we run SCHED_FIFO 2, so once the
 * child's end wakes us both, we send the cancel before the waiter runs.
 * Without the right to use SCHED_FIFO the waiter gets SCHED_IDLE, which
 * makes the order likely only, and a wait that returned is accepted. */
START_TEST(proc_wait_cancelled_as_child_ends_keeps_child)
{
	struct job j = { 0 };
	nf_cmd *cmd = probe_cmd("sleep", "60000");
	ck_assert_int_eq(nf_spawn(cmd, &j.proc, NULL), 0);
	nf_cmd_free(cmd);
	int pidfd = j.proc.pidfd;

	cpu_set_t one;
	ck_assert_int_eq(sched_getaffinity(0, sizeof one, &one), 0);
	int cpu = 0;
	while (!CPU_ISSET(cpu, &one))
		cpu++;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	ck_assert_int_eq(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
	struct sched_param hi = { .sched_priority = 2 }, lo = { .sched_priority = 1 }, none = { 0 };
	int fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &hi) == 0;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof one, &one);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, fifo ? SCHED_FIFO : SCHED_IDLE);
	pthread_attr_setschedparam(&attr, fifo ? &lo : &none);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, &attr, wait_forever, &j), 0);
	pthread_attr_destroy(&attr);
	while (!j.tid)
		usleep(1000);
	ck_assert_msg(kit_await_syscall(j.tid, SYS_waitid, 10), "the waiter never blocked in waitid");

	ck_assert_int_eq(nf_proc_kill(&j.proc, SIGTERM), 0);
	/* Wake with the waiter once the child has ended, reaping nothing. */
	siginfo_t si = { 0 };
	ck_assert_int_eq(waitid(P_PID, (id_t)j.proc.pid, &si, WEXITED | WNOWAIT), 0);
	pthread_cancel(t);
	pthread_setschedparam(pthread_self(), SCHED_OTHER, &none);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	void *ret = NULL;
	ck_assert_int_eq(pthread_timedjoin_np(t, &ret, &ts), 0);
	if (fifo)
		ck_assert_msg(ret == PTHREAD_CANCELED && !j.returned, "the wait was not cancelled");
	if (ret == PTHREAD_CANCELED) {
		/* Nothing reaped: the handle, pidfd included, still works. */
		ck_assert_int_eq(j.proc.pidfd, pidfd);
		if (pidfd >= 0)
			ck_assert_int_ne(fcntl(pidfd, F_GETFD), -1);
		int status = -1;
		int rc = nf_proc_wait(&j.proc, &status, -1);
		ck_assert_msg(rc == 0, "nf_proc_wait after the cancelled wait: %s", strerror(rc));
		j.status = status;
	} else {
		ck_assert_int_eq(j.rc, 0);
	}
	ck_assert_msg(WIFSIGNALED(j.status) && WTERMSIG(j.status) == SIGTERM, "status 0x%x", j.status);
	nf_proc_release(&j.proc);
}
END_TEST

/* ---- nf_proc_release is not a cancellation point --------------------------------- */

static void *release_pending(void *arg)
{
	struct job *j = arg;
	pthread_cancel(pthread_self());
	nf_proc_release(&j->proc);
	j->returned = 1;
	pthread_testcancel();
	return NULL;
}

/* close(2) is a cancellation point: the pidfd must be closed and *proc say
 * so, not one or the other. */
START_TEST(release_with_cancel_pending_closes_pidfd)
{
	if (kit_no_pidfd())
		return; /* nothing to close */
	struct job j = { 0 };
	nf_cmd *cmd = probe_cmd("exit", "0");
	ck_assert_int_eq(nf_spawn(cmd, &j.proc, NULL), 0);
	nf_cmd_free(cmd);
	int pidfd = j.proc.pidfd;
	ck_assert_int_ge(pidfd, 0);
	run_cancelled(release_pending, &j);
	ck_assert_msg(j.returned, "nf_proc_release was cancelled");
	ck_assert_int_eq(j.proc.pidfd, -1);
	ck_assert(fcntl(pidfd, F_GETFD) == -1 && errno == EBADF);
	int status = -1;
	ck_assert_int_eq(nf_proc_wait(&j.proc, &status, -1), 0); /* by pid now */
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
}
END_TEST

/* ---- nf_rt_start / nf_rt_stop are not cancellation points ------------------------- */

static void mark_ran(void *arg)
{
	struct job *j = arg;
	nf_sleep_ms(20); /* so that nf_rt_stop has something to wait for */
	j->ran = 1;
}

static void *rt_cycle_pending(void *arg)
{
	struct job *j = arg;
	pthread_cancel(pthread_self());
	j->start_rc = nf_rt_start(2);
	if (!j->start_rc)
		j->rc = nf_go(mark_ran, j);
	nf_rt_stop(); /* joins the workers: pthread_join is a cancellation point */
	j->returned = 1;
	pthread_testcancel();
	return NULL;
}

static void *rt_cycle(void *arg)
{
	struct job *j = arg;
	j->start_rc = nf_rt_start(1);
	if (!j->start_rc && !(j->rc = nf_go(mark_ran, j)))
		nf_rt_stop();
	j->returned = 1;
	return NULL;
}

/* A half-stopped runtime (workers not joined, its lock held by a dead
 * thread) would hang the next start: the stop completes instead. */
START_TEST(rt_stop_with_cancel_pending_completes)
{
	struct job j = { 0 };
	run_cancelled(rt_cycle_pending, &j);
	ck_assert_int_eq(j.start_rc, 0);
	ck_assert_int_eq(j.rc, 0);
	ck_assert_msg(j.returned, "nf_rt_stop was cancelled");
	ck_assert_msg(j.ran, "nf_rt_stop returned before the coroutine ran");

	/* Started again, from a thread we can give up on. */
	struct job again = { 0 };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, rt_cycle, &again), 0);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	ck_assert_msg(pthread_timedjoin_np(t, NULL, &ts) == 0, "the runtime cannot be started again");
	ck_assert_int_eq(again.start_rc, 0);
	ck_assert_int_eq(again.rc, 0);
	ck_assert(again.ran);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cancel");
	TCase *tc = kit_tcase("cancel", 60);
	tcase_add_test(tc, spawn_failing_exec_with_cancel_pending);
	tcase_add_test(tc, spawn_succeeding_with_cancel_pending);
	tcase_add_test(tc, proc_wait_cancelled_as_child_ends_keeps_child);
	tcase_add_test(tc, release_with_cancel_pending_closes_pidfd);
	tcase_add_test(tc, rt_stop_with_cancel_pending_completes);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
