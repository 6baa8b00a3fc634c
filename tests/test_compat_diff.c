/* Differential test of the posix_spawn compat layer: every scenario (each
 * file action, each attribute, each failure) runs once through glibc's
 * posix_spawn family and once through nofork's, spawning tests/progs/probe
 * with its stdout on a pipe. The return codes and the child's report must be
 * equal, line for line, after removing what legitimately differs between two
 * children (their pids, pipe inode numbers).
 *
 * The one difference masked here is glibc's internal signals 32 and 33 in
 * `sigign`; the "internal_signals" case below checks those bits exactly, so
 * behaviour is tested in one place (it relies on the core's sigignore hook,
 * lib/nofork_int.h). Cases in tc_hooks likewise rely on core hooks.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

#define PROBE_FD 200
#define FD_INHERIT 9   /* /dev/null, inheritable, open in the parent */
#define FD_CLOEXEC_ 10 /* /dev/null, close-on-exec */
#define FD_DIR 11      /* the scratch directory, close-on-exec */

#include "compat_api.h"

static char scratch[] = "/tmp/nf-compat-diff.XXXXXX";
static char pty_slave[64]; /* one pty for all tests: its master stays open */
static char pbuf[8][PATH_MAX];

/* A path inside the scratch directory (a few rotating buffers). */
static const char *sp(const char *name)
{
	static int i;
	char *b = pbuf[i++ % 8];
	snprintf(b, PATH_MAX, "%s/%s", scratch, name);
	return b;
}

/* What a scenario may change besides the objects. */
struct run {
	const char *path;
	bool spawnp;
	bool no_attr;
	bool no_fa;
};

typedef void scenario_cb(const struct api *A, posix_spawn_file_actions_t *fa,
	posix_spawnattr_t *at, struct run *run);

struct outcome {
	int rc;
	int status;
	char out[65536];
};

/* Make two children's reports comparable: drop the pid line, write the
 * child's own pid as SELF wherever it is a whole word on a line that can
 * carry it (pgid, sid after setsid/setpgid: kit_probe_pid_line), forget pipe inode numbers, and mask signals 32/33 in
 * sigign (see the file comment). */
static void normalize(char *out, size_t cap, pid_t child)
{
	char pid[32];
	snprintf(pid, sizeof pid, "%d", (int)child);
	char *copy = strdup(out);
	ck_assert_ptr_nonnull(copy);
	size_t n = 0;
	for (char *save, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "pid ", 4))
			continue;
		if (!strncmp(line, "sigign ", 7)) {
			unsigned long long v = strtoull(line + 7, NULL, 16) & ~(3ull << 31);
			n += (size_t)snprintf(out + n, cap - n, "sigign %016llx\n", v);
			continue;
		}
		char *pipe = strstr(line, "pipe:[");
		if (pipe)
			strcpy(pipe + 6, "]");
		bool pid_line = kit_probe_pid_line(line);
		for (char *w = line, *end; *w; w = end) {
			end = w + strcspn(w, " ");
			size_t wl = (size_t)(end - w);
			bool self = child > 0 && pid_line && wl == strlen(pid) && !strncmp(w, pid, wl);
			n += (size_t)snprintf(out + n, cap - n, "%.*s", self ? 4 : (int)wl, self ? "SELF" : w);
			if (*end)
				n += (size_t)snprintf(out + n, cap - n, "%c", *end++);
		}
		n += (size_t)snprintf(out + n, cap - n, "\n");
	}
	free(copy);
}

static void read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
}

static void run_one(const struct api *A, scenario_cb *fn, struct outcome *o)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int p[2];
	char *argv[] = { "probe", NULL };
	char *envp[] = { "NF_COMPAT=1", NULL };
	struct run run = { .path = PROBE_PATH };

	ck_assert_int_eq(A->fa_init(&fa), 0);
	ck_assert_int_eq(A->attr_init(&at), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(dup3(p[1], PROBE_FD, O_CLOEXEC), PROBE_FD);
	close(p[1]);
	ck_assert_int_eq(A->adddup2(&fa, PROBE_FD, 1), 0);
	fn(A, &fa, &at, &run);

	pid_t pid = -1;
	o->rc = (run.spawnp ? A->spawnp : A->spawn)(&pid, run.path, run.no_fa ? NULL : &fa,
		run.no_attr ? NULL : &at, argv, envp);
	close(PROBE_FD);
	read_all(p[0], o->out, sizeof o->out);
	close(p[0]);
	o->status = -1;
	if (o->rc == 0)
		ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
	normalize(o->out, sizeof o->out, o->rc == 0 ? pid : -1);
	/* A failed spawn must leave no child behind, reaped or not. */
	ck_assert_msg(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
		"%s left a child behind", A->name);
	ck_assert_int_eq(A->fa_destroy(&fa), 0);
	ck_assert_int_eq(A->attr_destroy(&at), 0);
}

/* Both sides of one scenario; returns nofork's outcome for extra checks. */
static void diff(const char *name, scenario_cb *fn)
{
	static struct outcome g, n;
	run_one(&glibc_api, fn, &g);
	run_one(&nofork_api, fn, &n);
	if (getenv("NF_DIFF_VERBOSE"))
		fprintf(stderr, "%-36s glibc %3d  nofork %3d  report %zu bytes\n", name, g.rc, n.rc,
			strlen(g.out));
	if (getenv("NF_DIFF_VERBOSE") && !strcmp(getenv("NF_DIFF_VERBOSE"), name))
		fprintf(stderr, "--- glibc\n%s--- nofork\n%s", g.out, n.out);
	ck_assert_msg(g.rc == n.rc, "%s: glibc returned %d (%s), nofork %d (%s)", name, g.rc,
		strerror(g.rc), n.rc, strerror(n.rc));
	ck_assert_msg(g.status == n.status, "%s: exit status glibc %#x nofork %#x", name,
		g.status, n.status);
	if (strcmp(g.out, n.out) != 0) {
		const char *a = g.out, *b = n.out;
		while (*a && *a == *b)
			a++, b++;
		while (a > g.out && a[-1] != '\n')
			a--, b--;
		ck_abort_msg("%s: child state differs at\n  glibc:  %.*s\n  nofork: %.*s", name,
			(int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
	}
	if (g.rc == 0)
		ck_assert_msg(strstr(g.out, "argc 1\n"), "%s: the probe printed no report", name);
}

/* ---- scenarios ---------------------------------------------------------------- */

#define SCENARIO(n) static void n(const struct api *A, posix_spawn_file_actions_t *fa, \
	posix_spawnattr_t *at, struct run *run)
#define UNUSED (void)A, (void)fa, (void)at, (void)run

SCENARIO(plain) { UNUSED; }
SCENARIO(plain_null_attr) { UNUSED; run->no_attr = true; }

SCENARIO(open_rdonly)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 5, sp("data"), O_RDONLY, 0), 0);
	ck_assert_int_eq(A->addopen(fa, 6, sp("out"), O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	ck_assert_int_eq(A->addopen(fa, 7, sp("data"), O_RDWR | O_APPEND, 0), 0);
}

/* glibc closes the target first, opens, then dup2s if the file landed
 * elsewhere: O_CLOEXEC then does not survive. */
SCENARIO(open_cloexec_elsewhere)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 7, sp("data"), O_RDONLY | O_CLOEXEC, 0), 0);
}

/* Opening onto an fd that is open: closed first, so the file lands on it and
 * keeps O_CLOEXEC (and vanishes at exec). */
SCENARIO(open_cloexec_onto_open_fd)
{
	UNUSED;
	ck_assert_int_eq(A->addclosefrom(fa, 3), 0);
	ck_assert_int_eq(A->addopen(fa, 3, sp("data"), O_RDONLY | O_CLOEXEC, 0), 0);
	ck_assert_int_eq(A->addopen(fa, 4, sp("data"), O_RDONLY, 0), 0);
}

/* The target is the lowest free fd once closed: the file lands on it with
 * O_CLOEXEC kept, so the program starts without a stdin. */
SCENARIO(open_cloexec_onto_stdin)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 0, sp("data"), O_RDONLY | O_CLOEXEC, 0), 0);
}

SCENARIO(open_replaces_fd)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, FD_INHERIT, sp("data"), O_RDONLY, 0), 0);
}

SCENARIO(open_enoent)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 5, sp("missing"), O_RDONLY, 0), 0);
}

SCENARIO(open_eexist)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 5, sp("data"), O_WRONLY | O_CREAT | O_EXCL, 0600), 0);
}

SCENARIO(open_eisdir)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 5, scratch, O_WRONLY, 0), 0);
}

SCENARIO(open_empty_path)
{
	UNUSED;
	ck_assert_int_eq(A->addopen(fa, 5, "", O_RDONLY, 0), 0);
}

SCENARIO(close_open_fd)
{
	UNUSED;
	ck_assert_int_eq(A->addclose(fa, FD_INHERIT), 0);
}

/* glibc ignores close errors for in-range fds. */
SCENARIO(close_unopened_fd)
{
	UNUSED;
	ck_assert_int_eq(A->addclose(fa, 50), 0);
	ck_assert_int_eq(A->addclose(fa, FD_INHERIT), 0);
	ck_assert_int_eq(A->addclose(fa, FD_INHERIT), 0);
}

SCENARIO(close_then_dup2_over)
{
	UNUSED;
	ck_assert_int_eq(A->addclose(fa, FD_INHERIT), 0);
	ck_assert_int_eq(A->adddup2(fa, 0, FD_INHERIT), 0);
	ck_assert_int_eq(A->addclose(fa, FD_INHERIT), 0);
}

SCENARIO(dup2_plain)
{
	UNUSED;
	ck_assert_int_eq(A->adddup2(fa, FD_INHERIT, 4), 0);
	ck_assert_int_eq(A->adddup2(fa, FD_CLOEXEC_, 12), 0);
}

/* Austin Group #411: dup2(fd, fd) clears close-on-exec. */
/* Enough actions to grow the action array several times. */
SCENARIO(many_actions)
{
	UNUSED;
	for (int fd = 20; fd < 60; fd++)
		ck_assert_int_eq(A->adddup2(fa, fd % 2 ? FD_INHERIT : 0, fd), 0);
	for (int fd = 20; fd < 60; fd += 3)
		ck_assert_int_eq(A->addclose(fa, fd), 0);
}

SCENARIO(dup2_same_clears_cloexec)
{
	UNUSED;
	ck_assert_int_eq(A->adddup2(fa, FD_CLOEXEC_, FD_CLOEXEC_), 0);
}

SCENARIO(dup2_same_unopened)
{
	UNUSED;
	ck_assert_int_eq(A->adddup2(fa, 50, 50), 0);
}

SCENARIO(dup2_unopened)
{
	UNUSED;
	ck_assert_int_eq(A->adddup2(fa, 50, 4), 0);
}

SCENARIO(chdir_ok)
{
	UNUSED;
	ck_assert_int_eq(A->addchdir(fa, scratch), 0);
	ck_assert_int_eq(A->addchdir(fa, "sub"), 0);
}

SCENARIO(chdir_enoent)
{
	UNUSED;
	ck_assert_int_eq(A->addchdir(fa, sp("missing")), 0);
}

SCENARIO(chdir_enotdir)
{
	UNUSED;
	ck_assert_int_eq(A->addchdir(fa, sp("data")), 0);
}

SCENARIO(fchdir_ok)
{
	UNUSED;
	ck_assert_int_eq(A->addfchdir(fa, FD_DIR), 0);
}

SCENARIO(fchdir_bad)
{
	UNUSED;
	ck_assert_int_eq(A->addfchdir(fa, 50), 0);
}

SCENARIO(fchdir_negative)
{
	UNUSED;
	ck_assert_int_eq(A->addfchdir(fa, -1), 0);
}

SCENARIO(fchdir_notdir)
{
	UNUSED;
	ck_assert_int_eq(A->addfchdir(fa, FD_INHERIT), 0);
}

SCENARIO(closefrom_3)
{
	UNUSED;
	ck_assert_int_eq(A->addclosefrom(fa, 3), 0);
}

SCENARIO(closefrom_then_open)
{
	UNUSED;
	ck_assert_int_eq(A->addclosefrom(fa, FD_INHERIT), 0);
	ck_assert_int_eq(A->addopen(fa, 20, sp("data"), O_RDONLY, 0), 0);
	ck_assert_int_eq(A->addclose(fa, FD_INHERIT), 0);
}

SCENARIO(tcsetpgrp_not_tty)
{
	UNUSED;
	ck_assert_int_eq(A->addtcsetpgrp(fa, FD_INHERIT), 0);
}

/* A new session opens a pty without O_NOCTTY, so it becomes the session's
 * controlling terminal, and the child takes the foreground: tpgid = SELF. */
SCENARIO(tcsetpgrp_pty)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSID), 0);
	ck_assert_int_eq(A->addopen(fa, 5, pty_slave, O_RDWR, 0), 0);
	ck_assert_int_eq(A->addtcsetpgrp(fa, 5), 0);
}

SCENARIO(tcsetpgrp_closed)
{
	UNUSED;
	ck_assert_int_eq(A->addtcsetpgrp(fa, 50), 0);
}

SCENARIO(action_error_precedence)
{
	UNUSED;
	ck_assert_int_eq(A->addchdir(fa, sp("missing")), 0);
	ck_assert_int_eq(A->addopen(fa, 5, sp("data"), O_WRONLY | O_CREAT | O_EXCL, 0600), 0);
	run->path = sp("missing-prog");
}

SCENARIO(no_file_actions)
{
	UNUSED;
	run->no_fa = true;  /* the report then goes to the inherited stdout: none */
	run->path = sp("missing-prog");
}

SCENARIO(pgroup_own)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETPGROUP), 0);
	ck_assert_int_eq(A->setpgroup(at, 0), 0);
}

SCENARIO(pgroup_parent)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETPGROUP), 0);
	ck_assert_int_eq(A->setpgroup(at, getpgrp()), 0);
}

SCENARIO(pgroup_eperm)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETPGROUP), 0);
	ck_assert_int_eq(A->setpgroup(at, 1), 0);
}

SCENARIO(pgroup_negative)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETPGROUP), 0);
	ck_assert_int_eq(A->setpgroup(at, -5), 0);
}

SCENARIO(pgroup_flag_unset)
{
	UNUSED;
	ck_assert_int_eq(A->setpgroup(at, 0), 0);
}

SCENARIO(new_session)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSID), 0);
}

SCENARIO(new_session_and_pgroup_own)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETPGROUP), 0);
}

SCENARIO(sigmask_some)
{
	UNUSED;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGRTMIN + 3);
	ck_assert_int_eq(A->setsigmask(at, &s), 0);
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSIGMASK), 0);
}

SCENARIO(sigmask_full)
{
	UNUSED;
	sigset_t s;
	sigfillset(&s);
	ck_assert_int_eq(A->setsigmask(at, &s), 0);
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSIGMASK), 0);
}

/* Bits for glibc's internal signals written directly: glibc's sigprocmask
 * still leaves them unblocked. */
SCENARIO(sigmask_all_bits)
{
	UNUSED;
	sigset_t s;
	memset(&s, 0xff, sizeof s);
	ck_assert_int_eq(A->setsigmask(at, &s), 0);
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSIGMASK), 0);
}

SCENARIO(sigmask_empty_flag_unset)
{
	UNUSED;
	sigset_t s;
	sigfillset(&s);
	ck_assert_int_eq(A->setsigmask(at, &s), 0);
}

/* Without SETSIGMASK the child gets the spawning thread's mask. */
SCENARIO(sigmask_inherited)
{
	UNUSED;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGRTMIN);
	pthread_sigmask(SIG_SETMASK, &s, NULL);
}

SCENARIO(sigdef_ignored)
{
	UNUSED;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGHUP);
	ck_assert_int_eq(A->setsigdefault(at, &s), 0);
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSIGDEF), 0);
}

SCENARIO(sigdef_full)
{
	UNUSED;
	sigset_t s;
	sigfillset(&s);
	ck_assert_int_eq(A->setsigdefault(at, &s), 0);
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), 0);
}

static void set_sched(const struct api *A, posix_spawnattr_t *at, short flags, int policy, int prio)
{
	struct sched_param p = { .sched_priority = prio };
	ck_assert_int_eq(A->setschedpolicy(at, policy), 0);
	ck_assert_int_eq(A->setschedparam(at, &p), 0);
	ck_assert_int_eq(A->setflags(at, flags), 0);
}

SCENARIO(sched_other) { UNUSED; set_sched(A, at, POSIX_SPAWN_SETSCHEDULER, SCHED_OTHER, 0); }
SCENARIO(sched_fifo) { UNUSED; set_sched(A, at, POSIX_SPAWN_SETSCHEDULER, SCHED_FIFO, 3); }
SCENARIO(sched_rr) { UNUSED; set_sched(A, at, POSIX_SPAWN_SETSCHEDULER, SCHED_RR, 2); }
SCENARIO(sched_rr_bad_prio) { UNUSED; set_sched(A, at, POSIX_SPAWN_SETSCHEDULER, SCHED_RR, 0); }
SCENARIO(sched_other_bad_prio) { UNUSED; set_sched(A, at, POSIX_SPAWN_SETSCHEDULER, SCHED_OTHER, 4); }
SCENARIO(schedparam_only_bad) { UNUSED; set_sched(A, at, POSIX_SPAWN_SETSCHEDPARAM, SCHED_FIFO, 4); }
SCENARIO(schedparam_only_ok) { UNUSED; set_sched(A, at, POSIX_SPAWN_SETSCHEDPARAM, SCHED_FIFO, 0); }
SCENARIO(sched_both_flags)
{
	UNUSED;
	set_sched(A, at, POSIX_SPAWN_SETSCHEDPARAM | POSIX_SPAWN_SETSCHEDULER, SCHED_RR, 1);
}

/* glibc sets the scheduler before setsid/setpgid, so its error wins. */
SCENARIO(sched_error_before_pgroup_error)
{
	UNUSED;
	set_sched(A, at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSCHEDULER,
		SCHED_RR, 0);
}

SCENARIO(schedparam_error_before_pgroup_error)
{
	UNUSED;
	set_sched(A, at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSCHEDPARAM, SCHED_FIFO, 7);
	ck_assert_int_eq(A->setpgroup(at, 1), 0);
}

SCENARIO(resetids_noop)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_RESETIDS), 0);
}

/* The caller runs with other effective ids; RESETIDS gives the child the
 * real ones back before the file actions. */
static void drop_effective_ids(void)
{
	ck_assert_int_eq(setresgid(-1, 65534, -1), 0);
	ck_assert_int_eq(setresuid(-1, 65534, -1), 0);
}

SCENARIO(resetids_effective)
{
	UNUSED;
	drop_effective_ids();
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_RESETIDS), 0);
}

SCENARIO(effective_ids_inherited)
{
	UNUSED;
	drop_effective_ids();
}

SCENARIO(usevfork_ignored)
{
	UNUSED;
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_USEVFORK), 0);
}

SCENARIO(all_attributes)
{
	UNUSED;
	sigset_t m, d;
	sigemptyset(&m);
	sigaddset(&m, SIGQUIT);
	sigemptyset(&d);
	sigaddset(&d, SIGUSR2);
	struct sched_param p = { .sched_priority = 0 };
	ck_assert_int_eq(A->setsigmask(at, &m), 0);
	ck_assert_int_eq(A->setsigdefault(at, &d), 0);
	ck_assert_int_eq(A->setschedpolicy(at, SCHED_OTHER), 0);
	ck_assert_int_eq(A->setschedparam(at, &p), 0);
	ck_assert_int_eq(A->setflags(at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK
		| POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_RESETIDS
		| POSIX_SPAWN_USEVFORK), 0);
	ck_assert_int_eq(A->addchdir(fa, "/"), 0);
	ck_assert_int_eq(A->addopen(fa, 0, sp("data"), O_RDONLY, 0), 0);
}

SCENARIO(exec_enoent) { UNUSED; run->path = sp("missing-prog"); }
SCENARIO(exec_eacces_dir) { UNUSED; run->path = scratch; }
SCENARIO(exec_eacces_mode) { UNUSED; run->path = sp("data"); }
SCENARIO(exec_enoexec) { UNUSED; run->path = sp("junk"); }
SCENARIO(exec_enotdir) { UNUSED; run->path = sp("data/x"); }
SCENARIO(exec_empty) { UNUSED; run->path = ""; }
SCENARIO(exec_relative_after_chdir)
{
	UNUSED;
	ck_assert_int_eq(A->addchdir(fa, sp("pb")), 0);
	run->path = "./probe";
}

SCENARIO(exec_enametoolong)
{
	UNUSED;
	static char longp[PATH_MAX + 16];
	memset(longp, 'a', sizeof longp - 1);
	longp[0] = '/';
	run->path = longp;
}

static void set_path(const char *v)
{
	if (v)
		setenv("PATH", v, 1);
	else
		unsetenv("PATH");
}

SCENARIO(spawnp_found)
{
	UNUSED;
	char p[2 * PATH_MAX];
	snprintf(p, sizeof p, "%s:%s:%s", sp("missing"), sp("pa"), sp("pb"));
	set_path(p);
	run->spawnp = true;
	run->path = "probe";
}

SCENARIO(spawnp_eacces_only)
{
	UNUSED;
	set_path(sp("pa"));
	run->spawnp = true;
	run->path = "probe";
}

SCENARIO(spawnp_enoent)
{
	UNUSED;
	set_path(sp("sub"));
	run->spawnp = true;
	run->path = "probe";
}

SCENARIO(spawnp_enoexec_stops)
{
	UNUSED;
	char p[2 * PATH_MAX];
	snprintf(p, sizeof p, "%s:%s", sp("pc"), sp("pb"));
	set_path(p);
	run->spawnp = true;
	run->path = "probe";
}

SCENARIO(spawnp_enotdir_moves_on)
{
	UNUSED;
	char p[2 * PATH_MAX];
	snprintf(p, sizeof p, "%s:%s", sp("data"), sp("pb"));
	set_path(p);
	run->spawnp = true;
	run->path = "probe";
}

/* An empty PATH element is the child's cwd after the file actions. */
SCENARIO(spawnp_empty_element)
{
	UNUSED;
	set_path("/nonexistent-dir::");
	ck_assert_int_eq(A->addchdir(fa, sp("pb")), 0);
	run->spawnp = true;
	run->path = "probe";
}

SCENARIO(spawnp_path_empty_string)
{
	UNUSED;
	set_path("");
	ck_assert_int_eq(A->addchdir(fa, sp("pb")), 0);
	run->spawnp = true;
	run->path = "probe";
}

SCENARIO(spawnp_path_unset)
{
	UNUSED;
	set_path(NULL);
	run->spawnp = true;
	run->path = "probe";
}

SCENARIO(spawnp_slash)
{
	UNUSED;
	set_path("/nonexistent-dir");
	run->spawnp = true;
	run->path = PROBE_PATH;
}

SCENARIO(spawnp_empty)
{
	UNUSED;
	run->spawnp = true;
	run->path = "";
}

SCENARIO(spawnp_name_too_long)
{
	UNUSED;
	static char name[NAME_MAX + 2];
	memset(name, 'n', sizeof name - 1);
	run->spawnp = true;
	run->path = name;
}

static const struct {
	const char *name;
	scenario_cb *fn;
} scenarios[] = {
#define S(x) { #x, x }
	S(plain), S(plain_null_attr), S(open_rdonly), S(open_cloexec_elsewhere),
	S(open_cloexec_onto_open_fd), S(open_cloexec_onto_stdin), S(open_replaces_fd), S(open_enoent), S(open_eexist),
	S(open_eisdir), S(open_empty_path), S(close_open_fd), S(close_unopened_fd),
	S(close_then_dup2_over), S(dup2_plain), S(many_actions), S(dup2_same_clears_cloexec),
	S(dup2_same_unopened), S(dup2_unopened), S(chdir_ok), S(chdir_enoent), S(chdir_enotdir),
	S(fchdir_ok), S(fchdir_bad), S(fchdir_negative), S(fchdir_notdir), S(closefrom_3),
	S(closefrom_then_open), S(tcsetpgrp_not_tty), S(tcsetpgrp_pty), S(tcsetpgrp_closed),
	S(action_error_precedence), S(no_file_actions), S(pgroup_own), S(pgroup_parent),
	S(pgroup_eperm), S(pgroup_negative), S(pgroup_flag_unset), S(new_session),
	S(new_session_and_pgroup_own), S(sigmask_some), S(sigmask_full), S(sigmask_all_bits),
	S(sigmask_empty_flag_unset), S(sigmask_inherited), S(sigdef_ignored), S(sigdef_full),
	S(sched_other), S(sched_fifo), S(sched_rr), S(sched_rr_bad_prio), S(sched_other_bad_prio),
	S(schedparam_only_bad), S(schedparam_only_ok), S(sched_both_flags), S(sched_error_before_pgroup_error),
	S(schedparam_error_before_pgroup_error), S(resetids_noop), S(resetids_effective), S(effective_ids_inherited),
	S(usevfork_ignored), S(all_attributes), S(exec_enoent), S(exec_eacces_dir),
	S(exec_eacces_mode), S(exec_enoexec), S(exec_enotdir), S(exec_empty),
	S(exec_relative_after_chdir), S(exec_enametoolong), S(spawnp_found),
	S(spawnp_eacces_only), S(spawnp_enoent), S(spawnp_enoexec_stops),
	S(spawnp_enotdir_moves_on), S(spawnp_empty_element), S(spawnp_path_empty_string), S(spawnp_path_unset),
	S(spawnp_slash), S(spawnp_empty), S(spawnp_name_too_long),
#undef S
};
#define NSCEN ((int)(sizeof scenarios / sizeof scenarios[0]))

START_TEST(scenario)
{
	diff(scenarios[_i].name, scenarios[_i].fn);
}
END_TEST

/* ---- argument checks of add* and set*: same return codes ------------------------- */

START_TEST(add_set_errors)
{
	const struct api *apis[] = { &glibc_api, &nofork_api };
	int rc[2][32];
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	int lim = (int)rl.rlim_cur;
	for (int k = 0; k < 2; k++) {
		const struct api *A = apis[k];
		posix_spawn_file_actions_t fa;
		posix_spawnattr_t at;
		struct sched_param p = { .sched_priority = 42 };
		int i = 0;
		A->fa_init(&fa);
		A->attr_init(&at);
		rc[k][i++] = A->addopen(&fa, -1, "/x", O_RDONLY, 0);
		rc[k][i++] = A->addopen(&fa, lim, "/x", O_RDONLY, 0);
		rc[k][i++] = A->addopen(&fa, lim - 1, "/x", O_RDONLY, 0);
		rc[k][i++] = A->addclose(&fa, -1);
		rc[k][i++] = A->addclose(&fa, lim);
		rc[k][i++] = A->addclose(&fa, INT_MAX);
		rc[k][i++] = A->adddup2(&fa, -1, 3);
		rc[k][i++] = A->adddup2(&fa, 3, -1);
		rc[k][i++] = A->adddup2(&fa, 3, lim);
		rc[k][i++] = A->adddup2(&fa, lim, 3);
		rc[k][i++] = A->addfchdir(&fa, -1);
		rc[k][i++] = A->addfchdir(&fa, lim);
		rc[k][i++] = A->addclosefrom(&fa, -1);
		rc[k][i++] = A->addclosefrom(&fa, lim);
		rc[k][i++] = A->addclosefrom(&fa, 0);
		rc[k][i++] = A->addtcsetpgrp(&fa, -1);
		rc[k][i++] = A->addtcsetpgrp(&fa, lim);
		rc[k][i++] = A->addchdir(&fa, "");
		rc[k][i++] = A->setflags(&at, 0x200);
		rc[k][i++] = A->setflags(&at, -1);
		rc[k][i++] = A->setflags(&at, 0xff);
		rc[k][i++] = A->setschedpolicy(&at, SCHED_BATCH);
		rc[k][i++] = A->setschedpolicy(&at, SCHED_IDLE);
		rc[k][i++] = A->setschedpolicy(&at, -1);
		rc[k][i++] = A->setschedpolicy(&at, 99);
		rc[k][i++] = A->setschedpolicy(&at, SCHED_RR);
		rc[k][i++] = A->setschedparam(&at, &p);
		rc[k][i++] = A->setpgroup(&at, -7);
		/* What the setters stored, read back through the getters. */
		short fl;
		int pol;
		pid_t pg;
		struct sched_param q;
		A->getflags(&at, &fl);
		A->getschedpolicy(&at, &pol);
		A->getpgroup(&at, &pg);
		A->getschedparam(&at, &q);
		rc[k][i++] = fl;
		rc[k][i++] = pol;
		rc[k][i++] = pg;
		rc[k][i++] = q.sched_priority;
		ck_assert_int_eq(i, 32);
		A->fa_destroy(&fa);
		A->attr_destroy(&at);
	}
	for (int i = 0; i < 32; i++)
		ck_assert_msg(rc[0][i] == rc[1][i], "check %d: glibc %d, nofork %d", i, rc[0][i],
			rc[1][i]);
}
END_TEST

/* Defaults after init, and every getter returning what its setter stored. */
START_TEST(attr_defaults_and_roundtrip)
{
	posix_spawnattr_t g, n;
	posix_spawnattr_init(&g);
	nofork_posix_spawnattr_init(&n);
	short fg, fn;
	pid_t pg, pn;
	sigset_t sg, sn;
	int polg, poln;
	struct sched_param spg, spn;
	posix_spawnattr_getflags(&g, &fg);
	nofork_posix_spawnattr_getflags(&n, &fn);
	ck_assert_int_eq(fg, fn);
	posix_spawnattr_getpgroup(&g, &pg);
	nofork_posix_spawnattr_getpgroup(&n, &pn);
	ck_assert_int_eq(pg, pn);
	posix_spawnattr_getsigmask(&g, &sg);
	nofork_posix_spawnattr_getsigmask(&n, &sn);
	ck_assert_mem_eq(&sg, &sn, sizeof sg);
	posix_spawnattr_getsigdefault(&g, &sg);
	nofork_posix_spawnattr_getsigdefault(&n, &sn);
	ck_assert_mem_eq(&sg, &sn, sizeof sg);
	posix_spawnattr_getschedpolicy(&g, &polg);
	nofork_posix_spawnattr_getschedpolicy(&n, &poln);
	ck_assert_int_eq(polg, poln);
	posix_spawnattr_getschedparam(&g, &spg);
	nofork_posix_spawnattr_getschedparam(&n, &spn);
	ck_assert_int_eq(spg.sched_priority, spn.sched_priority);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGRTMAX);
	ck_assert_int_eq(nofork_posix_spawnattr_setsigmask(&n, &set), 0);
	nofork_posix_spawnattr_getsigmask(&n, &sn);
	ck_assert_mem_eq(&set, &sn, sizeof set);
	sigaddset(&set, SIGWINCH);
	ck_assert_int_eq(nofork_posix_spawnattr_setsigdefault(&n, &set), 0);
	nofork_posix_spawnattr_getsigdefault(&n, &sn);
	ck_assert_mem_eq(&set, &sn, sizeof set);
	/* The two sets are separate fields. */
	nofork_posix_spawnattr_getsigmask(&n, &sn);
	ck_assert_int_eq(sigismember(&sn, SIGWINCH), 0);

	int cg = -2;
	ck_assert_int_eq(nofork_posix_spawnattr_getcgroup_np(&n, &cg), 0);
	ck_assert_int_eq(cg, 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setcgroup_np(&n, 7), 0);
	nofork_posix_spawnattr_getcgroup_np(&n, &cg);
	ck_assert_int_eq(cg, 7);
	/* Documented choice: SETCGROUP (glibc 2.39) is accepted; 2.36 refuses it. */
	ck_assert_int_eq(nofork_posix_spawnattr_setflags(&n, NOFORK_POSIX_SPAWN_SETCGROUP), 0);
	ck_assert_int_eq(posix_spawnattr_setflags(&g, NOFORK_POSIX_SPAWN_SETCGROUP), EINVAL);
	nofork_posix_spawnattr_getflags(&n, &fn);
	ck_assert_int_eq(fn, NOFORK_POSIX_SPAWN_SETCGROUP);
	posix_spawnattr_destroy(&g);
	nofork_posix_spawnattr_destroy(&n);
}
END_TEST

/* The POSIX.1-2024 names are the _np functions. */
START_TEST(posix2024_names)
{
	posix_spawn_file_actions_t fa;
	nofork_posix_spawn_file_actions_init(&fa);
	ck_assert_int_eq(nofork_posix_spawn_file_actions_addchdir(&fa, "/"), 0);
	ck_assert_int_eq(nofork_posix_spawn_file_actions_addfchdir(&fa, FD_DIR), 0);
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(nofork_posix_spawn_file_actions_adddup2(&fa, p[1], 1), 0);
	char *argv[] = { "probe", NULL };
	pid_t pid;
	ck_assert_int_eq(nofork_posix_spawn(&pid, PROBE_PATH, &fa, NULL, argv, NULL), 0);
	close(p[1]);
	static char out[65536];
	read_all(p[0], out, sizeof out);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_msg(strstr(out, "\ncwd "), "no report");
	char want[PATH_MAX + 8];
	snprintf(want, sizeof want, "\ncwd %s\n", scratch);
	ck_assert_msg(strstr(out, want), "fchdir after chdir: want %s", want);
	/* envp NULL: an empty environment, as glibc's execve(NULL envp). */
	ck_assert_ptr_null(strstr(out, "\nenv "));
	nofork_posix_spawn_file_actions_destroy(&fa);
	/* Destroy leaves an empty object: destroying again is harmless. */
	ck_assert_int_eq(nofork_posix_spawn_file_actions_destroy(&fa), 0);
}
END_TEST

/* pidfd_spawn (glibc 2.39; no reference on this glibc): a pidfd, not a pid. */
START_TEST(pidfd_spawn_gives_pidfd)
{
	char *argv[] = { "probe", "exit", "7", NULL };
	int pidfd = -1;
	ck_assert_int_eq(nofork_pidfd_spawn(&pidfd, PROBE_PATH, NULL, NULL, argv, NULL), 0);
	ck_assert_int_ge(pidfd, 0);
	ck_assert_int_eq(fcntl(pidfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	siginfo_t si = { 0 };
	ck_assert_int_eq(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
	ck_assert_int_eq(si.si_code, CLD_EXITED);
	ck_assert_int_eq(si.si_status, 7);
	close(pidfd);

	pidfd = -1;
	set_path(sp("pb"));
	ck_assert_int_eq(nofork_pidfd_spawnp(&pidfd, "probe", NULL, NULL, argv, NULL), 0);
	ck_assert_int_eq(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
	ck_assert_int_eq(si.si_status, 7);
	close(pidfd);

	pidfd = -1;
	ck_assert_int_eq(nofork_pidfd_spawn(&pidfd, sp("missing"), NULL, NULL, argv, NULL), ENOENT);
	ck_assert_int_eq(pidfd, -1);
	ck_assert_msg(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "child left behind");
}
END_TEST

/* glibc 2.39's POSIX_SPAWN_SETCGROUP (no reference on this glibc): the child
 * starts in the cgroup v2 directory given; a bad fd fails the spawn (EBADF,
 * as clone3 reports it). The positive half needs a writable cgroup2 mount. */
START_TEST(setcgroup_np)
{
	char *argv[] = { "probe", "sleep", "5000", NULL };
	posix_spawnattr_t at;
	pid_t pid;
	nofork_posix_spawnattr_init(&at);
	ck_assert_int_eq(nofork_posix_spawnattr_setflags(&at, NOFORK_POSIX_SPAWN_SETCGROUP), 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setcgroup_np(&at, -1), 0);
	ck_assert_int_eq(nofork_posix_spawn(&pid, PROBE_PATH, NULL, &at, argv, NULL), EBADF);

	char dir[128];
	snprintf(dir, sizeof dir, "/sys/fs/cgroup/unified/nf-compat-%d", (int)getpid());
	if (mkdir(dir, 0755) != 0) {
		snprintf(dir, sizeof dir, "/sys/fs/cgroup/nf-compat-%d", (int)getpid());
		if (mkdir(dir, 0755) != 0 || access("/sys/fs/cgroup/cgroup.procs", F_OK) != 0) {
			fprintf(stderr, "setcgroup_np: no writable cgroup2 mount, positive half not run\n");
			rmdir(dir);
			return;
		}
	}
	int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(cg, 0);
	ck_assert_int_eq(nofork_posix_spawnattr_setcgroup_np(&at, cg), 0);
	int r = nofork_posix_spawn(&pid, PROBE_PATH, NULL, &at, argv, NULL);
	char line[256] = "";
	if (r == 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
		FILE *f = fopen(path, "re");
		while (f && fgets(line, sizeof line, f) && strncmp(line, "0::", 3))
			;
		if (f)
			fclose(f);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	close(cg);
	rmdir(dir);
	ck_assert_int_eq(r, 0);
	ck_assert_msg(strstr(line, strrchr(dir, '/')), "child's cgroup: %s", line);
	nofork_posix_spawnattr_destroy(&at);
}
END_TEST

/* ---- behaviour that needs a core hook (lib/nofork_int.h) ---------------- */

/* glibc 2.36 leaves its internal signals 32 and 33 ignored in every child. */
START_TEST(internal_signals)
{
	static char out[65536];
	char *argv[] = { "probe", NULL };
	unsigned long long ign[2];
	for (int k = 0; k < 2; k++) {
		const struct api *A = k ? &nofork_api : &glibc_api;
		int p[2];
		pid_t pid;
		posix_spawn_file_actions_t fa;
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		A->fa_init(&fa);
		A->adddup2(&fa, p[1], 1);
		ck_assert_int_eq(A->spawn(&pid, PROBE_PATH, &fa, NULL, argv, NULL), 0);
		close(p[1]);
		read_all(p[0], out, sizeof out);
		close(p[0]);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
		A->fa_destroy(&fa);
		char *s = strstr(out, "\nsigign ");
		ck_assert_ptr_nonnull(s);
		ign[k] = strtoull(s + 8, NULL, 16);
	}
	ck_assert_msg(ign[0] == ign[1], "sigign glibc %016llx nofork %016llx (nf_cmd_sigignore)",
		ign[0], ign[1]);
}
END_TEST


/* ---- fixture ---------------------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	/* Runs before the suite, where Check's asserts cannot report. */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || chmod(path, mode))
		abort();
	close(fd);
}

/* The parent state both sides see, set up once before the suite so that
 * it is part of what kit_tcase's leak check expects to find. */
static void setup_parent(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0 || dup2(fd, FD_INHERIT) != FD_INHERIT || dup3(fd, FD_CLOEXEC_, O_CLOEXEC) != FD_CLOEXEC_)
		abort();
	close(fd);
	fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || dup3(fd, FD_DIR, O_CLOEXEC) != FD_DIR)
		abort();
	close(fd);
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, pty_slave, sizeof pty_slave))
		abort();
	/* Ignored signals stay ignored in the child, caught ones become default. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGRTMIN + 2, &sa, NULL);
}

static void make_scratch(void)
{
	if (!mkdtemp(scratch))
		abort();
	mkdir(sp("sub"), 0755);
	mkdir(sp("pa"), 0755);
	mkdir(sp("pb"), 0755);
	mkdir(sp("pc"), 0755);
	write_file(sp("data"), "data\n", 0644);
	write_file(sp("junk"), "junk without a header\n", 0755);
	write_file(sp("pa/probe"), "not executable\n", 0644);
	write_file(sp("pc/probe"), "junk without a header\n", 0755);
	if (symlink(PROBE_PATH, sp("pb/probe")) != 0)
		abort();
}

static void remove_scratch(void)
{
	const char *files[] = { "pa/probe", "pb/probe", "pc/probe", "data", "junk", "out" };
	const char *dirs[] = { "sub", "pa", "pb", "pc", "" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		unlink(sp(files[i]));
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		rmdir(sp(dirs[i]));
}

int main(void)
{
	make_scratch();
	setup_parent();
	Suite *s = suite_create("compat_diff");
	/* kit_tcase: after each test, no fd and no child left behind. */
	TCase *tc = kit_tcase("scenarios", 30);
	tcase_add_loop_test(tc, scenario, 0, NSCEN);
	tcase_add_test(tc, add_set_errors);
	tcase_add_test(tc, attr_defaults_and_roundtrip);
	tcase_add_test(tc, posix2024_names);
	tcase_add_test(tc, pidfd_spawn_gives_pidfd);
	tcase_add_test(tc, setcgroup_np);
	suite_add_tcase(s, tc);
	TCase *th = kit_tcase("hooks", 30);
	tcase_add_test(th, internal_signals);
	suite_add_tcase(s, th);
	/* kit_main: NF_TEST_CLONE3=enosys runs both sides with clone3 denied
	 * (glibc and nofork then both use their clone fallback). */
	int rc = kit_main(s);
	remove_scratch();
	return rc;
}
