/*
 * apikey.c - API keys table and the (account, key) index.
 */
#include "store_int.h"

static void account_prefix(store_key *k, const char *account_id)
{
	key_init(k, KC_APIKEY_ACCOUNT);
	key_str(k, account_id);
}

static int apikey_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_apikey *a = (const store_apikey *)m;

	account_prefix(&keys[0], a->account_id);
	key_str(&keys[0], a->key_id);
	return 1;
}

static const store_table apikeys = {
	.db = DB_APIKEYS,
	.rec_class = KC_APIKEY,
	.desc = &smartplus__billing__store__v1__api_key_record__descriptor,
	.index_keys = apikey_index,
};

int store_apikey_put(store_txn *w, const store_apikey *rec, int create)
{
	if (!rec->account_id || !rec->account_id[0])
		return STORE_INVALID;
	return store_table_put(w, &apikeys, rec->key_id, &rec->base, create);
}

int store_apikey_get(store_txn *txn, const char *key_id, store_apikey **out)
{
	return store_table_get(txn, &apikeys, key_id, (ProtobufCMessage **)out);
}

int store_apikey_list_by_account(store_txn *txn, const char *account_id, int page_size,
				 const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	account_prefix(&prefix, account_id);
	store_table_scan(&apikeys, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}
