/* The output-capture target: writes 64 KiB of zeros to stdout and exits 0.
 *
 * Static, no libc, no dynamic loader: what io_bench measures with it is the
 * spawn, the pipe and the parent's reading, not the child's startup.
 *
 * Frame / registers (x86_64 Linux, entered from execve):
 *   rsp   -> argc, argv..., envp..., auxv (untouched)
 *   rsi   next byte to write (in .bss: zeros)
 *   rdx   bytes left
 *   eax   syscall number (1 = write, 231 = exit_group); edi fd / status
 * A short write (the pipe took less) continues where it stopped; an error
 * exits with status 1.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	leaq	buf(%rip), %rsi
	movl	$65536, %edx
1:	movl	$1, %eax		/* write(1, rsi, rdx) */
	movl	$1, %edi
	syscall
	testq	%rax, %rax
	jle	2f
	addq	%rax, %rsi
	subq	%rax, %rdx
	jnz	1b
	xorl	%edi, %edi
	jmp	3f
2:	movl	$1, %edi
3:	movl	$231, %eax		/* exit_group */
	syscall
	hlt
	.size	_start, .-_start

	.bss
	.balign	4096
buf:	.zero	65536

	.section .note.GNU-stack, "", @progbits
