/*
 * invoice.c - invoices, credit notes and their numbering (DB_INVOICES).
 * See store_invoice.h for the keys and why the numbers have no gaps.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_invoice.h"
#include "store_int.h"
#include "xalloc.h"

#define KC_INVOICE 'I'
#define KC_INVOICE_ORDER 'o'
#define KC_INVOICE_PAYER 'p'
#define KC_INVOICE_ANCESTOR 'a'
#define KC_NOTE 'N'
#define KC_NOTE_ORDER 'n'
#define KC_NOTE_PAYER 'q'
#define KC_NOTE_ANCESTOR 'b'
#define KC_NOTE_PENDING 'w'

#define MAX_ANCESTORS 8
#define FILTER_BYTES 16

/* Newest first: the inverted, sign-flipped time sorts descending. */
static uint64_t time_desc(int64_t t)
{
	return ~((uint64_t)t ^ UINT64_C(0x8000000000000000));
}

static int64_t time_from_desc(uint64_t v)
{
	return (int64_t)(~v ^ UINT64_C(0x8000000000000000));
}

/* ------------------------------------------------------------------------
 * Numbering
 */

static int seq_next(store_txn *w, const char *what, int32_t year, uint64_t *seq)
{
	char name[64];

	if (year < 1970 || year > 9999)
		return STORE_INVALID;
	snprintf(name, sizeof(name), "%s/%" PRId32, what, year);
	return store_meta_next(w, name, seq);
}

static int seq_last(store_txn *txn, const char *what, int32_t year, uint64_t *seq)
{
	char name[64];

	snprintf(name, sizeof(name), "%s/%" PRId32, what, year);
	return store_meta_get(txn, name, seq);
}

int store_invoice_next_seq(store_txn *w, int32_t year, uint64_t *seq)
{
	return seq_next(w, "invoice_seq", year, seq);
}

int store_credit_note_next_seq(store_txn *w, int32_t year, uint64_t *seq)
{
	return seq_next(w, "credit_note_seq", year, seq);
}

int store_invoice_last_seq(store_txn *txn, int32_t year, uint64_t *seq)
{
	return seq_last(txn, "invoice_seq", year, seq);
}

int store_credit_note_last_seq(store_txn *txn, int32_t year, uint64_t *seq)
{
	return seq_last(txn, "credit_note_seq", year, seq);
}

/* ------------------------------------------------------------------------
 * Shared by both documents
 */

static void rec_key(store_key *k, uint8_t cls, const char *number)
{
	key_init(k, cls);
	key_str(k, number);
	if (number && !number[0])
		k->overflow = 1;
}

static void when_key(store_key *k, uint8_t cls, const char *account, int64_t t, const char *number)
{
	key_init(k, cls);
	key_str(k, account);
	key_u64(k, time_desc(t));
	key_str(k, number);
}

/* The payer and ancestor entries of a new document. */
static int put_owner_index(store_txn *w, uint8_t payer_cls, uint8_t anc_cls, const char *payer,
			   char **ancestors, size_t n, int64_t t, const char *number)
{
	store_key k;
	int rc;

	when_key(&k, payer_cls, payer, t, number);
	rc = store_idx_put(w, DB_INVOICES, &k, number);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		when_key(&k, anc_cls, ancestors[i], t, number);
		rc = store_idx_put(w, DB_INVOICES, &k, number);
	}
	return rc;
}

static int check_doc(const char *number, const char *order, const char *payer, size_t n_anc,
		     int64_t t)
{
	if (!number || !number[0] || strlen(number) >= STORE_DOC_NUMBER_MAX || !order ||
	    !order[0] || !payer || !payer[0] || n_anc > MAX_ANCESTORS || t <= 0)
		return STORE_INVALID;
	return STORE_OK;
}

static void filter_bytes(const store_doc_filter *f, uint8_t out[FILTER_BYTES])
{
	put_be64(out, (uint64_t)f->start_us);
	put_be64(out + 8, (uint64_t)f->end_us);
}

/*
 * One page of a document index (payer_cls or anc_cls per the filter),
 * newest first, resolving entries to records of rec_cls. Tokens are the
 * next entry's key followed by the filter, so a token is only taken back
 * by the same list.
 */
static int doc_list(store_txn *txn, uint8_t payer_cls, uint8_t anc_cls, uint8_t rec_cls,
		    const ProtobufCMessageDescriptor *desc, const store_doc_filter *f,
		    int page_size, const char *page_token, store_list *out)
{
	size_t limit = page_size <= 0               ? STORE_PAGE_DEFAULT
		       : page_size > STORE_PAGE_MAX ? STORE_PAGE_MAX
						    : (size_t)page_size;
	uint8_t fb[FILTER_BYTES], tok[STORE_KEY_MAX + FILTER_BYTES];
	MDB_cursor *cur = NULL;
	store_key prefix, start;
	MDB_val k, v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!f || (!f->payer_id) == (!f->ancestor_id) || f->start_us < 0 || f->end_us < 0) {
		rc = STORE_INVALID;
		goto done;
	}
	key_init(&prefix, f->payer_id ? payer_cls : anc_cls);
	key_str(&prefix, f->payer_id ? f->payer_id : f->ancestor_id);
	if ((rc = key_ok(&prefix)) != 0)
		goto done;
	filter_bytes(f, fb);
	if (page_token && page_token[0]) {
		rc = store_token_decode(page_token, &start);
		if (rc == 0 && (start.len <= prefix.len + 8 + FILTER_BYTES ||
				memcmp(start.b, prefix.b, prefix.len) != 0 ||
				memcmp(start.b + start.len - FILTER_BYTES, fb, FILTER_BYTES) != 0))
			rc = STORE_INVALID;
		start.len -= rc == 0 ? FILTER_BYTES : 0;
	} else {
		start = prefix;
		if (f->end_us > 0) /* the newest document before end first */
			key_u64(&start, time_desc(f->end_us - 1));
		rc = key_ok(&start);
	}
	if (rc != 0)
		goto done;
	rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[DB_INVOICES], &cur));
	if (rc != 0)
		goto done;
	k = key_val(&start);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		ProtobufCMessage *rec = NULL;
		store_key rk;
		void **items;

		if (k.mv_size <= prefix.len + 8 || memcmp(k.mv_data, prefix.b, prefix.len) != 0)
			break;
		if (f->start_us > 0 &&
		    time_from_desc(get_be64((uint8_t *)k.mv_data + prefix.len)) < f->start_us)
			break; /* older than the window, and so is the rest */
		if (out->n == limit) {
			memcpy(tok, k.mv_data, k.mv_size);
			memcpy(tok + k.mv_size, fb, FILTER_BYTES);
			out->next_page_token = store_token_encode(tok, k.mv_size + FILTER_BYTES);
			rc = out->next_page_token ? STORE_OK : STORE_IO;
			goto done;
		}
		if (v.mv_size == 0 || v.mv_size + 2 > sizeof(rk.b) ||
		    memchr(v.mv_data, 0, v.mv_size)) {
			rc = STORE_CORRUPT;
			goto done;
		}
		key_init(&rk, rec_cls);
		memcpy(rk.b + 1, v.mv_data, v.mv_size);
		rk.b[1 + v.mv_size] = '\0';
		rk.len = v.mv_size + 2;
		rc = store_rec_get(txn, DB_INVOICES, &rk, desc, &rec);
		if (rc != 0) {
			rc = rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
			goto done;
		}
		if ((out->n & (out->n - 1)) == 0) {
			items = xrealloc(out->items, (out->n ? 2 * out->n : 1) * sizeof(*items));
			out->items = items;
		}
		out->items[out->n++] = rec;
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? STORE_OK : store_err(rc);
done:
	if (cur)
		mdb_cursor_close(cur);
	if (rc != 0)
		store_list_free(out);
	return rc;
}

/* ------------------------------------------------------------------------
 * Invoices
 */

int store_invoice_put(store_txn *w, const store_invoice *rec, int create)
{
	ProtobufCMessage *old = NULL;
	store_key k;
	int rc = store_writable(w);

	if (rc == 0)
		rc = check_doc(rec->number, rec->order_id, rec->payer_id, rec->n_ancestors,
			       rec->issue_time);
	if (rc != 0)
		return rc;
	rec_key(&k, KC_INVOICE, rec->number);
	rc = store_rec_get(w, DB_INVOICES, &k,
			   &smartplus__billing__store__v1__invoice_record__descriptor, &old);
	store_record_free(old);
	if (create && rc == 0)
		return STORE_EXISTS;
	if (!create)
		return rc == 0 ? store_rec_put(w, DB_INVOICES, &k, &rec->base, 0) : rc;
	if (rc != STORE_NOTFOUND)
		return rc;
	rec_key(&k, KC_INVOICE_ORDER, rec->order_id);
	rc = store_raw_get(w, DB_INVOICES, &k, &(MDB_val){0});
	if (rc == 0)
		return STORE_EXISTS; /* one invoice per order */
	if (rc != STORE_NOTFOUND)
		return rc;
	rc = store_idx_put(w, DB_INVOICES, &k, rec->number);
	if (rc == 0)
		rc = put_owner_index(w, KC_INVOICE_PAYER, KC_INVOICE_ANCESTOR, rec->payer_id,
				     rec->ancestors, rec->n_ancestors, rec->issue_time,
				     rec->number);
	if (rc == 0) {
		rec_key(&k, KC_INVOICE, rec->number);
		rc = store_rec_put(w, DB_INVOICES, &k, &rec->base, 1);
	}
	return rc;
}

int store_invoice_get(store_txn *txn, const char *number, store_invoice **out)
{
	store_key k;

	*out = NULL;
	rec_key(&k, KC_INVOICE, number);
	return store_rec_get(txn, DB_INVOICES, &k,
			     &smartplus__billing__store__v1__invoice_record__descriptor,
			     (ProtobufCMessage **)out);
}

int store_invoice_get_by_order(store_txn *txn, const char *order_id, store_invoice **out)
{
	char number[STORE_DOC_NUMBER_MAX];
	store_key k;
	MDB_val v;
	int rc;

	*out = NULL;
	rec_key(&k, KC_INVOICE_ORDER, order_id);
	rc = store_raw_get(txn, DB_INVOICES, &k, &v);
	if (rc != 0)
		return rc;
	if (v.mv_size == 0 || v.mv_size >= sizeof(number))
		return STORE_CORRUPT;
	memcpy(number, v.mv_data, v.mv_size);
	number[v.mv_size] = '\0';
	rc = store_invoice_get(txn, number, out);
	return rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
}

int store_invoice_list(store_txn *txn, const store_doc_filter *f, int page_size,
		       const char *page_token, store_list *out)
{
	return doc_list(txn, KC_INVOICE_PAYER, KC_INVOICE_ANCESTOR, KC_INVOICE,
			&smartplus__billing__store__v1__invoice_record__descriptor, f, page_size,
			page_token, out);
}

/* ------------------------------------------------------------------------
 * Credit notes
 */

static void pending_key(store_key *k, const store_credit_note *n)
{
	key_init(k, KC_NOTE_PENDING);
	key_u64(k, (uint64_t)n->create_time);
	key_str(k, n->number);
}

int store_credit_note_put(store_txn *w, const store_credit_note *rec, int create)
{
	ProtobufCMessage *old = NULL;
	store_key k;
	int rc = store_writable(w);

	if (rc == 0)
		rc = check_doc(rec->number, rec->order_id, rec->payer_id, rec->n_ancestors,
			       rec->create_time);
	if (rc != 0)
		return rc;
	rec_key(&k, KC_NOTE, rec->number);
	rc = store_rec_get(w, DB_INVOICES, &k,
			   &smartplus__billing__store__v1__credit_note_record__descriptor, &old);
	store_record_free(old);
	if (create && rc == 0)
		return STORE_EXISTS;
	if (!create && rc != 0)
		return rc;
	if (create && rc != STORE_NOTFOUND)
		return rc;
	rc = store_rec_put(w, DB_INVOICES, &k, &rec->base, 0);
	if (rc == 0 && create) {
		key_init(&k, KC_NOTE_ORDER);
		key_str(&k, rec->order_id);
		key_str(&k, rec->number);
		rc = store_idx_put(w, DB_INVOICES, &k, rec->number);
		if (rc == 0)
			rc = put_owner_index(w, KC_NOTE_PAYER, KC_NOTE_ANCESTOR, rec->payer_id,
					     rec->ancestors, rec->n_ancestors, rec->create_time,
					     rec->number);
	}
	if (rc == 0) {
		pending_key(&k, rec);
		rc = rec->status == STORE_CREDIT_NOTE_PENDING
			     ? store_idx_put(w, DB_INVOICES, &k, rec->number)
			     : store_raw_del(w, DB_INVOICES, &k);
	}
	return rc;
}

int store_credit_note_get(store_txn *txn, const char *number, store_credit_note **out)
{
	store_key k;

	*out = NULL;
	rec_key(&k, KC_NOTE, number);
	return store_rec_get(txn, DB_INVOICES, &k,
			     &smartplus__billing__store__v1__credit_note_record__descriptor,
			     (ProtobufCMessage **)out);
}

int store_credit_note_list(store_txn *txn, const store_doc_filter *f, int page_size,
			   const char *page_token, store_list *out)
{
	return doc_list(txn, KC_NOTE_PAYER, KC_NOTE_ANCESTOR, KC_NOTE,
			&smartplus__billing__store__v1__credit_note_record__descriptor, f,
			page_size, page_token, out);
}

int store_credit_note_list_by_order(store_txn *txn, const char *order_id, store_list *out)
{
	store_key prefix;
	store_scan s = {0};

	key_init(&prefix, KC_NOTE_ORDER);
	key_str(&prefix, order_id);
	s.db = DB_INVOICES;
	s.prefix = &prefix;
	s.rec_class = KC_NOTE;
	s.desc = &smartplus__billing__store__v1__credit_note_record__descriptor;
	return store_scan_n(txn, &s, STORE_PAGE_MAX, out);
}

/* End of the pending range: created at or after t. */
static int created_stop(const MDB_val *key, void *arg)
{
	const int64_t *t = arg;

	return key->mv_size < 9 || get_be64((const uint8_t *)key->mv_data + 1) >= (uint64_t)*t;
}

int store_credit_note_pending_before(store_txn *txn, int64_t t, size_t n, store_list *out)
{
	store_key prefix;
	store_scan s = {0};

	key_init(&prefix, KC_NOTE_PENDING);
	s.db = DB_INVOICES;
	s.prefix = &prefix;
	s.rec_class = KC_NOTE;
	s.desc = &smartplus__billing__store__v1__credit_note_record__descriptor;
	s.stop = created_stop;
	s.stop_arg = &t;
	return store_scan_n(txn, &s, n, out);
}
