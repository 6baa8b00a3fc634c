/* PATH search, done in the parent: the child only walks the candidates,
 * which are laid out straight into the plan (no list of its own, so a plan
 * built on a child stack allocates nothing). */
#include "nofork_int.h"

#include <limits.h>
#include <string.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

extern char **environ;

static const char *env_path(char *const *env)
{
	if (env)
		for (; *env; env++)
			if (!strncmp(*env, "PATH=", 5))
				return *env + 5;
	return NULL;
}

const char *path_list(const nf_cmd *cmd)
{
	if (!cmd->search || strchr(cmd->path, '/'))
		return NULL;
	/* The child's PATH decides (execvpe semantics), unless the caller named
	 * a list; with the live environment, PATH is read now, at compile time.
	 * An edit of PATH is the child's PATH (an unset one: none), else the
	 * base's, which clearenv empties. */
	if (cmd->search_path)
		return cmd->search_path;
	for (size_t i = 0; i < cmd->n_env; i++) {
		const char *e = cmd->env[i];
		if (!strncmp(e, "PATH", 4) && (e[4] == '=' || !e[4]))
			return e[4] ? e + 5 : DEFAULT_PATH;
	}
	const char *path = cmd->env_clear ? NULL : env_path(cmd->envp ? cmd->envp : environ);
	return path ? path : DEFAULT_PATH;
}

/* Walks list and lays out (or, while measuring, counts) one candidate per
 * element: an empty element means the current directory, so the candidate
 * is the file itself. One the kernel would refuse as too long is not a
 * place the file can be, and is left out. Returns how many there are. */
static size_t put_candidates(nf_builder *b, const char *list, const char *file, char **out)
{
	size_t n = 0, flen = strlen(file);
	for (const char *p = list;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		if (dlen + 1 + flen < PATH_MAX) {
			char *c = b ? builder_take(b, (dlen ? dlen + 1 : 0) + flen + 1, 1) : NULL;
			if (c) {
				if (dlen) {
					memcpy(c, p, dlen);
					c[dlen] = '/';
				}
				memcpy(c + (dlen ? dlen + 1 : 0), file, flen + 1);
			}
			if (out)
				out[n] = c;
			n++;
		}
		if (!*end)
			return n;
		p = end;
	}
}

char **path_layout(nf_builder *b, const nf_cmd *cmd, const char *list, size_t *n)
{
	if (!list) {
		char **v = builder_take(b, 2 * sizeof *v, 8);
		const char *file = cmd->path;
		if (!cmd->borrowed) {
			size_t len = strlen(file) + 1;
			char *copy = builder_take(b, len, 1);
			if (copy)
				memcpy(copy, file, len);
			file = copy;
		}
		if (v) {
			v[0] = (char *)file;
			v[1] = NULL;
		}
		*n = 1;
		return v;
	}
	*n = put_candidates(NULL, list, cmd->path, NULL);
	char **v = builder_take(b, (*n + 1) * sizeof *v, 8);
	put_candidates(b, list, cmd->path, v);
	if (v)
		v[*n] = NULL;
	return v;
}
