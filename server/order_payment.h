#ifndef SPB_ORDER_PAYMENT_H
#define SPB_ORDER_PAYMENT_H

/*
 * order_payment.h: phases 2 and 3 of a payment (orders.h): the payments
 * worker that calls the provider with no transaction held, off the writer
 * and the completion-queue threads, and the write that records its answer.
 * ConfirmOrder, the reconciler and the renewal scheduler use the same
 * pieces, so there is one provider conversation per order at a time.
 */

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "store.h"
#include "store_order.h"

struct pay_result;
struct pay_request;

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

/* The provider request for order o (phase 2, ConfirmOrder, the reconciler):
 * its ids, amount and saved payment method; strings borrowed from o. */
void orders_pay_request(const store_order *o, struct pay_request *req);

/*
 * Phase 3 without a call (the reconciler): records the provider's answer
 * `res` for order_id inside write txn w exactly as ConfirmOrder does,
 * applying the effects on success. Orders no longer PROCESSING /
 * PENDING_PAYMENT are left alone. *outcome (may be NULL): the pay_status
 * applied, 0 when nothing was to settle. 0 or a STORE_* code.
 */
int orders_settle_answer(store_txn *w, const char *order_id, const struct pay_result *res,
			 int *outcome);

/* Hands phases 2 and 3 of order o (owned by the job from now on) to a
 * payments worker: create the payment (confirm = 0) or confirm / capture it
 * (confirm = 1); the phase-3 write finishes the call. */
void orders_pay_start(rpc_call *call, store_order *o, int confirm);

/*
 * The reply() of a write that created the order packed in buf: with
 * pay == 0 the order is the call's response (safe in R17 capture mode);
 * with pay != 0 (the write set `intermediate`) phases 2 and 3 run on the
 * payments worker and the settle write finishes the call.
 */
void orders_reply_placed(rpc_call *call, const uint8_t *buf, size_t len, int pay);

#endif
