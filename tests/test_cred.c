/* Credentials: nf_cmd_setgroups / setgid / setuid as the probe sees them
 * (real, effective and saved ids, supplementary groups), applied in the safe
 * order whatever order the setters were called in, without touching the
 * parent's threads; and each failure named in the error record. We run as
 * root, so the ids really change; the failure cases drop this (per-test,
 * forked) process to uid 65534 first. */
#include "kit.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

static void probe_ok(nf_cmd *cmd, probe_report *r)
{
	probe_run_ok(cmd, r);
	nf_cmd_free(cmd);
}

START_TEST(all_three_as_root)
{
	ck_assert_int_eq(geteuid(), 0);
	/* A file only root may read, opened by an action: the actions run
	 * before the ids are dropped, so a service can get its key as root. */
	char *secret = kit_tmp_file("secret", "s", 0600);
	nf_cmd *cmd = probe_cmd(NULL);
	gid_t groups[] = { 65534, 100, 4 };
	ck_assert_int_eq(nf_cmd_open(cmd, 6, secret, O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 3, groups), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "65534 65534 65534");
	ck_assert_str_eq(probe_get(&r, "gid"), "65534 65534 65534");
	ck_assert_str_eq(probe_get(&r, "groups"), "4,100,65534"); /* the kernel sorts them */
	struct probe_fdinfo f;
	ck_assert(probe_fd(&r, 6, &f));
	ck_assert_str_eq(f.path, secret);
	probe_report_free(&r);
	free(secret);
	/* The parent is untouched. */
	uid_t ru, eu, su;
	ck_assert_int_eq(getresuid(&ru, &eu, &su), 0);
	ck_assert(ru == 0 && eu == 0 && su == 0);
}
END_TEST

/* Setters called in the unsafe order (uid first): the child still applies
 * groups, gid, uid. Had it dropped the uid first, setresgid and setgroups
 * would fail with EPERM and the spawn with them. */
START_TEST(order_is_groups_gid_uid_whatever_the_calls)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 12345), 0);
	gid_t groups[] = { 777 };
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 1, groups), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "65534 65534 65534");
	ck_assert_str_eq(probe_get(&r, "gid"), "12345 12345 12345");
	ck_assert_str_eq(probe_get(&r, "groups"), "777");
	probe_report_free(&r);
}
END_TEST

START_TEST(setgroups_empty_clears_groups)
{
	ck_assert_int_eq(setgroups(2, (gid_t[]){ 5, 6 }), 0); /* the parent has some */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 0, NULL), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "groups"), "");
	ck_assert_str_eq(probe_get(&r, "uid"), "0 0 0");
	probe_report_free(&r);
	/* Without the setter the child inherits them. */
	probe_ok(probe_cmd(NULL), &r);
	ck_assert_str_eq(probe_get(&r, "groups"), "5,6");
	probe_report_free(&r);
}
END_TEST

START_TEST(setgid_alone_keeps_uid)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 4242), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "gid"), "4242 4242 4242");
	ck_assert_str_eq(probe_get(&r, "uid"), "0 0 0");
	probe_report_free(&r);
}
END_TEST

/* Raw setresuid changes only the child: libc's setuid would have signalled
 * every thread of the (shared-memory) parent to change its ids too. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static void *idle_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
	return NULL;
}

static int thread_uid_line(pid_t tid, char *out, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		if (!strncmp(line, "Uid:", 4)) {
			snprintf(out, len, "%s", line);
			found = 1;
		}
	fclose(f);
	return found;
}

START_TEST(parent_threads_keep_their_ids)
{
	pthread_mutex_lock(&gate);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, idle_thread, NULL), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "65534 65534 65534");
	probe_report_free(&r);

	/* Every thread of this process still has uid 0. */
	DIR *d = opendir("/proc/self/task");
	ck_assert_ptr_nonnull(d);
	int threads = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char line[256];
		ck_assert(thread_uid_line(atoi(e->d_name), line, sizeof line));
		ck_assert_msg(!strcmp(line, "Uid:\t0\t0\t0\t0\n"), "thread %s: %s", e->d_name, line);
		threads++;
	}
	closedir(d);
	ck_assert_int_eq(threads, 2);
	pthread_mutex_unlock(&gate);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

/* The child shares our memory until exec, and the kernel marks the memory
 * non-dumpable when a task in it changes its euid/egid (commit_creds sets
 * the mm's dumpable flag to fs.suid_dumpable). The parent must not stay
 * that way: no core dumps, no ptrace, /proc/<pid> files owned by root. */
START_TEST(parent_stays_dumpable)
{
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "65534 65534 65534");
	probe_report_free(&r);
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
}
END_TEST

/* ---- failures, as uid 65534 ------------------------------------------------- */

START_TEST(setuid_refused_names_op)
{
	kit_become_nobody(); /* the fixture gave us the public probe */
	static const struct { uid_t uid; const char *msg; } cases[] = {
		{ 0, "setuid 0: Operation not permitted" },
		{ 1000, "setuid 1000: Operation not permitted" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		nf_cmd *cmd = probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_setuid(cmd, cases[i].uid), 0);
		kit_expect_spawn_error(cmd, EPERM, NF_OP_SETUID, cases[i].msg);
	}
}
END_TEST

START_TEST(setgid_refused_names_op)
{
	kit_become_nobody(); /* the fixture gave us the public probe */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 0), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0); /* allowed: it is ours */
	kit_expect_spawn_error(cmd, EPERM, NF_OP_SETGID, "setgid 0: Operation not permitted");
}
END_TEST

START_TEST(setgroups_refused_names_op)
{
	kit_become_nobody(); /* the fixture gave us the public probe */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 2, (gid_t[]){ 0, 1 }), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_SETGROUPS, "setgroups (2 groups): Operation not permitted");
}
END_TEST

/* As nobody, setting the ids we already have is allowed: the ops run and
 * succeed rather than being skipped or refused wholesale. */
START_TEST(own_ids_allowed_unprivileged)
{
	kit_become_nobody(); /* the fixture gave us the public probe */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "65534 65534 65534");
	ck_assert_str_eq(probe_get(&r, "groups"), "");
	probe_report_free(&r);
}
END_TEST

START_TEST(setter_input_checks)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setuid(cmd, (uid_t)-1), EINVAL);
	ck_assert_int_eq(nf_cmd_setgid(cmd, (gid_t)-1), EINVAL);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, NGROUPS_MAX + 1, (gid_t[]){ 0 }), E2BIG);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 1, NULL), EINVAL);
	/* Nothing recorded: the child's ids are the parent's. */
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "0 0 0");
	ck_assert_str_eq(probe_get(&r, "gid"), "0 0 0");
	probe_report_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cred");
	TCase *tc = kit_tcase("cred", 60);
	/* The children run as uid 65534: give them a probe they may run. */
	tcase_add_checked_fixture(tc, kit_use_public_probe, NULL);
	tcase_add_test(tc, all_three_as_root);
	tcase_add_test(tc, order_is_groups_gid_uid_whatever_the_calls);
	tcase_add_test(tc, setgroups_empty_clears_groups);
	tcase_add_test(tc, setgid_alone_keeps_uid);
	tcase_add_test(tc, parent_threads_keep_their_ids);
	tcase_add_test(tc, parent_stays_dumpable);
	tcase_add_test(tc, setuid_refused_names_op);
	tcase_add_test(tc, setgid_refused_names_op);
	tcase_add_test(tc, setgroups_refused_names_op);
	tcase_add_test(tc, own_ids_allowed_unprivileged);
	tcase_add_test(tc, setter_input_checks);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
