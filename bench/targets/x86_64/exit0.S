/* The do-nothing spawn target: the cheapest program the kernel can exec.
 *
 * Static, no libc, no dynamic loader, one page of text: whatever a benchmark
 * measures with it is the spawn path, not the child's startup.
 *
 * Frame / registers (x86_64 Linux, entered from execve):
 *   rsp   -> argc, argv..., envp..., auxv (untouched)
 *   eax   syscall number (231 = exit_group)
 *   edi   exit status 0
 * Nothing is saved: the process ends here.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	movl	$231, %eax		/* exit_group: also ends any thread (there is none) */
	xorl	%edi, %edi
	syscall
	hlt				/* not reached */
	.size	_start, .-_start

	.section .note.GNU-stack, "", @progbits
