#!/usr/bin/env bash
# Sets up, builds and starts billingd on its embedded defaults: listening on
# 127.0.0.1:50051, data in ./data, sandbox payments. Extra arguments go to
# billingd (see `billingd --help`). The admin key is written to data/admin.key.
# It builds everything `cmake --install build` installs (target
# spb_installable: billingd, billingctl, the SDK), so an install works after it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/setup.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc)" --target spb_installable
cd "$top"
exec "$top/build/server/billingd" "$@"
