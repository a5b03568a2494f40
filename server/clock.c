#include "clock.h"

#include <time.h>

static int test_mode;
static int64_t test_now;

int64_t clock_now_us(void)
{
	struct timespec ts;
	if (__atomic_load_n(&test_mode, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&test_now, __ATOMIC_ACQUIRE);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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
