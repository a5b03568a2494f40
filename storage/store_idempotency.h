#ifndef SPB_STORE_IDEMPOTENCY_H
#define SPB_STORE_IDEMPOTENCY_H

/*
 * Idempotency records (R17) in DB_IDEMPOTENCY: one per (caller, key), with a
 * creation-time index for pruning. Records are returned as fresh messages the
 * caller frees with store_record_free().
 */

#include "store.h"
#include "idempotency.pb-c.h"

typedef Smartplus__Billing__Store__V1__IdempotencyRecord store_idem;
#define STORE_IDEM_INIT SMARTPLUS__BILLING__STORE__V1__IDEMPOTENCY_RECORD__INIT

/* STORE_NOTFOUND when absent. */
int store_idem_get(store_txn *txn, const char *id, store_idem **out);

/* Insert or replace (keeping the time index in step). Write txn only. */
int store_idem_put(store_txn *w, const store_idem *rec);

/* Deletes up to `max` records created before `before_us`, oldest first;
 * *pruned tells how many. Write txn only. */
int store_idem_prune(store_txn *w, int64_t before_us, size_t max, size_t *pruned);

#endif
