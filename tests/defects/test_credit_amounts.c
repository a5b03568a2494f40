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

static CU_TestInfo tests[] = {
	{"a 0-credit order succeeds with no transfer", test_free_only_order},
	{"prorated credit lines round up to a whole credit", test_prorated_credits_round_up},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"credit amounts", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
