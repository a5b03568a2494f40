/*
 * store_invoice.h - invoices, credit notes and tax rates (DB_INVOICES).
 *
 * Same conventions as store.h: 0 or a negative STORE_* code; getters give
 * a fresh record the caller frees with store_record_free() (lists with
 * store_list_free()); puts need the writer's transaction (else
 * STORE_INVALID).
 *
 * Numbering. An invoice's number comes from store_invoice_next_seq(): a
 * meta counter per year, incremented inside the write transaction that
 * issues the invoice. The single LMDB writer serialises those
 * transactions, and a transaction that is rolled back (a failed mutation,
 * a failed commit, a crash before the commit) takes its increment with it,
 * so the numbers of committed invoices are 1, 2, 3 ... with no gap and no
 * repeat. Credit notes have their own counter the same way.
 *
 * Keys (DB_INVOICES; ~t is be64 of the inverted time, so scans run newest
 * first, and a time window is a key range):
 *   'I' number\0                        -> InvoiceRecord
 *   'o' order\0                         -> invoice number
 *   'p' payer\0 ~t number\0             -> invoice number
 *   'a' ancestor\0 ~t number\0          -> invoice number (payer included)
 *   'N' number\0                        -> CreditNoteRecord
 *   'n' order\0 number\0                -> credit note number
 *   'q' payer\0 ~t number\0             -> credit note number
 *   'b' ancestor\0 ~t number\0          -> credit note number
 *   'w' be64(create time) number\0      -> credit note number, PENDING only
 *   'T' country\0 region\0              -> TaxRateRecord
 * Index entries are written once, when the record is created, from fields
 * that never change (number, order, payer, ancestors, times); only the
 * pending entry of a credit note follows its status.
 */
#ifndef SPB_STORE_INVOICE_H
#define SPB_STORE_INVOICE_H

#include <stddef.h>
#include <stdint.h>

#include "invoice.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__PartyRecord store_party;
typedef Smartplus__Billing__Store__V1__TaxLineRecord store_tax_line;
typedef Smartplus__Billing__Store__V1__InvoiceLineRecord store_invoice_line;
typedef Smartplus__Billing__Store__V1__InvoiceRecord store_invoice;
typedef Smartplus__Billing__Store__V1__CreditNoteLineRecord store_credit_note_line;
typedef Smartplus__Billing__Store__V1__CreditNoteRecord store_credit_note;
typedef Smartplus__Billing__Store__V1__TaxRateRecord store_tax_rate;

#define STORE_PARTY_INIT SMARTPLUS__BILLING__STORE__V1__PARTY_RECORD__INIT
#define STORE_TAX_LINE_INIT SMARTPLUS__BILLING__STORE__V1__TAX_LINE_RECORD__INIT
#define STORE_INVOICE_LINE_INIT SMARTPLUS__BILLING__STORE__V1__INVOICE_LINE_RECORD__INIT
#define STORE_INVOICE_INIT SMARTPLUS__BILLING__STORE__V1__INVOICE_RECORD__INIT
#define STORE_CREDIT_NOTE_LINE_INIT SMARTPLUS__BILLING__STORE__V1__CREDIT_NOTE_LINE_RECORD__INIT
#define STORE_CREDIT_NOTE_INIT SMARTPLUS__BILLING__STORE__V1__CREDIT_NOTE_RECORD__INIT
#define STORE_TAX_RATE_INIT SMARTPLUS__BILLING__STORE__V1__TAX_RATE_RECORD__INIT

/* CreditNoteRecord.status of a refund still at the provider (the API's
 * CREDIT_NOTE_STATUS_PENDING); such notes are indexed for the reconciler. */
#define STORE_CREDIT_NOTE_PENDING 1
/* ... whose money or credits went back (SUCCEEDED), or that the provider
 * refused (FAILED, void). */
#define STORE_CREDIT_NOTE_SUCCEEDED 2
#define STORE_CREDIT_NOTE_FAILED 3

/* Longest document number (with its NUL). */
#define STORE_DOC_NUMBER_MAX 64

/* The next number of the year's gapless invoice (credit note) sequence:
 * 1 for the first. Write transaction only. */
int store_invoice_next_seq(store_txn *w, int32_t year, uint64_t *seq);
int store_credit_note_next_seq(store_txn *w, int32_t year, uint64_t *seq);
/* The last number given in year (0 if none); any transaction. */
int store_invoice_last_seq(store_txn *txn, int32_t year, uint64_t *seq);
int store_credit_note_last_seq(store_txn *txn, int32_t year, uint64_t *seq);

/*
 * Invoices. create != 0 writes the record and its index entries
 * (STORE_EXISTS if the number, or an invoice of the same order, exists);
 * create == 0 replaces an existing record (STORE_NOTFOUND if there is none;
 * only the bookkeeping fields may differ). STORE_INVALID for an empty
 * number, order or payer, issue_time <= 0, or more than 8 ancestors.
 */
int store_invoice_put(store_txn *w, const store_invoice *rec, int create);
int store_invoice_get(store_txn *txn, const char *number, store_invoice **out);
/* The invoice of an order; STORE_NOTFOUND when it has none. */
int store_invoice_get_by_order(store_txn *txn, const char *order_id, store_invoice **out);

/* Which documents a list returns. */
typedef struct store_doc_filter {
	const char *payer_id;    /* this payer's documents, or */
	const char *ancestor_id; /* those of every payer at or below it */
	int64_t start_us;        /* issued at or after; 0 = from the beginning */
	int64_t end_us;          /* issued before; 0 = no end */
} store_doc_filter;

/*
 * One page of invoices, newest first. Exactly one of f->payer_id and
 * f->ancestor_id is set. The next_page_token is bound to the filter: given
 * back with another one it is STORE_INVALID.
 */
int store_invoice_list(store_txn *txn, const store_doc_filter *f, int page_size,
		       const char *page_token, store_list *out);

/*
 * Credit notes: as invoices. A put keeps the pending index in step with
 * status (create or update).
 */
int store_credit_note_put(store_txn *w, const store_credit_note *rec, int create);
int store_credit_note_get(store_txn *txn, const char *number, store_credit_note **out);
int store_credit_note_list(store_txn *txn, const store_doc_filter *f, int page_size,
			   const char *page_token, store_list *out);
/* The credit notes of an order, by number; at most STORE_PAGE_MAX. */
int store_credit_note_list_by_order(store_txn *txn, const char *order_id, store_list *out);
/* Up to n PENDING credit notes created before t, oldest first. */
int store_credit_note_pending_before(store_txn *txn, int64_t t, size_t n, store_list *out);

/*
 * Tax rates, keyed by (country, region); region "" is the whole country.
 * A put replaces and bumps the meta counter "tax_version".
 */
int store_tax_rate_put(store_txn *w, const store_tax_rate *rec);
int store_tax_rate_get(store_txn *txn, const char *country, const char *region,
		       store_tax_rate **out);
/* Rates ordered by (country, region). */
int store_tax_rate_list(store_txn *txn, int page_size, const char *page_token, store_list *out);
/* Number of SetTaxRate writes so far (0: none). */
int store_tax_version(store_txn *txn, uint64_t *version);

#endif /* SPB_STORE_INVOICE_H */
