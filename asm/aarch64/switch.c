/* The C side of the context switch, aarch64 (context.S beside it holds the
 * switch itself): the FP control modes a coroutine starts with, the frame a
 * fresh context starts from, and whether this thread can switch stacks at
 * all (not under a guarded control stack). It changes only with that ABI;
 * asm/x86_64/switch.c is its twin.
 */
#include "rt/rt_int.h"

#include <sys/prctl.h>

/* FPCR: rounding mode, flush-to-zero, default NaN (the modes; the
 * cumulative flags live in FPSR, caller-saved). */
uint64_t ctx_fpmodes(void)
{
	uint64_t fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	return fpcr;
}

void *ctx_init(void *top, void (*fn)(void *), void *arg, uint64_t fpmodes)
{
	extern void ctx_entry(void);
	/* The frame table is in context.S: 22 slots (176 bytes), 16-aligned. */
	uint64_t *f = (uint64_t *)((((uintptr_t)top) & ~(uintptr_t)15) - 176);
	for (int i = 0; i < 22; i++)
		f[i] = 0;
	f[0] = (uintptr_t)fn;  /* x19 */
	f[1] = (uintptr_t)arg; /* x20 */
	f[20] = fpmodes;       /* FPCR */
	/* ctx_switch authenticates the return address it loads (AUTIASP, with
	 * sp just above the frame as the modifier), so the first one is signed
	 * the same way: PACIA1716 signs x17 with key A and modifier x16. A
	 * HINT: a NOP without PAC, where x17 stays the plain address. */
	register uint64_t x17 __asm__("x17") = (uintptr_t)ctx_entry;
	register uint64_t x16 __asm__("x16") = (uintptr_t)(f + 22);
	__asm__("hint #8" : "+r"(x17) : "r"(x16));
	f[11] = x17; /* x30 */
	return f;
}

/* Whether the calling thread runs with a guarded control stack (arm64's
 * shadow stack, Linux 6.13: PR_GET_SHADOW_STACK_STATUS; older kernels
 * refuse the query), under which ctx_switch's RET to another context's
 * return address would fault. */
int rt_shadow_stack_enabled(void)
{
	unsigned long status = 0;
	return prctl(74 /* PR_GET_SHADOW_STACK_STATUS */, &status, 0, 0, 0) == 0 &&
	       (status & 1 /* PR_SHADOW_STACK_ENABLE */);
}
