# Shared helpers for the shell integration tests: start billingd on port 0
# with a fresh data directory, stop it, and check things.
# Usage: source lib.sh; start_billingd <billingd> [extra args...]
set -euo pipefail

fails=0
passes=0
workdir=$(mktemp -d /tmp/spb-it.XXXXXX)
billingd_pid=""

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
  "$bin" --listen 127.0.0.1:0 --port-file "$workdir/port" --data-dir "$workdir/data" "$@" \
    2>>"$workdir/billingd.log" &
  billingd_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$workdir/port" ] && break
    kill -0 "$billingd_pid" 2>/dev/null || { cat "$workdir/billingd.log"; echo "billingd died"; exit 1; }
    sleep 0.05
  done
  [ -s "$workdir/port" ] || { echo "billingd did not write its port"; exit 1; }
  port=$(cat "$workdir/port")
  admin_key=$(cat "$workdir/data/admin.key" 2>/dev/null || true)
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
