/* The posix_spawn family as a table, one for glibc and one for nofork's
 * drop-in: the compat tests run the same scenario through both and compare.
 * Included by test_compat_diff.c and test_compat_alloc.c (static: each
 * program gets its own copy of the two small tables). */
#ifndef NOFORK_TESTS_COMPAT_API_H
#define NOFORK_TESTS_COMPAT_API_H

#include <sched.h>
#include <signal.h>
#include <spawn.h>

#include "nofork/spawn.h"

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
	const posix_spawnattr_t *, char *const[], char *const[]);
typedef int pidfd_spawn_fn(int *, const char *, const posix_spawn_file_actions_t *,
	const posix_spawnattr_t *, char *const[], char *const[]);

struct api {
	const char *name;
	spawn_fn *spawn, *spawnp;
	/* glibc < 2.15's ENOEXEC-runs-sh versions: filled in by the test
	 * that uses them (glibc's through dlvsym, nofork's internal ones);
	 * pidfd_*: NULL where this glibc has none. */
	spawn_fn *spawn_sh, *spawnp_sh;
	pidfd_spawn_fn *pidfd_spawn, *pidfd_spawnp;
	int (*fa_init)(posix_spawn_file_actions_t *);
	int (*fa_destroy)(posix_spawn_file_actions_t *);
	int (*addopen)(posix_spawn_file_actions_t *, int, const char *, int, mode_t);
	int (*addclose)(posix_spawn_file_actions_t *, int);
	int (*adddup2)(posix_spawn_file_actions_t *, int, int);
	int (*addchdir)(posix_spawn_file_actions_t *, const char *);
	int (*addfchdir)(posix_spawn_file_actions_t *, int);
	int (*addclosefrom)(posix_spawn_file_actions_t *, int);
	int (*addtcsetpgrp)(posix_spawn_file_actions_t *, int);
	int (*attr_init)(posix_spawnattr_t *);
	int (*attr_destroy)(posix_spawnattr_t *);
	int (*setflags)(posix_spawnattr_t *, short);
	int (*getflags)(const posix_spawnattr_t *, short *);
	int (*setpgroup)(posix_spawnattr_t *, pid_t);
	int (*getpgroup)(const posix_spawnattr_t *, pid_t *);
	int (*setsigdefault)(posix_spawnattr_t *, const sigset_t *);
	int (*getsigdefault)(const posix_spawnattr_t *, sigset_t *);
	int (*setsigmask)(posix_spawnattr_t *, const sigset_t *);
	int (*getsigmask)(const posix_spawnattr_t *, sigset_t *);
	int (*setschedpolicy)(posix_spawnattr_t *, int);
	int (*getschedpolicy)(const posix_spawnattr_t *, int *);
	int (*setschedparam)(posix_spawnattr_t *, const struct sched_param *);
	int (*getschedparam)(const posix_spawnattr_t *, struct sched_param *);
};

#define API_FAMILY(p)                                                                 \
	.fa_init = p##posix_spawn_file_actions_init,                                  \
	.fa_destroy = p##posix_spawn_file_actions_destroy,                            \
	.addopen = p##posix_spawn_file_actions_addopen,                               \
	.addclose = p##posix_spawn_file_actions_addclose,                             \
	.adddup2 = p##posix_spawn_file_actions_adddup2,                               \
	.addchdir = p##posix_spawn_file_actions_addchdir_np,                          \
	.addfchdir = p##posix_spawn_file_actions_addfchdir_np,                        \
	.addclosefrom = p##posix_spawn_file_actions_addclosefrom_np,                  \
	.addtcsetpgrp = p##posix_spawn_file_actions_addtcsetpgrp_np,                  \
	.attr_init = p##posix_spawnattr_init, .attr_destroy = p##posix_spawnattr_destroy, \
	.setflags = p##posix_spawnattr_setflags, .getflags = p##posix_spawnattr_getflags, \
	.setpgroup = p##posix_spawnattr_setpgroup, .getpgroup = p##posix_spawnattr_getpgroup, \
	.setsigdefault = p##posix_spawnattr_setsigdefault,                            \
	.getsigdefault = p##posix_spawnattr_getsigdefault,                            \
	.setsigmask = p##posix_spawnattr_setsigmask, .getsigmask = p##posix_spawnattr_getsigmask, \
	.setschedpolicy = p##posix_spawnattr_setschedpolicy,                          \
	.getschedpolicy = p##posix_spawnattr_getschedpolicy,                          \
	.setschedparam = p##posix_spawnattr_setschedparam,                            \
	.getschedparam = p##posix_spawnattr_getschedparam

static struct api glibc_api = {
	.name = "glibc", .spawn = posix_spawn, .spawnp = posix_spawnp, API_FAMILY(),
};

static struct api nofork_api = {
	.name = "nofork", .spawn = nofork_posix_spawn, .spawnp = nofork_posix_spawnp,
	.pidfd_spawn = nofork_pidfd_spawn, .pidfd_spawnp = nofork_pidfd_spawnp,
	API_FAMILY(nofork_),
};

#endif
