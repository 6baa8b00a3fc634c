/* Process handles: waiting, signalling and releasing through the pidfd, so
 * a recycled pid is never hit. Without a pidfd (old kernels) the pid is used,
 * which is safe only until the child is reaped. */
#include "nofork_int.h"
#include "rt/rt.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


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

static long long now_ms(void) { return rt_now_ns() / 1000000; }

int proc_waitid(pid_t pid, int pidfd, siginfo_t *si, int flags)
{
	int r;
	do
		r = pidfd >= 0 ? waitid((idtype_t)P_PIDFD, (id_t)pidfd, si, flags) : waitid(P_PID, (id_t)pid, si, flags);
	while (r < 0 && errno == EINTR);
	return r < 0 ? errno : 0;
}

/* One waitid on the handle with `flags` (WEXITED, plus WNOHANG and/or
 * WNOWAIT); *done when it reported the child. */
static int wait_once(const nf_proc *p, int *status, int flags, bool *done)
{
	siginfo_t si = {0};
	int e = proc_waitid(p->pid, p->pidfd, &si, flags);
	if (e)
		return e;
	*done = si.si_pid != 0;
	if (*done && status)
		*status = status_of(&si);
	return 0;
}

/* poll(2) on the pidfd, which turns readable when the process has ended. */
static int poll_exit(const nf_proc *p, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	for (;;) {
		int left = timeout_ms < 0 ? -1 : (int)(deadline - now_ms());
		if (timeout_ms >= 0 && left < 0)
			left = 0;
		int r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r == 0)
			return ETIMEDOUT;
		if (errno != EINTR)
			return errno;
	}
}

/* From a thread nf_proc_wait is a cancellation point, as waitpid is, and a
 * clean one: it can be cancelled only while it sleeps in a call that reaps
 * nothing (waitid with WNOWAIT, poll on the pidfd, nanosleep), and it reaps
 * with cancellation disabled. waitid itself would not do: glibc (2.36 at
 * least) acts on a cancel that arrives while waitid returns from reaping
 * the child, and the status would be lost with the child gone.
 * `cs` is the caller's cancel state, restored around those sleeps. */
static int wait_thread(const nf_proc *p, int *status, int timeout_ms, int cs)
{
	bool done = false;
	int e;
	if (p->pidfd >= 0 || timeout_ms == -1) {
		pthread_setcancelstate(cs, NULL);
		e = timeout_ms == -1 ? wait_once(p, NULL, WEXITED | WNOWAIT, &done) : poll_exit(p, timeout_ms);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		/* The child has ended: this returns at once. */
		return e ? e : wait_once(p, status, WEXITED, &done);
	}
	/* No pidfd to poll and a timeout: check, and back off between checks. */
	long long deadline = now_ms() + timeout_ms;
	for (long ns = 1000000;; ns = ns < 50000000 ? ns * 2 : ns) {
		if ((e = wait_once(p, status, WEXITED | WNOHANG, &done)) || done)
			return e;
		if (now_ms() >= deadline)
			return ETIMEDOUT;
		pthread_setcancelstate(cs, NULL);
		nanosleep(&(struct timespec){0, ns}, NULL);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	}
}

/* In a coroutine nothing blocks the worker: the wait parks the coroutine
 * in the poller (on the pidfd, or in nf_sleep_ms between checks). */
static int wait_coroutine(const nf_proc *p, int *status, int timeout_ms)
{
	bool done = false;
	int e;
	/* Already ended (short-lived children often are): reap it without
	 * registering with the poller and parking. */
	if ((e = wait_once(p, status, WEXITED | WNOHANG, &done)) || done)
		return e;
	if (p->pidfd >= 0) {
		if ((e = nf_wait_fd(p->pidfd, POLLIN, timeout_ms)))
			return e;
		return wait_once(p, status, WEXITED, &done);
	}
	long long deadline = now_ms() + timeout_ms;
	for (long ns = 1000000;; ns = ns < 50000000 ? ns * 2 : ns) {
		if (timeout_ms >= 0 && now_ms() >= deadline)
			return ETIMEDOUT;
		nf_sleep_ms((int)(ns / 1000000));
		if ((e = wait_once(p, status, WEXITED | WNOHANG, &done)) || done)
			return e;
	}
}

int nf_proc_wait(nf_proc *p, int *status, int timeout_ms)
{
	if (!p || timeout_ms < -1)
		return EINVAL;
	if (p->pid <= 0)
		return ECHILD;
	int st = 0, e;
	if (rt_in_coroutine()) {
		e = wait_coroutine(p, &st, timeout_ms);
	} else {
		int cs;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
		e = wait_thread(p, &st, timeout_ms, cs);
		pthread_setcancelstate(cs, NULL);
	}
	if (!e) {
		p->reaped = 1;
		p->status = st;
		if (status)
			*status = st;
	}
	return e;
}

int nf_proc_kill(nf_proc *p, int sig)
{
	NF_NOCANCEL;
	if (!p || p->pid <= 0)
		return p ? ESRCH : EINVAL;
	long r = p->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) : kill(p->pid, sig);
	return r < 0 ? errno : 0;
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
