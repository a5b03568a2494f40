/*
 * test_selection_duplicates.c - class: a repeated selection field never
 * holds a value twice (issue 12, defect 2).
 *
 * QuoteServices with project_ids ["p1", "p1", "p1"] priced one item three
 * times and an order from it extended the item by three times the term,
 * past the 60-month cap. Every repeated field of a request (project_ids,
 * item_ids, service_types, allowed_methods, ...) with a value twice is
 * INVALID_ARGUMENT naming the field, so no order holds two lines for one
 * item and 1..60 months holds per item per order.
 *
 * usage: defects_selection_duplicates <billingd>
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
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(APP), 1000, 10) != 0 ||
	    spt_create_project(vendor, NULL, "p1", "i1", PTYPE(COMMUNITY), NULL, 0) != 0 ||
	    spt_create_item(vendor, NULL, "p1", "a1", STYPE(APP)) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

static void expect_invalid(int rc, const char *field)
{
	int st = dt_status(rc);
	CU_ASSERT_EQUAL(st, DT_INVALID_ARGUMENT);
	if (st)
		CU_ASSERT_PTR_NOT_NULL(strstr(spb_error_last()->message, field));
	if (st != DT_INVALID_ARGUMENT || !strstr(spb_error_last()->message, field))
		printf("\n    duplicate %s: status %d, message '%s'\n", field, st,
		       st ? spb_error_last()->message : "");
}

static void test_duplicate_projects(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 3,
			  .months = 60,
			  .projects = {"p1", "p1", "p1"}};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	int rc = dt_quote(vendor, &o, &q, &qr);
	expect_invalid(rc, "project_ids");
	if (rc == 0)
		printf("\n    quoted total %lld for one item at 60 months\n",
		       (long long)qr->quote->total);
	spb_message_free(qr);
}

static void test_duplicate_items(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"p1"},
			  .n_items = 2,
			  .items = {"a1", "a1"},
			  .months = 60};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	expect_invalid(dt_quote(vendor, &o, &q, &qr), "item_ids");
	spb_message_free(qr);
}

static void test_duplicate_service_types(void)
{
	Smartplus__Billing__V1__QuoteServicesRequest r =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__ServiceType types[2] = {STYPE(APP), STYPE(APP)};
	char *projects[1] = {"p1"};
	spb_call_options o = spt_as(D1->key, NULL);
	r.action = ACTION(ACTIVATE);
	r.payer_id = "d1";
	r.installer_id = "i1";
	r.project_type = PTYPE(COMMUNITY);
	r.n_project_ids = 1;
	r.project_ids = projects;
	r.n_service_types = 2;
	r.service_types = types;
	r.months = 1;
	expect_invalid(spb_billing_quote_services(vendor, &r, &qr, &o), "service_types");
	spb_message_free(qr);
}

static void test_duplicates_in_other_requests(void)
{
	Smartplus__Billing__V1__SetAutoRenewRequest a =
		SMARTPLUS__BILLING__V1__SET_AUTO_RENEW_REQUEST__INIT;
	Smartplus__Billing__V1__SetAutoRenewResponse *ar = NULL;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyRequest p =
		SMARTPLUS__BILLING__V1__SET_INSTALLER_PAYMENT_POLICY_REQUEST__INIT;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse *pr = NULL;
	Smartplus__Billing__V1__PaymentMethod methods[2] = {METHOD(STRIPE), METHOD(STRIPE)};
	char *items[2] = {"a1", "a1"};
	spb_call_options o = spt_as(D1->key, NULL);

	a.n_item_ids = 2;
	a.item_ids = items;
	a.enabled = 0;
	expect_invalid(spb_billing_set_auto_renew(vendor, &a, &ar, &o), "item_ids");
	spb_message_free(ar);
	p.installer_id = "i1";
	p.pay_by_installer = 1;
	p.n_allowed_methods = 2;
	p.allowed_methods = methods;
	expect_invalid(spb_billing_set_installer_payment_policy(vendor, &p, &pr, &o),
		       "allowed_methods");
	spb_message_free(pr);
}

/* One project, 60 months: one line, 60 months, 60 x the price. */
static void test_sixty_months_per_item(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"p1"},
			  .months = 60};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	CU_ASSERT_EQUAL_FATAL(dt_quote(vendor, &o, &q, &qr), 0);
	CU_ASSERT_EQUAL(qr->quote->n_lines, 1);
	CU_ASSERT_EQUAL(qr->quote->total, 60 * 1000);
	spb_message_free(qr);
}

static CU_TestInfo tests[] = {
	{"project_ids twice: INVALID_ARGUMENT", test_duplicate_projects},
	{"item_ids twice: INVALID_ARGUMENT", test_duplicate_items},
	{"service_types twice: INVALID_ARGUMENT", test_duplicate_service_types},
	{"other repeated fields twice: INVALID_ARGUMENT", test_duplicates_in_other_requests},
	{"60 months per item per order", test_sixty_months_per_item},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"selection duplicates", suite_init, suite_clean, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
