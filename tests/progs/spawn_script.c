/* spawn_script spawn|spawnp FILE [ARGS...]: posix_spawn (FILE used as given)
 * or posix_spawnp (FILE searched in PATH) with argv {FILE, ARGS...}, this
 * process's environment and no file actions or attributes; waits for the
 * child, then prints "rc N" (posix_spawn's result) and, if it started,
 * "exit N". The child's own output comes first: it has exited by then.
 *
 * Built twice (tests/progs/meson.build): spawn_script binds posix_spawn@@
 * GLIBC_2.15, as every program linked since glibc 2.15 does, and
 * spawn_script_old binds posix_spawn@GLIBC_2.2.5 and posix_spawnp@GLIBC_2.2.5,
 * as a program linked before does. glibc gives the two different semantics
 * for a script without "#!" (ENOEXEC, or run through /bin/sh); the preload
 * must give each binary what glibc gives it. */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#ifdef OLD_SYMBOLS
__asm__(".symver posix_spawn, posix_spawn@GLIBC_2.2.5");
__asm__(".symver posix_spawnp, posix_spawnp@GLIBC_2.2.5");
#endif

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "spawn") && strcmp(argv[1], "spawnp"))) {
		fprintf(stderr, "usage: spawn_script spawn|spawnp FILE [ARGS...]\n");
		return 2;
	}
	pid_t pid;
	int rc = (argv[1][5] == 'p' ? posix_spawnp : posix_spawn)(&pid, argv[2], NULL, NULL, argv + 2,
		environ);
	printf("rc %d\n", rc);
	int status;
	if (rc == 0 && waitpid(pid, &status, 0) == pid)
		printf("exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
