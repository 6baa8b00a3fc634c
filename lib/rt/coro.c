/* A coroutine's life: nf_go builds one on a stack from the worker's stack
 * cache, gives it an id and makes it runnable; co_main runs it and co_exit
 * gives its stack back. It changes when what a coroutine is, or how its
 * stack is got and given back, changes.
 */
#include "rt_int.h"
#include "cancel.h"

#include <nofork.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#define CO_SLOT ((sizeof(struct co) + 63) & ~(size_t)63)

static void live_put(void)
{
	if (atomic_fetch_sub(&rt.live, 1) == 1 && atomic_load(&rt.stop_waiting))
		rt_futex_wake(&rt.live, INT_MAX);
}

/* Per-worker stack cache: refilled and drained in batches of STACK_BATCH,
 * one compare-and-swap on the shared pool each; holds up to RT_STACK_CACHE.
 * With every get and put on the shared pool, its cache line ping-pongs
 * between the workers and create+join is much slower (measured:
 * bench/RESULTS.md, "Numbers behind design choices in the code"). */
#define STACK_BATCH (RT_STACK_CACHE / 2)

static int co_stack_get(nf_stack **out)
{
	struct worker *w = rt_self();
	if (!w)
		return stack_get(NF_STACK_DEFAULT, out);
	if (!w->stacks) {
		w->n_stacks = stack_get_batch(NF_STACK_DEFAULT, STACK_BATCH, &w->stacks);
		if (!w->n_stacks)
			return stack_get(NF_STACK_DEFAULT, out); /* maps a new one */
	}
	nf_stack *st = w->stacks;
	w->stacks = atomic_load_explicit(&st->next, RELAXED);
	w->n_stacks--;
	*out = st;
	return 0;
}

static void co_stack_put(struct worker *w, nf_stack *st)
{
	atomic_store_explicit(&st->next, w->stacks, RELAXED);
	w->stacks = st;
	if (++w->n_stacks <= RT_STACK_CACHE)
		return;
	nf_stack *last = st;
	for (int i = 1; i < STACK_BATCH; i++)
		last = atomic_load_explicit(&last->next, RELAXED);
	w->stacks = atomic_load_explicit(&last->next, RELAXED);
	w->n_stacks -= STACK_BATCH;
	stack_put_chain(st, last);
}

/* After the worker's thread is gone: its cache back to the pool. The cache
 * is detached before the put, so a fork() in between loses it in the child
 * instead of pooling it twice there. */
void rt_co_stack_flush(struct worker *w)
{
	nf_stack *first = w->stacks, *last = first;
	if (!first)
		return;
	for (nf_stack *n; (n = atomic_load_explicit(&last->next, RELAXED));)
		last = n;
	w->stacks = NULL;
	w->n_stacks = 0;
	stack_put_chain(first, last);
}

static void co_exit(struct co *co, void *arg)
{
	(void)arg;
	struct worker *w = rt_self();
	BUMP(w->n_finished);
	co_stack_put(w, co->stack); /* co lives on it: last touch of co */
	live_put();
}

static void co_main(void *arg)
{
	struct co *co = arg;
	co->fn(co->arg);
	/* Only in the child of a fork() this coroutine made: the thread is no
	 * worker there and has no scheduler to switch back to. End the process,
	 * as the last thread of a process returning from its start function
	 * does. */
	if (!rt_self())
		exit(0);
	rt_park(co, co_exit, NULL);
	__builtin_unreachable();
}

#define ID_CHUNK 1024

/* Unique ids without a shared atomic per coroutine: workers take ranges. */
static uint64_t new_id(void)
{
	struct worker *w = rt_self();
	if (!w)
		return atomic_fetch_add_explicit(&rt.next_id, 1, RELAXED) + 1;
	if (w->id_next == w->id_end) {
		w->id_next = atomic_fetch_add_explicit(&rt.next_id, ID_CHUNK, RELAXED) + 1;
		w->id_end = w->id_next + ID_CHUNK;
	}
	return w->id_next++;
}

int nf_go(void (*fn)(void *), void *arg)
{
	NF_NOCANCEL;
	if (!fn)
		return EINVAL;
	/* Count first, then look: nf_rt_stop clears `running` and then checks
	 * `live`, so one of the two sees the other. */
	atomic_fetch_add(&rt.live, 1);
	if (!atomic_load(&rt.running)) {
		live_put();
		return ESRCH;
	}
	nf_stack *st;
	int e = co_stack_get(&st);
	if (e) {
		live_put();
		return e;
	}
	struct co *co = (struct co *)(stack_top(st) - CO_SLOT);
	co->next = NULL;
	co->worker = NULL;
	co->fn = fn;
	co->arg = arg;
	co->stack = st;
	co->id = new_id();
	co->wait_state = W_IDLE;
	co->heap_idx = NO_HEAP;
	co->sp = ctx_init(co, co_main, co, rt.fpmodes);
	struct worker *w = rt_self();
	if (w)
		BUMP(w->n_created);
	else
		atomic_fetch_add_explicit(&rt.n_created_ext, 1, RELAXED);
	rt_ready(co);
	return 0;
}
