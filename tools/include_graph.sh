#!/usr/bin/env bash
# Prints the include graph of server/ and fails on a cycle.
#
# A node is a module: x.c and x.h of one directory are one node "x" (a
# header and its implementation), so a cycle means two modules that need each
# other (a.c includes b.h while b.c includes a.h), not only a header loop.
# rpc.h is implemented by runtime.c, so both are the node "runtime".
# Edges are the quoted #include lines that name a file of server/; storage,
# generated and system headers are leaves and are not drawn. A weak
# declaration would hide an edge, so any __attribute__((weak)) in server/
# fails the check too.
#
# Usage: include_graph.sh [source-root] [--quiet]
# Output: one line per module, "module -> dep dep ...", then the verdict.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quiet=0
for a in "$@"; do
	case "$a" in
	--quiet) quiet=1 ;;
	*) root=$a ;;
	esac
done
cd "$root/server"

# module name of a path relative to server/: strip the extension.
mod() {
	local p=${1%.*}
	p=${p#./}
	case "$p" in
	rpc) p=runtime ;; # rpc.h: the interface of runtime.c
	esac
	echo "$p"
}

mapfile -t files < <(find . \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | sort)
declare -A known=()
for f in "${files[@]}"; do known[$f]=1; done

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for f in "${files[@]}"; do
	dir=$(dirname "$f")
	from=$(mod "$f")
	while read -r inc; do
		# resolve as the compiler does with -Iserver: next to the file,
		# then from server/ itself.
		if [ "$dir" != . ] && [ -n "${known[$dir/$inc]+x}" ]; then
			to=$(mod "$dir/$inc")
		elif [ -n "${known[$inc]+x}" ]; then
			to=$(mod "$inc")
		else
			continue
		fi
		# a/../b.h -> b
		to=$(realpath -m --relative-to=. "$to")
		[ "$to" = "$from" ] || echo "$from $to"
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done | sort -u >"$edges"

status=0
if [ "$quiet" = 0 ]; then
	for f in "${files[@]}"; do mod "$f"; done | sort -u | while read -r m; do
		deps=$(awk -v m="$m" '$1 == m { printf " %s", $2 }' "$edges")
		echo "$m ->$deps"
	done
fi
nodes=$(for f in "${files[@]}"; do mod "$f"; done | sort -u | wc -l)
nedges=$(wc -l <"$edges")

weak=$(grep -rnE '__attribute__[[:space:]]*\(\([[:space:]]*weak' --include='*.c' --include='*.h' . || true)
if [ -n "$weak" ]; then
	echo "weak declarations (they hide dependencies):"
	echo "$weak"
	status=1
fi
# tsort prints the members of every loop it finds on stderr.
if ! loops=$(
	{ cat "$edges"; for f in "${files[@]}"; do m=$(mod "$f"); echo "$m $m"; done; } |
		tsort 2>&1 >/dev/null
); then
	echo "include cycle among server/ modules:"
	echo "$loops" | sed 's/^tsort: //'
	status=1
fi
if [ "$status" = 0 ]; then
	echo "server/: $nodes modules, $nedges include edges, no cycle, no weak declaration"
fi
exit "$status"
