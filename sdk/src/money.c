/*
 * money.c - minor units <-> decimal text per ISO-4217 exponent.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "spb_internal.h"

int spb_currency_exponent(const char *currency)
{
	/* ISO-4217 codes with no minor unit, and with three decimals. */
	static const char no_decimals[] =
		" BIF CLP DJF GNF ISK JPY KMF KRW MGA PYG RWF UGX UYI VND "
		"VUV XAF XOF XPF ";
	static const char three_decimals[] = " BHD IQD JOD KWD LYD OMR TND ";
	char probe[6];

	if (!currency || strlen(currency) != 3)
		return 2;
	snprintf(probe, sizeof(probe), " %c%c%c ", toupper((unsigned char)currency[0]),
		 toupper((unsigned char)currency[1]), toupper((unsigned char)currency[2]));
	if (strstr(no_decimals, probe))
		return 0;
	if (strstr(three_decimals, probe))
		return 3;
	return 2;
}

int spb_money_format(int64_t minor, const char *currency, char *buf, size_t size)
{
	int exp = spb_currency_exponent(currency), n;
	uint64_t mag, scale = 1;

	if (!buf || size == 0)
		return SPB_EINVALID;
	/* magnitude without overflowing on INT64_MIN */
	mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
	if (!currency || !*currency) {
		n = snprintf(buf, size, "%lld", (long long)minor);
	} else {
		for (int i = 0; i < exp; i++)
			scale *= 10;
		if (exp == 0)
			n = snprintf(buf, size, "%s%llu %s", minor < 0 ? "-" : "",
				     (unsigned long long)mag, currency);
		else
			n = snprintf(buf, size, "%s%llu.%0*llu %s", minor < 0 ? "-" : "",
				     (unsigned long long)(mag / scale), exp,
				     (unsigned long long)(mag % scale), currency);
	}
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return SPB_EINVALID;
	}
	return 0;
}

int spb_money_parse(const char *text, const char *currency, int64_t *minor)
{
	int exp = spb_currency_exponent(currency), decimals = 0, digits = 0, neg = 0;
	const char *p = text;
	int64_t v = 0;

	if (!text || !minor)
		return SPB_EINVALID;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	for (; isdigit((unsigned char)*p); p++, digits++)
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			return SPB_EINVALID;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, decimals++)
			if (decimals >= exp || __builtin_mul_overflow(v, 10, &v) ||
			    __builtin_add_overflow(v, *p - '0', &v))
				return SPB_EINVALID;
		if (decimals == 0)
			return SPB_EINVALID;
	}
	if (*p || digits == 0)
		return SPB_EINVALID;
	for (; decimals < exp; decimals++)
		if (__builtin_mul_overflow(v, 10, &v))
			return SPB_EINVALID;
	*minor = neg ? -v : v;
	return 0;
}
