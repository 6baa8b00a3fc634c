/* The safety promise against a hostile caller or environment:
 * - stdio closed: nothing nofork opens for a spawn (the pidfd, which the
 *   kernel puts at the lowest free number) is ever the program's fd 0/1/2,
 *   and keep_fd/dup2/close of the closed fd fail with EBADF;
 * - a blockable fatal signal that reaches the child while it runs its plan
 *   fails the spawn with EINTR and err.signal instead of a "started" child
 *   that died before exec;
 * - fork() in another thread never holds a coroutine's spawn hostage;
 * - a seccomp filter that kills (KILL_PROCESS, KILL_THREAD, TRAP) instead of
 *   failing a child step that has a fallback makes nofork take the fallback,
 *   and names the step when there is none.
 * Each on every path: a thread, a coroutine, clone3 refused, no pidfd. */
#include "kit.h"

#include <nofork.h>

#include "rt/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The paths a spawn can take. */
enum path { THREAD, COROUTINE, CLONE3_REFUSED, NO_PIDFD, LEGACY_NO_PIDFD, NPATHS };
static const char *const path_names[] = {"thread", "coroutine", "clone3-refused", "no-pidfd", "legacy-no-pidfd"};

static void take_path(enum path p)
{
	if (p == CLONE3_REFUSED)
		kit_deny_clone3(ENOSYS);
	else if (p == LEGACY_NO_PIDFD)
		kit_deny_pidfd();
}

static nf_cmd *path_cmd(enum path p, const char *const *args)
{
	nf_cmd *cmd = probe_cmdv(args);
	if (p == NO_PIDFD || p == LEGACY_NO_PIDFD)
		ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	return cmd;
}

/* Run fn(arg) on the path: in a coroutine on one worker (so the spawn goes
 * to a spawn helper, never the worker's own way), else right here. */
struct on_path {
	void (*fn)(void *);
	void *arg;
	nf_wg wg;
};

static void co_trampoline(void *arg)
{
	struct on_path *o = arg;
	ck_assert(rt_in_coroutine());
	o->fn(o->arg);
	nf_wg_done(&o->wg);
}

static void run_on_path(enum path p, void (*fn)(void *), void *arg)
{
	if (p != COROUTINE) {
		fn(arg);
		return;
	}
	struct on_path o = {fn, arg, NF_WG_INIT};
	ck_assert_int_eq(nf_rt_start(1), 0);
	nf_wg_add(&o.wg, 1);
	ck_assert_int_eq(nf_go(co_trampoline, &o), 0);
	nf_wg_wait(&o.wg);
	nf_rt_stop();
}

/* ---- stdio closed ------------------------------------------------------------ */

struct closed_case {
	enum path path;
	int fd;
};

static void closed_stdio_checks(void *arg)
{
	struct closed_case *c = arg;
	enum path p = c->path;
	nf_cmd *cmd;

	cmd = path_cmd(p, (const char *const[]){NULL});
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, c->fd), 0);
	kit_expect_spawn_error(cmd, EBADF, NF_OP_KEEP_FD, NULL);

	cmd = path_cmd(p, (const char *const[]){NULL});
	ck_assert_int_eq(nf_cmd_dup2(cmd, c->fd, 5), 0);
	kit_expect_spawn_error(cmd, EBADF, NF_OP_DUP2, NULL);

	cmd = path_cmd(p, (const char *const[]){NULL});
	ck_assert_int_eq(nf_cmd_close(cmd, c->fd), 0);
	kit_expect_spawn_error(cmd, EBADF, NF_OP_CLOSE, NULL);

	/* The probe itself sees the fd closed (fd 1 is the report it writes). */
	cmd = path_cmd(p, (const char *const[]){NULL});
	ck_assert_int_eq(nf_cmd_inherit_all_fds(cmd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	if (c->fd != 1)
		ck_assert_msg(!probe_fd(&r, c->fd, NULL), "%s: the program got an fd %d", path_names[p], c->fd);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	cmd = path_cmd(p, (const char *const[]){NULL});
	probe_run_ok(cmd, &r);
	if (c->fd != 1)
		ck_assert_msg(!probe_fd(&r, c->fd, NULL), "%s: the program got an fd %d", path_names[p], c->fd);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}

START_TEST(closed_stdio_is_never_a_nofork_fd)
{
	struct closed_case c = {(enum path)(_i / 3), _i % 3};
	take_path(c.path);
	ck_assert_int_eq(close(c.fd), 0);
	if (c.path == THREAD) {
		/* The premise: the kernel puts a pidfd at the lowest free fd. */
		nf_cmd *cmd = probe_cmd("exit", "0");
		nf_proc p;
		ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
		ck_assert_int_eq(p.pidfd, c.fd);
		ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
		nf_proc_release(&p);
		nf_cmd_free(cmd);
	}
	run_on_path(c.path, closed_stdio_checks, &c);
	/* The fixture compares fds with those before the test: put it back. */
	ck_assert_int_eq(open("/dev/null", O_RDWR), c.fd);
}
END_TEST

/* ---- a fatal signal pending at the end of the plan ----------------------------- */

/* The child blocks in its plan opening a FIFO for writing; the releaser
 * waits for that, sends the signal, then opens the reading end so the child
 * goes on towards exec with the signal pending. */
struct pending_case {
	enum path path;
	int sig;
	const char *fifo;
	pid_t child;
	int reader;
	int ok;
};

static void *releaser(void *arg)
{
	struct pending_case *c = arg;
	c->child = kit_await_child(getpid(), 0, 10);
	if (c->child > 0 && kit_await_syscall(c->child, SYS_openat, 10) && kill(c->child, c->sig) == 0) {
		c->reader = open(c->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		c->ok = c->reader >= 0;
	}
	return NULL;
}

static int spawn_with_signal(struct pending_case *c, nf_cmd *cmd, nf_proc *p, nf_error *e)
{
	pthread_t t;
	c->ok = 0;
	c->reader = -1;
	ck_assert_int_eq(pthread_create(&t, NULL, releaser, c), 0);
	memset(e, 0, sizeof *e);
	int rc = nf_spawn(cmd, p, e);
	pthread_join(t, NULL);
	ck_assert_msg(c->ok, "could not catch the child in its plan");
	close(c->reader);
	return rc;
}

static char *make_fifo(void)
{
	char *fifo = kit_tmp_file("fifo", "", 0600);
	ck_assert_int_eq(unlink(fifo), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	return fifo;
}

static void pending_fatal(void *arg)
{
	struct pending_case *c = arg;
	nf_cmd *cmd = path_cmd(c->path, (const char *const[]){"exit", "0", NULL});
	ck_assert_int_eq(nf_cmd_open(cmd, 3, c->fifo, O_WRONLY, 0), 0);
	nf_proc p;
	nf_error e;
	int rc = spawn_with_signal(c, cmd, &p, &e);
	char msg[4200];
	nf_error_format(&e, msg, sizeof msg);
	ck_assert_msg(rc == EINTR, "%s, signal %d: spawn returned %d (%s), pid %d", path_names[c->path], c->sig, rc,
	              msg, (int)p.pid);
	ck_assert_int_eq(e.err, EINTR);
	ck_assert_int_eq(e.signal, c->sig);
	ck_assert_int_eq(e.op, NF_OP_SIGMASK);
	ck_assert_int_eq(p.pid, -1);
	char want[64];
	snprintf(want, sizeof want, "set signal mask: killed by signal %d before exec", c->sig);
	ck_assert_str_eq(msg, want);
	/* The same cmd spawns fine once nothing is pending. */
	struct pending_case quiet = *c;
	quiet.sig = 0; /* kill(pid, 0) only checks */
	rc = spawn_with_signal(&quiet, cmd, &p, &e);
	ck_assert_int_eq(rc, 0);
	int st;
	ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
	ck_assert_int_eq(st, 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}

static const int fatal_sigs[] = {SIGTERM, SIGHUP, SIGINT, SIGUSR1, SIGALRM, 40};

START_TEST(pending_fatal_signal_fails_the_spawn)
{
	struct pending_case c = {.path = (enum path)(_i / 6), .sig = fatal_sigs[_i % 6]};
	take_path(c.path);
	signal(c.sig, SIG_DFL); /* a caller run by nohup ignores SIGHUP */
	c.fifo = make_fifo();
	run_on_path(c.path, pending_fatal, &c);
	free((void *)c.fifo);
}
END_TEST

/* Pending but harmless: blocked by the program's mask (it stays pending for
 * the program, as across any exec), ignored, or ignored by default. */
static void pending_harmless(void *arg)
{
	struct pending_case *c = arg;
	nf_cmd *cmd = path_cmd(c->path, (const char *const[]){"exit", "0", NULL});
	ck_assert_int_eq(nf_cmd_open(cmd, 3, c->fifo, O_WRONLY, 0), 0);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	ck_assert_int_eq(nf_cmd_sigmask(cmd, &m), 0);
	nf_proc p;
	nf_error e;
	int rc = spawn_with_signal(c, cmd, &p, &e);
	ck_assert_msg(rc == 0, "signal %d: spawn returned %d", c->sig, rc);
	int st;
	ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
	ck_assert_int_eq(st, 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}

START_TEST(pending_harmless_signal_lets_it_start)
{
	static const int sigs[] = {SIGUSR2 /* masked */, SIGTERM /* SIG_IGN */, SIGCHLD, SIGWINCH, SIGURG};
	struct pending_case c = {.path = (enum path)(_i / 5), .sig = sigs[_i % 5]};
	take_path(c.path);
	signal(SIGTERM, SIG_IGN);
	c.fifo = make_fifo();
	run_on_path(c.path, pending_harmless, &c);
	free((void *)c.fifo);
	signal(SIGTERM, SIG_DFL);
}
END_TEST

/* ---- fork() while a coroutine spawns ------------------------------------------- */

static _Atomic int forking_done;
static _Atomic long forks;

/* Forks processes that keep every fd they inherited for 30 s (killed at the
 * end of the test). */
static void *forker(void *arg)
{
	(void)arg;
	pid_t kids[4000];
	int n = 0;
	while (!atomic_load(&forking_done) && n < 4000) {
		pid_t k = fork();
		if (k == 0) {
			struct timespec ts = {30, 0};
			nanosleep(&ts, NULL);
			_exit(0);
		}
		ck_assert_int_gt(k, 0);
		kids[n++] = k;
		usleep(300);
	}
	atomic_store(&forks, n);
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	return NULL;
}

static double slowest;

static void spawn_loop(void *arg)
{
	const nf_cmd *cmd = arg;
	double t0 = kit_now_s();
	for (int i = 0; i < 1500; i++) {
		double a = kit_now_s();
		nf_proc p;
		ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
		double d = kit_now_s() - a;
		if (d > slowest)
			slowest = d;
		int st;
		ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
		ck_assert_int_eq(st, 0);
		nf_proc_release(&p);
		if (kit_now_s() - t0 > 20)
			break;
	}
}

START_TEST(fork_elsewhere_never_delays_a_coroutine_spawn)
{
	nf_cmd *cmd = probe_cmd("exit", "0");
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, forker, NULL), 0);
	struct on_path o = {spawn_loop, cmd, NF_WG_INIT};
	ck_assert_int_eq(nf_rt_start(1), 0);
	nf_wg_add(&o.wg, 1);
	ck_assert_int_eq(nf_go(co_trampoline, &o), 0);
	nf_wg_wait(&o.wg);
	nf_rt_stop();
	atomic_store(&forking_done, 1);
	pthread_join(t, NULL);
	ck_assert_int_gt(atomic_load(&forks), 100);
	/* A spawn that waited for a forked copy of anything would take up to
	 * 30 s; a loaded machine delays one by a few seconds at most. */
	ck_assert_msg(slowest < 15.0, "the slowest coroutine spawn took %.3f s", slowest);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- seccomp filters that kill -------------------------------------------------- */

static const int kill_actions[] = {KIT_DENY_KILL_PROCESS, KIT_DENY_KILL_THREAD, KIT_DENY_TRAP};

/* Open fds 3..9 here; the program must get none of them. */
static void open_strays(int *fds)
{
	for (int i = 0; i < 7; i++) {
		fds[i] = open("/dev/null", O_RDONLY); /* inheritable: only the fd policy closes it */
		ck_assert_int_ge(fds[i], 0);
	}
}

static void close_strays(const int *fds)
{
	for (int i = 0; i < 7; i++)
		close(fds[i]);
}

static void check_fd_policy(void *arg)
{
	enum path p = *(enum path *)arg;
	int strays[7];
	open_strays(strays);
	for (int round = 0; round < 3; round++) { /* the first finds out, the rest remember */
		nf_cmd *cmd = path_cmd(p, (const char *const[]){NULL});
		probe_report r;
		probe_run_ok(cmd, &r);
		int fds[64], n = probe_fds(&r, fds, 64);
		ck_assert_msg(n == 3 && fds[0] == 0 && fds[1] == 1 && fds[2] == 2,
		              "%s round %d: the program got %d fds (4th: %d)", path_names[p], round, n, n > 3 ? fds[3] : -1);
		probe_report_free(&r);
		nf_cmd_free(cmd);
	}
	close_strays(strays);
}

START_TEST(killing_filter_on_close_range_takes_the_fallback)
{
	enum path p = (enum path)(_i / 3);
	take_path(p);
	struct kit_deny_rule r = KIT_DENY_ALWAYS(SYS_close_range, kill_actions[_i % 3]);
	kit_deny(&r, 1);
	run_on_path(p, check_fd_policy, &p);
}
END_TEST

START_TEST(killing_filter_on_close_range_and_unshare_takes_the_fallback)
{
	enum path p = (enum path)(_i / 3);
	take_path(p);
	struct kit_deny_rule r[] = {KIT_DENY_ALWAYS(SYS_close_range, kill_actions[_i % 3]),
	                        KIT_DENY_ALWAYS(SYS_unshare, kill_actions[_i % 3])};
	kit_deny(r, 2);
	run_on_path(p, check_fd_policy, &p);
}
END_TEST

START_TEST(killing_filter_on_rt_sigpending_takes_the_fallback)
{
	enum path p = (enum path)(_i / 3);
	take_path(p);
	struct kit_deny_rule r = KIT_DENY_ALWAYS(SYS_rt_sigpending, kill_actions[_i % 3]);
	kit_deny(&r, 1);
	run_on_path(p, check_fd_policy, &p);
}
END_TEST

/* A TRAP filter forces SIGSYS through any mask: with the legacy clone (no
 * CLONE_CLEAR_SIGHAND) the child must have reset our handler first. */
START_TEST(trapping_filter_never_runs_a_handler_in_the_child)
{
	kit_deny_clone3(ENOSYS);
	kit_install_counting_handler(SIGSYS, 0);
	struct kit_deny_rule r = KIT_DENY_ALWAYS(SYS_close_range, KIT_DENY_TRAP);
	kit_deny(&r, 1);
	enum path p = CLONE3_REFUSED;
	check_fd_policy(&p);
	ck_assert_int_eq(atomic_load(&kit_handler_in_child), 0);
}
END_TEST

/* A step without a fallback: the error names it and the signal. (A filter
 * that kills execve itself cannot be told from a program that died at its
 * first instruction: that spawn reports success, see nofork.h.) */
START_TEST(killing_filter_without_fallback_names_the_step)
{
	struct kit_deny_rule r = KIT_DENY_ALWAYS(SYS_setsid, kill_actions[_i]);
	kit_deny(&r, 1);
	nf_cmd *cmd = probe_cmd("exit", "0");
	ck_assert_int_eq(nf_cmd_setsid(cmd), 0);
	nf_proc p;
	nf_error e;
	memset(&e, 0, sizeof e);
	ck_assert_int_eq(nf_spawn(cmd, &p, &e), EINTR);
	ck_assert_int_eq(e.signal, SIGSYS);
	ck_assert_int_eq(e.op, NF_OP_SETSID);
	char msg[4200], want[64];
	snprintf(want, sizeof want, "setsid: killed by signal %d before exec", SIGSYS);
	ck_assert_str_eq(nf_error_format(&e, msg, sizeof msg), want);
	nf_cmd_free(cmd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = kit_tcase("closed_stdio", 60);
	tcase_add_loop_test(tc, closed_stdio_is_never_a_nofork_fd, 0, 3 * NPATHS);
	suite_add_tcase(s, tc);
	tc = kit_tcase("pending_signal", 60);
	tcase_add_loop_test(tc, pending_fatal_signal_fails_the_spawn, 0, 6 * NPATHS);
	tcase_add_loop_test(tc, pending_harmless_signal_lets_it_start, 0, 5 * NPATHS);
	suite_add_tcase(s, tc);
	tc = kit_tcase("fork", 120);
	tcase_add_test(tc, fork_elsewhere_never_delays_a_coroutine_spawn);
	suite_add_tcase(s, tc);
	tc = kit_tcase("killing_filter", 60);
	tcase_add_loop_test(tc, killing_filter_on_close_range_takes_the_fallback, 0, 3 * NPATHS);
	tcase_add_loop_test(tc, killing_filter_on_close_range_and_unshare_takes_the_fallback, 0, 3 * NPATHS);
	tcase_add_loop_test(tc, killing_filter_on_rt_sigpending_takes_the_fallback, 0, 3 * NPATHS);
	tcase_add_test(tc, trapping_filter_never_runs_a_handler_in_the_child);
	tcase_add_loop_test(tc, killing_filter_without_fallback_names_the_step, 0, 3);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
