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

#include <stddef.h>
#include <stdint.h>

#include "order.h"
#include "rpc.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "store.h"
#include "write.h"

/* A PENDING_PAYMENT order not paid in this long times out. */
#define ORDER_PAY_WINDOW_US (INT64_C(24) * 3600 * 1000000)

/* How often the sweeper looks for PENDING_PAYMENT orders to time out. */
#define ORDER_SWEEP_INTERVAL_S 60

/*
 * Marks o SUCCEEDED in w and applies its effects exactly once: the items'
 * new expiry, status ACTIVE and renewal settings, the credits bought by a
 * CREDIT_PURCHASE order (credits_grant to o->beneficiary_id), the coupon
 * redemption. Only to exactly the items it priced (R9): when an item of a
 * line is gone or is another item now (another project, service type or
 * creation sequence), nothing is applied and o becomes FAILED
 * ("item_changed") with needs_refund set when money or credits were taken.
 * o is updated (status, lines' new_expires_at) but not written: the caller
 * puts it in the same transaction. 0 or a STORE_* code.
 */
int orders_succeed(store_txn *w, store_order *o, int64_t now);

/* 1 when an open order (PROCESSING, or PENDING_PAYMENT within its pay
 * window) holds item_id: such an item is neither deleted nor reset. 0 if
 * none does, or a negative STORE_* code. */
int orders_item_held(store_txn *txn, const char *item_id, int64_t now);

/* Ends o without effects (FAILED, CANCELED, TIMED_OUT): releases its coupon
 * reservation. The caller puts o. */
int orders_end(store_txn *w, store_order *o, int status, const char *why, int64_t now);

/*
 * Phase 3 without a call (the reconciler): records the provider's answer
 * `res` (a struct pay_result, payments/provider.h) for order_id inside
 * write txn w exactly as ConfirmOrder does, applying the effects on
 * success. Orders no longer PROCESSING/PENDING_PAYMENT are left alone.
 * *outcome (may be NULL): the pay_status applied, 0 when nothing was to
 * settle. 0 or a STORE_* code.
 */
/*
 * One provider conversation per order at a time: orders_claim() returns 1
 * when the caller now holds order_id (0: someone else is talking to the
 * provider about it), to be released once the answer is recorded.
 * orders_still_open(): the stored order is PROCESSING or PENDING_PAYMENT
 * (checked after claiming, before calling the provider).
 */
int orders_claim(const char *order_id);
void orders_release(const char *order_id);
int orders_still_open(const char *order_id);

struct pay_result;
struct pay_request;
/* The provider request for order o (phase 2, ConfirmOrder, the reconciler):
 * its ids, amount and saved payment method; strings borrowed from o. */
void orders_pay_request(const store_order *o, struct pay_request *req);
int orders_settle_answer(store_txn *w, const char *order_id, const struct pay_result *res,
			 int *outcome);

/*
 * For handlers that place orders (ActivateServices, RenewServices,
 * PurchaseCredits). The common payment arguments: a known method, billing
 * information (name, email, alpha-2 country), terms accepted, Stripe ids
 * only with STRIPE. Fails the call and returns 1 when one is wrong, else 0.
 */
int orders_check_payment_args(rpc_call *call, int method,
			      const Smartplus__Billing__V1__BillingInfo *bill, int terms,
			      const char *stripe_pm, const char *stripe_cus);

/* Copies billing information b (borrowed) into o; terms accepted. */
void orders_set_billing(store_order *o, const Smartplus__Billing__V1__BillingInfo *b);

/*
 * Ends phase 1 of a new order o inside w's apply(): paid != 0 (covered by a
 * coupon, or CREDITS already debited) applies it now (orders_succeed);
 * otherwise it stays PROCESSING for the provider (o->sandbox set, *pay = 1,
 * w->intermediate set). Then creates the record and packs it into *buf
 * for orders_reply_placed(). 0, a write_fail() code, or STORE_*.
 */
int orders_open(store_txn *txn, rpc_write *w, store_order *o, int64_t now, int paid, int *pay,
		uint8_t **buf, size_t *len);

/*
 * A repeated placement (a retry after a crash, a second click, the same
 * idempotency key): when order_id is PROCESSING, PENDING_PAYMENT or
 * SUCCEEDED, returns 1 with that order packed into *buf and its id in
 * id_out — and, when it still awaits the provider, *pay and
 * w->intermediate set so phase 2 runs again under the same provider key,
 * which the provider answers without a second charge. Returns 0 when it
 * ended unpaid or is gone (place a new order). *rc: 0, a write_fail() code
 * (another method) or STORE_*.
 */
int orders_resume(store_txn *txn, rpc_write *w, const char *order_id, int method, char *id_out,
		  size_t id_cap, int *pay, uint8_t **buf, size_t *len, int *rc);

/* Packs o into *buf (malloc'd, freeing what was there); 0 or STORE_IO. */
int orders_pack(const store_order *o, uint8_t **buf, size_t *len);

/*
 * The reply() of a write that created the order packed in buf: with
 * pay == 0 the order is the call's response (safe in R17 capture mode);
 * with pay != 0 (the write set `intermediate`) phases 2 and 3 run on the
 * payments worker and the settle write finishes the call.
 */
void orders_reply_placed(rpc_call *call, const uint8_t *buf, size_t len, int pay);

/*
 * The time-out sweeper: every ORDER_SWEEP_INTERVAL_S a thread moves
 * PENDING_PAYMENT orders older than ORDER_PAY_WINDOW_US to TIMED_OUT,
 * releasing their coupon reservations (reads also time them out lazily).
 * start/stop are idempotent; stop joins the thread. orders_sweep() is one
 * pass at `now` over env (the thread uses billingd.store and the server
 * clock): the number of orders timed out, or a negative STORE_* code.
 */
void orders_sweeper_start(void);
void orders_sweeper_stop(void);
int orders_sweep(store_env *env, int64_t now);

#endif
