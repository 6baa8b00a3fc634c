/* The ground the other runtime files stand on, depending on none of them:
 * the runtime's state (struct rt), which worker the calling thread is
 * (rt_self, rt_current and the public queries built on them), the clock and
 * the futex helpers. It changes only when what every file shares changes.
 */
#include "rt_int.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct rt rt = {
	.gq_lock = PTHREAD_MUTEX_INITIALIZER,
	.poll_lock = PTHREAD_MUTEX_INITIALIZER,
	.epfd = -1,
	.evfd = -1,
	.next_deadline = INT64_MAX,
};

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call, and
 * safe in the SIGSEGV handler. Costs 8 bytes of static TLS, which glibc keeps
 * spare even for a dlopen'ed libnofork. */
__thread struct worker *rt_tls_worker __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) struct worker *rt_self(void)
{
	struct worker *w;
	__asm__ volatile("" ::: "memory");
	w = rt_tls_worker;
	return w;
}

struct co *rt_current(void)
{
	struct worker *w = rt_self();
	return w ? w->current : NULL;
}

int rt_in_coroutine(void) { return rt_current() != NULL; }

uint64_t rt_coroutine_id(void)
{
	struct co *co = rt_current();
	return co ? co->id : 0;
}

int rt_worker_index(void)
{
	struct worker *w = rt_self();
	return w ? (int)w->index : -1;
}

int64_t rt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void rt_futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void rt_futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
