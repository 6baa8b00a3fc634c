/* The glibc posix_spawn family on nofork (see include/nofork/spawn.h).
 *
 * The objects keep glibc's sizes (ABI) and nofork's contents: a file-actions
 * object holds one pointer to a growable array of actions allocated here; an
 * attribute object holds its fields inline. Each spawn builds an nf_cmd from
 * them, spawns it and frees it. glibc's checks and error codes are copied
 * exactly where the caller can see them; the child-side behaviour comes from
 * the core (internal hooks in lib/nofork_int.h).
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

#include "nofork/spawn.h"
#include "nofork_int.h"

enum compat_action_kind {
	CA_OPEN,
	CA_CLOSE,
	CA_DUP2,
	CA_CHDIR,
	CA_FCHDIR,
	CA_CLOSEFROM,
	CA_TCSETPGRP,
};

struct compat_action {
	enum compat_action_kind kind;
	int fd;     /* target fd (dup2: newfd; closefrom: from) */
	int oldfd;  /* dup2's source */
	int oflag;
	mode_t mode;
	char *path; /* open, chdir: owned copy */
};

struct compat_actions {
	size_t n, cap;
	struct compat_action *v;
};

/* Inside a posix_spawn_file_actions_t: only this pointer; NULL until the
 * first add, so init cannot fail and init+destroy allocates nothing. */
struct fa_overlay {
	struct compat_actions *impl;
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

static const struct compat_actions *actions_of(const posix_spawn_file_actions_t *fa)
{
	return fa ? ((const struct fa_overlay *)(const void *)fa)->impl : NULL;
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
static bool fd_below(int fd, long maxfd)
{
	return fd >= 0 && (maxfd < 0 || fd < maxfd);
}

static bool valid_fd(int fd)
{
	return fd_below(fd, sysconf(_SC_OPEN_MAX));
}

/* ---- file actions ----------------------------------------------------------- */

int nofork_posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	memset(fa, 0, sizeof *fa);
	return 0;
}

int nofork_posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	struct compat_actions *ca = fa_of(fa)->impl;
	if (ca) {
		for (size_t i = 0; i < ca->n; i++)
			free(ca->v[i].path);
		free(ca->v);
		free(ca);
	}
	fa_of(fa)->impl = NULL;
	return 0;
}

/* Append a, taking ownership of a.path (freed on failure). */
static int push_action(posix_spawn_file_actions_t *fa, struct compat_action a)
{
	struct compat_actions *ca = fa_of(fa)->impl;
	if (!ca) {
		ca = calloc(1, sizeof *ca);
		if (!ca)
			goto nomem;
		fa_of(fa)->impl = ca;
	}
	if (ca->n == ca->cap) {
		size_t cap = ca->cap ? 2 * ca->cap : 8;
		struct compat_action *v = realloc(ca->v, cap * sizeof *v);
		if (!v)
			goto nomem;
		ca->v = v;
		ca->cap = cap;
	}
	ca->v[ca->n++] = a;
	return 0;
nomem:
	free(a.path);
	return ENOMEM;
}

static int push_path_action(posix_spawn_file_actions_t *fa, struct compat_action a,
	const char *path)
{
	a.path = strdup(path);
	if (!a.path)
		return ENOMEM;
	return push_action(fa, a);
}

int nofork_posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd,
	const char *path, int oflag, mode_t mode)
{
	if (!valid_fd(fd))
		return EBADF;
	return push_path_action(fa, (struct compat_action){ .kind = CA_OPEN, .fd = fd,
		.oflag = oflag, .mode = mode }, path);
}

int nofork_posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	if (!valid_fd(fd))
		return EBADF;
	return push_action(fa, (struct compat_action){ .kind = CA_CLOSE, .fd = fd });
}

int nofork_posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	if (!valid_fd(fd) || !valid_fd(newfd))
		return EBADF;
	return push_action(fa, (struct compat_action){ .kind = CA_DUP2, .fd = newfd, .oldfd = fd });
}

int nofork_posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	return push_path_action(fa, (struct compat_action){ .kind = CA_CHDIR, .fd = -1 }, path);
}

int nofork_posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	return push_action(fa, (struct compat_action){ .kind = CA_FCHDIR, .fd = fd });
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
	return push_action(fa, (struct compat_action){ .kind = CA_CLOSEFROM, .fd = from });
}

int nofork_posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int tcfd)
{
	if (!valid_fd(tcfd))
		return EBADF;
	return push_action(fa, (struct compat_action){ .kind = CA_TCSETPGRP, .fd = tcfd });
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

/* glibc: close(fd), ignoring errors unless fd is out of RLIMIT_NOFILE range
 * (maxfd: the soft limit now, which may have been lowered since the add). */
static int add_close(nf_cmd *cmd, int fd, long maxfd)
{
	if (!fd_below(fd, maxfd))
		return nf_cmd_fail_action(cmd, EBADF);
	return nf_cmd_close_lenient(cmd, fd);
}

static int add_action(nf_cmd *cmd, const struct compat_action *a, long maxfd)
{
	int r;
	switch (a->kind) {
	case CA_OPEN:
		/* glibc (and POSIX) close the target first, ignoring errors: at the
		 * fd limit the open can then succeed, and an O_CLOEXEC file that lands
		 * on the target keeps its flag. */
		if (!fd_below(a->fd, maxfd))
			return nf_cmd_fail_action(cmd, EBADF);
		if ((r = nf_cmd_close_lenient(cmd, a->fd)))
			return r;
		if (!a->path[0])
			return nf_cmd_fail_action(cmd, ENOENT);
		return nf_cmd_open(cmd, a->fd, a->path, a->oflag, a->mode);
	case CA_CLOSE:
		return add_close(cmd, a->fd, maxfd);
	case CA_DUP2:
		return nf_cmd_dup2(cmd, a->oldfd, a->fd);
	case CA_CHDIR:
		if (!a->path[0])
			return nf_cmd_fail_action(cmd, ENOENT);
		return nf_cmd_chdir(cmd, a->path);
	case CA_FCHDIR:
		return nf_cmd_fchdir(cmd, a->fd);
	case CA_CLOSEFROM:
		return nf_cmd_closefrom(cmd, a->fd);
	case CA_TCSETPGRP:
		return nf_cmd_foreground(cmd, a->fd);
	}
	return EINVAL;
}

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

static int add_attributes(nf_cmd *cmd, const struct attr_overlay *at)
{
	int r = 0;
	short fl = at ? at->flags : 0;
	sigset_t ign;

	/* glibc's child leaves its internal signals ignored unless SETSIGDEF
	 * names them (only possible by writing the set's bits directly). */
	sigemptyset(&ign);
	ign.__val[0] |= 1ul << (SIG_GLIBC_CANCEL - 1) | 1ul << (SIG_GLIBC_SETXID - 1);
	if (fl & POSIX_SPAWN_SETSIGDEF) {
		ign.__val[0] &= ~at->sigdefault.__val[0];
		r = nf_cmd_sigdefault(cmd, &at->sigdefault);
	}
	if (!r)
		r = nf_cmd_sigignore(cmd, &ign);
	if (!r && (fl & (POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_SETSCHEDPARAM))) {
		int policy = fl & POSIX_SPAWN_SETSCHEDULER ? at->policy : -1;
		if (sched_invalid(policy, at->param.sched_priority))
			return EINVAL;
		r = nf_cmd_sched(cmd, policy, at->param.sched_priority);
	}
	if (!r && (fl & POSIX_SPAWN_SETSID))
		r = nf_cmd_setsid(cmd);
	if (!r && (fl & POSIX_SPAWN_SETPGROUP))
		r = nf_cmd_setpgid(cmd, at->pgroup);
	if (!r && (fl & POSIX_SPAWN_RESETIDS))
		r = nf_cmd_resetids(cmd);
	if (!r && (fl & POSIX_SPAWN_SETSIGMASK)) {
		/* glibc's sigprocmask never blocks SIGCANCEL/SIGSETXID. */
		sigset_t m = at->sigmask;
		m.__val[0] &= ~(1ul << (SIG_GLIBC_CANCEL - 1) | 1ul << (SIG_GLIBC_SETXID - 1));
		r = nf_cmd_sigmask(cmd, &m);
	}
	if (!r && (fl & NOFORK_POSIX_SPAWN_SETCGROUP))
		r = nf_cmd_cgroup(cmd, at->cgroup);
	return r;
}

/* glibc's __clone_pidfd_supported: waitid(P_PIDFD) on a bad fd answers EBADF
 * only where pidfds exist. Asked once. */
static bool pidfd_supported(void)
{
	static atomic_int known; /* 0 unknown, 1 yes, 2 no */
	int k = atomic_load_explicit(&known, memory_order_relaxed);
	if (!k) {
		siginfo_t si;
		long r = syscall(SYS_waitid, 3 /* P_PIDFD */, INT_MAX, &si,
			WEXITED | WNOHANG, NULL);
		k = (r == -1 && errno == EBADF) ? 1 : 2;
		atomic_store_explicit(&known, k, memory_order_relaxed);
	}
	return k == 1;
}

/* The work behind posix_spawn[p] and pidfd_spawn[p]: exactly one of pid and
 * pidfd_out is the caller's output (either may be NULL for posix_spawn). */
static int compat_spawn(pid_t *pid, int *pidfd_out, bool want_pidfd, const char *file,
	bool search, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attrp,
	char *const argv[], char *const envp[])
{
	static char *const empty_env[] = { NULL };
	const struct compat_actions *ca = actions_of(fa);
	const struct attr_overlay *at = attrp ? cattr_of(attrp) : NULL;
	nf_cmd *cmd = NULL;
	nf_proc proc;
	int r;

	if (!file || !argv)
		return EINVAL;
	if (want_pidfd && !pidfd_supported())
		return ENOSYS;
	if (!envp)
		envp = empty_env;
	/* glibc fails these at exec, after the actions: the cmd gets a stand-in
	 * path that is never executed. */
	int exec_err = 0;
	search = search && !strchr(file, '/');
	if (file[0] == '\0')
		exec_err = ENOENT;
	else if (search && strnlen(file, NAME_MAX + 1) > NAME_MAX)
		exec_err = ENAMETOOLONG;

	if (exec_err) {
		r = nf_cmd_new(&cmd, "/", argv, envp);
	} else if (search) {
		const char *path = getenv("PATH");
		r = nf_cmd_newp(&cmd, file, argv, envp);
		if (!r)
			r = nf_cmd_search_path(cmd, path ? path : DEFAULT_PATH);
	} else {
		r = nf_cmd_new(&cmd, file, argv, envp);
	}
	if (!r)
		r = nf_cmd_inherit_all_fds(cmd);
	if (!r && !want_pidfd)
		r = nf_cmd_flags(cmd, NF_NO_PIDFD);
	if (!r)
		r = add_attributes(cmd, at);
	long maxfd = ca && ca->n ? sysconf(_SC_OPEN_MAX) : -1;
	for (size_t i = 0; !r && ca && i < ca->n; i++)
		r = add_action(cmd, &ca->v[i], maxfd);
	if (!r && exec_err)
		r = nf_cmd_fail_action(cmd, exec_err);
	if (!r) {
		/* As glibc: a spawn is not a cancellation point, so a cancel can
		 * never leave a half-started child or a leaked plan behind. */
		int cancel;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
		r = nf_spawn(cmd, &proc, NULL);
		pthread_setcancelstate(cancel, NULL);
	}
	nf_cmd_free(cmd);
	if (r)
		return r;

	if (want_pidfd) {
		*pidfd_out = proc.pidfd;
		return 0;
	}
	if (pid)
		*pid = proc.pid;
	return 0;
}

int nofork_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pid, NULL, false, path, false, fa, attrp, argv, envp);
}

int nofork_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(pid, NULL, false, file, true, fa, attrp, argv, envp);
}

int nofork_pidfd_spawn(int *pidfd, const char *path, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(NULL, pidfd, true, path, false, fa, attrp, argv, envp);
}

int nofork_pidfd_spawnp(int *pidfd, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
{
	return compat_spawn(NULL, pidfd, true, file, true, fa, attrp, argv, envp);
}
