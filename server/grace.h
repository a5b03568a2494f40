#ifndef SPB_GRACE_H
#define SPB_GRACE_H

/*
 * grace.h: how long an item whose automatic renewal is unpaid stays on
 * after its expiry (ITEM_STATUS_GRACE), per service type, and when the
 * renewal.upcoming notices go out. A leaf: the item conversion (convert.c)
 * and the renewal modules read it. Set once at start-up (server.c from the
 * configuration), read-only afterwards.
 *
 * Defaults: 7 days; SENSOR_ALERT (fall and bed-exit alarms) 14 days.
 * Notices: 7 days and 1 day before a group's renewal.
 */

#include <stddef.h>
#include <stdint.h>

#define GRACE_TYPES 16 /* service types 0..15; 0 is the default */
#define GRACE_NOTICES_MAX 4

/* grace_us[t] for each service type t (0 = the default for types left at
 * 0); a negative value keeps the built-in one. */
void grace_configure(const int64_t grace_us[GRACE_TYPES]);

/* The grace of service type t. */
int64_t grace_of(int service_type);

/* The longest grace of any service type. */
int64_t grace_max(void);

/* The renewal.upcoming leads, descending (at most GRACE_NOTICES_MAX; n = 0
 * sends none). */
void grace_set_notices(const int64_t *lead_us, size_t n);
size_t grace_notices(const int64_t **lead_us);

/* The ITEM_STATUS of an ACTIVE item past expires_at: GRACE while its
 * renewal for that expiry is unpaid (unpaid_since == expires_at) and its
 * grace has not ended at now, else EXPIRED; and the end of that grace
 * (0 when not in grace). */
int grace_status(int service_type, int64_t expires_at, int64_t unpaid_since, int64_t now,
		 int64_t *grace_end);

#endif
