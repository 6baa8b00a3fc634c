/* Spawn slots: at most SLOTS_PER_WORKER coroutine spawns between clone and
 * exec per worker. A coroutine spawn does not wait for the exec, so 1000
 * coroutines could put 1000 children into exec at once; on 2 cores that
 * thrashes (measured with bench/coro_bench: 16-64 in flight give ~1.7x the
 * throughput of two vfork threads, 1000 give ~0.5x) and the long run queues
 * delay every other coroutine by tens of ms. Waiters queue FIFO and a
 * released slot is handed straight to the oldest. */
#include "rt_int.h"

#include <pthread.h>

#define SLOTS_PER_WORKER 8

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static int in_flight, max_in_flight;
static uint64_t waits;
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

void rt_spawn_slot_stats(uint64_t *w, int *max)
{
	pthread_mutex_lock(&slots_lock);
	*w = waits;
	*max = max_in_flight;
	pthread_mutex_unlock(&slots_lock);
}
