/* Exec and error reporting: exec failing for each reason, execvp's PATH
 * search precedence, the error record (kind, index, fd/path) and its
 * rendering for each kind of failing step, and that a failed child is gone
 * (reaped) when nf_spawn returns. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *const probe_argv[] = { "probe", NULL };

/* Spawn cmd expecting failure `want`; check the record's common part and
 * that nothing is left of the child. Returns the record. */
static nf_error spawn_fails(const nf_cmd *cmd, int want, int op)
{
	nf_error err;
	memset(&err, 0x5a, sizeof err);
	nf_proc p = {.pid = 12345, .pidfd = 12345};
	int rc = nf_spawn(cmd, &p, &err);
	char msg[4200];
	ck_assert_msg(rc == want, "nf_spawn returned %d (%s), expected %d (%s); record: %s", rc,
		      strerror(rc), want, strerror(want), nf_error_format(&err, msg, sizeof msg));
	ck_assert_int_eq(err.err, want);
	ck_assert_int_eq(err.op, op);
	if (want != EINTR)
		ck_assert_int_eq(err.signal, 0);
	ck_assert_int_eq(p.pid, -1);
	ck_assert_int_eq(p.pidfd, -1);
	kit_assert_no_zombies(); /* the failed child (exit 127) is already reaped */
	return err;
}

/* "<what>: <strerror(err)>" */
static void expect_format(const nf_error *err, const char *what)
{
	char buf[4300], want[4300];
	snprintf(want, sizeof want, "%s: %s", what, strerror(err->err));
	ck_assert_str_eq(nf_error_format(err, buf, sizeof buf), want);
}

static char *tmp_path(const char *name)
{
	char *p = NULL;
	ck_assert_int_ge(asprintf(&p, "%s/%s", kit_tmpdir(), name), 0);
	return p;
}

static nf_cmd *cmd_for(const char *path)
{
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, path, probe_argv, NULL), 0);
	return cmd;
}

/* ---- exec failures -------------------------------------------------------- */

START_TEST(exec_enoent)
{
	char *path = tmp_path("nope");
	nf_cmd *cmd = cmd_for(path);
	nf_error err = spawn_fails(cmd, ENOENT, NF_OP_EXEC);
	ck_assert_str_eq(err.path, path);
	ck_assert_int_ge(err.index, 0);
	char what[4200];
	snprintf(what, sizeof what, "execve %s", path);
	expect_format(&err, what);
	/* err may be NULL: same result, nothing to fill. */
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), ENOENT);
	kit_assert_no_zombies();
	nf_cmd_free(cmd);
	free(path);
}
END_TEST

START_TEST(exec_eacces)
{
	char *file = kit_tmp_file("noexec", "#!/bin/sh\nexit 0\n", 0644);
	nf_cmd *cmd = cmd_for(file);
	nf_error err = spawn_fails(cmd, EACCES, NF_OP_EXEC);
	ck_assert_str_eq(err.path, file);
	nf_cmd_free(cmd);
	/* A directory is not executable either. */
	cmd = cmd_for(kit_tmpdir());
	spawn_fails(cmd, EACCES, NF_OP_EXEC);
	nf_cmd_free(cmd);
	free(file);
}
END_TEST

START_TEST(exec_enoexec)
{
	char *file = kit_tmp_file("garbage", "\x01\x02\x03 not a program\n", 0755);
	nf_cmd *cmd = cmd_for(file);
	nf_error err = spawn_fails(cmd, ENOEXEC, NF_OP_EXEC);
	ck_assert_str_eq(err.path, file);
	nf_cmd_free(cmd);
	free(file);
}
END_TEST

/* With NF_ENOEXEC_SH a script without #! runs as `/bin/sh file args...`. */
START_TEST(enoexec_sh_runs_script)
{
	char content[4200];
	snprintf(content, sizeof content, "exec %s from-sh \"$@\"\n", probe_path());
	char *file = kit_tmp_file("script", content, 0755);
	char *argv[] = { "script", "a1", "a 2", NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, file, argv, NULL), 0);
	spawn_fails(cmd, ENOEXEC, NF_OP_EXEC); /* off by default */
	ck_assert_int_eq(nf_cmd_flags(cmd, NF_ENOEXEC_SH), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "argc"), 4);
	ck_assert_str_eq(probe_arg(&r, 1), "from-sh");
	ck_assert_str_eq(probe_arg(&r, 2), "a1");
	ck_assert_str_eq(probe_arg(&r, 3), "a 2");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	free(file);
}
END_TEST

START_TEST(exec_e2big)
{
	enum { N = 3000, LEN = 1024 }; /* 3 MB of arguments > the 2 MB default */
	char **argv = calloc(N + 1, sizeof *argv);
	ck_assert_ptr_nonnull(argv);
	char *s = malloc(LEN);
	ck_assert_ptr_nonnull(s);
	memset(s, 'x', LEN - 1);
	s[LEN - 1] = '\0';
	for (int i = 0; i < N; i++)
		argv[i] = s;
	nf_cmd *cmd = NULL;
	int rc = nf_cmd_new(&cmd, probe_path(), argv, NULL);
	if (rc == 0) {
		nf_error err;
		nf_proc p;
		rc = nf_spawn(cmd, &p, &err);
		ck_assert_int_eq(rc, E2BIG);
		ck_assert_int_eq(err.err, E2BIG);
		kit_assert_no_zombies();
		nf_cmd_free(cmd);
	}
	ck_assert_int_eq(rc, E2BIG);
	free(s);
	free(argv);
}
END_TEST

START_TEST(exec_enametoolong_component)
{
	char name[NAME_MAX + 2];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	char *path = tmp_path(name);
	nf_cmd *cmd = cmd_for(path);
	nf_error err = spawn_fails(cmd, ENAMETOOLONG, NF_OP_EXEC);
	ck_assert_str_eq(err.path, path);
	nf_cmd_free(cmd);
	free(path);
}
END_TEST

/* ---- PATH search ------------------------------------------------------------ */

/* dir/name: a script that execs the probe with `tag` as argv[1], so the
 * report says which candidate ran. */
static char *make_dir(const char *name)
{
	char *d = tmp_path(name);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	return d;
}

static void make_prog(const char *dir, const char *name, const char *tag, mode_t mode)
{
	char path[PATH_MAX], content[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(content, sizeof content, "#!/bin/sh\nexec %s %s\n", probe_path(), tag);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static char *join(const char *a, const char *b)
{
	char *s = NULL;
	ck_assert_int_ge(asprintf(&s, "%s:%s", a, b), 0);
	return s;
}

static nf_cmd *newp_env(const char *file, const char *path_list)
{
	char *envp[2] = { NULL, NULL };
	ck_assert_int_ge(asprintf(&envp[0], "PATH=%s", path_list), 0);
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_newp(&cmd, file, probe_argv, envp), 0);
	free(envp[0]);
	return cmd;
}

/* Which candidate ran: argv[1] of the probe behind it. */
static void expect_ran(nf_cmd *cmd, const char *tag)
{
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_arg(&r, 1), tag);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}

START_TEST(path_first_match_wins)
{
	char *d1 = make_dir("d1"), *d2 = make_dir("d2");
	make_prog(d1, "prog", "one", 0755);
	make_prog(d2, "prog", "two", 0755);
	char *pl = join(d1, d2);
	expect_ran(newp_env("prog", pl), "one");
	free(pl);
	pl = join(d2, d1);
	expect_ran(newp_env("prog", pl), "two");
	free(pl);
	free(d1);
	free(d2);
}
END_TEST

START_TEST(path_later_dir_wins_over_eacces)
{
	char *d1 = make_dir("d1"), *d2 = make_dir("d2");
	make_prog(d1, "prog", "one", 0644);
	make_prog(d2, "prog", "two", 0755);
	char *pl = join(d1, d2);
	expect_ran(newp_env("prog", pl), "two");
	free(pl);
	free(d1);
	free(d2);
}
END_TEST

START_TEST(path_eacces_remembered)
{
	char *d1 = make_dir("d1"), *d2 = make_dir("d2");
	make_prog(d1, "prog", "one", 0644);
	char *pl = join(d1, d2); /* d2 has no prog: ENOENT there */
	nf_cmd *cmd = newp_env("prog", pl);
	nf_error err = spawn_fails(cmd, EACCES, NF_OP_EXEC);
	char want[PATH_MAX];
	snprintf(want, sizeof want, "%s/prog", d1);
	ck_assert_str_eq(err.path, want);
	nf_cmd_free(cmd);
	free(pl);
	free(d1);
	free(d2);
}
END_TEST

START_TEST(path_enoent_enotdir_skipped)
{
	char *d2 = make_dir("d2");
	make_prog(d2, "prog", "two", 0755);
	char *file = kit_tmp_file("plainfile", "", 0644);
	char *pl = NULL;
	ck_assert_int_ge(asprintf(&pl, "/nonexistent-nofork:%s:%s", file, d2), 0);
	expect_ran(newp_env("prog", pl), "two");
	free(pl);
	/* Nothing anywhere: as glibc's execvp, the last candidate's error. */
	ck_assert_int_ge(asprintf(&pl, "%s:/nonexistent-nofork", file), 0);
	nf_cmd *cmd = newp_env("prog", pl);
	nf_error err = spawn_fails(cmd, ENOENT, NF_OP_EXEC);
	ck_assert_str_eq(err.path, "/nonexistent-nofork/prog");
	nf_cmd_free(cmd);
	free(pl);
	ck_assert_int_ge(asprintf(&pl, "/nonexistent-nofork:%s", file), 0);
	cmd = newp_env("prog", pl);
	err = spawn_fails(cmd, ENOTDIR, NF_OP_EXEC);
	char want[PATH_MAX];
	snprintf(want, sizeof want, "%s/prog", file);
	ck_assert_str_eq(err.path, want);
	nf_cmd_free(cmd);
	free(pl);
	free(file);
	free(d2);
}
END_TEST

/* Any other error stops the search (execvp): a symlink loop in d1. */
START_TEST(path_other_error_stops)
{
	char *d1 = make_dir("d1"), *d2 = make_dir("d2");
	make_prog(d2, "prog", "two", 0755);
	char link[PATH_MAX];
	snprintf(link, sizeof link, "%s/prog", d1);
	ck_assert_int_eq(symlink(link, link), 0);
	char *pl = join(d1, d2);
	nf_cmd *cmd = newp_env("prog", pl);
	nf_error err = spawn_fails(cmd, ELOOP, NF_OP_EXEC);
	ck_assert_str_eq(err.path, link);
	nf_cmd_free(cmd);
	free(pl);
	free(d1);
	free(d2);
}
END_TEST

/* A name with a '/' is not searched, even if PATH would find it. */
START_TEST(path_name_with_slash_not_searched)
{
	char *d2 = make_dir("d2");
	char *sub = tmp_path("d2/sub");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	make_prog(sub, "prog", "found", 0755);
	ck_assert_int_eq(chdir(kit_tmpdir()), 0); /* tmpdir/sub/prog does not exist */
	nf_cmd *cmd = newp_env("sub/prog", d2);
	spawn_fails(cmd, ENOENT, NF_OP_EXEC);
	nf_cmd_free(cmd);
	/* ...and is used relative to the cwd as is. */
	expect_ran(newp_env("d2/sub/prog", "/nonexistent-nofork"), "found");
	free(sub);
	free(d2);
}
END_TEST

START_TEST(path_from_envp_not_callers)
{
	char *d1 = make_dir("d1"), *d2 = make_dir("d2");
	make_prog(d1, "prog", "one", 0755);
	make_prog(d2, "prog", "two", 0755);
	ck_assert_int_eq(setenv("PATH", d1, 1), 0);
	expect_ran(newp_env("prog", d2), "two");
	/* envp NULL: the caller's PATH. */
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_newp(&cmd, "prog", probe_argv, NULL), 0);
	expect_ran(cmd, "one");
	free(d1);
	free(d2);
}
END_TEST

START_TEST(search_path_overrides_envp)
{
	char *d1 = make_dir("d1"), *d2 = make_dir("d2");
	make_prog(d1, "prog", "one", 0755);
	make_prog(d2, "prog", "two", 0755);
	nf_cmd *cmd = newp_env("prog", d1);
	ck_assert_int_eq(nf_cmd_search_path(cmd, d2), 0);
	expect_ran(cmd, "two");
	free(d1);
	free(d2);
}
END_TEST

/* An empty PATH element is the current directory (of the child). */
START_TEST(path_empty_element_is_cwd)
{
	char *d1 = make_dir("d1"), *d2 = make_dir("d2");
	make_prog(d1, "prog", "one", 0755);
	make_prog(d2, "prog", "two", 0755);
	char *pl = join("", d2);
	nf_cmd *cmd = newp_env("prog", pl);
	ck_assert_int_eq(nf_cmd_chdir(cmd, d1), 0);
	expect_ran(cmd, "one");
	free(pl);
	free(d1);
	free(d2);
}
END_TEST

/* No PATH in envp: the default list finds sh. */
START_TEST(path_default_list)
{
	char *argv[] = { "sh", "-c", "exit 7", NULL };
	char *envp[] = { "A=1", NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_newp(&cmd, "sh", argv, envp), 0);
	int st = kit_spawn_wait(cmd);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 7);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- the error record for each kind of failing step ------------------------- */

START_TEST(error_dup2_of_closed_fd)
{
	ck_assert_int_eq(fcntl(150, F_GETFD), -1);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 150, 5), 0);
	nf_error err = spawn_fails(cmd, EBADF, NF_OP_DUP2);
	ck_assert_int_eq(err.fd, 5);
	ck_assert_int_eq(err.arg, 150);
	ck_assert_int_ge(err.index, 0);
	expect_format(&err, "dup2 fd 150 to fd 5");
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(error_open)
{
	char *path = tmp_path("x/y");
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 1, path, O_RDONLY, 0), 0);
	nf_error err = spawn_fails(cmd, ENOENT, NF_OP_OPEN);
	ck_assert_int_eq(err.fd, 1);
	ck_assert_str_eq(err.path, path);
	char what[4200];
	snprintf(what, sizeof what, "open %s as fd 1", path);
	expect_format(&err, what);
	nf_cmd_free(cmd);
	free(path);
}
END_TEST

START_TEST(error_close_of_non_open_fd)
{
	ck_assert_int_eq(fcntl(150, F_GETFD), -1);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_close(cmd, 150), 0);
	nf_error err = spawn_fails(cmd, EBADF, NF_OP_CLOSE);
	ck_assert_int_eq(err.fd, 150);
	expect_format(&err, "close fd 150");
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(error_chdir)
{
	char *path = tmp_path("no/such/dir");
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_chdir(cmd, path), 0);
	nf_error err = spawn_fails(cmd, ENOENT, NF_OP_CHDIR);
	ck_assert_str_eq(err.path, path);
	char what[4200];
	snprintf(what, sizeof what, "chdir %s", path);
	expect_format(&err, what);
	nf_cmd_free(cmd);
	free(path);
}
END_TEST

START_TEST(error_fchdir)
{
	char *file = kit_tmp_file("plain", "", 0644);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_fchdir(cmd, fd), 0);
	nf_error err = spawn_fails(cmd, ENOTDIR, NF_OP_FCHDIR);
	ck_assert_int_eq(err.fd, fd);
	char what[64];
	snprintf(what, sizeof what, "fchdir fd %d", fd);
	expect_format(&err, what);
	nf_cmd_free(cmd);
	close(fd);
	/* ...and of an fd that is not open. */
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_fchdir(cmd, 150), 0);
	err = spawn_fails(cmd, EBADF, NF_OP_FCHDIR);
	ck_assert_int_eq(err.fd, 150);
	nf_cmd_free(cmd);
	free(file);
}
END_TEST

START_TEST(error_keep_fd_of_closed_fd)
{
	ck_assert_int_eq(fcntl(150, F_GETFD), -1);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_keep_fd(cmd, 150), 0);
	nf_error err = spawn_fails(cmd, EBADF, NF_OP_KEEP_FD);
	ck_assert_int_eq(err.fd, 150);
	expect_format(&err, "keep fd 150");
	nf_cmd_free(cmd);
}
END_TEST

/* A group in another session cannot be joined: EPERM. */
START_TEST(error_setpgid_foreign_group)
{
	nf_cmd *leader = probe_cmd("sleep", "600000");
	ck_assert_int_eq(nf_cmd_setsid(leader), 0);
	nf_proc a;
	ck_assert_int_eq(nf_spawn(leader, &a, NULL), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, a.pid), 0);
	nf_error err;
	nf_proc p;
	int rc = nf_spawn(cmd, &p, &err);
	ck_assert_int_eq(nf_proc_kill(&a, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&a, NULL, -1), 0);
	nf_proc_release(&a);
	ck_assert_int_eq(rc, EPERM);
	ck_assert_int_eq(err.op, NF_OP_SETPGID);
	ck_assert_int_eq(err.arg, a.pid);
	ck_assert_int_eq(p.pid, -1);
	char what[64];
	snprintf(what, sizeof what, "setpgid %d", (int)a.pid);
	expect_format(&err, what);
	kit_assert_no_zombies();
	nf_cmd_free(cmd);
	nf_cmd_free(leader);
}
END_TEST

/* The rendering always fits the buffer it is given. */
START_TEST(error_format_truncates)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_close(cmd, 150), 0);
	nf_error err = spawn_fails(cmd, EBADF, NF_OP_CLOSE);
	char full[256], small[8];
	nf_error_format(&err, full, sizeof full);
	memset(small, 'x', sizeof small);
	ck_assert_ptr_eq(nf_error_format(&err, small, sizeof small), small);
	ck_assert_int_eq(strlen(small), sizeof small - 1);
	ck_assert(!strncmp(small, full, sizeof small - 1));
	small[0] = 'x';
	ck_assert_ptr_eq(nf_error_format(&err, small, 0), small);
	ck_assert_int_eq(small[0], 'x'); /* len 0: nothing written */
	nf_cmd_free(cmd);
}
END_TEST

/* index is the failing step's position: two more steps before it move it
 * by two. */
START_TEST(error_index_is_position)
{
	nf_cmd *a = probe_cmd(NULL), *b = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_close(a, 150), 0);
	ck_assert_int_eq(nf_cmd_open(b, 60, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_open(b, 61, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_close(b, 150), 0);
	nf_error ea = spawn_fails(a, EBADF, NF_OP_CLOSE);
	nf_error eb = spawn_fails(b, EBADF, NF_OP_CLOSE);
	ck_assert_int_ge(ea.index, 0);
	ck_assert_int_eq(eb.index - ea.index, 2);
	nf_cmd_free(a);
	nf_cmd_free(b);
}
END_TEST

/* A failing step stops the sequence: later steps never run. */
START_TEST(failure_stops_later_steps)
{
	char *made = tmp_path("made");
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_close(cmd, 150), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, made, O_WRONLY | O_CREAT, 0600), 0);
	spawn_fails(cmd, EBADF, NF_OP_CLOSE);
	ck_assert_int_eq(access(made, F_OK), -1);
	nf_cmd_free(cmd);
	free(made);
}
END_TEST

/* A child killed before it reached exec fails the spawn with EINTR, naming
 * the signal and the step it was in. It is made to block in an open of a
 * FIFO (nobody reads), and a helper process kills it there. */
START_TEST(killed_before_exec_is_eintr)
{
	char *fifo = tmp_path("fifo");
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	pid_t parent = getpid();
	pid_t h = fork();
	ck_assert_int_ge(h, 0);
	if (h == 0) {
		pid_t c = kit_await_child(parent, getpid(), 30);
		if (c <= 0)
			_exit(2);
		if (!kit_await_syscall(c, SYS_openat, 30))
			_exit(3);
		_exit(kill(c, SIGKILL) == 0 ? 0 : 4);
	}
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_chdir(cmd, "/"), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, fifo, O_WRONLY, 0), 0);
	nf_error err;
	nf_proc p;
	int rc = nf_spawn(cmd, &p, &err);
	int hs;
	ck_assert_int_eq(waitpid(h, &hs, 0), h); /* before the zombie check */
	ck_assert_msg(WIFEXITED(hs) && WEXITSTATUS(hs) == 0, "helper status 0x%x", hs);
	ck_assert_int_eq(rc, EINTR);
	ck_assert_int_eq(err.err, EINTR);
	ck_assert_int_eq(err.op, NF_OP_OPEN);
	ck_assert_int_eq(p.pid, -1);
	ck_assert_int_eq(p.pidfd, -1);
	kit_assert_no_zombies();
	ck_assert_int_eq(err.signal, SIGKILL);
	ck_assert_int_eq(err.fd, 5);
	ck_assert_str_eq(err.path, fifo);
	char buf[4300], want[4300];
	snprintf(want, sizeof want, "open %s as fd 5: killed by signal %d before exec", fifo, SIGKILL);
	ck_assert_str_eq(nf_error_format(&err, buf, sizeof buf), want);

	/* The same position as an open that fails by itself. */
	nf_cmd *same = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_chdir(same, "/"), 0);
	ck_assert_int_eq(nf_cmd_open(same, 5, "/nonexistent-nofork", O_RDONLY, 0), 0);
	nf_error e2 = spawn_fails(same, ENOENT, NF_OP_OPEN);
	ck_assert_int_eq(err.index, e2.index);
	nf_cmd_free(same);
	nf_cmd_free(cmd);
	free(fifo);
}
END_TEST

/* dup2(fd, fd) of an fd that is not open fails like dup2 itself. */
START_TEST(error_dup2_same_closed_fd)
{
	ck_assert_int_eq(fcntl(150, F_GETFD), -1);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 150, 150), 0);
	nf_error err = spawn_fails(cmd, EBADF, NF_OP_DUP2);
	ck_assert_int_eq(err.fd, 150);
	ck_assert_int_eq(err.arg, 150);
	nf_cmd_free(cmd);
}
END_TEST

/* Exec by fd: the file open at fd runs; a closed fd fails as execveat. */
START_TEST(exec_fd_runs_file)
{
	int fd = open(probe_path(), O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	char *argv[] = { "by-fd", "x", NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, "/nonexistent-nofork/unused", argv, NULL), 0);
	ck_assert_int_eq(nf_cmd_exec_fd(cmd, fd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_arg(&r, 0), "by-fd");
	ck_assert_str_eq(probe_arg(&r, 1), "x");
	ck_assert(!probe_fd(&r, fd, NULL)); /* close-on-exec: gone after exec */
	probe_report_free(&r);
	nf_cmd_free(cmd);
	close(fd);

	ck_assert_int_eq(fcntl(150, F_GETFD), -1);
	cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, "/nonexistent-nofork/unused", argv, NULL), 0);
	ck_assert_int_eq(nf_cmd_exec_fd(cmd, 150), 0);
	nf_error err = spawn_fails(cmd, EBADF, NF_OP_EXEC);
	ck_assert_int_eq(err.fd, 150);
	expect_format(&err, "execveat fd 150");
	nf_cmd_free(cmd);
}
END_TEST

/* ---- failures in the parent ------------------------------------------------- */

/* No fd left for the pidfd: EMFILE from the clone, nothing leaked, no child;
 * without a pidfd the same spawn needs no fd and works. */
START_TEST(fd_exhaustion)
{
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, probe_path(), (char *[]){ "probe", "exit", "0", NULL }, NULL), 0);
	ck_assert_int_eq(kit_spawn_wait(cmd), 0); /* compiled before the fds run out */
	struct rlimit old, low;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	int fds[64], n = 0, fd;
	while (n < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		fds[n++] = fd;
	ck_assert_int_eq(errno, EMFILE);

	nf_error err;
	nf_proc p = {.pid = 1, .pidfd = 1};
	ck_assert_int_eq(nf_spawn(cmd, &p, &err), EMFILE);
	ck_assert_int_eq(err.err, EMFILE);
	ck_assert_int_eq(err.op, NF_OP_CLONE);
	ck_assert_int_eq(err.index, -1);
	ck_assert_int_eq(p.pid, -1);
	ck_assert_int_eq(p.pidfd, -1);
	kit_assert_no_zombies();

	ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	ck_assert_int_eq(kit_spawn_wait(cmd), 0);
	while (n)
		close(fds[--n]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	nf_cmd_free(cmd);
}
END_TEST

/* RLIMIT_NPROC reached: EAGAIN from the clone. Root is exempt, so the
 * forked process that tries it becomes nobody first. */
static int nproc_child(void)
{
	nf_cmd *cmd = NULL;
	if (nf_cmd_new(&cmd, probe_path(), (char *[]){ "probe", "exit", "0", NULL }, NULL))
		return 10;
	struct rlimit zero = { 0, 0 };
	if (setrlimit(RLIMIT_NPROC, &zero))
		return 11;
	if (geteuid() == 0 && (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
		return 12;
	nf_error err;
	nf_proc p;
	int rc = nf_spawn(cmd, &p, &err);
	if (rc != EAGAIN)
		return 20;
	if (err.op != NF_OP_CLONE || err.index != -1 || p.pid != -1 || p.pidfd != -1)
		return 21;
	siginfo_t si;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) != -1 || errno != ECHILD)
		return 22;
	return 0;
}

START_TEST(nproc_limit)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(nproc_child());
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "status 0x%x (1x: setup, 20: not EAGAIN, 21: record, 22: a child left)", st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exec");
	TCase *tc = kit_tcase("exec", 60);
	tcase_add_test(tc, exec_enoent);
	tcase_add_test(tc, exec_eacces);
	tcase_add_test(tc, exec_enoexec);
	tcase_add_test(tc, enoexec_sh_runs_script);
	tcase_add_test(tc, exec_e2big);
	tcase_add_test(tc, exec_enametoolong_component);
	tcase_add_test(tc, path_first_match_wins);
	tcase_add_test(tc, path_later_dir_wins_over_eacces);
	tcase_add_test(tc, path_eacces_remembered);
	tcase_add_test(tc, path_enoent_enotdir_skipped);
	tcase_add_test(tc, path_other_error_stops);
	tcase_add_test(tc, path_name_with_slash_not_searched);
	tcase_add_test(tc, path_from_envp_not_callers);
	tcase_add_test(tc, search_path_overrides_envp);
	tcase_add_test(tc, path_empty_element_is_cwd);
	tcase_add_test(tc, path_default_list);
	tcase_add_test(tc, error_dup2_of_closed_fd);
	tcase_add_test(tc, error_open);
	tcase_add_test(tc, error_close_of_non_open_fd);
	tcase_add_test(tc, error_chdir);
	tcase_add_test(tc, error_fchdir);
	tcase_add_test(tc, error_keep_fd_of_closed_fd);
	tcase_add_test(tc, error_setpgid_foreign_group);
	tcase_add_test(tc, error_index_is_position);
	tcase_add_test(tc, error_format_truncates);
	tcase_add_test(tc, failure_stops_later_steps);
	tcase_add_test(tc, killed_before_exec_is_eintr);
	tcase_add_test(tc, error_dup2_same_closed_fd);
	tcase_add_test(tc, exec_fd_runs_file);
	tcase_add_test(tc, fd_exhaustion);
	tcase_add_test(tc, nproc_limit);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
