#!/usr/bin/env bash
# valgrind_session.sh <billingd> <buf> <valgrind>
#
# billingd under valgrind for a scripted session: start on 127.0.0.1:0,
# calls of every family with buf curl (health, reflection, reads, writes,
# refusals, a backup), SIGTERM. Fails on any memcheck error or definite
# leak (--errors-for-leak-kinds=definite --error-exitcode=1) or an unclean
# exit. Exit 77 (skipped) when valgrind or buf is missing.
billingd=$1 buf=$2 valgrind=${3:-}
[ -n "$valgrind" ] && [ -x "$valgrind" ] || { echo "valgrind not found: skipped"; exit 77; }
[ -x "$buf" ] || { echo "buf not found: skipped"; exit 77; }

source "$(dirname "$0")/../support/lib.sh"
set +e # the calls below report their own failures
work=$workdir
billingd_wrapper=("$valgrind" --quiet --leak-check=full --errors-for-leak-kinds=definite
  --show-leak-kinds=definite --error-exitcode=1 --num-callers=30 --log-file="$work/valgrind.log")
start_timeout=60
start_billingd "$billingd" --threads 2 --quiet-calls
url="http://127.0.0.1:$port"
key=$admin_key
calls=0 unexpected=0
# call <expected code: ok|grpc code name> <Service/Method> <json> [extra buf args]
call() {
  local want=$1 method=$2 body=$3; shift 3
  local out code
  # buf curl exits non-zero on an error status, printed as {"code": ...}.
  if out=$(cd "$work" && "$buf" curl --protocol grpc --http2-prior-knowledge --timeout 60s "$@" \
           -d "$body" "$url/$method" 2>&1); then
    code=ok
  else
    code=$(sed -n 's/.*"code": *"\([a-z_]*\)".*/\1/p' <<<"$out" | head -1)
  fi
  calls=$((calls + 1))
  if [ "$code" != "$want" ]; then
    unexpected=$((unexpected + 1)); echo "UNEXPECTED: $method -> $code (want $want): $out"
  fi
}
A=(-H "authorization: Bearer $key")
S=smartplus.billing.v1
call ok grpc.health.v1.Health/Check '{}'
(cd "$work" && "$buf" curl --protocol grpc --http2-prior-knowledge --list-methods "$url" >/dev/null 2>&1) ||
  { echo "UNEXPECTED: reflection listing failed"; unexpected=$((unexpected + 1)); }
call ok $S.BillingService/GetCatalog '{}' "${A[@]}"
call unauthenticated $S.BillingService/GetCatalog '{}'
call unauthenticated $S.BillingService/GetCatalog '{}' -H "authorization: Bearer spb_0000000000000000_00"
call ok $S.DirectoryService/CreateAccount '{"accountId":"d1","role":"ROLE_DISTRIBUTOR","parentId":"vendor"}' "${A[@]}"
call ok $S.DirectoryService/CreateAccount '{"accountId":"i1","role":"ROLE_INSTALLER","parentId":"d1"}' "${A[@]}" -H "idempotency-key: vg-1"
call ok $S.DirectoryService/CreateAccount '{"accountId":"i1","role":"ROLE_INSTALLER","parentId":"d1"}' "${A[@]}" -H "idempotency-key: vg-1"
call already_exists $S.DirectoryService/CreateAccount '{"accountId":"i1","role":"ROLE_INSTALLER","parentId":"d1"}' "${A[@]}"
call invalid_argument $S.DirectoryService/CreateAccount '{"accountId":"bad id","role":"ROLE_INSTALLER","parentId":"d1"}' "${A[@]}"
call ok $S.DirectoryService/GetAccount '{"accountId":"i1"}' "${A[@]}"
call ok $S.DirectoryService/ListAccounts '{"parentId":"vendor"}' "${A[@]}"
call ok $S.DirectoryService/CreateProject '{"projectId":"p1","installerId":"i1","type":"PROJECT_TYPE_COMMUNITY"}' "${A[@]}"
call ok $S.DirectoryService/CreateItems '{"projectId":"p1","items":[{"itemId":"it1","serviceType":"SERVICE_TYPE_APP","label":"a"},{"itemId":"it2","serviceType":"SERVICE_TYPE_APP"}]}' "${A[@]}"
call ok $S.DirectoryService/GetProject '{"projectId":"p1"}' "${A[@]}"
call ok $S.DirectoryService/ListProjects '{"installerId":"i1"}' "${A[@]}"
call ok $S.DirectoryService/DeleteItem '{"itemId":"it2"}' "${A[@]}"
call ok $S.DirectoryService/CreateApiKey '{"accountId":"i1","scope":"API_KEY_SCOPE_ACCOUNT"}' "${A[@]}"
call permission_denied $S.AdminService/Backup '{"name":"x"}' -H "authorization: Bearer $(sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p' <<<"$(cd "$work" && "$buf" curl --protocol grpc --http2-prior-knowledge "${A[@]}" -d '{"accountId":"i1","scope":"API_KEY_SCOPE_ACCOUNT"}' "$url/$S.DirectoryService/CreateApiKey")")"
call ok $S.AdminService/Backup '{"name":"vg1"}' "${A[@]}"
call already_exists $S.AdminService/Backup '{"name":"vg1"}' "${A[@]}"
call ok $S.AdminService/ListPrices '{}' "${A[@]}"
# Orders and credits: prices, a coupon, a quote paid with the sandbox card.
call ok $S.AdminService/SetPrice '{"project_type":"PROJECT_TYPE_COMMUNITY","service_type":"SERVICE_TYPE_APP","monthly_amount":"500","currency":"USD","monthly_credits":"5"}' "${A[@]}"
call ok $S.AdminService/CreateCoupon '{"coupon":{"code":"VG20","percent_off":20}}' "${A[@]}"
call ok $S.BillingService/AssignCredits '{"account_id":"vendor","to_account_id":"i1","credits":"50"}' "${A[@]}"
call ok $S.BillingService/GetCreditBalance '{"account_id":"i1"}' "${A[@]}"
call ok $S.BillingService/ListCreditLogs '{"account_id":"i1"}' "${A[@]}"
quote=$(cd "$work" && "$buf" curl --protocol grpc --http2-prior-knowledge "${A[@]}" -d '{"action":"QUOTE_ACTION_ACTIVATE","payer_id":"d1","installer_id":"i1","project_type":"PROJECT_TYPE_COMMUNITY","project_ids":["p1"],"months":3,"coupon_code":"VG20"}' "$url/$S.BillingService/QuoteServices" 2>&1)
calls=$((calls + 1))
qid=$(sed -n 's/.*"quoteId": *"\([^"]*\)".*/\1/p' <<<"$quote" | head -1)
[ -n "$qid" ] || { unexpected=$((unexpected + 1)); echo "UNEXPECTED: QuoteServices: $quote"; }
call ok $S.BillingService/ActivateServices "{\"quote_id\":\"$qid\",\"payment_method\":\"PAYMENT_METHOD_STRIPE\",\"stripe_payment_method_id\":\"pm_card_visa\",\"terms_accepted\":true,\"billing_info\":{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"country\":\"US\"}}" "${A[@]}"
call ok $S.BillingService/ListItems '{"project_id":"p1"}' "${A[@]}"
call ok $S.BillingService/ListOrders '{"payer_id":"d1"}' "${A[@]}"

stop_billingd
rc=$?
echo "valgrind session: $calls calls ($unexpected unexpected answers), billingd exit status $rc"
if [ "$rc" -ne 0 ] || [ -s "$work/valgrind.log" ]; then
  echo "--- valgrind ---"; cat "$work/valgrind.log"; echo "--- billingd ---"; tail -20 "$work/billingd.log"
fi
[ "$rc" -eq 0 ] && [ "$unexpected" -eq 0 ]
