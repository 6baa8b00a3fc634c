#!/bin/sh
# Usage: exported_symbols.sh LIBNOFORK_SO HEADER...
# The shared library exports exactly the functions its headers declare
# NF_API (nofork.h: nf_*; nofork/spawn.h: nofork_*), and nothing else: an
# internal function exported by mistake becomes ABI that cannot be taken
# back, and a declared one that is missing fails only when a program links.
# The declarations are read from the headers with comments and preprocessor
# lines removed, so a name mentioned in a comment does not count; a
# declaration is NF_API, then anything up to the first '(' (return type,
# name), so function-pointer parameters do not confuse it.
set -eu
lib=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort >"$tmp/exported"
perl -0777 -ne '
	s{/\*.*?\*/}{ }gs;        # block comments
	s{//[^\n]*}{}g;           # line comments
	s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}mg; # preprocessor lines, with continuations
	print "$1\n" while /\bNF_API\b[^;(]*?\b([A-Za-z_][A-Za-z0-9_]*)\s*\(/g;
' "$@" | sort >"$tmp/declared"

if [ ! -s "$tmp/declared" ] || [ ! -s "$tmp/exported" ]; then
	echo "nothing parsed: $(wc -l <"$tmp/declared") declared, $(wc -l <"$tmp/exported") exported" >&2
	exit 1
fi
dups=$(uniq -d "$tmp/declared")
if [ -n "$dups" ]; then
	echo "declared NF_API more than once:" >&2
	echo "$dups" >&2
	exit 1
fi
status=0
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
	echo "exported by $lib but not declared NF_API in $*:" >&2
	echo "$extra" >&2
	status=1
fi
if [ -n "$missing" ]; then
	echo "declared NF_API in $* but not exported by $lib:" >&2
	echo "$missing" >&2
	status=1
fi
[ $status -ne 0 ] || echo "ok: $(wc -l <"$tmp/declared") symbols, exported = declared"
exit $status
