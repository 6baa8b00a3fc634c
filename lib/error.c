/* Error records: what failed, on what, and a one-line rendering. */
#include "nofork_int.h"

#include <string.h>

void nf_error_parent(nf_error *err, int e, int op)
{
	if (err)
		*err = (nf_error){.err = e, .op = op, .index = -1, .fd = -1, .arg = -1, .path = ""};
}

/* Paths point into the plan, which outlives the record until the cmd
 * changes or is freed (nofork.h); they are < PATH_MAX, checked by the
 * setters and the PATH search. */
static void set_path(nf_error *err, const void *p)
{
	if (p)
		err->path = p;
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

/* The message is written straight into the caller's buffer by a tiny
 * appender, without snprintf or a local copy: callers on the small stacks
 * of other coroutine libraries render errors too (tests/test_small_stack.c).
 * The text is what "%s: %s" of the step and strerror_r gave before, in the C
 * locale; it is not translated (strerrordesc_np), like the rest of the line. */
struct out {
	char *p, *end; /* end: the place of the terminating NUL */
};

static void put(struct out *o, const char *s)
{
	while (*s && o->p < o->end)
		*o->p++ = *s++;
}

/* v in `base`, at least `width` digits. */
static void put_unsigned(struct out *o, unsigned long v, unsigned base, int width)
{
	char d[24]; /* 22 octal digits of 64 bits */
	int n = 0;
	do
		d[n++] = (char)('0' + v % base);
	while ((v /= base));
	while (n < width)
		d[n++] = '0';
	while (n && o->p < o->end)
		*o->p++ = d[--n];
}

static void put_long(struct out *o, long v)
{
	if (v < 0)
		put(o, "-");
	put_unsigned(o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, 1);
}

static const char *rlimit_name(long r)
{
	static const char *const names[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	                                    "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO",
	                                    "RTTIME"};
	return r >= 0 && r < (long)(sizeof names / sizeof *names) ? names[r] : "?";
}

/* What each step was doing: %f the fd, %a the arg, %o the arg in octal (3
 * digits at least), %r the arg as an rlimit name, %p the path. */
static const char *const step_text[NF_OP_KIND_COUNT] = {
    [NF_OP_DUP2] = "dup2 fd %a to fd %f",
    [NF_OP_OPEN] = "open %p as fd %f",
    [NF_OP_CLOSE] = "close fd %f",
    [NF_OP_CHDIR] = "chdir %p",
    [NF_OP_FCHDIR] = "fchdir fd %f",
    [NF_OP_KEEP_FD] = "keep fd %f",
    [NF_OP_CLOSE_FDS] = "close fds from %f",
    [NF_OP_SETSID] = "setsid",
    [NF_OP_SETPGID] = "setpgid %a",
    [NF_OP_SIGDEFAULT] = "reset signal %a to default",
    [NF_OP_SIGMASK] = "set signal mask",
    [NF_OP_SIGRESET] = "reset handler of signal %a",
    [NF_OP_EXEC] = "execve %p", /* "execveat fd %f" for exec by fd */
    [NF_OP_FOREGROUND] = "make the child's group the foreground of fd %f",
    [NF_OP_CTTY] = "make fd %f the controlling terminal",
    [NF_OP_SETGROUPS] = "setgroups (%a groups)",
    [NF_OP_SETGID] = "setgid %a",
    [NF_OP_SETUID] = "setuid %a",
    [NF_OP_UMASK] = "umask %o",
    [NF_OP_RLIMIT] = "setrlimit %r",
    [NF_OP_NICE] = "setpriority %a",
    [NF_OP_SCHED] = "sched_setscheduler policy %a",
    [NF_OP_PDEATHSIG] = "set parent-death signal %a",
    [NF_OP_NO_NEW_PRIVS] = "set no_new_privs",
    [NF_OP_CGROUP] = "enter cgroup of fd %f",
    [NF_OP_FAIL] = "spawn request",
    [NF_OP_CLONE] = "clone",
    [NF_OP_REPORT] = "create the report pipe",
};

static void put_step(struct out *o, const nf_error *e)
{
	const char *t = e->op > 0 && e->op < NF_OP_KIND_COUNT && step_text[e->op] ? step_text[e->op] : "spawn";
	if (e->op == NF_OP_EXEC && e->fd >= 0)
		t = "execveat fd %f";
	for (; *t && o->p < o->end; t++) {
		if (*t != '%') {
			*o->p++ = *t;
			continue;
		}
		switch (*++t) {
		case 'f': put_long(o, e->fd); break;
		case 'a': put_long(o, e->arg); break;
		case 'o': put_unsigned(o, (unsigned long)e->arg, 8, 3); break;
		case 'r': put(o, rlimit_name(e->arg)); break;
		case 'p': put(o, e->path ? e->path : ""); break;
		}
	}
}

const char *nf_error_format(const nf_error *e, char *buf, size_t len)
{
	NF_NOCANCEL;
	if (!buf || !len)
		return buf;
	struct out o = {buf, buf + len - 1};
	if (!e) {
		put(&o, "no error");
	} else {
		put_step(&o, e);
		if (e->signal) {
			put(&o, ": killed by signal ");
			put_long(&o, e->signal);
			put(&o, " before exec");
		} else {
			const char *text = strerrordesc_np(e->err);
			put(&o, ": ");
			if (text) {
				put(&o, text);
			} else {
				put(&o, "Unknown error ");
				put_long(&o, e->err);
			}
		}
	}
	*o.p = '\0';
	return buf;
}
