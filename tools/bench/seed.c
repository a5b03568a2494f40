/*
 * seed: fills a fresh billingd with a realistic tree through the SDK, then
 * writes what the benchmark needs into an output directory.
 *
 *   seed --target 127.0.0.1:PORT --key-file DATA/admin.key --out DIR
 *        [--scale S] [--threads T]
 *
 * At scale 1: 1 distributor (dist1) under the vendor, 50 installers
 * (inst01..), 5,000 projects (p00000.., round-robin over the installers, 60%
 * COMMUNITY, 30% SINGLE_FAMILY_HOUSE, 10% COMMERCIAL) sharing 1,000,000 items
 * (CreateItems calls of up to 1000 items, as many as a project holds), plus
 * one extra COMMUNITY project `pq100` of inst01 with exactly 100 items (the
 * QuoteServices workload). Prices for every offered service; a credit price.
 * Credits, when AssignCredits exists: vendor -> dist1 (1e12), dist1 -> every
 * installer (1000). --scale multiplies installers, projects and items
 * (at least 1 installer, 2 projects, 1 item per project).
 *
 * Output (DIR):
 *   bench.env          KEY=VALUE lines (sourceable): keys, ids, and for each
 *                      workload W: STATUS_W=ok|unimplemented|error
 *   req_W.bin          the gRPC-framed request of workload W (for h2load -d)
 *   path_W             its method path
 * Workloads: GetCreditBalance GetCatalog QuoteServices AssignCredits ListItems.
 * The workloads run with dist1's own ACCOUNT key (a distributor's backend).
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spbilling.h>

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define ST(x) SMARTPLUS__BILLING__V1__SERVICE_TYPE__SERVICE_TYPE_##x
#define PT(x) SMARTPLUS__BILLING__V1__PROJECT_TYPE__PROJECT_TYPE_##x
#define MAX_BATCH 1000
#define QUOTE_ITEMS 100

typedef struct cfg {
	const char *target;
	const char *out;
	char vendor_key[256];
	double scale;
	int threads;
	int ninstallers;
	int nprojects;
	long nitems;
} cfg;

static cfg C = {.scale = 1.0, .threads = 4};

/* Services each project type offers, INTEGRATION left out (server-managed). */
static const int community[] = {
	ST(APP),          ST(PM_APP), ST(ADDITIONAL_APP), ST(THIRD_PARTY_LOCK), ST(PREMIUM_PLAN),
	ST(SENSOR_ALERT), 0};
static const int house[] = {ST(APP),          ST(ADDITIONAL_APP), ST(THIRD_PARTY_LOCK),
			    ST(PREMIUM_PLAN), ST(SENSOR_ALERT),   0};
static const int commercial[] = {
	ST(DOOR), ST(PERSONNEL_APP), ST(ADMIN_APP), ST(PREMIUM_FEATURES), ST(SENSOR_ALERT), 0};

static const int *services_of(int type)
{
	return type == PT(COMMUNITY)             ? community
	       : type == PT(SINGLE_FAMILY_HOUSE) ? house
						 : commercial;
}

static int project_type(int i)
{
	int m = i % 10;
	return m < 6 ? PT(COMMUNITY) : m < 9 ? PT(SINGLE_FAMILY_HOUSE) : PT(COMMERCIAL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	const spb_error *e = spb_error_last();
	fprintf(stderr, "seed: %s: %s: %s%s%s\n", what, spb_status_name(e->grpc_code), e->message,
		*e->reason ? " reason=" : "", e->reason);
	exit(1);
}

static spb_client *client_new(const char *key)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	spb_client *c;
	o.api_key = key;
	o.default_deadline_ms = 120000;
	if (!(c = spb_client_new(C.target, &o)))
		die("spb_client_new");
	return c;
}

static int exists_ok(int rc)
{
	return rc == 0 || rc == SPB_EEXISTS;
}

static void create_account(spb_client *c, const char *id, int role, const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest req = V1(CREATE_ACCOUNT_REQUEST__INIT);
	Smartplus__Billing__V1__CreateAccountResponse *resp = NULL;
	req.account_id = (char *)id;
	req.role = role;
	req.parent_id = (char *)parent;
	req.display_name = (char *)id;
	if (!exists_ok(spb_directory_create_account(c, &req, &resp, NULL)))
		die("CreateAccount");
	spb_message_free(resp);
}

static void installer_id(char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "inst%02d", i + 1);
}

static void create_project(spb_client *c, const char *id, const char *installer, int type)
{
	Smartplus__Billing__V1__CreateProjectRequest req = V1(CREATE_PROJECT_REQUEST__INIT);
	Smartplus__Billing__V1__CreateProjectResponse *resp = NULL;
	req.project_id = (char *)id;
	req.installer_id = (char *)installer;
	req.type = type;
	req.display_name = (char *)id;
	if (!exists_ok(spb_directory_create_project(c, &req, &resp, NULL)))
		die("CreateProject");
	spb_message_free(resp);
}

/* Items <project>-<n> for n in [from, to), cycling over the type's services. */
static void create_items(spb_client *c, const char *project, int type, long from, long to)
{
	const int *svc = services_of(type);
	int nsvc = 0;
	while (svc[nsvc])
		nsvc++;
	for (long start = from; start < to; start += MAX_BATCH) {
		long n = to - start < MAX_BATCH ? to - start : MAX_BATCH;
		Smartplus__Billing__V1__CreateItemsRequest req = V1(CREATE_ITEMS_REQUEST__INIT);
		Smartplus__Billing__V1__CreateItemsResponse *resp = NULL;
		Smartplus__Billing__V1__ItemSpec *s = calloc((size_t)n, sizeof(*s));
		Smartplus__Billing__V1__ItemSpec **ps = calloc((size_t)n, sizeof(*ps));
		char(*ids)[40] = calloc((size_t)n, sizeof(*ids));
		int rc;
		for (long i = 0; i < n; i++) {
			Smartplus__Billing__V1__ItemSpec init = V1(ITEM_SPEC__INIT);
			s[i] = init;
			snprintf(ids[i], sizeof(ids[i]), "%s-%04ld", project, start + i);
			s[i].item_id = ids[i];
			s[i].service_type = svc[(start + i) % nsvc];
			s[i].label = ids[i];
			ps[i] = &s[i];
		}
		req.project_id = (char *)project;
		req.n_items = (size_t)n;
		req.items = ps;
		rc = spb_directory_create_items(c, &req, &resp, NULL);
		if (!exists_ok(rc))
			die("CreateItems");
		spb_message_free(resp);
		free(s);
		free(ps);
		free(ids);
	}
}

/* ---- the projects and items, on several threads ---- */

static struct {
	pthread_mutex_t lock;
	int next;
	long done_items;
} work = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long items_of(int p)
{
	long base = C.nitems / C.nprojects, extra = C.nitems % C.nprojects;
	return base + (p < extra ? 1 : 0);
}

static void *project_worker(void *arg)
{
	spb_client *c = client_new(C.vendor_key);
	(void)arg;
	for (;;) {
		char pid[32], inst[16];
		int p;
		long n;
		pthread_mutex_lock(&work.lock);
		p = work.next++;
		pthread_mutex_unlock(&work.lock);
		if (p >= C.nprojects)
			break;
		snprintf(pid, sizeof(pid), "p%05d", p);
		installer_id(inst, sizeof(inst), p % C.ninstallers);
		create_project(c, pid, inst, project_type(p));
		n = items_of(p);
		create_items(c, pid, project_type(p), 0, n);
		pthread_mutex_lock(&work.lock);
		work.done_items += n;
		if ((p + 1) % 500 == 0)
			fprintf(stderr, "seed: %d projects, %ld items\n", p + 1, work.done_items);
		pthread_mutex_unlock(&work.lock);
	}
	spb_client_free(c);
	return NULL;
}

/* ---- prices and credits ---- */

static int unimplemented(void)
{
	return spb_error_last()->grpc_code == 12; /* UNIMPLEMENTED */
}

static void set_prices(spb_client *c)
{
	static const int types[] = {PT(COMMUNITY), PT(SINGLE_FAMILY_HOUSE), PT(COMMERCIAL)};
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		const int *svc = services_of(types[t]);
		for (int i = 0; svc[i]; i++) {
			Smartplus__Billing__V1__SetPriceRequest req = V1(SET_PRICE_REQUEST__INIT);
			Smartplus__Billing__V1__SetPriceResponse *resp = NULL;
			req.project_type = types[t];
			req.service_type = svc[i];
			req.monthly_amount = 100 * (i + 2);
			req.currency = "USD";
			req.monthly_credits = i + 1;
			if (spb_admin_set_price(c, &req, &resp, NULL) != 0) {
				if (!unimplemented())
					die("SetPrice");
				fprintf(stderr, "seed: SetPrice not implemented: no prices\n");
				return;
			}
			spb_message_free(resp);
		}
	}
	{
		Smartplus__Billing__V1__SetCreditPriceRequest req = V1(
			SET_CREDIT_PRICE_REQUEST__INIT);
		Smartplus__Billing__V1__SetCreditPriceResponse *resp = NULL;
		req.unit_amount = 100;
		req.currency = "USD";
		if (spb_admin_set_credit_price(c, &req, &resp, NULL) == 0)
			spb_message_free(resp);
	}
}

/* AssignCredits; 0, or the SDK's negative code (UNIMPLEMENTED: not there yet). */
static int assign(spb_client *c, const char *from, const char *to, int64_t credits)
{
	Smartplus__Billing__V1__AssignCreditsRequest req = V1(ASSIGN_CREDITS_REQUEST__INIT);
	Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
	int rc;
	req.account_id = (char *)from;
	req.to_account_id = (char *)to;
	req.credits = credits;
	rc = spb_billing_assign_credits(c, &req, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

static char *mint_key(spb_client *c, const char *account)
{
	Smartplus__Billing__V1__CreateApiKeyRequest req = V1(CREATE_API_KEY_REQUEST__INIT);
	Smartplus__Billing__V1__CreateApiKeyResponse *resp = NULL;
	char *key;
	req.account_id = (char *)account;
	req.scope = V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT);
	req.display_name = "bench";
	if (spb_directory_create_api_key(c, &req, &resp, NULL) != 0)
		die("CreateApiKey");
	key = strdup(resp->secret);
	spb_message_free(resp);
	return key;
}

/* ---- output ---- */

static FILE *out_open(const char *name, const char *mode)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", C.out, name);
	if (!(f = fopen(path, mode))) {
		perror(path);
		exit(1);
	}
	return f;
}

/* The request as h2load sends it: 0, big-endian length, protobuf bytes. */
static void write_request(const char *workload, const char *path, const ProtobufCMessage *msg)
{
	char name[128];
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n + 5);
	FILE *f;
	buf[0] = 0;
	buf[1] = (uint8_t)(n >> 24);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = (uint8_t)(n >> 8);
	buf[4] = (uint8_t)n;
	protobuf_c_message_pack(msg, buf + 5);
	snprintf(name, sizeof(name), "req_%s.bin", workload);
	f = out_open(name, "wb");
	if (fwrite(buf, 1, n + 5, f) != n + 5 || fclose(f) != 0) {
		perror(name);
		exit(1);
	}
	snprintf(name, sizeof(name), "path_%s", workload);
	f = out_open(name, "w");
	fprintf(f, "%s\n", path);
	fclose(f);
	free(buf);
}

/* One call of the workload with the SDK: "ok", "unimplemented" or "error". */
static const char *probe(int rc, const char *workload, const void *resp, FILE *env)
#define PROBE(call, workload) (rc = (call), probe(rc, workload, resp, env))
{
	if (resp)
		fprintf(env, "RESP_BYTES_%s=%zu\n", workload,
			protobuf_c_message_get_packed_size(resp));
	if (rc == 0)
		return "ok";
	if (unimplemented())
		return "unimplemented";
	fprintf(stderr, "seed: probe %s: %s: %s\n", workload,
		spb_status_name(spb_error_last()->grpc_code), spb_error_last()->message);
	return "error";
}

static void write_workloads(spb_client *dc, FILE *env)
{
	const char *st;
	int rc;
	{
		Smartplus__Billing__V1__GetCreditBalanceRequest req = V1(
			GET_CREDIT_BALANCE_REQUEST__INIT);
		Smartplus__Billing__V1__GetCreditBalanceResponse *resp = NULL;
		req.account_id = "inst01";
		st = PROBE(spb_billing_get_credit_balance(dc, &req, &resp, NULL),
			   "GetCreditBalance");
		spb_message_free(resp);
		write_request("GetCreditBalance",
			      "/smartplus.billing.v1.BillingService/GetCreditBalance", &req.base);
		fprintf(env, "STATUS_GetCreditBalance=%s\n", st);
	}
	{
		Smartplus__Billing__V1__GetCatalogRequest req = V1(GET_CATALOG_REQUEST__INIT);
		Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
		st = PROBE(spb_billing_get_catalog(dc, &req, &resp, NULL), "GetCatalog");
		spb_message_free(resp);
		write_request("GetCatalog", "/smartplus.billing.v1.BillingService/GetCatalog",
			      &req.base);
		fprintf(env, "STATUS_GetCatalog=%s\n", st);
	}
	{
		Smartplus__Billing__V1__QuoteServicesRequest req = V1(QUOTE_SERVICES_REQUEST__INIT);
		Smartplus__Billing__V1__QuoteServicesResponse *resp = NULL;
		char *projects[1] = {"pq100"};
		req.action = V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE);
		req.payer_id = "dist1";
		req.installer_id = "inst01";
		req.project_type = PT(COMMUNITY);
		req.n_project_ids = 1;
		req.project_ids = projects;
		req.months = 12;
		req.renew_mode = V1(RENEW_MODE__RENEW_MODE_MANUAL);
		st = PROBE(spb_billing_quote_services(dc, &req, &resp, NULL), "QuoteServices");
		if (resp && resp->quote)
			fprintf(stderr, "seed: quote of pq100: %zu lines, %zu skipped\n",
				resp->quote->n_lines, resp->quote->n_skipped);
		spb_message_free(resp);
		write_request("QuoteServices", "/smartplus.billing.v1.BillingService/QuoteServices",
			      &req.base);
		fprintf(env, "STATUS_QuoteServices=%s\n", st);
	}
	{
		Smartplus__Billing__V1__AssignCreditsRequest req = V1(ASSIGN_CREDITS_REQUEST__INIT);
		Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
		req.account_id = "dist1";
		req.to_account_id = "inst01";
		req.credits = 1;
		st = PROBE(spb_billing_assign_credits(dc, &req, &resp, NULL), "AssignCredits");
		spb_message_free(resp);
		write_request("AssignCredits", "/smartplus.billing.v1.BillingService/AssignCredits",
			      &req.base);
		fprintf(env, "STATUS_AssignCredits=%s\n", st);
	}
	{
		Smartplus__Billing__V1__ListItemsRequest req = V1(LIST_ITEMS_REQUEST__INIT);
		Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
		req.project_id = "p00000";
		req.page_size = 100;
		st = PROBE(spb_billing_list_items(dc, &req, &resp, NULL), "ListItems");
		if (resp)
			fprintf(stderr, "seed: ListItems p00000: %zu items\n", resp->n_items);
		spb_message_free(resp);
		write_request("ListItems", "/smartplus.billing.v1.BillingService/ListItems",
			      &req.base);
		fprintf(env, "STATUS_ListItems=%s\n", st);
	}
}

static void read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;
	if (!f || !fgets(C.vendor_key, sizeof(C.vendor_key), f)) {
		perror(path);
		exit(1);
	}
	fclose(f);
	n = strlen(C.vendor_key);
	while (n && (C.vendor_key[n - 1] == '\n' || C.vendor_key[n - 1] == '\r'))
		C.vendor_key[--n] = 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, 0, 't'},  {"key-file", required_argument, 0, 'k'},
		{"out", required_argument, 0, 'o'},     {"scale", required_argument, 0, 's'},
		{"threads", required_argument, 0, 'j'}, {0, 0, 0, 0},
	};
	const char *key_file = NULL, *credits = "ok";
	spb_client *vc, *dc;
	pthread_t *th;
	char *dist_key;
	double t0 = now_s();
	FILE *env;
	char *end;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': C.target = optarg; break;
		case 'k': key_file = optarg; break;
		case 'o': C.out = optarg; break;
		case 's':
			C.scale = strtod(optarg, &end);
			if (end == optarg || *end)
				C.scale = -1; /* not a number: refused below */
			break;
		case 'j': C.threads = (int)strtol(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (!C.target || !key_file || !C.out || C.scale <= 0 || C.scale > 10 || C.threads < 1 ||
	    C.threads > 64)
		goto usage;
	read_key(key_file);
	C.ninstallers = (int)lround(50 * C.scale);
	C.nprojects = (int)lround(5000 * C.scale);
	C.nitems = lround(1000000 * C.scale);
	if (C.ninstallers < 1)
		C.ninstallers = 1;
	if (C.nprojects < 2)
		C.nprojects = 2;
	if (C.nitems < C.nprojects)
		C.nitems = C.nprojects;
	fprintf(stderr,
		"seed: scale %g: 1 distributor, %d installers, %d projects, %ld items (+ pq100)\n",
		C.scale, C.ninstallers, C.nprojects, C.nitems);

	vc = client_new(C.vendor_key);
	set_prices(vc);
	create_account(vc, "dist1", V1(ROLE__ROLE_DISTRIBUTOR), "vendor");
	for (int i = 0; i < C.ninstallers; i++) {
		char inst[16];
		installer_id(inst, sizeof(inst), i);
		create_account(vc, inst, V1(ROLE__ROLE_INSTALLER), "dist1");
	}
	create_project(vc, "pq100", "inst01", PT(COMMUNITY));
	create_items(vc, "pq100", PT(COMMUNITY), 0, QUOTE_ITEMS);

	th = calloc((size_t)C.threads, sizeof(*th));
	for (int i = 0; i < C.threads; i++)
		pthread_create(&th[i], NULL, project_worker, NULL);
	for (int i = 0; i < C.threads; i++)
		pthread_join(th[i], NULL);
	free(th);
	fprintf(stderr, "seed: %d projects, %ld items in %.1f s\n", C.nprojects, work.done_items,
		now_s() - t0);

	/* Credits: vendor -> dist1 -> every installer. */
	if (assign(vc, "vendor", "dist1", INT64_C(1000000000000)) != 0) {
		credits = unimplemented() ? "unimplemented" : "error";
		fprintf(stderr, "seed: AssignCredits vendor -> dist1: %s: %s\n",
			spb_status_name(spb_error_last()->grpc_code), spb_error_last()->message);
	} else {
		for (int i = 0; i < C.ninstallers; i++) {
			char inst[16];
			installer_id(inst, sizeof(inst), i);
			if (assign(vc, "dist1", inst, 1000) != 0)
				die("AssignCredits dist1 -> installer");
		}
	}

	dist_key = mint_key(vc, "dist1");
	dc = client_new(dist_key);
	env = out_open("bench.env", "w");
	fprintf(env, "SEED_SCALE=%g\nSEED_INSTALLERS=%d\nSEED_PROJECTS=%d\nSEED_ITEMS=%ld\n",
		C.scale, C.ninstallers, C.nprojects + 1, C.nitems + QUOTE_ITEMS);
	fprintf(env, "SEED_CREDITS=%s\nBENCH_KEY=%s\n", credits, dist_key);
	fprintf(env,
		"BALANCE_ACCOUNT=inst01\nQUOTE_PAYER=dist1\nQUOTE_INSTALLER=inst01\n"
		"QUOTE_PROJECT=pq100\nLIST_PROJECT=p00000\nASSIGN_FROM=dist1\nASSIGN_TO=inst01\n");
	write_workloads(dc, env);
	fprintf(env, "SEED_SECONDS=%.1f\n", now_s() - t0);
	if (fclose(env) != 0) {
		perror("bench.env");
		return 1;
	}
	fprintf(stderr, "seed: done in %.1f s\n", now_s() - t0);
	spb_client_free(dc);
	spb_client_free(vc);
	free(dist_key);
	return 0;

usage:
	fprintf(stderr, "usage: seed --target HOST:PORT --key-file F --out DIR [--scale S (0..10]] "
			"[--threads T]\n");
	return 2;
}
