#ifndef SPB_ORDER_SWEEPER_H
#define SPB_ORDER_SWEEPER_H

/*
 * order_sweeper.h: the time-out sweeper. Every ORDER_SWEEP_INTERVAL_S a
 * thread hands the PENDING_PAYMENT orders older than ORDER_PAY_WINDOW_US to
 * the payment engine (order_payment.h, EXPIRE): the payment is canceled at
 * the provider first, then the order is TIMED_OUT and its coupon
 * reservation released — or it SUCCEEDS if the provider says it was paid.
 * Reads of an overdue order do the same. start/stop are idempotent; stop
 * joins the thread.
 */

#include <stdint.h>

#include "store.h"

/* How often the sweeper looks for PENDING_PAYMENT orders to time out. */
#define ORDER_SWEEP_INTERVAL_S 60

void orders_sweeper_start(void);
void orders_sweeper_stop(void);

/* One pass at `now` over env (== billingd.store, which the engine writes;
 * the thread passes the server clock): the number of orders timed out, or
 * a negative STORE_* code. */
int orders_sweep(store_env *env, int64_t now);

#endif
