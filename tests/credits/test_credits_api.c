/*
 * test_credits_api.c - credits and installer payment policies through the
 * SDK against the real billingd (started on port 0 with a fresh data
 * directory): assignments down the tree with exact balances and logs, the
 * refused ones with exact statuses, the policy before and after it is
 * granted, and 16 threads racing for one balance; then billingd is stopped
 * and the ledger is checked, in process and with the ledger_check tool.
 *
 * usage: test_credits_api <billingd> <ledger_check>
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_ledger.h"
#include "spt_billingd.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_sdk.h"
#include "spt_store.h"

/* gRPC status codes as numbers (the SDK reports them in spb_error). */
enum { ST_INVALID_ARGUMENT = 3, ST_FAILED_PRECONDITION = 9, ST_PERMISSION_DENIED = 7 };

#define THREADS 16
#define ROUNDS 50
#define RACE_START 10000
#define RACE_MAX_AMOUNT 40

static spt_billingd srv;
static spb_client *client; /* vendor key */

/* SIGTERM and wait; 0 when billingd exited cleanly with status 0. */
static int stop_billingd(void)
{
	spb_client_free(client);
	client = NULL;
	return spt_billingd_stop(&srv) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Accounts and their keys                                                   */

#define MAX_KEYS 64
static spt_account keys[MAX_KEYS];
static size_t n_keys;

static const char *key_of(const char *account)
{
	return spt_key_of(keys, n_keys, account);
}

/* Creates an account under parent (as the vendor) and a key for it. */
static int make_account(const char *id, int role, const char *parent)
{
	spt_account *a = &keys[n_keys];
	int rc;

	if (n_keys == MAX_KEYS)
		return -1;
	a->id = id;
	a->role = role;
	a->parent = parent;
	rc = spt_create_tree(client, a, 1);
	if (rc == 0)
		n_keys++;
	return rc;
}

/* Call options acting as `as` ("vendor" = the client's own key). */
static spb_call_options as_opts(const char *as)
{
	spb_call_options o = SPB_CALL_OPTIONS_INIT;

	if (strcmp(as, "vendor") != 0)
		o.api_key = key_of(as);
	return o;
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */

/* AssignCredits as `as`; from may be NULL (the caller). No assertions:
 * safe on any thread. *out (may be NULL) is the response, caller frees. */
static int assign_raw(const char *as, const char *from, const char *to, int64_t credits,
		      Smartplus__Billing__V1__AssignCreditsResponse **out)
{
	Smartplus__Billing__V1__AssignCreditsRequest r =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *tmp = NULL;
	spb_call_options o = as_opts(as);
	int rc;

	r.account_id = (char *)(from ? from : "");
	r.to_account_id = (char *)to;
	r.credits = credits;
	rc = spb_billing_assign_credits(client, &r, out ? out : &tmp, &o);
	spb_message_free(tmp);
	return rc;
}

/* assign_raw() on the main thread, checking the response's shape. */
static int assign(const char *as, const char *from, const char *to, int64_t credits,
		  int64_t *from_after, int64_t *to_after)
{
	Smartplus__Billing__V1__AssignCreditsResponse *out = NULL;
	int rc = assign_raw(as, from, to, credits, &out);

	if (rc == 0) {
		CU_ASSERT(strncmp(out->transfer_id, "trf_", 4) == 0);
		CU_ASSERT_EQUAL(strlen(out->transfer_id), 20);
		if (from_after)
			*from_after = out->from_balance;
		if (to_after)
			*to_after = out->to_balance;
	}
	spb_message_free(out);
	return rc;
}

/* Balance of account read as `as`; INT64_MIN when the call failed. */
static int64_t balance_as(const char *as, const char *account)
{
	Smartplus__Billing__V1__GetCreditBalanceRequest r =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditBalanceResponse *out = NULL;
	spb_call_options o = as_opts(as);
	int64_t b = INT64_MIN;

	r.account_id = (char *)account;
	if (spb_billing_get_credit_balance(client, &r, &out, &o) == 0) {
		CU_ASSERT_STRING_EQUAL(out->account_id, account[0] ? account : as);
		b = out->credits;
	}
	spb_message_free(out);
	return b;
}

static int64_t balance(const char *account)
{
	return balance_as("vendor", account);
}

static Smartplus__Billing__V1__ListCreditLogsResponse *logs(const char *as, const char *account,
							    int kind, int page_size,
							    const char *token)
{
	Smartplus__Billing__V1__ListCreditLogsRequest r =
		SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_REQUEST__INIT;
	Smartplus__Billing__V1__ListCreditLogsResponse *out = NULL;
	spb_call_options o = as_opts(as);

	r.account_id = (char *)account;
	r.kind = kind;
	r.page_size = page_size;
	r.page_token = (char *)(token ? token : "");
	if (spb_billing_list_credit_logs(client, &r, &out, &o) != 0)
		return NULL;
	return out;
}

/* The last call failed with this status (and reason, if not NULL). */
static int failed_with(int rc, int code, const char *reason)
{
	const spb_error *e = spb_error_last();

	if (rc == 0 || e->grpc_code != code || (reason && strcmp(e->reason, reason) != 0)) {
		fprintf(stderr, "  expected status %d%s%s, got rc %d status %d reason '%s': %s\n",
			code, reason ? " " : "", reason ? reason : "", rc, e->grpc_code, e->reason,
			e->message);
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------ */
/* The tree                                                                  */

/*
 * vendor
 *   d1 DISTRIBUTOR
 *     s1 SUB_DISTRIBUTOR
 *       i1 INSTALLER
 *         p1 PROPERTY_MANAGER
 *       i2 INSTALLER
 *     s2 SUB_DISTRIBUTOR
 *     pd PROPERTY_MANAGER
 *   d2 DISTRIBUTOR (a foreign tree)
 *     i3 INSTALLER
 */
static int suite_init(void)
{
	static const struct {
		const char *id;
		int role;
		const char *parent;
	} tree[] = {
		{"d1", ROLE(DISTRIBUTOR), "vendor"},  {"s1", ROLE(SUB_DISTRIBUTOR), "d1"},
		{"i1", ROLE(INSTALLER), "s1"},        {"p1", ROLE(PROPERTY_MANAGER), "i1"},
		{"i2", ROLE(INSTALLER), "s1"},        {"s2", ROLE(SUB_DISTRIBUTOR), "d1"},
		{"pd", ROLE(PROPERTY_MANAGER), "d1"}, {"d2", ROLE(DISTRIBUTOR), "vendor"},
		{"i3", ROLE(INSTALLER), "d2"},
	};

	SPT_INIT(spt_billingd_start(&srv, NULL));
	client = spt_client_to(srv.target, srv.admin_key, 20000);
	SPT_INIT(client ? 0 : -1);
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		SPT_INIT(make_account(tree[i].id, tree[i].role, tree[i].parent));
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(client);
	client = NULL;
	spt_billingd_free(&srv);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_vendor_funds_a_distributor_from_issuance(void)
{
	int64_t from = 0, to = 0;

	CU_ASSERT_EQUAL(balance("d1"), 0);
	CU_ASSERT_EQUAL_FATAL(assign("vendor", NULL, "d1", 1000, &from, &to), 0);
	CU_ASSERT_EQUAL(from, -1000);
	CU_ASSERT_EQUAL(to, 1000);
	CU_ASSERT_EQUAL(balance("vendor"), -1000);
	CU_ASSERT_EQUAL(balance_as("d1", ""), 1000);
}

static void test_assign_down_the_tree(void)
{
	int64_t from = 0, to = 0;

	CU_ASSERT_EQUAL(assign("d1", NULL, "s1", 400, &from, &to), 0);
	CU_ASSERT_EQUAL(from, 600);
	CU_ASSERT_EQUAL(to, 400);
	CU_ASSERT_EQUAL(assign("s1", "s1", "i1", 150, &from, &to), 0);
	CU_ASSERT_EQUAL(from, 250);
	CU_ASSERT_EQUAL(to, 150);
	CU_ASSERT_EQUAL(assign("i1", NULL, "p1", 40, &from, &to), 0);
	CU_ASSERT_EQUAL(from, 110);
	CU_ASSERT_EQUAL(to, 40);
	/* a distributor may act for its sub-distributor, and pay a PM of its own */
	CU_ASSERT_EQUAL(assign("d1", "s1", "i2", 50, &from, &to), 0);
	CU_ASSERT_EQUAL(from, 200);
	CU_ASSERT_EQUAL(to, 50);
	CU_ASSERT_EQUAL(assign("d1", NULL, "pd", 25, &from, &to), 0);
	CU_ASSERT_EQUAL(from, 575);

	CU_ASSERT_EQUAL(balance("vendor"), -1000);
	CU_ASSERT_EQUAL(balance("d1"), 575);
	CU_ASSERT_EQUAL(balance("s1"), 200);
	CU_ASSERT_EQUAL(balance("i1"), 110);
	CU_ASSERT_EQUAL(balance("p1"), 40);
	CU_ASSERT_EQUAL(balance("i2"), 50);
	CU_ASSERT_EQUAL(balance("pd"), 25);
	/* read by the account itself and by an ancestor */
	CU_ASSERT_EQUAL(balance_as("p1", ""), 40);
	CU_ASSERT_EQUAL(balance_as("s1", "p1"), 40);
	CU_ASSERT_EQUAL(balance_as("d1", "i1"), 110);
}

static void test_credit_logs_show_both_sides_newest_first(void)
{
	Smartplus__Billing__V1__ListCreditLogsResponse *r = logs("s1", "", 0, 0, NULL);
	Smartplus__Billing__V1__CreditLogEntry *e;
	char id[LEDGER_ID_MAX];

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL_FATAL(r->n_entries, 3);
	e = r->entries[0]; /* d1 acting for s1: 50 to i2 */
	CU_ASSERT_STRING_EQUAL(e->account_id, "s1");
	CU_ASSERT_STRING_EQUAL(e->counterparty_id, "i2");
	CU_ASSERT_EQUAL(e->delta, -50);
	CU_ASSERT_EQUAL(e->balance_after, 200);
	CU_ASSERT_EQUAL(e->kind, KIND(ALLOCATION));
	CU_ASSERT_STRING_EQUAL(e->actor_id, "d1");
	CU_ASSERT_PTR_NOT_NULL(e->create_time);
	e = r->entries[1];
	CU_ASSERT_STRING_EQUAL(e->counterparty_id, "i1");
	CU_ASSERT_EQUAL(e->delta, -150);
	CU_ASSERT_EQUAL(e->balance_after, 250);
	CU_ASSERT_STRING_EQUAL(e->actor_id, "s1");
	e = r->entries[2];
	CU_ASSERT_STRING_EQUAL(e->counterparty_id, "d1");
	CU_ASSERT_EQUAL(e->delta, 400);
	CU_ASSERT_EQUAL(e->balance_after, 400);
	CU_ASSERT_STRING_EQUAL(r->next_page_token, "");
	snprintf(id, sizeof(id), "%s", r->entries[1]->transfer_id);
	spb_message_free(r);
	/* the same transfer on the other side */
	r = logs("i1", "i1", 0, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL_FATAL(r->n_entries, 2);
	CU_ASSERT_STRING_EQUAL(r->entries[1]->transfer_id, id);
	CU_ASSERT_STRING_EQUAL(r->entries[1]->counterparty_id, "s1");
	CU_ASSERT_EQUAL(r->entries[1]->delta, 150);
	CU_ASSERT_EQUAL(r->entries[1]->balance_after, 150);
	CU_ASSERT_EQUAL(r->entries[0]->delta, -40);
	CU_ASSERT_EQUAL(r->entries[0]->balance_after, 110);
	spb_message_free(r);
}

static void test_credit_logs_page_and_filter(void)
{
	Smartplus__Billing__V1__ListCreditLogsRequest q =
		SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_REQUEST__INIT;
	Smartplus__Billing__V1__ListCreditLogsResponse *r, *r2;
	Google__Protobuf__Timestamp future = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	spb_call_options o = as_opts("d1");
	char *tok;
	int rc;

	/* d1: +1000 from vendor, -400 to s1, -25 to pd: pages of 2 */
	r = logs("d1", "", 0, 2, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->n_entries, 2);
	CU_ASSERT_EQUAL(r->entries[0]->delta, -25);
	CU_ASSERT_EQUAL(r->entries[1]->delta, -400);
	CU_ASSERT_NOT_EQUAL_FATAL(r->next_page_token[0], '\0');
	tok = strdup(r->next_page_token);
	spb_message_free(r);
	r = logs("d1", "", 0, 2, tok);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->n_entries, 1);
	CU_ASSERT_EQUAL(r->entries[0]->delta, 1000);
	CU_ASSERT_STRING_EQUAL(r->entries[0]->counterparty_id, "vendor");
	CU_ASSERT_STRING_EQUAL(r->next_page_token, "");
	spb_message_free(r);
	/* a token is for its own list only */
	r = logs("d1", "", KIND(SPEND), 2, tok);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT(failed_with(-1, ST_INVALID_ARGUMENT, NULL));
	free(tok);
	/* by kind: nothing but allocations so far */
	r = logs("d1", "", KIND(PURCHASE), 0, NULL);
	r2 = logs("d1", "", KIND(ALLOCATION), 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
	CU_ASSERT_EQUAL(r->n_entries, 0);
	CU_ASSERT_EQUAL(r2->n_entries, 3);
	spb_message_free(r);
	spb_message_free(r2);
	/* by time: nothing from a day ahead on; everything before it */
	future.seconds = time(NULL) + 86400;
	q.start_time = &future;
	rc = spb_billing_list_credit_logs(client, &q, &r, &o);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(r->n_entries, 0);
	spb_message_free(r);
	q.start_time = NULL;
	q.end_time = &future;
	rc = spb_billing_list_credit_logs(client, &q, &r, &o);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(r->n_entries, 3);
	spb_message_free(r);
	q.start_time = &future;
	rc = spb_billing_list_credit_logs(client, &q, &r, &o);
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	/* not someone else's log */
	CU_ASSERT_PTR_NULL(logs("s1", "d1", 0, 0, NULL));
	CU_ASSERT(failed_with(-1, ST_PERMISSION_DENIED, NULL));
	CU_ASSERT_PTR_NULL(logs("d2", "i1", 0, 0, NULL));
	CU_ASSERT(failed_with(-1, ST_PERMISSION_DENIED, NULL));
}

static void test_refused_assignments_change_nothing(void)
{
	Smartplus__Billing__V1__ListCreditLogsResponse *r;
	int rc;

	/* s1 holds 200 */
	rc = assign("s1", NULL, "s2", 10, NULL, NULL); /* a sibling */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("s1", NULL, "d1", 10, NULL, NULL); /* its parent */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("s1", NULL, "vendor", 10, NULL, NULL); /* the root */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("s1", NULL, "s1", 10, NULL, NULL); /* itself */
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	CU_ASSERT(strstr(spb_error_last()->message,
			 "to_account_id: must be a strict descendant of 's1'") != NULL);
	rc = assign("s1", NULL, "i3", 10, NULL, NULL); /* a foreign tree */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("s1", NULL, "nobody", 10, NULL, NULL); /* no such account: same answer */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("s1", NULL, "i1", 0, NULL, NULL); /* zero */
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = assign("s1", NULL, "i1", -5, NULL, NULL);
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = assign("s1", NULL, "i1", 201, NULL, NULL); /* more than the balance */
	CU_ASSERT(failed_with(rc, ST_FAILED_PRECONDITION, "INSUFFICIENT_CREDITS"));
	CU_ASSERT_EQUAL(rc, SPB_EPRECONDITION);
	rc = assign("p1", NULL, "i1", 1, NULL, NULL); /* upwards, from a leaf */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("s1", "d1", "i1", 1, NULL, NULL); /* for an account it may not act for */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("d1", "s1", "s2", 1, NULL, NULL); /* reachable, but not below the sender */
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = assign("d1", NULL, "d2", 1, NULL, NULL); /* another distributor */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = assign("i3", NULL, "i3", 1, NULL, NULL);
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = assign("i2", NULL, "p1", 1, NULL, NULL); /* a cousin's PM */
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));

	CU_ASSERT_EQUAL(balance("s1"), 200);
	CU_ASSERT_EQUAL(balance("i1"), 110);
	CU_ASSERT_EQUAL(balance("d1"), 575);
	CU_ASSERT_EQUAL(balance("s2"), 0);
	CU_ASSERT_EQUAL(balance("vendor"), -1000);
	r = logs("s1", "", 0, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->n_entries, 3);
	spb_message_free(r);
	/* the whole balance may go, and then nothing more */
	CU_ASSERT_EQUAL(assign("s1", NULL, "i1", 200, NULL, NULL), 0);
	rc = assign("s1", NULL, "i1", 1, NULL, NULL);
	CU_ASSERT(failed_with(rc, ST_FAILED_PRECONDITION, "INSUFFICIENT_CREDITS"));
	CU_ASSERT_EQUAL(balance("s1"), 0);
	CU_ASSERT_EQUAL(balance("i1"), 310);
	CU_ASSERT_EQUAL(balance_as("s1", "d1"), INT64_MIN);
	CU_ASSERT(failed_with(-1, ST_PERMISSION_DENIED, NULL));
}

/* AssignCredits as the vendor over a raw call with an idempotency key: the
 * status, message, ErrorInfo reason and metadata as sent. */
static void assign_with_key(grpc_channel *ch, const char *key, const char *from, const char *to,
			    int64_t credits, spt_raw_result *r)
{
	Smartplus__Billing__V1__AssignCreditsRequest q =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	spt_md md[1] = {{"idempotency-key", key, 0}};
	uint8_t buf[256];
	size_t len;
	q.account_id = (char *)from;
	q.to_account_id = (char *)to;
	q.credits = credits;
	len = protobuf_c_message_pack(&q.base, buf);
	spt_raw_call(ch, SPT_BILLING "AssignCredits", srv.admin_key, md, 1, buf, len, 10000, r);
}

/* R17: a replayed failure is the first answer with all of its ErrorInfo
 * metadata (balance and requested of INSUFFICIENT_CREDITS, which the
 * handler attaches with rpc_error_meta), even once the balance changed. */
static void test_replayed_failure_keeps_its_metadata(void)
{
	grpc_channel *ch = spt_raw_channel(srv.target);
	spt_raw_result first, again, fresh;
	char key[64];

	CU_ASSERT_EQUAL_FATAL(make_account("r17s", ROLE(SUB_DISTRIBUTOR), "d1"), 0);
	CU_ASSERT_EQUAL_FATAL(make_account("r17i", ROLE(INSTALLER), "r17s"), 0);
	spt_unique_id(key, sizeof(key), "r17-meta-");
	assign_with_key(ch, key, "r17s", "r17i", 7, &first);
	CU_ASSERT_EQUAL(first.status, ST_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(first.reason, "INSUFFICIENT_CREDITS");
	CU_ASSERT_STRING_EQUAL(first.meta, "balance=0\nrequested=7\n");
	/* Now r17s could pay: a run would succeed, a replay must not. */
	CU_ASSERT_EQUAL_FATAL(assign("d1", NULL, "r17s", 20, NULL, NULL), 0);
	assign_with_key(ch, key, "r17s", "r17i", 7, &again);
	CU_ASSERT_EQUAL(again.status, first.status);
	CU_ASSERT_STRING_EQUAL(again.message, first.message);
	CU_ASSERT_STRING_EQUAL(again.reason, first.reason);
	CU_ASSERT_STRING_EQUAL(again.meta, first.meta);
	CU_ASSERT_EQUAL(balance("r17s"), 20);
	CU_ASSERT_EQUAL(balance("r17i"), 0);
	/* The same request under a new key runs. */
	spt_unique_id(key, sizeof(key), "r17-meta-");
	assign_with_key(ch, key, "r17s", "r17i", 7, &fresh);
	CU_ASSERT_EQUAL(fresh.status, 0);
	CU_ASSERT_STRING_EQUAL(fresh.meta, "");
	CU_ASSERT_EQUAL(balance("r17s"), 13);
	spt_raw_free(&first);
	spt_raw_free(&again);
	spt_raw_free(&fresh);
	grpc_channel_destroy(ch);
}

/* Set/Get policy helpers. */
static int set_policy(const char *as, const char *installer, int on, const int *methods, size_t n,
		      Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse **out)
{
	Smartplus__Billing__V1__SetInstallerPaymentPolicyRequest r =
		SMARTPLUS__BILLING__V1__SET_INSTALLER_PAYMENT_POLICY_REQUEST__INIT;
	Smartplus__Billing__V1__PaymentMethod m[8];
	spb_call_options o = as_opts(as);
	Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse *tmp = NULL;
	int rc;

	for (size_t i = 0; i < n && i < 8; i++)
		m[i] = methods[i];
	r.installer_id = (char *)installer;
	r.pay_by_installer = on;
	r.n_allowed_methods = n;
	r.allowed_methods = m;
	rc = spb_billing_set_installer_payment_policy(client, &r, out ? out : &tmp, &o);
	spb_message_free(tmp);
	return rc;
}

static Smartplus__Billing__V1__GetInstallerPaymentPolicyResponse *get_policy(const char *as,
									     const char *installer)
{
	Smartplus__Billing__V1__GetInstallerPaymentPolicyRequest r =
		SMARTPLUS__BILLING__V1__GET_INSTALLER_PAYMENT_POLICY_REQUEST__INIT;
	Smartplus__Billing__V1__GetInstallerPaymentPolicyResponse *out = NULL;
	spb_call_options o = as_opts(as);

	r.installer_id = (char *)installer;
	if (spb_billing_get_installer_payment_policy(client, &r, &out, &o) != 0)
		return NULL;
	return out;
}

static void test_installer_payment_policy(void)
{
	static const int none[1] = {0};
	static const int stripe_credits[2] = {METHOD(STRIPE), METHOD(CREDITS)};
	static const int twice[2] = {METHOD(PAYPAL), METHOD(PAYPAL)};
	static const int coupon[1] = {METHOD(COUPON)};
	Smartplus__Billing__V1__GetInstallerPaymentPolicyResponse *g;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse *s = NULL;
	int rc;

	/* before: the default, readable by the installer and its ancestors */
	g = get_policy("i1", "i1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->policy);
	CU_ASSERT_STRING_EQUAL(g->policy->installer_id, "i1");
	CU_ASSERT_FALSE(g->policy->pay_by_installer);
	CU_ASSERT_EQUAL(g->policy->n_allowed_methods, 0);
	CU_ASSERT_STRING_EQUAL(g->policy->updated_by, "");
	spb_message_free(g);
	CU_ASSERT_PTR_NOT_NULL(g = get_policy("d1", "i1"));
	spb_message_free(g);

	/* who may not set it, or read it */
	rc = set_policy("i1", "i1", 1, coupon, 1, NULL);
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = set_policy("i2", "i1", 1, coupon, 1, NULL);
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = set_policy("s2", "i1", 1, coupon, 1, NULL);
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = set_policy("d2", "i1", 1, coupon, 1, NULL);
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	rc = set_policy("p1", "i1", 1, coupon, 1, NULL);
	CU_ASSERT(failed_with(rc, ST_PERMISSION_DENIED, NULL));
	CU_ASSERT_PTR_NULL(get_policy("d2", "i1"));
	CU_ASSERT(failed_with(-1, ST_PERMISSION_DENIED, NULL));
	CU_ASSERT_PTR_NULL(get_policy("p1", "i1"));
	CU_ASSERT(failed_with(-1, ST_PERMISSION_DENIED, NULL));
	/* what may not be set */
	rc = set_policy("s1", "i1", 1, none, 0, NULL);
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = set_policy("s1", "i1", 1, twice, 2, NULL);
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = set_policy("s1", "i1", 1, none, 1, NULL); /* PAYMENT_METHOD_UNSPECIFIED */
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = set_policy("s1", "p1", 1, coupon, 1, NULL); /* not an installer */
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));
	rc = set_policy("d1", "s1", 1, coupon, 1, NULL);
	CU_ASSERT(failed_with(rc, ST_INVALID_ARGUMENT, NULL));

	/* granted by its grandparent */
	CU_ASSERT_EQUAL_FATAL(set_policy("d1", "i1", 1, stripe_credits, 2, &s), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s->policy);
	CU_ASSERT_TRUE(s->policy->pay_by_installer);
	CU_ASSERT_STRING_EQUAL(s->policy->updated_by, "d1");
	CU_ASSERT_PTR_NOT_NULL(s->policy->update_time);
	spb_message_free(s);
	g = get_policy("i1", "i1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_TRUE(g->policy->pay_by_installer);
	CU_ASSERT_EQUAL_FATAL(g->policy->n_allowed_methods, 2);
	CU_ASSERT_EQUAL(g->policy->allowed_methods[0], METHOD(STRIPE));
	CU_ASSERT_EQUAL(g->policy->allowed_methods[1], METHOD(CREDITS));
	CU_ASSERT_STRING_EQUAL(g->policy->updated_by, "d1");
	CU_ASSERT_PTR_NOT_NULL(g->policy->update_time);
	spb_message_free(g);
	/* the vendor reaches it too; its sibling keeps the default */
	CU_ASSERT_EQUAL(set_policy("vendor", "i3", 1, coupon, 1, NULL), 0);
	g = get_policy("s1", "i2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_FALSE(g->policy->pay_by_installer);
	spb_message_free(g);

	/* changed by its parent, then withdrawn */
	CU_ASSERT_EQUAL(set_policy("s1", "i1", 1, coupon, 1, NULL), 0);
	g = get_policy("i1", "i1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL_FATAL(g->policy->n_allowed_methods, 1);
	CU_ASSERT_EQUAL(g->policy->allowed_methods[0], METHOD(COUPON));
	CU_ASSERT_STRING_EQUAL(g->policy->updated_by, "s1");
	spb_message_free(g);
	CU_ASSERT_EQUAL(set_policy("s1", "i1", 0, none, 0, NULL), 0);
	g = get_policy("i1", "i1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_FALSE(g->policy->pay_by_installer);
	CU_ASSERT_EQUAL(g->policy->n_allowed_methods, 0);
	spb_message_free(g);
}

/* ------------------------------------------------------------------------ */
/* Concurrency                                                               */

#define RECEIVERS 16
static const char *race_sender = "dc";
static char receivers[RECEIVERS][16];

typedef struct racer {
	pthread_t th;
	unsigned seed;
	int attempts, successes, refusals, errors;
	int64_t assigned;
} racer;

static void *race(void *arg)
{
	racer *r = arg;

	for (int i = 0; i < ROUNDS; i++) {
		int64_t amount = 1 + rand_r(&r->seed) % RACE_MAX_AMOUNT;
		const char *to = receivers[rand_r(&r->seed) % RECEIVERS];
		int rc = assign_raw(race_sender, NULL, to, amount, NULL);

		r->attempts++;
		if (rc == 0) {
			r->successes++;
			r->assigned += amount;
		} else if (spb_error_last()->grpc_code == ST_FAILED_PRECONDITION &&
			   strcmp(spb_error_last()->reason, "INSUFFICIENT_CREDITS") == 0) {
			r->refusals++;
		} else {
			fprintf(stderr, "  racer: unexpected status %d: %s\n",
				spb_error_last()->grpc_code, spb_error_last()->message);
			r->errors++;
		}
	}
	return NULL;
}

static char check_report[512];

static void test_concurrent_assigns_never_overdraw(void)
{
	static const int roles[3] = {ROLE(SUB_DISTRIBUTOR), ROLE(INSTALLER),
				     ROLE(PROPERTY_MANAGER)};
	racer r[THREADS];
	int attempts = 0, successes = 0, refusals = 0, errors = 0;
	int64_t assigned = 0, received = 0, left;

	CU_ASSERT_EQUAL_FATAL(make_account(race_sender, ROLE(DISTRIBUTOR), "vendor"), 0);
	for (int i = 0; i < RECEIVERS; i++) {
		snprintf(receivers[i], sizeof(receivers[i]), "rc%02d", i);
		CU_ASSERT_EQUAL_FATAL(make_account(receivers[i], roles[i % 3], race_sender), 0);
	}
	CU_ASSERT_EQUAL_FATAL(assign("vendor", NULL, race_sender, RACE_START, NULL, NULL), 0);

	memset(r, 0, sizeof(r));
	for (int t = 0; t < THREADS; t++) {
		r[t].seed = 0x5eed + 7919u * (unsigned)t;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&r[t].th, NULL, race, &r[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(r[t].th, NULL);
		attempts += r[t].attempts;
		successes += r[t].successes;
		refusals += r[t].refusals;
		errors += r[t].errors;
		assigned += r[t].assigned;
	}
	left = balance(race_sender);
	printf("\n  concurrency: %d threads x %d rounds, amounts 1..%d from a balance of %d\n",
	       THREADS, ROUNDS, RACE_MAX_AMOUNT, RACE_START);
	printf("  attempts %d, successes %d, refusals (INSUFFICIENT_CREDITS) %d, other errors %d\n",
	       attempts, successes, refusals, errors);
	printf("  assigned %" PRId64 "; final balance of %s %" PRId64 "\n", assigned, race_sender,
	       left);
	printf("  receivers:");
	for (int i = 0; i < RECEIVERS; i++) {
		int64_t b = balance(receivers[i]);
		CU_ASSERT(b >= 0);
		received += b;
		printf(" %s=%" PRId64, receivers[i], b);
	}
	printf(" (sum %" PRId64 ")\n", received);
	CU_ASSERT_EQUAL(attempts, THREADS * ROUNDS);
	CU_ASSERT_EQUAL(errors, 0);
	CU_ASSERT_EQUAL(successes + refusals, attempts);
	CU_ASSERT(refusals > 0); /* the balance did run short */
	CU_ASSERT(assigned <= RACE_START);
	CU_ASSERT(left >= 0);
	CU_ASSERT_EQUAL(left, RACE_START - assigned);
	CU_ASSERT_EQUAL(received, assigned);
}

/* Runs after everything else: stop billingd, then check its ledger. */
static void test_ledger_check_on_the_stopped_data_dir(void)
{
	spt_store st;
	store_txn *txn = NULL;
	char out[512] = "";
	int64_t b;
	int rc;

	CU_ASSERT_EQUAL_FATAL(stop_billingd(), 0);

	CU_ASSERT_EQUAL_FATAL(spt_store_open_dir(&st, srv.data_dir), 0);
	CU_ASSERT_EQUAL_FATAL(store_read_begin(st.env, &txn), 0);
	rc = ledger_check(txn, check_report, sizeof(check_report));
	printf("\n  in-process check: %s\n", check_report);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(strncmp(check_report, "ledger ok: ", 11) == 0);
	CU_ASSERT(strstr(check_report, "sum 0") != NULL);
	CU_ASSERT(ledger_balance(txn, LEDGER_ISSUER, &b) == 0);
	CU_ASSERT_EQUAL(b, -(1000 + RACE_START));
	store_read_end(txn);
	spt_store_close(&st);

	rc = spt_billingd_check_data(&srv, spt_arg("ledger_check"), out, sizeof(out));
	printf("  %s: %s (exit %d)\n", "ledger_check", out, rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(out, check_report);
}

static CU_TestInfo tests[] = {
	{"vendor funds a distributor from issuance", test_vendor_funds_a_distributor_from_issuance},
	{"assign down the tree", test_assign_down_the_tree},
	{"credit logs show both sides newest first", test_credit_logs_show_both_sides_newest_first},
	{"credit logs page and filter", test_credit_logs_page_and_filter},
	{"refused assignments change nothing", test_refused_assignments_change_nothing},
	{"R17: a replayed INSUFFICIENT_CREDITS keeps its ErrorInfo metadata",
	 test_replayed_failure_keeps_its_metadata},
	{"installer payment policy", test_installer_payment_policy},
	{"concurrent assigns never overdraw", test_concurrent_assigns_never_overdraw},
	{"ledger check on the stopped data dir", test_ledger_check_on_the_stopped_data_dir},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"credits_api", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD LEDGER_CHECK", suites);
}
