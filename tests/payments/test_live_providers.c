/*
 * The live Stripe and PayPal clients against tests/fakes/provider.js, which
 * speaks their wire formats: happy paths, declines, idempotent replay, and
 * the faults that leave an outcome unknown (500, 429, slow, dropped after the
 * charge) with the truth read back afterwards.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "billingd.h"
#include "payments/live.h"

billingd_state billingd; /* the handlers' globals; unused here */

static pid_t fake_pid;
static char base[64];
static live_config cfg;

static void control(const char *json)
{
	char url[128], body_copy[256];
	http_response r;
	const char *h[] = {"Content-Type: application/json", NULL};
	snprintf(url, sizeof(url), "%s/_control", base);
	snprintf(body_copy, sizeof(body_copy), "%s", json);
	http_request("POST", url, h, body_copy, NULL, &r);
	http_response_free(&r);
}

/* Successful charges the fake counted for one idempotency key. */
static int charges(const char *key)
{
	char url[128], needle[160];
	http_response r;
	int n = 0;
	snprintf(url, sizeof(url), "%s/_stats", base);
	http_request("GET", url, NULL, NULL, NULL, &r);
	snprintf(needle, sizeof(needle), "\"%s\":", key);
	if (r.body) {
		const char *p = strstr(r.body, needle);
		if (p)
			n = (int)strtol(p + strlen(needle), NULL, 10);
	}
	http_response_free(&r);
	return n;
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

static int start_fake(const char *node, const char *script)
{
	char pf[] = "/tmp/spb-fake-XXXXXX", path[128];
	FILE *f;
	int port = 0;
	if (!mkdtemp(pf))
		return -1;
	snprintf(path, sizeof(path), "%s/port", pf);
	fake_pid = fork();
	if (fake_pid == 0) {
		execl(node, node, script, "--port-file", path, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && port == 0; i++) {
		usleep(50000);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
	}
	unlink(path);
	rmdir(pf);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	return port ? 0 : -1;
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned failures;
	if (argc != 3 || start_fake(argv[1], argv[2]) != 0) {
		fprintf(stderr,
			"usage: test_live_providers <node> <provider.js> (fake did not start)\n");
		return 1;
	}
	cfg.stripe_url = base;
	cfg.stripe_key = "sk_test_fake";
	cfg.paypal_url = base;
	cfg.paypal_client_id = "client";
	cfg.paypal_secret = "secret";
	CU_initialize_registry();
	s = CU_add_suite("live_providers", NULL, NULL);
	CU_add_test(s, "amounts convert exactly per currency exponent", test_amounts);
	CU_add_test(s, "stripe visa succeeds and replays without a second charge",
		    test_stripe_visa_and_replay);
	CU_add_test(s, "stripe decline, pending and requires_action",
		    test_stripe_decline_and_pending);
	CU_add_test(s, "stripe faults leave the outcome unknown, never a double charge",
		    test_stripe_faults);
	CU_add_test(s, "paypal create, approve, capture, replay", test_paypal);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	kill(fake_pid, SIGTERM);
	waitpid(fake_pid, NULL, 0);
	http_thread_cleanup();
	return failures ? 1 : 0;
}
