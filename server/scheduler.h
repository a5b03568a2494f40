#ifndef SPB_SCHEDULER_H
#define SPB_SCHEDULER_H

/*
 * scheduler.h: automatic renewal (DESIGN R8 auto mode, R18, §5 scheduler;
 * issue 16: renewal groups).
 *
 * Every AUTO item renews with a renewal group (renewal_groups.h): one payer,
 * one payment method and card, one day of the 30-day cycle. The scheduler
 * places ONE AUTO_RENEWAL order per group and period, holding every member
 * due that period as a line, with an id derived from (group, period):
 * "ord_ar_" + 32 hex digits of SHA-256 (scheduler_order_id). An item whose
 * expiry is not one of its group's renewal times joins with a prorated
 * order of its own kind (a join: by the day, R3, from its expiry up to the
 * group's next renewal time; id derived from (group, expiry, that time)).
 * The order succeeds or fails as a whole and moves each line's item from
 * the period it priced to the period's end, exactly once (order_effects.h).
 *
 * Timing: a period's order is placed lead time before the period starts
 * (items due at expires_at - lead, found through the storage index of AUTO
 * items not held by an open renewal order). Phase 1 creates the order
 * PROCESSING in a write transaction and marks its items as held by it
 * (auto_renew.order_id), phase 2 charges off-session through the payment
 * engine (order_payment.h; credits settle in phase 1), phase 3 records the
 * answer. A period has one provider payment: every retry confirms it again
 * (RETRY, under the attempt's own key), so a crash at any point resumes the
 * same order and intent instead of charging twice.
 *
 * A failed attempt (a decline, or 3-D Secure with nobody there) leaves the
 * order open, PENDING_PAYMENT and recoverable (RecoverRenewal pays it with
 * the buyer present), and schedules the next retry: the configured offsets
 * (default 1, 2 and 4 days) after the period's start, less the lead, never
 * sooner than the gap between two retries from now. Its items are in GRACE
 * from their expiry until the grace of their service type ends (grace.h);
 * once the longest of those has ended (and the retries are done) the order
 * fails for good, its payment is canceled at the provider, and its items
 * leave auto-renew and simply stay expired. These order-level steps are
 * driven by the order's next_attempt (store_order_auto_due_before).
 *
 * The scheduler also sends the renewal.upcoming notices of the groups
 * (grace.h: 7 days and 1 day before) and expires payment requests with
 * their quote (payment_requests.h).
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

/* Retry offsets after the start of the period, ascending, at most
 * SCHEDULER_MAX_RETRIES (extra ones are ignored); n = 0 means no retries.
 * Default {1, 2, 4} days. */
void scheduler_set_retries(const int64_t *offsets_us, size_t n);

/* How often the real-clock thread scans. Default 60 s. */
void scheduler_set_interval(int seconds);

/*
 * Starts the renewal thread: with the real clock it runs the due work
 * every interval; with the test clock it does nothing (AdvanceClock runs
 * it through scheduler_advance()). Needs billingd.store open. 0 or -1.
 */
int scheduler_start(void);

/* Stops and joins the thread (a round in progress finishes first). Call
 * before closing the store. Safe when never started. */
void scheduler_stop(void);

/*
 * Runs everything due at or before `now` (the real clock's scan); returns
 * how many payment attempts were made (orders placed and retries), or a
 * negative STORE_* code.
 */
int scheduler_run_due(int64_t now);

/*
 * The test clock's jump (R18), called by AdvanceClock: runs, in time order,
 * everything falling due in (from, to] (and anything overdue first),
 * moving the test clock to each due time before running it. Returns how
 * many payment attempts were made. Leaves the clock at or before `to`.
 */
int scheduler_advance(int64_t from_us, int64_t to_us);

/* What an order renews: a group's period, or a join up to it. */
#define SCHEDULER_PERIOD 1
#define SCHEDULER_JOIN 2

/*
 * The derived id of the renewal order of group_id of `kind` for the lines
 * moving from `start` to `end`: "ord_ar_" + 32 hex digits; out must hold 48
 * bytes.
 */
void scheduler_order_id(const char *group_id, int kind, int64_t start, int64_t end, char out[48]);

/*
 * Registers the renewal bookkeeping with the order engine
 * (orders_set_settle_hook): every AUTO_RENEWAL order settled anywhere (its
 * own phase 3, ConfirmOrder, RecoverRenewal, a webhook, the reconciler)
 * updates its items' auto-renew state in the same transaction. billingd
 * calls it at start-up before anything can settle an order;
 * scheduler_start(), scheduler_run_due() and scheduler_advance() call it
 * too. Idempotent, thread-safe.
 */
void scheduler_init(void);

/* Counters since start (the 5,000-item run prints them). */
typedef struct scheduler_counts {
	uint64_t orders_placed; /* period and join orders created */
	uint64_t joins;         /* of which joins */
	uint64_t attempts;      /* payment attempts (placements and retries) */
	uint64_t lines;         /* lines placed */
	uint64_t items_extended;
	uint64_t rounds;
	uint64_t busy_us; /* time spent in rounds */
} scheduler_counts;
void scheduler_counts_get(scheduler_counts *out);

#endif
