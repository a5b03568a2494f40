/*
 * invoices.c: issuing invoices (invoice_issue, called by the order engine
 * in the transaction that marks an order SUCCEEDED), the tax decisions of
 * quotes and orders, and InvoiceService GetInvoice / ListInvoices.
 *
 * The invoice is a snapshot: the seller as configured now, the buyer as the
 * order recorded it, and every amount as the order charged it. Nothing on
 * it is recomputed later from prices, rates or accounts that may have
 * changed since; credit notes correct it, never an edit.
 */
#include "invoices.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "catalog.h"
#include "log.h"
#include "pricing.h"
#include "enums.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"
#include "xalloc.h"

#define LIST_PAGE_DEFAULT 50
#define MAX_ANCESTORS 8

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

void invoice_config_defaults(billingd_invoicing *inv)
{
	memset(inv, 0, sizeof(*inv));
	inv->seller_name = inv->seller_address = inv->seller_country = "";
	inv->seller_region = inv->seller_tax_id = inv->seller_email = "";
	inv->prefix = "INV";
	inv->credit_tax = TAX_CREDITS_AT_PURCHASE;
}

static int all_chars(const char *s, size_t min, size_t max, int (*ok)(int))
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return 0;
	for (; *s; s++)
		if (!ok((unsigned char)*s))
			return 0;
	return 1;
}

static int upper_or_digit(int c)
{
	return isupper(c) || isdigit(c);
}

static int printable(int c)
{
	return c >= 0x20 && c != 0x7f; /* UTF-8 bytes pass */
}

int invoice_config_set(billingd_invoicing *inv, const char *name, const char *value, char *err,
		       size_t cap)
{
	const char **text = NULL;

	err[0] = '\0';
	if (strcmp(name, "seller-country") == 0) {
		if (value[0] && !tax_country_ok(value)) {
			snprintf(err, cap, "wants an ISO-3166 alpha-2 code such as DE");
			return -1;
		}
		inv->seller_country = value;
		return 0;
	}
	if (strcmp(name, "seller-region") == 0) {
		if (!tax_region_ok(value)) {
			snprintf(err, cap, "wants [A-Z0-9]{0,32}");
			return -1;
		}
		inv->seller_region = value;
		return 0;
	}
	if (strcmp(name, "invoice-prefix") == 0) {
		if (!all_chars(value, 1, 12, upper_or_digit)) {
			snprintf(err, cap, "wants [A-Z0-9]{1,12}");
			return -1;
		}
		inv->prefix = value;
		return 0;
	}
	if (strcmp(name, "credit-tax") == 0) {
		if (strcmp(value, "purchase") == 0)
			inv->credit_tax = TAX_CREDITS_AT_PURCHASE;
		else if (strcmp(value, "advance") == 0)
			inv->credit_tax = TAX_CREDITS_ADVANCE;
		else {
			snprintf(err, cap, "is purchase or advance");
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "seller-name") == 0)
		text = &inv->seller_name;
	else if (strcmp(name, "seller-address") == 0)
		text = &inv->seller_address;
	else if (strcmp(name, "seller-tax-id") == 0)
		text = &inv->seller_tax_id;
	else if (strcmp(name, "seller-email") == 0)
		text = &inv->seller_email;
	if (!text) {
		snprintf(err, cap, "is not an invoicing setting");
		return -1;
	}
	if (!all_chars(value, 0, 256, printable)) {
		snprintf(err, cap, "wants at most 256 printable bytes");
		return -1;
	}
	*text = value;
	return 0;
}

void invoice_seller(store_party *p)
{
	const billingd_invoicing *c = &billingd.cfg.invoicing;

	smartplus__billing__store__v1__party_record__init(p);
	p->name = (char *)(c->seller_name ? c->seller_name : "");
	p->address = (char *)(c->seller_address ? c->seller_address : "");
	p->country = (char *)(c->seller_country ? c->seller_country : "");
	p->region = (char *)(c->seller_region ? c->seller_region : "");
	p->tax_id = (char *)(c->seller_tax_id ? c->seller_tax_id : "");
	p->email = (char *)(c->seller_email ? c->seller_email : "");
}

/* ------------------------------------------------------------------------ */
/* Tax                                                                       */

int invoice_tax_lookup(void *txn, const char *country, const char *region, tax_rate *out)
{
	store_tax_rate *r = NULL;
	int rc = store_tax_rate_get(txn, country, region, &r);

	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof(*out));
	snprintf(out->country, sizeof(out->country), "%s", r->country);
	snprintf(out->region, sizeof(out->region), "%s", r->region);
	out->rate_bp = r->rate_bp;
	out->inclusive = r->inclusive;
	store_record_free(r);
	return 1;
}

int invoice_tax_decide(store_txn *txn, int order_type, int method, const char *country,
		       const char *region, const char *tax_id, tax_decision *out)
{
	tax_parties p = {billingd.cfg.invoicing.seller_country, country, region, tax_id};
	tax_sale sale = order_type == OTYPE(CREDIT_PURCHASE) ? TAX_SALE_CREDITS
			: method == METHOD(CREDITS)          ? TAX_SALE_BY_CREDITS
							     : TAX_SALE_SERVICES;

	return tax_resolve(&p, sale, (tax_credit_rule)billingd.cfg.invoicing.credit_tax,
			   invoice_tax_lookup, txn, out);
}

int invoice_tax_apply(const tax_decision *d, store_line **lines, size_t n, int in_credits,
		      int64_t discount, int64_t *tax_total, int64_t *charged)
{
	int64_t *amounts = xcalloc(n + 1, sizeof(*amounts)),
		*shares = xcalloc(n + 1, sizeof(*shares));
	int64_t tax_sum = 0, sum = 0, net, tax, total;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		amounts[i] = in_credits ? lines[i]->credits : lines[i]->amount;
	if (rc == 0)
		rc = tax_spread(amounts, n, discount, shares);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = tax_line(amounts[i] - shares[i], d->rate_bp, d->inclusive, &net, &tax, &total);
		if (rc == 0 && (__builtin_add_overflow(tax_sum, tax, &tax_sum) ||
				__builtin_add_overflow(sum, total, &sum)))
			rc = TAX_OVERFLOW;
		if (rc == 0) {
			lines[i]->discount = shares[i];
			lines[i]->tax = tax;
			lines[i]->tax_rate_bp = d->rate_bp;
			lines[i]->total = total;
		}
	}
	if (rc == 0) {
		*tax_total = tax_sum;
		*charged = sum;
	}
	free(amounts);
	free(shares);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Issuing                                                                   */

int invoice_ancestors(store_txn *txn, const char *payer_id, char ***out, size_t *n)
{
	char **ids = xcalloc(MAX_ANCESTORS, sizeof(*ids));
	char *cur = xstrdup(payer_id);
	int rc = 0;

	*out = NULL;
	*n = 0;
	while (rc == 0 && cur && *n < MAX_ANCESTORS) {
		store_account *a = NULL;

		ids[(*n)++] = cur;
		rc = store_account_get(txn, cur, &a);
		if (rc == STORE_NOTFOUND) { /* a payer outside the tree (tests) */
			rc = 0;
			break;
		}
		cur = rc == 0 && a->parent_id[0] ? xstrdup(a->parent_id) : NULL;
		store_record_free(a);
	}
	if (rc == 0 && cur && *n == MAX_ANCESTORS)
		rc = STORE_CORRUPT; /* deeper than any tree: a cycle */
	if (rc != 0) {
		for (size_t i = 0; i < *n; i++)
			free(ids[i]);
		free(ids);
		*n = 0;
		return rc;
	}
	*out = ids;
	return 0;
}

static int32_t year_of(int64_t t_us)
{
	time_t s = (time_t)(t_us / 1000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	return (int32_t)tm.tm_year + 1900;
}

/* Everything an invoice's strings point to while it is built. */
typedef struct build {
	store_invoice inv;
	store_party seller, buyer;
	store_tax_line tl, *tls[1];
	store_invoice_line *lines;
	store_invoice_line **plines;
	char **descs; /* descriptions, n_lines of them */
	size_t n_lines;
	char **ancestors;
	size_t n_ancestors;
	char *notes[2];
	char number[STORE_DOC_NUMBER_MAX];
} build;

static void build_free(build *b)
{
	for (size_t i = 0; b->descs && i < b->n_lines; i++)
		free(b->descs[i]);
	free(b->descs);
	free(b->lines);
	free(b->plines);
	for (size_t i = 0; i < b->n_ancestors; i++)
		free(b->ancestors[i]);
	free(b->ancestors);
}

/* The service period and days of an order line, as orders_succeed applied
 * it: from the item's old expiry (or now) to its new one. */
static void line_period(const store_line *l, int64_t now, store_invoice_line *out)
{
	int64_t start = l->current_expires_at > now ? l->current_expires_at : now;

	out->period_end = l->new_expires_at;
	out->period_start = start < l->new_expires_at ? start : l->new_expires_at;
	out->months = l->months;
	out->days = l->months > 0 ? l->months * PRICING_MONTH_DAYS : l->days;
}

static char *describe(const store_line *l)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s - item %s, project %s",
		 catalog_service_name(l->service_type), l->item_id, l->project_id);
	return xstrdup(buf);
}

/* The lines of an activation or renewal: amounts as charged. */
static int build_service_lines(build *b, const store_order *o, int in_credits, int64_t now)
{
	size_t n = o->n_lines;
	int64_t *shares = NULL, *amounts = NULL;
	int rc = 0;

	b->n_lines = n;
	b->lines = xcalloc(n + 1, sizeof(*b->lines));
	b->plines = xcalloc(n + 1, sizeof(*b->plines));
	b->descs = xcalloc(n + 1, sizeof(*b->descs));
	shares = xcalloc(n + 1, sizeof(*shares));
	amounts = xcalloc(n + 1, sizeof(*amounts));
	for (size_t i = 0; i < n; i++)
		amounts[i] = in_credits ? o->lines[i]->credits : o->lines[i]->amount;
	if (!o->tax_treatment && tax_spread(amounts, n, in_credits ? 0 : o->discount, shares)) {
		rc = STORE_INVALID; /* a discount larger than the lines */
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const store_line *l = o->lines[i];
		store_invoice_line *il = &b->lines[i];
		int64_t taxable;

		smartplus__billing__store__v1__invoice_line_record__init(il);
		b->descs[i] = describe(l);
		il->description = b->descs[i];
		il->item_id = l->item_id;
		il->project_id = l->project_id;
		il->service_type = l->service_type;
		line_period(l, now, il);
		il->unit_amount = in_credits ? l->unit_credits : l->unit_amount;
		il->amount = amounts[i];
		il->discount = o->tax_treatment ? l->discount : shares[i];
		il->tax_rate_bp = o->tax_treatment ? l->tax_rate_bp : 0;
		il->tax_amount = o->tax_treatment ? l->tax : 0;
		taxable = il->amount - il->discount;
		il->net_amount = o->tax_inclusive ? taxable - il->tax_amount : taxable;
		il->total = il->net_amount + il->tax_amount;
		il->free = l->free;
		b->plines[i] = il;
	}
done:
	free(shares);
	free(amounts);
	return rc;
}

/* The one line of a credit purchase. */
static int build_credit_line(build *b, const store_order *o)
{
	char buf[160];
	store_invoice_line *il;

	b->lines = xcalloc(1, sizeof(*b->lines));
	b->plines = xcalloc(1, sizeof(*b->plines));
	b->descs = xcalloc(1, sizeof(*b->descs));
	b->n_lines = 1;
	il = &b->lines[0];
	smartplus__billing__store__v1__invoice_line_record__init(il);
	snprintf(buf, sizeof(buf), "Prepaid credits for account %s", o->beneficiary_id);
	b->descs[0] = xstrdup(buf);
	il->description = b->descs[0];
	il->quantity = o->credits_quantity;
	il->unit_amount = o->credits_quantity > 0 ? o->subtotal / o->credits_quantity : 0;
	il->amount = o->subtotal;
	il->discount = o->discount;
	il->tax_rate_bp = o->tax_treatment ? o->tax_rate_bp : 0;
	il->tax_amount = o->tax_treatment ? o->tax_total : 0;
	il->net_amount = o->subtotal - o->discount - (o->tax_inclusive ? il->tax_amount : 0);
	il->total = il->net_amount + il->tax_amount;
	b->plines[0] = il;
	return 0;
}

int invoice_issue(store_txn *w, const store_order *o, int64_t now,
		  char number[STORE_DOC_NUMBER_MAX])
{
	store_invoice *existing = NULL;
	int in_credits = o->payment_method == METHOD(CREDITS);
	int64_t lines_total = 0, net = 0;
	int32_t year = year_of(now);
	uint64_t seq;
	build b;
	int rc;

	memset(&b, 0, sizeof(b));
	if (number)
		number[0] = '\0';
	if (o->status != OSTATUS(SUCCEEDED))
		return STORE_INVALID;
	rc = store_invoice_get_by_order(w, o->order_id, &existing);
	if (rc == 0) {
		if (number)
			snprintf(number, STORE_DOC_NUMBER_MAX, "%s", existing->number);
		store_record_free(existing);
		return 0;
	}
	if (rc != STORE_NOTFOUND)
		return rc;
	rc = o->type == OTYPE(CREDIT_PURCHASE) ? build_credit_line(&b, o)
					       : build_service_lines(&b, o, in_credits, now);
	if (rc == 0)
		rc = invoice_ancestors(w, o->payer_id, &b.ancestors, &b.n_ancestors);
	if (rc == 0)
		rc = store_invoice_next_seq(w, year, &seq);
	if (rc != 0)
		goto done;
	snprintf(b.number, sizeof(b.number), "%s-%04" PRId32 "-%06" PRIu64,
		 billingd.cfg.invoicing.prefix ? billingd.cfg.invoicing.prefix : "INV", year, seq);

	smartplus__billing__store__v1__invoice_record__init(&b.inv);
	b.inv.n_lines = b.n_lines;
	b.inv.lines = b.plines;
	b.inv.number = b.number;
	b.inv.seq = seq;
	b.inv.year = year;
	b.inv.order_id = o->order_id;
	b.inv.order_type = o->type;
	b.inv.payer_id = o->payer_id;
	b.inv.ancestors = b.ancestors;
	b.inv.n_ancestors = b.n_ancestors;
	invoice_seller(&b.seller);
	b.inv.seller = &b.seller;
	smartplus__billing__store__v1__party_record__init(&b.buyer);
	b.buyer.name = o->bill_name;
	b.buyer.company = o->bill_company;
	b.buyer.address = o->bill_address;
	b.buyer.country = o->bill_country;
	b.buyer.region = o->bill_region;
	b.buyer.tax_id = o->bill_tax_id;
	b.buyer.email = o->bill_email;
	b.buyer.account_id = o->payer_id;
	b.inv.buyer = &b.buyer;
	b.inv.in_credits = in_credits;
	b.inv.currency = in_credits ? "" : o->currency;
	b.inv.discount = in_credits ? 0 : o->discount;
	for (size_t i = 0; i < b.inv.n_lines; i++) {
		b.inv.subtotal += b.inv.lines[i]->amount;
		lines_total += b.inv.lines[i]->total;
		net += b.inv.lines[i]->net_amount;
	}
	b.inv.net_total = net;
	b.inv.tax_total = o->tax_treatment ? o->tax_total : 0;
	b.inv.total = in_credits ? o->credits_total : o->total;
	if (lines_total != b.inv.total)
		log_error("invoice %s: lines sum to %" PRId64 ", order %s charged %" PRId64,
			  b.number, lines_total, o->order_id, b.inv.total);
	b.inv.tax_inclusive = o->tax_inclusive;
	if (o->tax_treatment) {
		smartplus__billing__store__v1__tax_line_record__init(&b.tl);
		b.tl.rate_bp = o->tax_rate_bp;
		b.tl.inclusive = o->tax_inclusive;
		b.tl.country = o->tax_country;
		b.tl.region = o->tax_region;
		b.tl.treatment = o->tax_treatment;
		b.tl.net_amount = net;
		b.tl.tax_amount = b.inv.tax_total;
		b.tl.note = (char *)tax_note((tax_treatment)o->tax_treatment,
					     billingd.cfg.invoicing.seller_country, o->tax_country);
		b.tls[0] = &b.tl;
		b.inv.tax_lines = b.tls;
		b.inv.n_tax_lines = 1;
		if (b.tl.note[0])
			b.notes[b.inv.n_notes++] = b.tl.note;
	}
	if (o->sandbox)
		b.notes[b.inv.n_notes++] =
			"Paid through the sandbox payment provider: no money was taken.";
	b.inv.notes = b.notes;
	b.inv.payment_method = o->payment_method;
	b.inv.stripe_payment_intent_id = o->stripe_payment_intent_id;
	b.inv.paypal_order_id = o->paypal_order_id;
	b.inv.paypal_capture_id = o->paypal_capture_id;
	b.inv.transfer_id = o->transfer_id;
	b.inv.coupon_code = o->coupon_code;
	b.inv.issue_time = now;
	b.inv.sandbox = o->sandbox;
	b.inv.credits_quantity = o->credits_quantity;
	b.inv.beneficiary_id = o->beneficiary_id;
	rc = store_invoice_put(w, &b.inv, 1);
	if (rc == 0 && number)
		snprintf(number, STORE_DOC_NUMBER_MAX, "%s", b.number);
done:
	build_free(&b);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* API messages                                                              */

static Smartplus__Billing__V1__InvoiceParty *conv_party(arena *a, const store_party *p)
{
	Smartplus__Billing__V1__InvoiceParty *m = arena_alloc(a, sizeof(*m));

	smartplus__billing__v1__invoice_party__init(m);
	if (!p)
		return m;
	m->name = p->name;
	m->company = p->company;
	m->address = p->address;
	m->country = p->country;
	m->region = p->region;
	m->tax_id = p->tax_id;
	m->email = p->email;
	m->account_id = p->account_id;
	return m;
}

static Smartplus__Billing__V1__TaxLine **conv_tax_lines(arena *a, store_tax_line **t, size_t n)
{
	Smartplus__Billing__V1__TaxLine **out = arena_alloc(a, (n + 1) * sizeof(*out));

	for (size_t i = 0; i < n; i++) {
		Smartplus__Billing__V1__TaxLine *m = arena_alloc(a, sizeof(*m));
		smartplus__billing__v1__tax_line__init(m);
		m->rate_bp = t[i]->rate_bp;
		m->inclusive = t[i]->inclusive;
		m->country = t[i]->country;
		m->region = t[i]->region;
		m->treatment = t[i]->treatment;
		m->net_amount = t[i]->net_amount;
		m->tax_amount = t[i]->tax_amount;
		m->note = t[i]->note;
		out[i] = m;
	}
	return out;
}

Smartplus__Billing__V1__Invoice *invoice_conv(arena *a, const store_invoice *r)
{
	Smartplus__Billing__V1__Invoice *m = arena_alloc(a, sizeof(*m));

	smartplus__billing__v1__invoice__init(m);
	m->invoice_id = r->number;
	m->sequence = (int64_t)r->seq;
	m->year = r->year;
	m->order_id = r->order_id;
	m->order_type = r->order_type;
	m->payer_id = r->payer_id;
	m->seller = conv_party(a, r->seller);
	m->buyer = conv_party(a, r->buyer);
	m->lines = arena_alloc(a, (r->n_lines + 1) * sizeof(*m->lines));
	for (size_t i = 0; i < r->n_lines; i++) {
		const store_invoice_line *l = r->lines[i];
		Smartplus__Billing__V1__InvoiceLine *x = arena_alloc(a, sizeof(*x));
		smartplus__billing__v1__invoice_line__init(x);
		x->description = l->description;
		x->item_id = l->item_id;
		x->project_id = l->project_id;
		x->service_type = l->service_type;
		x->period_start = conv_ts(a, l->period_start);
		x->period_end = conv_ts(a, l->period_end);
		x->months = l->months;
		x->days = l->days;
		x->quantity = l->quantity;
		x->unit_amount = l->unit_amount;
		x->amount = l->amount;
		x->discount = l->discount;
		x->net_amount = l->net_amount;
		x->tax_rate_bp = l->tax_rate_bp;
		x->tax_amount = l->tax_amount;
		x->total = l->total;
		x->free = l->free;
		m->lines[m->n_lines++] = x;
	}
	m->tax_lines = conv_tax_lines(a, r->tax_lines, r->n_tax_lines);
	m->n_tax_lines = r->n_tax_lines;
	m->currency = r->currency;
	m->in_credits = r->in_credits;
	m->subtotal = r->subtotal;
	m->discount = r->discount;
	m->net_total = r->net_total;
	m->tax_total = r->tax_total;
	m->total = r->total;
	m->tax_inclusive = r->tax_inclusive;
	m->payment_method = r->payment_method;
	m->stripe_payment_intent_id = r->stripe_payment_intent_id;
	m->paypal_order_id = r->paypal_order_id;
	m->paypal_capture_id = r->paypal_capture_id;
	m->transfer_id = r->transfer_id;
	m->coupon_code = r->coupon_code;
	m->issue_time = conv_ts(a, r->issue_time);
	m->notes = r->notes;
	m->n_notes = r->n_notes;
	m->sandbox = r->sandbox;
	m->refunded_total = r->refunded_total;
	m->credit_note_ids = r->credit_notes;
	m->n_credit_note_ids = r->n_credit_notes;
	m->credits_quantity = r->credits_quantity;
	m->beneficiary_id = r->beneficiary_id;
	return m;
}

Smartplus__Billing__V1__CreditNote *credit_note_conv(arena *a, const store_credit_note *r)
{
	Smartplus__Billing__V1__CreditNote *m = arena_alloc(a, sizeof(*m));

	smartplus__billing__v1__credit_note__init(m);
	m->credit_note_id = r->number;
	m->sequence = (int64_t)r->seq;
	m->year = r->year;
	m->invoice_id = r->invoice_number;
	m->order_id = r->order_id;
	m->payer_id = r->payer_id;
	m->status = r->status;
	m->seller = conv_party(a, r->seller);
	m->buyer = conv_party(a, r->buyer);
	m->lines = arena_alloc(a, (r->n_lines + 1) * sizeof(*m->lines));
	for (size_t i = 0; i < r->n_lines; i++) {
		const store_credit_note_line *l = r->lines[i];
		Smartplus__Billing__V1__CreditNoteLine *x = arena_alloc(a, sizeof(*x));
		smartplus__billing__v1__credit_note_line__init(x);
		x->description = l->description;
		x->item_id = l->item_id;
		x->refunded_days = l->refunded_days;
		x->net_amount = l->net_amount;
		x->tax_rate_bp = l->tax_rate_bp;
		x->tax_amount = l->tax_amount;
		x->total = l->total;
		x->expiry_before = conv_ts(a, l->expiry_before);
		x->expiry_after = conv_ts(a, l->expiry_after);
		m->lines[m->n_lines++] = x;
	}
	m->tax_lines = conv_tax_lines(a, r->tax_lines, r->n_tax_lines);
	m->n_tax_lines = r->n_tax_lines;
	m->currency = r->currency;
	m->in_credits = r->in_credits;
	m->net_total = r->net_total;
	m->tax_total = r->tax_total;
	m->total = r->total;
	m->credits = r->credits;
	m->reason = r->reason;
	m->payment_method = r->payment_method;
	m->stripe_refund_id = r->stripe_refund_id;
	m->paypal_refund_id = r->paypal_refund_id;
	m->transfer_id = r->transfer_id;
	m->failure_reason = r->failure_reason;
	m->create_time = conv_ts(a, r->create_time);
	m->settle_time = conv_ts(a, r->settle_time);
	return m;
}

/* ------------------------------------------------------------------------ */
/* GetInvoice                                                                */

void rpc_InvoiceService_GetInvoice(struct rpc_call *call,
				   const Smartplus__Billing__V1__GetInvoiceRequest *req)
{
	Smartplus__Billing__V1__GetInvoiceResponse r =
		SMARTPLUS__BILLING__V1__GET_INVOICE_RESPONSE__INIT;
	const char *id = req->invoice_id[0] ? req->invoice_id : req->order_id;
	store_invoice *inv = NULL;
	store_txn *txn;
	arena *a = NULL;
	int rc, may = 0;

	if (req->invoice_id[0] && req->order_id[0]) {
		BAD_ARG(call, "invoice_id: give invoice_id or order_id, not both");
		return;
	}
	if (!id[0]) {
		BAD_ARG(call, "invoice_id: required (or order_id)");
		return;
	}
	if (!valid_id(id)) {
		BAD_ARG(call, "%s: must match [A-Za-z0-9_.-]{1,64}",
			req->invoice_id[0] ? "invoice_id" : "order_id");
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	rc = req->invoice_id[0] ? store_invoice_get(txn, id, &inv)
				: store_invoice_get_by_order(txn, id, &inv);
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), inv->payer_id);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, may, req->invoice_id[0] ? "invoice_id" : "order_id"))
		goto done;
	a = arena_new();
	r.invoice = invoice_conv(a, inv);
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_record_free(inv);
	store_read_end(txn);
}

/* ------------------------------------------------------------------------ */
/* ListInvoices (ListCreditNotes shares the checks)                          */

/*
 * The filter of a document list: one payer at or below the caller, or the
 * caller's whole subtree; a period. Fails the call and returns 1 when an
 * argument is wrong or the payer is not the caller's to see.
 */
int invoice_list_filter(rpc_call *call, store_txn *txn, const char *payer,
			const Google__Protobuf__Timestamp *start,
			const Google__Protobuf__Timestamp *end, store_doc_filter *f)
{
	const rpc_caller *me = rpc_call_caller(call);
	int ok_start = 1, ok_end = 1;

	memset(f, 0, sizeof(*f));
	f->start_us = conv_us(start, &ok_start);
	f->end_us = conv_us(end, &ok_end);
	if (!ok_start)
		return BAD_ARG(call, "start_time: out of range");
	if (!ok_end)
		return BAD_ARG(call, "end_time: out of range");
	if (start && end && f->end_us <= f->start_us)
		return BAD_ARG(call, "end_time: must be later than start_time");
	if (f->start_us < 0)
		f->start_us = 0;
	if (end && f->end_us <= 0)
		f->end_us = 1; /* a window that ends by 1970: nothing */
	if (payer[0]) {
		if (!valid_id(payer))
			return BAD_ARG(call, "payer_id: must match [A-Za-z0-9_.-]{1,64}");
		if (auth_deny(call, auth_may_act(txn, me, payer), "payer_id"))
			return 1;
		f->payer_id = payer;
	} else {
		f->ancestor_id = me->account_id;
	}
	return 0;
}

void rpc_InvoiceService_ListInvoices(struct rpc_call *call,
				     const Smartplus__Billing__V1__ListInvoicesRequest *req)
{
	Smartplus__Billing__V1__ListInvoicesResponse r =
		SMARTPLUS__BILLING__V1__LIST_INVOICES_RESPONSE__INIT;
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
	rc = store_invoice_list(txn, &f, req->page_size ? req->page_size : LIST_PAGE_DEFAULT,
				req->page_token, &l);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.invoices = arena_alloc(a, (l.n + 1) * sizeof(*r.invoices));
	for (size_t i = 0; i < l.n; i++)
		r.invoices[r.n_invoices++] = invoice_conv(a, l.items[i]);
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&l);
	store_read_end(txn);
}
