/* webhook.c - webhook endpoints and deliveries (DB_WEBHOOKS). See store_webhook.h. */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "xalloc.h"
#include "store_webhook.h"

#define KC_ENDPOINT 'W'
#define KC_ENDPOINT_ACCOUNT 'A'
#define KC_DELIVERY 'D'
#define KC_DELIVERY_DUE 'N'

/* ------------------------------------------------------------------------
 * Endpoints
 */

static int endpoint_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_endpoint *e = (const store_endpoint *)m;

	key_init(&keys[0], KC_ENDPOINT_ACCOUNT);
	key_str(&keys[0], e->account_id);
	key_str(&keys[0], e->endpoint_id);
	return 1;
}

static const store_table endpoints = {
	.db = DB_WEBHOOKS,
	.rec_class = KC_ENDPOINT,
	.desc = &smartplus__billing__store__v1__webhook_endpoint_record__descriptor,
	.index_keys = endpoint_index,
};

int store_endpoint_put(store_txn *w, const store_endpoint *rec, int create)
{
	return store_table_put(w, &endpoints, rec->endpoint_id, &rec->base, create);
}

int store_endpoint_get(store_txn *txn, const char *endpoint_id, store_endpoint **out)
{
	return store_table_get(txn, &endpoints, endpoint_id, (ProtobufCMessage **)out);
}

int store_endpoint_delete(store_txn *w, const char *endpoint_id)
{
	return store_table_delete(w, &endpoints, endpoint_id);
}

int store_endpoint_list_by_account(store_txn *txn, const char *account_id, int page_size,
				   const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	key_init(&prefix, KC_ENDPOINT_ACCOUNT);
	key_str(&prefix, account_id);
	store_table_scan(&endpoints, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_endpoint_list_all(store_txn *txn, int page_size, const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s = {
		.db = DB_WEBHOOKS,
		.prefix = &prefix,
		.desc = &smartplus__billing__store__v1__webhook_endpoint_record__descriptor,
	};

	key_init(&prefix, KC_ENDPOINT);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

/* ------------------------------------------------------------------------
 * Deliveries
 */

static void delivery_key(store_key *k, const char *endpoint_id, uint64_t seq)
{
	key_init(k, KC_DELIVERY);
	key_str(k, endpoint_id);
	key_u64(k, seq);
}

static void due_key(store_key *k, const store_delivery *d)
{
	key_init(k, KC_DELIVERY_DUE);
	key_u64(k, (uint64_t)d->next_attempt_time);
	key_str(k, d->endpoint_id);
	key_u64(k, d->seq);
}

static const ProtobufCMessageDescriptor *const delivery_desc =
	&smartplus__billing__store__v1__delivery_record__descriptor;

int store_delivery_get(store_txn *txn, const char *endpoint_id, uint64_t seq, store_delivery **out)
{
	store_key k;

	delivery_key(&k, endpoint_id, seq);
	return store_rec_get(txn, DB_WEBHOOKS, &k, delivery_desc, (ProtobufCMessage **)out);
}

int store_delivery_put(store_txn *w, const store_delivery *rec)
{
	store_delivery *old = NULL;
	store_key k;
	int rc = store_writable(w);

	if (rc == 0 && (!rec->endpoint_id || !rec->endpoint_id[0]))
		rc = STORE_INVALID;
	if (rc == 0)
		rc = store_delivery_get(w, rec->endpoint_id, rec->seq, &old);
	if (rc == 0 && old->status == STORE_DELIVERY_PENDING) {
		due_key(&k, old);
		rc = store_raw_del(w, DB_WEBHOOKS, &k);
	} else if (rc == STORE_NOTFOUND) {
		rc = STORE_OK;
	}
	if (rc == 0) {
		delivery_key(&k, rec->endpoint_id, rec->seq);
		rc = store_rec_put(w, DB_WEBHOOKS, &k, &rec->base, 0);
	}
	if (rc == 0 && rec->status == STORE_DELIVERY_PENDING) {
		due_key(&k, rec);
		rc = store_raw_put(w, DB_WEBHOOKS, &k, "", 0);
	}
	store_record_free(old);
	return rc;
}

int store_delivery_list(store_txn *txn, const char *endpoint_id, int page_size,
			const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s = {
		.db = DB_WEBHOOKS,
		.prefix = &prefix,
		.desc = delivery_desc,
	};

	key_init(&prefix, KC_DELIVERY);
	key_str(&prefix, endpoint_id);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

/* Walks the due index in order: fn(endpoint, seq, next_attempt) for each
 * entry until it returns nonzero (1: stop, <0: error). */
static int walk_due(store_txn *txn, int (*fn)(const char *ep, uint64_t seq, int64_t at, void *arg),
		    void *arg)
{
	MDB_cursor *cur = NULL;
	store_key k;
	MDB_val key, val;
	int rc;

	key_init(&k, KC_DELIVERY_DUE);
	rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[DB_WEBHOOKS], &cur));
	if (rc != 0)
		return rc;
	key = key_val(&k);
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		const uint8_t *p = key.mv_data;
		char ep[STORE_KEY_MAX];
		size_t n;

		if (key.mv_size < 1 + 8 + 1 + 8 || p[0] != KC_DELIVERY_DUE)
			break;
		n = key.mv_size - 1 - 8 - 8; /* the id and its NUL */
		if (p[1 + 8 + n - 1] != '\0') {
			rc = STORE_CORRUPT;
			goto done;
		}
		memcpy(ep, p + 9, n);
		rc = fn(ep, get_be64(p + 9 + n), (int64_t)get_be64(p + 1), arg);
		if (rc != 0)
			goto done;
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? STORE_OK : store_err(rc);
done:
	mdb_cursor_close(cur);
	return rc < 0 ? rc : STORE_OK;
}

struct due_ctx {
	store_txn *txn;
	int64_t t;
	size_t n;
	store_list *out;
	int64_t first;
};

static int collect_due(const char *ep, uint64_t seq, int64_t at, void *arg)
{
	struct due_ctx *c = arg;
	store_delivery *d = NULL;
	int rc;

	if (at > c->t || c->out->n == c->n)
		return 1;
	rc = store_delivery_get(c->txn, ep, seq, &d);
	if (rc != 0)
		return rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
	c->out->items = xrealloc(c->out->items, (c->out->n + 1) * sizeof(*c->out->items));
	c->out->items[c->out->n++] = d;
	return 0;
}

int store_delivery_due(store_txn *txn, int64_t t, size_t n, store_list *out)
{
	struct due_ctx c = {txn, t, n, out, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = walk_due(txn, collect_due, &c);
	if (rc != 0)
		store_list_free(out);
	return rc;
}

static int first_due(const char *ep, uint64_t seq, int64_t at, void *arg)
{
	(void)ep;
	(void)seq;
	*(int64_t *)arg = at;
	return 1;
}

int store_delivery_next_due(store_txn *txn, int64_t *t)
{
	*t = 0;
	return walk_due(txn, first_due, t);
}

/* A delivery chosen by the prune pass, deleted after the cursor closed. */
struct victim {
	store_key key;
	store_key due; /* due.len == 0: not PENDING */
};

/* Reads (with the cursor at the first delivery) which deliveries to delete,
 * up to max, into v[*n]. Returns 1 when it stopped on the budget, 0 at the
 * end of the deliveries, or a STORE_* code. */
static int choose(store_txn *w, MDB_cursor *cur, uint64_t before_seq, size_t max, struct victim *v,
		  size_t *n)
{
	char ep[STORE_KEY_MAX] = "";
	int gone = 0, mrc, rc;
	MDB_val key, val;

	for (mrc = mdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT); mrc == 0;
	     mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		const uint8_t *p = key.mv_data;
		store_delivery *d = NULL;
		size_t idlen;
		uint64_t seq;

		if (key.mv_size < 1 + 2 + 8 || p[0] != KC_DELIVERY)
			return 0;
		idlen = key.mv_size - 1 - 8; /* with its NUL */
		if (p[idlen] != '\0')
			return STORE_CORRUPT;
		seq = get_be64(p + 1 + idlen);
		if (strcmp(ep, (const char *)p + 1) != 0) { /* a new endpoint */
			store_endpoint *e = NULL;
			memcpy(ep, p + 1, idlen);
			rc = store_endpoint_get(w, ep, &e);
			store_record_free(e);
			if (rc != 0 && rc != STORE_NOTFOUND)
				return rc;
			gone = rc == STORE_NOTFOUND;
		}
		if (!gone && seq >= before_seq)
			continue; /* retained (a seek past the rest would be faster) */
		rc = store_codec_decode(delivery_desc, val.mv_data, val.mv_size,
					(ProtobufCMessage **)&d);
		if (rc != 0)
			return rc;
		if (gone || d->status != STORE_DELIVERY_PENDING) {
			if (*n == max) {
				store_record_free(d);
				return 1;
			}
			delivery_key(&v[*n].key, ep, seq);
			v[*n].due.len = 0;
			if (d->status == STORE_DELIVERY_PENDING)
				due_key(&v[*n].due, d);
			(*n)++;
		}
		store_record_free(d);
	}
	return mrc == MDB_NOTFOUND ? 0 : store_err(mrc);
}

int store_delivery_prune(store_txn *w, uint64_t before_seq, size_t max, size_t *deleted, int *more)
{
	MDB_cursor *cur = NULL;
	struct victim *v = NULL;
	store_key k;
	MDB_val key, val;
	size_t n = 0, i;
	int rc = store_writable(w), mrc;

	*deleted = 0;
	*more = 0;
	if (rc == 0 && max > 0)
		v = xcalloc(max, sizeof(*v));
	if (rc == 0 && max > 0)
		rc = store_err(mdb_cursor_open(w->txn, w->env->dbi[DB_WEBHOOKS], &cur));
	if (rc != 0 || max == 0)
		goto done;
	key_init(&k, KC_DELIVERY);
	key = key_val(&k);
	mrc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (mrc == 0)
		rc = choose(w, cur, before_seq, max, v, &n);
	else if (mrc != MDB_NOTFOUND)
		rc = store_err(mrc);
	mdb_cursor_close(cur);
	if (rc < 0)
		goto done;
	*more = rc == 1;
	rc = STORE_OK;
	for (i = 0; rc == 0 && i < n; i++) {
		rc = store_raw_del(w, DB_WEBHOOKS, &v[i].key);
		if (rc == 0 && v[i].due.len)
			rc = store_raw_del(w, DB_WEBHOOKS, &v[i].due);
		if (rc == 0)
			(*deleted)++;
	}
done:
	free(v);
	return rc;
}
