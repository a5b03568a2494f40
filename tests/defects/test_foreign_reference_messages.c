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
 * The property manager of a project (CreateProject, UpdateProject) was an
 * oracle across trees: another tree's property manager got "'pm2' is not
 * in the installer's branch of the tree", a missing one "'nx' is not a
 * ROLE_PROPERTY_MANAGER", another tree's distributor "is not a ..." too.
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
	{"i2", ROLE(INSTALLER), "d2", "", ""},  {"pm1", ROLE(PROPERTY_MANAGER), "d1", "", ""},
};
#define D2 (&accts[3])
#define N_ACCTS (sizeof(accts) / sizeof(accts[0]))

static int suite_init(void)
{
	if (dt_start(&srv, &vendor, NULL, accts, N_ACCTS) != 0 ||
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

/* CreateProject, then UpdateProject, of i2's by d2 naming pm as the
 * property manager: status and message of each. */
static void name_manager(const char *pm, const char *project, int *st_create, char *create,
			 int *st_update, char *update, size_t cap)
{
	Smartplus__Billing__V1__CreateProjectRequest c =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *cr = NULL;
	Smartplus__Billing__V1__UpdateProjectRequest u =
		SMARTPLUS__BILLING__V1__UPDATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__UpdateProjectResponse *ur = NULL;
	Smartplus__Billing__V1__Project p = SMARTPLUS__BILLING__V1__PROJECT__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[1] = {"property_manager_id"};
	spb_call_options o = spt_as(D2->key, NULL);

	c.project_id = (char *)project;
	c.installer_id = "i2";
	c.type = PTYPE(COMMUNITY);
	c.property_manager_id = (char *)pm;
	*st_create = dt_status(spb_directory_create_project(vendor, &c, &cr, &o));
	snprintf(create, cap, "%s", *st_create ? spb_error_last()->message : "");
	spb_message_free(cr);
	p.project_id = "own-site";
	p.property_manager_id = (char *)pm;
	mask.n_paths = 1;
	mask.paths = paths;
	u.project = &p;
	u.update_mask = &mask;
	*st_update = dt_status(spb_directory_update_project(vendor, &u, &ur, &o));
	snprintf(update, cap, "%s", *st_update ? spb_error_last()->message : "");
	spb_message_free(ur);
}

static void test_foreign_property_manager(void)
{
	static const char *foreign[] = {"pm1", "d1", "i1"};
	char mc[512], mu[512], fc[512], fu[512];
	int smc, smu, sfc, sfu;

	name_manager("nx-manager", "p-missing", &smc, mc, &smu, mu, sizeof(mc));
	CU_ASSERT_EQUAL(smc, DT_PERMISSION_DENIED);
	CU_ASSERT_EQUAL(smu, DT_PERMISSION_DENIED);
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		char project[32];
		snprintf(project, sizeof(project), "p-foreign-%zu", i);
		name_manager(foreign[i], project, &sfc, fc, &sfu, fu, sizeof(fc));
		SPT_CHECK(sfc == smc && strcmp(fc, mc) == 0,
			  "CreateProject naming %s (another tree's): %s \"%s\"; a missing one: "
			  "%s \"%s\"",
			  foreign[i], spb_status_name(sfc), fc, spb_status_name(smc), mc);
		SPT_CHECK(sfu == smu && strcmp(fu, mu) == 0,
			  "UpdateProject naming %s (another tree's): %s \"%s\"; a missing one: "
			  "%s \"%s\"",
			  foreign[i], spb_status_name(sfu), fu, spb_status_name(smu), mu);
		no_foreign_words(fc);
		no_foreign_words(fu);
	}
}

static CU_TestInfo tests[] = {
	{"another tree's property manager reads like a missing one", test_foreign_property_manager},
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
