/*
 * order_scan.c - a scan of all order records (see store_order_scan.h). Reads the
 * 'O' key class that order.c writes; adds no keys of its own.
 */
#include "store_order_scan.h"
#include "store_int.h"

#define KC_ORDER_RECORD 'O' /* order.c: 'O' order_id\0 -> OrderRecord */

int store_order_scan(store_txn *txn, int page_size, const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s = {
		.db = DB_ORDERS,
		.prefix = &prefix,
		.rec_class = 0,
		.desc = &smartplus__billing__store__v1__order_record__descriptor,
	};

	key_init(&prefix, KC_ORDER_RECORD);
	return store_scan_page(txn, &s, page_size, page_token, out);
}
