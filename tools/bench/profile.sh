#!/usr/bin/env bash
# tools/bench/profile.sh: where billingd spends its CPU under one workload.
#
#   tools/bench/profile.sh --workload W [--conns C] [--streams M] [--seconds S]
#                          [--scale X | --seed-dir DIR --data-dir DIR]
#                          [--build DIR] [--top N] [--callgraph] [--perf-data F]
#
# Seeds a fresh billingd (tools/bench/seed --scale X, default 0.1) unless
# given a store and seed output kept by `run.sh --keep` (DIR/data-full and
# DIR/seed-full), drives W with h2load (C x M, default 16 x 64) for S seconds
# (default 5) while `perf record -g` samples billingd, then prints the top N
# (default 25) symbols by self time and by inclusive time (children);
# --perf-data keeps the recording (for perf report) in F.
# W: GetCreditBalance GetCatalog QuoteServices AssignCredits ListItems.
# Needs perf (linux-perf) and permission to profile (root, or
# kernel.perf_event_paranoid <= 1); without perf, use valgrind --tool=callgrind.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$here/../.." && pwd)/build
workload=
conns=16
streams=64
seconds=5
scale=0.1
seed_dir=
data_dir=
top=25
callgraph=0
keep_data=
while [ $# -gt 0 ]; do
	case "$1" in
	--workload) workload=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--streams) streams=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--scale) scale=$2; shift 2 ;;
	--seed-dir) seed_dir=$2; shift 2 ;;
	--data-dir) data_dir=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--top) top=$2; shift 2 ;;
	--callgraph) callgraph=1; shift ;;
	--perf-data) keep_data=$2; shift 2 ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "profile.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ -n "$workload" ] || { echo "profile.sh: --workload is required" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile.sh: perf missing (apt-get install linux-perf)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/spb-profile.XXXXXX")
bd_pid=
cleanup() {
	if [ -n "$bd_pid" ]; then
		kill "$bd_pid" 2>/dev/null || true
		wait "$bd_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

start_billingd() { # data-dir
	rm -f "$work/port"
	"$build/server/billingd" --listen 127.0.0.1:0 --port-file "$work/port" --data-dir "$1" \
		--quiet-calls 2>>"$work/billingd.log" &
	bd_pid=$!
	for _ in $(seq 1 300); do
		[ -s "$work/port" ] && break
		sleep 0.05
	done
	[ -s "$work/port" ] || { cat "$work/billingd.log" >&2; exit 1; }
	port=$(cat "$work/port")
}

if [ -z "$seed_dir" ]; then
	data_dir=$work/data
	seed_dir=$work/seed
	mkdir -p "$seed_dir"
	start_billingd "$data_dir"
	echo "profile.sh: seeding --scale $scale" >&2
	"$build/tools/bench/seed" --target "127.0.0.1:$port" --key-file "$data_dir/admin.key" \
		--out "$seed_dir" --scale "$scale" --threads 4 2>"$work/seed.err" ||
		{ cat "$work/seed.err" >&2; exit 1; }
else
	[ -n "$data_dir" ] || { echo "profile.sh: --seed-dir needs --data-dir" >&2; exit 2; }
	start_billingd "$data_dir"
fi
# shellcheck disable=SC1091
. "$seed_dir/bench.env"
st=$(sed -n "s/^STATUS_$workload=//p" "$seed_dir/bench.env")
[ "$st" = ok ] || { echo "profile.sh: $workload: ${st:-unknown workload}" >&2; exit 1; }

args=(-c "$conns" -m "$streams" -t 1 --header 'content-type: application/grpc'
	--header 'te: trailers' --header "authorization: Bearer $BENCH_KEY"
	-d "$seed_dir/req_$workload.bin" "http://127.0.0.1:$port$(cat "$seed_dir/path_$workload")")
h2load -D 1 "${args[@]}" >/dev/null 2>&1 || true
h2load -D "$seconds" "${args[@]}" >"$work/h2load.out" 2>&1 &
load_pid=$!
perf record -q -F 499 --call-graph dwarf,16384 -o "$work/perf.data" -p "$bd_pid" -- sleep "$seconds" 2>"$work/perf.err" || {
	cat "$work/perf.err" >&2
	exit 1
}
wait "$load_pid" || true
[ -z "$keep_data" ] || cp "$work/perf.data" "$keep_data"

tidy() { sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//; s/   +/  /g'; }

echo "## $workload, ${conns}×${streams}, ${seconds}s: $(grep '^finished in' "$work/h2load.out")"
echo
echo "### self time (top $top)"
echo '```'
perf report -i "$work/perf.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
	grep -E '^ +[0-9]' | tidy | head -n "$top" || true
echo '```'
echo
echo "### inclusive time (children, top $top)"
echo '```'
perf report -i "$work/perf.data" --children --sort symbol -g none --stdio 2>/dev/null |
	grep -E '^ +[0-9]' | tidy | head -n "$top" || true
echo '```'
if [ "$callgraph" = 1 ]; then
	echo
	echo "### call graph (caller view, >= 3%)"
	echo '```'
	perf report -i "$work/perf.data" --no-children -g caller,0.5,3 --percent-limit 3 --stdio 2>/dev/null |
		grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+$//' | head -n 150 || true
	echo '```'
fi
