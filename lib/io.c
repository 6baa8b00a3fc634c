/* Talking to a process: the parent's pipe ends in the handle, communicate
 * (feed stdin, collect stdout/stderr, wait, under one deadline) and nf_run.
 *
 * The ends are served together as each turns ready, so neither side can
 * block the other on a full pipe. Writes to the child's stdin hold SIGPIPE
 * blocked in the calling thread and consume the one a closed pipe raises:
 * the caller's disposition of SIGPIPE is never exercised by nofork. */
#include "nofork_int.h"
#include "rt/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static int pipe_index(const nf_proc *p, int child_fd)
{
	for (int i = 0; p && i < p->n_pipes && i < NF_PROC_PIPES; i++)
		if (p->pipes[i].child_fd == child_fd && p->pipes[i].fd >= 0)
			return i;
	return -1;
}

int nf_proc_fd(const nf_proc *p, int child_fd)
{
	int i = pipe_index(p, child_fd);
	return i < 0 ? -1 : p->pipes[i].fd;
}

int nf_proc_take_fd(nf_proc *p, int child_fd)
{
	int i = pipe_index(p, child_fd);
	if (i < 0)
		return -1;
	int fd = p->pipes[i].fd;
	p->pipes[i].fd = -1;
	return fd;
}

void nf_buf_free(nf_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* poll(2) from a thread; in a coroutine, a look without waiting and, if
 * nothing is ready, a park on a temporary epoll set of the same fds (the
 * runtime's poller watches one fd per wait). Returns the number ready, 0
 * on timeout, or -errno. */
static int poll_fds(struct pollfd *pf, int n, int timeout_ms)
{
	int r = poll(pf, (nfds_t)n, rt_in_coroutine() ? 0 : timeout_ms);
	if (r != 0 || !rt_in_coroutine() || timeout_ms == 0)
		return r < 0 ? (errno == EINTR ? 0 : -errno) : r;
	if (n == 1) { /* the common case (stdout alone): no epoll set to build */
		int e = nf_wait_fd(pf[0].fd, pf[0].events, timeout_ms);
		if (e)
			return e == ETIMEDOUT ? 0 : -e;
		r = poll(pf, 1, 0);
		return r < 0 ? -errno : r;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC), e = 0;
	if (ep < 0)
		return -errno;
	for (int i = 0; i < n && !e; i++) {
		struct epoll_event ev = {.events = (pf[i].events & POLLIN ? EPOLLIN : 0) |
		                                   (pf[i].events & POLLOUT ? EPOLLOUT : 0)};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, pf[i].fd, &ev))
			e = errno;
	}
	if (!e)
		e = nf_wait_fd(ep, POLLIN, timeout_ms);
	close(ep);
	if (e)
		return e == ETIMEDOUT ? 0 : -e;
	r = poll(pf, (nfds_t)n, 0);
	return r < 0 ? -errno : r;
}

/* write(2) with SIGPIPE held off: a reader that went away is EPIPE, and the
 * signal the kernel queued for this thread is taken back (unless one was
 * pending already: that one is not ours to take). */
static ssize_t write_nosignal(int fd, const void *buf, size_t n)
{
	sigset_t pipe_only, old, pending;
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
	sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE);
	ssize_t r = write(fd, buf, n);
	int e = errno;
	if (r < 0 && e == EPIPE && !was_pending)
		sigtimedwait(&pipe_only, NULL, &(struct timespec){0, 0});
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return r;
}

/* Room for at least one more read in b (within max): 0 or ENOMEM. */
static int buf_room(nf_buf *b)
{
	size_t want = b->len + 65536 + 1;
	if (b->max && want > b->max + 1)
		want = b->max + 1;
	if (b->cap >= want)
		return 0;
	size_t cap = b->cap * 2 > want ? b->cap * 2 : want;
	if (b->max && cap > b->max + 1)
		cap = b->max + 1;
	char *d = realloc(b->data, cap);
	if (!d)
		return ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

/* Read what fd has now (it is non-blocking) into b, or drop it (b NULL, or
 * full: then b->truncated). *eof at end of file. 0 or an errno. */
static int drain(int fd, nf_buf *b, bool *eof)
{
	char scratch[4096];
	for (;;) {
		char *to = scratch;
		size_t room = sizeof scratch;
		bool keep = b && (!b->max || b->len < b->max);
		if (keep) {
			if (buf_room(b))
				return ENOMEM;
			to = b->data + b->len;
			room = b->cap - 1 - b->len;
		}
		ssize_t r = read(fd, to, room);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : errno;
		if (r == 0) {
			*eof = true;
			return 0;
		}
		if (keep) {
			b->len += (size_t)r;
			b->data[b->len] = '\0';
		} else if (b) {
			b->truncated = 1;
		}
	}
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? errno : 0;
}

static void close_end(nf_proc *p, int i)
{
	close(p->pipes[i].fd);
	p->pipes[i].fd = -1;
}

static int left_ms(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t ns = deadline - rt_now_ns();
	return ns <= 0 ? 0 : (int)((ns + 999999) / 1000000);
}

int nf_proc_communicate(nf_proc *p, const void *in, size_t in_len, nf_buf *out, nf_buf *err, int *status,
                        int timeout_ms)
{
	NF_NOCANCEL; /* not a cancellation point: a cancel would lose what was read */
	if (!p || timeout_ms < -1 || (in_len && !in))
		return EINVAL;
	int ends[3] = {pipe_index(p, 0), pipe_index(p, 1), pipe_index(p, 2)};
	nf_buf *bufs[3] = {NULL, out, err};
	if ((in_len && ends[0] < 0) || (out && ends[1] < 0) || (err && ends[2] < 0))
		return EINVAL;
	int64_t deadline = timeout_ms < 0 ? -1 : rt_now_ns() + (int64_t)timeout_ms * 1000000;
	if (ends[0] >= 0 && !in_len) {
		close_end(p, ends[0]);
		ends[0] = -1;
	}
	int e = 0;
	for (int k = 0; k < 3 && !e; k++)
		if (ends[k] >= 0)
			e = set_nonblock(p->pipes[ends[k]].fd);
	size_t off = 0;
	bool epipe = false;
	while (!e) {
		struct pollfd pf[3];
		int which[3], n = 0;
		for (int k = 0; k < 3; k++)
			if (ends[k] >= 0) {
				pf[n] = (struct pollfd){p->pipes[ends[k]].fd, k ? POLLIN : POLLOUT, 0};
				which[n++] = k;
			}
		if (!n)
			break;
		int r = poll_fds(pf, n, left_ms(deadline));
		if (r < 0) {
			e = -r;
			break;
		}
		if (r == 0) {
			if (left_ms(deadline) == 0)
				e = ETIMEDOUT;
			continue;
		}
		for (int i = 0; i < n && !e; i++) {
			int k = which[i];
			if (!pf[i].revents)
				continue;
			if (k == 0) {
				ssize_t w = write_nosignal(pf[i].fd, (const char *)in + off, in_len - off);
				if (w < 0 && errno == EPIPE)
					epipe = true;
				else if (w < 0 && errno != EAGAIN && errno != EINTR)
					e = errno;
				else if (w > 0)
					off += (size_t)w;
				if (epipe || off == in_len) {
					close_end(p, ends[0]);
					ends[0] = -1;
				}
			} else {
				bool eof = false;
				e = drain(pf[i].fd, bufs[k], &eof);
				if (eof) {
					close_end(p, ends[k]);
					ends[k] = -1;
				}
			}
		}
	}
	if (!e)
		e = nf_proc_wait(p, status, left_ms(deadline));
	return e ? e : epipe ? EPIPE : 0;
}

int nf_run(const nf_cmd *cmd, const void *in, size_t in_len, nf_buf *out, nf_buf *errout, int *status,
           int timeout_ms, nf_error *err)
{
	nf_proc p;
	int e = nf_spawn(cmd, &p, err);
	if (e)
		return e;
	e = nf_proc_communicate(&p, in, in_len, out, errout, status, timeout_ms);
	if (e && e != EPIPE) {
		/* No handle leaves this call: nothing may stay running or unreaped. */
		nf_proc_kill(&p, SIGKILL);
		int st;
		if (nf_proc_wait(&p, &st, -1) == 0 && status)
			*status = st;
	}
	nf_proc_release(&p);
	return e;
}

/* ---- pipelines ------------------------------------------------------------- */

struct nf_pipeline {
	size_t n;
	nf_proc procs[];
};

/* Kill and reap stages [0, n): a pipeline is started whole or not at all. */
static void pipeline_abandon(nf_pipeline *pl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		nf_proc_kill(&pl->procs[i], SIGKILL);
		nf_proc_wait(&pl->procs[i], NULL, -1);
		nf_proc_release(&pl->procs[i]);
	}
	free(pl);
}

int nf_pipeline_spawn(nf_cmd *const cmds[], size_t n, unsigned flags, nf_pipeline **out, nf_error *err)
{
	NF_NOCANCEL;
	if (out)
		*out = NULL;
	bool bad = !cmds || !n || !out || (flags & ~NF_PIPELINE_PGRP) || n > (SIZE_MAX - sizeof(nf_pipeline)) / sizeof(nf_proc);
	for (size_t i = 0; !bad && i < n; i++)
		bad = !cmds[i];
	if (bad) {
		error_parent(err, EINVAL, NF_OP_NONE);
		return EINVAL;
	}
	nf_pipeline *pl = calloc(1, sizeof *pl + n * sizeof(nf_proc));
	if (!pl) {
		error_parent(err, ENOMEM, NF_OP_NONE);
		return ENOMEM;
	}
	pl->n = n;
	int prev = -1; /* the read end of the pipe from the stage before */
	for (size_t i = 0; i < n; i++) {
		int p[2] = {-1, -1}, e = 0;
		if (i + 1 < n && pipe2(p, O_CLOEXEC))
			e = errno;
		/* Above 0-2: the child dup's them there, in and out in turn. */
		for (int k = 0; k < 2 && !e && p[k] >= 0 && p[k] < 3; k++) {
			int m = fcntl(p[k], F_DUPFD_CLOEXEC, 3);
			e = m < 0 ? errno : 0;
			close(p[k]);
			p[k] = m;
		}
		struct spawn_io io = {
		    .pgid = !(flags & NF_PIPELINE_PGRP) ? -1 : i ? pl->procs[0].pid : 0,
		    .in = prev,
		    .out = p[1],
		};
		if (e)
			error_parent(err, e, NF_OP_PIPE);
		else
			e = spawn_cmd(cmds[i], &io, &pl->procs[i], err);
		if (prev >= 0)
			close(prev);
		if (p[1] >= 0)
			close(p[1]);
		prev = p[0];
		if (e) {
			if (prev >= 0)
				close(prev);
			if (err)
				err->stage = (int)i;
			pipeline_abandon(pl, i);
			return e;
		}
	}
	*out = pl;
	return 0;
}

nf_proc *nf_pipeline_proc(nf_pipeline *pl, size_t i) { return pl && i < pl->n ? &pl->procs[i] : NULL; }

int nf_pipeline_wait(nf_pipeline *pl, int statuses[], int timeout_ms)
{
	if (!pl || timeout_ms < -1)
		return EINVAL;
	int64_t deadline = timeout_ms < 0 ? -1 : rt_now_ns() + (int64_t)timeout_ms * 1000000;
	for (size_t i = 0; i < pl->n; i++) {
		nf_proc *p = &pl->procs[i];
		/* reaped: by an earlier call, or by the caller (communicate) */
		int e = p->reaped ? 0 : nf_proc_wait(p, NULL, left_ms(deadline));
		if (e)
			return e; /* ETIMEDOUT: the stages reaped so far stay reaped */
	}
	for (size_t i = 0; statuses && i < pl->n; i++)
		statuses[i] = pl->procs[i].status;
	return 0;
}

void nf_pipeline_release(nf_pipeline *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n; i++)
		nf_proc_release(&pl->procs[i]);
	free(pl);
}
