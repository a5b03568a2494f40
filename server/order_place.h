#ifndef SPB_ORDER_PLACE_H
#define SPB_ORDER_PLACE_H

/*
 * order_place.h: phase 1 of a payment, placing an order: the pieces that
 * ActivateServices / RenewServices (order_place.c) and PurchaseCredits
 * (purchase.c) share.
 */

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "store.h"
#include "store_order.h"
#include "write.h"

/*
 * The common payment arguments: a known method, billing information (name,
 * email, alpha-2 country), terms accepted, Stripe ids only with STRIPE.
 * Fails the call and returns 1 when one is wrong, else 0.
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

/*
 * ActivateServices / RenewServices for another RPC (ApprovePaymentRequest):
 * places the order from quote_id exactly as they do, as the call's caller,
 * and answers the call with the order. then (may be NULL) runs inside the
 * same write transaction once the order is placed or found again
 * (order_id), with ref, so what it records commits with the order or not
 * at all; a non-zero return (a write_fail() code or STORE_*) rolls both
 * back.
 */
typedef int (*orders_placed_fn)(store_txn *txn, rpc_write *w, const char *order_id,
				const char *ref);
/* quote_id and ref are copied. */
void orders_place_quote(rpc_call *call, int action, const char *quote_id, int method,
			const Smartplus__Billing__V1__BillingInfo *bill, int terms,
			const char *stripe_pm, const char *stripe_cus, orders_placed_fn then,
			const char *ref);

#endif
