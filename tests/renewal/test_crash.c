/*
 * The crash test of automatic renewal: hundreds of AUTO items, one big
 * AdvanceClock (to a year ahead; another year while fewer than the wanted
 * kills have landed) repeated in a loop while another thread kills
 * billingd with SIGKILL at a random moment of each call; after each kill billingd is
 * restarted on the same data (the test clock persists) and the loop goes
 * on until the clock reaches the target. Then: every period of every item
 * was charged exactly once (the items form one renewal group: SUCCEEDED
 * AUTO_RENEWAL orders, one per period with a line per item, each with its
 * own sandbox PaymentIntent keyed by the order id),
 * none was skipped, nothing is left PROCESSING or FAILED, and every item's
 * expiry is its activation expiry + 30 days x its renewals.
 *
 * With NODE and the fake provider's script as extra arguments, billingd runs
 * --payments live against the fake Stripe, and the fake's own count of
 * charges per Idempotency-Key is checked too: exactly one per order.
 *
 * Two CUnit tests: the kill loop, then the verification.
 *
 * SPB_CRASH_ITEMS (default 300), SPB_CRASH_KILLS (default 12) and
 * SPB_CRASH_MAX_DELAY_MS (default 150: the kill lands within this long of
 * a call's start) tune it.
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spt_billingd.h"
#include "spt_fake.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define DAY SPT_DAY_US
#define MONTH SPT_MONTH_US

#define MAX_ITEMS 1000
#define MAX_PERIODS 130
#define MAX_YEARS 10

static spt_billingd srv;
static spt_fake fake;
static spb_client *cli; /* the vendor, on the running instance */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started = PTHREAD_COND_INITIALIZER;
static int in_call, call_gen, kills, killer_stop, kills_wanted = 12;
static int max_delay_ms = 150;

/* For every AdvanceClock call, picks a random moment within max_delay_ms
 * of its start and kills billingd then if the call is still running. */
static void *killer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	int seen = 0;
	for (;;) {
		int g;
		pthread_mutex_lock(&mu);
		while (!killer_stop && kills < kills_wanted && (!in_call || call_gen == seen))
			pthread_cond_wait(&started, &mu);
		if (killer_stop || kills >= kills_wanted) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		g = seen = call_gen;
		pthread_mutex_unlock(&mu);
		usleep((useconds_t)(rand_r(&seed) % ((unsigned)max_delay_ms * 1000)));
		pthread_mutex_lock(&mu);
		if (in_call && call_gen == g && srv.pid > 0) {
			kill(srv.pid, SIGKILL);
			kills++;
			in_call = 0;
		}
		pthread_mutex_unlock(&mu);
	}
}

typedef struct item_rec {
	char id[16];
	int n;                        /* SUCCEEDED renewals */
	int64_t periods[MAX_PERIODS]; /* the expires_at each one extended */
	int dup, overflow;
	int64_t expires_at;
} item_rec;

typedef struct world {
	item_rec items[MAX_ITEMS];
	int n_items;
	int live;
	int charges, failed, processing, bad_pi, foreign;
	char (*ok_ids)[48]; /* SUCCEEDED order ids */
	int n_ok, cap_ok;
} world;

static item_rec *find(world *w, const char *id)
{
	int k = (int)strtol(id + 2, NULL, 10); /* "c_NNN" */
	if (strncmp(id, "c_", 2) != 0 || k < 0 || k >= w->n_items)
		return NULL;
	return &w->items[k];
}

static void on_order(const Smartplus__Billing__V1__Order *o, void *arg)
{
	world *w = arg;
	item_rec *it = o->n_lines ? find(w, o->lines[0]->item_id) : NULL;
	char pi[80];
	if (!it) {
		w->foreign++;
		return;
	}
	if (o->status == OSTATUS(FAILED))
		w->failed++;
	if (o->status != OSTATUS(SUCCEEDED)) {
		w->processing += o->status == OSTATUS(PROCESSING);
		return;
	}
	w->charges++;
	snprintf(pi, sizeof(pi), "pi_sandbox_%s", o->order_id);
	if (w->live ? (strncmp(o->stripe_payment_intent_id, "pi_", 3) != 0 || o->sandbox)
		    : (strcmp(o->stripe_payment_intent_id, pi) != 0 || !o->sandbox))
		w->bad_pi++;
	if (o->total != 500 * (int64_t)o->n_lines)
		w->bad_pi++;
	if (w->n_ok == w->cap_ok) {
		w->cap_ok = w->cap_ok ? 2 * w->cap_ok : 1024;
		w->ok_ids = realloc(w->ok_ids, (size_t)w->cap_ok * sizeof(*w->ok_ids));
	}
	snprintf(w->ok_ids[w->n_ok++], 48, "%s", o->order_id);
	/* one renewal group: one order per period, a line per item */
	for (size_t l = 0; l < o->n_lines; l++) {
		int64_t period = spt_ts_us(o->lines[l]->current_expires_at);
		it = find(w, o->lines[l]->item_id);
		if (!it) {
			w->foreign++;
			continue;
		}
		for (int i = 0; i < it->n && i < MAX_PERIODS; i++)
			if (it->periods[i] == period)
				it->dup++;
		if (it->n < MAX_PERIODS)
			it->periods[it->n] = period;
		else
			it->overflow = 1;
		it->n++;
	}
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void on_item(const Smartplus__Billing__V1__Item *i, void *arg)
{
	item_rec *it = find(arg, i->item_id);
	if (it)
		it->expires_at = spt_ts_us(i->expires_at);
}

/* The fake provider's charges per idempotency key, checked against the
 * SUCCEEDED orders: *keys ord_ar_ keys charged, *multi charged more than
 * once, *unknown charged without a SUCCEEDED order, *uncharged the other
 * way round. 0 or -1. */
static int fake_charges(const world *w, int *keys, int *multi, int *unknown, int *uncharged,
			int *total)
{
	json_t *root = spt_fake_stats(&fake), *charges;
	const char *key;
	json_t *v;

	*keys = *multi = *unknown = *uncharged = *total = 0;
	if (!root)
		return -1;
	charges = json_object_get(root, "charges");
	json_object_foreach(charges, key, v)
	{
		int found = 0;
		if (strncmp(key, "ord_ar_", 7) != 0)
			continue;
		(*keys)++;
		*total += (int)json_integer_value(v);
		*multi += json_integer_value(v) != 1;
		for (int i = 0; i < w->n_ok && !found; i++)
			found = strcmp(w->ok_ids[i], key) == 0;
		*unknown += !found;
	}
	for (int i = 0; i < w->n_ok; i++)
		*uncharged += json_object_get(charges, w->ok_ids[i]) == NULL;
	json_decref(root);
	return 0;
}

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *v = getenv(name);
	int x = v ? (int)strtol(v, NULL, 10) : def;
	return x < lo ? lo : x > hi ? hi : x;
}

static world w;
static char **ids;
static int n_items;
static int64_t t0, e0, now;
static int restarts, calls;
static struct timespec t_start, t_end;

/* Connects to the instance that runs now. */
static int connect_client(void)
{
	spb_client_free(cli);
	cli = spt_client_to(srv.target, srv.admin_key, 600000);
	return cli ? 0 : -1;
}

static int suite_init(void)
{
	static const char *const env[] = {"STRIPE_SECRET_KEY=sk_test_renewal", NULL};
	spt_billingd_options o = SPT_BILLINGD_OPTIONS_INIT;
	const char *args[] = {"--test-clock", "--payments", "live", "--stripe-url", NULL, NULL};

	n_items = env_int("SPB_CRASH_ITEMS", 300, 1, MAX_ITEMS);
	kills_wanted = env_int("SPB_CRASH_KILLS", 12, 0, 1000);
	max_delay_ms = env_int("SPB_CRASH_MAX_DELAY_MS", 150, 1, 60000);
	if (spt_arg("node")) {
		SPT_INIT(spt_fake_start(&fake, NULL, NULL));
		args[4] = fake.url;
		o.env = env;
		w.live = 1;
	} else {
		args[1] = NULL; /* sandbox payments */
	}
	o.args = args;
	SPT_INIT(spt_billingd_start_opts(&srv, &o));
	SPT_INIT(connect_client());
	w.n_items = n_items;
	ids = calloc((size_t)n_items, sizeof(*ids));
	SPT_INIT(ids ? 0 : -1);
	for (int i = 0; i < n_items; i++) {
		snprintf(w.items[i].id, sizeof(w.items[i].id), "c_%03d", i);
		ids[i] = w.items[i].id;
	}
	SPT_INIT(spt_set_price(cli, PTYPE(COMMUNITY), STYPE(APP), 500, 5));
	SPT_INIT(spt_create_account(cli, NULL, "cd", ROLE(DISTRIBUTOR), "vendor"));
	SPT_INIT(spt_create_account(cli, NULL, "ci", ROLE(INSTALLER), "cd"));
	SPT_INIT(spt_create_project(cli, NULL, "cp", "ci", PTYPE(COMMUNITY), NULL, 0));
	SPT_INIT(spt_create_items(cli, NULL, "cp", STYPE(APP), "c_", n_items));
	SPT_INIT(spt_activate_project(cli, NULL, "cd", "ci", PTYPE(COMMUNITY), "cp", 1,
				      METHOD(STRIPE), "pm_card_visa", &t0));
	SPT_INIT(spt_set_auto_renew(cli, ids, (size_t)n_items, 1, "cd", METHOD(STRIPE),
				    "pm_card_visa", 0, 0));
	SPT_INIT(t0 != 0 ? 0 : -1); /* the server's now, from the quote */
	e0 = t0 + MONTH;
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(cli);
	cli = NULL;
	spt_billingd_free(&srv);
	spt_fake_stop(&fake);
	free(ids);
	free(w.ok_ids);
	return 0;
}

/* AdvanceClock a year at a time while the killer thread SIGKILLs billingd
 * within max_delay_ms of each call's start; after each kill billingd is
 * restarted on the same data and the persisted clock probed. */
static void test_kills_during_renewal_runs_restart_on_the_same_data(void)
{
	int64_t target = t0 + 365 * DAY, last_ack = t0;
	int clock_back = 0;
	pthread_t kt;

	now = t0;
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&kt, NULL, killer, (void *)(uintptr_t)time(NULL)), 0);
	for (;;) {
		int64_t got = 0;
		int ran = 0, rc;
		/* A year at a time until enough kills have landed. */
		if (now >= target) {
			if (kills >= kills_wanted || target >= t0 + MAX_YEARS * 365 * DAY)
				break;
			target += 365 * DAY;
		}
		pthread_mutex_lock(&mu);
		in_call = 1;
		call_gen++;
		pthread_cond_signal(&started);
		pthread_mutex_unlock(&mu);
		rc = spt_advance_clock(cli, target - now, &got, &ran);
		pthread_mutex_lock(&mu);
		in_call = 0;
		pthread_mutex_unlock(&mu);
		calls++;
		if (rc == 0) {
			now = last_ack = got;
			continue;
		}
		/* Killed mid-jump (or failed): restart on the same data. */
		spt_billingd_kill(&srv);
		restarts++;
		rc = spt_billingd_restart(&srv) == 0 ? connect_client() : -1;
		SPT_CHECK(rc == 0, "restart %d", restarts);
		if (rc != 0)
			break;
		rc = spt_advance_clock(cli, 1, &got, NULL); /* where the persisted clock is */
		SPT_CHECK(rc == 0, "probe the clock after restart %d", restarts);
		if (rc == 0) {
			clock_back += got < last_ack;
			now = got;
		}
	}
	pthread_mutex_lock(&mu);
	killer_stop = 1;
	pthread_cond_signal(&started);
	pthread_mutex_unlock(&mu);
	pthread_join(kt, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t_end);
	SPT_CHECK(kills >= 10 || kills_wanted < 10, "at least 10 kills, got %d", kills);
	SPT_CHECK(clock_back == 0, "the test clock went back %d times across restarts", clock_back);
}

/* Verify, through the API, on the last billingd. */
static void test_every_period_charged_exactly_once(void)
{
	int periods_each = 0, missing = 0, wrong_expiry = 0, wrong_periods = 0, dups = 0;
	int f_keys = 0, f_multi = 0, f_unknown = 0, f_uncharged = 0, f_total = 0;

	SPT_CHECK(spt_each_order(cli, "cd", OTYPE(AUTO_RENEWAL), on_order, &w) == 0, "ListOrders");
	SPT_CHECK(spt_each_item(cli, "cp", on_item, &w) == 0, "ListItems");
	for (int64_t at = e0 - DAY; at <= now; at += MONTH)
		periods_each++;
	for (int i = 0; i < n_items; i++) {
		item_rec *it = &w.items[i];
		int n = it->n < MAX_PERIODS ? it->n : MAX_PERIODS;
		dups += it->dup;
		missing += it->n < periods_each;
		wrong_expiry += it->expires_at != e0 + (int64_t)it->n * MONTH;
		qsort(it->periods, (size_t)n, sizeof(int64_t), cmp64);
		for (int k = 0; k < n; k++)
			if (it->periods[k] != e0 + k * MONTH) {
				wrong_periods++;
				break;
			}
	}
	SPT_CHECK(dups == 0, "%d periods charged twice", dups);
	SPT_CHECK(missing == 0, "%d items missed a period", missing);
	SPT_CHECK(w.charges == periods_each,
		  "charges %d = periods %d (one renewal group of %d items: one order per period)",
		  w.charges, periods_each, n_items);
	SPT_CHECK(wrong_periods == 0, "%d items with a period out of sequence", wrong_periods);
	SPT_CHECK(wrong_expiry == 0, "%d items whose expiry is not E0 + 30d x renewals",
		  wrong_expiry);
	SPT_CHECK(w.processing == 0 && w.failed == 0, "%d PROCESSING, %d FAILED left", w.processing,
		  w.failed);
	SPT_CHECK(w.bad_pi == 0, "%d charges without their own sandbox PaymentIntent", w.bad_pi);
	if (w.live) {
		SPT_CHECK(fake_charges(&w, &f_keys, &f_multi, &f_unknown, &f_uncharged, &f_total) ==
				  0,
			  "fake provider stats");
		SPT_CHECK(f_multi == 0 && f_total == f_keys, "%d keys charged more than once",
			  f_multi);
		SPT_CHECK(f_keys == w.charges && f_unknown == 0 && f_uncharged == 0,
			  "provider charges %d = SUCCEEDED orders %d (unknown %d, uncharged %d)",
			  f_keys, w.charges, f_unknown, f_uncharged);
		printf("\nfake Stripe: %d charges under %d idempotency keys\n", f_total, f_keys);
	}
	printf("\ncrash test (%s): items %d, kills %d (restarts %d), AdvanceClock calls %d, "
	       "charges %d, periods %d (%d per item, clock T0+%lldd), duplicates %d, missing %d, "
	       "wrong expiries %d, in-flight orders resumed after a kill %ld, %.1f s\n",
	       w.live ? "fake Stripe" : "sandbox", n_items, kills, restarts, calls, w.charges,
	       n_items * periods_each, periods_each, (long long)((now - t0) / DAY), dups, missing,
	       wrong_expiry, spt_billingd_log_sum(&srv, "auto-renew: resumed "),
	       (double)(t_end.tv_sec - t_start.tv_sec) + (t_end.tv_nsec - t_start.tv_nsec) / 1e9);
}

static CU_TestInfo tests[] = {
	{"kill -9 during AdvanceClock renewal runs: billingd restarts on the same data, the clock "
	 "never goes back",
	 test_kills_during_renewal_runs_restart_on_the_same_data},
	{"every period of every AUTO item charged exactly once, none skipped, none left PROCESSING "
	 "or FAILED",
	 test_every_period_charged_exactly_once},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"renewal crash", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD [NODE] [PROVIDER_JS]", suites);
}
