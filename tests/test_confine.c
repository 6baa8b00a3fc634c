/* tests/progs/confine, the "run this confined" example built on nofork's
 * namespace and process-attribute steps: what the probe sees inside
 * (ids, pid 1, hostname, root, read-only /usr, empty /tmp, no_new_privs,
 * the seccomp filter), as root and as nobody, and how the tool ends. */
#include "kit.h"

#include <glob.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

struct outcome {
	int status;
	char out[65536], err[4096];
};

/* A cmd for: confine --ro <the probe's directory> -- <probe> args... */
static nf_cmd *confine_cmd(const char *const *args)
{
	const char *probe = probe_path(); /* the public copy: see main */
	static char dir[4096];
	snprintf(dir, sizeof dir, "%s", probe);
	*strrchr(dir, '/') = '\0';
	const char *argv[32] = {CONFINE_PATH, "--ro", dir, "--", probe};
	int n = 5;
	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	nf_cmd *cmd;
	ck_assert_int_eq(nf_cmd_new(&cmd, CONFINE_PATH, (char *const *)argv, NULL), 0);
	return cmd;
}

static void confine(struct outcome *o, const char *const *args)
{
	nf_cmd *cmd = confine_cmd(args);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 1, NF_PIPE_FROM_CHILD), 0);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 2, NF_PIPE_FROM_CHILD), 0);
	nf_buf out = {0}, err = {0};
	ck_assert_int_eq(nf_run(cmd, NULL, 0, &out, &err, &o->status, 30000, NULL), 0);
	snprintf(o->out, sizeof o->out, "%.*s", (int)out.len, out.data ? out.data : "");
	snprintf(o->err, sizeof o->err, "%.*s", (int)err.len, err.data ? err.data : "");
	nf_buf_free(&out);
	nf_buf_free(&err);
	nf_cmd_free(cmd);
}

static void expect_line(const struct outcome *o, const char *line)
{
	char want[512];
	snprintf(want, sizeof want, "\n%s\n", line);
	ck_assert_msg(strstr(o->out, want) || !strncmp(o->out, want + 1, strlen(want + 1)),
	              "no line \"%s\" in:\n%s\nstderr: %s", line, o->out, o->err);
}

static void inside_state(const char *map, const char *setgroups)
{
	struct outcome o;
	confine(&o, (const char *const[]){NULL});
	ck_assert_msg(o.status == 0, "status %d, stderr: %s", o.status, o.err);
	expect_line(&o, "uid 0 0 0");
	expect_line(&o, "gid 0 0 0");
	expect_line(&o, "pid 1");
	expect_line(&o, "ppid 0");
	expect_line(&o, "hostname confined");
	expect_line(&o, "root /");
	expect_line(&o, "cwd /");
	expect_line(&o, "nnp 1");
	expect_line(&o, "Seccomp 2");
	expect_line(&o, "NSpid 1");
	char line[64];
	snprintf(line, sizeof line, "uid_map %s", map);
	expect_line(&o, line);
	snprintf(line, sizeof line, "setgroups %s", setgroups);
	expect_line(&o, line);
}

START_TEST(inside_as_root)
{
	inside_state("0 0 1", "allow");
}
END_TEST

START_TEST(inside_as_nobody)
{
	kit_become_nobody();
	inside_state("0 65534 1", "deny");
}
END_TEST

START_TEST(usr_read_only_tmp_private)
{
	struct outcome o;
	confine(&o, (const char *const[]){"write", "/usr/confine-test", NULL});
	expect_line(&o, "write errno 30"); /* EROFS */
	confine(&o, (const char *const[]){"write", "/tmp/x", NULL});
	expect_line(&o, "write ok");
	confine(&o, (const char *const[]){"ls", "/tmp", NULL});
	ck_assert_msg(!strstr(o.out, "entry x\n"), "the last run's /tmp/x is still there:\n%s", o.out);
	ck_assert_msg(strstr(o.out, "entry nofork-run."), "%s", o.out); /* the --ro directory's parent, made inside */
	ck_assert_int_eq(access("/usr/confine-test", F_OK), -1);
}
END_TEST

/* The filter: a denied syscall fails with EPERM, others work (getppid is
 * 0 for pid 1 of a pid namespace). */
START_TEST(seccomp_denies_the_listed)
{
	struct outcome o;
	char nr[16];
	snprintf(nr, sizeof nr, "%d", SYS_unshare);
	confine(&o, (const char *const[]){"syscall", nr, NULL});
	expect_line(&o, "syscall -1 1");
	snprintf(nr, sizeof nr, "%d", SYS_getppid);
	confine(&o, (const char *const[]){"syscall", nr, NULL});
	expect_line(&o, "syscall 0 0");
}
END_TEST

/* The program's status is the tool's: an exit code, and 128 + the signal
 * for one killed from outside (as pid 1 of its namespace it cannot be
 * killed by its own signals). */
START_TEST(status_passes_through)
{
	struct outcome o;
	confine(&o, (const char *const[]){"exit", "7", NULL});
	ck_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 7);
	nf_cmd *cmd = confine_cmd((const char *const[]){"sleep", "30000", NULL});
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	pid_t inner = kit_await_child(p.pid, 0, 10);
	ck_assert_int_gt(inner, 0);
	char path[64], comm[64] = "";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)inner);
	for (double end = kit_now_s() + 10; kit_now_s() < end && strncmp(comm, "probe", 5); usleep(1000)) {
		FILE *f = fopen(path, "r"); /* "confine" until the exec */
		if (f && !fgets(comm, sizeof comm, f))
			comm[0] = '\0';
		if (f)
			fclose(f);
	}
	ck_assert_msg(!strncmp(comm, "probe", 5), "the program never started: %s", comm);
	ck_assert_int_eq(kill(inner, SIGKILL), 0);
	int st;
	ck_assert_int_eq(nf_proc_wait(&p, &st, 10000), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}
END_TEST

static int leftover_roots(void)
{
	glob_t g;
	int n = glob("/tmp/confine.*", 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	globfree(&g);
	return n;
}

START_TEST(failures_say_why)
{
	int before = leftover_roots();
	const char *argv[] = {CONFINE_PATH, "--", "/nonexistent", NULL};
	nf_cmd *cmd;
	ck_assert_int_eq(nf_cmd_new(&cmd, CONFINE_PATH, (char *const *)argv, NULL), 0);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 2, NF_PIPE_FROM_CHILD), 0);
	nf_buf err = {0};
	int st;
	ck_assert_int_eq(nf_run(cmd, NULL, 0, NULL, &err, &st, 30000, NULL), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 127);
	ck_assert_str_eq(err.data, "confine: execve /nonexistent: No such file or directory\n");
	nf_buf_free(&err);
	nf_cmd_free(cmd);
	ck_assert_int_eq(leftover_roots(), before); /* its root directory removed */

	const char *bad[] = {CONFINE_PATH, "--ro", "relative", "--", "true", NULL};
	ck_assert_int_eq(nf_cmd_new(&cmd, CONFINE_PATH, (char *const *)bad, NULL), 0);
	ck_assert_int_eq(nf_cmd_devnull(cmd, 2), 0);
	ck_assert_int_eq(nf_run(cmd, NULL, 0, NULL, NULL, &st, 30000, NULL), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 125);
	nf_cmd_free(cmd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("confine");
	TCase *tc = tcase_create("confine");
	tcase_set_timeout(tc, 60);
	/* A probe copy any uid can reach, made while still root. */
	tcase_add_checked_fixture(tc, kit_use_public_probe, NULL);
	tcase_add_test(tc, inside_as_root);
	tcase_add_test(tc, inside_as_nobody);
	tcase_add_test(tc, usr_read_only_tmp_private);
	tcase_add_test(tc, seccomp_denies_the_listed);
	tcase_add_test(tc, status_passes_through);
	tcase_add_test(tc, failures_say_why);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
