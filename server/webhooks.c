/*
 * webhooks.c: the provider webhook receiver. See webhooks.h.
 *
 * Each delivery: verify (Stripe: the signature here; PayPal: its verify
 * call), parse the event's id, type and object, skip it when the same event
 * id was handled moments ago (providers deliver at least once), and hand it
 * to the sink. Handlers run on the listener's threads and may block on the
 * sink (a provider call, a store write).
 */
#include "webhooks.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "billingd.h"
#include "clock.h"
#include "httpd.h"
#include "log.h"
#include "observe.h"
#include "payments/currency.h"
#include "payments/live.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x
#define RECENT 256 /* event ids remembered for the duplicate check */

static struct {
	pthread_mutex_t lock;
	httpd *h;
	webhook_sink sink;
	char recent[RECENT][80];
	size_t next;
	webhook_counts counts;
} wh = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *provider_name(int method)
{
	return method == METHOD(STRIPE) ? "Stripe" : "PayPal";
}

/* One more delivery of method's provider at this stage (received,
 * verified) or with this answer (the other fields), also in the metrics. */
static void count(int method, uint64_t *field, const char *what)
{
	pthread_mutex_lock(&wh.lock);
	(*field)++;
	pthread_mutex_unlock(&wh.lock);
	observe_webhook(method == METHOD(STRIPE) ? "stripe" : "paypal", what);
}

void webhooks_counts_get(webhook_counts *out)
{
	pthread_mutex_lock(&wh.lock);
	*out = wh.counts;
	pthread_mutex_unlock(&wh.lock);
}

static int seen(const char *id)
{
	int found = 0;
	pthread_mutex_lock(&wh.lock);
	for (size_t i = 0; i < RECENT && !found; i++)
		found = strcmp(wh.recent[i], id) == 0;
	pthread_mutex_unlock(&wh.lock);
	return found;
}

static void remember(const char *id)
{
	pthread_mutex_lock(&wh.lock);
	snprintf(wh.recent[wh.next], sizeof(wh.recent[0]), "%s", id);
	wh.next = (wh.next + 1) % RECENT;
	pthread_mutex_unlock(&wh.lock);
}

/* ------------------------------------------------------------------------ */
/* Stripe-Signature                                                          */

/* Whether hex `sig` (64 chars) is HMAC-SHA256(secret, "<t>.<payload>"). */
static int v1_matches(const char *secret, size_t slen, const char *t, size_t tlen,
		      const char *payload, size_t len, const char *sig, size_t siglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
				OSSL_PARAM_construct_end()};
	size_t outl = 0;
	int ok = 0;
	if (c && EVP_MAC_init(c, (const unsigned char *)secret, slen, params) &&
	    EVP_MAC_update(c, (const unsigned char *)t, tlen) &&
	    EVP_MAC_update(c, (const unsigned char *)".", 1) &&
	    EVP_MAC_update(c, (const unsigned char *)payload, len) &&
	    EVP_MAC_final(c, mac, &outl, sizeof(mac))) {
		maclen = (unsigned int)outl;
		for (unsigned int i = 0; i < maclen; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		ok = siglen == 2 * maclen && CRYPTO_memcmp(hex, sig, siglen) == 0;
	}
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

int webhooks_stripe_verify(const char *header, const char *payload, size_t len, const char *secrets,
			   int64_t now_s, int64_t tolerance_s, char *why, size_t cap)
{
	const char *p, *t = NULL;
	size_t tlen = 0;
	int64_t ts = 0;
	int n_v1 = 0;

	if (!header || !*header) {
		snprintf(why, cap, "no Stripe-Signature header");
		return -1;
	}
	if (!secrets || !*secrets) {
		snprintf(why, cap, "no webhook secret configured");
		return -1;
	}
	/* "t=..,v1=..,v1=..,v0=..": the timestamp first. */
	for (p = header; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 2 && p[0] == 't' && p[1] == '=') {
			t = p + 2;
			tlen = n - 2;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (!t || tlen == 0 || tlen > 12) {
		snprintf(why, cap, "Stripe-Signature has no timestamp");
		return -1;
	}
	for (size_t i = 0; i < tlen; i++) {
		if (!isdigit((unsigned char)t[i])) {
			snprintf(why, cap, "Stripe-Signature timestamp is not a number");
			return -1;
		}
		ts = ts * 10 + (t[i] - '0');
	}
	if (ts < now_s - tolerance_s || ts > now_s + tolerance_s) {
		snprintf(why, cap, "Stripe-Signature timestamp %lld is outside %llds of now (%lld)",
			 (long long)ts, (long long)tolerance_s, (long long)now_s);
		return -1;
	}
	for (p = header; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 3 && strncmp(p, "v1=", 3) == 0) {
			n_v1++;
			for (const char *s = secrets; *s;) {
				const char *se = strchr(s, ',');
				size_t sl = se ? (size_t)(se - s) : strlen(s);
				if (sl && v1_matches(s, sl, t, tlen, payload, len, p + 3, n - 3))
					return 0;
				s += sl;
				if (*s == ',')
					s++;
			}
		}
		p += n;
		if (*p == ',')
			p++;
	}
	snprintf(why, cap,
		 n_v1 ? "no v1 signature matches the configured secrets"
		      : "Stripe-Signature has no v1 signature");
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : "";
}

static void set_currency(webhook_event *ev, const char *cur)
{
	snprintf(ev->currency, sizeof(ev->currency), "%s", cur ? cur : "");
	for (char *p = ev->currency; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

/* Hands a parsed event to the sink; the HTTP answer. */
static void deliver(const webhook_event *ev, httpd_response *resp)
{
	int rc;
	if (ev->event_id[0] && seen(ev->event_id)) {
		count(ev->method, &wh.counts.duplicates, "duplicate");
		httpd_reply(resp, 200, "application/json",
			    "{\"received\":true,\"duplicate\":true}");
		return;
	}
	rc = wh.sink ? wh.sink(ev) : 0;
	if (rc != 0) {
		count(ev->method, &wh.counts.deferred, "deferred");
		httpd_reply(resp, 503, NULL, "not handled now; deliver again\n");
		return;
	}
	if (ev->event_id[0])
		remember(ev->event_id);
	count(ev->method, &wh.counts.handled, "handled");
	if (!wh.sink)
		log_info("webhooks: %s %s for order %s (%s) verified; no settlement attached",
			 provider_name(ev->method), ev->type, ev->order_id[0] ? ev->order_id : "?",
			 ev->payment_id);
	httpd_reply(resp, 200, "application/json", "{\"received\":true}");
}

static void reject(httpd_response *resp, int method, const char *why)
{
	count(method, &wh.counts.rejected, "refused");
	log_warn("webhooks: %s delivery refused: %s", provider_name(method), why);
	httpd_reply(resp, 400, NULL, "refused\n");
}

static int post_only(const httpd_request *req, httpd_response *resp)
{
	if (strcmp(httpd_method(req), "POST") == 0)
		return 1;
	httpd_reply(resp, 405, NULL, "POST only\n");
	return 0;
}

static void on_stripe(const httpd_request *req, httpd_response *resp, void *arg)
{
	size_t len;
	const char *body = httpd_body(req, &len);
	char why[160];
	json_t *root, *obj;
	json_error_t jerr;
	webhook_event ev = {.method = METHOD(STRIPE), .amount = -1};
	const char *type;
	(void)arg;

	if (!post_only(req, resp))
		return;
	count(METHOD(STRIPE), &wh.counts.received, "received");
	if (webhooks_stripe_verify(httpd_header(req, "Stripe-Signature"), body, len,
				   billingd.cfg.stripe_webhook_secret, clock_now_us() / 1000000,
				   WEBHOOK_TOLERANCE_S, why, sizeof(why)) != 0) {
		reject(resp, METHOD(STRIPE), why);
		return;
	}
	count(METHOD(STRIPE), &wh.counts.verified, "verified");
	root = json_loadb(body, len, 0, &jerr);
	obj = json_object_get(json_object_get(root, "data"), "object");
	type = jstr(root, "type");
	if (!json_is_object(obj) || !*type) {
		json_decref(root);
		reject(resp, METHOD(STRIPE), "not an event");
		return;
	}
	ev.event_id = jstr(root, "id");
	ev.type = type;
	ev.order_id = jstr(json_object_get(obj, "metadata"), "order_id");
	ev.capture_id = "";
	set_currency(&ev, jstr(obj, "currency"));
	if (strncmp(type, "payment_intent.", 15) == 0 &&
	    (strcmp(type + 15, "succeeded") == 0 || strcmp(type + 15, "payment_failed") == 0 ||
	     strcmp(type + 15, "canceled") == 0 || strcmp(type + 15, "requires_action") == 0)) {
		ev.kind = WEBHOOK_PAYMENT;
		ev.payment_id = jstr(obj, "id");
		ev.capture_id = jstr(obj, "latest_charge");
		ev.amount = (int64_t)json_integer_value(json_object_get(obj, "amount"));
	} else if (strcmp(type, "charge.refunded") == 0) {
		ev.kind = WEBHOOK_REFUND;
		ev.payment_id = jstr(obj, "payment_intent");
		ev.capture_id = jstr(obj, "id");
		ev.amount = (int64_t)json_integer_value(json_object_get(obj, "amount_refunded"));
	} else if (strcmp(type, "charge.dispute.created") == 0) {
		ev.kind = WEBHOOK_DISPUTE;
		ev.payment_id = jstr(obj, "payment_intent");
		ev.capture_id = jstr(obj, "charge");
		ev.amount = (int64_t)json_integer_value(json_object_get(obj, "amount"));
	} else {
		count(METHOD(STRIPE), &wh.counts.ignored, "ignored");
		json_decref(root);
		httpd_reply(resp, 200, "application/json", "{\"received\":true,\"ignored\":true}");
		return;
	}
	deliver(&ev, resp);
	json_decref(root);
}

static void on_paypal(const httpd_request *req, httpd_response *resp, void *arg)
{
	size_t len;
	const char *body = httpd_body(req, &len);
	json_t *root, *res, *pu;
	json_error_t jerr;
	webhook_event ev = {.method = METHOD(PAYPAL), .amount = -1};
	paypal_transmission t = {
		.auth_algo = httpd_header(req, "PAYPAL-AUTH-ALGO"),
		.cert_url = httpd_header(req, "PAYPAL-CERT-URL"),
		.transmission_id = httpd_header(req, "PAYPAL-TRANSMISSION-ID"),
		.transmission_sig = httpd_header(req, "PAYPAL-TRANSMISSION-SIG"),
		.transmission_time = httpd_header(req, "PAYPAL-TRANSMISSION-TIME"),
	};
	live_config c = {
		.stripe_url = billingd.cfg.stripe_url,
		.paypal_url = billingd.cfg.paypal_url,
		.paypal_client_id = billingd.cfg.paypal_client_id,
		.paypal_secret = billingd.cfg.paypal_secret,
		.timeouts = {.total_ms = billingd.cfg.provider_timeout_ms},
	};
	const char *type;
	int verified = 0, rc;
	struct timespec t0, t1;
	(void)arg;

	if (!post_only(req, resp))
		return;
	count(METHOD(PAYPAL), &wh.counts.received, "received");
	if (!t.auth_algo || !t.cert_url || !t.transmission_id || !t.transmission_sig ||
	    !t.transmission_time) {
		reject(resp, METHOD(PAYPAL), "PAYPAL-* transmission headers missing");
		return;
	}
	root = json_loadb(body, len, 0, &jerr);
	if (!json_is_object(root)) {
		reject(resp, METHOD(PAYPAL), "not JSON");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = paypal_verify_webhook(&c, &t, billingd.cfg.paypal_webhook_id, body, &verified);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	observe_provider_call("paypal", "verify_webhook",
			      rc != 0    ? "UNAVAILABLE"
			      : verified ? "SUCCEEDED"
					 : "DECLINED",
			      (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (rc != 0) {
		count(METHOD(PAYPAL), &wh.counts.deferred, "deferred");
		json_decref(root);
		log_warn("webhooks: PayPal verification unavailable; asking for redelivery");
		httpd_reply(resp, 503, NULL, "cannot verify now\n");
		return;
	}
	if (!verified) {
		json_decref(root);
		reject(resp, METHOD(PAYPAL), "verify-webhook-signature answered FAILURE");
		return;
	}
	count(METHOD(PAYPAL), &wh.counts.verified, "verified");
	res = json_object_get(root, "resource");
	type = jstr(root, "event_type");
	ev.event_id = jstr(root, "id");
	ev.type = type;
	ev.capture_id = "";
	if (strcmp(type, "CHECKOUT.ORDER.APPROVED") == 0) {
		pu = json_array_get(json_object_get(res, "purchase_units"), 0);
		ev.kind = WEBHOOK_PAYMENT;
		ev.payment_id = jstr(res, "id");
		ev.order_id = jstr(pu, "custom_id");
		set_currency(&ev, jstr(json_object_get(pu, "amount"), "currency_code"));
	} else if (strcmp(type, "PAYMENT.CAPTURE.COMPLETED") == 0 ||
		   strcmp(type, "PAYMENT.CAPTURE.DENIED") == 0 ||
		   strcmp(type, "PAYMENT.CAPTURE.REFUNDED") == 0) {
		json_t *amt = json_object_get(res, "amount");
		int64_t v;
		ev.kind = strcmp(type, "PAYMENT.CAPTURE.REFUNDED") == 0 ? WEBHOOK_REFUND
									: WEBHOOK_PAYMENT;
		ev.order_id = jstr(res, "custom_id");
		ev.payment_id = jstr(
			json_object_get(json_object_get(res, "supplementary_data"), "related_ids"),
			"order_id");
		ev.capture_id = jstr(res, "id");
		set_currency(&ev, jstr(amt, "currency_code"));
		if (currency_parse(PAY_KIND_PAYPAL, ev.currency, jstr(amt, "value"), &v) == 0)
			ev.amount = v;
	} else {
		count(METHOD(PAYPAL), &wh.counts.ignored, "ignored");
		json_decref(root);
		httpd_reply(resp, 200, "application/json", "{\"received\":true,\"ignored\":true}");
		return;
	}
	deliver(&ev, resp);
	json_decref(root);
}

int webhooks_start(webhook_sink sink, int *port)
{
	httpd_route routes[2];
	httpd_options o = {.listen = billingd.cfg.webhook_listen, .routes = routes, .threads = 2};
	char err[200];
	size_t n = 0;
	if (!billingd.cfg.webhook_listen)
		return 0;
	if (billingd.cfg.stripe_webhook_secret && billingd.cfg.stripe_webhook_secret[0])
		routes[n++] = (httpd_route){"/webhooks/stripe", on_stripe, NULL};
	if (billingd.cfg.paypal_webhook_id && billingd.cfg.paypal_webhook_id[0])
		routes[n++] = (httpd_route){"/webhooks/paypal", on_paypal, NULL};
	o.n_routes = n;
	wh.sink = sink;
	wh.h = httpd_start(&o, err, sizeof(err));
	if (!wh.h) {
		log_error("webhooks: --webhook-listen %s", err);
		return -1;
	}
	*port = httpd_port(wh.h);
	log_info("webhooks: listening on %s (port %d): %s%s", billingd.cfg.webhook_listen, *port,
		 n == 0 ? "no provider configured (STRIPE_WEBHOOK_SECRET, PAYPAL_WEBHOOK_ID)"
			: routes[0].path,
		 n == 2 ? ", /webhooks/paypal" : "");
	return 0;
}

void webhooks_stop(void)
{
	httpd_stop(wh.h);
	wh.h = NULL;
}
