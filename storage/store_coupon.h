/*
 * store_coupon.h - coupons (R16) and their per-payer uses, in DB_ORDERS.
 *
 * Same conventions as store.h. Reservation counting (reserved,
 * redemptions) is the caller's: it reads, checks and puts inside one
 * writer transaction, which serialises racing payers.
 *
 * Keys (DB_ORDERS):
 *   'C' code\0           -> CouponRecord
 *   'U' code\0 payer\0   -> CouponUseRecord (once per payer)
 */
#ifndef SPB_STORE_COUPON_H
#define SPB_STORE_COUPON_H

#include "order.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__CouponRecord store_coupon;
typedef Smartplus__Billing__Store__V1__CouponUseRecord store_coupon_use;

#define STORE_COUPON_INIT SMARTPLUS__BILLING__STORE__V1__COUPON_RECORD__INIT
#define STORE_COUPON_USE_INIT SMARTPLUS__BILLING__STORE__V1__COUPON_USE_RECORD__INIT

#define STORE_COUPON_USE_RESERVED 1
#define STORE_COUPON_USE_REDEEMED 2

int store_coupon_put(store_txn *w, const store_coupon *rec, int create);
int store_coupon_get(store_txn *txn, const char *code, store_coupon **out);
/* Coupons ordered by code. */
int store_coupon_list(store_txn *txn, int page_size, const char *page_token, store_list *out);

int store_coupon_use_put(store_txn *w, const store_coupon_use *rec);
int store_coupon_use_get(store_txn *txn, const char *code, const char *payer_id,
			 store_coupon_use **out);
/* Deletes a use; a missing one is not an error. */
int store_coupon_use_delete(store_txn *w, const char *code, const char *payer_id);

#endif /* SPB_STORE_COUPON_H */
