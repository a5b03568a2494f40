/*
 * autorenew.c: BillingService.SetAutoRenew (R8 auto mode), and the R2/R11
 * rule of who may pay automatic renewals, shared with the scheduler which
 * checks it again before every charge.
 *
 * Turning auto-renew on needs a saved card (STRIPE with a Stripe customer
 * and payment method) on a regular-payment project, or CREDITS on a
 * credit-paid one, and a payer allowed by R11: an ancestor of the
 * installer, the installer itself under its payment policy, or the
 * project's property manager with CREDITS. Only items that were activated
 * (ACTIVE or EXPIRED) can be put on AUTO. Turning it off clears the
 * settings. The whole request succeeds or fails as one.
 */
#include "autorenew.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "handler.h"
#include "items.h"
#include "policy.h"
#include "renewal_groups.h"
#include "rpc_handlers.h"
#include "write.h"
#include "xalloc.h"

#define MAX_ITEMS 1000

int autorenew_payer_allowed(store_txn *txn, const store_project *p, const char *payer_id,
			    int method, char *why, size_t cap)
{
	int pay = 0, anc = 0, rc;
	uint32_t mask = 0;

	if (strcmp(payer_id, p->installer_id) == 0) {
		rc = policy_allowed_methods(txn, payer_id, &pay, &mask);
		if (rc < 0)
			return rc;
		if (pay && (mask & (1u << method)))
			return 1;
		snprintf(why, cap,
			 "installer '%s' may not pay with this method: its payment policy "
			 "does not allow it",
			 payer_id);
		return 0;
	}
	rc = store_account_is_self_or_ancestor(txn, payer_id, p->installer_id, &anc);
	if (rc < 0 && rc != STORE_NOTFOUND)
		return rc;
	if (rc == 0 && anc)
		return 1;
	if (p->property_manager_id[0] && strcmp(p->property_manager_id, payer_id) == 0) {
		if (method == METHOD(CREDITS))
			return 1;
		snprintf(why, cap, "property manager '%s' may pay with CREDITS only", payer_id);
		return 0;
	}
	snprintf(why, cap,
		 "payer '%s' may not pay for project '%s': not an ancestor of its "
		 "installer, the installer, or its property manager",
		 payer_id, p->project_id);
	return 0;
}

typedef struct autorenew_write {
	rpc_write w;
	rpc_caller caller;
	const Smartplus__Billing__V1__SetAutoRenewRequest *req;
	const char *payer_id;
	int64_t until;
	int32_t cycles;
	int64_t anchor;
	store_group *group; /* the group the items go to (enabled) */
	uint8_t *packed;
	size_t packed_len;
	char field[32]; /* "item_ids[i]" of the item being checked */
} autorenew_write;

/* Checks that the caller may change item `it` of project p and, when
 * turning it on, the R2/R8/R11 rules. 0, a write_fail() code or STORE_*. */
static int check_item(store_txn *txn, autorenew_write *s, const store_item *it,
		      const store_project *p)
{
	const Smartplus__Billing__V1__SetAutoRenewRequest *req = s->req;
	char why[200];
	int may, model, ok;

	may = p->property_manager_id[0] && strcmp(p->property_manager_id, s->caller.account_id) == 0
		      ? 1
		      : auth_may_act(txn, &s->caller, p->installer_id);
	if (may < 0)
		return may;
	if (!may)
		return write_fail(&s->w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
				  s->field);
	if (!req->enabled)
		return 0;
	if (it->status != STORE_ITEM_ACTIVE)
		return write_fail(&s->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ITEM_STATE,
				  "item '%s' was never activated; only ACTIVE or EXPIRED items can "
				  "renew automatically",
				  it->item_id);
	model = catalog_payment_model(p->type, p->created_at, billingd.cfg.cutover_us);
	if (!catalog_model_allows(model, req->payment_method))
		return write_fail(&s->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_METHOD_NOT_ALLOWED,
				  "payment_method: project '%s' is paid %s; auto-renew it with %s",
				  p->project_id,
				  model == MODEL(CREDITS) ? "in credits" : "by regular payment",
				  model == MODEL(CREDITS) ? "CREDITS" : "STRIPE and a saved card");
	ok = autorenew_payer_allowed(txn, p, s->payer_id, req->payment_method, why, sizeof(why));
	if (ok < 0)
		return ok;
	if (!ok)
		return write_fail(&s->w, GRPC_STATUS_PERMISSION_DENIED,
				  REASON_PAYMENT_NOT_PERMITTED, "%s", why);
	return 0;
}

/* Applies the settings to `it` (a record the caller owns). */
static void set_item(autorenew_write *s, store_item *it, store_auto_renew *ar)
{
	const Smartplus__Billing__V1__SetAutoRenewRequest *req = s->req;
	const store_auto_renew *was = it->auto_renew;
	if (!req->enabled) {
		it->auto_renew = NULL;
		it->renew_mode = RENEW(MANUAL);
		return;
	}
	/* New settings, new count: cycles start over. The open renewal order
	 * of its group that holds it (and so its grace) stays with it. */
	if (was && was->order_id[0] && strcmp(was->group_id, s->group->group_id) == 0) {
		ar->order_id = was->order_id;
		ar->unpaid_since = was->unpaid_since;
		ar->failed_attempts = was->failed_attempts;
	} else if (was) {
		ar->unpaid_since = was->unpaid_since;
	}
	ar->group_id = s->group->group_id;
	ar->enabled = 1;
	ar->payer_id = (char *)s->payer_id;
	ar->payment_method = req->payment_method;
	ar->stripe_customer_id = req->stripe_customer_id;
	ar->stripe_payment_method_id = req->stripe_payment_method_id;
	ar->until = s->until;
	ar->cycles = s->cycles;
	it->auto_renew = ar;
	it->renew_mode = RENEW(AUTO);
}

/* The group the items go to, chosen once with the first item (whose
 * expiry anchors a new group when nothing else decides). */
static int choose_group(store_txn *txn, autorenew_write *s, const store_item *first, int64_t now)
{
	const Smartplus__Billing__V1__SetAutoRenewRequest *req = s->req;
	groups_want want = {
		.payer_id = s->payer_id,
		.method = req->payment_method,
		.stripe_customer_id = req->stripe_customer_id,
		.stripe_payment_method_id = req->stripe_payment_method_id,
		.group_id = req->renewal_group_id,
		.anchor = s->anchor,
		.first_expiry = first->expires_at > now ? first->expires_at : now,
	};
	char why[200];
	int rc = groups_choose(txn, &want, now, &s->group, why, sizeof(why));
	if (rc == 1)
		return write_fail(&s->w, GRPC_STATUS_FAILED_PRECONDITION, NULL, "%s", why);
	return rc;
}

/* An item turned off, or moving to another group, leaves the open renewal
 * order of its old group (its period is not charged twice, nor forgotten:
 * the new group's next order takes it); one at the provider right now
 * refuses the whole request. *it is read again afterwards. */
static int leave_orders(store_txn *txn, autorenew_write *s, store_item **it)
{
	const store_auto_renew *ar = (*it)->auto_renew;
	char busy[GROUPS_ORDER_ID_MAX];
	int rc;

	if (!ar || !ar->order_id[0] ||
	    (s->req->enabled && strcmp(ar->group_id, s->group->group_id) == 0))
		return 0;
	rc = groups_release_item(txn, (*it)->item_id, clock_now_us(), busy);
	if (rc == 1) {
		rpc_error_meta(s->w.call, "order_id", "%s", busy);
		return write_fail(&s->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ITEM_IN_OPEN_ORDER,
				  "%s: item '%s' is being charged for its renewal now (order %s); "
				  "try again once it has an outcome",
				  s->field, (*it)->item_id, busy);
	}
	if (rc == 0) {
		char id[ITEMS_REF_MAX];
		snprintf(id, sizeof(id), "%s", (*it)->item_id);
		store_record_free(*it);
		*it = NULL;
		rc = store_item_get(txn, id, it);
	}
	return rc;
}

static int apply_autorenew(store_txn *txn, rpc_write *w)
{
	autorenew_write *s = (autorenew_write *)w;
	const Smartplus__Billing__V1__SetAutoRenewRequest *req = s->req;
	Smartplus__Billing__V1__SetAutoRenewResponse r =
		SMARTPLUS__BILLING__V1__SET_AUTO_RENEW_RESPONSE__INIT;
	store_item **items = xcalloc(req->n_item_ids, sizeof(*items));
	store_auto_renew *ars = xcalloc(req->n_item_ids, sizeof(*ars)), **orig = NULL;
	int64_t now = clock_now_us();
	arena *a = arena_new();
	int rc = 0, may;

	orig = xcalloc(req->n_item_ids, sizeof(*orig));
	store_record_free(s->group);
	s->group = NULL;
	if (req->enabled) {
		may = auth_may_act(txn, &s->caller, s->payer_id);
		if (may <= 0) {
			rc = may < 0 ? may
				     : write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL,
						  AUTH_DENIED, "payer_id");
			goto done;
		}
	}
	r.items = arena_alloc(a, req->n_item_ids * sizeof(*r.items));
	for (size_t i = 0; rc == 0 && i < req->n_item_ids; i++) {
		store_project *p = NULL;
		int is_free = 0;
		rc = store_item_get(txn, req->item_ids[i], &items[i]);
		snprintf(s->field, sizeof(s->field), "item_ids[%zu]", i);
		if (rc == STORE_NOTFOUND) {
			rc = write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
					s->field);
			break;
		}
		if (rc == 0)
			rc = store_project_get(txn, items[i]->project_id, &p);
		if (rc == 0)
			rc = check_item(txn, s, items[i], p);
		if (rc == 0 && req->enabled && !s->group)
			rc = choose_group(txn, s, items[i], now);
		if (rc == 0)
			rc = leave_orders(txn, s, &items[i]);
		if (rc == 0) {
			smartplus__billing__store__v1__item_record__auto_renew__init(&ars[i]);
			orig[i] = items[i]->auto_renew;
			if (orig[i]) { /* the buyer its renewals are billed to stays */
				ars[i].bill_name = orig[i]->bill_name;
				ars[i].bill_email = orig[i]->bill_email;
				ars[i].bill_company = orig[i]->bill_company;
				ars[i].bill_address = orig[i]->bill_address;
				ars[i].bill_country = orig[i]->bill_country;
				ars[i].bill_region = orig[i]->bill_region;
				ars[i].bill_tax_id = orig[i]->bill_tax_id;
			}
			set_item(s, items[i], &ars[i]);
			rc = store_item_put(txn, items[i], 0);
		}
		if (rc == 0)
			rc = items_is_free(txn, p, items[i], &is_free);
		if (rc == 0)
			r.items[r.n_items++] = conv_item(a, items[i], now, is_free);
		store_record_free(p);
	}
	if (rc == 0 && s->group) {
		size_t members = 0;
		rc = store_item_count_by_group(txn, s->group->group_id, &members);
		r.renewal_group = groups_conv(a, s->group, now, (int64_t)members);
	}
	if (rc == 0) {
		free(s->packed);
		s->packed_len = protobuf_c_message_get_packed_size(&r.base);
		s->packed = xmalloc(s->packed_len);
		protobuf_c_message_pack(&r.base, s->packed);
	}
done:
	for (size_t i = 0; items && i < req->n_item_ids; i++) {
		if (items[i] && orig)
			items[i]->auto_renew = orig[i];
		store_record_free(items[i]);
	}
	free(items);
	free(ars);
	free(orig);
	arena_free(a);
	return rc;
}

static void reply_autorenew(rpc_write *w)
{
	autorenew_write *s = (autorenew_write *)w;
	Smartplus__Billing__V1__SetAutoRenewResponse *r =
		smartplus__billing__v1__set_auto_renew_response__unpack(NULL, s->packed_len,
									s->packed);
	if (!r) {
		handler_fail_internal(w->call, "the packed response does not unpack");
		return;
	}
	rpc_reply(w->call, &r->base);
	smartplus__billing__v1__set_auto_renew_response__free_unpacked(r, NULL);
}

static void cleanup_autorenew(rpc_write *w)
{
	free(((autorenew_write *)w)->packed);
	store_record_free(((autorenew_write *)w)->group);
}

void rpc_BillingService_SetAutoRenew(struct rpc_call *call,
				     const Smartplus__Billing__V1__SetAutoRenewRequest *req)
{
	const rpc_caller *caller = rpc_call_caller(call);
	const Smartplus__Billing__V1__AutoRenewTerm *t = req->term;
	int64_t until = 0, anchor = 0;
	int32_t cycles = 0;
	autorenew_write *s;
	int ok = 1;

	if (req->n_item_ids == 0 || req->n_item_ids > MAX_ITEMS) {
		BAD_ARG(call, "item_ids: give 1..%d items", MAX_ITEMS);
		return;
	}
	for (size_t i = 0; i < req->n_item_ids; i++)
		if (!items_valid_ref(req->item_ids[i])) {
			BAD_ARG(call, "item_ids: '%s' is not a valid id", req->item_ids[i]);
			return;
		}
	if (req->enabled) {
		if (req->payer_id[0] && handler_check_id(call, "payer_id", req->payer_id))
			return;
		if (req->payment_method == METHOD(STRIPE)) {
			if (!req->stripe_customer_id[0]) {
				BAD_ARG(call,
					"stripe_customer_id: required with STRIPE (a saved card)");
				return;
			}
			if (!req->stripe_payment_method_id[0]) {
				BAD_ARG(call, "stripe_payment_method_id: required with "
					      "STRIPE (a saved card)");
				return;
			}
		} else if (req->payment_method == METHOD(CREDITS)) {
			if (req->stripe_customer_id[0] || req->stripe_payment_method_id[0]) {
				BAD_ARG(call, "stripe_payment_method_id: only with "
					      "payment_method STRIPE");
				return;
			}
		} else {
			{
				BAD_ARG(call,
					"payment_method: STRIPE (with a saved card) or CREDITS");
				return;
			}
		}
		if (t && t->end_case == TERM(UNTIL)) {
			until = conv_us(t->until, &ok);
			if (!ok || until <= clock_now_us()) {
				BAD_ARG(call, "term.until: must be a time in the future");
				return;
			}
		} else if (t && t->end_case == TERM(CYCLES)) {
			if (t->cycles < 1) {
				BAD_ARG(call, "term.cycles: must be >= 1");
				return;
			}
			cycles = t->cycles;
		}
		if (req->renewal_group_id[0] && strncmp(req->renewal_group_id, "rgp_", 4) != 0) {
			BAD_ARG(call, "renewal_group_id: not a renewal group id (rgp_...)");
			return;
		}
		if (req->anchor_time) {
			anchor = conv_us(req->anchor_time, &ok);
			if (!ok || anchor <= 0) {
				BAD_ARG(call, "anchor_time: out of range");
				return;
			}
			if (req->renewal_group_id[0]) {
				BAD_ARG(call, "anchor_time: give either renewal_group_id or "
					      "anchor_time");
				return;
			}
		}
	} else if (req->renewal_group_id[0] || req->anchor_time) {
		BAD_ARG(call, "renewal_group_id: only when turning auto-renew on");
		return;
	}
	s = write_new(call, sizeof(*s));
	s->caller = *caller;
	s->req = req;
	s->payer_id = req->payer_id[0] ? req->payer_id : s->caller.account_id;
	s->until = until;
	s->cycles = cycles;
	s->anchor = anchor;
	s->w.apply = apply_autorenew;
	s->w.reply = reply_autorenew;
	s->w.cleanup = cleanup_autorenew;
	write_submit(&s->w);
}
