/* clone3_exec for bench/spawn_methods.c's clone3 rungs, x86_64 (the
 * aarch64 twin is ../aarch64/clone3_exec.h). Included once, by that file,
 * after struct clone3_args and struct target. */
/* Returns the pid or -errno. In the child: [close_range] [sigprocmask]
 * execve, _exit(127) if it fails. */
static long clone3_exec(struct clone3_args *ca, const struct target *t, long fds,
			const uint64_t *mask, const uint64_t *stop_act)
{
	register long rax asm("rax") = SYS_clone3;
	register void *rdi asm("rdi") = ca;
	register long rsi asm("rsi") = sizeof *ca;
	register const char *path asm("r12") = t->path;
	register char *const *argv asm("r13") = t->argv;
	register char *const *envp asm("r14") = t->envp;
	register long do_fds asm("r15") = fds;
	register const uint64_t *m asm("rbx") = mask;
	register const uint64_t *sa asm("r9") = stop_act;
	asm volatile("syscall\n\t"
		     "test %%rax, %%rax\n\t"
		     "jnz 3f\n\t"
		     "test %%r15, %%r15\n\t"
		     "jz 1f\n\t"
		     "mov $436, %%eax\n\t" /* close_range(3, ~0U, 0) */
		     "mov $3, %%edi\n\t"
		     "mov $-1, %%esi\n\t"
		     "xor %%edx, %%edx\n\t"
		     "syscall\n"
		     "1:\ttest %%r9, %%r9\n\t"
		     "jz 5f\n\t"
		     "mov $20, %%r8d\n" /* SIGTSTP, SIGTTIN, SIGTTOU */
		     "4:\tmov $13, %%eax\n\t" /* rt_sigaction(sig, sa, NULL, 8) */
		     "mov %%r8d, %%edi\n\t"
		     "mov %%r9, %%rsi\n\t"
		     "xor %%edx, %%edx\n\t"
		     "mov $8, %%r10d\n\t"
		     "syscall\n\t"
		     "inc %%r8d\n\t"
		     "cmp $22, %%r8d\n\t"
		     "jbe 4b\n"
		     "5:\ttest %%rbx, %%rbx\n\t"
		     "jz 2f\n\t"
		     "mov $14, %%eax\n\t" /* rt_sigprocmask(SIG_SETMASK, m, NULL, 8) */
		     "mov $2, %%edi\n\t"
		     "mov %%rbx, %%rsi\n\t"
		     "xor %%edx, %%edx\n\t"
		     "mov $8, %%r10d\n\t"
		     "syscall\n"
		     "2:\tmov $59, %%eax\n\t" /* execve */
		     "mov %%r12, %%rdi\n\t"
		     "mov %%r13, %%rsi\n\t"
		     "mov %%r14, %%rdx\n\t"
		     "syscall\n\t"
		     "mov $231, %%eax\n\t" /* exit_group(127) */
		     "mov $127, %%edi\n\t"
		     "syscall\n"
		     "3:"
		     : "+a"(rax), "+D"(rdi), "+S"(rsi)
		     : "r"(path), "r"(argv), "r"(envp), "r"(do_fds), "r"(m), "r"(sa)
		     : "rcx", "rdx", "r8", "r10", "r11", "memory");
	return rax;
}
