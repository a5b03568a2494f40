/*
 * test_directory.c: DirectoryService and AdminService against the real
 * billingd through the SDK.
 *
 * The permission matrix: a reseller tree
 *
 *   vendor
 *   ├── d1 (DISTRIBUTOR)
 *   │   ├── s1 (SUB_DISTRIBUTOR)
 *   │   │   └── i1 (INSTALLER) ── pm1 (PROPERTY_MANAGER)
 *   │   ├── i2 (INSTALLER)
 *   │   └── pm2 (PROPERTY_MANAGER)
 *   └── d2 (DISTRIBUTOR)
 *       └── i3 (INSTALLER)
 *
 * projects p_i1 (installer i1, property manager pm1), p_i1b (i1), p_i2 (i2,
 * property manager pm2), p_i3 (i3); a key per account and a SERVICE key of
 * the vendor acting for i1 (x-acting-account). For every caller × target
 * (own, a descendant's, a foreign one, an ancestor's) × RPC the table below
 * gives the exact status. Then validation, ALREADY_EXISTS, the catalog rules
 * of CreateItems, the INTEGRATION item, DeleteItem, pagination.
 *
 * usage: itest_directory <path to billingd>
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_billingd.h"
#include "spt_fs.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_sdk.h"

/* gRPC status codes used below */
#define OK 0
#define IA 3  /* INVALID_ARGUMENT */
#define AE 6  /* ALREADY_EXISTS */
#define PD 7  /* PERMISSION_DENIED */
#define FP 9  /* FAILED_PRECONDITION */
#define NA -1 /* no such cell */
#define NOT_DENIED \
	-2 /* vendor on an admin RPC another issue implements:
			 anything but PERMISSION_DENIED / UNAUTHENTICATED */

static spt_billingd srv;
static spb_client *vendor;

enum { A_VENDOR, A_D1, A_D2, A_S1, A_I1, A_I2, A_I3, A_PM1, A_PM2, N_ACCTS };
static spt_account accts[N_ACCTS] = {
	[A_VENDOR] = {"vendor", ROLE(VENDOR), NULL, "", ""},
	[A_D1] = {"d1", ROLE(DISTRIBUTOR), "vendor", "", ""},
	[A_D2] = {"d2", ROLE(DISTRIBUTOR), "vendor", "", ""},
	[A_S1] = {"s1", ROLE(SUB_DISTRIBUTOR), "d1", "", ""},
	[A_I1] = {"i1", ROLE(INSTALLER), "s1", "", ""},
	[A_I2] = {"i2", ROLE(INSTALLER), "d1", "", ""},
	[A_I3] = {"i3", ROLE(INSTALLER), "d2", "", ""},
	[A_PM1] = {"pm1", ROLE(PROPERTY_MANAGER), "i1", "", ""},
	[A_PM2] = {"pm2", ROLE(PROPERTY_MANAGER), "d1", "", ""},
};
static char service_key[SPT_KEY_MAX];

static int suite_init(void)
{
	SPT_INIT(spt_billingd_start(&srv, NULL));
	vendor = spt_client(&srv, NULL);
	SPT_INIT(vendor ? 0 : -1);
	SPT_INIT(spt_create_tree(vendor, accts, N_ACCTS));
	SPT_INIT(spt_create_project(vendor, NULL, "p_i1", "i1", PTYPE(COMMUNITY), "pm1", 0));
	SPT_INIT(spt_create_project(vendor, NULL, "p_i1b", "i1", PTYPE(COMMUNITY), NULL, 0));
	SPT_INIT(spt_create_project(vendor, NULL, "p_i2", "i2", PTYPE(COMMUNITY), "pm2", 0));
	SPT_INIT(spt_create_project(vendor, NULL, "p_i3", "i3", PTYPE(COMMUNITY), NULL, 0));
	SPT_INIT(spt_create_key(vendor, NULL, "vendor", SCOPE(SERVICE), service_key, NULL));
	return 0;
}

/* If billingd died (a server bug), fail, say so, and restart it on the same
 * data directory so the remaining tests still say something. Returns 1 when
 * it had to restart (clients must be made again: the port changed). */
static int revive(const char *where)
{
	if (spt_billingd_alive(&srv))
		return 0;
	CU_FAIL("billingd died");
	printf("\n    billingd DIED (%s); restarting it on the same data dir\n", where);
	if (spt_billingd_restart(&srv) != 0)
		return 1;
	spb_client_free(vendor);
	vendor = spt_client(&srv, NULL);
	return 1;
}

static int suite_clean(void)
{
	int rc;
	spb_client_free(vendor);
	rc = spt_billingd_stop(&srv);
	spt_billingd_free(&srv);
	return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* The matrix                                                                */

enum { C_VENDOR, C_DIST, C_SUB, C_INST, C_PM, C_SVC, N_CALLERS };
static const char *caller_name[N_CALLERS] = {
	"vendor",        "distributor(d1)",       "sub-distributor(s1)",
	"installer(i1)", "property-manager(pm1)", "service-key-as-i1"};
enum { T_OWN, T_DESC, T_FOREIGN, T_ANC, N_TARGETS };
static const char *target_name[N_TARGETS] = {"own", "descendant's", "foreign", "ancestor's"};

/* What a target is, per RPC. */
enum { K_ACCOUNT, K_INSTALLER, K_PROJECT, K_ADMIN };

/* Target ids per caller (the SERVICE key acts as i1: same as i1). */
static const char *acct_target[N_CALLERS][N_TARGETS] = {
	[C_VENDOR] = {"vendor", "d1", NULL, NULL}, [C_DIST] = {"d1", "s1", "d2", "vendor"},
	[C_SUB] = {"s1", "i1", "i2", "d1"},        [C_INST] = {"i1", "pm1", "i2", "s1"},
	[C_PM] = {"pm1", NULL, "pm2", "i1"},       [C_SVC] = {"i1", "pm1", "i2", "s1"},
};
static const char *inst_target[N_CALLERS][N_TARGETS] = {
	[C_VENDOR] = {NULL, "i3", NULL, NULL}, [C_DIST] = {NULL, "i2", "i3", NULL},
	[C_SUB] = {NULL, "i1", "i2", NULL},    [C_INST] = {"i1", NULL, "i2", NULL},
	[C_PM] = {NULL, NULL, "i2", "i1"},     [C_SVC] = {"i1", NULL, "i2", NULL},
};
/* A property manager's "own" project is the one it manages (p_i1); p_i1b
 * belongs to its parent installer and is not managed by it. */
static const char *proj_target[N_CALLERS][N_TARGETS] = {
	[C_VENDOR] = {NULL, "p_i3", NULL, NULL},  [C_DIST] = {NULL, "p_i2", "p_i3", NULL},
	[C_SUB] = {NULL, "p_i1", "p_i2", NULL},   [C_INST] = {"p_i1b", NULL, "p_i2", NULL},
	[C_PM] = {"p_i1", NULL, "p_i2", "p_i1b"}, [C_SVC] = {"p_i1b", NULL, "p_i2", NULL},
};

enum {
	R_CREATE_ACCOUNT,
	R_GET_ACCOUNT,
	R_LIST_ACCOUNTS,
	R_CREATE_PROJECT,
	R_UPDATE_PROJECT,
	R_GET_PROJECT,
	R_LIST_PROJECTS,
	R_CREATE_ITEMS,
	R_DELETE_ITEM,
	R_CREATE_API_KEY,
	R_REVOKE_API_KEY,
	R_LIST_API_KEYS,
	R_SET_PRICE,
	R_SET_CREDIT_PRICE,
	R_LIST_PRICES,
	R_CREATE_COUPON,
	R_LIST_COUPONS,
	R_DISABLE_COUPON,
	R_ADVANCE_CLOCK,
	R_BACKUP,
	N_RPCS
};

typedef struct rpc_row {
	const char *name;
	int kind;
	/* expected status per caller (vendor, distributor, sub-distributor,
	 * installer, property manager) × target (own, desc, foreign, anc);
	 * the SERVICE key acting as i1 expects the installer's row. */
	int expect[5][N_TARGETS];
} rpc_row;

#define ADMIN_ROW(name, vendor_expect)                                                   \
	{                                                                                \
		name, K_ADMIN,                                                           \
		{                                                                        \
			{vendor_expect, NA, NA, NA}, {PD, NA, NA, NA}, {PD, NA, NA, NA}, \
				{PD, NA, NA, NA},                                        \
			{                                                                \
				PD, NA, NA, NA                                           \
			}                                                                \
		}                                                                        \
	}

static const rpc_row rows[N_RPCS] = {
	/*                                        vendor             distributor        sub-distributor    installer          property manager */
	/*                                        own desc for anc   own desc for anc   own desc for anc   own desc for anc   own desc for anc */
	/* CreateAccount under the target; role fits the parent (none fits under a PM) */
	[R_CREATE_ACCOUNT] = {"CreateAccount",
			      K_ACCOUNT,
			      {{OK, OK, NA, NA},
			       {OK, OK, PD, PD},
			       {OK, OK, PD, PD},
			       {OK, IA, PD, PD},
			       {IA, NA, PD, PD}}},
	[R_GET_ACCOUNT] = {"GetAccount",
			   K_ACCOUNT,
			   {{OK, OK, NA, NA},
			    {OK, OK, PD, PD},
			    {OK, OK, PD, PD},
			    {OK, OK, PD, PD},
			    {OK, NA, PD, PD}}},
	[R_LIST_ACCOUNTS] = {"ListAccounts",
			     K_ACCOUNT,
			     {{OK, OK, NA, NA},
			      {OK, OK, PD, PD},
			      {OK, OK, PD, PD},
			      {OK, OK, PD, PD},
			      {OK, NA, PD, PD}}},
	/* CreateProject for the target installer */
	[R_CREATE_PROJECT] = {"CreateProject",
			      K_INSTALLER,
			      {{NA, OK, NA, NA},
			       {NA, OK, PD, NA},
			       {NA, OK, PD, NA},
			       {OK, NA, PD, NA},
			       {NA, NA, PD, PD}}},
	/* a PM reads the project it manages, but it is its installer's: no writes */
	[R_UPDATE_PROJECT] = {"UpdateProject",
			      K_PROJECT,
			      {{NA, OK, NA, NA},
			       {NA, OK, PD, NA},
			       {NA, OK, PD, NA},
			       {OK, NA, PD, NA},
			       {PD, NA, PD, PD}}},
	[R_GET_PROJECT] = {"GetProject",
			   K_PROJECT,
			   {{NA, OK, NA, NA},
			    {NA, OK, PD, NA},
			    {NA, OK, PD, NA},
			    {OK, NA, PD, NA},
			    {OK, NA, PD, PD}}},
	/* ListProjects of the target account (installer_id = target) */
	[R_LIST_PROJECTS] = {"ListProjects",
			     K_ACCOUNT,
			     {{OK, OK, NA, NA},
			      {OK, OK, PD, PD},
			      {OK, OK, PD, PD},
			      {OK, OK, PD, PD},
			      {OK, NA, PD, PD}}},
	[R_CREATE_ITEMS] = {"CreateItems",
			    K_PROJECT,
			    {{NA, OK, NA, NA},
			     {NA, OK, PD, NA},
			     {NA, OK, PD, NA},
			     {OK, NA, PD, NA},
			     {PD, NA, PD, PD}}},
	/* DeleteItem of a fresh INACTIVE item in the target project */
	[R_DELETE_ITEM] = {"DeleteItem",
			   K_PROJECT,
			   {{NA, OK, NA, NA},
			    {NA, OK, PD, NA},
			    {NA, OK, PD, NA},
			    {OK, NA, PD, NA},
			    {PD, NA, PD, PD}}},
	/* CreateApiKey for the target account; RevokeApiKey of a fresh key of it */
	[R_CREATE_API_KEY] = {"CreateApiKey",
			      K_ACCOUNT,
			      {{OK, OK, NA, NA},
			       {OK, OK, PD, PD},
			       {OK, OK, PD, PD},
			       {OK, OK, PD, PD},
			       {OK, NA, PD, PD}}},
	[R_REVOKE_API_KEY] = {"RevokeApiKey",
			      K_ACCOUNT,
			      {{OK, OK, NA, NA},
			       {OK, OK, PD, PD},
			       {OK, OK, PD, PD},
			       {OK, OK, PD, PD},
			       {OK, NA, PD, PD}}},
	[R_LIST_API_KEYS] = {"ListApiKeys",
			     K_ACCOUNT,
			     {{OK, OK, NA, NA},
			      {OK, OK, PD, PD},
			      {OK, OK, PD, PD},
			      {OK, OK, PD, PD},
			      {OK, NA, PD, PD}}},
	/* AdminService: vendor only. Prices belong to the storage/directory
	 * issue and must work; the others belong to later issues. */
	[R_SET_PRICE] = ADMIN_ROW("SetPrice", OK),
	[R_SET_CREDIT_PRICE] = ADMIN_ROW("SetCreditPrice", OK),
	[R_LIST_PRICES] = ADMIN_ROW("ListPrices", OK),
	[R_CREATE_COUPON] = ADMIN_ROW("CreateCoupon", NOT_DENIED),
	[R_LIST_COUPONS] = ADMIN_ROW("ListCoupons", NOT_DENIED),
	[R_DISABLE_COUPON] = ADMIN_ROW("DisableCoupon", NOT_DENIED),
	[R_ADVANCE_CLOCK] = ADMIN_ROW("AdvanceClock", NOT_DENIED),
	[R_BACKUP] = ADMIN_ROW("Backup", NOT_DENIED),
};

/* One cell, flattened from the table. */
typedef struct cell {
	int rpc, caller, target, expected;
} cell;

static const char *target_id(int rpc, int caller, int target)
{
	switch (rows[rpc].kind) {
	case K_ACCOUNT: return acct_target[caller][target];
	case K_INSTALLER: return inst_target[caller][target];
	case K_PROJECT: return proj_target[caller][target];
	default: return target == T_OWN ? "-" : NULL;
	}
}

static int role_of(const char *id)
{
	for (int i = 0; i < N_ACCTS; i++)
		if (strcmp(accts[i].id, id) == 0)
			return accts[i].role;
	return 0;
}

/* The role that fits under a parent of `role` (PM when none does). */
static int child_role(int role)
{
	switch (role) {
	case ROLE(VENDOR): return ROLE(DISTRIBUTOR);
	case ROLE(DISTRIBUTOR): return ROLE(INSTALLER);
	case ROLE(SUB_DISTRIBUTOR): return ROLE(INSTALLER);
	default: return ROLE(PROPERTY_MANAGER);
	}
}

static int status_of(int rc)
{
	return rc == 0 ? 0 : spb_error_last()->grpc_code;
}

/* Runs one cell: returns the gRPC status of the call, or -100 when the
 * vendor's preparation failed. */
static int run_cell(int rpc, spb_client *c, const spb_call_options *o, const char *t)
{
	char id[64];
	int rc;
	spt_unique_id(id, sizeof(id), "mx");
	switch (rpc) {
	case R_CREATE_ACCOUNT:
		return status_of(spt_create_account(c, o, id, child_role(role_of(t)), t));
	case R_GET_ACCOUNT: {
		Smartplus__Billing__V1__GetAccountRequest req =
			SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
		Smartplus__Billing__V1__GetAccountResponse *resp = NULL;
		req.account_id = (char *)t;
		rc = spb_directory_get_account(c, &req, &resp, o);
		if (rc == 0 && (!resp->account || strcmp(resp->account->account_id, t) != 0))
			rc = -100;
		spb_message_free(resp);
		return rc == -100 ? -100 : status_of(rc);
	}
	case R_LIST_ACCOUNTS: {
		Smartplus__Billing__V1__ListAccountsRequest req =
			SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListAccountsResponse *resp = NULL;
		req.parent_id = (char *)t;
		rc = spb_directory_list_accounts(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_CREATE_PROJECT:
		return status_of(spt_create_project(c, o, id, t, PTYPE(COMMUNITY), NULL, 0));
	case R_UPDATE_PROJECT: {
		Smartplus__Billing__V1__UpdateProjectRequest req =
			SMARTPLUS__BILLING__V1__UPDATE_PROJECT_REQUEST__INIT;
		Smartplus__Billing__V1__UpdateProjectResponse *resp = NULL;
		Smartplus__Billing__V1__Project p = SMARTPLUS__BILLING__V1__PROJECT__INIT;
		Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
		char *paths[1] = {(char *)"display_name"};
		p.project_id = (char *)t;
		p.display_name = id;
		mask.n_paths = 1;
		mask.paths = paths;
		req.project = &p;
		req.update_mask = &mask;
		rc = spb_directory_update_project(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_GET_PROJECT: {
		Smartplus__Billing__V1__GetProjectRequest req =
			SMARTPLUS__BILLING__V1__GET_PROJECT_REQUEST__INIT;
		Smartplus__Billing__V1__GetProjectResponse *resp = NULL;
		req.project_id = (char *)t;
		rc = spb_directory_get_project(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_LIST_PROJECTS: {
		Smartplus__Billing__V1__ListProjectsRequest req =
			SMARTPLUS__BILLING__V1__LIST_PROJECTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListProjectsResponse *resp = NULL;
		req.installer_id = (char *)t;
		rc = spb_directory_list_projects(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_CREATE_ITEMS: return status_of(spt_create_item(c, o, t, id, STYPE(APP)));
	case R_DELETE_ITEM: {
		Smartplus__Billing__V1__DeleteItemRequest req =
			SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
		Smartplus__Billing__V1__DeleteItemResponse *resp = NULL;
		if (spt_create_item(vendor, NULL, t, id, STYPE(APP)) != 0) {
			fprintf(stderr, "  prepare item in %s: %s\n", t, spb_error_last()->message);
			return -100;
		}
		req.item_id = id;
		rc = spb_directory_delete_item(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_CREATE_API_KEY:
		return status_of(spt_create_key(c, o, t, SCOPE(ACCOUNT), NULL, NULL));
	case R_REVOKE_API_KEY: {
		Smartplus__Billing__V1__RevokeApiKeyRequest req =
			SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT;
		Smartplus__Billing__V1__RevokeApiKeyResponse *resp = NULL;
		char key_id[SPT_KEY_ID_MAX];
		if (spt_create_key(vendor, NULL, t, SCOPE(ACCOUNT), NULL, key_id) != 0) {
			fprintf(stderr, "  prepare key of %s: %s\n", t, spb_error_last()->message);
			return -100;
		}
		req.key_id = key_id;
		rc = spb_directory_revoke_api_key(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_LIST_API_KEYS: {
		Smartplus__Billing__V1__ListApiKeysRequest req =
			SMARTPLUS__BILLING__V1__LIST_API_KEYS_REQUEST__INIT;
		Smartplus__Billing__V1__ListApiKeysResponse *resp = NULL;
		req.account_id = (char *)t;
		rc = spb_directory_list_api_keys(c, &req, &resp, o);
		if (rc == 0 && resp->n_api_keys == 0)
			rc = -100; /* every account of the tree has a key */
		for (size_t i = 0; rc == 0 && i < resp->n_api_keys; i++)
			if (strcmp(resp->api_keys[i]->account_id, t) != 0)
				rc = -100;
		spb_message_free(resp);
		return rc == -100 ? -100 : status_of(rc);
	}
	case R_SET_PRICE: {
		Smartplus__Billing__V1__SetPriceRequest req =
			SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
		Smartplus__Billing__V1__SetPriceResponse *resp = NULL;
		req.project_type = PTYPE(COMMUNITY);
		req.service_type = STYPE(APP);
		req.monthly_amount = 500;
		req.currency = (char *)"EUR";
		req.monthly_credits = 5;
		rc = spb_admin_set_price(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_SET_CREDIT_PRICE: {
		Smartplus__Billing__V1__SetCreditPriceRequest req =
			SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_REQUEST__INIT;
		Smartplus__Billing__V1__SetCreditPriceResponse *resp = NULL;
		req.unit_amount = 100;
		req.currency = (char *)"EUR";
		rc = spb_admin_set_credit_price(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_LIST_PRICES: {
		Smartplus__Billing__V1__ListPricesRequest req =
			SMARTPLUS__BILLING__V1__LIST_PRICES_REQUEST__INIT;
		Smartplus__Billing__V1__ListPricesResponse *resp = NULL;
		rc = spb_admin_list_prices(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_CREATE_COUPON: {
		Smartplus__Billing__V1__CreateCouponRequest req =
			SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
		Smartplus__Billing__V1__CreateCouponResponse *resp = NULL;
		Smartplus__Billing__V1__Coupon cp = SMARTPLUS__BILLING__V1__COUPON__INIT;
		cp.code = id;
		cp.percent_off = 10;
		cp.max_redemptions = 1;
		req.coupon = &cp;
		rc = spb_admin_create_coupon(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_LIST_COUPONS: {
		Smartplus__Billing__V1__ListCouponsRequest req =
			SMARTPLUS__BILLING__V1__LIST_COUPONS_REQUEST__INIT;
		Smartplus__Billing__V1__ListCouponsResponse *resp = NULL;
		rc = spb_admin_list_coupons(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_DISABLE_COUPON: {
		Smartplus__Billing__V1__DisableCouponRequest req =
			SMARTPLUS__BILLING__V1__DISABLE_COUPON_REQUEST__INIT;
		Smartplus__Billing__V1__DisableCouponResponse *resp = NULL;
		req.code = id;
		rc = spb_admin_disable_coupon(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_ADVANCE_CLOCK: {
		Smartplus__Billing__V1__AdvanceClockRequest req =
			SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
		Smartplus__Billing__V1__AdvanceClockResponse *resp = NULL;
		Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
		d.seconds = 1;
		req.duration = &d;
		rc = spb_admin_advance_clock(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	case R_BACKUP: {
		Smartplus__Billing__V1__BackupRequest req =
			SMARTPLUS__BILLING__V1__BACKUP_REQUEST__INIT;
		Smartplus__Billing__V1__BackupResponse *resp = NULL;
		req.name = id;
		rc = spb_admin_backup(c, &req, &resp, o);
		spb_message_free(resp);
		return status_of(rc);
	}
	}
	return -100;
}

static int cell_ok(int expected, int got)
{
	if (expected == NOT_DENIED)
		return got >= 0 && got != PD && got != 16;
	return got == expected;
}

/* Runs every cell of rpcs [from, to); returns the number of cells. */
static int run_matrix(int from, int to)
{
	static const int caller_acct[N_CALLERS] = {A_VENDOR, A_D1, A_S1, A_I1, A_PM1, A_I1};
	spb_client *clients[N_CALLERS];
	spb_call_options opts[N_CALLERS];
	int cells = 0, failed = 0;

	for (int c = 0; c < N_CALLERS; c++) {
		spb_call_options o = SPB_CALL_OPTIONS_INIT;
		opts[c] = o;
		clients[c] = spt_client(&srv, c == C_SVC ? service_key : accts[caller_acct[c]].key);
		if (c == C_SVC)
			opts[c].acting_account = "i1";
	}
	for (int r = from; r < to; r++) {
		for (int c = 0; c < N_CALLERS; c++) {
			for (int t = 0; t < N_TARGETS; t++) {
				int row = c == C_SVC ? C_INST : c;
				cell x = {r, c, t, rows[r].expect[row][t]};
				const char *tid;
				int got;
				if (x.expected == NA)
					continue;
				tid = target_id(r, c, t);
				CU_ASSERT_PTR_NOT_NULL(tid); /* the table names a target */
				if (!tid)
					continue;
				got = run_cell(r, clients[c], &opts[c], tid);
				cells++;
				if (revive(rows[r].name)) {
					printf("    (after %s by %s on %s)\n", rows[r].name,
					       caller_name[c], tid);
					for (int k = 0; k < N_CALLERS; k++) {
						spb_client_free(clients[k]);
						clients[k] = spt_client(
							&srv, k == C_SVC
								      ? service_key
								      : accts[caller_acct[k]].key);
					}
				}
				CU_ASSERT(cell_ok(x.expected, got));
				if (!cell_ok(x.expected, got)) {
					failed++;
					printf("\n    FAIL %s by %s on %s (%s): expected %s, got "
					       "%s (%s)",
					       rows[r].name, caller_name[c], target_name[t], tid,
					       x.expected == NOT_DENIED
						       ? "not PERMISSION_DENIED"
						       : spb_status_name(x.expected),
					       got == -100 ? "preparation failed"
							   : spb_status_name(got),
					       spb_error_last()->message);
				}
			}
		}
	}
	for (int c = 0; c < N_CALLERS; c++)
		spb_client_free(clients[c]);
	printf("\n    matrix: %d RPCs, %d cells, %d failed\n", to - from, cells, failed);
	return cells;
}

static int matrix_cells;

static void test_matrix_directory(void)
{
	matrix_cells += run_matrix(R_CREATE_ACCOUNT, R_SET_PRICE);
}

static void test_matrix_admin(void)
{
	matrix_cells += run_matrix(R_SET_PRICE, N_RPCS);
	printf("    permission matrix size: %d cells (%d RPCs x %d callers x up to %d targets)\n",
	       matrix_cells, N_RPCS, N_CALLERS, N_TARGETS);
}

/* x-acting-account: SERVICE keys only, for existing accounts. */
static void test_acting_account_body(void);
static void test_acting_account(void)
{
	revive("before acting_account");
	test_acting_account_body();
	revive("acting_account");
}

static void test_acting_account_body(void)
{
	spb_client *pm = spt_client(&srv, accts[A_PM1].key);
	spb_client *svc = spt_client(&srv, service_key);
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	Smartplus__Billing__V1__GetAccountRequest req =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__GetAccountResponse *resp = NULL;
	req.account_id = (char *)"i1";
	/* an ACCOUNT key may not act for another account */
	o.acting_account = "i1";
	CU_ASSERT_NOT_EQUAL(spb_directory_get_account(pm, &req, &resp, &o), 0);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
	spb_message_free(resp);
	resp = NULL;
	/* a SERVICE key acting for a missing account */
	o.acting_account = "nobody";
	CU_ASSERT_NOT_EQUAL(spb_directory_get_account(svc, &req, &resp, &o), 0);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
	spb_message_free(resp);
	resp = NULL;
	/* acting for i1 it sees i1 and not i1's parent */
	o.acting_account = "i1";
	CU_ASSERT_EQUAL(spb_directory_get_account(svc, &req, &resp, &o), 0);
	spb_message_free(resp);
	resp = NULL;
	req.account_id = (char *)"s1";
	CU_ASSERT_NOT_EQUAL(spb_directory_get_account(svc, &req, &resp, &o), 0);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
	spb_message_free(resp);
	/* only the vendor mints SERVICE keys */
	CU_ASSERT_NOT_EQUAL(spt_create_key(pm, NULL, "pm1", SCOPE(SERVICE), NULL, NULL), 0);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
	o.acting_account = "d1";
	CU_ASSERT_NOT_EQUAL(spt_create_key(svc, &o, "d1", SCOPE(SERVICE), NULL, NULL), 0);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
	spb_client_free(pm);
	spb_client_free(svc);
}

/* Any authenticated account reads the catalog. */
static void test_catalog_any_account_body(void);
static void test_catalog_any_account(void)
{
	revive("before catalog_any_account");
	test_catalog_any_account_body();
	revive("catalog_any_account");
}

static void test_catalog_any_account_body(void)
{
	for (int a = 0; a < N_ACCTS; a++) {
		spb_client *c = spt_client(&srv, accts[a].key);
		Smartplus__Billing__V1__GetCatalogRequest req =
			SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
		Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
		CU_ASSERT_EQUAL(spb_billing_get_catalog(c, &req, &resp, NULL), 0);
		spb_message_free(resp);
		spb_client_free(c);
	}
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */

/* Asserts the last call failed with `code` and its message names `field`. */
#define ASSERT_FAILED(rc, code, field)                                                             \
	do {                                                                                       \
		int rc_ = (rc);                                                                    \
		CU_ASSERT_NOT_EQUAL(rc_, 0);                                                       \
		CU_ASSERT_EQUAL(spb_error_last()->grpc_code, code);                                \
		if ((field) && !strstr(spb_error_last()->message, (field) ? (field) : "")) {       \
			CU_FAIL("message does not name the field");                                \
			printf("\n    message '%s' does not name '%s'", spb_error_last()->message, \
			       (field) ? (field) : "");                                            \
		}                                                                                  \
	} while (0)

static void test_bad_ids_body(void);
static void test_bad_ids(void)
{
	revive("before bad_ids");
	test_bad_ids_body();
	revive("bad_ids");
}

static void test_bad_ids_body(void)
{
	char id65[66], id64[65];
	memset(id65, 'a', 65);
	id65[65] = 0;
	memset(id64, 'b', 64);
	id64[64] = 0;
	ASSERT_FAILED(spt_create_account(vendor, NULL, "bad id", ROLE(DISTRIBUTOR), "vendor"), IA,
		      "account_id");
	ASSERT_FAILED(spt_create_account(vendor, NULL, "bad/id", ROLE(DISTRIBUTOR), "vendor"), IA,
		      "account_id");
	ASSERT_FAILED(spt_create_account(vendor, NULL, "b\xc3\xa9", ROLE(DISTRIBUTOR), "vendor"),
		      IA, "account_id");
	ASSERT_FAILED(spt_create_account(vendor, NULL, "", ROLE(DISTRIBUTOR), "vendor"), IA,
		      "account_id");
	ASSERT_FAILED(spt_create_account(vendor, NULL, id65, ROLE(DISTRIBUTOR), "vendor"), IA,
		      "account_id");
	CU_ASSERT_EQUAL(spt_create_account(vendor, NULL, id64, ROLE(DISTRIBUTOR), "vendor"), 0);
	CU_ASSERT_EQUAL(spt_create_account(vendor, NULL, "v_ok-1.A_z", ROLE(DISTRIBUTOR), "vendor"),
			0);
	ASSERT_FAILED(spt_create_account(vendor, NULL, "v_x1", ROLE(DISTRIBUTOR), id65), IA,
		      "parent_id");
	ASSERT_FAILED(spt_create_account(vendor, NULL, "v_x2", ROLE(DISTRIBUTOR), "no parent"), IA,
		      "parent_id");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "p/1", "i1", PTYPE(COMMUNITY), NULL, 0), IA,
		      "project_id");
	ASSERT_FAILED(spt_create_project(vendor, NULL, id65, "i1", PTYPE(COMMUNITY), NULL, 0), IA,
		      "project_id");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_p1", id65, PTYPE(COMMUNITY), NULL, 0), IA,
		      "installer_id");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_p1", "d1", PTYPE(COMMUNITY), NULL, 0), IA,
		      "installer_id");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_p1", "i1", PTYPE(COMMUNITY), "i2", 0), IA,
		      "property_manager_id");
	/* pm2 hangs under d1, not in i3's branch */
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_p1", "i3", PTYPE(COMMUNITY), "pm2", 0),
		      IA, "property_manager_id");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i1", "it em", STYPE(APP)), IA, "item_id");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i1", id65, STYPE(APP)), IA, "item_id");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i1", "pms_mine", STYPE(APP)), IA, "item_id");
	{
		Smartplus__Billing__V1__GetAccountRequest req =
			SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
		Smartplus__Billing__V1__GetAccountResponse *resp = NULL;
		req.account_id = id65;
		ASSERT_FAILED(spb_directory_get_account(vendor, &req, &resp, NULL), IA,
			      "account_id");
		spb_message_free(resp);
	}
	{
		Smartplus__Billing__V1__RevokeApiKeyRequest req =
			SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT;
		Smartplus__Billing__V1__RevokeApiKeyResponse *resp = NULL;
		req.key_id = (char *)"short";
		ASSERT_FAILED(spb_directory_revoke_api_key(vendor, &req, &resp, NULL), IA,
			      "key_id");
		spb_message_free(resp);
	}
}

static void test_unknown_enums_body(void);
static void test_unknown_enums(void)
{
	revive("before unknown_enums");
	test_unknown_enums_body();
	revive("unknown_enums");
}

static void test_unknown_enums_body(void)
{
	ASSERT_FAILED(spt_create_account(vendor, NULL, "v_e1", 99, "vendor"), IA, "role");
	ASSERT_FAILED(spt_create_account(vendor, NULL, "v_e1", 0, "vendor"), IA, "role");
	ASSERT_FAILED(spt_create_account(vendor, NULL, "v_e1", ROLE(VENDOR), "vendor"), IA, "role");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_e2", "i1", 0, NULL, 0), IA, "type");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_e2", "i1", 4, NULL, 0), IA, "type");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_e2", "i1", 77, NULL, 0), IA, "type");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i1", "v_e3", 0), IA, "service_type");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i1", "v_e3", 12), IA, "service_type");
	ASSERT_FAILED(spt_create_key(vendor, NULL, "d1", 7, NULL, NULL), IA, "scope");
	{
		Smartplus__Billing__V1__ListAccountsRequest req =
			SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListAccountsResponse *resp = NULL;
		req.role = 42;
		ASSERT_FAILED(spb_directory_list_accounts(vendor, &req, &resp, NULL), IA, "role");
		spb_message_free(resp);
	}
	{
		Smartplus__Billing__V1__ListProjectsRequest req =
			SMARTPLUS__BILLING__V1__LIST_PROJECTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListProjectsResponse *resp = NULL;
		req.installer_id = (char *)"i1";
		req.type = 9;
		ASSERT_FAILED(spb_directory_list_projects(vendor, &req, &resp, NULL), IA, "type");
		spb_message_free(resp);
	}
	/* nothing was created by any of these */
	{
		Smartplus__Billing__V1__GetAccountRequest req =
			SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
		Smartplus__Billing__V1__GetAccountResponse *resp = NULL;
		req.account_id = (char *)"v_e1";
		CU_ASSERT_NOT_EQUAL(spb_directory_get_account(vendor, &req, &resp, NULL), 0);
		spb_message_free(resp);
	}
}

static void test_role_fit_body(void);
static void test_role_fit(void)
{
	revive("before role_fit");
	test_role_fit_body();
	revive("role_fit");
}

static void test_role_fit_body(void)
{
	static const struct {
		const char *parent;
		int role;
		int ok;
	} cases[] = {
		{"vendor", ROLE(INSTALLER), 0},        {"vendor", ROLE(SUB_DISTRIBUTOR), 0},
		{"vendor", ROLE(PROPERTY_MANAGER), 0}, {"d1", ROLE(DISTRIBUTOR), 0},
		{"s1", ROLE(SUB_DISTRIBUTOR), 0},      {"s1", ROLE(DISTRIBUTOR), 0},
		{"s1", ROLE(PROPERTY_MANAGER), 0},     {"i1", ROLE(INSTALLER), 0},
		{"i1", ROLE(SUB_DISTRIBUTOR), 0},      {"pm1", ROLE(PROPERTY_MANAGER), 0},
		{"pm1", ROLE(INSTALLER), 0},           {"vendor", ROLE(DISTRIBUTOR), 1},
		{"d1", ROLE(SUB_DISTRIBUTOR), 1},      {"d1", ROLE(INSTALLER), 1},
		{"d1", ROLE(PROPERTY_MANAGER), 1},     {"s1", ROLE(INSTALLER), 1},
		{"i1", ROLE(PROPERTY_MANAGER), 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[64];
		int rc;
		spt_unique_id(id, sizeof(id), "v_rf");
		rc = spt_create_account(vendor, NULL, id, cases[i].role, cases[i].parent);
		if (cases[i].ok) {
			CU_ASSERT_EQUAL(rc, 0);
		} else {
			ASSERT_FAILED(rc, IA, "role");
		}
	}
}

static void test_already_exists_body(void);
static void test_already_exists(void)
{
	revive("before already_exists");
	test_already_exists_body();
	revive("already_exists");
}

static void test_already_exists_body(void)
{
	ASSERT_FAILED(spt_create_account(vendor, NULL, "d1", ROLE(DISTRIBUTOR), "vendor"), AE,
		      "d1");
	ASSERT_FAILED(spt_create_account(vendor, NULL, "i1", ROLE(INSTALLER), "d2"), AE, NULL);
	ASSERT_FAILED(spt_create_account(vendor, NULL, "vendor", ROLE(DISTRIBUTOR), "vendor"), AE,
		      NULL);
	ASSERT_FAILED(spt_create_project(vendor, NULL, "p_i1", "i1", PTYPE(COMMUNITY), NULL, 0), AE,
		      "p_i1");
	ASSERT_FAILED(spt_create_project(vendor, NULL, "p_i2", "i3", PTYPE(COMMERCIAL), NULL, 0),
		      AE, NULL);
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "p_i3", "v_dup", STYPE(APP)), 0);
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i3", "v_dup", STYPE(APP)), AE, "v_dup");
	/* item ids are global: the same id in another project is taken too */
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i2", "v_dup", STYPE(APP)), AE, NULL);
}

/* CreateItems with n specs built by the caller. */
static int create_items(const char *project, Smartplus__Billing__V1__ItemSpec **specs, size_t n)
{
	Smartplus__Billing__V1__CreateItemsRequest req =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__CreateItemsResponse *resp = NULL;
	int rc;
	req.project_id = (char *)project;
	req.n_items = n;
	req.items = specs;
	rc = spb_directory_create_items(vendor, &req, &resp, NULL);
	if (rc == 0)
		CU_ASSERT_EQUAL(resp->n_items, n);
	spb_message_free(resp);
	return rc;
}

static int create_item_features(const char *project, const char *id, int service,
				const int *features, size_t nf)
{
	Smartplus__Billing__V1__ItemSpec spec = SMARTPLUS__BILLING__V1__ITEM_SPEC__INIT;
	Smartplus__Billing__V1__ItemSpec *specs[1] = {&spec};
	Smartplus__Billing__V1__PremiumFeature fs[16];
	for (size_t i = 0; i < nf; i++)
		fs[i] = (Smartplus__Billing__V1__PremiumFeature)features[i];
	spec.item_id = (char *)id;
	spec.service_type = service;
	spec.n_premium_features = nf;
	spec.premium_features = fs;
	return create_items(project, specs, 1);
}

/* Is item `id` there? A CreateItems probe: ALREADY_EXISTS means yes; a
 * success means no (and the probe item is deleted again). */
static int item_exists(const char *project, const char *id)
{
	Smartplus__Billing__V1__DeleteItemRequest req =
		SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
	Smartplus__Billing__V1__DeleteItemResponse *resp = NULL;
	int rc = spt_create_item(vendor, NULL, project, id, STYPE(APP));
	if (rc != 0)
		return spb_error_last()->grpc_code == AE ? 1 : -1;
	req.item_id = (char *)id;
	rc = spb_directory_delete_item(vendor, &req, &resp, NULL);
	spb_message_free(resp);
	return rc == 0 ? 0 : -1;
}

static void test_create_items_catalog_body(void);
static void test_create_items_catalog(void)
{
	revive("before create_items_catalog");
	test_create_items_catalog_body();
	revive("create_items_catalog");
}

static void test_create_items_catalog_body(void)
{
	static const int ta[] = {FEATURE(TIME_ATTENDANCE)},
			 tael[] = {FEATURE(TIME_ATTENDANCE), FEATURE(ELEVATOR_CONTROL)},
			 pr[] = {FEATURE(PACKAGE_ROOM)}, bk[] = {FEATURE(BOOKINGS)},
			 ll[] = {FEATURE(LANDLINE_SERVICE), FEATURE(VIDEO_STORAGE)},
			 all_cty[] = {FEATURE(PACKAGE_ROOM),  FEATURE(THIRD_PARTY_CAMERA),
				      FEATURE(BOOKINGS),      FEATURE(ELEVATOR_CONTROL),
				      FEATURE(SMART_PARKING), FEATURE(DYNAMIC_QR_CODE),
				      FEATURE(VIDEO_STORAGE), FEATURE(LANDLINE_SERVICE)},
			 twice[] = {FEATURE(BOOKINGS), FEATURE(BOOKINGS)}, unknown[] = {77};
	CU_ASSERT_EQUAL_FATAL(spt_create_project(vendor, NULL, "v_sfh", "i3",
						 PTYPE(SINGLE_FAMILY_HOUSE), NULL, 0),
			      0);
	CU_ASSERT_EQUAL_FATAL(
		spt_create_project(vendor, NULL, "v_com", "i3", PTYPE(COMMERCIAL), NULL, 0), 0);
	/* service types not offered (R1) */
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i3", "v_c1", STYPE(DOOR)), IA,
		      "service_type");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i3", "v_c1", STYPE(PREMIUM_FEATURES)), IA,
		      "service_type");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "v_sfh", "v_c1", STYPE(PM_APP)), IA,
		      "service_type");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "v_sfh", "v_c1", STYPE(INTEGRATION)), IA,
		      "service_type");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "v_com", "v_c1", STYPE(APP)), IA,
		      "service_type");
	ASSERT_FAILED(spt_create_item(vendor, NULL, "v_com", "v_c1", STYPE(PREMIUM_PLAN)), IA,
		      "service_type");
	/* INTEGRATION items follow pms_integrated; never created by hand */
	ASSERT_FAILED(spt_create_item(vendor, NULL, "p_i3", "v_c1", STYPE(INTEGRATION)), IA,
		      "service_type");
	/* every offered type works */
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "v_com", "v_c_door", STYPE(DOOR)), 0);
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "v_com", "v_c_pers", STYPE(PERSONNEL_APP)),
			0);
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "v_com", "v_c_adm", STYPE(ADMIN_APP)), 0);
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "v_com", "v_c_sens", STYPE(SENSOR_ALERT)), 0);
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "v_sfh", "v_s_lock", STYPE(THIRD_PARTY_LOCK)),
			0);
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "p_i3", "v_p_pm", STYPE(PM_APP)), 0);
	/* premium features valid for the project type */
	ASSERT_FAILED(create_item_features("p_i3", "v_f1", STYPE(PREMIUM_PLAN), ta, 1), IA,
		      "premium_features");
	ASSERT_FAILED(create_item_features("v_sfh", "v_f1", STYPE(PREMIUM_PLAN), bk, 1), IA,
		      "premium_features");
	ASSERT_FAILED(create_item_features("v_com", "v_f1", STYPE(PREMIUM_FEATURES), pr, 1), IA,
		      "premium_features");
	ASSERT_FAILED(create_item_features("p_i3", "v_f1", STYPE(APP), pr, 1), IA,
		      "premium_features");
	ASSERT_FAILED(create_item_features("p_i3", "v_f1", STYPE(PREMIUM_PLAN), twice, 2), IA,
		      "premium_features");
	ASSERT_FAILED(create_item_features("p_i3", "v_f1", STYPE(PREMIUM_PLAN), unknown, 1), IA,
		      "premium_features");
	CU_ASSERT_EQUAL(create_item_features("v_com", "v_f_com", STYPE(PREMIUM_FEATURES), tael, 2),
			0);
	CU_ASSERT_EQUAL(create_item_features("v_sfh", "v_f_sfh", STYPE(PREMIUM_PLAN), ll, 2), 0);
	CU_ASSERT_EQUAL(create_item_features("p_i3", "v_f_cty", STYPE(PREMIUM_PLAN), all_cty, 8),
			0);
	/* nothing of the failed ones exists */
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_c1"), 0);
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_f1"), 0);
}

static Smartplus__Billing__V1__ItemSpec **make_specs(size_t n, const char *prefix)
{
	Smartplus__Billing__V1__ItemSpec **specs = calloc(n, sizeof(*specs));
	for (size_t i = 0; i < n; i++) {
		specs[i] = calloc(1, sizeof(**specs));
		smartplus__billing__v1__item_spec__init(specs[i]);
		specs[i]->item_id = malloc(64);
		snprintf(specs[i]->item_id, 64, "%s%zu", prefix, i);
		specs[i]->service_type = STYPE(APP);
	}
	return specs;
}

static void free_specs(Smartplus__Billing__V1__ItemSpec **specs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(specs[i]->item_id);
		free(specs[i]);
	}
	free(specs);
}

static void test_create_items_limits_body(void);
static void test_create_items_limits(void)
{
	revive("before create_items_limits");
	test_create_items_limits_body();
	revive("create_items_limits");
}

static void test_create_items_limits_body(void)
{
	Smartplus__Billing__V1__ItemSpec **specs = make_specs(1001, "v_big_");
	CU_ASSERT_EQUAL_FATAL(
		spt_create_project(vendor, NULL, "v_big", "i3", PTYPE(COMMUNITY), NULL, 0), 0);
	ASSERT_FAILED(create_items("v_big", specs, 0), IA, "items");
	ASSERT_FAILED(create_items("v_big", specs, 1001), IA, "items");
	CU_ASSERT_EQUAL(item_exists("v_big", "v_big_0"), 0);
	CU_ASSERT_EQUAL(item_exists("v_big", "v_big_1000"), 0);
	CU_ASSERT_EQUAL(create_items("v_big", specs, 1000), 0);
	CU_ASSERT_EQUAL(item_exists("v_big", "v_big_0"), 1);
	CU_ASSERT_EQUAL(item_exists("v_big", "v_big_500"), 1);
	CU_ASSERT_EQUAL(item_exists("v_big", "v_big_999"), 1);
	CU_ASSERT_EQUAL(item_exists("v_big", "v_big_1000"), 0);
	free_specs(specs, 1001);
}

static void test_create_items_all_or_nothing_body(void);
static void test_create_items_all_or_nothing(void)
{
	revive("before create_items_all_or_nothing");
	test_create_items_all_or_nothing_body();
	revive("create_items_all_or_nothing");
}

static void test_create_items_all_or_nothing_body(void)
{
	Smartplus__Billing__V1__ItemSpec **specs = make_specs(4, "v_dupb_");
	/* duplicate ids in one batch: [0, 1, 2, 1] */
	snprintf(specs[3]->item_id, 64, "v_dupb_1");
	ASSERT_FAILED(create_items("p_i3", specs, 4), IA, "v_dupb_1");
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_dupb_0"), 0);
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_dupb_1"), 0);
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_dupb_2"), 0);
	/* a batch whose last item collides with an existing one: none created */
	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p_i3", "v_taken", STYPE(APP)), 0);
	snprintf(specs[3]->item_id, 64, "v_taken");
	ASSERT_FAILED(create_items("p_i3", specs, 4), AE, "v_taken");
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_dupb_0"), 0);
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_dupb_2"), 0);
	/* one bad spec among good ones: none created */
	specs[3]->service_type = STYPE(DOOR);
	snprintf(specs[3]->item_id, 64, "v_dupb_3");
	ASSERT_FAILED(create_items("p_i3", specs, 4), IA, "items[3]");
	CU_ASSERT_EQUAL(item_exists("p_i3", "v_dupb_0"), 0);
	free_specs(specs, 4);
}

static int update_pms(const char *project, int on, Smartplus__Billing__V1__Project **out)
{
	Smartplus__Billing__V1__UpdateProjectRequest req =
		SMARTPLUS__BILLING__V1__UPDATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__UpdateProjectResponse *resp = NULL;
	Smartplus__Billing__V1__Project p = SMARTPLUS__BILLING__V1__PROJECT__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[1] = {(char *)"pms_integrated"};
	int rc;
	p.project_id = (char *)project;
	p.pms_integrated = on;
	mask.n_paths = 1;
	mask.paths = paths;
	req.project = &p;
	req.update_mask = &mask;
	rc = spb_directory_update_project(vendor, &req, &resp, NULL);
	if (out) {
		*out = NULL;
		if (rc == 0) {
			*out = resp->project;
			resp->project = NULL;
		}
	}
	spb_message_free(resp);
	return rc;
}

/* The INTEGRATION item "pms_<project>": FAILED_PRECONDITION (ITEM_STATE)
 * when the vendor tries to delete it means it is there; PERMISSION_DENIED
 * (a missing item, AIP-211) means it is not. */
static int integration_item_exists(const char *project)
{
	Smartplus__Billing__V1__DeleteItemRequest req =
		SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
	Smartplus__Billing__V1__DeleteItemResponse *resp = NULL;
	char id[80];
	int rc;
	snprintf(id, sizeof(id), "pms_%s", project);
	req.item_id = id;
	rc = spb_directory_delete_item(vendor, &req, &resp, NULL);
	spb_message_free(resp);
	if (rc == 0)
		return -1; /* deleted: must never happen */
	if (spb_error_last()->grpc_code == FP &&
	    strcmp(spb_error_last()->reason, "ITEM_STATE") == 0)
		return 1;
	if (spb_error_last()->grpc_code == PD)
		return 0;
	return -1;
}

static void test_integration_item_body(void);
static void test_integration_item(void)
{
	revive("before integration_item");
	test_integration_item_body();
	revive("integration_item");
}

static void test_integration_item_body(void)
{
	Smartplus__Billing__V1__CreateProjectRequest req =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *resp = NULL;
	Smartplus__Billing__V1__Project *p = NULL;
	req.project_id = (char *)"v_pms";
	req.installer_id = (char *)"i3";
	req.type = PTYPE(COMMUNITY);
	req.pms_integrated = 1;
	CU_ASSERT_EQUAL_FATAL(spb_directory_create_project(vendor, &req, &resp, NULL), 0);
	CU_ASSERT_EQUAL(resp->project->integration_status,
			SMARTPLUS__BILLING__V1__INTEGRATION_STATUS__INTEGRATION_STATUS_INTEGRATED);
	spb_message_free(resp);
	CU_ASSERT_EQUAL(integration_item_exists("v_pms"), 1);
	/* a project without integration has none and shows NORMAL */
	CU_ASSERT_EQUAL(integration_item_exists("p_i3"), 0);
	/* UpdateProject turns it off: the item goes */
	CU_ASSERT_EQUAL(update_pms("v_pms", 0, &p), 0);
	if (p)
		CU_ASSERT_EQUAL(
			p->integration_status,
			SMARTPLUS__BILLING__V1__INTEGRATION_STATUS__INTEGRATION_STATUS_NORMAL);
	spb_message_free(p);
	CU_ASSERT_EQUAL(integration_item_exists("v_pms"), 0);
	/* and on again: it comes back */
	CU_ASSERT_EQUAL(update_pms("v_pms", 1, NULL), 0);
	CU_ASSERT_EQUAL(integration_item_exists("v_pms"), 1);
	/* turning it on twice keeps one item */
	CU_ASSERT_EQUAL(update_pms("v_pms", 1, NULL), 0);
	CU_ASSERT_EQUAL(integration_item_exists("v_pms"), 1);
	/* on an existing project that had none */
	CU_ASSERT_EQUAL(update_pms("p_i1b", 1, NULL), 0);
	CU_ASSERT_EQUAL(integration_item_exists("p_i1b"), 1);
	CU_ASSERT_EQUAL(update_pms("p_i1b", 0, NULL), 0);
	CU_ASSERT_EQUAL(integration_item_exists("p_i1b"), 0);
	/* only community projects integrate */
	ASSERT_FAILED(spt_create_project(vendor, NULL, "v_pms_sfh", "i3",
					 PTYPE(SINGLE_FAMILY_HOUSE), NULL, 1),
		      IA, "pms_integrated");
	CU_ASSERT_EQUAL(
		spt_create_project(vendor, NULL, "v_pms_com", "i3", PTYPE(COMMERCIAL), NULL, 0), 0);
	ASSERT_FAILED(update_pms("v_pms_com", 1, NULL), IA, "pms_integrated");
	CU_ASSERT_EQUAL(integration_item_exists("v_pms_com"), 0);
}

static void test_delete_item_body(void);
static void test_delete_item(void)
{
	revive("before delete_item");
	test_delete_item_body();
	revive("delete_item");
}

static void test_delete_item_body(void)
{
	Smartplus__Billing__V1__DeleteItemRequest req =
		SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
	Smartplus__Billing__V1__DeleteItemResponse *resp = NULL;
	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "p_i3", "v_del", STYPE(SENSOR_ALERT)),
			      0);
	req.item_id = (char *)"v_del";
	CU_ASSERT_EQUAL(spb_directory_delete_item(vendor, &req, &resp, NULL), 0);
	if (resp && resp->item) {
		CU_ASSERT_STRING_EQUAL(resp->item->item_id, "v_del");
		CU_ASSERT_EQUAL(resp->item->status,
				SMARTPLUS__BILLING__V1__ITEM_STATUS__ITEM_STATUS_INACTIVE);
		CU_ASSERT_EQUAL(resp->item->service_type, STYPE(SENSOR_ALERT));
	} else {
		CU_FAIL("DeleteItem returned no item");
	}
	spb_message_free(resp);
	resp = NULL;
	/* gone: a second delete is denied like any missing resource */
	CU_ASSERT_NOT_EQUAL(spb_directory_delete_item(vendor, &req, &resp, NULL), 0);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
	spb_message_free(resp);
	/* and the id is free again */
	CU_ASSERT_EQUAL(spt_create_item(vendor, NULL, "p_i3", "v_del", STYPE(APP)), 0);
}

static void test_pagination_accounts_body(void);
static void test_pagination_accounts(void)
{
	revive("before pagination_accounts");
	test_pagination_accounts_body();
	revive("pagination_accounts");
}

static void test_pagination_accounts_body(void)
{
	char seen[7][64];
	int n = 0, pages = 0, sizes[10] = {0};
	char token[512] = "";
	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "v_pg", ROLE(DISTRIBUTOR), "vendor"),
			      0);
	for (int i = 0; i < 7; i++) {
		char id[32];
		snprintf(id, sizeof(id), "v_pg_i%d", i);
		CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, id, ROLE(INSTALLER), "v_pg"),
				      0);
	}
	do {
		Smartplus__Billing__V1__ListAccountsRequest req =
			SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListAccountsResponse *resp = NULL;
		req.parent_id = (char *)"v_pg";
		req.page_size = 3;
		req.page_token = token;
		if (spb_directory_list_accounts(vendor, &req, &resp, NULL) != 0) {
			CU_FAIL("ListAccounts failed");
			break;
		}
		sizes[pages] = (int)resp->n_accounts;
		for (size_t i = 0; i < resp->n_accounts && n < 7; i++) {
			for (int j = 0; j < n; j++)
				CU_ASSERT_STRING_NOT_EQUAL(seen[j], resp->accounts[i]->account_id);
			CU_ASSERT_STRING_EQUAL(resp->accounts[i]->parent_id, "v_pg");
			snprintf(seen[n++], sizeof(seen[0]), "%s", resp->accounts[i]->account_id);
		}
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
		pages++;
	} while (token[0] && pages < 10);
	CU_ASSERT_EQUAL(n, 7);
	CU_ASSERT_EQUAL(pages, 3);
	CU_ASSERT_EQUAL(sizes[0], 3);
	CU_ASSERT_EQUAL(sizes[1], 3);
	CU_ASSERT_EQUAL(sizes[2], 1);
	/* a token that is not one of ours */
	{
		Smartplus__Billing__V1__ListAccountsRequest req =
			SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListAccountsResponse *resp = NULL;
		req.parent_id = (char *)"v_pg";
		req.page_token = (char *)"not-a-token";
		ASSERT_FAILED(spb_directory_list_accounts(vendor, &req, &resp, NULL), IA,
			      "page_token");
		spb_message_free(resp);
		resp = NULL;
		req.page_size = -1;
		req.page_token = (char *)"";
		ASSERT_FAILED(spb_directory_list_accounts(vendor, &req, &resp, NULL), IA,
			      "page_size");
		spb_message_free(resp);
	}
}

static void test_pagination_projects_body(void);
static void test_pagination_projects(void)
{
	revive("before pagination_projects");
	test_pagination_projects_body();
	revive("pagination_projects");
}

static void test_pagination_projects_body(void)
{
	int n = 0, pages = 0, sizes[10] = {0}, commercial = 0;
	char token[512] = "";
	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "v_pgi", ROLE(INSTALLER), "d2"), 0);
	for (int i = 0; i < 5; i++) {
		char id[32];
		snprintf(id, sizeof(id), "v_pgp%d", i);
		CU_ASSERT_EQUAL_FATAL(
			spt_create_project(vendor, NULL, id, "v_pgi",
					   i < 2 ? PTYPE(COMMERCIAL) : PTYPE(COMMUNITY), NULL, 0),
			0);
	}
	do {
		Smartplus__Billing__V1__ListProjectsRequest req =
			SMARTPLUS__BILLING__V1__LIST_PROJECTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListProjectsResponse *resp = NULL;
		req.installer_id = (char *)"v_pgi";
		req.page_size = 2;
		req.page_token = token;
		if (spb_directory_list_projects(vendor, &req, &resp, NULL) != 0) {
			CU_FAIL("ListProjects failed");
			break;
		}
		sizes[pages] = (int)resp->n_projects;
		n += (int)resp->n_projects;
		for (size_t i = 0; i < resp->n_projects; i++)
			CU_ASSERT_STRING_EQUAL(resp->projects[i]->installer_id, "v_pgi");
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
		pages++;
	} while (token[0] && pages < 10);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(pages, 3);
	CU_ASSERT_EQUAL(sizes[0], 2);
	CU_ASSERT_EQUAL(sizes[1], 2);
	CU_ASSERT_EQUAL(sizes[2], 1);
	/* filtered by type */
	token[0] = 0;
	pages = 0;
	do {
		Smartplus__Billing__V1__ListProjectsRequest req =
			SMARTPLUS__BILLING__V1__LIST_PROJECTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListProjectsResponse *resp = NULL;
		req.installer_id = (char *)"v_pgi";
		req.type = PTYPE(COMMERCIAL);
		req.page_size = 1;
		req.page_token = token;
		if (spb_directory_list_projects(vendor, &req, &resp, NULL) != 0) {
			CU_FAIL("ListProjects(type) failed");
			break;
		}
		for (size_t i = 0; i < resp->n_projects; i++) {
			CU_ASSERT_EQUAL(resp->projects[i]->type, PTYPE(COMMERCIAL));
			commercial++;
		}
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
		pages++;
	} while (token[0] && pages < 10);
	CU_ASSERT_EQUAL(commercial, 2);
}

/* ListApiKeys: every key of the account, by id, pages, revoked ones marked,
 * never a secret. */
static void test_list_api_keys_body(void);
static void test_list_api_keys(void)
{
	revive("before list_api_keys");
	test_list_api_keys_body();
	revive("list_api_keys");
}

static void test_list_api_keys_body(void)
{
	char secrets[3][SPT_KEY_MAX], ids[3][17], token[256] = "", prev[17] = "";
	int seen[3] = {0, 0, 0}, pages = 0, total = 0;
	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "lk_d", ROLE(DISTRIBUTOR), "vendor"),
			      0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL_FATAL(
			spt_create_key(vendor, NULL, "lk_d", SCOPE(ACCOUNT), secrets[i], ids[i]),
			0);
	{
		Smartplus__Billing__V1__RevokeApiKeyRequest rv =
			SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT;
		Smartplus__Billing__V1__RevokeApiKeyResponse *rvr = NULL;
		rv.key_id = ids[1];
		CU_ASSERT_EQUAL(spb_directory_revoke_api_key(vendor, &rv, &rvr, NULL), 0);
		spb_message_free(rvr);
	}
	do {
		Smartplus__Billing__V1__ListApiKeysRequest req =
			SMARTPLUS__BILLING__V1__LIST_API_KEYS_REQUEST__INIT;
		Smartplus__Billing__V1__ListApiKeysResponse *resp = NULL;
		uint8_t packed[4096];
		size_t len;
		req.account_id = (char *)"lk_d";
		req.page_size = 2;
		req.page_token = token;
		if (spb_directory_list_api_keys(vendor, &req, &resp, NULL) != 0) {
			CU_FAIL("ListApiKeys failed");
			break;
		}
		CU_ASSERT(resp->n_api_keys <= 2);
		len = protobuf_c_message_get_packed_size(&resp->base);
		CU_ASSERT_FATAL(len <= sizeof(packed));
		protobuf_c_message_pack(&resp->base, packed);
		for (size_t i = 0; i < resp->n_api_keys; i++) {
			const Smartplus__Billing__V1__ApiKey *k = resp->api_keys[i];
			CU_ASSERT_STRING_EQUAL(k->account_id, "lk_d");
			CU_ASSERT(strcmp(prev, k->key_id) < 0);
			snprintf(prev, sizeof(prev), "%s", k->key_id);
			for (int j = 0; j < 3; j++)
				if (strcmp(k->key_id, ids[j]) == 0) {
					seen[j]++;
					CU_ASSERT_EQUAL(k->revoked, j == 1);
				}
			total++;
		}
		/* no secret (the part after the key id) anywhere in the answer */
		for (int j = 0; j < 3; j++) {
			const char *secret = secrets[j] + 4 + 16 + 1; /* "spb_" id "_" */
			CU_ASSERT_PTR_NULL(memmem(packed, len, secret, strlen(secret)));
		}
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
		pages++;
	} while (token[0] && pages < 10);
	CU_ASSERT_EQUAL(total, 3);
	CU_ASSERT_EQUAL(pages, 2);
	for (int j = 0; j < 3; j++)
		CU_ASSERT_EQUAL(seen[j], 1);
	/* a distributor's own list defaults to its own account; a foreign one is
	 * PERMISSION_DENIED like a missing one (AIP-211) */
	{
		spb_client *d = spt_client(&srv, secrets[0]);
		Smartplus__Billing__V1__ListApiKeysRequest req =
			SMARTPLUS__BILLING__V1__LIST_API_KEYS_REQUEST__INIT;
		Smartplus__Billing__V1__ListApiKeysResponse *resp = NULL;
		CU_ASSERT_EQUAL(spb_directory_list_api_keys(d, &req, &resp, NULL), 0);
		CU_ASSERT_EQUAL(resp ? resp->n_api_keys : 0, 3);
		spb_message_free(resp);
		resp = NULL;
		req.account_id = (char *)"d1";
		CU_ASSERT_NOT_EQUAL(spb_directory_list_api_keys(d, &req, &resp, NULL), 0);
		CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
		req.account_id = (char *)"no_such_account";
		CU_ASSERT_NOT_EQUAL(spb_directory_list_api_keys(d, &req, &resp, NULL), 0);
		CU_ASSERT_EQUAL(spb_error_last()->grpc_code, PD);
		req.account_id = (char *)"lk_d";
		req.page_token = (char *)"garbage";
		CU_ASSERT_NOT_EQUAL(spb_directory_list_api_keys(d, &req, &resp, NULL), 0);
		CU_ASSERT_EQUAL(spb_error_last()->grpc_code, IA);
		req.page_token = (char *)"";
		req.page_size = 1001;
		CU_ASSERT_NOT_EQUAL(spb_directory_list_api_keys(d, &req, &resp, NULL), 0);
		CU_ASSERT_EQUAL(spb_error_last()->grpc_code, IA);
		spb_client_free(d);
	}
}

static CU_TestInfo tests[] = {
	{"permission matrix: DirectoryService", test_matrix_directory},
	{"permission matrix: AdminService", test_matrix_admin},
	{"x-acting-account and SERVICE keys", test_acting_account},
	{"GetCatalog for every account", test_catalog_any_account},
	{"bad ids", test_bad_ids},
	{"unknown enum values", test_unknown_enums},
	{"roles that do not fit their parent", test_role_fit},
	{"ALREADY_EXISTS", test_already_exists},
	{"CreateItems: catalog rules", test_create_items_catalog},
	{"CreateItems: 1..1000 items", test_create_items_limits},
	{"CreateItems: all or nothing", test_create_items_all_or_nothing},
	{"INTEGRATION item follows pms_integrated", test_integration_item},
	{"DeleteItem of an INACTIVE item", test_delete_item},
	{"ListAccounts pagination", test_pagination_accounts},
	{"ListProjects pagination", test_pagination_projects},
	{"ListApiKeys: pages, revoked, no secrets", test_list_api_keys},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"directory", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
