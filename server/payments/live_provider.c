/*
 * live_provider.c: the order engine's provider interface (provider.h) over
 * the live Stripe and PayPal clients (live.h), configured from billingd.cfg.
 *
 * create():
 *   STRIPE with a payment method: a PaymentIntent confirmed at once
 *          (off_session when a customer is given); without one: the
 *          intent's client secret, REQUIRES_ACTION (the client confirms).
 *   PAYPAL: an order (intent CAPTURE), PENDING_APPROVAL with its link.
 * confirm() (ConfirmOrder, the reconciler) asks for the truth with the SAME
 * ids, never a new key:
 *   STRIPE: retrieves the intent (exact amount and currency); when create()
 *          never learnt the intent id (timeout, dropped answer), create is
 *          replayed with the same Idempotency-Key and parameters, which
 *          returns the original intent (or makes it, if the first request
 *          never arrived: still one intent per key).
 *   PAYPAL: reads the order; only an APPROVED one (or one that could not
 *          be read) is captured, with PayPal-Request-Id "<order id>-capture";
 *          when the capture's answer is not definitive, reads it back. An
 *          order whose id create() never learnt is re-created with the same
 *          PayPal-Request-Id (replayed by PayPal).
 *
 * live_state -> pay_status:
 *   SUCCEEDED -> SUCCEEDED; REQUIRES_ACTION -> REQUIRES_ACTION; PENDING ->
 *   REQUIRES_ACTION (Stripe: needs a payment method / confirmation) or
 *   PENDING_APPROVAL (PayPal); DECLINED -> DECLINED (provider's code);
 *   CANCELED -> DECLINED "canceled"; UNKNOWN -> UNAVAILABLE.
 *   ERROR (the provider rejected our request): DECLINED with the
 *   provider's code only when the provider is sure nothing was charged:
 *   in create() (first attempt under this key), an error object with a
 *   code, other than an idempotency conflict (a concurrent or earlier
 *   request under the same key may have charged). Everything else — an
 *   error in confirm() (an earlier attempt may have charged), a success
 *   for another amount or currency, an answer we cannot read — is
 *   UNAVAILABLE: the order stays PROCESSING, logged for an operator,
 *   rather than failed while money may have moved.
 *
 * The whole operation gets cfg.provider_timeout_ms: each HTTP request gets
 * what is left of it. Secrets are never logged.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "billingd.h"
#include "live.h"
#include "log.h"
#include "provider.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x
#define CONNECT_MS 3000L
#define MIN_MS 100L

typedef struct op {
	live_config cfg;
	int64_t deadline_ms; /* CLOCK_MONOTONIC */
} op;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int op_next(op *o);

/* Starts the operation's time budget; 0 when no time is left (never). */
static int op_begin(op *o)
{
	long total = billingd.cfg.provider_timeout_ms > 0 ? billingd.cfg.provider_timeout_ms
							  : 10000;
	memset(o, 0, sizeof(*o));
	o->cfg.stripe_url = billingd.cfg.stripe_url;
	o->cfg.stripe_key = billingd.cfg.stripe_key;
	o->cfg.paypal_url = billingd.cfg.paypal_url;
	o->cfg.paypal_client_id = billingd.cfg.paypal_client_id;
	o->cfg.paypal_secret = billingd.cfg.paypal_secret;
	o->deadline_ms = mono_ms() + total;
	return op_next(o);
}

/* The timeouts of the next request; 0 when the budget is spent. */
static int op_next(op *o)
{
	int64_t left = o->deadline_ms - mono_ms();
	if (left < MIN_MS)
		return 0;
	o->cfg.timeouts.total_ms = (long)left;
	o->cfg.timeouts.connect_ms = left < CONNECT_MS ? (long)left : CONNECT_MS;
	return 1;
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static int is_stripe(const pay_request *req)
{
	return req->method == METHOD(STRIPE);
}

static int configured(const pay_request *req)
{
	if (is_stripe(req))
		return billingd.cfg.stripe_key && billingd.cfg.stripe_key[0];
	return billingd.cfg.paypal_client_id && billingd.cfg.paypal_secret;
}

static int idempotency_conflict(const char *code)
{
	return strncmp(code, "idempotency", 11) == 0;
}

/* Maps a live answer onto out. first = create()'s first attempt. */
static void map(const pay_request *req, const live_result *r, int first, pay_result *out)
{
	if (is_stripe(req)) {
		copy(out->stripe_payment_intent_id, sizeof(out->stripe_payment_intent_id),
		     r->provider_id);
		copy(out->stripe_client_secret, sizeof(out->stripe_client_secret),
		     r->client_secret);
	} else {
		copy(out->paypal_order_id, sizeof(out->paypal_order_id), r->provider_id);
		copy(out->paypal_approval_url, sizeof(out->paypal_approval_url), r->approval_url);
	}
	switch (r->state) {
	case LIVE_SUCCEEDED: out->status = PAY_SUCCEEDED; break;
	case LIVE_REQUIRES_ACTION: out->status = PAY_REQUIRES_ACTION; break;
	case LIVE_PENDING:
		out->status = is_stripe(req) ? PAY_REQUIRES_ACTION : PAY_PENDING_APPROVAL;
		break;
	case LIVE_DECLINED:
		out->status = PAY_DECLINED;
		copy(out->decline_code, sizeof(out->decline_code),
		     r->code[0] ? r->code : "declined");
		break;
	case LIVE_CANCELED:
		out->status = PAY_DECLINED;
		copy(out->decline_code, sizeof(out->decline_code), "canceled");
		break;
	case LIVE_ERROR:
		if (first && r->code[0] && !idempotency_conflict(r->code)) {
			out->status = PAY_DECLINED;
			copy(out->decline_code, sizeof(out->decline_code), r->code);
			log_warn("payments: %s rejected order %s: %s (%s)",
				 is_stripe(req) ? "Stripe" : "PayPal", req->order_id, r->code,
				 r->message);
			break;
		}
		out->status = PAY_UNAVAILABLE;
		log_error(
			"payments: %s answer for order %s needs attention (left PROCESSING): %s %s",
			is_stripe(req) ? "Stripe" : "PayPal", req->order_id, r->code, r->message);
		break;
	default:
		out->status = PAY_UNAVAILABLE;
		log_warn("payments: %s outcome for order %s unknown: %s",
			 is_stripe(req) ? "Stripe" : "PayPal", req->order_id, r->message);
		break;
	}
}

static void stripe_create_for(op *o, const pay_request *req, live_result *r)
{
	const char *pm = req->stripe_payment_method_id ? req->stripe_payment_method_id : "";
	const char *cus = req->stripe_customer_id ? req->stripe_customer_id : "";
	stripe_create(&o->cfg, req->provider_key, req->amount, req->currency, cus, pm,
		      pm[0] && cus[0], r);
}

static int unavailable(const pay_request *req, pay_result *out, const char *why)
{
	out->status = PAY_UNAVAILABLE;
	log_warn("payments: order %s: %s", req->order_id, why);
	return 0;
}

static void live_create(const pay_request *req, pay_result *out)
{
	op o;
	live_result r;

	memset(out, 0, sizeof(*out));
	if (req->method != METHOD(STRIPE) && req->method != METHOD(PAYPAL)) {
		out->status = PAY_DECLINED;
		copy(out->decline_code, sizeof(out->decline_code), "unsupported_method");
		return;
	}
	if (!configured(req)) {
		out->status = PAY_DECLINED;
		copy(out->decline_code, sizeof(out->decline_code), "provider_not_configured");
		return;
	}
	if (!op_begin(&o)) {
		unavailable(req, out, "no time left for the provider");
		return;
	}
	if (is_stripe(req))
		stripe_create_for(&o, req, &r);
	else
		paypal_create(&o.cfg, req->provider_key, req->amount, req->currency, &r);
	map(req, &r, 1, out);
}

static void stripe_confirm(op *o, const pay_request *req, pay_result *out)
{
	live_result r;
	if (req->stripe_payment_intent_id && req->stripe_payment_intent_id[0])
		stripe_retrieve(&o->cfg, req->stripe_payment_intent_id, req->amount, req->currency,
				&r);
	else
		stripe_create_for(o, req, &r); /* replay under the same key */
	map(req, &r, 0, out);
}

static void paypal_confirm(op *o, const pay_request *req, pay_result *out)
{
	char rid[160];
	live_result cap, truth;

	if (!req->paypal_order_id || !req->paypal_order_id[0]) {
		/* create()'s answer was lost: the same PayPal-Request-Id replays it */
		paypal_create(&o->cfg, req->provider_key, req->amount, req->currency, &cap);
		map(req, &cap, 0, out);
		return;
	}
	/* Read first: the reconciler polls orders waiting for the buyer, and
	 * only an APPROVED order is worth a capture (an unreadable one is tried:
	 * the capture is idempotent under its request id). */
	paypal_get(&o->cfg, req->paypal_order_id, req->amount, req->currency, &truth);
	if (truth.state == LIVE_SUCCEEDED || truth.state == LIVE_CANCELED ||
	    (truth.state == LIVE_PENDING && strcmp(truth.code, "APPROVED") != 0)) {
		map(req, &truth, 0, out);
		return;
	}
	if (!op_next(o)) {
		map(req, &truth, 0, out);
		return;
	}
	snprintf(rid, sizeof(rid), "%s-capture", req->provider_key);
	paypal_capture(&o->cfg, req->paypal_order_id, rid, req->amount, req->currency, &cap);
	if (cap.state == LIVE_SUCCEEDED || cap.state == LIVE_DECLINED ||
	    cap.state == LIVE_PENDING) {
		map(req, &cap, 0, out);
		return;
	}
	/* Not definitive (lost answer, 5xx, an error): the order's truth. */
	if (!op_next(o)) {
		map(req, &cap, 0, out);
		return;
	}
	paypal_get(&o->cfg, req->paypal_order_id, req->amount, req->currency, &truth);
	if (truth.state == LIVE_SUCCEEDED || truth.state == LIVE_CANCELED)
		map(req, &truth, 0, out);
	else
		map(req, &cap, 0, out); /* captured nothing yet: UNAVAILABLE, try again later */
	if (!out->paypal_order_id[0])
		copy(out->paypal_order_id, sizeof(out->paypal_order_id), req->paypal_order_id);
}

static void live_confirm(const pay_request *req, pay_result *out)
{
	op o;

	memset(out, 0, sizeof(*out));
	if (req->method != METHOD(STRIPE) && req->method != METHOD(PAYPAL)) {
		unavailable(req, out, "confirm of an order not paid through a provider");
		return;
	}
	if (!configured(req)) {
		unavailable(req, out, "provider not configured; cannot learn the outcome");
		return;
	}
	if (!op_begin(&o)) {
		unavailable(req, out, "no time left for the provider");
		return;
	}
	if (is_stripe(req))
		stripe_confirm(&o, req, out);
	else
		paypal_confirm(&o, req, out);
}

const pay_provider pay_live_provider = {
	.name = "live",
	.sandbox = 0,
	.create = live_create,
	.confirm = live_confirm,
};
