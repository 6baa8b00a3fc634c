/* The child ABI: everything the child interpreter (asm/<arch>/child.S) and
 * the C side agree on, in the one file both include: the op kinds (from
 * nofork/ops.h), each op's operands, the plan header and the run record (the
 * only memory the child reads and writes), and the constants the child uses
 * that no assembler-safe kernel header gives. Every offset and constant is a
 * macro here, checked against the C structs and libc by _Static_assert in
 * plan.c. */
#ifndef NF_CHILD_ABI_H
#define NF_CHILD_ABI_H

#include "nofork/ops.h"
/* The per-architecture part (asm/<cpu>/arch_abi.h: the constants whose
 * values differ, where a handler finds the run record, glibc's symbol
 * versions, the spin hint). */
#include "arch_abi.h"

/* Op kinds, OPK_<NAME>: the numbers of enum nf_op_kind (nofork/ops.h is the
 * one list). OPK_MAX is the highest kind the child interprets: the kinds
 * after it are the parent's own steps. */
#ifdef __ASSEMBLER__
	.set nf_opk_next, 1
#define NF_OPK_SET(name, fd, arg, path, what) .set OPK_##name, nf_opk_next; .set nf_opk_next, nf_opk_next + 1;
	NF_OP_LIST(NF_OPK_SET)
#undef NF_OPK_SET
	.set OPK_MAX, OPK_CLONE - 1
#else
enum {
	OPK_NONE,
#define NF_OPK_ENUM(name, fd, arg, path, what) OPK_##name,
	NF_OP_LIST(NF_OPK_ENUM)
#undef NF_OPK_ENUM
	OPK_MAX = OPK_CLONE - 1
};
#endif

/* Constants the child uses that no assembler-safe kernel header defines
 * (<linux/fcntl.h> and <linux/prctl.h> declare structs); plan.c checks each
 * against libc's. */
#define ABI_AT_FDCWD (-100)
#define ABI_AT_EMPTY_PATH 0x1000
#define ABI_O_WRONLY_CLOEXEC 0x80001     /* O_WRONLY | O_CLOEXEC */
#define ABI_F_SETFD 2
#define ABI_PR_SET_PDEATHSIG 1
#define ABI_PR_SET_NO_NEW_PRIVS 38
#define ABI_PR_SET_KEEPCAPS 8
#define ABI_PR_CAPBSET_READ 23
#define ABI_PR_CAPBSET_DROP 24
#define ABI_PR_CAP_AMBIENT 47
#define ABI_PR_CAP_AMBIENT_RAISE 2
#define ABI_PR_CAP_AMBIENT_CLEAR_ALL 4
#define ABI_SECCOMP_SET_MODE_FILTER 1
#define ABI_ENOEXEC_SH 1 /* NF_ENOEXEC_SH, in the EXEC op's b */
#define ABI_FUTEX_WAIT 0
#define ABI_STATFS_FLAGS 80 /* offsetof(struct statfs, f_flags) */
/* The child frame's getdents64 buffer (child.S: DENTS), which MOUNT's
 * statfs also uses: a multiple of 8 that keeps the frame 16-aligned. */
#define ABI_DENTS_SIZE 1032
/* A remount must keep the flags the kernel locks on a mount in a user
 * namespace: these (MS_RDONLY, NOSUID, NODEV, NOEXEC, NODIRATIME: statfs's
 * ST_ bits for them are the same numbers) and the atime mode, exactly. */
#define ABI_MS_KEEP 0x80f
#define ABI_ST_NOATIME 1024
#define ABI_ST_RELATIME 4096
#define ABI_MS_NOATIME 1024
#define ABI_MS_RELATIME 0x200000
#define ABI_MS_STRICTATIME 0x1000000
#define ABI_MS_BIND_REC 0x5000 /* MS_BIND | MS_REC */
#define ABI_MNT_DETACH 2

/* Operands of each op (a: int32, b, c: int64, p: pointer into the plan):
 *  DUP2       a=oldfd b=newfd
 *  OPEN       a=fd b=flags c=mode p=path
 *  CLOSE      a=fd c=1: a non-open fd is not an error. In a cmd's actions
 *             c=2 is glibc's addclose, which the compiler turns into c=1
 *             below RLIMIT_NOFILE's soft limit (at compile time) and c=0 at
 *             or above it (glibc's child: close errors count only there)
 *  CHDIR      p=path             FCHDIR a=fd       KEEP_FD a=fd
 *  CLOSE_FDS  b=first fd, p=sorted int32 fds to keep, a=their count
 *  SETPGID    b=pgid             SIGDEFAULT b=64-bit signal set c=SIG_DFL/SIG_IGN
 *  FOREGROUND a=tty fd b=pgid (0: the child's own group)
 *  CTTY       a=tty fd
 *  SETGROUPS  a=count p=gid array
 *  SETGID/SETUID a,b,c = real, effective, saved (-1 keeps)
 *  UMASK a    RLIMIT a=resource, {b,c} = struct rlimit64 {cur,max}
 *  NICE a     SCHED a=policy (-1: sched_setparam), b = struct sched_param
 *  PDEATHSIG a=signal   NO_NEW_PRIVS   CGROUP a=dir fd p="cgroup.procs" c='0'
 *  FAIL       a=errno to fail with (posix_spawn compat)
 *  IOPRIO     a=ioprio (class << 13 | data), for ioprio_set(IOPRIO_WHO_PROCESS, 0, a)
 *  PIPE       a=slot (the run record's RUN_SLOTS[a] holds this spawn's end)
 *             b=the child's fd, c=direction (NF_PIPE_*; the parent's business)
 *  ID_MAP     a=which file the parent wrote (ID_SETGROUPS, ID_UID_MAP,
 *             ID_GID_MAP), p=its name: waits for the parent (RUN_SYNC),
 *             fails with RUN_IDERR if the parent failed at that file
 *  HOSTNAME   p=name b=its length
 *  MOUNT      p=target b=flags c=struct {source, fstype, data} (pointers)
 *             a=1: a remount that keeps the flags the kernel locks (statfs)
 *  MKDIR      p=path a=mode (an existing entry is not an error)
 *  SYMLINK    p=link path c=its target (pointer)
 *  CHROOT     p=new root, a=1: pivot_root (in a new mount namespace)
 *  AFFINITY   b=set size in bytes, p=the cpu_set_t copy
 *  OOM_SCORE_ADJ p="/proc/self/oom_score_adj", c=the decimal text (a=its
 *             length, at most 5: "-1000")
 *  KEEPCAPS   (PR_SET_KEEPCAPS 1)
 *  CAPBSET    b=capabilities to drop from the bounding set (bit n: cap n)
 *  CAPSET     p={struct __user_cap_header_struct (v3, pid 0),
 *             struct __user_cap_data_struct[2]}, 32 bytes
 *  AMBIENT    b=capabilities to raise (after clearing the ambient set)
 *  LANDLOCK   a=ruleset fd (the cmd's own close-on-exec copy)
 *  SECCOMP    p=struct sock_fprog (its filter in the plan). The op does
 *             nothing where it stands, right before EXEC: the EXEC op
 *             installs the filter after the signal mask, as its last
 *             syscall before execve (failing at the SECCOMP op's index)
 *  EXEC       a=candidate count p=candidate paths b=flags c=exec fd (-1: none)
 */
#define ID_SETGROUPS 0
#define ID_UID_MAP 1
#define ID_GID_MAP 2
#define OP_KIND 0
#define OP_A 4
#define OP_B 8
#define OP_C 16
#define OP_P 24
#define OP_SIZE 32

/* Plan header. */
#define PLAN_NOPS 0      /* u32 */
#define PLAN_OPS 8       /* const op * */
#define PLAN_ARGV 16     /* char *const * */
#define PLAN_SHARGV 24   /* per candidate: {"/bin/sh", cand, argv[1..], NULL} */
#define PLAN_SHSTRIDE 32 /* u64: pointers per sh argv (0: one sh argv serves every candidate) */
#define PLAN_PROCFD 40   /* "/proc/self/fd" */
#define PLAN_EMPTY 48    /* "" */
#define PLAN_FDLIMIT 56  /* u64: bound for closing fds without /proc */

/* Run record: per spawn, at the top of the child's stack (below the plan,
 * when the plan lives on that stack: plan_spawn_once). */
#define RUN_PLAN 0    /* const plan * */
#define RUN_ENVP 8    /* char *const *: the plan's envp or the live environ */
#define RUN_MASK 16   /* u64: signal mask to exec with */
#define RUN_PIDFD 24  /* i32: the child's pidfd in the caller's table, written by the kernel at clone (-1: none) */
#define RUN_MODE 28   /* i32: MODE_*: how the child was cloned and which syscalls to avoid */
#define MODE_RESET_SIGNALS 1 /* clone(2): no CLONE_CLEAR_SIGHAND, the child resets handlers */
#define MODE_JOIN_CGROUP 2   /* no CLONE_INTO_CGROUP: the child writes itself into cgroup.procs */
#define MODE_SHARED_FDS 4    /* CLONE_FILES: the child must unshare before any fd change */
#define MODE_NO_CLOSE_RANGE 8 /* close_range killed an earlier child: use the fallbacks at once */
#define MODE_NO_SIGPENDING 16 /* rt_sigpending killed an earlier child: skip the pending check */
#define RUN_PPID 32   /* i32: parent pid, for PDEATHSIG's race check */
#define RUN_STEP 36   /* i32: child scratch: STEP_* while a syscall that has a fallback runs, else 0 */
#define STEP_CLOSE_RANGE 1
#define STEP_UNSHARE 2
#define STEP_SIGPENDING 3
#define RUN_ERR 40    /* i32: report: errno (0 = none) */
#define RUN_INDEX 44  /* i32: report: op index (-1: before the ops) */
#define RUN_KIND 48   /* i32: report: op kind */
#define RUN_DETAIL 52 /* i32: report: candidate index / signal / fd */
#define RUN_STOPS 56  /* u32: report: job-control stop signals caught before exec (bit n) */
#define RUN_CLOSED 60 /* u32: child scratch: the fds from here up are closed already (0: none) */
#define RUN_FDFIRST 64 /* u32: the plan's fd_first, raised above this spawn's pipe ends (0: no fd policy) */
#define RUN_SLOTS 68  /* i32[ABI_SLOTS]: this spawn's child ends of the cmd's pipes, by slot */
#define ABI_SLOTS 8   /* NF_PROC_PIPES */
#define RUN_PGID 100  /* i32: a pipeline stage's setpgid(0, this) before the ops (-1: none) */
#define RUN_IN 104    /* i32: a pipeline stage's stdin, dup'ed to 0 before the ops (-1: none) */
#define RUN_OUT 108   /* i32: ... its stdout, to 1 (-1: none) */
#define RUN_TID 112   /* i32: non-zero until the child exec'd or exited (CLONE_CHILD_CLEARTID) */
#define RUN_SYNC 116  /* i32: id maps: 0 the parent is writing them, 1 written, 2 + ID_*: failed there */
#define RUN_IDERR 120 /* i32: ... with this errno */
#define RUN_SIZE 128  /* padded: the record sits 64-byte aligned below the stack top */

#ifndef __ASSEMBLER__
#include <stdint.h>

typedef struct nf_op {
	uint32_t kind;
	int32_t a;
	int64_t b;
	int64_t c;
	const void *p;
} nf_op;

/* One resolved environment edit (parent side: the child never reads it). */
typedef struct nf_envedit {
	const char *var; /* "NAME=value" (set) or "NAME" (unset) */
	uint32_t len;    /* of NAME */
	uint32_t set;    /* 1: set, 0: unset */
} nf_envedit;

/* A cmd's edits, one per name in the order of each name's first edit,
 * with a filter on the names' first bytes (bit c of first: some name
 * starts with byte c) that lets most entries of an environment pass
 * without a comparison. */
typedef struct nf_envedits {
	const nf_envedit *v;
	size_t n, n_set; /* edits, and how many of them set */
	uint64_t first[4];
} nf_envedits;

typedef struct nf_plan {
	uint32_t n_ops;
	uint32_t flags; /* PLANF_* */
	const nf_op *ops;
	char *const *argv;
	char *const *sh_argv;
	uint64_t sh_stride;
	const char *procfd;
	const char *empty;
	uint64_t fd_limit;
	/* parent-side fields (the child does not read these) */
	uint32_t fd_first;  /* fd_named, or 0 without an fd policy (the run record's start) */
	char *const *envp;  /* NULL: the live environ */
	uint64_t mask;      /* with PLANF_MASK */
	const char *const *cands;
	int32_t n_cands;
	int32_t cgroup_fd;  /* -1: none */
	size_t size;
	uint32_t fd_named;  /* 1 + the highest fd an op names (at least 3) */
	uint32_t n_pipes;   /* the PIPE ops' slots 0..n_pipes-1: */
	struct plan_pipe { int32_t child_fd, dir; } pipes[ABI_SLOTS];
	/* Edits to the live environ (envp NULL), applied by each spawn (n 0:
	 * none; edits to a fixed envp are merged into envp when compiled). */
	nf_envedits env;
	/* Namespaces (CLONE_NEW*) the child is cloned into, and with
	 * PLANF_MAPS the maps the parent writes for it. */
	uint64_t ns;
	const char *uid_map, *gid_map; /* NULL: none */
} nf_plan;

#define PLANF_MASK 0x1u     /* exec with plan->mask, not the caller's */
#define PLANF_PDEATH 0x2u   /* the child needs the parent pid */
#define PLANF_NO_PIDFD 0x4u
#define PLANF_IDS 0x8u      /* the child changes its euid/egid (see spawn.c: dumpable) */
#define PLANF_MAPS 0x10u    /* the parent writes id maps while the child waits (ID_MAP ops) */

typedef struct nf_run_rec {
	const nf_plan *plan;
	char *const *envp;
	uint64_t mask;
	int32_t pidfd, mode;
	int32_t ppid, step;
	int32_t err, index, kind, detail;
	uint32_t stops;
	uint32_t closed;
	uint32_t fd_first;
	int32_t slots[ABI_SLOTS];
	int32_t pgid, in, out;
	int32_t tid, sync, iderr;
	char pad_[RUN_SIZE - RUN_IDERR - 4];
} nf_run_rec;
#endif
#endif
