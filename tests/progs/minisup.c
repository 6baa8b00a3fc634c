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
 * kills the whole group (nf_proc_stop with NF_STOP_GROUP) or cgroup.
 * minisup is a child subreaper, so the group's orphans become its children
 * and are reaped too: once "stopped" is printed, nothing of the service is
 * left. Each main process has PR_SET_PDEATHSIG SIGKILL: if minisup itself
 * is killed, its services' main processes go with it.
 *
 * Running: on the M:N runtime, one coroutine per service. nf_spawn parks
 * the coroutine until the child exec'd; the end of a run (or its timeout)
 * is awaited parked on the pidfd (nf_proc_waitid with WNOWAIT: the main
 * stays unreaped, so its group id stays its group's until nf_proc_stop has
 * killed the group; nf_proc_wait_any would reap it first). No SIGCHLD
 * handler: orphans are reaped by a coroutine woken through a signalfd. Commands come from a control
 * coroutine parked on stdin and reach a service through its eventfd
 * mailbox (and, while it runs, by killing its main process through the
 * pidfd, which ends the wait). One worker thread: the coroutines
 * interleave only where they park, so the table needs no lock.
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
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
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
	long long started_at;
	int mailbox; /* eventfd: commands for the service's coroutine */
	/* Requests from the control coroutine (same worker: no lock). */
	int stop, start_req, quit;
};

static struct service svcs[MAX_SVC];
static int nsvc;
static nf_wg services_wg = NF_WG_INIT;
static int quitting;
static int spawning; /* nf_spawn calls under way */

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
	s->mailbox = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->mailbox < 0)
		return errno;
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
	/* Nor our blocked SIGCHLD: services start with nothing blocked. */
	sigset_t none;
	sigemptyset(&none);
	if (!e)
		e = nf_cmd_sigmask(s->cmd, &none);
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

/* ---- running: one coroutine per service ------------------------------------- */

static int is_main(pid_t pid)
{
	for (int i = 0; i < nsvc; i++)
		if (svcs[i].state == S_RUNNING && svcs[i].proc.pid == pid)
			return 1;
	return 0;
}

/* Reap exited children that are not a service's main process: the
 * services' orphans, which came to us as subreaper. A main process is left
 * for its own coroutine (peeked with WNOWAIT, never taken here). */
static void reap_orphans(void)
{
	/* A child whose nf_spawn has not returned yet has no pid in the table:
	 * it might be that one, so leave everything until it is known. */
	if (spawning)
		return;
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0 || is_main(si.si_pid))
			return;
		waitpid(si.si_pid, NULL, 0); /* a zombie: does not block */
	}
}

/* Wake the service's coroutine (parked on its mailbox during backoff, or
 * when stopped) or, while it runs, end the run: it waits on the pidfd. */
static void poke(struct service *s)
{
	if (s->state == S_RUNNING)
		nf_proc_kill(&s->proc, SIGKILL);
	uint64_t one = 1;
	if (write(s->mailbox, &one, sizeof one) != sizeof one)
		event("error mailbox %s: %s", s->name, strerror(errno));
}

/* Park until the mailbox is poked or ms pass (-1: forever); drain it. */
static void wait_mailbox(struct service *s, int ms)
{
	if (nf_wait_fd(s->mailbox, POLLIN, ms) == 0) {
		uint64_t n;
		if (read(s->mailbox, &n, sizeof n) < 0 && errno != EAGAIN)
			event("error mailbox %s: %s", s->name, strerror(errno));
	}
}

/* Kill everything of the service: its cgroup, and its group while the
 * unreaped main process pins the group id; then reap the members that came
 * to us (zombies by then). Returns the main's status. */
static int kill_and_reap(struct service *s)
{
	static const nf_stop_step kill_group = { SIGKILL, 10000 };
	pid_t pgid = s->proc.pid;
	if (s->cgroup_fd >= 0) {
		int fd = openat(s->cgroup_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "1", 1) != 1)
			event("error cgroup.kill %s: %s", s->name, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	int st = 0;
	int e = nf_proc_stop(&s->proc, &kill_group, 1, NF_STOP_GROUP, &st); /* parks this coroutine */
	if (e)
		event("error stop %s: %s", s->name, strerror(e));
	nf_proc_release(&s->proc);
	s->state = S_STOPPED; /* not a main any more for reap_orphans */
	siginfo_t si = { 0 };
	while (waitid(P_PGID, (id_t)pgid, &si, WEXITED | WNOHANG) == 0 && si.si_pid)
		si.si_pid = 0;
	if (s->cgroup_fd >= 0) { /* members that left the group (setsid) too */
		for (int i = 0; i < 5000; i++) {
			char buf[256] = "";
			int fd = openat(s->cgroup_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n > 0 && strstr(buf, "populated 0"))
				break;
			nf_sleep_ms(1);
		}
		reap_orphans();
	}
	return st;
}

/* One run: spawn (parks until exec), wait for the end or the timeout
 * (parks on the pidfd in the poller), kill and reap the group. Returns 0
 * if the run ended by itself or by timeout, 1 if a stop was asked, -1 if
 * the cmd cannot be spawned. */
static int run_once(struct service *s)
{
	nf_error err;
	s->starts++;
	spawning++;
	int e = nf_spawn(s->cmd, &s->proc, &err); /* parks until it exec'd */
	if (!e)
		s->state = S_RUNNING;
	spawning--;
	if (e) {
		char msg[4200];
		event("spawnfail %s %s", s->name, nf_error_format(&err, msg, sizeof msg));
		return -1;
	}
	s->timed_out = 0;
	s->started_at = now_ms();
	event("start %s %d %d", s->name, (int)s->proc.pid, s->starts);
	event("mem %s %d %zu", s->name, s->starts, mallinfo2().uordblks);
	pid_t pid = s->proc.pid;
	siginfo_t si;
	if (nf_proc_waitid(&s->proc, &si, WEXITED | WNOWAIT, s->timeout_ms > 0 ? s->timeout_ms : -1) == ETIMEDOUT &&
	    !s->stop) {
		event("timeout %s %d", s->name, (int)pid);
		s->timed_out = 1;
	}
	int st = kill_and_reap(s);
	if (WIFSIGNALED(st))
		event("exit %s %d signal=%d", s->name, (int)pid, WTERMSIG(st));
	else
		event("exit %s %d code=%d", s->name, (int)pid, WEXITSTATUS(st));
	return s->stop ? 1 : 0;
}

static void service_main(void *arg)
{
	struct service *s = arg;
	for (;;) {
		if (s->stop) { /* stop, or quit */
			s->stop = 0;
			s->state = S_STOPPED;
			event("stopped %s", s->name);
		}
		if (s->state == S_STOPPED || s->state == S_GAVEUP) {
			while (!s->quit && !s->stop && !s->start_req)
				wait_mailbox(s, -1);
			if (s->quit)
				break;
			if (!s->start_req)
				continue;
			s->start_req = 0;
			s->failures = 0;
		}
		int r = run_once(s);
		if (r != 0) {
			if (r < 0) { /* a plan that cannot start will not start later */
				s->state = S_GAVEUP;
				event("gaveup %s", s->name);
			}
			continue;
		}
		if (now_ms() - s->started_at >= 1000 && !s->timed_out)
			s->failures = 0;
		if (s->max_restarts >= 0 && s->starts > s->max_restarts) {
			s->state = S_GAVEUP;
			event("gaveup %s", s->name);
			continue;
		}
		int delay = s->backoff_ms << (s->failures < 5 ? s->failures : 5);
		s->failures++;
		s->state = S_BACKOFF;
		event("backoff %s %d", s->name, delay);
		/* Restart no earlier than `delay`, unless stopped meanwhile. */
		for (long long due = now_ms() + delay; !s->stop && now_ms() < due;)
			wait_mailbox(s, (int)(due - now_ms()));
	}
	s->state = S_STOPPED;
	nf_wg_done(&services_wg);
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
		if (s->state != S_STOPPED) {
			s->stop = 1;
			poke(s);
		} else {
			event("stopped %s", s->name);
		}
	} else if (!strcmp(w[0], "start") && s) {
		s->start_req = 1;
		poke(s);
	} else {
		event("error unknown command or service: %s", w[0]);
	}
	return 0;
}

/* The control channel: commands on stdin, read when the poller says so. */
static void control_main(void *arg)
{
	(void)arg;
	static char buf[4096];
	size_t len = 0;
	int quit = 0;
	while (!quit) {
		nf_wait_fd(0, POLLIN, -1);
		ssize_t n = read(0, buf + len, sizeof buf - len - 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break; /* EOF on the control channel: quit */
		len += (size_t)n;
		buf[len] = '\0';
		char *nl;
		while (!quit && (nl = strchr(buf, '\n'))) {
			*nl = '\0';
			quit = command(buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	for (int i = 0; i < nsvc; i++) {
		svcs[i].quit = 1;
		if (svcs[i].state != S_STOPPED && svcs[i].state != S_GAVEUP)
			svcs[i].stop = 1;
		poke(&svcs[i]);
	}
	nf_wg_wait(&services_wg);
	quitting = 1;
	kill(getpid(), SIGCHLD); /* wakes the reaper through its signalfd */
}

/* Orphans (the services' grandchildren, ours as subreaper) are reaped as
 * they end: SIGCHLD is blocked everywhere and only wakes this coroutine
 * through a signalfd; the reaping itself is the WNOHANG loop above, so a
 * coalesced signal loses nothing. */
static void reaper_main(void *arg)
{
	int sfd = *(int *)arg;
	while (!quitting) {
		if (nf_wait_fd(sfd, POLLIN, 200) == 0) {
			struct signalfd_siginfo si[8];
			if (read(sfd, si, sizeof si) < 0 && errno != EAGAIN)
				event("error signalfd: %s", strerror(errno));
		}
		reap_orphans();
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: minisup CONFIG\n");
		return 2;
	}
	/* One malloc arena, so mallinfo2 (the "mem" event) sees the workers'
	 * allocations too. */
	mallopt(M_ARENA_MAX, 1);
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
	/* Before the workers exist, so that they inherit the mask. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	/* One worker: the coroutines interleave only where they park, so the
	 * service table needs no lock. */
	int e = sfd < 0 ? errno : nf_rt_start(1);
	if (e) {
		fprintf(stderr, "minisup: runtime: %s\n", strerror(e));
		return 1;
	}
	nf_wg_add(&services_wg, nsvc);
	for (int i = 0; i < nsvc && !e; i++)
		e = nf_go(service_main, &svcs[i]);
	if (!e)
		e = nf_go(control_main, NULL);
	if (!e)
		e = nf_go(reaper_main, &sfd);
	if (e) {
		fprintf(stderr, "minisup: nf_go: %s\n", strerror(e));
		return 1; /* services die with us: pdeathsig */
	}
	nf_rt_stop();
	for (int i = 0; i < nsvc; i++) {
		if (svcs[i].cgroup_fd >= 0) {
			close(svcs[i].cgroup_fd);
			rmdir(svcs[i].cgroup_path);
		}
		close(svcs[i].mailbox);
		nf_cmd_free(svcs[i].cmd);
	}
	close(sfd);
	reap_orphans();
	event("bye");
	return 0;
}
