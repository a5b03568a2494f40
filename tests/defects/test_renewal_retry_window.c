/*
 * test_renewal_retry_window.c - class: a period is never paid twice
 * (issue 12, defect 8: check, and close if open).
 *
 * An AUTO item (credits) whose renewal failed (no credits) waits for its
 * 1/2/4-day retries (its renewal group's order PENDING_PAYMENT). The payer then renews it by hand, for one month,
 * either MANUAL (auto-renew ends) or AUTO (auto-renew goes on from the new
 * expiry). Moving the clock through the whole retry window must charge
 * nothing more: the balance after the manual renewal stays, no
 * AUTO_RENEWAL order succeeds for the period already paid, and the expiry
 * is the manual renewal's.
 *
 * usage: defects_renewal_retry_window <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dtest.h"

#define DAY INT64_C(86400)

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
	static const char *const extra[] = {"--test-clock", NULL};
	if (dt_start(&srv, &vendor, extra, accts, 3) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMERCIAL), STYPE(DOOR), 1000, 3) != 0)
		return -1;
	if (spt_set_credit_price(vendor, 100) != 0)
		return -1;
	/* On credits (created after the cut-over); the oldest door is free. */
	if (spt_create_project(vendor, NULL, "pc", "i1", PTYPE(COMMERCIAL), NULL, 0) != 0 ||
	    spt_create_item(vendor, NULL, "pc", "door0", STYPE(DOOR)) != 0 ||
	    spt_create_item(vendor, NULL, "pc", "doorm", STYPE(DOOR)) != 0 ||
	    spt_create_item(vendor, NULL, "pc", "doora", STYPE(DOOR)) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

static int assign(const char *from, const char *to, int64_t n)
{
	Smartplus__Billing__V1__AssignCreditsRequest r =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *out = NULL;
	spb_call_options o = spt_as(D1->key, NULL);
	int rc;
	r.account_id = (char *)from;
	r.to_account_id = (char *)to;
	r.credits = n;
	rc = spb_billing_assign_credits(vendor, &r, &out, &o);
	spb_message_free(out);
	return rc;
}

static int auto_on(const char *item)
{
	Smartplus__Billing__V1__SetAutoRenewRequest r =
		SMARTPLUS__BILLING__V1__SET_AUTO_RENEW_REQUEST__INIT;
	Smartplus__Billing__V1__AutoRenewTerm t = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__INIT;
	Smartplus__Billing__V1__SetAutoRenewResponse *out = NULL;
	spb_call_options o = spt_as(D1->key, NULL);
	char *items[1] = {(char *)item};
	int rc;
	t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
	t.until_turned_off = 1;
	r.n_item_ids = 1;
	r.item_ids = items;
	r.enabled = 1;
	r.payer_id = "d1";
	r.payment_method = METHOD(CREDITS);
	r.term = &t;
	rc = spb_billing_set_auto_renew(vendor, &r, &out, &o);
	if (rc)
		printf("\n    SetAutoRenew: %s\n", spb_error_last()->message);
	spb_message_free(out);
	return rc;
}

/* AUTO_RENEWAL orders of d1 with the given status. */
static size_t auto_orders(int status)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *out = NULL;
	size_t n = 0;
	r.payer_id = "d1";
	r.type = V1(ORDER_TYPE__ORDER_TYPE_AUTO_RENEWAL);
	r.status = status;
	r.page_size = 1000;
	if (spb_billing_list_orders(vendor, &r, &out, NULL) == 0)
		n = out->n_orders;
	spb_message_free(out);
	return n;
}

static int64_t expiry(const char *item)
{
	Smartplus__Billing__V1__Item *it = dt_get_item(vendor, "pc", item);
	int64_t e = it && it->expires_at ? it->expires_at->seconds : 0;
	spb_message_free(it);
	return e;
}

static void run_scenario(const char *item, int manual_mode)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req a = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMERCIAL),
			  .n_projects = 1,
			  .projects = {"pc"},
			  .n_items = 1,
			  .items = {item},
			  .months = 1};
	dt_quote_req r = a;
	Smartplus__Billing__V1__Order *order = NULL;
	int64_t bal, e0, e1;
	size_t pending0, ok0, canceled0;

	/* Active for a month, on AUTO, and nothing left to pay with. */
	CU_ASSERT_EQUAL_FATAL(dt_buy_credits(vendor, &o, "d1", "d1", 3), 0);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &a, METHOD(CREDITS), NULL, &order), 0);
	CU_ASSERT_EQUAL(order->status, OSTATUS(SUCCEEDED));
	spb_message_free(order);
	order = NULL;
	CU_ASSERT_EQUAL_FATAL(auto_on(item), 0);
	bal = spt_credit_balance(vendor, NULL, "d1");
	if (bal > 0)
		CU_ASSERT_EQUAL_FATAL(assign("d1", "i1", bal), 0);
	CU_ASSERT_EQUAL(spt_credit_balance(vendor, NULL, "d1"), 0);
	e0 = expiry(item);
	pending0 = auto_orders(OSTATUS(PENDING_PAYMENT));
	ok0 = auto_orders(OSTATUS(SUCCEEDED));
	canceled0 = auto_orders(OSTATUS(CANCELED));

	/* The renewal 24 h before expiry fails: no credits. Its renewal
	 * group's order waits for the retries (issue 16). */
	CU_ASSERT_EQUAL(
		spt_advance_clock(vendor, (30 * DAY - DAY + 3600) * SPT_SECOND_US, NULL, NULL), 0);
	CU_ASSERT_EQUAL(auto_orders(OSTATUS(PENDING_PAYMENT)), pending0 + 1);
	CU_ASSERT_EQUAL(expiry(item), e0);

	/* The payer renews by hand, one month. */
	CU_ASSERT_EQUAL_FATAL(dt_buy_credits(vendor, &o, "d1", "d1", 10), 0);
	r.action = ACTION(RENEW);
	r.renew_mode = manual_mode ? V1(RENEW_MODE__RENEW_MODE_MANUAL)
				   : V1(RENEW_MODE__RENEW_MODE_AUTO);
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &r, METHOD(CREDITS), NULL, &order), 0);
	CU_ASSERT_EQUAL(order->status, OSTATUS(SUCCEEDED));
	CU_ASSERT_EQUAL(order->credits_total, 3);
	spb_message_free(order);
	e1 = expiry(item);
	CU_ASSERT_EQUAL(e1, e0 + 30 * DAY);
	CU_ASSERT_EQUAL(spt_credit_balance(vendor, NULL, "d1"), 7);

	/* Through the whole retry window (1, 2, 4 days after expiry). */
	CU_ASSERT_EQUAL(spt_advance_clock(vendor, (6 * DAY) * SPT_SECOND_US, NULL, NULL), 0);
	CU_ASSERT_EQUAL(spt_credit_balance(vendor, NULL, "d1"), 7);
	CU_ASSERT_EQUAL(auto_orders(OSTATUS(SUCCEEDED)), ok0);
	CU_ASSERT_EQUAL(expiry(item), e1);
	/* the manual renewal took the item out of the waiting order, which,
	 * left with nothing to renew, was canceled */
	CU_ASSERT_EQUAL(auto_orders(OSTATUS(PENDING_PAYMENT)), pending0);
	CU_ASSERT_EQUAL(auto_orders(OSTATUS(CANCELED)), canceled0 + 1);
	if (spt_credit_balance(vendor, NULL, "d1") != 7)
		printf("\n    %s renewal during the retry window: balance %lld, expiry moved "
		       "%lld days\n",
		       manual_mode ? "MANUAL" : "AUTO",
		       (long long)spt_credit_balance(vendor, NULL, "d1"),
		       (long long)((expiry(item) - e1) / DAY));
	/* Spend what is left so the next scenario starts from nothing. */
	CU_ASSERT_EQUAL(assign("d1", "i1", spt_credit_balance(vendor, NULL, "d1")), 0);
}

static void test_manual_renewal_in_retry_window(void)
{
	run_scenario("doorm", 1);
}

static void test_auto_mode_renewal_in_retry_window(void)
{
	run_scenario("doora", 0);
}

static CU_TestInfo tests[] = {
	{"a MANUAL renewal during the retry window is not charged again",
	 test_manual_renewal_in_retry_window},
	{"an AUTO-mode renewal during the retry window is not charged again",
	 test_auto_mode_renewal_in_retry_window},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"renewal retry window", suite_init, suite_clean, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
