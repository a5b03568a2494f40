#!/usr/bin/env bash
# Errors every client can decode: every non-OK status carries a
# google.rpc.ErrorInfo (the handler's reason or the status' generic one,
# metadata such as field, balance, requested, order_id) and INVALID_ARGUMENT
# a google.rpc.BadRequest. The details are decoded the way a generic client
# does it: their types are looked up through server reflection
# (file_containing_symbol google.rpc.ErrorInfo / google.rpc.BadRequest), the
# returned FileDescriptorProtos become a descriptor set, and protoc decodes
# the detail bytes buf curl received.
# (buf curl itself prints details as base64: it decodes only types compiled
# into it, not ones it could resolve by reflection.)
# Usage: errors.sh <billingd> <buf> <billingctl>
source "$(dirname "$0")/../support/lib.sh"
billingd=$1 buf=$2 ctl=$3
start_billingd "$billingd"
url=http://127.0.0.1:$port
bc() { (cd "$workdir" && "$buf" curl --protocol grpc --http2-prior-knowledge "$@"); }
auth=(-H "authorization: Bearer $admin_key")

# A varint, as bytes (for the length prefix of a FileDescriptorSet entry).
varint() {
  local n=$1
  while [ "$n" -ge 128 ]; do printf "\\x$(printf %02x $(((n & 127) | 128)))"; n=$((n >> 7)); done
  printf "\\x$(printf %02x "$n")"
}
b64d() { # base64 with or without padding, standard or URL alphabet
  local s=${1//-/+}; s=${s//_//}
  while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done
  base64 -d <<<"$s"
}
# The descriptor set of the file that defines $1, fetched by reflection.
fetch_schema() {
  local out
  out=$(bc "$url/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" \
    -d "{\"fileContainingSymbol\":\"$1\"}")
  : >"$workdir/schema.pb"
  for f in $(jq -r '.fileDescriptorResponse.fileDescriptorProto[]' <<<"$out"); do
    b64d "$f" >"$workdir/fd.bin"
    { printf '\x0a'; varint "$(stat -c %s "$workdir/fd.bin")"; cat "$workdir/fd.bin"; } >>"$workdir/schema.pb"
  done
  test -s "$workdir/schema.pb"
}
check "reflection serves google.rpc.ErrorInfo" fetch_schema google.rpc.ErrorInfo
cp "$workdir/schema.pb" "$workdir/errorinfo.pb"
check "reflection serves google.rpc.BadRequest" fetch_schema google.rpc.BadRequest
cp "$workdir/schema.pb" "$workdir/badrequest.pb"
check "reflection serves google.rpc.Status" fetch_schema google.rpc.Status

# decode <error json> <type> <schema>: the first detail of that type, as text
decode() {
  local v
  v=$(jq -r --arg t "$2" '[.details[] | select(.type == $t)][0].value // empty' <<<"$1")
  [ -n "$v" ] || return 1
  b64d "$v" | protoc --descriptor_set_in="$3" --decode="$2"
}
err() { bc "$@" 2>&1 >/dev/null || true; }

e=$(err "${auth[@]}" -d '{"accountId":"bad id","role":"ROLE_DISTRIBUTOR","parentId":"vendor"}' \
  "$url/smartplus.billing.v1.DirectoryService/CreateAccount")
info=$(decode "$e" google.rpc.ErrorInfo "$workdir/errorinfo.pb")
bad=$(decode "$e" google.rpc.BadRequest "$workdir/badrequest.pb")
echo "$info"; echo "$bad"
check "INVALID_ARGUMENT: ErrorInfo reason INVALID_ARGUMENT, domain, metadata field" \
  bash -c 'grep -q "reason: \"INVALID_ARGUMENT\"" <<<"$1" && grep -q "domain: \"billing.smartplus\"" <<<"$1" && tr -d "\n" <<<"$1" | grep -q "key: \"field\" *value: \"account_id\""' _ "$info"
check "INVALID_ARGUMENT: BadRequest field violation naming the field" \
  bash -c 'tr -d "\n" <<<"$1" | grep -q "field: \"account_id\" *description: \"must match"' _ "$bad"

e=$(err -d '{"accountId":"vendor"}' "$url/smartplus.billing.v1.DirectoryService/GetAccount")
check "UNAUTHENTICATED carries ErrorInfo UNAUTHENTICATED" bash -c \
  'grep -q "reason: \"UNAUTHENTICATED\"" <<<"$1"' _ "$(decode "$e" google.rpc.ErrorInfo "$workdir/errorinfo.pb")"

bc "${auth[@]}" -d '{"accountId":"d1","role":"ROLE_DISTRIBUTOR","parentId":"vendor"}' \
  "$url/smartplus.billing.v1.DirectoryService/CreateAccount" >/dev/null
e=$(err "${auth[@]}" -d '{"accountId":"d1","role":"ROLE_DISTRIBUTOR","parentId":"vendor"}' \
  "$url/smartplus.billing.v1.DirectoryService/CreateAccount")
check "ALREADY_EXISTS carries ErrorInfo ALREADY_EXISTS" bash -c 'grep -q "reason: \"ALREADY_EXISTS\"" <<<"$1"' _ \
  "$(decode "$e" google.rpc.ErrorInfo "$workdir/errorinfo.pb")"

e=$(err "${auth[@]}" -d '{"accountId":"nobody"}' "$url/smartplus.billing.v1.DirectoryService/GetAccount")
check "PERMISSION_DENIED carries ErrorInfo PERMISSION_DENIED" bash -c 'grep -q "reason: \"PERMISSION_DENIED\"" <<<"$1"' _ \
  "$(decode "$e" google.rpc.ErrorInfo "$workdir/errorinfo.pb")"

bc "${auth[@]}" -d '{"accountId":"s1","role":"ROLE_SUB_DISTRIBUTOR","parentId":"d1"}' \
  "$url/smartplus.billing.v1.DirectoryService/CreateAccount" >/dev/null
e=$(err "${auth[@]}" -d '{"accountId":"d1","toAccountId":"s1","credits":7}' \
  "$url/smartplus.billing.v1.BillingService/AssignCredits")
info=$(decode "$e" google.rpc.ErrorInfo "$workdir/errorinfo.pb")
check "INSUFFICIENT_CREDITS with balance and requested metadata" \
  bash -c 'i=$(tr -d "\n" <<<"$1"); grep -q "reason: \"INSUFFICIENT_CREDITS\"" <<<"$i" && grep -q "key: \"balance\" *value: \"0\"" <<<"$i" && grep -q "key: \"requested\" *value: \"7\"" <<<"$i"' _ "$info"

e=$(err "${auth[@]}" -d '{"orderId":"ord_000000000000000000000000"}' \
  "$url/smartplus.billing.v1.BillingService/GetOrder")
info=$(decode "$e" google.rpc.ErrorInfo "$workdir/errorinfo.pb")
check "an error about an order names it in order_id" \
  bash -c 'tr -d "\n" <<<"$1" | grep -q "key: \"order_id\" *value: \"ord_000000000000000000000000\""' _ "$info"

# the SDK sees the reason too (through billingctl's output)
out=$("$ctl" --target "127.0.0.1:$port" --key-file "$workdir/data/admin.key" account get nobody 2>&1 || true)
check "the SDK reads the generic reason (billingctl shows it)" grep -q "(PERMISSION_DENIED)" <<<"$out"
check "call lines log the reason and the quoted message" \
  grep -qE 'CALL DirectoryService/CreateAccount INVALID_ARGUMENT [0-9]+us reason=INVALID_ARGUMENT msg="account_id: must match' "$workdir/billingd.log"
check "lines are in time order (one sink, stamped under its lock)" \
  bash -c 'cut -c1-27 "$1" | grep -E "^20[0-9]{2}-" | LC_ALL=C sort -c' _ "$workdir/billingd.log"
check "billingd stops cleanly" stop_billingd

# JSON lines: every line one object; a call line with every field known
rm -f "$workdir/port"
"$billingd" --listen 127.0.0.1:0 --port-file "$workdir/port" --data-dir "$workdir/json" \
  --log-format json --log-level debug 2>"$workdir/json.log" &
billingd_pid=$!
for _ in $(seq 1 100); do [ -s "$workdir/port" ] && break; sleep 0.05; done
jctl() { "$ctl" --target "127.0.0.1:$(cat "$workdir/port")" --key-file "$workdir/json/admin.key" "$@"; }
jctl account create d1 --role distributor --parent-id vendor >/dev/null
jctl account create s1 --role sub_distributor --parent-id d1 >/dev/null
jctl --idempotency-key assign-42 -H "x-request-id: req-7" credits assign s1 --account-id d1 \
  --credits 5 >/dev/null 2>&1 || true
# a declined card (the sandbox declines pm_card_chargeDeclined): the issue's
# line that said only "FAILED_PRECONDITION account=vendor"
jctl price set --project-type community --service-type app --monthly-amount 21.00 --currency USD \
  --monthly-credits 3 >/dev/null
jctl account create i1 --role installer --parent-id d1 >/dev/null
jctl project create jp --installer-id i1 --type community >/dev/null
jctl item create jp a1:app >/dev/null
quote=$(jctl -o json quote --action activate --payer-id d1 --installer-id i1 --project-type community \
  --project-ids jp --months 1 | jq -r .quote.quoteId)
jctl --idempotency-key act-9 order activate "$quote" --payment-method stripe \
  --stripe-payment-method-id pm_card_chargeDeclined --billing-info.name Ops \
  --billing-info.email ops@example.com --billing-info.company Ops --billing-info.address 1-Road \
  --billing-info.country DE --billing-info.tax-id DE1 --terms-accepted >/dev/null 2>&1 || true
kill -TERM "$billingd_pid"; wait "$billingd_pid" || true; billingd_pid=""
check "--log-format json: every line is one JSON object with ts and level" \
  bash -c 'jq -e -s "length > 5 and all(.[]; (.ts | test(\"Z$\")) and (.level | type == \"string\"))" "$1" >/dev/null' _ "$workdir/json.log"
line=$(jq -c 'select(.method == "BillingService/AssignCredits")' "$workdir/json.log")
echo "$line"
check "a JSON call line: status, reason, message, peer, key, account, idempotency key, request id" \
  bash -c 'jq -e "(.status == \"FAILED_PRECONDITION\") and (.code == 9) and (.reason == \"INSUFFICIENT_CREDITS\") and (.message | test(\"5 were asked\")) and (.peer | test(\"^ipv4:127.0.0.1:\")) and (.key_id | length == 16) and (.account == \"vendor\") and (.idempotency_key == \"assign-42\") and (.request_id == \"req-7\") and (.micros > 0)" <<<"$1" >/dev/null' _ "$line"
line=$(jq -c 'select(.method == "BillingService/ActivateServices")' "$workdir/json.log")
echo "$line"
check "a declined card's call line: reason PAYMENT_DECLINED, the message, the order id, the idempotency key" \
  bash -c 'jq -e "(.status == \"FAILED_PRECONDITION\") and (.reason == \"PAYMENT_DECLINED\") and (.message | length > 0) and (.order_id | test(\"^ord_\")) and (.idempotency_key == \"act-9\") and (.key_id | length == 16)" <<<"$1" >/dev/null' _ "$line"
check "gRPC core's logs come through the same sink (--log-level debug)" \
  bash -c 'jq -e -s "any(.[]; .source == \"grpc\" and .level == \"debug\")" "$1" >/dev/null' _ "$workdir/json.log"
check "the first line has the version and the settings with their sources" \
  bash -c 'head -1 "$1" | jq -e ".msg | test(\"^billingd [0-9.]+ \\\\(schema [0-9]+, build .*starting: .*log-format=json\\\\(flag\\\\)\")" >/dev/null' _ "$workdir/json.log"
finish
