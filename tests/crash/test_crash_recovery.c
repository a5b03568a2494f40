/*
 * test_crash_recovery.c - crash recovery of billingd (issue 9, item 1).
 *
 * Seeds a tree through the API (vendor -> distributor "dist", funded by a
 * vendor AssignCredits -> one installer and one COMMUNITY project per
 * client thread, APP items, prices), then K client threads issue a bounded
 * random mix of mutations, each with an explicit idempotency key:
 * AssignCredits dist -> installer, ActivateServices and RenewServices paid
 * with the sandbox card or a fresh 100% coupon, PurchaseCredits by coupon
 * (when the server implements it), CreateItems when a thread runs out of
 * inactive items. Every answered call is recorded; a call with no answer
 * (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, ...) is repeated with the same
 * key, on a fresh connection after each restart, until it is answered.
 *
 * Meanwhile the supervisor SIGKILLs billingd at random moments and billingd
 * runs with SPB_FAULT fault points (writer.before_commit, writer.after_commit,
 * payments.after_provider), which make it SIGKILL itself. Each death is
 * followed by a restart on the same data directory.
 *
 * At the end billingd is restarted without faults and the model is checked
 * against what the server reports: every item's status and expiry (model:
 * activation = the acknowledged line's new_expires_at, renewal = + months x
 * 30 d), every balance, the credit log of every installer (each
 * acknowledged transfer exactly once, nothing else), the orders of the payer
 * (each acknowledged order SUCCEEDED, at most one SUCCEEDED order per quote,
 * none that nobody was told about); then billingd is stopped and
 * ledger_check runs on the data directory.
 *
 * usage: crash_harness <billingd> <ledger_check> [--kills N] [--threads K]
 *                      [--seed S] [--max-seconds T] [--fault SPEC]
 * A CUnit suite of three tests: the chaos (at least N kills survived, every
 * call answered, no unexpected answer), the model check (nothing lost,
 * nothing applied twice), the clean stop and ledger_check.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spt_billingd.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define DAY_US (INT64_C(86400) * 1000000)
#define MONTH_US (30 * DAY_US)
#define COMM V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY)
#define S_APP V1(SERVICE_TYPE__SERVICE_TYPE_APP)
#define ACT V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE)
#define REN V1(QUOTE_ACTION__QUOTE_ACTION_RENEW)
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define COUPON V1(PAYMENT_METHOD__PAYMENT_METHOD_COUPON)
#define O_SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define I_ACTIVE V1(ITEM_STATUS__ITEM_STATUS_ACTIVE)
#define I_INACTIVE V1(ITEM_STATUS__ITEM_STATUS_INACTIVE)
#define K_ALLOCATION V1(TRANSFER_KIND__TRANSFER_KIND_ALLOCATION)
#define K_PURCHASE V1(TRANSFER_KIND__TRANSFER_KIND_PURCHASE)

enum {
	ST_OK = 0,
	ST_CANCELLED = 1,
	ST_UNKNOWN = 2,
	ST_DEADLINE = 4,
	ST_ABORTED = 10,
	ST_UNIMPLEMENTED = 12,
	ST_INTERNAL = 13,
	ST_UNAVAILABLE = 14,
};

#define MAX_THREADS 32
#define MAX_ITEMS 4096     /* per thread */
#define MAX_TRANSFERS 8192 /* per thread */
#define MAX_ORDERS 8192    /* per thread */
#define ITEMS_SEEDED 24    /* per thread, at seeding */
#define ITEMS_BATCH 8      /* CreateItems under chaos */
#define MAX_ATTEMPTS 4000  /* per call; 15 ms apart plus the call */
#define CALL_DEADLINE_MS 4000
#define FUNDING INT64_C(1000000000)

/* ------------------------------------------------------------------------ */
/* Configuration and shared state                                            */

static int opt_kills = 50, opt_threads = 6, opt_max_seconds = 600;
static unsigned opt_seed;
static const char *opt_fault =
	"writer.before_commit:150,writer.after_commit:150,payments.after_provider:40";

static spt_billingd srv;
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned gen; /* bumped at each (re)start; target under gen_lock */
static char gen_target[64];
static atomic_int stop_ops; /* clients finish their current op and leave */
static atomic_int purchases_supported;
static char run_id[16];
static char dist_key[160];

static atomic_long n_calls, n_acked, n_ack_errors, n_no_answer_calls, n_no_answer_attempts,
	n_never_answered, n_unexpected;
static int kills_killer, kills_fault, restarts_failed;

static void log_unexpected(int t, const char *what, const char *key)
{
	const spb_error *e = spb_error_last();
	atomic_fetch_add(&n_unexpected, 1);
	fprintf(stderr, "UNEXPECTED t%d %s key=%s: %s %s %s\n", t, what, key ? key : "-",
		spb_status_name(e->grpc_code), e->reason, e->message);
}

/* ------------------------------------------------------------------------ */
/* Per-thread model                                                          */

typedef struct item_model {
	char id[48];
	int active;
	int64_t exp; /* model expiry when active */
} item_model;

typedef struct transfer_model {
	char id[40];
	int64_t credits;
	int purchase;
} transfer_model;

typedef struct order_model {
	char order_id[40];
	char quote_id[40];
} order_model;

typedef struct client_state {
	int t;
	unsigned rnd;
	char installer[32], project[32];
	spb_client *cli;
	unsigned cli_gen;
	long seq;
	item_model items[MAX_ITEMS];
	int n_items, n_inactive_from; /* items[n_inactive_from..] are inactive */
	transfer_model transfers[MAX_TRANSFERS];
	int n_transfers;
	order_model orders[MAX_ORDERS];
	int n_orders;
	int64_t credits; /* model balance of the installer */
	long ops[5];
} client_state;

static client_state *states[MAX_THREADS];

static unsigned rnd_next(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

/* The thread's connection to the current billingd (a new one after each
 * restart: a fresh channel connects at once, an old one backs off). */
static spb_client *client_of(client_state *cs)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	char target[64];
	unsigned g;

	pthread_mutex_lock(&gen_lock);
	g = gen;
	snprintf(target, sizeof(target), "%s", gen_target);
	pthread_mutex_unlock(&gen_lock);
	if (cs->cli && cs->cli_gen == g)
		return cs->cli;
	spb_client_free(cs->cli);
	o.api_key = dist_key;
	o.default_deadline_ms = CALL_DEADLINE_MS;
	o.max_retries = 0; /* the harness retries, always with the same key */
	cs->cli = spb_client_new(target, &o);
	cs->cli_gen = g;
	return cs->cli;
}

/* An answer is any status the server decided; these mean "no answer". */
static int no_answer(int rc)
{
	int c = spb_error_last()->grpc_code;
	if (rc == 0)
		return 0;
	return c == ST_UNAVAILABLE || c == ST_DEADLINE || c == ST_ABORTED || c == ST_CANCELLED ||
	       c == ST_UNKNOWN || c == ST_INTERNAL;
}

/*
 * Repeats EXPR (which uses `cli` and `&o`) until it is answered, with the
 * same idempotency key KEY (NULL for reads) and the api key APIKEY (NULL:
 * the distributor's). RESP is freed and reset between attempts. Sets RC.
 */
#define RETRY(cs, KEY, APIKEY, RESP, RC, EXPR)                                               \
	do {                                                                                 \
		int na_ = 0;                                                                 \
		const char *k_ = (KEY);                                                      \
		atomic_fetch_add(&n_calls, 1);                                               \
		for (int a_ = 0;; a_++) {                                                    \
			spb_call_options o = SPB_CALL_OPTIONS_INIT;                          \
			spb_client *cli = client_of(cs);                                     \
			o.idempotency_key = k_;                                              \
			o.api_key = (APIKEY);                                                \
			o.deadline_ms = CALL_DEADLINE_MS;                                    \
			(RESP) = NULL;                                                       \
			(RC) = cli ? (EXPR) : SPB_EUNAVAILABLE;                              \
			if (!no_answer(RC) || a_ >= MAX_ATTEMPTS)                            \
				break;                                                       \
			spb_message_free(RESP);                                              \
			(RESP) = NULL;                                                       \
			if (!na_++)                                                          \
				atomic_fetch_add(&n_no_answer_calls, 1);                     \
			atomic_fetch_add(&n_no_answer_attempts, 1);                          \
			spt_sleep_ms(15);                                                    \
		}                                                                            \
		if (no_answer(RC)) {                                                         \
			atomic_fetch_add(&n_never_answered, 1);                              \
			fprintf(stderr, "NEVER ANSWERED t%d key=%s: %s %s\n", (cs)->t,       \
				k_ ? k_ : "-", spb_status_name(spb_error_last()->grpc_code), \
				spb_error_last()->message);                                  \
		} else if (k_ != NULL) {                                                     \
			atomic_fetch_add((RC) == 0 ? &n_acked : &n_ack_errors, 1);           \
		}                                                                            \
	} while (0)

static void make_key(client_state *cs, const char *what, char *key, size_t cap)
{
	snprintf(key, cap, "%s-t%d-%ld-%s", run_id, cs->t, cs->seq, what);
}

static Smartplus__Billing__V1__BillingInfo bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Crash Harness",
	"crash@example.com",
	"Harness Ltd",
	"1 Loop St",
	"US",
	"",
	"" /* region */};

/* ------------------------------------------------------------------------ */
/* Operations (each a few calls, each call retried until answered)           */

static void op_assign(client_state *cs)
{
	Smartplus__Billing__V1__AssignCreditsRequest r =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *out;
	char key[96];
	int rc;

	make_key(cs, "assign", key, sizeof(key));
	r.account_id = "dist";
	r.to_account_id = cs->installer;
	r.credits = 1 + (int64_t)(rnd_next(&cs->rnd) % 50);
	RETRY(cs, key, NULL, out, rc, spb_billing_assign_credits(cli, &r, &out, &o));
	if (rc == 0 && cs->n_transfers < MAX_TRANSFERS) {
		transfer_model *tm = &cs->transfers[cs->n_transfers++];
		snprintf(tm->id, sizeof(tm->id), "%s", out->transfer_id);
		tm->credits = r.credits;
		cs->credits += r.credits;
		cs->ops[0]++;
	} else if (rc != 0 && !no_answer(rc)) {
		log_unexpected(cs->t, "AssignCredits", key);
	}
	spb_message_free(out);
}

/* A fresh 100% coupon for one order of this thread (vendor key). */
static int new_coupon(client_state *cs, int credit_purchase, char code[64])
{
	Smartplus__Billing__V1__CreateCouponRequest r =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
	Smartplus__Billing__V1__Coupon c = SMARTPLUS__BILLING__V1__COUPON__INIT;
	Smartplus__Billing__V1__CreateCouponResponse *out;
	char key[96];
	int rc;

	snprintf(code, 64, "%s_t%d_%ld", run_id, cs->t, cs->seq);
	make_key(cs, "coupon", key, sizeof(key));
	c.code = code;
	c.percent_off = 100;
	c.max_redemptions = 1;
	c.credit_purchases_only = credit_purchase;
	r.coupon = &c;
	RETRY(cs, key, srv.admin_key, out, rc, spb_admin_create_coupon(cli, &r, &out, &o));
	if (rc != 0 && !no_answer(rc))
		log_unexpected(cs->t, "CreateCoupon", key);
	spb_message_free(out);
	return rc;
}

static void op_create_items(client_state *cs)
{
	Smartplus__Billing__V1__CreateItemsRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ItemSpec specs[ITEMS_BATCH], *sp[ITEMS_BATCH];
	Smartplus__Billing__V1__CreateItemsResponse *out;
	char ids[ITEMS_BATCH][48], key[96];
	int n = 0, rc;

	for (; n < ITEMS_BATCH && cs->n_items + n < MAX_ITEMS; n++) {
		smartplus__billing__v1__item_spec__init(&specs[n]);
		snprintf(ids[n], sizeof(ids[n]), "%s_i%d", cs->project, cs->n_items + n);
		specs[n].item_id = ids[n];
		specs[n].service_type = S_APP;
		specs[n].label = ids[n];
		sp[n] = &specs[n];
	}
	if (n == 0)
		return;
	make_key(cs, "items", key, sizeof(key));
	r.project_id = cs->project;
	r.n_items = (size_t)n;
	r.items = sp;
	RETRY(cs, key, NULL, out, rc, spb_directory_create_items(cli, &r, &out, &o));
	if (rc == 0) {
		for (int i = 0; i < n; i++) {
			item_model *im = &cs->items[cs->n_items++];
			memcpy(im->id, ids[i], sizeof(im->id));
			im->active = 0;
		}
		cs->ops[4]++;
	} else if (!no_answer(rc)) {
		log_unexpected(cs->t, "CreateItems", key);
	}
	spb_message_free(out);
}

/* Quote for one item (action ACT or REN, months, optional coupon); returns
 * the response (caller frees) or NULL. */
static Smartplus__Billing__V1__QuoteServicesResponse *quote_one(client_state *cs, int action,
								const char *item, int months,
								const char *coupon)
{
	Smartplus__Billing__V1__QuoteServicesRequest r =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__QuoteServicesResponse *out;
	char *projects[1] = {cs->project}, *items[1] = {(char *)item};
	int rc;

	r.action = action;
	r.payer_id = "dist";
	r.installer_id = cs->installer;
	r.project_type = COMM;
	r.n_project_ids = 1;
	r.project_ids = projects;
	r.n_item_ids = 1;
	r.item_ids = items;
	r.months = months;
	r.coupon_code = (char *)(coupon ? coupon : "");
	RETRY(cs, NULL, NULL, out, rc, spb_billing_quote_services(cli, &r, &out, &o));
	if (rc != 0) {
		if (!no_answer(rc))
			log_unexpected(cs->t, action == ACT ? "Quote ACTIVATE" : "Quote RENEW",
				       item);
		return NULL;
	}
	if (out->quote->n_lines != 1 || strcmp(out->quote->lines[0]->item_id, item) != 0 ||
	    (coupon && out->quote->total != 0)) {
		atomic_fetch_add(&n_unexpected, 1);
		fprintf(stderr, "UNEXPECTED t%d quote for %s: %zu lines, total %lld\n", cs->t, item,
			out->quote->n_lines, (long long)out->quote->total);
		spb_message_free(out);
		return NULL;
	}
	return out;
}

/* Activation (action ACT) or renewal (REN) of item ix, by card or coupon. */
static void op_order(client_state *cs, int action, int ix)
{
	item_model *im = &cs->items[ix];
	int months = 1 + (int)(rnd_next(&cs->rnd) % 3), by_coupon = rnd_next(&cs->rnd) % 2;
	Smartplus__Billing__V1__QuoteServicesResponse *q;
	Smartplus__Billing__V1__Order *ord = NULL;
	void *keep = NULL;
	char code[64], key[96];
	int rc;

	if (by_coupon && new_coupon(cs, 0, code) != 0)
		return;
	q = quote_one(cs, action, im->id, months, by_coupon ? code : NULL);
	if (!q)
		return;
	make_key(cs, action == ACT ? "activate" : "renew", key, sizeof(key));
	if (action == ACT) {
		Smartplus__Billing__V1__ActivateServicesRequest r =
			SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__ActivateServicesResponse *out;
		r.quote_id = q->quote->quote_id;
		r.payment_method = by_coupon ? COUPON : STRIPE;
		r.billing_info = &bill;
		r.terms_accepted = 1;
		r.stripe_payment_method_id = by_coupon ? "" : "pm_card_visa";
		RETRY(cs, key, NULL, out, rc, spb_billing_activate_services(cli, &r, &out, &o));
		if (rc == 0) {
			ord = out->order;
			keep = out;
		}
	} else {
		Smartplus__Billing__V1__RenewServicesRequest r =
			SMARTPLUS__BILLING__V1__RENEW_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__RenewServicesResponse *out;
		r.quote_id = q->quote->quote_id;
		r.payment_method = by_coupon ? COUPON : STRIPE;
		r.billing_info = &bill;
		r.terms_accepted = 1;
		r.stripe_payment_method_id = by_coupon ? "" : "pm_card_visa";
		RETRY(cs, key, NULL, out, rc, spb_billing_renew_services(cli, &r, &out, &o));
		if (rc == 0) {
			ord = out->order;
			keep = out;
		}
	}
	if (rc != 0) {
		if (!no_answer(rc))
			log_unexpected(cs->t, action == ACT ? "ActivateServices" : "RenewServices",
				       key);
	} else if (!ord || ord->status != O_SUCCEEDED || ord->n_lines != 1 ||
		   strcmp(ord->lines[0]->item_id, im->id) != 0) {
		atomic_fetch_add(&n_unexpected, 1);
		fprintf(stderr, "UNEXPECTED t%d order %s for %s: status %d\n", cs->t,
			ord ? ord->order_id : "-", im->id, ord ? (int)ord->status : -1);
	} else {
		int64_t nexp = spt_ts_us(ord->lines[0]->new_expires_at);
		if (action == REN && nexp != im->exp + months * MONTH_US) {
			atomic_fetch_add(&n_unexpected, 1);
			fprintf(stderr,
				"UNEXPECTED t%d renewal of %s to %lld, model %lld + %d months\n",
				cs->t, im->id, (long long)nexp, (long long)im->exp, months);
		}
		/* activation: the acknowledged new expiry; renewal: + months x 30 d */
		im->exp = action == ACT ? nexp : im->exp + months * MONTH_US;
		im->active = 1;
		if (cs->n_orders < MAX_ORDERS) {
			order_model *om = &cs->orders[cs->n_orders++];
			snprintf(om->order_id, sizeof(om->order_id), "%s", ord->order_id);
			snprintf(om->quote_id, sizeof(om->quote_id), "%s", q->quote->quote_id);
		}
		cs->ops[action == ACT ? 1 : 2]++;
	}
	spb_message_free(keep);
	spb_message_free(q);
}

static void op_activate(client_state *cs)
{
	if (cs->n_inactive_from >= cs->n_items)
		op_create_items(cs);
	if (cs->n_inactive_from >= cs->n_items)
		return;
	op_order(cs, ACT, cs->n_inactive_from);
	if (cs->items[cs->n_inactive_from].active)
		cs->n_inactive_from++;
}

static void op_renew(client_state *cs)
{
	if (cs->n_inactive_from == 0) {
		op_activate(cs);
		return;
	}
	op_order(cs, REN, (int)(rnd_next(&cs->rnd) % (unsigned)cs->n_inactive_from));
}

static void op_purchase(client_state *cs)
{
	Smartplus__Billing__V1__PurchaseCreditsRequest r =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *out;
	char code[64], key[96];
	int rc;

	if (!atomic_load(&purchases_supported)) {
		op_assign(cs);
		return;
	}
	if (new_coupon(cs, 1, code) != 0)
		return;
	make_key(cs, "purchase", key, sizeof(key));
	r.account_id = cs->installer;
	r.payer_id = "dist";
	r.credits = 1 + (int64_t)(rnd_next(&cs->rnd) % 20);
	r.payment_method = COUPON;
	r.billing_info = &bill;
	r.terms_accepted = 1;
	r.coupon_code = code;
	RETRY(cs, key, NULL, out, rc, spb_billing_purchase_credits(cli, &r, &out, &o));
	if (rc == 0 && out->order && out->order->status == O_SUCCEEDED) {
		cs->credits += r.credits;
		if (cs->n_orders < MAX_ORDERS) {
			order_model *om = &cs->orders[cs->n_orders++];
			snprintf(om->order_id, sizeof(om->order_id), "%s", out->order->order_id);
			om->quote_id[0] = '\0';
		}
		if (cs->n_transfers < MAX_TRANSFERS) {
			transfer_model *tm = &cs->transfers[cs->n_transfers++];
			snprintf(tm->id, sizeof(tm->id), "order:%s", out->order->order_id);
			tm->credits = r.credits;
			tm->purchase = 1;
		}
		cs->ops[3]++;
	} else if (rc == 0 || !no_answer(rc)) {
		log_unexpected(cs->t, "PurchaseCredits", key);
	}
	spb_message_free(out);
}

static void *client_main(void *arg)
{
	client_state *cs = arg;

	for (long n = 0; n < 1000000 && !atomic_load(&stop_ops); n++) {
		unsigned r = rnd_next(&cs->rnd) % 100;
		cs->seq++;
		if (r < 35)
			op_assign(cs);
		else if (r < 60)
			op_activate(cs);
		else if (r < 88)
			op_renew(cs);
		else
			op_purchase(cs);
	}
	spb_client_free(cs->cli);
	cs->cli = NULL;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Seeding (no faults, vendor key, plain calls)                              */

/* The prices, the distributor (funded by the vendor) with its key, an
 * installer and a project per thread; whether PurchaseCredits is there.
 * Returns at the first failing call (SPT_INIT prints it). */
static int seed(void)
{
	spb_client *vendor = spt_client_to(srv.target, srv.admin_key, 20000);
	Smartplus__Billing__V1__PurchaseCreditsRequest pc =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *pcr = NULL;
	int rc = vendor ? 0 : -1;

	if (rc == 0)
		rc = spt_set_price(vendor, COMM, S_APP, 500, 5);
	if (rc == 0)
		rc = spt_set_credit_price(vendor, 100);
	if (rc == 0)
		rc = spt_create_account(vendor, NULL, "dist", V1(ROLE__ROLE_DISTRIBUTOR), "vendor");
	if (rc == 0)
		rc = spt_create_key(vendor, NULL, "dist", SCOPE(ACCOUNT), dist_key, NULL);
	if (rc == 0)
		rc = spt_assign_credits(vendor, NULL, NULL, "dist", FUNDING);
	for (int t = 0; rc == 0 && t < opt_threads; t++) {
		client_state *cs = states[t];
		spt_project p = {
			cs->project, cs->installer, COMM, NULL, 0, 0, spt_real_us() - SPT_DAY_US};
		rc = spt_create_account(vendor, NULL, cs->installer, V1(ROLE__ROLE_INSTALLER),
					"dist");
		if (rc == 0)
			rc = spt_create_project_spec(vendor, NULL, &p);
	}
	if (rc == 0) {
		/* PurchaseCredits: in the mix only when the server implements it */
		int prc;
		pc.account_id = "dist";
		prc = spb_billing_purchase_credits(vendor, &pc, &pcr, NULL);
		atomic_store(&purchases_supported,
			     !(prc != 0 && spb_error_last()->grpc_code == ST_UNIMPLEMENTED));
		spb_message_free(pcr);
	}
	spb_client_free(vendor);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Supervisor: kills and restarts                                            */

static void publish_target(void)
{
	pthread_mutex_lock(&gen_lock);
	gen++;
	snprintf(gen_target, sizeof(gen_target), "%s", srv.target);
	pthread_mutex_unlock(&gen_lock);
}

/* (Re)starts billingd until it comes up (a fault point may kill it while
 * it starts: that counts as a kill too). 0 or -1. */
static int restart(const char *fault)
{
	/* the last instance reconciles often, so PROCESSING orders left by
	 * the crashes get settled before the check (and must not double-apply) */
	static const char *const final_args[] = {"--reconcile-interval-ms", "100", NULL};

	for (int i = 0; i < 50; i++) {
		if (spt_billingd_restart_with(&srv, fault, fault ? NULL : final_args) == 0) {
			publish_target();
			return 0;
		}
		restarts_failed++;
		if (srv.pid > 0)
			spt_billingd_kill(&srv);
		spt_sleep_ms(50);
	}
	return -1;
}

/* Runs the chaos until opt_kills deaths (or the time limit), then leaves
 * billingd running without faults. 0 or -1. */
static int chaos(unsigned seed_v)
{
	unsigned r = seed_v ^ 0x5bd1e995u;
	int64_t t0 = spt_mono_ms();
	int64_t last_report = t0;

	while (kills_killer + kills_fault < opt_kills &&
	       spt_mono_ms() - t0 < opt_max_seconds * 1000LL) {
		int wait_ms = 30 + (int)(rnd_next(&r) % 300), sig = 0, died = 0;
		for (int w = 0; w < wait_ms; w += 5) {
			if (spt_billingd_exited(&srv, &sig)) {
				died = 1;
				break;
			}
			spt_sleep_ms(5);
		}
		if (died) {
			if (sig != SIGKILL)
				fprintf(stderr, "billingd died by %d (not a fault-point SIGKILL)\n",
					sig);
			kills_fault++;
		} else {
			spt_billingd_kill(&srv);
			kills_killer++;
		}
		if (restart(opt_fault) != 0) {
			fprintf(stderr, "billingd does not restart; see %s\n", srv.log_path);
			return -1;
		}
		if (spt_mono_ms() - last_report > 10000) {
			last_report = spt_mono_ms();
			fprintf(stderr, "... %d kills, %ld calls answered OK\n",
				kills_killer + kills_fault, atomic_load(&n_acked));
		}
	}
	/* the last instance runs without faults so every call gets answered */
	spt_billingd_kill(&srv);
	kills_killer++;
	atomic_store(&stop_ops, 1);
	return restart(NULL);
}

/* ------------------------------------------------------------------------ */
/* Verification                                                              */

static long lost, twice, orphans, extra_orders, check_errors;

#define LOST(...)                                      \
	do {                                           \
		lost++;                                \
		fprintf(stderr, "LOST: " __VA_ARGS__); \
	} while (0)
#define TWICE(...)                                      \
	do {                                            \
		twice++;                                \
		fprintf(stderr, "TWICE: " __VA_ARGS__); \
	} while (0)

static spb_client *verifier;

static void verify_items(client_state *cs)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *out = NULL;
	int *seen = calloc((size_t)cs->n_items + 1, sizeof(int));
	char token[256] = "";

	for (int page = 0; page < 100; page++) {
		r.project_id = cs->project;
		r.page_size = 1000;
		r.page_token = token;
		if (spb_billing_list_items(verifier, &r, &out, NULL) != 0) {
			check_errors++;
			fprintf(stderr, "ListItems %s: %s\n", cs->project,
				spb_error_last()->message);
			break;
		}
		for (size_t i = 0; i < out->n_items; i++) {
			const Smartplus__Billing__V1__Item *it = out->items[i];
			int ix = -1;
			for (int k = 0; k < cs->n_items && ix < 0; k++)
				if (strcmp(cs->items[k].id, it->item_id) == 0)
					ix = k;
			if (ix < 0) {
				/* a CreateItems batch that got no answer yet: not possible,
				 * every call was answered before the check */
				TWICE("item %s exists but no acknowledged CreateItems made it\n",
				      it->item_id);
				continue;
			}
			seen[ix] = 1;
			const item_model *im = &cs->items[ix];
			int64_t exp = spt_ts_us(it->expires_at);
			if (!im->active) {
				if (it->status != I_INACTIVE)
					TWICE("item %s is %d, no acknowledged activation\n",
					      it->item_id, (int)it->status);
			} else if (it->status != I_ACTIVE || exp < im->exp) {
				LOST("item %s status %d expires %lld, model %lld (short by %lld "
				     "d)\n",
				     it->item_id, (int)it->status, (long long)exp,
				     (long long)im->exp, (long long)((im->exp - exp) / DAY_US));
			} else if (exp > im->exp) {
				TWICE("item %s expires %lld, model %lld (%lld d more)\n",
				      it->item_id, (long long)exp, (long long)im->exp,
				      (long long)((exp - im->exp) / DAY_US));
			}
		}
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		spb_message_free(out);
		out = NULL;
		if (!token[0])
			break;
	}
	for (int k = 0; k < cs->n_items; k++)
		if (!seen[k])
			LOST("item %s (acknowledged CreateItems) missing\n", cs->items[k].id);
	free(seen);
}

static int64_t balance_of(const char *account)
{
	Smartplus__Billing__V1__GetCreditBalanceRequest r =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditBalanceResponse *out = NULL;
	int64_t b = INT64_MIN;

	r.account_id = (char *)account;
	if (spb_billing_get_credit_balance(verifier, &r, &out, NULL) == 0)
		b = out->credits;
	else
		check_errors++;
	spb_message_free(out);
	return b;
}

static void verify_credits(client_state *cs)
{
	Smartplus__Billing__V1__ListCreditLogsRequest r =
		SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_REQUEST__INIT;
	Smartplus__Billing__V1__ListCreditLogsResponse *out = NULL;
	int *seen = calloc((size_t)cs->n_transfers + 1, sizeof(int));
	char token[256] = "";
	int64_t b = balance_of(cs->installer);

	if (b < cs->credits)
		LOST("balance of %s is %lld, model %lld\n", cs->installer, (long long)b,
		     (long long)cs->credits);
	else if (b > cs->credits)
		TWICE("balance of %s is %lld, model %lld\n", cs->installer, (long long)b,
		      (long long)cs->credits);
	for (int page = 0; page < 1000; page++) {
		r.account_id = cs->installer;
		r.page_size = 1000;
		r.page_token = token;
		if (spb_billing_list_credit_logs(verifier, &r, &out, NULL) != 0) {
			check_errors++;
			fprintf(stderr, "ListCreditLogs %s: %s\n", cs->installer,
				spb_error_last()->message);
			break;
		}
		for (size_t i = 0; i < out->n_entries; i++) {
			const Smartplus__Billing__V1__CreditLogEntry *e = out->entries[i];
			char id[48];
			int ix = -1;
			if (e->kind == K_PURCHASE)
				snprintf(id, sizeof(id), "order:%s", e->order_id);
			else
				snprintf(id, sizeof(id), "%s", e->transfer_id);
			for (int k = 0; k < cs->n_transfers && ix < 0; k++)
				if (strcmp(cs->transfers[k].id, id) == 0)
					ix = k;
			if (ix < 0)
				TWICE("%s: transfer %s (%lld, kind %d, order %s) nobody was told "
				      "about\n",
				      cs->installer, e->transfer_id, (long long)e->delta,
				      (int)e->kind, e->order_id);
			else if (seen[ix]++)
				TWICE("%s: transfer %s listed twice\n", cs->installer, id);
			else if (e->delta != cs->transfers[ix].credits)
				TWICE("%s: transfer %s delta %lld, acknowledged %lld\n",
				      cs->installer, id, (long long)e->delta,
				      (long long)cs->transfers[ix].credits);
		}
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		spb_message_free(out);
		out = NULL;
		if (!token[0])
			break;
	}
	for (int k = 0; k < cs->n_transfers; k++)
		if (!seen[k])
			LOST("%s: acknowledged transfer %s (%lld) not in the credit log\n",
			     cs->installer, cs->transfers[k].id,
			     (long long)cs->transfers[k].credits);
	free(seen);
}

typedef struct seen_order {
	char order_id[40], quote_id[40];
	int status;
} seen_order;

static int by_quote(const void *a, const void *b)
{
	return strcmp(((const seen_order *)a)->quote_id, ((const seen_order *)b)->quote_id);
}

static void verify_orders(void)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *out = NULL;
	size_t n = 0, cap = 1024;
	seen_order *all = malloc(cap * sizeof(*all));
	char token[256] = "";

	for (int page = 0; page < 10000 && all; page++) {
		r.payer_id = "dist";
		r.page_size = 1000;
		r.page_token = token;
		if (spb_billing_list_orders(verifier, &r, &out, NULL) != 0) {
			check_errors++;
			fprintf(stderr, "ListOrders: %s\n", spb_error_last()->message);
			break;
		}
		for (size_t i = 0; i < out->n_orders; i++) {
			if (n == cap) {
				seen_order *g = realloc(all, 2 * cap * sizeof(*all));
				if (!g)
					break;
				all = g;
				cap *= 2;
			}
			snprintf(all[n].order_id, sizeof(all[n].order_id), "%s",
				 out->orders[i]->order_id);
			snprintf(all[n].quote_id, sizeof(all[n].quote_id), "%s",
				 out->orders[i]->quote_id);
			all[n].status = out->orders[i]->status;
			n++;
		}
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		spb_message_free(out);
		out = NULL;
		if (!token[0])
			break;
	}
	if (!all)
		return;
	/* every acknowledged order SUCCEEDED; no SUCCEEDED order nobody was told about */
	for (int t = 0; t < opt_threads; t++) {
		client_state *cs = states[t];
		for (int k = 0; k < cs->n_orders; k++) {
			size_t i = 0;
			while (i < n && strcmp(all[i].order_id, cs->orders[k].order_id) != 0)
				i++;
			if (i == n || all[i].status != O_SUCCEEDED)
				LOST("acknowledged order %s %s\n", cs->orders[k].order_id,
				     i == n ? "missing" : "not SUCCEEDED");
			else
				all[i].status = -all[i].status; /* mark acknowledged */
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (all[i].status == O_SUCCEEDED)
			TWICE("order %s (quote %s) SUCCEEDED but no caller was told\n",
			      all[i].order_id, all[i].quote_id);
		else if (all[i].status > 0)
			orphans++;
	}
	qsort(all, n, sizeof(*all), by_quote);
	for (size_t i = 0; i < n;) {
		size_t j = i, ok = 0;
		while (j < n && strcmp(all[j].quote_id, all[i].quote_id) == 0) {
			ok += all[j].status == O_SUCCEEDED || all[j].status == -O_SUCCEEDED;
			j++;
		}
		if (all[i].quote_id[0]) {
			if (ok > 1)
				TWICE("quote %s paid by %zu SUCCEEDED orders\n", all[i].quote_id,
				      ok);
			extra_orders += (long)(j - i - 1);
		}
		i = j;
	}
	printf("orders of dist: %zu (not SUCCEEDED: %ld; orders beyond the first per quote: %ld)\n",
	       n, orphans, extra_orders);
	/* Cards never decline here, so a quote is paid by exactly one order: a
	 * retry after a crash must resume it (same provider key), never place
	 * a second one. */
	if (extra_orders > 0)
		TWICE("%ld orders placed again from quotes that already had one\n", extra_orders);
	free(all);
}

static int verify(void)
{
	spb_client_options co = SPB_CLIENT_OPTIONS_INIT;
	int64_t dist_model = FUNDING, b;

	co.api_key = srv.admin_key;
	co.default_deadline_ms = 60000;
	verifier = spb_client_new(srv.target, &co);
	if (!verifier)
		return -1;
	for (int t = 0; t < opt_threads; t++) {
		verify_items(states[t]);
		verify_credits(states[t]);
		for (int k = 0; k < states[t]->n_transfers; k++)
			if (!states[t]->transfers[k].purchase)
				dist_model -= states[t]->transfers[k].credits;
	}
	b = balance_of("dist");
	if (b < dist_model)
		TWICE("balance of dist is %lld, model %lld\n", (long long)b, (long long)dist_model);
	else if (b > dist_model)
		LOST("balance of dist is %lld, model %lld\n", (long long)b, (long long)dist_model);
	verify_orders();
	spb_client_free(verifier);
	verifier = NULL;
	return 0;
}

/* ------------------------------------------------------------------------ */

static int suite_init(void)
{
	opt_kills = (int)spt_arg_long("kills", 50);
	opt_threads = (int)spt_arg_long("threads", 6);
	opt_seed = (unsigned)spt_arg_long("seed", 0);
	opt_max_seconds = (int)spt_arg_long("max-seconds", 600);
	if (spt_arg("fault"))
		opt_fault = spt_arg("fault");
	if (opt_threads < 1 || opt_threads > MAX_THREADS || opt_kills < 0 || opt_max_seconds < 1) {
		fprintf(stderr,
			"crash_harness: --threads 1..%d, --kills >= 0, --max-seconds >= 1\n",
			MAX_THREADS);
		return -1;
	}
	if (!opt_seed)
		opt_seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	snprintf(run_id, sizeof(run_id), "r%x", opt_seed & 0xffffff);
	printf("crash_harness: seed %u, %d threads, %d kills, faults %s\n", opt_seed, opt_threads,
	       opt_kills, opt_fault);
	for (int t = 0; t < opt_threads; t++) {
		states[t] = calloc(1, sizeof(client_state));
		SPT_INIT(states[t] ? 0 : -1);
		states[t]->t = t;
		states[t]->rnd = opt_seed * 2654435761u + (unsigned)t * 40503u + 1;
		snprintf(states[t]->installer, sizeof(states[t]->installer), "inst%d", t);
		snprintf(states[t]->project, sizeof(states[t]->project), "prj%d", t);
	}
	SPT_INIT(spt_billingd_start(&srv, NULL));
	publish_target();
	SPT_INIT(seed());
	printf("PurchaseCredits: %s\n",
	       atomic_load(&purchases_supported) ? "in the mix" : "UNIMPLEMENTED, skipped");
	/* the seeded items: through the harness's own CreateItems path */
	for (int t = 0; t < opt_threads; t++)
		for (int b = 0; b < ITEMS_SEEDED / ITEMS_BATCH; b++) {
			states[t]->seq++;
			op_create_items(states[t]);
		}
	SPT_INIT(atomic_load(&n_unexpected) == 0 && atomic_load(&n_never_answered) == 0 ? 0 : -1);
	spt_billingd_kill(&srv); /* the seeding instance ran without faults */
	SPT_INIT(restart(opt_fault));
	return 0;
}

static int suite_clean(void)
{
	spt_billingd_free(&srv);
	for (int t = 0; t < opt_threads; t++)
		free(states[t]);
	return 0;
}

/* K client threads under SIGKILLs and fault points, then one last
 * instance without faults so every call gets its answer. */
static void test_kills_at_random_and_at_fault_points_every_call_answered(void)
{
	pthread_t th[MAX_THREADS];
	int started = 0, rc;

	for (int t = 0; t < opt_threads; t++)
		if (pthread_create(&th[t], NULL, client_main, states[t]) == 0)
			started++;
	CU_ASSERT_EQUAL(started, opt_threads);
	rc = chaos(opt_seed);
	if (rc != 0) {
		atomic_store(&stop_ops, 1);
		restart(NULL);
	}
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	SPT_CHECK(rc == 0, "billingd does not restart; see %s", srv.log_path);
	SPT_CHECK(kills_killer + kills_fault >= opt_kills, "%d kills survived, %d wanted",
		  kills_killer + kills_fault, opt_kills);
	SPT_CHECK(atomic_load(&n_never_answered) == 0, "%ld calls never answered",
		  atomic_load(&n_never_answered));
	SPT_CHECK(atomic_load(&n_unexpected) == 0, "%ld unexpected answers",
		  atomic_load(&n_unexpected));
}

static void test_nothing_acknowledged_lost_nothing_applied_twice(void)
{
	spt_sleep_ms(3000); /* a few reconciler rounds */
	SPT_CHECK(verify() == 0, "no verifier client");
	SPT_CHECK(lost == 0, "%ld acknowledged effects lost", lost);
	SPT_CHECK(twice == 0, "%ld effects applied twice", twice);
	SPT_CHECK(check_errors == 0, "%ld verification calls failed", check_errors);
}

static void test_clean_stop_and_ledger_check(void)
{
	char ledger_out[256] = "";
	int ledger_rc;
	long ops[5] = {0};

	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0);
	ledger_rc = spt_billingd_check_data(&srv, spt_arg("ledger_check"), ledger_out,
					    sizeof(ledger_out));
	SPT_CHECK(ledger_rc == 0, "ledger_check: %s (exit %d)", ledger_out, ledger_rc);
	for (int t = 0; t < opt_threads; t++)
		for (int k = 0; k < 5; k++)
			ops[k] += states[t]->ops[k];

	printf("\nkills survived: %d (killer SIGKILL %d, fault points %d); failed starts %d\n",
	       kills_killer + kills_fault, kills_killer, kills_fault, restarts_failed);
	printf("mutations acknowledged: %ld OK + %ld refused (of %ld calls incl. reads); calls "
	       "that got no answer at first: %ld (%ld retries); never answered: %ld\n",
	       atomic_load(&n_acked), atomic_load(&n_ack_errors), atomic_load(&n_calls),
	       atomic_load(&n_no_answer_calls), atomic_load(&n_no_answer_attempts),
	       atomic_load(&n_never_answered));
	printf("effects: %ld assigns, %ld activations, %ld renewals, %ld purchases, %ld item "
	       "batches\n",
	       ops[0], ops[1], ops[2], ops[3], ops[4]);
	printf("lost: %ld\napplied twice: %ld\nunexpected answers: %ld\nverification errors: %ld\n",
	       lost, twice, atomic_load(&n_unexpected), check_errors);
	printf("ledger_check: %s (exit %d)\n", ledger_out, ledger_rc);
	if (orphans || extra_orders)
		printf("NOTE: %ld orders left unsettled, %ld extra orders for an already-ordered "
		       "quote (see the report: R10 orphans after payments.after_provider)\n",
		       orphans, extra_orders);
}

static CU_TestInfo tests[] = {
	{"SIGKILLs at random moments and at fault points: every call answered, none unexpected",
	 test_kills_at_random_and_at_fault_points_every_call_answered},
	{"the model check: nothing acknowledged is lost, nothing applied twice",
	 test_nothing_acknowledged_lost_nothing_applied_twice},
	{"billingd stops cleanly and the ledger passes ledger_check",
	 test_clean_stop_and_ledger_check},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"crash recovery", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv,
			"BILLINGD LEDGER_CHECK [--kills N] [--threads K] [--seed S] "
			"[--max-seconds T] [--fault SPEC]",
			suites);
}
