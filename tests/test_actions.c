/* File actions: each one is checked by what the probe finds in the child
 * (open fds, their flags and targets, cwd), and their order is respected. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open path in the parent at exactly fd `at` (flags include or exclude
 * O_CLOEXEC as the test needs). */
static void open_at(int at, const char *path, int flags)
{
	ck_assert_msg(fcntl(at, F_GETFD) == -1, "fd %d is already in use", at);
	int fd = open(path, flags, 0600);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	if (fd != at) {
		ck_assert_int_eq(dup3(fd, at, flags & O_CLOEXEC), at);
		close(fd);
	}
}

static void expect_fd(const probe_report *r, int fd, const char *path, const char *mode)
{
	struct probe_fdinfo f;
	ck_assert_msg(probe_fd(r, fd, &f), "fd %d is not open in the child", fd);
	ck_assert_str_eq(f.path, path);
	ck_assert_str_eq(f.mode, mode);
	ck_assert_int_eq(f.cloexec, 0);
}

static char *realdir(const char *p)
{
	char *r = realpath(p, NULL);
	ck_assert_ptr_nonnull(r);
	return r;
}

START_TEST(dup2_places_fd)
{
	char *file = kit_tmp_file("data", "x", 0644);
	open_at(40, file, O_RDONLY | O_CLOEXEC);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 40, 5), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_fd(&r, 5, file, "r");
	ck_assert_int_eq(probe_fd(&r, 40, NULL), 0); /* the source stays out */
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(40);
	free(file);
}
END_TEST

/* dup2(fd, fd) is a no-op in POSIX; here it is how a close-on-exec fd is
 * passed on under its own number. */
START_TEST(dup2_same_fd_clears_cloexec)
{
	char *file = kit_tmp_file("data", "x", 0644);
	open_at(41, file, O_RDWR | O_CLOEXEC);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 41, 41), 0);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(cmd), 0); /* only cloexec decides */
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_fd(&r, 41, file, "rw");
	probe_report_free(&r);
	/* The parent's fd is untouched: still close-on-exec. */
	ck_assert_int_eq(fcntl(41, F_GETFD), FD_CLOEXEC);
	nf_cmd_free(cmd);
	close(41);
	free(file);
}
END_TEST

START_TEST(dup2_onto_stdin)
{
	char *file = kit_tmp_file("in", "x", 0644);
	open_at(42, file, O_RDONLY | O_CLOEXEC);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 42, 0), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_fd(&r, 0, file, "r");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(42);
	free(file);
}
END_TEST

START_TEST(open_creates_with_flags_and_mode)
{
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/created", kit_tmpdir()), 0);
	mode_t old = umask(022);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 7, path, O_WRONLY | O_CREAT | O_EXCL, 0640), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_fd(&r, 7, path, "w");
	probe_report_free(&r);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert(S_ISREG(st.st_mode));
	/* O_EXCL: the second run of the same cmd must fail in the child. */
	nf_error err;
	ck_assert_int_eq(probe_run(cmd, &r, &err), EEXIST);
	ck_assert_int_eq(err.op, NF_OP_OPEN);
	ck_assert_int_eq(err.fd, 7);
	umask(old);
	nf_cmd_free(cmd);
	free(path);
}
END_TEST

START_TEST(open_modes_and_targets)
{
	char *ro = kit_tmp_file("ro", "r", 0644);
	char *rw = kit_tmp_file("rw", "rw", 0644);
	char *wo = kit_tmp_file("wo", "w", 0644);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 0, ro, O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 3, rw, O_RDWR, 0), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 9, wo, O_WRONLY | O_APPEND, 0), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_fd(&r, 0, ro, "r");
	expect_fd(&r, 3, rw, "rw");
	expect_fd(&r, 9, wo, "w");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	free(ro);
	free(rw);
	free(wo);
}
END_TEST

/* O_TRUNC really runs in the child: the file is empty afterwards. */
START_TEST(open_truncates)
{
	char *file = kit_tmp_file("trunc", "some content", 0644);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 6, file, O_WRONLY | O_TRUNC, 0), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_fd(&r, 6, file, "w");
	probe_report_free(&r);
	struct stat st;
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	nf_cmd_free(cmd);
	free(file);
}
END_TEST

START_TEST(close_removes_fd)
{
	char *file = kit_tmp_file("data", "x", 0644);
	open_at(48, file, O_RDONLY); /* inheritable */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(cmd), 0);
	ck_assert_int_eq(nf_cmd_close(cmd, 48), 0);
	ck_assert_int_eq(nf_cmd_close(cmd, 0), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_fd(&r, 48, NULL), 0);
	ck_assert_int_eq(probe_fd(&r, 0, NULL), 0);
	probe_report_free(&r);

	/* Control: without the close action the same fd is inherited, so the
	 * assertion above could have failed. */
	nf_cmd *ctl = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(ctl), 0);
	probe_run_ok(ctl, &r);
	expect_fd(&r, 48, file, "r");
	probe_report_free(&r);
	nf_cmd_free(ctl);
	nf_cmd_free(cmd);
	close(48);
	free(file);
}
END_TEST

START_TEST(chdir_sets_cwd)
{
	char *dir = realdir(kit_tmpdir());
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_chdir(cmd, dir), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "cwd"), dir);
	probe_report_free(&r);
	/* The parent stays where it was. */
	char cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_str_ne(cwd, dir);
	nf_cmd_free(cmd);
	free(dir);
}
END_TEST

START_TEST(fchdir_sets_cwd)
{
	char *dir = realdir(kit_tmpdir());
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_fchdir(cmd, dfd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "cwd"), dir);
	ck_assert_int_eq(probe_fd(&r, dfd, NULL), 0); /* not passed on */
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(dfd);
	free(dir);
}
END_TEST

/* Relative chdirs and opens resolve against the cwd the earlier actions
 * made: the actions run in the order they were added. */
START_TEST(chdir_then_relative_open)
{
	char *dir = realdir(kit_tmpdir());
	char *sub = NULL, *file = NULL;
	ck_assert_int_ge(asprintf(&sub, "%s/sub", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_ge(asprintf(&file, "%s/sub/f", dir), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_chdir(cmd, dir), 0);
	ck_assert_int_eq(nf_cmd_chdir(cmd, "sub"), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, "f", O_WRONLY | O_CREAT, 0600), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "cwd"), sub);
	expect_fd(&r, 5, file, "w");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	free(dir);
	free(sub);
	free(file);
}
END_TEST

START_TEST(open_then_dup2_of_it)
{
	char *file = kit_tmp_file("data", "x", 0644);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 9, file, O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 9, 4), 0);
	ck_assert_int_eq(nf_cmd_close(cmd, 9), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_fd(&r, 4, file, "r");
	ck_assert_int_eq(probe_fd(&r, 9, NULL), 0);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	free(file);
}
END_TEST

/* Two dup2s onto the same target: the later one wins. Swapped order gives
 * the other file, so order is what decides. */
START_TEST(later_dup2_wins)
{
	char *a = kit_tmp_file("a", "a", 0644);
	char *b = kit_tmp_file("b", "b", 0644);
	open_at(43, a, O_RDONLY | O_CLOEXEC);
	open_at(44, b, O_RDONLY | O_CLOEXEC);
	nf_cmd *ab = probe_cmd(NULL), *ba = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_dup2(ab, 43, 6), 0);
	ck_assert_int_eq(nf_cmd_dup2(ab, 44, 6), 0);
	ck_assert_int_eq(nf_cmd_dup2(ba, 44, 6), 0);
	ck_assert_int_eq(nf_cmd_dup2(ba, 43, 6), 0);
	probe_report r;
	probe_run_ok(ab, &r);
	expect_fd(&r, 6, b, "r");
	probe_report_free(&r);
	probe_run_ok(ba, &r);
	expect_fd(&r, 6, a, "r");
	probe_report_free(&r);
	nf_cmd_free(ab);
	nf_cmd_free(ba);
	close(43);
	close(44);
	free(a);
	free(b);
}
END_TEST

START_TEST(closefrom_closes_range)
{
	char *file = kit_tmp_file("data", "x", 0644);
	open_at(45, file, O_RDONLY);
	open_at(46, file, O_RDONLY);
	open_at(70, file, O_RDONLY);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(cmd), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, PROBE_FD, 1), 0); /* before the closefrom */
	ck_assert_int_eq(nf_cmd_closefrom(cmd, 46), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 10, file, O_RDONLY, 0), 0); /* after it */
	probe_report r;
	ck_assert_int_eq(probe_run_raw(cmd, &r, NULL), 0);
	ck_assert_int_eq(r.status, 0);
	expect_fd(&r, 45, file, "r");
	ck_assert_int_eq(probe_fd(&r, 46, NULL), 0);
	ck_assert_int_eq(probe_fd(&r, 70, NULL), 0);
	ck_assert_int_eq(probe_fd(&r, PROBE_FD, NULL), 0);
	expect_fd(&r, 10, file, "r");
	int fds[64];
	int n = probe_fds(&r, fds, 64);
	for (int i = 0; i < n; i++)
		ck_assert_msg(fds[i] < 46 || fds[i] == 10, "fd %d survived closefrom(46)", fds[i]);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(45);
	close(46);
	close(70);
	free(file);
}
END_TEST

/* Actions may use the fd numbers the library itself might pick for its own
 * needs; the child must still end up with exactly what was asked. */
START_TEST(many_actions)
{
	char *file = kit_tmp_file("data", "x", 0644);
	nf_cmd *cmd = probe_cmd(NULL);
	for (int fd = 3; fd < 64; fd++)
		ck_assert_int_eq(nf_cmd_open(cmd, fd, file, O_RDONLY, 0), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	for (int fd = 3; fd < 64; fd++)
		expect_fd(&r, fd, file, "r");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	free(file);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("actions");
	TCase *tc = kit_tcase("actions", 30);
	tcase_add_test(tc, dup2_places_fd);
	tcase_add_test(tc, dup2_same_fd_clears_cloexec);
	tcase_add_test(tc, dup2_onto_stdin);
	tcase_add_test(tc, open_creates_with_flags_and_mode);
	tcase_add_test(tc, open_modes_and_targets);
	tcase_add_test(tc, open_truncates);
	tcase_add_test(tc, close_removes_fd);
	tcase_add_test(tc, chdir_sets_cwd);
	tcase_add_test(tc, fchdir_sets_cwd);
	tcase_add_test(tc, chdir_then_relative_open);
	tcase_add_test(tc, open_then_dup2_of_it);
	tcase_add_test(tc, later_dup2_wins);
	tcase_add_test(tc, closefrom_closes_range);
	tcase_add_test(tc, many_actions);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
