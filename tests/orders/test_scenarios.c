/*
 * Scenario tests of the order engine: the real billingd (test clock) on
 * port 0 with a fresh data directory, driven through the SDK. Reference
 * data that the API cannot set yet (prices, items with past expiry dates)
 * is written straight into the store by this process: LMDB is safe across
 * processes. Every check is counted; the program never stops at the first
 * failure and exits 1 if any failed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spbilling.h"
#include "store.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define DAY (INT64_C(86400) * 1000000)
#define MONTH (30 * DAY)
#define CUTOVER (INT64_C(1748736000) * 1000000)

static int failures, checks;
static const char *scenario = "";
static int scenario_failures;

#define CHECK(cond, ...)                                                                      \
	do {                                                                                  \
		checks++;                                                                     \
		if (!(cond)) {                                                                \
			failures++;                                                           \
			scenario_failures++;                                                  \
			fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, scenario, \
				#cond);                                                       \
			fprintf(stderr, __VA_ARGS__);                                         \
			fprintf(stderr, " (last error: %s %s)\n",                             \
				spb_status_name(spb_error_last()->grpc_code),                 \
				spb_error_last()->reason);                                    \
		}                                                                             \
	} while (0)

static char dir[64], datadir[96];
static pid_t billingd_pid;
static spb_client *cli;
static store_env *env;
static int64_t T0; /* the frozen test clock */
static int64_t REAL0;

static struct {
	char name[96];
	int failed;
} results[32];
static int n_results;

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

static int64_t real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000000 + t->nanos / 1000 : 0;
}

/* ---- seeding through the store ---- */

typedef struct seed {
	int kind;
	void *rec;
} seed;

static int apply_seed(store_txn *w, void *arg)
{
	seed *s = arg;
	switch (s->kind) {
	case 0: return store_account_put(w, s->rec, 0);
	case 1: return store_project_put(w, s->rec, 0);
	case 2: return store_item_put(w, s->rec, 0);
	default: return store_price_put(w, s->rec);
	}
}

static void put(int kind, void *rec)
{
	seed s = {kind, rec};
	int rc = store_write_sync(env, apply_seed, &s);
	if (rc)
		fprintf(stderr, "seed failed: %s\n", store_strerror(rc));
}

static void account(const char *id, int role, const char *parent)
{
	store_account a = STORE_ACCOUNT_INIT;
	a.account_id = (char *)id;
	a.role = role;
	a.parent_id = (char *)parent;
	a.display_name = (char *)id;
	a.create_time = REAL0;
	put(0, &a);
}

static void project(const char *id, const char *inst, int type, int64_t created, int pms,
		    int free_apps)
{
	store_project p = STORE_PROJECT_INIT;
	p.project_id = (char *)id;
	p.installer_id = (char *)inst;
	p.type = type;
	p.created_at = created;
	p.pms_integrated = pms;
	p.free_additional_apps = free_apps;
	p.update_time = REAL0;
	put(1, &p);
}

static void item(const char *id, const char *proj, int stype, int active, int64_t expires)
{
	store_item it = STORE_ITEM_INIT;
	it.item_id = (char *)id;
	it.project_id = (char *)proj;
	it.service_type = stype;
	it.label = (char *)id;
	it.status = active ? STORE_ITEM_ACTIVE : STORE_ITEM_INACTIVE;
	it.expires_at = expires;
	it.create_time = REAL0;
	put(2, &it);
}

static void price(int ptype, int stype, int64_t amount, int64_t credits)
{
	store_price p = STORE_PRICE_INIT;
	p.project_type = ptype;
	p.service_type = stype;
	p.monthly_amount = amount;
	p.currency = "USD";
	p.monthly_credits = credits;
	p.update_time = REAL0;
	put(3, &p);
}

/* ---- calls ---- */

typedef struct qreq {
	int action;
	const char *payer, *installer;
	int ptype;
	const char *project;
	int stype; /* 0 = all */
	const char *item_id;
	int months;
	int64_t until;
	const char *coupon;
} qreq;

static Smartplus__Billing__V1__Quote *quote(const qreq *q,
					    Smartplus__Billing__V1__QuoteServicesResponse **keep)
{
	Smartplus__Billing__V1__QuoteServicesRequest r =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char *projects[1] = {(char *)q->project};
	char *items[1] = {(char *)q->item_id};
	Smartplus__Billing__V1__ServiceType st[1] = {q->stype};
	r.action = q->action;
	r.payer_id = (char *)(q->payer ? q->payer : "");
	r.installer_id = (char *)q->installer;
	r.project_type = q->ptype;
	r.n_project_ids = 1;
	r.project_ids = projects;
	if (q->stype) {
		r.n_service_types = 1;
		r.service_types = st;
	}
	if (q->item_id) {
		r.n_item_ids = 1;
		r.item_ids = items;
	}
	r.months = q->months;
	if (q->until) {
		until.seconds = q->until / 1000000;
		until.nanos = (int32_t)(q->until % 1000000) * 1000;
		r.renew_until = &until;
	}
	r.coupon_code = (char *)(q->coupon ? q->coupon : "");
	*keep = NULL;
	if (spb_billing_quote_services(cli, &r, keep, NULL) != 0)
		return NULL;
	return (*keep)->quote;
}

static Smartplus__Billing__V1__BillingInfo bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Ada Buyer",
	"ada@example.com",
	"Ada Ltd",
	"1 Main St",
	"US",
	"",
	"" /* region */};

/* Places an order from quote_id; returns the SDK code, *out the order. */
static int order(int action, const char *quote_id, int method, const char *pm,
		 Smartplus__Billing__V1__Order **out, void **keep)
{
	int rc;
	*keep = NULL;
	*out = NULL;
	if (action == V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE)) {
		Smartplus__Billing__V1__ActivateServicesRequest r =
			SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__ActivateServicesResponse *resp = NULL;
		r.quote_id = (char *)quote_id;
		r.payment_method = method;
		r.billing_info = &bill;
		r.terms_accepted = 1;
		r.stripe_payment_method_id = (char *)(pm ? pm : "");
		rc = spb_billing_activate_services(cli, &r, &resp, NULL);
		if (rc == 0) {
			*out = resp->order;
			*keep = resp;
		}
	} else {
		Smartplus__Billing__V1__RenewServicesRequest r =
			SMARTPLUS__BILLING__V1__RENEW_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__RenewServicesResponse *resp = NULL;
		r.quote_id = (char *)quote_id;
		r.payment_method = method;
		r.billing_info = &bill;
		r.terms_accepted = 1;
		r.stripe_payment_method_id = (char *)(pm ? pm : "");
		rc = spb_billing_renew_services(cli, &r, &resp, NULL);
		if (rc == 0) {
			*out = resp->order;
			*keep = resp;
		}
	}
	return rc;
}

static const Smartplus__Billing__V1__QuoteLine *line_of(const Smartplus__Billing__V1__Quote *q,
							const char *item_id)
{
	for (size_t i = 0; q && i < q->n_lines; i++)
		if (strcmp(q->lines[i]->item_id, item_id) == 0)
			return q->lines[i];
	return NULL;
}

/* Fetches one item through ListItems; *st and *exp out. */
static int item_state(const char *project_id, const char *item_id, int *st, int64_t *exp,
		      int *is_free)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
	int found = 0;
	r.project_id = (char *)project_id;
	if (spb_billing_list_items(cli, &r, &resp, NULL) != 0)
		return 0;
	for (size_t i = 0; i < resp->n_items; i++)
		if (strcmp(resp->items[i]->item_id, item_id) == 0) {
			*st = resp->items[i]->status;
			*exp = ts_us(resp->items[i]->expires_at);
			if (is_free)
				*is_free = resp->items[i]->free;
			found = 1;
		}
	spb_message_free(resp);
	return found;
}

#define ACT V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE)
#define REN V1(QUOTE_ACTION__QUOTE_ACTION_RENEW)
#define COMM V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY)
#define COMMERCIAL V1(PROJECT_TYPE__PROJECT_TYPE_COMMERCIAL)
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define PAYPAL V1(PAYMENT_METHOD__PAYMENT_METHOD_PAYPAL)
#define COUPON V1(PAYMENT_METHOD__PAYMENT_METHOD_COUPON)
#define CREDITS V1(PAYMENT_METHOD__PAYMENT_METHOD_CREDITS)
#define S_APP V1(SERVICE_TYPE__SERVICE_TYPE_APP)
#define S_ADD V1(SERVICE_TYPE__SERVICE_TYPE_ADDITIONAL_APP)
#define S_DOOR V1(SERVICE_TYPE__SERVICE_TYPE_DOOR)
#define S_INT V1(SERVICE_TYPE__SERVICE_TYPE_INTEGRATION)
#define I_ACTIVE V1(ITEM_STATUS__ITEM_STATUS_ACTIVE)
#define I_INACTIVE V1(ITEM_STATUS__ITEM_STATUS_INACTIVE)
#define O_SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define O_PENDING V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT)
#define O_CANCELED V1(ORDER_STATUS__ORDER_STATUS_CANCELED)
#define O_FAILED V1(ORDER_STATUS__ORDER_STATUS_FAILED)

static int reason_is(const char *r)
{
	return strcmp(spb_error_last()->reason, r) == 0;
}

/* ---- scenarios ---- */

static void s_community_free_apps(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c1", 0, NULL, 3, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;
	int st = 0, fr = 0;
	int64_t exp = 0;

	begin("R4 community activation with free additional apps");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		T0 = ts_us(qt->expire_time) - 15 * 60 * INT64_C(1000000);
		CHECK(qt->n_lines == 3, "3 lines, got %zu", qt->n_lines);
		CHECK((l = line_of(qt, "c1_app")) && l->amount == 1500 && !l->free, "app 500x3");
		CHECK((l = line_of(qt, "c1_add1")) && l->amount == 0 && l->free,
		      "oldest additional free");
		CHECK((l = line_of(qt, "c1_add2")) && l->amount == 600 && !l->free,
		      "second additional 200x3");
		CHECK(qt->subtotal == 2100 && qt->total == 2100 && strcmp(qt->currency, "USD") == 0,
		      "total 2100 USD, got %lld", (long long)qt->total);
		CHECK(qt->n_allowed_methods == 3, "STRIPE, PAYPAL, COUPON allowed");
		CHECK(strncmp(qt->quote_id, "quo_", 4) == 0, "quote id");
		CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) == 0, "activate");
		if (o) {
			CHECK(o->status == O_SUCCEEDED && o->sandbox && o->total == 2100,
			      "succeeded");
			CHECK(strncmp(o->order_id, "ord_", 4) == 0, "order id");
		}
		spb_message_free(ok);
		CHECK(item_state("c1", "c1_add1", &st, &exp, &fr) && st == I_ACTIVE && fr &&
			      exp == T0 + 3 * MONTH,
		      "free item activated to T0+90d");
		CHECK(item_state("c1", "c1_add2", &st, &exp, &fr) && st == I_ACTIVE && !fr &&
			      exp == T0 + 3 * MONTH,
		      "paid item activated to T0+90d");
	}
	spb_message_free(k);
	end();
}

static void s_commercial_free_door(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	qreq q = {ACT, "dist1", "inst1", COMMERCIAL, "m1", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;

	begin("R4 commercial free door (created 1s before cut-over: regular payment)");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		CHECK((l = line_of(qt, "m1_d1")) && l->free && l->amount == 0, "oldest door free");
		CHECK((l = line_of(qt, "m1_d2")) && !l->free && l->amount == 1000,
		      "second door 1000");
		CHECK(qt->total == 1000, "total 1000");
		CHECK(qt->payment_model == V1(PAYMENT_MODEL__PAYMENT_MODEL_REGULAR),
		      "regular model");
	}
	spb_message_free(k);
	end();
}

static void s_renewals(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {REN, "dist1", "inst1", COMM, "c2", 0, NULL, 2, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;
	int st;
	int64_t exp;

	begin("R8 renew expired from now, active from its expiry");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		CHECK((l = line_of(qt, "c2_expired")) &&
			      ts_us(l->new_expires_at) == T0 + 2 * MONTH && l->amount == 1000,
		      "expired item: now + 60d");
		CHECK((l = line_of(qt, "c2_active")) &&
			      ts_us(l->new_expires_at) == REAL0 + 20 * DAY + 2 * MONTH,
		      "active item: expiry + 60d");
		CHECK(qt->n_skipped == 1 &&
			      qt->skipped[0]->reason == V1(SKIP_REASON__SKIP_REASON_NOT_ACTIVATED),
		      "inactive item skipped NOT_ACTIVATED");
		CHECK(order(REN, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) == 0 && o &&
			      o->status == O_SUCCEEDED,
		      "renew");
		spb_message_free(ok);
		CHECK(item_state("c2", "c2_expired", &st, &exp, NULL) && st == I_ACTIVE &&
			      exp == T0 + 2 * MONTH,
		      "expired renewed");
		CHECK(item_state("c2", "c2_active", &st, &exp, NULL) &&
			      exp == REAL0 + 20 * DAY + 2 * MONTH,
		      "active renewed");
	}
	spb_message_free(k);
	end();
}

static void s_renew_until(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	int64_t x = REAL0 + 10 * DAY;
	qreq q = {REN, "dist1", "inst1", COMM, "c3", 0, NULL, 0, x + 45 * DAY + 1000000, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;

	begin("R3 renew-until proration (46 days, half-up) and ALREADY_COVERED");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		CHECK((l = line_of(qt, "c3_u1")) && l->days == 46 && l->amount == 767 &&
			      ts_us(l->new_expires_at) == x + 45 * DAY + 1000000,
		      "500 x 46 / 30 = 766.67 -> 767");
		CHECK(qt->n_skipped == 1 && qt->skipped[0]->reason ==
						    V1(SKIP_REASON__SKIP_REASON_ALREADY_COVERED),
		      "later expiry skipped ALREADY_COVERED");
		CHECK(qt->total == 767, "total 767");
	}
	spb_message_free(k);
	end();
}

static void s_integration(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	qreq q = {ACT, "dist1", "inst1", COMM, "c4", S_APP, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	const Smartplus__Billing__V1__QuoteLine *l;

	begin("R5 integration item forced in");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		CHECK((l = line_of(qt, "pms_c4")) && l->service_type == S_INT && l->amount == 300,
		      "integration line");
		CHECK(line_of(qt, "c4_app") != NULL, "selected app line");
		CHECK(line_of(qt, "c4_add") == NULL, "unselected type left out");
		CHECK(qt->total == 800, "total 800");
	}
	spb_message_free(k);
	end();
}

static void s_stale(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c5", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;

	begin("R6 quote stale after a price change");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		price(COMM, V1(SERVICE_TYPE__SERVICE_TYPE_PM_APP), 777, 7);
		CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) ==
				      SPB_EPRECONDITION &&
			      reason_is("QUOTE_STALE"),
		      "QUOTE_STALE");
		spb_message_free(ok);
	}
	spb_message_free(k);
	end();
}

/* R6: a quote is valid 15 minutes, and its id (a signed token) cannot be
 * altered. Runs last: it moves the test clock. */
static void s_quote_expiry_and_tampering(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__AdvanceClockRequest ar =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *aresp = NULL;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c5", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;

	begin("R6 quote id tampered -> refused; quote older than 15 minutes -> QUOTE_STALE");
	qt = quote(&q, &k);
	CHECK(qt != NULL && strncmp(qt->quote_id, "quo_", 4) == 0, "quote");
	if (qt) {
		char *forged = strdup(qt->quote_id);
		char *dot = strchr(forged, '.');
		/* Flip one character of the signed payload. */
		if (dot && dot[1])
			dot[1] = dot[1] == 'A' ? 'B' : 'A';
		CHECK(order(ACT, forged, STRIPE, "pm_card_visa", &o, &ok) == SPB_EPERM,
		      "a tampered quote id is refused (PERMISSION_DENIED)");
		spb_message_free(ok);
		free(forged);
		d.seconds = 15 * 60 + 1;
		ar.duration = &d;
		CHECK(spb_admin_advance_clock(cli, &ar, &aresp, NULL) == 0,
		      "advance the clock 15 min 1 s");
		spb_message_free(aresp);
		CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) ==
				      SPB_EPRECONDITION &&
			      reason_is("QUOTE_STALE"),
		      "the expired quote is QUOTE_STALE");
		spb_message_free(ok);
	}
	spb_message_free(k);
	end();
}

static void s_r2_boundary(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMMERCIAL, "m2", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;

	begin("R2 method not allowed (commercial created exactly at the cut-over)");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		CHECK(qt->payment_model == V1(PAYMENT_MODEL__PAYMENT_MODEL_CREDITS),
		      "credits model");
		CHECK(qt->n_allowed_methods == 1 && qt->allowed_methods[0] == CREDITS,
		      "CREDITS only");
		CHECK(qt->credits_total == 5 && qt->total == 0, "1 paid door x 5 credits");
		CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_visa", &o, &ok) ==
				      SPB_EPRECONDITION &&
			      reason_is("METHOD_NOT_ALLOWED") &&
			      strstr(spb_error_last()->message, "CREDITS"),
		      "STRIPE refused naming CREDITS: %s", spb_error_last()->message);
		spb_message_free(ok);
	}
	spb_message_free(k);
	end();
}

static void s_installer_may_not_pay(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	qreq q = {ACT, "inst1", "inst1", COMM, "c5", 0, NULL, 1, 0, NULL};

	begin("R11 installer who may not pay");
	CHECK(quote(&q, &k) == NULL && spb_error_last()->grpc_code == 7 &&
		      reason_is("PAYMENT_NOT_PERMITTED"),
	      "PERMISSION_DENIED PAYMENT_NOT_PERMITTED");
	spb_message_free(k);
	end();
}

static void s_declined(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	Smartplus__Billing__V1__ListOrdersRequest lr =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *lresp = NULL;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c6", 0, NULL, 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	int st = 0;
	int64_t exp = 1;

	begin("R10 declined sandbox card leaves nothing changed");
	qt = quote(&q, &k);
	CHECK(qt != NULL, "quote");
	if (qt) {
		CHECK(order(ACT, qt->quote_id, STRIPE, "pm_card_chargeDeclined", &o, &ok) ==
				      SPB_EPRECONDITION &&
			      reason_is("PAYMENT_DECLINED"),
		      "PAYMENT_DECLINED");
		spb_message_free(ok);
		CHECK(item_state("c6", "c6_app", &st, &exp, NULL) && st == I_INACTIVE && exp == 0,
		      "item untouched");
		lr.payer_id = "dist1";
		lr.project_id = "c6";
		CHECK(spb_billing_list_orders(cli, &lr, &lresp, NULL) == 0 &&
			      lresp->n_orders == 1 && lresp->orders[0]->status == O_FAILED &&
			      strcmp(lresp->orders[0]->failure_reason, "card_declined") == 0,
		      "order FAILED card_declined");
		spb_message_free(lresp);
	}
	spb_message_free(k);
	end();
}

static void s_pending_confirm_cancel(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *k;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	qreq q = {ACT, "dist1", "inst1", COMM, "c7", 0, "c7_a", 1, 0, NULL};
	Smartplus__Billing__V1__Quote *qt;
	char id[64] = "";

	begin("R9/R10 STRIPE pending -> ConfirmOrder; PAYPAL pending -> CancelOrder");
	qt = quote(&q, &k);
	if (qt && order(ACT, qt->quote_id, STRIPE, NULL, &o, &ok) == 0 && o) {
		CHECK(o->status == O_PENDING && o->stripe_client_secret[0],
		      "pending with client secret");
		snprintf(id, sizeof(id), "%s", o->order_id);
	} else {
		CHECK(0, "stripe order");
	}
	spb_message_free(ok);
	spb_message_free(k);
	{
		Smartplus__Billing__V1__ConfirmOrderRequest cr =
			SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__ConfirmOrderResponse *cresp = NULL;
		int st;
		int64_t exp;
		cr.order_id = id;
		CHECK(spb_billing_confirm_order(cli, &cr, &cresp, NULL) == 0 &&
			      cresp->order->status == O_SUCCEEDED,
		      "confirmed");
		spb_message_free(cresp);
		CHECK(item_state("c7", "c7_a", &st, &exp, NULL) && st == I_ACTIVE &&
			      exp == T0 + MONTH,
		      "activated on confirm");
	}
	q.item_id = "c7_b";
	qt = quote(&q, &k);
	if (qt && order(ACT, qt->quote_id, PAYPAL, NULL, &o, &ok) == 0 && o) {
		CHECK(o->status == O_PENDING && o->paypal_approval_url[0],
		      "pending with approval url");
		snprintf(id, sizeof(id), "%s", o->order_id);
	} else {
		CHECK(0, "paypal order");
	}
	spb_message_free(ok);
	spb_message_free(k);
	{
		Smartplus__Billing__V1__CancelOrderRequest cr =
			SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
		Smartplus__Billing__V1__CancelOrderResponse *cresp = NULL;
		cr.order_id = id;
		CHECK(spb_billing_cancel_order(cli, &cr, &cresp, NULL) == 0 &&
			      cresp->order->status == O_CANCELED,
		      "canceled");
		spb_message_free(cresp);
		cresp = NULL;
		CHECK(spb_billing_cancel_order(cli, &cr, &cresp, NULL) == SPB_EPRECONDITION &&
			      reason_is("ORDER_STATE"),
		      "second cancel ORDER_STATE");
		spb_message_free(cresp);
	}
	end();
}

/* ---- coupon race ---- */

#define RACERS 8
static char race_quotes[RACERS][4096];
static int race_rc[RACERS], race_status[RACERS];
static char race_reason[RACERS][64];

static void *racer(void *arg)
{
	int i = (int)(intptr_t)arg;
	Smartplus__Billing__V1__Order *o;
	void *ok;
	race_rc[i] = order(ACT, race_quotes[i], COUPON, NULL, &o, &ok);
	race_status[i] = o ? o->status : 0;
	snprintf(race_reason[i], sizeof(race_reason[i]), "%s", spb_error_last()->reason);
	spb_message_free(ok);
	return NULL;
}

static void s_coupon_race(void)
{
	Smartplus__Billing__V1__CreateCouponRequest cr =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
	Smartplus__Billing__V1__Coupon c = SMARTPLUS__BILLING__V1__COUPON__INIT;
	Smartplus__Billing__V1__CreateCouponResponse *cresp = NULL;
	Smartplus__Billing__V1__ListCouponsRequest lr =
		SMARTPLUS__BILLING__V1__LIST_COUPONS_REQUEST__INIT;
	Smartplus__Billing__V1__ListCouponsResponse *lresp = NULL;
	pthread_t t[RACERS];
	int wins = 0, losers = 0;

	begin("R16 coupon: 8 concurrent payers, max_redemptions 1, exactly one wins");
	c.code = "LAST1";
	c.percent_off = 100;
	c.max_redemptions = 1;
	cr.coupon = &c;
	CHECK(spb_admin_create_coupon(cli, &cr, &cresp, NULL) == 0, "create coupon");
	spb_message_free(cresp);
	for (int i = 0; i < RACERS; i++) {
		char payer[16], inst[16], proj[16];
		Smartplus__Billing__V1__QuoteServicesResponse *k;
		Smartplus__Billing__V1__Quote *qt;
		qreq q = {ACT, payer, inst, COMM, proj, 0, NULL, 1, 0, "LAST1"};
		snprintf(payer, sizeof(payer), "rd%d", i);
		snprintf(inst, sizeof(inst), "ri%d", i);
		snprintf(proj, sizeof(proj), "rp%d", i);
		qt = quote(&q, &k);
		CHECK(qt && qt->total == 0 && qt->discount == 500 &&
			      strcmp(qt->coupon_code, "LAST1") == 0,
		      "quote %d with coupon", i);
		CHECK(qt && qt->n_available_coupons >= 1, "coupon listed as available");
		snprintf(race_quotes[i], sizeof(race_quotes[i]), "%s", qt ? qt->quote_id : "quo_x");
		spb_message_free(k);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < RACERS; i++) {
		if (race_rc[i] == 0 && race_status[i] == O_SUCCEEDED)
			wins++;
		else if (race_rc[i] == SPB_EPRECONDITION &&
			 strcmp(race_reason[i], "COUPON_NOT_APPLICABLE") == 0)
			losers++;
	}
	CHECK(wins == 1 && losers == RACERS - 1, "wins %d losers %d", wins, losers);
	lr.include_disabled = 1;
	CHECK(spb_admin_list_coupons(cli, &lr, &lresp, NULL) == 0 && lresp->n_coupons == 1 &&
		      lresp->coupons[0]->redemptions == 1 && lresp->coupons[0]->reserved == 0,
	      "redemptions 1, reserved 0");
	spb_message_free(lresp);
	end();
}

/* R17 (replayed and reused idempotency keys) is in test_credits_orders.c. */

/* ---- setup ---- */

static void seed_world(void)
{
	int64_t far = REAL0 + 100 * DAY;
	account("dist1", V1(ROLE__ROLE_DISTRIBUTOR), "vendor");
	account("inst1", V1(ROLE__ROLE_INSTALLER), "dist1");
	price(COMM, S_APP, 500, 5);
	price(COMM, S_ADD, 200, 2);
	price(COMM, S_INT, 300, 3);
	price(COMMERCIAL, S_DOOR, 1000, 5);
	project("c1", "inst1", COMM, REAL0 - 100 * DAY, 0, 1);
	item("c1_app", "c1", S_APP, 0, 0);
	item("c1_add1", "c1", S_ADD, 0, 0);
	item("c1_add2", "c1", S_ADD, 0, 0);
	project("m1", "inst1", COMMERCIAL, CUTOVER - 1000000, 0, 0);
	item("m1_d1", "m1", S_DOOR, 0, 0);
	item("m1_d2", "m1", S_DOOR, 0, 0);
	project("m2", "inst1", COMMERCIAL, CUTOVER, 0, 0);
	item("m2_d1", "m2", S_DOOR, 0, 0);
	item("m2_d2", "m2", S_DOOR, 0, 0);
	project("c2", "inst1", COMM, REAL0 - 100 * DAY, 0, 0);
	item("c2_expired", "c2", S_APP, 1, REAL0 - 10 * DAY);
	item("c2_active", "c2", S_APP, 1, REAL0 + 20 * DAY);
	item("c2_new", "c2", S_APP, 0, 0);
	project("c3", "inst1", COMM, REAL0 - 100 * DAY, 0, 0);
	item("c3_u1", "c3", S_APP, 1, REAL0 + 10 * DAY);
	item("c3_u2", "c3", S_APP, 1, far);
	project("c4", "inst1", COMM, REAL0 - 100 * DAY, 1, 0);
	item("pms_c4", "c4", S_INT, 0, 0);
	item("c4_app", "c4", S_APP, 0, 0);
	item("c4_add", "c4", S_ADD, 0, 0);
	project("c5", "inst1", COMM, REAL0 - 100 * DAY, 0, 0);
	item("c5_app", "c5", S_APP, 0, 0);
	project("c6", "inst1", COMM, REAL0 - 100 * DAY, 0, 0);
	item("c6_app", "c6", S_APP, 0, 0);
	project("c7", "inst1", COMM, REAL0 - 100 * DAY, 0, 0);
	item("c7_a", "c7", S_APP, 0, 0);
	item("c7_b", "c7", S_APP, 0, 0);
	for (int i = 0; i < RACERS; i++) {
		char d[16], in[16], p[16], it[16];
		snprintf(d, sizeof(d), "rd%d", i);
		snprintf(in, sizeof(in), "ri%d", i);
		snprintf(p, sizeof(p), "rp%d", i);
		snprintf(it, sizeof(it), "rp%d_app", i);
		account(d, V1(ROLE__ROLE_DISTRIBUTOR), "vendor");
		account(in, V1(ROLE__ROLE_INSTALLER), d);
		project(p, in, COMM, REAL0 - 100 * DAY, 0, 0);
		item(it, p, S_APP, 0, 0);
	}
}

static int start_billingd(const char *bin)
{
	char port_file[128], key_file[128], target[64], key[256] = "";
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;
	store_options so = STORE_OPTIONS_INIT;
	FILE *f;
	int port = 0;

	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	snprintf(key_file, sizeof(key_file), "%s/admin.key", datadir);
	billingd_pid = fork();
	if (billingd_pid == 0) {
		freopen("/dev/null", "w", stdout);
		execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", port_file, "--data-dir",
		      datadir, "--test-clock", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && !port; i++) {
		usleep(50000);
		if ((f = fopen(port_file, "r"))) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
	}
	if (!port || !(f = fopen(key_file, "r")))
		return -1;
	if (!fgets(key, sizeof(key), f))
		key[0] = 0;
	fclose(f);
	key[strcspn(key, "\r\n")] = 0;
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	opts.api_key = key;
	cli = spb_client_new(target, &opts);
	so.path = datadir;
	if (!cli || store_open(&so, &env, NULL, 0) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	char cmd[256];
	if (argc < 2) {
		fprintf(stderr, "usage: %s BILLINGD\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "/tmp/spb-orders.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	REAL0 = real_now() / 1000000 * 1000000;
	if (start_billingd(argv[1]) != 0) {
		fprintf(stderr, "cannot start billingd\n");
		failures++;
		goto out;
	}
	seed_world();
	s_community_free_apps();
	s_commercial_free_door();
	s_renewals();
	s_renew_until();
	s_integration();
	s_stale();
	s_r2_boundary();
	s_installer_may_not_pay();
	s_declined();
	s_pending_confirm_cancel();
	s_coupon_race();
	s_quote_expiry_and_tampering();
out:
	spb_client_free(cli);
	store_close(env);
	if (billingd_pid > 0) {
		kill(billingd_pid, SIGTERM);
		waitpid(billingd_pid, NULL, 0);
	}
	for (int i = 0; i < n_results; i++)
		printf("%s  %s\n",
		       results[i].failed < 0 ? "SKIP"
		       : results[i].failed   ? "FAIL"
					     : "PASS",
		       results[i].name);
	printf("%d checks, %d failed\n", checks, failures);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return failures ? 1 : 0;
}
