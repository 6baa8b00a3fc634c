/* First-instruction target, aarch64 twin of ../x86_64/first_insn.S: reads
 * CLOCK_MONOTONIC as its very first action (raw syscall: no vDSO lookup in
 * a -nostdlib program) and writes the raw 16-byte struct timespec to fd 3.
 *
 * Frame / registers (aarch64 Linux, entered from execve):
 *   sp+0 .. sp+15  struct timespec { tv_sec, tv_nsec }: 16 bytes carved
 *                  below argc (sp stays 16-byte aligned)
 *   x8    syscall number: 113 clock_gettime, 64 write, 94 exit_group
 *   x0    arg0: CLOCK_MONOTONIC (1) / fd 3 / exit status
 *   x1    arg1: &timespec;  x2  arg2: 16 bytes
 * Exit status: 0 if all 16 bytes were written, 1 otherwise.
 */
	.text
	.globl	_start
	.type	_start, %function
_start:
	sub	sp, sp, #16
	mov	x0, #1			/* clock_gettime(CLOCK_MONOTONIC, sp) */
	mov	x1, sp
	mov	x8, #113
	svc	#0
	mov	x0, #3			/* write(3, sp, 16) */
	mov	x1, sp
	mov	x2, #16
	mov	x8, #64
	svc	#0
	cmp	x0, #16
	cset	x0, ne			/* status 1 unless the full timespec went out */
	mov	x8, #94			/* exit_group(status) */
	svc	#0
	udf	#0
	.size	_start, .-_start

	.section .note.GNU-stack, "", %progbits
