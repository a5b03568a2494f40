/*
 * meta.c - the meta database: schema version and named counters.
 */
#include "store_int.h"

static void schema_key(store_key *k)
{
	key_init(k, KC_META_SCHEMA);
}

static void counter_key(store_key *k, const char *name)
{
	key_init(k, KC_META_COUNTER);
	key_str(k, name);
}

int store_meta_schema_version(store_txn *txn, uint32_t *version)
{
	store_key k;
	MDB_val v;
	int rc;

	*version = 0;
	schema_key(&k);
	rc = store_raw_get(txn, DB_META, &k, &v);
	if (rc != 0)
		return rc;
	if (v.mv_size != 4)
		return STORE_CORRUPT;
	*version = get_be32(v.mv_data);
	return STORE_OK;
}

int store_meta_set_schema(store_txn *w, uint32_t version)
{
	store_key k;
	uint8_t v[4];

	schema_key(&k);
	put_be32(v, version);
	return store_raw_put(w, DB_META, &k, v, sizeof(v));
}

int store_meta_get(store_txn *txn, const char *name, uint64_t *value)
{
	store_key k;
	MDB_val v;
	int rc;

	*value = 0;
	counter_key(&k, name);
	rc = store_raw_get(txn, DB_META, &k, &v);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return STORE_CORRUPT;
	*value = get_be64(v.mv_data);
	return STORE_OK;
}

int store_meta_next(store_txn *w, const char *name, uint64_t *value)
{
	store_key k;
	uint8_t v[8];
	uint64_t cur;
	int rc = store_writable(w);

	if (rc == 0)
		rc = store_meta_get(w, name, &cur);
	if (rc != 0)
		return rc;
	counter_key(&k, name);
	put_be64(v, cur + 1);
	rc = store_raw_put(w, DB_META, &k, v, sizeof(v));
	if (rc == 0)
		*value = cur + 1;
	return rc;
}

int store_meta_set(store_txn *w, const char *name, uint64_t value)
{
	store_key k;
	uint8_t v[8];
	int rc = store_writable(w);

	if (rc != 0)
		return rc;
	counter_key(&k, name);
	put_be64(v, value);
	return store_raw_put(w, DB_META, &k, v, sizeof(v));
}
