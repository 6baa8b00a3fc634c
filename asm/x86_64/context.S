/* Coroutine context switch, x86_64 System V (parent side only, never the child).
 *
 * void ctx_switch(void **save_sp, void *load_sp);
 *   Saves the caller's context on its own stack, stores the stack pointer in
 *   *save_sp, then resumes the context whose stack pointer is load_sp. Returns
 *   when some other ctx_switch resumes the saved context. No syscall: the
 *   signal mask is per thread and not part of a coroutine (that is the
 *   rt_sigprocmask that makes swapcontext many times slower: bench/RESULTS.md,
 *   "Numbers behind design choices in the code").
 *
 * void ctx_entry(void);
 *   First "return address" of a fresh context (see ctx_init in lib/rt):
 *   calls r12(r13) and never returns (the callee must switch away for good).
 *
 * Saved frame (rsp = the value stored in *save_sp), 64 bytes:
 *
 *   offset  size  contents
 *   ------  ----  ---------------------------------------------
 *    0x00     4   MXCSR            (SSE control/status: rounding, FTZ/DAZ)
 *    0x04     2   x87 control word (precision, rounding)
 *    0x06     2   (padding)
 *    0x08     8   r15
 *    0x10     8   r14
 *    0x18     8   r13              (fresh context: argument for r12)
 *    0x20     8   r12              (fresh context: function to call)
 *    0x28     8   rbx
 *    0x30     8   rbp              (fresh context: 0, ends frame-pointer chains)
 *    0x38     8   return address   (fresh context: ctx_entry)
 *
 * Registers: rdi = save_sp, rsi = load_sp, rcx = scratch (the resume
 * address); everything else caller-saved by the ABI is left alone. The x87 stack and
 * the vector registers are caller-saved, so nothing else needs keeping.
 *
 * CET (cet.h): IBT holds (both entries start with endbr64; the resume jump
 * is notrack). A shadow stack does not: the switch pops a return address
 * pushed on another stack and jumps to it, so the next `ret` in the resumed
 * context would not match the shadow stack. nf_rt_start refuses to run
 * (ENOTSUP) on a thread with a shadow stack enabled; making the switch
 * shadow-stack correct needs a shadow stack per coroutine (rstorssp /
 * saveprevssp with restore tokens).
 */
#include "cet.h"

	.text

	.globl	ctx_switch
	.hidden	ctx_switch
	.type	ctx_switch, @function
	.p2align 4
ctx_switch:
	.cfi_startproc
	ENTRY_BRANCH
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)

	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	/* Not `ret`: the return-stack predictor expects our own caller, never
	 * the other context's, so a ret mispredicts on every switch (it cost
	 * more than the rest of the switch: bench/RESULTS.md, "Numbers behind
	 * design choices in the code"). An indirect jump is predicted from the
	 * branch target buffer instead. notrack: the target is a return address
	 * (after a call), never an endbr64. */
	popq	%rcx
	notrack jmp	*%rcx
	.cfi_endproc
	.size	ctx_switch, .-ctx_switch

	.globl	ctx_entry
	.hidden	ctx_entry
	.type	ctx_entry, @function
	.p2align 4
ctx_entry:
	.cfi_startproc
	.cfi_undefined rip	/* outermost frame: unwinders and gdb stop here */
	ENTRY_BRANCH		/* reached by the jump above */
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	ctx_entry, .-ctx_entry

	.section .note.GNU-stack,"",@progbits
