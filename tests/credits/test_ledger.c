/*
 * test_ledger.c - the credit ledger (storage/ledger.c) on a fresh temporary
 * store per test: transfer arithmetic, refusals that write nothing, the
 * issuance account, the R15 checker against deliberate corruption, and the
 * credit log's order, pages and filters.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_run.h"
#include "spt_store.h"

#include "store_ledger.h"
#include "store_int.h"

static spt_store store; /* a fresh one per test */
static store_env *env;

static void open_store(void)
{
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&store, 0, 0), 0);
	env = store.env;
}

static void close_store(void)
{
	CU_ASSERT(spt_store_close(&store) == 0);
	env = NULL;
}

/* One ledger_transfer() through the writer. */
typedef struct xfer {
	const char *from, *to;
	int64_t credits;
	int kind;
	int64_t now;
	ledger_result res;
	int keep_on_refusal; /* apply returns 0 even when the ledger refused */
	int rc;
} xfer;

static int apply_xfer(store_txn *w, void *arg)
{
	xfer *x = arg;

	x->rc = ledger_transfer(w, x->from, x->to, x->credits, x->kind, "ord_1", "actor", x->now,
				&x->res);
	return x->keep_on_refusal ? 0 : x->rc;
}

static int transfer(const char *from, const char *to, int64_t credits, int kind, int64_t now,
		    ledger_result *res)
{
	xfer x = {from, to, credits, kind, now, {{0}, 0, 0, 0, 0}, 0, 0};
	int rc = store_write_sync(env, apply_xfer, &x);

	if (res)
		*res = x.res;
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

/* ledger_check() on the current state; report into buf. */
static int check(char *buf, size_t cap)
{
	store_txn *t;
	int rc;

	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	rc = ledger_check(t, buf, cap);
	store_read_end(t);
	return rc;
}

static uint64_t counter(void)
{
	store_txn *t;
	uint64_t v = 0;

	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	CU_ASSERT(store_meta_get(t, "transfer_seq", &v) == 0);
	store_read_end(t);
	return v;
}

static size_t log_count(const char *account)
{
	store_txn *t;
	store_list l;
	size_t n;

	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	CU_ASSERT(ledger_list_logs(t, account, NULL, STORE_PAGE_MAX, NULL, &l) == 0);
	n = l.n;
	store_list_free(&l);
	store_read_end(t);
	return n;
}

/* ------------------------------------------------------------------------ */

static void test_transfer_moves_credits_and_records_both_sides(void)
{
	ledger_result r;
	char rep[256];
	store_txn *t;
	ledger_transfer_rec *rec = NULL;

	open_store();
	CU_ASSERT(transfer("vendor", "dist", 100, LEDGER_PURCHASE, 1000, &r) == 0);
	CU_ASSERT_STRING_EQUAL(r.transfer_id, "trf_0000000000000001");
	CU_ASSERT_EQUAL(r.from_balance, -100);
	CU_ASSERT_EQUAL(r.to_balance, 100);
	CU_ASSERT(transfer("dist", "inst", 30, LEDGER_ALLOCATION, 2000, &r) == 0);
	CU_ASSERT_STRING_EQUAL(r.transfer_id, "trf_0000000000000002");
	CU_ASSERT_EQUAL(r.from_balance, 70);
	CU_ASSERT_EQUAL(r.to_balance, 30);
	CU_ASSERT(transfer("inst", "vendor", 30, LEDGER_SPEND, 3000, &r) == 0);
	CU_ASSERT_EQUAL(r.from_balance, 0);
	CU_ASSERT_EQUAL(r.to_balance, -70);
	CU_ASSERT_EQUAL(balance("vendor"), -70);
	CU_ASSERT_EQUAL(balance("dist"), 70);
	CU_ASSERT_EQUAL(balance("inst"), 0);
	CU_ASSERT_EQUAL(balance("nobody"), 0);
	CU_ASSERT_EQUAL(log_count("vendor"), 2);
	CU_ASSERT_EQUAL(log_count("dist"), 2);
	CU_ASSERT_EQUAL(log_count("inst"), 2);

	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	CU_ASSERT_FATAL(ledger_transfer_get(t, "trf_0000000000000002", &rec) == 0);
	CU_ASSERT_STRING_EQUAL(rec->from_id, "dist");
	CU_ASSERT_STRING_EQUAL(rec->to_id, "inst");
	CU_ASSERT_EQUAL(rec->credits, 30);
	CU_ASSERT_EQUAL(rec->kind, LEDGER_ALLOCATION);
	CU_ASSERT_STRING_EQUAL(rec->order_id, "ord_1");
	CU_ASSERT_STRING_EQUAL(rec->actor_id, "actor");
	CU_ASSERT_EQUAL(rec->create_time, 2000);
	CU_ASSERT_EQUAL(rec->from_balance_after, 70);
	CU_ASSERT_EQUAL(rec->to_balance_after, 30);
	store_record_free(rec);
	store_read_end(t);

	CU_ASSERT_EQUAL(check(rep, sizeof(rep)), 0);
	CU_ASSERT_STRING_EQUAL(rep, "ledger ok: 3 transfers, 3 accounts, sum 0");
	close_store();
}

static void test_insufficient_balance_writes_nothing(void)
{
	xfer x = {"dist", "inst", 41, LEDGER_ALLOCATION, 5000, {{0}, 0, 0, 0, 0}, 1, 0};
	char rep[256];

	open_store();
	CU_ASSERT(transfer("vendor", "dist", 40, LEDGER_PURCHASE, 1000, NULL) == 0);
	/* refused inside apply, and apply keeps its (absent) writes */
	CU_ASSERT(store_write_sync(env, apply_xfer, &x) == 0);
	CU_ASSERT_EQUAL(x.rc, LEDGER_INSUFFICIENT);
	/* and through the writer's rollback path */
	CU_ASSERT_EQUAL(transfer("dist", "inst", 41, LEDGER_ALLOCATION, 5000, NULL),
			LEDGER_INSUFFICIENT);
	CU_ASSERT_EQUAL(transfer("inst", "dist", 1, LEDGER_ALLOCATION, 5000, NULL),
			LEDGER_INSUFFICIENT);
	CU_ASSERT_EQUAL(balance("dist"), 40);
	CU_ASSERT_EQUAL(balance("inst"), 0);
	CU_ASSERT_EQUAL(counter(), 1);
	CU_ASSERT_EQUAL(log_count("dist"), 1);
	CU_ASSERT_EQUAL(log_count("inst"), 0);
	/* the whole balance may go */
	CU_ASSERT(transfer("dist", "inst", 40, LEDGER_ALLOCATION, 6000, NULL) == 0);
	CU_ASSERT_EQUAL(balance("dist"), 0);
	CU_ASSERT_EQUAL(check(rep, sizeof(rep)), 0);
	CU_ASSERT_STRING_EQUAL(rep, "ledger ok: 2 transfers, 3 accounts, sum 0");
	close_store();
}

static void test_only_the_issuer_goes_below_zero(void)
{
	ledger_result r;

	open_store();
	CU_ASSERT(transfer("vendor", "a", 5, LEDGER_PURCHASE, 1, &r) == 0);
	CU_ASSERT(transfer("vendor", "b", 7, LEDGER_PURCHASE, 2, &r) == 0);
	CU_ASSERT_EQUAL(r.from_balance, -12);
	CU_ASSERT_EQUAL(transfer("a", "b", 6, LEDGER_ALLOCATION, 3, NULL), LEDGER_INSUFFICIENT);
	CU_ASSERT_EQUAL(balance("vendor"), -12);
	close_store();
}

static void test_bad_arguments_and_overflow_are_refused(void)
{
	char rep[256];

	open_store();
	CU_ASSERT_EQUAL(transfer("vendor", "a", 0, LEDGER_PURCHASE, 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(transfer("vendor", "a", -5, LEDGER_PURCHASE, 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(transfer("vendor", "vendor", 5, LEDGER_PURCHASE, 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(transfer("vendor", "a", 5, 0, 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(transfer("vendor", "a", 5, 5, 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(transfer("vendor", "", 5, LEDGER_PURCHASE, 1, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(transfer("vendor", "a", 5, LEDGER_PURCHASE, -1, NULL), STORE_INVALID);
	CU_ASSERT(transfer("vendor", "a", INT64_MAX, LEDGER_PURCHASE, 1, NULL) == 0);
	CU_ASSERT_EQUAL(transfer("vendor", "a", 1, LEDGER_PURCHASE, 2, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(transfer("vendor", "b", 1, LEDGER_PURCHASE, 2, NULL), 0);
	/* the issuer is at INT64_MIN now: one more would underflow */
	CU_ASSERT_EQUAL(transfer("vendor", "c", 1, LEDGER_PURCHASE, 3, NULL), STORE_INVALID);
	CU_ASSERT_EQUAL(balance("a"), INT64_MAX);
	CU_ASSERT_EQUAL(balance("vendor"), INT64_MIN);
	CU_ASSERT_EQUAL(counter(), 2);
	CU_ASSERT_EQUAL(check(rep, sizeof(rep)), 0);
	close_store();
}

/* White-box corruption: overwrite a balance record. */
typedef struct corrupt {
	const char *account;
	int64_t credits;
} corrupt;

static int apply_corrupt_balance(store_txn *w, void *arg)
{
	corrupt *c = arg;
	ledger_balance_rec *b = NULL;
	store_key k;
	int rc;

	key_init(&k, LEDGER_KC_BALANCE);
	key_str(&k, c->account);
	rc = store_rec_get(w, DB_LEDGER, &k,
			   &smartplus__billing__store__v1__balance_record__descriptor,
			   (ProtobufCMessage **)&b);
	if (rc != 0)
		return rc;
	b->credits = c->credits;
	rc = store_rec_put(w, DB_LEDGER, &k, &b->base, 0);
	store_record_free(b);
	return rc;
}

static int apply_drop_log_entry(store_txn *w, void *arg)
{
	const char *account = arg;
	store_txn *t = w;
	store_list l;
	const ledger_transfer_rec *rec;
	store_key k;
	int rc = ledger_list_logs(t, account, NULL, 1, NULL, &l);

	if (rc != 0)
		return rc;
	rec = l.items[0];
	key_init(&k, LEDGER_KC_LOG);
	key_str(&k, account);
	key_u64(&k, ~((uint64_t)rec->create_time ^ UINT64_C(0x8000000000000000)));
	key_u64(&k, ~rec->seq);
	rc = store_raw_del(w, DB_LEDGER, &k);
	store_list_free(&l);
	return rc;
}

static void test_check_reports_a_corrupted_balance(void)
{
	corrupt c = {"dist", 71};
	char rep[256];

	open_store();
	CU_ASSERT(transfer("vendor", "dist", 100, LEDGER_PURCHASE, 1000, NULL) == 0);
	CU_ASSERT(transfer("dist", "inst", 30, LEDGER_ALLOCATION, 2000, NULL) == 0);
	CU_ASSERT_EQUAL(check(rep, sizeof(rep)), 0);
	CU_ASSERT(store_write_sync(env, apply_corrupt_balance, &c) == 0);
	CU_ASSERT_EQUAL(check(rep, sizeof(rep)), 1);
	CU_ASSERT_STRING_EQUAL(
		rep, "ledger violation: balance of 'dist' is 71 but its transfers sum to 70");
	/* a negative balance that still sums to zero with the issuer's */
	c.account = "dist";
	c.credits = -30;
	CU_ASSERT(store_write_sync(env, apply_corrupt_balance, &c) == 0);
	c.account = "inst";
	c.credits = 130;
	CU_ASSERT(store_write_sync(env, apply_corrupt_balance, &c) == 0);
	CU_ASSERT_EQUAL(check(rep, sizeof(rep)), 1);
	CU_ASSERT(strstr(rep, "balance of 'dist' is -30") != NULL);
	close_store();
}

static void test_check_reports_a_missing_log_entry(void)
{
	char rep[256];

	open_store();
	CU_ASSERT(transfer("vendor", "dist", 100, LEDGER_PURCHASE, 1000, NULL) == 0);
	CU_ASSERT(transfer("dist", "inst", 30, LEDGER_ALLOCATION, 2000, NULL) == 0);
	CU_ASSERT(store_write_sync(env, apply_drop_log_entry, (void *)"inst") == 0);
	CU_ASSERT_EQUAL(check(rep, sizeof(rep)), 1);
	CU_ASSERT_STRING_EQUAL(
		rep,
		"ledger violation: trf_0000000000000002 is missing from the credit log of 'inst'");
	close_store();
}

/* 25 transfers into "a": i = 1..25 at time 1000 * i, kind PURCHASE for odd
 * i (from vendor), REFUND for even i (from "b", funded first at time 0). */
static void fill_log(void)
{
	CU_ASSERT(transfer("vendor", "b", 1000, LEDGER_PURCHASE, 0, NULL) == 0);
	for (int i = 1; i <= 25; i++) {
		int rc = i % 2 ? transfer("vendor", "a", i, LEDGER_PURCHASE, 1000 * i, NULL)
			       : transfer("b", "a", i, LEDGER_REFUND, 1000 * i, NULL);
		CU_ASSERT(rc == 0);
	}
}

static void test_log_pages_newest_first(void)
{
	store_txn *t;
	store_list l;
	char *tok = NULL;
	int seen = 0, expect = 25, pages = 0;
	int64_t bal = 325; /* 1 + ... + 25 */

	open_store();
	fill_log();
	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	do {
		CU_ASSERT_FATAL(ledger_list_logs(t, "a", NULL, 10, tok, &l) == 0);
		free(tok);
		tok = l.next_page_token ? strdup(l.next_page_token) : NULL;
		pages++;
		for (size_t i = 0; i < l.n; i++, seen++, expect--) {
			const ledger_transfer_rec *r = l.items[i];
			CU_ASSERT_EQUAL(r->credits, expect);
			CU_ASSERT_EQUAL(r->create_time, 1000 * expect);
			CU_ASSERT_STRING_EQUAL(r->to_id, "a");
			CU_ASSERT_EQUAL(r->to_balance_after, bal);
			bal -= expect;
		}
		store_list_free(&l);
	} while (tok);
	CU_ASSERT_EQUAL(seen, 25);
	CU_ASSERT_EQUAL(pages, 3);
	store_read_end(t);
	close_store();
}

static void test_log_filters_by_kind_and_time(void)
{
	ledger_filter f = LEDGER_FILTER_INIT;
	store_txn *t;
	store_list l, other;
	char *tok;

	open_store();
	fill_log();
	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);

	f.kind = LEDGER_REFUND; /* 24, 22, ..., 2 */
	CU_ASSERT_FATAL(ledger_list_logs(t, "a", &f, 5, NULL, &l) == 0);
	CU_ASSERT_EQUAL(l.n, 5);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[0])->credits, 24);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[4])->credits, 16);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l.next_page_token);
	tok = strdup(l.next_page_token);
	store_list_free(&l);
	CU_ASSERT_FATAL(ledger_list_logs(t, "a", &f, 10, tok, &l) == 0);
	CU_ASSERT_EQUAL(l.n, 7);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[0])->credits, 14);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[6])->credits, 2);
	CU_ASSERT_PTR_NULL(l.next_page_token);
	store_list_free(&l);

	/* the token belongs to that account and that filter */
	f.kind = LEDGER_PURCHASE;
	CU_ASSERT_EQUAL(ledger_list_logs(t, "a", &f, 10, tok, &other), STORE_INVALID);
	f.kind = LEDGER_REFUND;
	CU_ASSERT_EQUAL(ledger_list_logs(t, "b", &f, 10, tok, &other), STORE_INVALID);
	CU_ASSERT_EQUAL(ledger_list_logs(t, "a", &f, 10, "not-a-token!", &other), STORE_INVALID);
	free(tok);

	/* [5000, 9000): 8, 7, 6, 5 */
	f.kind = 0;
	f.start_us = 5000;
	f.end_us = 9000;
	CU_ASSERT_FATAL(ledger_list_logs(t, "a", &f, 3, NULL, &l) == 0);
	CU_ASSERT_EQUAL(l.n, 3);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[0])->credits, 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l.next_page_token);
	tok = strdup(l.next_page_token);
	store_list_free(&l);
	CU_ASSERT_FATAL(ledger_list_logs(t, "a", &f, 3, tok, &l) == 0);
	CU_ASSERT_EQUAL(l.n, 1);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[0])->credits, 5);
	CU_ASSERT_PTR_NULL(l.next_page_token);
	store_list_free(&l);
	free(tok);

	/* time and kind together: purchases in [5000, 9000) are 7 and 5 */
	f.kind = LEDGER_PURCHASE;
	CU_ASSERT_FATAL(ledger_list_logs(t, "a", &f, 10, NULL, &l) == 0);
	CU_ASSERT_EQUAL(l.n, 2);
	store_list_free(&l);
	/* b's log: its funding and its 12 refunds */
	CU_ASSERT_FATAL(ledger_list_logs(t, "b", NULL, 100, NULL, &l) == 0);
	CU_ASSERT_EQUAL(l.n, 13);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[12])->kind, LEDGER_PURCHASE);
	store_list_free(&l);
	store_read_end(t);
	close_store();
}

static void test_log_orders_equal_times_by_sequence(void)
{
	store_txn *t;
	store_list l;

	open_store();
	for (int i = 1; i <= 3; i++)
		CU_ASSERT(transfer("vendor", "a", i, LEDGER_PURCHASE, 7000, NULL) == 0);
	CU_ASSERT_FATAL(store_read_begin(env, &t) == 0);
	CU_ASSERT_FATAL(ledger_list_logs(t, "a", NULL, 0, NULL, &l) == 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 3);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[0])->seq, 3);
	CU_ASSERT_EQUAL(((ledger_transfer_rec *)l.items[2])->seq, 1);
	store_list_free(&l);
	store_read_end(t);
	close_store();
}

static CU_TestInfo tests[] = {
	{"transfer moves credits and records both sides",
	 test_transfer_moves_credits_and_records_both_sides},
	{"insufficient balance writes nothing", test_insufficient_balance_writes_nothing},
	{"only the issuer goes below zero", test_only_the_issuer_goes_below_zero},
	{"bad arguments and overflow are refused", test_bad_arguments_and_overflow_are_refused},
	{"check reports a corrupted balance", test_check_reports_a_corrupted_balance},
	{"check reports a missing log entry", test_check_reports_a_missing_log_entry},
	{"log pages newest first", test_log_pages_newest_first},
	{"log filters by kind and time", test_log_filters_by_kind_and_time},
	{"log orders equal times by sequence", test_log_orders_equal_times_by_sequence},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"ledger", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
