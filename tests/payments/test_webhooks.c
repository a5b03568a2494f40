/*
 * Provider webhooks into the real billingd (--webhook-listen, server/httpd.c
 * and server/webhooks.c): the fake provider signs and sends its events as
 * Stripe and PayPal do, and the checks read the fake's own record of each
 * delivery's HTTP status. Stripe-Signature verification is also checked
 * directly: secrets being rolled, several v1 signatures, other schemes,
 * tampering, the 5-minute tolerance.
 *
 *   test_webhooks <billingd> <node> <provider.js>
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "spt_proc.h"
#include "billingd.h"
#include "fakectl.h"
#include "payments/http.h"
#include "spt_billingd.h"
#include "webhooks.h"

billingd_state billingd; /* the handlers' globals; unused here */

static const char *billingd_bin;
static spt_billingd srv;
static int hook_port;

/* "t=<t>,v1=<hex HMAC-SHA256(secret, t.payload)>" */
static void sign(char *out, size_t cap, long t, const char *secret, const char *payload)
{
	unsigned char mac[32];
	unsigned int len = 0;
	char signed_payload[512], hex[65];
	snprintf(signed_payload, sizeof(signed_payload), "%ld.%s", t, payload);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signed_payload,
	     strlen(signed_payload), mac, &len);
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	snprintf(out, cap, "t=%ld,v1=%s", t, hex);
}

static void test_stripe_signature(void)
{
	const char *body = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}";
	char h[300], h2[600], why[160];
	long now = 1700000000;
	sign(h, sizeof(h), now, "whsec_a", body);
	CU_ASSERT_EQUAL(webhooks_stripe_verify(h, body, strlen(body), "whsec_a", now, 300, why,
					       sizeof(why)),
			0);
	/* Rolling secrets: either configured secret may have signed it. */
	CU_ASSERT_EQUAL(webhooks_stripe_verify(h, body, strlen(body), "whsec_old,whsec_a", now, 300,
					       why, sizeof(why)),
			0);
	CU_ASSERT_EQUAL(webhooks_stripe_verify(h, body, strlen(body), "whsec_b", now, 300, why,
					       sizeof(why)),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "no v1 signature matches"));
	/* Several v1 (Stripe signs with every active secret) and a v0. */
	sign(h2, sizeof(h2), now, "whsec_other", body);
	snprintf(h2 + strlen(h2), sizeof(h2) - strlen(h2), ",%s,v0=deadbeef", strchr(h, ',') + 1);
	CU_ASSERT_EQUAL(webhooks_stripe_verify(h2, body, strlen(body), "whsec_a", now, 300, why,
					       sizeof(why)),
			0);
	/* The body changed by one byte. */
	CU_ASSERT_EQUAL(webhooks_stripe_verify(h, "{\"id\":\"evt_2\"}", 13, "whsec_a", now, 300,
					       why, sizeof(why)),
			-1);
	/* Outside the tolerance, either way. */
	CU_ASSERT_EQUAL(webhooks_stripe_verify(h, body, strlen(body), "whsec_a", now + 301, 300,
					       why, sizeof(why)),
			-1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "outside"));
	CU_ASSERT_EQUAL(webhooks_stripe_verify(h, body, strlen(body), "whsec_a", now - 301, 300,
					       why, sizeof(why)),
			-1);
	/* Malformed headers. */
	CU_ASSERT_EQUAL(webhooks_stripe_verify("v1=abc", body, strlen(body), "whsec_a", now, 300,
					       why, sizeof(why)),
			-1);
	CU_ASSERT_EQUAL(webhooks_stripe_verify("t=1700000000,v0=abc", body, strlen(body), "whsec_a",
					       now, 300, why, sizeof(why)),
			-1);
	CU_ASSERT_EQUAL(webhooks_stripe_verify(NULL, body, strlen(body), "whsec_a", now, 300, why,
					       sizeof(why)),
			-1);
	CU_ASSERT_EQUAL(
		webhooks_stripe_verify(h, body, strlen(body), "", now, 300, why, sizeof(why)), -1);
}

/* A port nobody listens on now (bind 0, read it, close). */
/* The delivery statuses of the fake's events of `type` for `object_id`
 * (every attempt), once none is in flight; count returned. */
static int deliveries(const char *object_id, const char *type, long *statuses, int max)
{
	json_t *w = NULL, *ev, *d;
	size_t i, k;
	int n = 0;
	for (int tries = 0; tries < 100; tries++) {
		json_decref(w);
		w = fakectl_call("GET", "/_webhooks", NULL, NULL, NULL, NULL);
		if (json_integer_value(json_object_get(w, "in_flight")) == 0)
			break;
		usleep(50 * 1000);
	}
	json_array_foreach(json_object_get(w, "events"), i, ev)
	{
		const char *o = json_string_value(json_object_get(ev, "object_id"));
		const char *t = json_string_value(json_object_get(ev, "type"));
		if (!o || !t || strcmp(o, object_id) != 0 || strcmp(t, type) != 0)
			continue;
		json_array_foreach(json_object_get(ev, "deliveries"), k, d) if (n < max)
			statuses[n++] = (long)json_integer_value(json_object_get(d, "status"));
	}
	json_decref(w);
	return n;
}

/* Creates and confirms an intent at the fake: it sends
 * payment_intent.succeeded. Returns the intent id (static). */
static const char *stripe_payment(const char *order_id)
{
	static char id[64];
	char body[200];
	json_t *j;
	snprintf(body, sizeof(body),
		 "amount=1000&currency=usd&metadata[order_id]=%s&payment_method=pm_card_visa&"
		 "confirm=true",
		 order_id);
	j = fakectl_call("POST", "/v1/payment_intents", body, "sk_test_hooks", NULL, NULL);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")) ?: "");
	json_decref(j);
	return id;
}

static void test_stripe_deliveries(void)
{
	long st[8];
	int n;
	char cfg[300];
	const char *pi;
	snprintf(cfg, sizeof(cfg),
		 "{\"webhooks\":{\"stripe_url\":\"http://127.0.0.1:%d/webhooks/stripe\","
		 "\"stripe_secrets\":[\"whsec_new\"],\"retries\":0}}",
		 hook_port);
	fakectl_ctl(cfg);
	/* Signed with the new secret while billingd still knows both: 200. */
	pi = stripe_payment("ord_hook_ok");
	n = deliveries(pi, "payment_intent.succeeded", st, 8);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(st[0], 200);
	/* The same event delivered again: 200 again (nothing changes). */
	{
		json_t *w = fakectl_call("GET", "/_webhooks", NULL, NULL, NULL, NULL), *ev;
		size_t i;
		char rs[120];
		json_array_foreach(json_object_get(w, "events"), i, ev)
		{
			const char *o = json_string_value(json_object_get(ev, "object_id"));
			if (o && strcmp(o, pi) == 0) {
				snprintf(rs, sizeof(rs), "{\"resend\":\"%s\"}",
					 json_string_value(json_object_get(ev, "id")));
				fakectl_ctl(rs);
			}
		}
		json_decref(w);
		n = deliveries(pi, "payment_intent.succeeded", st, 8);
		CU_ASSERT_EQUAL(n, 2);
		CU_ASSERT_EQUAL(st[1], 200);
	}
	/* A tampered signature: 400. */
	fakectl_ctl("{\"webhooks\":{\"tamper\":true}}");
	pi = stripe_payment("ord_hook_tampered");
	n = deliveries(pi, "payment_intent.succeeded", st, 8);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(st[0], 400);
	/* Signed with a secret billingd does not have: 400. */
	fakectl_ctl("{\"webhooks\":{\"tamper\":false,\"stripe_secrets\":[\"whsec_wrong\"]}}");
	pi = stripe_payment("ord_hook_wrong");
	n = deliveries(pi, "payment_intent.succeeded", st, 8);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(st[0], 400);
	/* Signed 6 minutes ago (a replayed capture of an old delivery): 400. */
	fakectl_ctl(
		"{\"webhooks\":{\"stripe_secrets\":[\"whsec_old\"],\"timestamp_skew_s\":-360}}");
	pi = stripe_payment("ord_hook_old");
	n = deliveries(pi, "payment_intent.succeeded", st, 8);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(st[0], 400);
	/* The old secret of the pair, in time: 200. */
	fakectl_ctl("{\"webhooks\":{\"timestamp_skew_s\":0}}");
	pi = stripe_payment("ord_hook_oldsecret");
	n = deliveries(pi, "payment_intent.succeeded", st, 8);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(st[0], 200);
}

static void test_paypal_deliveries(void)
{
	long st[8];
	int n;
	char cfg[300], body[300], tok[600];
	json_t *j;
	const char *id;
	snprintf(cfg, sizeof(cfg),
		 "{\"webhooks\":{\"paypal_url\":\"http://127.0.0.1:%d/webhooks/paypal\","
		 "\"paypal_webhook_id\":\"WH7HOOKS\",\"retries\":0,\"tamper\":false}}",
		 hook_port);
	fakectl_ctl(cfg);
	j = fakectl_call("POST", "/v1/oauth2/token", "grant_type=client_credentials", NULL,
			 "Authorization: Basic Y2xpZW50OnNlY3JldA==", NULL);
	snprintf(tok, sizeof(tok), "%s",
		 json_string_value(json_object_get(j, "access_token")) ?: "");
	json_decref(j);
	j = fakectl_call(
		"POST", "/v2/checkout/orders",
		"{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"custom_id\":\"ord_pp_hook\","
		"\"amount\":{\"currency_code\":\"USD\",\"value\":\"10.00\"}}]}",
		tok, NULL, NULL);
	id = json_string_value(json_object_get(j, "id"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", id);
	fakectl_ctl(body);
	n = deliveries(id, "CHECKOUT.ORDER.APPROVED", st, 8);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(st[0], 200); /* verified by PayPal's verify call */
	json_decref(j);
	/* A tampered transmission signature: PayPal says FAILURE -> 400. */
	fakectl_ctl("{\"webhooks\":{\"tamper\":true}}");
	j = fakectl_call(
		"POST", "/v2/checkout/orders",
		"{\"intent\":\"CAPTURE\",\"purchase_units\":[{\"custom_id\":\"ord_pp_hook2\","
		"\"amount\":{\"currency_code\":\"USD\",\"value\":\"10.00\"}}]}",
		tok, NULL, NULL);
	id = json_string_value(json_object_get(j, "id"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", id);
	fakectl_ctl(body);
	n = deliveries(id, "CHECKOUT.ORDER.APPROVED", st, 8);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(st[0], 400);
	json_decref(j);
	fakectl_ctl("{\"webhooks\":{\"tamper\":false}}");
}

static int start_billingd(void)
{
	char listen[32], url[64];
	const char *extra[12];
	static const char *const env[] = {
		"STRIPE_SECRET_KEY=sk_test_hooks", "STRIPE_WEBHOOK_SECRET=whsec_old,whsec_new",
		"PAYPAL_CLIENT_ID=client",         "PAYPAL_CLIENT_SECRET=secret",
		"PAYPAL_WEBHOOK_ID=WH7HOOKS",      NULL};
	spt_billingd_options so = SPT_BILLINGD_OPTIONS_INIT;
	int n = 0;
	hook_port = spt_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", hook_port);
	snprintf(url, sizeof(url), "%s", fakectl_base);
	extra[n++] = "--payments";
	extra[n++] = "live";
	extra[n++] = "--stripe-url";
	extra[n++] = url;
	extra[n++] = "--paypal-url";
	extra[n++] = url;
	extra[n++] = "--webhook-listen";
	extra[n++] = listen;
	extra[n] = NULL;
	so.bin = billingd_bin;
	so.args = extra;
	so.env = env;
	return spt_billingd_start_opts(&srv, &so);
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned failures;
	if (argc != 4) {
		fprintf(stderr, "usage: test_webhooks <billingd> <node> <provider.js>\n");
		return 2;
	}
	billingd_bin = argv[1];
	if (fakectl_start(argv[2], argv[3], NULL) != 0 || start_billingd() != 0) {
		fprintf(stderr, "test_webhooks: the fake or billingd did not start\n");
		fakectl_stop();
		return 1;
	}
	CU_initialize_registry();
	s = CU_add_suite("webhooks", NULL, NULL);
	CU_add_test(s, "Stripe-Signature: rolled secrets, several v1, tampering, tolerance",
		    test_stripe_signature);
	CU_add_test(s, "Stripe deliveries into billingd: 200 verified, 400 tampered/wrong/old",
		    test_stripe_deliveries);
	CU_add_test(s, "PayPal deliveries verified through verify-webhook-signature",
		    test_paypal_deliveries);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	spt_billingd_stop(&srv);
	if (failures)
		fprintf(stderr, "billingd log kept in %s\n", srv.log_path);
	else
		spt_billingd_free(&srv);
	fakectl_stop();
	http_thread_cleanup();
	return failures ? 1 : 0;
}
