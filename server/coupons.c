/*
 * coupons.c: coupons (R16). AdminService CreateCoupon / ListCoupons /
 * DisableCoupon (the dispatcher admits the vendor only), and the coupon
 * rules used by quotes and orders: applicability, reservation when an
 * order is placed, redemption on success, release on failure, cancel or
 * timeout. Counting happens inside writer transactions, so racing payers
 * for the last redemption get exactly one winner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "enums.h"
#include "handler.h"
#include "log.h"
#include "pricing.h"
#include "quote.h"
#include "rpc_handlers.h"
#include "write.h"

#define MAX_AVAILABLE 50

static int in_list(const int32_t *v, size_t n, int x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

int coupon_evaluate(store_txn *txn, const store_coupon *c, const coupon_ctx *ctx, int64_t *discount,
		    char *note, size_t cap)
{
	store_coupon_use *use = NULL;
	int64_t base = 0;
	int rc;

	*discount = 0;
	if (c->disabled)
		return snprintf(note, cap, "coupon '%s' is disabled", c->code), 0;
	if (c->expires_at && ctx->now >= c->expires_at)
		return snprintf(note, cap, "coupon '%s' has expired", c->code), 0;
	if (c->max_redemptions > 0 && c->redemptions + c->reserved >= c->max_redemptions)
		return snprintf(note, cap, "coupon '%s' is used up", c->code), 0;
	if (ctx->payment_model == MODEL(CREDITS))
		return snprintf(note, cap, "coupons do not apply to credit-paid projects"), 0;
	if (c->credit_purchases_only && !ctx->credit_purchase)
		return snprintf(note, cap, "coupon '%s' is for credit purchases only", c->code), 0;
	if (!ctx->credit_purchase && c->n_project_types &&
	    !in_list(c->project_types, c->n_project_types, ctx->project_type))
		return snprintf(note, cap, "coupon '%s' does not apply to %s projects", c->code,
				catalog_project_type_name(ctx->project_type)),
		       0;
	if (c->amount_off && strcmp(c->currency, ctx->currency) != 0)
		return snprintf(note, cap, "coupon '%s' is in %s, the order in %s", c->code,
				c->currency, ctx->currency[0] ? ctx->currency : "no currency"),
		       0;
	if (ctx->credit_purchase) {
		base = ctx->subtotal;
	} else {
		for (size_t i = 0; i < ctx->n_lines; i++) {
			const store_line *l = ctx->lines[i];
			if (c->n_service_types &&
			    !in_list(c->service_types, c->n_service_types, l->service_type))
				continue;
			if (pricing_add(&base, l->amount))
				return snprintf(note, cap, "amount out of range"), 0;
		}
	}
	if (base <= 0)
		return snprintf(note, cap, "coupon '%s' applies to nothing in this order", c->code),
		       0;
	rc = store_coupon_use_get(txn, c->code, ctx->payer_id, &use);
	store_record_free(use);
	if (rc == 0)
		return snprintf(note, cap, "coupon '%s' was already used by '%s'", c->code,
				ctx->payer_id),
		       0;
	if (rc != STORE_NOTFOUND)
		return rc;
	if (c->percent_off) {
		if (pricing_percent(base, c->percent_off, discount))
			return snprintf(note, cap, "amount out of range"), 0;
		snprintf(note, cap, "coupon '%s': %d%% off", c->code, c->percent_off);
	} else {
		*discount = c->amount_off < base ? c->amount_off : base;
		snprintf(note, cap, "coupon '%s': %lld %s off", c->code, (long long)*discount,
			 c->currency);
	}
	return 1;
}

int coupon_available(store_txn *txn, arena *a, const coupon_ctx *ctx, char ***codes, size_t *n)
{
	store_list l = {0};
	char note[256];
	int64_t d;
	int rc;

	*n = 0;
	*codes = arena_alloc(a, (MAX_AVAILABLE + 1) * sizeof(char *));
	if (ctx->payment_model == MODEL(CREDITS))
		return 0;
	rc = store_coupon_list(txn, STORE_PAGE_MAX, NULL, &l);
	for (size_t i = 0; rc == 0 && i < l.n && *n < MAX_AVAILABLE; i++) {
		rc = coupon_evaluate(txn, l.items[i], ctx, &d, note, sizeof(note));
		if (rc == 1) {
			(*codes)[(*n)++] = arena_strdup(a, ((store_coupon *)l.items[i])->code);
			rc = 0;
		}
	}
	store_list_free(&l);
	return rc < 0 ? rc : 0;
}

int coupon_reserve(store_txn *w, const char *code, const char *payer_id, const char *order_id,
		   int64_t now)
{
	store_coupon *c = NULL;
	store_coupon_use use = STORE_COUPON_USE_INIT;
	int rc = store_coupon_get(w, code, &c);
	if (rc == 0) {
		c->reserved++;
		rc = store_coupon_put(w, c, 0);
	}
	store_record_free(c);
	if (rc)
		return rc;
	use.code = (char *)code;
	use.payer_id = (char *)payer_id;
	use.order_id = (char *)order_id;
	use.state = STORE_COUPON_USE_RESERVED;
	use.update_time = now;
	return store_coupon_use_put(w, &use);
}

int coupon_settle(store_txn *w, const char *code, const char *payer_id, int redeemed, int64_t now)
{
	store_coupon *c = NULL;
	store_coupon_use *use = NULL;
	int rc = store_coupon_get(w, code, &c);
	if (rc == 0) {
		if (c->reserved > 0)
			c->reserved--;
		if (redeemed)
			c->redemptions++;
		rc = store_coupon_put(w, c, 0);
	}
	store_record_free(c);
	if (rc)
		return rc;
	if (!redeemed)
		return store_coupon_use_delete(w, code, payer_id);
	rc = store_coupon_use_get(w, code, payer_id, &use);
	if (rc == 0) {
		use->state = STORE_COUPON_USE_REDEEMED;
		use->update_time = now;
		rc = store_coupon_use_put(w, use);
	}
	store_record_free(use);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* AdminService                                                              */

static Smartplus__Billing__V1__Coupon *conv_coupon(arena *a, const store_coupon *r)
{
	Smartplus__Billing__V1__Coupon *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__coupon__init(m);
	m->code = r->code;
	m->percent_off = r->percent_off;
	m->amount_off = r->amount_off;
	m->currency = r->currency;
	m->max_redemptions = r->max_redemptions;
	m->expires_at = conv_ts(a, r->expires_at);
	m->n_project_types = r->n_project_types;
	m->project_types = (Smartplus__Billing__V1__ProjectType *)r->project_types;
	m->n_service_types = r->n_service_types;
	m->service_types = (Smartplus__Billing__V1__ServiceType *)r->service_types;
	m->credit_purchases_only = r->credit_purchases_only;
	m->redemptions = r->redemptions;
	m->reserved = r->reserved;
	m->disabled = r->disabled;
	m->create_time = conv_ts(a, r->create_time);
	return m;
}

static int valid_code(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

typedef struct coupon_write {
	rpc_write w;
	store_coupon rec;
	store_coupon *loaded;
	const char *code;
} coupon_write;

static int apply_create_coupon(store_txn *txn, rpc_write *w)
{
	coupon_write *c = (coupon_write *)w;
	int rc = store_coupon_put(txn, &c->rec, 1);
	if (rc == STORE_EXISTS)
		return write_fail(w, GRPC_STATUS_ALREADY_EXISTS, NULL, "coupon.code: '%s' exists",
				  c->rec.code);
	return rc;
}

static void reply_coupon(rpc_write *w)
{
	coupon_write *c = (coupon_write *)w;
	arena *a = arena_new();
	/* Create/DisableCouponResponse share one layout: field 1, the coupon. */
	Smartplus__Billing__V1__CreateCouponResponse r =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_RESPONSE__INIT;
	Smartplus__Billing__V1__DisableCouponResponse d =
		SMARTPLUS__BILLING__V1__DISABLE_COUPON_RESPONSE__INIT;
	if (c->loaded) {
		d.coupon = conv_coupon(a, c->loaded);
		rpc_reply(w->call, &d.base);
	} else {
		r.coupon = conv_coupon(a, &c->rec);
		rpc_reply(w->call, &r.base);
	}
	arena_free(a);
}

static void cleanup_coupon(rpc_write *w)
{
	store_record_free(((coupon_write *)w)->loaded);
}

void rpc_AdminService_CreateCoupon(struct rpc_call *call,
				   const Smartplus__Billing__V1__CreateCouponRequest *req)
{
	const Smartplus__Billing__V1__Coupon *in = req->coupon;
	coupon_write *c;
	int ok = 1;

	if (!in) {
		BAD_ARG(call, "coupon: required");
		return;
	}
	if (!valid_code(in->code)) {
		BAD_ARG(call, "coupon.code: must match [A-Za-z0-9_-]{1,64}");
		return;
	}
	if ((in->percent_off != 0) == (in->amount_off != 0)) {
		BAD_ARG(call, "coupon: give exactly one of percent_off and amount_off");
		return;
	}
	if (in->percent_off && (in->percent_off < 1 || in->percent_off > 100)) {
		BAD_ARG(call, "coupon.percent_off: must be 1..100");
		return;
	}
	if (in->amount_off < 0) {
		BAD_ARG(call, "coupon.amount_off: must be positive");
		return;
	}
	if (in->amount_off && !valid_currency(in->currency)) {
		BAD_ARG(call, "coupon.currency: an ISO-4217 code is required with amount_off");
		return;
	}
	if (in->percent_off && in->currency[0]) {
		BAD_ARG(call, "coupon.currency: only with amount_off");
		return;
	}
	if (in->max_redemptions < 0) {
		BAD_ARG(call, "coupon.max_redemptions: must be >= 0 (0 = unlimited)");
		return;
	}
	for (size_t i = 0; i < in->n_project_types; i++)
		if (!catalog_valid_project_type(in->project_types[i])) {
			BAD_ARG(call, "coupon.project_types: unknown value %d",
				in->project_types[i]);
			return;
		}
	for (size_t i = 0; i < in->n_service_types; i++)
		if (!valid_enum(&smartplus__billing__v1__service_type__descriptor,
				in->service_types[i])) {
			BAD_ARG(call, "coupon.service_types: unknown value %d",
				in->service_types[i]);
			return;
		}
	c = write_new(call, sizeof(*c));
	smartplus__billing__store__v1__coupon_record__init(&c->rec);
	c->rec.code = in->code;
	c->rec.percent_off = in->percent_off;
	c->rec.amount_off = in->amount_off;
	c->rec.currency = in->currency;
	c->rec.max_redemptions = in->max_redemptions;
	c->rec.expires_at = conv_us(in->expires_at, &ok);
	c->rec.n_project_types = in->n_project_types;
	c->rec.project_types = (int32_t *)in->project_types;
	c->rec.n_service_types = in->n_service_types;
	c->rec.service_types = (int32_t *)in->service_types;
	c->rec.credit_purchases_only = in->credit_purchases_only;
	c->rec.create_time = clock_now_us();
	if (!ok) {
		free(c);
		BAD_ARG(call, "coupon.expires_at: out of range");
		return;
	}
	c->w.apply = apply_create_coupon;
	c->w.reply = reply_coupon;
	write_submit(&c->w);
}

void rpc_AdminService_ListCoupons(struct rpc_call *call,
				  const Smartplus__Billing__V1__ListCouponsRequest *req)
{
	Smartplus__Billing__V1__ListCouponsResponse r =
		SMARTPLUS__BILLING__V1__LIST_COUPONS_RESPONSE__INIT;
	store_list l = {0};
	store_txn *txn = NULL;
	arena *a = NULL;
	int rc;

	if (handler_check_page_size(call, req->page_size))
		return;
	rc = store_read_begin(billingd.store, &txn);
	if (rc == 0)
		rc = store_coupon_list(txn, req->page_size, req->page_token, &l);
	store_read_end(txn);
	if (rc) {
		handler_fail_store(call, rc);
		return;
	}
	a = arena_new();
	r.coupons = arena_alloc(a, (l.n + 1) * sizeof(*r.coupons));
	for (size_t i = 0; i < l.n; i++)
		if (req->include_disabled || !((store_coupon *)l.items[i])->disabled)
			r.coupons[r.n_coupons++] = conv_coupon(a, l.items[i]);
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
	arena_free(a);
	store_list_free(&l);
}

static int apply_disable_coupon(store_txn *txn, rpc_write *w)
{
	coupon_write *c = (coupon_write *)w;
	int rc;
	store_record_free(c->loaded);
	c->loaded = NULL;
	rc = store_coupon_get(txn, c->code, &c->loaded);
	if (rc == STORE_NOTFOUND)
		return write_fail(w, GRPC_STATUS_NOT_FOUND, NULL, "coupon '%s' does not exist",
				  c->code);
	if (rc)
		return rc;
	c->loaded->disabled = 1;
	return store_coupon_put(txn, c->loaded, 0);
}

void rpc_AdminService_DisableCoupon(struct rpc_call *call,
				    const Smartplus__Billing__V1__DisableCouponRequest *req)
{
	coupon_write *c;

	if (!valid_code(req->code)) {
		BAD_ARG(call, "code: must match [A-Za-z0-9_-]{1,64}");
		return;
	}
	c = write_new(call, sizeof(*c));
	c->code = req->code;
	c->w.apply = apply_disable_coupon;
	c->w.reply = reply_coupon;
	c->w.cleanup = cleanup_coupon;
	write_submit(&c->w);
}
