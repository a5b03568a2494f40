/*
 * Scenario tests of credit orders through the SDK against the real billingd
 * (port 0, fresh data directory, sandbox payments), seeded only through the
 * API (DirectoryService, AdminService.SetPrice/SetCreditPrice/CreateCoupon):
 * buying credits (coupon, sandbox card, PayPal + confirm, declined card),
 * spending them on a commercial project created after the cut-over, the
 * property manager and the installer payment policy method by method, and
 * R17 replays. Every check is counted; the program never stops at the first
 * failure and exits 1 if any failed.
 *
 * usage: test_credits_orders <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spt_billingd.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define CUTOVER_S INT64_C(1748736000)

enum { ST_INVALID_ARGUMENT = 3, ST_PERMISSION_DENIED = 7, ST_FAILED_PRECONDITION = 9 };

/* ------------------------------------------------------------------------ */
/* billingd and accounts                                                     */

static spt_billingd srv;
static spb_client *cli; /* the vendor's key */

#define MAX_KEYS 16
static spt_account keys[MAX_KEYS];
static size_t n_keys;

/* Call options acting as `as` with its own key (NULL or "vendor": the
 * client's), and an explicit idempotency key when idem is not NULL. */
static spb_call_options as(const char *who, const char *idem)
{
	return spt_as(who ? spt_key_of(keys, n_keys, who) : NULL, idem);
}

/* An account under parent and an ACCOUNT key for it. */
static int make_account(const char *id, int role, const char *parent)
{
	int rc;
	if (n_keys == MAX_KEYS)
		return -1;
	keys[n_keys].id = id;
	keys[n_keys].role = role;
	keys[n_keys].parent = parent;
	rc = spt_create_tree(cli, &keys[n_keys], 1);
	if (rc == 0)
		n_keys++;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */

typedef struct buy {
	const char *who, *payer, *account;
	int64_t credits;
	int method;
	const char *coupon, *pm, *idem;
	int no_terms;
} buy;

/* PurchaseCredits; returns the SDK code, *out the order (free *keep). */
static int purchase(const buy *b, Smartplus__Billing__V1__Order **out, void **keep)
{
	Smartplus__Billing__V1__PurchaseCreditsRequest r =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *resp = NULL;
	spb_call_options o = as(b->who, b->idem);
	int rc;
	r.payer_id = (char *)(b->payer ? b->payer : "");
	r.account_id = (char *)(b->account ? b->account : "");
	r.credits = b->credits;
	r.payment_method = b->method;
	r.billing_info = spt_billing_info();
	r.terms_accepted = !b->no_terms;
	r.coupon_code = (char *)(b->coupon ? b->coupon : "");
	r.stripe_payment_method_id = (char *)(b->pm ? b->pm : "");
	rc = spb_billing_purchase_credits(cli, &r, &resp, &o);
	*out = rc == 0 ? resp->order : NULL;
	*keep = resp;
	return rc;
}

static int64_t balance(const char *account)
{
	Smartplus__Billing__V1__GetCreditBalanceRequest r =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditBalanceResponse *out = NULL;
	int64_t b = INT64_MIN;
	r.account_id = (char *)account;
	if (spb_billing_get_credit_balance(cli, &r, &out, NULL) == 0)
		b = out->credits;
	spb_message_free(out);
	return b;
}

static Smartplus__Billing__V1__ListCreditLogsResponse *credit_logs(const char *account)
{
	Smartplus__Billing__V1__ListCreditLogsRequest r =
		SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_REQUEST__INIT;
	Smartplus__Billing__V1__ListCreditLogsResponse *out = NULL;
	r.account_id = (char *)account;
	return spb_billing_list_credit_logs(cli, &r, &out, NULL) == 0 ? out : NULL;
}

/* The last call failed with this status (and reason, unless NULL). */
static int failed_with(int rc, int code, const char *reason)
{
	const spb_error *e = spb_error_last();
	return rc != 0 && e->grpc_code == code && (!reason || strcmp(e->reason, reason) == 0);
}

static Smartplus__Billing__V1__Quote *quote(const char *who, const char *payer,
					    const char *installer, int ptype, const char *project,
					    const char *item, int months,
					    Smartplus__Billing__V1__QuoteServicesResponse **keep)
{
	spt_quote_spec q = {ACTION(ACTIVATE), payer, installer, ptype, project, 0, item,
			    months,           0,     NULL};
	spb_call_options o = as(who, NULL);
	return spt_quote(cli, &o, &q, keep) == 0 ? (*keep)->quote : NULL;
}

static int activate(const char *who, const char *quote_id, int method, const char *pm,
		    const char *idem, Smartplus__Billing__V1__Order **out, void **keep)
{
	spb_call_options o = as(who, idem);
	return spt_place_order(cli, &o, ACTION(ACTIVATE), quote_id, method, pm, out, keep);
}

/* Quote (as who, for payer) and activate with method; the SDK code. */
static int quote_and_activate(const char *who, const char *payer, const char *installer, int ptype,
			      const char *project, const char *item, int months, int method,
			      const char *pm, int64_t *credits_total, int *status)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k = NULL;
	Smartplus__Billing__V1__Quote *q = quote(who, payer, installer, ptype, project, item,
						 months, &k);
	Smartplus__Billing__V1__Order *o = NULL;
	void *ok = NULL;
	int rc = -1;
	if (q) {
		if (credits_total)
			*credits_total = q->credits_total;
		rc = activate(who, q->quote_id, method, pm, NULL, &o, &ok);
		if (status)
			*status = o ? (int)o->status : 0;
	}
	spb_message_free(ok);
	spb_message_free(k);
	return q ? rc : -100;
}

static int n_orders(const char *payer, const char *project, int type)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *out = NULL;
	int n = -1;
	r.payer_id = (char *)payer;
	r.project_id = (char *)(project ? project : "");
	r.type = type;
	if (spb_billing_list_orders(cli, &r, &out, NULL) == 0)
		n = (int)out->n_orders;
	spb_message_free(out);
	return n;
}

static int set_policy(const char *who, const char *installer, int on, int method)
{
	Smartplus__Billing__V1__SetInstallerPaymentPolicyRequest r =
		SMARTPLUS__BILLING__V1__SET_INSTALLER_PAYMENT_POLICY_REQUEST__INIT;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse *out = NULL;
	Smartplus__Billing__V1__PaymentMethod m[1] = {method};
	spb_call_options o = as(who, NULL);
	int rc;
	r.installer_id = (char *)installer;
	r.pay_by_installer = on;
	r.n_allowed_methods = on ? 1 : 0;
	r.allowed_methods = m;
	rc = spb_billing_set_installer_payment_policy(cli, &r, &out, &o);
	spb_message_free(out);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The world                                                                 */

/*
 * vendor
 *   dA DISTRIBUTOR
 *     iA INSTALLER
 *       pmA PROPERTY_MANAGER
 *     iB INSTALLER
 *   dB DISTRIBUTOR (a foreign tree)
 * Credit price 50 (USD 0.50 per credit). Prices: COMMUNITY APP 500 / 5 cr,
 * COMMERCIAL DOOR 1000 / 5 cr. Items "<project>_<tag>000", 001, ...
 */
static int suite_init(void)
{
	/* commercial, created one and two days after the cut-over: credits only */
	spt_project ma = {
		"mA", "iA", PTYPE(COMMERCIAL), "pmA", 0, 0, (CUTOVER_S + 86400) * SPT_SECOND_US};
	spt_project mp = {"mP",
			  "iA",
			  PTYPE(COMMERCIAL),
			  "pmA",
			  0,
			  0,
			  (CUTOVER_S + 2 * 86400) * SPT_SECOND_US};

	SPT_INIT(spt_billingd_start(&srv, NULL));
	cli = spt_client_to(srv.target, srv.admin_key, 20000);
	SPT_INIT(cli ? 0 : -1);
	SPT_INIT(make_account("dA", ROLE(DISTRIBUTOR), "vendor"));
	SPT_INIT(make_account("iA", ROLE(INSTALLER), "dA"));
	SPT_INIT(make_account("pmA", ROLE(PROPERTY_MANAGER), "iA"));
	SPT_INIT(make_account("iB", ROLE(INSTALLER), "dA"));
	SPT_INIT(make_account("dB", ROLE(DISTRIBUTOR), "vendor"));
	SPT_INIT(spt_set_price(cli, PTYPE(COMMUNITY), STYPE(APP), 500, 5));
	SPT_INIT(spt_set_price(cli, PTYPE(COMMERCIAL), STYPE(DOOR), 1000, 5));
	SPT_INIT(spt_create_project_spec(cli, NULL, &ma));
	SPT_INIT(spt_create_items(cli, NULL, "mA", STYPE(DOOR), "mA_door", 3));
	SPT_INIT(spt_create_project_spec(cli, NULL, &mp));
	SPT_INIT(spt_create_items(cli, NULL, "mP", STYPE(DOOR), "mP_door", 2));
	SPT_INIT(spt_create_project(cli, NULL, "cA", "iA", PTYPE(COMMUNITY), NULL, 0));
	SPT_INIT(spt_create_items(cli, NULL, "cA", STYPE(APP), "cA_app", 4));
	SPT_INIT(spt_create_project(cli, NULL, "cB", "iB", PTYPE(COMMUNITY), NULL, 0));
	SPT_INIT(spt_create_items(cli, NULL, "cB", STYPE(APP), "cB_app", 4));
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(cli);
	cli = NULL;
	spt_billingd_free(&srv);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                 */

static void test_refusals(void)
{
	Smartplus__Billing__V1__Order *o;
	void *k;
	buy b = {"dA", NULL, NULL, 10, METHOD(STRIPE), NULL, "pm_card_visa", NULL, 0};

	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "NO_CREDIT_PRICE"),
		  "no credit price yet");
	spb_message_free(k);
	SPT_SEED(spt_set_credit_price(cli, 50));
	b.credits = 0;
	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_INVALID_ARGUMENT, NULL), "0 credits");
	spb_message_free(k);
	b.credits = 10000001;
	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_INVALID_ARGUMENT, NULL), "above the bound");
	spb_message_free(k);
	b.credits = 10;
	b.method = METHOD(CREDITS);
	b.pm = NULL;
	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "METHOD_NOT_ALLOWED"),
		  "credits not bought with CREDITS");
	spb_message_free(k);
	b.method = METHOD(STRIPE);
	b.pm = "pm_card_visa";
	b.no_terms = 1;
	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "TERMS_NOT_ACCEPTED"),
		  "terms");
	spb_message_free(k);
	b.no_terms = 0;
	b.account = "dB"; /* a foreign tree */
	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_PERMISSION_DENIED, NULL),
		  "foreign beneficiary");
	spb_message_free(k);
	b.account = "vendor"; /* an ancestor */
	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_PERMISSION_DENIED, NULL),
		  "ancestor beneficiary");
	spb_message_free(k);
	b.account = NULL;
	b.who = "iA";
	b.payer = "dA"; /* an installer paying for its distributor */
	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_PERMISSION_DENIED, NULL),
		  "caller may not act on payer");
	spb_message_free(k);
	b.who = "dA";
	b.payer = NULL;
	b.method = METHOD(COUPON);
	b.pm = NULL;
	SPT_CHECK(
		failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE"),
		"COUPON without a coupon");
	spb_message_free(k);
	SPT_SEED(spt_create_coupon(cli, "SERVICES10", 10, 0, 0));
	b.coupon = "SERVICES10";
	b.method = METHOD(STRIPE);
	b.pm = "pm_card_visa";
	SPT_CHECK(
		failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE"),
		"a services coupon does not apply to credits");
	spb_message_free(k);
	SPT_CHECK(balance("dA") == 0 && n_orders("dA", NULL, OTYPE(CREDIT_PURCHASE)) == 0,
		  "nothing bought, no order");
}

static void test_buy_by_coupon(void)
{
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__ListCreditLogsResponse *l;
	void *k;
	buy b = {"dA", NULL, NULL, 40, METHOD(COUPON), "CREDITFREE", NULL, NULL, 0};

	SPT_SEED(spt_create_coupon(cli, "CREDITFREE", 100, 1, 1));
	SPT_CHECK(purchase(&b, &o, &k) == 0 && o, "purchase");
	if (o) {
		SPT_CHECK(o->type == OTYPE(CREDIT_PURCHASE) && o->status == OSTATUS(SUCCEEDED),
			  "CREDIT_PURCHASE SUCCEEDED");
		SPT_CHECK(o->credits_quantity == 40 && strcmp(o->beneficiary_id, "dA") == 0 &&
				  strcmp(o->payer_id, "dA") == 0,
			  "40 credits for dA");
		SPT_CHECK(o->subtotal == 2000 && o->discount == 2000 && o->total == 0 &&
				  strcmp(o->currency, "USD") == 0,
			  "40 x 50 = 2000 USD, all off: %lld/%lld/%lld", (long long)o->subtotal,
			  (long long)o->discount, (long long)o->total);
	}
	SPT_CHECK(balance("dA") == 40, "balance 40, got %lld", (long long)balance("dA"));
	l = credit_logs("dA");
	SPT_CHECK(l && l->n_entries == 1 && l->entries[0]->kind == KIND(PURCHASE) &&
			  l->entries[0]->delta == 40 && l->entries[0]->balance_after == 40 &&
			  strcmp(l->entries[0]->counterparty_id, "vendor") == 0 && o &&
			  strcmp(l->entries[0]->order_id, o->order_id) == 0,
		  "one PURCHASE +40 -> 40 for the order");
	spb_message_free(l);
	spb_message_free(k);
	b.account = "iA"; /* once per payer, and used up */
	SPT_CHECK(
		failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE"),
		"coupon used up");
	spb_message_free(k);
	SPT_CHECK(balance("dA") == 40 && balance("iA") == 0, "unchanged");
}

static void test_buy_by_card(void)
{
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__ListCreditLogsResponse *l;
	Smartplus__Billing__V1__ConfirmOrderRequest cr =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *cresp = NULL;
	char id[64] = "";
	void *k;
	buy b = {"dA", NULL, "iA", 100, METHOD(STRIPE), NULL, "pm_card_visa", NULL, 0};

	SPT_CHECK(purchase(&b, &o, &k) == 0 && o && o->status == OSTATUS(SUCCEEDED) && o->sandbox &&
			  o->total == 5000 && o->discount == 0,
		  "card: SUCCEEDED, 100 x 50 = 5000");
	spb_message_free(k);
	SPT_CHECK(balance("iA") == 100 && balance("dA") == 40, "iA 100, dA still 40");
	l = credit_logs("iA");
	SPT_CHECK(l && l->n_entries == 1 && l->entries[0]->kind == KIND(PURCHASE) &&
			  l->entries[0]->delta == 100 && l->entries[0]->balance_after == 100 &&
			  strcmp(l->entries[0]->actor_id, "dA") == 0,
		  "iA: PURCHASE +100 -> 100 by dA");
	spb_message_free(l);
	/* PayPal: pending until approved and confirmed; confirming twice grants once */
	b.account = NULL;
	b.credits = 7;
	b.method = METHOD(PAYPAL);
	b.pm = NULL;
	SPT_CHECK(purchase(&b, &o, &k) == 0 && o && o->status == OSTATUS(PENDING_PAYMENT) &&
			  o->paypal_approval_url[0] && o->total == 350,
		  "PayPal pending, 350");
	if (o)
		snprintf(id, sizeof(id), "%s", o->order_id);
	spb_message_free(k);
	SPT_CHECK(balance("dA") == 40, "nothing before approval");
	cr.order_id = id;
	for (int i = 0; i < 2; i++) {
		SPT_CHECK(spb_billing_confirm_order(cli, &cr, &cresp, NULL) == 0 &&
				  cresp->order->status == OSTATUS(SUCCEEDED),
			  "confirm %d", i + 1);
		spb_message_free(cresp);
		cresp = NULL;
	}
	SPT_CHECK(balance("dA") == 47, "dA 40 + 7 = 47, got %lld", (long long)balance("dA"));
}

static void test_declined(void)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *out = NULL;
	Smartplus__Billing__V1__Order *o;
	void *k;
	buy b = {"dA", NULL, "iB", 30, METHOD(STRIPE), NULL, "pm_card_chargeDeclined", NULL, 0};

	SPT_CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "PAYMENT_DECLINED"),
		  "declined");
	spb_message_free(k);
	SPT_CHECK(balance("iB") == 0, "iB still 0");
	r.payer_id = "dA";
	r.status = OSTATUS(FAILED);
	r.type = OTYPE(CREDIT_PURCHASE);
	SPT_CHECK(spb_billing_list_orders(cli, &r, &out, NULL) == 0 && out->n_orders == 1 &&
			  strcmp(out->orders[0]->beneficiary_id, "iB") == 0 &&
			  strcmp(out->orders[0]->failure_reason, "card_declined") == 0,
		  "one FAILED credit order, card_declined");
	spb_message_free(out);
}

static void test_commercial_credits(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k = NULL;
	Smartplus__Billing__V1__Quote *q;
	Smartplus__Billing__V1__ListCreditLogsResponse *l;
	Smartplus__Billing__V1__Order *o = NULL;
	void *ok = NULL;

	q = quote("dA", "dA", "iA", PTYPE(COMMERCIAL), "mA", NULL, 3, &k);
	SPT_CHECK(q != NULL, "quote");
	if (q) {
		SPT_CHECK(q->payment_model == MODEL(CREDITS) && q->n_allowed_methods == 1 &&
				  q->allowed_methods[0] == METHOD(CREDITS),
			  "credits model, CREDITS only");
		SPT_CHECK(q->n_lines == 3 && q->lines[0]->free && q->lines[0]->credits == 0 &&
				  strcmp(q->lines[0]->item_id, "mA_door000") == 0,
			  "oldest door free at 0");
		SPT_CHECK(q->credits_total == 30 && q->total == 0, "30 credits, got %lld",
			  (long long)q->credits_total);
		SPT_CHECK(activate("dA", q->quote_id, METHOD(CREDITS), NULL, NULL, &o, &ok) == 0 &&
				  o && o->status == OSTATUS(SUCCEEDED) && o->credits_total == 30,
			  "activated with CREDITS");
	}
	SPT_CHECK(balance("dA") == 17, "47 - 30 = 17, got %lld", (long long)balance("dA"));
	l = credit_logs("dA");
	SPT_CHECK(l && l->n_entries >= 1 && l->entries[0]->kind == KIND(SPEND) &&
			  l->entries[0]->delta == -30 && l->entries[0]->balance_after == 17 && o &&
			  strcmp(l->entries[0]->order_id, o->order_id) == 0,
		  "newest log: SPEND -30 -> 17");
	spb_message_free(l);
	spb_message_free(ok);
	spb_message_free(k);
}

static void test_community_refuses_credits(void)
{
	int st = 0;
	SPT_CHECK(failed_with(quote_and_activate("dA", "dA", "iA", PTYPE(COMMUNITY), "cA",
						 "cA_app000", 1, METHOD(CREDITS), NULL, NULL, &st),
			      ST_FAILED_PRECONDITION, "METHOD_NOT_ALLOWED"),
		  "METHOD_NOT_ALLOWED");
	SPT_CHECK(balance("dA") == 17, "balance unchanged");
}

static void test_property_manager(void)
{
	Smartplus__Billing__V1__AssignCreditsRequest a =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *ar = NULL;
	spb_call_options o = as("iA", NULL);
	int64_t cr = 0;
	int st = 0;

	a.to_account_id = "pmA";
	a.credits = 12;
	SPT_CHECK(spb_billing_assign_credits(cli, &a, &ar, &o) == 0, "iA assigns 12 to pmA");
	spb_message_free(ar);
	SPT_CHECK(failed_with(quote_and_activate("pmA", "pmA", "iA", PTYPE(COMMERCIAL), "mP",
						 "mP_door001", 2, METHOD(STRIPE), "pm_card_visa",
						 NULL, NULL),
			      ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
		  "STRIPE denied");
	SPT_CHECK(quote_and_activate("pmA", "pmA", "iA", PTYPE(COMMERCIAL), "mP", "mP_door001", 2,
				     METHOD(CREDITS), NULL, &cr, &st) == 0 &&
			  st == OSTATUS(SUCCEEDED) && cr == 10,
		  "CREDITS: 1 door x 5 x 2 = 10, got %lld", (long long)cr);
	SPT_CHECK(balance("pmA") == 2 && balance("iA") == 88, "pmA 12 - 10 = 2, iA 100 - 12 = 88");
}

static void test_installer_policy(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k = NULL;
	Smartplus__Billing__V1__Quote *q;
	int st = 0;

	q = quote("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app000", 1, &k);
	SPT_CHECK(!q && failed_with(-1, ST_PERMISSION_DENIED, "PAYMENT_NOT_PERMITTED"),
		  "before: quote denied");
	spb_message_free(k);
	for (int m = METHOD(STRIPE); m <= METHOD(COUPON); m++)
		SPT_CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB",
							 "cB_app000", 1, m, NULL, NULL, NULL),
				      ST_PERMISSION_DENIED, "PAYMENT_NOT_PERMITTED"),
			  "before: method %d denied", m);
	SPT_CHECK(set_policy("dA", "iB", 1, METHOD(STRIPE)) == 0, "dA grants {STRIPE}");
	q = quote("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app000", 1, &k);
	SPT_CHECK(q && q->n_allowed_methods == 1 && q->allowed_methods[0] == METHOD(STRIPE),
		  "quote shows STRIPE only");
	spb_message_free(k);
	q = quote("dA", "dA", "iB", PTYPE(COMMUNITY), "cB", "cB_app000", 1, &k);
	SPT_CHECK(q && q->n_allowed_methods == 3, "its distributor still sees 3 methods");
	spb_message_free(k);
	SPT_CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB",
						 "cB_app001", 1, METHOD(PAYPAL), NULL, NULL, NULL),
			      ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
		  "PAYPAL denied");
	SPT_CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB",
						 "cB_app001", 1, METHOD(COUPON), NULL, NULL, NULL),
			      ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
		  "COUPON denied");
	SPT_CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB",
						 "cB_app001", 1, METHOD(CREDITS), NULL, NULL, NULL),
			      ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
		  "CREDITS denied");
	SPT_CHECK(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app000", 1,
				     METHOD(STRIPE), "pm_card_visa", NULL, &st) == 0 &&
			  st == OSTATUS(SUCCEEDED),
		  "STRIPE works");
}

static void test_idempotency(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k = NULL, *k2 = NULL;
	Smartplus__Billing__V1__Quote *q, *q2;
	Smartplus__Billing__V1__Order *o1 = NULL, *o2 = NULL, *o3 = NULL;
	void *ok1 = NULL, *ok2 = NULL, *ok3 = NULL;
	char key[64];
	buy b = {"dA", NULL, NULL, 5, METHOD(STRIPE), NULL, "pm_card_visa", NULL, 0};

	snprintf(key, sizeof(key), "act-%d", (int)getpid());
	q = quote("dA", "dA", "iA", PTYPE(COMMUNITY), "cA", "cA_app001", 2, &k);
	q2 = quote("dA", "dA", "iA", PTYPE(COMMUNITY), "cA", "cA_app002", 2, &k2);
	SPT_CHECK(q && q2, "quotes");
	if (q && q2) {
		SPT_CHECK(activate("dA", q->quote_id, METHOD(STRIPE), "pm_card_visa", key, &o1,
				   &ok1) == 0 &&
				  o1 && o1->status == OSTATUS(SUCCEEDED) && o1->total == 1000,
			  "first call");
		SPT_CHECK(activate("dA", q->quote_id, METHOD(STRIPE), "pm_card_visa", key, &o2,
				   &ok2) == 0 &&
				  o2 && o1 && strcmp(o1->order_id, o2->order_id) == 0 &&
				  o2->status == o1->status && o2->total == o1->total,
			  "replay: the same order");
		SPT_CHECK(n_orders("dA", "cA", 0) == 1, "one order for the project, got %d",
			  n_orders("dA", "cA", 0));
		SPT_CHECK(failed_with(activate("dA", q2->quote_id, METHOD(STRIPE), "pm_card_visa",
					       key, &o3, &ok3),
				      ST_FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED"),
			  "same key, other request");
		SPT_CHECK(n_orders("dA", "cA", 0) == 1, "still one order");
	}
	spb_message_free(ok1);
	spb_message_free(ok2);
	spb_message_free(ok3);
	spb_message_free(k);
	spb_message_free(k2);
	/* a credit purchase replayed: the credits land once */
	snprintf(key, sizeof(key), "buy-%d", (int)getpid());
	b.idem = key;
	SPT_CHECK(purchase(&b, &o1, &ok1) == 0 && o1 && o1->status == OSTATUS(SUCCEEDED),
		  "purchase");
	SPT_CHECK(purchase(&b, &o2, &ok2) == 0 && o2 && o1 &&
			  strcmp(o1->order_id, o2->order_id) == 0,
		  "replayed purchase: same order");
	SPT_CHECK(balance("dA") == 22, "17 + 5 once = 22, got %lld", (long long)balance("dA"));
	spb_message_free(ok1);
	spb_message_free(ok2);
}

static CU_TestInfo tests[] = {
	{"R13 refusals: no credit price, bad quantity, CREDITS, terms, beneficiary, coupons",
	 test_refusals},
	{"R13 buy 40 credits with a 100% credit coupon", test_buy_by_coupon},
	{"R13 buy 100 credits for a descendant by sandbox card; PayPal after confirm, once",
	 test_buy_by_card},
	{"R13 declined card grants nothing", test_declined},
	{"R2/R4 commercial after the cut-over paid with CREDITS: 2 paid doors x 5 x 3 = 30",
	 test_commercial_credits},
	{"R2 community activation refused for CREDITS", test_community_refuses_credits},
	{"R11 property manager: CREDITS succeeds, STRIPE PERMISSION_DENIED", test_property_manager},
	{"R11/R12 installer policy method by method, before and after {STRIPE}",
	 test_installer_policy},
	{"R17 replayed ActivateServices and PurchaseCredits; reused key", test_idempotency},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"credit orders", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
