/* Coroutine context switch, aarch64 AAPCS64 (parent side only, never the
 * child). Same contract as asm/x86_64/context.S.
 *
 * void ctx_switch(void **save_sp, void *load_sp);
 *   Saves the caller's context on its own stack, stores the stack pointer in
 *   *save_sp, then resumes the context whose stack pointer is load_sp. Returns
 *   when some other ctx_switch resumes the saved context. No syscall: the
 *   signal mask is per thread and not part of a coroutine.
 *
 * void ctx_entry(void);
 *   First "return address" of a fresh context (see ctx_init in
 *   asm/aarch64/switch.c): calls x19(x20) and never returns (the callee
 *   must switch away for good).
 *
 * Saved frame (sp = the value stored in *save_sp), 176 bytes, 16-aligned:
 *
 *   offset  size  contents
 *   ------  ----  ---------------------------------------------
 *    0x00     8   x19              (fresh context: function to call)
 *    0x08     8   x20              (fresh context: its argument)
 *    0x10    64   x21 .. x28
 *    0x50     8   x29 (fp)         (fresh context: 0, ends frame chains)
 *    0x58     8   x30 (lr), signed (fresh context: ctx_entry, signed)
 *    0x60    64   d8 .. d15        (the low halves of v8-v15: AAPCS64)
 *    0xa0     8   FPCR             (rounding, flush-to-zero, default NaN)
 *    0xa8     8   (padding)
 *
 * The AAPCS64 leaves x0-x18, the rest of v0-v31 and FPSR (cumulative
 * flags) caller-saved, so nothing else needs keeping. x18 is the platform
 * register, left alone (Linux: an ordinary temporary).
 *
 * BTI / PAC (bti.h): both entries start with a landing pad (ctx_switch is
 * called, ctx_entry is reached by RET, which BTI does not check, but the
 * pad costs nothing). The return address is stored in memory, so it is
 * signed first (PACIASP, modifier: sp at entry) and authenticated after the
 * other side's frame is popped (AUTIASP, with that context's entry sp); a
 * fresh context's is signed by ctx_init the same way (PACIA1716). Unlike
 * the x86_64 switch, this one leaves by RET: an indirect BR would need a
 * landing pad at every return address. All PAC and BTI instructions are
 * HINTs, NOPs on CPUs without them.
 */
#include "bti.h"

#define PACIASP hint #25
#define AUTIASP hint #29

	.text

	.globl	ctx_switch
	.hidden	ctx_switch
	.type	ctx_switch, %function
	.p2align 4
ctx_switch:
	.cfi_startproc
	BTI_C
	PACIASP
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0x00]
	stp	x21, x22, [sp, #0x10]
	stp	x23, x24, [sp, #0x20]
	stp	x25, x26, [sp, #0x30]
	stp	x27, x28, [sp, #0x40]
	stp	x29, x30, [sp, #0x50]
	stp	d8, d9, [sp, #0x60]
	stp	d10, d11, [sp, #0x70]
	stp	d12, d13, [sp, #0x80]
	stp	d14, d15, [sp, #0x90]
	mrs	x2, fpcr
	str	x2, [sp, #0xa0]
	mov	x2, sp
	str	x2, [x0]

	mov	sp, x1
	ldr	x2, [sp, #0xa0]
	msr	fpcr, x2
	ldp	x19, x20, [sp, #0x00]
	ldp	x21, x22, [sp, #0x10]
	ldp	x23, x24, [sp, #0x20]
	ldp	x25, x26, [sp, #0x30]
	ldp	x27, x28, [sp, #0x40]
	ldp	x29, x30, [sp, #0x50]
	ldp	d8, d9, [sp, #0x60]
	ldp	d10, d11, [sp, #0x70]
	ldp	d12, d13, [sp, #0x80]
	ldp	d14, d15, [sp, #0x90]
	add	sp, sp, #176
	AUTIASP
	ret
	.cfi_endproc
	.size	ctx_switch, .-ctx_switch

	.globl	ctx_entry
	.hidden	ctx_entry
	.type	ctx_entry, %function
	.p2align 4
ctx_entry:
	.cfi_startproc
	.cfi_undefined x30	/* outermost frame: unwinders and gdb stop here */
	BTI_C
	mov	x0, x20
	blr	x19
	udf	#0
	.cfi_endproc
	.size	ctx_entry, .-ctx_entry

	.section .note.GNU-stack,"",%progbits
