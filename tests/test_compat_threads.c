/* Thread safety of the posix_spawn compat layer: several threads spawn the
 * probe at once through nofork_posix_spawn[p], sharing one attribute object
 * and one file-actions object (and, every other spawn, building their own),
 * while the probe of each spawn appends its report to one file. Every report
 * must then show exactly what the shared objects asked for.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"
#include "nofork/spawn.h"

#define THREADS 4
#define PER_THREAD 25
#define FD_DROPPED 9 /* open in the parent, closed by the shared actions */

static char scratch[] = "/tmp/nf-compat-threads.XXXXXX";
static char out_path[PATH_MAX];
static posix_spawnattr_t shared_attr;
static posix_spawn_file_actions_t shared_fa;

/* The actions every spawn gets, shared or rebuilt. */
static int build_actions(posix_spawn_file_actions_t *fa)
{
	int r = nofork_posix_spawn_file_actions_init(fa);
	if (!r)
		r = nofork_posix_spawn_file_actions_addchdir_np(fa, scratch);
	if (!r)
		r = nofork_posix_spawn_file_actions_addopen(fa, 1, out_path,
			O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (!r)
		r = nofork_posix_spawn_file_actions_addclose(fa, FD_DROPPED);
	if (!r)
		r = nofork_posix_spawn_file_actions_adddup2(fa, 0, 5);
	return r;
}

struct worker {
	int id;
	int failures;
	char msg[256];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char tag[32];
		snprintf(tag, sizeof tag, "T%d-%d", w->id, i);
		char *argv[] = { "probe", tag, NULL };
		char *envp[] = { "NF_THREADS=1", NULL };
		posix_spawn_file_actions_t own, *fa = &shared_fa;
		if (i % 2) {
			if (build_actions(&own) != 0) {
				w->failures++;
				continue;
			}
			fa = &own;
		}
		pid_t pid = -1;
		int r = (w->id % 2)
			? nofork_posix_spawnp(&pid, "probe", fa, &shared_attr, argv, envp)
			: nofork_posix_spawn(&pid, PROBE_PATH, fa, &shared_attr, argv, envp);
		int status = -1;
		if (r == 0 && waitpid(pid, &status, 0) != pid)
			r = errno;
		if (r != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (!w->failures++)
				snprintf(w->msg, sizeof w->msg, "%s: spawn %d status %#x", tag, r, status);
		}
		if (fa == &own)
			nofork_posix_spawn_file_actions_destroy(&own);
	}
	return NULL;
}

static const char *line_value(const char *report, const char *end, const char *key)
{
	size_t kl = strlen(key);
	for (const char *l = report; l && l < end; l = strchr(l, '\n'), l = l ? l + 1 : l)
		if (!strncmp(l, key, kl) && l[kl] == ' ')
			return l + kl + 1;
	return NULL;
}

START_TEST(shared_objects)
{
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .id = i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_msg(w[i].failures == 0, "thread %d: %d failures, first: %s", i,
			w[i].failures, w[i].msg);
	}

	int fd = open(out_path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	char *text = calloc(1, (size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(read(fd, text, (size_t)st.st_size), st.st_size);
	close(fd);

	static char seen[THREADS][PER_THREAD];
	int reports = 0;
	char want_cwd[PATH_MAX + 8];
	snprintf(want_cwd, sizeof want_cwd, "%s\n", scratch);
	for (char *r = strstr(text, "argc 2\n"); r; ) {
		char *next = strstr(r + 1, "argc 2\n");
		const char *end = next ? next : r + strlen(r);
		int tid, idx;
		const char *arg = line_value(r, end, "arg 1");
		ck_assert_ptr_nonnull(arg);
		ck_assert_int_eq(sscanf(arg, "T%d-%d", &tid, &idx), 2);
		ck_assert(tid >= 0 && tid < THREADS && idx >= 0 && idx < PER_THREAD);
		ck_assert_msg(!seen[tid][idx]++, "report T%d-%d twice", tid, idx);
		const char *cwd = line_value(r, end, "cwd");
		ck_assert_msg(cwd && !strncmp(cwd, want_cwd, strlen(want_cwd)), "T%d-%d: cwd", tid, idx);
		/* Shared attributes: mask {USR1, RTMIN+1}, USR2 back to default
		 * although the parent ignores it, a group of its own. */
		unsigned long long mask = strtoull(line_value(r, end, "sigmask"), NULL, 16);
		ck_assert_msg(mask == (1ull << (SIGUSR1 - 1) | 1ull << (SIGRTMIN + 1 - 1)),
			"T%d-%d: sigmask %llx", tid, idx, mask);
		unsigned long long ign = strtoull(line_value(r, end, "sigign"), NULL, 16);
		ck_assert_msg(!(ign & (1ull << (SIGUSR2 - 1))), "T%d-%d: SIGUSR2 still ignored", tid, idx);
		ck_assert_msg(ign & (1ull << (SIGPIPE - 1)), "T%d-%d: SIGPIPE no longer ignored", tid, idx);
		long pid = strtol(line_value(r, end, "pid"), NULL, 10);
		long pgid = strtol(line_value(r, end, "pgid"), NULL, 10);
		ck_assert_msg(pgid == pid, "T%d-%d: pgid %ld pid %ld", tid, idx, pgid, pid);
		/* Shared actions: fd 9 closed, fd 5 = stdin, stdout the report file. */
		char fdline[64];
		snprintf(fdline, sizeof fdline, "\nfd %d ", FD_DROPPED);
		char *scope = strndup(r, (size_t)(end - r));
		ck_assert_msg(!strstr(scope, fdline), "T%d-%d: fd %d still open", tid, idx, FD_DROPPED);
		ck_assert_msg(strstr(scope, "\nfd 5 "), "T%d-%d: no fd 5", tid, idx);
		ck_assert_msg(strstr(scope, "out\n"), "T%d-%d: stdout is not the report file", tid, idx);
		free(scope);
		reports++;
		r = next;
	}
	ck_assert_int_eq(reports, THREADS * PER_THREAD);
	free(text);
}
END_TEST

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(scratch));
	snprintf(out_path, sizeof out_path, "%s/out", scratch);
	int fd = open("/dev/null", O_RDONLY);
	ck_assert_int_eq(dup2(fd, FD_DROPPED), FD_DROPPED);
	close(fd);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* posix_spawnp's search: the probe's directory. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", PROBE_PATH);
	*strrchr(dir, '/') = '\0';
	setenv("PATH", dir, 1);

	sigset_t mask, def;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGRTMIN + 1);
	sigemptyset(&def);
	sigaddset(&def, SIGUSR2);
	ck_assert_int_eq(nofork_posix_spawnattr_init(&shared_attr), 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setsigmask(&shared_attr, &mask), 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setsigdefault(&shared_attr, &def), 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setpgroup(&shared_attr, 0), 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setflags(&shared_attr, POSIX_SPAWN_SETSIGMASK
		| POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_USEVFORK), 0);
	ck_assert_int_eq(build_actions(&shared_fa), 0);
}

static void teardown(void)
{
	nofork_posix_spawn_file_actions_destroy(&shared_fa);
	nofork_posix_spawnattr_destroy(&shared_attr);
	unlink(out_path);
	rmdir(scratch);
	close(FD_DROPPED);
}

int main(void)
{
	Suite *s = suite_create("compat_threads");
	TCase *tc = kit_tcase("threads", 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, shared_objects);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
