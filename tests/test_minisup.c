/* The mini supervisor (tests/progs/minisup), driven through its control
 * pipe and read through its event lines: restarts with doubling backoff
 * (counted; each restart not earlier than its backoff), no allocation per
 * restart, per-service timeouts, stopping a whole process group (services
 * with grandchildren: afterwards kill(-pgid, 0) is ESRCH), a group's
 * leftovers killed when its main process ends, a cgroup catching a member
 * that left the group, and rlimit/umask/credentials as the probe saw them.
 * All waits have deadlines. */
#include "kit.h"

#include <poll.h>
#include <stdlib.h>

#ifndef MINISUP_PATH
#define MINISUP_PATH "tests/progs/minisup"
#endif

#define DEADLINE_S 15.0

struct sup {
	nf_proc proc;
	int ctl, events;
	char buf[65536];
	size_t len;
	char *lines[1024];
	int nlines, cursor;
};

static void sup_start(struct sup *s, const char *config)
{
	memset(s, 0, sizeof *s);
	char *conf = kit_tmp_file("minisup.conf", config, 0644);
	int in[2], out[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	char *argv[] = { "minisup", conf, NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, MINISUP_PATH, argv, NULL), 0);
	ck_assert_int_eq(nf_cmd_chdir(cmd, kit_tmpdir()), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, in[0], 0), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, out[1], 1), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, out[1], 2), 0);
	ck_assert_int_eq(nf_spawn(cmd, &s->proc, NULL), 0);
	nf_cmd_free(cmd);
	close(in[0]);
	close(out[1]);
	s->ctl = in[1];
	s->events = out[0];
	free(conf);
}

/* Read more event lines; 0 at EOF. */
static int sup_read(struct sup *s, double end)
{
	struct pollfd pfd = { s->events, POLLIN, 0 };
	int left = (int)((end - kit_now_s()) * 1000);
	ck_assert_msg(left > 0 && poll(&pfd, 1, left) > 0, "no event in time; so far:\n%s", s->buf);
	ssize_t r = read(s->events, s->buf + s->len, sizeof s->buf - s->len - 1);
	if (r <= 0)
		return 0;
	s->len += (size_t)r;
	s->buf[s->len] = '\0';
	return 1;
}

/* The next event line (after the last one returned) starting with
 * `prefix`; fails the test after the deadline. Lines are kept in s->lines. */
static const char *sup_wait(struct sup *s, const char *prefix)
{
	double end = kit_now_s() + DEADLINE_S;
	for (;;) {
		/* Split complete lines not yet split. */
		size_t done = 0;
		for (int i = 0; i < s->nlines; i++)
			done += strlen(s->lines[i]) + 1;
		char *nl;
		while ((nl = strchr(s->buf + done, '\n')) && s->nlines < 1024) {
			s->lines[s->nlines] = strndup(s->buf + done, (size_t)(nl - (s->buf + done)));
			done += strlen(s->lines[s->nlines++]) + 1;
		}
		while (s->cursor < s->nlines)
			if (!strncmp(s->lines[s->cursor++], prefix, strlen(prefix)))
				return s->lines[s->cursor - 1];
		ck_assert_msg(sup_read(s, end), "minisup ended before '%s'; events:\n%s", prefix, s->buf);
	}
}

static void sup_send(struct sup *s, const char *cmd)
{
	ck_assert_int_eq(write(s->ctl, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
}

static void sup_quit(struct sup *s)
{
	sup_send(s, "quit\n");
	sup_wait(s, "bye");
	close(s->ctl);
	int st = -1;
	int rc = nf_proc_wait(&s->proc, &st, (int)(DEADLINE_S * 1000));
	if (rc == ETIMEDOUT) {
		nf_proc_kill(&s->proc, SIGKILL);
		nf_proc_wait(&s->proc, &st, -1);
	}
	nf_proc_release(&s->proc);
	close(s->events);
	for (int i = 0; i < s->nlines; i++)
		free(s->lines[i]);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "minisup ended 0x%x", st);
}

/* The "@MS" time stamp of an event line. */
static long long stamp(const char *line)
{
	const char *at = strrchr(line, '@');
	ck_assert_ptr_nonnull(at);
	return atoll(at + 1);
}

/* Wait until `path` holds `n` lines of pids (a service writes them). */
static int read_pids(const char *path, pid_t *pids, int n)
{
	double end = kit_now_s() + DEADLINE_S;
	for (;;) {
		FILE *f = fopen(path, "re");
		int got = 0;
		if (f) {
			while (got < n && fscanf(f, "%d", &pids[got]) == 1)
				got++;
			fclose(f);
		}
		if (got == n)
			return n;
		ck_assert_msg(kit_now_s() < end, "%s never got %d pids", path, n);
		usleep(1000);
	}
}

static int alive(pid_t pid)
{
	return kill(pid, 0) == 0;
}

START_TEST(restarts_with_doubling_backoff_and_no_allocation)
{
	struct sup s;
	sup_start(&s, "fail restarts=3 backoff=20 -- sh -c 'exit 3'\n");
	const char *starts[4], *exits[4], *backoffs[3];
	long mem[4];
	for (int k = 0; k < 4; k++) {
		starts[k] = sup_wait(&s, "start fail ");
		int n = 0;
		ck_assert_int_eq(sscanf(starts[k], "start fail %*d %d", &n), 1);
		ck_assert_int_eq(n, k + 1);
		const char *m = sup_wait(&s, "mem fail ");
		ck_assert_int_eq(sscanf(m, "mem fail %*d %ld", &mem[k]), 1);
		exits[k] = sup_wait(&s, "exit fail ");
		ck_assert_msg(strstr(exits[k], " code=3 ") != NULL, "%s", exits[k]);
		if (k < 3)
			backoffs[k] = sup_wait(&s, "backoff fail ");
	}
	sup_wait(&s, "gaveup fail");
	for (int k = 0; k < 3; k++) {
		int ms = 0;
		ck_assert_int_eq(sscanf(backoffs[k], "backoff fail %d", &ms), 1);
		ck_assert_int_eq(ms, 20 << k);
		/* A lower bound only: the restart came no earlier than asked. */
		ck_assert_int_ge(stamp(starts[k + 1]) - stamp(exits[k]), ms);
	}
	/* The plan is compiled at the first start; restarts reuse it. */
	ck_assert_int_eq(mem[1], mem[2]);
	ck_assert_int_eq(mem[2], mem[3]);
	sup_send(&s, "status\n");
	ck_assert_str_eq(strtok((char *)sup_wait(&s, "status fail "), "@"), "status fail gaveup 4 ");
	sup_quit(&s);
}
END_TEST

START_TEST(timeout_kills_service)
{
	struct sup s;
	char *conf = NULL;
	ck_assert_int_ge(asprintf(&conf, "slow restarts=0 timeout=100 -- %s sleep 100000\n", probe_path()), 0);
	sup_start(&s, conf);
	const char *st = sup_wait(&s, "start slow ");
	pid_t pid = 0;
	ck_assert_int_eq(sscanf(st, "start slow %d", &pid), 1);
	const char *to = sup_wait(&s, "timeout slow ");
	ck_assert_int_ge(stamp(to) - stamp(st), 100);
	const char *ex = sup_wait(&s, "exit slow ");
	ck_assert_msg(strstr(ex, " signal=9 ") != NULL, "%s", ex);
	sup_wait(&s, "gaveup slow");
	ck_assert(!alive(pid));
	sup_quit(&s);
	free(conf);
}
END_TEST

/* A service whose shell has two grandchildren in its group: stop kills
 * and reaps all three; "start" brings it back from the same cmd. */
START_TEST(stop_kills_whole_group)
{
	struct sup s;
	sup_start(&s, "tree -- sh -c 'sleep 1000 & echo $! > pids; sleep 1000 & echo $! >> pids; wait'\n");
	const char *st = sup_wait(&s, "start tree ");
	pid_t pgid = 0, kids[2];
	ck_assert_int_eq(sscanf(st, "start tree %d", &pgid), 1);
	char *pids = NULL;
	ck_assert_int_ge(asprintf(&pids, "%s/pids", kit_tmpdir()), 0);
	read_pids(pids, kids, 2);
	ck_assert_int_eq(getpgid(kids[0]), pgid);
	ck_assert_int_eq(getpgid(kids[1]), pgid);
	ck_assert_int_ne(pgid, getpgrp());

	sup_send(&s, "stop tree\n");
	sup_wait(&s, "stopped tree");
	ck_assert_int_eq(kill(-pgid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert(!alive(kids[0]) && !alive(kids[1]));

	unlink(pids);
	sup_send(&s, "start tree\n");
	st = sup_wait(&s, "start tree ");
	int n = 0;
	ck_assert_int_eq(sscanf(st, "start tree %d %d", &pgid, &n), 2);
	ck_assert_int_eq(n, 2);
	read_pids(pids, kids, 2);
	sup_quit(&s); /* quitting stops it the same way */
	ck_assert_int_eq(kill(-pgid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	free(pids);
}
END_TEST

/* When the main process ends by itself, what it left in its group is
 * killed too, so restarts do not pile up strays. */
START_TEST(main_exit_kills_leftovers)
{
	struct sup s;
	sup_start(&s, "leak restarts=0 -- sh -c 'sleep 1000 & echo $! > left; exit 0'\n");
	sup_wait(&s, "start leak ");
	char *left = NULL;
	ck_assert_int_ge(asprintf(&left, "%s/left", kit_tmpdir()), 0);
	pid_t kid;
	read_pids(left, &kid, 1);
	const char *ex = sup_wait(&s, "exit leak ");
	ck_assert_msg(strstr(ex, " code=0 ") != NULL, "%s", ex);
	sup_wait(&s, "gaveup leak");
	ck_assert(!alive(kid));
	sup_quit(&s);
	free(left);
}
END_TEST

/* A member that left the process group (setsid) escapes kill(-pgid); the
 * service's cgroup still holds it, and cgroup.kill ends it. */
START_TEST(cgroup_stop_catches_setsid_member)
{
	struct sup s;
	sup_start(&s, "cg cgroup=1 -- sh -c 'setsid sleep 1000 & echo $! > escaped; wait'\n");
	const char *st = sup_wait(&s, "start cg ");
	pid_t pgid = 0, esc;
	ck_assert_int_eq(sscanf(st, "start cg %d", &pgid), 1);
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/escaped", kit_tmpdir()), 0);
	read_pids(path, &esc, 1);
	double end = kit_now_s() + DEADLINE_S; /* setsid runs after the shell wrote $! */
	while (getsid(esc) != esc) {
		ck_assert_msg(kit_now_s() < end, "the member never left the session");
		usleep(1000);
	}
	ck_assert_int_ne(getpgid(esc), pgid);

	sup_send(&s, "stop cg\n");
	sup_wait(&s, "stopped cg");
	ck_assert_msg(!alive(esc), "the escaped member %d survived the stop", (int)esc);
	ck_assert_int_eq(kill(-pgid, 0), -1);
	sup_quit(&s);
	free(path);
}
END_TEST

START_TEST(limits_umask_and_ids_applied)
{
	struct sup s;
	char *conf = NULL;
	ck_assert_int_ge(asprintf(&conf,
				  "cred restarts=0 umask=027 nofile=64:128 core=0:0 uid=65534 gid=65534 out=report -- %s\n",
				  kit_public_probe()),
			 0);
	sup_start(&s, conf);
	const char *ex = sup_wait(&s, "exit cred ");
	ck_assert_msg(strstr(ex, " code=0 ") != NULL, "%s", ex);
	sup_quit(&s);
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/report", kit_tmpdir()), 0);
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	char text[65536];
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	static const char *const want[] = { "\numask 027\n", "\nuid 65534 65534 65534\n", "\ngid 65534 65534 65534\n",
					    "\nrlimit NOFILE 64 128\n", "\nrlimit CORE 0 0\n", "\ngroups 65534\n",
					    "\npdeathsig 9\n" /* kept though the ids changed */ };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_msg(strstr(text, want[i]) != NULL, "report lacks '%s':\n%s", want[i] + 1, text);
	free(path);
	free(conf);
}
END_TEST

/* Several services at once, each on its own schedule. */
START_TEST(several_services_independent)
{
	struct sup s;
	char *conf = NULL;
	ck_assert_int_ge(asprintf(&conf,
				  "a restarts=2 backoff=10 -- %s exit 1\n"
				  "b -- %s sleep 100000\n"
				  "c restarts=1 backoff=10 -- %s exit 2\n",
				  probe_path(), probe_path(), probe_path()),
			 0);
	sup_start(&s, conf);
	sup_wait(&s, "gaveup a");
	s.cursor = 0;
	sup_wait(&s, "gaveup c");
	sup_send(&s, "status\n");
	ck_assert_str_eq(strtok((char *)sup_wait(&s, "status a "), "@"), "status a gaveup 3 ");
	ck_assert_str_eq(strtok((char *)sup_wait(&s, "status b "), "@"), "status b running 1 ");
	ck_assert_str_eq(strtok((char *)sup_wait(&s, "status c "), "@"), "status c gaveup 2 ");
	sup_quit(&s);
	free(conf);
}
END_TEST

/* minisup killed outright: its services' main processes die with it
 * (PR_SET_PDEATHSIG), and they ignore no SIGPIPE although minisup does. We
 * are a subreaper here, so the orphan comes to us and we see its end. */
START_TEST(services_die_with_supervisor)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	struct sup s;
	char *conf = NULL;
	ck_assert_int_ge(asprintf(&conf, "svc -- %s sleep 100000\n", probe_path()), 0);
	sup_start(&s, conf);
	pid_t pid = 0;
	ck_assert_int_eq(sscanf(sup_wait(&s, "start svc "), "start svc %d", &pid), 1);
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	unsigned long long ign = ~0ull;
	while (fgets(line, sizeof line, f))
		sscanf(line, "SigIgn: %llx", &ign);
	fclose(f);
	ck_assert_uint_eq(ign & KIT_SIGBIT(SIGPIPE), 0);

	ck_assert_int_eq(nf_proc_kill(&s.proc, SIGKILL), 0);
	int st;
	ck_assert_int_eq(nf_proc_wait(&s.proc, &st, -1), 0);
	nf_proc_release(&s.proc);
	st = kit_wait_status(pid); /* reparented to us */
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "service ended 0x%x", st);
	close(s.ctl);
	close(s.events);
	for (int i = 0; i < s.nlines; i++)
		free(s.lines[i]);
	free(conf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("minisup");
	TCase *tc = kit_tcase("minisup", 60);
	tcase_add_test(tc, restarts_with_doubling_backoff_and_no_allocation);
	tcase_add_test(tc, timeout_kills_service);
	tcase_add_test(tc, stop_kills_whole_group);
	tcase_add_test(tc, main_exit_kills_leftovers);
	tcase_add_test(tc, cgroup_stop_catches_setsid_member);
	tcase_add_test(tc, limits_umask_and_ids_applied);
	tcase_add_test(tc, several_services_independent);
	tcase_add_test(tc, services_die_with_supervisor);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
