/* The C side of the context switch, x86_64 (context.S beside it holds the
 * switch itself): the FP control modes a coroutine starts with, the frame a
 * fresh context starts from, and whether this thread can switch stacks at
 * all (not under a CET shadow stack). It changes only with that ABI;
 * asm/aarch64/switch.c is its twin.
 */
#include "rt/rt_int.h"

#include <sys/syscall.h>
#include <unistd.h>

uint64_t ctx_fpmodes(void)
{
	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	return mxcsr | (uint64_t)fcw << 32;
}

void *ctx_init(void *top, void (*fn)(void *), void *arg, uint64_t fpmodes)
{
	extern void ctx_entry(void);
	/* Leave 16 bytes so ctx_entry starts 16-byte aligned, as after a call's
	 * return-address pop; see the frame table in context.S. */
	uint64_t *f = (uint64_t *)((((uintptr_t)top) & ~(uintptr_t)15) - 16 - 64);
	f[0] = fpmodes;
	f[1] = 0;                   /* r15 */
	f[2] = 0;                   /* r14 */
	f[3] = (uintptr_t)arg;      /* r13 */
	f[4] = (uintptr_t)fn;       /* r12 */
	f[5] = 0;                   /* rbx */
	f[6] = 0;                   /* rbp */
	f[7] = (uintptr_t)ctx_entry;
	return f;
}

/* Whether the calling thread runs with a CET shadow stack (ARCH_SHSTK_STATUS,
 * Linux 6.6; older kernels have no shadow stacks and refuse the query). */
int rt_shadow_stack_enabled(void)
{
	unsigned long features = 0;
	return syscall(SYS_arch_prctl, 0x5005 /* ARCH_SHSTK_STATUS */, &features) == 0 &&
	       (features & 1 /* ARCH_SHSTK_SHSTK */);
}
