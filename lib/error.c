/* Error records: what failed, on what, and a one-line rendering. */
#include "nofork_int.h"

#include <string.h>

void error_parent(nf_error *err, int e, int op)
{
	if (err)
		*err = (nf_error){.err = e, .op = op, .index = -1, .fd = -1, .arg = -1, .stage = -1, .path = "", .path2 = ""};
}

/* Where each field of a failed step's record comes from (nofork/ops.h).
 * Paths point into the plan, which outlives the record until the cmd
 * changes or is freed (nofork.h); they are < PATH_MAX, checked by the
 * setters and the PATH search. */
enum source { S__, S_A, S_B, S_C, S_P, S_DETAIL, S_ID, S_CAND };

static const struct step {
	unsigned char fd, arg, path;
	const char *what;
} steps[NF_OP_KIND_COUNT] = {
#define STEP(name, fd, arg, path, what) [NF_OP_##name] = {S_##fd, S_##arg, S_##path, what},
    NF_OP_LIST(STEP)
#undef STEP
};

static long operand(enum source s, const nf_op *op, const nf_run_rec *run)
{
	switch (s) {
	case S_A: return op->a;
	case S_B: return (long)op->b;
	case S_C: return (long)op->c;
	case S_DETAIL: return run->detail;
	case S_ID: return op->a >= 0 ? op->a : (long)op->b; /* resetids sets only the effective id */
	default: return -1;
	}
}

void error_fill(nf_error *err, const nf_plan *plan, const nf_run_rec *run)
{
	error_parent(err, run->err, run->kind);
	err->index = run->index;
	const struct step *st = run->kind > 0 && run->kind < NF_OP_KIND_COUNT ? &steps[run->kind] : &steps[0];
	if (run->index < 0 || (uint32_t)run->index >= plan->n_ops) {
		/* Before the ops: resetting caught signals (the signal), or leaving
		 * the shared fd table (the first fd it closes). */
		err->arg = run->detail;
		if (run->kind == NF_OP_PIPE) /* a pipeline stage's stdin or stdout */
			err->fd = run->detail;
		if (run->kind == NF_OP_CLOSE_FDS)
			err->fd = (int)plan->fd_first;
		return;
	}
	const nf_op *op = &plan->ops[run->index];
	if (st->fd != S__)
		err->fd = (int)operand(st->fd, op, run);
	if (st->arg != S__)
		err->arg = operand(st->arg, op, run);
	if (st->path == S_P && op->p)
		err->path = op->p;
	else if (st->path == S_CAND && err->fd < 0 && run->detail >= 0 && run->detail < plan->n_cands)
		err->path = plan->cands[run->detail];
	if (op->kind == OPK_MOUNT) /* {source, fstype, data, label} */
		err->path2 = ((const char *const *)(uintptr_t)op->c)[3];
	else if (op->kind == OPK_SYMLINK)
		err->path2 = (const char *)(uintptr_t)op->c;
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

static void put_step(struct out *o, const nf_error *e)
{
	const char *t = e->op > 0 && e->op < NF_OP_KIND_COUNT ? steps[e->op].what : "spawn";
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
		case 's': put(o, e->path2 ? e->path2 : ""); break;
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
