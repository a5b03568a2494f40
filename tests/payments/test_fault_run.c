/*
 * The payments fault run (issue 13): concurrent checkouts through the real
 * billingd against the provider fake while it injects faults (500s saved
 * and replayed, 500s after the charge, unsaved 500s, 429 with Retry-After,
 * 409 lock_timeout, answers dropped after the charge, slow answers,
 * declines), duplicates and reorders its webhooks, has its clock jumped
 * past 24 h mid-run (keys pruned), sees cancels racing payments and
 * captures, and billingd is killed with SIGKILL and restarted. The jump
 * moves the fake's clock first: until billingd's AdvanceClock lands the
 * provider is a day ahead, its keys pruned while billingd's replay window
 * says they live (a create re-sent then would charge twice). At the end
 * every order is settled and tools/charge_audit compares the fake's
 * captures with the stopped store; an order it names gets its story from
 * the fake (captures, every request about it, the clock jumps).
 *
 *   test_fault_run <billingd> <node> <provider.js> <charge_audit>
 *                  [--checkouts N] [--threads T] [--kills K] [--seed S]
 *
 * The suite runs a short version; a long one by hand, e.g.
 *   build/tests/payments/test_fault_run build/server/billingd $(which node) \
 *     tests/fakes/provider.js build/tools/charge_audit/charge_audit --checkouts 2000 --kills 10
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakectl.h"
#include "payments/http.h"
#include "payworld.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define PAYPAL V1(PAYMENT_METHOD__PAYMENT_METHOD_PAYPAL)
#define O_PENDING V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT)
#define O_PROCESSING V1(ORDER_STATUS__ORDER_STATUS_PROCESSING)
#define O_SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define O_CANCELED V1(ORDER_STATUS__ORDER_STATUS_CANCELED)
#define DAY_S (24 * 3600)

static int failures, checks;
#define CHECK(cond, ...)                                                               \
	do {                                                                           \
		__sync_fetch_and_add(&checks, 1);                                      \
		if (!(cond)) {                                                         \
			__sync_fetch_and_add(&failures, 1);                            \
			fprintf(stderr, "FAIL %s:%d %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                  \
			fprintf(stderr, "\n");                                         \
		}                                                                      \
	} while (0)

static pw_world w;
static int n_checkouts = 40, n_threads = 8, n_kills = 1, seed = 7;

/* The run's shared state: the next checkout, the server generation (each
 * restart gets a new port: threads make new clients), the orders. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int next_i, generation, done_i;
static char (*order_ids)[64];
static int cancels_raced, unavailable, kills, jumps, jump_failures;

typedef struct worker {
	pw_world me; /* w with this thread's own client */
	int gen;
	unsigned rnd;
} worker;

static void fresh_client(worker *k)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	pthread_mutex_lock(&lock);
	if (!k->me.cli || generation != k->gen) {
		spb_client_free(k->me.cli);
		k->me = w;
		o.api_key = w.srv.admin_key;
		o.max_retries = 0;
		o.default_deadline_ms = 15000;
		k->me.cli = spb_client_new(w.srv.target, &o);
		k->gen = generation;
	}
	pthread_mutex_unlock(&lock);
}

typedef struct racer {
	worker *k;
	const char *id;
} racer;

static void *cancel_thread(void *arg)
{
	racer *r = arg;
	pw_world me = r->k->me;
	pw_outcome o;
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;
	opts.api_key = w.srv.admin_key;
	opts.max_retries = 0;
	me.cli = spb_client_new(r->k->me.srv.target, &opts);
	pw_cancel(&me, r->id, &o);
	pw_outcome_free(&o);
	spb_client_free(me.cli);
	http_thread_cleanup();
	return NULL;
}

/* The buyer pays at the provider (Stripe confirm by the app, PayPal
 * approval) while, sometimes, a CancelOrder for the same order runs. */
static void buyer_acts(worker *k, const pw_outcome *o, int method, int threeds)
{
	char body[200], path[200];
	racer r = {k, o->order_id};
	pthread_t t;
	int race = rand_r(&k->rnd) % 3 == 0;
	if (race) {
		__sync_fetch_and_add(&cancels_raced, 1);
		pthread_create(&t, NULL, cancel_thread, &r);
	}
	if (method == PAYPAL) {
		snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", o->order->paypal_order_id);
		fakectl_ctl(body); /* the webhook makes billingd capture */
		if (rand_r(&k->rnd) % 2) {
			pw_outcome c;
			pw_confirm(&k->me, o->order_id, &c);
			pw_outcome_free(&c);
		}
	} else if (o->order->stripe_client_secret[0] &&
		   !strncmp(o->order->stripe_payment_intent_id, "pi_", 3)) {
		if (threeds) {
			snprintf(body, sizeof(body), "{\"authenticate\":\"%s\"}",
				 o->order->stripe_payment_intent_id);
			fakectl_ctl(body);
		} else {
			json_t *j;
			snprintf(path, sizeof(path), "/v1/payment_intents/%s/confirm",
				 o->order->stripe_payment_intent_id);
			j = fakectl_call("POST", path, "payment_method=pm_card_visa",
					 "sk_test_truths", NULL, NULL);
			json_decref(j);
		}
	}
	if (race)
		pthread_join(t, NULL);
}

static void one_checkout(worker *k, int i)
{
	char project[32];
	pw_outcome o;
	int kind = i % 4, method = kind == 2 ? PAYPAL : STRIPE, code = -1;
	const char *pm = kind == 0   ? "pm_card_visa"
			 : kind == 3 ? "pm_card_authenticationRequired"
				     : NULL;
	snprintf(project, sizeof(project), "p_fr%d", i);
	for (int tries = 0; tries < 50; tries++) { /* the project itself, across kills */
		fresh_client(k);
		if (pw_project(&k->me, project) == 0 || tries > 0)
			break;
		usleep(100 * 1000);
	}
	for (int tries = 0; tries < 50 && code != 0; tries++) {
		fresh_client(k);
		code = pw_checkout(&k->me, project, method, pm, pm ? "cus_fr" : NULL, 0, &o);
		if (o.order_id[0])
			break; /* an order exists (OK, or its payment's error) */
		pw_outcome_free(&o);
		usleep(100 * 1000);
	}
	if (o.order_id[0]) {
		snprintf(order_ids[i], 64, "%s", o.order_id);
		if (code == 14)
			__sync_fetch_and_add(&unavailable, 1);
		if (code == 0 && o.order && o.order->status == O_PENDING)
			buyer_acts(k, &o, method, kind == 3);
	}
	pw_outcome_free(&o);
}

static void *worker_main(void *arg)
{
	worker *k = arg;
	for (;;) {
		int i;
		pthread_mutex_lock(&lock);
		i = next_i < n_checkouts ? next_i++ : -1;
		pthread_mutex_unlock(&lock);
		if (i < 0)
			break;
		one_checkout(k, i);
		pthread_mutex_lock(&lock);
		done_i++;
		pthread_mutex_unlock(&lock);
	}
	spb_client_free(k->me.cli);
	http_thread_cleanup(); /* this thread's curl handle (fakectl) */
	return NULL;
}

static int progress(void)
{
	int d;
	pthread_mutex_lock(&lock);
	d = done_i;
	pthread_mutex_unlock(&lock);
	return d;
}

static void kill_restart(void)
{
	pthread_mutex_lock(&lock);
	if (pw_kill_restart(&w) == 0)
		kills++;
	generation++;
	pthread_mutex_unlock(&lock);
	pw_hooks(&w);
}

/* Every order of the run's projects (a checkout whose answer a kill cut
 * off may have placed one the worker never heard of). */
static char (*all_ids)[64];
static size_t n_all;

static void collect_orders(void)
{
	size_t cap = (size_t)n_checkouts * 4 + 16;
	all_ids = calloc(cap, sizeof(*all_ids));
	n_all = 0;
	for (int i = 0; i < n_checkouts && n_all < cap; i++) {
		char project[32];
		snprintf(project, sizeof(project), "p_fr%d", i);
		n_all += pw_project_orders(&w, project, all_ids + n_all, cap - n_all);
	}
}

/* Every order settled: PENDING ones are timed out (their intents canceled
 * first) by reads after a 24 h jump; PROCESSING ones are asked again. */
static void settle_all(int *states)
{
	collect_orders();
	memset(states, 0, 8 * sizeof(int));
	for (int round = 0; round < 3; round++) {
		int open = 0;
		for (size_t i = 0; i < n_all; i++) {
			int st = pw_status(&w, all_ids[i]);
			if (st == O_PENDING || st == O_PROCESSING) {
				pw_outcome o;
				pw_confirm(&w, all_ids[i], &o);
				pw_outcome_free(&o);
				open++;
			}
		}
		if (!open)
			break;
		if (pw_advance(&w, DAY_S + 60) != 0) /* time-outs, key windows over */
			jump_failures++;
		jumps++;
		for (size_t i = 0; i < n_all; i++)
			pw_status(&w, all_ids[i]); /* an overdue read expires it */
		usleep(1000 * 1000);
	}
	for (size_t i = 0; i < n_all; i++) {
		int st = pw_status(&w, all_ids[i]);
		for (int t = 0; (st == O_PENDING || st == O_PROCESSING) && t < 100; t++) {
			usleep(100 * 1000);
			st = pw_status(&w, all_ids[i]);
		}
		if (st >= 0 && st < 8)
			states[st]++;
	}
}

/* Whether request r of the fake's log concerns order id (its keys, its
 * metadata, a search for it, or one of its intents / PayPal orders). */
static int about(json_t *r, const char *id, json_t *payments)
{
	const char *k = json_string_value(json_object_get(r, "key"));
	const char *path = json_string_value(json_object_get(r, "path"));
	json_t *prm = json_object_get(r, "params"), *pid;
	const char *q = json_string_value(json_object_get(prm, "query"));
	const char *mo = json_string_value(
		json_object_get(json_object_get(prm, "metadata"), "order_id"));
	size_t i;
	if ((k && strncmp(k, id, strlen(id)) == 0) || (q && strstr(q, id)) ||
	    (mo && strcmp(mo, id) == 0))
		return 1;
	json_array_foreach(payments, i, pid)
	{
		const char *p = json_string_value(pid);
		if (p && path && strstr(path, p))
			return 1;
	}
	return 0;
}

/* The fake's whole story of one order the audit named: its captures and
 * every request about it (fake-clock time, fault, status, replayed). */
static void print_order_story(const char *id)
{
	json_t *l = fakectl_call("GET", "/_ledger", NULL, NULL, NULL, NULL);
	json_t *rq = fakectl_call("GET", "/_requests", NULL, NULL, NULL, NULL);
	json_t *payments = json_array(), *c, *r;
	size_t i;
	json_array_foreach(json_object_get(l, "captures"), i, c)
	{
		const char *o = json_string_value(json_object_get(c, "order_id"));
		if (!o || strcmp(o, id) != 0)
			continue;
		json_array_append(payments, json_object_get(c, "payment_id"));
		printf("  capture %s of %s at %lld: %lld %s key %s\n",
		       json_string_value(json_object_get(c, "capture_id")),
		       json_string_value(json_object_get(c, "payment_id")),
		       (long long)json_integer_value(json_object_get(c, "time_ms")),
		       (long long)json_integer_value(json_object_get(c, "amount")),
		       json_string_value(json_object_get(c, "currency")),
		       json_string_value(json_object_get(c, "key")));
	}
	json_array_foreach(json_object_get(rq, "requests"), i, r)
	{
		const char *m = json_string_value(json_object_get(r, "method"));
		if (m && strcmp(m, "CLOCK") == 0) {
			printf("  the fake's clock at %lld: moved %lld s\n",
			       (long long)json_integer_value(json_object_get(r, "time_ms")),
			       (long long)json_integer_value(json_object_get(r, "advance_s")));
			continue;
		}
		if (!about(r, id, payments))
			continue;
		printf("  request at %lld: %s %s key %s fault %s -> %lld%s\n",
		       (long long)json_integer_value(json_object_get(r, "time_ms")),
		       json_string_value(json_object_get(r, "method")),
		       json_string_value(json_object_get(r, "path")),
		       json_string_value(json_object_get(r, "key")) ?: "-",
		       json_string_value(json_object_get(r, "fault")) ?: "-",
		       (long long)json_integer_value(json_object_get(r, "status")),
		       json_is_true(json_object_get(r, "replayed")) ? " (replayed)" : "");
	}
	json_decref(payments);
	json_decref(l);
	json_decref(rq);
}

static long stat(const char *name)
{
	return fakectl_stat(name);
}

int main(int argc, char **argv)
{
	const char *audit;
	pthread_t *t;
	worker *ks;
	int states[8], half_done = 0, killed = 0;
	char cmd[PATH_MAX + 1200], line[1024] = "";
	FILE *p;
	json_t *s, *faults, *v;
	const char *fk;

	if (argc < 5) {
		fprintf(stderr,
			"usage: test_fault_run <billingd> <node> <provider.js> <charge_audit> "
			"[--checkouts N] [--threads T] [--kills K] [--seed S]\n");
		return 2;
	}
	audit = argv[4];
	for (int i = 5; i + 1 < argc; i += 2) {
		int v2 = (int)strtol(argv[i + 1], NULL, 10);
		if (strcmp(argv[i], "--checkouts") == 0 && v2 > 0 && v2 <= 100000)
			n_checkouts = v2;
		else if (strcmp(argv[i], "--threads") == 0 && v2 > 0 && v2 <= 64)
			n_threads = v2;
		else if (strcmp(argv[i], "--kills") == 0 && v2 >= 0 && v2 <= 1000)
			n_kills = v2;
		else if (strcmp(argv[i], "--seed") == 0)
			seed = v2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (pw_start(&w, argv[1], argv[2], argv[3], NULL) != 0) {
		fprintf(stderr, "fault run: billingd or the fake did not start\n");
		pw_stop(&w, 1);
		return 1;
	}
	order_ids = calloc((size_t)n_checkouts, sizeof(*order_ids));
	snprintf(cmd, sizeof(cmd),
		 "{\"fault\":\"random\",\"rate\":0.25,\"seed\":%d,\"slow_ms\":400,"
		 "\"retry_after_s\":1,\"mix\":[\"500_saved\",\"500_after_charge\","
		 "\"500_unsaved\",\"429\",\"lock_timeout\",\"drop_after_charge\",\"slow\","
		 "\"decline\"],\"webhooks\":{\"duplicate\":0.3,\"reorder\":0.3}}",
		 seed);
	fakectl_ctl(cmd);
	t = calloc((size_t)n_threads, sizeof(*t));
	ks = calloc((size_t)n_threads, sizeof(*ks));
	for (int i = 0; i < n_threads; i++) {
		ks[i].rnd = (unsigned)(seed + i);
		pthread_create(&t[i], NULL, worker_main, &ks[i]);
	}
	/* While the workers run: a clock jump past 24 h at half-way, and the
	 * kills spread over the run. */
	for (int d; (d = progress()) < n_checkouts;) {
		if (!half_done && d >= n_checkouts / 2) {
			pthread_mutex_lock(&lock);
			if (pw_advance(&w, DAY_S + 60) != 0)
				jump_failures++;
			jumps++;
			pthread_mutex_unlock(&lock);
			half_done = 1;
		}
		if (killed < n_kills && d >= (killed + 1) * n_checkouts / (n_kills + 1)) {
			kill_restart();
			killed++;
		}
		usleep(50 * 1000);
	}
	for (int i = 0; i < n_threads; i++)
		pthread_join(t[i], NULL);
	fakectl_ctl("{\"fault\":\"none\",\"webhooks\":{\"duplicate\":0,\"reorder\":0}}");
	fakectl_ctl("{\"flush_webhooks\":true}");
	pw_webhooks_idle();
	settle_all(states);
	pw_webhooks_idle();

	s = fakectl_call("GET", "/_stats", NULL, NULL, NULL, NULL);
	printf("fault run: %d checkouts (%zu orders) on %d threads, seed %d\n", n_checkouts, n_all,
	       n_threads, seed);
	printf("fault run: provider requests %lld; faults injected:",
	       (long long)json_integer_value(json_object_get(s, "requests")));
	faults = json_object_get(s, "faults");
	json_object_foreach(faults, fk, v) printf(" %s=%lld", fk, (long long)json_integer_value(v));
	printf("\nfault run: key expiries crossed %ld (replays of saved answers %ld); clock jumps "
	       "past 24 h %d (%d failed)\n",
	       stat("keys_expired"), stat("replays"), jumps, jump_failures);
	printf("fault run: webhooks sent %ld, duplicated %ld, reordered %ld, delivered %ld, "
	       "refused %ld\n",
	       stat("webhooks.events"), stat("webhooks.duplicated"), stat("webhooks.reordered"),
	       stat("webhooks.delivered"), stat("webhooks.rejected"));
	printf("fault run: cancels raced %d; kill -9 %d; checkout answers UNAVAILABLE %d\n",
	       cancels_raced, kills, unavailable);
	if (spt_billingd_log_last(&w.srv, "delivery refused", line, sizeof(line)) == 0)
		printf("fault run: last webhook refusal: %s\n", line);
	printf("fault run: final states PENDING %d PROCESSING %d SUCCEEDED %d FAILED %d TIMED_OUT "
	       "%d "
	       "CANCELED %d\n",
	       states[O_PENDING], states[O_PROCESSING], states[O_SUCCEEDED], states[4], states[5],
	       states[O_CANCELED]);
	json_decref(s);
	CHECK(states[O_PENDING] == 0 && states[O_PROCESSING] == 0, "every order settled");

	/* The provider's money against the stopped store. */
	spt_billingd_stop(&w.srv);
	snprintf(cmd, sizeof(cmd), "%s %s %s/_ledger", audit, w.srv.data_dir, fakectl_base);
	p = popen(cmd, "r");
	if (p && !fgets(line, sizeof(line), p))
		line[0] = 0;
	printf("fault run: %s", line);
	while (p && fgets(cmd, sizeof(cmd), p)) {
		char oid[64];
		fputs(cmd, stdout);
		if (sscanf(cmd, " order %63s has", oid) == 1)
			print_order_story(oid);
	}
	CHECK(p && pclose(p) == 0, "charge audit: %s", line);
	CHECK(strstr(line, "captures per order max 0") || strstr(line, "captures per order max 1"),
	      "at most one capture per order");
	spb_client_free(w.cli);
	w.cli = NULL;
	fakectl_stop();
	printf("%d checks, %d failed\n", checks, failures);
	if (failures)
		fprintf(stderr, "billingd log: %s\n", w.srv.log_path);
	else
		spt_billingd_free(&w.srv);
	free(order_ids);
	free(all_ids);
	free(t);
	free(ks);
	return failures ? 1 : 0;
}
