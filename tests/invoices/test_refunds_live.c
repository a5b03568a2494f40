/*
 * Money refunds through the payment engine, against the spec-faithful fake
 * provider (tests/fakes/provider.js) and the real billingd with --payments
 * live: a partial Stripe refund reaches the fake as POST /v1/refunds with
 * the credit note's number as Idempotency-Key and the right body; the same
 * RefundOrder again (its idempotency key) is answered from billingd's
 * record and sends nothing; a refund whose answer is lost (the connection
 * dropped after the fake executed it) stays PENDING until billingd asks
 * again with the same key, which the fake replays (one refund): the refund
 * reconciler's round at a restart, or at once on the provider's signed
 * charge.refunded webhook (--webhook-listen); a
 * PayPal line refund reaches POST /v2/payments/captures/{id}/refund with
 * PayPal-Request-Id; an over-refund sends nothing; at the end the charge
 * audit (tools/charge_audit) and ledger_check are clean on the stopped
 * data directory, and every refund the fake made is one SUCCEEDED credit
 * note of the same amount.
 *
 *   invoices_refunds_live BILLINGD NODE PROVIDER_JS CHARGE_AUDIT LEDGER_CHECK
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_billingd.h"
#include "spt_fake.h"
#include "spt_proc.h"
#include "spt_run.h"
#include "spt_sdk.h"
#include "spt_time.h"

#define CN_STATUS(x) V1(CREDIT_NOTE_STATUS__CREDIT_NOTE_STATUS_##x)
#define PRICE 500 /* USD cents a month */

static spt_billingd srv;
static spt_fake fake;
static int hook_port;
static spb_client *cli; /* the vendor */
static char stripe_order[64], paypal_order[64], stripe_pi[128];

/* ---- helpers ---- */

static int buy(const char *item, int method, const char *pm, Smartplus__Billing__V1__Order **out,
	       void **keep)
{
	spt_quote_spec q = {
		ACTION(ACTIVATE), "d1", "i1", PTYPE(COMMUNITY), "p1", 0, item, 2, 0, NULL};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	int rc = spt_quote(cli, NULL, &q, &qr);

	*out = NULL;
	*keep = NULL;
	if (rc == 0)
		rc = spt_place_order(cli, NULL, ACTION(ACTIVATE), qr->quote->quote_id, method, pm,
				     out, keep);
	spb_message_free(qr);
	return rc;
}

static int refund(const char *order, const char *item, int64_t amount, const char *idem,
		  Smartplus__Billing__V1__CreditNote **out)
{
	Smartplus__Billing__V1__RefundOrderRequest req =
		SMARTPLUS__BILLING__V1__REFUND_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__RefundOrderResponse *resp = NULL;
	spb_call_options o = spt_as(NULL, idem);
	char *items[1] = {(char *)item};
	int rc;

	req.order_id = (char *)order;
	req.item_ids = item ? items : NULL;
	req.n_item_ids = item ? 1 : 0;
	req.amount = amount;
	req.reason = "returned by the customer";
	rc = spb_invoice_refund_order(cli, &req, &resp, &o);
	*out = NULL;
	if (rc == 0) {
		*out = resp->credit_note;
		resp->credit_note = NULL;
	}
	spb_message_free(resp);
	return rc;
}

static int note_status(const char *number)
{
	Smartplus__Billing__V1__GetCreditNoteRequest req =
		SMARTPLUS__BILLING__V1__GET_CREDIT_NOTE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditNoteResponse *resp = NULL;
	int st = -1;

	req.credit_note_id = (char *)number;
	if (spb_invoice_get_credit_note(cli, &req, &resp, NULL) == 0)
		st = resp->credit_note->status;
	spb_message_free(resp);
	return st;
}

/* The fake's requests to `path` (exact) made with idempotency key `key`
 * (NULL: any), and the last one's params in *params (a new reference;
 * may be NULL). */
static int requests_to(const char *path, const char *key, json_t **params)
{
	json_t *all = spt_fake_request(&fake, "GET", "/_requests", NULL, NULL), *e, *list;
	size_t i;
	int n = 0;

	if (params)
		*params = NULL;
	list = json_is_array(all) ? all : json_object_get(all, "requests");
	json_array_foreach(list, i, e)
	{
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *k = json_string_value(json_object_get(e, "key"));
		if (!p || strcmp(p, path) != 0 || (key && (!k || strcmp(k, key) != 0)))
			continue;
		n++;
		if (params) {
			json_decref(*params);
			*params = json_incref(json_object_get(e, "params"));
		}
	}
	json_decref(all);
	return n;
}

/* Of the fake's requests to `path` with key `key`, how many it answered
 * as a replay of the first (Idempotent-Replayed: true). */
static int replays_to(const char *path, const char *key)
{
	json_t *all = spt_fake_request(&fake, "GET", "/_requests", NULL, NULL), *e, *list;
	size_t i;
	int n = 0;

	list = json_is_array(all) ? all : json_object_get(all, "requests");
	json_array_foreach(list, i, e)
	{
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *k = json_string_value(json_object_get(e, "key"));
		if (p && strcmp(p, path) == 0 && k && strcmp(k, key) == 0 &&
		    json_is_true(json_object_get(e, "replayed")))
			n++;
	}
	json_decref(all);
	return n;
}

/* Refunds in the fake's ledger under key: how many, their total. */
static int ledger_refunds(const char *key, int64_t *total)
{
	json_t *l = spt_fake_request(&fake, "GET", "/_ledger", NULL, NULL), *e;
	size_t i;
	int n = 0;

	*total = 0;
	json_array_foreach(json_object_get(l, "refunds"), i, e)
	{
		const char *k = json_string_value(json_object_get(e, "key"));
		if (k && strcmp(k, key) == 0) {
			n++;
			*total += (int64_t)json_integer_value(json_object_get(e, "amount"));
		}
	}
	json_decref(l);
	return n;
}

/* The fake's webhooks to billingd on (signed with its secret) or off. */
static int hooks(int on)
{
	char cfg[400];

	if (!on)
		return spt_fake_control(&fake,
					"{\"webhooks\":{\"stripe_url\":null,\"paypal_url\":null}}");
	snprintf(cfg, sizeof(cfg),
		 "{\"webhooks\":{\"stripe_url\":\"http://127.0.0.1:%d/webhooks/stripe\","
		 "\"stripe_secrets\":[\"whsec_invoices\"],\"paypal_url\":\"http://127.0.0.1:%d/"
		 "webhooks/paypal\",\"paypal_webhook_id\":\"WHINVOICES\"}}",
		 hook_port, hook_port);
	return spt_fake_control(&fake, cfg);
}

/* A refund of `amount` whose answer the fake drops after executing it:
 * the credit note's number (PENDING) into number[64]. */
static int lost_refund(int64_t amount, char number[64])
{
	Smartplus__Billing__V1__CreditNote *cn = NULL;
	int st;

	if (spt_fake_control(&fake, "{\"fault\":\"drop_after_charge\",\"times\":1,"
				    "\"match\":\"POST /v1/refunds\"}") != 0 ||
	    refund(stripe_order, NULL, amount, NULL, &cn) != 0)
		return -1;
	snprintf(number, 64, "%s", cn->credit_note_id);
	st = cn->status;
	spb_message_free(cn);
	return st == CN_STATUS(PENDING) ? 0 : -1;
}

/* ---- suite ---- */

static int suite_init(void)
{
	static const char *const env[] = {
		"STRIPE_SECRET_KEY=sk_test_x",   "PAYPAL_CLIENT_ID=client_x",
		"PAYPAL_CLIENT_SECRET=secret_x", "STRIPE_WEBHOOK_SECRET=whsec_invoices",
		"PAYPAL_WEBHOOK_ID=WHINVOICES",  NULL};
	static char listen[32];
	spt_billingd_options o = SPT_BILLINGD_OPTIONS_INIT;
	const char *args[] = {"--payments",
			      "live",
			      "--stripe-url",
			      fake.url,
			      "--paypal-url",
			      fake.url,
			      "--provider-timeout-ms",
			      "2000",
			      "--reconcile-interval-ms", /* far: each test says who settles */
			      "60000",
			      "--webhook-listen",
			      listen,
			      "--invoice-prefix",
			      "LIV",
			      NULL};

	SPT_INIT(spt_fake_start(&fake, NULL, NULL));
	hook_port = spt_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", hook_port);
	o.bin = spt_arg("billingd");
	o.args = args;
	o.env = env;
	SPT_INIT(spt_billingd_start_opts(&srv, &o));
	cli = spt_client(&srv, NULL);
	SPT_INIT(cli ? 0 : -1);
	SPT_INIT(spt_create_account(cli, NULL, "d1", ROLE(DISTRIBUTOR), "vendor"));
	SPT_INIT(spt_create_account(cli, NULL, "i1", ROLE(INSTALLER), "d1"));
	SPT_INIT(spt_set_price(cli, PTYPE(COMMUNITY), STYPE(APP), PRICE, 5));
	SPT_INIT(spt_create_project(cli, NULL, "p1", "i1", PTYPE(COMMUNITY), NULL, 0));
	SPT_INIT(spt_create_item(cli, NULL, "p1", "a1", STYPE(APP)));
	SPT_INIT(spt_create_item(cli, NULL, "p1", "a2", STYPE(APP)));
	SPT_INIT(spt_create_item(cli, NULL, "p1", "a3", STYPE(APP)));
	SPT_INIT(hooks(0));
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(cli);
	cli = NULL;
	spt_billingd_free(&srv);
	spt_fake_stop(&fake);
	return 0;
}

/* ---- tests ---- */

static void test_partial_stripe_refund_reaches_the_fake(void)
{
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__CreditNote *cn = NULL, *again = NULL;
	void *keep;
	json_t *params = NULL;
	int64_t total;

	SPT_REQUIRE(buy("a1", METHOD(STRIPE), "pm_card_visa", &o, &keep) == 0 &&
			    o->status == OSTATUS(SUCCEEDED),
		    "a card order succeeds");
	SPT_CHECK(o->total == 2 * PRICE, "charged %" PRId64, o->total);
	snprintf(stripe_order, sizeof(stripe_order), "%s", o->order_id);
	snprintf(stripe_pi, sizeof(stripe_pi), "%s", o->stripe_payment_intent_id);
	spb_message_free(keep);
	SPT_REQUIRE(refund(stripe_order, NULL, 300, "refund-a1-300", &cn) == 0, "RefundOrder");
	SPT_CHECK(cn->status == CN_STATUS(SUCCEEDED), "status %d", cn->status);
	SPT_CHECK(cn->total == 300, "refunded %" PRId64, cn->total);
	SPT_CHECK(strncmp(cn->stripe_refund_id, "re_", 3) == 0, "refund id %s",
		  cn->stripe_refund_id);
	/* what reached the fake: key = the credit note, the body of the spec */
	SPT_CHECK(requests_to("/v1/refunds", cn->credit_note_id, &params) == 1,
		  "one POST /v1/refunds with Idempotency-Key %s", cn->credit_note_id);
	SPT_CHECK(params && json_string_value(json_object_get(params, "amount")) &&
			  strcmp(json_string_value(json_object_get(params, "amount")), "300") == 0,
		  "amount=300 in the body");
	SPT_CHECK(params && json_string_value(json_object_get(params, "payment_intent")) &&
			  strcmp(json_string_value(json_object_get(params, "payment_intent")),
				 stripe_pi) == 0,
		  "payment_intent=%s in the body", stripe_pi);
	json_decref(params);
	SPT_CHECK(ledger_refunds(cn->credit_note_id, &total) == 1 && total == 300,
		  "the fake refunded 300 once");
	/* the same call again: billingd's first answer, nothing sent */
	SPT_REQUIRE(refund(stripe_order, NULL, 300, "refund-a1-300", &again) == 0, "the retry");
	SPT_CHECK(strcmp(again->credit_note_id, cn->credit_note_id) == 0, "the same note: %s",
		  again->credit_note_id);
	SPT_CHECK(requests_to("/v1/refunds", NULL, NULL) == 1, "still one refund request");
	spb_message_free(again);
	spb_message_free(cn);
}

static void test_lost_answer_replayed_after_a_restart(void)
{
	char number[64];
	int64_t total;
	int ok;

	SPT_REQUIRE(lost_refund(200, number) == 0, "PENDING while the answer is unknown");
	spt_sleep_ms(500);
	SPT_CHECK(note_status(number) == CN_STATUS(PENDING), "nobody settles it: still PENDING");
	/* a restart: the refund reconciler's first round asks again, same key */
	spb_client_free(cli);
	SPT_REQUIRE(spt_billingd_restart(&srv) == 0, "restarted");
	cli = spt_client(&srv, NULL);
	SPT_POLL(ok, note_status(number) == CN_STATUS(SUCCEEDED), 10000, 50);
	SPT_CHECK(ok, "SUCCEEDED after the restart (now %d)", note_status(number));
	SPT_CHECK(requests_to("/v1/refunds", number, NULL) == 2, "asked twice with key %s", number);
	SPT_CHECK(ledger_refunds(number, &total) == 1 && total == 200,
		  "one refund of 200 at the provider");
	SPT_CHECK(replays_to("/v1/refunds", number) == 1,
		  "the second answered as a replay of the first (Idempotent-Replayed)");
}

static void test_lost_answer_settled_by_the_webhook(void)
{
	char number[64];
	int64_t total;
	int ok;

	SPT_REQUIRE(hooks(1) == 0, "webhooks on");
	SPT_REQUIRE(lost_refund(100, number) == 0, "PENDING while the answer is unknown");
	/* charge.refunded reaches billingd, which asks again: no reconciler
	 * round comes within the minute */
	SPT_POLL(ok, note_status(number) == CN_STATUS(SUCCEEDED), 10000, 50);
	SPT_CHECK(ok, "SUCCEEDED on the webhook (now %d)", note_status(number));
	{ /* charge.refunded names the charge's refunded total: 300+200+100 */
		char line[512];
		SPT_CHECK(spt_billingd_log_last(&srv, "refunded 600 USD of order", line,
						sizeof(line)) == 0,
			  "billingd received the provider's refund event");
	}
	SPT_CHECK(ledger_refunds(number, &total) == 1 && total == 100,
		  "one refund of 100 at the provider");
	hooks(0);
}

static void test_over_refund_sends_nothing(void)
{
	Smartplus__Billing__V1__CreditNote *cn = NULL;
	int before = requests_to("/v1/refunds", NULL, NULL);

	/* 1000 paid, 300 + 200 + 100 refunded: 401 is too much */
	SPT_CHECK(refund(stripe_order, NULL, 401, NULL, &cn) == SPB_EPRECONDITION,
		  "over-refund refused");
	SPT_CHECK(strcmp(spb_error_last()->reason, "REFUND_EXCEEDS_CAPTURED") == 0, "reason %s",
		  spb_error_last()->reason);
	SPT_CHECK(requests_to("/v1/refunds", NULL, NULL) == before, "nothing sent");
	spb_message_free(cn);
}

static void test_paypal_line_refund(void)
{
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__CreditNote *cn = NULL;
	void *keep;
	char body[256], path[256];
	json_t *params = NULL, *amt;
	int64_t total;

	SPT_REQUIRE(buy("a2", METHOD(PAYPAL), NULL, &o, &keep) == 0, "a PayPal order");
	snprintf(paypal_order, sizeof(paypal_order), "%s", o->order_id);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", o->paypal_order_id);
	spb_message_free(keep);
	SPT_REQUIRE(spt_fake_control(&fake, body) == 0, "approved at the fake");
	{
		Smartplus__Billing__V1__ConfirmOrderRequest r =
			SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__ConfirmOrderResponse *resp = NULL;
		r.order_id = paypal_order;
		SPT_REQUIRE(spb_billing_confirm_order(cli, &r, &resp, NULL) == 0 &&
				    resp->order->status == OSTATUS(SUCCEEDED),
			    "captured");
		spb_message_free(resp);
	}
	SPT_REQUIRE(refund(paypal_order, "a2", 0, NULL, &cn) == 0, "RefundOrder of the line");
	SPT_CHECK(cn->status == CN_STATUS(SUCCEEDED), "status %d", cn->status);
	SPT_CHECK(cn->total == 2 * PRICE && cn->lines[0]->refunded_days == 60,
		  "the whole line, 60 days");
	SPT_CHECK(cn->paypal_refund_id[0] != '\0', "PayPal refund id");
	/* POST /v2/payments/captures/<capture>/refund with PayPal-Request-Id */
	{
		json_t *l = spt_fake_request(&fake, "GET", "/_ledger", NULL, NULL), *e;
		size_t i;
		path[0] = '\0';
		json_array_foreach(json_object_get(l, "refunds"), i, e)
		{
			const char *k = json_string_value(json_object_get(e, "key"));
			if (k && strcmp(k, cn->credit_note_id) == 0)
				snprintf(path, sizeof(path), "/v2/payments/captures/%s/refund",
					 json_string_value(json_object_get(e, "capture_id")));
		}
		json_decref(l);
	}
	SPT_CHECK(path[0] && requests_to(path, cn->credit_note_id, &params) == 1,
		  "one %s with PayPal-Request-Id %s", path, cn->credit_note_id);
	amt = json_object_get(params, "amount");
	SPT_CHECK(amt && json_string_value(json_object_get(amt, "value")) &&
			  strcmp(json_string_value(json_object_get(amt, "value")), "10.00") == 0 &&
			  strcmp(json_string_value(json_object_get(amt, "currency_code")), "USD") ==
				  0,
		  "amount {value 10.00, USD} in the body");
	json_decref(params);
	SPT_CHECK(ledger_refunds(cn->credit_note_id, &total) == 1 && total == 2 * PRICE,
		  "the fake refunded 1000 once");
	spb_message_free(cn);
}

static void test_audits_clean(void)
{
	char ledger[512], out[512] = "";
	const char *argv[4];
	int rc;

	SPT_REQUIRE(spt_billingd_stop(&srv) == 0, "clean stop");
	snprintf(ledger, sizeof(ledger), "%s/_ledger", fake.url);
	argv[0] = spt_arg("charge_audit");
	argv[1] = srv.data_dir;
	argv[2] = ledger;
	argv[3] = NULL;
	rc = spt_run_cmd(argv, 30000, out, sizeof(out));
	SPT_CHECK(rc == 0, "charge_audit: %s", out);
	printf("\n    %s ", out);
	/* the same ledger without its refunds: the credit notes do not match */
	{
		json_t *l = spt_fake_request(&fake, "GET", "/_ledger", NULL, NULL);
		char path[SPT_PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s/ledger.json", srv.dir);
		json_object_set_new(l, "refunds", json_array());
		SPT_REQUIRE(l && json_dump_file(l, path, 0) == 0, "ledger written");
		json_decref(l);
		argv[2] = path;
		rc = spt_run_cmd(argv, 30000, out, sizeof(out));
		SPT_CHECK(rc == 1 && strstr(out, "not matching their credit notes 4"),
			  "refunds missing are found: %s", out);
	}
	rc = spt_billingd_check_data(&srv, spt_arg("ledger_check"), out, sizeof(out));
	SPT_CHECK(rc == 0 && strstr(out, "ledger ok"), "ledger_check: %s", out);
}

static CU_TestInfo tests[] = {
	{"a partial Stripe refund reaches the fake keyed by the note; a retry sends nothing",
	 test_partial_stripe_refund_reaches_the_fake},
	{"a lost answer: PENDING; after a restart asked again, replayed",
	 test_lost_answer_replayed_after_a_restart},
	{"a lost answer: the provider's webhook makes billingd ask again",
	 test_lost_answer_settled_by_the_webhook},
	{"an over-refund sends nothing", test_over_refund_sends_nothing},
	{"a PayPal line refund with PayPal-Request-Id", test_paypal_line_refund},
	{"charge audit and ledger_check clean", test_audits_clean},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"refunds_live", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD NODE PROVIDER_JS CHARGE_AUDIT LEDGER_CHECK", suites);
}
