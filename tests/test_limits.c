/* Process limits and flags: umask, rlimits (several at once), nice, sched
 * policy/priority, parent-death signal (with its race check) and
 * no_new_privs, as the probe sees them; each failure named in the error
 * record. */
#include "kit.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void probe_ok(nf_cmd *cmd, probe_report *r)
{
	probe_run_ok(cmd, r);
	nf_cmd_free(cmd);
}

/* ---- umask ------------------------------------------------------------------ */

START_TEST(umask_seen_by_child_and_applies_before_actions)
{
	mode_t mine = umask(022);
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/created", kit_tmpdir()), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_umask(cmd, 0027), 0);
	/* Created by a file action: the child's umask is already in force. */
	ck_assert_int_eq(nf_cmd_open(cmd, 5, path, O_WRONLY | O_CREAT | O_EXCL, 0666), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "umask"), "027");
	probe_report_free(&r);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_uint_eq(umask(mine), 022); /* the parent's is untouched */
	free(path);
}
END_TEST

START_TEST(umask_input_check)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_umask(cmd, 01000), EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- rlimits ----------------------------------------------------------------- */

START_TEST(several_rlimits_last_call_wins)
{
	nf_cmd *cmd = probe_cmd(NULL);
	struct rlimit nofile1 = { 32, 64 }, nofile2 = { 100, 200 }, core = { 0, 0 }, fsize = { 1 << 20, 1 << 21 };
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_NOFILE, &nofile1), 0);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_CORE, &core), 0);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_FSIZE, &fsize), 0);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_NOFILE, &nofile2), 0);
	struct rlimit parent_before;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &parent_before), 0);
	probe_report r;
	probe_ok(cmd, &r);
	long long cur, max;
	ck_assert(probe_rlimit(&r, "NOFILE", &cur, &max));
	ck_assert(cur == 100 && max == 200);
	ck_assert(probe_rlimit(&r, "CORE", &cur, &max));
	ck_assert(cur == 0 && max == 0);
	ck_assert(probe_rlimit(&r, "FSIZE", &cur, &max));
	ck_assert(cur == 1 << 20 && max == 1 << 21);
	/* Untouched ones are the parent's. */
	struct rlimit stack;
	ck_assert_int_eq(getrlimit(RLIMIT_STACK, &stack), 0);
	ck_assert(probe_rlimit(&r, "STACK", &cur, &max));
	ck_assert(cur == (stack.rlim_cur == RLIM_INFINITY ? -1 : (long long)stack.rlim_cur));
	probe_report_free(&r);
	struct rlimit parent_after;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &parent_after), 0);
	ck_assert(parent_after.rlim_cur == parent_before.rlim_cur && parent_after.rlim_max == parent_before.rlim_max);
}
END_TEST

START_TEST(rlimit_infinity)
{
	/* CORE's hard limit is unlimited here; lower the parent's soft one so
	 * the child's change shows. */
	struct rlimit low = { 0, RLIM_INFINITY }, inf = { RLIM_INFINITY, RLIM_INFINITY };
	ck_assert_int_eq(setrlimit(RLIMIT_CORE, &low), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_CORE, &inf), 0);
	probe_report r;
	probe_ok(cmd, &r);
	long long cur, max;
	ck_assert(probe_rlimit(&r, "CORE", &cur, &max));
	ck_assert(cur == -1 && max == -1);
	probe_report_free(&r);
}
END_TEST

/* Raising a hard limit needs CAP_SYS_RESOURCE (this sandbox's root lacks
 * it), and NOFILE past fs.nr_open is refused even with it: EPERM both ways. */
START_TEST(rlimit_refused_names_op)
{
	nf_cmd *cmd = probe_cmd(NULL);
	struct rlimit huge = { 64, (rlim_t)1 << 40 };
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_NOFILE, &huge), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_RLIMIT, "setrlimit NOFILE: Operation not permitted");
}
END_TEST

START_TEST(rlimit_input_checks)
{
	nf_cmd *cmd = probe_cmd(NULL);
	struct rlimit bad = { 10, 5 }, ok = { 5, 10 };
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_NOFILE, &bad), EINVAL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, 99, &ok), EINVAL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, -1, &ok), EINVAL);
	ck_assert_int_eq(nf_cmd_rlimit(cmd, RLIMIT_NOFILE, NULL), EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- nice --------------------------------------------------------------------- */

START_TEST(nice_is_absolute)
{
	ck_assert_int_eq(setpriority(PRIO_PROCESS, 0, 3), 0); /* not relative to this */
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_nice(cmd, 7), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nice"), 7);
	probe_report_free(&r);
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_nice(cmd, -4), 0); /* root may raise priority */
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nice"), -4);
	probe_report_free(&r);
	ck_assert_int_eq(getpriority(PRIO_PROCESS, 0), 3);
}
END_TEST

START_TEST(nice_refused_unprivileged_names_op)
{
	kit_public_probe();
	kit_become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_nice(cmd, -5), 0);
	kit_expect_spawn_error(cmd, EACCES, NF_OP_NICE, "setpriority -5: Permission denied");
}
END_TEST

START_TEST(nice_input_checks)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_nice(cmd, 20), EINVAL);
	ck_assert_int_eq(nf_cmd_nice(cmd, -21), EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- sched -------------------------------------------------------------------- */

START_TEST(sched_batch_and_idle)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_sched(cmd, SCHED_BATCH, 0), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(SCHED_BATCH, 3);
	ck_assert_str_eq(probe_get(&r, "sched"), "3 0");
	probe_report_free(&r);
	cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_sched(cmd, SCHED_IDLE, 0), 0);
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "sched"), "5 0");
	probe_report_free(&r);
	ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER);
}
END_TEST

START_TEST(sched_fifo_priority_as_root)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_sched(cmd, SCHED_FIFO, 10), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "sched"), "1 10");
	probe_report_free(&r);
}
END_TEST

/* policy -1 keeps the inherited policy and sets only the priority. */
START_TEST(sched_priority_only_keeps_policy)
{
	struct sched_param sp = { .sched_priority = 3 };
	ck_assert_int_eq(sched_setscheduler(0, SCHED_RR, &sp), 0);
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_sched(cmd, -1, 5), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	sp.sched_priority = 0;
	ck_assert_int_eq(sched_setscheduler(0, SCHED_OTHER, &sp), 0); /* before any assert can fail */
	ck_assert_str_eq(probe_get(&r, "sched"), "2 5");
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(sched_bad_priority_names_op)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_sched(cmd, SCHED_FIFO, 200), 0);
	kit_expect_spawn_error(cmd, EINVAL, NF_OP_SCHED, "sched_setscheduler policy 1: Invalid argument");
	cmd = probe_cmd(NULL); /* non-real-time policies take priority 0 only */
	ck_assert_int_eq(nf_cmd_sched(cmd, SCHED_BATCH, 5), 0);
	kit_expect_spawn_error(cmd, EINVAL, NF_OP_SCHED, "sched_setscheduler policy 3: Invalid argument");
}
END_TEST

START_TEST(sched_fifo_refused_unprivileged_names_op)
{
	kit_public_probe();
	kit_become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_sched(cmd, SCHED_FIFO, 1), 0);
	kit_expect_spawn_error(cmd, EPERM, NF_OP_SCHED, "sched_setscheduler policy 1: Operation not permitted");
}
END_TEST

START_TEST(sched_input_checks)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_sched(cmd, 42, 0), EINVAL);
	ck_assert_int_eq(nf_cmd_sched(cmd, -2, 0), EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- pdeathsig ---------------------------------------------------------------- */

START_TEST(pdeathsig_seen_by_child)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, SIGUSR2), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "pdeathsig"), SIGUSR2);
	probe_report_free(&r);
	probe_ok(probe_cmd(NULL), &r);
	ck_assert_int_eq(probe_long(&r, "pdeathsig"), 0);
	probe_report_free(&r);
}
END_TEST

/* The kernel clears the parent-death signal when the euid/egid changes
 * (commit_creds), so it must be set after the ids are dropped. */
START_TEST(pdeathsig_survives_dropping_ids)
{
	kit_public_probe();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, SIGUSR2), 0);
	ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
	ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_str_eq(probe_get(&r, "uid"), "65534 65534 65534");
	ck_assert_int_eq(probe_long(&r, "pdeathsig"), SIGUSR2);
	probe_report_free(&r);
}
END_TEST

/* The signal comes when the spawning *thread* exits (the kernel's rule,
 * which the header documents), even though the process lives on. */
static void *spawn_sleeper(void *arg)
{
	nf_proc *p = arg;
	nf_cmd *cmd = probe_cmd("sleep", "60000");
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, SIGTERM), 0);
	ck_assert_int_eq(nf_spawn(cmd, p, NULL), 0);
	nf_cmd_free(cmd);
	return NULL;
}

START_TEST(pdeathsig_delivered_when_spawning_thread_exits)
{
	nf_proc p = NF_PROC_INIT;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, spawn_sleeper, &p), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_gt(p.pid, 0);
	int st = 0;
	int rc = nf_proc_wait(&p, &st, 20000);
	if (rc == ETIMEDOUT) {
		nf_proc_kill(&p, SIGKILL);
		nf_proc_wait(&p, NULL, -1);
	}
	nf_proc_release(&p);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status 0x%x", st);
}
END_TEST

/* The race check: the parent dies after the clone but before the child set
 * PR_SET_PDEATHSIG, so the signal would never come. The child must notice
 * (its parent pid changed) and exit 127 instead of running the program.
 *
 * Making the window deterministic: the cgroup op runs before pdeathsig,
 * and where clone3 cannot place the child (a directory that is not a cgroup) the
 * child itself opens "cgroup.procs" there. Here that is a FIFO, so the child
 * blocks in open until we read it: we kill the spawning process meanwhile,
 * then let the child go on. This process is a subreaper, so the orphan
 * becomes our child and we see how it ended.
 *
 * orphan_status: spawn `probe exit 0` that way, return how it ended. */
static int orphan_status(int pdeathsig)
{
	char *fifo = NULL;
	ck_assert_int_ge(asprintf(&fifo, "%s/cgroup.procs", kit_tmpdir()), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	int dirfd = open(kit_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dirfd, 0);

	pid_t mid = fork();
	ck_assert_int_ge(mid, 0);
	if (mid == 0) {
		nf_cmd *cmd = probe_cmd("exit", "0");
		if (nf_cmd_pdeathsig(cmd, pdeathsig) || nf_cmd_cgroup(cmd, dirfd))
			_exit(2);
		nf_proc p;
		int rc = nf_spawn(cmd, &p, NULL); /* blocks: the child waits on the FIFO */
		_exit(rc == 0 ? 3 : 4);
	}
	close(dirfd);
	/* Its pid, as no helper process of ours can tell us while stuck in
	 * nf_spawn: the one child of the spawner. */
	pid_t child = 0;
	for (double end = kit_now_s() + 15; !kit_find_procs(mid, -1, &child, 1) && kit_now_s() < end;)
		usleep(1000);
	ck_assert_msg(child > 0, "the spawned child never appeared");
	ck_assert_int_eq(kill(mid, SIGKILL), 0);
	int st = kit_wait_status(mid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "spawner ended 0x%x", st);

	int fd = open(fifo, O_RDONLY | O_CLOEXEC); /* releases the child */
	ck_assert_int_ge(fd, 0);
	char c = 0;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	ck_assert_int_eq(c, '0'); /* it wrote "0" = itself, as into a cgroup */
	close(fd);
	ck_assert_int_eq(unlink(fifo), 0);
	free(fifo);
	return kit_wait_status(child);
}

START_TEST(pdeathsig_parent_already_dead_child_exits)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	int st = orphan_status(SIGKILL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 127,
		      "orphaned child ended 0x%x: it should have refused to run (127)", st);
	/* Control: the same orphan without pdeathsig runs the program. */
	st = orphan_status(0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "control orphan ended 0x%x", st);
}
END_TEST

START_TEST(pdeathsig_input_checks)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, -1), EINVAL);
	ck_assert_int_eq(nf_cmd_pdeathsig(cmd, 65), EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

/* ---- no_new_privs ------------------------------------------------------------- */

START_TEST(no_new_privs_seen_by_child)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
	probe_report r;
	probe_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "nnp"), 1);
	probe_report_free(&r);
	probe_ok(probe_cmd(NULL), &r);
	ck_assert_int_eq(probe_long(&r, "nnp"), 0);
	probe_report_free(&r);
	ck_assert_int_eq(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
}
END_TEST

/* A setuid-root copy of the probe, exec'd by uid 65534: without
 * no_new_privs it runs with euid 0; with it, exec grants nothing. */
START_TEST(no_new_privs_blocks_setuid_binary)
{
	kit_public_probe(); /* lets uid 65534 into the directory */
	char *suid = NULL;
	ck_assert_int_ge(asprintf(&suid, "%s/probe-suid", kit_tmpdir()), 0);
	kit_copy_probe(suid, 04755);
	const char *argv[] = { suid, NULL };
	probe_report r;
	for (int nnp = 0; nnp <= 1; nnp++) {
		nf_cmd *cmd = NULL;
		ck_assert_int_eq(nf_cmd_new(&cmd, suid, (char *const *)argv, NULL), 0);
		ck_assert_int_eq(nf_cmd_setgid(cmd, 65534), 0);
		ck_assert_int_eq(nf_cmd_setuid(cmd, 65534), 0);
		if (nnp)
			ck_assert_int_eq(nf_cmd_no_new_privs(cmd), 0);
		probe_ok(cmd, &r);
		ck_assert_str_eq(probe_get(&r, "uid"), nnp ? "65534 65534 65534" : "65534 0 0");
		ck_assert_int_eq(probe_long(&r, "nnp"), nnp);
		probe_report_free(&r);
	}
	free(suid);
}
END_TEST

/* Steps no spawn here can make fail (umask cannot fail, PR_SET_NO_NEW_PRIVS
 * neither, and the pdeathsig race check's ESRCH is recorded only after the
 * reader is dead): their lines, from records as the child would fill them. */
START_TEST(failure_lines_of_unreachable_steps)
{
	static const struct { int op; long arg; int err; const char *line; } cases[] = {
		{ NF_OP_UMASK, 027, EINVAL, "umask 027: Invalid argument" },
		{ NF_OP_NO_NEW_PRIVS, -1, EINVAL, "set no_new_privs: Invalid argument" },
		{ NF_OP_PDEATHSIG, SIGKILL, ESRCH, "set parent-death signal 9: No such process" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		nf_error e;
		memset(&e, 0, sizeof e);
		e.err = cases[i].err;
		e.op = cases[i].op;
		e.index = 3;
		e.fd = -1;
		e.arg = cases[i].arg;
		char buf[256];
		ck_assert_str_eq(nf_error_format(&e, buf, sizeof buf), cases[i].line);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = kit_tcase("limits", 60);
	const char *denied = getenv("NF_TEST_CLONE3");
	tcase_add_test(tc, umask_seen_by_child_and_applies_before_actions);
	tcase_add_test(tc, umask_input_check);
	tcase_add_test(tc, several_rlimits_last_call_wins);
	tcase_add_test(tc, rlimit_infinity);
	tcase_add_test(tc, rlimit_refused_names_op);
	tcase_add_test(tc, rlimit_input_checks);
	tcase_add_test(tc, nice_is_absolute);
	tcase_add_test(tc, nice_refused_unprivileged_names_op);
	tcase_add_test(tc, nice_input_checks);
	tcase_add_test(tc, sched_batch_and_idle);
	tcase_add_test(tc, sched_fifo_priority_as_root);
	tcase_add_test(tc, sched_priority_only_keeps_policy);
	tcase_add_test(tc, sched_bad_priority_names_op);
	tcase_add_test(tc, sched_fifo_refused_unprivileged_names_op);
	tcase_add_test(tc, sched_input_checks);
	tcase_add_test(tc, pdeathsig_seen_by_child);
	tcase_add_test(tc, pdeathsig_survives_dropping_ids);
	/* glibc's pthread_create gives up when clone3 fails with EPERM. */
	if (!denied || strcmp(denied, "eperm"))
		tcase_add_test(tc, pdeathsig_delivered_when_spawning_thread_exits);
	tcase_add_test(tc, pdeathsig_parent_already_dead_child_exits);
	tcase_add_test(tc, pdeathsig_input_checks);
	tcase_add_test(tc, failure_lines_of_unreachable_steps);
	/* The clone3-denying seccomp filter sets no_new_privs on this process
	 * itself, so there these two could not tell the child's flag from the
	 * inherited one: they run only in the plain run. */
	if (!denied || !*denied) {
		tcase_add_test(tc, no_new_privs_seen_by_child);
		tcase_add_test(tc, no_new_privs_blocks_setuid_binary);
	}
	suite_add_tcase(s, tc);
	return kit_main(s);
}
