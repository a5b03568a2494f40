#!/usr/bin/env bash
# Health and shutdown through the real billingd:
#  - Check is SERVING on the main port and on the health-only port
#    (--health-listen), which serves grpc.health.v1 and nothing else;
#  - Watch streams push every change: SIGTERM turns them NOT_SERVING (the
#    main port's streams then end, so they do not hold the drain);
#  - SIGTERM drains: a payment call in flight, slower than the old 2 s
#    grace, still completes (the default grace is above the provider
#    timeout), and billingd exits 0;
#  - a full store, and a write batch stalled past --writer-stall-seconds
#    (SPB_FAULT_STALL), turn the status NOT_SERVING; the stall's end turns
#    it back.
# Usage: health.sh <billingd> <billingctl> <buf> <node> <provider.js> <descriptor set>
source "$(dirname "$0")/../support/lib.sh"
billingd=$1 ctl=$2 buf=$3 node=$4 fake=$5
bc() { (cd "$workdir" && "$buf" curl --protocol grpc --http2-prior-knowledge "$@"); }
# the health port has no reflection: buf curl gets the schema from a file
cp "$6" "$workdir/schema.binpb"
hbc() { bc --schema "$workdir/schema.binpb" "$@"; }

# the fake provider, slow enough to outlast the old 2 s grace
"$node" "$fake" --port-file "$workdir/fake.port" >"$workdir/fake.log" 2>&1 &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$workdir/fake.port" ] && break; sleep 0.05; done
fake_url=http://127.0.0.1:$(cat "$workdir/fake.port")

export STRIPE_SECRET_KEY=sk_test_x
start_billingd "$billingd" --health-listen 127.0.0.1:0 --payments live --stripe-url "$fake_url" \
  --paypal-url "$fake_url" --provider-timeout-ms 5000
unset STRIPE_SECRET_KEY
hport=$(sed -n 's/.*health-only port on .* (port \([0-9]*\),.*/\1/p' "$workdir/billingd.log" | tail -1)
check "the health-only port is logged ($hport)" test -n "$hport"
main=http://127.0.0.1:$port health=http://127.0.0.1:$hport
check "start line: grace defaults to provider timeout + 5 s" \
  grep -q "shutdown-grace-seconds=auto(default)" "$workdir/billingd.log"

check "Check SERVING on the main port" bash -c 'grep -q "\"SERVING\"" <<<"$1"' _ \
  "$(bc -d '{}' "$main/grpc.health.v1.Health/Check")"
check "Check SERVING on the health port" bash -c 'grep -q "\"SERVING\"" <<<"$1"' _ \
  "$(hbc -d '{}' "$health/grpc.health.v1.Health/Check" 2>&1)"
check "Check of a served service by name" bash -c 'grep -q "\"SERVING\"" <<<"$1"' _ \
  "$(hbc -d '{"service":"smartplus.billing.v1.BillingService"}' "$health/grpc.health.v1.Health/Check" 2>&1)"
check "Check of an unknown service: not_found" bash -c 'grep -q "not_found" <<<"$1"' _ \
  "$(bc -d '{"service":"no.Such"}' "$main/grpc.health.v1.Health/Check" 2>&1 || true)"
out=$(hbc -H "authorization: Bearer $admin_key" -d '{}' \
  "$health/smartplus.billing.v1.BillingService/GetCatalog" 2>&1 || true)
check "nothing else on the health port: unimplemented" grep -q unimplemented <<<"$out"
out=$(cd "$workdir" && "$buf" curl --protocol grpc --http2-prior-knowledge --list-methods "$health" 2>&1 || true)
check "no reflection on the health port" bash -c '! grep -q "smartplus.billing" <<<"$1"' _ "$out"

# a sale to pay while we shut down
ctl() { "$ctl" --target "127.0.0.1:$port" --key-file "$workdir/data/admin.key" "$@"; }
ctl account create d1 --role distributor --parent-id vendor >/dev/null
ctl account create i1 --role installer --parent-id d1 >/dev/null
ctl price set --project-type community --service-type app --monthly-amount 10 --currency USD >/dev/null
ctl project create p1 --installer-id i1 --type community >/dev/null
ctl item create p1 a1:app >/dev/null
quote=$(ctl -o json quote --action activate --payer-id d1 --installer-id i1 --project-type community \
  --project-ids p1 --months 1 | jq -r .quote.quoteId)
check "quoted" test -n "$quote"
curl -s -X POST -d '{"fault":"slow","slow_ms":3000}' "$fake_url/_control" >/dev/null

# watchers on both ports, recording every message
hbc -d '{}' "$health/grpc.health.v1.Health/Watch" >"$workdir/watch.health" 2>&1 &
wh=$!
bc -d '{}' "$main/grpc.health.v1.Health/Watch" >"$workdir/watch.main" 2>&1 &
wm=$!
for _ in $(seq 1 100); do
  grep -q SERVING "$workdir/watch.health" 2>/dev/null && grep -q SERVING "$workdir/watch.main" 2>/dev/null && break
  sleep 0.05
done
check "both watches got SERVING first" \
  bash -c 'grep -q "\"SERVING\"" "$1" && grep -q "\"SERVING\"" "$2"' _ "$workdir/watch.health" "$workdir/watch.main"

ctl order activate "$quote" --payment-method stripe --stripe-payment-method-id pm_card_visa \
  --billing-info.name N --billing-info.email n@x.io --billing-info.company C \
  --billing-info.address A --billing-info.country DE --billing-info.tax-id T --terms-accepted \
  >"$workdir/order.out" 2>&1 &
op=$!
sleep 0.7 # the provider call is under way (3 s)
t0=$(date +%s%N)
kill -TERM "$billingd_pid"
orc=0
wait "$op" || orc=$?
check "the order placed before SIGTERM completed during the drain (rc $orc)" \
  bash -c '[ "$1" = 0 ] && grep -qE "^status: +SUCCEEDED$" "$2"' _ "$orc" "$workdir/order.out"
wait "$wm" 2>/dev/null || true
check "the main port's watch was told NOT_SERVING and ended" \
  bash -c 'grep -q "NOT_SERVING" "$1"' _ "$workdir/watch.main"
rc=0
wait "$billingd_pid" || rc=$?
billingd_pid=""
t1=$(date +%s%N)
check "billingd exited 0 after the drain ($(( (t1 - t0) / 1000000 )) ms)" test "$rc" = 0
wait "$wh" 2>/dev/null || true
check "the health port's watch saw SERVING then NOT_SERVING" \
  bash -c 'tr -d "\n " <"$1" | grep -q "\"SERVING\".*\"NOT_SERVING\""' _ "$workdir/watch.health"
check "the log says NOT_SERVING (draining)" grep -q "health: NOT_SERVING (draining" "$workdir/billingd.log"
check "the payment was not cancelled" bash -c '! grep -q "cancelling calls still open" "$1"' _ "$workdir/billingd.log"

# a full store: a 1 MiB map filled by items
rm -f "$workdir/port"
"$billingd" --listen 127.0.0.1:0 --port-file "$workdir/port" --data-dir "$workdir/small" \
  --map-size 1048576 --quiet-calls --health-listen 127.0.0.1:0 2>>"$workdir/small.log" &
billingd_pid=$!
for _ in $(seq 1 100); do [ -s "$workdir/port" ] && break; sleep 0.05; done
port=$(cat "$workdir/port")
hport=$(sed -n 's/.*health-only port on .* (port \([0-9]*\),.*/\1/p' "$workdir/small.log" | tail -1)
ctl() { "$ctl" --target "127.0.0.1:$port" --key-file "$workdir/small/admin.key" "$@"; }
ctl account create d1 --role distributor --parent-id vendor >/dev/null
ctl account create i1 --role installer --parent-id d1 >/dev/null
ctl project create p1 --installer-id i1 --type community >/dev/null
label=$(printf 'x%.0s' $(seq 1 200))
full=0
for b in $(seq 1 40); do
  items=$(for i in $(seq 1 200); do printf 'b%d_%d:app:%s ' "$b" "$i" "$label"; done)
  rc=0
  # shellcheck disable=SC2086
  ctl item create p1 $items >/dev/null 2>"$workdir/full.err" || rc=$?
  if [ "$rc" = 8 ]; then full=1; break; fi
done
check "the store filled (RESOURCE_EXHAUSTED, exit 8)" test "$full" = 1
check "the refusal says STORAGE_FULL" grep -q STORAGE_FULL "$workdir/full.err"
check "health is NOT_SERVING while the store is full" bash -c 'grep -q "NOT_SERVING" <<<"$1"' _ \
  "$(hbc -d '{}' "http://127.0.0.1:$hport/grpc.health.v1.Health/Check" 2>&1)"
check "the log says store-full" grep -q "health: NOT_SERVING (store-full" "$workdir/small.log"
kill -TERM "$billingd_pid"; wait "$billingd_pid" || true; billingd_pid=""

# a stalled writer: the first commit sleeps 6 s, the limit is 1 s. The data
# directory is made first by a plain start, so that the stalled commit is
# the test's write and not the vendor's bootstrap.
rm -f "$workdir/port"
"$billingd" --listen 127.0.0.1:0 --port-file "$workdir/port" --data-dir "$workdir/stall" \
  --quiet-calls 2>>"$workdir/stall.log" &
billingd_pid=$!
for _ in $(seq 1 200); do [ -s "$workdir/port" ] && break; sleep 0.05; done
kill -TERM "$billingd_pid"; wait "$billingd_pid" || true; billingd_pid=""
rm -f "$workdir/port"
SPB_FAULT_STALL=writer.before_commit:6000:1 "$billingd" --listen 127.0.0.1:0 \
  --port-file "$workdir/port" --data-dir "$workdir/stall" --writer-stall-seconds 1 \
  --health-listen 127.0.0.1:0 2>>"$workdir/stall.log" &
billingd_pid=$!
for _ in $(seq 1 100); do [ -s "$workdir/port" ] && break; sleep 0.05; done
port=$(cat "$workdir/port")
hport=$(sed -n 's/.*health-only port on .* (port \([0-9]*\),.*/\1/p' "$workdir/stall.log" | tail -1)
hcheck() { hbc -d '{}' "http://127.0.0.1:$hport/grpc.health.v1.Health/Check" 2>&1; }
check "SERVING before the stall" bash -c 'grep -q "\"SERVING\"" <<<"$1"' _ "$(hcheck)"
"$ctl" --target "127.0.0.1:$port" --key-file "$workdir/stall/admin.key" \
  account create d9 --role distributor --parent-id vendor >"$workdir/stall.out" 2>&1 &
wp=$!
st=""
for _ in $(seq 1 25); do # within the 6 s stall (bounded)
  st=$(hcheck)
  grep -q NOT_SERVING <<<"$st" && break
  sleep 0.2
done
check "NOT_SERVING while the batch is stalled" grep -q "NOT_SERVING" <<<"$st"
wait "$wp"
check "the stalled write still completed" grep -qE '^role: +DISTRIBUTOR$' "$workdir/stall.out"
for _ in $(seq 1 25); do # the monitor looks every 250 ms (bounded)
  st=$(hcheck)
  grep -q '"SERVING"' <<<"$st" && break
  sleep 0.2
done
check "SERVING again once the batch is done" grep -q '"SERVING"' <<<"$st"
check "the log names the cause" grep -q "health: NOT_SERVING (writer-stalled)" "$workdir/stall.log"
kill -TERM "$billingd_pid"; wait "$billingd_pid" || true; billingd_pid=""
finish
