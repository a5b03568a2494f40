#ifndef SPB_PRICING_H
#define SPB_PRICING_H

/*
 * pricing.h: the arithmetic of R3, pure and overflow-checked. Amounts are
 * int64 minor units (or whole credits); times are unix microseconds. No
 * floating point anywhere. Every function returns 0, or PRICING_OVERFLOW
 * when a result does not fit in int64, or PRICING_RANGE for an argument
 * outside its domain; *out is only written on success.
 */

#include <stdint.h>

#define PRICING_OVERFLOW 1
#define PRICING_RANGE 2

#define PRICING_MONTH_DAYS 30
#define PRICING_DAY_US (INT64_C(86400) * 1000000)
#define PRICING_MONTH_US (PRICING_MONTH_DAYS * PRICING_DAY_US)
#define PRICING_MONTHS_MIN 1
#define PRICING_MONTHS_MAX 60

/* monthly (>= 0) x months (1..60). */
int pricing_months(int64_t monthly, int32_t months, int64_t *out);

/* monthly (>= 0) x days / 30, rounded half-up to the unit; days >= 1. */
int pricing_days(int64_t monthly, int64_t days, int64_t *out);

/* monthly credits (>= 0) x days / 30, rounded UP to a whole credit (R3: a
 * paid service is never free by choosing a short span); days >= 1. */
int pricing_days_credits(int64_t monthly, int64_t days, int64_t *out);

/* Whole days from `from` to `to` (> from), rounded up; PRICING_RANGE when
 * to <= from. */
int pricing_days_between(int64_t from_us, int64_t to_us, int64_t *out);

/* *acc += v (v >= 0). */
int pricing_add(int64_t *acc, int64_t v);

/* base x percent / 100 rounded half-up; percent 0..100. */
int pricing_percent(int64_t base, int32_t percent, int64_t *out);

/* t + months x 30 days. */
int pricing_add_months(int64_t t_us, int32_t months, int64_t *out);

#endif
