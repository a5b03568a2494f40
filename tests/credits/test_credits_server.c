/*
 * test_credits_server.c - the functions the order engine calls inside its
 * own write transaction: credits_spend(), credits_grant() (server/credits.c)
 * and policy_allowed_methods() (server/policy.c), on a fresh temporary
 * store per test, linked from spb_server_core without the gRPC server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_run.h"
#include "spt_store.h"

#include "../../server/billingd.h"
#include "../../server/credits.h"
#include "../../server/policy.h"
#include "store_policy.h"
#include "store_ledger.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x

/* main.c is not linked: the process state lives here. */
billingd_state billingd;

static spt_store store; /* a fresh one per test */
static store_env *env;

static void open_store(void)
{
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&store, 0, 0), 0);
	env = store.env;
	billingd.store = env;
}

static void close_store(void)
{
	CU_ASSERT(spt_store_close(&store) == 0);
	env = NULL;
	billingd.store = NULL;
}

typedef struct move {
	int spend; /* credits_spend, else credits_grant */
	const char *account;
	int64_t credits;
	char id[40];
	int rc;
} move;

static int apply_move(store_txn *w, void *arg)
{
	move *m = arg;

	m->rc = m->spend ? credits_spend(w, m->account, m->credits, "ord_x", "actor", m->id)
			 : credits_grant(w, m->account, m->credits, "ord_x", "actor", m->id);
	return m->rc;
}

static int run(int spend, const char *account, int64_t credits, char id[40])
{
	move m = {spend, account, credits, "", 0};
	int rc = store_write_sync(env, apply_move, &m);

	if (id)
		memcpy(id, m.id, sizeof(m.id));
	return rc;
}

static int64_t balance(const char *account)
{
	store_txn *t;
	int64_t b = -999;

	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	CU_ASSERT(ledger_balance(t, account, &b) == 0);
	store_read_end(t);
	return b;
}

static void test_grant_then_spend_moves_through_the_issuer(void)
{
	char id[40];
	ledger_transfer_rec *rec = NULL;
	store_txn *t;
	char rep[256];

	open_store();
	CU_ASSERT_EQUAL(run(0, "pm1", 120, id), 0);
	CU_ASSERT_STRING_EQUAL(id, "trf_0000000000000001");
	CU_ASSERT_EQUAL(run(1, "pm1", 45, id), 0);
	CU_ASSERT_STRING_EQUAL(id, "trf_0000000000000002");
	CU_ASSERT_EQUAL(balance("pm1"), 75);
	CU_ASSERT_EQUAL(balance("vendor"), -75);
	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	CU_ASSERT_FATAL(ledger_transfer_get(t, id, &rec) == 0);
	CU_ASSERT_EQUAL(rec->kind, LEDGER_SPEND);
	CU_ASSERT_STRING_EQUAL(rec->from_id, "pm1");
	CU_ASSERT_STRING_EQUAL(rec->to_id, "vendor");
	CU_ASSERT_STRING_EQUAL(rec->order_id, "ord_x");
	store_record_free(rec);
	CU_ASSERT_FATAL(ledger_transfer_get(t, "trf_0000000000000001", &rec) == 0);
	CU_ASSERT_EQUAL(rec->kind, LEDGER_PURCHASE);
	store_record_free(rec);
	CU_ASSERT_EQUAL(ledger_check(t, rep, sizeof(rep)), 0);
	store_read_end(t);
	close_store();
}

static void test_spend_beyond_the_balance_is_refused(void)
{
	char id[40] = "junk";

	open_store();
	CU_ASSERT_EQUAL(run(0, "inst", 10, NULL), 0);
	CU_ASSERT_EQUAL(run(1, "inst", 11, id), LEDGER_INSUFFICIENT);
	CU_ASSERT_STRING_EQUAL(id, "");
	CU_ASSERT_EQUAL(run(1, "nobody", 1, NULL), LEDGER_INSUFFICIENT);
	CU_ASSERT_EQUAL(run(1, "inst", 0, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(run(0, "inst", -1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(run(1, "vendor", 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(run(0, "bad id!", 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(balance("inst"), 10);
	CU_ASSERT_EQUAL(run(1, "inst", 10, NULL), 0);
	CU_ASSERT_EQUAL(balance("inst"), 0);
	close_store();
}

typedef struct set_pol {
	const char *installer;
	int on;
	int32_t methods[4];
	size_t n;
} set_pol;

static int apply_policy(store_txn *w, void *arg)
{
	set_pol *p = arg;
	policy_record rec = POLICY_RECORD_INIT;

	rec.installer_id = (char *)p->installer;
	rec.pay_by_installer = p->on;
	rec.allowed_methods = p->methods;
	rec.n_allowed_methods = p->n;
	rec.updated_by = "dist";
	return policy_put(w, &rec);
}

static void allowed(const char *installer, int *on, uint32_t *mask)
{
	store_txn *t;

	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	CU_ASSERT(policy_allowed_methods(t, installer, on, mask) == 0);
	store_read_end(t);
}

static void test_policy_mask_follows_the_stored_policy(void)
{
	set_pol p = {"inst", 1, {METHOD(STRIPE), METHOD(CREDITS)}, 2};
	int on = -1;
	uint32_t mask = 99;

	open_store();
	allowed("inst", &on, &mask); /* default */
	CU_ASSERT_EQUAL(on, 0);
	CU_ASSERT_EQUAL(mask, 0);
	CU_ASSERT_EQUAL(store_write_sync(env, apply_policy, &p), 0);
	allowed("inst", &on, &mask);
	CU_ASSERT_EQUAL(on, 1);
	CU_ASSERT_EQUAL(mask, (1u << METHOD(STRIPE)) | (1u << METHOD(CREDITS)));
	allowed("other", &on, &mask);
	CU_ASSERT_EQUAL(on, 0);
	CU_ASSERT_EQUAL(mask, 0);
	p.on = 0; /* switched off: nothing is allowed, whatever is stored */
	CU_ASSERT_EQUAL(store_write_sync(env, apply_policy, &p), 0);
	allowed("inst", &on, &mask);
	CU_ASSERT_EQUAL(on, 0);
	CU_ASSERT_EQUAL(mask, 0);
	close_store();
}

static CU_TestInfo tests[] = {
	{"grant then spend moves through the issuer",
	 test_grant_then_spend_moves_through_the_issuer},
	{"spend beyond the balance is refused", test_spend_beyond_the_balance_is_refused},
	{"policy mask follows the stored policy", test_policy_mask_follows_the_stored_policy},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"credits_server", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
