/* pricing.c: R3 arithmetic. See pricing.h. */
#include "pricing.h"

int pricing_months(int64_t monthly, int32_t months, int64_t *out)
{
	int64_t r;

	if (monthly < 0 || months < PRICING_MONTHS_MIN || months > PRICING_MONTHS_MAX)
		return PRICING_RANGE;
	if (__builtin_mul_overflow(monthly, (int64_t)months, &r))
		return PRICING_OVERFLOW;
	*out = r;
	return 0;
}

int pricing_days(int64_t monthly, int64_t days, int64_t *out)
{
	int64_t x;

	if (monthly < 0 || days < 1)
		return PRICING_RANGE;
	/* floor(x / 30 + 1/2) == floor((x + 15) / 30) for x >= 0 */
	if (__builtin_mul_overflow(monthly, days, &x) ||
	    __builtin_add_overflow(x, (int64_t)(PRICING_MONTH_DAYS / 2), &x))
		return PRICING_OVERFLOW;
	*out = x / PRICING_MONTH_DAYS;
	return 0;
}

int pricing_days_credits(int64_t monthly, int64_t days, int64_t *out)
{
	int64_t x;

	if (monthly < 0 || days < 1)
		return PRICING_RANGE;
	/* ceil(x / 30) == floor((x + 29) / 30) for x >= 0 */
	if (__builtin_mul_overflow(monthly, days, &x) ||
	    __builtin_add_overflow(x, (int64_t)(PRICING_MONTH_DAYS - 1), &x))
		return PRICING_OVERFLOW;
	*out = x / PRICING_MONTH_DAYS;
	return 0;
}

int pricing_days_between(int64_t from_us, int64_t to_us, int64_t *out)
{
	int64_t d;

	if (to_us <= from_us)
		return PRICING_RANGE;
	if (__builtin_sub_overflow(to_us, from_us, &d))
		return PRICING_OVERFLOW;
	*out = d / PRICING_DAY_US + (d % PRICING_DAY_US != 0);
	return 0;
}

int pricing_add(int64_t *acc, int64_t v)
{
	int64_t r;

	if (v < 0)
		return PRICING_RANGE;
	if (__builtin_add_overflow(*acc, v, &r))
		return PRICING_OVERFLOW;
	*acc = r;
	return 0;
}

int pricing_percent(int64_t base, int32_t percent, int64_t *out)
{
	int64_t x;

	if (base < 0 || percent < 0 || percent > 100)
		return PRICING_RANGE;
	if (__builtin_mul_overflow(base, (int64_t)percent, &x) ||
	    __builtin_add_overflow(x, (int64_t)50, &x))
		return PRICING_OVERFLOW;
	*out = x / 100;
	return 0;
}

int pricing_add_months(int64_t t_us, int32_t months, int64_t *out)
{
	int64_t d, r;

	if (months < PRICING_MONTHS_MIN || months > PRICING_MONTHS_MAX)
		return PRICING_RANGE;
	if (__builtin_mul_overflow((int64_t)months, PRICING_MONTH_US, &d) ||
	    __builtin_add_overflow(t_us, d, &r))
		return PRICING_OVERFLOW;
	*out = r;
	return 0;
}
