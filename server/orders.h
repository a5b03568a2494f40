#ifndef SPB_ORDERS_H
#define SPB_ORDERS_H

/*
 * orders.h: the order engine (R7-R10). ActivateServices / RenewServices /
 * GetOrder / ListOrders / ConfirmOrder / CancelOrder are rpc_* handlers
 * found by name; this header exposes what other modules (the auto-renewal
 * scheduler, the reconciler) need.
 *
 * Payments run in three atomic phases (DESIGN §5):
 *   1. a write transaction recomputes the quote, reserves the coupon and
 *      creates the order PROCESSING with provider key = order id;
 *   2. after it is durable, a payments worker thread calls the provider
 *      (payments/provider.h) with no transaction held;
 *   3. a second write transaction records the answer and, on success,
 *      applies the effects (orders_succeed) in the same transaction that
 *      marks the order SUCCEEDED.
 */

#include <stdint.h>

#include "order.h"
#include "store.h"

/* A PENDING_PAYMENT order not paid in this long times out. */
#define ORDER_PAY_WINDOW_US (INT64_C(24) * 3600 * 1000000)

/*
 * Marks o SUCCEEDED in w and applies its effects exactly once: the items'
 * new expiry, status ACTIVE and renewal settings, the coupon redemption.
 * o is updated (status, lines' new_expires_at) but not written: the caller
 * puts it in the same transaction. 0 or a STORE_* code.
 */
int orders_succeed(store_txn *w, store_order *o, int64_t now);

/* Ends o without effects (FAILED, CANCELED, TIMED_OUT): releases its coupon
 * reservation. The caller puts o. */
int orders_end(store_txn *w, store_order *o, int status, const char *why, int64_t now);

#endif
