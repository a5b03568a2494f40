/*
 * test_scheduler.c - the renewal scheduler (server/scheduler.c) from
 * spb_server_core without the gRPC server, on a fresh temporary store per
 * test, with the real clock and the sandbox provider: the derived order
 * ids, the real-clock thread, a second scan, resuming an order left in
 * flight, the retry schedule on one order per period, grace, one order for
 * a group's many items, and the prorated join.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spt_run.h"
#include "spt_store.h"

#include "../../server/billingd.h"
#include "../../server/clock.h"
#include "../../server/convert.h"
#include "../../server/renewal_groups.h"
#include "../../server/scheduler.h"
#include "store_order.h"
#include "store_renewal.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define DAY (INT64_C(86400) * 1000000)
#define HOUR (INT64_C(3600) * 1000000)

/* main.c is not linked: the process state lives here. */
billingd_state billingd;

static spt_store store; /* a fresh one per test */
static store_env *env;

typedef struct seed {
	int64_t expires_at;
	const char *pm;
	int n_items;          /* i1, i2, ... (default 1) */
	int64_t other_expiry; /* i_late: one more item expiring then (0: none) */
} seed;

static int put_item(store_txn *w, const char *id, int64_t expires_at, const char *pm)
{
	store_item it = STORE_ITEM_INIT;
	store_auto_renew ar = STORE_AUTO_RENEW_INIT;
	it.item_id = (char *)id;
	it.project_id = "p1";
	it.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
	it.status = STORE_ITEM_ACTIVE;
	it.expires_at = expires_at;
	it.renew_mode = V1(RENEW_MODE__RENEW_MODE_AUTO);
	ar.enabled = 1;
	ar.payer_id = "dist";
	ar.payment_method = V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE);
	ar.stripe_customer_id = "cus_1";
	ar.stripe_payment_method_id = (char *)pm;
	it.auto_renew = &ar;
	return store_item_put(w, &it, 0);
}

static int apply_seed(store_txn *w, void *arg)
{
	seed *s = arg;
	store_account d = STORE_ACCOUNT_INIT, i = STORE_ACCOUNT_INIT;
	store_project p = STORE_PROJECT_INIT;
	store_price pr = STORE_PRICE_INIT;
	char id[16];
	int rc;

	d.account_id = "dist";
	d.role = V1(ROLE__ROLE_DISTRIBUTOR);
	d.parent_id = "vendor";
	i.account_id = "inst";
	i.role = V1(ROLE__ROLE_INSTALLER);
	i.parent_id = "dist";
	p.project_id = "p1";
	p.installer_id = "inst";
	p.type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
	pr.project_type = p.type;
	pr.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
	pr.monthly_amount = 500;
	pr.currency = "USD";
	rc = store_account_put(w, &d, 0);
	if (rc == 0)
		rc = store_account_put(w, &i, 0);
	if (rc == 0)
		rc = store_project_put(w, &p, 0);
	if (rc == 0)
		rc = store_price_put(w, &pr);
	for (int k = 0; rc == 0 && k < (s->n_items ? s->n_items : 1); k++) {
		snprintf(id, sizeof(id), "i%d", k + 1);
		rc = put_item(w, id, s->expires_at, s->pm);
	}
	if (rc == 0 && s->other_expiry)
		rc = put_item(w, "i_late", s->other_expiry, s->pm);
	return rc;
}

static void open_store_seed(const seed *sd)
{
	seed s = *sd;
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&store, 0, 0), 0);
	env = store.env;
	billingd.store = env;
	CU_ASSERT_EQUAL_FATAL(store_write_sync(env, apply_seed, &s), 0);
}

static void open_store(int64_t expires_at, const char *pm)
{
	seed s = {expires_at, pm, 1, 0};
	open_store_seed(&s);
}

static void close_store(void)
{
	CU_ASSERT(spt_store_close(&store) == 0);
	env = NULL;
	billingd.store = NULL;
}

static store_item *item_named(const char *id)
{
	store_txn *t;
	store_item *it = NULL;
	if (store_read_begin(env, &t) != 0)
		return NULL;
	store_item_get(t, id, &it);
	store_read_end(t);
	return it;
}

static store_item *item(void)
{
	return item_named("i1");
}

static store_order *order_get(const char *id)
{
	store_txn *t;
	store_order *o = NULL;
	if (store_read_begin(env, &t) != 0)
		return NULL;
	store_order_get(t, id, &o);
	store_read_end(t);
	return o;
}

/* Status of order id, 0 if absent. */
static int order_status(const char *id)
{
	store_order *o = order_get(id);
	int st = o ? o->status : 0;
	store_record_free(o);
	return st;
}

/* The group the scheduler gives the seeded items (the payer's first, anchored
 * at their expiry), and the id of its order for the period from e. */
static void group_of(int64_t e, const char *pm, char gid[GROUPS_ID_MAX])
{
	groups_id("dist", V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE), "cus_1", pm,
		  groups_anchor_day(e), gid);
}

static void period_id(int64_t e, const char *pm, char id[48])
{
	char gid[GROUPS_ID_MAX];
	group_of(e, pm, gid);
	scheduler_order_id(gid, SCHEDULER_PERIOD, e, e + 30 * DAY, id);
}

static void test_order_ids_are_derived_and_distinct(void)
{
	char a[48], b[48], c[48], d[48], e[48], a2[48];
	scheduler_order_id("rgp_1", SCHEDULER_PERIOD, 1000, 2000, a);
	scheduler_order_id("rgp_1", SCHEDULER_PERIOD, 1000, 2000, a2);
	scheduler_order_id("rgp_1", SCHEDULER_JOIN, 1000, 2000, b);
	scheduler_order_id("rgp_1", SCHEDULER_PERIOD, 1001, 2000, c);
	scheduler_order_id("rgp_2", SCHEDULER_PERIOD, 1000, 2000, d);
	scheduler_order_id("rgp_1", SCHEDULER_PERIOD, 1000, 2001, e);
	CU_ASSERT_STRING_EQUAL(a, a2);
	CU_ASSERT_EQUAL(strlen(a), 39);
	CU_ASSERT_EQUAL(strncmp(a, "ord_ar_", 7), 0);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	CU_ASSERT_STRING_NOT_EQUAL(a, d);
	CU_ASSERT_STRING_NOT_EQUAL(a, e);
}

static void test_group_boundaries(void)
{
	store_group g = STORE_GROUP_INIT;
	g.anchor = 100 * DAY + 5 * HOUR;
	CU_ASSERT_EQUAL(groups_boundary_after(&g, g.anchor), g.anchor + 30 * DAY);
	CU_ASSERT_EQUAL(groups_boundary_after(&g, g.anchor - 1), g.anchor);
	CU_ASSERT_EQUAL(groups_boundary_after(&g, g.anchor - 31 * DAY), g.anchor - 30 * DAY);
	CU_ASSERT_EQUAL(groups_boundary_after(&g, g.anchor + 45 * DAY), g.anchor + 60 * DAY);
	CU_ASSERT(groups_on_boundary(&g, g.anchor + 90 * DAY));
	CU_ASSERT(groups_on_boundary(&g, g.anchor - 30 * DAY));
	CU_ASSERT(!groups_on_boundary(&g, g.anchor + DAY));
	CU_ASSERT_EQUAL(groups_anchor_day(g.anchor), 100 % 30);
}

static void test_real_clock_thread_renews_a_due_item(void)
{
	int64_t e = clock_now_us() + 12 * HOUR; /* inside the 24 h lead */
	char id[48];
	store_item *it = NULL;
	int done = 0;

	open_store(e, "pm_card_visa");
	scheduler_set_interval(1);
	CU_ASSERT_EQUAL(scheduler_start(), 0);
	for (int i = 0; i < 50 && !done; i++) {
		usleep(100000);
		store_record_free(it);
		it = item();
		done = it && it->expires_at != e;
	}
	scheduler_stop();
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(it->expires_at, e + 30 * DAY);
	CU_ASSERT_EQUAL(it->auto_renew->cycles_done, 1);
	CU_ASSERT_EQUAL(it->auto_renew->order_id[0], 0);
	period_id(e, "pm_card_visa", id);
	CU_ASSERT_EQUAL(order_status(id), V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED));
	store_record_free(it);
	close_store();
}

static void test_second_scan_charges_nothing(void)
{
	int64_t now = clock_now_us(), e = now + 2 * HOUR;
	store_item *it;

	open_store(e, "pm_card_visa");
	CU_ASSERT_EQUAL(scheduler_run_due(now), 1);
	CU_ASSERT_EQUAL(scheduler_run_due(now), 0);
	CU_ASSERT_EQUAL(scheduler_run_due(now + HOUR), 0);
	it = item();
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(it->expires_at, e + 30 * DAY);
	store_record_free(it);
	close_store();
}

/* As left by a crash between phase 1 and phase 3: the order PROCESSING,
 * its item held by it, its next step overdue. */
typedef struct in_flight {
	const char *id;
	const char *group_id;
	int64_t e, now;
} in_flight;

static int apply_in_flight(store_txn *w, void *arg)
{
	in_flight *f = arg;
	store_group g = STORE_GROUP_INIT;
	store_order o = STORE_ORDER_INIT;
	store_line l = STORE_LINE_INIT, *lines[1] = {&l};
	store_item *it = NULL;
	char *projects[1] = {"p1"};
	int rc;

	g.group_id = (char *)f->group_id;
	g.payer_id = "dist";
	g.payment_method = V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE);
	g.stripe_customer_id = "cus_1";
	g.stripe_payment_method_id = "pm_card_visa";
	g.anchor = f->e;
	g.anchor_day = groups_anchor_day(f->e);
	g.create_time = f->now - 2 * HOUR;
	o.order_id = (char *)f->id;
	o.type = V1(ORDER_TYPE__ORDER_TYPE_AUTO_RENEWAL);
	o.status = V1(ORDER_STATUS__ORDER_STATUS_PROCESSING);
	o.payer_id = "dist";
	o.n_lines = 1;
	o.lines = lines;
	o.project_ids = projects;
	o.n_project_ids = 1;
	l.item_id = "i1";
	l.project_id = "p1";
	l.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
	l.current_expires_at = f->e;
	l.new_expires_at = f->e + 30 * DAY;
	o.total = o.subtotal = 500;
	o.currency = "USD";
	o.payment_method = V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE);
	o.provider_key = (char *)f->id;
	o.attempt_key = (char *)f->id;
	o.stripe_customer_id = "cus_1";
	o.stripe_payment_method_id = "pm_card_visa";
	o.create_time = f->now - HOUR;
	o.group_id = (char *)f->group_id;
	o.renewal_kind = SCHEDULER_PERIOD;
	o.period_start = f->e;
	o.period_end = f->e + 30 * DAY;
	o.attempts = 1;
	o.provider_amount = 500;
	o.final_time = f->e + 7 * DAY;
	o.next_attempt = f->now - HOUR + 10 * 60 * INT64_C(1000000);
	o.session = 2;
	rc = store_group_put(w, &g, 1);
	if (rc == 0)
		rc = store_order_put(w, &o, 1);
	if (rc == 0)
		rc = store_item_get(w, "i1", &it);
	if (rc == 0) {
		store_str_set(&it->auto_renew->group_id, f->group_id);
		store_str_set(&it->auto_renew->order_id, f->id);
		rc = store_item_put(w, it, 0);
	}
	store_record_free(it);
	return rc;
}

static void test_order_in_flight_is_resumed_not_replaced(void)
{
	int64_t now = clock_now_us(), e = now + 2 * HOUR;
	char id[48], gid[GROUPS_ID_MAX];
	in_flight f;
	store_item *it;
	store_order *o;

	open_store(e, "pm_card_visa");
	group_of(e, "pm_card_visa", gid);
	period_id(e, "pm_card_visa", id);
	f = (in_flight){id, gid, e, now};
	CU_ASSERT_EQUAL_FATAL(store_write_sync(env, apply_in_flight, &f), 0);
	CU_ASSERT_EQUAL(scheduler_run_due(now), 0); /* resumed: no new attempt */
	o = order_get(id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED));
	CU_ASSERT_EQUAL(o->attempts, 1);
	store_record_free(o);
	it = item();
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(it->expires_at, e + 30 * DAY);
	CU_ASSERT_EQUAL(it->auto_renew->order_id[0], 0);
	store_record_free(it);
	close_store();
}

/* One order for the period: the first attempt at e - 1 d and the retries
 * 1, 2 and 4 days later confirm it again; it stays PENDING_PAYMENT and
 * recoverable, the item in GRACE from e, until the grace of an APP (7 d)
 * has ended: then it fails for good and the item leaves auto-renew. */
static void test_declined_retries_after_1_2_4_days_on_one_order(void)
{
	int64_t now = clock_now_us(), e = now + DAY, first = e - DAY;
	static const int64_t at[] = {0, DAY, 2 * DAY, 4 * DAY};
	char id[48];
	store_item *it;
	store_order *o;

	open_store(e, "pm_card_chargeDeclined");
	period_id(e, "pm_card_chargeDeclined", id);
	for (int k = 0; k < 4; k++) {
		/* not before its time */
		if (k > 0)
			CU_ASSERT_EQUAL(scheduler_run_due(first + at[k] - 1), 0);
		CU_ASSERT_EQUAL(scheduler_run_due(first + at[k]), 1);
		o = order_get(id);
		CU_ASSERT_PTR_NOT_NULL_FATAL(o);
		CU_ASSERT_EQUAL(o->status, V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT));
		CU_ASSERT(o->recoverable);
		CU_ASSERT_EQUAL(o->attempts, k + 1);
		CU_ASSERT_STRING_EQUAL(o->failure_reason, "card_declined");
		CU_ASSERT_EQUAL(o->retry_at, k < 3 ? first + at[k + 1] : 0);
		store_record_free(o);
		it = item();
		CU_ASSERT_PTR_NOT_NULL_FATAL(it);
		CU_ASSERT_EQUAL(it->auto_renew->failed_attempts, k + 1);
		CU_ASSERT(it->auto_renew->enabled);
		CU_ASSERT_EQUAL(it->auto_renew->unpaid_since, e);
		CU_ASSERT_EQUAL(it->expires_at, e);
		CU_ASSERT_EQUAL(conv_item_status(it, first + at[k]),
				k == 0 ? V1(ITEM_STATUS__ITEM_STATUS_ACTIVE)
				       : V1(ITEM_STATUS__ITEM_STATUS_GRACE));
		store_record_free(it);
	}
	CU_ASSERT_EQUAL(scheduler_run_due(e + 7 * DAY - 1), 0);
	CU_ASSERT_EQUAL(order_status(id), V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT));
	CU_ASSERT_EQUAL(scheduler_run_due(e + 7 * DAY), 0);
	CU_ASSERT_EQUAL(order_status(id), V1(ORDER_STATUS__ORDER_STATUS_FAILED));
	it = item();
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT(!it->auto_renew->enabled);
	CU_ASSERT_EQUAL(it->auto_renew->group_id[0], 0);
	CU_ASSERT_EQUAL(conv_item_status(it, e + 7 * DAY), V1(ITEM_STATUS__ITEM_STATUS_EXPIRED));
	store_record_free(it);
	CU_ASSERT_EQUAL(scheduler_run_due(e + 40 * DAY), 0);
	close_store();
}

/* Fifty items expiring together: one order of fifty lines per period. */
static void test_a_group_renews_in_one_order(void)
{
	int64_t now = clock_now_us(), e = now + 2 * HOUR;
	seed s = {e, "pm_card_visa", 50, 0};
	char id[48];
	store_order *o;
	store_item *it;

	open_store_seed(&s);
	CU_ASSERT_EQUAL(scheduler_run_due(now), 1);
	period_id(e, "pm_card_visa", id);
	o = order_get(id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED));
	CU_ASSERT_EQUAL(o->n_lines, 50);
	CU_ASSERT_EQUAL(o->total, 50 * 500);
	store_record_free(o);
	it = item_named("i50");
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(it->expires_at, e + 30 * DAY);
	store_record_free(it);
	/* the next period: one more order, from the new expiry */
	CU_ASSERT_EQUAL(scheduler_run_due(e + 29 * DAY), 1);
	period_id(e + 30 * DAY, "pm_card_visa", id); /* the same group: its day of the cycle */
	CU_ASSERT_EQUAL(order_status(id), V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED));
	close_store();
}

/* An item expiring 10.5 days before the group's renewal time joins with a
 * prorated order: 11 days (rounded up, R3) at 500 x 11 / 30 = 183. */
static void test_join_is_prorated_to_the_day(void)
{
	int64_t now = clock_now_us(), e = now + 2 * HOUR, late = e + 20 * DAY - 12 * HOUR;
	seed s = {e, "pm_card_visa", 1, late};
	char gid[GROUPS_ID_MAX], id[48];
	store_order *o;
	store_item *it;

	open_store_seed(&s);
	CU_ASSERT_EQUAL(scheduler_run_due(now), 1);        /* i1's period; the group anchors at e */
	CU_ASSERT_EQUAL(scheduler_run_due(late - DAY), 1); /* i_late's join */
	group_of(e, "pm_card_visa", gid);
	scheduler_order_id(gid, SCHEDULER_JOIN, late, e + 30 * DAY, id);
	o = order_get(id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED));
	CU_ASSERT_EQUAL(o->renewal_kind, SCHEDULER_JOIN);
	CU_ASSERT_EQUAL_FATAL(o->n_lines, 1);
	CU_ASSERT_EQUAL(o->lines[0]->days, 11);
	CU_ASSERT_EQUAL(o->total, 183);
	store_record_free(o);
	it = item_named("i_late");
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(it->expires_at, e + 30 * DAY);
	CU_ASSERT_EQUAL(it->auto_renew->cycles_done, 0); /* a join is not a cycle */
	store_record_free(it);
	close_store();
}

static CU_TestInfo tests[] = {
	{"order ids are derived and distinct", test_order_ids_are_derived_and_distinct},
	{"real-clock thread renews a due item", test_real_clock_thread_renews_a_due_item},
	{"second scan charges nothing", test_second_scan_charges_nothing},
	{"order in flight is resumed, not replaced", test_order_in_flight_is_resumed_not_replaced},
	{"renewal group boundaries", test_group_boundaries},
	{"declined: one order, retried after 1, 2, 4 days, GRACE, then FAILED",
	 test_declined_retries_after_1_2_4_days_on_one_order},
	{"a group renews in one order per period", test_a_group_renews_in_one_order},
	{"a join is prorated to the day", test_join_is_prorated_to_the_day},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"renewal_scheduler", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
