#!/usr/bin/env bash
# install_and_build.sh <build-dir> <billingd-binary>
#
# What a user of the SDK does: installs the build into a fresh prefix,
# compiles sdk/examples/catalog.c outside the tree with nothing but
# `pkg-config spbilling`, starts billingd on an ephemeral loopback port and
# runs the example against it with the admin key billingd wrote.
if [ $# -ne 2 ]; then
	echo "usage: $0 <build-dir> <billingd-binary>" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
billingd=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../support/lib.sh
source "$src/tests/support/lib.sh"
tmp=$workdir

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
pc=$(find "$prefix" -name spbilling.pc | head -n 1)
if [ -z "$pc" ]; then
	echo "FAIL: no spbilling.pc installed under $prefix" >&2
	exit 1
fi
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir spbilling)

# shellcheck disable=SC2046 # pkg-config output is meant to be split
cc -o "$tmp/catalog" "$src/sdk/examples/catalog.c" \
	$(pkg-config --cflags --libs spbilling) -Wl,-rpath,"$libdir"
if ldd "$tmp/catalog" | grep -qF "$build/"; then
	echo "FAIL: the example links against the build tree, not the install" >&2
	exit 1
fi

start_billingd "$billingd"
key=$admin_key

if ! LD_LIBRARY_PATH=$libdir "$tmp/catalog" "127.0.0.1:$port" "$key" >"$tmp/out" 2>&1; then
	echo "FAIL: catalog exited non-zero" >&2
	cat "$tmp/out" >&2
	exit 1
fi
cat "$tmp/out"

# The COMMERCIAL block lists doors; COMMUNITY offers PM apps; the three
# types all appear.
awk '/^PROJECT_TYPE_/ { type = $1 } /^  SERVICE_TYPE_/ { print type, $1 }' "$tmp/out" >"$tmp/pairs"
for want in "PROJECT_TYPE_COMMERCIAL SERVICE_TYPE_DOOR" \
	"PROJECT_TYPE_COMMUNITY SERVICE_TYPE_PM_APP" \
	"PROJECT_TYPE_SINGLE_FAMILY_HOUSE SERVICE_TYPE_APP"; do
	if ! grep -qx "$want" "$tmp/pairs"; then
		echo "FAIL: expected '$want' in the catalog" >&2
		exit 1
	fi
done
if grep -qx "PROJECT_TYPE_SINGLE_FAMILY_HOUSE SERVICE_TYPE_DOOR" "$tmp/pairs"; then
	echo "FAIL: SINGLE_FAMILY_HOUSE must not offer DOOR" >&2
	exit 1
fi
echo "PASS"
