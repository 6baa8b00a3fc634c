#!/bin/sh
# Usage: no_fork_calls.sh PROGRAM...
# The mini shell and supervisor must start every process through nofork
# (nf_spawn, or nf_pipeline_spawn for minish's pipelines):
# fail if a program imports any other way to create or exec a process.
set -eu
status=0
for prog in "$@"; do
	bad=$(nm -D --undefined-only "$prog" | awk '{print $2}' | sed 's/@.*//' |
		grep -xE '_?_?(fork|vfork|_Fork|clone|clone3|posix_spawnp?|system|popen|execve|execv|execvp|execvpe|execl|execlp|execle|fexecve)' || true)
	if [ -n "$bad" ]; then
		echo "$prog imports: $bad"
		status=1
	fi
	nm -D --undefined-only "$prog" | grep -qE ' nf_(spawn|pipeline_spawn)$' ||
		{ echo "$prog uses neither nf_spawn nor nf_pipeline_spawn"; status=1; }
done
[ $status -eq 0 ] && echo "ok: $* start processes only through nofork"
exit $status
