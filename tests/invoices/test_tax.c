/*
 * Unit tests of server/tax.c: the table of cases (domestic, EU B2B with a
 * VAT id, EU B2C, outside the EU, inclusive and exclusive rates, credits),
 * VAT id shapes, rounding edges, discount spreading, overflow.
 */
#include "spt_run.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tax.h"

/* The rate table of the tests: DE 19 % exclusive, FR 20 % inclusive,
 * AT 20 % exclusive, US-CA 7.25 % exclusive (a region), US none,
 * CH 8.1 % inclusive. */
static const tax_rate table[] = {
	{"DE", "", 1900, 0},  {"FR", "", 2000, 1}, {"AT", "", 2000, 0},
	{"US", "CA", 725, 0}, {"CH", "", 810, 1},
};
static int lookups;

static int lookup(void *arg, const char *country, const char *region, tax_rate *out)
{
	(void)arg;
	lookups++;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].country, country) == 0 &&
		    strcmp(table[i].region, region) == 0) {
			*out = table[i];
			return 1;
		}
	return 0;
}

static int failing_lookup(void *arg, const char *country, const char *region, tax_rate *out)
{
	(void)arg;
	(void)country;
	(void)region;
	(void)out;
	return -7;
}

typedef struct tcase {
	const char *name;
	const char *seller, *buyer, *region, *tax_id;
	tax_sale sale;
	tax_credit_rule rule;
	tax_treatment want;
	int32_t want_bp;
	int want_inclusive;
	const char *want_country;
} tcase;

static const tcase cases[] = {
	{"domestic B2C", "DE", "DE", "", "", TAX_SALE_SERVICES, 0, TAX_STANDARD, 1900, 0, "DE"},
	{"domestic B2B keeps VAT", "DE", "DE", "", "DE123456789", TAX_SALE_SERVICES, 0,
	 TAX_STANDARD, 1900, 0, "DE"},
	{"EU B2B with VAT id: reverse charge", "DE", "FR", "", "FR 40 303 265 045",
	 TAX_SALE_SERVICES, 0, TAX_REVERSE_CHARGE, 0, 0, "FR"},
	{"EU B2B Greece uses EL", "DE", "GR", "", "EL094259216", TAX_SALE_SERVICES, 0,
	 TAX_REVERSE_CHARGE, 0, 0, "GR"},
	{"EU B2B with a malformed VAT id pays buyer rate", "DE", "FR", "", "FR123",
	 TAX_SALE_SERVICES, 0, TAX_STANDARD, 2000, 1, "FR"},
	{"EU B2B with another country's VAT id", "DE", "FR", "", "DE123456789", TAX_SALE_SERVICES,
	 0, TAX_STANDARD, 2000, 1, "FR"},
	{"EU B2C: buyer country rate (OSS)", "DE", "AT", "", "", TAX_SALE_SERVICES, 0, TAX_STANDARD,
	 2000, 0, "AT"},
	{"EU B2C without a rate set", "DE", "IT", "", "", TAX_SALE_SERVICES, 0, TAX_NOT_TAXED, 0, 0,
	 "IT"},
	{"outside the EU: not taxed", "DE", "US", "", "", TAX_SALE_SERVICES, 0, TAX_NOT_TAXED, 0, 0,
	 "US"},
	{"outside the EU, business too", "DE", "US", "", "12-3456789", TAX_SALE_SERVICES, 0,
	 TAX_NOT_TAXED, 0, 0, "US"},
	{"region rate first", "DE", "US", "CA", "", TAX_SALE_SERVICES, 0, TAX_STANDARD, 725, 0,
	 "US"},
	{"outside the EU with a rate set (inclusive)", "DE", "CH", "", "", TAX_SALE_SERVICES, 0,
	 TAX_STANDARD, 810, 1, "CH"},
	{"no buyer country: the seller's", "DE", "", "", "", TAX_SALE_SERVICES, 0, TAX_STANDARD,
	 1900, 0, "DE"},
	{"seller outside the EU: no reverse charge", "CH", "FR", "", "FR40303265045",
	 TAX_SALE_SERVICES, 0, TAX_STANDARD, 2000, 1, "FR"},
	{"credit purchase taxed at purchase", "DE", "DE", "", "", TAX_SALE_CREDITS,
	 TAX_CREDITS_AT_PURCHASE, TAX_STANDARD, 1900, 0, "DE"},
	{"paid with credits taxed at purchase: no tax", "DE", "DE", "", "", TAX_SALE_BY_CREDITS,
	 TAX_CREDITS_AT_PURCHASE, TAX_PREPAID_CREDITS, 0, 0, "DE"},
	{"credit purchase as advance payment: no tax", "DE", "DE", "", "", TAX_SALE_CREDITS,
	 TAX_CREDITS_ADVANCE, TAX_ADVANCE_PAYMENT, 0, 0, "DE"},
	{"paid with advance credits: taxed", "DE", "DE", "", "", TAX_SALE_BY_CREDITS,
	 TAX_CREDITS_ADVANCE, TAX_STANDARD, 1900, 0, "DE"},
	{"credit purchase EU B2B: reverse charge", "DE", "FR", "", "FR40303265045",
	 TAX_SALE_CREDITS, TAX_CREDITS_AT_PURCHASE, TAX_REVERSE_CHARGE, 0, 0, "FR"},
};

static void test_table_of_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const tcase *c = &cases[i];
		tax_parties p = {c->seller, c->buyer, c->region, c->tax_id};
		tax_decision d;
		int ok;

		memset(&d, 0x5a, sizeof(d));
		CU_ASSERT_EQUAL_FATAL(tax_resolve(&p, c->sale, c->rule, lookup, NULL, &d), 0);
		ok = d.treatment == c->want && d.rate_bp == c->want_bp &&
		     d.inclusive == c->want_inclusive && strcmp(d.country, c->want_country) == 0;
		if (!ok)
			fprintf(stderr, "case '%s': got %s %d bp inclusive %d in %s\n", c->name,
				tax_treatment_name(d.treatment), d.rate_bp, d.inclusive, d.country);
		CU_ASSERT(ok);
		/* every treatment but the standard rate explains itself */
		CU_ASSERT_EQUAL(d.note[0] != '\0', d.treatment != TAX_STANDARD);
	}
}

static void test_notes_say_why(void)
{
	tax_parties rc = {"DE", "FR", "", "FR40303265045"}, out = {"DE", "US", "", ""};
	tax_decision d;

	CU_ASSERT_EQUAL(tax_resolve(&rc, TAX_SALE_SERVICES, 0, lookup, NULL, &d), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.note, "Reverse charge"));
	CU_ASSERT_PTR_NOT_NULL(strstr(d.note, "Article 196"));
	CU_ASSERT_EQUAL(tax_resolve(&out, TAX_SALE_SERVICES, 0, lookup, NULL, &d), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.note, "outside the EU"));
}

static void test_lookup_error_passes_through(void)
{
	tax_parties p = {"DE", "DE", "", ""};
	tax_decision d;

	d.rate_bp = 42;
	CU_ASSERT_EQUAL(tax_resolve(&p, TAX_SALE_SERVICES, 0, failing_lookup, NULL, &d), -7);
	CU_ASSERT_EQUAL(d.rate_bp, 42);
}

static void test_reverse_charge_needs_no_lookup(void)
{
	tax_parties p = {"DE", "NL", "", "NL123456789B01"};
	tax_decision d;

	lookups = 0;
	CU_ASSERT_EQUAL(tax_resolve(&p, TAX_SALE_SERVICES, 0, lookup, NULL, &d), 0);
	CU_ASSERT_EQUAL(d.treatment, TAX_REVERSE_CHARGE);
	CU_ASSERT_EQUAL(lookups, 0);
}

static void test_vat_id_shapes(void)
{
	static const struct {
		const char *country, *id;
		int valid;
	} ids[] = {
		{"DE", "DE123456789", 1},    {"DE", "de 123.456.789", 1},
		{"DE", "DE12345678", 0},     {"DE", "123456789", 0},
		{"DE", "FR123456789", 0},    {"AT", "ATU12345678", 1},
		{"AT", "AT12345678", 0},     {"BE", "BE0123456789", 1},
		{"BE", "BE2123456789", 0},   {"FR", "FR40303265045", 1},
		{"FR", "FRIO303265045", 0},  {"GR", "EL094259216", 1},
		{"GR", "GR094259216", 0},    {"NL", "NL123456789B01", 1},
		{"NL", "NL123456789", 0},    {"ES", "ESX1234567X", 1},
		{"ES", "ES12345678Z", 1},    {"ES", "ES123456789", 0},
		{"IE", "IE1234567T", 1},     {"IE", "IE1234567WA", 1},
		{"IE", "IE1A23456T", 1},     {"SE", "SE123456789001", 1},
		{"SE", "SE123456789002", 0}, {"IT", "IT12345678901", 1},
		{"US", "US123456789", 0},    {"DE", "", 0},
		{"DE", "DE\t123456789", 0},  {"PL", "PL-123-456-78-90", 1},
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		int got = tax_vat_id_valid(ids[i].country, ids[i].id);
		if (got != ids[i].valid)
			fprintf(stderr, "vat id %s '%s': got %d\n", ids[i].country, ids[i].id, got);
		CU_ASSERT_EQUAL(got, ids[i].valid);
	}
	CU_ASSERT_EQUAL(tax_vat_id_valid("DE", NULL), 0);
	CU_ASSERT_EQUAL(tax_vat_id_valid(NULL, "DE123456789"), 0);
	CU_ASSERT(tax_eu_member("FR"));
	CU_ASSERT(!tax_eu_member("CH"));
	CU_ASSERT(!tax_eu_member("GB"));
	CU_ASSERT(!tax_eu_member(""));
}

static void test_exclusive_line(void)
{
	int64_t net, tax, total;

	CU_ASSERT_EQUAL(tax_line(1000, 1900, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(net, 1000);
	CU_ASSERT_EQUAL(tax, 190);
	CU_ASSERT_EQUAL(total, 1190);
	CU_ASSERT_EQUAL(tax_line(0, 1900, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(total, 0);
	CU_ASSERT_EQUAL(tax_line(500, 0, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 0);
	CU_ASSERT_EQUAL(tax_line(500, 10000, 0, &net, &tax, &total), 0); /* 100 % */
	CU_ASSERT_EQUAL(total, 1000);
}

static void test_inclusive_line(void)
{
	int64_t net, tax, total;

	CU_ASSERT_EQUAL(tax_line(1190, 1900, 1, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(net, 1000);
	CU_ASSERT_EQUAL(tax, 190);
	CU_ASSERT_EQUAL(total, 1190);
	CU_ASSERT_EQUAL(tax_line(1200, 2000, 1, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(net, 1000);
	CU_ASSERT_EQUAL(tax, 200);
}

static void test_rounding_edges(void)
{
	int64_t net, tax, total;

	/* 50 x 1 % = 0.5 -> 1 (half up); 49 x 1 % = 0.49 -> 0 */
	CU_ASSERT_EQUAL(tax_line(50, 100, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 1);
	CU_ASSERT_EQUAL(tax_line(49, 100, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 0);
	/* 1 cent at 19 %: 0.19 -> 0 */
	CU_ASSERT_EQUAL(tax_line(1, 1900, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 0);
	/* 250 x 19 % = 47.5 -> 48 */
	CU_ASSERT_EQUAL(tax_line(250, 1900, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 48);
	/* inclusive 3 at 20 %: 3 x 2000 / 12000 = 0.5 -> 1, net 2 */
	CU_ASSERT_EQUAL(tax_line(3, 2000, 1, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 1);
	CU_ASSERT_EQUAL(net, 2);
	/* inclusive 5 at 19 %: 0.798 -> 1 */
	CU_ASSERT_EQUAL(tax_line(5, 1900, 1, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 1);
	/* 7.25 % of 200 = 14.5 -> 15 */
	CU_ASSERT_EQUAL(tax_line(200, 725, 0, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(tax, 15);
	/* per line, not per total: three lines of 50 at 1 % are 3, not 2 (1.5) */
	{
		int64_t sum = 0;
		for (int i = 0; i < 3; i++) {
			CU_ASSERT_EQUAL(tax_line(50, 100, 0, &net, &tax, &total), 0);
			sum += tax;
		}
		CU_ASSERT_EQUAL(sum, 3);
	}
	CU_ASSERT_EQUAL(tax_included(119, 1900, &tax), 0);
	CU_ASSERT_EQUAL(tax, 19);
}

static void test_range_and_overflow(void)
{
	int64_t net = 7, tax = 7, total = 7;

	CU_ASSERT_EQUAL(tax_line(-1, 1900, 0, &net, &tax, &total), TAX_RANGE);
	CU_ASSERT_EQUAL(tax_line(100, -1, 0, &net, &tax, &total), TAX_RANGE);
	CU_ASSERT_EQUAL(tax_line(100, 10001, 0, &net, &tax, &total), TAX_RANGE);
	CU_ASSERT_EQUAL(tax_line(INT64_MAX - 10, 1900, 0, &net, &tax, &total), TAX_OVERFLOW);
	CU_ASSERT_EQUAL(net, 7);
	CU_ASSERT_EQUAL(tax, 7);
	CU_ASSERT_EQUAL(total, 7);
	/* inclusive never grows the amount, so it cannot overflow */
	CU_ASSERT_EQUAL(tax_line(INT64_MAX, 1900, 1, &net, &tax, &total), 0);
	CU_ASSERT_EQUAL(total, INT64_MAX);
	CU_ASSERT_EQUAL(net + tax, INT64_MAX);
}

static void test_spread_discount(void)
{
	int64_t a[] = {1000, 500, 500}, s[3];
	int64_t b[] = {1, 1, 1}, t[3];
	int64_t c[] = {0, 300, 0}, u[3];

	CU_ASSERT_EQUAL(tax_spread(a, 3, 100, s), 0);
	CU_ASSERT_EQUAL(s[0], 50);
	CU_ASSERT_EQUAL(s[1], 25);
	CU_ASSERT_EQUAL(s[2], 25);
	/* 2 units over three equal lines: the earlier ones on the tie */
	CU_ASSERT_EQUAL(tax_spread(b, 3, 2, t), 0);
	CU_ASSERT_EQUAL(t[0], 1);
	CU_ASSERT_EQUAL(t[1], 1);
	CU_ASSERT_EQUAL(t[2], 0);
	/* free lines (amount 0) get no share */
	CU_ASSERT_EQUAL(tax_spread(c, 3, 300, u), 0);
	CU_ASSERT_EQUAL(u[0], 0);
	CU_ASSERT_EQUAL(u[1], 300);
	CU_ASSERT_EQUAL(u[2], 0);
	/* 100 over 3 x 333: 33/33/34 by remainders, summing to 100 */
	{
		int64_t d[] = {333, 333, 334}, v[3];
		CU_ASSERT_EQUAL(tax_spread(d, 3, 100, v), 0);
		CU_ASSERT_EQUAL(v[0] + v[1] + v[2], 100);
		CU_ASSERT_EQUAL(v[2], 34);
	}
	CU_ASSERT_EQUAL(tax_spread(a, 3, 2001, s), TAX_RANGE);
	CU_ASSERT_EQUAL(tax_spread(a, 3, -1, s), TAX_RANGE);
	CU_ASSERT_EQUAL(tax_spread(a, 0, 0, s), 0);
}

static void test_spread_then_tax(void)
{
	/* A 10 % coupon on 999 + 1: shares 100 and 0 (999.9 -> remainder
	 * goes to the big line), then 19 % per line. */
	int64_t a[] = {999, 1}, s[2], net, tax, total, sum_total = 0;

	CU_ASSERT_EQUAL(tax_spread(a, 2, 100, s), 0);
	CU_ASSERT_EQUAL(s[0] + s[1], 100);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(tax_line(a[i] - s[i], 1900, 0, &net, &tax, &total), 0);
		sum_total += total;
	}
	/* 899 -> 170.81 -> 171 (1070); 1 -> 0 (1) */
	CU_ASSERT_EQUAL(s[0], 100);
	CU_ASSERT_EQUAL(sum_total, 1071);
}

static CU_TestInfo tests[] = {
	{"table of cases", test_table_of_cases},
	{"notes say why", test_notes_say_why},
	{"lookup error passes through", test_lookup_error_passes_through},
	{"reverse charge needs no lookup", test_reverse_charge_needs_no_lookup},
	{"VAT id shapes", test_vat_id_shapes},
	{"exclusive line", test_exclusive_line},
	{"inclusive line", test_inclusive_line},
	{"rounding edges", test_rounding_edges},
	{"range and overflow", test_range_and_overflow},
	{"spread discount", test_spread_discount},
	{"spread then tax", test_spread_then_tax},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"tax", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
