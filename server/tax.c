/*
 * tax.c: the tax engine (see tax.h for the rules). The VAT id shapes are
 * the national formats of the EU's VIES service, one POSIX extended regular
 * expression per member state, compiled once.
 */
#include "tax.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Member states and their VAT id formats                                    */

typedef struct eu_state {
	const char *country; /* ISO-3166 alpha-2 */
	const char *prefix;  /* VAT prefix (EL for Greece) */
	const char *pattern; /* the rest, anchored */
} eu_state;

static const eu_state eu_states[] = {
	{"AT", "AT", "^U[0-9]{8}$"},
	{"BE", "BE", "^[01][0-9]{9}$"},
	{"BG", "BG", "^[0-9]{9,10}$"},
	{"CY", "CY", "^[0-9]{8}[A-Z]$"},
	{"CZ", "CZ", "^[0-9]{8,10}$"},
	{"DE", "DE", "^[0-9]{9}$"},
	{"DK", "DK", "^[0-9]{8}$"},
	{"EE", "EE", "^[0-9]{9}$"},
	{"ES", "ES", "^([A-Z][0-9]{7}[A-Z0-9]|[0-9]{8}[A-Z])$"},
	{"FI", "FI", "^[0-9]{8}$"},
	{"FR", "FR", "^[A-HJ-NP-Z0-9]{2}[0-9]{9}$"},
	{"GR", "EL", "^[0-9]{9}$"},
	{"HR", "HR", "^[0-9]{11}$"},
	{"HU", "HU", "^[0-9]{8}$"},
	{"IE", "IE", "^([0-9]{7}[A-W][A-I]?|[0-9][A-Z+*][0-9]{5}[A-W])$"},
	{"IT", "IT", "^[0-9]{11}$"},
	{"LT", "LT", "^([0-9]{9}|[0-9]{12})$"},
	{"LU", "LU", "^[0-9]{8}$"},
	{"LV", "LV", "^[0-9]{11}$"},
	{"MT", "MT", "^[0-9]{8}$"},
	{"NL", "NL", "^[0-9]{9}B[0-9]{2}$"},
	{"PL", "PL", "^[0-9]{10}$"},
	{"PT", "PT", "^[0-9]{9}$"},
	{"RO", "RO", "^[1-9][0-9]{1,9}$"},
	{"SE", "SE", "^[0-9]{10}01$"},
	{"SI", "SI", "^[1-9][0-9]{7}$"},
	{"SK", "SK", "^[1-9][0-9]{9}$"},
};
#define N_STATES (sizeof(eu_states) / sizeof(eu_states[0]))

static regex_t patterns[N_STATES];
static int patterns_ok;
static pthread_once_t patterns_once = PTHREAD_ONCE_INIT;

static void compile_patterns(void)
{
	for (size_t i = 0; i < N_STATES; i++)
		if (regcomp(&patterns[i], eu_states[i].pattern, REG_EXTENDED | REG_NOSUB) != 0)
			return; /* a table bug: every id is then invalid */
	patterns_ok = 1;
}

static const eu_state *eu_find(const char *country, size_t *index)
{
	if (!country)
		return NULL;
	for (size_t i = 0; i < N_STATES; i++)
		if (strcmp(eu_states[i].country, country) == 0) {
			if (index)
				*index = i;
			return &eu_states[i];
		}
	return NULL;
}

int tax_country_ok(const char *s)
{
	return s && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && !s[2];
}

int tax_region_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!isupper((unsigned char)s[n]) && !isdigit((unsigned char)s[n]))
			return 0;
	return n < TAX_REGION_LEN;
}

int tax_eu_member(const char *country)
{
	return eu_find(country, NULL) != NULL;
}

int tax_vat_id_valid(const char *country, const char *vat_id)
{
	char id[32];
	size_t n = 0, idx;
	const eu_state *s = eu_find(country, &idx);

	if (!s || !vat_id)
		return 0;
	for (const char *p = vat_id; *p; p++) {
		if (*p == ' ' || *p == '.' || *p == '-')
			continue;
		if (n + 1 >= sizeof(id) || !isprint((unsigned char)*p))
			return 0;
		id[n++] = (char)toupper((unsigned char)*p);
	}
	id[n] = '\0';
	if (n < 3 || strncmp(id, s->prefix, 2) != 0)
		return 0;
	pthread_once(&patterns_once, compile_patterns);
	return patterns_ok && regexec(&patterns[idx], id + 2, 0, NULL, 0) == 0;
}

/* ------------------------------------------------------------------------ */
/* Which rate                                                                */

#define NOTE_REVERSE                                                                \
	"Reverse charge: VAT to be accounted for by the recipient (Article 196 of " \
	"Council Directive 2006/112/EC)."
#define NOTE_OUTSIDE_EU "Not subject to EU VAT: the place of supply is outside the EU."
#define NOTE_NO_RATE "No tax charged: no tax rate applies to the place of supply."
#define NOTE_PREPAID                                                                  \
	"Paid with prepaid credits: tax was charged on the invoice for the credits, " \
	"not again here."
#define NOTE_ADVANCE \
	"Advance payment for prepaid credits: tax is charged when the credits are used."

const char *tax_treatment_name(tax_treatment t)
{
	switch (t) {
	case TAX_STANDARD: return "standard";
	case TAX_REVERSE_CHARGE: return "reverse charge";
	case TAX_NOT_TAXED: return "not taxed";
	case TAX_PREPAID_CREDITS: return "prepaid credits";
	case TAX_ADVANCE_PAYMENT: return "advance payment";
	}
	return "unknown";
}

const char *tax_note(tax_treatment t, const char *seller_country, const char *country)
{
	switch (t) {
	case TAX_REVERSE_CHARGE: return NOTE_REVERSE;
	case TAX_PREPAID_CREDITS: return NOTE_PREPAID;
	case TAX_ADVANCE_PAYMENT: return NOTE_ADVANCE;
	case TAX_NOT_TAXED:
		return tax_eu_member(seller_country) && !tax_eu_member(country) ? NOTE_OUTSIDE_EU
										: NOTE_NO_RATE;
	case TAX_STANDARD: break;
	}
	return "";
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int tax_resolve(const tax_parties *p, tax_sale sale, tax_credit_rule rule, tax_lookup_fn lookup,
		void *arg, tax_decision *out)
{
	const char *seller = p->seller_country ? p->seller_country : "";
	const char *buyer = p->buyer_country && p->buyer_country[0] ? p->buyer_country : seller;
	const char *region = p->buyer_region ? p->buyer_region : "";
	tax_decision d;
	tax_rate r;
	int found = 0;

	memset(&d, 0, sizeof(d));
	copy(d.country, sizeof(d.country), buyer);
	if (sale == TAX_SALE_BY_CREDITS && rule == TAX_CREDITS_AT_PURCHASE) {
		d.treatment = TAX_PREPAID_CREDITS;
		goto done;
	}
	if (sale == TAX_SALE_CREDITS && rule == TAX_CREDITS_ADVANCE) {
		d.treatment = TAX_ADVANCE_PAYMENT;
		goto done;
	}
	if (tax_eu_member(seller) && tax_eu_member(buyer) && strcmp(seller, buyer) != 0 &&
	    tax_vat_id_valid(buyer, p->buyer_tax_id)) {
		d.treatment = TAX_REVERSE_CHARGE;
		goto done;
	}
	if (buyer[0] && region[0]) {
		found = lookup(arg, buyer, region, &r);
		if (found < 0)
			return found;
	}
	if (buyer[0] && !found) {
		found = lookup(arg, buyer, "", &r);
		if (found < 0)
			return found;
	}
	if (found) {
		d.treatment = TAX_STANDARD;
		d.rate_bp = r.rate_bp;
		d.inclusive = r.inclusive;
		copy(d.region, sizeof(d.region), r.region);
		goto done;
	}
	d.treatment = TAX_NOT_TAXED;
done:
	d.note = tax_note(d.treatment, seller, d.country);
	*out = d;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Amounts                                                                   */

/* Products of two int64 amounts, wide enough for any of them. */
__extension__ typedef __int128 wide;

/* half-up(x / y) for x >= 0, y > 0. */
static wide div_half_up(wide x, wide y)
{
	return (2 * x + y) / (2 * y);
}

int tax_scale(int64_t a, int64_t b, int64_t c, int round_up, int64_t *out)
{
	wide v;

	if (a < 0 || b < 0 || c <= 0)
		return TAX_RANGE;
	v = round_up ? ((wide)a * b + c - 1) / c : div_half_up((wide)a * b, c);
	if (v > INT64_MAX)
		return TAX_OVERFLOW;
	*out = (int64_t)v;
	return 0;
}

int tax_included(int64_t amount, int32_t rate_bp, int64_t *tax)
{
	if (amount < 0 || rate_bp < 0 || rate_bp > TAX_RATE_MAX)
		return TAX_RANGE;
	*tax = (int64_t)div_half_up((wide)amount * rate_bp, 10000 + rate_bp);
	return 0;
}

int tax_line(int64_t amount, int32_t rate_bp, int inclusive, int64_t *net, int64_t *tax,
	     int64_t *total)
{
	wide t;

	if (amount < 0 || rate_bp < 0 || rate_bp > TAX_RATE_MAX)
		return TAX_RANGE;
	if (inclusive) {
		t = div_half_up((wide)amount * rate_bp, 10000 + rate_bp);
		*tax = (int64_t)t;
		*total = amount;
		*net = amount - *tax;
		return 0;
	}
	t = div_half_up((wide)amount * rate_bp, 10000);
	if (t + amount > INT64_MAX)
		return TAX_OVERFLOW;
	*tax = (int64_t)t;
	*total = amount + *tax;
	*net = amount;
	return 0;
}

int tax_spread(const int64_t *amounts, size_t n, int64_t discount, int64_t *shares)
{
	wide sum = 0, given = 0;
	int64_t left;

	for (size_t i = 0; i < n; i++) {
		if (amounts[i] < 0)
			return TAX_RANGE;
		sum += amounts[i];
	}
	if (discount < 0 || discount > sum)
		return TAX_RANGE;
	for (size_t i = 0; i < n; i++) {
		shares[i] = sum ? (int64_t)((wide)discount * amounts[i] / sum) : 0;
		given += shares[i];
	}
	/* The units left (< n) go to the largest remainders, earlier first. */
	for (left = (int64_t)(discount - given); left > 0; left--) {
		size_t best = n;
		wide best_rem = -1;
		for (size_t i = 0; i < n; i++) {
			wide rem = (wide)discount * amounts[i] - (wide)shares[i] * sum;
			/* a line that already got its extra unit has rem < 0 now */
			if (shares[i] < amounts[i] && rem > best_rem) {
				best = i;
				best_rem = rem;
			}
		}
		if (best == n)
			return TAX_RANGE; /* cannot happen when discount <= sum */
		shares[best]++;
	}
	return 0;
}
