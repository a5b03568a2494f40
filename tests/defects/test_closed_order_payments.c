/*
 * Class: a payment taken for an order that has already ended unpaid.
 *
 * Found from outside (Stripe's own rules, against tests/fakes/provider.js):
 * a card declined at checkout leaves the order FAILED, but the Stripe
 * PaymentIntent stays in requires_payment_method, payable with the client
 * secret the buyer's app already holds. The buyer tries another card in
 * the app: Stripe captures the money, sends payment_intent.succeeded, and
 * billingd ignored it (a webhook only confirms open orders): money kept,
 * nothing delivered, nothing flagged. ConfirmOrder of the FAILED order
 * answered it as it stood. The same holds for any order that ended unpaid
 * while its payment could still be completed at the provider.
 *
 * Now an order that ends unpaid with a payment at the provider has it
 * canceled there (a CLOSE job), and when money was taken anyway (the
 * cancel could not get through) a payment webhook or ConfirmOrder finds it
 * and flags the order needs_refund: never kept silently. Every wait is
 * bounded; nothing asserts on timing.
 *
 *   defects_closed_order_payments <billingd> <node> <provider.js>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "fakectl.h"
#include "payworld.h"
#include "spt_run.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define O_FAILED V1(ORDER_STATUS__ORDER_STATUS_FAILED)
#define G_FAILED_PRECONDITION 9
#define WAIT_MS 8000

static pw_world w;

/* The fake's view of one intent (its status), "" when unknown. */
static void intent_status(const char *pi, char *out, size_t cap)
{
	char path[160];
	json_t *j;
	snprintf(path, sizeof(path), "/v1/payment_intents/%s", pi);
	j = fakectl_call("GET", path, NULL, "sk_test_truths", NULL, NULL);
	snprintf(out, cap, "%s",
		 json_string_value(json_object_get(j, "status"))
			 ? json_string_value(json_object_get(j, "status"))
			 : "");
	json_decref(j);
}

/* Waits (bounded) for the intent to reach status; 1 when it did. */
static int wait_intent(const char *pi, const char *status)
{
	char st[32] = "";
	for (int i = 0; i < WAIT_MS / 50; i++) {
		intent_status(pi, st, sizeof(st));
		if (strcmp(st, status) == 0)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

/* The buyer's app confirms the intent at Stripe with another card (not
 * through billingd). The HTTP status. */
static long buyer_pays(const char *pi, const char *pm)
{
	char path[160], body[80];
	long status = 0;
	json_t *j;
	snprintf(path, sizeof(path), "/v1/payment_intents/%s/confirm", pi);
	snprintf(body, sizeof(body), "payment_method=%s", pm);
	j = fakectl_call("POST", path, body, "sk_test_truths", NULL, &status);
	json_decref(j);
	return status;
}

/* Cancel requests to the intent the fake logged. */
static int cancels_of(const char *pi)
{
	char want[160];
	json_t *s = fakectl_call("GET", "/_requests", NULL, NULL, NULL, NULL), *r;
	size_t i;
	int n = 0;
	snprintf(want, sizeof(want), "/v1/payment_intents/%s/cancel", pi);
	json_array_foreach(json_object_get(s, "requests"), i, r)
	{
		const char *p = json_string_value(json_object_get(r, "path"));
		n += p && strcmp(p, want) == 0;
	}
	json_decref(s);
	return n;
}

/* A checkout with a declining card: the FAILED order's id and intent. */
static void declined_checkout(const char *project, char *id, size_t idcap, char *pi, size_t picap)
{
	pw_outcome o;
	CU_ASSERT_EQUAL(pw_project(&w, project), 0);
	CU_ASSERT_EQUAL(pw_checkout(&w, project, STRIPE, "pm_card_chargeDeclined", NULL, 0, &o),
			G_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(o.reason, "PAYMENT_DECLINED");
	snprintf(id, idcap, "%s", o.order_id);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_get(&w, id, &o), 0);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_FAILED);
	snprintf(pi, picap, "%s", o.order ? o.order->stripe_payment_intent_id : "");
	pw_outcome_free(&o);
	SPT_CHECK(strncmp(pi, "pi_", 3) == 0, "the declined order names its intent ('%s')", pi);
}

/* Whether GetOrder shows needs_refund, waiting (bounded) for it. */
static int wait_needs_refund(const char *id)
{
	for (int i = 0; i < WAIT_MS / 50; i++) {
		pw_outcome o;
		int flagged = pw_get(&w, id, &o) == 0 && o.order && o.order->needs_refund;
		pw_outcome_free(&o);
		if (flagged)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

/* A declined order's intent is canceled at Stripe: the buyer's later try
 * with a good card is refused there, and no money is taken. */
static void test_declined_intent_canceled(void)
{
	char id[64], pi[128], st[32];
	long http;
	declined_checkout("p_decl", id, sizeof(id), pi, sizeof(pi));
	SPT_CHECK(wait_intent(pi, "canceled"), "the intent of FAILED order %s is still payable",
		  id);
	http = buyer_pays(pi, "pm_card_visa");
	CU_ASSERT_EQUAL(http, 400);
	intent_status(pi, st, sizeof(st));
	CU_ASSERT_STRING_EQUAL(st, "canceled");
	pw_webhooks_idle();
	CU_ASSERT_EQUAL(pw_captures(id), 0);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_FAILED);
	CU_ASSERT_FALSE(pw_item_active(&w, "p_decl", NULL));
}

/* A declined checkout whose cancel cannot get through (401, which billingd
 * does not retry), then the buyer pays the intent with another card; the
 * fake holds its webhooks meanwhile, so billingd hears nothing yet. */
static void declined_then_paid(const char *project, char *id, size_t idcap, char *pi, size_t picap)
{
	fakectl_ctl("{\"fault\":\"401\",\"match\":\"POST /v1/payment_intents/pi_\","
		    "\"webhooks\":{\"stripe_url\":null}}");
	declined_checkout(project, id, idcap, pi, picap);
	for (int i = 0; i < WAIT_MS / 50 && cancels_of(pi) == 0; i++)
		usleep(50 * 1000);
	SPT_CHECK(cancels_of(pi) > 0, "billingd tried to cancel the intent of %s", id);
	fakectl_ctl("{\"fault\":\"none\"}");
	CU_ASSERT_EQUAL(buyer_pays(pi, "pm_card_visa"), 200);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
}

/* The payment webhook (late, after the cancel failed) makes billingd look:
 * the order stays FAILED and is flagged for refund. */
static void test_paid_after_failure_flagged_by_webhook(void)
{
	char id[64], pi[128];
	declined_then_paid("p_decl_hook", id, sizeof(id), pi, sizeof(pi));
	pw_hooks(&w);
	fakectl_ctl("{\"flush_webhooks\":true}");
	SPT_CHECK(wait_needs_refund(id), "order %s: paid at Stripe after it FAILED, not flagged",
		  id);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_FAILED);
	CU_ASSERT_FALSE(pw_item_active(&w, "p_decl_hook", NULL));
	CU_ASSERT_TRUE(pw_log_has(&w, "flagged for refund"));
}

/* The same without the webhook: ConfirmOrder of the FAILED order asks. */
static void test_paid_after_failure_flagged_by_confirm(void)
{
	char id[64], pi[128];
	pw_outcome o;
	declined_then_paid("p_decl_confirm", id, sizeof(id), pi, sizeof(pi));
	CU_ASSERT_EQUAL(pw_confirm(&w, id, &o), 0);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_FAILED);
	SPT_CHECK(o.order && o.order->needs_refund,
		  "ConfirmOrder of %s: paid at Stripe after it FAILED, not flagged", id);
	pw_outcome_free(&o);
	pw_hooks(&w);
	fakectl_ctl("{\"flush_webhooks\":true}"); /* late: they change nothing more */
	pw_webhooks_idle();
	CU_ASSERT_EQUAL(pw_status(&w, id), O_FAILED);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT_FALSE(pw_item_active(&w, "p_decl_confirm", NULL));
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned failures;
	if (argc != 4) {
		fprintf(stderr, "usage: defects_closed_order_payments <billingd> <node> "
				"<provider.js>\n");
		return 2;
	}
	if (pw_start(&w, argv[1], argv[2], argv[3], NULL) != 0) {
		fprintf(stderr,
			"defects_closed_order_payments: the fake or billingd did not start "
			"(log %s)\n",
			w.srv.log_path);
		pw_stop(&w, 1);
		return 1;
	}
	CU_initialize_registry();
	s = CU_add_suite("closed order payments", NULL, NULL);
	CU_add_test(s, "a declined order's intent is canceled at the provider",
		    test_declined_intent_canceled);
	CU_add_test(s, "paid after it failed: the payment webhook flags it for refund",
		    test_paid_after_failure_flagged_by_webhook);
	CU_add_test(s, "paid after it failed: ConfirmOrder flags it for refund",
		    test_paid_after_failure_flagged_by_confirm);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	pw_stop(&w, failures != 0);
	return failures ? 1 : 0;
}
