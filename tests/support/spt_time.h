/*
 * spt_time.h - clocks, sleeps and bounded polling for tests.
 *
 * Nothing waits without a bound: SPT_POLL gives up after its timeout, and
 * the process helpers take a timeout on every wait. Tests never assert on
 * how long something took.
 */
#ifndef SPT_TIME_H
#define SPT_TIME_H

#include <stdint.h>

#define SPT_SECOND_US INT64_C(1000000)
#define SPT_HOUR_US (INT64_C(3600) * SPT_SECOND_US)
#define SPT_DAY_US (INT64_C(86400) * SPT_SECOND_US)
#define SPT_MONTH_US (30 * SPT_DAY_US) /* the product's month (R3) */

/* Sleeps ms milliseconds (resumes after signals). */
void spt_sleep_ms(long ms);

/* Monotonic milliseconds (for timeouts). */
int64_t spt_mono_ms(void);

/* Wall-clock microseconds since the epoch. */
int64_t spt_real_us(void);

/*
 * SPT_POLL(ok, cond, timeout_ms, interval_ms): evaluates cond every
 * interval_ms until it is true or timeout_ms have passed; ok (an int
 * lvalue) is 1 when cond became true, 0 on the time-out.
 */
#define SPT_POLL(ok, cond, timeout_ms, interval_ms)                         \
	do {                                                                \
		int64_t spt_poll_end_ = spt_mono_ms() + (timeout_ms);       \
		while (!((ok) = !!(cond)) && spt_mono_ms() < spt_poll_end_) \
			spt_sleep_ms(interval_ms);                          \
	} while (0)

#endif
