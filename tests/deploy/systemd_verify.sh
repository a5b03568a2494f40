#!/usr/bin/env bash
# contrib/systemd/billingd.service: `systemd-analyze verify` finds nothing to
# say about it, and it carries the hardening and credential settings the
# deployment relies on. The unit names /usr/bin/billingd (the package's
# path); verify checks that ExecStart= is executable, so a copy pointing at
# the billingd under test is verified, every other line unchanged.
# Usage: systemd_verify.sh <unit> <billingd>
# Exit 77 (skipped) only when systemd-analyze cannot run at all here.
set -euo pipefail
unit=$1 billingd=$2
fails=0 passes=0
check() { # check <description> <command...>
  local what=$1; shift
  if "$@"; then passes=$((passes + 1)); echo "ok: $what"
  else fails=$((fails + 1)); echo "FAIL: $what"; fi
}
if ! systemd-analyze --version >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze cannot run here (tools/setup.sh installs package systemd)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=/usr/bin/billingd|ExecStart=$billingd|" "$unit" >"$tmp/billingd.service"
check "the copy differs from the unit in ExecStart= only" \
  test "$(diff "$unit" "$tmp/billingd.service" | grep -c '^[<>]')" = 2
rc=0
systemd-analyze verify --man=no "$tmp/billingd.service" >"$tmp/out" 2>&1 || rc=$?
check "systemd-analyze verify exits 0 (rc=$rc)" test "$rc" = 0
check "systemd-analyze verify prints nothing (no warning)" test ! -s "$tmp/out"
cat "$tmp/out"
for want in DynamicUser=yes StateDirectory=billingd ProtectSystem=strict NoNewPrivileges=yes \
  'LoadCredential=stripe_secret_key:' 'LoadCredential=paypal_client_id:' \
  'LoadCredential=paypal_client_secret:' \
  'ExecStart=/usr/bin/billingd --config /etc/billingd/billingd.conf --data-dir /var/lib/billingd'; do
  check "unit sets $want" grep -q "^$want" "$unit"
done
# verify must be able to fail: a unit with an unknown directive is reported
printf '[Service]\nExecStart=%s\nNoSuchDirective=1\n' "$billingd" >"$tmp/bad.service"
check "verify reports a bad unit (so its silence above means something)" \
  bash -c '! systemd-analyze verify --man=no "$1" >"$2" 2>&1 || grep -q NoSuchDirective "$2"' _ "$tmp/bad.service" "$tmp/bad.out"
check "that report names the bad line" grep -q NoSuchDirective "$tmp/bad.out"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
