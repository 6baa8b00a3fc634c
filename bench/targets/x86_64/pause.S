/* The waiting spawn target: sleeps in pause(2) until a signal ends it.
 *
 * Static, no libc, one page of text, like exit0: a supervisor benchmark
 * starts it and stops it, and measures the spawn, the wait and the stop,
 * not the child's startup. SIGTERM (default action) ends it; nothing is
 * caught, so a signal that does not kill it only wakes pause(2) again.
 *
 * Frame / registers (x86_64 Linux, entered from execve):
 *   rsp   -> argc, argv..., envp..., auxv (untouched)
 *   eax   syscall number (34 = pause)
 * Nothing is saved: the process never returns.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	movl	$34, %eax		/* pause */
	syscall
	jmp	_start			/* woken without dying: pause again */
	.size	_start, .-_start

	.section .note.GNU-stack, "", @progbits
