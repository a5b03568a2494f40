/* currency.c: the providers' currency tables. See currency.h for sources. */
#include "currency.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* docs.stripe.com/currencies: zero-decimal and three-decimal currencies. */
static const char *const stripe_zero[] = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF",
					  "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
					  "VUV", "XAF", "XOF", "XPF", NULL};
static const char *const stripe_three[] = {"BHD", "JOD", "KWD", "OMR", "TND", NULL};

/* docs.stripe.com/currencies: the presentment currencies of card payments. */
static const char *const stripe_all[] = {
	"USD", "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD",
	"BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BWP", "BYN", "BZD", "CAD",
	"CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP",
	"ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL",
	"HTG", "HUF", "IDR", "ILS", "INR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF",
	"KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD",
	"MMK", "MNT", "MOP", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
	"NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
	"RUB", "RWF", "SAR", "SBD", "SCR", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "STD", "SZL",
	"THB", "TJS", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "UYU", "UZS", "VND",
	"VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", NULL};

/* developer.paypal.com/docs/api/reference/currency-codes/ (RUB, listed
 * there once, is withdrawn). */
static const char *const paypal_all[] = {
	"AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN",
	"TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD", NULL};
static const char *const paypal_zero[] = {"HUF", "JPY", "TWD", NULL};

/* Stripe: "The amount value supports up to eight digits". */
#define STRIPE_MAX_AMOUNT 99999999LL

static int in(const char *const *list, const char *cur)
{
	for (; *list; list++)
		if (strcasecmp(*list, cur) == 0)
			return 1;
	return 0;
}

static int three_letters(const char *c)
{
	return c && isalpha((unsigned char)c[0]) && isalpha((unsigned char)c[1]) &&
	       isalpha((unsigned char)c[2]) && !c[3];
}

int currency_exponent(const char *cur)
{
	if (!three_letters(cur))
		return -1;
	if (in(stripe_zero, cur))
		return 0;
	if (in(stripe_three, cur))
		return 3;
	return 2;
}

/* The number of decimals the provider writes for the currency. */
static int provider_exponent(pay_provider_kind p, const char *cur)
{
	if (p == PAY_KIND_PAYPAL)
		return in(paypal_zero, cur) ? 0 : 2;
	return currency_exponent(cur);
}

int currency_supported(pay_provider_kind p, const char *cur)
{
	if (!three_letters(cur))
		return 0;
	return in(p == PAY_KIND_PAYPAL ? paypal_all : stripe_all, cur);
}

static int64_t pow10i(int e)
{
	int64_t v = 1;
	while (e-- > 0)
		v *= 10;
	return v;
}

int currency_chargeable(pay_provider_kind p, const char *cur, int64_t amount, char *why, size_t cap)
{
	const char *name = p == PAY_KIND_PAYPAL ? "PayPal" : "Stripe";
	int e = currency_exponent(cur), pe;
	if (!currency_supported(p, cur)) {
		snprintf(why, cap, "%s does not accept the currency %s", name, cur ? cur : "");
		return -1;
	}
	if (amount < 1) {
		snprintf(why, cap, "%s charges only positive amounts", name);
		return -1;
	}
	if (p == PAY_KIND_STRIPE) {
		if (amount > STRIPE_MAX_AMOUNT) {
			snprintf(why, cap, "Stripe charges at most %lld minor units",
				 (long long)STRIPE_MAX_AMOUNT);
			return -1;
		}
		if (e == 3 && amount % 10 != 0) {
			snprintf(why, cap,
				 "Stripe charges %s (a three-decimal currency) only in amounts "
				 "ending in 0",
				 cur);
			return -1;
		}
		return 0;
	}
	pe = provider_exponent(p, cur);
	if (pe < e && amount % pow10i(e - pe) != 0) {
		snprintf(why, cap, "PayPal charges %s in whole units only (no decimals)", cur);
		return -1;
	}
	return 0;
}

int currency_format(pay_provider_kind p, const char *cur, int64_t amount, char *out, size_t cap)
{
	char why[128];
	int e = currency_exponent(cur), pe;
	int64_t v, div;
	if (currency_chargeable(p, cur, amount, why, sizeof(why)) != 0)
		return -1;
	pe = provider_exponent(p, cur);
	v = pe < e ? amount / pow10i(e - pe) : amount * pow10i(pe - e);
	div = pow10i(pe);
	if (pe == 0)
		return snprintf(out, cap, "%lld", (long long)v) < (int)cap ? 0 : -1;
	return snprintf(out, cap, "%lld.%0*lld", (long long)(v / div), pe, (long long)(v % div)) <
			       (int)cap
		       ? 0
		       : -1;
}

int currency_parse(pay_provider_kind p, const char *cur, const char *s, int64_t *amount)
{
	int e = currency_exponent(cur), pe, frac = 0;
	int64_t v = 0;
	const char *q = s;
	if (e < 0 || !s || !*s)
		return -1;
	pe = provider_exponent(p, cur);
	for (; *q && *q != '.'; q++)
		if (!isdigit((unsigned char)*q) || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *q - '0', &v))
			return -1;
	if (q == s)
		return -1;
	if (*q == '.') {
		for (q++; *q; q++, frac++)
			if (!isdigit((unsigned char)*q) || frac >= pe ||
			    __builtin_mul_overflow(v, 10, &v) ||
			    __builtin_add_overflow(v, *q - '0', &v))
				return -1;
	}
	for (; frac < pe; frac++)
		if (__builtin_mul_overflow(v, 10, &v))
			return -1;
	/* provider units -> billingd's minor units */
	if (pe < e && __builtin_mul_overflow(v, pow10i(e - pe), &v))
		return -1;
	if (pe > e) {
		if (v % pow10i(pe - e) != 0)
			return -1;
		v /= pow10i(pe - e);
	}
	*amount = v;
	return 0;
}
