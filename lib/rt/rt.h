/* Internal hooks of the M:N runtime for the rest of the library and for tests.
 * Nothing here is exported from libnofork (hidden visibility). */
#ifndef NF_RT_H
#define NF_RT_H

#include <stdbool.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in ns: the one clock of the library's timeouts. */
int64_t rt_now_ns(void);

/* Nonzero when the caller runs on a coroutine (so it may park with
 * nf_wait_fd instead of blocking its worker thread). Cheap: one TLS load. */
int rt_in_coroutine(void);

/* nf_wait_fd without a timeout, for an fd the caller closes as soon as it
 * fired (it saves the epoll_ctl DEL). Coroutine or thread. */
int rt_wait_fd_closing(int fd, short events);

/* Run fn(arg) on one of the runtime's helper threads while the calling
 * coroutine parks; returns fn's result (lib/rt/offload.c). For nf_spawn of a
 * coroutine: the helper sleeps in a CLONE_VFORK clone, the worker does not.
 * last: on a helper that lives as long as the process (never joined, not
 * even by nf_rt_stop); when no such thread exists and none can be made,
 * returns minus pthread_create's error without running fn. Otherwise fn
 * then runs on the calling worker. Coroutine only. */
int rt_offload(int (*fn)(void *), void *arg, bool last);
void rt_offload_stats(uint64_t *waits, int *max_in_flight, uint64_t *blocking);

/* Whether a coroutine's spawn may go the thread way on its own worker
 * (CLONE_VFORK, the worker asleep until the exec) instead of offloading:
 * yes while another worker idles, since then nothing waits for this one.
 * Counted in rt_stats. Coroutine only. */
int rt_spawn_may_block(void);

/* Coroutine stacks a worker keeps for reuse (not available to other
 * threads meanwhile). */
#define RT_STACK_CACHE 64

/* The running coroutine's id (as printed by the stack-overflow report), 0 on
 * a plain thread. Ids start at 1 and are never reused within a process. */
uint64_t rt_coroutine_id(void);

/* Index of the worker the caller runs on (0..workers-1), -1 on a plain thread. */
int rt_worker_index(void);

/* Counters summed over all workers since nf_rt_start; for tests and benchmarks. */
struct rt_stats {
	uint64_t created;   /* coroutines started by nf_go */
	uint64_t finished;  /* coroutines that returned */
	uint64_t switches;  /* coroutine resumptions by a scheduler */
	uint64_t steals;    /* successful steals (each takes half a victim's queue) */
	uint64_t stolen;    /* coroutines moved by those steals */
	uint64_t global_in; /* coroutines pushed to the global queue */
	uint64_t polls;     /* blocking epoll_wait calls by an idle worker */
	uint64_t sleeps;    /* futex sleeps of idle workers */
	uint64_t spawn_waits;     /* coroutine spawns that found every spawn helper busy */
	uint64_t spawn_blocking;  /* coroutine spawns made the thread way (a worker idled) */
	int spawn_max_in_flight;  /* most spawn helpers busy at once */
	int workers;
};

/* Fill *st. Reads relaxed counters: exact once the runtime is quiet. Call
 * while the runtime runs (not concurrently with nf_rt_start/nf_rt_stop). */
void rt_stats(struct rt_stats *st);

/* The context switch (asm/<cpu>/context.S). save_sp receives the saved
 * stack pointer of the caller; load_sp is a value saved earlier or built by
 * ctx_init. */
void ctx_switch(void **save_sp, void *load_sp);

/* The calling thread's FP control modes (MXCSR | x87 control word << 32),
 * in the form ctx_init takes. stmxcsr is slow on some CPUs (bench/RESULTS.md,
 * "Numbers behind design choices in the code"), so the runtime reads this
 * once per nf_rt_start, not per coroutine. */
uint64_t ctx_fpmodes(void);

/* Build a fresh context on the stack below `top` that calls fn(arg) with
 * FP control modes `fpmodes` when first switched to; fn must never return.
 * Returns its stack pointer. */
void *ctx_init(void *top, void (*fn)(void *), void *arg, uint64_t fpmodes);

#endif
