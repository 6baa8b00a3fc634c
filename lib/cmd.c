/* The cmd builder: validates and records what the user asks for. Everything
 * here may allocate; nothing here runs in the child. Bad input is refused
 * now, so that nf_spawn has nothing left to reject but what only the child
 * can discover. No setter is a cancellation point (NF_NOCANCEL). */
#include "nofork_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

int cmd_check_fd(int fd)
{
	struct rlimit rl;
	if (fd < 0)
		return EBADF;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)fd >= rl.rlim_cur)
		return EBADF;
	return 0;
}

int cmd_check_path(const char *path)
{
	if (!path || !*path)
		return EINVAL;
	if (strnlen(path, PATH_MAX) >= PATH_MAX)
		return ENAMETOOLONG;
	return 0;
}

static void free_strv(char **v)
{
	if (v)
		for (char **s = v; *s; s++)
			free(*s);
	free(v);
}

static int dup_strv(char *const src[], char ***out)
{
	size_t n = 0;
	while (src[n])
		n++;
	char **v = calloc(n + 1, sizeof *v);
	if (!v)
		return ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = strdup(src[i]))) {
			free_strv(v);
			return ENOMEM;
		}
	*out = v;
	return 0;
}

static int cmd_create(nf_cmd **out, const char *path, char *const argv[], char *const envp[], bool search)
{
	int e;
	if (!out)
		return EINVAL;
	*out = NULL;
	if ((e = cmd_check_path(path)))
		return e;
	if (!argv)
		return EINVAL;
	/* execvp refuses a file name longer than NAME_MAX before searching:
	 * no PATH element can make it valid. */
	if (search && !strchr(path, '/') && strlen(path) > NAME_MAX)
		return ENAMETOOLONG;
	nf_cmd *c = calloc(1, sizeof *c);
	if (!c)
		return ENOMEM;
	c->search = search;
	c->cgroup_fd = c->exec_fd = -1;
	if (!(c->path = strdup(path)) || (e = dup_strv(argv, &c->argv)) || (envp && (e = dup_strv(envp, &c->envp)))) {
		nf_cmd_free(c);
		return e ? e : ENOMEM;
	}
	*out = c;
	return 0;
}

int nf_cmd_new(nf_cmd **cmd, const char *path, char *const argv[], char *const envp[])
{
	NF_NOCANCEL;
	return cmd_create(cmd, path, argv, envp, false);
}

int nf_cmd_newp(nf_cmd **cmd, const char *file, char *const argv[], char *const envp[])
{
	NF_NOCANCEL;
	return cmd_create(cmd, file, argv, envp, true);
}

void nf_cmd_free(nf_cmd *c)
{
	NF_NOCANCEL;
	if (!c)
		return;
	cmd_invalidate(c);
	for (size_t i = 0; i < c->n_acts; i++)
		free(c->acts[i].p);
	free(c->acts);
	free(c->keep);
	free(c->groups);
	free(c->rlim);
	free(c->seccomp);
	free(c->affinity);
	if (c->has_landlock)
		close(c->landlock_fd);
	for (size_t i = 0; i < c->n_env; i++)
		free(c->env[i]);
	free(c->env);
	free(c->search_path);
	sandbox_free(c->sb);
	free(c->path);
	free_strv(c->argv);
	free_strv(c->envp);
	free(c);
}

int nf_cmd_flags(nf_cmd *c, unsigned flags)
{
	NF_NOCANCEL;
	if (!c || flags & ~(NF_ENOEXEC_SH | NF_NO_PIDFD))
		return EINVAL;
	cmd_invalidate(c);
	c->flags = flags;
	return 0;
}

int array_grow(void **v, size_t *cap, size_t n, size_t more, size_t size)
{
	if (*cap - n >= more)
		return 0;
	size_t c = *cap ? *cap : 8;
	while (c - n < more) {
		if (c > SIZE_MAX / 2 / size)
			return ENOMEM;
		c *= 2;
	}
	void *p = realloc(*v, c * size);
	if (!p)
		return ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

/* The cmd's own copy of a Landlock ruleset (nf_cmd_landlock) must stay
 * open in the child up to its step: an action that puts another file at
 * its number moves it first, above that number. */
static int landlock_move_from(nf_cmd *c, int64_t fd)
{
	if (!c->has_landlock || c->landlock_fd != fd)
		return 0;
	int moved = fcntl(c->landlock_fd, F_DUPFD_CLOEXEC, c->landlock_fd + 1);
	if (moved < 0)
		return errno == EINVAL ? EMFILE : errno;
	cmd_invalidate(c); /* the plan names the old number */
	close(c->landlock_fd);
	c->landlock_fd = moved;
	return 0;
}

/* Every setter ends here or in cmd_invalidate: the cached plan no longer
 * describes the cmd. */
static int add_act(nf_cmd *c, uint32_t kind, int32_t a, int64_t b, int64_t cc, const char *p)
{
	if (array_grow((void **)&c->acts, &c->cap_acts, c->n_acts, 1, sizeof *c->acts))
		return ENOMEM;
	int e = landlock_move_from(c, kind == OPK_OPEN ? a : kind == OPK_DUP2 || kind == OPK_PIPE ? b : -1);
	if (e)
		return e;
	char *copy = NULL;
	if (p && !(copy = strdup(p)))
		return ENOMEM;
	cmd_invalidate(c);
	c->acts[c->n_acts++] = (nf_act){kind, a, b, cc, copy};
	return 0;
}

int nf_cmd_dup2(nf_cmd *c, int oldfd, int newfd)
{
	NF_NOCANCEL;
	int e;
	if (!c)
		return EINVAL;
	if ((e = cmd_check_fd(oldfd)) || (e = cmd_check_fd(newfd)))
		return e;
	return add_act(c, OPK_DUP2, oldfd, newfd, 0, NULL);
}

int nf_cmd_open(nf_cmd *c, int fd, const char *path, int flags, mode_t mode)
{
	NF_NOCANCEL;
	int e;
	if (!c)
		return EINVAL;
	if ((e = cmd_check_fd(fd)) || (e = cmd_check_path(path)))
		return e;
	return add_act(c, OPK_OPEN, fd, flags, mode, path);
}

int nf_cmd_pipe(nf_cmd *c, int child_fd, int direction)
{
	NF_NOCANCEL;
	int e;
	if (!c || (direction != NF_PIPE_TO_CHILD && direction != NF_PIPE_FROM_CHILD))
		return EINVAL;
	if ((e = cmd_check_fd(child_fd)))
		return e;
	int slot = 0;
	for (size_t i = 0; i < c->n_acts; i++)
		if (c->acts[i].kind == OPK_PIPE && (slot++, c->acts[i].b == child_fd))
			return EEXIST; /* nf_proc_fd would not know which end */
	if (slot == NF_PROC_PIPES)
		return ENOSPC;
	return add_act(c, OPK_PIPE, slot, child_fd, direction, NULL);
}

int nf_cmd_devnull(nf_cmd *c, int child_fd)
{
	int flags = child_fd == 0 ? O_RDONLY : child_fd == 1 || child_fd == 2 ? O_WRONLY : O_RDWR;
	return nf_cmd_open(c, child_fd, "/dev/null", flags, 0);
}

static int add_close(nf_cmd *c, int fd, int lenient)
{
	int e;
	if (!c)
		return EINVAL;
	if ((e = cmd_check_fd(fd)))
		return e;
	return add_act(c, OPK_CLOSE, fd, 0, lenient, NULL);
}

int nf_cmd_close(nf_cmd *c, int fd) { NF_NOCANCEL; return add_close(c, fd, 0); }
int cmd_close_lenient(nf_cmd *c, int fd) { return add_close(c, fd, 1); }

int nf_cmd_chdir(nf_cmd *c, const char *path)
{
	NF_NOCANCEL;
	int e;
	if (!c)
		return EINVAL;
	if ((e = cmd_check_path(path)))
		return e;
	return add_act(c, OPK_CHDIR, 0, 0, 0, path);
}

/* Setters whose only operand is an fd checked against RLIMIT_NOFILE. */
static int add_fd_act(nf_cmd *c, uint32_t kind, int fd)
{
	int e;
	if (!c)
		return EINVAL;
	if ((e = cmd_check_fd(fd)))
		return e;
	return add_act(c, kind, fd, 0, 0, NULL);
}

int nf_cmd_fchdir(nf_cmd *c, int fd) { NF_NOCANCEL; return add_fd_act(c, OPK_FCHDIR, fd); }
int nf_cmd_foreground(nf_cmd *c, int tty_fd) { NF_NOCANCEL; return add_fd_act(c, OPK_FOREGROUND, tty_fd); }

int nf_cmd_closefrom(nf_cmd *c, int fd)
{
	NF_NOCANCEL;
	if (!c)
		return EINVAL;
	if (fd < 0)
		return EBADF;
	return add_act(c, OPK_CLOSE_FDS, 0, fd, 0, NULL);
}

int nf_cmd_ctty(nf_cmd *c, int fd)
{
	NF_NOCANCEL;
	int e = add_fd_act(c, OPK_CTTY, fd);
	if (!e)
		c->setsid = true;
	return e;
}

int nf_cmd_keep_fd(nf_cmd *c, int fd)
{
	NF_NOCANCEL;
	int e;
	if (!c)
		return EINVAL;
	if ((e = cmd_check_fd(fd)))
		return e;
	for (size_t i = 0; i < c->n_keep; i++)
		if (c->keep[i] == fd)
			return 0;
	if (array_grow((void **)&c->keep, &c->cap_keep, c->n_keep, 1, sizeof *c->keep))
		return ENOMEM;
	cmd_invalidate(c);
	c->keep[c->n_keep++] = fd;
	return 0;
}

/* Attribute setters: validate, drop the plan, record. */
#define SET_ATTR(c, stmt)              \
	do {                           \
		if (!(c))              \
			return EINVAL; \
		cmd_invalidate(c);  \
		stmt;                  \
		return 0;              \
	} while (0)

int nf_cmd_inherit_all_fds(nf_cmd *c) { NF_NOCANCEL; SET_ATTR(c, c->inherit_all = true); }
int nf_cmd_setsid(nf_cmd *c) { NF_NOCANCEL; SET_ATTR(c, c->setsid = true); }
int nf_cmd_no_new_privs(nf_cmd *c) { NF_NOCANCEL; SET_ATTR(c, c->nnp = true); }
int cmd_resetids(nf_cmd *c) { SET_ATTR(c, c->resetids = true); }

int nf_cmd_setpgid(nf_cmd *c, pid_t pgid)
{
	NF_NOCANCEL;
	if (pgid < 0)
		return EINVAL;
	SET_ATTR(c, (c->has_pgid = true, c->pgid = pgid));
}

uint64_t cmd_sigset_bits(const sigset_t *set)
{
	uint64_t bits = 0;
	for (int s = 1; s <= 64; s++)
		if (sigismember(set, s) == 1)
			bits |= UINT64_C(1) << (s - 1);
	return bits;
}

int nf_cmd_sigmask(nf_cmd *c, const sigset_t *mask)
{
	NF_NOCANCEL;
	if (!mask)
		return EINVAL;
	SET_ATTR(c, (c->has_mask = true, c->mask = cmd_sigset_bits(mask)));
}

int nf_cmd_sigdefault(nf_cmd *c, const sigset_t *set)
{
	NF_NOCANCEL;
	if (!set)
		return EINVAL;
	SET_ATTR(c, c->sigdef = cmd_sigset_bits(set));
}

int nf_cmd_setgroups(nf_cmd *c, size_t n, const gid_t *groups)
{
	NF_NOCANCEL;
	if (!c || (n && !groups))
		return EINVAL;
	if (n > NGROUPS_MAX)
		return E2BIG;
	gid_t *copy = NULL;
	if (n && !(copy = malloc(n * sizeof *copy)))
		return ENOMEM;
	if (n)
		memcpy(copy, groups, n * sizeof *copy);
	free(c->groups);
	SET_ATTR(c, (c->groups = copy, c->n_groups = n, c->has_groups = true));
}

int nf_cmd_setgid(nf_cmd *c, gid_t gid)
{
	NF_NOCANCEL;
	if (gid == (gid_t)-1)
		return EINVAL;
	SET_ATTR(c, (c->has_gid = true, c->gid = gid));
}

int nf_cmd_setuid(nf_cmd *c, uid_t uid)
{
	NF_NOCANCEL;
	if (uid == (uid_t)-1)
		return EINVAL;
	SET_ATTR(c, (c->has_uid = true, c->uid = uid));
}

int nf_cmd_umask(nf_cmd *c, mode_t mask)
{
	NF_NOCANCEL;
	if (mask & ~(mode_t)0777)
		return EINVAL;
	SET_ATTR(c, (c->has_umask = true, c->umask = mask));
}

int nf_cmd_rlimit(nf_cmd *c, int resource, const struct rlimit *lim)
{
	NF_NOCANCEL;
	if (!lim || resource < 0 || resource >= RLIMIT_NLIMITS || resource >= NF_NLIMITS)
		return EINVAL;
	if (lim->rlim_cur > lim->rlim_max)
		return EINVAL;
	if (c && !c->rlim && !(c->rlim = calloc(NF_NLIMITS, sizeof *c->rlim)))
		return ENOMEM;
	SET_ATTR(c, (c->rlim_set |= 1u << resource, c->rlim[resource] = *lim));
}

int nf_cmd_nice(nf_cmd *c, int value)
{
	NF_NOCANCEL;
	if (value < -20 || value > 19)
		return EINVAL;
	SET_ATTR(c, (c->has_nice = true, c->nice = value));
}

int nf_cmd_ioprio(nf_cmd *c, int ioprio)
{
	NF_NOCANCEL;
	/* <linux/ioprio.h>: class in bits 13-15, level in 0-2; no hints. The
	 * class NONE takes no level. */
	int cls = ioprio >> 13, level = ioprio & 0x1fff;
	if (ioprio < 0 || cls > 3 || level > 7 || (cls == 0 && level))
		return EINVAL;
	SET_ATTR(c, (c->has_ioprio = true, c->ioprio = ioprio));
}

int nf_cmd_sched(nf_cmd *c, int policy, int priority)
{
	NF_NOCANCEL;
	switch (policy) {
	case -1: case SCHED_OTHER: case SCHED_FIFO: case SCHED_RR: case SCHED_BATCH: case SCHED_IDLE:
		break;
	default:
		return EINVAL;
	}
	SET_ATTR(c, (c->has_sched = true, c->sched_policy = policy, c->sched_prio = priority));
}

int nf_cmd_pdeathsig(nf_cmd *c, int sig)
{
	NF_NOCANCEL;
	if (sig < 0 || sig > 64)
		return EINVAL;
	SET_ATTR(c, c->pdeathsig = sig);
}

/* The highest capability this kernel knows, read now: a cmd built here is
 * spawned here. Without /proc, the one the headers know. */
static int cap_last_cap(void)
{
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return CAP_LAST_CAP;
	buf[n] = '\0';
	int last = atoi(buf);
	return last > 0 && last < 64 ? last : CAP_LAST_CAP;
}

int nf_cmd_capabilities(nf_cmd *c, uint64_t permitted, uint64_t effective, uint64_t inheritable, uint64_t ambient,
                        uint64_t bounding)
{
	NF_NOCANCEL;
	if (!c)
		return EINVAL;
	int last = cap_last_cap();
	uint64_t known = last >= 63 ? ~UINT64_C(0) : (UINT64_C(1) << (last + 1)) - 1;
	if ((permitted | effective | inheritable | ambient | bounding) & ~known)
		return EINVAL;
	/* What capset(2) and PR_CAP_AMBIENT_RAISE would refuse anyway, now. */
	if (effective & ~permitted || ambient & ~(permitted & inheritable))
		return EINVAL;
	SET_ATTR(c, (c->has_caps = true, c->cap_prm = permitted, c->cap_eff = effective, c->cap_inh = inheritable,
	             c->cap_amb = ambient, c->cap_drop = ~bounding & known));
}

int nf_cmd_seccomp(nf_cmd *c, const struct sock_fprog *prog)
{
	NF_NOCANCEL;
	if (!c || !prog || !prog->filter || !prog->len || prog->len > BPF_MAXINSNS)
		return EINVAL;
	struct sock_filter *copy = malloc(prog->len * sizeof *copy);
	if (!copy)
		return ENOMEM;
	memcpy(copy, prog->filter, prog->len * sizeof *copy);
	free(c->seccomp);
	SET_ATTR(c, (c->seccomp = copy, c->n_seccomp = prog->len));
}

int nf_cmd_landlock(nf_cmd *c, int ruleset_fd)
{
	NF_NOCANCEL;
	if (!c)
		return EINVAL;
	if (ruleset_fd < 0 || fcntl(ruleset_fd, F_GETFD) < 0)
		return EBADF;
	/* The kernel names a ruleset's anonymous inode
	 * "anon_inode:[landlock-ruleset]" (older kernels without the brackets);
	 * without /proc the spawn's landlock_restrict_self is the judge. */
	char link[64], target[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", ruleset_fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n >= 0) {
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[landlock-ruleset]") && strcmp(target, "anon_inode:landlock-ruleset"))
			return EINVAL;
	}
	/* Our own copy, close-on-exec: the program never inherits it, and the
	 * caller may close theirs. Above every number an action writes to (and
	 * stdio); an action added later moves it (landlock_move_from). */
	int min = 3;
	for (size_t i = 0; i < c->n_acts; i++) {
		const nf_act *a = &c->acts[i];
		int64_t t = a->kind == OPK_OPEN ? a->a : a->kind == OPK_DUP2 || a->kind == OPK_PIPE ? a->b : -1;
		if (t >= min)
			min = (int)t + 1;
	}
	int own = fcntl(ruleset_fd, F_DUPFD_CLOEXEC, min);
	if (own < 0)
		return errno == EINVAL ? EMFILE : errno;
	if (c->has_landlock)
		close(c->landlock_fd);
	SET_ATTR(c, (c->has_landlock = true, c->landlock_fd = own));
}

int nf_cmd_affinity(nf_cmd *c, size_t setsize, const cpu_set_t *set)
{
	NF_NOCANCEL;
	/* 8192 bytes are 65536 CPUs; more is a negative size passed in. */
	if (!c || !set || !setsize || setsize > 8192 || CPU_COUNT_S(setsize, set) == 0)
		return EINVAL;
	cpu_set_t *copy = malloc(setsize);
	if (!copy)
		return ENOMEM;
	memcpy(copy, set, setsize);
	free(c->affinity);
	SET_ATTR(c, (c->affinity = copy, c->affinity_size = setsize));
}

int nf_cmd_oom_score_adj(nf_cmd *c, int adj)
{
	NF_NOCANCEL;
	if (adj < -1000 || adj > 1000)
		return EINVAL;
	SET_ATTR(c, (c->has_oom = true, c->oom_score_adj = adj));
}

/* Attributes that are one fd of the caller's, checked like every fd. */
static int set_fd_attr(nf_cmd *c, int *field, int fd)
{
	int e = cmd_check_fd(fd);
	if (e)
		return e;
	SET_ATTR(c, *field = fd);
}

int nf_cmd_cgroup(nf_cmd *c, int cgroup_fd)
{
	NF_NOCANCEL;
	return c ? set_fd_attr(c, &c->cgroup_fd, cgroup_fd) : EINVAL;
}

int nf_cmd_exec_fd(nf_cmd *c, int fd)
{
	NF_NOCANCEL;
	return c ? set_fd_attr(c, &c->exec_fd, fd) : EINVAL;
}

int nf_cmd_search_path(nf_cmd *c, const char *path_list)
{
	NF_NOCANCEL;
	if (!c || !path_list)
		return EINVAL;
	char *copy = strdup(path_list);
	if (!copy)
		return ENOMEM;
	free(c->search_path);
	SET_ATTR(c, c->search_path = copy);
}

/* Environment edits: one entry per name (nofork_int.h), so each name's
 * last edit is what a spawn applies, at the place of its first. */
static int env_edit(nf_cmd *c, const char *name, const char *value)
{
	if (!c || !name || !*name || strchr(name, '='))
		return EINVAL;
	size_t len = strlen(name), vlen = value ? strlen(value) + 1 : 0;
	char *var = malloc(len + 1 + vlen);
	if (!var)
		return ENOMEM;
	memcpy(var, name, len);
	var[len] = '\0';
	if (value) {
		var[len] = '=';
		memcpy(var + len + 1, value, vlen);
	}
	size_t i = 0;
	while (i < c->n_env && (strncmp(c->env[i], name, len) || (c->env[i][len] && c->env[i][len] != '=')))
		i++;
	if (i == c->n_env && array_grow((void **)&c->env, &c->cap_env, c->n_env, 1, sizeof *c->env)) {
		free(var);
		return ENOMEM;
	}
	cmd_invalidate(c);
	if (i == c->n_env)
		c->n_env++;
	else
		free(c->env[i]);
	c->env[i] = var;
	return 0;
}

int nf_cmd_setenv(nf_cmd *c, const char *name, const char *value)
{
	NF_NOCANCEL;
	return value ? env_edit(c, name, value) : EINVAL;
}

int nf_cmd_unsetenv(nf_cmd *c, const char *name)
{
	NF_NOCANCEL;
	return env_edit(c, name, NULL);
}

int nf_cmd_clearenv(nf_cmd *c)
{
	NF_NOCANCEL;
	if (!c)
		return EINVAL;
	cmd_invalidate(c);
	while (c->n_env)
		free(c->env[--c->n_env]);
	c->env_clear = true;
	return 0;
}
