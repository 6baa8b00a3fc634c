/* nofork child side, x86_64 SysV / Linux: the clone trampolines and the plan
 * interpreter. This is the only code that runs between clone and execve.
 *
 * Contract (README, "The child contract"): raw syscalls only; no libc, no TLS, no
 * errno; runs on the dedicated stack the parent handed over; reads only the
 * plan and the run record; writes only its own stack and the run record's
 * report; every signal stays blocked until the mask is set right before
 * execve; any failure records {errno, op index, op kind, detail} in the run
 * record and ends in exit_group(127). No symbol outside this file is used.
 *
 * Registers in the child (callee-saved are simply owned: nothing returns):
 *   rbx  run record (RUN_* offsets, lib/child_abi.h), constant
 *   r12  plan (PLAN_*), constant
 *   r13  current op (OP_*)
 *   r14  current op index
 *   r15  loop counter / dirfd / candidate index / signal or capability set /
 *        byte count (per op)
 *   r8 r9 set_signals' arguments (syscalls keep them)
 *   rbp  scratch preserved across syscalls (per op)
 *   rax rcx r11 clobbered by every syscall; rdi rsi rdx r10 r8 r9 = arguments
 *
 * Child frame (fixed, FRAME bytes below the run record; no recursion, no
 * variable-size data; subroutines nest at most 1 deep):
 *   rsp+0    struct kernel_sigaction scratch (32): old or new disposition
 *   rsp+32   struct kernel_sigaction, all zero (32): SIG_DFL, no flags
 *   rsp+64   tmp0 (8)  rsp+72 tmp1 (8)  rsp+80 tmp2 (8)
 *   rsp+88   getdents64 buffer (1032, so FRAME keeps rsp 16-byte aligned);
 *            at MOUNT: a struct statfs (120); at exec: the stop catcher's
 *            struct kernel_sigaction (32)
 *
 * The stop catcher (exec_stop_handler) is the one piece of code that may run
 * as a signal handler here: on this stack, with rbx read back from the
 * interrupted context, writing only the run record's RUN_STOPS.
 *
 * CET (cet.h). IBT: endbr64 at the two global entries and at the stop
 * catcher (the kernel enters it); the op dispatch is notrack. Shadow stack:
 * a CLONE_VFORK child runs on the parent's shadow stack (a CLONE_VM child
 * without it gets a fresh one), so it must never `ret` to an address it did
 * not `call` from, and never return out of child_clone3/child_clone
 * (it starts after their syscall and only ever leaves by exit_group or
 * execve). Its pushes land below the parent's shadow-stack pointer, where
 * the parent, asleep in the clone, has nothing live. Checked by reading
 * every call and ret (grep -nE 'call|ret' child.S): close_gap, is_kept and
 * set_signals are the only called labels, each ends in a `ret` and pushes
 * nothing; the frame the child drops (fail_close_gap's add $8) is left only
 * through fail, which exits. exec_stop_handler's `ret` goes to exec_stop_restorer,
 * the address the kernel put on both stacks.
 */
#include "child_abi.h"
#include "cet.h"

/* Syscall numbers (__NR_*), errno values, signal numbers and sigaction
 * flags, clone flags and ioctls come from the kernel's own headers; the few
 * constants no assembler-safe header gives are in child_abi.h (ABI_*), checked
 * against libc's by plan.c. The uapi headers hide their C behind
 * __ASSEMBLY__ (gcc defines only __ASSEMBLER__). */
#define __ASSEMBLY__ 1
#include <asm-generic/errno.h>
#include <asm/ioctls.h>
#include <asm/signal.h>
#include <asm/unistd.h>
#include <linux/close_range.h>
#include <linux/sched.h>

#define SIGBIT(n) (1 << ((n) - 1))
/* Signals whose default action ends the process (term or core): all but
 * KILL (never pending), the stops, CONT and the ones ignored by default. */
#define FATAL_BY_DEFAULT ~(SIGBIT(SIGKILL) | SIGBIT(SIGCHLD) | SIGBIT(SIGCONT) | SIGBIT(SIGSTOP) | \
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

/* A raw syscall result in rax is an error iff it lies in [-4095, -1]. */
#define JERR(label) cmp $-4095, %rax; jae label
#define JOK(label) cmp $-4095, %rax; jb label

/* A syscall that has a fallback: RUN_STEP names it while it runs, so a
 * seccomp filter that kills the child there instead of failing the call is
 * known by its step (spawn.c then takes the fallback). */
	.macro STEP_SYSCALL step
	movl $\step, RUN_STEP(%rbx)
	syscall
	movl $0, RUN_STEP(%rbx)
	.endm

	.text

/* long child_clone3(struct clone_args *args, size_t size, nf_run_rec *run)
 * Parent: returns the child pid or -errno. Child: starts child_main on the
 * stack named in args (the kernel sets rsp), never returns. run travels in
 * r9, which the syscall neither reads nor clobbers and the child inherits. */
	.globl child_clone3
	.hidden child_clone3
	.type child_clone3, @function
child_clone3:
	.cfi_startproc
	ENTRY_BRANCH
	mov %rdx, %r9
	mov $__NR_clone3, %eax
	syscall
	test %rax, %rax
	jz child_main_r9
	ret
	.cfi_endproc
	.size child_clone3, .-child_clone3

/* long child_clone(unsigned long flags, void *stack_top, int *pidfd, nf_run_rec *run)
 * Legacy clone(2) for kernels or sandboxes without clone3: the pidfd (with
 * CLONE_PIDFD) lands in *pidfd through the parent_tid argument, and
 * child_tid is always the run record's RUN_TID (used only with
 * CLONE_CHILD_CLEARTID). */
	.globl child_clone
	.hidden child_clone
	.type child_clone, @function
child_clone:
	.cfi_startproc
	ENTRY_BRANCH
	mov %rcx, %r9
	lea RUN_TID(%rcx), %r10 /* child_tid: cleared at exec with CLONE_CHILD_CLEARTID */
	xor %r8d, %r8d   /* tls */
	mov $__NR_clone, %eax
	syscall
	test %rax, %rax
	jz child_main_r9
	ret
	.cfi_endproc
	.size child_clone, .-child_clone

/* ---- the child ------------------------------------------------------------- */

child_main_r9:
	/* No unwind info from here on: a debugger must not walk into the
	 * parent's frames, which are not ours. */
	xor %ebp, %ebp
	mov %r9, %rbx
	mov RUN_PLAN(%rbx), %r12
	sub $FRAME, %rsp
	xor %eax, %eax
	mov %rax, SA_DFL(%rsp)
	mov %rax, SA_DFL+8(%rsp)
	mov %rax, SA_DFL+16(%rsp)
	mov %rax, SA_DFL+24(%rsp)
	movl $-1, RUN_INDEX(%rbx)

	/* Without CLONE_CLEAR_SIGHAND (legacy clone) the handlers are the
	 * parent's: a signal arriving after the mask is lifted would run parent
	 * code on this stack, and so would a SIGSYS that a seccomp filter with
	 * SECCOMP_RET_TRAP forces through the mask. So this comes before any
	 * other syscall. Reset every caught signal; ignored ones stay ignored,
	 * as across exec. */
	testl $MODE_RESET_SIGNALS, RUN_MODE(%rbx)
	jz leave_shared_fds
	mov $-1, %r15         /* every signal */
	lea SA_DFL(%rsp), %r8
	lea SA_OLD(%rsp), %r9 /* only the caught ones */
	call set_signals
	test %rax, %rax
	jz leave_shared_fds
	mov %ebp, RUN_DETAIL(%rbx)
	mov $OPK_SIGRESET, %ecx
	jmp fail_kind

	/* With CLONE_FILES the table is still the caller's: unshare it before
	 * anything changes an fd, copying only the fds the ops name (below
	 * RUN_FDFIRST), so no per-file work grows with the caller's open fds.
	 * On a private table (no CLONE_FILES) the same call just closes that
	 * range early. */
leave_shared_fds:
	mov RUN_FDFIRST(%rbx), %edi
	test %edi, %edi
	jz wire_pipeline
	mov %edi, RUN_CLOSED(%rbx) /* the fd policy op need not close these again */
	testl $MODE_NO_CLOSE_RANGE, RUN_MODE(%rbx)
	jnz 1f
	mov $0xffffffff, %esi
	mov $CLOSE_RANGE_UNSHARE, %edx
	mov $__NR_close_range, %eax
	STEP_SYSCALL STEP_CLOSE_RANGE
	JOK(2f)
1:	movl $0, RUN_CLOSED(%rbx)
	testl $MODE_SHARED_FDS, RUN_MODE(%rbx)
	jz wire_pipeline /* private: the fd policy op closes what is left */
	/* close_range missing or filtered: copy the whole table instead. */
	mov $CLONE_FILES, %edi
	mov $__NR_unshare, %eax
	STEP_SYSCALL STEP_UNSHARE
	JOK(2f)
	/* Still sharing: no fd may be touched. The parent sees CLOSE_FDS at
	 * index -1 and retries without CLONE_FILES. */
	mov $OPK_CLOSE_FDS, %ecx
	jmp fail_kind
2:	/* CLONE_PIDFD put our pidfd into the table we shared, at the lowest
	 * free number: it is the caller's, and with the caller's fd 0 closed
	 * a keep_fd(0) or dup2(0, n) would hand it to the program. Drop our
	 * copy (close_range may have done so already). A private table was
	 * copied before the kernel made the pidfd: it is not in there. */
	testl $MODE_SHARED_FDS, RUN_MODE(%rbx)
	jz wire_pipeline
	movslq RUN_PIDFD(%rbx), %rdi
	test %edi, %edi
	js wire_pipeline
	mov $__NR_close, %eax
	syscall

	/* A pipeline stage's own wiring, per spawn and before the cmd's ops
	 * (which may override it): its process group (RUN_PGID: 0 leads a new
	 * one, -1 none), its stdin and stdout (RUN_IN, RUN_OUT: the parent's
	 * pipe ends, at 3 or above, inside the copied range; -1 none). */
wire_pipeline:
	movslq RUN_PGID(%rbx), %rsi
	test %esi, %esi
	js wire_in
	xor %edi, %edi
	mov $__NR_setpgid, %eax
	syscall
	mov %esi, RUN_DETAIL(%rbx)
	mov $OPK_SETPGID, %ecx
	JERR(fail_kind)
wire_in:
	movslq RUN_IN(%rbx), %rdi
	test %edi, %edi
	js wire_out
	xor %esi, %esi
	xor %edx, %edx
	mov $__NR_dup3, %eax
	syscall
	movl $0, RUN_DETAIL(%rbx)
	mov $OPK_PIPE, %ecx
	JERR(fail_kind)
wire_out:
	movslq RUN_OUT(%rbx), %rdi
	test %edi, %edi
	js run_ops
	mov $1, %esi
	xor %edx, %edx
	mov $__NR_dup3, %eax
	syscall
	movl $1, RUN_DETAIL(%rbx)
	mov $OPK_PIPE, %ecx
	JERR(fail_kind)

/* ---- the op loop ------------------------------------------------------------ */
run_ops:
	mov PLAN_OPS(%r12), %r13
	xor %r14d, %r14d
op_loop:
	cmp PLAN_NOPS(%r12), %r14d
	jae no_exec
	/* Progress, for the parent: a child killed by a signal has its last
	 * op here and no errno, which tells it apart from one that exec'd. */
	mov %r14d, RUN_INDEX(%rbx)
	mov OP_KIND(%r13), %eax
	cmp $OPK_MAX, %eax
	ja bad_op
	lea op_table(%rip), %rcx
	movslq (%rcx,%rax,4), %rax
	add %rcx, %rax
	notrack jmp *%rax /* targets are op_table's labels: no endbr64 needed, bounds checked above */
next_op:
	add $OP_SIZE, %r13
	inc %r14d
	jmp op_loop

no_exec:	/* a plan always ends in EXEC; reaching here is a compiler bug */
bad_op:
	mov $-EINVAL, %rax
	jmp fail

/* fail: rax = -errno; the op at r13/r14 failed. fail_kind: ecx = kind. */
fail:
	mov OP_KIND(%r13), %ecx
	mov %r14d, RUN_INDEX(%rbx)
fail_kind:
	neg %eax
	mov %ecx, RUN_KIND(%rbx)
	mov %eax, RUN_ERR(%rbx)
	mov $127, %edi
	mov $__NR_exit_group, %eax
	syscall
	hlt

op_dup2:
	movslq OP_A(%r13), %rdi
	mov OP_B(%r13), %rsi
	cmp %rdi, %rsi
	je clear_cloexec /* dup2(fd, fd) must clear close-on-exec (Austin Group #411) */
	xor %edx, %edx
	mov $__NR_dup3, %eax
	syscall
	JERR(fail)
	jmp next_op

op_open:
	mov $ABI_AT_FDCWD, %rdi
	mov OP_P(%r13), %rsi
	mov OP_B(%r13), %rdx
	mov OP_C(%r13), %r10
	mov $__NR_openat, %eax
	syscall
	JERR(fail)
	cmp OP_A(%r13), %eax
	je next_op
	mov %rax, %rbp
	mov %rax, %rdi
	movslq OP_A(%r13), %rsi
	xor %edx, %edx
	mov $__NR_dup3, %eax
	syscall
	JERR(fail)
	/* An op that opened a temporary fd into %rbp ends here. */
close_rbp_next_op:
	mov %rbp, %rdi
	mov $__NR_close, %eax
	syscall
	jmp next_op

op_close:
	movslq OP_A(%r13), %rdi
	mov $__NR_close, %eax
	syscall
	cmp $-EBADF, %rax
	jne 2f
	cmpq $0, OP_C(%r13)
	jne next_op
2:	JERR(fail)
	jmp next_op

op_chdir:
	mov OP_P(%r13), %rdi
	mov $__NR_chdir, %eax
	syscall
	JERR(fail)
	jmp next_op

op_fchdir:
	movslq OP_A(%r13), %rdi
	mov $__NR_fchdir, %eax
	syscall
	JERR(fail)
	jmp next_op

op_keep_fd:
	movslq OP_A(%r13), %rdi
clear_cloexec: /* rdi = fd */
	mov $ABI_F_SETFD, %esi
	xor %edx, %edx
	mov $__NR_fcntl, %eax
	syscall
	JERR(fail)
	jmp next_op

op_setsid:
	mov $__NR_setsid, %eax
	syscall
	JERR(fail)
	jmp next_op

op_setpgid:
	xor %edi, %edi
	mov OP_B(%r13), %rsi
	mov $__NR_setpgid, %eax
	syscall
	JERR(fail)
	jmp next_op

/* Set each signal in the set to the disposition in c (SIG_DFL = 0, or
 * SIG_IGN = 1 for glibc's internal signals in posix_spawn compat). */
op_sigdefault:
	mov OP_C(%r13), %rax
	mov %rax, SA_OLD(%rsp)
	xor %eax, %eax
	mov %rax, SA_OLD+8(%rsp)
	mov %rax, SA_OLD+16(%rsp)
	mov %rax, SA_OLD+24(%rsp)
	mov OP_B(%r13), %r15
	lea SA_OLD(%rsp), %r8
	xor %r9d, %r9d
	call set_signals
	mov %ebp, RUN_DETAIL(%rbx)
	JERR(fail)
	jmp next_op

/* set_signals: give every signal in r15 (bit n-1 = signal n) but SIGKILL
 * and SIGSTOP the disposition at r8 (a struct kernel_sigaction); with r9
 * non-zero, only those whose handler now is neither SIG_DFL nor SIG_IGN
 * (each one's current disposition is read into r9's struct first). The one
 * loop for the legacy clone's handler reset and for nf_cmd_sigdefault.
 * Returns rax = 0, or -errno with ebp = the signal it failed on. r8, r9
 * and r15 survive the syscalls (the kernel keeps every register but rax,
 * rcx and r11). */
set_signals:
	mov $1, %ebp
1:	cmp $SIGKILL, %ebp
	je 3f
	cmp $SIGSTOP, %ebp
	je 3f
	lea -1(%rbp), %ecx
	bt %rcx, %r15
	jnc 3f
	test %r9, %r9
	jz 2f
	mov %ebp, %edi
	xor %esi, %esi
	mov %r9, %rdx
	mov $8, %r10d
	mov $__NR_rt_sigaction, %eax
	syscall
	JERR(4f)
	cmpq $1, (%r9) /* SIG_DFL = 0, SIG_IGN = 1, else a handler */
	jbe 3f
2:	mov %ebp, %edi
	mov %r8, %rsi
	xor %edx, %edx
	mov $8, %r10d
	mov $__NR_rt_sigaction, %eax
	syscall
	JERR(4f)
3:	inc %ebp
	cmp $64, %ebp
	jbe 1b
	xor %eax, %eax
4:	ret

/* A step that fails on purpose with errno a: posix_spawn compat reproduces
 * errors glibc only reports from its child, in their place in the order. */
op_fail:
	movslq OP_A(%r13), %rax
	neg %rax
	jmp fail

/* tcsetpgrp: all signals are blocked here, so the kernel does not stop a
 * background caller with SIGTTOU. */
op_foreground:
	movslq OP_A(%r13), %rdi
	mov OP_B(%r13), %rax
	test %rax, %rax
	jnz 1f
	xor %edi, %edi
	mov $__NR_getpgid, %eax
	syscall
	JERR(fail)
	movslq OP_A(%r13), %rdi
1:	mov %eax, TMP0(%rsp)
	mov $TIOCSPGRP, %esi
	lea TMP0(%rsp), %rdx
	mov $__NR_ioctl, %eax
	syscall
	JERR(fail)
	jmp next_op

op_ctty:
	movslq OP_A(%r13), %rdi
	mov $TIOCSCTTY, %esi
	xor %edx, %edx
	mov $__NR_ioctl, %eax
	syscall
	JERR(fail)
	jmp next_op

op_setgroups:
	movslq OP_A(%r13), %rdi
	mov OP_P(%r13), %rsi
	mov $__NR_setgroups, %eax
	syscall
	JERR(fail)
	jmp next_op

/* Raw setres[ug]id: libc's wrappers signal every thread of the process to
 * change their ids too, which would be the parent's threads. */
op_setgid:
	mov $__NR_setresgid, %eax
	jmp 1f
op_setuid:
	mov $__NR_setresuid, %eax
1:	movslq OP_A(%r13), %rdi
	mov OP_B(%r13), %rsi
	mov OP_C(%r13), %rdx
	syscall
	JERR(fail)
	jmp next_op

op_umask:
	movslq OP_A(%r13), %rdi
	mov $__NR_umask, %eax
	syscall
	jmp next_op

op_rlimit:
	xor %edi, %edi
	movslq OP_A(%r13), %rsi
	lea OP_B(%r13), %rdx
	xor %r10d, %r10d
	mov $__NR_prlimit64, %eax
	syscall
	JERR(fail)
	jmp next_op

op_nice:
	xor %edi, %edi /* PRIO_PROCESS */
	xor %esi, %esi
	movslq OP_A(%r13), %rdx
	mov $__NR_setpriority, %eax
	syscall
	JERR(fail)
	jmp next_op

op_sched:
	xor %edi, %edi
	movslq OP_A(%r13), %rsi
	lea OP_B(%r13), %rdx
	cmp $-1, %esi
	je 1f
	mov $__NR_sched_setscheduler, %eax
	syscall
	JERR(fail)
	jmp next_op
1:	mov %rdx, %rsi
	mov $__NR_sched_setparam, %eax
	syscall
	JERR(fail)
	jmp next_op

op_ioprio:
	mov $1, %edi /* IOPRIO_WHO_PROCESS */
	xor %esi, %esi /* this process */
	movslq OP_A(%r13), %rdx
	mov $__NR_ioprio_set, %eax
	syscall
	JERR(fail)
	jmp next_op

/* The parent made this spawn's pipe and put our end in a slot, at a number
 * no op names (so nothing before this clobbered it, and it differs from b). */
op_pipe:
	movslq OP_A(%r13), %rax
	movslq RUN_SLOTS(%rbx,%rax,4), %rdi
	mov OP_B(%r13), %rsi
	xor %edx, %edx
	mov $__NR_dup3, %eax
	syscall
	JERR(fail)
	jmp next_op

op_affinity:
	xor %edi, %edi
	mov OP_B(%r13), %rsi
	mov OP_P(%r13), %rdx
	mov $__NR_sched_setaffinity, %eax
	syscall
	JERR(fail)
	jmp next_op

/* Write the decimal text the parent formatted (in c) to
 * /proc/self/oom_score_adj. This is a CLONE_VFORK child: the kernel keeps
 * the value to this process (__set_oom_adj passes it on to the other users
 * of the mm only for a child that is not a vfork), so the caller's stays. */
op_oom_score_adj:
	mov $ABI_AT_FDCWD, %rdi
	movslq OP_A(%r13), %r15
	jmp write_op_file

/* Capabilities, part 1, before the ids change: keep the permitted set
 * across setresuid to a non-zero uid, and shrink the bounding set while
 * CAP_SETPCAP is still effective (setresuid clears the effective set). */
op_keepcaps:
	mov $ABI_PR_SET_KEEPCAPS, %edi
	jmp prctl_on

/* Drop each capability in b that is still in the bounding set (reading
 * first: one already gone needs no CAP_SETPCAP). ebp = the capability, for
 * the report. */
op_capbset:
	mov OP_B(%r13), %r15
	xor %edx, %edx
	xor %r10d, %r10d
	xor %r8d, %r8d
1:	test %r15, %r15
	jz next_op
	bsf %r15, %rbp
	btr %rbp, %r15
	mov $ABI_PR_CAPBSET_READ, %edi
	mov %rbp, %rsi
	mov $__NR_prctl, %eax
	syscall
	JERR(2f)
	test %rax, %rax
	jz 1b
	mov $ABI_PR_CAPBSET_DROP, %edi
	mov %rbp, %rsi
	mov $__NR_prctl, %eax
	syscall
	JOK(1b)
2:	mov %ebp, RUN_DETAIL(%rbx)
	jmp fail

/* Capabilities, part 2, after the ids: the three sets (header and data
 * built by the parent), then the ambient set. */
op_capset:
	mov OP_P(%r13), %rdi
	lea 8(%rdi), %rsi
	mov $__NR_capset, %eax
	syscall
	JERR(fail)
	jmp next_op

/* Clear the ambient set (ebp = -1 in a report), then raise each one in b. */
op_ambient:
	mov $-1, %rbp
	mov OP_B(%r13), %r15
	mov $ABI_PR_CAP_AMBIENT_CLEAR_ALL, %esi
	xor %edx, %edx
	jmp 2f
1:	test %r15, %r15
	jz next_op
	bsf %r15, %rbp
	btr %rbp, %r15
	mov $ABI_PR_CAP_AMBIENT_RAISE, %esi
	mov %rbp, %rdx
2:	mov $ABI_PR_CAP_AMBIENT, %edi
	xor %r10d, %r10d
	xor %r8d, %r8d
	mov $__NR_prctl, %eax
	syscall
	JOK(1b)
	mov %ebp, RUN_DETAIL(%rbx)
	jmp fail

op_landlock:
	movslq OP_A(%r13), %rdi
	xor %esi, %esi
	mov $__NR_landlock_restrict_self, %eax
	syscall
	JERR(fail)
	jmp next_op

/* Nothing here: the EXEC op right after this one installs the filter (see
 * op_exec), so that no syscall but execve follows it. */
op_seccomp:
	jmp next_op

/* If the parent died before the prctl, the signal will never come: the
 * reparented child would run unsupervised. Check and fail instead. */
op_pdeathsig:
	mov $ABI_PR_SET_PDEATHSIG, %edi
	movslq OP_A(%r13), %rsi
	mov $__NR_prctl, %eax
	syscall
	JERR(fail)
	cmpl $0, OP_A(%r13)
	je next_op
	mov $__NR_getppid, %eax
	syscall
	cmp RUN_PPID(%rbx), %eax
	je next_op
	mov $-ESRCH, %rax
	jmp fail

op_no_new_privs:
	mov $ABI_PR_SET_NO_NEW_PRIVS, %edi
prctl_on: /* prctl(edi, 1, 0, 0, 0) */
	mov $1, %esi
	xor %edx, %edx
	xor %r10d, %r10d
	xor %r8d, %r8d
	mov $__NR_prctl, %eax
	syscall
	JERR(fail)
	jmp next_op

/* Only where clone3 could not place us (CLONE_INTO_CGROUP): write "0" (this
 * process) into cgroup.procs of the directory. */
op_cgroup:
	testl $MODE_JOIN_CGROUP, RUN_MODE(%rbx)
	jz next_op
	movslq OP_A(%r13), %rdi
	mov $1, %r15d
/* write_op_file: write r15 bytes of the op's c to the file p, opened
 * relative to rdi; a failed write leaves the fd to the child's exit (its
 * table is private by now). */
write_op_file:
	mov OP_P(%r13), %rsi
	mov $ABI_O_WRONLY_CLOEXEC, %edx
	xor %r10d, %r10d
	mov $__NR_openat, %eax
	syscall
	JERR(fail)
	mov %rax, %rbp
	mov %rax, %rdi
	lea OP_C(%r13), %rsi
	mov %r15, %rdx
	mov $__NR_write, %eax
	syscall
	JERR(fail)
	jmp close_rbp_next_op

/* ---- closing every fd not kept --------------------------------------------- */
/* close_range over each gap between kept fds (one syscall for the usual
 * [3, ~0] gap); where close_range is missing or filtered, walk /proc/self/fd;
 * without /proc, close every number up to the plan's fd limit. */
op_close_fds:
	mov OP_B(%r13), %rbp /* lo: first fd of the current gap */
	xor %r15d, %r15d     /* index into the keep list */
gap_next:
	cmp OP_A(%r13), %r15d
	jae gap_last
	mov OP_P(%r13), %rcx
	movslq (%rcx,%r15,4), %rsi
	cmp %rbp, %rsi
	jl gap_kept_below
	je gap_kept_here
	mov %rbp, %rdi
	dec %rsi
	call close_gap
	test %rax, %rax
	jnz close_fds_slow
	mov OP_P(%r13), %rcx
	movslq (%rcx,%r15,4), %rsi
gap_kept_here:
	lea 1(%rsi), %rbp
gap_kept_below:
	inc %r15d
	jmp gap_next
gap_last: /* [lo, ~0], less what the prologue closed */
	mov %rbp, %rdi
	mov $0xffffffff, %esi
	mov RUN_CLOSED(%rbx), %eax
	test %eax, %eax
	jz gap_close_last
	lea -1(%rax), %esi /* the prologue closed [RUN_CLOSED, ~0] */
	cmp %rsi, %rdi
	ja next_op
gap_close_last:
	call close_gap
	test %rax, %rax
	jnz close_fds_slow
	jmp next_op

/* close_gap: close [rdi, rsi]. Returns rax = 0, or non-zero when
 * close_range is unavailable. Other errors fail the op. */
close_gap:
	testl $MODE_NO_CLOSE_RANGE, RUN_MODE(%rbx)
	jnz 1f
	xor %edx, %edx
	mov $__NR_close_range, %eax
	STEP_SYSCALL STEP_CLOSE_RANGE
	cmp $-ENOSYS, %rax
	je 1f
	cmp $-EPERM, %rax /* a seccomp filter that refuses it */
	je 1f
	JERR(fail_close_gap)
	xor %eax, %eax
	ret
1:	mov $1, %eax
	ret
fail_close_gap:
	add $8, %rsp /* drop our return address; fail never returns */
	jmp fail

/* is_kept: edi = fd. ZF=1 if it must stay open (listed, or below the op's
 * first fd). Clobbers rcx, rdx. */
is_kept:
	cmp OP_B(%r13), %rdi
	jl 2f
	xor %ecx, %ecx
	mov OP_P(%r13), %rdx
3:	cmp OP_A(%r13), %ecx
	jae 4f
	cmp (%rdx,%rcx,4), %edi
	je 1f
	inc %ecx
	jmp 3b
4:	or $1, %ecx /* ZF = 0 */
	ret
2:	cmp %edi, %edi /* ZF = 1 */
1:	ret

close_fds_slow:
	mov $ABI_AT_FDCWD, %rdi
	mov PLAN_PROCFD(%r12), %rsi
	mov $ABI_O_RDONLY_DIR_CLOEXEC, %edx
	xor %r10d, %r10d
	mov $__NR_openat, %eax
	syscall
	JERR(close_fds_brute)
	mov %rax, %r15 /* dirfd */
slow_pass:
	movq $0, TMP1(%rsp) /* closed anything in this pass? */
slow_read:
	mov %r15, %rdi
	lea DENTS(%rsp), %rsi
	mov $DENTS_SIZE, %edx
	mov $__NR_getdents64, %eax
	syscall
	JERR(fail)
	test %rax, %rax
	jz slow_eof
	mov %rax, TMP0(%rsp) /* bytes in the buffer */
	xor %ebp, %ebp       /* offset of the entry */
slow_entry:
	cmp TMP0(%rsp), %rbp
	jae slow_read
	lea DENTS(%rsp,%rbp), %rsi
	movzwl 16(%rsi), %eax /* d_reclen */
	add %rax, %rbp
	lea 19(%rsi), %rsi    /* d_name */
	xor %edi, %edi
	movzbl (%rsi), %eax
	sub $'0', %eax
	cmp $9, %eax
	ja slow_entry         /* "." and ".." */
1:	imul $10, %rdi, %rdi
	add %rax, %rdi
	inc %rsi
	movzbl (%rsi), %eax
	sub $'0', %eax
	cmp $9, %eax
	jbe 1b
	cmp %r15, %rdi
	je slow_entry
	call is_kept
	je slow_entry
	mov $__NR_close, %eax
	syscall
	movq $1, TMP1(%rsp)
	jmp slow_entry
slow_eof:
	/* Rescan after closing: the listing must not be trusted across
	 * changes to the table it lists. A pass that closes nothing ends it. */
	cmpq $0, TMP1(%rsp)
	je 2f
	mov %r15, %rdi
	xor %esi, %esi
	xor %edx, %edx
	mov $__NR_lseek, %eax
	syscall
	JERR(fail)
	jmp slow_pass
2:	mov %r15, %rdi
	mov $__NR_close, %eax
	syscall
	jmp next_op

close_fds_brute:
	mov OP_B(%r13), %r15
1:	cmp PLAN_FDLIMIT(%r12), %r15
	jae next_op
	mov %r15, %rdi
	call is_kept
	je 2f
	mov $__NR_close, %eax
	syscall
2:	inc %r15
	jmp 1b

/* ---- sandbox steps ---------------------------------------------------------- */

/* The parent writes the id maps of our new user namespace (only a writer
 * in the parent namespace may write a full map), and we wait for it on a
 * futex word in the run record: no lock, nothing allocated, and the
 * parent was not put to sleep by CLONE_VFORK for this spawn. Every signal
 * is blocked, so the wait ends only by the parent's store and wake (a
 * spurious wake-up rereads the word). */
op_id_map:
	mov RUN_SYNC(%rbx), %eax
	test %eax, %eax
	jnz 1f
	lea RUN_SYNC(%rbx), %rdi
	mov $ABI_FUTEX_WAIT, %esi
	xor %edx, %edx /* sleep while the word is 0 */
	xor %r10d, %r10d
	mov $__NR_futex, %eax
	syscall
	jmp op_id_map
1:	mov OP_A(%r13), %ecx
	add $2, %ecx
	cmp %ecx, %eax
	jne next_op /* written, or the parent failed at a later file */
	movslq RUN_IDERR(%rbx), %rax
	neg %rax
	jmp fail

op_hostname:
	mov OP_P(%r13), %rdi
	mov OP_B(%r13), %rsi
	mov $__NR_sethostname, %eax
	syscall
	JERR(fail)
	jmp next_op

/* A read-only (nosuid, ...) bind mount is a bind and then this remount; in
 * a user namespace the kernel refuses a remount that would clear a flag it
 * locked on the mount or change its atime mode, so the mount's own flags
 * (statfs) are kept and its atime mode restated. */
op_mount:
	cmpl $0, OP_A(%r13)
	je 1f
	mov OP_P(%r13), %rdi
	lea DENTS(%rsp), %rsi
	mov $__NR_statfs, %eax
	syscall
	JERR(fail)
	mov DENTS+ABI_STATFS_FLAGS(%rsp), %rax
	mov %rax, %r10
	and $ABI_MS_KEEP, %r10
	or OP_B(%r13), %r10
	mov $ABI_MS_NOATIME, %ecx
	test $ABI_ST_NOATIME, %eax
	jnz 3f
	mov $ABI_MS_RELATIME, %ecx
	test $ABI_ST_RELATIME, %eax
	jnz 3f
	mov $ABI_MS_STRICTATIME, %ecx
3:	or %rcx, %r10
	xor %edi, %edi
	mov OP_P(%r13), %rsi
	xor %edx, %edx
	xor %r8d, %r8d
	jmp 2f
1:	mov OP_C(%r13), %rcx /* {source, fstype, data} */
	mov (%rcx), %rdi
	mov OP_P(%r13), %rsi
	mov 8(%rcx), %rdx
	mov OP_B(%r13), %r10
	mov 16(%rcx), %r8
2:	mov $__NR_mount, %eax
	syscall
	JERR(fail)
	jmp next_op

op_mkdir:
	mov $ABI_AT_FDCWD, %rdi
	mov OP_P(%r13), %rsi
	movslq OP_A(%r13), %rdx
	mov $__NR_mkdirat, %eax
	syscall
	cmp $-EEXIST, %rax
	je next_op
	JERR(fail)
	jmp next_op

op_symlink:
	mov OP_C(%r13), %rdi
	mov $ABI_AT_FDCWD, %rsi
	mov OP_P(%r13), %rdx
	mov $__NR_symlinkat, %eax
	syscall
	JERR(fail)
	jmp next_op

/* In a new mount namespace the old root is taken away (pivot_root), so
 * the program cannot climb out of its root the way a chroot(2) allows one
 * that has CAP_SYS_CHROOT (all capabilities, in a new user namespace):
 * bind the new root onto itself (pivot_root needs a mount point), enter
 * it, stack the old root under it and detach that. A root that is the
 * initial rootfs (an initramfs) cannot be pivoted away from (EINVAL): there,
 * and without a new mount namespace, chroot(2). */
op_chroot:
	cmpl $0, OP_A(%r13)
	je chroot_plain
	mov OP_P(%r13), %rdi
	mov %rdi, %rsi
	xor %edx, %edx
	mov $ABI_MS_BIND_REC, %r10d
	xor %r8d, %r8d
	mov $__NR_mount, %eax
	syscall
	JERR(fail)
	mov OP_P(%r13), %rdi
	mov $__NR_chdir, %eax
	syscall
	JERR(fail)
	lea str_dot(%rip), %rdi
	mov %rdi, %rsi
	mov $__NR_pivot_root, %eax
	syscall
	cmp $-EINVAL, %rax
	je 1f
	JERR(fail)
	lea str_dot(%rip), %rdi
	mov $ABI_MNT_DETACH, %esi
	mov $__NR_umount2, %eax
	syscall
	JERR(fail)
	jmp chroot_cd
1:	lea str_dot(%rip), %rdi /* the rootfs: chroot into the cwd */
	jmp 2f
chroot_plain:
	mov OP_P(%r13), %rdi
2:	mov $__NR_chroot, %eax
	syscall
	JERR(fail)
chroot_cd:
	lea str_slash(%rip), %rdi
	mov $__NR_chdir, %eax
	syscall
	JERR(fail)
	jmp next_op

/* ---- exec ------------------------------------------------------------------ */
/* Set the final signal mask (the last step before execve: handlers are all
 * SIG_DFL by now, so a signal can no longer run parent code here), then try
 * each candidate with execvp's precedence: ENOENT-like errors move on,
 * EACCES is remembered and reported if nothing succeeds, anything else
 * stops. */
op_exec:
	/* Job-control stops (SIGTSTP, SIGTTIN, SIGTTOU, e.g. ^Z to a group the
	 * child joined) that are pending or arrive once the mask is lifted
	 * would stop the child *before* execve, and a CLONE_VFORK parent then
	 * sleeps until someone sends SIGCONT. So each one the final mask lets
	 * through is caught until execve (which resets caught signals to
	 * SIG_DFL): the catcher only records it in RUN_STOPS, and the parent
	 * sends it again to the new program. Ignored ones stay ignored. */
	lea exec_stop_handler(%rip), %rax
	mov %rax, DENTS(%rsp)
	movq $(SA_RESTORER | SA_RESTART), DENTS+8(%rsp)
	lea exec_stop_restorer(%rip), %rax
	mov %rax, DENTS+16(%rsp)
	movq $-1, DENTS+24(%rsp)
	mov $SIGTSTP, %ebp
stop_catch_next:
	lea -1(%rbp), %ecx
	mov RUN_MASK(%rbx), %rax
	bt %rcx, %rax
	jc stop_catch_skip /* blocked through exec: it stays pending, harmless */
	mov %ebp, %edi
	lea DENTS(%rsp), %rsi
	lea SA_OLD(%rsp), %rdx
	mov $8, %r10d
	mov $__NR_rt_sigaction, %eax
	syscall
	JERR(exec_stop_fail)
	cmpq $1, SA_OLD(%rsp) /* it was SIG_IGN: put that back */
	jne stop_catch_skip
	mov %ebp, %edi
	lea SA_OLD(%rsp), %rsi
	xor %edx, %edx
	mov $8, %r10d
	mov $__NR_rt_sigaction, %eax
	syscall
	JERR(exec_stop_fail)
stop_catch_skip:
	inc %ebp
	cmp $SIGTTOU, %ebp
	jbe stop_catch_next
	/* A signal already pending that the final mask lets through would be
	 * delivered the moment the mask is lifted and, left at SIG_DFL with a
	 * fatal default, kill the child before the program ever runs. Report
	 * it instead (EINTR, detail = the signal): the caller then knows the
	 * program never started. Ignored ones are simply discarded. One that
	 * arrives between this look and the unmask below still kills the
	 * child: the window the header documents. */
	testl $MODE_NO_SIGPENDING, RUN_MODE(%rbx)
	jnz exec_unmask
	lea TMP0(%rsp), %rdi
	mov $8, %esi
	mov $__NR_rt_sigpending, %eax
	STEP_SYSCALL STEP_SIGPENDING
	JERR(exec_unmask) /* refused: nothing to learn */
	mov RUN_MASK(%rbx), %rax
	not %rax
	and TMP0(%rsp), %rax
	movabs $FATAL_BY_DEFAULT, %rcx
	and %rcx, %rax
pending_next:
	test %rax, %rax
	jz exec_unmask
	bsf %rax, %rcx
	btr %rcx, %rax
	mov %rax, TMP1(%rsp)
	lea 1(%rcx), %ebp
	mov %ebp, %edi
	xor %esi, %esi
	lea SA_OLD(%rsp), %rdx
	mov $8, %r10d
	mov $__NR_rt_sigaction, %eax
	syscall
	JERR(1f)
	cmpq $0, SA_OLD(%rsp) /* SIG_DFL: it would kill */
	je pending_fatal
1:	mov TMP1(%rsp), %rax
	jmp pending_next
pending_fatal:
	mov %ebp, RUN_DETAIL(%rbx)
	mov %r14d, RUN_INDEX(%rbx)
	mov $-EINTR, %rax
	mov $OPK_SIGMASK, %ecx
	jmp fail_kind
exec_unmask:
	mov $SIG_SETMASK, %edi
	lea RUN_MASK(%rbx), %rsi
	xor %edx, %edx
	mov $8, %r10d
	mov $__NR_rt_sigprocmask, %eax
	syscall
	JOK(1f)
	mov %r14d, RUN_INDEX(%rbx)
	mov $OPK_SIGMASK, %ecx
	jmp fail_kind
1:	/* nf_cmd_seccomp: the op before this one. Its filter goes in here,
	 * after the mask, so the only syscalls after it are the execve (or
	 * execveat) calls below: earlier steps are not filtered, and the
	 * filter needs to allow nothing but the exec (then exit_group after a
	 * failed exec, whose report is in the run record before it: refused,
	 * it falls into fail's hlt; and rt_sigreturn, should a job-control
	 * stop reach the catcher in the last instants). A failure is the
	 * SECCOMP op's. */
	test %r14d, %r14d
	jz 3f
	cmpl $OPK_SECCOMP, OP_KIND-OP_SIZE(%r13)
	jne 3f
	mov $ABI_SECCOMP_SET_MODE_FILTER, %edi
	xor %esi, %esi
	mov OP_P-OP_SIZE(%r13), %rdx
	mov $__NR_seccomp, %eax
	syscall
	JOK(3f)
	lea -1(%r14), %ecx
	mov %ecx, RUN_INDEX(%rbx)
	mov $OPK_SECCOMP, %ecx
	jmp fail_kind
3:	movslq OP_C(%r13), %rdi
	test %edi, %edi
	js exec_paths
	mov PLAN_EMPTY(%r12), %rsi
	mov PLAN_ARGV(%r12), %rdx
	mov RUN_ENVP(%rbx), %r10
	mov $ABI_AT_EMPTY_PATH, %r8d
	mov $__NR_execveat, %eax
	syscall
	movl $-1, RUN_DETAIL(%rbx)
	jmp fail

exec_stop_fail:
	mov %ebp, RUN_DETAIL(%rbx)
	mov %r14d, RUN_INDEX(%rbx)
	mov $OPK_SIGMASK, %ecx
	jmp fail_kind

/* The stop catcher: rdi = signal, rdx = ucontext. The interrupted rbx (the
 * run record) comes from the saved context, so nothing else is assumed. */
exec_stop_handler:
	ENTRY_BRANCH /* entered by the kernel as a signal handler */
	mov ABI_UC_RUN(%rdx), %rax
	btsl %edi, RUN_STOPS(%rax)
	ret /* into exec_stop_restorer, the kernel's return address */
exec_stop_restorer:
	mov $__NR_rt_sigreturn, %eax
	syscall
	hlt

exec_paths:
	xor %r15d, %r15d
	movq $-1, TMP2(%rsp) /* first candidate that gave EACCES */
	mov $-ENOENT, %rbp   /* error to report if no candidate at all */
exec_next:
	cmp OP_A(%r13), %r15d
	jae exec_exhausted
	mov OP_P(%r13), %rcx
	mov (%rcx,%r15,8), %rdi
	mov PLAN_ARGV(%r12), %rsi
	mov RUN_ENVP(%rbx), %rdx
	mov $__NR_execve, %eax
	syscall
	mov %rax, %rbp
	cmp $-ENOEXEC, %rax
	je exec_enoexec
	cmp $-EACCES, %rax
	je exec_eacces
	cmp $-ENOENT, %rax
	je exec_skip
	cmp $-ENOTDIR, %rax
	je exec_skip
	cmp $-ESTALE, %rax
	je exec_skip
	cmp $-ENODEV, %rax
	je exec_skip
	cmp $-ETIMEDOUT, %rax
	je exec_skip
exec_fail_here:
	mov %r15d, RUN_DETAIL(%rbx)
	mov %rbp, %rax
	jmp fail
exec_eacces:
	cmpq $-1, TMP2(%rsp)
	jne exec_skip
	mov %r15, TMP2(%rsp)
exec_skip:
	inc %r15d
	jmp exec_next
exec_enoexec:
	testq $ABI_ENOEXEC_SH, OP_B(%r13)
	jz exec_fail_here
	mov PLAN_SHSTRIDE(%r12), %rax
	imul %r15, %rax
	mov PLAN_SHARGV(%r12), %rsi
	lea (%rsi,%rax,8), %rsi
	mov (%rsi), %rdi
	mov RUN_ENVP(%rbx), %rdx
	mov $__NR_execve, %eax
	syscall
	mov %rax, %rbp
	jmp exec_fail_here
exec_exhausted:
	mov TMP2(%rsp), %rax
	cmp $-1, %rax
	je 1f
	mov %eax, RUN_DETAIL(%rbx)
	mov $-EACCES, %rax
	jmp fail
1:	lea -1(%r15), %eax
	mov %eax, RUN_DETAIL(%rbx)
	mov %rbp, %rax
	jmp fail

/* The dispatch table, indexed by op kind. OP checks each entry's place, so a
 * kind added to nofork/ops.h without its line here fails the build. */
	.macro OP kind, handler
	.if (. - op_table) != (\kind) * 4
	.error "op_table: \handler is not at kind \kind"
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

	.section .note.GNU-stack, "", @progbits
