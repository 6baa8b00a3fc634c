/* Per-process settings applied in the child: umask, resource limits, nice
 * value, scheduling policy. Each is read back by the probe; the parent's own
 * values are checked unchanged afterwards. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(umask_set)
{
	mode_t mine = umask(022);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_umask(cmd, 077), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "umask"), "077");
	probe_report_free(&r);
	ck_assert_int_eq(umask(mine), 022); /* the parent's is untouched */
	nf_cmd_free(cmd);
}
END_TEST

/* The umask applies to the open actions too (it comes before them). */
START_TEST(umask_applies_to_open_actions)
{
	umask(0);
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/made", test_tmpdir()), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_umask(cmd, 027), 0);
	ck_assert_int_eq(nf_cmd_open(cmd, 5, path, O_WRONLY | O_CREAT, 0666), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	probe_report_free(&r);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	nf_cmd_free(cmd);
	free(path);
}
END_TEST

static long long as_ll(rlim_t v)
{
	return v == RLIM_INFINITY ? -1 : (long long)v;
}

START_TEST(rlimits_set)
{
	struct rlimit nofile, core;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &nofile), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_CORE, &core), 0);
	/* Lower than the parent's: allowed without privileges. */
	struct rlimit want_nofile = { 100, 200 < nofile.rlim_max ? 200 : nofile.rlim_max };
	if (want_nofile.rlim_cur > want_nofile.rlim_max)
		want_nofile.rlim_cur = want_nofile.rlim_max;
	struct rlimit core_first = { 0, core.rlim_max }, core_last = { 0, 0 };
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_NOFILE, &want_nofile), 0);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_CORE, &core_first), 0);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_CORE, &core_last), 0); /* last wins */
	probe_report r;
	probe_run_ok(cmd, &r);
	long long cur, max;
	ck_assert(probe_rlimit(&r, "NOFILE", &cur, &max));
	ck_assert_int_eq(cur, as_ll(want_nofile.rlim_cur));
	ck_assert_int_eq(max, as_ll(want_nofile.rlim_max));
	ck_assert(probe_rlimit(&r, "CORE", &cur, &max));
	ck_assert_int_eq(cur, 0);
	ck_assert_int_eq(max, 0);
	/* Untouched resources are inherited. */
	struct rlimit stack;
	ck_assert_int_eq(getrlimit(RLIMIT_STACK, &stack), 0);
	ck_assert(probe_rlimit(&r, "STACK", &cur, &max));
	ck_assert_int_eq(cur, as_ll(stack.rlim_cur));
	ck_assert_int_eq(max, as_ll(stack.rlim_max));
	probe_report_free(&r);
	struct rlimit after;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &after), 0);
	ck_assert_int_eq(after.rlim_cur, nofile.rlim_cur);
	ck_assert_int_eq(after.rlim_max, nofile.rlim_max);
	nf_cmd_free(cmd);
}
END_TEST

/* A limit the kernel refuses (NOFILE above fs.nr_open, refused even to
 * root) fails the spawn at that step. */
START_TEST(rlimit_refused)
{
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	ck_assert_ptr_nonnull(f);
	unsigned long nr_open = 0;
	ck_assert_int_eq(fscanf(f, "%lu", &nr_open), 1);
	fclose(f);
	struct rlimit too_big = { nr_open + 1, nr_open + 1 };
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_NOFILE, &too_big), 0);
	nf_error err;
	nf_proc p;
	int rc = nf_spawn(cmd, &p, &err);
	ck_assert_msg(rc == EPERM || rc == EINVAL, "spawn returned %d", rc);
	ck_assert_int_eq(err.op, NF_OP_RLIMIT);
	ck_assert_int_eq(err.arg, RLIMIT_NOFILE);
	char buf[256], want[256];
	snprintf(want, sizeof want, "setrlimit NOFILE: %s", strerror(rc));
	ck_assert_str_eq(nf_error_format(&err, buf, sizeof buf), want);
	assert_no_zombies();
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(nice_set)
{
	errno = 0;
	int mine = getpriority(PRIO_PROCESS, 0);
	ck_assert_int_eq(errno, 0);
	int want = mine + 3 > 19 ? 19 : mine + 3; /* raising needs no privilege */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_nice(cmd, want), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nice"), want);
	probe_report_free(&r);
	ck_assert_int_eq(getpriority(PRIO_PROCESS, 0), mine);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(sched_policies)
{
	static const int policies[] = { SCHED_BATCH, SCHED_IDLE, SCHED_OTHER };
	for (int i = 0; i < 3; i++) {
		nf_cmd *cmd = probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_sched(cmd, policies[i], 0), 0);
		probe_report r;
		probe_run_ok(cmd, &r);
		char want[32];
		snprintf(want, sizeof want, "%d 0", policies[i]);
		ck_assert_str_eq(probe_get(&r, "sched"), want);
		probe_report_free(&r);
		nf_cmd_free(cmd);
	}
	ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER);
}
END_TEST

/* An invalid priority for the policy is refused, in the setter or by the
 * kernel in the child; either way nothing runs. */
START_TEST(sched_bad_priority)
{
	nf_cmd *cmd = probe_cmd(NULL);
	int rc = nf_cmd_sched(cmd, SCHED_BATCH, 5); /* must be 0 for non-RT */
	if (rc == 0) {
		nf_error err;
		nf_proc p;
		rc = nf_spawn(cmd, &p, &err);
		ck_assert_int_eq(err.op, NF_OP_SCHED);
		assert_no_zombies();
	}
	ck_assert_int_eq(rc, EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = common_tcase("limits", 30);
	tcase_add_test(tc, umask_set);
	tcase_add_test(tc, umask_applies_to_open_actions);
	tcase_add_test(tc, rlimits_set);
	tcase_add_test(tc, rlimit_refused);
	tcase_add_test(tc, nice_set);
	tcase_add_test(tc, sched_policies);
	tcase_add_test(tc, sched_bad_priority);
	suite_add_tcase(s, tc);
	return common_main(s);
}
