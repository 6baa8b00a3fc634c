/* spawn_bench's methods (see spawn_methods.h): each way of spawning, the
 * ablation ladder between vfork and nofork, and how a batch of spawns is
 * timed on this thread, on n threads or on coroutines.
 *
 * All methods exec the same target with the same argv and envp. Adding a
 * method is one entry in `methods[]` (see struct method).
 */
#include "spawn_methods.h"

#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nofork.h"
#include "nofork/spawn.h"

#define MAX_THREADS 8

static int open_stateless(const struct target *t, void **state)
{
	(void)t;
	*state = NULL;
	return 0;
}

static int reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : EPROTO;
}

/* The floor of a synchronous spawn. noinline and nothing but execve/_exit in
 * the child: the child borrows this frame until it execs. */
static __attribute__((noinline)) pid_t vfork_exec(const char *path, char *const argv[],
						  char *const envp[])
{
	pid_t pid = vfork();
	if (pid == 0) {
		execve(path, argv, envp);
		_exit(127);
	}
	return pid;
}

static int vfork_spawn_wait(void *state, const struct target *t)
{
	(void)state;
	pid_t pid = vfork_exec(t->path, t->argv, t->envp);
	return pid < 0 ? errno : reap(pid);
}

static int posix_spawn_wait(void *state, const struct target *t)
{
	(void)state;
	pid_t pid;
	int e = posix_spawn(&pid, t->path, NULL, NULL, t->argv, t->envp);
	return e ? e : reap(pid);
}

static int fork_spawn_wait(void *state, const struct target *t)
{
	(void)state;
	pid_t pid = fork();
	if (pid == 0) {
		execve(t->path, t->argv, t->envp);
		_exit(127);
	}
	return pid < 0 ? errno : reap(pid);
}

/* ---- the ablation ladder ----------------------------------------------------
 * Raw clone3 spawns that add nofork's ingredients one at a time, so the gap
 * between vfork and nofork can be split into its causes on a noisy machine
 * (every rung runs interleaved with the others, like any method):
 *   c3       clone3(CLONE_VM|CLONE_VFORK) on the parent's stack, like vfork
 *   c3+stk   ... on a separate 16 KiB stack, as nofork's pooled one
 *   c3+pidfd ... plus CLONE_PIDFD, waitid(P_PIDFD), close(pidfd)
 *   c3+sig   ... plus CLONE_CLEAR_SIGHAND and all signals blocked in the
 *            parent around clone3, restored by the child
 *   c3+fds   ... plus close_range(3, ~0) in the child
 *   c3+stops ... plus rt_sigaction for SIGTSTP, SIGTTIN, SIGTTOU in the child
 *            (nofork's stop catcher; here set to SIG_DFL): nofork's syscalls
 * The child is asm inside one asm statement (targets/<cpu>/clone3_exec.h):
 * it never touches the stack,
 * so sharing the parent's is safe here (vfork's rule).
 *
 * Why a second asm child, beside the library's (asm/<cpu>/child.S): that one
 * interprets a compiled plan and always does everything nofork does, so it
 * cannot be the bare clone3 rungs this ladder starts from; bench/targets are
 * the programs exec'd, not children. clone3_exec is the only raw-clone child
 * in bench/, used by the rungs alone. */
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

enum { RUNG_STACK = 1, RUNG_PIDFD = 2, RUNG_SIG = 4, RUNG_FDS = 8, RUNG_STOPS = 16 };

/* struct kernel_sigaction: SIG_DFL, no flags, empty mask. */
static const uint64_t sa_default[4];

struct rung {
	unsigned what;
	char *stack;
};

#include "clone3_exec.h" /* clone3_exec: targets/<cpu>/clone3_exec.h */

static int rung_open(const struct target *t, void **state, unsigned what)
{
	(void)t;
	struct rung *r = calloc(1, sizeof *r);
	if (!r || (what & RUNG_STACK && !(r->stack = aligned_alloc(64, 16384)))) {
		free(r);
		return ENOMEM;
	}
	if (r->stack)
		memset(r->stack, 0, 16384); /* as a pooled stack: already faulted in */
	r->what = what;
	*state = r;
	return 0;
}

static int rung_spawn_wait(void *state, const struct target *t)
{
	struct rung *r = state;
	int pidfd = -1;
	struct clone3_args ca = { .flags = CLONE_VM | CLONE_VFORK, .exit_signal = SIGCHLD };
	if (r->stack) {
		ca.stack = (uintptr_t)r->stack;
		ca.stack_size = 16384;
	}
	if (r->what & RUNG_PIDFD) {
		ca.flags |= CLONE_PIDFD;
		ca.pidfd = (uintptr_t)&pidfd;
	}
	uint64_t all = ~UINT64_C(0), old = 0;
	if (r->what & RUNG_SIG) {
		ca.flags |= CLONE_CLEAR_SIGHAND;
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
	}
	long pid = clone3_exec(&ca, t, r->what & RUNG_FDS, r->what & RUNG_SIG ? &old : NULL,
			       r->what & RUNG_STOPS ? sa_default : NULL);
	if (r->what & RUNG_SIG)
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
	if (pid < 0)
		return (int)-pid;
	if (pidfd < 0)
		return reap((pid_t)pid);
	siginfo_t si;
	int e;
	while ((e = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED)) < 0 && errno == EINTR)
		;
	e = e < 0 ? errno : si.si_code == CLD_EXITED && si.si_status == 0 ? 0 : EPROTO;
	close(pidfd);
	return e;
}

static void rung_close(void *state)
{
	struct rung *r = state;
	free(r->stack);
	free(r);
}

#define RUNG(fn, what) \
	static int fn(const struct target *t, void **state) { return rung_open(t, state, what); }
RUNG(c3_open, 0)
RUNG(c3_stk_open, RUNG_STACK)
RUNG(c3_pidfd_open, RUNG_STACK | RUNG_PIDFD)
RUNG(c3_sig_open, RUNG_STACK | RUNG_PIDFD | RUNG_SIG)
RUNG(c3_fds_open, RUNG_STACK | RUNG_PIDFD | RUNG_SIG | RUNG_FDS)
RUNG(c3_stops_open, RUNG_STACK | RUNG_PIDFD | RUNG_SIG | RUNG_FDS | RUNG_STOPS)

/* The cmd is compiled once per thread and target (the plan), as a caller
 * that starts the same program repeatedly would do; each iteration is
 * nf_spawn + nf_proc_wait + closing the pidfd. */
static int nofork_open_cmd(const struct target *t, char *const *envp, unsigned flags, void **state)
{
	nf_cmd *cmd = NULL;
	int e = nf_cmd_new(&cmd, t->path, t->argv, envp);
	if (!e && flags)
		e = nf_cmd_flags(cmd, flags);
	if (e) {
		nf_cmd_free(cmd);
		return e;
	}
	if (t->needs_fd3 && (e = nf_cmd_keep_fd(cmd, 3))) {
		nf_cmd_free(cmd);
		return e;
	}
	*state = cmd;
	return 0;
}

static int nofork_open(const struct target *t, void **state)
{
	return nofork_open_cmd(t, t->envp, 0, state);
}

/* Without a pidfd: waiting goes by pid, like posix_spawn's callers. */
static int nofork_nopidfd_open(const struct target *t, void **state)
{
	return nofork_open_cmd(t, t->envp, NF_NO_PIDFD, state);
}

/* The live environ (envp NULL), which the "envedit" sweep makes the
 * target's envp; bare, and with three edits (LANG replaced, TERM unset, one
 * name added), which each spawn applies to environ on the child's stack. */
static int nofork_environ_open(const struct target *t, void **state)
{
	return nofork_open_cmd(t, NULL, 0, state);
}

static int nofork_envedit_open(const struct target *t, void **state)
{
	int e = nofork_open_cmd(t, NULL, 0, state);
	if (!e && ((e = nf_cmd_setenv(*state, "LANG", "C")) || (e = nf_cmd_unsetenv(*state, "TERM")) ||
		   (e = nf_cmd_setenv(*state, "NF_BENCH_EDIT", "1"))))
		nf_cmd_free(*state);
	return e;
}

static int nofork_spawn_wait(void *state, const struct target *t)
{
	(void)t;
	nf_proc p;
	int st = 0;
	int e = nf_spawn(state, &p, NULL);
	if (e)
		return e;
	e = nf_proc_wait(&p, &st, -1);
	nf_proc_release(&p);
	if (e)
		return e;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : EPROTO;
}

static void nofork_close(void *state)
{
	nf_cmd_free(state);
}

/* nofork from a coroutine: the same cmd and calls, made on the runtime
 * (nf_rt_start(0): a worker per CPU). The spawn goes the thread way while
 * the other worker idles, else on a runtime helper thread with the
 * coroutine parked until the exec; the wait parks on the pidfd. */
static int rt_started = -1;

static int coroutine_open(const struct target *t, void **state)
{
	if (rt_started < 0)
		rt_started = nf_rt_start(0);
	return rt_started ? rt_started : nofork_open(t, state);
}

/* The posix_spawn drop-in, called by its nofork_ name (a rebuilt program). */
static int compat_spawn_wait(void *state, const struct target *t)
{
	(void)state;
	pid_t pid;
	int e = nofork_posix_spawn(&pid, t->path, NULL, NULL, t->argv, t->envp);
	return e ? e : reap(pid);
}

/* libnofork-preload.so's posix_spawn, bound as an unmodified program run
 * with LD_PRELOAD binds it (the library carries its own copy of nofork). */
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);
struct preload { spawn_fn spawn; };

static int preload_open(const struct target *t, void **state)
{
	(void)t;
	static void *lib;
	if (!lib && !(lib = dlopen(NF_PRELOAD_PATH, RTLD_NOW | RTLD_LOCAL)))
		return ENOENT;
	struct preload *p = malloc(sizeof *p);
	if (!p)
		return ENOMEM;
	*(void **)&p->spawn = dlsym(lib, "posix_spawn");
	if (!p->spawn) {
		free(p);
		return ENOENT;
	}
	*state = p;
	return 0;
}

static int preload_spawn_wait(void *state, const struct target *t)
{
	pid_t pid;
	int e = ((struct preload *)state)->spawn(&pid, t->path, NULL, NULL, t->argv, t->envp);
	return e ? e : reap(pid);
}

/* vfork and posix_spawn must stay in the table: ratios are computed against
 * them (REF_VFORK, REF_POSIX_SPAWN). The order is the tables' row order.
 * Throughput from 1000 coroutines is measured by bench/coro_bench. */
const struct method methods[] = {
	{ "vfork+execve", open_stateless, vfork_spawn_wait, NULL, NULL, false },
	{ "posix_spawn", open_stateless, posix_spawn_wait, NULL, NULL, false },
	{ "fork+execve", open_stateless, fork_spawn_wait, NULL, NULL, false },
	{ "c3", c3_open, rung_spawn_wait, rung_close, "ablate", false },
	{ "c3+stk", c3_stk_open, rung_spawn_wait, rung_close, "ablate", false },
	{ "c3+pidfd", c3_pidfd_open, rung_spawn_wait, rung_close, "ablate", false },
	{ "c3+sig", c3_sig_open, rung_spawn_wait, rung_close, "ablate", false },
	{ "c3+fds", c3_fds_open, rung_spawn_wait, rung_close, "ablate", false },
	{ "c3+stops", c3_stops_open, rung_spawn_wait, rung_close, "ablate", false },
	{ "nofork", nofork_open, nofork_spawn_wait, nofork_close, NULL, false },
	{ "nofork/nopidfd", nofork_nopidfd_open, nofork_spawn_wait, nofork_close, "ablate", false },
	{ "nofork/environ", nofork_environ_open, nofork_spawn_wait, nofork_close, "envedit", false },
	{ "nofork/env-edit", nofork_envedit_open, nofork_spawn_wait, nofork_close, "envedit", false },
	{ "nofork/coroutine", coroutine_open, nofork_spawn_wait, nofork_close, NULL, true },
	{ "nofork/compat", open_stateless, compat_spawn_wait, NULL, NULL, false },
	{ "nofork/preload", preload_open, preload_spawn_wait, free, NULL, false },
};
const int n_methods = sizeof methods / sizeof methods[0];

/* ---- timing a batch --------------------------------------------------------- */

struct method_run {
	const struct method *m;
	struct load l;
	int n;                     /* states opened */
	void *state[MAX_THREADS];  /* one per spawning thread or coroutine */
};

void method_close(struct method_run *r);

int method_open(int m, const struct load *l, struct method_run **out)
{
	struct method_run *r = calloc(1, sizeof *r);
	if (!r)
		return ENOMEM;
	r->m = &methods[m];
	r->l = *l;
	int e = 0, nthr = l->threads ? l->threads : 1;
	for (; r->n < nthr && !e; r->n++)
		e = r->m->open(l->t, &r->state[r->n]);
	if (e) {
		method_close(r);
		r = NULL;
	}
	*out = r;
	return e;
}

void method_close(struct method_run *r)
{
	for (int i = 0; i < r->n; i++)
		if (r->state[i] && r->m->close)
			r->m->close(r->state[i]);
	free(r);
}

void methods_shutdown(void)
{
	if (rt_started == 0)
		nf_rt_stop();
}


/* k spawns by one thread or coroutine of a batch: err is 0 or an errno;
 * value is a latency point's (µs per spawn, or µs to the first
 * instruction). */
struct job {
	const struct load *l;
	const struct method *m;
	void *state;
	long k;
	double value;
	int err;
	pthread_barrier_t *go; /* throughput: start together (threads only) */
};

static void *throughput_main(void *arg)
{
	struct job *j = arg;
	if (j->go)
		pthread_barrier_wait(j->go);
	for (long i = 0; i < j->k && !j->err; i++)
		j->err = j->m->spawn_wait(j->state, j->l->t);
	return NULL;
}

static void *latency_main(void *arg)
{
	struct job *l = arg;
	const struct load *p = l->l;
	double acc = 0, t0 = p->cpu ? hn_cpu_s() : hn_now_s();
	for (long i = 0; i < l->k; i++) {
		struct timespec before, child;
		clock_gettime(CLOCK_MONOTONIC, &before);
		if ((l->err = l->m->spawn_wait(l->state, p->t)))
			return NULL;
		if (p->first_fd >= 0) {
			if (read(p->first_fd, &child, sizeof child) != (ssize_t)sizeof child) {
				l->err = EIO;
				return NULL;
			}
			acc += (child.tv_sec - before.tv_sec) * 1e6 + (child.tv_nsec - before.tv_nsec) * 1e-3;
		}
	}
	double t1 = p->cpu ? hn_cpu_s() : hn_now_s();
	l->value = p->first_fd >= 0 ? acc / l->k : (t1 - t0) * 1e6 / l->k;
	return NULL;
}

struct on_rt {
	void *(*fn)(void *);
	void *arg;
	sem_t *done;
};

static void on_rt_main(void *arg)
{
	struct on_rt *o = arg;
	o->fn(o->arg);
	sem_post(o->done);
}

/* Runs fn(args[i]) for i < n (n <= MAX_THREADS), each in a coroutine of its own, and
 * returns when all have returned: 0, or nf_go's error. The hand-off costs a
 * few µs once per batch, outside the coroutines' own timing. */
static int on_runtime(int n, void *(*fn)(void *), void **args)
{
	struct on_rt o[MAX_THREADS];
	sem_t done;
	sem_init(&done, 0, 0);
	int started = 0, e = 0;
	for (; started < n; started++) {
		o[started] = (struct on_rt){ fn, args[started], &done };
		if ((e = nf_go(on_rt_main, &o[started])))
			break;
	}
	for (int i = 0; i < started; i++)
		while (sem_wait(&done) && errno == EINTR)
			;
	sem_destroy(&done);
	return e;
}

/* k spawns on this thread, or in one coroutine for the coroutine method. */
static int latency_batch(struct method_run *r, long k, double *value)
{
	struct job l = { &r->l, r->m, r->state[0], k, 0, 0, NULL };
	void *arg = &l;
	int e = 0;
	if (r->m->coroutine)
		e = on_runtime(1, latency_main, &arg);
	else
		latency_main(arg);
	*value = l.value;
	return e ? e : l.err;
}

/* k spawns on each of n threads (or coroutines), started together. */
static int throughput_batch(struct method_run *r, long k, double *value)
{
	const struct method *me = r->m;
	int n = r->l.threads, e = 0;
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, (unsigned)n + 1);
	struct job w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	void *args[MAX_THREADS];
	for (int i = 0; i < n; i++) {
		/* Coroutines must not block their worker in a barrier; nf_go
		 * is quick enough to start them inside the timed region. */
		w[i] = (struct job){ &r->l, me, r->state[i], k, 0, 0, me->coroutine ? NULL : &go };
		args[i] = &w[i];
		if (!me->coroutine)
			pthread_create(&tid[i], NULL, throughput_main, &w[i]);
	}
	if (!me->coroutine)
		pthread_barrier_wait(&go);
	double t0 = hn_now_s();
	if (me->coroutine)
		e = on_runtime(n, throughput_main, args);
	else
		for (int i = 0; i < n; i++)
			pthread_join(tid[i], NULL);
	double dt = hn_now_s() - t0;
	pthread_barrier_destroy(&go);
	for (int i = 0; i < n; i++)
		if (w[i].err)
			e = w[i].err;
	*value = (double)n * (double)k / dt;
	return e;
}

int method_batch(struct method_run *r, long k, bool single, double *value)
{
	if (single || r->l.threads == 0)
		return latency_batch(r, k, value);
	return throughput_batch(r, k, value);
}
