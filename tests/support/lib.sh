# tests/support/lib.sh: the shell side of the test support library, for the
# test scripts (buf curl, the demo, disk full, valgrind, the SDK install):
# a fresh work directory removed on exit, billingd started on 127.0.0.1:0
# with --port-file (log in $workdir/billingd.log, printed when it does not
# come up) and stopped with SIGTERM, and counted checks.
# Usage: source lib.sh; start_billingd <billingd> [extra args...]
# Before start_billingd, optionally: data_dir=DIR (default $workdir/data),
# billingd_wrapper=(valgrind ...) (a command the binary runs under),
# start_timeout=SECONDS (default 30).
set -euo pipefail

fails=0
passes=0
workdir=$(mktemp -d "${TMPDIR:-/tmp}/spb-sh.XXXXXX")
billingd_pid=""
data_dir="$workdir/data"
billingd_wrapper=()
start_timeout=30

cleanup() {
  if [ -n "$billingd_pid" ] && kill -0 "$billingd_pid" 2>/dev/null; then
    kill -TERM "$billingd_pid" 2>/dev/null || true
    wait "$billingd_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

start_billingd() {
  local bin=$1; shift
  rm -f "$workdir/port"
  "${billingd_wrapper[@]}" "$bin" --listen 127.0.0.1:0 --port-file "$workdir/port" \
    --data-dir "$data_dir" "$@" 2>>"$workdir/billingd.log" &
  billingd_pid=$!
  for _ in $(seq 1 $((start_timeout * 20))); do
    [ -s "$workdir/port" ] && break
    kill -0 "$billingd_pid" 2>/dev/null || { cat "$workdir/billingd.log"; echo "billingd died"; exit 1; }
    sleep 0.05
  done
  [ -s "$workdir/port" ] || { cat "$workdir/billingd.log"; echo "billingd did not write its port"; exit 1; }
  port=$(cat "$workdir/port")
  admin_key=$(cat "$data_dir/admin.key" 2>/dev/null || true)
}

stop_billingd() {
  kill -TERM "$billingd_pid"
  wait "$billingd_pid"
  local rc=$?
  billingd_pid=""
  return $rc
}

check() { # check <description> <command...>
  local what=$1; shift
  if "$@"; then passes=$((passes + 1)); echo "ok: $what"
  else fails=$((fails + 1)); echo "FAIL: $what"; fi
}

finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ] || { echo "--- billingd log ---"; tail -50 "$workdir/billingd.log"; exit 1; }
}
