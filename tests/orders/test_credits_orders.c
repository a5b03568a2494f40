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
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spbilling.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define ROLE(x) V1(ROLE__ROLE_##x)
#define METHOD(x) V1(PAYMENT_METHOD__PAYMENT_METHOD_##x)
#define OSTATUS(x) V1(ORDER_STATUS__ORDER_STATUS_##x)
#define STYPE(x) V1(SERVICE_TYPE__SERVICE_TYPE_##x)
#define PTYPE(x) V1(PROJECT_TYPE__PROJECT_TYPE_##x)
#define KIND(x) V1(TRANSFER_KIND__TRANSFER_KIND_##x)
#define ACT V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE)
#define CUTOVER_S INT64_C(1748736000)
#define DAY_US (INT64_C(86400) * 1000000)

enum { ST_INVALID_ARGUMENT = 3, ST_PERMISSION_DENIED = 7, ST_FAILED_PRECONDITION = 9 };

static int failures, checks, scenario_failures;
static const char *scenario = "";
static struct {
	char name[128];
	int failed;
} results[32];
static int n_results;

#define CHECK(cond, ...)                                                                      \
	do {                                                                                  \
		checks++;                                                                     \
		if (!(cond)) {                                                                \
			failures++;                                                           \
			scenario_failures++;                                                  \
			fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, scenario, \
				#cond);                                                       \
			fprintf(stderr, __VA_ARGS__);                                         \
			fprintf(stderr, " (last: %s %s: %s)\n",                               \
				spb_status_name(spb_error_last()->grpc_code),                 \
				spb_error_last()->reason, spb_error_last()->message);         \
		}                                                                             \
	} while (0)

static void begin(const char *name)
{
	scenario = name;
	scenario_failures = 0;
}

static void end(void)
{
	snprintf(results[n_results].name, sizeof(results[0].name), "%s", scenario);
	results[n_results++].failed = scenario_failures;
}

/* ------------------------------------------------------------------------ */
/* billingd and accounts                                                     */

static char workdir[64], datadir[96];
static pid_t billingd_pid;
static spb_client *cli; /* the vendor's key */

static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	int ok = f && fgets(buf, (int)cap, f);
	if (f)
		fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\r\n")] = 0;
	return buf[0] ? 0 : -1;
}

static int start_billingd(const char *bin)
{
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;
	char portfile[128], keyfile[128], logfile[128], port[16] = "", key[160], target[64];

	snprintf(workdir, sizeof(workdir), "/tmp/spb-corders.XXXXXX");
	if (!mkdtemp(workdir))
		return -1;
	snprintf(datadir, sizeof(datadir), "%s/data", workdir);
	snprintf(portfile, sizeof(portfile), "%s/port", workdir);
	snprintf(keyfile, sizeof(keyfile), "%s/admin.key", datadir);
	snprintf(logfile, sizeof(logfile), "%s/billingd.log", workdir);
	billingd_pid = fork();
	if (billingd_pid < 0)
		return -1;
	if (billingd_pid == 0) {
		if (!freopen(logfile, "w", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", portfile, "--data-dir",
		      datadir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && read_line(portfile, port, sizeof(port)) != 0; i++)
		usleep(50000);
	if (!port[0] || read_line(keyfile, key, sizeof(key)) != 0)
		return -1;
	snprintf(target, sizeof(target), "127.0.0.1:%s", port);
	opts.api_key = key;
	opts.default_deadline_ms = 20000;
	cli = spb_client_new(target, &opts);
	return cli ? 0 : -1;
}

#define MAX_KEYS 16
static struct {
	char id[65];
	char token[160];
} keys[MAX_KEYS];
static int n_keys;

/* Call options acting as `as` with its own key (NULL or "vendor": the
 * client's), and an explicit idempotency key when idem is not NULL. */
static spb_call_options as(const char *who, const char *idem)
{
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	for (int i = 0; who && i < n_keys; i++)
		if (strcmp(keys[i].id, who) == 0)
			o.api_key = keys[i].token;
	o.idempotency_key = idem;
	return o;
}

static int make_account(const char *id, int role, const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest a =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateAccountResponse *ar = NULL;
	Smartplus__Billing__V1__CreateApiKeyRequest k =
		SMARTPLUS__BILLING__V1__CREATE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__CreateApiKeyResponse *kr = NULL;
	int rc;

	a.account_id = (char *)id;
	a.role = role;
	a.parent_id = (char *)parent;
	a.display_name = (char *)id;
	rc = spb_directory_create_account(cli, &a, &ar, NULL);
	spb_message_free(ar);
	k.account_id = (char *)id;
	if (rc == 0)
		rc = spb_directory_create_api_key(cli, &k, &kr, NULL);
	if (rc == 0 && n_keys < MAX_KEYS) {
		snprintf(keys[n_keys].id, sizeof(keys[0].id), "%s", id);
		snprintf(keys[n_keys].token, sizeof(keys[0].token), "%s", kr->secret);
		n_keys++;
	}
	spb_message_free(kr);
	CHECK(rc == 0, "account %s", id);
	return rc;
}

static void set_price(int ptype, int stype, int64_t amount, int64_t credits)
{
	Smartplus__Billing__V1__SetPriceRequest r = SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetPriceResponse *out = NULL;
	r.project_type = ptype;
	r.service_type = stype;
	r.monthly_amount = amount;
	r.currency = "USD";
	r.monthly_credits = credits;
	CHECK(spb_admin_set_price(cli, &r, &out, NULL) == 0, "SetPrice");
	spb_message_free(out);
}

static void make_project(const char *id, const char *installer, int ptype, int64_t created_s,
			 const char *pm)
{
	Smartplus__Billing__V1__CreateProjectRequest r =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *out = NULL;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	r.project_id = (char *)id;
	r.installer_id = (char *)installer;
	r.type = ptype;
	r.property_manager_id = (char *)(pm ? pm : "");
	if (created_s) {
		ts.seconds = created_s;
		r.created_at = &ts;
	}
	CHECK(spb_directory_create_project(cli, &r, &out, NULL) == 0, "CreateProject %s", id);
	spb_message_free(out);
}

/* n items of one service type: <project>_<tag>1 .. n, created in order. */
static void make_items(const char *project, int stype, const char *tag, int n)
{
	Smartplus__Billing__V1__CreateItemsRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__CreateItemsResponse *out = NULL;
	Smartplus__Billing__V1__ItemSpec specs[8], *ps[8];
	char ids[8][80];
	for (int i = 0; i < n && i < 8; i++) {
		smartplus__billing__v1__item_spec__init(&specs[i]);
		snprintf(ids[i], sizeof(ids[i]), "%s_%s%d", project, tag, i + 1);
		specs[i].item_id = ids[i];
		specs[i].service_type = stype;
		specs[i].label = ids[i];
		ps[i] = &specs[i];
	}
	r.project_id = (char *)project;
	r.n_items = (size_t)n;
	r.items = ps;
	CHECK(spb_directory_create_items(cli, &r, &out, NULL) == 0, "CreateItems %s", project);
	spb_message_free(out);
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */

static Smartplus__Billing__V1__BillingInfo bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Ada Buyer",
	"ada@example.com",
	"Ada Ltd",
	"1 Main St",
	"US",
	"",
	"" /* region */};

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
	r.billing_info = &bill;
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
	Smartplus__Billing__V1__QuoteServicesRequest r =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	spb_call_options o = as(who, NULL);
	char *projects[1] = {(char *)project}, *items[1] = {(char *)item};
	r.action = ACT;
	r.payer_id = (char *)payer;
	r.installer_id = (char *)installer;
	r.project_type = ptype;
	r.n_project_ids = 1;
	r.project_ids = projects;
	if (item) {
		r.n_item_ids = 1;
		r.item_ids = items;
	}
	r.months = months;
	*keep = NULL;
	return spb_billing_quote_services(cli, &r, keep, &o) == 0 ? (*keep)->quote : NULL;
}

static int activate(const char *who, const char *quote_id, int method, const char *pm,
		    const char *idem, Smartplus__Billing__V1__Order **out, void **keep)
{
	Smartplus__Billing__V1__ActivateServicesRequest r =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *resp = NULL;
	spb_call_options o = as(who, idem);
	int rc;
	r.quote_id = (char *)quote_id;
	r.payment_method = method;
	r.billing_info = &bill;
	r.terms_accepted = 1;
	r.stripe_payment_method_id = (char *)(pm ? pm : "");
	rc = spb_billing_activate_services(cli, &r, &resp, &o);
	*out = rc == 0 ? resp->order : NULL;
	*keep = resp;
	return rc;
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

static void coupon(const char *code, int percent, int credit_only, int max)
{
	Smartplus__Billing__V1__CreateCouponRequest r =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
	Smartplus__Billing__V1__Coupon c = SMARTPLUS__BILLING__V1__COUPON__INIT;
	Smartplus__Billing__V1__CreateCouponResponse *out = NULL;
	c.code = (char *)code;
	c.percent_off = percent;
	c.credit_purchases_only = credit_only;
	c.max_redemptions = max;
	r.coupon = &c;
	CHECK(spb_admin_create_coupon(cli, &r, &out, NULL) == 0, "coupon %s", code);
	spb_message_free(out);
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
 * COMMERCIAL DOOR 1000 / 5 cr.
 */
static int seed(void)
{
	if (make_account("dA", ROLE(DISTRIBUTOR), "vendor") ||
	    make_account("iA", ROLE(INSTALLER), "dA") ||
	    make_account("pmA", ROLE(PROPERTY_MANAGER), "iA") ||
	    make_account("iB", ROLE(INSTALLER), "dA") ||
	    make_account("dB", ROLE(DISTRIBUTOR), "vendor"))
		return -1;
	set_price(PTYPE(COMMUNITY), STYPE(APP), 500, 5);
	set_price(PTYPE(COMMERCIAL), STYPE(DOOR), 1000, 5);
	/* commercial, created one day after the cut-over: credits only */
	make_project("mA", "iA", PTYPE(COMMERCIAL), CUTOVER_S + 86400, "pmA");
	make_items("mA", STYPE(DOOR), "door", 3);
	make_project("mP", "iA", PTYPE(COMMERCIAL), CUTOVER_S + 2 * 86400, "pmA");
	make_items("mP", STYPE(DOOR), "door", 2);
	make_project("cA", "iA", PTYPE(COMMUNITY), 0, NULL);
	make_items("cA", STYPE(APP), "app", 4);
	make_project("cB", "iB", PTYPE(COMMUNITY), 0, NULL);
	make_items("cB", STYPE(APP), "app", 4);
	return 0;
}

static void set_credit_price(int64_t unit)
{
	Smartplus__Billing__V1__SetCreditPriceRequest r =
		SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetCreditPriceResponse *out = NULL;
	r.unit_amount = unit;
	r.currency = "USD";
	CHECK(spb_admin_set_credit_price(cli, &r, &out, NULL) == 0, "SetCreditPrice");
	spb_message_free(out);
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                 */

static void s_refusals(void)
{
	Smartplus__Billing__V1__Order *o;
	void *k;
	buy b = {"dA", NULL, NULL, 10, METHOD(STRIPE), NULL, "pm_card_visa", NULL, 0};

	begin("R13 refusals: no credit price, bad quantity, CREDITS, terms, beneficiary, coupons");
	CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "NO_CREDIT_PRICE"),
	      "no credit price yet");
	spb_message_free(k);
	set_credit_price(50);
	b.credits = 0;
	CHECK(failed_with(purchase(&b, &o, &k), ST_INVALID_ARGUMENT, NULL), "0 credits");
	spb_message_free(k);
	b.credits = 10000001;
	CHECK(failed_with(purchase(&b, &o, &k), ST_INVALID_ARGUMENT, NULL), "above the bound");
	spb_message_free(k);
	b.credits = 10;
	b.method = METHOD(CREDITS);
	b.pm = NULL;
	CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "METHOD_NOT_ALLOWED"),
	      "credits not bought with CREDITS");
	spb_message_free(k);
	b.method = METHOD(STRIPE);
	b.pm = "pm_card_visa";
	b.no_terms = 1;
	CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "TERMS_NOT_ACCEPTED"),
	      "terms");
	spb_message_free(k);
	b.no_terms = 0;
	b.account = "dB"; /* a foreign tree */
	CHECK(failed_with(purchase(&b, &o, &k), ST_PERMISSION_DENIED, NULL), "foreign beneficiary");
	spb_message_free(k);
	b.account = "vendor"; /* an ancestor */
	CHECK(failed_with(purchase(&b, &o, &k), ST_PERMISSION_DENIED, NULL),
	      "ancestor beneficiary");
	spb_message_free(k);
	b.account = NULL;
	b.who = "iA";
	b.payer = "dA"; /* an installer paying for its distributor */
	CHECK(failed_with(purchase(&b, &o, &k), ST_PERMISSION_DENIED, NULL),
	      "caller may not act on payer");
	spb_message_free(k);
	b.who = "dA";
	b.payer = NULL;
	b.method = METHOD(COUPON);
	b.pm = NULL;
	CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE"),
	      "COUPON without a coupon");
	spb_message_free(k);
	coupon("SERVICES10", 10, 0, 0);
	b.coupon = "SERVICES10";
	b.method = METHOD(STRIPE);
	b.pm = "pm_card_visa";
	CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE"),
	      "a services coupon does not apply to credits");
	spb_message_free(k);
	CHECK(balance("dA") == 0 &&
		      n_orders("dA", NULL, V1(ORDER_TYPE__ORDER_TYPE_CREDIT_PURCHASE)) == 0,
	      "nothing bought, no order");
	end();
}

static void s_buy_by_coupon(void)
{
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__ListCreditLogsResponse *l;
	void *k;
	buy b = {"dA", NULL, NULL, 40, METHOD(COUPON), "CREDITFREE", NULL, NULL, 0};

	begin("R13 buy 40 credits with a 100% credit coupon");
	coupon("CREDITFREE", 100, 1, 1);
	CHECK(purchase(&b, &o, &k) == 0 && o, "purchase");
	if (o) {
		CHECK(o->type == V1(ORDER_TYPE__ORDER_TYPE_CREDIT_PURCHASE) &&
			      o->status == OSTATUS(SUCCEEDED),
		      "CREDIT_PURCHASE SUCCEEDED");
		CHECK(o->credits_quantity == 40 && strcmp(o->beneficiary_id, "dA") == 0 &&
			      strcmp(o->payer_id, "dA") == 0,
		      "40 credits for dA");
		CHECK(o->subtotal == 2000 && o->discount == 2000 && o->total == 0 &&
			      strcmp(o->currency, "USD") == 0,
		      "40 x 50 = 2000 USD, all off: %lld/%lld/%lld", (long long)o->subtotal,
		      (long long)o->discount, (long long)o->total);
	}
	CHECK(balance("dA") == 40, "balance 40, got %lld", (long long)balance("dA"));
	l = credit_logs("dA");
	CHECK(l && l->n_entries == 1 && l->entries[0]->kind == KIND(PURCHASE) &&
		      l->entries[0]->delta == 40 && l->entries[0]->balance_after == 40 &&
		      strcmp(l->entries[0]->counterparty_id, "vendor") == 0 && o &&
		      strcmp(l->entries[0]->order_id, o->order_id) == 0,
	      "one PURCHASE +40 -> 40 for the order");
	spb_message_free(l);
	spb_message_free(k);
	b.account = "iA"; /* once per payer, and used up */
	CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE"),
	      "coupon used up");
	spb_message_free(k);
	CHECK(balance("dA") == 40 && balance("iA") == 0, "unchanged");
	end();
}

static void s_buy_by_card(void)
{
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__ListCreditLogsResponse *l;
	Smartplus__Billing__V1__ConfirmOrderRequest cr =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *cresp = NULL;
	char id[64] = "";
	void *k;
	buy b = {"dA", NULL, "iA", 100, METHOD(STRIPE), NULL, "pm_card_visa", NULL, 0};

	begin("R13 buy 100 credits for a descendant by sandbox card; PayPal after confirm, once");
	CHECK(purchase(&b, &o, &k) == 0 && o && o->status == OSTATUS(SUCCEEDED) && o->sandbox &&
		      o->total == 5000 && o->discount == 0,
	      "card: SUCCEEDED, 100 x 50 = 5000");
	spb_message_free(k);
	CHECK(balance("iA") == 100 && balance("dA") == 40, "iA 100, dA still 40");
	l = credit_logs("iA");
	CHECK(l && l->n_entries == 1 && l->entries[0]->kind == KIND(PURCHASE) &&
		      l->entries[0]->delta == 100 && l->entries[0]->balance_after == 100 &&
		      strcmp(l->entries[0]->actor_id, "dA") == 0,
	      "iA: PURCHASE +100 -> 100 by dA");
	spb_message_free(l);
	/* PayPal: pending until approved and confirmed; confirming twice grants once */
	b.account = NULL;
	b.credits = 7;
	b.method = METHOD(PAYPAL);
	b.pm = NULL;
	CHECK(purchase(&b, &o, &k) == 0 && o && o->status == OSTATUS(PENDING_PAYMENT) &&
		      o->paypal_approval_url[0] && o->total == 350,
	      "PayPal pending, 350");
	if (o)
		snprintf(id, sizeof(id), "%s", o->order_id);
	spb_message_free(k);
	CHECK(balance("dA") == 40, "nothing before approval");
	cr.order_id = id;
	for (int i = 0; i < 2; i++) {
		CHECK(spb_billing_confirm_order(cli, &cr, &cresp, NULL) == 0 &&
			      cresp->order->status == OSTATUS(SUCCEEDED),
		      "confirm %d", i + 1);
		spb_message_free(cresp);
		cresp = NULL;
	}
	CHECK(balance("dA") == 47, "dA 40 + 7 = 47, got %lld", (long long)balance("dA"));
	end();
}

static void s_declined(void)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *out = NULL;
	Smartplus__Billing__V1__Order *o;
	void *k;
	buy b = {"dA", NULL, "iB", 30, METHOD(STRIPE), NULL, "pm_card_chargeDeclined", NULL, 0};

	begin("R13 declined card grants nothing");
	CHECK(failed_with(purchase(&b, &o, &k), ST_FAILED_PRECONDITION, "PAYMENT_DECLINED"),
	      "declined");
	spb_message_free(k);
	CHECK(balance("iB") == 0, "iB still 0");
	r.payer_id = "dA";
	r.status = OSTATUS(FAILED);
	r.type = V1(ORDER_TYPE__ORDER_TYPE_CREDIT_PURCHASE);
	CHECK(spb_billing_list_orders(cli, &r, &out, NULL) == 0 && out->n_orders == 1 &&
		      strcmp(out->orders[0]->beneficiary_id, "iB") == 0 &&
		      strcmp(out->orders[0]->failure_reason, "card_declined") == 0,
	      "one FAILED credit order, card_declined");
	spb_message_free(out);
	end();
}

static void s_commercial_credits(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k = NULL;
	Smartplus__Billing__V1__Quote *q;
	Smartplus__Billing__V1__ListCreditLogsResponse *l;
	Smartplus__Billing__V1__Order *o = NULL;
	void *ok = NULL;

	begin("R2/R4 commercial after the cut-over paid with CREDITS: 2 paid doors x 5 x 3 = 30");
	q = quote("dA", "dA", "iA", PTYPE(COMMERCIAL), "mA", NULL, 3, &k);
	CHECK(q != NULL, "quote");
	if (q) {
		CHECK(q->payment_model == V1(PAYMENT_MODEL__PAYMENT_MODEL_CREDITS) &&
			      q->n_allowed_methods == 1 && q->allowed_methods[0] == METHOD(CREDITS),
		      "credits model, CREDITS only");
		CHECK(q->n_lines == 3 && q->lines[0]->free && q->lines[0]->credits == 0 &&
			      strcmp(q->lines[0]->item_id, "mA_door1") == 0,
		      "oldest door free at 0");
		CHECK(q->credits_total == 30 && q->total == 0, "30 credits, got %lld",
		      (long long)q->credits_total);
		CHECK(activate("dA", q->quote_id, METHOD(CREDITS), NULL, NULL, &o, &ok) == 0 && o &&
			      o->status == OSTATUS(SUCCEEDED) && o->credits_total == 30,
		      "activated with CREDITS");
	}
	CHECK(balance("dA") == 17, "47 - 30 = 17, got %lld", (long long)balance("dA"));
	l = credit_logs("dA");
	CHECK(l && l->n_entries >= 1 && l->entries[0]->kind == KIND(SPEND) &&
		      l->entries[0]->delta == -30 && l->entries[0]->balance_after == 17 && o &&
		      strcmp(l->entries[0]->order_id, o->order_id) == 0,
	      "newest log: SPEND -30 -> 17");
	spb_message_free(l);
	spb_message_free(ok);
	spb_message_free(k);
	end();
}

static void s_community_refuses_credits(void)
{
	int st = 0;
	begin("R2 community activation refused for CREDITS");
	CHECK(failed_with(quote_and_activate("dA", "dA", "iA", PTYPE(COMMUNITY), "cA", "cA_app1", 1,
					     METHOD(CREDITS), NULL, NULL, &st),
			  ST_FAILED_PRECONDITION, "METHOD_NOT_ALLOWED"),
	      "METHOD_NOT_ALLOWED");
	CHECK(balance("dA") == 17, "balance unchanged");
	end();
}

static void s_property_manager(void)
{
	Smartplus__Billing__V1__AssignCreditsRequest a =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *ar = NULL;
	spb_call_options o = as("iA", NULL);
	int64_t cr = 0;
	int st = 0;

	begin("R11 property manager: CREDITS succeeds, STRIPE PERMISSION_DENIED");
	a.to_account_id = "pmA";
	a.credits = 12;
	CHECK(spb_billing_assign_credits(cli, &a, &ar, &o) == 0, "iA assigns 12 to pmA");
	spb_message_free(ar);
	CHECK(failed_with(quote_and_activate("pmA", "pmA", "iA", PTYPE(COMMERCIAL), "mP",
					     "mP_door2", 2, METHOD(STRIPE), "pm_card_visa", NULL,
					     NULL),
			  ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
	      "STRIPE denied");
	CHECK(quote_and_activate("pmA", "pmA", "iA", PTYPE(COMMERCIAL), "mP", "mP_door2", 2,
				 METHOD(CREDITS), NULL, &cr, &st) == 0 &&
		      st == OSTATUS(SUCCEEDED) && cr == 10,
	      "CREDITS: 1 door x 5 x 2 = 10, got %lld", (long long)cr);
	CHECK(balance("pmA") == 2 && balance("iA") == 88, "pmA 12 - 10 = 2, iA 100 - 12 = 88");
	end();
}

static void s_installer_policy(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k = NULL;
	Smartplus__Billing__V1__Quote *q;
	int st = 0;

	begin("R11/R12 installer policy method by method, before and after {STRIPE}");
	q = quote("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app1", 1, &k);
	CHECK(!q && failed_with(-1, ST_PERMISSION_DENIED, "PAYMENT_NOT_PERMITTED"),
	      "before: quote denied");
	spb_message_free(k);
	for (int m = METHOD(STRIPE); m <= METHOD(COUPON); m++)
		CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB",
						     "cB_app1", 1, m, NULL, NULL, NULL),
				  ST_PERMISSION_DENIED, "PAYMENT_NOT_PERMITTED"),
		      "before: method %d denied", m);
	CHECK(set_policy("dA", "iB", 1, METHOD(STRIPE)) == 0, "dA grants {STRIPE}");
	q = quote("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app1", 1, &k);
	CHECK(q && q->n_allowed_methods == 1 && q->allowed_methods[0] == METHOD(STRIPE),
	      "quote shows STRIPE only");
	spb_message_free(k);
	q = quote("dA", "dA", "iB", PTYPE(COMMUNITY), "cB", "cB_app1", 1, &k);
	CHECK(q && q->n_allowed_methods == 3, "its distributor still sees 3 methods");
	spb_message_free(k);
	CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app2", 1,
					     METHOD(PAYPAL), NULL, NULL, NULL),
			  ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
	      "PAYPAL denied");
	CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app2", 1,
					     METHOD(COUPON), NULL, NULL, NULL),
			  ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
	      "COUPON denied");
	CHECK(failed_with(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app2", 1,
					     METHOD(CREDITS), NULL, NULL, NULL),
			  ST_PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
	      "CREDITS denied");
	CHECK(quote_and_activate("iB", "iB", "iB", PTYPE(COMMUNITY), "cB", "cB_app1", 1,
				 METHOD(STRIPE), "pm_card_visa", NULL, &st) == 0 &&
		      st == OSTATUS(SUCCEEDED),
	      "STRIPE works");
	end();
}

static void s_idempotency(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k = NULL, *k2 = NULL;
	Smartplus__Billing__V1__Quote *q, *q2;
	Smartplus__Billing__V1__Order *o1 = NULL, *o2 = NULL, *o3 = NULL;
	void *ok1 = NULL, *ok2 = NULL, *ok3 = NULL;
	char key[64];
	buy b = {"dA", NULL, NULL, 5, METHOD(STRIPE), NULL, "pm_card_visa", NULL, 0};

	begin("R17 replayed ActivateServices and PurchaseCredits; reused key");
	snprintf(key, sizeof(key), "act-%d", (int)getpid());
	q = quote("dA", "dA", "iA", PTYPE(COMMUNITY), "cA", "cA_app2", 2, &k);
	q2 = quote("dA", "dA", "iA", PTYPE(COMMUNITY), "cA", "cA_app3", 2, &k2);
	CHECK(q && q2, "quotes");
	if (q && q2) {
		CHECK(activate("dA", q->quote_id, METHOD(STRIPE), "pm_card_visa", key, &o1, &ok1) ==
				      0 &&
			      o1 && o1->status == OSTATUS(SUCCEEDED) && o1->total == 1000,
		      "first call");
		CHECK(activate("dA", q->quote_id, METHOD(STRIPE), "pm_card_visa", key, &o2, &ok2) ==
				      0 &&
			      o2 && o1 && strcmp(o1->order_id, o2->order_id) == 0 &&
			      o2->status == o1->status && o2->total == o1->total,
		      "replay: the same order");
		CHECK(n_orders("dA", "cA", 0) == 1, "one order for the project, got %d",
		      n_orders("dA", "cA", 0));
		CHECK(failed_with(activate("dA", q2->quote_id, METHOD(STRIPE), "pm_card_visa", key,
					   &o3, &ok3),
				  ST_FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED"),
		      "same key, other request");
		CHECK(n_orders("dA", "cA", 0) == 1, "still one order");
	}
	spb_message_free(ok1);
	spb_message_free(ok2);
	spb_message_free(ok3);
	spb_message_free(k);
	spb_message_free(k2);
	/* a credit purchase replayed: the credits land once */
	snprintf(key, sizeof(key), "buy-%d", (int)getpid());
	b.idem = key;
	CHECK(purchase(&b, &o1, &ok1) == 0 && o1 && o1->status == OSTATUS(SUCCEEDED), "purchase");
	CHECK(purchase(&b, &o2, &ok2) == 0 && o2 && o1 && strcmp(o1->order_id, o2->order_id) == 0,
	      "replayed purchase: same order");
	CHECK(balance("dA") == 22, "17 + 5 once = 22, got %lld", (long long)balance("dA"));
	spb_message_free(ok1);
	spb_message_free(ok2);
	end();
}

int main(int argc, char **argv)
{
	char cmd[128];
	if (argc < 2) {
		fprintf(stderr, "usage: %s BILLINGD\n", argv[0]);
		return 2;
	}
	if (start_billingd(argv[1]) != 0 || seed() != 0) {
		fprintf(stderr, "cannot start or seed billingd\n");
		failures++;
	} else {
		s_refusals();
		s_buy_by_coupon();
		s_buy_by_card();
		s_declined();
		s_commercial_credits();
		s_community_refuses_credits();
		s_property_manager();
		s_installer_policy();
		s_idempotency();
	}
	spb_client_free(cli);
	if (billingd_pid > 0) {
		kill(billingd_pid, SIGTERM);
		while (waitpid(billingd_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (int i = 0; i < n_results; i++)
		printf("%s  %s\n", results[i].failed ? "FAIL" : "PASS", results[i].name);
	printf("%d checks, %d failed\n", checks, failures);
	if (failures) {
		snprintf(cmd, sizeof(cmd), "tail -20 %s/billingd.log >&2", workdir);
		if (system(cmd) != 0)
			fprintf(stderr, "no billingd log\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", workdir);
	return failures ? 1 : 0;
}
