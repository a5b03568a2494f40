#ifndef SPB_EVENT_SOURCES_H
#define SPB_EVENT_SOURCES_H

/*
 * event_sources.h: the events that need the item and order modules, the
 * expiry sweep, and the events thread. The core (events_emit, the reader
 * rule, retention) is events.h; see there for the exactly-once rule.
 */

#include <stdint.h>

#include "events.h" /* the EV_* kinds */
#include "store.h"
#include "store_order.h"

/* item.* for it (see events_item_emit), with its R4 `free` flag; with
 * item.activated or item.renewed, an expiry already inside the warning
 * window also gets its item.expiring_soon. */
int events_item(store_txn *w, const char *kind, const store_item *it, const char *cause,
		const char *actor);

/* order.* and renewal.* for o as it is in w's transaction: subject
 * "orders/<id>" (renewal.*: "items/<the renewed item>"), cause the order
 * id, actor the account that placed it, owner its installer (the
 * beneficiary of a credit purchase) and also the payer, payload the Order. */
int events_order(store_txn *w, const char *kind, const store_order *o);
/* The same with another cause (a renewal group's order: one renewal.failed
 * per attempt, cause "<order>/a<attempt>"); a renewal group's order has
 * subject "orders/<id>" for renewal.* too, and its payer as owner when its
 * lines span installers. */
int events_order_as(store_txn *w, const char *kind, const store_order *o, const char *cause);

/* What settling o did, once its status is set (orders_succeed(),
 * orders_end()): order.succeeded, then item.activated / item.renewed for
 * each line's item and coupon.redeemed; or order.failed, order.canceled,
 * order.timed_out, with renewal.failed for a failed automatic renewal. */
int events_order_settled(store_txn *w, const store_order *o);

/*
 * The expiry sweep at `now`: item.expiring_soon and item.expired for the
 * dates not looked at yet, in bounded write mutations. Serialised with
 * itself. Returns the number of events recorded, or a negative STORE_*
 * code.
 */
int events_sweep(int64_t now);

/* AdvanceClock's jump has ended at `now`: sweep and prune. (The webhook
 * worker looks at the clock at least every second, so deliveries due after
 * the jump go out without a wake-up.) */
void events_after_jump(int64_t now);

/* Starts the events thread (sweep and retention on a timer with the real
 * clock; nothing with the test clock, whose jumps do both) and installs
 * the commit hook on billingd.store. 0 or -1. */
int events_start(void);
/* Stops and joins it, and removes the hook. Safe when never started. */
void events_stop(void);

#endif
