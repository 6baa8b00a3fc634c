/* Where runnable coroutines wait: each worker's ring, the global queue,
 * stealing between workers, and the waking side of the idle protocol
 * (sched.c describes the whole protocol): a push decides here whether an
 * idler must be woken, on the futex rt.seq or by kicking the poller. It
 * changes when the queues or the wakeup rule change.
 */
#include "rt_int.h"

/* ---- run queues ---------------------------------------------------------- */

static void notify_global(int was_empty);

/* Returns whether the queue was empty: only then must an idler be woken,
 * since a non-empty queue already had one woken for it (or a worker that
 * will look at it when its own queue runs dry). */
static int global_put(struct co *first, struct co *last, size_t n)
{
	last->next = NULL;
	pthread_mutex_lock(&rt.gq_lock);
	int was_empty = !rt.gq_head;
	if (rt.gq_tail)
		rt.gq_tail->next = first;
	else
		rt.gq_head = first;
	rt.gq_tail = last;
	atomic_store_explicit(&rt.gq_len, atomic_load_explicit(&rt.gq_len, RELAXED) + n, RELAXED);
	pthread_mutex_unlock(&rt.gq_lock);
	atomic_fetch_add_explicit(&rt.n_global_in, n, RELAXED);
	return was_empty;
}

/* Move half of a full ring plus co to the global queue. 0 if the ring
 * changed under us (a thief took some): the caller retries the local push. */
static int runq_spill(struct worker *w, struct co *co, uint32_t h, uint32_t t)
{
	uint32_t n = (t - h) / 2;
	struct co *batch[RUNQ_SIZE / 2 + 1];
	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&w->ring[(h + i) % RUNQ_SIZE], RELAXED);
	if (!atomic_compare_exchange_strong_explicit(&w->head, &h, h + n, memory_order_release, RELAXED))
		return 0;
	batch[n] = co;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->next = batch[i + 1];
	notify_global(global_put(batch[0], co, n + 1));
	return 1;
}

/* Returns how many were queued before (RUNQ_SIZE after a spill). */
static uint32_t runq_put(struct worker *w, struct co *co)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&w->tail, RELAXED);
		if (t - h < RUNQ_SIZE) {
			atomic_store_explicit(&w->ring[t % RUNQ_SIZE], co, RELAXED);
			atomic_store_explicit(&w->tail, t + 1, memory_order_release);
			return t - h;
		}
		if (runq_spill(w, co, h, t))
			return RUNQ_SIZE;
	}
}

struct co *runq_get(struct worker *w)
{
	uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
	for (;;) {
		uint32_t t = atomic_load_explicit(&w->tail, RELAXED);
		if (t == h)
			return NULL;
		struct co *co = atomic_load_explicit(&w->ring[h % RUNQ_SIZE], RELAXED);
		if (atomic_compare_exchange_weak_explicit(&w->head, &h, h + 1, memory_order_release,
		                                          memory_order_acquire))
			return co;
	}
}

int runq_empty(struct worker *w)
{
	return atomic_load_explicit(&w->head, memory_order_acquire) ==
	       atomic_load_explicit(&w->tail, memory_order_acquire);
}

/* Take half of v's queue into batch (Go's runqgrab). */
static uint32_t runq_grab(struct worker *v, struct co **batch)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&v->head, memory_order_acquire);
		uint32_t t = atomic_load_explicit(&v->tail, memory_order_acquire);
		uint32_t n = t - h;
		n -= n / 2;
		if (n == 0)
			return 0;
		if (n > RUNQ_SIZE / 2)
			continue; /* head and tail read at different times */
		for (uint32_t i = 0; i < n; i++)
			batch[i] = atomic_load_explicit(&v->ring[(h + i) % RUNQ_SIZE], RELAXED);
		if (atomic_compare_exchange_strong_explicit(&v->head, &h, h + n, memory_order_acq_rel, RELAXED))
			return n;
	}
}

struct co *rt_steal(struct worker *w)
{
	int n = rt.nworkers;
	w->rng = w->rng * 1103515245u + 12345u;
	unsigned start = (w->rng >> 16) % (unsigned)n;
	struct co *batch[RUNQ_SIZE / 2];
	for (int i = 0; i < n; i++) {
		struct worker *v = &rt.workers[(start + (unsigned)i) % (unsigned)n];
		if (v == w)
			continue;
		uint32_t k = runq_grab(v, batch);
		if (!k)
			continue;
		BUMP(w->n_steals);
		atomic_store_explicit(&w->n_stolen, atomic_load_explicit(&w->n_stolen, RELAXED) + k, RELAXED);
		for (uint32_t j = 1; j < k; j++)
			runq_put(w, batch[j]);
		return batch[0];
	}
	return NULL;
}

/* Take up to max coroutines from the global queue: one to run, the rest to
 * w's ring (which has room: the caller's ring is empty when max > 1). */
struct co *rt_global_get(struct worker *w, size_t max)
{
	if (!atomic_load_explicit(&rt.gq_len, RELAXED))
		return NULL;
	pthread_mutex_lock(&rt.gq_lock);
	size_t len = atomic_load_explicit(&rt.gq_len, RELAXED);
	size_t n = len / (size_t)rt.nworkers + 1;
	if (n > len)
		n = len;
	if (n > max)
		n = max;
	struct co *first = rt.gq_head, *co = first;
	for (size_t i = 0; i < n; i++) {
		struct co *next = co->next;
		if (i)
			runq_put(w, co);
		co = next;
	}
	rt.gq_head = co;
	if (!co)
		rt.gq_tail = NULL;
	atomic_store_explicit(&rt.gq_len, len - n, RELAXED);
	pthread_mutex_unlock(&rt.gq_lock);
	/* Pushers wake an idler only when the queue turns non-empty; whoever
	 * takes from it passes the wake on while some is left. */
	if (len > n)
		rt_notify_local();
	return n ? first : NULL;
}

/* ---- waking idle workers --------------------------------------------------- */

void rt_hand_over_poller(void)
{
	if (atomic_load(&rt.nsleepers) > 0) {
		atomic_fetch_add(&rt.seq, 1);
		rt_futex_wake(&rt.seq, 1);
	}
}

static void wake_idle(void)
{
	if (atomic_load(&rt.nsleepers) > 0)
		rt_futex_wake(&rt.seq, 1);
	else if (atomic_load(&rt.poll_blocked))
		rt_poll_kick();
}

/* After a push that any worker could take. The fence orders the push
 * before the loads, against an idler's "count myself idle, then look for
 * work" (rt_work_visible): one of the two sees the other. */
void rt_notify_local(void)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&rt.nspinning, RELAXED) == 0 &&
	    (atomic_load(&rt.nsleepers) > 0 || atomic_load(&rt.poll_blocked))) {
		atomic_fetch_add(&rt.seq, 1);
		wake_idle();
	}
}

/* After a push to the global queue. */
static void notify_global(int was_empty)
{
	atomic_fetch_add(&rt.seq, 1);
	if (was_empty && atomic_load(&rt.nspinning) == 0)
		wake_idle();
}

void rt_ready(struct co *co)
{
	struct worker *w = rt_self();
	if (w) {
		/* Wake an idler when work appears, not for every coroutine: it
		 * steals half of what has piled up meanwhile. */
		if (runq_put(w, co) == 0)
			rt_notify_local();
	} else {
		notify_global(global_put(co, co, 1));
	}
}

int rt_work_visible(struct worker *w)
{
	if (atomic_load(&rt.gq_len) || !runq_empty(w))
		return 1;
	for (int i = 0; i < rt.nworkers; i++)
		if (!runq_empty(&rt.workers[i]))
			return 1;
	return 0;
}
