/* What the child ABI (lib/child_abi.h) and the C side need to know about
 * aarch64 beyond the kernel's headers; the x86_64 twin has the same names.
 * Assembler-safe above the __ASSEMBLER__ guard; plan.c checks every
 * constant against libc's. */
#ifndef NF_ASM_ARCH_ABI_H
#define NF_ASM_ARCH_ABI_H

/* O_DIRECTORY is 040000 on arm64 (0200000 on x86_64). */
#define ABI_O_RDONLY_DIR_CLOEXEC 0x84000 /* O_RDONLY | O_DIRECTORY | O_CLOEXEC */
/* Where a signal handler finds the interrupted run-record register (x19):
 * 8 uc_flags + 8 uc_link + 24 uc_stack + 128 uc_sigmask, mcontext 16-aligned
 * at 176, its fault_address (8) then regs[0..30]. */
#define ABI_UC_RUN 336
#define ABI_UC_RUN_FIELD uc_mcontext.regs[19]

/* glibc's symbol versions of the posix_spawn family: aarch64 starts at
 * glibc 2.17, after posix_spawn's ENOEXEC change (2.15), so it has one
 * posix_spawn, with today's semantics, and no older node. */
#define NF_GLIBC_BASE "GLIBC_2.17"
#define NF_GLIBC_SPAWN "GLIBC_2.17"

/* This architecture in a seccomp filter (<linux/audit.h>; tests/kit.c). */
#define NF_AUDIT_ARCH AUDIT_ARCH_AARCH64

#ifndef __ASSEMBLER__
/* The vector unit's FP control register, FPCR (RMode, bits 22-23), and its rounding
 * field (0: to nearest): tests check that coroutines keep their own. */
#define NF_FP_ROUND_MASK 0xc00000
static inline unsigned long nf_fp_control(void)
{
	unsigned long v;
	__asm__ volatile("mrs %0, fpcr" : "=r"(v));
	return v;
}
/* Spin-wait hint. */
static inline void cpu_relax(void) { __asm__ volatile("yield" ::: "memory"); }
#endif
#endif
