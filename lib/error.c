/* Error records: what failed, on what, and a one-line rendering. */
#include "nofork_int.h"

#include <stdio.h>
#include <string.h>

void nf_error_parent(nf_error *err, int e, int op)
{
	if (err)
		*err = (nf_error){.err = e, .op = op, .index = -1, .fd = -1, .arg = -1};
}

static void set_path(nf_error *err, const char *p)
{
	if (p)
		snprintf(err->path, sizeof err->path, "%s", p); /* < PATH_MAX: checked at setter time */
}

void nf_error_fill(nf_error *err, const nf_plan *plan, const nf_run *run)
{
	nf_error_parent(err, run->err, run->kind);
	err->index = run->index;
	if (run->index < 0 || (uint32_t)run->index >= plan->n_ops) {
		err->arg = run->detail; /* caught-signal reset: the signal */
		return;
	}
	const nf_op *op = &plan->ops[run->index];
	switch (run->kind) {
	case NF_OP_DUP2:
		err->fd = (int)op->b;
		err->arg = op->a;
		break;
	case NF_OP_OPEN:
		err->fd = op->a;
		set_path(err, op->p);
		break;
	case NF_OP_CHDIR:
		set_path(err, op->p);
		break;
	case NF_OP_CLOSE: case NF_OP_FCHDIR: case NF_OP_KEEP_FD: case NF_OP_FOREGROUND: case NF_OP_CTTY:
	case NF_OP_CGROUP:
		err->fd = op->a;
		break;
	case NF_OP_CLOSE_FDS:
		err->fd = (int)op->b;
		break;
	case NF_OP_SETPGID:
		err->arg = (long)op->b;
		break;
	case NF_OP_SIGDEFAULT:
		err->arg = run->detail;
		break;
	case NF_OP_SETGID: case NF_OP_SETUID: /* resetids sets only the effective id */
		err->arg = op->a >= 0 ? op->a : (long)op->b;
		break;
	case NF_OP_EXEC:
		if (op->c >= 0)
			err->fd = (int)op->c;
		else if (run->detail >= 0 && run->detail < plan->n_cands)
			set_path(err, plan->cands[run->detail]);
		break;
	default: /* UMASK, RLIMIT, NICE, SCHED, PDEATHSIG, SETGROUPS: the operand */
		err->arg = op->a;
		break;
	}
}

static const char *rlimit_name(long r)
{
	static const char *const names[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	                                    "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO",
	                                    "RTTIME"};
	return r >= 0 && r < (long)(sizeof names / sizeof *names) ? names[r] : "?";
}

const char *nf_error_format(const nf_error *e, char *buf, size_t len)
{
	if (!buf || !len)
		return buf;
	if (!e) {
		snprintf(buf, len, "no error");
		return buf;
	}
	char what[4200];
	switch (e->op) {
	case NF_OP_DUP2: snprintf(what, sizeof what, "dup2 fd %ld to fd %d", e->arg, e->fd); break;
	case NF_OP_OPEN: snprintf(what, sizeof what, "open %s as fd %d", e->path, e->fd); break;
	case NF_OP_CLOSE: snprintf(what, sizeof what, "close fd %d", e->fd); break;
	case NF_OP_CHDIR: snprintf(what, sizeof what, "chdir %s", e->path); break;
	case NF_OP_FCHDIR: snprintf(what, sizeof what, "fchdir fd %d", e->fd); break;
	case NF_OP_KEEP_FD: snprintf(what, sizeof what, "keep fd %d", e->fd); break;
	case NF_OP_CLOSE_FDS: snprintf(what, sizeof what, "close fds from %d", e->fd); break;
	case NF_OP_SETSID: snprintf(what, sizeof what, "setsid"); break;
	case NF_OP_SETPGID: snprintf(what, sizeof what, "setpgid %ld", e->arg); break;
	case NF_OP_SIGDEFAULT: snprintf(what, sizeof what, "reset signal %ld to default", e->arg); break;
	case NF_OP_SIGMASK: snprintf(what, sizeof what, "set signal mask"); break;
	case NF_OP_SIGRESET: snprintf(what, sizeof what, "reset handler of signal %ld", e->arg); break;
	case NF_OP_EXEC:
		if (e->fd >= 0)
			snprintf(what, sizeof what, "execveat fd %d", e->fd);
		else
			snprintf(what, sizeof what, "execve %s", e->path);
		break;
	case NF_OP_FOREGROUND: snprintf(what, sizeof what, "make the child's group the foreground of fd %d", e->fd); break;
	case NF_OP_CTTY: snprintf(what, sizeof what, "make fd %d the controlling terminal", e->fd); break;
	case NF_OP_SETGROUPS: snprintf(what, sizeof what, "setgroups (%ld groups)", e->arg); break;
	case NF_OP_SETGID: snprintf(what, sizeof what, "setgid %ld", e->arg); break;
	case NF_OP_SETUID: snprintf(what, sizeof what, "setuid %ld", e->arg); break;
	case NF_OP_UMASK: snprintf(what, sizeof what, "umask %03lo", e->arg); break;
	case NF_OP_RLIMIT: snprintf(what, sizeof what, "setrlimit %s", rlimit_name(e->arg)); break;
	case NF_OP_NICE: snprintf(what, sizeof what, "setpriority %ld", e->arg); break;
	case NF_OP_SCHED: snprintf(what, sizeof what, "sched_setscheduler policy %ld", e->arg); break;
	case NF_OP_PDEATHSIG: snprintf(what, sizeof what, "set parent-death signal %ld", e->arg); break;
	case NF_OP_NO_NEW_PRIVS: snprintf(what, sizeof what, "set no_new_privs"); break;
	case NF_OP_CGROUP: snprintf(what, sizeof what, "enter cgroup of fd %d", e->fd); break;
	case NF_OP_FAIL: snprintf(what, sizeof what, "spawn request"); break;
	case NF_OP_CLONE: snprintf(what, sizeof what, "clone"); break;
	default: snprintf(what, sizeof what, "spawn"); break;
	}
	char ebuf[128];
	if (e->signal)
		snprintf(buf, len, "%s: killed by signal %d before exec", what, e->signal);
	else
		snprintf(buf, len, "%s: %s", what, strerror_r(e->err, ebuf, sizeof ebuf));
	return buf;
}
