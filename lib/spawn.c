/* Starting the child: get a pooled stack, block every signal, clone onto the
 * stack with the asm trampoline, restore the mask, read the report.
 *
 * clone3(CLONE_VM|CLONE_VFORK|CLONE_FILES|CLONE_PIDFD|CLONE_CLEAR_SIGHAND);
 * the child leaves the shared fd table first, copying only the fds the plan
 * names (CLONE_FILES only with an fd policy), and closes its copy of the
 * pidfd the kernel put into that table (it is the caller's, not the
 * program's: with fd 0 closed it would sit at 0).
 * The caller sleeps until the child exec'd or exited, so the report in the run
 * record (top of the child's stack, shared memory) is final when clone
 * returns: no pipe, three syscalls in the parent once the stack pool is warm.
 * CLONE_VFORK also because qemu-user and CET shadow stacks treat a CLONE_VM
 * child without it as a thread.
 *
 * From a coroutine the same spawn runs on a runtime helper thread while the
 * coroutine parks (lib/rt/offload.c), or on the coroutine's own worker while
 * another worker idles (rt_spawn_may_block): nothing then waits for it.
 *
 * Fallbacks, each chosen once and remembered: clone3 refused (ENOSYS; EPERM
 * from a seccomp filter; EINVAL from a kernel without CLONE_CLEAR_SIGHAND) →
 * clone(2) with the child resetting handlers itself; CLONE_PIDFD refused →
 * pid only; CLONE_INTO_CGROUP refused → the child writes itself into
 * cgroup.procs. A child step with a fallback (close_range, unshare,
 * rt_sigpending) that a seccomp filter kills instead of failing (SIGSYS,
 * the style of systemd's SystemCallFilter) is remembered from the step the
 * child was in, and the spawn is made again the other way. */
#include "nofork_int.h"
#include "rt/rt.h"
#include "stack_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
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

/* run->index before the clone; the child's first store makes it -1. Still
 * this value after the clone: the child never wrote to our memory. */
#define RUN_UNTOUCHED (-2)

long child_clone3(struct clone_args *args, size_t size, nf_run_rec *run);
long child_clone(unsigned long flags, void *stack_top, int *pidfd, nf_run_rec *run);


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

static _Atomic int close_range_refused; /* close_range killed a child: fall back at once */
static _Atomic int sigpending_refused;   /* rt_sigpending killed a child: skip the check */

/* The clone itself, with its fallbacks. */
static long clone_once(const nf_plan *plan, nf_stack *st, nf_run_rec *run)
{
	bool want_pidfd = !(plan->flags & PLANF_NO_PIDFD);
	/* A child whose id maps we write must not put us to sleep until its
	 * exec: it waits for us instead, and we for it through the word the
	 * kernel clears when it execs or exits (CLONE_CHILD_CLEARTID). */
	bool maps = plan->flags & PLANF_MAPS;
	uint64_t base = CLONE_VM | (maps ? CLONE_CHILD_CLEARTID : CLONE_VFORK) | plan->ns;
	/* Share our fd table instead of having the kernel copy it, every open
	 * file with it, for a child that would close them all again: the child
	 * unshares it first, copying only the fds below plan->fd_first. Not
	 * with clone(2): that fallback serves old kernels and emulators, and
	 * valgrind (which refuses clone3) aborts on CLONE_VM|CLONE_VFORK with
	 * CLONE_FILES. */
	int mode = (atomic_load_explicit(&close_range_refused, memory_order_relaxed) ? MODE_NO_CLOSE_RANGE : 0) |
	           (atomic_load_explicit(&sigpending_refused, memory_order_relaxed) ? MODE_NO_SIGPENDING : 0);
	/* Not with the maps' wait: we go on running while the child would
	 * still share our table. */
	int shared = plan->fd_first && !maps && !atomic_load_explicit(&files_refused, memory_order_relaxed)
	                 ? MODE_SHARED_FDS
	                 : 0;
	if (shared)
		base |= CLONE_FILES;
	run->mode = mode | shared;
	long r;
	if (!atomic_load_explicit(&clone3_refused, memory_order_relaxed)) {
		struct clone_args ca = {
		    .flags = base | CLONE_CLEAR_SIGHAND | (want_pidfd ? CLONE_PIDFD : 0),
		    .pidfd = (uintptr_t)&run->pidfd, /* the child reads it there */
		    .child_tid = (uintptr_t)&run->tid,
		    .exit_signal = SIGCHLD,
		    .stack = (uintptr_t)st->lo,
		    .stack_size = (uintptr_t)run - (uintptr_t)st->lo,
		};
		if (plan->cgroup_fd >= 0) {
			ca.flags |= CLONE_INTO_CGROUP;
			ca.cgroup = (uint64_t)plan->cgroup_fd;
		}
		r = child_clone3(&ca, sizeof ca, run);
		if (r < 0 && plan->cgroup_fd >= 0 && r != -EAGAIN && r != -ENOMEM) {
			/* Whatever kept clone3 from placing the child, let the
			 * child join by itself; its error, if any, is precise. */
			ca.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
			run->mode = mode | shared | MODE_JOIN_CGROUP;
			r = child_clone3(&ca, sizeof ca, run);
		}
		if (r >= 0 || (r != -ENOSYS && r != -EPERM && r != -EINVAL))
			return r;
		/* With namespaces, EPERM or EINVAL may be the namespaces' own
		 * answer: clone(2) below tells, and clone3 stays in use. */
		if (!plan->ns || r == -ENOSYS)
			atomic_store_explicit(&clone3_refused, 1, memory_order_relaxed);
	}
	run->mode = mode | MODE_RESET_SIGNALS | (plan->cgroup_fd >= 0 ? MODE_JOIN_CGROUP : 0);
	unsigned long flags = (unsigned long)(base & ~(uint64_t)CLONE_FILES) | SIGCHLD;
	if (want_pidfd && !atomic_load_explicit(&pidfd_refused, memory_order_relaxed)) {
		r = child_clone(flags | CLONE_PIDFD, run, &run->pidfd, run);
		if (r != -EINVAL)
			return r;
		atomic_store_explicit(&pidfd_refused, 1, memory_order_relaxed);
	}
	return child_clone(flags, run, &run->pidfd, run);
}

/* Write one of /proc/<pid>/{setgroups,uid_map,gid_map}: 0 or an errno. */
static int write_proc(pid_t pid, const char *name, const char *text)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	int e = w < 0 ? errno : (size_t)w != n ? EIO : 0;
	close(fd);
	return e;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{0}};
	return syscall(SYS_capget, &h, d) == 0 && d[cap / 32].effective >> (cap % 32) & 1;
}

/* The id maps of the new user namespace, in the order the child's ID_MAP
 * ops check them; then the child may go on, and we wait until it has
 * exec'd or exited (it runs on our memory and the pooled stack until
 * then). Every signal is blocked here, as during a CLONE_VFORK sleep. */
static void write_maps(const nf_plan *plan, pid_t pid, nf_run_rec *run)
{
	int e = 0, at = 0;
	if (plan->gid_map && !have_cap(CAP_SETGID))
		e = write_proc(pid, "setgroups", "deny"), at = ID_SETGROUPS;
	if (!e && plan->uid_map)
		e = write_proc(pid, "uid_map", plan->uid_map), at = ID_UID_MAP;
	if (!e && plan->gid_map)
		e = write_proc(pid, "gid_map", plan->gid_map), at = ID_GID_MAP;
	run->iderr = e;
	__atomic_store_n(&run->sync, e ? 2 + at : 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &run->sync, FUTEX_WAKE, 1, NULL, NULL, 0);
	for (int t; (t = __atomic_load_n(&run->tid, __ATOMIC_ACQUIRE)) != 0;)
		syscall(SYS_futex, &run->tid, FUTEX_WAIT, t, NULL, NULL, 0);
}

static long clone_child(const nf_plan *plan, nf_stack *st, nf_run_rec *run)
{
	long r = clone_once(plan, st, run);
	if (r > 0 && plan->flags & PLANF_MAPS)
		write_maps(plan, (pid_t)r, run);
	return r;
}

/* Reap a child that failed before exec (it is exiting or gone); returns the
 * signal that killed it, or 0. */
static int reap(pid_t pid, int pidfd)
{
	siginfo_t si = {0};
	/* ECHILD: SIGCHLD is ignored and the kernel reaped it already. */
	int e = proc_waitid(pid, pidfd, &si, WEXITED);
	if (pidfd >= 0)
		close(pidfd);
	return !e && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) ? si.si_status : 0;
}

static nf_run_rec *run_init(const nf_plan *plan, char *top)
{
	nf_run_rec *run = (nf_run_rec *)(top - sizeof(nf_run_rec));
	*run = (nf_run_rec){
	    .plan = plan,
	    .envp = plan->envp ? plan->envp : environ,
	    .pidfd = -1,
	    .index = RUN_UNTOUCHED,
	    .fd_first = plan->fd_first,
	    .pgid = -1,
	    .in = -1,
	    .out = -1,
	    .tid = 1, /* cleared by the kernel (CLONE_CHILD_CLEARTID) */
	};
	/* In a new pid namespace getppid() is 0 whoever the parent is: the
	 * child's check compares with that. */
	if (plan->flags & PLANF_PDEATH && !(plan->ns & CLONE_NEWPID))
		run->ppid = getpid();
	return run;
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

/* In a fork child no other thread's spawn is in flight: its count would
 * keep the flag from ever being put back there. */
static void ids_after_fork(void)
{
	if (atomic_exchange(&ids_in_flight, 0) && atomic_exchange(&ids_restore, false))
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* At load: registering allocates, which no spawn may do. */
__attribute__((constructor)) static void ids_register(void) { pthread_atfork(NULL, NULL, ids_after_fork); }

static void ids_end(const nf_plan *plan)
{
	if (plan->flags & PLANF_IDS && atomic_fetch_sub(&ids_in_flight, 1) == 1 && atomic_exchange(&ids_restore, false))
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

#define RETRY (-1)

/* What the report says of a child that is out of our memory: 0 with *proc
 * filled, an errno (the child reaped), or RETRY after remembering a
 * fallback that a killed child showed to be needed. */
static int conclude(const nf_plan *plan, long pid, nf_run_rec *report, nf_proc *proc, nf_error *err)
{
	int pidfd = report->pidfd;
	int last = (int32_t)plan->n_ops - 1;
	if (report->index == RUN_UNTOUCHED) {
		/* The clone did not share our memory: valgrind and qemu-user run
		 * CLONE_VM|CLONE_VFORK as a plain fork (valgrind also answers
		 * clone3 with ENOSYS). The child's outcome cannot be read here,
		 * and it may well be running the program already: report the
		 * start, as glibc does in the same place; a failed step shows as
		 * exit status 127. (A child SIGKILLed before its first
		 * instruction looks the same.) */
		report->index = last;
	}
	if (!report->err && (report->index != last || report->step)) {
		/* No errno and not at exec (or still inside a syscall of its
		 * own): a signal ended it on the way. */
		int sig = reap((pid_t)pid, pidfd);
		if (sig == SIGSYS && report->step) {
			/* A seccomp filter that kills rather than fails: that
			 * syscall is out for good, the fallback is not. */
			atomic_store_explicit(report->step == STEP_CLOSE_RANGE ? &close_range_refused
			                      : report->step == STEP_UNSHARE   ? &files_refused
			                                                       : &sigpending_refused,
			                      1, memory_order_relaxed);
			return RETRY;
		}
		report->err = EINTR;
		report->detail = sig;
		report->kind = report->index >= 0                     ? (int32_t)plan->ops[report->index].kind
		               : report->step                          ? OPK_CLOSE_FDS
		               : report->mode & MODE_RESET_SIGNALS ? NF_OP_SIGRESET
		                                                       : NF_OP_NONE;
		if (err) {
			error_fill(err, plan, report);
			err->signal = sig;
		}
		return EINTR;
	}
	if (report->err && report->index == -1 && report->kind == OPK_CLOSE_FDS && report->mode & MODE_SHARED_FDS) {
		/* Neither close_range(CLOSE_RANGE_UNSHARE) nor unshare(CLONE_FILES)
		 * (a seccomp filter): from now on the kernel copies the table. */
		reap((pid_t)pid, pidfd);
		atomic_store_explicit(&files_refused, 1, memory_order_relaxed);
		return RETRY;
	}
	if (report->err) {
		reap((pid_t)pid, pidfd);
		if (err) {
			error_fill(err, plan, report);
			/* A signal the child found pending at the end of its plan,
			 * which would have killed it once its mask was lifted. */
			err->signal = report->err == EINTR && report->kind == OPK_SIGMASK ? report->detail : 0;
		}
		return report->err;
	}
	/* Job-control stops that reached the child between its last unblock
	 * and execve were caught there instead of stopping it before exec
	 * (which would have hung a CLONE_VFORK spawn): the program gets them
	 * now, as if they had come just after the exec. */
	for (int sig = SIGTSTP; report->stops && sig <= SIGTTOU; sig++)
		if (report->stops & (1u << sig)) {
			if (pidfd >= 0)
				syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
			else
				kill((pid_t)pid, sig); /* not reaped yet: the pid is still it */
		}
	proc->pid = (pid_t)pid;
	proc->pidfd = pidfd;
	return 0;
}

/* *fd, moved to min or above if it is below (close-on-exec): 0 or an errno
 * (then *fd is closed). */
static int fd_at_least(int *fd, int min)
{
	if (*fd >= min)
		return 0;
	int m = fcntl(*fd, F_DUPFD_CLOEXEC, min);
	int e = m < 0 ? errno : 0;
	close(*fd);
	*fd = m;
	return e;
}

static void close_fds(const int *fds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
}

/* This spawn's pipes: the child's end of each into its slot, at a number no
 * op names (so no action before the PIPE op can clobber it), with the
 * shared table's unshare boundary raised to copy it; the parent's end,
 * never at 0-2 (a caller with stdio closed keeps it closed), into ends[].
 * Both close-on-exec. On failure nothing is left open. */
static int open_pipes(const nf_plan *plan, nf_run_rec *run, int ends[])
{
	for (uint32_t i = 0; i < plan->n_pipes; i++) {
		int fds[2], e = 0;
		if (pipe2(fds, O_CLOEXEC)) {
			e = errno;
		} else {
			int to = plan->pipes[i].dir == NF_PIPE_TO_CHILD;
			run->slots[i] = fds[!to];
			ends[i] = fds[to];
			if ((e = fd_at_least(&run->slots[i], (int)plan->fd_named)))
				close(ends[i]);
			else if ((e = fd_at_least(&ends[i], 3)))
				close(run->slots[i]);
		}
		if (e) {
			close_fds(run->slots, i);
			close_fds(ends, i);
			return e;
		}
		if (run->fd_first && (uint32_t)run->slots[i] >= run->fd_first)
			run->fd_first = (uint32_t)run->slots[i] + 1;
	}
	return 0;
}

/* A pooled child stack with room at its top for the environment of a plan
 * that edits the live environ: the merged pointer array and the merge's
 * scratch (*room bytes, 0 without edits; *env and *n: environ and its
 * count). The pool rounds the size up to its power-of-two classes, so a
 * steady environ maps nothing. environ is counted once and at most that
 * many entries are merged: a setenv in another thread meanwhile may add an
 * entry this spawn misses, or free the array being read, the same race
 * glibc's posix_spawn has on environ. */
static int get_stack(const nf_plan *plan, nf_stack **st, char ***env, size_t *n, size_t *room, nf_error *err)
{
	*env = NULL;
	*n = *room = 0;
	if (plan->env.n) {
		*env = environ;
		while (*env && (*env)[*n])
			++*n;
		*room = ((*n + plan->env.n_set + 1) * sizeof **env + plan->env.n + 63) & ~(size_t)63;
	}
	int e = stack_get(NF_CHILD_STACK + *room, st);
	if (e == EINVAL) { /* larger than the largest stack: only an environment can be */
		error_parent(err, E2BIG, NF_OP_EXEC);
		const nf_op *x = &plan->ops[plan->n_ops - 1]; /* the EXEC op */
		if (err && x->c >= 0)
			err->fd = (int)x->c;
		else if (err && plan->n_cands > 0)
			err->path = plan->cands[0];
		return E2BIG;
	}
	if (e)
		error_parent(err, e, NF_OP_CLONE);
	return e;
}

/* st NULL: a stack from the pool, given back before returning; else the
 * caller's, with the run record below top (spawn_compiled). mask: the signal
 * mask the program starts with unless the plan sets one; NULL: the calling
 * thread's. */
static int spawn_plan(const nf_plan *plan, nf_stack *st, char *top, const uint64_t *mask,
                      const struct spawn_io *io, nf_proc *proc, nf_error *err)
{
	bool own = !st;
	for (;;) {
		int e;
		char **env = NULL;
		size_t n = 0, room = 0;
		if (own) {
			if ((e = get_stack(plan, &st, &env, &n, &room, err)))
				return e;
			top = stack_top(st) - room;
		}
		nf_run_rec *run = run_init(plan, top);
		if (room) { /* the run record right below the merged environment */
			char **merged = (char **)top;
			env_merge(&plan->env, env, n, merged, (unsigned char *)(merged + n + plan->env.n_set + 1));
			run->envp = merged;
		}
		if (io) {
			run->pgid = io->pgid;
			run->in = io->in;
			run->out = io->out;
			uint32_t above = (uint32_t)(io->in > io->out ? io->in : io->out) + 1;
			if (run->fd_first && above > run->fd_first)
				run->fd_first = above; /* copied out of a shared table */
		}
		int ends[ABI_SLOTS];
		if ((e = open_pipes(plan, run, ends))) {
			if (own)
				stack_put(st);
			error_parent(err, e, NF_OP_PIPE);
			return e;
		}
		uint64_t old;
		ids_begin(plan);
		block_all(&old);
		run->mask = plan->flags & PLANF_MASK ? plan->mask : mask ? *mask : old;
		long pid = clone_child(plan, st, run);
		restore_mask(&old);
		nf_run_rec report = *run; /* the child is out of our memory: final */
		if (own)
			stack_put(st);
		ids_end(plan);
		close_fds(report.slots, plan->n_pipes);
		if (pid < 0) {
			close_fds(ends, plan->n_pipes);
			error_parent(err, (int)-pid, NF_OP_CLONE);
			return (int)-pid;
		}
		if ((e = conclude(plan, pid, &report, proc, err)) == 0) {
			proc->n_pipes = (int)plan->n_pipes;
			for (uint32_t i = 0; i < plan->n_pipes; i++)
				proc->pipes[i] = (struct nf_proc_pipe){plan->pipes[i].child_fd, ends[i]};
			return 0;
		}
		close_fds(ends, plan->n_pipes);
		if (e != RETRY)
			return e;
	}
}

struct spawn_job {
	const nf_plan *plan;
	nf_stack *st;
	char *top;
	uint64_t mask;
	const struct spawn_io *io;
	nf_proc *proc;
	nf_error *err;
};

static int spawn_job_run(void *arg)
{
	struct spawn_job *j = arg;
	return spawn_plan(j->plan, j->st, j->top, &j->mask, j->io, j->proc, j->err);
}

static int spawn_dispatch(const nf_plan *plan, nf_stack *st, char *top, const struct spawn_io *io, nf_proc *proc,
                          nf_error *err);

int nf_spawn(const nf_cmd *cmd, nf_proc *proc, nf_error *err) { return spawn_cmd(cmd, NULL, proc, err); }

int spawn_cmd(const nf_cmd *cmd, const struct spawn_io *io, nf_proc *proc, nf_error *err)
{
	NF_NOCANCEL; /* reap's waitid and close must not end a spawn halfway */
	if (proc)
		*proc = (nf_proc){.pid = -1, .pidfd = -1};
	if (!cmd || !proc) {
		error_parent(err, EINVAL, NF_OP_NONE);
		return EINVAL;
	}
	const nf_plan *plan;
	int op = NF_OP_NONE;
	int e = sandbox_check(cmd, &op);
	if (e) {
		error_parent(err, e, op);
		return e;
	}
	e = cmd_plan(cmd, &plan);
	if (e) {
		error_parent(err, e, NF_OP_NONE);
		return e;
	}
	return spawn_dispatch(plan, NULL, NULL, io, proc, err);
}

int spawn_compiled(const nf_plan *plan, nf_stack *st, char *top, nf_proc *proc, nf_error *err)
{
	return spawn_dispatch(plan, st, top, NULL, proc, err);
}

static int spawn_dispatch(const nf_plan *plan, nf_stack *st, char *top, const struct spawn_io *io, nf_proc *proc,
                          nf_error *err)
{
	if (!rt_in_coroutine())
		return spawn_plan(plan, st, top, NULL, io, proc, err);
	/* A coroutine's parent-death signal is tied to the process: the
	 * child's parent thread must be one that lives as long (not a worker,
	 * not a spawn helper: both end at nf_rt_stop). */
	bool last = plan->flags & PLANF_PDEATH;
	if (!last && rt_spawn_may_block())
		return spawn_plan(plan, st, top, NULL, io, proc, err);
	/* The program's mask is this worker's, not the helper's. */
	struct spawn_job j = {plan, st, top, 0, io, proc, err};
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &j.mask, sizeof j.mask);
	int e = rt_offload(spawn_job_run, &j, last);
	if (e < 0) { /* no lasting thread to be had */
		error_parent(err, -e, NF_OP_CLONE);
		return -e;
	}
	return e;
}
