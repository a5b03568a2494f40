/*
 * refund.c: refund_call() — the sandbox refunds in process (instant,
 * always accepted, deterministic ids); live refunds go through the payment
 * engine's provider clients (live.h: stripe_refund, paypal_refund), keyed
 * by the credit note number. See refund.h.
 *
 * Asking again. A refund whose answer was lost is asked for again with the
 * same key, which the provider replays — but only inside its key window
 * (Stripe 24 h, PayPal refunds 45 days; a little less here): after it the
 * same key would refund a second time, so the note is left PENDING for an
 * operator instead (logged). Once Stripe has given the refund's id, its
 * state is read back with GET /v1/refunds/{id}, at any age.
 *
 * live_state -> refund_status: SUCCEEDED -> SUCCEEDED; DECLINED (failed,
 * canceled) and ERROR (the provider refused the request: more than is
 * left, a charge refunded already...) -> FAILED; UNKNOWN with a refund
 * object (pending, requires_action) -> PENDING; anything else (no answer,
 * 409/429/5xx, our own credentials refused) -> UNAVAILABLE.
 */
#include "refund.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "billingd.h"
#include "live.h"
#include "log.h"
#include "provider.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x
#define PAYPAL_REFUND_REPLAY_US (INT64_C(44) * 86400 * 1000000) /* PayPal keeps 45 days */

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static live_config config(void)
{
	live_config c;

	memset(&c, 0, sizeof(c));
	c.stripe_url = billingd.cfg.stripe_url;
	c.stripe_key = billingd.cfg.stripe_key;
	c.paypal_url = billingd.cfg.paypal_url;
	c.paypal_client_id = billingd.cfg.paypal_client_id;
	c.paypal_secret = billingd.cfg.paypal_secret;
	c.timeouts.connect_ms = 3000;
	c.timeouts.total_ms = billingd.cfg.provider_timeout_ms > 0
				      ? billingd.cfg.provider_timeout_ms
				      : 10000;
	return c;
}

static void from_live(const refund_request *req, const live_result *lr, refund_result *out)
{
	copy(out->refund_id, sizeof(out->refund_id), lr->capture_id);
	switch (lr->state) {
	case LIVE_SUCCEEDED: out->status = REFUND_SUCCEEDED; return;
	case LIVE_DECLINED:
	case LIVE_ERROR:
	case LIVE_NOT_FOUND:
		out->status = REFUND_FAILED;
		copy(out->failure, sizeof(out->failure), lr->code[0] ? lr->code : "refused");
		return;
	case LIVE_UNKNOWN:
		out->status = lr->capture_id[0] ? REFUND_PENDING : REFUND_UNAVAILABLE;
		break;
	case LIVE_AUTH:
		log_error("refund %s: the provider refused our credentials (HTTP %ld, %s)",
			  req->key, lr->http_status, lr->request_id);
		out->status = REFUND_UNAVAILABLE;
		break;
	default: out->status = REFUND_UNAVAILABLE; break;
	}
	if (lr->code[0])
		copy(out->failure, sizeof(out->failure), lr->code);
	else if (!lr->http_status)
		copy(out->failure, sizeof(out->failure),
		     lr->message[0] ? lr->message : "no answer");
	else
		snprintf(out->failure, sizeof(out->failure), "HTTP %ld", lr->http_status);
}

/* GET /v1/refunds/{id}: the state of a Stripe refund whose id we know. */
static void stripe_read_back(const live_config *c, const refund_request *req, refund_result *out)
{
	char url[512], auth[300];
	const char *headers[3];
	http_response r;
	json_error_t jerr;
	json_t *root;
	const char *st;

	snprintf(url, sizeof(url), "%s/v1/refunds/%s", c->stripe_url, req->refund_id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		 c->stripe_key ? c->stripe_key : "");
	headers[0] = auth;
	headers[1] = "Stripe-Version: 2023-09-12";
	headers[2] = NULL;
	http_request("GET", url, headers, NULL, &c->timeouts, &r);
	explicit_bzero(auth, sizeof(auth));
	root = r.status == 200 && r.body ? json_loads(r.body, 0, &jerr) : NULL;
	st = json_string_value(json_object_get(root, "status"));
	copy(out->refund_id, sizeof(out->refund_id), req->refund_id);
	if (!st) {
		out->status = REFUND_UNAVAILABLE;
		snprintf(out->failure, sizeof(out->failure), "reading refund: HTTP %ld", r.status);
	} else if (strcmp(st, "succeeded") == 0) {
		out->status = REFUND_SUCCEEDED;
	} else if (strcmp(st, "failed") == 0 || strcmp(st, "canceled") == 0) {
		out->status = REFUND_FAILED;
		copy(out->failure, sizeof(out->failure),
		     json_string_value(json_object_get(root, "failure_reason")));
		if (!out->failure[0])
			copy(out->failure, sizeof(out->failure), st);
	} else {
		out->status = REFUND_PENDING;
	}
	json_decref(root);
	http_response_free(&r);
}

static void refund_live(const refund_request *req, refund_result *out)
{
	live_config c = config();
	live_result lr;
	int stripe = req->method == METHOD(STRIPE);

	if (stripe && req->refund_id && req->refund_id[0]) {
		stripe_read_back(&c, req, out);
		return;
	}
	if (req->key_age_us >= (stripe ? PAY_STRIPE_REPLAY_US : PAYPAL_REFUND_REPLAY_US)) {
		log_error("refund %s of order %s: no answer within the provider's idempotency "
			  "window; asking again would refund twice: check it at the provider",
			  req->key, req->order_id);
		out->status = REFUND_UNAVAILABLE;
		copy(out->failure, sizeof(out->failure), "key window passed");
		return;
	}
	memset(&lr, 0, sizeof(lr));
	if (stripe) {
		stripe_refund(&c, req->stripe_payment_intent_id, req->amount, req->currency,
			      req->key, &lr);
	} else if (!req->paypal_capture_id || !req->paypal_capture_id[0]) {
		out->status = REFUND_FAILED;
		copy(out->failure, sizeof(out->failure), "the order recorded no PayPal capture");
		return;
	} else {
		paypal_refund(&c, req->paypal_capture_id, req->amount, req->currency, req->key,
			      &lr);
		copy(out->capture_id, sizeof(out->capture_id), req->paypal_capture_id);
	}
	from_live(req, &lr, out);
}

/* ------------------------------------------------------------------------ */
/* Sandbox and dispatch                                                      */

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
