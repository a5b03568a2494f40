#ifndef SPB_INVOICES_H
#define SPB_INVOICES_H

/*
 * invoices.h: invoices in billingd (issue 17). InvoiceService GetInvoice
 * and ListInvoices are served by invoices.c; this header gives the order
 * engine the one call that issues an invoice, the tax decisions the quote
 * and the order take (from the seller configured with the --seller-* flags
 * and the buyer's billing information), and the API conversions shared
 * with refunds.c and invoice_doc.c.
 *
 * An invoice is issued by invoice_issue() inside the write transaction
 * that marks its order SUCCEEDED (orders_succeed), and nowhere else: an
 * order that fails, is canceled or times out never gets one, and since the
 * number is taken from a counter in that same transaction (store_invoice.h), a
 * crash or a rollback before the commit consumes no number.
 */

#include <stddef.h>
#include <stdint.h>

#include "billingd.h"
#include "convert.h"
#include "store_invoice.h"
#include "store_order.h"
#include "rpc.h"
#include "smartplus/billing/v1/invoice_service.pb-c.h"
#include "store.h"
#include "tax.h"

/* ---- configuration (config.c) ---- */

/* Fills the defaults: no seller (the documents say so), prefix "INV",
 * credits taxed at purchase. */
void invoice_config_defaults(billingd_invoicing *inv);
/* Sets the setting `name` ("seller-name", "invoice-prefix", ...; config.c
 * has one row per name) from value (kept, not copied). 0, or -1 with what
 * it wants in err[cap]. */
int invoice_config_set(billingd_invoicing *inv, const char *name, const char *value, char *err,
		       size_t cap);

/* ---- tax ---- */

/* A tax_lookup_fn over the tax rate table; arg is the store_txn *. */
int invoice_tax_lookup(void *txn, const char *country, const char *region, tax_rate *out);

/*
 * The tax decision for an order of order_type (OrderType) paid with method
 * (PaymentMethod; 0 = not chosen yet, taken as money) from a buyer in
 * country/region with tax_id (any may be "" or NULL), under the configured
 * seller and credit rule, with rates read in txn. 0 or a STORE_* code.
 */
int invoice_tax_decide(store_txn *txn, int order_type, int method, const char *country,
		       const char *region, const char *tax_id, tax_decision *out);

/*
 * Applies decision d to n lines whose amounts are line->amount (or
 * line->credits when in_credits): spreads `discount` over them, then sets
 * each line's discount share, tax, tax_rate_bp and total. *tax_total gets the sum
 * of the lines' tax and *charged what they cost together (exclusive: the
 * amounts less the discount plus the tax; inclusive: less the discount).
 * 0, TAX_OVERFLOW or TAX_RANGE (a discount larger than the amounts).
 */
int invoice_tax_apply(const tax_decision *d, store_line **lines, size_t n, int in_credits,
		      int64_t discount, int64_t *tax_total, int64_t *charged);

/* ---- issuing ---- */

/*
 * Issues the invoice of order o (SUCCEEDED, money or credits) in write txn
 * w at `now`: the next number of now's year, a snapshot of the seller, the
 * buyer (o's billing information), lines with their service periods,
 * discounts and tax, tax lines, totals, payment method and provider
 * references. An order that already has an invoice keeps it (0, nothing
 * written). number (may be NULL) receives the invoice number. 0, or a
 * STORE_* code (the caller's mutation must then fail).
 */
int invoice_issue(store_txn *w, const store_order *o, int64_t now,
		  char number[STORE_DOC_NUMBER_MAX]);

/* The accounts an invoice of payer_id is listed under: payer_id and its
 * ancestors, nearest first (at most 8), malloc'd into *out (free each
 * string and the array). 0 or a STORE_* code. */
int invoice_ancestors(store_txn *txn, const char *payer_id, char ***out, size_t *n);

/* The seller as configured, as a party record (strings borrowed from the
 * configuration). */
void invoice_seller(store_party *p);

/* The filter of ListInvoices / ListCreditNotes: payer (one payer at or
 * below the caller) or "" (the caller's whole subtree), and a period. Fails
 * the call and returns 1 when an argument is wrong or the payer is not the
 * caller's to see; else 0 with *f filled (borrowing payer). */
int invoice_list_filter(rpc_call *call, store_txn *txn, const char *payer,
			const Google__Protobuf__Timestamp *start,
			const Google__Protobuf__Timestamp *end, store_doc_filter *f);

/* ---- API messages (strings borrowed from the records) ---- */

Smartplus__Billing__V1__Invoice *invoice_conv(arena *a, const store_invoice *r);
Smartplus__Billing__V1__CreditNote *credit_note_conv(arena *a, const store_credit_note *r);

#endif
