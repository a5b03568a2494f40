/*
 * test_line_identity.c - class: an order's effects apply only to exactly
 * the items it priced (issue 12, defect 1).
 *
 * An order line records the identity of its item (project, service type,
 * creation sequence); an id deleted and created again is another item.
 *   - DeleteItem of an item held by an open order: FAILED_PRECONDITION
 *     ITEM_IN_OPEN_ORDER, so another tree cannot take the id over while
 *     the order waits for payment;
 *   - a quote priced for an item that was deleted and created again is
 *     stale (QUOTE_STALE), even with the same project and type;
 *   - when an item changed under an open order anyway (here: the store is
 *     edited while billingd is stopped, as an older server or a future
 *     path could leave it), settlement never applies the line: a PayPal
 *     order fails before it is captured; a card payment already captured
 *     by the client fails and is flagged needs_refund.
 *   - an item is in at most one open order: a second quote of an item
 *     whose first order waits for payment could be placed and paid, and
 *     both orders succeeded (two ACTIVATE charges, the expiry pushed twice
 *     as far); the second placement is FAILED_PRECONDITION
 *     ITEM_IN_OPEN_ORDER for a second activation (renewals are not refused);
 *   - an activation settles only on an item still INACTIVE (an item made
 *     ACTIVE under it, offline here, fails the order instead of being
 *     extended).
 *
 * usage: defects_line_identity <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dtest.h"
#include "store.h"

static spt_billingd srv;
static spb_client *vendor;
static spt_account accts[] = {
	{"vendor", ROLE(VENDOR), NULL, "", ""}, {"d1", ROLE(DISTRIBUTOR), "vendor", "", ""},
	{"i1", ROLE(INSTALLER), "d1", "", ""},  {"d2", ROLE(DISTRIBUTOR), "vendor", "", ""},
	{"i2", ROLE(INSTALLER), "d2", "", ""},
};
#define N_ACCTS (sizeof(accts) / sizeof(accts[0]))
#define D1 (&accts[1])
#define I1 (&accts[2])
#define I2 (&accts[4])

static int suite_init(void)
{
	if (dt_start(&srv, &vendor, NULL, accts, N_ACCTS) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(APP), 1000, 10) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(PREMIUM_PLAN), 5000, 50) != 0 ||
	    spt_create_project(vendor, NULL, "p1", "i1", PTYPE(COMMUNITY), NULL, 0) != 0 ||
	    spt_create_project(vendor, NULL, "p2", "i2", PTYPE(COMMUNITY), NULL, 0) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

static void revive_clients(void)
{
	spb_client_free(vendor);
	vendor = spt_client(&srv, NULL);
}

static dt_quote_req activation(const char *item, int months)
{
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .n_items = 1,
			  .months = months};
	q.projects[0] = "p1";
	q.items[0] = item;
	return q;
}

static int delete_item(const char *key, const char *item, const char **reason)
{
	Smartplus__Billing__V1__DeleteItemRequest r =
		SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
	Smartplus__Billing__V1__DeleteItemResponse *out = NULL;
	spb_call_options o = spt_as(key, NULL);
	int st;
	r.item_id = (char *)item;
	st = dt_status(spb_directory_delete_item(vendor, &r, &out, &o));
	if (reason)
		*reason = st ? spb_error_last()->reason : "";
	spb_message_free(out);
	return st;
}

static Smartplus__Billing__V1__Order *confirm(const char *order_id)
{
	Smartplus__Billing__V1__ConfirmOrderRequest r =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *out = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	spb_call_options opt = spt_as(D1->key, NULL);
	r.order_id = (char *)order_id;
	if (spb_billing_confirm_order(vendor, &r, &out, &opt) == 0) {
		o = out->order;
		out->order = NULL;
	} else {
		printf("\n    ConfirmOrder: %s %s\n", spb_error_last()->reason,
		       spb_error_last()->message);
	}
	spb_message_free(out);
	return o;
}

static Smartplus__Billing__V1__Order *get_order(const char *order_id)
{
	Smartplus__Billing__V1__GetOrderRequest r = SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__GetOrderResponse *out = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	r.order_id = (char *)order_id;
	if (spb_billing_get_order(vendor, &r, &out, NULL) == 0) {
		o = out->order;
		out->order = NULL;
	}
	spb_message_free(out);
	return o;
}

/* ConfirmOrder of an order whose item changed: FAILED_PRECONDITION
 * ITEM_STATE; the order as GetOrder shows it afterwards. */
static Smartplus__Billing__V1__Order *confirm_expect_item_changed(const char *order_id)
{
	Smartplus__Billing__V1__ConfirmOrderRequest r =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *out = NULL;
	spb_call_options opt = spt_as(D1->key, NULL);
	Smartplus__Billing__V1__Order *o;
	int st;
	r.order_id = (char *)order_id;
	st = dt_status(spb_billing_confirm_order(vendor, &r, &out, &opt));
	CU_ASSERT_EQUAL(st, DT_FAILED_PRECONDITION);
	if (st) {
		CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "ITEM_STATE");
	} else {
		printf("\n    ConfirmOrder of an order whose item changed: OK, status %d\n",
		       out->order->status);
	}
	spb_message_free(out);
	o = get_order(order_id);
	if (o)
		printf("\n    order %s: status %d needs_refund %d (%s)", o->order_id, o->status,
		       o->needs_refund, o->failure_reason);
	return o;
}

static int item_status(const char *project, const char *item)
{
	Smartplus__Billing__V1__Item *it = dt_get_item(vendor, project, item);
	int st = it ? (int)it->status : -1;
	spb_message_free(it);
	return st;
}

/* The scenario: I1 deletes the item of D1's pending order, I2 (in
 * another tree) creates an item of that id; D1 confirms. */
static void test_item_held_by_open_order(void)
{
	spb_call_options o = spt_as(D1->key, NULL), i2o = spt_as(I2->key, NULL);
	dt_quote_req q = activation("x1", 12);
	Smartplus__Billing__V1__Order *order = NULL, *after;
	const char *reason = "";
	int st;

	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "x1", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &q, METHOD(STRIPE), NULL, &order), 0);
	CU_ASSERT_EQUAL_FATAL(order->status, OSTATUS(PENDING_PAYMENT));

	st = delete_item(I1->key, "x1", &reason);
	CU_ASSERT_EQUAL(st, DT_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(reason, "ITEM_IN_OPEN_ORDER");

	/* Whatever happened above, another tree's x1 is never paid for. */
	spt_create_item(vendor, &i2o, "p2", "x1", STYPE(PREMIUM_PLAN));
	after = confirm(order->order_id);
	if (after && after->status == OSTATUS(SUCCEEDED))
		CU_ASSERT_EQUAL(item_status("p1", "x1"), ISTATUS(ACTIVE));
	CU_ASSERT_NOT_EQUAL(item_status("p2", "x1"), ISTATUS(ACTIVE));
	/* Paid: now it is ACTIVE, which keeps it as well. */
	if (after && after->status == OSTATUS(SUCCEEDED)) {
		CU_ASSERT_EQUAL(delete_item(I1->key, "x1", NULL), DT_FAILED_PRECONDITION);
	}
	spb_message_free(after);
	spb_message_free(order);
}

static void test_hold_released_when_order_ends(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = activation("x5", 1);
	Smartplus__Billing__V1__Order *order = NULL;
	Smartplus__Billing__V1__CancelOrderRequest c =
		SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__CancelOrderResponse *cr = NULL;

	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "x5", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &q, METHOD(STRIPE), NULL, &order), 0);
	CU_ASSERT_EQUAL(delete_item(I1->key, "x5", NULL), DT_FAILED_PRECONDITION);
	c.order_id = order->order_id;
	CU_ASSERT_EQUAL(spb_billing_cancel_order(vendor, &c, &cr, &o), 0);
	spb_message_free(cr);
	CU_ASSERT_EQUAL(delete_item(I1->key, "x5", NULL), DT_OK);
	spb_message_free(order);
}

static void test_recreated_item_makes_quote_stale(void)
{
	spb_call_options o = spt_as(D1->key, NULL), i1o = spt_as(I1->key, NULL);
	dt_quote_req q = activation("x2", 1);
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *order = NULL;
	int rc;

	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "x2", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(dt_quote(vendor, &o, &q, &qr), 0);
	CU_ASSERT_EQUAL(delete_item(I1->key, "x2", NULL), DT_OK);
	CU_ASSERT_EQUAL(spt_create_item(vendor, &i1o, "p1", "x2", STYPE(APP)), 0);
	rc = dt_place(vendor, &o, ACTION(ACTIVATE), qr->quote->quote_id, METHOD(STRIPE),
		      "pm_card_visa", &order);
	CU_ASSERT_EQUAL(dt_status(rc), DT_FAILED_PRECONDITION);
	if (rc)
		CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "QUOTE_STALE");
	CU_ASSERT_EQUAL(item_status("p1", "x2"), ISTATUS(INACTIVE));
	spb_message_free(order);
	spb_message_free(qr);
}

/* ---- one open order per item ---- */

/* d1 places a second order for item (action, 1 month, card) while its
 * first order, placed without a card, waits: refused. Then the first is
 * paid, and the item is extended once. */
static void second_order_refused(dt_quote_req q, const char *item)
{
	spb_call_options o = spt_as(D1->key, NULL);
	Smartplus__Billing__V1__Order *first = NULL, *second = NULL, *paid;
	Smartplus__Billing__V1__Item *before = dt_get_item(vendor, "p1", item), *after;
	int64_t base;
	int st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(before);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &q, METHOD(STRIPE), NULL, &first), 0);
	CU_ASSERT_EQUAL(first->status, OSTATUS(PENDING_PAYMENT));
	spt_sleep_ms(2); /* another quote (its id has the time in it) */
	st = dt_status(dt_quote_and_place(vendor, &o, &q, METHOD(STRIPE), "pm_card_visa", &second));
	SPT_CHECK(st == DT_FAILED_PRECONDITION &&
			  strcmp(spb_error_last()->reason, "ITEM_IN_OPEN_ORDER") == 0,
		  "a second %s order for %s while %s waits: %s %s %s (order %s)",
		  q.action == ACTION(ACTIVATE) ? "ACTIVATE" : "RENEW", item, first->order_id,
		  spb_status_name(st), st ? spb_error_last()->reason : "",
		  st ? spb_error_last()->message : "", second ? second->order_id : "-");
	paid = confirm(first->order_id);
	CU_ASSERT_PTR_NOT_NULL(paid);
	if (paid)
		CU_ASSERT_EQUAL(paid->status, OSTATUS(SUCCEEDED));
	after = dt_get_item(vendor, "p1", item);
	CU_ASSERT_PTR_NOT_NULL_FATAL(after);
	/* one month on top of the expiry (or of the quote's now, for an
	 * activation): never two */
	base = before->status == ISTATUS(ACTIVE) ? spt_ts_us(before->expires_at)
						 : spt_ts_us(first->create_time);
	SPT_CHECK(spt_ts_us(after->expires_at) <= base + SPT_MONTH_US + 60 * SPT_SECOND_US,
		  "%s expires %lld s after the base: extended more than once", item,
		  (long long)((spt_ts_us(after->expires_at) - base) / SPT_SECOND_US));
	spb_message_free(before);
	spb_message_free(after);
	spb_message_free(paid);
	spb_message_free(first);
	spb_message_free(second);
}

static void test_one_open_order_per_item(void)
{
	dt_quote_req a = activation("y1", 1);
	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "y1", STYPE(APP)), 0);
	second_order_refused(a, "y1");
}

/* ---- an item changed under an open order (store edited offline) ---- */

typedef struct swap {
	const char *item_id, *project_id;
	int stype;
} swap;

static int apply_swap(store_txn *w, void *arg)
{
	const swap *s = arg;
	store_item it = STORE_ITEM_INIT;
	int rc = store_item_delete(w, s->item_id);
	if (rc)
		return rc;
	it.item_id = (char *)s->item_id;
	it.project_id = (char *)s->project_id;
	it.service_type = s->stype;
	it.label = "re-created";
	it.status = STORE_ITEM_INACTIVE;
	it.create_time = 1;
	it.renew_mode = V1(RENEW_MODE__RENEW_MODE_MANUAL);
	return store_item_put(w, &it, 1);
}

/* Deletes item and creates it again (another creation sequence) in
 * project/stype, with billingd stopped. */
static int swap_offline(const swap *swaps, size_t n)
{
	store_options so = STORE_OPTIONS_INIT;
	store_env *env = NULL;
	int rc = 0;
	so.path = srv.data_dir;
	if (store_open(&so, &env, NULL, 0) != 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = store_write_sync(env, apply_swap, (void *)&swaps[i]);
	store_close(env);
	return rc;
}

static void test_changed_item_never_applied(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q3 = activation("x3", 6), q4 = activation("x4", 6);
	Smartplus__Billing__V1__Order *paypal = NULL, *card = NULL, *after;
	swap swaps[] = {
		{"x3", "p1", STYPE(APP)},          /* same place, another item */
		{"x4", "p2", STYPE(PREMIUM_PLAN)}, /* another tree's item of that id */
	};

	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "x3", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "x4", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &q3, METHOD(PAYPAL), NULL, &paypal),
			      0);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &q4, METHOD(STRIPE), NULL, &card), 0);
	CU_ASSERT_EQUAL(paypal->status, OSTATUS(PENDING_PAYMENT));
	CU_ASSERT_EQUAL(card->status, OSTATUS(PENDING_PAYMENT));

	CU_ASSERT_EQUAL_FATAL(spt_billingd_stop(&srv), 0);
	CU_ASSERT_EQUAL(swap_offline(swaps, 2), 0);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&srv), 0);
	revive_clients();

	/* PayPal: ConfirmOrder would capture; it fails the order first. */
	after = confirm_expect_item_changed(paypal->order_id);
	CU_ASSERT_PTR_NOT_NULL(after);
	if (after) {
		CU_ASSERT_EQUAL(after->status, OSTATUS(FAILED));
		CU_ASSERT_FALSE(after->needs_refund);
	}
	CU_ASSERT_EQUAL(item_status("p1", "x3"), ISTATUS(INACTIVE));
	spb_message_free(after);

	/* Card: the client confirmed (the sandbox reports the charge as
	 * captured); the order fails and is flagged for refund. */
	after = confirm_expect_item_changed(card->order_id);
	CU_ASSERT_PTR_NOT_NULL(after);
	if (after) {
		CU_ASSERT_EQUAL(after->status, OSTATUS(FAILED));
		CU_ASSERT_TRUE(after->needs_refund);
	}
	CU_ASSERT_EQUAL(item_status("p2", "x4"), ISTATUS(INACTIVE));
	spb_message_free(after);
	spb_message_free(paypal);
	spb_message_free(card);
}

static int apply_activate(store_txn *w, void *arg)
{
	store_item *it = NULL;
	int rc = store_item_get(w, (const char *)arg, &it);
	if (rc)
		return rc;
	it->status = STORE_ITEM_ACTIVE;
	it->expires_at = (spt_real_us() / SPT_SECOND_US + 86400 * 90) * SPT_SECOND_US;
	rc = store_item_put(w, it, 0);
	store_record_free(it);
	return rc;
}

static void test_activation_only_of_inactive_item(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = activation("y2", 3);
	Smartplus__Billing__V1__Order *paypal = NULL, *after;
	Smartplus__Billing__V1__Item *it;
	store_options so = STORE_OPTIONS_INIT;
	store_env *env = NULL;
	int64_t expiry = 0;

	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "y2", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &q, METHOD(PAYPAL), NULL, &paypal), 0);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_stop(&srv), 0);
	so.path = srv.data_dir;
	CU_ASSERT_EQUAL_FATAL(store_open(&so, &env, NULL, 0), 0);
	CU_ASSERT_EQUAL(store_write_sync(env, apply_activate, "y2"), 0);
	store_close(env);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&srv), 0);
	revive_clients();
	it = dt_get_item(vendor, "p1", "y2");
	if (it)
		expiry = spt_ts_us(it->expires_at);
	spb_message_free(it);

	after = confirm_expect_item_changed(paypal->order_id);
	CU_ASSERT_PTR_NOT_NULL(after);
	if (after) {
		CU_ASSERT_EQUAL(after->status, OSTATUS(FAILED));
		CU_ASSERT_FALSE(after->needs_refund);
	}
	it = dt_get_item(vendor, "p1", "y2");
	CU_ASSERT_PTR_NOT_NULL(it);
	if (it)
		SPT_CHECK(spt_ts_us(it->expires_at) == expiry,
			  "the ACTIVATE order extended an ACTIVE item by %lld s",
			  (long long)((spt_ts_us(it->expires_at) - expiry) / SPT_SECOND_US));
	spb_message_free(it);
	spb_message_free(after);
	spb_message_free(paypal);
}

static CU_TestInfo tests[] = {
	{"an item is in at most one open activation", test_one_open_order_per_item},
	{"an activation settles only on an item still INACTIVE",
	 test_activation_only_of_inactive_item},
	{"an item held by an open order cannot be deleted or taken over",
	 test_item_held_by_open_order},
	{"the hold ends with the order", test_hold_released_when_order_ends},
	{"a deleted and re-created item makes its quote stale",
	 test_recreated_item_makes_quote_stale},
	{"an item changed under an open order is never applied", test_changed_item_never_applied},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"line identity", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
