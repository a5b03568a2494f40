#!/usr/bin/env bash
# Installs everything SmartPlus Billing needs on Debian 12, skipping what is
# already there: the Debian packages below, then buf from the npm registry
# (pinned in tools/node/package-lock.json). Run as root (or with sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

packages=(
  build-essential cmake pkg-config git     # toolchain
  libgrpc-dev                               # grpc C core
  protobuf-compiler libprotobuf-dev         # protoc + well-known .proto files
  protobuf-c-compiler libprotobuf-c-dev     # protoc-c + runtime
  liblmdb-dev lmdb-utils                    # storage
  libssl-dev openssl                        # keys, hashes, TLS (and test certificates)
  libcurl4-openssl-dev libjansson-dev       # payment providers: HTTP + JSON
  libmicrohttpd-dev                         # provider webhook listener (server/httpd.c)
  libinih-dev                               # billingd --config file (key = value)
  libcunit1-dev                             # unit tests
  libhpdf-dev poppler-utils                 # invoice PDFs (libharu); pdftotext/pdftoppm in tests
  nghttp2-client                            # h2load, for the benchmark
  valgrind clang libclang-rt-14-dev         # leak checks, sanitizers, libFuzzer
  clang-format                              # the format check (tools/check_format.sh)
  procps psmisc curl ca-certificates jq     # scripts: pkill/ps, HTTP checks, JSON
  systemd dpkg-dev                          # systemd-analyze verify; cpack -G DEB (dpkg-shlibdeps)
  prometheus                                # promtool check metrics (/metrics test)
  nodejs npm                                # buf (lint, buf curl) from npm
)

missing=()
for p in "${packages[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

if [ ! -x "$here/node/node_modules/.bin/buf" ]; then
  echo "setup: installing buf from npm"
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
"$here/node/node_modules/.bin/buf" --version >/dev/null
echo "setup: done"
