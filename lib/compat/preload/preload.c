/* libnofork-preload.so: the glibc posix_spawn family under glibc's own names,
 * so that an unmodified program run with LD_PRELOAD=libnofork-preload.so
 * spawns through nofork.
 *
 * The whole family is replaced at once: an object made by our init is only
 * ever seen by our functions, so its contents can be nofork's. glibc's own
 * internal users (system, popen) call glibc's hidden aliases and keep working
 * on glibc's objects.
 *
 * Symbol versions (preload-<cpu>.map): every name carries glibc's own version, so
 * a program gets the semantics of the glibc it was linked against. That
 * matters for posix_spawn and posix_spawnp, which exist twice: programs
 * linked before glibc 2.15 call posix_spawn@GLIBC_2.2.5, which runs a file
 * execve refuses with ENOEXEC (a script without "#!") through /bin/sh; newer
 * ones call posix_spawn@@GLIBC_2.15, which does not. The POSIX.1-2024 names
 * posix_spawn_file_actions_add[f]chdir exist in no released glibc (a patch
 * proposes them for a future version node): they stay unversioned, which the
 * dynamic linker binds for a reference of any version, whichever node glibc
 * puts them in.
 *
 * Proving use: with NOFORK_PRELOAD_TRACE=FILE in the environment, each spawn
 * appends one line "PID FUNCTION FILE RESULT" to FILE (O_APPEND, one write, so
 * lines from concurrent processes do not mix). Without it nothing is written.
 * Like the spawn itself, this allocates nothing (it may run in a signal
 * handler that interrupted malloc).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch_abi.h" /* glibc's version nodes on this architecture */
#include "compat/compat_int.h"
#include "nofork/spawn.h"

#define EXPORT __attribute__((visibility("default")))
/* A definition exported under name@version only (preload.map keeps the C
 * name itself local). */
#define VERSIONED(nameversion) EXPORT __attribute__((symver(nameversion)))

/* glibc 2.39 and POSIX.1-2024 names that this machine's <spawn.h> may lack;
 * declared here so the definitions below have prototypes. */
EXPORT int pidfd_spawn(int *, const char *, const posix_spawn_file_actions_t *,
	const posix_spawnattr_t *, char *const[], char *const[]);
EXPORT int pidfd_spawnp(int *, const char *, const posix_spawn_file_actions_t *,
	const posix_spawnattr_t *, char *const[], char *const[]);
EXPORT int posix_spawnattr_setcgroup_np(posix_spawnattr_t *, int);
EXPORT int posix_spawnattr_getcgroup_np(const posix_spawnattr_t *, int *);
EXPORT int posix_spawn_file_actions_addchdir(posix_spawn_file_actions_t *, const char *);
EXPORT int posix_spawn_file_actions_addfchdir(posix_spawn_file_actions_t *, int);
EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *, const char *);
EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *, int);
EXPORT int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int);
EXPORT int posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *, int);

/* Appends s to the line at *n (cap bytes), cutting it if it does not fit. */
static void put(char *line, size_t *n, size_t cap, const char *s)
{
	size_t len = strnlen(s, cap - *n);
	memcpy(line + *n, s, len);
	*n += len;
}

static void put_int(char *line, size_t *n, size_t cap, long v)
{
	char digits[24], *p = digits + sizeof digits;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	*--p = '\0';
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	put(line, n, cap, p);
}

/* Errors are ignored: tracing must never change what the program sees, and
 * errno is restored for the same reason. No stdio: snprintf may allocate. */
static void trace(const char *fn, const char *file, int result)
{
	const char *out = getenv("NOFORK_PRELOAD_TRACE");
	if (!out || !*out)
		return;
	int saved = errno;
	char line[512];
	size_t n = 0, cap = sizeof line - 1; /* room kept for the newline */
	put_int(line, &n, cap, getpid());
	put(line, &n, cap, " ");
	put(line, &n, cap, fn);
	put(line, &n, cap, " ");
	put(line, &n, cap, file ? file : "(null)");
	put(line, &n, cap, " ");
	put_int(line, &n, cap, result);
	line[n++] = '\n';
	int fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, line, n);
		(void)w;
		close(fd);
	}
	errno = saved;
}

VERSIONED("posix_spawn@@" NF_GLIBC_SPAWN)
int nofork_preload_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_posix_spawn(pid, path, fa, attr, argv, envp);
	trace("posix_spawn", path, r);
	return r;
}

VERSIONED("posix_spawnp@@" NF_GLIBC_SPAWN)
int nofork_preload_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_posix_spawnp(pid, file, fa, attr, argv, envp);
	trace("posix_spawnp", file, r);
	return r;
}

/* glibc before 2.15: an ENOEXEC file runs through /bin/sh. Only where glibc
 * has that older node (x86_64; aarch64's glibc starts at 2.17). */
#ifdef NF_GLIBC_SPAWN_OLD
VERSIONED("posix_spawn@" NF_GLIBC_SPAWN_OLD)
int nofork_preload_posix_spawn_2_2_5(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_posix_spawn_try_shell(pid, path, fa, attr, argv, envp);
	trace("posix_spawn@" NF_GLIBC_SPAWN_OLD, path, r);
	return r;
}

VERSIONED("posix_spawnp@" NF_GLIBC_SPAWN_OLD)
int nofork_preload_posix_spawnp_2_2_5(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_posix_spawnp_try_shell(pid, file, fa, attr, argv, envp);
	trace("posix_spawnp@" NF_GLIBC_SPAWN_OLD, file, r);
	return r;
}
#endif

EXPORT int pidfd_spawn(int *pidfd, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_pidfd_spawn(pidfd, path, fa, attr, argv, envp);
	trace("pidfd_spawn", path, r);
	return r;
}

EXPORT int pidfd_spawnp(int *pidfd, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_pidfd_spawnp(pidfd, file, fa, attr, argv, envp);
	trace("pidfd_spawnp", file, r);
	return r;
}

EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	return nofork_posix_spawn_file_actions_init(fa);
}

EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	return nofork_posix_spawn_file_actions_destroy(fa);
}

EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd,
	const char *path, int oflag, mode_t mode)
{
	return nofork_posix_spawn_file_actions_addopen(fa, fd, path, oflag, mode);
}

EXPORT int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	return nofork_posix_spawn_file_actions_addclose(fa, fd);
}

EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	return nofork_posix_spawn_file_actions_adddup2(fa, fd, newfd);
}

EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	return nofork_posix_spawn_file_actions_addchdir_np(fa, path);
}

EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	return nofork_posix_spawn_file_actions_addfchdir_np(fa, fd);
}

EXPORT int posix_spawn_file_actions_addchdir(posix_spawn_file_actions_t *fa, const char *path)
{
	return nofork_posix_spawn_file_actions_addchdir(fa, path);
}

EXPORT int posix_spawn_file_actions_addfchdir(posix_spawn_file_actions_t *fa, int fd)
{
	return nofork_posix_spawn_file_actions_addfchdir(fa, fd);
}

EXPORT int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	return nofork_posix_spawn_file_actions_addclosefrom_np(fa, from);
}

EXPORT int posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int tcfd)
{
	return nofork_posix_spawn_file_actions_addtcsetpgrp_np(fa, tcfd);
}

EXPORT int posix_spawnattr_init(posix_spawnattr_t *attr)
{
	return nofork_posix_spawnattr_init(attr);
}

EXPORT int posix_spawnattr_destroy(posix_spawnattr_t *attr)
{
	return nofork_posix_spawnattr_destroy(attr);
}

EXPORT int posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags)
{
	return nofork_posix_spawnattr_setflags(attr, flags);
}

EXPORT int posix_spawnattr_getflags(const posix_spawnattr_t *attr, short *flags)
{
	return nofork_posix_spawnattr_getflags(attr, flags);
}

EXPORT int posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup)
{
	return nofork_posix_spawnattr_setpgroup(attr, pgroup);
}

EXPORT int posix_spawnattr_getpgroup(const posix_spawnattr_t *attr, pid_t *pgroup)
{
	return nofork_posix_spawnattr_getpgroup(attr, pgroup);
}

EXPORT int posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *set)
{
	return nofork_posix_spawnattr_setsigdefault(attr, set);
}

EXPORT int posix_spawnattr_getsigdefault(const posix_spawnattr_t *attr, sigset_t *set)
{
	return nofork_posix_spawnattr_getsigdefault(attr, set);
}

EXPORT int posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *set)
{
	return nofork_posix_spawnattr_setsigmask(attr, set);
}

EXPORT int posix_spawnattr_getsigmask(const posix_spawnattr_t *attr, sigset_t *set)
{
	return nofork_posix_spawnattr_getsigmask(attr, set);
}

EXPORT int posix_spawnattr_setschedpolicy(posix_spawnattr_t *attr, int policy)
{
	return nofork_posix_spawnattr_setschedpolicy(attr, policy);
}

EXPORT int posix_spawnattr_getschedpolicy(const posix_spawnattr_t *attr, int *policy)
{
	return nofork_posix_spawnattr_getschedpolicy(attr, policy);
}

EXPORT int posix_spawnattr_setschedparam(posix_spawnattr_t *attr, const struct sched_param *param)
{
	return nofork_posix_spawnattr_setschedparam(attr, param);
}

EXPORT int posix_spawnattr_getschedparam(const posix_spawnattr_t *attr, struct sched_param *param)
{
	return nofork_posix_spawnattr_getschedparam(attr, param);
}

EXPORT int posix_spawnattr_setcgroup_np(posix_spawnattr_t *attr, int cgroup)
{
	return nofork_posix_spawnattr_setcgroup_np(attr, cgroup);
}

EXPORT int posix_spawnattr_getcgroup_np(const posix_spawnattr_t *attr, int *cgroup)
{
	return nofork_posix_spawnattr_getcgroup_np(attr, cgroup);
}
