/* grace.c: grace periods and notice leads (see grace.h). */
#include "grace.h"

#include "enums.h"
#include "pricing.h"

static int64_t grace[GRACE_TYPES] = {
	[0] = 7 * PRICING_DAY_US,
	[STYPE(SENSOR_ALERT)] = 14 * PRICING_DAY_US,
};
static int64_t notices[GRACE_NOTICES_MAX] = {7 * PRICING_DAY_US, PRICING_DAY_US};
static size_t n_notices = 2;

void grace_configure(const int64_t g[GRACE_TYPES])
{
	for (int t = 0; t < GRACE_TYPES; t++)
		if (g[t] >= 0)
			grace[t] = g[t];
}

int64_t grace_of(int t)
{
	if (t > 0 && t < GRACE_TYPES && grace[t] > 0)
		return grace[t];
	return grace[0];
}

int64_t grace_max(void)
{
	int64_t m = grace[0];
	for (int t = 1; t < GRACE_TYPES; t++)
		if (grace[t] > m)
			m = grace[t];
	return m;
}

void grace_set_notices(const int64_t *lead, size_t n)
{
	n_notices = n < GRACE_NOTICES_MAX ? n : GRACE_NOTICES_MAX;
	for (size_t i = 0; i < n_notices; i++)
		notices[i] = lead[i];
	for (size_t i = 1; i < n_notices; i++) /* descending */
		for (size_t j = i; j > 0 && notices[j] > notices[j - 1]; j--) {
			int64_t x = notices[j];
			notices[j] = notices[j - 1];
			notices[j - 1] = x;
		}
}

size_t grace_notices(const int64_t **lead)
{
	*lead = notices;
	return n_notices;
}

int grace_status(int service_type, int64_t expires_at, int64_t unpaid_since, int64_t now,
		 int64_t *grace_end)
{
	int64_t end = expires_at + grace_of(service_type);
	*grace_end = 0;
	if (now < expires_at)
		return ISTATUS(ACTIVE);
	if (unpaid_since == expires_at && unpaid_since > 0 && now < end) {
		*grace_end = end;
		return ISTATUS(GRACE);
	}
	return ISTATUS(EXPIRED);
}
