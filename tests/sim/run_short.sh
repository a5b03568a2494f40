#!/bin/sh
# The simulator's short run (ctest sim_short): 200 seeds x 200 steps in
# process, then a few seeds over gRPC with kill -9 and the payment fault
# point, every toggle on except those KNOWN.md lists as off.
# Usage: run_short.sh SIM BILLINGD LEDGER_CHECK [extra sim flags]
# SIM_SEEDS / SIM_GRPC_SEEDS change the counts (the sanitizer tree runs fewer).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sim=$1 billingd=$2 ledger=$3
shift 3
off=$(sed -n 's/^| `\([a-z0-9_]*\)` | off |.*/\1/p' "$here/KNOWN.md" | paste -sd, -)
"$sim" --seed 1 --seeds "${SIM_SEEDS:-200}" --steps 200 --check-every 10 --jobs 2 --off "$off" "$@"
"$sim" --seed 100001 --seeds "${SIM_GRPC_SEEDS:-4}" --steps 200 --check-every 20 --jobs 2 --off "$off" \
  --grpc 1 --kills 6 --faults payments.after_provider:4 \
  --billingd "$billingd" --ledger-check "$ledger" "$@"
