/*
 * live.c: Stripe PaymentIntents (form-encoded) and PayPal Orders v2 (JSON,
 * OAuth2 client credentials) over http.c, parsed with jansson. See live.h.
 * Secrets go only into Authorization headers; nothing here logs them.
 */
#include "live.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

/* ------------------------------------------------------------------------ */
/* Amounts                                                                   */

int live_currency_exponent(const char *cur)
{
	static const char *zero[] = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
				     "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
	static const char *three[] = {"BHD", "JOD", "KWD", "OMR", "TND"};
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		if (strcasecmp(cur, zero[i]) == 0)
			return 0;
	for (size_t i = 0; i < sizeof(three) / sizeof(three[0]); i++)
		if (strcasecmp(cur, three[i]) == 0)
			return 3;
	return 2;
}

int live_amount_decimal(int64_t minor, const char *currency, char *out, size_t cap)
{
	int e = live_currency_exponent(currency);
	int64_t div = e == 0 ? 1 : e == 3 ? 1000 : 100;
	if (minor < 0)
		return -1;
	if (e == 0)
		return snprintf(out, cap, "%lld", (long long)minor) < (int)cap ? 0 : -1;
	return snprintf(out, cap, "%lld.%0*lld", (long long)(minor / div), e,
			(long long)(minor % div)) < (int)cap
		       ? 0
		       : -1;
}

int live_amount_parse(const char *s, const char *currency, int64_t *minor)
{
	int e = live_currency_exponent(currency), frac_digits = 0;
	int64_t v = 0;
	const char *p = s;
	if (!*p)
		return -1;
	for (; *p && *p != '.'; p++) {
		if (!isdigit((unsigned char)*p) || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *p - '0', &v))
			return -1;
	}
	if (*p == '.') {
		for (p++; *p; p++, frac_digits++) {
			if (!isdigit((unsigned char)*p) || frac_digits >= e ||
			    __builtin_mul_overflow(v, 10, &v) ||
			    __builtin_add_overflow(v, *p - '0', &v))
				return -1;
		}
	}
	for (; frac_digits < e; frac_digits++)
		if (__builtin_mul_overflow(v, 10, &v))
			return -1;
	*minor = v;
	return 0;
}

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

/* A transport failure, 5xx or 429: the outcome is unknown. */
static int unknown(const http_response *r, live_result *out)
{
	out->state = LIVE_UNKNOWN;
	if (r->transport)
		copy(out->message, sizeof(out->message), r->error);
	else
		snprintf(out->message, sizeof(out->message), "provider answered HTTP %ld",
			 r->status);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Stripe                                                                    */

/* Fills out from a PaymentIntent object, checking amount and currency. */
static void stripe_intent(json_t *pi, int64_t amount, const char *currency, live_result *out)
{
	const char *st = jstr(pi, "status");
	json_t *err = json_object_get(pi, "last_payment_error");
	copy(out->provider_id, sizeof(out->provider_id), jstr(pi, "id"));
	copy(out->client_secret, sizeof(out->client_secret), jstr(pi, "client_secret"));
	out->amount = (int64_t)json_integer_value(json_object_get(pi, "amount"));
	copy(out->currency, sizeof(out->currency), jstr(pi, "currency"));
	for (char *p = out->currency; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (!st) {
		out->state = LIVE_ERROR;
		copy(out->message, sizeof(out->message), "PaymentIntent without a status");
	} else if (strcmp(st, "succeeded") == 0) {
		if (out->amount == amount && strcasecmp(out->currency, currency) == 0) {
			out->state = LIVE_SUCCEEDED;
		} else {
			out->state = LIVE_ERROR;
			snprintf(out->message, sizeof(out->message),
				 "PaymentIntent succeeded for %lld %s, expected %lld %s",
				 (long long)out->amount, out->currency, (long long)amount,
				 currency);
		}
	} else if (strcmp(st, "requires_action") == 0) {
		out->state = LIVE_REQUIRES_ACTION;
	} else if (strcmp(st, "requires_payment_method") == 0 && json_is_object(err)) {
		out->state = LIVE_DECLINED;
		copy(out->code, sizeof(out->code),
		     jstr(err, "decline_code") ? jstr(err, "decline_code") : jstr(err, "code"));
		copy(out->message, sizeof(out->message), jstr(err, "message"));
	} else if (strcmp(st, "canceled") == 0) {
		out->state = LIVE_CANCELED;
	} else if (strcmp(st, "processing") == 0) {
		out->state = LIVE_UNKNOWN;
		copy(out->message, sizeof(out->message), "payment still processing at Stripe");
	} else {
		out->state = LIVE_PENDING; /* requires_payment_method / _confirmation */
	}
}

/* Interprets a Stripe answer (PaymentIntent or error object). */
static int stripe_answer(http_response *r, int64_t amount, const char *currency, live_result *out)
{
	json_t *root;
	json_error_t jerr;
	if (r->transport || r->status >= 500 || r->status == 429)
		return unknown(r, out);
	root = r->body ? json_loads(r->body, 0, &jerr) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		return unknown(r, out);
	}
	if (r->status >= 200 && r->status < 300) {
		stripe_intent(root, amount, currency, out);
	} else {
		json_t *e = json_object_get(root, "error");
		json_t *pi = json_object_get(e, "payment_intent");
		const char *type = jstr(e, "type");
		if (json_is_object(pi))
			copy(out->provider_id, sizeof(out->provider_id), jstr(pi, "id"));
		copy(out->message, sizeof(out->message), jstr(e, "message"));
		if (type && strcmp(type, "card_error") == 0) {
			out->state = LIVE_DECLINED;
			copy(out->code, sizeof(out->code),
			     jstr(e, "decline_code") ? jstr(e, "decline_code") : jstr(e, "code"));
		} else {
			out->state = LIVE_ERROR;
			copy(out->code, sizeof(out->code),
			     jstr(e, "code") ? jstr(e, "code") : type);
		}
	}
	json_decref(root);
	return 0;
}

int stripe_create(const live_config *c, const char *order_id, int64_t amount, const char *currency,
		  const char *customer, const char *payment_method, int off_session,
		  live_result *out)
{
	char url[512], auth[300], idem[200], body[2048] = "", num[32], cur[4];
	const char *headers[5];
	http_response r;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s/v1/payment_intents", c->stripe_url);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->stripe_key);
	snprintf(idem, sizeof(idem), "Idempotency-Key: %s", order_id);
	snprintf(num, sizeof(num), "%lld", (long long)amount);
	for (int i = 0; i < 3 && currency[i]; i++)
		cur[i] = (char)tolower((unsigned char)currency[i]);
	cur[3] = 0;
	form_add(body, sizeof(body), "amount", num);
	form_add(body, sizeof(body), "currency", cur);
	form_add(body, sizeof(body), "metadata[order_id]", order_id);
	form_add(body, sizeof(body), "payment_method_types[]", "card");
	if (customer && *customer)
		form_add(body, sizeof(body), "customer", customer);
	if (payment_method && *payment_method) {
		form_add(body, sizeof(body), "payment_method", payment_method);
		form_add(body, sizeof(body), "confirm", "true");
		if (off_session)
			form_add(body, sizeof(body), "off_session", "true");
	}
	headers[0] = auth;
	headers[1] = idem;
	headers[2] = "Content-Type: application/x-www-form-urlencoded";
	headers[3] = "Stripe-Version: 2024-06-20";
	headers[4] = NULL;
	http_request("POST", url, headers, body, &c->timeouts, &r);
	stripe_answer(&r, amount, currency, out);
	http_response_free(&r);
	return 0;
}

int stripe_retrieve(const live_config *c, const char *intent_id, int64_t amount,
		    const char *currency, live_result *out)
{
	char url[512], auth[300];
	const char *headers[3];
	http_response r;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s/v1/payment_intents/%s", c->stripe_url, intent_id);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->stripe_key);
	headers[0] = auth;
	headers[1] = "Stripe-Version: 2024-06-20";
	headers[2] = NULL;
	http_request("GET", url, headers, NULL, &c->timeouts, &r);
	stripe_answer(&r, amount, currency, out);
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

/* Copies a valid access token into `out`, fetching one if needed. 0 or -1
 * (with out->state set). */
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
	if (r.transport || r.status >= 500 || r.status == 429) {
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
		res->state = LIVE_ERROR;
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

/* Reads a PayPal order object into out. */
static void paypal_order(json_t *o, int64_t amount, const char *currency, live_result *out)
{
	const char *st = jstr(o, "status");
	json_t *links = json_object_get(o, "links");
	json_t *pu = json_array_get(json_object_get(o, "purchase_units"), 0);
	json_t *cap = json_array_get(json_object_get(json_object_get(pu, "payments"), "captures"),
				     0);
	size_t i;
	json_t *l;

	copy(out->provider_id, sizeof(out->provider_id), jstr(o, "id"));
	json_array_foreach(links, i, l)
	{
		const char *rel = jstr(l, "rel");
		if (rel && (strcmp(rel, "approve") == 0 || strcmp(rel, "payer-action") == 0))
			copy(out->approval_url, sizeof(out->approval_url), jstr(l, "href"));
	}
	if (st && strcmp(st, "COMPLETED") == 0 && cap) {
		json_t *amt = json_object_get(cap, "amount");
		const char *cs = jstr(cap, "status");
		copy(out->currency, sizeof(out->currency), jstr(amt, "currency_code"));
		if (!jstr(amt, "value") ||
		    live_amount_parse(jstr(amt, "value"), out->currency, &out->amount) != 0)
			out->amount = -1;
		if (!cs || strcmp(cs, "COMPLETED") != 0) {
			out->state = cs && strcmp(cs, "PENDING") == 0 ? LIVE_UNKNOWN
								      : LIVE_DECLINED;
			copy(out->code, sizeof(out->code), cs);
		} else if (out->amount == amount && strcasecmp(out->currency, currency) == 0) {
			out->state = LIVE_SUCCEEDED;
		} else {
			out->state = LIVE_ERROR;
			snprintf(out->message, sizeof(out->message),
				 "capture of %lld %s, expected %lld %s", (long long)out->amount,
				 out->currency, (long long)amount, currency);
		}
	} else if (st && strcmp(st, "VOIDED") == 0) {
		out->state = LIVE_CANCELED;
	} else {
		out->state = LIVE_PENDING; /* CREATED, SAVED, APPROVED, PAYER_ACTION_REQUIRED */
		copy(out->code, sizeof(out->code), st);
	}
}

/* One authenticated PayPal call, retried once with a fresh token on 401. */
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
		headers[n++] = auth;
		headers[n++] = "Content-Type: application/json";
		headers[n++] = "Prefer: return=representation";
		if (request_id) {
			snprintf(rid, sizeof(rid), "PayPal-Request-Id: %s", request_id);
			headers[n++] = rid;
		}
		headers[n] = NULL;
		http_request(method, url, headers, body, &c->timeouts, r);
		explicit_bzero(auth, sizeof(auth));
		if (r->transport || r->status != 401)
			return 0;
		http_response_free(r);
	}
	out->state = LIVE_ERROR;
	copy(out->code, sizeof(out->code), "paypal_auth_failed");
	return -1;
}

/* Interprets a PayPal order answer or error. */
static void paypal_answer(http_response *r, int64_t amount, const char *currency, live_result *out)
{
	json_t *root;
	json_error_t jerr;
	if (r->transport || r->status >= 500 || r->status == 429) {
		unknown(r, out);
		return;
	}
	root = r->body ? json_loads(r->body, 0, &jerr) : NULL;
	if (r->status >= 200 && r->status < 300 && json_is_object(root)) {
		paypal_order(root, amount, currency, out);
	} else {
		json_t *d = json_array_get(json_object_get(root, "details"), 0);
		const char *issue = jstr(d, "issue");
		copy(out->code, sizeof(out->code), issue ? issue : jstr(root, "name"));
		copy(out->message, sizeof(out->message), jstr(root, "message"));
		if (issue && strcmp(issue, "ORDER_NOT_APPROVED") == 0)
			out->state = LIVE_PENDING;
		else if (issue && (strcmp(issue, "INSTRUMENT_DECLINED") == 0 ||
				   strcmp(issue, "PAYER_ACTION_REQUIRED") == 0 ||
				   strcmp(issue, "TRANSACTION_REFUSED") == 0))
			out->state = LIVE_DECLINED;
		else if (!json_is_object(root))
			unknown(r, out);
		else
			out->state = LIVE_ERROR;
	}
	json_decref(root);
}

int paypal_create(const live_config *c, const char *order_id, int64_t amount, const char *currency,
		  live_result *out)
{
	char value[40];
	json_t *body;
	char *text;
	http_response r;

	memset(out, 0, sizeof(*out));
	if (live_amount_decimal(amount, currency, value, sizeof(value)) != 0) {
		out->state = LIVE_ERROR;
		copy(out->code, sizeof(out->code), "bad_amount");
		return 0;
	}
	body = json_pack("{s:s, s:[{s:s, s:s, s:{s:s, s:s}}]}", "intent", "CAPTURE",
			 "purchase_units", "reference_id", order_id, "custom_id", order_id,
			 "amount", "currency_code", currency, "value", value);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (paypal_call(c, "POST", "/v2/checkout/orders", order_id, text, &r, out) == 0) {
		paypal_answer(&r, amount, currency, out);
		http_response_free(&r);
	}
	free(text);
	return 0;
}

/* Captures; an order captured before (a lost answer) is read back. */
int paypal_capture(const live_config *c, const char *paypal_order_id, const char *request_id,
		   int64_t amount, const char *currency, live_result *out)
{
	char path[256];
	http_response r;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/v2/checkout/orders/%s/capture", paypal_order_id);
	if (paypal_call(c, "POST", path, request_id, "{}", &r, out) != 0)
		return 0;
	paypal_answer(&r, amount, currency, out);
	http_response_free(&r);
	if (out->state == LIVE_ERROR && strcmp(out->code, "ORDER_ALREADY_CAPTURED") == 0)
		return paypal_get(c, paypal_order_id, amount, currency, out);
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
	paypal_answer(&r, amount, currency, out);
	http_response_free(&r);
	return 0;
}

int live_paypal_call(const live_config *c, const char *method, const char *path,
		     const char *request_id, const char *body, http_response *r, live_result *out)
{
	memset(r, 0, sizeof(*r));
	return paypal_call(c, method, path, request_id, body, r, out);
}
