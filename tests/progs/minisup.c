/* minisup: a small process supervisor on nofork.
 *
 *   minisup CONFIG
 *
 * CONFIG has one service per line ('#' starts a comment):
 *   NAME [key=value...] -- PROGRAM [ARG...]
 * words split at blanks; '...' quotes. Keys:
 *   restarts=N    restart at most N times (default: forever)
 *   backoff=MS    delay before a restart, doubled per consecutive failure
 *                 (capped at 32x); reset once a run lasted a second (default 100)
 *   timeout=MS    kill the service (its whole group) after MS of running
 *   umask=OOO  nofile=CUR:MAX  core=CUR:MAX  uid=N   set in the child
 *   gid=N         gid and the only supplementary group
 *   out=PATH      stdout and stderr appended to PATH
 *   cgroup=1      run in a cgroup v2 directory of its own, stopped by cgroup.kill
 *
 * Each service is compiled into an nf_cmd once; every (re)start spawns that
 * same cmd, so a restart allocates nothing (the "mem" event shows malloc's
 * in-use bytes after each start). Each service runs in a process group of
 * its own (nf_cmd_setpgid); stopping it or the end of its main process
 * kills the whole group (kill(-pgid)) or cgroup. minisup is a child
 * subreaper, so the group's orphans become its children and are reaped too:
 * once "stopped" is printed, nothing of the service is left. Each main
 * process has PR_SET_PDEATHSIG SIGKILL: if minisup itself is killed, its
 * services' main processes go with it.
 *
 * Waiting: one poll over stdin and every running service's pidfd, with the
 * nearest restart or timeout deadline as the poll timeout; a readable pidfd
 * is reaped with nf_proc_wait. No SIGCHLD handler, so no races with it. (The
 * M:N runtime, with one coroutine per service parked in nf_proc_wait, is not
 * on main yet; this loop is its single-threaded equivalent.)
 *
 * Commands on stdin: "stop NAME", "start NAME", "status", "quit".
 * Events on stdout, one per line, each ending in "@MS" (monotonic ms):
 *   start NAME PID N | exit NAME PID code=C|signal=S | timeout NAME PID |
 *   backoff NAME MS | gaveup NAME | stopped NAME | spawnfail NAME ERROR |
 *   mem NAME N BYTES | status NAME STATE N | error MESSAGE | bye */
#include "nofork.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SVC 16
#define MAX_ARGS 32

enum state { S_BACKOFF, S_RUNNING, S_STOPPED, S_GAVEUP };
static const char *const state_names[] = { "backoff", "running", "stopped", "gaveup" };

struct service {
	char name[64];
	nf_cmd *cmd;
	int max_restarts; /* -1: forever */
	int backoff_ms, timeout_ms;
	int cgroup_fd;
	char cgroup_path[256];
	enum state state;
	nf_proc proc;
	int starts, failures, timed_out;
	long long started_at, due; /* due: restart time (S_BACKOFF) */
};

static struct service svcs[MAX_SVC];
static int nsvc;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void event(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" @%lld\n", now_ms());
	fflush(stdout);
}

/* ---- configuration ----------------------------------------------------------- */

/* Split s in place into words ('...' quotes); returns the count. */
static int split(char *s, char **words, int max)
{
	int n = 0;
	char *w = s;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s || *s == '#')
			break;
		if (n == max)
			return -1;
		words[n++] = w;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
			if (*s == '\'') {
				char *e = strchr(s + 1, '\'');
				if (!e)
					return -1;
				memmove(w, s + 1, (size_t)(e - s - 1));
				w += e - s - 1;
				s = e + 1;
			} else {
				*w++ = *s++;
			}
		}
		if (*s)
			s++;
		*w++ = '\0';
	}
	return n;
}

static int parse_limit(nf_cmd *cmd, int resource, const char *v)
{
	struct rlimit rl;
	char *end;
	rl.rlim_cur = strtoull(v, &end, 10);
	if (*end != ':')
		return EINVAL;
	rl.rlim_max = strtoull(end + 1, &end, 10);
	return *end ? EINVAL : nf_cmd_rlimit(cmd, resource, &rl);
}

static int make_cgroup(struct service *s)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
		char procs[300];
		snprintf(procs, sizeof procs, "%s/cgroup.procs", roots[i]);
		if (access(procs, F_OK) != 0)
			continue;
		char path[sizeof s->cgroup_path];
		snprintf(path, sizeof path, "%s/minisup-%d-%s", roots[i], (int)getpid(), s->name);
		memcpy(s->cgroup_path, path, sizeof path);
		if (mkdir(s->cgroup_path, 0755) != 0)
			return errno;
		s->cgroup_fd = open(s->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return s->cgroup_fd < 0 ? errno : nf_cmd_cgroup(s->cmd, s->cgroup_fd);
	}
	return ENOENT;
}

/* One config line into a service; returns 0 or an errno. */
static int configure(struct service *s, char *line)
{
	char *w[MAX_ARGS + 16];
	int n = split(line, w, (int)(sizeof w / sizeof w[0]) - 1);
	if (n <= 0)
		return n == 0 ? -1 : EINVAL; /* -1: blank line */
	int dash = 1;
	while (dash < n && strcmp(w[dash], "--"))
		dash++;
	if (dash + 1 >= n)
		return EINVAL;
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", w[0]);
	s->max_restarts = -1;
	s->backoff_ms = 100;
	s->cgroup_fd = -1;
	s->state = S_BACKOFF;
	w[n] = NULL;
	int e = nf_cmd_newp(&s->cmd, w[dash + 1], &w[dash + 1], NULL);
	if (!e)
		e = nf_cmd_setpgid(s->cmd, 0);
	/* If minisup dies, so does each main process (set after the ids
	 * change, which would clear it; and never set at all if minisup is
	 * already gone by then). */
	if (!e)
		e = nf_cmd_pdeathsig(s->cmd, SIGKILL);
	/* We ignore SIGPIPE (a closed event pipe must not kill us); services
	 * must not inherit that. */
	sigset_t pipe_sig;
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	if (!e)
		e = nf_cmd_sigdefault(s->cmd, &pipe_sig);
	for (int i = 1; !e && i < dash; i++) {
		char *v = strchr(w[i], '=');
		if (!v)
			return EINVAL;
		*v++ = '\0';
		if (!strcmp(w[i], "restarts"))
			s->max_restarts = atoi(v);
		else if (!strcmp(w[i], "backoff"))
			s->backoff_ms = atoi(v);
		else if (!strcmp(w[i], "timeout"))
			s->timeout_ms = atoi(v);
		else if (!strcmp(w[i], "umask"))
			e = nf_cmd_umask(s->cmd, (mode_t)strtoul(v, NULL, 8));
		else if (!strcmp(w[i], "nofile"))
			e = parse_limit(s->cmd, RLIMIT_NOFILE, v);
		else if (!strcmp(w[i], "core"))
			e = parse_limit(s->cmd, RLIMIT_CORE, v);
		else if (!strcmp(w[i], "uid"))
			e = nf_cmd_setuid(s->cmd, (uid_t)atol(v));
		else if (!strcmp(w[i], "gid")) {
			/* Only that group: root's supplementary groups must not
			 * ride along into an unprivileged service. */
			gid_t gid = (gid_t)atol(v);
			e = nf_cmd_setgid(s->cmd, gid);
			if (!e)
				e = nf_cmd_setgroups(s->cmd, 1, &gid);
		}
		else if (!strcmp(w[i], "out")) {
			e = nf_cmd_open(s->cmd, 1, v, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (!e)
				e = nf_cmd_dup2(s->cmd, 1, 2);
		} else if (!strcmp(w[i], "cgroup"))
			e = atoi(v) ? make_cgroup(s) : 0;
		else
			e = EINVAL;
	}
	return e;
}

/* ---- running ------------------------------------------------------------------ */

static int is_main(pid_t pid)
{
	for (int i = 0; i < nsvc; i++)
		if (svcs[i].state == S_RUNNING && svcs[i].proc.pid == pid)
			return 1;
	return 0;
}

/* Reap exited children that are not a service's main process: the
 * services' orphans, which came to us as subreaper. A main process is left
 * for its pidfd (peeked with WNOWAIT, never taken here). */
static void reap_orphans(void)
{
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0 || is_main(si.si_pid))
			return;
		waitpid(si.si_pid, NULL, 0);
	}
}

static void start(struct service *s)
{
	nf_error err;
	int e = nf_spawn(s->cmd, &s->proc, &err);
	s->starts++;
	if (e) {
		char msg[4200];
		event("spawnfail %s %s", s->name, nf_error_format(&err, msg, sizeof msg));
		s->proc = (nf_proc){ -1, -1 };
		s->state = S_GAVEUP; /* a plan that cannot start will not start later */
		event("gaveup %s", s->name);
		return;
	}
	s->state = S_RUNNING;
	s->timed_out = 0;
	s->started_at = now_ms();
	event("start %s %d %d", s->name, (int)s->proc.pid, s->starts);
	event("mem %s %d %zu", s->name, s->starts, mallinfo2().uordblks);
}

/* Kill everything of the service: its group (or cgroup) first, so nothing
 * can respawn into it, then reap the main process and every member that
 * came to us. Returns the main process's wait status. */
static int kill_and_reap(struct service *s)
{
	pid_t pgid = s->proc.pid;
	if (s->cgroup_fd >= 0) {
		int fd = openat(s->cgroup_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "1", 1) != 1)
			event("error cgroup.kill %s: %s", s->name, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	kill(-pgid, SIGKILL);
	int st = 0;
	int e = nf_proc_wait(&s->proc, &st, -1);
	if (e)
		event("error wait %s: %s", s->name, strerror(e));
	nf_proc_release(&s->proc);
	s->state = S_STOPPED; /* not a main any more for reap_orphans */
	/* Every member died with SIGKILL; orphans are reparented to us before
	 * their parent becomes waitable, so this ends with ECHILD. */
	siginfo_t si;
	while (waitid(P_PGID, (id_t)pgid, &si, WEXITED) == 0 || errno == EINTR)
		;
	if (s->cgroup_fd >= 0) { /* members outside the group (setsid) too */
		for (int i = 0; i < 5000; i++) {
			char buf[256] = "";
			int fd = openat(s->cgroup_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n > 0 && strstr(buf, "populated 0"))
				break;
			usleep(1000);
		}
		reap_orphans();
	}
	return st;
}

static void exited(struct service *s)
{
	pid_t pid = s->proc.pid;
	int st = kill_and_reap(s);
	if (WIFSIGNALED(st))
		event("exit %s %d signal=%d", s->name, (int)pid, WTERMSIG(st));
	else
		event("exit %s %d code=%d", s->name, (int)pid, WEXITSTATUS(st));
	if (now_ms() - s->started_at >= 1000 && !s->timed_out)
		s->failures = 0;
	if (s->max_restarts >= 0 && s->starts > s->max_restarts) {
		s->state = S_GAVEUP;
		event("gaveup %s", s->name);
		return;
	}
	int delay = s->backoff_ms << (s->failures < 5 ? s->failures : 5);
	s->failures++;
	s->state = S_BACKOFF;
	s->due = now_ms() + delay;
	event("backoff %s %d", s->name, delay);
}

static void stop(struct service *s)
{
	if (s->state == S_RUNNING)
		kill_and_reap(s);
	s->state = S_STOPPED;
	event("stopped %s", s->name);
}

static struct service *find(const char *name)
{
	for (int i = 0; i < nsvc; i++)
		if (!strcmp(svcs[i].name, name))
			return &svcs[i];
	return NULL;
}

/* Returns 1 on quit. */
static int command(char *line)
{
	char *w[4];
	int n = split(line, w, 4);
	if (n <= 0)
		return 0;
	struct service *s = n > 1 ? find(w[1]) : NULL;
	if (!strcmp(w[0], "quit"))
		return 1;
	if (!strcmp(w[0], "status")) {
		for (int i = 0; i < nsvc; i++)
			event("status %s %s %d", svcs[i].name, state_names[svcs[i].state], svcs[i].starts);
	} else if (!strcmp(w[0], "stop") && s) {
		stop(s);
	} else if (!strcmp(w[0], "start") && s) {
		if (s->state != S_RUNNING) {
			s->failures = 0;
			start(s);
		}
	} else {
		event("error unknown command or service: %s", w[0]);
	}
	return 0;
}

static int read_commands(void)
{
	static char buf[4096];
	static size_t len;
	ssize_t n = read(0, buf + len, sizeof buf - len - 1);
	if (n <= 0)
		return 1; /* EOF on the control channel: quit */
	len += (size_t)n;
	buf[len] = '\0';
	char *nl;
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		int quit = command(buf);
		len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len + 1);
		if (quit)
			return 1;
	}
	return 0;
}

static void supervise(void)
{
	struct pollfd fds[MAX_SVC + 1];
	struct service *owner[MAX_SVC + 1];
	for (;;) {
		long long now = now_ms();
		int timeout = -1;
		for (int i = 0; i < nsvc; i++) {
			struct service *s = &svcs[i];
			long long due = -1;
			if (s->state == S_BACKOFF) {
				if (now >= s->due)
					start(s);
				else
					due = s->due;
			}
			if (s->state == S_RUNNING && s->timeout_ms > 0 && !s->timed_out) {
				long long limit = s->started_at + s->timeout_ms;
				if (now >= limit) {
					event("timeout %s %d", s->name, (int)s->proc.pid);
					s->timed_out = 1;
					kill(-s->proc.pid, SIGKILL); /* its pidfd reports the end */
				} else {
					due = limit;
				}
			}
			if (due >= 0 && (timeout < 0 || due - now < timeout))
				timeout = (int)(due - now);
		}
		int n = 0;
		fds[n] = (struct pollfd){ 0, POLLIN, 0 };
		owner[n++] = NULL;
		for (int i = 0; i < nsvc; i++)
			if (svcs[i].state == S_RUNNING) {
				fds[n] = (struct pollfd){ svcs[i].proc.pidfd, POLLIN, 0 };
				owner[n++] = &svcs[i];
			}
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			event("error poll: %s", strerror(errno));
			return;
		}
		for (int i = 1; i < n; i++)
			if (fds[i].revents)
				exited(owner[i]);
		reap_orphans();
		if (fds[0].revents && read_commands())
			return;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: minisup CONFIG\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "re");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	char line[4096];
	int lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (nsvc == MAX_SVC) {
			fprintf(stderr, "%s:%d: too many services\n", argv[1], lineno);
			return 2;
		}
		int e = configure(&svcs[nsvc], line);
		if (e > 0) {
			fprintf(stderr, "%s:%d: %s\n", argv[1], lineno, strerror(e));
			return 2;
		}
		if (e == 0)
			nsvc++;
	}
	fclose(f);
	signal(SIGPIPE, SIG_IGN);
	/* Orphans of the services come to us, so a stop can reap them all. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
		perror("minisup: subreaper");
		return 1;
	}
	supervise();
	for (int i = 0; i < nsvc; i++) {
		if (svcs[i].state == S_RUNNING)
			stop(&svcs[i]);
		if (svcs[i].cgroup_fd >= 0) {
			close(svcs[i].cgroup_fd);
			rmdir(svcs[i].cgroup_path);
		}
		nf_cmd_free(svcs[i].cmd);
	}
	reap_orphans();
	event("bye");
	return 0;
}
