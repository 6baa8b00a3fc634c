/* compat_hooks.h: what the posix_spawn compat layer needs from the core
 * beyond the public nf_cmd_* API, to give a child exactly glibc's state.
 *
 * Each hook is wanted in lib/nofork_int.h, announced there by its
 * NF_INT_HAVE_* macro. Until a hook exists, the fallback below is used and
 * its gap is named; tests/test_compat_diff.c checks each behaviour, so a
 * missing hook shows up as a failing scenario, not as silence.
 */
#ifndef NOFORK_COMPAT_HOOKS_H
#define NOFORK_COMPAT_HOOKS_H

#include <signal.h>
#include <sys/types.h>

#include "nofork.h"

#if __has_include("nofork_int.h")
#include "nofork_int.h"
#endif

/* TODO(core) NF_INT_HAVE_CLOSE_LENIENT:
 *   int nf_int_cmd_close_lenient(nf_cmd *cmd, int fd);
 * close(fd) as an action; a failing close is ignored unless fd is out of the
 * child's RLIMIT_NOFILE soft limit at that moment (then the spawn fails with
 * close's errno). Fallback in compat.c: the parent works out whether fd is
 * open at that point of the sequence (parent's table + earlier actions) and
 * emits nf_cmd_close only then; racy against other threads opening or
 * closing that fd during the spawn. */

/* TODO(core) NF_INT_HAVE_RESETIDS:
 *   int nf_int_cmd_resetids(nf_cmd *cmd);
 * POSIX_SPAWN_RESETIDS at glibc's point (after setpgid, before the actions):
 * raw setresuid(-1, ruid, -1), then setresgid(-1, rgid, -1). Fallback:
 * exact when the caller's effective ids equal its real ids (the reset is a
 * no-op then); otherwise the spawn fails with ENOTSUP. */

/* TODO(core) NF_INT_HAVE_SIGIGNORE:
 *   int nf_int_cmd_sigignore(nf_cmd *cmd, const sigset_t *set);
 * Set these signals to SIG_IGN at the signal-reset step (raw rt_sigaction,
 * any signal 1..64). glibc 2.36 leaves its internal signals 32 and 33 ignored
 * in every child (unless in the SETSIGDEF set); the child inherits that over
 * exec. Fallback: none, so the children keep 32/33 at SIG_DFL. */
#ifndef NF_INT_HAVE_SIGIGNORE
static inline int nf_int_cmd_sigignore(nf_cmd *cmd, const sigset_t *set)
{
	(void)cmd;
	(void)set;
	return 0;
}
#endif

/* TODO(core) NF_INT_HAVE_NO_PIDFD:
 *   int nf_int_cmd_no_pidfd(nf_cmd *cmd);
 * Do not ask clone3 for a pidfd (posix_spawn callers never see one). Fallback:
 * the pidfd is created and closed right after the spawn (one extra close). */
#ifndef NF_INT_HAVE_NO_PIDFD
static inline int nf_int_cmd_no_pidfd(nf_cmd *cmd)
{
	(void)cmd;
	return 0;
}
#endif

/* TODO(core) NF_INT_HAVE_FAIL_ACTION:
 *   int nf_int_cmd_fail_action(nf_cmd *cmd, int err);
 * An action that fails the spawn with `err` when the child reaches it (in
 * order with the other actions). glibc fails some requests only in the child
 * -- posix_spawn(""), posix_spawnp(name longer than NAME_MAX), an open or
 * chdir action with an empty path (ENOENT) -- where the native setters refuse
 * them up front; with this hook an earlier failing action still wins, as in
 * glibc. Fallback: compat returns err without starting anything (the same
 * code unless an earlier action would also have failed). */

/* TODO(core) ordering and search rules, no new function needed if the
 * native behaviour changes:
 * - glibc applies the scheduler (SETSCHEDULER/SETSCHEDPARAM) before setsid
 *   and setpgid; the native order is setsid, setpgid, sched. Visible only
 *   when both fail (sched's error wins in glibc).
 * - glibc's PATH search also moves on after ESTALE, ENODEV and ETIMEDOUT
 *   (native: ENOENT and ENOTDIR only). */

#endif
