/* Confined spawns (issue 16): spawn+wait of /bin/true inside new user, pid,
 * mount, UTS and IPC namespaces with a root built from a tmpfs, by nofork
 * (the asm child builds it), by bubblewrap, by util-linux unshare and by
 * hand-written C (fork with namespaces, what a supervisor does today), at
 * a small parent and at a 2 GiB parent. Issue targets: nofork >= 6x
 * bwrap's throughput, >= 1.2x the hand-written fork version at a small
 * parent and >= 3x at 2 GiB.
 *
 * The confinement ("full" below), the same for nofork and the hand-written
 * version (one list of steps, made once by build_layout):
 *   namespaces   CLONE_NEWUSER|NEWPID|NEWNS|NEWUTS|NEWIPC; uid map
 *                "0 <euid> 1", gid map "0 <egid> 1" (the program is root
 *                of its user namespace, nobody else is mapped)
 *   propagation  "/" made recursively private first
 *   root         a tmpfs (nosuid, nodev, mode 0755) mounted on a temp dir
 *                of ours (mkdtemp under $TMPDIR or /tmp), with:
 *     /usr       recursive bind of /usr, then remounted read-only (the
 *                top mount only, keeping the flags the kernel locks)
 *     /bin /lib /lib64  symlinks "usr/bin" etc. where the system has
 *                merged /usr (Debian 12 has); a real directory there gets
 *                a read-only bind like /usr; a missing one is left out
 *     /tmp       a fresh tmpfs (nosuid, nodev, mode 0755)
 *     /proc      a new proc (nosuid, nodev, noexec) of the new pid ns
 *     /dev       a recursive bind of the host's /dev (devices usable)
 *   then pivot_root into the root (old root detached), cwd "/", and the
 *   exec of /bin/true, resolved inside (through the /bin symlink).
 *
 * Methods, interleaved per round (harness.h, hn_run_point), each K spawns
 * of /bin/true + waiting for each, every exit status checked to be 0:
 *   nofork full          one compiled nf_cmd with all of the above (maps
 *                        written by the parent while the child waits,
 *                        bind+remount for the read-only /usr, pivot_root by
 *                        nf_cmd_chroot); nf_spawn + nf_proc_wait +
 *                        nf_proc_release from the main thread
 *   hand-written fork    clone(SIGCHLD|CLONE_NEWUSER|NEWPID|NEWNS|NEWUTS|
 *                        NEWIPC) as a raw syscall (a fork into the
 *                        namespaces: copies the parent's page tables); the
 *                        child, pid 1 of its namespace, writes its own
 *                        setgroups "deny", uid_map and gid_map, makes "/"
 *                        rprivate, mounts and links the same list, pivot_root
 *                        (".", "."), umount2 the old root, execs; waitpid.
 *                        It always writes setgroups "deny" (from inside,
 *                        even root's child must); nofork writes it only
 *                        for a parent without CAP_SETGID, so as root its
 *                        child may still call setgroups(2)
 *   bwrap                posix_spawn of `bwrap --unshare-user --uid 0 --gid
 *                        0 --unshare-pid --unshare-uts --unshare-ipc
 *                        --ro-bind /usr /usr --symlink usr/bin /bin
 *                        --symlink usr/lib /lib --symlink usr/lib64 /lib64
 *                        --tmpfs /tmp --proc /proc --dev-bind /dev /dev
 *                        /bin/true` (bubblewrap 0.8.0, not setuid; the
 *                        --symlink/--ro-bind per entry follow the layout
 *                        above) + waitpid. bwrap execs itself (dynamic),
 *                        clones a child into the namespaces, which mounts a
 *                        tmpfs on its /tmp as a staging root, pivot_roots
 *                        there, binds and remounts (also /proc/irq,
 *                        /proc/bus read-only, /dev's submounts nosuid),
 *                        pivot_roots again, then forks /bin/true as pid 2
 *                        and stays as its pid 1 reaper; three processes
 *                        and two execs per spawn. --dev-bind /dev is a
 *                        recursive bind of /dev, as in the other methods.
 *                        bwrap makes "/" rslave, not rprivate.
 *   unshare -Urpfm       posix_spawn of `unshare -Urpfm --mount-proc true`
 *                        (util-linux) + waitpid: user+pid+mount namespaces
 *                        only, the host's root (no tmpfs root, no binds, no
 *                        /tmp or /dev), a new /proc: a SMALLER confinement
 *                        than the others. unshare execs (dynamic), unshares,
 *                        writes the maps, forks the pid 1, which mounts
 *                        /proc and execvp's true.
 *   nofork ladder        what each namespace and the mounts cost beyond a
 *                        plain spawn, one thing added per row: plain
 *                        (no namespaces), +user (with the maps), +pid,
 *                        +mnt (the namespace and its rprivate, no mounts),
 *                        +mounts (the root above and pivot_root), +uts+ipc
 *                        (= nofork full).
 *
 * usage: sandbox_bench [rounds] [seconds-per-point] [TARGET]
 *        sandbox_bench --loop METHOD N [TARGET]   N spawn+waits of one
 *        method (its name as in the table, e.g. "nofork full (+uts+ipc)",
 *        or its row number from 0), nothing else: for perf, strace -c -f
 * TARGET: run this program instead of /bin/true in every method (its
 * directory is then bound read-only into each root at the same path, bwrap
 * --ro-bind), e.g. bench's static exit0: without ld.so's ~4 ms on this VM
 * the cost of the namespaces and mounts themselves stands out.
 * Points: the parent with its few MiB, then with 2 GiB of anonymous memory
 * touched (MADV_NOHUGEPAGE: 4 KiB pages, as in spawn_bench's RSS sweep).
 * Exit status 1 if any child exited with a status other than 0.
 */
#include <nofork.h>

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- the confinement, as one list of steps ---- */

enum op_kind { OP_MOUNT, OP_MKDIR, OP_SYMLINK };
struct op {
	enum op_kind kind;
	char src[64];          /* mount source, symlink target */
	char tgt[4200];        /* mount point, directory, link */
	const char *fstype;
	unsigned long flags;   /* as nf_cmd_mount takes them */
	const char *data;
	unsigned long remount; /* hand-written: flags of the read-only remount */
};
#define MAX_OPS 48 /* the base layout is at most 15, a TARGET adds up to 18 */
static struct op ops[MAX_OPS];
static int nops;
static char root[4096];

/* The program every method runs: /bin/true, or the TARGET argument (a
 * static program such as bench's exit0, whose directory every root then
 * gets as one more read-only bind, at the same path). */
static const char *prog = "/bin/true";
static char prog_dir[4096];
static char *prog_argv[] = {"true", NULL};

/* bwrap's arguments, derived from the same layout. */
static char *bwrap_argv[64];
static int bwrap_argc;

static struct op *op_add(enum op_kind kind, const char *src, const char *rel, const char *fstype,
			 unsigned long flags, const char *data)
{
	if (nops == MAX_OPS)
		abort();
	struct op *o = &ops[nops++];
	o->kind = kind;
	snprintf(o->src, sizeof o->src, "%s", src ? src : "");
	snprintf(o->tgt, sizeof o->tgt, "%s%s", root, rel);
	o->fstype = fstype;
	o->flags = flags;
	o->data = data;
	return o;
}

/* The flags a read-only remount of a bind of src must carry: MS_RDONLY and
 * the flags the kernel locks on a mount seen from a user namespace
 * (nosuid, nodev, noexec, atime), as mount(8) and nofork pass them. */
static unsigned long ro_remount_flags(const char *src)
{
	struct statvfs v;
	unsigned long f = MS_REMOUNT | MS_BIND | MS_RDONLY;
	if (statvfs(src, &v))
		return f;
	f |= (v.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (v.f_flag & ST_NODEV ? MS_NODEV : 0) |
	     (v.f_flag & ST_NOEXEC ? MS_NOEXEC : 0) | (v.f_flag & ST_NOATIME ? MS_NOATIME : 0) |
	     (v.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0) | (v.f_flag & ST_RELATIME ? MS_RELATIME : 0);
	return f;
}

static void bwrap_arg(const char *a)
{
	if (bwrap_argc == 63)
		abort();
	bwrap_argv[bwrap_argc++] = (char *)a;
}

static void ro_bind(const char *src, const char *rel)
{
	op_add(OP_MKDIR, NULL, rel, NULL, 0, NULL);
	op_add(OP_MOUNT, src, rel, NULL, MS_BIND | MS_REC | MS_RDONLY, NULL)->remount = ro_remount_flags(src);
	bwrap_arg("--ro-bind");
	bwrap_arg(src);
	bwrap_arg(src);
}

/* The list of steps (header comment), in the order they run, and bwrap's
 * command line for the same view. */
static void build_layout(void)
{
	static const char *const bwrap_head[] = {"bwrap", "--unshare-user", "--uid", "0", "--gid", "0",
						 "--unshare-pid", "--unshare-uts", "--unshare-ipc"};
	for (size_t i = 0; i < sizeof bwrap_head / sizeof *bwrap_head; i++)
		bwrap_arg(bwrap_head[i]);
	op_add(OP_MOUNT, "tmpfs", "", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	ro_bind("/usr", "/usr");
	static const char *const merged[] = {"/bin", "/lib", "/lib64"};
	static char link_src[3][64];
	for (int i = 0; i < 3; i++) {
		struct stat st;
		char l[64];
		ssize_t n;
		if (lstat(merged[i], &st))
			continue; /* not on this system: left out */
		if (S_ISLNK(st.st_mode) && (n = readlink(merged[i], l, sizeof l - 1)) > 0) {
			l[n] = '\0';
			snprintf(link_src[i], sizeof link_src[i], "%s", l);
			op_add(OP_SYMLINK, link_src[i], merged[i], NULL, 0, NULL);
			bwrap_arg("--symlink");
			bwrap_arg(link_src[i]);
			bwrap_arg(merged[i]);
		} else if (S_ISDIR(st.st_mode)) {
			ro_bind(merged[i], merged[i]);
		}
	}
	op_add(OP_MKDIR, NULL, "/tmp", NULL, 0, NULL);
	op_add(OP_MOUNT, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	op_add(OP_MKDIR, NULL, "/proc", NULL, 0, NULL);
	op_add(OP_MOUNT, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	op_add(OP_MKDIR, NULL, "/dev", NULL, 0, NULL);
	op_add(OP_MOUNT, "/dev", "/dev", NULL, MS_BIND | MS_REC, NULL);
	if (*prog_dir) {
		/* The target's directory: its parents made in the tmpfs root (bwrap
		 * makes them itself), then a read-only bind. */
		static char parents[16][4096];
		int n = 0;
		for (char *p = prog_dir + 1; (p = strchr(p, '/')) && n < 16; p++, n++) {
			snprintf(parents[n], sizeof parents[n], "%.*s", (int)(p - prog_dir), prog_dir);
			op_add(OP_MKDIR, NULL, parents[n], NULL, 0, NULL);
		}
		ro_bind(prog_dir, prog_dir);
	}
	static const char *const bwrap_tail[] = {"--tmpfs", "/tmp", "--proc", "/proc", "--dev-bind", "/dev", "/dev"};
	for (size_t i = 0; i < sizeof bwrap_tail / sizeof *bwrap_tail; i++)
		bwrap_arg(bwrap_tail[i]);
	bwrap_arg(prog);
	bwrap_argv[bwrap_argc] = NULL;
}

/* ---- the methods ---- */

enum {
	M_PLAIN,   /* the nofork ladder: one thing added per row */
	M_USER,
	M_PID,
	M_MNT,
	M_MOUNTS,
	M_FULL,    /* = the ladder's last row */
	M_HAND,
	M_BWRAP,
	M_UNSHARE,
	METHODS
};
static const char *const names[METHODS] = {
	"nofork plain (no namespaces)",
	"nofork +user (maps)",
	"nofork +user+pid",
	"nofork +user+pid+mnt (no mounts)",
	"nofork +mounts, pivot_root",
	"nofork full (+uts+ipc)",
	"hand-written fork",
	"bwrap",
	"unshare -Urpfm --mount-proc",
};

static char *unshare_argv[] = {NULL, "-Urpfm", "--mount-proc", "true", NULL};
static char uid_map[64], gid_map[64];
static const char *bwrap_path, *unshare_path;
static nf_cmd *cmds[METHODS];
static long failures[METHODS];
/* CPU time per spawn of each timed batch (this process and its reaped
 * children, hn_cpu_s) at the point running: on a loaded machine the wall
 * time mostly measures the others' load, the CPU time still compares the
 * work each method makes the kernel and its processes do. */
static double cpu_us[METHODS][HN_MAX_ROUNDS];
static int ncpu[METHODS];
static int first_bad_status[METHODS] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};

/* Where a hand-written child failed: step and errno, in a shared page (the
 * child's own memory is a copy). */
static volatile int *hand_fail;

static int nofork_cmd(int level, nf_cmd **out)
{
	nf_cmd *c;
	int e = nf_cmd_new(&c, prog, prog_argv, NULL);
	static const unsigned long ns[] = {
		[M_PLAIN] = 0,
		[M_USER] = CLONE_NEWUSER,
		[M_PID] = CLONE_NEWUSER | CLONE_NEWPID,
		[M_MNT] = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS,
		[M_MOUNTS] = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS,
		[M_FULL] = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC,
	};
	if (!e && level > M_PLAIN)
		e = nf_cmd_namespaces(c, ns[level]);
	if (!e && level > M_PLAIN)
		e = nf_cmd_uid_map(c, uid_map);
	if (!e && level > M_PLAIN)
		e = nf_cmd_gid_map(c, gid_map);
	for (int i = 0; !e && level >= M_MOUNTS && i < nops; i++) {
		const struct op *o = &ops[i];
		switch (o->kind) {
		case OP_MOUNT:
			e = nf_cmd_mount(c, o->src, o->tgt, o->fstype, o->flags, o->data);
			break;
		case OP_MKDIR: e = nf_cmd_mkdir(c, o->tgt, 0755); break;
		case OP_SYMLINK: e = nf_cmd_symlink(c, o->src, o->tgt); break;
		}
	}
	if (!e && level >= M_MOUNTS)
		e = nf_cmd_chroot(c, root);
	if (e) {
		nf_cmd_free(c);
		return e;
	}
	*out = c;
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The hand-written child: pid 1 of its new namespaces, in a copy of the
 * parent's memory. Reports its failing step and errno, then exits 100+. */
static _Noreturn void hand_fail_at(int step)
{
	hand_fail[0] = step;
	hand_fail[1] = errno;
	_exit(100 + step);
}

static _Noreturn void hand_child(void)
{
	if (write_file("/proc/self/setgroups", "deny"))
		hand_fail_at(1);
	if (write_file("/proc/self/uid_map", uid_map))
		hand_fail_at(2);
	if (write_file("/proc/self/gid_map", gid_map))
		hand_fail_at(3);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		hand_fail_at(4);
	for (int i = 0; i < nops; i++) {
		const struct op *o = &ops[i];
		int r = 0;
		switch (o->kind) {
		case OP_MOUNT:
			if (o->flags & MS_BIND) {
				r = mount(o->src, o->tgt, NULL, o->flags & (MS_BIND | MS_REC), NULL);
				if (!r && o->remount)
					r = mount(NULL, o->tgt, NULL, o->remount, NULL);
			} else {
				r = mount(o->src, o->tgt, o->fstype, o->flags, o->data);
			}
			break;
		case OP_MKDIR: r = mkdir(o->tgt, 0755) && errno != EEXIST; break; /* as nf_cmd_mkdir */
		case OP_SYMLINK: r = symlink(o->src, o->tgt); break;
		}
		if (r)
			hand_fail_at(10 + i);
	}
	/* As nofork does: on an initramfs root (a VM), where pivot_root is
	 * EINVAL, chroot into the new root instead. */
	if (chdir(root))
		hand_fail_at(5);
	if (syscall(SYS_pivot_root, ".", ".") == 0 ? umount2(".", MNT_DETACH) : errno != EINVAL || chroot("."))
		hand_fail_at(5);
	if (chdir("/"))
		hand_fail_at(5);
	execve(prog, prog_argv, environ);
	hand_fail_at(6);
}

static int hand_spawn(pid_t *pid)
{
	long r = syscall(SYS_clone, SIGCHLD | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS |
					    CLONE_NEWIPC, NULL, NULL, NULL, NULL);
	if (r < 0)
		return errno;
	if (r == 0)
		hand_child();
	*pid = (pid_t)r;
	return 0;
}

/* One spawn + wait of method m: an errno if it could not be spawned, else
 * 0 with *status the child's wait status. */
static int spawn_wait(int m, int *status)
{
	if (m <= M_FULL) {
		nf_proc p;
		int e = nf_spawn(cmds[m], &p, NULL);
		if (e)
			return e;
		e = nf_proc_wait(&p, status, -1);
		nf_proc_release(&p);
		return e;
	}
	pid_t pid;
	int e;
	if (m == M_HAND)
		e = hand_spawn(&pid);
	else
		e = posix_spawn(&pid, m == M_BWRAP ? bwrap_path : unshare_path, NULL, NULL,
				m == M_BWRAP ? bwrap_argv : unshare_argv, environ);
	if (e)
		return e;
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return 0;
}

static int c_open(void *arg, int j, void **run)
{
	(void)arg;
	*run = (void *)(intptr_t)j;
	if (j > M_FULL) {
		if ((j == M_BWRAP && !bwrap_path) || (j == M_UNSHARE && !unshare_path))
			return ENOENT;
		return 0;
	}
	return cmds[j] ? 0 : nofork_cmd(j, &cmds[j]);
}

/* k spawn+waits; value: spawns/s. Every status is checked: a bad one is
 * counted (failures column); a batch with no good one fails the row. */
static int c_batch(void *arg, void *run, long k, bool single, double *value)
{
	(void)arg;
	(void)single;
	int m = (int)(intptr_t)run;
	long bad = 0;
	double c0 = hn_cpu_s(), t0 = hn_now_s();
	for (long i = 0; i < k; i++) {
		int st = -1, e = spawn_wait(m, &st);
		if (e)
			return e;
		if (st) {
			bad++;
			if (first_bad_status[m] < 0)
				first_bad_status[m] = st;
		}
	}
	double dt = hn_now_s() - t0;
	if (!single && ncpu[m] < HN_MAX_ROUNDS)
		cpu_us[m][ncpu[m]++] = (hn_cpu_s() - c0) * 1e6 / k;
	failures[m] += bad;
	*value = k / dt;
	return bad == k ? EPROTO : 0;
}

/* "/usr/bin/name" from PATH (default /usr/bin:/bin), or NULL. */
static const char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char *dirs = strdup(path && *path ? path : "/usr/bin:/bin"), *save = NULL;
	static char found[2][4200];
	static int used;
	const char *r = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d && !r; d = strtok_r(NULL, ":", &save)) {
		snprintf(found[used], sizeof found[used], "%s/%s", d, name);
		if (!access(found[used], X_OK))
			r = found[used++];
	}
	free(dirs);
	return r;
}

/* ---- the table ---- */

static double us_of(const struct hn_row *r)
{
	return r && r->ok && r->med > 0 ? 1e6 / r->med : NAN;
}

/* Median CPU µs per spawn of method m at the point run last, or NAN. */
static double cpu_med(int m)
{
	return ncpu[m] ? hn_stats(cpu_us[m], ncpu[m]).med : NAN;
}

static void print_point(const char *point)
{
	const struct hn_row *plain = hn_find_row("sandbox", point, names[M_PLAIN]);
	const struct hn_row *bw = hn_find_row("sandbox", point, names[M_BWRAP]);
	const struct hn_row *hand = hn_find_row("sandbox", point, names[M_HAND]);
	for (int j = 0; j < METHODS; j++) {
		const struct hn_row *r = hn_find_row("sandbox", point, names[j]);
		if (!r->ok) {
			printf("| %s | %s | n/a: %s | | | | | | %ld | - | - |\n", point, names[j], r->why, failures[j]);
			continue;
		}
		char beyond[32] = "-", step[32] = "-", rb[16], rh[16];
		double us = us_of(r);
		if (j != M_PLAIN && !isnan(us_of(plain)))
			snprintf(beyond, sizeof beyond, "%+.1f", us - us_of(plain));
		if (j > M_PLAIN && j <= M_FULL) {
			double prev = us_of(hn_find_row("sandbox", point, names[j - 1]));
			if (!isnan(prev))
				snprintf(step, sizeof step, "%+.1f", us - prev);
		}
		hn_fmt_ratio(rb, sizeof rb, hn_ratio(r, bw));
		hn_fmt_ratio(rh, sizeof rh, hn_ratio(r, hand));
		printf("| %s | %s | %.0f | %.0f-%.0f | %.1f | %s | %s | %.1f | %ld | %s | %s |\n", point, names[j],
		       r->med, r->min, r->max, us, beyond, step, cpu_med(j), failures[j], rb, rh);
	}
}

/* The targets' line of the point run last (per-round ratios are kept for
 * that point only), into buf. */
static void targets_line(char *buf, size_t n, const char *point, double hand_target)
{
	struct hn_stats b = hn_last_ratio(names[M_FULL], names[M_BWRAP]);
	struct hn_stats h = hn_last_ratio(names[M_FULL], names[M_HAND]);
	const struct hn_row *full = hn_find_row("sandbox", point, names[M_FULL]);
	double rb = hn_ratio(full, hn_find_row("sandbox", point, names[M_BWRAP]));
	double rh = hn_ratio(full, hn_find_row("sandbox", point, names[M_HAND]));
	snprintf(buf, n, "- %s: nofork full / bwrap = %.2f (per-round ratios: median %.2f, %.2f-%.2f; target >= 6: %s; "
	       "CPU per spawn bwrap / nofork full = %.2f); nofork full / hand-written fork = %.2f (per-round: median "
	       "%.2f, %.2f-%.2f; target >= %.1f: %s; CPU per spawn hand / nofork full = %.2f)\n",
	       point, rb, b.med, b.min, b.max, isnan(rb) ? "n/a" : rb >= 6 ? "met" : "MISSED",
	       cpu_med(M_BWRAP) / cpu_med(M_FULL), rh, h.med, h.min, h.max, hand_target,
	       isnan(rh) ? "n/a" : rh >= hand_target ? "met" : "MISSED", cpu_med(M_HAND) / cpu_med(M_FULL));
}

/* --loop: n spawn+waits of method m, for perf and strace. */
static int loop(const char *which, long n)
{
	int m = -1;
	for (int j = 0; j < METHODS; j++)
		if (!strcmp(which, names[j]))
			m = j;
	if (m < 0 && *which >= '0' && *which <= '9' && atoi(which) < METHODS)
		m = atoi(which);
	if (m < 0 || n < 1) {
		fprintf(stderr, "sandbox_bench: --loop METHOD N: no method \"%s\"\n", which);
		return 2;
	}
	void *run;
	int e = c_open(NULL, m, &run);
	double t0 = hn_now_s(), v;
	if (!e)
		e = c_batch(NULL, run, n, false, &v);
	if (e) {
		fprintf(stderr, "sandbox_bench: %s: %s\n", names[m], strerror(e));
		if (m == M_HAND && hand_fail[0])
			fprintf(stderr, "sandbox_bench: the hand-written child failed at step %d: %s\n", hand_fail[0],
				strerror(hand_fail[1]));
		return 1;
	}
	printf("%s: %ld spawns, %.1f µs each, %.1f µs CPU each, %ld failed\n", names[m], n,
	       (hn_now_s() - t0) * 1e6 / n, cpu_us[m][0], failures[m]);
	nf_cmd_free(cmds[m]);
	rmdir(root);
	return failures[m] ? 1 : 0;
}

int main(int argc, char **argv)
{
	bool loop_mode = argc >= 4 && !strcmp(argv[1], "--loop");
	int rounds = argc > 1 && !loop_mode ? atoi(argv[1]) : 9;
	double point_s = argc > 2 && !loop_mode ? atof(argv[2]) : 30;
	const char *target = loop_mode ? (argc > 4 ? argv[4] : NULL) : (argc > 3 ? argv[3] : NULL);
	if (rounds < 1 || rounds > HN_MAX_ROUNDS || point_s <= 0 || argc > 5 || (!loop_mode && argc > 4)) {
		fprintf(stderr, "usage: sandbox_bench [rounds] [seconds-per-point] [TARGET] | --loop METHOD N [TARGET]\n");
		return 2;
	}
	static char prog_path[4096];
	if (target) {
		if (!realpath(target, prog_path) || access(prog_path, X_OK)) {
			fprintf(stderr, "sandbox_bench: %s: not an executable\n", target);
			return 2;
		}
		prog = prog_path;
		snprintf(prog_dir, sizeof prog_dir, "%s", prog_path);
		*strrchr(prog_dir, '/') = '\0';
		prog_argv[0] = strrchr(prog_path, '/') + 1;
		unshare_argv[3] = prog_path;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof root, "%s/nf-sandbox-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("sandbox_bench: mkdtemp");
		return 1;
	}
	snprintf(uid_map, sizeof uid_map, "0 %u 1", (unsigned)geteuid());
	snprintf(gid_map, sizeof gid_map, "0 %u 1", (unsigned)getegid());
	bwrap_path = find_in_path("bwrap");
	unshare_path = find_in_path("unshare");
	unshare_argv[0] = (char *)unshare_path;
	build_layout();
	hand_fail = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (hand_fail == MAP_FAILED)
		return 1;
	if (loop_mode)
		return loop(argv[2], atol(argv[3]));

	printf("\n### Confined spawn+wait of %s (spawns/s): user+pid+mnt+uts+ipc namespaces, tmpfs root, "
	       "%d interleaved rounds, uid %u\n\n",
	       prog, rounds, (unsigned)geteuid());
	hn_print_load("before");
	printf("\n| parent | method | median spawns/s | min-max | µs per spawn | beyond plain nofork µs | "
	       "this step µs | CPU µs per spawn | failures | / bwrap | / hand-written fork |\n"
	       "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
	struct hn_budget budget = {.rounds = rounds, .kmax = 5000, .point_s = point_s, .parallel = 1};
	struct hn_contenders c = {.n = METHODS, .names = names, .open = c_open, .batch = c_batch, .arg = NULL};
	char lines[2][512];
	for (int gib = 0; gib <= 2; gib += 2) {
		char point[16];
		snprintf(point, sizeof point, "%d GiB", gib);
		size_t size = (size_t)gib << 30;
		char *mem = NULL;
		if (size) {
			mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mem == MAP_FAILED)
				return 1;
			madvise(mem, size, MADV_NOHUGEPAGE);
			for (size_t i = 0; i < size; i += 4096)
				mem[i] = 1;
		}
		memset(ncpu, 0, sizeof ncpu);
		hn_run_point("sandbox", point, true, &budget, &c);
		print_point(point);
		targets_line(lines[gib / 2], sizeof lines[0], point, gib ? 3.0 : 1.2);
		if (mem)
			munmap(mem, size);
	}
	printf("\nThroughput ratios are method/reference (medians): above 1 is faster. "
	       "\"this step\": the nofork row's cost over the row above it.\n\n");
	fputs(lines[0], stdout);
	fputs(lines[1], stdout);
	hn_print_load("after");

	long bad = 0;
	for (int j = 0; j < METHODS; j++) {
		nf_cmd_free(cmds[j]);
		bad += failures[j];
		if (failures[j])
			fprintf(stderr, "sandbox_bench: %s: %ld children exited with a status other than 0 "
					"(first: 0x%x)\n",
				names[j], failures[j], first_bad_status[j]);
	}
	if (hand_fail[0])
		fprintf(stderr, "sandbox_bench: hand-written child failed at step %d: %s\n", hand_fail[0],
			strerror(hand_fail[1]));
	rmdir(root);
	return bad ? 1 : 0;
}
