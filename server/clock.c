#include "clock.h"

#include <time.h>

static int test_mode;
static int64_t test_now;
static int64_t real_high; /* the latest real time answered, or the floor */

int64_t clock_now_us(void)
{
	struct timespec ts;
	int64_t now, high;
	if (__atomic_load_n(&test_mode, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&test_now, __ATOMIC_ACQUIRE);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	/* Never before an earlier answer (or the store's last write): a clock
	 * stepped back waits instead of going back. */
	high = __atomic_load_n(&real_high, __ATOMIC_RELAXED);
	while (now > high && !__atomic_compare_exchange_n(&real_high, &high, now, 1,
							  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return now > high ? now : high;
}

void clock_set_floor(int64_t floor_us)
{
	int64_t high = __atomic_load_n(&real_high, __ATOMIC_RELAXED);
	while (floor_us > high && !__atomic_compare_exchange_n(&real_high, &high, floor_us, 1,
							       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void clock_use_test(int64_t start_us)
{
	__atomic_store_n(&test_now, start_us, __ATOMIC_RELEASE);
	__atomic_store_n(&test_mode, 1, __ATOMIC_RELEASE);
}

int clock_is_test(void)
{
	return __atomic_load_n(&test_mode, __ATOMIC_ACQUIRE);
}

int64_t clock_advance(int64_t delta_us)
{
	return __atomic_add_fetch(&test_now, delta_us, __ATOMIC_ACQ_REL);
}
