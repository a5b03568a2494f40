#!/usr/bin/env bash
# The seed's "Regular Payment" flow, end to end, against a running billingd
# (started with tools/run.sh; sandbox payments are the default).
#
#   tools/demo/demo.sh [--target HOST:PORT] [--key-file FILE] [--pdf-dir DIR] [--trace]
#   tools/demo/demo.sh [HOST:PORT] [DATA_DIR]          (the older form)
#
# Defaults: 127.0.0.1:50051 and data/admin.key (what tools/run.sh uses).
# --trace prints every buf curl command before its answer. The renewal's
# invoice is written as a PDF to DIR (default: the current directory); the
# seller printed on it is billingd's --seller-* flags.
#
# Uses buf curl with server reflection only (no proto files) and jq. It seeds
# a small reseller tree, prices, a community project with items and a coupon,
# then: quote -> activate with a sandbox card -> renew with a coupon for a
# German business buyer (19 % VAT set first) -> its invoice and its PDF,
# printing each step. Ids carry a run suffix so the demo can be re-run; it
# exits non-zero when a step fails or an order does not succeed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
addr=127.0.0.1:50051
keyfile=$top/data/admin.key
trace=0
pdfdir=.
while [ $# -gt 0 ]; do
  case $1 in
    --target) addr=$2; shift 2 ;;
    --target=*) addr=${1#*=}; shift ;;
    --key-file) keyfile=$2; shift 2 ;;
    --key-file=*) keyfile=${1#*=}; shift ;;
    --pdf-dir) pdfdir=$2; shift 2 ;;
    --pdf-dir=*) pdfdir=${1#*=}; shift ;;
    --trace) trace=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
    *) if [ -z "${positional_addr:-}" ]; then addr=$1; positional_addr=1
       else keyfile=$1/admin.key; fi
       shift ;;
  esac
done
buf=${BUF:-$top/tools/node/node_modules/.bin/buf}
[ -x "$buf" ] || { echo "demo.sh: buf not found at $buf (run tools/setup.sh)" >&2; exit 2; }
command -v jq >/dev/null || { echo "demo.sh: jq is needed" >&2; exit 2; }
key=$(cat "$keyfile")
run=$(date +%s)-$$
pkg=smartplus.billing.v1

call() { # service method json
  if [ "$trace" = 1 ]; then
    printf '%s\n' "\$ buf curl --protocol grpc --http2-prior-knowledge -H \"authorization: Bearer \$KEY\" \\" \
      "    -d '$3' \\" "    http://$addr/$pkg.$1/$2" >&2
  fi
  "$buf" curl --protocol grpc --http2-prior-knowledge \
    -H "authorization: Bearer $key" -d "$3" "http://$addr/$pkg.$1/$2"
}
succeeded() { # order json -> exit unless SUCCEEDED
  local st
  st=$(jq -r .order.status <<<"$1")
  [ "$st" = ORDER_STATUS_SUCCEEDED ] || { echo "demo.sh: order ended $st" >&2; exit 1; }
}
step() { printf '\n== %s\n' "$*"; }

step "Reseller tree: distributor dist-$run > installer inst-$run"
call DirectoryService CreateAccount "{\"account_id\":\"dist-$run\",\"role\":\"ROLE_DISTRIBUTOR\",\"parent_id\":\"vendor\",\"display_name\":\"Demo Distribution\"}" | jq -c .account
call DirectoryService CreateAccount "{\"account_id\":\"inst-$run\",\"role\":\"ROLE_INSTALLER\",\"parent_id\":\"dist-$run\",\"display_name\":\"Demo Installs\"}" | jq -c .account

step "Prices (USD per 30 days): APP 5.00, ADDITIONAL_APP 2.00"
call AdminService SetPrice '{"project_type":"PROJECT_TYPE_COMMUNITY","service_type":"SERVICE_TYPE_APP","monthly_amount":"500","currency":"USD","monthly_credits":"5"}' | jq -c .
call AdminService SetPrice '{"project_type":"PROJECT_TYPE_COMMUNITY","service_type":"SERVICE_TYPE_ADDITIONAL_APP","monthly_amount":"200","currency":"USD","monthly_credits":"2"}' | jq -c .

step "A community with one free additional app, and its items"
call DirectoryService CreateProject "{\"project_id\":\"park-$run\",\"installer_id\":\"inst-$run\",\"type\":\"PROJECT_TYPE_COMMUNITY\",\"free_additional_apps\":1,\"display_name\":\"Park Towers\"}" | jq -c .project
call DirectoryService CreateItems "{\"project_id\":\"park-$run\",\"items\":[{\"item_id\":\"app-$run\",\"service_type\":\"SERVICE_TYPE_APP\",\"label\":\"Apt 1 master\"},{\"item_id\":\"fam1-$run\",\"service_type\":\"SERVICE_TYPE_ADDITIONAL_APP\",\"label\":\"Apt 1 family 1\"},{\"item_id\":\"fam2-$run\",\"service_type\":\"SERVICE_TYPE_ADDITIONAL_APP\",\"label\":\"Apt 1 family 2\"}]}" | jq -c '[.items[].itemId]'

step "Coupon SAVE20-$run: 20% off"
call AdminService CreateCoupon "{\"coupon\":{\"code\":\"SAVE20-$run\",\"percent_off\":20}}" | jq -c .coupon

ada='{"name":"Ada Buyer","email":"ada@example.com","country":"US"}'
step "Quote: activate all services of the project for 3 months (buyer in the US: no tax)"
quote=$(call BillingService QuoteServices "{\"action\":\"QUOTE_ACTION_ACTIVATE\",\"payer_id\":\"dist-$run\",\"installer_id\":\"inst-$run\",\"project_type\":\"PROJECT_TYPE_COMMUNITY\",\"project_ids\":[\"park-$run\"],\"months\":3,\"billing_info\":$ada}")
echo "$quote" | jq '.quote | {quoteId, lines: [.lines[] | {itemId, amount: (.amount // "0"), free: (.free // false)}], subtotal, total, currency, allowedMethods, availableCoupons}'
qid=$(echo "$quote" | jq -r .quote.quoteId)

step "Activate: pay with the sandbox card pm_card_visa"
order=$(call BillingService ActivateServices "{\"quote_id\":\"$qid\",\"payment_method\":\"PAYMENT_METHOD_STRIPE\",\"stripe_payment_method_id\":\"pm_card_visa\",\"terms_accepted\":true,\"billing_info\":$ada}")
echo "$order" | jq '.order | {orderId, type, status, total, currency, sandbox}'
succeeded "$order"

step "Items now"
call BillingService ListItems "{\"project_id\":\"park-$run\"}" | jq -c '.items[] | {itemId, status, expiresAt, free: (.free // false)}'

step "Tax: 19% VAT, added to prices, for buyers in Germany"
call InvoiceService SetTaxRate '{"country":"DE","rate_bp":1900}' | jq -c .taxRate

buyer='{"name":"Ada Buyer","company":"Demo Hausverwaltung GmbH","email":"ada@example.com","address":"Parkstrasse 5, 80331 Muenchen","country":"DE","tax_id":"DE811907980"}'
step "Quote: renew for 12 months with coupon SAVE20-$run, for a German business"
quote=$(call BillingService QuoteServices "{\"action\":\"QUOTE_ACTION_RENEW\",\"payer_id\":\"dist-$run\",\"installer_id\":\"inst-$run\",\"project_type\":\"PROJECT_TYPE_COMMUNITY\",\"project_ids\":[\"park-$run\"],\"months\":12,\"renew_mode\":\"RENEW_MODE_MANUAL\",\"coupon_code\":\"SAVE20-$run\",\"billing_info\":$buyer}")
echo "$quote" | jq '.quote | {quoteId, subtotal, discount, taxTotal, total, taxRateBp, couponCode, couponNote}'
qid=$(echo "$quote" | jq -r .quote.quoteId)

step "Renew: pay the rest with the sandbox card"
order=$(call BillingService RenewServices "{\"quote_id\":\"$qid\",\"payment_method\":\"PAYMENT_METHOD_STRIPE\",\"stripe_payment_method_id\":\"pm_card_visa\",\"terms_accepted\":true,\"billing_info\":$buyer}")
echo "$order" | jq '.order | {orderId, type, status, subtotal, discount, taxTotal, total, couponCode}'
succeeded "$order"

step "Items after the renewal"
call BillingService ListItems "{\"project_id\":\"park-$run\"}" | jq -c '.items[] | {itemId, status, expiresAt, free: (.free // false)}'

step "Orders of dist-$run, newest first"
call BillingService ListOrders "{\"payer_id\":\"dist-$run\"}" | jq -c '.orders[] | {orderId, type, status, total}'
renewal=$(jq -r .order.orderId <<<"$order")

step "The renewal's invoice"
invoice=$(call InvoiceService GetInvoice "{\"order_id\":\"$renewal\"}")
echo "$invoice" | jq '.invoice | {invoiceId, issueTime, seller: .seller.name, sellerTaxId: .seller.taxId, buyer: .buyer.company, buyerTaxId: .buyer.taxId, lines: (.lines | length), subtotal, discount, netTotal, taxTotal, total, currency, taxLines: [.taxLines[] | {rateBp, country, taxAmount}]}'
number=$(jq -r .invoice.invoiceId <<<"$invoice")

step "Its PDF"
mkdir -p "$pdfdir"
pdf=$pdfdir/$number.pdf
call InvoiceService GetInvoiceDocument "{\"invoice_id\":\"$number\"}" | jq -r .content | base64 -d >"$pdf"
echo "invoice $number written to $pdf ($(wc -c <"$pdf") bytes)"
echo
echo "demo finished: activation and renewal SUCCEEDED (run $run)"
echo "invoice $number: $pdf"
