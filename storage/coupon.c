/* coupon.c - coupons and coupon uses (DB_ORDERS). */
#include "store_coupon.h"
#include "store_int.h"

#define KC_COUPON 'C'
#define KC_COUPON_USE 'U'

static int no_index(const ProtobufCMessage *m, store_key *keys)
{
	(void)m;
	(void)keys;
	return 0;
}

static const store_table coupons = {
	.db = DB_ORDERS,
	.rec_class = KC_COUPON,
	.desc = &smartplus__billing__store__v1__coupon_record__descriptor,
	.index_keys = no_index,
};

static void use_key(store_key *k, const char *code, const char *payer_id)
{
	key_init(k, KC_COUPON_USE);
	key_str(k, code);
	key_str(k, payer_id);
}

int store_coupon_put(store_txn *w, const store_coupon *rec, int create)
{
	return store_table_put(w, &coupons, rec->code, &rec->base, create);
}

int store_coupon_get(store_txn *txn, const char *code, store_coupon **out)
{
	return store_table_get(txn, &coupons, code, (ProtobufCMessage **)out);
}

int store_coupon_list(store_txn *txn, int page_size, const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s = {
		.db = DB_ORDERS,
		.prefix = &prefix,
		.desc = &smartplus__billing__store__v1__coupon_record__descriptor,
	};

	key_init(&prefix, KC_COUPON);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_coupon_use_put(store_txn *w, const store_coupon_use *rec)
{
	store_key k;

	use_key(&k, rec->code, rec->payer_id);
	return store_rec_put(w, DB_ORDERS, &k, &rec->base, 0);
}

int store_coupon_use_get(store_txn *txn, const char *code, const char *payer_id,
			 store_coupon_use **out)
{
	store_key k;

	use_key(&k, code, payer_id);
	return store_rec_get(txn, DB_ORDERS, &k,
			     &smartplus__billing__store__v1__coupon_use_record__descriptor,
			     (ProtobufCMessage **)out);
}

int store_coupon_use_delete(store_txn *w, const char *code, const char *payer_id)
{
	store_key k;

	use_key(&k, code, payer_id);
	return store_raw_del(w, DB_ORDERS, &k);
}
