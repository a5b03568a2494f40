/*
 * /metrics of the real billingd (--metrics-listen, served through
 * server/httpd.c) after real traffic: checkouts through the live providers
 * against the fake (Stripe paid and declined, PayPal approved by webhook and
 * one left waiting), an automatic renewal inside AdvanceClock, a webhook
 * delivery with a bad signature. The live text must pass `promtool check
 * metrics` and carry the conventional names and labels with values that
 * match the traffic: gRPC calls by service, method and code with their
 * latency histogram, writer batches and commit latency, the LMDB map and
 * readers, orders by status and the reconciler backlog, renewals, provider
 * calls by provider, operation and outcome with latency, webhook deliveries.
 *
 *   test_metrics_endpoint <billingd> <node> <provider.js> <promtool>
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fakectl.h"
#include "payworld.h"
#include "spt_fs.h"
#include "spt_proc.h"
#include "spt_run.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define PAYPAL V1(PAYMENT_METHOD__PAYMENT_METHOD_PAYPAL)
#define O_PENDING V1(ORDER_STATUS__ORDER_STATUS_PENDING_PAYMENT)
#define O_SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define DAY (24 * 3600)
#define BILLING "grpc_service=\"smartplus.billing.v1.BillingService\""

static pw_world w;
static int metrics_port;

/* ------------------------------------------------------------------------ */
/* HTTP                                                                      */

typedef struct buf {
	char *p;
	size_t n;
} buf;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	buf *b = arg;
	char *q = realloc(b->p, b->n + size * n + 1);
	if (!q)
		return 0;
	memcpy(q + b->n, p, size * n);
	b->p = q;
	b->n += size * n;
	b->p[b->n] = 0;
	return size * n;
}

/* One request to 127.0.0.1:port; the HTTP status (-1: no answer), the body
 * in *out (malloc'd, may be NULL) and the Content-Type in ctype. */
static long http(int port, const char *method, const char *path, const char *header,
		 const char *body, char **out, char *ctype, size_t ccap)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = header ? curl_slist_append(NULL, header) : NULL;
	char url[128];
	buf b = {0};
	long status = -1;
	char *ct = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		if (ctype)
			snprintf(ctype, ccap, "%s", ct ? ct : "");
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (out)
		*out = b.p;
	else
		free(b.p);
	return status;
}

/* ------------------------------------------------------------------------ */
/* The exposition text                                                       */

/* Whether a sample line's series is `name` with every label pair in
 * `labels` (NULL-terminated, e.g. "grpc_code=\"OK\""). */
static int line_matches(const char *line, size_t len, const char *name, const char *const *labels)
{
	size_t nl = strlen(name);
	const char *sp = memchr(line, ' ', len);
	if (!sp || len < nl || strncmp(line, name, nl) != 0 || (line[nl] != '{' && line[nl] != ' '))
		return 0;
	for (; labels && *labels; labels++) {
		const char *hit = strstr(line, *labels);
		if (!hit || hit > sp || (hit[-1] != '{' && hit[-1] != ','))
			return 0;
	}
	return 1;
}

/* The sum of the samples of `name` with these labels; NAN when none. */
static double sum_of(const char *text, const char *name, const char *const *labels)
{
	double sum = NAN;
	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (*p != '#' && line_matches(p, len, name, labels)) {
			const char *sp = memchr(p, ' ', len);
			double v = strtod(sp + 1, NULL);
			sum = isnan(sum) ? v : sum + v;
		}
		p += len + (end ? 1 : 0);
	}
	return sum;
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define V(name, ...) sum_of(text, name, L(__VA_ARGS__))
#define V0(name) sum_of(text, name, NULL)

static char *scrape(char *ctype, size_t cap)
{
	char *text = NULL;
	long st = http(metrics_port, "GET", "/metrics", NULL, NULL, &text, ctype, cap);
	SPT_CHECK(st == 200 && text, "GET /metrics: %ld", st);
	return text;
}

/* ------------------------------------------------------------------------ */
/* Traffic and checks                                                        */

static char pp_waiting[64], pp_paid[64];

static void traffic(void)
{
	pw_outcome o;
	char pp[64], body[128];
	int code;

	/* Stripe: a paid activation, then AUTO renewal with the same card. */
	SPT_REQUIRE(pw_project(&w, "m_paid") == 0, "project");
	code = pw_checkout(&w, "m_paid", STRIPE, "pm_card_visa", "cus_m", 0, &o);
	SPT_CHECK(code == 0 && o.order && (int)o.order->status == O_SUCCEEDED,
		  "Stripe checkout: %d %s", code, o.message);
	pw_outcome_free(&o);
	code = pw_renew(&w, "m_paid", STRIPE, "pm_card_visa", "cus_m", 1, &o);
	SPT_CHECK(code == 0, "renewal on AUTO: %d %s", code, o.message);
	pw_outcome_free(&o);
	/* Stripe: a declined card (FAILED_PRECONDITION PAYMENT_DECLINED). */
	SPT_REQUIRE(pw_project(&w, "m_declined") == 0, "project");
	code = pw_checkout(&w, "m_declined", STRIPE, "pm_card_chargeDeclined", "cus_m", 0, &o);
	SPT_CHECK(code == 9 && strcmp(o.reason, "PAYMENT_DECLINED") == 0, "declined: %d %s", code,
		  o.reason);
	pw_outcome_free(&o);
	/* PayPal: approved at the fake, settled by its webhook. */
	SPT_REQUIRE(pw_project(&w, "m_pp") == 0, "project");
	code = pw_checkout(&w, "m_pp", PAYPAL, NULL, NULL, 0, &o);
	SPT_CHECK(code == 0 && o.order && (int)o.order->status == O_PENDING, "PayPal: %d %s", code,
		  o.message);
	snprintf(pp_paid, sizeof(pp_paid), "%s", o.order_id);
	snprintf(pp, sizeof(pp), "%s", o.order ? o.order->paypal_order_id : "");
	pw_outcome_free(&o);
	snprintf(body, sizeof(body), "{\"approve\":\"%s\"}", pp);
	fakectl_ctl(body);
	SPT_CHECK(pw_wait_status(&w, pp_paid, O_SUCCEEDED, 8000) == O_SUCCEEDED,
		  "PayPal order settled by the webhook");
	/* 40 days on: the AUTO item renews inside AdvanceClock (the
	 * activation and the renewal gave it two months). */
	SPT_CHECK(pw_advance(&w, 40 * DAY) == 0, "advance 40 days");
	SPT_CHECK(pw_advance(&w, 30 * DAY) == 0, "advance 30 days more");
	/* PayPal: one left waiting for the buyer (after the jumps, which would
	 * time it out). */
	SPT_REQUIRE(pw_project(&w, "m_pp_wait") == 0, "project");
	code = pw_checkout(&w, "m_pp_wait", PAYPAL, NULL, NULL, 0, &o);
	SPT_CHECK(code == 0, "PayPal waiting: %d %s", code, o.message);
	snprintf(pp_waiting, sizeof(pp_waiting), "%s", o.order_id);
	pw_outcome_free(&o);
	SPT_CHECK(pw_status(&w, pp_waiting) == O_PENDING, "the PayPal order waits");
	/* A forged Stripe delivery: refused (400). */
	SPT_CHECK(http(w.hook_port, "POST", "/webhooks/stripe", "Stripe-Signature: t=1,v1=00",
		       "{\"id\":\"evt_forged\",\"type\":\"payment_intent.succeeded\"}", NULL, NULL,
		       0) == 400,
		  "a forged webhook is refused");
	pw_webhooks_idle();
}

static void test_metrics_after_traffic(void)
{
	char ctype[128] = "", path[SPT_PATH_MAX], out[512] = "";
	const char *promtool[] = {"/bin/sh", "-c", NULL, NULL};
	char cmd[SPT_PATH_MAX + 64];
	char *text;
	double started, handled;
	int rc;

	traffic();
	/* A call is counted as handled once its answer has gone out, which the
	 * client may see a moment earlier: scrape until the two agree
	 * (bounded), then compare exactly. */
	text = scrape(ctype, sizeof(ctype));
	for (int i = 0; text && i < 100; i++) {
		started = V0("grpc_server_started_total");
		handled = V0("grpc_server_handled_total");
		if (started == handled)
			break;
		free(text);
		usleep(50 * 1000);
		text = scrape(ctype, sizeof(ctype));
	}
	SPT_REQUIRE(text != NULL, "no /metrics text");
	SPT_CHECK(strncmp(ctype, "text/plain; version=0.0.4", 25) == 0, "Content-Type %s", ctype);

	/* promtool reads the live text. */
	spt_path(path, sizeof(path), w.srv.dir, "metrics.txt");
	SPT_REQUIRE(spt_write_file(path, text, strlen(text), 0600) == 0, "write %s", path);
	snprintf(cmd, sizeof(cmd), "'%s' check metrics < '%s'", spt_arg("promtool"), path);
	promtool[2] = cmd;
	rc = spt_run_cmd(promtool, 30000, out, sizeof(out));
	SPT_CHECK(rc == 0, "promtool check metrics: exit %d: %s", rc, out);

	/* gRPC server metrics, by service, method and code. */
	started = V("grpc_server_started_total", BILLING, "grpc_method=\"ActivateServices\"");
	SPT_CHECK(started == 4, "ActivateServices started 4 times: %g", started);
	SPT_CHECK(V("grpc_server_handled_total", BILLING, "grpc_method=\"ActivateServices\"",
		    "grpc_code=\"OK\"") == 3,
		  "3 ActivateServices OK");
	SPT_CHECK(V("grpc_server_handled_total", BILLING, "grpc_method=\"ActivateServices\"",
		    "grpc_code=\"FailedPrecondition\"") == 1,
		  "1 ActivateServices FailedPrecondition (the declined card)");
	SPT_CHECK(V("grpc_server_handled_total", BILLING, "grpc_method=\"RenewServices\"",
		    "grpc_code=\"OK\"") == 1,
		  "1 RenewServices OK");
	SPT_CHECK(V("grpc_server_handled_total",
		    "grpc_service=\"smartplus.billing.v1.AdminService\"",
		    "grpc_method=\"AdvanceClock\"", "grpc_code=\"OK\"") == 2,
		  "2 AdvanceClock OK");
	SPT_CHECK(V0("grpc_server_started_total") == V0("grpc_server_handled_total"),
		  "every call started was handled: %g / %g", V0("grpc_server_started_total"),
		  V0("grpc_server_handled_total"));
	SPT_CHECK(V("grpc_server_handling_seconds_count", BILLING,
		    "grpc_method=\"ActivateServices\"") == 4,
		  "ActivateServices latency: 4 observations");
	SPT_CHECK(V("grpc_server_handling_seconds_bucket", BILLING,
		    "grpc_method=\"ActivateServices\"", "le=\"+Inf\"") == 4,
		  "le=+Inf bucket = count");
	SPT_CHECK(V("grpc_server_handling_seconds_sum", BILLING,
		    "grpc_method=\"ActivateServices\"") > 0,
		  "latency sum > 0");
	SPT_CHECK(V("grpc_server_handled_total", "grpc_type=\"unary\"",
		    "grpc_method=\"ActivateServices\"", "grpc_code=\"OK\"") == 3,
		  "grpc_type label");

	/* The writer: batches, their mutations and commit time. */
	SPT_CHECK(V0("billingd_writer_batch_mutations_count") >= 10, "write batches: %g",
		  V0("billingd_writer_batch_mutations_count"));
	SPT_CHECK(V0("billingd_writer_batch_mutations_sum") >=
			  V0("billingd_writer_batch_mutations_count"),
		  "at least one mutation per batch");
	SPT_CHECK(V0("billingd_writer_commit_seconds_count") ==
			  V0("billingd_writer_batch_mutations_count"),
		  "one commit time per batch");
	SPT_CHECK(V0("billingd_writer_commit_seconds_sum") > 0, "commit time > 0");
	SPT_CHECK(V("billingd_writer_commit_seconds_bucket", "le=\"+Inf\"") ==
			  V0("billingd_writer_commit_seconds_count"),
		  "commit le=+Inf = count");
	SPT_CHECK(V0("billingd_writer_store_full_total") == 0, "no batch refused for space");

	/* LMDB: the default 32 GiB map, some of it used, readers within the
	 * slots. */
	SPT_CHECK(V0("billingd_lmdb_map_size_bytes") == 34359738368.0, "map size %g",
		  V0("billingd_lmdb_map_size_bytes"));
	SPT_CHECK(V0("billingd_lmdb_map_used_bytes") >= 4096 &&
			  V0("billingd_lmdb_map_used_bytes") < V0("billingd_lmdb_map_size_bytes"),
		  "map used %g", V0("billingd_lmdb_map_used_bytes"));
	SPT_CHECK(V0("billingd_lmdb_readers_max") >= 1 &&
			  V0("billingd_lmdb_readers") <= V0("billingd_lmdb_readers_max"),
		  "readers %g of %g", V0("billingd_lmdb_readers"), V0("billingd_lmdb_readers_max"));

	/* Orders by status: the Stripe activation, its renewal, the PayPal
	 * activation and the automatic renewal paid; the declined one failed;
	 * one waiting. */
	SPT_CHECK(V("billingd_orders", "status=\"SUCCEEDED\"") == 4, "SUCCEEDED orders: %g",
		  V("billingd_orders", "status=\"SUCCEEDED\""));
	SPT_CHECK(V("billingd_orders", "status=\"FAILED\"") == 1, "FAILED orders: %g",
		  V("billingd_orders", "status=\"FAILED\""));
	SPT_CHECK(V("billingd_orders", "status=\"PENDING_PAYMENT\"") == 1,
		  "PENDING_PAYMENT orders: %g", V("billingd_orders", "status=\"PENDING_PAYMENT\""));
	SPT_CHECK(V0("billingd_orders") == 6, "6 orders in all: %g", V0("billingd_orders"));
	SPT_CHECK(V0("billingd_reconciler_backlog") ==
			  V("billingd_orders", "status=\"PROCESSING\""),
		  "the backlog is the PROCESSING orders (%g)", V0("billingd_reconciler_backlog"));

	/* The automatic renewal. */
	SPT_CHECK(V("billingd_renewals_total", "outcome=\"succeeded\"") == 1,
		  "1 automatic renewal succeeded: %g",
		  V("billingd_renewals_total", "outcome=\"succeeded\""));
	SPT_CHECK(V0("billingd_renewals_total") == 1, "no other renewal outcome");

	/* Provider calls: 3 Stripe creates paid (activation, renewal, the
	 * automatic renewal), 1 declined; PayPal creates waiting for approval,
	 * the webhook's confirm capturing. */
	SPT_CHECK(V("billingd_provider_calls_total", "provider=\"stripe\"", "operation=\"create\"",
		    "outcome=\"succeeded\"") == 3,
		  "Stripe creates succeeded: %g",
		  V("billingd_provider_calls_total", "provider=\"stripe\"", "operation=\"create\"",
		    "outcome=\"succeeded\""));
	SPT_CHECK(V("billingd_provider_calls_total", "provider=\"stripe\"", "operation=\"create\"",
		    "outcome=\"declined\"") == 1,
		  "Stripe create declined");
	SPT_CHECK(V("billingd_provider_calls_total", "provider=\"paypal\"", "operation=\"create\"",
		    "outcome=\"pending_approval\"") == 2,
		  "PayPal creates pending approval");
	SPT_CHECK(V("billingd_provider_calls_total", "provider=\"paypal\"", "operation=\"confirm\"",
		    "outcome=\"succeeded\"") >= 1,
		  "PayPal capture after the approval webhook");
	SPT_CHECK(V("billingd_provider_call_seconds_count", "provider=\"stripe\"",
		    "operation=\"create\"") == V("billingd_provider_calls_total",
						 "provider=\"stripe\"", "operation=\"create\""),
		  "one latency per Stripe create");
	SPT_CHECK(V("billingd_provider_call_seconds_sum", "provider=\"stripe\"",
		    "operation=\"create\"") > 0,
		  "Stripe create latency > 0");
	SPT_CHECK(isnan(V("billingd_provider_calls_total", "provider=\"sandbox\"")),
		  "no sandbox calls on --payments live");

	/* Webhook deliveries: the fake's, verified; the forged one refused. */
	SPT_CHECK(V("billingd_provider_webhooks_received_total", "provider=\"stripe\"") >= 2,
		  "Stripe deliveries received: %g",
		  V("billingd_provider_webhooks_received_total", "provider=\"stripe\""));
	/* The forged one, and any the fake signed between the two clock moves
	 * of pw_advance (its clock goes first): refused before verification. */
	SPT_CHECK(V("billingd_provider_webhooks_total", "provider=\"stripe\"",
		    "result=\"refused\"") >= 1,
		  "the forged Stripe delivery refused");
	SPT_CHECK(V("billingd_provider_webhooks_received_total", "provider=\"stripe\"") ==
			  V("billingd_provider_webhooks_verified_total", "provider=\"stripe\"") +
				  V("billingd_provider_webhooks_total", "provider=\"stripe\"",
				    "result=\"refused\""),
		  "every Stripe delivery verified or refused");
	SPT_CHECK(V("billingd_provider_webhooks_verified_total", "provider=\"stripe\"") >= 3,
		  "Stripe deliveries verified: %g",
		  V("billingd_provider_webhooks_verified_total", "provider=\"stripe\""));
	SPT_CHECK(V("billingd_provider_webhooks_verified_total", "provider=\"paypal\"") >= 1,
		  "PayPal deliveries verified");
	SPT_CHECK(V("billingd_provider_webhooks_total", "provider=\"paypal\"",
		    "result=\"handled\"") >= 1,
		  "PayPal delivery handled");
	SPT_CHECK(V0("billingd_provider_webhooks_received_total") ==
			  V0("billingd_provider_webhooks_total"),
		  "every delivery got one answer: %g received, %g answered",
		  V0("billingd_provider_webhooks_received_total"),
		  V0("billingd_provider_webhooks_total"));
	if (spt_failures())
		fprintf(stderr, "%s", text);
	free(text);
}

static void test_http_answers(void)
{
	char *body = NULL;
	SPT_CHECK(http(metrics_port, "HEAD", "/metrics", NULL, NULL, NULL, NULL, 0) == 200,
		  "HEAD /metrics");
	SPT_CHECK(http(metrics_port, "POST", "/metrics", NULL, "x", &body, NULL, 0) == 405,
		  "POST /metrics is 405");
	free(body);
	SPT_CHECK(http(metrics_port, "GET", "/webhooks/stripe", NULL, NULL, NULL, NULL, 0) == 404,
		  "only /metrics on the metrics port");
}

static int suite_init(void)
{
	static const char *const extra[] = {"--metrics-listen", "127.0.0.1:0", NULL};
	char line[512];
	const char *p;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pw_start(&w, spt_arg("billingd"), spt_arg("node"), spt_arg("provider_js"), extra) != 0)
		return -1;
	if (spt_billingd_log_last(&w.srv, "metrics: listening on", line, sizeof(line)) != 0 ||
	    !(p = strstr(line, "(port ")))
		return -1;
	metrics_port = (int)strtol(p + 6, NULL, 10);
	return metrics_port > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	pw_stop(&w, spt_failures() != 0);
	curl_global_cleanup();
	return 0;
}

static CU_TestInfo tests[] = {
	{"/metrics after real traffic: promtool accepts it; names, labels and values",
	 test_metrics_after_traffic},
	{"/metrics answers GET and HEAD only, and nothing else is served there", test_http_answers},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"metrics_endpoint", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD NODE PROVIDER_JS PROMTOOL", suites);
}
