/*
 * test_scheduler.c - the renewal scheduler (server/scheduler.c) from
 * spb_server_core without the gRPC server, on a fresh temporary store per
 * test, with the real clock: the derived order ids, the real-clock thread,
 * a second scan, resuming an order left in flight, and the retry schedule.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spt_run.h"
#include "spt_store.h"

#include "../../server/billingd.h"
#include "../../server/clock.h"
#include "../../server/scheduler.h"
#include "store_order.h"
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
	store_order *order; /* optional: an order to put as well */
} seed;

static int apply_seed(store_txn *w, void *arg)
{
	seed *s = arg;
	store_account d = STORE_ACCOUNT_INIT, i = STORE_ACCOUNT_INIT;
	store_project p = STORE_PROJECT_INIT;
	store_price pr = STORE_PRICE_INIT;
	store_item it = STORE_ITEM_INIT;
	store_auto_renew ar = STORE_AUTO_RENEW_INIT;
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
	it.item_id = "i1";
	it.project_id = "p1";
	it.service_type = pr.service_type;
	it.status = STORE_ITEM_ACTIVE;
	it.expires_at = s->expires_at;
	it.renew_mode = V1(RENEW_MODE__RENEW_MODE_AUTO);
	ar.enabled = 1;
	ar.payer_id = "dist";
	ar.payment_method = V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE);
	ar.stripe_customer_id = "cus_1";
	ar.stripe_payment_method_id = (char *)s->pm;
	it.auto_renew = &ar;
	rc = store_account_put(w, &d, 0);
	if (rc == 0)
		rc = store_account_put(w, &i, 0);
	if (rc == 0)
		rc = store_project_put(w, &p, 0);
	if (rc == 0)
		rc = store_price_put(w, &pr);
	if (rc == 0)
		rc = store_item_put(w, &it, 0);
	if (rc == 0 && s->order)
		rc = store_order_put(w, s->order, 1);
	return rc;
}

static void open_store(int64_t expires_at, const char *pm, store_order *o)
{
	seed s = {expires_at, pm, o};
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&store, 0, 0), 0);
	env = store.env;
	billingd.store = env;
	CU_ASSERT_EQUAL_FATAL(store_write_sync(env, apply_seed, &s), 0);
}

static void close_store(void)
{
	CU_ASSERT(spt_store_close(&store) == 0);
	env = NULL;
	billingd.store = NULL;
}

static store_item *item(void)
{
	store_txn *t;
	store_item *it = NULL;
	if (store_read_begin(env, &t) != 0)
		return NULL;
	store_item_get(t, "i1", &it);
	store_read_end(t);
	return it;
}

/* Status of order id, 0 if absent. */
static int order_status(const char *id)
{
	store_txn *t;
	store_order *o = NULL;
	int st = 0;
	if (store_read_begin(env, &t) != 0)
		return -1;
	if (store_order_get(t, id, &o) == 0)
		st = o->status;
	store_record_free(o);
	store_read_end(t);
	return st;
}

static void test_order_ids_are_derived_and_distinct(void)
{
	char a[48], b[48], c[48], d[48], a2[48];
	scheduler_order_id("i1", 1000, 0, a);
	scheduler_order_id("i1", 1000, 0, a2);
	scheduler_order_id("i1", 1000, 1, b);
	scheduler_order_id("i1", 1001, 0, c);
	scheduler_order_id("i2", 1000, 0, d);
	CU_ASSERT_STRING_EQUAL(a, a2);
	CU_ASSERT_EQUAL(strlen(a), 39);
	CU_ASSERT_EQUAL(strncmp(a, "ord_ar_", 7), 0);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	CU_ASSERT_STRING_NOT_EQUAL(a, d);
}

static void test_real_clock_thread_renews_a_due_item(void)
{
	int64_t e = clock_now_us() + 12 * HOUR; /* inside the 24 h lead */
	char id[48];
	store_item *it = NULL;
	int done = 0;

	open_store(e, "pm_card_visa", NULL);
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
	scheduler_order_id("i1", e, 0, id);
	CU_ASSERT_EQUAL(order_status(id), V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED));
	store_record_free(it);
	close_store();
}

static void test_second_scan_charges_nothing(void)
{
	int64_t now = clock_now_us(), e = now + 2 * HOUR;
	char id1[48];
	store_item *it;

	open_store(e, "pm_card_visa", NULL);
	CU_ASSERT_EQUAL(scheduler_run_due(now), 1);
	CU_ASSERT_EQUAL(scheduler_run_due(now), 0);
	CU_ASSERT_EQUAL(scheduler_run_due(now + HOUR), 0);
	it = item();
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(it->expires_at, e + 30 * DAY);
	scheduler_order_id("i1", e, 1, id1);
	CU_ASSERT_EQUAL(order_status(id1), 0);
	store_record_free(it);
	close_store();
}

static void test_order_in_flight_is_resumed_not_replaced(void)
{
	int64_t now = clock_now_us(), e = now + 2 * HOUR;
	store_order o = STORE_ORDER_INIT;
	store_line l = STORE_LINE_INIT, *lines[1] = {&l};
	char id0[48], id1[48];
	store_item *it;

	/* As left by a crash between phase 1 and phase 3. */
	scheduler_order_id("i1", e, 0, id0);
	o.order_id = id0;
	o.type = V1(ORDER_TYPE__ORDER_TYPE_AUTO_RENEWAL);
	o.status = V1(ORDER_STATUS__ORDER_STATUS_PROCESSING);
	o.payer_id = "dist";
	o.n_lines = 1;
	o.lines = lines;
	l.item_id = "i1";
	l.project_id = "p1";
	l.service_type = V1(
		SERVICE_TYPE__SERVICE_TYPE_APP); /* the item's: lines apply to it only */
	l.current_expires_at = e;
	l.new_expires_at = e + 30 * DAY;
	o.total = 500;
	o.currency = "USD";
	o.payment_method = V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE);
	o.provider_key = id0;
	o.stripe_customer_id = "cus_1";
	o.stripe_payment_method_id = "pm_card_visa";
	o.create_time = now - HOUR;
	open_store(e, "pm_card_visa", &o);
	CU_ASSERT_EQUAL(scheduler_run_due(now), 1);
	CU_ASSERT_EQUAL(order_status(id0), V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED));
	scheduler_order_id("i1", e, 1, id1);
	CU_ASSERT_EQUAL(order_status(id1), 0);
	it = item();
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_EQUAL(it->expires_at, e + 30 * DAY);
	store_record_free(it);
	close_store();
}

static void test_declined_retries_after_1_2_4_days_then_stops(void)
{
	int64_t now = clock_now_us(), e = now + DAY, first = e - DAY;
	static const int64_t at[] = {0, DAY, 2 * DAY, 4 * DAY};
	char id[48];
	store_item *it;

	open_store(e, "pm_card_chargeDeclined", NULL);
	for (int k = 0; k < 4; k++) {
		/* not before its time */
		if (k > 0)
			CU_ASSERT_EQUAL(scheduler_run_due(first + at[k] - 1), 0);
		CU_ASSERT_EQUAL(scheduler_run_due(first + at[k]), 1);
		scheduler_order_id("i1", e, k, id);
		CU_ASSERT_EQUAL(order_status(id), V1(ORDER_STATUS__ORDER_STATUS_FAILED));
		it = item();
		CU_ASSERT_PTR_NOT_NULL_FATAL(it);
		CU_ASSERT_EQUAL(it->auto_renew->failed_attempts, k + 1);
		CU_ASSERT_EQUAL(it->auto_renew->enabled, k < 3);
		if (k < 3)
			CU_ASSERT_EQUAL(it->auto_renew->next_attempt, e + at[k + 1]);
		CU_ASSERT_EQUAL(it->expires_at, e);
		store_record_free(it);
	}
	CU_ASSERT_EQUAL(scheduler_run_due(first + 40 * DAY), 0);
	close_store();
}

static CU_TestInfo tests[] = {
	{"order ids are derived and distinct", test_order_ids_are_derived_and_distinct},
	{"real-clock thread renews a due item", test_real_clock_thread_renews_a_due_item},
	{"second scan charges nothing", test_second_scan_charges_nothing},
	{"order in flight is resumed, not replaced", test_order_in_flight_is_resumed_not_replaced},
	{"declined: retries after 1, 2, 4 days then stops",
	 test_declined_retries_after_1_2_4_days_then_stops},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"renewal_scheduler", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
