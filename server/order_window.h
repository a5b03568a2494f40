#ifndef SPB_ORDER_WINDOW_H
#define SPB_ORDER_WINDOW_H

/*
 * order_window.h: how long an order may wait for its payment (R9), for the
 * order engine and for the items it holds (items.c). Header only, a leaf:
 * items.c may include it without depending on the order engine.
 */

#include <stdint.h>

#include "store_order.h"

/* A PENDING_PAYMENT order not paid in this long times out. */
#define ORDER_PAY_WINDOW_US (INT64_C(24) * 3600 * 1000000)

/* 1 if o is PENDING_PAYMENT and older than ORDER_PAY_WINDOW_US at now: it
 * reads as TIMED_OUT, and the next write that touches it makes it so. A
 * renewal-group order (group_id set) waits between its attempts instead:
 * its window ends at final_time, the end of its lines' grace, and the
 * renewal scheduler ends it then (FAILED). */
static inline int orders_overdue(const store_order *o, int64_t now)
{
	if (o->group_id && o->group_id[0])
		return o->status == STORE_ORDER_PENDING_PAYMENT && o->final_time > 0 &&
		       now >= o->final_time;
	return o->status == STORE_ORDER_PENDING_PAYMENT &&
	       now - o->create_time >= ORDER_PAY_WINDOW_US;
}

/* 1 if o still holds its items: PROCESSING, or PENDING_PAYMENT within its
 * pay window. */
static inline int orders_holds_items(const store_order *o, int64_t now)
{
	return o->status == STORE_ORDER_PROCESSING ||
	       (o->status == STORE_ORDER_PENDING_PAYMENT && !orders_overdue(o, now));
}

#endif
