/* Spawn slots: at most SLOTS_PER_WORKER coroutine spawns between clone and
 * exec per worker. A coroutine spawn does not wait for the exec, so 1000
 * coroutines could put 1000 children into exec at once: on 2 cores that
 * thrashes, and children compete with the workers for the CPU, delaying every
 * other coroutine by tens of ms. Measured with bench/coro_bench on a quiet
 * 2-core machine (throughput vs two vfork threads; ticker lateness):
 * 1/worker 0.63x, 0.85 ms; 2: 0.74x, 0.94 ms; 4: 0.81x, 1.2 ms; 8: 0.83x,
 * 1.8 ms; uncapped: 0.47x, 130 ms. Waiters queue FIFO and a released slot is
 * handed straight to the oldest. Also here: whether a coroutine spawn may
 * skip all that and go the thread way (rt_spawn_may_block). */
#include "rt_int.h"

#include <pthread.h>

#define SLOTS_PER_WORKER 4

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static int in_flight, max_in_flight;
static uint64_t waits;
static _Atomic uint64_t blocking;
static struct co *head, *tail;

static int cap(void) { return SLOTS_PER_WORKER * (rt.nworkers > 0 ? rt.nworkers : 1); }

static void commit_wait(struct co *co, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&slots_lock);
	if (in_flight < cap()) {
		if (++in_flight > max_in_flight)
			max_in_flight = in_flight;
		pthread_mutex_unlock(&slots_lock);
		rt_ready(co);
		return;
	}
	co->next = NULL;
	if (tail)
		tail->next = co;
	else
		head = co;
	tail = co;
	pthread_mutex_unlock(&slots_lock);
}

void rt_spawn_slot_take(void)
{
	pthread_mutex_lock(&slots_lock);
	if (in_flight < cap()) {
		if (++in_flight > max_in_flight)
			max_in_flight = in_flight;
		pthread_mutex_unlock(&slots_lock);
		return;
	}
	waits++;
	pthread_mutex_unlock(&slots_lock);
	rt_park(rt_current(), commit_wait, NULL); /* resumed holding a slot */
}

void rt_spawn_slot_give(void)
{
	pthread_mutex_lock(&slots_lock);
	struct co *next = head;
	if (next) { /* the slot passes to it: in_flight stays */
		head = next->next;
		if (!head)
			tail = NULL;
	} else {
		in_flight--;
	}
	pthread_mutex_unlock(&slots_lock);
	if (next)
		rt_ready(next);
}

int rt_spawn_may_block(void)
{
	/* Another worker idles (in the poller, searching, or asleep): it runs
	 * whatever turns runnable while this one sleeps in clone, which takes
	 * as long as the child's plan (opening a FIFO may take forever). One
	 * asleep while nobody polls (a poller role being handed over) is
	 * woken, so timers and fds stay watched meanwhile. One worker alone
	 * never blocks. */
	struct worker *self = rt_self();
	if (!runq_empty(self))
		return 0; /* they would wait for this worker, or for a steal */
	int idler = 0;
	for (int i = 0; i < rt.nworkers && !idler; i++)
		idler = &rt.workers[i] != self && atomic_load_explicit(&rt.workers[i].idle, memory_order_relaxed);
	if (!idler)
		return 0;
	if (!atomic_load(&rt.polling))
		rt_hand_over_poller();
	atomic_fetch_add_explicit(&blocking, 1, memory_order_relaxed);
	return 1;
}

void rt_spawn_slot_stats(uint64_t *w, int *max, uint64_t *blocked)
{
	pthread_mutex_lock(&slots_lock);
	*w = waits;
	*max = max_in_flight;
	pthread_mutex_unlock(&slots_lock);
	*blocked = atomic_load_explicit(&blocking, memory_order_relaxed);
}

void rt_slots_reset_child(void)
{
	/* The spawns in flight and the waiting coroutines belonged to threads
	 * that do not exist in a fork child. */
	pthread_mutex_init(&slots_lock, NULL);
	in_flight = max_in_flight = 0;
	waits = 0;
	atomic_store_explicit(&blocking, 0, memory_order_relaxed);
	head = tail = NULL;
}
