/*
 * order.c - quotes and orders (DB_ORDERS), with the orders-by-payer index
 * ordered newest first (inverted create time).
 */
#include "store_order.h"
#include "store_int.h"

#define KC_QUOTE 'Q'
#define KC_ORDER 'O'
#define KC_ORDER_PAYER 'p'
#define KC_ORDER_PENDING 'w'

static void payer_prefix(store_key *k, const char *payer_id)
{
	key_init(k, KC_ORDER_PAYER);
	key_str(k, payer_id);
}

static int order_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_order *o = (const store_order *)m;

	payer_prefix(&keys[0], o->payer_id);
	key_u64(&keys[0], UINT64_MAX - (uint64_t)o->create_time);
	key_str(&keys[0], o->order_id);
	if (o->status != STORE_ORDER_PENDING_PAYMENT)
		return 1;
	key_init(&keys[1], KC_ORDER_PENDING);
	key_u64(&keys[1], (uint64_t)o->create_time);
	key_str(&keys[1], o->order_id);
	return 2;
}

static int no_index(const ProtobufCMessage *m, store_key *keys)
{
	(void)m;
	(void)keys;
	return 0;
}

static const store_table orders = {
	.db = DB_ORDERS,
	.rec_class = KC_ORDER,
	.desc = &smartplus__billing__store__v1__order_record__descriptor,
	.index_keys = order_index,
};

static const store_table quotes = {
	.db = DB_ORDERS,
	.rec_class = KC_QUOTE,
	.desc = &smartplus__billing__store__v1__quote_record__descriptor,
	.index_keys = no_index,
};

int store_quote_put(store_txn *w, const store_quote *rec, int create)
{
	return store_table_put(w, &quotes, rec->quote_id, &rec->base, create);
}

int store_quote_get(store_txn *txn, const char *quote_id, store_quote **out)
{
	return store_table_get(txn, &quotes, quote_id, (ProtobufCMessage **)out);
}

int store_order_put(store_txn *w, const store_order *rec, int create)
{
	if (!rec->payer_id || !rec->payer_id[0] || rec->create_time <= 0)
		return STORE_INVALID;
	return store_table_put(w, &orders, rec->order_id, &rec->base, create);
}

int store_order_get(store_txn *txn, const char *order_id, store_order **out)
{
	return store_table_get(txn, &orders, order_id, (ProtobufCMessage **)out);
}

int store_order_list_by_payer(store_txn *txn, const char *payer_id, int page_size,
			      const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	payer_prefix(&prefix, payer_id);
	store_table_scan(&orders, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

/* End of the pending range: create_time >= t. */
static int created_stop(const MDB_val *key, void *arg)
{
	const int64_t *t = arg;

	return key->mv_size < 9 || get_be64((const uint8_t *)key->mv_data + 1) >= (uint64_t)*t;
}

int store_order_pending_before(store_txn *txn, int64_t t, size_t n, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_ORDER_PENDING);
	store_table_scan(&orders, &prefix, &s);
	s.stop = created_stop;
	s.stop_arg = &t;
	return store_scan_n(txn, &s, n, out);
}
