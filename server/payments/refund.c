/*
 * refund.c: refund_call() — the sandbox refunds in process (instant,
 * always accepted, deterministic ids); live refunds go to Stripe or PayPal
 * over http.c, parsed with jansson. See refund.h. Secrets only go into
 * Authorization headers (live.c's PayPal token); nothing here logs a header
 * or a body.
 *
 * Live: refunds at the live providers over HTTP (refund.h says
 * which endpoints and why the credit note number is the key). Stripe: POST
 * /v1/refunds (form: payment_intent, amount, reason=requested_by_customer,
 * metadata[credit_note], metadata[order_id]) with Idempotency-Key, or GET
 * /v1/refunds/{id} once the id is known. PayPal: the capture id (read from
 * GET /v2/checkout/orders/{id} when the order did not record it), then POST
 * /v2/payments/captures/{capture_id}/refund (JSON: amount {value,
 * currency_code}, invoice_id, note_to_payer) with PayPal-Request-Id, or GET
 * /v2/payments/refunds/{id}.
 *
 * Answers: a refund object's status decides (Stripe succeeded / pending,
 * requires_action / failed, canceled; PayPal COMPLETED / PENDING / FAILED,
 * CANCELLED). An error the provider is sure of (a 4xx error object other
 * than an idempotency conflict or our own credentials) is FAILED with its
 * code; a transport failure, 5xx, 429, 409, 401/403 or an unreadable
 * answer is UNAVAILABLE (asked again later, same key).
 */
#include "refund.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "billingd.h"
#include "live.h"
#include "log.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x

#define STRIPE_VERSION "Stripe-Version: 2024-06-20"

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
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

/* No definitive answer: ask again later under the same key. */
static void unavailable(refund_result *out, const http_response *r)
{
	out->status = REFUND_UNAVAILABLE;
	if (r->transport)
		copy(out->failure, sizeof(out->failure), r->error);
	else
		snprintf(out->failure, sizeof(out->failure), "provider answered HTTP %ld",
			 r->status);
}

/* ------------------------------------------------------------------------ */
/* Stripe                                                                    */

static void form_add(CURL *h, char *body, size_t cap, const char *k, const char *v)
{
	char *ek = curl_easy_escape(h, k, 0), *ev = curl_easy_escape(h, v, 0);
	size_t n = strlen(body);

	if (ek && ev)
		snprintf(body + n, cap - n, "%s%s=%s", n ? "&" : "", ek, ev);
	curl_free(ek);
	curl_free(ev);
}

static void stripe_refund_answer(const http_response *r, refund_result *out)
{
	json_error_t jerr;
	json_t *root = r->body ? json_loads(r->body, 0, &jerr) : NULL;
	const char *st;

	if (r->transport || r->status >= 500 || r->status == 429 || r->status == 409 ||
	    r->status == 401 || r->status == 403 || !json_is_object(root)) {
		if (r->status == 401 || r->status == 403)
			log_error("stripe refund: our credentials were refused (HTTP %ld)",
				  r->status);
		unavailable(out, r);
		json_decref(root);
		return;
	}
	if (r->status >= 200 && r->status < 300) {
		copy(out->refund_id, sizeof(out->refund_id), jstr(root, "id"));
		st = jstr(root, "status");
		if (st && strcmp(st, "succeeded") == 0) {
			out->status = REFUND_SUCCEEDED;
		} else if (st && (strcmp(st, "failed") == 0 || strcmp(st, "canceled") == 0)) {
			out->status = REFUND_FAILED;
			copy(out->failure, sizeof(out->failure),
			     jstr(root, "failure_reason") ? jstr(root, "failure_reason") : st);
		} else {
			out->status = REFUND_PENDING; /* pending, requires_action */
		}
	} else {
		json_t *e = json_object_get(root, "error");
		const char *type = jstr(e, "type"), *code = jstr(e, "code");
		if (type && strcmp(type, "idempotency_error") == 0) {
			unavailable(out, r);
		} else {
			out->status = REFUND_FAILED;
			copy(out->failure, sizeof(out->failure), code ? code : type);
		}
	}
	json_decref(root);
}

static void stripe_refund(const live_config *c, const refund_request *req, refund_result *out)
{
	char url[512], auth[300], idem[200], body[1024] = "", num[32];
	const char *headers[5];
	http_response r;
	CURL *h;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		 c->stripe_key ? c->stripe_key : "");
	headers[0] = auth;
	headers[1] = STRIPE_VERSION;
	if (req->refund_id && req->refund_id[0]) { /* read back what we asked for */
		snprintf(url, sizeof(url), "%s/v1/refunds/%s", c->stripe_url, req->refund_id);
		headers[2] = NULL;
		http_request("GET", url, headers, NULL, &c->timeouts, &r);
	} else {
		h = curl_easy_init();
		if (!h) {
			out->status = REFUND_UNAVAILABLE;
			copy(out->failure, sizeof(out->failure), "out of memory");
			return;
		}
		snprintf(url, sizeof(url), "%s/v1/refunds", c->stripe_url);
		snprintf(idem, sizeof(idem), "Idempotency-Key: %s", req->key);
		snprintf(num, sizeof(num), "%lld", (long long)req->amount);
		form_add(h, body, sizeof(body), "payment_intent", req->stripe_payment_intent_id);
		form_add(h, body, sizeof(body), "amount", num);
		form_add(h, body, sizeof(body), "reason", "requested_by_customer");
		form_add(h, body, sizeof(body), "metadata[credit_note]", req->key);
		form_add(h, body, sizeof(body), "metadata[order_id]", req->order_id);
		curl_easy_cleanup(h);
		headers[2] = idem;
		headers[3] = "Content-Type: application/x-www-form-urlencoded";
		headers[4] = NULL;
		http_request("POST", url, headers, body, &c->timeouts, &r);
	}
	stripe_refund_answer(&r, out);
	http_response_free(&r);
	explicit_bzero(auth, sizeof(auth));
}

/* ------------------------------------------------------------------------ */
/* PayPal                                                                    */

static void paypal_refund_answer(const http_response *r, refund_result *out)
{
	json_error_t jerr;
	json_t *root = r->body ? json_loads(r->body, 0, &jerr) : NULL;
	const char *st;

	if (r->transport || r->status >= 500 || r->status == 429 || r->status == 409 ||
	    r->status == 401 || r->status == 403 || !json_is_object(root)) {
		unavailable(out, r);
		json_decref(root);
		return;
	}
	if (r->status >= 200 && r->status < 300) {
		copy(out->refund_id, sizeof(out->refund_id), jstr(root, "id"));
		st = jstr(root, "status");
		if (st && strcmp(st, "COMPLETED") == 0) {
			out->status = REFUND_SUCCEEDED;
		} else if (st && (strcmp(st, "FAILED") == 0 || strcmp(st, "CANCELLED") == 0)) {
			json_t *d = json_object_get(root, "status_details");
			out->status = REFUND_FAILED;
			copy(out->failure, sizeof(out->failure),
			     jstr(d, "reason") ? jstr(d, "reason") : st);
		} else {
			out->status = REFUND_PENDING;
		}
	} else {
		json_t *d = json_array_get(json_object_get(root, "details"), 0);
		out->status = REFUND_FAILED;
		copy(out->failure, sizeof(out->failure),
		     jstr(d, "issue") ? jstr(d, "issue") : jstr(root, "name"));
	}
	json_decref(root);
}

/* The capture of a COMPLETED PayPal order, from GET /v2/checkout/orders. */
static int paypal_capture_id(const live_config *c, const char *order, char *out, size_t cap,
			     refund_result *res)
{
	char path[256];
	http_response r;
	live_result lr;
	json_error_t jerr;
	json_t *root, *pu, *capt;
	int rc = -1;

	memset(&lr, 0, sizeof(lr));
	snprintf(path, sizeof(path), "/v2/checkout/orders/%s", order);
	if (live_paypal_call(c, "GET", path, NULL, NULL, &r, &lr) != 0) {
		res->status = REFUND_UNAVAILABLE;
		copy(res->failure, sizeof(res->failure), lr.code);
		return -1;
	}
	root = r.status == 200 && r.body ? json_loads(r.body, 0, &jerr) : NULL;
	pu = json_array_get(json_object_get(root, "purchase_units"), 0);
	capt = json_array_get(json_object_get(json_object_get(pu, "payments"), "captures"), 0);
	if (jstr(capt, "id")) {
		copy(out, cap, jstr(capt, "id"));
		rc = 0;
	} else {
		unavailable(res, &r);
	}
	json_decref(root);
	http_response_free(&r);
	return rc;
}

static void paypal_refund(const live_config *c, const refund_request *req, refund_result *out)
{
	char path[256], value[40], capture[128];
	live_result lr;
	http_response r;
	json_t *body;
	char *text;

	memset(&lr, 0, sizeof(lr));
	if (req->refund_id && req->refund_id[0]) {
		snprintf(path, sizeof(path), "/v2/payments/refunds/%s", req->refund_id);
		if (live_paypal_call(c, "GET", path, NULL, NULL, &r, &lr) != 0) {
			out->status = REFUND_UNAVAILABLE;
			copy(out->failure, sizeof(out->failure), lr.code);
			return;
		}
		paypal_refund_answer(&r, out);
		http_response_free(&r);
		return;
	}
	copy(capture, sizeof(capture), req->paypal_capture_id);
	if (!capture[0] &&
	    paypal_capture_id(c, req->paypal_order_id, capture, sizeof(capture), out) != 0)
		return;
	copy(out->capture_id, sizeof(out->capture_id), capture);
	if (live_amount_decimal(req->amount, req->currency, value, sizeof(value)) != 0) {
		out->status = REFUND_FAILED;
		copy(out->failure, sizeof(out->failure), "bad_amount");
		return;
	}
	body = json_pack("{s:{s:s, s:s}, s:s, s:s}", "amount", "value", value, "currency_code",
			 req->currency, "invoice_id", req->key, "note_to_payer",
			 req->reason && req->reason[0] ? req->reason : "Refund");
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	snprintf(path, sizeof(path), "/v2/payments/captures/%s/refund", capture);
	if (!text) {
		out->status = REFUND_UNAVAILABLE;
		copy(out->failure, sizeof(out->failure), "out of memory");
	} else if (live_paypal_call(c, "POST", path, req->key, text, &r, &lr) != 0) {
		out->status = REFUND_UNAVAILABLE;
		copy(out->failure, sizeof(out->failure), lr.code);
	} else {
		paypal_refund_answer(&r, out);
		http_response_free(&r);
	}
	free(text);
}

static void refund_live(const refund_request *req, refund_result *out)
{
	live_config c = config();

	if (req->method == METHOD(STRIPE))
		stripe_refund(&c, req, out);
	else
		paypal_refund(&c, req, out);
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
