/*
 * prices.c: AdminService SetPrice, SetCreditPrice, ListPrices. The vendor-only
 * rule is the dispatcher's (AdminService rows). Every change bumps the
 * price-list version in the same transaction, so quotes can tell they are
 * stale.
 */
#include <string.h>

#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "convert.h"
#include "events.h"
#include "handler.h"
#include "payments/provider.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"

#define MAX_MONTHLY_AMOUNT (INT64_C(1) << 40) /* keeps 60 months × many lines far from overflow */

typedef struct price_write {
	rpc_write w;
	store_price price;
	store_credit_price credit;
	char currency[4];
	uint64_t version; /* after the change */
} price_write;

static int apply_price(store_txn *txn, rpc_write *w)
{
	price_write *p = (price_write *)w;
	int rc = store_price_put(txn, &p->price);
	if (rc == 0)
		rc = events_price(txn, &p->price, rpc_call_caller(w->call)->account_id);
	return rc ? rc : store_price_version(txn, &p->version);
}

static void reply_price(rpc_write *w)
{
	price_write *p = (price_write *)w;
	arena *a = arena_new();
	Smartplus__Billing__V1__SetPriceResponse r =
		SMARTPLUS__BILLING__V1__SET_PRICE_RESPONSE__INIT;
	r.price = conv_price(a, &p->price);
	r.price_list_version = (int64_t)p->version;
	rpc_reply(w->call, &r.base);
	arena_free(a);
}

void rpc_AdminService_SetPrice(struct rpc_call *call,
			       const Smartplus__Billing__V1__SetPriceRequest *req)
{
	price_write *p;
	char why[160];
	if (!catalog_valid_project_type(req->project_type)) {
		BAD_ARG(call, "project_type: must be COMMUNITY, SINGLE_FAMILY_HOUSE or COMMERCIAL");
		return;
	}
	if (!catalog_offers(req->project_type, req->service_type)) {
		BAD_ARG(call, "service_type: %s is not offered for %s projects",
			catalog_service_name(req->service_type),
			catalog_project_type_name(req->project_type));
		return;
	}
	if (req->monthly_amount < 0 || req->monthly_amount > MAX_MONTHLY_AMOUNT) {
		BAD_ARG(call, "monthly_amount: must be 0..%lld minor units",
			(long long)MAX_MONTHLY_AMOUNT);
		return;
	}
	if (req->monthly_credits < 0 || req->monthly_credits > MAX_MONTHLY_AMOUNT) {
		BAD_ARG(call, "monthly_credits: must be 0..%lld", (long long)MAX_MONTHLY_AMOUNT);
		return;
	}
	if (!valid_currency(req->currency)) {
		BAD_ARG(call, "currency: an ISO-4217 code such as USD");
		return;
	}
	if (req->monthly_amount > 0 && pay_accepts_currency(req->currency, why, sizeof(why))) {
		BAD_ARG(call, "currency: %s", why);
		return;
	}
	p = write_new(call, sizeof(*p));
	smartplus__billing__store__v1__price_record__init(&p->price);
	memcpy(p->currency, req->currency, 4);
	p->price.project_type = req->project_type;
	p->price.service_type = req->service_type;
	p->price.monthly_amount = req->monthly_amount;
	p->price.currency = p->currency;
	p->price.monthly_credits = req->monthly_credits;
	p->price.update_time = clock_now_us();
	p->w.apply = apply_price;
	p->w.reply = reply_price;
	write_submit(&p->w);
}

static int apply_credit_price(store_txn *txn, rpc_write *w)
{
	price_write *p = (price_write *)w;
	int rc = store_credit_price_put(txn, &p->credit);
	if (rc == 0)
		rc = events_credit_price(txn, &p->credit, rpc_call_caller(w->call)->account_id);
	return rc ? rc : store_price_version(txn, &p->version);
}

static void reply_credit_price(rpc_write *w)
{
	price_write *p = (price_write *)w;
	Smartplus__Billing__V1__CreditPrice cp = SMARTPLUS__BILLING__V1__CREDIT_PRICE__INIT;
	Smartplus__Billing__V1__SetCreditPriceResponse r =
		SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_RESPONSE__INIT;
	cp.unit_amount = p->credit.unit_amount;
	cp.currency = p->credit.currency;
	r.credit_price = &cp;
	r.price_list_version = (int64_t)p->version;
	rpc_reply(w->call, &r.base);
}

void rpc_AdminService_SetCreditPrice(struct rpc_call *call,
				     const Smartplus__Billing__V1__SetCreditPriceRequest *req)
{
	price_write *p;
	char why[160];
	if (req->unit_amount < 1 || req->unit_amount > MAX_MONTHLY_AMOUNT) {
		BAD_ARG(call, "unit_amount: must be 1..%lld minor units",
			(long long)MAX_MONTHLY_AMOUNT);
		return;
	}
	if (!valid_currency(req->currency)) {
		BAD_ARG(call, "currency: an ISO-4217 code such as USD");
		return;
	}
	if (req->unit_amount > 0 && pay_accepts_currency(req->currency, why, sizeof(why))) {
		BAD_ARG(call, "currency: %s", why);
		return;
	}
	p = write_new(call, sizeof(*p));
	smartplus__billing__store__v1__credit_price_record__init(&p->credit);
	memcpy(p->currency, req->currency, 4);
	p->credit.currency = p->currency;
	p->credit.unit_amount = req->unit_amount;
	p->credit.update_time = clock_now_us();
	p->w.apply = apply_credit_price;
	p->w.reply = reply_credit_price;
	write_submit(&p->w);
}

void rpc_AdminService_ListPrices(struct rpc_call *call,
				 const Smartplus__Billing__V1__ListPricesRequest *req)
{
	store_txn *txn;
	store_list list = {0};
	store_credit_price *credit = NULL;
	uint64_t version = 0;
	arena *a = NULL;
	Smartplus__Billing__V1__CreditPrice cp = SMARTPLUS__BILLING__V1__CREDIT_PRICE__INIT;
	Smartplus__Billing__V1__ListPricesResponse r =
		SMARTPLUS__BILLING__V1__LIST_PRICES_RESPONSE__INIT;
	int rc;

	if (req->project_type && !catalog_valid_project_type(req->project_type)) {
		BAD_ARG(call, "project_type: unknown project type %d", req->project_type);
		return;
	}
	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	rc = store_price_list(txn, req->project_type, req->page_size, req->page_token, &list);
	if (rc == 0)
		rc = store_price_version(txn, &version);
	if (rc == 0) {
		rc = store_credit_price_current(txn, &credit);
		if (rc == STORE_NOTFOUND)
			rc = 0;
	}
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.prices = arena_alloc(a, (list.n + 1) * sizeof(*r.prices));
	for (size_t i = 0; i < list.n; i++)
		r.prices[r.n_prices++] = conv_price(a, list.items[i]);
	if (credit) {
		cp.unit_amount = credit->unit_amount;
		cp.currency = credit->currency;
		r.credit_price = &cp;
	}
	r.price_list_version = (int64_t)version;
	r.next_page_token = list.next_page_token ? list.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_record_free(credit);
	store_list_free(&list);
	store_read_end(txn);
}
