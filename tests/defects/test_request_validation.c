/*
 * test_request_validation.c - class: bad input is refused before any
 * handler runs, and no answer outgrows a default client (issue 12 defect 6,
 * issue 22 defect 2).
 *
 * One validator generated from the descriptors runs in the dispatcher:
 * every string valid UTF-8 without NUL and within its documented maximum
 * length, every enum a defined value, every Timestamp within 0001..9999
 * with nanos 0..999,999,999, every Duration well-formed. The answer is
 * INVALID_ARGUMENT naming the field path, and nothing is stored. Each case
 * below was accepted by billingd before (bytes FF FE C0 as a display name
 * made ListAccounts undecodable for every ancestor; "a\0b" created account
 * "a"; ListOrders took status 77, type 99, year 10000 and 1.5e9 nanos;
 * AdvanceClock took 2e9 nanos; renew_until in 1969 skipped every item; a
 * billing name or Stripe id had no length limit).
 *
 * List pages are bounded by bytes as well as by count: a ListOrders page of
 * large orders stays under the 4 MiB a default gRPC client accepts (the
 * raw calls here use grpc-core's default receive limit).
 *
 * usage: defects_request_validation <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dtest.h"

#define DIR_SVC "/smartplus.billing.v1.DirectoryService/"
#define BILL_SVC "/smartplus.billing.v1.BillingService/"
#define EVENT_SVC "/smartplus.billing.v1.EventService/"
#define ADMIN_SVC "/smartplus.billing.v1.AdminService/"
#define DEFAULT_CLIENT_LIMIT (4 * 1024 * 1024)

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
	    spt_create_project(vendor, NULL, "p1", "i1", PTYPE(COMMUNITY), NULL, 0) != 0 ||
	    spt_create_item(vendor, NULL, "p1", "a1", STYPE(APP)) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

/* Sends req to method as the vendor; asserts INVALID_ARGUMENT with a
 * message starting with `field`. */
static void expect_invalid(const char *method, spt_pb *req, const char *field)
{
	spt_raw_result r;
	size_t fl = strlen(field);
	int ok;
	CU_ASSERT_EQUAL_FATAL(dt_raw(&srv, srv.admin_key, NULL, method, req, &r), 0);
	ok = r.status == DT_INVALID_ARGUMENT && strncmp(r.message, field, fl) == 0 &&
	     (r.message[fl] == ':' || r.message[fl] == '.' || r.message[fl] == '[');
	CU_ASSERT_TRUE(ok);
	if (!ok)
		printf("\n    %s, bad %s: status %d '%s'\n", method, field, r.status, r.message);
	spt_raw_free(&r);
	spt_pb_free(req);
}

static void test_strings_utf8_without_nul(void)
{
	spt_pb p = {0};
	Smartplus__Billing__V1__ListAccountsRequest lr =
		SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_REQUEST__INIT;
	Smartplus__Billing__V1__ListAccountsResponse *out = NULL;
	Smartplus__Billing__V1__GetAccountRequest gr =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__GetAccountResponse *gout = NULL;
	static const uint8_t bad[] = {0xFF, 0xFE, 0xC0};

	spt_pb_str(&p, 1, "badname");
	spt_pb_int(&p, 2, ROLE(DISTRIBUTOR));
	spt_pb_str(&p, 3, "vendor");
	spt_pb_bytes(&p, 4, bad, sizeof(bad));
	expect_invalid(DIR_SVC "CreateAccount", &p, "display_name");

	spt_pb_bytes(&p, 1, "a\0b", 3);
	spt_pb_int(&p, 2, ROLE(DISTRIBUTOR));
	spt_pb_str(&p, 3, "vendor");
	expect_invalid(DIR_SVC "CreateAccount", &p, "account_id");

	/* An overlong encoding and a lone surrogate are not UTF-8 either. */
	spt_pb_str(&p, 1, "ovl");
	spt_pb_int(&p, 2, ROLE(DISTRIBUTOR));
	spt_pb_str(&p, 3, "vendor");
	spt_pb_bytes(&p, 4, "\xC0\xAF", 2);
	expect_invalid(DIR_SVC "CreateAccount", &p, "display_name");
	spt_pb_str(&p, 1, "sur");
	spt_pb_int(&p, 2, ROLE(DISTRIBUTOR));
	spt_pb_str(&p, 3, "vendor");
	spt_pb_bytes(&p, 4, "\xED\xA0\x80", 3);
	expect_invalid(DIR_SVC "CreateAccount", &p, "display_name");

	/* items[0].label */
	{
		spt_pb spec = {0};
		spt_pb_str(&spec, 1, "badlabel");
		spt_pb_int(&spec, 2, STYPE(APP));
		spt_pb_bytes(&spec, 3, bad, sizeof(bad));
		spt_pb_str(&p, 1, "p1");
		spt_pb_bytes(&p, 2, spec.b, spec.n);
		spt_pb_free(&spec);
		expect_invalid(DIR_SVC "CreateItems", &p, "items[0].label");
	}

	/* Nothing was stored; the vendor's children still decode. */
	lr.parent_id = "vendor";
	lr.page_size = 1000;
	CU_ASSERT_EQUAL(spb_directory_list_accounts(vendor, &lr, &out, NULL), 0);
	for (size_t i = 0; out && i < out->n_accounts; i++) {
		CU_ASSERT_STRING_NOT_EQUAL(out->accounts[i]->account_id, "badname");
		CU_ASSERT_STRING_NOT_EQUAL(out->accounts[i]->account_id, "a");
	}
	spb_message_free(out);
	gr.account_id = "a";
	CU_ASSERT_NOT_EQUAL(spb_directory_get_account(vendor, &gr, &gout, NULL), 0);
	spb_message_free(gout);
}

static void test_enums_defined(void)
{
	spt_pb p = {0};
	spt_pb_int(&p, 2, 77);
	expect_invalid(BILL_SVC "ListOrders", &p, "status");
	spt_pb_int(&p, 3, 99);
	expect_invalid(BILL_SVC "ListOrders", &p, "type");
	spt_pb_str(&p, 1, "enumacct");
	spt_pb_int(&p, 2, 42);
	spt_pb_str(&p, 3, "vendor");
	expect_invalid(DIR_SVC "CreateAccount", &p, "role");
}

static void test_timestamps_and_durations(void)
{
	spt_pb p = {0}, ts = {0};

	spt_pb_int(&ts, 1, INT64_C(253402300800)); /* 10000-01-01 */
	spt_pb_bytes(&p, 5, ts.b, ts.n);
	spt_pb_free(&ts);
	expect_invalid(BILL_SVC "ListOrders", &p, "start_time");

	spt_pb_int(&ts, 1, 1700000000);
	spt_pb_int(&ts, 2, 1500000000);
	spt_pb_bytes(&p, 5, ts.b, ts.n);
	spt_pb_free(&ts);
	expect_invalid(BILL_SVC "ListOrders", &p, "start_time");

	spt_pb_int(&ts, 1, (uint64_t)INT64_C(-62135596801)); /* before 0001 */
	spt_pb_bytes(&p, 6, ts.b, ts.n);
	spt_pb_free(&ts);
	expect_invalid(BILL_SVC "ListOrders", &p, "end_time");

	spt_pb_int(&ts, 1, 1);
	spt_pb_int(&ts, 2, 2000000000);
	spt_pb_bytes(&p, 1, ts.b, ts.n);
	spt_pb_free(&ts);
	expect_invalid(ADMIN_SVC "AdvanceClock", &p, "duration");

	spt_pb_int(&ts, 1, 5);
	spt_pb_int(&ts, 2, (uint64_t)(int64_t)-5); /* signs differ */
	spt_pb_bytes(&p, 1, ts.b, ts.n);
	spt_pb_free(&ts);
	expect_invalid(ADMIN_SVC "AdvanceClock", &p, "duration");
}

static void test_renew_until_in_the_past(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	dt_quote_req a = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"p1"},
			  .n_items = 1,
			  .items = {"a1"},
			  .months = 1};
	dt_quote_req r = a;
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *order = NULL;
	int st;

	CU_ASSERT_EQUAL_FATAL(
		dt_quote_and_place(vendor, &o, &a, METHOD(STRIPE), "pm_card_visa", &order), 0);
	spb_message_free(order);
	r.action = ACTION(RENEW);
	r.months = 0;
	r.renew_until_s = -86400 * 180; /* 1969 */
	st = dt_status(dt_quote(vendor, &o, &r, &qr));
	CU_ASSERT_EQUAL(st, DT_INVALID_ARGUMENT);
	if (st) {
		CU_ASSERT_PTR_NOT_NULL(strstr(spb_error_last()->message, "renew_until"));
	} else {
		printf("\n    renew_until in 1969: quoted, %zu lines, %zu skipped\n",
		       qr->quote->n_lines, qr->quote->n_skipped);
	}
	spb_message_free(qr);
}

static void test_string_limits(void)
{
	spt_pb p = {0}, bill = {0};
	char *big = malloc(100001);
	memset(big, 'x', 100000);
	big[100000] = 0;

	spt_pb_str(&bill, 1, big); /* name */
	spt_pb_str(&bill, 2, "a@example.com");
	spt_pb_str(&bill, 5, "US");
	spt_pb_str(&p, 1, "quo_x");
	spt_pb_int(&p, 2, METHOD(STRIPE));
	spt_pb_bytes(&p, 3, bill.b, bill.n);
	spt_pb_int(&p, 4, 1);
	spt_pb_free(&bill);
	expect_invalid(BILL_SVC "ActivateServices", &p, "billing_info.name");

	spt_pb_str(&bill, 1, "Name");
	spt_pb_str(&bill, 2, "a@example.com");
	spt_pb_str(&bill, 4, big); /* address */
	spt_pb_str(&bill, 5, "US");
	spt_pb_str(&p, 2, "d1");
	spt_pb_int(&p, 3, 10);
	spt_pb_int(&p, 4, METHOD(STRIPE));
	spt_pb_bytes(&p, 5, bill.b, bill.n);
	spt_pb_int(&p, 6, 1);
	spt_pb_free(&bill);
	expect_invalid(BILL_SVC "PurchaseCredits", &p, "billing_info.address");

	spt_pb_str(&p, 1, "a1");
	spt_pb_int(&p, 2, 1);
	spt_pb_int(&p, 4, METHOD(STRIPE));
	spt_pb_str(&p, 5, big);
	spt_pb_str(&p, 6, "pm_card_visa");
	expect_invalid(BILL_SVC "SetAutoRenew", &p, "stripe_customer_id");
	free(big);
}

static void test_repeated_limits(void)
{
	spt_pb p = {0}, mask = {0}, prj = {0};
	char id[32];
	for (int i = 0; i < 1001; i++) {
		snprintf(id, sizeof(id), "item%d", i);
		spt_pb_str(&p, 1, id);
	}
	expect_invalid(BILL_SVC "SetAutoRenew", &p, "item_ids");
	/* update_mask paths: no path twice either */
	spt_pb_str(&prj, 1, "p1");
	spt_pb_str(&prj, 8, "x");
	spt_pb_str(&mask, 1, "display_name");
	spt_pb_str(&mask, 1, "display_name");
	spt_pb_bytes(&p, 1, prj.b, prj.n);
	spt_pb_bytes(&p, 2, mask.b, mask.n);
	spt_pb_free(&prj);
	spt_pb_free(&mask);
	expect_invalid(DIR_SVC "UpdateProject", &p, "update_mask.paths[1]");
}

/* ---- List pages bounded by bytes ---- */

static size_t packed(const ProtobufCMessage *m)
{
	return protobuf_c_message_get_packed_size(m);
}

static void test_list_pages_fit_default_client(void)
{
	spb_call_options o = spt_as(D1->key, NULL);
	Smartplus__Billing__V1__CreateItemsRequest cr =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__CreateItemsResponse *cout = NULL;
	Smartplus__Billing__V1__ItemSpec specs[1000], *sp[1000];
	char ids[1000][24];
	dt_quote_req a = {.action = ACTION(ACTIVATE),
			  .payer = "d1",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"big"},
			  .months = 1};
	dt_quote_req r = a;
	Smartplus__Billing__V1__Order *order = NULL;
	size_t order_bytes, n_orders = 1, seen = 0, pages = 0;
	char token[2048] = "";

	CU_ASSERT_EQUAL_FATAL(
		spt_create_project(vendor, NULL, "big", "i1", PTYPE(COMMUNITY), NULL, 0), 0);
	for (int i = 0; i < 1000; i++) {
		smartplus__billing__v1__item_spec__init(&specs[i]);
		snprintf(ids[i], sizeof(ids[i]), "big_item_%04d", i);
		specs[i].item_id = ids[i];
		specs[i].service_type = STYPE(APP);
		specs[i].label = ids[i];
		sp[i] = &specs[i];
	}
	cr.project_id = "big";
	cr.n_items = 1000;
	cr.items = sp;
	CU_ASSERT_EQUAL_FATAL(spb_directory_create_items(vendor, &cr, &cout, NULL), 0);
	spb_message_free(cout);
	CU_ASSERT_EQUAL_FATAL(
		dt_quote_and_place(vendor, &o, &a, METHOD(STRIPE), "pm_card_visa", &order), 0);
	CU_ASSERT_EQUAL_FATAL(order->n_lines, 1000);
	order_bytes = packed(&order->base);
	spb_message_free(order);
	/* Enough orders of 1000 lines for 5 MiB of them. */
	r.action = ACTION(RENEW);
	while (n_orders * order_bytes < 5u * 1024 * 1024) {
		int rc = dt_quote_and_place(vendor, &o, &r, METHOD(STRIPE), "pm_card_visa", NULL);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		n_orders++;
	}
	printf("\n    %zu orders of ~%zu bytes each\n", n_orders, order_bytes);

	/* Page through them with a default client; every page fits. */
	for (;;) {
		spt_pb p = {0};
		spt_raw_result res;
		Smartplus__Billing__V1__ListOrdersResponse *page;
		spt_pb_str(&p, 1, "d1");
		spt_pb_str(&p, 4, "big");
		spt_pb_int(&p, 7, 1000);
		if (token[0])
			spt_pb_str(&p, 8, token);
		CU_ASSERT_EQUAL_FATAL(dt_raw(&srv, D1->key, NULL, BILL_SVC "ListOrders", &p, &res),
				      0);
		spt_pb_free(&p);
		CU_ASSERT_EQUAL(res.status, DT_OK);
		if (res.status != DT_OK) {
			printf("\n    ListOrders page %zu: status %d '%s'\n", pages, res.status,
			       res.message);
			spt_raw_free(&res);
			break;
		}
		CU_ASSERT_TRUE(res.len < DEFAULT_CLIENT_LIMIT);
		page = smartplus__billing__v1__list_orders_response__unpack(NULL, res.len,
									    res.body);
		spt_raw_free(&res);
		CU_ASSERT_PTR_NOT_NULL_FATAL(page);
		seen += page->n_orders;
		pages++;
		snprintf(token, sizeof(token), "%s", page->next_page_token);
		smartplus__billing__v1__list_orders_response__free_unpacked(page, NULL);
		if (!token[0] || pages > n_orders)
			break;
	}
	CU_ASSERT_EQUAL(seen, n_orders);
	CU_ASSERT_TRUE(pages > 1);
	printf("    listed in %zu pages\n", pages);

	/* Order events carry the whole order. Declined renewals of the
	 * 1000 items (each FAILED at once, so nothing holds the items):
	 * order.created and order.failed, nothing in between, ~10 MiB of
	 * them. ListEvents of those kinds at its largest page size, as d1:
	 * every page fits too (pages were bounded by count only). */
	for (size_t n = 0; n * 2 * order_bytes < 10u * 1024 * 1024; n++)
		CU_ASSERT_EQUAL(dt_status(dt_quote_and_place(vendor, &o, &r, METHOD(STRIPE),
							     "pm_card_chargeDeclined", NULL)),
				DT_FAILED_PRECONDITION);
	token[0] = 0;
	pages = 0;
	for (int more = 1; more && pages < 1000;) {
		spt_pb p = {0};
		spt_raw_result res;
		Smartplus__Billing__V1__ListEventsResponse *page;
		spt_pb_str(&p, 2, "order.created");
		spt_pb_str(&p, 2, "order.failed");
		spt_pb_int(&p, 5, 1000);
		if (token[0])
			spt_pb_str(&p, 6, token);
		CU_ASSERT_EQUAL_FATAL(dt_raw(&srv, D1->key, NULL, EVENT_SVC "ListEvents", &p, &res),
				      0);
		spt_pb_free(&p);
		CU_ASSERT_EQUAL(res.status, DT_OK);
		if (res.status != DT_OK) {
			printf("    ListEvents page %zu: status %d '%s'\n", pages, res.status,
			       res.message);
			spt_raw_free(&res);
			break;
		}
		SPT_CHECK(res.len < DEFAULT_CLIENT_LIMIT, "ListEvents page %zu is %zu bytes", pages,
			  res.len);
		page = smartplus__billing__v1__list_events_response__unpack(NULL, res.len,
									    res.body);
		spt_raw_free(&res);
		CU_ASSERT_PTR_NOT_NULL_FATAL(page);
		pages++;
		snprintf(token, sizeof(token), "%s", page->next_page_token);
		more = token[0] != 0;
		smartplus__billing__v1__list_events_response__free_unpacked(page, NULL);
	}
	CU_ASSERT_TRUE(pages > 1);
	printf("    their events listed in %zu pages\n", pages);
}

static CU_TestInfo tests[] = {
	{"strings: UTF-8, no NUL", test_strings_utf8_without_nul},
	{"enums: defined values only", test_enums_defined},
	{"timestamps and durations well-formed", test_timestamps_and_durations},
	{"renew_until in the past is refused", test_renew_until_in_the_past},
	{"strings: documented maximum lengths", test_string_limits},
	{"repeated fields: maximum counts, no value twice", test_repeated_limits},
	{"List pages fit a default client's 4 MiB", test_list_pages_fit_default_client},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"request validation", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
