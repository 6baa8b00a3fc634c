/* Helpers shared by the attribute suites (cred, limits, tty, cgroup,
 * exec_fd): the failure check every attribute needs, and the few set-ups
 * (dropping root, copying the probe) more than one suite uses. Header-only
 * so the suites link exactly as the core ones do. */
#ifndef NOFORK_TESTS_ATTR_UTIL_H
#define NOFORK_TESTS_ATTR_UTIL_H

#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Spawn cmd (a probe cmd; consumed) expecting failure `err` at an op of kind
 * `op`, and compare nf_error_format's line with `msg` exactly. The failed
 * child must be reaped already (no zombie: the fixture checks). */
static inline void expect_spawn_error(nf_cmd *cmd, int err, int op, const char *msg)
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
	ck_assert_int_ge(e.index, 0); /* a child step, not the parent */
	ck_assert_str_eq(line, msg);
	nf_cmd_free(cmd);
}

/* Copy everything from fd `from` (at its current offset) to fd `to`. */
static inline void copy_fd(int from, int to)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(from, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(to, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
}

/* Copy the probe binary to `dst` with `mode` (chmod after the copy, so
 * setuid bits survive). */
static inline void copy_probe(const char *dst, mode_t mode)
{
	int in = open(probe_path(), O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "open %s: %s", probe_path(), strerror(errno));
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	ck_assert_msg(out >= 0, "create %s: %s", dst, strerror(errno));
	copy_fd(in, out);
	close(in);
	close(out);
	ck_assert_int_eq(chmod(dst, mode), 0);
}

/* A copy of the probe any uid can run (the build tree may sit below a
 * directory only its owner can enter), made the one probe_cmd uses
 * (NF_PROBE). Returns its path (static). Also a checked fixture. */
static inline const char *public_probe(void)
{
	static char path[4096];
	ck_assert_int_eq(chmod(test_tmpdir(), 0755), 0);
	snprintf(path, sizeof path, "%s/probe-public", test_tmpdir());
	if (access(path, X_OK) != 0)
		copy_probe(path, 0755);
	ck_assert_int_eq(setenv("NF_PROBE", path, 1), 0);
	return path;
}

static inline void use_public_probe(void)
{
	public_probe();
}

/* Make this (disposable, forked-per-test) process uid/gid 65534 with no
 * supplementary groups and nothing saved to go back to, running a probe it
 * may execute. Dumpable again afterwards, so the leak check can still list
 * /proc/self/fd. */
static inline void become_nobody(void)
{
	public_probe();
	ck_assert_int_eq(setgroups(0, NULL), 0);
	ck_assert_int_eq(setresgid(65534, 65534, 65534), 0);
	ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
	ck_assert_int_eq(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
	ck_assert_int_eq(geteuid(), 65534);
}

/* waitpid that fails the test instead of returning an error. */
static inline int wait_status(pid_t pid)
{
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	ck_assert_msg(r == pid, "waitpid %d: %s", (int)pid, strerror(errno));
	return st;
}

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fields of /proc/<pid>/stat after the command name (which may hold spaces
 * or ')', hence the search for the last ')'). */
struct pstat {
	char state;
	int ppid, pgid, sid, tpgid;
};

/* 1 and *ps filled if pid exists, else 0. */
static inline int read_pstat(pid_t pid, struct pstat *ps)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	int tty;
	return p && sscanf(p + 1, " %c %d %d %d %d %d", &ps->state, &ps->ppid, &ps->pgid, &ps->sid, &tty,
			   &ps->tpgid) == 6;
}

/* Up to max live processes with pgid `pgid` (ppid: with parent `ppid`)
 * found in /proc; pass -1 for "any". Returns how many. */
static inline int find_procs(pid_t ppid, pid_t pgid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		pid_t pid = (pid_t)atoi(e->d_name);
		struct pstat ps;
		if (pid > 0 && read_pstat(pid, &ps) && ps.state != 'Z' && (ppid < 0 || ps.ppid == ppid) &&
		    (pgid < 0 || ps.pgid == pgid))
			out[n++] = pid;
	}
	closedir(d);
	return n;
}

#endif
