/* Compile once, spawn many: one cmd spawned concurrently from two threads,
 * every status belonging to the pid it came with; repeated spawns give the
 * same child state; a compiled plan spawns without allocating or mapping. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- allocation counting ------------------------------------------------------
 * This program replaces malloc/calloc/realloc (glibc supports that) with
 * wrappers that count calls made by a thread while its `counting` is set, and
 * forward to glibc's allocator, so free() stays glibc's. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static __thread int counting;
static __thread long allocations;

void *malloc(size_t n)
{
	if (counting)
		allocations++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (counting)
		allocations++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (counting)
		allocations++;
	return __libc_realloc(p, n);
}

/* ---- concurrent spawns of one plan ------------------------------------------- */

enum { PER_THREAD = 1000 };

struct worker {
	const nf_cmd *cmd;
	int expect_err;      /* 0: must succeed; else the errno every spawn gives */
	int n;
	int bad;
	char first_bad[256];
};

static void *spawner(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->n; i++) {
		nf_proc p = NF_PROC_INIT;
		nf_error err;
		int rc = nf_spawn(w->cmd, &p, &err);
		char msg[256] = "";
		if (rc != w->expect_err) {
			snprintf(msg, sizeof msg, "spawn %d: returned %d (%s)", i, rc, strerror(rc));
		} else if (rc != 0) {
			if (err.err != rc || err.op != NF_OP_EXEC || p.pid != -1)
				snprintf(msg, sizeof msg, "spawn %d: record err=%d op=%d pid=%d", i, err.err,
					 err.op, (int)p.pid);
		} else {
			int st = -1;
			int wrc = nf_proc_wait(&p, &st, -1);
			int want = p.pid % 250 + 1;
			if (wrc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != want)
				snprintf(msg, sizeof msg, "spawn %d: pid %d wait=%d status 0x%x, expected exit %d",
					 i, (int)p.pid, wrc, st, want);
			nf_proc_release(&p);
		}
		if (msg[0] && w->bad++ == 0)
			snprintf(w->first_bad, sizeof w->first_bad, "%s", msg);
	}
	return NULL;
}

/* Two threads spawn the same plan 1000 times each, while a third spawns a
 * plan whose exec fails: each wait status must be the one the probe derives
 * from the pid the spawn returned (no cross-talk between concurrent spawns),
 * and every failure must be reported as such. */
START_TEST(two_threads_one_plan)
{
	nf_cmd *cmd = probe_cmd("exitpid");
	ck_assert_int_eq(nf_cmd_open(cmd, 5, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 5, 6), 0);
	ck_assert_int_eq(nf_cmd_close(cmd, 5), 0);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	ck_assert_int_eq(nf_cmd_sigmask(cmd, &mask), 0);
	char *argv[] = { "nope", NULL };
	nf_cmd *failing = NULL;
	ck_assert_int_eq(nf_cmd_new(&failing, "/nonexistent-nofork/nope", argv, NULL), 0);

	struct worker w[3] = {
		{ .cmd = cmd, .n = PER_THREAD },
		{ .cmd = cmd, .n = PER_THREAD },
		{ .cmd = failing, .n = PER_THREAD / 4, .expect_err = ENOENT },
	};
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, spawner, &w[i]), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(w[i].bad == 0, "thread %d: %d bad spawns, first: %s", i, w[i].bad,
			      w[i].first_bad);
	nf_cmd_free(cmd);
	nf_cmd_free(failing);
}
END_TEST

/* The same cmd spawned repeatedly gives the same child state each time. */
START_TEST(repeated_spawns_same_state)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(cmd, 7, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_chdir(cmd, "/"), 0);
	ck_assert_int_eq(nf_cmd_setpgid(cmd, 0), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, PROBE_FD, 1), 0);
	char first[8192] = "";
	for (int i = 0; i < 20; i++) {
		probe_report r;
		ck_assert_int_eq(probe_run_raw(cmd, &r, NULL), 0);
		ck_assert_int_eq(r.status, 0);
		/* Everything but the lines naming this child's own ids. */
		char now[8192] = "";
		for (size_t j = 0; j < r.nlines; j++) {
			const char *l = r.lines[j];
			if (!strncmp(l, "pid ", 4) || !strncmp(l, "pgid ", 5) || !strncmp(l, "fd 1 ", 5))
				continue;
			if (!strncmp(l, "fd ", 3) || !strncmp(l, "cwd ", 4) || !strncmp(l, "sig", 3))
				snprintf(now + strlen(now), sizeof now - strlen(now), "%s\n", l);
		}
		ck_assert_int_eq(probe_long(&r, "pgid"), r.pid);
		if (i == 0)
			memcpy(first, now, sizeof first);
		else
			ck_assert_str_eq(now, first);
		probe_report_free(&r);
	}
	ck_assert(strstr(first, "cwd /\n"));
	ck_assert(strstr(first, "fd 7 cloexec=0 mode=r path=/dev/null\n"));
	nf_cmd_free(cmd);
}
END_TEST

static int count_maps(void)
{
	static char buf[1 << 20];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	close(fd);
	int lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	return lines;
}

/* Once compiled (first spawn), spawning allocates nothing and maps
 * nothing: the header promises it, supervisors rely on it. */
START_TEST(compiled_plan_spawns_without_allocating)
{
	nf_cmd *cmd = probe_cmd("exit", "0");
	ck_assert_int_eq(nf_cmd_open(cmd, 5, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(nf_cmd_chdir(cmd, "/"), 0);
	ck_assert_int_eq(kit_spawn_wait(cmd), 0); /* compiles and warms the stack pool */
	int maps = count_maps();
	long total = 0;
	for (int i = 0; i < 100; i++) {
		nf_proc p;
		allocations = 0;
		counting = 1;
		int rc = nf_spawn(cmd, &p, NULL);
		counting = 0;
		total += allocations;
		ck_assert_int_eq(rc, 0);
		int st;
		ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
		ck_assert_int_eq(st, 0);
		nf_proc_release(&p);
	}
	ck_assert_msg(total == 0, "%ld allocations in 100 spawns of a compiled plan", total);
	ck_assert_int_eq(count_maps(), maps);

	/* The counter works: a setter (which may allocate) recompiles, and the
	 * next spawn compiles again. */
	ck_assert_int_eq(nf_cmd_close(cmd, 5), 0);
	nf_proc p;
	allocations = 0;
	counting = 1;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	counting = 0;
	ck_assert_int_gt(allocations, 0);
	ck_assert_int_eq(nf_proc_wait(&p, NULL, -1), 0);
	nf_proc_release(&p);
	nf_cmd_free(cmd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reuse");
	TCase *tc = kit_tcase("reuse", 120);
	tcase_add_test(tc, two_threads_one_plan);
	tcase_add_test(tc, repeated_spawns_same_state);
	tcase_add_test(tc, compiled_plan_spawns_without_allocating);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
