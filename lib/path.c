/* PATH search, done in the parent: the child only walks the candidates. */
#include "nofork_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
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

void nf_path_free(char **cands)
{
	if (cands)
		for (char **c = cands; *c; c++)
			free(*c);
	free(cands);
}

int nf_path_candidates(const nf_cmd *cmd, char ***out)
{
	const char *file = cmd->path;
	if (!cmd->search || strchr(file, '/')) {
		char **v = calloc(2, sizeof *v);
		if (!v || !(v[0] = strdup(file))) {
			free(v);
			return ENOMEM;
		}
		*out = v;
		return 0;
	}
	/* The child's PATH decides (execvpe semantics), unless the caller named
	 * a list; with the live environment, PATH is read now, at compile time. */
	const char *path = cmd->search_path ? cmd->search_path : env_path(cmd->envp ? cmd->envp : environ);
	if (!path)
		path = DEFAULT_PATH;
	size_t n = 1, flen = strlen(file);
	for (const char *p = path; *p; p++)
		n += *p == ':';
	char **v = calloc(n + 1, sizeof *v);
	if (!v)
		return ENOMEM;
	size_t k = 0;
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		/* An empty element means the current directory. A candidate the
		 * kernel would refuse as too long is not a place the file can be. */
		if (dlen + 1 + flen < PATH_MAX) {
			char *c = malloc(dlen + 1 + flen + 1);
			if (!c) {
				nf_path_free(v);
				return ENOMEM;
			}
			if (dlen) {
				memcpy(c, p, dlen);
				c[dlen] = '/';
				memcpy(c + dlen + 1, file, flen + 1);
			} else {
				memcpy(c, file, flen + 1);
			}
			v[k++] = c;
		}
		if (!*end)
			break;
		p = end;
	}
	*out = v;
	return 0;
}
