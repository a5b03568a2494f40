/*
 * test_charge_lowering_fields.c - class: a field that lowers what is
 * charged is set only by the vendor or a SERVICE key (issue 12, defect 5).
 *
 * free_additional_apps (R4) and created_at (R2) lower charges. Through
 * CreateProject or UpdateProject (update_mask) an installer or any of its
 * ancestors gets PERMISSION_DENIED naming the field; the vendor and a
 * SERVICE key (acting for anyone) may set them. An UpdateProject whose mask
 * does not name such a field is not refused because the resource carries
 * its current value.
 *
 * usage: defects_charge_lowering_fields <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "dtest.h"

static spt_billingd srv;
static spb_client *vendor;
static char service_key[SPT_KEY_MAX];
static spt_account accts[] = {
	{"vendor", ROLE(VENDOR), NULL, "", ""},
	{"d1", ROLE(DISTRIBUTOR), "vendor", "", ""},
	{"i1", ROLE(INSTALLER), "d1", "", ""},
};
#define D1 (&accts[1])
#define I1 (&accts[2])

static int suite_init(void)
{
	if (dt_start(&srv, &vendor, NULL, accts, 3) != 0 ||
	    spt_create_key(vendor, NULL, "vendor", SCOPE(SERVICE), service_key, NULL) != 0 ||
	    spt_create_project(vendor, NULL, "p1", "i1", PTYPE(COMMUNITY), NULL, 0) != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

static int create_project(const spb_call_options *o, const char *id, int free_apps,
			  int64_t created_at)
{
	Smartplus__Billing__V1__CreateProjectRequest r =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *out = NULL;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int st;
	r.project_id = (char *)id;
	r.installer_id = "i1";
	r.type = PTYPE(COMMUNITY);
	r.free_additional_apps = free_apps;
	if (created_at) {
		ts.seconds = created_at;
		r.created_at = &ts;
	}
	st = dt_status(spb_directory_create_project(vendor, &r, &out, o));
	spb_message_free(out);
	return st;
}

static int update_project(const spb_call_options *o, const char *mask, int free_apps)
{
	Smartplus__Billing__V1__UpdateProjectRequest r =
		SMARTPLUS__BILLING__V1__UPDATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__Project p = SMARTPLUS__BILLING__V1__PROJECT__INIT;
	Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	Smartplus__Billing__V1__UpdateProjectResponse *out = NULL;
	char *paths[1] = {(char *)mask};
	int st;
	p.project_id = "p1";
	p.free_additional_apps = free_apps;
	p.display_name = "renamed";
	m.n_paths = 1;
	m.paths = paths;
	r.project = &p;
	r.update_mask = &m;
	st = dt_status(spb_directory_update_project(vendor, &r, &out, o));
	spb_message_free(out);
	return st;
}

static void expect_denied_naming(int st, const char *field, const char *who)
{
	CU_ASSERT_EQUAL(st, DT_PERMISSION_DENIED);
	if (st)
		CU_ASSERT_PTR_NOT_NULL(strstr(spb_error_last()->message, field));
	if (st != DT_PERMISSION_DENIED)
		printf("\n    %s setting %s: status %d %s\n", who, field, st,
		       st ? spb_error_last()->message : "");
}

static void test_installer_and_ancestors_refused(void)
{
	spb_call_options i1 = spt_as(I1->key, NULL), d1 = spt_as(D1->key, NULL);
	expect_denied_naming(create_project(&i1, "own1", 1000, 0), "free_additional_apps",
			     "installer");
	expect_denied_naming(create_project(&d1, "own2", 5, 0), "free_additional_apps",
			     "distributor");
	expect_denied_naming(create_project(&i1, "own3", 0, (int64_t)time(NULL) - 86400 * 400),
			     "created_at", "installer");
	expect_denied_naming(update_project(&i1, "free_additional_apps", 1000),
			     "free_additional_apps", "installer");
	expect_denied_naming(update_project(&d1, "free_additional_apps", 1000),
			     "free_additional_apps", "distributor");
	/* Setting it back to 0 is setting it too. */
	expect_denied_naming(update_project(&d1, "free_additional_apps", 0), "free_additional_apps",
			     "distributor");
}

static void test_vendor_and_service_key_allowed(void)
{
	spb_call_options svc = spt_as(service_key, NULL);
	svc.acting_account = "i1";
	CU_ASSERT_EQUAL(create_project(NULL, "vend1", 3, (int64_t)time(NULL) - 86400 * 400), DT_OK);
	CU_ASSERT_EQUAL(create_project(&svc, "svc1", 2, (int64_t)time(NULL) - 86400), DT_OK);
	CU_ASSERT_EQUAL(update_project(NULL, "free_additional_apps", 4), DT_OK);
	CU_ASSERT_EQUAL(update_project(&svc, "free_additional_apps", 5), DT_OK);
}

static void test_unmasked_value_not_refused(void)
{
	spb_call_options i1 = spt_as(I1->key, NULL);
	/* The resource carries free_additional_apps = 5, but only the name is
	 * being changed. */
	CU_ASSERT_EQUAL(update_project(&i1, "display_name", 5), DT_OK);
	CU_ASSERT_EQUAL(create_project(&i1, "own4", 0, 0), DT_OK);
}

static CU_TestInfo tests[] = {
	{"installer and ancestors: PERMISSION_DENIED naming the field",
	 test_installer_and_ancestors_refused},
	{"vendor and SERVICE key may set them", test_vendor_and_service_key_allowed},
	{"a value outside update_mask is not refused", test_unmasked_value_not_refused},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"charge-lowering fields", suite_init, suite_clean, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
