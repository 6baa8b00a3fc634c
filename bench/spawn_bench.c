/* spawn_bench: what one spawn+wait costs, per method, under several conditions.
 *
 * Method (DESIGN.md section 6): every sweep point runs all methods inside this
 * one process in interleaved rounds. Round r runs the methods in an order
 * rotated by r, each K times back to back, and records the mean per spawn of
 * that round. A row reports the median over rounds and the min-max of the
 * round values, so slow drift of a shared 2-core machine hits every method
 * alike and a single bad round cannot move the median. Each method is warmed
 * up before a point's first round; the warm-up also sizes K so that a point
 * stays within its time budget (fork with 8 GiB touched is ~1000x slower than
 * vfork and would otherwise dominate the run).
 *
 * All methods exec the same target with the same argv and envp. Adding a
 * method is one entry in `methods[]` (see struct method).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "nofork.h"
#include "nofork/spawn.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define MAX_ROUNDS 101
#define MAX_ROWS 256
#define FDS_MANY 10000 /* fds opened for the "fds" sweep */

/* ---- targets ------------------------------------------------------------ */

struct target {
	const char *path;
	char *const *argv;
	char *const *envp;
	/* The target writes to fd 3: methods that close fds the caller did not
	 * list (nofork's default policy) must be told to keep it. */
	bool needs_fd3;
};

/* ---- methods ------------------------------------------------------------ */

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
	/* Only in the "ablate" sweep or when named with --methods. */
	bool ablation;
	/* Called from coroutines on nofork's runtime, not from threads: a
	 * timed batch runs whole inside them (see on_runtime). */
	bool coroutine;
};

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
 * The child is asm inside one asm statement: it never touches the stack,
 * so sharing the parent's is safe here (vfork's rule). */
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

/* Returns the pid or -errno. In the child: [close_range] [sigprocmask]
 * execve, _exit(127) if it fails. */
static long clone3_exec(struct clone3_args *ca, const struct target *t, long fds,
			const uint64_t *mask, const uint64_t *stop_act)
{
	register long rax asm("rax") = SYS_clone3;
	register void *rdi asm("rdi") = ca;
	register long rsi asm("rsi") = sizeof *ca;
	register const char *path asm("r12") = t->path;
	register char *const *argv asm("r13") = t->argv;
	register char *const *envp asm("r14") = t->envp;
	register long do_fds asm("r15") = fds;
	register const uint64_t *m asm("rbx") = mask;
	register const uint64_t *sa asm("r9") = stop_act;
	asm volatile("syscall\n\t"
		     "test %%rax, %%rax\n\t"
		     "jnz 3f\n\t"
		     "test %%r15, %%r15\n\t"
		     "jz 1f\n\t"
		     "mov $436, %%eax\n\t" /* close_range(3, ~0U, 0) */
		     "mov $3, %%edi\n\t"
		     "mov $-1, %%esi\n\t"
		     "xor %%edx, %%edx\n\t"
		     "syscall\n"
		     "1:\ttest %%r9, %%r9\n\t"
		     "jz 5f\n\t"
		     "mov $20, %%r8d\n" /* SIGTSTP, SIGTTIN, SIGTTOU */
		     "4:\tmov $13, %%eax\n\t" /* rt_sigaction(sig, sa, NULL, 8) */
		     "mov %%r8d, %%edi\n\t"
		     "mov %%r9, %%rsi\n\t"
		     "xor %%edx, %%edx\n\t"
		     "mov $8, %%r10d\n\t"
		     "syscall\n\t"
		     "inc %%r8d\n\t"
		     "cmp $22, %%r8d\n\t"
		     "jbe 4b\n"
		     "5:\ttest %%rbx, %%rbx\n\t"
		     "jz 2f\n\t"
		     "mov $14, %%eax\n\t" /* rt_sigprocmask(SIG_SETMASK, m, NULL, 8) */
		     "mov $2, %%edi\n\t"
		     "mov %%rbx, %%rsi\n\t"
		     "xor %%edx, %%edx\n\t"
		     "mov $8, %%r10d\n\t"
		     "syscall\n"
		     "2:\tmov $59, %%eax\n\t" /* execve */
		     "mov %%r12, %%rdi\n\t"
		     "mov %%r13, %%rsi\n\t"
		     "mov %%r14, %%rdx\n\t"
		     "syscall\n\t"
		     "mov $231, %%eax\n\t" /* exit_group(127) */
		     "mov $127, %%edi\n\t"
		     "syscall\n"
		     "3:"
		     : "+a"(rax), "+D"(rdi), "+S"(rsi)
		     : "r"(path), "r"(argv), "r"(envp), "r"(do_fds), "r"(m), "r"(sa)
		     : "rcx", "rdx", "r8", "r10", "r11", "memory");
	return rax;
}

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
static int nofork_open_flags(const struct target *t, void **state, unsigned flags)
{
	nf_cmd *cmd = NULL;
	int e = nf_cmd_new(&cmd, t->path, t->argv, t->envp);
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
	return nofork_open_flags(t, state, 0);
}

/* Without a pidfd: waiting goes by pid, like posix_spawn's callers. */
static int nofork_nopidfd_open(const struct target *t, void **state)
{
	return nofork_open_flags(t, state, NF_NO_PIDFD);
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

/* vfork and posix_spawn must stay here: ratios are computed against them.
 * Throughput from 1000 coroutines is measured by bench/coro_bench. */
static const struct method methods[] = {
	{ "vfork+execve", open_stateless, vfork_spawn_wait, NULL, false, false },
	{ "posix_spawn", open_stateless, posix_spawn_wait, NULL, false, false },
	{ "fork+execve", open_stateless, fork_spawn_wait, NULL, false, false },
	{ "c3", c3_open, rung_spawn_wait, rung_close, true, false },
	{ "c3+stk", c3_stk_open, rung_spawn_wait, rung_close, true, false },
	{ "c3+pidfd", c3_pidfd_open, rung_spawn_wait, rung_close, true, false },
	{ "c3+sig", c3_sig_open, rung_spawn_wait, rung_close, true, false },
	{ "c3+fds", c3_fds_open, rung_spawn_wait, rung_close, true, false },
	{ "c3+stops", c3_stops_open, rung_spawn_wait, rung_close, true, false },
	{ "nofork", nofork_open, nofork_spawn_wait, nofork_close, false, false },
	{ "nofork/nopidfd", nofork_nopidfd_open, nofork_spawn_wait, nofork_close, true, false },
	{ "nofork/coroutine", coroutine_open, nofork_spawn_wait, nofork_close, false, true },
	{ "nofork/compat", open_stateless, compat_spawn_wait, NULL, false, false },
	{ "nofork/preload", preload_open, preload_spawn_wait, free, false, false },
};
#define NMETHODS (sizeof methods / sizeof methods[0])
enum { M_VFORK = 0, M_POSIX_SPAWN = 1 };
static bool method_on[NMETHODS]; /* --methods; all by default */

/* ---- clock and statistics ---------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this process and its reaped children (user + system). When
 * other people load the machine, wall time mostly measures their load; CPU
 * time still compares the work each method makes the kernel do, though it
 * misses the time spent waiting for wake-ups (cross-CPU IPIs, in a VM). */
static double cpu_s(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			kids.ru_stime.tv_sec) +
	       (self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
		kids.ru_stime.tv_usec) * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ---- configuration -------------------------------------------------------- */

static struct {
	int rounds;         /* rounds per sweep point */
	int kmax;           /* spawns per method per round, upper bound */
	double point_s;     /* time budget of one sweep point */
	double rss_gib[8];
	int n_rss;
	const char *csv;
	const char *sweeps; /* comma list or "all" */
	char targets[PATH_MAX];
	bool quick;
	bool cpu;           /* latency sweeps report CPU time, not wall time */
} cfg = {
	.rounds = 31, .kmax = 300, .point_s = 40.0,
	.rss_gib = { 0, 1, 4, 8 }, .n_rss = 4,
	.csv = "results.csv", .sweeps = "all",
};

/* ---- results ------------------------------------------------------------- */

struct row {
	const char *sweep;
	char point[40];
	int method;
	bool throughput;      /* value is spawns/s (higher is better), else µs */
	bool ok;
	char why[96];         /* when !ok */
	double med, min, max;
	int rounds;
	long spawns;          /* timed spawns over all rounds */
};

static struct row rows[MAX_ROWS];
static int nrows;

static const struct row *find_row(const char *sweep, const char *point, int method)
{
	for (int i = 0; i < nrows; i++)
		if (!strcmp(rows[i].sweep, sweep) && !strcmp(rows[i].point, point) &&
		    rows[i].method == method)
			return &rows[i];
	return NULL;
}

static const struct row *find_method_row(const char *sweep, const char *point,
					 const char *name)
{
	for (size_t m = 0; m < NMETHODS; m++)
		if (!strcmp(methods[m].name, name))
			return find_row(sweep, point, (int)m);
	return NULL;
}

/* Ratio of two rows' medians, NAN if either is missing. */
static double ratio(const struct row *a, const struct row *b)
{
	if (!a || !b || !a->ok || !b->ok || b->med == 0)
		return NAN;
	return a->med / b->med;
}

static void fmt_ratio(char *buf, size_t n, double r)
{
	if (isnan(r))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.2f", r);
}

static void fmt_val(char *buf, size_t n, double v, bool throughput)
{
	snprintf(buf, n, throughput ? "%.0f" : "%.1f", v);
}

static void print_table(const char *sweep, const char *title)
{
	bool thr = false;
	for (int i = 0; i < nrows; i++)
		if (!strcmp(rows[i].sweep, sweep))
			thr = rows[i].throughput;
	printf("\n### %s\n\n", title);
	if (thr)
		printf("| point | method | median spawns/s | min-max spawns/s | vs vfork (x) | vs posix_spawn (x) |\n");
	else
		printf("| point | method | median µs | min-max µs | / vfork | / posix_spawn |\n");
	printf("|---|---|---:|---:|---:|---:|\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		if (strcmp(r->sweep, sweep))
			continue;
		if (!r->ok) {
			printf("| %s | %s | n/a | %s | - | - |\n", r->point,
			       methods[r->method].name, r->why);
			continue;
		}
		char med[32], lo[32], hi[32], rv[16], rp[16];
		fmt_val(med, sizeof med, r->med, thr);
		fmt_val(lo, sizeof lo, r->min, thr);
		fmt_val(hi, sizeof hi, r->max, thr);
		fmt_ratio(rv, sizeof rv, ratio(r, find_row(sweep, r->point, M_VFORK)));
		fmt_ratio(rp, sizeof rp, ratio(r, find_row(sweep, r->point, M_POSIX_SPAWN)));
		printf("| %s | %s | %s | %s-%s | %s | %s |\n", r->point,
		       methods[r->method].name, med, lo, hi, rv, rp);
	}
	if (thr)
		printf("\nThroughput ratios are method/reference: above 1 is faster.\n");
	fflush(stdout);
}

static void write_csv(void)
{
	FILE *f = fopen(cfg.csv, "w");
	if (!f) {
		fprintf(stderr, "spawn_bench: cannot write %s: %s\n", cfg.csv, strerror(errno));
		return;
	}
	fprintf(f, "sweep,point,method,unit,median,min,max,ratio_vfork,ratio_posix_spawn,rounds,spawns,status\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		double rv = ratio(r, find_row(r->sweep, r->point, M_VFORK));
		double rp = ratio(r, find_row(r->sweep, r->point, M_POSIX_SPAWN));
		fprintf(f, "%s,%s,%s,%s,", r->sweep, r->point, methods[r->method].name,
			r->throughput ? "spawns/s" : "us");
		if (r->ok)
			fprintf(f, "%.3f,%.3f,%.3f,", r->med, r->min, r->max);
		else
			fprintf(f, ",,,");
		if (isnan(rv)) fprintf(f, ","); else fprintf(f, "%.4f,", rv);
		if (isnan(rp)) fprintf(f, ","); else fprintf(f, "%.4f,", rp);
		fprintf(f, "%d,%ld,%s\n", r->rounds, r->spawns, r->ok ? "ok" : r->why);
	}
	fclose(f);
	printf("\nCSV: %s\n", cfg.csv);
}

/* ---- the faulting thread -------------------------------------------------- */

/* Page faults and mmap/munmap in a sibling thread: they take the mm's locks
 * that a spawn path may also need (a per-spawn stack mmap, for instance), and
 * munmap sends TLB shootdowns to every CPU running this mm. */
static atomic_bool fault_stop;
static atomic_long fault_pages;

static void *faulter(void *arg)
{
	(void)arg;
	const size_t len = 4u << 20;
	long pg = sysconf(_SC_PAGESIZE);
	while (!atomic_load_explicit(&fault_stop, memory_order_relaxed)) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			continue;
		for (size_t i = 0; i < len; i += (size_t)pg)
			p[i] = 1;
		munmap(p, len);
		atomic_fetch_add_explicit(&fault_pages, (long)(len / (size_t)pg),
					  memory_order_relaxed);
	}
	return NULL;
}

/* ---- running one sweep point ---------------------------------------------- */

struct point {
	const char *sweep;
	const char *label;
	const struct target *t;
	int threads;      /* 0: latency on this thread; n: throughput of n threads */
	bool faulter;
	int first_fd;     /* >= 0: read the child's timestamp from this pipe */
};

/* k spawns by one thread or coroutine of a batch: err is 0 or an errno;
 * value is a latency point's (µs per spawn, or µs to the first
 * instruction). */
struct job {
	const struct point *p;
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
		j->err = j->m->spawn_wait(j->state, j->p->t);
	return NULL;
}

static void *latency_main(void *arg)
{
	struct job *l = arg;
	const struct point *p = l->p;
	double acc = 0, t0 = cfg.cpu ? cpu_s() : now_s();
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
	double t1 = cfg.cpu ? cpu_s() : now_s();
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

/* Runs fn(args[i]) for i < n (n <= 8), each in a coroutine of its own, and
 * returns when all have returned: 0, or nf_go's error. The hand-off costs a
 * few µs once per batch, outside the coroutines' own timing. */
static int on_runtime(int n, void *(*fn)(void *), void **args)
{
	struct on_rt o[8];
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

/* One timed batch: k spawns (per thread or coroutine). Returns 0 and the
 * batch value (µs per spawn, µs to first instruction, or spawns/s), or an
 * errno. */
static int batch(const struct point *p, int m, void **states, long k, double *value)
{
	const struct method *me = &methods[m];
	int e = 0;
	if (p->threads == 0) {
		struct job l = { p, me, states[0], k, 0, 0, NULL };
		void *arg = &l;
		if (me->coroutine)
			e = on_runtime(1, latency_main, &arg);
		else
			latency_main(arg);
		*value = l.value;
		return e ? e : l.err;
	}
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, (unsigned)p->threads + 1);
	struct job w[8];
	pthread_t tid[8];
	void *args[8];
	for (int i = 0; i < p->threads; i++) {
		/* Coroutines must not block their worker in a barrier; nf_go
		 * is quick enough to start them inside the timed region. */
		w[i] = (struct job){ p, me, states[i], k, 0, 0, me->coroutine ? NULL : &go };
		args[i] = &w[i];
		if (!me->coroutine)
			pthread_create(&tid[i], NULL, throughput_main, &w[i]);
	}
	if (!me->coroutine)
		pthread_barrier_wait(&go);
	double t0 = now_s();
	if (me->coroutine)
		e = on_runtime(p->threads, throughput_main, args);
	else
		for (int i = 0; i < p->threads; i++)
			pthread_join(tid[i], NULL);
	double dt = now_s() - t0;
	pthread_barrier_destroy(&go);
	for (int i = 0; i < p->threads; i++)
		if (w[i].err)
			e = w[i].err;
	*value = (double)p->threads * (double)k / dt;
	return e;
}

static void fail_row(struct row *r, const char *what, int e)
{
	r->ok = false;
	snprintf(r->why, sizeof r->why, "%s: %s", what,
		 e == ENOSYS ? "not built in" : strerror(e));
}

static void run_point(const struct point *p)
{
	int act[NMETHODS], n = 0, nthr = p->threads ? p->threads : 1;
	for (int m = 0; m < (int)NMETHODS; m++)
		if (method_on[m])
			act[n++] = m;
	struct row *r0 = &rows[nrows];
	void *states[NMETHODS][8];
	double vals[NMETHODS][MAX_ROUNDS];
	long k[NMETHODS];

	if (nrows + n > MAX_ROWS) {
		fprintf(stderr, "spawn_bench: too many rows\n");
		exit(1);
	}
	nrows += n;
	fprintf(stderr, "  %s / %s ...", p->sweep, p->label);

	pthread_t ft;
	if (p->faulter) {
		atomic_store(&fault_stop, false);
		atomic_store(&fault_pages, 0);
		pthread_create(&ft, NULL, faulter, NULL);
	}
	double t_point = now_s();

	/* Prepare and warm up. The warm-up runs single-threaded: it estimates
	 * one spawn's latency, which bounds a throughput batch's length too. */
	double per_round_s = cfg.point_s / cfg.rounds / n;
	for (int j = 0; j < n; j++) {
		int m = act[j];
		struct row *r = &r0[j];
		*r = (struct row){ .sweep = p->sweep, .method = m, .ok = true,
				   .throughput = p->threads > 0 };
		snprintf(r->point, sizeof r->point, "%s", p->label);
		for (int i = 0; i < nthr; i++)
			states[j][i] = NULL;
		int e = 0;
		for (int i = 0; i < nthr && !e; i++)
			e = methods[m].open(p->t, &states[j][i]);
		if (e) {
			fail_row(r, "open", e);
			continue;
		}
		struct point single = *p;
		single.threads = 0;
		double t0 = now_s(), t1 = t0, v;
		long done = 0;
		/* At least 3 spawns, at most 50 ms or 200 spawns. */
		while (!e && (done < 3 || (t1 - t0 < 0.05 && done < 200))) {
			e = batch(&single, m, states[j], 1, &v);
			done++;
			t1 = now_s();
		}
		if (e) {
			fail_row(r, "warm-up", e);
			continue;
		}
		double est = (t1 - t0) / done;
		long km = (long)(per_round_s / est / nthr);
		k[j] = km < 1 ? 1 : km > cfg.kmax ? cfg.kmax : km;
	}

	for (int round = 0; round < cfg.rounds; round++) {
		for (int i = 0; i < n; i++) {
			int j = (i + round) % n;
			struct row *r = &r0[j];
			if (!r->ok)
				continue;
			int e = batch(p, act[j], states[j], k[j], &vals[j][round]);
			if (e) {
				fail_row(r, "spawn", e);
				continue;
			}
			r->spawns += k[j] * nthr;
		}
	}

	if (p->faulter) {
		atomic_store(&fault_stop, true);
		pthread_join(ft, NULL);
	}
	double dt = now_s() - t_point;

	for (int j = 0; j < n; j++) {
		struct row *r = &r0[j];
		for (int i = 0; i < nthr; i++)
			if (states[j][i] && methods[act[j]].close)
				methods[act[j]].close(states[j][i]);
		if (!r->ok)
			continue;
		qsort(vals[j], (size_t)cfg.rounds, sizeof(double), cmp_double);
		int R = cfg.rounds;
		r->rounds = R;
		r->min = vals[j][0];
		r->max = vals[j][R - 1];
		r->med = R % 2 ? vals[j][R / 2] : (vals[j][R / 2 - 1] + vals[j][R / 2]) / 2;
	}
	fprintf(stderr, " %.1f s", dt);
	if (p->faulter)
		fprintf(stderr, " (faulter: %.0f pages/s)", atomic_load(&fault_pages) / dt);
	fprintf(stderr, "\n");
}

/* --only: a plain loop of one method on the static target, nothing else in
 * the process, for perf stat/record and strace -c. */
static int only_loop(const char *name, const struct target *t, long n)
{
	for (size_t m = 0; m < NMETHODS; m++) {
		if (strcmp(methods[m].name, name))
			continue;
		void *st;
		struct point pt = { .t = t, .first_fd = -1 };
		double v;
		int e = methods[m].open(t, &st);
		if (!e) /* warm-up */
			e = batch(&pt, (int)m, &st, 20, &v);
		double t0 = now_s();
		if (!e)
			e = batch(&pt, (int)m, &st, n, &v);
		double dt = now_s() - t0;
		if (st && methods[m].close)
			methods[m].close(st);
		if (e) {
			fprintf(stderr, "spawn_bench: %s: %s\n", name, strerror(e));
			return 1;
		}
		printf("%s: %ld spawn+wait of %s in %.3f s: %.1f µs each\n", name, n, t->path,
		       dt, dt * 1e6 / n);
		return 0;
	}
	fprintf(stderr, "spawn_bench: no method %s\n", name);
	return 2;
}

/* How many fds this process has open (the runtime's among them), for a
 * label; -1 without /proc. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = -1; /* the directory's own fd */
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2; /* . and .. */
}

/* ---- parent memory ballast ------------------------------------------------ */

/* Touched anonymous memory in 4 KiB pages: the heap of a big parent. Huge
 * pages are refused so fork pays for every PTE, as it does for most real
 * heaps (THP here is "madvise" anyway). */
static void *ballast(size_t len)
{
	if (!len)
		return NULL;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "spawn_bench: mmap %zu bytes: %s\n", len, strerror(errno));
		exit(1);
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 0x5a, len);
	return p;
}

/* ---- environments -------------------------------------------------------- */

/* n variables, the first few plausible, the rest ~50-byte fillers, so the
 * size grows as a real environment does. */
static char **make_env(int n)
{
	static const char *base[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent",
				      "LANG=C.UTF-8", "TERM=dumb", "USER=bench", "SHELL=/bin/sh" };
	char **env = calloc((size_t)n + 1, sizeof *env);
	for (int i = 0; i < n; i++) {
		if (i < (int)(sizeof base / sizeof base[0]))
			env[i] = strdup(base[i]);
		else if (asprintf(&env[i], "NF_BENCH_VAR_%04d=value-%04d-abcdefghijklmnopqrstuvwxyz0123", i, i) < 0)
			abort();
	}
	return env;
}

/* ---- sweeps ---------------------------------------------------------------- */

static bool want(const char *sweep)
{
	if (!strcmp(cfg.sweeps, "all"))
		return strcmp(sweep, "ablate") != 0;
	size_t n = strlen(sweep);
	for (const char *s = cfg.sweeps; (s = strstr(s, sweep)); s += n)
		if ((s == cfg.sweeps || s[-1] == ',') && (s[n] == ',' || s[n] == 0))
			return true;
	return false;
}

static char *const exit0_argv[] = { "exit0", NULL };
static char *const first_argv[] = { "first_insn", NULL };
static char *const true_argv[] = { "true", NULL };

/* The machine is shared: say how busy it was, so a reader can tell a
 * noisy run from a real regression. */
static void print_load(const char *when)
{
	double l[3];
	if (getloadavg(l, 3) == 3)
		printf("%s: load average %.2f %.2f %.2f on %ld CPUs\n", when, l[0], l[1], l[2],
		       sysconf(_SC_NPROCESSORS_ONLN));
}

static void headline(void)
{
	printf("\n### Headline ratios (medians)\n\n");
	const struct row *nf = find_method_row("target", "static", "nofork");
	const struct row *vf = find_method_row("target", "static", "vfork+execve");
	const struct row *ps = find_method_row("target", "static", "posix_spawn");
	char a[16], b[16];
	fmt_ratio(a, sizeof a, ratio(nf, vf));
	fmt_ratio(b, sizeof b, ratio(nf, ps));
	printf("- static target, spawn+wait: nofork/vfork = %s (target <= 1.00), nofork/posix_spawn = %s (target <= 0.80)\n", a, b);
	char lo[32], hi[32];
	snprintf(lo, sizeof lo, "%g GiB", cfg.rss_gib[0]);
	snprintf(hi, sizeof hi, "%g GiB", cfg.rss_gib[cfg.n_rss - 1]);
	fmt_ratio(a, sizeof a, ratio(find_method_row("rss", hi, "nofork"),
				     find_method_row("rss", lo, "nofork")));
	/* The RSS points run minutes apart, so drift between them is not
	 * cancelled; vfork's cost does not depend on RSS (it shares the mm),
	 * so dividing by it at each point removes the drift. */
	double n_hi = ratio(find_method_row("rss", hi, "nofork"), find_method_row("rss", hi, "vfork+execve"));
	double n_lo = ratio(find_method_row("rss", lo, "nofork"), find_method_row("rss", lo, "vfork+execve"));
	fmt_ratio(b, sizeof b, n_hi / n_lo);
	printf("- nofork at %s vs %s parent RSS: %s raw; %s with each point divided by vfork's (drift-free) (target <= 1.05 for 8 vs 0 GiB)\n",
	       hi, lo, a, b);
	fmt_ratio(a, sizeof a, ratio(find_method_row("threads", "2 threads + faulter", "nofork"),
				     find_method_row("threads", "2 threads + faulter", "posix_spawn")));
	printf("- 2 spawning threads + 1 faulting thread, throughput nofork/posix_spawn: %s (target >= 1.2)\n", a);
	fmt_ratio(a, sizeof a, ratio(find_method_row("target", "static", "nofork/coroutine"), vf));
	n_hi = ratio(find_method_row("rss", hi, "nofork/coroutine"), find_method_row("rss", hi, "vfork+execve"));
	n_lo = ratio(find_method_row("rss", lo, "nofork/coroutine"), find_method_row("rss", lo, "vfork+execve"));
	fmt_ratio(b, sizeof b, n_hi / n_lo);
	printf("- from one coroutine (no target): nofork/coroutine / vfork = %s, static; %s vs %s parent RSS, drift-free: %s\n", a,
	       hi, lo, b);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spawn_bench [--quick] [--rounds N] [--iters K] [--budget S]\n"
		"                   [--rss 0,1,4,8] [--sweeps all|rss,target,env,fds,first,threads,ablate]\n"
		"                   [--methods a,b] [--csv FILE] [--targets DIR]\n"
		"       spawn_bench --only METHOD [--iters N]   (a bare loop, for perf/strace)\n"
		"  --quick    9 rounds, K<=100, 4 s per point, RSS 0 and 1 GiB (under a minute)\n"
		"  --rounds   rounds per sweep point (odd is best; default 31)\n"
		"  --iters    max spawns per method per round (default 300)\n"
		"  --budget   seconds per sweep point, bounds K (default 40)\n"
		"  --cpu      latency sweeps report CPU µs (parent + child), not wall time\n"
		"  --sweeps   all = every sweep but ablate (the vfork-to-nofork ladder)\n"
		"  --methods  run only these methods (ratios need vfork+execve and posix_spawn)\n"
		"  --targets  directory holding exit0 and first_insn (default: next to this program)\n"
		"methods:");
	for (size_t m = 0; m < NMETHODS; m++)
		fprintf(f, " %s", methods[m].name);
	fprintf(f, "\n");
}

static void parse_rss(const char *s)
{
	cfg.n_rss = 0;
	for (char *end; *s && cfg.n_rss < 8; s = *end ? end + 1 : end) {
		cfg.rss_gib[cfg.n_rss++] = strtod(s, &end);
		if (end == s || (*end && *end != ',')) {
			fprintf(stderr, "spawn_bench: bad --rss list\n");
			exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },  { "rounds", required_argument, NULL, 'r' },
		{ "iters", required_argument, NULL, 'k' }, { "budget", required_argument, NULL, 'b' },
		{ "rss", required_argument, NULL, 'm' }, { "sweeps", required_argument, NULL, 's' },
		{ "csv", required_argument, NULL, 'c' }, { "targets", required_argument, NULL, 't' },
		{ "cpu", no_argument, NULL, 'C' }, { "methods", required_argument, NULL, 'M' }, { "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },   { 0, 0, 0, 0 },
	};
	/* --quick first sets defaults that explicit flags may then override. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--quick")) {
			cfg.quick = true;
			cfg.rounds = 9;
			cfg.kmax = 100;
			cfg.point_s = 4.0;
			parse_rss("0,1");
		}
	const char *only = NULL;
	long only_n = 0;
	bool methods_given = false;
	for (size_t m = 0; m < NMETHODS; m++)
		method_on[m] = !methods[m].ablation;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'q': break;
		case 'r': cfg.rounds = atoi(optarg); break;
		case 'k': cfg.kmax = atoi(optarg); only_n = atol(optarg); break;
		case 'o': only = optarg; break;
		case 'C': cfg.cpu = true; break;
		case 'M':
			methods_given = true;
			for (size_t m = 0; m < NMETHODS; m++) {
				size_t l = strlen(methods[m].name);
				const char *s = optarg;
				method_on[m] = false;
				for (; (s = strstr(s, methods[m].name)); s += l)
					if ((s == optarg || s[-1] == ',') && (s[l] == ',' || !s[l]))
						method_on[m] = true;
			}
			break;
		case 'b': cfg.point_s = atof(optarg); break;
		case 'm': parse_rss(optarg); break;
		case 's': cfg.sweeps = optarg; break;
		case 'c': cfg.csv = optarg; break;
		case 't': snprintf(cfg.targets, sizeof cfg.targets, "%s", optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS || cfg.kmax < 1 || cfg.point_s <= 0) {
		fprintf(stderr, "spawn_bench: bad --rounds/--iters/--budget\n");
		return 2;
	}
	if (!cfg.targets[0]) {
		ssize_t len = readlink("/proc/self/exe", cfg.targets, sizeof cfg.targets - 1);
		if (len < 0) {
			perror("readlink /proc/self/exe");
			return 1;
		}
		cfg.targets[len] = 0;
		*strrchr(cfg.targets, '/') = 0;
	}

	/* Every method must see the same fd table: nothing inherited by
	 * accident, since nofork closes unlisted fds and the others would not.
	 * fd 3 is held by a placeholder so the first-instruction pipe can be
	 * put there on purpose. */
	syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
	int ph = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ph != 3) {
		dup3(ph, 3, O_CLOEXEC);
		close(ph);
	}

	char exit0[PATH_MAX + 16], first[PATH_MAX + 16];
	snprintf(exit0, sizeof exit0, "%s/exit0", cfg.targets);
	snprintf(first, sizeof first, "%s/first_insn", cfg.targets);
	if (access(exit0, X_OK) || access(first, X_OK)) {
		fprintf(stderr, "spawn_bench: targets not found in %s (use --targets)\n", cfg.targets);
		return 1;
	}
	char **env10 = make_env(10), **env500 = make_env(500);
	struct target t_static = { exit0, exit0_argv, env10, false };
	struct target t_dynamic = { "/bin/true", true_argv, env10, false };
	struct target t_env500 = { exit0, exit0_argv, env500, false };
	struct target t_first = { first, first_argv, env10, true };

	if (only)
		return only_loop(only, &t_static, only_n > 0 ? only_n : 2000);

	printf("## spawn_bench: %s µs per spawn+wait (median of %d rounds; min-max over rounds)\n\n",
	       cfg.cpu ? "CPU (user+sys of parent and child)" : "wall-clock", cfg.rounds);
	if (cfg.cpu)
		printf("CPU mode: the rss/target/env/ablate tables are CPU time; first and threads stay wall time.\n");
	printf("Each round runs every method K times (K <= %d, fewer when a method is slow) in an order rotated per round; "
	       "%.0f s budget per point.%s\n", cfg.kmax, cfg.point_s, cfg.quick ? " Quick mode." : "");
	print_load("Start");
	fflush(stdout);

	if (want("rss")) {
		for (int i = 0; i < cfg.n_rss; i++) {
			size_t len = (size_t)(cfg.rss_gib[i] * GIB);
			char label[32];
			snprintf(label, sizeof label, "%g GiB", cfg.rss_gib[i]);
			double t0 = now_s();
			void *b = ballast(len);
			if (len)
				fprintf(stderr, "  touched %s in %.1f s\n", label, now_s() - t0);
			run_point(&(struct point){ "rss", label, &t_static, 0, false, -1 });
			if (b)
				munmap(b, len);
		}
		print_table("rss", "Parent RSS (touched anonymous memory), static target");
	}
	if (want("target")) {
		run_point(&(struct point){ "target", "static", &t_static, 0, false, -1 });
		run_point(&(struct point){ "target", "dynamic /bin/true", &t_dynamic, 0, false, -1 });
		print_table("target", "Target: static asm exit vs dynamic /bin/true");
	}
	if (want("env")) {
		run_point(&(struct point){ "env", "10 vars", &t_static, 0, false, -1 });
		run_point(&(struct point){ "env", "500 vars", &t_env500, 0, false, -1 });
		print_table("env", "Environment size, static target");
	}
	if (want("fds")) {
		/* A server's sockets: many fds, all close-on-exec. Every method
		 * but nofork has the kernel copy the whole table into the child
		 * and close it again at exec; nofork's child shares it and
		 * unshares only fds 0-2 (compat inherits every fd, as
		 * posix_spawn must, so it pays like posix_spawn). */
		char label[40];
		snprintf(label, sizeof label, "%d fds", open_fds());
		run_point(&(struct point){ "fds", label, &t_static, 0, false, -1 });
		struct rlimit rl;
		int want_n = FDS_MANY;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want_n + 64)
			want_n = rl.rlim_cur > 64 ? (int)rl.rlim_cur - 64 : 0;
		/* Kept in a list: the runtime's fds may lie among them. */
		int *fds = malloc(sizeof(int) * (size_t)(want_n > 0 ? want_n : 1)), n = 0;
		for (; fds && n < want_n; n++)
			if ((fds[n] = fcntl(3, F_DUPFD_CLOEXEC, 4)) < 0)
				break;
		snprintf(label, sizeof label, "%d fds", open_fds());
		run_point(&(struct point){ "fds", label, &t_static, 0, false, -1 });
		for (int i = 0; i < n; i++)
			close(fds[i]);
		free(fds);
		print_table("fds", "Open fds in the parent (close-on-exec), static target");
	}
	if (want("first")) {
		int pfd[2];
		if (pipe2(pfd, O_CLOEXEC) || dup2(pfd[1], 3) != 3) {
			perror("first-instruction pipe");
			return 1;
		}
		close(pfd[1]);
		run_point(&(struct point){ "first", "spawn -> first insn", &t_first, 0, false, pfd[0] });
		close(pfd[0]);
		fcntl(3, F_SETFD, FD_CLOEXEC); /* back to a placeholder nobody inherits */
		print_table("first", "Time from the spawn call to the child's first instruction (µs)");
	}
	if (want("threads")) {
		run_point(&(struct point){ "threads", "1 thread", &t_static, 1, false, -1 });
		run_point(&(struct point){ "threads", "2 threads", &t_static, 2, false, -1 });
		run_point(&(struct point){ "threads", "1 thread + faulter", &t_static, 1, true, -1 });
		run_point(&(struct point){ "threads", "2 threads + faulter", &t_static, 2, true, -1 });
		print_table("threads", "Spawning threads (throughput, spawns/s), with and without a page-faulting thread; "
			    "nofork/coroutine: as many coroutines, on a worker per CPU");
	}
	if (want("ablate")) {
		/* The ladder between vfork and nofork; fork is left out (it
		 * only adds time), the references stay for the ratios. */
		if (!methods_given)
			for (size_t m = 0; m < NMETHODS; m++)
				method_on[m] = strcmp(methods[m].name, "fork+execve") != 0;
		run_point(&(struct point){ "ablate", "static", &t_static, 0, false, -1 });
		print_table("ablate", "Ablation: nofork's ingredients added to a raw clone3 one at a time (static target)");
	}
	headline();
	printf("\n");
	print_load("End");
	write_csv();
	if (rt_started == 0)
		nf_rt_stop();
	return 0;
}
