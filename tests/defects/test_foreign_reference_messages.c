/*
 * test_foreign_reference_messages.c - class: a reference outside the
 * caller's subtree is PERMISSION_DENIED with one message whether or not the
 * resource exists, naming no foreign id or attribute (issue 12, defect 4;
 * AIP-211). tests/isolation/isolation_sweep.c compares the messages of
 * every RPC; this program holds the cases the outside testers found.
 *
 * QuoteServices naming another tree's project with the wrong project type
 * answered INVALID_ARGUMENT "'secret-site' is a Community project" (a
 * missing project: PERMISSION_DENIED); all_projects for a foreign
 * installer echoed that installer's projects or said it "has no ...
 * projects".
 *
 * usage: defects_foreign_reference_messages <billingd>
 */
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
#define D2 (&accts[3])

static int suite_init(void)
{
	if (dt_start(&srv, &vendor, NULL, accts, 5) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(APP), 1000, 10) != 0 ||
	    spt_create_project(vendor, NULL, "secret-site", "i1", PTYPE(COMMUNITY), NULL, 0) != 0 ||
	    spt_create_item(vendor, NULL, "secret-site", "secret-item", STYPE(APP)) != 0 ||
	    spt_create_project(vendor, NULL, "own-site", "i2", PTYPE(COMMUNITY), NULL, 0) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

/* The status and message of a quote by d2. */
static int quote_as_d2(const dt_quote_req *q, char *msg, size_t cap)
{
	spb_call_options o = spt_as(D2->key, NULL);
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	int st = dt_status(dt_quote(vendor, &o, q, &qr));
	snprintf(msg, cap, "%s", st ? spb_error_last()->message : "");
	spb_message_free(qr);
	return st;
}

static void no_foreign_words(const char *msg)
{
	static const char *words[] = {"secret", "i1", "d1", "Community", "COMMUNITY"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		CU_ASSERT_PTR_NULL(strstr(msg, words[i]));
		if (strstr(msg, words[i]))
			printf("\n    message names '%s': %s\n", words[i], msg);
	}
}

static void compare(const dt_quote_req *existing, const dt_quote_req *missing)
{
	char m1[512], m2[512];
	int s1 = quote_as_d2(existing, m1, sizeof(m1)), s2 = quote_as_d2(missing, m2, sizeof(m2));
	CU_ASSERT_EQUAL(s1, DT_PERMISSION_DENIED);
	CU_ASSERT_EQUAL(s2, DT_PERMISSION_DENIED);
	CU_ASSERT_STRING_EQUAL(m1, m2);
	if (s1 != s2 || strcmp(m1, m2) != 0)
		printf("\n    existing: %d '%s'\n    missing:  %d '%s'\n", s1, m1, s2, m2);
	no_foreign_words(m1);
}

static void test_wrong_type_foreign_project(void)
{
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d2",
			  .installer = "i1",
			  .ptype = PTYPE(COMMERCIAL),
			  .n_projects = 1,
			  .projects = {"secret-site"},
			  .months = 1};
	dt_quote_req nx = q;
	nx.projects[0] = "no-such-site";
	compare(&q, &nx);
	/* the right type too */
	q.ptype = nx.ptype = PTYPE(COMMUNITY);
	compare(&q, &nx);
	/* a foreign installer whose project is named under d2's own one */
	q.installer = nx.installer = "i2";
	compare(&q, &nx);
}

static void test_all_projects_of_foreign_installer(void)
{
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d2",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .all_projects = 1,
			  .months = 1};
	dt_quote_req nx = q;
	nx.installer = "no-such-installer";
	compare(&q, &nx);
	q.ptype = nx.ptype = PTYPE(COMMERCIAL); /* i1 has none of these */
	compare(&q, &nx);
}

static void test_foreign_item_and_payer(void)
{
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "d2",
			  .installer = "i2",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"own-site"},
			  .n_items = 1,
			  .items = {"secret-item"},
			  .months = 1};
	dt_quote_req nx = q;
	nx.items[0] = "no-such-item";
	compare(&q, &nx);
	q.n_items = nx.n_items = 0;
	q.payer = "d1";
	nx.payer = "no-such-payer";
	compare(&q, &nx);
}

static CU_TestInfo tests[] = {
	{"a foreign project (any type) reads like a missing one", test_wrong_type_foreign_project},
	{"all_projects of a foreign installer reads like a missing one",
	 test_all_projects_of_foreign_installer},
	{"a foreign item or payer reads like a missing one", test_foreign_item_and_payer},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"foreign reference messages", suite_init, suite_clean, NULL, NULL, tests},
	CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
