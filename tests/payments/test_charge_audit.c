/*
 * tools/charge_audit against a store and a provider ledger built here: the
 * clean case passes; a second capture, a capture for an order that did not
 * succeed, a capture of another amount, a capture naming no order and a
 * SUCCEEDED order without its capture each fail it; a second capture that
 * was refunded in full does not.
 *
 *   test_charge_audit <charge_audit>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "store_order.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "store.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define OSTATUS(x) V1(ORDER_STATUS__ORDER_STATUS_##x)
#define METHOD(x) V1(PAYMENT_METHOD__PAYMENT_METHOD_##x)

static const char *tool;
static char dir[64], datadir[96], ledger[96];

static int put_order(store_txn *w, void *arg)
{
	return store_order_put(w, arg, 1);
}

static void order_flagged(const char *id, int status, int method, int64_t total, const char *cur,
			  int needs_refund)
{
	store_env *env = NULL;
	store_options so = STORE_OPTIONS_INIT;
	store_order o = SMARTPLUS__BILLING__STORE__V1__ORDER_RECORD__INIT;
	so.path = datadir;
	CU_ASSERT_EQUAL_FATAL(store_open(&so, &env, NULL, 0), 0);
	o.order_id = (char *)id;
	o.status = status;
	o.payment_method = method;
	o.total = total;
	o.currency = (char *)cur;
	o.payer_id = "payer";
	o.create_time = 1;
	o.needs_refund = needs_refund;
	CU_ASSERT_EQUAL(store_write_sync(env, put_order, &o), 0);
	store_close(env);
}

static void order(const char *id, int status, int method, int64_t total, const char *cur)
{
	order_flagged(id, status, method, total, cur, 0);
}

/* Runs the tool on datadir with `captures` (a JSON array text); its exit
 * status, its first line in out. */
static int audit(const char *captures, char *out, size_t cap)
{
	char cmd[512];
	FILE *f = fopen(ledger, "w"), *p;
	int st;
	fprintf(f, "{\"captures\": %s, \"refunds\": []}\n", captures);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s %s %s", tool, datadir, ledger);
	p = popen(cmd, "r");
	out[0] = 0;
	if (!p || !fgets(out, (int)cap, p))
		out[0] = 0;
	while (p && fgetc(p) != EOF)
		;
	st = p ? pclose(p) : -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define CAP(order, amount, cur, refunded)                                          \
	"{\"provider\":\"stripe\",\"capture_id\":\"ch_" order "_" #amount          \
	"\",\"order_id\":\"" order "\",\"amount\":" #amount ",\"currency\":\"" cur \
	"\",\"refunded\":" #refunded "}"

static void test_audit(void)
{
	char line[1024];
	order("ord_a", OSTATUS(SUCCEEDED), METHOD(STRIPE), 1000, "USD");
	order("ord_b", OSTATUS(SUCCEEDED), METHOD(PAYPAL), 2500, "EUR");
	order("ord_c", OSTATUS(FAILED), METHOD(STRIPE), 700, "USD");
	order("ord_d", OSTATUS(SUCCEEDED), METHOD(CREDITS), 0, "");
	order("ord_e", OSTATUS(CANCELED), METHOD(STRIPE), 900, "USD");

	CU_ASSERT_EQUAL(audit("[" CAP("ord_a", 1000, "USD", 0) "," CAP("ord_b", 2500, "EUR", 0) "]",
			      line, sizeof(line)),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "charge audit ok"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "captures per order max 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "SUCCEEDED money orders 2"));
	/* A second charge for ord_a, refunded in full: allowed. */
	CU_ASSERT_EQUAL(
		audit("[" CAP("ord_a", 1000, "USD", 0) "," CAP("ord_a", 1001, "USD", 1001) "," CAP(
			      "ord_b", 2500, "EUR", 0) "]",
		      line, sizeof(line)),
		0);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "captures per order max 2"));
	/* Not refunded: two captures for one order. */
	CU_ASSERT_EQUAL(audit("[" CAP("ord_a", 1000, "USD", 0) "," CAP(
				      "ord_a", 1001, "USD", 0) "," CAP("ord_b", 2500, "EUR", 0) "]",
			      line, sizeof(line)),
			1);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "orders with more than one capture 1"));
	/* Money on a FAILED and on a CANCELED order. */
	CU_ASSERT_EQUAL(
		audit("[" CAP("ord_a", 1000, "USD", 0) "," CAP("ord_b", 2500, "EUR", 0) "," CAP(
			      "ord_c", 700, "USD", 0) "," CAP("ord_e", 900, "USD", 0) "]",
		      line, sizeof(line)),
		1);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "captures without a SUCCEEDED order 2"));
	/* Another amount. */
	CU_ASSERT_EQUAL(audit("[" CAP("ord_a", 999, "USD", 0) "," CAP("ord_b", 2500, "EUR", 0) "]",
			      line, sizeof(line)),
			1);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "amount mismatches 1"));
	/* A capture naming no order of this store. */
	CU_ASSERT_EQUAL(audit("[" CAP("ord_a", 1000, "USD", 0) "," CAP(
				      "ord_b", 2500, "EUR", 0) "," CAP("ord_zz", 5, "USD", 0) "]",
			      line, sizeof(line)),
			1);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "captures without a SUCCEEDED order 1"));
	/* ord_b SUCCEEDED, its money never captured. */
	CU_ASSERT_EQUAL(audit("[" CAP("ord_a", 1000, "USD", 0) "]", line, sizeof(line)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "SUCCEEDED without capture 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "owed back, flagged needs_refund 0"));
	/* Money on a FAILED order flagged needs_refund: reported as owed back,
	 * not kept silently. */
	order_flagged("ord_f", OSTATUS(FAILED), METHOD(STRIPE), 800, "USD", 1);
	CU_ASSERT_EQUAL(audit("[" CAP("ord_a", 1000, "USD", 0) "," CAP(
				      "ord_b", 2500, "EUR", 0) "," CAP("ord_f", 800, "USD", 0) "]",
			      line, sizeof(line)),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "captures without a SUCCEEDED order 0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "owed back, flagged needs_refund 1"));
	/* Usage errors. */
	CU_ASSERT_EQUAL(audit("17", line, sizeof(line)), 2);
}

int main(int argc, char **argv)
{
	CU_pSuite s;
	unsigned failures;
	char cmd[128];
	if (argc != 2) {
		fprintf(stderr, "usage: test_charge_audit <charge_audit>\n");
		return 2;
	}
	tool = argv[1];
	snprintf(dir, sizeof(dir), "/tmp/spb-audit-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	snprintf(ledger, sizeof(ledger), "%s/ledger.json", dir);
	if (mkdir(datadir, 0700) != 0)
		return 1;
	CU_initialize_registry();
	s = CU_add_suite("charge_audit", NULL, NULL);
	CU_add_test(s, "captures against orders: at most one, SUCCEEDED, same amount, none missing",
		    test_audit);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		failures++;
	return failures ? 1 : 0;
}
