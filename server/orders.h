#ifndef SPB_ORDERS_H
#define SPB_ORDERS_H

/*
 * orders.h: the order engine (R7-R10), for the modules outside it (the
 * renewal scheduler, the reconciler, PurchaseCredits, start-up).
 *
 * Payments run in three atomic phases (DESIGN §5):
 *   1. a write transaction recomputes the quote, reserves the coupon and
 *      creates the order PROCESSING with provider key = order id
 *      (order_place.c);
 *   2. after it is durable, a payments worker thread calls the provider
 *      (payments/provider.h) with no transaction held (order_payment.c);
 *   3. a second write transaction records the answer and, on success,
 *      applies the effects (order_effects.c: orders_succeed) in the same
 *      transaction that marks the order SUCCEEDED (order_payment.c).
 *
 * The files: orders.c (GetOrder, ListOrders, ConfirmOrder, CancelOrder),
 * order_place.c (ActivateServices, RenewServices), order_payment.c,
 * order_effects.c, order_record.c (packing, the API Order),
 * order_sweeper.c (the 24 h time-out). None of them includes this header.
 */

#include "order_effects.h"
#include "order_payment.h"
#include "order_place.h"
#include "order_record.h"
#include "order_sweeper.h"

#endif
