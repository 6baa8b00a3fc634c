/* Compiles a cmd into a plan: one block holding the header, the flat op
 * array and every string and pointer array the ops refer to, so the child
 * reads nothing outside it (except the live environ when asked for, and a
 * borrowed cmd's own strings for its one spawn).
 *
 * Layout is produced by one routine run twice: first to measure (no base),
 * then to fill, so the size and the layout cannot disagree. The routine
 * allocates nothing: a native cmd's plan is one aligned_alloc, cached in the
 * cmd; a compat spawn's plan lives on its child's stack (plan_spawn_once). */
#include "nofork_int.h"
#include "stack_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <ucontext.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

_Static_assert(offsetof(nf_op, kind) == OP_KIND && offsetof(nf_op, a) == OP_A && offsetof(nf_op, b) == OP_B &&
                   offsetof(nf_op, c) == OP_C && offsetof(nf_op, p) == OP_P && sizeof(nf_op) == OP_SIZE,
               "op layout matches child_abi.h");
_Static_assert(offsetof(nf_plan, n_ops) == PLAN_NOPS && offsetof(nf_plan, ops) == PLAN_OPS &&
                   offsetof(nf_plan, argv) == PLAN_ARGV && offsetof(nf_plan, sh_argv) == PLAN_SHARGV &&
                   offsetof(nf_plan, sh_stride) == PLAN_SHSTRIDE && offsetof(nf_plan, procfd) == PLAN_PROCFD &&
                   offsetof(nf_plan, empty) == PLAN_EMPTY && offsetof(nf_plan, fd_limit) == PLAN_FDLIMIT,
               "plan layout matches child_abi.h");
_Static_assert(offsetof(nf_run_rec, plan) == RUN_PLAN && offsetof(nf_run_rec, envp) == RUN_ENVP &&
                   offsetof(nf_run_rec, mask) == RUN_MASK && offsetof(nf_run_rec, pidfd) == RUN_PIDFD &&
                   offsetof(nf_run_rec, mode) == RUN_MODE && offsetof(nf_run_rec, ppid) == RUN_PPID &&
                   offsetof(nf_run_rec, step) == RUN_STEP && offsetof(nf_run_rec, err) == RUN_ERR &&
                   offsetof(nf_run_rec, index) == RUN_INDEX && offsetof(nf_run_rec, kind) == RUN_KIND &&
                   offsetof(nf_run_rec, detail) == RUN_DETAIL && offsetof(nf_run_rec, stops) == RUN_STOPS &&
                   offsetof(nf_run_rec, closed) == RUN_CLOSED && offsetof(nf_run_rec, fd_first) == RUN_FDFIRST &&
                   offsetof(nf_run_rec, slots) == RUN_SLOTS && offsetof(nf_run_rec, pgid) == RUN_PGID &&
                   offsetof(nf_run_rec, in) == RUN_IN && offsetof(nf_run_rec, out) == RUN_OUT &&
                   offsetof(nf_run_rec, tid) == RUN_TID && offsetof(nf_run_rec, sync) == RUN_SYNC &&
                   offsetof(nf_run_rec, iderr) == RUN_IDERR &&
                   sizeof(nf_run_rec) == RUN_SIZE && RUN_SIZE % 64 == 0 &&
                   ABI_SLOTS == NF_PROC_PIPES,
               "run layout matches child_abi.h");
_Static_assert(ABI_AT_FDCWD == AT_FDCWD && ABI_AT_EMPTY_PATH == AT_EMPTY_PATH &&
                   ABI_O_RDONLY_DIR_CLOEXEC == (O_RDONLY | O_DIRECTORY | O_CLOEXEC) &&
                   ABI_O_WRONLY_CLOEXEC == (O_WRONLY | O_CLOEXEC) && ABI_F_SETFD == F_SETFD &&
                   ABI_PR_SET_PDEATHSIG == PR_SET_PDEATHSIG && ABI_PR_SET_NO_NEW_PRIVS == PR_SET_NO_NEW_PRIVS &&
                   ABI_UC_RUN == offsetof(ucontext_t, ABI_UC_RUN_FIELD) &&
                   ABI_ENOEXEC_SH == NF_ENOEXEC_SH && ABI_FUTEX_WAIT == FUTEX_WAIT &&
                   ABI_STATFS_FLAGS == offsetof(struct statfs, f_flags) && ABI_MS_BIND_REC == (int)(MS_BIND | MS_REC) &&
                   ABI_MNT_DETACH == MNT_DETACH &&
                   ABI_MS_KEEP == (int)(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NODIRATIME) &&
                   (int)ST_RDONLY == (int)MS_RDONLY && (int)ST_NOSUID == (int)MS_NOSUID &&
                   (int)ST_NODEV == (int)MS_NODEV && (int)ST_NOEXEC == (int)MS_NOEXEC &&
                   (int)ST_NODIRATIME == (int)MS_NODIRATIME && ABI_ST_NOATIME == (int)ST_NOATIME &&
                   ABI_ST_RELATIME == (int)ST_RELATIME && ABI_MS_NOATIME == (int)MS_NOATIME &&
                   ABI_MS_RELATIME == (int)MS_RELATIME && ABI_MS_STRICTATIME == (int)MS_STRICTATIME &&
                   ABI_PR_SET_KEEPCAPS == PR_SET_KEEPCAPS &&
                   ABI_PR_CAPBSET_READ == PR_CAPBSET_READ && ABI_PR_CAPBSET_DROP == PR_CAPBSET_DROP &&
                   ABI_PR_CAP_AMBIENT == PR_CAP_AMBIENT && ABI_PR_CAP_AMBIENT_RAISE == PR_CAP_AMBIENT_RAISE &&
                   ABI_PR_CAP_AMBIENT_CLEAR_ALL == PR_CAP_AMBIENT_CLEAR_ALL &&
                   ABI_SECCOMP_SET_MODE_FILTER == SECCOMP_SET_MODE_FILTER,
               "the child's constants match libc's");
_Static_assert(sizeof(struct __user_cap_header_struct) == 8 && sizeof(struct __user_cap_data_struct) == 12,
               "CAPSET's operand is the header and two data structs, 32 bytes");
_Static_assert(sizeof(struct statfs) <= ABI_DENTS_SIZE, "MOUNT's statfs fits the child's DENTS buffer");
_Static_assert(sizeof(struct rlimit) == 16 && sizeof(int) == 4, "prlimit64 operand fits {b,c}");

static const char *put_str(nf_builder *b, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = builder_take(b, n, 1);
	if (p)
		memcpy(p, s, n);
	return p;
}

/* A string of the cmd: the caller's own while it is borrowed, else a copy. */
static const char *use_str(nf_builder *b, const nf_cmd *c, const char *s)
{
	return c->borrowed ? s : put_str(b, s);
}

static char **put_strv(nf_builder *b, char *const *v, size_t *count)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **out = builder_take(b, (n + 1) * sizeof *out, 8);
	for (size_t i = 0; i < n; i++) {
		const char *s = put_str(b, v[i]);
		if (out)
			out[i] = (char *)s;
	}
	if (out)
		out[n] = NULL;
	if (count)
		*count = n;
	return out;
}

/* Room for the fds that survive the fd policy: 0-2, kept fds, action
 * targets and the exec fd. */
static size_t keep_cap(const nf_cmd *c)
{
	size_t n = 3 + c->n_keep + (c->exec_fd >= 0) + c->has_landlock;
	for (size_t i = 0; i < c->n_acts; i++)
		n += c->acts[i].kind == OPK_DUP2 || c->acts[i].kind == OPK_OPEN || c->acts[i].kind == OPK_PIPE;
	return n;
}

static void sift_down(int *v, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && v[child] < v[child + 1])
			child++;
		if (v[root] >= v[child])
			return;
		int t = v[root];
		v[root] = v[child];
		v[child] = t;
	}
}

/* Heapsort: in place, no recursion, no allocation (qsort may malloc), and
 * O(n log n) for a cmd with thousands of actions. */
static void sort_fds(int *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n);
	for (size_t end = n; end-- > 1;) {
		int t = v[0];
		v[0] = v[end];
		v[end] = t;
		sift_down(v, 0, end);
	}
}

/* The keep list, written in place into the plan (room for keep_cap):
 * sorted and unique, as the child's close_range gaps need it. */
static size_t keep_list(const nf_cmd *c, int *keep)
{
	size_t n = 0;
	for (int fd = 0; fd < 3; fd++)
		keep[n++] = fd;
	for (size_t i = 0; i < c->n_keep; i++)
		keep[n++] = c->keep[i];
	for (size_t i = 0; i < c->n_acts; i++) {
		if (c->acts[i].kind == OPK_DUP2 || c->acts[i].kind == OPK_PIPE)
			keep[n++] = (int)c->acts[i].b;
		else if (c->acts[i].kind == OPK_OPEN)
			keep[n++] = c->acts[i].a;
	}
	if (c->exec_fd >= 0)
		keep[n++] = c->exec_fd;
	if (c->has_landlock) /* open until the LANDLOCK step; close-on-exec after it */
		keep[n++] = c->landlock_fd;
	sort_fds(keep, n);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || keep[u - 1] != keep[i])
			keep[u++] = keep[i];
	return u;
}

/* 1 + the highest fd any op names (at least 3). A child that shares the
 * caller's fd table unshares it copying only the fds below this one, so its
 * cost does not grow with the caller's open fds. */
static uint32_t fd_named(const nf_op *ops, size_t n)
{
	int64_t max = 2;
	for (size_t i = 0; i < n; i++) {
		const nf_op *o = &ops[i];
		switch (o->kind) {
		case OPK_PIPE:
			max = o->b > max ? o->b : max;
			break;
		case OPK_DUP2:
			max = o->b > max ? o->b : max;
			/* fallthrough */
		case OPK_OPEN:
		case OPK_CLOSE:
		case OPK_FCHDIR:
		case OPK_KEEP_FD:
		case OPK_FOREGROUND:
		case OPK_CTTY:
		case OPK_CGROUP:
		case OPK_LANDLOCK:
			max = o->a > max ? o->a : max;
			break;
		case OPK_EXEC:
			max = o->c > max ? o->c : max;
			break;
		}
	}
	return (uint32_t)max + 1;
}

/* Everything a plan holds besides its header and ops, laid out in the
 * same order by both passes (NULL while measuring). */
struct parts {
	int *keep;
	gid_t *groups;
	char **argv, **envp, **cands, **sh;
	size_t argc, n_cands, sh_stride, n_keep;
	const char *procfd, *empty, *cgprocs;
	/* The sandbox's process attributes (NULL: not asked for). */
	cpu_set_t *affinity;
	const char *oom_path;
	struct __user_cap_header_struct *caps; /* followed by its data[2] */
	struct sock_fprog *seccomp;             /* its filter follows it */
	int *landlock_keep;                     /* the ruleset copy, for closefrom's keep list */
	int64_t nofile; /* RLIMIT_NOFILE's soft limit, -1 if infinite */
	nf_envedits env; /* edits left for each spawn (to the live environ) */
	const char *uid_map, *gid_map; /* for the parent to write */
};

/* The edit whose name is entry e's ("NAME=..."), or NULL. Most entries
 * cost one test of the first-byte filter. */
static const nf_envedit *env_find(const nf_envedits *ed, const char *e)
{
	unsigned char c = (unsigned char)e[0];
	if (!(ed->first[c >> 6] >> (c & 63) & 1))
		return NULL;
	for (const nf_envedit *x = ed->v; x < ed->v + ed->n; x++)
		/* e[len] only once strncmp has seen len bytes of e, none its end. */
		if (x->var[0] == e[0] && !strncmp(e, x->var, x->len) && e[x->len] == '=')
			return x;
	return NULL;
}

size_t env_merge(const nf_envedits *ed, char *const *base, size_t n, char **out, unsigned char *seen)
{
	size_t k = 0;
	memset(seen, 0, ed->n);
	for (size_t i = 0; i < n && base[i]; i++) {
		char *e = base[i];
		const nf_envedit *x = env_find(ed, e);
		if (!x) {
			out[k++] = e;
		} else if (x->set && !seen[x - ed->v]) { /* the first entry of the name: replaced in place */
			seen[x - ed->v] = 1;
			out[k++] = (char *)x->var;
		} /* else unset, or a later duplicate of a set name: dropped */
	}
	for (size_t j = 0; j < ed->n; j++)
		if (ed->v[j].set && !seen[j])
			out[k++] = (char *)ed->v[j].var;
	out[k] = NULL;
	return k;
}

/* The cmd's environment: its envp copied (none: the live environ), with
 * its edits merged in now, or, over the live environ, laid out for each
 * spawn to apply (spawn.c). */
static void layout_env(nf_builder *b, const nf_cmd *c, struct parts *pt)
{
	if (!c->n_env && !c->env_clear) {
		pt->envp = c->envp ? put_strv(b, c->envp, NULL) : NULL;
		return;
	}
	nf_envedits *ed = &pt->env;
	nf_envedit *v = builder_take(b, c->n_env * sizeof *v, 8);
	*ed = (nf_envedits){.v = v, .n = c->n_env};
	for (size_t i = 0; i < c->n_env; i++) {
		const char *var = put_str(b, c->env[i]);
		size_t len = strcspn(c->env[i], "=");
		bool set = c->env[i][len] == '=';
		unsigned char f = (unsigned char)c->env[i][0];
		ed->first[f >> 6] |= UINT64_C(1) << (f & 63);
		ed->n_set += set;
		if (v)
			v[i] = (nf_envedit){var, (uint32_t)len, set};
	}
	if (!c->envp && !c->env_clear)
		return;
	/* A fixed base: its copy, with room for the names added, is merged in
	 * place; nothing is left for the spawns. */
	char *const *base = c->env_clear ? NULL : c->envp;
	size_t n = 0;
	while (base && base[n])
		n++;
	pt->envp = builder_take(b, (n + ed->n_set + 1) * sizeof *pt->envp, 8);
	for (size_t i = 0; i < n; i++) {
		const char *s = put_str(b, base[i]);
		if (pt->envp)
			pt->envp[i] = (char *)s;
	}
	unsigned char *seen = builder_take(b, ed->n, 1);
	if (pt->envp)
		env_merge(ed, pt->envp, n, pt->envp, seen);
	*ed = (nf_envedits){0};
}

/* For NF_ENOEXEC_SH: per candidate {"/bin/sh", candidate, argv[1..], NULL};
 * with NF_SH_FILE_AS_GIVEN one {"/bin/sh", file, ...} for all (stride 0:
 * the child indexes it with every candidate). */
static void layout_sh(nf_builder *b, const nf_cmd *c, struct parts *pt)
{
	size_t per = (pt->argc ? pt->argc : 1) + 2;
	bool one = c->flags & NF_SH_FILE_AS_GIVEN;
	size_t n_sh = one ? 1 : pt->n_cands;
	pt->sh_stride = one ? 0 : per;
	pt->sh = builder_take(b, n_sh * per * sizeof *pt->sh, 8);
	const char *bin_sh = put_str(b, "/bin/sh");
	const char *file = one ? use_str(b, c, c->path) : NULL;
	for (size_t i = 0; pt->sh && i < n_sh; i++) {
		char **v = pt->sh + i * per;
		v[0] = (char *)bin_sh;
		v[1] = one ? (char *)file : pt->cands[i];
		for (size_t j = 1; j < pt->argc; j++)
			v[j + 1] = pt->argv[j];
		v[pt->argc > 1 ? pt->argc + 1 : 2] = NULL;
	}
}

/* The operands of the sandbox's process attributes, built here so the
 * child only passes them to the kernel. */
static void layout_sandbox(nf_builder *b, const nf_cmd *c, struct parts *pt)
{
	if (c->affinity) {
		pt->affinity = builder_take(b, c->affinity_size, 8);
		if (pt->affinity)
			memcpy(pt->affinity, c->affinity, c->affinity_size);
	}
	if (c->has_oom)
		pt->oom_path = put_str(b, "/proc/self/oom_score_adj");
	if (c->has_caps) {
		pt->caps = builder_take(b, 32, 8);
		if (pt->caps) {
			*pt->caps = (struct __user_cap_header_struct){.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
			struct __user_cap_data_struct *d = (struct __user_cap_data_struct *)(pt->caps + 1);
			for (int i = 0; i < 2; i++)
				d[i] = (struct __user_cap_data_struct){.effective = (uint32_t)(c->cap_eff >> 32 * i),
				                                       .permitted = (uint32_t)(c->cap_prm >> 32 * i),
				                                       .inheritable = (uint32_t)(c->cap_inh >> 32 * i)};
		}
	}
	if (c->has_landlock) {
		pt->landlock_keep = builder_take(b, sizeof *pt->landlock_keep, 4);
		if (pt->landlock_keep)
			*pt->landlock_keep = c->landlock_fd;
	}
	if (c->seccomp) {
		pt->seccomp = builder_take(b, sizeof *pt->seccomp, 8);
		struct sock_filter *f = builder_take(b, c->n_seccomp * sizeof *f, 8);
		if (pt->seccomp) {
			memcpy(f, c->seccomp, c->n_seccomp * sizeof *f);
			*pt->seccomp = (struct sock_fprog){.len = c->n_seccomp, .filter = f};
		}
	}
}

static void layout_parts(nf_builder *b, const nf_cmd *c, const char *list, struct parts *pt)
{
	*pt = (struct parts){0};
	pt->keep = c->inherit_all ? NULL : builder_take(b, keep_cap(c) * sizeof *pt->keep, 4);
	pt->groups = builder_take(b, c->n_groups * sizeof *pt->groups, 4);
	if (pt->groups && c->n_groups)
		memcpy(pt->groups, c->groups, c->n_groups * sizeof *pt->groups);
	if (c->borrowed) { /* one spawn from the caller's own arrays: no copy */
		while (c->argv[pt->argc])
			pt->argc++;
		pt->argv = c->argv;
		pt->envp = c->envp;
	} else {
		pt->argv = put_strv(b, c->argv, &pt->argc);
		layout_env(b, c, pt);
	}
	pt->cands = path_layout(b, c, list, &pt->n_cands);
	if (c->flags & NF_ENOEXEC_SH)
		layout_sh(b, c, pt);
	pt->procfd = put_str(b, "/proc/self/fd");
	pt->empty = put_str(b, "");
	pt->cgprocs = c->cgroup_fd >= 0 ? put_str(b, "cgroup.procs") : NULL;
	layout_sandbox(b, c, pt);
	pt->n_keep = pt->keep ? keep_list(c, pt->keep) : 0;
	if (c->sb && c->sb->uid_map)
		pt->uid_map = put_str(b, c->sb->uid_map);
	if (c->sb && c->sb->gid_map)
		pt->gid_map = put_str(b, c->sb->gid_map);
	struct rlimit rl;
	pt->nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (int64_t)rl.rlim_cur : -1;
}

/* A MOUNT op's c: {source, fstype, data, the source as messages show it}.
 * One take per statement: both passes must take in the same order. */
static int64_t mount_args(nf_builder *b, const char *source, const char *fstype, const char *data, const char *label)
{
	const char **v = builder_take(b, 4 * sizeof *v, 8);
	const char *s[4] = {0};
	s[0] = source ? put_str(b, source) : NULL;
	s[1] = fstype ? put_str(b, fstype) : NULL;
	s[2] = data ? put_str(b, data) : NULL;
	s[3] = put_str(b, label);
	if (v)
		memcpy(v, s, sizeof s);
	return (int64_t)(uintptr_t)v;
}

/* The ops, in the order the child runs them (the order nofork.h
 * documents), written to ops (NULL while measuring: only counted; action
 * paths are still taken). Returns how many. */
static size_t emit_ops(nf_builder *b, const nf_cmd *c, const struct parts *pt, nf_op *ops)
{
	size_t k = 0;
#define EMIT(...)                          \
	do {                               \
		nf_op o_ = {__VA_ARGS__};  \
		if (ops)                   \
			ops[k] = o_;       \
		k++;                       \
	} while (0)
	if (c->cgroup_fd >= 0)
		EMIT(.kind = OPK_CGROUP, .a = c->cgroup_fd, .c = '0', .p = pt->cgprocs);
	const struct nf_sandbox *sb = c->sb;
	/* The new namespaces: the parent's id maps first (every later step
	 * acts as the mapped ids), then the hostname, the mounts and the
	 * root. A new mount namespace is first made recursively private, as
	 * unshare(1) does, so no mount made in it reaches the caller's. */
	if (sb && sb->gid_map)
		EMIT(.kind = OPK_ID_MAP, .a = ID_SETGROUPS, .p = put_str(b, "setgroups"));
	if (sb && sb->uid_map)
		EMIT(.kind = OPK_ID_MAP, .a = ID_UID_MAP, .p = put_str(b, "uid_map"));
	if (sb && sb->gid_map)
		EMIT(.kind = OPK_ID_MAP, .a = ID_GID_MAP, .p = put_str(b, "gid_map"));
	if (sb && sb->hostname)
		EMIT(.kind = OPK_HOSTNAME, .b = (int64_t)strlen(sb->hostname), .p = put_str(b, sb->hostname));
	if (sb && sb->ns & CLONE_NEWNS) {
		int64_t args = mount_args(b, NULL, NULL, NULL, "--make-rprivate");
		EMIT(.kind = OPK_MOUNT, .b = MS_REC | MS_PRIVATE, .c = args, .p = put_str(b, "/"));
	}
	for (size_t i = 0; sb && i < sb->n_fs; i++) {
		const struct nf_fsop *f = &sb->fs[i];
		int64_t c2 = f->kind == OPK_MOUNT    ? mount_args(b, f->src, f->fstype, f->data, f->src ? f->src : "none")
		             : f->kind == OPK_SYMLINK ? (int64_t)(uintptr_t)put_str(b, f->src)
		                                      : 0;
		EMIT(.kind = f->kind, .a = f->a, .b = (int64_t)f->flags, .c = c2, .p = put_str(b, f->path));
	}
	if (sb && sb->root)
		EMIT(.kind = OPK_CHROOT, .a = !!(sb->ns & CLONE_NEWNS), .p = put_str(b, sb->root));
	if (c->sigdef)
		EMIT(.kind = OPK_SIGDEFAULT, .b = (int64_t)c->sigdef);
	if (c->sigign)
		EMIT(.kind = OPK_SIGDEFAULT, .b = (int64_t)c->sigign, .c = (int64_t)(uintptr_t)SIG_IGN);
	/* glibc's order: the scheduler before setsid/setpgid. */
	if (c->has_sched) /* b's low 4 bytes are the struct sched_param (little-endian) */
		EMIT(.kind = OPK_SCHED, .a = c->sched_policy, .b = (int64_t)(uint32_t)c->sched_prio);
	if (c->affinity)
		EMIT(.kind = OPK_AFFINITY, .b = (int64_t)c->affinity_size, .p = pt->affinity);
	if (c->setsid)
		EMIT(.kind = OPK_SETSID);
	if (c->has_pgid)
		EMIT(.kind = OPK_SETPGID, .b = c->pgid);
	if (c->resetids) { /* glibc: seteuid(getuid()) then setegid(getgid()) */
		EMIT(.kind = OPK_SETUID, .a = -1, .b = getuid(), .c = -1);
		EMIT(.kind = OPK_SETGID, .a = -1, .b = getgid(), .c = -1);
	}
	if (c->has_nice)
		EMIT(.kind = OPK_NICE, .a = c->nice);
	if (c->has_ioprio)
		EMIT(.kind = OPK_IOPRIO, .a = c->ioprio);
	if (c->has_oom) { /* the text in c's bytes (little-endian), at most "-1000" */
		char text[8] = {0};
		int len = snprintf(text, sizeof text, "%d", c->oom_score_adj);
		int64_t bytes;
		memcpy(&bytes, text, sizeof bytes);
		EMIT(.kind = OPK_OOM_SCORE_ADJ, .a = len, .c = bytes, .p = pt->oom_path);
	}
	for (int r = 0; r < NF_NLIMITS; r++)
		if (c->rlim_set & (1u << r))
			EMIT(.kind = OPK_RLIMIT, .a = r, .b = (int64_t)c->rlim[r].rlim_cur, .c = (int64_t)c->rlim[r].rlim_max);
	if (c->has_umask)
		EMIT(.kind = OPK_UMASK, .a = (int32_t)c->umask);
	for (size_t i = 0; i < c->n_keep; i++)
		EMIT(.kind = OPK_KEEP_FD, .a = c->keep[i]);
	/* The pipes first, as a shell connects them before a command's own
	 * redirections: a later closefrom cannot take a pipe's end away before
	 * it is in place, and dup2(1, 2) sends stderr down a piped stdout. */
	for (size_t i = 0; i < c->n_acts; i++)
		if (c->acts[i].kind == OPK_PIPE)
			EMIT(.kind = OPK_PIPE, .a = c->acts[i].a, .b = c->acts[i].b, .c = c->acts[i].c);
	for (size_t i = 0; i < c->n_acts; i++) {
		const nf_act *a = &c->acts[i];
		if (a->kind == OPK_PIPE)
			continue;
		int64_t cc = a->c;
		if (a->kind == OPK_CLOSE && cc == 2) /* glibc's close: see child_abi.h */
			cc = pt->nofile >= 0 && a->a >= pt->nofile ? 0 : 1;
		if (a->kind == OPK_CLOSE_FDS && c->has_landlock && c->landlock_fd >= a->b) {
			/* nf_cmd_closefrom spares the Landlock copy until its step. */
			EMIT(.kind = OPK_CLOSE_FDS, .a = 1, .b = a->b, .p = pt->landlock_keep);
			continue;
		}
		EMIT(.kind = a->kind, .a = a->a, .b = a->b, .c = cc, .p = a->p ? use_str(b, c, a->p) : NULL);
	}
	if (!c->inherit_all)
		EMIT(.kind = OPK_CLOSE_FDS, .a = (int32_t)pt->n_keep, .b = 0, .p = pt->keep);
	/* Capabilities, part 1: while the caller's effective set (CAP_SETPCAP)
	 * still holds, before setresuid clears it; keep-caps so that setresuid
	 * to a non-zero uid keeps the permitted set for CAPSET. */
	if (c->has_caps) {
		EMIT(.kind = OPK_KEEPCAPS);
		if (c->cap_drop)
			EMIT(.kind = OPK_CAPBSET, .b = (int64_t)c->cap_drop);
	}
	if (c->has_groups)
		EMIT(.kind = OPK_SETGROUPS, .a = (int32_t)c->n_groups, .p = pt->groups);
	if (c->has_gid)
		EMIT(.kind = OPK_SETGID, .a = (int32_t)c->gid, .b = c->gid, .c = c->gid);
	if (c->has_uid)
		EMIT(.kind = OPK_SETUID, .a = (int32_t)c->uid, .b = c->uid, .c = c->uid);
	/* Capabilities, part 2, after the ids (setresuid to non-zero clears
	 * the ambient set, and from root the effective one): the three sets,
	 * then the ambient ones, which need permitted and inheritable. */
	if (c->has_caps) {
		EMIT(.kind = OPK_CAPSET, .p = pt->caps);
		EMIT(.kind = OPK_AMBIENT, .b = (int64_t)c->cap_amb);
	}
	/* After the ids: the kernel clears the parent-death signal whenever the
	 * euid/egid changes (commit_creds). Its race check (parent gone?) then
	 * also covers every step before it. */
	if (c->pdeathsig)
		EMIT(.kind = OPK_PDEATHSIG, .a = c->pdeathsig);
	if (c->nnp)
		EMIT(.kind = OPK_NO_NEW_PRIVS);
	/* Landlock after no_new_privs, which it needs without CAP_SYS_ADMIN. */
	if (c->has_landlock)
		EMIT(.kind = OPK_LANDLOCK, .a = c->landlock_fd);
	if (c->exec_err)
		EMIT(.kind = OPK_FAIL, .a = c->exec_err);
	/* Right before EXEC, which installs it after the signal mask (the op
	 * itself does nothing): see child_abi.h. */
	if (c->seccomp)
		EMIT(.kind = OPK_SECCOMP, .p = pt->seccomp);
	EMIT(.kind = OPK_EXEC, .a = (int32_t)pt->n_cands, .b = c->flags & NF_ENOEXEC_SH, .c = c->exec_fd,
	     .p = pt->cands);
#undef EMIT
	return k;
}

/* Measures (b->base NULL) or fills the plan of c. Every take happens in
 * both passes in the same order, so the size and the layout agree. */
static void layout(nf_builder *b, const nf_cmd *c, const char *list)
{
	nf_plan *pl = builder_take(b, sizeof *pl, 64);
	/* The ops are counted by emitting them: the measuring pass runs the
	 * same emission without a place to write, then adds their room at the
	 * end; the filling pass puts them here. Their size is a multiple of 32,
	 * so every later take aligns alike in both passes. */
	nf_op *ops = builder_take(b, b->n_ops * sizeof *ops, 8);
	struct parts pt;
	layout_parts(b, c, list, &pt);
	size_t k = emit_ops(b, c, &pt, ops);
	if (!pl) {
		b->n_ops = (uint32_t)k;
		b->off += k * sizeof *ops;
		return;
	}
	*pl = (nf_plan){
	    .n_ops = (uint32_t)k,
	    .flags = (c->has_mask ? PLANF_MASK : 0) | (c->pdeathsig ? PLANF_PDEATH : 0) |
	             (c->flags & NF_NO_PIDFD ? PLANF_NO_PIDFD : 0) |
	             (c->has_uid || c->has_gid || c->resetids ? PLANF_IDS : 0) |
	             (pt.uid_map || pt.gid_map ? PLANF_MAPS : 0),
	    .ops = ops,
	    .argv = pt.argv,
	    .sh_argv = pt.sh,
	    .sh_stride = pt.sh_stride,
	    .procfd = pt.procfd,
	    .empty = pt.empty,
	    .fd_limit = pt.nofile >= 0 ? (uint64_t)pt.nofile : 1u << 20,
	    .fd_named = fd_named(ops, k),
	    .envp = pt.envp,
	    .mask = c->mask,
	    .cands = (const char *const *)pt.cands,
	    .n_cands = (int32_t)pt.n_cands,
	    .cgroup_fd = c->cgroup_fd,
	    .size = b->off,
	    .env = pt.env,
	    .ns = c->sb ? c->sb->ns : 0,
	    .uid_map = pt.uid_map,
	    .gid_map = pt.gid_map,
	};
	pl->fd_first = c->inherit_all ? 0 : pl->fd_named;
	for (size_t i = 0; i < k; i++) /* the pipes, by slot */
		if (ops[i].kind == OPK_PIPE)
			pl->pipes[pl->n_pipes++] = (struct plan_pipe){(int32_t)ops[i].b, (int32_t)ops[i].c};
}

/* The measuring pass: b.off is the size, b.n_ops the ops it emitted. */
static nf_builder measure(const nf_cmd *c, const char *list)
{
	nf_builder b = {0};
	layout(&b, c, list);
	return b;
}

/* The filling pass at mem (64-byte aligned, m.off bytes). */
static nf_plan *fill(const nf_cmd *c, const char *list, nf_builder m, void *mem)
{
	nf_builder b = {.base = mem, .n_ops = m.n_ops};
	layout(&b, c, list);
	if (b.off != m.off || ((nf_plan *)mem)->n_ops != m.n_ops)
		abort(); /* the cmd or its PATH changed between the passes */
	return mem;
}

int plan_compile(const nf_cmd *c, nf_plan **out)
{
	const char *list = path_list(c);
	nf_builder m = measure(c, list);
	void *mem = aligned_alloc(64, (m.off + 63) & ~(size_t)63);
	if (!mem)
		return ENOMEM;
	*out = fill(c, list, m, mem);
	return 0;
}

int plan_spawn_once(const nf_cmd *c, nf_proc *proc, nf_error *err)
{
	const char *list = path_list(c);
	nf_builder m = measure(c, list);
	size_t room = (m.off + 63) & ~(size_t)63;
	nf_stack *st;
	int e = stack_get(room + NF_CHILD_STACK, &st);
	if (e) {
		e = e == EINVAL ? ENOMEM : e; /* larger than the largest stack */
		error_parent(err, e, NF_OP_CLONE);
		return e;
	}
	char *top = stack_top(st) - room; /* the plan on top, the child below it */
	e = spawn_compiled(fill(c, list, m, top), st, top, proc, err);
	stack_put(st);
	return e;
}

int cmd_plan(const nf_cmd *cmd, const nf_plan **out)
{
	nf_cmd *c = (nf_cmd *)cmd; /* the plan cache is the one mutable part */
	nf_plan *p = atomic_load_explicit(&c->plan, memory_order_acquire);
	if (!p) {
		nf_plan *fresh, *expected = NULL;
		int e = plan_compile(c, &fresh);
		if (e)
			return e;
		/* Two threads may compile at once; the first to publish wins. */
		if (atomic_compare_exchange_strong_explicit(&c->plan, &expected, fresh, memory_order_acq_rel,
		                                            memory_order_acquire)) {
			p = fresh;
		} else {
			free(fresh);
			p = expected;
		}
	}
	*out = p;
	return 0;
}

void cmd_invalidate(nf_cmd *c)
{
	free(atomic_exchange_explicit(&c->plan, NULL, memory_order_acq_rel));
}
