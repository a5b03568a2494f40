/* Unit tests of server/pricing.c: R3 arithmetic, overflow, rounding. */
#include "spt_run.h"
#include <stdint.h>

#include "pricing.h"

static void test_months_multiplies(void)
{
	int64_t v = -1;
	CU_ASSERT_EQUAL(pricing_months(500, 3, &v), 0);
	CU_ASSERT_EQUAL(v, 1500);
	CU_ASSERT_EQUAL(pricing_months(0, 60, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
}

static void test_months_range(void)
{
	int64_t v = 7;
	CU_ASSERT_EQUAL(pricing_months(500, 0, &v), PRICING_RANGE);
	CU_ASSERT_EQUAL(pricing_months(500, 61, &v), PRICING_RANGE);
	CU_ASSERT_EQUAL(pricing_months(-1, 1, &v), PRICING_RANGE);
	CU_ASSERT_EQUAL(v, 7);
}

static void test_months_overflow(void)
{
	int64_t v = 7;
	CU_ASSERT_EQUAL(pricing_months(INT64_MAX / 2, 3, &v), PRICING_OVERFLOW);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(pricing_months(INT64_MAX / 60, 60, &v), 0);
}

static void test_days_round_half_up(void)
{
	int64_t v;
	/* 500 x 46 / 30 = 766.67 -> 767 */
	CU_ASSERT_EQUAL(pricing_days(500, 46, &v), 0);
	CU_ASSERT_EQUAL(v, 767);
	/* 1 x 15 / 30 = 0.5 -> 1 (half up) */
	CU_ASSERT_EQUAL(pricing_days(1, 15, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	/* 1 x 14 / 30 = 0.467 -> 0 */
	CU_ASSERT_EQUAL(pricing_days(1, 14, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	/* 3 x 5 / 30 = 0.5 -> 1 */
	CU_ASSERT_EQUAL(pricing_days(3, 5, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	/* whole months are exact */
	CU_ASSERT_EQUAL(pricing_days(999, 30, &v), 0);
	CU_ASSERT_EQUAL(v, 999);
}

static void test_days_credits_round_up(void)
{
	int64_t v;
	/* 3 credits x 3 days / 30 = 0.3 -> 1: never free */
	CU_ASSERT_EQUAL(pricing_days_credits(3, 3, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	/* 3 x 1 / 30 = 0.1 -> 1 */
	CU_ASSERT_EQUAL(pricing_days_credits(3, 1, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	/* 3 x 11 / 30 = 1.1 -> 2 */
	CU_ASSERT_EQUAL(pricing_days_credits(3, 11, &v), 0);
	CU_ASSERT_EQUAL(v, 2);
	/* exact stays exact; free stays free */
	CU_ASSERT_EQUAL(pricing_days_credits(3, 30, &v), 0);
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT_EQUAL(pricing_days_credits(0, 7, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(pricing_days_credits(INT64_MAX, 1, &v), PRICING_OVERFLOW);
	CU_ASSERT_EQUAL(pricing_days_credits(3, 0, &v), PRICING_RANGE);
}

static void test_days_overflow(void)
{
	int64_t v = 3;
	CU_ASSERT_EQUAL(pricing_days(INT64_MAX / 10, 11, &v), PRICING_OVERFLOW);
	/* the +15 of the rounding overflows too */
	CU_ASSERT_EQUAL(pricing_days(INT64_MAX, 1, &v), PRICING_OVERFLOW);
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT_EQUAL(pricing_days(5, 0, &v), PRICING_RANGE);
}

static void test_days_between_rounds_up(void)
{
	int64_t d;
	CU_ASSERT_EQUAL(pricing_days_between(0, PRICING_DAY_US, &d), 0);
	CU_ASSERT_EQUAL(d, 1);
	CU_ASSERT_EQUAL(pricing_days_between(0, PRICING_DAY_US + 1, &d), 0);
	CU_ASSERT_EQUAL(d, 2);
	CU_ASSERT_EQUAL(pricing_days_between(0, 1, &d), 0);
	CU_ASSERT_EQUAL(d, 1);
	CU_ASSERT_EQUAL(pricing_days_between(5, 5, &d), PRICING_RANGE);
	CU_ASSERT_EQUAL(pricing_days_between(INT64_MIN, INT64_MAX, &d), PRICING_OVERFLOW);
}

static void test_add_and_percent(void)
{
	int64_t acc = INT64_MAX - 1, v;
	CU_ASSERT_EQUAL(pricing_add(&acc, 1), 0);
	CU_ASSERT_EQUAL(acc, INT64_MAX);
	CU_ASSERT_EQUAL(pricing_add(&acc, 1), PRICING_OVERFLOW);
	CU_ASSERT_EQUAL(acc, INT64_MAX);
	CU_ASSERT_EQUAL(pricing_percent(2100, 15, &v), 0);
	CU_ASSERT_EQUAL(v, 315);
	CU_ASSERT_EQUAL(pricing_percent(5, 10, &v), 0); /* 0.5 -> 1 */
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(pricing_percent(4, 10, &v), 0); /* 0.4 -> 0 */
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(pricing_percent(1, 101, &v), PRICING_RANGE);
	CU_ASSERT_EQUAL(pricing_percent(INT64_MAX, 100, &v), PRICING_OVERFLOW);
}

static void test_add_months(void)
{
	int64_t t;
	CU_ASSERT_EQUAL(pricing_add_months(1000, 2, &t), 0);
	CU_ASSERT_EQUAL(t, 1000 + 2 * PRICING_MONTH_US);
	CU_ASSERT_EQUAL(pricing_add_months(INT64_MAX - 5, 1, &t), PRICING_OVERFLOW);
	CU_ASSERT_EQUAL(pricing_add_months(0, 61, &t), PRICING_RANGE);
}

static CU_TestInfo tests[] = {
	{"months multiplies", test_months_multiplies},
	{"months range", test_months_range},
	{"months overflow", test_months_overflow},
	{"days rounds half up", test_days_round_half_up},
	{"days overflow", test_days_overflow},
	{"credit days round up", test_days_credits_round_up},
	{"days between rounds up", test_days_between_rounds_up},
	{"add and percent", test_add_and_percent},
	{"add months", test_add_months},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"pricing", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
