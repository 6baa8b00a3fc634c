/* The supervised target, aarch64 twin of ../x86_64/pause.S: sleeps until a
 * signal ends it. arm64 has no pause(2): ppoll with no fds and no timeout
 * is the same wait. Nothing is caught, so a signal that does not kill it
 * only wakes the wait again.
 *
 * Frame / registers (aarch64 Linux, entered from execve):
 *   sp    -> argc, argv..., envp..., auxv (untouched)
 *   x8    syscall number (73 = ppoll); x0-x4 = NULL, 0, NULL, NULL, 0
 * Nothing is saved: the process never returns.
 */
	.text
	.globl	_start
	.type	_start, %function
_start:
	mov	x0, #0
	mov	x1, #0
	mov	x2, #0
	mov	x3, #0
	mov	x4, #0
	mov	x8, #73			/* ppoll(NULL, 0, NULL, NULL, 0) */
	svc	#0
	b	_start			/* woken without dying: wait again */
	.size	_start, .-_start

	.section .note.GNU-stack, "", %progbits
