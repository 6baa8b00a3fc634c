/* Starting the child in a cgroup v2 directory (CLONE_INTO_CGROUP, or the
 * child joining by itself where clone3 is denied). Needs a writable cgroup2
 * mount; without one the program exits 77, which meson reports as skipped
 * (never as passed). */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char cg_root[4096]; /* a cgroup2 mount point we can create groups in */

/* Find a writable cgroup2 mount. */
static int find_cgroup2(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	char line[8192];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		char *sep = strstr(line, " - ");
		char mnt[4096];
		if (!sep || strncmp(sep, " - cgroup2 ", 11))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		char probe_dir[4200];
		snprintf(probe_dir, sizeof probe_dir, "%s/nofork-probe.%d", mnt, (int)getpid());
		if (mkdir(probe_dir, 0755) == 0) {
			rmdir(probe_dir);
			snprintf(cg_root, sizeof cg_root, "%s", mnt);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* The cgroup v2 path of pid ("0::/x"), or "" */
static void cgroup_of(pid_t pid, char *out, size_t len)
{
	char path[64], line[4200];
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	out[0] = '\0';
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", line + 3);
		}
	fclose(f);
}

START_TEST(child_starts_in_cgroup)
{
	char dir[4096 + 128], rel[128];
	snprintf(rel, sizeof rel, "/nofork-test.%d", (int)getpid());
	snprintf(dir, sizeof dir, "%s%s", cg_root, rel);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	int cfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(cfd, 0);

	nf_cmd *cmd = probe_cmd("sleep", "600000");
	ck_assert_int_eq(nf_cmd_cgroup(cmd, cfd), 0);
	nf_proc p;
	nf_error err;
	int rc = nf_spawn(cmd, &p, &err);
	char msg[4200];
	ck_assert_msg(rc == 0, "spawn: %s", nf_error_format(&err, msg, sizeof msg));
	char got[4200], mine[4200];
	cgroup_of(p.pid, got, sizeof got);
	cgroup_of(getpid(), mine, sizeof mine);
	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	nf_proc_release(&p);
	/* The cgroup path is relative to the cgroup namespace root, which may
	 * not be the mount's root: compare the ends. */
	size_t gl = strlen(got), rl = strlen(rel);
	ck_assert_msg(gl >= rl && !strcmp(got + gl - rl, rel), "child in cgroup '%s', wanted '...%s'", got, rel);
	ck_assert_str_ne(mine, got); /* the parent stayed where it was */

	/* A directory that is not a cgroup: the spawn fails, no child left. */
	int tfd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(tfd, 0);
	ck_assert_int_eq(nf_cmd_cgroup(cmd, tfd), 0);
	rc = nf_spawn(cmd, &p, &err);
	ck_assert_int_eq(rc, ENOENT); /* no cgroup.procs to join by */
	ck_assert_int_eq(err.op, NF_OP_CGROUP);
	ck_assert_int_eq(err.fd, tfd);
	ck_assert_int_eq(p.pid, -1);
	assert_no_zombies();
	close(tfd);

	nf_cmd_free(cmd);
	close(cfd);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

int main(void)
{
	if (!find_cgroup2()) {
		printf("no writable cgroup2 mount: skipped, not passed\n");
		return 77;
	}
	Suite *s = suite_create("cgroup");
	TCase *tc = common_tcase("cgroup", 30);
	tcase_add_test(tc, child_starts_in_cgroup);
	suite_add_tcase(s, tc);
	return common_main(s);
}
