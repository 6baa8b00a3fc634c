/* The test kit; see kit.h. */
#include "kit.h"
#include "arch_abi.h" /* NF_AUDIT_ARCH */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

#ifndef PROBE_PATH
#define PROBE_PATH "tests/progs/probe"
#endif

const char *probe_path(void)
{
	const char *p = getenv("NF_PROBE");
	return p && *p ? p : PROBE_PATH;
}

nf_cmd *probe_cmdv(const char *const *args)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = probe_path();
	for (; *args && n < 63; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	nf_cmd *cmd = NULL;
	int rc = nf_cmd_new(&cmd, probe_path(), (char *const *)argv, NULL);
	ck_assert_msg(rc == 0, "nf_cmd_new(probe): %s", strerror(rc));
	ck_assert_ptr_nonnull(cmd);
	if (kit_no_pidfd())
		ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	return cmd;
}

int kit_no_pidfd(void)
{
	const char *v = getenv("NF_TEST_NO_PIDFD");
	return v && *v && strcmp(v, "0");
}

/* ---- reports ---------------------------------------------------------------- */

static void parse_report(probe_report *r)
{
	size_t cap = 64;
	r->lines = malloc(cap * sizeof *r->lines);
	ck_assert_ptr_nonnull(r->lines);
	for (char *p = r->text; *p;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (r->nlines == cap) {
			cap *= 2;
			r->lines = realloc(r->lines, cap * sizeof *r->lines);
			ck_assert_ptr_nonnull(r->lines);
		}
		r->lines[r->nlines++] = p;
		if (!nl)
			break;
		p = nl + 1;
	}
}

static char *read_all(int fd)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n >= 0, "read report: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

int probe_run_raw(const nf_cmd *cmd, probe_report *r, nf_error *err)
{
	memset(r, 0, sizeof *r);
	r->status = -1;
	r->pid = -1;
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	/* Never on 0-2: a test may have closed stdio on purpose. */
	int rd = fcntl(p[0], F_DUPFD_CLOEXEC, 3);
	ck_assert_int_ge(rd, 3);
	close(p[0]);
	p[0] = rd;
	ck_assert_msg(fcntl(PROBE_FD, F_GETFD) == -1, "fd %d is already in use", PROBE_FD);
	ck_assert_int_eq(dup3(p[1], PROBE_FD, O_CLOEXEC), PROBE_FD);
	close(p[1]);

	nf_proc proc = NF_PROC_INIT;
	int rc = nf_spawn(cmd, &proc, err);
	close(PROBE_FD);
	if (rc != 0) {
		close(p[0]);
		ck_assert_int_eq(proc.pid, -1);
		ck_assert_int_eq(proc.pidfd, -1);
		return rc;
	}
	r->text = read_all(p[0]);
	close(p[0]);
	r->pid = proc.pid;
	int wrc = nf_proc_wait(&proc, &r->status, -1);
	ck_assert_msg(wrc == 0, "nf_proc_wait: %s", strerror(wrc));
	nf_proc_release(&proc);
	parse_report(r);
	return 0;
}

int probe_run(nf_cmd *cmd, probe_report *r, nf_error *err)
{
	int rc = nf_cmd_dup2(cmd, PROBE_FD, 1);
	ck_assert_msg(rc == 0, "nf_cmd_dup2(PROBE_FD, 1): %s", strerror(rc));
	return probe_run_raw(cmd, r, err);
}

void probe_run_ok(nf_cmd *cmd, probe_report *r)
{
	nf_error err;
	memset(&err, 0, sizeof err);
	int rc = probe_run(cmd, r, &err);
	char msg[4200];
	ck_assert_msg(rc == 0, "spawn of probe failed: %s (%s)", strerror(rc),
		      nf_error_format(&err, msg, sizeof msg));
	ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0,
		      "probe ended with status 0x%x", r->status);
	ck_assert_msg(r->nlines > 0, "probe printed nothing");
}

void probe_report_free(probe_report *r)
{
	free(r->lines);
	free(r->text);
	memset(r, 0, sizeof *r);
}

const char *probe_get(const probe_report *r, const char *key)
{
	size_t k = strlen(key);
	for (size_t i = 0; i < r->nlines; i++) {
		const char *l = r->lines[i];
		if (!strncmp(l, key, k) && (l[k] == ' ' || l[k] == '\0'))
			return l[k] ? l + k + 1 : l + k;
	}
	return NULL;
}

long probe_long(const probe_report *r, const char *key)
{
	const char *v = probe_get(r, key);
	ck_assert_msg(v != NULL, "probe report has no '%s'", key);
	return strtol(v, NULL, 10);
}

uint64_t probe_hex(const probe_report *r, const char *key)
{
	const char *v = probe_get(r, key);
	ck_assert_msg(v != NULL, "probe report has no '%s'", key);
	return strtoull(v, NULL, 16);
}

static const char *unescape(const char *s)
{
	static char buf[65536];
	size_t n = 0;
	for (; *s && n < sizeof buf - 1; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			buf[n++] = *s == 'n' ? '\n' : *s;
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

const char *probe_arg(const probe_report *r, int i)
{
	char prefix[32];
	int k = snprintf(prefix, sizeof prefix, "arg %d ", i);
	for (size_t j = 0; j < r->nlines; j++)
		if (!strncmp(r->lines[j], prefix, (size_t)k))
			return unescape(r->lines[j] + k);
	return NULL;
}

const char *probe_env(const probe_report *r, const char *name)
{
	size_t k = strlen(name);
	for (size_t j = 0; j < r->nlines; j++) {
		const char *l = r->lines[j];
		if (!strncmp(l, "env ", 4) && !strncmp(l + 4, name, k) && l[4 + k] == '=')
			return unescape(l + 5 + k);
	}
	return NULL;
}

static int parse_fd_line(const char *l, struct probe_fdinfo *info)
{
	struct probe_fdinfo f;
	memset(&f, 0, sizeof f);
	if (sscanf(l, "fd %d cloexec=%d mode=%3s", &f.fd, &f.cloexec, f.mode) != 3)
		return 0;
	const char *p = strstr(l, " path=");
	if (p)
		snprintf(f.path, sizeof f.path, "%s", p + 6);
	if (info)
		*info = f;
	return 1;
}

int probe_fd(const probe_report *r, int fd, struct probe_fdinfo *info)
{
	struct probe_fdinfo f;
	for (size_t j = 0; j < r->nlines; j++)
		if (parse_fd_line(r->lines[j], &f) && f.fd == fd) {
			if (info)
				*info = f;
			return 1;
		}
	return 0;
}

int probe_fds(const probe_report *r, int *out, int max)
{
	int n = 0;
	struct probe_fdinfo f;
	for (size_t j = 0; j < r->nlines && n < max; j++)
		if (parse_fd_line(r->lines[j], &f))
			out[n++] = f.fd;
	return n;
}

int probe_rlimit(const probe_report *r, const char *name, long long *cur, long long *max)
{
	size_t k = strlen(name);
	for (size_t j = 0; j < r->nlines; j++) {
		const char *l = r->lines[j];
		if (strncmp(l, "rlimit ", 7) || strncmp(l + 7, name, k) || l[7 + k] != ' ')
			continue;
		char c[32], m[32];
		if (sscanf(l + 8 + k, "%31s %31s", c, m) != 2)
			return 0;
		*cur = strcmp(c, "inf") ? atoll(c) : -1;
		*max = strcmp(m, "inf") ? atoll(m) : -1;
		return 1;
	}
	return 0;
}

int kit_spawn_wait(const nf_cmd *cmd)
{
	nf_proc p = NF_PROC_INIT;
	nf_error err;
	memset(&err, 0, sizeof err);
	int rc = nf_spawn(cmd, &p, &err);
	char msg[4200];
	ck_assert_msg(rc == 0, "nf_spawn: %s (%s)", strerror(rc), nf_error_format(&err, msg, sizeof msg));
	int status = -1;
	rc = nf_proc_wait(&p, &status, -1);
	ck_assert_msg(rc == 0, "nf_proc_wait: %s", strerror(rc));
	nf_proc_release(&p);
	return status;
}

/* ---- spawning and expected failures ------------------------------------------- */

void kit_expect_spawn_error(nf_cmd *cmd, int err, int op, const char *msg)
{
	probe_report r;
	nf_error e;
	memset(&e, 0, sizeof e);
	int rc = probe_run(cmd, &r, &e);
	char line[4200];
	nf_error_format(&e, line, sizeof line);
	ck_assert_msg(rc == err, "spawn returned %d (%s), expected %d; record: %s", rc, strerror(rc), err, line);
	ck_assert_int_eq(e.err, err);
	ck_assert_msg(e.op == op, "failed op kind %d, expected %d (%s)", e.op, op, line);
	if (msg) {
		ck_assert_int_ge(e.index, 0); /* a child step, not the parent */
		ck_assert_str_eq(line, msg);
	}
	nf_cmd_free(cmd);
}

int kit_wait_status(pid_t pid)
{
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	ck_assert_msg(r == pid, "waitpid %d: %s", (int)pid, strerror(errno));
	return st;
}

/* ---- copies of the probe ---------------------------------------------------------- */

void kit_copy_fd(int from, int to)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(from, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(to, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
}

void kit_copy_probe(const char *dst, mode_t mode)
{
	int in = open(probe_path(), O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "open %s: %s", probe_path(), strerror(errno));
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	ck_assert_msg(out >= 0, "create %s: %s", dst, strerror(errno));
	kit_copy_fd(in, out);
	close(in);
	close(out);
	ck_assert_int_eq(chmod(dst, mode), 0);
}

const char *kit_public_probe(void)
{
	static char path[4096];
	ck_assert_int_eq(chmod(kit_tmpdir(), 0755), 0);
	snprintf(path, sizeof path, "%s/probe-public", kit_tmpdir());
	if (access(path, X_OK) != 0)
		kit_copy_probe(path, 0755);
	ck_assert_int_eq(setenv("NF_PROBE", path, 1), 0);
	return path;
}

void kit_use_public_probe(void)
{
	kit_public_probe();
}

/* ---- leak checks ------------------------------------------------------------ */

void kit_fd_snapshot(struct kit_fd_snapshot *s)
{
	s->n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d) { /* no /proc (NF_TEST_NO_PROC): ask about each number */
		for (int fd = 0; fd < 4096 && s->n < (int)(sizeof s->fds / sizeof s->fds[0]); fd++)
			if (fcntl(fd, F_GETFD) != -1)
				s->fds[s->n++] = fd;
		return;
	}
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd != self && s->n < (int)(sizeof s->fds / sizeof s->fds[0]))
			s->fds[s->n++] = fd;
	}
	closedir(d);
}

static int contains(const struct kit_fd_snapshot *s, int fd)
{
	for (int i = 0; i < s->n; i++)
		if (s->fds[i] == fd)
			return 1;
	return 0;
}

void kit_assert_no_fd_leak(const struct kit_fd_snapshot *before)
{
	struct kit_fd_snapshot now;
	kit_fd_snapshot(&now);
	for (int i = 0; i < now.n; i++) {
		if (contains(before, now.fds[i]))
			continue;
		char link[64], target[PATH_MAX] = "";
		snprintf(link, sizeof link, "/proc/self/fd/%d", now.fds[i]);
		ssize_t n = readlink(link, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = '\0';
		ck_abort_msg("fd leak: fd %d (%s) is open after the test", now.fds[i], target);
	}
	for (int i = 0; i < before->n; i++)
		ck_assert_msg(contains(&now, before->fds[i]),
			      "fd %d was open before the test and is closed after it", before->fds[i]);
}

void kit_assert_no_zombies(void)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int rc = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
	if (rc == -1 && errno == ECHILD)
		return;
	ck_assert_msg(rc == 0, "waitid: %s", strerror(errno));
	if (si.si_pid != 0)
		ck_abort_msg("zombie: child %d exited (code %d) and was never reaped",
			     (int)si.si_pid, si.si_status);
	ck_abort_msg("a child is still running after the test");
}

static struct kit_fd_snapshot leak_before;
static struct timespec test_start;

static void leak_setup(void)
{
	clock_gettime(CLOCK_MONOTONIC, &test_start);
	kit_fd_snapshot(&leak_before);
}

/* NF_TEST_TIMES=1 prints each test's duration (to find slow tests). */
static void leak_teardown(void)
{
	kit_assert_no_fd_leak(&leak_before);
	kit_assert_no_zombies();
	if (getenv("NF_TEST_TIMES")) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		fprintf(stderr, "time %.3fs (pid %d)\n",
			(double)(now.tv_sec - test_start.tv_sec) + (now.tv_nsec - test_start.tv_nsec) / 1e9,
			(int)getpid());
	}
}

TCase *kit_tcase(const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, leak_setup, leak_teardown);
	tcase_set_timeout(tc, timeout_s);
	return tc;
}

/* ---- the clock ---------------------------------------------------------------- */

int64_t kit_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- /proc: watching processes from outside ---------------------------------- */

/* The start of the /proc file named by the format (one read: these files
 * are small and the kernel fills them in one go), NUL-terminated in buf.
 * Returns the length, or -1 if it cannot be opened or read. */
static ssize_t __attribute__((format(printf, 3, 4))) proc_read(char *buf, size_t size, const char *fmt, ...)
{
	char path[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int kit_read_pstat(pid_t pid, struct kit_pstat *ps)
{
	char buf[1024];
	if (proc_read(buf, sizeof buf, "/proc/%d/stat", (int)pid) <= 0)
		return 0;
	char *p = strrchr(buf, ')');
	int tty;
	return p && sscanf(p + 1, " %c %d %d %d %d %d", &ps->state, &ps->ppid, &ps->pgid, &ps->sid, &tty,
			   &ps->tpgid) == 6;
}

int kit_find_procs(pid_t ppid, pid_t pgid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		pid_t pid = (pid_t)atoi(e->d_name);
		struct kit_pstat ps;
		if (pid > 0 && kit_read_pstat(pid, &ps) && ps.state != 'Z' && (ppid < 0 || ps.ppid == ppid) &&
		    (pgid < 0 || ps.pgid == pgid))
			out[n++] = pid;
	}
	closedir(d);
	return n;
}

/* A child of `parent` other than `except`, zombie or not (scanning /proc),
 * or 0. Unlike kit_find_procs it must not fail the test without /proc. */
static pid_t find_child(pid_t parent, pid_t except)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	pid_t found = 0;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name);
		struct kit_pstat ps;
		if (pid > 0 && pid != except && kit_read_pstat(pid, &ps) && ps.ppid == parent)
			found = pid;
	}
	closedir(d);
	return found;
}

pid_t kit_await_child(pid_t parent, pid_t except, double timeout_s)
{
	double deadline = kit_now_s() + timeout_s;
	pid_t pid;
	while (!(pid = find_child(parent, except)) && kit_now_s() < deadline)
		usleep(1000);
	return pid;
}

long kit_current_syscall(pid_t tid)
{
	char buf[256];
	if (proc_read(buf, sizeof buf, "/proc/%d/syscall", (int)tid) <= 0)
		return -2;
	return strtol(buf, NULL, 10);
}

int kit_await_syscall(pid_t pid, long nr, double timeout_s)
{
	double deadline = kit_now_s() + timeout_s;
	do {
		long now = kit_current_syscall(pid);
		if (now == nr)
			return 1;
		if (now == -2)
			return 0;
		usleep(1000);
	} while (kit_now_s() < deadline);
	return 0;
}

long kit_fd_flags(int fd)
{
	char buf[512];
	if (proc_read(buf, sizeof buf, "/proc/self/fdinfo/%d", fd) <= 0)
		return -1;
	char *p = strstr(buf, "flags:");
	return p ? strtol(p + 6, NULL, 8) : -1;
}

/* ---- temporary files -------------------------------------------------------- */

/* Every test's directory lives in one directory per suite run, made and
 * removed by kit_main: a failing test ends with _exit (Check) and cannot
 * clean up after itself. */
static char run_dir[64];
static char tmpdir[PATH_MAX];
static pid_t tmpdir_owner;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void rm_tmpdir(void)
{
	if (tmpdir[0] && getpid() == tmpdir_owner)
		rm_tree(tmpdir);
}

const char *kit_tmpdir(void)
{
	if (!tmpdir[0] || tmpdir_owner != getpid()) {
		snprintf(tmpdir, sizeof tmpdir, "%s/nofork-test.XXXXXX", run_dir[0] ? run_dir : "/tmp");
		ck_assert_ptr_nonnull(mkdtemp(tmpdir));
		if (tmpdir_owner == 0)
			atexit(rm_tmpdir);
		tmpdir_owner = getpid();
	}
	return tmpdir;
}

char *kit_tmp_file(const char *name, const char *content, mode_t mode)
{
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/%s", kit_tmpdir(), name), 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	size_t len = strlen(content);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

/* ---- running suites ----------------------------------------------------------- */

/* NF_TEST_<NAME>=enosys|eperm: deny syscall nr with that errno, and prove
 * the filter is in force (with NULL/invalid arguments the real syscall
 * would fail differently: EFAULT, EINVAL). Returns 0, or 2 on a setup error. */
static int deny_from_env(const char *var, long nr, const char *name)
{
	const char *mode = getenv(var);
	if (!mode || !*mode)
		return 0;
	int e = !strcmp(mode, "enosys") ? ENOSYS : !strcmp(mode, "eperm") ? EPERM : 0;
	if (!e) {
		fprintf(stderr, "%s=%s: expected enosys or eperm\n", var, mode);
		return 2;
	}
	int rc = kit_seccomp(&KIT_DENY_ALWAYS((int)nr, e), 1, KIT_NNP);
	if (rc) {
		fprintf(stderr, "cannot install the seccomp filter: %s\n", strerror(rc));
		return 2;
	}
	if (syscall(nr, NULL, 0, ~0u) != -1 || errno != e) {
		fprintf(stderr, "%s is not denied with %s\n", name, mode);
		return 2;
	}
	printf("%s denied with %s: the library must use its fallback\n", name, mode);
	fflush(stdout);
	return 0;
}

/* NF_TEST_NO_PROC=1: hide /proc in a private mount namespace (needs
 * CAP_SYS_ADMIN). Returns 0, 77 (meson's "skipped") without the privilege,
 * or 2 on another error. */
static int hide_proc(void)
{
	const char *v = getenv("NF_TEST_NO_PROC");
	if (!v || !*v)
		return 0;
	if (unshare(CLONE_NEWNS) != 0) {
		printf("cannot unshare the mount namespace (%s): skipped, not passed\n", strerror(errno));
		return errno == EPERM ? 77 : 2;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || umount2("/proc", MNT_DETACH) != 0) {
		fprintf(stderr, "cannot hide /proc: %s\n", strerror(errno));
		return 2;
	}
	if (access("/proc/self/fd", F_OK) == 0) {
		fprintf(stderr, "/proc/self/fd is still there\n");
		return 2;
	}
	printf("/proc hidden: the library must close fds without it\n");
	fflush(stdout);
	return 0;
}

int kit_main(Suite *s)
{
	int rc = hide_proc();
	if (rc)
		return rc;
	if (deny_from_env("NF_TEST_CLONE3", SYS_clone3, "clone3") ||
	    deny_from_env("NF_TEST_CLOSE_RANGE", SYS_close_range, "close_range") ||
	    deny_from_env("NF_TEST_UNSHARE", SYS_unshare, "unshare"))
		return 2;
	/* 0755: tests that drop privileges run programs from their directory. */
	snprintf(run_dir, sizeof run_dir, "/tmp/nofork-run.XXXXXX");
	if (!mkdtemp(run_dir) || chmod(run_dir, 0755) != 0) {
		fprintf(stderr, "cannot make a directory in /tmp: %s\n", strerror(errno));
		return 2;
	}
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(run_dir);
	return failed ? 1 : 0;
}

/* ---- seccomp ------------------------------------------------------------------- */

int kit_seccomp(const struct kit_deny_rule *rules, size_t n, int flags)
{
	struct sock_filter f[8 + 6 * 16];
	size_t k = 0;
	if (n > 16)
		return E2BIG;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NF_AUDIT_ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	for (size_t i = 0; i < n; i++) {
		const struct kit_deny_rule *r = &rules[i];
		unsigned ret = r->err == KIT_DENY_KILL_PROCESS ? SECCOMP_RET_KILL_PROCESS
		               : r->err == KIT_DENY_KILL_THREAD ? SECCOMP_RET_KILL_THREAD
		               : r->err == KIT_DENY_TRAP        ? SECCOMP_RET_TRAP
		                                            : SECCOMP_RET_ERRNO | ((unsigned)r->err & SECCOMP_RET_DATA);
		/* Each rule reloads nr, so rules are independent blocks. */
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
		if (r->arg < 0) {
			f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r->nr, 0, 1);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
		} else {
			f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r->nr, 0, 4);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			                                      offsetof(struct seccomp_data, args[r->arg]));
			f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, r->mask);
			f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->value, 0, 1);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
		}
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {(unsigned short)k, f};
	/* Root may filter without no_new_privs; keeping it off matters for
	 * the tests that exec a setuid binary under a filter. */
	if (((flags & KIT_NNP) || geteuid() != 0) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
		return errno;
	return 0;
}

void kit_deny(const struct kit_deny_rule *rules, size_t n)
{
	int rc = kit_seccomp(rules, n, 0);
	ck_assert_msg(rc == 0, "seccomp: %s", strerror(rc));
}

void kit_deny_clone3(int err)
{
	struct kit_deny_rule r = KIT_DENY_ALWAYS(SYS_clone3, err);
	kit_deny(&r, 1);
	ck_assert(syscall(SYS_clone3, NULL, 0) == -1 && errno == err);
}

void kit_deny_pidfd(void)
{
	struct kit_deny_rule r[] = {
	    KIT_DENY_ALWAYS(SYS_clone3, ENOSYS),
	    {SYS_clone, 0, CLONE_PIDFD, CLONE_PIDFD, EINVAL},
	};
	kit_deny(r, 2);
}

void kit_deny_close_range(int err)
{
	struct kit_deny_rule r = KIT_DENY_ALWAYS(SYS_close_range, err);
	kit_deny(&r, 1);
	ck_assert(syscall(SYS_close_range, 1000000, 1000001, 0) == -1 && errno == err);
}

void kit_deny_proc_fd_walk(void)
{
	struct kit_deny_rule r[] = {
	    KIT_DENY_ALWAYS(SYS_close_range, ENOSYS),
	    {SYS_openat, 2, 0xffffffffu, O_RDONLY | O_DIRECTORY | O_CLOEXEC, ENOENT},
	};
	kit_deny(r, 2);
	ck_assert(open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC) == -1 && errno == ENOENT);
}

/* ---- credentials --------------------------------------------------------------- */

void kit_become_nobody(void)
{
	ck_assert_msg(geteuid() == 0, "this test needs root to drop to uid 65534");
	ck_assert_int_eq(setgroups(0, NULL), 0);
	ck_assert_int_eq(setresgid(65534, 65534, 65534), 0);
	ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
	uid_t r, e, s;
	ck_assert_int_eq(getresuid(&r, &e, &s), 0);
	ck_assert(r == 65534 && e == 65534 && s == 65534);
	ck_assert_int_eq(getgroups(0, NULL), 0);
	ck_assert_int_eq(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
	ck_assert_int_eq(geteuid(), 65534);
}

/* ---- handlers ------------------------------------------------------------------ */

atomic_long kit_handler_runs, kit_handler_in_child;
pid_t kit_handler_owner;

void kit_count_handler_run(void)
{
	/* Raw getpid: the point is the kernel's answer, not a cached one. */
	if ((pid_t)syscall(SYS_getpid) != kit_handler_owner)
		atomic_fetch_add(&kit_handler_in_child, 1);
	atomic_fetch_add(&kit_handler_runs, 1);
}

static void counting_handler(int sig)
{
	(void)sig;
	int saved = errno;
	kit_count_handler_run();
	errno = saved;
}

void kit_install_counting_handler(int sig, int flags)
{
	kit_handler_owner = getpid();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = counting_handler;
	sa.sa_flags = flags;
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
}

/* ---- memory --------------------------------------------------------------------- */

long kit_heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return -1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
	return -1;
#endif
#endif
	struct mallinfo2 mi = mallinfo2();
	return (long)mi.uordblks + (long)mi.hblkhd;
}

int kit_mapping_fd = -1;

long kit_mapping_count(void)
{
	int fd = kit_mapping_fd >= 0 ? kit_mapping_fd : open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	long n = 0;
	char buf[4096];
	ssize_t k;
	for (off_t off = 0; (k = pread(fd, buf, sizeof buf, off)) > 0; off += k)
		for (ssize_t i = 0; i < k; i++)
			n += buf[i] == '\n';
	if (fd != kit_mapping_fd)
		close(fd);
	return n;
}

bool kit_probe_pid_line(const char *line)
{
	static const char *const keys[] = {"pgid ", "sid ", "tpgid ", "NSpid ", "NStgid "};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (!strncmp(line, keys[i], strlen(keys[i])))
			return true;
	return false;
}

char *kit_report_state(const probe_report *r)
{
	size_t cap = 1, len = 0;
	for (size_t i = 0; i < r->nlines; i++)
		cap += strlen(r->lines[i]) + 1;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < r->nlines; i++) {
		const char *l = r->lines[i];
		/* The pid (also in the NSpid/NStgid lines), and Seccomp: a test
		 * that compares states before and after installing a filter of
		 * its own (kit_deny) sees its filter inherited. */
		if (!strncmp(l, "pid ", 4) || !strncmp(l, "NSpid ", 6) || !strncmp(l, "NStgid ", 7) ||
		    !strncmp(l, "Seccomp ", 8))
			continue;
		const char *pipe = strstr(l, "pipe:[");
		size_t n = pipe ? (size_t)(pipe - l) + 5 : strlen(l);
		memcpy(s + len, l, n);
		len += n;
		s[len++] = '\n';
	}
	s[len] = '\0';
	return s;
}
