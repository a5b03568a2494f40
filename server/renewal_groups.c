/*
 * renewal_groups.c: renewal groups (see renewal_groups.h) and
 * BillingService.ListRenewalGroups.
 */
#include "renewal_groups.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "enums.h"
#include "grace.h"
#include "handler.h"
#include "log.h"
#include "pricing.h"
#include "rpc_handlers.h"
#include "store_order.h"
#include "xalloc.h"

#define GROUPS_SCAN_MAX 64 /* a payer's groups looked at to choose one */

int groups_anchor_day(int64_t t)
{
	int64_t d = t >= 0 ? t / PRICING_DAY_US : 0;
	return (int)(d % PRICING_MONTH_DAYS);
}

void groups_id(const char *payer_id, int method, const char *cus, const char *pm, int anchor_day,
	       char out[GROUPS_ID_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH], in[700];
	size_t n = 0;
	const char *parts[3] = {payer_id, cus ? cus : "", pm ? pm : ""};

	for (int i = 0; i < 3; i++) {
		size_t len = strnlen(parts[i], 255);
		memcpy(in + n, parts[i], len);
		n += len;
		in[n++] = 0;
	}
	in[n++] = (unsigned char)method;
	in[n++] = (unsigned char)anchor_day;
	SHA256(in, n, md);
	memcpy(out, "rgp_", 4);
	for (int i = 0; i < 12; i++) {
		out[4 + 2 * i] = hex[md[i] >> 4];
		out[5 + 2 * i] = hex[md[i] & 15];
	}
	out[28] = 0;
}

int64_t groups_boundary_after(const store_group *g, int64_t t)
{
	int64_t d = t - g->anchor, k;
	/* floor division, then the next one */
	k = d >= 0 ? d / PRICING_MONTH_US : -((-d + PRICING_MONTH_US - 1) / PRICING_MONTH_US);
	return g->anchor + (k + 1) * PRICING_MONTH_US;
}

int groups_on_boundary(const store_group *g, int64_t t)
{
	int64_t d = t - g->anchor;
	return d % PRICING_MONTH_US == 0;
}

static int same_method(const store_group *g, const groups_want *w)
{
	return strcmp(g->payer_id, w->payer_id) == 0 && g->payment_method == w->method &&
	       strcmp(g->stripe_customer_id, w->stripe_customer_id ? w->stripe_customer_id : "") ==
		       0 &&
	       strcmp(g->stripe_payment_method_id,
		      w->stripe_payment_method_id ? w->stripe_payment_method_id : "") == 0;
}

/* The payer's oldest group with w's method and card, or NULL. */
static int oldest_group(store_txn *txn, const groups_want *w, store_group **out)
{
	store_list l = {0};
	int rc = store_group_list_by_payer(txn, w->payer_id, GROUPS_SCAN_MAX, NULL, &l);
	*out = NULL;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		store_group *g = l.items[i];
		if (same_method(g, w) && (!*out || g->create_time < (*out)->create_time))
			*out = g;
	}
	for (size_t i = 0; i < l.n; i++)
		if (l.items[i] == *out)
			l.items[i] = NULL; /* kept: the caller frees it */
	for (size_t i = 0; i < l.n; i++)
		store_record_free(l.items[i]);
	l.n = 0;
	store_list_free(&l);
	return rc;
}

static int make_group(store_txn *txn, const groups_want *w, int64_t anchor, int64_t now,
		      store_group **out)
{
	store_group g = STORE_GROUP_INIT;
	char id[GROUPS_ID_MAX];
	int rc;

	g.anchor_day = groups_anchor_day(anchor);
	groups_id(w->payer_id, w->method, w->stripe_customer_id, w->stripe_payment_method_id,
		  g.anchor_day, id);
	rc = store_group_get(txn, id, out);
	if (rc != STORE_NOTFOUND)
		return rc; /* the group of that day exists: it is the one */
	g.group_id = id;
	g.payer_id = (char *)w->payer_id;
	g.payment_method = w->method;
	g.stripe_customer_id = (char *)(w->stripe_customer_id ? w->stripe_customer_id : "");
	g.stripe_payment_method_id = (char *)(w->stripe_payment_method_id
						      ? w->stripe_payment_method_id
						      : "");
	g.anchor = anchor;
	g.create_time = now;
	g.update_time = now;
	{
		/* its first renewal.upcoming notice (a lead already passed: at
		 * once, on the scheduler's next round) */
		const int64_t *leads;
		if (grace_notices(&leads) > 0) {
			g.notice_due = groups_boundary_after(&g, now) - leads[0];
			if (g.notice_due < now)
				g.notice_due = now;
		}
	}
	rc = store_group_put(txn, &g, 1);
	if (rc == 0)
		rc = store_group_get(txn, id, out);
	if (rc == 0)
		log_info("renewal group %s created for payer %s (day %d of the cycle)", id,
			 w->payer_id, g.anchor_day);
	return rc;
}

int groups_choose(store_txn *txn, const groups_want *w, int64_t now, store_group **out, char *why,
		  size_t cap)
{
	int rc;

	*out = NULL;
	if (w->group_id && w->group_id[0]) {
		rc = store_group_get(txn, w->group_id, out);
		if (rc == STORE_NOTFOUND || (rc == 0 && strcmp((*out)->payer_id, w->payer_id))) {
			store_record_free(*out);
			*out = NULL;
			snprintf(why, cap, "renewal_group_id: payer '%s' has no group '%s'",
				 w->payer_id, w->group_id);
			return 1;
		}
		if (rc == 0 && !same_method(*out, w)) {
			store_record_free(*out);
			*out = NULL;
			snprintf(why, cap,
				 "renewal_group_id: group '%s' renews with another payment method "
				 "or card",
				 w->group_id);
			return 1;
		}
		return rc;
	}
	if (w->anchor > 0)
		return make_group(txn, w, w->anchor, now, out);
	rc = oldest_group(txn, w, out);
	if (rc || *out)
		return rc;
	return make_group(txn, w, w->first_expiry > 0 ? w->first_expiry : now, now, out);
}

/* Takes line i out of o (a record the caller owns) and sets its totals
 * again. */
static void drop_line(store_order *o, size_t i)
{
	store_line *l = o->lines[i];
	if (o->payment_method == METHOD(CREDITS)) {
		o->credits_total -= l->credits;
		o->subtotal = o->credits_total;
	} else {
		o->total -= l->amount;
		o->subtotal -= l->amount;
	}
	protobuf_c_message_free_unpacked(&l->base, NULL);
	memmove(&o->lines[i], &o->lines[i + 1], (o->n_lines - i - 1) * sizeof(*o->lines));
	o->n_lines--;
}

/* Drops item_id's lines from open group order o (PENDING_PAYMENT). */
static int release_from(store_txn *w, store_order *o, const char *item_id, int64_t now)
{
	int rc = 0;
	for (size_t i = 0; i < o->n_lines;)
		if (strcmp(o->lines[i]->item_id, item_id) == 0)
			drop_line(o, i);
		else
			i++;
	o->update_time = now;
	if (o->n_lines == 0)
		o->next_attempt = now; /* nothing left: canceled on the next visit */
	rc = store_order_drop_hold(w, item_id, o->order_id);
	if (rc == 0)
		rc = store_order_put(w, o, 0);
	if (rc == 0)
		log_info("order %s: item %s taken out of the period's renewal (%zu line(s) left)",
			 o->order_id, item_id, o->n_lines);
	return rc;
}

int groups_release_item(store_txn *w, const char *item_id, int64_t now,
			char busy[GROUPS_ORDER_ID_MAX])
{
	store_list l = {0};
	store_item *it = NULL;
	int rc, released = 0;

	busy[0] = 0;
	/* the item names the open renewal order holding it: none, nothing to
	 * look for (a manual order of many lines is not read per line) */
	rc = store_item_get(w, item_id, &it);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (!it->auto_renew || !it->auto_renew->order_id || !it->auto_renew->order_id[0]) {
		store_record_free(it);
		return 0;
	}
	store_record_free(it);
	it = NULL;
	rc = store_order_holding(w, item_id, 64, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		store_order *o = l.items[i];
		if (!o->group_id[0] || o->type != OTYPE(AUTO_RENEWAL))
			continue;
		if (o->status == OSTATUS(PROCESSING)) {
			snprintf(busy, GROUPS_ORDER_ID_MAX, "%s", o->order_id);
			store_list_free(&l);
			return 1;
		}
	}
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		store_order *o = l.items[i];
		if (!o->group_id[0] || o->type != OTYPE(AUTO_RENEWAL) ||
		    o->status != OSTATUS(PENDING_PAYMENT))
			continue;
		rc = release_from(w, o, item_id, now);
		released = 1;
	}
	store_list_free(&l);
	if (rc)
		return rc;
	rc = store_item_get(w, item_id, &it);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc == 0 && it->auto_renew && it->auto_renew->order_id[0]) {
		store_str_set(&it->auto_renew->order_id, "");
		rc = store_item_put(w, it, 0);
	}
	(void)released;
	store_record_free(it);
	return rc;
}

Smartplus__Billing__V1__RenewalGroup *groups_conv(arena *a, const store_group *g, int64_t now,
						  int64_t members)
{
	Smartplus__Billing__V1__RenewalGroup *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__renewal_group__init(m);
	m->renewal_group_id = g->group_id;
	m->payer_id = g->payer_id;
	m->payment_method = g->payment_method;
	m->stripe_customer_id = g->stripe_customer_id;
	m->stripe_payment_method_id = g->stripe_payment_method_id;
	m->anchor_day = g->anchor_day;
	m->anchor_time = conv_ts(a, g->anchor);
	m->next_renewal_time = conv_ts(a, groups_boundary_after(g, now));
	m->items = members;
	m->create_time = conv_ts(a, g->create_time);
	return m;
}

/* ------------------------------------------------------------------------ */
/* ListRenewalGroups                                                         */

void rpc_BillingService_ListRenewalGroups(
	struct rpc_call *call, const Smartplus__Billing__V1__ListRenewalGroupsRequest *req)
{
	const rpc_caller *caller = rpc_call_caller(call);
	const char *payer = req->payer_id[0] ? req->payer_id : caller->account_id;
	Smartplus__Billing__V1__ListRenewalGroupsResponse r =
		SMARTPLUS__BILLING__V1__LIST_RENEWAL_GROUPS_RESPONSE__INIT;
	int64_t now = clock_now_us();
	store_list l = {0};
	store_txn *txn = NULL;
	arena *a = NULL;
	int rc, may;

	if (req->payer_id[0] && handler_check_id(call, "payer_id", req->payer_id))
		return;
	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	may = auth_may_act(txn, caller, payer);
	if (may <= 0) {
		store_read_end(txn);
		auth_deny(call, may, "payer_id");
		return;
	}
	rc = store_group_list_by_payer(txn, payer, req->page_size, req->page_token, &l);
	if (rc) {
		store_read_end(txn);
		handler_fail_store(call, rc);
		return;
	}
	a = arena_new();
	r.renewal_groups = arena_alloc(a, (l.n + 1) * sizeof(*r.renewal_groups));
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		size_t members = 0;
		rc = store_item_count_by_group(txn, ((store_group *)l.items[i])->group_id,
					       &members);
		r.renewal_groups[r.n_renewal_groups++] = groups_conv(a, l.items[i], now,
								     (int64_t)members);
	}
	store_read_end(txn);
	if (rc)
		handler_fail_store(call, rc);
	else {
		r.next_page_token = l.next_page_token ? l.next_page_token : "";
		rpc_reply(call, &r.base);
	}
	store_list_free(&l);
	arena_free(a);
}
