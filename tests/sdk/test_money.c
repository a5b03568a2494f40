/* Tests of sdk/src/money.c: exponents, formatting and parsing. */
#include <stdint.h>
#include <string.h>

#include "sdk_tests.h"
#include "spbilling.h"

static void test_exponents_follow_iso_4217(void)
{
	CU_ASSERT_EQUAL(spb_currency_exponent("USD"), 2);
	CU_ASSERT_EQUAL(spb_currency_exponent("eur"), 2);
	CU_ASSERT_EQUAL(spb_currency_exponent("JPY"), 0);
	CU_ASSERT_EQUAL(spb_currency_exponent("KRW"), 0);
	CU_ASSERT_EQUAL(spb_currency_exponent("KWD"), 3);
	CU_ASSERT_EQUAL(spb_currency_exponent("BHD"), 3);
	/* not a code: the usual two */
	CU_ASSERT_EQUAL(spb_currency_exponent("JP"), 2);
	CU_ASSERT_EQUAL(spb_currency_exponent(NULL), 2);
}

static void test_format_uses_the_exponent(void)
{
	char buf[64];

	CU_ASSERT_EQUAL(spb_money_format(2100, "USD", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "21.00 USD");
	CU_ASSERT_EQUAL(spb_money_format(5, "EUR", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "0.05 EUR");
	CU_ASSERT_EQUAL(spb_money_format(-250, "USD", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "-2.50 USD");
	CU_ASSERT_EQUAL(spb_money_format(1234, "JPY", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "1234 JPY");
	CU_ASSERT_EQUAL(spb_money_format(1234, "KWD", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "1.234 KWD");
	CU_ASSERT_EQUAL(spb_money_format(INT64_MIN, "USD", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "-92233720368547758.08 USD");
	CU_ASSERT_EQUAL(spb_money_format(12, "", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "12");
	CU_ASSERT_EQUAL(spb_money_format(2100, "USD", buf, 9), SPB_EINVALID);
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT_EQUAL(spb_money_format(1, "USD", NULL, 9), SPB_EINVALID);
}

static void test_parse_refuses_what_the_currency_cannot_hold(void)
{
	int64_t v = 7;

	CU_ASSERT_EQUAL(spb_money_parse("21", "USD", &v), 0);
	CU_ASSERT_EQUAL(v, 2100);
	CU_ASSERT_EQUAL(spb_money_parse("21.5", "USD", &v), 0);
	CU_ASSERT_EQUAL(v, 2150);
	CU_ASSERT_EQUAL(spb_money_parse("0.05", "EUR", &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT_EQUAL(spb_money_parse("-1.25", "USD", &v), 0);
	CU_ASSERT_EQUAL(v, -125);
	CU_ASSERT_EQUAL(spb_money_parse("1234", "JPY", &v), 0);
	CU_ASSERT_EQUAL(v, 1234);
	CU_ASSERT_EQUAL(spb_money_parse("1.234", "KWD", &v), 0);
	CU_ASSERT_EQUAL(v, 1234);
	v = 7;
	CU_ASSERT_EQUAL(spb_money_parse("1.5", "JPY", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_money_parse("1.005", "USD", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_money_parse("1.", "USD", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_money_parse(".5", "USD", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_money_parse("", "USD", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_money_parse("12 USD", "USD", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_money_parse("1e3", "USD", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_money_parse("92233720368547758.08", "USD", &v), SPB_EINVALID);
	CU_ASSERT_EQUAL(v, 7);
}

CU_TestInfo sdk_money_tests[] = {
	{"exponents_follow_iso_4217", test_exponents_follow_iso_4217},
	{"format_uses_the_exponent", test_format_uses_the_exponent},
	{"parse_refuses_what_the_currency_cannot_hold",
	 test_parse_refuses_what_the_currency_cannot_hold},
	CU_TEST_INFO_NULL,
};
