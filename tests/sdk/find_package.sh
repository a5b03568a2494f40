#!/bin/sh
# find_package.sh <build-dir> <billingd-binary> [--static]
#
# The SDK as a CMake user gets it: `cmake --install` into a fresh prefix
# (what tools/run.sh leaves buildable), then
#  - share/ holds the protos, the example and one page per SDK function;
#  - the installed example's own CMakeLists.txt (find_package(spbilling),
#    spbilling::spbilling) configures and builds outside the tree;
#  - with --static, a second program links spbilling::spbilling_static
#    (COMPONENTS static; about 35 s more: grpc's pkg-config is slow, so
#    ctest leaves it out and it is run by hand);
#  - they run against a real billingd, as does the installed billingctl.
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 <build-dir> <billingd-binary> [--static]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
billingd=$2
static=${3:-}
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || fail "cmake --install"
share=$prefix/share
for f in spbilling/proto/smartplus/billing/v1/directory_service.proto \
	spbilling/proto/google/rpc/error_details.proto \
	spbilling/proto/grpc/health/v1/health.proto \
	doc/spbilling/examples/catalog.c doc/spbilling/examples/CMakeLists.txt \
	doc/spbilling/functions/index.md doc/spbilling/functions/spb_client_new.md \
	doc/spbilling/functions/spb_directory_list_api_keys.md; do
	[ -s "$share/$f" ] || fail "share/$f not installed"
done
# one page per public function of the installed headers
want=$(cat "$prefix"/include/spbilling/spbilling.h "$prefix"/include/spbilling/spb_rpc.h |
	grep -c '^SPB_EXTERN [a-z]')
have=$(find "$share/doc/spbilling/functions" -name 'spb_*.md' | wc -l)
[ "$want" -eq "$have" ] || fail "$want public functions but $have pages"
echo "installed: protos, example, $have function pages"

# The example, configured by its installed CMakeLists.txt.
cmake -S "$share/doc/spbilling/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix" \
	>"$tmp/ex.log" 2>&1 || { cat "$tmp/ex.log" >&2; fail "configure the example"; }
cmake --build "$tmp/ex" >>"$tmp/ex.log" 2>&1 || { cat "$tmp/ex.log" >&2; fail "build the example"; }
# A program on the static library.
if [ "$static" = --static ]; then
mkdir -p "$tmp/st"
cp "$share/doc/spbilling/examples/catalog.c" "$tmp/st/"
cat >"$tmp/st/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(spbilling_static_user C)
find_package(spbilling 0.1 REQUIRED COMPONENTS static)
add_executable(catalog_static catalog.c)
target_link_libraries(catalog_static PRIVATE spbilling::spbilling_static)
if(NOT EXISTS "${spbilling_PROTO_DIR}/smartplus/billing/v1/types.proto")
  message(FATAL_ERROR "spbilling_PROTO_DIR does not hold the protos")
endif()
CM
cmake -S "$tmp/st" -B "$tmp/st/b" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/st.log" 2>&1 &&
	cmake --build "$tmp/st/b" >>"$tmp/st.log" 2>&1 || { cat "$tmp/st.log" >&2; fail "static user"; }
if ldd "$tmp/st/b/catalog_static" | grep -q libspbilling; then
	fail "the static user needs libspbilling.so"
fi
fi
if ldd "$tmp/ex/catalog" | grep -qF "$build/"; then
	fail "the example links against the build tree, not the install"
fi
ldd "$tmp/ex/catalog" | grep -q "libspbilling.so.0 => $prefix/" ||
	fail "the example does not use the installed libspbilling.so"

"$billingd" --listen 127.0.0.1:0 --port-file "$tmp/port" --data-dir "$tmp/data" \
	>"$tmp/billingd.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/port" ] || [ ! -s "$tmp/data/admin.key" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		cat "$tmp/billingd.log" >&2
		fail "billingd did not start"
	fi
	sleep 0.1
done
target=127.0.0.1:$(tr -d ' \n' <"$tmp/port")
key=$(tr -d ' \n' <"$tmp/data/admin.key")
progs="$tmp/ex/catalog"
[ "$static" != --static ] || progs="$progs $tmp/st/b/catalog_static"
for prog in $progs; do
	"$prog" "$target" "$key" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "$prog"; }
	grep -q "^  SERVICE_TYPE_DOOR" "$tmp/out" || fail "$prog printed no catalog"
done
BILLINGCTL_KEY=$key "$prefix/bin/billingctl" --target "$target" account get vendor >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out" >&2; fail "installed billingctl"; }
grep -q "^role: *VENDOR" "$tmp/out" || fail "installed billingctl printed no account"
echo "PASS"
