/* nf_cmd_cgroup: the child starts in a cgroup v2 directory, placed by
 * clone3(CLONE_INTO_CGROUP) or, where clone3 is refused (forced here with
 * the seccomp helper), by writing itself into cgroup.procs; and an error,
 * not silence, when neither can work. Verified from outside: the child's
 * /proc/<pid>/cgroup has the "0::/.../<dir>" line and the directory's
 * cgroup.procs lists it.
 *
 * Needs a writable cgroup2 mount (we run as root; this machine has one at
 * /sys/fs/cgroup/unified, hybrid mode). Without one the program exits 77,
 * which meson reports as skipped (never as passed). */
#include "kit.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char cg_root[4096]; /* a cgroup2 mount we can create groups in */

/* Find a writable cgroup2 mount in /proc/self/mountinfo. */
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

static const char *v2_root(void)
{
	if (!cg_root[0])
		ck_assert(find_cgroup2());
	return cg_root;
}

/* A fresh cgroup for this test: its name (relative to the v2 root), path,
 * and an fd on the directory. */
struct cg {
	char name[64];
	char path[4096 + 64];
	int fd;
};

static void cg_make(struct cg *cg)
{
	static int n;
	snprintf(cg->name, sizeof cg->name, "nofork-test-%d-%d", (int)getpid(), n++);
	snprintf(cg->path, sizeof cg->path, "%s/%s", v2_root(), cg->name);
	ck_assert_msg(mkdir(cg->path, 0755) == 0, "mkdir %s: %s", cg->path, strerror(errno));
	cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(cg->fd, 0);
}

static void cg_remove(struct cg *cg)
{
	close(cg->fd);
	int rc = -1;
	/* A reaped child leaves the cgroup before we see its status, but be
	 * lenient with a briefly busy directory: bounded retries. */
	for (int i = 0; i < 500 && (rc = rmdir(cg->path)) != 0 && errno == EBUSY; i++)
		usleep(2000);
	ck_assert_msg(rc == 0 || errno == ENOENT, "rmdir %s: %s", cg->path, strerror(errno));
}

/* Whether `path` (a /proc/<pid>/cgroup or a cgroup.procs file) has a line
 * equal to `line`, or (tail) ending in it: cgroup paths are relative to the
 * cgroup namespace root, which need not be the mount's root. */
static int has_line(const char *path, const char *line, int tail)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char buf[4200];
	size_t ll = strlen(line);
	int found = 0;
	while (!found && fgets(buf, sizeof buf, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		size_t bl = strlen(buf);
		found = tail ? !strncmp(buf, "0::", 3) && bl >= ll && !strcmp(buf + bl - ll, line) : !strcmp(buf, line);
	}
	fclose(f);
	return found;
}

/* Spawn a sleeping probe into cg, check where it is, kill and reap it. */
static void spawn_into(struct cg *cg)
{
	nf_cmd *cmd = probe_cmd("sleep", "60000");
	ck_assert_int_eq(nf_cmd_cgroup(cmd, cg->fd), 0);
	nf_proc p;
	nf_error err;
	char msg[4200];
	int rc = nf_spawn(cmd, &p, &err);
	ck_assert_msg(rc == 0, "spawn: %s", nf_error_format(&err, msg, sizeof msg));

	char proc_cg[64], want[128], procs[sizeof cg->path + 16], pid[16];
	snprintf(proc_cg, sizeof proc_cg, "/proc/%d/cgroup", (int)p.pid);
	snprintf(want, sizeof want, "/%s", cg->name);
	snprintf(procs, sizeof procs, "%s/cgroup.procs", cg->path);
	snprintf(pid, sizeof pid, "%d", (int)p.pid);
	int in_proc = has_line(proc_cg, want, 1), in_procs = has_line(procs, pid, 0);
	/* This process stayed where it was. */
	snprintf(proc_cg, sizeof proc_cg, "/proc/%d/cgroup", (int)getpid());
	int parent_moved = has_line(proc_cg, want, 1);

	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
	ck_assert_msg(in_proc, "/proc/<child>/cgroup lacks '0::...%s'", want);
	ck_assert_msg(in_procs, "%s does not list the child", procs);
	ck_assert(!parent_moved);
}

START_TEST(child_starts_in_cgroup)
{
	struct cg cg;
	cg_make(&cg);
	spawn_into(&cg);
	spawn_into(&cg); /* the same cmd shape again: nothing one-shot */
	cg_remove(&cg);
}
END_TEST

/* The probe itself must see the cgroup from its first instruction: it
 * reads /proc/self/cgroup (via `cat`, as the probe has no cgroup line). */
START_TEST(child_is_in_cgroup_before_exec)
{
	struct cg cg;
	cg_make(&cg);
	char *argv[] = { "cat", "/proc/self/cgroup", NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_newp(&cmd, "cat", argv, NULL), 0);
	ck_assert_int_eq(nf_cmd_cgroup(cmd, cg.fd), 0);
	probe_report r; /* any program's stdout can be read this way */
	ck_assert_int_eq(probe_run(cmd, &r, NULL), 0);
	char want[128];
	snprintf(want, sizeof want, "/%s", cg.name);
	size_t wl = strlen(want);
	int found = 0;
	for (size_t i = 0; i < r.nlines; i++) {
		size_t l = strlen(r.lines[i]);
		found |= !strncmp(r.lines[i], "0::", 3) && l >= wl && !strcmp(r.lines[i] + l - wl, want);
	}
	ck_assert_msg(found, "cat /proc/self/cgroup printed:\n%s", r.text);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	cg_remove(&cg);
}
END_TEST

/* clone3 refused (as under an old kernel or a seccomp sandbox): the child
 * writes itself into cgroup.procs. */
static void fallback(int deny)
{
	ck_assert_int_eq(kit_seccomp(&KIT_DENY_ALWAYS(SYS_clone3, deny), 1, KIT_NNP), 0);
	struct cg cg;
	cg_make(&cg);
	spawn_into(&cg);
	cg_remove(&cg);
}

START_TEST(fallback_when_clone3_enosys)
{
	fallback(ENOSYS);
}
END_TEST

START_TEST(fallback_when_clone3_eperm)
{
	fallback(EPERM);
}
END_TEST

/* A directory that is not a cgroup: clone3 refuses it and the child finds
 * no cgroup.procs to write. The spawn fails and says so. */
static void not_a_cgroup(int deny)
{
	if (deny)
		ck_assert_int_eq(kit_seccomp(&KIT_DENY_ALWAYS(SYS_clone3, deny), 1, KIT_NNP), 0);
	int fd = open(kit_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_cgroup(cmd, fd), 0);
	char msg[128];
	snprintf(msg, sizeof msg, "enter cgroup of fd %d: No such file or directory", fd);
	kit_expect_spawn_error(cmd, ENOENT, NF_OP_CGROUP, msg);
	close(fd);
}

START_TEST(not_a_cgroup_dir_is_an_error)
{
	not_a_cgroup(0);
}
END_TEST

START_TEST(not_a_cgroup_dir_is_an_error_without_clone3)
{
	not_a_cgroup(ENOSYS);
}
END_TEST

/* A cgroup removed while we hold its fd: clone3 cannot place anything in a
 * dead cgroup and its files are gone. */
START_TEST(removed_cgroup_is_an_error)
{
	struct cg cg;
	cg_make(&cg);
	ck_assert_int_eq(rmdir(cg.path), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_cgroup(cmd, cg.fd), 0);
	char msg[128];
	snprintf(msg, sizeof msg, "enter cgroup of fd %d: No such file or directory", cg.fd);
	kit_expect_spawn_error(cmd, ENOENT, NF_OP_CGROUP, msg);
	close(cg.fd);
}
END_TEST

START_TEST(cgroup_fd_not_open_at_spawn)
{
	ck_assert_int_eq(fcntl(150, F_GETFD), -1); /* nothing is open there */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_cgroup(cmd, -1), EBADF);
	ck_assert_int_eq(nf_cmd_cgroup(cmd, 150), 0);
	kit_expect_spawn_error(cmd, EBADF, NF_OP_CGROUP, "enter cgroup of fd 150: Bad file descriptor");
}
END_TEST

int main(void)
{
	if (!find_cgroup2()) {
		printf("no writable cgroup2 mount: skipped, not passed\n");
		return 77;
	}
	Suite *s = suite_create("cgroup");
	TCase *tc = kit_tcase("cgroup", 60);
	tcase_add_test(tc, child_starts_in_cgroup);
	tcase_add_test(tc, child_is_in_cgroup_before_exec);
	tcase_add_test(tc, fallback_when_clone3_enosys);
	tcase_add_test(tc, fallback_when_clone3_eperm);
	tcase_add_test(tc, not_a_cgroup_dir_is_an_error);
	tcase_add_test(tc, not_a_cgroup_dir_is_an_error_without_clone3);
	tcase_add_test(tc, removed_cgroup_is_an_error);
	tcase_add_test(tc, cgroup_fd_not_open_at_spawn);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
