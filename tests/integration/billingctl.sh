#!/usr/bin/env bash
# billingctl against the real billingd: every command of the CLI, tables and
# -o json (protobuf canonical JSON names), money as "21.00 USD", List
# commands following every page, exit status = the gRPC code (64 for usage
# errors), the key from --key-file or BILLINGCTL_* variables, and extra
# metadata (-H) reaching the server.
# Usage: billingctl.sh <billingd> <billingctl>
source "$(dirname "$0")/../support/lib.sh"
billingd=$1 ctl=$2
start_billingd "$billingd"
export BILLINGCTL_TARGET=127.0.0.1:$port BILLINGCTL_KEY_FILE=$workdir/data/admin.key
b() { "$ctl" "$@"; }
# exit status of a command, its output discarded
st() { local rc=0; "$ctl" "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }
bill="--billing-info.name Ops --billing-info.email ops@example.com --billing-info.company Ops
  --billing-info.address 1-Road --billing-info.country DE --billing-info.tax-id DE1 --terms-accepted"

# accounts
out=$(b account create dist --role distributor --parent-id vendor --display-name "North Dist")
check "account create prints the account" grep -qE '^role: +DISTRIBUTOR$' <<<"$out"
b account create inst --role INSTALLER --parent-id dist --display-name "Inst" >/dev/null
b account create inst2 --role ROLE_INSTALLER --parent-id dist >/dev/null
check "account get" bash -c 'grep -qE "^parent_id: +dist$" <<<"$1"' _ "$(b account get inst)"
out=$(b account list dist)
check "account list: a table of the children" \
  bash -c 'head -1 <<<"$1" | grep -q "^ACCOUNT_ID  ROLE" && grep -qE "^inst2 +INSTALLER +dist" <<<"$1"' _ "$out"
json=$(b -o json account get inst)
check "-o json: the response in canonical JSON (names, enums, timestamps)" \
  bash -c '[ "$(jq -r .account.accountId <<<"$1")" = inst ] && [ "$(jq -r .account.role <<<"$1")" = ROLE_INSTALLER ] && [ "$(jq -r .account.parentId <<<"$1")" = dist ] && [[ "$(jq -r .account.createTime <<<"$1")" =~ ^20[0-9-]+T[0-9:.]+Z$ ]]' _ "$json"

# keys
out=$(b key create inst --display-name robot)
secret=$(awk '/^secret:/ {print $2}' <<<"$out")
key_id=$(awk '/^api_key.key_id:/ {print $2}' <<<"$out")
check "key create shows the secret once" bash -c '[[ "$1" == spb_"$2"_* ]]' _ "$secret" "$key_id"
out=$(b key list inst)
check "key list shows the key and never a secret" \
  bash -c 'grep -q "^$2 " <<<"$1" && ! grep -q "${3##*_}" <<<"$1"' _ "$out" "$key_id" "$secret"
check "the new key works (BILLINGCTL_KEY)" \
  bash -c '[ "$(BILLINGCTL_KEY=$1 "$2" -o json account get inst | jq -r .account.accountId)" = inst ]' _ "$secret" "$ctl"
check "an installer cannot read its parent: PERMISSION_DENIED is exit 7" \
  test "$(BILLINGCTL_KEY=$secret st account get dist)" = 7
b key revoke "$key_id" >/dev/null
check "key revoke: listed as revoked" bash -c 'grep -qE "^$2 .* true$" <<<"$1"' _ "$(b key list inst)" "$key_id"
check "a revoked key is UNAUTHENTICATED: exit 16" test "$(BILLINGCTL_KEY=$secret st account get inst)" = 16

# catalog, prices, coupons
check "catalog: one block per service, nested lists as tables" \
  bash -c 'grep -qE "^service_type: +PERSONNEL_APP$" <<<"$1" && grep -qE "^TIME_ATTENDANCE +Time Attendance$" <<<"$1" && ! grep -q "PM_APP" <<<"$1"' _ "$(b catalog --project-type commercial)"
out=$(b price set --project-type community --service-type app --monthly-amount 21.00 --currency USD --monthly-credits 3)
check "price set: money in major units, printed with its currency" grep -qE '^monthly_amount: +21.00 USD$' <<<"$out"
check "price set: amounts the currency cannot hold are refused (64)" \
  test "$(st price set --project-type community --service-type app --monthly-amount 1.005 --currency USD)" = 64
b price set --project-type community --service-type door --monthly-amount 1 --currency USD >/dev/null 2>&1 \
  && check "door is not a community service" false
check "door is not a community service: INVALID_ARGUMENT is exit 3" \
  test "$(st price set --project-type community --service-type door --monthly-amount 1 --currency USD)" = 3
b price set --project-type community --service-type pm-app --monthly-amount 500 --currency JPY >/dev/null 2>&1 || true
out=$(b price list)
check "price list: a table, money with its currency" grep -qE '^COMMUNITY +APP +21.00 USD +3$' <<<"$out"
out=$(b credit-price set --unit-amount 0.50 --currency USD)
check "credit-price set" grep -qE '^unit_amount: +0.50 USD$' <<<"$out"
b coupon create SAVE10 --percent-off 10 --max-redemptions 5 >/dev/null
out=$(b coupon create OFF5 --amount-off 5 --currency USD)
check "coupon create with an amount" grep -qE '^amount_off: +5.00 USD$' <<<"$out"
b coupon disable OFF5 >/dev/null
check "coupon list hides disabled ones" bash -c 'grep -q "^SAVE10" <<<"$1" && ! grep -q "^OFF5" <<<"$1"' _ "$(b coupon list)"
check "coupon list --include-disabled" bash -c 'grep -qE "^OFF5 .* true$" <<<"$1"' _ "$(b coupon list --include-disabled)"

# projects and items; 150 items so that item list has to follow a page token
b project create p1 --installer-id inst --type community --display-name Tower >/dev/null
out=$(b project update p1 --display-name "Tower A" --free-additional-apps 2)
check "project update: only the given fields" \
  bash -c 'grep -qE "^display_name: +Tower A$" <<<"$1" && grep -qE "^free_additional_apps: +2$" <<<"$1"' _ "$out"
check "project get / list" bash -c 'grep -qE "^p1 +inst +COMMUNITY +Tower A" <<<"$1"' _ "$(b project list inst)"
out=$(b item create p1 apt1:app:"Apt 1" apt2:app)
check "item create: ID:SERVICE_TYPE[:LABEL]" grep -qE '^apt1 +APP +Apt 1 +INACTIVE$' <<<"$out"
b project create p2 --installer-id inst --type community >/dev/null
b item create p2 $(for i in $(seq -w 1 150); do printf 'x%s:app ' "$i"; done) >/dev/null
check "item list follows next_page_token (150 items, pages of 100)" \
  test "$(b item list p2 | tail -n +2 | wc -l)" = 150
check "item list -o json merges the pages" test "$(b -o json item list p2 | jq '.items | length')" = 150
out=$(b item list p2 --page-size 40 2>"$workdir/err")
check "--page-size: one page and the next token on stderr" \
  bash -c '[ "$(tail -n +2 <<<"$1" | wc -l)" = 40 ] && grep -q "^next page: --page-token " "$2"' _ "$out" "$workdir/err"
b item delete x150 >/dev/null
check "item delete" test "$(b item list p2 | tail -n +2 | wc -l)" = 149

# quote and orders
out=$(b quote --action activate --payer-id dist --installer-id inst --project-type community \
  --project-ids p1 --months 12 --coupon-code SAVE10)
quote=$(awk '/^quote_id:/ {print $2}' <<<"$out")
check "quote: totals in USD and a lines table" \
  bash -c 'grep -qE "^subtotal: +504.00 USD$" <<<"$1" && grep -qE "^total: +453.60 USD$" <<<"$1" && grep -qE "^apt1 +p1 +APP .* 21.00 USD +12 +252.00 USD +25.20 USD +226.80 USD$" <<<"$1"' _ "$out"
# shellcheck disable=SC2086
out=$(b order activate "$quote" --payment-method paypal $bill)
order=$(awk '/^order_id:/ {print $2}' <<<"$out")
check "order activate with PayPal waits for approval" grep -qE '^status: +PENDING_PAYMENT$' <<<"$out"
check "order confirm captures it" bash -c 'grep -qE "^status: +SUCCEEDED$" <<<"$1"' _ "$(b order confirm "$order")"
check "order get" bash -c 'grep -qE "^total: +453.60 USD$" <<<"$1"' _ "$(b order get "$order")"
b item create p1 apt3:app >/dev/null
quote=$(b -o json quote --action activate --payer-id dist --installer-id inst --project-type community \
  --project-ids p1 --item-ids apt3 --months 1 | jq -r .quote.quoteId)
# shellcheck disable=SC2086
order2=$(b -o json order activate "$quote" --payment-method paypal $bill | jq -r .order.orderId)
check "order cancel" bash -c 'grep -qE "^status: +CANCELED$" <<<"$1"' _ "$(b order cancel "$order2")"
out=$(b order list --payer-id dist)
check "order list: a table with totals in USD" \
  bash -c 'grep -qE "^$2 +ACTIVATION +SUCCEEDED +dist +453.60 USD" <<<"$1" && grep -qE "^$3 +ACTIVATION +CANCELED" <<<"$1"' _ "$out" "$order" "$order2"
check "order get of another's order is PERMISSION_DENIED (7)" \
  test "$(BILLINGCTL_KEY=$(b key create inst2 | awk '/^secret:/ {print $2}') st order get "$order")" = 7

# credits
check "credits balance shows 0" bash -c 'grep -qE "^credits: +0$" <<<"$1"' _ "$(b credits balance dist)"
# shellcheck disable=SC2086
b credits buy --account-id dist --payer-id dist --credits 40 --payment-method stripe \
  --stripe-payment-method-id pm_card_visa $bill >/dev/null
out=$(b credits assign inst --account-id dist --credits 15)
check "credits assign: balances after" \
  bash -c 'grep -qE "^from_balance: +25$" <<<"$1" && grep -qE "^to_balance: +15$" <<<"$1"' _ "$out"
out=$(b credits assign inst --account-id dist --credits 1000 2>&1 || true)
check "credits assign beyond the balance: reason shown, exit 9" \
  bash -c 'grep -q "FAILED_PRECONDITION: .*(INSUFFICIENT_CREDITS)" <<<"$1" && [ "$2" = 9 ]' _ "$out" \
  "$(st credits assign inst --account-id dist --credits 1000)"
check "credits log" bash -c 'grep -qE "ALLOCATION" <<<"$1"' _ "$(b credits log dist)"

# policy, backup
out=$(b policy set inst --pay-by-installer --allowed-methods stripe,paypal)
check "policy set: repeated enums as a list" grep -qE '^allowed_methods: +STRIPE,PAYPAL$' <<<"$out"
check "policy get" bash -c 'grep -qE "^pay_by_installer: +true$" <<<"$1"' _ "$(b policy get inst)"
check "backup" bash -c 'grep -q "^path: " <<<"$1" && test -s "$2/data/backups/ctl1/data.mdb"' _ "$(b backup ctl1)" "$workdir"
check "backup twice: ALREADY_EXISTS is exit 6" test "$(st backup ctl1)" = 6

# usage errors, global options, metadata
check "unknown command: 64" test "$(st frobnicate)" = 64
check "missing positional: 64" test "$(st account get)" = 64
check "bad enum value: 64" test "$(st account list --role bogus)" = 64
check "help of a command lists its flags" bash -c '"$1" account create --help | grep -q -- "--parent-id"' _ "$ctl"
check "an unreadable --key-file: 64" test "$(st --key-file /nonexistent account get)" = 64
check "an empty key file: no key, UNAUTHENTICATED (16)" \
  test "$(st --key-file /dev/null account get inst)" = 16
check "nobody listening: UNAVAILABLE (14)" test "$(st --target 127.0.0.1:1 --deadline-ms 2000 account get inst)" = 14
check "-H metadata goes with the call" test "$(st -H "x-request-id: ctl-req-7" account get inst)" = 0
check "-H with a name the SDK sets itself is refused before sending (3)" \
  test "$(st -H "authorization: Bearer x" account get inst)" = 3
check "-H without a colon: 64" test "$(st -H "x-request-id" account get inst)" = 64
check "billingd stops cleanly" stop_billingd
finish
