/* Small foreign stacks: nofork called from another coroutine library's
 * coroutine (a makecontext/swapcontext stack of 8 KiB here) stays within
 * 4 KiB of the caller's stack, including a failed spawn whose error record
 * lives on that stack and is rendered into a small caller buffer.
 *
 * Measured by painting the stack with a pattern, running the sequence on it
 * and finding the deepest byte that changed. The figures are printed; the
 * bound is asserted. The executable is linked with -z now, like
 * libnofork.so itself: lazy binding would run the dynamic linker's resolver
 * (a few KiB of stack: it saves the vector registers) on the test's first
 * call of each nofork function, which is the calling program's choice, not
 * nofork's stack use.
 *
 * Also here, since a small stack is its reason: nf_error_format renders
 * exactly what the snprintf rendering it replaced did, and NF_ERROR_MAX holds
 * every message. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* Instrumented frames and interceptors are not what a program runs: the
 * sequence still runs and the figures are printed, the bound is not held. */
#define STACK_SIZE (32 * 1024)
#define BUDGET STACK_SIZE
#else
#define STACK_SIZE (8 * 1024)
#define BUDGET 4096
#endif
#define PAINT 0xa5

static unsigned char *stack;
static ucontext_t main_ctx, co_ctx;
static void (*step_fn)(void);

static void trampoline(void)
{
	step_fn();
	/* uc_link returns to main_ctx */
}

/* Run fn on the painted stack; return the deepest byte it touched,
 * measured from the top. */
static size_t run_measured(void (*fn)(void))
{
	memset(stack, PAINT, STACK_SIZE);
	ck_assert_int_eq(getcontext(&co_ctx), 0);
	co_ctx.uc_stack.ss_sp = stack;
	co_ctx.uc_stack.ss_size = STACK_SIZE;
	co_ctx.uc_link = &main_ctx;
	step_fn = fn;
	makecontext(&co_ctx, trampoline, 0);
	ck_assert_int_eq(swapcontext(&main_ctx, &co_ctx), 0);
	size_t untouched = 0;
	while (untouched < STACK_SIZE && stack[untouched] == PAINT)
		untouched++;
	ck_assert_msg(untouched > 0, "the whole %d-byte stack was used", STACK_SIZE);
	return STACK_SIZE - untouched;
}

/* ---- the steps, run on the small stack ----------------------------------------- */

static nf_cmd *failing, *succeeding;
static int spawn_rc, wait_rc, status;
static char msg[256];

/* A fresh cmd (compiled at this first spawn) whose open fails in the
 * child; the record on this stack, the message into a 256-byte buffer. */
static void fail_and_format(void)
{
	nf_error err;
	nf_proc p;
	spawn_rc = nf_spawn(failing, &p, &err);
	nf_error_format(&err, msg, sizeof msg);
}

/* A warm cmd: spawn and wait. */
static void spawn_and_wait(void)
{
	nf_proc p;
	spawn_rc = nf_spawn(succeeding, &p, NULL);
	if (!spawn_rc) {
		wait_rc = nf_proc_wait(&p, &status, -1);
		nf_proc_release(&p);
	}
}

static nf_error record;
static nf_cmd *searched;

/* The same with a PATH search and a sorted list of kept fds to compile. */
static void search_fail_and_format(void)
{
	nf_error err;
	nf_proc p;
	spawn_rc = nf_spawn(searched, &p, &err);
	nf_error_format(&err, msg, sizeof msg);
}

/* The rendering alone, of the record fail_and_format's spawn left. */
static void format_only(void)
{
	nf_error_format(&record, msg, sizeof msg);
}

START_TEST(spawn_fail_format_within_4k_of_caller_stack)
{
	/* A guard page below: an overflow faults instead of writing the heap. */
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *map = mmap(NULL, (size_t)page + STACK_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map, (size_t)page, PROT_NONE), 0);
	stack = map + page;
	failing = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_open(failing, 0, "/nonexistent-nofork/input", O_RDONLY, 0), 0);

	/* The process's first spawn: cold stack pool, cmd compiled now. */
	size_t cold = run_measured(fail_and_format);
	ck_assert_int_eq(spawn_rc, ENOENT);
	ck_assert_str_eq(msg, "open /nonexistent-nofork/input as fd 0: No such file or directory");
	ck_assert_int_eq(nf_spawn(failing, &(nf_proc)NF_PROC_INIT, &record), ENOENT);
	size_t format = run_measured(format_only);
	ck_assert_str_eq(msg, "open /nonexistent-nofork/input as fd 0: No such file or directory");

	char *const argv[] = { "nofork-no-such-prog", NULL };
	char *const envp[] = { "PATH=/nonexistent-nofork/a:/nonexistent-nofork/b:/nonexistent-nofork/c", NULL };
	ck_assert_int_eq(nf_cmd_newp(&searched, argv[0], argv, envp), 0);
	for (int fd = 2; fd >= 0; fd--)
		ck_assert_int_eq(nf_cmd_keep_fd(searched, fd), 0);
	size_t search = run_measured(search_fail_and_format);
	ck_assert_int_eq(spawn_rc, ENOENT);
	ck_assert_str_eq(msg, "execve /nonexistent-nofork/c/nofork-no-such-prog: No such file or directory");

	succeeding = probe_cmd("exit", "0");
	ck_assert_int_eq(kit_spawn_wait(succeeding), 0); /* compiled */
	size_t warm = run_measured(spawn_and_wait);
	ck_assert_int_eq(spawn_rc, 0);
	ck_assert_int_eq(wait_rc, 0);
	ck_assert_int_eq(status, 0);

	fprintf(stderr, "caller stack used (bytes): cold failing spawn with the record on the stack "
		"+ nf_error_format into 256 B: %zu (with a PATH search: %zu); nf_error_format alone: %zu; "
		"warm spawn+wait: %zu; budget %d\n", cold, search, format, warm, BUDGET);
	ck_assert_msg(cold <= BUDGET, "cold failing spawn + format used %zu bytes of stack", cold);
	ck_assert_msg(search <= BUDGET, "cold failing spawn with a PATH search + format used %zu bytes of stack", search);
	ck_assert_msg(warm <= BUDGET, "warm spawn+wait used %zu bytes of stack", warm);
	nf_cmd_free(failing);
	nf_cmd_free(succeeding);
	nf_cmd_free(searched);
	munmap(map, (size_t)page + STACK_SIZE);
}
END_TEST

/* ---- the rendering ---------------------------------------------------------------- */

/* nf_error_format as it was (lib/error.c before it wrote into the caller's
 * buffer itself), the oracle for the one that replaced it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
static const char *old_rlimit_name(long r)
{
	static const char *const names[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	                                    "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO",
	                                    "RTTIME"};
	return r >= 0 && r < (long)(sizeof names / sizeof *names) ? names[r] : "?";
}

static const char *old_format(const nf_error *e, char *buf, size_t len)
{
	if (!buf || !len)
		return buf;
	if (!e) {
		snprintf(buf, len, "no error");
		return buf;
	}
	char what[8400];
	switch (e->op) {
	case NF_OP_DUP2: snprintf(what, sizeof what, "dup2 fd %ld to fd %d", e->arg, e->fd); break;
	case NF_OP_OPEN: snprintf(what, sizeof what, "open %s as fd %d", e->path, e->fd); break;
	case NF_OP_CLOSE: snprintf(what, sizeof what, "close fd %d", e->fd); break;
	case NF_OP_CHDIR: snprintf(what, sizeof what, "chdir %s", e->path); break;
	case NF_OP_FCHDIR: snprintf(what, sizeof what, "fchdir fd %d", e->fd); break;
	case NF_OP_KEEP_FD: snprintf(what, sizeof what, "keep fd %d", e->fd); break;
	case NF_OP_CLOSE_FDS: snprintf(what, sizeof what, "close fds from %d", e->fd); break;
	case NF_OP_SETSID: snprintf(what, sizeof what, "setsid"); break;
	case NF_OP_SETPGID: snprintf(what, sizeof what, "setpgid %ld", e->arg); break;
	case NF_OP_SIGDEFAULT: snprintf(what, sizeof what, "reset signal %ld to default", e->arg); break;
	case NF_OP_SIGMASK: snprintf(what, sizeof what, "set signal mask"); break;
	case NF_OP_SIGRESET: snprintf(what, sizeof what, "reset handler of signal %ld", e->arg); break;
	case NF_OP_EXEC:
		if (e->fd >= 0)
			snprintf(what, sizeof what, "execveat fd %d", e->fd);
		else
			snprintf(what, sizeof what, "execve %s", e->path);
		break;
	case NF_OP_FOREGROUND: snprintf(what, sizeof what, "make the child's group the foreground of fd %d", e->fd); break;
	case NF_OP_CTTY: snprintf(what, sizeof what, "make fd %d the controlling terminal", e->fd); break;
	case NF_OP_SETGROUPS: snprintf(what, sizeof what, "setgroups (%ld groups)", e->arg); break;
	case NF_OP_SETGID: snprintf(what, sizeof what, "setgid %ld", e->arg); break;
	case NF_OP_SETUID: snprintf(what, sizeof what, "setuid %ld", e->arg); break;
	case NF_OP_UMASK: snprintf(what, sizeof what, "umask %03lo", e->arg); break;
	case NF_OP_RLIMIT: snprintf(what, sizeof what, "setrlimit %s", old_rlimit_name(e->arg)); break;
	case NF_OP_NICE: snprintf(what, sizeof what, "setpriority %ld", e->arg); break;
	case NF_OP_SCHED: snprintf(what, sizeof what, "sched_setscheduler policy %ld", e->arg); break;
	case NF_OP_PDEATHSIG: snprintf(what, sizeof what, "set parent-death signal %ld", e->arg); break;
	case NF_OP_NO_NEW_PRIVS: snprintf(what, sizeof what, "set no_new_privs"); break;
	case NF_OP_CGROUP: snprintf(what, sizeof what, "enter cgroup of fd %d", e->fd); break;
	case NF_OP_FAIL: snprintf(what, sizeof what, "spawn request"); break;
	case NF_OP_IOPRIO: snprintf(what, sizeof what, "ioprio_set %ld", e->arg); break;
	case NF_OP_PIPE: snprintf(what, sizeof what, "connect a pipe to fd %d", e->fd); break;
	case NF_OP_ID_MAP: snprintf(what, sizeof what, "write %s", e->path); break;
	case NF_OP_HOSTNAME: snprintf(what, sizeof what, "sethostname %s", e->path); break;
	case NF_OP_MOUNT: snprintf(what, sizeof what, "mount %s on %s", e->path2 ? e->path2 : "", e->path); break;
	case NF_OP_MKDIR: snprintf(what, sizeof what, "mkdir %s", e->path); break;
	case NF_OP_SYMLINK: snprintf(what, sizeof what, "symlink %s to %s", e->path, e->path2 ? e->path2 : ""); break;
	case NF_OP_CHROOT: snprintf(what, sizeof what, "change root to %s", e->path); break;
	case NF_OP_AFFINITY: snprintf(what, sizeof what, "sched_setaffinity"); break;
	case NF_OP_OOM_SCORE_ADJ: snprintf(what, sizeof what, "write %s", e->path); break;
	case NF_OP_KEEPCAPS: snprintf(what, sizeof what, "set keep-caps"); break;
	case NF_OP_CAPBSET: snprintf(what, sizeof what, "drop capability %ld from the bounding set", e->arg); break;
	case NF_OP_CAPSET: snprintf(what, sizeof what, "capset"); break;
	case NF_OP_AMBIENT: snprintf(what, sizeof what, "raise ambient capability %ld", e->arg); break;
	case NF_OP_LANDLOCK: snprintf(what, sizeof what, "landlock_restrict_self fd %d", e->fd); break;
	case NF_OP_SECCOMP: snprintf(what, sizeof what, "seccomp"); break;
	case NF_OP_CLONE: snprintf(what, sizeof what, "clone"); break;
	default: snprintf(what, sizeof what, "spawn"); break;
	}
	char ebuf[128];
	if (e->signal)
		snprintf(buf, len, "%s: killed by signal %d before exec", what, e->signal);
	else
		snprintf(buf, len, "%s: %s", what, strerror_r(e->err, ebuf, sizeof ebuf));
	return buf;
}
#pragma GCC diagnostic pop

/* Every op kind (and some that are not) with every kind of operand, errno
 * and signal, into every buffer size: the same text, truncated the same. */
START_TEST(format_renders_what_snprintf_did)
{
	static char longpath[PATH_MAX];
	memset(longpath, 'p', PATH_MAX - 1);
	longpath[0] = '/';
	const char *paths[] = { "", "/x/y", longpath };
	const int fds[] = { -1, 0, 7, INT_MAX, INT_MIN };
	const long args[] = { -1, 0, 022, 7, 15, 16, LONG_MAX, LONG_MIN };
	const int errs[] = { 0, ENOENT, EACCES, 41, 4000, -5, INT_MIN, EILSEQ };
	const int sigs[] = { 0, SIGKILL, -3 };
	const size_t lens[] = { 1, 2, 9, 40, 256, NF_ERROR_MAX };
	static char want[NF_ERROR_MAX + 64], got[NF_ERROR_MAX + 64];
	size_t longest = 0;
	long n = 0;
	for (int op = -1; op <= NF_OP_KIND_COUNT; op++)
	for (size_t f = 0; f < sizeof fds / sizeof *fds; f++)
	for (size_t a = 0; a < sizeof args / sizeof *args; a++)
	for (size_t x = 0; x < sizeof errs / sizeof *errs; x++)
	for (size_t g = 0; g < sizeof sigs / sizeof *sigs; g++)
	for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
		nf_error e = { .err = errs[x], .op = op, .index = 3, .fd = fds[f], .arg = args[a],
			       .signal = sigs[g], .path = paths[p], .path2 = paths[p == 2 ? 2 : p + 1] };
		old_format(&e, want, sizeof want);
		size_t full = strlen(want);
		if (full > longest)
			longest = full;
		for (size_t l = 0; l < sizeof lens / sizeof *lens; l++, n++) {
			got[lens[l]] = 'x'; /* beyond the buffer: untouched */
			ck_assert_ptr_eq(nf_error_format(&e, got, lens[l]), got);
			size_t keep = full < lens[l] - 1 ? full : lens[l] - 1;
			ck_assert_msg(memcmp(got, want, keep) == 0 && got[keep] == '\0' && got[lens[l]] == 'x',
				      "op %d fd %d arg %ld err %d sig %d len %zu: \"%.80s\", want \"%.80s\"",
				      op, fds[f], args[a], errs[x], sigs[g], lens[l], got, want);
		}
	}
	ck_assert_str_eq(nf_error_format(NULL, got, sizeof got), "no error");
	got[0] = 'x';
	ck_assert(nf_error_format(NULL, got, 0) == got && got[0] == 'x'); /* len 0: untouched */
	fprintf(stderr, "%ld renderings compared; the longest message is %zu bytes\n", n, longest);
	ck_assert_msg(longest < NF_ERROR_MAX, "a %zu-byte message does not fit NF_ERROR_MAX", longest);
}
END_TEST

/* Every errno's text, on the longest path, fits NF_ERROR_MAX. */
START_TEST(error_max_holds_every_message)
{
	static char longpath[PATH_MAX], buf[NF_ERROR_MAX + 1];
	memset(longpath, 'p', PATH_MAX - 1);
	nf_error e = { .op = NF_OP_OPEN, .fd = INT_MIN, .path = longpath };
	for (e.err = -1; e.err < 4096; e.err++) {
		nf_error_format(&e, buf, sizeof buf);
		ck_assert_msg(strlen(buf) < NF_ERROR_MAX, "errno %d: %zu bytes", e.err, strlen(buf));
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("small_stack");
	TCase *tc = kit_tcase("small_stack", 30);
	tcase_add_test(tc, spawn_fail_format_within_4k_of_caller_stack);
	tcase_add_test(tc, format_renders_what_snprintf_did);
	tcase_add_test(tc, error_max_holds_every_message);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
