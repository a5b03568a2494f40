/*
 * The live Stripe and PayPal clients (server/payments/live.c) and the
 * currency tables against tests/fakes/provider.js, which behaves as the
 * providers' specifications say: idempotent replay of the first saved answer
 * (500s included) for 24 h and then a fresh execution, validation errors not
 * saved, 3-D Secure on- and off-session, cancel, search (with its lag),
 * refunds, PayPal's currency table and request-id window, and the faults
 * that leave an outcome unknown. Every check reads the fake's own records
 * (/_stats, /_ledger, /_requests) as well as what the client answered.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "billingd.h"
#include "fakectl.h"
#include "payments/currency.h"
#include "payments/live.h"

billingd_state billingd; /* the handlers' globals; unused here */

static live_config cfg;

/* Money captured under one idempotency key / request id, per the fake. */
static int charges(const char *key)
{
	json_t *s = fakectl_call("GET", "/_stats", NULL, NULL, NULL, NULL);
	int n = (int)json_integer_value(json_object_get(json_object_get(s, "charges"), key));
	json_decref(s);
	return n;
}

/* The form parameters of the last request the fake logged for `path`. */
static json_t *last_params(const char *path)
{
	json_t *s = fakectl_call("GET", "/_requests", NULL, NULL, NULL, NULL), *req, *found = NULL;
	size_t i;
	json_array_foreach(json_object_get(s, "requests"), i, req)
	{
		const char *p = json_string_value(json_object_get(req, "path"));
		if (p && strcmp(p, path) == 0)
			found = json_object_get(req, "params");
	}
	json_incref(found);
	json_decref(s);
	return found;
}

static stripe_charge charge(const char *key, int64_t amount, const char *cur, const char *pm,
			    int off)
{
	stripe_charge c = {.key = key,
			   .order_id = key,
			   .amount = amount,
			   .currency = cur,
			   .customer = pm ? "cus_1" : NULL,
			   .payment_method = pm,
			   .off_session = off,
			   .return_url = off ? NULL : "https://app.example/return"};
	return c;
}

/* ------------------------------------------------------------------------ */

static void test_currency_tables(void)
{
	char s[32], why[128];
	int64_t v;
	CU_ASSERT_EQUAL(currency_exponent("USD"), 2);
	CU_ASSERT_EQUAL(currency_exponent("jpy"), 0);
	CU_ASSERT_EQUAL(currency_exponent("KWD"), 3);
	CU_ASSERT_EQUAL(currency_exponent("US"), -1);
	/* Stripe: three-decimal amounts end in 0; eight digits at most. */
	CU_ASSERT_EQUAL(currency_chargeable(PAY_KIND_STRIPE, "KWD", 1234, why, sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "ending in 0"));
	CU_ASSERT_EQUAL(currency_chargeable(PAY_KIND_STRIPE, "KWD", 1230, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(currency_chargeable(PAY_KIND_STRIPE, "USD", 100000000, why, sizeof(why)),
			-1);
	CU_ASSERT_EQUAL(currency_chargeable(PAY_KIND_STRIPE, "XYZ", 100, why, sizeof(why)), -1);
	/* PayPal: its own table. */
	CU_ASSERT_EQUAL(currency_chargeable(PAY_KIND_PAYPAL, "KWD", 1230, why, sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "PayPal does not accept"));
	CU_ASSERT_EQUAL(currency_supported(PAY_KIND_PAYPAL, "BHD"), 0);
	CU_ASSERT_EQUAL(currency_supported(PAY_KIND_PAYPAL, "TND"), 0);
	CU_ASSERT_EQUAL(currency_chargeable(PAY_KIND_PAYPAL, "HUF", 123456, why, sizeof(why)), -1);
	CU_ASSERT_EQUAL(currency_chargeable(PAY_KIND_PAYPAL, "HUF", 123400, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(currency_format(PAY_KIND_PAYPAL, "HUF", 123400, s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "1234");
	CU_ASSERT_EQUAL(currency_format(PAY_KIND_PAYPAL, "TWD", 5000, s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "50");
	CU_ASSERT_EQUAL(currency_format(PAY_KIND_PAYPAL, "JPY", 1234, s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "1234");
	CU_ASSERT_EQUAL(currency_format(PAY_KIND_PAYPAL, "USD", 5, s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "0.05");
	CU_ASSERT_EQUAL(currency_format(PAY_KIND_PAYPAL, "HUF", 123456, s, sizeof(s)), -1);
	CU_ASSERT_EQUAL(currency_parse(PAY_KIND_PAYPAL, "HUF", "1234", &v), 0);
	CU_ASSERT_EQUAL(v, 123400);
	CU_ASSERT_EQUAL(currency_parse(PAY_KIND_PAYPAL, "HUF", "1234.5", &v), -1);
	CU_ASSERT_EQUAL(currency_parse(PAY_KIND_PAYPAL, "USD", "12.3", &v), 0);
	CU_ASSERT_EQUAL(v, 1230);
	CU_ASSERT_EQUAL(currency_parse(PAY_KIND_PAYPAL, "USD", "1.001", &v), -1);
	CU_ASSERT_EQUAL(currency_parse(PAY_KIND_PAYPAL, "USD", "-1.00", &v), -1);
	CU_ASSERT_EQUAL(currency_parse(PAY_KIND_PAYPAL, "USD", "99999999999999999999", &v), -1);
}

static void test_stripe_visa_and_replay(void)
{
	live_result a, b;
	stripe_charge c = charge("ord_visa", 1999, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"reset\":true}");
	stripe_create(&cfg, &c, &a);
	CU_ASSERT_EQUAL(a.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(a.amount, 1999);
	CU_ASSERT_STRING_EQUAL(a.currency, "USD");
	CU_ASSERT_NSTRING_EQUAL(a.provider_id, "pi_", 3);
	CU_ASSERT_NSTRING_EQUAL(a.capture_id, "ch_", 3);
	CU_ASSERT_NSTRING_EQUAL(a.request_id, "req_", 4);
	CU_ASSERT_EQUAL(a.replayed, 0);
	/* The same order again: Stripe replays, no second charge. */
	stripe_create(&cfg, &c, &b);
	CU_ASSERT_EQUAL(b.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(b.replayed, 1);
	CU_ASSERT_STRING_EQUAL(a.provider_id, b.provider_id);
	CU_ASSERT_EQUAL(charges("ord_visa"), 1);
	stripe_retrieve(&cfg, a.provider_id, 1999, "USD", &b);
	CU_ASSERT_EQUAL(b.state, LIVE_SUCCEEDED);
	/* The truth must match the order: another amount is not a success. */
	stripe_retrieve(&cfg, a.provider_id, 2000, "USD", &b);
	CU_ASSERT_EQUAL(b.state, LIVE_ERROR);
	CU_ASSERT_STRING_EQUAL(b.code, "amount_mismatch");
	/* The same key with other parameters: an idempotency error, no charge. */
	c.amount = 2999;
	stripe_create(&cfg, &c, &b);
	CU_ASSERT_EQUAL(b.state, LIVE_ERROR);
	CU_ASSERT_STRING_EQUAL(b.code, "idempotency_error");
	CU_ASSERT_EQUAL(charges("ord_visa"), 1);
}

static void test_stripe_session_parameters(void)
{
	live_result r;
	stripe_charge on = charge("ord_on", 500, "EUR", "pm_card_visa", 0);
	stripe_charge off = charge("ord_off", 500, "EUR", "pm_card_visa", 1);
	json_t *p;
	stripe_create(&cfg, &on, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	p = last_params("/v1/payment_intents");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "use_stripe_sdk")), "true");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "return_url")),
			       "https://app.example/return");
	CU_ASSERT_PTR_NULL(json_object_get(p, "off_session"));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "currency")), "eur");
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(p, "metadata"), "order_id")),
		"ord_on");
	json_decref(p);
	stripe_create(&cfg, &off, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	p = last_params("/v1/payment_intents");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "off_session")), "true");
	CU_ASSERT_PTR_NULL(json_object_get(p, "use_stripe_sdk"));
	CU_ASSERT_PTR_NULL(json_object_get(p, "return_url"));
	json_decref(p);
}

static void test_stripe_3ds(void)
{
	live_result r, t;
	char body[200];
	stripe_charge on = charge("ord_3ds_on", 1500, "USD", "pm_card_authenticationRequired", 0);
	stripe_charge off = charge("ord_3ds_off", 1500, "USD", "pm_card_authenticationRequired", 1);
	/* Buyer present: requires_action with a client secret for the app. */
	stripe_create(&cfg, &on, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_REQUIRES_ACTION);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.client_secret, "_secret_"));
	CU_ASSERT_STRING_EQUAL(r.next_action, "use_stripe_sdk");
	CU_ASSERT_EQUAL(charges("ord_3ds_on"), 0);
	snprintf(body, sizeof(body), "{\"authenticate\":\"%s\"}", r.provider_id);
	fakectl_ctl(body);
	stripe_retrieve(&cfg, r.provider_id, 1500, "USD", &t);
	CU_ASSERT_EQUAL(t.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_3ds_on"), 1);
	/* No buyer: 402 authentication_required, the intent kept for later. */
	stripe_create(&cfg, &off, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_DECLINED);
	CU_ASSERT_STRING_EQUAL(r.code, "authentication_required");
	CU_ASSERT_EQUAL(r.http_status, 402);
	CU_ASSERT_NSTRING_EQUAL(r.provider_id, "pi_", 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.client_secret, "_secret_"));
	CU_ASSERT_EQUAL(charges("ord_3ds_off"), 0);
	stripe_retrieve(&cfg, r.provider_id, 1500, "USD", &t);
	CU_ASSERT_EQUAL(t.state, LIVE_DECLINED); /* requires_payment_method + last error */
	/* Set up for off-session use: off-session succeeds, on-session asks. */
	off = charge("ord_setup_off", 700, "USD", "pm_card_authenticationRequiredOnSetup", 1);
	stripe_create(&cfg, &off, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	on = charge("ord_setup_on", 700, "USD", "pm_card_authenticationRequiredOnSetup", 0);
	stripe_create(&cfg, &on, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_REQUIRES_ACTION);
}

static void test_stripe_declines_and_pending(void)
{
	live_result r;
	stripe_charge c = charge("ord_declined", 500, "USD", "pm_card_chargeDeclined", 0);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_DECLINED);
	CU_ASSERT_STRING_EQUAL(r.code, "generic_decline");
	CU_ASSERT_EQUAL(charges("ord_declined"), 0);
	c = charge("ord_nsf", 500, "USD", "pm_card_chargeDeclinedInsufficientFunds", 0);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_DECLINED);
	CU_ASSERT_STRING_EQUAL(r.code, "insufficient_funds");
	c = charge("ord_pending", 500, "USD", NULL, 0);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.client_secret, "_secret_"));
}

/* Validation errors are 400s that Stripe does not save under the key. */
static void test_stripe_validation(void)
{
	live_result r;
	long st;
	json_t *j;
	stripe_charge c = charge("ord_kwd", 1235, "KWD", "pm_card_visa", 0);
	j = fakectl_call("POST", "/v1/payment_intents", "amount=100&currency=usd&colour=red",
			 "sk_test_x", "Idempotency-Key: ord_raw", &st);
	CU_ASSERT_EQUAL(st, 400);
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(j, "error"), "code")),
		"parameter_unknown");
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(j, "error"), "param")), "colour");
	json_decref(j);
	j = fakectl_call("POST", "/v1/payment_intents", "currency=usd", "sk_test_x",
			 "Idempotency-Key: ord_raw", &st);
	CU_ASSERT_EQUAL(st, 400);
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(j, "error"), "code")),
		"parameter_missing");
	json_decref(j);
	j = fakectl_call("POST", "/v1/payment_intents",
			 "amount=100&currency=usd&payment_method_options[colour]=red", "sk_test_x",
			 NULL, &st);
	CU_ASSERT_EQUAL(st, 400);
	json_decref(j);
	/* Nothing was saved: the same key with good parameters executes. */
	j = fakectl_call("POST", "/v1/payment_intents", "amount=100&currency=usd", "sk_test_x",
			 "Idempotency-Key: ord_raw", &st);
	CU_ASSERT_EQUAL(st, 200);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "status")),
			       "requires_payment_method");
	json_decref(j);
	/* A three-decimal amount not ending in 0: rejected, with its Request-Id. */
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_ERROR);
	CU_ASSERT_EQUAL(r.http_status, 400);
	CU_ASSERT_NSTRING_EQUAL(r.request_id, "req_", 4);
	c.amount = 1230;
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	/* An unsupported currency. */
	c = charge("ord_xyz", 100, "XYZ", "pm_card_visa", 0);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_ERROR);
}

/* 500s after execution began are saved and replayed until the key is
 * pruned after 24 h; then the same key charges anew. */
static void test_stripe_saved_500_and_key_expiry(void)
{
	live_result r;
	int n;
	stripe_charge c = charge("ord_s500", 800, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"fault\":\"500_saved\",\"times\":1}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_EQUAL(r.http_status, 500);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN); /* the saved 500, replayed */
	CU_ASSERT_EQUAL(r.replayed, 1);
	CU_ASSERT_EQUAL(charges("ord_s500"), 0);
	stripe_search(&cfg, "ord_s500", 800, "USD", &r, &n);
	CU_ASSERT_EQUAL(r.state, LIVE_NOT_FOUND);
	CU_ASSERT_EQUAL(n, 0);
	/* 23 h later: still the saved 500. */
	fakectl_ctl("{\"advance_s\":82800}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_EQUAL(r.replayed, 1);
	/* Past 24 h the key is pruned: the same request is a NEW charge. */
	fakectl_ctl("{\"advance_s\":3601}");
	CU_ASSERT(fakectl_stat("keys_expired") >= 1);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(r.replayed, 0);
	CU_ASSERT_EQUAL(charges("ord_s500"), 1);

	/* A 500 after the charge: replayed as 500, the money found by search. */
	c = charge("ord_a500", 900, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"fault\":\"500_after_charge\",\"times\":1}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_EQUAL(charges("ord_a500"), 1);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	stripe_search(&cfg, "ord_a500", 900, "USD", &r, &n);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_NSTRING_EQUAL(r.provider_id, "pi_", 3);
	CU_ASSERT_EQUAL(charges("ord_a500"), 1);
}

static void test_stripe_retryable_classes(void)
{
	live_result r;
	stripe_charge c = charge("ord_429", 700, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"fault\":\"429\",\"times\":1,\"retry_after_s\":2}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_EQUAL(r.http_status, 429);
	CU_ASSERT_EQUAL(r.retry_after_ms, 2000);
	stripe_create(&cfg, &c, &r); /* rate limiting saved nothing */
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(r.replayed, 0);
	c = charge("ord_lock", 700, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"fault\":\"lock_timeout\",\"times\":1}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_EQUAL(r.http_status, 409);
	CU_ASSERT_STRING_EQUAL(r.code, "lock_timeout");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	c = charge("ord_424", 700, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"fault\":\"424\",\"times\":1}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_EQUAL(charges("ord_424"), 0);
	/* Our own key refused: an operator error, not a decline. */
	c = charge("ord_401", 700, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"fault\":\"401\",\"times\":1}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_AUTH);
	fakectl_ctl("{\"fault\":\"403\",\"times\":1}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_AUTH);
	CU_ASSERT_EQUAL(charges("ord_401"), 0);
	fakectl_ctl("{\"fault\":\"none\"}");
}

static void test_stripe_transport_faults(void)
{
	live_result r;
	stripe_charge c = charge("ord_drop", 800, "USD", "pm_card_visa", 0);
	/* Dropped after the charge: unknown (or, when libcurl re-sends on a
	 * reused connection that died, replayed under the same key), one
	 * charge, and a retry with the same key finds it. */
	fakectl_ctl("{\"fault\":\"drop_after_charge\",\"times\":1}");
	stripe_create(&cfg, &c, &r);
	CU_ASSERT(r.state == LIVE_UNKNOWN || r.state == LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_drop"), 1);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_drop"), 1);
	/* Slower than our timeout. */
	c = charge("ord_slow", 900, "USD", "pm_card_visa", 0);
	fakectl_ctl("{\"fault\":\"slow\",\"times\":1,\"slow_ms\":1500}");
	cfg.timeouts.total_ms = 300;
	stripe_create(&cfg, &c, &r);
	cfg.timeouts.total_ms = 0;
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	/* Still executing at the provider: the same key is "in use" (409). */
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_STRING_EQUAL(r.code, "idempotency_key_in_use");
	usleep(1600 * 1000);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_slow"), 1);
	fakectl_ctl("{\"fault\":\"none\"}");
}

static void test_stripe_cancel_search_refund(void)
{
	live_result r, k;
	int n;
	json_t *led;
	stripe_charge c = charge("ord_cx", 1200, "USD", NULL, 0);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	stripe_cancel(&cfg, r.provider_id, "ord_cx-cancel", "abandoned", 1200, "USD", &k);
	CU_ASSERT_EQUAL(k.state, LIVE_CANCELED);
	stripe_cancel(&cfg, r.provider_id, "ord_cx-cancel", "abandoned", 1200, "USD", &k);
	CU_ASSERT_EQUAL(k.state, LIVE_CANCELED); /* replayed */
	/* Cancel of an intent that already took the money: the truth. */
	c = charge("ord_cxok", 1300, "USD", "pm_card_visa", 0);
	stripe_create(&cfg, &c, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	stripe_cancel(&cfg, r.provider_id, "ord_cxok-cancel", "abandoned", 1300, "USD", &k);
	CU_ASSERT_EQUAL(k.state, LIVE_SUCCEEDED);
	CU_ASSERT_STRING_EQUAL(k.provider_id, r.provider_id);
	/* Search lags writes. */
	fakectl_ctl("{\"search_lag_ms\":60000}");
	c = charge("ord_lag", 1400, "USD", "pm_card_visa", 0);
	stripe_create(&cfg, &c, &r);
	stripe_search(&cfg, "ord_lag", 1400, "USD", &k, &n);
	CU_ASSERT_EQUAL(k.state, LIVE_NOT_FOUND);
	fakectl_ctl("{\"advance_s\":61}");
	stripe_search(&cfg, "ord_lag", 1400, "USD", &k, &n);
	CU_ASSERT_EQUAL(k.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(n, 1);
	fakectl_ctl("{\"search_lag_ms\":0}");
	/* Refund all, then again: already refunded. */
	stripe_refund(&cfg, r.provider_id, 0, "USD", "ord_lag-refund", &k);
	CU_ASSERT_EQUAL(k.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(k.amount, 1400);
	CU_ASSERT_NSTRING_EQUAL(k.capture_id, "re_", 3);
	stripe_refund(&cfg, r.provider_id, 0, "USD", "ord_lag-refund2", &k);
	CU_ASSERT_EQUAL(k.state, LIVE_ERROR);
	CU_ASSERT_STRING_EQUAL(k.code, "charge_already_refunded");
	led = fakectl_call("GET", "/_ledger", NULL, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(led, "refunds")), 1);
	json_decref(led);
}

static void test_paypal(void)
{
	live_result r, c;
	char body[128];
	paypal_charge ch = {
		.key = "ord_pp", .order_id = "ord_pp", .amount = 1234, .currency = "USD"};
	json_t *p;
	paypal_create(&cfg, &ch, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	CU_ASSERT_STRING_EQUAL(r.code, "CREATED");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.approval_url, r.provider_id));
	paypal_capture(&cfg, r.provider_id, "ord_pp-capture", 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_PENDING); /* not approved yet */
	CU_ASSERT_STRING_EQUAL(c.code, "ORDER_NOT_APPROVED");
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", r.provider_id);
	fakectl_ctl(body);
	paypal_capture(&cfg, r.provider_id, "ord_pp-capture", 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(c.amount, 1234);
	CU_ASSERT(c.capture_id[0] != 0);
	/* Captured again (a lost answer): replayed, still one charge. */
	paypal_capture(&cfg, r.provider_id, "ord_pp-capture", 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_pp-capture"), 1);
	/* Another request id: ORDER_ALREADY_CAPTURED, read back. */
	paypal_capture(&cfg, r.provider_id, "ord_pp-capture2", 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_SUCCEEDED);
	paypal_get(&cfg, r.provider_id, 1235, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_ERROR);
	/* Create replayed by PayPal-Request-Id. */
	paypal_create(&cfg, &ch, &c);
	CU_ASSERT_STRING_EQUAL(c.provider_id, r.provider_id);
	/* Refund. */
	paypal_get(&cfg, r.provider_id, 1234, "USD", &c);
	paypal_refund(&cfg, c.capture_id, 234, "USD", "ord_pp-refund", &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(r.amount, 234);
	/* With return/cancel URLs: payment_source.paypal.experience_context. */
	ch.key = ch.order_id = "ord_pp_urls";
	ch.return_url = "https://app.example/pp/return";
	ch.cancel_url = "https://app.example/pp/cancel";
	paypal_create(&cfg, &ch, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	CU_ASSERT_STRING_EQUAL(r.code, "PAYER_ACTION_REQUIRED");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.approval_url, r.provider_id));
	p = last_params("/v2/checkout/orders");
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(
			json_object_get(
				json_object_get(json_object_get(p, "payment_source"), "paypal"),
				"experience_context"),
			"return_url")),
		"https://app.example/pp/return");
	json_decref(p);
}

static void test_paypal_payer_states(void)
{
	live_result r, c;
	char body[300];
	paypal_charge ch = {
		.key = "ord_ppd", .order_id = "ord_ppd", .amount = 500, .currency = "EUR"};
	paypal_create(&cfg, &ch, &r);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\",\"paypal_decline\":\"%s\"}",
		 r.provider_id, r.provider_id);
	fakectl_ctl(body);
	paypal_capture(&cfg, r.provider_id, "ord_ppd-capture", 500, "EUR", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_PENDING); /* payable again: back to PayPal */
	CU_ASSERT_STRING_EQUAL(c.code, "INSTRUMENT_DECLINED");
	CU_ASSERT_PTR_NOT_NULL(strstr(c.approval_url, r.provider_id));
	CU_ASSERT_EQUAL(charges("ord_ppd-capture"), 0);
	/* A failed request is not stored: the same id runs again, and the
	 * order now waits for the buyer... */
	paypal_capture(&cfg, r.provider_id, "ord_ppd-capture", 500, "EUR", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_PENDING);
	CU_ASSERT_STRING_EQUAL(c.code, "PAYER_ACTION_REQUIRED");
	/* ...who picks another funding source; the same capture id succeeds. */
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", r.provider_id);
	fakectl_ctl(body);
	paypal_capture(&cfg, r.provider_id, "ord_ppd-capture", 500, "EUR", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_ppd-capture"), 1);
	/* PAYER_ACTION_REQUIRED at capture. */
	ch.key = ch.order_id = "ord_ppa";
	paypal_create(&cfg, &ch, &r);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\",\"paypal_payer_action\":\"%s\"}",
		 r.provider_id, r.provider_id);
	fakectl_ctl(body);
	paypal_capture(&cfg, r.provider_id, "ord_ppa-capture", 500, "EUR", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_PENDING);
	CU_ASSERT_STRING_EQUAL(c.code, "PAYER_ACTION_REQUIRED");
	paypal_get(&cfg, r.provider_id, 500, "EUR", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_PENDING);
	CU_ASSERT_STRING_EQUAL(c.code, "PAYER_ACTION_REQUIRED");
}

static void test_paypal_currencies_and_window(void)
{
	live_result r, c;
	long st;
	json_t *j;
	paypal_charge ch = {
		.key = "ord_huf", .order_id = "ord_huf", .amount = 123456, .currency = "HUF"};
	paypal_create(&cfg, &ch, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_ERROR); /* refused here, no request */
	CU_ASSERT_STRING_EQUAL(r.code, "currency_not_chargeable");
	ch.amount = 123400;
	paypal_create(&cfg, &ch, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	ch.key = ch.order_id = "ord_kwd_pp";
	ch.currency = "KWD";
	ch.amount = 1230;
	paypal_create(&cfg, &ch, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_ERROR);
	/* What the fake says to a client that sent them anyway. */
	paypal_get(&cfg, "NOSUCHORDER0", 1, "USD", &c); /* a token for the raw calls */
	CU_ASSERT_EQUAL(c.state, LIVE_ERROR);
	CU_ASSERT_EQUAL(c.http_status, 404);
	{
		char tok[600];
		json_t *t = fakectl_call("POST", "/v1/oauth2/token",
					 "grant_type=client_credentials", NULL,
					 "Authorization: Basic Y2xpZW50OnNlY3JldA==", &st);
		snprintf(tok, sizeof(tok), "%s",
			 json_string_value(json_object_get(t, "access_token")) ?: "");
		json_decref(t);
		j = fakectl_call(
			"POST", "/v2/checkout/orders",
			"{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{\"currency_"
			"code\":"
			"\"KWD\",\"value\":\"1.234\"}}]}",
			tok, NULL, &st);
		CU_ASSERT_EQUAL(st, 422);
		CU_ASSERT_STRING_EQUAL(
			json_string_value(json_object_get(
				json_array_get(json_object_get(j, "details"), 0), "issue")),
			"INVALID_CURRENCY_CODE");
		json_decref(j);
		j = fakectl_call(
			"POST", "/v2/checkout/orders",
			"{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{\"currency_"
			"code\":"
			"\"HUF\",\"value\":\"1234.56\"}}]}",
			tok, NULL, &st);
		CU_ASSERT_EQUAL(st, 422);
		CU_ASSERT_STRING_EQUAL(
			json_string_value(json_object_get(
				json_array_get(json_object_get(j, "details"), 0), "issue")),
			"DECIMAL_PRECISION");
		json_decref(j);
		j = fakectl_call(
			"POST", "/v2/checkout/orders",
			"{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"amount\":{\"currency_"
			"code\":"
			"\"USD\",\"value\":\"1.00\"},\"colour\":\"red\"}]}",
			tok, NULL, &st);
		CU_ASSERT_EQUAL(st, 400);
		json_decref(j);
	}
	/* PayPal-Request-Id is kept 6 h: after that the same id is a NEW order. */
	ch.key = ch.order_id = "ord_pp6h";
	ch.currency = "USD";
	ch.amount = 999;
	paypal_create(&cfg, &ch, &r);
	fakectl_ctl("{\"advance_s\":21601}");
	paypal_forget_token(); /* the fake's tokens live 9 h on its clock */
	paypal_create(&cfg, &ch, &c);
	CU_ASSERT_EQUAL(c.state, LIVE_PENDING);
	CU_ASSERT_STRING_NOT_EQUAL(c.provider_id, r.provider_id);
}

static void test_paypal_credentials(void)
{
	live_result r;
	live_config bad = cfg;
	paypal_charge ch = {
		.key = "ord_ppauth", .order_id = "ord_ppauth", .amount = 100, .currency = "USD"};
	fakectl_ctl("{\"paypal_client\":\"client:secret\"}");
	bad.paypal_secret = "wrong";
	paypal_forget_token();
	paypal_create(&bad, &ch, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_AUTH);
	paypal_forget_token();
	paypal_create(&cfg, &ch, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	fakectl_ctl("{\"paypal_client\":null}");
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned failures;
	if (argc != 3 || fakectl_start(argv[1], argv[2], NULL) != 0) {
		fprintf(stderr,
			"usage: test_live_providers <node> <provider.js> (fake did not start)\n");
		return 1;
	}
	cfg.stripe_url = fakectl_base;
	cfg.stripe_key = "sk_test_fake";
	cfg.paypal_url = fakectl_base;
	cfg.paypal_client_id = "client";
	cfg.paypal_secret = "secret";
	CU_initialize_registry();
	s = CU_add_suite("live_providers", NULL, NULL);
	CU_add_test(s, "currency tables: Stripe decimals, PayPal's own table",
		    test_currency_tables);
	CU_add_test(s, "stripe visa succeeds and replays without a second charge",
		    test_stripe_visa_and_replay);
	CU_add_test(s,
		    "stripe on-session sends use_stripe_sdk and return_url, off-session "
		    "off_session",
		    test_stripe_session_parameters);
	CU_add_test(s, "stripe 3-D Secure: requires_action on-session, 402 off-session",
		    test_stripe_3ds);
	CU_add_test(s, "stripe declines and pending", test_stripe_declines_and_pending);
	CU_add_test(s, "stripe validation errors are 400s not saved under the key",
		    test_stripe_validation);
	CU_add_test(s, "stripe saved 500s replay for 24 h, then the key charges anew",
		    test_stripe_saved_500_and_key_expiry);
	CU_add_test(s, "stripe 409/424/429 retryable with Retry-After, 401/403 operator errors",
		    test_stripe_retryable_classes);
	CU_add_test(s, "stripe transport faults leave the outcome unknown, never a double charge",
		    test_stripe_transport_faults);
	CU_add_test(s, "stripe cancel, search (with lag) and refund",
		    test_stripe_cancel_search_refund);
	CU_add_test(s, "paypal create, approve, capture, replay, refund, experience_context",
		    test_paypal);
	CU_add_test(s, "paypal INSTRUMENT_DECLINED and PAYER_ACTION_REQUIRED stay payable",
		    test_paypal_payer_states);
	CU_add_test(s, "paypal currency table and the 6 h request-id window",
		    test_paypal_currencies_and_window);
	CU_add_test(s, "paypal wrong credentials are an operator error", test_paypal_credentials);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	fakectl_stop();
	http_thread_cleanup();
	return failures ? 1 : 0;
}
