/* Reporting coroutine stack overflow.
 *
 * A coroutine that runs off the low end of its stack touches the pool's guard
 * page and gets SIGSEGV. The handler runs on the worker's sigaltstack (the
 * faulting stack is unusable), recognises the guard page of the running
 * coroutine, writes one line with write(2) and aborts. It allocates nothing
 * and takes no lock: the fault may have hit inside malloc. Any other SIGSEGV
 * goes to the handler that was installed before ours, or kills as usual.
 */
#include "rt_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction old_segv;
static int installed;

static size_t fmt_u64(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		buf[i++] = tmp[--n];
	return i;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	struct co *co = rt_current();
	if (co) {
		char *addr = si->si_addr, *lo = co->stack->lo;
		if (addr < lo && addr >= lo - NF_STACK_GUARD) {
			static const char a[] = "nofork: coroutine stack overflow (coroutine ";
			static const char b[] = "): its stack is ";
			static const char c[] = " bytes\n";
			char buf[160], *p = buf;
			memcpy(p, a, sizeof a - 1), p += sizeof a - 1;
			p += fmt_u64(p, co->id);
			memcpy(p, b, sizeof b - 1), p += sizeof b - 1;
			p += fmt_u64(p, co->stack->size);
			memcpy(p, c, sizeof c - 1), p += sizeof c - 1;
			ssize_t r = write(2, buf, (size_t)(p - buf));
			(void)r;
			abort();
		}
	}
	if (old_segv.sa_flags & SA_SIGINFO) {
		old_segv.sa_sigaction(sig, si, uc);
	} else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
	} else {
		/* Returning re-executes the faulting access, now fatal as usual. */
		signal(SIGSEGV, SIG_DFL);
	}
}

int rt_guard_install(void)
{
	if (installed)
		return 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv))
		return EINVAL;
	installed = 1;
	return 0;
}

void rt_guard_uninstall(void)
{
	if (!installed)
		return;
	struct sigaction cur;
	/* Put the old handler back unless someone replaced ours meanwhile. */
	if (!sigaction(SIGSEGV, NULL, &cur) && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv)
		sigaction(SIGSEGV, &old_segv, NULL);
	installed = 0;
}

int rt_guard_thread_init(struct worker *w)
{
	int e = stack_get(ALTSTACK_SIZE, &w->altstack);
	if (e) {
		w->altstack = NULL;
		return e; /* overflow then dies by plain SIGSEGV, without the report */
	}
	stack_t ss = {.ss_sp = w->altstack->lo,
	              .ss_size = (size_t)(stack_top(w->altstack) - (char *)w->altstack->lo)};
	if (sigaltstack(&ss, NULL)) {
		stack_put(w->altstack);
		w->altstack = NULL;
		return EINVAL;
	}
	return 0;
}

void rt_guard_thread_fini(struct worker *w)
{
	nf_stack *alt = w->altstack;
	if (!alt)
		return;
	stack_t ss = {.ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	w->altstack = NULL; /* before the put: a fork() in between must not pool it twice */
	stack_put(alt);
}

void rt_guard_reset_child(struct worker *workers, int n, struct worker *self)
{
	for (int i = 0; i < n; i++) {
		struct worker *w = &workers[i];
		if (!w->altstack)
			continue;
		if (w == self) {
			/* The forking thread lives on: it must stop using the stack
			 * first, which fails only while a handler runs on it. */
			stack_t ss = {.ss_flags = SS_DISABLE};
			if (sigaltstack(&ss, NULL))
				continue;
		}
		stack_put(w->altstack);
		w->altstack = NULL;
	}
	rt_guard_uninstall();
}
