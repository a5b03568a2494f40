/*
 * renewal.c - renewal groups and payment requests (DB_ORDERS), with their
 * indexes (see store_renewal.h). The index entries are derived from the
 * records by the table machinery, so put keeps them in step.
 */
#include "store_renewal.h"
#include "store_int.h"

#define KC_GROUP 'G'
#define KC_GROUP_PAYER 'g'
#define KC_GROUP_NOTICE 'n'
#define KC_PAYREQ 'R'
#define KC_PAYREQ_PAYER 'r'
#define KC_PAYREQ_REQUESTER 's'
#define KC_PAYREQ_EXPIRY 'x'

static int group_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_group *g = (const store_group *)m;
	int n = 0;

	key_init(&keys[n], KC_GROUP_PAYER);
	key_str(&keys[n], g->payer_id);
	key_str(&keys[n++], g->group_id);
	if (g->notice_due > 0) {
		key_init(&keys[n], KC_GROUP_NOTICE);
		key_u64(&keys[n], (uint64_t)g->notice_due);
		key_str(&keys[n++], g->group_id);
	}
	return n;
}

static const store_table groups = {
	.db = DB_ORDERS,
	.rec_class = KC_GROUP,
	.desc = &smartplus__billing__store__v1__renewal_group_record__descriptor,
	.index_keys = group_index,
};

static void newest_first(store_key *k, uint8_t cls, const char *who, int64_t t, const char *id)
{
	key_init(k, cls);
	key_str(k, who);
	key_u64(k, UINT64_MAX - (uint64_t)t);
	key_str(k, id);
}

static int payreq_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_payreq *r = (const store_payreq *)m;
	int n = 0;

	newest_first(&keys[n++], KC_PAYREQ_PAYER, r->payer_id, r->create_time, r->request_id);
	newest_first(&keys[n++], KC_PAYREQ_REQUESTER, r->requester_id, r->create_time,
		     r->request_id);
	if (r->status == STORE_PAYREQ_PENDING) {
		key_init(&keys[n], KC_PAYREQ_EXPIRY);
		key_u64(&keys[n], (uint64_t)r->expire_time);
		key_str(&keys[n++], r->request_id);
	}
	return n;
}

static const store_table payreqs = {
	.db = DB_ORDERS,
	.rec_class = KC_PAYREQ,
	.desc = &smartplus__billing__store__v1__payment_request_record__descriptor,
	.index_keys = payreq_index,
};

/* End of a time range: the big-endian time after the class byte is > t. */
static int after_stop(const MDB_val *key, void *arg)
{
	const int64_t *t = arg;
	return key->mv_size < 9 || get_be64((const uint8_t *)key->mv_data + 1) > (uint64_t)*t;
}

int store_group_put(store_txn *w, const store_group *rec, int create)
{
	if (!rec->payer_id || !rec->payer_id[0])
		return STORE_INVALID;
	return store_table_put(w, &groups, rec->group_id, &rec->base, create);
}

int store_group_get(store_txn *txn, const char *group_id, store_group **out)
{
	return store_table_get(txn, &groups, group_id, (ProtobufCMessage **)out);
}

int store_group_list_by_payer(store_txn *txn, const char *payer_id, int page_size,
			      const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_GROUP_PAYER);
	key_str(&prefix, payer_id);
	store_table_scan(&groups, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_group_notice_due(store_txn *txn, int64_t t, size_t n, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_GROUP_NOTICE);
	store_table_scan(&groups, &prefix, &s);
	s.stop = after_stop;
	s.stop_arg = &t;
	return store_scan_n(txn, &s, n, out);
}

int store_payreq_put(store_txn *w, const store_payreq *rec, int create)
{
	if (!rec->payer_id || !rec->payer_id[0] || !rec->requester_id || !rec->requester_id[0] ||
	    rec->create_time <= 0)
		return STORE_INVALID;
	return store_table_put(w, &payreqs, rec->request_id, &rec->base, create);
}

int store_payreq_get(store_txn *txn, const char *request_id, store_payreq **out)
{
	return store_table_get(txn, &payreqs, request_id, (ProtobufCMessage **)out);
}

static int list_by(store_txn *txn, uint8_t cls, const char *who, int page_size,
		   const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, cls);
	key_str(&prefix, who);
	store_table_scan(&payreqs, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_payreq_list_by_payer(store_txn *txn, const char *payer_id, int page_size,
			       const char *page_token, store_list *out)
{
	return list_by(txn, KC_PAYREQ_PAYER, payer_id, page_size, page_token, out);
}

int store_payreq_list_by_requester(store_txn *txn, const char *requester_id, int page_size,
				   const char *page_token, store_list *out)
{
	return list_by(txn, KC_PAYREQ_REQUESTER, requester_id, page_size, page_token, out);
}

int store_payreq_expiring(store_txn *txn, int64_t t, size_t n, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_PAYREQ_EXPIRY);
	store_table_scan(&payreqs, &prefix, &s);
	s.stop = after_stop;
	s.stop_arg = &t;
	return store_scan_n(txn, &s, n, out);
}
