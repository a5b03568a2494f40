/*
 * purchase.c: BillingService PurchaseCredits (DESIGN R13).
 *
 * A credit purchase is an order of type CREDIT_PURCHASE that goes through
 * the same three payment phases and provider as activations (orders.h):
 * phase 1 here, in one write transaction, checks the payer and the
 * beneficiary, prices the credits from the current credit price, applies
 * an optional coupon (only coupons made for credit purchases) and creates
 * the order. A coupon covering the total ends it at once; otherwise the
 * payments worker asks the provider and the settle write records the
 * answer. The credits move from the issuance account to the beneficiary in
 * orders_succeed(), in the transaction that marks the order SUCCEEDED, so
 * they land exactly once, and never for a declined or abandoned payment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "invoices.h"
#include "tax.h"
#include "handler.h"
#include "store_ledger.h"
#include "orders.h"
#include "payments/provider.h"
#include "quote.h"
#include "rpc_handlers.h"
#include "write.h"

/* The most credits one order may buy. */
#define PURCHASE_MAX_CREDITS INT64_C(10000000)

typedef struct purchase_write {
	rpc_write w;
	rpc_caller caller;
	const Smartplus__Billing__V1__PurchaseCreditsRequest *req; /* valid until the call ends */
	const char *payer, *beneficiary;
	char order_id[QUOTE_ID_MAX];
	int need_provider;
	uint8_t *packed;
	size_t packed_len;
	char tax_country[TAX_COUNTRY_LEN], tax_region[TAX_REGION_LEN];
} purchase_write;

/* The coupon's discount on subtotal; 0, a write_fail() code, or STORE_*. */
static int apply_coupon(store_txn *txn, purchase_write *p, const char *currency, int64_t subtotal,
			int64_t now, int64_t *discount)
{
	const char *code = p->req->coupon_code;
	store_coupon *c = NULL;
	coupon_ctx ctx = {0};
	char note[256] = "";
	int rc = store_coupon_get(txn, code, &c);

	*discount = 0;
	if (rc == STORE_NOTFOUND)
		return write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION,
				  REASON_COUPON_NOT_APPLICABLE,
				  "coupon_code: coupon '%s' does not exist", code);
	if (rc)
		return rc;
	if (!c->credit_purchases_only) {
		rc = write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION,
				REASON_COUPON_NOT_APPLICABLE,
				"coupon_code: coupon '%s' is not valid for credit purchases", code);
	} else {
		ctx.payer_id = p->payer;
		ctx.credit_purchase = 1;
		ctx.currency = currency;
		ctx.subtotal = subtotal;
		ctx.now = now;
		rc = coupon_evaluate(txn, c, &ctx, discount, note, sizeof(note));
		if (rc == 1)
			rc = 0;
		else if (rc == 0)
			rc = write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION,
					REASON_COUPON_NOT_APPLICABLE, "coupon_code: %s", note);
	}
	store_record_free(c);
	return rc;
}

/* R13: the caller may act on the payer; the beneficiary is the payer or
 * one of its descendants. 0, a write_fail() code, or STORE_*. */
static int check_parties(store_txn *txn, purchase_write *p)
{
	int may = auth_may_act(txn, &p->caller, p->payer), below = 0, rc;

	if (may < 0)
		return may;
	if (may == 0)
		return write_fail(&p->w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
				  "payer_id");
	if (strcmp(p->payer, LEDGER_ISSUER) == 0)
		return write_fail(&p->w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "payer_id: the vendor issues credits and does not buy them; "
				  "use AssignCredits");
	rc = store_account_is_self_or_ancestor(txn, p->payer, p->beneficiary, &below);
	if (rc < 0 && rc != STORE_NOTFOUND)
		return rc;
	if (rc == STORE_NOTFOUND || !below)
		return write_fail(&p->w, GRPC_STATUS_PERMISSION_DENIED, NULL,
				  "account_id: permission denied (it must be the payer or one of "
				  "its descendants)");
	return 0;
}

/* The tax of a credit purchase (invoices.h): taxed like a sale when credits
 * are taxed at purchase, an untaxed advance payment otherwise; an
 * exclusive rate adds to what the order charges. */
static int purchase_tax(store_txn *txn, purchase_write *p, store_order *o)
{
	const Smartplus__Billing__V1__BillingInfo *b = p->req->billing_info;
	int64_t net, tax, total;
	tax_decision d;
	int rc = invoice_tax_decide(txn, OTYPE(CREDIT_PURCHASE), p->req->payment_method, b->country,
				    b->region, b->tax_id, &d);

	if (rc != 0)
		return rc;
	if (tax_line(o->total, d.rate_bp, d.inclusive, &net, &tax, &total) != 0)
		return write_fail(&p->w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "credits: the amount with tax is out of range");
	o->tax_treatment = d.treatment;
	o->tax_rate_bp = d.rate_bp;
	o->tax_inclusive = d.inclusive;
	snprintf(p->tax_country, sizeof(p->tax_country), "%s", d.country);
	snprintf(p->tax_region, sizeof(p->tax_region), "%s", d.region);
	o->tax_country = p->tax_country;
	o->tax_region = p->tax_region;
	o->tax_total = tax;
	o->total = total;
	return 0;
}

static int apply_purchase(store_txn *txn, rpc_write *w)
{
	purchase_write *p = (purchase_write *)w;
	const Smartplus__Billing__V1__PurchaseCreditsRequest *req = p->req;
	store_credit_price *price = NULL;
	store_order o = STORE_ORDER_INIT;
	int64_t now = clock_now_us(), subtotal = 0, discount = 0;
	char why[160];
	int rc;

	p->need_provider = 0;
	if ((rc = check_parties(txn, p)) != 0)
		goto done;
	if (write_resume_ref(w)[0] &&
	    orders_resume(txn, w, write_resume_ref(w), req->payment_method, p->order_id,
			  sizeof(p->order_id), &p->need_provider, &p->packed, &p->packed_len, &rc))
		goto done; /* a retry of a purchase left with the provider */
	rc = store_credit_price_current(txn, &price);
	if (rc == STORE_NOTFOUND) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_NO_CREDIT_PRICE,
				"credits cannot be bought yet: no credit price is set");
		goto done;
	}
	if (rc)
		goto done;
	if (price->unit_amount <= 0 ||
	    __builtin_mul_overflow(price->unit_amount, req->credits, &subtotal)) {
		rc = write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				"credits: %lld credits at %lld %s each is out of range",
				(long long)req->credits, (long long)price->unit_amount,
				price->currency);
		goto done;
	}
	if (req->coupon_code[0] &&
	    (rc = apply_coupon(txn, p, price->currency, subtotal, now, &discount)) != 0)
		goto done;
	if (req->payment_method == METHOD(COUPON) &&
	    (subtotal - discount != 0 || !req->coupon_code[0])) {
		rc = write_fail(
			w, GRPC_STATUS_FAILED_PRECONDITION, REASON_COUPON_NOT_APPLICABLE,
			"payment_method: COUPON needs a coupon covering the total (%lld %s left "
			"to pay)",
			(long long)(subtotal - discount), price->currency);
		goto done;
	}

	o.order_id = p->order_id;
	o.type = OTYPE(CREDIT_PURCHASE);
	o.status = OSTATUS(PROCESSING);
	o.payer_id = (char *)p->payer;
	o.beneficiary_id = (char *)p->beneficiary;
	o.credits_quantity = req->credits;
	if (subtotal - discount > 0 && pay_can_charge(req->payment_method, price->currency,
						      subtotal - discount, why, sizeof(why))) {
		rc = write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				"payment_method: %s cannot be charged %lld %s: %s",
				orders_method_name(req->payment_method),
				(long long)(subtotal - discount), price->currency, why);
		goto done;
	}
	o.subtotal = subtotal;
	o.discount = discount;
	o.total = subtotal - discount;
	if ((rc = purchase_tax(txn, p, &o)) != 0)
		goto done;
	o.currency = price->currency;
	o.coupon_code = req->coupon_code;
	o.payment_method = req->payment_method;
	orders_set_billing(&o, req->billing_info);
	o.provider_key = p->order_id;
	o.stripe_payment_method_id = req->stripe_payment_method_id;
	o.stripe_customer_id = req->stripe_customer_id;
	o.create_time = now;
	o.update_time = now;
	o.actor_id = p->caller.account_id;
	if (req->coupon_code[0]) {
		rc = coupon_reserve(txn, req->coupon_code, o.payer_id, o.order_id, now);
		if (rc)
			goto done;
		o.coupon_reserved = 1;
	}
	/* a total of 0 succeeds now: the credits land in orders_succeed() */
	rc = orders_open(txn, w, &o, now, o.total == 0, &p->need_provider, &p->packed,
			 &p->packed_len);
done:
	store_record_free(price);
	return rc;
}

static void reply_purchase(rpc_write *w)
{
	purchase_write *p = (purchase_write *)w;
	orders_reply_placed(w->call, p->packed, p->packed_len, p->need_provider);
}

static void cleanup_purchase(rpc_write *w)
{
	free(((purchase_write *)w)->packed);
}

void rpc_BillingService_PurchaseCredits(struct rpc_call *call,
					const Smartplus__Billing__V1__PurchaseCreditsRequest *req)
{
	const char *payer = req->payer_id[0] ? req->payer_id : rpc_call_caller(call)->account_id;
	const char *beneficiary = req->account_id[0] ? req->account_id : payer;
	purchase_write *p;

	if (handler_check_id(call, "payer_id", payer))
		return;
	if (handler_check_id(call, "account_id", beneficiary))
		return;
	if (req->credits < 1 || req->credits > PURCHASE_MAX_CREDITS) {
		BAD_ARG(call, "credits: must be 1..%lld", (long long)PURCHASE_MAX_CREDITS);
		return;
	}
	if (req->payment_method == METHOD(CREDITS)) {
		rpc_fail(call, GRPC_STATUS_FAILED_PRECONDITION, REASON_METHOD_NOT_ALLOWED,
			 "payment_method: credits are bought with STRIPE, PAYPAL or COUPON, "
			 "not with CREDITS");
		return;
	}
	if (orders_check_payment_args(call, req->payment_method, req->billing_info,
				      req->terms_accepted, req->stripe_payment_method_id,
				      req->stripe_customer_id))
		return;
	if (req->coupon_code[0] && strlen(req->coupon_code) > 64) {
		BAD_ARG(call, "coupon_code: at most 64 characters");
		return;
	}
	p = write_new(call, sizeof(*p));
	p->caller = *rpc_call_caller(call);
	p->req = req;
	p->payer = payer == rpc_call_caller(call)->account_id ? p->caller.account_id : payer;
	p->beneficiary = beneficiary == rpc_call_caller(call)->account_id ? p->caller.account_id
									  : beneficiary;
	if (quote_new_id("ord_", p->order_id) != 0) {
		free(p);
		handler_fail_internal(call, "no random bytes for an order id");
		return;
	}
	p->w.apply = apply_purchase;
	p->w.reply = reply_purchase;
	p->w.cleanup = cleanup_purchase;
	write_submit(&p->w);
}
