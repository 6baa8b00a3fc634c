/* The posix_spawn compat layer allocates nothing, ever: not per spawn, not
 * on the first spawn of a process, whatever file actions and attributes it
 * is given. glibc's posix_spawn allocates nothing either, so programs call it
 * where malloc is off limits, above all from a signal handler that may have
 * interrupted malloc or free.
 *
 * - Each scenario runs first through nofork_* with every allocator entry
 *   counted (this program replaces malloc, calloc, realloc, free,
 *   aligned_alloc, posix_memalign and memalign), in a fresh process (Check's
 *   fork mode; the stack pool is asserted empty), then through glibc's own
 *   functions; the calls must be 0 and the probe's reports equal.
 * - A SIGALRM handler, on a small guarded sigaltstack, spawns every 200 µs
 *   while the main loop mallocs and frees: every child must have run, and the
 *   heap must survive (with the allocating compat layer, glibc aborts with
 *   "corrupted double-linked list" or similar within a second).
 *
 * White-box (links nofork_internal): the fresh-process check reads the stack
 * pool, and the pre-2.15 posix_spawnp of the preload is called directly.
 */
#include "kit.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch_abi.h" /* NF_GLIBC_SPAWN_OLD */
#include "compat/compat_int.h"
#include "nofork/spawn.h"
#include "stack_pool.h"

/* ---- allocation counting ------------------------------------------------------
 * Every entry point of the allocator, forwarded to glibc's; a call made by a
 * thread while its `counting` is set is counted, free included. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int counting;
static __thread long calls;

static inline void count(void)
{
	if (counting)
		calls++;
}

void *malloc(size_t n)
{
	count();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	count();
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	count();
	return __libc_realloc(p, n);
}

void free(void *p)
{
	count();
	__libc_free(p);
}

void *aligned_alloc(size_t align, size_t n)
{
	count();
	return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
	count();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	count();
	void *p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* ---- the two implementations ------------------------------------------------------ */

#include "compat_api.h"

/* ---- scenarios --------------------------------------------------------------------- */

#define FD_INHERIT 9 /* /dev/null, inheritable */
#define FD_ROOT 11   /* "/", close-on-exec */

enum how { SPAWN, SPAWNP, PIDFD_SPAWN, PIDFD_SPAWNP, SPAWNP_SH };

struct run {
	enum how how;
	const char *file;
	char *argv[4];
};

typedef void scenario_fn(const struct api *A, posix_spawn_file_actions_t *fa,
	posix_spawnattr_t *at, struct run *run);

static char pty_slave[64];
static char script_dir[PATH_MAX];

/* PATH with a first element that does not hold the file. */
static void path_with(const char *dir)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "/nonexistent-nofork:%s", dir);
	ck_assert_int_eq(setenv("PATH", path, 1), 0);
}

static void probe_dir(char *out, size_t len)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", probe_path());
	snprintf(out, len, "%s", dirname(copy));
}

#define SCENARIO(n) static void n(const struct api *A, posix_spawn_file_actions_t *fa, \
	posix_spawnattr_t *at, struct run *run)
#define UNUSED (void)A, (void)fa, (void)at, (void)run

SCENARIO(spawn) { UNUSED; }

SCENARIO(spawnp_searches_path)
{
	UNUSED;
	char dir[PATH_MAX];
	probe_dir(dir, sizeof dir);
	path_with(dir);
	run->how = SPAWNP;
	run->file = "probe";
}

SCENARIO(pidfd_spawn) { UNUSED; run->how = PIDFD_SPAWN; }

SCENARIO(pidfd_spawnp_searches_path)
{
	spawnp_searches_path(A, fa, at, run);
	run->how = PIDFD_SPAWNP;
}

/* Every kind of file action but tcsetpgrp (next scenario), in an order
 * where each one shows in the report. */
SCENARIO(every_file_action)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 5, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(A->adddup2(fa, 5, 7), 0);
	ck_assert_int_eq(A->addclose(fa, FD_INHERIT), 0);
	ck_assert_int_eq(A->addclose(fa, 60), 0); /* not open: fine, as in glibc */
	ck_assert_int_eq(A->addfchdir(fa, FD_ROOT), 0);
	ck_assert_int_eq(A->addchdir(fa, "usr"), 0);
	ck_assert_int_eq(A->addopen(fa, 12, "/dev/null", O_WRONLY | O_CLOEXEC, 0), 0);
	ck_assert_int_eq(A->addclosefrom(fa, 20), 0); /* the report already is fd 1 */
}

SCENARIO(tcsetpgrp_in_new_session)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSID), 0);
	ck_assert_int_eq(A->addopen(fa, 5, pty_slave, O_RDWR, 0), 0);
	ck_assert_int_eq(A->addtcsetpgrp(fa, 5), 0);
}

SCENARIO(every_attribute)
{
	UNUSED;
	sigset_t mask, def;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGRTMIN + 1);
	sigemptyset(&def);
	sigaddset(&def, SIGUSR2); /* ignored in this process */
	struct sched_param sp = { .sched_priority = 0 };
	ck_assert_int_eq(A->setsigmask(at, &mask), 0);
	ck_assert_int_eq(A->setsigdefault(at, &def), 0);
	ck_assert_int_eq(A->setpgroup(at, 0), 0);
	ck_assert_int_eq(A->setschedpolicy(at, SCHED_OTHER), 0);
	ck_assert_int_eq(A->setschedparam(at, &sp), 0);
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
		POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_RESETIDS | POSIX_SPAWN_SETSCHEDULER), 0);
}

SCENARIO(new_session)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSID), 0);
}

SCENARIO(spawn_fails)
{
	UNUSED;
	ck_assert_int_eq(A->addchdir(fa, "/"), 0);
	run->file = "/nonexistent-nofork/probe";
}

SCENARIO(spawnp_name_too_long)
{
	UNUSED;
	static char name[NAME_MAX + 2];
	memset(name, 'n', sizeof name - 1);
	run->how = SPAWNP;
	run->file = name;
}

/* glibc < 2.15's posix_spawnp: a script without "#!" found in PATH runs as
 * /bin/sh NAME args (run from its directory, so that sh finds NAME). */
SCENARIO(old_spawnp_runs_script_with_sh)
{
	UNUSED;
	path_with(script_dir);
	ck_assert_int_eq(A->addchdir(fa, script_dir), 0);
	run->how = SPAWNP_SH;
	run->file = "nf-script";
	run->argv[0] = "nf-script";
	run->argv[1] = "one";
	run->argv[2] = "two";
}

static const struct {
	const char *name;
	scenario_fn *fn;
} scenarios[] = {
#define S(x) { #x, x }
	S(spawn), S(spawnp_searches_path), S(pidfd_spawn), S(pidfd_spawnp_searches_path),
	S(every_file_action), S(tcsetpgrp_in_new_session), S(every_attribute), S(new_session),
	S(spawn_fails), S(spawnp_name_too_long), S(old_spawnp_runs_script_with_sh),
#undef S
};
#define NSCEN ((int)(sizeof scenarios / sizeof scenarios[0]))

/* ---- running one --------------------------------------------------------------------- */

struct outcome {
	int rc;
	int status;
	long allocs;
	char out[65536];
};

static void read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, buf + n, cap - 1 - n)) > 0 || (r < 0 && errno == EINTR))
		n += r > 0 ? (size_t)r : 0;
	buf[n] = '\0';
}

/* Two children's reports made comparable: without the pid line, the child's
 * own pid (pgid, sid, tpgid) as SELF, pipe inode numbers dropped. */
static void normalize(char *out, size_t cap)
{
	static char copy[65536];
	char pid[32] = "";
	const char *p = strncmp(out, "pid ", 4) ? strstr(out, "\npid ") : out;
	if (p)
		snprintf(pid, sizeof pid, "%ld", strtol(p + (*p == '\n') + 4, NULL, 10));
	snprintf(copy, sizeof copy, "%s", out);
	size_t n = 0;
	out[0] = '\0';
	for (char *save, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "pid ", 4))
			continue;
		char *pipe = strstr(line, "pipe:[");
		if (pipe)
			strcpy(pipe + 6, "]");
		bool pid_line = kit_probe_pid_line(line);
		for (char *w = line, *end; *w; w = end) {
			end = w + strcspn(w, " ");
			size_t wl = (size_t)(end - w);
			bool self = *pid && pid_line && wl == strlen(pid) && !strncmp(w, pid, wl);
			n += (size_t)snprintf(out + n, cap - n, "%.*s", self ? 4 : (int)wl, self ? "SELF" : w);
			if (*end)
				n += (size_t)snprintf(out + n, cap - n, "%c", *end++);
		}
		n += (size_t)snprintf(out + n, cap - n, "\n");
	}
}

static void run_one(const struct api *A, scenario_fn *fn, struct outcome *o)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *envp[] = { "NF_COMPAT_ALLOC=1", NULL };
	struct run run = { .how = SPAWN, .file = probe_path(), .argv = { "probe" } };
	int p[2];

	ck_assert_int_eq(A->fa_init(&fa), 0);
	ck_assert_int_eq(A->attr_init(&at), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(dup3(p[1], PROBE_FD, O_CLOEXEC), PROBE_FD);
	close(p[1]);
	ck_assert_int_eq(A->adddup2(&fa, PROBE_FD, 1), 0);
	fn(A, &fa, &at, &run);

	/* glibc 2.36 has no pidfd_spawn[p]: the reference is posix_spawn[p]. */
	pid_t pid = -1;
	int pidfd = -1;
	const bool by_pidfd = (run.how == PIDFD_SPAWN || run.how == PIDFD_SPAWNP) && A->pidfd_spawn;
	calls = 0;
	counting = A == &nofork_api;
	switch (run.how) {
	case SPAWN: o->rc = A->spawn(&pid, run.file, &fa, &at, run.argv, envp); break;
	case SPAWNP: o->rc = A->spawnp(&pid, run.file, &fa, &at, run.argv, envp); break;
	case SPAWNP_SH: o->rc = A->spawnp_sh(&pid, run.file, &fa, &at, run.argv, envp); break;
	case PIDFD_SPAWN:
		o->rc = by_pidfd ? A->pidfd_spawn(&pidfd, run.file, &fa, &at, run.argv, envp)
				 : A->spawn(&pid, run.file, &fa, &at, run.argv, envp);
		break;
	case PIDFD_SPAWNP:
		o->rc = by_pidfd ? A->pidfd_spawnp(&pidfd, run.file, &fa, &at, run.argv, envp)
				 : A->spawnp(&pid, run.file, &fa, &at, run.argv, envp);
		break;
	}
	counting = 0;
	o->allocs = calls;

	close(PROBE_FD);
	read_all(p[0], o->out, sizeof o->out);
	close(p[0]);
	o->status = -1;
	if (o->rc == 0 && by_pidfd) {
		siginfo_t si = { 0 };
		ck_assert_int_ge(pidfd, 0);
		ck_assert_int_eq(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
		o->status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
		close(pidfd);
	} else if (o->rc == 0) {
		ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
	}
	normalize(o->out, sizeof o->out);
	ck_assert_int_eq(A->fa_destroy(&fa), 0);
	ck_assert_int_eq(A->attr_destroy(&at), 0);
}

#ifndef NF_GLIBC_SPAWN_OLD
/* What glibc < 2.15's posix_spawnp did, from today's glibc calls, for a
 * glibc that never had it: a file found in PATH that execve refuses with
 * ENOEXEC runs as /bin/sh FILE args (FILE as given). */
static int glibc_spawnp_sh(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
	const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	int rc = posix_spawnp(pid, file, fa, at, argv, envp);
	if (rc != ENOEXEC)
		return rc;
	char *sh[8] = { "/bin/sh", (char *)file };
	for (int i = 1; argv[i] && i < 6; i++)
		sh[i + 1] = argv[i];
	return posix_spawn(pid, "/bin/sh", fa, at, sh, envp);
}
#endif

START_TEST(no_allocation)
{
	static struct outcome n, g;
	const char *name = scenarios[_i].name;
	/* The first compat spawn of this process: nothing warmed the pool. */
	ck_assert_uint_eq(stack_mapped(), 0);
	run_one(&nofork_api, scenarios[_i].fn, &n);
	run_one(&glibc_api, scenarios[_i].fn, &g);
	ck_assert_msg(n.allocs == 0, "%s: %ld calls into the allocator", name, n.allocs);
	ck_assert_msg(g.rc == n.rc, "%s: glibc returned %d (%s), nofork %d (%s)", name, g.rc,
		strerror(g.rc), n.rc, strerror(n.rc));
	ck_assert_msg(g.status == n.status, "%s: exit status glibc %#x nofork %#x", name, g.status,
		n.status);
	ck_assert_msg(!strcmp(g.out, n.out), "%s: the children differ\n--- glibc\n%s--- nofork\n%s",
		name, g.out, n.out);
	if (n.rc == 0)
		ck_assert_msg(strstr(n.out, "argc ") || strstr(n.out, "script "),
			"%s: the child printed no report", name);
	/* A second spawn, from a warm pool, allocates nothing either. */
	run_one(&nofork_api, scenarios[_i].fn, &n);
	ck_assert_msg(n.allocs == 0, "%s (again): %ld calls into the allocator", name, n.allocs);
	ck_assert_msg(!strcmp(g.out, n.out), "%s (again): the children differ", name);
}
END_TEST

/* The counter sees the library's own calls: building a cmd allocates. */
START_TEST(counter_sees_library_calls)
{
	char *argv[] = { "probe", NULL };
	nf_cmd *cmd = NULL;
	calls = 0;
	counting = 1;
	int rc = nf_cmd_new(&cmd, probe_path(), argv, NULL);
	nf_cmd_free(cmd);
	counting = 0;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_ge(calls, 2);
}
END_TEST

/* ---- spawning from a signal handler ------------------------------------------------- */

enum { MALLOC_SLOTS = 64, HANDLER_SECONDS = 2 };

static posix_spawn_file_actions_t h_fa;
static posix_spawnattr_t h_attr;
static const char *h_path;
static char *h_argv[] = { "probe", "exit", "0", NULL };
static char *h_envp[] = { NULL };
static volatile sig_atomic_t h_spawned, h_failed, h_err;
/* Bumped by the main loop after each malloc or free. A spawn takes longer
 * than the timer's period, so a handler that always spawned would starve
 * the main loop: one spawns only after the main loop moved on. */
static volatile sig_atomic_t h_progress, h_seen;

static void spawn_on_alarm(int sig)
{
	(void)sig;
	if (h_progress == h_seen)
		return;
	h_seen = h_progress;
	int saved = errno;
	pid_t pid;
	int r = nofork_posix_spawn(&pid, h_path, &h_fa, &h_attr, h_argv, h_envp);
	if (r == 0)
		h_spawned++;
	else
		h_failed++, h_err = r;
	errno = saved;
}

/* A sigaltstack of a few KiB above what the kernel's signal frame needs,
 * with an inaccessible page below: a spawn that used more stack than it
 * may would fault there instead of passing. */
static void small_altstack(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = (getauxval(AT_MINSIGSTKSZ) + 4096 + page - 1) & ~(page - 1);
	char *mem = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	ck_assert_int_eq(mprotect(mem, page, PROT_NONE), 0);
	stack_t ss = { .ss_sp = mem + page, .ss_size = size };
	ck_assert_int_eq(sigaltstack(&ss, NULL), 0);
}

/* The main loop keeps the heap busy: sizes from tcache to mmap'd chunks. */
static void churn(void **slot, unsigned *seed)
{
	for (int i = 0; i < MALLOC_SLOTS; i++) {
		*seed = *seed * 1103515245u + 12345u;
		unsigned r = *seed >> 8;
		size_t size = r % 4 == 0 ? 16 + r % 256 : r % 4 == 1 ? 1024 + r % 8192
			: r % 4 == 2 ? 65536 + r % 65536 : 140000 + r % 60000;
		free(slot[i]);
		h_progress++;
		slot[i] = malloc(size);
		h_progress++;
		ck_assert_ptr_nonnull(slot[i]);
		memset(slot[i], (int)i, size < 64 ? size : 64);
	}
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

START_TEST(spawn_from_handler_during_malloc)
{
	h_path = probe_path();
	ck_assert_int_eq(nofork_posix_spawn_file_actions_init(&h_fa), 0);
	ck_assert_int_eq(nofork_posix_spawn_file_actions_addopen(&h_fa, 0, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(nofork_posix_spawn_file_actions_adddup2(&h_fa, 2, 1), 0);
	ck_assert_int_eq(nofork_posix_spawnattr_init(&h_attr), 0);
	sigset_t none;
	sigemptyset(&none);
	ck_assert_int_eq(nofork_posix_spawnattr_setsigmask(&h_attr, &none), 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setflags(&h_attr, POSIX_SPAWN_SETSIGMASK), 0);

	small_altstack();
	struct sigaction sa = { .sa_handler = spawn_on_alarm, .sa_flags = SA_RESTART | SA_ONSTACK };
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval every = { { 0, 200 }, { 0, 200 } };
	ck_assert_int_eq(setitimer(ITIMER_REAL, &every, NULL), 0);

	void *slot[MALLOC_SLOTS] = { 0 };
	unsigned seed = 1;
	int reaped = 0, bad = 0;
	double start = kit_now_s();
	do {
		churn(slot, &seed);
		reaped += reap(WNOHANG, &bad);
	} while (kit_now_s() - start < HANDLER_SECONDS);

	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, NULL);
	reaped += reap(0, &bad);
	for (int i = 0; i < MALLOC_SLOTS; i++)
		free(slot[i]);
	nofork_posix_spawn_file_actions_destroy(&h_fa);

	ck_assert_msg(h_failed == 0, "%d spawns failed, the last with %s", (int)h_failed,
		strerror(h_err));
	ck_assert_int_gt(h_spawned, 0);
	ck_assert_int_eq(reaped, h_spawned);
	ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- fixture ---------------------------------------------------------------------- */

static void setup_parent(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0 || dup2(fd, FD_INHERIT) != FD_INHERIT)
		abort();
	close(fd);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || dup3(fd, FD_ROOT, O_CLOEXEC) != FD_ROOT)
		abort();
	close(fd);
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, pty_slave, sizeof pty_slave))
		abort();
	signal(SIGUSR2, SIG_IGN);
	/* The old posix_spawnp's reference: glibc's own compat symbol, where
	 * there is one (arch_abi.h); aarch64's glibc never had it. */
#ifdef NF_GLIBC_SPAWN_OLD
	glibc_api.spawnp_sh = (spawn_fn *)dlvsym(RTLD_NEXT, "posix_spawnp", NF_GLIBC_SPAWN_OLD);
#else
	glibc_api.spawnp_sh = glibc_spawnp_sh;
#endif
	if (!glibc_api.spawnp_sh)
		abort();
	nofork_api.spawn_sh = nofork_posix_spawn_try_shell;
	nofork_api.spawnp_sh = nofork_posix_spawnp_try_shell;
	/* A script without "#!": execve refuses it with ENOEXEC. */
	snprintf(script_dir, sizeof script_dir, "/tmp/nf-compat-alloc.XXXXXX");
	if (!mkdtemp(script_dir))
		abort();
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/nf-script", script_dir);
	const char text[] = "echo script $0 $*\n";
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)sizeof text - 1)
		abort();
	close(fd);
}

static void remove_script(void)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/nf-script", script_dir);
	unlink(path);
	rmdir(script_dir);
}

int main(void)
{
	setup_parent();
	Suite *s = suite_create("compat_alloc");
	TCase *tc = kit_tcase("spawns", 30);
	tcase_add_loop_test(tc, no_allocation, 0, NSCEN);
	tcase_add_test(tc, counter_sees_library_calls);
	suite_add_tcase(s, tc);
	TCase *th = kit_tcase("handler", 60);
	tcase_add_test(th, spawn_from_handler_during_malloc);
	suite_add_tcase(s, th);
	int rc = kit_main(s);
	remove_script();
	return rc;
}
