/* Helpers for the hardening suites; see hard_common.h. */
#include "hard_common.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

void deny_syscalls(const struct deny_rule *rules, size_t n)
{
	struct sock_filter f[8 + 6 * 16];
	size_t k = 0;
	ck_assert_uint_le(n, 16);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	for (size_t i = 0; i < n; i++) {
		const struct deny_rule *r = &rules[i];
		unsigned ret = r->err == DENY_KILL_PROCESS ? SECCOMP_RET_KILL_PROCESS
		               : r->err == DENY_KILL_THREAD ? SECCOMP_RET_KILL_THREAD
		               : r->err == DENY_TRAP        ? SECCOMP_RET_TRAP
		                                            : SECCOMP_RET_ERRNO | ((unsigned)r->err & SECCOMP_RET_DATA);
		/* Each rule reloads nr, so rules are independent blocks. */
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
		if (r->arg < 0) {
			f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r->nr, 0, 1);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
		} else {
			f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r->nr, 0, 4);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			                                      offsetof(struct seccomp_data, args[r->arg]));
			f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, r->mask);
			f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, r->value, 0, 1);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
		}
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {(unsigned short)k, f};
	/* Root may filter without no_new_privs; keeping it off matters for
	 * the tests that exec a setuid binary under a filter. */
	if (geteuid() != 0)
		ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_msg(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0, "seccomp: %s",
	              strerror(errno));
}

void deny_clone3_with(int err)
{
	struct deny_rule r = DENY_ALWAYS(SYS_clone3, err);
	deny_syscalls(&r, 1);
	ck_assert(syscall(SYS_clone3, NULL, 0) == -1 && errno == err);
}

void deny_pidfd(void)
{
	struct deny_rule r[] = {
	    DENY_ALWAYS(SYS_clone3, ENOSYS),
	    {SYS_clone, 0, CLONE_PIDFD, CLONE_PIDFD, EINVAL},
	};
	deny_syscalls(r, 2);
}

void deny_close_range(int err)
{
	struct deny_rule r = DENY_ALWAYS(SYS_close_range, err);
	deny_syscalls(&r, 1);
	ck_assert(syscall(SYS_close_range, 1000000, 1000001, 0) == -1 && errno == err);
}

void deny_proc_fd_walk(void)
{
	struct deny_rule r[] = {
	    DENY_ALWAYS(SYS_close_range, ENOSYS),
	    {SYS_openat, 2, 0xffffffffu, O_RDONLY | O_DIRECTORY | O_CLOEXEC, ENOENT},
	};
	deny_syscalls(r, 2);
	ck_assert(open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC) == -1 && errno == ENOENT);
}

/* ---- credentials --------------------------------------------------------------- */

void drop_to_nobody(void)
{
	ck_assert_msg(geteuid() == 0, "this test needs root to drop to uid 65534");
	ck_assert_int_eq(setgroups(0, NULL), 0);
	ck_assert_int_eq(setresgid(65534, 65534, 65534), 0);
	ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
	uid_t r, e, s;
	ck_assert_int_eq(getresuid(&r, &e, &s), 0);
	ck_assert(r == 65534 && e == 65534 && s == 65534);
	ck_assert_int_eq(getgroups(0, NULL), 0);
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* ---- handlers ------------------------------------------------------------------ */

atomic_long handler_runs, handler_in_child;
pid_t handler_owner;

void count_handler_run(void)
{
	/* Raw getpid: the point is the kernel's answer, not a cached one. */
	if ((pid_t)syscall(SYS_getpid) != handler_owner)
		atomic_fetch_add(&handler_in_child, 1);
	atomic_fetch_add(&handler_runs, 1);
}

static void counting_handler(int sig)
{
	(void)sig;
	int saved = errno;
	count_handler_run();
	errno = saved;
}

void install_counting_handler(int sig, int flags)
{
	handler_owner = getpid();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = counting_handler;
	sa.sa_flags = flags;
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
}

/* ---- memory --------------------------------------------------------------------- */

long heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return -1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
	return -1;
#endif
#endif
	struct mallinfo2 mi = mallinfo2();
	return (long)mi.uordblks + (long)mi.hblkhd;
}

int mapping_fd = -1;

long mapping_count(void)
{
	int fd = mapping_fd >= 0 ? mapping_fd : open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	long n = 0;
	char buf[4096];
	ssize_t k;
	for (off_t off = 0; (k = pread(fd, buf, sizeof buf, off)) > 0; off += k)
		for (ssize_t i = 0; i < k; i++)
			n += buf[i] == '\n';
	if (fd != mapping_fd)
		close(fd);
	return n;
}

char *report_state(const probe_report *r)
{
	size_t cap = 1, len = 0;
	for (size_t i = 0; i < r->nlines; i++)
		cap += strlen(r->lines[i]) + 1;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < r->nlines; i++) {
		const char *l = r->lines[i];
		if (!strncmp(l, "pid ", 4))
			continue;
		const char *pipe = strstr(l, "pipe:[");
		size_t n = pipe ? (size_t)(pipe - l) + 5 : strlen(l);
		memcpy(s + len, l, n);
		len += n;
		s[len++] = '\n';
	}
	s[len] = '\0';
	return s;
}

long fd_flags(int fd)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strstr(buf, "flags:");
	return p ? strtol(p + 6, NULL, 8) : -1;
}
