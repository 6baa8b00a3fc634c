/* Internal entry points of lib/compat for libnofork-preload.so. */
#ifndef NOFORK_COMPAT_INT_H
#define NOFORK_COMPAT_INT_H

#include <spawn.h>

/* glibc's posix_spawn and posix_spawnp before 2.15, which programs linked
 * then still call (posix_spawn@GLIBC_2.2.5 on x86_64): the same as
 * nofork_posix_spawn[p], except that a file execve refuses with ENOEXEC (a
 * script without "#!") runs as /bin/sh FILE argv[1]... instead, FILE being
 * the name as given (posix_spawnp stops its PATH search there, as glibc's
 * __execvpex does) or the path. /bin/sh's own failure is the result. */
int nofork_posix_spawn_try_shell(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[]);
int nofork_posix_spawnp_try_shell(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[]);

#endif
