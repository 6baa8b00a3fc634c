/* Starting the child: get a pooled stack, block every signal, clone onto the
 * stack with the asm trampoline, restore the mask, read the report.
 *
 * From a thread: clone3(CLONE_VM|CLONE_VFORK|CLONE_FILES|CLONE_PIDFD|
 * CLONE_CLEAR_SIGHAND); the child leaves the shared fd table first, copying
 * only the fds the plan names (CLONE_FILES only with an fd policy).
 * The caller sleeps until the child exec'd or exited, so the report in the run
 * record (top of the child's stack, shared memory) is final when clone
 * returns: no pipe, three syscalls in the parent once the stack pool is warm.
 * CLONE_VFORK stays because qemu-user and CET shadow stacks treat a CLONE_VM
 * child without it as a thread.
 *
 * From a coroutine: the same without CLONE_VFORK, plus a close-on-exec report
 * pipe. The coroutine parks on the pipe in the poller; EOF means the child
 * has left our memory (exec closes it after switching mm, exit after
 * releasing mm), so only then are the stack and the report read and reused.
 * Unless another worker idles (rt_spawn_may_block): then nothing waits for
 * this worker and the thread way is cheaper (no pipe, no epoll, no wake-up,
 * and CLONE_FILES).
 *
 * Fallbacks, each chosen once and remembered: clone3 refused (ENOSYS; EPERM
 * from a seccomp filter; EINVAL from a kernel without CLONE_CLEAR_SIGHAND) →
 * clone(2) with the child resetting handlers itself; CLONE_PIDFD refused →
 * pid only; CLONE_INTO_CGROUP refused → the child writes itself into
 * cgroup.procs. */
#include "nofork_int.h"
#include "rt/rt.h"
#include "stack_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* run->index before the clone; the child's first store makes it -1. Still
 * this value after the clone: the child never wrote to our memory. */
#define RUN_UNTOUCHED (-2)

long nf_child_clone3(struct clone_args *args, size_t size, nf_run *run);
long nf_child_clone(unsigned long flags, void *stack_top, int *pidfd, nf_run *run);


extern char **environ;

static _Atomic int clone3_refused;
static _Atomic int pidfd_refused;
static _Atomic int files_refused; /* the child could not unshare a shared fd table */

/* Raw, so the glibc-internal signals (cancellation, setxid) are blocked too:
 * the child must not take any signal before its handlers are reset. */
static void block_all(uint64_t *old)
{
	uint64_t all = ~UINT64_C(0);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, old, sizeof all);
}

static void restore_mask(const uint64_t *old)
{
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, old, NULL, sizeof *old);
}

static long clone_child(const nf_plan *plan, nf_stack *st, nf_run *run, int *pidfd, bool vfork)
{
	bool want_pidfd = !(plan->flags & PLANF_NO_PIDFD);
	uint64_t base = CLONE_VM | (vfork ? CLONE_VFORK : 0);
	/* Share our fd table instead of having the kernel copy it, every open
	 * file with it, for a child that would close them all again: the child
	 * unshares it first, copying only the fds below plan->fd_first. Not
	 * from a coroutine: the report pipe's write end must reach the child's
	 * table before we close ours, and nothing orders the two. Not with
	 * clone(2) either: that fallback serves old kernels and emulators, and
	 * valgrind (which refuses clone3) aborts on CLONE_VM|CLONE_VFORK with
	 * CLONE_FILES. */
	int shared = vfork && plan->fd_first && !atomic_load_explicit(&files_refused, memory_order_relaxed)
	                 ? RUN_SHARED_FDS
	                 : 0;
	if (shared)
		base |= CLONE_FILES;
	run->legacy = shared;
	long r;
	if (!atomic_load_explicit(&clone3_refused, memory_order_relaxed)) {
		struct clone_args ca = {
		    .flags = base | CLONE_CLEAR_SIGHAND | (want_pidfd ? CLONE_PIDFD : 0),
		    .pidfd = (uintptr_t)pidfd,
		    .exit_signal = SIGCHLD,
		    .stack = (uintptr_t)st->lo,
		    .stack_size = (uintptr_t)run - (uintptr_t)st->lo,
		};
		if (plan->cgroup_fd >= 0) {
			ca.flags |= CLONE_INTO_CGROUP;
			ca.cgroup = (uint64_t)plan->cgroup_fd;
		}
		r = nf_child_clone3(&ca, sizeof ca, run);
		if (r < 0 && plan->cgroup_fd >= 0 && r != -EAGAIN && r != -ENOMEM) {
			/* Whatever kept clone3 from placing the child, let the
			 * child join by itself; its error, if any, is precise. */
			ca.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
			run->legacy = shared | LEGACY_JOIN_CGROUP;
			r = nf_child_clone3(&ca, sizeof ca, run);
		}
		if (r >= 0 || (r != -ENOSYS && r != -EPERM && r != -EINVAL))
			return r;
		atomic_store_explicit(&clone3_refused, 1, memory_order_relaxed);
	}
	run->legacy = LEGACY_RESET_SIGNALS | (plan->cgroup_fd >= 0 ? LEGACY_JOIN_CGROUP : 0);
	unsigned long flags = (base & ~(uint64_t)CLONE_FILES) | SIGCHLD;
	if (want_pidfd && !atomic_load_explicit(&pidfd_refused, memory_order_relaxed)) {
		r = nf_child_clone(flags | CLONE_PIDFD, run, pidfd, run);
		if (r != -EINVAL)
			return r;
		atomic_store_explicit(&pidfd_refused, 1, memory_order_relaxed);
	}
	*pidfd = -1;
	return nf_child_clone(flags, run, pidfd, run);
}

/* Reap a child that failed before exec (it is exiting or gone); returns the
 * signal that killed it, or 0. */
static int reap(pid_t pid, int pidfd)
{
	siginfo_t si = {0};
	int r;
	do
		r = pidfd >= 0 ? waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED)
		               : waitid(P_PID, (id_t)pid, &si, WEXITED);
	while (r < 0 && errno == EINTR);
	/* ECHILD: SIGCHLD is ignored and the kernel reaped it already. */
	if (pidfd >= 0)
		close(pidfd);
	return r == 0 && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) ? si.si_status : 0;
}

static nf_run *run_init(const nf_plan *plan, char *top)
{
	nf_run *run = (nf_run *)(top - sizeof(nf_run));
	*run = (nf_run){
	    .plan = plan,
	    .envp = plan->envp ? plan->envp : environ,
	    .rfd = -1,
	    .rfd_r = -1,
	    .index = RUN_UNTOUCHED,
	};
	if (plan->flags & PLANF_PDEATH)
		run->ppid = getpid();
	return run;
}

/* Wait in the poller until the report pipe's write end is gone everywhere.
 * Nobody writes to the pipe, so readiness is EOF: no read, before (the
 * child is hardly ever through that soon) or after. */
static int await_eof(int fd)
{
	int e;
	while ((e = rt_wait_fd_closing(fd, POLLIN)) == EINTR)
		;
	return e;
}

/* A child that changes its euid/egid makes the kernel reset the dumpable
 * flag of its mm (commit_creds: to fs.suid_dumpable, usually 0), and until
 * exec that mm is ours: the caller would lose core dumps and ptrace, and its
 * /proc files would turn root-owned. So the flag is put back once no such
 * child is in our memory any more. Concurrent id-changing spawns are
 * counted, so one that reads the flag during another's window does not
 * take the transient 0 for the caller's choice; a caller's own
 * PR_SET_DUMPABLE racing such a spawn may be undone. */
static _Atomic int ids_in_flight;
static _Atomic bool ids_restore;

static void ids_begin(const nf_plan *plan)
{
	if (!(plan->flags & PLANF_IDS))
		return;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)
		atomic_store(&ids_restore, true);
	atomic_fetch_add(&ids_in_flight, 1);
}

static void ids_end(const nf_plan *plan)
{
	if (plan->flags & PLANF_IDS && atomic_fetch_sub(&ids_in_flight, 1) == 1 && atomic_exchange(&ids_restore, false))
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* st NULL: a stack from the pool, given back before returning; else the
 * caller's, with the run record below top (nf_spawn_plan). */
static int spawn_plan(const nf_plan *plan, nf_stack *st, char *top, nf_proc *proc, nf_error *err,
                      bool in_coroutine)
{
	bool own = !st;
	int e;
	if (own) {
		if ((e = nf_stack_get(NF_CHILD_STACK, &st))) {
			nf_error_parent(err, e, NF_OP_CLONE);
			return e;
		}
		top = nf_stack_top(st);
	}
	nf_run *run = run_init(plan, top);
	int pipefd[2] = {-1, -1};
	if (in_coroutine) {
		rt_spawn_slot_take();
		if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
			e = errno;
			rt_spawn_slot_give();
			if (own)
				nf_stack_put(st);
			nf_error_parent(err, e, NF_OP_REPORT);
			return e;
		}
		run->rfd_r = pipefd[0];
		run->rfd = pipefd[1];
	}

	int pidfd = -1;
	uint64_t old;
	ids_begin(plan);
	block_all(&old);
	run->mask = plan->flags & PLANF_MASK ? plan->mask : old;
	long pid = clone_child(plan, st, run, &pidfd, !in_coroutine);
	restore_mask(&old);

	if (in_coroutine) {
		close(pipefd[1]);
		if (pid >= 0 && (e = await_eof(pipefd[0]))) {
			/* The poller failed us: the child may still run on the
			 * stack, so wait for it the blocking way before reuse. */
			struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
			while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
				;
		}
		close(pipefd[0]);
		rt_spawn_slot_give();
	}
	nf_run report = *run; /* the child is out of our memory: final */
	if (own)
		nf_stack_put(st);
	ids_end(plan);

	if (pid < 0) {
		nf_error_parent(err, (int)-pid, NF_OP_CLONE);
		return (int)-pid;
	}
	if (report.index == RUN_UNTOUCHED) {
		/* The clone did not share our memory: valgrind and qemu-user run
		 * CLONE_VM|CLONE_VFORK as a plain fork (valgrind also answers
		 * clone3 with ENOSYS). The child's outcome cannot be read here,
		 * and it may well be running the program already: report the
		 * start, as glibc does in the same place; a failed step shows as
		 * exit status 127. (A child SIGKILLed before its first
		 * instruction looks the same.) */
		report.index = (int32_t)plan->n_ops - 1;
	}
	if (!report.err && report.index != (int32_t)plan->n_ops - 1) {
		/* No errno and not at exec: a signal ended it on the way. */
		report.err = EINTR;
		report.kind = report.index >= 0                           ? (int32_t)plan->ops[report.index].kind
		              : report.legacy & LEGACY_RESET_SIGNALS ? NF_OP_SIGRESET
		                                                     : NF_OP_NONE;
	}
	if (report.err && report.index == -1 && report.kind == OPK_CLOSE_FDS && report.legacy & RUN_SHARED_FDS) {
		/* Neither close_range(CLOSE_RANGE_UNSHARE) nor unshare(CLONE_FILES)
		 * (a seccomp filter): from now on the kernel copies the table. */
		reap((pid_t)pid, pidfd);
		atomic_store_explicit(&files_refused, 1, memory_order_relaxed);
		return spawn_plan(plan, own ? NULL : st, top, proc, err, in_coroutine);
	}
	if (report.err) {
		int sig = reap((pid_t)pid, pidfd);
		if (err) {
			nf_error_fill(err, plan, &report);
			err->signal = report.err == EINTR ? sig : 0;
		}
		return report.err;
	}
	/* Job-control stops that reached the child between its last unblock
	 * and execve were caught there instead of stopping it before exec
	 * (which would have hung a CLONE_VFORK spawn): the program gets them
	 * now, as if they had come just after the exec. */
	for (int sig = SIGTSTP; report.stops && sig <= SIGTTOU; sig++)
		if (report.stops & (1u << sig)) {
			if (pidfd >= 0)
				syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
			else
				kill((pid_t)pid, sig); /* not reaped yet: the pid is still it */
		}
	proc->pid = (pid_t)pid;
	proc->pidfd = pidfd;
	return 0;
}

int nf_spawn(const nf_cmd *cmd, nf_proc *proc, nf_error *err)
{
	if (proc)
		*proc = (nf_proc){-1, -1};
	if (!cmd || !proc) {
		nf_error_parent(err, EINVAL, NF_OP_NONE);
		return EINVAL;
	}
	const nf_plan *plan;
	int e = nf_cmd_plan(cmd, &plan);
	if (e) {
		nf_error_parent(err, e, NF_OP_NONE);
		return e;
	}
	return nf_spawn_plan(plan, NULL, NULL, proc, err);
}

int nf_spawn_plan(const nf_plan *plan, nf_stack *st, char *top, nf_proc *proc, nf_error *err)
{
	return spawn_plan(plan, st, top, proc, err, nf_rt_in_coroutine() && !rt_spawn_may_block());
}
