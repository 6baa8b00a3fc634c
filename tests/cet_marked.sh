#!/bin/sh
# Usage: cet_marked.sh SHARED_LIBRARY_OR_ARCHIVE...
# The linker marks an output IBT/SHSTK compatible only if every input object
# is (README, "Guarantees": CET), so one unmarked object silently unmarks
# libnofork.so, libnofork-preload.so and every static program linking
# libnofork.a. Fails unless each shared library, and each member of each
# archive, shows the x86 feature property with both IBT and SHSTK in its
# .note.gnu.property (the only note section the linker merges) in
# `readelf -n`.
set -eu
bad=0
checked=0
for f in "$@"; do
	# One line per object. An archive prints "File: lib.a(member)" before
	# each member's notes (the archive itself is no object); a shared
	# library is one object, under its own name.
	out=$(readelf -n "$f" | awk -v whole="$f" '
		function done_one() { print (ok ? "ok " : "UNMARKED ") name }
		BEGIN { name = whole; ok = 0 }
		/^File: / { if (name != whole) done_one(); name = substr($0, 7); ok = 0; next }
		/^Displaying notes found in:/ { sec = $NF }
		sec == ".note.gnu.property" && /x86 feature:/ && /IBT/ && /SHSTK/ { ok = 1 }
		END { done_one() }')
	printf '%s\n' "$out"
	if printf '%s\n' "$out" | grep -q '^UNMARKED'; then
		bad=1
	fi
	checked=$((checked + $(printf '%s\n' "$out" | wc -l)))
done
if [ "$bad" -ne 0 ]; then
	echo "FAIL: objects above lack the IBT+SHSTK property (x86 feature: IBT, SHSTK)"
	exit 1
fi
echo "ok: $checked objects marked IBT and SHSTK"
