/* Credentials and process flags set in the child: supplementary groups,
 * gid, uid (raw syscalls: only the child changes, not the parent nor its
 * other threads), no_new_privs and the parent-death signal. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A copy of the probe that any uid can run (the build tree may sit under a
 * directory only its owner can enter); NF_PROBE points probe_cmd at it. */
static void use_public_probe(void)
{
	const char *dir = test_tmpdir();
	ck_assert_int_eq(chmod(dir, 0755), 0);
	char *copy = NULL;
	ck_assert_int_ge(asprintf(&copy, "%s/probe", dir), 0);
	int in = open(probe_path(), O_RDONLY | O_CLOEXEC);
	int out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(out, 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	ck_assert_int_eq(setenv("NF_PROBE", copy, 1), 0);
	free(copy);
}

/* Uid line of one of our threads, from /proc. */
static void thread_uids(pid_t tid, char *out, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	out[0] = '\0';
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Uid:", 4))
			snprintf(out, len, "%s", line);
	fclose(f);
}

static int idle_pipe[2];
static _Atomic pid_t idle_tid;

/* Another thread of the parent: it must keep root's ids throughout. */
static void *idle_thread(void *arg)
{
	(void)arg;
	idle_tid = (pid_t)syscall(SYS_gettid);
	char c;
	while (read(idle_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

START_TEST(ids_as_root_or_refused)
{
	use_public_probe();
	if (geteuid() != 0) {
		/* Unprivileged: becoming root is refused at that step. */
		nf_cmd *cmd = probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_setuid(cmd, 0), 0);
		nf_error err;
		nf_proc p;
		ck_assert_int_eq(nf_spawn(cmd, &p, &err), EPERM);
		ck_assert_int_eq(err.op, NF_OP_SETUID);
		ck_assert_int_eq(err.arg, 0);
		assert_no_zombies();
		nf_cmd_free(cmd);
		return;
	}
	/* A file only root can read, opened by an action: actions run before
	 * the ids are dropped. */
	char *secret = tmp_file("secret", "s", 0600);

	ck_assert_int_eq(pipe2(idle_pipe, O_CLOEXEC), 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, idle_thread, NULL), 0);
	while (!idle_tid)
		sched_yield();
	char before[256], after[256];
	thread_uids(idle_tid, before, sizeof before);

	gid_t groups[] = { 1234, 5678 };
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 6, secret, O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 2, groups), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 4321), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 1111), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "1111 1111 1111");
	ck_assert_str_eq(probe_get(&r, "gid"), "4321 4321 4321");
	ck_assert_str_eq(probe_get(&r, "groups"), "1234,5678");
	struct probe_fdinfo f;
	ck_assert(probe_fd(&r, 6, &f));
	ck_assert_str_eq(f.path, secret);
	probe_report_free(&r);

	/* Nothing changed in the parent, in this thread or the other. */
	uid_t ru, eu, su;
	ck_assert_int_eq(getresuid(&ru, &eu, &su), 0);
	ck_assert(ru == 0 && eu == 0 && su == 0);
	ck_assert_int_eq(getegid(), 0);
	thread_uids(idle_tid, after, sizeof after);
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(write(idle_pipe[1], "q", 1), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	close(idle_pipe[0]);
	close(idle_pipe[1]);
	nf_cmd_free(cmd);
	free(secret);
}
END_TEST

/* An empty group list clears the supplementary groups (root only). */
START_TEST(setgroups_empty)
{
	if (geteuid() != 0) {
		gid_t g = 0;
		nf_cmd *cmd = probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_setgroups(cmd, 1, &g), 0);
		nf_error err;
		nf_proc p;
		ck_assert_int_eq(nf_spawn(cmd, &p, &err), EPERM);
		ck_assert_int_eq(err.op, NF_OP_SETGROUPS);
		nf_cmd_free(cmd);
		return;
	}
	gid_t mine[] = { 7, 8 };
	ck_assert_int_eq(setgroups(2, mine), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 0, NULL), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "groups"), "");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	/* Control: without the setter the child has the parent's groups. */
	probe_run_ok(cmd = probe_cmd(NULL), &r);
	ck_assert_str_eq(probe_get(&r, "groups"), "7,8");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(no_new_privs)
{
	ck_assert_int_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
	probe_report r;
	nf_cmd *cmd = probe_cmd(NULL);
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nnp"), 0);
	probe_report_free(&r);
	nf_cmd_free(cmd);

	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nnp"), 1);
	probe_report_free(&r);
	ck_assert_int_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(pdeathsig_set)
{
	probe_report r;
	nf_cmd *cmd = probe_cmd(NULL);
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pdeathsig"), 0);
	probe_report_free(&r);
	nf_cmd_free(cmd);

	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, SIGUSR1), 0);
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pdeathsig"), SIGUSR1);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

static void *spawn_and_exit(void *arg)
{
	nf_cmd *cmd = probe_cmd("sleep", "600000");
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, SIGTERM), 0);
	ck_assert_int_eq(nf_spawn(cmd, arg, NULL), 0);
	nf_cmd_free(cmd);
	return NULL; /* the spawning thread ends: the child gets SIGTERM */
}

START_TEST(pdeathsig_fires_when_spawning_thread_exits)
{
	nf_proc p;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, spawn_and_exit, &p), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	int st = 0;
	int rc = nf_proc_wait(&p, &st, 20000); /* a bound, not a synchronisation */
	if (rc == ETIMEDOUT) {
		nf_proc_kill(&p, SIGKILL);
		nf_proc_wait(&p, NULL, -1);
	}
	nf_proc_release(&p);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status 0x%x", st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("creds");
	TCase *tc = common_tcase("creds", 60);
	tcase_add_test(tc, ids_as_root_or_refused);
	tcase_add_test(tc, setgroups_empty);
	tcase_add_test(tc, no_new_privs);
	tcase_add_test(tc, pdeathsig_set);
	tcase_add_test(tc, pdeathsig_fires_when_spawning_thread_exits);
	suite_add_tcase(s, tc);
	return common_main(s);
}
