/*
 * order_effects.c: applying a settled order (see order_effects.h): each line
 * extends its item from its expiry (or from now, for an item not active),
 * with the order's renewal settings; a credit purchase grants its credits;
 * the coupon reservation becomes a redemption, or is released.
 */
#include "order_effects.h"

#include <stdatomic.h>

#include <string.h>

#include "credits.h"
#include "enums.h"
#include "event_sources.h"
#include "invoices.h"
#include "log.h"
#include "pricing.h"
#include "quote.h"
#include "renewal_groups.h"

/*
 * Line identity (R9): a line applies only to exactly the item it priced,
 * the same id in the same project with the same service type and creation
 * sequence (a deleted and re-created id is another item), and an
 * activation only to an item still INACTIVE (R7: activated meanwhile, it
 * would be extended instead, paid for twice). Returns 1 when the item is
 * still that one, 0 when it is gone or another, or STORE_*.
 */
static int line_matches(store_txn *txn, const store_order *o, const store_line *l)
{
	store_item *it = NULL;
	int rc = store_item_get(txn, l->item_id, &it), same;
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	same = strcmp(it->project_id, l->project_id) == 0 && it->service_type == l->service_type &&
	       (!l->item_create_seq || it->create_seq == l->item_create_seq) &&
	       (o->type != OTYPE(ACTIVATION) || it->status == STORE_ITEM_INACTIVE);
	store_record_free(it);
	return same;
}

int orders_lines_match(store_txn *txn, const store_order *o)
{
	for (size_t i = 0; i < o->n_lines; i++) {
		int m = line_matches(txn, o, o->lines[i]);
		if (m != 1)
			return m;
	}
	return 1;
}

static int apply_line(store_txn *w, const store_order *o, store_line *l, int64_t now)
{
	store_item *it = NULL;
	store_auto_renew ar = STORE_AUTO_RENEW_INIT, *orig;
	char busy[GROUPS_ORDER_ID_MAX];
	int64_t base, nexp;
	int rc = 0;

	/* This order pays the item's current period: the automatic renewal
	 * waiting to charge it lets go (it was asked at placement; it may have
	 * taken the item back since). One at the provider right now keeps it:
	 * its line is then not applied when it succeeds (order_effects'
	 * period check) and is owed back. */
	if (o->type == OTYPE(RENEWAL))
		rc = groups_release_item(w, l->item_id, now, busy);
	if (rc < 0)
		return rc;
	rc = store_item_get(w, l->item_id, &it);
	if (rc)
		return rc; /* orders_lines_match() saw it a moment ago */
	if (it->status != STORE_ITEM_ACTIVE)
		base = now;
	else if (conv_item_status(it, now) == ISTATUS(GRACE))
		base = it->expires_at; /* the service went on in grace */
	else
		base = it->expires_at > now ? it->expires_at : now;
	if (l->months > 0)
		rc = pricing_add_months(base, l->months, &nexp) ? STORE_INVALID : 0;
	else
		nexp = l->new_expires_at > base ? l->new_expires_at : base;
	orig = it->auto_renew;
	if (rc == 0) {
		it->status = STORE_ITEM_ACTIVE;
		it->expires_at = nexp;
		l->new_expires_at = nexp;
		if (o->renew_mode)
			it->renew_mode = o->renew_mode;
		if (o->renew_mode == RENEW(AUTO)) {
			ar.enabled = 1;
			ar.payer_id = o->payer_id;
			ar.payment_method = o->payment_method;
			ar.stripe_customer_id = o->stripe_customer_id;
			ar.stripe_payment_method_id = o->stripe_payment_method_id;
			ar.until = o->auto_renew_kind == 1 ? o->auto_renew_until : 0;
			ar.cycles = o->auto_renew_kind == 2 ? o->auto_renew_cycles : 0;
			ar.next_attempt = nexp;
			ar.bill_name = o->bill_name;
			ar.bill_email = o->bill_email;
			ar.bill_company = o->bill_company;
			ar.bill_address = o->bill_address;
			ar.bill_country = o->bill_country;
			ar.bill_region = o->bill_region;
			ar.bill_tax_id = o->bill_tax_id;
			it->auto_renew = &ar;
		} else if (o->renew_mode == RENEW(MANUAL) && orig) {
			/* renewed by hand: off, and out of its renewal group */
			orig->enabled = 0;
			orig->unpaid_since = 0;
			store_str_set(&orig->group_id, "");
			store_str_set(&orig->order_id, "");
		}
		rc = store_item_put(w, it, 0);
	}
	it->auto_renew = orig;
	store_record_free(it);
	return rc;
}

/* The credits a CREDIT_PURCHASE order bought: issuance -> beneficiary. */
static int grant_credits(store_txn *w, store_order *o, int64_t now)
{
	int rc;
	(void)now;
	if (o->credits_quantity <= 0)
		return STORE_INVALID;
	rc = credits_grant(w, o->beneficiary_id, o->credits_quantity, o->order_id, o->actor_id,
			   NULL);
	return rc > 0 ? STORE_INVALID : rc;
}

/* Every line extends its item. */
static int extend_lines(store_txn *w, store_order *o, int64_t now)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < o->n_lines; i++)
		rc = apply_line(w, o, o->lines[i], now);
	return rc;
}

/* An AUTO_RENEWAL order's one line: when the item was renewed by hand
 * since the order was placed, this payment buys the 30 days after whatever
 * the item has now, not the period it was priced for. */
static int renew_line(store_txn *w, store_order *o, int64_t now)
{
	store_item *it = NULL;
	store_line *l = o->n_lines == 1 ? o->lines[0] : NULL;
	int rc = l ? store_item_get(w, l->item_id, &it) : STORE_INVALID;
	if (rc == 0 && it->expires_at != l->current_expires_at)
		l->new_expires_at = (it->expires_at > now ? it->expires_at : now) +
				    PRICING_MONTH_US;
	store_record_free(it);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return rc;
	return extend_lines(w, o, now);
}

/* A renewal group's order (group_id set): each line moves its item from
 * the period it priced (current_expires_at) to the period's end, exactly
 * once. A line whose item is no longer at that period (it was renewed
 * otherwise since; manual renewals take their item out of the order first,
 * so this is a race lost) is not applied, and what it cost is owed back:
 * needs_refund. So is a payment taken for more than the order's lines (a
 * line dropped after the provider's payment was last set). */
static int renew_group_lines(store_txn *w, store_order *o, int64_t now)
{
	int rc = 0;
	(void)now;
	if (o->provider_amount > o->total)
		o->needs_refund = 1;
	for (size_t i = 0; rc == 0 && i < o->n_lines; i++) {
		store_line *l = o->lines[i];
		store_item *it = NULL;
		rc = store_item_get(w, l->item_id, &it);
		if (rc)
			break;
		if (it->status != STORE_ITEM_ACTIVE || it->expires_at != l->current_expires_at) {
			log_warn("order %s: item %s is no longer at the period it priced; its line "
				 "is not applied and is owed back",
				 o->order_id, l->item_id);
			o->needs_refund = 1;
		} else {
			it->expires_at = l->new_expires_at;
			rc = store_item_put(w, it, 0);
		}
		store_record_free(it);
	}
	return rc;
}

static int renew_auto(store_txn *w, store_order *o, int64_t now)
{
	return o->group_id && o->group_id[0] ? renew_group_lines(w, o, now) : renew_line(w, o, now);
}

/* One row per order type: the effects its success has. (The auto-renewal
 * bookkeeping of the item's retry state is the settle hook below, which the
 * renewal scheduler supplies.) */
static const struct order_kind {
	int type;
	int (*succeed)(store_txn *w, store_order *o, int64_t now);
} kinds[] = {
	{OTYPE(ACTIVATION), extend_lines},
	{OTYPE(RENEWAL), extend_lines},
	{OTYPE(AUTO_RENEWAL), renew_auto},
	{OTYPE(CREDIT_PURCHASE), grant_credits},
};

/* Set once at start-up (scheduler_init), read by every settling thread. */
static _Atomic(orders_settle_hook) settle_hook;

void orders_set_settle_hook(orders_settle_hook fn)
{
	atomic_store(&settle_hook, fn);
}

static int call_settle_hook(store_txn *w, store_order *o, int succeeded, int64_t now)
{
	orders_settle_hook fn = atomic_load(&settle_hook);
	return fn ? fn(w, o, succeeded, now) : 0;
}

/* What the payer gave for o, if anything: a card or PayPal charge, or the
 * credits debited. */
static int money_taken(const store_order *o)
{
	if (o->payment_method == METHOD(CREDITS))
		return o->credits_total > 0;
	return (o->payment_method == METHOD(STRIPE) || o->payment_method == METHOD(PAYPAL)) &&
	       o->total > 0;
}

int orders_succeed(store_txn *w, store_order *o, int64_t now)
{
	int rc = orders_lines_match(w, o);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* An item changed under the order: nothing is applied, and what
		 * was paid is owed back (never silently kept). */
		o->needs_refund = money_taken(o);
		log_warn("order %s: an item it priced was deleted or replaced before settlement; "
			 "the order fails%s",
			 o->order_id, o->needs_refund ? " and is flagged for refund" : "");
		return orders_end(w, o, OSTATUS(FAILED), ORDERS_ITEM_CHANGED, now);
	}
	if (o->type == OTYPE(CREDIT_PURCHASE)) {
		/* Credits that cannot land (a balance would overflow) fail the
		 * order, owed back, instead of leaving it PROCESSING for ever. */
		rc = credits_grant_fits(w, o->beneficiary_id, o->credits_quantity);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			o->needs_refund = money_taken(o);
			log_warn("order %s: %lld credits do not fit the balance of '%s'; the order "
				 "fails%s",
				 o->order_id, (long long)o->credits_quantity, o->beneficiary_id,
				 o->needs_refund ? " and is flagged for refund" : "");
			return orders_end(w, o, OSTATUS(FAILED), ORDERS_CREDITS_DO_NOT_FIT, now);
		}
	}
	rc = STORE_INVALID;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (kinds[k].type == o->type)
			rc = kinds[k].succeed(w, o, now);
	if (rc == 0 && o->coupon_reserved) {
		rc = coupon_settle(w, o->coupon_code, o->payer_id, 1, now);
		o->coupon_reserved = 0;
	}
	if (rc == 0)
		rc = call_settle_hook(w, o, 1, now);
	o->status = OSTATUS(SUCCEEDED);
	o->update_time = now;
	if (rc == 0) /* the invoice's number is taken in this same transaction */
		rc = invoice_issue(w, o, now, NULL);
	if (rc == 0)
		rc = events_order_settled(w, o);
	return rc;
}

int orders_end(store_txn *w, store_order *o, int status, const char *why, int64_t now)
{
	int rc = 0;
	if (o->coupon_reserved) {
		rc = coupon_settle(w, o->coupon_code, o->payer_id, 0, now);
		o->coupon_reserved = 0;
	}
	o->status = status;
	o->update_time = now;
	if (why)
		o->failure_reason = (char *)why;
	if (rc == 0)
		rc = call_settle_hook(w, o, 0, now);
	if (rc == 0)
		rc = events_order_settled(w, o);
	return rc;
}

int orders_attempt_failed(store_txn *w, store_order *o, const char *why, int64_t now)
{
	o->status = OSTATUS(PENDING_PAYMENT);
	o->recoverable = 1;
	o->update_time = now;
	if (why)
		o->failure_reason = (char *)why;
	return call_settle_hook(w, o, -1, now);
}
