/* Environment edits (nf_cmd_setenv, nf_cmd_unsetenv, nf_cmd_clearenv): the
 * environment the probe prints, in its order, for each edit on the live
 * environ and on a fixed envp; the live environ read at each spawn of one
 * compiled cmd; PATH search through an edited PATH; bad input; no
 * allocation per spawn; from coroutines; an environ too large for any child
 * stack. Each test sets environ to an array of its own first (Check forks
 * a process per test). */
#include "kit.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ---- allocation counting ------------------------------------------------------
 * As tests/test_reuse.c: calls made by a thread while its `counting` is set
 * are counted, then forwarded to glibc's allocator. Not under ASan or TSan,
 * whose interposition forbids replacing malloc (tests/run-hardening): the
 * counting test is left out there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNTS_ALLOCATIONS 0
#else
#define COUNTS_ALLOCATIONS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread int counting;
static __thread long allocations;

void *malloc(size_t n)
{
	allocations += counting;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	allocations += counting;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	allocations += counting;
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	allocations += counting;
	return __libc_memalign(align, n);
}
#endif

/* ---- helpers ----------------------------------------------------------------- */

/* environ := a malloc'd copy of v (the caller's setenv/unsetenv may then
 * change it, as they would a program's). Call it after probe_cmd, which
 * reads NF_PROBE and NF_TEST_NO_PIDFD from the environment. The copy stays
 * reachable for LeakSanitizer after setenv has replaced it. */
static void set_environ(const char *const *v)
{
	static char **kept;
	size_t n = 0;
	while (v[n])
		n++;
	ck_assert_ptr_null(kept); /* once per test */
	kept = calloc(n + 1, sizeof *kept);
	ck_assert_ptr_nonnull(kept);
	memcpy(kept, v, n * sizeof *kept);
	environ = kept;
}
#define SET_ENVIRON(...) set_environ((const char *const[]){ __VA_ARGS__, NULL })

/* The child's environment as "A=1|B=2|...", in its order (static). */
static const char *child_env(const probe_report *r)
{
	static char buf[16384];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < r->nlines; i++) {
		if (strncmp(r->lines[i], "env ", 4))
			continue;
		int k = snprintf(buf + len, sizeof buf - len, "%s%s", len ? "|" : "", r->lines[i] + 4);
		ck_assert(k > 0 && (size_t)k < sizeof buf - len);
		len += (size_t)k;
	}
	return buf;
}

/* How many environment entries the child had. */
static size_t child_env_count(const probe_report *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nlines; i++)
		n += !strncmp(r->lines[i], "env ", 4);
	return n;
}

/* Spawn the probe cmd (probe_run: one dup2 more) and compare the child's
 * environment with want. */
static void expect_env(nf_cmd *cmd, const char *want)
{
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(child_env(&r), want);
	probe_report_free(&r);
}

/* A probe cmd with an explicit envp. */
static nf_cmd *probe_cmd_envp(char *const envp[])
{
	char *argv[] = { (char *)probe_path(), NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, probe_path(), argv, envp), 0);
	if (kit_no_pidfd())
		ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	return cmd;
}

static void probe_dir(char *out, size_t len)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", probe_path());
	snprintf(out, len, "%s", dirname(copy));
}

/* ---- the edits ---------------------------------------------------------------- */

/* A new name goes at the end; the first spawn had compiled the cmd, so the
 * setter must have dropped that plan. */
START_TEST(setenv_adds_new_name)
{
	nf_cmd *cmd = probe_cmd(NULL);
	SET_ENVIRON("A=1", "B=2");
	expect_env(cmd, "A=1|B=2");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "NEW", "v w"), 0);
	expect_env(cmd, "A=1|B=2|NEW=v w");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "EMPTY", ""), 0);
	expect_env(cmd, "A=1|B=2|NEW=v w|EMPTY=");
	nf_cmd_free(cmd);
}
END_TEST

/* Replacing keeps the first entry's place and drops later duplicates, as
 * glibc's setenv keeps the place; names added come in the order of their
 * first edit, with their last value. */
START_TEST(setenv_replaces_first_in_place)
{
	nf_cmd *cmd = probe_cmd(NULL);
	SET_ENVIRON("A=1", "DUP=first", "B=2", "DUP=second", "C=3", "DUPX=4");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "DUP", "new"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "Z", "1"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "Y", "2"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "Z", "3"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "A", "x=y"), 0);
	expect_env(cmd, "A=x=y|DUP=new|B=2|C=3|DUPX=4|Z=3|Y=2");
	nf_cmd_free(cmd);
}
END_TEST

/* unsetenv removes every entry of the name (and only of that name: not
 * DUPX, nor "DUP" without '='); setenv then unsetenv leaves it out. */
START_TEST(unsetenv_removes_all)
{
	nf_cmd *cmd = probe_cmd(NULL);
	SET_ENVIRON("A=1", "DUP=first", "B=2", "DUP=second", "DUPX=3", "DUP", "C=4");
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "DUP"), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "ABSENT"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "B", "set"), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "B"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "N", "new"), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "N"), 0);
	expect_env(cmd, "A=1|DUPX=3|DUP|C=4");
	/* And back: unset then set puts it at its first place again. */
	ck_assert_int_eq(nf_cmd_setenv(cmd, "DUP", "again"), 0);
	expect_env(cmd, "A=1|DUP=again|DUPX=3|DUP|C=4");
	nf_cmd_free(cmd);
}
END_TEST

/* clearenv discards the base and the edits before it; later ones apply. */
START_TEST(clearenv_then_set)
{
	nf_cmd *cmd = probe_cmd(NULL);
	SET_ENVIRON("A=1", "B=2");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "X", "1"), 0);
	ck_assert_int_eq(nf_cmd_clearenv(cmd), 0);
	expect_env(cmd, "");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "B", "new"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "K", "v"), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "A"), 0);
	expect_env(cmd, "B=new|K=v");
	/* The caller's environ no longer matters. */
	ck_assert_int_eq(setenv("LATE", "1", 1), 0);
	expect_env(cmd, "B=new|K=v");
	nf_cmd_free(cmd);
}
END_TEST

/* On an envp given to nf_cmd_new the same rules apply, merged once; the
 * caller's environ plays no part. */
START_TEST(edits_on_explicit_envp)
{
	char *envp[] = { "P=1", "DUP=a", "Q=2", "DUP=b", NULL };
	nf_cmd *cmd = probe_cmd_envp(envp);
	SET_ENVIRON("ENVIRON_ONLY=1");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "DUP", "c"), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "P"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "R", "3"), 0);
	expect_env(cmd, "DUP=c|Q=2|R=3");
	ck_assert_int_eq(nf_cmd_clearenv(cmd), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "Q", "4"), 0);
	expect_env(cmd, "Q=4");
	nf_cmd_free(cmd);
}
END_TEST

/* One compiled cmd, spawned twice with environ changed in between (as by a
 * program's setenv/unsetenv): the second child sees environ as it is then,
 * with the edits on top. A cmd that took environ when it was compiled
 * would show the first environment again. */
START_TEST(live_environ_read_at_each_spawn)
{
	nf_cmd *cmd = probe_cmd(NULL);
	SET_ENVIRON("A=1", "B=2", "C=3");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "B", "edited"), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "C"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "N", "new"), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, PROBE_FD, 1), 0); /* once: the plan stays */
	probe_report r;
	ck_assert_int_eq(probe_run_raw(cmd, &r, NULL), 0);
	ck_assert_str_eq(child_env(&r), "A=1|B=edited|N=new");
	probe_report_free(&r);

	ck_assert_int_eq(setenv("A", "changed", 1), 0);
	ck_assert_int_eq(setenv("D", "4", 1), 0);
	ck_assert_int_eq(setenv("B", "caller", 1), 0); /* the edit still wins */
	ck_assert_int_eq(unsetenv("C"), 0);
	ck_assert_int_eq(setenv("C", "again", 1), 0);
	ck_assert_int_eq(probe_run_raw(cmd, &r, NULL), 0);
	ck_assert_str_eq(child_env(&r), "A=changed|B=edited|D=4|N=new");
	probe_report_free(&r);

	/* An environ emptied by the caller: only what the edits set. */
	environ = NULL;
	ck_assert_int_eq(probe_run_raw(cmd, &r, NULL), 0);
	ck_assert_str_eq(child_env(&r), "B=edited|N=new");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* An environ larger than the smallest stacks (5000 variables): every entry
 * arrives, in order, with the edits. */
START_TEST(large_live_environ)
{
	enum { N = 5000 };
	char **v = calloc(N + 1, sizeof *v);
	ck_assert_ptr_nonnull(v);
	for (int i = 0; i < N; i++)
		ck_assert_int_ge(asprintf(&v[i], "NF_VAR_%04d=%d", i, i), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	environ = v;
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "NF_VAR_0000"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "NF_VAR_2500", "x"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "NF_NEW", "y"), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_uint_eq(child_env_count(&r), N);
	ck_assert_ptr_null(probe_env(&r, "NF_VAR_0000"));
	ck_assert_str_eq(probe_env(&r, "NF_VAR_0001"), "1");
	ck_assert_str_eq(probe_env(&r, "NF_VAR_2500"), "x");
	ck_assert_str_eq(probe_env(&r, "NF_VAR_4999"), "4999");
	ck_assert_str_eq(probe_env(&r, "NF_NEW"), "y");
	/* In place: the 2500th entry (NF_VAR_0000 is gone). */
	size_t k = 0;
	for (size_t i = 0; i < r.nlines; i++)
		if (!strncmp(r.lines[i], "env ", 4) && ++k == 2500)
			ck_assert_str_eq(r.lines[i], "env NF_VAR_2500=x");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- PATH --------------------------------------------------------------------- */

static int spawn_status(const nf_cmd *cmd, nf_error *err)
{
	nf_proc p;
	int rc = nf_spawn(cmd, &p, err);
	if (!rc) {
		int st;
		ck_assert_int_eq(nf_proc_wait(&p, &st, -1), 0);
		nf_proc_release(&p);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	return rc;
}

/* nf_cmd_newp searches the edited PATH: found only through the edit, not
 * after an unset or a clearenv (the default path), and nf_cmd_search_path
 * still wins over it. */
START_TEST(path_search_uses_edited_path)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	probe_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "/nonexistent-nofork:%s", dir);
	char *argv[] = { "probe", "exit", "0", NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_newp(&cmd, "probe", argv, NULL), 0);
	if (kit_no_pidfd())
		ck_assert_int_eq(nf_cmd_flags(cmd, NF_NO_PIDFD), 0);
	SET_ENVIRON("PATH=/nonexistent-nofork", "HOME=/");
	nf_error err;
	ck_assert_int_eq(spawn_status(cmd, &err), ENOENT);
	ck_assert_int_eq(err.op, NF_OP_EXEC);

	ck_assert_int_eq(nf_cmd_setenv(cmd, "PATH", path), 0);
	ck_assert_int_eq(spawn_status(cmd, NULL), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "PATH"), 0);
	ck_assert_int_eq(spawn_status(cmd, &err), ENOENT);
	ck_assert_str_eq(err.path, "/bin/probe"); /* the default's last element */
	ck_assert_int_eq(nf_cmd_setenv(cmd, "PATH", path), 0);
	ck_assert_int_eq(spawn_status(cmd, NULL), 0);
	ck_assert_int_eq(nf_cmd_clearenv(cmd), 0);
	ck_assert_int_eq(spawn_status(cmd, &err), ENOENT);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "PATH", path), 0);
	ck_assert_int_eq(spawn_status(cmd, NULL), 0);
	/* A list named with nf_cmd_search_path wins over the edit. */
	ck_assert_int_eq(nf_cmd_search_path(cmd, "/nonexistent-nofork"), 0);
	ck_assert_int_eq(spawn_status(cmd, &err), ENOENT);

	/* The child gets the edited PATH too. */
	nf_cmd_free(cmd);
	char *pargv[] = { "probe", NULL };
	ck_assert_int_eq(nf_cmd_newp(&cmd, "probe", pargv, NULL), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "PATH", path), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_env(&r, "PATH"), path);
	ck_assert_str_eq(probe_env(&r, "HOME"), "/");
	probe_report_free(&r);
	nf_cmd_free(cmd);

	/* On an explicit envp: its PATH finds the probe until an edit changes it. */
	char envpath[PATH_MAX + 8];
	snprintf(envpath, sizeof envpath, "PATH=%s", dir);
	char *envp[] = { envpath, NULL };
	ck_assert_int_eq(nf_cmd_newp(&cmd, "probe", argv, envp), 0);
	ck_assert_int_eq(spawn_status(cmd, NULL), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "PATH", "/nonexistent-nofork"), 0);
	ck_assert_int_eq(spawn_status(cmd, &err), ENOENT);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------- */

/* EINVAL from each setter, and the cmd as it was (its one edit, the only
 * one the child sees). */
START_TEST(bad_input)
{
	ck_assert_int_eq(nf_cmd_setenv(NULL, "A", "1"), EINVAL);
	ck_assert_int_eq(nf_cmd_unsetenv(NULL, "A"), EINVAL);
	ck_assert_int_eq(nf_cmd_clearenv(NULL), EINVAL);

	nf_cmd *cmd = probe_cmd(NULL);
	SET_ENVIRON("A=1", "B=2");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "B", "good"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, NULL, "1"), EINVAL);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "", "1"), EINVAL);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "A=", "1"), EINVAL);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "=A", "1"), EINVAL);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "B", NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "A", NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, ""), EINVAL);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "A=1"), EINVAL);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "B=good"), EINVAL);
	expect_env(cmd, "A=1|B=good");
	nf_cmd_free(cmd);
}
END_TEST

/* ---- cost ------------------------------------------------------------------- */

#if COUNTS_ALLOCATIONS
/* With edits on the live environ (200 variables), a compiled cmd spawns
 * without allocating or mapping: the merged array lives on the pooled
 * child stack. */
START_TEST(no_allocation_per_spawn)
{
	enum { N = 200 };
	char **v = calloc(N + 1, sizeof *v);
	ck_assert_ptr_nonnull(v);
	for (int i = 0; i < N; i++)
		ck_assert_int_ge(asprintf(&v[i], "NF_VAR_%03d=value-%03d", i, i), 0);
	nf_cmd *cmd = probe_cmd("exit", "0");
	environ = v;
	ck_assert_int_eq(nf_cmd_setenv(cmd, "NF_VAR_100", "x"), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "NF_VAR_007"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "NF_NEW", "y"), 0);
	ck_assert_int_eq(kit_spawn_wait(cmd), 0); /* compiles, warms the stack pool */
	long maps = kit_mapping_count();
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
	ck_assert_msg(total == 0, "%ld allocations in 100 spawns with environment edits", total);
	ck_assert_int_eq(kit_mapping_count(), maps);

	/* The counter counts: a setter drops the plan, the next spawn compiles. */
	ck_assert_int_eq(nf_cmd_setenv(cmd, "NF_NEW", "z"), 0);
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
#endif

/* An environ too large for the largest child stack (8 MiB: here 1.1
 * million pointers) fails the spawn in the parent with E2BIG at the exec
 * step: nothing is cloned, nothing mapped. */
START_TEST(environ_too_large)
{
	enum { N = 1100000 };
	char **v = calloc(N + 1, sizeof *v);
	ck_assert_ptr_nonnull(v);
	for (int i = 0; i < N; i++)
		v[i] = "X=1";
	nf_cmd *cmd = probe_cmd("exit", "0");
	ck_assert_int_eq(nf_cmd_setenv(cmd, "Y", "2"), 0);
	ck_assert_int_eq(kit_spawn_wait(cmd), 0); /* the plan compiled (allocated) now */
	char **saved = environ;
	environ = v;
	long maps = kit_mapping_count();
	nf_error err;
	nf_proc p = {.pid = 123, .pidfd = 123};
	int rc = nf_spawn(cmd, &p, &err);
	environ = saved;
	ck_assert_int_eq(rc, E2BIG);
	ck_assert_int_eq(err.err, E2BIG);
	ck_assert_int_eq(err.op, NF_OP_EXEC);
	ck_assert_int_eq(err.index, -1);
	ck_assert_str_eq(err.path, probe_path());
	ck_assert_int_eq(p.pid, -1);
	if (kit_heap_in_use() >= 0) /* ASan's allocator maps as it goes */
		ck_assert_int_eq(kit_mapping_count(), maps);
	char msg[NF_ERROR_MAX], want[NF_ERROR_MAX];
	snprintf(want, sizeof want, "execve %s: %s", probe_path(), strerror(E2BIG));
	ck_assert_str_eq(nf_error_format(&err, msg, sizeof msg), want);
	/* The same cmd spawns once environ is back to a normal size. */
	ck_assert_int_eq(kit_spawn_wait(cmd), 0);
	nf_cmd_free(cmd);
	free(v);
}
END_TEST

/* ---- coroutines ---------------------------------------------------------------- */

enum { NCORO = 6 };
struct coro_spawn {
	int i;
	nf_cmd *cmd;
	char env[256];
};
static _Atomic int coros_done;

static void coro_spawn_env(void *arg)
{
	struct coro_spawn *c = arg;
	char value[16];
	snprintf(value, sizeof value, "co%d", c->i);
	nf_cmd *cmd = c->cmd;
	ck_assert_int_eq(nf_cmd_setenv(cmd, "B", value), 0);
	ck_assert_int_eq(nf_cmd_unsetenv(cmd, "A"), 0);
	ck_assert_int_eq(nf_cmd_setenv(cmd, "N", "new"), 0);
	/* A pipe of its own (probe_run's PROBE_FD is one for all). */
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, p[1], 1), 0);
	nf_proc proc;
	ck_assert_int_eq(nf_spawn(cmd, &proc, NULL), 0);
	close(p[1]);
	char text[8192];
	size_t len = 0;
	ssize_t k;
	for (;;) { /* parked in the poller, not blocking the worker */
		ck_assert_int_eq(nf_wait_fd(p[0], POLLIN, -1), 0);
		if ((k = read(p[0], text + len, sizeof text - 1 - len)) <= 0)
			break;
		len += (size_t)k;
	}
	ck_assert_int_eq(k, 0);
	close(p[0]);
	text[len] = '\0';
	int st;
	ck_assert_int_eq(nf_proc_wait(&proc, &st, -1), 0);
	nf_proc_release(&proc);
	ck_assert_int_eq(st, 0);
	nf_cmd_free(cmd);
	/* The "env " lines, joined as child_env does. */
	size_t o = 0;
	char *save = NULL; /* strtok's state is shared by the workers: strtok_r */
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!strncmp(l, "env ", 4))
			o += (size_t)snprintf(c->env + o, sizeof c->env - o, "%s%s", o ? "|" : "", l + 4);
	atomic_fetch_add(&coros_done, 1);
}

/* Coroutine spawns go through the same path (on a helper thread, or on
 * their worker): each child sees environ with its own cmd's edits. */
START_TEST(from_coroutines)
{
	static struct coro_spawn c[NCORO];
	for (int i = 0; i < NCORO; i++)
		c[i].cmd = probe_cmd(NULL);
	SET_ENVIRON("A=1", "B=2", "C=3");
	ck_assert_int_eq(nf_rt_start(2), 0);
	for (int i = 0; i < NCORO; i++) {
		c[i].i = i;
		ck_assert_int_eq(nf_go(coro_spawn_env, &c[i]), 0);
	}
	nf_rt_stop();
	ck_assert_int_eq(atomic_load(&coros_done), NCORO);
	for (int i = 0; i < NCORO; i++) {
		char want[64];
		snprintf(want, sizeof want, "B=co%d|C=3|N=new", i);
		ck_assert_str_eq(c[i].env, want);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("env");
	TCase *tc = kit_tcase("env", 60);
	tcase_add_test(tc, setenv_adds_new_name);
	tcase_add_test(tc, setenv_replaces_first_in_place);
	tcase_add_test(tc, unsetenv_removes_all);
	tcase_add_test(tc, clearenv_then_set);
	tcase_add_test(tc, edits_on_explicit_envp);
	tcase_add_test(tc, live_environ_read_at_each_spawn);
	tcase_add_test(tc, large_live_environ);
	tcase_add_test(tc, path_search_uses_edited_path);
	tcase_add_test(tc, bad_input);
#if COUNTS_ALLOCATIONS
	tcase_add_test(tc, no_allocation_per_spawn);
#endif
	tcase_add_test(tc, environ_too_large);
	tcase_add_test(tc, from_coroutines);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
