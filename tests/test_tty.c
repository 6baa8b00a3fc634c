/* Terminals: giving the child a controlling terminal (new session +
 * TIOCSCTTY) and making its group the foreground group (TIOCSPGRP, also
 * from a background caller). A fresh pty per test; the foreground checks run
 * in a forked process that is a session leader owning the pty. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

struct pty {
	int master, slave;
	char name[64];
};

static void open_pty(struct pty *p, int slave_flags)
{
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(p->master, 0);
	ck_assert_int_eq(grantpt(p->master), 0);
	ck_assert_int_eq(unlockpt(p->master), 0);
	ck_assert_int_eq(ptsname_r(p->master, p->name, sizeof p->name), 0);
	p->slave = open(p->name, O_RDWR | O_CLOEXEC | slave_flags);
	ck_assert_int_ge(p->slave, 0);
}

static void close_pty(struct pty *p)
{
	close(p->slave);
	close(p->master);
}

START_TEST(ctty_gives_new_session_a_terminal)
{
	struct pty p;
	open_pty(&p, O_NOCTTY);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ctty(cmd, p.slave), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, p.slave, 0), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "sid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "pgid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "tpgid"), r.pid); /* its group owns the tty */
	struct probe_fdinfo f;
	ck_assert(probe_fd(&r, 0, &f));
	ck_assert_str_eq(f.path, p.name);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close_pty(&p);
}
END_TEST

START_TEST(ctty_on_non_tty_fails)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ctty(cmd, fd), 0);
	nf_error err;
	nf_proc proc;
	ck_assert_int_eq(nf_spawn(cmd, &proc, &err), ENOTTY);
	ck_assert_int_eq(err.op, NF_OP_CTTY);
	ck_assert_int_eq(err.fd, fd);
	assert_no_zombies();
	nf_cmd_free(cmd);
	close(fd);
}
END_TEST

/* ---- foreground --------------------------------------------------------------
 * In a forked process S: a new session whose controlling terminal is the
 * pty. S spawns A into a new group made foreground (so S is now in the
 * background), then B likewise from the background, then C without a new
 * group (foreground = S's own group). Exit codes name the failing step. */

static int check_fg(int tty, nf_cmd *cmd, int want_self_group, pid_t *out_pid)
{
	probe_report r;
	ck_assert_int_eq(nf_cmd_foreground(cmd, tty), 0);
	if (probe_run(cmd, &r, NULL) != 0 || r.status != 0)
		return 1;
	pid_t want = want_self_group ? r.pid : getpgrp();
	int ok = probe_long(&r, "tpgid") == want && probe_long(&r, "pgid") == want &&
		 tcgetpgrp(tty) == want;
	*out_pid = r.pid;
	probe_report_free(&r);
	return ok ? 0 : 2;
}

static int foreground_session(const char *name)
{
	if (setsid() < 0)
		return 10;
	int tty = open(name, O_RDWR | O_CLOEXEC); /* becomes our controlling tty */
	if (tty < 0 || tcgetpgrp(tty) != getpgrp())
		return 11;
	pid_t a, b, c;
	nf_cmd *ca = probe_cmd(NULL), *cb = probe_cmd(NULL), *cc = probe_cmd(NULL);
	nf_cmd_setpgid(ca, 0);
	nf_cmd_setpgid(cb, 0);
	if (check_fg(tty, ca, 1, &a))
		return 20;
	if (tcgetpgrp(tty) == getpgrp())
		return 21; /* we must be in the background now */
	if (check_fg(tty, cb, 1, &b))
		return 30;
	if (check_fg(tty, cc, 0, &c))
		return 40;
	return 0;
}

START_TEST(foreground_group)
{
	struct pty p;
	open_pty(&p, O_NOCTTY);
	pid_t s = fork();
	ck_assert_int_ge(s, 0);
	if (s == 0)
		_exit(foreground_session(p.name));
	int st;
	ck_assert_int_eq(waitpid(s, &st, 0), s);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "status 0x%x (exit 1x: session setup, 2x: first foreground, 30: from the "
		      "background, 40: without a new group)", st);
	close_pty(&p);
}
END_TEST

START_TEST(foreground_on_non_tty_fails)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
	ck_assert_int_eq(nf_cmd_foreground(cmd, fd), 0);
	nf_error err;
	nf_proc proc;
	ck_assert_int_eq(nf_spawn(cmd, &proc, &err), ENOTTY);
	ck_assert_int_eq(err.op, NF_OP_FOREGROUND);
	ck_assert_int_eq(err.fd, fd);
	assert_no_zombies();
	nf_cmd_free(cmd);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tty");
	TCase *tc = common_tcase("tty", 30);
	tcase_add_test(tc, ctty_gives_new_session_a_terminal);
	tcase_add_test(tc, ctty_on_non_tty_fails);
	tcase_add_test(tc, foreground_group);
	tcase_add_test(tc, foreground_on_non_tty_fails);
	suite_add_tcase(s, tc);
	return common_main(s);
}
