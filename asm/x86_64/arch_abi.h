/* What the child ABI (lib/child_abi.h) and the C side need to know about
 * x86_64 beyond the kernel's headers; the aarch64 twin has the same names.
 * Assembler-safe above the __ASSEMBLER__ guard; plan.c checks every
 * constant against libc's. */
#ifndef NF_ASM_ARCH_ABI_H
#define NF_ASM_ARCH_ABI_H

#define ABI_O_RDONLY_DIR_CLOEXEC 0x90000 /* O_RDONLY | O_DIRECTORY | O_CLOEXEC */
/* Where a signal handler finds the interrupted run-record register (rbx). */
#define ABI_UC_RUN 128
#define ABI_UC_RUN_FIELD uc_mcontext.gregs[REG_RBX]

/* glibc's symbol versions of the posix_spawn family (libnofork-preload.so):
 * the baseline node, the one of today's posix_spawn[p], and the older one
 * that ran ENOEXEC files through /bin/sh (only where glibc has two). */
#define NF_GLIBC_BASE "GLIBC_2.2.5"
#define NF_GLIBC_SPAWN "GLIBC_2.15"
#define NF_GLIBC_SPAWN_OLD "GLIBC_2.2.5"

/* This architecture in a seccomp filter (<linux/audit.h>; tests/kit.c). */
#define NF_AUDIT_ARCH AUDIT_ARCH_X86_64

#ifndef __ASSEMBLER__
/* The vector unit's FP control register, MXCSR (the SSE unit; fegetround reads the x87 one), and its rounding
 * field (0: to nearest): tests check that coroutines keep their own. */
#define NF_FP_ROUND_MASK 0x6000
static inline unsigned long nf_fp_control(void)
{
	unsigned v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}
/* Spin-wait hint. */
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
#endif
#endif
