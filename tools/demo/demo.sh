#!/usr/bin/env bash
# The seed's "Regular Payment" flow, end to end, against a running billingd
# (started with tools/run.sh; sandbox payments are the default).
#
#   tools/demo/demo.sh [HOST:PORT] [DATA_DIR]
#
# Uses buf curl with server reflection only (no proto files) and jq. It seeds
# a small reseller tree, prices, a community project with items and a coupon,
# then: quote -> activate with a sandbox card -> renew with a coupon,
# printing each step. Ids carry a run suffix so the demo can be re-run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
addr=${1:-127.0.0.1:50051}
data=${2:-$top/data}
buf=${BUF:-$top/tools/node/node_modules/.bin/buf}
key=$(cat "$data/admin.key")
run=$(date +%s)
pkg=smartplus.billing.v1

call() { # service method json
  "$buf" curl --protocol grpc --http2-prior-knowledge \
    -H "authorization: Bearer $key" -d "$3" "http://$addr/$pkg.$1/$2"
}
step() { printf '\n== %s\n' "$*"; }

step "Reseller tree: distributor dist-$run > installer inst-$run"
call DirectoryService CreateAccount "{\"account_id\":\"dist-$run\",\"role\":\"ROLE_DISTRIBUTOR\",\"parent_id\":\"vendor\",\"display_name\":\"Demo Distribution\"}" | jq -c .account
call DirectoryService CreateAccount "{\"account_id\":\"inst-$run\",\"role\":\"ROLE_INSTALLER\",\"parent_id\":\"dist-$run\",\"display_name\":\"Demo Installs\"}" | jq -c .account

step "Prices (USD per 30 days): APP 5.00, ADDITIONAL_APP 2.00"
call AdminService SetPrice '{"project_type":"PROJECT_TYPE_COMMUNITY","service_type":"SERVICE_TYPE_APP","monthly_amount":"500","currency":"USD","monthly_credits":"5"}' | jq -c .
call AdminService SetPrice '{"project_type":"PROJECT_TYPE_COMMUNITY","service_type":"SERVICE_TYPE_ADDITIONAL_APP","monthly_amount":"200","currency":"USD","monthly_credits":"2"}' | jq -c .

step "A community with one free additional app, and its items"
call DirectoryService CreateProject "{\"project\":{\"project_id\":\"park-$run\",\"installer_id\":\"inst-$run\",\"type\":\"PROJECT_TYPE_COMMUNITY\",\"free_additional_apps\":1,\"display_name\":\"Park Towers\"}}" | jq -c .project
call DirectoryService CreateItems "{\"project_id\":\"park-$run\",\"items\":[{\"item_id\":\"app-$run\",\"service_type\":\"SERVICE_TYPE_APP\",\"label\":\"Apt 1 master\"},{\"item_id\":\"fam1-$run\",\"service_type\":\"SERVICE_TYPE_ADDITIONAL_APP\",\"label\":\"Apt 1 family 1\"},{\"item_id\":\"fam2-$run\",\"service_type\":\"SERVICE_TYPE_ADDITIONAL_APP\",\"label\":\"Apt 1 family 2\"}]}" | jq -c '[.items[].item_id]'

step "Coupon SAVE20-$run: 20% off"
call AdminService CreateCoupon "{\"coupon\":{\"code\":\"SAVE20-$run\",\"percent_off\":20}}" | jq -c .coupon

step "Quote: activate all services of the project for 3 months"
quote=$(call BillingService QuoteServices "{\"action\":\"QUOTE_ACTION_ACTIVATE\",\"payer_id\":\"dist-$run\",\"installer_id\":\"inst-$run\",\"project_type\":\"PROJECT_TYPE_COMMUNITY\",\"project_ids\":[\"park-$run\"],\"months\":3}")
echo "$quote" | jq '.quote | {quoteId, lines: [.lines[] | {itemId, amount, free}], subtotal, total, currency, allowedMethods, availableCoupons}'
qid=$(echo "$quote" | jq -r .quote.quoteId)

step "Activate: pay with the sandbox card pm_card_visa"
call BillingService ActivateServices "{\"quote_id\":\"$qid\",\"payment_method\":\"PAYMENT_METHOD_STRIPE\",\"stripe_payment_method_id\":\"pm_card_visa\",\"terms_accepted\":true,\"billing_info\":{\"name\":\"Ada Buyer\",\"email\":\"ada@example.com\",\"country\":\"US\"}}" \
  | jq '.order | {orderId, status, total, currency, sandbox}'

step "Items now"
call BillingService ListItems "{\"project_id\":\"park-$run\"}" | jq -c '.items[] | {itemId, status, expiresAt, free}'

step "Quote: renew for 12 months with coupon SAVE20-$run"
quote=$(call BillingService QuoteServices "{\"action\":\"QUOTE_ACTION_RENEW\",\"payer_id\":\"dist-$run\",\"installer_id\":\"inst-$run\",\"project_type\":\"PROJECT_TYPE_COMMUNITY\",\"project_ids\":[\"park-$run\"],\"months\":12,\"renew_mode\":\"RENEW_MODE_MANUAL\",\"coupon_code\":\"SAVE20-$run\"}")
echo "$quote" | jq '.quote | {quoteId, subtotal, discount, total, couponCode, couponNote}'
qid=$(echo "$quote" | jq -r .quote.quoteId)

step "Renew: pay the rest with the sandbox card"
call BillingService RenewServices "{\"quote_id\":\"$qid\",\"payment_method\":\"PAYMENT_METHOD_STRIPE\",\"stripe_payment_method_id\":\"pm_card_visa\",\"terms_accepted\":true,\"billing_info\":{\"name\":\"Ada Buyer\",\"email\":\"ada@example.com\",\"country\":\"US\"}}" \
  | jq '.order | {orderId, status, subtotal, discount, total, couponCode}'

step "Orders of dist-$run, newest first"
call BillingService ListOrders "{\"payer_id\":\"dist-$run\"}" | jq -c '.orders[] | {orderId, type, status, total}'
