/*
 * test_foundation.c: the real billingd through the SDK (and raw grpc core):
 * GetCatalog per project type (R1 service types, premium features, free
 * allowances R4/R5, payment models R2 with the 2025-06-01 cut-over), bad
 * project types, UNIMPLEMENTED for unknown methods, undecodable payloads,
 * authentication failures, health without a key.
 *
 * usage: itest_foundation <path to billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "spt_billingd.h"
#include "spt_fs.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define CUTOVER_S INT64_C(1748736000) /* 2025-06-01T00:00:00Z */

static spt_billingd srv;
static spb_client *vendor;

static int suite_init(void)
{
	SPT_INIT(spt_billingd_start(&srv, NULL));
	vendor = spt_client(&srv, NULL);
	SPT_INIT(vendor ? 0 : -1);
	return 0;
}

static int suite_clean(void)
{
	int rc;
	spb_client_free(vendor);
	rc = spt_billingd_stop(&srv);
	spt_billingd_free(&srv);
	return rc == 0 ? 0 : -1;
}

/* R1, exactly. */
typedef struct expect_type {
	int type;
	int services[8];  /* 0-terminated */
	int premium;      /* the service carrying features */
	int features[10]; /* 0-terminated */
} expect_type;

static const expect_type expected[] = {
	{PTYPE(COMMUNITY),
	 {STYPE(APP), STYPE(PM_APP), STYPE(ADDITIONAL_APP), STYPE(THIRD_PARTY_LOCK),
	  STYPE(PREMIUM_PLAN), STYPE(SENSOR_ALERT), STYPE(INTEGRATION), 0},
	 STYPE(PREMIUM_PLAN),
	 {FEATURE(PACKAGE_ROOM), FEATURE(THIRD_PARTY_CAMERA), FEATURE(BOOKINGS),
	  FEATURE(ELEVATOR_CONTROL), FEATURE(SMART_PARKING), FEATURE(DYNAMIC_QR_CODE),
	  FEATURE(VIDEO_STORAGE), FEATURE(LANDLINE_SERVICE), 0}},
	{PTYPE(SINGLE_FAMILY_HOUSE),
	 {STYPE(APP), STYPE(ADDITIONAL_APP), STYPE(THIRD_PARTY_LOCK), STYPE(PREMIUM_PLAN),
	  STYPE(SENSOR_ALERT), 0},
	 STYPE(PREMIUM_PLAN),
	 {FEATURE(LANDLINE_SERVICE), FEATURE(THIRD_PARTY_CAMERA), FEATURE(DYNAMIC_QR_CODE),
	  FEATURE(VIDEO_STORAGE), 0}},
	{PTYPE(COMMERCIAL),
	 {STYPE(DOOR), STYPE(PERSONNEL_APP), STYPE(ADMIN_APP), STYPE(PREMIUM_FEATURES),
	  STYPE(SENSOR_ALERT), 0},
	 STYPE(PREMIUM_FEATURES),
	 {FEATURE(TIME_ATTENDANCE), FEATURE(ELEVATOR_CONTROL), 0}},
};

static int count0(const int *v)
{
	int n = 0;
	while (v[n])
		n++;
	return n;
}

static int in0(const int *v, int x)
{
	for (; *v; v++)
		if (*v == x)
			return 1;
	return 0;
}

static Smartplus__Billing__V1__GetCatalogResponse *get_catalog(int type)
{
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
	req.project_type = type;
	if (spb_billing_get_catalog(vendor, &req, &resp, NULL) != 0) {
		fprintf(stderr, "GetCatalog(%d): %s\n", type, spb_error_last()->message);
		return NULL;
	}
	return resp;
}

static void test_catalog_service_types(void)
{
	for (size_t t = 0; t < sizeof(expected) / sizeof(expected[0]); t++) {
		const expect_type *e = &expected[t];
		Smartplus__Billing__V1__GetCatalogResponse *r = get_catalog(e->type);
		const Smartplus__Billing__V1__ProjectTypeCatalog *c;
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL_FATAL(r->n_project_types, 1);
		c = r->project_types[0];
		CU_ASSERT_EQUAL(c->project_type, e->type);
		CU_ASSERT(c->display_name[0] != 0);
		/* exactly the R1 set: same count, each expected present, none twice */
		CU_ASSERT_EQUAL(c->n_services, (size_t)count0(e->services));
		for (size_t i = 0; i < c->n_services; i++) {
			const Smartplus__Billing__V1__ServiceOffering *o = c->services[i];
			CU_ASSERT(in0(e->services, o->service_type));
			for (size_t j = 0; j < i; j++)
				CU_ASSERT_NOT_EQUAL(c->services[j]->service_type, o->service_type);
			CU_ASSERT(o->display_name[0] != 0);
			CU_ASSERT(o->description[0] != 0);
			CU_ASSERT_EQUAL(o->automatic, (int)o->service_type == STYPE(INTEGRATION));
			if ((int)o->service_type == e->premium) {
				/* premium features per DESIGN §2, exactly */
				CU_ASSERT_EQUAL(o->n_premium_features, (size_t)count0(e->features));
				for (size_t f = 0; f < o->n_premium_features; f++) {
					CU_ASSERT(
						in0(e->features, o->premium_features[f]->feature));
					CU_ASSERT(o->premium_features[f]->display_name[0] != 0);
				}
			} else {
				CU_ASSERT_EQUAL(o->n_premium_features, 0);
			}
		}
		spb_message_free(r);
	}
}

static void test_catalog_all_types(void)
{
	Smartplus__Billing__V1__GetCatalogResponse *r = get_catalog(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->n_project_types, 3);
	for (size_t i = 0; i < r->n_project_types && i < 3; i++)
		CU_ASSERT_EQUAL(r->project_types[i]->n_services,
				(size_t)count0(expected[i].services));
	spb_message_free(r);
}

static const Smartplus__Billing__V1__FreeAllowance *allowance(
	const Smartplus__Billing__V1__ProjectTypeCatalog *c, int service)
{
	for (size_t i = 0; i < c->n_free_allowances; i++)
		if ((int)c->free_allowances[i]->service_type == service)
			return c->free_allowances[i];
	return NULL;
}

/* R4, R5. */
static void test_catalog_free_allowances(void)
{
	for (int type = 1; type <= 3; type++) {
		Smartplus__Billing__V1__GetCatalogResponse *r = get_catalog(type);
		const Smartplus__Billing__V1__ProjectTypeCatalog *c;
		const Smartplus__Billing__V1__FreeAllowance *a;
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		c = r->project_types[0];
		if (type == PTYPE(COMMERCIAL)) {
			/* the oldest DOOR is free */
			a = allowance(c, STYPE(DOOR));
			CU_ASSERT_PTR_NOT_NULL(a);
			if (a)
				CU_ASSERT_EQUAL(a->count, 1);
			CU_ASSERT_PTR_NULL(allowance(c, STYPE(INTEGRATION)));
		} else {
			/* free_additional_apps oldest ADDITIONAL_APP items */
			a = allowance(c, STYPE(ADDITIONAL_APP));
			CU_ASSERT_PTR_NOT_NULL(a);
			if (a)
				CU_ASSERT(a->description[0] != 0);
			CU_ASSERT_PTR_NULL(allowance(c, STYPE(DOOR)));
		}
		/* R5: only community projects integrate */
		if (type == PTYPE(COMMUNITY)) {
			CU_ASSERT_PTR_NOT_NULL(allowance(c, STYPE(INTEGRATION)));
		} else {
			CU_ASSERT_PTR_NULL(allowance(c, STYPE(INTEGRATION)));
		}
		spb_message_free(r);
	}
}

static int methods_are(const Smartplus__Billing__V1__PaymentModelRule *r, const int *want)
{
	if (r->n_methods != (size_t)count0(want))
		return 0;
	for (size_t i = 0; i < r->n_methods; i++)
		if (!in0(want, r->methods[i]))
			return 0;
	return 1;
}

/* R2, with the default cut-over 2025-06-01T00:00:00Z. */
static void test_catalog_payment_models(void)
{
	static const int regular[] = {METHOD(STRIPE), METHOD(PAYPAL), METHOD(COUPON), 0};
	static const int credits[] = {METHOD(CREDITS), 0};
	for (int type = 1; type <= 3; type++) {
		Smartplus__Billing__V1__GetCatalogResponse *r = get_catalog(type);
		const Smartplus__Billing__V1__ProjectTypeCatalog *c;
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		c = r->project_types[0];
		if (type != PTYPE(COMMERCIAL)) {
			CU_ASSERT_EQUAL_FATAL(c->n_payment_models, 1);
			CU_ASSERT_EQUAL(c->payment_models[0]->payment_model, MODEL(REGULAR));
			CU_ASSERT(methods_are(c->payment_models[0], regular));
			CU_ASSERT_PTR_NULL(c->payment_models[0]->created_before);
			CU_ASSERT_PTR_NULL(c->payment_models[0]->created_on_or_after);
		} else {
			int seen_regular = 0, seen_credits = 0;
			CU_ASSERT_EQUAL_FATAL(c->n_payment_models, 2);
			for (size_t i = 0; i < c->n_payment_models; i++) {
				const Smartplus__Billing__V1__PaymentModelRule *m =
					c->payment_models[i];
				if (m->payment_model == MODEL(REGULAR)) {
					seen_regular = 1;
					CU_ASSERT(methods_are(m, regular));
					CU_ASSERT_PTR_NULL(m->created_on_or_after);
					CU_ASSERT_PTR_NOT_NULL(m->created_before);
					if (m->created_before) {
						CU_ASSERT_EQUAL(m->created_before->seconds,
								CUTOVER_S);
						CU_ASSERT_EQUAL(m->created_before->nanos, 0);
					}
				} else if (m->payment_model == MODEL(CREDITS)) {
					seen_credits = 1;
					CU_ASSERT(methods_are(m, credits));
					CU_ASSERT_PTR_NULL(m->created_before);
					CU_ASSERT_PTR_NOT_NULL(m->created_on_or_after);
					if (m->created_on_or_after) {
						CU_ASSERT_EQUAL(m->created_on_or_after->seconds,
								CUTOVER_S);
						CU_ASSERT_EQUAL(m->created_on_or_after->nanos, 0);
					}
				}
			}
			CU_ASSERT(seen_regular && seen_credits);
		}
		spb_message_free(r);
	}
}

/* A project's payment model follows its created_at across the cut-over. */
static int project_model(const char *id, int type, int64_t seconds, int32_t nanos)
{
	Smartplus__Billing__V1__CreateProjectRequest req =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *resp = NULL;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int model = -1;
	ts.seconds = seconds;
	ts.nanos = nanos;
	req.project_id = (char *)id;
	req.installer_id = (char *)"f_inst";
	req.type = type;
	req.created_at = &ts;
	if (spb_directory_create_project(vendor, &req, &resp, NULL) == 0 && resp->project)
		model = resp->project->payment_model;
	else
		fprintf(stderr, "CreateProject %s: %s\n", id, spb_error_last()->message);
	spb_message_free(resp);
	return model;
}

static void test_cutover_projects(void)
{
	CU_ASSERT_EQUAL_FATAL(
		spt_create_account(vendor, NULL, "f_dist", ROLE(DISTRIBUTOR), "vendor"), 0);
	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "f_inst", ROLE(INSTALLER), "f_dist"),
			      0);
	CU_ASSERT_EQUAL(project_model("f_com_at", PTYPE(COMMERCIAL), CUTOVER_S, 0), MODEL(CREDITS));
	CU_ASSERT_EQUAL(project_model("f_com_before", PTYPE(COMMERCIAL), CUTOVER_S - 1, 999999000),
			MODEL(REGULAR));
	CU_ASSERT_EQUAL(project_model("f_com_later", PTYPE(COMMERCIAL), CUTOVER_S + 86400, 0),
			MODEL(CREDITS));
	CU_ASSERT_EQUAL(project_model("f_cty_at", PTYPE(COMMUNITY), CUTOVER_S, 0), MODEL(REGULAR));
	CU_ASSERT_EQUAL(project_model("f_sfh_at", PTYPE(SINGLE_FAMILY_HOUSE), CUTOVER_S + 1, 0),
			MODEL(REGULAR));
}

static void test_catalog_bad_type(void)
{
	static const int bad[] = {4, 12, 99, -1};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Smartplus__Billing__V1__GetCatalogRequest req =
			SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
		Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
		req.project_type = bad[i];
		CU_ASSERT_EQUAL(spb_billing_get_catalog(vendor, &req, &resp, NULL), SPB_EINVALID);
		CU_ASSERT_EQUAL(spb_error_last()->grpc_code, 3 /* INVALID_ARGUMENT */);
		CU_ASSERT_PTR_NOT_NULL(strstr(spb_error_last()->message, "project_type"));
		spb_message_free(resp);
	}
}

static const char *auth_md(const char *key, char *buf, size_t cap)
{
	snprintf(buf, cap, "Bearer %s", key);
	return buf;
}

static void test_unimplemented(void)
{
	char bearer[200];
	const char *md[] = {"authorization", auth_md(srv.admin_key, bearer, sizeof(bearer)), NULL};
	static const char *unknown[] = {
		"/smartplus.billing.v1.BillingService/NoSuchMethod",
		"/smartplus.billing.v1.NoSuchService/GetCatalog",
		"/smartplus.billing.v1.BillingService/getcatalog",
	};
	/* read-only table RPCs: every one is implemented */
	static const char *reads[] = {
		"/smartplus.billing.v1.BillingService/QuoteServices",
		"/smartplus.billing.v1.BillingService/ListItems",
		"/smartplus.billing.v1.BillingService/GetOrder",
		"/smartplus.billing.v1.BillingService/ListOrders",
		"/smartplus.billing.v1.BillingService/GetCreditBalance",
		"/smartplus.billing.v1.BillingService/ListCreditLogs",
		"/smartplus.billing.v1.BillingService/GetInstallerPaymentPolicy",
		"/smartplus.billing.v1.AdminService/ListPrices",
		"/smartplus.billing.v1.AdminService/ListCoupons",
	};
	spt_raw_result r;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(spt_raw_once(srv.target, unknown[i], "", 0, md, &r), 0);
		CU_ASSERT_EQUAL(r.status, 12 /* UNIMPLEMENTED */);
		spt_raw_free(&r);
		/* also without any credentials */
		CU_ASSERT_EQUAL_FATAL(spt_raw_once(srv.target, unknown[i], "", 0, NULL, &r), 0);
		CU_ASSERT_EQUAL(r.status, 12);
		spt_raw_free(&r);
	}
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(spt_raw_once(srv.target, reads[i], "", 0, md, &r), 0);
		SPT_CHECK(r.status != 12, "%s answers UNIMPLEMENTED", reads[i]);
		/* whatever it answers, it is a considered answer, never a crash */
		CU_ASSERT(r.status != 2 /* UNKNOWN */ && r.status != 13 /* INTERNAL */ &&
			  r.status != 14 /* UNAVAILABLE */);
		spt_raw_free(&r);
	}
}

static void test_garbage_payload(void)
{
	char bearer[200];
	const char *md[] = {"authorization", auth_md(srv.admin_key, bearer, sizeof(bearer)), NULL};
	static const unsigned char garbage[] = {0xff, 0xff, 0xff};
	spt_raw_result r;
	CU_ASSERT_EQUAL_FATAL(spt_raw_once(srv.target,
					   "/smartplus.billing.v1.BillingService/GetCatalog",
					   garbage, sizeof(garbage), md, &r),
			      0);
	CU_ASSERT_EQUAL(r.status, 3 /* INVALID_ARGUMENT */);
	spt_raw_free(&r);
	/* the same bytes to a Directory RPC */
	CU_ASSERT_EQUAL_FATAL(spt_raw_once(srv.target,
					   "/smartplus.billing.v1.DirectoryService/GetAccount",
					   garbage, sizeof(garbage), md, &r),
			      0);
	CU_ASSERT_EQUAL(r.status, 3);
	spt_raw_free(&r);
	/* and a well-formed empty GetCatalog request works through the raw path */
	CU_ASSERT_EQUAL_FATAL(spt_raw_once(srv.target,
					   "/smartplus.billing.v1.BillingService/GetCatalog", "", 0,
					   md, &r),
			      0);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(r.len > 0);
	spt_raw_free(&r);
}

/* GetCatalog with a given key (NULL: no key); returns the gRPC status. */
static int catalog_status_with(const char *key)
{
	spb_client *c = spt_client(&srv, key ? key : "");
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
	int st;
	if (!c)
		return -1;
	st = spb_billing_get_catalog(c, &req, &resp, NULL) == 0 ? 0 : spb_error_last()->grpc_code;
	spb_message_free(resp);
	spb_client_free(c);
	return st;
}

static int raw_status_with_auth(const char *value)
{
	const char *md[] = {"authorization", value, NULL};
	spt_raw_result r;
	int st;
	if (spt_raw_once(srv.target, "/smartplus.billing.v1.BillingService/GetCatalog", "", 0, md,
			 &r) != 0)
		return -1;
	st = r.status;
	spt_raw_free(&r);
	return st;
}

static void test_auth(void)
{
	char key[SPT_KEY_MAX], key_id[SPT_KEY_ID_MAX], bad[SPT_KEY_MAX];
	Smartplus__Billing__V1__RevokeApiKeyRequest rv =
		SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__RevokeApiKeyResponse *rvr = NULL;

	CU_ASSERT_EQUAL(catalog_status_with(srv.admin_key), 0);
	/* missing */
	CU_ASSERT_EQUAL(catalog_status_with(NULL), 16 /* UNAUTHENTICATED */);
	/* malformed */
	CU_ASSERT_EQUAL(catalog_status_with("spb_nothex_xyz"), 16);
	CU_ASSERT_EQUAL(raw_status_with_auth("Basic dXNlcjpwYXNz"), 16);
	CU_ASSERT_EQUAL(raw_status_with_auth("Bearer"), 16);
	CU_ASSERT_EQUAL(raw_status_with_auth(""), 16);
	snprintf(bad, sizeof(bad), "%s", srv.admin_key);
	bad[strlen(bad) - 1] = 'X'; /* not hex */
	CU_ASSERT_EQUAL(catalog_status_with(bad), 16);
	/* unknown: well-formed, random id */
	CU_ASSERT_EQUAL(catalog_status_with(
				"spb_0123456789abcdef_"
				"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
			16);
	/* known id, wrong secret */
	snprintf(bad, sizeof(bad), "%s", srv.admin_key);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(catalog_status_with(bad), 16);
	/* revoked */
	CU_ASSERT_EQUAL_FATAL(
		spt_create_key(vendor, NULL, "vendor",
			       SMARTPLUS__BILLING__V1__API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT, key,
			       key_id),
		0);
	CU_ASSERT_EQUAL(catalog_status_with(key), 0);
	rv.key_id = key_id;
	CU_ASSERT_EQUAL(spb_directory_revoke_api_key(vendor, &rv, &rvr, NULL), 0);
	if (rvr && rvr->api_key)
		CU_ASSERT(rvr->api_key->revoked);
	spb_message_free(rvr);
	CU_ASSERT_EQUAL(catalog_status_with(key), 16);
	/* the vendor's own key is untouched */
	CU_ASSERT_EQUAL(catalog_status_with(srv.admin_key), 0);
}

static void test_health_needs_no_key(void)
{
	spt_raw_result r;
	Grpc__Health__V1__HealthCheckResponse *h;
	CU_ASSERT_EQUAL_FATAL(
		spt_raw_once(srv.target, "/grpc.health.v1.Health/Check", "", 0, NULL, &r), 0);
	CU_ASSERT_EQUAL(r.status, 0);
	h = grpc__health__v1__health_check_response__unpack(NULL, r.len, r.body);
	CU_ASSERT_PTR_NOT_NULL(h);
	if (h)
		CU_ASSERT_EQUAL(h->status,
				GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	grpc__health__v1__health_check_response__free_unpacked(h, NULL);
	spt_raw_free(&r);
}

static CU_TestInfo tests[] = {
	{"GetCatalog: R1 service types and premium features per type", test_catalog_service_types},
	{"GetCatalog: all types", test_catalog_all_types},
	{"GetCatalog: free allowances (R4, R5)", test_catalog_free_allowances},
	{"GetCatalog: payment models (R2)", test_catalog_payment_models},
	{"projects: payment model at the cut-over", test_cutover_projects},
	{"GetCatalog: out-of-range project_type", test_catalog_bad_type},
	{"unknown methods are UNIMPLEMENTED, every table RPC is served", test_unimplemented},
	{"garbage payload -> INVALID_ARGUMENT", test_garbage_payload},
	{"UNAUTHENTICATED: missing/malformed/unknown/revoked", test_auth},
	{"health Check needs no key", test_health_needs_no_key},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"foundation", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
