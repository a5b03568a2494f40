/*
 * live.c: Stripe PaymentIntents (form-encoded) and PayPal Orders v2 /
 * Payments v2 (JSON, OAuth2 client credentials) over http.c, parsed with
 * jansson. See live.h. Secrets go only into Authorization headers; nothing
 * here logs them.
 *
 * Sources: stripe/openapi spec3.yaml at API version 2023-09-12 (operations
 * PostPaymentIntents, GetPaymentIntentsIntent, PostPaymentIntentsIntentCancel,
 * GetPaymentIntentsSearch, PostRefunds; components.schemas.payment_intent,
 * api_errors); paypal-rest-api-specifications checkout_orders_v2.json
 * (orders.create, orders.get, orders.capture; components.schemas.order,
 * error_422, orders.capture-422), payments_payment_v2.json
 * (captures.refund), notifications_webhooks_v1.json
 * (verify-webhook-signature).
 */
#include "xalloc.h"
#include "live.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "currency.h"

/* The API version billingd is written against (and the spec it cites). */
#define STRIPE_VERSION "Stripe-Version: 2023-09-12"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int set(const char *s)
{
	return s && *s;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* Appends s percent-encoded (RFC 3986 unreserved kept; brackets kept in
 * keys as Stripe writes them) to buf at *n. */
static void pct(char *buf, size_t cap, size_t *n, const char *s, int key)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (; *s && *n + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-_.~", ch) || (key && (ch == '[' || ch == ']'))) {
			buf[(*n)++] = (char)ch;
		} else {
			buf[(*n)++] = '%';
			buf[(*n)++] = hexd[ch >> 4];
			buf[(*n)++] = hexd[ch & 15];
		}
	}
	buf[*n] = 0;
}

/* Appends k=v (form-encoded) to a body. */
static void form_add(char *buf, size_t cap, const char *k, const char *v)
{
	size_t n = strlen(buf);
	if (n && n + 1 < cap)
		buf[n++] = '&';
	pct(buf, cap, &n, k, 1);
	if (n + 1 < cap)
		buf[n++] = '=';
	pct(buf, cap, &n, v, 0);
}

static void upper3(char *cur)
{
	for (char *p = cur; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

/* The facts every answer carries, for the caller's log and retry timing. */
static void note_response(const http_response *r, live_result *out)
{
	out->http_status = r->status;
	copy(out->request_id, sizeof(out->request_id), r->request_id);
	out->replayed = r->replayed;
	out->provider_date_s = r->date_s;
	out->retry_after_ms = r->retry_after_s > 0 ? r->retry_after_s * 1000 : 0;
}

/* Network failure, or a status the providers answer when the request
 * should simply be made again later with the same key: 409 (a concurrent
 * request or lock), 424, 429, 5xx, or an explicit Stripe-Should-Retry:
 * true. */
static int retryable(const http_response *r)
{
	return r->transport || r->should_retry == 1 || r->status == 409 || r->status == 424 ||
	       r->status == 429 || r->status >= 500;
}

static void unknown(const http_response *r, live_result *out)
{
	out->state = LIVE_UNKNOWN;
	if (r->transport)
		copy(out->message, sizeof(out->message), r->error);
	else if (!out->message[0])
		snprintf(out->message, sizeof(out->message), "provider answered HTTP %ld",
			 r->status);
}

/* ------------------------------------------------------------------------ */
/* Stripe                                                                    */

/* Fills out from a PaymentIntent object (components.schemas.payment_intent),
 * checking amount and currency. */
static void stripe_intent(json_t *pi, int64_t amount, const char *currency, live_result *out)
{
	const char *st = jstr(pi, "status");
	json_t *err = json_object_get(pi, "last_payment_error");
	json_t *na = json_object_get(pi, "next_action");
	copy(out->provider_id, sizeof(out->provider_id), jstr(pi, "id"));
	copy(out->client_secret, sizeof(out->client_secret), jstr(pi, "client_secret"));
	copy(out->capture_id, sizeof(out->capture_id), jstr(pi, "latest_charge"));
	copy(out->next_action, sizeof(out->next_action), jstr(na, "type"));
	copy(out->order_ref, sizeof(out->order_ref),
	     jstr(json_object_get(pi, "metadata"), "order_id"));
	out->amount = (int64_t)json_integer_value(json_object_get(pi, "amount"));
	copy(out->currency, sizeof(out->currency), jstr(pi, "currency"));
	upper3(out->currency);
	if (!st) {
		out->state = LIVE_ERROR;
		copy(out->message, sizeof(out->message), "PaymentIntent without a status");
	} else if (out->amount != amount || strcasecmp(out->currency, currency) != 0) {
		/* Never take another amount for this order's: an operator looks. */
		out->state = LIVE_ERROR;
		copy(out->code, sizeof(out->code), "amount_mismatch");
		snprintf(out->message, sizeof(out->message),
			 "PaymentIntent %s is for %lld %s, expected %lld %s (status %s)",
			 out->provider_id, (long long)out->amount, out->currency, (long long)amount,
			 currency, st);
	} else if (strcmp(st, "succeeded") == 0) {
		out->state = LIVE_SUCCEEDED;
	} else if (strcmp(st, "requires_action") == 0) {
		out->state = LIVE_REQUIRES_ACTION;
	} else if (strcmp(st, "requires_payment_method") == 0 && json_is_object(err)) {
		/* The last attempt failed; the intent can still be paid. */
		out->state = LIVE_DECLINED;
		copy(out->code, sizeof(out->code),
		     jstr(err, "decline_code") ? jstr(err, "decline_code") : jstr(err, "code"));
		copy(out->message, sizeof(out->message), jstr(err, "message"));
	} else if (strcmp(st, "canceled") == 0) {
		out->state = LIVE_CANCELED;
	} else if (strcmp(st, "processing") == 0 || strcmp(st, "requires_capture") == 0) {
		out->state = LIVE_UNKNOWN;
		snprintf(out->message, sizeof(out->message), "PaymentIntent %s at Stripe", st);
	} else {
		out->state = LIVE_PENDING; /* requires_payment_method / _confirmation */
	}
}

/* Interprets a Stripe answer (an object or an error). */
static void stripe_answer(http_response *r, int64_t amount, const char *currency,
			  void (*object)(json_t *, int64_t, const char *, live_result *),
			  live_result *out)
{
	json_t *root, *e, *pi;
	const char *type, *code;
	json_error_t jerr;

	note_response(r, out);
	if (r->transport) {
		unknown(r, out);
		return;
	}
	root = r->body ? json_loads(r->body, 0, &jerr) : NULL;
	if (r->status >= 200 && r->status < 300 && json_is_object(root)) {
		object(root, amount, currency, out);
		json_decref(root);
		return;
	}
	e = json_object_get(root, "error");
	pi = json_object_get(e, "payment_intent");
	type = jstr(e, "type");
	code = jstr(e, "code");
	copy(out->message, sizeof(out->message), jstr(e, "message"));
	copy(out->code, sizeof(out->code), code ? code : type);
	if (r->status >= 200 && r->status < 300) {
		unknown(r, out); /* 2xx we cannot read */
		copy(out->message, sizeof(out->message), "unreadable Stripe answer");
	} else if (retryable(r) || !json_is_object(e)) {
		unknown(r, out);
	} else if (r->status == 401 || r->status == 403) {
		out->state = LIVE_AUTH;
	} else if (r->status == 402 && type && strcmp(type, "card_error") == 0) {
		out->state = LIVE_DECLINED;
		if (json_is_object(pi)) {
			copy(out->provider_id, sizeof(out->provider_id), jstr(pi, "id"));
			copy(out->client_secret, sizeof(out->client_secret),
			     jstr(pi, "client_secret"));
		}
		copy(out->code, sizeof(out->code),
		     jstr(e, "decline_code") ? jstr(e, "decline_code") : code);
	} else if (json_is_object(pi) && code &&
		   strcmp(code, "payment_intent_unexpected_state") == 0) {
		/* The intent is not in the state the call needs (cancel of a
		 * succeeded one): its own state is the truth. */
		object(pi, amount, currency, out);
	} else {
		out->state = LIVE_ERROR;
	}
	json_decref(root);
}

typedef struct stripe_req {
	char auth[300], idem[300];
	const char *h[6];
} stripe_req;

static const char *const *stripe_headers(stripe_req *s, const live_config *c, const char *key,
					 int form)
{
	int n = 0;
	snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", c->stripe_key);
	s->h[n++] = s->auth;
	s->h[n++] = STRIPE_VERSION;
	if (form)
		s->h[n++] = "Content-Type: application/x-www-form-urlencoded";
	if (set(key)) {
		snprintf(s->idem, sizeof(s->idem), "Idempotency-Key: %s", key);
		s->h[n++] = s->idem;
	}
	s->h[n] = NULL;
	return s->h;
}

static void stripe_done(stripe_req *s)
{
	explicit_bzero(s->auth, sizeof(s->auth));
}

int stripe_create(const live_config *c, const stripe_charge *ch, live_result *out)
{
	char url[512], body[2048] = "", num[32], cur[4] = "";
	stripe_req s;
	http_response r;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s/v1/payment_intents", c->stripe_url);
	snprintf(num, sizeof(num), "%lld", (long long)ch->amount);
	for (int i = 0; i < 3 && ch->currency[i]; i++)
		cur[i] = (char)tolower((unsigned char)ch->currency[i]);
	form_add(body, sizeof(body), "amount", num);
	form_add(body, sizeof(body), "currency", cur); /* "in lowercase" */
	form_add(body, sizeof(body), "metadata[order_id]", ch->order_id);
	form_add(body, sizeof(body), "payment_method_types[]", "card");
	if (set(ch->description))
		form_add(body, sizeof(body), "description", ch->description);
	if (set(ch->customer))
		form_add(body, sizeof(body), "customer", ch->customer);
	if (set(ch->payment_method)) {
		form_add(body, sizeof(body), "payment_method", ch->payment_method);
		form_add(body, sizeof(body), "confirm", "true");
		if (ch->off_session) {
			/* "the customer is not in your checkout flow ... and therefore
			 * is unable to authenticate" */
			form_add(body, sizeof(body), "off_session", "true");
		} else {
			/* The buyer's app handles next_action (3-D Secure). */
			form_add(body, sizeof(body), "use_stripe_sdk", "true");
			if (set(ch->return_url))
				form_add(body, sizeof(body), "return_url", ch->return_url);
		}
	}
	http_request("POST", url, stripe_headers(&s, c, ch->key, 1), body, &c->timeouts, &r);
	stripe_done(&s);
	stripe_answer(&r, ch->amount, ch->currency, stripe_intent, out);
	http_response_free(&r);
	return 0;
}

/* POST form to /v1/payment_intents/<intent><suffix> under key. */
static void stripe_post_intent(const live_config *c, const char *intent_id, const char *suffix,
			       const char *key, const char *body, int64_t amount,
			       const char *currency, live_result *out)
{
	char url[512];
	size_t n;
	stripe_req s;
	http_response r;

	memset(out, 0, sizeof(*out));
	n = (size_t)snprintf(url, sizeof(url), "%s/v1/payment_intents/", c->stripe_url);
	pct(url, sizeof(url), &n, intent_id, 0);
	snprintf(url + n, sizeof(url) - n, "%s", suffix);
	http_request("POST", url, stripe_headers(&s, c, key, 1), body, &c->timeouts, &r);
	stripe_done(&s);
	stripe_answer(&r, amount, currency, stripe_intent, out);
	http_response_free(&r);
}

int stripe_update_amount(const live_config *c, const char *intent_id, const char *key,
			 int64_t amount, const char *currency, live_result *out)
{
	char body[128] = "", num[32];
	snprintf(num, sizeof(num), "%lld", (long long)amount);
	form_add(body, sizeof(body), "amount", num);
	stripe_post_intent(c, intent_id, "", key, body, amount, currency, out);
	return 0;
}

int stripe_confirm(const live_config *c, const char *intent_id, const stripe_charge *ch,
		   live_result *out)
{
	char body[1024] = "";
	if (set(ch->payment_method))
		form_add(body, sizeof(body), "payment_method", ch->payment_method);
	if (ch->off_session) {
		form_add(body, sizeof(body), "off_session", "true");
	} else {
		form_add(body, sizeof(body), "use_stripe_sdk", "true");
		if (set(ch->return_url))
			form_add(body, sizeof(body), "return_url", ch->return_url);
	}
	stripe_post_intent(c, intent_id, "/confirm", ch->key, body, ch->amount, ch->currency, out);
	return 0;
}

int stripe_retrieve(const live_config *c, const char *intent_id, int64_t amount,
		    const char *currency, live_result *out)
{
	char url[512];
	size_t n;
	stripe_req s;
	http_response r;

	memset(out, 0, sizeof(*out));
	n = (size_t)snprintf(url, sizeof(url), "%s/v1/payment_intents/", c->stripe_url);
	pct(url, sizeof(url), &n, intent_id, 0);
	http_request("GET", url, stripe_headers(&s, c, NULL, 0), NULL, &c->timeouts, &r);
	stripe_done(&s);
	stripe_answer(&r, amount, currency, stripe_intent, out);
	http_response_free(&r);
	return 0;
}

int stripe_cancel(const live_config *c, const char *intent_id, const char *key, const char *reason,
		  int64_t amount, const char *currency, live_result *out)
{
	char url[512], body[128] = "";
	size_t n;
	stripe_req s;
	http_response r;

	memset(out, 0, sizeof(*out));
	n = (size_t)snprintf(url, sizeof(url), "%s/v1/payment_intents/", c->stripe_url);
	pct(url, sizeof(url), &n, intent_id, 0);
	snprintf(url + n, sizeof(url) - n, "/cancel");
	if (set(reason))
		form_add(body, sizeof(body), "cancellation_reason", reason);
	http_request("POST", url, stripe_headers(&s, c, key, 1), body, &c->timeouts, &r);
	stripe_done(&s);
	stripe_answer(&r, amount, currency, stripe_intent, out);
	http_response_free(&r);
	return 0;
}

/* The number of intents the last search_result on this thread held. */
static __thread int search_count;

/* A search_result: the intent that took money, else the newest one that
 * is not canceled, else the newest canceled one. */
static void stripe_search_result(json_t *res, int64_t amount, const char *currency,
				 live_result *out)
{
	json_t *data = json_object_get(res, "data"), *pi, *best = NULL;
	size_t i;
	int best_rank = -1;
	search_count = (int)json_array_size(data);
	json_array_foreach(data, i, pi)
	{
		const char *st = jstr(pi, "status");
		int rank = st && strcmp(st, "succeeded") == 0  ? 3
			   : st && strcmp(st, "canceled") != 0 ? 2
							       : 1;
		json_int_t created = json_integer_value(json_object_get(pi, "created"));
		if (rank > best_rank ||
		    (rank == best_rank &&
		     created > json_integer_value(json_object_get(best, "created")))) {
			best = pi;
			best_rank = rank;
		}
	}
	if (!best) {
		out->state = LIVE_NOT_FOUND;
		return;
	}
	stripe_intent(best, amount, currency, out);
}

int stripe_search(const live_config *c, const char *order_id, int64_t amount, const char *currency,
		  live_result *out, int *count)
{
	char url[700], q[200];
	size_t n;
	stripe_req s;
	http_response r;

	memset(out, 0, sizeof(*out));
	*count = 0;
	/* Order ids are server-made ([A-Za-z0-9_]); a quote would end the
	 * query's string literal, so anything else is refused here. */
	for (const char *p = order_id; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
			out->state = LIVE_ERROR;
			copy(out->code, sizeof(out->code), "bad_order_id");
			return 0;
		}
	snprintf(q, sizeof(q), "metadata['order_id']:'%s'", order_id);
	n = (size_t)snprintf(url, sizeof(url),
			     "%s/v1/payment_intents/search?limit=100&query=", c->stripe_url);
	pct(url, sizeof(url), &n, q, 0);
	search_count = 0;
	http_request("GET", url, stripe_headers(&s, c, NULL, 0), NULL, &c->timeouts, &r);
	stripe_done(&s);
	stripe_answer(&r, amount, currency, stripe_search_result, out);
	http_response_free(&r);
	*count = search_count;
	return 0;
}

static void stripe_refund_object(json_t *re, int64_t amount, const char *currency, live_result *out)
{
	const char *st = jstr(re, "status");
	(void)amount;
	copy(out->capture_id, sizeof(out->capture_id), jstr(re, "id"));
	copy(out->provider_id, sizeof(out->provider_id), jstr(re, "payment_intent"));
	out->amount = (int64_t)json_integer_value(json_object_get(re, "amount"));
	copy(out->currency, sizeof(out->currency), jstr(re, "currency"));
	upper3(out->currency);
	if (strcasecmp(out->currency, currency) != 0) {
		out->state = LIVE_ERROR;
		copy(out->code, sizeof(out->code), "currency_mismatch");
	} else if (st && strcmp(st, "succeeded") == 0) {
		out->state = LIVE_SUCCEEDED;
	} else if (st && (strcmp(st, "failed") == 0 || strcmp(st, "canceled") == 0)) {
		out->state = LIVE_DECLINED;
		copy(out->code, sizeof(out->code), jstr(re, "failure_reason"));
	} else {
		out->state = LIVE_UNKNOWN; /* pending, requires_action */
		copy(out->code, sizeof(out->code), st);
	}
}

int stripe_refund(const live_config *c, const char *intent_id, int64_t amount, const char *currency,
		  const char *key, live_result *out)
{
	char url[512], body[256] = "", num[32];
	stripe_req s;
	http_response r;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s/v1/refunds", c->stripe_url);
	form_add(body, sizeof(body), "payment_intent", intent_id);
	if (amount > 0) {
		snprintf(num, sizeof(num), "%lld", (long long)amount);
		form_add(body, sizeof(body), "amount", num);
	}
	http_request("POST", url, stripe_headers(&s, c, key, 1), body, &c->timeouts, &r);
	stripe_done(&s);
	stripe_answer(&r, amount, currency, stripe_refund_object, out);
	http_response_free(&r);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* PayPal                                                                    */

static struct {
	pthread_mutex_t lock;
	char token[512];
	time_t expires; /* refresh a minute early */
} pp = {.lock = PTHREAD_MUTEX_INITIALIZER};

void paypal_forget_token(void)
{
	pthread_mutex_lock(&pp.lock);
	explicit_bzero(pp.token, sizeof(pp.token));
	pp.expires = 0;
	pthread_mutex_unlock(&pp.lock);
}

/* Copies a valid access token into `token`, fetching one if needed. 0 or
 * -1 (with res->state set). */
static int paypal_token(const live_config *c, char *token, size_t cap, int force, live_result *res)
{
	char url[512], cred[600], auth[1000];
	unsigned char enc[900];
	const char *headers[3];
	http_response r;
	json_t *root;
	json_error_t jerr;
	int rc = -1;

	pthread_mutex_lock(&pp.lock);
	if (!force && pp.token[0] && time(NULL) < pp.expires) {
		copy(token, cap, pp.token);
		pthread_mutex_unlock(&pp.lock);
		return 0;
	}
	snprintf(url, sizeof(url), "%s/v1/oauth2/token", c->paypal_url);
	snprintf(cred, sizeof(cred), "%s:%s", c->paypal_client_id, c->paypal_secret);
	EVP_EncodeBlock(enc, (const unsigned char *)cred, (int)strlen(cred));
	snprintf(auth, sizeof(auth), "Authorization: Basic %s", enc);
	headers[0] = auth;
	headers[1] = "Content-Type: application/x-www-form-urlencoded";
	headers[2] = NULL;
	http_request("POST", url, headers, "grant_type=client_credentials", &c->timeouts, &r);
	note_response(&r, res);
	if (retryable(&r)) {
		unknown(&r, res);
		goto done;
	}
	root = r.body ? json_loads(r.body, 0, &jerr) : NULL;
	if (r.status == 200 && jstr(root, "access_token")) {
		long ttl = (long)json_integer_value(json_object_get(root, "expires_in"));
		copy(pp.token, sizeof(pp.token), jstr(root, "access_token"));
		pp.expires = time(NULL) + (ttl > 120 ? ttl - 60 : ttl / 2);
		copy(token, cap, pp.token);
		rc = 0;
	} else {
		res->state = r.status == 401 || r.status == 403 ? LIVE_AUTH : LIVE_ERROR;
		copy(res->code, sizeof(res->code), "paypal_auth_failed");
		snprintf(res->message, sizeof(res->message),
			 "PayPal token request answered HTTP %ld", r.status);
	}
	json_decref(root);
done:
	explicit_bzero(cred, sizeof(cred));
	explicit_bzero(auth, sizeof(auth));
	http_response_free(&r);
	pthread_mutex_unlock(&pp.lock);
	return rc;
}

/* The link of `o` (an order or an error) a buyer should be sent to. */
static void paypal_buyer_link(json_t *o, live_result *out)
{
	json_t *links = json_object_get(o, "links"), *l;
	size_t i;
	json_array_foreach(links, i, l)
	{
		const char *rel = jstr(l, "rel");
		if (rel && (strcmp(rel, "approve") == 0 || strcmp(rel, "payer-action") == 0 ||
			    strcmp(rel, "redirect") == 0))
			copy(out->approval_url, sizeof(out->approval_url), jstr(l, "href"));
	}
}

/* Reads a PayPal order object (components.schemas.order) into out. */
static void paypal_order(json_t *o, int64_t amount, const char *currency, live_result *out)
{
	const char *st = jstr(o, "status");
	json_t *pu = json_array_get(json_object_get(o, "purchase_units"), 0);
	json_t *cap = json_array_get(json_object_get(json_object_get(pu, "payments"), "captures"),
				     0);

	copy(out->provider_id, sizeof(out->provider_id), jstr(o, "id"));
	copy(out->order_ref, sizeof(out->order_ref), jstr(pu, "custom_id"));
	paypal_buyer_link(o, out);
	copy(out->code, sizeof(out->code), st);
	if (st && strcmp(st, "COMPLETED") == 0 && cap) {
		json_t *amt = json_object_get(cap, "amount");
		const char *cs = jstr(cap, "status");
		copy(out->capture_id, sizeof(out->capture_id), jstr(cap, "id"));
		copy(out->currency, sizeof(out->currency), jstr(amt, "currency_code"));
		if (!jstr(amt, "value") || currency_parse(PAY_KIND_PAYPAL, out->currency,
							  jstr(amt, "value"), &out->amount) != 0)
			out->amount = -1;
		copy(out->code, sizeof(out->code), cs);
		if (out->amount != amount || strcasecmp(out->currency, currency) != 0) {
			out->state = LIVE_ERROR;
			snprintf(out->message, sizeof(out->message),
				 "capture of %lld %s, expected %lld %s", (long long)out->amount,
				 out->currency, (long long)amount, currency);
		} else if (cs && (strcmp(cs, "COMPLETED") == 0 || strcmp(cs, "REFUNDED") == 0 ||
				  strcmp(cs, "PARTIALLY_REFUNDED") == 0)) {
			out->state = LIVE_SUCCEEDED;
		} else if (cs && strcmp(cs, "PENDING") == 0) {
			out->state = LIVE_UNKNOWN; /* the money has not cleared yet */
			copy(out->message, sizeof(out->message), "PayPal capture PENDING");
		} else {
			out->state = LIVE_DECLINED; /* DECLINED, FAILED */
		}
	} else if (st && strcmp(st, "COMPLETED") == 0) {
		out->state = LIVE_UNKNOWN;
		copy(out->message, sizeof(out->message), "COMPLETED order without a capture");
	} else if (st && strcmp(st, "VOIDED") == 0) {
		out->state = LIVE_CANCELED;
	} else {
		out->state = LIVE_PENDING; /* CREATED, SAVED, APPROVED, PAYER_ACTION_REQUIRED */
	}
}

/* One authenticated PayPal call, retried once with a fresh token on 401.
 * -1 when no request could be made (out says why). */
static int paypal_call(const live_config *c, const char *method, const char *path,
		       const char *request_id, const char *body, http_response *r, live_result *out)
{
	char url[512], token[512], auth[600], rid[200];
	const char *headers[6];
	for (int attempt = 0; attempt < 2; attempt++) {
		int n = 0;
		if (paypal_token(c, token, sizeof(token), attempt > 0, out) != 0)
			return -1;
		snprintf(url, sizeof(url), "%s%s", c->paypal_url, path);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		explicit_bzero(token, sizeof(token));
		headers[n++] = auth;
		headers[n++] = "Content-Type: application/json";
		headers[n++] = "Prefer: return=representation";
		if (set(request_id)) {
			snprintf(rid, sizeof(rid), "PayPal-Request-Id: %s", request_id);
			headers[n++] = rid;
		}
		headers[n] = NULL;
		http_request(method, url, headers, body, &c->timeouts, r);
		explicit_bzero(auth, sizeof(auth));
		if (r->transport || r->status != 401 || attempt == 1)
			return 0;
		http_response_free(r);
	}
	return 0;
}

/* PayPal issues that mean "the buyer must go back to PayPal": the order
 * can still be paid (orders.capture-422). */
static int payer_action(const char *issue)
{
	return strcmp(issue, "ORDER_NOT_APPROVED") == 0 ||
	       strcmp(issue, "PAYER_ACTION_REQUIRED") == 0 ||
	       strcmp(issue, "INSTRUMENT_DECLINED") == 0 ||
	       strcmp(issue, "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING") == 0;
}

/* Issues that refuse this payer for good (orders.capture-422). */
static int payer_refused(const char *issue)
{
	static const char *const list[] = {"TRANSACTION_REFUSED",
					   "PAYER_CANNOT_PAY",
					   "PAYER_ACCOUNT_RESTRICTED",
					   "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
					   "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
					   "COMPLIANCE_VIOLATION",
					   "TRANSACTION_LIMIT_EXCEEDED",
					   "DECLINED_DUE_TO_RELATED_TXN",
					   NULL};
	for (const char *const *p = list; *p; p++)
		if (strcmp(*p, issue) == 0)
			return 1;
	return 0;
}

/* Interprets a PayPal answer or error. */
static void paypal_answer(http_response *r, int64_t amount, const char *currency,
			  void (*object)(json_t *, int64_t, const char *, live_result *),
			  live_result *out)
{
	json_t *root;
	json_error_t jerr;
	const char *issue;

	note_response(r, out);
	if (r->transport) {
		unknown(r, out);
		return;
	}
	root = r->body ? json_loads(r->body, 0, &jerr) : NULL;
	if (r->status >= 200 && r->status < 300 && json_is_object(root)) {
		object(root, amount, currency, out);
		json_decref(root);
		return;
	}
	issue = jstr(json_array_get(json_object_get(root, "details"), 0), "issue");
	copy(out->code, sizeof(out->code), issue ? issue : jstr(root, "name"));
	copy(out->message, sizeof(out->message), jstr(root, "message"));
	if (jstr(root, "debug_id"))
		copy(out->request_id, sizeof(out->request_id), jstr(root, "debug_id"));
	if (r->status >= 200 && r->status < 300)
		unknown(r, out);
	else if (retryable(r))
		unknown(r, out);
	else if (r->status == 401 || r->status == 403)
		out->state = LIVE_AUTH;
	else if (issue && payer_action(issue)) {
		out->state = LIVE_PENDING;
		paypal_buyer_link(root, out);
	} else if (issue && payer_refused(issue))
		out->state = LIVE_DECLINED;
	else
		out->state = LIVE_ERROR;
	json_decref(root);
}

int paypal_create(const live_config *c, const paypal_charge *ch, live_result *out)
{
	char value[40];
	json_t *body, *pu;
	char *text;
	http_response r;

	memset(out, 0, sizeof(*out));
	if (currency_format(PAY_KIND_PAYPAL, ch->currency, ch->amount, value, sizeof(value)) != 0) {
		out->state = LIVE_ERROR;
		copy(out->code, sizeof(out->code), "currency_not_chargeable");
		currency_chargeable(PAY_KIND_PAYPAL, ch->currency, ch->amount, out->message,
				    sizeof(out->message));
		return 0;
	}
	pu = json_pack("{s:s, s:s, s:{s:s, s:s}}", "reference_id", ch->order_id, "custom_id",
		       ch->order_id, "amount", "currency_code", ch->currency, "value", value);
	body = json_pack("{s:s, s:[o]}", "intent", "CAPTURE", "purchase_units", pu);
	if (set(ch->return_url) || set(ch->cancel_url)) {
		/* checkout_orders_v2.json paypal_wallet_experience_context */
		json_t *x = json_pack("{s:s, s:s}", "user_action", "PAY_NOW", "shipping_preference",
				      "NO_SHIPPING");
		if (set(ch->return_url))
			json_object_set_new(x, "return_url", json_string(ch->return_url));
		if (set(ch->cancel_url))
			json_object_set_new(x, "cancel_url", json_string(ch->cancel_url));
		json_object_set_new(body, "payment_source",
				    json_pack("{s:{s:o}}", "paypal", "experience_context", x));
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (paypal_call(c, "POST", "/v2/checkout/orders", ch->key, text, &r, out) == 0) {
		paypal_answer(&r, ch->amount, ch->currency, paypal_order, out);
		http_response_free(&r);
	}
	free(text);
	return 0;
}

int paypal_capture(const live_config *c, const char *paypal_order_id, const char *request_id,
		   int64_t amount, const char *currency, live_result *out)
{
	char path[256];
	http_response r;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/v2/checkout/orders/%s/capture", paypal_order_id);
	if (paypal_call(c, "POST", path, request_id, "{}", &r, out) != 0)
		return 0;
	paypal_answer(&r, amount, currency, paypal_order, out);
	http_response_free(&r);
	if (out->state == LIVE_ERROR && strcmp(out->code, "ORDER_ALREADY_CAPTURED") == 0)
		return paypal_get(c, paypal_order_id, amount, currency, out);
	if (!out->provider_id[0])
		copy(out->provider_id, sizeof(out->provider_id), paypal_order_id);
	return 0;
}

int paypal_get(const live_config *c, const char *paypal_order_id, int64_t amount,
	       const char *currency, live_result *out)
{
	char path[256];
	http_response r;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/v2/checkout/orders/%s", paypal_order_id);
	if (paypal_call(c, "GET", path, NULL, NULL, &r, out) != 0)
		return 0;
	paypal_answer(&r, amount, currency, paypal_order, out);
	http_response_free(&r);
	return 0;
}

static void paypal_refund_object(json_t *re, int64_t amount, const char *currency, live_result *out)
{
	const char *st = jstr(re, "status");
	json_t *amt = json_object_get(re, "amount");
	(void)amount;
	copy(out->capture_id, sizeof(out->capture_id), jstr(re, "id"));
	copy(out->currency, sizeof(out->currency), jstr(amt, "currency_code"));
	copy(out->code, sizeof(out->code), st);
	if (!jstr(amt, "value") ||
	    currency_parse(PAY_KIND_PAYPAL, currency, jstr(amt, "value"), &out->amount) != 0 ||
	    strcasecmp(out->currency, currency) != 0)
		out->state = LIVE_ERROR;
	else if (st && strcmp(st, "COMPLETED") == 0)
		out->state = LIVE_SUCCEEDED;
	else if (st && strcmp(st, "PENDING") == 0)
		out->state = LIVE_UNKNOWN;
	else
		out->state = LIVE_DECLINED; /* CANCELLED, FAILED */
}

int paypal_refund(const live_config *c, const char *capture_id, int64_t amount,
		  const char *currency, const char *request_id, live_result *out)
{
	char path[256], value[40];
	char *text;
	json_t *body;
	http_response r;

	memset(out, 0, sizeof(*out));
	body = json_object();
	if (amount > 0) {
		if (currency_format(PAY_KIND_PAYPAL, currency, amount, value, sizeof(value)) != 0) {
			json_decref(body);
			out->state = LIVE_ERROR;
			copy(out->code, sizeof(out->code), "currency_not_chargeable");
			return 0;
		}
		json_object_set_new(
			body, "amount",
			json_pack("{s:s, s:s}", "currency_code", currency, "value", value));
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	snprintf(path, sizeof(path), "/v2/payments/captures/%s/refund", capture_id);
	if (paypal_call(c, "POST", path, request_id, text, &r, out) == 0) {
		paypal_answer(&r, amount, currency, paypal_refund_object, out);
		http_response_free(&r);
	}
	free(text);
	return 0;
}

int paypal_verify_webhook(const live_config *c, const paypal_transmission *t,
			  const char *webhook_id, const char *event_json, int *verified)
{
	json_t *o, *root = NULL;
	json_error_t jerr;
	char *head, *text;
	size_t hl, el;
	http_response r;
	live_result out;
	int rc = -1;

	*verified = 0;
	memset(&out, 0, sizeof(out));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "auth_algo", or_empty(t->auth_algo),
		      "cert_url", or_empty(t->cert_url), "transmission_id",
		      or_empty(t->transmission_id), "transmission_sig",
		      or_empty(t->transmission_sig), "transmission_time",
		      or_empty(t->transmission_time), "webhook_id", or_empty(webhook_id));
	head = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!head)
		return -1;
	/* The event goes in exactly as it arrived (re-serializing could change
	 * what PayPal compares): {...head..., "webhook_event": <raw>}. */
	hl = strlen(head);
	el = strlen(event_json);
	text = xmalloc(hl + el + 32);
	if (!text) {
		free(head);
		return -1;
	}
	memcpy(text, head, hl - 1);
	memcpy(text + hl - 1, ",\"webhook_event\":", 17);
	memcpy(text + hl + 16, event_json, el);
	memcpy(text + hl + 16 + el, "}", 2);
	free(head);
	if (paypal_call(c, "POST", "/v1/notifications/verify-webhook-signature", NULL, text, &r,
			&out) == 0) {
		if (!r.transport && r.status == 200 && r.body)
			root = json_loads(r.body, 0, &jerr);
		if (root) {
			const char *st = jstr(root, "verification_status");
			*verified = st && strcmp(st, "SUCCESS") == 0;
			rc = 0;
		} else if (!r.transport && r.status >= 400 && r.status < 500 && r.status != 429) {
			rc = 0; /* refused: not verified */
		}
		json_decref(root);
		http_response_free(&r);
	}
	free(text);
	return rc;
}
