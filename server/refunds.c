/*
 * refunds.c: InvoiceService RefundOrder, GetCreditNote, ListCreditNotes,
 * the refund workers and the refund reconciler. See refunds.h for the
 * phases.
 *
 * What may be refunded is decided inside the writer's transaction, from
 * the invoice's bookkeeping (refunded so far, per line and in total, by
 * PENDING and SUCCEEDED notes), so two refunds racing for one order can
 * never together exceed what was captured: the second sees the first's
 * reservation. A FAILED note gives its reservation back.
 *
 * One provider conversation per credit note at a time (a claim, held from
 * before the call until the answer is durable), as for orders: a worker
 * and the reconciler never ask about the same note at once.
 */
#include "refunds.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "store_fault.h"
#include "store_invoice.h"
#include "events.h"
#include "invoices.h"
#include "items.h"
#include "store_ledger.h"
#include "log.h"
#include "store_order.h"
#include "pricing.h"
#include "enums.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "tax.h"
#include "write.h"
#include "xalloc.h"

#define CN_STATUS(x) V1(CREDIT_NOTE_STATUS__CREDIT_NOTE_STATUS_##x) /* CreditNoteStatus */
#define LIST_PAGE_DEFAULT 50
#define MAX_ITEMS 1000
#define NOTE_REASON_MAX 255
#define REFUND_WORKERS 2
#define RECON_BATCH 200

/* ------------------------------------------------------------------------ */
/* Effects                                                                   */

/* A REFUND transfer and its credits.refunded event (issue 15), in one
 * write: 0, LEDGER_* or STORE_*. */
static int refund_transfer(store_txn *w, const char *from, const char *to, int64_t credits,
			   const char *order_id, const char *actor, int64_t now, ledger_result *lr)
{
	int rc = ledger_transfer(w, from, to, credits, LEDGER_REFUND, order_id, actor, now, lr);
	return rc == 0 ? events_credits(w, lr, from, to, credits, LEDGER_REFUND, order_id, actor,
					NULL)
		       : rc;
}

static int32_t year_of(int64_t t_us)
{
	time_t s = (time_t)(t_us / 1000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	return (int32_t)tm.tm_year + 1900;
}

/* The item of a refunded line gives back its days: expiry - days, never
 * below now (an item already expired keeps its expiry), and it stops
 * renewing automatically (the buyer gave the service back). */
static int shorten_item(store_txn *w, store_credit_note_line *l, int64_t now)
{
	store_item *it = NULL;
	int64_t floor, after;
	int rc = store_item_get(w, l->item_id, &it);

	if (rc == STORE_NOTFOUND) /* deleted since: nothing to shorten */
		return 0;
	if (rc != 0)
		return rc;
	l->expiry_before = it->expires_at;
	floor = it->expires_at < now ? it->expires_at : now;
	after = it->expires_at - (int64_t)l->refunded_days * PRICING_DAY_US;
	if (after < floor)
		after = floor;
	l->expiry_after = after;
	it->expires_at = after;
	if (it->auto_renew)
		it->auto_renew->enabled = 0;
	rc = store_item_put(w, it, 0);
	store_record_free(it);
	return rc;
}

static int succeed(store_txn *w, store_credit_note *cn, int64_t now)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < cn->n_lines; i++)
		if (cn->lines[i]->refunded_days > 0 && cn->lines[i]->item_id[0])
			rc = shorten_item(w, cn->lines[i], now);
	cn->status = CN_STATUS(SUCCEEDED);
	cn->settle_time = now;
	return rc;
}

/* A FAILED refund: the invoice's reservation goes back, and the credits a
 * credit purchase's refund took are returned. */
static int release(store_txn *w, store_credit_note *cn, const char *why, int64_t now)
{
	store_invoice *inv = NULL;
	ledger_result lr;
	int rc = store_invoice_get(w, cn->invoice_number, &inv);

	if (rc != 0)
		return rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
	for (size_t i = 0; i < cn->n_lines; i++) {
		const store_credit_note_line *l = cn->lines[i];
		store_invoice_line *il;
		if (l->invoice_line < 0 || (size_t)l->invoice_line >= inv->n_lines) {
			rc = STORE_CORRUPT;
			goto done;
		}
		il = inv->lines[l->invoice_line];
		il->refunded -= l->total;
		il->tax_refunded -= l->tax_amount;
		if (l->refunded_days > 0)
			il->line_refunded = 0;
	}
	inv->refunded_total -= cn->total;
	if (inv->order_type == OTYPE(CREDIT_PURCHASE) && cn->credits > 0) {
		inv->credits_refunded -= cn->credits;
		rc = refund_transfer(w, LEDGER_ISSUER, inv->beneficiary_id, cn->credits,
				     cn->order_id, cn->actor_id, now, &lr);
		if (rc == 0)
			store_str_set(&cn->return_transfer_id, lr.transfer_id);
		if (rc != 0)
			goto done;
	}
	rc = store_invoice_put(w, inv, 0);
	cn->status = CN_STATUS(FAILED);
	cn->settle_time = now;
	if (rc == 0)
		store_str_set(&cn->failure_reason, why && why[0] ? why : "refund failed");
done:
	store_record_free(inv);
	return rc;
}

int refunds_settle_answer(store_txn *w, const char *number, const refund_result *res, int64_t now,
			  int *outcome)
{
	store_credit_note *cn = NULL;
	int rc = store_credit_note_get(w, number, &cn);

	if (outcome)
		*outcome = 0;
	if (rc != 0)
		return rc;
	if (cn->status != STORE_CREDIT_NOTE_PENDING)
		goto done; /* settled before: a duplicate or late answer */
	cn->attempts++;
	if (res->refund_id[0])
		store_str_set(cn->payment_method == METHOD(PAYPAL) ? &cn->paypal_refund_id
								   : &cn->stripe_refund_id,
			      res->refund_id);
	if (res->capture_id[0] && !cn->paypal_capture_id[0])
		store_str_set(&cn->paypal_capture_id, res->capture_id);
	if (res->status == REFUND_SUCCEEDED)
		rc = succeed(w, cn, now);
	else if (res->status == REFUND_FAILED)
		rc = release(w, cn, res->failure, now);
	if (rc == 0)
		rc = store_credit_note_put(w, cn, 0);
	if (rc == 0 && outcome && (res->status == REFUND_SUCCEEDED || res->status == REFUND_FAILED))
		*outcome = res->status;
done:
	store_record_free(cn);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* One provider conversation per credit note                                 */

typedef struct claim {
	struct claim *next;
	char id[STORE_DOC_NUMBER_MAX];
} claim;
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;
static claim *claims;

static int refund_claim(const char *number)
{
	claim *c;
	pthread_mutex_lock(&claim_lock);
	for (c = claims; c; c = c->next)
		if (strcmp(c->id, number) == 0) {
			pthread_mutex_unlock(&claim_lock);
			return 0;
		}
	c = xmalloc(sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", number);
	c->next = claims;
	claims = c;
	pthread_mutex_unlock(&claim_lock);
	return 1;
}

static void refund_release(const char *number)
{
	pthread_mutex_lock(&claim_lock);
	for (claim **p = &claims; *p; p = &(*p)->next)
		if (strcmp((*p)->id, number) == 0) {
			claim *c = *p;
			*p = c->next;
			free(c);
			break;
		}
	pthread_mutex_unlock(&claim_lock);
}

static int still_pending(const char *number)
{
	store_credit_note *cn = NULL;
	store_txn *txn;
	int pending = 1; /* cannot tell: phase 3 decides */

	if (store_read_begin(billingd.store, &txn) != 0)
		return 1;
	if (store_credit_note_get(txn, number, &cn) == 0)
		pending = cn->status == STORE_CREDIT_NOTE_PENDING;
	store_record_free(cn);
	store_read_end(txn);
	return pending;
}

static void request_of(const store_credit_note *cn, refund_request *req)
{
	memset(req, 0, sizeof(*req));
	req->key = cn->number;
	req->order_id = cn->order_id;
	req->method = cn->payment_method;
	req->amount = cn->total;
	req->currency = cn->currency;
	req->reason = cn->reason;
	req->stripe_payment_intent_id = cn->stripe_payment_intent_id;
	req->paypal_order_id = cn->paypal_order_id;
	req->paypal_capture_id = cn->paypal_capture_id;
	req->refund_id = cn->payment_method == METHOD(PAYPAL) ? cn->paypal_refund_id
							      : cn->stripe_refund_id;
	req->key_age_us = clock_now_us() - cn->create_time;
	req->sandbox = cn->sandbox;
}

/* Phase 2 for one note: the provider's answer (UNAVAILABLE without a call
 * when the note is claimed elsewhere or settled meanwhile). Returns 1 when
 * it took the claim (release it once the answer is recorded). */
static int ask_provider(const store_credit_note *cn, refund_result *res)
{
	refund_request req;
	int claimed = refund_claim(cn->number);

	memset(res, 0, sizeof(*res));
	if (!claimed || !still_pending(cn->number)) {
		res->status = REFUND_UNAVAILABLE;
		return claimed;
	}
	request_of(cn, &req);
	refund_call(&req, res);
	if (res->status == REFUND_UNAVAILABLE || res->status == REFUND_FAILED)
		log_warn("refund %s of order %s: %s (%s)", cn->number, cn->order_id,
			 res->status == REFUND_FAILED ? "failed" : "no answer", res->failure);
	FAULT_POINT("refunds.after_provider"); /* crash tests: answer lost */
	return claimed;
}

/* ------------------------------------------------------------------------ */
/* RefundOrder, phase 1                                                      */

typedef struct refund_write {
	rpc_write w;
	char order_id[64];
	char **item_ids; /* into the request, valid until the call is finished */
	size_t n_items;
	int64_t amount;
	const char *reason;
	char actor[65];
	int need_provider;
	uint8_t *packed; /* the credit note (CreditNoteRecord) for the answer */
	size_t packed_len;
} refund_write;

static int pack_note(const store_credit_note *cn, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(&cn->base);
	uint8_t *p = xmalloc(n);

	protobuf_c_message_pack(&cn->base, p);
	free(*buf);
	*buf = p;
	*len = n;
	return 0;
}

/* What is asked for, line by line: total[i] of invoice line i, and whether
 * the line itself is refunded (its days given back). */
typedef struct plan {
	int64_t *total;
	int *whole;
	int64_t sum;
} plan;

static int plan_refund(refund_write *r, const store_invoice *inv, plan *p)
{
	rpc_write *w = &r->w;
	size_t n = inv->n_lines;
	int64_t left = inv->total - inv->refunded_total;
	int credit_purchase = inv->order_type == OTYPE(CREDIT_PURCHASE);

	p->total = xcalloc(n + 1, sizeof(*p->total));
	p->whole = xcalloc(n + 1, sizeof(*p->whole));
	if (r->n_items > 0) {
		if (credit_purchase)
			return write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
					  "item_ids: order %s bought credits; refund an amount",
					  r->order_id);
		for (size_t k = 0; k < r->n_items; k++) {
			size_t i = 0;
			while (i < n && strcmp(inv->lines[i]->item_id, r->item_ids[k]) != 0)
				i++;
			if (i == n)
				return write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
						  "item_ids: '%s' is not a line of order %s",
						  r->item_ids[k], r->order_id);
			if (inv->lines[i]->line_refunded)
				return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION,
						  REASON_REFUND_EXCEEDS_CAPTURED,
						  "item_ids: the line of '%s' was refunded before",
						  r->item_ids[k]);
			p->whole[i] = 1;
			p->total[i] = inv->lines[i]->total - inv->lines[i]->refunded;
		}
	} else if (r->amount > 0) {
		int64_t *remaining = xcalloc(n + 1, sizeof(*remaining));
		int rc;
		if (r->amount > left) {
			free(remaining);
			return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION,
					  REASON_REFUND_EXCEEDS_CAPTURED,
					  "amount: %" PRId64 " is more than the %" PRId64
					  " captured and not refunded yet on order %s",
					  r->amount, left, r->order_id);
		}
		for (size_t i = 0; i < n; i++)
			remaining[i] = inv->lines[i]->total - inv->lines[i]->refunded;
		rc = tax_spread(remaining, n, r->amount, p->total);
		free(remaining);
		if (rc != 0)
			return STORE_CORRUPT; /* the bookkeeping no longer sums */
	} else {
		int any = 0;
		for (size_t i = 0; i < n; i++) {
			p->total[i] = inv->lines[i]->total - inv->lines[i]->refunded;
			p->whole[i] = !credit_purchase && !inv->lines[i]->line_refunded;
			any |= p->total[i] > 0 || p->whole[i];
		}
		if (!any)
			return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION,
					  REASON_REFUND_EXCEEDS_CAPTURED,
					  "order %s was refunded in full already", r->order_id);
	}
	for (size_t i = 0; i < n; i++)
		p->sum += p->total[i];
	if (p->sum > left) /* cannot happen while the bookkeeping holds */
		return STORE_CORRUPT;
	return 0;
}

/* Everything the new note's strings and arrays point to while it is put. */
typedef struct note_build {
	store_credit_note cn;
	store_credit_note_line *lines;
	store_credit_note_line **plines;
	store_tax_line tl, *ptl[1];
	char number[STORE_DOC_NUMBER_MAX];
	char **ancestors;
	size_t n_ancestors;
	char transfer_id[LEDGER_ID_MAX];
} note_build;

static void note_build_free(note_build *b)
{
	for (size_t i = 0; i < b->n_ancestors; i++)
		free(b->ancestors[i]);
	free(b->ancestors);
	free(b->lines);
	free(b->plines);
}

/* The credit note's lines and totals from the plan. */
static int note_lines(note_build *b, const store_invoice *inv, const plan *p)
{
	store_credit_note *cn = &b->cn;
	size_t n = inv->n_lines;

	b->lines = xcalloc(n + 1, sizeof(*b->lines));
	b->plines = xcalloc(n + 1, sizeof(*b->plines));
	for (size_t i = 0; i < n; i++) {
		const store_invoice_line *il = inv->lines[i];
		store_credit_note_line *l;
		int64_t tax;

		if (p->total[i] == 0 && !p->whole[i])
			continue;
		l = &b->lines[cn->n_lines];
		smartplus__billing__store__v1__credit_note_line_record__init(l);
		l->invoice_line = (int32_t)i;
		l->description = il->description;
		l->item_id = il->item_id;
		l->refunded_days = p->whole[i] ? il->days : 0;
		l->tax_rate_bp = il->tax_rate_bp;
		/* The rest of a line takes the rest of its tax exactly; a part of
		 * it takes its share, rounded half-up. */
		if (p->total[i] == il->total - il->refunded)
			tax = il->tax_amount - il->tax_refunded;
		else if (il->total <= 0 ||
			 tax_scale(p->total[i], il->tax_amount, il->total, 0, &tax))
			tax = 0;
		l->total = p->total[i];
		l->tax_amount = tax;
		l->net_amount = l->total - tax;
		cn->net_total += l->net_amount;
		cn->tax_total += tax;
		cn->total += l->total;
		b->plines[cn->n_lines++] = l;
	}
	cn->lines = b->plines;
	if (inv->n_tax_lines > 0) {
		b->tl = *inv->tax_lines[0];
		b->tl.net_amount = cn->net_total;
		b->tl.tax_amount = cn->tax_total;
		b->ptl[0] = &b->tl;
		cn->tax_lines = b->ptl;
		cn->n_tax_lines = 1;
	}
	return 0;
}

/* The invoice's reservation for the new note. */
static int reserve(store_invoice *inv, const note_build *b)
{
	char **notes;

	for (size_t i = 0; i < b->cn.n_lines; i++) {
		const store_credit_note_line *l = b->cn.lines[i];
		store_invoice_line *il = inv->lines[l->invoice_line];
		il->refunded += l->total;
		il->tax_refunded += l->tax_amount;
		if (l->refunded_days > 0)
			il->line_refunded = 1;
	}
	inv->refunded_total += b->cn.total;
	inv->credits_refunded += inv->order_type == OTYPE(CREDIT_PURCHASE) ? b->cn.credits : 0;
	notes = xrealloc(inv->credit_notes, (inv->n_credit_notes + 1) * sizeof(*notes));
	inv->credit_notes = notes;
	notes[inv->n_credit_notes++] = xstrdup(b->number);
	return 0;
}

/* The ledger side: credits back to the payer of an order paid with them,
 * or taken back from the beneficiary of a credit purchase. */
static int move_credits(refund_write *r, store_txn *txn, const store_invoice *inv, note_build *b,
			int64_t now)
{
	store_credit_note *cn = &b->cn;
	ledger_result lr;
	int64_t back, balance = 0;
	int rc;

	if (inv->in_credits) {
		if (cn->total == 0)
			return 0;
		cn->credits = cn->total;
		rc = refund_transfer(txn, LEDGER_ISSUER, inv->payer_id, cn->total, inv->order_id,
				     r->actor, now, &lr);
	} else if (inv->order_type == OTYPE(CREDIT_PURCHASE) && inv->credits_quantity > 0) {
		int64_t left = inv->credits_quantity - inv->credits_refunded;
		if (inv->refunded_total + cn->total >= inv->total || inv->total <= 0)
			back = left; /* the last refund takes what is left */
		else if (tax_scale(inv->credits_quantity, cn->total, inv->total, 1, &back))
			return STORE_INVALID;
		if (back > left)
			back = left;
		if (back <= 0)
			return 0;
		cn->credits = back;
		rc = refund_transfer(txn, inv->beneficiary_id, LEDGER_ISSUER, back, inv->order_id,
				     r->actor, now, &lr);
		if (rc == LEDGER_INSUFFICIENT) {
			if (ledger_balance(txn, inv->beneficiary_id, &balance) != 0)
				return STORE_IO;
			return write_fail(&r->w, GRPC_STATUS_FAILED_PRECONDITION,
					  REASON_INSUFFICIENT_CREDITS,
					  "refunding %" PRId64 " takes back %" PRId64
					  " credits; '%s' has %" PRId64 " unspent",
					  cn->total, back, inv->beneficiary_id, balance);
		}
	} else {
		return 0;
	}
	if (rc == 0) {
		snprintf(b->transfer_id, sizeof(b->transfer_id), "%s", lr.transfer_id);
		cn->transfer_id = b->transfer_id;
	}
	return rc > 0 ? STORE_INVALID : rc;
}

/* A retry with the idempotency key of a refund left at the provider: its
 * note, packed, and phase 2 again when it is still PENDING. 1 when there
 * was one to resume. */
static int resume(refund_write *r, store_txn *txn, int *rc)
{
	const char *ref = write_resume_ref(&r->w);
	store_credit_note *cn = NULL;

	if (!ref[0])
		return 0;
	*rc = store_credit_note_get(txn, ref, &cn);
	if (*rc == STORE_NOTFOUND) {
		*rc = 0;
		return 0;
	}
	if (*rc == 0)
		*rc = pack_note(cn, &r->packed, &r->packed_len);
	if (*rc == 0 && cn->status == STORE_CREDIT_NOTE_PENDING) {
		r->need_provider = 1;
		r->w.intermediate = 1;
		snprintf(r->w.resume_ref, sizeof(r->w.resume_ref), "%s", cn->number);
	}
	store_record_free(cn);
	return 1;
}

static int apply_refund(store_txn *txn, rpc_write *w)
{
	refund_write *r = (refund_write *)w;
	store_order *o = NULL;
	store_invoice *inv = NULL;
	plan p = {0};
	note_build b;
	int64_t now = clock_now_us();
	int32_t year = year_of(now);
	uint64_t seq;
	int rc;

	memset(&b, 0, sizeof(b));
	r->need_provider = 0;
	if (resume(r, txn, &rc))
		goto done;
	rc = store_order_get(txn, r->order_id, &o);
	if (rc == STORE_NOTFOUND) {
		rc = write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED, "order_id");
		goto done;
	}
	if (rc != 0)
		goto done;
	if (o->status != OSTATUS(SUCCEEDED)) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
				"order %s is not SUCCEEDED; only a paid order can be refunded",
				r->order_id);
		goto done;
	}
	rc = store_invoice_get_by_order(txn, r->order_id, &inv);
	if (rc == STORE_NOTFOUND) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
				"order %s has no invoice to correct (it succeeded before "
				"invoicing)",
				r->order_id);
		goto done;
	}
	if (rc == 0)
		rc = plan_refund(r, inv, &p);
	if (rc != 0)
		goto done;

	smartplus__billing__store__v1__credit_note_record__init(&b.cn);
	rc = note_lines(&b, inv, &p);
	if (rc == 0)
		rc = invoice_ancestors(txn, inv->payer_id, &b.ancestors, &b.n_ancestors);
	if (rc == 0)
		rc = store_credit_note_next_seq(txn, year, &seq);
	if (rc != 0)
		goto done;
	snprintf(b.number, sizeof(b.number), "%s-CN-%04" PRId32 "-%06" PRIu64,
		 billingd.cfg.invoicing.prefix ? billingd.cfg.invoicing.prefix : "INV", year, seq);
	b.cn.number = b.number;
	b.cn.seq = seq;
	b.cn.year = year;
	b.cn.invoice_number = inv->number;
	b.cn.order_id = inv->order_id;
	b.cn.payer_id = inv->payer_id;
	b.cn.ancestors = b.ancestors;
	b.cn.n_ancestors = b.n_ancestors;
	b.cn.seller = inv->seller;
	b.cn.buyer = inv->buyer;
	b.cn.currency = inv->currency;
	b.cn.in_credits = inv->in_credits;
	b.cn.reason = (char *)r->reason;
	b.cn.payment_method = inv->payment_method;
	b.cn.stripe_payment_intent_id = inv->stripe_payment_intent_id;
	b.cn.paypal_order_id = inv->paypal_order_id;
	b.cn.paypal_capture_id = o->paypal_capture_id[0] ? o->paypal_capture_id
							 : inv->paypal_capture_id;
	b.cn.create_time = now;
	b.cn.actor_id = r->actor;
	b.cn.sandbox = inv->sandbox;
	rc = move_credits(r, txn, inv, &b, now);
	if (rc != 0)
		goto done;
	/* Money at a provider waits for it; everything else is done now. */
	if (!inv->in_credits && b.cn.total > 0 &&
	    (inv->payment_method == METHOD(STRIPE) || inv->payment_method == METHOD(PAYPAL))) {
		b.cn.status = STORE_CREDIT_NOTE_PENDING;
		r->need_provider = 1;
		w->intermediate = 1;
		snprintf(w->resume_ref, sizeof(w->resume_ref), "%s", b.number);
	} else {
		rc = succeed(txn, &b.cn, now);
	}
	if (rc == 0)
		rc = reserve(inv, &b);
	if (rc == 0)
		rc = store_invoice_put(txn, inv, 0);
	if (rc == 0)
		rc = store_credit_note_put(txn, &b.cn, 1);
	if (rc == 0)
		rc = pack_note(&b.cn, &r->packed, &r->packed_len);
done:
	note_build_free(&b);
	free(p.total);
	free(p.whole);
	store_record_free(inv);
	store_record_free(o);
	return rc;
}

static void reply_note(rpc_call *call, const uint8_t *buf, size_t len)
{
	Smartplus__Billing__V1__RefundOrderResponse resp =
		SMARTPLUS__BILLING__V1__REFUND_ORDER_RESPONSE__INIT;
	store_credit_note *cn = smartplus__billing__store__v1__credit_note_record__unpack(NULL, len,
											  buf);
	arena *a;

	if (!cn) {
		rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		return;
	}
	a = arena_new();
	resp.credit_note = credit_note_conv(a, cn);
	rpc_reply(call, &resp.base);
	arena_free(a);
	smartplus__billing__store__v1__credit_note_record__free_unpacked(cn, NULL);
}

static void enqueue(rpc_call *call, store_credit_note *cn);

static void reply_refund(rpc_write *w)
{
	refund_write *r = (refund_write *)w;
	store_credit_note *cn;

	if (!r->need_provider) {
		reply_note(w->call, r->packed, r->packed_len);
		return;
	}
	/* phases 2 and 3 finish the call */
	cn = smartplus__billing__store__v1__credit_note_record__unpack(NULL, r->packed_len,
								       r->packed);
	if (!cn) {
		rpc_fail(w->call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		return;
	}
	enqueue(w->call, cn);
}

static void cleanup_refund(rpc_write *w)
{
	free(((refund_write *)w)->packed);
}

static int reason_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NOTE_REASON_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

void rpc_InvoiceService_RefundOrder(struct rpc_call *call,
				    const Smartplus__Billing__V1__RefundOrderRequest *req)
{
	const rpc_caller *me = rpc_call_caller(call);
	refund_write *r;

	if (strcmp(me->account_id, "vendor") != 0) {
		rpc_fail(call, GRPC_STATUS_PERMISSION_DENIED, NULL, "%s is for the vendor only",
			 rpc_call_method(call)->name);
		return;
	}
	if (strncmp(req->order_id, "ord_", 4) != 0 || strlen(req->order_id) >= 64 ||
	    !valid_id(req->order_id)) {
		BAD_ARG(call, "order_id: not an order id");
		return;
	}
	if (req->n_item_ids > MAX_ITEMS) {
		BAD_ARG(call, "item_ids: at most %d", MAX_ITEMS);
		return;
	}
	for (size_t i = 0; i < req->n_item_ids; i++) {
		if (!items_valid_ref(req->item_ids[i])) {
			BAD_ARG(call, "item_ids: '%s' is not an item id", req->item_ids[i]);
			return;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(req->item_ids[i], req->item_ids[j]) == 0) {
				BAD_ARG(call, "item_ids: '%s' is given twice", req->item_ids[i]);
				return;
			}
	}
	if (req->amount < 0) {
		BAD_ARG(call, "amount: must be positive (or 0 with item_ids)");
		return;
	}
	if (req->amount > 0 && req->n_item_ids > 0) {
		BAD_ARG(call, "amount: give item_ids or an amount, not both");
		return;
	}
	if (!reason_ok(req->reason)) {
		BAD_ARG(call, "reason: required, 1..%d printable bytes", NOTE_REASON_MAX);
		return;
	}
	r = write_new(call, sizeof(*r));
	snprintf(r->order_id, sizeof(r->order_id), "%s", req->order_id);
	r->item_ids = req->item_ids;
	r->n_items = req->n_item_ids;
	r->amount = req->amount;
	r->reason = req->reason;
	snprintf(r->actor, sizeof(r->actor), "%s", me->account_id);
	r->w.apply = apply_refund;
	r->w.reply = reply_refund;
	r->w.cleanup = cleanup_refund;
	write_submit(&r->w);
}

/* ------------------------------------------------------------------------ */
/* Phases 2 and 3 for a call                                                 */

typedef struct refund_job {
	struct refund_job *next;
	rpc_call *call;
	store_credit_note *cn; /* owned (unpacked with the default allocator) */
} refund_job;

typedef struct settle_write {
	rpc_write w;
	char number[STORE_DOC_NUMBER_MAX];
	refund_result res;
	int claimed;
	uint8_t *packed;
	size_t packed_len;
} settle_write;

static int apply_settle(store_txn *txn, rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	store_credit_note *cn = NULL;
	int rc = refunds_settle_answer(txn, s->number, &s->res, clock_now_us(), NULL);

	if (rc == 0)
		rc = store_credit_note_get(txn, s->number, &cn);
	if (rc == 0)
		rc = pack_note(cn, &s->packed, &s->packed_len);
	store_record_free(cn);
	return rc;
}

static void reply_settle(rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	reply_note(w->call, s->packed, s->packed_len);
}

static void cleanup_settle(rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	if (s->claimed)
		refund_release(s->number);
	free(s->packed);
}

static pthread_once_t workers_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cond = PTHREAD_COND_INITIALIZER;
static refund_job *job_head, **job_tail = &job_head;

static void run_job(refund_job *j)
{
	settle_write *s = write_new(j->call, sizeof(*s));

	snprintf(s->number, sizeof(s->number), "%s", j->cn->number);
	s->claimed = ask_provider(j->cn, &s->res);
	s->w.apply = apply_settle;
	s->w.reply = reply_settle;
	s->w.cleanup = cleanup_settle;
	write_submit(&s->w);
	smartplus__billing__store__v1__credit_note_record__free_unpacked(j->cn, NULL);
	free(j);
}

static void *refund_worker(void *arg)
{
	(void)arg;
	for (;;) {
		refund_job *j;
		pthread_mutex_lock(&job_lock);
		while (!job_head)
			pthread_cond_wait(&job_cond, &job_lock);
		j = job_head;
		job_head = j->next;
		if (!job_head)
			job_tail = &job_head;
		pthread_mutex_unlock(&job_lock);
		run_job(j);
	}
	return NULL;
}

static void workers_start(void)
{
	for (int i = 0; i < REFUND_WORKERS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, refund_worker, NULL) == 0)
			pthread_detach(t);
	}
}

static void enqueue(rpc_call *call, store_credit_note *cn)
{
	refund_job *j = xcalloc(1, sizeof(*j));

	pthread_once(&workers_once, workers_start);
	j->call = call;
	j->cn = cn;
	pthread_mutex_lock(&job_lock);
	*job_tail = j;
	job_tail = &j->next;
	pthread_cond_signal(&job_cond);
	pthread_mutex_unlock(&job_lock);
}

/* ------------------------------------------------------------------------ */
/* The reconciler                                                            */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int started, stopping;
	long interval_ms;
	char (*seen)[STORE_DOC_NUMBER_MAX]; /* PENDING last round */
	size_t n_seen;
} rec = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

typedef struct recon_settle {
	const char *number;
	const refund_result *res;
	int outcome;
} recon_settle;

static int apply_recon(store_txn *w, void *arg)
{
	recon_settle *s = arg;
	return refunds_settle_answer(w, s->number, s->res, clock_now_us(), &s->outcome);
}

/* One round over the PENDING notes; with `seen_only`, only those pending in
 * the previous round too (a note just created is its worker's). */
static int round_once(int seen_only)
{
	char(*now_seen)[STORE_DOC_NUMBER_MAX] = NULL;
	store_list l = {0};
	store_txn *txn;
	size_t n_now = 0;
	int rc, settled = 0;

	rc = store_read_begin(billingd.store, &txn);
	if (rc != 0)
		return rc;
	rc = store_credit_note_pending_before(txn, INT64_MAX, RECON_BATCH, &l);
	store_read_end(txn);
	if (rc != 0)
		return rc;
	now_seen = xcalloc(l.n + 1, sizeof(*now_seen));
	for (size_t i = 0; i < l.n; i++) {
		store_credit_note *cn = l.items[i];
		int known = !seen_only;
		refund_result res;
		recon_settle s;
		int claimed;

		snprintf(now_seen[n_now++], STORE_DOC_NUMBER_MAX, "%s", cn->number);
		for (size_t k = 0; !known && k < rec.n_seen; k++)
			known = strcmp(rec.seen[k], cn->number) == 0;
		if (!known)
			continue;
		claimed = ask_provider(cn, &res);
		s = (recon_settle){cn->number, &res, 0};
		if (claimed && res.status != REFUND_UNAVAILABLE &&
		    store_write_sync(billingd.store, apply_recon, &s) == 0 && s.outcome)
			settled++;
		if (claimed)
			refund_release(cn->number);
	}
	pthread_mutex_lock(&rec.lock);
	free(rec.seen);
	rec.seen = now_seen;
	rec.n_seen = n_now;
	pthread_mutex_unlock(&rec.lock);
	store_list_free(&l);
	return settled;
}

int refunds_reconcile_once(void)
{
	return round_once(0);
}

int refunds_settle_order(const char *order_id)
{
	store_list l = {0};
	store_txn *txn;
	int rc = store_read_begin(billingd.store, &txn), again = 0;

	if (rc != 0)
		return -1;
	rc = store_credit_note_list_by_order(txn, order_id, &l);
	store_read_end(txn);
	if (rc != 0)
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		store_credit_note *cn = l.items[i];
		refund_result res;
		recon_settle st;
		int claimed;

		if (cn->status != STORE_CREDIT_NOTE_PENDING)
			continue;
		claimed = ask_provider(cn, &res);
		st = (recon_settle){cn->number, &res, 0};
		if (!claimed || res.status == REFUND_UNAVAILABLE ||
		    store_write_sync(billingd.store, apply_recon, &st) != 0)
			again = 1;
		if (claimed)
			refund_release(cn->number);
	}
	store_list_free(&l);
	return again ? -1 : 0;
}

static void *reconciler_main(void *arg)
{
	int first = 1;

	(void)arg;
	pthread_mutex_lock(&rec.lock);
	while (!rec.stopping) {
		struct timespec ts;
		pthread_mutex_unlock(&rec.lock);
		round_once(!first); /* at start: every PENDING note (crash recovery) */
		first = 0;
		pthread_mutex_lock(&rec.lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += rec.interval_ms / 1000;
		ts.tv_nsec += (rec.interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!rec.stopping)
			pthread_cond_timedwait(&rec.cond, &rec.lock, &ts);
	}
	pthread_mutex_unlock(&rec.lock);
	return NULL;
}

int refunds_reconciler_start(long interval_ms)
{
	int rc = 0;

	pthread_mutex_lock(&rec.lock);
	if (!rec.started) {
		rec.interval_ms = interval_ms > 0 ? interval_ms
				  : billingd.cfg.reconcile_interval_ms > 0
					  ? billingd.cfg.reconcile_interval_ms
					  : 5000;
		rec.stopping = 0;
		rc = pthread_create(&rec.thread, NULL, reconciler_main, NULL) == 0 ? 0 : -1;
		rec.started = rc == 0;
	}
	pthread_mutex_unlock(&rec.lock);
	return rc;
}

void refunds_reconciler_stop(void)
{
	pthread_mutex_lock(&rec.lock);
	if (!rec.started) {
		pthread_mutex_unlock(&rec.lock);
		return;
	}
	rec.stopping = 1;
	pthread_cond_broadcast(&rec.cond);
	pthread_mutex_unlock(&rec.lock);
	pthread_join(rec.thread, NULL);
	pthread_mutex_lock(&rec.lock);
	rec.started = 0;
	free(rec.seen);
	rec.seen = NULL;
	rec.n_seen = 0;
	pthread_mutex_unlock(&rec.lock);
}

/* ------------------------------------------------------------------------ */
/* GetCreditNote, ListCreditNotes                                            */

void rpc_InvoiceService_GetCreditNote(struct rpc_call *call,
				      const Smartplus__Billing__V1__GetCreditNoteRequest *req)
{
	Smartplus__Billing__V1__GetCreditNoteResponse r =
		SMARTPLUS__BILLING__V1__GET_CREDIT_NOTE_RESPONSE__INIT;
	store_credit_note *cn = NULL;
	store_txn *txn;
	arena *a = NULL;
	int rc, may = 0;

	if (!valid_id(req->credit_note_id)) {
		BAD_ARG(call, "credit_note_id: must match [A-Za-z0-9_.-]{1,64}");
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	rc = store_credit_note_get(txn, req->credit_note_id, &cn);
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), cn->payer_id);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, may, "credit_note_id"))
		goto done;
	a = arena_new();
	r.credit_note = credit_note_conv(a, cn);
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_record_free(cn);
	store_read_end(txn);
}

void rpc_InvoiceService_ListCreditNotes(struct rpc_call *call,
					const Smartplus__Billing__V1__ListCreditNotesRequest *req)
{
	Smartplus__Billing__V1__ListCreditNotesResponse r =
		SMARTPLUS__BILLING__V1__LIST_CREDIT_NOTES_RESPONSE__INIT;
	store_doc_filter f;
	store_list l = {0};
	store_txn *txn;
	arena *a = NULL;
	int rc;

	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	if (invoice_list_filter(call, txn, req->payer_id, req->start_time, req->end_time, &f))
		goto done;
	rc = store_credit_note_list(txn, &f, req->page_size ? req->page_size : LIST_PAGE_DEFAULT,
				    req->page_token, &l);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.credit_notes = arena_alloc(a, (l.n + 1) * sizeof(*r.credit_notes));
	for (size_t i = 0; i < l.n; i++)
		r.credit_notes[r.n_credit_notes++] = credit_note_conv(a, l.items[i]);
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&l);
	store_read_end(txn);
}
