/* probe: print the process state a spawned child sees, one fact per line.
 *
 * Tests spawn this through nofork and compare what it prints with what they
 * asked for, so a test checks the child's real state rather than an exit code.
 *
 * Usage:
 *   probe [anything]   print the report below to stdout, exit 0
 *   probe exit N       exit with status N, print nothing
 *   probe exitpid      exit with status getpid() % 250 + 1, so the waiter can
 *                      tell that the status it got belongs to the pid it has
 *   probe sleep MS     sleep MS milliseconds, exit 0
 *   probe cat          copy stdin to stdout until EOF, exit 0
 *   probe kill SIG     die by signal SIG (made default and unblocked first)
 *   probe sleepexit MS N  sleep MS milliseconds, then exit with status N
 *   probe write PATH   create or truncate PATH and write a byte to it;
 *                      print "write ok" or "write errno N"
 *   probe ls DIR       print "entry NAME" for each entry but . and ..
 *                      (sorted), "ls empty" when there is none, or
 *                      "ls errno N"
 *   probe syscall NR   print "syscall R E": the result of the raw syscall
 *                      NR with all-zero arguments, and errno (0 on success)
 *   probe trap SIG MS  catch SIG (each arrival prints "got SIG"), print
 *                      "ready" once the handler is in place, sleep MS
 *                      milliseconds (signals do not cut it short), exit 0
 *
 * Report lines ("key value"; values of arg/env escape '\\' as "\\\\" and
 * newline as "\\n" so that one fact stays one line):
 *   argc N / arg I STRING / env STRING / cwd PATH
 *   fd N cloexec=0|1 mode=r|w|rw|? path=READLINK   (every open fd)
 *   sigmask HEX / sigign HEX / sigcaught HEX       (bit n-1 = signal n)
 *   pid N / ppid N / pgid N / sid N / tpgid N      (tpgid -1: no tty)
 *   umask OOO / rlimit NAME CUR MAX                ('inf' = RLIM_INFINITY)
 *   uid R E S / gid R E S / groups G1,G2,...
 *   nice N / sched POLICY PRIO                     (POLICY numeric, SCHED_*)
 *   ioprio N                                       (ioprio_get of this process)
 *   nnp 0|1 / pdeathsig N
 *   hostname NAME / root READLINK(/proc/self/root) / oom_score_adj N
 *   NSpid, NStgid, CapInh, CapPrm, CapEff, CapBnd, CapAmb, Seccomp,
 *   Cpus_allowed_list: the /proc/self/status line, key and values
 *   separated by single spaces
 *   uid_map / gid_map LINE;LINE...  (each line's fields by single spaces)
 *   setgroups allow|deny
 * A line whose source cannot be read (no /proc after a chroot) is left out.
 *
 * The fd listing is taken first, before anything else could open an fd, and
 * the listing's own directory fd is left out. Nothing is written until the
 * report is complete, so a closed or odd fd 0/1/2 cannot change what is seen.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The kernel's struct sigaction for rt_sigaction (not glibc's): it lets us
 * query signals 32 and 33, which glibc's sigaction refuses. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void put_escaped(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/* The fd listing, captured before any other work. */
struct fdinfo {
	int fd, cloexec, accmode;
	char path[PATH_MAX];
};
static struct fdinfo fds[1024];
static int nfds;

/* Without /proc (a test hides it to force the library's last-resort fd
 * closing), ask fcntl about every number below the fd limit; paths stay
 * empty then. */
static void list_fds_without_proc(void)
{
	struct rlimit rl;
	long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (long)rl.rlim_cur : 65536;
	for (int fd = 0; fd < max && nfds < (int)(sizeof fds / sizeof fds[0]); fd++) {
		int fdfl = fcntl(fd, F_GETFD);
		if (fdfl < 0)
			continue;
		int fl = fcntl(fd, F_GETFL);
		struct fdinfo *f = &fds[nfds++];
		f->fd = fd;
		f->cloexec = (fdfl & FD_CLOEXEC) != 0;
		f->accmode = fl < 0 ? -1 : (fl & O_ACCMODE);
		f->path[0] = '\0';
	}
}

static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		list_fds_without_proc();
		return;
	}
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) && nfds < (int)(sizeof fds / sizeof fds[0])) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == self)
			continue;
		struct fdinfo *f = &fds[nfds++];
		f->fd = fd;
		int fdfl = fcntl(fd, F_GETFD);
		int fl = fcntl(fd, F_GETFL);
		f->cloexec = fdfl >= 0 && (fdfl & FD_CLOEXEC);
		f->accmode = fl < 0 ? -1 : (fl & O_ACCMODE);
		char link[64];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, f->path, sizeof f->path - 1);
		f->path[n < 0 ? 0 : n] = '\0';
	}
	closedir(d);
}

static int cmp_fd(const void *a, const void *b)
{
	return ((const struct fdinfo *)a)->fd - ((const struct fdinfo *)b)->fd;
}

static void print_signals(FILE *out)
{
	uint64_t mask = 0;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, sizeof mask);
	uint64_t ign = 0, caught = 0;
	for (int sig = 1; sig <= 64; sig++) {
		struct ksigaction ka;
		if (syscall(SYS_rt_sigaction, sig, NULL, &ka, sizeof ka.mask) != 0)
			continue;
		if (ka.handler == (void *)SIG_IGN)
			ign |= 1ull << (sig - 1);
		else if (ka.handler != (void *)SIG_DFL)
			caught |= 1ull << (sig - 1);
	}
	fprintf(out, "sigmask %016llx\nsigign %016llx\nsigcaught %016llx\n",
		(unsigned long long)mask, (unsigned long long)ign, (unsigned long long)caught);
}

/* tpgid is field 8 of /proc/self/stat; fields are counted after the
 * parenthesised comm, which may itself contain spaces or ')'. */
static long read_tpgid(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	char state;
	long ppid, pgrp, sess, ttynr, tpgid;
	if (sscanf(p + 1, " %c %ld %ld %ld %ld %ld", &state, &ppid, &pgrp, &sess, &ttynr, &tpgid) != 6)
		return -1;
	return tpgid;
}

static void print_rlimits(FILE *out)
{
	static const struct { int res; const char *name; } lims[] = {
		{ RLIMIT_CPU, "CPU" }, { RLIMIT_FSIZE, "FSIZE" }, { RLIMIT_DATA, "DATA" },
		{ RLIMIT_STACK, "STACK" }, { RLIMIT_CORE, "CORE" }, { RLIMIT_RSS, "RSS" },
		{ RLIMIT_NPROC, "NPROC" }, { RLIMIT_NOFILE, "NOFILE" },
		{ RLIMIT_MEMLOCK, "MEMLOCK" }, { RLIMIT_AS, "AS" }, { RLIMIT_LOCKS, "LOCKS" },
		{ RLIMIT_SIGPENDING, "SIGPENDING" }, { RLIMIT_MSGQUEUE, "MSGQUEUE" },
		{ RLIMIT_NICE, "NICE" }, { RLIMIT_RTPRIO, "RTPRIO" }, { RLIMIT_RTTIME, "RTTIME" },
	};
	for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++) {
		struct rlimit rl;
		if (getrlimit(lims[i].res, &rl) != 0)
			continue;
		fprintf(out, "rlimit %s ", lims[i].name);
		if (rl.rlim_cur == RLIM_INFINITY)
			fputs("inf ", out);
		else
			fprintf(out, "%llu ", (unsigned long long)rl.rlim_cur);
		if (rl.rlim_max == RLIM_INFINITY)
			fputs("inf\n", out);
		else
			fprintf(out, "%llu\n", (unsigned long long)rl.rlim_max);
	}
}

/* A small /proc file's text, whitespace runs made single spaces and lines
 * joined by ';' (no trailing separator); NULL if it cannot be read. */
static char *read_squeezed(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char raw[4096];
	ssize_t n = read(fd, raw, sizeof raw - 1);
	close(fd);
	if (n < 0)
		return NULL;
	size_t o = 0;
	int gap = 0; /* 0 none, 1 a space is due, 2 a line break is due */
	for (ssize_t i = 0; i < n && o + 2 < size; i++) {
		char c = raw[i];
		if (c == '\n')
			gap = 2;
		else if (c == ' ' || c == '\t')
			gap = gap ? gap : 1;
		else {
			if (gap && o)
				buf[o++] = gap == 2 ? ';' : ' ';
			gap = 0;
			buf[o++] = c;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void print_status(FILE *out)
{
	static const char *const keys[] = { "NSpid", "NStgid", "CapInh", "CapPrm", "CapEff",
		"CapBnd", "CapAmb", "Seccomp", "Cpus_allowed_list" };
	char text[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	text[n < 0 ? 0 : n] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (!strcmp(line, keys[i])) {
				fputs(line, out);
				for (char *v = colon + 1; *v; v++) {
					if (*v == ' ' || *v == '\t')
						continue;
					if (v == colon + 1 || v[-1] == ' ' || v[-1] == '\t')
						fputc(' ', out); /* a value's first character */
					fputc(*v, out);
				}
				fputc('\n', out);
			}
	}
}

static void print_sandbox(FILE *out)
{
	char buf[4096];
	if (gethostname(buf, sizeof buf) == 0)
		fprintf(out, "hostname %s\n", buf);
	ssize_t n = readlink("/proc/self/root", buf, sizeof buf - 1);
	if (n >= 0)
		fprintf(out, "root %.*s\n", (int)n, buf);
	static const char *const files[][2] = { { "oom_score_adj", "/proc/self/oom_score_adj" },
		{ "uid_map", "/proc/self/uid_map" }, { "gid_map", "/proc/self/gid_map" },
		{ "setgroups", "/proc/self/setgroups" } };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		if (read_squeezed(files[i][1], buf, sizeof buf))
			fprintf(out, "%s %s\n", files[i][0], buf);
	print_status(out);
}

static void report(int argc, char **argv)
{
	list_fds();
	qsort(fds, (size_t)nfds, sizeof fds[0], cmp_fd);

	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	if (!out)
		exit(125);

	fprintf(out, "argc %d\n", argc);
	for (int i = 0; i < argc; i++) {
		fprintf(out, "arg %d ", i);
		put_escaped(out, argv[i]);
		fputc('\n', out);
	}
	for (char **e = environ; e && *e; e++) {
		fputs("env ", out);
		put_escaped(out, *e);
		fputc('\n', out);
	}
	char cwd[PATH_MAX];
	fprintf(out, "cwd %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
	for (int i = 0; i < nfds; i++) {
		static const char *modes[] = { "r", "w", "rw" };
		const struct fdinfo *f = &fds[i];
		fprintf(out, "fd %d cloexec=%d mode=%s path=%s\n", f->fd, f->cloexec,
			f->accmode >= 0 && f->accmode <= 2 ? modes[f->accmode] : "?", f->path);
	}
	print_signals(out);
	fprintf(out, "pid %d\nppid %d\npgid %d\nsid %d\ntpgid %ld\n",
		(int)getpid(), (int)getppid(), (int)getpgid(0), (int)getsid(0), read_tpgid());
	mode_t um = umask(0);
	umask(um);
	fprintf(out, "umask %03o\n", (unsigned)um);
	print_rlimits(out);

	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	fprintf(out, "uid %u %u %u\ngid %u %u %u\n", ru, eu, su, rg, eg, sg);
	gid_t groups[NGROUPS_MAX];
	int ng = getgroups(NGROUPS_MAX, groups);
	fputs("groups ", out);
	for (int i = 0; i < ng; i++)
		fprintf(out, "%s%u", i ? "," : "", groups[i]);
	fputc('\n', out);

	errno = 0;
	int nice_val = getpriority(PRIO_PROCESS, 0);
	struct sched_param sp = { 0 };
	sched_getparam(0, &sp);
	fprintf(out, "nice %d\nsched %d %d\n", nice_val, sched_getscheduler(0), sp.sched_priority);
	fprintf(out, "ioprio %ld\n", syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0));
	int pdeath = 0;
	prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
	fprintf(out, "nnp %d\npdeathsig %d\n", (int)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), pdeath);
	print_sandbox(out);

	if (fclose(out) != 0)
		exit(125);
	write_all(1, buf, len);
	free(buf);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int cat(void)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		if (n == 0)
			return 0;
		write_all(1, buf, (size_t)n);
	}
}

/* stdin to stdout and stderr at once: a child that fills two pipes while
 * its stdin is still being fed. */
static int tee2(void)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0;
		write_all(1, buf, (size_t)n);
		write_all(2, buf, (size_t)n);
	}
}

/* n bytes of a pattern (byte i is i % 251) to fd. */
static int emit(int fd, long long n)
{
	static char buf[65536 + 251];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)(i % 251);
	for (long long done = 0; done < n;) {
		size_t k = n - done < 65536 ? (size_t)(n - done) : 65536;
		write_all(fd, buf + done % 251, k);
		done += (long long)k;
	}
	return 0;
}

static void die_by(int sig)
{
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(126); /* sig was not fatal by default (e.g. SIGCHLD) */
}

static void trapped(int sig)
{
	int saved = errno; /* sleep_ms reads errno after nanosleep */
	char msg[16] = "got ";
	int n = 4;
	if (sig >= 10)
		msg[n++] = (char)('0' + sig / 10);
	msg[n++] = (char)('0' + sig % 10);
	msg[n++] = '\n';
	write_all(1, msg, (size_t)n);
	errno = saved;
}

static void trap_and_sleep(int sig, long ms)
{
	struct sigaction sa = { .sa_handler = trapped };
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	write_all(1, "ready\n", 6);
	sleep_ms(ms);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "exit") && argc > 2)
		return atoi(argv[2]);
	if (!strcmp(mode, "exitpid"))
		return getpid() % 250 + 1;
	if (!strcmp(mode, "sleep") && argc > 2) {
		sleep_ms(atol(argv[2]));
		return 0;
	}
	if (!strcmp(mode, "sleepexit") && argc > 3) {
		sleep_ms(atol(argv[2]));
		return atoi(argv[3]);
	}
	if (!strcmp(mode, "trap") && argc > 3) {
		trap_and_sleep(atoi(argv[2]), atol(argv[3]));
		return 0;
	}
	if (!strcmp(mode, "cat"))
		return cat();
	if (!strcmp(mode, "tee2"))
		return tee2();
	if (!strcmp(mode, "emit") && argc > 3)
		return emit(atoi(argv[2]), atoll(argv[3]));
	if (!strcmp(mode, "pid")) {
		printf("%d\n", (int)getpid());
		return 0;
	}
	if (!strcmp(mode, "write") && argc > 2) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, "x", 1) != 1)
			printf("write errno %d\n", errno);
		else
			printf("write ok\n");
		return 0;
	}
	if (!strcmp(mode, "ls") && argc > 2) {
		struct dirent **names;
		int n = scandir(argv[2], &names, NULL, alphasort), shown = 0;
		if (n < 0)
			printf("ls errno %d\n", errno);
		for (int i = 0; i < n; i++) {
			if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
				printf("entry %s\n", names[i]->d_name), shown++;
			free(names[i]);
		}
		if (n >= 0 && !shown)
			printf("ls empty\n");
		return 0;
	}
	if (!strcmp(mode, "syscall") && argc > 2) {
		errno = 0;
		long r = syscall(atol(argv[2]), 0, 0, 0, 0, 0, 0);
		printf("syscall %ld %d\n", r, r < 0 ? errno : 0);
		return 0;
	}
	if (!strcmp(mode, "kill") && argc > 2)
		die_by(atoi(argv[2]));
	report(argc, argv);
	return 0;
}
