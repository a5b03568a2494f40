/*
 * Invoices, credit notes, refunds and tax through the real billingd over
 * gRPC (issue 17), with the SDK, sandbox payments and the test clock; the
 * seller is configured with the --seller-* flags (DE, VAT id DE123456789).
 * The tests run in order on one server and build on each other:
 *
 *   tax table at the API: domestic DE 19 % exclusive, EU B2B with a VAT id
 *   (reverse charge), EU B2C (FR 20 % inclusive), outside the EU (not
 *   taxed); a rate change or another buyer makes an open quote QUOTE_STALE;
 *   invoices numbered from 1 with no gap, none for failed, canceled or
 *   timed-out orders; N concurrent orders (default 1000, --orders N) give
 *   N more numbers with no gap and no duplicate; kill -9 between the payment
 *   and its commit (fault point payments.after_provider): one number, given
 *   once, at the commit of ConfirmOrder; the PDF (pdfinfo, pdftotext) holds
 *   the number, both tax ids, the lines and the totals; refunds: credits
 *   back by a REFUND transfer and the item's expiry shortened, a partial
 *   money refund keyed by the credit note number, a replay with the same
 *   idempotency key, over-refunds refused; ReverseAllocation up to the
 *   unspent balance; permissions (PERMISSION_DENIED whether or not the
 *   document exists) and the subtree and period lists; ledger_check clean
 *   on the stopped data directory at the end.
 *
 * usage: invoices_api BILLINGD LEDGER_CHECK [--orders N]
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pdf_check.h"
#include "spt_billingd.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define TREAT(x) V1(TAX_TREATMENT__TAX_TREATMENT_##x)
#define CN(x) V1(CREDIT_NOTE_STATUS__CREDIT_NOTE_STATUS_##x)
#define ACT V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE)
#define DAY_US (INT64_C(86400) * 1000000)
#define SEED_CREDITS 100

enum { G_INVALID_ARGUMENT = 3, G_PERMISSION_DENIED = 7, G_FAILED_PRECONDITION = 9 };

static spt_billingd srv;
static spb_client *vendor, *dist, *inst, *dist2;
static int n_orders; /* --orders, default 1000 */
static int year;
static int64_t issued; /* invoices issued so far (the last sequence) */

static spt_account tree[] = {
	{"vendor", ROLE(VENDOR), NULL, "", ""},
	{"dist", ROLE(DISTRIBUTOR), "vendor", "", ""},
	{"inst", ROLE(INSTALLER), "dist", "", ""},
	{"pm1", ROLE(PROPERTY_MANAGER), "inst", "", ""},
	{"dist2", ROLE(DISTRIBUTOR), "vendor", "", ""},
	{"inst2", ROLE(INSTALLER), "dist2", "", ""},
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static Smartplus__Billing__V1__BillingInfo buyer(const char *country, const char *tax_id)
{
	Smartplus__Billing__V1__BillingInfo b = SMARTPLUS__BILLING__V1__BILLING_INFO__INIT;
	b.name = "Ana Buyer";
	b.email = "ana@example.com";
	b.company = tax_id[0] ? "Buyer SARL" : "";
	b.address = "1 Main Street";
	b.country = (char *)country;
	b.tax_id = (char *)tax_id;
	return b;
}

static int set_rate(const char *country, int32_t bp, int inclusive)
{
	Smartplus__Billing__V1__SetTaxRateRequest req =
		SMARTPLUS__BILLING__V1__SET_TAX_RATE_REQUEST__INIT;
	Smartplus__Billing__V1__SetTaxRateResponse *resp = NULL;
	int rc;
	req.country = (char *)country;
	req.rate_bp = bp;
	req.inclusive = inclusive;
	rc = spb_invoice_set_tax_rate(vendor, &req, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

/* A quote to activate `item` of `project` for `months`, paid by payer
 * (dist), for the buyer in `b` (may be NULL). The caller frees *out. */
static int quote(const char *project, const char *item, int months,
		 const Smartplus__Billing__V1__BillingInfo *b, Smartplus__Billing__V1__Quote **out)
{
	Smartplus__Billing__V1__QuoteServicesRequest req =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__QuoteServicesResponse *resp = NULL;
	char *pids[1] = {(char *)project}, *iids[1] = {(char *)item};
	int rc;

	req.action = ACT;
	req.payer_id = "dist";
	req.installer_id = (char *)(strcmp(project, "p_inst2") == 0 ? "inst2" : "inst");
	req.project_type = strncmp(project, "shop", 4) == 0 ? PTYPE(COMMERCIAL) : PTYPE(COMMUNITY);
	req.project_ids = pids;
	req.n_project_ids = 1;
	req.item_ids = iids;
	req.n_item_ids = 1;
	req.months = months;
	req.billing_info = (Smartplus__Billing__V1__BillingInfo *)b;
	*out = NULL;
	rc = spb_billing_quote_services(dist, &req, &resp, NULL);
	if (rc == 0) {
		*out = resp->quote;
		resp->quote = NULL;
	}
	spb_message_free(resp);
	return rc;
}

/* Activates from quote q with method (and card), for buyer b. */
static int activate(spb_client *c, const char *quote_id, int method, const char *card,
		    const Smartplus__Billing__V1__BillingInfo *b, const spb_call_options *o,
		    Smartplus__Billing__V1__Order **out)
{
	Smartplus__Billing__V1__ActivateServicesRequest req =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *resp = NULL;
	int rc;

	req.quote_id = (char *)quote_id;
	req.payment_method = method;
	req.billing_info = (Smartplus__Billing__V1__BillingInfo *)b;
	req.terms_accepted = 1;
	req.stripe_payment_method_id = (char *)(card ? card : "");
	*out = NULL;
	rc = spb_billing_activate_services(c, &req, &resp, o);
	if (rc == 0) {
		*out = resp->order;
		resp->order = NULL;
	}
	spb_message_free(resp);
	return rc;
}

/* Quote + activate in one go, by card (or with method); the order. */
static Smartplus__Billing__V1__Order *buy(const char *project, const char *item, int months,
					  const Smartplus__Billing__V1__BillingInfo *b, int method,
					  const char *card)
{
	Smartplus__Billing__V1__Quote *q = NULL;
	Smartplus__Billing__V1__Order *o = NULL;

	if (quote(project, item, months, b, &q) != 0) {
		fprintf(stderr, "quote %s/%s: %s\n", project, item, spb_error_last()->message);
		return NULL;
	}
	if (activate(dist, q->quote_id, method, card, b, NULL, &o) != 0)
		fprintf(stderr, "activate %s/%s: %s %s\n", item, project, spb_error_last()->reason,
			spb_error_last()->message);
	spb_message_free(q);
	return o;
}

static Smartplus__Billing__V1__Invoice *invoice_of(spb_client *c, const char *order_id)
{
	Smartplus__Billing__V1__GetInvoiceRequest req =
		SMARTPLUS__BILLING__V1__GET_INVOICE_REQUEST__INIT;
	Smartplus__Billing__V1__GetInvoiceResponse *resp = NULL;
	Smartplus__Billing__V1__Invoice *inv = NULL;

	req.order_id = (char *)order_id;
	if (spb_invoice_get_invoice(c, &req, &resp, NULL) == 0) {
		inv = resp->invoice;
		resp->invoice = NULL;
	}
	spb_message_free(resp);
	return inv;
}

static int year_of(const Google__Protobuf__Timestamp *t)
{
	time_t s = t ? (time_t)t->seconds : 0;
	struct tm tm;
	gmtime_r(&s, &tm);
	return tm.tm_year + 1900;
}

static void number_of(int64_t seq, char *buf, size_t cap)
{
	snprintf(buf, cap, "SPB-%04d-%06" PRId64, year, seq);
}

/* Every invoice the vendor sees, by sequence: seen[seq]++ ; returns the
 * count (or -1). */
static int all_sequences(int *seen, int cap)
{
	Smartplus__Billing__V1__ListInvoicesRequest req =
		SMARTPLUS__BILLING__V1__LIST_INVOICES_REQUEST__INIT;
	char token[512] = "";
	int n = 0, pages = 0;

	memset(seen, 0, (size_t)cap * sizeof(*seen));
	do {
		Smartplus__Billing__V1__ListInvoicesResponse *resp = NULL;
		req.page_size = 1000;
		req.page_token = token;
		if (spb_invoice_list_invoices(vendor, &req, &resp, NULL) != 0)
			return -1;
		for (size_t i = 0; i < resp->n_invoices; i++, n++)
			if (resp->invoices[i]->sequence > 0 && resp->invoices[i]->sequence < cap)
				seen[resp->invoices[i]->sequence]++;
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
	} while (token[0] && ++pages < 100);
	return n;
}

/* 1 if the invoices are exactly sequences 1..want, once each. */
static int gapless(int want)
{
	int cap = want + 16, *seen = calloc((size_t)cap, sizeof(int)), ok;
	int n = seen ? all_sequences(seen, cap) : -1;

	ok = n == want;
	for (int i = 1; ok && i <= want; i++)
		ok = seen[i] == 1;
	for (int i = want + 1; ok && i < cap; i++)
		ok = seen[i] == 0;
	if (!ok)
		fprintf(stderr, "gapless: %d invoices listed, wanted 1..%d once each\n", n, want);
	free(seen);
	return ok;
}

static int refund(const char *order_id, const char *item, int64_t amount, const spb_call_options *o,
		  Smartplus__Billing__V1__CreditNote **out)
{
	Smartplus__Billing__V1__RefundOrderRequest req =
		SMARTPLUS__BILLING__V1__REFUND_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__RefundOrderResponse *resp = NULL;
	char *items[1] = {(char *)item};
	int rc;

	req.order_id = (char *)order_id;
	if (item) {
		req.item_ids = items;
		req.n_item_ids = 1;
	}
	req.amount = amount;
	req.reason = "customer asked";
	if (out)
		*out = NULL;
	rc = spb_invoice_refund_order(vendor, &req, &resp, o);
	if (rc == 0 && out) {
		*out = resp->credit_note;
		resp->credit_note = NULL;
	}
	spb_message_free(resp);
	return rc;
}

static int64_t balance(const char *account)
{
	Smartplus__Billing__V1__GetCreditBalanceRequest req =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditBalanceResponse *resp = NULL;
	int64_t v = -1;
	req.account_id = (char *)account;
	if (spb_billing_get_credit_balance(vendor, &req, &resp, NULL) == 0)
		v = resp->credits;
	spb_message_free(resp);
	return v;
}

static int64_t item_expiry(const char *project, const char *item)
{
	Smartplus__Billing__V1__ListItemsRequest req =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
	int64_t v = -1;
	req.project_id = (char *)project;
	req.page_size = 100;
	if (spb_billing_list_items(vendor, &req, &resp, NULL) == 0)
		for (size_t i = 0; i < resp->n_items; i++)
			if (strcmp(resp->items[i]->item_id, item) == 0 &&
			    resp->items[i]->expires_at)
				v = resp->items[i]->expires_at->seconds;
	spb_message_free(resp);
	return v;
}

static int64_t server_now_s(void)
{
	Smartplus__Billing__V1__AdvanceClockRequest req =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *resp = NULL;
	int64_t v = -1;
	d.nanos = 1000; /* 1 µs: the clock's own now */
	req.duration = &d;
	if (spb_admin_advance_clock(vendor, &req, &resp, NULL) == 0 && resp->now)
		v = resp->now->seconds;
	spb_message_free(resp);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Suite                                                                     */

static int set_price(int ptype, int stype, int64_t amount, int64_t credits)
{
	Smartplus__Billing__V1__SetPriceRequest req =
		SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetPriceResponse *resp = NULL;
	int rc;
	req.project_type = ptype;
	req.service_type = stype;
	req.monthly_amount = amount;
	req.currency = "EUR";
	req.monthly_credits = credits;
	rc = spb_admin_set_price(vendor, &req, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

/* 100 credits from the issuer to dist, for the credit-paid orders. */
static int assign_seed(void)
{
	Smartplus__Billing__V1__AssignCreditsRequest req =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
	int rc;
	req.account_id = "vendor";
	req.to_account_id = "dist";
	req.credits = SEED_CREDITS;
	rc = spb_billing_assign_credits(vendor, &req, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

static int seed(void)
{
	Smartplus__Billing__V1__SetCreditPriceRequest cp =
		SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetCreditPriceResponse *cpr = NULL;
	char id[32];
	int rc = spt_create_tree(vendor, tree, sizeof(tree) / sizeof(tree[0]));

	rc = rc ? rc : set_price(PTYPE(COMMUNITY), STYPE(APP), 500, 3);
	rc = rc ? rc : set_price(PTYPE(COMMERCIAL), STYPE(DOOR), 1000, 4);
	cp.unit_amount = 100;
	cp.currency = "EUR";
	rc = rc ? rc : spb_admin_set_credit_price(vendor, &cp, &cpr, NULL);
	spb_message_free(cpr);
	rc = rc ? rc : assign_seed();
	rc = rc ? rc : set_rate("DE", 1900, 0);
	rc = rc ? rc : set_rate("FR", 2000, 1);
	rc = rc ? rc : spt_create_project(vendor, NULL, "comm1", "inst", PTYPE(COMMUNITY), NULL, 0);
	rc = rc ? rc
		: spt_create_project(vendor, NULL, "shop1", "inst", PTYPE(COMMERCIAL), NULL, 0);
	rc = rc ? rc
		: spt_create_project(vendor, NULL, "p_inst2", "inst2", PTYPE(COMMUNITY), NULL, 0);
	for (int i = 1; rc == 0 && i <= 20; i++) {
		snprintf(id, sizeof(id), "app-%d", i);
		rc = spt_create_item(vendor, NULL, "comm1", id, STYPE(APP));
	}
	for (int i = 1; rc == 0 && i <= 3; i++) {
		snprintf(id, sizeof(id), "door-%d", i);
		rc = spt_create_item(vendor, NULL, "shop1", id, STYPE(DOOR));
	}
	rc = rc ? rc : spt_create_item(vendor, NULL, "p_inst2", "app2-1", STYPE(APP));
	if (rc)
		fprintf(stderr, "seed: %s\n", spb_error_last()->message);
	return rc;
}

static int suite_init(void)
{
	static const char *const args[] = {"--test-clock",
					   "--cutover",
					   "2020-01-01T00:00:00Z",
					   "--quiet-calls",
					   "--seller-name",
					   "SmartPlus Cloud GmbH",
					   "--seller-address",
					   "Hauptstrasse 1, 10115 Berlin",
					   "--seller-country",
					   "DE",
					   "--seller-tax-id",
					   "DE123456789",
					   "--invoice-prefix",
					   "SPB",
					   NULL};
	n_orders = (int)spt_arg_long("orders", 1000);
	if (n_orders < 1 || n_orders > 100000)
		return -1;
	if (spt_billingd_start(&srv, args) != 0)
		return -1;
	vendor = spt_client(&srv, NULL);
	if (!vendor || seed() != 0)
		return -1;
	dist = spt_client(&srv, tree[1].key);
	inst = spt_client(&srv, tree[2].key);
	dist2 = spt_client(&srv, tree[4].key);
	return dist && inst && dist2 ? 0 : -1;
}

/* Clients for the server as it listens now (a restart picks a new port). */
static void reconnect(void)
{
	spb_client_free(vendor);
	spb_client_free(dist);
	spb_client_free(inst);
	spb_client_free(dist2);
	vendor = spt_client(&srv, NULL);
	dist = spt_client(&srv, tree[1].key);
	inst = spt_client(&srv, tree[2].key);
	dist2 = spt_client(&srv, tree[4].key);
}

static int suite_clean(void)
{
	spb_client_free(vendor);
	spb_client_free(dist);
	spb_client_free(inst);
	spb_client_free(dist2);
	spt_billingd_free(&srv);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Tax                                                                       */

static void test_domestic_sale_taxed_and_invoiced(void)
{
	Smartplus__Billing__V1__BillingInfo de = buyer("DE", "DE987654321");
	Smartplus__Billing__V1__Quote *q = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	Smartplus__Billing__V1__Invoice *inv;
	char want[64];

	CU_ASSERT_EQUAL_FATAL(quote("comm1", "app-1", 2, &de, &q), 0);
	CU_ASSERT_EQUAL(q->subtotal, 1000);
	CU_ASSERT_EQUAL(q->tax_total, 190);
	CU_ASSERT_EQUAL(q->total, 1190);
	CU_ASSERT_EQUAL(q->tax_treatment, TREAT(STANDARD));
	CU_ASSERT_EQUAL(q->tax_rate_bp, 1900);
	CU_ASSERT_EQUAL_FATAL(q->n_lines, 1);
	CU_ASSERT_EQUAL(q->lines[0]->tax_amount, 190);
	CU_ASSERT_EQUAL(q->lines[0]->total, 1190);
	CU_ASSERT_EQUAL(activate(dist, q->quote_id, METHOD(STRIPE), "pm_card_visa", &de, NULL, &o),
			0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, OSTATUS(SUCCEEDED));
	CU_ASSERT_EQUAL(o->total, 1190);
	CU_ASSERT_EQUAL(o->tax_total, 190);
	inv = invoice_of(dist, o->order_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	year = year_of(inv->issue_time);
	issued = 1;
	number_of(1, want, sizeof(want));
	CU_ASSERT_STRING_EQUAL(inv->invoice_id, want);
	CU_ASSERT_EQUAL(inv->sequence, 1);
	CU_ASSERT_STRING_EQUAL(inv->seller->tax_id, "DE123456789");
	CU_ASSERT_STRING_EQUAL(inv->seller->name, "SmartPlus Cloud GmbH");
	CU_ASSERT_STRING_EQUAL(inv->buyer->tax_id, "DE987654321");
	CU_ASSERT_STRING_EQUAL(inv->buyer->account_id, "dist");
	CU_ASSERT_EQUAL_FATAL(inv->n_lines, 1);
	CU_ASSERT_STRING_EQUAL(inv->lines[0]->item_id, "app-1");
	CU_ASSERT_EQUAL(inv->lines[0]->days, 60);
	CU_ASSERT_EQUAL(inv->lines[0]->net_amount, 1000);
	CU_ASSERT_EQUAL(inv->lines[0]->tax_amount, 190);
	CU_ASSERT_PTR_NOT_NULL(inv->lines[0]->period_start);
	CU_ASSERT_PTR_NOT_NULL(inv->lines[0]->period_end);
	CU_ASSERT_EQUAL(inv->total, 1190);
	CU_ASSERT_EQUAL_FATAL(inv->n_tax_lines, 1);
	CU_ASSERT_EQUAL(inv->tax_lines[0]->rate_bp, 1900);
	CU_ASSERT_STRING_EQUAL(inv->tax_lines[0]->country, "DE");
	CU_ASSERT_EQUAL(inv->payment_method, METHOD(STRIPE));
	CU_ASSERT(inv->stripe_payment_intent_id[0] != '\0');
	/* the same invoice by its number */
	{
		Smartplus__Billing__V1__GetInvoiceRequest r =
			SMARTPLUS__BILLING__V1__GET_INVOICE_REQUEST__INIT;
		Smartplus__Billing__V1__GetInvoiceResponse *resp = NULL;
		r.invoice_id = want;
		CU_ASSERT_EQUAL(spb_invoice_get_invoice(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && strcmp(resp->invoice->order_id, o->order_id) == 0);
		spb_message_free(resp);
	}
	spb_message_free(inv);
	spb_message_free(o);
	spb_message_free(q);
}

/* The tax of a one-month APP (500) for a buyer; *treatment, *tax, *total. */
static void check_buyer(const char *item, const char *country, const char *tax_id, int treatment,
			int64_t tax, int64_t total, const char *note)
{
	Smartplus__Billing__V1__BillingInfo b = buyer(country, tax_id);
	Smartplus__Billing__V1__Order *o = buy("comm1", item, 1, &b, METHOD(STRIPE),
					       "pm_card_visa");
	Smartplus__Billing__V1__Invoice *inv = o ? invoice_of(vendor, o->order_id) : NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	issued++;
	CU_ASSERT_EQUAL(o->tax_treatment, treatment);
	CU_ASSERT_EQUAL(o->tax_total, tax);
	CU_ASSERT_EQUAL(o->total, total);
	CU_ASSERT_EQUAL(inv->sequence, issued);
	CU_ASSERT_EQUAL(inv->total, total);
	CU_ASSERT_EQUAL(inv->tax_total, tax);
	CU_ASSERT_EQUAL(inv->net_total + inv->tax_total, inv->total);
	CU_ASSERT_EQUAL_FATAL(inv->n_tax_lines, 1);
	CU_ASSERT_EQUAL(inv->tax_lines[0]->treatment, treatment);
	if (note) {
		int found = 0;
		for (size_t i = 0; i < inv->n_notes; i++)
			found |= strstr(inv->notes[i], note) != NULL;
		CU_ASSERT(found);
	}
	spb_message_free(inv);
	spb_message_free(o);
}

static void test_tax_table_at_the_api(void)
{
	/* EU B2B with a VAT id: reverse charge, nothing added */
	check_buyer("app-2", "FR", "FR40303265045", TREAT(REVERSE_CHARGE), 0, 500,
		    "Reverse charge: VAT to be accounted for by the recipient");
	/* EU B2C: the buyer's country, FR 20 % included: 500 x 20/120 = 83.3 */
	check_buyer("app-3", "FR", "", TREAT(STANDARD), 83, 500, NULL);
	/* a VAT id of another country is not a French business */
	check_buyer("app-4", "FR", "DE987654321", TREAT(STANDARD), 83, 500, NULL);
	/* outside the EU: not taxed */
	check_buyer("app-5", "US", "", TREAT(NOT_TAXED), 0, 500, "outside the EU");
	/* domestic B2B keeps its VAT: 95 */
	check_buyer("app-6", "DE", "DE987654321", TREAT(STANDARD), 95, 595, NULL);
}

static void test_rate_change_makes_quote_stale(void)
{
	Smartplus__Billing__V1__BillingInfo de = buyer("DE", ""), us = buyer("US", "");
	Smartplus__Billing__V1__Quote *q = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	Smartplus__Billing__V1__Invoice *inv;

	CU_ASSERT_EQUAL_FATAL(quote("comm1", "app-7", 1, &de, &q), 0);
	CU_ASSERT_EQUAL(q->total, 595);
	CU_ASSERT_EQUAL(set_rate("DE", 2000, 0), 0);
	CU_ASSERT_EQUAL(activate(dist, q->quote_id, METHOD(STRIPE), "pm_card_visa", &de, NULL, &o),
			SPB_EPRECONDITION);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "QUOTE_STALE");
	CU_ASSERT_PTR_NOT_NULL(strstr(spb_error_last()->message, "tax"));
	spb_message_free(q);
	/* a new quote at 20 % */
	CU_ASSERT_EQUAL_FATAL(quote("comm1", "app-7", 1, &de, &q), 0);
	CU_ASSERT_EQUAL(q->total, 600);
	CU_ASSERT_EQUAL(set_rate("DE", 1900, 0), 0);
	spb_message_free(q);
	/* quoted for a US buyer, ordered for a German one: taxed otherwise */
	CU_ASSERT_EQUAL_FATAL(quote("comm1", "app-7", 1, &us, &q), 0);
	CU_ASSERT_EQUAL(q->total, 500);
	CU_ASSERT_EQUAL(activate(dist, q->quote_id, METHOD(STRIPE), "pm_card_visa", &de, NULL, &o),
			SPB_EPRECONDITION);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "QUOTE_STALE");
	spb_message_free(q);
	/* nothing was invoiced by the refusals */
	o = buy("comm1", "app-7", 1, &de, METHOD(STRIPE), "pm_card_visa");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	inv = invoice_of(vendor, o->order_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->sequence, ++issued);
	CU_ASSERT_EQUAL(inv->total, 595);
	spb_message_free(inv);
	spb_message_free(o);
}

/* ------------------------------------------------------------------------ */
/* Numbering                                                                 */

static void assert_no_invoice(const char *order_id)
{
	Smartplus__Billing__V1__GetInvoiceRequest r =
		SMARTPLUS__BILLING__V1__GET_INVOICE_REQUEST__INIT;
	Smartplus__Billing__V1__GetInvoiceResponse *resp = NULL;
	r.order_id = (char *)order_id;
	CU_ASSERT_EQUAL(spb_invoice_get_invoice(vendor, &r, &resp, NULL), SPB_EPERM);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, G_PERMISSION_DENIED);
	spb_message_free(resp);
}

static void test_unpaid_orders_get_no_invoice(void)
{
	Smartplus__Billing__V1__BillingInfo de = buyer("DE", "");
	Smartplus__Billing__V1__Quote *q = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	char failed_id[64] = "", canceled_id[64] = "", timed_id[64] = "";

	/* declined card: FAILED */
	CU_ASSERT_EQUAL_FATAL(quote("comm1", "app-8", 1, &de, &q), 0);
	CU_ASSERT_EQUAL(activate(dist, q->quote_id, METHOD(STRIPE), "pm_card_chargeDeclined", &de,
				 NULL, &o),
			SPB_EPRECONDITION);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "PAYMENT_DECLINED");
	spb_message_free(q);
	{
		Smartplus__Billing__V1__ListOrdersRequest r =
			SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
		Smartplus__Billing__V1__ListOrdersResponse *resp = NULL;
		/* the test clock stands still: find it by its status */
		r.payer_id = "dist";
		r.status = OSTATUS(FAILED);
		CU_ASSERT_EQUAL(spb_billing_list_orders(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->n_orders == 1);
		if (resp && resp->n_orders)
			snprintf(failed_id, sizeof(failed_id), "%s", resp->orders[0]->order_id);
		spb_message_free(resp);
	}
	/* PayPal waiting for approval, then canceled */
	CU_ASSERT_EQUAL_FATAL(quote("comm1", "app-8", 1, &de, &q), 0);
	CU_ASSERT_EQUAL(activate(dist, q->quote_id, METHOD(PAYPAL), NULL, &de, NULL, &o), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, OSTATUS(PENDING_PAYMENT));
	snprintf(canceled_id, sizeof(canceled_id), "%s", o->order_id);
	spb_message_free(o);
	spb_message_free(q);
	{
		Smartplus__Billing__V1__CancelOrderRequest r =
			SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__CancelOrderResponse *resp = NULL;
		r.order_id = canceled_id;
		CU_ASSERT_EQUAL(spb_billing_cancel_order(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->order->status == OSTATUS(CANCELED));
		spb_message_free(resp);
	}
	/* PayPal never approved: TIMED_OUT after 24 h */
	CU_ASSERT_EQUAL_FATAL(quote("comm1", "app-9", 1, &de, &q), 0);
	CU_ASSERT_EQUAL(activate(dist, q->quote_id, METHOD(PAYPAL), NULL, &de, NULL, &o), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	snprintf(timed_id, sizeof(timed_id), "%s", o->order_id);
	spb_message_free(o);
	spb_message_free(q);
	{
		Smartplus__Billing__V1__AdvanceClockRequest r =
			SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
		Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
		Smartplus__Billing__V1__AdvanceClockResponse *resp = NULL;
		Smartplus__Billing__V1__GetOrderRequest g =
			SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__GetOrderResponse *gr = NULL;
		d.seconds = 25 * 3600;
		r.duration = &d;
		CU_ASSERT_EQUAL(spb_admin_advance_clock(vendor, &r, &resp, NULL), 0);
		spb_message_free(resp);
		g.order_id = timed_id;
		CU_ASSERT_EQUAL(spb_billing_get_order(dist, &g, &gr, NULL), 0);
		CU_ASSERT(gr && gr->order->status == OSTATUS(TIMED_OUT));
		spb_message_free(gr);
	}
	assert_no_invoice(failed_id);
	assert_no_invoice(canceled_id);
	assert_no_invoice(timed_id);
	/* the next paid order takes the next number: nothing was consumed */
	o = buy("comm1", "app-10", 1, &de, METHOD(STRIPE), "pm_card_visa");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	{
		Smartplus__Billing__V1__Invoice *inv = invoice_of(vendor, o->order_id);
		CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
		CU_ASSERT_EQUAL(inv->sequence, ++issued);
		spb_message_free(inv);
	}
	spb_message_free(o);
	CU_ASSERT(gapless((int)issued));
}

/* One credit bought by card for dist, billed in DE (19 %: 119). */
static int purchase_one(spb_client *c, const spb_call_options *opt,
			Smartplus__Billing__V1__Order **out)
{
	Smartplus__Billing__V1__BillingInfo de = buyer("DE", "");
	Smartplus__Billing__V1__PurchaseCreditsRequest req =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *resp = NULL;
	int rc;

	req.account_id = "dist";
	req.payer_id = "dist";
	req.credits = 1;
	req.payment_method = METHOD(STRIPE);
	req.stripe_payment_method_id = "pm_card_visa";
	req.billing_info = &de;
	req.terms_accepted = 1;
	if (out)
		*out = NULL;
	rc = spb_billing_purchase_credits(c, &req, &resp, opt);
	if (rc == 0 && out) {
		*out = resp->order;
		resp->order = NULL;
	}
	spb_message_free(resp);
	return rc;
}

static int ok_purchases;

static void *purchase_worker(void *arg)
{
	int n = *(int *)arg, ok = 0;
	spb_client *c = spt_client(&srv, tree[1].key);

	for (int i = 0; c && i < n; i++) {
		Smartplus__Billing__V1__Order *o = NULL;
		if (purchase_one(c, NULL, &o) == 0 && o && o->status == OSTATUS(SUCCEEDED))
			ok++;
		spb_message_free(o);
	}
	spb_client_free(c);
	__sync_fetch_and_add(&ok_purchases, ok);
	return NULL;
}

static void test_concurrent_orders_are_gapless(void)
{
	enum { THREADS = 16 };
	pthread_t t[THREADS];
	int share[THREADS];
	struct timespec a, b;

	for (int i = 0; i < THREADS; i++)
		share[i] = n_orders / THREADS + (i < n_orders % THREADS);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < THREADS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, purchase_worker, &share[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CU_ASSERT_EQUAL(ok_purchases, n_orders);
	issued += ok_purchases;
	printf("\n    %d concurrent credit purchases (16 threads): %.2f s; invoices 1..%" PRId64
	       " ",
	       n_orders, (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
	       issued);
	CU_ASSERT(gapless((int)issued));
	CU_ASSERT_EQUAL(balance("dist"), SEED_CREDITS + n_orders);
}

static void test_kill9_between_payment_and_commit(void)
{
	spb_call_options opt = SPB_CALL_OPTIONS_INIT;
	Smartplus__Billing__V1__Order *o = NULL;
	Smartplus__Billing__V1__ListOrdersRequest lr =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *lresp = NULL;
	Smartplus__Billing__V1__Invoice *inv;
	char order_id[64] = "";

	/* the provider answers, the process dies before recording it */
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart_with(&srv, "payments.after_provider:1", NULL),
			      0);
	reconnect();
	opt.deadline_ms = 3000;
	CU_ASSERT_NOT_EQUAL(purchase_one(dist, &opt, NULL), 0);
	for (int i = 0; i < 50 && !spt_billingd_exited(&srv, NULL); i++)
		usleep(100 * 1000);
	CU_ASSERT_FATAL(!spt_billingd_alive(&srv));
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&srv), 0);
	reconnect();
	/* the order is PROCESSING and has no invoice: no number was taken */
	lr.payer_id = "dist";
	lr.status = OSTATUS(PROCESSING);
	lr.page_size = 1000;
	CU_ASSERT_EQUAL_FATAL(spb_billing_list_orders(dist, &lr, &lresp, NULL), 0);
	CU_ASSERT_FATAL(lresp->n_orders == 1);
	snprintf(order_id, sizeof(order_id), "%s", lresp->orders[0]->order_id);
	spb_message_free(lresp);
	assert_no_invoice(order_id);
	CU_ASSERT(gapless((int)issued));
	/* ConfirmOrder asks the provider again and commits: one number, now */
	{
		Smartplus__Billing__V1__ConfirmOrderRequest r =
			SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__ConfirmOrderResponse *resp = NULL;
		r.order_id = order_id;
		CU_ASSERT_EQUAL(spb_billing_confirm_order(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->order->status == OSTATUS(SUCCEEDED));
		spb_message_free(resp);
		CU_ASSERT_EQUAL(spb_billing_confirm_order(dist, &r, &resp, NULL), 0);
		spb_message_free(resp);
	}
	inv = invoice_of(vendor, order_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->sequence, ++issued);
	CU_ASSERT_EQUAL(inv->total, 119);
	spb_message_free(inv);
	CU_ASSERT(gapless((int)issued));
	spb_message_free(o);
}

/* ------------------------------------------------------------------------ */
/* Documents                                                                 */

static void test_pdf_holds_number_tax_ids_lines_totals(void)
{
	Smartplus__Billing__V1__GetInvoiceDocumentRequest req =
		SMARTPLUS__BILLING__V1__GET_INVOICE_DOCUMENT_REQUEST__INIT;
	Smartplus__Billing__V1__GetInvoiceDocumentResponse *resp = NULL;
	char number[64], *text;
	pdf_facts pf;

	number_of(1, number, sizeof(number));
	req.invoice_id = number;
	CU_ASSERT_EQUAL_FATAL(spb_invoice_get_invoice_document(dist, &req, &resp, NULL), 0);
	CU_ASSERT_STRING_EQUAL(resp->content_type, "application/pdf");
	CU_ASSERT_PTR_NOT_NULL(strstr(resp->filename, number));
	/* pdfinfo refuses anything that is not a valid PDF */
	CU_ASSERT_EQUAL_FATAL(
		pdf_check(resp->content.data, resp->content.len, srv.dir, "invoice1.pdf", &pf), 0);
	spb_message_free(resp);
	CU_ASSERT_EQUAL(pf.pages, 1);
	text = pf.text;
	CU_ASSERT_PTR_NOT_NULL(strstr(text, number));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "VAT id: DE123456789"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "VAT id: DE987654321"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "SmartPlus Cloud GmbH"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "item app-1, project comm1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "10.00")); /* net */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "1.90"));  /* tax */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "11.90")); /* total */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "19%"));
	pdf_facts_free(&pf);
	/* HTML */
	req.format = V1(DOCUMENT_FORMAT__DOCUMENT_FORMAT_HTML);
	CU_ASSERT_EQUAL_FATAL(spb_invoice_get_invoice_document(dist, &req, &resp, NULL), 0);
	CU_ASSERT_STRING_EQUAL(resp->content_type, "text/html; charset=utf-8");
	text = strndup((char *)resp->content.data, resp->content.len);
	CU_ASSERT_PTR_NOT_NULL(text && strstr(text, number));
	CU_ASSERT_PTR_NOT_NULL(text && strstr(text, "11.90"));
	free(text);
	spb_message_free(resp);
}

/* ------------------------------------------------------------------------ */
/* Refunds                                                                   */

static void test_credit_paid_refund(void)
{
	Smartplus__Billing__V1__Order *o = NULL;
	Smartplus__Billing__V1__CreditNote *cn = NULL;
	Smartplus__Billing__V1__Invoice *inv;
	Smartplus__Billing__V1__BillingInfo de = buyer("DE", "");
	int64_t before, exp_before, now_s;
	char want[64];

	/* door-1 is free (R4), door-2 costs 4 credits a month */
	o = buy("shop1", "door-2", 3, &de, METHOD(CREDITS), NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, OSTATUS(SUCCEEDED));
	CU_ASSERT_EQUAL(o->credits_total, 12);
	inv = invoice_of(dist, o->order_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->sequence, ++issued);
	CU_ASSERT(inv->in_credits);
	CU_ASSERT_EQUAL(inv->total, 12);
	CU_ASSERT_EQUAL(inv->tax_lines[0]->treatment, TREAT(PREPAID_CREDITS));
	CU_ASSERT(inv->transfer_id[0] != '\0');
	spb_message_free(inv);
	before = balance("dist");
	exp_before = item_expiry("shop1", "door-2");
	now_s = server_now_s();
	CU_ASSERT(exp_before > now_s + 80 * 86400);
	CU_ASSERT_EQUAL_FATAL(refund(o->order_id, "door-2", 0, NULL, &cn), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cn);
	snprintf(want, sizeof(want), "SPB-CN-%04d-000001", year);
	CU_ASSERT_STRING_EQUAL(cn->credit_note_id, want);
	CU_ASSERT_EQUAL(cn->status, CN(SUCCEEDED));
	CU_ASSERT(cn->in_credits);
	CU_ASSERT_EQUAL(cn->total, 12);
	CU_ASSERT_EQUAL(cn->credits, 12);
	CU_ASSERT(cn->transfer_id[0] != '\0');
	CU_ASSERT_EQUAL_FATAL(cn->n_lines, 1);
	CU_ASSERT_EQUAL(cn->lines[0]->refunded_days, 90);
	CU_ASSERT_EQUAL(balance("dist"), before + 12);
	/* 90 days back from an expiry 90 days away: now, not before */
	CU_ASSERT(item_expiry("shop1", "door-2") >= now_s &&
		  item_expiry("shop1", "door-2") <= now_s + 1);
	/* the REFUND transfer is in the payer's credit log */
	{
		Smartplus__Billing__V1__ListCreditLogsRequest r =
			SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_REQUEST__INIT;
		Smartplus__Billing__V1__ListCreditLogsResponse *resp = NULL;
		r.account_id = "dist";
		r.page_size = 1;
		CU_ASSERT_EQUAL(spb_billing_list_credit_logs(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->n_entries == 1 &&
			  resp->entries[0]->kind == V1(TRANSFER_KIND__TRANSFER_KIND_REFUND) &&
			  resp->entries[0]->delta == 12);
		spb_message_free(resp);
	}
	/* and its credits.refunded event, once, for the payer (issue 15) */
	{
		Smartplus__Billing__V1__ListEventsRequest r =
			SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
		char *kinds[] = {"credits.refunded"};
		r.kinds = kinds;
		r.n_kinds = 1;
		r.subject = "accounts/dist";
		r.page_size = 100;
		CU_ASSERT_EQUAL(spb_event_list_events(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->n_events == 1 &&
			  strcmp(resp->events[0]->kind, "credits.refunded") == 0);
		spb_message_free(resp);
	}
	/* the line once only */
	CU_ASSERT_EQUAL(refund(o->order_id, "door-2", 0, NULL, NULL), SPB_EPRECONDITION);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "REFUND_EXCEEDS_CAPTURED");
	spb_message_free(cn);
	spb_message_free(o);
}

static void test_money_refunds(void)
{
	Smartplus__Billing__V1__Order *o = NULL;
	Smartplus__Billing__V1__CreditNote *cn = NULL, *again = NULL;
	Smartplus__Billing__V1__Invoice *inv;
	Smartplus__Billing__V1__BillingInfo de = buyer("DE", "");
	spb_call_options opt = SPB_CALL_OPTIONS_INIT;
	char want[64];
	int64_t exp_before;

	o = buy("comm1", "app-11", 2, &de, METHOD(STRIPE), "pm_card_visa");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->total, 1190);
	issued++;
	/* partial: 500 of 1190, keyed at the provider by the note's number */
	opt.idempotency_key = "refund-app-11-partial";
	CU_ASSERT_EQUAL_FATAL(refund(o->order_id, NULL, 500, &opt, &cn), 0);
	snprintf(want, sizeof(want), "SPB-CN-%04d-000002", year);
	CU_ASSERT_STRING_EQUAL(cn->credit_note_id, want);
	CU_ASSERT_EQUAL(cn->status, CN(SUCCEEDED));
	CU_ASSERT_EQUAL(cn->total, 500);
	CU_ASSERT_EQUAL(cn->tax_total, 80); /* 500 x 19/119 */
	CU_ASSERT_EQUAL(cn->net_total, 420);
	CU_ASSERT_EQUAL(cn->lines[0]->refunded_days, 0);
	{
		char key[96];
		snprintf(key, sizeof(key), "re_sandbox_%s", want);
		CU_ASSERT_STRING_EQUAL(cn->stripe_refund_id, key);
	}
	/* the same request again with its key: the first answer, no new note */
	CU_ASSERT_EQUAL_FATAL(refund(o->order_id, NULL, 500, &opt, &again), 0);
	CU_ASSERT_STRING_EQUAL(again->credit_note_id, want);
	spb_message_free(again);
	/* 690 left: more is refused, with nothing written */
	CU_ASSERT_EQUAL(refund(o->order_id, NULL, 691, NULL, NULL), SPB_EPRECONDITION);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "REFUND_EXCEEDS_CAPTURED");
	/* the line: the rest of its money and its 60 days */
	exp_before = item_expiry("comm1", "app-11");
	spb_message_free(cn);
	CU_ASSERT_EQUAL_FATAL(refund(o->order_id, "app-11", 0, NULL, &cn), 0);
	snprintf(want, sizeof(want), "SPB-CN-%04d-000003", year);
	CU_ASSERT_STRING_EQUAL(cn->credit_note_id, want);
	CU_ASSERT_EQUAL(cn->total, 690);
	CU_ASSERT_EQUAL(cn->tax_total, 190 - 80);
	CU_ASSERT_EQUAL(cn->lines[0]->refunded_days, 60);
	CU_ASSERT(item_expiry("comm1", "app-11") <= exp_before - 59 * 86400);
	CU_ASSERT_EQUAL(refund(o->order_id, NULL, 1, NULL, NULL), SPB_EPRECONDITION);
	CU_ASSERT_EQUAL(refund(o->order_id, NULL, 0, NULL, NULL), SPB_EPRECONDITION);
	inv = invoice_of(vendor, o->order_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->refunded_total, 1190);
	CU_ASSERT_EQUAL(inv->n_credit_note_ids, 2);
	spb_message_free(inv);
	/* only the vendor refunds; a refund names a paid order */
	{
		Smartplus__Billing__V1__RefundOrderRequest r =
			SMARTPLUS__BILLING__V1__REFUND_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__RefundOrderResponse *resp = NULL;
		r.order_id = o->order_id;
		r.reason = "mine";
		CU_ASSERT_EQUAL(spb_invoice_refund_order(dist, &r, &resp, NULL), SPB_EPERM);
		r.reason = "";
		CU_ASSERT_EQUAL(spb_invoice_refund_order(vendor, &r, &resp, NULL), SPB_EINVALID);
		CU_ASSERT_PTR_NOT_NULL(strstr(spb_error_last()->message, "reason"));
		r.reason = "x";
		r.amount = 5;
		{
			char *items[1] = {"app-11"};
			r.item_ids = items;
			r.n_item_ids = 1;
			CU_ASSERT_EQUAL(spb_invoice_refund_order(vendor, &r, &resp, NULL),
					SPB_EINVALID);
		}
		spb_message_free(resp);
	}
	/* the credit note as a document */
	{
		Smartplus__Billing__V1__GetInvoiceDocumentRequest r =
			SMARTPLUS__BILLING__V1__GET_INVOICE_DOCUMENT_REQUEST__INIT;
		Smartplus__Billing__V1__GetInvoiceDocumentResponse *resp = NULL;
		r.credit_note_id = want;
		r.format = V1(DOCUMENT_FORMAT__DOCUMENT_FORMAT_HTML);
		CU_ASSERT_EQUAL(spb_invoice_get_invoice_document(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && memmem(resp->content.data, resp->content.len, "Credit note", 11));
		spb_message_free(resp);
	}
	spb_message_free(cn);
	spb_message_free(o);
}

/* ------------------------------------------------------------------------ */
/* ReverseAllocation                                                         */

static int assign(spb_client *c, const char *from, const char *to, int64_t credits, char *trf)
{
	Smartplus__Billing__V1__AssignCreditsRequest req =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
	int rc;
	req.account_id = (char *)from;
	req.to_account_id = (char *)to;
	req.credits = credits;
	rc = spb_billing_assign_credits(c, &req, &resp, NULL);
	if (rc == 0)
		snprintf(trf, 40, "%s", resp->transfer_id);
	spb_message_free(resp);
	return rc;
}

static int reverse(spb_client *c, const char *trf, int64_t credits,
		   Smartplus__Billing__V1__ReverseAllocationResponse **out)
{
	Smartplus__Billing__V1__ReverseAllocationRequest req =
		SMARTPLUS__BILLING__V1__REVERSE_ALLOCATION_REQUEST__INIT;
	req.transfer_id = (char *)trf;
	req.credits = credits;
	*out = NULL;
	return spb_invoice_reverse_allocation(c, &req, out, NULL);
}

static void test_reverse_allocation(void)
{
	Smartplus__Billing__V1__ReverseAllocationResponse *r = NULL;
	char t1[40], t2[40];
	int64_t dist_before;

	CU_ASSERT_EQUAL_FATAL(assign(dist, "dist", "inst", 30, t1), 0);
	CU_ASSERT_EQUAL_FATAL(assign(inst, "inst", "pm1", 10, t2), 0);
	dist_before = balance("dist");
	/* inst spent 10 of the 30 (passed on): 20 come back, 10 stay due */
	CU_ASSERT_EQUAL_FATAL(reverse(dist, t1, 0, &r), 0);
	CU_ASSERT_EQUAL(r->credits, 20);
	CU_ASSERT_EQUAL(r->remaining, 10);
	CU_ASSERT_EQUAL(r->from_balance, 0);
	CU_ASSERT_EQUAL(r->to_balance, dist_before + 20);
	spb_message_free(r);
	CU_ASSERT_EQUAL(balance("inst"), 0);
	CU_ASSERT_EQUAL(reverse(dist, t1, 0, &r), SPB_EPRECONDITION);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "INSUFFICIENT_CREDITS");
	/* part of one, by the sender */
	CU_ASSERT_EQUAL_FATAL(reverse(inst, t2, 4, &r), 0);
	CU_ASSERT_EQUAL(r->credits, 4);
	CU_ASSERT_EQUAL(r->remaining, 6);
	spb_message_free(r);
	/* an ancestor of the sender may too */
	CU_ASSERT_EQUAL_FATAL(reverse(dist, t2, 0, &r), 0);
	CU_ASSERT_EQUAL(r->credits, 6);
	CU_ASSERT_EQUAL(r->remaining, 0);
	spb_message_free(r);
	/* the receiver may not; a sibling may not; nor for an unknown id */
	CU_ASSERT_EQUAL(reverse(inst, t1, 0, &r), SPB_EPERM);
	CU_ASSERT_EQUAL(reverse(dist2, t2, 0, &r), SPB_EPERM);
	CU_ASSERT_EQUAL(reverse(dist2, "trf_ffffffffffffff00", 0, &r), SPB_EPERM);
	CU_ASSERT_EQUAL(reverse(dist, "nope", 0, &r), SPB_EINVALID);
	/* the correction itself is not reversible */
	{
		Smartplus__Billing__V1__ListCreditLogsRequest lr =
			SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_REQUEST__INIT;
		Smartplus__Billing__V1__ListCreditLogsResponse *lresp = NULL;
		lr.account_id = "pm1";
		lr.page_size = 1;
		CU_ASSERT_EQUAL_FATAL(spb_billing_list_credit_logs(inst, &lr, &lresp, NULL), 0);
		CU_ASSERT_FATAL(lresp->n_entries == 1);
		CU_ASSERT_EQUAL(reverse(vendor, lresp->entries[0]->transfer_id, 0, &r),
				SPB_EPRECONDITION);
		spb_message_free(lresp);
	}
}

/* ------------------------------------------------------------------------ */
/* Who sees what                                                             */

static size_t count_invoices(spb_client *c, const char *payer, int64_t start_s, int64_t end_s,
			     int *code)
{
	Smartplus__Billing__V1__ListInvoicesRequest req =
		SMARTPLUS__BILLING__V1__LIST_INVOICES_REQUEST__INIT;
	Google__Protobuf__Timestamp st = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
				    en = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char token[512] = "";
	size_t n = 0;
	int pages = 0;

	*code = 0;
	req.payer_id = (char *)payer;
	if (start_s) {
		st.seconds = start_s;
		req.start_time = &st;
	}
	if (end_s) {
		en.seconds = end_s;
		req.end_time = &en;
	}
	do {
		Smartplus__Billing__V1__ListInvoicesResponse *resp = NULL;
		req.page_size = 500;
		req.page_token = token;
		if (spb_invoice_list_invoices(c, &req, &resp, NULL) != 0) {
			*code = spb_error_last()->grpc_code;
			return 0;
		}
		n += resp->n_invoices;
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
	} while (token[0] && ++pages < 100);
	return n;
}

static void test_documents_are_the_subtrees(void)
{
	Smartplus__Billing__V1__BillingInfo us = buyer("US", "");
	Smartplus__Billing__V1__Quote *q = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	Smartplus__Billing__V1__GetInvoiceRequest g =
		SMARTPLUS__BILLING__V1__GET_INVOICE_REQUEST__INIT;
	Smartplus__Billing__V1__GetInvoiceResponse *gr = NULL;
	char number[64];
	int code;
	int64_t now_s = server_now_s();

	/* dist2 pays for inst2's project */
	{
		Smartplus__Billing__V1__QuoteServicesRequest req =
			SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__QuoteServicesResponse *resp = NULL;
		char *pids[1] = {"p_inst2"};
		req.action = ACT;
		req.payer_id = "dist2";
		req.installer_id = "inst2";
		req.project_type = PTYPE(COMMUNITY);
		req.project_ids = pids;
		req.n_project_ids = 1;
		req.months = 1;
		req.billing_info = &us;
		CU_ASSERT_EQUAL_FATAL(spb_billing_quote_services(dist2, &req, &resp, NULL), 0);
		q = resp->quote;
		resp->quote = NULL;
		spb_message_free(resp);
	}
	CU_ASSERT_EQUAL_FATAL(
		activate(dist2, q->quote_id, METHOD(STRIPE), "pm_card_visa", &us, NULL, &o), 0);
	issued++;
	spb_message_free(q);
	CU_ASSERT_EQUAL(count_invoices(dist2, "", 0, 0, &code), 1);
	CU_ASSERT_EQUAL(code, 0);
	CU_ASSERT_EQUAL(count_invoices(dist, "", 0, 0, &code), (size_t)issued - 1);
	CU_ASSERT_EQUAL(count_invoices(vendor, "", 0, 0, &code), (size_t)issued);
	CU_ASSERT_EQUAL(count_invoices(vendor, "dist2", 0, 0, &code), 1);
	CU_ASSERT_EQUAL(count_invoices(inst, "", 0, 0, &code), 0); /* pays nothing */
	count_invoices(dist, "dist2", 0, 0, &code);
	CU_ASSERT_EQUAL(code, G_PERMISSION_DENIED);
	count_invoices(inst, "dist", 0, 0, &code);
	CU_ASSERT_EQUAL(code, G_PERMISSION_DENIED);
	/* a period: only dist2's invoice is from the last minute of dist2 */
	CU_ASSERT_EQUAL(count_invoices(dist2, "", now_s - 60, now_s + 60, &code), 1);
	CU_ASSERT_EQUAL(count_invoices(dist2, "", now_s + 60, now_s + 120, &code), 0);
	count_invoices(dist2, "", now_s + 60, now_s, &code);
	CU_ASSERT_EQUAL(code, G_INVALID_ARGUMENT);
	/* foreign and missing documents alike: PERMISSION_DENIED */
	number_of(1, number, sizeof(number));
	g.invoice_id = number;
	CU_ASSERT_EQUAL(spb_invoice_get_invoice(dist2, &g, &gr, NULL), SPB_EPERM);
	g.invoice_id = "SPB-1999-000001";
	CU_ASSERT_EQUAL(spb_invoice_get_invoice(dist2, &g, &gr, NULL), SPB_EPERM);
	g.invoice_id = "";
	g.order_id = o->order_id;
	CU_ASSERT_EQUAL(spb_invoice_get_invoice(dist, &g, &gr, NULL), SPB_EPERM);
	CU_ASSERT_EQUAL(spb_invoice_get_invoice(dist2, &g, &gr, NULL), 0);
	spb_message_free(gr);
	{
		Smartplus__Billing__V1__GetInvoiceDocumentRequest r =
			SMARTPLUS__BILLING__V1__GET_INVOICE_DOCUMENT_REQUEST__INIT;
		Smartplus__Billing__V1__GetInvoiceDocumentResponse *resp = NULL;
		r.invoice_id = number;
		CU_ASSERT_EQUAL(spb_invoice_get_invoice_document(dist2, &r, &resp, NULL),
				SPB_EPERM);
		spb_message_free(resp);
	}
	{
		Smartplus__Billing__V1__ListCreditNotesRequest r =
			SMARTPLUS__BILLING__V1__LIST_CREDIT_NOTES_REQUEST__INIT;
		Smartplus__Billing__V1__ListCreditNotesResponse *resp = NULL;
		CU_ASSERT_EQUAL(spb_invoice_list_credit_notes(dist, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->n_credit_notes == 3);
		spb_message_free(resp);
		CU_ASSERT_EQUAL(spb_invoice_list_credit_notes(dist2, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->n_credit_notes == 0);
		spb_message_free(resp);
	}
	/* tax rates are the vendor's */
	{
		Smartplus__Billing__V1__ListTaxRatesRequest r =
			SMARTPLUS__BILLING__V1__LIST_TAX_RATES_REQUEST__INIT;
		Smartplus__Billing__V1__ListTaxRatesResponse *resp = NULL;
		Smartplus__Billing__V1__SetTaxRateRequest s =
			SMARTPLUS__BILLING__V1__SET_TAX_RATE_REQUEST__INIT;
		Smartplus__Billing__V1__SetTaxRateResponse *sr = NULL;
		CU_ASSERT_EQUAL(spb_invoice_list_tax_rates(vendor, &r, &resp, NULL), 0);
		CU_ASSERT(resp && resp->n_tax_rates == 2 &&
			  strcmp(resp->tax_rates[0]->country, "DE") == 0);
		spb_message_free(resp);
		CU_ASSERT_EQUAL(spb_invoice_list_tax_rates(dist, &r, &resp, NULL), SPB_EPERM);
		s.country = "DE";
		s.rate_bp = 0;
		CU_ASSERT_EQUAL(spb_invoice_set_tax_rate(dist, &s, &sr, NULL), SPB_EPERM);
		s.country = "de";
		CU_ASSERT_EQUAL(spb_invoice_set_tax_rate(vendor, &s, &sr, NULL), SPB_EINVALID);
		s.country = "DE";
		s.rate_bp = 10001;
		CU_ASSERT_EQUAL(spb_invoice_set_tax_rate(vendor, &s, &sr, NULL), SPB_EINVALID);
	}
	spb_message_free(o);
	CU_ASSERT(gapless((int)issued));
}

/* ------------------------------------------------------------------------ */
/* --credit-tax advance                                                      */

/* With --credit-tax advance a credit purchase is an advance payment (no
 * tax on its invoice, the legal note says why) and an order paid with
 * those credits is taxed, in credits. */
static void test_credits_as_advance_payments(void)
{
	static const char *const more[] = {"--credit-tax", "advance", NULL};
	Smartplus__Billing__V1__BillingInfo de = buyer("DE", "");
	Smartplus__Billing__V1__Order *o = NULL;
	Smartplus__Billing__V1__Invoice *inv;
	int64_t before;
	int noted = 0;

	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart_with(&srv, NULL, more), 0);
	reconnect();
	/* one credit (1.00 USD): 100, not the 119 of --credit-tax purchase */
	CU_ASSERT_EQUAL_FATAL(purchase_one(dist, NULL, &o), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, OSTATUS(SUCCEEDED));
	CU_ASSERT_EQUAL(o->total, 100);
	CU_ASSERT_EQUAL(o->tax_total, 0);
	CU_ASSERT_EQUAL(o->tax_treatment, TREAT(ADVANCE_PAYMENT));
	inv = invoice_of(vendor, o->order_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->sequence, ++issued);
	CU_ASSERT_EQUAL(inv->total, 100);
	CU_ASSERT_EQUAL(inv->tax_total, 0);
	CU_ASSERT(inv->n_tax_lines == 1 && inv->tax_lines[0]->treatment == TREAT(ADVANCE_PAYMENT));
	for (size_t i = 0; i < inv->n_notes; i++)
		noted |= strstr(inv->notes[i], "tax is charged when the credits are used") != NULL;
	CU_ASSERT(noted);
	spb_message_free(inv);
	spb_message_free(o);
	/* spending them is taxed: door-3 for a month, 4 credits + 19 % (0.76,
	 * half up: 1) */
	before = balance("dist");
	o = buy("shop1", "door-3", 1, &de, METHOD(CREDITS), NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(o->status, OSTATUS(SUCCEEDED));
	CU_ASSERT_EQUAL(o->credits_total, 5);
	CU_ASSERT_EQUAL(o->tax_total, 1);
	CU_ASSERT_EQUAL(o->tax_treatment, TREAT(STANDARD));
	CU_ASSERT_EQUAL(balance("dist"), before - 5);
	inv = invoice_of(dist, o->order_id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inv);
	CU_ASSERT_EQUAL(inv->sequence, ++issued);
	CU_ASSERT(inv->in_credits);
	CU_ASSERT_EQUAL(inv->total, 5);
	CU_ASSERT_EQUAL(inv->tax_total, 1);
	CU_ASSERT(inv->n_tax_lines == 1 && inv->tax_lines[0]->treatment == TREAT(STANDARD) &&
		  inv->tax_lines[0]->rate_bp == 1900);
	spb_message_free(inv);
	spb_message_free(o);
	CU_ASSERT(gapless((int)issued));
}

static void test_ledger_check_clean(void)
{
	char out[512] = "";

	CU_ASSERT_EQUAL_FATAL(spt_billingd_stop(&srv), 0);
	CU_ASSERT_EQUAL(spt_billingd_check_data(&srv, spt_arg("ledger_check"), out, sizeof(out)),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ledger ok"));
	printf("\n    %s ", out);
}

/* page_size outside 0..1000 on every list of InvoiceService:
 * INVALID_ARGUMENT, as on the other services' lists */
static void test_list_page_size_bounds(void)
{
	static const int32_t bad[] = {-1, 1001, INT32_MAX, INT32_MIN};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Smartplus__Billing__V1__ListInvoicesRequest li =
			SMARTPLUS__BILLING__V1__LIST_INVOICES_REQUEST__INIT;
		Smartplus__Billing__V1__ListCreditNotesRequest lc =
			SMARTPLUS__BILLING__V1__LIST_CREDIT_NOTES_REQUEST__INIT;
		Smartplus__Billing__V1__ListTaxRatesRequest lt =
			SMARTPLUS__BILLING__V1__LIST_TAX_RATES_REQUEST__INIT;
		Smartplus__Billing__V1__ListInvoicesResponse *ri = NULL;
		Smartplus__Billing__V1__ListCreditNotesResponse *rc = NULL;
		Smartplus__Billing__V1__ListTaxRatesResponse *rt = NULL;
		li.page_size = lc.page_size = lt.page_size = bad[i];
		CU_ASSERT_EQUAL(spb_invoice_list_invoices(vendor, &li, &ri, NULL), SPB_EINVALID);
		CU_ASSERT_EQUAL(spb_invoice_list_credit_notes(vendor, &lc, &rc, NULL),
				SPB_EINVALID);
		CU_ASSERT_EQUAL(spb_invoice_list_tax_rates(vendor, &lt, &rt, NULL), SPB_EINVALID);
		CU_ASSERT_PTR_NULL(ri);
		CU_ASSERT_PTR_NULL(rc);
		CU_ASSERT_PTR_NULL(rt);
	}
}

static CU_TestInfo tests[] = {
	{"domestic sale: taxed and invoiced no. 1", test_domestic_sale_taxed_and_invoiced},
	{"page_size bounds on the lists", test_list_page_size_bounds},
	{"tax table at the API", test_tax_table_at_the_api},
	{"a rate change makes an open quote QUOTE_STALE", test_rate_change_makes_quote_stale},
	{"failed, canceled, timed-out orders: no invoice", test_unpaid_orders_get_no_invoice},
	{"concurrent orders: numbers with no gap, no duplicate",
	 test_concurrent_orders_are_gapless},
	{"kill -9 between payment and commit: one number, at the commit",
	 test_kill9_between_payment_and_commit},
	{"PDF holds number, tax ids, lines, totals", test_pdf_holds_number_tax_ids_lines_totals},
	{"credit-paid refund: REFUND transfer, expiry back", test_credit_paid_refund},
	{"money refunds: partial, replayed, line, over-refund", test_money_refunds},
	{"ReverseAllocation up to the unspent balance", test_reverse_allocation},
	{"documents are the payer subtree's", test_documents_are_the_subtrees},
	{"--credit-tax advance: credits taxed when used", test_credits_as_advance_payments},
	{"ledger_check clean", test_ledger_check_clean},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"invoices_api", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD LEDGER_CHECK [--orders N]", suites);
}
