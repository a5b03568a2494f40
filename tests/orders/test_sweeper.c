/*
 * test_sweeper.c - the order engine's background pieces without the gRPC
 * server (spb_server_core on a fresh temporary store per test): the 24 h
 * time-out sweep (orders_sweep) with the pending-orders index, the coupon
 * reservation it releases, batches larger than one pass, and the credits a
 * CREDIT_PURCHASE order grants in orders_succeed().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_run.h"
#include "spt_store.h"

#include "../../server/billingd.h"
#include "../../server/credits.h"
#include "../../server/orders.h"
#include "../../server/quote.h"
#include "store_coupon.h"
#include "store_ledger.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define OSTATUS(x) V1(ORDER_STATUS__ORDER_STATUS_##x)
#define HOUR_US (INT64_C(3600) * 1000000)
#define NOW (INT64_C(1780000000) * 1000000)

billingd_state billingd; /* main.c is not linked */

static spt_store store; /* a fresh one per test */
static store_env *env;

static void open_store(void)
{
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&store, 0, 0), 0);
	env = store.env;
	billingd.store = env;
}

static void close_store(void)
{
	CU_ASSERT(spt_store_close(&store) == 0);
	env = NULL;
	billingd.store = NULL;
}

typedef struct seed_order {
	const char *id;
	int status;
	int64_t created;
	const char *coupon;
} seed_order;

static int apply_order(store_txn *w, void *arg)
{
	const seed_order *s = arg;
	store_order o = STORE_ORDER_INIT;
	int rc = 0;

	o.order_id = (char *)s->id;
	o.type = V1(ORDER_TYPE__ORDER_TYPE_ACTIVATION);
	o.status = s->status;
	o.payer_id = "payer";
	o.total = 100;
	o.currency = "USD";
	o.create_time = s->created;
	o.update_time = s->created;
	if (s->coupon) {
		o.coupon_code = (char *)s->coupon;
		o.coupon_reserved = 1;
		rc = coupon_reserve(w, s->coupon, "payer", s->id, s->created);
	}
	return rc ? rc : store_order_put(w, &o, 1);
}

static void put_order(const char *id, int status, int64_t created, const char *coupon)
{
	seed_order s = {id, status, created, coupon};
	CU_ASSERT_EQUAL(store_write_sync(env, apply_order, &s), 0);
}

static int apply_coupon(store_txn *w, void *arg)
{
	store_coupon c = STORE_COUPON_INIT;
	c.code = arg;
	c.percent_off = 10;
	c.create_time = NOW - 48 * HOUR_US;
	return store_coupon_put(w, &c, 1);
}

static store_order *get_order(const char *id)
{
	store_txn *txn = NULL;
	store_order *o = NULL;
	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &txn), 0);
	CU_ASSERT_EQUAL(store_order_get(txn, id, &o), 0);
	store_read_end(txn);
	return o;
}

static size_t n_pending_before(int64_t t)
{
	store_txn *txn = NULL;
	store_list l = {0};
	size_t n;
	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &txn), 0);
	CU_ASSERT_EQUAL(store_order_pending_before(txn, t, 10000, &l), 0);
	n = l.n;
	store_list_free(&l);
	store_read_end(txn);
	return n;
}

static void test_sweep_times_out_only_overdue_pending(void)
{
	store_order *o;
	store_coupon *c = NULL;
	store_coupon_use *u = NULL;
	store_txn *txn = NULL;

	open_store();
	CU_ASSERT_EQUAL(store_write_sync(env, apply_coupon, "TEN"), 0);
	put_order("ord_old", OSTATUS(PENDING_PAYMENT), NOW - 25 * HOUR_US, "TEN");
	put_order("ord_edge", OSTATUS(PENDING_PAYMENT), NOW - 24 * HOUR_US, NULL);
	put_order("ord_young", OSTATUS(PENDING_PAYMENT), NOW - 23 * HOUR_US, NULL);
	put_order("ord_proc", OSTATUS(PROCESSING), NOW - 30 * HOUR_US, NULL);
	put_order("ord_done", OSTATUS(SUCCEEDED), NOW - 30 * HOUR_US, NULL);
	CU_ASSERT_EQUAL(n_pending_before(NOW), 3);

	CU_ASSERT_EQUAL(orders_sweep(env, NOW), 2); /* exactly 24 h counts */
	o = get_order("ord_old");
	CU_ASSERT_EQUAL(o->status, OSTATUS(TIMED_OUT));
	CU_ASSERT_STRING_EQUAL(o->failure_reason, "not paid within 24 hours");
	CU_ASSERT_FALSE(o->coupon_reserved);
	CU_ASSERT_EQUAL(o->update_time, NOW);
	store_record_free(o);
	o = get_order("ord_edge");
	CU_ASSERT_EQUAL(o->status, OSTATUS(TIMED_OUT));
	store_record_free(o);
	o = get_order("ord_young");
	CU_ASSERT_EQUAL(o->status, OSTATUS(PENDING_PAYMENT));
	store_record_free(o);
	o = get_order("ord_proc");
	CU_ASSERT_EQUAL(o->status, OSTATUS(PROCESSING)); /* the reconciler's */
	store_record_free(o);

	/* the coupon reservation is released, not redeemed */
	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &txn), 0);
	CU_ASSERT_EQUAL(store_coupon_get(txn, "TEN", &c), 0);
	CU_ASSERT_EQUAL(store_coupon_use_get(txn, "TEN", "payer", &u), STORE_NOTFOUND);
	store_read_end(txn);
	if (c) {
		CU_ASSERT_EQUAL(c->reserved, 0);
		CU_ASSERT_EQUAL(c->redemptions, 0);
	}
	store_record_free(c);
	store_record_free(u);

	/* the index follows the status: only the young one is left */
	CU_ASSERT_EQUAL(n_pending_before(NOW + 100 * HOUR_US), 1);
	CU_ASSERT_EQUAL(orders_sweep(env, NOW), 0);
	CU_ASSERT_EQUAL(orders_sweep(env, NOW + 1 * HOUR_US), 1);
	CU_ASSERT_EQUAL(n_pending_before(NOW + 100 * HOUR_US), 0);
	close_store();
}

static void test_sweep_more_than_one_batch(void)
{
	char id[32];
	open_store();
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "ord_b%03d", i);
		put_order(id, OSTATUS(PENDING_PAYMENT), NOW - 48 * HOUR_US + i, NULL);
	}
	CU_ASSERT_EQUAL(orders_sweep(env, NOW), 300);
	CU_ASSERT_EQUAL(n_pending_before(NOW), 0);
	CU_ASSERT_EQUAL(orders_sweep(env, NOW), 0);
	close_store();
}

static int apply_succeed_purchase(store_txn *w, void *arg)
{
	store_order *o = arg;
	int rc = orders_succeed(w, o, NOW);
	if (rc == 0)
		rc = store_order_put(w, o, 1);
	return rc;
}

static void test_credit_purchase_grants_once(void)
{
	store_order o = STORE_ORDER_INIT;
	store_txn *txn = NULL;
	int64_t b = -1, v = 1;

	open_store();
	o.order_id = "ord_cp";
	o.type = V1(ORDER_TYPE__ORDER_TYPE_CREDIT_PURCHASE);
	o.status = OSTATUS(PROCESSING);
	o.payer_id = "dist";
	o.beneficiary_id = "inst";
	o.credits_quantity = 25;
	o.actor_id = "dist";
	o.create_time = NOW;
	CU_ASSERT_EQUAL(store_write_sync(env, apply_succeed_purchase, &o), 0);
	CU_ASSERT_EQUAL(o.status, OSTATUS(SUCCEEDED));
	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &txn), 0);
	CU_ASSERT_EQUAL(ledger_balance(txn, "inst", &b), 0);
	CU_ASSERT_EQUAL(ledger_balance(txn, LEDGER_ISSUER, &v), 0);
	store_read_end(txn);
	CU_ASSERT_EQUAL(b, 25);
	CU_ASSERT_EQUAL(v, -25);
	/* a quantity of 0 is refused, nothing written */
	o.order_id = "ord_cp0";
	o.credits_quantity = 0;
	CU_ASSERT_NOT_EQUAL(store_write_sync(env, apply_succeed_purchase, &o), 0);
	close_store();
}

static CU_TestInfo tests[] = {
	{"sweep times out only overdue pending orders", test_sweep_times_out_only_overdue_pending},
	{"sweep more than one batch", test_sweep_more_than_one_batch},
	{"credit purchase grants once", test_credit_purchase_grants_once},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"orders_sweeper", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
