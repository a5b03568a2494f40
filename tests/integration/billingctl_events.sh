#!/usr/bin/env bash
# billingctl's EventService commands against the real billingd: events list,
# events tail (WatchEvents through the SDK's watch: a replay from a sequence
# number, then live events as they commit, filtered by kind, --count, one
# JSON line per event with -o json, exit status from the gRPC code), and the
# webhook endpoint commands (create, list, test, deliveries, redeliver,
# delete), and the event metrics on /metrics (promtool check metrics):
# delivered and retried attempts, the newest sequence, the fan-out backlog.
# Usage: billingctl_events.sh <billingd> <billingctl> <node> <promtool>
source "$(dirname "$0")/../support/lib.sh"
billingd=$1 ctl=$2 node=$3 promtool=$4
start_billingd "$billingd" --metrics-listen 127.0.0.1:0
export BILLINGCTL_TARGET=127.0.0.1:$port BILLINGCTL_KEY_FILE=$data_dir/admin.key
b() { "$ctl" "$@"; }
st() { local rc=0; "$ctl" "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }
# wait_for <seconds> <command...>: polls every 50 ms, bounded
wait_for() {
  local n=$(($1 * 20)); shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done
  return 1
}

for _ in $(seq 1 200); do grep -q "metrics: listening on" "$workdir/billingd.log" && break; sleep 0.05; done
mport=$(sed -n 's/.*metrics: listening on .*(port \([0-9]*\).*/\1/p' "$workdir/billingd.log" | head -1)
metrics() { curl -sf "http://127.0.0.1:$mport/metrics"; }
# metric <name{labels}>: its value, 0 when absent
metric() { metrics | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'; }
export mport
export -f metrics metric

b account create dist --role distributor --parent-id vendor --display-name "North" >/dev/null
b price set --project-type community --service-type app --monthly-amount 21.00 --currency USD --monthly-credits 3 >/dev/null

# a replay from the start: the price change is there
out=$(timeout 20 "$ctl" -o json events tail --after-sequence 0 --kinds price.changed --count 1)
check "events tail --after-sequence 0: the price change, one JSON line (canonical names)" \
  bash -c '[ "$(wc -l <<<"$1")" = 1 ] && jq -e "(.kind == \"price.changed\") and ((.sequence | tonumber) >= 1) and (.eventId | length > 0) and (.price.monthlyAmount != null)" <<<"$1" >/dev/null' _ "$out"
first=$(jq -r .sequence <<<"$out")

# live: a tail started now shows only what commits after it, filtered
timeout 30 "$ctl" events tail --kinds credits.assigned --count 2 >"$workdir/tail.out" 2>"$workdir/tail.err" &
tail_pid=$!
check "events tail prints its header once the head is read" \
  wait_for 20 grep -q "^SEQUENCE" "$workdir/tail.out"
b credits assign dist --credits 5 >/dev/null
b price set --project-type community --service-type app --monthly-amount 22.00 --currency USD --monthly-credits 3 >/dev/null
b credits assign dist --credits 7 >/dev/null
rc=0; wait "$tail_pid" || rc=$?
check "events tail --count 2: exit 0 after two events" test "$rc" = 0
check "events tail: the two credit transfers, live, in order; not the price change" \
  bash -c '[ "$(grep -c " credits.assigned " "$1")" = 2 ] && ! grep -q "price.changed" "$1" && awk "NR>1 {print \$1}" "$1" | sort -nc' _ "$workdir/tail.out"
check "events tail: a table row names the subject and account" \
  bash -c 'grep -qE "^[0-9]+ +20[0-9-]+T[0-9:.]+Z +credits.assigned +[^ ]+ +[a-z]" "$1"' _ "$workdir/tail.out"

# resume after a sequence number
out=$(timeout 20 "$ctl" -o json events tail --after-sequence "$first" --count 1)
check "events tail --after-sequence N: the next event is N+1 or later" \
  bash -c '[ "$(jq -r .sequence <<<"$1")" -gt "$2" ]' _ "$out" "$first"

# exit status from the gRPC code
check "events tail --kinds with an unknown kind: INVALID_ARGUMENT, exit 3" \
  test "$(timeout 20 "$ctl" events tail --kinds no.such --count 1 >/dev/null 2>&1; echo $?)" = 3
secret=$(b key create dist | awk '/^secret:/ {print $2}')
check "events tail of a foreign account: PERMISSION_DENIED, exit 7" \
  test "$(BILLINGCTL_KEY=$secret timeout 20 "$ctl" events tail --account-id vendor --count 1 >/dev/null 2>&1; echo $?)" = 7
check "events tail --count 0: usage, exit 64" test "$(st events tail --count 0)" = 64

# events list
out=$(b events list --kinds credits.assigned)
check "events list: a table of the kept events" \
  bash -c 'head -1 <<<"$1" | grep -q "^SEQUENCE" && [ "$(grep -c credits.assigned <<<"$1")" = 2 ]' _ "$out"

# webhook endpoints; nothing listens on the URL, so deliveries stay PENDING
out=$(b webhook create http://127.0.0.1:9/hooks --kinds webhook.test --description ops)
ep=$(awk '/^endpoint.endpoint_id:/ {print $2}' <<<"$out")
check "webhook create: the endpoint and its signing secret, shown once" \
  bash -c '[ -n "$2" ] && grep -qE "^signing_secret: +[^ ]{16,}" <<<"$1"' _ "$out" "$ep"
check "webhook list: a table row" \
  bash -c 'grep -qE "^$2 +vendor +http://127.0.0.1:9/hooks" <<<"$1"' _ "$(b webhook list)" "$ep"
out=$(b webhook test "$ep")
seq=$(awk '/^sequence:/ {print $2}' <<<"$out")
check "webhook test: a webhook.test event" \
  bash -c 'grep -qE "^kind: +webhook.test$" <<<"$1" && [ -n "$2" ]' _ "$out" "$seq"
check "webhook deliveries: the test event's delivery, tried and PENDING (nothing listens)" \
  wait_for 20 bash -c '"$1" -o json webhook deliveries "$2" | jq -e ".deliveries[] | select(.sequence == \"$3\") | (.status == \"DELIVERY_STATUS_PENDING\") and (.attempts >= 1)" >/dev/null' _ "$ctl" "$ep" "$seq"
check "webhook redeliver --sequence N" \
  bash -c 'grep -qE "^status: +PENDING$" <<<"$1"' _ "$(b webhook redeliver "$ep" --sequence "$seq")"

# a receiver on loopback that answers 204: that endpoint's test event is
# delivered
"$node" -e 'const s = require("http").createServer((q, r) => { q.resume(); q.on("end", () => { r.writeHead(204); r.end(); }); });
s.listen(0, "127.0.0.1", () => console.log(s.address().port));' >"$workdir/recv.port" &
recv_pid=$!
trap 'kill "$recv_pid" 2>/dev/null || true; cleanup' EXIT
wait_for 20 test -s "$workdir/recv.port"
ok_ep=$(b -o json webhook create "http://127.0.0.1:$(cat "$workdir/recv.port")/hooks" --kinds webhook.test | jq -r .endpoint.endpointId)
ok_seq=$(b -o json webhook test "$ok_ep" | jq -r .event.sequence)
check "webhook deliveries: the test event DELIVERED to the receiver (HTTP 204)" \
  wait_for 20 bash -c '"$1" -o json webhook deliveries "$2" | jq -e ".deliveries[] | select(.sequence == \"$3\") | (.status == \"DELIVERY_STATUS_DELIVERED\") and (.lastHttpStatus == 204)" >/dev/null' _ "$ctl" "$ok_ep" "$ok_seq"
kill "$recv_pid" 2>/dev/null || true

# the event metrics
metrics >"$workdir/metrics.txt"
check "promtool check metrics accepts /metrics" "$promtool" check metrics <"$workdir/metrics.txt"
check "billingd_event_webhook_deliveries_total: one delivered, retries counted" \
  bash -c '[ "$("$1" "billingd_event_webhook_deliveries_total{outcome=\"delivered\"}")" = 1 ] && [ "$("$1" "billingd_event_webhook_deliveries_total{outcome=\"retry\"}")" -ge 1 ]' _ metric
check "billingd_event_webhook_delivery_seconds counts every attempt" \
  bash -c '[ "$("$1" billingd_event_webhook_delivery_seconds_count)" -ge 2 ]' _ metric
check "billingd_events_last_sequence is the newest event's sequence" \
  bash -c '[ "$("$1" billingd_events_last_sequence)" = "$2" ]' _ metric "$ok_seq"
check "billingd_event_webhook_backlog: every event fanned out (0)" \
  wait_for 20 bash -c '[ "$("$1" billingd_event_webhook_backlog)" = 0 ]' _ metric
b webhook delete "$ok_ep" >/dev/null
b webhook delete "$ep" >/dev/null
check "webhook delete: the endpoint is gone" bash -c '! grep -q "^$2 " <<<"$1"' _ "$(b webhook list)" "$ep"
check "webhook delete again: NOT_FOUND or PERMISSION_DENIED, not 0" \
  bash -c '[ "$1" = 5 ] || [ "$1" = 7 ]' _ "$(st webhook delete "$ep")"
finish
