/*
 * test_raced_states.c - class: a decision taken on what a call read is
 * taken again where it is applied, so calls raced against each other end
 * in a state one of them alone could have left (outside re-test of issues
 * 12 and 22: "states raced against each other").
 *
 * Each case runs a bounded number of rounds, each round several calls at
 * once on their own connections, then checks the invariant:
 *   - DeleteItem raced with another tree re-creating the id: an installer
 *     that deletes its item twice at once, while another tree's installer
 *     creates an item of that id, never deletes the other tree's item
 *     (the permission was checked on the read, the delete applied to
 *     whatever item held the id by then);
 *   - ConfirmOrder twice and CancelOrder at once: the order ends SUCCEEDED
 *     with the item extended exactly once, or CANCELED with the item
 *     untouched;
 *   - DeleteItem raced with ActivateServices of the item: the item is
 *     either deleted (and the order refused) or paid and ACTIVE (and the
 *     delete refused), never a paid order for a deleted item.
 *
 * usage: defects_raced_states <billingd> [--rounds N] (default 40)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dtest.h"

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

static long rounds;

static int suite_init(void)
{
	rounds = spt_arg_long("rounds", 40);
	if (dt_start(&srv, &vendor, NULL, accts, N_ACCTS) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(APP), 1000, 10) != 0 ||
	    spt_create_project(vendor, NULL, "p1", "i1", PTYPE(COMMUNITY), NULL, 0) != 0 ||
	    spt_create_project(vendor, NULL, "p2", "i2", PTYPE(COMMUNITY), NULL, 0) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

/* ---- calls run at once ---- */

typedef enum { OP_DELETE, OP_CREATE, OP_CONFIRM, OP_CANCEL, OP_PLACE } op_kind;

typedef struct op {
	op_kind kind;
	const char *key;
	const char *project, *id; /* item (DELETE, CREATE) or order (CONFIRM, CANCEL) */
	const char *quote;        /* PLACE */
	pthread_barrier_t *start;
	int status; /* out */
} op;

static void *run_op(void *arg)
{
	op *p = arg;
	spb_client *c = spt_client(&srv, p->key);
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	int rc = -1;

	pthread_barrier_wait(p->start);
	if (!c) {
		p->status = -1;
		return NULL;
	}
	switch (p->kind) {
	case OP_DELETE: {
		Smartplus__Billing__V1__DeleteItemRequest r =
			SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
		Smartplus__Billing__V1__DeleteItemResponse *out = NULL;
		r.item_id = (char *)p->id;
		rc = spb_directory_delete_item(c, &r, &out, &o);
		spb_message_free(out);
		break;
	}
	case OP_CREATE: rc = spt_create_item(c, &o, p->project, p->id, STYPE(APP)); break;
	case OP_CONFIRM: {
		Smartplus__Billing__V1__ConfirmOrderRequest r =
			SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__ConfirmOrderResponse *out = NULL;
		r.order_id = (char *)p->id;
		rc = spb_billing_confirm_order(c, &r, &out, &o);
		spb_message_free(out);
		break;
	}
	case OP_CANCEL: {
		Smartplus__Billing__V1__CancelOrderRequest r =
			SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__CancelOrderResponse *out = NULL;
		r.order_id = (char *)p->id;
		rc = spb_billing_cancel_order(c, &r, &out, &o);
		spb_message_free(out);
		break;
	}
	case OP_PLACE:
		rc = dt_place(c, &o, ACTION(ACTIVATE), p->quote, METHOD(STRIPE), "pm_card_visa",
			      NULL);
		break;
	}
	p->status = dt_status(rc);
	spb_client_free(c);
	return NULL;
}

/* Runs ops[0..n) at once; 0 when every thread ran. */
static int run_at_once(op *ops, int n)
{
	pthread_t t[8];
	pthread_barrier_t start;
	int started = 0;
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		ops[i].start = &start;
		if (pthread_create(&t[i], NULL, run_op, &ops[i]) == 0)
			started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	return started == n ? 0 : -1;
}

/* ---- the cases ---- */

static void test_delete_raced_with_foreign_create(void)
{
	int taken = 0, victim_created = 0;
	for (long r = 0; r < rounds; r++) {
		char id[32];
		Smartplus__Billing__V1__Item *it;
		op ops[3];
		snprintf(id, sizeof(id), "race%ld", r);
		SPT_SEED(spt_create_item(vendor, NULL, "p1", id, STYPE(APP)));
		ops[0] = (op){OP_DELETE, I1->key, NULL, id, NULL, NULL, 0};
		ops[1] = (op){OP_CREATE, I2->key, "p2", id, NULL, NULL, 0};
		ops[2] = (op){OP_DELETE, I1->key, NULL, id, NULL, NULL, 0};
		CU_ASSERT_EQUAL_FATAL(run_at_once(ops, 3), 0);
		if (ops[1].status != DT_OK)
			continue; /* created before the first delete: ALREADY_EXISTS */
		victim_created++;
		it = dt_get_item(vendor, "p2", id);
		if (!it) {
			taken++;
			printf("\n    round %ld: i1's DeleteItem removed i2's new item '%s' "
			       "(deletes: %s, %s)",
			       r, id, spb_status_name(ops[0].status),
			       spb_status_name(ops[2].status));
		}
		spb_message_free(it);
	}
	printf("\n    %ld rounds, another tree's item created in %d, deleted by i1 in %d\n", rounds,
	       victim_created, taken);
	CU_ASSERT_EQUAL(taken, 0);
}

/* A pending card order of d1 for a fresh item of p1 (into order_id). */
static int pending_order(const char *item, char *order_id, size_t cap)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"p1"},
			  .n_items = 1,
			  .items = {item},
			  .months = 1};
	Smartplus__Billing__V1__Order *ord = NULL;
	int rc = spt_create_item(vendor, NULL, "p1", item, STYPE(APP));
	if (rc == 0)
		rc = dt_quote_and_place(vendor, &o, &q, METHOD(STRIPE), NULL, &ord);
	if (rc == 0)
		snprintf(order_id, cap, "%s", ord->order_id);
	spb_message_free(ord);
	return rc;
}

static int order_status(const char *order_id)
{
	Smartplus__Billing__V1__GetOrderRequest g = SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__GetOrderResponse *out = NULL;
	int st = -1;
	g.order_id = (char *)order_id;
	if (spb_billing_get_order(vendor, &g, &out, NULL) == 0)
		st = out->order->status;
	spb_message_free(out);
	return st;
}

static void test_confirm_confirm_cancel(void)
{
	int succeeded = 0, canceled = 0;
	for (long r = 0; r < rounds; r++) {
		char item[32], order[64];
		Smartplus__Billing__V1__Item *it;
		int st;
		op ops[3];
		snprintf(item, sizeof(item), "cc%ld", r);
		SPT_SEED(pending_order(item, order, sizeof(order)));
		ops[0] = (op){OP_CONFIRM, D1->key, NULL, order, NULL, NULL, 0};
		ops[1] = (op){OP_CANCEL, D1->key, NULL, order, NULL, NULL, 0};
		ops[2] = (op){OP_CONFIRM, D1->key, NULL, order, NULL, NULL, 0};
		CU_ASSERT_EQUAL_FATAL(run_at_once(ops, 3), 0);
		st = order_status(order);
		it = dt_get_item(vendor, "p1", item);
		CU_ASSERT_PTR_NOT_NULL_FATAL(it);
		if (st == OSTATUS(SUCCEEDED)) {
			succeeded++;
			SPT_CHECK(
				it->status == ISTATUS(ACTIVE) &&
					spt_ts_us(it->expires_at) - spt_ts_us(it->create_time) <=
						SPT_MONTH_US + 60 * SPT_SECOND_US,
				"round %ld: order SUCCEEDED, item status %d expiring %lld s after "
				"its creation",
				r, it->status,
				(long long)((spt_ts_us(it->expires_at) -
					     spt_ts_us(it->create_time)) /
					    SPT_SECOND_US));
		} else {
			canceled += st == OSTATUS(CANCELED);
			SPT_CHECK(st == OSTATUS(CANCELED) && it->status == ISTATUS(INACTIVE),
				  "round %ld: order status %d, item status %d", r, st, it->status);
		}
		spb_message_free(it);
	}
	printf("\n    %ld rounds: %d SUCCEEDED, %d CANCELED\n", rounds, succeeded, canceled);
}

static void test_delete_raced_with_activate(void)
{
	int paid = 0, deleted = 0;
	spb_call_options o = spt_as(D1->key, NULL);
	for (long r = 0; r < rounds; r++) {
		char item[32];
		dt_quote_req q = {.action = ACTION(ACTIVATE),
				  .payer = "d1",
				  .installer = "i1",
				  .ptype = PTYPE(COMMUNITY),
				  .n_projects = 1,
				  .projects = {"p1"},
				  .n_items = 1,
				  .months = 1};
		Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
		Smartplus__Billing__V1__Item *it;
		op ops[2];
		snprintf(item, sizeof(item), "da%ld", r);
		q.items[0] = item;
		SPT_SEED(spt_create_item(vendor, NULL, "p1", item, STYPE(APP)));
		SPT_SEED(dt_quote(vendor, &o, &q, &qr));
		ops[0] = (op){OP_DELETE, I1->key, NULL, item, NULL, NULL, 0};
		ops[1] = (op){OP_PLACE, D1->key, NULL, NULL, qr->quote->quote_id, NULL, 0};
		CU_ASSERT_EQUAL_FATAL(run_at_once(ops, 2), 0);
		it = dt_get_item(vendor, "p1", item);
		if (ops[1].status == DT_OK) {
			paid++;
			SPT_CHECK(it && it->status == ISTATUS(ACTIVE) && ops[0].status != DT_OK,
				  "round %ld: the order was paid; the item is %s, its delete %s", r,
				  it ? "there" : "gone", spb_status_name(ops[0].status));
		} else {
			deleted += !it;
			SPT_CHECK(!it && ops[0].status == DT_OK,
				  "round %ld: the order was refused (%s); the item is %s", r,
				  spb_status_name(ops[1].status), it ? "there" : "gone");
		}
		spb_message_free(it);
		spb_message_free(qr);
	}
	printf("\n    %ld rounds: %d paid, %d deleted\n", rounds, paid, deleted);
}

static CU_TestInfo tests[] = {
	{"DeleteItem raced with another tree re-creating the id deletes only its own",
	 test_delete_raced_with_foreign_create},
	{"ConfirmOrder, ConfirmOrder and CancelOrder at once: one outcome, applied once",
	 test_confirm_confirm_cancel},
	{"DeleteItem raced with ActivateServices: deleted or paid, never both",
	 test_delete_raced_with_activate},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"raced states", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD [--rounds N]", suites);
}
