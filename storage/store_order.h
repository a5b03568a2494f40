/*
 * store_order.h - the order engine's tables in DB_ORDERS: quotes and orders.
 *
 * Same conventions as store.h: 0 or a negative STORE_* code; getters give
 * a fresh record the caller frees with store_record_free(); puts need the
 * writer's transaction (else STORE_INVALID).
 *
 * Keys (DB_ORDERS):
 *   'Q' quote_id\0                      -> QuoteRecord
 *   'O' order_id\0                      -> OrderRecord
 *   'p' payer\0 be64(~create_time) id\0 -> order id (newest first)
 *   'w' be64(create_time) id\0          -> order id, PENDING_PAYMENT
 *                                         orders only (oldest first)
 *   'h' item_id\0 order_id\0            -> order id, one per line of a
 *                                         PENDING_PAYMENT or PROCESSING
 *                                         order: the items it holds
 *   'a' be64(next_attempt) id\0         -> order id, open renewal-group
 *                                         orders (group_id set) with a
 *                                         next_attempt: the scheduler's
 *                                         order-level work
 *
 * Renewal-group orders are not in 'w': their pay window is their retry
 * schedule and grace (final_time), not the 24 h of a buyer's checkout.
 */
#ifndef SPB_STORE_ORDER_H
#define SPB_STORE_ORDER_H

#include "order.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__LineRecord store_line;
typedef Smartplus__Billing__Store__V1__QuoteInputRecord store_quote_input;
typedef Smartplus__Billing__Store__V1__QuoteRecord store_quote;
typedef Smartplus__Billing__Store__V1__OrderRecord store_order;

#define STORE_LINE_INIT SMARTPLUS__BILLING__STORE__V1__LINE_RECORD__INIT
#define STORE_QUOTE_INPUT_INIT SMARTPLUS__BILLING__STORE__V1__QUOTE_INPUT_RECORD__INIT
#define STORE_QUOTE_INIT SMARTPLUS__BILLING__STORE__V1__QUOTE_RECORD__INIT
#define STORE_ORDER_INIT SMARTPLUS__BILLING__STORE__V1__ORDER_RECORD__INIT

/* OrderRecord.status of an order waiting for payment (the API's
 * ORDER_STATUS_PENDING_PAYMENT); such orders are indexed for the sweeper. */
#define STORE_ORDER_PENDING_PAYMENT 1
/* OrderRecord.status of an order at the provider (PROCESSING). */
#define STORE_ORDER_PROCESSING 2

/* Quotes. create != 0: STORE_EXISTS if the id is taken. */
int store_quote_put(store_txn *w, const store_quote *rec, int create);
int store_quote_get(store_txn *txn, const char *quote_id, store_quote **out);

/* Orders; put keeps the payer index in step (create_time never changes),
 * and the holds: while an order is PENDING_PAYMENT or PROCESSING each of
 * its lines holds its item (store_order_holding); any other status drops
 * them. */
int store_order_put(store_txn *w, const store_order *rec, int create);
int store_order_get(store_txn *txn, const char *order_id, store_order **out);
/* Orders of a payer, newest first. */
int store_order_list_by_payer(store_txn *txn, const char *payer_id, int page_size,
			      const char *page_token, store_list *out);
/* Up to n PENDING_PAYMENT orders created before t, oldest first. Orders
 * written before this index existed are not listed (the lazy time-out on
 * reading them still applies). */
int store_order_pending_before(store_txn *txn, int64_t t, size_t n, store_list *out);

/* Up to n open renewal-group orders whose next_attempt is < t, soonest
 * first. */
int store_order_auto_due_before(store_txn *txn, int64_t t, size_t n, store_list *out);

/* Up to n orders holding item_id (see store_order_put), in order-id order.
 * The caller decides whether each is still open (a PENDING_PAYMENT order
 * past its pay window is TIMED_OUT on reading). */
int store_order_holding(store_txn *txn, const char *item_id, size_t n, store_list *out);

/* Removes the hold of order_id on item_id: for a line taken out of an open
 * order (put keeps the holds of the lines it has, and cannot know the ones
 * it no longer has). A missing hold is not an error. */
int store_order_drop_hold(store_txn *w, const char *item_id, const char *order_id);

/* Writes the holds of the open orders of a store written before holds
 * existed, once (meta "order_holds_built"); store_open runs it. */
int store_order_build_holds(store_txn *w);

#endif /* SPB_STORE_ORDER_H */
