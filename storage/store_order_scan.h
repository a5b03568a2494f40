/*
 * store_order_scan.h - every order (DB_ORDERS class 'O', the records written by
 * order.c), in order-id order, one page at a time: the payment
 * reconciler's scan for PROCESSING / PENDING_PAYMENT orders.
 *
 * A full scan: cheap while orders number in the tens of thousands. A
 * status index kept by store_order_put (order.c's index_keys) would make it
 * proportional to the unsettled orders only; the interface stays the same.
 */
#ifndef SPB_STORE_ORDER_SCAN_H
#define SPB_STORE_ORDER_SCAN_H

#include "store_order.h"

/* Orders after page_token (NULL or "": from the first), at most page_size
 * (<= 0: 100; capped at 1000). out->next_page_token is NULL at the end. */
int store_order_scan(store_txn *txn, int page_size, const char *page_token, store_list *out);

#endif /* SPB_STORE_ORDER_SCAN_H */
