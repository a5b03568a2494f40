/*
 * test_metrics.c: the metrics registry and its Prometheus text exposition
 * (server/metrics.c): exact output for each type, escaping, cumulative
 * histogram buckets, exact totals under concurrent updates, refusal of bad
 * definitions, collectors, and `promtool check metrics` accepting the text.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "metrics.h"

static void reset(void)
{
	metrics_reset();
}

static void test_counter_and_gauge_text(void)
{
	static const char *const labels[] = {"grpc_service", "grpc_method", NULL};
	metric_family *c = metrics_family("demo_calls_total", "Calls made.", METRIC_COUNTER, labels,
					  NULL, 0);
	metric_family *g = metrics_family("demo_temperature", "Degrees.", METRIC_GAUGE, NULL, NULL,
					  0);
	const char *v1[] = {"a.B", "Get"}, *v2[] = {"a.B", "List"};
	char *text;
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	metrics_add(metrics_series(c, v1), 2);
	metrics_add(metrics_series(c, v2), 1);
	metrics_add(metrics_series(c, v1), 3);
	metrics_set(metrics_series(g, NULL), 21.5);
	CU_ASSERT_PTR_EQUAL(metrics_series(c, v1), metrics_series(c, v1));
	CU_ASSERT_EQUAL(metrics_value(metrics_series(c, v1)), 5);
	CU_ASSERT_EQUAL(metrics_value(metrics_series(g, NULL)), 21.5);
	text = metrics_render(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text,
			       "# HELP demo_calls_total Calls made.\n"
			       "# TYPE demo_calls_total counter\n"
			       "demo_calls_total{grpc_service=\"a.B\",grpc_method=\"Get\"} 5\n"
			       "demo_calls_total{grpc_service=\"a.B\",grpc_method=\"List\"} 1\n"
			       "# HELP demo_temperature Degrees.\n"
			       "# TYPE demo_temperature gauge\n"
			       "demo_temperature 21.5\n");
	free(text);
}

static void test_histogram_is_cumulative(void)
{
	static const double b[] = {0.1, 1, 10};
	metric_family *h = metrics_family("demo_seconds", "Time.", METRIC_HISTOGRAM, NULL, b, 3);
	metric_series *s = metrics_series(h, NULL);
	char *text;
	metrics_observe(s, 0.05);
	metrics_observe(s, 0.1); /* on the bound: in le="0.1" */
	metrics_observe(s, 5);
	metrics_observe(s, 50);
	text = metrics_render(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, "# HELP demo_seconds Time.\n"
				     "# TYPE demo_seconds histogram\n"
				     "demo_seconds_bucket{le=\"0.1\"} 2\n"
				     "demo_seconds_bucket{le=\"1\"} 2\n"
				     "demo_seconds_bucket{le=\"10\"} 3\n"
				     "demo_seconds_bucket{le=\"+Inf\"} 4\n"
				     "demo_seconds_sum 55.15\n"
				     "demo_seconds_count 4\n");
	free(text);
}

static void test_escaping(void)
{
	static const char *const labels[] = {"what", NULL};
	metric_family *c = metrics_family("demo_escapes_total", "Back\\slash\nnewline",
					  METRIC_COUNTER, labels, NULL, 0);
	const char *v[] = {"q\"uote\\ and\nline"};
	char *text;
	metrics_add(metrics_series(c, v), 1);
	text = metrics_render(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# HELP demo_escapes_total Back\\\\slash\\nnewline\n"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(text, "demo_escapes_total{what=\"q\\\"uote\\\\ and\\nline\"} 1\n"));
	free(text);
}

static void test_bad_definitions_are_refused(void)
{
	static const char *const le[] = {"le", NULL}, *const dunder[] = {"__x", NULL},
				 *const colon[] = {"a:b", NULL};
	static const double down[] = {1, 0.5};
	CU_ASSERT_PTR_NULL(metrics_family("9starts_with_digit", "", METRIC_COUNTER, NULL, NULL, 0));
	CU_ASSERT_PTR_NULL(metrics_family("has-dash", "", METRIC_COUNTER, NULL, NULL, 0));
	CU_ASSERT_PTR_NULL(metrics_family("h_seconds", "", METRIC_HISTOGRAM, le, down, 1));
	CU_ASSERT_PTR_NULL(metrics_family("h2_seconds", "", METRIC_HISTOGRAM, NULL, down, 2));
	CU_ASSERT_PTR_NULL(metrics_family("c_total", "", METRIC_COUNTER, dunder, NULL, 0));
	CU_ASSERT_PTR_NULL(metrics_family("c2_total", "", METRIC_COUNTER, colon, NULL, 0));
	CU_ASSERT_PTR_NULL(metrics_family("g_no_buckets", "", METRIC_HISTOGRAM, NULL, NULL, 0));
	/* a family with no series prints nothing */
	CU_ASSERT_PTR_NOT_NULL(metrics_family("ok_total", "", METRIC_COUNTER, NULL, NULL, 0));
	{
		char *text = metrics_render(NULL);
		CU_ASSERT_STRING_EQUAL(text, "");
		free(text);
	}
}

#define THREADS 8
#define PER_THREAD 20000

static void *hammer(void *arg)
{
	metric_family *h = arg;
	metric_series *s = metrics_series(h, NULL);
	for (int i = 0; i < PER_THREAD; i++)
		metrics_observe(s, 1.0);
	return NULL;
}

static void test_concurrent_updates_are_exact(void)
{
	static const double b[] = {0.5, 2};
	metric_family *h = metrics_family("demo_sizes", "Sizes.", METRIC_HISTOGRAM, NULL, b, 2);
	pthread_t t[THREADS];
	char *text;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, h);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(metrics_value(metrics_series(h, NULL)), THREADS * PER_THREAD);
	text = metrics_render(NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "demo_sizes_bucket{le=\"0.5\"} 0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "demo_sizes_bucket{le=\"2\"} 160000\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "demo_sizes_sum 160000\n"));
	free(text);
}

static void set_gauge(void *arg)
{
	static double n;
	metrics_set(arg, ++n);
}

static void test_collectors_run_at_each_render(void)
{
	metric_family *g = metrics_family("demo_renders", "Renders.", METRIC_GAUGE, NULL, NULL, 0);
	metric_series *s = metrics_series(g, NULL);
	char *a, *b;
	metrics_add_collector(set_gauge, s);
	a = metrics_render(NULL);
	b = metrics_render(NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(a, "demo_renders 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b, "demo_renders 2\n"));
	free(a);
	free(b);
}

/* The registry as billingd fills it, checked by Prometheus' own linter. */
static void test_promtool_accepts_the_text(void)
{
	static const char *const call_labels[] = {"grpc_type", "grpc_service", "grpc_method",
						  "grpc_code", NULL};
	static const char *const prov_labels[] = {"provider", "operation", "outcome", NULL};
	const char *v[] = {"unary", "smartplus.billing.v1.BillingService", "GetCatalog", "OK"};
	const char *p[] = {"stripe", "create", "ok"};
	char path[] = "/tmp/spb-metrics-XXXXXX", cmd[256];
	metric_family *c = metrics_family("grpc_server_handled_total",
					  "Total number of RPCs completed on the server.",
					  METRIC_COUNTER, call_labels, NULL, 0);
	metric_family *h = metrics_family("billingd_provider_call_duration_seconds",
					  "Provider call latency.", METRIC_HISTOGRAM, prov_labels,
					  metrics_latency_buckets, metrics_latency_buckets_n);
	metric_family *g = metrics_family("billingd_lmdb_map_size_bytes", "LMDB map size.",
					  METRIC_GAUGE, NULL, NULL, 0);
	size_t len;
	char *text;
	int fd, rc;
	FILE *f;
	metrics_add(metrics_series(c, v), 3);
	metrics_observe(metrics_series(h, p), 0.25);
	metrics_set(metrics_series(g, NULL), 34359738368.0);
	text = metrics_render(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(len, strlen(text));
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	f = fdopen(fd, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	free(text);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	rc = system(cmd);
	if (rc != 0)
		printf("\n    promtool check metrics failed (rc %d); is package prometheus "
		       "installed (tools/setup.sh)?\n",
		       rc);
	CU_ASSERT_EQUAL(rc, 0);
	unlink(path);
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite_with_setup_and_teardown("metrics", NULL, NULL, reset, reset);
	CU_add_test(s, "counter and gauge text", test_counter_and_gauge_text);
	CU_add_test(s, "histogram buckets are cumulative", test_histogram_is_cumulative);
	CU_add_test(s, "help and label values are escaped", test_escaping);
	CU_add_test(s, "bad definitions are refused", test_bad_definitions_are_refused);
	CU_add_test(s, "concurrent updates are exact", test_concurrent_updates_are_exact);
	CU_add_test(s, "collectors run at each render", test_collectors_run_at_each_render);
	CU_add_test(s, "promtool check metrics accepts the text", test_promtool_accepts_the_text);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
