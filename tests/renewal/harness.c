/* harness.c: see harness.h. */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int h_checks, h_failures;
spb_client *h_cli;
const char *h_scenario = "";

static const char *bin;
static char dir[64], datadir[96], port_file[128];
static pid_t pid, fake_pid;
static const char *live_url;
static int scen_failed;
static struct {
	char name[96];
	int failed;
} results[32];
static int n_results;

void h_begin(const char *name)
{
	h_scenario = name;
	scen_failed = 0;
}

void h_scenario_failed(void)
{
	scen_failed++;
}

void h_end(void)
{
	if (n_results < 32) {
		snprintf(results[n_results].name, sizeof(results[0].name), "%s", h_scenario);
		results[n_results++].failed = scen_failed;
	}
}

int h_report(void)
{
	for (int i = 0; i < n_results; i++)
		printf("%s  %s\n", results[i].failed ? "FAIL" : "PASS", results[i].name);
	printf("%d checks, %d failed\n", h_checks, h_failures);
	return h_failures ? 1 : 0;
}

int h_init(const char *billingd)
{
	bin = billingd;
	snprintf(dir, sizeof(dir), "/tmp/spb-renewal.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	return 0;
}

pid_t h_pid(void)
{
	return pid;
}

/* The port a child writes to path once listening (up to 10 s), or 0. */
static int wait_port(const char *path)
{
	FILE *f;
	int port = 0;
	for (int i = 0; i < 400 && !port; i++) {
		usleep(25000);
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
	}
	return port;
}

void h_use_live(const char *stripe_url)
{
	live_url = stripe_url;
	setenv("STRIPE_SECRET_KEY", "sk_test_renewal", 1);
}

int h_fake_start(const char *node, const char *provider_js, char url[64])
{
	char pf[128];
	int port;
	snprintf(pf, sizeof(pf), "%s/fake.port", dir);
	fake_pid = fork();
	if (fake_pid < 0)
		return -1;
	if (fake_pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
		execl(node, node, provider_js, "--port-file", pf, (char *)NULL);
		_exit(127);
	}
	port = wait_port(pf);
	snprintf(url, 64, "http://127.0.0.1:%d", port);
	return port ? 0 : -1;
}

int h_start(void)
{
	char key_file[160], target[64], key[256] = "";
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;
	FILE *f;
	int port = 0;

	unlink(port_file);
	snprintf(key_file, sizeof(key_file), "%s/admin.key", datadir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char log[128];
		snprintf(log, sizeof(log), "%s/billingd.log", dir);
		if (!freopen("/dev/null", "w", stdout) || !freopen(log, "a", stderr))
			_exit(126);
		if (live_url)
			execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", port_file,
			      "--data-dir", datadir, "--test-clock", "--quiet-calls", "--payments",
			      "live", "--stripe-url", live_url, (char *)NULL);
		else
			execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", port_file,
			      "--data-dir", datadir, "--test-clock", "--quiet-calls", (char *)NULL);
		_exit(127);
	}
	port = wait_port(port_file);
	if (!port || !(f = fopen(key_file, "r")))
		return -1;
	if (!fgets(key, sizeof(key), f))
		key[0] = 0;
	fclose(f);
	key[strcspn(key, "\r\n")] = 0;
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	opts.api_key = key;
	opts.default_deadline_ms = 600000;
	opts.max_retries = 0;
	h_cli = spb_client_new(target, &opts);
	return h_cli ? 0 : -1;
}

void h_stop(int sig)
{
	if (pid > 0) {
		kill(pid, sig);
		waitpid(pid, NULL, 0);
		pid = 0;
	}
	spb_client_free(h_cli);
	h_cli = NULL;
}

int h_log_sum(const char *needle)
{
	char path[128], line[1024];
	int sum = 0;
	FILE *f;
	snprintf(path, sizeof(path), "%s/billingd.log", dir);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, needle);
		if (p)
			sum += (int)strtol(p + strlen(needle), NULL, 10);
	}
	fclose(f);
	return sum;
}

void h_cleanup(void)
{
	char cmd[128];
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
		fake_pid = 0;
	}
	if (getenv("SPB_KEEP_DATA")) {
		fprintf(stderr, "kept %s\n", dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int64_t h_ts(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000000 + t->nanos / 1000 : 0;
}

static void set_ts(Google__Protobuf__Timestamp *ts, int64_t us)
{
	ts->seconds = us / 1000000;
	ts->nanos = (int32_t)(us % 1000000) * 1000;
}

int h_account(const char *id, int role, const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateAccountResponse *resp = NULL;
	int rc;
	r.account_id = (char *)id;
	r.role = role;
	r.parent_id = (char *)parent;
	r.display_name = (char *)id;
	rc = spb_directory_create_account(h_cli, &r, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

int h_project(const char *id, const char *installer, int type, const char *pm)
{
	Smartplus__Billing__V1__CreateProjectRequest r =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *resp = NULL;
	int rc;
	r.project_id = (char *)id;
	r.installer_id = (char *)installer;
	r.type = type;
	r.property_manager_id = (char *)(pm ? pm : "");
	r.display_name = (char *)id;
	rc = spb_directory_create_project(h_cli, &r, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

int h_items(const char *project, int stype, const char *prefix, int n)
{
	Smartplus__Billing__V1__CreateItemsRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__CreateItemsResponse *resp = NULL;
	Smartplus__Billing__V1__ItemSpec *specs = calloc((size_t)n, sizeof(*specs));
	Smartplus__Billing__V1__ItemSpec **ptrs = calloc((size_t)n, sizeof(*ptrs));
	char(*ids)[64] = calloc((size_t)n, sizeof(*ids));
	int rc;
	for (int i = 0; i < n; i++) {
		smartplus__billing__v1__item_spec__init(&specs[i]);
		snprintf(ids[i], sizeof(ids[i]), "%s%03d", prefix, i);
		specs[i].item_id = ids[i];
		specs[i].service_type = stype;
		specs[i].label = ids[i];
		ptrs[i] = &specs[i];
	}
	r.project_id = (char *)project;
	r.n_items = (size_t)n;
	r.items = ptrs;
	rc = spb_directory_create_items(h_cli, &r, &resp, NULL);
	spb_message_free(resp);
	free(specs);
	free(ptrs);
	free(ids);
	return rc;
}

int h_price(int ptype, int stype, int64_t amount, int64_t credits)
{
	Smartplus__Billing__V1__SetPriceRequest r = SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetPriceResponse *resp = NULL;
	int rc;
	r.project_type = ptype;
	r.service_type = stype;
	r.monthly_amount = amount;
	r.currency = "USD";
	r.monthly_credits = credits;
	rc = spb_admin_set_price(h_cli, &r, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

int h_assign_credits(const char *to, int64_t credits)
{
	Smartplus__Billing__V1__AssignCreditsRequest r =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
	int rc;
	r.account_id = "vendor";
	r.to_account_id = (char *)to;
	r.credits = credits;
	rc = spb_billing_assign_credits(h_cli, &r, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

int64_t h_balance(const char *account)
{
	Smartplus__Billing__V1__GetCreditBalanceRequest r =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditBalanceResponse *resp = NULL;
	int64_t v = -1;
	r.account_id = (char *)account;
	if (spb_billing_get_credit_balance(h_cli, &r, &resp, NULL) == 0)
		v = resp->credits;
	spb_message_free(resp);
	return v;
}

static Smartplus__Billing__V1__BillingInfo bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Ada Buyer",
	"ada@example.com",
	"Ada Ltd",
	"1 Main St",
	"US",
	"",
	"" /* region */};

int h_activate(const char *payer, const char *installer, int ptype, const char *project, int months,
	       int method, const char *pm, int64_t *now_out)
{
	Smartplus__Billing__V1__QuoteServicesRequest q =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__ActivateServicesRequest a =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *ar = NULL;
	char *projects[1] = {(char *)project};
	int rc;

	q.action = V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE);
	q.payer_id = (char *)payer;
	q.installer_id = (char *)installer;
	q.project_type = ptype;
	q.n_project_ids = 1;
	q.project_ids = projects;
	q.months = months;
	rc = spb_billing_quote_services(h_cli, &q, &qr, NULL);
	if (rc)
		return rc;
	if (now_out)
		*now_out = h_ts(qr->quote->expire_time) - 15 * 60 * INT64_C(1000000);
	a.quote_id = qr->quote->quote_id;
	a.payment_method = method;
	a.billing_info = &bill;
	a.terms_accepted = 1;
	if (method == STRIPE) {
		a.stripe_payment_method_id = (char *)pm;
		a.stripe_customer_id = "cus_test";
	}
	rc = spb_billing_activate_services(h_cli, &a, &ar, NULL);
	if (rc == 0 && ar->order->status != O_SUCCEEDED)
		rc = SPB_ERROR;
	spb_message_free(ar);
	spb_message_free(qr);
	return rc;
}

int h_auto(char **item_ids, size_t n, int enabled, const char *payer, int method, const char *pm,
	   int64_t until, int cycles)
{
	Smartplus__Billing__V1__SetAutoRenewRequest r =
		SMARTPLUS__BILLING__V1__SET_AUTO_RENEW_REQUEST__INIT;
	Smartplus__Billing__V1__SetAutoRenewResponse *resp = NULL;
	Smartplus__Billing__V1__AutoRenewTerm t = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int rc;

	r.item_ids = item_ids;
	r.n_item_ids = n;
	r.enabled = enabled;
	r.payer_id = (char *)(payer ? payer : "");
	r.payment_method = method;
	if (method == STRIPE) {
		r.stripe_customer_id = "cus_test";
		r.stripe_payment_method_id = (char *)(pm ? pm : "");
	}
	if (until) {
		set_ts(&ts, until);
		t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL;
		t.until = &ts;
	} else if (cycles) {
		t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_CYCLES;
		t.cycles = cycles;
	} else {
		t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
		t.until_turned_off = 1;
	}
	r.term = &t;
	rc = spb_billing_set_auto_renew(h_cli, &r, &resp, NULL);
	if (rc == 0 && resp->n_items != n)
		rc = SPB_ERROR;
	spb_message_free(resp);
	return rc;
}

int h_advance(int64_t us, int64_t *now_out, int *ran)
{
	Smartplus__Billing__V1__AdvanceClockRequest r =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *resp = NULL;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	int rc;
	d.seconds = us / 1000000;
	d.nanos = (int32_t)(us % 1000000) * 1000;
	r.duration = &d;
	rc = spb_admin_advance_clock(h_cli, &r, &resp, NULL);
	if (rc == 0) {
		if (now_out)
			*now_out = h_ts(resp->now);
		if (ran)
			*ran = resp->renewals_run;
	}
	spb_message_free(resp);
	return rc;
}

int h_list_items(const char *project, void (*fn)(const Smartplus__Billing__V1__Item *, void *),
		 void *arg)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
	char *token = NULL;
	int rc;
	r.project_id = (char *)project;
	r.page_size = 1000;
	do {
		r.page_token = token ? token : "";
		rc = spb_billing_list_items(h_cli, &r, &resp, NULL);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < resp->n_items; i++)
			fn(resp->items[i], arg);
		if (resp->next_page_token[0])
			token = strdup(resp->next_page_token);
		spb_message_free(resp);
		resp = NULL;
	} while (token);
	return rc;
}

typedef struct item_query {
	const char *id;
	h_item_state *st;
	int found;
} item_query;

static void on_item(const Smartplus__Billing__V1__Item *it, void *arg)
{
	item_query *q = arg;
	if (strcmp(it->item_id, q->id) != 0)
		return;
	q->st->status = it->status;
	q->st->expires_at = h_ts(it->expires_at);
	q->st->renew_mode = it->renew_mode;
	q->st->auto_on = it->auto_renew && it->auto_renew->enabled;
	q->st->cycles_done = it->auto_renew ? it->auto_renew->cycles_done : 0;
	q->st->failed_attempts = it->auto_renew ? it->auto_renew->failed_attempts : 0;
	q->found = 1;
}

int h_item(const char *project, const char *item_id, h_item_state *st)
{
	item_query q = {item_id, st, 0};
	memset(st, 0, sizeof(*st));
	return h_list_items(project, on_item, &q) == 0 && q.found;
}

int h_orders(const char *payer, int type, void (*fn)(const Smartplus__Billing__V1__Order *, void *),
	     void *arg)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	Smartplus__Billing__V1__ListOrdersResponse *resp = NULL;
	char *token = NULL;
	int rc = 0;
	r.payer_id = (char *)payer;
	r.type = type;
	r.page_size = 1000;
	do {
		r.page_token = token ? token : "";
		rc = spb_billing_list_orders(h_cli, &r, &resp, NULL);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < resp->n_orders; i++)
			fn(resp->orders[i], arg);
		if (resp->next_page_token[0])
			token = strdup(resp->next_page_token);
		spb_message_free(resp);
		resp = NULL;
	} while (token);
	return rc;
}
