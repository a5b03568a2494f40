/*
 * Unit tests of invoice issuing (server/invoices.c), the invoice and credit
 * note tables (storage/invoice.c) and the documents (server/invoice_doc.c),
 * from spb_server_core without the gRPC server, on a fresh temporary store
 * per test: gapless numbering (and a rolled-back issue consumes no
 * number), one invoice per order, the snapshot's lines, periods,
 * discounts and tax, lists by payer, subtree and period with tokens, and
 * the PDF: valid for pdfinfo, its text (pdftotext) holding the number, both
 * tax ids, the lines and the totals, pages numbered when the lines do not
 * fit on one.
 *
 * pdfinfo/pdftotext come from poppler-utils (tools/setup.sh).
 */
#include "spt_run.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "billingd.h"
#include "store_invoice.h"
#include "invoice_doc.h"
#include "invoices.h"
#include "store_order.h"
#include "store.h"
#include "pdf_check.h"
#include "spt_store.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define T0 (INT64_C(1767225600) * 1000000) /* 2026-01-01T00:00:00Z */
#define DAY (INT64_C(86400) * 1000000)

billingd_state billingd; /* main.c is not linked */

static spt_store st;
static store_env *env;
static const char *dir; /* the store's directory: documents go there too */

static void setup(void)
{
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&st, 64u << 20, 0), 0);
	env = st.env;
	dir = st.dir;
	billingd.store = env;
	invoice_config_defaults(&billingd.cfg.invoicing);
	billingd.cfg.invoicing.seller_name = "SmartPlus Cloud GmbH";
	billingd.cfg.invoicing.seller_address = "Hauptstrasse 1, 10115 Berlin";
	billingd.cfg.invoicing.seller_country = "DE";
	billingd.cfg.invoicing.seller_tax_id = "DE123456789";
	billingd.cfg.invoicing.prefix = "SPB";
}

static void teardown(void)
{
	CU_ASSERT_EQUAL(spt_store_close(&st), 0);
	env = NULL;
	billingd.store = NULL;
}

/* A SUCCEEDED order with two lines (one free), a discount and 19 % tax. */
typedef struct order_fix {
	store_order o;
	store_line l[2], *pl[2];
	char id[40];
} order_fix;

static void make_order(order_fix *f, const char *id, const char *payer, int with_tax)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "%s", id);
	smartplus__billing__store__v1__order_record__init(&f->o);
	for (int i = 0; i < 2; i++) {
		smartplus__billing__store__v1__line_record__init(&f->l[i]);
		f->pl[i] = &f->l[i];
	}
	f->l[0].item_id = "door-1";
	f->l[0].project_id = "site-a";
	f->l[0].service_type = V1(SERVICE_TYPE__SERVICE_TYPE_DOOR);
	f->l[0].unit_amount = 1000;
	f->l[0].months = 3;
	f->l[0].amount = 3000;
	f->l[0].new_expires_at = T0 + 90 * DAY;
	f->l[1].item_id = "door-2";
	f->l[1].project_id = "site-a";
	f->l[1].service_type = V1(SERVICE_TYPE__SERVICE_TYPE_DOOR);
	f->l[1].unit_amount = 1000;
	f->l[1].months = 3;
	f->l[1].amount = 0;
	f->l[1].free = 1;
	f->l[1].current_expires_at = T0 + 10 * DAY;
	f->l[1].new_expires_at = T0 + 100 * DAY;
	f->o.order_id = f->id;
	f->o.type = V1(ORDER_TYPE__ORDER_TYPE_ACTIVATION);
	f->o.status = V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED);
	f->o.payer_id = (char *)payer;
	f->o.installer_id = "inst";
	f->o.lines = f->pl;
	f->o.n_lines = 2;
	f->o.subtotal = 3000;
	f->o.discount = 300;
	f->o.total = 2700;
	f->o.currency = "EUR";
	f->o.payment_method = V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE);
	f->o.bill_name = "Ana Buyer";
	f->o.bill_company = "Buyer SARL";
	f->o.bill_address = "1 rue de la Paix, Paris";
	f->o.bill_country = "FR";
	f->o.bill_tax_id = "FR40303265045";
	f->o.bill_email = "ana@example.com";
	f->o.stripe_payment_intent_id = "pi_123";
	f->o.create_time = T0;
	f->o.update_time = T0;
	if (with_tax) {
		/* what placement computes: 19 % exclusive on 2700 */
		tax_decision d = {.treatment = TAX_STANDARD, .rate_bp = 1900};
		int64_t tax, charged;
		CU_ASSERT_EQUAL(invoice_tax_apply(&d, f->pl, 2, 0, 300, &tax, &charged), 0);
		f->o.tax_treatment = TAX_STANDARD;
		f->o.tax_rate_bp = 1900;
		f->o.tax_country = "DE";
		f->o.tax_total = tax;
		f->o.total = charged;
	}
}

typedef struct issue_arg {
	const store_order *o;
	int64_t now;
	char number[STORE_DOC_NUMBER_MAX];
	int fail_after; /* make the mutation fail after issuing */
} issue_arg;

static int apply_issue(store_txn *w, void *arg)
{
	issue_arg *a = arg;
	int rc = invoice_issue(w, a->o, a->now, a->number);
	return rc == 0 && a->fail_after ? 7 : rc;
}

static int issue(const store_order *o, int64_t now, char number[STORE_DOC_NUMBER_MAX])
{
	issue_arg a = {o, now, "", 0};
	int rc = store_write_sync(env, apply_issue, &a);
	if (number)
		memcpy(number, a.number, STORE_DOC_NUMBER_MAX);
	return rc;
}

static store_invoice *get_invoice(const char *number)
{
	store_txn *txn;
	store_invoice *inv = NULL;
	if (store_read_begin(env, &txn) != 0)
		return NULL;
	if (store_invoice_get(txn, number, &inv) != 0)
		inv = NULL;
	store_read_end(txn);
	return inv;
}

static void test_numbers_are_gapless_per_year(void)
{
	char number[STORE_DOC_NUMBER_MAX], id[40];
	order_fix f;

	for (int i = 1; i <= 25; i++) {
		snprintf(id, sizeof(id), "ord_%04d", i);
		make_order(&f, id, "payer-a", 0);
		CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0 + i, number), 0);
		char want[64];
		snprintf(want, sizeof(want), "SPB-2026-%06d", i);
		CU_ASSERT_STRING_EQUAL(number, want);
	}
	/* a new year starts again at 1 */
	make_order(&f, "ord_next_year", "payer-a", 0);
	CU_ASSERT_EQUAL(issue(&f.o, T0 + 366 * DAY, number), 0);
	CU_ASSERT_STRING_EQUAL(number, "SPB-2027-000001");
}

static void test_rolled_back_issue_consumes_no_number(void)
{
	char number[STORE_DOC_NUMBER_MAX];
	order_fix f;
	issue_arg a;
	store_txn *txn;
	uint64_t last = 99;

	make_order(&f, "ord_rollback", "payer-a", 0);
	a = (issue_arg){&f.o, T0, "", 1};
	CU_ASSERT_EQUAL(store_write_sync(env, apply_issue, &a), 7);
	CU_ASSERT_STRING_EQUAL(a.number, "SPB-2026-000001"); /* taken, then undone */
	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &txn), 0);
	CU_ASSERT_EQUAL(store_invoice_last_seq(txn, 2026, &last), 0);
	CU_ASSERT_EQUAL(last, 0);
	store_read_end(txn);
	CU_ASSERT_PTR_NULL(get_invoice("SPB-2026-000001"));
	make_order(&f, "ord_committed", "payer-a", 0);
	CU_ASSERT_EQUAL(issue(&f.o, T0, number), 0);
	CU_ASSERT_STRING_EQUAL(number, "SPB-2026-000001");
}

static void test_one_invoice_per_order(void)
{
	char first[STORE_DOC_NUMBER_MAX], again[STORE_DOC_NUMBER_MAX];
	order_fix f;
	store_txn *txn;
	uint64_t last = 0;

	make_order(&f, "ord_once", "payer-a", 0);
	CU_ASSERT_EQUAL(issue(&f.o, T0, first), 0);
	CU_ASSERT_EQUAL(issue(&f.o, T0 + 5, again), 0);
	CU_ASSERT_STRING_EQUAL(first, again);
	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &txn), 0);
	CU_ASSERT_EQUAL(store_invoice_last_seq(txn, 2026, &last), 0);
	CU_ASSERT_EQUAL(last, 1);
	store_read_end(txn);
}

static void test_only_succeeded_orders(void)
{
	order_fix f;
	int statuses[] = {V1(ORDER_STATUS__ORDER_STATUS_FAILED),
			  V1(ORDER_STATUS__ORDER_STATUS_CANCELED),
			  V1(ORDER_STATUS__ORDER_STATUS_TIMED_OUT),
			  V1(ORDER_STATUS__ORDER_STATUS_PROCESSING)};

	for (size_t i = 0; i < 4; i++) {
		make_order(&f, "ord_unpaid", "payer-a", 0);
		f.o.status = statuses[i];
		CU_ASSERT_EQUAL(issue(&f.o, T0, NULL), STORE_INVALID);
	}
	CU_ASSERT_PTR_NULL(get_invoice("SPB-2026-000001"));
}

static void test_snapshot_lines_and_tax(void)
{
	char number[STORE_DOC_NUMBER_MAX];
	order_fix f;
	store_invoice *inv;
	int64_t sum = 0;

	make_order(&f, "ord_tax", "payer-a", 1);
	CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0, number), 0);
	inv = get_invoice(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_STRING_EQUAL(inv->seller->name, "SmartPlus Cloud GmbH");
	CU_ASSERT_STRING_EQUAL(inv->seller->tax_id, "DE123456789");
	CU_ASSERT_STRING_EQUAL(inv->buyer->company, "Buyer SARL");
	CU_ASSERT_STRING_EQUAL(inv->buyer->tax_id, "FR40303265045");
	CU_ASSERT_STRING_EQUAL(inv->buyer->account_id, "payer-a");
	CU_ASSERT_EQUAL_FATAL(inv->n_lines, 2);
	/* the discount all on the paid line; 19 % of 2700 = 513 */
	CU_ASSERT_EQUAL(inv->lines[0]->amount, 3000);
	CU_ASSERT_EQUAL(inv->lines[0]->discount, 300);
	CU_ASSERT_EQUAL(inv->lines[0]->net_amount, 2700);
	CU_ASSERT_EQUAL(inv->lines[0]->tax_amount, 513);
	CU_ASSERT_EQUAL(inv->lines[0]->total, 3213);
	CU_ASSERT_EQUAL(inv->lines[0]->days, 90);
	CU_ASSERT_EQUAL(inv->lines[0]->period_start, T0);
	CU_ASSERT_EQUAL(inv->lines[0]->period_end, T0 + 90 * DAY);
	CU_ASSERT(inv->lines[1]->free);
	CU_ASSERT_EQUAL(inv->lines[1]->total, 0);
	/* renewal of an active item: its period starts at the old expiry */
	CU_ASSERT_EQUAL(inv->lines[1]->period_start, T0 + 10 * DAY);
	for (size_t i = 0; i < inv->n_lines; i++)
		sum += inv->lines[i]->total;
	CU_ASSERT_EQUAL(sum, inv->total);
	CU_ASSERT_EQUAL(inv->total, 3213);
	CU_ASSERT_EQUAL(inv->subtotal, 3000);
	CU_ASSERT_EQUAL(inv->discount, 300);
	CU_ASSERT_EQUAL(inv->net_total, 2700);
	CU_ASSERT_EQUAL(inv->tax_total, 513);
	CU_ASSERT_EQUAL_FATAL(inv->n_tax_lines, 1);
	CU_ASSERT_EQUAL(inv->tax_lines[0]->rate_bp, 1900);
	CU_ASSERT_EQUAL(inv->tax_lines[0]->net_amount, 2700);
	CU_ASSERT_STRING_EQUAL(inv->stripe_payment_intent_id, "pi_123");
	CU_ASSERT_STRING_EQUAL(inv->currency, "EUR");
	store_record_free(inv);
}

static void test_credit_paid_order_is_in_credits(void)
{
	char number[STORE_DOC_NUMBER_MAX];
	order_fix f;
	store_invoice *inv;

	make_order(&f, "ord_credits", "payer-a", 0);
	f.o.payment_method = V1(PAYMENT_METHOD__PAYMENT_METHOD_CREDITS);
	f.l[0].amount = 0;
	f.l[0].unit_amount = 0;
	f.l[0].unit_credits = 4;
	f.l[0].credits = 12;
	f.o.subtotal = f.o.discount = f.o.total = 0;
	f.o.currency = "";
	f.o.credits_total = 12;
	f.o.transfer_id = "trf_0000000000000001";
	CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0, number), 0);
	inv = get_invoice(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT(inv->in_credits);
	CU_ASSERT_STRING_EQUAL(inv->currency, "");
	CU_ASSERT_EQUAL(inv->total, 12);
	CU_ASSERT_EQUAL(inv->lines[0]->total, 12);
	CU_ASSERT_EQUAL(inv->lines[0]->unit_amount, 4);
	CU_ASSERT_STRING_EQUAL(inv->transfer_id, "trf_0000000000000001");
	store_record_free(inv);
}

static void test_credit_purchase_line(void)
{
	char number[STORE_DOC_NUMBER_MAX];
	order_fix f;
	store_invoice *inv;

	make_order(&f, "ord_buy", "payer-a", 0);
	f.o.type = V1(ORDER_TYPE__ORDER_TYPE_CREDIT_PURCHASE);
	f.o.n_lines = 0;
	f.o.credits_quantity = 50;
	f.o.beneficiary_id = "inst";
	f.o.subtotal = 5000;
	f.o.discount = 0;
	f.o.total = 5000;
	CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0, number), 0);
	inv = get_invoice(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL_FATAL(inv->n_lines, 1);
	CU_ASSERT_EQUAL(inv->lines[0]->quantity, 50);
	CU_ASSERT_EQUAL(inv->lines[0]->unit_amount, 100);
	CU_ASSERT_EQUAL(inv->lines[0]->total, 5000);
	CU_ASSERT_PTR_NOT_NULL(strstr(inv->lines[0]->description, "inst"));
	CU_ASSERT_EQUAL(inv->total, 5000);
	store_record_free(inv);
}

/* Seeds the tree vendor <- dist <- inst and a sibling dist2 <- inst2. */
static int apply_tree(store_txn *w, void *arg)
{
	static const char *tree[][2] = {{"vendor", ""},
					{"dist", "vendor"},
					{"inst", "dist"},
					{"dist2", "vendor"},
					{"inst2", "dist2"}};
	(void)arg;
	for (size_t i = 0; i < 5; i++) {
		store_account a = STORE_ACCOUNT_INIT;
		int rc;
		a.account_id = (char *)tree[i][0];
		a.parent_id = (char *)tree[i][1];
		a.role = 1 + (int)i;
		if ((rc = store_account_put(w, &a, 0)) != 0)
			return rc;
	}
	return 0;
}

static size_t list_count(store_doc_filter *f, int page, int *pages)
{
	store_txn *txn;
	store_list l = {0};
	char *tok = NULL;
	size_t n = 0;

	*pages = 0;
	if (store_read_begin(env, &txn) != 0)
		return 0;
	do {
		int rc = store_invoice_list(txn, f, page, tok, &l);
		CU_ASSERT_EQUAL(rc, 0);
		if (rc)
			break;
		n += l.n;
		(*pages)++;
		free(tok);
		tok = l.next_page_token ? strdup(l.next_page_token) : NULL;
		store_list_free(&l);
	} while (tok && *pages < 100);
	free(tok);
	store_read_end(txn);
	return n;
}

static void test_lists_by_payer_subtree_and_period(void)
{
	char id[40];
	order_fix f;
	store_doc_filter filt = {0};
	int pages;
	store_txn *txn;
	store_list l = {0};

	CU_ASSERT_EQUAL_FATAL(store_write_sync(env, apply_tree, NULL), 0);
	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof(id), "ord_inst_%d", i);
		make_order(&f, id, "inst", 0);
		CU_ASSERT_EQUAL(issue(&f.o, T0 + i * DAY, NULL), 0);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "ord_inst2_%d", i);
		make_order(&f, id, "inst2", 0);
		CU_ASSERT_EQUAL(issue(&f.o, T0 + i * DAY, NULL), 0);
	}
	filt.payer_id = "inst";
	CU_ASSERT_EQUAL(list_count(&filt, 3, &pages), 7);
	CU_ASSERT_EQUAL(pages, 3);
	filt.payer_id = NULL;
	filt.ancestor_id = "dist";
	CU_ASSERT_EQUAL(list_count(&filt, 2, &pages), 7);
	filt.ancestor_id = "dist2";
	CU_ASSERT_EQUAL(list_count(&filt, 0, &pages), 3);
	filt.ancestor_id = "vendor";
	CU_ASSERT_EQUAL(list_count(&filt, 4, &pages), 10);
	/* days 2, 3, 4 of inst: [T0 + 2d, T0 + 5d) */
	filt.ancestor_id = NULL;
	filt.payer_id = "inst";
	filt.start_us = T0 + 2 * DAY;
	filt.end_us = T0 + 5 * DAY;
	CU_ASSERT_EQUAL(list_count(&filt, 2, &pages), 3);
	/* newest first, and a token is bound to its filter */
	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &txn), 0);
	CU_ASSERT_EQUAL(store_invoice_list(txn, &filt, 2, NULL, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT(((store_invoice *)l.items[0])->issue_time >
		  ((store_invoice *)l.items[1])->issue_time);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l.next_page_token);
	{
		store_list l2 = {0};
		char *tok = strdup(l.next_page_token);
		filt.start_us = 0;
		CU_ASSERT_EQUAL(store_invoice_list(txn, &filt, 2, tok, &l2), STORE_INVALID);
		filt.payer_id = "inst2";
		filt.start_us = T0 + 2 * DAY;
		CU_ASSERT_EQUAL(store_invoice_list(txn, &filt, 2, tok, &l2), STORE_INVALID);
		free(tok);
	}
	store_list_free(&l);
	store_read_end(txn);
}

/* ---- documents ---- */

static void test_pdf_holds_number_tax_ids_lines_totals(void)
{
	char number[STORE_DOC_NUMBER_MAX];
	uint8_t *pdf = NULL, *pdf2 = NULL;
	size_t len = 0, len2 = 0;
	order_fix f;
	store_invoice *inv;
	pdf_facts pf;
	const char *text;

	make_order(&f, "ord_pdf", "payer-a", 1);
	CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0, number), 0);
	inv = get_invoice(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL_FATAL(invoice_doc_render(inv, DOC_PDF, &pdf, &len), 0);
	CU_ASSERT(len > 1000);
	CU_ASSERT(memcmp(pdf, "%PDF-", 5) == 0);
	/* the same record gives the same bytes */
	CU_ASSERT_EQUAL(invoice_doc_render(inv, DOC_PDF, &pdf2, &len2), 0);
	CU_ASSERT(len == len2 && memcmp(pdf, pdf2, len) == 0);
	CU_ASSERT_EQUAL_FATAL(pdf_check(pdf, len, dir, "invoice.pdf", &pf), 0);
	CU_ASSERT_EQUAL(pf.pages, 1);
	CU_ASSERT_STRING_EQUAL(pf.title, "Invoice SPB-2026-000001");
	text = pf.text;
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "SPB-2026-000001"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "VAT id: DE123456789"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "VAT id: FR40303265045"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "DOOR - item door-1, project site-a") ||
			       strstr(text, "item door-1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "item door-2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "2026-01-01 - 2026-04-01"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "27.00")); /* net */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "5.13"));  /* tax */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "32.13")); /* total */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "-3.00")); /* discount */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "19%"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "Amounts in EUR"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "pi_123"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "Page 1 of 1"));
	pdf_facts_free(&pf);
	free(pdf);
	free(pdf2);
	store_record_free(inv);
}

static void test_reverse_charge_note_on_pdf(void)
{
	char number[STORE_DOC_NUMBER_MAX];
	uint8_t *pdf = NULL;
	size_t len = 0;
	order_fix f;
	store_invoice *inv;
	pdf_facts pf;

	make_order(&f, "ord_rc", "payer-a", 0);
	{
		tax_decision d = {.treatment = TAX_REVERSE_CHARGE, .rate_bp = 0};
		int64_t tax, charged;
		CU_ASSERT_EQUAL(invoice_tax_apply(&d, f.pl, 2, 0, 300, &tax, &charged), 0);
		CU_ASSERT_EQUAL(tax, 0);
		CU_ASSERT_EQUAL(charged, 2700);
	}
	f.o.tax_treatment = TAX_REVERSE_CHARGE;
	f.o.tax_country = "FR";
	CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0, number), 0);
	inv = get_invoice(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL_FATAL(inv->n_notes, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(inv->notes[0], "Reverse charge"));
	CU_ASSERT_EQUAL(invoice_doc_render(inv, DOC_PDF, &pdf, &len), 0);
	CU_ASSERT_EQUAL_FATAL(pdf_check(pdf, len, dir, "rc.pdf", &pf), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(pf.text, "Reverse charge: VAT to be accounted for"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pf.text, "reverse charge"));
	pdf_facts_free(&pf);
	free(pdf);
	store_record_free(inv);
}

static void test_many_lines_make_numbered_pages(void)
{
	enum { N = 150 };
	char number[STORE_DOC_NUMBER_MAX];
	store_line lines[N], *pl[N];
	char ids[N][16];
	uint8_t *pdf = NULL;
	size_t len = 0;
	order_fix f;
	store_invoice *inv;
	pdf_facts pf;

	make_order(&f, "ord_pages", "payer-a", 0);
	for (int i = 0; i < N; i++) {
		lines[i] = f.l[0];
		snprintf(ids[i], sizeof(ids[i]), "app-%03d", i);
		lines[i].item_id = ids[i];
		lines[i].amount = 100;
		pl[i] = &lines[i];
	}
	f.o.lines = pl;
	f.o.n_lines = N;
	f.o.subtotal = f.o.total = 100 * N;
	f.o.discount = 0;
	CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0, number), 0);
	inv = get_invoice(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(invoice_doc_render(inv, DOC_PDF, &pdf, &len), 0);
	CU_ASSERT_EQUAL_FATAL(pdf_check(pdf, len, dir, "pages.pdf", &pf), 0);
	CU_ASSERT_EQUAL(pf.pages, 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(pf.text, "item app-000"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pf.text, "item app-149"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pf.text, "Page 4 of 4"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pf.text, "150.00"));
	pdf_facts_free(&pf);
	free(pdf);
	store_record_free(inv);
}

static void test_html_is_escaped(void)
{
	char number[STORE_DOC_NUMBER_MAX];
	uint8_t *html = NULL;
	size_t len = 0;
	order_fix f;
	store_invoice *inv;
	char *s;

	make_order(&f, "ord_html", "payer-a", 1);
	f.o.bill_company = "<script>alert(1)</script> & Co";
	CU_ASSERT_EQUAL_FATAL(issue(&f.o, T0, number), 0);
	inv = get_invoice(number);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL_FATAL(invoice_doc_render(inv, DOC_HTML, &html, &len), 0);
	s = strndup((char *)html, len);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
	CU_ASSERT_PTR_NULL(strstr(s, "<script>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "SPB-2026-000001"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "32.13"));
	free(s);
	free(html);
	store_record_free(inv);
}

static void test_amount_formats(void)
{
	char b[32];
	invoice_doc_amount(123456, "EUR", 0, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "1234.56");
	invoice_doc_amount(5, "USD", 0, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "0.05");
	invoice_doc_amount(-300, "EUR", 0, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "-3.00");
	invoice_doc_amount(500, "JPY", 0, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "500");
	invoice_doc_amount(1500, "KWD", 0, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "1.500");
	invoice_doc_amount(12, "", 1, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "12");
	invoice_doc_amount(INT64_MIN, "EUR", 0, b, sizeof(b));
	CU_ASSERT_STRING_EQUAL(b, "-92233720368547758.08");
}

static CU_TestInfo tests[] = {
	{"numbers are gapless per year", test_numbers_are_gapless_per_year},
	{"rolled-back issue consumes no number", test_rolled_back_issue_consumes_no_number},
	{"one invoice per order", test_one_invoice_per_order},
	{"only succeeded orders", test_only_succeeded_orders},
	{"snapshot lines and tax", test_snapshot_lines_and_tax},
	{"credit-paid order is in credits", test_credit_paid_order_is_in_credits},
	{"credit purchase line", test_credit_purchase_line},
	{"lists by payer, subtree and period", test_lists_by_payer_subtree_and_period},
	{"PDF holds number, tax ids, lines, totals", test_pdf_holds_number_tax_ids_lines_totals},
	{"reverse charge note on the PDF", test_reverse_charge_note_on_pdf},
	{"many lines make numbered pages", test_many_lines_make_numbered_pages},
	{"HTML is escaped", test_html_is_escaped},
	{"amount formats", test_amount_formats},
	CU_TEST_INFO_NULL,
};

/* each test on a fresh store */
static CU_SuiteInfo suites[] = {{"invoice", NULL, NULL, setup, teardown, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
