#!/usr/bin/env bash
# run_fuzz.sh [--smoke] [--time SECONDS] [--build-dir DIR] [target...]
#
# Builds the libFuzzer targets with clang (-DSPB_FUZZ=ON: ASan + UBSan +
# coverage) in DIR (default <top>/build-fuzz), generates seeds from the
# descriptors (gen_seeds) next to the committed ones (tests/fuzz/corpus/),
# and fuzzes each target (default: fuzz_rpc fuzz_store_decode) for SECONDS
# (default 300; --smoke: 5). New inputs go to DIR/corpus/<target>, crashes
# to DIR/artifacts/. Prints one line per target:
#   fuzz_rpc: 123456 executions in 300 s, 0 crashes
# Exit 0 when no target crashed, 1 otherwise, 77 when clang (or its libFuzzer
# runtime) is missing (ctest SKIP_RETURN_CODE).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build="$top/build-fuzz"
secs=300
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) secs=5 ;;
    --time) secs=$2; shift ;;
    --build-dir) build=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_rpc fuzz_store_decode)

cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
  echo "run_fuzz: clang not found: skipped"
  exit 77
fi
probe=$(mktemp -d)
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
  rm -rf "$probe"
  echo "run_fuzz: $cc cannot link libFuzzer (libclang-rt-14-dev?): skipped"
  exit 77
fi
rm -rf "$probe"

mkdir -p "$build"
log="$build/build.log"
if ! { cmake -S "$top" -B "$build" -DSPB_FUZZ=ON -DCMAKE_C_COMPILER="$cc" \
         -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" gen_seeds; } >"$log" 2>&1; then
  tail -40 "$log"
  echo "run_fuzz: build failed (log: $log)"
  exit 1
fi

fuzzdir="$build/tests/fuzz"
rm -rf "$build/seeds"
"$fuzzdir/gen_seeds" "$build/seeds" >/dev/null || { echo "run_fuzz: gen_seeds failed"; exit 1; }
mkdir -p "$build/artifacts"
failed=0
for t in "${targets[@]}"; do
  short=${t#fuzz_}
  corpus="$build/corpus/$short"
  mkdir -p "$corpus"
  out="$build/$t.log"
  before=$(ls "$build/artifacts" | grep -c "^$short-" || true)
  # The first corpus directory receives new inputs; the others are read.
  "$fuzzdir/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$short-" "$corpus" "$build/seeds/$short" \
    "$top/tests/fuzz/corpus/$short" >"$out" 2>&1
  rc=$?
  after=$(ls "$build/artifacts" | grep -c "^$short-" || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
  crashes=$((after - before))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  echo "$t: ${execs:-?} executions in $secs s, $crashes crashes, corpus $(ls "$corpus" | wc -l) inputs"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    grep -A30 -m1 -E "ERROR: |runtime error|fuzz_[a-z_]+: " "$out" | head -60
    echo "run_fuzz: see $out and $build/artifacts/"
  fi
done
exit $failed
