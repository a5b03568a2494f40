/*
 * ledger.c - credit transfers, balances and per-account credit logs in the
 * "ledger" database. See store_ledger.h for the layout; the R15 checker is
 * ledger_check.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_ledger.h"
#include "ledger_int.h"
#include "store_int.h"
#include "xalloc.h"

#define ID_PREFIX "trf_"
#define FILTER_BYTES 20 /* kind be32, start be64, end be64 */

/* ------------------------------------------------------------------------
 * Keys
 */

/* int64 -> uint64 preserving order, then inverted so newer sorts first. */
static uint64_t time_desc(int64_t t)
{
	return ~((uint64_t)t ^ UINT64_C(0x8000000000000000));
}

static int64_t time_from_desc(uint64_t v)
{
	return (int64_t)(~v ^ UINT64_C(0x8000000000000000));
}

static void transfer_key(store_key *k, const char *id)
{
	key_init(k, LEDGER_KC_TRANSFER);
	key_str(k, id);
}

static void balance_key(store_key *k, const char *account)
{
	key_init(k, LEDGER_KC_BALANCE);
	key_str(k, account);
}

static void log_prefix(store_key *k, const char *account)
{
	key_init(k, LEDGER_KC_LOG);
	key_str(k, account);
}

void ledger_log_key(store_key *k, const char *account, int64_t time_us, uint64_t seq)
{
	log_prefix(k, account);
	key_u64(k, time_desc(time_us));
	key_u64(k, ~seq);
}

void ledger_format_id(char id[LEDGER_ID_MAX], uint64_t seq)
{
	snprintf(id, LEDGER_ID_MAX, ID_PREFIX "%016" PRIx64, seq);
}

int ledger_valid_kind(int kind)
{
	return kind >= LEDGER_PURCHASE && kind <= LEDGER_REFUND;
}

/* ------------------------------------------------------------------------
 * Balances
 */

/* Current balance record of account, or a zeroed one (not stored yet). */
static int balance_read(store_txn *txn, const char *account, ledger_balance_rec *out)
{
	ledger_balance_rec *rec = NULL;
	store_key k;
	int rc;

	smartplus__billing__store__v1__balance_record__init(out);
	balance_key(&k, account);
	rc = store_rec_get(txn, DB_LEDGER, &k,
			   &smartplus__billing__store__v1__balance_record__descriptor,
			   (ProtobufCMessage **)&rec);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != 0)
		return rc;
	out->credits = rec->credits;
	out->transfers = rec->transfers;
	out->last_seq = rec->last_seq;
	out->update_time = rec->update_time;
	store_record_free(rec);
	return STORE_OK;
}

static int balance_write(store_txn *w, const char *account, ledger_balance_rec *rec)
{
	store_key k;

	rec->account_id = (char *)account;
	balance_key(&k, account);
	return store_rec_put(w, DB_LEDGER, &k, &rec->base, 0);
}

int ledger_balance(store_txn *txn, const char *account, int64_t *out)
{
	ledger_balance_rec rec;
	int rc;

	*out = 0;
	if (!account)
		return STORE_INVALID;
	rc = balance_read(txn, account, &rec);
	if (rc == 0)
		*out = rec.credits;
	return rc;
}

/* ------------------------------------------------------------------------
 * Transfers
 */

static int log_put(store_txn *w, const char *account, int64_t time_us, uint64_t seq, const char *id)
{
	store_key k;

	ledger_log_key(&k, account, time_us, seq);
	return store_idx_put(w, DB_LEDGER, &k, id);
}

static int transfer_ex(store_txn *w, const char *from, const char *to, int64_t credits, int kind,
		       const char *order_id, const char *actor_id, const char *reverses,
		       int64_t now_us, ledger_result *out)
{
	ledger_transfer_rec t = SMARTPLUS__BILLING__STORE__V1__TRANSFER_RECORD__INIT;
	ledger_balance_rec fb, tb;
	char id[LEDGER_ID_MAX];
	store_key k;
	uint64_t seq;
	int rc = store_writable(w);

	if (rc != 0)
		goto done;
	if (!from || !to || !from[0] || !to[0] || strcmp(from, to) == 0 || credits <= 0 ||
	    !ledger_valid_kind(kind) || now_us < 0) {
		rc = STORE_INVALID;
		goto done;
	}
	rc = balance_read(w, from, &fb);
	if (rc == 0)
		rc = balance_read(w, to, &tb);
	if (rc != 0)
		goto done;
	if (strcmp(from, LEDGER_ISSUER) != 0 && fb.credits < credits) {
		rc = LEDGER_INSUFFICIENT;
		goto done;
	}
	if (__builtin_sub_overflow(fb.credits, credits, &fb.credits) ||
	    __builtin_add_overflow(tb.credits, credits, &tb.credits)) {
		rc = STORE_INVALID;
		goto done;
	}
	rc = store_meta_next(w, LEDGER_SEQ_COUNTER, &seq);
	if (rc != 0)
		goto done;
	ledger_format_id(id, seq);

	t.transfer_id = id;
	t.seq = seq;
	t.from_id = (char *)from;
	t.to_id = (char *)to;
	t.credits = credits;
	t.kind = kind;
	t.order_id = (char *)(order_id ? order_id : "");
	t.actor_id = (char *)(actor_id ? actor_id : "");
	t.create_time = now_us;
	t.from_balance_after = fb.credits;
	t.to_balance_after = tb.credits;
	t.reverses = (char *)(reverses ? reverses : "");
	transfer_key(&k, id);
	rc = store_rec_put(w, DB_LEDGER, &k, &t.base, 1);
	if (rc == STORE_EXISTS) /* the counter went backwards */
		rc = STORE_CORRUPT;
	if (rc != 0)
		goto done;

	fb.transfers++;
	fb.last_seq = seq;
	fb.update_time = now_us;
	tb.transfers++;
	tb.last_seq = seq;
	tb.update_time = now_us;
	rc = balance_write(w, from, &fb);
	if (rc == 0)
		rc = balance_write(w, to, &tb);
	if (rc == 0)
		rc = log_put(w, from, now_us, seq, id);
	if (rc == 0)
		rc = log_put(w, to, now_us, seq, id);
	if (rc == 0 && out) {
		memcpy(out->transfer_id, id, sizeof(id));
		out->seq = seq;
		out->from_balance = fb.credits;
		out->to_balance = tb.credits;
		out->time_us = now_us;
	}
done:
	return rc;
}

int ledger_transfer(store_txn *w, const char *from, const char *to, int64_t credits, int kind,
		    const char *order_id, const char *actor_id, int64_t now_us, ledger_result *out)
{
	return transfer_ex(w, from, to, credits, kind, order_id, actor_id, NULL, now_us, out);
}

static void reversed_key(store_key *k, const char *transfer_id)
{
	key_init(k, LEDGER_KC_REVERSED);
	key_str(k, transfer_id);
}

int ledger_reversed(store_txn *txn, const char *transfer_id, int64_t *out)
{
	store_key k;
	MDB_val v;
	int rc;

	*out = 0;
	reversed_key(&k, transfer_id);
	rc = store_raw_get(txn, DB_LEDGER, &k, &v);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return STORE_CORRUPT;
	*out = (int64_t)get_be64(v.mv_data);
	return STORE_OK;
}

int ledger_reverse(store_txn *w, const char *transfer_id, int64_t credits, const char *actor_id,
		   int64_t now_us, ledger_result *out, int64_t *remaining)
{
	ledger_transfer_rec *orig = NULL;
	int64_t taken, left, balance, amount;
	uint8_t v[8];
	store_key k;
	int rc = store_writable(w);

	if (rc == 0 && credits < 0)
		rc = STORE_INVALID;
	if (rc == 0)
		rc = ledger_transfer_get(w, transfer_id, &orig);
	if (rc != 0)
		goto done;
	if (orig->kind != LEDGER_ALLOCATION || orig->reverses[0]) {
		rc = LEDGER_NOT_REVERSIBLE;
		goto done;
	}
	rc = ledger_reversed(w, transfer_id, &taken);
	if (rc == 0)
		rc = ledger_balance(w, orig->to_id, &balance);
	if (rc != 0)
		goto done;
	left = orig->credits - taken;
	amount = left;
	if (credits > 0 && credits < amount)
		amount = credits;
	if (balance < amount)
		amount = balance;
	if (amount <= 0) {
		rc = LEDGER_INSUFFICIENT;
		goto done;
	}
	rc = transfer_ex(w, orig->to_id, orig->from_id, amount, LEDGER_ALLOCATION, "", actor_id,
			 transfer_id, now_us, out);
	if (rc != 0)
		goto done;
	reversed_key(&k, transfer_id);
	put_be64(v, (uint64_t)(taken + amount));
	rc = store_raw_put(w, DB_LEDGER, &k, v, sizeof(v));
	if (rc == 0 && remaining)
		*remaining = left - amount;
done:
	store_record_free(orig);
	return rc;
}

int ledger_transfer_get(store_txn *txn, const char *transfer_id, ledger_transfer_rec **out)
{
	store_key k;

	*out = NULL;
	transfer_key(&k, transfer_id);
	return store_rec_get(txn, DB_LEDGER, &k,
			     &smartplus__billing__store__v1__transfer_record__descriptor,
			     (ProtobufCMessage **)out);
}

/* ------------------------------------------------------------------------
 * Credit logs
 */

static int list_add(store_list *out, void *rec)
{
	if ((out->n & (out->n - 1)) == 0) { /* 0, 1, 2, 4 ...: grow */
		out->items = xrealloc(out->items, (out->n ? 2 * out->n : 1) * sizeof(*out->items));
	}
	out->items[out->n++] = rec;
	return STORE_OK;
}

/* The filter's bytes, appended to page tokens to bind them to it. */
static void filter_bytes(const ledger_filter *f, uint8_t b[FILTER_BYTES])
{
	put_be32(b, (uint32_t)f->kind);
	put_be64(b + 4, (uint64_t)f->start_us);
	put_be64(b + 12, (uint64_t)f->end_us);
}

static char *token_make(const MDB_val *key, const ledger_filter *f)
{
	uint8_t buf[STORE_KEY_MAX + FILTER_BYTES];

	if (key->mv_size > STORE_KEY_MAX)
		return NULL;
	memcpy(buf, key->mv_data, key->mv_size);
	filter_bytes(f, buf + key->mv_size);
	return store_token_encode(buf, key->mv_size + FILTER_BYTES);
}

/* Decode a token into the log key to resume at; STORE_INVALID unless it is
 * a key of this account's log followed by this same filter. */
static int token_read(const char *tok, const store_key *prefix, const ledger_filter *f,
		      store_key *start)
{
	uint8_t fb[FILTER_BYTES];
	int rc = store_token_decode(tok, start);

	if (rc != 0)
		return rc;
	if (start->len != prefix->len + 16 + FILTER_BYTES ||
	    memcmp(start->b, prefix->b, prefix->len) != 0)
		return STORE_INVALID;
	filter_bytes(f, fb);
	if (memcmp(start->b + start->len - FILTER_BYTES, fb, FILTER_BYTES) != 0)
		return STORE_INVALID;
	start->len -= FILTER_BYTES;
	return STORE_OK;
}

/* The transfer a log entry designates; a dangling entry is corruption. */
static int log_entry_load(store_txn *txn, const MDB_val *val, ledger_transfer_rec **rec)
{
	char id[LEDGER_ID_MAX];
	int rc;

	*rec = NULL;
	if (val->mv_size == 0 || val->mv_size >= sizeof(id) ||
	    memchr(val->mv_data, 0, val->mv_size))
		return STORE_CORRUPT;
	memcpy(id, val->mv_data, val->mv_size);
	id[val->mv_size] = '\0';
	rc = ledger_transfer_get(txn, id, rec);
	return rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
}

int ledger_list_logs(store_txn *txn, const char *account, const ledger_filter *filter,
		     int page_size, const char *page_token, store_list *out)
{
	ledger_filter f = LEDGER_FILTER_INIT;
	size_t limit = page_size <= 0               ? STORE_PAGE_DEFAULT
		       : page_size > STORE_PAGE_MAX ? STORE_PAGE_MAX
						    : (size_t)page_size;
	MDB_cursor *cur = NULL;
	store_key prefix, start;
	MDB_val k, v;
	size_t bytes = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (filter)
		f = *filter;
	if (!account || (f.kind && !ledger_valid_kind(f.kind)) || f.start_us < 0 || f.end_us < 0) {
		rc = STORE_INVALID;
		goto done;
	}
	log_prefix(&prefix, account);
	rc = key_ok(&prefix);
	if (rc != 0)
		goto done;
	if (page_token && page_token[0]) {
		rc = token_read(page_token, &prefix, &f, &start);
	} else {
		start = prefix;
		if (f.end_us > 0) /* newest entry before end first */
			key_u64(&start, time_desc(f.end_us - 1));
		rc = key_ok(&start);
	}
	if (rc != 0)
		goto done;
	rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[DB_LEDGER], &cur));
	if (rc != 0)
		goto done;
	k = key_val(&start);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		ledger_transfer_rec *t = NULL;
		int64_t when;

		if (k.mv_size != prefix.len + 16 || memcmp(k.mv_data, prefix.b, prefix.len) != 0)
			break; /* past this account's log */
		when = time_from_desc(get_be64((uint8_t *)k.mv_data + prefix.len));
		if (f.start_us > 0 && when < f.start_us)
			break; /* older than the window: so is the rest */
		if (f.end_us > 0 && when >= f.end_us)
			continue;
		rc = log_entry_load(txn, &v, &t);
		if (rc != 0)
			goto done;
		if (f.kind && t->kind != f.kind) {
			store_record_free(t);
			continue;
		}
		if (out->n == limit || bytes >= STORE_PAGE_BYTES) { /* a next page */
			store_record_free(t);
			out->next_page_token = token_make(&k, &f);
			rc = out->next_page_token ? STORE_OK : STORE_IO;
			goto done;
		}
		bytes += protobuf_c_message_get_packed_size(&t->base);
		rc = list_add(out, t);
		if (rc != 0) {
			store_record_free(t);
			goto done;
		}
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? STORE_OK : store_err(rc);
done:
	if (cur)
		mdb_cursor_close(cur);
	if (rc != 0)
		store_list_free(out);
	return rc;
}
