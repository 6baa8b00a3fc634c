/* confine: run a command confined, on nofork alone (no fork, no helper).
 *
 *   confine [--ro DIR]... [--hostname NAME] -- PROGRAM [ARG...]
 *
 * The program runs as uid/gid 0 of a new user namespace (mapped to the
 * caller's own ids: works for any user), pid 1 of a new pid namespace, in
 * new mount, UTS and IPC namespaces, with no_new_privs, under a seccomp
 * filter that refuses (EPERM) the syscalls that would widen or probe the
 * sandbox (mount, umount2, pivot_root, chroot, unshare, setns, ptrace,
 * keyctl, add_key, request_key, bpf, perf_event_open, userfaultfd), with
 * its root a fresh tmpfs holding:
 *   /usr            the caller's /usr, read-only
 *   /bin /lib /lib64 /sbin  symlinks into usr where the caller's are
 *                   (merged /usr), else read-only binds
 *   /etc            read-only bind
 *   /tmp            an empty tmpfs
 *   /proc           its own pid namespace's proc
 *   /dev            the caller's /dev, bound (nosuid)
 *   each --ro DIR   read-only at the same path (parents made in the tmpfs)
 * and its cwd "/". PROGRAM is looked up in PATH inside the sandbox.
 * Exit status: the program's (128 + N if killed by signal N); 125 for a
 * bad command line or a spawn that failed (the reason, naming the step,
 * on stderr; 127 when the program was not found).
 */
#include <nofork.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RO 16

static nf_cmd *cmd;
static char root[] = "/tmp/confine.XXXXXX";

static void die(const char *what, int e)
{
	fprintf(stderr, "confine: %s: %s\n", what, strerror(e));
	if (root[sizeof root - 2] != 'X')
		rmdir(root);
	exit(125);
}

static void check(const char *what, int e)
{
	if (e)
		die(what, e);
}

/* "root + path" into buf. */
static const char *in_root(char *buf, size_t n, const char *path)
{
	snprintf(buf, n, "%s%s", root, path);
	return buf;
}

/* Every directory from / down to dir, made inside the root. */
static void mkdirs(const char *dir)
{
	char part[4096], at[4200];
	for (const char *p = dir + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		snprintf(part, sizeof part, "%.*s", (int)(p - dir), dir);
		check("mkdir", nf_cmd_mkdir(cmd, in_root(at, sizeof at, part), 0755));
		if (!*p)
			break;
	}
}

static void ro_bind(const char *dir)
{
	char at[4200];
	mkdirs(dir);
	check("mount", nf_cmd_mount(cmd, dir, in_root(at, sizeof at, dir), NULL, MS_BIND | MS_REC | MS_RDONLY, NULL));
}

/* /bin and friends: a symlink where the caller has one into usr, else a
 * read-only bind, else nothing. */
static void top_dir(const char *name)
{
	char host[64], target[4096], at[4200];
	snprintf(host, sizeof host, "/%s", name);
	ssize_t n = readlink(host, target, sizeof target - 1);
	struct stat st;
	if (n > 0) {
		target[n] = '\0';
		check("symlink", nf_cmd_symlink(cmd, target, in_root(at, sizeof at, host)));
	} else if (stat(host, &st) == 0 && S_ISDIR(st.st_mode)) {
		ro_bind(host);
	}
}

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

/* The filter: the native architecture only (another one is killed), and
 * EPERM for each listed syscall. */
static const int denied[] = {SYS_mount,   SYS_umount2,     SYS_pivot_root, SYS_chroot,      SYS_unshare,
                             SYS_setns,   SYS_ptrace,      SYS_keyctl,     SYS_add_key,     SYS_request_key,
                             SYS_bpf,     SYS_perf_event_open, SYS_userfaultfd};
#define N_DENIED (sizeof denied / sizeof *denied)

static void add_seccomp(void)
{
	static struct sock_filter f[4 + 2 * N_DENIED + 1];
	size_t k = 0;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (size_t i = 0; i < N_DENIED; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {(unsigned short)k, f};
	check("seccomp", nf_cmd_seccomp(cmd, &prog));
}

int main(int argc, char **argv)
{
	const char *ro[MAX_RO], *hostname = "confined";
	int n_ro = 0, i = 1;
	for (; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--ro") && i + 1 < argc && argv[i + 1][0] == '/' && n_ro < MAX_RO)
			ro[n_ro++] = argv[++i];
		else if (!strcmp(argv[i], "--hostname") && i + 1 < argc)
			hostname = argv[++i];
		else
			die("usage: confine [--ro DIR]... [--hostname NAME] -- PROGRAM [ARG...]", EINVAL);
	}
	if (i + 1 >= argc)
		die("usage: confine [--ro DIR]... [--hostname NAME] -- PROGRAM [ARG...]", EINVAL);
	if (!mkdtemp(root))
		die("mkdtemp", errno);

	check("nf_cmd_newp", nf_cmd_newp(&cmd, argv[i + 1], argv + i + 1, NULL));
	check("namespaces", nf_cmd_namespaces(cmd, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS |
	                                                CLONE_NEWIPC));
	char map[64];
	snprintf(map, sizeof map, "0 %u 1", (unsigned)geteuid());
	check("uid map", nf_cmd_uid_map(cmd, map));
	snprintf(map, sizeof map, "0 %u 1", (unsigned)getegid());
	check("gid map", nf_cmd_gid_map(cmd, map));
	check("hostname", nf_cmd_hostname(cmd, hostname));

	char at[4200];
	check("mount", nf_cmd_mount(cmd, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
	ro_bind("/usr");
	ro_bind("/etc");
	static const char *const tops[] = {"bin", "lib", "lib64", "sbin"};
	for (size_t t = 0; t < 4; t++)
		top_dir(tops[t]);
	mkdirs("/tmp");
	check("mount", nf_cmd_mount(cmd, "tmpfs", in_root(at, sizeof at, "/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, NULL));
	mkdirs("/proc");
	check("mount", nf_cmd_mount(cmd, "proc", in_root(at, sizeof at, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	                            NULL));
	mkdirs("/dev");
	check("mount", nf_cmd_mount(cmd, "/dev", in_root(at, sizeof at, "/dev"), NULL, MS_BIND | MS_REC | MS_NOSUID, NULL));
	for (int r = 0; r < n_ro; r++)
		ro_bind(ro[r]);
	check("chroot", nf_cmd_chroot(cmd, root));
	check("no_new_privs", nf_cmd_no_new_privs(cmd));
	add_seccomp();

	nf_proc proc;
	nf_error err;
	int e = nf_spawn(cmd, &proc, &err);
	if (e) {
		rmdir(root);
		char msg[NF_ERROR_MAX];
		fprintf(stderr, "confine: %s\n", nf_error_format(&err, msg, sizeof msg));
		return err.op == NF_OP_EXEC && (e == ENOENT || e == ENOTDIR) ? 127 : 125;
	}
	int st;
	check("wait", nf_proc_wait(&proc, &st, -1));
	nf_proc_release(&proc);
	nf_cmd_free(cmd);
	rmdir(root); /* empty here: its tmpfs was mounted in the child's namespace only */
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
