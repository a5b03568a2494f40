#ifndef SPB_AUTORENEW_H
#define SPB_AUTORENEW_H

/*
 * autorenew.h: the R2 + R11 rule of who may pay automatic renewals, shared
 * by SetAutoRenew (autorenew.c) and the renewal scheduler, which checks it
 * again before every charge (the tree or a payment policy may have changed
 * since auto-renew was turned on).
 */

#include <stddef.h>

#include "store.h"

/* May `payer_id` pay the renewals of project p with `method`? Returns 1
 * yes, 0 no (with a client-safe reason in why, cap bytes), or a negative
 * STORE_* code. */
int autorenew_payer_allowed(store_txn *txn, const store_project *p, const char *payer_id,
			    int method, char *why, size_t cap);

#endif
