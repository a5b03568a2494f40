/*
 * test_clock_record.c - class: the store records which clock it runs on
 * (issue 22, defect 4).
 *
 * A store whose test clock was moved a year ahead must not start on the
 * real clock (time would go back a year: expired items active again, new
 * records older than old ones, test-clock quotes still accepted); a store
 * that runs on the real clock must not start on a test clock; the explicit
 * conversion flag (--convert-test-clock) turns a test store into a real one
 * only when that does not move time backwards, and never the other way.
 * On the real clock the server never answers a time before the store's
 * last write, even when the system clock went back (simulated here by
 * moving the store's record of its last write a day ahead, offline).
 *
 * usage: defects_clock_record <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "dtest.h"
#include "store.h"

#define YEAR_S (INT64_C(365) * 86400)

static int catalog_ok(const spt_billingd *s)
{
	spb_client *c = spt_client(s, NULL);
	Smartplus__Billing__V1__GetCatalogRequest r =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *out = NULL;
	int rc = c ? spb_billing_get_catalog(c, &r, &out, NULL) : -1;
	spb_message_free(out);
	spb_client_free(c);
	return rc == 0;
}

/* The server's now, by a 1 s AdvanceClock (test clock only); 0 on error. */
static int64_t test_now(const spt_billingd *s)
{
	spb_client *c = spt_client(s, NULL);
	Smartplus__Billing__V1__AdvanceClockRequest r =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *out = NULL;
	int64_t now = 0;
	d.seconds = 1;
	r.duration = &d;
	if (c && spb_admin_advance_clock(c, &r, &out, NULL) == 0 && out->now)
		now = out->now->seconds;
	spb_message_free(out);
	spb_client_free(c);
	return now;
}

static void expect_refused(const spt_billingd *s, const char *const *extra, const char *needle)
{
	char out[8192];
	int code = dt_run_billingd(s, extra, 5000, out, sizeof(out));
	CU_ASSERT_EQUAL(code, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	if (code != 1 || !strstr(out, needle))
		printf("\n    billingd %s: exit %d (-1: it started), wanted \"%s\"; output: "
		       "%.400s\n",
		       extra && extra[0] ? extra[0] : "(no clock flag)", code, needle, out);
}

/* A test store a year ahead refuses the real clock and the conversion. */
static void test_test_store_refuses_real_clock(void)
{
	static const char *const test_clock[] = {"--test-clock", NULL};
	static const char *const convert[] = {"--convert-test-clock", NULL};
	spt_billingd s;
	spb_client *v;
	int64_t before;

	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&s, test_clock), 0);
	v = spt_client(&s, NULL);
	CU_ASSERT_EQUAL(spt_advance_clock(v, (YEAR_S)*SPT_SECOND_US, NULL, NULL), 0);
	spb_client_free(v);
	before = test_now(&s);
	CU_ASSERT_TRUE(before > time(NULL) + YEAR_S - 86400);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);

	expect_refused(&s, NULL, "test clock");
	expect_refused(&s, convert, "backwards");

	/* Still a test store, where it was. */
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&s), 0);
	CU_ASSERT_TRUE(catalog_ok(&s));
	CU_ASSERT_TRUE(test_now(&s) >= before + 1);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	spt_billingd_free(&s);
}

/* A store on the real clock refuses a test clock. */
static void test_real_store_refuses_test_clock(void)
{
	static const char *const test_clock[] = {"--test-clock", NULL};
	spt_billingd s;

	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&s, NULL), 0);
	CU_ASSERT_TRUE(catalog_ok(&s));
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	expect_refused(&s, test_clock, "real clock");
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&s), 0);
	CU_ASSERT_TRUE(catalog_ok(&s));
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	spt_billingd_free(&s);
}

/* A test store whose clock is behind the real one may be converted, once;
 * afterwards it is a real-clock store. */
static void test_conversion_forward_only(void)
{
	static const char *const test_clock[] = {"--test-clock", NULL};
	static const char *const convert[] = {"--convert-test-clock", NULL};
	spt_billingd s;

	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&s, test_clock), 0);
	CU_ASSERT_TRUE(catalog_ok(&s));
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	sleep(1); /* the real clock passes the (unmoved) test clock */
	spt_billingd_set_args(&s, convert);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&s), 0);
	CU_ASSERT_TRUE(catalog_ok(&s));
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	spt_billingd_set_args(&s, NULL);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&s), 0);
	CU_ASSERT_TRUE(catalog_ok(&s));
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	expect_refused(&s, test_clock, "real clock");
	spt_billingd_free(&s);
}

static int apply_high(store_txn *w, void *arg)
{
	return store_meta_set(w, STORE_META_CLOCK_HIGH, *(uint64_t *)arg);
}

/* The system clock a day behind the store's last write: the server waits
 * at that time instead of going back. */
static void test_clock_never_goes_back(void)
{
	spt_billingd s;
	store_options so = STORE_OPTIONS_INIT;
	store_env *env = NULL;
	spb_client *v;
	Smartplus__Billing__V1__GetAccountRequest g =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__GetAccountResponse *out = NULL;
	uint64_t ahead = ((uint64_t)time(NULL) + 86400) * 1000000;

	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&s, NULL), 0);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	so.path = s.data_dir;
	CU_ASSERT_EQUAL_FATAL(store_open(&so, &env, NULL, 0), 0);
	CU_ASSERT_EQUAL(store_write_sync(env, apply_high, &ahead), 0);
	store_close(env);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&s), 0);
	v = spt_client(&s, NULL);
	CU_ASSERT_EQUAL(spt_create_account(v, NULL, "after_restart", ROLE(DISTRIBUTOR), "vendor"),
			0);
	g.account_id = "after_restart";
	CU_ASSERT_EQUAL_FATAL(spb_directory_get_account(v, &g, &out, NULL), 0);
	CU_ASSERT_TRUE(out->account->create_time &&
		       (uint64_t)out->account->create_time->seconds >= ahead / 1000000);
	if (!out->account->create_time ||
	    (uint64_t)out->account->create_time->seconds < ahead / 1000000)
		printf("\n    created at %lld after a store last written at %llu\n",
		       out->account->create_time ? (long long)out->account->create_time->seconds
						 : 0LL,
		       (unsigned long long)(ahead / 1000000));
	spb_message_free(out);
	spb_client_free(v);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	spt_billingd_free(&s);
}

static CU_TestInfo tests[] = {
	{"a test-clock store a year ahead refuses the real clock and the conversion",
	 test_test_store_refuses_real_clock},
	{"a real-clock store refuses a test clock", test_real_store_refuses_test_clock},
	{"conversion to the real clock: only forward, only one way", test_conversion_forward_only},
	{"the clock never goes back across restarts", test_clock_never_goes_back},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"clock record", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
