/* The poller: one epoll instance, a timer heap, and the parking calls built
 * on them (nf_sleep_ms, nf_wait_fd).
 *
 * Every change of a coroutine's wait state (registering, an fd event, a timer
 * firing) happens under rt.poll_lock, so exactly one of "fd ready" and "timed
 * out" wins, and a registration is complete before anyone can resume the
 * coroutine. An epoll event carries the coroutine pointer plus its wait
 * generation: an event harvested just before the coroutine gave up waiting
 * (timeout) is recognised as stale and dropped.
 */
#include "rt_int.h"
#include "nofork_int.h" /* array_grow */

#include <nofork.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 128
#define GEN_SHIFT NF_PTR_BITS
#define PTR_MASK NF_PTR_MASK
#define KICK_TAG 0 /* epoll data of the eventfd; no coroutine is at address 0 */

/* The runtime's fds stay above 2: a caller that closed its stdio would
 * otherwise find the epoll or the eventfd where it expects its own stdin,
 * stdout or stderr (and hand it to a child as such). */
static int above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	errno = e;
	return moved;
}

int rt_poll_init(void)
{
	rt.epfd = above_stdio(epoll_create1(EPOLL_CLOEXEC));
	if (rt.epfd < 0)
		return errno;
	rt.evfd = above_stdio(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (rt.evfd < 0)
		return errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = KICK_TAG};
	if (epoll_ctl(rt.epfd, EPOLL_CTL_ADD, rt.evfd, &ev))
		return errno;
	return 0;
}

void rt_poll_fini(void)
{
	if (rt.evfd >= 0)
		close(rt.evfd);
	if (rt.epfd >= 0)
		close(rt.epfd);
	rt.evfd = rt.epfd = -1;
	free(rt.heap);
	rt.heap = NULL;
	rt.heap_len = rt.heap_cap = 0;
	atomic_store(&rt.next_deadline, INT64_MAX);
}

void rt_poll_reset_child(void)
{
	/* Closing drops only the child's references: the parent's epoll
	 * instance and its registrations live on. */
	pthread_mutex_init(&rt.poll_lock, NULL);
	rt_poll_fini();
}

void rt_poll_kick(void)
{
	int expect = 0;
	if (rt.evfd < 0 || !atomic_compare_exchange_strong(&rt.poll_kicked, &expect, 1))
		return;
	uint64_t one = 1;
	/* EAGAIN only when the counter is saturated: the poller wakes anyway. */
	ssize_t r = write(rt.evfd, &one, sizeof one);
	(void)r;
}

/* ---- timer heap (binary min-heap on deadline; caller holds poll_lock) ---- */

static void heap_set(size_t i, struct co *co)
{
	rt.heap[i] = co;
	co->heap_idx = i;
}

static void heap_up(size_t i)
{
	struct co *co = rt.heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (rt.heap[p]->deadline <= co->deadline)
			break;
		heap_set(i, rt.heap[p]);
		i = p;
	}
	heap_set(i, co);
}

static void heap_down(size_t i)
{
	struct co *co = rt.heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= rt.heap_len)
			break;
		if (c + 1 < rt.heap_len && rt.heap[c + 1]->deadline < rt.heap[c]->deadline)
			c++;
		if (co->deadline <= rt.heap[c]->deadline)
			break;
		heap_set(i, rt.heap[c]);
		i = c;
	}
	heap_set(i, co);
}

static void heap_publish(void)
{
	atomic_store(&rt.next_deadline, rt.heap_len ? rt.heap[0]->deadline : INT64_MAX);
}

static int heap_push(struct co *co)
{
	if (array_grow((void **)&rt.heap, &rt.heap_cap, rt.heap_len, 1, sizeof *rt.heap))
		return ENOMEM;
	rt.heap[rt.heap_len++] = co;
	heap_up(rt.heap_len - 1);
	heap_publish();
	return 0;
}

static void heap_remove(struct co *co)
{
	size_t i = co->heap_idx;
	if (i == NO_HEAP)
		return;
	co->heap_idx = NO_HEAP;
	struct co *last = rt.heap[--rt.heap_len];
	if (i < rt.heap_len) {
		heap_set(i, last);
		heap_up(i);
		heap_down(last->heap_idx);
	}
	heap_publish();
}

/* Pop due timers into a list (caller holds poll_lock). */
static struct co *heap_expire(int64_t now, struct co *list)
{
	while (rt.heap_len && rt.heap[0]->deadline <= now) {
		struct co *co = rt.heap[0];
		heap_remove(co);
		co->wait_state = W_TIMEDOUT;
		co->next = list;
		list = co;
	}
	return list;
}

/* Make a list runnable on this worker, oldest deadline first. */
static int ready_list(struct co *list)
{
	struct co *rev = NULL;
	int n = 0;
	while (list) {
		struct co *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct co *next = rev->next;
		rt_ready(rev);
		rev = next;
		n++;
	}
	return n;
}

int rt_timers_due(struct worker *w)
{
	(void)w;
	int64_t dl = atomic_load_explicit(&rt.next_deadline, memory_order_relaxed);
	if (dl == INT64_MAX || dl > rt_now_ns())
		return 0;
	pthread_mutex_lock(&rt.poll_lock);
	struct co *list = heap_expire(rt_now_ns(), NULL);
	pthread_mutex_unlock(&rt.poll_lock);
	return ready_list(list);
}

/* epoll_pwait2 takes a nanosecond timeout (Linux 5.11); epoll_wait's whole
 * milliseconds would make every short sleep up to 1 ms late. */
static int epoll_wait_ns(struct epoll_event *evs, int timeout_ms, int64_t ns)
{
	static _Atomic int no_pwait2;
	if (timeout_ms > 0 && ns >= 0 && !atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
		struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
		int n = (int)syscall(SYS_epoll_pwait2, rt.epfd, evs, MAX_EVENTS, &ts, NULL, 0);
		if (n >= 0 || errno != ENOSYS)
			return n;
		atomic_store_explicit(&no_pwait2, 1, memory_order_relaxed);
	}
	return epoll_wait(rt.epfd, evs, MAX_EVENTS, timeout_ms);
}

int rt_poll(struct worker *w, int block, uint32_t seq)
{
	int timeout = 0;
	int64_t left_ns = -1;
	if (block) {
		atomic_store(&rt.poll_blocked, 1);
		if (atomic_load(&rt.seq) != seq || atomic_load(&rt.stopping) || rt_work_visible(w)) {
			atomic_store(&rt.poll_blocked, 0);
			return 0;
		}
		int64_t dl = atomic_load(&rt.next_deadline);
		if (dl == INT64_MAX) {
			timeout = -1;
		} else {
			left_ns = dl - rt_now_ns();
			if (left_ns < 0)
				left_ns = 0;
			/* Round up: waking early would only poll again. */
			timeout = left_ns >= (int64_t)INT32_MAX * 1000000 ? INT32_MAX : (int)((left_ns + 999999) / 1000000);
		}
	}
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait_ns(evs, timeout, left_ns);
	atomic_store(&rt.poll_blocked, 0);
	struct co *list = NULL;
	pthread_mutex_lock(&rt.poll_lock);
	for (int i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64;
		if (d == KICK_TAG) {
			uint64_t v;
			ssize_t r = read(rt.evfd, &v, sizeof v);
			(void)r;
			atomic_store(&rt.poll_kicked, 0);
			continue;
		}
		struct co *co = (struct co *)(uintptr_t)(d & PTR_MASK);
		if (co->wait_gen != (uint16_t)(d >> GEN_SHIFT) || co->wait_state != W_WAITING)
			continue; /* stale: that wait already timed out */
		co->wait_state = W_FIRED;
		heap_remove(co);
		co->next = list;
		list = co;
	}
	list = heap_expire(rt_now_ns(), list);
	pthread_mutex_unlock(&rt.poll_lock);
	return ready_list(list);
}

/* ---- parking ------------------------------------------------------------ */

static int64_t deadline_after(int ms) { return rt_now_ns() + (int64_t)ms * 1000000; }

/* Push co's timer; kick the poller if it now expires first. Holds poll_lock. */
static int arm_timer(struct co *co, int ms, int *kick)
{
	co->deadline = deadline_after(ms);
	int e = heap_push(co);
	*kick = !e && co->heap_idx == 0 && atomic_load(&rt.poll_blocked);
	return e;
}

/* Runs on the scheduler stack after co switched out. */
static void commit_sleep(struct co *co, void *arg)
{
	int ms = *(int *)arg, kick;
	pthread_mutex_lock(&rt.poll_lock);
	co->wait_gen++;
	co->wait_state = W_WAITING;
	int e = arm_timer(co, ms, &kick);
	if (e) {
		co->wait_state = W_IDLE;
		co->wait_result = e;
	}
	pthread_mutex_unlock(&rt.poll_lock);
	/* co may be running elsewhere now: touch only what is ours. */
	if (e)
		rt_ready(co);
	else if (kick)
		rt_poll_kick();
}

static int thread_sleep(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts))
		if (errno != EINTR)
			return errno;
	return 0;
}

int nf_sleep_ms(int ms)
{
	if (ms < 0)
		return EINVAL;
	struct co *co = rt_current();
	if (!co)
		return thread_sleep(ms);
	if (ms == 0) {
		nf_yield();
		return 0;
	}
	co->wait_result = 0;
	rt_park(co, commit_sleep, &ms);
	return co->wait_state == W_TIMEDOUT ? 0 : co->wait_result;
}

struct fd_wait {
	int fd;      /* the fd registered in epoll (the caller's, or a dup) */
	int dup;     /* our dup of the caller's fd, or -1 */
	short events;
	int timeout_ms;
};

static void commit_fd_wait(struct co *co, void *arg)
{
	struct fd_wait *fw = arg;
	int kick = 0, e = 0;
	pthread_mutex_lock(&rt.poll_lock);
	co->wait_gen++;
	co->wait_state = W_WAITING;
	co->wait_result = 0;
	if (fw->timeout_ms > 0)
		e = arm_timer(co, fw->timeout_ms, &kick);
	struct epoll_event ev = {
		.events = (uint32_t)(uint16_t)fw->events | EPOLLONESHOT,
		.data.u64 = (uint64_t)(uintptr_t)co | (uint64_t)co->wait_gen << GEN_SHIFT,
	};
	/* Registered under the lock, so the event (or the timer) cannot resume
	 * co before fw is final. */
	if (!e && epoll_ctl(rt.epfd, EPOLL_CTL_ADD, fw->fd, &ev)) {
		e = errno;
		if (e == EEXIST) {
			/* Another coroutine waits on this fd: epoll keys on (file, fd),
			 * so a second descriptor for the same file gets its own entry. */
			fw->dup = fcntl(fw->fd, F_DUPFD_CLOEXEC, 3); /* not 0-2: see above_stdio */
			e = fw->dup < 0 ? errno : 0;
			if (!e) {
				fw->fd = fw->dup;
				if (epoll_ctl(rt.epfd, EPOLL_CTL_ADD, fw->fd, &ev))
					e = errno;
			}
		}
		if (e == EPERM) {
			/* A regular file or directory: always ready, as poll() says. */
			e = 0;
			co->wait_state = W_FIRED;
			heap_remove(co);
			fw->fd = -1;
			pthread_mutex_unlock(&rt.poll_lock);
			rt_ready(co);
			return;
		}
	}
	if (e) {
		co->wait_state = W_IDLE;
		co->wait_result = e;
		heap_remove(co);
		fw->fd = -1;
	}
	pthread_mutex_unlock(&rt.poll_lock);
	if (e)
		rt_ready(co);
	else if (kick)
		rt_poll_kick();
}

static int thread_wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t end = timeout_ms > 0 ? deadline_after(timeout_ms) : 0;
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return p.revents & POLLNVAL ? EBADF : 0;
		if (r == 0)
			return ETIMEDOUT;
		if (errno != EINTR)
			return errno;
		if (timeout_ms > 0) {
			int64_t left = end - rt_now_ns();
			timeout_ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
		}
	}
}

static int wait_fd(int fd, short events, int timeout_ms, bool closing)
{
	if (fd < 0)
		return EBADF;
	if (timeout_ms < -1)
		return EINVAL;
	struct co *co = rt_current();
	if (!co || timeout_ms == 0)
		return thread_wait_fd(fd, events, timeout_ms);
	struct fd_wait fw = {.fd = fd, .dup = -1, .events = events, .timeout_ms = timeout_ms};
	rt_park(co, commit_fd_wait, &fw);
	/* Resumed: whoever woke us has finished with the wait state. A late
	 * event for this generation is dropped by the poller. */
	int r = co->wait_state == W_TIMEDOUT ? ETIMEDOUT : co->wait_state == W_FIRED ? 0 : co->wait_result;
	/* A fired registration is one-shot, hence disabled: for an fd about to
	 * be closed, the close drops it (once no other descriptor refers to
	 * the file) and the DEL can be saved. */
	if (fw.fd >= 0 && !(closing && fw.fd == fd && r == 0))
		epoll_ctl(rt.epfd, EPOLL_CTL_DEL, fw.fd, NULL);
	if (fw.dup >= 0)
		close(fw.dup);
	return r;
}

int nf_wait_fd(int fd, short events, int timeout_ms) { return wait_fd(fd, events, timeout_ms, false); }

int rt_wait_fd_closing(int fd, short events) { return wait_fd(fd, events, -1, true); }
