/* After the start: nf_proc_waitid (stops, continues and exits as reports,
 * WNOWAIT, timeouts that take and reap nothing), nf_proc_wait_any (200
 * children each reported once, children outside the set never reaped),
 * nf_proc_stop (signal steps, a TERM-ignoring child, process groups with a
 * grandchild, an exited child), each from a thread and from coroutines,
 * bad input and cancellation. The suite also runs without pidfds
 * (lifecycle-no-pidfd: NF_NO_PIDFD on every probe), where every wait
 * checks by pid with backoff. All waits have deadlines; nothing asserts a
 * duration. */
#include "kit.h"

#include <nofork.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>

#define LONG_MS 10000 /* a timeout that only a broken wait reaches */

static nf_proc start(nf_cmd *cmd)
{
	nf_proc p = NF_PROC_INIT;
	nf_error err;
	char msg[NF_ERROR_MAX];
	int rc = nf_spawn(cmd, &p, &err);
	ck_assert_msg(rc == 0, "nf_spawn: %s", nf_error_format(&err, msg, sizeof msg));
	ck_assert_int_eq(p.pidfd >= 0, !kit_no_pidfd());
	nf_cmd_free(cmd);
	return p;
}

static nf_proc start_sleeper(void) { return start(probe_cmd("sleep", "600000")); }

/* A sleeper with SIGTERM blocked from before its exec: it never dies of
 * TERM (the signal stays pending), with no handshake needed. */
static nf_proc start_term_proof(void)
{
	nf_cmd *cmd = probe_cmd("sleep", "600000");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	ck_assert_int_eq(nf_cmd_sigmask(cmd, &set), 0);
	return start(cmd);
}

/* Read fd into buf (static, NUL-terminated) until it holds `want`. */
static const char *read_until(int fd, char *buf, size_t cap, const char *want)
{
	size_t len = strlen(buf);
	int64_t end = kit_now_ms() + 15000;
	while (!strstr(buf, want)) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int left = (int)(end - kit_now_ms());
		ck_assert_msg(left > 0 && poll(&pfd, 1, left) > 0, "no '%s' in time; got '%s'", want, buf);
		ssize_t n = read(fd, buf + len, cap - len - 1);
		ck_assert_msg(n > 0, "EOF before '%s'; got '%s'", want, buf);
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

/* `probe trap SIG` with its stdout on a pipe (*out), started and ready. */
static nf_proc start_trap(int sig, int *out, char *buf, size_t cap)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	char s[16];
	snprintf(s, sizeof s, "%d", sig);
	nf_cmd *cmd = probe_cmd("trap", s, "600000");
	ck_assert_int_eq(nf_cmd_dup2(cmd, p[1], 1), 0);
	nf_proc proc = start(cmd);
	close(p[1]);
	*out = p[0];
	buf[0] = '\0';
	read_until(*out, buf, cap, "ready\n");
	return proc;
}

/* Whether pid can still report anything (not reaped), without taking it. */
static bool waitable(pid_t pid, int options)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, options | WNOHANG | WNOWAIT), 0);
	return si.si_pid == pid;
}

/* Block until pid has ended, without reaping it. */
static void await_end(pid_t pid)
{
	siginfo_t si;
	int rc;
	do
		rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	while (rc == -1 && errno == EINTR);
	ck_assert_int_eq(rc, 0);
}

static void kill_and_reap(nf_proc *p)
{
	ck_assert_int_eq(nf_proc_kill(p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(p, NULL, -1), 0);
	nf_proc_release(p);
}

/* ---- running a scenario from a thread or a coroutine -------------------------
 * mode bit 0: with a timeout (LONG_MS) instead of -1 (the polling paths);
 * bit 1: inside a coroutine on nf_rt_start(2). */

struct co_job {
	void (*fn)(int timeout);
	int timeout;
	atomic_int done;
};

static void co_job_main(void *arg)
{
	struct co_job *j = arg;
	j->fn(j->timeout);
	atomic_store(&j->done, 1);
}

static void run_mode(void (*fn)(int timeout), int mode)
{
	int timeout = mode & 1 ? LONG_MS : -1;
	if (!(mode & 2)) {
		fn(timeout);
		return;
	}
	ck_assert_int_eq(nf_rt_start(2), 0);
	struct co_job j = { fn, timeout, 0 };
	ck_assert_int_eq(nf_go(co_job_main, &j), 0);
	nf_rt_stop();
	ck_assert(atomic_load(&j.done));
}

/* ---- nf_proc_waitid ------------------------------------------------------------ */

static void stop_continue_exit(int timeout)
{
	nf_proc p = start_sleeper();
	int pidfd = p.pidfd;
	siginfo_t si;
	ck_assert_int_eq(nf_proc_kill(&p, SIGSTOP), 0);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED, timeout), 0);
	ck_assert_int_eq(si.si_signo, SIGCHLD);
	ck_assert_int_eq(si.si_pid, p.pid);
	ck_assert_int_eq(si.si_code, CLD_STOPPED);
	ck_assert_int_eq(si.si_status, SIGSTOP);
	/* Taken: no second report of the same stop. */
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED, 0), ETIMEDOUT);

	ck_assert_int_eq(nf_proc_kill(&p, SIGCONT), 0);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WCONTINUED | WEXITED, timeout), 0);
	ck_assert_int_eq(si.si_code, CLD_CONTINUED);
	ck_assert_int_eq(si.si_status, SIGCONT);
	ck_assert_int_eq(si.si_pid, p.pid);

	/* The pidfd is still the handle's, open, and not readable (running). */
	ck_assert_int_eq(p.pidfd, pidfd);
	if (pidfd >= 0) {
		ck_assert_int_eq(fcntl(pidfd, F_GETFD), FD_CLOEXEC);
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	}
	ck_assert_int_eq(nf_proc_kill(&p, SIGTERM), 0);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED | WSTOPPED | WCONTINUED, timeout), 0);
	ck_assert_int_eq(si.si_code, CLD_KILLED);
	ck_assert_int_eq(si.si_status, SIGTERM);
	/* Reaped, handle unchanged. */
	ck_assert_int_eq(p.pidfd, pidfd);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, 0), ECHILD);
	nf_proc_release(&p);
}

START_TEST(waitid_stop_continue_exit)
{
	run_mode(stop_continue_exit, _i);
}
END_TEST

/* SIGTSTP (what a terminal's ^Z sends) reports as a stop too. */
static void tstp_stop(int timeout)
{
	nf_proc p = start_sleeper();
	siginfo_t si;
	ck_assert_int_eq(nf_proc_kill(&p, SIGTSTP), 0);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED | WSTOPPED, timeout), 0);
	ck_assert_int_eq(si.si_code, CLD_STOPPED);
	ck_assert_int_eq(si.si_status, SIGTSTP);
	kill_and_reap(&p);
}

START_TEST(waitid_sigtstp_stops)
{
	run_mode(tstp_stop, _i);
}
END_TEST

static void wnowait_keeps(int timeout)
{
	nf_proc p = start_sleeper();
	siginfo_t si;
	ck_assert_int_eq(nf_proc_kill(&p, SIGSTOP), 0);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED | WNOWAIT, timeout), 0);
		ck_assert_int_eq(si.si_code, CLD_STOPPED);
	}
	ck_assert(waitable(p.pid, WSTOPPED));
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED, 0), 0);
	ck_assert_int_eq(si.si_code, CLD_STOPPED);
	ck_assert(!waitable(p.pid, WSTOPPED));

	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED | WNOWAIT, timeout), 0);
	ck_assert_int_eq(si.si_code, CLD_KILLED);
	ck_assert(waitable(p.pid, WEXITED)); /* still a zombie */
	int st;
	ck_assert_int_eq(nf_proc_wait(&p, &st, 0), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	nf_proc_release(&p);
}

START_TEST(waitid_wnowait_leaves_the_report)
{
	run_mode(wnowait_keeps, _i);
}
END_TEST

static void timeout_leaves_all(int timeout)
{
	(void)timeout;
	nf_proc p = start_sleeper();
	siginfo_t si, canary;
	memset(&canary, 0xab, sizeof canary);
	/* Running: nothing to report, nothing taken. */
	si = canary;
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED | WCONTINUED, 30), ETIMEDOUT);
	ck_assert_int_eq(memcmp(&si, &canary, sizeof si), 0);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED, 0), ETIMEDOUT);
	ck_assert_int_eq(kill(p.pid, 0), 0);
	ck_assert(!waitable(p.pid, WEXITED | WSTOPPED | WCONTINUED));
	/* Stopped: waits for other changes time out and leave the stop. */
	ck_assert_int_eq(nf_proc_kill(&p, SIGSTOP), 0);
	siginfo_t peek;
	ck_assert_int_eq(waitid(P_PID, (id_t)p.pid, &peek, WSTOPPED | WNOWAIT), 0);
	si = canary;
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED, 50), ETIMEDOUT);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WCONTINUED, 30), ETIMEDOUT);
	ck_assert_int_eq(memcmp(&si, &canary, sizeof si), 0);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED, 0), 0);
	ck_assert_int_eq(si.si_code, CLD_STOPPED);
	kill_and_reap(&p);
}

START_TEST(waitid_timeout_takes_nothing)
{
	run_mode(timeout_leaves_all, _i * 2); /* thread, coroutine */
}
END_TEST

/* Without WEXITED an ended child can report nothing more: ECHILD, and it
 * is left for the exit wait. */
static void end_without_wexited(int timeout)
{
	nf_proc p = start(probe_cmd("sleepexit", "50", "3"));
	siginfo_t si;
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED | WCONTINUED, timeout), ECHILD);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED, 0), ECHILD);
	ck_assert(waitable(p.pid, WEXITED));
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED, timeout), 0);
	ck_assert_int_eq(si.si_code, CLD_EXITED);
	ck_assert_int_eq(si.si_status, 3);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED, timeout), ECHILD);
	nf_proc_release(&p);
}

START_TEST(waitid_end_without_wexited_is_echild)
{
	run_mode(end_without_wexited, _i);
}
END_TEST

START_TEST(waitid_bad_input)
{
	nf_proc p = start_sleeper();
	siginfo_t si;
	ck_assert_int_eq(nf_proc_waitid(NULL, &si, WEXITED, 0), EINVAL);
	ck_assert_int_eq(nf_proc_waitid(&p, NULL, WEXITED, 0), EINVAL);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, 0, 0), EINVAL);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WNOWAIT, 0), EINVAL);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED | WNOHANG, 0), EINVAL);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED | 0x40000000, 0), EINVAL); /* __WCLONE... */
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED, -2), EINVAL);
	ck_assert_int_eq(kill(p.pid, 0), 0);
	kill_and_reap(&p); /* reaped, released */
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WEXITED, -1), ECHILD);
	ck_assert_int_eq(nf_proc_waitid(&p, &si, WSTOPPED, 0), ECHILD);
	nf_proc none = NF_PROC_INIT;
	ck_assert_int_eq(nf_proc_waitid(&none, &si, WEXITED, -1), ECHILD);
}
END_TEST

/* ---- nf_proc_wait_any ------------------------------------------------------------ */

#define NANY 200

/* Start n children (the first at index `base`) that sleep 0-300 ms at
 * random and exit with their index + 1, then take them with wait_any until
 * none is left: each index exactly once, with its own status. */
static atomic_int any_inside, any_most_inside;

static int wait_any_counted(nf_proc *const *set, size_t n, size_t *idx, int *st, int timeout)
{
	int now = atomic_fetch_add(&any_inside, 1) + 1, most = atomic_load(&any_most_inside);
	while (now > most && !atomic_compare_exchange_weak(&any_most_inside, &most, now))
		;
	int rc = nf_proc_wait_any(set, n, idx, st, timeout);
	atomic_fetch_sub(&any_inside, 1);
	return rc;
}

static void any_round(int base, int n, int timeout)
{
	nf_proc *p = calloc((size_t)n, sizeof *p);
	nf_proc **set = calloc((size_t)n, sizeof *set);
	int *seen = calloc((size_t)n, sizeof *seen);
	ck_assert(p && set && seen);
	unsigned seed = (unsigned)(base + 1) * 2654435761u;
	for (int i = 0; i < n; i++) {
		char ms[16], code[16];
		snprintf(ms, sizeof ms, "%d", (int)(rand_r(&seed) % 300));
		snprintf(code, sizeof code, "%d", base + i + 1);
		p[i] = start(probe_cmd("sleepexit", ms, code));
		set[i] = &p[i];
	}
	for (int k = 0; k < n; k++) {
		size_t idx = 12345;
		int st = -1;
		int rc = wait_any_counted(set, (size_t)n, &idx, &st, timeout);
		ck_assert_msg(rc == 0, "wait_any: %s", strerror(rc));
		ck_assert_uint_lt(idx, (size_t)n);
		ck_assert_ptr_nonnull(set[idx]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == base + (int)idx + 1, "index %zu status 0x%x", idx, st);
		seen[idx]++;
		nf_proc_release(&p[idx]);
		set[idx] = NULL;
	}
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(seen[i], 1);
	size_t idx = 0;
	ck_assert_int_eq(nf_proc_wait_any(set, (size_t)n, &idx, NULL, timeout), ECHILD);
	ck_assert_uint_eq(idx, SIZE_MAX);
	free(p);
	free(set);
	free(seen);
}

static nf_proc outsider_start(void) { return start(probe_cmd("exit", "77")); }

/* The outsider ended long ago and is still ours to reap, with its status. */
static void outsider_check(nf_proc *o)
{
	await_end(o->pid);
	ck_assert(waitable(o->pid, WEXITED));
	int st;
	ck_assert_int_eq(nf_proc_wait(o, &st, 0), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 77);
	nf_proc_release(o);
}

START_TEST(wait_any_200_each_once_from_a_thread)
{
	nf_proc o = outsider_start();
	any_round(0, NANY, _i ? LONG_MS : -1);
	outsider_check(&o);
}
END_TEST

#define NCORO 8
static atomic_int coro_rounds;

static void any_coroutine(void *arg)
{
	int c = (int)(intptr_t)arg;
	any_round(c * (NANY / NCORO), NANY / NCORO, c % 2 ? LONG_MS : -1);
	atomic_fetch_add(&coro_rounds, 1);
}

/* 8 coroutines on 2 workers, 25 children each (parked on an epoll of
 * their pidfds, then on the last one alone). */
START_TEST(wait_any_200_each_once_from_coroutines)
{
	nf_proc o = outsider_start();
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int c = 0; c < NCORO; c++)
		ck_assert_int_eq(nf_go(any_coroutine, (void *)(intptr_t)c), 0);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&coro_rounds), NCORO);
	/* The waits park: more of them at once than there are workers. */
	ck_assert_int_ge(atomic_load(&any_most_inside), 3);
	outsider_check(&o);
}
END_TEST

static void any_timeout(int timeout)
{
	(void)timeout;
	nf_proc o = outsider_start();
	nf_proc p[3];
	nf_proc *set[3];
	for (int i = 0; i < 3; i++) {
		p[i] = start_sleeper();
		set[i] = &p[i];
	}
	await_end(o.pid);
	size_t idx = 7;
	int st = 12345;
	ck_assert_int_eq(nf_proc_wait_any(set, 3, &idx, &st, 50), ETIMEDOUT);
	ck_assert_uint_eq(idx, SIZE_MAX);
	ck_assert_int_eq(st, 12345);
	ck_assert_int_eq(nf_proc_wait_any(set, 3, &idx, &st, 0), ETIMEDOUT);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(kill(p[i].pid, 0), 0);
		ck_assert(!waitable(p[i].pid, WEXITED));
	}
	ck_assert(waitable(o.pid, WEXITED)); /* outside the set: untouched */
	ck_assert_int_eq(nf_proc_kill(&p[1], SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait_any(set, 3, &idx, &st, -1), 0);
	ck_assert_uint_eq(idx, 1);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	nf_proc_release(&p[1]);
	set[1] = NULL;
	for (int i = 0; i < 3; i += 2)
		nf_proc_kill(&p[i], SIGTERM);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(nf_proc_wait_any(set, 3, &idx, &st, LONG_MS), 0);
		ck_assert(idx == 0 || idx == 2);
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
		nf_proc_release(set[idx]);
		set[idx] = NULL;
	}
	outsider_check(&o);
}

START_TEST(wait_any_timeout_reaps_nothing)
{
	run_mode(any_timeout, _i * 2); /* thread, coroutine */
}
END_TEST

START_TEST(wait_any_lowest_ready_index_first)
{
	nf_proc p[3];
	nf_proc *set[3];
	for (int i = 0; i < 3; i++) {
		char code[8];
		snprintf(code, sizeof code, "%d", 10 + i);
		p[i] = start(probe_cmd("exit", code));
		set[i] = &p[i];
	}
	for (int i = 2; i >= 0; i--)
		await_end(p[i].pid);
	for (int i = 0; i < 3; i++) {
		size_t idx;
		int st;
		ck_assert_int_eq(nf_proc_wait_any(set, 3, &idx, &st, 0), 0);
		ck_assert_uint_eq(idx, (size_t)i);
		ck_assert_int_eq(WEXITSTATUS(st), 10 + i);
		nf_proc_release(&p[i]);
		set[i] = NULL;
	}
}
END_TEST

START_TEST(wait_any_skips_null_and_failed_handles)
{
	nf_proc none = NF_PROC_INIT;
	nf_proc p = start(probe_cmd("exit", "4"));
	nf_proc *set[] = { NULL, &none, &p, NULL };
	size_t idx;
	int st;
	ck_assert_int_eq(nf_proc_wait_any(set, 4, &idx, &st, LONG_MS), 0);
	ck_assert_uint_eq(idx, 2);
	ck_assert_int_eq(WEXITSTATUS(st), 4);
	nf_proc_release(&p);
	set[2] = NULL;
	ck_assert_int_eq(nf_proc_wait_any(set, 4, &idx, &st, LONG_MS), ECHILD);
	ck_assert_uint_eq(idx, SIZE_MAX);
}
END_TEST

/* An entry left in the set after it was reaped is named, not skipped: the
 * caller's table is wrong. Reaped handles, released or not. */
START_TEST(wait_any_reaped_entry_is_echild)
{
	nf_proc run = start_sleeper();
	nf_proc done = start(probe_cmd("exit", "0"));
	ck_assert_int_eq(nf_proc_wait(&done, NULL, -1), 0);
	nf_proc *set[] = { &run, &done };
	size_t idx;
	ck_assert_int_eq(nf_proc_wait_any(set, 2, &idx, NULL, LONG_MS), ECHILD);
	ck_assert_uint_eq(idx, 1);
	nf_proc_release(&done);
	ck_assert_int_eq(nf_proc_wait_any(set, 2, &idx, NULL, LONG_MS), ECHILD);
	ck_assert_uint_eq(idx, 1);
	ck_assert_int_eq(kill(run.pid, 0), 0); /* the other one untouched */
	ck_assert(!waitable(run.pid, WEXITED));
	kill_and_reap(&run);
}
END_TEST

/* A set mixing handles with and without pidfds (NF_NO_PIDFD, released):
 * the pid-only ones are seen too, while the pidfd ones are slept on. */
START_TEST(wait_any_mixed_pidfd_and_pid_only)
{
	if (kit_no_pidfd())
		return; /* every handle is pid-only there */
	nf_proc fd_one = start_sleeper();
	nf_cmd *cmd = probe_cmd("sleepexit", "100", "21");
	ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	nf_proc pid_one = NF_PROC_INIT;
	ck_assert_int_eq(nf_spawn(cmd, &pid_one, NULL), 0);
	nf_cmd_free(cmd);
	ck_assert_int_eq(pid_one.pidfd, -1);
	nf_proc released = start(probe_cmd("sleepexit", "200", "22"));
	nf_proc_release(&released);
	nf_proc *set[] = { &fd_one, &pid_one, &released };
	for (int k = 0; k < 2; k++) {
		size_t idx;
		int st;
		ck_assert_int_eq(nf_proc_wait_any(set, 3, &idx, &st, -1), 0);
		ck_assert(idx == 1 || idx == 2);
		ck_assert_int_eq(WEXITSTATUS(st), 20 + (int)idx);
		set[idx] = NULL;
	}
	ck_assert_int_eq(kill(fd_one.pid, 0), 0);
	kill_and_reap(&fd_one);
}
END_TEST

START_TEST(wait_any_bad_input)
{
	nf_proc p = start_sleeper();
	nf_proc *set[] = { &p };
	size_t idx;
	ck_assert_int_eq(nf_proc_wait_any(NULL, 1, &idx, NULL, 0), EINVAL);
	ck_assert_int_eq(nf_proc_wait_any(set, 0, &idx, NULL, 0), EINVAL);
	ck_assert_int_eq(nf_proc_wait_any(set, 1, NULL, NULL, 0), EINVAL);
	ck_assert_int_eq(nf_proc_wait_any(set, 1, &idx, NULL, -2), EINVAL);
	ck_assert_int_eq(nf_proc_wait_any(set, 1, &idx, NULL, INT32_MIN), EINVAL);
	ck_assert_int_eq(kill(p.pid, 0), 0);
	kill_and_reap(&p);
}
END_TEST

/* ---- nf_proc_stop ----------------------------------------------------------------- */

/* A child that catches SIGTERM survives the TERM step (it says it got it)
 * and dies by the KILL step, within that step's deadline. */
static void term_ignored(int timeout)
{
	(void)timeout;
	char buf[256];
	int out;
	nf_proc p = start_trap(SIGTERM, &out, buf, sizeof buf);
	nf_stop_step steps[] = { { SIGTERM, 300 }, { SIGKILL, LONG_MS } };
	int st = 0;
	ck_assert_int_eq(nf_proc_stop(&p, steps, 2, 0, &st), 0);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status 0x%x", st);
	read_until(out, buf, sizeof buf, "got 15\n");
	close(out);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, 0), ECHILD);
	nf_proc_release(&p);
}

START_TEST(stop_term_ignoring_child_dies_by_kill_step)
{
	run_mode(term_ignored, _i * 2); /* thread, coroutine */
}
END_TEST

static void first_step_enough(int timeout)
{
	(void)timeout;
	nf_proc p = start_sleeper();
	nf_stop_step steps[] = { { SIGTERM, LONG_MS }, { SIGKILL, LONG_MS } };
	int st = 0;
	ck_assert_int_eq(nf_proc_stop(&p, steps, 2, 0, &st), 0);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status 0x%x", st);
	nf_proc_release(&p);
	/* A step without a signal waits for an end that comes by itself. */
	p = start(probe_cmd("sleepexit", "50", "6"));
	nf_stop_step wait_only = { 0, LONG_MS };
	ck_assert_int_eq(nf_proc_stop(&p, &wait_only, 1, 0, &st), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 6);
	nf_proc_release(&p);
}

START_TEST(stop_first_step_enough)
{
	run_mode(first_step_enough, _i * 2); /* thread, coroutine */
}
END_TEST

/* An ended child returns its own status: it was sent nothing that could
 * show (a wait-forever step without signal would hang otherwise). */
static void already_ended(int timeout)
{
	(void)timeout;
	for (int group = 0; group < 2; group++) {
		nf_cmd *cmd = probe_cmd("exit", "7");
		ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
		nf_proc p = start(cmd);
		await_end(p.pid);
		nf_stop_step steps[] = { { 0, -1 } };
		int st = 0;
		ck_assert_int_eq(nf_proc_stop(&p, steps, 1, group ? NF_STOP_GROUP : 0, &st), 0);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7);
		ck_assert_int_eq(nf_proc_wait(&p, NULL, 0), ECHILD);
		nf_proc_release(&p);
	}
}

START_TEST(stop_ended_child_returns_its_status)
{
	run_mode(already_ended, _i * 2); /* thread, coroutine */
}
END_TEST

static void stop_times_out(int timeout)
{
	(void)timeout;
	nf_proc p = start_term_proof();
	nf_stop_step term = { SIGTERM, 50 }, nothing = { 0, 0 };
	int st = 12345;
	ck_assert_int_eq(nf_proc_stop(&p, &term, 1, 0, &st), ETIMEDOUT);
	ck_assert_int_eq(nf_proc_stop(&p, &nothing, 1, 0, &st), ETIMEDOUT);
	ck_assert_int_eq(st, 12345);
	ck_assert_int_eq(kill(p.pid, 0), 0);
	ck_assert(!waitable(p.pid, WEXITED));
	nf_stop_step kill_step = { SIGKILL, -1 };
	ck_assert_int_eq(nf_proc_stop(&p, &kill_step, 1, 0, &st), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	nf_proc_release(&p);
}

START_TEST(stop_timeout_reaps_nothing)
{
	run_mode(stop_times_out, _i * 2); /* thread, coroutine */
}
END_TEST

/* Whether pid runs (exists and is not a zombie). */
static bool runs(pid_t pid)
{
	struct kit_pstat ps;
	return kit_read_pstat(pid, &ps) && ps.state != 'Z' && ps.state != 'X';
}

/* sh -c 'probe sleep & echo $!; wait' as the leader of its own group: the
 * grandchild is in the group. *gc gets its pid. */
static nf_proc start_family(pid_t *gc, int *out)
{
	char script[4200];
	snprintf(script, sizeof script, "'%s' sleep 600000 & echo $!; wait", probe_path());
	char *argv[] = { "sh", "-c", script, NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, "/bin/sh", argv, NULL), 0);
	if (kit_no_pidfd())
		ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, p[1], 1), 0);
	nf_proc proc = start(cmd);
	close(p[1]);
	char buf[64] = "";
	read_until(p[0], buf, sizeof buf, "\n");
	*gc = (pid_t)atoi(buf);
	*out = p[0];
	ck_assert_int_gt(*gc, 0);
	ck_assert_int_eq(getpgid(*gc), proc.pid);
	return proc;
}

static void group_stop(int timeout)
{
	(void)timeout;
	pid_t gc;
	int out;
	nf_proc p = start_family(&gc, &out);
	pid_t pgid = p.pid;
	nf_stop_step steps[] = { { SIGTERM, LONG_MS }, { SIGKILL, LONG_MS } };
	int st = 0;
	ck_assert_int_eq(nf_proc_stop(&p, steps, 2, NF_STOP_GROUP, &st), 0);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "sh ended 0x%x", st);
	ck_assert(!runs(gc));
	pid_t left[4];
	ck_assert_int_eq(kit_find_procs(-1, pgid, left, 4), 0);
	nf_proc_release(&p);
	close(out);

	/* Without the flag only the shell gets the signal. */
	p = start_family(&gc, &out);
	ck_assert_int_eq(nf_proc_stop(&p, steps, 2, 0, &st), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	ck_assert(runs(gc));
	kill(gc, SIGKILL);
	nf_proc_release(&p);
	close(out);
}

START_TEST(stop_group_reaches_the_grandchild)
{
	run_mode(group_stop, _i * 2); /* thread, coroutine */
}
END_TEST

/* As a subreaper the grandchild becomes our own zombie, which nothing but
 * us will reap: it counts as ended (kill(-pgid, 0) alone would wait for it
 * to the end of the last step). */
START_TEST(stop_group_counts_zombies_as_ended)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	pid_t gc;
	int out;
	nf_proc p = start_family(&gc, &out);
	nf_stop_step steps[] = { { SIGTERM, LONG_MS }, { SIGKILL, LONG_MS } };
	int st = 0;
	ck_assert_int_eq(nf_proc_stop(&p, steps, 2, NF_STOP_GROUP, &st), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	nf_proc_release(&p);
	close(out);
	st = kit_wait_status(gc); /* ours now: reparented, then ended */
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}
END_TEST

/* A member that ignores TERM outlives the steps without KILL: EBUSY, with
 * the shell reaped and its status given. */
START_TEST(stop_group_member_outlives_steps_ebusy)
{
	char script[4200];
	snprintf(script, sizeof script, "trap '' TERM; '%s' sleep 600000 & echo $!; exit 5", probe_path());
	char *argv[] = { "sh", "-c", script, NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, "/bin/sh", argv, NULL), 0);
	if (kit_no_pidfd())
		ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
	int fds[2];
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, fds[1], 1), 0);
	nf_proc p = start(cmd);
	close(fds[1]);
	char buf[64] = "";
	read_until(fds[0], buf, sizeof buf, "\n");
	pid_t gc = (pid_t)atoi(buf);
	close(fds[0]);
	await_end(p.pid);
	nf_stop_step term = { SIGTERM, 100 };
	int st = 0;
	ck_assert_int_eq(nf_proc_stop(&p, &term, 1, NF_STOP_GROUP, &st), EBUSY);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 5);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, 0), ECHILD);
	ck_assert(runs(gc));
	ck_assert_int_eq(kill(gc, SIGKILL), 0);
	nf_proc_release(&p);
}
END_TEST

START_TEST(stop_group_refuses_our_own_group)
{
	char buf[256];
	int out;
	nf_proc p = start_trap(SIGTERM, &out, buf, sizeof buf); /* in our group */
	nf_stop_step steps[] = { { SIGTERM, LONG_MS } };
	ck_assert_int_eq(nf_proc_stop(&p, steps, 1, NF_STOP_GROUP, NULL), EINVAL);
	ck_assert_int_eq(kill(p.pid, 0), 0);
	kill_and_reap(&p);
	/* Nothing was sent: the trap saw no TERM. */
	char rest[256];
	ssize_t n = read(out, rest, sizeof rest - 1);
	close(out);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(stop_bad_input)
{
	nf_proc p = start_sleeper();
	nf_stop_step ok = { SIGTERM, 100 };
	nf_stop_step bad[][2] = {
		{ { -1, 100 }, { SIGKILL, 100 } },
		{ { NSIG, 100 }, { SIGKILL, 100 } },
		{ { SIGTERM, -2 }, { SIGKILL, 100 } },
		{ { SIGTERM, 100 }, { SIGKILL, -5 } }, /* checked before the first step */
	};
	int st = 12345;
	ck_assert_int_eq(nf_proc_stop(NULL, &ok, 1, 0, &st), EINVAL);
	ck_assert_int_eq(nf_proc_stop(&p, NULL, 1, 0, &st), EINVAL);
	ck_assert_int_eq(nf_proc_stop(&p, &ok, 0, 0, &st), EINVAL);
	ck_assert_int_eq(nf_proc_stop(&p, &ok, 1, 0x2, &st), EINVAL);
	ck_assert_int_eq(nf_proc_stop(&p, &ok, 1, ~0u, &st), EINVAL);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_int_eq(nf_proc_stop(&p, bad[i], 2, 0, &st), EINVAL);
	ck_assert_int_eq(st, 12345);
	ck_assert_int_eq(kill(p.pid, 0), 0); /* nothing sent */
	ck_assert(!waitable(p.pid, WEXITED));
	kill_and_reap(&p);
	ck_assert_int_eq(nf_proc_stop(&p, &ok, 1, 0, &st), ECHILD); /* reaped and released */
	nf_proc none = NF_PROC_INIT;
	ck_assert_int_eq(nf_proc_stop(&none, &ok, 1, 0, &st), ECHILD);
	ck_assert_int_eq(st, 12345);
}
END_TEST

/* From 8 threads at once, each stopping 10 children in turn, half of
 * them immune to TERM. */
static void *stop_thread(void *arg)
{
	(void)arg;
	nf_stop_step steps[] = { { SIGTERM, 200 }, { SIGKILL, LONG_MS } };
	for (int j = 0; j < 10; j++) {
		nf_proc p = j % 2 ? start_term_proof() : start_sleeper();
		int st = 0;
		ck_assert_int_eq(nf_proc_stop(&p, steps, 2, 0, &st), 0);
		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == (j % 2 ? SIGKILL : SIGTERM));
		nf_proc_release(&p);
	}
	return NULL;
}

START_TEST(stop_from_threads)
{
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, stop_thread, NULL), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
}
END_TEST

/* 1000 coroutines on 2 workers, each with a child of its own, all stopped
 * at once (half need the KILL step), while a ticker coroutine sleeps 1 ms
 * in a loop. The stops park: hundreds are under way at the same time (a
 * stop that blocked its worker would let at most one per worker in), and
 * the ticker keeps ticking through them. */
#define NSTOP 1000
static atomic_int stops_done, stop_ticks, all_started, stopping, most_stopping;

static void stop_ticker(void *arg)
{
	(void)arg;
	while (atomic_load(&stops_done) < NSTOP) {
		nf_sleep_ms(1);
		atomic_fetch_add(&stop_ticks, 1);
	}
}

static void stop_one(void *arg)
{
	int j = (int)(intptr_t)arg;
	nf_proc p = j % 2 ? start_term_proof() : start_sleeper();
	atomic_fetch_add(&all_started, 1);
	while (atomic_load(&all_started) < NSTOP) /* every child alive at once */
		nf_sleep_ms(5);
	nf_stop_step steps[] = { { SIGTERM, 1000 }, { SIGKILL, 60000 } };
	int st = 0;
	int now = atomic_fetch_add(&stopping, 1) + 1, most = atomic_load(&most_stopping);
	while (now > most && !atomic_compare_exchange_weak(&most_stopping, &most, now))
		;
	ck_assert_int_eq(nf_proc_stop(&p, steps, 2, 0, &st), 0);
	atomic_fetch_sub(&stopping, 1);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == (j % 2 ? SIGKILL : SIGTERM));
	nf_proc_release(&p);
	atomic_fetch_add(&stops_done, 1);
}

START_TEST(stop_from_1000_coroutines_ticker_runs)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 4096 && rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	ck_assert_int_eq(nf_rt_start(2), 0);
	ck_assert_int_eq(nf_go(stop_ticker, NULL), 0);
	for (int j = 0; j < NSTOP; j++)
		ck_assert_int_eq(nf_go(stop_one, (void *)(intptr_t)j), 0);
	int64_t end = kit_now_ms() + 120000;
	while (atomic_load(&all_started) < NSTOP && kit_now_ms() < end)
		usleep(1000);
	int t0 = atomic_load(&stop_ticks);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&stops_done), NSTOP);
	/* ~NSTOP at once here; 2 if a stop blocked its worker. */
	ck_assert_int_ge(atomic_load(&most_stopping), 20);
	ck_assert_int_gt(atomic_load(&stop_ticks) - t0, 0);
}
END_TEST

/* ---- cancellation ------------------------------------------------------------------ */

struct cancel_case {
	nf_proc *p;
	int kind;
	atomic_int entered;
};

static void *cancel_waiter(void *arg)
{
	struct cancel_case *c = arg;
	siginfo_t si;
	nf_proc *set[] = { c->p };
	size_t idx;
	nf_stop_step wait_only = { 0, -1 };
	atomic_store(&c->entered, 1);
	switch (c->kind) {
	case 0: nf_proc_waitid(c->p, &si, WSTOPPED | WEXITED, -1); break;
	case 1: nf_proc_waitid(c->p, &si, WSTOPPED | WEXITED, 600000); break;
	case 2: nf_proc_wait_any(set, 1, &idx, NULL, -1); break;
	case 3: nf_proc_wait_any(set, 1, &idx, NULL, 600000); break;
	default: nf_proc_stop(c->p, &wait_only, 1, 0, NULL); break;
	}
	return NULL; /* not reached: cancelled */
}

/* Each wait is a cancellation point that, cancelled, leaves the child
 * unreaped and the handle working. */
START_TEST(cancelled_waits_reap_nothing)
{
	nf_proc p = start_sleeper();
	struct cancel_case c = { &p, _i, 0 };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_waiter, &c), 0);
	while (!atomic_load(&c.entered))
		usleep(1000);
	usleep(50000); /* let it sleep inside the wait (either way the cancel acts there) */
	ck_assert_int_eq(pthread_cancel(t), 0);
	void *ret;
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
	ck_assert_int_eq(kill(p.pid, 0), 0);
	ck_assert(!waitable(p.pid, WEXITED | WSTOPPED));
	int st;
	ck_assert_int_eq(nf_proc_kill(&p, SIGTERM), 0);
	ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	nf_proc_release(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = kit_tcase("waitid", 60);
	tcase_add_loop_test(tc, waitid_stop_continue_exit, 0, 4);
	tcase_add_loop_test(tc, waitid_sigtstp_stops, 0, 4);
	tcase_add_loop_test(tc, waitid_wnowait_leaves_the_report, 0, 4);
	tcase_add_loop_test(tc, waitid_timeout_takes_nothing, 0, 2);
	tcase_add_loop_test(tc, waitid_end_without_wexited_is_echild, 0, 4);
	tcase_add_test(tc, waitid_bad_input);
	suite_add_tcase(s, tc);

	tc = kit_tcase("wait_any", 120);
	tcase_add_loop_test(tc, wait_any_200_each_once_from_a_thread, 0, 2);
	tcase_add_test(tc, wait_any_200_each_once_from_coroutines);
	tcase_add_loop_test(tc, wait_any_timeout_reaps_nothing, 0, 2);
	tcase_add_test(tc, wait_any_lowest_ready_index_first);
	tcase_add_test(tc, wait_any_skips_null_and_failed_handles);
	tcase_add_test(tc, wait_any_reaped_entry_is_echild);
	tcase_add_test(tc, wait_any_mixed_pidfd_and_pid_only);
	tcase_add_test(tc, wait_any_bad_input);
	suite_add_tcase(s, tc);

	tc = kit_tcase("stop", 180);
	tcase_add_loop_test(tc, stop_term_ignoring_child_dies_by_kill_step, 0, 2);
	tcase_add_loop_test(tc, stop_first_step_enough, 0, 2);
	tcase_add_loop_test(tc, stop_ended_child_returns_its_status, 0, 2);
	tcase_add_loop_test(tc, stop_timeout_reaps_nothing, 0, 2);
	tcase_add_loop_test(tc, stop_group_reaches_the_grandchild, 0, 2);
	tcase_add_test(tc, stop_group_counts_zombies_as_ended);
	tcase_add_test(tc, stop_group_member_outlives_steps_ebusy);
	tcase_add_test(tc, stop_group_refuses_our_own_group);
	tcase_add_test(tc, stop_bad_input);
	tcase_add_test(tc, stop_from_threads);
	tcase_add_test(tc, stop_from_1000_coroutines_ticker_runs);
	suite_add_tcase(s, tc);

	tc = kit_tcase("cancel", 60);
	tcase_add_loop_test(tc, cancelled_waits_reap_nothing, 0, 5);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
