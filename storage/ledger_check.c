/*
 * ledger_check.c - the R15 checker of the ledger (ledger_check(), see
 * store_ledger.h): replays every transfer and compares what it implies with
 * the stored balances and credit logs. Only tools/ledger_check and the tests
 * call it; it reads the tables through the key layout of ledger_int.h.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"
#include "store_int.h"
#include "store_ledger.h"
#include "xalloc.h"

/* What replaying the transfers says about one account. */
typedef struct check_acct {
	char *id;
	int64_t balance;
	uint64_t transfers;
	uint64_t last_seq;
	uint64_t log_entries;
	int has_record;
} check_acct;

typedef struct check_state {
	check_acct *slots; /* open addressing, cap a power of two */
	size_t cap, n;
	/* Reversals: per reversed ALLOCATION (by id), in a second table of the
	 * same kind whose balance is the credits taken back. */
	struct check_state *reversals;
	char *report;
	size_t report_cap;
} check_state;

static uint64_t hash_str(const char *s, size_t len)
{
	uint64_t h = UINT64_C(1469598103934665603);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * UINT64_C(1099511628211);
	return h;
}

/* The slot of id (len bytes, not necessarily NUL-terminated): found, or a
 * new zeroed one when create; NULL when not found and not create. */
static check_acct *acct_find(check_state *st, const char *id, size_t len, int create)
{
	size_t i;

	if (create && (st->n + 1) * 10 > st->cap * 7) {
		size_t ncap = st->cap ? st->cap * 2 : 64;
		check_acct *ns = xcalloc(ncap, sizeof(*ns));

		for (size_t j = 0; j < st->cap; j++) {
			check_acct *a = &st->slots[j];

			if (!a->id)
				continue;
			i = hash_str(a->id, strlen(a->id)) & (ncap - 1);
			while (ns[i].id)
				i = (i + 1) & (ncap - 1);
			ns[i] = *a;
		}
		free(st->slots);
		st->slots = ns;
		st->cap = ncap;
	}
	if (!st->cap)
		return NULL;
	i = hash_str(id, len) & (st->cap - 1);
	for (; st->slots[i].id; i = (i + 1) & (st->cap - 1)) {
		if (strlen(st->slots[i].id) == len && memcmp(st->slots[i].id, id, len) == 0)
			return &st->slots[i];
	}
	if (!create)
		return NULL;
	st->slots[i].id = xstrndup(id, len);
	st->n++;
	return &st->slots[i];
}

static int violation(check_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes the first violation into the report; returns 1. */
static int violation(check_state *st, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!st->report_cap)
		return 1;
	n = snprintf(st->report, st->report_cap, "ledger violation: ");
	if (n < 0 || (size_t)n >= st->report_cap)
		return 1;
	va_start(ap, fmt);
	vsnprintf(st->report + n, st->report_cap - (size_t)n, fmt, ap);
	va_end(ap);
	return 1;
}

/* 0 if the log entry of account for t exists and designates t, else 1. */
static int check_log_entry(store_txn *txn, check_state *st, const ledger_transfer_rec *t,
			   const char *account, int *store_rc)
{
	store_key k;
	MDB_val v;
	int rc;

	ledger_log_key(&k, account, t->create_time, t->seq);
	rc = store_raw_get(txn, DB_LEDGER, &k, &v);
	if (rc == STORE_NOTFOUND)
		return violation(st, "%s is missing from the credit log of '%s'", t->transfer_id,
				 account);
	if (rc != 0) {
		*store_rc = rc;
		return 1;
	}
	if (v.mv_size != strlen(t->transfer_id) ||
	    memcmp(v.mv_data, t->transfer_id, v.mv_size) != 0)
		return violation(st, "the credit log entry of '%s' for %s names another transfer",
				 account, t->transfer_id);
	return 0;
}

/* Replays one side of t: 0, or 1 after recording a violation. */
static int check_side(check_state *st, const ledger_transfer_rec *t, const char *account,
		      int64_t delta, int64_t recorded)
{
	check_acct *a = acct_find(st, account, strlen(account), 1); /* never NULL */

	if (__builtin_add_overflow(a->balance, delta, &a->balance))
		return violation(st, "balance of '%s' overflows at %s", account, t->transfer_id);
	if (a->balance != recorded)
		return violation(st,
				 "%s records balance %" PRId64
				 " after it for '%s', but its transfers give %" PRId64,
				 t->transfer_id, recorded, account, a->balance);
	if (a->balance < 0 && strcmp(account, LEDGER_ISSUER) != 0)
		return violation(st, "balance of '%s' is negative (%" PRId64 ") after %s", account,
				 a->balance, t->transfer_id);
	a->transfers++;
	a->last_seq = t->seq;
	return 0;
}

/* Calls fn on every entry of one key class, in key order. */
static int check_scan(store_txn *txn, check_state *st, uint8_t cls,
		      int (*fn)(store_txn *, check_state *, const MDB_val *, const MDB_val *,
				void *),
		      void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t c = cls;
	int rc;

	rc = store_err(mdb_cursor_open(txn->txn, txn->env->dbi[DB_LEDGER], &cur));
	if (rc != 0)
		goto done;
	k.mv_size = 1;
	k.mv_data = &c;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (((uint8_t *)k.mv_data)[0] != cls)
			break;
		rc = fn(txn, st, &k, &v, arg);
		if (rc != 0)
			goto done;
	}
	rc = (rc == 0 || rc == MDB_NOTFOUND) ? STORE_OK : store_err(rc);
done:
	if (cur)
		mdb_cursor_close(cur);
	return rc;
}

/* 1 if k is a class byte then one NUL-terminated id, nothing after. */
static int key_id_ok(const MDB_val *k)
{
	const char *id = (const char *)k->mv_data + 1;

	return k->mv_size >= 2 && memchr(id, 0, k->mv_size - 1) == id + k->mv_size - 2;
}

/* A correcting transfer: 0, or 1 after recording a violation (or with
 * *store_rc set). */
static int check_reversal(store_txn *txn, check_state *st, const ledger_transfer_rec *t,
			  int *store_rc)
{
	ledger_transfer_rec *o = NULL;
	check_acct *r;
	int rc = ledger_transfer_get(txn, t->reverses, &o);

	if (rc == STORE_NOTFOUND)
		return violation(st, "%s reverses '%s', which does not exist", t->transfer_id,
				 t->reverses);
	if (rc != 0) {
		*store_rc = rc;
		return 1;
	}
	if (o->seq >= t->seq || o->kind != LEDGER_ALLOCATION || t->kind != LEDGER_ALLOCATION ||
	    o->reverses[0] || strcmp(o->from_id, t->to_id) != 0 ||
	    strcmp(o->to_id, t->from_id) != 0) {
		rc = violation(st, "%s does not reverse %s (kinds, accounts or order differ)",
			       t->transfer_id, o->transfer_id);
		goto done;
	}
	r = acct_find(st->reversals, o->transfer_id, strlen(o->transfer_id), 1);
	if (!r) {
		rc = violation(st, "out of memory");
		goto done;
	}
	r->balance += t->credits;
	if (r->balance > o->credits)
		rc = violation(st, "%s takes back %" PRId64 " credits of %s, which moved %" PRId64,
			       t->transfer_id, r->balance, o->transfer_id, o->credits);
done:
	store_record_free(o);
	return rc;
}

/* An 'R' total: it matches the corrections replayed. */
static int check_reversed(store_txn *txn, check_state *st, const MDB_val *k, const MDB_val *v,
			  void *arg)
{
	const char *id = (const char *)k->mv_data + 1;
	size_t *n = arg;
	check_acct *r;

	(void)txn;
	if (!key_id_ok(k) || v->mv_size != 8)
		return violation(st, "malformed reversal total");
	r = acct_find(st->reversals, id, strlen(id), 0);
	if (!r || (int64_t)get_be64(v->mv_data) != r->balance)
		return violation(
			st, "reversal total of %s is %" PRId64 ", its corrections sum to %" PRId64,
			id, (int64_t)get_be64(v->mv_data), r ? r->balance : 0);
	(*n)++;
	return 0;
}

typedef struct transfer_pass {
	uint64_t prev_seq;
	uint64_t count;
} transfer_pass;

static int check_transfer(store_txn *txn, check_state *st, const MDB_val *k, const MDB_val *v,
			  void *arg)
{
	transfer_pass *p = arg;
	ledger_transfer_rec *t = NULL;
	const char *key_id = (const char *)k->mv_data + 1;
	char id[LEDGER_ID_MAX];
	int rc = 0, store_rc = 0;

	if (store_codec_decode(&smartplus__billing__store__v1__transfer_record__descriptor,
			       v->mv_data, v->mv_size, (ProtobufCMessage **)&t) != 0) {
		rc = violation(st, "undecodable transfer record #%" PRIu64, p->count + 1);
		goto done;
	}
	ledger_format_id(id, t->seq);
	if (!key_id_ok(k) || strcmp(key_id, t->transfer_id) != 0 ||
	    strcmp(id, t->transfer_id) != 0) {
		rc = violation(
			st, "transfer '%s' is stored under the wrong key or id (seq %" PRIu64 ")",
			t->transfer_id, t->seq);
		goto done;
	}
	if (t->seq <= p->prev_seq) {
		rc = violation(st, "%s is out of order", t->transfer_id);
		goto done;
	}
	if (t->credits <= 0 || !ledger_valid_kind(t->kind) || !t->from_id[0] || !t->to_id[0] ||
	    strcmp(t->from_id, t->to_id) == 0) {
		rc = violation(st, "%s is malformed (credits %" PRId64 ", kind %d, '%s' -> '%s')",
			       t->transfer_id, t->credits, t->kind, t->from_id, t->to_id);
		goto done;
	}
	if (t->reverses[0] && (rc = check_reversal(txn, st, t, &store_rc)) != 0) {
		if (store_rc != 0)
			rc = store_rc;
		goto done;
	}
	p->prev_seq = t->seq;
	p->count++;
	rc = check_side(st, t, t->from_id, -t->credits, t->from_balance_after);
	if (rc == 0)
		rc = check_side(st, t, t->to_id, t->credits, t->to_balance_after);
	if (rc == 0)
		rc = check_log_entry(txn, st, t, t->from_id, &store_rc);
	if (rc == 0)
		rc = check_log_entry(txn, st, t, t->to_id, &store_rc);
	if (store_rc != 0)
		rc = store_rc;
done:
	store_record_free(t);
	return rc;
}

/* A GCC/clang extension (not ISO C): __extension__ says so to -pedantic. */
__extension__ typedef __int128 wide_sum;

typedef struct balance_pass {
	wide_sum sum; /* wide: partial sums of int64 balances may overflow */
	uint64_t count;
} balance_pass;

static int check_balance(store_txn *txn, check_state *st, const MDB_val *k, const MDB_val *v,
			 void *arg)
{
	balance_pass *p = arg;
	ledger_balance_rec *b = NULL;
	const char *key_id = (const char *)k->mv_data + 1;
	check_acct *a;
	int rc = 0;

	if (store_codec_decode(&smartplus__billing__store__v1__balance_record__descriptor,
			       v->mv_data, v->mv_size, (ProtobufCMessage **)&b) != 0) {
		rc = violation(st, "undecodable balance record #%" PRIu64, p->count + 1);
		goto done;
	}
	if (!key_id_ok(k) || strcmp(key_id, b->account_id) != 0) {
		rc = violation(st, "balance of '%s' is stored under the wrong key", b->account_id);
		goto done;
	}
	p->count++;
	a = acct_find(st, b->account_id, strlen(b->account_id), 0);
	if (!a) {
		rc = violation(st, "'%s' has a balance record (%" PRId64 ") but no transfers",
			       b->account_id, b->credits);
		goto done;
	}
	a->has_record = 1;
	if (b->credits != a->balance) {
		rc = violation(st,
			       "balance of '%s' is %" PRId64 " but its transfers sum to %" PRId64,
			       b->account_id, b->credits, a->balance);
		goto done;
	}
	if (b->credits < 0 && strcmp(b->account_id, LEDGER_ISSUER) != 0) {
		rc = violation(st, "balance of '%s' is negative (%" PRId64 ")", b->account_id,
			       b->credits);
		goto done;
	}
	if (b->transfers != a->transfers || b->last_seq != a->last_seq) {
		rc = violation(st,
			       "balance record of '%s' counts %" PRIu64
			       " transfers up to seq %" PRIu64 "; the ledger has %" PRIu64
			       " up to %" PRIu64,
			       b->account_id, b->transfers, b->last_seq, a->transfers, a->last_seq);
		goto done;
	}
	p->sum += b->credits;
done:
	store_record_free(b);
	return rc;
}

static int check_log(store_txn *txn, check_state *st, const MDB_val *k, const MDB_val *v, void *arg)
{
	const char *acct = (const char *)k->mv_data + 1;
	const char *nul = memchr(acct, 0, k->mv_size - 1);
	check_acct *a;

	if (!nul || k->mv_size != (size_t)(nul - acct) + 2 + 16)
		return violation(st, "malformed credit log key");
	a = acct_find(st, acct, (size_t)(nul - acct), 0);
	if (!a)
		return violation(st, "'%s' has credit log entries but no transfers", acct);
	a->log_entries++;
	return 0;
}

int ledger_check(store_txn *txn, char *report, size_t cap)
{
	check_state rev = {0};
	check_state st = {.report = report, .report_cap = cap, .reversals = &rev};
	transfer_pass tp = {0, 0};
	balance_pass bp = {0, 0};
	size_t n_reversed = 0;
	uint64_t counter;
	int rc;

	if (cap)
		report[0] = '\0';
	rc = check_scan(txn, &st, LEDGER_KC_TRANSFER, check_transfer, &tp);
	if (rc == 0)
		rc = check_scan(txn, &st, LEDGER_KC_BALANCE, check_balance, &bp);
	if (rc == 0)
		rc = check_scan(txn, &st, LEDGER_KC_LOG, check_log, NULL);
	if (rc == 0)
		rc = check_scan(txn, &st, LEDGER_KC_REVERSED, check_reversed, &n_reversed);
	if (rc != 0)
		goto done;
	if (n_reversed != rev.n) {
		rc = violation(&st, "%zu allocations were taken back but %zu reversal totals exist",
			       rev.n, n_reversed);
		goto done;
	}
	for (size_t i = 0; i < st.cap; i++) {
		check_acct *a = &st.slots[i];

		if (!a->id)
			continue;
		if (!a->has_record) {
			rc = violation(&st, "'%s' has transfers but no balance record", a->id);
			goto done;
		}
		if (a->log_entries != a->transfers) {
			rc = violation(&st,
				       "the credit log of '%s' has %" PRIu64 " entries for %" PRIu64
				       " transfers",
				       a->id, a->log_entries, a->transfers);
			goto done;
		}
	}
	if (bp.sum != 0) {
		rc = violation(&st, "balances do not sum to 0 (%s%" PRIu64 ")",
			       bp.sum < 0 ? "-" : "", (uint64_t)(bp.sum < 0 ? -bp.sum : bp.sum));
		goto done;
	}
	rc = store_meta_get(txn, LEDGER_SEQ_COUNTER, &counter);
	if (rc != 0)
		goto done;
	if (counter < tp.prev_seq) {
		rc = violation(&st,
			       "transfer counter %" PRIu64 " is behind the last transfer %" PRIu64,
			       counter, tp.prev_seq);
		goto done;
	}
	if (cap)
		snprintf(report, cap,
			 "ledger ok: %" PRIu64 " transfers, %" PRIu64 " accounts, sum 0", tp.count,
			 bp.count);
done:
	if (rc < 0 && cap)
		snprintf(report, cap, "ledger check failed: %s", store_strerror(rc));
	for (size_t i = 0; i < st.cap; i++)
		free(st.slots[i].id);
	free(st.slots);
	for (size_t i = 0; i < rev.cap; i++)
		free(rev.slots[i].id);
	free(rev.slots);
	return rc;
}
