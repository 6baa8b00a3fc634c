/* Process I/O: nf_cmd_pipe, nf_proc_fd, nf_proc_communicate, nf_run. What
 * the child received and what came back are compared byte for byte. */
#include "kit.h"

#include <nofork.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024 * 1024)

static nf_cmd *piped(nf_cmd *cmd, bool in, bool out, bool err)
{
	if (in)
		ck_assert_int_eq(nf_cmd_pipe(cmd, 0, NF_PIPE_TO_CHILD), 0);
	if (out)
		ck_assert_int_eq(nf_cmd_pipe(cmd, 1, NF_PIPE_FROM_CHILD), 0);
	if (err)
		ck_assert_int_eq(nf_cmd_pipe(cmd, 2, NF_PIPE_FROM_CHILD), 0);
	return cmd;
}

static nf_cmd *sh_cmd(const char *script)
{
	nf_cmd *cmd;
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	ck_assert_int_eq(nf_cmd_new(&cmd, "/bin/sh", argv, NULL), 0);
	return cmd;
}

static bool is_pattern(const char *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)d[i] != i % 251)
			return false;
	return true;
}

START_TEST(round_trip_through_cat)
{
	nf_cmd *cmd = piped(probe_cmd("cat"), true, true, false);
	nf_buf out = {0};
	int st = -1;
	ck_assert_int_eq(nf_run(cmd, "hello\nworld\n", 12, &out, NULL, &st, -1, NULL), 0);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(out.len, 12);
	ck_assert_str_eq(out.data, "hello\nworld\n");
	ck_assert_int_eq(out.truncated, 0);
	nf_buf_free(&out);
	ck_assert_ptr_null(out.data);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(round_trip_through_tr_and_sort)
{
	nf_cmd *cmd = piped(sh_cmd("tr a-z A-Z | sort -r"), true, true, true);
	nf_buf out = {0}, err = {0};
	int st = -1;
	const char *in = "pear\napple\nquince\n";
	ck_assert_int_eq(nf_run(cmd, in, strlen(in), &out, &err, &st, -1, NULL), 0);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(out.data, "QUINCE\nPEAR\nAPPLE\n");
	ck_assert_uint_eq(err.len, 0);
	nf_buf_free(&out);
	nf_buf_free(&err);
	nf_cmd_free(cmd);
}
END_TEST

/* 16 MiB in while 16 MiB come back on each of stdout and stderr: with any
 * one of the three served alone, both sides would block on a full pipe. */
START_TEST(sixteen_mib_three_ways)
{
	size_t n = 16 * MiB;
	char *in = malloc(n);
	ck_assert_ptr_nonnull(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)(i % 251);
	nf_cmd *cmd = piped(probe_cmd("tee2"), true, true, true);
	nf_buf out = {0}, err = {0};
	int st = -1;
	ck_assert_int_eq(nf_run(cmd, in, n, &out, &err, &st, 60000, NULL), 0);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(out.len, n);
	ck_assert_uint_eq(err.len, n);
	ck_assert(memcmp(out.data, in, n) == 0);
	ck_assert(memcmp(err.data, in, n) == 0);
	nf_buf_free(&out);
	nf_buf_free(&err);
	free(in);
	nf_cmd_free(cmd);
}
END_TEST

/* A child that exits without reading: EPIPE, the status is its own, and
 * the caller (SIGPIPE at its default, fatal action) is not killed. */
START_TEST(stdin_closed_early_is_epipe_not_sigpipe)
{
	signal(SIGPIPE, SIG_DFL);
	nf_cmd *cmd = piped(probe_cmd("exit", "3"), true, false, false);
	size_t n = 4 * MiB;
	char *in = calloc(1, n);
	int st = -1;
	ck_assert_int_eq(nf_run(cmd, in, n, NULL, NULL, &st, -1, NULL), EPIPE);
	ck_assert_int_eq(st, 3 << 8);
	sigset_t pending;
	sigpending(&pending);
	ck_assert(!sigismember(&pending, SIGPIPE));
	free(in);
	nf_cmd_free(cmd);
}
END_TEST

/* Only stdout, only stderr, and a piped stdout nobody wants (drained). */
START_TEST(one_stream_or_none)
{
	nf_cmd *cmd = piped(sh_cmd("echo out; echo err >&2"), false, true, false);
	ck_assert_int_eq(nf_cmd_devnull(cmd, 2), 0);
	nf_buf out = {0};
	int st = -1;
	ck_assert_int_eq(nf_run(cmd, NULL, 0, &out, NULL, &st, -1, NULL), 0);
	ck_assert_str_eq(out.data, "out\n");
	nf_buf_free(&out);
	nf_cmd_free(cmd);

	cmd = piped(sh_cmd("echo out >/dev/null; echo err >&2"), false, false, true);
	nf_buf err = {0};
	ck_assert_int_eq(nf_run(cmd, NULL, 0, NULL, &err, &st, -1, NULL), 0);
	ck_assert_str_eq(err.data, "err\n");
	nf_buf_free(&err);
	nf_cmd_free(cmd);

	/* 1 MiB to a stdout pipe no buffer takes: still read, the child ends. */
	cmd = piped(probe_cmd("emit", "1", "1048576"), false, true, false);
	ck_assert_int_eq(nf_run(cmd, NULL, 0, NULL, NULL, &st, 30000, NULL), 0);
	ck_assert_int_eq(st, 0);
	nf_cmd_free(cmd);
}
END_TEST

/* communicate's deadline leaves the child running and the output read so
 * far; nf_run's kills and reaps it. */
START_TEST(timeout_keeps_partial_output)
{
	nf_cmd *cmd = piped(sh_cmd("echo partial; exec sleep 30"), false, true, false);
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	nf_buf out = {0};
	int st = -1;
	/* Until the echo is in (a loaded machine may take long to start sh):
	 * each call ends at its deadline and a later one goes on reading. */
	for (int tries = 0; out.len == 0 && tries < 100; tries++)
		ck_assert_int_eq(nf_proc_communicate(&p, NULL, 0, &out, NULL, &st, 300), ETIMEDOUT);
	ck_assert_str_eq(out.data, "partial\n");
	ck_assert_int_eq(st, -1);
	ck_assert_int_eq(kill(p.pid, 0), 0); /* still running */
	ck_assert_int_ge(nf_proc_fd(&p, 1), 3);  /* not at EOF: still the handle's */
	ck_assert_int_eq(nf_proc_kill(&p, SIGKILL), 0);
	ck_assert_int_eq(nf_proc_communicate(&p, NULL, 0, &out, NULL, &st, -1), 0);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_int_eq(nf_proc_fd(&p, 1), -1);
	nf_proc_release(&p);
	nf_buf_free(&out);

	st = -1;
	ck_assert_int_eq(nf_run(cmd, NULL, 0, &out, NULL, &st, 3000, NULL), ETIMEDOUT);
	ck_assert_str_eq(out.data, "partial\n");
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	nf_buf_free(&out);
	kit_assert_no_zombies();
	nf_cmd_free(cmd);
}
END_TEST

/* 100 MiB against a 1 MiB max: 1 MiB kept (the pattern's first MiB), the
 * rest drained, truncated set, the child ends normally. */
START_TEST(max_truncates_and_drains)
{
	nf_cmd *cmd = piped(probe_cmd("emit", "1", "104857600"), false, true, false);
	nf_buf out = {.max = MiB};
	int st = -1;
	ck_assert_int_eq(nf_run(cmd, NULL, 0, &out, NULL, &st, 60000, NULL), 0);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(out.len, MiB);
	ck_assert_int_eq(out.truncated, 1);
	ck_assert(is_pattern(out.data, out.len));
	ck_assert_uint_le(out.cap, MiB + 1);
	nf_buf_free(&out);
	nf_cmd_free(cmd);
}
END_TEST

/* One compiled cmd with a stdout pipe, spawned from 8 threads at once:
 * every child's pid comes back on its own proc's pipe. */
#define THREADS 8
#define PER_THREAD 500 /* 4000 spawns of the (dynamic) probe: ~18 s on 2 cores */
static nf_cmd *shared_cmd;
static atomic_int wrong;

static void *spawn_and_read(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		nf_proc p;
		nf_buf out = {0};
		int st = -1;
		if (nf_spawn(shared_cmd, &p, NULL) || nf_proc_communicate(&p, NULL, 0, &out, NULL, &st, -1) ||
		    st != 0 || !out.data || atoi(out.data) != p.pid)
			atomic_fetch_add(&wrong, 1);
		nf_proc_release(&p);
		nf_buf_free(&out);
	}
	return NULL;
}

START_TEST(one_cmd_many_threads)
{
	struct kit_fd_snapshot before;
	kit_fd_snapshot(&before);
	shared_cmd = piped(probe_cmd("pid"), false, true, false);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, spawn_and_read, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&wrong), 0);
	nf_cmd_free(shared_cmd);
	kit_assert_no_fd_leak(&before);
	kit_assert_no_zombies();
}
END_TEST

/* 1000 nf_runs from coroutines on 2 workers while a ticker coroutine runs:
 * every output exact (the input, upper-cased by tr). */
#define COROS 1000
static atomic_int co_done, co_bad, co_first_err, ticks;
static atomic_bool stop_ticks;

static void ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_ticks)) {
		nf_sleep_ms(5);
		atomic_fetch_add(&ticks, 1);
	}
}

static void run_one(void *arg)
{
	int i = (int)(intptr_t)arg;
	char in[32], want[32];
	snprintf(in, sizeof in, "line %d\n", i);
	snprintf(want, sizeof want, "LINE %d\n", i);
	nf_buf out = {0};
	int st = -1, e = nf_run(shared_cmd, in, strlen(in), &out, NULL, &st, -1, NULL);
	if (e || st || !out.data || strcmp(out.data, want)) {
		int none = 0;
		atomic_compare_exchange_strong(&co_first_err, &none, e ? e : -1);
		atomic_fetch_add(&co_bad, 1);
	}
	nf_buf_free(&out);
	atomic_fetch_add(&co_done, 1);
}

START_TEST(many_runs_from_coroutines)
{
	/* Where a spawn takes milliseconds (emulation), nearly every run is in
	 * flight at once, each with up to 5 fds (two pipes, a pidfd): more
	 * than a soft limit of 1024 (seen in the arm64 VM: 119 runs got
	 * EMFILE). Running out of fds is not what this test is about. */
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rlim_t want = 5 * COROS + 256;
	if (rl.rlim_cur < want) {
		struct rlimit more = {want, rl.rlim_max > want ? rl.rlim_max : want};
		if (setrlimit(RLIMIT_NOFILE, &more) != 0) {
			more.rlim_max = rl.rlim_max;
			more.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
			ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &more), 0);
		}
	}
	struct kit_fd_snapshot before;
	kit_fd_snapshot(&before);
	char *argv[] = {"tr", "a-z", "A-Z", NULL};
	ck_assert_int_eq(nf_cmd_newp(&shared_cmd, "tr", argv, NULL), 0);
	piped(shared_cmd, true, true, false);
	ck_assert_int_eq(nf_rt_start(2), 0);
	ck_assert_int_eq(nf_go(ticker, NULL), 0);
	for (int i = 0; i < COROS; i++)
		ck_assert_int_eq(nf_go(run_one, (void *)(intptr_t)i), 0);
	while (atomic_load(&co_done) < COROS)
		nf_sleep_ms(10);
	int t = atomic_load(&ticks);
	atomic_store(&stop_ticks, true);
	nf_rt_stop();
	ck_assert_msg(atomic_load(&co_bad) == 0, "%d of %d runs failed, the first with %d (-1: wrong output or status)",
		      atomic_load(&co_bad), COROS, atomic_load(&co_first_err));
	ck_assert_int_gt(t, 0);
	nf_cmd_free(shared_cmd);
	kit_assert_no_fd_leak(&before);
	kit_assert_no_zombies();
}
END_TEST

/* The caller's stdio closed: the parent's ends and the child's never sit
 * at 0-2 in the caller's table, and the child gets its pipes where asked. */
START_TEST(closed_stdio_keeps_ends_above_two)
{
	nf_cmd *cmd = piped(probe_cmd("cat"), true, true, false);
	int saved[3];
	for (int fd = 0; fd < 3; fd++) {
		saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 10);
		close(fd);
	}
	nf_proc p;
	int rc = nf_spawn(cmd, &p, NULL);
	int in_fd = nf_proc_fd(&p, 0), out_fd = nf_proc_fd(&p, 1);
	/* The pidfd takes the lowest free number (0); nothing else is below 3. */
	bool fd0_pidfd = p.pidfd == 0 || (p.pidfd < 0 && fcntl(0, F_GETFD) < 0);
	bool fd1_open = fcntl(1, F_GETFD) >= 0, fd2_open = fcntl(2, F_GETFD) >= 0;
	nf_buf out = {0};
	int st = -1, crc = rc ? rc : nf_proc_communicate(&p, "x", 1, &out, NULL, &st, 10000);
	nf_proc_release(&p);
	for (int fd = 0; fd < 3; fd++) {
		dup2(saved[fd], fd);
		close(saved[fd]);
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_ge(in_fd, 3);
	ck_assert_int_ge(out_fd, 3);
	ck_assert(fd0_pidfd && !fd1_open && !fd2_open);
	ck_assert_int_eq(crc, 0);
	ck_assert_str_eq(out.data, "x");
	nf_buf_free(&out);
	nf_cmd_free(cmd);
}
END_TEST

/* Children with every fd inherited, spawned while other threads spawn
 * piped children and talk to them: none gets another spawn's pipe end
 * (parent's or child's: both are close-on-exec until the child's own dup
 * puts one at its fd). The inheriting child reports its fds through its
 * own stdout pipe; any other pipe at 3 or above is a stray. */
#define STRAY_THREADS 2
#define STRAY_ROUNDS 150
static atomic_int strays, stray_bad;
static nf_cmd *piped_cat, *inheriting;
static char ours[16][64];
static int n_ours;

static bool is_ours(const char *path)
{
	for (int i = 0; i < n_ours; i++)
		if (!strcmp(path, ours[i]))
			return true;
	return false;
}

static void *talk_loop(void *arg)
{
	(void)arg;
	for (int i = 0; i < STRAY_ROUNDS; i++) {
		nf_buf out = {0};
		int st = -1;
		if (nf_run(piped_cat, "abc", 3, &out, NULL, &st, -1, NULL) || st || !out.data || strcmp(out.data, "abc"))
			atomic_fetch_add(&stray_bad, 1);
		nf_buf_free(&out);
	}
	return NULL;
}

static void *inherit_loop(void *arg)
{
	(void)arg;
	for (int i = 0; i < STRAY_ROUNDS; i++) {
		nf_buf out = {0};
		int st = -1;
		if (nf_run(inheriting, NULL, 0, &out, NULL, &st, -1, NULL) || st || !out.data) {
			atomic_fetch_add(&stray_bad, 1);
			continue;
		}
		char *save = NULL;
		for (char *l = strtok_r(out.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			int fd;
			const char *path = strstr(l, "path=");
			if (sscanf(l, "fd %d", &fd) == 1 && fd >= 3 && path && !strncmp(path + 5, "pipe:", 5) &&
			    !is_ours(path + 5))
				atomic_fetch_add(&strays, 1);
		}
		nf_buf_free(&out);
	}
	return NULL;
}

START_TEST(inherit_all_gets_no_foreign_end)
{
	/* The harness's own inheritable pipes (Check's) are not strays. */
	for (int fd = 3; fd < 1024 && n_ours < 16; fd++)
		if (fcntl(fd, F_GETFD) == 0) { /* open without close-on-exec: inherited */
			char link[64];
			snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
			ssize_t k = readlink(link, ours[n_ours], sizeof ours[0] - 1);
			ours[n_ours++][k < 0 ? 0 : k] = '\0';
		}
	piped_cat = piped(probe_cmd("cat"), true, true, false);
	inheriting = piped(probe_cmd(NULL), false, true, false);
	ck_assert_int_eq(nf_cmd_inherit_all_fds(inheriting), 0);
	pthread_t t[2 * STRAY_THREADS];
	for (int i = 0; i < 2 * STRAY_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, i % 2 ? inherit_loop : talk_loop, NULL), 0);
	for (int i = 0; i < 2 * STRAY_THREADS; i++)
		pthread_join(t[i], NULL);
	int bad = atomic_load(&stray_bad), stray = atomic_load(&strays);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(stray, 0);
	nf_cmd_free(piped_cat);
	nf_cmd_free(inheriting);
	kit_assert_no_zombies();
}
END_TEST

/* A pipe at a high fd, next to dup2 actions: the child sees it there. */
START_TEST(pipe_at_any_fd_and_take)
{
	nf_cmd *cmd = piped(probe_cmd("emit", "7", "1000"), false, false, false);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 7, NF_PIPE_FROM_CHILD), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 2, 8), 0);
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	int fd = nf_proc_take_fd(&p, 7);
	ck_assert_int_ge(fd, 3);
	ck_assert_int_eq(nf_proc_fd(&p, 7), -1);
	ck_assert_int_eq(nf_proc_take_fd(&p, 7), -1);
	char buf[2000];
	size_t got = 0;
	for (ssize_t r; (r = read(fd, buf + got, sizeof buf - got)) > 0;)
		got += (size_t)r;
	ck_assert_uint_eq(got, 1000);
	ck_assert(is_pattern(buf, got));
	int st = -1;
	ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
	nf_proc_release(&p);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0); /* taken: release left it open */
	close(fd);
	nf_cmd_free(cmd);
}
END_TEST

/* Pipes are connected before the other actions, whatever the order they
 * were added in: a closefrom(3) and a dup2(1, 2) added first neither close
 * the pipe's end before it is placed nor miss it (stderr goes down the
 * piped stdout, as `cmd 2>&1 |` in a shell). */
START_TEST(pipes_before_other_actions)
{
	nf_cmd *cmd = sh_cmd("echo out; echo err >&2");
	ck_assert_int_eq(nf_cmd_closefrom(cmd, 3), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, 1, 2), 0);
	piped(cmd, false, true, false);
	nf_buf out = {0};
	int st = -1;
	ck_assert_int_eq(nf_run(cmd, NULL, 0, &out, NULL, &st, 10000, NULL), 0);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(out.data, "out\nerr\n");
	nf_buf_free(&out);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(bad_input)
{
	nf_cmd *cmd = probe_cmd("cat");
	ck_assert_int_eq(nf_cmd_pipe(NULL, 0, NF_PIPE_TO_CHILD), EINVAL);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 0, 2), EINVAL);
	ck_assert_int_eq(nf_cmd_pipe(cmd, -1, NF_PIPE_TO_CHILD), EBADF);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 1, NF_PIPE_FROM_CHILD), 0);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 1, NF_PIPE_TO_CHILD), EEXIST);
	for (int fd = 10; fd < 10 + NF_PROC_PIPES - 1; fd++)
		ck_assert_int_eq(nf_cmd_pipe(cmd, fd, NF_PIPE_FROM_CHILD), 0);
	ck_assert_int_eq(nf_cmd_pipe(cmd, 30, NF_PIPE_FROM_CHILD), ENOSPC);
	ck_assert_int_eq(nf_cmd_devnull(NULL, 0), EINVAL);
	ck_assert_int_eq(nf_cmd_devnull(cmd, -1), EBADF);
	nf_cmd_free(cmd);

	ck_assert_int_eq(nf_proc_fd(NULL, 0), -1);
	ck_assert_int_eq(nf_proc_take_fd(NULL, 0), -1);
	nf_buf_free(NULL);
	ck_assert_int_eq(nf_proc_communicate(NULL, NULL, 0, NULL, NULL, NULL, -1), EINVAL);
	/* Without the pipes the arguments name: EINVAL, the child untouched. */
	cmd = probe_cmd("exit", "4");
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	nf_buf out = {0};
	ck_assert_int_eq(nf_proc_communicate(&p, "x", 1, NULL, NULL, NULL, -1), EINVAL);
	ck_assert_int_eq(nf_proc_communicate(&p, NULL, 0, &out, NULL, NULL, -1), EINVAL);
	ck_assert_int_eq(nf_proc_communicate(&p, NULL, 0, NULL, &out, NULL, -1), EINVAL);
	ck_assert_int_eq(nf_proc_communicate(&p, NULL, 1, NULL, NULL, NULL, -1), EINVAL);
	ck_assert_int_eq(nf_proc_communicate(&p, NULL, 0, NULL, NULL, NULL, -2), EINVAL);
	int st = -1;
	ck_assert_int_eq(nf_proc_communicate(&p, NULL, 0, NULL, NULL, &st, -1), 0); /* just waits */
	ck_assert_int_eq(st, 4 << 8);
	nf_proc_release(&p);
	/* nf_run: a failed spawn fills err as nf_spawn does. */
	nf_cmd *missing;
	char *argv[] = {"x", NULL};
	ck_assert_int_eq(nf_cmd_new(&missing, "/nonexistent-nofork", argv, NULL), 0);
	nf_error err;
	ck_assert_int_eq(nf_run(missing, NULL, 0, NULL, NULL, &st, -1, &err), ENOENT);
	ck_assert_int_eq(err.op, NF_OP_EXEC);
	nf_cmd_free(missing);
	nf_cmd_free(cmd);
	kit_assert_no_zombies();
}
END_TEST

/* devnull: read-only at 0, write-only at 1 and 2, read-write above, and
 * the probe sees /dev/null there (not at 1: probe_run puts its report
 * pipe there after the cmd's actions). */
START_TEST(devnull_directions)
{
	nf_cmd *cmd = probe_cmd(NULL);
	const int fds[] = {0, 2, 5};
	const char *want[] = {"r", "w", "rw"};
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(nf_cmd_devnull(cmd, fds[i]), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	for (int i = 0; i < 3; i++) {
		struct probe_fdinfo fi;
		ck_assert(probe_fd(&r, fds[i], &fi));
		ck_assert_str_eq(fi.path, "/dev/null");
		ck_assert_str_eq(fi.mode, want[i]);
	}
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- pipelines ---------------------------------------------------------------- */

static nf_cmd *path_cmd(const char *file, const char *a1, const char *a2)
{
	nf_cmd *cmd;
	char *argv[] = {(char *)file, (char *)a1, (char *)a2, NULL};
	ck_assert_int_eq(nf_cmd_newp(&cmd, file, argv, NULL), 0);
	return cmd;
}

START_TEST(pipeline_seq_sort_uniq_wc)
{
	struct kit_fd_snapshot before;
	kit_fd_snapshot(&before);
	nf_cmd *c[4] = {path_cmd("seq", "1", "100000"), path_cmd("sort", "-r", NULL), path_cmd("uniq", NULL, NULL),
	                path_cmd("wc", "-l", NULL)};
	ck_assert_int_eq(nf_cmd_pipe(c[3], 1, NF_PIPE_FROM_CHILD), 0);
	nf_pipeline *pl;
	ck_assert_int_eq(nf_pipeline_spawn(c, 4, 0, &pl, NULL), 0);
	nf_buf out = {0};
	int st[4] = {-1, -1, -1, -1};
	ck_assert_int_eq(nf_proc_communicate(nf_pipeline_proc(pl, 3), NULL, 0, &out, NULL, NULL, 60000), 0);
	ck_assert_int_eq(nf_pipeline_wait(pl, st, 60000), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(st[i] == 0, "stage %d: status 0x%x", i, st[i]);
	ck_assert_str_eq(out.data, "100000\n");
	ck_assert_ptr_null(nf_pipeline_proc(pl, 4));
	nf_pipeline_release(pl);
	nf_buf_free(&out);
	for (int i = 0; i < 4; i++)
		nf_cmd_free(c[i]);
	kit_assert_no_fd_leak(&before);
	kit_assert_no_zombies();
}
END_TEST

/* A stage that cannot start: its error and index, and the stages started
 * before it gone (killed and reaped), no fd left. */
START_TEST(pipeline_failing_stage_leaves_nothing)
{
	struct kit_fd_snapshot before;
	kit_fd_snapshot(&before);
	nf_cmd *c[3] = {probe_cmd("sleep", "30000"), path_cmd("/nonexistent-nofork/x", NULL, NULL), probe_cmd("cat")};
	nf_pipeline *pl = (nf_pipeline *)1;
	nf_error err;
	ck_assert_int_eq(nf_pipeline_spawn(c, 3, NF_PIPELINE_PGRP, &pl, &err), ENOENT);
	ck_assert_ptr_null(pl);
	ck_assert_int_eq(err.stage, 1);
	ck_assert_int_eq(err.op, NF_OP_EXEC);
	ck_assert_str_eq(err.path, "/nonexistent-nofork/x");
	pid_t kids[4];
	ck_assert_int_eq(kit_find_procs(getpid(), -1, kids, 4), 0); /* no child at all */
	kit_assert_no_fd_leak(&before);
	for (int i = 0; i < 3; i++)
		nf_cmd_free(c[i]);
}
END_TEST

/* yes | head -1: head exits, yes dies of SIGPIPE, and the statuses say so. */
START_TEST(pipeline_sigpipe_upstream)
{
	nf_cmd *c[2] = {path_cmd("yes", NULL, NULL), path_cmd("head", "-1", NULL)};
	ck_assert_int_eq(nf_cmd_pipe(c[1], 1, NF_PIPE_FROM_CHILD), 0);
	sigset_t pipe_only;
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	ck_assert_int_eq(nf_cmd_sigdefault(c[0], &pipe_only), 0); /* whatever the runner ignores */
	nf_pipeline *pl;
	ck_assert_int_eq(nf_pipeline_spawn(c, 2, 0, &pl, NULL), 0);
	nf_buf out = {0};
	ck_assert_int_eq(nf_proc_communicate(nf_pipeline_proc(pl, 1), NULL, 0, &out, NULL, NULL, 30000), 0);
	ck_assert_str_eq(out.data, "y\n");
	int st[2];
	ck_assert_int_eq(nf_pipeline_wait(pl, st, 30000), 0);
	ck_assert_msg(WIFSIGNALED(st[0]) && WTERMSIG(st[0]) == SIGPIPE, "yes: 0x%x", st[0]);
	ck_assert_int_eq(st[1], 0);
	ck_assert_int_eq(nf_pipeline_wait(pl, st, 0), 0); /* again: the same, nothing to reap */
	ck_assert_int_eq(st[1], 0);
	nf_pipeline_release(pl);
	nf_buf_free(&out);
	nf_cmd_free(c[0]);
	nf_cmd_free(c[1]);
}
END_TEST

/* NF_PIPELINE_PGRP: every stage in the first stage's new group (the
 * kernel's word: getpgid on each while they run). */
START_TEST(pipeline_one_process_group)
{
	nf_cmd *c[3] = {probe_cmd("sleep", "30000"), probe_cmd("cat"), probe_cmd("cat")};
	nf_pipeline *pl;
	ck_assert_int_eq(nf_pipeline_spawn(c, 3, NF_PIPELINE_PGRP, &pl, NULL), 0);
	pid_t leader = nf_pipeline_proc(pl, 0)->pid;
	ck_assert_int_ne(leader, getpgrp());
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(getpgid(nf_pipeline_proc(pl, (size_t)i)->pid), leader);
	ck_assert_int_eq(kill(-leader, SIGTERM), 0); /* the group as a shell would */
	int st[3];
	ck_assert_int_eq(nf_pipeline_wait(pl, st, 30000), 0);
	ck_assert(WIFSIGNALED(st[0]) && WTERMSIG(st[0]) == SIGTERM);
	nf_pipeline_release(pl);

	/* Without the flag: the caller's group. */
	ck_assert_int_eq(nf_pipeline_spawn(c, 2, 0, &pl, NULL), 0);
	ck_assert_int_eq(getpgid(nf_pipeline_proc(pl, 1)->pid), getpgrp());
	ck_assert_int_eq(nf_pipeline_wait(pl, st, 0), ETIMEDOUT);
	nf_proc_kill(nf_pipeline_proc(pl, 0), SIGKILL);
	ck_assert_int_eq(nf_pipeline_wait(pl, st, 30000), 0);
	nf_pipeline_release(pl);
	for (int i = 0; i < 3; i++)
		nf_cmd_free(c[i]);
}
END_TEST

/* The caller's stdio closed: the pipe between stages is made at 0 and 1 by
 * the kernel, and must still reach the stages (moved above 2 first). */
START_TEST(pipeline_with_closed_stdio)
{
	nf_cmd *c[2] = {probe_cmd("emit", "1", "1000"), probe_cmd("cat")};
	ck_assert_int_eq(nf_cmd_pipe(c[1], 1, NF_PIPE_FROM_CHILD), 0);
	int saved[3];
	for (int fd = 0; fd < 3; fd++) {
		saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 10);
		close(fd);
	}
	nf_pipeline *pl;
	int rc = nf_pipeline_spawn(c, 2, 0, &pl, NULL);
	nf_buf out = {0};
	int crc = -1, wrc = -1, st[2] = {-1, -1};
	if (!rc) {
		crc = nf_proc_communicate(nf_pipeline_proc(pl, 1), NULL, 0, &out, NULL, NULL, 10000);
		wrc = nf_pipeline_wait(pl, st, 10000);
		nf_pipeline_release(pl);
	}
	for (int fd = 0; fd < 3; fd++) {
		dup2(saved[fd], fd);
		close(saved[fd]);
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(crc, 0);
	ck_assert_int_eq(wrc, 0);
	ck_assert_int_eq(st[0], 0);
	ck_assert_int_eq(st[1], 0);
	ck_assert_uint_eq(out.len, 1000);
	ck_assert(is_pattern(out.data, out.len));
	nf_buf_free(&out);
	nf_cmd_free(c[0]);
	nf_cmd_free(c[1]);
}
END_TEST

START_TEST(pipeline_bad_input)
{
	nf_cmd *c[2] = {probe_cmd("cat"), NULL};
	nf_pipeline *pl;
	nf_error err;
	ck_assert_int_eq(nf_pipeline_spawn(NULL, 1, 0, &pl, &err), EINVAL);
	ck_assert_int_eq(nf_pipeline_spawn(c, 0, 0, &pl, &err), EINVAL);
	ck_assert_int_eq(nf_pipeline_spawn(c, 1, 0, NULL, &err), EINVAL);
	ck_assert_int_eq(nf_pipeline_spawn(c, 1, 0x2, &pl, &err), EINVAL);
	ck_assert_int_eq(nf_pipeline_spawn(c, 2, 0, &pl, &err), EINVAL);
	ck_assert_int_eq(err.stage, -1);
	ck_assert_int_eq(nf_pipeline_wait(NULL, NULL, -1), EINVAL);
	ck_assert_ptr_null(nf_pipeline_proc(NULL, 0));
	nf_pipeline_release(NULL);
	nf_cmd_free(c[0]);
	kit_assert_no_zombies();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("io");
	TCase *tc = kit_tcase("io", 120);
	tcase_add_test(tc, round_trip_through_cat);
	tcase_add_test(tc, round_trip_through_tr_and_sort);
	tcase_add_test(tc, sixteen_mib_three_ways);
	tcase_add_test(tc, stdin_closed_early_is_epipe_not_sigpipe);
	tcase_add_test(tc, one_stream_or_none);
	tcase_add_test(tc, timeout_keeps_partial_output);
	tcase_add_test(tc, max_truncates_and_drains);
	tcase_add_test(tc, one_cmd_many_threads);
	tcase_add_test(tc, many_runs_from_coroutines);
	tcase_add_test(tc, closed_stdio_keeps_ends_above_two);
	tcase_add_test(tc, inherit_all_gets_no_foreign_end);
	tcase_add_test(tc, pipe_at_any_fd_and_take);
	tcase_add_test(tc, pipes_before_other_actions);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, devnull_directions);
	tcase_add_test(tc, pipeline_seq_sort_uniq_wc);
	tcase_add_test(tc, pipeline_failing_stage_leaves_nothing);
	tcase_add_test(tc, pipeline_sigpipe_upstream);
	tcase_add_test(tc, pipeline_one_process_group);
	tcase_add_test(tc, pipeline_with_closed_stdio);
	tcase_add_test(tc, pipeline_bad_input);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
