/* The glibc posix_spawn family on nofork (see include/nofork/spawn.h).
 *
 * The objects keep glibc's sizes (ABI) and nofork's contents: a file-actions
 * object holds a growable array of the core's own actions (nf_act), each add*
 * converting its request as it comes; an attribute object holds its fields
 * inline. A spawn allocates nothing, ever, so that it works wherever glibc's
 * does, in a signal handler that interrupted malloc included: it describes
 * itself in an nf_cmd on the caller's stack that borrows argv, envp, PATH and
 * the action array, and plan_spawn_once lays the plan out on the child's pooled
 * stack. glibc's checks and error codes are copied exactly where the caller
 * can see them; the child-side behaviour comes from the core (lib/nofork_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat_int.h"
#include "nofork/spawn.h"
#include "nofork_int.h"

/* Inside a posix_spawn_file_actions_t: the action array, ready to be
 * borrowed by a spawn (the object outlives the call and must not change
 * during it, as with glibc). All zero after init, so init cannot fail and
 * init+destroy allocates nothing. */
struct fa_overlay {
	nf_act *v; /* each path (p) owned */
	size_t n, cap;
};
_Static_assert(sizeof(struct fa_overlay) <= sizeof(posix_spawn_file_actions_t),
	"file actions overlay must fit glibc's object");
_Static_assert(_Alignof(struct fa_overlay) <= _Alignof(posix_spawn_file_actions_t),
	"file actions overlay alignment");

/* Inside a posix_spawnattr_t: everything inline (glibc's attr owns no memory
 * either, and sharing one between threads must need no locking). */
struct attr_overlay {
	short flags;
	pid_t pgroup;
	int policy;
	int cgroup;
	struct sched_param param;
	sigset_t sigdefault;
	sigset_t sigmask;
};
_Static_assert(sizeof(struct attr_overlay) <= sizeof(posix_spawnattr_t),
	"attribute overlay must fit glibc's object");
_Static_assert(_Alignof(struct attr_overlay) <= _Alignof(posix_spawnattr_t),
	"attribute overlay alignment");

#define ALL_FLAGS (POSIX_SPAWN_RESETIDS | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF \
	| POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSCHEDPARAM | POSIX_SPAWN_SETSCHEDULER \
	| POSIX_SPAWN_USEVFORK | POSIX_SPAWN_SETSID | NOFORK_POSIX_SPAWN_SETCGROUP)

/* glibc's CS_PATH, searched by posix_spawnp when PATH is unset. */
#define DEFAULT_PATH "/bin:/usr/bin"

/* glibc's SIGCANCEL and SIGSETXID: never blocked in a child, left ignored. */
#define SIG_GLIBC_CANCEL 32
#define SIG_GLIBC_SETXID 33

static struct fa_overlay *fa_of(posix_spawn_file_actions_t *fa)
{
	return (struct fa_overlay *)(void *)fa;
}

static const struct fa_overlay *cfa_of(const posix_spawn_file_actions_t *fa)
{
	return (const struct fa_overlay *)(const void *)fa;
}

static struct attr_overlay *attr_of(posix_spawnattr_t *attr)
{
	return (struct attr_overlay *)(void *)attr;
}

static const struct attr_overlay *cattr_of(const posix_spawnattr_t *attr)
{
	return (const struct attr_overlay *)(const void *)attr;
}

/* glibc's __spawn_valid_fd. sysconf reads RLIMIT_NOFILE's soft limit at each
 * call, as glibc does: a program may raise the limit between two adds. */
static bool valid_fd(int fd)
{
	long maxfd = sysconf(_SC_OPEN_MAX);
	return fd >= 0 && (maxfd < 0 || fd < maxfd);
}

/* ---- file actions ----------------------------------------------------------- */

int nofork_posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	memset(fa, 0, sizeof *fa);
	return 0;
}

int nofork_posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	struct fa_overlay *o = fa_of(fa);
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].p);
	free(o->v);
	*o = (struct fa_overlay){0};
	return 0;
}

/* Append n (1 or 2) actions, the last one with a copy of path (if any).
 * The kinds and operands are the core's (child_abi.h): what glibc's child does
 * for the request, decided now, so a spawn can use the array as it is. */
static int push_acts(posix_spawn_file_actions_t *fa, const nf_act *acts, size_t n, const char *path)
{
	struct fa_overlay *o = fa_of(fa);
	char *copy = NULL;
	if (path && !(copy = strdup(path)))
		return ENOMEM;
	if (array_grow((void **)&o->v, &o->cap, o->n, n, sizeof *o->v)) {
		free(copy);
		return ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		o->v[o->n++] = acts[i];
	o->v[o->n - 1].p = copy;
	return 0;
}

static int push_act(posix_spawn_file_actions_t *fa, uint32_t kind, int32_t a, int64_t b, int64_t c)
{
	return push_acts(fa, &(nf_act){kind, a, b, c, NULL}, 1, NULL);
}

int nofork_posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd,
	const char *path, int oflag, mode_t mode)
{
	if (!valid_fd(fd))
		return EBADF;
	/* glibc (and POSIX) close the target first, ignoring errors: at the fd
	 * limit the open can then succeed, and an O_CLOEXEC file that lands on
	 * the target keeps its flag. The open then places the file at fd as
	 * glibc's child does (a dup2 that fails with EBADF once fd is beyond
	 * a lowered RLIMIT_NOFILE), and "" fails with the kernel's ENOENT. */
	nf_act acts[2] = {
		{ .kind = OPK_CLOSE, .a = fd, .c = 1 },
		{ .kind = OPK_OPEN, .a = fd, .b = oflag, .c = mode },
	};
	return push_acts(fa, acts, 2, path);
}

int nofork_posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	if (!valid_fd(fd))
		return EBADF;
	/* c=2: glibc's close, which fails only for an fd beyond RLIMIT_NOFILE
	 * at spawn time (a program may lower the limit after the add). */
	return push_act(fa, OPK_CLOSE, fd, 0, 2);
}

int nofork_posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	if (!valid_fd(fd) || !valid_fd(newfd))
		return EBADF;
	return push_act(fa, OPK_DUP2, fd, newfd, 0);
}

int nofork_posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	return push_acts(fa, &(nf_act){ .kind = OPK_CHDIR }, 1, path);
}

int nofork_posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	return push_act(fa, OPK_FCHDIR, fd, 0, 0);
}

int nofork_posix_spawn_file_actions_addchdir(posix_spawn_file_actions_t *fa, const char *path)
{
	return nofork_posix_spawn_file_actions_addchdir_np(fa, path);
}

int nofork_posix_spawn_file_actions_addfchdir(posix_spawn_file_actions_t *fa, int fd)
{
	return nofork_posix_spawn_file_actions_addfchdir_np(fa, fd);
}

int nofork_posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	if (!valid_fd(from))
		return EBADF;
	return push_act(fa, OPK_CLOSE_FDS, 0, from, 0);
}

int nofork_posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int tcfd)
{
	if (!valid_fd(tcfd))
		return EBADF;
	return push_act(fa, OPK_FOREGROUND, tcfd, 0, 0);
}

/* ---- attributes ------------------------------------------------------------------ */

int nofork_posix_spawnattr_init(posix_spawnattr_t *attr)
{
	memset(attr, 0, sizeof *attr);
	return 0;
}

int nofork_posix_spawnattr_destroy(posix_spawnattr_t *attr)
{
	(void)attr;
	return 0;
}

int nofork_posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags)
{
	if (flags & ~ALL_FLAGS)
		return EINVAL;
	attr_of(attr)->flags = flags;
	return 0;
}

int nofork_posix_spawnattr_getflags(const posix_spawnattr_t *attr, short *flags)
{
	*flags = cattr_of(attr)->flags;
	return 0;
}

int nofork_posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup)
{
	attr_of(attr)->pgroup = pgroup;
	return 0;
}

int nofork_posix_spawnattr_getpgroup(const posix_spawnattr_t *attr, pid_t *pgroup)
{
	*pgroup = cattr_of(attr)->pgroup;
	return 0;
}

int nofork_posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *set)
{
	attr_of(attr)->sigdefault = *set;
	return 0;
}

int nofork_posix_spawnattr_getsigdefault(const posix_spawnattr_t *attr, sigset_t *set)
{
	*set = cattr_of(attr)->sigdefault;
	return 0;
}

int nofork_posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *set)
{
	attr_of(attr)->sigmask = *set;
	return 0;
}

int nofork_posix_spawnattr_getsigmask(const posix_spawnattr_t *attr, sigset_t *set)
{
	*set = cattr_of(attr)->sigmask;
	return 0;
}

int nofork_posix_spawnattr_setschedpolicy(posix_spawnattr_t *attr, int policy)
{
	if (policy != SCHED_OTHER && policy != SCHED_FIFO && policy != SCHED_RR)
		return EINVAL;
	attr_of(attr)->policy = policy;
	return 0;
}

int nofork_posix_spawnattr_getschedpolicy(const posix_spawnattr_t *attr, int *policy)
{
	*policy = cattr_of(attr)->policy;
	return 0;
}

int nofork_posix_spawnattr_setschedparam(posix_spawnattr_t *attr, const struct sched_param *param)
{
	attr_of(attr)->param = *param;
	return 0;
}

int nofork_posix_spawnattr_getschedparam(const posix_spawnattr_t *attr, struct sched_param *param)
{
	*param = cattr_of(attr)->param;
	return 0;
}

int nofork_posix_spawnattr_setcgroup_np(posix_spawnattr_t *attr, int cgroup)
{
	attr_of(attr)->cgroup = cgroup;
	return 0;
}

int nofork_posix_spawnattr_getcgroup_np(const posix_spawnattr_t *attr, int *cgroup)
{
	*cgroup = cattr_of(attr)->cgroup;
	return 0;
}

/* ---- spawning ------------------------------------------------------------------------- */

/* Whether the kernel will refuse this scheduler request with EINVAL. glibc
 * sets the scheduler first in its child, so such a request fails with EINVAL
 * whatever else would fail later; the native plan runs setsid/setpgid before
 * the scheduler, hence the check here. `policy` -1: keep the policy (the one
 * the child inherits from this thread). */
static bool sched_invalid(int policy, int prio)
{
	if (policy < 0) {
		policy = sched_getscheduler(0);
		if (policy < 0)
			return false;
		if (policy & SCHED_RESET_ON_FORK)
			policy = (policy & ~SCHED_RESET_ON_FORK) == SCHED_FIFO
				|| (policy & ~SCHED_RESET_ON_FORK) == SCHED_RR
				? SCHED_OTHER : policy & ~SCHED_RESET_ON_FORK;
	}
	int lo = sched_get_priority_min(policy), hi = sched_get_priority_max(policy);
	return lo >= 0 && hi >= 0 && (prio < lo || prio > hi);
}

/* Describe the attributes in cmd the way glibc's child applies them. */
static int describe_attributes(nf_cmd *cmd, const struct attr_overlay *at)
{
	short fl = at ? at->flags : 0;
	/* glibc's child leaves its internal signals ignored unless SETSIGDEF
	 * names them (only possible by writing the set's bits directly), and
	 * its sigprocmask never blocks them. */
	const uint64_t internal = 1ull << (SIG_GLIBC_CANCEL - 1) | 1ull << (SIG_GLIBC_SETXID - 1);

	cmd->sigign = internal;
	if (fl & POSIX_SPAWN_SETSIGDEF) {
		cmd->sigdef = cmd_sigset_bits(&at->sigdefault);
		cmd->sigign &= ~cmd->sigdef;
	}
	if (fl & (POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_SETSCHEDPARAM)) {
		int policy = fl & POSIX_SPAWN_SETSCHEDULER ? at->policy : -1;
		if (sched_invalid(policy, at->param.sched_priority))
			return EINVAL;
		cmd->has_sched = true;
		cmd->sched_policy = policy;
		cmd->sched_prio = at->param.sched_priority;
	}
	cmd->setsid = fl & POSIX_SPAWN_SETSID;
	/* A negative group fails in the child, in glibc's order (EINVAL). */
	cmd->has_pgid = fl & POSIX_SPAWN_SETPGROUP;
	cmd->pgid = at ? at->pgroup : 0;
	cmd->resetids = fl & POSIX_SPAWN_RESETIDS;
	if (fl & POSIX_SPAWN_SETSIGMASK) {
		cmd->has_mask = true;
		cmd->mask = cmd_sigset_bits(&at->sigmask) & ~internal;
	}
	if (fl & NOFORK_POSIX_SPAWN_SETCGROUP) {
		int e = cmd_check_fd(at->cgroup);
		if (e)
			return e;
		cmd->cgroup_fd = at->cgroup;
	}
	return 0;
}

/* glibc's __clone_pidfd_supported: waitid(P_PIDFD) on a bad fd answers EBADF
 * only where pidfds exist. Asked once. */
static bool pidfd_supported(void)
{
	static atomic_int known; /* 0 unknown, 1 yes, 2 no */
	int k = atomic_load_explicit(&known, memory_order_relaxed);
	if (!k) {
		siginfo_t si;
		long r = syscall(SYS_waitid, P_PIDFD, INT_MAX, &si,
			WEXITED | WNOHANG, NULL);
		k = (r == -1 && errno == EBADF) ? 1 : 2;
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	return k == 1;
}

/* How compat_spawn spawns. */
#define HOW_SEARCH 0x1    /* posix_spawnp: search PATH */
#define HOW_PIDFD 0x2     /* the result is a pidfd (pidfd_spawn) */
#define HOW_TRY_SHELL 0x4 /* glibc < 2.15: an ENOEXEC file runs with /bin/sh */

/* The work behind every spawn here: `out` is a pid_t * (may be NULL) or,
 * with HOW_PIDFD, an int *. Nothing here allocates: the cmd describing the
 * spawn is on this stack and borrows everything it points to. */
static int compat_spawn(void *out, unsigned how, const char *file,
	const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attrp,
	char *const argv[], char *const envp[])
{
	static char *const empty_env[] = { NULL };

	if (!file || !argv)
		return EINVAL;
	if (how & HOW_PIDFD && !pidfd_supported())
		return ENOSYS;
	bool search = how & HOW_SEARCH && !strchr(file, '/');
	nf_cmd cmd = {
		.path = (char *)file,
		.argv = (char **)argv,
		.envp = (char **)(envp ? envp : empty_env),
		.borrowed = true,
		.flags = (how & HOW_PIDFD ? 0 : NF_NO_PIDFD) |
			(how & HOW_TRY_SHELL ? NF_ENOEXEC_SH | NF_SH_FILE_AS_GIVEN : 0),
		.acts = fa ? cfa_of(fa)->v : NULL,
		.n_acts = fa ? cfa_of(fa)->n : 0,
		.inherit_all = true,
		.cgroup_fd = -1,
		.exec_fd = -1,
	};
	/* glibc fails these at exec, after the actions. */
	if (file[0] == '\0') {
		cmd.exec_err = ENOENT;
	} else if (search && strnlen(file, NAME_MAX + 1) > NAME_MAX) {
		cmd.exec_err = ENAMETOOLONG;
	} else if (search) {
		const char *path = getenv("PATH");
		cmd.search = true;
		cmd.search_path = (char *)(path ? path : DEFAULT_PATH);
	}
	int r = describe_attributes(&cmd, attrp ? cattr_of(attrp) : NULL);
	if (r)
		return r;

	/* As glibc: a spawn is not a cancellation point, so a cancel can never
	 * leave a half-started child behind. */
	nf_proc proc;
	int cancel;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	r = plan_spawn_once(&cmd, &proc, NULL);
	pthread_setcancelstate(cancel, NULL);
	if (r)
		return r;
	if (how & HOW_PIDFD)
		*(int *)out = proc.pidfd;
	else if (out)
		*(pid_t *)out = proc.pid;
	return 0;
}

int nofork_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pid, 0, path, fa, attrp, argv, envp);
}

int nofork_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pid, HOW_SEARCH, file, fa, attrp, argv, envp);
}

int nofork_pidfd_spawn(int *pidfd, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pidfd, HOW_PIDFD, path, fa, attrp, argv, envp);
}

int nofork_pidfd_spawnp(int *pidfd, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pidfd, HOW_PIDFD | HOW_SEARCH, file, fa, attrp, argv, envp);
}

int nofork_posix_spawn_try_shell(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pid, HOW_TRY_SHELL, path, fa, attrp, argv, envp);
}

int nofork_posix_spawnp_try_shell(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pid, HOW_SEARCH | HOW_TRY_SHELL, file, fa, attrp, argv, envp);
}
