/* nofork child side, aarch64 AAPCS64 / Linux: the clone trampolines and the
 * plan interpreter. This is the only code that runs between clone and execve.
 * It mirrors asm/x86_64/child.S op by op (same labels, same order, same
 * reports); read that one for the why of each step, the comments here are
 * about what differs.
 *
 * Contract (README, "The child contract"): raw syscalls only (svc #0); no
 * libc, no TLS, no errno; runs on the dedicated stack the parent handed over;
 * reads only the plan and the run record; writes only its own stack and the
 * run record's report; every signal stays blocked until the mask is set
 * right before execve; any failure records {errno, op index, op kind,
 * detail} in the run record and ends in exit_group(127). No symbol outside
 * this file is used.
 *
 * Registers in the child (callee-saved are simply owned: nothing returns).
 * The kernel keeps every register across svc but x0 (the result), so the
 * x86_64 version's "survives the syscall" notes hold for all of these:
 *   x19  run record (RUN_* offsets, lib/child_abi.h), constant
 *   x20  plan (PLAN_*), constant
 *   x21  current op (OP_*)
 *   w22  current op index
 *   x23  loop counter / dirfd / candidate index / signal or capability
 *        set / byte count (per op)
 *   x24 x25 set_signals' arguments
 *   x26  scratch preserved across syscalls (per op): a temporary fd, the
 *        signal or capability a loop is at, the errno to report
 *   x8   syscall number; x0-x5 arguments, x0 result
 *   w9   kind for fail_kind; x9-x12 scratch
 *   x30  return address of the one-deep subroutines (never stored)
 *
 * Child frame (fixed, FRAME bytes below the run record; no recursion, no
 * variable-size data; subroutines nest at most 1 deep; sp stays 16-aligned):
 *   sp+0    struct kernel_sigaction scratch (32): old or new disposition
 *   sp+32   struct kernel_sigaction, all zero (32): SIG_DFL, no flags
 *   sp+64   tmp0 (8)  sp+72 tmp1 (8)  sp+80 tmp2 (8)
 *   sp+88   getdents64 buffer (1032, so FRAME is a multiple of 16);
 *           at MOUNT: a struct statfs (120); at exec: the stop catcher's
 *           struct kernel_sigaction (32)
 * (arm64's struct kernel_sigaction has x86_64's layout: handler, flags,
 * restorer, mask; SA_RESTORER exists for AArch32 compatibility.)
 *
 * The stop catcher (exec_stop_handler) is the one piece of code that may run
 * as a signal handler here: on this stack, with x19 read back from the
 * interrupted context, writing only the run record's RUN_STOPS.
 *
 * BTI / PAC (bti.h). BTI: BTI_C at the two global entries and at the stop
 * catcher (the kernel enters a handler with BTYPE=c); BTI_J at every op
 * routine, the targets of op_loop's BR (OP_ROUTINE puts it there, and the
 * table's OP macro refuses a label without it, at assembly time: the VM's
 * tests cannot catch a missing pad, since the libraries are not BTI-marked
 * on Debian 12 and so never mapped guarded). PAC: no routine here stores x30 (the
 * subroutines close_gap, is_kept and set_signals are leaves, called with BL
 * and left with RET; the child itself never returns), so there is nothing
 * to sign; the stop catcher's RET goes to exec_stop_restorer, the address the
 * kernel put in x30. Checked by reading every bl/ret/br (grep -nE
 * '\<(bl|ret|br)\>' child.S) and by tests/bti_marked.sh.
 */
#include "child_abi.h"
#include "bti.h"

/* Syscall numbers (__NR_*, asm-generic's table: no open, dup2, fork...),
 * errno values, signal numbers and sigaction flags, clone flags and ioctls
 * come from the kernel's own headers; the few constants no assembler-safe
 * header gives are in child_abi.h / arch_abi.h (ABI_*), checked against
 * libc's by plan.c. */
#define __ASSEMBLY__ 1
#include <asm-generic/errno.h>
#include <asm/ioctls.h>
#include <asm/signal.h>
#include <asm-generic/signal-defs.h> /* SIG_SETMASK, SA_RESTART: asm-generic/signal.h hides it from the assembler */
#include <asm/unistd.h>
#include <linux/close_range.h>
#include <linux/sched.h>

#define SIGBIT(n) (1 << ((n) - 1))
/* Signals whose default action does not end the process: KILL (never
 * pending), the stops, CONT and the ones ignored by default. The x86_64
 * version keeps the complement (FATAL_BY_DEFAULT); BIC takes this one. */
#define HARMLESS_BY_DEFAULT (SIGBIT(SIGKILL) | SIGBIT(SIGCHLD) | SIGBIT(SIGCONT) | SIGBIT(SIGSTOP) | \
	SIGBIT(SIGTSTP) | SIGBIT(SIGTTIN) | SIGBIT(SIGTTOU) | SIGBIT(SIGURG) | SIGBIT(SIGWINCH))

/* The frame (see the table above), from its parts. */
#define SA_OLD 0
#define SA_DFL 32
#define TMP0 64
#define TMP1 72
#define TMP2 80
#define DENTS 88
#define DENTS_SIZE ABI_DENTS_SIZE
#define FRAME (DENTS + DENTS_SIZE)

/* A raw syscall result in x0 is an error iff it lies in [-4095, -1]:
 * x0 + 4095 carries exactly then. */
#define JERR(label) cmn x0, #4095; b.hs label
#define JOK(label) cmn x0, #4095; b.lo label

	.macro SYS nr
	mov x8, #\nr
	svc #0
	.endm

/* A 32-bit constant that no single MOV encodes. */
	.macro MOV32 reg, val
	movz \reg, #((\val) & 0xffff)
	movk \reg, #(((\val) >> 16) & 0xffff), lsl #16
	.endm

/* \bit = the number of the lowest set bit of \set (not 0), which is
 * cleared (x86_64's bsf + btr). Clobbers x11. */
	.macro POP_LOWEST set, bit
	rbit \bit, \set
	clz \bit, \bit
	mov x11, #1
	lsl x11, x11, \bit
	bic \set, \set, x11
	.endm

/* reg = the address of sym, anywhere in the image (ADR reaches 1 MiB). */
	.macro ADDR reg, sym
	adrp \reg, \sym
	add \reg, \reg, :lo12:\sym
	.endm

/* An op routine, a target of op_loop's BR: it starts with its landing pad,
 * and OP (the dispatch table) accepts no other label. */
	.macro OP_ROUTINE name
\name:
	BTI_J
	.set \name\()_has_bti_j, 1
	.endm

/* A syscall that has a fallback: RUN_STEP names it while it runs, so a
 * seccomp filter that kills the child there instead of failing the call is
 * known by its step (spawn.c then takes the fallback). x8 is set. */
	.macro STEP_SYSCALL step
	mov w9, #\step
	str w9, [x19, #RUN_STEP]
	svc #0
	str wzr, [x19, #RUN_STEP]
	.endm

	.text

/* long child_clone3(struct clone_args *args, size_t size, nf_run_rec *run)
 * Parent: returns the child pid or -errno. Child: starts child_main on the
 * stack named in args (the kernel sets sp), never returns. run travels in
 * x9, which the syscall neither reads nor clobbers and the child inherits. */
	.globl child_clone3
	.hidden child_clone3
	.type child_clone3, %function
	.p2align 2
child_clone3:
	.cfi_startproc
	BTI_C
	mov x9, x2
	SYS __NR_clone3
	cbz x0, child_main_x9
	ret
	.cfi_endproc
	.size child_clone3, .-child_clone3

/* long child_clone(unsigned long flags, void *stack_top, int *pidfd, nf_run_rec *run)
 * Legacy clone(2) for kernels or sandboxes without clone3: the pidfd (with
 * CLONE_PIDFD) lands in *pidfd through the parent_tid argument, and
 * child_tid is always the run record's RUN_TID (used only with
 * CLONE_CHILD_CLEARTID). arm64's clone is (flags, stack, parent_tid, tls,
 * child_tid) (CLONE_BACKWARDS; x86_64 swaps the last two). */
	.globl child_clone
	.hidden child_clone
	.type child_clone, %function
	.p2align 2
child_clone:
	.cfi_startproc
	BTI_C
	mov x9, x3
	add x4, x3, #RUN_TID /* child_tid: cleared at exec with CLONE_CHILD_CLEARTID */
	mov x3, #0 /* tls */
	SYS __NR_clone
	cbz x0, child_main_x9
	ret
	.cfi_endproc
	.size child_clone, .-child_clone

/* ---- the child ------------------------------------------------------------- */

child_main_x9:
	/* No unwind info from here on, and fp/lr zero: a debugger must not walk
	 * into the parent's frames, which are not ours. */
	mov x29, #0
	mov x30, #0
	mov x19, x9
	ldr x20, [x19, #RUN_PLAN]
	sub sp, sp, #FRAME
	stp xzr, xzr, [sp, #SA_DFL]
	stp xzr, xzr, [sp, #SA_DFL+16]
	mov w9, #-1
	str w9, [x19, #RUN_INDEX]

	/* Without CLONE_CLEAR_SIGHAND (legacy clone) the handlers are the
	 * parent's: reset every caught signal before any other syscall (see
	 * the x86_64 version). Ignored ones stay ignored, as across exec. */
	ldr w9, [x19, #RUN_MODE]
	tst w9, #MODE_RESET_SIGNALS
	b.eq leave_shared_fds
	mov x23, #-1          /* every signal */
	add x24, sp, #SA_DFL
	add x25, sp, #SA_OLD  /* only the caught ones */
	bl set_signals
	cbz x0, leave_shared_fds
	str w26, [x19, #RUN_DETAIL]
	mov w9, #OPK_SIGRESET
	b fail_kind

	/* With CLONE_FILES the table is still the caller's: unshare it before
	 * anything changes an fd, copying only the fds the ops name (below
	 * RUN_FDFIRST). On a private table the same call just closes that
	 * range early. */
leave_shared_fds:
	ldr w0, [x19, #RUN_FDFIRST]
	cbz w0, wire_pipeline
	str w0, [x19, #RUN_CLOSED] /* the fd policy op need not close these again */
	ldr w9, [x19, #RUN_MODE]
	tst w9, #MODE_NO_CLOSE_RANGE
	b.ne 1f
	mov w1, #-1 /* ~0U */
	mov x2, #CLOSE_RANGE_UNSHARE
	mov x8, #__NR_close_range
	STEP_SYSCALL STEP_CLOSE_RANGE
	JOK(2f)
1:	str wzr, [x19, #RUN_CLOSED]
	ldr w9, [x19, #RUN_MODE]
	tst w9, #MODE_SHARED_FDS
	b.eq wire_pipeline /* private: the fd policy op closes what is left */
	/* close_range missing or filtered: copy the whole table instead. */
	mov x0, #CLONE_FILES
	mov x8, #__NR_unshare
	STEP_SYSCALL STEP_UNSHARE
	JOK(2f)
	/* Still sharing: no fd may be touched. The parent sees CLOSE_FDS at
	 * index -1 and retries without CLONE_FILES. */
	mov w9, #OPK_CLOSE_FDS
	b fail_kind
2:	/* CLONE_PIDFD put our pidfd into the table we shared: drop our copy
	 * (see the x86_64 version). */
	ldr w9, [x19, #RUN_MODE]
	tst w9, #MODE_SHARED_FDS
	b.eq wire_pipeline
	ldrsw x0, [x19, #RUN_PIDFD]
	tbnz w0, #31, wire_pipeline
	SYS __NR_close

	/* A pipeline stage's own wiring, per spawn and before the cmd's ops:
	 * its process group (RUN_PGID), its stdin and stdout (RUN_IN, RUN_OUT;
	 * -1 none). */
wire_pipeline:
	ldrsw x1, [x19, #RUN_PGID]
	tbnz w1, #31, wire_in
	mov x0, #0
	SYS __NR_setpgid
	str w1, [x19, #RUN_DETAIL]
	mov w9, #OPK_SETPGID
	JERR(fail_kind)
wire_in:
	ldrsw x0, [x19, #RUN_IN]
	tbnz w0, #31, wire_out
	mov x1, #0
	mov x2, #0
	SYS __NR_dup3
	str wzr, [x19, #RUN_DETAIL]
	mov w9, #OPK_PIPE
	JERR(fail_kind)
wire_out:
	ldrsw x0, [x19, #RUN_OUT]
	tbnz w0, #31, run_ops
	mov x1, #1
	mov x2, #0
	SYS __NR_dup3
	mov w9, #1
	str w9, [x19, #RUN_DETAIL]
	mov w9, #OPK_PIPE
	JERR(fail_kind)

/* ---- the op loop ------------------------------------------------------------ */
run_ops:
	ldr x21, [x20, #PLAN_OPS]
	mov w22, #0
op_loop:
	ldr w9, [x20, #PLAN_NOPS]
	cmp w22, w9
	b.hs no_exec
	/* Progress, for the parent: a child killed by a signal has its last
	 * op here and no errno, which tells it apart from one that exec'd. */
	str w22, [x19, #RUN_INDEX]
	ldr w9, [x21, #OP_KIND]
	cmp w9, #OPK_MAX
	b.hi bad_op
	adrp x10, op_table
	add x10, x10, :lo12:op_table
	ldrsw x11, [x10, w9, uxtw #2]
	add x11, x11, x10
	br x11 /* targets are op_table's labels, each a BTI_J; bounds checked above */
next_op:
	add x21, x21, #OP_SIZE
	add w22, w22, #1
	b op_loop

no_exec:	/* a plan always ends in EXEC; reaching here is a compiler bug */
	OP_ROUTINE bad_op
	mov x0, #-EINVAL
	b fail

/* fail: x0 = -errno; the op at x21/w22 failed. fail_kind: w9 = kind. */
fail:
	ldr w9, [x21, #OP_KIND]
	str w22, [x19, #RUN_INDEX]
fail_kind:
	neg w0, w0
	str w9, [x19, #RUN_KIND]
	str w0, [x19, #RUN_ERR]
	mov x0, #127
	SYS __NR_exit_group
	udf #0

	OP_ROUTINE op_dup2
	ldrsw x0, [x21, #OP_A]
	ldr x1, [x21, #OP_B]
	cmp x0, x1
	b.eq clear_cloexec /* dup2(fd, fd) must clear close-on-exec (Austin Group #411) */
	mov x2, #0
	SYS __NR_dup3
	JERR(fail)
	b next_op

	OP_ROUTINE op_open
	mov x0, #ABI_AT_FDCWD
	ldr x1, [x21, #OP_P]
	ldr x2, [x21, #OP_B]
	ldr x3, [x21, #OP_C]
	SYS __NR_openat
	JERR(fail)
	ldr w9, [x21, #OP_A]
	cmp w0, w9
	b.eq next_op
	mov x26, x0
	ldrsw x1, [x21, #OP_A]
	mov x2, #0
	SYS __NR_dup3
	JERR(fail)
	/* An op that opened a temporary fd into x26 ends here. */
close_x26_next_op:
	mov x0, x26
	SYS __NR_close
	b next_op

	OP_ROUTINE op_close
	ldrsw x0, [x21, #OP_A]
	SYS __NR_close
	cmn x0, #EBADF
	b.ne 2f
	ldr x9, [x21, #OP_C]
	cbnz x9, next_op
2:	JERR(fail)
	b next_op

	OP_ROUTINE op_chdir
	ldr x0, [x21, #OP_P]
	SYS __NR_chdir
	JERR(fail)
	b next_op

	OP_ROUTINE op_fchdir
	ldrsw x0, [x21, #OP_A]
	SYS __NR_fchdir
	JERR(fail)
	b next_op

	OP_ROUTINE op_keep_fd
	ldrsw x0, [x21, #OP_A]
clear_cloexec: /* x0 = fd */
	mov x1, #ABI_F_SETFD
	mov x2, #0
	SYS __NR_fcntl
	JERR(fail)
	b next_op

	OP_ROUTINE op_setsid
	SYS __NR_setsid
	JERR(fail)
	b next_op

	OP_ROUTINE op_setpgid
	mov x0, #0
	ldr x1, [x21, #OP_B]
	SYS __NR_setpgid
	JERR(fail)
	b next_op

/* Set each signal in the set to the disposition in c (SIG_DFL = 0, or
 * SIG_IGN = 1 for glibc's internal signals in posix_spawn compat). */
	OP_ROUTINE op_sigdefault
	ldr x9, [x21, #OP_C]
	stp x9, xzr, [sp, #SA_OLD]
	stp xzr, xzr, [sp, #SA_OLD+16]
	ldr x23, [x21, #OP_B]
	add x24, sp, #SA_OLD
	mov x25, #0
	bl set_signals
	str w26, [x19, #RUN_DETAIL]
	JERR(fail)
	b next_op

/* set_signals: give every signal in x23 (bit n-1 = signal n) but SIGKILL
 * and SIGSTOP the disposition at x24 (a struct kernel_sigaction); with x25
 * non-zero, only those whose handler now is neither SIG_DFL nor SIG_IGN
 * (each one's current disposition is read into x25's struct first).
 * Returns x0 = 0, or -errno with w26 = the signal it failed on. A leaf:
 * x30 stays in its register. */
set_signals:
	mov w26, #1
1:	cmp w26, #SIGKILL
	b.eq 3f
	cmp w26, #SIGSTOP
	b.eq 3f
	sub w9, w26, #1
	lsr x10, x23, x9
	tbz x10, #0, 3f
	cbz x25, 2f
	mov w0, w26
	mov x1, #0
	mov x2, x25
	mov x3, #8
	SYS __NR_rt_sigaction
	JERR(4f)
	ldr x9, [x25] /* SIG_DFL = 0, SIG_IGN = 1, else a handler */
	cmp x9, #1
	b.ls 3f
2:	mov w0, w26
	mov x1, x24
	mov x2, #0
	mov x3, #8
	SYS __NR_rt_sigaction
	JERR(4f)
3:	add w26, w26, #1
	cmp w26, #64
	b.ls 1b
	mov x0, #0
4:	ret

/* A step that fails on purpose with errno a (posix_spawn compat). */
	OP_ROUTINE op_fail
	ldrsw x0, [x21, #OP_A]
	neg x0, x0
	b fail

/* tcsetpgrp: all signals are blocked here, so the kernel does not stop a
 * background caller with SIGTTOU. */
	OP_ROUTINE op_foreground
	ldrsw x0, [x21, #OP_A]
	ldr x9, [x21, #OP_B]
	cbnz x9, 1f
	mov x0, #0
	SYS __NR_getpgid
	JERR(fail)
	mov x9, x0
	ldrsw x0, [x21, #OP_A]
1:	str w9, [sp, #TMP0]
	mov x1, #TIOCSPGRP
	add x2, sp, #TMP0
	SYS __NR_ioctl
	JERR(fail)
	b next_op

	OP_ROUTINE op_ctty
	ldrsw x0, [x21, #OP_A]
	mov x1, #TIOCSCTTY
	mov x2, #0
	SYS __NR_ioctl
	JERR(fail)
	b next_op

	OP_ROUTINE op_setgroups
	ldrsw x0, [x21, #OP_A]
	ldr x1, [x21, #OP_P]
	SYS __NR_setgroups
	JERR(fail)
	b next_op

/* Raw setres[ug]id: libc's wrappers signal every thread of the process to
 * change their ids too, which would be the parent's threads. */
	OP_ROUTINE op_setgid
	mov x8, #__NR_setresgid
	b 1f
	OP_ROUTINE op_setuid
	mov x8, #__NR_setresuid
1:	ldrsw x0, [x21, #OP_A]
	ldr x1, [x21, #OP_B]
	ldr x2, [x21, #OP_C]
	svc #0
	JERR(fail)
	b next_op

	OP_ROUTINE op_umask
	ldrsw x0, [x21, #OP_A]
	SYS __NR_umask
	b next_op

	OP_ROUTINE op_rlimit
	mov x0, #0
	ldrsw x1, [x21, #OP_A]
	add x2, x21, #OP_B
	mov x3, #0
	SYS __NR_prlimit64
	JERR(fail)
	b next_op

	OP_ROUTINE op_nice
	mov x0, #0 /* PRIO_PROCESS */
	mov x1, #0
	ldrsw x2, [x21, #OP_A]
	SYS __NR_setpriority
	JERR(fail)
	b next_op

	OP_ROUTINE op_sched
	mov x0, #0
	ldrsw x1, [x21, #OP_A]
	add x2, x21, #OP_B
	cmn w1, #1
	b.eq 1f
	SYS __NR_sched_setscheduler
	JERR(fail)
	b next_op
1:	mov x1, x2
	SYS __NR_sched_setparam
	JERR(fail)
	b next_op

	OP_ROUTINE op_ioprio
	mov x0, #1 /* IOPRIO_WHO_PROCESS */
	mov x1, #0 /* this process */
	ldrsw x2, [x21, #OP_A]
	SYS __NR_ioprio_set
	JERR(fail)
	b next_op

/* The parent made this spawn's pipe and put our end in a slot, at a number
 * no op names (so nothing before this clobbered it, and it differs from b). */
	OP_ROUTINE op_pipe
	ldrsw x9, [x21, #OP_A]
	add x10, x19, #RUN_SLOTS
	ldrsw x0, [x10, x9, lsl #2]
	ldr x1, [x21, #OP_B]
	mov x2, #0
	SYS __NR_dup3
	JERR(fail)
	b next_op

	OP_ROUTINE op_affinity
	mov x0, #0
	ldr x1, [x21, #OP_B]
	ldr x2, [x21, #OP_P]
	SYS __NR_sched_setaffinity
	JERR(fail)
	b next_op

/* The decimal text the parent formatted (in c, a bytes) into
 * /proc/self/oom_score_adj: a CLONE_VFORK child's value stays its own (see
 * the x86_64 version). */
	OP_ROUTINE op_oom_score_adj
	mov x0, #ABI_AT_FDCWD
	ldrsw x23, [x21, #OP_A]
	b write_op_file

/* Drop each capability in b that is still in the bounding set (reading
 * first: one already gone needs no CAP_SETPCAP). x26 = the capability, for
 * the report. */
	OP_ROUTINE op_capbset
	ldr x23, [x21, #OP_B]
	mov x2, #0
	mov x3, #0
	mov x4, #0
1:	cbz x23, next_op
	POP_LOWEST x23, x26
	mov x0, #ABI_PR_CAPBSET_READ
	mov x1, x26
	SYS __NR_prctl
	JERR(2f)
	cbz x0, 1b
	mov x0, #ABI_PR_CAPBSET_DROP
	mov x1, x26
	SYS __NR_prctl
	JOK(1b)
2:	str w26, [x19, #RUN_DETAIL]
	b fail

/* Capabilities, part 2, after the ids: the three sets (header and data
 * built by the parent), then the ambient set. */
	OP_ROUTINE op_capset
	ldr x0, [x21, #OP_P]
	add x1, x0, #8
	SYS __NR_capset
	JERR(fail)
	b next_op

/* Clear the ambient set (-1 in a report), then raise each one in b. */
	OP_ROUTINE op_ambient
	mov x26, #-1
	ldr x23, [x21, #OP_B]
	mov x1, #ABI_PR_CAP_AMBIENT_CLEAR_ALL
	mov x2, #0
	b 2f
1:	cbz x23, next_op
	POP_LOWEST x23, x26
	mov x1, #ABI_PR_CAP_AMBIENT_RAISE
	mov x2, x26
2:	mov x0, #ABI_PR_CAP_AMBIENT
	mov x3, #0
	mov x4, #0
	SYS __NR_prctl
	JOK(1b)
	str w26, [x19, #RUN_DETAIL]
	b fail

	OP_ROUTINE op_landlock
	ldrsw x0, [x21, #OP_A]
	mov x1, #0
	SYS __NR_landlock_restrict_self
	JERR(fail)
	b next_op

/* Nothing here: the EXEC op right after this one installs the filter (see
 * op_exec), so that no syscall but execve follows it. */
	OP_ROUTINE op_seccomp
	b next_op

/* If the parent died before the prctl, the signal will never come: the
 * reparented child would run unsupervised. Check and fail instead. */
	OP_ROUTINE op_pdeathsig
	mov x0, #ABI_PR_SET_PDEATHSIG
	ldrsw x1, [x21, #OP_A]
	SYS __NR_prctl
	JERR(fail)
	ldr w9, [x21, #OP_A]
	cbz w9, next_op
	SYS __NR_getppid
	ldr w9, [x19, #RUN_PPID]
	cmp w0, w9
	b.eq next_op
	mov x0, #-ESRCH
	b fail

	OP_ROUTINE op_no_new_privs
	mov x0, #ABI_PR_SET_NO_NEW_PRIVS
	b prctl_on

/* Capabilities, part 1, before the ids change: keep the permitted set
 * across setresuid to a non-zero uid (then the bounding set, below). */
	OP_ROUTINE op_keepcaps
	mov x0, #ABI_PR_SET_KEEPCAPS
prctl_on: /* prctl(x0, 1, 0, 0, 0) */
	mov x1, #1
	mov x2, #0
	mov x3, #0
	mov x4, #0
	SYS __NR_prctl
	JERR(fail)
	b next_op

/* Only where clone3 could not place us (CLONE_INTO_CGROUP): write "0" (this
 * process) into cgroup.procs of the directory. */
	OP_ROUTINE op_cgroup
	ldr w9, [x19, #RUN_MODE]
	tst w9, #MODE_JOIN_CGROUP
	b.eq next_op
	ldrsw x0, [x21, #OP_A]
	mov x23, #1
/* write_op_file: write x23 bytes of the op's c to the file p, opened
 * relative to x0; a failed write leaves the fd to the child's exit (its
 * table is private by now). */
write_op_file:
	ldr x1, [x21, #OP_P]
	MOV32 w2, ABI_O_WRONLY_CLOEXEC
	mov x3, #0
	SYS __NR_openat
	JERR(fail)
	mov x26, x0
	add x1, x21, #OP_C
	mov x2, x23
	SYS __NR_write
	JERR(fail)
	b close_x26_next_op

/* ---- closing every fd not kept --------------------------------------------- */
/* close_range over each gap between kept fds (one syscall for the usual
 * [3, ~0] gap); where close_range is missing or filtered, walk /proc/self/fd;
 * without /proc, close every number up to the plan's fd limit. */
	OP_ROUTINE op_close_fds
	ldr x26, [x21, #OP_B] /* lo: first fd of the current gap */
	mov x23, #0           /* index into the keep list */
gap_next:
	ldr w9, [x21, #OP_A]
	cmp w23, w9
	b.hs gap_last
	ldr x10, [x21, #OP_P]
	ldrsw x1, [x10, x23, lsl #2]
	cmp x1, x26
	b.lt gap_kept_below
	b.eq gap_kept_here
	mov x0, x26
	sub x1, x1, #1
	bl close_gap
	cbnz x0, close_fds_slow
	ldr x10, [x21, #OP_P]
	ldrsw x1, [x10, x23, lsl #2]
gap_kept_here:
	add x26, x1, #1
gap_kept_below:
	add w23, w23, #1
	b gap_next
gap_last: /* [lo, ~0], less what the prologue closed */
	mov x0, x26
	mov w1, #-1
	ldr w9, [x19, #RUN_CLOSED]
	cbz w9, gap_close_last
	sub w1, w9, #1 /* the prologue closed [RUN_CLOSED, ~0] */
	cmp x0, x1
	b.hi next_op
gap_close_last:
	bl close_gap
	cbnz x0, close_fds_slow
	b next_op

/* close_gap: close [x0, x1]. Returns x0 = 0, or non-zero when close_range
 * is unavailable. Other errors fail the op (fail never returns, so leaving
 * a leaf by a branch drops nothing). */
close_gap:
	ldr w9, [x19, #RUN_MODE]
	tst w9, #MODE_NO_CLOSE_RANGE
	b.ne 1f
	mov x2, #0
	mov x8, #__NR_close_range
	STEP_SYSCALL STEP_CLOSE_RANGE
	cmn x0, #ENOSYS
	b.eq 1f
	cmn x0, #EPERM /* a seccomp filter that refuses it */
	b.eq 1f
	JERR(fail)
	mov x0, #0
	ret
1:	mov x0, #1
	ret

/* is_kept: x0 = fd. Z=1 if it must stay open (listed, or below the op's
 * first fd). Clobbers x10-x12. */
is_kept:
	ldr x10, [x21, #OP_B]
	cmp x0, x10
	b.lt 2f
	mov x11, #0
	ldr x12, [x21, #OP_P]
3:	ldr w10, [x21, #OP_A]
	cmp w11, w10
	b.hs 4f
	ldr w10, [x12, x11, lsl #2]
	cmp w0, w10
	b.eq 1f
	add x11, x11, #1
	b 3b
4:	mov w10, #1
	cmp w10, #0 /* Z = 0 */
	ret
2:	cmp x0, x0 /* Z = 1 */
1:	ret

close_fds_slow:
	mov x0, #ABI_AT_FDCWD
	ldr x1, [x20, #PLAN_PROCFD]
	MOV32 w2, ABI_O_RDONLY_DIR_CLOEXEC
	mov x3, #0
	SYS __NR_openat
	JERR(close_fds_brute)
	mov x23, x0 /* dirfd */
slow_pass:
	str xzr, [sp, #TMP1] /* closed anything in this pass? */
slow_read:
	mov x0, x23
	add x1, sp, #DENTS
	mov x2, #DENTS_SIZE
	SYS __NR_getdents64
	JERR(fail)
	cbz x0, slow_eof
	str x0, [sp, #TMP0] /* bytes in the buffer */
	mov x26, #0         /* offset of the entry */
slow_entry:
	ldr x9, [sp, #TMP0]
	cmp x26, x9
	b.hs slow_read
	add x1, sp, #DENTS
	add x1, x1, x26
	ldrh w9, [x1, #16] /* d_reclen */
	add x26, x26, x9
	add x1, x1, #19    /* d_name */
	mov x0, #0
	ldrb w9, [x1]
	sub w9, w9, #48 /* '0' */
	cmp w9, #9
	b.hi slow_entry /* "." and ".." */
	mov x10, #10
1:	madd x0, x0, x10, x9
	add x1, x1, #1
	ldrb w9, [x1]
	sub w9, w9, #48
	cmp w9, #9
	b.ls 1b
	cmp x0, x23
	b.eq slow_entry
	bl is_kept
	b.eq slow_entry
	SYS __NR_close
	mov x9, #1
	str x9, [sp, #TMP1]
	b slow_entry
slow_eof:
	/* Rescan after closing: the listing must not be trusted across
	 * changes to the table it lists. A pass that closes nothing ends it. */
	ldr x9, [sp, #TMP1]
	cbz x9, 2f
	mov x0, x23
	mov x1, #0
	mov x2, #0
	SYS __NR_lseek
	JERR(fail)
	b slow_pass
2:	mov x0, x23
	SYS __NR_close
	b next_op

close_fds_brute:
	ldr x23, [x21, #OP_B]
1:	ldr x9, [x20, #PLAN_FDLIMIT]
	cmp x23, x9
	b.hs next_op
	mov x0, x23
	bl is_kept
	b.eq 2f
	SYS __NR_close
2:	add x23, x23, #1
	b 1b

/* ---- sandbox steps ---------------------------------------------------------- */

/* The parent writes the id maps of our new user namespace, and we wait for
 * it on a futex word in the run record (see the x86_64 version). The word
 * is read with acquire (LDAR): the parent stores RUN_IDERR before it with
 * release, and arm64, unlike x86_64, may otherwise see them out of order. */
	OP_ROUTINE op_id_map
	add x10, x19, #RUN_SYNC
1:	ldar w9, [x10]
	cbnz w9, 2f
	mov x0, x10
	mov x1, #ABI_FUTEX_WAIT
	mov x2, #0 /* sleep while the word is 0 */
	mov x3, #0
	SYS __NR_futex
	b 1b
2:	ldr w10, [x21, #OP_A]
	add w10, w10, #2
	cmp w9, w10
	b.ne next_op /* written, or the parent failed at a later file */
	ldrsw x0, [x19, #RUN_IDERR]
	neg x0, x0
	b fail

	OP_ROUTINE op_hostname
	ldr x0, [x21, #OP_P]
	ldr x1, [x21, #OP_B]
	SYS __NR_sethostname
	JERR(fail)
	b next_op

/* A read-only (nosuid, ...) bind mount is a bind and then this remount,
 * keeping the flags the kernel locked (statfs) and restating the atime
 * mode (see the x86_64 version). */
	OP_ROUTINE op_mount
	ldr w9, [x21, #OP_A]
	cbz w9, 1f
	ldr x0, [x21, #OP_P]
	add x1, sp, #DENTS
	SYS __NR_statfs
	JERR(fail)
	ldr x9, [sp, #DENTS+ABI_STATFS_FLAGS]
	mov x3, #ABI_MS_KEEP
	and x3, x3, x9
	ldr x10, [x21, #OP_B]
	orr x3, x3, x10
	mov x10, #ABI_MS_NOATIME
	tst x9, #ABI_ST_NOATIME
	b.ne 3f
	mov x10, #ABI_MS_RELATIME
	tst x9, #ABI_ST_RELATIME
	b.ne 3f
	mov x10, #ABI_MS_STRICTATIME
3:	orr x3, x3, x10
	mov x0, #0
	ldr x1, [x21, #OP_P]
	mov x2, #0
	mov x4, #0
	b 2f
1:	ldr x9, [x21, #OP_C] /* {source, fstype, data} */
	ldr x0, [x9]
	ldr x1, [x21, #OP_P]
	ldr x2, [x9, #8]
	ldr x3, [x21, #OP_B]
	ldr x4, [x9, #16]
2:	SYS __NR_mount
	JERR(fail)
	b next_op

	OP_ROUTINE op_mkdir
	mov x0, #ABI_AT_FDCWD
	ldr x1, [x21, #OP_P]
	ldrsw x2, [x21, #OP_A]
	SYS __NR_mkdirat
	cmn x0, #EEXIST
	b.eq next_op
	JERR(fail)
	b next_op

	OP_ROUTINE op_symlink
	ldr x0, [x21, #OP_C]
	mov x1, #ABI_AT_FDCWD
	ldr x2, [x21, #OP_P]
	SYS __NR_symlinkat
	JERR(fail)
	b next_op

/* pivot_root in a new mount namespace, chroot(2) on an initramfs root or
 * without one (see the x86_64 version). */
	OP_ROUTINE op_chroot
	ldr w9, [x21, #OP_A]
	cbz w9, chroot_plain
	ldr x0, [x21, #OP_P]
	mov x1, x0
	mov x2, #0
	mov x3, #ABI_MS_BIND_REC
	mov x4, #0
	SYS __NR_mount
	JERR(fail)
	ldr x0, [x21, #OP_P]
	SYS __NR_chdir
	JERR(fail)
	ADDR x0, str_dot
	mov x1, x0
	SYS __NR_pivot_root
	cmn x0, #EINVAL
	b.eq 1f
	JERR(fail)
	ADDR x0, str_dot
	mov x1, #ABI_MNT_DETACH
	SYS __NR_umount2
	JERR(fail)
	b chroot_cd
1:	ADDR x0, str_dot /* the rootfs: chroot into the cwd */
	b 2f
chroot_plain:
	ldr x0, [x21, #OP_P]
2:	SYS __NR_chroot
	JERR(fail)
chroot_cd:
	ADDR x0, str_slash
	SYS __NR_chdir
	JERR(fail)
	b next_op

/* ---- exec ------------------------------------------------------------------ */
/* Set the final signal mask (the last step before execve), then try each
 * candidate with execvp's precedence: ENOENT-like errors move on, EACCES is
 * remembered and reported if nothing succeeds, anything else stops. */
	OP_ROUTINE op_exec
	/* Job-control stops the final mask lets through are caught until
	 * execve, recorded in RUN_STOPS (see the x86_64 version). Ignored ones
	 * stay ignored. */
	adr x9, exec_stop_handler
	/* SA_SIGINFO: arm64 passes the ucontext (x2) only then (x86_64's
	 * kernel always does); the catcher reads x19 from it. */
	MOV32 x10, (SA_RESTORER | SA_RESTART | SA_SIGINFO)
	stp x9, x10, [sp, #DENTS]
	adr x9, exec_stop_restorer
	mov x10, #-1
	stp x9, x10, [sp, #DENTS+16]
	mov w26, #SIGTSTP
stop_catch_next:
	sub w9, w26, #1
	ldr x10, [x19, #RUN_MASK]
	lsr x10, x10, x9
	tbnz x10, #0, stop_catch_skip /* blocked through exec: it stays pending, harmless */
	mov w0, w26
	add x1, sp, #DENTS
	add x2, sp, #SA_OLD
	mov x3, #8
	SYS __NR_rt_sigaction
	JERR(exec_stop_fail)
	ldr x9, [sp, #SA_OLD] /* it was SIG_IGN: put that back */
	cmp x9, #1
	b.ne stop_catch_skip
	mov w0, w26
	add x1, sp, #SA_OLD
	mov x2, #0
	mov x3, #8
	SYS __NR_rt_sigaction
	JERR(exec_stop_fail)
stop_catch_skip:
	add w26, w26, #1
	cmp w26, #SIGTTOU
	b.ls stop_catch_next
	/* A pending signal the final mask lets through, left at a fatal
	 * SIG_DFL, would kill the child before the program runs: report it
	 * (EINTR, detail = the signal). See the x86_64 version. */
	ldr w9, [x19, #RUN_MODE]
	tst w9, #MODE_NO_SIGPENDING
	b.ne exec_unmask
	add x0, sp, #TMP0
	mov x1, #8
	mov x8, #__NR_rt_sigpending
	STEP_SYSCALL STEP_SIGPENDING
	JERR(exec_unmask) /* refused: nothing to learn */
	ldr x9, [sp, #TMP0]
	ldr x10, [x19, #RUN_MASK]
	bic x10, x9, x10
	ldr x9, =HARMLESS_BY_DEFAULT
	bic x10, x10, x9
pending_next:
	cbz x10, exec_unmask
	POP_LOWEST x10, x9 /* the lowest pending signal, less 1 */
	str x10, [sp, #TMP1]
	add w26, w9, #1
	mov w0, w26
	mov x1, #0
	add x2, sp, #SA_OLD
	mov x3, #8
	SYS __NR_rt_sigaction
	JERR(1f)
	ldr x9, [sp, #SA_OLD] /* SIG_DFL: it would kill */
	cbz x9, pending_fatal
1:	ldr x10, [sp, #TMP1]
	b pending_next
pending_fatal:
	str w26, [x19, #RUN_DETAIL]
	str w22, [x19, #RUN_INDEX]
	mov x0, #-EINTR
	mov w9, #OPK_SIGMASK
	b fail_kind
exec_unmask:
	mov x0, #SIG_SETMASK
	add x1, x19, #RUN_MASK
	mov x2, #0
	mov x3, #8
	SYS __NR_rt_sigprocmask
	JOK(1f)
	str w22, [x19, #RUN_INDEX]
	mov w9, #OPK_SIGMASK
	b fail_kind
1:	/* nf_cmd_seccomp, the op before this one: its filter goes in here,
	 * after the mask, so only execve/execveat (then exit_group, or
	 * rt_sigreturn from the stop catcher) run under it (see the x86_64
	 * version). A failure is the SECCOMP op's. */
	cbz w22, 3f
	ldur w9, [x21, #OP_KIND-OP_SIZE]
	cmp w9, #OPK_SECCOMP
	b.ne 3f
	mov x0, #ABI_SECCOMP_SET_MODE_FILTER
	mov x1, #0
	ldur x2, [x21, #OP_P-OP_SIZE]
	SYS __NR_seccomp
	JOK(3f)
	sub w9, w22, #1
	str w9, [x19, #RUN_INDEX]
	mov w9, #OPK_SECCOMP
	b fail_kind
3:	ldrsw x0, [x21, #OP_C]
	tbnz w0, #31, exec_paths
	ldr x1, [x20, #PLAN_EMPTY]
	ldr x2, [x20, #PLAN_ARGV]
	ldr x3, [x19, #RUN_ENVP]
	mov x4, #ABI_AT_EMPTY_PATH
	SYS __NR_execveat
	mov w9, #-1
	str w9, [x19, #RUN_DETAIL]
	b fail

exec_stop_fail:
	str w26, [x19, #RUN_DETAIL]
	str w22, [x19, #RUN_INDEX]
	mov w9, #OPK_SIGMASK
	b fail_kind

/* The stop catcher (SA_SIGINFO): w0 = signal, x2 = ucontext. The interrupted x19 (the
 * run record) comes from the saved context, so nothing else is assumed.
 * x9-x11 are the interrupted code's, restored by rt_sigreturn. */
exec_stop_handler:
	BTI_C /* entered by the kernel as a signal handler */
	ldr x9, [x2, #ABI_UC_RUN]
	ldr w10, [x9, #RUN_STOPS]
	mov w11, #1
	lsl w11, w11, w0
	orr w10, w10, w11
	str w10, [x9, #RUN_STOPS]
	ret /* into exec_stop_restorer, the kernel's x30 (SA_RESTORER) */
exec_stop_restorer:
	SYS __NR_rt_sigreturn
	udf #0

exec_paths:
	mov x23, #0
	mov x9, #-1
	str x9, [sp, #TMP2] /* first candidate that gave EACCES */
	mov x26, #-ENOENT   /* error to report if no candidate at all */
exec_next:
	ldr w9, [x21, #OP_A]
	cmp w23, w9
	b.hs exec_exhausted
	ldr x10, [x21, #OP_P]
	ldr x0, [x10, x23, lsl #3]
	ldr x1, [x20, #PLAN_ARGV]
	ldr x2, [x19, #RUN_ENVP]
	SYS __NR_execve
	mov x26, x0
	cmn x0, #ENOEXEC
	b.eq exec_enoexec
	cmn x0, #EACCES
	b.eq exec_eacces
	cmn x0, #ENOENT
	b.eq exec_skip
	cmn x0, #ENOTDIR
	b.eq exec_skip
	cmn x0, #ESTALE
	b.eq exec_skip
	cmn x0, #ENODEV
	b.eq exec_skip
	cmn x0, #ETIMEDOUT
	b.eq exec_skip
exec_fail_here:
	str w23, [x19, #RUN_DETAIL]
	mov x0, x26
	b fail
exec_eacces:
	ldr x9, [sp, #TMP2]
	cmn x9, #1
	b.ne exec_skip
	str x23, [sp, #TMP2]
exec_skip:
	add w23, w23, #1
	b exec_next
exec_enoexec:
	ldr x9, [x21, #OP_B]
	tst x9, #ABI_ENOEXEC_SH
	b.eq exec_fail_here
	ldr x9, [x20, #PLAN_SHSTRIDE]
	mul x9, x9, x23
	ldr x1, [x20, #PLAN_SHARGV]
	add x1, x1, x9, lsl #3
	ldr x0, [x1]
	ldr x2, [x19, #RUN_ENVP]
	SYS __NR_execve
	mov x26, x0
	b exec_fail_here
exec_exhausted:
	ldr x9, [sp, #TMP2]
	cmn x9, #1
	b.eq 1f
	str w9, [x19, #RUN_DETAIL]
	mov x0, #-EACCES
	b fail
1:	sub w9, w23, #1
	str w9, [x19, #RUN_DETAIL]
	mov x0, x26
	b fail

	.ltorg /* HARMLESS_BY_DEFAULT */

/* The dispatch table, indexed by op kind. OP checks each entry's place, so a
 * kind added to nofork/ops.h without its line here fails the build. */
	.macro OP kind, handler
	.if (. - op_table) != (\kind) * 4
	.error "op_table: \handler is not at kind \kind"
	.endif
	.ifndef \handler\()_has_bti_j
	.error "op_table: \handler is not an OP_ROUTINE (no BTI_J landing pad)"
	.endif
	.long \handler - op_table
	.endm

	.section .rodata
	.balign 4
op_table:
	OP 0, bad_op
	OP OPK_DUP2, op_dup2
	OP OPK_OPEN, op_open
	OP OPK_CLOSE, op_close
	OP OPK_CHDIR, op_chdir
	OP OPK_FCHDIR, op_fchdir
	OP OPK_KEEP_FD, op_keep_fd
	OP OPK_CLOSE_FDS, op_close_fds
	OP OPK_SETSID, op_setsid
	OP OPK_SETPGID, op_setpgid
	OP OPK_SIGDEFAULT, op_sigdefault
	OP OPK_SIGMASK, bad_op /* part of EXEC */
	OP OPK_SIGRESET, bad_op /* before the ops */
	OP OPK_EXEC, op_exec
	OP OPK_FOREGROUND, op_foreground
	OP OPK_CTTY, op_ctty
	OP OPK_SETGROUPS, op_setgroups
	OP OPK_SETGID, op_setgid
	OP OPK_SETUID, op_setuid
	OP OPK_UMASK, op_umask
	OP OPK_RLIMIT, op_rlimit
	OP OPK_NICE, op_nice
	OP OPK_SCHED, op_sched
	OP OPK_PDEATHSIG, op_pdeathsig
	OP OPK_NO_NEW_PRIVS, op_no_new_privs
	OP OPK_CGROUP, op_cgroup
	OP OPK_FAIL, op_fail
	OP OPK_IOPRIO, op_ioprio
	OP OPK_PIPE, op_pipe
	OP OPK_ID_MAP, op_id_map
	OP OPK_HOSTNAME, op_hostname
	OP OPK_MOUNT, op_mount
	OP OPK_MKDIR, op_mkdir
	OP OPK_SYMLINK, op_symlink
	OP OPK_CHROOT, op_chroot
	OP OPK_AFFINITY, op_affinity
	OP OPK_OOM_SCORE_ADJ, op_oom_score_adj
	OP OPK_KEEPCAPS, op_keepcaps
	OP OPK_CAPBSET, op_capbset
	OP OPK_CAPSET, op_capset
	OP OPK_AMBIENT, op_ambient
	OP OPK_LANDLOCK, op_landlock
	OP OPK_SECCOMP, op_seccomp
	.if (. - op_table) != (OPK_MAX + 1) * 4
	.error "op_table: the last entry is not OPK_MAX"
	.endif

str_dot:
	.asciz "."
str_slash:
	.asciz "/"

	.section .note.GNU-stack, "", %progbits
