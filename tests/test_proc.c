/* Process handles: wait statuses, timeouts (the handle stays usable),
 * polling, signalling through the pidfd, and what happens after reaping. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static nf_proc start(nf_cmd *cmd)
{
	nf_proc p = NF_PROC_INIT;
	int rc = nf_spawn(cmd, &p, NULL);
	ck_assert_msg(rc == 0, "nf_spawn: %s", strerror(rc));
	ck_assert_int_gt(p.pid, 0);
	nf_cmd_free(cmd);
	return p;
}

/* `probe cat` with stdin from a pipe and stdout to /dev/null: it runs until
 * *in_w is closed. */
static nf_proc start_cat(int *in_w)
{
	int in[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	nf_cmd *cmd = probe_cmd("cat");
	ck_assert_int_eq(nf_cmd_dup2(cmd, in[0], 0), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 1, "/dev/null", O_WRONLY, 0), 0);
	nf_proc p = start(cmd);
	close(in[0]);
	*in_w = in[1];
	return p;
}

/* Block until the child has ended, without reaping it. */
static void await_exit(const nf_proc *p)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int rc;
	do
		rc = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT);
	while (rc == -1 && errno == EINTR);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(si.si_pid, p->pid);
}

START_TEST(wait_exit_codes)
{
	static const char *codes[] = { "0", "1", "42", "255" };
	for (int i = 0; i < 4; i++) {
		nf_proc p = start(probe_cmd("exit", codes[i]));
		int st = -1;
		ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), atoi(codes[i]));
		nf_proc_release(&p);
	}
}
END_TEST

START_TEST(wait_killed_by_signal)
{
	char sig[16];
	int sigs[] = { SIGTERM, SIGKILL, SIGHUP, SIGUSR1 };
	for (int i = 0; i < 4; i++) {
		snprintf(sig, sizeof sig, "%d", sigs[i]);
		nf_proc p = start(probe_cmd("kill", sig));
		int st = -1;
		ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sigs[i], "status 0x%x for signal %d", st,
			      sigs[i]);
		nf_proc_release(&p);
	}
}
END_TEST

START_TEST(wait_null_status)
{
	nf_proc p = start(probe_cmd("exit", "3"));
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	nf_proc_release(&p);
}
END_TEST

/* ETIMEDOUT leaves the child running and the handle usable. */
START_TEST(wait_timeout_then_kill)
{
	nf_proc p = start(probe_cmd("sleep", "600000"));
	int st = 12345;
	ck_assert_int_eq(nf_proc_wait(&p, &st, 50), ETIMEDOUT);
	ck_assert_int_eq(kill(p.pid, 0), 0); /* still there, not reaped */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	ck_assert_int_eq(waitid(P_PID, (id_t)p.pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
	ck_assert_int_eq(si.si_pid, 0); /* not exited either */
	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	nf_proc_release(&p);
}
END_TEST

START_TEST(wait_zero_polls)
{
	int in_w;
	nf_proc p = start_cat(&in_w); /* exits only when we close its stdin */
	int st = 12345;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(nf_proc_wait(&p, &st, 0), ETIMEDOUT);
	close(in_w);
	await_exit(&p);
	ck_assert_int_eq(nf_proc_wait(&p, &st, 0), 0);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	nf_proc_release(&p);
}
END_TEST

START_TEST(kill_through_pidfd)
{
	nf_proc p = start(probe_cmd("sleep", "600000"));
	if (kit_no_pidfd()) {
		ck_assert_int_eq(p.pidfd, -1);
	} else {
		ck_assert_int_ge(p.pidfd, 0);
		ck_assert_int_eq(fcntl(p.pidfd, F_GETFD), FD_CLOEXEC);
	}
	ck_assert_int_eq(nf_proc_kill(&p, SIGTERM), 0);
	int st;
	ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	nf_proc_release(&p);
}
END_TEST

/* Signal 0 checks for existence, as kill(2). */
START_TEST(kill_zero_and_invalid_signal)
{
	nf_proc p = start(probe_cmd("sleep", "600000"));
	ck_assert_int_eq(nf_proc_kill(&p, 0), 0);
	ck_assert_int_eq(nf_proc_kill(&p, 12345), EINVAL);
	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	nf_proc_release(&p);
}
END_TEST

START_TEST(after_reaping_esrch_echild)
{
	nf_proc p = start(probe_cmd("exit", "0"));
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	ck_assert_int_eq(nf_proc_kill(&p, SIGTERM), ESRCH);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), ECHILD);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, 0), ECHILD);
	nf_proc_release(&p);
}
END_TEST

/* Release closes the pidfd and neither waits nor kills: the child is still
 * ours to reap, with its own status. */
START_TEST(release_closes_pidfd_only)
{
	int in_w;
	nf_proc p = start_cat(&in_w);
	int pidfd = p.pidfd;
	nf_proc_release(&p);
	if (!kit_no_pidfd()) {
		ck_assert_int_ge(pidfd, 0);
		ck_assert_int_eq(fcntl(pidfd, F_GETFD), -1);
		ck_assert_int_eq(errno, EBADF);
	}
	ck_assert_int_eq(kill(p.pid, 0), 0); /* not killed */
	close(in_w);
	int st;
	ck_assert_int_eq(waitpid(p.pid, &st, 0), p.pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

/* The pidfd polls readable when the child ends (it is a real pidfd). */
START_TEST(pidfd_is_pollable)
{
	nf_proc p = start(probe_cmd("exit", "5"));
	if (kit_no_pidfd()) {
		ck_assert_int_eq(p.pidfd, -1);
		await_exit(&p);
	} else {
		ck_assert_int_ge(p.pidfd, 0);
		struct pollfd pfd = { p.pidfd, POLLIN, 0 };
		ck_assert_int_eq(poll(&pfd, 1, -1), 1);
		ck_assert(pfd.revents & POLLIN);
	}
	int st;
	ck_assert_int_eq(nf_proc_wait(&p, &st, 0), 0);
	ck_assert_int_eq(WEXITSTATUS(st), 5);
	nf_proc_release(&p);
}
END_TEST

/* Waiting on one child does not reap another. */
START_TEST(wait_is_per_child)
{
	nf_proc a = start(probe_cmd("exit", "11"));
	nf_proc b = start(probe_cmd("exit", "22"));
	await_exit(&a);
	await_exit(&b);
	int st;
	ck_assert_int_eq(nf_proc_wait(&b, &st, -1), 0);
	ck_assert_int_eq(WEXITSTATUS(st), 22);
	ck_assert_int_eq(nf_proc_wait(&a, &st, -1), 0);
	ck_assert_int_eq(WEXITSTATUS(st), 11);
	nf_proc_release(&a);
	nf_proc_release(&b);
}
END_TEST

START_TEST(bad_arguments)
{
	ck_assert_int_eq(nf_proc_wait(NULL, NULL, -1), EINVAL);
	nf_proc p = start(probe_cmd("exit", "0"));
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -2), EINVAL);
	ck_assert_int_eq(nf_proc_kill(NULL, SIGTERM), EINVAL);
	nf_proc_release(NULL);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	nf_proc_release(&p);
	nf_proc none = NF_PROC_INIT; /* what a failed spawn leaves */
	ck_assert_int_eq(nf_proc_wait(&none, NULL, -1), ECHILD);
	ck_assert_int_eq(nf_proc_kill(&none, SIGTERM), ESRCH);
	nf_proc_release(&none);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = kit_tcase("proc", 30);
	tcase_add_test(tc, wait_exit_codes);
	tcase_add_test(tc, wait_killed_by_signal);
	tcase_add_test(tc, wait_null_status);
	tcase_add_test(tc, wait_timeout_then_kill);
	tcase_add_test(tc, wait_zero_polls);
	tcase_add_test(tc, kill_through_pidfd);
	tcase_add_test(tc, kill_zero_and_invalid_signal);
	tcase_add_test(tc, after_reaping_esrch_echild);
	tcase_add_test(tc, release_closes_pidfd_only);
	tcase_add_test(tc, pidfd_is_pollable);
	tcase_add_test(tc, wait_is_per_child);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
