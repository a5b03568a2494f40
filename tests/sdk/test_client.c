/* Tests of sdk/src/client.c: options, idempotency keys, calls and retries
 * against an unreachable port and against the fake server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_server.h"
#include "sdk_tests.h"
#include "spb_internal.h"

static int is_generated_key(const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++) {
		if (!strchr("0123456789abcdef", key[i]))
			return 0;
	}
	return i == SPB__IDEMPOTENCY_KEY_LEN;
}

/* A 127.0.0.1 port nothing listens on: bound, then released. */
static int unused_port(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
		port = ntohs(addr.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void test_options_init_macros_give_defaults(void)
{
	spb_client_options copts = SPB_CLIENT_OPTIONS_INIT, cfill;
	spb_call_options opts = SPB_CALL_OPTIONS_INIT, fill;

	CU_ASSERT_EQUAL(copts.version, SPB_CLIENT_OPTIONS_VERSION);
	CU_ASSERT_PTR_NULL(copts.api_key);
	CU_ASSERT_EQUAL(copts.default_deadline_ms, 30000);
	CU_ASSERT_PTR_NULL(copts.tls.root_certs_pem);
	CU_ASSERT_PTR_NULL(copts.tls.client_cert_pem);
	CU_ASSERT_PTR_NULL(copts.tls.client_key_pem);
	CU_ASSERT_EQUAL(copts.max_retries, 2);
	CU_ASSERT_EQUAL(opts.version, SPB_CALL_OPTIONS_VERSION);
	CU_ASSERT_EQUAL(opts.deadline_ms, 0);
	CU_ASSERT_PTR_NULL(opts.api_key);
	CU_ASSERT_PTR_NULL(opts.idempotency_key);
	CU_ASSERT_PTR_NULL(opts.acting_account);

	memset(&cfill, 0xa5, sizeof(cfill));
	memset(&fill, 0xa5, sizeof(fill));
	CU_ASSERT_EQUAL(spb_client_options_init(&cfill, SPB_CLIENT_OPTIONS_VERSION), 0);
	CU_ASSERT_EQUAL(spb_call_options_init(&fill, SPB_CALL_OPTIONS_VERSION), 0);
	CU_ASSERT_EQUAL(cfill.version, copts.version);
	CU_ASSERT_PTR_NULL(cfill.api_key);
	CU_ASSERT_EQUAL(cfill.default_deadline_ms, copts.default_deadline_ms);
	CU_ASSERT_PTR_NULL(cfill.tls.root_certs_pem);
	CU_ASSERT_PTR_NULL(cfill.tls.client_cert_pem);
	CU_ASSERT_PTR_NULL(cfill.tls.client_key_pem);
	CU_ASSERT_EQUAL(cfill.max_retries, copts.max_retries);
	CU_ASSERT_EQUAL(fill.version, opts.version);
	CU_ASSERT_EQUAL(fill.deadline_ms, 0);
	CU_ASSERT_PTR_NULL(fill.api_key);
	CU_ASSERT_PTR_NULL(fill.idempotency_key);
	CU_ASSERT_PTR_NULL(fill.acting_account);
	CU_ASSERT_EQUAL(spb_client_options_init(&cfill, 99), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_call_options_init(NULL, SPB_CALL_OPTIONS_VERSION), SPB_EINVALID);
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_idempotency_keys_are_hex_and_unique(void)
{
	enum { N = 2000 };
	char(*keys)[SPB__IDEMPOTENCY_KEY_LEN + 1] = calloc(N, sizeof(*keys));
	int i, bad = 0, dups = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(keys);
	for (i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(spb__idempotency_key_new(keys[i]), 0);
		bad += !is_generated_key(keys[i]);
	}
	qsort(keys, N, sizeof(*keys), compare_keys);
	for (i = 1; i < N; i++)
		dups += strcmp(keys[i - 1], keys[i]) == 0;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dups, 0);
	free(keys);
}

static void test_client_new_rejects_bad_options(void)
{
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;

	CU_ASSERT_PTR_NULL(spb_client_new(NULL, NULL));
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, GRPC_STATUS_INVALID_ARGUMENT);
	CU_ASSERT_PTR_NULL(spb_client_new("", NULL));

	opts.version = 7;
	CU_ASSERT_PTR_NULL(spb_client_new("127.0.0.1:1", &opts));
	CU_ASSERT(strstr(spb_error_last()->message, "version") != NULL);

	opts.version = SPB_CLIENT_OPTIONS_VERSION;
	opts.tls.root_certs_pem = "x";
	opts.tls.client_cert_pem = "cert";
	CU_ASSERT_PTR_NULL(spb_client_new("127.0.0.1:1", &opts));
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, GRPC_STATUS_INVALID_ARGUMENT);

	opts = (spb_client_options)SPB_CLIENT_OPTIONS_INIT;
	opts.api_key = "bad\nkey";
	CU_ASSERT_PTR_NULL(spb_client_new("127.0.0.1:1", &opts));

	spb_client_free(NULL); /* a no-op */
}

static void test_call_rejects_bad_arguments(void)
{
	spb_client *client = spb_client_new("127.0.0.1:1", NULL);
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetOrderRequest wrong =
		SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = (void *)&req;
	Smartplus__Billing__V1__ActivateServicesRequest act =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *act_resp = NULL;
	spb_call_options opts = SPB_CALL_OPTIONS_INIT;
	char long_key[300];

	CU_ASSERT_PTR_NOT_NULL_FATAL(client);
	CU_ASSERT_EQUAL(spb_billing_get_catalog(NULL, &req, &resp, NULL), SPB_EINVALID);
	CU_ASSERT_PTR_NULL(resp); /* *out is cleared first */
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, NULL, &resp, NULL), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &req, NULL, NULL), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_billing_get_catalog(
				client, (const Smartplus__Billing__V1__GetCatalogRequest *)&wrong,
				&resp, NULL),
			SPB_EINVALID);
	CU_ASSERT(strstr(spb_error_last()->message, "GetOrderRequest") != NULL);

	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	opts.idempotency_key = long_key;
	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &act, &act_resp, &opts),
			SPB_EINVALID);
	opts.idempotency_key = "";
	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &act, &act_resp, &opts),
			SPB_EINVALID);
	opts.idempotency_key = NULL;
	opts.acting_account = "bad\x01";
	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &act, &act_resp, &opts),
			SPB_EINVALID);
	opts.acting_account = NULL;
	opts.version = 0;
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &req, &resp, &opts), SPB_EINVALID);
	spb_client_free(client);
}

static void test_unreachable_server_is_unavailable_with_one_key(void)
{
	char target[32];
	spb_client *client;
	Smartplus__Billing__V1__ActivateServicesRequest req =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *resp = NULL;
	Smartplus__Billing__V1__GetCatalogRequest cat =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *cat_resp = NULL;
	spb_call_options opts = SPB_CALL_OPTIONS_INIT;
	char first[SPB__IDEMPOTENCY_KEY_MAX + 1];

	snprintf(target, sizeof(target), "127.0.0.1:%d", unused_port());
	client = spb_client_new(target, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client);

	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &req, &resp, NULL), SPB_EUNAVAILABLE);
	CU_ASSERT_PTR_NULL(resp);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, GRPC_STATUS_UNAVAILABLE);
	CU_ASSERT(*spb_error_last()->message != '\0');
	CU_ASSERT(is_generated_key(spb_error_last()->idempotency_key));
	snprintf(first, sizeof(first), "%s", spb_error_last()->idempotency_key);

	/* A new call gets a new key; a read-only call keeps the last one. */
	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &req, &resp, NULL), SPB_EUNAVAILABLE);
	CU_ASSERT(is_generated_key(spb_error_last()->idempotency_key));
	CU_ASSERT_STRING_NOT_EQUAL(spb_error_last()->idempotency_key, first);
	snprintf(first, sizeof(first), "%s", spb_error_last()->idempotency_key);
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &cat, &cat_resp, NULL), SPB_EUNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->idempotency_key, first);

	/* A given key is the one used. */
	opts.idempotency_key = "order-42";
	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &req, &resp, &opts),
			SPB_EUNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->idempotency_key, "order-42");
	spb_client_free(client);
}

static void test_unavailable_is_retried_with_the_same_key(void)
{
	fake_server *fake = fake_server_start(GRPC_STATUS_UNAVAILABLE, NULL);
	spb_client_options copts = SPB_CLIENT_OPTIONS_INIT;
	spb_call_options opts = SPB_CALL_OPTIONS_INIT;
	Smartplus__Billing__V1__ActivateServicesRequest req =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *resp = NULL;
	struct fake_call calls[FAKE_MAX_CALLS];
	spb_client *client;
	int n, i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
	copts.api_key = "spb_k1_secret";
	client = spb_client_new(fake_server_target(fake), &copts);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client);
	opts.acting_account = "installer-7";

	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &req, &resp, &opts),
			SPB_EUNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->message, "fake failure");
	n = fake_server_calls(fake, calls, FAKE_MAX_CALLS);
	CU_ASSERT_EQUAL(n, 1 + copts.max_retries);
	for (i = 0; i < n && i < FAKE_MAX_CALLS; i++) {
		CU_ASSERT_STRING_EQUAL(calls[i].method,
				       "/smartplus.billing.v1.BillingService/ActivateServices");
		CU_ASSERT_STRING_EQUAL(calls[i].idempotency_key, spb_error_last()->idempotency_key);
		CU_ASSERT_STRING_EQUAL(calls[i].authorization, "Bearer spb_k1_secret");
		CU_ASSERT_STRING_EQUAL(calls[i].acting_account, "installer-7");
	}
	CU_ASSERT(is_generated_key(calls[0].idempotency_key));
	spb_client_free(client);

	/* max_retries 0: one attempt. */
	copts.max_retries = 0;
	client = spb_client_new(fake_server_target(fake), &copts);
	CU_ASSERT_EQUAL(spb_billing_activate_services(client, &req, &resp, NULL), SPB_EUNAVAILABLE);
	CU_ASSERT_EQUAL(fake_server_calls(fake, calls, 0), n + 1);
	spb_client_free(client);
	fake_server_stop(fake);
}

static void test_error_status_carries_reason(void)
{
	fake_server *fake = fake_server_start(GRPC_STATUS_FAILED_PRECONDITION, "QUOTE_STALE");
	spb_call_options opts = SPB_CALL_OPTIONS_INIT;
	Smartplus__Billing__V1__RenewServicesRequest req =
		SMARTPLUS__BILLING__V1__RENEW_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__RenewServicesResponse *resp = NULL;
	struct fake_call calls[2];
	spb_client *client;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
	client = spb_client_new(fake_server_target(fake), NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client);
	opts.api_key = "spb_per_call";
	opts.idempotency_key = "renew-1";
	CU_ASSERT_EQUAL(spb_billing_renew_services(client, &req, &resp, &opts), SPB_EPRECONDITION);
	CU_ASSERT_PTR_NULL(resp);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, GRPC_STATUS_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "QUOTE_STALE");
	CU_ASSERT_STRING_EQUAL(spb_error_last()->message, "fake failure");
	CU_ASSERT_STRING_EQUAL(spb_error_last()->idempotency_key, "renew-1");
	/* Not retried; no client key, so the per-call one; no acting account. */
	CU_ASSERT_EQUAL_FATAL(fake_server_calls(fake, calls, 2), 1);
	CU_ASSERT_STRING_EQUAL(calls[0].authorization, "Bearer spb_per_call");
	CU_ASSERT_STRING_EQUAL(calls[0].idempotency_key, "renew-1");
	CU_ASSERT_STRING_EQUAL(calls[0].acting_account, "");
	spb_client_free(client);
	fake_server_stop(fake);
}

/* Per-call metadata and :authority reach the server on every attempt; bad
 * entries are refused before anything is sent. */
static void test_call_metadata_and_authority(void)
{
	fake_server *fake = fake_server_start(GRPC_STATUS_UNAVAILABLE, NULL);
	static const spb_metadata md[] = {
		{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"x-request-id", "req-42"},
	};
	static const spb_metadata bad[][1] = {
		{{"authorization", "Bearer x"}},
		{{"grpc-timeout", "1S"}},
		{{"trace-bin", "x"}},
		{{"Upper", "x"}},
		{{"x-ok", "bad\nvalue"}},
		{{"", "x"}},
		{{"idempotency-key", "k"}},
	};
	spb_client_options copts = SPB_CLIENT_OPTIONS_INIT;
	spb_call_options opts = SPB_CALL_OPTIONS_INIT;
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
	struct fake_call calls[4];
	spb_client *client;
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
	copts.max_retries = 1;
	client = spb_client_new(fake_server_target(fake), &copts);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client);
	opts.metadata = md;
	opts.metadata_count = 2;
	opts.authority = "billing.example";
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &req, &resp, &opts), SPB_EUNAVAILABLE);
	n = fake_server_calls(fake, calls, 4);
	CU_ASSERT_EQUAL_FATAL(n, 2); /* the first attempt and one retry */
	for (int i = 0; i < n; i++) {
		CU_ASSERT_STRING_EQUAL(calls[i].traceparent, md[0].value);
		CU_ASSERT_STRING_EQUAL(calls[i].request_id, "req-42");
		CU_ASSERT_STRING_EQUAL(calls[i].host, "billing.example");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		opts.metadata = bad[i];
		opts.metadata_count = 1;
		CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &req, &resp, &opts), SPB_EINVALID);
		CU_ASSERT(strstr(spb_error_last()->message, "metadata[0]") != NULL);
	}
	opts.metadata = md;
	opts.metadata_count = SPB_CALL_METADATA_MAX + 1;
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &req, &resp, &opts), SPB_EINVALID);
	CU_ASSERT_EQUAL(fake_server_calls(fake, calls, 4), 2); /* nothing more was sent */
	/* without an authority the channel's (the target) is used */
	opts.metadata_count = 0;
	opts.authority = NULL;
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &req, &resp, &opts), SPB_EUNAVAILABLE);
	CU_ASSERT_EQUAL_FATAL(fake_server_calls(fake, calls, 4), 4);
	CU_ASSERT_STRING_EQUAL(calls[2].host, fake_server_target(fake));
	CU_ASSERT_STRING_EQUAL(calls[2].traceparent, "");
	spb_client_free(client);
	fake_server_stop(fake);
}

/* A program built against the version 1 header passes smaller structs:
 * they are read up to their last field, the rest stays default. */
static void test_version_1_options_still_work(void)
{
	fake_server *fake = fake_server_start(GRPC_STATUS_FAILED_PRECONDITION, "QUOTE_STALE");
	spb_client_options copts;
	spb_call_options opts;
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
	struct fake_call calls[2];
	spb_client *client;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
	memset(&copts, 0xff, sizeof(copts)); /* what a v1 caller never wrote */
	memset(&opts, 0xff, sizeof(opts));
	CU_ASSERT_EQUAL(spb_client_options_init(&copts, 1), 0);
	CU_ASSERT_EQUAL(spb_call_options_init(&opts, 1), 0);
	CU_ASSERT_EQUAL(copts.version, 1);
	CU_ASSERT_EQUAL(opts.version, 1);
	copts.api_key = "spb_v1";
	client = spb_client_new(fake_server_target(fake), &copts);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client);
	opts.acting_account = "i1";
	CU_ASSERT_EQUAL(spb_billing_get_catalog(client, &req, &resp, &opts), SPB_EPRECONDITION);
	CU_ASSERT_EQUAL_FATAL(fake_server_calls(fake, calls, 2), 1);
	CU_ASSERT_STRING_EQUAL(calls[0].authorization, "Bearer spb_v1");
	CU_ASSERT_STRING_EQUAL(calls[0].acting_account, "i1");
	CU_ASSERT_STRING_EQUAL(calls[0].host, fake_server_target(fake));
	CU_ASSERT_EQUAL(spb_call_options_init(&opts, 3), SPB_EINVALID);
	CU_ASSERT_EQUAL(spb_client_options_init(&copts, 0), SPB_EINVALID);
	spb_client_free(client);
	fake_server_stop(fake);
}

struct catalog_job {
	spb_client *client;
	int project_type, ok;
};

/* Calls GetCatalog for job->project_type; ok when the echo matches. */
static void *get_catalog(void *arg)
{
	struct catalog_job *job = arg;
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
	int i;

	req.project_type = job->project_type;
	job->ok = 1;
	for (i = 0; i < 20 && job->ok; i++) {
		job->ok = spb_billing_get_catalog(job->client, &req, &resp, NULL) == 0 &&
			  resp->n_project_types == 1 &&
			  resp->project_types[0]->project_type == req.project_type &&
			  resp->project_types[0]->n_services == 1 &&
			  resp->project_types[0]->services[0]->service_type ==
				  SMARTPLUS__BILLING__V1__SERVICE_TYPE__SERVICE_TYPE_DOOR &&
			  spb_error_last()->grpc_code == 0;
		spb_message_free(resp);
		resp = NULL;
	}
	return NULL;
}

static void test_ok_response_is_decoded_from_many_threads(void)
{
	enum { THREADS = 4 };
	fake_server *fake = fake_server_start(GRPC_STATUS_OK, NULL);
	struct catalog_job jobs[THREADS];
	pthread_t threads[THREADS];
	struct fake_call call;
	spb_client *client;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(fake);
	client = spb_client_new(fake_server_target(fake), NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client);
	for (i = 0; i < THREADS; i++) {
		jobs[i].client = client;
		jobs[i].project_type = 1 + i % 3;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[i], NULL, get_catalog, &jobs[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		CU_ASSERT(jobs[i].ok);
	}
	CU_ASSERT_EQUAL(fake_server_calls(fake, &call, 1), THREADS * 20);
	CU_ASSERT_STRING_EQUAL(call.method, "/smartplus.billing.v1.BillingService/GetCatalog");
	CU_ASSERT_STRING_EQUAL(call.idempotency_key, ""); /* read-only */
	CU_ASSERT_STRING_EQUAL(call.authorization, "");
	spb_client_free(client);
	fake_server_stop(fake);
}

CU_TestInfo sdk_client_tests[] = {
	{"options_init_macros_give_defaults", test_options_init_macros_give_defaults},
	{"idempotency_keys_are_hex_and_unique", test_idempotency_keys_are_hex_and_unique},
	{"client_new_rejects_bad_options", test_client_new_rejects_bad_options},
	{"call_rejects_bad_arguments", test_call_rejects_bad_arguments},
	{"unreachable_server_is_unavailable_with_one_key",
	 test_unreachable_server_is_unavailable_with_one_key},
	{"unavailable_is_retried_with_the_same_key", test_unavailable_is_retried_with_the_same_key},
	{"error_status_carries_reason", test_error_status_carries_reason},
	{"call_metadata_and_authority_are_sent", test_call_metadata_and_authority},
	{"version_1_options_still_work", test_version_1_options_still_work},
	{"ok_response_is_decoded_from_many_threads", test_ok_response_is_decoded_from_many_threads},
	CU_TEST_INFO_NULL,
};
