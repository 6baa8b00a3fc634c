/* Coroutines and the scheduler: worker threads, run queues, stealing, idling.
 *
 * Each worker runs a scheduler loop on its own (pooled) thread stack and
 * switches into coroutines from there; a coroutine always switches back to
 * its worker's loop, which then performs the coroutine's "park" action (requeue,
 * register a wait, free the stack). Doing that action only after the switch is
 * what keeps two threads from ever running on one coroutine stack.
 *
 * Idle protocol: an idle worker first steals (spinning briefly), then either
 * becomes the single poller (blocks in epoll_wait) or sleeps on the futex
 * rt.seq. Whoever makes work that must not be missed (global queue, timers,
 * fd events) bumps rt.seq before looking for idlers; an idler reads rt.seq
 * before its last look for work, announces itself (rt.nsleepers or
 * rt.poll_blocked), looks at every queue once more, and blocks only if
 * rt.seq did not move, so no wakeup is lost. To keep wakeups (syscalls) rare,
 * a push wakes an idler only when it makes a queue non-empty and nobody is
 * already spinning; the woken worker steals half of what piled up, and takes
 * from the global queue pass the wake on while work is left there.
 */
#include "rt_int.h"
#include "cancel.h"

#include <nofork.h>

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WORKER_STACK (256 * 1024)
/* An idle worker's search before it sleeps: each round is a steal attempt,
 * a look at the global queue and 16 pauses. Few rounds: on a small machine
 * the CPU a worker spins on is taken from the children it has just spawned,
 * and a short spin made both coroutine spawning and create+join faster
 * (measured: bench/RESULTS.md, "Numbers behind design choices in the
 * code"). */
#define SPIN_ROUNDS 4
#define FAIR_TICKS 61 /* look at the global queue and the poller this often */
#define TIMER_TICKS 4  /* and at due timers this often (a power of two) */
#define CO_SLOT ((sizeof(struct co) + 63) & ~(size_t)63)

struct rt rt = {
	.gq_lock = PTHREAD_MUTEX_INITIALIZER,
	.poll_lock = PTHREAD_MUTEX_INITIALIZER,
	.epfd = -1,
	.evfd = -1,
	.next_deadline = INT64_MAX,
};

static pthread_mutex_t life_lock = PTHREAD_MUTEX_INITIALIZER;
/* initial-exec: one %fs-relative load instead of a __tls_get_addr call, and
 * safe in the SIGSEGV handler. Costs 8 bytes of static TLS, which glibc keeps
 * spare even for a dlopen'ed libnofork. */
static __thread struct worker *tls_worker __attribute__((tls_model("initial-exec")));

#define RELAXED memory_order_relaxed
#define BUMP(c) atomic_store_explicit(&(c), atomic_load_explicit(&(c), RELAXED) + 1, RELAXED)

__attribute__((noinline)) struct worker *rt_self(void)
{
	struct worker *w;
	__asm__ volatile("" ::: "memory");
	w = tls_worker;
	return w;
}

struct co *rt_current(void)
{
	struct worker *w = rt_self();
	return w ? w->current : NULL;
}

int nf_rt_in_coroutine(void) { return rt_current() != NULL; }

uint64_t nf_rt_coroutine_id(void)
{
	struct co *co = rt_current();
	return co ? co->id : 0;
}

int nf_rt_worker_index(void)
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

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

uint64_t nf_ctx_fpmodes(void)
{
	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	return mxcsr | (uint64_t)fcw << 32;
}

void *nf_ctx_init(void *top, void (*fn)(void *), void *arg, uint64_t fpmodes)
{
	extern void nf_ctx_entry(void);
	/* Leave 16 bytes so nf_ctx_entry starts 16-byte aligned, as after a call's
	 * return-address pop; see the frame table in context.S. */
	uint64_t *f = (uint64_t *)((((uintptr_t)top) & ~(uintptr_t)15) - 16 - 64);
	f[0] = fpmodes;
	f[1] = 0;                   /* r15 */
	f[2] = 0;                   /* r14 */
	f[3] = (uintptr_t)arg;      /* r13 */
	f[4] = (uintptr_t)fn;       /* r12 */
	f[5] = 0;                   /* rbx */
	f[6] = 0;                   /* rbp */
	f[7] = (uintptr_t)nf_ctx_entry;
	return f;
}

/* ---- run queues ---------------------------------------------------------- */

static void notify_global(int was_empty);
static void notify_local(void);

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

static struct co *runq_get(struct worker *w)
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

static struct co *steal(struct worker *w)
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
static struct co *global_get(struct worker *w, size_t max)
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
		notify_local();
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
static void notify_local(void)
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
			notify_local();
	} else {
		notify_global(global_put(co, co, 1));
	}
}

/* ---- the scheduler loop ----------------------------------------------------- */

int rt_work_visible(struct worker *w)
{
	if (atomic_load(&rt.gq_len) || !runq_empty(w))
		return 1;
	for (int i = 0; i < rt.nworkers; i++)
		if (!runq_empty(&rt.workers[i]))
			return 1;
	return 0;
}

static int try_poll(struct worker *w)
{
	int expect = 0;
	if (atomic_load_explicit(&rt.polling, RELAXED) ||
	    !atomic_compare_exchange_strong(&rt.polling, &expect, 1))
		return 0;
	int n = rt_poll(w, 0, 0);
	atomic_store(&rt.polling, 0);
	return n;
}

static struct co *find_work(struct worker *w)
{
	struct co *co;
	/* Due timers every few ticks: with coroutines that run for tens of µs
	 * (a spawn's clone), every FAIR_TICKS would wake sleepers ms late. The
	 * check is one atomic load, plus a clock read when a timer is pending. */
	if ((w->tick & (TIMER_TICKS - 1)) == 0)
		rt_timers_due(w);
	if (++w->tick % FAIR_TICKS == 0) {
		/* A queue of busy coroutines must not starve the global queue or
		 * the fds and timers nobody polls while every worker is busy. */
		if ((co = global_get(w, 1)))
			return co;
		rt_timers_due(w);
		try_poll(w);
	}
	for (;;) {
		if ((co = runq_get(w)))
			return co;
		if (rt_timers_due(w))
			continue;
		if ((co = global_get(w, RUNQ_SIZE / 2)))
			return co;
		if (!atomic_load_explicit(&w->idle, RELAXED))
			atomic_store_explicit(&w->idle, true, RELAXED);
		if (try_poll(w))
			continue;
		if (rt.nworkers > 1) {
			atomic_fetch_add(&rt.nspinning, 1);
			for (int i = 0; i < SPIN_ROUNDS && !co; i++) {
				if (!(co = steal(w)) && !(co = global_get(w, RUNQ_SIZE / 2)))
					for (int k = 0; k < 16; k++)
						cpu_relax();
			}
			if (atomic_fetch_sub(&rt.nspinning, 1) == 1 && co)
				notify_local(); /* we stop searching: let another idler take over */
			if (co)
				return co;
		}
		uint32_t s = atomic_load(&rt.seq);
		if (atomic_load(&rt.stopping))
			return NULL;
		/* Pushes made while we spun did not wake anyone: look once more. */
		if (rt_work_visible(w))
			continue;
		int expect = 0;
		if (atomic_compare_exchange_strong(&rt.polling, &expect, 1)) {
			BUMP(w->n_polls);
			int n = rt_poll(w, 1, s);
			atomic_store(&rt.polling, 0);
			if (n) /* back to running coroutines */
				rt_hand_over_poller();
			continue;
		}
		atomic_fetch_add(&rt.nsleepers, 1);
		if (atomic_load(&rt.seq) == s && !atomic_load(&rt.stopping) && !rt_work_visible(w)) {
			BUMP(w->n_sleeps);
			rt_futex_wait(&rt.seq, s);
		}
		atomic_fetch_sub(&rt.nsleepers, 1);
	}
}

static void run(struct worker *w, struct co *co)
{
	w->current = co;
	co->worker = w;
	BUMP(w->n_switches);
	nf_ctx_switch(&w->sched_sp, co->sp);
	struct co *prev = w->current;
	w->current = NULL;
	void (*fn)(struct co *, void *) = w->park_fn;
	w->park_fn = NULL;
	fn(prev, w->park_arg);
}

void rt_park(struct co *co, void (*fn)(struct co *, void *), void *arg)
{
	struct worker *w = co->worker;
	w->park_fn = fn;
	w->park_arg = arg;
	nf_ctx_switch(&co->sp, w->sched_sp);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	tls_worker = w;
	rt_guard_thread_init(w);
	struct co *co;
	while ((co = find_work(w))) {
		if (atomic_load_explicit(&w->idle, RELAXED))
			atomic_store_explicit(&w->idle, false, RELAXED);
		run(w, co);
	}
	rt_guard_thread_fini(w);
	tls_worker = NULL;
	return NULL;
}

/* ---- coroutines ------------------------------------------------------------- */

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
		return nf_stack_get(NF_STACK_DEFAULT, out);
	if (!w->stacks) {
		w->n_stacks = nf_stack_get_batch(NF_STACK_DEFAULT, STACK_BATCH, &w->stacks);
		if (!w->n_stacks)
			return nf_stack_get(NF_STACK_DEFAULT, out); /* maps a new one */
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
	nf_stack_put_chain(st, last);
}

/* After the worker's thread is gone: its cache back to the pool. The cache
 * is detached before the put, so a fork() in between loses it in the child
 * instead of pooling it twice there. */
static void co_stack_flush(struct worker *w)
{
	nf_stack *first = w->stacks, *last = first;
	if (!first)
		return;
	for (nf_stack *n; (n = atomic_load_explicit(&last->next, RELAXED));)
		last = n;
	w->stacks = NULL;
	w->n_stacks = 0;
	nf_stack_put_chain(first, last);
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

static void co_requeue(struct co *co, void *arg)
{
	(void)arg;
	rt_ready(co);
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
	struct co *co = (struct co *)(nf_stack_top(st) - CO_SLOT);
	co->next = NULL;
	co->worker = NULL;
	co->fn = fn;
	co->arg = arg;
	co->stack = st;
	co->id = new_id();
	co->wait_state = W_IDLE;
	co->heap_idx = NO_HEAP;
	co->sp = nf_ctx_init(co, co_main, co, rt.fpmodes);
	struct worker *w = rt_self();
	if (w)
		BUMP(w->n_created);
	else
		atomic_fetch_add_explicit(&rt.n_created_ext, 1, RELAXED);
	rt_ready(co);
	return 0;
}

void nf_yield(void)
{
	struct co *co = rt_current();
	if (!co) {
		sched_yield();
		return;
	}
	rt_park(co, co_requeue, NULL);
}

/* ---- life cycle ---------------------------------------------------------------- */

static int cpu_count(void)
{
	cpu_set_t set;
	if (!sched_getaffinity(0, sizeof set, &set) && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static void stop_workers(int started)
{
	/* First: a helper may still be inside rt_ready, kicking the poller. */
	rt_offload_stop();
	atomic_store(&rt.stopping, 1);
	atomic_fetch_add(&rt.seq, 1);
	rt_futex_wake(&rt.seq, INT_MAX);
	rt_poll_kick();
	for (int i = 0; i < started; i++) {
		struct worker *w = &rt.workers[i];
		pthread_join(w->thread, NULL);
		/* The thread is gone (join saw the kernel clear its tid), so
		 * nothing runs on its stack any more. Detached first, as in
		 * co_stack_flush. */
		nf_stack *st = w->stack;
		w->stack = NULL;
		nf_stack_put(st);
		co_stack_flush(w);
	}
	struct worker *ws = rt.workers;
	rt.workers = NULL;
	rt.nworkers = 0;
	free(ws);
	rt_guard_uninstall();
	rt_poll_fini();
}

static int start_worker(struct worker *w)
{
	int e = nf_stack_get(WORKER_STACK, &w->stack);
	if (e)
		return e;
	pthread_attr_t attr;
	if ((e = pthread_attr_init(&attr)))
		goto put;
	char *lo = w->stack->lo;
	e = pthread_attr_setstack(&attr, lo, (size_t)(nf_stack_top(w->stack) - lo));
	if (!e)
		e = pthread_create(&w->thread, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (!e)
		return 0;
put:
	nf_stack_put(w->stack);
	w->stack = NULL;
	return e;
}

/* ---- fork ---------------------------------------------------------------------- */

/* pthread_atfork's child handler: fork() copied the runtime's memory but
 * only the forking thread. Everything goes back to "never started", so the
 * child can start the runtime afresh:
 * - the worker threads do not exist here; their thread and signal stacks and
 *   the stacks they cached go back to the pool, since nothing can run on
 *   them. Not the forking worker's own thread stack: glibc keeps that
 *   thread's TLS and thread descriptor at its top.
 * - the coroutines that were alive are gone with their stacks (the child
 *   cannot know which stacks they were; the address space just keeps
 *   them). A coroutine that forked continues here as a plain thread on its
 *   coroutine stack (tls_worker cleared).
 * - every lock may have been held by a thread that does not exist here.
 * - the epoll and eventfd descriptors refer to the parent's instances:
 *   using them would steal the parent's events.
 * Each rt file resets its own part through one hook. */
static void rt_reset_after_fork(void)
{
	struct worker *self = tls_worker; /* the forking thread's, or NULL */
	tls_worker = NULL;
	pthread_mutex_init(&life_lock, NULL);
	pthread_mutex_init(&rt.gq_lock, NULL);
	rt.gq_head = rt.gq_tail = NULL;
	atomic_store(&rt.gq_len, 0);

	struct worker *ws = rt.workers;
	int n = rt.nworkers;
	rt_guard_reset_child(ws, n, self);
	for (int i = 0; i < n; i++) {
		co_stack_flush(&ws[i]);
		if (&ws[i] != self && ws[i].stack)
			nf_stack_put(ws[i].stack);
	}
	rt.workers = NULL;
	rt.nworkers = 0;
	free(ws);

	atomic_store(&rt.running, 0);
	atomic_store(&rt.stopping, 0);
	atomic_store(&rt.live, 0);
	atomic_store(&rt.stop_waiting, 0);
	atomic_store(&rt.seq, 0);
	atomic_store(&rt.nsleepers, 0);
	atomic_store(&rt.nspinning, 0);
	atomic_store(&rt.polling, 0);
	atomic_store(&rt.poll_blocked, 0);
	atomic_store(&rt.poll_kicked, 0);
	rt_poll_reset_child();
	rt_offload_reset_child();
}

/* Whether the calling thread runs with a CET shadow stack (ARCH_SHSTK_STATUS,
 * Linux 6.6; older kernels have no shadow stacks and refuse the query). */
static int shadow_stack_enabled(void)
{
#ifdef __x86_64__
	unsigned long features = 0;
	return syscall(SYS_arch_prctl, 0x5005 /* ARCH_SHSTK_STATUS */, &features) == 0 &&
	       (features & 1 /* ARCH_SHSTK_SHSTK */);
#else
	return 0;
#endif
}

int nf_rt_start(int workers)
{
	NF_NOCANCEL;
	static int atfork_registered; /* under life_lock */
	if (workers < 0)
		return EINVAL;
	/* nf_ctx_switch pops a return address and jumps, to another stack: the
	 * next `ret` would not match the shadow stack and fault. */
	if (shadow_stack_enabled())
		return ENOTSUP;
	pthread_mutex_lock(&life_lock);
	int e = EBUSY;
	if (atomic_load(&rt.running))
		goto out;
	if (!atfork_registered) {
		if ((e = pthread_atfork(NULL, NULL, rt_reset_after_fork)))
			goto out;
		atfork_registered = 1;
	}
	int n = workers ? workers : cpu_count();
	e = ENOMEM;
	rt.workers = aligned_alloc(64, sizeof(struct worker) * (size_t)n);
	if (!rt.workers)
		goto out;
	memset(rt.workers, 0, sizeof(struct worker) * (size_t)n);
	rt.nworkers = n;
	for (int i = 0; i < n; i++) {
		rt.workers[i].index = (unsigned)i;
		rt.workers[i].rng = 2654435761u * (unsigned)(i + 1);
	}
	atomic_store(&rt.stopping, 0);
	atomic_store(&rt.nsleepers, 0);
	atomic_store(&rt.nspinning, 0);
	atomic_store(&rt.polling, 0);
	atomic_store(&rt.poll_blocked, 0);
	atomic_store(&rt.poll_kicked, 0);
	atomic_store(&rt.n_global_in, 0);
	atomic_store(&rt.n_created_ext, 0);
	rt.fpmodes = nf_ctx_fpmodes();
	if ((e = rt_poll_init()) || (e = rt_guard_install())) {
		rt_poll_fini();
		free(rt.workers);
		rt.workers = NULL;
		goto out;
	}
	atomic_store(&rt.running, 1);
	for (int i = 0; i < n; i++)
		if ((e = start_worker(&rt.workers[i]))) {
			atomic_store(&rt.running, 0);
			stop_workers(i);
			goto out;
		}
	e = 0;
out:
	pthread_mutex_unlock(&life_lock);
	return e;
}

void nf_rt_stop(void)
{
	NF_NOCANCEL;
	/* From a coroutine this would wait for itself forever. */
	if (rt_current())
		return;
	pthread_mutex_lock(&life_lock);
	if (!atomic_load(&rt.running)) {
		pthread_mutex_unlock(&life_lock);
		return;
	}
	atomic_store(&rt.stop_waiting, 1);
	for (;;) {
		uint32_t v;
		while ((v = atomic_load(&rt.live)))
			rt_futex_wait(&rt.live, v);
		atomic_store(&rt.running, 0);
		if (!atomic_load(&rt.live))
			break;
		atomic_store(&rt.running, 1); /* an nf_go slipped in: wait for it too */
	}
	atomic_store(&rt.stop_waiting, 0);
	stop_workers(rt.nworkers);
	pthread_mutex_unlock(&life_lock);
}

void nf_rt_stats(struct nf_rt_stats *st)
{
	memset(st, 0, sizeof *st);
	for (int i = 0; i < rt.nworkers; i++) {
		struct worker *w = &rt.workers[i];
		st->created += atomic_load_explicit(&w->n_created, RELAXED);
		st->finished += atomic_load_explicit(&w->n_finished, RELAXED);
		st->switches += atomic_load_explicit(&w->n_switches, RELAXED);
		st->steals += atomic_load_explicit(&w->n_steals, RELAXED);
		st->stolen += atomic_load_explicit(&w->n_stolen, RELAXED);
		st->polls += atomic_load_explicit(&w->n_polls, RELAXED);
		st->sleeps += atomic_load_explicit(&w->n_sleeps, RELAXED);
	}
	st->created += atomic_load_explicit(&rt.n_created_ext, RELAXED);
	st->global_in = atomic_load_explicit(&rt.n_global_in, RELAXED);
	st->workers = rt.nworkers;
	rt_offload_stats(&st->spawn_waits, &st->spawn_max_in_flight, &st->spawn_blocking);
}
