/* libFuzzer target: the cmd builder and the plan compiler.
 *
 * The input drives a random sequence of nf_cmd_* calls with hostile values
 * (negative, huge and boundary fds; paths of length 0, PATH_MAX-1, PATH_MAX
 * and more; NULL pointers; group lists up to and past NGROUPS_MAX), then
 * compiles the plan with plan_compile and checks what the child relies
 * on: every pointer in the plan points inside the plan, every string ends
 * inside it, the op list ends in exactly one EXEC, operands are in range,
 * the keep list of each CLOSE_FDS is sorted and holds 0-2. Setters must
 * return 0 or one of the errnos they document. Nothing is spawned.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined by
 * tests/run-hardening; replay.c runs the same function over stored inputs
 * without libFuzzer (meson test, valgrind). */
#include "nofork_int.h"

#include <errno.h>
#include <limits.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fuzz_input.h"

/* An int a caller might plausibly or maliciously pass as an fd, signal,
 * resource or id. */
static int hostile_int(input *in)
{
	static const int table[] = {-1, 0, 1, 2, 3, 4, 9, 63, 64, 65, 200, 1023, 1024, 4095, 65535, 65536,
	                            1 << 20, INT_MAX, INT_MIN, -2, -100, 16, 15};
	return pick_int(in, table, sizeof table / sizeof table[0]);
}

static char strbuf[4][PATH_MAX + 64];

/* A string whose length is hostile (0, 1, short, PATH_MAX-1, PATH_MAX,
 * longer) and whose bytes come from the input (no NUL inside). */
static char *hostile_str(input *in, int slot)
{
	static const size_t lens[] = {0, 1, 2, 7, 40, PATH_MAX - 2, PATH_MAX - 1, PATH_MAX, PATH_MAX + 1, PATH_MAX + 60};
	uint8_t k = u8(in);
	size_t len = k < 128 ? k % 24 : lens[k % (sizeof lens / sizeof lens[0])];
	char *s = strbuf[slot];
	uint8_t fill = u8(in);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = i < 24 && in->n ? u8(in) : (uint8_t)(fill + i);
		s[i] = c ? (char)c : '/';
	}
	s[len] = '\0';
	return s;
}

static void check_rc(int rc, const char *what)
{
	switch (rc) {
	case 0: case EINVAL: case EBADF: case ENAMETOOLONG: case ENOMEM: case E2BIG:
	case EEXIST: case ENOSPC: /* nf_cmd_pipe: a second pipe at one fd, the slots full */
	case EMFILE: /* nf_cmd_landlock's copy */
		return;
	default:
		fprintf(stderr, "%s returned %d\n", what, rc);
		abort();
	}
}

/* ---- plan invariants ------------------------------------------------------------ */

static const char *base, *end;

#define REQUIRE(cond)                                                                 \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "plan invariant broken: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                      \
		}                                                                     \
	} while (0)

static int inside(const void *p, size_t len)
{
	const char *c = p;
	return c >= base && c <= end && len <= (size_t)(end - c);
}

static void require_str(const char *s)
{
	REQUIRE(inside(s, 1));
	REQUIRE(memchr(s, '\0', (size_t)(end - s)) != NULL);
}

static size_t require_strv(char *const *v)
{
	size_t n = 0;
	for (;; n++) {
		REQUIRE(inside(&v[n], sizeof v[n]));
		if (!v[n])
			return n;
		require_str(v[n]);
	}
}

static void check_plan(const nf_plan *pl, const nf_cmd *cmd)
{
	base = (const char *)pl;
	end = base + pl->size;
	REQUIRE(pl->n_ops >= 1);
	REQUIRE(inside(pl->ops, (size_t)pl->n_ops * sizeof(nf_op)));
	size_t argc = require_strv(pl->argv);
	REQUIRE(pl->envp == NULL || require_strv(pl->envp) < SIZE_MAX);
	/* A fixed environment (an envp, or one cleared by nf_cmd_clearenv) is
	 * merged with its edits at compile time; over the live environ the
	 * edits wait for each spawn. */
	bool fixed_env = cmd->envp || cmd->env_clear;
	REQUIRE(fixed_env ? pl->envp != NULL : pl->envp == NULL);
	REQUIRE(fixed_env ? pl->env.n == 0 : pl->env.n == cmd->n_env);
	require_str(pl->procfd);
	REQUIRE(!strcmp(pl->procfd, "/proc/self/fd"));
	require_str(pl->empty);
	REQUIRE(!*pl->empty);
	REQUIRE(pl->n_cands >= 0);
	REQUIRE(inside(pl->cands, ((size_t)pl->n_cands + 1) * sizeof(char *)));
	for (int i = 0; i < pl->n_cands; i++) {
		require_str(pl->cands[i]);
		REQUIRE(strlen(pl->cands[i]) < PATH_MAX);
	}
	REQUIRE(pl->cands[pl->n_cands] == NULL);
	if (pl->sh_argv) {
		REQUIRE(pl->sh_stride >= 3 && pl->sh_stride >= argc + 1);
		for (int i = 0; i < pl->n_cands; i++) {
			char *const *v = pl->sh_argv + (size_t)i * pl->sh_stride;
			REQUIRE(inside(v, pl->sh_stride * sizeof *v));
			REQUIRE(!strcmp(v[0], "/bin/sh") && v[1] == pl->cands[i]);
			size_t n = require_strv(v);
			REQUIRE(n < pl->sh_stride && n == (argc > 1 ? argc + 1 : 2));
		}
	}
	int policy_ops = 0, check_op;
	/* What nf_spawn would refuse before cloning, the compiler lays out all
	 * the same: the namespace each step needs is required only when
	 * sandbox_check passes. */
	bool whole = sandbox_check(cmd, &check_op) == 0;
	for (uint32_t i = 0; i < pl->n_ops; i++) {
		const nf_op *op = &pl->ops[i];
		REQUIRE(op->kind >= 1 && op->kind <= OPK_MAX && op->kind != OPK_SIGMASK && op->kind != OPK_SIGRESET);
		REQUIRE((op->kind == OPK_EXEC) == (i == pl->n_ops - 1));
		switch (op->kind) {
		case OPK_DUP2:
			REQUIRE(op->a >= 0 && op->b >= 0 && op->b <= INT_MAX);
			break;
		case OPK_OPEN:
			REQUIRE(op->a >= 0);
			require_str(op->p);
			REQUIRE(*(const char *)op->p && strlen(op->p) < PATH_MAX);
			break;
		case OPK_CHDIR:
			require_str(op->p);
			REQUIRE(*(const char *)op->p && strlen(op->p) < PATH_MAX);
			break;
		case OPK_CLOSE: case OPK_FCHDIR: case OPK_KEEP_FD: case OPK_FOREGROUND: case OPK_CTTY:
			REQUIRE(op->a >= 0);
			break;
		case OPK_CLOSE_FDS: {
			REQUIRE(op->b >= 0 && op->a >= 0);
			const int32_t *k = op->p;
			REQUIRE(op->a == 0 || inside(k, (size_t)op->a * sizeof *k));
			for (int32_t j = 1; j < op->a; j++)
				REQUIRE(k[j - 1] < k[j]);
			/* The fd policy's op (the one with a keep list) keeps
			 * stdio; closefrom's ops keep nothing, even from 0. */
			if (op->a > 0) {
				REQUIRE(op->b == 0 && op->a >= 3 && k[0] == 0 && k[1] == 1 && k[2] == 2);
				policy_ops++;
			}
			break;
		}
		case OPK_SETGROUPS:
			REQUIRE(op->a >= 0 && op->a <= NGROUPS_MAX);
			REQUIRE(op->a == 0 || inside(op->p, (size_t)op->a * sizeof(gid_t)));
			break;
		case OPK_UMASK:
			REQUIRE(!(op->a & ~0777));
			break;
		case OPK_RLIMIT:
			REQUIRE(op->a >= 0 && op->a < RLIMIT_NLIMITS && (uint64_t)op->b <= (uint64_t)op->c);
			break;
		case OPK_NICE:
			REQUIRE(op->a >= -20 && op->a <= 19);
			break;
		case OPK_PDEATHSIG:
			REQUIRE(op->a >= 1 && op->a <= 64);
			break;
		case OPK_CGROUP:
			REQUIRE(op->a >= 0);
			require_str(op->p);
			break;
		case OPK_PIPE:
			REQUIRE(op->a >= 0 && (uint32_t)op->a < pl->n_pipes && op->a < NF_PROC_PIPES);
			REQUIRE(op->b >= 0 && op->b <= INT_MAX && (op->c == NF_PIPE_TO_CHILD || op->c == NF_PIPE_FROM_CHILD));
			REQUIRE(pl->pipes[op->a].child_fd == op->b && pl->pipes[op->a].dir == op->c);
			REQUIRE((uint32_t)op->b < pl->fd_named);
			break;
		case OPK_ID_MAP:
			REQUIRE(op->a >= ID_SETGROUPS && op->a <= ID_GID_MAP && pl->flags & PLANF_MAPS && (!whole || pl->ns & CLONE_NEWUSER));
			require_str(op->p);
			REQUIRE(op->a == ID_UID_MAP ? pl->uid_map != NULL : pl->gid_map != NULL);
			break;
		case OPK_HOSTNAME:
			require_str(op->p);
			REQUIRE(op->b >= 1 && op->b <= 64 && strlen(op->p) == (size_t)op->b && (!whole || pl->ns & CLONE_NEWUTS));
			break;
		case OPK_MOUNT: {
			require_str(op->p);
			REQUIRE(*(const char *)op->p && strlen(op->p) < PATH_MAX && (op->a == 0 || op->a == 1));
			const char *const *args = (const char *const *)(uintptr_t)op->c;
			REQUIRE(inside(args, 4 * sizeof *args));
			for (int k = 0; k < 3; k++)
				if (args[k])
					require_str(args[k]);
			require_str(args[3]);
			REQUIRE(!whole || pl->ns & CLONE_NEWNS);
			break;
		}
		case OPK_MKDIR:
			require_str(op->p);
			REQUIRE(!(op->a & ~07777));
			break;
		case OPK_SYMLINK:
			require_str(op->p);
			require_str((const char *)(uintptr_t)op->c);
			break;
		case OPK_CHROOT:
			require_str(op->p);
			REQUIRE(op->a == !!(pl->ns & CLONE_NEWNS));
			break;
		case OPK_EXEC:
			REQUIRE(op->a == pl->n_cands && op->p == (const void *)pl->cands);
			REQUIRE(op->c >= -1 && op->c <= INT_MAX);
			break;
		default:
			REQUIRE(op->p == NULL || inside(op->p, 1));
		}
	}
	REQUIRE(policy_ops == !cmd->inherit_all);
	REQUIRE(!!(pl->flags & PLANF_MAPS) == (pl->uid_map || pl->gid_map));
	if (pl->uid_map)
		require_str(pl->uid_map);
	if (pl->gid_map)
		require_str(pl->gid_map);
}

/* ---- driving the builder ------------------------------------------------------ */

static gid_t groups[NGROUPS_MAX + 2];

static void fill_sigset(input *in, sigset_t *set)
{
	sigemptyset(set);
	uint64_t bits = u64(in, 8);
	for (int s = 1; s <= 64; s++)
		if (bits >> (s - 1) & 1)
			sigaddset(set, s);
}

static nf_cmd *make_cmd(input *in)
{
	char *argv[8], *envp[8];
	char argbuf[8][32];
	int argc = u8(in) % 7;
	for (int i = 0; i < argc; i++) {
		size_t len = u8(in) % 31;
		for (size_t j = 0; j < len; j++)
			argbuf[i][j] = (char)(u8(in) | 1);
		argbuf[i][len] = '\0';
		argv[i] = argbuf[i];
	}
	argv[argc] = NULL;
	int envc = u8(in) % 8;
	for (int i = 0; i < envc && i < 7; i++)
		envp[i] = i % 2 ? "PATH=/a:/b::/c" : "X=1";
	envp[envc < 7 ? envc : 7] = NULL;
	uint8_t how = u8(in);
	const char *path = how & 8 ? NULL : hostile_str(in, 0);
	char *const *av = how & 16 ? NULL : argv;
	char *const *ev = how & 32 ? envp : NULL;
	nf_cmd *cmd = NULL;
	int rc = how & 1 ? nf_cmd_newp(&cmd, path, av, ev) : nf_cmd_new(&cmd, path, av, ev);
	check_rc(rc, "nf_cmd_new");
	REQUIRE(rc || cmd != NULL);
	return rc ? NULL : cmd;
}

/* id map text: up to 5 lines of three numbers from a hostile table, with
 * hostile separators now and then. */
static char *map_text(input *in)
{
	static const uint64_t nums[] = {0, 1, 2, 65534, 65535, 100000, 4294967295u, 4294967296u, 1000, 340};
	char *s = strbuf[2];
	size_t o = 0, lines = u8(in) % 6;
	for (size_t l = 0; l < lines; l++) {
		for (int k = 0; k < 3; k++) {
			uint8_t c = u8(in);
			o += (size_t)snprintf(s + o, 64, "%llu%s", (unsigned long long)nums[c % 10],
			                      k < 2 ? (c & 0x80 ? "\t" : " ") : (c & 0x40 ? "" : "\n"));
		}
	}
	s[o] = '\0';
	return s;
}

static struct sock_filter filter[BPF_MAXINSNS + 2];
static unsigned char cpus[8200];

static void one_call(input *in, nf_cmd *cmd)
{
	uint8_t op = u8(in);
	int rc = 0, a, b;
	struct rlimit rl;
	sigset_t set;
	switch (op % 56) {
	case 0: a = hostile_int(in); b = hostile_int(in); rc = nf_cmd_dup2(cmd, a, b); break;
	case 1:
		a = hostile_int(in);
		rc = nf_cmd_open(cmd, a, u8(in) == 7 ? NULL : hostile_str(in, 1), (int)u64(in, 4), (mode_t)u64(in, 2));
		break;
	case 2: rc = nf_cmd_close(cmd, hostile_int(in)); break;
	case 3: rc = nf_cmd_chdir(cmd, u8(in) == 7 ? NULL : hostile_str(in, 1)); break;
	case 4: rc = nf_cmd_fchdir(cmd, hostile_int(in)); break;
	case 5: rc = nf_cmd_keep_fd(cmd, hostile_int(in)); break;
	case 6: rc = nf_cmd_inherit_all_fds(cmd); break;
	case 7: rc = nf_cmd_setsid(cmd); break;
	case 8: rc = nf_cmd_setpgid(cmd, hostile_int(in)); break;
	case 9: fill_sigset(in, &set); rc = nf_cmd_sigmask(cmd, u8(in) == 7 ? NULL : &set); break;
	case 10: fill_sigset(in, &set); rc = nf_cmd_sigdefault(cmd, u8(in) == 7 ? NULL : &set); break;
	case 11: rc = nf_cmd_closefrom(cmd, hostile_int(in)); break;
	case 12: rc = nf_cmd_foreground(cmd, hostile_int(in)); break;
	case 13: rc = nf_cmd_ctty(cmd, hostile_int(in)); break;
	case 14: {
		static const size_t ns[] = {0, 1, 2, 3, 32, NGROUPS_MAX - 1, NGROUPS_MAX, NGROUPS_MAX + 1, SIZE_MAX};
		uint8_t k = u8(in);
		size_t n = ns[k % (sizeof ns / sizeof ns[0])];
		for (size_t i = 0; i < 3; i++)
			groups[i] = (gid_t)u64(in, 4);
		/* groups has room for NGROUPS_MAX + 2; bigger n must be refused
		 * before the array is read (ASan would see the overread). */
		rc = nf_cmd_setgroups(cmd, n, k & 0x80 ? NULL : groups);
		break;
	}
	case 15: rc = nf_cmd_setgid(cmd, (gid_t)hostile_int(in)); break;
	case 16: rc = nf_cmd_setuid(cmd, (uid_t)hostile_int(in)); break;
	case 17: rc = nf_cmd_umask(cmd, (mode_t)hostile_int(in)); break;
	case 18:
		a = hostile_int(in);
		rl.rlim_cur = u8(in) & 1 ? RLIM_INFINITY : u64(in, 8);
		rl.rlim_max = u8(in) & 1 ? RLIM_INFINITY : u64(in, 8);
		rc = nf_cmd_rlimit(cmd, a, u8(in) == 7 ? NULL : &rl);
		break;
	case 19: rc = nf_cmd_nice(cmd, hostile_int(in)); break;
	case 20: a = hostile_int(in); b = hostile_int(in); rc = nf_cmd_sched(cmd, a, b); break;
	case 21: rc = nf_cmd_pdeathsig(cmd, hostile_int(in)); break;
	case 22: rc = nf_cmd_no_new_privs(cmd); break;
	case 23: rc = nf_cmd_cgroup(cmd, hostile_int(in)); break;
	case 24: rc = nf_cmd_exec_fd(cmd, hostile_int(in)); break;
	case 25: rc = nf_cmd_search_path(cmd, u8(in) == 7 ? NULL : hostile_str(in, 1)); break;
	case 26: rc = nf_cmd_flags(cmd, (unsigned)u64(in, 1) << (u8(in) % 32)); break;
	case 27: rc = cmd_close_lenient(cmd, hostile_int(in)); break;
	case 28: rc = cmd_resetids(cmd); break;
	case 29: { /* compile through the cache, then keep changing the cmd */
		const nf_plan *pl;
		rc = cmd_plan(cmd, &pl);
		if (!rc) {
			check_plan(pl, cmd);
			const nf_plan *again;
			REQUIRE(cmd_plan(cmd, &again) == 0 && again == pl);
		}
		break;
	}
	case 30: /* NULL cmd: every setter refuses it */
		REQUIRE(nf_cmd_dup2(NULL, 0, 1) == EINVAL && nf_cmd_setsid(NULL) == EINVAL &&
		        nf_cmd_umask(NULL, 0) == EINVAL && nf_cmd_keep_fd(NULL, 3) == EINVAL &&
		        nf_cmd_setenv(NULL, "A", "b") == EINVAL && nf_cmd_pipe(NULL, 0, 0) == EINVAL);
		break;
	case 31: {
		const char *name = u8(in) == 7 ? NULL : hostile_str(in, 1);
		rc = nf_cmd_setenv(cmd, name, u8(in) == 7 ? NULL : hostile_str(in, 0));
		break;
	}
	case 32: rc = nf_cmd_unsetenv(cmd, u8(in) == 7 ? NULL : hostile_str(in, 1)); break;
	case 33: rc = nf_cmd_clearenv(cmd); break;
	case 34: a = hostile_int(in); rc = nf_cmd_pipe(cmd, a, hostile_int(in)); break;
	case 35: rc = nf_cmd_devnull(cmd, hostile_int(in)); break;
	/* the sandbox: namespaces, maps, names and paths, process attributes */
	case 36: rc = nf_cmd_namespaces(cmd, (unsigned long)u64(in, 8)); break;
	case 37: rc = nf_cmd_namespaces(cmd, CLONE_NEWUSER | (u8(in) & 1 ? CLONE_NEWNS : 0) | (u8(in) & 1 ? CLONE_NEWUTS : 0)); break;
	case 38: rc = nf_cmd_uid_map(cmd, u8(in) == 7 ? NULL : map_text(in)); break;
	case 39: rc = nf_cmd_gid_map(cmd, u8(in) == 7 ? NULL : map_text(in)); break;
	case 40: rc = nf_cmd_hostname(cmd, u8(in) == 7 ? NULL : hostile_str(in, 1)); break;
	case 41: {
		uint8_t nulls = u8(in);
		const char *src = nulls & 1 ? NULL : hostile_str(in, 0), *dst = nulls & 2 ? NULL : hostile_str(in, 1);
		const char *type = nulls & 4 ? NULL : hostile_str(in, 2), *data = nulls & 8 ? NULL : hostile_str(in, 3);
		rc = nf_cmd_mount(cmd, src, dst, type, (unsigned long)u64(in, 4), data);
		break;
	}
	case 42: rc = nf_cmd_mkdir(cmd, u8(in) == 7 ? NULL : hostile_str(in, 1), (mode_t)u64(in, 2)); break;
	case 43: rc = nf_cmd_symlink(cmd, u8(in) == 7 ? NULL : hostile_str(in, 0), u8(in) == 7 ? NULL : hostile_str(in, 1)); break;
	case 44: rc = nf_cmd_chroot(cmd, u8(in) == 7 ? NULL : hostile_str(in, 1)); break;
	case 45: {
		uint64_t v[5];
		for (int k = 0; k < 5; k++)
			v[k] = u8(in) & 1 ? ~UINT64_C(0) >> (u8(in) % 64) : u64(in, 8);
		rc = nf_cmd_capabilities(cmd, v[0], v[1], v[2], v[3], v[4]);
		break;
	}
	case 46: {
		static const unsigned short lens[] = {0, 1, 2, 7, BPF_MAXINSNS, BPF_MAXINSNS + 1, 65535};
		unsigned short len = lens[u8(in) % 7];
		for (size_t k = 0; k < 8 && k < len; k++)
			filter[k] = (struct sock_filter){(uint16_t)u64(in, 2), u8(in), u8(in), (uint32_t)u64(in, 4)};
		struct sock_fprog prog = {len, len > BPF_MAXINSNS + 2 ? NULL : filter};
		rc = nf_cmd_seccomp(cmd, u8(in) == 7 ? NULL : &prog);
		break;
	}
	case 47: rc = nf_cmd_landlock(cmd, hostile_int(in)); break;
	case 48: {
		static const size_t sizes[] = {0, 1, 8, 128, 1024, 8192, 8193, (size_t)-1, (size_t)INT_MIN};
		size_t size = sizes[u8(in) % 9];
		memset(cpus, 0, sizeof cpus);
		for (int k = 0; k < 4; k++)
			cpus[u8(in) % 64] = u8(in);
		rc = nf_cmd_affinity(cmd, size, u8(in) == 7 ? NULL : (const cpu_set_t *)cpus);
		break;
	}
	case 49: rc = nf_cmd_oom_score_adj(cmd, u8(in) & 1 ? hostile_int(in) : (int)(u64(in, 2) % 2101) - 1050); break;
	default: {
		nf_error err;
		memset(&err, 0, sizeof err);
		err.err = hostile_int(in);
		err.op = hostile_int(in);
		err.index = hostile_int(in);
		err.fd = hostile_int(in);
		err.arg = hostile_int(in);
		err.signal = hostile_int(in);
		err.path = hostile_str(in, 1);
		err.path2 = u8(in) == 7 ? NULL : hostile_str(in, 0);
		char out[128];
		size_t len = u8(in) % sizeof out;
		memset(out, 'x', sizeof out);
		REQUIRE(nf_error_format(&err, out, len) == out);
		REQUIRE(len == 0 ? out[0] == 'x' : memchr(out, '\0', len) != NULL);
		break;
	}
	}
	check_rc(rc, "setter");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input in = {data, size};
	nf_cmd *cmd = make_cmd(&in);
	if (!cmd)
		return 0;
	for (int i = 0; i < 64 && in.n; i++)
		one_call(&in, cmd);
	nf_plan *pl;
	int rc = plan_compile(cmd, &pl);
	check_rc(rc, "plan_compile");
	if (!rc) {
		check_plan(pl, cmd);
		free(pl);
	}
	nf_cmd_free(cmd);
	return 0;
}
