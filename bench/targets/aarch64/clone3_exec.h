/* clone3_exec for bench/spawn_methods.c's clone3 rungs, aarch64 (the
 * x86_64 twin is ../x86_64/clone3_exec.h). Included once, by that file,
 * after struct clone3_args and struct target. */
/* Returns the pid or -errno. In the child: [close_range] [sigprocmask]
 * execve, _exit(127) if it fails. The child never returns into C, so it
 * uses any register; the parent sees only x0 change (svc keeps the rest). */
static long clone3_exec(struct clone3_args *ca, const struct target *t, long fds,
			const uint64_t *mask, const uint64_t *stop_act)
{
	register long x0 asm("x0") = (long)ca;
	register long x1 asm("x1") = sizeof *ca;
	register long x8 asm("x8") = 435; /* clone3 */
	register const char *path asm("x19") = t->path;
	register char *const *argv asm("x20") = t->argv;
	register char *const *envp asm("x21") = t->envp;
	register long do_fds asm("x22") = fds;
	register const uint64_t *m asm("x23") = mask;
	register const uint64_t *sa asm("x24") = stop_act;
	asm volatile("svc #0\n\t"
		     "cbnz x0, 3f\n\t"
		     "cbz x22, 1f\n\t"
		     "mov x0, #3\n\t" /* close_range(3, ~0U, 0) */
		     "mov w1, #-1\n\t"
		     "mov x2, #0\n\t"
		     "mov x8, #436\n\t"
		     "svc #0\n"
		     "1:\tcbz x24, 5f\n\t"
		     "mov x9, #20\n" /* SIGTSTP, SIGTTIN, SIGTTOU */
		     "4:\tmov x0, x9\n\t" /* rt_sigaction(sig, sa, NULL, 8) */
		     "mov x1, x24\n\t"
		     "mov x2, #0\n\t"
		     "mov x3, #8\n\t"
		     "mov x8, #134\n\t"
		     "svc #0\n\t"
		     "add x9, x9, #1\n\t"
		     "cmp x9, #22\n\t"
		     "b.ls 4b\n"
		     "5:\tcbz x23, 2f\n\t"
		     "mov x0, #2\n\t" /* rt_sigprocmask(SIG_SETMASK, m, NULL, 8) */
		     "mov x1, x23\n\t"
		     "mov x2, #0\n\t"
		     "mov x3, #8\n\t"
		     "mov x8, #135\n\t"
		     "svc #0\n"
		     "2:\tmov x0, x19\n\t" /* execve */
		     "mov x1, x20\n\t"
		     "mov x2, x21\n\t"
		     "mov x8, #221\n\t"
		     "svc #0\n\t"
		     "mov x0, #127\n\t" /* exit_group(127) */
		     "mov x8, #94\n\t"
		     "svc #0\n"
		     "3:"
		     : "+r"(x0), "+r"(x1), "+r"(x8)
		     : "r"(path), "r"(argv), "r"(envp), "r"(do_fds), "r"(m), "r"(sa)
		     : "memory");
	return x0;
}
