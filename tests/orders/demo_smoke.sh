#!/usr/bin/env bash
# demo_smoke: tools/demo/demo.sh against a real billingd on port 0 with a
# fresh data directory, run twice (it must be re-runnable); both runs must
# end with the activation and the renewal SUCCEEDED. Skips (77) without buf.
# Usage: demo_smoke.sh <billingd> <buf>
set -euo pipefail
bin=$1
buf=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$buf" ] || { echo "SKIP: buf not installed at $buf (tools/setup.sh)"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
# shellcheck source=../support/lib.sh
source "$top/tests/support/lib.sh"
start_billingd "$bin" --seller-name "SmartPlus Cloud GmbH" --seller-address "Hauptstrasse 1, 10115 Berlin" \
  --seller-country DE --seller-tax-id DE123456789 --seller-email billing@smartplus.example \
  --invoice-prefix SPB
for i in 1 2; do
  out=$(BUF=$buf "$top/tools/demo/demo.sh" --target "127.0.0.1:$port" \
          --key-file "$workdir/data/admin.key" --pdf-dir "$workdir/pdf" 2>&1) || { echo "$out"; echo "FAIL: demo run $i"; finish; exit 1; }
  [ "$i" = 1 ] && echo "$out"
  check "run $i: activation and renewal succeeded" \
    grep -q "demo finished: activation and renewal SUCCEEDED" <<<"$out"
  check "run $i: two SUCCEEDED orders listed" \
    test "$(grep -c '"status":"ORDER_STATUS_SUCCEEDED"' <<<"$out")" -eq 2
  pdf=$(sed -n 's/^invoice [^:]*: //p' <<<"$out")
  check "run $i: ends with the invoice number and its PDF" test -s "$pdf"
  if command -v pdftotext >/dev/null; then
    number=$(sed -n 's/^invoice \([^:]*\): .*/\1/p' <<<"$out")
    check "run $i: the PDF opens and holds its number and the buyer's VAT id" \
      bash -c "pdftotext '$pdf' - | grep -q '$number' && pdftotext '$pdf' - | grep -q DE811907980"
  fi
done
finish
