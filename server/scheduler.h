#ifndef SPB_SCHEDULER_H
#define SPB_SCHEDULER_H

/*
 * scheduler.h: automatic renewal (DESIGN R8 auto mode, R18, §5 scheduler).
 *
 * An item on AUTO is found through the storage index of AUTO items by due
 * time (store_item_auto_due(): its next_attempt if a retry is pending, else
 * its expires_at). An attempt runs at (due time - lead time). Each attempt
 * is one AUTO_RENEWAL order for one 30-day period of one item, whose id is
 * derived from (item id, the expires_at being extended, attempt number):
 * "ord_ar_" + 32 hex digits of SHA-256. The order is created PROCESSING in
 * one write transaction (phase 1) before anything is charged, the provider
 * is called off-session with the order id as idempotency key (phase 2), and
 * the answer is recorded in a second write transaction (phase 3), so a
 * second scan, a restart or a crash at any point resumes the same order
 * rather than charging again or skipping a period. Credit and zero-amount
 * renewals settle in phase 1.
 *
 * On success the item is extended by exactly 30 days from its expires_at
 * (even when a late retry runs after that date), cycles_done goes up and
 * any retry state is cleared; once the chosen number of cycles is reached,
 * or the next period would end after `until`, auto-renew switches off and
 * the item simply expires on its date. A failed attempt is retried after
 * the configured offsets (default 1, 2 and 4 days after the first attempt
 * of the period); after the last one auto-renew switches off.
 *
 * Threads: the settings below are read by the scheduler thread and by
 * AdvanceClock; set them before scheduler_start().
 */

#include <stddef.h>
#include <stdint.h>

#include "store_order.h"
#include "store.h"

#define SCHEDULER_MAX_RETRIES 8

/* Lead time: an attempt runs this long before its due time. Default 24 h. */
void scheduler_set_lead(int64_t lead_us);
int64_t scheduler_lead(void);

/* Retry offsets after the first attempt of a period, ascending, at most
 * SCHEDULER_MAX_RETRIES (extra ones are ignored); n = 0 means no retries.
 * Default {1, 2, 4} days. */
void scheduler_set_retries(const int64_t *offsets_us, size_t n);

/* How often the real-clock thread scans. Default 60 s. */
void scheduler_set_interval(int seconds);

/*
 * Starts the renewal thread: with the real clock it runs the due attempts
 * every interval; with the test clock it does nothing (AdvanceClock runs
 * them through scheduler_advance()). Needs billingd.store open. 0 or -1.
 */
int scheduler_start(void);

/* Stops and joins the thread (an attempt in progress finishes first). Call
 * before closing the store. Safe when never started. */
void scheduler_stop(void);

/*
 * Runs every attempt due at or before `now` (the real clock's scan); returns
 * how many attempts ran, or a negative STORE_* code.
 */
int scheduler_run_due(int64_t now);

/*
 * The test clock's jump (R18), called by AdvanceClock: runs, in time order,
 * every attempt falling due in (from, to] (and any overdue one first),
 * moving the test clock to each due time before running it. Returns how
 * many attempts ran. Leaves the clock at or before `to`.
 */
int scheduler_advance(int64_t from_us, int64_t to_us);

/*
 * The derived id of attempt `attempt` (0, 1, ...) at renewing item_id from
 * expires_at: "ord_ar_" + 32 hex digits; out must hold 48 bytes.
 */
void scheduler_order_id(const char *item_id, int64_t expires_at, int attempt, char out[48]);

/*
 * Registers the renewal bookkeeping with the order engine
 * (orders_set_settle_hook): every AUTO_RENEWAL order settled anywhere (its
 * own phase 3, ConfirmOrder, the reconciler) updates its item's auto-renew
 * state in the same transaction. billingd calls it at start-up before
 * anything can settle an order; scheduler_start(), scheduler_run_due() and
 * scheduler_advance() call it too. Idempotent, thread-safe.
 */
void scheduler_init(void);

#endif
