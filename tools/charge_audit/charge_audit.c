/*
 * charge_audit - compare the money a payment provider took with the orders
 * of a stopped billingd data directory (issue 13).
 *
 *   charge_audit <data-dir> <ledger>
 *
 * <ledger> is the provider's record of money moved: the fake's GET /_ledger
 * answer ({"captures": [{provider, capture_id, payment_id, order_id, key,
 * amount, currency, refunded, disputed}], "refunds": [...]}), as a file or
 * an http:// URL on loopback. Checks:
 *   1. every order has at most one capture that was not refunded;
 *   2. every capture not refunded in full belongs to exactly one order,
 *      SUCCEEDED, with the same amount and currency;
 *   3. every SUCCEEDED order paid through a provider (STRIPE, PAYPAL; not
 *      sandbox; total > 0) has its capture (refunded or not);
 *   4. refunds (issue 17): every refund made under a credit note's number
 *      (its idempotency key) matches that note (SUCCEEDED, the same
 *      amount), and every SUCCEEDED credit note that gave money back at a
 *      provider has exactly that one refund.
 * A capture on an order that did not succeed but is flagged needs_refund
 * (the store knows the money is owed back) is no violation of 2: it is
 * counted ("owed back, flagged needs_refund") and listed, so an operator's
 * refund is visible; one on an unflagged order is money kept silently.
 * Prints the figures on one line ("charge audit ok: ..." or "charge audit
 * FAILED: ..."), then up to 20 violations, one a line. Exits 0 when all
 * hold, 1 on a violation, 2 on usage or storage errors. Open only a
 * directory no billingd is serving (one read transaction over all orders).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "store_invoice.h"
#include "store_order.h"
#include "store_order_scan.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "store.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define PAYPAL V1(PAYMENT_METHOD__PAYMENT_METHOD_PAYPAL)
#define MAX_SHOWN 20

typedef struct order_row {
	char *id;
	int status;
	int method;
	int sandbox;
	int64_t total;
	char currency[4];
	int captures; /* captures not refunded in full */
	int captures_all;
	int needs_refund;
	int64_t refunded;    /* given back of its captures, at the provider */
	int64_t notes_total; /* refunded by its SUCCEEDED credit notes */
} order_row;

static order_row *rows;
static size_t n_rows, cap_rows;
static int shown;
static char shown_lines[MAX_SHOWN][200];

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	va_list ap;
	if (shown >= MAX_SHOWN) {
		shown++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(shown_lines[shown++], sizeof(shown_lines[0]), fmt, ap);
	va_end(ap);
}

static void quiet_log(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const order_row *)a)->id, ((const order_row *)b)->id);
}

static order_row *find(const char *id)
{
	order_row key = {.id = (char *)id};
	return id ? bsearch(&key, rows, n_rows, sizeof(*rows), cmp_row) : NULL;
}

static int load_orders(store_txn *txn)
{
	char *token = NULL;
	int rc;
	do {
		store_list l = {0};
		rc = store_order_scan(txn, 1000, token, &l);
		free(token);
		token = NULL;
		if (rc != 0)
			return rc;
		for (size_t i = 0; i < l.n; i++) {
			store_order *o = l.items[i];
			order_row *r;
			if (n_rows == cap_rows) {
				cap_rows = cap_rows ? cap_rows * 2 : 1024;
				rows = realloc(rows, cap_rows * sizeof(*rows));
				if (!rows)
					return STORE_IO;
			}
			r = &rows[n_rows++];
			memset(r, 0, sizeof(*r));
			r->id = strdup(o->order_id);
			r->status = o->status;
			r->method = o->payment_method;
			r->sandbox = o->sandbox;
			r->needs_refund = o->needs_refund;
			r->total = o->total;
			snprintf(r->currency, sizeof(r->currency), "%s",
				 o->currency ? o->currency : "");
		}
		token = l.next_page_token ? strdup(l.next_page_token) : NULL;
		store_list_free(&l);
	} while (token);
	qsort(rows, n_rows, sizeof(*rows), cmp_row);
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	char **buf = arg;
	size_t old = *buf ? strlen(*buf) : 0, add = size * n;
	char *nb = realloc(*buf, old + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + old, p, add);
	nb[old + add] = 0;
	*buf = nb;
	return add;
}

static json_t *load_ledger(const char *where)
{
	json_error_t err;
	json_t *j;
	char *body = NULL;
	CURL *c;
	if (strncmp(where, "http://", 7) != 0) {
		j = json_load_file(where, 0, &err);
		if (!j)
			fprintf(stderr, "charge_audit: %s: %s\n", where, err.text);
		return j;
	}
	if (strncmp(where, "http://127.", 11) != 0 && strncmp(where, "http://localhost", 16) != 0) {
		fprintf(stderr, "charge_audit: only loopback URLs are fetched\n");
		return NULL;
	}
	c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, where);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	j = curl_easy_perform(c) == CURLE_OK && body ? json_loads(body, 0, &err) : NULL;
	if (!j)
		fprintf(stderr, "charge_audit: cannot read %s\n", where);
	curl_easy_cleanup(c);
	free(body);
	return j;
}

/* What the SUCCEEDED money credit notes of order_id refunded. */
static int64_t notes_total(store_txn *txn, const char *order_id)
{
	store_list l = {0};
	int64_t sum = 0;

	if (store_credit_note_list_by_order(txn, order_id, &l) != 0)
		return -1;
	for (size_t k = 0; k < l.n; k++) {
		const store_credit_note *cn = l.items[k];
		if (cn->status == STORE_CREDIT_NOTE_SUCCEEDED && !cn->in_credits)
			sum += cn->total;
	}
	store_list_free(&l);
	return sum;
}

/* The provider refunds made under `key`: how many, and their sum. */
static long refunds_under(json_t *list, const char *key, json_int_t *sum)
{
	json_t *e;
	size_t i;
	long n = 0;

	*sum = 0;
	json_array_foreach(list, i, e)
	{
		const char *k = json_string_value(json_object_get(e, "key"));
		if (k && strcmp(k, key) == 0) {
			n++;
			*sum += json_integer_value(json_object_get(e, "amount"));
		}
	}
	return n;
}

/*
 * Check 4. Every provider refund made under a credit note's number (its
 * idempotency key) is that note's, SUCCEEDED, for its amount; and every
 * SUCCEEDED credit note that gave money back at a provider has exactly one
 * such refund. (A duplicate charge refunded in full is no credit note's:
 * checks 1-3 judge it.)
 */
static int refunds_check(store_txn *txn, json_t *list, long *n, long *bad)
{
	store_doc_filter f = {.ancestor_id = "vendor"};
	char *token = NULL;
	json_t *e;
	size_t i;
	int rc;

	*n = (long)json_array_size(list);
	*bad = 0;
	json_array_foreach(list, i, e)
	{
		const char *key = json_string_value(json_object_get(e, "key"));
		store_credit_note *cn = NULL;
		json_int_t sum;

		if (!key || store_credit_note_get(txn, key, &cn) != 0)
			continue; /* not keyed by one of our notes */
		if (cn->status != STORE_CREDIT_NOTE_SUCCEEDED ||
		    refunds_under(list, key, &sum) != 1 || sum != cn->total) {
			(*bad)++;
			violation(
				"refunds under %s: %lld given back; the credit note is %s of %lld",
				key, (long long)sum,
				cn->status == STORE_CREDIT_NOTE_SUCCEEDED ? "SUCCEEDED"
									  : "not SUCCEEDED",
				(long long)cn->total);
		}
		store_record_free(cn);
	}
	do { /* every credit note, by the subtree of the issuer (all payers) */
		store_list l = {0};
		rc = store_credit_note_list(txn, &f, STORE_PAGE_MAX, token, &l);
		free(token);
		token = NULL;
		if (rc != 0)
			return -1;
		for (size_t k = 0; k < l.n; k++) {
			store_credit_note *cn = l.items[k];
			json_int_t sum;
			if (cn->status != STORE_CREDIT_NOTE_SUCCEEDED || cn->sandbox ||
			    cn->in_credits || cn->total <= 0 ||
			    (cn->payment_method != STRIPE && cn->payment_method != PAYPAL))
				continue;
			if (refunds_under(list, cn->number, &sum) != 1 || sum != cn->total) {
				(*bad)++;
				violation(
					"credit note %s refunded %lld; the provider gave back %lld",
					cn->number, (long long)cn->total, (long long)sum);
			}
		}
		token = l.next_page_token ? strdup(l.next_page_token) : NULL;
		store_list_free(&l);
	} while (token);
	return 0;
}

static int money_order(const order_row *r)
{
	return (r->method == STRIPE || r->method == PAYPAL) && !r->sandbox && r->total > 0;
}

int main(int argc, char **argv)
{
	store_options opts = STORE_OPTIONS_INIT;
	store_env *env = NULL;
	store_txn *txn = NULL;
	json_t *ledger = NULL, *c;
	char err[256];
	size_t i;
	int rc, status = 2;
	long captures = 0, refunded = 0, disputed = 0, orphans = 0, mismatches = 0, multi = 0;
	long missing = 0, money = 0, succeeded_money = 0, refunds = 0, refund_bad = 0, owed = 0;
	int max_per_order = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: charge_audit <data-dir> <ledger.json | "
				"http://127.0.0.1:N/_ledger>\n");
		return 2;
	}
	snprintf(err, sizeof(err), "%s/data.mdb", argv[1]);
	if (access(err, R_OK) != 0) {
		fprintf(stderr, "charge_audit: %s is not a billingd data directory\n", argv[1]);
		return 2;
	}
	ledger = load_ledger(argv[2]);
	if (!ledger || !json_is_array(json_object_get(ledger, "captures"))) {
		fprintf(stderr, "charge_audit: %s has no captures list\n", argv[2]);
		goto done;
	}
	opts.path = argv[1];
	opts.log = quiet_log;
	rc = store_open(&opts, &env, err, sizeof(err));
	if (rc == 0)
		rc = store_read_begin(env, &txn);
	if (rc == 0)
		rc = load_orders(txn);
	if (rc != 0) {
		fprintf(stderr, "charge_audit: %s: %s\n", argv[1], store_strerror(rc));
		goto done;
	}

	/* 2: each capture against its order. */
	json_array_foreach(json_object_get(ledger, "captures"), i, c)
	{
		const char *oid = json_string_value(json_object_get(c, "order_id"));
		const char *cid = json_string_value(json_object_get(c, "capture_id"));
		const char *cur = json_string_value(json_object_get(c, "currency"));
		json_int_t amount = json_integer_value(json_object_get(c, "amount"));
		json_int_t back = json_integer_value(json_object_get(c, "refunded"));
		order_row *r = find(oid);
		captures++;
		disputed += json_is_true(json_object_get(c, "disputed"));
		if (r)
			r->captures_all++;
		if (back >= amount) {
			refunded++;
			continue; /* given back in full: belongs to no order's money */
		}
		if (!r) {
			orphans++;
			violation("capture %s of %lld %s names no order (order id '%s')",
				  cid ? cid : "?", (long long)amount, cur ? cur : "",
				  oid ? oid : "");
			continue;
		}
		r->captures++;
		if (r->status != SUCCEEDED && r->needs_refund) {
			owed++;
			violation("capture %s: order %s is not SUCCEEDED (status %d), flagged "
				  "needs_refund: owed back",
				  cid ? cid : "?", r->id, r->status);
		} else if (r->status != SUCCEEDED) {
			orphans++;
			violation("capture %s: order %s is not SUCCEEDED (status %d)",
				  cid ? cid : "?", r->id, r->status);
		} else if (amount != r->total || !cur || strcmp(cur, r->currency) != 0) {
			mismatches++;
			violation("capture %s: order %s captured %lld %s, the order is %lld %s",
				  cid ? cid : "?", r->id, (long long)amount, cur ? cur : "",
				  (long long)r->total, r->currency);
		}
	}
	/* 1 and 3: per order. */
	for (i = 0; i < n_rows; i++) {
		order_row *r = &rows[i];
		if (r->captures_all > max_per_order)
			max_per_order = r->captures_all;
		if (r->captures > 1) {
			multi++;
			violation("order %s has %d captures not refunded", r->id, r->captures);
		}
		if (!money_order(r))
			continue;
		money++;
		if (r->status != SUCCEEDED)
			continue;
		succeeded_money++;
		/* a capture refunded in full counts only when credit notes gave it back */
		if (r->captures == 0 &&
		    (r->captures_all == 0 || notes_total(txn, r->id) < r->total)) {
			missing++;
			violation("order %s SUCCEEDED without a capture (total %lld %s)", r->id,
				  (long long)r->total, r->currency);
		}
	}
	/* 4: refunds against credit notes. */
	if (refunds_check(txn, json_object_get(ledger, "refunds"), &refunds, &refund_bad) != 0) {
		fprintf(stderr, "charge_audit: %s: cannot read the credit notes\n", argv[1]);
		goto done;
	}
	status = multi || orphans || mismatches || missing || refund_bad ? 1 : 0;
	printf("charge audit %s: orders %zu, money orders %ld, SUCCEEDED money orders %ld; "
	       "captures %ld (refunded in full %ld, disputed %ld); captures per order max %d; "
	       "orders with more than one capture %ld; captures without a SUCCEEDED order %ld; "
	       "amount mismatches %ld; SUCCEEDED without capture %ld; refunds %ld, not matching "
	       "their credit notes %ld; owed back, flagged needs_refund %ld\n",
	       status ? "FAILED" : "ok", n_rows, money, succeeded_money, captures, refunded,
	       disputed, max_per_order, multi, orphans, mismatches, missing, refunds, refund_bad,
	       owed);
	for (int k = 0; k < shown && k < MAX_SHOWN; k++)
		printf("  %s\n", shown_lines[k]);
	if (shown > MAX_SHOWN)
		printf("  ... %d more\n", shown - MAX_SHOWN);
done:
	store_read_end(txn);
	store_close(env);
	json_decref(ledger);
	for (i = 0; i < n_rows; i++)
		free(rows[i].id);
	free(rows);
	return status;
}
