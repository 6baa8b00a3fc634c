/* The runtime's life cycle: nf_rt_start (worker threads on pooled stacks,
 * the poller, the overflow guard), nf_rt_stop (wait for every coroutine,
 * then take it all down), rt_stats, and the reset in a fork child, which
 * it registers with pthread_atfork. It changes when what the runtime owns,
 * or the order it is set up and torn down in, changes.
 */
#include "rt_int.h"
#include "cancel.h"

#include <nofork.h>

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKER_STACK (256 * 1024)

static pthread_mutex_t life_lock = PTHREAD_MUTEX_INITIALIZER;

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
		 * rt_co_stack_flush. */
		nf_stack *st = w->stack;
		w->stack = NULL;
		stack_put(st);
		rt_co_stack_flush(w);
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
	int e = stack_get(WORKER_STACK, &w->stack);
	if (e)
		return e;
	pthread_attr_t attr;
	if ((e = pthread_attr_init(&attr)))
		goto put;
	char *lo = w->stack->lo;
	e = pthread_attr_setstack(&attr, lo, (size_t)(stack_top(w->stack) - lo));
	if (!e)
		e = pthread_create(&w->thread, &attr, rt_worker_main, w);
	pthread_attr_destroy(&attr);
	if (!e)
		return 0;
put:
	stack_put(w->stack);
	w->stack = NULL;
	return e;
}

/* The stop flag and the idle protocol's counters, as a new runtime needs
 * them: at nf_rt_start and in a fork child (whose counts name threads that
 * are not there). */
static void idle_state_clear(void)
{
	atomic_store(&rt.stopping, 0);
	atomic_store(&rt.nsleepers, 0);
	atomic_store(&rt.nspinning, 0);
	atomic_store(&rt.polling, 0);
	atomic_store(&rt.poll_blocked, 0);
	atomic_store(&rt.poll_kicked, 0);
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
 *   coroutine stack (rt_tls_worker cleared).
 * - every lock may have been held by a thread that does not exist here.
 * - the epoll and eventfd descriptors refer to the parent's instances:
 *   using them would steal the parent's events.
 * Each rt file resets its own part through one hook. */
static void rt_reset_after_fork(void)
{
	struct worker *self = rt_tls_worker; /* the forking thread's, or NULL */
	rt_tls_worker = NULL;
	pthread_mutex_init(&life_lock, NULL);
	pthread_mutex_init(&rt.gq_lock, NULL);
	rt.gq_head = rt.gq_tail = NULL;
	atomic_store(&rt.gq_len, 0);

	struct worker *ws = rt.workers;
	int n = rt.nworkers;
	rt_guard_reset_child(ws, n, self);
	for (int i = 0; i < n; i++) {
		rt_co_stack_flush(&ws[i]);
		if (&ws[i] != self && ws[i].stack)
			stack_put(ws[i].stack);
	}
	rt.workers = NULL;
	rt.nworkers = 0;
	free(ws);

	atomic_store(&rt.running, 0);
	atomic_store(&rt.live, 0);
	atomic_store(&rt.stop_waiting, 0);
	atomic_store(&rt.seq, 0);
	idle_state_clear();
	rt_poll_reset_child();
	rt_offload_reset_child();
}

int nf_rt_start(int workers)
{
	NF_NOCANCEL;
	static int atfork_registered; /* under life_lock */
	if (workers < 0)
		return EINVAL;
	/* ctx_switch pops a return address and jumps, to another stack: the
	 * next `ret` would not match the shadow stack and fault. */
	if (rt_shadow_stack_enabled())
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
	idle_state_clear();
	atomic_store(&rt.n_global_in, 0);
	atomic_store(&rt.n_created_ext, 0);
	rt.fpmodes = ctx_fpmodes();
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

void rt_stats(struct rt_stats *st)
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
