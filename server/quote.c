/*
 * quote.c: QuoteServices, and the quote computation shared with the order
 * handlers (order_place.c) which recompute it inside the writer transaction.
 */
#include <stdint.h>

#include "quote.h"
#include "enums.h"
#include "handler.h"
#include "quote_token.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "auth.h"
#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "invoices.h"
#include "tax.h"
#include "items.h"
#include "log.h"
#include "payments/provider.h"
#include "policy.h"
#include "pricing.h"
#include "rpc_handlers.h"
#include "write.h"
#include "xalloc.h"

#define MAX_PROJECTS 1000
/* Lines and skipped items of one quote (and so lines of one order). */
#define QUOTE_MAX_ENTRIES 10000
#define MAX_FREE 64

int quote_fail(quote_err *e, grpc_status_code code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	e->reason = reason;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return 1;
}

int quote_new_id(const char *prefix, char out[QUOTE_ID_MAX])
{
	unsigned char b[12];
	size_t n;
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	n = (size_t)snprintf(out, QUOTE_ID_MAX, "%s", prefix);
	for (size_t i = 0; i < sizeof(b); i++)
		n += (size_t)snprintf(out + n, QUOTE_ID_MAX - n, "%02x", b[i]);
	return 0;
}

void quote_methods_text(uint32_t mask, char *buf, size_t cap)
{
	static const char *names[] = {"", "STRIPE", "PAYPAL", "COUPON", "CREDITS"};
	size_t n = 0;
	buf[0] = 0;
	for (int m = 1; m <= 4; m++)
		if (mask & (1u << m))
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? ", " : "",
					      names[m]);
	if (!buf[0])
		snprintf(buf, cap, "none");
}

static uint32_t model_mask(int model)
{
	uint32_t m = 0;
	for (int i = METHOD(STRIPE); i <= METHOD(CREDITS); i++)
		if (catalog_model_allows(model, i))
			m |= 1u << i;
	return m;
}

void quote_calc_free(quote_calc *c)
{
	if (!c)
		return;
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 16; j++)
			store_record_free(c->prices[i][j]);
	arena_free(c->a);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------------ */
/* The computation                                                           */

typedef struct builder {
	quote_calc *c;
	size_t cap_lines, cap_skipped;
	store_line **lines;
	const store_quote_input *in;
	const rpc_caller *caller;
	int64_t now;
	int model; /* 0 until the first project */
	uint32_t mask;
	const char *currency;
	int64_t subtotal, credits;
	int *named_seen; /* per in->item_ids[i]: found */
} builder;

/* The price of a service in a project type, read at most once per quote:
 * borrowed (freed by quote_calc_free), NULL with STORE_NOTFOUND when unset. */
static int cached_price(builder *b, store_txn *txn, int ptype, int stype, store_price **out)
{
	int rc = 0;
	if (ptype < 0 || ptype >= 4 || stype < 0 || stype >= 16)
		return STORE_NOTFOUND;
	quote_calc *c = b->c;
	if (!c->price_read[ptype][stype]) {
		rc = store_price_get(txn, ptype, stype, &c->prices[ptype][stype]);
		if (rc != 0 && rc != STORE_NOTFOUND)
			return rc;
		c->price_read[ptype][stype] = 1;
	}
	*out = c->prices[ptype][stype];
	return *out ? 0 : STORE_NOTFOUND;
}

static int grow(arena *a, void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	if (n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 16;
	p = arena_alloc(a, *cap * elem);
	if (*arr)
		memcpy(p, *arr, n * elem);
	*arr = p;
	return 0;
}

static void skip(builder *b, const store_item *it, int reason)
{
	quote_calc *c = b->c;
	quote_skip *s;
	grow(c->a, (void **)&c->skipped, &b->cap_skipped, c->n_skipped, sizeof(*c->skipped));
	s = &c->skipped[c->n_skipped++];
	s->item_id = arena_strdup(c->a, it->item_id);
	s->project_id = arena_strdup(c->a, it->project_id);
	s->service_type = it->service_type;
	s->reason = reason;
}

/* R11: the methods `payer` may use on project p (before R2). */
static int payer_mask(builder *b, store_txn *txn, const store_project *p, uint32_t *mask,
		      quote_err *err)
{
	const char *payer = b->in->payer_id;
	int is_anc = 0, rc, pay = 0;
	uint32_t pm = 0;

	if (strcmp(payer, p->installer_id) == 0) {
		rc = policy_allowed_methods(txn, payer, &pay, &pm);
		if (rc < 0)
			return rc;
		if (rc != 0 || !pay || !pm)
			return quote_fail(
				err, GRPC_STATUS_PERMISSION_DENIED, REASON_PAYMENT_NOT_PERMITTED,
				"installer '%s' may not pay: its payment policy does not allow it",
				payer);
		*mask = pm;
		return 0;
	}
	rc = store_account_is_self_or_ancestor(txn, payer, p->installer_id, &is_anc);
	if (rc < 0 && rc != STORE_NOTFOUND)
		return rc;
	if (rc == 0 && is_anc) {
		*mask = ~0u;
		return 0;
	}
	if (p->property_manager_id[0] && strcmp(p->property_manager_id, payer) == 0) {
		*mask = 1u << METHOD(CREDITS);
		return 0;
	}
	return quote_fail(
		err, GRPC_STATUS_PERMISSION_DENIED, NULL,
		"payer '%s' may not pay for project '%s': not an ancestor of its installer, "
		"the installer, or its property manager",
		payer, p->project_id);
}

static int in_list_i(const int32_t *v, size_t n, int x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static int named_index(const store_quote_input *in, const char *id)
{
	for (size_t i = 0; i < in->n_item_ids; i++)
		if (strcmp(in->item_ids[i], id) == 0)
			return (int)i;
	return -1;
}

static int price_line(builder *b, store_txn *txn, const store_project *p, const store_item *it,
		      int is_free, quote_err *err)
{
	const store_quote_input *in = b->in;
	quote_calc *c = b->c;
	store_price *price = NULL;
	store_line *l;
	int64_t base, unit, amount = 0, days = 0;
	int status = conv_item_status(it, b->now);
	int rc, prc = 0;

	rc = cached_price(b, txn, p->type, it->service_type, &price);
	if (rc == STORE_NOTFOUND && !is_free) {
		skip(b, it, SKIP(NO_PRICE));
		return 0;
	}
	if (rc != 0 && rc != STORE_NOTFOUND)
		return rc;
	/* A renewal extends from the expiry, also in GRACE (the service went
	 * on); an expired item restarts from now (R8). */
	base = in->action == ACTION(ACTIVATE) || status == ISTATUS(INACTIVE) ||
			       (it->expires_at < b->now && status != ISTATUS(GRACE))
		       ? b->now
		       : it->expires_at;
	l = arena_alloc(c->a, sizeof(*l));
	smartplus__billing__store__v1__line_record__init(l);
	l->item_id = arena_strdup(c->a, it->item_id);
	l->project_id = arena_strdup(c->a, it->project_id);
	l->service_type = it->service_type;
	l->item_create_seq = it->create_seq; /* the identity of exactly this item */
	l->current_expires_at = it->status == STORE_ITEM_ACTIVE ? it->expires_at : 0;
	l->free = is_free;
	if (b->model == MODEL(CREDITS))
		unit = price ? price->monthly_credits : 0;
	else
		unit = price ? price->monthly_amount : 0;
	if (in->renew_until) {
		if (in->renew_until <= base) {
			/* price is borrowed from the cache */
			skip(b, it, SKIP(ALREADY_COVERED));
			return 0;
		}
		prc = pricing_days_between(base, in->renew_until, &days);
		/* R3: the 1..60-month term holds for a date as for months */
		if (!prc && days > (int64_t)PRICING_MONTHS_MAX * PRICING_MONTH_DAYS)
			return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
					  "renew_until: more than %d months (%d days) past the "
					  "expiry of item '%s'",
					  PRICING_MONTHS_MAX,
					  PRICING_MONTHS_MAX * PRICING_MONTH_DAYS, it->item_id);
		if (!prc)
			prc = b->model == MODEL(CREDITS) ? pricing_days_credits(unit, days, &amount)
							 : pricing_days(unit, days, &amount);
		l->days = (int32_t)(days > INT32_MAX ? INT32_MAX : days);
		l->new_expires_at = in->renew_until;
	} else {
		prc = pricing_months(unit, in->months, &amount);
		if (!prc)
			prc = pricing_add_months(base, in->months, &l->new_expires_at);
		l->months = in->months;
	}
	if (prc) {
		/* price is borrowed from the cache */
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "the amount of item '%s' is out of range", it->item_id);
	}
	if (is_free)
		amount = 0;
	if (b->model == MODEL(CREDITS)) {
		l->unit_credits = unit;
		l->credits = amount;
		prc = pricing_add(&b->credits, amount);
	} else {
		l->unit_amount = unit;
		l->amount = amount;
		prc = pricing_add(&b->subtotal, amount);
		if (price && price->currency[0]) {
			if (!b->currency)
				b->currency = arena_strdup(c->a, price->currency);
			else if (strcmp(b->currency, price->currency) != 0) {
				quote_fail(err, GRPC_STATUS_FAILED_PRECONDITION, NULL,
					   "the selected items are priced in different currencies "
					   "(%s, %s); "
					   "quote them separately",
					   b->currency, price->currency);
				/* price is borrowed from the cache */
				return 1;
			}
		}
	}
	/* price is borrowed from the cache */
	if (prc)
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "the total is out of range");
	grow(c->a, (void **)&b->lines, &b->cap_lines, c->rec.n_lines, sizeof(*b->lines));
	b->lines[c->rec.n_lines++] = l;
	return 0;
}

static int quote_project(builder *b, store_txn *txn, const store_project *p, quote_err *err)
{
	const store_quote_input *in = b->in;
	store_list items = {0};
	items_free fr = ITEMS_FREE_INIT;
	char *token = NULL;
	uint32_t pmask = 0;
	int model = catalog_payment_model(p->type, p->created_at, billingd.cfg.cutover_us);
	int rc;

	if (b->model && b->model != model)
		return quote_fail(
			err, GRPC_STATUS_FAILED_PRECONDITION, REASON_METHOD_NOT_ALLOWED,
			"the selected projects have different payment models (project '%s'); "
			"quote them separately",
			p->project_id);
	b->model = model;
	rc = payer_mask(b, txn, p, &pmask, err);
	if (rc)
		return rc;
	b->mask &= pmask;
	rc = items_free_load(txn, p, &fr);
	do {
		if (rc)
			break;
		store_list_free(&items);
		rc = store_item_list_by_project(txn, p->project_id, STORE_PAGE_MAX, token, &items);
		free(token);
		token = NULL;
		for (size_t i = 0; rc == 0 && i < items.n; i++) {
			const store_item *it = items.items[i];
			if (b->c->rec.n_lines + b->c->n_skipped >= QUOTE_MAX_ENTRIES) {
				/* every answer stays far below a client's 4 MiB */
				rc = quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
						"project_ids: the selection holds more than %d "
						"items; quote fewer projects, or name the items",
						QUOTE_MAX_ENTRIES);
				break;
			}
			int forced = it->service_type == STYPE(INTEGRATION) &&
				     p->type == PTYPE(COMMUNITY) && p->pms_integrated;
			int ni = named_index(in, it->item_id);
			int named = in->n_item_ids == 0 || ni >= 0;
			int status = conv_item_status(it, b->now);
			if (ni >= 0)
				b->named_seen[ni] = 1;
			if (!named && !forced)
				continue;
			if (!forced && in->n_service_types &&
			    !in_list_i(in->service_types, in->n_service_types, it->service_type)) {
				if (ni >= 0)
					skip(b, it, SKIP(SERVICE_TYPE_NOT_SELECTED));
				continue;
			}
			if (in->action == ACTION(ACTIVATE) && status != ISTATUS(INACTIVE)) {
				if (ni >= 0 && !forced)
					rc = quote_fail(
						err, GRPC_STATUS_FAILED_PRECONDITION,
						REASON_ITEM_STATE,
						"item '%s' is already activated; renew it instead",
						it->item_id);
				else
					skip(b, it, SKIP(ALREADY_ACTIVE));
				continue;
			}
			if (in->action == ACTION(RENEW) && status == ISTATUS(INACTIVE)) {
				if (ni >= 0 && !forced)
					rc = quote_fail(
						err, GRPC_STATUS_FAILED_PRECONDITION,
						REASON_ITEM_STATE,
						"item '%s' was never activated; activate it first",
						it->item_id);
				else
					skip(b, it, SKIP(NOT_ACTIVATED));
				continue;
			}
			rc = price_line(b, txn, p, it, items_free_has(&fr, it->item_id), err);
		}
		if (rc == 0 && items.next_page_token)
			token = xstrdup(items.next_page_token);
	} while (token);
	store_list_free(&items);
	items_free_release(&fr);
	return rc;
}

static int check_input(const store_quote_input *in, quote_err *err)
{
	if (in->action != ACTION(ACTIVATE) && in->action != ACTION(RENEW))
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "action: must be ACTIVATE or RENEW");
	if (!valid_id(in->installer_id))
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "installer_id: " HANDLER_ID_RULE);
	if (!valid_id(in->payer_id))
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "payer_id: " HANDLER_ID_RULE);
	if (!catalog_valid_project_type(in->project_type))
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "project_type: required");
	if (!in->all_projects && in->n_project_ids == 0)
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "project_ids: name the projects or set all_projects");
	if (in->all_projects && in->n_project_ids)
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "project_ids: give either project_ids or all_projects");
	for (size_t i = 0; i < in->n_project_ids; i++)
		if (!valid_id(in->project_ids[i]))
			return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
					  "project_ids: '%s' is not a valid id",
					  in->project_ids[i]);
	for (size_t i = 0; i < in->n_item_ids; i++)
		if (!items_valid_ref(in->item_ids[i]))
			return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
					  "item_ids: '%s' is not a valid id", in->item_ids[i]);
	for (size_t i = 0; i < in->n_service_types; i++)
		if (!catalog_offers(in->project_type, in->service_types[i]))
			return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
					  "service_types: %s is not offered for %s projects",
					  catalog_service_name(in->service_types[i]),
					  catalog_project_type_name(in->project_type));
	if (in->renew_until) {
		/* ACTIVATE too: co-terming a new item with its project's renewal
		 * date, prorated by the day like a renewal until a date. */
		if (in->months)
			return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
					  "months: give either months or renew_until");
	} else if (in->months < PRICING_MONTHS_MIN || in->months > PRICING_MONTHS_MAX) {
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL, "months: must be 1..60");
	}
	if (in->renew_mode && in->renew_mode != RENEW(MANUAL) && in->renew_mode != RENEW(AUTO))
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "renew_mode: unknown value");
	if (in->renew_mode == RENEW(AUTO) && in->action != ACTION(RENEW))
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "renew_mode: AUTO is only for RENEW");
	return 0;
}

static int apply_coupon(builder *b, store_txn *txn, quote_err *err)
{
	const store_quote_input *in = b->in;
	quote_calc *c = b->c;
	coupon_ctx ctx = {
		.payer_id = in->payer_id,
		.project_type = in->project_type,
		.payment_model = b->model,
		.currency = b->currency ? b->currency : "",
		.lines = b->lines,
		.n_lines = c->rec.n_lines,
		.now = b->now,
	};
	store_coupon *cp = NULL;
	int64_t discount = 0;
	int rc;

	/* not the payer's list for someone quoting for an ancestor */
	rc = c->for_ancestor ? 0
			     : coupon_available(txn, c->a, &ctx, &c->available, &c->n_available);
	if (rc || !in->coupon_code[0])
		return rc;
	rc = store_coupon_get(txn, in->coupon_code, &cp);
	if (rc == STORE_NOTFOUND) {
		snprintf(c->coupon_note, sizeof(c->coupon_note), "coupon '%s' does not exist",
			 in->coupon_code);
		c->coupon_lost = 1;
		return 0;
	}
	if (rc)
		return rc;
	rc = coupon_evaluate(txn, cp, &ctx, &discount, c->coupon_note, sizeof(c->coupon_note));
	store_record_free(cp);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		c->coupon_lost = 1;
		return 0;
	}
	(void)err;
	c->rec.coupon_code = arena_strdup(c->a, in->coupon_code);
	c->rec.discount = discount;
	return 0;
}

/*
 * The tax of a computed quote (invoices.h, tax.h): decided from the seller
 * and the buyer named in the input, spread over the lines after the
 * coupon, and added to the total (credits_total for credit-paid projects)
 * when prices exclude it. The lines carry their share, so the order and
 * its invoice charge and show exactly this.
 */
static int quote_tax(store_txn *txn, quote_calc *c, const store_quote_input *in, int credits,
		     quote_err *err)
{
	int type = in->action == ACTION(ACTIVATE) ? OTYPE(ACTIVATION) : OTYPE(RENEWAL);
	int64_t tax = 0, charged = 0;
	tax_decision d;
	int rc = invoice_tax_decide(txn, type, credits ? METHOD(CREDITS) : 0, in->bill_country,
				    in->bill_region, in->bill_tax_id, &d);

	if (rc != 0)
		return rc;
	rc = invoice_tax_apply(&d, c->rec.lines, c->rec.n_lines, credits,
			       credits ? 0 : c->rec.discount, &tax, &charged);
	if (rc != 0)
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "the amounts with tax are out of range");
	c->rec.tax_treatment = d.treatment;
	c->rec.tax_rate_bp = d.rate_bp;
	c->rec.tax_inclusive = d.inclusive;
	c->rec.tax_country = arena_strdup(c->a, d.country);
	c->rec.tax_region = arena_strdup(c->a, d.region);
	c->rec.tax_total = tax;
	if (credits)
		c->rec.credits_total = charged;
	else
		c->rec.total = charged;
	return 0;
}

/* The provider methods that cannot charge this total in its currency
 * (payments/currency.h: Stripe's decimals, PayPal's own table) leave the
 * quote's methods; none left is INVALID_ARGUMENT naming the currency. */
static int chargeable_methods(quote_calc *c, quote_err *err)
{
	static const int provider[] = {METHOD(STRIPE), METHOD(PAYPAL)};
	uint32_t mask = c->rec.method_mask, had = 0;
	char why[400] = "", one[160];
	if (c->rec.total <= 0)
		return 0;
	for (size_t i = 0; i < sizeof(provider) / sizeof(provider[0]); i++) {
		uint32_t bit = 1u << provider[i];
		if (!(mask & bit))
			continue;
		had |= bit;
		if (pay_can_charge(provider[i], c->rec.currency, c->rec.total, one, sizeof(one))) {
			mask &= ~bit;
			snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%s",
				 why[0] ? "; " : "", one);
		}
	}
	if (had && !(mask & had))
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "currency: a total of %lld %s cannot be charged: %s",
				  (long long)c->rec.total, c->rec.currency, why);
	c->rec.method_mask = mask;
	return 0;
}

/* A named item that none of the selected projects holds: the caller's own
 * item elsewhere is INVALID_ARGUMENT; a foreign or missing one is the one
 * AIP-211 answer. */
static int unselected_item(store_txn *txn, const rpc_caller *caller, const char *item_id, size_t i,
			   quote_err *err)
{
	store_item *it = NULL;
	store_project *p = NULL;
	char field[48];
	int rc = store_item_get(txn, item_id, &it), may = 0;
	if (rc == 0)
		rc = store_project_get(txn, it->project_id, &p);
	if (rc == 0)
		may = auth_may_read_project(txn, caller, p);
	store_record_free(it);
	store_record_free(p);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return rc;
	if (may < 0)
		return may;
	snprintf(field, sizeof(field), "item_ids[%zu]", i);
	if (may)
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "%s: not an item of the selected projects", field);
	return quote_fail(err, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED, field);
}

int quote_compute(store_txn *txn, const rpc_caller *caller, const store_quote_input *in,
		  int64_t now, quote_calc *c, quote_err *err)
{
	builder b = {.c = c, .in = in, .caller = caller, .now = now, .mask = ~0u};
	store_list projects = {0};
	char *token = NULL;
	size_t seen_projects = 0;
	int rc, may;

	memset(c, 0, sizeof(*c));
	c->a = arena_new();
	smartplus__billing__store__v1__quote_record__init(&c->rec);
	c->rec.coupon_code = "";
	rc = check_input(in, err);
	if (rc)
		return rc;
	if (in->renew_until && in->renew_until <= now)
		return quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "renew_until: must be later than now");
	may = auth_may_act(txn, caller, in->payer_id);
	if (may == 0) {
		/* A quote for an account above the caller to pay (RequestPayment),
		 * priced as that payer's own: the caller cannot place it. */
		int anc = 0;
		rc = store_account_is_self_or_ancestor(txn, in->payer_id, caller->account_id, &anc);
		if (rc < 0 && rc != STORE_NOTFOUND)
			return rc;
		may = c->for_ancestor = rc == 0 && anc;
	}
	if (may < 0)
		return may;
	if (may > 0 && c->for_ancestor) {
		/* only for the caller's own installer (or one below it): any
		 * other reads like a payer it may not name (AIP-211) */
		may = auth_may_act(txn, caller, in->installer_id);
		if (may < 0)
			return may;
	}
	if (!may)
		return quote_fail(err, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
				  "payer_id");
	b.named_seen = arena_alloc(c->a, (in->n_item_ids + 1) * sizeof(int));
	if (in->all_projects) {
		/* AIP-211: a foreign installer reads like a missing one. */
		may = auth_may_act(txn, caller, in->installer_id);
		if (may < 0)
			return may;
		if (!may)
			return quote_fail(err, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
					  "installer_id");
		do {
			store_list_free(&projects);
			rc = store_project_list_by_installer(txn, in->installer_id,
							     in->project_type, STORE_PAGE_MAX,
							     token, &projects);
			free(token);
			token = NULL;
			for (size_t i = 0; rc == 0 && i < projects.n; i++, seen_projects++)
				rc = quote_project(&b, txn, projects.items[i], err);
			if (rc == 0 && projects.next_page_token)
				token = xstrdup(projects.next_page_token);
		} while (token);
		store_list_free(&projects);
		if (rc)
			return rc;
		if (!seen_projects)
			return quote_fail(err, GRPC_STATUS_FAILED_PRECONDITION, NULL,
					  "installer_id: the installer has no %s projects",
					  catalog_project_type_name(in->project_type));
	} else {
		for (size_t i = 0; i < in->n_project_ids; i++) {
			store_project *p = NULL;
			char field[48];
			snprintf(field, sizeof(field), "project_ids[%zu]", i);
			rc = store_project_get(txn, in->project_ids[i], &p);
			may = rc == 0 && strcmp(p->installer_id, in->installer_id) == 0
				      ? auth_may_read_project(txn, caller, p)
				      : 0;
			if (rc == STORE_NOTFOUND || (rc == 0 && may == 0)) {
				/* AIP-211: before anything about the project is said */
				store_record_free(p);
				return quote_fail(err, GRPC_STATUS_PERMISSION_DENIED, NULL,
						  AUTH_DENIED, field);
			}
			if (rc == 0 && may < 0)
				rc = may;
			if (rc) {
				store_record_free(p);
				return rc;
			}
			if (p->type != in->project_type) {
				rc = quote_fail(err, GRPC_STATUS_INVALID_ARGUMENT, NULL,
						"%s: a %s project, not %s", field,
						catalog_project_type_name(p->type),
						catalog_project_type_name(in->project_type));
			} else {
				rc = quote_project(&b, txn, p, err);
			}
			store_record_free(p);
			if (rc)
				return rc;
		}
	}
	for (size_t i = 0; i < in->n_item_ids; i++)
		if (!b.named_seen[i])
			return unselected_item(txn, caller, in->item_ids[i], i, err);
	b.mask &= model_mask(b.model);
	if (!b.mask) {
		char allowed[64];
		quote_methods_text(model_mask(b.model), allowed, sizeof(allowed));
		return quote_fail(err, GRPC_STATUS_PERMISSION_DENIED, REASON_METHOD_NOT_ALLOWED,
				  "payer '%s' may use none of the methods of these projects (%s)",
				  in->payer_id, allowed);
	}
	c->rec.lines = b.lines;
	c->rec.payment_model = b.model;
	c->rec.method_mask = b.mask;
	if (b.model == MODEL(CREDITS)) {
		c->rec.credits_total = b.credits;
		c->rec.subtotal = b.credits;
		c->rec.currency = "";
		if (in->coupon_code[0]) {
			snprintf(c->coupon_note, sizeof(c->coupon_note),
				 "coupons do not apply to credit-paid projects");
			c->coupon_lost = 1;
		}
	} else {
		c->rec.subtotal = b.subtotal;
		c->rec.currency = b.currency ? (char *)b.currency : "";
		rc = apply_coupon(&b, txn, err);
		if (rc)
			return rc;
		c->rec.total = c->rec.subtotal - c->rec.discount;
	}
	rc = quote_tax(txn, c, in, b.model == MODEL(CREDITS), err);
	if (rc == 0 && b.model != MODEL(CREDITS)) /* the total as charged, tax included */
		rc = chargeable_methods(c, err);
	if (rc)
		return rc;
	rc = store_price_version(txn, &c->rec.price_list_version);
	c->input = *in;
	c->rec.input = &c->input;
	return rc;
}

Smartplus__Billing__V1__QuoteLine *quote_conv_line(arena *a, const store_line *l)
{
	Smartplus__Billing__V1__QuoteLine *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__quote_line__init(m);
	m->item_id = l->item_id;
	m->project_id = l->project_id;
	m->service_type = l->service_type;
	m->current_expires_at = conv_ts(a, l->current_expires_at);
	m->new_expires_at = conv_ts(a, l->new_expires_at);
	m->unit_amount = l->unit_amount;
	m->unit_credits = l->unit_credits;
	m->months = l->months;
	m->days = l->days;
	m->amount = l->amount;
	m->credits = l->credits;
	m->free = l->free;
	m->discount = l->discount;
	m->tax_rate_bp = l->tax_rate_bp;
	m->tax_amount = l->tax;
	m->total = l->total;
	return m;
}

/* ------------------------------------------------------------------------ */
/* QuoteServices                                                             */

/* Sends computed quote c as the QuoteServices response, under `token`. */
static void send_quote(rpc_call *call, const quote_calc *c, const char *token)
{
	const store_quote *r = &c->rec;
	const store_quote_input *in = r->input;
	arena *a = arena_new();
	Smartplus__Billing__V1__QuoteServicesResponse resp =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_RESPONSE__INIT;
	Smartplus__Billing__V1__Quote *m = arena_alloc(a, sizeof(*m));

	smartplus__billing__v1__quote__init(m);
	m->quote_id = (char *)token;
	m->expire_time = conv_ts(a, r->expire_time);
	m->action = in->action;
	m->payer_id = in->payer_id;
	m->installer_id = in->installer_id;
	m->project_type = in->project_type;
	m->lines = arena_alloc(a, (r->n_lines + 1) * sizeof(*m->lines));
	for (size_t i = 0; i < r->n_lines; i++)
		m->lines[m->n_lines++] = quote_conv_line(a, r->lines[i]);
	m->skipped = arena_alloc(a, (c->n_skipped + 1) * sizeof(*m->skipped));
	for (size_t i = 0; i < c->n_skipped; i++) {
		const quote_skip *s = &c->skipped[i];
		Smartplus__Billing__V1__SkippedItem *k = arena_alloc(a, sizeof(*k));
		smartplus__billing__v1__skipped_item__init(k);
		k->item_id = (char *)s->item_id;
		k->project_id = (char *)s->project_id;
		k->service_type = s->service_type;
		k->reason = s->reason;
		m->skipped[m->n_skipped++] = k;
	}
	m->subtotal = r->subtotal;
	m->discount = r->discount;
	m->total = r->total;
	m->currency = r->currency;
	m->credits_total = r->credits_total;
	m->payment_model = r->payment_model;
	m->allowed_methods = arena_alloc(a, 5 * sizeof(*m->allowed_methods));
	for (int i = METHOD(STRIPE); i <= METHOD(CREDITS); i++)
		if (r->method_mask & (1u << i))
			m->allowed_methods[m->n_allowed_methods++] = i;
	m->coupon_code = r->coupon_code;
	m->coupon_note = (char *)c->coupon_note;
	m->price_list_version = (int64_t)r->price_list_version;
	m->renew_mode = in->renew_mode ? in->renew_mode : RENEW(MANUAL);
	m->months = in->months;
	m->renew_until = conv_ts(a, in->renew_until);
	m->available_coupons = c->available;
	m->n_available_coupons = c->n_available;
	m->tax_total = r->tax_total;
	m->tax_treatment = r->tax_treatment;
	m->tax_rate_bp = r->tax_rate_bp;
	m->tax_inclusive = r->tax_inclusive;
	m->tax_country = r->tax_country;
	resp.quote = m;
	rpc_reply(call, &resp.base);
	arena_free(a);
}

void rpc_BillingService_QuoteServices(struct rpc_call *call,
				      const Smartplus__Billing__V1__QuoteServicesRequest *req)
{
	const rpc_caller *caller = rpc_call_caller(call);
	store_quote_input in = STORE_QUOTE_INPUT_INIT;
	quote_calc calc = {0};
	quote_err err = {0};
	store_txn *txn = NULL;
	int64_t now = clock_now_us();
	char short_id[QUOTE_SHORT_ID_LEN + 1], *token;
	int rc, ok = 1;

	in.action = req->action;
	in.payer_id = req->payer_id[0] ? req->payer_id : (char *)caller->account_id;
	in.installer_id = req->installer_id;
	in.project_type = req->project_type;
	in.project_ids = req->project_ids;
	in.n_project_ids = req->n_project_ids;
	in.all_projects = req->all_projects;
	in.service_types = (int32_t *)req->service_types;
	in.n_service_types = req->n_service_types;
	in.item_ids = req->item_ids;
	in.n_item_ids = req->n_item_ids;
	in.months = req->months;
	in.renew_until = conv_us(req->renew_until, &ok);
	in.renew_mode = req->renew_mode;
	in.coupon_code = req->coupon_code;
	if (req->billing_info &&
	    ((req->billing_info->country[0] && !tax_country_ok(req->billing_info->country)) ||
	     !tax_region_ok(req->billing_info->region))) {
		rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL,
			 "billing_info: country is an ISO-3166 alpha-2 code in upper case (such "
			 "as DE), region [A-Z0-9]{0,32}");
		goto fail;
	}
	if (req->billing_info) {
		in.bill_country = req->billing_info->country;
		in.bill_region = req->billing_info->region;
		in.bill_tax_id = req->billing_info->tax_id;
	}
	if (req->auto_renew_term) {
		const Smartplus__Billing__V1__AutoRenewTerm *t = req->auto_renew_term;
		switch (t->end_case) {
		case TERM(UNTIL):
			in.auto_renew_kind = 1;
			in.auto_renew_until = conv_us(t->until, &ok);
			break;
		case TERM(CYCLES):
			in.auto_renew_kind = 2;
			in.auto_renew_cycles = t->cycles;
			break;
		case TERM(UNTIL_TURNED_OFF): in.auto_renew_kind = 3; break;
		default: break;
		}
	}
	if (!ok) {
		rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL, "renew_until: out of range");
		goto fail;
	}
	if (in.auto_renew_kind == 2 && in.auto_renew_cycles < 1) {
		rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL,
			 "auto_renew_term.cycles: must be >= 1");
		goto fail;
	}
	rc = store_read_begin(billingd.store, &txn);
	if (rc == 0)
		rc = quote_compute(txn, caller, &in, now, &calc, &err);
	store_read_end(txn);
	if (rc > 0) {
		rpc_fail(call, err.code, err.reason, "%s", err.msg);
		goto fail;
	}
	if (rc < 0) {
		handler_fail_store(call, rc);
		goto fail;
	}
	/* Nothing is stored: the quote id is a signed token (quote_token.h). */
	calc.rec.caller_id = (char *)caller->account_id;
	calc.rec.create_time = now;
	calc.rec.expire_time = now + QUOTE_TTL_US;
	token = quote_token_make(&calc.rec, short_id);
	if (!token) {
		handler_fail_internal(call, "cannot sign the quote token");
		goto fail;
	}
	calc.rec.quote_id = short_id;
	send_quote(call, &calc, token);
	free(token);
fail:
	quote_calc_free(&calc);
}
