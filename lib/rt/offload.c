/* Offloading a blocking spawn: a coroutine's nf_spawn runs on a helper thread
 * (CLONE_VFORK: the helper sleeps in clone until the child exec'd or exited)
 * while the coroutine parks, so its worker keeps running the others.
 *
 * Why a thread and not a child that reports on a close-on-exec pipe: the pipe's
 * write end lives in our fd table between pipe2 and the clone, so a fork() in
 * any other thread copies it, and the spawn then waits for EOF until that
 * process exits (musl b7bc9665 fixed the same in posix_spawn with a lock that
 * fork takes too). CLONE_VFORK's completion is the kernel's own and nothing
 * another process holds can delay it; the pipe's fds could also sit where a
 * caller with stdio closed names its own fds. The child is the same one a
 * thread's spawn makes, with the same fd sharing and the same fallbacks.
 *
 * At most HELPERS_PER_WORKER helpers per worker exist, created on demand and
 * kept until nf_rt_stop: more children between clone and exec than that only
 * thrash a small machine, and fewer leave throughput unused (bench/coro_bench;
 * bench/RESULTS.md, "Numbers behind design choices in the code"). Jobs beyond
 * that queue FIFO. A helper runs with every
 * signal blocked: process signals keep going to the caller's threads. A
 * second pool of the same size, never joined, makes the spawns whose child
 * has a parent-death signal (see `lasting` below).
 *
 * Also here: whether a coroutine spawn may skip all that and go the thread
 * way on its own worker (rt_spawn_may_block).
 */
#include "rt_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#define HELPERS_PER_WORKER 4
#define HELPER_STACK (256 * 1024)

struct job {
	int (*fn)(void *);
	void *arg;
	int result;
	struct co *co;
	struct job *next;
};

/* Lives at the top of its own pooled stack. */
struct helper {
	pthread_t thread;
	nf_stack *stack;
	struct helper *next;
};

/* A set of helper threads and their FIFO of jobs. */
struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *head, *tail;
	struct helper *helpers;
	/* pending: jobs announced by rt_offload and not yet taken by a helper. */
	int n_helpers, n_idle, pending, running, max_running, stopping;
	uint64_t waits;
};

#define POOL_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0}

/* The spawn helpers, joined at nf_rt_stop; and the lasting ones, which are
 * never joined: a child's parent-death signal fires when the thread that
 * cloned it ends, and a nf_cmd_pdeathsig spawn from a coroutine is made by
 * one of these so that this means the end of the process. */
static struct pool helpers = POOL_INIT, lasting = POOL_INIT;
static _Atomic uint64_t blocking;

static int cap(void) { return HELPERS_PER_WORKER * (rt.nworkers > 0 ? rt.nworkers : 1); }

static void *helper_main(void *arg)
{
	struct pool *pl = arg;
	pthread_mutex_lock(&pl->lock);
	pl->n_idle++;
	for (;;) {
		while (!pl->head && !pl->stopping)
			pthread_cond_wait(&pl->work, &pl->lock);
		if (!pl->head)
			break;
		struct job *j = pl->head;
		if (!(pl->head = j->next))
			pl->tail = NULL;
		pl->pending--;
		pl->n_idle--;
		if (++pl->running > pl->max_running)
			pl->max_running = pl->running;
		pthread_mutex_unlock(&pl->lock);
		j->result = j->fn(j->arg);
		struct co *co = j->co; /* j lives on co's stack: last touch */
		pthread_mutex_lock(&pl->lock);
		pl->running--;
		pl->n_idle++; /* before co can run and offload again */
		pthread_mutex_unlock(&pl->lock);
		rt_ready(co);
		pthread_mutex_lock(&pl->lock);
	}
	pl->n_idle--;
	pthread_mutex_unlock(&pl->lock);
	return NULL;
}

/* Start one more helper. Called without the lock, with n_helpers already
 * counting it. */
static int add_helper(struct pool *pl)
{
	nf_stack *st;
	int e = stack_get(HELPER_STACK, &st);
	if (e)
		return e;
	struct helper *h = (struct helper *)(stack_top(st) - 64);
	_Static_assert(sizeof(struct helper) <= 64, "helper fits its slot");
	h->stack = st;
	pthread_attr_t attr;
	if ((e = pthread_attr_init(&attr)))
		goto put;
	e = pthread_attr_setstack(&attr, st->lo, (size_t)((char *)h - (char *)st->lo));
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited: no signal ever runs on a helper */
	if (!e)
		e = pthread_create(&h->thread, &attr, helper_main, pl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!e) {
		pthread_mutex_lock(&pl->lock);
		h->next = pl->helpers;
		pl->helpers = h;
		pthread_mutex_unlock(&pl->lock);
		return 0;
	}
put:
	stack_put(st);
	return e;
}

struct park {
	struct pool *pl;
	struct job *j;
};

/* Runs on the scheduler stack once the coroutine is off its own: only now
 * may a helper finish the job and make it runnable again. */
static void commit_job(struct co *co, void *arg)
{
	struct park *pk = arg;
	struct pool *pl = pk->pl;
	struct job *j = pk->j;
	j->co = co;
	j->next = NULL;
	pthread_mutex_lock(&pl->lock);
	if (pl->tail)
		pl->tail->next = j;
	else
		pl->head = j;
	pl->tail = j;
	pthread_cond_signal(&pl->work);
	pthread_mutex_unlock(&pl->lock);
}

int rt_offload(int (*fn)(void *), void *arg, bool last)
{
	struct pool *pl = last ? &lasting : &helpers;
	pthread_mutex_lock(&pl->lock);
	int busy = pl->pending >= pl->n_idle; /* no idle helper left for this job */
	int grow = busy && pl->n_helpers < cap();
	if (grow)
		pl->n_helpers++;
	else if (busy)
		pl->waits++;
	pl->pending++;
	pthread_mutex_unlock(&pl->lock);
	int e;
	if (grow && (e = add_helper(pl))) {
		pthread_mutex_lock(&pl->lock);
		int none = --pl->n_helpers == 0;
		if (none)
			pl->pending--;
		pthread_mutex_unlock(&pl->lock);
		/* No thread to be had: a spawn helper's job is done here,
		 * blocking this worker, rather than fail a spawn that can be
		 * made; a lasting one's cannot be (the worker may end). */
		if (none)
			return last ? -e : fn(arg);
	}
	struct job j = {.fn = fn, .arg = arg};
	rt_park(rt_current(), commit_job, &(struct park){pl, &j});
	return j.result;
}

/* Wake a pool's helpers and join them. */
static void pool_stop(struct pool *pl)
{
	pthread_mutex_lock(&pl->lock);
	pl->stopping = 1;
	pthread_cond_broadcast(&pl->work);
	struct helper *h = pl->helpers;
	pl->helpers = NULL;
	pthread_mutex_unlock(&pl->lock);
	while (h) {
		struct helper *next = h->next;
		pthread_join(h->thread, NULL);
		stack_put(h->stack); /* h lives on it: read next first */
		h = next;
	}
	pthread_mutex_lock(&pl->lock);
	pl->n_helpers = pl->n_idle = pl->pending = pl->running = pl->max_running = pl->stopping = 0;
	pl->waits = 0;
	pthread_mutex_unlock(&pl->lock);
}

void rt_offload_stop(void)
{
	pool_stop(&helpers); /* not the lasting ones: they outlive the runtime */
	atomic_store(&blocking, 0);
}

/* The helpers are threads that do not exist in a fork child (none ever
 * forks: they only clone with CLONE_VM), so nothing runs on their stacks;
 * their jobs belonged to coroutines that are gone too. */
static void pool_reset_child(struct pool *pl)
{
	pthread_mutex_init(&pl->lock, NULL);
	pthread_cond_init(&pl->work, NULL);
	for (struct helper *h = pl->helpers, *next; h; h = next) {
		next = h->next;
		stack_put(h->stack);
	}
	pl->helpers = NULL;
	pl->head = pl->tail = NULL;
	pl->n_helpers = pl->n_idle = pl->pending = pl->running = pl->max_running = pl->stopping = 0;
	pl->waits = 0;
}

void rt_offload_reset_child(void)
{
	pool_reset_child(&helpers);
	pool_reset_child(&lasting);
	atomic_store_explicit(&blocking, 0, memory_order_relaxed);
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

void rt_offload_stats(uint64_t *w, int *max, uint64_t *blocked)
{
	pthread_mutex_lock(&helpers.lock);
	*w = helpers.waits;
	*max = helpers.max_running;
	pthread_mutex_unlock(&helpers.lock);
	*blocked = atomic_load_explicit(&blocking, memory_order_relaxed);
}
