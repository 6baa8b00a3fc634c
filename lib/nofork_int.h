/* Internal declarations shared by lib/ (parent side only). */
#ifndef NF_INT_H
#define NF_INT_H

#include "nofork.h"
#include "cancel.h"
#include "plan.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One ordered action as the user added it (file actions, foreground, ctty,
 * closefrom); kind is an OPK_*, operands as in plan.h. */
typedef struct nf_act {
	uint32_t kind;
	int32_t a;
	int64_t b, c;
	char *p; /* owned copy of a path, or NULL */
} nf_act;

#define NF_NLIMITS 16

struct nf_cmd {
	char *path;  /* program (nf_cmd_new) or file (nf_cmd_newp) */
	bool search; /* nf_cmd_newp: search PATH */
	char **argv; /* owned, NULL-terminated copies (borrowed: the caller's) */
	char **envp; /* NULL: the live environ */
	bool borrowed; /* argv/envp are the caller's, valid only for one spawn */
	char *search_path; /* nf_cmd_search_path, or NULL */
	unsigned flags;    /* NF_* flags */

	nf_act *acts;
	size_t n_acts, cap_acts;
	int *keep;
	size_t n_keep, cap_keep;
	bool inherit_all;

	bool setsid, has_pgid, has_mask, nnp, resetids;
	pid_t pgid;
	uint64_t mask, sigdef, sigign;
	bool has_umask, has_nice, has_sched, has_gid, has_uid, has_groups;
	mode_t umask;
	int nice, sched_policy, sched_prio, pdeathsig;
	gid_t gid;
	uid_t uid;
	gid_t *groups;
	size_t n_groups;
	uint32_t rlim_set; /* bit per resource */
	struct rlimit rlim[NF_NLIMITS];
	int cgroup_fd, exec_fd;

	/* The compiled plan, built on first spawn and shared by every later
	 * one; any setter drops it. A cache, hence mutable through const. */
	_Atomic(nf_plan *) plan;
};

/* plan.c */
int nf_plan_compile(const nf_cmd *cmd, nf_plan **out);
int nf_cmd_plan(const nf_cmd *cmd, const nf_plan **out); /* cached */
void nf_cmd_invalidate(nf_cmd *cmd);

/* path.c: the exec candidates of a cmd, as a NULL-terminated, malloc'd
 * array of malloc'd strings. */
int nf_path_candidates(const nf_cmd *cmd, char ***out);
void nf_path_free(char **cands);

/* error.c */
void nf_error_fill(nf_error *err, const nf_plan *plan, const nf_run *run);
void nf_error_parent(nf_error *err, int e, int op);

/* Internal cmd hooks for lib/compat: glibc posix_spawn semantics the public
 * API does not offer. glibc 2.36's child sets its internal signals 32/33 to
 * SIG_IGN (sigignore); it reports some bad requests only from the child, in
 * their place among the actions (fail_action). One difference stays: a child
 * killed by a signal before exec is reaped and reported as EINTR, where
 * glibc reports success and leaves the dead child to the caller. */
/* A cmd that uses the caller's argv and envp as they are, without copying:
 * for posix_spawn, whose arrays outlive its one spawn. Its plan points at
 * them too, so it must not be spawned after they change. */
int nf_cmd_new_borrowed(nf_cmd **cmd, const char *path, char *const argv[], char *const envp[], bool search);
int nf_cmd_close_lenient(nf_cmd *cmd, int fd);  /* addclose: a non-open fd is fine */
int nf_cmd_resetids(nf_cmd *cmd);               /* POSIX_SPAWN_RESETIDS, glibc's point */
int nf_cmd_sigignore(nf_cmd *cmd, const sigset_t *set); /* SIG_IGN after sigdefault */
int nf_cmd_fail_action(nf_cmd *cmd, int err);   /* an action failing with err */

/* Validation shared by setters. */
int nf_check_fd(int fd);
int nf_check_path(const char *path);

#endif
