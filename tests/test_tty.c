/* Job control: nf_cmd_ctty (new session + controlling terminal),
 * nf_cmd_foreground (TIOCSPGRP, also from a background caller that does not
 * ignore SIGTTOU) and nf_cmd_setsid as the way to leave a terminal, on a
 * pseudo-terminal pair from posix_openpt. The probe's `sid`, `pgid` and
 * `tpgid` (foreground group of its controlling tty, -1: none) are compared.
 *
 * Check makes each test process a group leader, which cannot setsid, so the
 * tests that need a session with a terminal run their body in a forked
 * helper (in_tty_session). Check's assertions work there too: a failure is
 * reported through the same channel and ends the helper with status 1. */
#include "kit.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>

struct pty {
	int master, slave;
};

static struct pty open_pty(void)
{
	struct pty p;
	p.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(p.master, 0);
	ck_assert_int_eq(grantpt(p.master), 0);
	ck_assert_int_eq(unlockpt(p.master), 0);
	const char *name = ptsname(p.master);
	ck_assert_ptr_nonnull(name);
	p.slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(p.slave, 0);
	return p;
}

static void close_pty(struct pty *p)
{
	close(p->slave);
	close(p->master);
}

/* Run fn(slave) in a forked helper that is a session leader with the pty
 * as its controlling terminal; fail the test unless it returns within 20 s
 * (a child stopped by SIGTTOU would otherwise hang it forever). */
static void in_tty_session(void (*fn)(int slave))
{
	struct pty p = open_pty();
	pid_t h = fork();
	ck_assert_int_ge(h, 0);
	if (h == 0) {
		close(p.master);
		if (setsid() < 0 || ioctl(p.slave, TIOCSCTTY, 0) < 0)
			_exit(2);
		fn(p.slave);
		_exit(0);
	}
	int st = 0;
	pid_t r = 0;
	for (double end = kit_now_s() + 20; !(r = waitpid(h, &st, WNOHANG)) && kit_now_s() < end;)
		usleep(2000);
	if (r == 0) { /* stuck: kill its whole session's groups we know of */
		kill(-h, SIGKILL);
		kill(h, SIGKILL);
		waitpid(h, &st, 0);
	}
	close_pty(&p);
	ck_assert_msg(r == h, "the session helper hung (a child stopped on the terminal?)");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
		_exit(1); /* it failed an assertion and reported it already */
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "session helper ended 0x%x", st);
}

static void probe_ok(nf_cmd *cmd, probe_report *r)
{
	probe_run_ok(cmd, r);
	nf_cmd_free(cmd);
}

/* ---- ctty ------------------------------------------------------------------- */

START_TEST(ctty_gives_new_session_the_terminal)
{
	struct pty p = open_pty();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ctty(cmd, p.slave), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "sid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "pgid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "tpgid"), r.pid); /* it is the foreground */
	probe_report_free(&r);
	close_pty(&p);
}
END_TEST

/* The terminal fd can also be a file action's result: ctty runs with the
 * actions, so it may name the fd the slave was just opened on. */
START_TEST(ctty_on_fd_opened_by_action)
{
	struct pty p = open_pty();
	char name[128];
	ck_assert_int_eq(ptsname_r(p.master, name, sizeof name), 0);
	close(p.slave);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 0, name, O_RDWR | O_NOCTTY, 0), 0);
	ck_assert_int_eq(nf_cmd_ctty(cmd, 0), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "tpgid"), r.pid);
	struct probe_fdinfo fd0;
	ck_assert(probe_fd(&r, 0, &fd0));
	ck_assert_str_eq(fd0.path, name);
	probe_report_free(&r);
	close(p.master);
}
END_TEST

START_TEST(ctty_not_a_tty_names_op)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ctty(cmd, fd), 0);
	char msg[128];
	snprintf(msg, sizeof msg, "make fd %d the controlling terminal: Inappropriate ioctl for device", fd);
	kit_expect_spawn_error(cmd, ENOTTY, NF_OP_CTTY, msg);
	close(fd);
}
END_TEST

/* A terminal already controlling another session cannot be taken (without
 * stealing, which nf_cmd_ctty never asks for). */
START_TEST(ctty_of_another_session_refused)
{
	struct pty p = open_pty();
	nf_cmd *holder = probe_cmd("sleep", "60000");
	ck_assert_int_eq(nf_cmd_ctty(holder, p.slave), 0);
	nf_proc h;
	ck_assert_int_eq(nf_spawn(holder, &h, NULL), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ctty(cmd, p.slave), 0);
	char msg[128];
	snprintf(msg, sizeof msg, "make fd %d the controlling terminal: Operation not permitted", p.slave);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_CTTY, msg);
	ck_assert_int_eq(nf_proc_kill(&h, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&h, NULL, -1), 0);
	nf_proc_release(&h);
	nf_cmd_free(holder);
	close_pty(&p);
}
END_TEST

START_TEST(ctty_input_check)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ctty(cmd, -1), EBADF);
	ck_assert_int_eq(nf_cmd_foreground(cmd, -1), EBADF);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- foreground --------------------------------------------------------------- */

static void foreground_body(int slave)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
	ck_assert_int_eq(nf_cmd_foreground(cmd, slave), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pgid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "sid"), getpid());
	ck_assert_int_eq(probe_long(&r, "tpgid"), r.pid);
	ck_assert_int_eq(tcgetpgrp(slave), r.pid);
	probe_report_free(&r);
	/* Taking it back, as a shell does: SIGTTOU ignored. */
	signal(SIGTTOU, SIG_IGN);
	ck_assert_int_eq(tcsetpgrp(slave, getpgrp()), 0);
	ck_assert_int_eq(tcgetpgrp(slave), getpid());
}

START_TEST(foreground_gives_child_group_the_terminal)
{
	in_tty_session(foreground_body);
}
END_TEST

/* The caller is in the background (another group holds the terminal) and
 * does not ignore SIGTTOU: the child's TIOCSPGRP must still work, because
 * the child has every signal blocked (the kernel then neither stops it
 * nor fails the call). Without that the child would stop with SIGTTOU and
 * the synchronous spawn would never return. */
static void foreground_from_background_body(int slave)
{
	ck_assert(signal(SIGTTOU, SIG_DFL) != SIG_ERR);
	nf_cmd *fg = probe_cmd("sleep", "60000");
	ck_assert_int_eq(nf_cmd_setpgid(fg, 0), 0);
	ck_assert_int_eq(nf_cmd_foreground(fg, slave), 0);
	nf_proc s;
	ck_assert_int_eq(nf_spawn(fg, &s, NULL), 0);
	ck_assert_int_eq(tcgetpgrp(slave), s.pid); /* we are in the background now */

	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
	ck_assert_int_eq(nf_cmd_foreground(cmd, slave), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "tpgid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "pgid"), r.pid);
	probe_report_free(&r);

	/* Joining an existing group and making that group the foreground. */
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, s.pid), 0);
	ck_assert_int_eq(nf_cmd_foreground(cmd, slave), 0);
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pgid"), s.pid);
	ck_assert_int_eq(probe_long(&r, "tpgid"), s.pid);
	probe_report_free(&r);

	/* No new group: the child's group is ours, so the terminal comes back
	 * to us (a child can return it to the shell's group this way). */
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_foreground(cmd, slave), 0);
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pgid"), getpgrp());
	ck_assert_int_eq(probe_long(&r, "tpgid"), getpgrp());
	ck_assert_int_eq(tcgetpgrp(slave), getpgrp());
	probe_report_free(&r);

	ck_assert_int_eq(nf_proc_kill(&s, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&s, NULL, -1), 0);
	nf_proc_release(&s);
	nf_cmd_free(fg);
}

START_TEST(foreground_from_background_caller_with_sigttou_default)
{
	in_tty_session(foreground_from_background_body);
}
END_TEST

/* Without setsid a child shares our terminal; nf_cmd_setsid detaches it. */
static void setsid_detaches_body(int slave)
{
	probe_report r;
	probe_ok(probe_cmd(NULL), &r);
	ck_assert_int_eq(probe_long(&r, "sid"), getpid());
	ck_assert_int_eq(probe_long(&r, "tpgid"), tcgetpgrp(slave));
	probe_report_free(&r);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setsid(cmd), 0);
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "sid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "tpgid"), -1);
	probe_report_free(&r);
}

START_TEST(setsid_detaches_from_terminal)
{
	in_tty_session(setsid_detaches_body);
}
END_TEST

START_TEST(foreground_not_a_tty_names_op)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
	ck_assert_int_eq(nf_cmd_foreground(cmd, fd), 0);
	char msg[128];
	snprintf(msg, sizeof msg, "make the child's group the foreground of fd %d: Inappropriate ioctl for device", fd);
	kit_expect_spawn_error(cmd, ENOTTY, NF_OP_FOREGROUND, msg);
	close(fd);
}
END_TEST

/* A terminal that is not the child's controlling one: ENOTTY as well. */
START_TEST(foreground_foreign_terminal_refused)
{
	struct pty p = open_pty();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setsid(cmd), 0); /* certainly not ours */
	ck_assert_int_eq(nf_cmd_foreground(cmd, p.slave), 0);
	char msg[128];
	snprintf(msg, sizeof msg, "make the child's group the foreground of fd %d: Inappropriate ioctl for device",
		 p.slave);
	kit_expect_spawn_error(cmd, ENOTTY, NF_OP_FOREGROUND, msg);
	close_pty(&p);
}
END_TEST

/* ---- a stop signal before exec -------------------------------------------------
 * Job control sends SIGTSTP (^Z) to the foreground group; a child that has
 * already joined that group (nf_cmd_setpgid + nf_cmd_foreground, as a shell
 * does) but not yet exec'd has the signal pending (everything is blocked).
 * Delivered when the final mask is set right before execve, it would stop
 * the child *before* exec, and the CLONE_VFORK spawner would sleep until
 * someone sent SIGCONT: a shell spawning its own job never would (seen in
 * minish under load). The child catches such stops until execve and the
 * parent hands them to the program right after the exec (a program that
 * ends at once may be gone by then: the ^Z then had nothing to stop).
 *
 * Deterministic here: the child is held before its first op (the cgroup
 * fallback opens "cgroup.procs", a FIFO in a plain directory), gets
 * SIGTSTP, and is released. The spawner (a forked helper, in case it
 * hangs) reports by exit code: 0 the program was stopped after exec and
 * ran to its end once continued; 2 the spawn failed; 4 the program never
 * stopped (the ^Z was lost); 5 it did not end well; 6 what stopped was not
 * the program. */
static int spawner(int dirfd)
{
	/* `probe cat` on a pipe we hold: it cannot end before we say so, so
	 * the stop, sent again just after the exec, finds it alive. */
	int in[2];
	if (pipe2(in, O_CLOEXEC))
		return 2;
	nf_cmd *cmd = probe_cmd("cat");
	nf_proc p;
	if (nf_cmd_dup2(cmd, in[0], 0) || nf_cmd_cgroup(cmd, dirfd) || nf_spawn(cmd, &p, NULL))
		return 2;
	close(in[0]);
	struct kit_pstat ps = { 0 };
	for (double end = kit_now_s() + 10; !(kit_read_pstat(p.pid, &ps) && ps.state == 'T');)
		if (kit_now_s() > end)
			return 4;
		else
			usleep(1000);
	char path[64], comm[64] = "";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)p.pid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (!fgets(comm, sizeof comm, f))
			comm[0] = '\0';
		fclose(f);
	}
	if (strcmp(comm, "probe\n"))
		return 6;
	int st = 0;
	if (kill(p.pid, SIGCONT))
		return 5;
	close(in[1]); /* EOF: cat ends */
	if (nf_proc_wait(&p, &st, 10000) || !WIFEXITED(st) || WEXITSTATUS(st))
		return 5;
	return 0;
}

START_TEST(stop_signal_before_exec_reaches_program)
{
	char *fifo = NULL;
	ck_assert_int_ge(asprintf(&fifo, "%s/cgroup.procs", kit_tmpdir()), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	int dirfd = open(kit_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dirfd, 0);
	pid_t h = fork();
	ck_assert_int_ge(h, 0);
	if (h == 0)
		_exit(spawner(dirfd));
	close(dirfd);
	pid_t child = 0;
	for (double end = kit_now_s() + 15; !kit_find_procs(h, -1, &child, 1) && kit_now_s() < end;)
		usleep(1000);
	ck_assert_msg(child > 0, "the spawned child never appeared");
	ck_assert_int_eq(kill(child, SIGTSTP), 0); /* pending: it blocks everything */
	int fd = open(fifo, O_RDONLY | O_CLOEXEC); /* releases it */
	ck_assert_int_ge(fd, 0);
	char c;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	close(fd);

	int st = 0;
	pid_t r = 0;
	for (double end = kit_now_s() + 20; !(r = waitpid(h, &st, WNOHANG)) && kit_now_s() < end;)
		usleep(2000);
	struct kit_pstat ps = { 0 };
	if (r == 0) { /* hung in nf_spawn: look at the child, then let it go */
		kit_read_pstat(child, &ps);
		kill(child, SIGCONT);
		st = kit_wait_status(h);
	}
	free(fifo);
	ck_assert_msg(r == h, "nf_spawn hung: its child was stopped (state '%c') before execve", ps.state);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "spawner ended 0x%x (see the exit codes above)", st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tty");
	TCase *tc = kit_tcase("tty", 60);
	tcase_add_test(tc, ctty_gives_new_session_the_terminal);
	tcase_add_test(tc, ctty_on_fd_opened_by_action);
	tcase_add_test(tc, ctty_not_a_tty_names_op);
	tcase_add_test(tc, ctty_of_another_session_refused);
	tcase_add_test(tc, ctty_input_check);
	tcase_add_test(tc, foreground_gives_child_group_the_terminal);
	tcase_add_test(tc, foreground_from_background_caller_with_sigttou_default);
	tcase_add_test(tc, setsid_detaches_from_terminal);
	tcase_add_test(tc, foreground_not_a_tty_names_op);
	tcase_add_test(tc, foreground_foreign_terminal_refused);
	tcase_add_test(tc, stop_signal_before_exec_reaches_program);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
