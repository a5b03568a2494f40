/*
 * Live payments end to end: the real billingd (with the reconciler, see
 * the real billingd) started with --payments live against tests/fakes/provider.js,
 * driven through the SDK. Happy paths for Stripe and PayPal; each fault
 * (decline, 500, 429, slow, a connection dropped after the charge followed
 * by kill -9 and a restart); 200 concurrent checkouts with 20% injected
 * faults, checked against the fake's charges. Seeded through the API;
 * one CUnit test per scenario. Loopback only.
 *
 *   test_live_orders BILLINGD NODE PROVIDER_JS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spt_billingd.h"
#include "spt_fake.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define STRIPE METHOD(STRIPE)
#define PAYPAL METHOD(PAYPAL)
#define O_PENDING OSTATUS(PENDING_PAYMENT)
#define O_PROCESSING OSTATUS(PROCESSING)
#define O_SUCCEEDED OSTATUS(SUCCEEDED)
#define O_FAILED OSTATUS(FAILED)
#define O_TIMED_OUT OSTATUS(TIMED_OUT)
#define O_CANCELED OSTATUS(CANCELED)
#define COMM PTYPE(COMMUNITY)
#define S_APP STYPE(APP)
#define G_OK 0
#define G_FAILED_PRECONDITION 9
#define G_UNAVAILABLE 14
#define DAY SPT_DAY_US
#define PRICE 500 /* USD cents per month */
#define N_CHECKOUTS 200
#define N_THREADS 16
#define PROVIDER_TIMEOUT_MS "1000"

static spt_fake fake;
static spt_billingd srv;
static spb_client *cli;
static int64_t REAL0;

/* ---- the fake provider ---- */

static json_t *fake_call(const char *method, const char *path, const char *body, const char *auth)
{
	return spt_fake_request(&fake, method, path, body, auth);
}

static void control(const char *json)
{
	SPT_CHECK(spt_fake_control(&fake, json) == 0, "the fake took %s", json);
}

static void approve(const char *paypal_order_id)
{
	char body[200];
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", paypal_order_id);
	control(body);
}

static int charges(const char *key)
{
	return spt_fake_charges(&fake, key);
}

/* ---- billingd ---- */

/* (Re)starts billingd on its data directory with PROCESSING orders
 * reconciled every reconcile_ms, and connects. 0 or -1. */
static int restart_billingd(const char *reconcile_ms)
{
	const char *const more[] = {"--reconcile-interval-ms", reconcile_ms, NULL};
	spb_client_free(cli);
	cli = NULL;
	if (spt_billingd_restart_with(&srv, NULL, more) != 0)
		return -1;
	cli = spt_client_to(srv.target, srv.admin_key, 10000);
	return cli ? 0 : -1;
}

static void stop_billingd(int kill9)
{
	if (kill9)
		spt_billingd_kill(&srv);
	else
		SPT_CHECK(spt_billingd_stop(&srv) == 0, "billingd stops cleanly");
}

/* ---- seeding ---- */

/* A project with one inactive APP item "<project>_app". */
static void project(const char *id)
{
	spt_project p = {id, "i1", COMM, NULL, 0, 0, REAL0 - 100 * DAY};
	char item_id[80];

	snprintf(item_id, sizeof(item_id), "%s_app", id);
	SPT_SEED(spt_create_project_spec(cli, NULL, &p));
	SPT_SEED(spt_create_item(cli, NULL, id, item_id, S_APP));
}

/* ---- calls ---- */

/* The outcome of a checkout call. */
typedef struct outcome {
	int code; /* gRPC */
	char reason[64];
	char message[256];
	Smartplus__Billing__V1__Order *order; /* NULL unless OK */
	void *keep;
} outcome;

static void outcome_free(outcome *o)
{
	spb_message_free(o->keep);
	memset(o, 0, sizeof(*o));
}

static void last_error(outcome *o)
{
	const spb_error *e = spb_error_last();
	o->code = e->grpc_code;
	snprintf(o->reason, sizeof(o->reason), "%s", e->reason);
	snprintf(o->message, sizeof(o->message), "%s", e->message);
}

/* Quote (1 month of the project's app) and activate with method / pm. */
static int checkout(const char *project_id, int method, const char *pm, outcome *out)
{
	spt_quote_spec q = {ACTION(ACTIVATE), "d1", "i1", COMM, project_id, 0, NULL, 1, 0, ""};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;

	memset(out, 0, sizeof(*out));
	if (spt_quote(cli, NULL, &q, &qr) != 0) {
		last_error(out);
		snprintf(out->reason, sizeof(out->reason), "QUOTE_FAILED");
		return out->code ? out->code : -1;
	}
	if (spt_place_order(cli, NULL, ACTION(ACTIVATE), qr->quote->quote_id, method, pm,
			    &out->order, &out->keep) != 0)
		last_error(out);
	spb_message_free(qr);
	return out->code;
}

static int confirm(const char *order_id, outcome *out)
{
	Smartplus__Billing__V1__ConfirmOrderRequest r =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *resp = NULL;
	memset(out, 0, sizeof(*out));
	r.order_id = (char *)order_id;
	if (spb_billing_confirm_order(cli, &r, &resp, NULL) == 0) {
		out->order = resp->order;
		out->keep = resp;
	} else {
		last_error(out);
	}
	return out->code;
}

/* The project's only (newest) order, through ListOrders; NULL if none.
 * *n: how many orders the project has. Free with spb_message_free(*keep). */
static Smartplus__Billing__V1__Order *project_order(const char *project_id, size_t *n, void **keep)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *resp = NULL;
	*keep = NULL;
	*n = 0;
	r.payer_id = "d1";
	r.project_id = (char *)project_id;
	r.page_size = 1000;
	if (spb_billing_list_orders(cli, &r, &resp, NULL) != 0)
		return NULL;
	*keep = resp;
	*n = resp->n_orders;
	return resp->n_orders ? resp->orders[0] : NULL;
}

/* The order's status (0 if it cannot be read); ids copied when asked. */
static int order_status(const char *order_id, char *paypal_id, size_t cap, int64_t *total)
{
	Smartplus__Billing__V1__GetOrderRequest r = SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__GetOrderResponse *resp = NULL;
	int st;
	r.order_id = (char *)order_id;
	if (spb_billing_get_order(cli, &r, &resp, NULL) != 0)
		return 0;
	st = resp->order->status;
	if (paypal_id)
		snprintf(paypal_id, cap, "%s", resp->order->paypal_order_id);
	if (total)
		*total = resp->order->total;
	spb_message_free(resp);
	return st;
}

/* Waits (bounded) for the order to leave PROCESSING / PENDING_PAYMENT. */
static int wait_settled(const char *order_id, long max_ms)
{
	int64_t end = spt_mono_ms() + max_ms;
	int st = 0;
	do {
		st = order_status(order_id, NULL, 0, NULL);
		if (st && st != O_PROCESSING && st != O_PENDING)
			return st;
		spt_sleep_ms(200);
	} while (spt_mono_ms() < end);
	return st;
}

/* The item's status and expiry through ListItems. */
static int item_state(const char *project_id, int *st, int64_t *exp)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
	int found = 0;
	r.project_id = (char *)project_id;
	if (spb_billing_list_items(cli, &r, &resp, NULL) != 0)
		return 0;
	for (size_t i = 0; i < resp->n_items; i++) {
		*st = resp->items[i]->status;
		*exp = spt_ts_us(resp->items[i]->expires_at);
		found = 1;
	}
	spb_message_free(resp);
	return found;
}

/* The item was activated exactly once: ACTIVE, about one month from now. */
static int applied_once(const char *project_id)
{
	int st = 0;
	int64_t exp = 0, now = spt_real_us();
	if (!item_state(project_id, &st, &exp))
		return 0;
	return st == ISTATUS(ACTIVE) && exp > now + 27 * DAY && exp < now + 32 * DAY;
}

/* ---- scenarios ---- */

static void test_stripe_happy(void)
{
	outcome o;
	project("p_stripe");
	SPT_CHECK(checkout("p_stripe", STRIPE, "pm_card_visa", &o) == G_OK, "activate: %s %s",
		  o.reason, o.message);
	if (o.order) {
		SPT_CHECK(o.order->status == O_SUCCEEDED, "status %d", o.order->status);
		SPT_CHECK(!o.order->sandbox, "a live order is not marked sandbox");
		SPT_CHECK(strncmp(o.order->stripe_payment_intent_id, "pi_", 3) == 0,
			  "intent id '%s'", o.order->stripe_payment_intent_id);
		SPT_CHECK(charges(o.order->order_id) == 1, "one charge under the order id");
	}
	SPT_CHECK(applied_once("p_stripe"), "item activated once");
	outcome_free(&o);
}

static void test_stripe_client_confirms(void)
{
	outcome o, c;
	char path[200];
	json_t *j;
	project("p_stripe_cs");
	SPT_CHECK(checkout("p_stripe_cs", STRIPE, "", &o) == G_OK, "activate: %s %s", o.reason,
		  o.message);
	if (!o.order) {
		outcome_free(&o);
		return;
	}
	SPT_CHECK(o.order->status == O_PENDING, "PENDING_PAYMENT, got %d", o.order->status);
	SPT_CHECK(strstr(o.order->stripe_client_secret, "_secret_") != NULL, "client secret");
	/* the buyer's browser confirms the intent with Stripe.js */
	snprintf(path, sizeof(path), "/v1/payment_intents/%s/confirm",
		 o.order->stripe_payment_intent_id);
	j = fake_call("POST", path, "payment_method=pm_card_visa", "sk_test_x");
	SPT_CHECK(j && strcmp(json_string_value(json_object_get(j, "status")) ?: "", "succeeded") ==
				  0,
		  "intent confirmed at the fake");
	json_decref(j);
	SPT_CHECK(confirm(o.order->order_id, &c) == G_OK && c.order &&
			  c.order->status == O_SUCCEEDED,
		  "ConfirmOrder: SUCCEEDED (%s %s)", c.reason, c.message);
	SPT_CHECK(applied_once("p_stripe_cs"), "item activated once");
	outcome_free(&c);
	outcome_free(&o);
}

static void test_paypal_happy(void)
{
	outcome o, c;
	char key[128];
	project("p_paypal");
	SPT_CHECK(checkout("p_paypal", PAYPAL, NULL, &o) == G_OK, "activate: %s %s", o.reason,
		  o.message);
	if (!o.order) {
		outcome_free(&o);
		return;
	}
	SPT_CHECK(o.order->status == O_PENDING, "PENDING_PAYMENT, got %d", o.order->status);
	SPT_CHECK(o.order->paypal_order_id[0] &&
			  strstr(o.order->paypal_approval_url, o.order->paypal_order_id),
		  "approval link '%s'", o.order->paypal_approval_url);
	SPT_CHECK(confirm(o.order->order_id, &c) == G_OK && c.order && c.order->status == O_PENDING,
		  "ConfirmOrder before approval: still PENDING_PAYMENT");
	outcome_free(&c);
	approve(o.order->paypal_order_id);
	SPT_CHECK(confirm(o.order->order_id, &c) == G_OK && c.order &&
			  c.order->status == O_SUCCEEDED,
		  "ConfirmOrder after approval: SUCCEEDED (%s %s)", c.reason, c.message);
	outcome_free(&c);
	SPT_CHECK(confirm(o.order->order_id, &c) == G_OK && c.order &&
			  c.order->status == O_SUCCEEDED,
		  "ConfirmOrder again: SUCCEEDED (idempotent)");
	outcome_free(&c);
	snprintf(key, sizeof(key), "%s-capture", o.order->order_id);
	SPT_CHECK(charges(key) == 1, "one capture, got %d", charges(key));
	SPT_CHECK(applied_once("p_paypal"), "item activated once");
	outcome_free(&o);
}

static void test_decline(void)
{
	outcome o;
	size_t n;
	void *k;
	Smartplus__Billing__V1__Order *ord;
	project("p_decline");
	control("{\"fault\":\"decline\",\"times\":1}");
	SPT_CHECK(checkout("p_decline", STRIPE, "pm_card_visa", &o) == G_FAILED_PRECONDITION,
		  "code %d %s", o.code, o.message);
	SPT_CHECK(strcmp(o.reason, "PAYMENT_DECLINED") == 0, "reason '%s'", o.reason);
	SPT_CHECK(strstr(o.message, "generic_decline") != NULL, "decline code in the message: '%s'",
		  o.message);
	ord = project_order("p_decline", &n, &k);
	SPT_CHECK(ord && n == 1 && ord->status == O_FAILED &&
			  strcmp(ord->failure_reason, "generic_decline") == 0,
		  "order FAILED with generic_decline");
	if (ord)
		SPT_CHECK(charges(ord->order_id) == 0, "nothing charged");
	SPT_CHECK(!applied_once("p_decline"), "nothing applied");
	spb_message_free(k);
	outcome_free(&o);
	control("{\"fault\":\"none\"}");
}

/* 500 / 429: UNAVAILABLE and PROCESSING while the fault lasts (the
 * reconciler meets it too), SUCCEEDED once it is cleared, one charge. */
static void s_outage(const char *fault, const char *project_id)
{
	outcome o;
	size_t n;
	void *k;
	char body[128], id[64] = "";
	Smartplus__Billing__V1__Order *ord;
	int st;

	project(project_id);
	snprintf(body, sizeof(body), "{\"fault\":\"%s\"}", fault);
	control(body);
	SPT_CHECK(checkout(project_id, STRIPE, "pm_card_visa", &o) == G_UNAVAILABLE, "code %d %s",
		  o.code, o.message);
	SPT_CHECK(strcmp(o.reason, "PROVIDER_UNAVAILABLE") == 0, "reason '%s'", o.reason);
	ord = project_order(project_id, &n, &k);
	SPT_CHECK(ord && n == 1 && ord->status == O_PROCESSING, "order PROCESSING");
	if (ord)
		snprintf(id, sizeof(id), "%s", ord->order_id);
	spb_message_free(k);
	spt_sleep_ms(2500); /* two reconciler rounds meet the fault */
	SPT_CHECK(order_status(id, NULL, 0, NULL) == O_PROCESSING,
		  "still PROCESSING while the provider fails");
	SPT_CHECK(charges(id) == 0, "nothing charged yet");
	control("{\"fault\":\"none\"}");
	st = wait_settled(id, 10000);
	SPT_CHECK(st == O_SUCCEEDED, "settled SUCCEEDED by the reconciler, got %d", st);
	SPT_CHECK(charges(id) == 1, "exactly one charge, got %d", charges(id));
	SPT_CHECK(applied_once(project_id), "item activated once");
	outcome_free(&o);
}

typedef struct bg_checkout {
	const char *project;
	outcome o;
} bg_checkout;

static void *bg_run(void *arg)
{
	bg_checkout *b = arg;
	checkout(b->project, STRIPE, "pm_card_visa", &b->o);
	return NULL;
}

static void test_slow(void)
{
	bg_checkout b = {.project = "p_slow"};
	pthread_t t;
	outcome q;
	size_t n;
	void *k;
	char id[64] = "";
	Smartplus__Billing__V1__Order *ord;
	int64_t t0, worst = 0;
	int st;

	project("p_slow");
	project("p_slow_other");
	control("{\"fault\":\"slow\",\"slow_ms\":2500,\"times\":1}");
	if (pthread_create(&t, NULL, bg_run, &b) != 0) {
		SPT_CHECK(0, "thread");
		return;
	}
	spt_sleep_ms(300); /* the payment call is now waiting on the provider */
	for (int i = 0; i < 5; i++) {
		Smartplus__Billing__V1__ListItemsRequest r =
			SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
		Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
		Smartplus__Billing__V1__QuoteServicesRequest qq =
			SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
		char *projects[1] = {"p_slow_other"};
		t0 = spt_mono_ms();
		r.project_id = "p_slow_other";
		SPT_CHECK(spb_billing_list_items(cli, &r, &resp, NULL) == 0, "ListItems");
		spb_message_free(resp);
		qq.action = ACTION(ACTIVATE);
		qq.payer_id = "d1";
		qq.installer_id = "i1";
		qq.project_type = COMM;
		qq.n_project_ids = 1;
		qq.project_ids = projects;
		qq.months = 1;
		qq.coupon_code = "";
		SPT_CHECK(spb_billing_quote_services(cli, &qq, &qr, NULL) == 0, "QuoteServices");
		spb_message_free(qr);
		if (spt_mono_ms() - t0 > worst)
			worst = spt_mono_ms() - t0;
	}
	memset(&q, 0, sizeof(q));
	SPT_CHECK(worst < 500, "a quote + a read took %lld ms while the provider was slow",
		  (long long)worst);
	pthread_join(t, NULL);
	SPT_CHECK(b.o.code == G_UNAVAILABLE, "slow call: UNAVAILABLE, got %d %s", b.o.code,
		  b.o.message);
	ord = project_order("p_slow", &n, &k);
	SPT_CHECK(ord && n == 1 && (ord->status == O_PROCESSING || ord->status == O_SUCCEEDED),
		  "order PROCESSING (or already reconciled)");
	if (ord)
		snprintf(id, sizeof(id), "%s", ord->order_id);
	spb_message_free(k);
	st = wait_settled(id, 10000);
	SPT_CHECK(st == O_SUCCEEDED, "settled SUCCEEDED by the reconciler, got %d", st);
	SPT_CHECK(charges(id) == 1, "the slow charge is the only one, got %d", charges(id));
	SPT_CHECK(applied_once("p_slow"), "item activated once");
	outcome_free(&b.o);
	control("{\"fault\":\"none\",\"slow_ms\":3000}");
}

static void test_crash_after_charge(void)
{
	outcome o;
	size_t n;
	void *k;
	char id[64] = "";
	Smartplus__Billing__V1__Order *ord;
	int st;

	/* no periodic rounds: only the start-up round may settle it */
	stop_billingd(0);
	SPT_REQUIRE(restart_billingd("3600000") == 0, "restart billingd");
	project("p_crash");
	/* twice: the client's one in-call retry is dropped too */
	control("{\"fault\":\"drop_after_charge\",\"times\":2}");
	SPT_CHECK(checkout("p_crash", STRIPE, "pm_card_visa", &o) == G_UNAVAILABLE, "code %d %s",
		  o.code, o.message);
	ord = project_order("p_crash", &n, &k);
	SPT_CHECK(ord && n == 1 && ord->status == O_PROCESSING, "order PROCESSING");
	if (ord)
		snprintf(id, sizeof(id), "%s", ord->order_id);
	spb_message_free(k);
	SPT_CHECK(charges(id) == 1, "the provider charged");
	SPT_CHECK(!applied_once("p_crash"), "nothing applied yet");
	stop_billingd(1);
	SPT_REQUIRE(restart_billingd("3600000") == 0, "restart billingd after kill -9");
	st = wait_settled(id, 10000);
	SPT_CHECK(st == O_SUCCEEDED, "start-up reconciliation: SUCCEEDED, got %d", st);
	SPT_CHECK(charges(id) == 1, "still exactly one charge, got %d", charges(id));
	SPT_CHECK(applied_once("p_crash"), "applied exactly once");
	ord = project_order("p_crash", &n, &k);
	SPT_CHECK(n == 1, "one order for the project, got %zu", n);
	spb_message_free(k);
	outcome_free(&o);
	stop_billingd(0);
	SPT_REQUIRE(restart_billingd("1000") == 0, "restart billingd (1 s rounds)");
}

/* ---- 200 concurrent checkouts with 20% faults ---- */

typedef struct run {
	char project[32];
	int method;
	int code; /* gRPC of the checkout call */
	char order_id[64];
	int final_status;
	int64_t total;
} run;

static run runs[N_CHECKOUTS];
static int next_run;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

static void *checkout_thread(void *arg)
{
	(void)arg;
	for (;;) {
		run *r;
		outcome o, c;
		pthread_mutex_lock(&run_lock);
		r = next_run < N_CHECKOUTS ? &runs[next_run++] : NULL;
		pthread_mutex_unlock(&run_lock);
		if (!r)
			break;
		r->code = checkout(r->project, r->method,
				   r->method == STRIPE ? "pm_card_visa" : NULL, &o);
		if (r->method == PAYPAL && o.order && o.order->paypal_order_id[0]) {
			/* the buyer approves at once, then ConfirmOrder (which may meet a fault:
			 * the reconciler then captures) */
			approve(o.order->paypal_order_id);
			confirm(o.order->order_id, &c);
			outcome_free(&c);
		}
		outcome_free(&o);
	}
	return NULL;
}

static void test_concurrent(void)
{
	pthread_t t[N_THREADS];
	int nt = 0, codes[3] = {0}, states[8] = {0}, n_stripe = 0, n_paypal = 0, unsettled = 0;
	int over_one = 0, unmatched_orders = 0, orphan_charges = 0, amount_mismatch = 0,
	    n_charges = 0;
	int64_t charged = 0, succeeded_total = 0, t0;
	json_t *stats, *list, *faults, *ch;
	const char *fk;
	json_t *fv;
	size_t i;

	for (i = 0; i < N_CHECKOUTS; i++) {
		snprintf(runs[i].project, sizeof(runs[i].project), "pc%03zu", i);
		runs[i].method = i % 5 == 4 ? PAYPAL : STRIPE;
		project(runs[i].project);
	}
	control("{\"reset\":true}");
	control("{\"fault\":\"random\",\"rate\":0.2,\"seed\":7,\"slow_ms\":1500,"
		"\"mix\":[\"decline\",\"500\",\"429\",\"slow\",\"drop_after_charge\"]}");
	t0 = spt_mono_ms();
	for (i = 0; i < N_THREADS; i++)
		if (pthread_create(&t[nt], NULL, checkout_thread, NULL) == 0)
			nt++;
	for (i = 0; i < (size_t)nt; i++)
		pthread_join(t[i], NULL);
	printf("fault run: %d checkouts on %d threads in %lld ms\n", N_CHECKOUTS, nt,
	       (long long)(spt_mono_ms() - t0));
	stats = fake_call("GET", "/_stats", NULL, NULL);
	faults = json_object_get(stats, "faults");
	printf("fault run: provider requests %lld, faults injected:",
	       (long long)json_integer_value(json_object_get(stats, "requests")));
	json_object_foreach(faults, fk, fv)
		printf(" %s=%lld", fk, (long long)json_integer_value(fv));
	printf("\n");
	json_decref(stats);
	control("{\"fault\":\"none\"}");

	/* find every order; approve the PayPal ones whose approval the run missed */
	for (i = 0; i < N_CHECKOUTS; i++) {
		size_t n;
		void *k;
		Smartplus__Billing__V1__Order *o = project_order(runs[i].project, &n, &k);
		SPT_CHECK(n == 1, "%s: one order, got %zu", runs[i].project, n);
		if (o)
			snprintf(runs[i].order_id, sizeof(runs[i].order_id), "%s", o->order_id);
		spb_message_free(k);
		codes[runs[i].code == G_OK ? 0 : runs[i].code == G_UNAVAILABLE ? 1 : 2]++;
		if (runs[i].method == STRIPE)
			n_stripe++;
		else
			n_paypal++;
	}
	for (int pass = 0; pass < 150; pass++) { /* <= ~60 s */
		unsettled = 0;
		for (i = 0; i < N_CHECKOUTS; i++) {
			char pp[64] = "";
			if (runs[i].final_status && runs[i].final_status != O_PROCESSING &&
			    runs[i].final_status != O_PENDING)
				continue;
			runs[i].final_status = order_status(runs[i].order_id, pp, sizeof(pp),
							    &runs[i].total);
			if (runs[i].final_status == O_PENDING && pp[0])
				approve(pp); /* the reconciler captures it next round */
			if (runs[i].final_status == O_PROCESSING ||
			    runs[i].final_status == O_PENDING)
				unsettled++;
		}
		if (!unsettled)
			break;
		spt_sleep_ms(400);
	}
	SPT_CHECK(unsettled == 0, "%d orders still unsettled", unsettled);

	/* the provider's charges against the orders */
	stats = fake_call("GET", "/_stats", NULL, NULL);
	json_object_foreach(json_object_get(stats, "charges"), fk,
			    fv) if (json_integer_value(fv) > 1)
	{
		over_one++;
		fprintf(stderr, "key %s charged %lld times\n", fk,
			(long long)json_integer_value(fv));
	}
	list = json_object_get(stats, "charge_list");
	json_array_foreach(list, i, ch)
	{
		const char *key = json_string_value(json_object_get(ch, "key"));
		int64_t amount = json_integer_value(json_object_get(ch, "amount"));
		size_t kl = key ? strcspn(key, "-") : 0;
		run *r = NULL;
		n_charges++;
		charged += amount;
		for (size_t j = 0; key && j < N_CHECKOUTS && !r; j++)
			if (strlen(runs[j].order_id) == kl &&
			    strncmp(runs[j].order_id, key, kl) == 0)
				r = &runs[j];
		if (!r || r->final_status != O_SUCCEEDED) {
			orphan_charges++;
			fprintf(stderr, "charge %s (%lld) without a SUCCEEDED order\n",
				key ? key : "?", (long long)amount);
		} else if (amount != r->total ||
			   strcmp(json_string_value(json_object_get(ch, "currency")) ?: "",
				  "USD") != 0) {
			amount_mismatch++;
		}
	}
	for (i = 0; i < N_CHECKOUTS; i++) {
		int found = 0;
		size_t j;
		int st = runs[i].final_status;
		states[st >= 0 && st < 8 ? st : 0]++;
		if (st != O_SUCCEEDED)
			continue;
		succeeded_total += runs[i].total;
		json_array_foreach(list, j, ch)
		{
			const char *key = json_string_value(json_object_get(ch, "key"));
			size_t kl = key ? strcspn(key, "-") : 0;
			if (key && strlen(runs[i].order_id) == kl &&
			    strncmp(runs[i].order_id, key, kl) == 0 &&
			    json_integer_value(json_object_get(ch, "amount")) == runs[i].total)
				found = 1;
		}
		if (!found) {
			unmatched_orders++;
			fprintf(stderr, "order %s SUCCEEDED without a charge of %lld\n",
				runs[i].order_id, (long long)runs[i].total);
		}
		SPT_CHECK(applied_once(runs[i].project), "%s: applied once", runs[i].project);
	}
	json_decref(stats);
	printf("fault run: orders %d (Stripe %d, PayPal %d); checkout answers OK %d, UNAVAILABLE "
	       "%d, other %d\n",
	       N_CHECKOUTS, n_stripe, n_paypal, codes[0], codes[1], codes[2]);
	printf("fault run: final states SUCCEEDED %d, FAILED %d, PROCESSING %d, PENDING_PAYMENT "
	       "%d, "
	       "TIMED_OUT %d, CANCELED %d, unreadable %d\n",
	       states[O_SUCCEEDED], states[O_FAILED], states[O_PROCESSING], states[O_PENDING],
	       states[O_TIMED_OUT], states[O_CANCELED], states[0]);
	printf("fault run: charges %d totalling %lld; SUCCEEDED orders total %lld; keys charged "
	       ">1: %d; "
	       "SUCCEEDED without a matching charge: %d; charges without a SUCCEEDED order: %d; "
	       "amount mismatches: %d\n",
	       n_charges, (long long)charged, (long long)succeeded_total, over_one,
	       unmatched_orders, orphan_charges, amount_mismatch);
	SPT_CHECK(over_one == 0, "charges per key <= 1");
	SPT_CHECK(unmatched_orders == 0, "every SUCCEEDED order has its charge");
	SPT_CHECK(orphan_charges == 0, "no charge without a SUCCEEDED order");
	SPT_CHECK(amount_mismatch == 0, "charge amounts match the orders");
	SPT_CHECK(charged == succeeded_total, "money taken == SUCCEEDED totals");
	SPT_CHECK(states[O_SUCCEEDED] + states[O_FAILED] == N_CHECKOUTS,
		  "every order SUCCEEDED or FAILED");
}

static void test_outage_500(void)
{
	s_outage("500", "p_500");
}

static void test_outage_429(void)
{
	s_outage("429", "p_429");
}

static int suite_init(void)
{
	static const char *const env[] = {"STRIPE_SECRET_KEY=sk_test_x",
					  "PAYPAL_CLIENT_ID=client_x",
					  "PAYPAL_CLIENT_SECRET=secret_x", NULL};
	spt_billingd_options o = SPT_BILLINGD_OPTIONS_INIT;
	const char *args[] = {"--payments",
			      "live",
			      "--stripe-url",
			      fake.url,
			      "--paypal-url",
			      fake.url,
			      "--provider-timeout-ms",
			      PROVIDER_TIMEOUT_MS,
			      "--reconcile-interval-ms",
			      "1000",
			      NULL};

	REAL0 = spt_real_us() / SPT_SECOND_US * SPT_SECOND_US;
	SPT_INIT(spt_fake_start(&fake, NULL, NULL));
	o.args = args;
	o.env = env;
	o.log_calls = 1;
	SPT_INIT(spt_billingd_start_opts(&srv, &o));
	cli = spt_client(&srv, NULL);
	SPT_INIT(cli ? 0 : -1);
	SPT_INIT(spt_create_account(cli, NULL, "d1", ROLE(DISTRIBUTOR), "vendor"));
	SPT_INIT(spt_create_account(cli, NULL, "i1", ROLE(INSTALLER), "d1"));
	SPT_INIT(spt_set_price(cli, COMM, S_APP, PRICE, 5));
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

static CU_TestInfo tests[] = {
	{"Stripe saved card: SUCCEEDED at once, one charge", test_stripe_happy},
	{"Stripe without a payment method: client secret, client confirms, ConfirmOrder",
	 test_stripe_client_confirms},
	{"PayPal: approval link, approve, ConfirmOrder captures once", test_paypal_happy},
	{"decline: FAILED_PRECONDITION with the decline code, order FAILED", test_decline},
	{"Stripe 500: UNAVAILABLE, PROCESSING, reconciled", test_outage_500},
	{"Stripe 429: UNAVAILABLE, PROCESSING, reconciled", test_outage_429},
	{"slow provider: UNAVAILABLE after the timeout, quotes and reads not slowed, one charge",
	 test_slow},
	{"connection dropped after the charge, kill -9, restart: one charge, one applied order",
	 test_crash_after_charge},
	{"200 concurrent checkouts, 20% injected faults", test_concurrent},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"live orders", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD NODE PROVIDER_JS", suites);
}
