/* Security defaults: nothing the library opens is inheritable, the native API
 * passes no fd the caller did not name (also while other threads open
 * inheritable fds), credentials are dropped groups → gid → uid in the child
 * only, and no_new_privs keeps a setuid binary from raising privileges.
 *
 * Needs root (it drops to uid 65534 and makes a setuid-root binary); and the
 * suite must not run under no_new_privs itself (NF_TEST_CLONE3 sets it). */
#include "kit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- fds ---------------------------------------------------------------------- */

/* Every fd this process has that was not in `before` must carry O_CLOEXEC
 * (seen by the kernel: fdinfo flags); returns how many there were. */
static int check_new_fds_cloexec(const struct kit_fd_snapshot *before)
{
	struct kit_fd_snapshot now;
	kit_fd_snapshot(&now);
	int n = 0;
	for (int i = 0; i < now.n; i++) {
		int fd = now.fds[i], old = 0;
		for (int j = 0; j < before->n; j++)
			old |= before->fds[j] == fd;
		if (old)
			continue;
		long fl = kit_fd_flags(fd);
		ck_assert_msg(fl >= 0 && (fl & O_CLOEXEC), "fd %d opened by the library lacks O_CLOEXEC (flags 0%lo)",
		              fd, fl);
		n++;
	}
	return n;
}

/* While a child runs, the only fd the library holds is its pidfd, and it is
 * close-on-exec; on the legacy clone path too. */
static void library_fds_cloexec(bool legacy)
{
	if (legacy)
		kit_deny_clone3(ENOSYS);
	struct kit_fd_snapshot before;
	kit_fd_snapshot(&before);
	nf_cmd *cmd = probe_cmd("sleep", "100000");
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	ck_assert_int_ge(p.pidfd, 0);
	ck_assert_int_eq(check_new_fds_cloexec(&before), 1);
	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}

START_TEST(library_fds_are_cloexec) { library_fds_cloexec(false); }
END_TEST
START_TEST(library_fds_are_cloexec_legacy) { library_fds_cloexec(true); }
END_TEST

/* With POSIX inheritance the child gets exactly the caller's inheritable
 * fds: not the pidfd of a sibling the library is holding for us. */
START_TEST(inherit_all_gets_no_library_fd)
{
	nf_cmd *sleeper = probe_cmd("sleep", "100000");
	nf_proc s;
	ck_assert_int_eq(nf_spawn(sleeper, &s, NULL), 0);
	int mine = open("/dev/null", O_RDONLY); /* inheritable on purpose */
	ck_assert_int_ge(mine, 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(cmd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_msg(!probe_fd(&r, s.pidfd, NULL), "the child inherited the library's pidfd %d", s.pidfd);
	ck_assert(probe_fd(&r, mine, NULL));
	/* Everything it got is something we had without close-on-exec. */
	int fds[256];
	int n = probe_fds(&r, fds, 256);
	for (int i = 0; i < n; i++) {
		int fl = fds[i] == 1 ? 0 : fcntl(fds[i], F_GETFD);
		ck_assert_msg(fl == 0, "child has fd %d, which we do not have inheritable", fds[i]);
	}
	probe_report_free(&r);
	close(mine);
	nf_proc_kill(&s, SIGKILL);
	ck_assert_int_eq(nf_proc_wait(&s, NULL, -1), 0);
	nf_proc_release(&s);
	nf_cmd_free(sleeper);
	nf_cmd_free(cmd);
}
END_TEST

static void assert_only_fds(const probe_report *r, const int *want, int n_want)
{
	int fds[256];
	int n = probe_fds(r, fds, 256);
	char got[512] = "";
	for (int i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof got - strlen(got), " %d", fds[i]);
	ck_assert_msg(n == n_want, "child fds:%s", got);
	for (int i = 0; i < n; i++)
		ck_assert_msg(fds[i] == want[i], "child fds:%s", got);
}

static atomic_int opener_stop;

/* Opens and closes inheritable fds as fast as it can: the classic leak of
 * fork+exec (an fd opened by another thread between fork and the child's
 * close loop) must not happen. */
static void *opener(void *arg)
{
	(void)arg;
	int held[16] = {0};
	for (unsigned i = 0; !atomic_load(&opener_stop); i++) {
		int k = (int)(i % 16);
		if (held[k] > 0)
			close(held[k]);
		held[k] = open("/dev/null", O_RDONLY);
	}
	for (int k = 0; k < 16; k++)
		if (held[k] > 0)
			close(held[k]);
	return NULL;
}

/* Default policy: the child gets 0-2 and what was named (a kept fd, a dup2
 * target), however many inheritable fds we have, also while another thread
 * keeps opening more. */
static void only_named_fds(void (*deny)(void))
{
	if (deny)
		deny();
	int fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	int noise[] = {20, 21, 22, 57, 58, 150, 400, 1000};
	for (size_t i = 0; i < sizeof noise / sizeof noise[0]; i++)
		ck_assert_int_eq(dup2(fd, noise[i]), noise[i]);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, opener, NULL), 0);
	for (int i = 0; i < 100; i++) {
		nf_cmd *cmd = probe_cmd(NULL);
		if (i % 2) {
			ck_assert_int_eq(nf_cmd_keep_fd(cmd, 57), 0);
			ck_assert_int_eq(nf_cmd_dup2(cmd, 150, 40), 0);
		}
		probe_report r;
		probe_run_ok(cmd, &r);
		if (i % 2)
			assert_only_fds(&r, (const int[]){0, 1, 2, 40, 57}, 5);
		else
			assert_only_fds(&r, (const int[]){0, 1, 2}, 3);
		probe_report_free(&r);
		nf_cmd_free(cmd);
	}
	atomic_store(&opener_stop, 1);
	pthread_join(t, NULL);
	for (size_t i = 0; i < sizeof noise / sizeof noise[0]; i++)
		close(noise[i]);
	close(fd);
}

static void deny_close_range_enosys(void) { kit_deny_close_range(ENOSYS); }

START_TEST(only_named_fds_pass) { only_named_fds(NULL); }
END_TEST
START_TEST(only_named_fds_pass_without_close_range) { only_named_fds(deny_close_range_enosys); }
END_TEST
START_TEST(only_named_fds_pass_without_proc)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 2048;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	only_named_fds(kit_deny_proc_fd_walk);
}
END_TEST

/* ---- credentials ------------------------------------------------------------- */

static void assert_ids(const probe_report *r, const char *uid, const char *gid, const char *groups)
{
	ck_assert_str_eq(probe_get(r, "uid"), uid);
	ck_assert_str_eq(probe_get(r, "gid"), gid);
	if (groups)
		ck_assert_str_eq(probe_get(r, "groups"), groups);
}

/* "Uid: r e s f" of one of our threads, from /proc. */
static void thread_uid_line(pid_t tid, char *out, size_t len)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	char *p = strstr(buf, "\nUid:");
	ck_assert_ptr_nonnull(p);
	char *e = strchr(p + 1, '\n');
	snprintf(out, len, "%.*s", (int)(e - p - 1), p + 1);
}

static atomic_int idle_stop;
static atomic_int idle_tid;
static void *idle_thread(void *arg)
{
	(void)arg;
	atomic_store(&idle_tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&idle_stop))
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	return NULL;
}

/* The child ends with exactly the groups, gid and uid asked for (real,
 * effective and saved): the order groups → gid → uid is what makes this
 * possible, as dropping the uid first would forbid the rest. The parent and
 * its other threads keep root: the child used raw syscalls, not libc's
 * set*id, which changes every thread of the process. */
START_TEST(credentials_dropped_in_order)
{
	ck_assert_msg(geteuid() == 0, "needs root");
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, idle_thread, NULL), 0);
	while (!atomic_load(&idle_tid))
		sched_yield();
	char before[128], after[128];
	thread_uid_line(atomic_load(&idle_tid), before, sizeof before);

	nf_cmd *cmd = probe_cmd(NULL);
	gid_t groups[] = {65533, 65532};
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 2, groups), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	assert_ids(&r, "65534 65534 65534", "65534 65534 65534", "65532,65533"); /* the kernel sorts them */
	probe_report_free(&r);
	nf_cmd_free(cmd);

	uid_t ru, eu, su;
	ck_assert_int_eq(getresuid(&ru, &eu, &su), 0);
	ck_assert(ru == 0 && eu == 0 && su == 0);
	thread_uid_line(atomic_load(&idle_tid), after, sizeof after);
	ck_assert_str_eq(after, before);
	atomic_store(&idle_stop, 1);
	pthread_join(t, NULL);
}
END_TEST

/* An unprivileged caller asking for root, or for groups, fails at that step
 * with EPERM, and the child never runs the program. */
START_TEST(credential_raise_refused)
{
	nf_cmd *up = probe_cmd(NULL), *grp = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_setuid(up, 0), 0);
	gid_t g = 0;
	ck_assert_int_eq(nf_cmd_setgroups(grp, 1, &g), 0);
	kit_become_nobody();
	nf_proc p;
	nf_error err;
	ck_assert_int_eq(nf_spawn(up, &p, &err), EPERM);
	ck_assert_int_eq(err.op, NF_OP_SETUID);
	ck_assert_int_eq(err.arg, 0);
	ck_assert_int_eq(nf_spawn(grp, &p, &err), EPERM);
	ck_assert_int_eq(err.op, NF_OP_SETGROUPS);
	nf_cmd_free(up);
	nf_cmd_free(grp);
}
END_TEST

/* ---- no_new_privs --------------------------------------------------------------- */

/* A setuid-root copy of the probe in a directory of our own that uid 65534
 * can reach. */
static char *setuid_probe(void)
{
	const char *dir = kit_tmpdir();
	ck_assert_int_eq(chmod(dir, 0755), 0);
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/suid-probe", dir), 0);
	int in = open(probe_path(), O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	ck_assert(in >= 0 && out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	ck_assert_int_eq(chown(path, 0, 0), 0);
	ck_assert_int_eq(chmod(path, 04755), 0);
	return path;
}

static nf_cmd *suid_cmd(const char *path, bool as_nobody, bool nnp)
{
	char *argv[] = {(char *)path, NULL};
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, path, argv, NULL), 0);
	if (as_nobody) {
		ck_assert_int_eq(nf_cmd_setgroups(cmd, 0, NULL), 0);
		ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
		ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	}
	if (nnp)
		ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
	return cmd;
}

static void check_suid(const char *path, bool drop_in_child, bool nnp)
{
	nf_cmd *cmd = suid_cmd(path, drop_in_child, nnp);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nnp"), nnp);
	/* Real uid is always nobody; effective root only without nnp. */
	ck_assert_str_eq(probe_get(&r, "uid"), nnp ? "65534 65534 65534" : "65534 0 0");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}

static void assert_not_nnp(void)
{
	ck_assert_msg(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0,
	              "this suite runs under no_new_privs: a setuid binary cannot be tested");
}

/* Dropped to nobody by the spawn itself: the setuid bit gives euid 0 back,
 * unless no_new_privs was asked for (it is applied after the uid change, and
 * holds across the exec). */
START_TEST(no_new_privs_blocks_setuid_after_drop)
{
	assert_not_nnp();
	ck_assert_msg(geteuid() == 0, "needs root");
	char *path = setuid_probe();
	check_suid(path, true, false);
	check_suid(path, true, true);
	free(path);
}
END_TEST

/* The caller itself runs as nobody. */
START_TEST(no_new_privs_blocks_setuid_as_nobody)
{
	assert_not_nnp();
	char *path = setuid_probe();
	kit_become_nobody();
	check_suid(path, false, false);
	check_suid(path, false, true);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("security");
	TCase *tc = kit_tcase("fds", 60);
	tcase_add_test(tc, library_fds_are_cloexec);
	tcase_add_test(tc, library_fds_are_cloexec_legacy);
	tcase_add_test(tc, inherit_all_gets_no_library_fd);
	tcase_add_test(tc, only_named_fds_pass);
	tcase_add_test(tc, only_named_fds_pass_without_close_range);
	tcase_add_test(tc, only_named_fds_pass_without_proc);
	suite_add_tcase(s, tc);
	tc = kit_tcase("credentials", 60);
	tcase_add_test(tc, credentials_dropped_in_order);
	tcase_add_test(tc, credential_raise_refused);
	tcase_add_test(tc, no_new_privs_blocks_setuid_after_drop);
	tcase_add_test(tc, no_new_privs_blocks_setuid_as_nobody);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
