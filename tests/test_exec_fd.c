/* nf_cmd_exec_fd: exec the file open at an fd (execveat AT_EMPTY_PATH)
 * instead of the cmd's path: a memfd holding a copy of the probe, an O_PATH
 * fd; scripts behave as the header documents (close-on-exec script fd:
 * ENOENT; without close-on-exec it runs); each failure is named. */
#include "kit.h"

#include <stdlib.h>
#include <sys/mman.h>

/* A cmd whose path does not exist: only the fd can make it run. */
static nf_cmd *fd_cmd(int fd, const char *arg0, const char *arg1)
{
	const char *argv[] = { arg0, arg1, NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, "/nonexistent/never-run", (char *const *)argv, NULL), 0);
	ck_assert_int_eq(nf_cmd_exec_fd(cmd, fd), 0);
	return cmd;
}

static int probe_memfd(unsigned flags)
{
	int fd = memfd_create("probe-copy", flags);
	ck_assert_int_ge(fd, 0);
	int in = open(probe_path(), O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(in, 0);
	kit_copy_fd(in, fd);
	close(in);
	return fd;
}

static int script_memfd(unsigned flags, const char *text)
{
	int fd = memfd_create("script", flags);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

START_TEST(memfd_copy_of_probe_runs)
{
	int fd = probe_memfd(MFD_CLOEXEC);
	nf_cmd *cmd = fd_cmd(fd, "from-memfd", "x y");
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_arg(&r, 0), "from-memfd");
	ck_assert_str_eq(probe_arg(&r, 1), "x y");
	ck_assert_int_eq(probe_long(&r, "argc"), 2);
	ck_assert(!probe_fd(&r, fd, NULL)); /* close-on-exec did its job */
	probe_report_free(&r);
	/* Spawned again from the same plan. */
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_arg(&r, 0), "from-memfd");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(fd);
}
END_TEST

/* Without close-on-exec the program keeps the fd (it is on the fd
 * policy's keep list), as fexecve's caller would expect. */
START_TEST(fd_without_cloexec_stays_open)
{
	int fd = probe_memfd(0);
	nf_cmd *cmd = fd_cmd(fd, "p", NULL);
	probe_report r;
	probe_run_ok(cmd, &r);
	struct probe_fdinfo info;
	ck_assert(probe_fd(&r, fd, &info));
	ck_assert_int_eq(info.cloexec, 0);
	ck_assert_msg(strstr(info.path, "memfd:probe-copy") != NULL, "fd %d is %s", fd, info.path);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(fd);
}
END_TEST

START_TEST(o_path_fd_runs)
{
	int fd = open(probe_path(), O_PATH | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	nf_cmd *cmd = fd_cmd(fd, "by-o-path", NULL);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_arg(&r, 0), "by-o-path");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(fd);
}
END_TEST

/* The interpreter gets /dev/fd/N, which the kernel can hand over only if N
 * survives the exec. */
START_TEST(script_fd_without_cloexec_runs)
{
	int fd = script_memfd(0, "#!/bin/sh\necho \"script ran: $1\"\n");
	nf_cmd *cmd = fd_cmd(fd, "script", "arg1");
	probe_report r; /* the script's stdout, read like a probe report */
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(r.lines[0], "script ran: arg1");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(fd);
}
END_TEST

START_TEST(script_fd_with_cloexec_is_enoent)
{
	int fd = script_memfd(MFD_CLOEXEC, "#!/bin/sh\necho should not run\n");
	char msg[128];
	snprintf(msg, sizeof msg, "execveat fd %d: No such file or directory", fd);
	kit_expect_spawn_error(fd_cmd(fd, "script", NULL), ENOENT, NF_OP_EXEC, msg);
	close(fd);
}
END_TEST

START_TEST(not_executable_is_eacces)
{
	char *path = kit_tmp_file("plain", "#!/bin/sh\necho no\n", 0644);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	char msg[128];
	snprintf(msg, sizeof msg, "execveat fd %d: Permission denied", fd);
	kit_expect_spawn_error(fd_cmd(fd, "plain", NULL), EACCES, NF_OP_EXEC, msg);
	close(fd);
	free(path);
}
END_TEST

START_TEST(no_header_is_enoexec)
{
	int fd = script_memfd(MFD_CLOEXEC, "echo no interpreter line\n");
	char msg[128];
	snprintf(msg, sizeof msg, "execveat fd %d: Exec format error", fd);
	kit_expect_spawn_error(fd_cmd(fd, "noheader", NULL), ENOEXEC, NF_OP_EXEC, msg);
	close(fd);
}
END_TEST

START_TEST(fd_not_open_at_spawn_is_ebadf)
{
	ck_assert_int_eq(fcntl(150, F_GETFD), -1);
	nf_cmd *cmd = fd_cmd(150, "x", NULL);
	ck_assert_int_eq(nf_cmd_exec_fd(cmd, -1), EBADF);
	kit_expect_spawn_error(cmd, EBADF, NF_OP_EXEC, "execveat fd 150: Bad file descriptor");
}
END_TEST

/* The exec fd survives the fd policy, but a file action can still replace
 * it; the exec then runs whatever is at that number at exec time. */
START_TEST(action_can_place_the_exec_fd)
{
	int src = open(probe_path(), O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(src, 0);
	nf_cmd *cmd = fd_cmd(77, "placed", NULL);
	ck_assert_int_eq(nf_cmd_dup2(cmd, src, 77), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_arg(&r, 0), "placed");
	ck_assert(probe_fd(&r, 77, NULL)); /* dup2's result is inheritable */
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(src);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exec_fd");
	TCase *tc = kit_tcase("exec_fd", 60);
	tcase_add_test(tc, memfd_copy_of_probe_runs);
	tcase_add_test(tc, fd_without_cloexec_stays_open);
	tcase_add_test(tc, o_path_fd_runs);
	tcase_add_test(tc, script_fd_without_cloexec_runs);
	tcase_add_test(tc, script_fd_with_cloexec_is_enoent);
	tcase_add_test(tc, not_executable_is_eacces);
	tcase_add_test(tc, no_header_is_enoexec);
	tcase_add_test(tc, fd_not_open_at_spawn_is_ebadf);
	tcase_add_test(tc, action_can_place_the_exec_fd);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
