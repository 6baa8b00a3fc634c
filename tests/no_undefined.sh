#!/bin/sh
# Usage: no_undefined.sh OBJECT_OR_ARCHIVE...
# The child-side code must be self-contained (README, "The child contract"): it may not
# reference any symbol it does not define, nor touch thread-local storage
# (the child runs on the parent's TLS pointer). Fails if `nm -u` lists
# anything, if the disassembly uses %fs/%gs (x86_64) or reads the thread
# pointer tpidr_el0 (aarch64), and if the objects define no code at all
# (an empty archive proves nothing).
set -eu
undef=$(nm -u "$@" | grep -E '^[[:space:]]*[Uw] ' || true)
if [ -n "$undef" ]; then
	echo "undefined symbols in the child object:"
	echo "$undef"
	exit 1
fi
tls=$(objdump -d "$@" | grep -E '%[fg]s:|tpidr_el0' || true)
if [ -n "$tls" ]; then
	echo "thread-local storage used in the child object:"
	echo "$tls"
	exit 1
fi
defined=$(nm --defined-only "$@" | grep -cE ' [Tt] ' || true)
if [ "$defined" -eq 0 ]; then
	echo "no code symbols in $*: nothing was checked"
	exit 1
fi
echo "ok: $defined code symbols, no undefined symbol"
