/* The fd policy: by default the child gets exactly 0-2, the action targets
 * and the kept fds; nf_cmd_inherit_all_fds gives POSIX inheritance. The
 * child's whole fd table is compared, not single fds. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

struct fdset {
	int n;
	int fd[256];
};

static void add(struct fdset *s, int fd)
{
	for (int i = 0; i < s->n; i++)
		if (s->fd[i] == fd)
			return;
	ck_assert_int_lt(s->n, 256);
	s->fd[s->n++] = fd;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Fds 0-2 as far as the parent has them, plus 1 (probe_run's dup2). */
static void base_set(struct fdset *s)
{
	s->n = 0;
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			add(s, fd);
	add(s, 1);
}

static void expect_exact(const probe_report *r, struct fdset *want)
{
	int got[256];
	int n = probe_fds(r, got, 256);
	qsort(want->fd, (size_t)want->n, sizeof want->fd[0], cmp_int);
	char gs[2048] = "", ws[2048] = "";
	for (int i = 0; i < n; i++)
		snprintf(gs + strlen(gs), sizeof gs - strlen(gs), " %d", got[i]);
	for (int i = 0; i < want->n; i++)
		snprintf(ws + strlen(ws), sizeof ws - strlen(ws), " %d", want->fd[i]);
	ck_assert_msg(n == want->n && !memcmp(got, want->fd, (size_t)n * sizeof got[0]),
		      "child fds:%s; expected:%s", gs, ws);
}

/* Under NF_TEST_NO_PROC the probe cannot name what an fd refers to; the
 * numbers, flags and modes are still compared. */
static void expect_path(const struct probe_fdinfo *f, const char *path)
{
	if (access("/proc/self/fd", F_OK) == 0)
		ck_assert_str_eq(f->path, path);
	else
		ck_assert_str_eq(f->path, "");
}

static void open_at(int at, int cloexec)
{
	ck_assert_msg(fcntl(at, F_GETFD) == -1, "fd %d is already in use", at);
	int fd = open("/dev/null", O_RDONLY | (cloexec ? O_CLOEXEC : 0));
	ck_assert_int_ge(fd, 0);
	if (fd != at) {
		ck_assert_int_eq(dup3(fd, at, cloexec ? O_CLOEXEC : 0), at);
		close(fd);
	}
}

START_TEST(default_gets_only_stdio_and_targets)
{
	open_at(50, 0);
	open_at(51, 0);
	open_at(52, 1);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 50, 12), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 13, "/dev/null", O_WRONLY, 0), 0);
	struct fdset want;
	base_set(&want);
	add(&want, 12);
	add(&want, 13);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_exact(&r, &want); /* 50 and 51 are inheritable, yet not inherited */
	struct probe_fdinfo f;
	ck_assert(probe_fd(&r, 12, &f));
	ck_assert_int_eq(f.cloexec, 0);
	expect_path(&f, "/dev/null");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(50);
	close(51);
	close(52);
}
END_TEST

START_TEST(keep_fd_passes_fd_and_clears_cloexec)
{
	open_at(20, 1);
	open_at(21, 0);
	open_at(22, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, 20), 0);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, 22), 0);
	struct fdset want;
	base_set(&want);
	add(&want, 20);
	add(&want, 22);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_exact(&r, &want);
	struct probe_fdinfo f;
	ck_assert(probe_fd(&r, 20, &f));
	ck_assert_int_eq(f.cloexec, 0);
	expect_path(&f, "/dev/null");
	probe_report_free(&r);
	/* Only the child's copy lost close-on-exec. */
	ck_assert_int_eq(fcntl(20, F_GETFD), FD_CLOEXEC);
	nf_cmd_free(cmd);
	close(20);
	close(21);
	close(22);
}
END_TEST

/* The highest legal fd can be kept: the closing of unlisted fds must not
 * stop short of it nor run past it. */
START_TEST(keep_highest_fd)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	int top = (int)rl.rlim_cur - 1;
	open_at(top, 1);
	open_at(top - 1, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, top), 0);
	struct fdset want;
	base_set(&want);
	add(&want, top);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_exact(&r, &want);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(top);
	close(top - 1);
}
END_TEST

/* Kept fds with inheritable fds between them: the gaps are closed. */
START_TEST(keep_fds_with_gaps)
{
	for (int fd = 53; fd <= 62; fd++)
		open_at(fd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, 54), 0);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, 59), 0);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, 60), 0);
	struct fdset want;
	base_set(&want);
	add(&want, 54);
	add(&want, 59);
	add(&want, 60);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_exact(&r, &want);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	for (int fd = 53; fd <= 62; fd++)
		close(fd);
}
END_TEST

START_TEST(inherit_all_fds_is_posix)
{
	open_at(50, 0);
	open_at(51, 0);
	open_at(52, 1);
	open_at(25, 0);
	struct fdset want;
	base_set(&want);
	/* Every inheritable fd the parent has now: the report pipe probe_run
	 * makes is close-on-exec and does not count. */
	struct kit_fd_snapshot now;
	kit_fd_snapshot(&now);
	for (int i = 0; i < now.n; i++) {
		int fl = fcntl(now.fds[i], F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			add(&want, now.fds[i]);
	}
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(cmd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_exact(&r, &want);
	ck_assert(probe_fd(&r, 50, NULL));
	ck_assert(probe_fd(&r, 25, NULL));
	ck_assert(!probe_fd(&r, 52, NULL));
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(50);
	close(51);
	close(52);
	close(25);
}
END_TEST

/* A pidfd the library made for one child never reaches another one, not
 * even under POSIX inheritance: it is close-on-exec. */
START_TEST(pidfd_not_inherited)
{
	nf_cmd *sleeper = probe_cmd("sleep", "600000");
	nf_proc a;
	ck_assert_int_eq(nf_spawn(sleeper, &a, NULL), 0);
	ck_assert_int_gt(a.pid, 0);
	if (a.pidfd >= 0)
		ck_assert_int_eq(fcntl(a.pidfd, F_GETFD), FD_CLOEXEC);

	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(cmd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	if (a.pidfd >= 0)
		ck_assert(!probe_fd(&r, a.pidfd, NULL));
	probe_report_free(&r);

	ck_assert_int_eq(nf_proc_kill(&a, SIGKILL), 0);
	int st;
	ck_assert_int_eq(nf_proc_wait(&a, &st, -1), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	nf_proc_release(&a);
	nf_cmd_free(sleeper);
	nf_cmd_free(cmd);
}
END_TEST

/* keep_fd is applied before the file actions: an action may replace it. */
START_TEST(keep_fd_then_action_on_it)
{
	open_at(15, 1);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, 15), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 15, "/dev/zero", O_WRONLY, 0), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	struct probe_fdinfo f;
	ck_assert(probe_fd(&r, 15, &f));
	expect_path(&f, "/dev/zero");
	ck_assert_str_eq(f.mode, "w");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(15);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fds");
	TCase *tc = kit_tcase("fds", 30);
	tcase_add_test(tc, default_gets_only_stdio_and_targets);
	tcase_add_test(tc, keep_fd_passes_fd_and_clears_cloexec);
	tcase_add_test(tc, keep_highest_fd);
	tcase_add_test(tc, keep_fds_with_gaps);
	tcase_add_test(tc, inherit_all_fds_is_posix);
	tcase_add_test(tc, pidfd_not_inherited);
	tcase_add_test(tc, keep_fd_then_action_on_it);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
