/* libnofork-preload.so under real programs: each program runs twice, plainly
 * (glibc's posix_spawn) and with LD_PRELOAD, and the results must be the same.
 * Each run with the preload sets NOFORK_PRELOAD_TRACE, and the trace file must
 * hold one line per spawn the program made, so a program that silently
 * bypassed the preload (or a preload that was not loaded) fails the test.
 *
 * - Python's os.posix_spawn/os.posix_spawnp with file actions, setsid,
 *   setpgroup, setsigmask, setsigdef, resetids and scheduler
 *   (tests/test_preload_python.py prints what each probe child saw).
 * - GNU make -j2 and ninja -j2 building a small generated C project: same
 *   commands, same program, same output.
 * - Binaries linked against glibc's old posix_spawn[p]@GLIBC_2.2.5 and the
 *   current ones, spawning a script without "#!": each gets what glibc gives
 *   it (/bin/sh runs it, or ENOEXEC), through the version it bound.
 * - posix_spawn from a SIGALRM handler while the program mallocs and frees:
 *   the preload allocates nothing, so the heap survives.
 *
 * Needs python3, make, ninja and cc (Debian: python3 make ninja-build gcc).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch_abi.h" /* NF_GLIBC_SPAWN_OLD */
#include "kit.h"

extern char **environ;

static char scratch[64];
static char trace[PATH_MAX];

static void read_fd(int fd, char **out)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (cap - n < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
}

/* Run argv in dir (through glibc: this process is not preloaded) with stdout
 * and stderr captured; with `preload`, LD_PRELOAD and the trace are set in
 * its environment. Returns the wait status. */
static int run(char *const argv[], const char *dir, bool preload, char **out)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 3, sizeof *env);
	ck_assert_ptr_nonnull(env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "NOFORK_PRELOAD_TRACE=", 21)
		    && strncmp(environ[i], "MAKEFLAGS=", 10) && strncmp(environ[i], "MFLAGS=", 7))
			env[k++] = environ[i];
	char pre[PATH_MAX + 16], tr[PATH_MAX + 32];
	if (preload) {
		snprintf(pre, sizeof pre, "LD_PRELOAD=%s", PRELOAD_PATH);
		snprintf(tr, sizeof tr, "NOFORK_PRELOAD_TRACE=%s", trace);
		env[k++] = pre;
		env[k++] = tr;
	}
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	close(p[1]);
	ck_assert_msg(r == 0, "cannot start %s: %s", argv[0], strerror(r));
	read_fd(p[0], out);
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* Lines of the trace file: one per spawn made through the preload. */
static int trace_lines(const char *fn)
{
	FILE *f = fopen(trace, "re");
	if (!f)
		return 0;
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof line, f))
		if (!fn || strstr(line, fn))
			n++;
	fclose(f);
	return n;
}

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
		if (!strncmp(l, prefix, strlen(prefix)))
			n++;
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of text in sorted order, without ninja's "[i/n] " progress
 * prefix: with -j2 the order in which commands start may differ. */
static char *sorted(const char *text)
{
	char *copy = strdup(text);
	char *lines[512];
	size_t n = 0;
	for (char *s, *l = strtok_r(copy, "\n", &s); l && n < 512; l = strtok_r(NULL, "\n", &s)) {
		if (l[0] == '[' && strstr(l, "] "))
			l = strstr(l, "] ") + 2;
		lines[n++] = l;
	}
	qsort(lines, n, sizeof *lines, cmp_str);
	char *out = calloc(1, strlen(text) + 2);
	for (size_t i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
	}
	free(copy);
	return out;
}

static void write_file(const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", scratch, name);
	FILE *f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
	snprintf(scratch, sizeof scratch, "/tmp/nf-preload.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
	snprintf(trace, sizeof trace, "%s/trace", scratch);
}

static void teardown(void)
{
	char *argv[] = { "rm", "-rf", scratch, NULL };
	char *out;
	run(argv, "/", false, &out);
	free(out);
}

START_TEST(python_posix_spawn)
{
	char *argv[] = { PYTHON, SRCDIR "/test_preload_python.py", PROBE_PATH, scratch, NULL };
	char *plain, *pre;
	int s1 = run(argv, scratch, false, &plain);
	ck_assert_msg(WIFEXITED(s1) && WEXITSTATUS(s1) == 0, "python (glibc) failed:\n%s", plain);
	ck_assert_int_eq(trace_lines(NULL), 0);
	int s2 = run(argv, scratch, true, &pre);
	ck_assert_msg(WIFEXITED(s2) && WEXITSTATUS(s2) == 0, "python (preload) failed:\n%s", pre);
	if (strcmp(plain, pre) != 0) {
		const char *a = plain, *b = pre;
		while (*a && *a == *b)
			a++, b++;
		while (a > plain && a[-1] != '\n')
			a--, b--;
		ck_abort_msg("outputs differ at\n  glibc:   %.*s\n  preload: %.*s",
			(int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
	}
	const char *sp = strstr(pre, "\nspawns ");
	ck_assert_ptr_nonnull(sp);
	int spawns = atoi(sp + 8);
	ck_assert_int_ge(spawns, 15);
	/* Every spawn, failed ones included, went through the preload. */
	ck_assert_int_eq(trace_lines(NULL), spawns);
	ck_assert_int_eq(trace_lines(" posix_spawnp "), 2);
	/* And the children really ran: reports, not just return codes. */
	ck_assert_int_ge(count_lines(pre, "status 0"), 12);
	free(plain);
	free(pre);
}
END_TEST

/* A small C project: a generated header, five objects, one program. */
static void generate_project(void)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	char text[512], file[32];
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof text, "#include \"gen.h\"\nint f_%s(void) { return GEN + %d; }\n",
			names[i], i);
		snprintf(file, sizeof file, "%s.c", names[i]);
		write_file(file, text);
	}
	write_file("main.c",
		"#include <stdio.h>\n"
		"int f_a(void), f_b(void), f_c(void), f_d(void);\n"
		"int main(void) { printf(\"sum %d\\n\", f_a() + f_b() + f_c() + f_d()); return 0; }\n");
	write_file("Makefile",
		"OBJS = a.o b.o c.o d.o main.o\n"
		"prog: $(OBJS)\n\tcc -o $@ $(OBJS)\n"
		"%.o: %.c gen.h\n\tcc -c -o $@ $<\n"
		"gen.h:\n\techo '#define GEN 10' > $@\n"
		"clean:\n\trm -f prog $(OBJS) gen.h\n");
	write_file("build.ninja",
		"rule cc\n  command = cc -c -o $out $in\n"
		"rule link\n  command = cc -o $out $in\n"
		"rule gen\n  command = echo '#define GEN 10' > $out\n"
		"build gen.h: gen\n"
		"build a.o: cc a.c | gen.h\nbuild b.o: cc b.c | gen.h\n"
		"build c.o: cc c.c | gen.h\nbuild d.o: cc d.c | gen.h\n"
		"build main.o: cc main.c\n"
		"build prog: link a.o b.o c.o d.o main.o\n");
}

static void clean_project(void)
{
	char *argv[] = { "rm", "-rf", "prog", "a.o", "b.o", "c.o", "d.o", "main.o", "gen.h",
		".ninja_log", ".ninja_deps", NULL };
	char *out;
	ck_assert_int_eq(run(argv, scratch, false, &out), 0);
	free(out);
}

/* Build with `tool`, twice; returns nothing, asserts everything. `commands`
 * counts the lines of the tool's output that are commands it ran. */
static void build_twice(char *const build[], int (*commands)(const char *out))
{
	char *out[2], *prog_out[2];
	char *prog[] = { "./prog", NULL };
	generate_project();
	for (int k = 0; k < 2; k++) {
		clean_project();
		int before = trace_lines(NULL);
		int s = run(build, scratch, k == 1, &out[k]);
		ck_assert_msg(WIFEXITED(s) && WEXITSTATUS(s) == 0, "%s %s failed:\n%s", build[0],
			k ? "(preload)" : "(glibc)", out[k]);
		int spawned = trace_lines(NULL) - before;
		if (k == 0) {
			ck_assert_int_eq(spawned, 0);
		} else {
			/* One traced spawn per command the tool ran (gen.h, five
			 * objects, the link), and no failures. */
			ck_assert_int_eq(commands(out[k]), 7);
			ck_assert_int_eq(spawned, 7);
			ck_assert_int_eq(trace_lines(" 0\n"), spawned);
		}
		s = run(prog, scratch, false, &prog_out[k]);
		ck_assert_int_eq(s, 0);
	}
	ck_assert_str_eq(prog_out[0], "sum 46\n");
	ck_assert_str_eq(prog_out[1], prog_out[0]);
	char *a = sorted(out[0]), *b = sorted(out[1]);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	for (int k = 0; k < 2; k++) {
		free(out[k]);
		free(prog_out[k]);
	}
}

/* make echoes each command it runs: every output line is one. */
static int make_commands(const char *out)
{
	return count_lines(out, "cc ") + count_lines(out, "echo ");
}

START_TEST(make_j2)
{
	char *argv[] = { "make", "-j2", "--no-print-directory", NULL };
	build_twice(argv, make_commands);
}
END_TEST

/* ninja prints "[i/n] command" per edge. */
static int ninja_commands(const char *out)
{
	return count_lines(out, "[");
}

START_TEST(ninja_j2)
{
	char *argv[] = { "ninja", "-j2", "-v", NULL };
	build_twice(argv, ninja_commands);
	ck_assert_int_eq(trace_lines(" posix_spawn /bin/sh "), 7);
}
END_TEST

/* One run of spawn_script (old or current symbols) under glibc and under the
 * preload: the outputs must be the same; returns the preload's. */
static char *spawn_script_both(const char *prog, const char *how, const char *file, const char *dir)
{
	char *argv[] = { (char *)prog, (char *)how, (char *)file, "one", "two", NULL };
	char *plain, *pre;
	int s1 = run(argv, dir, false, &plain);
	int s2 = run(argv, dir, true, &pre);
	ck_assert_msg(s1 == 0 && s2 == 0, "%s %s: status %#x / %#x", prog, how, s1, s2);
	ck_assert_msg(!strcmp(plain, pre), "%s %s %s:\n--- glibc\n%s--- preload\n%s", prog, how, file,
		plain, pre);
	free(plain);
	return pre;
}

/* A program linked before glibc 2.15 binds posix_spawn@GLIBC_2.2.5, which runs
 * a file without a valid header (a script without "#!") as /bin/sh FILE
 * args; one linked since binds posix_spawn@@GLIBC_2.15, which returns
 * ENOEXEC. posix_spawnp likewise, where FILE is the name as given (glibc
 * stops the PATH search at the ENOEXEC). The preload must give each binary
 * glibc's answer, through the version it bound (the trace names it). */
START_TEST(old_and_new_symbols_get_glibcs_semantics)
{
	char bin[PATH_MAX], script[PATH_MAX + 16], path[2 * PATH_MAX];
	snprintf(bin, sizeof bin, "%s/bin", scratch);
	ck_assert_int_eq(mkdir(bin, 0755), 0);
	snprintf(script, sizeof script, "%s/nf-script", bin);
	write_file("bin/nf-script", "echo \"script $0 $*\"\n");
	ck_assert_int_eq(chmod(script, 0755), 0);
	/* The script is found in the second PATH element; sh reads it by the
	 * name as given, from the directory the helper runs in. */
	snprintf(path, sizeof path, "%s/nonexistent:%s:%s", scratch, bin, getenv("PATH"));
	ck_assert_int_eq(setenv("PATH", path, 1), 0);

	char *out;
	int spawns = 2;
#ifdef SPAWN_SCRIPT_OLD /* only where glibc has the old version (x86_64) */
	char want[3 * PATH_MAX];
	out = spawn_script_both(SPAWN_SCRIPT_OLD, "spawn", script, bin);
	snprintf(want, sizeof want, "script %s one two\nrc 0\nexit 0\n", script);
	ck_assert_str_eq(out, want);
	free(out);
	out = spawn_script_both(SPAWN_SCRIPT_OLD, "spawnp", "nf-script", bin);
	ck_assert_str_eq(out, "script nf-script one two\nrc 0\nexit 0\n");
	free(out);
	spawns += 2;
	ck_assert_int_eq(trace_lines(" posix_spawn@" NF_GLIBC_SPAWN_OLD " "), 1);
	ck_assert_int_eq(trace_lines(" posix_spawnp@" NF_GLIBC_SPAWN_OLD " "), 1);
#endif
	out = spawn_script_both(SPAWN_SCRIPT, "spawn", script, bin);
	ck_assert_str_eq(out, "rc 8\n"); /* ENOEXEC */
	free(out);
	out = spawn_script_both(SPAWN_SCRIPT, "spawnp", "nf-script", bin);
	ck_assert_str_eq(out, "rc 8\n");
	free(out);

	ck_assert_int_eq(trace_lines(NULL), spawns);
	ck_assert_int_eq(trace_lines(" posix_spawn "), 1);
	ck_assert_int_eq(trace_lines(" posix_spawnp "), 1);
}
END_TEST

/* posix_spawn from a SIGALRM handler that keeps interrupting malloc and
 * free (tests/progs/spawn_in_handler): glibc's allocates nothing, so this
 * works with it; the preload's must not allocate either. Every spawn is
 * traced, so the trace proves they went through the preload. */
START_TEST(spawn_from_signal_handler_during_malloc)
{
	char *argv[] = { SPAWN_IN_HANDLER, "2", PROBE_PATH, "exit", "0", NULL };
	char *plain, *pre;
	int s1 = run(argv, scratch, false, &plain);
	ck_assert_msg(s1 == 0, "glibc: status %#x: %s", s1, plain);
	int s2 = run(argv, scratch, true, &pre);
	ck_assert_msg(s2 == 0, "preload: status %#x: %s", s2, pre);
	int spawned = -1;
	ck_assert_int_eq(sscanf(pre, "spawned %d", &spawned), 1);
	ck_assert_int_gt(spawned, 0);
	ck_assert_int_eq(trace_lines(" posix_spawn "), spawned);
	ck_assert_int_eq(trace_lines(" 0\n"), spawned);
	free(plain);
	free(pre);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("preload");
	/* Two cases: the system's python3, make and ninja under the preload,
	 * and our own programs (tests/progs), the only ones tests/run-vm's VM
	 * has (it runs CK_RUN_CASE=glibc). */
	TCase *tc = kit_tcase("programs", 90);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, python_posix_spawn);
	tcase_add_test(tc, make_j2);
	tcase_add_test(tc, ninja_j2);
	suite_add_tcase(s, tc);
	tc = kit_tcase("glibc", 90);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, old_and_new_symbols_get_glibcs_semantics);
	tcase_add_test(tc, spawn_from_signal_handler_during_malloc);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
