/* libFuzzer target: the posix_spawn compat objects (nofork_posix_spawn_
 * file_actions_* and nofork_posix_spawnattr_*), differentially against
 * glibc's own functions.
 *
 * The input is a sequence of add/set calls with hostile values, applied to a
 * glibc object and a nofork object side by side: every call must return what
 * glibc returns, and every getter must give back what glibc's gives. Inputs
 * starting with a5 5a are also spawned through nofork_posix_spawn, in a
 * forked process chrooted into an empty directory (so hostile opens cannot touch
 * real files) and exec'ing a program that does not exist there: this runs
 * the conversion of the objects into a cmd and the child's actions, which
 * must end in an errno, never in a crash or a hang. Needs root for chroot;
 * without it the spawn part is left out and says so once.
 *
 * replay.c runs the same function over stored inputs without libFuzzer. */
#include <nofork/spawn.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under valgrind (run-hardening's replay) the clone is emulated as a fork:
 * the spawn reports the start and the failure shows as exit status 127. */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "fuzz_input.h"

static int hostile_int(input *in)
{
	static const int table[] = {-1, 0, 1, 2, 3, 4, 9, 63, 64, 200, 1023, 1024, 4095, 65535, 65536,
	                            1 << 20, INT_MAX, INT_MIN, -2, SCHED_OTHER, SCHED_FIFO, SCHED_RR,
	                            SCHED_BATCH, SCHED_IDLE, 7, 99, 100};
	return pick_int(in, table, sizeof table / sizeof table[0]);
}

static char strbuf[PATH_MAX + 64];

static char *hostile_str(input *in)
{
	static const size_t lens[] = {0, 1, 2, 9, PATH_MAX - 1, PATH_MAX, PATH_MAX + 1};
	uint8_t k = u8(in);
	size_t len = k < 160 ? k % 20 : lens[k % (sizeof lens / sizeof lens[0])];
	uint8_t fill = u8(in);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = i < 20 && in->n ? u8(in) : (uint8_t)(fill + i);
		strbuf[i] = c ? (char)c : 'x';
	}
	strbuf[len] = '\0';
	return strbuf;
}

#define SAME(what, g, n)                                                                           \
	do {                                                                                       \
		long g_ = (long)(g), n_ = (long)(n);                                               \
		if (g_ != n_) {                                                                    \
			fprintf(stderr, "%s: glibc %ld, nofork %ld (line %d)\n", what, g_, n_, __LINE__); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void fill_sigset(input *in, sigset_t *set)
{
	sigemptyset(set);
	uint64_t bits = u64(in, 8);
	for (int s = 1; s <= 64; s++)
		if (bits >> (s - 1) & 1)
			sigaddset(set, s);
}

static void same_sigset(const char *what, const sigset_t *g, const sigset_t *n)
{
	for (int s = 1; s <= 64; s++)
		SAME(what, sigismember(g, s), sigismember(n, s));
}

/* ---- the rare spawn ------------------------------------------------------------- */

static char jail[64];
static int jail_state; /* 0 unknown, 1 usable, -1 not (not root) */

static void empty_jail(void)
{
	DIR *d = opendir(jail);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' || (e->d_name[1] && (e->d_name[1] != '.' || e->d_name[2])))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
}

static void remove_jail(void)
{
	empty_jail();
	rmdir(jail);
}

static void spawn_in_jail(const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr)
{
	if (jail_state == 0) {
		snprintf(jail, sizeof jail, "/tmp/nofork-fuzz-jail.XXXXXX");
		jail_state = geteuid() == 0 && mkdtemp(jail) ? 1 : -1;
		if (jail_state > 0)
			atexit(remove_jail);
		else
			fprintf(stderr, "fuzz_compat: not root: the spawn part is not fuzzed\n");
	}
	if (jail_state < 0)
		return;
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		alarm(10); /* a hang is a finding too: SIGALRM ends it visibly */
		setsid();
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		struct rlimit rl = {1024, 1024}; /* no /proc in the jail: the child closes fds by number */
		setrlimit(RLIMIT_NOFILE, &rl);
		if (chroot(jail) || chdir("/"))
			_exit(2);
		char *argv[] = {"nothing", NULL}, *envp[] = {"PATH=/", NULL};
		pid_t child;
		int rc = nofork_posix_spawn(&child, "/nothing", fa, attr, argv, envp);
		if (rc == 0 && RUNNING_ON_VALGRIND) {
			int st;
			waitpid(child, &st, 0);
			_exit(WIFEXITED(st) && WEXITSTATUS(st) == 127 ? 0 : 5);
		}
		if (rc == 0) { /* cannot exec what does not exist */
			fprintf(stderr, "fuzz_compat: spawn of a missing program succeeded\n");
			_exit(3);
		}
		_exit(rc > 0 && rc < 4096 ? 0 : 4);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	empty_jail();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "fuzz_compat: spawning process ended with status 0x%x\n", st);
		abort();
	}
}

/* ---- the differential ------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input in = {data, size};
	bool spawn = size > 8 && data[0] == 0xa5 && data[1] == 0x5a;
	posix_spawn_file_actions_t gfa, nfa;
	posix_spawnattr_t gat, nat;
	SAME("fa init", posix_spawn_file_actions_init(&gfa), nofork_posix_spawn_file_actions_init(&nfa));
	SAME("attr init", posix_spawnattr_init(&gat), nofork_posix_spawnattr_init(&nat));
	int cgroup_set = -1;
	for (int i = 0; i < 200 && in.n; i++) {
		int a, b, fl, mode, g, n;
		short sg, sn;
		pid_t pg, pn;
		sigset_t set, sgs, sns;
		struct sched_param pa, pgp, pnp;
		const char *path;
		switch (u8(&in) % 16) {
		case 0:
			a = hostile_int(&in);
			path = hostile_str(&in);
			fl = (int)u64(&in, 4);
			mode = (int)u64(&in, 2);
			SAME("addopen", posix_spawn_file_actions_addopen(&gfa, a, path, fl, (mode_t)mode),
			     nofork_posix_spawn_file_actions_addopen(&nfa, a, path, fl, (mode_t)mode));
			break;
		case 1:
			a = hostile_int(&in);
			SAME("addclose", posix_spawn_file_actions_addclose(&gfa, a),
			     nofork_posix_spawn_file_actions_addclose(&nfa, a));
			break;
		case 2:
			a = hostile_int(&in);
			b = hostile_int(&in);
			SAME("adddup2", posix_spawn_file_actions_adddup2(&gfa, a, b),
			     nofork_posix_spawn_file_actions_adddup2(&nfa, a, b));
			break;
		case 3:
			path = hostile_str(&in);
			g = posix_spawn_file_actions_addchdir_np(&gfa, path);
			n = u8(&in) & 1 ? nofork_posix_spawn_file_actions_addchdir_np(&nfa, path)
			                : nofork_posix_spawn_file_actions_addchdir(&nfa, path);
			SAME("addchdir", g, n);
			break;
		case 4:
			a = hostile_int(&in);
			g = posix_spawn_file_actions_addfchdir_np(&gfa, a);
			n = u8(&in) & 1 ? nofork_posix_spawn_file_actions_addfchdir_np(&nfa, a)
			                : nofork_posix_spawn_file_actions_addfchdir(&nfa, a);
			SAME("addfchdir", g, n);
			break;
		case 5:
			a = hostile_int(&in);
			SAME("addclosefrom", posix_spawn_file_actions_addclosefrom_np(&gfa, a),
			     nofork_posix_spawn_file_actions_addclosefrom_np(&nfa, a));
			break;
		case 6:
			a = hostile_int(&in);
			SAME("addtcsetpgrp", posix_spawn_file_actions_addtcsetpgrp_np(&gfa, a),
			     nofork_posix_spawn_file_actions_addtcsetpgrp_np(&nfa, a));
			break;
		case 7:
			sg = (short)u64(&in, 2);
			if (u8(&in) & 1) /* mostly valid flags, sometimes anything */
				sg &= POSIX_SPAWN_RESETIDS | POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
				      POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSCHEDPARAM | POSIX_SPAWN_SETSCHEDULER |
				      POSIX_SPAWN_SETSID | POSIX_SPAWN_USEVFORK;
			/* glibc 2.36 refuses the cgroup flag (2.39 added it):
			 * the one intended difference, left out here. */
			sg &= (short)~NOFORK_POSIX_SPAWN_SETCGROUP;
			SAME("setflags", posix_spawnattr_setflags(&gat, sg), nofork_posix_spawnattr_setflags(&nat, sg));
			SAME("getflags rc", posix_spawnattr_getflags(&gat, &sg), nofork_posix_spawnattr_getflags(&nat, &sn));
			SAME("getflags", sg, sn);
			break;
		case 8:
			pg = (pid_t)hostile_int(&in);
			SAME("setpgroup", posix_spawnattr_setpgroup(&gat, pg), nofork_posix_spawnattr_setpgroup(&nat, pg));
			SAME("getpgroup rc", posix_spawnattr_getpgroup(&gat, &pg), nofork_posix_spawnattr_getpgroup(&nat, &pn));
			SAME("getpgroup", pg, pn);
			break;
		case 9:
			fill_sigset(&in, &set);
			SAME("setsigdefault", posix_spawnattr_setsigdefault(&gat, &set),
			     nofork_posix_spawnattr_setsigdefault(&nat, &set));
			SAME("getsigdefault rc", posix_spawnattr_getsigdefault(&gat, &sgs),
			     nofork_posix_spawnattr_getsigdefault(&nat, &sns));
			same_sigset("getsigdefault", &sgs, &sns);
			break;
		case 10:
			fill_sigset(&in, &set);
			SAME("setsigmask", posix_spawnattr_setsigmask(&gat, &set), nofork_posix_spawnattr_setsigmask(&nat, &set));
			SAME("getsigmask rc", posix_spawnattr_getsigmask(&gat, &sgs), nofork_posix_spawnattr_getsigmask(&nat, &sns));
			same_sigset("getsigmask", &sgs, &sns);
			break;
		case 11:
			a = hostile_int(&in);
			SAME("setschedpolicy", posix_spawnattr_setschedpolicy(&gat, a),
			     nofork_posix_spawnattr_setschedpolicy(&nat, a));
			SAME("getschedpolicy rc", posix_spawnattr_getschedpolicy(&gat, &g),
			     nofork_posix_spawnattr_getschedpolicy(&nat, &n));
			SAME("getschedpolicy", g, n);
			break;
		case 12:
			memset(&pa, 0, sizeof pa);
			pa.sched_priority = hostile_int(&in);
			SAME("setschedparam", posix_spawnattr_setschedparam(&gat, &pa),
			     nofork_posix_spawnattr_setschedparam(&nat, &pa));
			SAME("getschedparam rc", posix_spawnattr_getschedparam(&gat, &pgp),
			     nofork_posix_spawnattr_getschedparam(&nat, &pnp));
			SAME("getschedparam", pgp.sched_priority, pnp.sched_priority);
			break;
		case 13: /* glibc 2.36 has no setcgroup_np: check the round trip */
			a = hostile_int(&in);
			if (nofork_posix_spawnattr_setcgroup_np(&nat, a) == 0)
				cgroup_set = a;
			if (cgroup_set != -1) {
				SAME("getcgroup rc", 0, nofork_posix_spawnattr_getcgroup_np(&nat, &n));
				SAME("getcgroup", cgroup_set, n);
			}
			break;
		case 14: /* start over: destroy must free everything added */
			SAME("fa destroy", posix_spawn_file_actions_destroy(&gfa),
			     nofork_posix_spawn_file_actions_destroy(&nfa));
			SAME("fa init", posix_spawn_file_actions_init(&gfa), nofork_posix_spawn_file_actions_init(&nfa));
			break;
		default: /* many actions at once: the arrays grow */
			a = hostile_int(&in);
			for (int k = 0; k < 40; k++)
				SAME("addclose (many)", posix_spawn_file_actions_addclose(&gfa, a),
				     nofork_posix_spawn_file_actions_addclose(&nfa, a));
			break;
		}
	}
	if (spawn)
		spawn_in_jail(&nfa, &nat);
	SAME("fa destroy", posix_spawn_file_actions_destroy(&gfa), nofork_posix_spawn_file_actions_destroy(&nfa));
	SAME("attr destroy", posix_spawnattr_destroy(&gat), nofork_posix_spawnattr_destroy(&nat));
	return 0;
}
