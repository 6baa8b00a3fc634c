/* Output capture: N commands, each writing 64 KiB to stdout (the static
 * emit64k target), captured whole, 2 in flight at a time. Issue targets:
 * nofork >= 1.2x the throughput of posix_spawn + a poll loop (ninja's way)
 * and >= 3x Python's subprocess.run(capture_output=True) in a 2-thread pool;
 * the same with a 2 GiB parent.
 *
 * Methods, interleaved per round (harness.h), runs/s = N / wall time:
 *   nofork nf_run x2 threads   two threads, each nf_run in turn (stdout
 *                              piped with nf_cmd_pipe, one compiled cmd)
 *   nofork nf_run coroutines   two coroutines on nf_rt_start(2), the same
 *   posix_spawn+poll           one thread, an event loop over two children:
 *                              pipe2, posix_spawn with a dup2 action, poll
 *                              the read ends, read to EOF, waitpid
 *   python subprocess x2       python3, ThreadPoolExecutor(2) running
 *                              subprocess.run([target], capture_output=True);
 *                              timed inside Python (its startup excluded)
 *   no capture (ceiling)       as the first row with stdout on /dev/null and
 *                              nf_spawn + nf_proc_wait: what a run costs
 *                              without its output being read, the bound
 *                              any capturing method stays under
 * Every run's output is checked to be 64 KiB and its status 0.
 *
 * usage: io_bench TARGET [rounds] [runs-per-round]
 * The 2 GiB point touches 2 GiB in this process (and in Python's) first.
 */
#include <nofork.h>

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_BYTES 65536

extern char **environ;
static const char *target;
static nf_cmd *cmd, *bare;
static int runs;
static atomic_int bad;

static void run_many(int n)
{
	nf_buf out = {0};
	for (int i = 0; i < n; i++) {
		out.len = 0;
		int st = -1;
		if (nf_run(cmd, NULL, 0, &out, NULL, &st, -1, NULL) || st || out.len != OUT_BYTES)
			atomic_fetch_add(&bad, 1);
	}
	nf_buf_free(&out);
}

static void *thread_main(void *arg)
{
	run_many((int)(intptr_t)arg);
	return NULL;
}

static void *bare_main(void *arg)
{
	for (int i = 0; i < (int)(intptr_t)arg; i++) {
		nf_proc p;
		int st = -1;
		if (nf_spawn(bare, &p, NULL) || nf_proc_wait(&p, &st, -1) || st)
			atomic_fetch_add(&bad, 1);
		nf_proc_release(&p);
	}
	return NULL;
}

static void nofork_threads(void *(*fn)(void *))
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, fn, (void *)(intptr_t)(runs / 2));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

static atomic_int co_left;

static void co_main(void *arg)
{
	run_many((int)(intptr_t)arg);
	atomic_fetch_sub(&co_left, 1);
}

static void nofork_coroutines(void)
{
	atomic_store(&co_left, 2);
	for (int i = 0; i < 2; i++)
		nf_go(co_main, (void *)(intptr_t)(runs / 2));
	while (atomic_load(&co_left))
		nf_sleep_ms(1);
}

/* ninja's subprocess loop, reduced: two slots, each a child and the read
 * end of its stdout, served by one poll. */
struct slot {
	pid_t pid;
	int fd;
	size_t len;
	char *buf;
};

static int start_one(struct slot *s)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	char *argv[] = {(char *)target, NULL};
	int e = posix_spawn(&s->pid, target, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e) {
		close(p[0]);
		return e;
	}
	s->fd = p[0];
	s->len = 0;
	return 0;
}

static void posix_spawn_poll(void)
{
	struct slot s[2] = {{0, -1, 0, malloc(OUT_BYTES * 2)}, {0, -1, 0, malloc(OUT_BYTES * 2)}};
	int started = 0, done = 0;
	for (int i = 0; i < 2 && started < runs; i++, started++)
		if (start_one(&s[i]))
			abort();
	while (done < runs) {
		struct pollfd pf[2];
		int n = 0, which[2];
		for (int i = 0; i < 2; i++)
			if (s[i].fd >= 0) {
				pf[n] = (struct pollfd){s[i].fd, POLLIN, 0};
				which[n++] = i;
			}
		if (poll(pf, (nfds_t)n, -1) < 0)
			continue;
		for (int k = 0; k < n; k++) {
			if (!pf[k].revents)
				continue;
			struct slot *t = &s[which[k]];
			ssize_t r = read(t->fd, t->buf + t->len, OUT_BYTES * 2 - t->len);
			if (r > 0) {
				t->len += (size_t)r;
				continue;
			}
			close(t->fd);
			t->fd = -1;
			int st;
			if (waitpid(t->pid, &st, 0) != t->pid || st || t->len != OUT_BYTES)
				atomic_fetch_add(&bad, 1);
			done++;
			if (started < runs) {
				if (start_one(t))
					abort();
				started++;
			}
		}
	}
	free(s[0].buf);
	free(s[1].buf);
}

/* Python's time for runs subprocess.run calls, or a negative number. */
static double python_seconds(int gib)
{
	char script[1024];
	snprintf(script, sizeof script,
	         "import subprocess, sys, time, concurrent.futures as cf\n"
	         "keep = bytearray(%d << 30)\n"
	         "for i in range(0, len(keep), 4096): keep[i] = 1\n"
	         "def one(_):\n"
	         "    r = subprocess.run([sys.argv[1]], capture_output=True)\n"
	         "    assert r.returncode == 0 and len(r.stdout) == %d\n"
	         "t = time.monotonic()\n"
	         "with cf.ThreadPoolExecutor(2) as ex: list(ex.map(one, range(%d)))\n"
	         "print(time.monotonic() - t)\n",
	         gib, OUT_BYTES, runs);
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	char *argv[] = {"python3", "-c", script, (char *)target, NULL};
	int e = posix_spawnp(&pid, "python3", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e) {
		close(p[0]);
		return -1;
	}
	char buf[128] = "";
	ssize_t n = read(p[0], buf, sizeof buf - 1);
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (n <= 0 || st)
		return -1;
	buf[n] = '\0';
	return atof(buf);
}

#define METHODS 5
static const char *names[METHODS] = {"nofork nf_run x2 threads", "nofork nf_run coroutines", "posix_spawn+poll",
                                     "python subprocess x2", "no capture (ceiling) x2 threads"};
static double rate[METHODS][HN_MAX_ROUNDS];
static int gib_now;

static void run_method(void *arg, int round, int j)
{
	(void)arg;
	double t0 = hn_now_s(), secs;
	switch (j) {
	case 0: nofork_threads(thread_main); break;
	case 1: nofork_coroutines(); break;
	case 2: posix_spawn_poll(); break;
	case 4: nofork_threads(bare_main); break;
	}
	secs = j == 3 ? python_seconds(gib_now) : hn_now_s() - t0;
	rate[j][round] = secs > 0 ? runs / secs : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: io_bench TARGET [rounds] [runs-per-round]\n");
		return 2;
	}
	target = argv[1];
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	runs = argc > 3 ? atoi(argv[3]) : 2000;
	if (rounds < 1 || rounds > HN_MAX_ROUNDS || runs < 2)
		return 2;
	char *targv[] = {"emit64k", NULL};
	if (nf_cmd_new(&cmd, target, targv, NULL) || nf_cmd_pipe(cmd, 1, NF_PIPE_FROM_CHILD) ||
	    nf_cmd_new(&bare, target, targv, NULL) || nf_cmd_devnull(bare, 1) || nf_rt_start(2))
		return 1;
	printf("\n### Output capture: %d commands writing 64 KiB each, captured, 2 in flight (runs/s)\n\n", runs);
	hn_print_load("before");
	printf("\n| parent | method | median runs/s | min-max | / posix_spawn+poll | / python |\n"
	       "|---|---|---:|---|---:|---:|\n");
	for (gib_now = 0; gib_now <= 2; gib_now += 2) {
		char *mem = NULL;
		size_t size = (size_t)gib_now << 30;
		if (size) {
			mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mem == MAP_FAILED)
				return 1;
			for (size_t i = 0; i < size; i += 4096)
				mem[i] = 1;
		}
		hn_interleave(rounds, METHODS, run_method, NULL);
		struct hn_stats ref = hn_stats(rate[2], rounds), py = hn_stats(rate[3], rounds);
		for (int j = 0; j < METHODS; j++) {
			struct hn_stats s = hn_stats(rate[j], rounds);
			printf("| %d GiB | %s | %.0f | %.0f-%.0f | %.2f | %.2f |\n", gib_now, names[j], s.med, s.min, s.max,
			       s.med / ref.med, py.med > 0 ? s.med / py.med : 0);
		}
		if (mem)
			munmap(mem, size);
	}
	hn_print_load("after");
	nf_rt_stop();
	nf_cmd_free(cmd);
	nf_cmd_free(bare);
	if (atomic_load(&bad)) {
		fprintf(stderr, "io_bench: %d runs gave wrong output or status\n", atomic_load(&bad));
		return 1;
	}
	return 0;
}
