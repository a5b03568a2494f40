/*
 * sdk_latency: the unloaded latency of each workload through the SDK: one
 * client (one connection), one call outstanding, a fixed number of calls.
 *
 *   sdk_latency --target 127.0.0.1:PORT --env DIR/bench.env [--calls N]
 *
 * bench.env is written by seed. One line per workload:
 *   sdk <Workload> calls=<N> p50_us=<x> p99_us=<y> mean_us=<z>
 *   sdk <Workload> n/a (not implemented)
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spbilling.h>

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define MAX_VARS 64

static struct {
	char key[64];
	char value[256];
} vars[MAX_VARS];
static int nvars;

static const char *var(const char *key)
{
	for (int i = 0; i < nvars; i++)
		if (strcmp(vars[i].key, key) == 0)
			return vars[i].value;
	return "";
}

static int load_env(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (nvars < MAX_VARS && fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		size_t n;
		if (!eq)
			continue;
		*eq = 0;
		n = strlen(eq + 1);
		while (n && (eq[n] == '\n' || eq[n] == '\r'))
			eq[n--] = 0;
		if (strlen(line) >= sizeof(vars[nvars].key) || n >= sizeof(vars[nvars].value))
			continue;
		memcpy(vars[nvars].key, line, strlen(line) + 1);
		memcpy(vars[nvars].value, eq + 1, strlen(eq + 1) + 1);
		nvars++;
	}
	fclose(f);
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* One call of workload w; 0 or the SDK's negative code. */
static int call_one(spb_client *c, const char *w)
{
	int rc;
	if (strcmp(w, "GetCreditBalance") == 0) {
		Smartplus__Billing__V1__GetCreditBalanceRequest req = V1(
			GET_CREDIT_BALANCE_REQUEST__INIT);
		Smartplus__Billing__V1__GetCreditBalanceResponse *resp = NULL;
		req.account_id = (char *)var("BALANCE_ACCOUNT");
		rc = spb_billing_get_credit_balance(c, &req, &resp, NULL);
		spb_message_free(resp);
	} else if (strcmp(w, "GetCatalog") == 0) {
		Smartplus__Billing__V1__GetCatalogRequest req = V1(GET_CATALOG_REQUEST__INIT);
		Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
		rc = spb_billing_get_catalog(c, &req, &resp, NULL);
		spb_message_free(resp);
	} else if (strcmp(w, "QuoteServices") == 0) {
		Smartplus__Billing__V1__QuoteServicesRequest req = V1(QUOTE_SERVICES_REQUEST__INIT);
		Smartplus__Billing__V1__QuoteServicesResponse *resp = NULL;
		char *projects[1] = {(char *)var("QUOTE_PROJECT")};
		req.action = V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE);
		req.payer_id = (char *)var("QUOTE_PAYER");
		req.installer_id = (char *)var("QUOTE_INSTALLER");
		req.project_type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
		req.n_project_ids = 1;
		req.project_ids = projects;
		req.months = 12;
		req.renew_mode = V1(RENEW_MODE__RENEW_MODE_MANUAL);
		rc = spb_billing_quote_services(c, &req, &resp, NULL);
		spb_message_free(resp);
	} else if (strcmp(w, "AssignCredits") == 0) {
		Smartplus__Billing__V1__AssignCreditsRequest req = V1(ASSIGN_CREDITS_REQUEST__INIT);
		Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
		req.account_id = (char *)var("ASSIGN_FROM");
		req.to_account_id = (char *)var("ASSIGN_TO");
		req.credits = 1;
		rc = spb_billing_assign_credits(c, &req, &resp, NULL);
		spb_message_free(resp);
	} else {
		Smartplus__Billing__V1__ListItemsRequest req = V1(LIST_ITEMS_REQUEST__INIT);
		Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
		req.project_id = (char *)var("LIST_PROJECT");
		req.page_size = 100;
		rc = spb_billing_list_items(c, &req, &resp, NULL);
		spb_message_free(resp);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, 0, 't'},
		{"env", required_argument, 0, 'e'},
		{"calls", required_argument, 0, 'n'},
		{0, 0, 0, 0},
	};
	static const char *workloads[] = {"GetCreditBalance", "GetCatalog", "QuoteServices",
					  "AssignCredits", "ListItems"};
	spb_client_options co = SPB_CLIENT_OPTIONS_INIT;
	const char *target = NULL, *env = NULL;
	spb_client *c;
	int64_t *lat;
	int calls = 2000, o, failed = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': target = optarg; break;
		case 'e': env = optarg; break;
		case 'n': calls = (int)strtol(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (!target || !env || calls < 1 || calls > 10000000)
		goto usage;
	if (load_env(env) != 0) {
		perror(env);
		return 1;
	}
	co.api_key = var("BENCH_KEY");
	if (!(c = spb_client_new(target, &co))) {
		fprintf(stderr, "sdk_latency: %s\n", spb_error_last()->message);
		return 1;
	}
	lat = malloc((size_t)calls * sizeof(*lat));
	for (size_t w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
		char st_key[64];
		double sum = 0;
		int warm = calls / 10 < 100 ? calls / 10 : 100, bad = 0;
		snprintf(st_key, sizeof(st_key), "STATUS_%s", workloads[w]);
		if (strcmp(var(st_key), "ok") != 0) {
			printf("sdk %s n/a (%s)\n", workloads[w],
			       strcmp(var(st_key), "unimplemented") == 0 ? "not implemented"
									 : "error");
			continue;
		}
		for (int i = 0; i < warm; i++)
			call_one(c, workloads[w]);
		for (int i = 0; i < calls; i++) {
			int64_t t0 = now_ns();
			if (call_one(c, workloads[w]) != 0 && bad++ == 0)
				fprintf(stderr, "sdk_latency: %s: %s: %s\n", workloads[w],
					spb_status_name(spb_error_last()->grpc_code),
					spb_error_last()->message);
			lat[i] = now_ns() - t0;
			sum += (double)lat[i];
		}
		qsort(lat, (size_t)calls, sizeof(*lat), cmp_i64);
		printf("sdk %s calls=%d errors=%d p50_us=%.0f p99_us=%.0f mean_us=%.0f\n",
		       workloads[w], calls, bad, (double)lat[calls / 2] / 1e3,
		       (double)lat[(calls * 99) / 100] / 1e3, sum / calls / 1e3);
		fflush(stdout);
		failed |= bad != 0;
	}
	free(lat);
	spb_client_free(c);
	return failed;

usage:
	fprintf(stderr, "usage: sdk_latency --target HOST:PORT --env bench.env [--calls N]\n");
	return 2;
}
