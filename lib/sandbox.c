/* The namespace steps of a cmd: which namespaces the child is cloned into,
 * the id maps the parent writes for it, its hostname, the mounts,
 * directories and symlinks that build its root, and the root itself.
 * Validated here; laid out by plan.c; run by the child (child.S) and, for
 * the maps, by the parent (spawn.c). */
#include "nofork_int.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

/* CLONE_NEWTIME is not among them: the kernel refuses it with CLONE_VM. */
#define NS_ALL (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)
#define MAP_MAX_LINES 340  /* the kernel's UID_GID_MAP_MAX_EXTENTS */
#define MAP_MAX_BYTES 4095 /* one write of less than a page */

static void fsop_free(struct nf_fsop *o)
{
	free(o->path);
	free(o->src);
	free(o->fstype);
	free(o->data);
}

void sandbox_free(struct nf_sandbox *sb)
{
	if (!sb)
		return;
	for (size_t i = 0; i < sb->n_fs; i++)
		fsop_free(&sb->fs[i]);
	free(sb->fs);
	free(sb->uid_map);
	free(sb->gid_map);
	free(sb->hostname);
	free(sb->root);
	free(sb);
}

static int sandbox(nf_cmd *cmd, struct nf_sandbox **sb)
{
	if (!cmd)
		return EINVAL;
	if (!cmd->sb && !(cmd->sb = calloc(1, sizeof *cmd->sb)))
		return ENOMEM;
	*sb = cmd->sb;
	return 0;
}

/* Replace *slot with a copy of s (NULL: none). */
static int set_str(nf_cmd *cmd, char **slot, const char *s)
{
	char *copy = NULL;
	if (s && !(copy = strdup(s)))
		return ENOMEM;
	free(*slot);
	*slot = copy;
	cmd_invalidate(cmd);
	return 0;
}

int nf_cmd_namespaces(nf_cmd *cmd, unsigned long flags)
{
	NF_NOCANCEL;
	struct nf_sandbox *sb;
	if (!cmd || flags & ~(unsigned long)NS_ALL)
		return EINVAL;
	int e = sandbox(cmd, &sb);
	if (e)
		return e;
	sb->ns = flags;
	cmd_invalidate(cmd);
	return 0;
}

/* One decimal field of a map line: 0 or EINVAL. */
static int map_field(const char **s, uint64_t *v)
{
	const char *p = *s;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9')
		return EINVAL;
	uint64_t x = 0;
	for (; *p >= '0' && *p <= '9'; p++)
		if ((x = x * 10 + (uint64_t)(*p - '0')) > UINT32_MAX)
			return EINVAL;
	*s = p;
	*v = x;
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t b, uint64_t n, uint64_t m)
{
	return a < b + m && b < a + n;
}

/* user_namespaces(7)'s map text, checked as the kernel will (each line
 * "inside outside count", count > 0, no range past 2^32, no two lines
 * overlapping on either side, at most 340 lines) and rewritten as
 * "%u %u %u\n" lines into out (MAP_MAX_BYTES + 1). */
static int map_parse(const char *map, char *out)
{
	uint64_t f[MAP_MAX_LINES][3];
	size_t n = 0, len = 0;
	for (const char *p = map; *p;) {
		if (*p == '\n') { /* empty lines are skipped, as the kernel does not */
			p++;
			continue;
		}
		if (n == MAP_MAX_LINES)
			return EINVAL;
		for (int k = 0; k < 3; k++)
			if (map_field(&p, &f[n][k]))
				return EINVAL;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '\n')
			return EINVAL;
		if (!f[n][2] || f[n][0] + f[n][2] > (uint64_t)UINT32_MAX + 1 || f[n][1] + f[n][2] > (uint64_t)UINT32_MAX + 1)
			return EINVAL;
		for (size_t j = 0; j < n; j++)
			if (ranges_overlap(f[j][0], f[n][0], f[j][2], f[n][2]) ||
			    ranges_overlap(f[j][1], f[n][1], f[j][2], f[n][2]))
				return EINVAL;
		int w = snprintf(out + len, MAP_MAX_BYTES + 1 - len, "%llu %llu %llu\n", (unsigned long long)f[n][0],
		                 (unsigned long long)f[n][1], (unsigned long long)f[n][2]);
		if (w < 0 || (size_t)w >= MAP_MAX_BYTES + 1 - len)
			return EINVAL; /* longer than the kernel takes in one write */
		len += (size_t)w;
		n++;
	}
	return n ? 0 : EINVAL;
}

static int set_map(nf_cmd *cmd, bool gid, const char *map)
{
	NF_NOCANCEL;
	struct nf_sandbox *sb;
	char text[MAP_MAX_BYTES + 1];
	int e;
	if (!cmd || (map && (e = map_parse(map, text))))
		return EINVAL;
	if ((e = sandbox(cmd, &sb)))
		return e;
	return set_str(cmd, gid ? &sb->gid_map : &sb->uid_map, map ? text : NULL);
}

int nf_cmd_uid_map(nf_cmd *cmd, const char *map) { return set_map(cmd, false, map); }

int nf_cmd_gid_map(nf_cmd *cmd, const char *map) { return set_map(cmd, true, map); }

int nf_cmd_hostname(nf_cmd *cmd, const char *name)
{
	NF_NOCANCEL;
	struct nf_sandbox *sb;
	if (!cmd || !name || !*name)
		return EINVAL;
	if (strnlen(name, 65) > 64) /* the kernel's __NEW_UTS_LEN */
		return ENAMETOOLONG;
	int e = sandbox(cmd, &sb);
	return e ? e : set_str(cmd, &sb->hostname, name);
}

int nf_cmd_chroot(nf_cmd *cmd, const char *path)
{
	NF_NOCANCEL;
	struct nf_sandbox *sb;
	int e;
	if (!cmd)
		return EINVAL;
	if ((e = cmd_check_path(path)) || (e = sandbox(cmd, &sb)))
		return e;
	return set_str(cmd, &sb->root, path);
}

/* Append one step whose strings are copied (NULL stays NULL). */
static int add_fsop(nf_cmd *cmd, struct nf_fsop op)
{
	struct nf_sandbox *sb;
	int e = sandbox(cmd, &sb);
	if (e || (e = array_grow((void **)&sb->fs, &sb->cap_fs, sb->n_fs, 1, sizeof *sb->fs)))
		return e;
	struct nf_fsop c = op;
	c.path = strdup(op.path);
	c.src = op.src ? strdup(op.src) : NULL;
	c.fstype = op.fstype ? strdup(op.fstype) : NULL;
	c.data = op.data ? strdup(op.data) : NULL;
	if (!c.path || (op.src && !c.src) || (op.fstype && !c.fstype) || (op.data && !c.data)) {
		fsop_free(&c);
		return ENOMEM;
	}
	sb->fs[sb->n_fs++] = c;
	cmd_invalidate(cmd);
	return 0;
}

/* Flags that a bind mount ignores and that mount(8) applies by a remount. */
#define BIND_REMOUNT_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)

int nf_cmd_mount(nf_cmd *cmd, const char *source, const char *target, const char *fstype, unsigned long flags,
                 const char *data)
{
	NF_NOCANCEL;
	int e;
	if (!cmd)
		return EINVAL;
	if ((e = cmd_check_path(target)) || (source && (e = cmd_check_path(source))) ||
	    (fstype && (e = cmd_check_path(fstype))))
		return e;
	if (data && strnlen(data, 4096) >= 4096) /* the kernel copies one page */
		return EINVAL;
	bool remount = (flags & (MS_BIND | MS_REMOUNT)) == MS_BIND && flags & BIND_REMOUNT_FLAGS;
	struct nf_sandbox *sb;
	if ((e = sandbox(cmd, &sb)))
		return e;
	if ((e = array_grow((void **)&sb->fs, &sb->cap_fs, sb->n_fs, 2, sizeof *sb->fs)) || (e = add_fsop(cmd, (struct nf_fsop){OPK_MOUNT, 0, remount ? flags & ~(unsigned long)BIND_REMOUNT_FLAGS : flags,
	                                        (char *)target, (char *)source, (char *)fstype, (char *)data})))
		return e;
	if (remount && (e = add_fsop(cmd, (struct nf_fsop){OPK_MOUNT, 1,
	                                                   MS_BIND | MS_REMOUNT | (flags & BIND_REMOUNT_FLAGS),
	                                                   (char *)target, (char *)source, NULL, NULL}))) {
		fsop_free(&sb->fs[--sb->n_fs]); /* all or nothing */
		return e;
	}
	return 0;
}

int nf_cmd_mkdir(nf_cmd *cmd, const char *path, mode_t mode)
{
	NF_NOCANCEL;
	int e;
	if (!cmd || mode & ~(mode_t)07777)
		return EINVAL;
	if ((e = cmd_check_path(path)))
		return e;
	return add_fsop(cmd, (struct nf_fsop){OPK_MKDIR, (int32_t)mode, 0, (char *)path, NULL, NULL, NULL});
}

int nf_cmd_symlink(nf_cmd *cmd, const char *target, const char *linkpath)
{
	NF_NOCANCEL;
	int e;
	if (!cmd)
		return EINVAL;
	if ((e = cmd_check_path(target)) || (e = cmd_check_path(linkpath)))
		return e;
	return add_fsop(cmd, (struct nf_fsop){OPK_SYMLINK, 0, 0, (char *)linkpath, (char *)target, NULL, NULL});
}

int sandbox_check(const nf_cmd *cmd, int *op)
{
	const struct nf_sandbox *sb = cmd->sb;
	if (!sb)
		return 0;
	*op = NF_OP_ID_MAP;
	if ((sb->uid_map || sb->gid_map) && !(sb->ns & CLONE_NEWUSER))
		return EINVAL;
	*op = NF_OP_HOSTNAME;
	if (sb->hostname && !(sb->ns & CLONE_NEWUTS))
		return EINVAL;
	*op = NF_OP_MOUNT;
	for (size_t i = 0; i < sb->n_fs; i++)
		if (sb->fs[i].kind == OPK_MOUNT && !(sb->ns & CLONE_NEWNS))
			return EINVAL;
	return 0;
}
