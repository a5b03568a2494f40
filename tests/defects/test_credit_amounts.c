/*
 * test_credit_amounts.c - class: credit amounts are never 0 by accident
 * and a 0-credit order is paid by nothing (issue 12, defect 3).
 *
 *   - A commercial project on credits (created after the cut-over) whose
 *     quote is only its free door costs 0 credits; ActivateServices with
 *     CREDITS succeeds without any ledger transfer (it answered
 *     INVALID_ARGUMENT "page_token: not a token of this list": the ledger
 *     refused a 0 transfer and the storage error was reported as a page
 *     token error by a handler that has no page token).
 *   - A renew-until of a few days at 3 credits a month is prorated and
 *     rounded UP to a whole credit (it was 0: short renewals were free).
 *   - Credits that cannot land are never charged for: a purchase whose
 *     credits would overflow a balance was charged, then answered INTERNAL
 *     and stayed PROCESSING for ever (the reconciler failing on it every
 *     few seconds). It is refused when placed; one that gets that far (the
 *     balance grew while it waited for approval) fails, flagged for refund.
 *     Last in the suite: it leaves the issuance account near INT64_MIN.
 *
 * usage: defects_credit_amounts <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dtest.h"

static spt_billingd srv;
static spb_client *vendor;
static spt_account accts[] = {
	{"vendor", ROLE(VENDOR), NULL, "", ""},
	{"d1", ROLE(DISTRIBUTOR), "vendor", "", ""},
	{"i1", ROLE(INSTALLER), "d1", "", ""},
};
#define D1 (&accts[1])

static int suite_init(void)
{
	if (dt_start(&srv, &vendor, NULL, accts, 3) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMERCIAL), STYPE(DOOR), 1000, 3) != 0)
		return -1;
	if (spt_set_credit_price(vendor, 100) != 0)
		return -1;
	/* created now: after the default cut-over, so it pays in credits */
	if (spt_create_project(vendor, NULL, "pc", "i1", PTYPE(COMMERCIAL), NULL, 0) != 0 ||
	    spt_create_item(vendor, NULL, "pc", "door1", STYPE(DOOR)) != 0 ||
	    spt_create_item(vendor, NULL, "pc", "door2", STYPE(DOOR)) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

static size_t credit_log_entries(const char *account)
{
	Smartplus__Billing__V1__ListCreditLogsRequest r =
		SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_REQUEST__INIT;
	Smartplus__Billing__V1__ListCreditLogsResponse *out = NULL;
	size_t n = (size_t)-1;
	r.account_id = (char *)account;
	if (spb_billing_list_credit_logs(vendor, &r, &out, NULL) == 0)
		n = out->n_entries;
	spb_message_free(out);
	return n;
}

static void test_free_only_order(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMERCIAL),
			  .n_projects = 1,
			  .projects = {"pc"},
			  .n_items = 1,
			  .items = {"door1"},
			  .months = 12};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *order = NULL;
	Smartplus__Billing__V1__Item *it;
	int rc;

	CU_ASSERT_EQUAL_FATAL(dt_quote(vendor, &o, &q, &qr), 0);
	CU_ASSERT_EQUAL(qr->quote->credits_total, 0);
	CU_ASSERT_EQUAL(qr->quote->n_lines, 1);
	CU_ASSERT_TRUE(qr->quote->n_lines == 1 && qr->quote->lines[0]->free);
	rc = dt_place(vendor, &o, ACTION(ACTIVATE), qr->quote->quote_id, METHOD(CREDITS), NULL,
		      &order);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc) {
		CU_ASSERT_PTR_NULL(strstr(spb_error_last()->message, "page_token"));
		printf("\n    0-credit ActivateServices: %s %s\n", spb_error_last()->reason,
		       spb_error_last()->message);
	} else {
		CU_ASSERT_EQUAL(order->status, OSTATUS(SUCCEEDED));
		CU_ASSERT_EQUAL(order->credits_total, 0);
	}
	it = dt_get_item(vendor, "pc", "door1");
	CU_ASSERT_TRUE(it && it->status == ISTATUS(ACTIVE));
	spb_message_free(it);
	/* No transfer: d1 never had credits and has no log entry. */
	CU_ASSERT_EQUAL(credit_log_entries("d1"), 0);
	spb_message_free(order);
	spb_message_free(qr);
}

static void test_prorated_credits_round_up(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req a = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMERCIAL),
			  .n_projects = 1,
			  .projects = {"pc"},
			  .n_items = 1,
			  .items = {"door2"},
			  .months = 1};
	dt_quote_req r = a;
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *order = NULL;
	Smartplus__Billing__V1__Item *it;

	CU_ASSERT_EQUAL_FATAL(dt_buy_credits(vendor, &o, "d1", "d1", 20), 0);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &a, METHOD(CREDITS), NULL, &order), 0);
	CU_ASSERT_EQUAL(order->status, OSTATUS(SUCCEEDED));
	CU_ASSERT_EQUAL(order->credits_total, 3);
	spb_message_free(order);
	order = NULL;
	it = dt_get_item(vendor, "pc", "door2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	CU_ASSERT_PTR_NOT_NULL_FATAL(it->expires_at);

	/* 3 days at 3 credits / 30 days = 0.3 credits: one credit. */
	r.action = ACTION(RENEW);
	r.months = 0;
	r.renew_until_s = it->expires_at->seconds + 3 * 86400;
	spb_message_free(it);
	CU_ASSERT_EQUAL_FATAL(dt_quote(vendor, &o, &r, &qr), 0);
	CU_ASSERT_EQUAL(qr->quote->n_lines, 1);
	if (qr->quote->n_lines == 1) {
		CU_ASSERT_EQUAL(qr->quote->lines[0]->days, 3);
		CU_ASSERT_EQUAL(qr->quote->lines[0]->credits, 1);
	}
	CU_ASSERT_EQUAL(qr->quote->credits_total, 1);
	if (qr->quote->credits_total != 1)
		printf("\n    a 3-day renewal at 3 credits a month quotes %lld credits\n",
		       (long long)qr->quote->credits_total);
	CU_ASSERT_EQUAL(dt_place(vendor, &o, ACTION(RENEW), qr->quote->quote_id, METHOD(CREDITS),
				 NULL, &order),
			0);
	if (order)
		CU_ASSERT_EQUAL(order->credits_total, 1);
	CU_ASSERT_EQUAL(spt_credit_balance(vendor, NULL, "d1"), 20 - 3 - 1);
	spb_message_free(order);
	spb_message_free(qr);
}

static Smartplus__Billing__V1__PurchaseCreditsResponse *purchase(const char *key, int method,
								 int *st)
{
	Smartplus__Billing__V1__PurchaseCreditsRequest r =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *out = NULL;
	spb_call_options o = spt_as(key, NULL);
	r.account_id = "dbig";
	r.payer_id = "dbig";
	r.credits = 10;
	r.payment_method = method;
	r.billing_info = spt_billing_info();
	r.terms_accepted = 1;
	r.stripe_payment_method_id = method == METHOD(STRIPE) ? "pm_card_visa" : "";
	*st = dt_status(spb_billing_purchase_credits(vendor, &r, &out, &o));
	return out;
}

static void test_credits_that_cannot_land(void)
{
	char key[SPT_KEY_MAX];
	Smartplus__Billing__V1__PurchaseCreditsResponse *pending, *refused;
	Smartplus__Billing__V1__ConfirmOrderRequest c =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *cr = NULL;
	Smartplus__Billing__V1__GetOrderRequest g = SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__GetOrderResponse *gr = NULL;
	spb_call_options o;
	int64_t issuer, big;
	int st;

	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "dbig", ROLE(DISTRIBUTOR), "vendor"),
			      0);
	CU_ASSERT_EQUAL_FATAL(spt_create_key(vendor, NULL, "dbig", SCOPE(ACCOUNT), key, NULL), 0);
	o = spt_as(key, NULL);
	/* Waiting for PayPal approval while the balance is still small. */
	pending = purchase(key, METHOD(PAYPAL), &st);
	CU_ASSERT_EQUAL_FATAL(st, DT_OK);
	CU_ASSERT_EQUAL(pending->order->status, OSTATUS(PENDING_PAYMENT));
	/* The issuance account to INT64_MIN + 5: 10 more cannot be issued. */
	issuer = spt_credit_balance(vendor, NULL, "vendor");
	CU_ASSERT_TRUE_FATAL(issuer <= 0);
	big = issuer + (INT64_MAX - 4);
	CU_ASSERT_EQUAL_FATAL(spt_assign_credits(vendor, NULL, "vendor", "dbig", big), 0);

	/* Placed now: refused before anything is charged. */
	refused = purchase(key, METHOD(STRIPE), &st);
	SPT_CHECK(st == DT_FAILED_PRECONDITION,
		  "a purchase of credits that cannot land: %s %s (order %s, status %d)",
		  spb_status_name(st), st ? spb_error_last()->message : "",
		  refused && refused->order ? refused->order->order_id : "-",
		  refused && refused->order ? (int)refused->order->status : -1);
	spb_message_free(refused);

	/* Approved and confirmed now: the order fails, owed back. */
	c.order_id = pending->order->order_id;
	st = dt_status(spb_billing_confirm_order(vendor, &c, &cr, &o));
	CU_ASSERT_NOT_EQUAL(st, 13); /* INTERNAL */
	spb_message_free(cr);
	g.order_id = pending->order->order_id;
	CU_ASSERT_EQUAL_FATAL(spb_billing_get_order(vendor, &g, &gr, NULL), 0);
	SPT_CHECK(gr->order->status == OSTATUS(FAILED) && gr->order->needs_refund,
		  "confirmed purchase whose credits cannot land: status %d needs_refund %d (%s); "
		  "ConfirmOrder said %s",
		  gr->order->status, gr->order->needs_refund, gr->order->failure_reason,
		  spb_status_name(st));
	CU_ASSERT_EQUAL(spt_credit_balance(vendor, NULL, "dbig"), big);
	spb_message_free(gr);
	spb_message_free(pending);
}

static CU_TestInfo tests[] = {
	{"a 0-credit order succeeds with no transfer", test_free_only_order},
	{"prorated credit lines round up to a whole credit", test_prorated_credits_round_up},
	{"credits that cannot land are never charged for", test_credits_that_cannot_land},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"credit amounts", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
