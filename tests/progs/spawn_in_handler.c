/* spawn_in_handler SECONDS PROGRAM [ARGS...]: for SECONDS, a SIGALRM handler
 * (every 200 µs) calls posix_spawn(PROGRAM, {PROGRAM, ARGS...}) with stdin
 * from /dev/null and an empty signal mask, while the main loop mallocs and
 * frees memory of every size class, so the signal often lands inside malloc
 * or free. Then it reaps every child and prints "spawned N reaped R failed F
 * bad B" (F: spawns that returned an error, B: children that did not exit
 * 0); exit status 0 if N > 0, R == N and F == B == 0.
 *
 * glibc's posix_spawn allocates nothing, so this works with it; run with
 * LD_PRELOAD=libnofork-preload.so, it shows that the preload does not
 * either (an allocating spawn corrupts the heap: glibc aborts). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static posix_spawn_file_actions_t fa;
static posix_spawnattr_t attr;
static char **child_argv;
static char *child_envp[] = { NULL };
static volatile sig_atomic_t spawned, failed;
/* Bumped after each malloc and free. A spawn may take longer than the
 * timer's period: a handler that always spawned would starve the main loop,
 * so one spawns only after the main loop moved on. */
static volatile sig_atomic_t progress, seen;

static void on_alarm(int sig)
{
	(void)sig;
	if (progress == seen)
		return;
	seen = progress;
	int saved = errno;
	pid_t pid;
	if (posix_spawn(&pid, child_argv[0], &fa, &attr, child_argv, child_envp) == 0)
		spawned++;
	else
		failed++;
	errno = saved;
}

static int reap(int flags, int *bad)
{
	int n = 0, st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, flags)) > 0 || (pid < 0 && errno == EINTR))
		if (pid > 0) {
			n++;
			*bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		}
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawn_in_handler SECONDS PROGRAM [ARGS...]\n");
		return 2;
	}
	int seconds = atoi(argv[1]);
	child_argv = argv + 2;
	sigset_t none;
	sigemptyset(&none);
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
	    posix_spawnattr_init(&attr) || posix_spawnattr_setsigmask(&attr, &none) ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK))
		return 2;
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval every = { { 0, 200 }, { 0, 200 } };
	if (sigaction(SIGALRM, &sa, NULL) || setitimer(ITIMER_REAL, &every, NULL))
		return 2;

	enum { SLOTS = 64 };
	void *slot[SLOTS] = { 0 };
	unsigned seed = 1;
	int reaped = 0, bad = 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (int i = 0; i < SLOTS; i++) {
			seed = seed * 1103515245u + 12345u;
			unsigned r = seed >> 8;
			size_t size = r % 4 == 0 ? 16 + r % 256 : r % 4 == 1 ? 1024 + r % 8192
				: r % 4 == 2 ? 65536 + r % 65536 : 140000 + r % 60000;
			free(slot[i]);
			progress++;
			if (!(slot[i] = malloc(size)))
				return 2;
			progress++;
			memset(slot[i], i, size < 64 ? size : 64);
		}
		reaped += reap(WNOHANG, &bad);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < seconds);

	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, NULL);
	reaped += reap(0, &bad);
	printf("spawned %d reaped %d failed %d bad %d\n", (int)spawned, reaped, (int)failed, bad);
	return spawned > 0 && reaped == spawned && !failed && !bad ? 0 : 1;
}
