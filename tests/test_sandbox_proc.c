/* The sandbox's process attributes (issue 16): capabilities across
 * setuid, a seccomp filter installed last, a Landlock ruleset, the CPU
 * affinity and the OOM score adjustment. Each is compared with what the
 * probe reads back in the child (/proc/self/status, oom_score_adj, a write
 * or a syscall it makes), each new step is made to fail once with its
 * exact message, the setters' validation is checked, and the unprivileged
 * cases (seccomp and Landlock with no_new_privs) run as uid 65534 in the
 * forked test process. One spawn comes from a coroutine. */
#include "kit.h"

#include "arch_abi.h" /* NF_AUDIT_ARCH */
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <sched.h>
#include <stddef.h>
#include <sys/syscall.h>

#define CAP(n) (UINT64_C(1) << (n))

/* A /proc/self/status capability line of this process, e.g. "CapBnd". */
static uint64_t own_caps(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	ck_assert_ptr_nonnull(f);
	char line[256];
	uint64_t v = 0;
	int found = 0;
	size_t k = strlen(key);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, k) && line[k] == ':') {
			v = strtoull(line + k + 1, NULL, 16);
			found = 1;
		}
	fclose(f);
	ck_assert_msg(found, "no %s in /proc/self/status", key);
	return v;
}

static int cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	ck_assert_ptr_nonnull(f);
	int last = -1;
	ck_assert_int_eq(fscanf(f, "%d", &last), 1);
	fclose(f);
	return last;
}

static void expect_caps(const probe_report *r, uint64_t inh, uint64_t prm, uint64_t eff, uint64_t bnd, uint64_t amb)
{
	ck_assert_uint_eq(probe_hex(r, "CapInh"), inh);
	ck_assert_uint_eq(probe_hex(r, "CapPrm"), prm);
	ck_assert_uint_eq(probe_hex(r, "CapEff"), eff);
	ck_assert_uint_eq(probe_hex(r, "CapBnd"), bnd);
	ck_assert_uint_eq(probe_hex(r, "CapAmb"), amb);
}

/* ---- capabilities ------------------------------------------------------------ */

/* Root spawns a program as uid 65534 that keeps CAP_NET_BIND_SERVICE as an
 * ambient capability, with two capabilities gone from its bounding set.
 * After the exec (a program without file capabilities, non-root): permitted
 * = effective = ambient, inheritable and bounding as asked. */
START_TEST(caps_survive_setuid)
{
	uint64_t bnd = own_caps("CapBnd") & ~(CAP(CAP_SYS_ADMIN) | CAP(CAP_NET_RAW));
	uint64_t prm = CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_CHOWN) | CAP(CAP_KILL);
	uint64_t eff = CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_CHOWN);
	uint64_t inh = CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_KILL);
	uint64_t amb = CAP(CAP_NET_BIND_SERVICE);
	kit_public_probe();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, prm, eff, inh, amb, bnd), 0);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 0, NULL), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "65534 65534 65534");
	expect_caps(&r, inh, amb, amb, bnd, amb);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* Root that stays root: the exec gives it its whole bounding set as
 * permitted and effective; the bounding set is what was asked. */
START_TEST(caps_bounding_as_root)
{
	uint64_t bnd = own_caps("CapBnd") & ~(CAP(CAP_SYS_PTRACE) | CAP(CAP_MKNOD) | CAP(cap_last()));
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, bnd, bnd, CAP(CAP_KILL), 0, bnd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_caps(&r, CAP(CAP_KILL), bnd, bnd, bnd, 0);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(caps_setter_refuses)
{
	int last = cap_last();
	uint64_t all = (UINT64_C(1) << (last + 1)) - 1;
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_capabilities(NULL, 0, 0, 0, 0, all), EINVAL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, CAP(1), CAP(2), 0, 0, all), EINVAL);          /* eff ⊄ prm */
	ck_assert_int_eq(nf_cmd_capabilities(cmd, CAP(1), 0, 0, CAP(1), all), EINVAL);          /* amb ⊄ inh */
	ck_assert_int_eq(nf_cmd_capabilities(cmd, CAP(1), 0, CAP(2), CAP(2), all), EINVAL);     /* amb ⊄ prm */
	ck_assert_int_eq(nf_cmd_capabilities(cmd, CAP(last + 1), 0, 0, 0, all), EINVAL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, 0, 0, CAP(63), 0, all), EINVAL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, 0, 0, 0, 0, all | CAP(last + 1)), EINVAL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, CAP(1), CAP(1), CAP(1), CAP(1), all), 0);
	nf_cmd_free(cmd);
}
END_TEST

/* As nobody the bounding set cannot shrink (no CAP_SETPCAP): the first
 * capability still in it that is to go names the step. Capabilities
 * already gone (root here may lack some) are skipped, not refused. */
START_TEST(caps_bounding_drop_fails)
{
	kit_public_probe();
	kit_become_nobody();
	uint64_t bnd = own_caps("CapBnd");
	ck_assert_msg(bnd & CAP(CAP_SYS_ADMIN), "the test needs CAP_SYS_ADMIN in the bounding set");
	nf_cmd *cmd = probe_cmd(NULL);
	/* Unchanged bounding set: nothing to drop, the spawn works. */
	ck_assert_int_eq(nf_cmd_capabilities(cmd, 0, 0, 0, 0, bnd), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	expect_caps(&r, 0, 0, 0, bnd, 0);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, 0, 0, 0, 0, bnd & ~CAP(CAP_SYS_ADMIN)), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_CAPBSET,
			       "drop capability 21 from the bounding set: Operation not permitted");
}
END_TEST

/* As nobody, asking for a permitted capability it does not have. */
START_TEST(caps_capset_fails)
{
	kit_public_probe();
	kit_become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, CAP(CAP_CHOWN), 0, 0, 0, own_caps("CapBnd")), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_CAPSET, "capset: Operation not permitted");
}
END_TEST

/* SECBIT_NO_CAP_AMBIENT_RAISE in the caller: the raise is refused, named
 * with its capability. */
START_TEST(caps_ambient_raise_fails)
{
	ck_assert_int_eq(prctl(PR_SET_SECUREBITS, SECBIT_NO_CAP_AMBIENT_RAISE, 0, 0, 0), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	uint64_t c = CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_KILL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, c, c, c, CAP(CAP_KILL), own_caps("CapBnd")), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_AMBIENT, "raise ambient capability 5: Operation not permitted");
}
END_TEST

/* SECBIT_KEEP_CAPS_LOCKED: keep-caps cannot be set. */
START_TEST(caps_keepcaps_fails)
{
	ck_assert_int_eq(prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, 0, 0, 0, 0, own_caps("CapBnd")), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_KEEPCAPS, "set keep-caps: Operation not permitted");
}
END_TEST

/* no_new_privs of this process: a suite run on the clone3 fallback path
 * inherits it with kit_main's filter, and then the refusals without it
 * cannot happen (those tests check them on the main path). */
static int own_nnp(void)
{
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
}

/* ---- seccomp ------------------------------------------------------------------- */

/* A filter: on x86_64, syscall nr takes action act; everything else is
 * allowed. Other architectures are killed. */
struct filter {
	struct sock_filter insn[8];
	struct sock_fprog prog;
};

static const struct sock_fprog *deny_act(struct filter *f, int nr, uint32_t act)
{
	struct sock_filter insn[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NF_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, act),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	memcpy(f->insn, insn, sizeof insn);
	f->prog = (struct sock_fprog){.len = sizeof insn / sizeof *insn, .filter = f->insn};
	return &f->prog;
}

/* Syscall nr fails with err. */
static const struct sock_fprog *deny(struct filter *f, int nr, int err)
{
	return deny_act(f, nr, SECCOMP_RET_ERRNO | (uint32_t)err);
}

/* The probe in `syscall NR` mode with a filter: getppid fails with the
 * chosen errno, getpid still works; the report shows Seccomp 2. */
static void check_filtered(int as_nobody)
{
	struct filter f;
	char ppid_nr[16], pid_nr[16];
	snprintf(ppid_nr, sizeof ppid_nr, "%d", SYS_getppid);
	snprintf(pid_nr, sizeof pid_nr, "%d", SYS_getpid);
	for (int i = 0; i < 3; i++) {
		nf_cmd *cmd = i == 0 ? probe_cmd("syscall", ppid_nr) : i == 1 ? probe_cmd("syscall", pid_nr) : probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_seccomp(cmd, deny(&f, SYS_getppid, ENOTBLK)), 0);
		memset(&f, 0xff, sizeof f); /* the cmd has its own copy */
		if (as_nobody)
			ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
		probe_report r;
		probe_run_ok(cmd, &r);
		if (i == 0) {
			ck_assert_str_eq(probe_get(&r, "syscall"), "-1 15");
		} else if (i == 1) {
			ck_assert_int_eq(probe_long(&r, "syscall"), r.pid);
			ck_assert_str_eq(probe_get(&r, "syscall") + strcspn(probe_get(&r, "syscall"), " "), " 0");
		} else {
			ck_assert_str_eq(probe_get(&r, "Seccomp"), "2");
			ck_assert_str_eq(probe_get(&r, "nnp"), as_nobody || own_nnp() ? "1" : "0");
		}
		probe_report_free(&r);
		nf_cmd_free(cmd);
	}
}

START_TEST(seccomp_filters_the_program)
{
	check_filtered(0);
}
END_TEST

/* Unprivileged: with no_new_privs the kernel takes the filter. */
START_TEST(seccomp_unprivileged_with_no_new_privs)
{
	kit_public_probe();
	kit_become_nobody();
	check_filtered(1);
}
END_TEST

/* Unprivileged without no_new_privs: refused, and said so precisely. */
START_TEST(seccomp_without_no_new_privs_fails)
{
	if (own_nnp())
		return;
	kit_public_probe();
	kit_become_nobody();
	struct filter f;
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, deny(&f, SYS_getppid, ENOTBLK)), 0);
	kit_expect_spawn_error(cmd, EACCES, NF_OP_SECCOMP, "seccomp: Permission denied");
}
END_TEST

/* A filter the kernel refuses (no return at the end). */
START_TEST(seccomp_invalid_filter_fails)
{
	struct sock_filter bad[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
	struct sock_fprog prog = {.len = 1, .filter = bad};
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &prog), 0);
	kit_expect_spawn_error(cmd, EINVAL, NF_OP_SECCOMP, "seccomp: Invalid argument");
}
END_TEST

/* The filter is in place at the execve: one that fails execve makes the
 * EXEC step fail with its errno; so every step before it ran unfiltered. */
START_TEST(seccomp_denying_execve_fails_the_exec)
{
	struct filter f;
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, deny(&f, SYS_execve, EPERM)), 0);
	/* Steps that make syscalls the filter would refuse if it came first. */
	ck_assert_int_eq(nf_cmd_umask(cmd, 027), 0);
	ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
	char msg[4200];
	snprintf(msg, sizeof msg, "execve %s: Operation not permitted", probe_path());
	kit_expect_spawn_error(cmd, EPERM, NF_OP_EXEC, msg);
	/* Refusing exit_group too: the report is in memory before the child
	 * tries to exit (it then dies of SIGSEGV at its hlt), so the message
	 * is the same. */
	struct sock_filter insn[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execve, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &(struct sock_fprog){5, insn}), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_EXEC, msg);
	/* Filtering a syscall of a step before it changes nothing (the probe
	 * reads its nice value with getpriority, which stays allowed). */
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, deny(&f, SYS_setpriority, EPERM)), 0);
	ck_assert_int_eq(nf_cmd_nice(cmd, 5), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nice"), 5);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

/* The filter comes after every other syscall of the child: one that
 * refuses the signal syscalls the EXEC step makes before execve
 * (rt_sigaction, rt_sigpending, rt_sigprocmask) does not stop the spawn,
 * and the program (which makes none of them before exiting) runs. */
START_TEST(seccomp_comes_after_the_signal_mask)
{
	static const int nrs[] = {SYS_rt_sigaction, SYS_rt_sigpending, SYS_rt_sigprocmask};
	struct sock_filter insn[16];
	size_t n = 0;
	insn[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (size_t i = 0; i < 3; i++)
		insn[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nrs[i], (uint8_t)(3 - i), 0);
	insn[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	insn[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = insn};
	nf_cmd *cmd = probe_cmd("exit", "7");
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &prog), 0);
	sigset_t none;
	sigemptyset(&none);
	ck_assert_int_eq(nf_cmd_sigmask(cmd, &none), 0);
	int st = kit_spawn_wait(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
	nf_cmd_free(cmd);
}
END_TEST

/* Documented limit: a filter that kills at execve cannot be told from a
 * program killed by SIGSYS right after its start. The spawn succeeds and
 * the wait shows the signal. */
START_TEST(seccomp_killing_execve_shows_in_the_wait)
{
	struct filter f;
	nf_cmd *cmd = probe_cmd("exit", "0");
	ck_assert_int_eq(nf_cmd_seccomp(cmd, deny_act(&f, SYS_execve, SECCOMP_RET_KILL_PROCESS)), 0);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_CORE, &(struct rlimit){0, 0}), 0);
	int st = kit_spawn_wait(cmd);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status %#x", st);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(seccomp_setter_refuses)
{
	struct sock_filter one[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	static struct sock_filter many[BPF_MAXINSNS + 1];
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_seccomp(NULL, &(struct sock_fprog){1, one}), EINVAL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &(struct sock_fprog){0, one}), EINVAL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &(struct sock_fprog){1, NULL}), EINVAL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &(struct sock_fprog){BPF_MAXINSNS + 1, many}), EINVAL);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &(struct sock_fprog){BPF_MAXINSNS, many}), 0);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, &(struct sock_fprog){1, one}), 0);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- Landlock ------------------------------------------------------------------ */

/* A ruleset handling file writes and creation, allowing them beneath
 * `allowed` only. */
static int ruleset(const char *allowed)
{
	struct landlock_ruleset_attr attr = {
		.handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG};
	int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	ck_assert_msg(fd >= 0, "landlock_create_ruleset: %s", strerror(errno));
	struct landlock_path_beneath_attr pb = {.allowed_access = attr.handled_access_fs};
	pb.parent_fd = open(allowed, O_PATH | O_CLOEXEC);
	ck_assert_int_ge(pb.parent_fd, 0);
	ck_assert_int_eq(syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0), 0);
	close(pb.parent_fd);
	return fd;
}

static char *subdir(const char *name)
{
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/%s", kit_tmpdir(), name);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	ck_assert_int_eq(chmod(p, 0777), 0);
	return p;
}

/* Writes beneath `allowed` work, beneath `denied` they are refused; the
 * program does not inherit the ruleset fd (close-on-exec), although the fd
 * policy kept it open up to the LANDLOCK step. */
static void check_landlock(int as_nobody)
{
	kit_public_probe();
	char *allowed = subdir("allowed"), *denied = subdir("denied");
	int rs = ruleset(allowed);
	if (as_nobody)
		kit_become_nobody();
	char a[4200], d[4200];
	snprintf(a, sizeof a, "%s/f", allowed);
	snprintf(d, sizeof d, "%s/f", denied);
	const char *files[] = {a, d, NULL};
	const char *want[] = {"ok", "errno 13", NULL};
	for (int i = 0; i < 3; i++) {
		nf_cmd *cmd = files[i] ? probe_cmd("write", files[i]) : probe_cmd(NULL);
		ck_assert_int_eq(nf_cmd_landlock(cmd, rs), 0);
		if (as_nobody)
			ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
		probe_report r;
		probe_run_ok(cmd, &r);
		if (files[i]) {
			ck_assert_str_eq(probe_get(&r, "write"), want[i]);
		} else {
			int fds[256], n = probe_fds(&r, fds, 256);
			for (int k = 0; k < n; k++) {
				struct probe_fdinfo info;
				ck_assert(probe_fd(&r, fds[k], &info));
				ck_assert_msg(!strstr(info.path, "landlock"), "fd %d in the program: %s", fds[k], info.path);
			}
			ck_assert_int_eq(n, 3); /* 0, 1, 2 */
		}
		probe_report_free(&r);
		nf_cmd_free(cmd);
	}
	close(rs);
	/* Without the ruleset the denied directory is writable. */
	nf_cmd *cmd = probe_cmd("write", d);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "write"), "ok");
	probe_report_free(&r);
	nf_cmd_free(cmd);
	free(allowed);
	free(denied);
}

START_TEST(landlock_restricts_the_program)
{
	check_landlock(0);
}
END_TEST

START_TEST(landlock_unprivileged_with_no_new_privs)
{
	check_landlock(1);
}
END_TEST

/* Without no_new_privs and CAP_SYS_ADMIN: refused, naming the cmd's fd. */
START_TEST(landlock_without_no_new_privs_fails)
{
	if (own_nnp())
		return;
	kit_public_probe();
	char *dir = subdir("allowed");
	int rs = ruleset(dir);
	kit_become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	int next = fcntl(rs, F_DUPFD_CLOEXEC, 3); /* the number the cmd's copy will get */
	close(next);
	ck_assert_int_eq(nf_cmd_landlock(cmd, rs), 0);
	close(rs); /* the cmd has its own */
	char msg[128];
	snprintf(msg, sizeof msg, "landlock_restrict_self fd %d: Operation not permitted", next);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_LANDLOCK, msg);
	free(dir);
}
END_TEST

/* File actions that write to the copy's number, or close every fd above
 * 2, do not take the ruleset away before its step: the copy moves, and
 * closefrom spares it. */
START_TEST(landlock_survives_the_file_actions)
{
	kit_public_probe();
	char *allowed = subdir("allowed"), *denied = subdir("denied");
	int rs = ruleset(allowed);
	char d[4200];
	snprintf(d, sizeof d, "%s/f", denied);
	for (int i = 0; i < 3; i++) {
		nf_cmd *cmd = probe_cmd("write", d);
		int next = fcntl(rs, F_DUPFD_CLOEXEC, 3); /* the number the cmd's copy gets */
		close(next);
		if (i == 2) /* an action naming a number before the ruleset is set */
			ck_assert_int_eq(nf_cmd_dup2(cmd, 0, next), 0);
		ck_assert_int_eq(nf_cmd_landlock(cmd, rs), 0);
		if (i == 0) /* after: the copy moves */
			ck_assert_int_eq(nf_cmd_open(cmd, next, "/dev/null", O_RDONLY, 0), 0);
		if (i == 1) { /* the report's pipe first (probe_run_raw) */
			ck_assert_int_eq(nf_cmd_dup2(cmd, PROBE_FD, 1), 0);
			ck_assert_int_eq(nf_cmd_closefrom(cmd, 3), 0);
		}
		probe_report r;
		if (i == 1)
			ck_assert_int_eq(probe_run_raw(cmd, &r, NULL), 0);
		else
			probe_run_ok(cmd, &r);
		ck_assert_str_eq(probe_get(&r, "write"), "errno 13");
		probe_report_free(&r);
		nf_cmd_free(cmd);
	}
	close(rs);
	free(allowed);
	free(denied);
}
END_TEST

START_TEST(landlock_setter_refuses)
{
	kit_public_probe();
	char *dir = subdir("allowed");
	nf_cmd *cmd = probe_cmd(NULL);
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(nf_cmd_landlock(NULL, p[0]), EINVAL);
	ck_assert_int_eq(nf_cmd_landlock(cmd, p[0]), EINVAL); /* not a ruleset */
	ck_assert_int_eq(nf_cmd_landlock(cmd, -1), EBADF);
	close(p[0]);
	ck_assert_int_eq(nf_cmd_landlock(cmd, p[0]), EBADF);
	close(p[1]);
	/* A second ruleset replaces the first, whose copy is closed: the
	 * fixture's fd check after nf_cmd_free sees every copy closed. */
	struct kit_fd_snapshot before, after;
	int rs = ruleset(dir);
	kit_fd_snapshot(&before);
	ck_assert_int_eq(nf_cmd_landlock(cmd, rs), 0);
	ck_assert_int_eq(nf_cmd_landlock(cmd, rs), 0);
	kit_fd_snapshot(&after);
	ck_assert_int_eq(after.n, before.n + 1);
	close(rs);
	nf_cmd_free(cmd);
	free(dir);
}
END_TEST

/* ---- affinity -------------------------------------------------------------------- */

START_TEST(affinity_reaches_the_child)
{
	cpu_set_t own;
	ck_assert_int_eq(sched_getaffinity(0, sizeof own, &own), 0);
	int cpu = -1;
	for (int i = CPU_SETSIZE - 1; i >= 0 && cpu < 0; i--) /* the last allowed: not always 0 */
		if (CPU_ISSET(i, &own))
			cpu = i;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, sizeof set, &set), 0);
	CPU_ZERO(&set); /* the cmd has its own copy */
	probe_report r;
	probe_run_ok(cmd, &r);
	char want[16];
	snprintf(want, sizeof want, "%d", cpu);
	ck_assert_str_eq(probe_get(&r, "Cpus_allowed_list"), want);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	cpu_set_t now;
	ck_assert_int_eq(sched_getaffinity(0, sizeof now, &now), 0);
	ck_assert(CPU_EQUAL(&now, &own)); /* the caller's is unchanged */
}
END_TEST

/* A set of CPUs that do not exist: the kernel refuses it. */
START_TEST(affinity_fails)
{
	size_t size = CPU_ALLOC_SIZE(8192);
	cpu_set_t *set = CPU_ALLOC(8192);
	CPU_ZERO_S(size, set);
	CPU_SET_S(8000, size, set);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, size, set), 0);
	CPU_FREE(set);
	kit_expect_spawn_error(cmd, EINVAL, NF_OP_AFFINITY, "sched_setaffinity: Invalid argument");
}
END_TEST

START_TEST(affinity_setter_refuses)
{
	cpu_set_t set, empty;
	CPU_ZERO(&set);
	CPU_ZERO(&empty);
	CPU_SET(0, &set);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_affinity(NULL, sizeof set, &set), EINVAL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, sizeof set, NULL), EINVAL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, 0, &set), EINVAL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, (size_t)(int)-128, &set), EINVAL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, 8193, &set), EINVAL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, sizeof empty, &empty), EINVAL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, sizeof set, &set), 0);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- oom_score_adj ------------------------------------------------------------------ */

static int own_oom(void)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "re");
	ck_assert_ptr_nonnull(f);
	int v = 0;
	ck_assert_int_eq(fscanf(f, "%d", &v), 1);
	fclose(f);
	return v;
}

START_TEST(oom_score_adj_reaches_the_child)
{
	static const int adj[] = {500, 1000, 7};
	int before = own_oom();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_oom_score_adj(cmd, adj[_i]), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "oom_score_adj"), adj[_i]);
	probe_report_free(&r);
	nf_cmd_free(cmd);
	ck_assert_int_eq(own_oom(), before); /* not passed on to the caller */
}
END_TEST

/* Below the minimum without CAP_SYS_RESOURCE. */
START_TEST(oom_score_adj_fails)
{
	kit_public_probe();
	kit_become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_oom_score_adj(cmd, -1000), 0);
	kit_expect_spawn_error(cmd, EACCES, NF_OP_OOM_SCORE_ADJ,
			       "write /proc/self/oom_score_adj: Permission denied");
}
END_TEST

START_TEST(oom_score_adj_setter_refuses)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_oom_score_adj(NULL, 0), EINVAL);
	ck_assert_int_eq(nf_cmd_oom_score_adj(cmd, -1001), EINVAL);
	ck_assert_int_eq(nf_cmd_oom_score_adj(cmd, 1001), EINVAL);
	ck_assert_int_eq(nf_cmd_oom_score_adj(cmd, -1000), 0);
	ck_assert_int_eq(nf_cmd_oom_score_adj(cmd, 1000), 0);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- all of them, from a coroutine --------------------------------------------------- */

static struct {
	probe_report r;
	int rc, cpu;
	uint64_t bnd, caps;
	nf_error err;
} co;

static void sandboxed_spawn(void *arg)
{
	(void)arg;
	struct filter f;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(co.cpu, &set);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_capabilities(cmd, co.caps, co.caps, co.caps, co.caps, co.bnd), 0);
	ck_assert_int_eq(nf_cmd_setgroups(cmd, 0, NULL), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
	ck_assert_int_eq(nf_cmd_seccomp(cmd, deny(&f, SYS_getppid, ENOTBLK)), 0);
	ck_assert_int_eq(nf_cmd_affinity(cmd, sizeof set, &set), 0);
	ck_assert_int_eq(nf_cmd_oom_score_adj(cmd, 321), 0);
	co.rc = probe_run(cmd, &co.r, &co.err);
	nf_cmd_free(cmd);
	/* And a failing one: the message comes back to the coroutine too (a
	 * CPU that does not exist). */
	size_t size = CPU_ALLOC_SIZE(8192);
	cpu_set_t *none = CPU_ALLOC(8192);
	CPU_ZERO_S(size, none);
	CPU_SET_S(8000, size, none);
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_affinity(cmd, size, none), 0);
	CPU_FREE(none);
	probe_report r;
	memset(&co.err, 0, sizeof co.err);
	ck_assert_int_eq(probe_run(cmd, &r, &co.err), EINVAL);
	nf_cmd_free(cmd);
}

START_TEST(sandbox_from_a_coroutine)
{
	kit_public_probe();
	cpu_set_t own;
	ck_assert_int_eq(sched_getaffinity(0, sizeof own, &own), 0);
	for (co.cpu = 0; !CPU_ISSET(co.cpu, &own); co.cpu++)
		;
	co.bnd = own_caps("CapBnd") & ~CAP(CAP_SYS_ADMIN);
	co.caps = CAP(CAP_NET_BIND_SERVICE);
	ck_assert_int_eq(nf_rt_start(1), 0);
	ck_assert_int_eq(nf_go(sandboxed_spawn, NULL), 0);
	nf_rt_stop();
	ck_assert_int_eq(co.rc, 0);
	ck_assert_int_eq(WEXITSTATUS(co.r.status), 0);
	ck_assert_str_eq(probe_get(&co.r, "uid"), "65534 65534 65534");
	expect_caps(&co.r, co.caps, co.caps, co.caps, co.bnd, co.caps);
	ck_assert_str_eq(probe_get(&co.r, "Seccomp"), "2");
	ck_assert_int_eq(probe_long(&co.r, "Cpus_allowed_list"), co.cpu);
	ck_assert_int_eq(probe_long(&co.r, "oom_score_adj"), 321);
	probe_report_free(&co.r);
	char msg[NF_ERROR_MAX];
	ck_assert_int_eq(co.err.op, NF_OP_AFFINITY);
	ck_assert_str_eq(nf_error_format(&co.err, msg, sizeof msg), "sched_setaffinity: Invalid argument");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sandbox_proc");
	TCase *tc = kit_tcase("sandbox_proc", 30);
	tcase_add_test(tc, caps_survive_setuid);
	tcase_add_test(tc, caps_bounding_as_root);
	tcase_add_test(tc, caps_setter_refuses);
	tcase_add_test(tc, caps_bounding_drop_fails);
	tcase_add_test(tc, caps_capset_fails);
	tcase_add_test(tc, caps_ambient_raise_fails);
	tcase_add_test(tc, caps_keepcaps_fails);
	tcase_add_test(tc, seccomp_filters_the_program);
	tcase_add_test(tc, seccomp_unprivileged_with_no_new_privs);
	tcase_add_test(tc, seccomp_without_no_new_privs_fails);
	tcase_add_test(tc, seccomp_invalid_filter_fails);
	tcase_add_test(tc, seccomp_denying_execve_fails_the_exec);
	tcase_add_test(tc, seccomp_comes_after_the_signal_mask);
	tcase_add_test(tc, seccomp_killing_execve_shows_in_the_wait);
	tcase_add_test(tc, seccomp_setter_refuses);
	tcase_add_test(tc, landlock_restricts_the_program);
	tcase_add_test(tc, landlock_unprivileged_with_no_new_privs);
	tcase_add_test(tc, landlock_without_no_new_privs_fails);
	tcase_add_test(tc, landlock_survives_the_file_actions);
	tcase_add_test(tc, landlock_setter_refuses);
	tcase_add_test(tc, affinity_reaches_the_child);
	tcase_add_test(tc, affinity_fails);
	tcase_add_test(tc, affinity_setter_refuses);
	tcase_add_loop_test(tc, oom_score_adj_reaches_the_child, 0, 3);
	tcase_add_test(tc, oom_score_adj_fails);
	tcase_add_test(tc, oom_score_adj_setter_refuses);
	tcase_add_test(tc, sandbox_from_a_coroutine);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
