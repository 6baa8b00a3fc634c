/* rt_bench: what the M:N runtime's primitives cost.
 *
 *  1. One-way context switch: ctx_switch vs swapcontext (ucontext), both
 *     ping-ponging between the main context and one coroutine on one thread.
 *  2. nf_yield round trip through the scheduler (1 worker, 2 coroutines).
 *  3. Create+join: nf_go of an empty coroutine and waiting for it with a wait
 *     group (batches of 1000, from a coroutine), with 1 and 2 workers, vs
 *     pthread_create+pthread_join.
 *  4. 100k live coroutines parked on a wait group: RSS, mappings, time to
 *     create them; and how many stacks would fit with PROT_NONE guard pages.
 *
 * Method (bench/README.md): rounds interleave the methods in one process;
 * each row is the median over rounds (with min-max). Usage: rt_bench [rounds]
 * [live-coroutines].
 */
#include <nofork.h>

#include "harness.h"
#include "rt/rt.h"
#include "stack_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

struct series {
	const char *name;
	double v[HN_MAX_ROUNDS];
	int n;
};

static void row(struct series *s, const char *unit)
{
	struct hn_stats st = hn_stats(s->v, s->n);
	printf("| %-34s | %10.2f | %10.2f - %-10.2f | %s |\n", s->name, st.med, st.min, st.max, unit);
}

/* ---- 1. raw switch ------------------------------------------------------- */

static void *main_sp, *co_sp;

static void bounce(void *arg)
{
	(void)arg;
	for (;;)
		ctx_switch(&co_sp, main_sp);
}

static double switch_nf(long iters)
{
	double t = hn_now_ns();
	for (long i = 0; i < iters; i++)
		ctx_switch(&main_sp, co_sp);
	return (hn_now_ns() - t) / (2.0 * (double)iters);
}

static ucontext_t uc_main, uc_co;

static void ubounce(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

/* Separate function: getcontext returns twice, which must not clobber main's locals. */
static __attribute__((noinline)) void make_ucontext(void)
{
	static char ustack[64 * 1024];
	getcontext(&uc_co);
	uc_co.uc_stack.ss_sp = ustack;
	uc_co.uc_stack.ss_size = sizeof ustack;
	uc_co.uc_link = NULL;
	makecontext(&uc_co, ubounce, 0);
}

static double switch_uc(long iters)
{
	double t = hn_now_ns();
	for (long i = 0; i < iters; i++)
		swapcontext(&uc_main, &uc_co);
	return (hn_now_ns() - t) / (2.0 * (double)iters);
}

/* ---- 2. yield through the scheduler ------------------------------------- */

static long yield_iters;
static double yield_ns;

static void yielder(void *arg)
{
	nf_wg *wg = arg;
	for (long i = 0; i < yield_iters; i++)
		nf_yield();
	nf_wg_done(wg);
}

static void yield_driver(void *arg)
{
	(void)arg;
	nf_wg wg = NF_WG_INIT;
	nf_wg_add(&wg, 2);
	double t = hn_now_ns();
	nf_go(yielder, &wg);
	nf_go(yielder, &wg);
	nf_wg_wait(&wg);
	yield_ns = (hn_now_ns() - t) / (2.0 * (double)yield_iters);
}

/* ---- 3. create + join ---------------------------------------------------- */

static long cj_batches;
static double cj_ns;
static int cj_err;

static void empty(void *arg) { nf_wg_done(arg); }

static void cj_driver(void *arg)
{
	(void)arg;
	nf_wg wg = NF_WG_INIT;
	double t = hn_now_ns();
	for (long b = 0; b < cj_batches; b++) {
		nf_wg_add(&wg, 1000);
		for (int i = 0; i < 1000; i++) {
			int e = nf_go(empty, &wg);
			if (e) {
				cj_err = e;
				nf_wg_done(&wg);
			}
		}
		nf_wg_wait(&wg);
	}
	cj_ns = (hn_now_ns() - t) / (1000.0 * (double)cj_batches);
}

static double run_in_rt(int workers, void (*fn)(void *), double *out)
{
	if (nf_rt_start(workers) || nf_go(fn, NULL)) {
		fprintf(stderr, "rt_bench: cannot start the runtime\n");
		exit(1);
	}
	nf_rt_stop();
	return *out;
}

static void *pthread_empty(void *arg) { return arg; }

static double create_join_pthread(int n)
{
	double t = hn_now_ns();
	for (int i = 0; i < n; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, pthread_empty, NULL))
			return -1;
		pthread_join(th, NULL);
	}
	return (hn_now_ns() - t) / n;
}

/* ---- 4. many live coroutines ---------------------------------------------- */

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static nf_wg gate = NF_WG_INIT;

static void parked(void *arg)
{
	(void)arg;
	nf_wg_wait(&gate);
}

static void live_coroutines(long n)
{
	long rss0 = rss_kib(), maps0 = count_maps();
	unsigned mapped0 = stack_mapped();
	if (nf_rt_start(0))
		exit(1);
	nf_wg_add(&gate, 1);
	long made = 0;
	int err = 0;
	double t = hn_now_ns();
	for (; made < n; made++)
		if ((err = nf_go(parked, NULL)))
			break;
	double create_ns = (hn_now_ns() - t) / (double)(made ? made : 1);
	/* Let every one of them run up to its park. */
	for (int i = 0; i < 200; i++) {
		struct rt_stats st;
		rt_stats(&st);
		if (st.switches >= (uint64_t)made)
			break;
		usleep(10000);
	}
	long rss1 = rss_kib(), maps1 = count_maps();
	printf("\n### %ld live coroutines (parked on a wait group)\n\n", n);
	printf("| measure | value |\n|---|---|\n");
	printf("| coroutines started | %ld%s%s |\n", made, err ? ", then nf_go: " : "", err ? strerror(err) : "");
	printf("| nf_go from a plain thread (new stacks), mean | %.0f ns |\n", create_ns);
	printf("| RSS before / with them | %.1f MiB / %.1f MiB |\n", rss0 / 1024.0, rss1 / 1024.0);
	printf("| RSS per live coroutine | %.2f KiB |\n", made ? (double)(rss1 - rss0) / (double)made : 0.0);
	printf("| stacks mapped (64 KiB + guard each) | %u |\n", stack_mapped() - mapped0);
	printf("| mappings in /proc/self/maps before / with them | %ld / %ld (vm.max_map_count %ld) |\n", maps0,
	       maps1, max_map_count());
	nf_wg_done(&gate);
	t = hn_now_ns();
	nf_rt_stop();
	printf("| release all + nf_rt_stop | %.1f ms |\n", (hn_now_ns() - t) / 1e6);
	/* Again with every stack already pooled and faulted in: what is left is
	 * the runtime's own cost (the first pass is mostly the kernel's
	 * first-touch page fault of each new stack). */
	if (nf_rt_start(0))
		exit(1);
	nf_wg_add(&gate, 1);
	t = hn_now_ns();
	for (made = 0; made < n; made++)
		if (nf_go(parked, NULL))
			break;
	printf("| again with pooled stacks: nf_go from a plain thread, mean | %.0f ns |\n",
	       (hn_now_ns() - t) / (double)(made ? made : 1));
	nf_wg_done(&gate);
	nf_rt_stop();
}

/* How many stacks fit under vm.max_map_count with a PROT_NONE guard page
 * each (two VMAs per stack: the pool's fallback on kernels without
 * MADV_GUARD_INSTALL), for comparison with the guard regions it uses. */
static void prot_none_limit(long want)
{
	size_t size = NF_STACK_DEFAULT, guard = (size_t)sysconf(_SC_PAGESIZE);
	char **maps = calloc((size_t)want, sizeof *maps);
	long n = 0;
	int err = 0;
	for (; maps && n < want; n++) {
		char *p = mmap(NULL, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		               -1, 0);
		if (p == MAP_FAILED) {
			err = errno;
			break;
		}
		maps[n] = p;
		if (mprotect(p, guard, PROT_NONE)) {
			err = errno;
			munmap(p, size + guard);
			break;
		}
	}
	printf("| stacks with a PROT_NONE guard page instead (fallback) | %ld of %ld%s%s |\n", n, want,
	       err ? ", then " : "", err ? strerror(err) : "");
	for (long i = 0; i < n; i++)
		munmap(maps[i], size + guard);
	free(maps);
}

/* ---- driver ---------------------------------------------------------------- */

static struct series s_nf = {"switch: ctx_switch", {0}, 0}, s_uc = {"switch: swapcontext", {0}, 0},
		     s_ratio = {"switch: swapcontext / ctx_switch", {0}, 0},
		     s_yield = {"nf_yield round trip (1 worker), per yield", {0}, 0},
		     s_cj1 = {"create+join, 1 worker", {0}, 0}, s_cj2 = {"create+join, 2 workers", {0}, 0},
		     s_pt = {"create+join, pthread", {0}, 0};

/* Measure j of one round (hn_interleave's callback). */
static void one_round(void *arg, int round, int j)
{
	(void)arg;
	(void)round;
	switch (j) {
	case 0:
		s_nf.v[s_nf.n++] = switch_nf(2000000);
		break;
	case 1:
		s_uc.v[s_uc.n++] = switch_uc(200000);
		break;
	case 2:
		s_yield.v[s_yield.n++] = run_in_rt(1, yield_driver, &yield_ns);
		break;
	case 3:
		s_cj1.v[s_cj1.n++] = run_in_rt(1, cj_driver, &cj_ns);
		s_cj2.v[s_cj2.n++] = run_in_rt(2, cj_driver, &cj_ns);
		break;
	case 4:
		s_pt.v[s_pt.n++] = create_join_pthread(2000);
		break;
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 15;
	long live = argc > 2 ? atol(argv[2]) : 100000;
	if (rounds < 1 || rounds > HN_MAX_ROUNDS)
		rounds = 15;

	nf_stack *st;
	if (stack_get(NF_STACK_DEFAULT, &st))
		return 1;
	co_sp = ctx_init(stack_top(st), bounce, NULL, ctx_fpmodes());
	make_ucontext();

	/* Warm-up: fault in stacks, settle the CPU frequency. */
	switch_nf(200000);
	switch_uc(20000);
	yield_iters = 100000;
	cj_batches = 100;
	run_in_rt(1, yield_driver, &yield_ns);
	run_in_rt(1, cj_driver, &cj_ns);

	/* Rotate the order so drift hits every method alike. */
	hn_interleave(rounds, 5, one_round, NULL);
	for (int r = 0; r < rounds; r++)
		s_ratio.v[s_ratio.n++] = s_uc.v[r] / s_nf.v[r];
	if (cj_err)
		fprintf(stderr, "rt_bench: nf_go failed: %s\n", strerror(cj_err));

	printf("### rt_bench: %d interleaved rounds, medians\n\n", rounds);
	printf("| measure | median | min - max | unit |\n|---|---|---|---|\n");
	row(&s_nf, "ns one-way");
	row(&s_uc, "ns one-way");
	row(&s_ratio, "x");
	row(&s_yield, "ns");
	row(&s_cj1, "ns per coroutine");
	row(&s_cj2, "ns per coroutine");
	row(&s_pt, "ns per thread");
	if (live > 0) {
		live_coroutines(live);
		prot_none_limit(live);
	}
	return 0;
}
