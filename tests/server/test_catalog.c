/*
 * test_catalog.c: the catalog rules of billingd (server/catalog.c): R1
 * service types per project type, premium features per type (DESIGN §2),
 * R2 payment model with the cut-over boundary, allowed methods, and the
 * packed GetCatalog answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_enums.h"
#include "spt_run.h"

#include "billingd.h"
#include "catalog.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"

billingd_state billingd;

#define N_SERVICE 11
#define N_FEATURE 9

/* R1: offers[project type - 1][service type] */
static const int offers[3][N_SERVICE + 1] = {
	/*            -  APP PM  ADD LCK PRM SNS INT DOR PRS ADM PFT */
	[0] = /*CTY*/ {0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
	[1] = /*SFH*/ {0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0},
	[2] = /*COM*/ {0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1},
};
/* DESIGN §2: features[project type - 1][feature] */
static const int features[3][N_FEATURE + 1] = {
	/*            -  PKG CAM BKG ELV PRK QR  VID LND TA */
	[0] = /*CTY*/ {0, 1, 1, 1, 1, 1, 1, 1, 1, 0},
	[1] = /*SFH*/ {0, 0, 1, 0, 0, 0, 1, 1, 1, 0},
	[2] = /*COM*/ {0, 0, 0, 0, 1, 0, 0, 0, 0, 1},
};
static const int premium_service[3] = {STYPE(PREMIUM_PLAN), STYPE(PREMIUM_PLAN),
				       STYPE(PREMIUM_FEATURES)};

static void test_offers(void)
{
	for (int t = 1; t <= 3; t++)
		for (int s = 0; s <= N_SERVICE + 1; s++) {
			int want = s <= N_SERVICE ? offers[t - 1][s] : 0;
			SPT_CHECK(catalog_offers(t, s) == want, "catalog_offers(%d, %d) != %d", t,
				  s, want);
		}
	for (int s = 0; s <= N_SERVICE; s++) {
		CU_ASSERT_EQUAL(catalog_offers(0, s), 0);
		CU_ASSERT_EQUAL(catalog_offers(4, s), 0);
		CU_ASSERT_EQUAL(catalog_offers(-1, s), 0);
	}
	CU_ASSERT(!catalog_valid_project_type(0));
	CU_ASSERT(catalog_valid_project_type(PTYPE(COMMUNITY)));
	CU_ASSERT(catalog_valid_project_type(PTYPE(SINGLE_FAMILY_HOUSE)));
	CU_ASSERT(catalog_valid_project_type(PTYPE(COMMERCIAL)));
	CU_ASSERT(!catalog_valid_project_type(4));
	CU_ASSERT(!catalog_valid_project_type(-3));
}

static void test_features(void)
{
	for (int t = 1; t <= 3; t++)
		for (int s = 0; s <= N_SERVICE; s++)
			for (int f = 0; f <= N_FEATURE + 1; f++) {
				int want = s == premium_service[t - 1] && f <= N_FEATURE
						   ? features[t - 1][f]
						   : 0;
				SPT_CHECK(catalog_feature_allowed(t, s, f) == want,
					  "catalog_feature_allowed(%d, %d, %d) != %d", t, s, f,
					  want);
			}
	CU_ASSERT_EQUAL(catalog_feature_allowed(0, STYPE(PREMIUM_PLAN), FEATURE(BOOKINGS)), 0);
	CU_ASSERT_EQUAL(catalog_feature_allowed(9, STYPE(PREMIUM_PLAN), FEATURE(BOOKINGS)), 0);
	CU_ASSERT(catalog_takes_features(STYPE(PREMIUM_PLAN)));
	CU_ASSERT(catalog_takes_features(STYPE(PREMIUM_FEATURES)));
	for (int s = 0; s <= N_SERVICE; s++)
		if (s != STYPE(PREMIUM_PLAN) && s != STYPE(PREMIUM_FEATURES))
			CU_ASSERT(!catalog_takes_features(s));
}

static void test_payment_model(void)
{
	const int64_t cut = BILLINGD_DEFAULT_CUTOVER_US;
	CU_ASSERT_EQUAL(cut, INT64_C(1748736000000000)); /* 2025-06-01T00:00:00Z */
	/* COMMERCIAL: exactly at the cut-over -> CREDITS; 1 us before -> REGULAR */
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMERCIAL), cut, cut), MODEL(CREDITS));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMERCIAL), cut - 1, cut), MODEL(REGULAR));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMERCIAL), cut + 1, cut), MODEL(CREDITS));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMERCIAL), 0, cut), MODEL(REGULAR));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMERCIAL), INT64_MAX, cut), MODEL(CREDITS));
	/* the cut-over is a setting */
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMERCIAL), 1000, 1000), MODEL(CREDITS));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMERCIAL), 999, 1000), MODEL(REGULAR));
	/* residential projects: always regular */
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMUNITY), cut, cut), MODEL(REGULAR));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(COMMUNITY), cut + 1000000, cut),
			MODEL(REGULAR));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(SINGLE_FAMILY_HOUSE), cut, cut),
			MODEL(REGULAR));
	CU_ASSERT_EQUAL(catalog_payment_model(PTYPE(SINGLE_FAMILY_HOUSE), cut - 1, cut),
			MODEL(REGULAR));
}

static void test_model_allows(void)
{
	CU_ASSERT(catalog_model_allows(MODEL(REGULAR), METHOD(STRIPE)));
	CU_ASSERT(catalog_model_allows(MODEL(REGULAR), METHOD(PAYPAL)));
	CU_ASSERT(catalog_model_allows(MODEL(REGULAR), METHOD(COUPON)));
	CU_ASSERT(!catalog_model_allows(MODEL(REGULAR), METHOD(CREDITS)));
	CU_ASSERT(!catalog_model_allows(MODEL(REGULAR), 0));
	CU_ASSERT(!catalog_model_allows(MODEL(REGULAR), 9));
	CU_ASSERT(catalog_model_allows(MODEL(CREDITS), METHOD(CREDITS)));
	CU_ASSERT(!catalog_model_allows(MODEL(CREDITS), METHOD(STRIPE)));
	CU_ASSERT(!catalog_model_allows(MODEL(CREDITS), METHOD(PAYPAL)));
	CU_ASSERT(!catalog_model_allows(MODEL(CREDITS), METHOD(COUPON)));
	CU_ASSERT(!catalog_model_allows(MODEL(CREDITS), 0));
}

static void test_packed(void)
{
	size_t len = 0;
	const uint8_t *b;
	Smartplus__Billing__V1__GetCatalogResponse *r;
	billingd.cfg.cutover_us = BILLINGD_DEFAULT_CUTOVER_US;
	b = catalog_packed(0, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	r = smartplus__billing__v1__get_catalog_response__unpack(NULL, len, b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->n_project_types, 3);
	for (size_t i = 0; i < r->n_project_types; i++) {
		const Smartplus__Billing__V1__ProjectTypeCatalog *c = r->project_types[i];
		int t = c->project_type, n = 0;
		CU_ASSERT_FATAL(t >= 1 && t <= 3);
		for (int s = 1; s <= N_SERVICE; s++)
			n += offers[t - 1][s];
		CU_ASSERT_EQUAL(c->n_services, (size_t)n);
		for (size_t k = 0; k < c->n_services; k++)
			CU_ASSERT(catalog_offers(t, c->services[k]->service_type));
	}
	smartplus__billing__v1__get_catalog_response__free_unpacked(r, NULL);
	for (int t = 1; t <= 3; t++) {
		b = catalog_packed(t, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		r = smartplus__billing__v1__get_catalog_response__unpack(NULL, len, b);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL(r->n_project_types, 1);
		CU_ASSERT_EQUAL(r->project_types[0]->project_type, t);
		smartplus__billing__v1__get_catalog_response__free_unpacked(r, NULL);
	}
	CU_ASSERT_PTR_NULL(catalog_packed(4, &len));
	CU_ASSERT_PTR_NULL(catalog_packed(-1, &len));
	CU_ASSERT_STRING_NOT_EQUAL(catalog_service_name(STYPE(DOOR)),
				   catalog_service_name(STYPE(APP)));
	CU_ASSERT_STRING_NOT_EQUAL(catalog_project_type_name(PTYPE(COMMERCIAL)),
				   catalog_project_type_name(99));
}

static CU_TestInfo tests[] = {
	{"catalog_offers (R1)", test_offers},
	{"catalog_feature_allowed", test_features},
	{"catalog_payment_model (R2, cut-over boundary)", test_payment_model},
	{"catalog_model_allows", test_model_allows},
	{"catalog_packed", test_packed},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"catalog", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
