/*
 * test_isolation_sweep.c - the tenant-isolation sweep (issue 9, item 4).
 *
 * Generated from the protos at run time: for every method of the protoc-c
 * service descriptors of BillingService, DirectoryService, AdminService and
 * EventService (WatchEvents through the SDK's event watch),
 * the request is built by walking its input descriptor and filling each
 * field by name: resource fields (account_id, parent_id, payer_id,
 * to_account_id, installer_id, project_id(s), item_id(s), order_id,
 * quote_id, key_id, endpoint_id) point at a bundle of resources of one
 * target class,
 * the other required fields get valid values so that permission is what
 * decides. Each request is sent for
 *
 *   caller role   vendor, distributor, sub-distributor, installer, property manager
 *   target class  own, descendant, foreign (another distributor's tree),
 *                 ancestor, nonexistent (AIP-211)
 *   credential    own key, none, revoked, malformed, another tenant's key,
 *                 SERVICE key with x-acting-account = caller, SERVICE key
 *                 without it (acts as the vendor), ACCOUNT key with
 *                 x-acting-account
 *
 * all on ONE spb_client, switching keys per call, and the status is
 * asserted exactly:
 *   no key / revoked / malformed               -> UNAUTHENTICATED
 *   ACCOUNT key with x-acting-account          -> PERMISSION_DENIED
 *   AdminService, effective caller not vendor  -> PERMISSION_DENIED
 *   foreign, ancestor, nonexistent targets     -> PERMISSION_DENIED
 *   own / descendant targets                   -> never PERMISSION_DENIED
 *                                                 or UNAUTHENTICATED
 * (the effective caller of a SERVICE key without x-acting-account is the
 * vendor, for whom every existing resource is a descendant; another
 * tenant's key makes the caller's own and descendant targets foreign).
 *
 * And the message texts (AIP-211, issue 12 defect 4): for every RPC, role
 * and credential, a PERMISSION_DENIED for an existing foreign target
 * (foreign, ancestor) must be byte-identical to the one for a nonexistent
 * target, and no denial may name an id of the foreign target. No RPC but a
 * List may answer about a page token (issue 12 defect 3).
 *
 * usage: isolation_sweep <billingd> [--verbose]
 * One CUnit test per service (each case an assertion), then a clean stop;
 * prints the number of cases.
 */
#include <inttypes.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spb_internal.h" /* spb__unary: one call by service descriptor + method index */
#include "spbilling.h"
#include "spt_billingd.h"
#include "spt_run.h"
#include "spt_sdk.h"

enum {
	ST_OK = 0,
	ST_NOT_FOUND = 5,
	ST_PERMISSION_DENIED = 7,
	ST_UNIMPLEMENTED = 12,
	ST_UNAVAILABLE = 14,
	ST_UNAUTHENTICATED = 16
};

static spb_client *cli; /* the one connection; no default key */
static spt_billingd srv;
static int verbose;
static long n_cases, n_unimplemented, n_skipped, n_crashes, n_payer_rule;
static long n_msg_compared, n_msg_mismatch, n_msg_leaks;

/* The outcome of one case, kept to compare denial texts across targets. */
typedef struct outcome {
	int ran;
	int status;
	int foreign; /* the target is outside the effective caller's reach */
	char message[512];
} outcome;
static long fresh_seq;

/* ------------------------------------------------------------------------ */
/* The tree                                                                  */

enum { R_VENDOR, R_DIST, R_SUB, R_INST, R_PM, N_ROLES };
static const char *role_names[N_ROLES] = {"vendor", "distributor", "sub-distributor", "installer",
					  "property-manager"};
static const int role_enum[N_ROLES] = {V1(ROLE__ROLE_VENDOR), V1(ROLE__ROLE_DISTRIBUTOR),
				       V1(ROLE__ROLE_SUB_DISTRIBUTOR), V1(ROLE__ROLE_INSTALLER),
				       V1(ROLE__ROLE_PROPERTY_MANAGER)};

/* Accounts with keys: tenant 1 (the callers) and tenant 2 (foreign). */
typedef struct tacct {
	const char *id;
	int role; /* R_* */
	char key[160], revoked_key[160];
} tacct;

static tacct accts[] = {
	{"vendor", R_VENDOR, "", ""}, {"d1", R_DIST, "", ""},  {"s1", R_SUB, "", ""},
	{"i1", R_INST, "", ""},       {"pm1", R_PM, "", ""},   {"d2", R_DIST, "", ""},
	{"s2", R_SUB, "", ""},        {"i2", R_INST, "", ""},  {"pm2", R_PM, "", ""},
	{"i1b", R_INST, "", ""},      {"i1d", R_INST, "", ""},
};
#define N_ACCTS (sizeof(accts) / sizeof(accts[0]))
static char service_key[160];

static tacct *tacct_of(const char *id)
{
	for (size_t i = 0; i < N_ACCTS; i++)
		if (strcmp(accts[i].id, id) == 0)
			return &accts[i];
	return NULL;
}

/* Orders and quotes made at setup, by payer. */
static char ord_v[40], ord_d1[40], ord_s1[40], ord_i1[40], ord_d2[40];
#define QUOTE_BUF 4096 /* quote ids are signed tokens */
static char quo_v[QUOTE_BUF], quo_d1[QUOTE_BUF], quo_s1[QUOTE_BUF], quo_i1[QUOTE_BUF],
	quo_d2[QUOTE_BUF];

/* A bundle of resources of one target class for one caller. NULL: the
 * class has no such resource for this caller (cases needing it skipped). */
typedef struct bundle {
	const char *cls;
	int allowed; /* for the caller itself */
	int exists;
	const char *account, *child, *installer, *project, *item, *order, *quote;
	int account_role;
	const char *pm;       /* a property manager for the bundle's project, or NULL */
	const char *endpoint; /* the account's webhook endpoint */
} bundle;

/* A webhook endpoint of each account of accts[] (setup), by index. */
static char endpoints[16][40];
static const char *endpoint_of(const char *account);

static const char *nz(const char *s)
{
	return s && s[0] ? s : NULL;
}

/* Fills the bundles of caller role r; returns how many. */
static int bundles_of(int r, bundle out[5])
{
	static const char *self[N_ROLES] = {"vendor", "d1", "s1", "i1", "pm1"};
	static const char *child[N_ROLES] = {"d1", "s1", "i1", "pm1", NULL};
	static const char *parent[N_ROLES] = {NULL, "vendor", "d1", "s1", "i1"};
	static const char *foreign[N_ROLES] = {NULL, "d2", "s2", "i2", "pm2"};
	static const char *foreign_child[N_ROLES] = {NULL, "s2", "i2", "pm2", "pm2"};
	const char *own_orders[N_ROLES] = {ord_v, ord_d1, ord_s1, ord_i1, NULL};
	const char *own_quotes[N_ROLES] = {quo_v, quo_d1, quo_s1, quo_i1, NULL};
	const char *desc_orders[N_ROLES] = {ord_d1, ord_s1, ord_i1, NULL, NULL};
	const char *desc_quotes[N_ROLES] = {quo_d1, quo_s1, quo_i1, NULL, NULL};
	const char *anc_orders[N_ROLES] = {NULL, ord_v, ord_d1, ord_s1, ord_i1};
	const char *anc_quotes[N_ROLES] = {NULL, quo_v, quo_d1, quo_s1, quo_i1};
	/* ancestors' projects not under the caller */
	static const char *anc_inst[N_ROLES] = {NULL, "i2", "i1d", "i1b", "i1d"};
	static const char *anc_proj[N_ROLES] = {NULL, "p2", "p1d", "p1b", "p1d"};
	static const char *anc_item[N_ROLES] = {NULL, "p2_a", "p1d_a", "p1b_a", "p1d_a"};
	int has_p1 = r != R_PM, n = 0;

	out[n++] = (bundle){"own",
			    1,
			    1,
			    self[r],
			    child[r] ? child[r] : self[r],
			    has_p1 ? "i1" : NULL,
			    has_p1 ? "p1" : NULL,
			    has_p1 ? "p1_a" : NULL,
			    nz(own_orders[r]),
			    nz(own_quotes[r]),
			    r,
			    has_p1 ? "pm1" : NULL,
			    NULL};
	if (child[r])
		out[n++] = (bundle){"descendant",
				    1,
				    1,
				    child[r],
				    child[r + 1] ? child[r + 1] : child[r],
				    has_p1 ? "i1" : NULL,
				    has_p1 ? "p1" : NULL,
				    has_p1 ? "p1_b" : NULL,
				    nz(desc_orders[r]),
				    nz(desc_quotes[r]),
				    r + 1,
				    has_p1 ? "pm1" : NULL,
				    NULL};
	if (foreign[r])
		out[n++] = (bundle){"foreign", 0,     1,      foreign[r], foreign_child[r],
				    "i2",      "p2",  "p2_a", ord_d2,     quo_d2,
				    r,         "pm2", NULL};
	if (parent[r])
		out[n++] = (bundle){
			"ancestor",  0,           1,           parent[r],         self[r],
			anc_inst[r], anc_proj[r], anc_item[r], nz(anc_orders[r]), nz(anc_quotes[r]),
			r - 1,       NULL,        NULL};
	out[n++] = (bundle){"nonexistent",
			    0,
			    0,
			    "nx_acct",
			    "nx_child",
			    "nx_inst",
			    "nx_prj",
			    "nx_item",
			    "ord_0000000000000000",
			    "quo_0000000000000000",
			    R_DIST,
			    "nx_pm",
			    NULL};
	for (int k = 0; k < n; k++)
		out[k].endpoint = endpoint_of(out[k].account);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Setup helpers (vendor key, plain calls)                                   */

static int setup_failures;

static spb_call_options as(const char *account)
{
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	o.api_key = account ? tacct_of(account)->key : srv.admin_key;
	return o;
}

static void setup_check(int rc, const char *what)
{
	if (rc != 0) {
		setup_failures++;
		fprintf(stderr, "setup: %s: %s %s %s\n", what,
			spb_status_name(spb_error_last()->grpc_code), spb_error_last()->reason,
			spb_error_last()->message);
	}
}

static void mint_key(const char *account, int scope, char *out, size_t cap)
{
	Smartplus__Billing__V1__CreateApiKeyRequest k =
		SMARTPLUS__BILLING__V1__CREATE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__CreateApiKeyResponse *kr = NULL;
	spb_call_options o = as(NULL);

	k.account_id = (char *)account;
	k.scope = scope;
	setup_check(spb_directory_create_api_key(cli, &k, &kr, &o), "CreateApiKey");
	if (kr && out)
		snprintf(out, cap, "%s", kr->secret);
	spb_message_free(kr);
}

/* Key id ("<16 hex>") of a fresh key of account. */
static void fresh_key_id(const char *account, char out[24])
{
	char token[160] = "";

	mint_key(account, V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT), token, sizeof(token));
	snprintf(out, 24, "%.16s", strlen(token) > 20 ? token + 4 : "0000000000000000");
}

/* CreateWebhookEndpoint for account (as the vendor) into id[40]; the URL
 * is a closed loopback port, so deliveries fail locally. */
static void new_endpoint(const char *account, char id[40])
{
	Smartplus__Billing__V1__CreateWebhookEndpointRequest r =
		SMARTPLUS__BILLING__V1__CREATE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateWebhookEndpointResponse *resp = NULL;
	spb_call_options o = as(NULL);

	r.account_id = (char *)account;
	r.url = "http://127.0.0.1:9/iso";
	setup_check(spb_event_create_webhook_endpoint(cli, &r, &resp, &o), "CreateWebhookEndpoint");
	snprintf(id, 40, "%s", resp ? resp->endpoint->endpoint_id : "whe_missing");
	spb_message_free(resp);
}

static const char *endpoint_of(const char *account)
{
	for (size_t i = 0; i < N_ACCTS; i++)
		if (strcmp(accts[i].id, account) == 0)
			return endpoints[i];
	return "whe_000000000000000000000000";
}

static void create_items(const char *project, const char *const *ids, int n)
{
	Smartplus__Billing__V1__CreateItemsRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ItemSpec specs[8], *sp[8];
	Smartplus__Billing__V1__CreateItemsResponse *out = NULL;
	spb_call_options o = as(NULL);

	for (int i = 0; i < n && i < 8; i++) {
		smartplus__billing__v1__item_spec__init(&specs[i]);
		specs[i].item_id = (char *)ids[i];
		specs[i].service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
		specs[i].label = (char *)ids[i];
		sp[i] = &specs[i];
	}
	r.project_id = (char *)project;
	r.n_items = (size_t)n;
	r.items = sp;
	setup_check(spb_directory_create_items(cli, &r, &out, &o), "CreateItems");
	spb_message_free(out);
}

/* A quote (payer, installer, project, item) into quote_out; with pay, an
 * order from it by the sandbox card into order_out. */
static void quote_and_order(const char *payer, const char *installer, const char *project,
			    const char *item, char *quote_out, char *order_out)
{
	spt_quote_spec q = {
		ACTION(ACTIVATE), payer, installer, PTYPE(COMMUNITY), project, 0, item, 1, 0, NULL};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *order;
	spb_call_options o = as(strcmp(payer, "vendor") == 0 ? NULL : payer);
	void *keep;

	setup_check(spt_quote(cli, &o, &q, &qr), "QuoteServices");
	if (!qr)
		return;
	if (quote_out)
		snprintf(quote_out, QUOTE_BUF, "%s", qr->quote->quote_id);
	if (order_out) {
		setup_check(spt_place_order(cli, &o, ACTION(ACTIVATE), qr->quote->quote_id,
					    METHOD(STRIPE), "pm_card_visa", &order, &keep),
			    "ActivateServices");
		if (order)
			snprintf(order_out, 40, "%s", order->order_id);
		spb_message_free(keep);
	}
	spb_message_free(qr);
}

static int setup(void)
{
	spb_client_options co = SPB_CLIENT_OPTIONS_INIT;
	Smartplus__Billing__V1__SetPriceRequest p = SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetPriceResponse *pr = NULL;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyRequest pol =
		SMARTPLUS__BILLING__V1__SET_INSTALLER_PAYMENT_POLICY_REQUEST__INIT;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse *polr = NULL;
	Smartplus__Billing__V1__PaymentMethod methods[1] = {
		V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)};
	Google__Protobuf__Timestamp created = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	static const struct {
		const char *id, *parent;
	} tree[] = {{"d1", "vendor"}, {"s1", "d1"}, {"i1", "s1"},  {"pm1", "i1"}, {"d2", "vendor"},
		    {"s2", "d2"},     {"i2", "s2"}, {"pm2", "i2"}, {"i1b", "s1"}, {"i1d", "d1"}};
	static const struct {
		const char *id, *inst;
	} projects[] = {{"p1", "i1"}, {"p2", "i2"}, {"p1b", "i1b"}, {"p1d", "i1d"}};
	spb_call_options vo;

	co.default_deadline_ms = 20000;
	cli = spb_client_new(srv.target, &co);
	if (!cli)
		return -1;
	vo = as(NULL);
	p.project_type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
	p.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
	p.monthly_amount = 500;
	p.currency = "USD";
	p.monthly_credits = 5;
	setup_check(spb_admin_set_price(cli, &p, &pr, &vo), "SetPrice");
	spb_message_free(pr);
	snprintf(accts[0].key, sizeof(accts[0].key), "%s", srv.admin_key);
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		Smartplus__Billing__V1__CreateAccountRequest a =
			SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
		Smartplus__Billing__V1__CreateAccountResponse *ar = NULL;
		tacct *x = tacct_of(tree[i].id);
		a.account_id = (char *)x->id;
		a.role = role_enum[x->role];
		a.parent_id = (char *)tree[i].parent;
		a.display_name = (char *)x->id;
		setup_check(spb_directory_create_account(cli, &a, &ar, &vo), "CreateAccount");
		spb_message_free(ar);
		mint_key(x->id, V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT), x->key, sizeof(x->key));
	}
	/* revoked keys: minted, then revoked */
	for (size_t i = 0; i < N_ACCTS; i++) {
		Smartplus__Billing__V1__RevokeApiKeyRequest rv =
			SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT;
		Smartplus__Billing__V1__RevokeApiKeyResponse *rvr = NULL;
		char id[24];
		mint_key(accts[i].id, V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT),
			 accts[i].revoked_key, sizeof(accts[i].revoked_key));
		snprintf(id, sizeof(id), "%.16s", accts[i].revoked_key + 4);
		rv.key_id = id;
		setup_check(spb_directory_revoke_api_key(cli, &rv, &rvr, &vo), "RevokeApiKey");
		spb_message_free(rvr);
	}
	mint_key("vendor", V1(API_KEY_SCOPE__API_KEY_SCOPE_SERVICE), service_key,
		 sizeof(service_key));
	for (size_t i = 0; i < N_ACCTS; i++)
		new_endpoint(accts[i].id, endpoints[i]);
	created.seconds = time(NULL) - 86400;
	for (size_t i = 0; i < sizeof(projects) / sizeof(projects[0]); i++) {
		Smartplus__Billing__V1__CreateProjectRequest pj =
			SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
		Smartplus__Billing__V1__CreateProjectResponse *pjr = NULL;
		char a_[32], b_[32], c_[32], d_[32], e_[32], f_[32];
		const char *ids[6] = {a_, b_, c_, d_, e_, f_};
		pj.project_id = (char *)projects[i].id;
		pj.installer_id = (char *)projects[i].inst;
		pj.type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
		pj.created_at = &created;
		pj.display_name = (char *)projects[i].id;
		if (strcmp(projects[i].id, "p1") == 0)
			pj.property_manager_id = "pm1";
		setup_check(spb_directory_create_project(cli, &pj, &pjr, &vo), "CreateProject");
		spb_message_free(pjr);
		snprintf(a_, sizeof(a_), "%s_a", projects[i].id);
		snprintf(b_, sizeof(b_), "%s_b", projects[i].id);
		for (int k = 0; k < 4; k++)
			snprintf((char *)ids[2 + k], 32, "%s_o%d", projects[i].id, k);
		create_items(projects[i].id, ids, 6);
	}
	/* i1 may pay by card (so an installer has orders and quotes of its own) */
	pol.installer_id = "i1";
	pol.pay_by_installer = 1;
	pol.n_allowed_methods = 1;
	pol.allowed_methods = methods;
	{
		spb_call_options o = as("d1");
		setup_check(spb_billing_set_installer_payment_policy(cli, &pol, &polr, &o),
			    "SetPolicy");
		spb_message_free(polr);
	}
	quote_and_order("vendor", "i1", "p1", "p1_o0", NULL, ord_v);
	quote_and_order("d1", "i1", "p1", "p1_o1", NULL, ord_d1);
	quote_and_order("s1", "i1", "p1", "p1_o2", NULL, ord_s1);
	quote_and_order("i1", "i1", "p1", "p1_o3", NULL, ord_i1);
	quote_and_order("d2", "i2", "p2", "p2_o0", NULL, ord_d2);
	/* open quotes (on items that stay inactive unless an allowed case pays) */
	quote_and_order("vendor", "i1", "p1", "p1_a", quo_v, NULL);
	quote_and_order("d1", "i1", "p1", "p1_a", quo_d1, NULL);
	quote_and_order("s1", "i1", "p1", "p1_a", quo_s1, NULL);
	quote_and_order("i1", "i1", "p1", "p1_a", quo_i1, NULL);
	quote_and_order("d2", "i2", "p2", "p2_a", quo_d2, NULL);
	return setup_failures ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Requests generated from the descriptors                                   */

/* Allocations of one case, freed together. */
typedef struct pool {
	void *p[64];
	int n;
} pool;

static void *palloc(pool *pl, size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (p && pl->n < 64)
		pl->p[pl->n++] = p;
	return p;
}

static char *pstr(pool *pl, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = palloc(pl, n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void pool_free(pool *pl)
{
	for (int i = 0; i < pl->n; i++)
		free(pl->p[i]);
	pl->n = 0;
}

typedef struct fill_ctx {
	const char *method;
	const bundle *b;
	pool *pl;
	int resource_fields;   /* how many resource fields the request has */
	int missing;           /* a resource the bundle does not have */
	const bundle *alt;     /* the one-field cases: resource field alt_index */
	int alt_index;         /* (counted in fill order) comes from alt, or -1 */
	const char *alt_value; /* what field alt_index got */
} fill_ctx;

/* The bundle of the next resource field: c->alt for field alt_index. */
static const bundle *pick(const fill_ctx *c)
{
	return c->alt && c->resource_fields == c->alt_index ? c->alt : c->b;
}

/* A fresh endpoint of account, its id in the case's pool. */
static const char *create_endpoint(const char *account, pool *pl)
{
	char id[40];
	new_endpoint(account, id);
	return pstr(pl, id);
}

static const char *need(fill_ctx *c, const char *v)
{
	c->resource_fields++;
	if (!v)
		c->missing = 1;
	return v;
}

/* The resource field `member` (offsetof(bundle, ...)) of the next field's
 * bundle. */
static const char *ref(fill_ctx *c, size_t member)
{
	const bundle *b = pick(c);
	const char *v = *(const char *const *)((const char *)b + member);
	if (b == c->alt)
		c->alt_value = v;
	return need(c, v);
}
#define REF(c, m) ref((c), offsetof(bundle, m))

static const char *fresh(fill_ctx *c, const char *prefix)
{
	char buf[48];
	snprintf(buf, sizeof(buf), "%s%ld_%ld", prefix, (long)time(NULL) % 100000, ++fresh_seq);
	return pstr(c->pl, buf);
}

static int is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* Value of a string field by its name (NULL: leave ""). in: the message. */
static const char *string_for(fill_ctx *c, const ProtobufCMessageDescriptor *in, const char *f)
{
	const char *m = c->method;
	int item_spec = in == &smartplus__billing__v1__item_spec__descriptor;
	int coupon = in == &smartplus__billing__v1__coupon__descriptor;

	if (is(f, "account_id"))
		return is(m, "CreateAccount") ? fresh(c, "acc") : REF(c, account);
	if (is(f, "parent_id") || is(f, "payer_id"))
		return REF(c, account);
	if (is(f, "to_account_id"))
		return REF(c, child);
	if (is(f, "installer_id"))
		return REF(c, installer);
	if (is(f, "property_manager_id"))
		return REF(c, pm);
	if (is(f, "project_id"))
		return is(m, "CreateProject") ? fresh(c, "prj") : REF(c, project);
	if (is(f, "item_id")) {
		const bundle *b = pick(c);
		if (item_spec)
			return fresh(c, "itm");
		if (is(m, "DeleteItem") && b->exists && b->project) {
			/* a fresh item to delete, so the shared ones stay */
			const char *id = fresh(c, "del");
			create_items(b->project, &id, 1);
			c->resource_fields++;
			return id;
		}
		return REF(c, item);
	}
	if (is(f, "endpoint_id")) {
		const bundle *b = pick(c);
		if (is(m, "DeleteWebhookEndpoint") && b->exists) {
			/* a fresh endpoint to delete, so the shared ones stay */
			c->resource_fields++;
			return create_endpoint(b->account, c->pl);
		}
		return REF(c, endpoint);
	}
	if (is(f, "order_id"))
		return REF(c, order);
	if (is(f, "quote_id"))
		return REF(c, quote);
	if (is(f, "key_id")) {
		const bundle *b = pick(c);
		char id[24] = "0000000000000000";
		c->resource_fields++;
		if (b->exists)
			fresh_key_id(b->account, id);
		return pstr(c->pl, id);
	}
	if (is(f, "code"))
		return is(m, "CreateCoupon") || coupon ? fresh(c, "CPN") : "ISO_DISABLE";
	if (is(f, "currency"))
		return coupon ? NULL : "USD";
	if (is(f, "display_name") || is(f, "label"))
		return "iso";
	if (is(f, "name"))
		return fresh(c, "iso_backup");
	if (is(f, "stripe_payment_method_id"))
		return is(m, "SetAutoRenew") ? NULL : "pm_card_visa";
	return NULL;
}

static int child_role(int r)
{
	return r == R_VENDOR ? V1(ROLE__ROLE_DISTRIBUTOR)
	       : r == R_DIST ? V1(ROLE__ROLE_SUB_DISTRIBUTOR)
	       : r == R_SUB  ? V1(ROLE__ROLE_INSTALLER)
			     : V1(ROLE__ROLE_PROPERTY_MANAGER);
}

static int enum_for(fill_ctx *c, const char *f)
{
	const char *m = c->method;

	if (is(f, "role"))
		return is(m, "CreateAccount") ? child_role(c->b->account_role) : 0;
	if (is(f, "type"))
		return is(m, "CreateProject") || is(m, "UpdateProject")
			       ? V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY)
			       : 0;
	if (is(f, "project_type"))
		return V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
	if (is(f, "service_type"))
		return is(m, "ListItems") ? 0 : V1(SERVICE_TYPE__SERVICE_TYPE_APP);
	if (is(f, "action"))
		return V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE);
	if (is(f, "payment_method"))
		return is(m, "SetAutoRenew") ? 0 : V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE);
	if (is(f, "renew_mode"))
		return V1(RENEW_MODE__RENEW_MODE_MANUAL);
	if (is(f, "scope"))
		return V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT);
	return 0; /* filters (status, kind, ...) unset */
}

static int64_t int_for(const char *f)
{
	if (is(f, "months") || is(f, "credits"))
		return 1;
	if (is(f, "page_size"))
		return 10;
	if (is(f, "percent_off"))
		return 100;
	if (is(f, "monthly_amount"))
		return 500;
	if (is(f, "monthly_credits"))
		return 5;
	if (is(f, "unit_amount"))
		return 100;
	return 0;
}

static void fill(fill_ctx *c, ProtobufCMessage *msg, int depth);

static ProtobufCMessage *new_msg(fill_ctx *c, const ProtobufCMessageDescriptor *d, int depth)
{
	ProtobufCMessage *m = palloc(c->pl, d->sizeof_message);
	if (!m)
		return NULL;
	protobuf_c_message_init(d, m);
	fill(c, m, depth + 1);
	return m;
}

static ProtobufCMessage *message_for(fill_ctx *c, const ProtobufCFieldDescriptor *f, int depth)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;

	if (d == &smartplus__billing__v1__billing_info__descriptor)
		return &spt_billing_info()->base;
	if (d == &google__protobuf__timestamp__descriptor) {
		/* created_at too: only the vendor may set it, and permission
		 * (not that rule) is what the sweep is after */
		return NULL;
	}
	if (d == &google__protobuf__duration__descriptor) {
		Google__Protobuf__Duration *du = palloc(c->pl, sizeof(*du));
		google__protobuf__duration__init(du);
		du->seconds = 1;
		return &du->base;
	}
	if (d == &google__protobuf__field_mask__descriptor) {
		Google__Protobuf__FieldMask *fm = palloc(c->pl, sizeof(*fm));
		char **paths = palloc(c->pl, 2 * sizeof(char *));
		google__protobuf__field_mask__init(fm);
		paths[0] = "display_name";
		paths[1] = "property_manager_id"; /* a reference, checked like the others */
		fm->n_paths = 2;
		fm->paths = paths;
		return &fm->base;
	}
	if (d == &smartplus__billing__v1__auto_renew_term__descriptor)
		return NULL;
	if (depth > 3)
		return NULL;
	return new_msg(c, d, depth);
}

/* Fills every field of msg (oneof members left unset). */
static void fill(fill_ctx *c, ProtobufCMessage *msg, int depth)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *member = (char *)msg + f->offset;
		size_t *count = (size_t *)((char *)msg + f->quantifier_offset);
		int rep = f->label == PROTOBUF_C_LABEL_REPEATED;

		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			continue;
		switch (f->type) {
		case PROTOBUF_C_TYPE_STRING: {
			const char *v;
			if (rep) {
				char **arr;
				if (is(f->name, "item_ids"))
					v = REF(c, item);
				else if (is(f->name, "project_ids"))
					v = REF(c, project);
				else
					break;
				arr = palloc(c->pl, sizeof(char *));
				if (!arr || !v)
					break;
				arr[0] = (char *)v;
				*count = 1;
				*(char ***)member = arr;
				break;
			}
			v = string_for(c, d, f->name);
			if (v)
				*(char **)member = (char *)v;
			break;
		}
		case PROTOBUF_C_TYPE_ENUM:
			if (!rep)
				*(int *)member = enum_for(c, f->name);
			break;
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
			if (!rep)
				*(int32_t *)member = (int32_t)int_for(f->name);
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
			if (!rep)
				*(int64_t *)member = int_for(f->name);
			break;
		case PROTOBUF_C_TYPE_BOOL:
			if (!rep)
				*(protobuf_c_boolean *)member = is(f->name, "terms_accepted");
			break;
		case PROTOBUF_C_TYPE_MESSAGE:
			if (rep) {
				ProtobufCMessage **arr;
				if (f->descriptor != &smartplus__billing__v1__item_spec__descriptor)
					break;
				arr = palloc(c->pl, sizeof(*arr));
				if (!arr || !(arr[0] = new_msg(c, f->descriptor, depth)))
					break;
				*count = 1;
				*(ProtobufCMessage ***)member = arr;
			} else {
				*(ProtobufCMessage **)member = message_for(c, f, depth);
			}
			break;
		default: break;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Credentials and expectations                                              */

enum {
	C_OWN,
	C_NONE,
	C_REVOKED,
	C_MALFORMED,
	C_OTHER_TENANT,
	C_SERVICE_ACTING,
	C_SERVICE_PLAIN,
	C_ACCOUNT_ACTING,
	N_CREDS
};
static const char *cred_names[N_CREDS] = {"own key",
					  "no key",
					  "revoked key",
					  "malformed key",
					  "other tenant's key",
					  "SERVICE key + x-acting-account",
					  "SERVICE key, no x-acting-account",
					  "ACCOUNT key + x-acting-account"};

/* Expected outcome: exactly one status, or "allowed" (anything but
 * PERMISSION_DENIED / UNAUTHENTICATED), or (vendor, nonexistent target)
 * PERMISSION_DENIED or NOT_FOUND. */
enum { E_UNAUTH, E_DENIED, E_ALLOWED, E_DENIED_OR_NOT_FOUND };

static int expect(int admin, int role, const bundle *b, int cred)
{
	switch (cred) {
	case C_NONE:
	case C_REVOKED:
	case C_MALFORMED: return E_UNAUTH;
	case C_ACCOUNT_ACTING: return E_DENIED;
	case C_OTHER_TENANT: return E_DENIED; /* only run for own/descendant */
	case C_SERVICE_PLAIN:
		/* acts as the vendor: everything that exists is its descendant */
		if (admin)
			return E_ALLOWED;
		return b->exists ? E_ALLOWED : E_DENIED_OR_NOT_FOUND;
	default: /* own key, SERVICE + acting = caller */
		if (admin)
			return role == R_VENDOR ? E_ALLOWED : E_DENIED;
		if (role == R_VENDOR && !b->exists)
			return E_DENIED_OR_NOT_FOUND;
		return b->allowed ? E_ALLOWED : E_DENIED;
	}
}

static const char *counterpart[N_ROLES] = {NULL, "d2", "s2", "i2", "pm2"};
static const char *self_of[N_ROLES] = {"vendor", "d1", "s1", "i1", "pm1"};

/* Call options for credential cred of caller role; 0 or -1 (n/a). */
static int cred_opts(int role, int cred, spb_call_options *o)
{
	tacct *a = tacct_of(self_of[role]);

	*o = (spb_call_options)SPB_CALL_OPTIONS_INIT;
	switch (cred) {
	case C_OWN: o->api_key = a->key; return 0;
	case C_NONE: return 0;
	case C_REVOKED: o->api_key = a->revoked_key; return 0;
	case C_MALFORMED: o->api_key = "spb_not-a-key"; return 0;
	case C_OTHER_TENANT:
		if (!counterpart[role])
			return -1;
		o->api_key = tacct_of(counterpart[role])->key;
		return 0;
	case C_SERVICE_ACTING:
		o->api_key = service_key;
		o->acting_account = a->id;
		return 0;
	case C_SERVICE_PLAIN: o->api_key = service_key; return 0;
	case C_ACCOUNT_ACTING:
		if (role == R_PM)
			return -1;
		o->api_key = a->key;
		o->acting_account = role == R_VENDOR ? "d1" : "pm1";
		return 0;
	}
	return -1;
}

static int is_read(const char *name)
{
	return strncmp(name, "Get", 3) == 0 || strncmp(name, "List", 4) == 0 ||
	       strncmp(name, "Watch", 5) == 0 || is(name, "QuoteServices");
}

/* WatchEvents through the SDK's watch: the status its stream ends with,
 * or OK when it delivers or stays open (nothing to deny) for a second. */
static int watch_status(const ProtobufCMessage *msg, const spb_call_options *o)
{
	const Smartplus__Billing__V1__WatchEventsRequest *req = (const void *)msg;
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	Smartplus__Billing__V1__Event *ev = NULL;
	spb_event_watch *w = NULL;
	int rc;

	wo.after_sequence = req->after_sequence;
	wo.account_id = req->account_id[0] ? req->account_id : NULL;
	wo.call = o;
	wo.max_reconnects = 0;
	if (spb_events_watch_open(&w, cli, &wo) != 0)
		return spb_error_last()->grpc_code;
	rc = spb_events_watch_next(w, &ev, 1000);
	spb_message_free(ev);
	spb_events_watch_free(w);
	return rc == 0 || rc == SPB_ETIMEOUT ? ST_OK : spb_error_last()->grpc_code;
}

/* ------------------------------------------------------------------------ */

/* billingd must survive every case: a death is a failure; it is restarted
 * (same data directory) on a new connection so the sweep goes on. */
static void check_alive(const ProtobufCServiceDescriptor *svc, const ProtobufCMethodDescriptor *md)
{
	int sig = 0;

	spt_sleep_ms(200);
	if (!spt_billingd_exited(&srv, &sig))
		return;
	n_crashes++;
	SPT_CHECK(0, "billingd died (signal %d) at or just before %s.%s; restarting it", sig,
		  svc->short_name, md->name);
	spb_client_free(cli);
	cli = NULL;
	if (spt_billingd_restart(&srv) == 0)
		cli = spt_client_to(srv.target, "", 20000);
	SPT_REQUIRE(cli != NULL, "billingd does not restart");
}

/* 1 when msg holds id as a whole id (not inside a longer [A-Za-z0-9_.-]
 * word). */
static int names_id(const char *msg, const char *id)
{
	size_t n = id ? strlen(id) : 0;
	const char *p = msg;
	if (!n)
		return 0;
	while ((p = strstr(p, id)) != NULL) {
		char before = p == msg ? ' ' : p[-1], after = p[n];
		int word = (before == ' ' || before == '\'' || before == '"' || before == '(' ||
			    before == '[' || before == ',') &&
			   !(after == '_' || after == '-' || after == '.' ||
			     (after >= '0' && after <= '9') || (after >= 'a' && after <= 'z') ||
			     (after >= 'A' && after <= 'Z'));
		if (word)
			return 1;
		p += n;
	}
	return 0;
}

/* A denial for a foreign target must not name its ids. */
static void check_leak(const ProtobufCServiceDescriptor *svc, const ProtobufCMethodDescriptor *md,
		       int role, const bundle *b, int cred, const char *msg)
{
	const char *ids[] = {b->account, b->installer, b->project, b->item, b->order};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (!ids[i] || is(ids[i], self_of[role]))
			continue;
		if (names_id(msg, ids[i])) {
			n_msg_leaks++;
			SPT_CHECK(0, "%s.%s caller=%s target=%s cred=%s: the denial names '%s': %s",
				  svc->short_name, md->name, role_names[role], b->cls,
				  cred_names[cred], ids[i], msg);
			return;
		}
	}
	if (strstr(msg, "quo_")) {
		n_msg_leaks++;
		SPT_CHECK(0, "%s.%s caller=%s target=%s cred=%s: the denial quotes a quote id: %s",
			  svc->short_name, md->name, role_names[role], b->cls, cred_names[cred],
			  msg);
	}
}

static void run_case(const ProtobufCServiceDescriptor *svc, unsigned mi, int role, const bundle *b,
		     int cred, outcome *out)
{
	const ProtobufCMethodDescriptor *md = &svc->methods[mi];
	int admin = svc == &smartplus__billing__v1__admin_service__descriptor;
	fill_ctx c = {md->name, b, NULL, 0, 0, NULL, -1, NULL};
	pool pl = {{0}, 0};
	ProtobufCMessage *req, *resp = NULL;
	spb_call_options o;
	int rc, st, exp, ok, policy_self;

	if (cred_opts(role, cred, &o) != 0)
		return;
	if (cred == C_OTHER_TENANT && !b->allowed)
		return;
	/* R12: an installer's policy is set by its ancestors only */
	policy_self = is(md->name, "SetInstallerPaymentPolicy") && b->installer &&
		      is(b->installer, self_of[role]) &&
		      (cred == C_OWN || cred == C_SERVICE_ACTING);
	c.pl = &pl;
	req = palloc(&pl, md->input->sizeof_message);
	if (!req)
		return;
	protobuf_c_message_init(md->input, req);
	fill(&c, req, 0);
	if (c.missing ||
	    (c.resource_fields == 0 && (strcmp(b->cls, "own") != 0 || cred == C_OTHER_TENANT))) {
		n_skipped++;
		pool_free(&pl);
		return;
	}
	if (is(md->name, "WatchEvents")) {
		st = watch_status(req, &o);
	} else {
		rc = spb__unary(cli, svc, mi, !is_read(md->name), req, &resp, &o);
		st = rc == 0 ? ST_OK : spb_error_last()->grpc_code;
	}
	if (st == ST_UNAVAILABLE)
		check_alive(svc, md);
	exp = policy_self ? E_DENIED : expect(admin, role, b, cred);
	n_cases++;
	if (st == ST_UNIMPLEMENTED && exp != E_UNAUTH) {
		n_unimplemented++; /* not landed yet: nothing to judge */
		ok = 1;
	} else {
		switch (exp) {
		case E_UNAUTH: ok = st == ST_UNAUTHENTICATED; break;
		case E_DENIED: ok = st == ST_PERMISSION_DENIED; break;
		case E_DENIED_OR_NOT_FOUND:
			ok = st == ST_PERMISSION_DENIED || st == ST_NOT_FOUND;
			break;
		default:
			ok = st != ST_PERMISSION_DENIED && st != ST_UNAUTHENTICATED;
			/* R11 (who may pay) refuses with PERMISSION_DENIED too: a
			 * business rule on the payer, not tenant isolation */
			if (st == ST_PERMISSION_DENIED && is(md->name, "QuoteServices") &&
			    (strstr(spb_error_last()->message, "may not pay") ||
			     strstr(spb_error_last()->message, "may use none"))) {
				ok = 1;
				n_payer_rule++;
			}
			break;
		}
	}
	if (out) {
		out->ran = 1;
		out->status = st;
		out->foreign = exp == E_DENIED || exp == E_DENIED_OR_NOT_FOUND;
		snprintf(out->message, sizeof(out->message), "%s",
			 st ? spb_error_last()->message : "");
	}
	/* A denial of a target out of reach (not a business refusal of an
	 * allowed one) names nothing of it. */
	if (st == ST_PERMISSION_DENIED && !b->allowed && b->exists &&
	    (exp == E_DENIED || exp == E_DENIED_OR_NOT_FOUND))
		check_leak(svc, md, role, b, cred, spb_error_last()->message);
	if (st && strncmp(md->name, "List", 4) != 0 &&
	    strstr(spb_error_last()->message, "page_token")) {
		ok = 0;
		printf("FAIL %s.%s answers about a page token: %s\n", svc->short_name, md->name,
		       spb_error_last()->message);
	}
	SPT_CHECK(ok, "%s.%s caller=%s target=%s cred=%s: got %s", svc->short_name, md->name,
		  role_names[role], b->cls, cred_names[cred], spb_status_name(st));
	if (!ok || verbose)
		printf("%s %s.%s caller=%s target=%s cred=%s: got %s, expected %s%s%s\n",
		       ok ? "ok  " : "FAIL", svc->short_name, md->name, role_names[role], b->cls,
		       cred_names[cred], spb_status_name(st),
		       exp == E_UNAUTH    ? "UNAUTHENTICATED"
		       : exp == E_DENIED  ? "PERMISSION_DENIED"
		       : exp == E_ALLOWED ? "not PERMISSION_DENIED/UNAUTHENTICATED"
					  : "PERMISSION_DENIED or NOT_FOUND",
		       st ? " -- " : "", st ? spb_error_last()->message : "");
	spb_message_free(resp);
	pool_free(&pl);
}

/* ------------------------------------------------------------------------ */
/* One reference out of reach at a time                                      */

static long n_field_compared, n_field_mismatch;

/* The request of method mi built from `own` with resource field k (fill
 * order) from alt (alt NULL: none), sent with role's own key. 0 when it
 * ran (*out filled), -1 when not applicable. *fields: how many resource
 * fields the request has. */
static int run_with_field(const ProtobufCServiceDescriptor *svc, unsigned mi, int role,
			  const bundle *own, const bundle *alt, int k, outcome *out, int *fields)
{
	const ProtobufCMethodDescriptor *md = &svc->methods[mi];
	fill_ctx c = {md->name, own, NULL, 0, 0, alt, alt ? k : -1, NULL};
	pool pl = {{0}, 0};
	ProtobufCMessage *req, *resp = NULL;
	spb_call_options o;
	int rc;

	memset(out, 0, sizeof(*out));
	if (cred_opts(role, C_OWN, &o) != 0)
		return -1;
	c.pl = &pl;
	req = palloc(&pl, md->input->sizeof_message);
	if (!req)
		return -1;
	protobuf_c_message_init(md->input, req);
	fill(&c, req, 0);
	*fields = c.resource_fields;
	/* the caller itself is in reach (an ancestor's child: the caller) */
	if (c.missing || !alt || (c.alt_value && is(c.alt_value, self_of[role]))) {
		pool_free(&pl);
		return -1;
	}
	rc = spb__unary(cli, svc, mi, !is_read(md->name), req, &resp, &o);
	out->ran = 1;
	out->status = rc == 0 ? ST_OK : spb_error_last()->grpc_code;
	snprintf(out->message, sizeof(out->message), "%s", rc ? spb_error_last()->message : "");
	if (out->status == ST_UNAVAILABLE)
		check_alive(svc, md);
	spb_message_free(resp);
	pool_free(&pl);
	return 0;
}

/*
 * AIP-211 one field at a time: a request that is the caller's own in every
 * reference but one, which names an existing resource out of reach (another
 * tree's, an ancestor's), must be answered exactly as when that one names a
 * missing resource: the same status and, when refused, the same text, which
 * names nothing of the foreign resource. A sweep that fills every field from
 * one class never mixes them (a foreign property manager on one's own
 * project, another tree's item next to one's own).
 */
static void sweep_one_field(const ProtobufCServiceDescriptor *svc)
{
	for (unsigned mi = 0; mi < svc->n_methods; mi++)
		for (int role = R_DIST; role < N_ROLES; role++) {
			bundle bs[5];
			int nb = bundles_of(role, bs), fields = 0;
			outcome probe;
			const bundle *nx = &bs[nb - 1];

			run_with_field(svc, mi, role, &bs[0], NULL, 0, &probe, &fields);
			for (int k = 0; k < fields; k++)
				for (int j = 1; j < nb - 1; j++) {
					outcome a, m;
					const ProtobufCMethodDescriptor *md = &svc->methods[mi];
					if (bs[j].allowed || !bs[j].exists)
						continue;
					/* issue 16: a caller may quote for an ancestor
					 * payer (QuoteServices' first reference,
					 * payer_id) to ask it to pay (RequestPayment);
					 * one's own ancestors are no secret */
					if (k == 0 && strcmp(md->name, "QuoteServices") == 0 &&
					    strcmp(bs[j].cls, "ancestor") == 0)
						continue;
					if (run_with_field(svc, mi, role, &bs[0], &bs[j], k, &a,
							   &fields) != 0 ||
					    run_with_field(svc, mi, role, &bs[0], nx, k, &m,
							   &fields) != 0)
						continue;
					n_field_compared++;
					if (a.status == m.status &&
					    strcmp(a.message, m.message) == 0) {
						if (a.status == ST_PERMISSION_DENIED)
							check_leak(svc, md, role, &bs[j], C_OWN,
								   a.message);
						continue;
					}
					n_field_mismatch++;
					SPT_CHECK(0,
						  "%s.%s caller=%s, reference #%d from the %s "
						  "target, the rest own: %s \"%s\"; with a "
						  "nonexistent one instead: %s \"%s\"",
						  svc->short_name, md->name, role_names[role], k,
						  bs[j].cls, spb_status_name(a.status), a.message,
						  spb_status_name(m.status), m.message);
				}
		}
}

static int suite_init(void)
{
	verbose = spt_flag("verbose");
	SPT_INIT(spt_billingd_start(&srv, NULL));
	SPT_INIT(setup());
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(cli);
	cli = NULL;
	spt_billingd_free(&srv);
	printf("\nisolation sweep: %ld cases (billingd crashes %ld; %ld UNIMPLEMENTED; %ld R11 "
	       "payer refusals on own/descendant targets; %ld combinations not applicable)\n",
	       n_cases, n_crashes, n_unimplemented, n_payer_rule, n_skipped);
	printf("denial texts: %ld existing-foreign/nonexistent pairs compared, %ld differ, %ld "
	       "name "
	       "a foreign id\n",
	       n_msg_compared, n_msg_mismatch, n_msg_leaks);
	printf("one reference out of reach at a time: %ld foreign/nonexistent pairs compared, "
	       "%ld differ\n",
	       n_field_compared, n_field_mismatch);
	return 0;
}

/* Every method of svc for every caller role, target class and credential. */
static void sweep(const ProtobufCServiceDescriptor *svc)
{
	for (unsigned mi = 0; mi < svc->n_methods; mi++)
		for (int role = 0; role < N_ROLES; role++) {
			bundle bs[5];
			outcome outs[5][N_CREDS];
			int nb = bundles_of(role, bs), nx = nb - 1;
			memset(outs, 0, sizeof(outs));
			for (int k = 0; k < nb; k++)
				for (int cred = 0; cred < N_CREDS; cred++)
					run_case(svc, mi, role, &bs[k], cred, &outs[k][cred]);
			/* AIP-211: existing foreign targets read like missing ones */
			for (int k = 0; k < nx; k++)
				for (int cred = 0; cred < N_CREDS; cred++) {
					const outcome *a = &outs[k][cred], *m = &outs[nx][cred];
					if (bs[k].allowed || !a->ran || !m->ran || !a->foreign ||
					    !m->foreign || a->status != ST_PERMISSION_DENIED ||
					    m->status != ST_PERMISSION_DENIED)
						continue;
					n_msg_compared++;
					if (strcmp(a->message, m->message) == 0)
						continue;
					n_msg_mismatch++;
					SPT_CHECK(0,
						  "%s.%s caller=%s cred=%s: denial for the %s "
						  "target '%s' "
						  "differs from the nonexistent one's '%s'",
						  svc->short_name, svc->methods[mi].name,
						  role_names[role], cred_names[cred], bs[k].cls,
						  a->message, m->message);
				}
		}
}

static void test_billing_service_is_tenant_isolated(void)
{
	sweep(&smartplus__billing__v1__billing_service__descriptor);
}

static void test_directory_service_is_tenant_isolated(void)
{
	sweep(&smartplus__billing__v1__directory_service__descriptor);
}

static void test_admin_service_is_vendor_only(void)
{
	sweep(&smartplus__billing__v1__admin_service__descriptor);
}

static void test_one_reference_out_of_reach_reads_like_a_missing_one(void)
{
	sweep_one_field(&smartplus__billing__v1__billing_service__descriptor);
	sweep_one_field(&smartplus__billing__v1__directory_service__descriptor);
	sweep_one_field(&smartplus__billing__v1__admin_service__descriptor);
	sweep_one_field(&smartplus__billing__v1__event_service__descriptor);
	CU_ASSERT_TRUE(n_field_compared > 0);
}

static void test_event_service_is_tenant_isolated(void)
{
	sweep(&smartplus__billing__v1__event_service__descriptor);
}

static void test_billingd_survives_and_stops_cleanly(void)
{
	CU_ASSERT_EQUAL(n_crashes, 0);
	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0);
}

static CU_TestInfo tests[] = {
	{"BillingService: every RPC x caller x target x credential answers as isolation demands",
	 test_billing_service_is_tenant_isolated},
	{"DirectoryService: every RPC x caller x target x credential answers as isolation demands",
	 test_directory_service_is_tenant_isolated},
	{"AdminService: vendor only, for every RPC x caller x target x credential",
	 test_admin_service_is_vendor_only},
	{"every RPC x caller: one reference out of reach answers as a missing one",
	 test_one_reference_out_of_reach_reads_like_a_missing_one},
	{"EventService: every RPC x caller x target x credential answers as isolation demands",
	 test_event_service_is_tenant_isolated},
	{"billingd survives every case and stops cleanly",
	 test_billingd_survives_and_stops_cleanly},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"isolation sweep", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD [--verbose]", suites);
}
