#!/usr/bin/env bash
# Fails unless every C file of server/ and storage/ (and the headers they
# include) is ISO C11: compiled with -std=c11 -pedantic -Werror, syntax only.
# GNU and POSIX APIs are declared through _GNU_SOURCE as in the build; the
# generated protobuf-c headers are system headers here (-isystem): they are
# not our code.
# Usage: check_pedantic.sh <source-root> <generated-dir> [cc]
set -euo pipefail
root=${1:?source root}
gen=${2:?generated dir (build/gen)}
cc=${3:-cc}
cd "$root"
flags=(-std=c11 -pedantic -Werror -Wall -Wextra -Wno-unused-parameter -fsyntax-only
	-D_GNU_SOURCE -DSPB_FAULTS=1
	-Iserver -Istorage -Istorage/internal -Icommon
	-isystem "$gen" -isystem "$gen/store")
mapfile -t files < <(find server storage common -name '*.c' 2>/dev/null | sort)
bad=0
for f in "${files[@]}"; do
	if ! out=$("$cc" "${flags[@]}" "$f" 2>&1); then
		echo "$out"
		bad=$((bad + 1))
	fi
done
if ((bad)); then
	echo "$bad of ${#files[@]} files are not ISO C11 (-std=c11 -pedantic)"
	exit 1
fi
echo "${#files[@]} files of server/ and storage/ are ISO C11 (-std=c11 -pedantic -Werror)"
