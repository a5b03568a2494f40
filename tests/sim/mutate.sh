#!/bin/sh
# Mutation testing of the simulator (outside the test suite): copies the
# tree to a scratch directory, builds the simulator there once, then for
# every line of mutations.txt applies the mutation, rebuilds, runs the
# simulator (the short run's toggles, in process) and reports CAUGHT (a
# mismatch) or MISSED, then restores the file. Prints the score.
# Usage: tests/sim/mutate.sh [--seeds N] [--steps M] [--keep] [name...]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
seeds=60 steps=200 keep=0 only=""
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) only="$only $1"; shift ;;
  esac
done
scratch=$(mktemp -d /tmp/spb-mutate.XXXXXX)
echo "mutate: scratch copy in $scratch"
(cd "$top" && tar --exclude=./build --exclude=./build-asan --exclude=./build-fuzz \
  --exclude=./tools/node/node_modules -cf - .) | (cd "$scratch" && tar -xf -)
cmake -S "$scratch" -B "$scratch/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
cmake --build "$scratch/build" --target sim -j2 >/dev/null 2>&1 || { echo "mutate: the unmutated tree does not build"; exit 2; }
off=$(sed -n 's/^| `\([a-z0-9_]*\)` | off |.*/\1/p' "$top/tests/sim/KNOWN.md" | paste -sd, -)
"$scratch/build/tests/sim/sim" --seeds "$seeds" --steps "$steps" --jobs 2 --off "$off" --no-shrink >/dev/null ||
  { echo "mutate: the unmutated tree already mismatches"; exit 2; }
tried=0 caught=0
tab=$(printf '\t')
grep -v '^#' "$top/tests/sim/mutations.txt" | while IFS="$tab" read -r name file subst what; do
  [ -n "$name" ] || continue
  if [ -n "$only" ] && ! echo " $only " | grep -q " $name "; then continue; fi
  cp "$scratch/$file" "$scratch/$file.orig"
  perl -0pi -e "$subst" "$scratch/$file"
  if cmp -s "$scratch/$file" "$scratch/$file.orig"; then
    printf '%-20s NOT APPLIED (the code changed: update mutations.txt)\n' "$name"
  elif ! cmake --build "$scratch/build" --target sim -j2 >/dev/null 2>&1; then
    printf '%-20s BUILD FAILED\n' "$name"
  else
    start=$(date +%s)
    out=$("$scratch/build/tests/sim/sim" --seeds "$seeds" --steps "$steps" --jobs 2 --off "$off" --no-shrink 2>&1)
    secs=$(( $(date +%s) - start ))
    if echo "$out" | grep -q "=== MISMATCH"; then
      first=$(echo "$out" | sed -n 's/^=== MISMATCH: seed \([0-9]*\) ([^)]*), step \([0-9]*\).*/seed \1 step \2/p' | head -1)
      detail=$(echo "$out" | sed -n '/^=== MISMATCH/{n;n;p;}' | head -1 | cut -c1-110)
      printf '%-20s CAUGHT (%s, %ss):%s\n' "$name" "$first" "$secs" "$detail"
    else
      printf '%-20s MISSED (%s seeds, %ss) -- %s\n' "$name" "$seeds" "$secs" "$what"
    fi
  fi
  mv "$scratch/$file.orig" "$scratch/$file"
  touch "$scratch/$file"
done | tee "$scratch/report.txt"
tried=$(grep -c 'CAUGHT\|MISSED' "$scratch/report.txt")
caught=$(grep -c 'CAUGHT' "$scratch/report.txt")
echo "mutate: caught $caught of $tried"
[ "$keep" = 1 ] || rm -rf "$scratch"
