/* Wait group: wait for a counted set of coroutines (or threads) to finish.
 *
 * Every access takes the wait group's spinlock, including the waiter's
 * "already zero" check: a waiter may free the nf_wg as soon as it returns, so
 * the last touch by nf_wg_add (the unlock) must come before any waiter can
 * see the count at zero. Critical sections are a few instructions (plus one
 * futex wake when plain threads wait), so spinning is bounded.
 */
#include "rt_int.h"
#include "cancel.h"

#include <nofork.h>

#include <errno.h>
#include <limits.h>
#include <sched.h>

static void wg_lock(nf_wg *wg)
{
	for (unsigned spins = 0; __atomic_exchange_n(&wg->lock, 1, __ATOMIC_ACQUIRE); spins++) {
		if (spins > 100)
			sched_yield(); /* the holder was preempted */
		else
			cpu_relax();
	}
}

static void wg_unlock(nf_wg *wg) { __atomic_store_n(&wg->lock, 0, __ATOMIC_RELEASE); }

void nf_wg_init(nf_wg *wg) { *wg = (nf_wg)NF_WG_INIT; }

int nf_wg_add(nf_wg *wg, int n)
{
	NF_NOCANCEL;
	wg_lock(wg);
	long c = (long)wg->count + n;
	if (c < 0 || c > INT_MAX) {
		wg_unlock(wg);
		return EINVAL;
	}
	wg->count = (int)c;
	struct co *list = NULL;
	if (c == 0) {
		list = wg->waiters;
		wg->waiters = NULL;
		if (wg->thread_waiters) {
			wg->thread_waiters = 0;
			__atomic_add_fetch(&wg->seq, 1, __ATOMIC_RELEASE);
			/* Under the lock: a woken thread must take it before returning. */
			rt_futex_wake((_Atomic uint32_t *)&wg->seq, INT_MAX);
		}
	}
	wg_unlock(wg);
	while (list) {
		struct co *next = list->next; /* read before list may run and exit */
		rt_ready(list);
		list = next;
	}
	return 0;
}

int nf_wg_done(nf_wg *wg) { return nf_wg_add(wg, -1); }

static void commit_wait(struct co *co, void *arg)
{
	nf_wg *wg = arg;
	wg_lock(wg);
	if (wg->count == 0) {
		wg_unlock(wg);
		rt_ready(co);
		return;
	}
	co->next = wg->waiters;
	wg->waiters = co;
	wg_unlock(wg);
}

void nf_wg_wait(nf_wg *wg)
{
	NF_NOCANCEL;
	struct co *co = rt_current();
	if (co) {
		rt_park(co, commit_wait, wg);
		/* commit_wait's or nf_wg_add's unlock preceded our resumption. */
		return;
	}
	for (;;) {
		wg_lock(wg);
		if (wg->count == 0) {
			wg_unlock(wg);
			return;
		}
		wg->thread_waiters = 1;
		unsigned seq = wg->seq;
		wg_unlock(wg);
		rt_futex_wait((_Atomic uint32_t *)&wg->seq, seq);
	}
}
