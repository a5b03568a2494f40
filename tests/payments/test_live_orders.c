/*
 * Live payments end to end: the real billingd (with the reconciler, see
 * the real billingd) started with --payments live against tests/fakes/provider.js,
 * driven through the SDK. Happy paths for Stripe and PayPal; each fault
 * (decline, 500, 429, slow, a connection dropped after the charge followed
 * by kill -9 and a restart); 200 concurrent checkouts with 20% injected
 * faults, checked against the fake's charges. Reference data is seeded
 * straight into the store (LMDB is safe across processes). Every check is
 * counted; the program never stops at the first failure and exits 1 if any
 * failed. Loopback only.
 *
 *   test_live_orders BILLINGD NODE PROVIDER_JS
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

#include <curl/curl.h>
#include <jansson.h>

#include "spbilling.h"
#include "store.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define PAYPAL V1(PAYMENT_METHOD__PAYMENT_METHOD_PAYPAL)
#define O_PENDING V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT)
#define O_PROCESSING V1(ORDER_STATUS__ORDER_STATUS_PROCESSING)
#define O_SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define O_FAILED V1(ORDER_STATUS__ORDER_STATUS_FAILED)
#define O_TIMED_OUT V1(ORDER_STATUS__ORDER_STATUS_TIMED_OUT)
#define O_CANCELED V1(ORDER_STATUS__ORDER_STATUS_CANCELED)
#define COMM V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY)
#define S_APP V1(SERVICE_TYPE__SERVICE_TYPE_APP)
#define G_OK 0
#define G_FAILED_PRECONDITION 9
#define G_UNAVAILABLE 14
#define DAY (INT64_C(86400) * 1000000)
#define PRICE 500 /* USD cents per month */
#define N_CHECKOUTS 200
#define N_THREADS 16
#define PROVIDER_TIMEOUT_MS "1000"

static int failures, checks;
static const char *scenario = "";

#define CHECK(cond, ...)                                                                      \
	do {                                                                                  \
		__sync_fetch_and_add(&checks, 1);                                             \
		if (!(cond)) {                                                                \
			__sync_fetch_and_add(&failures, 1);                                   \
			fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, scenario, \
				#cond);                                                       \
			fprintf(stderr, __VA_ARGS__);                                         \
			fprintf(stderr, "\n");                                                \
		}                                                                             \
	} while (0)

static char dir[64], datadir[96];
static const char *billingd_bin, *node_bin, *fake_js;
static pid_t billingd_pid, fake_pid;
static char fake_base[64];
static spb_client *cli;
static store_env *env;
static int64_t REAL0;

static int64_t real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000000 + t->nanos / 1000 : 0;
}

/* ---- the fake provider ---- */

typedef struct buf {
	char *p;
	size_t n;
} buf;

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
	buf *b = arg;
	size_t add = sz * nm;
	char *np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, d, add);
	b->n += add;
	b->p[b->n] = 0;
	return add;
}

/* One request to the fake; the parsed JSON answer (or NULL). */
static json_t *fake_call(const char *method, const char *path, const char *body, const char *auth)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[256], hdr[128];
	buf b = {0};
	json_t *j = NULL;
	json_error_t err;

	if (!c)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", fake_base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (body) {
		h = curl_slist_append(h, auth ? "Content-Type: application/x-www-form-urlencoded"
					      : "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", auth);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) == CURLE_OK && b.p)
		j = json_loads(b.p, 0, &err);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(b.p);
	return j;
}

static void control(const char *json)
{
	json_decref(fake_call("POST", "/_control", json, NULL));
}

static void approve(const char *paypal_order_id)
{
	char body[200];
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", paypal_order_id);
	control(body);
}

/* Charges the fake counted for one idempotency key / request id. */
static int charges(const char *key)
{
	json_t *s = fake_call("GET", "/_stats", NULL, NULL);
	int n = (int)json_integer_value(json_object_get(json_object_get(s, "charges"), key));
	json_decref(s);
	return n;
}

/* Waits (<= 10 s) for a port file; the port or 0. */
static int read_port(const char *path)
{
	FILE *f;
	int port = 0;
	for (int i = 0; i < 200 && !port; i++) {
		sleep_ms(50);
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
	}
	return port;
}

static int start_fake(void)
{
	char pf[128];
	int port;
	snprintf(pf, sizeof(pf), "%s/fake.port", dir);
	fake_pid = fork();
	if (fake_pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(node_bin, node_bin, fake_js, "--port-file", pf, (char *)NULL);
		_exit(127);
	}
	port = read_port(pf);
	snprintf(fake_base, sizeof(fake_base), "http://127.0.0.1:%d", port);
	return port ? 0 : -1;
}

/* ---- billingd ---- */

static int start_billingd(long reconcile_ms)
{
	char port_file[128], key_file[128], target[64], key[256] = "", ms[32], log_file[128];
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;
	FILE *f;
	int port;

	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	snprintf(key_file, sizeof(key_file), "%s/admin.key", datadir);
	snprintf(log_file, sizeof(log_file), "%s/billingd.log", dir);
	snprintf(ms, sizeof(ms), "%ld", reconcile_ms);
	unlink(port_file);
	billingd_pid = fork();
	if (billingd_pid == 0) {
		if (!freopen(log_file, "a", stdout) || !freopen(log_file, "a", stderr))
			_exit(127);
		setenv("STRIPE_SECRET_KEY", "sk_test_x", 1);
		setenv("PAYPAL_CLIENT_ID", "client_x", 1);
		setenv("PAYPAL_CLIENT_SECRET", "secret_x", 1);
		execl(billingd_bin, billingd_bin, "--listen", "127.0.0.1:0", "--port-file",
		      port_file, "--data-dir", datadir, "--payments", "live", "--stripe-url",
		      fake_base, "--paypal-url", fake_base, "--provider-timeout-ms",
		      PROVIDER_TIMEOUT_MS, "--reconcile-interval-ms", ms, (char *)NULL);
		_exit(127);
	}
	port = read_port(port_file);
	if (!port || !(f = fopen(key_file, "r")))
		return -1;
	if (!fgets(key, sizeof(key), f))
		key[0] = 0;
	fclose(f);
	key[strcspn(key, "\r\n")] = 0;
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	opts.api_key = key;
	opts.max_retries = 0; /* the test sees every UNAVAILABLE */
	spb_client_free(cli);
	cli = spb_client_new(target, &opts);
	if (!cli)
		return -1;
	if (!env) {
		store_options so = STORE_OPTIONS_INIT;
		so.path = datadir;
		if (store_open(&so, &env, NULL, 0) != 0)
			return -1;
	}
	return 0;
}

static void stop_billingd(int sig)
{
	if (billingd_pid > 0) {
		kill(billingd_pid, sig);
		waitpid(billingd_pid, NULL, 0);
	}
	billingd_pid = 0;
}

/* ---- seeding ---- */

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
	CHECK(rc == 0, "seed: %s", store_strerror(rc));
}

static void seed_world(void)
{
	store_account a = STORE_ACCOUNT_INIT;
	store_price p = STORE_PRICE_INIT;

	a.account_id = "d1";
	a.role = V1(ROLE__ROLE_DISTRIBUTOR);
	a.parent_id = "vendor";
	a.display_name = "d1";
	a.create_time = REAL0;
	put(0, &a);
	a.account_id = "i1";
	a.role = V1(ROLE__ROLE_INSTALLER);
	a.parent_id = "d1";
	a.display_name = "i1";
	put(0, &a);
	p.project_type = COMM;
	p.service_type = S_APP;
	p.monthly_amount = PRICE;
	p.currency = "USD";
	p.monthly_credits = 5;
	p.update_time = REAL0;
	put(3, &p);
}

/* A project with one inactive APP item "<project>_app". */
static void project(const char *id)
{
	store_project p = STORE_PROJECT_INIT;
	store_item it = STORE_ITEM_INIT;
	char item_id[80];

	p.project_id = (char *)id;
	p.installer_id = "i1";
	p.type = COMM;
	p.created_at = REAL0 - 100 * DAY;
	p.update_time = REAL0;
	put(1, &p);
	snprintf(item_id, sizeof(item_id), "%s_app", id);
	it.item_id = item_id;
	it.project_id = (char *)id;
	it.service_type = S_APP;
	it.label = item_id;
	it.status = STORE_ITEM_INACTIVE;
	it.create_time = REAL0;
	put(2, &it);
}

/* ---- calls ---- */

static Smartplus__Billing__V1__BillingInfo bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Ada Buyer",
	"ada@example.com",
	"Ada Ltd",
	"1 Main St",
	"US",
	"",
	"" /* region */};

/* The outcome of a checkout call. */
typedef struct outcome {
	int code; /* gRPC */
	char reason[64];
	char message[256];
	Smartplus__Billing__V1__Order *order; /* NULL unless OK */
	void *keep;
} outcome;

static void outcome_free(outcome *o)
{
	spb_message_free(o->keep);
	memset(o, 0, sizeof(*o));
}

static void last_error(outcome *o)
{
	const spb_error *e = spb_error_last();
	o->code = e->grpc_code;
	snprintf(o->reason, sizeof(o->reason), "%s", e->reason);
	snprintf(o->message, sizeof(o->message), "%s", e->message);
}

/* Quote (1 month of the project's app) and activate with method / pm. */
static int checkout(const char *project_id, int method, const char *pm, outcome *out)
{
	Smartplus__Billing__V1__QuoteServicesRequest q =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__ActivateServicesRequest a =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *ar = NULL;
	char *projects[1] = {(char *)project_id};

	memset(out, 0, sizeof(*out));
	q.action = V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE);
	q.payer_id = "d1";
	q.installer_id = "i1";
	q.project_type = COMM;
	q.n_project_ids = 1;
	q.project_ids = projects;
	q.months = 1;
	q.coupon_code = "";
	if (spb_billing_quote_services(cli, &q, &qr, NULL) != 0) {
		last_error(out);
		snprintf(out->reason, sizeof(out->reason), "QUOTE_FAILED");
		return out->code ? out->code : -1;
	}
	a.quote_id = qr->quote->quote_id;
	a.payment_method = method;
	a.billing_info = &bill;
	a.terms_accepted = 1;
	a.stripe_payment_method_id = (char *)(pm ? pm : "");
	if (spb_billing_activate_services(cli, &a, &ar, NULL) == 0) {
		out->order = ar->order;
		out->keep = ar;
	} else {
		last_error(out);
	}
	spb_message_free(qr);
	return out->code;
}

static int confirm(const char *order_id, outcome *out)
{
	Smartplus__Billing__V1__ConfirmOrderRequest r =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *resp = NULL;
	memset(out, 0, sizeof(*out));
	r.order_id = (char *)order_id;
	if (spb_billing_confirm_order(cli, &r, &resp, NULL) == 0) {
		out->order = resp->order;
		out->keep = resp;
	} else {
		last_error(out);
	}
	return out->code;
}

/* The project's only (newest) order, through ListOrders; NULL if none.
 * *n: how many orders the project has. Free with spb_message_free(*keep). */
static Smartplus__Billing__V1__Order *project_order(const char *project_id, size_t *n, void **keep)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *resp = NULL;
	*keep = NULL;
	*n = 0;
	r.payer_id = "d1";
	r.project_id = (char *)project_id;
	r.page_size = 1000;
	if (spb_billing_list_orders(cli, &r, &resp, NULL) != 0)
		return NULL;
	*keep = resp;
	*n = resp->n_orders;
	return resp->n_orders ? resp->orders[0] : NULL;
}

/* The order's status (0 if it cannot be read); ids copied when asked. */
static int order_status(const char *order_id, char *paypal_id, size_t cap, int64_t *total)
{
	Smartplus__Billing__V1__GetOrderRequest r = SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__GetOrderResponse *resp = NULL;
	int st;
	r.order_id = (char *)order_id;
	if (spb_billing_get_order(cli, &r, &resp, NULL) != 0)
		return 0;
	st = resp->order->status;
	if (paypal_id)
		snprintf(paypal_id, cap, "%s", resp->order->paypal_order_id);
	if (total)
		*total = resp->order->total;
	spb_message_free(resp);
	return st;
}

/* Waits (bounded) for the order to leave PROCESSING / PENDING_PAYMENT. */
static int wait_settled(const char *order_id, long max_ms)
{
	int64_t end = mono_ms() + max_ms;
	int st = 0;
	do {
		st = order_status(order_id, NULL, 0, NULL);
		if (st && st != O_PROCESSING && st != O_PENDING)
			return st;
		sleep_ms(200);
	} while (mono_ms() < end);
	return st;
}

/* The item's status and expiry through ListItems. */
static int item_state(const char *project_id, int *st, int64_t *exp)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
	int found = 0;
	r.project_id = (char *)project_id;
	if (spb_billing_list_items(cli, &r, &resp, NULL) != 0)
		return 0;
	for (size_t i = 0; i < resp->n_items; i++) {
		*st = resp->items[i]->status;
		*exp = ts_us(resp->items[i]->expires_at);
		found = 1;
	}
	spb_message_free(resp);
	return found;
}

/* The item was activated exactly once: ACTIVE, about one month from now. */
static int applied_once(const char *project_id)
{
	int st = 0;
	int64_t exp = 0, now = real_now();
	if (!item_state(project_id, &st, &exp))
		return 0;
	return st == V1(ITEM_STATUS__ITEM_STATUS_ACTIVE) && exp > now + 27 * DAY &&
	       exp < now + 32 * DAY;
}

/* ---- scenarios ---- */

static void s_stripe_happy(void)
{
	outcome o;
	scenario = "Stripe saved card: SUCCEEDED at once, one charge";
	project("p_stripe");
	CHECK(checkout("p_stripe", STRIPE, "pm_card_visa", &o) == G_OK, "activate: %s %s", o.reason,
	      o.message);
	if (o.order) {
		CHECK(o.order->status == O_SUCCEEDED, "status %d", o.order->status);
		CHECK(!o.order->sandbox, "a live order is not marked sandbox");
		CHECK(strncmp(o.order->stripe_payment_intent_id, "pi_", 3) == 0, "intent id '%s'",
		      o.order->stripe_payment_intent_id);
		CHECK(charges(o.order->order_id) == 1, "one charge under the order id");
	}
	CHECK(applied_once("p_stripe"), "item activated once");
	outcome_free(&o);
}

static void s_stripe_client_confirms(void)
{
	outcome o, c;
	char path[200];
	json_t *j;
	scenario = "Stripe without a payment method: client secret, client confirms, ConfirmOrder";
	project("p_stripe_cs");
	CHECK(checkout("p_stripe_cs", STRIPE, "", &o) == G_OK, "activate: %s %s", o.reason,
	      o.message);
	if (!o.order) {
		outcome_free(&o);
		return;
	}
	CHECK(o.order->status == O_PENDING, "PENDING_PAYMENT, got %d", o.order->status);
	CHECK(strstr(o.order->stripe_client_secret, "_secret_") != NULL, "client secret");
	/* the buyer's browser confirms the intent with Stripe.js */
	snprintf(path, sizeof(path), "/v1/payment_intents/%s/confirm",
		 o.order->stripe_payment_intent_id);
	j = fake_call("POST", path, "payment_method=pm_card_visa", "sk_test_x");
	CHECK(j && strcmp(json_string_value(json_object_get(j, "status")) ?: "", "succeeded") == 0,
	      "intent confirmed at the fake");
	json_decref(j);
	CHECK(confirm(o.order->order_id, &c) == G_OK && c.order && c.order->status == O_SUCCEEDED,
	      "ConfirmOrder: SUCCEEDED (%s %s)", c.reason, c.message);
	CHECK(applied_once("p_stripe_cs"), "item activated once");
	outcome_free(&c);
	outcome_free(&o);
}

static void s_paypal_happy(void)
{
	outcome o, c;
	char key[128];
	scenario = "PayPal: approval link, approve, ConfirmOrder captures once";
	project("p_paypal");
	CHECK(checkout("p_paypal", PAYPAL, NULL, &o) == G_OK, "activate: %s %s", o.reason,
	      o.message);
	if (!o.order) {
		outcome_free(&o);
		return;
	}
	CHECK(o.order->status == O_PENDING, "PENDING_PAYMENT, got %d", o.order->status);
	CHECK(o.order->paypal_order_id[0] &&
		      strstr(o.order->paypal_approval_url, o.order->paypal_order_id),
	      "approval link '%s'", o.order->paypal_approval_url);
	CHECK(confirm(o.order->order_id, &c) == G_OK && c.order && c.order->status == O_PENDING,
	      "ConfirmOrder before approval: still PENDING_PAYMENT");
	outcome_free(&c);
	approve(o.order->paypal_order_id);
	CHECK(confirm(o.order->order_id, &c) == G_OK && c.order && c.order->status == O_SUCCEEDED,
	      "ConfirmOrder after approval: SUCCEEDED (%s %s)", c.reason, c.message);
	outcome_free(&c);
	CHECK(confirm(o.order->order_id, &c) == G_OK && c.order && c.order->status == O_SUCCEEDED,
	      "ConfirmOrder again: SUCCEEDED (idempotent)");
	outcome_free(&c);
	snprintf(key, sizeof(key), "%s-capture", o.order->order_id);
	CHECK(charges(key) == 1, "one capture, got %d", charges(key));
	CHECK(applied_once("p_paypal"), "item activated once");
	outcome_free(&o);
}

static void s_decline(void)
{
	outcome o;
	size_t n;
	void *k;
	Smartplus__Billing__V1__Order *ord;
	scenario = "decline: FAILED_PRECONDITION with the decline code, order FAILED";
	project("p_decline");
	control("{\"fault\":\"decline\",\"times\":1}");
	CHECK(checkout("p_decline", STRIPE, "pm_card_visa", &o) == G_FAILED_PRECONDITION,
	      "code %d %s", o.code, o.message);
	CHECK(strcmp(o.reason, "PAYMENT_DECLINED") == 0, "reason '%s'", o.reason);
	CHECK(strstr(o.message, "generic_decline") != NULL, "decline code in the message: '%s'",
	      o.message);
	ord = project_order("p_decline", &n, &k);
	CHECK(ord && n == 1 && ord->status == O_FAILED &&
		      strcmp(ord->failure_reason, "generic_decline") == 0,
	      "order FAILED with generic_decline");
	if (ord)
		CHECK(charges(ord->order_id) == 0, "nothing charged");
	CHECK(!applied_once("p_decline"), "nothing applied");
	spb_message_free(k);
	outcome_free(&o);
	control("{\"fault\":\"none\"}");
}

/* 500 / 429: UNAVAILABLE and PROCESSING while the fault lasts (the
 * reconciler meets it too), SUCCEEDED once it is cleared, one charge. */
static void s_outage(const char *fault, const char *project_id)
{
	outcome o;
	size_t n;
	void *k;
	char body[128], id[64] = "";
	Smartplus__Billing__V1__Order *ord;
	int st;

	project(project_id);
	snprintf(body, sizeof(body), "{\"fault\":\"%s\"}", fault);
	control(body);
	CHECK(checkout(project_id, STRIPE, "pm_card_visa", &o) == G_UNAVAILABLE, "code %d %s",
	      o.code, o.message);
	CHECK(strcmp(o.reason, "PROVIDER_UNAVAILABLE") == 0, "reason '%s'", o.reason);
	ord = project_order(project_id, &n, &k);
	CHECK(ord && n == 1 && ord->status == O_PROCESSING, "order PROCESSING");
	if (ord)
		snprintf(id, sizeof(id), "%s", ord->order_id);
	spb_message_free(k);
	sleep_ms(2500); /* two reconciler rounds meet the fault */
	CHECK(order_status(id, NULL, 0, NULL) == O_PROCESSING,
	      "still PROCESSING while the provider fails");
	CHECK(charges(id) == 0, "nothing charged yet");
	control("{\"fault\":\"none\"}");
	st = wait_settled(id, 10000);
	CHECK(st == O_SUCCEEDED, "settled SUCCEEDED by the reconciler, got %d", st);
	CHECK(charges(id) == 1, "exactly one charge, got %d", charges(id));
	CHECK(applied_once(project_id), "item activated once");
	outcome_free(&o);
}

typedef struct bg_checkout {
	const char *project;
	outcome o;
} bg_checkout;

static void *bg_run(void *arg)
{
	bg_checkout *b = arg;
	checkout(b->project, STRIPE, "pm_card_visa", &b->o);
	return NULL;
}

static void s_slow(void)
{
	bg_checkout b = {.project = "p_slow"};
	pthread_t t;
	outcome q;
	size_t n;
	void *k;
	char id[64] = "";
	Smartplus__Billing__V1__Order *ord;
	int64_t t0, worst = 0;
	int st;

	scenario = "slow provider: UNAVAILABLE after the timeout, quotes and reads not slowed, one "
		   "charge";
	project("p_slow");
	project("p_slow_other");
	control("{\"fault\":\"slow\",\"slow_ms\":2500,\"times\":1}");
	if (pthread_create(&t, NULL, bg_run, &b) != 0) {
		CHECK(0, "thread");
		return;
	}
	sleep_ms(300); /* the payment call is now waiting on the provider */
	for (int i = 0; i < 5; i++) {
		Smartplus__Billing__V1__ListItemsRequest r =
			SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
		Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
		Smartplus__Billing__V1__QuoteServicesRequest qq =
			SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
		char *projects[1] = {"p_slow_other"};
		t0 = mono_ms();
		r.project_id = "p_slow_other";
		CHECK(spb_billing_list_items(cli, &r, &resp, NULL) == 0, "ListItems");
		spb_message_free(resp);
		qq.action = V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE);
		qq.payer_id = "d1";
		qq.installer_id = "i1";
		qq.project_type = COMM;
		qq.n_project_ids = 1;
		qq.project_ids = projects;
		qq.months = 1;
		qq.coupon_code = "";
		CHECK(spb_billing_quote_services(cli, &qq, &qr, NULL) == 0, "QuoteServices");
		spb_message_free(qr);
		if (mono_ms() - t0 > worst)
			worst = mono_ms() - t0;
	}
	memset(&q, 0, sizeof(q));
	CHECK(worst < 500, "a quote + a read took %lld ms while the provider was slow",
	      (long long)worst);
	pthread_join(t, NULL);
	CHECK(b.o.code == G_UNAVAILABLE, "slow call: UNAVAILABLE, got %d %s", b.o.code,
	      b.o.message);
	ord = project_order("p_slow", &n, &k);
	CHECK(ord && n == 1 && (ord->status == O_PROCESSING || ord->status == O_SUCCEEDED),
	      "order PROCESSING (or already reconciled)");
	if (ord)
		snprintf(id, sizeof(id), "%s", ord->order_id);
	spb_message_free(k);
	st = wait_settled(id, 10000);
	CHECK(st == O_SUCCEEDED, "settled SUCCEEDED by the reconciler, got %d", st);
	CHECK(charges(id) == 1, "the slow charge is the only one, got %d", charges(id));
	CHECK(applied_once("p_slow"), "item activated once");
	outcome_free(&b.o);
	control("{\"fault\":\"none\",\"slow_ms\":3000}");
}

static void s_crash_after_charge(void)
{
	outcome o;
	size_t n;
	void *k;
	char id[64] = "";
	Smartplus__Billing__V1__Order *ord;
	int st;

	scenario = "connection dropped after the charge, kill -9, restart: one charge, one applied "
		   "order";
	/* no periodic rounds: only the start-up round may settle it */
	stop_billingd(SIGTERM);
	CHECK(start_billingd(3600000) == 0, "restart billingd");
	project("p_crash");
	control("{\"fault\":\"drop_after_charge\",\"times\":1}");
	CHECK(checkout("p_crash", STRIPE, "pm_card_visa", &o) == G_UNAVAILABLE, "code %d %s",
	      o.code, o.message);
	ord = project_order("p_crash", &n, &k);
	CHECK(ord && n == 1 && ord->status == O_PROCESSING, "order PROCESSING");
	if (ord)
		snprintf(id, sizeof(id), "%s", ord->order_id);
	spb_message_free(k);
	CHECK(charges(id) == 1, "the provider charged");
	CHECK(!applied_once("p_crash"), "nothing applied yet");
	stop_billingd(SIGKILL);
	CHECK(start_billingd(3600000) == 0, "restart billingd after kill -9");
	st = wait_settled(id, 10000);
	CHECK(st == O_SUCCEEDED, "start-up reconciliation: SUCCEEDED, got %d", st);
	CHECK(charges(id) == 1, "still exactly one charge, got %d", charges(id));
	CHECK(applied_once("p_crash"), "applied exactly once");
	ord = project_order("p_crash", &n, &k);
	CHECK(n == 1, "one order for the project, got %zu", n);
	spb_message_free(k);
	outcome_free(&o);
	stop_billingd(SIGTERM);
	CHECK(start_billingd(1000) == 0, "restart billingd (1 s rounds)");
}

/* ---- 200 concurrent checkouts with 20% faults ---- */

typedef struct run {
	char project[32];
	int method;
	int code; /* gRPC of the checkout call */
	char order_id[64];
	int final_status;
	int64_t total;
} run;

static run runs[N_CHECKOUTS];
static int next_run;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

static void *checkout_thread(void *arg)
{
	(void)arg;
	for (;;) {
		run *r;
		outcome o, c;
		pthread_mutex_lock(&run_lock);
		r = next_run < N_CHECKOUTS ? &runs[next_run++] : NULL;
		pthread_mutex_unlock(&run_lock);
		if (!r)
			break;
		r->code = checkout(r->project, r->method,
				   r->method == STRIPE ? "pm_card_visa" : NULL, &o);
		if (r->method == PAYPAL && o.order && o.order->paypal_order_id[0]) {
			/* the buyer approves at once, then ConfirmOrder (which may meet a fault:
			 * the reconciler then captures) */
			approve(o.order->paypal_order_id);
			confirm(o.order->order_id, &c);
			outcome_free(&c);
		}
		outcome_free(&o);
	}
	return NULL;
}

static void s_concurrent(void)
{
	pthread_t t[N_THREADS];
	int nt = 0, codes[3] = {0}, states[8] = {0}, n_stripe = 0, n_paypal = 0, unsettled = 0;
	int over_one = 0, unmatched_orders = 0, orphan_charges = 0, amount_mismatch = 0,
	    n_charges = 0;
	int64_t charged = 0, succeeded_total = 0, t0;
	json_t *stats, *list, *faults, *ch;
	const char *fk;
	json_t *fv;
	size_t i;

	scenario = "200 concurrent checkouts, 20% injected faults";
	for (i = 0; i < N_CHECKOUTS; i++) {
		snprintf(runs[i].project, sizeof(runs[i].project), "pc%03zu", i);
		runs[i].method = i % 5 == 4 ? PAYPAL : STRIPE;
		project(runs[i].project);
	}
	control("{\"reset\":true}");
	control("{\"fault\":\"random\",\"rate\":0.2,\"seed\":7,\"slow_ms\":1500,"
		"\"mix\":[\"decline\",\"500\",\"429\",\"slow\",\"drop_after_charge\"]}");
	t0 = mono_ms();
	for (i = 0; i < N_THREADS; i++)
		if (pthread_create(&t[nt], NULL, checkout_thread, NULL) == 0)
			nt++;
	for (i = 0; i < (size_t)nt; i++)
		pthread_join(t[i], NULL);
	printf("fault run: %d checkouts on %d threads in %lld ms\n", N_CHECKOUTS, nt,
	       (long long)(mono_ms() - t0));
	stats = fake_call("GET", "/_stats", NULL, NULL);
	faults = json_object_get(stats, "faults");
	printf("fault run: provider requests %lld, faults injected:",
	       (long long)json_integer_value(json_object_get(stats, "requests")));
	json_object_foreach(faults, fk, fv)
		printf(" %s=%lld", fk, (long long)json_integer_value(fv));
	printf("\n");
	json_decref(stats);
	control("{\"fault\":\"none\"}");

	/* find every order; approve the PayPal ones whose approval the run missed */
	for (i = 0; i < N_CHECKOUTS; i++) {
		size_t n;
		void *k;
		Smartplus__Billing__V1__Order *o = project_order(runs[i].project, &n, &k);
		CHECK(n == 1, "%s: one order, got %zu", runs[i].project, n);
		if (o)
			snprintf(runs[i].order_id, sizeof(runs[i].order_id), "%s", o->order_id);
		spb_message_free(k);
		codes[runs[i].code == G_OK ? 0 : runs[i].code == G_UNAVAILABLE ? 1 : 2]++;
		if (runs[i].method == STRIPE)
			n_stripe++;
		else
			n_paypal++;
	}
	for (int pass = 0; pass < 150; pass++) { /* <= ~60 s */
		unsettled = 0;
		for (i = 0; i < N_CHECKOUTS; i++) {
			char pp[64] = "";
			if (runs[i].final_status && runs[i].final_status != O_PROCESSING &&
			    runs[i].final_status != O_PENDING)
				continue;
			runs[i].final_status = order_status(runs[i].order_id, pp, sizeof(pp),
							    &runs[i].total);
			if (runs[i].final_status == O_PENDING && pp[0])
				approve(pp); /* the reconciler captures it next round */
			if (runs[i].final_status == O_PROCESSING ||
			    runs[i].final_status == O_PENDING)
				unsettled++;
		}
		if (!unsettled)
			break;
		sleep_ms(400);
	}
	CHECK(unsettled == 0, "%d orders still unsettled", unsettled);

	/* the provider's charges against the orders */
	stats = fake_call("GET", "/_stats", NULL, NULL);
	json_object_foreach(json_object_get(stats, "charges"), fk,
			    fv) if (json_integer_value(fv) > 1)
	{
		over_one++;
		fprintf(stderr, "key %s charged %lld times\n", fk,
			(long long)json_integer_value(fv));
	}
	list = json_object_get(stats, "charge_list");
	json_array_foreach(list, i, ch)
	{
		const char *key = json_string_value(json_object_get(ch, "key"));
		int64_t amount = json_integer_value(json_object_get(ch, "amount"));
		size_t kl = key ? strcspn(key, "-") : 0;
		run *r = NULL;
		n_charges++;
		charged += amount;
		for (size_t j = 0; key && j < N_CHECKOUTS && !r; j++)
			if (strlen(runs[j].order_id) == kl &&
			    strncmp(runs[j].order_id, key, kl) == 0)
				r = &runs[j];
		if (!r || r->final_status != O_SUCCEEDED) {
			orphan_charges++;
			fprintf(stderr, "charge %s (%lld) without a SUCCEEDED order\n",
				key ? key : "?", (long long)amount);
		} else if (amount != r->total ||
			   strcmp(json_string_value(json_object_get(ch, "currency")) ?: "",
				  "USD") != 0) {
			amount_mismatch++;
		}
	}
	for (i = 0; i < N_CHECKOUTS; i++) {
		int found = 0;
		size_t j;
		int st = runs[i].final_status;
		states[st >= 0 && st < 8 ? st : 0]++;
		if (st != O_SUCCEEDED)
			continue;
		succeeded_total += runs[i].total;
		json_array_foreach(list, j, ch)
		{
			const char *key = json_string_value(json_object_get(ch, "key"));
			size_t kl = key ? strcspn(key, "-") : 0;
			if (key && strlen(runs[i].order_id) == kl &&
			    strncmp(runs[i].order_id, key, kl) == 0 &&
			    json_integer_value(json_object_get(ch, "amount")) == runs[i].total)
				found = 1;
		}
		if (!found) {
			unmatched_orders++;
			fprintf(stderr, "order %s SUCCEEDED without a charge of %lld\n",
				runs[i].order_id, (long long)runs[i].total);
		}
		CHECK(applied_once(runs[i].project), "%s: applied once", runs[i].project);
	}
	json_decref(stats);
	printf("fault run: orders %d (Stripe %d, PayPal %d); checkout answers OK %d, UNAVAILABLE "
	       "%d, other %d\n",
	       N_CHECKOUTS, n_stripe, n_paypal, codes[0], codes[1], codes[2]);
	printf("fault run: final states SUCCEEDED %d, FAILED %d, PROCESSING %d, PENDING_PAYMENT "
	       "%d, "
	       "TIMED_OUT %d, CANCELED %d, unreadable %d\n",
	       states[O_SUCCEEDED], states[O_FAILED], states[O_PROCESSING], states[O_PENDING],
	       states[O_TIMED_OUT], states[O_CANCELED], states[0]);
	printf("fault run: charges %d totalling %lld; SUCCEEDED orders total %lld; keys charged "
	       ">1: %d; "
	       "SUCCEEDED without a matching charge: %d; charges without a SUCCEEDED order: %d; "
	       "amount mismatches: %d\n",
	       n_charges, (long long)charged, (long long)succeeded_total, over_one,
	       unmatched_orders, orphan_charges, amount_mismatch);
	CHECK(over_one == 0, "charges per key <= 1");
	CHECK(unmatched_orders == 0, "every SUCCEEDED order has its charge");
	CHECK(orphan_charges == 0, "no charge without a SUCCEEDED order");
	CHECK(amount_mismatch == 0, "charge amounts match the orders");
	CHECK(charged == succeeded_total, "money taken == SUCCEEDED totals");
	CHECK(states[O_SUCCEEDED] + states[O_FAILED] == N_CHECKOUTS,
	      "every order SUCCEEDED or FAILED");
}

int main(int argc, char **argv)
{
	char cmd[256];
	if (argc < 4) {
		fprintf(stderr, "usage: %s BILLINGD NODE PROVIDER_JS\n", argv[0]);
		return 2;
	}
	billingd_bin = argv[1];
	node_bin = argv[2];
	fake_js = argv[3];
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(dir, sizeof(dir), "/tmp/spb-pay.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	REAL0 = real_now() / 1000000 * 1000000;
	if (start_fake() != 0 || start_billingd(1000) != 0) {
		fprintf(stderr, "cannot start the fake provider or billingd\n");
		failures++;
		goto out;
	}
	seed_world();
	s_stripe_happy();
	s_stripe_client_confirms();
	s_paypal_happy();
	s_decline();
	scenario = "Stripe 500: UNAVAILABLE, PROCESSING, reconciled";
	s_outage("500", "p_500");
	scenario = "Stripe 429: UNAVAILABLE, PROCESSING, reconciled";
	s_outage("429", "p_429");
	s_slow();
	s_crash_after_charge();
	s_concurrent();
out:
	spb_client_free(cli);
	stop_billingd(SIGTERM);
	store_close(env);
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
	}
	printf("%d checks, %d failed\n", checks, failures);
	if (failures) {
		snprintf(cmd, sizeof(cmd), "tail -n 40 %s/billingd.log >&2", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "no log\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	curl_global_cleanup();
	return failures ? 1 : 0;
}
