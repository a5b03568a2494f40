/*
 * order_place.c: phase 1 of a payment, placing an order from a quote
 * (BillingService ActivateServices, RenewServices). The quote id is a signed
 * token holding the quote's input (quote_token.h); inside the writer
 * transaction the quote is recomputed and must charge exactly what was
 * quoted (QUOTE_STALE otherwise), the payment method is checked against the
 * payer's rules and the projects' payment model, the coupon is reserved and
 * credits are spent, and the order is created (apply_place). A quote pays
 * for one order: a retry finds that order again (orders_resume).
 */
#include "order_place.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "catalog.h"
#include "clock.h"
#include "convert.h"
#include "credits.h"
#include "enums.h"
#include "event_sources.h"
#include "handler.h"
#include "items.h"
#include "order_effects.h"
#include "order_payment.h"
#include "order_record.h"
#include "payments/provider.h"
#include "quote.h"
#include "quote_token.h"
#include "renewal_groups.h"
#include "rpc_handlers.h"
#include "tax.h"
#include "xalloc.h"

typedef struct place_write {
	rpc_write w;
	rpc_caller caller;
	int action;
	const char *quote_id;
	int method;
	const Smartplus__Billing__V1__BillingInfo *bill;
	const char *stripe_pm, *stripe_cus;
	char order_id[QUOTE_ID_MAX];
	int need_provider;
	uint8_t *packed;
	size_t packed_len;
	orders_placed_fn then; /* orders_place_quote() */
	char then_ref[80];
	char *quote_copy;
} place_write;

void orders_set_billing(store_order *o, const Smartplus__Billing__V1__BillingInfo *b)
{
	o->bill_name = b->name;
	o->bill_email = b->email;
	o->bill_company = b->company;
	o->bill_address = b->address;
	o->bill_country = b->country;
	o->bill_tax_id = b->tax_id;
	o->bill_region = b->region;
	o->terms_accepted = 1;
}

int orders_resume(store_txn *txn, rpc_write *w, const char *order_id, int method, char *id_out,
		  size_t id_cap, int *pay, uint8_t **buf, size_t *len, int *rc)
{
	store_order *prev = NULL;
	int resumed = 0;
	*rc = store_order_get(txn, order_id, &prev);
	if (*rc == STORE_NOTFOUND) {
		*rc = 0;
		return 0;
	}
	if (*rc != 0)
		return 1;
	if (prev->status == OSTATUS(PROCESSING) || prev->status == OSTATUS(PENDING_PAYMENT) ||
	    prev->status == OSTATUS(SUCCEEDED)) {
		resumed = 1;
		if (prev->payment_method != method) {
			*rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
					 "order %s is already paying for this with another method",
					 prev->order_id);
		} else {
			snprintf(id_out, id_cap, "%s", prev->order_id);
			*pay = prev->status == OSTATUS(PROCESSING) &&
			       (method == METHOD(STRIPE) || method == METHOD(PAYPAL));
			w->intermediate = *pay;
			if (*pay)
				snprintf(w->resume_ref, sizeof(w->resume_ref), "%s",
					 prev->order_id);
			*rc = orders_pack(prev, buf, len);
		}
	}
	store_record_free(prev);
	return resumed;
}

int orders_open(store_txn *txn, rpc_write *w, store_order *o, int64_t now, int paid, int *pay,
		uint8_t **buf, size_t *len)
{
	int rc = events_order(txn, EV_ORDER_CREATED, o);

	*pay = 0;
	if (rc == 0 && paid) {
		rc = orders_succeed(txn, o, now);
	} else {
		o->sandbox = pay_provider_current()->sandbox;
		*pay = 1;
		w->intermediate = 1; /* phase 3 ends the call */
		/* R17: a retry with the same key resumes this order. */
		snprintf(w->resume_ref, sizeof(w->resume_ref), "%s", o->order_id);
	}
	if (rc == 0)
		rc = store_order_put(txn, o, 1);
	if (rc == 0)
		rc = orders_pack(o, buf, len);
	return rc;
}

static int check_method(store_txn *txn, rpc_write *w, const store_quote *q, int method)
{
	char allowed[64];
	int anc = 0, rc;
	/* R11 before R2 for a payer limited by R11 (the installer by its policy,
	 * the property manager to CREDITS): a method outside its own set is a
	 * matter of permission, whatever the projects' payment model says. */
	rc = store_account_is_self_or_ancestor(txn, q->input->payer_id, q->input->installer_id,
					       &anc);
	if (rc < 0 && rc != STORE_NOTFOUND)
		return rc;
	if ((rc != 0 || !anc || strcmp(q->input->payer_id, q->input->installer_id) == 0) &&
	    !(q->method_mask & (1u << method))) {
		quote_methods_text(q->method_mask, allowed, sizeof(allowed));
		return write_fail(w, GRPC_STATUS_PERMISSION_DENIED, REASON_METHOD_NOT_ALLOWED,
				  "payment_method: payer '%s' may not pay with %s; allowed: %s",
				  q->input->payer_id, orders_method_name(method), allowed);
	}
	if (!catalog_model_allows(q->payment_model, method)) {
		uint32_t mm = 0;
		for (int i = METHOD(STRIPE); i <= METHOD(CREDITS); i++)
			if (catalog_model_allows(q->payment_model, i))
				mm |= 1u << i;
		quote_methods_text(mm, allowed, sizeof(allowed));
		return write_fail(
			w, GRPC_STATUS_FAILED_PRECONDITION, REASON_METHOD_NOT_ALLOWED,
			"payment_method: %s is not allowed for these projects; allowed: %s",
			orders_method_name(method), allowed);
	}
	if (!(q->method_mask & (1u << method))) {
		quote_methods_text(q->method_mask, allowed, sizeof(allowed));
		return write_fail(w, GRPC_STATUS_PERMISSION_DENIED, REASON_METHOD_NOT_ALLOWED,
				  "payment_method: payer '%s' may not pay with %s; allowed: %s",
				  q->input->payer_id, orders_method_name(method), allowed);
	}
	return 0;
}

/* ---- apply_place, step by step ----
 * Each step returns 0 to go on, or a write_fail() or STORE_* code that ends
 * the placement (its writes roll back with apply's nested transaction). */

/* What the steps share: inputs, the quote, its recomputation, the order. */
typedef struct placing {
	place_write *p;
	store_txn *txn;
	int64_t now;
	store_quote *q; /* opened from the token */
	char short_id[QUOTE_SHORT_ID_LEN + 1];
	quote_calc calc; /* the quote recomputed now */
	store_order o;   /* the order being placed */
	char transfer[40];
} placing;

/* 1. The token is a quote, of a payer the caller may act for. A forged,
 * foreign or garbled token gets the same answer (AIP-211). */
static int open_quote(placing *s)
{
	place_write *p = s->p;
	int rc = 0;
	if (quote_token_open(p->quote_id, &s->q, s->short_id) == 0 &&
	    (rc = auth_may_act(s->txn, &p->caller, s->q->input->payer_id)) == 1)
		return 0;
	if (rc >= 0 || !s->q)
		rc = write_fail(&p->w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
				"quote_id");
	return rc;
}

/* 2. A quote pays for one order: if it was paid from before (a retry after
 * a crash, a second click), that order is the answer (*resumed = 1) —
 * unless it ended unpaid, when a new one is placed. */
static int find_placed(placing *s, int *resumed)
{
	place_write *p = s->p;
	store_quote *bound = NULL;
	int rc = store_quote_get(s->txn, s->short_id, &bound);

	*resumed = 0;
	if (rc == 0 && bound->order_id[0]) {
		*resumed = orders_resume(s->txn, &p->w, bound->order_id, p->method, p->order_id,
					 sizeof(p->order_id), &p->need_provider, &p->packed,
					 &p->packed_len, &rc);
		if (!*resumed)
			rc = 0;
	} else if (rc == STORE_NOTFOUND) {
		rc = 0;
	}
	store_record_free(bound);
	return rc;
}

/* 3. The quote is for this RPC's action and has not expired. */
static int check_quote(placing *s)
{
	place_write *p = s->p;
	const store_quote *q = s->q;
	if (q->input->action != p->action)
		return write_fail(&p->w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "quote_id: '%s' is a%s quote", p->quote_id,
				  q->input->action == ACTION(ACTIVATE) ? "n ACTIVATE" : " RENEW");
	if (s->now >= q->expire_time)
		return write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_QUOTE_STALE,
				  "quote %.28s expired; ask for a new quote", p->quote_id);
	return 0;
}

/* 4. The quote computed again as of now charges exactly what was quoted:
 * the same price list, the coupon still applies, the same lines and
 * amounts (R6). The payer's allowed methods are taken as of now. */
static int recompute(placing *s)
{
	place_write *p = s->p;
	store_quote *q = s->q;
	unsigned char digest[32];
	quote_err err = {0};
	int rc;

	/* Taxed for the buyer the order names (its billing information), which
	 * the quote may not have known: a different tax is a different charge. */
	store_str_set(&q->input->bill_country, p->bill->country);
	store_str_set(&q->input->bill_region, p->bill->region);
	store_str_set(&q->input->bill_tax_id, p->bill->tax_id);
	rc = quote_compute(s->txn, &p->caller, q->input, s->now, &s->calc, &err);

	if (rc > 0)
		return write_fail(&p->w, err.code, err.reason, "%s", err.msg);
	if (rc)
		return rc;
	if (s->calc.rec.price_list_version != q->price_list_version)
		return write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_QUOTE_STALE,
				  "the price list changed since quote %.28s; ask for a new quote",
				  p->quote_id);
	if (q->coupon_code[0] && s->calc.coupon_lost)
		return write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION,
				  REASON_COUPON_NOT_APPLICABLE, "%s", s->calc.coupon_note);
	quote_charge_digest(&s->calc.rec, digest);
	if (memcmp(digest, q->charge_digest.data, sizeof(digest)) != 0)
		return write_fail(
			&p->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_QUOTE_STALE,
			"the items, amounts or tax changed since quote %.28s; ask for a new quote",
			p->quote_id);
	q->method_mask = s->calc.rec.method_mask; /* the payer rules as of now */
	return 0;
}

/* 5. The payment: a method this payer may use on these projects (R11,
 * then R2), something to pay for, COUPON only for a coupon covering the
 * total, AUTO renewal only with CREDITS or a saved card. */
static int check_payment(placing *s)
{
	place_write *p = s->p;
	const store_quote *q = s->q;
	char why[160];
	int rc;

	/* The provider's own currency table (payments/currency.h). */
	if (q->total > 0 && pay_can_charge(p->method, q->currency, q->total, why, sizeof(why)))
		return write_fail(&p->w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "payment_method: %s cannot be charged %lld %s: %s",
				  orders_method_name(p->method), (long long)q->total, q->currency,
				  why);
	rc = check_method(s->txn, &p->w, q, p->method);
	if (rc)
		return rc;
	if (s->calc.rec.n_lines == 0)
		return write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION, NULL,
				  "quote %.28s has no items to pay for", p->quote_id);
	if (p->method == METHOD(COUPON) && (q->total != 0 || !q->coupon_code[0]))
		return write_fail(
			&p->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_COUPON_NOT_APPLICABLE,
			"payment_method: COUPON needs a coupon covering the total (%lld %s left "
			"to pay)",
			(long long)q->total, q->currency);
	if (q->input->renew_mode == RENEW(AUTO) && p->method != METHOD(CREDITS) &&
	    !(p->method == METHOD(STRIPE) && p->stripe_pm[0] && p->stripe_cus[0]))
		return write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_METHOD_NOT_ALLOWED,
				  "renew_mode AUTO needs CREDITS or a saved card (STRIPE with "
				  "stripe_customer_id and stripe_payment_method_id)");
	return 0;
}

/* 5b. No activation of an item held by an open order (R3, R9): an item
 * held by a PENDING_PAYMENT or PROCESSING order is not activated again
 * until that order has ended, so two activations placed from two quotes
 * never both charge (the second could only fail at settlement). Renewals
 * are not refused: two renewals are two periods the buyer asked for, and a
 * manual renewal must be placeable while an automatic one is pending or
 * retrying (issue 16 takes the item out of that period's order). */
static int check_not_held(placing *s)
{
	if (s->p->action != ACTION(ACTIVATE))
		return 0;
	for (size_t i = 0; i < s->calc.rec.n_lines; i++) {
		const char *id = s->calc.rec.lines[i]->item_id;
		int held = items_held_by_open_order(s->txn, id, s->now);
		if (held < 0)
			return held;
		if (held)
			return write_fail(&s->p->w, GRPC_STATUS_FAILED_PRECONDITION,
					  REASON_ITEM_IN_OPEN_ORDER,
					  "item '%s' is held by an open order (PENDING_PAYMENT or "
					  "PROCESSING); pay, cancel or let that order end first",
					  id);
	}
	return 0;
}

/* 5c. A manual renewal and an automatic one never both charge a period:
 * each renewed item leaves the renewal-group order that waits to charge
 * its current period (groups_release_item), in this transaction; one whose
 * automatic renewal is at the provider right now is refused. */
static int leave_auto_renewals(placing *s)
{
	place_write *p = s->p;
	char busy[GROUPS_ORDER_ID_MAX];
	int rc = 0;

	if (p->action != ACTION(RENEW))
		return 0;
	for (size_t i = 0; rc == 0 && i < s->calc.rec.n_lines; i++) {
		const char *item = s->calc.rec.lines[i]->item_id;
		rc = groups_release_item(s->txn, item, s->now, busy);
		if (rc == 1) {
			rpc_error_meta(p->w.call, "order_id", "%s", busy);
			rc = write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION,
					REASON_ITEM_IN_OPEN_ORDER,
					"item '%s': its automatic renewal for this period is being "
					"charged now (order %s); try again once it has an outcome",
					item, busy);
		}
	}
	return rc;
}

/* 6. The order record, PROCESSING, from the quote (its amounts), the
 * recomputed lines (the same charge: the digest was checked) and the
 * request (method, billing, saved card). Strings are borrowed. */
static void build_order(placing *s)
{
	place_write *p = s->p;
	const store_quote *q = s->q;
	store_order *o = &s->o;

	o->order_id = p->order_id;
	o->type = p->action == ACTION(ACTIVATE) ? OTYPE(ACTIVATION) : OTYPE(RENEWAL);
	o->status = OSTATUS(PROCESSING);
	o->payer_id = q->input->payer_id;
	o->installer_id = q->input->installer_id;
	o->project_type = q->input->project_type;
	o->n_lines = s->calc.rec.n_lines;
	o->lines = s->calc.rec.lines;
	o->subtotal = q->subtotal;
	o->discount = q->discount;
	o->total = q->total;
	o->currency = q->currency;
	o->credits_total = q->credits_total;
	o->coupon_code = q->coupon_code;
	o->payment_method = p->method;
	orders_set_billing(o, p->bill);
	o->provider_key = p->order_id;
	o->stripe_payment_method_id = (char *)p->stripe_pm;
	o->stripe_customer_id = (char *)p->stripe_cus;
	o->create_time = s->now;
	o->update_time = s->now;
	o->quote_id = (char *)p->quote_id;
	o->renew_mode = q->input->renew_mode ? q->input->renew_mode : RENEW(MANUAL);
	o->action = q->input->action;
	o->auto_renew_kind = q->input->auto_renew_kind;
	o->auto_renew_until = q->input->auto_renew_until;
	o->auto_renew_cycles = q->input->auto_renew_cycles;
	o->actor_id = p->caller.account_id;
	o->transfer_id = s->transfer;
	o->tax_treatment = s->calc.rec.tax_treatment;
	o->tax_rate_bp = s->calc.rec.tax_rate_bp;
	o->tax_inclusive = s->calc.rec.tax_inclusive;
	o->tax_country = s->calc.rec.tax_country;
	o->tax_region = s->calc.rec.tax_region;
	o->tax_total = s->calc.rec.tax_total;
	/* projects touched, for ListOrders' filter */
	o->project_ids = xcalloc(s->calc.rec.n_lines + 1, sizeof(char *));
	for (size_t i = 0; i < s->calc.rec.n_lines; i++) {
		const char *pid = s->calc.rec.lines[i]->project_id;
		size_t k = 0;
		while (k < o->n_project_ids && strcmp(o->project_ids[k], pid))
			k++;
		if (k == o->n_project_ids)
			o->project_ids[o->n_project_ids++] = (char *)pid;
	}
}

/* 7. The coupon reserved for this order (redeemed when it succeeds), and a
 * CREDITS payment debited now, in this transaction (R13). */
static int reserve_and_spend(placing *s)
{
	place_write *p = s->p;
	store_order *o = &s->o;
	int rc;

	if (s->q->coupon_code[0]) {
		rc = coupon_reserve(s->txn, s->q->coupon_code, o->payer_id, o->order_id, s->now);
		if (rc)
			return rc;
		o->coupon_reserved = 1;
	}
	/* A free-only order (R4) costs 0 credits: nothing moves in the ledger. */
	if (p->method != METHOD(CREDITS) || s->q->credits_total <= 0)
		return 0;
	rc = credits_spend(s->txn, o->payer_id, s->q->credits_total, o->order_id,
			   p->caller.account_id, s->transfer);
	if (rc == LEDGER_INSUFFICIENT) {
		rpc_error_meta(p->w.call, "requested", "%lld", (long long)s->q->credits_total);
		return write_fail(&p->w, GRPC_STATUS_FAILED_PRECONDITION,
				  REASON_INSUFFICIENT_CREDITS,
				  "payer '%s' has fewer than %lld credits", o->payer_id,
				  (long long)s->q->credits_total);
	}
	return rc;
}

/* 8. The quote remembers its order, in the order's own transaction; then
 * the order is created: applied now when already paid (CREDITS, or nothing
 * left to pay), else left PROCESSING for the provider (orders_open). */
static int bind_and_open(placing *s)
{
	place_write *p = s->p;
	store_quote *q = s->q;
	int rc;

	store_str_set(&q->order_id, p->order_id);
	store_str_set(&q->quote_id, s->short_id);
	rc = store_quote_put(s->txn, q, 0);
	if (rc == 0)
		rc = orders_open(s->txn, &p->w, &s->o, s->now,
				 p->method == METHOD(CREDITS) || q->total == 0, &p->need_provider,
				 &p->packed, &p->packed_len);
	return rc;
}

/*
 * The apply() of ActivateServices / RenewServices: phase 1 of a payment
 * inside the writer transaction, in the eight steps above. On success the
 * order is stored (and packed into p->packed for reply_place) and
 * p->need_provider says whether phases 2 and 3 follow.
 */
static int apply_place(store_txn *txn, rpc_write *w)
{
	placing s = {
		.p = (place_write *)w, .txn = txn, .now = clock_now_us(), .o = STORE_ORDER_INIT};
	int resumed = 0, rc;

	s.p->need_provider = 0;
	if ((rc = open_quote(&s)) != 0 || (rc = find_placed(&s, &resumed)) != 0 || resumed)
		goto done;
	if ((rc = check_quote(&s)) != 0 || (rc = recompute(&s)) != 0 ||
	    (rc = check_payment(&s)) != 0 || (rc = check_not_held(&s)) != 0 ||
	    (rc = leave_auto_renewals(&s)) != 0)
		goto done;
	build_order(&s);
	if ((rc = reserve_and_spend(&s)) == 0)
		rc = bind_and_open(&s);
done:
	if (rc == 0 && s.p->then)
		rc = s.p->then(txn, w, s.p->order_id, s.p->then_ref);
	free(s.o.project_ids);
	quote_calc_free(&s.calc);
	store_record_free(s.q);
	return rc;
}

static void reply_place(rpc_write *w)
{
	place_write *p = (place_write *)w;
	orders_reply_placed(w->call, p->packed, p->packed_len, p->need_provider);
}

static void cleanup_place(rpc_write *w)
{
	free(((place_write *)w)->packed);
	free(((place_write *)w)->quote_copy);
}

static int fail_arg(rpc_call *call, const char *msg)
{
	BAD_ARG(call, "%s", msg);
	return 1;
}

int orders_check_payment_args(rpc_call *call, int method,
			      const Smartplus__Billing__V1__BillingInfo *bill, int terms,
			      const char *pm, const char *cus)
{
	if (!valid_enum(&smartplus__billing__v1__payment_method__descriptor, method))
		return fail_arg(call, "payment_method: required");
	if (!bill)
		return fail_arg(call, "billing_info: required");
	if (!bill->name[0])
		return fail_arg(call, "billing_info.name: required");
	if (!bill->email[0] || !strchr(bill->email, '@'))
		return fail_arg(call, "billing_info.email: a valid email address is required");
	if (!tax_country_ok(bill->country))
		return fail_arg(call,
				"billing_info.country: an ISO-3166 alpha-2 code in upper case "
				"(such as DE) is required");
	if (!tax_region_ok(bill->region))
		return fail_arg(call, "billing_info.region: [A-Z0-9]{0,32}");
	if (!terms) {
		rpc_fail(call, GRPC_STATUS_FAILED_PRECONDITION, REASON_TERMS_NOT_ACCEPTED,
			 "terms_accepted: the terms and conditions must be accepted");
		return 1;
	}
	if (method != METHOD(STRIPE) && (pm[0] || cus[0]))
		return fail_arg(call, "stripe_payment_method_id: only with payment_method STRIPE");
	return 0;
}

void orders_place_quote(rpc_call *call, int action, const char *quote_id, int method,
			const Smartplus__Billing__V1__BillingInfo *bill, int terms, const char *pm,
			const char *cus, orders_placed_fn then, const char *ref)
{
	place_write *p;

	if (strncmp(quote_id, "quo_", 4) != 0 || strlen(quote_id) >= QUOTE_TOKEN_MAX) {
		BAD_ARG(call, "quote_id: not a quote id");
		return;
	}
	if (orders_check_payment_args(call, method, bill, terms, pm, cus))
		return;
	p = write_new(call, sizeof(*p));
	p->caller = *rpc_call_caller(call);
	p->action = action;
	p->quote_copy = xstrdup(quote_id);
	p->quote_id = p->quote_copy;
	p->method = method;
	p->bill = bill;
	p->stripe_pm = pm;
	p->stripe_cus = cus;
	p->then = then;
	snprintf(p->then_ref, sizeof(p->then_ref), "%s", ref ? ref : "");
	if (quote_new_id("ord_", p->order_id) != 0) {
		free(p->quote_copy);
		free(p);
		handler_fail_internal(call, "no random bytes for an order id");
		return;
	}
	p->w.apply = apply_place;
	p->w.reply = reply_place;
	p->w.cleanup = cleanup_place;
	write_submit(&p->w);
}

void rpc_BillingService_ActivateServices(struct rpc_call *call,
					 const Smartplus__Billing__V1__ActivateServicesRequest *req)
{
	orders_place_quote(call, ACTION(ACTIVATE), req->quote_id, req->payment_method,
			   req->billing_info, req->terms_accepted, req->stripe_payment_method_id,
			   req->stripe_customer_id, NULL, NULL);
}

void rpc_BillingService_RenewServices(struct rpc_call *call,
				      const Smartplus__Billing__V1__RenewServicesRequest *req)
{
	orders_place_quote(call, ACTION(RENEW), req->quote_id, req->payment_method,
			   req->billing_info, req->terms_accepted, req->stripe_payment_method_id,
			   req->stripe_customer_id, NULL, NULL);
}
