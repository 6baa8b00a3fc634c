/* Namespaces from the asm child: new user, pid, mount and UTS namespaces,
 * the id maps the parent writes while the child waits (an unprivileged
 * self map and root's full map), the hostname, a root built from a tmpfs
 * with mounts, directories and symlinks, and pivot_root into it; what the
 * probe sees in there compared with what was asked, and every new step's
 * failure named. We run as root; the unprivileged cases drop this (forked)
 * test process to nobody first. */
#include "kit.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* As a program started as nobody (kit_become_nobody leaves us dumpable:
 * else the kernel gives our /proc files, the children's maps among them,
 * to root), with a probe nobody can reach. */
static void become_nobody(void)
{
	kit_use_public_probe();
	kit_become_nobody();
}

static void run_ok(nf_cmd *cmd, probe_report *r)
{
	probe_run_ok(cmd, r);
	nf_cmd_free(cmd);
}

/* The unprivileged way in (unshare -r): a self map makes nobody uid 0 of
 * its new namespace; setgroups is denied first (the kernel requires it for
 * an unprivileged gid map); as pid 1 of a new pid namespace. */
START_TEST(unprivileged_self_map_is_root_inside)
{
	become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, "0 65534 1"), 0);
	ck_assert_int_eq(nf_cmd_gid_map(cmd, "0 65534 1\n"), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "0 0 0");
	ck_assert_str_eq(probe_get(&r, "gid"), "0 0 0");
	ck_assert_str_eq(probe_get(&r, "uid_map"), "0 65534 1");
	ck_assert_str_eq(probe_get(&r, "gid_map"), "0 65534 1");
	ck_assert_str_eq(probe_get(&r, "setgroups"), "deny");
	ck_assert_int_eq(probe_long(&r, "pid"), 1);
	char nspid[64];
	snprintf(nspid, sizeof nspid, "%d 1", (int)r.pid); /* our pid for it, then its own */
	ck_assert_str_eq(probe_get(&r, "NSpid"), nspid);
	ck_assert_int_eq(probe_long(&r, "ppid"), 0); /* its parent is outside */
	probe_report_free(&r);
	/* The cmd spawns again, the same way. */
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "0 0 0");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* Root's full maps, three lines each: the child's own uid 0 is 1000
 * inside; with CAP_SETGID setgroups stays allowed. */
START_TEST(root_full_three_line_map)
{
	nf_cmd *cmd = probe_cmd(NULL);
	const char *map = "0 100000 1000\n1000 0 1\n2000 200000 10\n";
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, map), 0);
	ck_assert_int_eq(nf_cmd_gid_map(cmd, map), 0);
	probe_report r;
	run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid_map"), "0 100000 1000;1000 0 1;2000 200000 10");
	ck_assert_str_eq(probe_get(&r, "gid_map"), "0 100000 1000;1000 0 1;2000 200000 10");
	ck_assert_str_eq(probe_get(&r, "uid"), "1000 1000 1000");
	ck_assert_str_eq(probe_get(&r, "gid"), "1000 1000 1000");
	ck_assert_str_eq(probe_get(&r, "setgroups"), "allow");
	probe_report_free(&r);
}
END_TEST

/* The ids set inside apply after the maps: setuid(2000) inside is uid
 * 200000 outside. */
START_TEST(setuid_inside_uses_the_map)
{
	nf_cmd *cmd = probe_cmd("sleep", "2000");
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, "0 0 1\n2000 200000 10"), 0);
	ck_assert_int_eq(nf_cmd_gid_map(cmd, "0 0 1\n2000 200000 10"), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 2001), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 2000), 0);
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	struct stat st;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d", (int)p.pid);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_uid, 200000);
	ck_assert_int_eq(st.st_gid, 200001);
	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(hostname_in_new_uts)
{
	char before[256], after[256];
	ck_assert_int_eq(gethostname(before, sizeof before), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUTS), 0);
	ck_assert_int_eq(nf_cmd_hostname(cmd, "sandbox-1"), 0);
	probe_report r;
	run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "hostname"), "sandbox-1");
	probe_report_free(&r);
	ck_assert_int_eq(gethostname(after, sizeof after), 0);
	ck_assert_str_eq(after, before);
}
END_TEST

/* pdeathsig's parent check reads getppid(), which is 0 in a new pid
 * namespace: the spawn must not take that for a dead parent. */
START_TEST(pid_namespace_with_pdeathsig)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWPID), 0);
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, SIGKILL), 0);
	probe_report r;
	run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pid"), 1);
	ck_assert_int_eq(probe_long(&r, "pdeathsig"), SIGKILL);
	probe_report_free(&r);
}
END_TEST

/* A root for the program, bwrap-style, as nobody in a new user, mount and
 * pid namespace: a tmpfs, /usr bound read-only, its own /tmp and /proc,
 * the probe's directory bound in, bin/lib/lib64 symlinks; pivot_root into
 * it. Then the program sees "/" as its root, cannot write /usr, finds
 * /tmp empty, and our own directory is untouched. */
static nf_cmd *sandbox_cmd(const char *root, const char *probe_dir, const char *const *args)
{
	char p[4200];
	snprintf(p, sizeof p, "/p/probe-public");
	ck_assert_int_eq(setenv("NF_PROBE", p, 1), 0);
	nf_cmd *cmd = probe_cmdv(args);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, "0 65534 1"), 0);
	ck_assert_int_eq(nf_cmd_gid_map(cmd, "0 65534 1"), 0); /* else new files get EOVERFLOW */
	ck_assert_int_eq(nf_cmd_mount(cmd, "tmpfs", root, "tmpfs", 0, "mode=0755"), 0);
	static const char *const dirs[] = {"usr", "tmp", "proc", "p"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
		ck_assert_int_eq(nf_cmd_mkdir(cmd, p, 0755), 0);
	}
	snprintf(p, sizeof p, "%s/usr", root);
	ck_assert_int_eq(nf_cmd_mount(cmd, "/usr", p, NULL, MS_BIND | MS_REC | MS_RDONLY, NULL), 0);
	snprintf(p, sizeof p, "%s/tmp", root);
	ck_assert_int_eq(nf_cmd_mount(cmd, "tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, NULL), 0);
	snprintf(p, sizeof p, "%s/proc", root);
	ck_assert_int_eq(nf_cmd_mount(cmd, "proc", p, "proc", 0, NULL), 0);
	snprintf(p, sizeof p, "%s/p", root);
	ck_assert_int_eq(nf_cmd_mount(cmd, probe_dir, p, NULL, MS_BIND | MS_RDONLY, NULL), 0);
	static const char *const links[] = {"bin", "lib", "lib64"};
	for (size_t i = 0; i < 3; i++) {
		char target[16];
		snprintf(target, sizeof target, "usr/%s", links[i]);
		snprintf(p, sizeof p, "%s/%s", root, links[i]);
		ck_assert_int_eq(nf_cmd_symlink(cmd, target, p), 0);
	}
	ck_assert_int_eq(nf_cmd_chroot(cmd, root), 0);
	return cmd;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

START_TEST(unprivileged_root_from_tmpfs)
{
	const char *probe = kit_public_probe();
	char dir[4096], root[4200];
	snprintf(dir, sizeof dir, "%s", probe);
	*strrchr(dir, '/') = '\0';
	snprintf(root, sizeof root, "%s/root", dir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	become_nobody();
	ck_assert_int_eq(setenv("NF_PROBE", probe, 1), 0);

	probe_report r;
	run_ok(sandbox_cmd(root, dir, (const char *const[]){NULL}), &r);
	ck_assert_str_eq(probe_get(&r, "root"), "/");
	ck_assert_str_eq(probe_get(&r, "cwd"), "/");
	ck_assert_int_eq(probe_long(&r, "pid"), 1);
	ck_assert_str_eq(probe_get(&r, "NSpid"), "1"); /* its own /proc: its own pid namespace */
	ck_assert_str_eq(probe_get(&r, "uid"), "0 0 0");
	probe_report_free(&r);

	run_ok(sandbox_cmd(root, dir, (const char *const[]){"write", "/usr/nofork-test", NULL}), &r);
	ck_assert_str_eq(probe_get(&r, "write"), "errno 30"); /* EROFS: the read-only bind holds */
	probe_report_free(&r);
	run_ok(sandbox_cmd(root, dir, (const char *const[]){"write", "/tmp/x", NULL}), &r);
	ck_assert_str_eq(probe_get(&r, "write"), "ok");
	probe_report_free(&r);
	run_ok(sandbox_cmd(root, dir, (const char *const[]){"ls", "/tmp", NULL}), &r);
	ck_assert_str_eq(probe_get(&r, "ls"), "empty"); /* a fresh tmpfs each time */
	probe_report_free(&r);
	run_ok(sandbox_cmd(root, dir, (const char *const[]){"ls", "/", NULL}), &r);
	static const char *const root_entries[] = {"bin", "lib", "lib64", "p", "proc", "tmp", "usr"};
	ck_assert_int_eq(r.nlines, 7);
	for (size_t i = 0; i < 7; i++) {
		char want[32];
		snprintf(want, sizeof want, "entry %s", root_entries[i]);
		ck_assert_str_eq(r.lines[i], want);
	}
	probe_report_free(&r);
	ck_assert_int_eq(count_entries(root), 0); /* nothing reached our namespace */
}
END_TEST

/* A new mount namespace starts recursively private: a tmpfs mounted in
 * it does not appear under a shared mount of ours (it would propagate
 * without that step). Our own namespace is a private copy made shared for
 * the test, so nothing outside the test sees any of it. */
START_TEST(mounts_stay_in_the_new_namespace)
{
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL), 0);
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/m", kit_tmpdir());
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWNS), 0);
	ck_assert_int_eq(nf_cmd_mount(cmd, "tmpfs", dir, "tmpfs", 0, NULL), 0);
	char sub[4300];
	snprintf(sub, sizeof sub, "%s/made-inside", dir);
	ck_assert_int_eq(nf_cmd_mkdir(cmd, sub, 0700), 0);
	probe_report r;
	run_ok(cmd, &r);
	probe_report_free(&r);
	ck_assert_int_eq(count_entries(dir), 0);
}
END_TEST

/* From 4 threads at once, 25 spawns each with maps: every child waits for
 * its own parent's maps (the futex word in its own run record). */
#define MAP_THREADS 4
#define MAP_SPAWNS 25
static void *map_spawner(void *arg)
{
	int k = (int)(intptr_t)arg;
	for (int i = 0; i < MAP_SPAWNS; i++) {
		char map[64], want[64];
		snprintf(map, sizeof map, "%d 0 1", k * 100 + i);
		snprintf(want, sizeof want, "%d %d %d", k * 100 + i, k * 100 + i, k * 100 + i);
		nf_cmd *cmd = probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER), 0);
		ck_assert_int_eq(nf_cmd_uid_map(cmd, map), 0);
		ck_assert_int_eq(nf_cmd_pipe(cmd, 1, NF_PIPE_FROM_CHILD), 0);
		nf_buf out = {0};
		int st;
		ck_assert_int_eq(nf_run(cmd, NULL, 0, &out, NULL, &st, 30000, NULL), 0);
		ck_assert_int_eq(st, 0);
		char line[80];
		snprintf(line, sizeof line, "\nuid %s\n", want);
		ck_assert_msg(out.data && memmem(out.data, out.len, line, strlen(line)), "no line%s", line);
		nf_buf_free(&out);
		nf_cmd_free(cmd);
	}
	return NULL;
}

START_TEST(maps_from_threads)
{
	struct kit_fd_snapshot fds;
	kit_fd_snapshot(&fds);
	pthread_t t[MAP_THREADS];
	for (int i = 0; i < MAP_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, map_spawner, (void *)(intptr_t)(i + 1)), 0);
	for (int i = 0; i < MAP_THREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	kit_assert_no_fd_leak(&fds);
	kit_assert_no_zombies();
}
END_TEST

/* From coroutines on 2 workers: the same wait, on a worker or a helper. */
static _Atomic int coro_ok;
static void coro_map(void *arg)
{
	(void)arg;
	nf_cmd *cmd = probe_cmd("exitpid");
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER | CLONE_NEWPID), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, "0 0 1"), 0);
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	int st;
	ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
	/* exitpid exits with getpid() % 250 + 1: pid 1 inside gives 2 */
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
		atomic_fetch_add(&coro_ok, 1);
}

START_TEST(maps_from_coroutines)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(nf_go(coro_map, NULL), 0);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&coro_ok), 8);
}
END_TEST

/* A caller whose seccomp filter refuses futex: the maps' handshake (the
 * child's wait for the maps, ours for its exec) degrades to spinning on
 * the two words, and the spawn still completes with the maps in place. */
START_TEST(maps_with_futex_refused)
{
	struct kit_deny_rule rule = KIT_DENY_ALWAYS(SYS_futex, ENOSYS);
	kit_deny(&rule, 1);
	for (int i = 0; i < 20; i++) {
		nf_cmd *cmd = probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER), 0);
		ck_assert_int_eq(nf_cmd_uid_map(cmd, "7 0 1"), 0);
		probe_report r;
		run_ok(cmd, &r);
		ck_assert_str_eq(probe_get(&r, "uid"), "7 7 7");
		probe_report_free(&r);
	}
	kit_assert_no_zombies();
}
END_TEST

/* ---- failures, each named --------------------------------------------------- */

START_TEST(map_beyond_own_id_refused)
{
	become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, "0 0 1"), 0); /* root's id, not ours */
	struct kit_fd_snapshot fds;
	kit_fd_snapshot(&fds);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_ID_MAP, "write uid_map: Operation not permitted");
	kit_assert_no_fd_leak(&fds);
	kit_assert_no_zombies();
}
END_TEST

START_TEST(gid_map_refused_names_gid_map)
{
	become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, "0 65534 1"), 0);
	ck_assert_int_eq(nf_cmd_gid_map(cmd, "0 0 1"), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_ID_MAP, "write gid_map: Operation not permitted");
}
END_TEST

START_TEST(mount_failure_names_source_and_target)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWNS), 0);
	ck_assert_int_eq(nf_cmd_mount(cmd, "/nonexistent-src", "/tmp", NULL, MS_BIND, NULL), 0);
	probe_report r;
	nf_error e;
	ck_assert_int_eq(probe_run(cmd, &r, &e), ENOENT);
	ck_assert_int_eq(e.op, NF_OP_MOUNT);
	ck_assert_str_eq(e.path, "/tmp");
	ck_assert_str_eq(e.path2, "/nonexistent-src");
	char line[NF_ERROR_MAX];
	ck_assert_str_eq(nf_error_format(&e, line, sizeof line),
	                 "mount /nonexistent-src on /tmp: No such file or directory");
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(unprivileged_mount_without_userns_refused)
{
	become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWNET), 0);
	probe_report r;
	nf_error e;
	ck_assert_int_eq(probe_run(cmd, &r, &e), EPERM);
	ck_assert_int_eq(e.op, NF_OP_CLONE);
	nf_cmd_free(cmd);
	kit_assert_no_zombies();
}
END_TEST

START_TEST(fs_steps_fail_with_their_names)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWNS), 0);
	ck_assert_int_eq(nf_cmd_mkdir(cmd, "/nonexistent/d", 0755), 0);
	kit_expect_spawn_error(cmd, ENOENT, NF_OP_MKDIR, "mkdir /nonexistent/d: No such file or directory");
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_symlink(cmd, "target", "/nonexistent/l"), 0);
	kit_expect_spawn_error(cmd, ENOENT, NF_OP_SYMLINK, "symlink /nonexistent/l to target: No such file or directory");
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_chroot(cmd, "/nonexistent"), 0);
	kit_expect_spawn_error(cmd, ENOENT, NF_OP_CHROOT, "change root to /nonexistent: No such file or directory");
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWNS), 0);
	ck_assert_int_eq(nf_cmd_chroot(cmd, "/nonexistent"), 0);
	kit_expect_spawn_error(cmd, ENOENT, NF_OP_CHROOT, "change root to /nonexistent: No such file or directory");
}
END_TEST

/* What a spawn can tell only from the whole cmd: refused before cloning,
 * the step named. */
static void expect_refused(nf_cmd *cmd, int op)
{
	nf_proc p;
	nf_error e;
	ck_assert_int_eq(nf_spawn(cmd, &p, &e), EINVAL);
	ck_assert_int_eq(e.op, op);
	ck_assert_int_eq(e.index, -1); /* the parent's check, no child step */
	ck_assert_int_eq(p.pid, -1);
	nf_cmd_free(cmd);
}

START_TEST(missing_namespace_refused_before_clone)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWNS), 0);
	ck_assert_int_eq(nf_cmd_gid_map(cmd, "0 0 1"), 0);
	expect_refused(cmd, NF_OP_ID_MAP);
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER), 0);
	ck_assert_int_eq(nf_cmd_hostname(cmd, "x"), 0);
	expect_refused(cmd, NF_OP_HOSTNAME);
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_NEWUSER | CLONE_NEWUTS), 0);
	ck_assert_int_eq(nf_cmd_mount(cmd, "tmpfs", "/tmp", "tmpfs", 0, NULL), 0);
	expect_refused(cmd, NF_OP_MOUNT);
	kit_assert_no_zombies();
}
END_TEST

START_TEST(setter_input_checks)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_namespaces(NULL, 0), EINVAL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, 0x80 /* CLONE_NEWTIME */), EINVAL);
	ck_assert_int_eq(nf_cmd_namespaces(cmd, CLONE_VM), EINVAL);
	static const char *const bad[] = {"", "\n", "0 1", "0 1 0", "0 4294967295 2", "4294967295 0 2", "a b c",
	                                  "0 0 10\n5 100 10", "0 0 10\n100 5 10", "0 0 1 2", "-1 0 1", "0 0 99999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(nf_cmd_uid_map(cmd, bad[i]) == EINVAL, "uid map \"%s\" accepted", bad[i]);
		ck_assert_msg(nf_cmd_gid_map(cmd, bad[i]) == EINVAL, "gid map \"%s\" accepted", bad[i]);
	}
	static char many[341 * 16];
	size_t o = 0;
	for (int i = 0; i < 341; i++)
		o += (size_t)snprintf(many + o, sizeof many - o, "%d %d 1\n", i, i);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, many), EINVAL); /* 341 lines */
	*strrchr(many, '\n') = '\0';
	*strrchr(many, '\n') = '\0'; /* 340 lines */
	ck_assert_int_eq(nf_cmd_uid_map(cmd, many), 0);
	ck_assert_int_eq(nf_cmd_uid_map(cmd, "0 4294967295 1"), 0); /* the last id */
	ck_assert_int_eq(nf_cmd_uid_map(cmd, NULL), 0);
	ck_assert_int_eq(nf_cmd_uid_map(NULL, "0 0 1"), EINVAL);
	char host[66];
	memset(host, 'h', 65);
	host[65] = '\0';
	ck_assert_int_eq(nf_cmd_hostname(cmd, host), ENAMETOOLONG);
	host[64] = '\0';
	ck_assert_int_eq(nf_cmd_hostname(cmd, host), 0);
	ck_assert_int_eq(nf_cmd_hostname(cmd, ""), EINVAL);
	ck_assert_int_eq(nf_cmd_hostname(cmd, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_mount(cmd, "a", NULL, NULL, 0, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_mount(cmd, "", "/t", NULL, 0, NULL), EINVAL);
	static char big[4097];
	memset(big, 'd', 4096);
	ck_assert_int_eq(nf_cmd_mount(cmd, NULL, "/t", "tmpfs", 0, big), EINVAL);
	ck_assert_int_eq(nf_cmd_mkdir(cmd, "/d", 010000), EINVAL);
	ck_assert_int_eq(nf_cmd_mkdir(cmd, NULL, 0755), EINVAL);
	ck_assert_int_eq(nf_cmd_symlink(cmd, NULL, "/l"), EINVAL);
	ck_assert_int_eq(nf_cmd_symlink(cmd, "t", ""), EINVAL);
	ck_assert_int_eq(nf_cmd_chroot(cmd, ""), EINVAL);
	ck_assert_int_eq(nf_cmd_chroot(NULL, "/"), EINVAL);
	static char longpath[PATH_MAX + 1];
	memset(longpath, 'p', PATH_MAX);
	ck_assert_int_eq(nf_cmd_chroot(cmd, longpath), ENAMETOOLONG);
	ck_assert_int_eq(nf_cmd_mount(cmd, NULL, longpath, NULL, 0, NULL), ENAMETOOLONG);
	nf_cmd_free(cmd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sandbox_ns");
	TCase *tc = tcase_create("ns");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, unprivileged_self_map_is_root_inside);
	tcase_add_test(tc, root_full_three_line_map);
	tcase_add_test(tc, setuid_inside_uses_the_map);
	tcase_add_test(tc, hostname_in_new_uts);
	tcase_add_test(tc, pid_namespace_with_pdeathsig);
	tcase_add_test(tc, unprivileged_root_from_tmpfs);
	tcase_add_test(tc, mounts_stay_in_the_new_namespace);
	tcase_add_test(tc, maps_from_threads);
	tcase_add_test(tc, maps_from_coroutines);
	tcase_add_test(tc, maps_with_futex_refused);
	tcase_add_test(tc, map_beyond_own_id_refused);
	tcase_add_test(tc, gid_map_refused_names_gid_map);
	tcase_add_test(tc, mount_failure_names_source_and_target);
	tcase_add_test(tc, unprivileged_mount_without_userns_refused);
	tcase_add_test(tc, fs_steps_fail_with_their_names);
	tcase_add_test(tc, missing_namespace_refused_before_clone);
	tcase_add_test(tc, setter_input_checks);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
