#ifndef SPB_ORDER_PAYMENT_H
#define SPB_ORDER_PAYMENT_H

/*
 * order_payment.h: the payment engine — phases 2 and 3 of every payment
 * through a provider (orders.h, DESIGN §5), for all of its clients: the
 * order handlers (Activate/Renew/PurchaseCredits, ConfirmOrder, CancelOrder,
 * GetOrder of an overdue order), the renewal scheduler, the reconciler, the
 * pay-window sweeper and the provider webhooks.
 *
 * A job names an order and an operation:
 *   CREATE   after phase 1: create the payment (the provider reads it back
 *            instead when its id is known, and searches once the key
 *            window is over: payments/provider.h);
 *   RESUME   CREATE again for an order placed earlier whose create may
 *            have been sent, its answer lost (a renewal attempt resumed):
 *            the provider searches before it sends a create (resend);
 *   CONFIRM  ask the provider for the truth (PayPal: capture an approved
 *            order);
 *   CANCEL   CancelOrder: cancel at the provider first, then CANCELED;
 *   EXPIRE   the 24 h pay window: cancel at the provider first, then
 *            TIMED_OUT (a renewal-group order: its grace is over, FAILED);
 *   CLOSE    an order that ended unpaid (FAILED, CANCELED, TIMED_OUT) but
 *            whose payment exists at the provider (pay_engine_closed_unpaid):
 *            cancel what can still be paid there (a declined Stripe intent
 *            stays payable with its client secret), and when the provider
 *            says the money was taken after all, flag the order
 *            needs_refund (never kept silently; the status stays). Queued
 *            after every such ending, by a payment webhook for such an
 *            order, and by ConfirmOrder of one.
 *   RETRY    a renewal-group order's retry: confirm its payment again,
 *            off-session, under the attempt's own key (attempt_key), its
 *            amount set first when lines dropped out since (reprice);
 *   RECOVER  the same with the buyer present (RecoverRenewal): on-session,
 *            so 3-D Secure can be asked for.
 * One pool of PAY_ENGINE_WORKERS threads runs all jobs. A job holds the
 * order's claim — one provider conversation per order at a time — from
 * before its provider call (phase 2, no transaction held) until its
 * phase-3 write is durable; a job that finds the claim taken does nothing
 * (a handler's call is answered with the order as it stands, CancelOrder
 * with ABORTED). Phase 3 is one function for every client: in a write
 * transaction it re-reads the order and, if it is still open, records the
 * answer — SUCCEEDED applies the order type's effects (order_effects.h) in
 * the same transaction; the provider's truth wins over the operation (a
 * cancel of a payment that succeeded makes the order SUCCEEDED).
 *
 * Nothing here waits for the provider while holding a lock; workers block
 * on the provider (bounded by cfg.provider_timeout_ms) and on the writer.
 */

#include <stddef.h>
#include <stdint.h>

#include "payments/provider.h"
#include "rpc.h"
#include "store.h"
#include "store_order.h"
#include "webhooks.h"

typedef enum pay_op {
	PAY_OP_CREATE = 1,
	PAY_OP_CONFIRM,
	PAY_OP_CANCEL,
	PAY_OP_EXPIRE,
	PAY_OP_RETRY,
	PAY_OP_RECOVER,
	PAY_OP_RESUME,
	PAY_OP_CLOSE,
} pay_op;

/* Whether o ended without being paid (FAILED, CANCELED, TIMED_OUT, not
 * yet flagged for refund) while a payment for it exists at a provider:
 * what a CLOSE job looks after. */
int pay_engine_closed_unpaid(const store_order *o);

/* What a job did, for background clients. */
typedef struct pay_outcome {
	int rc;      /* 0, or the STORE_* code of the phase-3 write */
	int asked;   /* the provider was asked (0: claim taken, order not open, Retry-After) */
	int applied; /* the pay_status recorded; 0 when the order did not change */
	int status;  /* the order's OrderStatus after the job (0: no such order) */
	pay_result res;
} pay_outcome;

typedef void (*pay_done_fn)(void *arg, const pay_outcome *out);

/* Queues a background job; done (may be NULL) runs on a worker thread once
 * the job is over (its write durable). 0, or -1 when it cannot be queued. */
int pay_engine_submit(const char *order_id, pay_op op, pay_done_fn done, void *arg);

/* Waiting for a group of background jobs (scheduler, reconciler and
 * sweeper rounds): pay_batch_submit() queues one job counted in b, with
 * `item` for the outcome callback; pay_batch_wait() blocks until every job
 * is over. `each` (may be NULL; runs on a worker or the writer thread, so
 * keep it short) sees (arg, item, outcome) of every job. */
typedef void (*pay_each_fn)(void *arg, void *item, const pay_outcome *out);
typedef struct pay_batch {
	void *impl; /* internal */
	pay_each_fn each;
	void *arg;
} pay_batch;
void pay_batch_init(pay_batch *b, pay_each_fn each, void *arg);
int pay_batch_submit(pay_batch *b, const char *order_id, pay_op op, void *item);
/* The same at a given time instead of the clock's (the sweep's `now`). */
int pay_batch_submit_at(pay_batch *b, const char *order_id, pay_op op, int64_t now, void *item);
void pay_batch_wait(pay_batch *b);

/* A handler's job: phase 3 answers `call` (the order, or the payment's
 * error with the order id as ErrorInfo metadata `order_id`). */
void pay_engine_call(rpc_call *call, const char *order_id, pay_op op);

/* When the provider asked billingd to come back later (Retry-After) about
 * order_id: nonzero (the earliest CLOCK_MONOTONIC microsecond to ask
 * again) until then, 0 once it may be asked. */
int64_t pay_engine_not_before(const char *order_id);

/* The provider request for order o at `now` for op: its ids, amount, saved
 * payment method, key age and session (off-session for AUTO_RENEWAL, the
 * buyer present otherwise, o->session when set); strings borrowed from o.
 * RETRY and RECOVER send o->total under o->attempt_key (update_amount when
 * the provider's payment is for another amount); the other operations read
 * the payment as the provider holds it (o->provider_amount). */
void orders_pay_request(const store_order *o, int64_t now, pay_op op, pay_request *req);

/*
 * The reply() of a write that created the order packed in buf: with
 * pay == 0 the order is the call's response (safe in R17 capture mode);
 * with pay != 0 (the write set `intermediate`) a CREATE job runs phases 2
 * and 3 and its write finishes the call.
 */
void orders_reply_placed(rpc_call *call, const uint8_t *buf, size_t len, int pay);

/* The provider webhooks' sink (webhooks.h): a payment event queues a
 * CONFIRM job for its order (the provider's answer settles it, so a
 * duplicate or late event changes nothing); a dispute flags the order. */
int pay_engine_webhook(const webhook_event *ev);

typedef struct pay_engine_counts {
	uint64_t jobs, asked, busy, settled, flagged_disputes, flagged_closed;
} pay_engine_counts;
void pay_engine_counts_get(pay_engine_counts *out);

#endif
