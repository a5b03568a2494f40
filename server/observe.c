/*
 * observe.c: metrics and storage health (observe.h).
 */
#include "observe.h"

#include <ctype.h>
#include <pthread.h>
#include <time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billingd.h"
#include "enums.h"
#include "health.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "store_order_scan.h"
#include "xalloc.h"

static metric_series *batch_size, *batch_seconds, *batches_full;
static metric_family *started_f, *handled_f, *seconds_f, *renewals_f, *orders_f;
static metric_series *map_size, *map_used, *readers, *readers_max, *backlog;
static metric_family *provider_calls_f, *provider_seconds_f;
static metric_family *hooks_received_f, *hooks_verified_f, *hooks_f;

/* Per table row: its started and latency series, and handled per code
 * (found once, then read without the registry's lock). */
static metric_series **started_s, **seconds_s, *(*handled_s)[17];

static const char *const code_names[17] = {
	"OK",
	"Canceled",
	"Unknown",
	"InvalidArgument",
	"DeadlineExceeded",
	"NotFound",
	"AlreadyExists",
	"PermissionDenied",
	"ResourceExhausted",
	"FailedPrecondition",
	"Aborted",
	"OutOfRange",
	"Unimplemented",
	"Internal",
	"Unavailable",
	"DataLoss",
	"Unauthenticated",
};

/* grpc_service / grpc_method of a row: "smartplus.billing.v1.BillingService"
 * and "GetCatalog", from its path "/<service>/<method>". */
static void split_path(const rpc_method *m, char *svc, size_t scap, char *meth, size_t mcap)
{
	const char *p = m->path + 1, *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	snprintf(svc, scap, "%.*s", (int)n, p);
	snprintf(meth, mcap, "%s", slash ? slash + 1 : "");
}

static metric_series *call_series(metric_family *f, const rpc_method *m, const char *code)
{
	char svc[128], meth[128];
	const char *v[4] = {"unary", svc, meth, code};
	split_path(m, svc, sizeof(svc), meth, sizeof(meth));
	return metrics_series(f, v);
}

static void define_call_metrics(void)
{
	static const char *const labels[] = {"grpc_type", "grpc_service", "grpc_method", NULL};
	static const char *const labels_code[] = {"grpc_type", "grpc_service", "grpc_method",
						  "grpc_code", NULL};
	started_f = metrics_family("grpc_server_started_total",
				   "Total number of RPCs started on the server.", METRIC_COUNTER,
				   labels, NULL, 0);
	handled_f = metrics_family("grpc_server_handled_total",
				   "Total number of RPCs completed on the server, regardless of "
				   "success or failure.",
				   METRIC_COUNTER, labels_code, NULL, 0);
	seconds_f = metrics_family("grpc_server_handling_seconds",
				   "Histogram of response latency (seconds) of gRPC that had been "
				   "application-level handled by the server.",
				   METRIC_HISTOGRAM, labels, metrics_latency_buckets,
				   metrics_latency_buckets_n);
	started_s = xcalloc(rpc_method_count, sizeof(*started_s));
	seconds_s = xcalloc(rpc_method_count, sizeof(*seconds_s));
	handled_s = xcalloc(rpc_method_count, sizeof(*handled_s));
	for (size_t i = 0; i < rpc_method_count; i++) {
		started_s[i] = call_series(started_f, &rpc_methods[i], NULL);
		seconds_s[i] = call_series(seconds_f, &rpc_methods[i], NULL);
		/* OK exists from the start: a rate of 0 is an answer too */
		handled_s[i][0] = call_series(handled_f, &rpc_methods[i], code_names[0]);
	}
}

void observe_call_started(const rpc_method *m)
{
	size_t i = (size_t)(m - rpc_methods);
	if (started_s && i < rpc_method_count)
		metrics_add(started_s[i], 1);
}

void observe_call_handled(const rpc_method *m, int code, double seconds)
{
	size_t i = (size_t)(m - rpc_methods);
	metric_series *s;
	if (!handled_s || i >= rpc_method_count || code < 0 || code > 16)
		return;
	s = __atomic_load_n(&handled_s[i][code], __ATOMIC_ACQUIRE);
	if (!s) {
		s = call_series(handled_f, m, code_names[code]);
		__atomic_store_n(&handled_s[i][code], s, __ATOMIC_RELEASE);
	}
	metrics_add(s, 1);
	metrics_observe(seconds_s[i], seconds);
}

void observe_renewal(const char *outcome)
{
	const char *v[1] = {outcome};
	metrics_add(metrics_series(renewals_f, v), 1);
}

void observe_provider_call(const char *provider, const char *operation, const char *status,
			   double seconds)
{
	char outcome[32];
	const char *v[3] = {provider, operation, outcome};
	size_t i = 0;
	for (; status[i] && i + 1 < sizeof(outcome); i++)
		outcome[i] = (char)tolower((unsigned char)status[i]);
	outcome[i] = 0;
	metrics_add(metrics_series(provider_calls_f, v), 1);
	metrics_observe(metrics_series(provider_seconds_f, v), seconds);
}

void observe_webhook(const char *provider, const char *what)
{
	const char *v[2] = {provider, what};
	if (strcmp(what, "received") == 0)
		metrics_add(metrics_series(hooks_received_f, v), 1);
	else if (strcmp(what, "verified") == 0)
		metrics_add(metrics_series(hooks_verified_f, v), 1);
	else
		metrics_add(metrics_series(hooks_f, v), 1);
}

static void define_provider_metrics(void)
{
	static const char *const call[] = {"provider", "operation", "outcome", NULL};
	static const char *const call_time[] = {"provider", "operation", NULL};
	static const char *const hook[] = {"provider", NULL};
	static const char *const hook_result[] = {"provider", "result", NULL};
	provider_calls_f = metrics_family(
		"billingd_provider_calls_total",
		"Payment provider calls by provider (stripe, paypal, sandbox), operation and "
		"outcome.",
		METRIC_COUNTER, call, NULL, 0);
	provider_seconds_f = metrics_family(
		"billingd_provider_call_seconds", "Time of one payment provider call.",
		METRIC_HISTOGRAM, call_time, metrics_latency_buckets, metrics_latency_buckets_n);
	hooks_received_f = metrics_family("billingd_provider_webhooks_received_total",
					  "Provider webhook deliveries received.", METRIC_COUNTER,
					  hook, NULL, 0);
	hooks_verified_f = metrics_family("billingd_provider_webhooks_verified_total",
					  "Provider webhook deliveries whose signature verified.",
					  METRIC_COUNTER, hook, NULL, 0);
	hooks_f = metrics_family(
		"billingd_provider_webhooks_total",
		"Provider webhook deliveries by answer: handled, duplicate, ignored "
		"(200), refused (400), deferred (503).",
		METRIC_COUNTER, hook_result, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Collectors: read at each exposition                                       */

static void collect_lmdb(void *arg)
{
	store_env_stats st;
	if (!billingd.store || store_env_stats_get(billingd.store, &st) != 0)
		return;
	metrics_set(map_size, (double)st.map_size);
	metrics_set(map_used, (double)st.used_bytes);
	metrics_set(readers, st.readers);
	metrics_set(readers_max, st.max_readers);
}

/*
 * Orders by status, and the reconciler's backlog (PROCESSING orders),
 * counted by a scan of the orders table in short read transactions (one per
 * page). The scan is kept for ORDER_SCAN_EVERY_S, so scrapes stay cheap; a
 * status index (store_order_scan.h) would make it a range count.
 */
#define ORDER_SCAN_EVERY_S 30

static void scan_orders(int64_t *last_scan, double *counts)
{
	char token[256] = "";
	struct timespec now;
	const ProtobufCEnumDescriptor *d = &smartplus__billing__v1__order_status__descriptor;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!billingd.store || (*last_scan && now.tv_sec - *last_scan < ORDER_SCAN_EVERY_S))
		return;
	*last_scan = now.tv_sec;
	memset(counts, 0, 8 * sizeof(*counts));
	for (int pages = 0; pages < 100000; pages++) {
		store_txn *txn;
		store_list l = {0};
		int rc;
		if (store_read_begin(billingd.store, &txn) != 0)
			return;
		rc = store_order_scan(txn, 1000, token, &l);
		store_read_end(txn);
		if (rc != 0)
			return;
		for (size_t i = 0; i < l.n; i++) {
			int st = ((store_order *)l.items[i])->status;
			if (st >= 0 && st < 8)
				counts[st]++;
		}
		snprintf(token, sizeof(token), "%s", l.next_page_token ? l.next_page_token : "");
		store_list_free(&l);
		if (!token[0])
			break;
	}
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *name = d->values[i].name + strlen("ORDER_STATUS_");
		const char *v[1] = {name};
		int st = d->values[i].value;
		if (st <= 0 || st >= 8)
			continue;
		metrics_set(metrics_series(orders_f, v), counts[st]);
	}
	metrics_set(backlog, counts[OSTATUS(PROCESSING)]);
}

static void collect_orders(void *arg)
{
	static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER; /* scrapes may overlap */
	static int64_t last;
	static double counts[8];
	pthread_mutex_lock(&scan_lock);
	scan_orders(&last, counts);
	pthread_mutex_unlock(&scan_lock);
}

void observe_init(void)
{
	static const char *const outcome[] = {"outcome", NULL}, *const status[] = {"status", NULL};
	define_call_metrics();
	define_provider_metrics();
	renewals_f = metrics_family("billingd_renewals_total",
				    "Automatic renewal attempts by outcome.", METRIC_COUNTER,
				    outcome, NULL, 0);
	orders_f = metrics_family("billingd_orders", "Orders by status (a scan, every 30 s).",
				  METRIC_GAUGE, status, NULL, 0);
	backlog = metrics_series(
		metrics_family("billingd_reconciler_backlog",
			       "Orders left PROCESSING for the reconciler to settle.", METRIC_GAUGE,
			       NULL, NULL, 0),
		NULL);
	map_size = metrics_series(metrics_family("billingd_lmdb_map_size_bytes",
						 "LMDB map size (--map-size).", METRIC_GAUGE, NULL,
						 NULL, 0),
				  NULL);
	map_used = metrics_series(metrics_family("billingd_lmdb_map_used_bytes",
						 "LMDB pages in use, in bytes.", METRIC_GAUGE, NULL,
						 NULL, 0),
				  NULL);
	readers = metrics_series(metrics_family("billingd_lmdb_readers",
						"LMDB reader slots in use.", METRIC_GAUGE, NULL,
						NULL, 0),
				 NULL);
	readers_max = metrics_series(metrics_family("billingd_lmdb_readers_max",
						    "LMDB reader slots.", METRIC_GAUGE, NULL, NULL,
						    0),
				     NULL);
	metrics_add_collector(collect_lmdb, NULL);
	metrics_add_collector(collect_orders, NULL);
	batch_size = metrics_series(
		metrics_family("billingd_writer_batch_mutations",
			       "Mutations per write transaction (group commit).", METRIC_HISTOGRAM,
			       NULL, metrics_size_buckets, metrics_size_buckets_n),
		NULL);
	batch_seconds = metrics_series(
		metrics_family("billingd_writer_commit_seconds",
			       "Time to apply and commit one write batch, fsync included.",
			       METRIC_HISTOGRAM, NULL, metrics_latency_buckets,
			       metrics_latency_buckets_n),
		NULL);
	batches_full = metrics_series(metrics_family("billingd_writer_store_full_total",
						     "Mutations refused because the store is full.",
						     METRIC_COUNTER, NULL, NULL, 0),
				      NULL);
}

void observe_on_batch(void *arg, const store_batch_info *b)
{
	metrics_observe(batch_size, (double)b->mutations);
	metrics_observe(batch_seconds, b->seconds);
	metrics_add(batches_full, b->full);
	if (b->full)
		health_set(HEALTH_STORE_FULL, 1);
	else if (b->ok)
		health_set(HEALTH_STORE_FULL, 0);
}

/* ------------------------------------------------------------------------ */
/* /metrics                                                                  */

static httpd *metrics_httpd;

static void on_metrics(const httpd_request *req, httpd_response *resp, void *arg)
{
	const char *m = httpd_method(req);
	size_t len = 0;
	(void)arg;
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		httpd_reply(resp, 405, NULL, "GET only\n");
		return;
	}
	resp->status = 200;
	resp->body = metrics_render(&len);
	resp->body_len = len;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

int observe_listen_start(const char *listen)
{
	static const httpd_route routes[] = {{"/metrics", on_metrics, NULL}};
	httpd_options o = {.listen = listen, .routes = routes, .n_routes = 1, .threads = 2};
	char err[200];
	if (!listen)
		return 0;
	metrics_httpd = httpd_start(&o, err, sizeof(err));
	if (!metrics_httpd) {
		log_error("metrics: --metrics-listen %s", err);
		return -1;
	}
	log_info("metrics: listening on %s (port %d): /metrics, Prometheus text format", listen,
		 httpd_port(metrics_httpd));
	return httpd_port(metrics_httpd);
}

void observe_listen_stop(void)
{
	httpd_stop(metrics_httpd);
	metrics_httpd = NULL;
}

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running, stop;
	store_env *env;
	long stall_ms;
} mon = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *monitor(void *arg)
{
	struct timespec until;
	pthread_mutex_lock(&mon.lock);
	while (!mon.stop) {
		int64_t busy = store_writer_busy_us(mon.env);
		health_set(HEALTH_WRITER_STALLED, busy > (int64_t)mon.stall_ms * 1000);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&mon.cond, &mon.lock, &until);
	}
	pthread_mutex_unlock(&mon.lock);
	return NULL;
}

int observe_start(store_env *env, long stall_ms)
{
	mon.env = env;
	mon.stall_ms = stall_ms;
	mon.stop = 0;
	if (pthread_create(&mon.thread, NULL, monitor, NULL) != 0) {
		log_error("cannot start the writer monitor");
		return -1;
	}
	mon.running = 1;
	return 0;
}

void observe_stop(void)
{
	if (!mon.running)
		return;
	pthread_mutex_lock(&mon.lock);
	mon.stop = 1;
	pthread_cond_broadcast(&mon.cond);
	pthread_mutex_unlock(&mon.lock);
	pthread_join(mon.thread, NULL);
	mon.running = 0;
}
