/*
 * keys.c - binary ordered keys, page tokens and range scans.
 *
 * A key is a one-byte class, then big-endian integers and NUL-terminated
 * ids, so memcmp order (LMDB's default) is the order a List wants.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store_int.h"
#include "xalloc.h"

void key_init(store_key *k, uint8_t cls)
{
	k->b[0] = cls;
	k->len = 1;
	k->overflow = 0;
}

static void key_bytes(store_key *k, const void *p, size_t n)
{
	if (k->overflow || n > sizeof(k->b) - k->len) {
		k->overflow = 1;
		return;
	}
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

void key_u32(store_key *k, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	key_bytes(k, b, sizeof(b));
}

void key_u64(store_key *k, uint64_t v)
{
	uint8_t b[8];

	put_be64(b, v);
	key_bytes(k, b, sizeof(b));
}

void key_str(store_key *k, const char *s)
{
	if (!s) {
		k->overflow = 1;
		return;
	}
	key_bytes(k, s, strlen(s) + 1);
}

void key_nul(store_key *k)
{
	static const uint8_t zero;

	key_bytes(k, &zero, 1);
}

int key_ok(const store_key *k)
{
	return k->overflow ? STORE_INVALID : STORE_OK;
}

uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

MDB_val key_val(const store_key *k)
{
	MDB_val v = {.mv_size = k->len, .mv_data = (void *)k->b};

	return v;
}

/* ------------------------------------------------------------------------
 * Page tokens
 */

char *store_token_encode(const void *key, size_t len)
{
	char *tok = xmalloc(4 * ((len + 2) / 3) + 1);
	int n, i;

	n = EVP_EncodeBlock((unsigned char *)tok, key, (int)len);
	while (n > 0 && tok[n - 1] == '=')
		n--;
	tok[n] = '\0';
	for (i = 0; i < n; i++) {
		if (tok[i] == '+')
			tok[i] = '-';
		else if (tok[i] == '/')
			tok[i] = '_';
	}
	return tok;
}

/* Decode into k (k->len = decoded length). STORE_INVALID on anything that
 * is not base64url of at most STORE_KEY_MAX bytes. */
int store_token_decode(const char *tok, store_key *k)
{
	unsigned char in[4 * ((STORE_KEY_MAX + 2) / 3) + 4];
	size_t len = strlen(tok), i, pad;
	int n;

	if (len == 0 || len % 4 == 1 || len > sizeof(in) - 4)
		return STORE_INVALID;
	for (i = 0; i < len; i++) {
		char c = tok[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9')))
			return STORE_INVALID;
		in[i] = (unsigned char)c;
	}
	pad = (4 - len % 4) % 4;
	for (i = 0; i < pad; i++)
		in[len++] = '=';
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	n = EVP_DecodeBlock(k->b, in, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad > sizeof(k->b))
		return STORE_INVALID;
	k->len = (size_t)n - pad;
	k->overflow = 0;
	return STORE_OK;
}

/* ------------------------------------------------------------------------
 * Range scans
 */

static int in_range(const MDB_val *key, const store_scan *s)
{
	const store_key *p = s->prefix;

	if (key->mv_size < p->len || memcmp(key->mv_data, p->b, p->len) != 0)
		return 0;
	return !(s->stop && s->stop(key, s->stop_arg));
}

static int list_push(store_list *out, ProtobufCMessage *rec)
{
	if ((out->n & (out->n - 1)) == 0) { /* 0, 1, 2, 4 ...: grow */
		out->items = xrealloc(out->items, (out->n ? 2 * out->n : 1) * sizeof(*out->items));
	}
	out->items[out->n++] = rec;
	return STORE_OK;
}

/* The record an entry designates: the value itself, or via its id. */
static int load_entry(store_txn *txn, const store_scan *s, const MDB_val *val,
		      ProtobufCMessage **rec)
{
	store_key rk;
	int rc;

	if (!s->rec_class)
		return store_codec_decode(s->desc, val->mv_data, val->mv_size, rec);
	key_init(&rk, s->rec_class);
	if (val->mv_size + 2 > sizeof(rk.b) || memchr(val->mv_data, 0, val->mv_size))
		return STORE_CORRUPT;
	memcpy(rk.b + 1, val->mv_data, val->mv_size);
	rk.b[1 + val->mv_size] = '\0';
	rk.len = val->mv_size + 2;
	/* a dangling index entry is corruption, not "not found" */
	rc = store_rec_get(txn, s->db, &rk, s->desc, rec);
	return rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
}

/*
 * Scan up to limit records from the start key (the prefix, or a decoded
 * token). With want_token (a page of a List), stop also once the records
 * reach STORE_PAGE_BYTES, and leave the token of the next in-range key.
 */
static int scan(store_txn *txn, const store_scan *s, size_t limit, const char *page_token,
		int want_token, store_list *out)
{
	MDB_cursor *cur = NULL;
	store_key start;
	MDB_val k, v;
	size_t bytes = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = key_ok(s->prefix);
	if (rc != 0)
		goto done;
	if (page_token && page_token[0]) {
		rc = store_token_decode(page_token, &start);
		if (rc != 0)
			goto done;
		k = key_val(&start);
		/* a token is only valid inside the list's own range */
		if (!in_range(&k, s)) {
			rc = STORE_INVALID;
			goto done;
		}
	} else {
		start = *s->prefix;
	}
	rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[s->db], &cur));
	if (rc != 0)
		goto done;
	k = key_val(&start);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && in_range(&k, s)) {
		ProtobufCMessage *rec = NULL;

		if (out->n == limit || (want_token && bytes >= STORE_PAGE_BYTES)) {
			if (want_token) {
				out->next_page_token = store_token_encode(k.mv_data, k.mv_size);
				if (!out->next_page_token) {
					rc = STORE_IO;
					goto done;
				}
			}
			break;
		}
		rc = load_entry(txn, s, &v, &rec);
		if (rc == 0) {
			bytes += s->rec_class ? protobuf_c_message_get_packed_size(rec) : v.mv_size;
			rc = list_push(out, rec);
		}
		if (rc != 0) {
			store_record_free(rec);
			goto done;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? STORE_OK : store_err(rc);
done:
	if (cur)
		mdb_cursor_close(cur);
	if (rc != 0)
		store_list_free(out);
	return rc;
}

int store_scan_page(store_txn *txn, const store_scan *s, int page_size, const char *page_token,
		    store_list *out)
{
	size_t limit = page_size <= 0               ? STORE_PAGE_DEFAULT
		       : page_size > STORE_PAGE_MAX ? STORE_PAGE_MAX
						    : (size_t)page_size;

	return scan(txn, s, limit, page_token, 1, out);
}

int store_scan_n(store_txn *txn, const store_scan *s, size_t n, store_list *out)
{
	return scan(txn, s, n, NULL, 0, out);
}

int store_scan_count(store_txn *txn, enum store_db db, const store_key *prefix, size_t *count)
{
	MDB_cursor *cur = NULL;
	MDB_val k = key_val(prefix), v;
	store_scan s = {.db = db, .prefix = prefix};
	int rc;

	*count = 0;
	rc = key_ok(prefix);
	if (rc != 0)
		goto done;
	rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[db], &cur));
	if (rc != 0)
		goto done;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && in_range(&k, &s)) {
		(*count)++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? STORE_OK : store_err(rc);
done:
	if (cur)
		mdb_cursor_close(cur);
	return rc;
}

void store_list_free(store_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		store_record_free(l->items[i]);
	free(l->items);
	free(l->next_page_token);
	memset(l, 0, sizeof(*l));
}
