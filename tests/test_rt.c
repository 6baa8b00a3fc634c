/* The M:N runtime: scheduling, stealing, timers, fd waits, stop, wait groups,
 * and the API from plain threads. Each test runs in its own forked process
 * (Check's default), so each starts a fresh runtime. */
#include "kit.h"

#include <nofork.h>

#include "arch_abi.h" /* nf_fp_control */
#include "rt/rt.h"
#include "stack_pool.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <fenv.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int64_t cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- ping-pong: 10k coroutines on 2 workers, exact sums ----------------- */

#define PAIRS 5000
#define ROUNDS 100

struct pair {
	_Atomic int turn;
	_Atomic long ball;
};
static struct pair pairs[PAIRS];
static _Atomic long sum_a, sum_b;
static _Atomic int ran_on[2];

static void note_worker(void)
{
	int w = rt_worker_index();
	if (w >= 0 && w < 2)
		atomic_fetch_add(&ran_on[w], 1);
}

static void wait_turn(struct pair *p, int t)
{
	while (atomic_load_explicit(&p->turn, memory_order_acquire) != t)
		nf_yield();
}

static void ping(void *arg)
{
	struct pair *p = arg;
	long acc = 0;
	for (long i = 1; i <= ROUNDS; i++) {
		wait_turn(p, 0);
		note_worker();
		if (i > 1)
			acc += atomic_load_explicit(&p->ball, memory_order_relaxed);
		atomic_store_explicit(&p->ball, i, memory_order_relaxed);
		atomic_store_explicit(&p->turn, 1, memory_order_release);
	}
	wait_turn(p, 0);
	acc += atomic_load_explicit(&p->ball, memory_order_relaxed);
	atomic_fetch_add(&sum_a, acc);
}

static void pong(void *arg)
{
	struct pair *p = arg;
	long acc = 0;
	for (int i = 1; i <= ROUNDS; i++) {
		wait_turn(p, 1);
		note_worker();
		long v = atomic_load_explicit(&p->ball, memory_order_relaxed);
		acc += v;
		atomic_store_explicit(&p->ball, v * 2, memory_order_relaxed);
		atomic_store_explicit(&p->turn, 0, memory_order_release);
	}
	atomic_fetch_add(&sum_b, acc);
}

START_TEST(pingpong_sums)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(nf_go(ping, &pairs[i]), 0);
		ck_assert_int_eq(nf_go(pong, &pairs[i]), 0);
	}
	nf_rt_stop();
	long r = ROUNDS;
	ck_assert_int_eq(atomic_load(&sum_b), (long)PAIRS * r * (r + 1) / 2);
	ck_assert_int_eq(atomic_load(&sum_a), (long)PAIRS * r * (r + 1));
	/* Both workers took part. */
	ck_assert_int_gt(atomic_load(&ran_on[0]), 0);
	ck_assert_int_gt(atomic_load(&ran_on[1]), 0);
}
END_TEST

/* ---- stealing --------------------------------------------------------------- */

#define CHILDREN 64
static _Atomic int children_done, parent_worker = -1, ran_elsewhere;
static struct rt_stats steal_stats;

static void blocking_child(void *arg)
{
	(void)arg;
	if (rt_worker_index() != atomic_load(&parent_worker))
		atomic_fetch_add(&ran_elsewhere, 1);
	usleep(1000); /* blocks this worker: the others must take the rest */
	atomic_fetch_add(&children_done, 1);
}

static void spawning_parent(void *arg)
{
	(void)arg;
	atomic_store(&parent_worker, rt_worker_index());
	for (int i = 0; i < CHILDREN; i++)
		ck_assert_int_eq(nf_go(blocking_child, NULL), 0);
	/* Hold this worker (no yield): the children sit in its local queue, so
	 * only a steal by the other worker lets them run. */
	int64_t end = kit_now_ms() + 10000;
	while (atomic_load(&children_done) < CHILDREN && kit_now_ms() < end)
		usleep(1000);
	rt_stats(&steal_stats);
}

START_TEST(idle_worker_steals)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	ck_assert_int_eq(nf_go(spawning_parent, NULL), 0);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&children_done), CHILDREN);
	ck_assert_int_eq(atomic_load(&ran_elsewhere), CHILDREN);
	ck_assert_uint_ge(steal_stats.steals, 1);
	ck_assert_uint_ge(steal_stats.stolen, CHILDREN / 2);
}
END_TEST

/* ---- timers ------------------------------------------------------------------ */

static const int sleep_ms_of[] = {50, 10, 40, 20, 30, 60};
#define NSLEEP (int)(sizeof sleep_ms_of / sizeof sleep_ms_of[0])
static _Atomic int order_next;
static int order[NSLEEP];               /* sleeper indexes, in wake-up order */
static int64_t deadline_ns[NSLEEP], slept_ns[NSLEEP];

/* Each sleeper's deadline is its own start plus its duration: a loaded
 * machine may start them far apart, so wake-ups must follow the deadlines
 * (the timer heap's order), not the durations, and never come early. */
static void sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t start = kit_now_ns();
	deadline_ns[i] = start + (int64_t)sleep_ms_of[i] * 1000000;
	ck_assert_int_eq(nf_sleep_ms(sleep_ms_of[i]), 0);
	slept_ns[i] = kit_now_ns() - start;
	order[atomic_fetch_add(&order_next, 1)] = i;
}

START_TEST(sleep_order)
{
	ck_assert_int_eq(nf_rt_start(1), 0);
	for (int i = 0; i < NSLEEP; i++)
		ck_assert_int_eq(nf_go(sleeper, (void *)(intptr_t)i), 0);
	nf_rt_stop();
	ck_assert_int_eq(order_next, NSLEEP);
	for (int k = 0; k < NSLEEP; k++) {
		int i = order[k];
		ck_assert_int_ge(slept_ns[i], (int64_t)sleep_ms_of[i] * 1000000);
		if (k)
			ck_assert_msg(deadline_ns[order[k - 1]] <= deadline_ns[i],
			              "woke %d ms sleeper before %d ms sleeper with an earlier deadline",
			              sleep_ms_of[order[k - 1]], sleep_ms_of[i]);
	}
}
END_TEST

/* ---- fd waits ------------------------------------------------------------------ */

struct fdtest {
	int rfd, wfd;
	_Atomic int result, woke;
	int64_t waited;
	char got;
};

static void fd_reader(void *arg)
{
	struct fdtest *t = arg;
	int64_t s = kit_now_ms();
	int r = nf_wait_fd(t->rfd, POLLIN, -1);
	t->waited = kit_now_ms() - s;
	atomic_store(&t->result, r);
	atomic_fetch_add(&t->woke, 1);
}

static void fd_writer(void *arg)
{
	struct fdtest *t = arg;
	ck_assert_int_eq(nf_sleep_ms(30), 0);
	ck_assert_int_eq(write(t->wfd, "x", 1), 1);
}

START_TEST(wait_fd_pipe)
{
	struct fdtest t = {.result = -1};
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	t.rfd = p[0], t.wfd = p[1];
	ck_assert_int_eq(nf_rt_start(2), 0);
	/* Two waiters on one fd: the second registration goes through a dup. */
	ck_assert_int_eq(nf_go(fd_reader, &t), 0);
	ck_assert_int_eq(nf_go(fd_reader, &t), 0);
	ck_assert_int_eq(nf_go(fd_writer, &t), 0);
	nf_rt_stop();
	ck_assert_int_eq(t.woke, 2);
	ck_assert_int_eq(t.result, 0);
	ck_assert_int_ge(t.waited, 25);
	char c;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	close(p[0]);
	close(p[1]);
}
END_TEST

struct timeout_test {
	int rfd, wfd;
	int r1, r2, r3, r4;
	int64_t waited, regular_waited;
};

static void fd_timeout(void *arg)
{
	struct timeout_test *t = arg;
	int64_t s = kit_now_ms();
	t->r1 = nf_wait_fd(t->rfd, POLLIN, 40);
	t->waited = kit_now_ms() - s;
	/* The timed-out registration is gone: a new wait works and sees data. */
	ck_assert_int_eq(write(t->wfd, "y", 1), 1);
	t->r2 = nf_wait_fd(t->rfd, POLLIN, 1000);
	t->r3 = nf_wait_fd(-1, POLLIN, 10);
	/* epoll refuses regular files (EPERM); poll calls them always ready. */
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	s = kit_now_ms();
	t->r4 = nf_wait_fd(fileno(f), POLLIN, 5000);
	t->regular_waited = kit_now_ms() - s;
	fclose(f);
}

START_TEST(wait_fd_timeout)
{
	struct timeout_test t = {.r1 = -1, .r2 = -1, .r3 = -1, .r4 = -1};
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	t.rfd = p[0], t.wfd = p[1];
	ck_assert_int_eq(nf_rt_start(2), 0);
	ck_assert_int_eq(nf_go(fd_timeout, &t), 0);
	nf_rt_stop();
	ck_assert_int_eq(t.r1, ETIMEDOUT);
	ck_assert_int_ge(t.waited, 40);
	ck_assert_int_eq(t.r2, 0);
	ck_assert_int_eq(t.r3, EBADF);
	ck_assert_int_eq(t.r4, 0);
	ck_assert_int_lt(t.regular_waited, 2500);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Parked coroutines cost no CPU: 100 blocked on fds or timers, workers idle. */
#define NBLOCKED 50
static int blk_pipe[2];
static _Atomic int blk_done;

static void blocked_on_fd(void *arg)
{
	(void)arg;
	ck_assert_int_eq(nf_wait_fd(blk_pipe[0], POLLIN, -1), 0);
	atomic_fetch_add(&blk_done, 1);
}

static void blocked_on_timer(void *arg)
{
	(void)arg;
	ck_assert_int_eq(nf_sleep_ms(400), 0);
	atomic_fetch_add(&blk_done, 1);
}

START_TEST(parked_costs_no_cpu)
{
	ck_assert_int_eq(pipe(blk_pipe), 0);
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int i = 0; i < NBLOCKED; i++) {
		ck_assert_int_eq(nf_go(blocked_on_fd, NULL), 0);
		ck_assert_int_eq(nf_go(blocked_on_timer, NULL), 0);
	}
	usleep(50000); /* let them all park */
	int64_t c0 = cpu_ms(), w0 = kit_now_ms();
	usleep(250000);
	int64_t used = cpu_ms() - c0, wall = kit_now_ms() - w0;
	ck_assert_int_eq(atomic_load(&blk_done), 0);
	/* Spinning workers would burn ~2x wall time; parked ones burn ~0. */
	ck_assert_msg(used * 10 < wall, "idle runtime used %lld ms CPU in %lld ms", (long long)used,
	              (long long)wall);
	ck_assert_int_eq(write(blk_pipe[1], "z", 1), 1);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&blk_done), 2 * NBLOCKED);
	close(blk_pipe[0]);
	close(blk_pipe[1]);
}
END_TEST

/* ---- stop waits for everything ------------------------------------------------ */

static _Atomic int grandchildren;

static void grandchild(void *arg)
{
	(void)arg;
	nf_sleep_ms(5);
	atomic_fetch_add(&grandchildren, 1);
}

static void late_parent(void *arg)
{
	nf_rt_stop(); /* from a coroutine: returns at once, stops nothing */
	nf_sleep_ms((int)(intptr_t)arg);
	ck_assert_int_eq(nf_go(grandchild, NULL), 0);
}

START_TEST(stop_waits_for_all)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(nf_go(late_parent, (void *)(intptr_t)(i % 50)), 0);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&grandchildren), 200);
	/* Stopped: nf_go refuses; the runtime starts again. */
	ck_assert_int_eq(nf_go(grandchild, NULL), ESRCH);
	ck_assert_int_eq(nf_rt_start(1), 0);
	ck_assert_int_eq(nf_rt_start(1), EBUSY);
	ck_assert_int_eq(nf_go(grandchild, NULL), 0);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&grandchildren), 201);
}
END_TEST

/* ---- wait groups ------------------------------------------------------------------ */

static _Atomic int wg_children;

static void wg_child(void *arg)
{
	nf_wg *wg = arg;
	nf_sleep_ms(rand() % 10);
	atomic_fetch_add(&wg_children, 1);
	nf_wg_done(wg);
}

static int wg_seen;

static void wg_parent(void *arg)
{
	(void)arg;
	nf_wg wg = NF_WG_INIT; /* on this coroutine's stack: freed when we return */
	ck_assert_int_eq(nf_wg_add(&wg, 100), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(nf_go(wg_child, &wg), 0);
	nf_wg_wait(&wg);
	wg_seen = atomic_load(&wg_children);
}

START_TEST(wait_group)
{
	ck_assert_int_eq(nf_rt_start(2), 0);
	ck_assert_int_eq(nf_go(wg_parent, NULL), 0);
	nf_rt_stop();
	ck_assert_int_eq(wg_seen, 100);
	nf_wg wg;
	nf_wg_init(&wg);
	ck_assert_int_eq(nf_wg_add(&wg, -1), EINVAL);
	nf_wg_wait(&wg); /* zero: returns at once */
}
END_TEST

/* ---- the API from plain threads -------------------------------------------------- */

static _Atomic int from_thread_ran;

static void mark(void *arg)
{
	nf_wg *wg = arg;
	ck_assert(rt_in_coroutine());
	ck_assert_uint_gt(rt_coroutine_id(), 0);
	atomic_fetch_add(&from_thread_ran, 1);
	nf_wg_done(wg);
}

static void *plain_thread(void *arg)
{
	nf_wg *wg = arg;
	for (int i = 0; i < 10; i++)
		if (nf_go(mark, wg))
			return (void *)1;
	nf_wg_wait(wg); /* a thread waiter: futex, not a park */
	return NULL;
}

START_TEST(api_from_plain_thread)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert(!rt_in_coroutine());
	ck_assert_int_eq(rt_coroutine_id(), 0);
	ck_assert_int_eq(rt_worker_index(), -1);
	ck_assert_int_eq(nf_go(mark, NULL), ESRCH);
	ck_assert_int_eq(nf_go(NULL, NULL), EINVAL);
	ck_assert_int_eq(nf_rt_start(-1), EINVAL);
	/* Thread equivalents, runtime not running. */
	nf_yield();
	int64_t s = kit_now_ms();
	ck_assert_int_eq(nf_sleep_ms(20), 0);
	ck_assert_int_ge(kit_now_ms() - s, 20);
	ck_assert_int_eq(nf_sleep_ms(-1), EINVAL);
	s = kit_now_ms();
	ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, 20), ETIMEDOUT);
	ck_assert_int_ge(kit_now_ms() - s, 20);
	ck_assert_int_eq(write(p[1], "q", 1), 1);
	ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, -1), 0);
	ck_assert_int_eq(nf_wait_fd(-5, POLLIN, 0), EBADF);
	/* Runtime running: coroutines started from two plain threads, waited
	 * for by those threads with wait groups. */
	ck_assert_int_eq(nf_rt_start(0), 0);
	nf_yield();
	ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, 0), 0);
	nf_wg wg = NF_WG_INIT, wg2 = NF_WG_INIT;
	ck_assert_int_eq(nf_wg_add(&wg, 10), 0);
	ck_assert_int_eq(nf_wg_add(&wg2, 10), 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, plain_thread, &wg), 0);
	ck_assert_ptr_null(plain_thread(&wg2));
	void *ret;
	ck_assert_int_eq(pthread_join(th, &ret), 0);
	ck_assert_ptr_null(ret);
	ck_assert_int_eq(atomic_load(&from_thread_ran), 20);
	nf_rt_stop();
	nf_rt_stop(); /* not running: no-op */
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ---- FP control words are per coroutine ---------------------------------------- */

static int fp_ok;

static void fp_other(void *arg)
{
	(void)arg;
	/* Runs while fp_changer is switched out with round-toward-zero. */
	fp_ok += fegetround() == FE_TONEAREST && (nf_fp_control() & NF_FP_ROUND_MASK) == 0;
}

static void fp_changer(void *arg)
{
	(void)arg;
	ck_assert_int_eq(fesetround(FE_TOWARDZERO), 0);
	/* Starts with the modes nf_rt_start saw, not its creator's current ones. */
	ck_assert_int_eq(nf_go(fp_other, NULL), 0);
	nf_yield();
	nf_yield();
	fp_ok += fegetround() == FE_TOWARDZERO && (nf_fp_control() & NF_FP_ROUND_MASK) == NF_FP_ROUND_MASK; /* toward zero: all ones */
	fesetround(FE_TONEAREST);
}

START_TEST(fp_modes_per_coroutine)
{
	ck_assert_int_eq(nf_rt_start(1), 0);
	ck_assert_int_eq(nf_go(fp_changer, NULL), 0);
	nf_rt_stop();
	ck_assert_int_eq(fp_ok, 2);
}
END_TEST

/* ---- stacks go back to the pool --------------------------------------------------- */

static void nothing(void *arg) { (void)arg; }

START_TEST(stacks_are_reused)
{
	ck_assert_int_eq(nf_rt_start(1), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++)
			ck_assert_int_eq(nf_go(nothing, NULL), 0);
		while (1) {
			struct rt_stats st;
			rt_stats(&st);
			if (st.finished == st.created)
				break;
			usleep(1000);
		}
	}
	unsigned mapped = stack_mapped();
	nf_rt_stop();
	/* 300 coroutines, at most 100 alive at once, plus the stacks the worker
	 * caches for its own nf_go (created here from a plain thread, they come
	 * from the shared pool), plus the worker's two stacks. */
	ck_assert_uint_le(mapped, 100 + RT_STACK_CACHE + 2);
}
END_TEST

/* ---- stress: fd events racing timeouts, on more workers than CPUs ---------- */

#define SPAIRS 200
#define SMSGS 20
struct spair {
	int p[2];
	unsigned seed;
};
static struct spair spairs[SPAIRS];
static _Atomic long s_read, s_timeouts;

static void s_writer(void *arg)
{
	struct spair *sp = arg;
	unsigned seed = sp->seed;
	for (int i = 0; i < SMSGS; i++) {
		nf_sleep_ms(rand_r(&seed) % 3);
		if (rand_r(&seed) % 4 == 0)
			nf_yield();
		ck_assert_int_eq(write(sp->p[1], "m", 1), 1);
	}
}

static void s_reader(void *arg)
{
	struct spair *sp = arg;
	unsigned seed = sp->seed * 7 + 1;
	int got = 0;
	while (got < SMSGS) {
		int r = nf_wait_fd(sp->p[0], POLLIN, 1 + (int)(rand_r(&seed) % 2));
		if (r == ETIMEDOUT) {
			atomic_fetch_add(&s_timeouts, 1);
			continue;
		}
		ck_assert_int_eq(r, 0);
		char buf[SMSGS];
		ssize_t n = read(sp->p[0], buf, sizeof buf);
		if (n > 0)
			got += (int)n;
	}
	atomic_fetch_add(&s_read, got);
}

START_TEST(stress_events_race_timeouts)
{
	ck_assert_int_eq(nf_rt_start(4), 0);
	for (int i = 0; i < SPAIRS; i++) {
		ck_assert_int_eq(pipe2(spairs[i].p, O_NONBLOCK), 0);
		spairs[i].seed = (unsigned)i;
		ck_assert_int_eq(nf_go(s_reader, &spairs[i]), 0);
		ck_assert_int_eq(nf_go(s_writer, &spairs[i]), 0);
	}
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&s_read), (long)SPAIRS * SMSGS);
	ck_assert_int_gt(atomic_load(&s_timeouts), 0);
	for (int i = 0; i < SPAIRS; i++) {
		close(spairs[i].p[0]);
		close(spairs[i].p[1]);
	}
}
END_TEST

/* ---- running out of stacks is an error, not a crash ----------------------- */

static nf_wg oom_gate = NF_WG_INIT;
static _Atomic int oom_finished;

static void oom_parked(void *arg)
{
	(void)arg;
	nf_wg_wait(&oom_gate);
	atomic_fetch_add(&oom_finished, 1);
}

static long vm_size_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmSize:", 7))
			v = atol(line + 7);
	if (f)
		fclose(f);
	return v;
}

START_TEST(enomem_when_stacks_run_out)
{
	ck_assert_int_eq(nf_rt_start(1), 0);
	ck_assert_int_eq(nf_wg_add(&oom_gate, 1), 0);
	/* Room for ~900 more 68 KiB stacks, then mmap fails. */
	struct rlimit old, rl;
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)(vm_size_kib() + 64 * 1024) * 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	int made = 0, e = 0;
	while (made < 100000 && !(e = nf_go(oom_parked, NULL)))
		made++;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
	ck_assert_int_eq(e, ENOMEM);
	ck_assert_int_gt(made, 100);
	/* The runtime is intact: everything started runs to the end. */
	ck_assert_int_eq(nf_wg_done(&oom_gate), 0);
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&oom_finished), made);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rt");
	TCase *tc = kit_tcase("rt", 30);
	tcase_add_test(tc, pingpong_sums);
	tcase_add_test(tc, idle_worker_steals);
	tcase_add_test(tc, sleep_order);
	tcase_add_test(tc, wait_fd_pipe);
	tcase_add_test(tc, wait_fd_timeout);
	tcase_add_test(tc, parked_costs_no_cpu);
	tcase_add_test(tc, stop_waits_for_all);
	tcase_add_test(tc, wait_group);
	tcase_add_test(tc, api_from_plain_thread);
	tcase_add_test(tc, fp_modes_per_coroutine);
	tcase_add_test(tc, stacks_are_reused);
	tcase_add_test(tc, stress_events_race_timeouts);
	tcase_add_test(tc, enomem_when_stacks_run_out);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
