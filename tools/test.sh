#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite through ctest, twice:
#  - build/       the normal tree, every test;
#  - build-asan/  everything built with ASan + UBSan (-DSPB_SANITIZE=ON),
#                 without the tests labelled "slow" (valgrind on top of ASan
#                 adds nothing), sdk_install_and_build (it links an
#                 uninstrumented program against the instrumented library;
#                 sdk_find_package likewise; deploy_deb packages release
#                 artifacts, and dpkg-shlibdeps on ASan binaries is slow)
#                 and bench_smoke (a load test: ASan makes its calls miss
#                 their deadlines, and its figures mean nothing there).
# Both trees always run; the exit status is non-zero if either failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
"$top/tools/setup.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$jobs"
cmake -S "$top" -B "$top/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPB_SANITIZE=ON >/dev/null
cmake --build "$top/build-asan" -j"$jobs"

status=0
echo "== build: all tests"
(cd "$top/build" && ctest --output-on-failure -j2 --timeout 600) || status=1
echo "== build-asan: ASan + UBSan"
(cd "$top/build-asan" &&
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  ctest --output-on-failure -j2 --timeout 600 -LE slow -E '^(sdk_install_and_build|sdk_find_package|deploy_deb|bench_smoke)$') || status=1
exit $status
