#!/bin/sh
# Usage: preload_symbols.sh LIBNOFORK_PRELOAD SPAWN_SCRIPT_OLD
# libnofork-preload.so exports exactly glibc's posix_spawn family, each name
# with the version glibc gives it on x86_64 (posix/Versions,
# sysdeps/unix/sysv/linux/Versions), posix_spawn and posix_spawnp in both
# their versions, the POSIX.1-2024 names that no released glibc has yet
# unversioned, and nothing else (no nf_*, no nofork_*). And the old-binary
# stand-in really binds the GLIBC_2.2.5 versions, or its test proves nothing.
set -eu
got=$(readelf --dyn-syms -W "$1" | awk '$4 == "FUNC" && $5 != "LOCAL" && $7 != "UND" { print $8 }' | sort)
expected=$(sort <<'LIST'
posix_spawn@GLIBC_2.2.5
posix_spawn@@GLIBC_2.15
posix_spawnp@GLIBC_2.2.5
posix_spawnp@@GLIBC_2.15
posix_spawn_file_actions_init@@GLIBC_2.2.5
posix_spawn_file_actions_destroy@@GLIBC_2.2.5
posix_spawn_file_actions_addclose@@GLIBC_2.2.5
posix_spawn_file_actions_addopen@@GLIBC_2.2.5
posix_spawn_file_actions_adddup2@@GLIBC_2.2.5
posix_spawnattr_init@@GLIBC_2.2.5
posix_spawnattr_destroy@@GLIBC_2.2.5
posix_spawnattr_getsigdefault@@GLIBC_2.2.5
posix_spawnattr_setsigdefault@@GLIBC_2.2.5
posix_spawnattr_getflags@@GLIBC_2.2.5
posix_spawnattr_setflags@@GLIBC_2.2.5
posix_spawnattr_getpgroup@@GLIBC_2.2.5
posix_spawnattr_setpgroup@@GLIBC_2.2.5
posix_spawnattr_getsigmask@@GLIBC_2.2.5
posix_spawnattr_setsigmask@@GLIBC_2.2.5
posix_spawnattr_getschedpolicy@@GLIBC_2.2.5
posix_spawnattr_setschedpolicy@@GLIBC_2.2.5
posix_spawnattr_getschedparam@@GLIBC_2.2.5
posix_spawnattr_setschedparam@@GLIBC_2.2.5
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
refs=$(readelf --dyn-syms -W "$2" | awk '$7 == "UND" && $8 ~ /^posix_spawnp?@/ { print $8 }' | sort)
if [ "$refs" != "$(printf 'posix_spawn@GLIBC_2.2.5\nposix_spawnp@GLIBC_2.2.5')" ]; then
	echo "$2 does not bind the GLIBC_2.2.5 posix_spawn[p]: $refs"
	exit 1
fi
echo "ok: $(printf '%s\n' "$got" | wc -l) functions, each with glibc's version"
