/*
 * Scenario tests of the order engine: the real billingd (test clock) on
 * port 0 with a fresh data directory, driven and seeded through the SDK
 * only. Items that must be active with a given expiry are activated by the
 * seed and the test clock is then moved 40 days on, so that one has
 * expired and the others expire in 20 and 110 days; the scenarios read
 * those expiries back instead of writing them into the store.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_billingd.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define DAY SPT_DAY_US
#define MONTH SPT_MONTH_US
#define CUTOVER SPT_CUTOVER_US

static spt_billingd srv;
static spb_client *cli;
static int64_t T0;            /* the frozen test clock, after the seed moved it */
static int64_t REAL0;         /* the real time at the start */
static int64_t c2_active_exp; /* expiry of c2_active: 20 days after T0 */
static int64_t c3_u1_exp;     /* expiry of c3_u1: 20 days after T0 */

/* ---- calls ---- */

typedef spt_quote_spec qreq;

static Smartplus__Billing__V1__Quote *quote(const qreq *q,
					    Smartplus__Billing__V1__QuoteServicesResponse **keep)
{
	return spt_quote(cli, NULL, q, keep) == 0 ? (*keep)->quote : NULL;
}

/* Places an order from quote_id; returns the SDK code, *out the order. */
static int order(int action, const char *quote_id, int method, const char *pm,
		 Smartplus__Billing__V1__Order **out, void **keep)
{
	return spt_place_order(cli, NULL, action, quote_id, method, pm, out, keep);
}

static const Smartplus__Billing__V1__QuoteLine *line_of(const Smartplus__Billing__V1__Quote *q,
							const char *item_id)
{
	for (size_t i = 0; q && i < q->n_lines; i++)
		if (strcmp(q->lines[i]->item_id, item_id) == 0)
			return q->lines[i];
	return NULL;
}

/* Fetches one item through ListItems; *st and *exp out. */
static int item_state(const char *project_id, const char *item_id, int *st, int64_t *exp,
		      int *is_free)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
	int found = 0;
	r.project_id = (char *)project_id;
	if (spb_billing_list_items(cli, &r, &resp, NULL) != 0)
		return 0;
	for (size_t i = 0; i < resp->n_items; i++)
		if (strcmp(resp->items[i]->item_id, item_id) == 0) {
			*st = resp->items[i]->status;
			*exp = spt_ts_us(resp->items[i]->expires_at);
			if (is_free)
				*is_free = resp->items[i]->free;
			found = 1;
		}
	spb_message_free(resp);
	return found;
}

#define ACT ACTION(ACTIVATE)
#define REN ACTION(RENEW)
#define COMM PTYPE(COMMUNITY)
#define COMMERCIAL PTYPE(COMMERCIAL)
#define STRIPE METHOD(STRIPE)
#define PAYPAL METHOD(PAYPAL)
#define COUPON METHOD(COUPON)
#define CREDITS METHOD(CREDITS)
#define S_APP STYPE(APP)
#define S_ADD STYPE(ADDITIONAL_APP)
#define S_DOOR STYPE(DOOR)
#define S_INT STYPE(INTEGRATION)
#define I_ACTIVE ISTATUS(ACTIVE)
#define I_INACTIVE ISTATUS(INACTIVE)
#define O_SUCCEEDED OSTATUS(SUCCEEDED)
#define O_PENDING OSTATUS(PENDING_PAYMENT)
#define O_CANCELED OSTATUS(CANCELED)
#define O_FAILED OSTATUS(FAILED)

static int reason_is(const char *r)
{
	return strcmp(spb_error_last()->reason, r) == 0;
}

/* ---- scenarios ---- */

static void test_community_free_apps(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c1", 0, NULL, 3, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;
	int st = 0, fr = 0;
	int64_t exp = 0;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_CHECK(spt_ts_us(qt->expire_time) - 15 * 60 * SPT_SECOND_US == T0,
			  "the test clock stands at T0");
		SPT_CHECK(qt->n_lines == 3, "3 lines, got %zu", qt->n_lines);
		SPT_CHECK((l = line_of(qt, "c1_app")) && l->amount == 1500 && !l->free,
			  "app 500x3");
		SPT_CHECK((l = line_of(qt, "c1_add1")) && l->amount == 0 && l->free,
			  "oldest additional free");
		SPT_CHECK((l = line_of(qt, "c1_add2")) && l->amount == 600 && !l->free,
			  "second additional 200x3");
		SPT_CHECK(qt->subtotal == 2100 && qt->total == 2100 &&
				  strcmp(qt->currency, "USD") == 0,
			  "total 2100 USD, got %lld", (long long)qt->total);
		SPT_CHECK(qt->n_allowed_methods == 3, "STRIPE, PAYPAL, COUPON allowed");
		SPT_CHECK(strncmp(qt->quote_id, "quo_", 4) == 0, "quote id");
		SPT_CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) == 0,
			  "activate");
		if (o) {
			SPT_CHECK(o->status == O_SUCCEEDED && o->sandbox && o->total == 2100,
				  "succeeded");
			SPT_CHECK(strncmp(o->order_id, "ord_", 4) == 0, "order id");
		}
		spb_message_free(ok);
		SPT_CHECK(item_state("c1", "c1_add1", &st, &exp, &fr) && st == I_ACTIVE && fr &&
				  exp == T0 + 3 * MONTH,
			  "free item activated to T0+90d");
		SPT_CHECK(item_state("c1", "c1_add2", &st, &exp, &fr) && st == I_ACTIVE && !fr &&
				  exp == T0 + 3 * MONTH,
			  "paid item activated to T0+90d");
	}
	spb_message_free(k);
}

static void test_commercial_free_door(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	qreq q = {ACT, "dist1", "inst1", COMMERCIAL, "m1", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_CHECK((l = line_of(qt, "m1_d1")) && l->free && l->amount == 0,
			  "oldest door free");
		SPT_CHECK((l = line_of(qt, "m1_d2")) && !l->free && l->amount == 1000,
			  "second door 1000");
		SPT_CHECK(qt->total == 1000, "total 1000");
		SPT_CHECK(qt->payment_model == MODEL(REGULAR), "regular model");
	}
	spb_message_free(k);
}

static void test_renewals(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {REN, "dist1", "inst1", COMM, "c2", 0, NULL, 2, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;
	int st;
	int64_t exp;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_CHECK((l = line_of(qt, "c2_expired")) &&
				  spt_ts_us(l->new_expires_at) == T0 + 2 * MONTH &&
				  l->amount == 1000,
			  "expired item: now + 60d");
		SPT_CHECK((l = line_of(qt, "c2_active")) &&
				  spt_ts_us(l->new_expires_at) == c2_active_exp + 2 * MONTH,
			  "active item: expiry + 60d");
		SPT_CHECK(qt->n_skipped == 1 && qt->skipped[0]->reason == SKIP(NOT_ACTIVATED),
			  "inactive item skipped NOT_ACTIVATED");
		SPT_CHECK(order(REN, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) == 0 && o &&
				  o->status == O_SUCCEEDED,
			  "renew");
		spb_message_free(ok);
		SPT_CHECK(item_state("c2", "c2_expired", &st, &exp, NULL) && st == I_ACTIVE &&
				  exp == T0 + 2 * MONTH,
			  "expired renewed");
		SPT_CHECK(item_state("c2", "c2_active", &st, &exp, NULL) &&
				  exp == c2_active_exp + 2 * MONTH,
			  "active renewed");
	}
	spb_message_free(k);
}

static void test_renew_until(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	int64_t x = c3_u1_exp;
	qreq q = {REN, "dist1", "inst1", COMM, "c3", 0, NULL, 0, x + 45 * DAY + 1000000, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_CHECK((l = line_of(qt, "c3_u1")) && l->days == 46 && l->amount == 767 &&
				  spt_ts_us(l->new_expires_at) == x + 45 * DAY + 1000000,
			  "500 x 46 / 30 = 766.67 -> 767");
		SPT_CHECK(qt->n_skipped == 1 && qt->skipped[0]->reason == SKIP(ALREADY_COVERED),
			  "later expiry skipped ALREADY_COVERED");
		SPT_CHECK(qt->total == 767, "total 767");
	}
	spb_message_free(k);
}

static void test_integration(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	qreq q = {ACT, "dist1", "inst1", COMM, "c4", S_APP, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_CHECK((l = line_of(qt, "pms_c4")) && l->service_type == S_INT &&
				  l->amount == 300,
			  "integration line");
		SPT_CHECK(line_of(qt, "c4_app") != NULL, "selected app line");
		SPT_CHECK(line_of(qt, "c4_add") == NULL, "unselected type left out");
		SPT_CHECK(qt->total == 800, "total 800");
	}
	spb_message_free(k);
}

static void test_stale(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c5", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_SEED(spt_set_price(cli, COMM, STYPE(PM_APP), 777, 7));
		SPT_CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) ==
					  SPB_EPRECONDITION &&
				  reason_is("QUOTE_STALE"),
			  "QUOTE_STALE");
		spb_message_free(ok);
	}
	spb_message_free(k);
}

/* R6: a quote is valid 15 minutes, and its id (a signed token) cannot be
 * altered. Runs last: it moves the test clock. */
static void test_quote_expiry_and_tampering(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__AdvanceClockRequest ar =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *aresp = NULL;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c5", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL && strncmp(qt->quote_id, "quo_", 4) == 0, "quote");
	if (qt) {
		char *forged = strdup(qt->quote_id);
		char *dot = strchr(forged, '.');
		/* Flip one character of the signed payload. */
		if (dot && dot[1])
			dot[1] = dot[1] == 'A' ? 'B' : 'A';
		SPT_CHECK(order(ACT, forged, STRIPE, "pm_card_visa", &o, &ok) == SPB_EPERM,
			  "a tampered quote id is refused (PERMISSION_DENIED)");
		spb_message_free(ok);
		free(forged);
		d.seconds = 15 * 60 + 1;
		ar.duration = &d;
		SPT_CHECK(spb_admin_advance_clock(cli, &ar, &aresp, NULL) == 0,
			  "advance the clock 15 min 1 s");
		spb_message_free(aresp);
		SPT_CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) ==
					  SPB_EPRECONDITION &&
				  reason_is("QUOTE_STALE"),
			  "the expired quote is QUOTE_STALE");
		spb_message_free(ok);
	}
	spb_message_free(k);
}

static void test_r2_boundary(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMMERCIAL, "m2", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_CHECK(qt->payment_model == MODEL(CREDITS), "credits model");
		SPT_CHECK(qt->n_allowed_methods == 1 && qt->allowed_methods[0] == CREDITS,
			  "CREDITS only");
		SPT_CHECK(qt->credits_total == 5 && qt->total == 0, "1 paid door x 5 credits");
		SPT_CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) ==
					  SPB_EPRECONDITION &&
				  reason_is("METHOD_NOT_ALLOWED") &&
				  strstr(spb_error_last()->message, "CREDITS"),
			  "STRIPE refused naming CREDITS: %s", spb_error_last()->message);
		spb_message_free(ok);
	}
	spb_message_free(k);
}

static void test_installer_may_not_pay(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	qreq q = {ACT, "inst1", "inst1", COMM, "c5", 0, NULL, 1, 0, NULL};

	SPT_CHECK(quote(&q, &k) == NULL && spb_error_last()->grpc_code == 7 &&
			  reason_is("PAYMENT_NOT_PERMITTED"),
		  "PERMISSION_DENIED PAYMENT_NOT_PERMITTED");
	spb_message_free(k);
}

static void test_declined(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__ListOrdersRequest lr =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *lresp = NULL;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c6", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	int st = 0;
	int64_t exp = 1;

	qt = quote(&q, &k);
	SPT_CHECK(qt != NULL, "quote");
	if (qt) {
		SPT_CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_chargeDeclined", &o, &ok) ==
					  SPB_EPRECONDITION &&
				  reason_is("PAYMENT_DECLINED"),
			  "PAYMENT_DECLINED");
		spb_message_free(ok);
		SPT_CHECK(item_state("c6", "c6_app", &st, &exp, NULL) && st == I_INACTIVE &&
				  exp == 0,
			  "item untouched");
		lr.payer_id = "dist1";
		lr.project_id = "c6";
		SPT_CHECK(spb_billing_list_orders(cli, &lr, &lresp, NULL) == 0 &&
				  lresp->n_orders == 1 && lresp->orders[0]->status == O_FAILED &&
				  strcmp(lresp->orders[0]->failure_reason, "card_declined") == 0,
			  "order FAILED card_declined");
		spb_message_free(lresp);
	}
	spb_message_free(k);
}

static void test_pending_confirm_cancel(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c7", 0, "c7_a", 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	char id[64] = "";

	qt = quote(&q, &k);
	if (qt && order(ACT, qt->quote_id, STRIPE, NULL, &o, &ok) == 0 && o) {
		SPT_CHECK(o->status == O_PENDING && o->stripe_client_secret[0],
			  "pending with client secret");
		snprintf(id, sizeof(id), "%s", o->order_id);
	} else {
		SPT_CHECK(0, "stripe order");
	}
	spb_message_free(ok);
	spb_message_free(k);
	{
		Smartplus__Billing__V1__ConfirmOrderRequest cr =
			SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__ConfirmOrderResponse *cresp = NULL;
		int st;
		int64_t exp;
		cr.order_id = id;
		SPT_CHECK(spb_billing_confirm_order(cli, &cr, &cresp, NULL) == 0 &&
				  cresp->order->status == O_SUCCEEDED,
			  "confirmed");
		spb_message_free(cresp);
		SPT_CHECK(item_state("c7", "c7_a", &st, &exp, NULL) && st == I_ACTIVE &&
				  exp == T0 + MONTH,
			  "activated on confirm");
	}
	q.item_id = "c7_b";
	qt = quote(&q, &k);
	if (qt && order(ACT, qt->quote_id, PAYPAL, NULL, &o, &ok) == 0 && o) {
		SPT_CHECK(o->status == O_PENDING && o->paypal_approval_url[0],
			  "pending with approval url");
		snprintf(id, sizeof(id), "%s", o->order_id);
	} else {
		SPT_CHECK(0, "paypal order");
	}
	spb_message_free(ok);
	spb_message_free(k);
	{
		Smartplus__Billing__V1__CancelOrderRequest cr =
			SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__CancelOrderResponse *cresp = NULL;
		cr.order_id = id;
		SPT_CHECK(spb_billing_cancel_order(cli, &cr, &cresp, NULL) == 0 &&
				  cresp->order->status == O_CANCELED,
			  "canceled");
		spb_message_free(cresp);
		cresp = NULL;
		SPT_CHECK(spb_billing_cancel_order(cli, &cr, &cresp, NULL) == SPB_EPRECONDITION &&
				  reason_is("ORDER_STATE"),
			  "second cancel ORDER_STATE");
		spb_message_free(cresp);
	}
}

/* ---- coupon race ---- */

#define RACERS 8
static char race_quotes[RACERS][4096];
static int race_rc[RACERS], race_status[RACERS];
static char race_reason[RACERS][64];

static void *racer(void *arg)
{
	int i = (int)(intptr_t)arg;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	race_rc[i] = order(ACT, race_quotes[i], COUPON, NULL, &o, &ok);
	race_status[i] = o ? o->status : 0;
	snprintf(race_reason[i], sizeof(race_reason[i]), "%s", spb_error_last()->reason);
	spb_message_free(ok);
	return NULL;
}

static void test_coupon_race(void)
{
	Smartplus__Billing__V1__CreateCouponRequest cr =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
	Smartplus__Billing__V1__Coupon c = SMARTPLUS__BILLING__V1__COUPON__INIT;
	Smartplus__Billing__V1__CreateCouponResponse *cresp = NULL;
	Smartplus__Billing__V1__ListCouponsRequest lr =
		SMARTPLUS__BILLING__V1__LIST_COUPONS_REQUEST__INIT;
	Smartplus__Billing__V1__ListCouponsResponse *lresp = NULL;
	pthread_t t[RACERS];
	int wins = 0, losers = 0;

	c.code = "LAST1";
	c.percent_off = 100;
	c.max_redemptions = 1;
	cr.coupon = &c;
	SPT_SEED(spb_admin_create_coupon(cli, &cr, &cresp, NULL));
	spb_message_free(cresp);
	for (int i = 0; i < RACERS; i++) {
		char payer[16], inst[16], proj[16];
		Smartplus__Billing__V1__QuoteServicesResponse *k;
		Smartplus__Billing__V1__Quote *qt;
		qreq q = {ACT, payer, inst, COMM, proj, 0, NULL, 1, 0, "LAST1"};
		snprintf(payer, sizeof(payer), "rd%d", i);
		snprintf(inst, sizeof(inst), "ri%d", i);
		snprintf(proj, sizeof(proj), "rp%d", i);
		qt = quote(&q, &k);
		SPT_CHECK(qt && qt->total == 0 && qt->discount == 500 &&
				  strcmp(qt->coupon_code, "LAST1") == 0,
			  "quote %d with coupon", i);
		SPT_CHECK(qt && qt->n_available_coupons >= 1, "coupon listed as available");
		snprintf(race_quotes[i], sizeof(race_quotes[i]), "%s", qt ? qt->quote_id : "quo_x");
		spb_message_free(k);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < RACERS; i++) {
		if (race_rc[i] == 0 && race_status[i] == O_SUCCEEDED)
			wins++;
		else if (race_rc[i] == SPB_EPRECONDITION &&
			 strcmp(race_reason[i], "COUPON_NOT_APPLICABLE") == 0)
			losers++;
	}
	SPT_CHECK(wins == 1 && losers == RACERS - 1, "wins %d losers %d", wins, losers);
	lr.include_disabled = 1;
	SPT_CHECK(spb_admin_list_coupons(cli, &lr, &lresp, NULL) == 0 && lresp->n_coupons == 1 &&
			  lresp->coupons[0]->redemptions == 1 && lresp->coupons[0]->reserved == 0,
		  "redemptions 1, reserved 0");
	spb_message_free(lresp);
}

/* R17 (replayed and reused idempotency keys) is in test_credits_orders.c. */

/* ---- setup ---- */

/* One project of inst1, created at `created`. */
static int seed_project(const char *id, const char *installer, int type, int64_t created, int pms,
			int free_apps)
{
	spt_project p = {id, installer, type, NULL, pms, free_apps, created};
	return spt_create_project_spec(cli, NULL, &p);
}

/* Activates one item of inst1 for months, paid by dist1's card. */
static int seed_activate(const char *project, const char *item_id, int months)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__Quote *qt;
	qreq q = {ACT, "dist1", "inst1", COMM, project, 0, item_id, months, 0, NULL};
	void *ok = NULL;
	int rc = -1;

	qt = quote(&q, &k);
	if (qt)
		rc = order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok);
	if (rc == 0 && o->status != O_SUCCEEDED)
		rc = -1;
	spb_message_free(ok);
	spb_message_free(k);
	return rc;
}

static int suite_init(void)
{
	/* No periodic reconciler: a round that holds an order's claim while
	 * ConfirmOrder runs makes it answer with the order as it stands. */
	static const char *const args[] = {"--test-clock", "--reconcile-interval-ms", "86400000",
					   NULL};
	static const struct {
		const char *id, *project;
		int stype;
	} items[] = {
		{"c1_app", "c1", S_APP}, {"c1_add1", "c1", S_ADD},    {"c1_add2", "c1", S_ADD},
		{"m1_d1", "m1", S_DOOR}, {"m1_d2", "m1", S_DOOR},     {"m2_d1", "m2", S_DOOR},
		{"m2_d2", "m2", S_DOOR}, {"c2_expired", "c2", S_APP}, {"c2_active", "c2", S_APP},
		{"c2_new", "c2", S_APP}, {"c3_u1", "c3", S_APP},      {"c3_u2", "c3", S_APP},
		{"c4_app", "c4", S_APP}, {"c4_add", "c4", S_ADD},     {"c5_app", "c5", S_APP},
		{"c6_app", "c6", S_APP}, {"c7_a", "c7", S_APP},       {"c7_b", "c7", S_APP},
	};
	static const char *const community[] = {"c1", "c2", "c3", "c4", "c5", "c6", "c7"};
	int64_t old = REAL0 - 100 * DAY, exp;
	int st;

	SPT_INIT(spt_billingd_start(&srv, args));
	cli = spt_client(&srv, NULL);
	SPT_INIT(cli ? 0 : -1);
	SPT_INIT(spt_create_account(cli, NULL, "dist1", ROLE(DISTRIBUTOR), "vendor"));
	SPT_INIT(spt_create_account(cli, NULL, "inst1", ROLE(INSTALLER), "dist1"));
	SPT_INIT(spt_set_price(cli, COMM, S_APP, 500, 5));
	SPT_INIT(spt_set_price(cli, COMM, S_ADD, 200, 2));
	SPT_INIT(spt_set_price(cli, COMM, S_INT, 300, 3));
	SPT_INIT(spt_set_price(cli, COMMERCIAL, S_DOOR, 1000, 5));
	/* c1 has one free additional app; c4 is PMS-integrated (its pms_c4
	 * INTEGRATION item comes with it); m1 is created 1 s before the
	 * cut-over, m2 exactly at it */
	for (size_t i = 0; i < sizeof(community) / sizeof(community[0]); i++)
		SPT_INIT(seed_project(community[i], "inst1", COMM, old, i == 3, i == 0));
	SPT_INIT(seed_project("m1", "inst1", COMMERCIAL, CUTOVER - SPT_SECOND_US, 0, 0));
	SPT_INIT(seed_project("m2", "inst1", COMMERCIAL, CUTOVER, 0, 0));
	/* one call each, in order: "oldest" is the order of creation */
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		SPT_INIT(spt_create_item(cli, NULL, items[i].project, items[i].id, items[i].stype));
	for (int i = 0; i < RACERS; i++) {
		char d[16], in[16], p[16], it[16];
		snprintf(d, sizeof(d), "rd%d", i);
		snprintf(in, sizeof(in), "ri%d", i);
		snprintf(p, sizeof(p), "rp%d", i);
		snprintf(it, sizeof(it), "rp%d_app", i);
		SPT_INIT(spt_create_account(cli, NULL, d, ROLE(DISTRIBUTOR), "vendor"));
		SPT_INIT(spt_create_account(cli, NULL, in, ROLE(INSTALLER), d));
		SPT_INIT(seed_project(p, in, COMM, old, 0, 0));
		SPT_INIT(spt_create_item(cli, NULL, p, it, S_APP));
	}
	/* Active items: c2_expired (30 d), c2_active and c3_u1 (60 d), c3_u2
	 * (150 d); 40 days on, c2_expired has expired 10 days ago, c2_active and
	 * c3_u1 expire in 20 days, c3_u2 in 110. */
	SPT_INIT(seed_activate("c2", "c2_expired", 1));
	SPT_INIT(seed_activate("c2", "c2_active", 2));
	SPT_INIT(seed_activate("c3", "c3_u1", 2));
	SPT_INIT(seed_activate("c3", "c3_u2", 5));
	SPT_INIT(spt_advance_clock(cli, 40 * DAY, &T0, NULL));
	SPT_INIT(item_state("c2", "c2_active", &st, &c2_active_exp, NULL) &&
				 c2_active_exp == T0 + 20 * DAY
			 ? 0
			 : -1);
	SPT_INIT(item_state("c3", "c3_u1", &st, &c3_u1_exp, NULL) && c3_u1_exp == T0 + 20 * DAY
			 ? 0
			 : -1);
	SPT_INIT(item_state("c2", "c2_expired", &st, &exp, NULL) && exp == T0 - 10 * DAY ? 0 : -1);
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(cli);
	cli = NULL;
	spt_billingd_free(&srv);
	return 0;
}

static CU_TestInfo tests[] = {
	{"R4 community activation with free additional apps", test_community_free_apps},
	{"R4 commercial free door (created 1s before cut-over: regular payment)",
	 test_commercial_free_door},
	{"R8 renew expired from now, active from its expiry", test_renewals},
	{"R3 renew-until proration (46 days, half-up) and ALREADY_COVERED", test_renew_until},
	{"R5 integration item forced in", test_integration},
	{"R6 quote stale after a price change", test_stale},
	{"R2 method not allowed (commercial created exactly at the cut-over)", test_r2_boundary},
	{"R11 installer who may not pay", test_installer_may_not_pay},
	{"R10 declined sandbox card leaves nothing changed", test_declined},
	{"R9/R10 STRIPE pending -> ConfirmOrder; PAYPAL pending -> CancelOrder",
	 test_pending_confirm_cancel},
	{"R16 coupon: 8 concurrent payers, max_redemptions 1, exactly one wins", test_coupon_race},
	/* last: it moves the test clock */
	{"R6 quote id tampered -> refused; quote older than 15 minutes -> QUOTE_STALE",
	 test_quote_expiry_and_tampering},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"order scenarios", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	REAL0 = spt_real_us() / SPT_SECOND_US * SPT_SECOND_US;
	return spt_main(argc, argv, "BILLINGD", suites);
}
