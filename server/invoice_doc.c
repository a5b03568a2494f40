/*
 * invoice_doc.c: invoices and credit notes as PDF (libharu) or HTML, and
 * InvoiceService.GetInvoiceDocument. See invoice_doc.h.
 *
 * Both documents go through one model (doc_model): the texts of the header,
 * the two parties, the table rows, the totals, tax, payment and notes,
 * already formatted. The PDF and HTML writers only lay it out.
 */
#include "invoice_doc.h"

#include <errno.h>
#include <hpdf.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "catalog.h"
#include "convert.h"
#include "log.h"
#include "enums.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "tax.h"
#include "write.h"
#include "xalloc.h"

#define CN_STATUS(x) V1(CREDIT_NOTE_STATUS__CREDIT_NOTE_STATUS_##x) /* CreditNoteStatus */

/* ------------------------------------------------------------------------ */
/* The model                                                                 */

#define DOC_MAX_META 4
#define DOC_MAX_TOTALS 8
#define DOC_MAX_TEXT 6

typedef struct doc_row {
	char desc[320];
	char period[80];
	char qty[32];
	char net[32];
	char rate[16];
	char tax[32];
	char total[32];
} doc_row;

typedef struct doc_kv {
	char label[96];
	char value[48];
	int strong;
} doc_kv;

typedef struct doc_model {
	const char *title;
	const char *number;
	char date[32];
	time_t date_s;
	char meta[DOC_MAX_META][160];
	size_t n_meta;
	const store_party *seller, *buyer;
	char unit[64];
	const char *qty_head;
	doc_row *rows;
	size_t n_rows;
	doc_kv totals[DOC_MAX_TOTALS];
	size_t n_totals;
	char tax[DOC_MAX_TEXT][240];
	size_t n_tax;
	char payment[DOC_MAX_TEXT][240];
	size_t n_payment;
	char *const *notes;
	size_t n_notes;
} doc_model;

static const char *const zero_decimals[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
					    "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
					    "VND", "VUV", "XAF", "XOF", "XPF"};
static const char *const three_decimals[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};

static int exponent(const char *currency)
{
	for (size_t i = 0; i < sizeof(zero_decimals) / sizeof(zero_decimals[0]); i++)
		if (strcmp(currency, zero_decimals[i]) == 0)
			return 0;
	for (size_t i = 0; i < sizeof(three_decimals) / sizeof(three_decimals[0]); i++)
		if (strcmp(currency, three_decimals[i]) == 0)
			return 3;
	return 2;
}

void invoice_doc_amount(int64_t v, const char *currency, int in_credits, char *buf, size_t cap)
{
	int e = in_credits || !currency ? 0 : exponent(currency);
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, div = 1;

	for (int i = 0; i < e; i++)
		div *= 10;
	if (e == 0)
		snprintf(buf, cap, "%s%" PRIu64, v < 0 ? "-" : "", mag);
	else
		snprintf(buf, cap, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", mag / div, e,
			 mag % div);
}

static void fmt_rate(int32_t bp, char *buf, size_t cap)
{
	if (bp % 100 == 0)
		snprintf(buf, cap, "%" PRId32 "%%", bp / 100);
	else if (bp % 10 == 0)
		snprintf(buf, cap, "%" PRId32 ".%" PRId32 "%%", bp / 100, (bp % 100) / 10);
	else
		snprintf(buf, cap, "%" PRId32 ".%02" PRId32 "%%", bp / 100, bp % 100);
}

static void fmt_date(int64_t us, char *buf, size_t cap)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;

	if (us <= 0) {
		snprintf(buf, cap, "-");
		return;
	}
	gmtime_r(&s, &tm);
	strftime(buf, cap, "%Y-%m-%d", &tm);
}

static const char *method_text(int method)
{
	switch (method) {
	case METHOD(STRIPE): return "card (Stripe)";
	case METHOD(PAYPAL): return "PayPal";
	case METHOD(COUPON): return "coupon";
	case METHOD(CREDITS): return "prepaid credits";
	}
	return "-";
}

static void add_kv(doc_model *m, const char *label, int64_t v, const char *cur, int credits,
		   int strong)
{
	doc_kv *kv;

	if (m->n_totals == DOC_MAX_TOTALS)
		return;
	kv = &m->totals[m->n_totals++];
	snprintf(kv->label, sizeof(kv->label), "%s", label);
	invoice_doc_amount(v, cur, credits, kv->value, sizeof(kv->value));
	kv->strong = strong;
}

static void add_tax_lines(doc_model *m, store_tax_line **t, size_t n, const char *cur, int credits)
{
	for (size_t i = 0; i < n && m->n_tax < DOC_MAX_TEXT; i++) {
		char rate[16], net[48], tax[48];
		fmt_rate(t[i]->rate_bp, rate, sizeof(rate));
		invoice_doc_amount(t[i]->net_amount, cur, credits, net, sizeof(net));
		invoice_doc_amount(t[i]->tax_amount, cur, credits, tax, sizeof(tax));
		snprintf(m->tax[m->n_tax++], sizeof(m->tax[0]), "Tax %s (%s, %s%s%s%s) on %s: %s",
			 rate, tax_treatment_name((tax_treatment)t[i]->treatment), t[i]->country,
			 t[i]->region[0] ? "-" : "", t[i]->region,
			 t[i]->inclusive ? ", included in the prices" : "", net, tax);
	}
}

static int invoice_model(const store_invoice *inv, doc_model *m)
{
	const char *cur = inv->currency;
	int cr = inv->in_credits;

	memset(m, 0, sizeof(*m));
	m->title = inv->order_type == V1(ORDER_TYPE__ORDER_TYPE_CREDIT_PURCHASE) &&
				   inv->n_tax_lines &&
				   inv->tax_lines[0]->treatment == TAX_ADVANCE_PAYMENT
			   ? "Advance payment invoice"
			   : "Invoice";
	m->number = inv->number;
	m->date_s = (time_t)(inv->issue_time / 1000000);
	fmt_date(inv->issue_time, m->date, sizeof(m->date));
	snprintf(m->meta[m->n_meta++], sizeof(m->meta[0]), "Order: %s", inv->order_id);
	snprintf(m->meta[m->n_meta++], sizeof(m->meta[0]), "Customer account: %s", inv->payer_id);
	if (inv->beneficiary_id[0])
		snprintf(m->meta[m->n_meta++], sizeof(m->meta[0]), "Credits for account: %s",
			 inv->beneficiary_id);
	m->seller = inv->seller;
	m->buyer = inv->buyer;
	snprintf(m->unit, sizeof(m->unit), "Amounts in %s", cr ? "credits" : cur);
	m->qty_head = "Term";
	m->rows = xcalloc(inv->n_lines + 1, sizeof(*m->rows));
	for (size_t i = 0; i < inv->n_lines; i++) {
		const store_invoice_line *l = inv->lines[i];
		doc_row *r = &m->rows[m->n_rows++];
		char a[16], b[16];

		snprintf(r->desc, sizeof(r->desc), "%s%s", l->description,
			 l->free ? " (free)" : "");
		if (l->period_start > 0) {
			fmt_date(l->period_start, a, sizeof(a));
			fmt_date(l->period_end, b, sizeof(b));
			snprintf(r->period, sizeof(r->period), "%s - %s", a, b);
		}
		if (l->months > 0)
			snprintf(r->qty, sizeof(r->qty), "%" PRId32 " mo", l->months);
		else if (l->days > 0)
			snprintf(r->qty, sizeof(r->qty), "%" PRId32 " d", l->days);
		else if (l->quantity > 0)
			snprintf(r->qty, sizeof(r->qty), "%" PRId64 " cr", l->quantity);
		invoice_doc_amount(l->net_amount, cur, cr, r->net, sizeof(r->net));
		fmt_rate(l->tax_rate_bp, r->rate, sizeof(r->rate));
		invoice_doc_amount(l->tax_amount, cur, cr, r->tax, sizeof(r->tax));
		invoice_doc_amount(l->total, cur, cr, r->total, sizeof(r->total));
	}
	add_kv(m, "Subtotal", inv->subtotal, cur, cr, 0);
	if (inv->discount)
		add_kv(m, inv->coupon_code[0] ? "Discount (coupon)" : "Discount", -inv->discount,
		       cur, cr, 0);
	add_kv(m, "Net total", inv->net_total, cur, cr, 0);
	add_kv(m, inv->tax_inclusive ? "Tax (included)" : "Tax", inv->tax_total, cur, cr, 0);
	add_kv(m, cr ? "Total (credits)" : "Total", inv->total, cur, cr, 1);
	add_tax_lines(m, inv->tax_lines, inv->n_tax_lines, cur, cr);
	snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]), "Paid by %s%s%s",
		 method_text(inv->payment_method), inv->coupon_code[0] ? ", coupon " : "",
		 inv->coupon_code);
	if (inv->stripe_payment_intent_id[0])
		snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]),
			 "Stripe PaymentIntent: %s", inv->stripe_payment_intent_id);
	if (inv->paypal_order_id[0])
		snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]), "PayPal order: %s%s%s",
			 inv->paypal_order_id, inv->paypal_capture_id[0] ? ", capture " : "",
			 inv->paypal_capture_id);
	if (inv->transfer_id[0])
		snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]),
			 "Credit ledger transfer: %s", inv->transfer_id);
	m->notes = inv->notes;
	m->n_notes = inv->n_notes;
	return 0;
}

static int credit_note_model(const store_credit_note *cn, doc_model *m)
{
	const char *cur = cn->currency;
	int cr = cn->in_credits;
	const char *status = cn->status == CN_STATUS(SUCCEEDED) ? "refunded"
			     : cn->status == CN_STATUS(FAILED)  ? "refund failed (void)"
								: "refund pending";

	memset(m, 0, sizeof(*m));
	m->title = "Credit note";
	m->number = cn->number;
	m->date_s = (time_t)(cn->create_time / 1000000);
	fmt_date(cn->create_time, m->date, sizeof(m->date));
	snprintf(m->meta[m->n_meta++], sizeof(m->meta[0]), "Corrects invoice: %s",
		 cn->invoice_number);
	snprintf(m->meta[m->n_meta++], sizeof(m->meta[0]), "Order: %s", cn->order_id);
	snprintf(m->meta[m->n_meta++], sizeof(m->meta[0]), "Status: %s", status);
	snprintf(m->meta[m->n_meta++], sizeof(m->meta[0]), "Reason: %s", cn->reason);
	m->seller = cn->seller;
	m->buyer = cn->buyer;
	snprintf(m->unit, sizeof(m->unit), "Amounts in %s", cr ? "credits" : cur);
	m->qty_head = "Days";
	m->rows = xcalloc(cn->n_lines + 1, sizeof(*m->rows));
	for (size_t i = 0; i < cn->n_lines; i++) {
		const store_credit_note_line *l = cn->lines[i];
		doc_row *r = &m->rows[m->n_rows++];
		char a[16], b[16];

		snprintf(r->desc, sizeof(r->desc), "%s", l->description);
		if (l->expiry_before > 0) {
			fmt_date(l->expiry_before, a, sizeof(a));
			fmt_date(l->expiry_after, b, sizeof(b));
			snprintf(r->period, sizeof(r->period), "expiry %s -> %s", a, b);
		}
		if (l->refunded_days > 0)
			snprintf(r->qty, sizeof(r->qty), "%" PRId32 " d", l->refunded_days);
		invoice_doc_amount(l->net_amount, cur, cr, r->net, sizeof(r->net));
		fmt_rate(l->tax_rate_bp, r->rate, sizeof(r->rate));
		invoice_doc_amount(l->tax_amount, cur, cr, r->tax, sizeof(r->tax));
		invoice_doc_amount(l->total, cur, cr, r->total, sizeof(r->total));
	}
	add_kv(m, "Net refunded", cn->net_total, cur, cr, 0);
	add_kv(m, "Tax refunded", cn->tax_total, cur, cr, 0);
	add_kv(m, cr ? "Total refunded (credits)" : "Total refunded", cn->total, cur, cr, 1);
	add_tax_lines(m, cn->tax_lines, cn->n_tax_lines, cur, cr);
	snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]), "Refunded to %s",
		 method_text(cn->payment_method));
	if (cn->stripe_refund_id[0])
		snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]), "Stripe refund: %s",
			 cn->stripe_refund_id);
	if (cn->paypal_refund_id[0])
		snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]), "PayPal refund: %s",
			 cn->paypal_refund_id);
	if (cn->transfer_id[0])
		snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]),
			 "Credit ledger transfer: %s (%" PRId64 " credits)", cn->transfer_id,
			 cn->credits);
	if (cn->failure_reason[0])
		snprintf(m->payment[m->n_payment++], sizeof(m->payment[0]), "Provider: %s",
			 cn->failure_reason);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* PDF                                                                       */

#define PAGE_W 595.0f
#define PAGE_H 842.0f
#define MARGIN 50.0f
#define ROW_H 13.0f
#define BOTTOM 70.0f
#define MAX_PAGES 200

typedef struct pdf {
	HPDF_Doc doc;
	HPDF_Font font, bold;
	HPDF_Page pages[MAX_PAGES];
	int n_pages;
	HPDF_Page page;
	float y;
	iconv_t cv;
	HPDF_STATUS error, detail;
} pdf;

static void pdf_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user_data)
{
	pdf *p = user_data;
	if (!p->error) {
		p->error = error_no;
		p->detail = detail_no;
	}
}

/* UTF-8 to the fonts' WinAnsi (CP1252), transliterating the rest. */
static void to_ansi(pdf *p, const char *in, char *out, size_t cap)
{
	char *src = (char *)in, *dst = out;
	size_t inleft = strlen(in), outleft = cap - 1;

	if (p->cv == (iconv_t)-1) {
		snprintf(out, cap, "%s", in);
		return;
	}
	iconv(p->cv, NULL, NULL, NULL, NULL);
	while (inleft > 0 && outleft > 0) {
		if (iconv(p->cv, &src, &inleft, &dst, &outleft) != (size_t)-1)
			break;
		if (errno == E2BIG)
			break;
		/* a byte it cannot take: skip it */
		src++;
		inleft--;
		*dst++ = '?';
		outleft--;
	}
	*dst = '\0';
}

/* WinAnsi text at (x, y). */
static void put_ansi(pdf *p, HPDF_Font f, float size, float x, float y, const char *ansi)
{
	HPDF_Page_BeginText(p->page);
	HPDF_Page_SetFontAndSize(p->page, f, size);
	HPDF_Page_TextOut(p->page, x, y, ansi);
	HPDF_Page_EndText(p->page);
}

static void text_at(pdf *p, HPDF_Font f, float size, float x, float y, const char *s)
{
	char buf[1024];

	to_ansi(p, s, buf, sizeof(buf));
	put_ansi(p, f, size, x, y, buf);
}

/* Right-aligned at x. */
static void text_right(pdf *p, HPDF_Font f, float size, float x, float y, const char *s)
{
	char buf[1024];

	to_ansi(p, s, buf, sizeof(buf));
	HPDF_Page_SetFontAndSize(p->page, f, size);
	x -= HPDF_Page_TextWidth(p->page, buf);
	HPDF_Page_BeginText(p->page);
	HPDF_Page_TextOut(p->page, x, y, buf);
	HPDF_Page_EndText(p->page);
}

/* Text cut to width (with "..."). */
static void fit_ansi(pdf *p, HPDF_Font f, float size, float x, float y, float width,
		     const char *ansi)
{
	char buf[1024];
	HPDF_REAL real;
	HPDF_UINT n;

	snprintf(buf, sizeof(buf) - 4, "%s", ansi);
	HPDF_Page_SetFontAndSize(p->page, f, size);
	if (HPDF_Page_TextWidth(p->page, buf) > width) {
		n = HPDF_Page_MeasureText(p->page, buf, width - HPDF_Page_TextWidth(p->page, "..."),
					  HPDF_FALSE, &real);
		memcpy(buf + n, "...", 4);
	}
	put_ansi(p, f, size, x, y, buf);
}

static void text_fit(pdf *p, HPDF_Font f, float size, float x, float y, float width, const char *s)
{
	char buf[1024];

	to_ansi(p, s, buf, sizeof(buf));
	fit_ansi(p, f, size, x, y, width, buf);
}

/* The first line of s that fits width at the current font (cut at a space
 * when there is one) into first; 1 with *rest the remainder when s does
 * not fit on one line. first and *rest are WinAnsi (converted from s);
 * *rest stays valid until the next call on this thread. */
static int desc_split(pdf *p, const char *s, float width, char *first, size_t cap,
		      const char **rest)
{
	static _Thread_local char conv[1024];
	HPDF_REAL real;
	HPDF_UINT n;

	to_ansi(p, s, conv, sizeof(conv));
	HPDF_Page_SetFontAndSize(p->page, p->font, 8);
	if (HPDF_Page_TextWidth(p->page, conv) <= width) {
		snprintf(first, cap, "%s", conv);
		return 0;
	}
	n = HPDF_Page_MeasureText(p->page, conv, width, HPDF_TRUE, &real);
	if (n == 0)
		n = HPDF_Page_MeasureText(p->page, conv, width, HPDF_FALSE, &real);
	if (n >= cap)
		n = (HPDF_UINT)cap - 1;
	memcpy(first, conv, n);
	first[n] = '\0';
	for (*rest = conv + n; **rest == ' '; (*rest)++)
		;
	return 1;
}

/* Text wrapped to width, from y down; returns the y below it. */
static float text_wrap(pdf *p, HPDF_Font f, float size, float x, float y, float width,
		       const char *s)
{
	char buf[2048], line[2048];
	const char *cur = buf;
	HPDF_REAL real;

	to_ansi(p, s, buf, sizeof(buf));
	HPDF_Page_SetFontAndSize(p->page, f, size);
	while (*cur) {
		HPDF_UINT n = HPDF_Page_MeasureText(p->page, cur, width, HPDF_TRUE, &real);
		if (n == 0) /* one word wider than the line */
			n = HPDF_Page_MeasureText(p->page, cur, width, HPDF_FALSE, &real);
		if (n == 0)
			break;
		memcpy(line, cur, n);
		line[n] = '\0';
		HPDF_Page_BeginText(p->page);
		HPDF_Page_TextOut(p->page, x, y, line);
		HPDF_Page_EndText(p->page);
		y -= size + 3;
		cur += n;
		while (*cur == ' ')
			cur++;
	}
	return y;
}

static void rule(pdf *p, float y, float gray, float width)
{
	HPDF_Page_SetGrayStroke(p->page, gray);
	HPDF_Page_SetLineWidth(p->page, width);
	HPDF_Page_MoveTo(p->page, MARGIN, y);
	HPDF_Page_LineTo(p->page, PAGE_W - MARGIN, y);
	HPDF_Page_Stroke(p->page);
}

static int new_page(pdf *p)
{
	if (p->n_pages == MAX_PAGES)
		return -1;
	p->page = HPDF_AddPage(p->doc);
	if (!p->page)
		return -1;
	HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
	p->pages[p->n_pages++] = p->page;
	p->y = PAGE_H - MARGIN;
	return 0;
}

/* Table columns: description, period, term, net, rate, tax, total. */
#define COL_DESC MARGIN
#define COL_PERIOD 222.0f
#define COL_QTY 345.0f
#define COL_NET 405.0f
#define COL_RATE 442.0f
#define COL_TAX 490.0f
#define COL_TOTAL (PAGE_W - MARGIN)

static void table_head(pdf *p, const doc_model *m)
{
	HPDF_Page_SetGrayFill(p->page, 0.92f);
	HPDF_Page_Rectangle(p->page, MARGIN, p->y - 4, PAGE_W - 2 * MARGIN, ROW_H + 2);
	HPDF_Page_Fill(p->page);
	HPDF_Page_SetGrayFill(p->page, 0);
	text_at(p, p->bold, 8, COL_DESC + 2, p->y, "Description");
	text_at(p, p->bold, 8, COL_PERIOD, p->y, "Period");
	text_right(p, p->bold, 8, COL_QTY, p->y, m->qty_head);
	text_right(p, p->bold, 8, COL_NET, p->y, "Net");
	text_right(p, p->bold, 8, COL_RATE, p->y, "Rate");
	text_right(p, p->bold, 8, COL_TAX, p->y, "Tax");
	text_right(p, p->bold, 8, COL_TOTAL, p->y, "Total");
	p->y -= ROW_H + 4;
}

static float party(pdf *p, float x, float y, const char *head, const store_party *s)
{
	char line[400];

	text_at(p, p->bold, 8, x, y, head);
	y -= 13;
	if (!s || (!s->name[0] && !s->company[0])) {
		text_at(p, p->font, 9, x, y, "(not configured)");
		return y - 12;
	}
	if (s->company[0]) {
		text_at(p, p->bold, 10, x, y, s->company);
		y -= 12;
	}
	if (s->name[0]) {
		text_at(p, s->company[0] ? p->font : p->bold, s->company[0] ? 9 : 10, x, y,
			s->name);
		y -= 12;
	}
	if (s->address[0])
		y = text_wrap(p, p->font, 9, x, y, 230, s->address);
	snprintf(line, sizeof(line), "%s%s%s", s->country, s->region[0] ? " / " : "", s->region);
	if (line[0]) {
		text_at(p, p->font, 9, x, y, line);
		y -= 12;
	}
	if (s->tax_id[0]) {
		snprintf(line, sizeof(line), "VAT id: %s", s->tax_id);
		text_at(p, p->font, 9, x, y, line);
		y -= 12;
	}
	if (s->email[0]) {
		text_at(p, p->font, 9, x, y, s->email);
		y -= 12;
	}
	return y;
}

static int pdf_render(const doc_model *m, uint8_t **out, size_t *len)
{
	pdf p;
	float y1, y2;
	HPDF_UINT32 size;
	uint8_t *buf = NULL;
	char line[320];
	struct tm tm;
	HPDF_Date d;
	char first[1024];
	const char *rest;
	int two, rc = -1;

	memset(&p, 0, sizeof(p));
	p.cv = iconv_open("WINDOWS-1252//TRANSLIT", "UTF-8");
	p.doc = HPDF_New(pdf_error, &p);
	if (!p.doc)
		goto done;
	HPDF_SetCompressionMode(p.doc, HPDF_COMP_ALL);
	p.font = HPDF_GetFont(p.doc, "Helvetica", "WinAnsiEncoding");
	p.bold = HPDF_GetFont(p.doc, "Helvetica-Bold", "WinAnsiEncoding");
	snprintf(line, sizeof(line), "%s %s", m->title, m->number);
	HPDF_SetInfoAttr(p.doc, HPDF_INFO_TITLE, line);
	HPDF_SetInfoAttr(p.doc, HPDF_INFO_CREATOR, "SmartPlus Billing");
	if (m->seller && m->seller->name[0])
		HPDF_SetInfoAttr(p.doc, HPDF_INFO_AUTHOR, m->seller->name);
	gmtime_r(&m->date_s, &tm);
	memset(&d, 0, sizeof(d));
	d.year = tm.tm_year + 1900;
	d.month = tm.tm_mon + 1;
	d.day = tm.tm_mday;
	d.hour = tm.tm_hour;
	d.minutes = tm.tm_min;
	d.seconds = tm.tm_sec;
	d.ind = 'Z';
	HPDF_SetInfoDateAttr(p.doc, HPDF_INFO_CREATION_DATE, d);
	if (!p.font || !p.bold || new_page(&p) != 0)
		goto done;

	/* Header: title left, number and date right. */
	text_at(&p, p.bold, 20, MARGIN, p.y - 10, m->title);
	snprintf(line, sizeof(line), "No. %s", m->number);
	text_right(&p, p.bold, 11, PAGE_W - MARGIN, p.y - 4, line);
	snprintf(line, sizeof(line), "Date: %s", m->date);
	text_right(&p, p.font, 9, PAGE_W - MARGIN, p.y - 18, line);
	p.y -= 40;
	for (size_t i = 0; i < m->n_meta; i++) {
		text_fit(&p, p.font, 9, MARGIN, p.y, PAGE_W - 2 * MARGIN, m->meta[i]);
		p.y -= 12;
	}
	p.y -= 10;
	rule(&p, p.y + 4, 0.6f, 0.5f);
	p.y -= 12;
	y1 = party(&p, MARGIN, p.y, "SELLER", m->seller);
	y2 = party(&p, 320, p.y, "BILL TO", m->buyer);
	p.y = (y1 < y2 ? y1 : y2) - 14;
	text_at(&p, p.font, 8, MARGIN, p.y, m->unit);
	p.y -= 16;

	/* The table, across pages. */
	table_head(&p, m);
	for (size_t i = 0; i < m->n_rows; i++) {
		const doc_row *r = &m->rows[i];
		if (p.y < BOTTOM + 2 * ROW_H) {
			if (new_page(&p) != 0)
				goto done;
			snprintf(line, sizeof(line), "%s %s (continued)", m->title, m->number);
			text_at(&p, p.bold, 10, MARGIN, p.y, line);
			p.y -= 24;
			table_head(&p, m);
		}
		two = desc_split(&p, r->desc, COL_PERIOD - COL_DESC - 8, first, sizeof(first),
				 &rest);
		put_ansi(&p, p.font, 8, COL_DESC + 2, p.y, first);
		if (two)
			fit_ansi(&p, p.font, 8, COL_DESC + 2, p.y - ROW_H + 3,
				 COL_PERIOD - COL_DESC - 8, rest);
		text_fit(&p, p.font, 8, COL_PERIOD, p.y, COL_QTY - COL_PERIOD - 24, r->period);
		text_right(&p, p.font, 8, COL_QTY, p.y, r->qty);
		text_right(&p, p.font, 8, COL_NET, p.y, r->net);
		text_right(&p, p.font, 8, COL_RATE, p.y, r->rate);
		text_right(&p, p.font, 8, COL_TAX, p.y, r->tax);
		text_right(&p, p.font, 8, COL_TOTAL, p.y, r->total);
		p.y -= two ? 2 * ROW_H - 3 : ROW_H;
	}
	rule(&p, p.y + 8, 0.6f, 0.5f);
	p.y -= 8;

	/* Totals, tax, payment, notes: a new page when they do not fit. */
	if (p.y < BOTTOM + 14 * (float)(m->n_totals + m->n_tax + m->n_payment + 2 * m->n_notes)) {
		if (new_page(&p) != 0)
			goto done;
	}
	for (size_t i = 0; i < m->n_totals; i++) {
		const doc_kv *kv = &m->totals[i];
		float pt = kv->strong ? 11 : 9;
		if (kv->strong) {
			rule(&p, p.y + 10, 0, 0.8f);
			p.y -= 2;
		}
		text_right(&p, kv->strong ? p.bold : p.font, pt, COL_TAX, p.y, kv->label);
		text_right(&p, kv->strong ? p.bold : p.font, pt, COL_TOTAL, p.y, kv->value);
		p.y -= pt + 5;
	}
	p.y -= 8;
	for (size_t i = 0; i < m->n_tax; i++)
		p.y = text_wrap(&p, p.font, 8.5f, MARGIN, p.y, PAGE_W - 2 * MARGIN, m->tax[i]);
	p.y -= 6;
	for (size_t i = 0; i < m->n_payment; i++)
		p.y = text_wrap(&p, p.font, 8.5f, MARGIN, p.y, PAGE_W - 2 * MARGIN, m->payment[i]);
	p.y -= 6;
	for (size_t i = 0; i < m->n_notes; i++)
		p.y = text_wrap(&p, p.bold, 8.5f, MARGIN, p.y, PAGE_W - 2 * MARGIN, m->notes[i]);

	/* Footers, now that the page count is known. */
	for (int i = 0; i < p.n_pages; i++) {
		p.page = p.pages[i];
		rule(&p, 48, 0.7f, 0.4f);
		snprintf(line, sizeof(line), "%s %s", m->title, m->number);
		text_at(&p, p.font, 7.5f, MARGIN, 36, line);
		snprintf(line, sizeof(line), "Page %d of %d", i + 1, p.n_pages);
		text_right(&p, p.font, 7.5f, PAGE_W - MARGIN, 36, line);
	}
	if (p.error || HPDF_SaveToStream(p.doc) != HPDF_OK)
		goto done;
	size = HPDF_GetStreamSize(p.doc);
	buf = xmalloc(size);
	HPDF_ResetStream(p.doc);
	{
		HPDF_UINT32 got = size;
		HPDF_STATUS st = HPDF_ReadFromStream(p.doc, buf, &got);
		if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || got != size)
			goto done;
	}
	*out = buf;
	*len = size;
	buf = NULL;
	rc = 0;
done:
	if (rc != 0)
		log_error("document %s: libharu error 0x%04lx (detail %lu)", m->number,
			  (unsigned long)p.error, (unsigned long)p.detail);
	free(buf);
	if (p.doc)
		HPDF_Free(p.doc);
	if (p.cv != (iconv_t)-1 && p.cv)
		iconv_close(p.cv);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* HTML                                                                      */

typedef struct sbuf {
	char *p;
	size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;
		while (cap < b->n + n + 1)
			cap *= 2;
		np = xrealloc(b->p, cap);
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void raw(sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* s with & < > " ' escaped. */
static void esc(sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': raw(b, "&amp;"); break;
		case '<': raw(b, "&lt;"); break;
		case '>': raw(b, "&gt;"); break;
		case '"': raw(b, "&quot;"); break;
		case '\'': raw(b, "&#39;"); break;
		default: put(b, s, 1);
		}
	}
}

static void tag(sbuf *b, const char *open, const char *text, const char *close)
{
	raw(b, open);
	esc(b, text);
	raw(b, close);
}

static void html_party(sbuf *b, const char *head, const store_party *s)
{
	tag(b, "<div class=\"party\"><h3>", head, "</h3>");
	if (!s || (!s->name[0] && !s->company[0])) {
		raw(b, "<p>(not configured)</p></div>");
		return;
	}
	if (s->company[0])
		tag(b, "<p><b>", s->company, "</b></p>");
	if (s->name[0])
		tag(b, "<p>", s->name, "</p>");
	if (s->address[0])
		tag(b, "<p>", s->address, "</p>");
	if (s->country[0])
		tag(b, "<p>", s->country, s->region[0] ? " / " : "</p>");
	if (s->country[0] && s->region[0])
		tag(b, "", s->region, "</p>");
	if (s->tax_id[0])
		tag(b, "<p>VAT id: ", s->tax_id, "</p>");
	if (s->email[0])
		tag(b, "<p>", s->email, "</p>");
	raw(b, "</div>");
}

static int html_render(const doc_model *m, uint8_t **out, size_t *len)
{
	sbuf b = {0};

	raw(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
	esc(&b, m->title);
	raw(&b, " ");
	esc(&b, m->number);
	raw(&b, "</title><style>body{font-family:Helvetica,Arial,sans-serif;font-size:10pt;"
		"margin:2em}table{border-collapse:collapse;width:100%}th{background:#eee;"
		"text-align:left}td,th{padding:3px 6px}.n{text-align:right}.party{display:"
		"inline-block;vertical-align:top;width:45%}.party p{margin:2px 0}</style>"
		"</head><body>\n");
	tag(&b, "<h1>", m->title, "</h1>");
	tag(&b, "<p><b>No. ", m->number, "</b></p>");
	tag(&b, "<p>Date: ", m->date, "</p>");
	for (size_t i = 0; i < m->n_meta; i++)
		tag(&b, "<p>", m->meta[i], "</p>");
	html_party(&b, "Seller", m->seller);
	html_party(&b, "Bill to", m->buyer);
	tag(&b, "<p>", m->unit, "</p>\n<table><tr><th>Description</th><th>Period</th>");
	tag(&b, "<th class=\"n\">", m->qty_head,
	    "</th><th class=\"n\">Net</th><th class=\"n\">Rate</th><th class=\"n\">Tax</th>"
	    "<th class=\"n\">Total</th></tr>\n");
	for (size_t i = 0; i < m->n_rows; i++) {
		const doc_row *r = &m->rows[i];
		tag(&b, "<tr><td>", r->desc, "</td>");
		tag(&b, "<td>", r->period, "</td>");
		tag(&b, "<td class=\"n\">", r->qty, "</td>");
		tag(&b, "<td class=\"n\">", r->net, "</td>");
		tag(&b, "<td class=\"n\">", r->rate, "</td>");
		tag(&b, "<td class=\"n\">", r->tax, "</td>");
		tag(&b, "<td class=\"n\">", r->total, "</td></tr>\n");
	}
	raw(&b, "</table>\n<table>");
	for (size_t i = 0; i < m->n_totals; i++) {
		const doc_kv *kv = &m->totals[i];
		tag(&b, kv->strong ? "<tr><td class=\"n\"><b>" : "<tr><td class=\"n\">", kv->label,
		    kv->strong ? "</b></td>" : "</td>");
		tag(&b, kv->strong ? "<td class=\"n\"><b>" : "<td class=\"n\">", kv->value,
		    kv->strong ? "</b></td></tr>" : "</td></tr>");
	}
	raw(&b, "</table>\n");
	for (size_t i = 0; i < m->n_tax; i++)
		tag(&b, "<p>", m->tax[i], "</p>");
	for (size_t i = 0; i < m->n_payment; i++)
		tag(&b, "<p>", m->payment[i], "</p>");
	for (size_t i = 0; i < m->n_notes; i++)
		tag(&b, "<p><b>", m->notes[i], "</b></p>");
	raw(&b, "</body></html>\n");
	*out = (uint8_t *)b.p;
	*len = b.n;
	return 0;
}

/* ------------------------------------------------------------------------ */

static int render(doc_model *m, int ok, doc_format f, uint8_t **out, size_t *len)
{
	int rc = -1;

	*out = NULL;
	*len = 0;
	if (ok == 0)
		rc = f == DOC_HTML ? html_render(m, out, len) : pdf_render(m, out, len);
	free(m->rows);
	return rc;
}

int invoice_doc_render(const store_invoice *inv, doc_format f, uint8_t **out, size_t *len)
{
	doc_model m;
	int ok = invoice_model(inv, &m);
	return render(&m, ok, f, out, len);
}

int credit_note_doc_render(const store_credit_note *cn, doc_format f, uint8_t **out, size_t *len)
{
	doc_model m;
	int ok = credit_note_model(cn, &m);
	return render(&m, ok, f, out, len);
}

/* ------------------------------------------------------------------------ */
/* GetInvoiceDocument                                                        */

void rpc_InvoiceService_GetInvoiceDocument(
	struct rpc_call *call, const Smartplus__Billing__V1__GetInvoiceDocumentRequest *req)
{
	Smartplus__Billing__V1__GetInvoiceDocumentResponse r =
		SMARTPLUS__BILLING__V1__GET_INVOICE_DOCUMENT_RESPONSE__INIT;
	const char *id = req->invoice_id[0] ? req->invoice_id : req->credit_note_id;
	doc_format f = req->format == V1(DOCUMENT_FORMAT__DOCUMENT_FORMAT_HTML) ? DOC_HTML
										: DOC_PDF;
	store_invoice *inv = NULL;
	store_credit_note *cn = NULL;
	char filename[STORE_DOC_NUMBER_MAX + 8];
	uint8_t *doc = NULL;
	size_t len = 0;
	store_txn *txn;
	int rc, may = 0;

	if (req->invoice_id[0] && req->credit_note_id[0]) {
		BAD_ARG(call, "invoice_id: give invoice_id or credit_note_id, not both");
		return;
	}
	if (!id[0]) {
		BAD_ARG(call, "invoice_id: required (or credit_note_id)");
		return;
	}
	if (!valid_id(id)) {
		BAD_ARG(call, "%s: must match [A-Za-z0-9_.-]{1,64}",
			req->invoice_id[0] ? "invoice_id" : "credit_note_id");
		return;
	}
	if (req->format &&
	    !valid_enum(&smartplus__billing__v1__document_format__descriptor, req->format)) {
		BAD_ARG(call, "format: unknown document format %d", req->format);
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	rc = req->invoice_id[0] ? store_invoice_get(txn, id, &inv)
				: store_credit_note_get(txn, id, &cn);
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), inv ? inv->payer_id : cn->payer_id);
	store_read_end(txn);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, may, req->invoice_id[0] ? "invoice_id" : "credit_note_id"))
		goto done;
	/* rendered outside the read transaction: the record is ours */
	rc = inv ? invoice_doc_render(inv, f, &doc, &len)
		 : credit_note_doc_render(cn, f, &doc, &len);
	if (rc != 0) {
		rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		goto done;
	}
	snprintf(filename, sizeof(filename), "%s.%s", id, f == DOC_HTML ? "html" : "pdf");
	r.content.data = doc;
	r.content.len = len;
	r.content_type = f == DOC_HTML ? "text/html; charset=utf-8" : "application/pdf";
	r.filename = filename;
	rpc_reply(call, &r.base);
done:
	free(doc);
	store_record_free(inv);
	store_record_free(cn);
}
