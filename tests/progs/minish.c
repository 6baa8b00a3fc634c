/* minish: a small job-control shell built only on nofork (it never forks).
 *
 * Reads one line at a time from stdin:
 *   line     := pipeline ['&'] | builtin
 *   pipeline := command {'|' command}
 *   command  := word {word | redirection}
 *   redirection := [N]'<' word | [N]'>' word | [N]'>>' word | [N]'>&'M
 *   words: plain runs, '...' literally, "..." with \" and \\ escapes;
 *   no variables, no globbing.
 * Builtins: cd DIR, jobs, fg [%N], bg [%N], tty, exit.
 *
 * A pipeline is one nf_pipeline_spawn: all its stages start, or none (a
 * stage that cannot start is reported and nothing of the line runs).
 * With a terminal on stdin it does job control the POSIX way: each pipeline
 * is a process group of its own (NF_PIPELINE_PGRP: the first command leads,
 * the others join), a foreground job gets the terminal from inside its
 * leader (nf_cmd_foreground), the shell waits for each of the job's
 * processes with nf_proc_waitid(WEXITED | WSTOPPED) so Ctrl-Z stops the job
 * and returns here, and the shell takes the terminal back with tcsetpgrp
 * while it ignores SIGTTOU. Every wait goes through a process's own handle
 * (its pidfd): the shell never waits for "any child" or a whole group. The
 * shell ignores the job-control
 * signals itself, so every child resets them (nf_cmd_sigdefault): ignored
 * signals would otherwise stay ignored across exec and ^Z would do nothing.
 * Without a terminal it just runs the pipelines (tests feed it scripts).
 *
 * Output the tests read: prompt "$ " (interactive only); "[N] PGID" for a
 * background job; "[N] Stopped CMD" when a job stops; "[N] Running|Stopped
 * CMD" from jobs; "[N] CMD &" from bg; "CMD" from fg; "[N] Done CMD" when a
 * background job ends; "fg=PGRP me=PGRP" from tty; errors on stderr as
 * "minish: NAME: <nf_error_format line>". */
#include "nofork.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define MAX_TOK 128
#define MAX_CMDS 16
#define MAX_ARGS 32
#define MAX_REDIR 8
#define MAX_JOBS 32

enum tok_kind { T_WORD, T_PIPE, T_AMP, T_REDIR };
enum redir_kind { R_IN, R_OUT, R_APPEND, R_DUP };

struct redir {
	enum redir_kind kind;
	int fd, fd2;
	const char *path;
};

struct tok {
	enum tok_kind kind;
	char *word;      /* T_WORD, or the target word of a T_REDIR (set by parse) */
	struct redir r;  /* T_REDIR */
};

struct command {
	char *argv[MAX_ARGS + 1];
	int argc;
	struct redir redir[MAX_REDIR];
	int nredir;
};

struct proc {
	nf_proc *h; /* in the job's pipeline; pidfd released once it is reaped */
	int state; /* P_RUN, P_STOP, P_DONE */
};
enum { P_RUN, P_STOP, P_DONE };

struct job {
	int id; /* 0: free slot */
	pid_t pgid;
	nf_pipeline *pl;
	struct proc procs[MAX_CMDS];
	int nprocs;
	char text[256];
};

static struct job jobs[MAX_JOBS];
static int interactive;
static int tty_fd = -1;
static pid_t shell_pgid;
static struct termios shell_modes;

/* ---- parsing ---------------------------------------------------------------- */

static char line_buf[4096];
static char word_store[8192];

/* Split the line into tokens; words are copied (unquoted) into word_store.
 * Returns the number of tokens or -1 on a syntax error. */
static int tokenize(const char *s, struct tok *toks)
{
	int n = 0;
	char *w = word_store;
	while (*s) {
		if (*s == ' ' || *s == '\t' || *s == '\n') {
			s++;
			continue;
		}
		if (n == MAX_TOK)
			return -1;
		struct tok *t = &toks[n++];
		memset(t, 0, sizeof *t);
		if (*s == '|' || *s == '&') {
			t->kind = *s++ == '|' ? T_PIPE : T_AMP;
			continue;
		}
		/* [N]<, [N]>, [N]>>, [N]>&M */
		const char *p = s;
		int fd = -1;
		if (*p >= '0' && *p <= '9') {
			fd = 0;
			while (*p >= '0' && *p <= '9')
				fd = fd * 10 + (*p++ - '0');
		}
		if (*p == '<' || *p == '>') {
			t->kind = T_REDIR;
			if (*p == '<') {
				t->r = (struct redir){ R_IN, fd < 0 ? 0 : fd, -1, NULL };
				p++;
			} else if (p[1] == '>') {
				t->r = (struct redir){ R_APPEND, fd < 0 ? 1 : fd, -1, NULL };
				p += 2;
			} else if (p[1] == '&') {
				p += 2;
				int fd2 = 0, digits = 0;
				while (*p >= '0' && *p <= '9') {
					fd2 = fd2 * 10 + (*p++ - '0');
					digits++;
				}
				if (!digits)
					return -1;
				t->r = (struct redir){ R_DUP, fd < 0 ? 1 : fd, fd2, NULL };
			} else {
				t->r = (struct redir){ R_OUT, fd < 0 ? 1 : fd, -1, NULL };
				p++;
			}
			s = p;
			continue;
		}
		/* A word, with quotes. */
		t->kind = T_WORD;
		t->word = w;
		while (*s && !strchr(" \t\n|&<>", *s)) {
			if (w >= word_store + sizeof word_store - 2)
				return -1;
			if (*s == '\'') {
				const char *e = strchr(s + 1, '\'');
				if (!e)
					return -1;
				memcpy(w, s + 1, (size_t)(e - s - 1));
				w += e - s - 1;
				s = e + 1;
			} else if (*s == '"') {
				for (s++; *s && *s != '"'; s++) {
					if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
						s++;
					*w++ = *s;
				}
				if (*s != '"')
					return -1;
				s++;
			} else {
				*w++ = *s++;
			}
		}
		*w++ = '\0';
	}
	return n;
}

/* Tokens to commands; *background set by a trailing '&'. Returns the number
 * of commands, 0 for an empty line, -1 on a syntax error. */
static int parse(struct tok *toks, int ntok, struct command *cmds, int *background)
{
	int nc = 0;
	*background = 0;
	if (ntok && toks[ntok - 1].kind == T_AMP) {
		*background = 1;
		ntok--;
	}
	if (!ntok)
		return *background ? -1 : 0;
	struct command *c = &cmds[nc++];
	memset(c, 0, sizeof *c);
	for (int i = 0; i < ntok; i++) {
		struct tok *t = &toks[i];
		switch (t->kind) {
		case T_WORD:
			if (c->argc == MAX_ARGS)
				return -1;
			c->argv[c->argc++] = t->word;
			break;
		case T_REDIR:
			if (c->nredir == MAX_REDIR)
				return -1;
			if (t->r.kind != R_DUP) {
				if (i + 1 >= ntok || toks[i + 1].kind != T_WORD)
					return -1;
				t->r.path = toks[++i].word;
			}
			c->redir[c->nredir++] = t->r;
			break;
		case T_PIPE:
			if (!c->argc || nc == MAX_CMDS)
				return -1;
			c = &cmds[nc++];
			memset(c, 0, sizeof *c);
			break;
		case T_AMP:
			return -1;
		}
	}
	return c->argc ? nc : -1;
}

/* ---- jobs ------------------------------------------------------------------- */

static struct job *job_new(void)
{
	int id = 1;
	for (int i = 0; i < MAX_JOBS; i++)
		if (jobs[i].id >= id)
			id = jobs[i].id + 1;
	for (int i = 0; i < MAX_JOBS; i++)
		if (!jobs[i].id) {
			memset(&jobs[i], 0, sizeof jobs[i]);
			jobs[i].id = id;
			return &jobs[i];
		}
	return NULL;
}

static struct job *job_find(const char *spec)
{
	struct job *best = NULL;
	int want = spec ? atoi(spec[0] == '%' ? spec + 1 : spec) : 0;
	for (int i = 0; i < MAX_JOBS; i++) {
		struct job *j = &jobs[i];
		if (!j->id)
			continue;
		if (want ? j->id == want : (!best || j->id > best->id))
			best = j;
	}
	return best;
}

static int job_count(const struct job *j, int state)
{
	int n = 0;
	for (int i = 0; i < j->nprocs; i++)
		n += j->procs[i].state == state;
	return n;
}

/* Wait for a change of p (options and timeout as nf_proc_waitid) and
 * record it; returns the signal of a stop, else 0. A process that cannot
 * be waited for any more (ECHILD) is done. */
static int wait_proc(struct proc *p, int options, int timeout_ms)
{
	siginfo_t si;
	int e = nf_proc_waitid(p->h, &si, options, timeout_ms);
	if (e == ETIMEDOUT)
		return 0;
	if (!e && si.si_code == CLD_STOPPED) {
		p->state = P_STOP;
		return si.si_status;
	}
	if (!e && si.si_code == CLD_CONTINUED) {
		p->state = P_RUN;
		return 0;
	}
	p->state = P_DONE; /* reaped (or gone): the pidfd is no use any more */
	nf_proc_release(p->h);
	return 0;
}

static void job_done(struct job *j)
{
	nf_pipeline_release(j->pl);
	j->pl = NULL;
	j->id = 0;
}

static void set_running(struct job *j)
{
	for (int i = 0; i < j->nprocs; i++)
		if (j->procs[i].state == P_STOP)
			j->procs[i].state = P_RUN;
}

/* Wait until no process of the job is running (all done, or stopped), then
 * take the terminal back. The processes are waited for in order: the job
 * is running while any of them is, so the first running one decides when
 * to look at the next. */
static void wait_foreground(struct job *j)
{
	for (int i = 0; i < j->nprocs; i++) {
		if (j->procs[i].state != P_RUN)
			continue;
		int stop = wait_proc(&j->procs[i], WEXITED | WSTOPPED, -1);
		/* A stop that reached only part of the job (e.g. ^Z typed while
		 * the pipeline was still being started) stops all of it, so the
		 * job is one thing: stopped or running. */
		if (stop && job_count(j, P_RUN) > 0)
			kill(-j->pgid, stop);
	}
	if (interactive) {
		tcsetpgrp(tty_fd, shell_pgid); /* SIGTTOU is ignored: no stop */
		tcsetattr(tty_fd, TCSADRAIN, &shell_modes);
	}
	if (job_count(j, P_STOP) > 0)
		printf("\n[%d] Stopped %s\n", j->id, j->text);
	else
		job_done(j);
}

/* Background jobs that changed state, reported before the prompt. */
static void reap_background(void)
{
	for (int i = 0; i < MAX_JOBS; i++) {
		struct job *j = &jobs[i];
		for (int k = 0; j->id && k < j->nprocs; k++)
			if (j->procs[k].state != P_DONE)
				wait_proc(&j->procs[k], WEXITED | WSTOPPED | WCONTINUED, 0);
		if (j->id && job_count(j, P_DONE) == j->nprocs) {
			printf("[%d] Done %s\n", j->id, j->text);
			job_done(j);
		}
	}
}

/* Leaving: no job outlives the shell. Without job control the jobs share
 * our group, so they are killed one by one. */
static void kill_all_jobs(void)
{
	for (int i = 0; i < MAX_JOBS; i++) {
		struct job *j = &jobs[i];
		if (!j->id)
			continue;
		if (interactive)
			kill(-j->pgid, SIGKILL);
		for (int k = 0; k < j->nprocs; k++)
			if (j->procs[k].state != P_DONE) {
				if (!interactive)
					nf_proc_kill(j->procs[k].h, SIGKILL);
				wait_proc(&j->procs[k], WEXITED, -1);
			}
		job_done(j);
	}
}

/* ---- running ------------------------------------------------------------------ */

static void report(const char *name, const nf_error *err)
{
	char msg[4200];
	fprintf(stderr, "minish: %s: %s\n", name, nf_error_format(err, msg, sizeof msg));
}

/* Build the cmd for one pipeline stage; the pipes between stages and the
 * job's process group are nf_pipeline_spawn's. The first stage of a
 * foreground job takes the terminal for the group. */
static int build(nf_cmd **out, const struct command *c, int foreground)
{
	nf_cmd *cmd;
	int e = nf_cmd_newp(&cmd, c->argv[0], c->argv, NULL);
	if (e)
		return e;
	if (interactive) {
		sigset_t jc;
		sigemptyset(&jc);
		for (int s = 0, sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU }; s < 6; s++)
			sigaddset(&jc, sigs[s]);
		e = nf_cmd_sigdefault(cmd, &jc);
		/* Before the redirections, while tty_fd is surely the terminal. */
		if (!e && foreground)
			e = nf_cmd_foreground(cmd, tty_fd);
	}
	for (int i = 0; !e && i < c->nredir; i++) {
		const struct redir *r = &c->redir[i];
		switch (r->kind) {
		case R_IN: e = nf_cmd_open(cmd, r->fd, r->path, O_RDONLY, 0); break;
		case R_OUT: e = nf_cmd_open(cmd, r->fd, r->path, O_WRONLY | O_CREAT | O_TRUNC, 0666); break;
		case R_APPEND: e = nf_cmd_open(cmd, r->fd, r->path, O_WRONLY | O_CREAT | O_APPEND, 0666); break;
		case R_DUP: e = nf_cmd_dup2(cmd, r->fd2, r->fd); break;
		}
	}
	if (e) {
		nf_cmd_free(cmd);
		return e;
	}
	*out = cmd;
	return 0;
}

/* All stages or none (unlike sh, which runs the others when one cannot
 * start): nf_pipeline_spawn names the stage that failed. */
static void run_pipeline(struct command *cmds, int n, int background, const char *text)
{
	struct job *j = job_new();
	if (!j) {
		fprintf(stderr, "minish: too many jobs\n");
		return;
	}
	snprintf(j->text, sizeof j->text, "%s", text);
	nf_cmd *c[MAX_CMDS] = { 0 };
	int e = 0;
	for (int i = 0; i < n && !e; i++)
		if ((e = build(&c[i], &cmds[i], !background && i == 0)))
			fprintf(stderr, "minish: %s: %s\n", cmds[i].argv[0], strerror(e));
	nf_error err;
	if (!e && (e = nf_pipeline_spawn(c, (size_t)n, interactive ? NF_PIPELINE_PGRP : 0, &j->pl, &err)))
		report(cmds[err.stage >= 0 ? err.stage : 0].argv[0], &err);
	for (int i = 0; i < n; i++)
		nf_cmd_free(c[i]);
	if (e) {
		job_done(j);
		return;
	}
	for (int i = 0; i < n; i++)
		j->procs[i] = (struct proc){ nf_pipeline_proc(j->pl, (size_t)i), P_RUN };
	j->nprocs = n;
	j->pgid = interactive ? j->procs[0].h->pid : getpgrp();
	if (background) {
		printf("[%d] %d\n", j->id, (int)j->pgid);
		return;
	}
	if (!interactive) { /* no job control: wait for exactly these */
		for (int i = 0; i < j->nprocs; i++)
			wait_proc(&j->procs[i], WEXITED, -1);
		job_done(j);
		return;
	}
	wait_foreground(j);
}

/* ---- builtins ------------------------------------------------------------------- */

static int builtin(struct command *c)
{
	const char *name = c->argv[0];
	const char *arg = c->argc > 1 ? c->argv[1] : NULL;
	if (!strcmp(name, "exit")) {
		kill_all_jobs();
		exit(0);
	}
	if (!strcmp(name, "cd")) {
		if (!arg || chdir(arg) != 0)
			fprintf(stderr, "minish: cd: %s\n", arg ? strerror(errno) : "missing operand");
		return 1;
	}
	if (!strcmp(name, "tty")) {
		printf("fg=%d me=%d\n", interactive ? (int)tcgetpgrp(tty_fd) : -1, (int)getpgrp());
		return 1;
	}
	if (!strcmp(name, "jobs")) {
		reap_background(); /* states may have changed since the prompt */
		for (int id = 1; id <= MAX_JOBS * 4; id++)
			for (int i = 0; i < MAX_JOBS; i++)
				if (jobs[i].id == id)
					printf("[%d] %s %s\n", id, job_count(&jobs[i], P_RUN) ? "Running" : "Stopped",
					       jobs[i].text);
		return 1;
	}
	if (!strcmp(name, "fg") || !strcmp(name, "bg")) {
		struct job *j = interactive ? job_find(arg) : NULL;
		if (!j) {
			fprintf(stderr, "minish: %s: no such job\n", name);
			return 1;
		}
		if (name[0] == 'b') {
			printf("[%d] %s &\n", j->id, j->text);
			set_running(j);
			kill(-j->pgid, SIGCONT);
			return 1;
		}
		printf("%s\n", j->text);
		fflush(stdout);
		if (interactive)
			tcsetpgrp(tty_fd, j->pgid);
		set_running(j);
		kill(-j->pgid, SIGCONT);
		wait_foreground(j);
		return 1;
	}
	return 0;
}

int main(void)
{
	interactive = isatty(0);
	if (interactive) {
		/* The terminal on an fd of our own, close-on-exec: redirections of
		 * 0-2 never change which terminal a job is put in front of. */
		tty_fd = fcntl(0, F_DUPFD_CLOEXEC, 10);
		if (tty_fd < 0) {
			perror("minish: terminal");
			return 1;
		}
		/* On a hangup the terminal reads end, and leaving the loop
		 * kills every job: none is left running orphaned. */
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		signal(SIGTSTP, SIG_IGN);
		signal(SIGTTIN, SIG_IGN);
		signal(SIGTTOU, SIG_IGN);
		/* Our own group (a session leader already leads one). */
		if (getpgrp() != getpid() && setpgid(0, 0) != 0) {
			perror("minish: setpgid");
			return 1;
		}
		shell_pgid = getpgrp();
		if (tcsetpgrp(tty_fd, shell_pgid) != 0 || tcgetattr(tty_fd, &shell_modes) != 0) {
			perror("minish: terminal");
			return 1;
		}
	}
	struct tok toks[MAX_TOK];
	struct command cmds[MAX_CMDS];
	for (;;) {
		reap_background();
		if (interactive)
			fputs("$ ", stdout);
		fflush(stdout);
		if (!fgets(line_buf, sizeof line_buf, stdin))
			break;
		char text[256]; /* the job's name in messages: the line, cut short */
		size_t len = strcspn(line_buf, "\n");
		if (len > sizeof text - 1)
			len = sizeof text - 1;
		memcpy(text, line_buf, len);
		text[len] = '\0';
		size_t tl = strlen(text);
		while (tl && (text[tl - 1] == ' ' || text[tl - 1] == '&'))
			text[--tl] = '\0';
		int background, n = tokenize(line_buf, toks);
		if (n >= 0)
			n = parse(toks, n, cmds, &background);
		if (n < 0) {
			fprintf(stderr, "minish: syntax error\n");
			continue;
		}
		if (n == 0)
			continue;
		if (n == 1 && !background && !cmds[0].nredir && builtin(&cmds[0]))
			continue;
		run_pipeline(cmds, n, background, text);
	}
	kill_all_jobs();
	return 0;
}
