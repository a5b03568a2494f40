#ifndef SPB_TAX_H
#define SPB_TAX_H

/*
 * tax.h: the tax engine. Pure functions: no storage, no clock, no
 * allocation; the rate table is reached through a lookup callback so the
 * same rules serve quotes, orders, invoices and the unit tests.
 *
 * Which rate (tax_resolve), from the seller's country and the buyer's
 * country, region and tax id:
 *   1. seller and buyer in the EU, in different countries, and the buyer's
 *      tax id a syntactically valid VAT id of the buyer's country: reverse
 *      charge, 0 %, with the legal note (Art. 196 of Directive 2006/112/EC);
 *   2. else the rate set for the place of supply, the buyer's country (its
 *      region first, then the whole country): domestic sales, EU consumers
 *      (the OSS rule for electronically supplied services), any country
 *      where the seller has a rate set;
 *   3. else no tax (0 %), noted as outside the scope of EU VAT when the
 *      seller is in the EU and the buyer is not.
 * A buyer without a country is taken to be in the seller's country.
 *
 * Credits (tax_credit_rule): with TAX_CREDITS_AT_PURCHASE a credit purchase
 * is taxed like any sale and an order paid with credits carries no tax
 * (the credits were taxed when bought); with TAX_CREDITS_ADVANCE a credit
 * purchase is an untaxed advance payment and an order paid with credits is
 * taxed, in credits.
 *
 * Amounts (tax_line): integers only, rounded half-up once per line. An
 * exclusive rate adds tax = amount x rate / 10000 to the amount; an
 * inclusive rate takes tax = amount x rate / (10000 + rate) out of it. An
 * order's coupon discount is first spread over its lines in proportion to
 * their amounts (tax_spread), so each line is taxed on what it costs.
 *
 * Return codes: 0, TAX_OVERFLOW (a result does not fit in int64) or
 * TAX_RANGE (an argument outside its domain); outputs are only written on
 * success.
 */

#include <stddef.h>
#include <stdint.h>

#define TAX_OVERFLOW 1
#define TAX_RANGE 2

/* Rates are basis points: 1900 = 19 %. */
#define TAX_RATE_MAX 10000

/* The values of smartplus.billing.v1.TaxTreatment. */
typedef enum tax_treatment {
	TAX_STANDARD = 1,        /* the rate of the place of supply */
	TAX_REVERSE_CHARGE = 2,  /* EU B2B across borders: the buyer accounts for VAT */
	TAX_NOT_TAXED = 3,       /* no rate for the place of supply */
	TAX_PREPAID_CREDITS = 4, /* paid with credits taxed when they were bought */
	TAX_ADVANCE_PAYMENT = 5, /* credits bought as an advance payment, taxed on use */
} tax_treatment;

typedef enum tax_credit_rule {
	TAX_CREDITS_AT_PURCHASE = 0,
	TAX_CREDITS_ADVANCE = 1,
} tax_credit_rule;

/* What is being sold (decides the credit rules). */
typedef enum tax_sale {
	TAX_SALE_SERVICES = 0,  /* services paid with money */
	TAX_SALE_CREDITS = 1,   /* a credit purchase */
	TAX_SALE_BY_CREDITS = 2 /* services paid with credits */
} tax_sale;

#define TAX_COUNTRY_LEN 3 /* alpha-2 + NUL */
#define TAX_REGION_LEN 33

/* A rate of the table. */
typedef struct tax_rate {
	char country[TAX_COUNTRY_LEN];
	char region[TAX_REGION_LEN];
	int32_t rate_bp;
	int inclusive;
} tax_rate;

/* Finds the rate of (country, region); region "" is the whole country.
 * Returns 1 with *out filled, 0 when none is set, or a negative code that
 * tax_resolve() passes back unchanged (a storage error). */
typedef int (*tax_lookup_fn)(void *arg, const char *country, const char *region, tax_rate *out);

/* The two parties as the rules see them. */
typedef struct tax_parties {
	const char *seller_country; /* "" when the seller is not configured */
	const char *buyer_country;  /* "" = unknown */
	const char *buyer_region;
	const char *buyer_tax_id;
} tax_parties;

/* The rate that applies to a sale, and what the invoice says about it. */
typedef struct tax_decision {
	tax_treatment treatment;
	int32_t rate_bp;
	int inclusive;
	char country[TAX_COUNTRY_LEN]; /* place of supply */
	char region[TAX_REGION_LEN];
	const char *note; /* static legal note, "" when none */
} tax_decision;

/* 1 if s has the shape of an ISO-3166 alpha-2 code: two upper-case
 * letters. */
int tax_country_ok(const char *s);
/* 1 if s is a region code: [A-Z0-9]{0,32} ("" = none). */
int tax_region_ok(const char *s);

/* 1 if country (ISO-3166 alpha-2, upper case) is an EU member state. */
int tax_eu_member(const char *country);

/*
 * 1 if vat_id is syntactically a VAT identification number of `country`
 * (EU member state; Greece's prefix is EL): the country prefix then the
 * national format, ignoring spaces, dots and dashes, any case. No check
 * digits and no registry lookup (VIES) — the shape only.
 */
int tax_vat_id_valid(const char *country, const char *vat_id);

/*
 * The decision for a sale between the parties (see the rules above), with
 * rates found through lookup. Returns 0 with *out filled, or lookup's
 * negative code.
 */
int tax_resolve(const tax_parties *p, tax_sale sale, tax_credit_rule rule, tax_lookup_fn lookup,
		void *arg, tax_decision *out);

/*
 * The tax of one line: amount (>= 0; minor units or credits, after its
 * share of the discount) at rate_bp (0..TAX_RATE_MAX). Exclusive: *tax =
 * half-up(amount x rate / 10000), *total = amount + tax. Inclusive: *tax =
 * half-up(amount x rate / (10000 + rate)), *total = amount. *net = *total
 * - *tax either way.
 */
int tax_line(int64_t amount, int32_t rate_bp, int inclusive, int64_t *net, int64_t *tax,
	     int64_t *total);

/*
 * Spreads `discount` (0..sum of amounts) over n lines in proportion to
 * their amounts (>= 0): share[i] = floor(discount x amount[i] / sum), then
 * the units left go one each to the lines with the largest remainders (the
 * earlier line on a tie). The shares sum to discount and none exceeds its
 * line's amount.
 */
int tax_spread(const int64_t *amounts, size_t n, int64_t discount, int64_t *shares);

/* a x b / c (a, b >= 0, c > 0) rounded half-up, or up when round_up:
 * proportional shares (the tax of part of a line, the credits of part of a
 * credit purchase). TAX_OVERFLOW when it does not fit in int64. */
int tax_scale(int64_t a, int64_t b, int64_t c, int round_up, int64_t *out);

/* The share of tax inside a tax-inclusive amount: half-up(amount x rate /
 * (10000 + rate)); used to split a refund of part of a line. */
int tax_included(int64_t amount, int32_t rate_bp, int64_t *tax);

/* The legal note printed for a treatment ("" for the standard rate), given
 * the seller's country and the place of supply. Static. */
const char *tax_note(tax_treatment t, const char *seller_country, const char *country);

/* Static English name of a treatment ("reverse charge", ...). */
const char *tax_treatment_name(tax_treatment t);

#endif
