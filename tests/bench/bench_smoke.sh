#!/usr/bin/env bash
# bench_smoke.sh SOURCE_DIR BUILD_DIR: runs tools/bench/run.sh on tiny data
# (scale 0.001 and 0.0001, 0.5 s loads) and checks that it completes and that
# its tables have every expected row. No timing assertions.
set -euo pipefail
src=$1
build=$2
command -v h2load >/dev/null || { echo "bench_smoke: h2load missing (nghttp2-client), skipped"; exit 77; }

out=$(mktemp "${TMPDIR:-/tmp}/bench_smoke.XXXXXX")
trap 'rm -f "$out"' EXIT
run_bench() {
	"$src/tools/bench/run.sh" --build "$build" --scale 0.001 --duration "$1" --warmup 100ms \
		--sdk-calls 20 --lmdb-seconds 0.3 --settle 0.2 >"$out"
	cat "$out"
}
# On a loaded machine a 16x64 load of half a second may finish no request at
# all (0 bytes read, shown as ERRORS); such a run is repeated once with
# 2-second loads, and the checks below apply to that second run.
run_bench 500ms
if grep -qF -- "(ERRORS)" "$out"; then
	echo "bench_smoke: a load finished no request in 0.5 s (a busy machine?); once more with 2 s loads"
	run_bench 2s
fi

fail=0
expect() { # fixed string, expected count
	local n
	n=$(grep -cF -- "$1" "$out" || true)
	if [ "$n" -ne "$2" ]; then
		echo "bench_smoke: expected $2 line(s) with '$1', found $n" >&2
		fail=1
	fi
}
expect "## Machine" 1
expect "lmdb 1 put/commit:" 1
expect "lmdb 100 puts/commit:" 1
for s in "16×64" "16×4" "1×1"; do
	expect "| echo (limit) | $s |" 2
	for w in GetCreditBalance GetCatalog QuoteServices AssignCredits ListItems; do
		# Once at each scale: a figure or "n/a (not implemented)", never an error.
		expect "| $w | $s |" 2
	done
done
for w in GetCreditBalance GetCatalog QuoteServices AssignCredits ListItems; do
	expect "sdk $w " 2
done
expect "## billingd, scale 0.001 (full)" 1
expect "## billingd, scale 0.0001 (small)" 1
expect "## Targets" 1
expect "RssAnon < 64 MiB" 1
expect "n/a (error" 0
expect "(ERRORS)" 0
expect "BENCH_DONE" 1
# Every implemented row carries numbers: req/s is a positive integer.
if grep -E '^\| [A-Za-z]+ \| [0-9]+×[0-9]+ \| ' "$out" | grep -v 'n/a (not implemented)' |
	awk -F'|' '{ gsub(/ /, "", $4); if ($4 !~ /^[0-9]+$/ || $4 == 0) bad = 1 } END { exit !bad }'; then
	echo "bench_smoke: a row without a positive req/s" >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "bench_smoke: ok"
exit "$fail"
