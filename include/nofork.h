/* nofork: start programs without copying the address space.
 *
 * A program to start is described by an nf_cmd (program, argv, envp, file
 * actions, attributes). nf_spawn compiles the cmd once into an immutable plan
 * and starts a child that interprets the plan in raw-syscall assembly on a
 * dedicated stack, then execs. The caller gets an nf_proc (pid + pidfd).
 *
 * Conventions:
 * - Every int-returning function returns 0 or a positive errno value. errno
 *   itself is never the way a result is reported.
 * - Bad input is rejected by the setter or by nf_spawn before any child exists.
 * - Setters may allocate; nf_spawn of an already-compiled cmd does not allocate,
 *   map or lock. A cmd may be spawned from several threads at once; it must not
 *   be changed while a spawn of it is in progress.
 * - Nothing the library opens is inheritable (every fd it creates is O_CLOEXEC).
 * - Thread cancellation: from a plain thread, nf_proc_wait is a cancellation
 *   point, as waitpid is, and so are nf_sleep_ms and nf_wait_fd (nanosleep,
 *   poll); when one acts on a cancel it has reaped and changed nothing. No
 *   other call is one, though libc calls inside them would be (nf_spawn reaps
 *   a failed child, nf_rt_stop joins threads): a cancel stays pending until
 *   the caller's next cancellation point, and an asynchronous cancel acts
 *   only as the call returns, so no child, fd or half-stopped runtime is left
 *   behind. Coroutines are not threads: inside one nothing is a cancellation
 *   point (waits park in the poller), and cancelling a runtime worker thread
 *   is not supported.
 */
#ifndef NOFORK_H
#define NOFORK_H

#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "nofork/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NF_API __attribute__((visibility("default")))
#else
#define NF_API
#endif

typedef struct nf_cmd nf_cmd;

/* A started process. pidfd is -1 where the kernel gives none. After a
 * successful nf_proc_wait the pid is reaped: do not signal it by number. */
typedef struct nf_proc {
	pid_t pid;
	int pidfd;
} nf_proc;

/* What a spawn step is: nofork/ops.h lists them all, with how each one's
 * error reads. Stored in nf_error.op; nf_error_format names it. */
enum nf_op_kind {
	NF_OP_NONE = 0,
#define NF_OP_ENUM_(name, fd, arg, path, what) NF_OP_##name,
	NF_OP_LIST(NF_OP_ENUM_)
#undef NF_OP_ENUM_
	NF_OP_KIND_COUNT
};

/* Why a spawn failed, filled by nf_spawn when it returns non-zero (if the
 * caller passed one). `err` equals nf_spawn's return value. `index` is the
 * position of the failing step in the plan (-1 for parent-side failures),
 * `op` its kind, `fd`/`arg`/`path` what it was acting on (-1 / "" if none).
 * path is never NULL and never truncated (paths of PATH_MAX or more are
 * refused earlier). It points into the cmd's compiled plan (or at a static
 * ""): it stays valid until that cmd is freed or changed by any nf_cmd_*
 * setter, whichever comes first; copy it to keep it longer. More spawns of
 * the unchanged cmd do not affect it. The record is 40 bytes (64-bit), so it
 * fits the smallest coroutine stacks. */
typedef struct nf_error {
	int err;
	int op;
	int index;
	int fd;
	long arg;
	int signal; /* killed by this signal before exec (err is then EINTR), else 0 */
	const char *path;
} nf_error;

/* A message buffer this large always holds nf_error_format's whole message:
 * a path (< PATH_MAX, 4096) and at most 128 characters more. */
#define NF_ERROR_MAX 4224

/* ---- describing a program ------------------------------------------------ */

/* Create a cmd that execs `path` exactly as given (no PATH search).
 * argv must be non-NULL (argv[0] conventionally the program name); envp NULL
 * means the caller's `environ` as it is at each spawn. argv and envp are
 * copied. EINVAL: NULL/empty path or NULL argv; ENAMETOOLONG: path ≥ PATH_MAX;
 * ENOMEM. */
NF_API int nf_cmd_new(nf_cmd **cmd, const char *path, char *const argv[], char *const envp[]);

/* Like nf_cmd_new, but `file` is searched with execvp's rules: a name with a
 * '/' is used as is; otherwise each element of PATH (taken from envp, or from
 * the caller's environment when the plan is compiled if envp is NULL; default
 * "/usr/local/bin:/usr/bin:/bin"; empty element = current directory) is tried
 * in order. EACCES is remembered and reported if nothing succeeds; ENOENT and
 * ENOTDIR move on; any other error stops the search. The search is prepared in
 * the parent: the child only tries execve on the precomputed candidates. A
 * name without '/' longer than NAME_MAX is refused with ENAMETOOLONG. */
NF_API int nf_cmd_newp(nf_cmd **cmd, const char *file, char *const argv[], char *const envp[]);

/* Free a cmd and its compiled plan. NULL is accepted. Must not race a spawn. */
NF_API void nf_cmd_free(nf_cmd *cmd);

/* Flags for nf_cmd_flags. */
/* When execve fails with ENOEXEC (no valid header, e.g. a script without #!),
 * run it as `/bin/sh file args...`, as execvp does. Off by default, as in
 * posix_spawnp. */
#define NF_ENOEXEC_SH 0x1u
/* No pidfd: proc.pidfd is -1 and waiting/killing use the pid, which is safe
 * only until the child is reaped. Saves the kernel's pidfd setup and teardown
 * per spawn (measured: bench/RESULTS.md, "Numbers behind design choices in
 * the code"); for callers that reap by pid, like posix_spawn's. */
#define NF_NO_PIDFD 0x2u

/* Set behaviour flags (a bitwise or of NF_* flags above; replaces previous
 * flags). EINVAL for unknown bits. */
NF_API int nf_cmd_flags(nf_cmd *cmd, unsigned flags);

/* ---- file actions: run in the child in the order they were added ---------- */

/* dup2(oldfd, newfd) in the child. oldfd == newfd clears close-on-exec.
 * EBADF for negative fds or fds ≥ RLIMIT_NOFILE. */
NF_API int nf_cmd_dup2(nf_cmd *cmd, int oldfd, int newfd);

/* open(path, flags, mode) in the child and place the result at `fd`.
 * EBADF bad fd, EINVAL empty path, ENAMETOOLONG path ≥ PATH_MAX. */
NF_API int nf_cmd_open(nf_cmd *cmd, int fd, const char *path, int flags, mode_t mode);

/* close(fd) in the child. Closing an fd that is not open fails the spawn with
 * EBADF (a mistake worth hearing about). */
NF_API int nf_cmd_close(nf_cmd *cmd, int fd);

/* chdir(path) / fchdir(fd) in the child. */
NF_API int nf_cmd_chdir(nf_cmd *cmd, const char *path);
NF_API int nf_cmd_fchdir(nf_cmd *cmd, int fd);

/* ---- the fd policy -------------------------------------------------------- */
/* By default the child gets exactly fds 0-2, every fd a file action produced
 * (dup2/open targets) and every fd named with nf_cmd_keep_fd; every other fd is
 * closed before exec (close_range, or /proc/self/fd where that is missing). */

/* Pass the parent's `fd` to the child under the same number, close-on-exec
 * cleared (applied before the file actions). EBADF for a bad fd number; the
 * spawn fails with EBADF if the fd is not open at spawn time (never is an fd
 * nofork opened for the spawn taken for it: see nf_spawn). */
NF_API int nf_cmd_keep_fd(nf_cmd *cmd, int fd);

/* POSIX inheritance instead: every fd without close-on-exec is inherited. */
NF_API int nf_cmd_inherit_all_fds(nf_cmd *cmd);

/* ---- attributes ------------------------------------------------------------ */

/* setsid() in the child, before the file actions. */
NF_API int nf_cmd_setsid(nf_cmd *cmd);

/* setpgid(0, pgid) in the child (0: a new group led by the child), before the
 * file actions. EINVAL for a negative pgid. */
NF_API int nf_cmd_setpgid(nf_cmd *cmd, pid_t pgid);

/* The signal mask the program starts with (default: the spawning thread's). */
NF_API int nf_cmd_sigmask(nf_cmd *cmd, const sigset_t *mask);

/* Signals reset to SIG_DFL in the child. Caught signals always are; this also
 * resets ignored ones. SIGKILL and SIGSTOP in the set are skipped (they are
 * always default). */
NF_API int nf_cmd_sigdefault(nf_cmd *cmd, const sigset_t *set);

/* ---- more actions (run in order with the file actions) ---------------------- */

/* Close every fd >= `fd` at this point of the action sequence (the glibc
 * addclosefrom_np semantics), independent of the fd policy. */
NF_API int nf_cmd_closefrom(nf_cmd *cmd, int fd);

/* Make the child's process group the foreground group of the terminal open
 * at `tty_fd` (TIOCSPGRP, with SIGTTOU held off so a background caller works).
 * The group is the one nf_cmd_setpgid gave the child, else its current one. */
NF_API int nf_cmd_foreground(nf_cmd *cmd, int tty_fd);

/* Give the child a new session (implies nf_cmd_setsid) and make the terminal
 * open at `fd` its controlling terminal (TIOCSCTTY). To detach a child from
 * the caller's terminal, nf_cmd_setsid alone is enough. */
NF_API int nf_cmd_ctty(nf_cmd *cmd, int fd);

/* ---- more attributes (applied at fixed points, see below) --------------------- */
/* Order in the child: caught signals reset (legacy clone), cgroup (fallback), sigdefault,
 * sched, setsid, setpgid, nice, ioprio, rlimits, umask, the actions in the order
 * added (after nf_cmd_keep_fd's), closing of unlisted fds, setgroups, setgid,
 * setuid, pdeathsig, no_new_privs, sigmask, exec. So privileged files can be
 * opened before the ids are dropped, and pdeathsig survives dropping them
 * (the kernel clears it when the euid/egid changes). */

/* Supplementary groups, gid and uid of the child (raw syscalls, applied in
 * that order, each real/effective/saved). EINVAL for (uid_t)-1 / (gid_t)-1;
 * E2BIG for more than NGROUPS_MAX groups. */
NF_API int nf_cmd_setgroups(nf_cmd *cmd, size_t n, const gid_t *groups);
NF_API int nf_cmd_setgid(nf_cmd *cmd, gid_t gid);
NF_API int nf_cmd_setuid(nf_cmd *cmd, uid_t uid);

/* umask(mask) in the child. EINVAL for bits outside 0777. */
NF_API int nf_cmd_umask(nf_cmd *cmd, mode_t mask);

/* prlimit64 in the child; may be called for several resources (the last call
 * per resource wins). EINVAL for an unknown resource or cur > max. */
NF_API int nf_cmd_rlimit(nf_cmd *cmd, int resource, const struct rlimit *lim);

/* setpriority(PRIO_PROCESS, 0, value): the child's absolute nice value
 * (-20..19). EINVAL outside that range. */
NF_API int nf_cmd_nice(nf_cmd *cmd, int value);

/* ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio) in the child, right after the
 * nice value: its I/O scheduling class and level, IOPRIO_PRIO_VALUE(class,
 * level) of <linux/ioprio.h> (class NONE 0, RT 1, BE 2, IDLE 3 in bits 13-15;
 * level 0-7). EINVAL for another class, a level above 7, hint bits, or a
 * level with class NONE. The spawn fails with EPERM where the RT class
 * needs CAP_SYS_ADMIN or CAP_SYS_NICE the caller lacks. */
NF_API int nf_cmd_ioprio(nf_cmd *cmd, int ioprio);

/* sched_setscheduler(0, policy, {priority}); policy -1 keeps the policy and
 * only sets the priority (sched_setparam). EINVAL for an unknown policy. */
NF_API int nf_cmd_sched(nf_cmd *cmd, int policy, int priority);

/* PR_SET_PDEATHSIG: the child gets `sig` when the spawning thread exits. If the
 * parent is already gone when it is set, the child exits (status 127, ESRCH)
 * rather than run orphaned. sig 0 clears. */
NF_API int nf_cmd_pdeathsig(nf_cmd *cmd, int sig);

/* PR_SET_NO_NEW_PRIVS: exec can never grant privileges (setuid bits, caps). */
NF_API int nf_cmd_no_new_privs(nf_cmd *cmd);

/* Start the child in the cgroup v2 directory open at `cgroup_fd`
 * (CLONE_INTO_CGROUP; where clone3 cannot, the child writes itself into
 * cgroup.procs before anything else; if neither works the spawn fails). */
NF_API int nf_cmd_cgroup(nf_cmd *cmd, int cgroup_fd);

/* Exec the file open at `fd` (execveat(fd, "", AT_EMPTY_PATH)) instead of the
 * cmd's path, e.g. a memfd. The fd must stay open until nf_spawn returns; as
 * with fexecve, a script opened close-on-exec fails with ENOENT (its
 * interpreter could not reopen it), so open scripts without O_CLOEXEC. */
NF_API int nf_cmd_exec_fd(nf_cmd *cmd, int fd);

/* Search this colon-separated list instead of envp's PATH (nf_cmd_newp only;
 * glibc's posix_spawnp searches the caller's PATH, not the child's). */
NF_API int nf_cmd_search_path(nf_cmd *cmd, const char *path_list);

/* ---- starting and handling processes ------------------------------------------ */

/* Start the program described by cmd. On success fills *proc and returns 0.
 * On failure returns the errno (of the failing child step, or of the parent's
 * clone), the child (if any) is already reaped, *proc is {-1,-1}, and *err (if
 * non-NULL) says which step failed. The child's exit status on a failed step is
 * 127. From a thread, the caller sleeps until the child exec'd or failed.
 *
 * Signals. A child killed by a signal before it reached execve fails the spawn
 * with EINTR (err->signal says which), and so does a signal that reached it
 * while it ran its plan (every signal is blocked there) and that would kill it
 * once its mask is lifted for the exec: pending, not blocked by the program's
 * mask, and at SIG_DFL with a fatal default (err->op is then NF_OP_SIGMASK).
 * One window stays: a signal that arrives within the child's last two syscalls
 * (after that look, before execve), or a seccomp filter that kills execve
 * itself, ends the child before the program runs and cannot be told from a
 * program that died at its first instruction: nf_spawn then returns 0 and the
 * wait status shows the signal. A job-control stop (SIGTSTP, SIGTTIN,
 * SIGTTOU, e.g. ^Z to the group the child joined) that reaches the child
 * before its exec does not stop it there: the program gets it right after
 * the exec.
 *
 * Fds. The only fd a spawn opens is the pidfd, which the kernel puts at the
 * lowest free number of the caller's table; the child drops its copy before
 * any action runs, so with the caller's fd 0 closed a keep_fd(0) or
 * dup2(0, n) fails with EBADF, as for any fd that is not open. (An fd another
 * thread opens meanwhile, including the pidfd of that thread's own spawn, is
 * open in the caller's table and passes like any other.)
 *
 * Seccomp. A filter that fails a syscall with an errno is handled like the
 * kernel lacking it. One that kills instead (SECCOMP_RET_KILL_PROCESS,
 * KILL_THREAD, TRAP) a child step that has a fallback (close_range, unshare,
 * rt_sigpending) is remembered, and the spawn is made again the other way
 * (once per process); a step without one fails the spawn with EINTR,
 * err->signal SIGSYS and err naming the step. A filter that kills clone3 in
 * the caller kills the caller, as it does glibc's posix_spawn.
 *
 * Stack: nf_spawn fits the small stacks of other coroutine libraries. On
 * x86_64 (gcc 12, glibc 2.36) the first spawn of a fresh cmd that fails, with
 * its nf_error on the caller's stack and nf_error_format into a 256-byte
 * buffer, took 728 bytes of the caller's stack (840 with a PATH search), the
 * rendering alone 192, a spawn+wait of a compiled cmd 432;
 * tests/test_small_stack.c holds them to 4 KiB on an 8 KiB ucontext stack.
 * libnofork.so is bound at load (-z now); a program bound lazily also runs
 * the dynamic linker's resolver on its first call of each nofork function
 * (~2.5 KiB more here, with AVX-512 state): link it with -z now, or make the
 * first calls on a larger stack. */
NF_API int nf_spawn(const nf_cmd *cmd, nf_proc *proc, nf_error *err);

/* Wait for the process to end: status gets a waitpid-style status (use
 * WIFEXITED etc.; may be NULL). timeout_ms -1 waits forever, 0 polls.
 * ETIMEDOUT leaves the child running and the handle usable. ECHILD if it was
 * already reaped. From a plain thread a cancellation point: a cancelled wait
 * has reaped nothing, and the handle still works. */
NF_API int nf_proc_wait(nf_proc *proc, int *status, int timeout_ms);

/* Send sig through the pidfd (never hits a recycled pid). ESRCH if reaped. */
NF_API int nf_proc_kill(nf_proc *proc, int sig);

/* Close the pidfd. Does not wait and does not kill; a child not yet waited
 * for stays a zombie until someone reaps it. */
NF_API void nf_proc_release(nf_proc *proc);

/* Render err as one line, e.g. "open /x/y as fd 1: No such file or directory"
 * (the error text is not translated). Writes straight into buf, with no
 * buffer of its own; a message longer than len - 1 is truncated
 * (NF_ERROR_MAX always suffices). Always NUL-terminates (if len > 0) and
 * returns buf. Call it while err's cmd is unchanged (see nf_error). */
NF_API const char *nf_error_format(const nf_error *err, char *buf, size_t len);

/* ---- the M:N runtime -------------------------------------------------------- */
/* Coroutines on a few worker threads. Inside a coroutine, nf_spawn parks the
 * coroutine while one of the runtime's spawn helper threads (at most 4 per
 * worker, made on demand, gone at nf_rt_stop; more spawns at once queue)
 * sleeps in clone until the child exec'd or failed; or, while another worker
 * idles and no coroutine is queued on this one, its own worker sleeps in
 * clone as a thread's would (one worker alone never does). nf_proc_wait
 * parks the coroutine on the pidfd. Either way the spawn's child is the one
 * a thread's spawn makes; its parent thread (for nf_cmd_pdeathsig) is the
 * helper or the worker, both of which end at nf_rt_stop. Outside the runtime
 * these calls behave as documented above. */

/* Each coroutine runs on a 64 KiB pooled stack (NF_STACK_DEFAULT) with a
 * 68 KiB guard region below it: running off the end prints "nofork: coroutine stack
 * overflow (coroutine <id>) ..." to stderr and aborts the process (SIGABRT).
 * Workers are ordinary threads, so errno, malloc and all of libc work inside
 * coroutines; a blocking call (read, waitpid, ...) blocks the whole worker,
 * so wait with nf_wait_fd instead. A coroutine may resume on another worker
 * after any parking call: do not keep the address of a thread-local variable
 * across one. Each coroutine has its own FP control modes (rounding, FTZ),
 * starting from those of the thread that called nf_rt_start. Called from a
 * plain thread, every call below either does the thread equivalent
 * (documented per call) or returns an error. None of them may be called from
 * a signal handler. */

/* Start the runtime with `workers` threads (0: one per CPU). EBUSY if
 * running; EINVAL if workers < 0; ENOMEM / EAGAIN when threads or stacks
 * cannot be had; ENOTSUP when the calling thread runs with a CET shadow
 * stack (the coroutine switch moves between stacks without call and ret,
 * which a shadow stack forbids). The runtime can be started again after
 * nf_rt_stop. Its own descriptors (an epoll and an eventfd, and the
 * duplicate nf_wait_fd makes when two coroutines wait on one fd) are
 * close-on-exec and never take 0-2, even when the caller closed its stdio.
 *
 * fork() while the runtime runs (from any thread, or from a coroutine):
 * in the child the runtime is as if never started. nf_go returns ESRCH,
 * nf_rt_stop returns at once, nf_yield / nf_sleep_ms / nf_wait_fd /
 * nf_spawn / nf_proc_wait do what they do from a plain thread, and
 * nf_rt_start works again. Lost in the child, as fork loses every thread
 * but the caller: the workers, every coroutine that was alive (none of them
 * ever runs there; their stacks stay mapped, unused) and whatever they were
 * doing, e.g. a wait group they would have finished. A coroutine that
 * called fork continues in the child as the plain thread it now is
 * (nf_rt_in_coroutine() is 0), still on its 64 KiB coroutine stack; if its
 * function returns there, the child exits with status 0, as when the last
 * thread returns from its start function. Not covered: _Fork() and vfork(),
 * which run no fork handlers; a child of those must only exec or _exit. */
NF_API int nf_rt_start(int workers);

/* Start a coroutine running fn(arg), from a coroutine or any thread. EINVAL
 * if fn is NULL; ESRCH if the runtime is not running; ENOMEM when no stack
 * can be had (memory, or the process's mapping limit vm.max_map_count). */
NF_API int nf_go(void (*fn)(void *), void *arg);

/* Let other coroutines run. Outside a coroutine: sched_yield(). */
NF_API void nf_yield(void);

/* Sleep ms milliseconds, parking the coroutine (outside one: nanosleep).
 * 0 yields. EINVAL for ms < 0; ENOMEM if the timer cannot be queued. */
NF_API int nf_sleep_ms(int ms);

/* Wait until fd is ready for `events` (POLLIN/POLLOUT), parking the coroutine
 * (outside one: poll()). timeout_ms -1 = forever; ETIMEDOUT on timeout.
 * Returns 0 also when the fd reports an error or hang-up (as poll does: the
 * next read or write tells which). Several coroutines may wait on one fd.
 * EBADF for a bad fd. Do not close the fd while a coroutine waits on it. */
NF_API int nf_wait_fd(int fd, short events, int timeout_ms);

/* Wait for every coroutine to finish (including ones they start meanwhile),
 * then stop the workers. Call from a plain thread: from a coroutine it
 * returns at once and stops nothing (it would wait for itself). */
NF_API void nf_rt_stop(void);

/* A wait group: a counter that waiters block on until it is zero, e.g. a
 * supervisor waiting for the coroutines it started. Initialise with
 * NF_WG_INIT or nf_wg_init; the fields are private. Waiting parks a
 * coroutine, or sleeps a plain thread (futex). A waiter may free the nf_wg
 * as soon as nf_wg_wait returns. */
typedef struct nf_wg {
	int count;
	int lock;
	unsigned seq;
	int thread_waiters;
	void *waiters;
} nf_wg;
#define NF_WG_INIT { 0, 0, 0, 0, NULL }

/* Set *wg to an empty wait group. */
NF_API void nf_wg_init(nf_wg *wg);

/* Add n (may be negative) to the count; at zero every waiter is released.
 * EINVAL (and no change) if the count would become negative. */
NF_API int nf_wg_add(nf_wg *wg, int n);

/* nf_wg_add(wg, -1). */
NF_API int nf_wg_done(nf_wg *wg);

/* Return once the count is zero (at once if it is). */
NF_API void nf_wg_wait(nf_wg *wg);

#ifdef __cplusplus
}
#endif
#endif
