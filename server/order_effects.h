#ifndef SPB_ORDER_EFFECTS_H
#define SPB_ORDER_EFFECTS_H

/*
 * order_effects.h: what settling an order does, inside the transaction that
 * settles it, so an order's effects are applied exactly once and only with
 * its SUCCEEDED status (R9).
 */

#include <stdint.h>

#include "store.h"
#include "store_order.h"

/*
 * Marks o SUCCEEDED in w and applies its effects exactly once: the items'
 * new expiry, status ACTIVE and renewal settings, the credits bought by a
 * CREDIT_PURCHASE order (credits_grant to o->beneficiary_id), the coupon
 * redemption, then the settle hook. Only to exactly the items it priced
 * (R9): when the item of a line is gone or is another item now (another
 * project, service type or creation sequence; for an activation, an item
 * no longer INACTIVE), nothing is applied and o
 * becomes FAILED (failure_reason ORDERS_ITEM_CHANGED) with needs_refund set
 * when money or credits were taken. A SUCCEEDED order gets its invoice
 * (invoices.h), numbered in this transaction: a rollback consumes no number.
 * o is updated (status, lines' new_expires_at) but not written: the caller
 * puts it in the same transaction. 0 or a STORE_* code.
 */
int orders_succeed(store_txn *w, store_order *o, int64_t now);

/* The failure_reason of an order whose item changed before settlement. */
#define ORDERS_ITEM_CHANGED "item_changed"
/* The failure_reason of a credit purchase whose credits would overflow a
 * balance (the grant is checked again when it settles). */
#define ORDERS_CREDITS_DO_NOT_FIT "credits_do_not_fit"

/* 1 when every line of o still designates exactly its item (see
 * orders_succeed), 0 when one does not, or a negative STORE_* code. */
int orders_lines_match(store_txn *txn, const store_order *o);

/* Ends o without effects (FAILED, CANCELED, TIMED_OUT): releases its coupon
 * reservation, runs the settle hook. The caller puts o. */
int orders_end(store_txn *w, store_order *o, int status, const char *why, int64_t now);

/*
 * A renewal group's order (group_id set) whose attempt did not pay
 * (declined, or 3-D Secure asked for with nobody there): it stays open,
 * PENDING_PAYMENT and recoverable, with why as its failure_reason, waiting
 * for its next retry or for the buyer (RecoverRenewal); runs the settle
 * hook with succeeded = -1. The caller puts o. 0 or a STORE_* code.
 */
int orders_attempt_failed(store_txn *w, store_order *o, const char *why, int64_t now);

/*
 * A hook run by orders_succeed() (succeeded = 1), orders_end()
 * (succeeded = 0) and orders_attempt_failed() (succeeded = -1) for every
 * order they settle, inside the settling transaction w, after the order's
 * own effects; a non-zero return (a STORE_* code) fails the settlement. The renewal scheduler registers its
 * bookkeeping of AUTO_RENEWAL orders here (scheduler_init), so the order
 * engine does not depend on it; it may set a renewal order's schedule
 * fields (retry_at, next_attempt), which the caller puts with o. One hook; NULL removes it. Thread-safe, but
 * set it before orders can settle.
 */
typedef int (*orders_settle_hook)(store_txn *w, store_order *o, int succeeded, int64_t now);
void orders_set_settle_hook(orders_settle_hook fn);

#endif
