/*
 * The crash test of automatic renewal: hundreds of AUTO items, one big
 * AdvanceClock (to a year ahead; another year while fewer than the wanted
 * kills have landed) repeated in a loop while another thread kills
 * billingd with SIGKILL at a random moment of each call; after each kill billingd is
 * restarted on the same data (the test clock persists) and the loop goes
 * on until the clock reaches the target. Then: every period of every item
 * was charged exactly once (SUCCEEDED AUTO_RENEWAL orders, one per (item,
 * period), each with its own sandbox PaymentIntent keyed by the order id),
 * none was skipped, nothing is left PROCESSING or FAILED, and every item's
 * expiry is its activation expiry + 30 days x its renewals.
 *
 * With NODE and the fake provider's script as extra arguments, billingd runs
 * --payments live against the fake Stripe, and the fake's own count of
 * charges per Idempotency-Key is checked too: exactly one per order.
 *
 * SPB_CRASH_ITEMS (default 300), SPB_CRASH_KILLS (default 12) and
 * SPB_CRASH_MAX_DELAY_MS (default 150: the kill lands within this long of
 * a call's start) tune it.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_ITEMS 1000
#define MAX_PERIODS 130
#define MAX_YEARS 10

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
		if (in_call && call_gen == g && h_pid() > 0) {
			kill(h_pid(), SIGKILL);
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
	if (o->status == O_FAILED)
		w->failed++;
	if (o->status != O_SUCCEEDED) {
		w->processing += o->status == O_PROCESSING;
		return;
	}
	w->charges++;
	snprintf(pi, sizeof(pi), "pi_sandbox_%s", o->order_id);
	if (w->live ? (strncmp(o->stripe_payment_intent_id, "pi_", 3) != 0 || o->sandbox)
		    : (strcmp(o->stripe_payment_intent_id, pi) != 0 || !o->sandbox))
		w->bad_pi++;
	if (o->total != 500)
		w->bad_pi++;
	if (w->n_ok == w->cap_ok) {
		w->cap_ok = w->cap_ok ? 2 * w->cap_ok : 1024;
		w->ok_ids = realloc(w->ok_ids, (size_t)w->cap_ok * sizeof(*w->ok_ids));
	}
	snprintf(w->ok_ids[w->n_ok++], 48, "%s", o->order_id);
	for (int i = 0; i < it->n && i < MAX_PERIODS; i++)
		if (it->periods[i] == h_ts(o->lines[0]->current_expires_at))
			it->dup++;
	if (it->n < MAX_PERIODS)
		it->periods[it->n] = h_ts(o->lines[0]->current_expires_at);
	else
		it->overflow = 1;
	it->n++;
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
		it->expires_at = h_ts(i->expires_at);
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	char **buf = arg;
	size_t old = *buf ? strlen(*buf) : 0;
	char *nb = realloc(*buf, old + sz * n + 1);
	if (!nb)
		return 0;
	memcpy(nb + old, p, sz * n);
	nb[old + sz * n] = 0;
	*buf = nb;
	return sz * n;
}

/* The fake provider's charges per idempotency key, checked against the
 * SUCCEEDED orders: *keys ord_ar_ keys charged, *multi charged more than
 * once, *unknown charged without a SUCCEEDED order, *uncharged the other
 * way round. 0 or -1. */
static int fake_charges(const char *url, const world *w, int *keys, int *multi, int *unknown,
			int *uncharged, int *total)
{
	char stats[96], *body = NULL;
	CURL *c = curl_easy_init();
	json_t *root, *charges;
	const char *key;
	json_t *v;
	int rc = -1;

	*keys = *multi = *unknown = *uncharged = *total = 0;
	snprintf(stats, sizeof(stats), "%s/_stats", url);
	curl_easy_setopt(c, CURLOPT_URL, stats);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	if (curl_easy_perform(c) == CURLE_OK && body && (root = json_loads(body, 0, NULL))) {
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
		rc = 0;
	}
	free(body);
	curl_easy_cleanup(c);
	return rc;
}

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *v = getenv(name);
	int x = v ? (int)strtol(v, NULL, 10) : def;
	return x < lo ? lo : x > hi ? hi : x;
}

int main(int argc, char **argv)
{
	static world w;
	char **ids;
	int64_t t0 = 0, e0, now, target, last_ack;
	int n_items = env_int("SPB_CRASH_ITEMS", 300, 1, MAX_ITEMS);
	int restarts = 0, calls = 0, ran_total = 0, periods_each = 0, missing = 0, wrong_expiry = 0;
	int wrong_periods = 0, dups = 0, clock_back = 0, start_failed = 0;
	pthread_t kt;
	struct timespec t_start, t_end;

	char fake_url[64] = "";
	int f_keys = 0, f_multi = 0, f_unknown = 0, f_uncharged = 0, f_total = 0;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: %s BILLINGD [NODE PROVIDER_JS]\n", argv[0]);
		return 2;
	}
	kills_wanted = env_int("SPB_CRASH_KILLS", 12, 0, 1000);
	max_delay_ms = env_int("SPB_CRASH_MAX_DELAY_MS", 150, 1, 60000);
	h_begin(argc == 4 ? "kill -9 during renewals charged at the fake Stripe: each period "
			    "charged once"
			  : "kill -9 during renewals (sandbox): each period charged once");
	if (h_init(argv[1]) != 0) {
		fprintf(stderr, "cannot create a data directory\n");
		return 1;
	}
	if (argc == 4) {
		if (h_fake_start(argv[2], argv[3], fake_url) != 0) {
			fprintf(stderr, "cannot start the fake provider\n");
			h_cleanup();
			return 1;
		}
		h_use_live(fake_url);
		w.live = 1;
	}
	if (h_start() != 0) {
		fprintf(stderr, "cannot start billingd\n");
		h_cleanup();
		return 1;
	}
	w.n_items = n_items;
	ids = calloc((size_t)n_items, sizeof(*ids));
	for (int i = 0; i < n_items; i++) {
		snprintf(w.items[i].id, sizeof(w.items[i].id), "c_%03d", i);
		ids[i] = w.items[i].id;
	}
	CHECK(h_price(COMM, S_APP, 500, 5) == 0, "price");
	CHECK(h_account("cd", R_DISTRIBUTOR, "vendor") == 0, "account");
	CHECK(h_account("ci", R_INSTALLER, "cd") == 0, "account");
	CHECK(h_project("cp", "ci", COMM, NULL) == 0, "project");
	CHECK(h_items("cp", S_APP, "c_", n_items) == 0, "%d items", n_items);
	if (h_activate("cd", "ci", COMM, "cp", 1, STRIPE, "pm_card_visa", &t0) != 0 && w.live &&
	    strcmp(spb_error_last()->reason, "PROVIDER_UNAVAILABLE") == 0) {
		/* This billingd has no live provider linked in (pay_live_provider):
		 * nothing to test against the fake. Reported as a skip. */
		printf("SKIP  %s: billingd has no live payment provider linked in\n", h_scenario);
		h_stop(SIGTERM);
		h_cleanup();
		free(ids);
		return 77;
	}
	CHECK(t0 != 0, "activate all");
	CHECK(h_auto(ids, (size_t)n_items, 1, "cd", STRIPE, "pm_card_visa", 0, 0) == 0,
	      "all on AUTO");
	e0 = t0 + MONTH;
	target = t0 + 365 * DAY;
	now = last_ack = t0;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	pthread_create(&kt, NULL, killer, (void *)(uintptr_t)time(NULL));
	for (;;) {
		int64_t got = 0;
		int ran = 0, rc;
		/* A year at a time until enough kills have landed. */
		if (now >= target) {
			if (kills >= kills_wanted || target >= t0 + MAX_YEARS * 365 * DAY)
				break;
			target += 365 * DAY;
		}
		if (start_failed)
			break;
		pthread_mutex_lock(&mu);
		in_call = 1;
		call_gen++;
		pthread_cond_signal(&started);
		pthread_mutex_unlock(&mu);
		rc = h_advance(target - now, &got, &ran);
		pthread_mutex_lock(&mu);
		in_call = 0;
		pthread_mutex_unlock(&mu);
		calls++;
		if (rc == 0) {
			now = last_ack = got;
			ran_total += ran;
			continue;
		}
		/* Killed mid-jump (or failed): restart on the same data. */
		h_stop(SIGKILL);
		restarts++;
		if (h_start() != 0) {
			CHECK(0, "restart %d", restarts);
			start_failed = 1;
			break;
		}
		rc = h_advance(1, &got, NULL); /* where the persisted clock is */
		CHECK(rc == 0, "probe the clock after restart %d", restarts);
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

	/* Verify, through the API, on the last billingd. */
	CHECK(h_orders("cd", T_AUTO, on_order, &w) == 0, "ListOrders");
	CHECK(h_list_items("cp", on_item, &w) == 0, "ListItems");
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
	CHECK(kills >= 10 || kills_wanted < 10, "at least 10 kills, got %d", kills);
	CHECK(dups == 0, "%d periods charged twice", dups);
	CHECK(missing == 0, "%d items missed a period", missing);
	CHECK(w.charges == n_items * periods_each, "charges %d = items %d x periods %d", w.charges,
	      n_items, periods_each);
	CHECK(wrong_periods == 0, "%d items with a period out of sequence", wrong_periods);
	CHECK(wrong_expiry == 0, "%d items whose expiry is not E0 + 30d x renewals", wrong_expiry);
	CHECK(w.processing == 0 && w.failed == 0, "%d PROCESSING, %d FAILED left", w.processing,
	      w.failed);
	CHECK(w.bad_pi == 0, "%d charges without their own sandbox PaymentIntent", w.bad_pi);
	CHECK(clock_back == 0, "the test clock went back %d times across restarts", clock_back);
	if (w.live) {
		CHECK(fake_charges(fake_url, &w, &f_keys, &f_multi, &f_unknown, &f_uncharged,
				   &f_total) == 0,
		      "fake provider stats");
		CHECK(f_multi == 0 && f_total == f_keys, "%d keys charged more than once", f_multi);
		CHECK(f_keys == w.charges && f_unknown == 0 && f_uncharged == 0,
		      "provider charges %d = SUCCEEDED orders %d (unknown %d, uncharged %d)",
		      f_keys, w.charges, f_unknown, f_uncharged);
		printf("fake Stripe: %d charges under %d idempotency keys\n", f_total, f_keys);
	}
	printf("crash test: items %d, kills %d (restarts %d), AdvanceClock calls %d, charges %d, "
	       "periods %d (%d per item, clock T0+%lldd), duplicates %d, missing %d, "
	       "wrong expiries %d, in-flight orders resumed after a kill %d, %.1f s\n",
	       n_items, kills, restarts, calls, w.charges, n_items * periods_each, periods_each,
	       (long long)((now - t0) / DAY), dups, missing, wrong_expiry,
	       h_log_sum("auto-renew: resumed "),
	       (double)(t_end.tv_sec - t_start.tv_sec) + (t_end.tv_nsec - t_start.tv_nsec) / 1e9);
	h_end();
	h_stop(SIGTERM);
	h_cleanup();
	free(ids);
	free(w.ok_ids);
	(void)ran_total;
	return h_report();
}
