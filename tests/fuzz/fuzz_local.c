/* fuzz_local.c: billingd without the network, for the fuzz targets. See fuzz_local.h. */
#include "fuzz_local.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "billingd.h"
#include "log.h"
#include "rpc.h"
#include "server.h"
#include "smartplus/billing/v1/admin_service.pb-c.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "smartplus/billing/v1/directory_service.pb-c.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define DIR_PATH "/smartplus.billing.v1.DirectoryService/"
#define ADMIN_PATH "/smartplus.billing.v1.AdminService/"
#define BILLING_PATH "/smartplus.billing.v1.BillingService/"

billingd_state billingd;

static char dir[256];
static char keys[FUZZ_AUTH_COUNT][160];
static int opened;

const char *fuzz_local_dir(void)
{
	return dir;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

void fuzz_local_close(void)
{
	if (!opened)
		return;
	opened = 0;
	server_close(&billingd);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_local: %s: %s\n", what, msg);
	exit(1);
}

grpc_status_code fuzz_local_call(const char *path, enum fuzz_auth auth, const char *idem_key,
				 const uint8_t *req, size_t len, uint8_t **out, size_t *out_len,
				 char *msg, size_t msgcap)
{
	grpc_metadata md[3];
	grpc_metadata_array arr;
	char bearer[200];
	size_t n = 0;
	grpc_status_code st;

	if (auth != FUZZ_AUTH_NONE) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", keys[auth]);
		md[n].key = grpc_slice_from_static_string("authorization");
		md[n++].value = grpc_slice_from_copied_string(bearer);
	}
	if (auth == FUZZ_AUTH_SERVICE) {
		md[n].key = grpc_slice_from_static_string("x-acting-account");
		md[n++].value = grpc_slice_from_static_string("fz_i1");
	}
	if (idem_key) {
		md[n].key = grpc_slice_from_static_string("idempotency-key");
		md[n++].value = grpc_slice_from_copied_string(idem_key);
	}
	memset(&arr, 0, sizeof(arr));
	arr.count = arr.capacity = n;
	arr.metadata = md;
	st = rpc_local_call(path, &arr, req, len, out, out_len, msg, msgcap);
	for (size_t i = 0; i < n; i++) {
		grpc_slice_unref(md[i].key);
		grpc_slice_unref(md[i].value);
	}
	return st;
}

grpc_status_code fuzz_local_call_msg(const char *path, enum fuzz_auth auth,
				     const ProtobufCMessage *msg, uint8_t **out, size_t *out_len,
				     char *err, size_t errcap)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	grpc_status_code st;
	protobuf_c_message_pack(msg, buf);
	st = fuzz_local_call(path, auth, NULL, buf, n, out, out_len, err, errcap);
	free(buf);
	return st;
}

/* Calls and dies unless OK; returns the response bytes (caller frees). */
static uint8_t *must(const char *path, enum fuzz_auth auth, const ProtobufCMessage *msg,
		     size_t *len)
{
	char err[512];
	uint8_t *out = NULL;
	size_t n = 0;
	if (fuzz_local_call_msg(path, auth, msg, &out, &n, err, sizeof(err)) != GRPC_STATUS_OK)
		die(path, err);
	if (len)
		*len = n;
	return out;
}

/* Calls as the vendor; a handler not there yet is fine, other errors die. */
static void try_call(const char *path, const ProtobufCMessage *msg)
{
	char err[512];
	uint8_t *out = NULL;
	size_t n;
	grpc_status_code st = fuzz_local_call_msg(path, FUZZ_AUTH_VENDOR, msg, &out, &n, err,
						  sizeof(err));
	free(out);
	if (st != GRPC_STATUS_OK && st != GRPC_STATUS_UNIMPLEMENTED)
		die(path, err);
}

static void account(const char *id, int role, const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	r.account_id = (char *)id;
	r.role = role;
	r.parent_id = (char *)parent;
	r.display_name = (char *)id;
	free(must(DIR_PATH "CreateAccount", FUZZ_AUTH_VENDOR, &r.base, NULL));
}

static void mint(enum fuzz_auth slot, const char *account_id, int scope)
{
	Smartplus__Billing__V1__CreateApiKeyRequest r =
		SMARTPLUS__BILLING__V1__CREATE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__CreateApiKeyResponse *resp;
	uint8_t *out;
	size_t n;
	r.account_id = (char *)account_id;
	r.scope = scope;
	out = must(DIR_PATH "CreateApiKey", FUZZ_AUTH_VENDOR, &r.base, &n);
	resp = smartplus__billing__v1__create_api_key_response__unpack(NULL, n, out);
	if (!resp)
		die("CreateApiKey", "undecodable response");
	snprintf(keys[slot], sizeof(keys[slot]), "%s", resp->secret);
	smartplus__billing__v1__create_api_key_response__free_unpacked(resp, NULL);
	free(out);
}

static void build_tree(void)
{
	Smartplus__Billing__V1__CreateProjectRequest p =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateItemsRequest ci =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ItemSpec spec = SMARTPLUS__BILLING__V1__ITEM_SPEC__INIT;
	Smartplus__Billing__V1__ItemSpec *specs[1] = {&spec};
	Smartplus__Billing__V1__SetPriceRequest sp =
		SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetCreditPriceRequest cp =
		SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsRequest ac =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__CreateCouponRequest cc =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
	Smartplus__Billing__V1__Coupon coupon = SMARTPLUS__BILLING__V1__COUPON__INIT;

	account("fz_d1", V1(ROLE__ROLE_DISTRIBUTOR), "vendor");
	account("fz_i1", V1(ROLE__ROLE_INSTALLER), "fz_d1");
	p.project_id = "fz_p1";
	p.installer_id = "fz_i1";
	p.type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
	p.display_name = "fuzz";
	free(must(DIR_PATH "CreateProject", FUZZ_AUTH_VENDOR, &p.base, NULL));
	spec.item_id = "fz_it1";
	spec.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
	spec.label = "fuzz";
	ci.project_id = "fz_p1";
	ci.n_items = 1;
	ci.items = specs;
	free(must(DIR_PATH "CreateItems", FUZZ_AUTH_VENDOR, &ci.base, NULL));
	sp.project_type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
	sp.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
	sp.monthly_amount = 500;
	sp.currency = "USD";
	sp.monthly_credits = 5;
	try_call(ADMIN_PATH "SetPrice", &sp.base);
	sp.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_PREMIUM_PLAN);
	try_call(ADMIN_PATH "SetPrice", &sp.base);
	cp.unit_amount = 100;
	cp.currency = "USD";
	try_call(ADMIN_PATH "SetCreditPrice", &cp.base);
	ac.account_id = "vendor";
	ac.to_account_id = "fz_i1";
	ac.credits = 1000;
	try_call(BILLING_PATH "AssignCredits", &ac.base);
	coupon.code = "FZ10";
	coupon.percent_off = 10;
	coupon.max_redemptions = 1000000;
	cc.coupon = &coupon;
	try_call(ADMIN_PATH "CreateCoupon", &cc.base);
	mint(FUZZ_AUTH_INSTALLER, "fz_i1", V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT));
	mint(FUZZ_AUTH_SERVICE, "vendor", V1(API_KEY_SCOPE__API_KEY_SCOPE_SERVICE));
}

void fuzz_local_open(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	char path[300];
	FILE *f;
	size_t n;

	if (opened)
		return;
	snprintf(dir, sizeof(dir), "%s/spb-fuzz.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp", dir);
	grpc_init();
	log_set_calls(0);
	billingd.cfg.listen = "local";
	billingd.cfg.data_dir = dir;
	billingd.cfg.threads = 1;
	billingd.cfg.cutover_us = BILLINGD_DEFAULT_CUTOVER_US;
	billingd.cfg.test_clock = 1;
	billingd.cfg.payments = "sandbox"; /* as main.c's defaults */
	billingd.cfg.stripe_url = "https://api.stripe.com";
	billingd.cfg.paypal_url = "https://api-m.paypal.com";
	billingd.cfg.provider_timeout_ms = 10000;
	billingd.cfg.max_receive_bytes = 4 << 20;
	billingd.cfg.map_size = 256u << 20;
	billingd.cfg.quiet_calls = 1;
	if (server_open(&billingd) != 0)
		die("server_open", dir);
	opened = 1;
	atexit(fuzz_local_close);
	snprintf(path, sizeof(path), "%s/admin.key", dir);
	f = fopen(path, "r");
	if (!f || !fgets(keys[FUZZ_AUTH_VENDOR], sizeof(keys[0]), f))
		die("reading", path);
	fclose(f);
	n = strcspn(keys[FUZZ_AUTH_VENDOR], "\r\n");
	keys[FUZZ_AUTH_VENDOR][n] = 0;
	/* Same key id, wrong secret (the last hex digit changed). */
	snprintf(keys[FUZZ_AUTH_BAD], sizeof(keys[0]), "%s", keys[FUZZ_AUTH_VENDOR]);
	if (n > 0)
		keys[FUZZ_AUTH_BAD][n - 1] = keys[FUZZ_AUTH_BAD][n - 1] == '0' ? '1' : '0';
	build_tree();
}
