/* The test kit: every helper the Check suites share, in one library
 * (test_kit, tests/kit.c). Two prefixes only:
 * - probe_* / PROBE_FD: the probe's own vocabulary (tests/progs/probe):
 *   building a probe cmd, running it, reading what the child reported;
 * - kit_* / KIT_*: everything else (fixtures, leak checks, /proc readers,
 *   seccomp, credentials, the clock, running a suite).
 *
 * The pattern of a state test: build a cmd for the probe (probe_cmd), add the
 * actions/attributes under test, run it with probe_run, and compare what the
 * child actually saw (probe_get, probe_fd, probe_hex, ...) with what was asked.
 *
 * Every test case made by kit_tcase checks, after each test, that the test
 * process has the same open fds as before and no child left (zombie or not).
 *
 * Forcing a fallback path: a whole suite runs on a path through the
 * environment kit_main reads (NF_TEST_CLONE3, NF_TEST_CLOSE_RANGE, ...; see
 * kit_main and the suites × paths table in tests/meson.build). The kit_deny*
 * calls are only for tests that cannot be a suite run on a path: ones that
 * compare the state a child sees before and after a filter in one process
 * (test_faults, test_security), filters that kill or trap (test_hostile), a
 * filter installed in a forked child (test_contract), or a single test
 * that needs the path (they all run in their own forked process).
 */
#ifndef NOFORK_TESTS_KIT_H
#define NOFORK_TESTS_KIT_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nofork.h"

/* ---- the probe -------------------------------------------------------------- */

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
#define KIT_SIGBIT(sig) (1ull << ((sig) - 1))

/* Whether a probe report line can carry the child's own pid (pgid, sid,
 * tpgid, NSpid, NStgid): only there may a comparison write it as SELF. A
 * limit can equal the pid by chance (rlimit NOFILE 4096 at pid 4096: the
 * small pids of a VM made that happen). */
bool kit_probe_pid_line(const char *line);

/* A report as a comparable string: every line except the ones that differ
 * between two runs of the same cmd (pid, NSpid, NStgid, and pipe inode
 * numbers) and Seccomp (which a kit_deny filter of the test changes). */
char *kit_report_state(const probe_report *r);

/* A copy of the probe any uid can run (the build tree may sit below a
 * directory only its owner can enter), made the one probe_cmd uses
 * (NF_PROBE). Returns its path (static). */
const char *kit_public_probe(void);
/* kit_public_probe as a checked fixture. */
void kit_use_public_probe(void);
/* Copy the probe binary to `dst` with `mode` (chmod after the copy, so
 * setuid bits survive). */
void kit_copy_probe(const char *dst, mode_t mode);
/* Copy everything from fd `from` (at its current offset) to fd `to`. */
void kit_copy_fd(int from, int to);

/* ---- spawning and expected failures ------------------------------------------ */

/* NF_TEST_NO_PIDFD=1: probe_cmd sets NF_NO_PIDFD, so the suite runs on the
 * pid-only paths (spawn, wait with its polling, kill). */
int kit_no_pidfd(void);

/* Spawn cmd, wait, return the wait status. Fails the test if the spawn
 * fails. */
int kit_spawn_wait(const nf_cmd *cmd);

/* Spawn cmd (a probe cmd; consumed) expecting failure `err` at an op of kind
 * `op`. With a msg, the failure must be a child step's (index >= 0) and
 * nf_error_format's line must be msg exactly; with msg NULL only the errno
 * and the op kind are compared. The failed child must be reaped already (no
 * zombie: the fixture checks). */
void kit_expect_spawn_error(nf_cmd *cmd, int err, int op, const char *msg);

/* waitpid that fails the test instead of returning an error. */
int kit_wait_status(pid_t pid);

/* ---- leak checks ------------------------------------------------------------ */

struct kit_fd_snapshot {
	int n;
	int fds[1024];
};
/* Every fd open in this process now (the listing's own fd excluded). */
void kit_fd_snapshot(struct kit_fd_snapshot *s);
/* Fail the test if the set of open fds differs from s. */
void kit_assert_no_fd_leak(const struct kit_fd_snapshot *s);
/* Fail the test if this process has any child (zombie or running). */
void kit_assert_no_zombies(void);

/* Bytes of heap in use (mallinfo2), for leak checks across many failing
 * spawns; -1 under ASan or TSan, whose allocators mallinfo does not see
 * (and whose own mappings make mapping counts meaningless). */
long kit_heap_in_use(void);
/* Number of mappings of this process; read through kit_mapping_fd when that
 * is an open /proc/self/maps (for tests that leave no fd free), else opened. */
extern int kit_mapping_fd;
long kit_mapping_count(void);

/* A test case with the leak checks as checked fixture and a timeout scaled
 * for a loaded machine. */
TCase *kit_tcase(const char *name, double timeout_s);

/* ---- the clock ------------------------------------------------------------- */

/* CLOCK_MONOTONIC, the one clock of the kit, in three units: for deadlines
 * of polling loops (never for timing assertions). */
int64_t kit_now_ns(void);
static inline int64_t kit_now_ms(void) { return kit_now_ns() / 1000000; }
static inline double kit_now_s(void) { return (double)kit_now_ns() / 1e9; }

/* ---- /proc ------------------------------------------------------------------
 * Tests make a child block in an action (opening a FIFO for writing) and
 * look at it from outside; the waits poll /proc with a bound. */

/* Fields of /proc/<pid>/stat after the command name (which may hold spaces
 * or ')', hence the search for the last ')'). */
struct kit_pstat {
	char state;
	int ppid, pgid, sid, tpgid;
};
/* 1 and *ps filled if pid exists, else 0. */
int kit_read_pstat(pid_t pid, struct kit_pstat *ps);
/* Up to max live (not zombie) processes with pgid `pgid` (ppid: with parent
 * `ppid`) found in /proc; pass -1 for "any". Returns how many. */
int kit_find_procs(pid_t ppid, pid_t pgid, pid_t *out, int max);
/* A child of `parent` other than `except` (zombies included), waited for up
 * to timeout_s; 0 if none appeared. */
pid_t kit_await_child(pid_t parent, pid_t except, double timeout_s);
/* The syscall task `tid` (a process or one of our threads) is blocked in,
 * from /proc/TID/syscall: -1 if running, -2 if unreadable. */
long kit_current_syscall(pid_t tid);
/* 1 once pid is inside syscall nr (/proc/PID/syscall), 0 after timeout_s. */
int kit_await_syscall(pid_t pid, long nr, double timeout_s);
/* /proc/self/fdinfo flags of fd (octal in the kernel's listing), or -1. */
long kit_fd_flags(int fd);

/* ---- seccomp ------------------------------------------------------------------ */

/* One syscall to refuse: nr fails with err when (args[arg] & mask) == value
 * (low 32 bits), or always when arg is -1. An err of KIT_DENY_KILL_PROCESS,
 * KIT_DENY_KILL_THREAD or KIT_DENY_TRAP takes that seccomp action instead of
 * failing (the style of systemd's SystemCallFilter). */
#define KIT_DENY_KILL_PROCESS (-1)
#define KIT_DENY_KILL_THREAD (-2)
#define KIT_DENY_TRAP (-3)
struct kit_deny_rule {
	int nr;
	int arg;
	uint32_t mask, value;
	int err;
};
#define KIT_DENY_ALWAYS(nr_, err_) ((struct kit_deny_rule){(nr_), -1, 0, 0, (err_)})

/* kit_seccomp flag: set no_new_privs even as root (without it, root filters
 * without the flag, so a setuid binary still behaves normally). */
#define KIT_NNP 1

/* The seccomp builder: install a filter refusing each rule (at most 16) in
 * the calling thread (threads created later and every child inherit it,
 * across exec). Returns 0 or an errno and never fails the test, so it
 * serves kit_main and forked children too. */
int kit_seccomp(const struct kit_deny_rule *rules, size_t n, int flags);
/* kit_seccomp(rules, n, 0), failing the test if the filter cannot be
 * installed. */
void kit_deny(const struct kit_deny_rule *rules, size_t n);

/* The common fallbacks, each as one filter (failing the test on error). */
void kit_deny_clone3(int err);    /* clone3 → err (ENOSYS or EPERM) */
void kit_deny_pidfd(void);        /* clone3 → ENOSYS, clone(CLONE_PIDFD) → EINVAL */
void kit_deny_close_range(int err); /* close_range → err */
/* close_range → ENOSYS and the child's open of /proc/self/fd (exactly
 * O_RDONLY|O_DIRECTORY|O_CLOEXEC, which opendir never uses) → ENOENT, so the
 * child has to close by brute force up to RLIMIT_NOFILE. */
void kit_deny_proc_fd_walk(void);

/* ---- credentials --------------------------------------------------------------- */

/* Make this (disposable, forked-per-test, root) process uid/gid 65534 with
 * no supplementary groups and nothing saved to go back to; dumpable again
 * afterwards, so the leak check can still list /proc/self/fd. Fails the
 * test if any step fails or does not stick. Children the test spawns then
 * need kit_public_probe (called first). */
void kit_become_nobody(void);

/* ---- signal handlers ------------------------------------------------------------ */

/* Signal handlers that count their runs and whether they ever ran in a
 * process other than the one that installed them (a nofork child shares our
 * memory, so a run there is visible here). */
extern atomic_long kit_handler_runs, kit_handler_in_child;
void kit_install_counting_handler(int sig, int flags);
/* The pid handlers compare against (set by kit_install_counting_handler). */
extern pid_t kit_handler_owner;
/* For handlers of a test's own: record one run (async-signal-safe). */
void kit_count_handler_run(void);

/* ---- files and running suites ---------------------------------------------------- */

/* A fresh directory for this test (removed at exit); path is static. */
const char *kit_tmpdir(void);
/* Write a file with content and mode in the test's tmpdir; returns its path
 * in a malloc'd string. */
char *kit_tmp_file(const char *name, const char *content, mode_t mode);

/* Run the suite in fork mode and return 0 if everything passed. The one way
 * to run a whole suite on a fallback path, from the environment:
 * NF_TEST_CLONE3=enosys|eperm first installs a seccomp filter that makes
 * clone3 fail with that errno, so the same tests exercise the library's
 * clone fallback; NF_TEST_CLOSE_RANGE likewise for close_range (the child's
 * /proc/self/fd walk), and NF_TEST_UNSHARE for unshare (with close_range
 * denied too, the child cannot leave a shared fd table and the library must
 * spawn without CLONE_FILES); NF_TEST_NO_PROC=1 hides /proc (or skips, 77);
 * NF_TEST_NO_PIDFD=1 see kit_no_pidfd. */
int kit_main(Suite *s);

#endif
