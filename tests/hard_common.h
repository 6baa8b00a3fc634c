/* Helpers for the hardening suites (faults, storm, security): seccomp
 * filters that take a syscall away, dropping to an unprivileged uid, and a handler that tells whether it
 * ever ran inside a child. Built on tests/common.h. */
#ifndef NOFORK_TESTS_HARD_COMMON_H
#define NOFORK_TESTS_HARD_COMMON_H

#include "common.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One syscall to refuse: nr fails with err when (args[arg] & mask) == value
 * (low 32 bits), or always when arg is -1. An err of DENY_KILL_PROCESS,
 * DENY_KILL_THREAD or DENY_TRAP takes that seccomp action instead of
 * failing (the style of systemd's SystemCallFilter). */
#define DENY_KILL_PROCESS (-1)
#define DENY_KILL_THREAD (-2)
#define DENY_TRAP (-3)
struct deny_rule {
	int nr;
	int arg;
	uint32_t mask, value;
	int err;
};
#define DENY_ALWAYS(nr_, err_) ((struct deny_rule){(nr_), -1, 0, 0, (err_)})

/* Install a seccomp filter refusing each rule in the calling thread (threads
 * created later and every child inherit it). As root no no_new_privs is set,
 * so a setuid binary still behaves normally under the filter. Fails the test
 * if the filter cannot be installed. */
void deny_syscalls(const struct deny_rule *rules, size_t n);

/* The common fallbacks, each as one filter. */
void deny_clone3_with(int err);  /* clone3 → err (ENOSYS or EPERM) */
void deny_pidfd(void);           /* clone3 → ENOSYS, clone(CLONE_PIDFD) → EINVAL */
void deny_close_range(int err);  /* close_range → err */
/* close_range → ENOSYS and the child's open of /proc/self/fd (exactly
 * O_RDONLY|O_DIRECTORY|O_CLOEXEC, which opendir never uses) → ENOENT, so the
 * child has to close by brute force up to RLIMIT_NOFILE. */
void deny_proc_fd_walk(void);

/* setgroups({}), setresgid(65534), setresuid(65534) in this process (which
 * must be a throwaway test process), then dumpable again so /proc/self stays
 * ours. Fails the test if any step fails or does not stick. */
void drop_to_nobody(void);

/* Signal handlers that count their runs and whether they ever ran in a
 * process other than the one that installed them (a nofork child shares our
 * memory, so a run there is visible here). */
extern atomic_long handler_runs, handler_in_child;
void install_counting_handler(int sig, int flags);
/* The pid handlers compare against (set by install_counting_handler). */
extern pid_t handler_owner;
/* For handlers of a test's own: record one run (async-signal-safe). */
void count_handler_run(void);

/* Bytes of heap in use (mallinfo2), for leak checks across many failing
 * spawns; -1 under ASan or TSan, whose allocators mallinfo does not see
 * (and whose own mappings make mapping counts meaningless). */
long heap_in_use(void);
/* Number of mappings of this process; read through mapping_fd when that is
 * an open /proc/self/maps (for tests that leave no fd free), else opened. */
extern int mapping_fd;
long mapping_count(void);

/* A report as a comparable string: every line except the ones that differ
 * between two runs of the same cmd (pid, and pipe inode numbers). */
char *report_state(const probe_report *r);

/* /proc/self/fdinfo flags of fd (octal in the kernel's listing), or -1. */
long fd_flags(int fd);

#endif
