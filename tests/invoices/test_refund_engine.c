/*
 * The refund engine's provider paths (server/refunds.c), on billingd
 * without the network (tests/fuzz/fuzz_local.c: the real dispatcher and
 * handlers through rpc_local_call, a fresh store): orders paid by card at a
 * live provider that cannot be reached (127.0.0.1:9), so every refund stays
 * PENDING with its amount reserved on the invoice; then the answers a
 * provider or a webhook would give, recorded with refunds_settle_answer():
 * FAILED gives the reservation back (and a credit purchase's credits), a
 * duplicate or late answer changes nothing, SUCCEEDED gives the line's days
 * back; the reconciler asks again and leaves an unanswered note PENDING;
 * ledger_check stays clean.
 */
#include "spt_run.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_local.h"
#include "billingd.h"
#include "clock.h"
#include "enums.h"
#include "invoices.h"
#include "order_effects.h"
#include "refunds.h"
#include "smartplus/billing/v1/invoice_service.pb-c.h"
#include "store.h"
#include "store_invoice.h"
#include "store_ledger.h"
#include "store_order.h"

#define REFUND_PATH "/smartplus.billing.v1.InvoiceService/RefundOrder"
#define CN_STATUS(x) V1(CREDIT_NOTE_STATUS__CREDIT_NOTE_STATUS_##x)
#define DAY_US (INT64_C(86400) * 1000000)

/* ---- seeding: a SUCCEEDED live order, through orders_succeed ---- */

typedef struct seed {
	const char *order_id;
	int credit_purchase;
} seed;

static int apply_seed(store_txn *w, void *arg)
{
	const seed *s = arg;
	store_order o = STORE_ORDER_INIT;
	store_line l = STORE_LINE_INIT, *lines[1] = {&l};
	int64_t now = clock_now_us();
	int rc;

	o.order_id = (char *)s->order_id;
	o.status = OSTATUS(PROCESSING);
	o.payer_id = "fz_d1";
	o.currency = "USD";
	o.payment_method = METHOD(STRIPE);
	o.stripe_payment_intent_id = "pi_live_1";
	o.bill_name = "Ana";
	o.bill_country = "US";
	o.create_time = o.update_time = now;
	o.sandbox = 0; /* refunds go to the live (unreachable) provider */
	o.actor_id = "fz_d1";
	if (s->credit_purchase) {
		o.type = OTYPE(CREDIT_PURCHASE);
		o.beneficiary_id = "fz_i1";
		o.credits_quantity = 40;
		o.subtotal = o.total = 4000;
	} else {
		/* the first order activates fz_it1; later ones renew it (an
		 * activation settles only on an item still INACTIVE) */
		o.type = strcmp(s->order_id, "ord_live_a") == 0 ? OTYPE(ACTIVATION)
								: OTYPE(RENEWAL);
		o.installer_id = "fz_i1";
		o.project_type = PTYPE(COMMUNITY);
		l.item_id = "fz_it1";
		l.project_id = "fz_p1";
		l.service_type = STYPE(APP);
		l.unit_amount = 500;
		l.months = 2;
		l.amount = 1000;
		o.lines = lines;
		o.n_lines = 1;
		o.subtotal = o.total = 1000;
	}
	rc = orders_succeed(w, &o, now);
	return rc ? rc : store_order_put(w, &o, 1);
}

static Smartplus__Billing__V1__CreditNote *refund(const char *order, const char *item,
						  int64_t amount, int *status)
{
	Smartplus__Billing__V1__RefundOrderRequest req =
		SMARTPLUS__BILLING__V1__REFUND_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__RefundOrderResponse *resp;
	Smartplus__Billing__V1__CreditNote *cn = NULL;
	char *items[1] = {(char *)item}, msg[256];
	uint8_t *out = NULL;
	size_t len = 0;

	req.order_id = (char *)order;
	req.item_ids = items;
	req.n_item_ids = item ? 1 : 0;
	req.amount = amount;
	req.reason = "test";
	*status = fuzz_local_call_msg(REFUND_PATH, FUZZ_AUTH_VENDOR, &req.base, &out, &len, msg,
				      sizeof(msg));
	if (*status == GRPC_STATUS_OK) {
		resp = smartplus__billing__v1__refund_order_response__unpack(NULL, len, out);
		if (resp) {
			cn = resp->credit_note;
			resp->credit_note = NULL;
			smartplus__billing__v1__refund_order_response__free_unpacked(resp, NULL);
		}
	}
	free(out);
	return cn;
}

static store_invoice *invoice_of(const char *order)
{
	store_invoice *inv = NULL;
	store_txn *txn;
	if (store_read_begin(billingd.store, &txn) != 0)
		return NULL;
	store_invoice_get_by_order(txn, order, &inv);
	store_read_end(txn);
	return inv;
}

static store_credit_note *note(const char *number)
{
	store_credit_note *cn = NULL;
	store_txn *txn;
	if (store_read_begin(billingd.store, &txn) != 0)
		return NULL;
	store_credit_note_get(txn, number, &cn);
	store_read_end(txn);
	return cn;
}

static int64_t read_balance(const char *account)
{
	int64_t v = -1;
	store_txn *txn;
	if (store_read_begin(billingd.store, &txn) == 0) {
		ledger_balance(txn, account, &v);
		store_read_end(txn);
	}
	return v;
}

static int64_t expiry(const char *item)
{
	store_item *it = NULL;
	store_txn *txn;
	int64_t v = -1;
	if (store_read_begin(billingd.store, &txn) == 0) {
		if (store_item_get(txn, item, &it) == 0)
			v = it->expires_at;
		store_record_free(it);
		store_read_end(txn);
	}
	return v;
}

typedef struct answer {
	const char *number;
	refund_result res;
	int outcome;
} answer;

static int apply_answer(store_txn *w, void *arg)
{
	answer *a = arg;
	return refunds_settle_answer(w, a->number, &a->res, clock_now_us(), &a->outcome);
}

static int settle(const char *number, refund_status st, const char *refund_id, int *outcome)
{
	answer a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.number = number;
	a.res.status = st;
	snprintf(a.res.refund_id, sizeof(a.res.refund_id), "%s", refund_id);
	snprintf(a.res.failure, sizeof(a.res.failure), "%s",
		 st == REFUND_FAILED ? "charge_disputed" : "");
	rc = store_write_sync(billingd.store, apply_answer, &a);
	*outcome = a.outcome;
	return rc;
}

/* ---- tests ---- */

static void test_failed_refund_gives_the_reservation_back(void)
{
	seed s = {"ord_live_a", 0};
	Smartplus__Billing__V1__CreditNote *cn;
	store_invoice *inv;
	store_credit_note *rec;
	char number[64];
	int status, outcome;

	CU_ASSERT_EQUAL_FATAL(store_write_sync(billingd.store, apply_seed, &s), 0);
	cn = refund("ord_live_a", NULL, 300, &status);
	CU_ASSERT_EQUAL_FATAL(status, GRPC_STATUS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cn);
	CU_ASSERT_EQUAL(cn->status, CN_STATUS(PENDING)); /* the provider did not answer */
	snprintf(number, sizeof(number), "%s", cn->credit_note_id);
	smartplus__billing__v1__credit_note__free_unpacked(cn, NULL);
	inv = invoice_of("ord_live_a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->refunded_total, 300); /* reserved while PENDING */
	store_record_free(inv);
	/* 700 left: 701 is refused even while the 300 are pending */
	CU_ASSERT_PTR_NULL(refund("ord_live_a", NULL, 701, &status));
	CU_ASSERT_EQUAL(status, GRPC_STATUS_FAILED_PRECONDITION);
	/* the provider refuses: FAILED, and the 300 may be refunded again */
	CU_ASSERT_EQUAL(settle(number, REFUND_FAILED, "re_failed", &outcome), 0);
	CU_ASSERT_EQUAL(outcome, REFUND_FAILED);
	rec = note(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_EQUAL(rec->status, CN_STATUS(FAILED));
	CU_ASSERT_STRING_EQUAL(rec->failure_reason, "charge_disputed");
	CU_ASSERT_STRING_EQUAL(rec->stripe_refund_id, "re_failed");
	CU_ASSERT(rec->settle_time > 0);
	store_record_free(rec);
	inv = invoice_of("ord_live_a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->refunded_total, 0);
	CU_ASSERT_EQUAL(inv->lines[0]->refunded, 0);
	CU_ASSERT_EQUAL(inv->n_credit_notes, 1); /* the void note stays listed */
	store_record_free(inv);
	/* a late SUCCEEDED for the same note changes nothing */
	CU_ASSERT_EQUAL(settle(number, REFUND_SUCCEEDED, "re_late", &outcome), 0);
	CU_ASSERT_EQUAL(outcome, 0);
	rec = note(number);
	CU_ASSERT(rec && rec->status == CN_STATUS(FAILED));
	store_record_free(rec);
	/* the whole 1000 can go now */
	cn = refund("ord_live_a", NULL, 1000, &status);
	CU_ASSERT_EQUAL(status, GRPC_STATUS_OK);
	CU_ASSERT(cn && cn->status == CN_STATUS(PENDING) && cn->total == 1000);
	if (cn)
		smartplus__billing__v1__credit_note__free_unpacked(cn, NULL);
}

static void test_succeeded_line_refund_gives_days_back(void)
{
	seed s = {"ord_live_b", 0};
	Smartplus__Billing__V1__CreditNote *cn;
	store_credit_note *rec;
	char number[64];
	int64_t before, now = clock_now_us();
	int status, outcome;

	CU_ASSERT_EQUAL_FATAL(store_write_sync(billingd.store, apply_seed, &s), 0);
	before = expiry("fz_it1");
	CU_ASSERT(before > now + 100 * DAY_US); /* an activation and a renewal of 60 days */
	cn = refund("ord_live_b", "fz_it1", 0, &status);
	CU_ASSERT_EQUAL_FATAL(status, GRPC_STATUS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cn);
	CU_ASSERT_EQUAL(cn->status, CN_STATUS(PENDING));
	CU_ASSERT_EQUAL(cn->lines[0]->refunded_days, 60);
	snprintf(number, sizeof(number), "%s", cn->credit_note_id);
	smartplus__billing__v1__credit_note__free_unpacked(cn, NULL);
	/* nothing given back while the money is still at the provider */
	CU_ASSERT_EQUAL(expiry("fz_it1"), before);
	/* the reconciler asks again: still no answer, still PENDING */
	CU_ASSERT_EQUAL(refunds_reconcile_once(), 0);
	rec = note(number);
	CU_ASSERT(rec && rec->status == CN_STATUS(PENDING) && rec->attempts >= 1);
	store_record_free(rec);
	/* a webhook about the order: asked again, no answer, try later */
	CU_ASSERT_EQUAL(refunds_settle_order("ord_live_b"), -1);
	/* an order with nothing pending: nothing to ask */
	CU_ASSERT_EQUAL(refunds_settle_order("ord_unknown"), 0);
	/* pending at the provider: recorded, still PENDING */
	CU_ASSERT_EQUAL(settle(number, REFUND_PENDING, "re_123", &outcome), 0);
	CU_ASSERT_EQUAL(outcome, 0);
	rec = note(number);
	CU_ASSERT(rec && rec->status == CN_STATUS(PENDING) &&
		  strcmp(rec->stripe_refund_id, "re_123") == 0);
	store_record_free(rec);
	CU_ASSERT_EQUAL(settle(number, REFUND_SUCCEEDED, "re_123", &outcome), 0);
	CU_ASSERT_EQUAL(outcome, REFUND_SUCCEEDED);
	CU_ASSERT_EQUAL(expiry("fz_it1"), before - 60 * DAY_US);
	rec = note(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_EQUAL(rec->status, CN_STATUS(SUCCEEDED));
	CU_ASSERT_EQUAL(rec->lines[0]->expiry_before, before);
	CU_ASSERT_EQUAL(rec->lines[0]->expiry_after, before - 60 * DAY_US);
	store_record_free(rec);
	/* the same answer twice (a webhook after the poll): nothing more */
	CU_ASSERT_EQUAL(settle(number, REFUND_SUCCEEDED, "re_123", &outcome), 0);
	CU_ASSERT_EQUAL(outcome, 0);
	CU_ASSERT_EQUAL(expiry("fz_it1"), before - 60 * DAY_US);
}

static void test_credit_purchase_refund_takes_credits_back(void)
{
	seed s = {"ord_live_c", 1};
	Smartplus__Billing__V1__CreditNote *cn;
	store_txn *txn;
	char number[64], report[256];
	int64_t before;
	int status, outcome;

	CU_ASSERT_EQUAL_FATAL(store_write_sync(billingd.store, apply_seed, &s), 0);
	before = read_balance("fz_i1");
	/* 1000 of 4000: a quarter of the 40 credits, rounded up */
	cn = refund("ord_live_c", NULL, 1000, &status);
	CU_ASSERT_EQUAL_FATAL(status, GRPC_STATUS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cn);
	CU_ASSERT_EQUAL(cn->credits, 10);
	CU_ASSERT(cn->transfer_id[0] != '\0');
	snprintf(number, sizeof(number), "%s", cn->credit_note_id);
	smartplus__billing__v1__credit_note__free_unpacked(cn, NULL);
	CU_ASSERT_EQUAL(read_balance("fz_i1"), before - 10);
	/* lines cannot be named on a credit purchase */
	CU_ASSERT_PTR_NULL(refund("ord_live_c", "fz_it1", 0, &status));
	CU_ASSERT_EQUAL(status, GRPC_STATUS_INVALID_ARGUMENT);
	/* the money refund fails: the credits come back */
	CU_ASSERT_EQUAL(settle(number, REFUND_FAILED, "", &outcome), 0);
	CU_ASSERT_EQUAL(read_balance("fz_i1"), before);
	{
		store_credit_note *rec = note(number);
		CU_ASSERT(rec && rec->return_transfer_id[0] != '\0');
		store_record_free(rec);
	}
	CU_ASSERT_EQUAL_FATAL(store_read_begin(billingd.store, &txn), 0);
	CU_ASSERT_EQUAL(ledger_check(txn, report, sizeof(report)), 0);
	store_read_end(txn);
	printf("\n    %s ", report);
}

static int suite_init(void)
{
	fuzz_local_open();
	invoice_config_defaults(&billingd.cfg.invoicing);
	billingd.cfg.invoicing.prefix = "TST";
	billingd.cfg.stripe_url = "http://127.0.0.1:9"; /* nothing listens: no answer */
	billingd.cfg.provider_timeout_ms = 500;
	return 0;
}

static int suite_clean(void)
{
	fuzz_local_close();
	return 0;
}

static CU_TestInfo tests[] = {
	{"FAILED gives the reservation back", test_failed_refund_gives_the_reservation_back},
	{"SUCCEEDED line refund gives the days back", test_succeeded_line_refund_gives_days_back},
	{"credit purchase refund takes credits back",
	 test_credit_purchase_refund_takes_credits_back},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"refund_engine", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
