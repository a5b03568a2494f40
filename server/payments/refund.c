/*
 * refund.c: refund_call() — the sandbox refunds in process (instant,
 * always accepted, deterministic ids); live refunds go to Stripe or PayPal
 * (refund_live.c). See refund.h.
 */
#include "refund.h"

#include <stdio.h>
#include <string.h>

#include "refund_live.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x

static void sandbox_refund(const refund_request *req, refund_result *out)
{
	if (req->method == METHOD(PAYPAL)) {
		snprintf(out->refund_id, sizeof(out->refund_id), "SANDBOX-REFUND-%s", req->key);
		snprintf(out->capture_id, sizeof(out->capture_id), "%s",
			 req->paypal_capture_id ? req->paypal_capture_id : "");
	} else {
		snprintf(out->refund_id, sizeof(out->refund_id), "re_sandbox_%s", req->key);
	}
	out->status = REFUND_SUCCEEDED;
}

void refund_call(const refund_request *req, refund_result *out)
{
	memset(out, 0, sizeof(*out));
	if (req->method != METHOD(STRIPE) && req->method != METHOD(PAYPAL)) {
		out->status = REFUND_FAILED;
		snprintf(out->failure, sizeof(out->failure), "not paid through a provider");
		return;
	}
	if (req->sandbox)
		sandbox_refund(req, out);
	else
		refund_live(req, out);
}
