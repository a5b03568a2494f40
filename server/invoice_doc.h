#ifndef SPB_INVOICE_DOC_H
#define SPB_INVOICE_DOC_H

/*
 * invoice_doc.h: invoices and credit notes as documents: PDF drawn with
 * libharu (Debian libhpdf) or HTML, and InvoiceService.GetInvoiceDocument.
 *
 * A document is rendered from the stored record alone (the snapshot taken
 * when it was issued), so the same record always gives the same document:
 * the PDF's creation date is the document's own date, not the time of the
 * request. A4 portrait, Helvetica (WinAnsi: text outside Latin-1 is
 * transliterated), several pages when the lines do not fit on one, each
 * page numbered "Page i of n".
 */

#include <stddef.h>
#include <stdint.h>

#include "store_invoice.h"

typedef enum doc_format {
	DOC_PDF = 1,  /* application/pdf */
	DOC_HTML = 2, /* text/html; charset=utf-8 */
} doc_format;

/*
 * Renders an invoice (or a credit note) in format f into *out (malloc'd,
 * the caller frees it) of *len bytes. 0, or -1 when the library failed
 * (logged; *out is NULL).
 */
int invoice_doc_render(const store_invoice *inv, doc_format f, uint8_t **out, size_t *len);
int credit_note_doc_render(const store_credit_note *cn, doc_format f, uint8_t **out, size_t *len);

/* "12.34" for 1234 minor units of currency (its ISO-4217 exponent: JPY 0,
 * KWD 3, most 2), "12" for credits; into buf[cap]. */
void invoice_doc_amount(int64_t v, const char *currency, int in_credits, char *buf, size_t cap);

#endif
