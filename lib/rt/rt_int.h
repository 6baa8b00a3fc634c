/* What the runtime's files share: the state (struct co, struct worker,
 * struct rt) and each file's internal interface, grouped below by the file
 * that provides it. From the bottom up, with what each one uses:
 *
 *   base.c     state, thread identity, clock, futex   (no rt file)
 *   switch.c   C side of the context switch           (none; context.S)
 *   guard.c    stack-overflow report                  base
 *   runq.c     run queues, stealing, waking idlers    base, poll
 *   poll.c     epoll, timers, nf_sleep_ms/nf_wait_fd  base, runq, sched
 *   sched.c    scheduler loop, parking, idle protocol base, runq, poll, guard
 *   coro.c     nf_go, coroutine exit, ids, stacks     base, switch, runq, sched
 *   offload.c  spawn helpers                          base, runq, sched
 *   wg.c       wait groups                            base, runq, sched
 *   life.c     start, stop, stats, fork-child reset   base, switch, guard,
 *                                                     poll, sched, coro, offload
 *
 * Every dependency points up this list but one knot, and that one is real:
 * the poller is one of the two ways a worker idles (the other is the futex
 * rt.seq). So the idle loop blocks in it (sched.c -> rt_poll) and waking an
 * idler may mean kicking it (runq.c -> rt_poll_kick); and what it collects
 * becomes runnable through the queues and what waits in it parks through
 * the loop (poll.c -> rt_ready, rt_work_visible, rt_park). */
#ifndef NF_RT_INT_H
#define NF_RT_INT_H

#include "arch_abi.h" /* cpu_relax */
#include "rt.h"
#include "stack_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUNQ_SIZE 256 /* per-worker ring (Go and Tokio use 256) */

struct worker;

/* A coroutine. It lives in the top bytes of its own stack, just below the
 * stack descriptor, so starting one allocates nothing but a pooled stack and
 * finishing one leaves nothing behind. Stack memory is never unmapped (see
 * stack_pool.h), which is what makes a stale epoll pointer to a dead
 * coroutine safe to read; wait_gen tells it apart from the live one. */
struct co {
	void *sp;              /* saved stack pointer while switched out */
	struct co *next;       /* link in the global queue or a wait list */
	struct worker *worker; /* worker running it; set at every resume */
	void (*fn)(void *);
	void *arg;
	nf_stack *stack;
	uint64_t id;
	/* Parking on a timer or fd; protected by rt.poll_lock. */
	int wait_state;      /* W_IDLE, W_WAITING, W_FIRED, W_TIMEDOUT */
	int wait_result;
	size_t heap_idx;     /* position in the timer heap, or NO_HEAP */
	int64_t deadline;    /* CLOCK_MONOTONIC ns */
	/* Not cleared when the stack is reused: an event still in flight for the
	 * previous coroutine on this stack must not match the next one. */
	uint16_t wait_gen;
};

enum { W_IDLE, W_WAITING, W_FIRED, W_TIMEDOUT };
#define NO_HEAP ((size_t)-1)

struct worker {
	struct co *current;
	void *sched_sp; /* the scheduler loop's saved context */
	/* Run on the scheduler's stack right after `current` switched out: only
	 * then may another thread resume it. */
	void (*park_fn)(struct co *co, void *arg);
	void *park_arg;
	unsigned index;
	unsigned tick;
	/* Between finding its queues empty and taking a coroutine: polling,
	 * spinning or asleep (owner writes; rt_spawn_may_block reads). */
	_Atomic bool idle;
	uint32_t rng;
	uint64_t id_next, id_end; /* a range of coroutine ids taken from rt.next_id */
	pthread_t thread;
	nf_stack *stack, *altstack;
	/* Coroutine stacks this worker freed, for its next nf_go (owner only):
	 * the shared pool's compare-and-swap line ping-ponged between workers
	 * on every create and exit. */
	nf_stack *stacks;
	unsigned n_stacks;
	/* Single-producer (owner), multi-consumer ring (Go's runq). */
	_Alignas(64) _Atomic uint32_t head;
	_Atomic uint32_t tail;
	struct co *_Atomic ring[RUNQ_SIZE];
	_Alignas(64) _Atomic uint64_t n_created, n_finished, n_switches, n_steals, n_stolen,
	    n_polls, n_sleeps;
};

struct rt {
	int nworkers;
	struct worker *workers;
	_Atomic int running;
	_Atomic int stopping;
	_Atomic uint32_t live;    /* coroutines started and not finished (futex) */
	_Atomic int stop_waiting; /* nf_rt_stop sleeps on `live` */
	_Atomic uint64_t next_id;
	_Atomic uint64_t n_global_in;
	_Atomic uint64_t n_created_ext; /* nf_go calls from plain threads */
	uint64_t fpmodes; /* FP control modes every coroutine starts with */

	/* Idle workers: one blocks in epoll (polling), the others on the futex
	 * `seq`, which every push that must not be missed increments. */
	_Alignas(64) _Atomic uint32_t seq;
	_Atomic int nsleepers;
	_Atomic int nspinning;
	_Atomic int polling;
	_Atomic int poll_blocked; /* the poller is (about to be) in epoll_wait */
	_Atomic int poll_kicked;  /* an eventfd write is pending */

	_Alignas(64) pthread_mutex_t gq_lock;
	struct co *gq_head, *gq_tail;
	_Atomic size_t gq_len;

	int epfd, evfd;
	/* Timer heap and wait states. */
	_Alignas(64) pthread_mutex_t poll_lock;
	struct co **heap;
	size_t heap_len, heap_cap;
	_Atomic int64_t next_deadline; /* INT64_MAX when the heap is empty */
};

#define RELAXED memory_order_relaxed
#define BUMP(c) atomic_store_explicit(&(c), atomic_load_explicit(&(c), RELAXED) + 1, RELAXED)

/* ---- base.c ---- */

extern struct rt rt;

/* The calling thread's worker (see base.c for the TLS model). Written only
 * by the scheduler loop (sched.c) and the fork-child reset (life.c);
 * everyone else reads it through rt_self. */
extern __thread struct worker *rt_tls_worker __attribute__((tls_model("initial-exec")));

/* The worker the calling thread is, or NULL. Not inlined and not pure: a
 * coroutine may resume on another thread, so the TLS address must never be
 * cached across a switch. */
struct worker *rt_self(void);

/* The coroutine running on this thread, or NULL. */
struct co *rt_current(void);


/* futex helpers */
void rt_futex_wait(_Atomic uint32_t *addr, uint32_t val);
void rt_futex_wake(_Atomic uint32_t *addr, int n);

/* ---- switch.c (ctx_fpmodes and ctx_init are declared in rt.h) ---- */

/* Whether the calling thread runs with a CET shadow stack, under which
 * ctx_switch faults (nf_rt_start refuses then). */
int rt_shadow_stack_enabled(void);

/* ---- guard.c ---- */

int rt_guard_install(void);
void rt_guard_uninstall(void);
int rt_guard_thread_init(struct worker *w);
void rt_guard_thread_fini(struct worker *w);
/* Fork child: the workers' signal stacks back to the pool (self, the forking
 * thread's worker or NULL, first leaves its own), the handler removed. */
void rt_guard_reset_child(struct worker *workers, int n, struct worker *self);

/* ---- runq.c ---- */

/* Make a parked coroutine runnable (any thread). */
void rt_ready(struct co *co);

/* A worker leaving (or not taking) the poller role wakes a sleeping one, if
 * any, to take it, so timers and fds stay watched. */
void rt_hand_over_poller(void);

/* Whether w's own queue is empty (any thread; a snapshot). */
int runq_empty(struct worker *w);

/* Whether any queue holds a coroutine (for an idler about to block, after
 * it announced itself in rt.nsleepers / rt.poll_blocked). */
int rt_work_visible(struct worker *w);

/* For the scheduler loop (w is the calling worker): the next coroutine of
 * w's own ring; half of another worker's queue, one returned and the rest
 * moved to w's ring; up to max from the global queue, likewise. NULL when
 * there is none. */
struct co *runq_get(struct worker *w);
struct co *rt_steal(struct worker *w);
struct co *rt_global_get(struct worker *w, size_t max);

/* After a push that any worker could take: wake an idler if one is needed. */
void rt_notify_local(void);

/* ---- poll.c ---- */

int rt_poll_init(void);
void rt_poll_fini(void);
/* Collect fd events and due timers into w's queue; returns how many became
 * runnable. With block, wait in epoll until an event, the next timer or a
 * kick, unless rt.seq moved away from `seq` (new work was announced). The
 * caller holds the poller role (rt.polling). */
int rt_poll(struct worker *w, int block, uint32_t seq);
/* Fire due timers into w's queue (cheap when none is due). */
int rt_timers_due(struct worker *w);
/* Make a blocked poller return (eventfd write, coalesced). */
void rt_poll_kick(void);
/* Fork child: closes the child's copies of the epoll and eventfd
 * descriptors, drops the timer heap, re-initialises poll_lock. */
void rt_poll_reset_child(void);

/* ---- sched.c ---- */

/* Switch the current coroutine out; fn(co, arg) runs on the scheduler stack
 * once it is off its stack. Returns when someone made it runnable again. */
void rt_park(struct co *co, void (*fn)(struct co *, void *), void *arg);

/* A worker thread's start function (arg: its struct worker): the scheduler
 * loop, until the runtime stops. */
void *rt_worker_main(void *arg);

/* ---- coro.c ---- */

/* After the worker's thread is gone (or in a fork child): its stack cache
 * back to the pool. */
void rt_co_stack_flush(struct worker *w);

/* ---- offload.c ---- */

/* Join the spawn helpers (none may hold a job: call with no coroutine
 * live). */
void rt_offload_stop(void);
/* Fork child: no helper, no job, locks re-initialised. */
void rt_offload_reset_child(void);

/* ---- life.c ----
 * Nothing for the other files. Its atfork child handler puts the runtime
 * back to "never started" through each file's reset_child hook above. */

#endif
