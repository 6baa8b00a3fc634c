/* The mini shell (tests/progs/minish), a job-control shell built only on
 * nofork, driven two ways:
 * - scripts on a pipe (no terminal, no job control): pipelines and
 *   redirections, output compared exactly;
 * - interactively through a pseudo-terminal, the shell spawned by nofork as
 *   the session leader of the pty (nf_cmd_ctty): process groups per
 *   pipeline, the terminal handed to foreground jobs, ^Z / jobs / bg / fg,
 *   SIGTTIN stopping a background reader, and the shell back in the
 *   foreground after every job (read from /proc/<shell>/stat, tpgid).
 * Every read has a deadline; nothing sleeps to synchronise except bounded
 * polls of /proc for a state the test is waiting for. */
#include "kit.h"

#include <poll.h>
#include <stdlib.h>
#include <termios.h>

#ifndef MINISH_PATH
#define MINISH_PATH "tests/progs/minish"
#endif

#define DEADLINE_S 15.0

static nf_cmd *minish_cmd(void)
{
	char *argv[] = { "minish", NULL };
	nf_cmd *cmd = NULL;
	ck_assert_int_eq(nf_cmd_new(&cmd, MINISH_PATH, argv, NULL), 0);
	ck_assert_int_eq(nf_cmd_chdir(cmd, kit_tmpdir()), 0);
	return cmd;
}

/* Wait for p with a deadline; kill it if it overstays. Returns the status. */
static int wait_bounded(nf_proc *p)
{
	int st = -1;
	int rc = nf_proc_wait(p, &st, (int)(DEADLINE_S * 1000));
	if (rc == ETIMEDOUT) {
		nf_proc_kill(p, SIGKILL);
		nf_proc_wait(p, &st, -1);
	}
	nf_proc_release(p);
	ck_assert_msg(rc == 0, "minish did not finish: %s", strerror(rc));
	return st;
}

/* ---- scripts ---------------------------------------------------------------- */

/* Run `script` through minish's stdin; return everything it wrote to
 * stdout and stderr (malloc'd). */
static char *run_script(const char *script)
{
	int in[2], out[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	nf_cmd *cmd = minish_cmd();
	ck_assert_int_eq(nf_cmd_dup2(cmd, in[0], 0), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, out[1], 1), 0);
	ck_assert_int_eq(nf_cmd_dup2(cmd, out[1], 2), 0);
	nf_proc p;
	ck_assert_int_eq(nf_spawn(cmd, &p, NULL), 0);
	nf_cmd_free(cmd);
	close(in[0]);
	close(out[1]);
	size_t len = strlen(script); /* small: fits the pipe */
	ck_assert_int_eq(write(in[1], script, len), (ssize_t)len);
	close(in[1]);

	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	double end = kit_now_s() + DEADLINE_S;
	for (;;) {
		struct pollfd pfd = { out[0], POLLIN, 0 };
		int left = (int)((end - kit_now_s()) * 1000);
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			break;
		ssize_t r = read(out[0], buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(out[0]);
	int st = wait_bounded(&p);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "minish ended 0x%x; output:\n%s", st, buf);
	return buf;
}

static void script_is(const char *script, const char *want)
{
	char *got = run_script(script);
	ck_assert_msg(!strcmp(got, want), "script:\n%s\ngot:\n%s\nwanted:\n%s", script, got, want);
	free(got);
}

START_TEST(pipeline_into_file_then_redirected_input)
{
	script_is("printf 'a\\nb\\n' | sort -r > f\n"
		  "cat < f\n",
		  "b\na\n");
}
END_TEST

START_TEST(append_redirection)
{
	script_is("printf 'a\\nb\\n' | sort -r > f\n"
		  "echo x >> f\n"
		  "cat f\n"
		  "echo y > f\n"
		  "cat f\n",
		  "b\na\nx\ny\n");
}
END_TEST

START_TEST(stderr_into_pipe)
{
	script_is("sh -c 'echo e >&2' 2>&1 | cat\n"
		  "sh -c 'echo hidden >&2' 2> err\n"
		  "cat err\n",
		  "e\nhidden\n");
}
END_TEST

START_TEST(three_stage_pipeline)
{
	script_is("printf '3\\n1\\n2\\n' | sort | head -n 2\n"
		  "echo \"quoted  words\" 'and | pipes' | cat | cat\n",
		  "1\n2\nquoted  words and | pipes\n");
}
END_TEST

/* A stage that cannot start is reported with nofork's error record, named
 * by nf_pipeline_spawn's err.stage, and none of the pipeline runs (all
 * stages or none, unlike sh); the shell goes on. */
START_TEST(failed_stage_reported)
{
	script_is("echo first | nosuchcmd-minish | echo after\necho next\n",
		  "minish: nosuchcmd-minish: execve /bin/nosuchcmd-minish: No such file or directory\nnext\n");
}
END_TEST

START_TEST(open_failure_reported)
{
	script_is("cat < /nonexistent/in\n",
		  "minish: cat: open /nonexistent/in as fd 0: No such file or directory\n");
}
END_TEST

/* ---- the shell on a terminal ------------------------------------------------------ */

struct shell {
	int master;
	nf_proc proc;
	char buf[65536];
	size_t len;
	char out[65536]; /* what expect() returned last */
};

static void shell_start(struct shell *sh)
{
	memset(sh, 0, sizeof *sh);
	sh->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(sh->master, 0);
	ck_assert_int_eq(grantpt(sh->master), 0);
	ck_assert_int_eq(unlockpt(sh->master), 0);
	int slave = open(ptsname(sh->master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(slave, 0);
	/* No echo and no \n -> \r\n, so the output is exactly what was
	 * written; canonical mode and signal keys (^C ^Z ^D) stay on. */
	struct termios t;
	ck_assert_int_eq(tcgetattr(slave, &t), 0);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	t.c_lflag |= ICANON | ISIG;
	t.c_oflag &= ~(tcflag_t)OPOST;
	ck_assert_int_eq(tcsetattr(slave, TCSANOW, &t), 0);

	nf_cmd *cmd = minish_cmd();
	ck_assert_int_eq(nf_cmd_ctty(cmd, slave), 0);
	for (int fd = 0; fd < 3; fd++)
		ck_assert_int_eq(nf_cmd_dup2(cmd, slave, fd), 0);
	nf_error err;
	char msg[4200];
	int rc = nf_spawn(cmd, &sh->proc, &err);
	ck_assert_msg(rc == 0, "spawn minish: %s", nf_error_format(&err, msg, sizeof msg));
	nf_cmd_free(cmd);
	close(slave);
}

static void send_str(struct shell *sh, const char *s)
{
	ck_assert_int_eq(write(sh->master, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read until the output contains `pat`; return what came before it (in
 * sh->out) and drop it and the pattern from the buffer. */
static const char *expect(struct shell *sh, const char *pat)
{
	double end = kit_now_s() + DEADLINE_S;
	char *hit;
	sh->buf[sh->len] = '\0';
	while (!(hit = strstr(sh->buf, pat))) {
		struct pollfd pfd = { sh->master, POLLIN, 0 };
		int left = (int)((end - kit_now_s()) * 1000);
		ck_assert_msg(left > 0 && poll(&pfd, 1, left) > 0, "timed out waiting for '%s'; got:\n%s", pat, sh->buf);
		ssize_t r = read(sh->master, sh->buf + sh->len, sizeof sh->buf - sh->len - 1);
		ck_assert_msg(r > 0, "terminal closed waiting for '%s'; got:\n%s", pat, sh->buf);
		sh->len += (size_t)r;
		sh->buf[sh->len] = '\0';
	}
	size_t before = (size_t)(hit - sh->buf), used = before + strlen(pat);
	memcpy(sh->out, sh->buf, before);
	sh->out[before] = '\0';
	memmove(sh->buf, sh->buf + used, sh->len - used + 1);
	sh->len -= used;
	return sh->out;
}

/* Send a command line and return its output up to the next prompt. */
static const char *run(struct shell *sh, const char *line)
{
	send_str(sh, line);
	return expect(sh, "$ ");
}

static int tpgid_of(pid_t pid)
{
	struct kit_pstat ps;
	ck_assert(kit_read_pstat(pid, &ps));
	return ps.tpgid;
}

/* Poll until the terminal's foreground group differs from `not`. */
static int wait_foreground_change(struct shell *sh, int not)
{
	int t;
	double end = kit_now_s() + DEADLINE_S;
	while ((t = tpgid_of(sh->proc.pid)) == not) {
		ck_assert_msg(kit_now_s() < end, "the terminal never left group %d", not);
		usleep(1000);
	}
	return t;
}

/* Poll until pid is in `state` ('T' stopped, 'S'/'R' running). */
static void wait_state(pid_t pid, const char *states)
{
	struct kit_pstat ps = { 0 };
	double end = kit_now_s() + DEADLINE_S;
	while (!kit_read_pstat(pid, &ps) || !strchr(states, ps.state)) {
		ck_assert_msg(kit_now_s() < end, "process %d stays in state '%c', want one of %s", (int)pid, ps.state, states);
		usleep(1000);
	}
}

static void assert_shell_foreground(struct shell *sh)
{
	ck_assert_int_eq(tpgid_of(sh->proc.pid), sh->proc.pid);
	char want[64];
	snprintf(want, sizeof want, "fg=%d me=%d\n", (int)sh->proc.pid, (int)sh->proc.pid);
	ck_assert_str_eq(run(sh, "tty\n"), want);
}

static void shell_exit(struct shell *sh)
{
	send_str(sh, "exit\n");
	int st = wait_bounded(&sh->proc);
	close(sh->master);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "minish ended 0x%x", st);
}

START_TEST(interactive_redirections_and_foreground_back)
{
	struct shell sh;
	shell_start(&sh);
	expect(&sh, "$ ");
	assert_shell_foreground(&sh);
	ck_assert_str_eq(run(&sh, "printf 'a\\nb\\n' | sort -r > f\n"), "");
	assert_shell_foreground(&sh);
	ck_assert_str_eq(run(&sh, "cat < f\n"), "b\na\n");
	ck_assert_str_eq(run(&sh, "echo x >> f\n"), "");
	ck_assert_str_eq(run(&sh, "cat f\n"), "b\na\nx\n");
	ck_assert_str_eq(run(&sh, "sh -c 'echo e >&2' 2>&1 | cat\n"), "e\n");
	assert_shell_foreground(&sh);
	/* A foreground job runs in its own group with the terminal: ps-like
	 * facts as the job sees them. */
	char *line = NULL;
	ck_assert_int_ge(asprintf(&line, "sh -c 'cut -d\" \" -f5,8 /proc/$$/stat'\n"), 0);
	const char *out = run(&sh, line);
	int pgid = 0, tpgid = 0;
	ck_assert_msg(sscanf(out, "%d %d", &pgid, &tpgid) == 2, "got '%s'", out);
	ck_assert_int_ne(pgid, sh.proc.pid);
	ck_assert_int_eq(tpgid, pgid);
	free(line);
	assert_shell_foreground(&sh);
	shell_exit(&sh);
}
END_TEST

START_TEST(ctrl_z_jobs_bg_fg)
{
	struct shell sh;
	shell_start(&sh);
	expect(&sh, "$ ");
	send_str(&sh, "sleep 100\n");
	int job = wait_foreground_change(&sh, sh.proc.pid);
	struct kit_pstat ps;
	ck_assert(kit_read_pstat(job, &ps));
	ck_assert_int_eq(ps.pgid, job); /* the job leads its own group */
	ck_assert_int_eq(ps.sid, sh.proc.pid);

	send_str(&sh, "\x1a"); /* ^Z */
	ck_assert_str_eq(expect(&sh, "$ "), "\n[1] Stopped sleep 100\n");
	wait_state(job, "T");
	assert_shell_foreground(&sh);
	ck_assert_str_eq(run(&sh, "jobs\n"), "[1] Stopped sleep 100\n");

	ck_assert_str_eq(run(&sh, "bg\n"), "[1] sleep 100 &\n");
	wait_state(job, "SR");
	ck_assert_str_eq(run(&sh, "jobs\n"), "[1] Running sleep 100\n");
	assert_shell_foreground(&sh);

	send_str(&sh, "fg %1\n");
	expect(&sh, "sleep 100\n");
	ck_assert_int_eq(wait_foreground_change(&sh, sh.proc.pid), job);
	send_str(&sh, "\x03"); /* ^C: to the job, not the shell */
	ck_assert_str_eq(expect(&sh, "$ "), "");
	assert_shell_foreground(&sh);
	ck_assert_int_eq(kill(job, 0), -1); /* dead and reaped by the shell */
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_str_eq(run(&sh, "jobs\n"), "");
	shell_exit(&sh);
}
END_TEST

/* Each pipeline is one process group, background ones keep away from the
 * terminal, a stopped pipeline stops as a whole, and nothing outlives the
 * shell's exit. */
START_TEST(pipelines_are_groups_and_die_with_shell)
{
	struct shell sh;
	shell_start(&sh);
	expect(&sh, "$ ");
	const char *out = run(&sh, "sleep 100 | sleep 100 &\n");
	int id = 0, bg = 0;
	ck_assert_msg(sscanf(out, "[%d] %d", &id, &bg) == 2, "got '%s'", out);
	ck_assert_int_eq(id, 1);
	pid_t m[8];
	ck_assert_int_eq(kit_find_procs(-1, bg, m, 8), 2);
	for (int i = 0; i < 2; i++) {
		struct kit_pstat ps;
		ck_assert(kit_read_pstat(m[i], &ps));
		ck_assert_int_eq(ps.sid, sh.proc.pid);
	}
	assert_shell_foreground(&sh);

	send_str(&sh, "cat | cat\n");
	int fg = wait_foreground_change(&sh, sh.proc.pid);
	ck_assert_int_ne(fg, bg);
	/* The terminal is handed over by the first stage: wait for the whole
	 * pipeline before typing ^Z (the shell copes either way). */
	double end = kit_now_s() + DEADLINE_S;
	while (kit_find_procs(-1, fg, m, 8) < 2) {
		ck_assert_msg(kit_now_s() < end, "the second stage never joined group %d", fg);
		usleep(1000);
	}
	send_str(&sh, "\x1a");
	ck_assert_str_eq(expect(&sh, "$ "), "\n[2] Stopped cat | cat\n");
	ck_assert_int_eq(kit_find_procs(-1, fg, m, 8), 2);
	wait_state(m[0], "T");
	wait_state(m[1], "T");
	ck_assert_str_eq(run(&sh, "jobs\n"), "[1] Running sleep 100 | sleep 100\n[2] Stopped cat | cat\n");
	assert_shell_foreground(&sh);
	shell_exit(&sh);
	ck_assert_int_eq(kill(-bg, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(kill(-fg, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
}
END_TEST

/* A background job reading the terminal stops with SIGTTIN; that needs
 * the child's SIGTTIN reset to default (the shell ignores it, and an
 * ignored signal would make the read fail with EIO instead). fg gives it
 * the terminal, and it reads what we type. */
START_TEST(background_reader_stops_then_reads_in_foreground)
{
	struct shell sh;
	shell_start(&sh);
	expect(&sh, "$ ");
	const char *out = run(&sh, "cat &\n");
	int id = 0, job = 0;
	ck_assert_msg(sscanf(out, "[%d] %d", &id, &job) == 2, "got '%s'", out);
	wait_state(job, "T");
	ck_assert_str_eq(run(&sh, "jobs\n"), "[1] Stopped cat\n");
	send_str(&sh, "fg\n");
	expect(&sh, "cat\n");
	ck_assert_int_eq(wait_foreground_change(&sh, sh.proc.pid), job);
	send_str(&sh, "hello\n");
	expect(&sh, "hello\n");
	send_str(&sh, "\x04"); /* ^D: end of input for cat */
	ck_assert_str_eq(expect(&sh, "$ "), "");
	assert_shell_foreground(&sh);
	ck_assert_str_eq(run(&sh, "jobs\n"), "");
	shell_exit(&sh);
}
END_TEST

/* How many pidfds process pid holds open. */
static int pidfds_of(pid_t pid)
{
	char dir[64], link[384], target[256];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
		ssize_t len = readlink(link, target, sizeof target - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strcmp(target, "anon_inode:[pidfd]") == 0;
		}
	}
	closedir(d);
	return n;
}

/* The shell waits through its jobs' pidfds (nf_proc_waitid, stops
 * included), one per process, each released once the process is reaped. */
START_TEST(jobs_are_held_by_pidfds)
{
	struct shell sh;
	shell_start(&sh);
	expect(&sh, "$ ");
	ck_assert_int_eq(pidfds_of(sh.proc.pid), 0);
	int id = 0, bg = 0;
	ck_assert_int_eq(sscanf(run(&sh, "sleep 100 | sleep 100 &\n"), "[%d] %d", &id, &bg), 2);
	ck_assert_int_eq(pidfds_of(sh.proc.pid), 2);
	send_str(&sh, "sleep 100\n");
	int fg = wait_foreground_change(&sh, sh.proc.pid);
	send_str(&sh, "\x1a");
	ck_assert_str_eq(expect(&sh, "$ "), "\n[2] Stopped sleep 100\n");
	ck_assert_int_eq(pidfds_of(sh.proc.pid), 3);
	ck_assert_int_eq(kill(-bg, SIGKILL), 0);
	ck_assert_int_eq(kill(-fg, SIGKILL), 0);
	double end = kit_now_s() + DEADLINE_S;
	pid_t m[4];
	while (kit_find_procs(-1, bg, m, 4) || kit_find_procs(-1, fg, m, 4)) { /* zombies now */
		ck_assert_msg(kit_now_s() < end, "the jobs never died");
		usleep(1000);
	}
	ck_assert_str_eq(run(&sh, "jobs\n"), "[1] Done sleep 100 | sleep 100\n[2] Done sleep 100\n");
	ck_assert_int_eq(pidfds_of(sh.proc.pid), 0);
	shell_exit(&sh);
}
END_TEST

/* The terminal goes away (its master is closed): the shell's read ends,
 * and it kills its jobs before leaving, running ones included. */
START_TEST(hangup_ends_shell_and_jobs)
{
	struct shell sh;
	shell_start(&sh);
	expect(&sh, "$ ");
	int id = 0, bg = 0;
	ck_assert_int_eq(sscanf(run(&sh, "sleep 100 &\n"), "[%d] %d", &id, &bg), 2);
	ck_assert_int_eq(kill(-bg, 0), 0);
	close(sh.master);
	int st = wait_bounded(&sh.proc);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "minish ended 0x%x", st);
	ck_assert_int_eq(kill(-bg, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("minish");
	TCase *tc = kit_tcase("scripts", 60);
	tcase_add_test(tc, pipeline_into_file_then_redirected_input);
	tcase_add_test(tc, append_redirection);
	tcase_add_test(tc, stderr_into_pipe);
	tcase_add_test(tc, three_stage_pipeline);
	tcase_add_test(tc, failed_stage_reported);
	tcase_add_test(tc, open_failure_reported);
	suite_add_tcase(s, tc);
	tc = kit_tcase("terminal", 60);
	tcase_add_test(tc, interactive_redirections_and_foreground_back);
	tcase_add_test(tc, ctrl_z_jobs_bg_fg);
	tcase_add_test(tc, pipelines_are_groups_and_die_with_shell);
	tcase_add_test(tc, background_reader_stops_then_reads_in_foreground);
	tcase_add_test(tc, hangup_ends_shell_and_jobs);
	tcase_add_test(tc, jobs_are_held_by_pidfds);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
