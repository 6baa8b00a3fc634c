#!/bin/sh
# Usage: preload_symbols.sh LIBNOFORK_PRELOAD ARCH_ABI_H [SPAWN_SCRIPT_OLD]
# libnofork-preload.so exports exactly glibc's posix_spawn family, each name
# with the version glibc gives it on this architecture (posix/Versions,
# sysdeps/unix/sysv/linux/Versions; the baseline node NF_GLIBC_BASE and the
# posix_spawn[p] nodes come from asm/<cpu>/arch_abi.h): posix_spawn and
# posix_spawnp in both their versions where glibc has two (x86_64), the
# POSIX.1-2024 names that no released glibc has yet unversioned, and nothing
# else (no nf_*, no nofork_*). And the old-binary stand-in, where there is
# one, really binds the old versions, or its test proves nothing.
set -eu
ver() { sed -n "s/^#define $1 \"\\(.*\\)\"/\\1/p" "$2"; }
base=$(ver NF_GLIBC_BASE "$2")
spawn=$(ver NF_GLIBC_SPAWN "$2")
old=$(ver NF_GLIBC_SPAWN_OLD "$2")
[ -n "$base" ] && [ -n "$spawn" ] || { echo "no NF_GLIBC_BASE / NF_GLIBC_SPAWN in $2"; exit 1; }
got=$(readelf --dyn-syms -W "$1" | awk '$4 == "FUNC" && $5 != "LOCAL" && $7 != "UND" { print $8 }' | sort)
expected=$(sed -e "/@GLIBC_OLD\$/{
	s/@GLIBC_OLD\$/@$old/
	/@\$/d
}" -e "s/@@GLIBC_SPAWN\$/@@$spawn/" -e "s/@@GLIBC_BASE\$/@@$base/" <<'LIST' | sort
posix_spawn@GLIBC_OLD
posix_spawn@@GLIBC_SPAWN
posix_spawnp@GLIBC_OLD
posix_spawnp@@GLIBC_SPAWN
posix_spawn_file_actions_init@@GLIBC_BASE
posix_spawn_file_actions_destroy@@GLIBC_BASE
posix_spawn_file_actions_addclose@@GLIBC_BASE
posix_spawn_file_actions_addopen@@GLIBC_BASE
posix_spawn_file_actions_adddup2@@GLIBC_BASE
posix_spawnattr_init@@GLIBC_BASE
posix_spawnattr_destroy@@GLIBC_BASE
posix_spawnattr_getsigdefault@@GLIBC_BASE
posix_spawnattr_setsigdefault@@GLIBC_BASE
posix_spawnattr_getflags@@GLIBC_BASE
posix_spawnattr_setflags@@GLIBC_BASE
posix_spawnattr_getpgroup@@GLIBC_BASE
posix_spawnattr_setpgroup@@GLIBC_BASE
posix_spawnattr_getsigmask@@GLIBC_BASE
posix_spawnattr_setsigmask@@GLIBC_BASE
posix_spawnattr_getschedpolicy@@GLIBC_BASE
posix_spawnattr_setschedpolicy@@GLIBC_BASE
posix_spawnattr_getschedparam@@GLIBC_BASE
posix_spawnattr_setschedparam@@GLIBC_BASE
posix_spawn_file_actions_addchdir_np@@GLIBC_2.29
posix_spawn_file_actions_addfchdir_np@@GLIBC_2.29
posix_spawn_file_actions_addclosefrom_np@@GLIBC_2.34
posix_spawn_file_actions_addtcsetpgrp_np@@GLIBC_2.35
pidfd_spawn@@GLIBC_2.39
pidfd_spawnp@@GLIBC_2.39
posix_spawnattr_getcgroup_np@@GLIBC_2.39
posix_spawnattr_setcgroup_np@@GLIBC_2.39
posix_spawn_file_actions_addchdir
posix_spawn_file_actions_addfchdir
LIST
)
if [ "$got" != "$expected" ]; then
	echo "exported functions differ from glibc's set (< expected, > got):"
	printf '%s\n' "$expected" >/tmp/preload_symbols.$$.want
	printf '%s\n' "$got" | diff /tmp/preload_symbols.$$.want - || true
	rm -f /tmp/preload_symbols.$$.want
	exit 1
fi
[ $# -ge 3 ] || { echo "ok: $(printf '%s\n' "$got" | wc -l) functions, each with glibc's version (no older posix_spawn here)"; exit 0; }
refs=$(readelf --dyn-syms -W "$3" | awk '$7 == "UND" && $8 ~ /^posix_spawnp?@/ { print $8 }' | sort)
if [ "$refs" != "$(printf 'posix_spawn@%s\nposix_spawnp@%s' "$old" "$old")" ]; then
	echo "$3 does not bind the $old posix_spawn[p]: $refs"
	exit 1
fi
echo "ok: $(printf '%s\n' "$got" | wc -l) functions, each with glibc's version"
