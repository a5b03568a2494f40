/*
 * idempotency.c - R17 records and their creation-time index.
 */
#include "store_idempotency.h"

#include <string.h>

#include "store_int.h"

#define KC_IDEM 'R'      /* idempotency: id\0 -> IdempotencyRecord */
#define KC_IDEM_TIME 'T' /* idempotency: be64 time, id\0 -> id */

static int idem_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_idem *r = (const store_idem *)m;
	key_init(&keys[0], KC_IDEM_TIME);
	key_u64(&keys[0], (uint64_t)r->create_time);
	key_str(&keys[0], r->id);
	return 1;
}

static const store_table idem = {
	.db = DB_IDEMPOTENCY,
	.rec_class = KC_IDEM,
	.desc = &smartplus__billing__store__v1__idempotency_record__descriptor,
	.index_keys = idem_index,
};

int store_idem_get(store_txn *txn, const char *id, store_idem **out)
{
	return store_table_get(txn, &idem, id, (ProtobufCMessage **)out);
}

int store_idem_put(store_txn *w, const store_idem *rec)
{
	return store_table_put(w, &idem, rec->id, &rec->base, 0);
}

static int past_cutoff(const MDB_val *key, void *arg)
{
	const int64_t *before = arg;
	return key->mv_size < 9 || (int64_t)get_be64((const uint8_t *)key->mv_data + 1) >= *before;
}

int store_idem_prune(store_txn *w, int64_t before_us, size_t max, size_t *pruned)
{
	store_key prefix;
	store_scan s;
	store_list l = {0};
	int rc;

	*pruned = 0;
	key_init(&prefix, KC_IDEM_TIME);
	store_table_scan(&idem, &prefix, &s);
	s.stop = past_cutoff;
	s.stop_arg = &before_us;
	rc = store_scan_n(w, &s, max, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		rc = store_table_delete(w, &idem, ((store_idem *)l.items[i])->id);
		if (rc == 0)
			(*pruned)++;
	}
	store_list_free(&l);
	return rc;
}
