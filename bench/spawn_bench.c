/* spawn_bench: what one spawn+wait costs, per method, under several conditions.
 *
 * Method (bench/README.md): every sweep point runs all methods inside this
 * one process in interleaved rounds. Round r runs the methods in an order
 * rotated by r, each K times back to back, and records the mean per spawn of
 * that round. A row reports the median over rounds and the min-max of the
 * round values, so slow drift of a shared 2-core machine hits every method
 * alike and a single bad round cannot move the median. Each method is warmed
 * up before a point's first round; the warm-up also sizes K so that a point
 * stays within its time budget (fork with 8 GiB touched is ~1000x slower than
 * vfork and would otherwise dominate the run).
 *
 * The program is three files: the methods (spawn_methods.c: each way of
 * spawning, behind one interface), the harness shared with coro_bench and
 * rt_bench (harness.c: rounds, statistics, tables, CSV), and this one: the
 * sweeps (which points run which methods on which target), the headline and
 * main.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "spawn_methods.h"

extern char **environ;

#define GIB (1024.0 * 1024.0 * 1024.0)
#define FDS_MANY 10000 /* fds opened for the "fds" sweep */
#define MAX_METHODS 32

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
	bool methods_given; /* --methods */
	const char *only;   /* --only METHOD */
	long only_n;
} cfg = {
	.rounds = 31, .kmax = 300, .point_s = 40.0,
	.rss_gib = { 0, 1, 4, 8 }, .n_rss = 4,
	.csv = "results.csv", .sweeps = "all",
};

static bool method_on[MAX_METHODS]; /* --methods; by default all but those of one sweep (struct method) */

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

/* ---- one sweep point -------------------------------------------------------- */

struct point {
	const char *sweep;
	const char *label;
	const struct target *t;
	int threads;      /* 0: latency on this thread; n: throughput of n threads */
	bool faulter;
	int first_fd;     /* >= 0: read the child's timestamp from this pipe */
};

/* The harness's view of the methods switched on at a point. */
struct active {
	int m[MAX_METHODS];
	struct load load;
};

static int active_open(void *arg, int j, void **run)
{
	struct active *a = arg;
	return method_open(a->m[j], &a->load, (struct method_run **)run);
}

static int active_batch(void *arg, void *run, long k, bool single, double *value)
{
	(void)arg;
	return method_batch(run, k, single, value);
}

static void active_close(void *arg, void *run)
{
	(void)arg;
	method_close(run);
}

static void run_point(const struct point *p)
{
	struct active a = { .load = { p->t, p->threads, p->first_fd, cfg.cpu } };
	const char *names[MAX_METHODS];
	int n = 0;
	for (int m = 0; m < n_methods; m++)
		if (method_on[m]) {
			names[n] = methods[m].name;
			a.m[n++] = m;
		}
	struct hn_contenders c = { n, names, active_open, active_batch, active_close, &a };
	struct hn_budget b = { cfg.rounds, cfg.kmax, cfg.point_s, p->threads ? p->threads : 1 };

	fprintf(stderr, "  %s / %s ...", p->sweep, p->label);
	pthread_t ft;
	if (p->faulter) {
		atomic_store(&fault_stop, false);
		atomic_store(&fault_pages, 0);
		pthread_create(&ft, NULL, faulter, NULL);
	}
	double dt = hn_run_point(p->sweep, p->label, p->threads > 0, &b, &c);
	if (p->faulter) {
		atomic_store(&fault_stop, true);
		pthread_join(ft, NULL);
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
	for (int m = 0; m < n_methods; m++) {
		if (strcmp(methods[m].name, name))
			continue;
		struct method_run *r;
		struct load l = { .t = t, .first_fd = -1 };
		double v;
		int e = method_open(m, &l, &r);
		if (!e) /* warm-up */
			e = method_batch(r, 20, true, &v);
		double t0 = hn_now_s();
		if (!e)
			e = method_batch(r, n, true, &v);
		double dt = hn_now_s() - t0;
		if (r)
			method_close(r);
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

/* ---- what the sweeps vary --------------------------------------------------- */

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

static char *const exit0_argv[] = { "exit0", NULL };
static char *const first_argv[] = { "first_insn", NULL };
static char *const true_argv[] = { "true", NULL };

/* The targets, filled in by main from --targets. */
static struct target t_static, t_dynamic, t_env500, t_env200, t_first;

/* ---- the sweeps --------------------------------------------------------------- */

/* A latency point on the static target. */
#define POINT(sweep, label) (&(struct point){ sweep, label, &t_static, 0, false, -1 })

static int sweep_rss(void)
{
	for (int i = 0; i < cfg.n_rss; i++) {
		size_t len = (size_t)(cfg.rss_gib[i] * GIB);
		char label[32];
		snprintf(label, sizeof label, "%g GiB", cfg.rss_gib[i]);
		double t0 = hn_now_s();
		void *b = ballast(len);
		if (len)
			fprintf(stderr, "  touched %s in %.1f s\n", label, hn_now_s() - t0);
		run_point(POINT("rss", label));
		if (b)
			munmap(b, len);
	}
	return 0;
}

static int sweep_target(void)
{
	run_point(POINT("target", "static"));
	run_point(&(struct point){ "target", "dynamic /bin/true", &t_dynamic, 0, false, -1 });
	return 0;
}

static int sweep_env(void)
{
	run_point(POINT("env", "10 vars"));
	run_point(&(struct point){ "env", "500 vars", &t_env500, 0, false, -1 });
	return 0;
}

/* Up to FDS_MANY more close-on-exec fds (fewer under RLIMIT_NOFILE's hard
 * limit), listed in *fds; returns how many. */
static int open_many_fds(int **fds)
{
	struct rlimit rl;
	int want_n = FDS_MANY;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want_n + 64)
		want_n = rl.rlim_cur > 64 ? (int)rl.rlim_cur - 64 : 0;
	/* Kept in a list: the runtime's fds may lie among them. */
	int n = 0;
	*fds = malloc(sizeof(int) * (size_t)(want_n > 0 ? want_n : 1));
	for (; *fds && n < want_n; n++)
		if (((*fds)[n] = fcntl(3, F_DUPFD_CLOEXEC, 4)) < 0)
			break;
	return n;
}

/* A server's sockets: many fds, all close-on-exec. Every method but nofork
 * has the kernel copy the whole table into the child and close it again at
 * exec; nofork's child shares it and unshares only fds 0-2 (compat inherits
 * every fd, as posix_spawn must, so it pays like posix_spawn). */
static int sweep_fds(void)
{
	char label[40];
	snprintf(label, sizeof label, "%d fds", open_fds());
	run_point(POINT("fds", label));
	int *fds, n = open_many_fds(&fds);
	snprintf(label, sizeof label, "%d fds", open_fds());
	run_point(POINT("fds", label));
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

static int sweep_first(void)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) || dup2(pfd[1], 3) != 3) {
		perror("first-instruction pipe");
		return 1;
	}
	close(pfd[1]);
	run_point(&(struct point){ "first", "spawn -> first insn", &t_first, 0, false, pfd[0] });
	close(pfd[0]);
	fcntl(3, F_SETFD, FD_CLOEXEC); /* back to a placeholder nobody inherits */
	return 0;
}

static int sweep_threads(void)
{
	run_point(&(struct point){ "threads", "1 thread", &t_static, 1, false, -1 });
	run_point(&(struct point){ "threads", "2 threads", &t_static, 2, false, -1 });
	run_point(&(struct point){ "threads", "1 thread + faulter", &t_static, 1, true, -1 });
	run_point(&(struct point){ "threads", "2 threads + faulter", &t_static, 2, true, -1 });
	return 0;
}

/* The ladder between vfork and nofork; fork is left out (it only adds
 * time), the references stay for the ratios. */
static int sweep_ablate(void)
{
	if (!cfg.methods_given)
		for (int m = 0; m < n_methods; m++)
			method_on[m] = strcmp(methods[m].name, "fork+execve") != 0 &&
				       (!methods[m].sweep || !strcmp(methods[m].sweep, "ablate"));
	run_point(POINT("ablate", "static"));
	return 0;
}

/* Environment edits on the live environ: for this point environ is the
 * target's 200 variables, which vfork, posix_spawn and nofork pass as
 * their envp; nofork/environ spawns a cmd with envp NULL, nofork/env-edit
 * the same with 3 edits, which each spawn merges into environ. Their
 * per-round ratio is the cost of the edits. */
static struct hn_stats envedit_ratio = { NAN, NAN, NAN };

static int sweep_envedit(void)
{
	bool saved[MAX_METHODS];
	memcpy(saved, method_on, sizeof saved);
	if (!cfg.methods_given)
		for (int m = 0; m < n_methods; m++)
			method_on[m] = methods[m].sweep ? !strcmp(methods[m].sweep, "envedit")
							: !strcmp(methods[m].name, REF_VFORK) ||
								  !strcmp(methods[m].name, REF_POSIX_SPAWN) ||
								  !strcmp(methods[m].name, "nofork");
	char **env = environ;
	environ = (char **)t_env200.envp;
	run_point(&(struct point){ "envedit", "200 vars", &t_env200, 0, false, -1 });
	environ = env;
	envedit_ratio = hn_last_ratio("nofork/env-edit", "nofork/environ");
	memcpy(method_on, saved, sizeof saved);
	return 0;
}

/* Which sweeps run, in this order, and the title of each one's table.
 * "all" is every sweep with in_all. */
static const struct sweep {
	const char *name;
	int (*run)(void); /* 0, or main's exit status */
	const char *title;
	bool in_all;
} sweeps[] = {
	{ "rss", sweep_rss, "Parent RSS (touched anonymous memory), static target", true },
	{ "target", sweep_target, "Target: static asm exit vs dynamic /bin/true", true },
	{ "env", sweep_env, "Environment size, static target", true },
	{ "envedit", sweep_envedit, "Environment edits (3) on the live environ of 200 variables, static target", true },
	{ "fds", sweep_fds, "Open fds in the parent (close-on-exec), static target", true },
	{ "first", sweep_first, "Time from the spawn call to the child's first instruction (µs)", true },
	{ "threads", sweep_threads, "Spawning threads (throughput, spawns/s), with and without a page-faulting thread; "
				    "nofork/coroutine: as many coroutines, on a worker per CPU", true },
	{ "ablate", sweep_ablate, "Ablation: nofork's ingredients added to a raw clone3 one at a time (static target)", false },
};

/* Whether name is in a comma-separated list. */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *s = list; (s = strstr(s, name)); s += n)
		if ((s == list || s[-1] == ',') && (s[n] == ',' || s[n] == 0))
			return true;
	return false;
}

static bool want(const struct sweep *s)
{
	return strcmp(cfg.sweeps, "all") ? in_list(cfg.sweeps, s->name) : s->in_all;
}

/* ---- the headline --------------------------------------------------------------- */

/* nofork-like method m over vfork at the highest RSS point, divided by the
 * same at the lowest. The RSS points run minutes apart, so drift between
 * them is not cancelled; vfork's cost does not depend on RSS (it shares the
 * mm), so dividing by it at each point removes the drift. */
static double rss_drift_free(const char *m, const char *hi, const char *lo)
{
	double n_hi = hn_ratio(hn_find_row("rss", hi, m), hn_find_row("rss", hi, REF_VFORK));
	double n_lo = hn_ratio(hn_find_row("rss", lo, m), hn_find_row("rss", lo, REF_VFORK));
	return n_hi / n_lo;
}

static void headline(void)
{
	printf("\n### Headline ratios (medians)\n\n");
	const struct hn_row *nf = hn_find_row("target", "static", "nofork");
	const struct hn_row *vf = hn_find_row("target", "static", REF_VFORK);
	const struct hn_row *ps = hn_find_row("target", "static", REF_POSIX_SPAWN);
	char a[16], b[16];
	hn_fmt_ratio(a, sizeof a, hn_ratio(nf, vf));
	hn_fmt_ratio(b, sizeof b, hn_ratio(nf, ps));
	printf("- static target, spawn+wait: nofork/vfork = %s (target <= 1.00), nofork/posix_spawn = %s (target <= 0.80)\n", a, b);
	char lo[32], hi[32];
	snprintf(lo, sizeof lo, "%g GiB", cfg.rss_gib[0]);
	snprintf(hi, sizeof hi, "%g GiB", cfg.rss_gib[cfg.n_rss - 1]);
	hn_fmt_ratio(a, sizeof a, hn_ratio(hn_find_row("rss", hi, "nofork"), hn_find_row("rss", lo, "nofork")));
	hn_fmt_ratio(b, sizeof b, rss_drift_free("nofork", hi, lo));
	printf("- nofork at %s vs %s parent RSS: %s raw; %s with each point divided by vfork's (drift-free) (target <= 1.05 for 8 vs 0 GiB)\n",
	       hi, lo, a, b);
	hn_fmt_ratio(a, sizeof a, hn_ratio(hn_find_row("threads", "2 threads + faulter", "nofork"),
					   hn_find_row("threads", "2 threads + faulter", REF_POSIX_SPAWN)));
	printf("- 2 spawning threads + 1 faulting thread, throughput nofork/posix_spawn: %s (target >= 1.2)\n", a);
	hn_fmt_ratio(a, sizeof a, hn_ratio(hn_find_row("target", "static", "nofork/coroutine"), vf));
	hn_fmt_ratio(b, sizeof b, rss_drift_free("nofork/coroutine", hi, lo));
	printf("- from one coroutine (no target): nofork/coroutine / vfork = %s, static; %s vs %s parent RSS, drift-free: %s\n", a,
	       hi, lo, b);
	char mn[16], mx[16];
	hn_fmt_ratio(a, sizeof a, envedit_ratio.med);
	hn_fmt_ratio(mn, sizeof mn, envedit_ratio.min);
	hn_fmt_ratio(mx, sizeof mx, envedit_ratio.max);
	hn_fmt_ratio(b, sizeof b, hn_ratio(hn_find_row("envedit", "200 vars", "nofork/env-edit"),
					   hn_find_row("envedit", "200 vars", "nofork/environ")));
	printf("- 3 environment edits on a live 200-variable environ: nofork/env-edit / nofork/environ = %s "
	       "(median of per-round ratios, range %s-%s; ratio of medians %s) (target <= 1.02)\n", a, mn, mx, b);
}

/* ---- command line ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spawn_bench [--quick] [--rounds N] [--iters K] [--budget S]\n"
		"                   [--rss 0,1,4,8] [--sweeps all|rss,target,env,envedit,fds,first,threads,ablate]\n"
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
	for (int m = 0; m < n_methods; m++)
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

/* Fills cfg and method_on from the command line; returns -1 to go on, else
 * main's exit status (--help, a bad flag). */
static int parse_args(int argc, char **argv)
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
	for (int m = 0; m < n_methods; m++)
		method_on[m] = !methods[m].sweep;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'q': break;
		case 'r': cfg.rounds = atoi(optarg); break;
		case 'k': cfg.kmax = atoi(optarg); cfg.only_n = atol(optarg); break;
		case 'o': cfg.only = optarg; break;
		case 'C': cfg.cpu = true; break;
		case 'M':
			cfg.methods_given = true;
			for (int m = 0; m < n_methods; m++)
				method_on[m] = in_list(optarg, methods[m].name);
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
	if (cfg.rounds < 1 || cfg.rounds > HN_MAX_ROUNDS || cfg.kmax < 1 || cfg.point_s <= 0) {
		fprintf(stderr, "spawn_bench: bad --rounds/--iters/--budget\n");
		return 2;
	}
	return -1;
}

/* Every method must see the same fd table: nothing inherited by accident,
 * since nofork closes unlisted fds and the others would not. fd 3 is held by
 * a placeholder so the first-instruction pipe can be put there on purpose. */
static void isolate_fds(void)
{
	syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
	int ph = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ph != 3) {
		dup3(ph, 3, O_CLOEXEC);
		close(ph);
	}
}

/* The targets from --targets (default: this program's directory): 0, or
 * main's exit status. */
static int find_targets(void)
{
	static char exit0[PATH_MAX + 16], first[PATH_MAX + 16];
	if (!cfg.targets[0]) {
		ssize_t len = readlink("/proc/self/exe", cfg.targets, sizeof cfg.targets - 1);
		if (len < 0) {
			perror("readlink /proc/self/exe");
			return 1;
		}
		cfg.targets[len] = 0;
		*strrchr(cfg.targets, '/') = 0;
	}
	snprintf(exit0, sizeof exit0, "%s/exit0", cfg.targets);
	snprintf(first, sizeof first, "%s/first_insn", cfg.targets);
	if (access(exit0, X_OK) || access(first, X_OK)) {
		fprintf(stderr, "spawn_bench: targets not found in %s (use --targets)\n", cfg.targets);
		return 1;
	}
	char **env10 = make_env(10), **env500 = make_env(500);
	t_static = (struct target){ exit0, exit0_argv, env10, false };
	t_dynamic = (struct target){ "/bin/true", true_argv, env10, false };
	t_env500 = (struct target){ exit0, exit0_argv, env500, false };
	t_env200 = (struct target){ exit0, exit0_argv, make_env(200), false };
	t_first = (struct target){ first, first_argv, env10, true };
	return 0;
}

static void print_intro(void)
{
	printf("## spawn_bench: %s µs per spawn+wait (median of %d rounds; min-max over rounds)\n\n",
	       cfg.cpu ? "CPU (user+sys of parent and child)" : "wall-clock", cfg.rounds);
	if (cfg.cpu)
		printf("CPU mode: the rss/target/env/ablate tables are CPU time; first and threads stay wall time.\n");
	printf("Each round runs every method K times (K <= %d, fewer when a method is slow) in an order rotated per round; "
	       "%.0f s budget per point.%s\n", cfg.kmax, cfg.point_s, cfg.quick ? " Quick mode." : "");
	hn_print_load("Start");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int rc = parse_args(argc, argv);
	if (rc >= 0)
		return rc;
	isolate_fds();
	if ((rc = find_targets()))
		return rc;
	if (cfg.only)
		return only_loop(cfg.only, &t_static, cfg.only_n > 0 ? cfg.only_n : 2000);
	hn_refs[0] = (struct hn_ref){ REF_VFORK, "vfork" };
	hn_refs[1] = (struct hn_ref){ REF_POSIX_SPAWN, "posix_spawn" };

	print_intro();
	for (size_t i = 0; i < sizeof sweeps / sizeof sweeps[0]; i++) {
		if (!want(&sweeps[i]))
			continue;
		if ((rc = sweeps[i].run()))
			return rc;
		hn_print_table(sweeps[i].name, sweeps[i].title);
	}
	headline();
	printf("\n");
	hn_print_load("End");
	hn_write_csv(cfg.csv);
	methods_shutdown();
	return 0;
}
