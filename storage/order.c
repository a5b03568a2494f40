/*
 * order.c - quotes and orders (DB_ORDERS), with the orders-by-payer index
 * ordered newest first (inverted create time), and the holds of open
 * orders on their items.
 */
#include <stdlib.h>
#include <string.h>

#include "store_order.h"
#include "store_int.h"
#include "xalloc.h"

#define KC_QUOTE 'Q'
#define KC_ORDER 'O'
#define KC_ORDER_PAYER 'p'
#define KC_ORDER_PENDING 'w'
#define KC_ORDER_HOLD 'h'
#define KC_ORDER_AUTO_DUE 'a'
#define META_HOLDS_BUILT "order_holds_built"

/* OrderRecord.status values that hold items (PENDING_PAYMENT, PROCESSING). */
static int holds_items(int status)
{
	return status == STORE_ORDER_PENDING_PAYMENT || status == STORE_ORDER_PROCESSING;
}

static void hold_key(store_key *k, const char *item_id, const char *order_id)
{
	key_init(k, KC_ORDER_HOLD);
	key_str(k, item_id);
	if (order_id)
		key_str(k, order_id);
}

/* One entry per line of an open order; none once it has ended. Lines never
 * change their items, so the entries of a put are exactly those to keep. */
static int put_holds(store_txn *w, const store_order *o)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < o->n_lines; i++) {
		store_key k;
		hold_key(&k, o->lines[i]->item_id, o->order_id);
		rc = key_ok(&k);
		if (rc == 0)
			rc = holds_items(o->status) ? store_idx_put(w, DB_ORDERS, &k, o->order_id)
						    : store_raw_del(w, DB_ORDERS, &k);
	}
	return rc;
}

static void payer_prefix(store_key *k, const char *payer_id)
{
	key_init(k, KC_ORDER_PAYER);
	key_str(k, payer_id);
}

static int order_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_order *o = (const store_order *)m;
	int n = 1, group = o->group_id && o->group_id[0];

	payer_prefix(&keys[0], o->payer_id);
	key_u64(&keys[0], UINT64_MAX - (uint64_t)o->create_time);
	key_str(&keys[0], o->order_id);
	if (o->status == STORE_ORDER_PENDING_PAYMENT && !group) {
		key_init(&keys[n], KC_ORDER_PENDING);
		key_u64(&keys[n], (uint64_t)o->create_time);
		key_str(&keys[n++], o->order_id);
	}
	if (group && holds_items(o->status) && o->next_attempt > 0) {
		key_init(&keys[n], KC_ORDER_AUTO_DUE);
		key_u64(&keys[n], (uint64_t)o->next_attempt);
		key_str(&keys[n++], o->order_id);
	}
	return n;
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
	int rc;
	if (!rec->payer_id || !rec->payer_id[0] || rec->create_time <= 0)
		return STORE_INVALID;
	rc = store_table_put(w, &orders, rec->order_id, &rec->base, create);
	if (rc == 0)
		rc = put_holds(w, rec);
	return rc;
}

int store_order_holding(store_txn *txn, const char *item_id, size_t n, store_list *out)
{
	store_key prefix;
	store_scan s;

	hold_key(&prefix, item_id, NULL);
	store_table_scan(&orders, &prefix, &s);
	return store_scan_n(txn, &s, n, out);
}

int store_order_build_holds(store_txn *w)
{
	uint64_t built = 0;
	char *token = NULL;
	int rc = store_meta_get(w, META_HOLDS_BUILT, &built);

	if (rc != 0 || built)
		return rc;
	do {
		store_list l = {0};
		store_key prefix;
		store_scan sc = {.db = DB_ORDERS,
				 .prefix = &prefix,
				 .desc = &smartplus__billing__store__v1__order_record__descriptor};
		key_init(&prefix, KC_ORDER);
		rc = store_scan_page(w, &sc, STORE_PAGE_MAX, token, &l);
		free(token);
		token = NULL;
		for (size_t i = 0; rc == 0 && i < l.n; i++)
			if (holds_items(((store_order *)l.items[i])->status))
				rc = put_holds(w, l.items[i]);
		if (rc == 0 && l.next_page_token)
			token = xstrdup(l.next_page_token);
		store_list_free(&l);
	} while (rc == 0 && token);
	free(token);
	return rc ? rc : store_meta_set(w, META_HOLDS_BUILT, 1);
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

int store_order_auto_due_before(store_txn *txn, int64_t t, size_t n, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_ORDER_AUTO_DUE);
	store_table_scan(&orders, &prefix, &s);
	s.stop = created_stop;
	s.stop_arg = &t;
	return store_scan_n(txn, &s, n, out);
}

int store_order_drop_hold(store_txn *w, const char *item_id, const char *order_id)
{
	store_key k;
	int rc = store_writable(w);
	hold_key(&k, item_id, order_id);
	if (rc == 0)
		rc = key_ok(&k);
	return rc ? rc : store_raw_del(w, DB_ORDERS, &k);
}
