/*
 * codec.c - stored values (codec version byte + packed protobuf-c message)
 * and the record-level get/put every table uses.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "xalloc.h"

/* 1 if msg or a sub-message holds an unknown field numbered 0. */
static int has_tag0_unknown(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;
	for (unsigned i = 0; i < msg->n_unknown_fields; i++)
		if (msg->unknown_fields[i].tag == 0)
			return 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr = *(
				ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				if (arr[k] && has_tag0_unknown(arr[k]))
					return 1;
		} else {
			const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base +
										   f->offset);
			if (sub && has_tag0_unknown(sub))
				return 1;
		}
	}
	return 0;
}

int store_codec_decode(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
		       ProtobufCMessage **out)
{
	const uint8_t *p = data;

	*out = NULL;
	if (!desc || !p || len < 1 || p[0] != STORE_CODEC_VERSION)
		return STORE_CORRUPT;
	*out = protobuf_c_message_unpack(desc, NULL, len - 1, p + 1);
	if (*out && has_tag0_unknown(*out)) {
		/* protobuf-c keeps an unknown field 0 (an over-long tag) and would
		 * write it back as bytes it cannot read: refuse it now. */
		protobuf_c_message_free_unpacked(*out, NULL);
		*out = NULL;
	}
	return *out ? STORE_OK : STORE_CORRUPT;
}

size_t store_codec_size(const ProtobufCMessage *msg)
{
	return 1 + protobuf_c_message_get_packed_size(msg);
}

void store_codec_encode(const ProtobufCMessage *msg, uint8_t *buf)
{
	buf[0] = STORE_CODEC_VERSION;
	protobuf_c_message_pack(msg, buf + 1);
}

void store_record_free(void *rec)
{
	if (rec)
		protobuf_c_message_free_unpacked(rec, NULL);
}

int store_raw_get(store_txn *txn, enum store_db db, const store_key *k, MDB_val *val)
{
	MDB_val key = key_val(k);
	int rc = key_ok(k);

	if (rc != 0)
		return rc;
	return store_err(mdb_get(txn->txn, txn->env->dbi[db], &key, val));
}

int store_rec_get(store_txn *txn, enum store_db db, const store_key *k,
		  const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	MDB_val val;
	int rc;

	*out = NULL;
	rc = store_raw_get(txn, db, k, &val);
	if (rc != 0)
		return rc;
	/* unpack copies everything out of the map */
	return store_codec_decode(desc, val.mv_data, val.mv_size, out);
}

int store_rec_put(store_txn *w, enum store_db db, const store_key *k, const ProtobufCMessage *msg,
		  int create)
{
	MDB_val key = key_val(k), val;
	int rc = store_writable(w);

	if (rc == 0)
		rc = key_ok(k);
	if (rc != 0)
		return rc;
	val.mv_size = store_codec_size(msg);
	val.mv_data = NULL;
	/* encode straight into the page: no intermediate buffer */
	rc = mdb_put(w->txn, w->env->dbi[db], &key, &val,
		     MDB_RESERVE | (create ? MDB_NOOVERWRITE : 0));
	if (rc != 0)
		return store_err(rc);
	store_codec_encode(msg, val.mv_data);
	return STORE_OK;
}

int store_raw_put(store_txn *w, enum store_db db, const store_key *k, const void *v, size_t len)
{
	MDB_val key = key_val(k), val = {.mv_size = len, .mv_data = (void *)v};
	int rc = store_writable(w);

	if (rc == 0)
		rc = key_ok(k);
	if (rc != 0)
		return rc;
	return store_err(mdb_put(w->txn, w->env->dbi[db], &key, &val, 0));
}

int store_idx_put(store_txn *w, enum store_db db, const store_key *k, const char *id)
{
	return store_raw_put(w, db, k, id, strlen(id));
}

int store_raw_del(store_txn *w, enum store_db db, const store_key *k)
{
	MDB_val key = key_val(k);
	int rc = store_writable(w);

	if (rc == 0)
		rc = key_ok(k);
	if (rc != 0)
		return rc;
	rc = store_err(mdb_del(w->txn, w->env->dbi[db], &key, NULL));
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ------------------------------------------------------------------------
 * Tables: a record and its index entries, kept in step.
 */

void store_table_key(const store_table *t, const char *id, store_key *k)
{
	key_init(k, t->rec_class);
	key_str(k, id);
	if (id && !id[0])
		k->overflow = 1; /* empty ids are invalid */
}

void store_table_scan(const store_table *t, const store_key *prefix, store_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->db = t->db;
	s->prefix = prefix;
	s->rec_class = t->rec_class;
	s->desc = t->desc;
}

int store_table_get(store_txn *txn, const store_table *t, const char *id, ProtobufCMessage **out)
{
	store_key k;

	store_table_key(t, id, &k);
	return store_rec_get(txn, t->db, &k, t->desc, out);
}

static int del_index(store_txn *w, const store_table *t, const ProtobufCMessage *rec)
{
	store_key keys[STORE_MAX_INDEX];
	int i, n = t->index_keys ? t->index_keys(rec, keys) : 0, rc = 0;

	for (i = 0; rc == 0 && i < n; i++)
		rc = store_raw_del(w, t->db, &keys[i]);
	return rc;
}

int store_table_put(store_txn *w, const store_table *t, const char *id, const ProtobufCMessage *rec,
		    int create)
{
	store_key k, keys[STORE_MAX_INDEX];
	ProtobufCMessage *old = NULL;
	int rc, i, n;

	rc = store_writable(w);
	if (rc != 0)
		goto done;
	rc = store_table_get(w, t, id, &old);
	if (rc == 0 && create)
		rc = STORE_EXISTS;
	else if (rc == 0)
		rc = del_index(w, t, old);
	else if (rc == STORE_NOTFOUND)
		rc = STORE_OK;
	if (rc != 0)
		goto done;
	store_table_key(t, id, &k);
	rc = store_rec_put(w, t->db, &k, rec, 0);
	n = t->index_keys ? t->index_keys(rec, keys) : 0;
	for (i = 0; rc == 0 && i < n; i++)
		rc = store_idx_put(w, t->db, &keys[i], id);
done:
	store_record_free(old);
	return rc;
}

int store_table_delete(store_txn *w, const store_table *t, const char *id)
{
	ProtobufCMessage *old = NULL;
	store_key k;
	int rc;

	rc = store_writable(w);
	if (rc == 0)
		rc = store_table_get(w, t, id, &old);
	if (rc == 0)
		rc = del_index(w, t, old);
	if (rc == 0) {
		store_table_key(t, id, &k);
		rc = store_raw_del(w, t->db, &k);
	}
	store_record_free(old);
	return rc;
}

void store_str_set(char **field, const char *v)
{
	char *copy = xstrdup(v ? v : "");
	if (*field && *field != protobuf_c_empty_string)
		free(*field);
	*field = copy;
}
