/*
 * The live Stripe and PayPal clients against tests/fakes/provider.js, which
 * speaks their wire formats: happy paths, declines, idempotent replay, and
 * the faults that leave an outcome unknown (500, 429, slow, dropped after the
 * charge) with the truth read back afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billingd.h"
#include "payments/live.h"
#include "spt_fake.h"
#include "spt_run.h"

billingd_state billingd; /* the handlers' globals; unused here */

static spt_fake fake;
static live_config cfg;

static void control(const char *json)
{
	CU_ASSERT_EQUAL(spt_fake_control(&fake, json), 0);
}

/* Successful charges the fake counted for one idempotency key. */
static int charges(const char *key)
{
	return spt_fake_charges(&fake, key);
}

static void test_amounts(void)
{
	char s[32];
	int64_t v;
	CU_ASSERT_EQUAL(live_amount_decimal(1234, "USD", s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "12.34");
	CU_ASSERT_EQUAL(live_amount_decimal(5, "EUR", s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "0.05");
	CU_ASSERT_EQUAL(live_amount_decimal(1234, "JPY", s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "1234");
	CU_ASSERT_EQUAL(live_amount_decimal(1234, "KWD", s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "1.234");
	CU_ASSERT_EQUAL(live_amount_decimal(-1, "USD", s, sizeof(s)), -1);
	CU_ASSERT_EQUAL(live_amount_parse("12.34", "USD", &v), 0);
	CU_ASSERT_EQUAL(v, 1234);
	CU_ASSERT_EQUAL(live_amount_parse("12.3", "USD", &v), 0);
	CU_ASSERT_EQUAL(v, 1230);
	CU_ASSERT_EQUAL(live_amount_parse("12", "USD", &v), 0);
	CU_ASSERT_EQUAL(v, 1200);
	CU_ASSERT_EQUAL(live_amount_parse("1.001", "USD", &v),
			-1); /* more digits than the currency has */
	CU_ASSERT_EQUAL(live_amount_parse("-1.00", "USD", &v), -1);
	CU_ASSERT_EQUAL(live_amount_parse("99999999999999999999", "USD", &v), -1);
}

static void test_stripe_visa_and_replay(void)
{
	live_result a, b;
	control("{\"fault\":\"none\"}");
	stripe_create(&cfg, "ord_visa", 1999, "USD", "cus_1", "pm_card_visa", 1, &a);
	CU_ASSERT_EQUAL(a.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(a.amount, 1999);
	CU_ASSERT_STRING_EQUAL(a.currency, "USD");
	CU_ASSERT_NSTRING_EQUAL(a.provider_id, "pi_", 3);
	/* The same order again: Stripe replays, no second charge. */
	stripe_create(&cfg, "ord_visa", 1999, "USD", "cus_1", "pm_card_visa", 1, &b);
	CU_ASSERT_EQUAL(b.state, LIVE_SUCCEEDED);
	CU_ASSERT_STRING_EQUAL(a.provider_id, b.provider_id);
	CU_ASSERT_EQUAL(charges("ord_visa"), 1);
	stripe_retrieve(&cfg, a.provider_id, 1999, "USD", &b);
	CU_ASSERT_EQUAL(b.state, LIVE_SUCCEEDED);
	/* The truth must match the order: another amount is not a success. */
	stripe_retrieve(&cfg, a.provider_id, 2000, "USD", &b);
	CU_ASSERT_EQUAL(b.state, LIVE_ERROR);
}

static void test_stripe_decline_and_pending(void)
{
	live_result r;
	stripe_create(&cfg, "ord_declined", 500, "USD", NULL, "pm_card_chargeDeclined", 0, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_DECLINED);
	CU_ASSERT_STRING_EQUAL(r.code, "generic_decline");
	CU_ASSERT_EQUAL(charges("ord_declined"), 0);
	stripe_create(&cfg, "ord_pending", 500, "USD", NULL, NULL, 0, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.client_secret, "_secret_"));
	stripe_create(&cfg, "ord_3ds", 500, "USD", NULL, "pm_card_authenticationRequired", 0, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_REQUIRES_ACTION);
}

static void test_stripe_faults(void)
{
	live_result r;
	control("{\"fault\":\"500\",\"times\":1}");
	stripe_create(&cfg, "ord_500", 700, "USD", NULL, "pm_card_visa", 0, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	CU_ASSERT_EQUAL(charges("ord_500"), 0);
	control("{\"fault\":\"429\",\"times\":1}");
	stripe_create(&cfg, "ord_429", 700, "USD", NULL, "pm_card_visa", 0, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	/* Dropped after the charge: unknown (or, when libcurl re-sends on a
	 * reused connection that died, replayed under the same key), one
	 * charge, and a retry with the same key finds it without charging
	 * again. */
	control("{\"fault\":\"drop_after_charge\",\"times\":1}");
	stripe_create(&cfg, "ord_drop", 800, "USD", NULL, "pm_card_visa", 0, &r);
	CU_ASSERT(r.state == LIVE_UNKNOWN || r.state == LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_drop"), 1);
	stripe_create(&cfg, "ord_drop", 800, "USD", NULL, "pm_card_visa", 0, &r);
	CU_ASSERT_EQUAL(r.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_drop"), 1);
	/* Slower than our timeout. */
	control("{\"fault\":\"slow\",\"times\":1,\"slow_ms\":1500}");
	cfg.timeouts.total_ms = 300;
	stripe_create(&cfg, "ord_slow", 900, "USD", NULL, "pm_card_visa", 0, &r);
	cfg.timeouts.total_ms = 0;
	CU_ASSERT_EQUAL(r.state, LIVE_UNKNOWN);
	control("{\"fault\":\"none\"}");
}

static void test_paypal(void)
{
	live_result r, c;
	char body[128];
	paypal_create(&cfg, "ord_pp", 1234, "USD", &r);
	CU_ASSERT_EQUAL(r.state, LIVE_PENDING);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.approval_url, r.provider_id));
	paypal_capture(&cfg, r.provider_id, "ord_pp-capture", 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_PENDING); /* not approved yet */
	CU_ASSERT_STRING_EQUAL(c.code, "ORDER_NOT_APPROVED");
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", r.provider_id);
	control(body);
	paypal_capture(&cfg, r.provider_id, "ord_pp-capture", 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(c.amount, 1234);
	/* Captured again (a lost answer): read back, still one charge. */
	paypal_capture(&cfg, r.provider_id, "ord_pp-capture", 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_SUCCEEDED);
	CU_ASSERT_EQUAL(charges("ord_pp-capture"), 1);
	paypal_get(&cfg, r.provider_id, 1234, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_SUCCEEDED);
	paypal_get(&cfg, r.provider_id, 1235, "USD", &c);
	CU_ASSERT_EQUAL(c.state, LIVE_ERROR);
	/* Create replayed by PayPal-Request-Id. */
	paypal_create(&cfg, "ord_pp", 1234, "USD", &c);
	CU_ASSERT_STRING_EQUAL(c.provider_id, r.provider_id);
}

static int suite_init(void)
{
	if (spt_fake_start(&fake, NULL, NULL) != 0)
		return -1;
	cfg.stripe_url = fake.url;
	cfg.stripe_key = "sk_test_fake";
	cfg.paypal_url = fake.url;
	cfg.paypal_client_id = "client";
	cfg.paypal_secret = "secret";
	return 0;
}

static int suite_clean(void)
{
	spt_fake_stop(&fake);
	http_thread_cleanup();
	return 0;
}

static CU_TestInfo tests[] = {
	{"amounts convert exactly per currency exponent", test_amounts},
	{"stripe visa succeeds and replays without a second charge", test_stripe_visa_and_replay},
	{"stripe decline, pending and requires_action", test_stripe_decline_and_pending},
	{"stripe faults leave the outcome unknown, never a double charge", test_stripe_faults},
	{"paypal create, approve, capture, replay", test_paypal},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"live_providers", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "NODE PROVIDER_JS", suites);
}
