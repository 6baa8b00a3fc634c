/* Building a cmd: bad input is refused by the setter (before any child
 * exists) with the documented errno, a refused setter leaves the cmd as it
 * was, and argv/envp reach the child exactly as given. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *const probe_argv[] = { "probe", NULL };

static int nofile(void)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	return (int)rl.rlim_cur;
}

/* A string of n 'a's after "/" (so an absolute path of length n + 1). */
static char *long_path(size_t n)
{
	char *p = malloc(n + 2);
	ck_assert_ptr_nonnull(p);
	p[0] = '/';
	memset(p + 1, 'a', n);
	p[n + 1] = '\0';
	return p;
}

START_TEST(new_rejects_bad_input)
{
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, NULL, probe_argv, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_new(&cmd, "", probe_argv, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_new(&cmd, probe_path(), NULL, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_newp(&cmd, NULL, probe_argv, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_newp(&cmd, "", probe_argv, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_newp(&cmd, "probe", NULL, NULL), EINVAL);
	kit_assert_no_zombies();
}
END_TEST

START_TEST(new_path_length_limit)
{
	nf_cmd *cmd = NULL;
	char *p = long_path(PATH_MAX - 1); /* strlen == PATH_MAX */
	ck_assert_int_eq(nf_cmd_new(&cmd, p, probe_argv, NULL), ENAMETOOLONG);
	ck_assert_int_eq(nf_cmd_newp(&cmd, p, probe_argv, NULL), ENAMETOOLONG);
	free(p);
	/* One byte shorter fits in PATH_MAX with its NUL: accepted. */
	p = long_path(PATH_MAX - 2);
	ck_assert_int_eq(nf_cmd_new(&cmd, p, probe_argv, NULL), 0);
	nf_cmd_free(cmd);
	free(p);
}
END_TEST

START_TEST(fd_setters_reject_bad_fds)
{
	nf_cmd *cmd = probe_cmd(NULL);
	int lim = nofile();
	ck_assert_int_eq(nf_cmd_dup2(cmd, -1, 5), EBADF);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 5, -1), EBADF);
	ck_assert_int_eq(nf_cmd_dup2(cmd, lim, 5), EBADF);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 5, lim), EBADF);
	ck_assert_int_eq(nf_cmd_open(cmd, -1, "/dev/null", O_RDONLY, 0), EBADF);
	ck_assert_int_eq(nf_cmd_open(cmd, lim, "/dev/null", O_RDONLY, 0), EBADF);
	ck_assert_int_eq(nf_cmd_close(cmd, -1), EBADF);
	ck_assert_int_eq(nf_cmd_close(cmd, lim), EBADF);
	ck_assert_int_eq(nf_cmd_fchdir(cmd, -1), EBADF);
	ck_assert_int_eq(nf_cmd_fchdir(cmd, lim), EBADF);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, -1), EBADF);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, lim), EBADF);
	ck_assert_int_eq(nf_cmd_closefrom(cmd, -1), EBADF);
	/* The largest legal fd is accepted. */
	ck_assert_int_eq(nf_cmd_dup2(cmd, lim - 1, lim - 1), 0);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(path_setters_reject_bad_paths)
{
	nf_cmd *cmd = probe_cmd(NULL);
	char *p = long_path(PATH_MAX - 1);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, "", O_RDONLY, 0), EINVAL);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, NULL, O_RDONLY, 0), EINVAL);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, p, O_RDONLY, 0), ENAMETOOLONG);
	ck_assert_int_eq(nf_cmd_chdir(cmd, ""), EINVAL);
	ck_assert_int_eq(nf_cmd_chdir(cmd, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_chdir(cmd, p), ENAMETOOLONG);
	free(p);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(attr_setters_reject_bad_values)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_flags(cmd, 0x80000000u), EINVAL);
	ck_assert_int_eq(nf_cmd_flags(cmd, ~NF_ENOEXEC_SH), EINVAL);
	ck_assert_int_eq(nf_cmd_flags(cmd, NF_ENOEXEC_SH), 0);
	ck_assert_int_eq(nf_cmd_flags(cmd, 0), 0);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, -1), EINVAL);
	ck_assert_int_eq(nf_cmd_umask(cmd, 01000), EINVAL);
	ck_assert_int_eq(nf_cmd_nice(cmd, 20), EINVAL);
	ck_assert_int_eq(nf_cmd_nice(cmd, -21), EINVAL);
	struct rlimit ok = { 10, 20 }, inverted = { 20, 10 };
	ck_assert_int_eq(nf_cmd_rlimit(cmd, 999, &ok), EINVAL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, -1, &ok), EINVAL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_CORE, &inverted), EINVAL);
	ck_assert_int_eq(nf_cmd_setuid(cmd, (uid_t)-1), EINVAL);
	ck_assert_int_eq(nf_cmd_setgid(cmd, (gid_t)-1), EINVAL);
	size_t n = (size_t)sysconf(_SC_NGROUPS_MAX) + 1;
	gid_t *groups = calloc(n, sizeof *groups);
	ck_assert_ptr_nonnull(groups);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, n, groups), E2BIG);
	free(groups);
	ck_assert_int_eq(nf_cmd_sched(cmd, 12345, 0), EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

/* A refused setter must not leave half an action behind: the child of the
 * same cmd sees none of the refused requests. */
START_TEST(refused_setters_change_nothing)
{
	nf_cmd *cmd = probe_cmd(NULL);
	int lim = nofile();
	ck_assert_int_eq(nf_cmd_dup2(cmd, 0, lim), EBADF);
	ck_assert_int_eq(nf_cmd_open(cmd, 7, "", O_RDONLY, 0), EINVAL);
	ck_assert_int_eq(nf_cmd_chdir(cmd, ""), EINVAL);
	ck_assert_int_eq(nf_cmd_umask(cmd, 07777), EINVAL);
	ck_assert_int_eq(nf_cmd_flags(cmd, 0x100u), EINVAL);
	char cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	mode_t um = umask(022);
	umask(um);

	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_fd(&r, 7, NULL), 0);
	ck_assert_str_eq(probe_get(&r, "cwd"), cwd);
	ck_assert_int_eq((int)strtol(probe_get(&r, "umask"), NULL, 8), (int)um);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(free_null)
{
	nf_cmd_free(NULL);
}
END_TEST

START_TEST(spawn_rejects_null)
{
	nf_cmd *cmd = probe_cmd(NULL);
	nf_proc p = {.pid = 7, .pidfd = 7};
	nf_error err;
	ck_assert_int_eq(nf_spawn(NULL, &p, &err), EINVAL);
	ck_assert_int_eq(err.err, EINVAL);
	ck_assert_int_eq(err.index, -1);
	ck_assert_int_eq(p.pid, -1);
	ck_assert_int_eq(p.pidfd, -1);
	ck_assert_int_eq(nf_spawn(cmd, NULL, NULL), EINVAL);
	kit_assert_no_zombies();
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(argv_reaches_child_exactly)
{
	char a0[] = "zeroth", a1[] = "one two", a2[] = "", a3[] = "back\\slash\nnewline";
	char *argv[] = { a0, a1, a2, a3, NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, probe_path(), argv, NULL), 0);
	/* The cmd holds copies: changing the caller's strings later is harmless. */
	a1[0] = 'X';
	argv[2] = NULL;

	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "argc"), 4);
	ck_assert_str_eq(probe_arg(&r, 0), "zeroth");
	ck_assert_str_eq(probe_arg(&r, 1), "one two");
	ck_assert_str_eq(probe_arg(&r, 2), "");
	ck_assert_str_eq(probe_arg(&r, 3), "back\\slash\nnewline");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(envp_given_is_the_whole_environment)
{
	char e0[] = "A=1", e1[] = "B=two words";
	char *envp[] = { e0, e1, NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, probe_path(), probe_argv, envp), 0);
	e0[2] = '9';
	envp[1] = NULL;

	probe_report r;
	probe_run_ok(cmd, &r);
	int n = 0;
	for (size_t i = 0; i < r.nlines; i++)
		n += !strncmp(r.lines[i], "env ", 4);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(probe_env(&r, "A"), "1");
	ck_assert_str_eq(probe_env(&r, "B"), "two words");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(empty_envp)
{
	char *envp[] = { NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, probe_path(), probe_argv, envp), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_ptr_null(probe_get(&r, "env"));
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* envp NULL: the caller's environ as it is at each spawn, not at nf_cmd_new. */
START_TEST(null_envp_is_live_environ)
{
	ck_assert_int_eq(setenv("NF_TEST_LIVE", "before", 1), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(setenv("NF_TEST_LIVE", "after", 1), 0);
	ck_assert_int_eq(setenv("NF_TEST_NEW", "x y", 1), 0);

	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_env(&r, "NF_TEST_LIVE"), "after");
	ck_assert_str_eq(probe_env(&r, "NF_TEST_NEW"), "x y");
	probe_report_free(&r);

	ck_assert_int_eq(unsetenv("NF_TEST_NEW"), 0);
	probe_run_ok(cmd, &r);
	ck_assert_ptr_null(probe_env(&r, "NF_TEST_NEW"));
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* Without any action or attribute the child inherits the basics. */
START_TEST(plain_child_state)
{
	nf_cmd *cmd = probe_cmd(NULL);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pid"), r.pid);
	ck_assert_int_eq(probe_long(&r, "ppid"), getpid());
	ck_assert_int_eq(probe_long(&r, "pgid"), getpgrp());
	ck_assert_int_eq(probe_long(&r, "sid"), getsid(0));
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cmd");
	TCase *tc = kit_tcase("cmd", 30);
	tcase_add_test(tc, new_rejects_bad_input);
	tcase_add_test(tc, new_path_length_limit);
	tcase_add_test(tc, fd_setters_reject_bad_fds);
	tcase_add_test(tc, path_setters_reject_bad_paths);
	tcase_add_test(tc, attr_setters_reject_bad_values);
	tcase_add_test(tc, refused_setters_change_nothing);
	tcase_add_test(tc, free_null);
	tcase_add_test(tc, spawn_rejects_null);
	tcase_add_test(tc, argv_reaches_child_exactly);
	tcase_add_test(tc, envp_given_is_the_whole_environment);
	tcase_add_test(tc, empty_envp);
	tcase_add_test(tc, null_envp_is_live_environ);
	tcase_add_test(tc, plain_child_state);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
