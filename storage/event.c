/* event.c - the outbox (DB_EVENTS). See store_event.h. */
#include <string.h>

#include <stdlib.h>

#include <openssl/sha.h>

#include "store_event.h"
#include "xalloc.h"
#include "store_int.h"

#define KC_EVENT 'E'
#define KC_EVENT_VERSION 'V'
#define META_EVENT_SEQ "event_seq"

/* A 'V' entry's value: the event's seq, then its id. */
#define VERSION_VALUE (8 + STORE_EVENT_ID_LEN)

void store_event_id(const char *cause, const char *subject, const char *kind,
		    char out[STORE_EVENT_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	const char *parts[3] = {cause ? cause : "", subject ? subject : "", kind ? kind : ""};
	unsigned char md[SHA256_DIGEST_LENGTH], buf[512], *p = buf, *big = NULL;
	size_t len = 0, n;
	int i;

	for (i = 0; i < 3; i++)
		len += strlen(parts[i]) + 1;
	if (len > sizeof(buf))
		p = big = xmalloc(len);
	/* the NULs keep ("ab", "c") and ("a", "bc") apart */
	for (i = 0, n = 0; i < 3; i++) {
		memcpy(p + n, parts[i], strlen(parts[i]) + 1);
		n += strlen(parts[i]) + 1;
	}
	SHA256(p, len, md);
	free(big);
	memcpy(out, "evt_", 4);
	for (i = 0; i < 16; i++) {
		out[4 + 2 * i] = hex[md[i] >> 4];
		out[5 + 2 * i] = hex[md[i] & 0xf];
	}
	out[STORE_EVENT_ID_LEN] = '\0';
}

static void event_key(store_key *k, uint64_t seq)
{
	key_init(k, KC_EVENT);
	key_u64(k, seq);
}

static void version_key(store_key *k, const char *subject, uint64_t version)
{
	key_init(k, KC_EVENT_VERSION);
	key_str(k, subject);
	key_u64(k, version);
}

/* A 'V' value: the seq (and the id, when id is not NULL: 37 bytes). */
static int version_value(const MDB_val *v, uint64_t *seq, char *id)
{
	if (v->mv_size != VERSION_VALUE)
		return STORE_CORRUPT;
	*seq = get_be64(v->mv_data);
	if (id) {
		memcpy(id, (const char *)v->mv_data + 8, STORE_EVENT_ID_LEN);
		id[STORE_EVENT_ID_LEN] = '\0';
	}
	return STORE_OK;
}

/*
 * The newest version of subject (0 if none) and its seq; with event_id,
 * also whether one of the subject's last STORE_EVENT_DEDUPE events has
 * that id (*dup = its seq, else 0). The entries are adjacent in the index,
 * so this reads a page or two.
 */
static int last_version(store_txn *txn, const char *subject, const char *event_id,
			uint64_t *version, uint64_t *seq, uint64_t *dup)
{
	MDB_cursor *cur = NULL;
	store_key prefix, k;
	MDB_val key, val;
	int rc;

	*version = 0;
	*seq = 0;
	if (dup)
		*dup = 0;
	key_init(&prefix, KC_EVENT_VERSION);
	key_str(&prefix, subject);
	version_key(&k, subject, UINT64_MAX);
	rc = key_ok(&k);
	if (rc == 0)
		rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[DB_EVENTS], &cur));
	if (rc != 0)
		goto done;
	key = key_val(&k);
	/* the entry after (subject, max), then one back */
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
	else if (rc == 0 && !(key.mv_size == k.len && memcmp(key.mv_data, k.b, k.len) == 0))
		rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
	if (rc == MDB_NOTFOUND) {
		rc = STORE_OK;
		goto done;
	}
	rc = store_err(rc);
	if (rc != 0)
		goto done;
	if (key.mv_size != prefix.len + 8 || memcmp(key.mv_data, prefix.b, prefix.len) != 0)
		goto done; /* another subject (or another class): none yet */
	*version = get_be64((const uint8_t *)key.mv_data + prefix.len);
	rc = version_value(&val, seq, NULL);
	for (int i = 0; rc == 0 && event_id && i < STORE_EVENT_DEDUPE; i++) {
		char id[STORE_EVENT_ID_LEN + 1];
		uint64_t s;

		if (key.mv_size != prefix.len + 8 || memcmp(key.mv_data, prefix.b, prefix.len) != 0)
			break;
		if (val.mv_size != VERSION_VALUE) {
			rc = STORE_CORRUPT;
			break;
		}
		if (memcmp((const char *)val.mv_data + 8, event_id, STORE_EVENT_ID_LEN) == 0) {
			rc = version_value(&val, &s, id);
			*dup = s;
			break;
		}
		if (mdb_cursor_get(cur, &key, &val, MDB_PREV) != 0)
			break;
	}
done:
	if (cur)
		mdb_cursor_close(cur);
	return rc;
}

static int append(store_txn *w, store_event *rec, int check);

int store_event_append(store_txn *w, store_event *rec)
{
	return append(w, rec, 1);
}

int store_event_append_new(store_txn *w, store_event *rec)
{
	return append(w, rec, 0);
}

static int append(store_txn *w, store_event *rec, int check)
{
	store_key k;
	uint8_t v[VERSION_VALUE];
	uint64_t version, last_seq, dup;
	int rc = store_writable(w);

	if (rc != 0)
		return rc;
	if (!rec->event_id || strlen(rec->event_id) != STORE_EVENT_ID_LEN || !rec->kind ||
	    !rec->kind[0] || !rec->subject || !rec->subject[0])
		return STORE_INVALID;
	rc = last_version(w, rec->subject, check ? rec->event_id : NULL, &version, &last_seq, &dup);
	if (rc != 0)
		return rc;
	if (dup) {
		rec->seq = dup;
		return STORE_EXISTS;
	}
	rc = store_meta_next(w, META_EVENT_SEQ, &rec->seq);
	if (rc != 0)
		return rc;
	rec->subject_version = version + 1;
	put_be64(v, rec->seq);
	memcpy(v + 8, rec->event_id, STORE_EVENT_ID_LEN);
	version_key(&k, rec->subject, rec->subject_version);
	rc = store_raw_put(w, DB_EVENTS, &k, v, sizeof(v));
	if (rc == 0) {
		event_key(&k, rec->seq);
		rc = store_rec_put(w, DB_EVENTS, &k, &rec->base, 1);
	}
	if (rc == 0)
		w->env->batch_events = 1;
	return rc;
}

int store_event_get(store_txn *txn, uint64_t seq, store_event **out)
{
	store_key k;

	event_key(&k, seq);
	return store_rec_get(txn, DB_EVENTS, &k,
			     &smartplus__billing__store__v1__event_record__descriptor,
			     (ProtobufCMessage **)out);
}

static int push(store_list *out, store_event *ev)
{
	if ((out->n & (out->n - 1)) == 0)
		out->items = xrealloc(out->items, (out->n ? 2 * out->n : 1) * sizeof(*out->items));
	out->items[out->n++] = ev;
	return STORE_OK;
}

/* Examines one event: keep it in out or free it. */
static int examine(const store_event_query *q, store_event *ev, store_list *out)
{
	int rc = STORE_OK;

	if (!q->keep || q->keep(ev, q->keep_arg)) {
		rc = push(out, ev);
		if (rc == 0)
			return rc;
	}
	store_record_free(ev);
	return rc;
}

int store_event_scan(store_txn *txn, const store_event_query *q, store_list *out, uint64_t *last,
		     int *more)
{
	size_t limit = q->limit ? q->limit : STORE_PAGE_DEFAULT, scanned = 0;
	int by_subject = q->subject && q->subject[0];
	MDB_cursor *cur = NULL;
	store_key prefix, start;
	MDB_val key, val;
	int rc;

	memset(out, 0, sizeof(*out));
	*last = q->after;
	*more = 0;
	if (by_subject) {
		key_init(&prefix, KC_EVENT_VERSION);
		key_str(&prefix, q->subject);
		start = prefix;
	} else {
		key_init(&prefix, KC_EVENT);
		event_key(&start, q->after == UINT64_MAX ? q->after : q->after + 1);
	}
	rc = key_ok(&start);
	if (rc == 0)
		rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[DB_EVENTS], &cur));
	if (rc != 0)
		goto done;
	key = key_val(&start);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		store_event *ev = NULL;
		uint64_t seq;

		if (key.mv_size != prefix.len + 8 || memcmp(key.mv_data, prefix.b, prefix.len) != 0)
			break;
		if (out->n == limit || (q->max_scan && scanned == q->max_scan)) {
			*more = 1;
			break;
		}
		if (by_subject) {
			rc = version_value(&val, &seq, NULL);
			if (rc != 0)
				goto done;
			if (seq <= q->after)
				continue;
			rc = store_event_get(txn, seq, &ev);
			if (rc == STORE_NOTFOUND) {
				rc = 0; /* the kept newest version of a pruned subject */
				continue;
			}
		} else {
			rc = store_codec_decode(
				&smartplus__billing__store__v1__event_record__descriptor,
				val.mv_data, val.mv_size, (ProtobufCMessage **)&ev);
			seq = get_be64((const uint8_t *)key.mv_data + 1);
		}
		if (rc != 0)
			goto done;
		scanned++;
		*last = seq;
		rc = examine(q, ev, out);
		if (rc != 0)
			goto done;
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? STORE_OK : store_err(rc);
done:
	if (cur)
		mdb_cursor_close(cur);
	if (rc != 0)
		store_list_free(out);
	return rc;
}

uint64_t store_event_last_seq(store_env *env)
{
	return __atomic_load_n(&env->event_seq, __ATOMIC_ACQUIRE);
}

int store_event_first_seq(store_txn *txn, uint64_t *seq)
{
	MDB_cursor *cur = NULL;
	store_key k;
	MDB_val key, val;
	int rc;

	*seq = 0;
	event_key(&k, 0);
	rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[DB_EVENTS], &cur));
	if (rc != 0)
		return rc;
	key = key_val(&k);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0 && key.mv_size == 9 && ((const uint8_t *)key.mv_data)[0] == KC_EVENT)
		*seq = get_be64((const uint8_t *)key.mv_data + 1);
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? STORE_OK : store_err(rc);
}

/* Deletes the index entry of ev, unless it is its subject's newest. */
static int unindex(store_txn *w, const store_event *ev)
{
	uint64_t version, seq;
	store_key k;
	int rc;

	rc = last_version(w, ev->subject, NULL, &version, &seq, NULL);
	if (rc == 0 && version != ev->subject_version) {
		version_key(&k, ev->subject, ev->subject_version);
		rc = store_raw_del(w, DB_EVENTS, &k);
	}
	return rc;
}

int store_event_prune(store_txn *w, int64_t before, size_t max, size_t *deleted, int *more)
{
	int rc = store_writable(w);

	*deleted = 0;
	*more = 0;
	while (rc == 0) {
		store_event *ev = NULL;
		uint64_t first;
		store_key k;

		rc = store_event_first_seq(w, &first);
		if (rc != 0 || first == 0)
			break;
		if (*deleted == max) {
			*more = 1;
			break;
		}
		rc = store_event_get(w, first, &ev);
		if (rc == 0 && ev->create_time >= before) {
			store_record_free(ev);
			break;
		}
		if (rc == 0)
			rc = unindex(w, ev);
		if (rc == 0) {
			event_key(&k, first);
			rc = store_raw_del(w, DB_EVENTS, &k);
		}
		store_record_free(ev);
		if (rc == 0)
			(*deleted)++;
	}
	return rc;
}

void store_set_commit_hook(store_env *env, void (*fn)(void *arg, uint64_t last_seq), void *arg)
{
	pthread_mutex_lock(&env->wlock);
	env->commit_hook = fn;
	env->commit_hook_arg = arg;
	pthread_mutex_unlock(&env->wlock);
}

int store_event_open(store_env *env, store_txn *txn)
{
	uint64_t seq = 0;
	int rc = store_meta_get(txn, META_EVENT_SEQ, &seq);

	if (rc == 0)
		__atomic_store_n(&env->event_seq, seq, __ATOMIC_RELEASE);
	return rc;
}

int store_event_batch_seq(store_txn *top, uint64_t *seq)
{
	return store_meta_get(top, META_EVENT_SEQ, seq);
}
