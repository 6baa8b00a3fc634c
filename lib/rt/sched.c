/* The scheduler loop proper: what a worker thread runs. It finds work (its
 * own queue, due timers, the global queue, the poller, stealing), switches
 * into the coroutine and, once the coroutine switched back, performs its
 * park action; and when nothing is found it idles (the sleeping side of the
 * idle protocol below). Parking (rt_park, nf_yield) is the coroutine's half
 * of that switch. It changes when the loop or the idle protocol does.
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

#include <nofork.h>

#include <sched.h>

/* An idle worker's search before it sleeps: each round is a steal attempt,
 * a look at the global queue and 16 pauses. Few rounds: on a small machine
 * the CPU a worker spins on is taken from the children it has just spawned,
 * and a short spin made both coroutine spawning and create+join faster
 * (measured: bench/RESULTS.md, "Numbers behind design choices in the
 * code"). */
#define SPIN_ROUNDS 4
#define FAIR_TICKS 61 /* look at the global queue and the poller this often */
#define TIMER_TICKS 4  /* and at due timers this often (a power of two) */

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
		if ((co = rt_global_get(w, 1)))
			return co;
		rt_timers_due(w);
		try_poll(w);
	}
	for (;;) {
		if ((co = runq_get(w)))
			return co;
		if (rt_timers_due(w))
			continue;
		if ((co = rt_global_get(w, RUNQ_SIZE / 2)))
			return co;
		if (!atomic_load_explicit(&w->idle, RELAXED))
			atomic_store_explicit(&w->idle, true, RELAXED);
		if (try_poll(w))
			continue;
		if (rt.nworkers > 1) {
			atomic_fetch_add(&rt.nspinning, 1);
			for (int i = 0; i < SPIN_ROUNDS && !co; i++) {
				if (!(co = rt_steal(w)) && !(co = rt_global_get(w, RUNQ_SIZE / 2)))
					for (int k = 0; k < 16; k++)
						cpu_relax();
			}
			if (atomic_fetch_sub(&rt.nspinning, 1) == 1 && co)
				rt_notify_local(); /* we stop searching: let another idler take over */
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
	ctx_switch(&w->sched_sp, co->sp);
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
	ctx_switch(&co->sp, w->sched_sp);
}

static void co_requeue(struct co *co, void *arg)
{
	(void)arg;
	rt_ready(co);
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

void *rt_worker_main(void *arg)
{
	struct worker *w = arg;
	rt_tls_worker = w;
	rt_guard_thread_init(w);
	struct co *co;
	while ((co = find_work(w))) {
		if (atomic_load_explicit(&w->idle, RELAXED))
			atomic_store_explicit(&w->idle, false, RELAXED);
		run(w, co);
	}
	rt_guard_thread_fini(w);
	rt_tls_worker = NULL;
	return NULL;
}
