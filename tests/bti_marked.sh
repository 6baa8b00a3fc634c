#!/bin/sh
# Usage: bti_marked.sh ARCHIVE_OR_OBJECT...
# aarch64's counterpart of cet_marked.sh: each member of each archive (and
# each object) shows the AArch64 feature property with both BTI and PAC in
# its .note.gnu.property (`readelf -n`). The linker marks an output BTI
# only if every input is, and the dynamic loader maps only a marked
# library's text as guarded pages.
# Only the objects are checked, not the shared libraries: Debian 12's arm64
# crti.o carries no note and its _init starts without a landing pad, so a
# library linked with its crt files cannot be BTI (forcing the mark with
# -z force-bti makes the loader's call to _init fault). With marked crt
# files (other distributions) the libraries come out marked by themselves.
set -eu
bad=0
checked=0
for f in "$@"; do
	out=$(readelf -n "$f" | awk -v whole="$f" '
		function done_one() { print (ok ? "ok " : "UNMARKED ") name }
		BEGIN { name = whole; ok = 0 }
		/^File: / { if (name != whole) done_one(); name = substr($0, 7); ok = 0; next }
		/^Displaying notes found in:/ { sec = $NF }
		sec == ".note.gnu.property" && /AArch64 feature:/ && /BTI/ && /PAC/ { ok = 1 }
		END { done_one() }')
	printf '%s\n' "$out"
	if printf '%s\n' "$out" | grep -q '^UNMARKED'; then
		bad=1
	fi
	checked=$((checked + $(printf '%s\n' "$out" | wc -l)))
done
if [ "$bad" -ne 0 ]; then
	echo "FAIL: objects above lack the BTI+PAC property (AArch64 feature: BTI, PAC)"
	exit 1
fi
echo "ok: $checked objects marked BTI and PAC"
