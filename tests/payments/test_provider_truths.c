/*
 * The providers' truths (issue 13), each through the real billingd over
 * gRPC against tests/fakes/provider.js, which behaves as Stripe's and
 * PayPal's specifications say. Every check reads the fake's own records
 * (its ledger of captures, its request log, its webhook deliveries) as
 * well as what billingd answered.
 *
 *   test_provider_truths <billingd> <node> <provider.js>
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "fakectl.h"
#include "payworld.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define PAYPAL V1(PAYMENT_METHOD__PAYMENT_METHOD_PAYPAL)
#define O_PENDING V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT)
#define O_PROCESSING V1(ORDER_STATUS__ORDER_STATUS_PROCESSING)
#define O_SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define O_FAILED V1(ORDER_STATUS__ORDER_STATUS_FAILED)
#define O_TIMED_OUT V1(ORDER_STATUS__ORDER_STATUS_TIMED_OUT)
#define O_CANCELED V1(ORDER_STATUS__ORDER_STATUS_CANCELED)
#define G_OK 0
#define G_UNAVAILABLE 14
#define G_FAILED_PRECONDITION 9
#define G_INVALID_ARGUMENT 3
#define G_ABORTED 10
#define HOUR 3600
#define WAIT_MS 8000

static pw_world w;
static const char *bin, *node, *js;

/* A fresh project; the test's name for it. */
static const char *project(const char *name)
{
	CU_ASSERT_EQUAL(pw_project(&w, name), 0);
	return name;
}

/* POST /_control {"<key>": "<value>"}. */
static void ctl(const char *key, const char *value)
{
	char body[400];
	snprintf(body, sizeof(body), "{\"%s\":\"%s\"}", key, value);
	fakectl_ctl(body);
}

/* The fake's view of one intent (status), "" when unknown. */
static void intent_status(const char *pi, char *out, size_t cap)
{
	char path[160];
	json_t *j;
	snprintf(path, sizeof(path), "/v1/payment_intents/%s", pi);
	j = fakectl_call("GET", path, NULL, "sk_test_truths", NULL, NULL);
	snprintf(out, cap, "%s", json_string_value(json_object_get(j, "status")) ?: "");
	json_decref(j);
}

/* The buyer's app confirms an intent at Stripe (not through billingd). */
static void buyer_pays(const char *pi, const char *pm)
{
	char path[160], body[80];
	json_t *j;
	snprintf(path, sizeof(path), "/v1/payment_intents/%s/confirm", pi);
	snprintf(body, sizeof(body), "payment_method=%s", pm);
	j = fakectl_call("POST", path, body, "sk_test_truths", NULL, NULL);
	json_decref(j);
}

/* The form parameters of the last POST to path with Idempotency-Key key. */
static json_t *sent_params(const char *path, const char *key)
{
	json_t *s = fakectl_call("GET", "/_requests", NULL, NULL, NULL, NULL), *r, *found = NULL;
	size_t i;
	json_array_foreach(json_object_get(s, "requests"), i, r)
	{
		const char *p = json_string_value(json_object_get(r, "path"));
		const char *k = json_string_value(json_object_get(r, "key"));
		if (p && strcmp(p, path) == 0 && (!key || (k && strcmp(k, key) == 0)))
			found = json_object_get(r, "params");
	}
	json_incref(found);
	json_decref(s);
	return found;
}

static int count_requests(const char *method, const char *path_prefix)
{
	json_t *s = fakectl_call("GET", "/_requests", NULL, NULL, NULL, NULL), *r;
	size_t i;
	int n = 0;
	json_array_foreach(json_object_get(s, "requests"), i, r)
	{
		const char *p = json_string_value(json_object_get(r, "path"));
		const char *m = json_string_value(json_object_get(r, "method"));
		n += p && m && strcmp(m, method) == 0 &&
		     strncmp(p, path_prefix, strlen(path_prefix)) == 0;
	}
	json_decref(s);
	return n;
}

/* How many events of kind the vendor sees on subject (one page is plenty
 * for one order's events). -1 when ListEvents fails. */
static int events_of(const char *subject, const char *kind)
{
	Smartplus__Billing__V1__ListEventsRequest r =
		SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
	Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
	char *kinds[] = {(char *)kind};
	int n = 0;
	r.subject = (char *)subject;
	r.n_kinds = 1;
	r.kinds = kinds;
	r.page_size = 100;
	if (spb_event_list_events(w.cli, &r, &resp, NULL) != 0)
		return -1;
	for (size_t i = 0; i < resp->n_events; i++)
		n += strcmp(resp->events[i]->subject, subject) == 0 &&
		     strcmp(resp->events[i]->kind, kind) == 0;
	spb_message_free(resp);
	return n;
}

/* ------------------------------------------------------------------------ */

/* A 500 after the charge is saved under the key and replayed: the
 * reconciler finds the intent by searching metadata['order_id']. (The
 * call's own search and its retry fail, so the checkout answers UNAVAILABLE with
 * the order id; without that fault the call's second try finds it.) */
static void test_lost_create_found_by_search(void)
{
	pw_outcome o;
	char id[64];
	const char *p = project("p_search");
	fakectl_ctl("{\"fault\":\"500_after_charge\",\"times\":1,\"match\":\"POST "
		    "/v1/payment_intents\"}");
	fakectl_ctl("{\"add_fault\":{\"fault\":\"500_unsaved\",\"times\":2,\"match\":\"GET "
		    "/v1/payment_intents/search\"}}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o), G_UNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(o.reason, "PROVIDER_UNAVAILABLE");
	CU_ASSERT_NSTRING_EQUAL(o.order_id, "ord_", 4); /* ErrorInfo metadata order_id */
	snprintf(id, sizeof(id), "%s", o.order_id);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	CU_ASSERT(count_requests("GET", "/v1/payment_intents/search") >= 1);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT(pw_item_active(&w, p, NULL));
	fakectl_ctl("{\"fault\":\"none\"}");
}

/* A saved 500 before anything happened: replayed for 23 h, then searched,
 * and the order FAILED with no money taken — the create is never sent
 * again after 23 h, not even once the provider pruned the key. */
static void test_never_replayed_after_23h(void)
{
	pw_outcome o;
	char id[64];
	int64_t created_ms, last_ms = 0;
	int n_before;
	const char *p = project("p_23h");
	created_ms = pw_fake_now_ms();
	fakectl_ctl("{\"fault\":\"500_saved\",\"times\":1,\"match\":\"POST /v1/payment_intents\"}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o), G_UNAVAILABLE);
	snprintf(id, sizeof(id), "%s", o.order_id);
	pw_outcome_free(&o);
	usleep(800 * 1000); /* a few reconciler rounds: replays answer the saved 500 */
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	n_before = pw_creates(id, NULL);
	CU_ASSERT(n_before >= 2);
	CU_ASSERT_EQUAL(pw_advance(&w, 23 * HOUR + 60), 0);
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_FAILED, WAIT_MS), O_FAILED);
	CU_ASSERT_EQUAL(pw_captures(id), 0);
	/* A day later (the key pruned at the provider): still no new create. */
	CU_ASSERT_EQUAL(pw_advance(&w, 2 * HOUR), 0);
	CU_ASSERT_EQUAL(pw_confirm(&w, id, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_FAILED);
	pw_outcome_free(&o);
	pw_creates(id, &last_ms);
	CU_ASSERT(last_ms - created_ms < 23LL * 3600 * 1000);
	CU_ASSERT_EQUAL(pw_captures(id), 0);
	CU_ASSERT(!pw_item_active(&w, p, NULL));
}

/* One half of a clock jump done (the provider's clock 23 h on, billingd's
 * not yet): the provider's Date header says the key is 23 h old, so a
 * replay of the create is never sent, by billingd's clock or the
 * provider's; once billingd's clock follows, the order fails with no
 * money. Before the fix the reconciler replayed the create by billingd's
 * clock alone (the ASan failure of test_never_replayed_after_23h, whose
 * pw_advance moves the fake first). */
static void test_no_replay_on_the_providers_clock(void)
{
	pw_outcome o;
	char id[64];
	int64_t jumped_ms, last_ms = 0;
	int n_before;
	const char *p = project("p_23h_half");
	fakectl_ctl("{\"fault\":\"500_saved\",\"times\":1,\"match\":\"POST /v1/payment_intents\"}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o), G_UNAVAILABLE);
	snprintf(id, sizeof(id), "%s", o.order_id);
	pw_outcome_free(&o);
	usleep(800 * 1000); /* replays inside the window answer the saved 500 */
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	CU_ASSERT_EQUAL(pw_advance_fake(23 * HOUR + 60), 0);
	jumped_ms = pw_fake_now_ms();
	n_before = pw_creates(id, NULL);
	pw_confirm(&w, id, &o); /* search: none; no replay */
	pw_outcome_free(&o);
	usleep(800 * 1000); /* reconciler rounds: no replay either */
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	CU_ASSERT_EQUAL(pw_creates(id, &last_ms), n_before);
	CU_ASSERT(last_ms < jumped_ms);
	CU_ASSERT(count_requests("GET", "/v1/payment_intents/search") >= 1);
	/* The other half: the window is over on billingd's clock too. */
	CU_ASSERT_EQUAL(pw_advance_billingd(&w, 23 * HOUR + 60, NULL), 0);
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_FAILED, WAIT_MS), O_FAILED);
	CU_ASSERT_EQUAL(pw_creates(id, &last_ms), n_before);
	CU_ASSERT(last_ms < jumped_ms);
	CU_ASSERT_EQUAL(pw_captures(id), 0);
	CU_ASSERT(!pw_item_active(&w, p, NULL));
}

/* The fault run's FAILED order with money (seed 7 under ASan): the first
 * create charged, its answer was lost (connection dropped), and the
 * provider's clock jumped past the key's 24 h before billingd tried again
 * inside the same call: the blind second create executed anew — a second
 * intent (declined there, so the order FAILED while the first intent's
 * money stayed; with a good card, a second charge). Now a lost create's
 * answer is searched for: the first intent, SUCCEEDED, one capture. */
static void test_lost_answer_key_pruned_before_retry(void)
{
	pw_outcome o;
	char id[64];
	int code;
	const char *p = project("p_drop_jump");
	fakectl_ctl("{\"fault\":\"drop_after_charge\",\"times\":1,\"match\":\"POST "
		    "/v1/payment_intents\",\"jump_after_s\":86460}");
	code = pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o);
	CU_ASSERT(code == G_OK || code == G_UNAVAILABLE);
	snprintf(id, sizeof(id), "%s", o.order_id);
	pw_outcome_free(&o);
	CU_ASSERT(fakectl_stat("keys_expired") >= 1);
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	CU_ASSERT_EQUAL(pw_creates(id, NULL), 1);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT(pw_item_active(&w, p, NULL));
	CU_ASSERT_EQUAL(pw_advance_billingd(&w, 86460, NULL), 0); /* the clocks agree again */
}

/* The next create charges and answers a 500 (saved under its key), and
 * every search fails until the faults are lifted: nothing can settle the
 * order before the test moves the clocks. */
static void lose_the_charged_answer(void)
{
	fakectl_ctl("{\"fault\":\"500_after_charge\",\"times\":1,\"match\":\"POST "
		    "/v1/payment_intents\"}");
	fakectl_ctl("{\"add_fault\":{\"fault\":\"500_unsaved\",\"match\":\"GET "
		    "/v1/payment_intents/search\"}}");
}

/* The fault run's double capture (ord_976f...): a create whose answer was
 * lost after the charge (500 saved under the key), then the provider's
 * clock past the key's 24 h while billingd's is not (the fake's half of a
 * clock jump done, AdvanceClock not yet; or billingd's host clock behind).
 * billingd's window (23 h on its own clock) says "replay"; the provider
 * has pruned the key and would execute the create anew: a second intent,
 * a second charge. The create is re-sent only when a search shows no
 * intent for the order: with the search failing nothing is sent, and once
 * it answers the first intent settles the order. */
static void test_no_create_after_the_provider_pruned_the_key(void)
{
	pw_outcome o;
	char id[64];
	int64_t jumped_ms, last_ms = 0;
	const char *p = project("p_skew");
	lose_the_charged_answer();
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o), G_UNAVAILABLE);
	snprintf(id, sizeof(id), "%s", o.order_id);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT_EQUAL(pw_advance_fake(24 * HOUR + 60), 0); /* the key is pruned there */
	jumped_ms = pw_fake_now_ms();
	CU_ASSERT_EQUAL(pw_confirm(&w, id, &o), G_UNAVAILABLE);
	pw_outcome_free(&o);
	usleep(600 * 1000); /* reconciler rounds: they must not create either */
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	pw_creates(id, &last_ms);
	CU_ASSERT(last_ms < jumped_ms);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	/* The search answers again: it finds the first intent. */
	fakectl_ctl("{\"fault\":\"none\"}");
	CU_ASSERT_EQUAL(pw_confirm(&w, id, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_SUCCEEDED);
	pw_outcome_free(&o);
	pw_creates(id, &last_ms);
	CU_ASSERT(last_ms < jumped_ms);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT(pw_item_active(&w, p, NULL));
	CU_ASSERT_EQUAL(pw_advance_billingd(&w, 24 * HOUR + 60, NULL),
			0); /* the clocks agree again */
}

/* The same for a renewal attempt the scheduler resumes (its create's
 * answer lost after the charge): the resumed attempt searches before it
 * sends a create, whatever billingd's clock says of the key. */
static void test_resumed_renewal_no_second_create(void)
{
	pw_outcome o;
	char id[64] = "", ids[8][64];
	int64_t jumped_ms, last_ms = 0, expires = 0, now = 0;
	size_t n;
	const char *p = project("p_skew_auto");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_7", 0, &o), G_OK);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_renew(&w, p, STRIPE, "pm_card_visa", "cus_7", 1, &o), G_OK);
	pw_outcome_free(&o);
	lose_the_charged_answer();
	/* To a minute past its due time (24 h before the expiry): the
	 * automatic renewal runs inside AdvanceClock; its create charges, its
	 * answer is a 500. */
	CU_ASSERT_FATAL(pw_item_active(&w, p, &expires));
	CU_ASSERT_EQUAL(pw_advance_fake(1), 0);
	CU_ASSERT_EQUAL_FATAL(pw_advance_billingd(&w, 1, &now), 0);
	CU_ASSERT_FATAL(expires - 24LL * HOUR * 1000000 > now);
	CU_ASSERT_EQUAL(pw_advance(&w, (expires - 24LL * HOUR * 1000000 - now) / 1000000 + 60), 0);
	n = pw_project_orders(&w, p, ids, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (strncmp(ids[i], "ord_ar_", 7) == 0)
			snprintf(id, sizeof(id), "%s", ids[i]);
	CU_ASSERT_NSTRING_EQUAL_FATAL(id, "ord_ar_", 7);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT_EQUAL(pw_advance_fake(24 * HOUR + 60), 0); /* the key is pruned there */
	jumped_ms = pw_fake_now_ms();
	/* A minute on billingd's clock: the scheduler resumes the attempt. */
	CU_ASSERT_EQUAL(pw_advance_billingd(&w, 60, NULL), 0);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	pw_creates(id, &last_ms);
	CU_ASSERT(last_ms < jumped_ms);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	fakectl_ctl("{\"fault\":\"none\"}");
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	pw_creates(id, &last_ms);
	CU_ASSERT(last_ms < jumped_ms);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT_EQUAL(pw_advance_billingd(&w, 24 * HOUR, NULL), 0); /* the clocks agree again */
}

/* PayPal keeps request ids 6 h: an order whose create never answered is
 * failed after 5 h, and never created again. */
static void test_paypal_window(void)
{
	pw_outcome o;
	char id[64];
	int before;
	const char *p = project("p_pp6h");
	fakectl_ctl("{\"fault\":\"500_unsaved\",\"match\":\"POST /v2/checkout/orders\"}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, PAYPAL, NULL, NULL, 0, &o), G_UNAVAILABLE);
	snprintf(id, sizeof(id), "%s", o.order_id);
	pw_outcome_free(&o);
	usleep(600 * 1000);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	CU_ASSERT_EQUAL(pw_advance(&w, 5 * HOUR + 60), 0);
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_FAILED, WAIT_MS), O_FAILED);
	fakectl_ctl("{\"fault\":\"none\"}");
	before = count_requests("POST", "/v2/checkout/orders");
	CU_ASSERT_EQUAL(pw_confirm(&w, id, &o), G_OK);
	pw_outcome_free(&o);
	usleep(500 * 1000);
	CU_ASSERT_EQUAL(count_requests("POST", "/v2/checkout/orders"), before);
	CU_ASSERT_EQUAL(pw_captures(id), 0);
}

/* CancelOrder cancels the intent at Stripe first; a later confirm by the
 * buyer is refused there. */
static void test_cancel_cancels_the_intent(void)
{
	pw_outcome o;
	char id[64], pi[128], st[32];
	const char *p = project("p_cancel");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, NULL, NULL, 0, &o), G_OK);
	CU_ASSERT_EQUAL_FATAL(o.order ? (int)o.order->status : 0, O_PENDING);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pi, sizeof(pi), "%s", o.order->stripe_payment_intent_id);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_cancel(&w, id, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_CANCELED);
	pw_outcome_free(&o);
	intent_status(pi, st, sizeof(st));
	CU_ASSERT_STRING_EQUAL(st, "canceled");
	buyer_pays(pi, "pm_card_visa");
	CU_ASSERT_EQUAL(pw_captures(id), 0);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_CANCELED);
}

/* The buyer paid at Stripe before the cancel arrived: the order succeeds. */
static void test_cancel_after_payment_succeeds(void)
{
	pw_outcome o;
	char id[64], pi[128];
	const char *p = project("p_cancel_paid");
	fakectl_ctl("{\"webhooks\":{\"stripe_url\":null}}"); /* billingd does not hear of it */
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, NULL, NULL, 0, &o), G_OK);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pi, sizeof(pi), "%s", o.order ? o.order->stripe_payment_intent_id : "");
	pw_outcome_free(&o);
	buyer_pays(pi, "pm_card_visa");
	CU_ASSERT_EQUAL(pw_cancel(&w, id, &o), G_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(o.reason, "ORDER_STATE");
	CU_ASSERT_STRING_EQUAL(o.order_id, id);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_SUCCEEDED);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT(pw_item_active(&w, p, NULL));
	pw_hooks(&w);
	fakectl_ctl("{\"flush_webhooks\":true}"); /* late: they change nothing */
}

/* The 24 h pay window: the intent is canceled before the order times out;
 * one paid meanwhile makes the order SUCCEEDED instead. */
static void test_timeout_cancels_the_intent(void)
{
	pw_outcome o;
	char id[64], pi[128], st[32], id2[64], pi2[128];
	const char *p = project("p_timeout"), *p2 = project("p_timeout_paid");
	fakectl_ctl("{\"webhooks\":{\"stripe_url\":null}}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, NULL, NULL, 0, &o), G_OK);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pi, sizeof(pi), "%s", o.order ? o.order->stripe_payment_intent_id : "");
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_checkout(&w, p2, STRIPE, NULL, NULL, 0, &o), G_OK);
	snprintf(id2, sizeof(id2), "%s", o.order_id);
	snprintf(pi2, sizeof(pi2), "%s", o.order ? o.order->stripe_payment_intent_id : "");
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_advance(&w, 24 * HOUR + 60), 0);
	buyer_pays(pi2, "pm_card_visa"); /* at the last moment */
	CU_ASSERT_EQUAL(pw_get(&w, id, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_TIMED_OUT);
	pw_outcome_free(&o);
	intent_status(pi, st, sizeof(st));
	CU_ASSERT_STRING_EQUAL(st, "canceled");
	CU_ASSERT_EQUAL(pw_get(&w, id2, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_SUCCEEDED);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_captures(id2), 1);
	CU_ASSERT_EQUAL(pw_captures(id), 0);
	pw_hooks(&w);
	fakectl_ctl("{\"flush_webhooks\":true}");
}

typedef struct race {
	const char *id;
	int code;
} race;

static void *confirm_thread(void *arg)
{
	race *r = arg;
	pw_outcome o;
	r->code = pw_confirm(&w, r->id, &o);
	pw_outcome_free(&o);
	return NULL;
}

/* A capture in flight and a CancelOrder: the cancel waits for the claim,
 * so it can never land after the money was taken. */
static void test_cancel_takes_the_claim(void)
{
	pw_outcome o;
	char id[64], pp[64], body[128];
	race r;
	pthread_t t;
	int st;
	const char *p = project("p_race");
	fakectl_ctl("{\"webhooks\":{\"paypal_url\":null}}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, PAYPAL, NULL, NULL, 0, &o), G_OK);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pp, sizeof(pp), "%s", o.order ? o.order->paypal_order_id : "");
	pw_outcome_free(&o);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", pp);
	fakectl_ctl(body);
	fakectl_ctl("{\"fault\":\"slow\",\"times\":1,\"slow_ms\":1200,\"match\":\"POST "
		    "/v2/checkout/orders/\"}");
	r.id = id;
	pthread_create(&t, NULL, confirm_thread, &r);
	usleep(300 * 1000); /* the capture is at the provider */
	st = pw_cancel(&w, id, &o);
	pthread_join(t, NULL);
	CU_ASSERT(st == G_FAILED_PRECONDITION || st == G_ABORTED);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(r.code, G_OK);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_SUCCEEDED);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	fakectl_ctl("{\"fault\":\"none\"}");
	pw_hooks(&w);
	fakectl_ctl("{\"flush_webhooks\":true}");
}

/* The buyer present: on-session (use_stripe_sdk, return_url), a 3-D
 * Secure card answers requires_action with the client secret; the buyer
 * authenticates and the webhook settles the order through the engine. */
static void test_on_session_3ds(void)
{
	pw_outcome o;
	char id[64], pi[128], body[200];
	json_t *prm;
	const char *p = project("p_3ds");
	CU_ASSERT_EQUAL(
		pw_checkout(&w, p, STRIPE, "pm_card_authenticationRequired", "cus_1", 0, &o), G_OK);
	CU_ASSERT_EQUAL_FATAL(o.order ? (int)o.order->status : 0, O_PENDING);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.order->stripe_client_secret, "_secret_"));
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pi, sizeof(pi), "%s", o.order->stripe_payment_intent_id);
	pw_outcome_free(&o);
	prm = sent_params("/v1/payment_intents", id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(prm, "use_stripe_sdk")) ?: "",
			       "true");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(prm, "return_url")) ?: "",
			       "https://app.example/3ds-done");
	CU_ASSERT_PTR_NULL(json_object_get(prm, "off_session"));
	json_decref(prm);
	snprintf(body, sizeof(body), "{\"authenticate\":\"%s\"}", pi);
	fakectl_ctl(body); /* payment_intent.succeeded is delivered to billingd */
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	CU_ASSERT(pw_item_active(&w, p, NULL));
}

/* An auto-renewal is off-session: a card needing authentication gets 402
 * authentication_required; the renewal group's order stays PENDING_PAYMENT
 * and recoverable with its intent and client secret (issue 16). The buyer
 * recovers it: RecoverRenewal confirms the same intent on-session and says
 * AUTHENTICATE with the client secret; once 3-D Secure is done (the fake's
 * payment_intent.succeeded webhook) the order SUCCEEDS and the item is
 * extended 30 days exactly once, the retry days that follow charging
 * nothing more. */
static void test_auto_renewal_off_session(void)
{
	pw_outcome o;
	char id[64], pi[128], body[200], ids[8][64], ar[64] = "", subject[96];
	size_t n;
	int64_t now = 0, e = 0, e2 = 0;
	const char *p = project("p_auto");
	Smartplus__Billing__V1__RecoverRenewalRequest rq =
		SMARTPLUS__BILLING__V1__RECOVER_RENEWAL_REQUEST__INIT;
	Smartplus__Billing__V1__RecoverRenewalResponse *rr = NULL;

	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_9", 0, &o), G_OK);
	pw_outcome_free(&o);
	/* Renewed on AUTO with a card that asks for 3-D Secure every time. */
	CU_ASSERT_EQUAL(pw_renew(&w, p, STRIPE, "pm_card_authenticationRequired", "cus_9", 1, &o),
			G_OK);
	if (o.code)
		fprintf(stderr, "auto-renew renewal: %d %s %s\n", o.code, o.reason, o.message);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pi, sizeof(pi), "%s", o.order ? o.order->stripe_payment_intent_id : "");
	if (o.order && o.order->create_time)
		now = o.order->create_time->seconds;
	pw_outcome_free(&o);
	snprintf(body, sizeof(body), "{\"authenticate\":\"%s\"}", pi);
	fakectl_ctl(body);
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	CU_ASSERT_FATAL(pw_item_active(&w, p, &e));
	CU_ASSERT_FATAL(now > 0 && e > now * 1000000);
	/* to 12 h after the first off-session attempt (24 h before expiry) */
	CU_ASSERT_EQUAL(pw_advance(&w, (e / 1000000 - now) - 12 * HOUR), 0);
	n = pw_project_orders(&w, p, ids, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (strcmp(ids[i], id) != 0 && strncmp(ids[i], "ord_ar_", 7) == 0)
			snprintf(ar, sizeof(ar), "%s", ids[i]);
	CU_ASSERT_FATAL(ar[0] != 0);
	CU_ASSERT_EQUAL(pw_get(&w, ar, &o), G_OK);
	if (o.order) {
		json_t *prm = sent_params("/v1/payment_intents", ar);
		CU_ASSERT_EQUAL(o.order->status, V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT));
		CU_ASSERT(o.order->recoverable);
		CU_ASSERT_EQUAL(o.order->attempts, 1);
		CU_ASSERT_STRING_EQUAL(o.order->failure_reason, "authentication_required");
		CU_ASSERT_NSTRING_EQUAL(o.order->stripe_payment_intent_id, "pi_", 3);
		CU_ASSERT_PTR_NOT_NULL(strstr(o.order->stripe_client_secret, "_secret_"));
		CU_ASSERT_PTR_NOT_NULL(o.order->next_attempt_time);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(prm, "off_session")) ?: "",
				       "true");
		CU_ASSERT_PTR_NULL(json_object_get(prm, "use_stripe_sdk"));
		json_decref(prm);
		snprintf(pi, sizeof(pi), "%s", o.order->stripe_payment_intent_id);
	}
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_captures(ar), 0);
	/* the failed attempt asks the payer to act, once (issue 15's events) */
	snprintf(subject, sizeof(subject), "orders/%s", ar);
	CU_ASSERT_EQUAL(events_of(subject, "renewal.requires_action"), 1);
	CU_ASSERT_EQUAL(events_of(subject, "renewal.failed"), 1);
	CU_ASSERT_EQUAL(events_of(subject, "order.created"), 1);
	/* the buyer is present: the same intent, on-session */
	rq.order_id = ar;
	CU_ASSERT_EQUAL_FATAL(spb_billing_recover_renewal(w.cli, &rq, &rr, NULL), 0);
	CU_ASSERT_EQUAL(rr->next_step, V1(RECOVERY_STEP__RECOVERY_STEP_AUTHENTICATE));
	CU_ASSERT_PTR_NOT_NULL(strstr(rr->client_secret, "_secret_"));
	CU_ASSERT(rr->order && strcmp(rr->order->stripe_payment_intent_id, pi) == 0);
	spb_message_free(rr);
	snprintf(body, sizeof(body), "{\"authenticate\":\"%s\"}", pi);
	fakectl_ctl(body);
	CU_ASSERT_EQUAL(pw_wait_status(&w, ar, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	CU_ASSERT_EQUAL(pw_captures(ar), 1);
	CU_ASSERT(pw_item_active(&w, p, &e2));
	CU_ASSERT_EQUAL(e2, e + 30LL * 24 * HOUR * 1000000);
	CU_ASSERT_EQUAL(events_of(subject, "order.succeeded"), 1);
	/* past every retry day: nothing more is charged, the item moved once */
	CU_ASSERT_EQUAL(pw_advance(&w, 5 * 24 * HOUR), 0);
	CU_ASSERT_EQUAL(pw_captures(ar), 1);
	CU_ASSERT(pw_item_active(&w, p, &e2));
	CU_ASSERT_EQUAL(e2, e + 30LL * 24 * HOUR * 1000000);
}

/* 429 with Retry-After and 409 lock_timeout: the order stays PROCESSING,
 * the SDK caller gets its id, and the same key is tried again later. */
static void test_retryable_same_key(void)
{
	pw_outcome o;
	char id[64];
	const char *p = project("p_429");
	fakectl_ctl("{\"fault\":\"429\",\"times\":2,\"retry_after_s\":1,\"match\":\"POST "
		    "/v1/payment_intents\"}");
	fakectl_ctl("{\"add_fault\":{\"fault\":\"lock_timeout\",\"times\":1,\"match\":\"POST "
		    "/v1/payment_intents\"}}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o), G_UNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(o.reason, "PROVIDER_UNAVAILABLE");
	snprintf(id, sizeof(id), "%s", o.order_id);
	CU_ASSERT_NSTRING_EQUAL(id, "ord_", 4);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	CU_ASSERT(pw_creates(id, NULL) >= 3); /* all under the order's one key */
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	fakectl_ctl("{\"fault\":\"none\"}");
}

/* Our own key refused: an operator error, never a decline. */
static void test_operator_error(void)
{
	pw_outcome o;
	char id[64];
	const char *p = project("p_401");
	fakectl_ctl("{\"fault\":\"401\",\"times\":2}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o), G_UNAVAILABLE);
	snprintf(id, sizeof(id), "%s", o.order_id);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_PROCESSING);
	CU_ASSERT(pw_log_has(&w, "refused billingd's credentials"));
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
}

/* A 400 is PROVIDER_REJECTED (not a decline), with the Request-Id logged;
 * a decline is PAYMENT_DECLINED; both carry the order id. */
static void test_rejected_and_declined(void)
{
	pw_outcome o;
	const char *p = project("p_400"), *p2 = project("p_402");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_no_such_card", "cus_1", 0, &o),
			G_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(o.reason, "PROVIDER_REJECTED");
	CU_ASSERT_NSTRING_EQUAL(o.order_id, "ord_", 4);
	CU_ASSERT_EQUAL(pw_status(&w, o.order_id), O_FAILED);
	CU_ASSERT(pw_log_has(&w, "request id req_"));
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_checkout(&w, p2, STRIPE, "pm_card_chargeDeclined", "cus_1", 0, &o),
			G_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(o.reason, "PAYMENT_DECLINED");
	CU_ASSERT_NSTRING_EQUAL(o.order_id, "ord_", 4);
	CU_ASSERT_EQUAL(pw_status(&w, o.order_id), O_FAILED);
	CU_ASSERT_EQUAL(pw_captures(o.order_id), 0);
	pw_outcome_free(&o);
}

/* PayPal: return/cancel URLs in experience_context; INSTRUMENT_DECLINED at
 * capture leaves the order payable with the link back to PayPal. */
static void test_paypal_payer_action(void)
{
	pw_outcome o;
	char id[64], pp[64], body[200];
	json_t *prm, *x;
	const char *p = project("p_pp_declined");
	fakectl_ctl("{\"webhooks\":{\"paypal_url\":null}}");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, PAYPAL, NULL, NULL, 0, &o), G_OK);
	CU_ASSERT_EQUAL_FATAL(o.order ? (int)o.order->status : 0, O_PENDING);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pp, sizeof(pp), "%s", o.order->paypal_order_id);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.order->paypal_approval_url, pp));
	pw_outcome_free(&o);
	prm = sent_params("/v2/checkout/orders", id);
	x = json_object_get(json_object_get(json_object_get(prm, "payment_source"), "paypal"),
			    "experience_context");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(x, "return_url")) ?: "",
			       "https://app.example/paypal/return");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(x, "cancel_url")) ?: "",
			       "https://app.example/paypal/cancel");
	json_decref(prm);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\",\"paypal_decline\":\"%s\"}", pp, pp);
	fakectl_ctl(body);
	CU_ASSERT_EQUAL(pw_confirm(&w, id, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_PENDING);
	CU_ASSERT_PTR_NOT_NULL(o.order ? strstr(o.order->paypal_approval_url, pp) : NULL);
	pw_outcome_free(&o);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", pp);
	fakectl_ctl(body);
	CU_ASSERT_EQUAL(pw_confirm(&w, id, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_SUCCEEDED);
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	pw_hooks(&w);
}

/* Webhooks settle orders through the engine; a duplicate or a late event
 * changes nothing. */
static void test_webhooks_settle(void)
{
	pw_outcome o;
	char id[64], pp[64], body[200];
	json_t *hooks, *ev;
	size_t i;
	const char *p = project("p_pp_hook");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, PAYPAL, NULL, NULL, 0, &o), G_OK);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pp, sizeof(pp), "%s", o.order ? o.order->paypal_order_id : "");
	pw_outcome_free(&o);
	fakectl_ctl("{\"webhooks\":{\"duplicate\":1,\"reorder\":0}}");
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", pp);
	fakectl_ctl(body); /* CHECKOUT.ORDER.APPROVED: billingd captures */
	CU_ASSERT_EQUAL(pw_wait_status(&w, id, O_SUCCEEDED, WAIT_MS), O_SUCCEEDED);
	pw_webhooks_idle();
	/* every event once more, late */
	hooks = fakectl_call("GET", "/_webhooks", NULL, NULL, NULL, NULL);
	json_array_foreach(json_object_get(hooks, "events"), i, ev)
	{
		const char *oid = json_string_value(json_object_get(ev, "order_id"));
		if (oid && strcmp(oid, id) == 0)
			ctl("resend", json_string_value(json_object_get(ev, "id")));
	}
	json_decref(hooks);
	pw_webhooks_idle();
	usleep(300 * 1000);
	CU_ASSERT_EQUAL(pw_status(&w, id), O_SUCCEEDED);
	CU_ASSERT_EQUAL(pw_captures(id), 1);
	fakectl_ctl("{\"webhooks\":{\"duplicate\":0}}");
}

/* A dispute flags the order, visible on GetOrder, and is one
 * order.disputed event (a repeated webhook adds none). */
static void test_dispute_flags(void)
{
	pw_outcome o;
	char id[64], pi[128], subject[80];
	const char *p = project("p_dispute");
	CU_ASSERT_EQUAL(pw_checkout(&w, p, STRIPE, "pm_card_visa", "cus_1", 0, &o), G_OK);
	CU_ASSERT_EQUAL(o.order ? (int)o.order->status : 0, O_SUCCEEDED);
	CU_ASSERT(o.order && !o.order->disputed);
	snprintf(id, sizeof(id), "%s", o.order_id);
	snprintf(pi, sizeof(pi), "%s", o.order ? o.order->stripe_payment_intent_id : "");
	pw_outcome_free(&o);
	ctl("dispute", pi);
	pw_webhooks_idle();
	for (int i = 0; i < 100; i++) {
		CU_ASSERT_EQUAL(pw_get(&w, id, &o), G_OK);
		if (o.order && o.order->disputed)
			break;
		pw_outcome_free(&o);
		usleep(50 * 1000);
	}
	CU_ASSERT(o.order && o.order->disputed);
	pw_outcome_free(&o);
	snprintf(subject, sizeof(subject), "orders/%s", id);
	CU_ASSERT_EQUAL(events_of(subject, "order.succeeded"), 1);
	CU_ASSERT_EQUAL(events_of(subject, "order.disputed"), 1);
	ctl("dispute", pi); /* the same dispute again: the order is flagged already */
	pw_webhooks_idle();
	CU_ASSERT_EQUAL(events_of(subject, "order.disputed"), 1);
}

/* Per-provider currency tables at SetPrice and quote time. */
static void test_currency_tables(void)
{
	pw_outcome o;
	int64_t total;
	uint32_t m;
	const char *p = project("p_cur");
	CU_ASSERT_EQUAL(pw_set_price(&w, 1000, "AAA", &o), G_INVALID_ARGUMENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.message, "currency"));
	/* KWD 1.235: three decimals not ending in 0 (Stripe), not PayPal's */
	CU_ASSERT_EQUAL(pw_set_price(&w, 1235, "KWD", &o), G_OK);
	CU_ASSERT_EQUAL(pw_quote(&w, p, &total, &m, &o), G_INVALID_ARGUMENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.message, "KWD"));
	/* KWD 1.230: Stripe only */
	CU_ASSERT_EQUAL(pw_set_price(&w, 1230, "KWD", &o), G_OK);
	CU_ASSERT_EQUAL(pw_quote(&w, p, &total, &m, &o), G_OK);
	CU_ASSERT(m & (1u << STRIPE));
	CU_ASSERT(!(m & (1u << PAYPAL)));
	CU_ASSERT_EQUAL(pw_checkout(&w, p, PAYPAL, NULL, NULL, 0, &o), G_INVALID_ARGUMENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.message, "payment_method"));
	pw_outcome_free(&o);
	/* HUF 1234.56: Stripe yes, PayPal whole forints only */
	CU_ASSERT_EQUAL(pw_set_price(&w, 123456, "HUF", &o), G_OK);
	CU_ASSERT_EQUAL(pw_quote(&w, p, &total, &m, &o), G_OK);
	CU_ASSERT(!(m & (1u << PAYPAL)));
	CU_ASSERT_EQUAL(pw_set_price(&w, 123400, "HUF", &o), G_OK);
	CU_ASSERT_EQUAL(pw_quote(&w, p, &total, &m, &o), G_OK);
	CU_ASSERT(m & (1u << PAYPAL));
	CU_ASSERT_EQUAL(pw_checkout(&w, p, PAYPAL, NULL, NULL, 0, &o), G_OK);
	CU_ASSERT_STRING_EQUAL(o.order ? o.order->currency : "", "HUF");
	pw_outcome_free(&o);
	CU_ASSERT_EQUAL(pw_set_price(&w, PW_PRICE, "USD", &o), G_OK);
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned failures;
	if (argc != 4) {
		fprintf(stderr, "usage: test_provider_truths <billingd> <node> <provider.js>\n");
		return 2;
	}
	bin = argv[1];
	node = argv[2];
	js = argv[3];
	if (pw_start(&w, bin, node, js, NULL) != 0) {
		fprintf(stderr,
			"test_provider_truths: the fake or billingd did not start (log %s)\n",
			w.srv.log_path);
		pw_stop(&w, 1);
		return 1;
	}
	CU_initialize_registry();
	s = CU_add_suite("provider_truths", NULL, NULL);
	CU_add_test(s, "a lost create (saved 500 after the charge) is found by search",
		    test_lost_create_found_by_search);
	CU_add_test(s, "a create is never replayed after 23 h; the order fails with no money",
		    test_never_replayed_after_23h);
	CU_add_test(s, "provider clock 23 h on, billingd's not: its Date stops the replay",
		    test_no_replay_on_the_providers_clock);
	CU_add_test(s, "a charged create's answer lost, the key pruned: searched, never re-sent",
		    test_lost_answer_key_pruned_before_retry);
	CU_add_test(s, "provider clock past the key's 24 h, billingd's not: search, no 2nd create",
		    test_no_create_after_the_provider_pruned_the_key);
	CU_add_test(s, "the same for a renewal attempt the scheduler resumes",
		    test_resumed_renewal_no_second_create);
	CU_add_test(s, "PayPal: no create after 5 h of its 6 h request-id window",
		    test_paypal_window);
	CU_add_test(s, "CancelOrder cancels the intent at Stripe first",
		    test_cancel_cancels_the_intent);
	CU_add_test(s, "a cancel of an intent already paid makes the order SUCCEEDED",
		    test_cancel_after_payment_succeeds);
	CU_add_test(s, "the 24 h time-out cancels the intent first (or succeeds if paid)",
		    test_timeout_cancels_the_intent);
	CU_add_test(s, "CancelOrder takes the provider claim: no cancel after a capture",
		    test_cancel_takes_the_claim);
	CU_add_test(s,
		    "buyer present: on-session, requires_action + client secret, webhook settles",
		    test_on_session_3ds);
	CU_add_test(s, "auto-renewal off-session records authentication_required",
		    test_auto_renewal_off_session);
	CU_add_test(s, "429/409 stay PROCESSING, the same key is retried (Retry-After)",
		    test_retryable_same_key);
	CU_add_test(s, "401 is an operator error: PROCESSING, ERROR logged, never a decline",
		    test_operator_error);
	CU_add_test(s, "400 PROVIDER_REJECTED, 402 PAYMENT_DECLINED, both with order_id metadata",
		    test_rejected_and_declined);
	CU_add_test(s, "PayPal INSTRUMENT_DECLINED stays payable; return/cancel URLs sent",
		    test_paypal_payer_action);
	CU_add_test(s, "webhooks settle through the engine; duplicates change nothing",
		    test_webhooks_settle);
	CU_add_test(s, "a dispute flags the order on GetOrder", test_dispute_flags);
	CU_add_test(s, "currency tables at SetPrice and quote time", test_currency_tables);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	if (failures)
		fprintf(stderr, "billingd log: %s\n", w.srv.log_path);
	pw_stop(&w, failures != 0);
	return failures ? 1 : 0;
}
