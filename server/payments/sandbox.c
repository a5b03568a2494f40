/*
 * sandbox.c: the in-process payment provider (DESIGN §5): instant, no
 * network, deterministic. Stripe: payment method "pm_card_visa" succeeds,
 * "pm_card_chargeDeclined" is declined (card_declined), any other method is
 * declined (invalid_payment_method); without one the client must confirm
 * (client secret), and confirm() then succeeds. PayPal: create() returns an
 * approval link, confirm() captures. cancel() cancels whatever did not
 * succeed at once; search() answers what create() would have.
 */
#include <stdio.h>
#include <string.h>

#include "billingd.h"
#include "provider.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x

static void sandbox_create(const pay_request *req, pay_result *out)
{
	memset(out, 0, sizeof(*out));
	if (req->method == METHOD(PAYPAL)) {
		snprintf(out->paypal_order_id, sizeof(out->paypal_order_id), "SANDBOX-%s",
			 req->provider_key);
		snprintf(out->paypal_approval_url, sizeof(out->paypal_approval_url),
			 "https://www.sandbox.paypal.com/checkoutnow?token=%s",
			 out->paypal_order_id);
		out->status = PAY_PENDING_APPROVAL;
		return;
	}
	if (req->method != METHOD(STRIPE)) {
		out->status = PAY_DECLINED;
		snprintf(out->decline_code, sizeof(out->decline_code), "unsupported_method");
		return;
	}
	snprintf(out->stripe_payment_intent_id, sizeof(out->stripe_payment_intent_id),
		 "pi_sandbox_%s", req->provider_key);
	snprintf(out->stripe_client_secret, sizeof(out->stripe_client_secret), "%s_secret_sandbox",
		 out->stripe_payment_intent_id);
	if (!req->stripe_payment_method_id || !req->stripe_payment_method_id[0])
		out->status = PAY_REQUIRES_ACTION;
	else if (strcmp(req->stripe_payment_method_id, "pm_card_visa") == 0)
		out->status = PAY_SUCCEEDED;
	else if (strcmp(req->stripe_payment_method_id, "pm_card_chargeDeclined") == 0) {
		out->status = PAY_DECLINED;
		snprintf(out->decline_code, sizeof(out->decline_code), "card_declined");
	} else {
		out->status = PAY_DECLINED;
		snprintf(out->decline_code, sizeof(out->decline_code), "invalid_payment_method");
	}
}

static void sandbox_confirm(const pay_request *req, pay_result *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->stripe_payment_intent_id, sizeof(out->stripe_payment_intent_id), "%s",
		 req->stripe_payment_intent_id ? req->stripe_payment_intent_id : "");
	snprintf(out->paypal_order_id, sizeof(out->paypal_order_id), "%s",
		 req->paypal_order_id ? req->paypal_order_id : "");
	out->status = PAY_SUCCEEDED;
}

static void sandbox_cancel(const pay_request *req, pay_result *out)
{
	sandbox_create(req, out);
	if (out->status != PAY_SUCCEEDED)
		out->status = PAY_CANCELED;
}

static void sandbox_search(const pay_request *req, pay_result *out)
{
	sandbox_create(req, out);
}

/* A retry or recovery answers as a create with the attempt's card. */
static void sandbox_reconfirm(const pay_request *req, pay_result *out)
{
	pay_request r = *req;
	if (req->stripe_payment_intent_id && req->stripe_payment_intent_id[0])
		r.provider_key = req->order_id; /* the same intent id */
	sandbox_create(&r, out);
}

static void sandbox_lookup(const pay_request *req, pay_result *out)
{
	(void)req;
	memset(out, 0, sizeof(*out));
	out->status = PAY_NOT_FOUND; /* the sandbox sends no webhooks */
}

const pay_provider pay_sandbox_provider = {
	.name = "sandbox",
	.sandbox = 1,
	.create = sandbox_create,
	.confirm = sandbox_confirm,
	.cancel = sandbox_cancel,
	.search = sandbox_search,
	.reconfirm = sandbox_reconfirm,
	.lookup = sandbox_lookup,
};

const pay_provider *pay_provider_current(void)
{
	if (billingd.cfg.payments && strcmp(billingd.cfg.payments, "live") == 0)
		return &pay_live_provider;
	return &pay_sandbox_provider;
}

const char *pay_status_name(pay_status s)
{
	static const char *const names[] = {
		"?",           "SUCCEEDED", "REQUIRES_ACTION", "PENDING_APPROVAL", "DECLINED",
		"UNAVAILABLE", "CANCELED",  "NOT_FOUND",       "REJECTED",         "OPERATOR_ERROR",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
