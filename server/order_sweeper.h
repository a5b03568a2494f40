#ifndef SPB_ORDER_SWEEPER_H
#define SPB_ORDER_SWEEPER_H

/*
 * order_sweeper.h: the time-out sweeper. Every ORDER_SWEEP_INTERVAL_S a
 * thread moves PENDING_PAYMENT orders older than ORDER_PAY_WINDOW_US to
 * TIMED_OUT, releasing their coupon reservations (reads also time them out
 * lazily). start/stop are idempotent; stop joins the thread.
 */

#include <stdint.h>

#include "store.h"

/* How often the sweeper looks for PENDING_PAYMENT orders to time out. */
#define ORDER_SWEEP_INTERVAL_S 60

void orders_sweeper_start(void);
void orders_sweeper_stop(void);

/* One pass at `now` over env (the thread uses billingd.store and the server
 * clock): the number of orders timed out, or a negative STORE_* code. */
int orders_sweep(store_env *env, int64_t now);

#endif
