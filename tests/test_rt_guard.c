/* Coroutine stack overflow: the guard page below a coroutine stack turns a
 * runaway recursion into a one-line report naming the coroutine, then
 * SIGABRT. Runs the overflow in a child process and inspects what it left. */
#include "kit.h"

#include <nofork.h>

#include "rt/rt.h"

#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int id_fd;
static volatile int depth_limit = 1 << 30; /* never reached: 64 KiB stacks */

static __attribute__((noinline)) int recurse(volatile char *prev, int depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	frame[511] = prev ? prev[0] : 0;
	if (depth >= depth_limit)
		return 0;
	return recurse(frame, depth + 1) + frame[100];
}

static void overflow(void *arg)
{
	(void)arg;
	char buf[64];
	int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", rt_coroutine_id());
	if (write(id_fd, buf, (size_t)n) != n)
		_exit(3);
	close(id_fd);
	recurse(NULL, 0);
}

static void quiet(void *arg) { (void)arg; }

/* Read all of fd into buf (NUL-terminated). */
static void slurp(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;
	while (got + 1 < len && (r = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = 0;
}

START_TEST(overflow_is_reported_and_aborts)
{
	int errp[2], idp[2];
	ck_assert_int_eq(pipe(errp), 0);
	ck_assert_int_eq(pipe(idp), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(errp[1], 2);
		close(errp[0]);
		close(idp[0]);
		id_fd = idp[1];
		alarm(20); /* a hang must not outlive the test */
		if (nf_rt_start(2))
			_exit(2);
		/* A few others first, so the culprit's id is not trivially 1. */
		for (int i = 0; i < 5; i++)
			nf_go(quiet, NULL);
		nf_go(overflow, NULL);
		nf_rt_stop();
		_exit(0); /* not reached if the overflow is caught */
	}
	close(errp[1]);
	close(idp[1]);
	char err[1024], id[64];
	slurp(idp[0], id, sizeof id);
	slurp(errp[0], err, sizeof err);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(errp[0]);
	close(idp[0]);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x, stderr: %s", status, err);
	ck_assert_ptr_nonnull(strstr(err, "coroutine stack overflow"));
	char want[96];
	id[strcspn(id, "\n")] = 0;
	ck_assert_int_gt(strlen(id), 0);
	ck_assert_str_ne(id, "0");
	snprintf(want, sizeof want, "(coroutine %s)", id);
	ck_assert_msg(strstr(err, want) != NULL, "want \"%s\" in: %s", want, err);
}
END_TEST

/* A SIGSEGV that is not a guard-page hit still kills with SIGSEGV. */
START_TEST(other_segv_is_not_swallowed)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(20);
		if (nf_rt_start(1))
			_exit(2);
		volatile int *volatile bad = (int *)(uintptr_t)8;
		*bad = 1;
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rt_guard");
	TCase *tc = kit_tcase("guard", 30);
	tcase_add_test(tc, overflow_is_reported_and_aborts);
	tcase_add_test(tc, other_segv_is_not_swallowed);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
