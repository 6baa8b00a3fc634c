/* The output-capture target, aarch64 twin of ../x86_64/emit64k.S: writes
 * 64 KiB of zeros to stdout and exits 0 (static, no libc).
 *
 * Frame / registers (aarch64 Linux, entered from execve):
 *   sp    -> argc, argv..., envp..., auxv (untouched)
 *   x19   next byte to write (in .bss: zeros)
 *   x20   bytes left
 *   x8    syscall number (64 = write, 94 = exit_group); x0-x2 arguments
 * A short write (the pipe took less) continues where it stopped; an error
 * exits with status 1.
 */
	.text
	.globl	_start
	.type	_start, %function
_start:
	adrp	x19, buf
	add	x19, x19, :lo12:buf
	mov	x20, #65536
1:	mov	x0, #1			/* write(1, x19, x20) */
	mov	x1, x19
	mov	x2, x20
	mov	x8, #64
	svc	#0
	cmp	x0, #0
	b.le	2f
	add	x19, x19, x0
	subs	x20, x20, x0
	b.ne	1b
	mov	x0, #0
	b	3f
2:	mov	x0, #1
3:	mov	x8, #94			/* exit_group */
	svc	#0
	udf	#0
	.size	_start, .-_start

	.bss
	.balign	4096
buf:	.zero	65536

	.section .note.GNU-stack, "", %progbits
