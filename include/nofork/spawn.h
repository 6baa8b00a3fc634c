/* nofork/spawn.h: the glibc posix_spawn family, running on nofork.
 *
 * Every function here has the signature, the argument checks and the return
 * codes of the glibc function of the same name without the `nofork_` prefix,
 * and gives the child the same state (fds, signal mask and dispositions,
 * process group, session, scheduler, cwd). The objects are glibc's types, so
 * existing code switches by renaming calls; their contents are nofork's, so an
 * object must be initialised, changed and destroyed by the nofork_ functions
 * only (libnofork-preload.so replaces the whole glibc family at once, which
 * keeps that true for unmodified programs).
 *
 * Where nofork follows glibc rather than POSIX, or a newer glibc than the
 * 2.36 it was checked against, the function says so. The common points:
 * - Every function returns 0 or a positive errno value.
 * - posix_spawnp searches the caller's PATH (getenv("PATH") at the call, or
 *   "/bin:/usr/bin" when unset), not the PATH in envp, as glibc does; and,
 *   as glibc's posix_spawnp, never runs an ENOEXEC file through /bin/sh.
 * - A failure in the child (a file action, an attribute, execve) is returned
 *   as the errno of the failing step; the child has then been reaped.
 * - envp NULL gives the program an empty environment (glibc passes NULL to
 *   execve, which Linux reads as empty); argv must not be NULL (glibc
 *   crashes; nofork returns EINVAL).
 * - Objects may be shared read-only by threads spawning concurrently.
 * - A spawn is not a cancellation point (cancellation is disabled inside, as
 *   in glibc).
 * - A spawn allocates nothing, the first one of a process included (its plan
 *   is laid out on the child's pooled stack, which is mapped only when the
 *   pool is empty), and needs about 1 KiB of the caller's stack: like
 *   glibc's, it may be called from a signal handler that interrupted malloc,
 *   on a small sigaltstack. Adding file actions allocates, as in glibc.
 *
 * Where glibc differs from POSIX or from fork+exec, nofork does what glibc
 * does (checked against glibc 2.36 by tests/test_compat_diff.c):
 * - addclose of an fd that is not open succeeds (POSIX allows EBADF).
 * - adddup2(fd, fd) clears close-on-exec (POSIX.1-2024; Austin Group #411).
 * - addopen first closes its target fd, so an O_CLOEXEC file that lands on it
 *   keeps the flag (and is gone after exec), while one that lands elsewhere
 *   is dup2'd without it.
 * - posix_spawnp never retries an ENOEXEC file through /bin/sh (execvp and
 *   POSIX's posix_spawnp do; glibc BZ 23264), and searches the caller's PATH.
 * - The scheduler is set before setsid/setpgid, RESETIDS (seteuid(getuid())
 *   then setegid(getgid()), the calling process's real ids) after them and
 *   before the file actions, the signal mask last.
 * - Unlike fork+exec: no atfork handlers run, caught signals start as SIG_DFL,
 *   ignored ones stay ignored, and glibc's internal signals 32 and 33 start
 *   ignored in the program (glibc's child leaves them so; nofork matches:
 *   tests "compat_hooks").
 * - A child killed by a signal before exec: glibc reports success and leaves
 *   the dead child to the caller; nofork reaps it and returns EINTR.
 */
#ifndef NOFORK_SPAWN_H
#define NOFORK_SPAWN_H

#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>

#include <nofork.h>

#ifdef __cplusplus
extern "C" {
#endif

/* glibc >= 2.39 spells this POSIX_SPAWN_SETCGROUP; older headers lack it. */
#define NOFORK_POSIX_SPAWN_SETCGROUP 0x100

/* ---- spawning ------------------------------------------------------------ */

/* Start `path` (used as given) with argv/envp after applying attrp and then
 * file_actions in order; *pid (if pid is non-NULL) gets the child's pid.
 * file_actions and attrp may be NULL.
 * Errors of all four spawn functions: EINVAL: NULL path/file or argv, or a
 * scheduling priority outside the range of the policy the child would run
 * with (checked before anything starts, as glibc's child would refuse it).
 * EBADF: POSIX_SPAWN_SETCGROUP with an fd out of the RLIMIT_NOFILE range.
 * ENOMEM: no child stack can be mapped (a spawn's steps and PATH candidates
 * are laid out on that stack, of at most 8 MiB: a great many file actions
 * or a huge PATH need more). Else nf_spawn's errors (<nofork.h>): those
 * of the clone (EAGAIN, ENOMEM; EMFILE or ENFILE for the pidfd of
 * pidfd_spawn[p]), the errno of the failing file action, attribute or
 * execve in the child (ENOENT for an empty path, and for
 * posix_spawnp ENAMETOOLONG for a name longer than NAME_MAX, both at the
 * exec, as glibc), or EINTR for a child killed before its exec. */
NF_API int nofork_posix_spawn(pid_t *pid, const char *path,
	const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp,
	char *const argv[], char *const envp[]);

/* Like nofork_posix_spawn, but a `file` without '/' is searched in the
 * caller's PATH with glibc's rules: empty element = the child's cwd after the
 * file actions; EACCES is remembered and returned if nothing else succeeds;
 * ENOENT, ENOTDIR, ESTALE, ENODEV and ETIMEDOUT move on; other errors stop.
 * An empty file gives ENOENT, one longer than NAME_MAX ENAMETOOLONG. */
NF_API int nofork_posix_spawnp(pid_t *pid, const char *file,
	const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp,
	char *const argv[], char *const envp[]);

/* glibc 2.39 pidfd_spawn[p]: as above, but *pidfd gets a close-on-exec pidfd
 * of the child instead of a pid (use pidfd_getpid or waitid(P_PIDFD)).
 * ENOSYS where the kernel has no pidfds (checked before anything starts). */
NF_API int nofork_pidfd_spawn(int *pidfd, const char *path,
	const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp,
	char *const argv[], char *const envp[]);
NF_API int nofork_pidfd_spawnp(int *pidfd, const char *file,
	const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp,
	char *const argv[], char *const envp[]);

/* ---- file actions ----------------------------------------------------------
 * init never fails and allocates nothing; each add* copies what it needs;
 * destroy frees all of it (destroying a destroyed or zeroed object is a
 * no-op). "Valid fd" below is glibc's test: 0 <= fd < RLIMIT_NOFILE's soft
 * limit at the time of the call; otherwise the add* returns EBADF. Every
 * add* returns ENOMEM when its copy cannot be made, and nothing else but the
 * EBADF named below. */

NF_API int nofork_posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa);
NF_API int nofork_posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa);

/* open(path, oflag, mode) placed at fd: fd is closed first, then the file is
 * opened and moved to fd if it landed elsewhere (so O_CLOEXEC survives only
 * when it landed on fd, as in glibc). EBADF for an invalid fd. */
NF_API int nofork_posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa,
	int fd, const char *path, int oflag, mode_t mode);

/* close(fd). As in glibc, closing an fd that is not open is not an error; only
 * an fd out of RLIMIT_NOFILE range fails the spawn (EBADF). */
NF_API int nofork_posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd);

/* dup2(fd, newfd); fd == newfd clears close-on-exec (and fails with EBADF if
 * fd is not open). EBADF if either is invalid. */
NF_API int nofork_posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa,
	int fd, int newfd);

/* chdir(path) / fchdir(fd). Neither validates its argument (glibc 2.36 does
 * not check fd here; a bad one fails the spawn with EBADF). The POSIX.1-2024
 * names without _np are the same functions. */
NF_API int nofork_posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa,
	const char *path);
NF_API int nofork_posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd);
NF_API int nofork_posix_spawn_file_actions_addchdir(posix_spawn_file_actions_t *fa,
	const char *path);
NF_API int nofork_posix_spawn_file_actions_addfchdir(posix_spawn_file_actions_t *fa, int fd);

/* Close every fd >= from at this point of the sequence. EBADF for an invalid
 * from. */
NF_API int nofork_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa,
	int from);

/* tcsetpgrp(tcfd, pgrp) where pgrp is the attribute's pgroup if
 * POSIX_SPAWN_SETPGROUP is set with a non-zero pgroup, else the child's own
 * group. EBADF for an invalid tcfd. */
NF_API int nofork_posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa,
	int tcfd);

/* ---- attributes -------------------------------------------------------------
 * init zeroes everything (no flags, pgroup 0, empty sets, SCHED_OTHER,
 * priority 0, cgroup 0) and allocates nothing; destroy is a no-op kept for
 * symmetry. Getters copy the stored value out and return 0; so do the
 * setters not said to return EINVAL. */

NF_API int nofork_posix_spawnattr_init(posix_spawnattr_t *attr);
NF_API int nofork_posix_spawnattr_destroy(posix_spawnattr_t *attr);

/* POSIX_SPAWN_{RESETIDS,SETPGROUP,SETSIGDEF,SETSIGMASK,SETSCHEDPARAM,
 * SETSCHEDULER}, the GNU USEVFORK (accepted, ignored: every nofork spawn
 * already shares memory until exec), SETSID and SETCGROUP (0x100; glibc 2.36
 * refuses it, 2.39 accepts it: nofork follows 2.39 so that setcgroup_np is
 * usable). EINVAL for any other bit; setflags replaces, it does not or. */
NF_API int nofork_posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags);
NF_API int nofork_posix_spawnattr_getflags(const posix_spawnattr_t *attr, short *flags);

/* With POSIX_SPAWN_SETPGROUP: setpgid(0, pgroup) in the child (0 = own group). */
NF_API int nofork_posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup);
NF_API int nofork_posix_spawnattr_getpgroup(const posix_spawnattr_t *attr, pid_t *pgroup);

/* With POSIX_SPAWN_SETSIGDEF: these signals start as SIG_DFL. */
NF_API int nofork_posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *set);
NF_API int nofork_posix_spawnattr_getsigdefault(const posix_spawnattr_t *attr, sigset_t *set);

/* With POSIX_SPAWN_SETSIGMASK: the program's initial signal mask (glibc's
 * internal signals 32 and 33 are never blocked, as with glibc). */
NF_API int nofork_posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *set);
NF_API int nofork_posix_spawnattr_getsigmask(const posix_spawnattr_t *attr, sigset_t *set);

/* With POSIX_SPAWN_SETSCHEDULER: sched_setscheduler(0, policy, param);
 * with POSIX_SPAWN_SETSCHEDPARAM alone: sched_setparam(0, param).
 * setschedpolicy accepts SCHED_OTHER, SCHED_FIFO and SCHED_RR only (EINVAL
 * otherwise, SCHED_BATCH and SCHED_IDLE included, as glibc). */
NF_API int nofork_posix_spawnattr_setschedpolicy(posix_spawnattr_t *attr, int policy);
NF_API int nofork_posix_spawnattr_getschedpolicy(const posix_spawnattr_t *attr, int *policy);
NF_API int nofork_posix_spawnattr_setschedparam(posix_spawnattr_t *attr,
	const struct sched_param *param);
NF_API int nofork_posix_spawnattr_getschedparam(const posix_spawnattr_t *attr,
	struct sched_param *param);

/* glibc 2.39: with POSIX_SPAWN_SETCGROUP the child starts in the cgroup v2
 * directory open at cgroup (CLONE_INTO_CGROUP). Not validated here; a bad fd
 * fails the spawn. */
NF_API int nofork_posix_spawnattr_setcgroup_np(posix_spawnattr_t *attr, int cgroup);
NF_API int nofork_posix_spawnattr_getcgroup_np(const posix_spawnattr_t *attr, int *cgroup);

#ifdef __cplusplus
}
#endif
#endif
