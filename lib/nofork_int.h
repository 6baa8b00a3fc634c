/* Internal declarations shared by lib/ (parent side only). */
#ifndef NF_INT_H
#define NF_INT_H

#include "nofork.h"
#include "cancel.h"
#include "child_abi.h"

#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h> /* P_PIDFD: glibc 2.36 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One ordered action as the user added it (file actions, foreground, ctty,
 * closefrom); kind is an OPK_*, operands as in child_abi.h. */
typedef struct nf_act {
	uint32_t kind;
	int32_t a;
	int64_t b, c;
	char *p; /* owned copy of a path, or NULL */
} nf_act;

#define NF_NLIMITS 16

/* Internal flag (nf_cmd.flags, never accepted by nf_cmd_flags): with
 * NF_ENOEXEC_SH, /bin/sh gets the file as the cmd names it instead of the
 * candidate that failed with ENOEXEC, as glibc's posix_spawnp before 2.15
 * does (its PATH search stops there and execs /bin/sh with the caller's
 * name). One sh argv then serves every candidate. */
#define NF_SH_FILE_AS_GIVEN 0x100u

/* What the plan compiler reads. Made by the nf_cmd_* setters (which own
 * every pointer), or filled in place by lib/compat for one spawn with every
 * pointer borrowed (borrowed = true), so that a posix_spawn allocates
 * nothing: keep it small, it lives on that caller's stack. */
struct nf_cmd {
	char *path;  /* program (nf_cmd_new) or file (nf_cmd_newp) */
	bool search; /* nf_cmd_newp: search PATH */
	char **argv; /* owned, NULL-terminated copies (borrowed: the caller's) */
	char **envp; /* NULL: the live environ */
	/* argv, envp, path and the action paths are the caller's, valid only
	 * for one spawn: the plan points at them instead of copying them. */
	bool borrowed;
	/* Environment edits since the last nf_cmd_clearenv (env_clear), one
	 * per name in the order of the name's first edit, holding its last:
	 * "NAME=value" (set) or "NAME" (unset). */
	bool env_clear;
	char **env;
	size_t n_env, cap_env;
	char *search_path; /* nf_cmd_search_path, or NULL */
	unsigned flags;    /* NF_* flags, NF_SH_FILE_AS_GIVEN */
	int exec_err;      /* compat: the exec step fails with this errno instead */

	nf_act *acts;
	size_t n_acts, cap_acts;
	int *keep;
	size_t n_keep, cap_keep;
	bool inherit_all;

	bool setsid, has_pgid, has_mask, nnp, resetids;
	pid_t pgid;
	uint64_t mask, sigdef, sigign;
	bool has_umask, has_nice, has_ioprio, has_sched, has_gid, has_uid, has_groups;
	mode_t umask;
	int nice, ioprio, sched_policy, sched_prio, pdeathsig;
	gid_t gid;
	uid_t uid;
	gid_t *groups;
	size_t n_groups;
	uint32_t rlim_set; /* bit per resource */
	struct rlimit *rlim; /* NF_NLIMITS entries, allocated by the first nf_cmd_rlimit */
	int cgroup_fd, exec_fd;
	struct nf_sandbox *sb; /* lib/sandbox.c; NULL: none asked for */
	/* The sandbox's process attributes (a zeroed struct has none, as
	 * lib/compat's cmd needs). */
	bool has_caps, has_oom, has_landlock;
	uint64_t cap_prm, cap_eff, cap_inh, cap_amb, cap_drop; /* cap_drop: ~bounding, up to cap_last_cap */
	int oom_score_adj;
	int landlock_fd;             /* the cmd's own close-on-exec copy, with has_landlock */
	struct sock_filter *seccomp; /* owned copy, or NULL */
	unsigned short n_seccomp;
	cpu_set_t *affinity;         /* owned copy, or NULL */
	size_t affinity_size;

	/* The compiled plan, built on first spawn and shared by every later
	 * one; any setter drops it. A cache, hence mutable through const. */
	_Atomic(nf_plan *) plan;
};

/* The namespace steps of a cmd (lib/sandbox.c), apart so that a
 * posix_spawn's nf_cmd on its caller's stack stays small. */
struct nf_fsop {        /* one mount, mkdir or symlink, in the order added */
	uint32_t kind;  /* OPK_MOUNT, OPK_MKDIR, OPK_SYMLINK */
	int32_t a;      /* MKDIR: mode; MOUNT: 1 for a remount keeping locked flags */
	unsigned long flags;
	char *path;     /* target, directory, link (owned, as the rest) */
	char *src;      /* MOUNT: source (NULL: none); SYMLINK: the link's target */
	char *fstype, *data;
};
struct nf_sandbox {
	uint64_t ns;               /* CLONE_NEW* */
	char *uid_map, *gid_map;   /* normalized "in out count\n" lines, or NULL */
	char *hostname, *root;
	struct nf_fsop *fs;
	size_t n_fs, cap_fs;
};
/* A request only a whole cmd can show wrong (a map without a new user
 * namespace, ...): 0, or EINVAL with *op the step. Before anything is cloned. */
int sandbox_check(const nf_cmd *cmd, int *op);
void sandbox_free(struct nf_sandbox *sb);

/* A plan is laid out by one routine run twice: measuring (base NULL: only
 * off advances) and filling (base: the memory, as large as measured). */
typedef struct nf_builder {
	char *base;
	size_t off;
	uint32_t n_ops; /* measuring: 0; filling: what the measuring pass emitted */
} nf_builder;

/* size bytes aligned to align (a power of two): their address, or NULL
 * while measuring. */
static inline void *builder_take(nf_builder *b, size_t size, size_t align)
{
	b->off = (b->off + align - 1) & ~(align - 1);
	void *p = b->base ? b->base + b->off : NULL;
	b->off += size;
	return p;
}

/* plan.c. Compiling is measure, get memory, fill; only getting the memory
 * may allocate, so a plan can live anywhere its spawner puts it. `list` is
 * path_list(cmd), read once so both passes see the same PATH. */
int plan_compile(const nf_cmd *cmd, nf_plan **out); /* one aligned_alloc */
int cmd_plan(const nf_cmd *cmd, const nf_plan **out); /* cached */
void cmd_invalidate(nf_cmd *cmd);
/* Spawn cmd once without keeping its plan and without allocating: the plan
 * is laid out in the upper part of a pooled child stack (the pool maps one
 * only when it is empty), the child's run record and stack below it. For
 * lib/compat, whose cmd lives on the caller's stack for one call. */
int plan_spawn_once(const nf_cmd *cmd, nf_proc *proc, nf_error *err);

/* plan.c: base (its first n entries, fewer if its NULL comes first) with
 * the environment edits applied, written to out with a NULL after them:
 * out has room for n + ed->n_set + 1 pointers and may be base itself
 * (entries only move down); seen is ed->n bytes of scratch. Returns the
 * count. Allocates nothing: spawn.c merges the live environ on the child's
 * stack. */
size_t env_merge(const nf_envedits *ed, char *const *base, size_t n, char **out, unsigned char *seen);

/* path.c: PATH search, prepared in the parent. */
/* The colon-separated list to search for cmd's file, or NULL when the path
 * is used as given (nf_cmd_new, or a name with a '/'). */
const char *path_list(const nf_cmd *cmd);
/* Lay out the exec candidates (the path as given, or each element of list
 * joined with the file): a NULL-terminated pointer array and the strings.
 * Returns the array (NULL while measuring); *n gets the count. */
char **path_layout(nf_builder *b, const nf_cmd *cmd, const char *list, size_t *n);

/* spawn.c. The stack every spawn child gets: its frame is ~1.2 KiB, the
 * rest is room for a signal frame (the stop catcher, child.S). */
#define NF_CHILD_STACK (16 * 1024)
struct nf_stack;
/* Start a compiled plan. st NULL: on a stack from the pool, returned
 * before this returns (with room at its top for the live environ when the
 * plan edits it). Otherwise on st, with the run record just below `top` (a
 * 64-byte aligned address inside st, the plan may lie above it); the caller
 * gives st back to the pool once this returned. Only for plans without
 * edits to the live environ (lib/compat's: its envp is never NULL). */
int spawn_compiled(const nf_plan *plan, struct nf_stack *st, char *top, nf_proc *proc, nf_error *err);
/* nf_spawn with a pipeline stage's own wiring (io NULL: none), applied by
 * the child before the cmd's ops: setpgid(0, pgid) unless pgid < 0, in and
 * out (>= 3, close-on-exec) dup'ed to 0 and 1 unless < 0. */
struct spawn_io {
	int pgid, in, out;
};
int spawn_cmd(const nf_cmd *cmd, const struct spawn_io *io, nf_proc *proc, nf_error *err);

/* proc.c: waitid on the pidfd (>= 0), else on the pid, restarted on EINTR:
 * 0 or an errno. The one place nofork waits for a child. */
int proc_waitid(pid_t pid, int pidfd, siginfo_t *si, int flags);

/* error.c */
void error_fill(nf_error *err, const nf_plan *plan, const nf_run_rec *run);
void error_parent(nf_error *err, int e, int op);

/* ---- the core's interface for lib/compat ----------------------------------
 * lib/compat reaches the core only through this: it fills a struct nf_cmd on
 * its caller's stack (actions as nf_act, the fields below), spawns it with
 * plan_spawn_once, and uses cmd_check_fd, cmd_sigset_bits and array_grow.
 * glibc posix_spawn semantics the public API does not offer, which lib/compat
 * writes straight into that nf_cmd: sigign (glibc 2.36's child
 * sets its internal signals 32/33 to SIG_IGN), exec_err, resetids, CLOSE
 * actions with c=1 or 2 (child_abi.h), NF_SH_FILE_AS_GIVEN. Two of them have
 * setters for a heap cmd (tests/fuzz/fuzz_cmd.c compiles them). One
 * difference stays: a child killed by a signal before exec is reaped and
 * reported as EINTR, where glibc reports success and leaves the dead child
 * to the caller. */
int cmd_close_lenient(nf_cmd *cmd, int fd);  /* a non-open fd is fine */
int cmd_resetids(nf_cmd *cmd);               /* POSIX_SPAWN_RESETIDS, glibc's point */

/* cmd.c: make room for `more` elements of `size` bytes in the array *v of
 * n used and *cap allocated (doubling, at least 8): 0 or ENOMEM (nothing
 * changed). The one growable-array idiom of the library. */
int array_grow(void **v, size_t *cap, size_t n, size_t more, size_t size);

/* Validation shared by setters. */
int cmd_check_fd(int fd);
int cmd_check_path(const char *path);
/* A sigset_t as the 64-bit set of signals 1..64 (bit n-1: signal n). */
uint64_t cmd_sigset_bits(const sigset_t *set);

#endif
