/* Process handles: waiting, signalling and releasing through the pidfd, so
 * a recycled pid is never hit. Without a pidfd (old kernels) the pid is used,
 * which is safe only until the child is reaped.
 *
 * How a wait sleeps. A pidfd turns readable when its process ends, never
 * when it stops or continues. So:
 * - an exit wait sleeps on the pidfd (poll(2) from a thread, the poller
 *   from a coroutine): exact, no polling;
 * - from a thread without a timeout, any wait (stops included) sleeps in a
 *   blocking waitid(WNOWAIT) and then takes the report without blocking:
 *   exact too;
 * - otherwise (a stop or continue wanted with a timeout or from a
 *   coroutine; no pidfd) the wait checks with waitid(WNOHANG) and sleeps
 *   in between, 1 ms doubling to BACKOFF_MAX_MS, on the pidfd when there is
 *   one so that an exit still ends the sleep at once.
 * Nothing here ever waits for "any child" (P_ALL, P_PGID): a wait reaps
 * only the handles it was given.
 *
 * Cancellation: from a plain thread the waits are cancellation points, as
 * waitpid is, and clean ones: cancellation is enabled only while a wait
 * sleeps in a call that reaps and consumes nothing (poll, waitid with
 * WNOWAIT); every waitid that reaps or takes a report runs with it disabled.
 * waitid itself would not do: glibc (2.36 at least) acts on a cancel that
 * arrives while waitid returns from reaping the child, and the status would
 * be lost with the child gone. The `cs` arguments below are the caller's
 * cancel state, restored around those sleeps (PTHREAD_CANCEL_DISABLE: never
 * cancel).
 *
 * Not used: PIDFD_GET_INFO with PIDFD_INFO_EXIT (Linux 6.13/6.15) reads the
 * exit status through the pidfd even after the child was reaped. For a
 * child of ours that is not reaped yet, waitid(P_PIDFD) already gives the
 * status in the one call that reaps it, so it makes no wait cheaper; what
 * it adds is the status of a child reaped by someone else (SIGCHLD
 * ignored, a waitpid(-1) elsewhere), which would make "ECHILD: already
 * reaped" depend on the kernel version. */
#include "nofork_int.h"
#include "rt/rt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MAX_MS 20

static int status_of(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_KILLED:
		return si->si_status & 0x7f;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	default: /* stopped/continued are not asked for */
		return 0;
	}
}

static bool is_exit(const siginfo_t *si)
{
	return si->si_code == CLD_EXITED || si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED;
}

static long long now_ms(void) { return rt_now_ns() / 1000000; }

/* Milliseconds left until `end` (never negative); -1 for no deadline. */
static int left_ms(long long end)
{
	if (end < 0)
		return -1;
	long long left = end - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static long long deadline_of(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

static int backoff_next(int ms) { return ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2; }

int proc_waitid(pid_t pid, int pidfd, siginfo_t *si, int flags)
{
	int r;
	do
		r = pidfd >= 0 ? waitid((idtype_t)P_PIDFD, (id_t)pidfd, si, flags) : waitid(P_PID, (id_t)pid, si, flags);
	while (r < 0 && errno == EINTR);
	return r < 0 ? errno : 0;
}

/* Sleep up to ms (-1: no limit), or until fd (when >= 0) turns readable:
 * poll(2) from a thread, with the caller's cancel state `cs` for the sleep;
 * the poller from a coroutine. A timeout is not an error; *ready says
 * whether fd fired. */
static int nap(int fd, int ms, int cs, bool *ready)
{
	*ready = false;
	if (rt_in_coroutine()) {
		int e = fd >= 0 ? nf_wait_fd(fd, POLLIN, ms) : nf_sleep_ms(ms);
		if (e == ETIMEDOUT)
			return 0;
		*ready = fd >= 0 && !e;
		return e;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	pthread_setcancelstate(cs, NULL);
	int r = poll(&pfd, fd >= 0, ms);
	int e = r < 0 ? errno : 0;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	if (e)
		return e == EINTR ? 0 : e;
	if (pfd.revents & POLLNVAL)
		return EBADF;
	*ready = r > 0;
	return 0;
}

/* ---- one process ---------------------------------------------------------- */

/* One waitid on the handle that never blocks (WNOHANG); *found when it
 * reported the child. Without WEXITED in opts the kernel answers ECHILD
 * for a child that has ended: it will never report what is asked for. */
static int check(const nf_proc *p, int opts, siginfo_t *si, bool *found)
{
	*si = (siginfo_t){0};
	int e = proc_waitid(p->pid, p->pidfd, si, opts | WNOHANG);
	*found = !e && si->si_pid != 0;
	return e;
}

/* From a thread, without a timeout: sleep in a waitid that consumes nothing
 * (WNOWAIT; WEXITED added so that an end the caller did not ask for wakes
 * it too), then take the report without blocking. The report can vanish in
 * between (a stop undone by SIGCONT): then sleep again. */
static int wait_blocking(const nf_proc *p, int opts, siginfo_t *si, int cs)
{
	for (;;) {
		*si = (siginfo_t){0};
		pthread_setcancelstate(cs, NULL);
		int e = proc_waitid(p->pid, p->pidfd, si, opts | WEXITED | WNOWAIT);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (e)
			return e;
		if (is_exit(si) && !(opts & WEXITED))
			return ECHILD;
		if (opts & WNOWAIT)
			return 0;
		bool found;
		if ((e = check(p, opts, si, &found)) || found)
			return e;
	}
}

/* Check, sleep, check again until the deadline. An exit wait with a pidfd
 * sleeps on it for the whole time left; other waits back off. A pidfd that
 * was readable yet gave nothing to report (a tracer holds the zombie) is
 * left out of the next sleep, which would otherwise return at once. */
static int wait_polling(const nf_proc *p, int opts, siginfo_t *si, int timeout_ms, int cs)
{
	long long end = deadline_of(timeout_ms);
	bool exit_only = !(opts & (WSTOPPED | WCONTINUED)), stale = false;
	for (int backoff = 1;;) {
		bool found;
		int e = check(p, opts, si, &found);
		if (e || found)
			return e;
		int left = left_ms(end);
		if (left == 0)
			return ETIMEDOUT;
		int fd = stale ? -1 : p->pidfd, ms = left;
		if (fd < 0 || !exit_only) {
			ms = left < 0 || left > backoff ? backoff : left;
			backoff = backoff_next(backoff);
		}
		if ((e = nap(fd, ms, cs, &stale)))
			return e;
	}
}

/* The one wait behind nf_proc_wait, nf_proc_waitid and nf_proc_stop; the
 * caller has disabled cancellation (cs: its own state). */
static int wait_one(const nf_proc *p, int opts, siginfo_t *si, int timeout_ms, int cs)
{
	if (timeout_ms == -1 && !rt_in_coroutine())
		return wait_blocking(p, opts, si, cs);
	return wait_polling(p, opts, si, timeout_ms, cs);
}

/* Cancellation off for the call, the caller's state kept in *cs (left
 * alone in a coroutine: see cancel.h). */
static void cancel_enter(int *cs)
{
	*cs = PTHREAD_CANCEL_DISABLE;
	if (!rt_in_coroutine())
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, cs);
}

static void cancel_leave(int cs)
{
	if (!rt_in_coroutine())
		pthread_setcancelstate(cs, NULL);
}

/* A report that reaped the child: the handle keeps its status (nf_proc's
 * reaped and status), for whoever asks later (nf_pipeline_wait). */
static void note_reaped(nf_proc *p, const siginfo_t *si, int opts)
{
	if (is_exit(si) && !(opts & WNOWAIT)) {
		p->reaped = 1;
		p->status = status_of(si);
	}
}

static int proc_wait(nf_proc *p, int opts, siginfo_t *si, int timeout_ms)
{
	if (!p || timeout_ms < -1)
		return EINVAL;
	if (p->pid <= 0)
		return ECHILD;
	int cs;
	cancel_enter(&cs);
	int e = wait_one(p, opts, si, timeout_ms, cs);
	cancel_leave(cs);
	if (!e)
		note_reaped(p, si, opts);
	return e;
}

int nf_proc_wait(nf_proc *p, int *status, int timeout_ms)
{
	siginfo_t si;
	int e = proc_wait(p, WEXITED, &si, timeout_ms);
	if (!e && status)
		*status = status_of(&si);
	return e;
}

int nf_proc_waitid(nf_proc *p, siginfo_t *info, int options, int timeout_ms)
{
	if (!info || !(options & (WEXITED | WSTOPPED | WCONTINUED)) ||
	    (options & ~(WEXITED | WSTOPPED | WCONTINUED | WNOWAIT)))
		return EINVAL;
	siginfo_t si;
	int e = proc_wait(p, options, &si, timeout_ms);
	if (!e)
		*info = si;
	return e;
}

/* ---- any of many ------------------------------------------------------------ */

/* The set as nf_proc_wait_any sees it. pf holds the pidfds of the entries
 * that have one, in index order (poll needs them contiguous; an entry's
 * pidfd is found again by walking the entries in the same order). Entries
 * without a pidfd, and pidfds set aside as stale (fd -1 in pf), are checked
 * with waitid(WNOHANG) at every round instead. */
struct any_set {
	nf_proc *const *procs;
	size_t n;
	struct pollfd *pf;
	nfds_t nfd;
	int ep; /* coroutine: an epoll of the pidfds, made at the first park */
	bool checked; /* some entry is checked by waitid, not by its pidfd */
};

static bool entry_live(const nf_proc *p) { return p && p->pid > 0; }

/* Find the lowest entry that has ended and reap it. pf's revents must be
 * fresh from a poll. Returns 0 with *index, *si when one was reaped,
 * ETIMEDOUT when none was ready, or an errno with *index naming the entry
 * that gave it. */
static int any_reap(struct any_set *s, size_t *index, siginfo_t *si)
{
	nfds_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		const nf_proc *p = s->procs[i];
		if (!entry_live(p))
			continue;
		struct pollfd *f = p->pidfd >= 0 ? &s->pf[k++] : NULL;
		if (f && f->fd >= 0 && !f->revents)
			continue;
		bool found = false;
		int e = f && (f->revents & POLLNVAL) ? EBADF : check(p, WEXITED, si, &found);
		if (e || found) {
			*index = i;
			return e;
		}
		if (f && f->fd >= 0) { /* readable, nothing to reap: stale */
			if (s->ep >= 0)
				epoll_ctl(s->ep, EPOLL_CTL_DEL, f->fd, NULL);
			f->fd = -1;
			s->checked = true;
		}
	}
	return ETIMEDOUT;
}

/* poll(2) the pidfds for up to ms; revents cleared first (they are not
 * written back when poll fails). */
static int any_poll(struct any_set *s, int ms, int cs)
{
	for (nfds_t k = 0; k < s->nfd; k++)
		s->pf[k].revents = 0;
	if (ms)
		pthread_setcancelstate(cs, NULL);
	int r = poll(s->pf, s->nfd, ms);
	int e = r < 0 ? errno : 0;
	if (ms)
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	return e == EINTR ? 0 : e;
}

/* A coroutine parks on one pidfd as nf_wait_fd does; on several, on an
 * epoll of them (its fd kept above 2, as the runtime's: see poll.c), made
 * once per call, registered with the poller through nf_wait_fd. */
static int any_park(struct any_set *s, int ms)
{
	int one = -1, n = 0;
	for (nfds_t k = 0; k < s->nfd; k++)
		if (s->pf[k].fd >= 0) {
			one = s->pf[k].fd;
			n++;
		}
	if (n == 0)
		return nf_sleep_ms(ms);
	if (n > 1 && s->ep < 0) {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep >= 0 && ep <= 2) {
			int moved = fcntl(ep, F_DUPFD_CLOEXEC, 3);
			close(ep);
			ep = moved;
		}
		if (ep < 0)
			return errno;
		s->ep = ep;
		for (nfds_t k = 0; k < s->nfd; k++) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u64 = k};
			if (s->pf[k].fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s->pf[k].fd, &ev))
				return errno;
		}
	}
	int e = nf_wait_fd(n > 1 ? s->ep : one, POLLIN, ms);
	return e == ETIMEDOUT ? 0 : e;
}

static int wait_any(struct any_set *s, size_t *index, siginfo_t *si, int timeout_ms, int cs)
{
	long long end = deadline_of(timeout_ms);
	bool coro = rt_in_coroutine();
	int e = any_poll(s, 0, cs);
	for (int backoff = 1; !e;) {
		if ((e = any_reap(s, index, si)) != ETIMEDOUT)
			return e;
		int left = left_ms(end), ms = left;
		if (left == 0)
			return ETIMEDOUT;
		if (s->checked) {
			ms = left < 0 || left > backoff ? backoff : left;
			backoff = backoff_next(backoff);
		}
		if (coro && (e = any_park(s, ms)))
			break;
		e = any_poll(s, coro ? 0 : ms, cs);
	}
	return e;
}

#define ANY_STACK 64

int nf_proc_wait_any(nf_proc *const procs[], size_t n, size_t *index, int *status, int timeout_ms)
{
	if (!procs || !n || !index || timeout_ms < -1)
		return EINVAL;
	NF_NOCANCEL; /* malloc and close below; the waits restore the caller's state themselves */
	struct pollfd stack[ANY_STACK];
	struct any_set s = {.procs = procs, .n = n, .pf = stack, .ep = -1};
	size_t live = 0;
	for (size_t i = 0; i < n; i++) {
		live += entry_live(procs[i]);
		s.nfd += entry_live(procs[i]) && procs[i]->pidfd >= 0;
		s.checked |= entry_live(procs[i]) && procs[i]->pidfd < 0;
	}
	*index = SIZE_MAX;
	if (!live)
		return ECHILD;
	if (s.nfd > ANY_STACK && !(s.pf = malloc(s.nfd * sizeof *s.pf)))
		return ENOMEM;
	for (size_t i = 0, k = 0; i < n; i++)
		if (entry_live(procs[i]) && procs[i]->pidfd >= 0)
			s.pf[k++] = (struct pollfd){.fd = procs[i]->pidfd, .events = POLLIN};
	siginfo_t si;
	int e = wait_any(&s, index, &si, timeout_ms, cancel_old_);
	if (!e)
		note_reaped(procs[*index], &si, WEXITED);
	if (!e && status)
		*status = status_of(&si);
	if (s.ep >= 0)
		close(s.ep);
	if (s.pf != stack)
		free(s.pf);
	return e;
}

/* ---- graceful stop ------------------------------------------------------------ */

/* Whether the process `pid` is a running member of group pgid, from
 * /proc/PID/stat: a zombie (state Z, one thread: the leader, unreaped)
 * has ended; a leader that exited while its other threads run shows Z too,
 * with more threads. */
static bool member_runs(pid_t pid, pid_t pgid)
{
	char path[32], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *c = strrchr(buf, ')'), state;
	int grp;
	long threads;
	if (!c || sscanf(c + 1, " %c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld", &state, &grp,
			 &threads) != 3)
		return false;
	return grp == pgid && ((state != 'Z' && state != 'X') || threads > 1);
}

/* Whether any process of group pgid still runs. kill(-pgid, 0) answers
 * whether the group has any member at all, but zombies are members until
 * their parent reaps them, which takes an init that reaps lazily seconds
 * and never happens for members that are the caller's own children; so a
 * yes is checked in /proc for a member that is not a zombie (the last one
 * found, *hint, first). Without /proc a yes stays a yes. */
static bool group_runs(pid_t pgid, pid_t *hint)
{
	if (kill(-pgid, 0) && errno == ESRCH)
		return false;
	if (*hint > 0 && member_runs(*hint, pgid))
		return true;
	int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return true;
	bool runs = false;
	char buf[2048] __attribute__((aligned(8))); /* struct dirent64 records */
	long n;
	while (!runs && (n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n && !runs;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			char *end;
			long pid = strtol(d->d_name, &end, 10);
			if (*end || pid <= 0 || pid == *hint)
				continue;
			if ((runs = member_runs((pid_t)pid, pgid)))
				*hint = (pid_t)pid;
		}
	}
	close(dir);
	return runs;
}

/* Wait until no process of group pgid runs, checking with backoff (there
 * is no fd to sleep on), or `end` passes. */
static int wait_group(pid_t pgid, long long end)
{
	pid_t hint = 0;
	for (int backoff = 1;; backoff = backoff_next(backoff)) {
		if (!group_runs(pgid, &hint))
			return 0;
		int left = left_ms(end);
		if (left == 0)
			return ETIMEDOUT;
		bool ready;
		int e = nap(-1, left < 0 || left > backoff ? backoff : left, PTHREAD_CANCEL_DISABLE, &ready);
		if (e)
			return e;
	}
}

static int send_signal(const nf_proc *p, pid_t pgid, int sig)
{
	long r;
	if (pgid > 0)
		r = kill(-pgid, sig);
	else
		r = p->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) : kill(p->pid, sig);
	return r < 0 ? errno : 0;
}

static int stop(nf_proc *p, const nf_stop_step *steps, size_t n, unsigned flags, int *status, int cs)
{
	siginfo_t si;
	bool ended;
	/* Ours and not reaped, before anything is sent: signalling a stale
	 * pid could hit another process. */
	int e = check(p, WEXITED | WNOWAIT, &si, &ended);
	if (e)
		return e;
	pid_t pgid = 0;
	if (flags & NF_STOP_GROUP) {
		/* While the child is unreaped its group id cannot be reused. */
		if ((pgid = getpgid(p->pid)) < 0)
			return errno;
		if (pgid == getpgrp())
			return EINVAL;
	} else if (ended) {
		e = wait_one(p, WEXITED, &si, 0, cs);
		if (!e)
			note_reaped(p, &si, WEXITED);
		if (!e && status)
			*status = status_of(&si);
		return e;
	}
	bool reaped = false;
	for (size_t i = 0; i < n; i++) {
		long long end = deadline_of(steps[i].timeout_ms);
		/* ESRCH: a group left with no member, once the child is reaped.
		 * Other errors are the caller's to hear while the child lives;
		 * after that, what is left of the group is only waited for. */
		if (steps[i].sig && (e = send_signal(p, pgid, steps[i].sig)) && e != ESRCH && !reaped)
			return e;
		if (!reaped) {
			e = wait_one(p, WEXITED, &si, steps[i].timeout_ms, cs);
			if (e == ETIMEDOUT)
				continue;
			if (e)
				return e;
			reaped = true;
			note_reaped(p, &si, WEXITED);
			if (status)
				*status = status_of(&si);
		}
		if (!pgid)
			return 0;
		if ((e = wait_group(pgid, end)) != ETIMEDOUT)
			return e;
	}
	return reaped ? EBUSY : ETIMEDOUT;
}

int nf_proc_stop(nf_proc *p, const nf_stop_step *steps, size_t n, unsigned flags, int *status)
{
	if (!p || !steps || !n || (flags & ~NF_STOP_GROUP))
		return EINVAL;
	for (size_t i = 0; i < n; i++)
		if (steps[i].sig < 0 || steps[i].sig >= NSIG || steps[i].timeout_ms < -1)
			return EINVAL;
	if (p->pid <= 0)
		return ECHILD;
	int cs;
	cancel_enter(&cs);
	int e = stop(p, steps, n, flags, status, cs);
	cancel_leave(cs);
	return e;
}

/* ---- signalling and releasing -------------------------------------------------- */

int nf_proc_kill(nf_proc *p, int sig)
{
	NF_NOCANCEL;
	if (!p || p->pid <= 0)
		return p ? ESRCH : EINVAL;
	return send_signal(p, 0, sig);
}

void nf_proc_release(nf_proc *p)
{
	NF_NOCANCEL; /* close is a cancellation point: the pidfd would be gone but still in *p */
	if (!p)
		return;
	if (p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	for (int i = 0; i < p->n_pipes && i < NF_PROC_PIPES; i++)
		if (p->pipes[i].fd >= 0) {
			close(p->pipes[i].fd);
			p->pipes[i].fd = -1;
		}
}
