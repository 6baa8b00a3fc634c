/* The do-nothing spawn target, aarch64 twin of ../x86_64/exit0.S: the
 * cheapest program the kernel can exec (static, no libc, one page of text).
 *
 * Frame / registers (aarch64 Linux, entered from execve):
 *   sp    -> argc, argv..., envp..., auxv (untouched)
 *   x8    syscall number (94 = exit_group)
 *   x0    exit status 0
 * Nothing is saved: the process ends here.
 */
	.text
	.globl	_start
	.type	_start, %function
_start:
	mov	x0, #0
	mov	x8, #94			/* exit_group */
	svc	#0
	udf	#0			/* not reached */
	.size	_start, .-_start

	.section .note.GNU-stack, "", %progbits
