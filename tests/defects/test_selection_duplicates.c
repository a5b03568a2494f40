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
 * The rule holds on the wire, not only for what an encoder writes: a
 * singular sub-message given twice is one value to the decoder (its
 * repeated fields concatenated), so CreateCoupon with `coupon` twice, each
 * copy naming service type APP once, stored a coupon restricted to [APP,
 * APP]. Generated from the descriptors: every repeated string or enum
 * field reached through singular sub-messages of any request is sent
 * split across two copies of its outermost sub-message.
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

/* A renewal until a date is held to 60 months too: a renew_until 8,000
 * years ahead was quoted (97,000 months of one item in one order). */
static void test_sixty_months_until_a_date(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req a = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"p1"},
			  .n_items = 1,
			  .items = {"r1"},
			  .months = 1};
	dt_quote_req r = a;
	Smartplus__Billing__V1__Order *order = NULL;
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	int64_t expiry;
	int st;

	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p1", "r1", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(
		dt_quote_and_place(vendor, &o, &a, METHOD(STRIPE), "pm_card_visa", &order), 0);
	CU_ASSERT_EQUAL_FATAL(order->status, OSTATUS(SUCCEEDED));
	expiry = spt_ts_us(order->lines[0]->new_expires_at) / SPT_SECOND_US;
	r.action = ACTION(RENEW);
	r.months = 0;
	r.renew_until_s = INT64_C(253402300799); /* 9999-12-31 */
	st = dt_status(dt_quote(vendor, &o, &r, &qr));
	SPT_CHECK(st == DT_INVALID_ARGUMENT && strstr(spb_error_last()->message, "renew_until"),
		  "renew until 9999: %s %s (total %lld)", spb_status_name(st),
		  st ? spb_error_last()->message : "", qr ? (long long)qr->quote->total : 0LL);
	spb_message_free(qr);
	qr = NULL;
	r.renew_until_s = expiry + 61 * 30 * 86400;
	expect_invalid(dt_quote(vendor, &o, &r, &qr), "renew_until");
	spb_message_free(qr);
	qr = NULL;
	r.renew_until_s = expiry + 60 * 30 * 86400;
	CU_ASSERT_EQUAL(dt_quote(vendor, &o, &r, &qr), 0);
	if (qr) {
		CU_ASSERT_EQUAL(qr->quote->n_lines, 1);
		if (qr->quote->n_lines == 1)
			CU_ASSERT_TRUE(qr->quote->lines[0]->days <= 60 * 30);
	}
	spb_message_free(qr);
	spb_message_free(order);
}

/* ---- a repeated field split across two copies of its sub-message ---- */

static const ProtobufCServiceDescriptor *services[] = {
	&smartplus__billing__v1__billing_service__descriptor,
	&smartplus__billing__v1__directory_service__descriptor,
	&smartplus__billing__v1__admin_service__descriptor,
};

static int split_paths;

/* The bytes of a message of type d holding one value of the repeated field
 * reached by path[0..n) (path[n-1] the repeated field). */
static void one_value(spt_pb *p, const ProtobufCFieldDescriptor *const *path, int n)
{
	const ProtobufCFieldDescriptor *f = path[0];
	if (n > 1) {
		spt_pb inner = SPT_PB_INIT;
		one_value(&inner, path + 1, n - 1);
		spt_pb_bytes(p, f->id, inner.b, inner.n);
		spt_pb_free(&inner);
	} else if (f->type == PROTOBUF_C_TYPE_ENUM) {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		spt_pb_int(p, f->id, (uint64_t)e->values[e->n_values - 1].value);
	} else {
		spt_pb_str(p, f->id, "x1");
	}
}

/* Sends path (path[0] a singular sub-message of the request) with that
 * sub-message twice, each copy holding the value once. */
static void send_split(const ProtobufCServiceDescriptor *svc, const ProtobufCMethodDescriptor *m,
		       const ProtobufCFieldDescriptor *const *path, int n)
{
	char rpc[200], want[200] = "";
	spt_pb body = SPT_PB_INIT, copy = SPT_PB_INIT;
	spt_raw_result r;

	for (int i = 0; i < n; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? "." : "",
			 path[i]->name);
	one_value(&copy, path + 1, n - 1);
	spt_pb_bytes(&body, path[0]->id, copy.b, copy.n);
	if (path[0]->descriptor == &smartplus__billing__v1__coupon__descriptor) {
		/* the rest of a valid coupon, in the second copy (the last scalar
		 * wins): a server that checks copies one by one stores it */
		char code[32];
		snprintf(code, sizeof(code), "SPLIT%d", split_paths);
		spt_pb_str(&copy, 1, code);
		spt_pb_int(&copy, 2, 10);
	}
	spt_pb_bytes(&body, path[0]->id, copy.b, copy.n);
	snprintf(rpc, sizeof(rpc), "/%s/%s", svc->name, m->name);
	split_paths++;
	SPT_CHECK(dt_raw(&srv, srv.admin_key, NULL, rpc, &body, &r) == 0, "%s: no answer", rpc);
	SPT_CHECK(r.status == DT_INVALID_ARGUMENT && strstr(r.message, want),
		  "%s with %s split across two copies of %s: %s \"%s\" (wanted INVALID_ARGUMENT "
		  "naming %s)",
		  rpc, want, path[0]->name, spt_status_name(r.status), r.message, want);
	spt_raw_free(&r);
	spt_pb_free(&body);
	spt_pb_free(&copy);
}

/* Every repeated string or enum field below d, through singular message
 * fields only (path[0..n) leads to d). */
static void find_repeated(const ProtobufCServiceDescriptor *svc, const ProtobufCMethodDescriptor *m,
			  const ProtobufCMessageDescriptor *d,
			  const ProtobufCFieldDescriptor **path, int n)
{
	for (unsigned i = 0; i < d->n_fields && n < 6; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int rep = f->label == PROTOBUF_C_LABEL_REPEATED;
		path[n] = f;
		if (rep && n > 0 &&
		    (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_ENUM))
			send_split(svc, m, path, n + 1);
		else if (!rep && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			 strncmp(((const ProtobufCMessageDescriptor *)f->descriptor)->name,
				 "google.protobuf.", 16) != 0)
			find_repeated(svc, m, f->descriptor, path, n + 1);
	}
}

static void test_split_submessages(void)
{
	const ProtobufCFieldDescriptor *path[8];
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		for (unsigned mi = 0; mi < services[s]->n_methods; mi++)
			find_repeated(services[s], &services[s]->methods[mi],
				      services[s]->methods[mi].input, path, 0);
	printf("\n    %d repeated fields inside singular sub-messages, each sent split\n",
	       split_paths);
	CU_ASSERT_TRUE(split_paths >= 2); /* CreateCoupon: project_types, service_types */
}

static CU_TestInfo tests[] = {
	{"a repeated field split across two copies of its sub-message: INVALID_ARGUMENT",
	 test_split_submessages},
	{"project_ids twice: INVALID_ARGUMENT", test_duplicate_projects},
	{"item_ids twice: INVALID_ARGUMENT", test_duplicate_items},
	{"service_types twice: INVALID_ARGUMENT", test_duplicate_service_types},
	{"other repeated fields twice: INVALID_ARGUMENT", test_duplicates_in_other_requests},
	{"60 months per item per order", test_sixty_months_per_item},
	{"60 months per item per order until a date too", test_sixty_months_until_a_date},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"selection duplicates", suite_init, suite_clean, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
