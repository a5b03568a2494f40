#!/bin/sh
# For every toggle KNOWN.md lists (a defect's area, fixed or not): runs the
# simulator with that one toggle on (the other listed ones off) until a
# seed mismatches, and reports
# the seed, the step, the shrunk history's length and the first line of the
# mismatch; "not found" after --seeds N seeds. Run against any billingd over
# gRPC (e.g. an old tree's, to show which defects the simulator finds), or
# in process with --local (the tree the simulator was built with).
# Usage: find_defects.sh SIM BILLINGD LEDGER_CHECK [--seeds N] [--steps M] [--local] [toggles...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
sim=$1 billingd=$2 ledger=$3
shift 3
seeds=20 steps=200 mode="--grpc 1 --kills 0 --billingd $billingd --ledger-check $ledger"
only=""
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --local) mode=""; shift ;;
    *) only="$only $1"; shift ;;
  esac
done
known=$(sed -n 's/^| `\([a-z0-9_]*\)` | o[nf]*f* |.*/\1/p' "$here/KNOWN.md")
[ -n "$only" ] || only=$known
for t in $only; do
  off=$(echo "$known" | grep -vx "$t" | paste -sd, -)
  found=""
  s=1
  while [ "$s" -le "$seeds" ]; do
    # shellcheck disable=SC2086
    out=$("$sim" --seed "$s" --seeds 1 --steps "$steps" --off "$off" $mode 2>&1)
    if echo "$out" | grep -q "=== MISMATCH"; then
      step=$(echo "$out" | sed -n 's/^=== MISMATCH: seed [0-9]* ([^)]*), step \([0-9]*\) of.*/\1/p' | head -1)
      len=$(echo "$out" | sed -n 's/^--- shrunk history: \([0-9]*\) steps.*/\1/p' | head -1)
      what=$(echo "$out" | sed -n '/^--- failure of the shrunk history:/{n;n;p;}' | head -1 | cut -c1-160)
      [ -n "$what" ] || what=$(echo "$out" | sed -n '/^=== MISMATCH/{n;n;p;}' | head -1 | cut -c1-160)
      found="seed $s, step $step, shrunk to ${len:-?} steps:$what"
      break
    fi
    s=$((s + 1))
  done
  printf '%-18s %s\n' "$t" "${found:-not found in $seeds seeds}"
done
