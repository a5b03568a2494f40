#!/usr/bin/env bash
# buf curl against the real billingd with server reflection only: no proto
# files are given to buf. Usage: buf_curl.sh <billingd> <buf> <proto-dir>
source "$(dirname "$0")/../support/lib.sh"
billingd=$1 buf=$2 protos=$3
start_billingd "$billingd"
url="http://127.0.0.1:$port"
bc() { (cd "$workdir" && "$buf" curl --protocol grpc --http2-prior-knowledge "$@"); }

# Every RPC declared in the protos, as Service/Method, must be listed.
expected=$(for f in "$protos"/smartplus/billing/v1/*_service.proto; do
  svc=$(sed -n 's/^service \([A-Za-z]*\) {.*/\1/p' "$f")
  sed -n 's/^ *rpc \([A-Za-z]*\)(.*/\1/p' "$f" | sed "s|^|smartplus.billing.v1.$svc/|"
done | sort)
listed=$(bc --list-methods "$url" | sort)
check "every API RPC listed by reflection ($(echo "$expected" | wc -l) RPCs)" \
  bash -c '[ -z "$(comm -23 <(echo "$1") <(echo "$2"))" ]' _ "$expected" "$listed"
check "health and reflection services listed" \
  bash -c 'echo "$1" | grep -q "^grpc.health.v1.Health/Check$" && echo "$1" | grep -q "^grpc.reflection.v1.ServerReflection/ServerReflectionInfo$" && echo "$1" | grep -q "^grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo$"' _ "$listed"

health=$(bc "$url/grpc.health.v1.Health/Check" -d '{}')
check "health SERVING without credentials" grep -q '"SERVING"' <<<"$health"

# Without a key: UNAUTHENTICATED.
noauth=$(bc "$url/smartplus.billing.v1.BillingService/GetCatalog" -d '{}' 2>&1 || true)
check "GetCatalog without a key is unauthenticated" grep -q unauthenticated <<<"$noauth"

check "admin.key written" test -n "$admin_key"
cat_json=$(bc -H "authorization: Bearer $admin_key" \
  "$url/smartplus.billing.v1.BillingService/GetCatalog" -d '{"projectType":"PROJECT_TYPE_COMMERCIAL"}')
services=$(jq -r '.projectTypes[0].services[].serviceType' <<<"$cat_json" | sort | tr '\n' ' ')
check "commercial catalog has exactly DOOR PERSONNEL_APP ADMIN_APP PREMIUM_FEATURES SENSOR_ALERT (got: $services)" \
  test "$services" = "SERVICE_TYPE_ADMIN_APP SERVICE_TYPE_DOOR SERVICE_TYPE_PERSONNEL_APP SERVICE_TYPE_PREMIUM_FEATURES SERVICE_TYPE_SENSOR_ALERT "
check "commercial catalog lists TIME_ATTENDANCE and the credit model" \
  bash -c 'grep -q PREMIUM_FEATURE_TIME_ATTENDANCE <<<"$1" && grep -q PAYMENT_MODEL_CREDITS <<<"$1" && grep -q "2025-06-01T00:00:00Z" <<<"$1"' _ "$cat_json"

# Every RPC of the API has a handler: called with an empty request, none
# answers unimplemented (validation errors are expected). Unknown paths are
# covered by integration_foundation through grpc core directly.
unimpl=""
for m in $expected; do
  case "$m" in */AdvanceClock|*/Backup) continue ;; esac   # clock and disk: covered elsewhere
  # WatchEvents streams until cancelled: 2 s, then buf gives up on it
  out=$(bc --timeout 2s -H "authorization: Bearer $admin_key" "$url/$m" -d '{}' 2>&1 || true)
  grep -q '"unimplemented"' <<<"$out" && unimpl="$unimpl $m"
done
check "every API RPC has a handler (unimplemented:${unimpl:- none})" test -z "$unimpl"

check "billingd stops cleanly on SIGTERM" stop_billingd
check "one log line per call, with status and microseconds" \
  grep -qE 'CALL BillingService/GetCatalog OK [0-9]+us' "$workdir/billingd.log"
finish
