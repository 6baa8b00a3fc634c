/* spawn_bench's methods: every way of starting a program it compares, behind
 * one interface. Adding a method is one entry in `methods[]` in
 * spawn_methods.c. */
#ifndef NF_BENCH_SPAWN_METHODS_H
#define NF_BENCH_SPAWN_METHODS_H

#include <stdbool.h>

/* What every method execs: the same path, argv and envp. */
struct target {
	const char *path;
	char *const *argv;
	char *const *envp;
	/* The target writes to fd 3: methods that close fds the caller did not
	 * list (nofork's default policy) must be told to keep it. */
	bool needs_fd3;
};

/* One way of starting a program. `open` prepares per-thread state for a
 * target (e.g. a compiled nofork cmd) outside the timed region; ENOSYS means
 * the method is not built into this binary. `spawn_wait` starts the target
 * once and reaps it: 0 when the child exited 0, else an errno value (EPROTO
 * for a non-zero exit status, which would mean the spawn did not do what the
 * target needed). `close` may be NULL. */
struct method {
	const char *name;
	int (*open)(const struct target *t, void **state);
	int (*spawn_wait)(void *state, const struct target *t);
	void (*close)(void *state);
	/* NULL: in every sweep; else only in the sweep of that name ("ablate",
	 * "envedit") or when named with --methods. */
	const char *sweep;
	/* Called from coroutines on nofork's runtime, not from threads: a
	 * timed batch runs whole inside them (see on_runtime). */
	bool coroutine;
};

extern const struct method methods[];
extern const int n_methods;
/* The references every ratio is computed against (first in methods[]). */
#define REF_VFORK "vfork+execve"
#define REF_POSIX_SPAWN "posix_spawn"

/* How a method is driven at a sweep point. */
struct load {
	const struct target *t;
	int threads;  /* 0: latency on this thread; n: throughput of n threads */
	int first_fd; /* >= 0: read the child's timestamp from this pipe */
	bool cpu;     /* latency in CPU time (parent + children), not wall time */
};

/* A method opened for a load: one state per spawning thread. */
struct method_run;

/* Opens method m (an index into methods[]) for the load: 0 or an errno. */
int method_open(int m, const struct load *l, struct method_run **out);
/* One timed batch: k spawns (per thread or coroutine; single: one, on this
 * thread, whatever the load's threads). Returns 0 and the batch value (µs per
 * spawn, µs to the first instruction, or spawns/s), or an errno. */
int method_batch(struct method_run *r, long k, bool single, double *value);
void method_close(struct method_run *r);

/* Stops nofork's runtime if the coroutine method started it. */
void methods_shutdown(void);

#endif
