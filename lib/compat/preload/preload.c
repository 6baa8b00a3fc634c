/* libnofork-preload.so: the glibc posix_spawn family under glibc's own names,
 * so that an unmodified program run with LD_PRELOAD=libnofork-preload.so
 * spawns through nofork.
 *
 * The whole family is replaced at once: an object made by our init is only
 * ever seen by our functions, so its contents can be nofork's. glibc's own
 * internal users (system, popen) call glibc's hidden aliases and keep working
 * on glibc's objects.
 *
 * Unversioned definitions here satisfy the versioned references programs
 * carry (posix_spawn@GLIBC_2.15, posix_spawn_file_actions_init@GLIBC_2.2.5,
 * ...): the dynamic linker accepts a base-version definition for any version.
 *
 * Proving use: with NOFORK_PRELOAD_TRACE=FILE in the environment, each spawn
 * appends one line "PID FUNCTION FILE RESULT" to FILE (O_APPEND, one write, so
 * lines from concurrent processes do not mix). Without it nothing is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nofork/spawn.h"

#define EXPORT __attribute__((visibility("default")))

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

/* Errors are ignored: tracing must never change what the program sees, and
 * errno is restored for the same reason. */
static void trace(const char *fn, const char *file, int result)
{
	const char *out = getenv("NOFORK_PRELOAD_TRACE");
	if (!out || !*out)
		return;
	int saved = errno;
	char line[512];
	int n = snprintf(line, sizeof line, "%d %s %s %d\n", (int)getpid(), fn, file ? file : "(null)",
		result);
	if (n > (int)sizeof line - 1) {
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	int fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, line, (size_t)n);
		(void)w;
		close(fd);
	}
	errno = saved;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_posix_spawn(pid, path, fa, attr, argv, envp);
	trace("posix_spawn", path, r);
	return r;
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r = nofork_posix_spawnp(pid, file, fa, attr, argv, envp);
	trace("posix_spawnp", file, r);
	return r;
}

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
