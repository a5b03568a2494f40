/*
 * test_paid_items_kept.c - class: no path deletes or resets an item that is
 * ACTIVE or held by an open order (issue 22, defect 1).
 *
 * UpdateProject's pms_integrated toggles the project's INTEGRATION item
 * (R5). Turning integration off is refused (FAILED_PRECONDITION) while that
 * item is ACTIVE (reason ITEM_STATE: it runs until it expires) or held by
 * an open order (reason ITEM_IN_OPEN_ORDER); the item keeps its status and
 * expiry. Once it has expired, or when it was never paid and no order
 * holds it, turning off removes it and turning on again creates a fresh
 * INACTIVE one; turning on an integrated project changes nothing.
 *
 * usage: defects_paid_items_kept <billingd>
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
	static const char *const extra[] = {"--test-clock", NULL};
	if (dt_start(&srv, &vendor, extra, accts, 3) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(APP), 1000, 10) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(INTEGRATION), 2000, 20) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

static int set_integration(const char *project, int on, const char **reason)
{
	Smartplus__Billing__V1__UpdateProjectRequest r =
		SMARTPLUS__BILLING__V1__UPDATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__Project p = SMARTPLUS__BILLING__V1__PROJECT__INIT;
	Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	Smartplus__Billing__V1__UpdateProjectResponse *out = NULL;
	char *paths[1] = {"pms_integrated"};
	spb_call_options o = spt_as(D1->key, NULL);
	int rc;
	p.project_id = (char *)project;
	p.pms_integrated = on;
	m.n_paths = 1;
	m.paths = paths;
	r.project = &p;
	r.update_mask = &m;
	rc = dt_status(spb_directory_update_project(vendor, &r, &out, &o));
	if (reason)
		*reason = rc ? spb_error_last()->reason : "";
	spb_message_free(out);
	return rc;
}

/* Makes an integrated project with one APP item; returns 0. */
static int make_project(const char *project, const char *app)
{
	if (spt_create_project(vendor, NULL, project, "i1", PTYPE(COMMUNITY), NULL, 1) != 0)
		return -1;
	return spt_create_item(vendor, NULL, project, app, STYPE(APP));
}

static dt_quote_req activation(const char *project, const char *app)
{
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .n_items = 1,
			  .months = 3};
	q.projects[0] = project;
	q.items[0] = app;
	return q;
}

static void test_active_integration_item_survives_toggle(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = activation("pa", "pa_app");
	Smartplus__Billing__V1__Order *order = NULL;
	Smartplus__Billing__V1__Item *before, *after;
	const char *reason = "";
	int st;

	CU_ASSERT_EQUAL_FATAL(make_project("pa", "pa_app"), 0);
	CU_ASSERT_EQUAL_FATAL(
		dt_quote_and_place(vendor, &o, &q, METHOD(STRIPE), "pm_card_visa", &order), 0);
	CU_ASSERT_EQUAL(order->status, OSTATUS(SUCCEEDED));
	spb_message_free(order);
	before = dt_get_item(vendor, "pa", "pms_pa");
	CU_ASSERT_PTR_NOT_NULL_FATAL(before);
	CU_ASSERT_EQUAL(before->status, ISTATUS(ACTIVE));

	st = set_integration("pa", 0, &reason);
	CU_ASSERT_EQUAL(st, DT_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(reason, "ITEM_STATE");
	after = dt_get_item(vendor, "pa", "pms_pa");
	CU_ASSERT_PTR_NOT_NULL(after);
	if (after) {
		CU_ASSERT_EQUAL(after->status, ISTATUS(ACTIVE));
		CU_ASSERT_TRUE(after->expires_at &&
			       after->expires_at->seconds == before->expires_at->seconds);
	} else {
		printf("\n    turning integration off deleted the ACTIVE paid item (status %d)\n",
		       st);
	}
	spb_message_free(after);

	/* Turning it on again (it is on) resets nothing. */
	CU_ASSERT_EQUAL(set_integration("pa", 1, NULL), DT_OK);
	after = dt_get_item(vendor, "pa", "pms_pa");
	CU_ASSERT_PTR_NOT_NULL_FATAL(after);
	CU_ASSERT_EQUAL(after->status, ISTATUS(ACTIVE));
	CU_ASSERT_TRUE(after->expires_at && before->expires_at &&
		       after->expires_at->seconds == before->expires_at->seconds);
	spb_message_free(after);

	/* Once expired, integration may be turned off (the item goes), and on
	 * again (a fresh INACTIVE item). */
	CU_ASSERT_EQUAL(
		spt_advance_clock(vendor, (INT64_C(100) * 86400) * SPT_SECOND_US, NULL, NULL), 0);
	CU_ASSERT_EQUAL(set_integration("pa", 0, NULL), DT_OK);
	after = dt_get_item(vendor, "pa", "pms_pa");
	CU_ASSERT_PTR_NULL(after);
	spb_message_free(after);
	CU_ASSERT_EQUAL(set_integration("pa", 1, NULL), DT_OK);
	after = dt_get_item(vendor, "pa", "pms_pa");
	CU_ASSERT_PTR_NOT_NULL(after);
	if (after)
		CU_ASSERT_EQUAL(after->status, ISTATUS(INACTIVE));
	spb_message_free(after);
	spb_message_free(before);
}

static void test_integration_item_in_open_order_survives_toggle(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req q = activation("pb", "pb_app");
	Smartplus__Billing__V1__Order *order = NULL;
	Smartplus__Billing__V1__Item *it;
	const char *reason = "";
	int st;

	CU_ASSERT_EQUAL_FATAL(make_project("pb", "pb_app"), 0);
	/* STRIPE without a payment method: the order waits for the buyer. */
	CU_ASSERT_EQUAL_FATAL(dt_quote_and_place(vendor, &o, &q, METHOD(STRIPE), NULL, &order), 0);
	CU_ASSERT_EQUAL_FATAL(order->status, OSTATUS(PENDING_PAYMENT));

	st = set_integration("pb", 0, &reason);
	CU_ASSERT_EQUAL(st, DT_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(reason, "ITEM_IN_OPEN_ORDER");
	it = dt_get_item(vendor, "pb", "pms_pb");
	CU_ASSERT_PTR_NOT_NULL(it);
	spb_message_free(it);

	/* Settled (canceled): the hold is gone, the toggle works both ways. */
	{
		Smartplus__Billing__V1__CancelOrderRequest c =
			SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__CancelOrderResponse *cr = NULL;
		c.order_id = order->order_id;
		CU_ASSERT_EQUAL(spb_billing_cancel_order(vendor, &c, &cr, &o), 0);
		spb_message_free(cr);
	}
	if (set_integration("pb", 1, NULL) == DT_OK) {
		CU_ASSERT_EQUAL(set_integration("pb", 0, NULL), DT_OK);
		it = dt_get_item(vendor, "pb", "pms_pb");
		CU_ASSERT_PTR_NULL(it);
		spb_message_free(it);
		CU_ASSERT_EQUAL(set_integration("pb", 1, NULL), DT_OK);
		it = dt_get_item(vendor, "pb", "pms_pb");
		CU_ASSERT_PTR_NOT_NULL(it);
		if (it)
			CU_ASSERT_EQUAL(it->status, ISTATUS(INACTIVE));
		spb_message_free(it);
	} else {
		CU_FAIL("turning integration on failed");
	}
	spb_message_free(order);
}

static CU_TestInfo tests[] = {
	{"an ACTIVE integration item survives turning integration off",
	 test_active_integration_item_survives_toggle},
	{"an integration item held by an open order survives the toggle",
	 test_integration_item_in_open_order_survives_toggle},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"paid items kept", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
