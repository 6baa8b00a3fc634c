/* First-instruction target: report when the child first ran user code.
 *
 * The parent reads CLOCK_MONOTONIC just before its spawn call; this program
 * reads it again as its very first action and writes the raw 16-byte
 * struct timespec to fd 3 (a pipe the parent passes down). The difference is
 * the spawn latency as the child sees it, without libc startup and without
 * wait/exit. The clock is read with the raw syscall (228) because a static
 * -nostdlib program has no vDSO lookup, and a syscall is a fixed, small cost.
 *
 * Frame / registers (x86_64 Linux, entered from execve):
 *   rsp+0 .. rsp+15  struct timespec { tv_sec, tv_nsec }: 16 bytes carved
 *                    below argc (the kernel-built stack is 16-byte aligned and
 *                    nothing else runs, so nothing needs preserving)
 *   eax   syscall number: 228 clock_gettime, 1 write, 231 exit_group
 *   edi   arg0: CLOCK_MONOTONIC (1) / fd 3 / exit status
 *   rsi   arg1: &timespec
 *   edx   arg2: 16 bytes
 *   rcx, r11 clobbered by syscall
 * Exit status: 0 if all 16 bytes were written, 1 otherwise (so a harness that
 * forgot fd 3 notices).
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	subq	$16, %rsp
	movl	$228, %eax		/* clock_gettime(CLOCK_MONOTONIC, rsp) */
	movl	$1, %edi
	movq	%rsp, %rsi
	syscall
	movl	$1, %eax		/* write(3, rsp, 16) */
	movl	$3, %edi
	movq	%rsp, %rsi
	movl	$16, %edx
	syscall
	xorl	%edi, %edi
	cmpq	$16, %rax
	setne	%dil			/* status 1 unless the full timespec went out */
	movl	$231, %eax		/* exit_group(status) */
	syscall
	hlt				/* not reached */
	.size	_start, .-_start

	.section .note.GNU-stack, "", @progbits
