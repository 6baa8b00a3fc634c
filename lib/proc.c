/* Process handles: waiting, signalling and releasing through the pidfd, so
 * a recycled pid is never hit. Without a pidfd (old kernels) the pid is used,
 * which is safe only until the child is reaped. */
#include "nofork_int.h"
#include "rt/rt.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif


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

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* One non-blocking or blocking waitid; 0 with *done set when reaped. */
static int try_wait(const nf_proc *p, int *status, bool block, bool *done)
{
	siginfo_t si = {0};
	int flags = WEXITED | (block ? 0 : WNOHANG), r;
	do
		r = p->pidfd >= 0 ? waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, flags)
		                  : waitid(P_PID, (id_t)p->pid, &si, flags);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	*done = si.si_pid != 0;
	if (*done && status)
		*status = status_of(&si);
	return 0;
}

/* Readiness of the pidfd (it becomes readable when the process exits), in
 * the poller inside a coroutine, else poll(2). */
static int await_exit(const nf_proc *p, int timeout_ms)
{
	if (nf_rt_in_coroutine())
		return nf_wait_fd(p->pidfd, POLLIN, timeout_ms);
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

int nf_proc_wait(nf_proc *p, int *status, int timeout_ms)
{
	if (!p || timeout_ms < -1)
		return EINVAL;
	if (p->pid <= 0)
		return ECHILD;
	bool done = false;
	int e;
	if (p->pidfd >= 0) {
		if (timeout_ms != -1 || nf_rt_in_coroutine()) {
			/* Already ended (short-lived children often are): reap it
			 * without registering with the poller and parking. */
			if ((e = try_wait(p, status, false, &done)) || done)
				return e;
			if ((e = await_exit(p, timeout_ms)))
				return e;
		}
		if ((e = try_wait(p, status, true, &done)))
			return e;
		return 0;
	}
	/* No pidfd: nothing to poll, so back off between WNOHANG checks. */
	long long deadline = now_ms() + timeout_ms;
	for (long ns = 1000000;; ns = ns < 50000000 ? ns * 2 : ns) {
		/* A coroutine must not block its worker in waitid: it polls and
		 * parks in nf_sleep_ms between polls instead. */
		if ((e = try_wait(p, status, timeout_ms == -1 && !nf_rt_in_coroutine(), &done)) || done)
			return e;
		if (timeout_ms >= 0 && now_ms() >= deadline)
			return ETIMEDOUT;
		if (nf_rt_in_coroutine())
			nf_sleep_ms((int)(ns / 1000000));
		else
			nanosleep(&(struct timespec){0, ns}, NULL);
	}
}

int nf_proc_kill(nf_proc *p, int sig)
{
	if (!p || p->pid <= 0)
		return p ? ESRCH : EINVAL;
	long r = p->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) : kill(p->pid, sig);
	return r < 0 ? errno : 0;
}

void nf_proc_release(nf_proc *p)
{
	if (p && p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
}
