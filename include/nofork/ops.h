/* nofork/ops.h: every step a spawn can fail at, described once.
 *
 * NF_OP_LIST(X) expands X(NAME, FD, ARG, PATH, WHAT) once per step, in the
 * order of their numbers (NAME's number is its position, from 1; 0 is
 * NF_OP_NONE). From this one list come:
 *   - enum nf_op_kind in <nofork.h> (NF_OP_<NAME>), the kind nf_error.op holds;
 *   - the kind numbers and the self-checking op table of the child
 *     interpreter (asm/<arch>/child.S: OPK_<NAME>);
 *   - how nf_error is filled for a failed step and how nf_error_format reads
 *     (lib/error.c).
 * FD, ARG and PATH say where nf_error's fd, arg and path come from: `_` none,
 * `A`/`B`/`C`/`P` an operand of the step (lib/child_abi.h lists them),
 * `DETAIL` what the child reported beside the errno (a signal number), `ID`
 * the id a set*id step sets (A, or B when only the effective one is set),
 * `CAND` the exec candidate that failed (fd: C, the exec fd, when there is
 * one). WHAT is the step in a message: %f the fd, %a the arg, %o the arg in
 * octal, %r the arg as an RLIMIT_ name, %p the path, %s the second path of
 * a step that names two (nf_error.path2: a mount's source, a symlink's
 * target); an EXEC with an fd reads as "execveat fd %f".
 *
 * Adding a step (the whole recipe; IOPRIO was added by it, in 10 files):
 *   1. one X entry here, before CLONE (the parent-side steps come last);
 *   2. one routine in asm/<arch>/child.S (op_<name>, ending in next_op or
 *      fail) and one OP line in its op_table (the assembler checks the
 *      position); one line on its operands in lib/child_abi.h;
 *   3. one setter in lib/cmd.c that validates and records (a field in
 *      struct nf_cmd, lib/nofork_int.h), declared and documented in
 *      <nofork.h> (with its place in the order the child applies steps), and
 *      its emission at that place in lib/plan.c's layout;
 *   4. one test that spawns tests/progs/probe and compares what it saw (a
 *      line in the probe if it does not print that state yet), and one that
 *      makes the step fail and compares the message; registered in
 *      tests/meson.build; and the step's line in the reference formatter
 *      of tests/test_small_stack.c (old_format), which fails until it is.
 * PIPE (nf_cmd_pipe) was added the same way, plus its per-spawn slots in
 * the run record (lib/child_abi.h) that lib/spawn.c fills.
 * This file is assembler-safe: only preprocessor definitions. */
#ifndef NOFORK_OPS_H
#define NOFORK_OPS_H

/* clang-format off */
#define NF_OP_LIST(X) \
	X(DUP2,         B, A,      _,    "dup2 fd %a to fd %f") \
	X(OPEN,         A, _,      P,    "open %p as fd %f") \
	X(CLOSE,        A, _,      _,    "close fd %f") \
	X(CHDIR,        _, _,      P,    "chdir %p") \
	X(FCHDIR,       A, _,      _,    "fchdir fd %f") \
	X(KEEP_FD,      A, _,      _,    "keep fd %f") \
	X(CLOSE_FDS,    B, _,      _,    "close fds from %f") \
	X(SETSID,       _, _,      _,    "setsid") \
	X(SETPGID,      _, B,      _,    "setpgid %a") \
	X(SIGDEFAULT,   _, DETAIL, _,    "reset signal %a to default") \
	X(SIGMASK,      _, DETAIL, _,    "set signal mask") \
	X(SIGRESET,     _, DETAIL, _,    "reset handler of signal %a") \
	X(EXEC,         C, _,      CAND, "execve %p") \
	X(FOREGROUND,   A, _,      _,    "make the child's group the foreground of fd %f") \
	X(CTTY,         A, _,      _,    "make fd %f the controlling terminal") \
	X(SETGROUPS,    _, A,      _,    "setgroups (%a groups)") \
	X(SETGID,       _, ID,     _,    "setgid %a") \
	X(SETUID,       _, ID,     _,    "setuid %a") \
	X(UMASK,        _, A,      _,    "umask %o") \
	X(RLIMIT,       _, A,      _,    "setrlimit %r") \
	X(NICE,         _, A,      _,    "setpriority %a") \
	X(SCHED,        _, A,      _,    "sched_setscheduler policy %a") \
	X(PDEATHSIG,    _, A,      _,    "set parent-death signal %a") \
	X(NO_NEW_PRIVS, _, _,      _,    "set no_new_privs") \
	X(CGROUP,       A, _,      _,    "enter cgroup of fd %f") \
	X(FAIL,         _, _,      _,    "spawn request") \
	X(IOPRIO,       _, A,      _,    "ioprio_set %a") \
	X(PIPE,         B, _,      _,    "connect a pipe to fd %f") \
	X(ID_MAP,       _, _,      P,    "write %p") \
	X(HOSTNAME,     _, _,      P,    "sethostname %p") \
	X(MOUNT,        _, _,      P,    "mount %s on %p") \
	X(MKDIR,        _, A,      P,    "mkdir %p") \
	X(SYMLINK,      _, _,      P,    "symlink %p to %s") \
	X(CHROOT,       _, _,      P,    "change root to %p") \
	X(AFFINITY,     _, B,      _,    "sched_setaffinity") \
	X(OOM_SCORE_ADJ,_, _,      P,    "write %p") \
	X(KEEPCAPS,     _, _,      _,    "set keep-caps") \
	X(CAPBSET,      _, DETAIL, _,    "drop capability %a from the bounding set") \
	X(CAPSET,       _, _,      _,    "capset") \
	X(AMBIENT,      _, DETAIL, _,    "raise ambient capability %a") \
	X(LANDLOCK,     A, _,      _,    "landlock_restrict_self fd %f") \
	X(SECCOMP,      _, _,      _,    "seccomp") \
	X(CLONE,        _, _,      _,    "clone")
/* clang-format on */

#endif
