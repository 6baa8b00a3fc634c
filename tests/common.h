/* Helpers shared by the Check suites.
 *
 * The pattern of a state test: build a cmd for the probe (probe_cmd), add the
 * actions/attributes under test, run it with probe_run, and compare what the
 * child actually saw (probe_get, probe_fd, probe_hex, ...) with what was asked.
 *
 * Every test case made by common_tcase checks, after each test, that the test
 * process has the same open fds as before and no child left (zombie or not).
 */
#ifndef NOFORK_TESTS_COMMON_H
#define NOFORK_TESTS_COMMON_H

#include <check.h>
#include <stdint.h>
#include <sys/types.h>

#include "nofork.h"

/* The fd the probe's report pipe sits on in the parent while spawning; the
 * child gets it as fd 1 through a dup2 action probe_run appends. High enough
 * to stay out of the way of the fds the tests play with. */
#define PROBE_FD 200

/* The probe binary: $NF_PROBE if set, else the path meson compiled in. */
const char *probe_path(void);

/* A cmd running `probe` with argv {probe, args...} and envp NULL (the
 * caller's environ): probe_cmd(NULL) for the report, probe_cmd("exit", "3").
 * Fails the test on error. */
#define probe_cmd(...) probe_cmdv((const char *const[]){ __VA_ARGS__, NULL })
nf_cmd *probe_cmdv(const char *const *args);

/* NF_TEST_NO_PIDFD=1: probe_cmd sets NF_NO_PIDFD, so the suite runs on the
 * pid-only paths (spawn, wait with its polling, kill). */
int test_no_pidfd(void);

/* What the probe printed, split into lines, plus how it ended. */
typedef struct probe_report {
	char *text;
	char **lines;
	size_t nlines;
	int status;  /* waitpid status of the probe */
	pid_t pid;
} probe_report;

/* Spawn cmd with its stdout (appended dup2(PROBE_FD, 1), so after the test's
 * own actions) going to a pipe, read the report, wait for the child.
 * Returns nf_spawn's result (0 on success); on failure *err is filled if
 * given and r is empty. Appends one action to cmd per call. */
int probe_run(nf_cmd *cmd, probe_report *r, nf_error *err);

/* Like probe_run without appending the dup2: the test itself put
 * dup2(PROBE_FD, 1) where it wants it (e.g. before a closefrom). */
int probe_run_raw(const nf_cmd *cmd, probe_report *r, nf_error *err);

/* Like probe_run, but fails the test unless the spawn succeeded and the
 * probe exited 0. */
void probe_run_ok(nf_cmd *cmd, probe_report *r);

void probe_report_free(probe_report *r);

/* Value of the first line whose key is `key` (e.g. "cwd"), or NULL. */
const char *probe_get(const probe_report *r, const char *key);
/* Numeric values of a line; fail the test if the key is missing. */
long probe_long(const probe_report *r, const char *key);
uint64_t probe_hex(const probe_report *r, const char *key);
/* argv[i] as the child saw it (unescaped, static buffer), or NULL. */
const char *probe_arg(const probe_report *r, int i);
/* Value of environment variable `name` in the child (unescaped, static
 * buffer), or NULL if unset. */
const char *probe_env(const probe_report *r, const char *name);

struct probe_fdinfo {
	int fd;
	int cloexec;
	char mode[4];      /* "r", "w", "rw" or "?" */
	char path[4096];   /* readlink of /proc/self/fd/N in the child */
};
/* 1 and *info filled if fd was open in the child, else 0. info may be NULL. */
int probe_fd(const probe_report *r, int fd, struct probe_fdinfo *info);
/* The fds open in the child, ascending; returns how many (at most max). */
int probe_fds(const probe_report *r, int *out, int max);
/* rlimit line for NAME ("NOFILE"...): 1 if found; cur/max get -1 for inf. */
int probe_rlimit(const probe_report *r, const char *name, long long *cur, long long *max);

/* Bit for signal sig in the probe's 64-bit signal sets. */
#define SIGBIT(sig) (1ull << ((sig) - 1))

/* Spawn cmd, wait, return the wait status. Fails the test if the spawn
 * fails. */
int spawn_wait(const nf_cmd *cmd);

/* ---- leak checks ------------------------------------------------------------ */

struct fd_snapshot {
	int n;
	int fds[1024];
};
/* Every fd open in this process now (the listing's own fd excluded). */
void fd_snapshot(struct fd_snapshot *s);
/* Fail the test if the set of open fds differs from s. */
void assert_no_fd_leak(const struct fd_snapshot *s);
/* Fail the test if this process has any child (zombie or running). */
void assert_no_zombies(void);

/* A test case with the leak checks as checked fixture and a timeout scaled
 * for a loaded machine. */
TCase *common_tcase(const char *name, double timeout_s);

/* ---- watching a child between clone and exec ---------------------------------
 * Tests make the child block in an action (opening a FIFO for writing) and
 * look at it from a helper process. Both poll /proc with a bound. */

/* A child of `parent` other than `except`, waited for up to timeout_s;
 * 0 if none appeared. */
pid_t await_child(pid_t parent, pid_t except, double timeout_s);
/* The syscall task `tid` (a process or one of our threads) is blocked in,
 * from /proc/TID/syscall: -1 if running, -2 if unreadable. */
long current_syscall(pid_t tid);
/* 1 once pid is inside syscall nr (/proc/PID/syscall), 0 after timeout_s. */
int await_syscall(pid_t pid, long nr, double timeout_s);

/* A fresh directory for this test (removed at exit); path is static. */
const char *test_tmpdir(void);
/* Write a file with content and mode in the test's tmpdir; returns its path
 * in a malloc'd string. */
char *tmp_file(const char *name, const char *content, mode_t mode);

/* Run the suite in fork mode and return 0 if everything passed.
 * NF_TEST_CLONE3=enosys|eperm in the environment first installs a seccomp
 * filter that makes clone3 fail with that errno, so the same tests exercise
 * the library's clone fallback; NF_TEST_CLOSE_RANGE likewise for
 * close_range (the child's /proc/self/fd walk), and NF_TEST_UNSHARE for
 * unshare (with close_range denied too, the child cannot leave a shared fd
 * table and the library must spawn without CLONE_FILES). */
int common_main(Suite *s);

/* Install a seccomp filter in the calling process (inherited by every child,
 * kept across exec) making syscall nr fail with err. Sets no_new_privs.
 * Returns 0 or an errno. */
int deny_syscall(long nr, int err);
/* deny_syscall(SYS_clone3, err). */
int deny_clone3(int err);

#endif
