/*
 * tax_rates.c: InvoiceService SetTaxRate and ListTaxRates, vendor only.
 *
 * A rate applies from the commit of its SetTaxRate on: quotes priced
 * before it carry the old tax in their charge digest, so an order placed
 * from one after the change is refused QUOTE_STALE (quote_token.h).
 * Documents issued before keep the rate they were issued with.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "store_invoice.h"
#include "enums.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "tax.h"
#include "write.h"

#define RATES_PAGE_DEFAULT 100

/* Fails the call unless the vendor makes it; 1 when it failed it. */
static int vendor_only(rpc_call *call)
{
	if (strcmp(rpc_call_caller(call)->account_id, "vendor") == 0)
		return 0;
	rpc_fail(call, GRPC_STATUS_PERMISSION_DENIED, NULL, "%s is for the vendor only",
		 rpc_call_method(call)->name);
	return 1;
}

static Smartplus__Billing__V1__TaxRate *conv_rate(arena *a, const store_tax_rate *r)
{
	Smartplus__Billing__V1__TaxRate *m = arena_alloc(a, sizeof(*m));

	smartplus__billing__v1__tax_rate__init(m);
	m->country = r->country;
	m->region = r->region;
	m->rate_bp = r->rate_bp;
	m->inclusive = r->inclusive;
	m->update_time = conv_ts(a, r->update_time);
	return m;
}

/* ------------------------------------------------------------------------ */
/* SetTaxRate                                                                */

typedef struct rate_write {
	rpc_write w;
	store_tax_rate rec; /* strings into the request */
} rate_write;

static int apply_rate(store_txn *txn, rpc_write *w)
{
	rate_write *r = (rate_write *)w;

	r->rec.update_time = clock_now_us();
	return store_tax_rate_put(txn, &r->rec);
}

static void reply_rate(rpc_write *w)
{
	rate_write *r = (rate_write *)w;
	Smartplus__Billing__V1__SetTaxRateResponse resp =
		SMARTPLUS__BILLING__V1__SET_TAX_RATE_RESPONSE__INIT;
	arena *a = arena_new();

	resp.tax_rate = conv_rate(a, &r->rec);
	rpc_reply(w->call, &resp.base);
	arena_free(a);
}

void rpc_InvoiceService_SetTaxRate(struct rpc_call *call,
				   const Smartplus__Billing__V1__SetTaxRateRequest *req)
{
	rate_write *r;

	if (vendor_only(call))
		return;
	if (!tax_country_ok(req->country)) {
		BAD_ARG(call, "country: an ISO-3166 alpha-2 code in upper case, such as DE");
		return;
	}
	if (!tax_region_ok(req->region)) {
		BAD_ARG(call, "region: [A-Z0-9]{0,%d}", TAX_REGION_LEN - 1);
		return;
	}
	if (req->rate_bp < 0 || req->rate_bp > TAX_RATE_MAX) {
		BAD_ARG(call, "rate_bp: basis points 0..%d (1900 = 19 %%)", TAX_RATE_MAX);
		return;
	}
	r = write_new(call, sizeof(*r));
	smartplus__billing__store__v1__tax_rate_record__init(&r->rec);
	r->rec.country = req->country;
	r->rec.region = req->region;
	r->rec.rate_bp = req->rate_bp;
	r->rec.inclusive = req->inclusive;
	r->w.apply = apply_rate;
	r->w.reply = reply_rate;
	write_submit(&r->w);
}

/* ------------------------------------------------------------------------ */
/* ListTaxRates                                                              */

void rpc_InvoiceService_ListTaxRates(struct rpc_call *call,
				     const Smartplus__Billing__V1__ListTaxRatesRequest *req)
{
	Smartplus__Billing__V1__ListTaxRatesResponse r =
		SMARTPLUS__BILLING__V1__LIST_TAX_RATES_RESPONSE__INIT;
	store_list l = {0};
	store_txn *txn;
	arena *a = NULL;
	int rc;

	if (vendor_only(call))
		return;
	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	rc = store_tax_rate_list(txn, req->page_size ? req->page_size : RATES_PAGE_DEFAULT,
				 req->page_token, &l);
	store_read_end(txn);
	if (rc != 0) {
		handler_fail_store(call, rc);
		return;
	}
	a = arena_new();
	r.tax_rates = arena_alloc(a, (l.n + 1) * sizeof(*r.tax_rates));
	for (size_t i = 0; i < l.n; i++)
		r.tax_rates[r.n_tax_rates++] = conv_rate(a, l.items[i]);
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
	arena_free(a);
	store_list_free(&l);
}
