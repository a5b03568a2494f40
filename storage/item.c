/*
 * item.c - items table and its indexes:
 *   (project, item)              list by project, count
 *   (project, service type, seq) creation order: the N oldest of a type
 *   (expires_at, item)           renewal scan, only when expires_at > 0
 *   (auto due time, item)        AUTO items only: when their next renewal
 *                                attempt is due (next_attempt, else expires_at)
 *   (renewal group, item)        the members of a renewal group
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define ITEM_SEQ_COUNTER "item_seq"

static void project_prefix(store_key *k, const char *project_id)
{
	key_init(k, KC_ITEM_PROJECT);
	key_str(k, project_id);
}

static void seq_prefix(store_key *k, const char *project_id, int32_t stype)
{
	key_init(k, KC_ITEM_SEQ);
	key_str(k, project_id);
	key_u32(k, (uint32_t)stype);
}

static int item_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_item *it = (const store_item *)m;
	int n = 0;

	project_prefix(&keys[n], it->project_id);
	key_str(&keys[n++], it->item_id);
	if (it->create_seq > 0) {
		seq_prefix(&keys[n], it->project_id, it->service_type);
		key_u64(&keys[n++], it->create_seq);
	}
	if (it->expires_at > 0) {
		key_init(&keys[n], KC_ITEM_EXPIRY);
		key_u64(&keys[n], (uint64_t)it->expires_at);
		key_str(&keys[n++], it->item_id);
	}
	if (it->expires_at > 0 && store_item_auto_due(it) > 0) {
		key_init(&keys[n], KC_ITEM_AUTO_DUE);
		key_u64(&keys[n], (uint64_t)store_item_auto_due(it));
		key_str(&keys[n++], it->item_id);
	}
	if (it->auto_renew && it->auto_renew->group_id && it->auto_renew->group_id[0]) {
		key_init(&keys[n], KC_ITEM_GROUP);
		key_str(&keys[n], it->auto_renew->group_id);
		key_str(&keys[n++], it->item_id);
	}
	return n;
}

int64_t store_item_auto_due(const store_item *it)
{
	if (!it->auto_renew || !it->auto_renew->enabled || it->expires_at <= 0)
		return 0;
	if (it->auto_renew->order_id && it->auto_renew->order_id[0])
		return 0; /* an open renewal order holds it: the order is due, not the item */
	return it->auto_renew->next_attempt > 0 ? it->auto_renew->next_attempt : it->expires_at;
}

static const store_table items = {
	.db = DB_ITEMS,
	.rec_class = KC_ITEM,
	.desc = &smartplus__billing__store__v1__item_record__descriptor,
	.index_keys = item_index,
};

int store_item_put(store_txn *w, const store_item *rec, int create)
{
	store_item *old = NULL, copy;
	int rc;

	if (!rec->project_id || !rec->project_id[0])
		return STORE_INVALID;
	/* The store owns create_seq: an update keeps the item's place in the
	 * creation order, an insert takes the next number. Never taken from
	 * rec, so a re-applied mutation cannot reuse a rolled-back number. */
	copy = *rec;
	rc = store_writable(w);
	if (rc == 0)
		rc = store_item_get(w, rec->item_id, &old);
	if (rc == 0)
		copy.create_seq = old->create_seq;
	else if (rc == STORE_NOTFOUND)
		rc = store_meta_next(w, ITEM_SEQ_COUNTER, &copy.create_seq);
	if (rc == 0)
		rc = store_table_put(w, &items, rec->item_id, &copy.base, create);
	store_record_free(old);
	return rc;
}

int store_item_get(store_txn *txn, const char *item_id, store_item **out)
{
	return store_table_get(txn, &items, item_id, (ProtobufCMessage **)out);
}

int store_item_delete(store_txn *w, const char *item_id)
{
	return store_table_delete(w, &items, item_id);
}

int store_item_list_by_project(store_txn *txn, const char *project_id, int page_size,
			       const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	project_prefix(&prefix, project_id);
	store_table_scan(&items, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_item_count(store_txn *txn, const char *project_id, size_t *count)
{
	store_key prefix;

	project_prefix(&prefix, project_id);
	return store_scan_count(txn, DB_ITEMS, &prefix, count);
}

int store_item_oldest(store_txn *txn, const char *project_id, int32_t service_type, size_t n,
		      store_list *out)
{
	store_key prefix;
	store_scan s;

	seq_prefix(&prefix, project_id, service_type);
	store_table_scan(&items, &prefix, &s);
	return store_scan_n(txn, &s, n, out);
}

/* End of the expiry range: expires_at >= t. */
static int expiry_stop(const MDB_val *key, void *arg)
{
	const int64_t *t = arg;

	return key->mv_size < 9 || get_be64((const uint8_t *)key->mv_data + 1) >= (uint64_t)*t;
}

int store_item_expiring_before(store_txn *txn, int64_t t, int page_size, const char *page_token,
			       store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_ITEM_EXPIRY);
	store_table_scan(&items, &prefix, &s);
	s.stop = expiry_stop;
	s.stop_arg = &t;
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_item_expiring_range(store_txn *txn, int64_t from, const char *after_id, int64_t to,
			      size_t n, store_list *out)
{
	store_key prefix, start;
	store_scan s;
	char *token;
	int rc;

	memset(out, 0, sizeof(*out));
	if (from < 0 || from >= to || n == 0)
		return STORE_OK;
	key_init(&prefix, KC_ITEM_EXPIRY);
	key_init(&start, KC_ITEM_EXPIRY);
	key_u64(&start, (uint64_t)from);
	if (after_id && after_id[0]) {
		key_str(&start, after_id);
		key_nul(&start); /* the first key after (from, after_id) */
	}
	rc = key_ok(&start);
	if (rc != 0)
		return rc;
	token = store_token_encode(start.b, start.len);
	if (!token)
		return STORE_IO;
	store_table_scan(&items, &prefix, &s);
	s.stop = expiry_stop;
	s.stop_arg = &to;
	rc = store_scan_page(txn, &s, n > STORE_PAGE_MAX ? STORE_PAGE_MAX : (int)n, token, out);
	free(token);
	if (rc == 0) {
		free(out->next_page_token);
		out->next_page_token = NULL;
	}
	return rc;
}

int store_item_auto_due_before(store_txn *txn, int64_t t, size_t n, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_ITEM_AUTO_DUE);
	store_table_scan(&items, &prefix, &s);
	s.stop = expiry_stop;
	s.stop_arg = &t;
	return store_scan_n(txn, &s, n, out);
}

int store_item_list_by_group(store_txn *txn, const char *group_id, int page_size,
			     const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_ITEM_GROUP);
	key_str(&prefix, group_id);
	store_table_scan(&items, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_item_count_by_group(store_txn *txn, const char *group_id, size_t *count)
{
	store_key prefix;

	key_init(&prefix, KC_ITEM_GROUP);
	key_str(&prefix, group_id);
	return store_scan_count(txn, DB_ITEMS, &prefix, count);
}
