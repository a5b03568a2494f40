#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` in the build tree, then, without
# installing it, dpkg-deb shows its control data and files, unpacks it into
# a temporary root, and the packaged billingd (--version, then serving on
# 127.0.0.1) answers the packaged billingctl; the packaged unit is verified.
# Usage: deb.sh <build-dir>
set -euo pipefail
build=$(cd "$1" && pwd)
fails=0 passes=0 pid=""
tmp=$(mktemp -d)
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
check() { # check <description> <command...>
  local what=$1; shift
  if "$@"; then passes=$((passes + 1)); echo "ok: $what"
  else fails=$((fails + 1)); echo "FAIL: $what"; fi
}

(cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/pkg/smartplus-billing_*_amd64.deb)
info=$(dpkg-deb --info "$deb")
check "package name and version" bash -c 'grep -q "Package: smartplus-billing" <<<"$1" && grep -qE "Version: [0-9]+\.[0-9]+\.[0-9]+" <<<"$1"' _ "$info"
check "depends on the shared libraries it links (dpkg-shlibdeps)" \
  bash -c 'grep -q "libgrpc" <<<"$1" && grep -q "liblmdb0" <<<"$1" && grep -q "libinih1" <<<"$1"' _ "$info"
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/billingd ./usr/bin/billingctl ./usr/lib/systemd/system/billingd.service \
  ./usr/lib/libspbilling.so.0 ./usr/lib/cmake/spbilling/spbillingConfig.cmake \
  ./usr/include/spbilling/spbilling.h ./usr/share/spbilling/proto/smartplus/billing/v1/types.proto \
  ./usr/share/doc/smartplus-billing/billingd.conf.example ./etc/billingd/billingd.conf \
  ./etc/billingd/credentials/stripe_secret_key; do
  check "contains $f" grep -qE " $f( -> .*)?\$" <<<"$contents"
done

check "credentials are root-only" grep -qE '^-rw------- root/root +0 .* ./etc/billingd/credentials/paypal_client_secret$' <<<"$contents"
mkdir -p "$tmp/ctrl"
dpkg-deb --control "$deb" "$tmp/ctrl"
check "the config and credential files are conffiles" \
  bash -c 'grep -qx /etc/billingd/billingd.conf "$1" && grep -qx /etc/billingd/credentials/stripe_secret_key "$1"' _ "$tmp/ctrl/conffiles"

root=$tmp/root
dpkg-deb -x "$deb" "$root"
version=$("$root/usr/bin/billingd" --version)
check "packaged billingd --version ($version)" \
  bash -c '[[ "$1" =~ ^billingd\ [0-9.]+\ \(schema\ [0-9]+, ]]' _ "$version"
# the packaged billingctl finds the packaged libspbilling (RPATH $ORIGIN)
check "packaged billingctl uses the packaged libspbilling" \
  bash -c 'ldd "$1/usr/bin/billingctl" | grep -q "libspbilling.so.0 => $1/usr/bin/../lib/"' _ "$root"

# as the unit starts it: the packaged config, the packaged (empty)
# credentials, the data dir pinned by a flag
CREDENTIALS_DIRECTORY=$root/etc/billingd/credentials "$root/usr/bin/billingd" \
  --config "$root/etc/billingd/billingd.conf" --listen 127.0.0.1:0 --port-file "$tmp/port" \
  --data-dir "$tmp/data" 2>"$tmp/billingd.log" &
pid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/port" ] && [ -s "$tmp/data/admin.key" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
check "packaged billingd serves with the packaged config and credentials" test -s "$tmp/port"
check "it read the packaged config file" grep -q "config=$root/etc/billingd/billingd.conf" "$tmp/billingd.log"
ctl() { "$root/usr/bin/billingctl" --target "127.0.0.1:$(cat "$tmp/port")" --key-file "$tmp/data/admin.key" "$@"; }
out=$(ctl account create pkgdist --role distributor --parent-id vendor 2>&1 || true)
check "packaged billingctl: account create" grep -qE '^role: +DISTRIBUTOR$' <<<"$out"
out=$(ctl account list 2>&1 || true)
check "packaged billingctl: account list shows it" grep -qE '^pkgdist +DISTRIBUTOR +vendor' <<<"$out"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
check "packaged billingd stops cleanly on SIGTERM" test "$rc" = 0
check "packaged unit passes systemd-analyze verify" \
  "$(dirname "$0")/systemd_verify.sh" "$root/usr/lib/systemd/system/billingd.service" "$root/usr/bin/billingd"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
