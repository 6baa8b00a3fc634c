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
 *   point, as waitpid is, and so are nf_proc_waitid, nf_proc_wait_any,
 *   nf_proc_stop (until it reaps), nf_sleep_ms and nf_wait_fd (nanosleep,
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

#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
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
typedef struct nf_error nf_error; /* why a spawn failed: see "errors" below */

/* ==== describing a program ================================================
 * A cmd holds what to run and how; the sections below add to it. Every
 * nf_cmd_* setter returns EINVAL for a NULL cmd (or the error of another
 * argument it checks first), and one that fails leaves the cmd as it was. A setter's errors are those of the call itself; the
 * errors a spawn of the cmd can then fail with are listed as "Spawn:". */

/* Create a cmd that execs `path` exactly as given (no PATH search).
 * argv must be non-NULL (argv[0] conventionally the program name); envp NULL
 * means the caller's `environ` as it is at each spawn. argv and envp are
 * copied. On failure *cmd is NULL.
 * EINVAL: NULL cmd, NULL or empty path, or NULL argv; ENAMETOOLONG: path
 * ≥ PATH_MAX; ENOMEM.
 * Spawn: the errno of execve(2) of path (EXEC step, err->path the path). */
NF_API int nf_cmd_new(nf_cmd **cmd, const char *path, char *const argv[], char *const envp[]);

/* Like nf_cmd_new, but `file` is searched with execvp's rules: a name with a
 * '/' is used as is; otherwise each element of PATH (taken from envp, or from
 * the caller's environment when the plan is compiled if envp is NULL, with
 * the cmd's environment edits applied: see nf_cmd_setenv; default
 * "/usr/local/bin:/usr/bin:/bin"; empty element = current directory) is tried
 * in order. EACCES is remembered and reported if nothing succeeds; ENOENT,
 * ENOTDIR, ESTALE, ENODEV and ETIMEDOUT move on; any other error stops the
 * search. The search is prepared in the parent: the child only tries execve
 * on the precomputed candidates (an element that would make a path of
 * PATH_MAX or more is left out).
 * EINVAL, ENAMETOOLONG, ENOMEM as nf_cmd_new; also ENAMETOOLONG for a name
 * without '/' longer than NAME_MAX.
 * Spawn: the EXEC step's execve(2) errno: EACCES if a candidate gave it and
 * none succeeded, else the error that stopped the search, else the last
 * candidate's (ENOENT if there was no candidate); err->path is the
 * candidate it belongs to. */
NF_API int nf_cmd_newp(nf_cmd **cmd, const char *file, char *const argv[], char *const envp[]);

/* Free a cmd and its compiled plan. NULL is accepted. Must not race a spawn. */
NF_API void nf_cmd_free(nf_cmd *cmd);

/* Environment edits, applied in order on top of the cmd's envp (or of the
 * caller's environ when envp is NULL). nf_cmd_setenv sets name to value:
 * the name's first entry is replaced in place and its later duplicates are
 * dropped; a name not there is added at the end (names added in the order
 * of their first edit). nf_cmd_unsetenv removes every entry of name.
 * nf_cmd_clearenv starts from an empty environment: the base and every
 * earlier edit are discarded, later edits apply to the empty one. So each
 * name's last edit decides: setenv then unsetenv leaves it out. Name and
 * value are copied. PATH search (nf_cmd_newp) uses the edited PATH (none,
 * after an unset or a clearenv: the default).
 * With an envp (or after a clearenv) the edits are merged into the plan
 * once. With envp NULL each spawn applies them to environ as it is at that
 * spawn, as setenv(3) then posix_spawn would: a caller's later setenv shows
 * in the next spawn. That spawn still allocates nothing: the merged array
 * lives at the top of the child's pooled stack (whose size class grows with
 * environ: a stack is mapped only when the pool has none of that class
 * yet); environ is scanned once per spawn, a string compare only for
 * entries whose first byte starts an edited name. As with posix_spawn, do
 * not change environ in another thread during a spawn (entries added
 * meanwhile may be missed, an array setenv frees meanwhile read).
 * nf_cmd_setenv: EINVAL: NULL cmd, NULL or empty name, a name containing
 * '=', or NULL value; ENOMEM. nf_cmd_unsetenv: EINVAL: NULL cmd, NULL or
 * empty name, a name containing '='; ENOMEM. nf_cmd_clearenv: EINVAL: NULL
 * cmd.
 * Spawn: with envp NULL, E2BIG [NF_OP_EXEC, index -1, err->path the first
 * exec candidate, or err->fd the nf_cmd_exec_fd fd] when environ with the
 * edits outgrows the largest child stack (8 MiB: about a million
 * variables, far past what execve takes), before anything is cloned; else
 * execve(2)'s errors as for any cmd (E2BIG for an environment too large
 * for the kernel). */
NF_API int nf_cmd_setenv(nf_cmd *cmd, const char *name, const char *value);
NF_API int nf_cmd_unsetenv(nf_cmd *cmd, const char *name);
NF_API int nf_cmd_clearenv(nf_cmd *cmd);

/* Flags for nf_cmd_flags. */
/* When execve fails with ENOEXEC (no valid header, e.g. a script without #!),
 * run it as `/bin/sh file args...`, as execvp does. Off by default, as in
 * posix_spawnp. A failure of that execve is the spawn's error. */
#define NF_ENOEXEC_SH 0x1u
/* No pidfd: proc.pidfd is -1 and waiting/killing use the pid, which is safe
 * only until the child is reaped. Saves the kernel's pidfd setup and teardown
 * per spawn (measured: bench/RESULTS.md, "Numbers behind design choices in
 * the code"); for callers that reap by pid, like posix_spawn's. */
#define NF_NO_PIDFD 0x2u

/* Set behaviour flags (a bitwise or of NF_* flags above; replaces previous
 * flags). EINVAL: NULL cmd or unknown bits. */
NF_API int nf_cmd_flags(nf_cmd *cmd, unsigned flags);

/* Search this colon-separated list instead of envp's PATH (nf_cmd_newp only;
 * glibc's posix_spawnp searches the caller's PATH, not the child's).
 * EINVAL: NULL cmd or NULL path_list; ENOMEM. */
NF_API int nf_cmd_search_path(nf_cmd *cmd, const char *path_list);

/* Exec the file open at `fd` (execveat(fd, "", AT_EMPTY_PATH)) instead of the
 * cmd's path, e.g. a memfd. The fd must stay open until nf_spawn returns; as
 * with fexecve, a script opened close-on-exec fails with ENOENT (its
 * interpreter could not reopen it), so open scripts without O_CLOEXEC. The
 * fd survives the fd policy.
 * EBADF: fd negative or ≥ the RLIMIT_NOFILE soft limit; EINVAL: NULL cmd.
 * Spawn: the errno of execveat(2) (EXEC step, err->fd the fd). */
NF_API int nf_cmd_exec_fd(nf_cmd *cmd, int fd);

/* ==== ordered file actions ================================================
 * These run in the child in the order they were added (after the fds of
 * nf_cmd_keep_fd are made inheritable, before the fd policy closes the
 * rest; see the table under "process attributes"). "A bad fd number" below
 * is one that is negative or ≥ the caller's RLIMIT_NOFILE soft limit at the
 * time of the call: the setter refuses it with EBADF. Each adds one step,
 * so each may fail with ENOMEM. */

/* dup2(oldfd, newfd) in the child. oldfd == newfd clears close-on-exec.
 * EBADF: a bad fd number; EINVAL; ENOMEM.
 * Spawn: the errno of dup3(2), or of fcntl(F_SETFD) when oldfd == newfd
 * (EBADF if oldfd is not open). */
NF_API int nf_cmd_dup2(nf_cmd *cmd, int oldfd, int newfd);

/* open(path, flags, mode) in the child and place the result at `fd` (a file
 * that lands elsewhere is moved there with dup3 and its first fd closed).
 * EBADF: a bad fd number; EINVAL: NULL cmd, NULL or empty path;
 * ENAMETOOLONG: path ≥ PATH_MAX; ENOMEM.
 * Spawn: the errno of openat(2), or of the dup3(2) that moves it. */
NF_API int nf_cmd_open(nf_cmd *cmd, int fd, const char *path, int flags, mode_t mode);

/* A new pipe at every spawn, one end at the child's `child_fd`, the other
 * kept by the parent in the nf_proc (nf_proc_fd, nf_proc_take_fd; released
 * by nf_proc_release). The plan names only a slot: each spawn makes its own
 * pipe and puts its end in its own run record, so one compiled cmd with
 * pipes can be spawned by any number of threads and coroutines at once.
 * The pipes are connected before the cmd's other file actions, whatever
 * the order they were added in (as a shell connects a pipeline before a
 * command's redirections: nf_cmd_dup2(cmd, 1, 2) then sends stderr down a
 * piped stdout, and nf_cmd_closefrom cannot close a pipe before it is in
 * place). Both ends are close-on-exec in the caller's table (the child's is
 * dup'ed to child_fd without it), and neither is ever at 0, 1 or 2 there
 * (a caller with stdio closed keeps it closed). A fork() by another thread
 * between the pipe's creation and the end of nf_spawn copies the ends, as
 * with any pipe (its copy of the write end delays EOF until it execs or
 * exits).
 * direction: NF_PIPE_TO_CHILD, the child reads (stdin), the parent writes;
 * NF_PIPE_FROM_CHILD, the child writes (stdout), the parent reads.
 * EINVAL: NULL cmd or another direction; EBADF: a bad fd number; EEXIST:
 * child_fd already has a pipe; ENOSPC: the cmd has NF_PROC_PIPES pipes
 * already; ENOMEM.
 * Spawn: the errno of pipe2(2) or fcntl(F_DUPFD_CLOEXEC) in the parent
 * (EMFILE, ENFILE) [NF_OP_PIPE, err->index -1], or of the child's dup3(2)
 * [NF_OP_PIPE]. */
#define NF_PIPE_TO_CHILD 0
#define NF_PIPE_FROM_CHILD 1
NF_API int nf_cmd_pipe(nf_cmd *cmd, int child_fd, int direction);

/* /dev/null at child_fd: opened read-only for fd 0, write-only for 1 and 2,
 * read-write otherwise (nf_cmd_open's errors, and its spawn errors). */
NF_API int nf_cmd_devnull(nf_cmd *cmd, int child_fd);

/* close(fd) in the child. Closing an fd that is not open fails the spawn with
 * EBADF (a mistake worth hearing about).
 * EBADF: a bad fd number; EINVAL; ENOMEM.
 * Spawn: the errno of close(2). */
NF_API int nf_cmd_close(nf_cmd *cmd, int fd);

/* chdir(path) / fchdir(fd) in the child.
 * nf_cmd_chdir: EINVAL: NULL cmd, NULL or empty path; ENAMETOOLONG: path
 * ≥ PATH_MAX; ENOMEM. nf_cmd_fchdir: EBADF: a bad fd number; EINVAL; ENOMEM.
 * Spawn: the errno of chdir(2) / fchdir(2). */
NF_API int nf_cmd_chdir(nf_cmd *cmd, const char *path);
NF_API int nf_cmd_fchdir(nf_cmd *cmd, int fd);

/* Close every fd >= `fd` at this point of the action sequence (the glibc
 * addclosefrom_np semantics), independent of the fd policy (close_range;
 * where that is missing or refused with EPERM, the fds listed in
 * /proc/self/fd; without /proc, every number up to the fd limit).
 * EBADF: fd < 0 (a value past the fd limit is accepted and closes nothing);
 * EINVAL; ENOMEM.
 * Spawn: the errno of close_range(2) other than ENOSYS/EPERM, or of
 * getdents64(2)/lseek(2) on /proc/self/fd. */
NF_API int nf_cmd_closefrom(nf_cmd *cmd, int fd);

/* Make the child's process group the foreground group of the terminal open
 * at `tty_fd` (TIOCSPGRP, with SIGTTOU held off so a background caller works:
 * every signal is blocked in the child until its exec). The group is the one
 * nf_cmd_setpgid gave the child, else its current one.
 * EBADF: a bad fd number; EINVAL; ENOMEM.
 * Spawn: the errno of ioctl(TIOCSPGRP) (e.g. ENOTTY: not a terminal, or not
 * the child's controlling terminal; EPERM: the group is in another session),
 * or of getpgid(2). */
NF_API int nf_cmd_foreground(nf_cmd *cmd, int tty_fd);

/* Give the child a new session (implies nf_cmd_setsid) and make the terminal
 * open at `fd` its controlling terminal (TIOCSCTTY). To detach a child from
 * the caller's terminal, nf_cmd_setsid alone is enough.
 * EBADF: a bad fd number; EINVAL; ENOMEM.
 * Spawn: the errno of setsid(2) (SETSID step) or of ioctl(TIOCSCTTY) (e.g.
 * ENOTTY; EPERM: the terminal is another session's). */
NF_API int nf_cmd_ctty(nf_cmd *cmd, int fd);

/* ==== the fd policy =======================================================
 * By default the child gets exactly fds 0-2, every fd a file action produced
 * (dup2/open targets), the nf_cmd_exec_fd fd and every fd named with
 * nf_cmd_keep_fd; every other fd is closed before exec (close_range, or
 * /proc/self/fd where that is missing, or every number up to the fd limit
 * where /proc is missing too). */

/* Pass the parent's `fd` to the child under the same number, close-on-exec
 * cleared (applied before the file actions). Naming an fd twice is the same
 * as once. The spawn fails with EBADF if the fd is not open at spawn time
 * (never is an fd nofork opened for the spawn taken for it: see nf_spawn).
 * EBADF: negative or ≥ the RLIMIT_NOFILE soft limit; EINVAL; ENOMEM.
 * Spawn: the errno of fcntl(F_SETFD) (KEEP_FD step). */
NF_API int nf_cmd_keep_fd(nf_cmd *cmd, int fd);

/* POSIX inheritance instead: every fd without close-on-exec is inherited
 * (nf_cmd_keep_fd still clears close-on-exec). EINVAL: NULL cmd. */
NF_API int nf_cmd_inherit_all_fds(nf_cmd *cmd);

/* ==== process attributes ==================================================
 * Each attribute is applied once, at a fixed point. The whole sequence in
 * the child, as lib/plan.c lays it out (each numbered step is left out when
 * not asked for):
 *
 *   (clone)  clone3 places the child in its cgroup (nf_cmd_cgroup) and
 *            its new namespaces (nf_cmd_namespaces), and resets every
 *            caught signal to SIG_DFL (CLONE_CLEAR_SIGHAND)
 *    1  the legacy clone only: every caught signal reset to SIG_DFL
 *       (ignored ones stay ignored)                        SIGRESET
 *    2  with the default fd policy: every fd above the highest one the
 *       plan names (at least 2) is closed at once, by the
 *       close_range(CLOSE_RANGE_UNSHARE) that also takes the child off the
 *       caller's fd table where it started on it (else unshare(CLONE_FILES));
 *       then the child closes its copy of the caller's pidfd. A failure
 *       here is not reported (step 16 closes the rest, or nf_spawn makes
 *       the spawn again without sharing the table); only a signal that
 *       kills the child here is (EINTR)                CLOSE_FDS
 *    3  join the cgroup, only where clone3 could not
 *       place the child                 nf_cmd_cgroup      CGROUP
 *   3a  wait for the parent to write the id maps of the new user
 *       namespace (setgroups, uid_map, gid_map)
 *                                       nf_cmd_uid_map,
 *                                       nf_cmd_gid_map     ID_MAP
 *   3b  hostname                        nf_cmd_hostname    HOSTNAME
 *   3c  with a new mount namespace: "/" made recursively private, then
 *       the mounts, directories and symlinks in the order added
 *                                       nf_cmd_mount,
 *                                       nf_cmd_mkdir,
 *                                       nf_cmd_symlink     MOUNT MKDIR SYMLINK
 *   3d  the new root, and chdir("/")    nf_cmd_chroot      CHROOT
 *    4  signals to SIG_DFL              nf_cmd_sigdefault  SIGDEFAULT
 *    5  scheduler                       nf_cmd_sched       SCHED
 *    6  CPU affinity                    nf_cmd_affinity    AFFINITY
 *    7  new session                     nf_cmd_setsid,
 *                                       nf_cmd_ctty        SETSID
 *    8  process group                   nf_cmd_setpgid     SETPGID
 *    9  nice value                      nf_cmd_nice        NICE
 *   10  I/O priority                    nf_cmd_ioprio      IOPRIO
 *   11  OOM score adjustment            nf_cmd_oom_score_adj OOM_SCORE_ADJ
 *   12  resource limits, in the order of their RLIMIT_
 *       numbers                         nf_cmd_rlimit      RLIMIT
 *   13  umask                           nf_cmd_umask       UMASK
 *   14  kept fds, in the order named    nf_cmd_keep_fd     KEEP_FD
 *   15  the file actions, in the order added (dup2, open, close, chdir,
 *       fchdir, closefrom, foreground, ctty's TIOCSCTTY)   DUP2 ... CTTY
 *   16  every fd not kept is closed     (unless
 *                                       inherit_all_fds)   CLOSE_FDS
 *   17  keep-caps, then the bounding set
 *       shrunk                          nf_cmd_capabilities KEEPCAPS, CAPBSET
 *   18  supplementary groups            nf_cmd_setgroups   SETGROUPS
 *   19  gid                             nf_cmd_setgid      SETGID
 *   20  uid                             nf_cmd_setuid      SETUID
 *   21  permitted, effective, inheritable
 *       sets, then the ambient set      nf_cmd_capabilities CAPSET, AMBIENT
 *   22  parent-death signal             nf_cmd_pdeathsig   PDEATHSIG
 *   23  no_new_privs                    nf_cmd_no_new_privs NO_NEW_PRIVS
 *   24  Landlock ruleset enforced       nf_cmd_landlock    LANDLOCK
 *   25  job-control stops caught until the exec, a pending fatal
 *       signal checked for, then the
 *       signal mask                     nf_cmd_sigmask     SIGMASK
 *   26  seccomp filter installed: the last syscall
 *       before the exec                 nf_cmd_seccomp     SECCOMP
 *   27  execve of each candidate, or
 *       execveat of the fd              nf_cmd_exec_fd     EXEC
 *
 * So privileged files can be opened before the ids are dropped, and
 * pdeathsig survives dropping them (the kernel clears it when the euid/egid
 * changes). The capabilities are split around the ids: the bounding set
 * needs CAP_SETPCAP in the effective set, which setresuid to a non-zero uid
 * clears, and the ambient set, which it clears, can only be raised after
 * it. The seccomp filter comes last so that no earlier step is filtered:
 * after it the child makes no syscall but execve/execveat (the plan holds
 * the SECCOMP op right before EXEC; the EXEC op installs its filter after
 * the signal mask). The right column is the op kind (NF_OP_<kind>,
 * nofork/ops.h) a failure of the step reports in nf_error.op. The
 * posix_spawn family (nofork/spawn.h) adds steps of its own that no nf_cmd
 * setter makes: glibc's internal signals ignored (after 4), RESETIDS (after
 * 8) and a forced failure (after 24). */

/* setsid() in the child, before the file actions (step 7). EINVAL: NULL cmd.
 * Spawn: the errno of setsid(2). */
NF_API int nf_cmd_setsid(nf_cmd *cmd);

/* setpgid(0, pgid) in the child (0: a new group led by the child), before the
 * file actions (step 8). EINVAL: NULL cmd or a negative pgid.
 * Spawn: the errno of setpgid(2) (e.g. EPERM for a group in another
 * session, or with nf_cmd_setsid/nf_cmd_ctty: a session leader cannot
 * change its group). */
NF_API int nf_cmd_setpgid(nf_cmd *cmd, pid_t pgid);

/* The signal mask the program starts with (default: the spawning thread's).
 * EINVAL: NULL cmd or NULL mask.
 * Spawn: EINTR when a signal the mask lets through is pending with a fatal
 * default (see nf_spawn); else the errno of rt_sigaction(2) or
 * rt_sigprocmask(2) (err->arg the signal for rt_sigaction). */
NF_API int nf_cmd_sigmask(nf_cmd *cmd, const sigset_t *mask);

/* Signals reset to SIG_DFL in the child. Caught signals always are; this also
 * resets ignored ones. SIGKILL and SIGSTOP in the set are skipped (they are
 * always default). EINVAL: NULL cmd or NULL set.
 * Spawn: the errno of rt_sigaction(2) (err->arg the signal). */
NF_API int nf_cmd_sigdefault(nf_cmd *cmd, const sigset_t *set);

/* Supplementary groups, gid and uid of the child (raw syscalls, applied in
 * that order, each real/effective/saved).
 * nf_cmd_setgroups: EINVAL: NULL cmd, or n > 0 with NULL groups; E2BIG:
 * more than NGROUPS_MAX groups; ENOMEM. nf_cmd_setgid / nf_cmd_setuid:
 * EINVAL: NULL cmd or (gid_t)-1 / (uid_t)-1.
 * Spawn: the errno of setgroups(2) / setresgid(2) / setresuid(2) (e.g.
 * EPERM without CAP_SETGID / CAP_SETUID); err->arg the number of groups /
 * the id. */
NF_API int nf_cmd_setgroups(nf_cmd *cmd, size_t n, const gid_t *groups);
NF_API int nf_cmd_setgid(nf_cmd *cmd, gid_t gid);
NF_API int nf_cmd_setuid(nf_cmd *cmd, uid_t uid);

/* umask(mask) in the child. EINVAL: NULL cmd or bits outside 0777.
 * Spawn: umask(2) cannot fail. */
NF_API int nf_cmd_umask(nf_cmd *cmd, mode_t mask);

/* prlimit64 in the child; may be called for several resources (the last call
 * per resource wins). EINVAL: NULL cmd or lim, an unknown resource, or
 * cur > max; ENOMEM (the first call on a cmd allocates the table).
 * Spawn: the errno of prlimit64(2) (e.g. EPERM: raising a hard limit
 * without CAP_SYS_RESOURCE; EINVAL: RLIMIT_NOFILE above fs.nr_open). */
NF_API int nf_cmd_rlimit(nf_cmd *cmd, int resource, const struct rlimit *lim);

/* setpriority(PRIO_PROCESS, 0, value): the child's absolute nice value
 * (-20..19). EINVAL: NULL cmd or a value outside that range.
 * Spawn: the errno of setpriority(2) (EACCES: below what RLIMIT_NICE allows
 * without CAP_SYS_NICE). */
NF_API int nf_cmd_nice(nf_cmd *cmd, int value);

/* ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio): the child's I/O scheduling
 * class and level, IOPRIO_PRIO_VALUE(class, level) of <linux/ioprio.h>
 * (class NONE 0, RT 1, BE 2, IDLE 3 in bits 13-15; level 0-7). EINVAL: NULL
 * cmd, another class, a level above 7, hint bits, or a level with class
 * NONE. Spawn: the errno of ioprio_set(2) (EPERM: the RT class without
 * CAP_SYS_ADMIN or CAP_SYS_NICE). */
NF_API int nf_cmd_ioprio(nf_cmd *cmd, int ioprio);

/* sched_setscheduler(0, policy, {priority}); policy -1 keeps the policy and
 * only sets the priority (sched_setparam). EINVAL: NULL cmd or a policy
 * other than -1, SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE
 * (the priority is the kernel's to check).
 * Spawn: the errno of sched_setscheduler(2) / sched_setparam(2) (EINVAL: a
 * priority outside the policy's range; EPERM). */
NF_API int nf_cmd_sched(nf_cmd *cmd, int policy, int priority);

/* PR_SET_PDEATHSIG: the child gets `sig` when the spawning thread exits (the
 * kernel's rule: a thread that ends kills its children so marked, although
 * the process goes on). Spawned from a coroutine, the child's parent is a
 * nofork thread that lives as long as the process (never a worker or a
 * spawn helper, which end at nf_rt_stop): the signal comes when the process
 * ends. If the parent is already gone when it is set, the child exits
 * (status 127, ESRCH) rather than run orphaned. sig 0 clears. EINVAL: NULL
 * cmd or sig outside 0..64.
 * Spawn: ESRCH (the parent is gone), the errno of prctl(2); from a coroutine
 * also EAGAIN (or another pthread_create(3) error, err->op NF_OP_CLONE) when
 * no such thread exists yet and none can be made. */
NF_API int nf_cmd_pdeathsig(nf_cmd *cmd, int sig);

/* PR_SET_NO_NEW_PRIVS: exec can never grant privileges (setuid bits, caps).
 * EINVAL: NULL cmd. Spawn: the errno of prctl(2). */
NF_API int nf_cmd_no_new_privs(nf_cmd *cmd);

/* ==== sandbox: process attributes ==========================================
 * (Steps 6, 11, 17, 21, 24 and 26 of the table above.) */

/* The child's capability sets (bit n = capability n of <linux/capability.h>),
 * kept across nf_cmd_setuid: before the ids change the child sets keep-caps
 * and drops from the bounding set every capability up to the kernel's
 * cap_last_cap not in `bounding` (one already gone is skipped, so an
 * unprivileged caller may pass its own bounding set); after them it sets
 * the permitted, effective and inheritable sets (capset) and makes the
 * ambient set exactly `ambient` (cleared, then each raised).
 * What the program then has follows the exec rules of capabilities(7): a
 * non-root program without file capabilities gets permitted = effective =
 * ambient; inheritable, ambient and bounding stay as set.
 * EINVAL: NULL cmd; effective not within permitted; ambient not within
 * permitted ∩ inheritable; a bit above /proc/sys/kernel/cap_last_cap (read
 * by this call).
 * Spawn: EPERM from PR_CAPBSET_DROP without CAP_SETPCAP (err->arg the
 * capability: "drop capability 21 from the bounding set"); the errno of
 * prctl(PR_SET_KEEPCAPS) (EPERM: locked by securebits); of capset(2)
 * (EPERM: a permitted capability the caller does not have, or an
 * inheritable one outside the caller's permitted and bounding sets); of
 * PR_CAP_AMBIENT_RAISE (EPERM: SECBIT_NO_CAP_AMBIENT_RAISE; err->arg the
 * capability, -1 for clearing the ambient set). */
NF_API int nf_cmd_capabilities(nf_cmd *cmd, uint64_t permitted, uint64_t effective, uint64_t inheritable,
                               uint64_t ambient, uint64_t bounding);

struct sock_fprog;
/* A seccomp filter (classic BPF, <linux/filter.h>), copied, installed by
 * seccomp(SECCOMP_SET_MODE_FILTER, 0, prog) as the child's last syscall:
 * after the signal mask, so the only syscalls after it are the execve of
 * each candidate (or the execveat of nf_cmd_exec_fd), which the filter must
 * allow (and exit_group after a failed exec, whose report is written
 * before it: refused, the child dies of SIGSEGV but the report stands;
 * rt_sigreturn only for a job-control stop caught in the last instants).
 * The kernel accepts a filter only from a thread with no_new_privs or
 * CAP_SYS_ADMIN: an unprivileged caller needs nf_cmd_no_new_privs.
 * EINVAL: NULL cmd or prog, a NULL filter, 0 or more than BPF_MAXINSNS
 * instructions; ENOMEM.
 * Spawn: the errno of seccomp(2) ("seccomp: Permission denied": neither
 * no_new_privs nor CAP_SYS_ADMIN; EINVAL: a filter the kernel refuses). A
 * filter that fails execve with an errno reports it at the EXEC step
 * ("execve /bin/x: Operation not permitted"). One that kills at execve
 * (SECCOMP_RET_KILL_*, RET_TRAP) cannot be told from a program killed by
 * SIGSYS right after its start: the spawn succeeds and the wait shows the
 * signal. */
NF_API int nf_cmd_seccomp(nf_cmd *cmd, const struct sock_fprog *prog);

/* landlock_restrict_self(ruleset_fd, 0) in the child, after no_new_privs
 * (which Landlock needs without CAP_SYS_ADMIN: an unprivileged caller sets
 * nf_cmd_no_new_privs too). The cmd keeps its own close-on-exec copy of the
 * fd (the caller may close theirs; a second call replaces it; nf_cmd_free
 * closes it): kept open through the fd policy and nf_cmd_closefrom up to
 * this step, never inherited by the program. The copy is at a number no
 * file action writes to (above their targets; an action added later that
 * names it moves it higher).
 * EINVAL: NULL cmd, or an fd that is not a Landlock ruleset (readlink of
 * /proc/self/fd/N is "anon_inode:[landlock-ruleset]", where /proc is
 * mounted); EBADF: not an open fd; EMFILE.
 * Spawn: the errno of landlock_restrict_self(2) (EPERM: neither
 * no_new_privs nor CAP_SYS_ADMIN; E2BIG: too many stacked rulesets). */
NF_API int nf_cmd_landlock(nf_cmd *cmd, int ruleset_fd);

/* sched_setaffinity(0, setsize, set) in the child (the set copied), right
 * after the scheduler. EINVAL: NULL cmd or set, setsize 0 or above 8192
 * bytes (a negative int passed in), an empty set; ENOMEM.
 * Spawn: the errno of sched_setaffinity(2) (EINVAL: no CPU of the set is
 * online or allowed by the cpuset cgroup). */
NF_API int nf_cmd_affinity(nf_cmd *cmd, size_t setsize, const cpu_set_t *set);

/* The child's /proc/self/oom_score_adj (the text formatted by the
 * parent), after the I/O priority. The caller's own value is unchanged
 * (the child is a vfork child to the kernel, which keeps the value to it).
 * EINVAL: NULL cmd or adj outside [-1000, 1000].
 * Spawn: the errno of opening or writing the file ("write
 * /proc/self/oom_score_adj: Permission denied": below the current minimum
 * without CAP_SYS_RESOURCE). */
NF_API int nf_cmd_oom_score_adj(nf_cmd *cmd, int adj);

/* Start the child in the cgroup v2 directory open at `cgroup_fd`
 * (CLONE_INTO_CGROUP; where clone3 cannot, the child writes itself into
 * cgroup.procs before any other step of its plan; if neither works the spawn
 * fails).
 * EBADF: negative or ≥ the RLIMIT_NOFILE soft limit; EINVAL: NULL cmd.
 * Spawn: clone3's own refusal is not reported (the child then joins by
 * itself), except EAGAIN and ENOMEM (CLONE step); the errno of
 * openat(cgroup_fd, "cgroup.procs") or of the write(2) to it (e.g. EBADF,
 * ENOTDIR, ENOENT: not a cgroup v2 directory; EACCES; EOPNOTSUPP or EBUSY:
 * a cgroup that cannot hold processes). */
NF_API int nf_cmd_cgroup(nf_cmd *cmd, int cgroup_fd);

/* ==== namespaces: a confined program ======================================
 * The child is cloned straight into new namespaces (clone3, or clone(2):
 * both take them with CLONE_VM) and builds its view there, with the same
 * raw-syscall child as every other step (order: steps 3a-3d above). What
 * each step needs is checked by nf_spawn before anything is cloned (EINVAL,
 * err->op the step): a map needs CLONE_NEWUSER, a hostname CLONE_NEWUTS, a
 * mount CLONE_NEWNS. File actions, nf_cmd_chdir and the exec's path come
 * after the new root and are resolved inside it; in a new user namespace
 * they run with that namespace's capabilities (root's CAP_DAC_OVERRIDE over
 * the caller's files is gone: open such a file in the parent and pass it
 * with nf_cmd_dup2). An unprivileged caller
 * gets every namespace by asking for CLONE_NEWUSER with them (the kernel's
 * rule), as `unshare -r` does:
 *
 *     nf_cmd_namespaces(cmd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID);
 *     snprintf(map, sizeof map, "0 %u 1", (unsigned)geteuid());
 *     nf_cmd_uid_map(cmd, map);      // the program sees uid 0
 */

/* The namespaces the child is created in: a set of CLONE_NEWUSER,
 * CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC,
 * CLONE_NEWCGROUP (<sched.h>), replacing the last call's; 0: none.
 * With CLONE_NEWPID the program is pid 1 of its namespace (nf_proc still
 * names it from outside; as pid 1 it ignores signals it has no handler for
 * unless they come from outside, SIGKILL always works); nf_cmd_pdeathsig's
 * check that the parent still lives is impossible there (getppid() is 0)
 * and is skipped. With CLONE_NEWNS, "/" is made recursively private first,
 * as unshare(1) does. CLONE_NEWTIME is refused: the kernel does not take
 * it with CLONE_VM.
 * EINVAL: NULL cmd or any other bit.
 * Spawn: the errno of clone3(2)/clone(2) (CLONE step), e.g. EPERM for a
 * namespace other than CLONE_NEWUSER without CAP_SYS_ADMIN, ENOSPC/EUSERS
 * at the kernel's namespace limits. */
NF_API int nf_cmd_namespaces(nf_cmd *cmd, unsigned long flags);

/* The uid / gid map of the new user namespace: user_namespaces(7) lines
 * "inside outside count", e.g. "0 1000 1" or "0 100000 65536\n". The
 * parent writes them to /proc/<child>/uid_map and gid_map while the child
 * waits (only a writer in the parent namespace may write a map of more
 * than its own id; the parent is not put to sleep by CLONE_VFORK for such
 * a spawn, and the child waits on a futex word, no lock). Before a gid map
 * the parent writes "deny" to /proc/<child>/setgroups unless it has
 * CAP_SETGID (an unprivileged gid map needs it; with it, setgroups(2)
 * stays allowed inside). NULL removes the map. The text is checked as the
 * kernel will check it and copied. Without a uid map the program's ids
 * show as the overflow id (65534).
 * EINVAL: NULL cmd; malformed text: not 3 decimal numbers a line, a count
 * of 0, a range past 2^32, two lines overlapping on either side, more than
 * 340 lines or 4095 bytes, no line. ENOMEM.
 * Spawn: EINVAL (ID_MAP step) without CLONE_NEWUSER; the errno of writing
 * the file the message names ("write uid_map: Operation not permitted":
 * a map beyond one's own id without CAP_SETUID/CAP_SETGID; EACCES: the
 * caller is not dumpable, e.g. after dropping root with setuid, so the
 * kernel gives its children's /proc files to root: PR_SET_DUMPABLE). */
NF_API int nf_cmd_uid_map(nf_cmd *cmd, const char *map);
NF_API int nf_cmd_gid_map(nf_cmd *cmd, const char *map);

/* sethostname(name) in the new UTS namespace (copied). EINVAL: NULL cmd,
 * NULL or empty name; ENAMETOOLONG: longer than 64 bytes; ENOMEM.
 * Spawn: EINVAL (HOSTNAME step) without CLONE_NEWUTS; the errno of
 * sethostname(2). */
NF_API int nf_cmd_hostname(nf_cmd *cmd, const char *name);

/* mount(2) in the new mount namespace, in the order added among mounts,
 * directories and symlinks (all strings copied; source, fstype and data
 * may be NULL). A bind mount with MS_RDONLY, MS_NOSUID, MS_NODEV,
 * MS_NOEXEC or an atime flag is made as mount(8) makes it: the bind, then
 * a remount with those flags (the kernel ignores them on the bind), which
 * keeps the flags the kernel locks on the mount inside a user namespace.
 * EINVAL: NULL cmd, NULL or empty target or an empty source/fstype, data
 * of a page or more; ENAMETOOLONG: a path ≥ PATH_MAX; ENOMEM.
 * Spawn: EINVAL (MOUNT step) without CLONE_NEWNS; the errno of mount(2)
 * (MOUNT step, err->path the target, err->path2 the source: "mount /usr on
 * /sb/usr: Permission denied"). */
NF_API int nf_cmd_mount(nf_cmd *cmd, const char *source, const char *target, const char *fstype,
                        unsigned long flags, const char *data);

/* mkdir(path, mode) (with the child's umask), in the order of the mounts;
 * an existing entry of that name is not an error. As bwrap's --dir: build
 * a root inside a tmpfs. EINVAL: NULL cmd or path, mode beyond 07777;
 * ENAMETOOLONG; ENOMEM. Spawn: the errno of mkdirat(2) (MKDIR step). */
NF_API int nf_cmd_mkdir(nf_cmd *cmd, const char *path, mode_t mode);

/* symlink(target, linkpath), in the order of the mounts. EINVAL: NULL cmd,
 * target or linkpath; ENAMETOOLONG; ENOMEM. Spawn: the errno of
 * symlinkat(2) (SYMLINK step, err->path linkpath, err->path2 target). */
NF_API int nf_cmd_symlink(nf_cmd *cmd, const char *target, const char *linkpath);

/* The program's root directory, after the mounts; its cwd becomes the new
 * "/" (then nf_cmd_chdir applies inside it). With CLONE_NEWNS: pivot_root
 * (path bind-mounted onto itself first, the old root detached), so the
 * program cannot climb out as it could from a chroot with the capabilities
 * a new user namespace grants; on an initramfs root, where pivot_root is
 * impossible, and without CLONE_NEWNS: chroot(2) (then the program must
 * not hold CAP_SYS_CHROOT to stay inside). EINVAL: NULL cmd or path;
 * ENAMETOOLONG; ENOMEM. Spawn: the errno of the mount, chdir, pivot_root,
 * umount2 or chroot (CHROOT step, err->path the path). */
NF_API int nf_cmd_chroot(nf_cmd *cmd, const char *path);

/* ==== spawning and handles ================================================ */

/* A started process. pidfd is -1 where the kernel gives none. After a
 * wait that reaped it (nf_proc_wait, nf_proc_waitid reporting an exit
 * without WNOWAIT, nf_proc_wait_any naming it, nf_proc_stop) the pid is
 * reaped: do not signal it by number. Once a nofork call reaped it
 * (those, and nf_proc_communicate), reaped is 1 and status holds its
 * waitpid-style status (a later wait still answers ECHILD).
 * pipes[0..n_pipes) are the parent's ends of the cmd's nf_cmd_pipe pipes
 * (fd -1 once taken or closed): read them with nf_proc_fd. */
#define NF_PROC_PIPES 8
typedef struct nf_proc {
	pid_t pid;
	int pidfd;
	int reaped, status;
	int n_pipes;
	struct nf_proc_pipe {
		int child_fd, fd;
	} pipes[NF_PROC_PIPES];
} nf_proc;
/* A handle that holds nothing (what a failed spawn leaves). */
#define NF_PROC_INIT {.pid = -1, .pidfd = -1}

/* Start the program described by cmd. On success fills *proc and returns 0.
 * On failure returns the errno (of the failing child step, or of the parent's
 * clone), the child (if any) is already reaped, *proc is {-1,-1} with no
 * pipes (the spawn's pipes are closed), and *err (if
 * non-NULL) says which step failed. The child's exit status on a failed step is
 * 127. From a thread, the caller sleeps until the child exec'd or failed.
 *
 * Errors (err->op in brackets; err->index is -1 for the parent's own):
 * - EINVAL: NULL cmd or proc [NF_OP_NONE].
 * - ENOMEM: compiling the plan, on the first spawn of a cmd since it was
 *   made or changed [NF_OP_NONE]; or mapping a child stack when the pool has
 *   none free (mmap, or a guard page past vm.max_map_count) [NF_OP_CLONE].
 * - the errno of clone3(2) [NF_OP_CLONE]: EAGAIN (RLIMIT_NPROC,
 *   kernel.threads-max, pid_max, the pids cgroup limit), ENOMEM, EMFILE or
 *   ENFILE (no fd for the pidfd). ENOSYS, EPERM and EINVAL make it fall
 *   back to clone(2) (remembered), whose errno is then returned, whatever
 *   it is (a seccomp filter's included); a refused CLONE_INTO_CGROUP or
 *   CLONE_PIDFD is retried without.
 * - the errno of the failing step's syscall in the child, with the step's
 *   kind, index and operands in *err: each setter above lists its own
 *   under "Spawn:" (the exec step's are nf_cmd_new's, nf_cmd_newp's and
 *   nf_cmd_exec_fd's; the legacy clone's handler reset [NF_OP_SIGRESET]
 *   reports rt_sigaction(2)'s). A failure while the child leaves the
 *   caller's fd table is not reported: the spawn is made again without
 *   sharing it.
 * - E2BIG: environment edits on environ too large for any child stack
 *   [NF_OP_EXEC] (see nf_cmd_setenv); nothing was cloned.
 * - EINTR: the child was killed by a signal before its exec (err->signal),
 *   or found a fatal signal pending at the end of its plan
 *   [NF_OP_SIGMASK], as below. A signal to the caller does not interrupt a
 *   spawn (every signal is blocked around the clone).
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
 * the caller kills the caller, as it does glibc's posix_spawn. With SIGCHLD
 * ignored (SIG_IGN) the kernel reaps a dead child at once and how it died
 * cannot be learnt: no fallback is taken, and the spawn fails with EINTR.
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
 * first calls on a larger stack.
 *
 * In a coroutine the same errors (see "the runtime"). */
NF_API int nf_spawn(const nf_cmd *cmd, nf_proc *proc, nf_error *err);

/* Wait for the process to end: status gets a waitpid-style status (use
 * WIFEXITED etc.; may be NULL). timeout_ms -1 waits forever, 0 polls.
 * From a plain thread a cancellation point: a cancelled wait has reaped
 * nothing, and the handle still works.
 * EINVAL: NULL proc or timeout_ms < -1. ETIMEDOUT: the child is still
 * running; the handle stays usable. ECHILD: pid ≤ 0 (a failed spawn's
 * handle), already reaped (by an earlier wait, or by the kernel where
 * SIGCHLD is ignored), or not a child of this process. Else the errno of
 * waitid(2) or poll(2) on the pidfd (EBADF: the pidfd was closed under the
 * handle); in a coroutine also nf_wait_fd's on the pidfd (ENOMEM, ENOSPC,
 * EMFILE). */
NF_API int nf_proc_wait(nf_proc *proc, int *status, int timeout_ms);

/* Wait for the process to change state, as waitid(2) on it alone. options
 * is a bitwise or of WEXITED (it ended), WSTOPPED (a signal stopped it;
 * WUNTRACED is the same bit), WCONTINUED (SIGCONT resumed it) and WNOWAIT
 * (report, but leave the report, or the zombie, in place for the next
 * wait). *info gets what the kernel reports: si_signo SIGCHLD, si_pid,
 * si_uid, si_code (CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED,
 * CLD_CONTINUED) and si_status (the exit code, or the signal). An exit
 * reported without WNOWAIT reaps the child, as nf_proc_wait does: the
 * handle keeps its pid and pidfd (release it as usual), and later waits
 * return ECHILD. A stop or continue report is taken (the next wait waits for
 * the next change) unless WNOWAIT. timeout_ms -1 waits forever, 0 polls
 * (there is no WNOHANG: the timeout says it); ETIMEDOUT leaves everything
 * as it was: nothing reaped, no report taken, *info untouched.
 * How it waits: WEXITED alone as nf_proc_wait, on the pidfd. With WSTOPPED
 * or WCONTINUED, from a plain thread with timeout -1 it sleeps in waitid
 * itself (with WNOWAIT; the report is taken after waking); otherwise (a
 * timeout, a coroutine, or no pidfd) it checks with waitid(WNOHANG) and
 * sleeps between checks, 1 ms doubling to 20 ms, on the pidfd so that an
 * end still wakes it at once: a stop or continue is then seen up to ~20 ms
 * late. In a coroutine every sleep parks the coroutine, never the worker.
 * From a plain thread a cancellation point, as nf_proc_wait. (None of the
 * waits uses PIDFD_GET_INFO's exit status, Linux 6.15: for a child not yet
 * reaped waitid gives the status in the call that reaps it, and a status
 * read after someone else reaped the child would make ECHILD depend on the
 * kernel.)
 * EINVAL: NULL proc or info; options without WEXITED, WSTOPPED and
 * WCONTINUED, or with any other bit (WNOHANG included); timeout_ms < -1.
 * ETIMEDOUT. ECHILD: as nf_proc_wait; also when options lacks WEXITED and
 * the process has ended (no stop or continue can come any more; it is left
 * unreaped). Else the errors of nf_proc_wait (waitid(2), poll(2), and in a
 * coroutine nf_wait_fd's). */
NF_API int nf_proc_waitid(nf_proc *proc, siginfo_t *info, int options, int timeout_ms);

/* Wait until the first of the n processes in procs ends: reap it, set
 * *index to its position and *status (may be NULL) to its waitpid-style
 * status. When several have ended the lowest index is taken; call again
 * for the next. NULL entries and handles with pid <= 0 (a failed spawn's)
 * are skipped, so a caller clears a slot (NULL) once its child is reaped:
 * an entry left in place after it was reaped (by this call or any other
 * wait) makes the next call fail with ECHILD naming it. The handles are
 * not changed (as after nf_proc_wait). Only the listed processes are ever
 * waited for or reaped, never "any child": other children of the process,
 * and other threads' waits, are not disturbed. timeout_ms as nf_proc_wait
 * (-1 forever, 0 polls); ETIMEDOUT reaps nothing.
 * How it waits: on the pidfds (poll(2) from a thread; a coroutine parks on
 * the one pidfd, or on an epoll of them made for the call, one epoll_ctl
 * per pidfd). Handles without a pidfd (NF_NO_PIDFD, released, an old
 * kernel) are waited for by pid: waitid(P_PID, WNOHANG) on each, with
 * sleeps of 1 ms doubling to 20 ms between rounds (their end is seen up to
 * ~20 ms late). More than 64 entries with pidfds allocate 8 bytes each for
 * the call. From a plain thread a cancellation point, as nf_proc_wait.
 * *index is SIZE_MAX unless the result belongs to one entry (0, or an
 * error of that entry's).
 * EINVAL: NULL procs or index, n 0, timeout_ms < -1. ECHILD: no entry to
 * wait for (all NULL or pid <= 0); or procs[*index] has no child to reap
 * (already reaped, or not a child of this process). EBADF: procs[*index]'s
 * pidfd was closed under the handle. ENOMEM. ETIMEDOUT. Else the errno of
 * poll(2) or waitid(2); in a coroutine of epoll_create1(2), epoll_ctl(2)
 * (ENOMEM, ENOSPC) or nf_wait_fd. */
NF_API int nf_proc_wait_any(nf_proc *const procs[], size_t n, size_t *index, int *status, int timeout_ms);

/* One step of nf_proc_stop: send sig (0: send nothing), then wait up to
 * timeout_ms (-1: forever) for the process to end. */
typedef struct nf_stop_step {
	int sig;
	int timeout_ms;
} nf_stop_step;

/* nf_proc_stop flag: signal the child's whole process group, not only the
 * child, and wait for the group to end too. */
#define NF_STOP_GROUP 0x1u

/* Stop a process gracefully, e.g. with steps {{SIGTERM, 5000}, {SIGKILL,
 * 1000}}: for each step in order, send its signal (through the pidfd, as
 * nf_proc_kill) and wait up to its timeout for the process to end; on to
 * the next step if it has not. Returns 0 once it ended: reaped, *status
 * (may be NULL) set as by nf_proc_wait. A process that has already ended
 * returns at once with its status and is sent nothing.
 * With NF_STOP_GROUP the signals go to the child's process group
 * (kill(-pgid, sig)) and "ended" means: the child ended and no process of
 * its group still runs. The group id is read while the child is unreaped,
 * and the child stays unreaped until it ended, so the id cannot have passed
 * to another group meanwhile; after that the group's remaining members
 * keep it. A child that has already ended is reaped only after its group
 * got the first step's signal (its leftovers). Members that ended but are
 * not reaped (zombies: their parent's to reap, which an init may do seconds
 * later, or the caller itself as their parent or subreaper) count as
 * ended: kill(-pgid, 0) still finds them, so a member that runs is looked
 * for in /proc (without /proc, kill(-pgid, 0) == ESRCH is the test). The
 * group is checked 1 ms, 2, 4, ... at most 20 ms apart. Members that left
 * the group (setsid, setpgid) are not reached.
 * From a coroutine every wait parks the coroutine; a worker never blocks.
 * From a plain thread a cancellation point until the child is reaped (as
 * nf_proc_wait: a cancelled stop has reaped nothing; the signals it sent
 * stay sent); the wait for the rest of the group is not one.
 * EINVAL (nothing sent): NULL proc or steps; n 0; flags other than
 * NF_STOP_GROUP; a step with sig < 0 or >= NSIG, or timeout_ms < -1;
 * NF_STOP_GROUP for a child in the caller's own process group (the caller
 * would signal itself). ECHILD (nothing sent): pid <= 0, already reaped, or
 * not a child of this process. ETIMEDOUT: the child outlived the last step:
 * nothing reaped, the handle still works. EBUSY (NF_STOP_GROUP): the child
 * ended and was reaped (*status set; later waits return ECHILD), but a
 * process of its group outlived the last step. A signal that cannot be
 * sent while the child lives: the errno of pidfd_send_signal(2) or kill(2)
 * (EPERM), nothing reaped. Else the errno of getpgid(2), and the errors of
 * nf_proc_wait. */
NF_API int nf_proc_stop(nf_proc *proc, const nf_stop_step *steps, size_t n, unsigned flags, int *status);

/* Send sig through the pidfd (never hits a recycled pid); without one
 * (NF_NO_PIDFD, or an old kernel), kill(2) the pid.
 * EINVAL: NULL proc. ESRCH: pid ≤ 0, or the process was reaped. Else the
 * errno of pidfd_send_signal(2) / kill(2) (EINVAL: a bad sig; EPERM). */
NF_API int nf_proc_kill(nf_proc *proc, int sig);

/* Close the pidfd and every pipe end the handle still owns (and set them to
 * -1). Does not wait and does not kill; a child not yet waited for stays a
 * zombie until someone reaps it. NULL and a handle without a pidfd are
 * accepted. */
NF_API void nf_proc_release(nf_proc *proc);

/* ==== talking to a process ================================================ */

/* The parent's end of the pipe at the child's child_fd (nf_cmd_pipe), or -1
 * (no such pipe, taken, closed, or a NULL proc). The handle still owns it. */
NF_API int nf_proc_fd(const nf_proc *proc, int child_fd);

/* As nf_proc_fd, but the caller owns the end from now on (the handle
 * forgets it: nf_proc_release will not close it). -1 as nf_proc_fd. */
NF_API int nf_proc_take_fd(nf_proc *proc, int child_fd);

/* What nf_proc_communicate collects: data[0..len) (NUL-terminated when
 * data is not NULL), cap the allocated size. max bounds what is kept (0: no
 * bound); output beyond it is still read and dropped (the child never blocks
 * on a full pipe) and truncated is set. Start from {0} (with max set if
 * wanted); a buffer that holds data is appended to. */
typedef struct nf_buf {
	char *data;
	size_t len, cap;
	size_t max;
	int truncated;
} nf_buf;

/* Free data and reset len and cap (max stays). NULL is accepted. */
NF_API void nf_buf_free(nf_buf *buf);

/* Write in[0..in_len) to the child's piped stdin and close it, collect the
 * piped stdout and stderr into out and err (NULL: read and dropped), and
 * wait for the child to end: 0 with *status (may be NULL) set, the child
 * reaped and the three ends closed and gone from the handle. One deadline,
 * timeout_ms (-1: none), for all of it. Never deadlocks (the three are
 * served together, as each is ready) and never makes the caller get
 * SIGPIPE: a child that closes its stdin before reading everything is a
 * normal outcome, returned as EPIPE once everything else is done. From a
 * thread it polls; in a coroutine it parks on the fds in the poller. It
 * grows the buffers with realloc (not for a signal handler) and is not a
 * cancellation point (a cancel would lose what was read).
 * EINVAL: NULL proc, timeout_ms < -1, in NULL with in_len > 0, in_len > 0
 * without a pipe at fd 0, out (err) given without a pipe at fd 1 (2).
 * ETIMEDOUT: the deadline passed; the child runs on, what was read is in
 * the buffers, the ends not yet at EOF stay in the handle (stdin's with
 * O_NONBLOCK set) and the input not yet written is lost: close the stdin
 * end or call again to go on reading. EPIPE: as above. ENOMEM: a buffer
 * could not grow (the child runs on, as for ETIMEDOUT). Else nf_proc_wait's
 * errors, or the errno of read(2), write(2), poll(2). */
NF_API int nf_proc_communicate(nf_proc *proc, const void *in, size_t in_len, nf_buf *out, nf_buf *err,
                               int *status, int timeout_ms);

/* subprocess.run: nf_spawn, nf_proc_communicate, reap, release. A failed
 * spawn returns its error with *err filled exactly as nf_spawn fills it; a
 * timeout kills the child (SIGKILL), reaps it and returns ETIMEDOUT with
 * *status the kill's and the output read so far in the buffers (leaving it
 * running would leave no handle to reap it with: spawn and use
 * nf_proc_communicate for that). Other communicate errors kill and reap it
 * too, and are returned. EPIPE: the child closed its stdin early (all else
 * done, as for 0). The cmd needs the pipes the buffers name (nf_cmd_pipe). */
NF_API int nf_run(const nf_cmd *cmd, const void *in, size_t in_len, nf_buf *out, nf_buf *errout, int *status,
                  int timeout_ms, nf_error *err);

/* ---- pipelines ----
 * Stage i's stdout feeds stage i+1's stdin through a pipe the parent makes
 * at every nf_pipeline_spawn; the first stage's stdin and the last one's
 * stdout are the cmds' own (pipe them with nf_cmd_pipe to talk to them, and
 * use nf_proc_communicate on nf_pipeline_proc(pl, 0) / (pl, n - 1)). The
 * wiring is this spawn's, not the cmds': it is applied in the child before
 * the cmd's own actions (a stage's nf_cmd_dup2(cmd, 1, 2) then sends its
 * stderr down the pipe too, as `2>&1` would), and one cmd may be a stage of
 * several pipelines at once. */
typedef struct nf_pipeline nf_pipeline;

/* All stages in one new process group, led by the first (setpgid before the
 * cmds' actions, so a stage's own nf_cmd_setpgid/setsid overrides it). To
 * hand the group the terminal, as a shell does, give the first stage
 * nf_cmd_foreground (its own group is the pipeline's). */
#define NF_PIPELINE_PGRP 0x1u

/* Start n stages, all or none: if one fails, the stages already started
 * are killed (SIGKILL) and reaped, every pipe is closed, the error is
 * returned with *err filled as nf_spawn fills it and err->stage the index
 * of the stage that failed. The handle is one allocation (n + 1 small
 * records). Stages are started in order, each as nf_spawn starts it (from
 * a coroutine: parking, not blocking the worker).
 * EINVAL: cmds or pl NULL, n 0, a NULL cmd, an unknown flag; ENOMEM; else a
 * stage's nf_spawn error, or that of pipe2(2) / fcntl(2) for a pipe between
 * stages [NF_OP_PIPE, err->index -1]. */
NF_API int nf_pipeline_spawn(nf_cmd *const cmds[], size_t n, unsigned flags, nf_pipeline **pl, nf_error *err);

/* Stage i's handle (NULL if pl is NULL or i ≥ n): signal it, read its pipes;
 * leave the waiting to nf_pipeline_wait. */
NF_API nf_proc *nf_pipeline_proc(nf_pipeline *pl, size_t i);

/* Wait for every stage to end, in order, within one deadline (-1: none);
 * statuses (may be NULL) gets each stage's waitpid-style status, so the
 * caller can apply pipefail; a stage the caller reaped itself (e.g. the
 * last one, through nf_proc_communicate) gives the status it was reaped
 * with. A stage killed because a later one exited early shows WTERMSIG ==
 * SIGPIPE (if SIGPIPE is at its default there: an ignored signal stays
 * ignored across exec, so a caller that ignores it should give the stages
 * nf_cmd_sigdefault for it). EINVAL: NULL pl or timeout_ms < -1.
 * ETIMEDOUT: some stage is still running; the ones already ended stay
 * reaped and a later call goes on from there. Else nf_proc_wait's errors. */
NF_API int nf_pipeline_wait(nf_pipeline *pl, int statuses[], int timeout_ms);

/* Release every stage's handle (pidfds, pipe ends) and free pl. Stages not
 * waited for stay zombies until someone reaps them. NULL is accepted. */
NF_API void nf_pipeline_release(nf_pipeline *pl);

/* ==== errors ============================================================== */

/* What a spawn step is: nofork/ops.h lists them all, with how each one's
 * error reads. Stored in nf_error.op; nf_error_format names it. NF_OP_NONE
 * for a failure before the child (bad arguments, compiling the plan);
 * NF_OP_CLONE for the clone and the child stack. */
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
 * the unchanged cmd do not affect it. nf_error_format does not render
 * `stage`. The record is 40 bytes (64-bit), so it
 * fits the smallest coroutine stacks. */
struct nf_error {
	int err;
	int op;
	int index;
	int fd;
	long arg;
	int signal; /* killed by this signal before exec (err is then EINTR), else 0 */
	int stage;  /* nf_pipeline_spawn: the stage that failed (-1: none, or not a pipeline) */
	const char *path;
	const char *path2; /* the second path of a step that names two (a mount's source, a symlink's target), or "" */
};

/* A message buffer this large always holds nf_error_format's whole message:
 * two paths (< PATH_MAX, 4096, each) and at most 128 characters more. */
#define NF_ERROR_MAX 8320

/* Render err as one line, e.g. "open /x/y as fd 1: No such file or directory"
 * (the error text is not translated). Writes straight into buf, with no
 * buffer of its own; a message longer than len - 1 is truncated
 * (NF_ERROR_MAX always suffices). Always NUL-terminates (if len > 0) and
 * returns buf. Call it while err's cmd is unchanged (see nf_error). Cannot
 * fail: a NULL err renders as "no error"; a NULL buf or len 0 is returned
 * untouched. */
NF_API const char *nf_error_format(const nf_error *err, char *buf, size_t len);

/* ==== the runtime ========================================================= */
/* Coroutines on a few worker threads. Inside a coroutine, nf_spawn parks the
 * coroutine while one of the runtime's spawn helper threads (at most 4 per
 * worker, made on demand, gone at nf_rt_stop; more spawns at once queue)
 * sleeps in clone until the child exec'd or failed; or, while another worker
 * idles and no coroutine is queued on this one, its own worker sleeps in
 * clone as a thread's would (one worker alone never does). If no helper
 * thread exists and none can be made, the worker makes the spawn itself: a
 * coroutine's spawn fails only as a thread's does. nf_proc_wait parks the
 * coroutine on the pidfd (and so do nf_proc_waitid, nf_proc_wait_any and
 * nf_proc_stop; see each). Either way the spawn's child is the one a
 * thread's spawn makes. A spawn with nf_cmd_pdeathsig goes to one of the
 * helpers that are never joined (as many, made on demand, alive until the
 * process ends), so that the signal means the end of the process. Outside
 * the runtime these calls behave as documented above.
 *
 * Each coroutine runs on a 64 KiB pooled stack (NF_STACK_DEFAULT) with a
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

/* Start the runtime with `workers` threads (0: one per CPU). The runtime can
 * be started again after nf_rt_stop. Its own descriptors (an epoll and an
 * eventfd, and the duplicate nf_wait_fd makes when two coroutines wait on
 * one fd) are close-on-exec and never take 0-2, even when the caller closed
 * its stdio. On failure nothing is left running.
 * EINVAL: workers < 0. EBUSY: already running. ENOTSUP: the calling thread
 * runs with a CET shadow stack (the coroutine switch moves between stacks
 * without call and ret, which a shadow stack forbids). ENOMEM: the worker
 * table, a worker's stack, or pthread_atfork on the first start. EAGAIN
 * (or another errno of pthread_create): a worker thread. The errno of
 * epoll_create1(2), eventfd(2), fcntl(F_DUPFD_CLOEXEC) or epoll_ctl(2)
 * (EMFILE, ENFILE, ENOMEM, ENODEV). EINVAL also when the SIGSEGV handler
 * that reports stack overflows cannot be installed (sigaction(2)).
 *
 * fork() while the runtime runs (from any thread, or from a coroutine):
 * in the child the runtime is as if never started. nf_go returns ESRCH,
 * nf_rt_stop returns at once, nf_yield / nf_sleep_ms / nf_wait_fd /
 * nf_spawn / nf_proc_wait (and the other waits) do what they do from a
 * plain thread, and nf_rt_start works again. Lost in the child, as fork loses every thread
 * but the caller: the workers, every coroutine that was alive (none of them
 * ever runs there; their stacks stay mapped, unused) and whatever they were
 * doing, e.g. a wait group they would have finished. A coroutine that
 * called fork continues in the child as the plain thread it now is
 * (every call acts as from a thread), still on its 64 KiB coroutine stack;
 * if its function returns there, the child exits with status 0, as when the last
 * thread returns from its start function. Not covered: _Fork() and vfork(),
 * which run no fork handlers; a child of those must only exec or _exit. */
NF_API int nf_rt_start(int workers);

/* Start a coroutine running fn(arg), from a coroutine or any thread.
 * EINVAL: fn is NULL. ESRCH: the runtime is not running. ENOMEM: no stack
 * can be had (memory, or the process's mapping limit vm.max_map_count). */
NF_API int nf_go(void (*fn)(void *), void *arg);

/* Let other coroutines run. Outside a coroutine: sched_yield(). */
NF_API void nf_yield(void);

/* Sleep ms milliseconds, parking the coroutine (outside one: nanosleep,
 * resumed after a signal handler runs). 0 yields.
 * EINVAL: ms < 0. ENOMEM: in a coroutine, the timer cannot be queued. */
NF_API int nf_sleep_ms(int ms);

/* Wait until fd is ready for `events` (POLLIN/POLLOUT), parking the coroutine
 * (outside one, or with timeout_ms 0: poll()). timeout_ms -1 = forever.
 * Returns 0 also when the fd reports an error or hang-up (as poll does: the
 * next read or write tells which), and at once for a regular file or a
 * directory. Several coroutines may wait on one fd. Do not close the fd
 * while a coroutine waits on it.
 * ETIMEDOUT: the timeout passed. EBADF: fd < 0 or not open. EINVAL:
 * timeout_ms < -1. Outside a coroutine: else the errno of poll(2) (ENOMEM).
 * In one: ENOMEM (the timer, or epoll), ENOSPC (fs.epoll.max_user_watches),
 * EMFILE (no fd for the duplicate when another coroutine waits on fd), or
 * another errno of epoll_ctl(2) for an fd epoll refuses. */
NF_API int nf_wait_fd(int fd, short events, int timeout_ms);

/* Wait for every coroutine to finish (including ones they start meanwhile),
 * then stop the workers. Call from a plain thread: from a coroutine it
 * returns at once and stops nothing (it would wait for itself). Returns at
 * once if the runtime is not running. */
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
 * EINVAL (and no change) if the count would become negative or exceed
 * INT_MAX. */
NF_API int nf_wg_add(nf_wg *wg, int n);

/* nf_wg_add(wg, -1): EINVAL (and no change) if the count is zero. */
NF_API int nf_wg_done(nf_wg *wg);

/* Return once the count is zero (at once if it is). */
NF_API void nf_wg_wait(nf_wg *wg);

#ifdef __cplusplus
}
#endif
#endif
