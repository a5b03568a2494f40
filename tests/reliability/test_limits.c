/*
 * test_limits: billingd's limits through the real server on 127.0.0.1:0.
 *
 *   test_limits <billingd>
 *
 * One CUnit suite: requests over --max-receive-bytes, oversize metadata and
 * deadlines already past are refused with the right status and the server
 * keeps serving; an LMDB map filled by CreateItems (--map-size 2 MiB) gives
 * RESOURCE_EXHAUSTED / STORAGE_FULL with nothing of the refused batch
 * written, reads still answered, and a clean restart on the full store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <grpc/grpc.h>

#include "rel.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "smartplus/billing/v1/directory_service.pb-c.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define MAX_RECEIVE 4096

static const char *billingd_path;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}
static char tmp[512];

/* Reports a status mismatch with the server's message, then asserts. */
#define EXPECT_STATUS(r, want)                                                                   \
	do {                                                                                     \
		if ((r)->status != (want))                                                       \
			fprintf(stderr, "\n  %s:%d: got %s (%s), want %s\n", __FILE__, __LINE__, \
				rel_status_name((r)->status), (r)->message,                      \
				rel_status_name(want));                                          \
		CU_ASSERT_EQUAL((r)->status, (want));                                            \
	} while (0)

static grpc_status_code get_account(rel_server *s, const char *id)
{
	Smartplus__Billing__V1__GetAccountRequest q =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	rel_result r;
	q.account_id = (char *)id;
	rel_call(s->ch, REL_DIR "GetAccount", s->key, &q.base, &r);
	rel_result_free(&r);
	return r.status;
}

static grpc_status_code create_account(rel_server *s, const char *id, int role, const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest q =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	rel_result r;
	q.account_id = (char *)id;
	q.role = role;
	q.parent_id = (char *)parent;
	rel_call(s->ch, REL_DIR "CreateAccount", s->key, &q.base, &r);
	if (r.status != GRPC_STATUS_OK)
		fprintf(stderr, "\n  CreateAccount %s: %s %s\n", id, rel_status_name(r.status),
			r.message);
	rel_result_free(&r);
	return r.status;
}

static int start(rel_server *s, const char *name, const char *const *extra)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/%s", tmp, name);
	if (rel_start(s, billingd_path, dir, extra) != 0) {
		CU_FAIL("billingd did not start");
		return -1;
	}
	return 0;
}

static void stop(rel_server *s)
{
	int rc = rel_stop(s);
	if (rc != 0)
		fprintf(stderr, "\n  billingd exit status %d (log %s)\n", rc, s->log);
	CU_ASSERT_EQUAL(rc, 0);
}

/* ------------------------------------------------------------------------ */

static void test_request_over_max_receive_is_resource_exhausted(void)
{
	static const char *const extra[] = {"--max-receive-bytes", "4096", NULL};
	Smartplus__Billing__V1__GetAccountRequest q =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	char *big = malloc(2 * MAX_RECEIVE + 1);
	rel_server s;
	rel_result r;

	if (start(&s, "recv", extra) != 0)
		goto done;
	memset(big, 'a', 2 * MAX_RECEIVE);
	big[2 * MAX_RECEIVE] = 0;
	q.account_id = big;
	rel_call(s.ch, REL_DIR "GetAccount", s.key, &q.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
	rel_result_free(&r);
	/* Just under the limit reaches the handler (which refuses the id). */
	big[MAX_RECEIVE - 64] = 0;
	rel_call(s.ch, REL_DIR "GetAccount", s.key, &q.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_INVALID_ARGUMENT);
	rel_result_free(&r);
	CU_ASSERT_EQUAL(get_account(&s, "vendor"), GRPC_STATUS_OK);
	stop(&s);
done:
	free(big);
}

static void test_oversize_metadata_is_refused(void)
{
	Smartplus__Billing__V1__GetAccountRequest q =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	size_t pad_len = 64 * 1024;
	char *pad = malloc(pad_len + 1);
	uint8_t buf[64];
	rel_md md[1];
	rel_server s;
	rel_result r;
	size_t n;

	if (start(&s, "md", NULL) != 0)
		goto done;
	memset(pad, 'p', pad_len);
	pad[pad_len] = 0;
	md[0].key = "x-padding";
	md[0].value = pad;
	md[0].value_len = pad_len;
	q.account_id = "vendor";
	n = protobuf_c_message_pack(&q.base, buf);
	rel_call_raw(s.ch, REL_DIR "GetAccount", s.key, md, 1, buf, n, 10000, &r);
	/* grpc refuses headers over GRPC_ARG_MAX_METADATA_SIZE before dispatch. */
	if (r.status != GRPC_STATUS_RESOURCE_EXHAUSTED && r.status != GRPC_STATUS_INTERNAL &&
	    r.status != GRPC_STATUS_UNAVAILABLE)
		fprintf(stderr, "\n  oversize metadata: %s (%s)\n", rel_status_name(r.status),
			r.message);
	CU_ASSERT_NOT_EQUAL(r.status, GRPC_STATUS_OK);
	EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
	rel_result_free(&r);
	/* An oversize key in the authorization header itself. */
	rel_call_raw(s.ch, REL_DIR "GetAccount", pad, NULL, 0, buf, n, 10000, &r);
	CU_ASSERT_NOT_EQUAL(r.status, GRPC_STATUS_OK);
	rel_result_free(&r);
	CU_ASSERT_EQUAL(get_account(&s, "vendor"), GRPC_STATUS_OK);
	stop(&s);
done:
	free(pad);
}

static void test_deadline_already_past_is_deadline_exceeded(void)
{
	Smartplus__Billing__V1__CreateAccountRequest c =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__GetAccountRequest q =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	uint8_t buf[256];
	rel_server s;
	rel_result r;
	size_t n;

	if (start(&s, "deadline", NULL) != 0)
		return;
	q.account_id = "vendor";
	n = protobuf_c_message_pack(&q.base, buf);
	rel_call_raw(s.ch, REL_DIR "GetAccount", s.key, NULL, 0, buf, n, -1000, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_DEADLINE_EXCEEDED);
	rel_result_free(&r);
	/* A mutation past its deadline: refused, and nothing written. */
	c.account_id = "late1";
	c.role = V1(ROLE__ROLE_DISTRIBUTOR);
	c.parent_id = "vendor";
	n = protobuf_c_message_pack(&c.base, buf);
	rel_call_raw(s.ch, REL_DIR "CreateAccount", s.key, NULL, 0, buf, n, -1000, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_DEADLINE_EXCEEDED);
	rel_result_free(&r);
	CU_ASSERT_NOT_EQUAL(get_account(&s, "late1"), GRPC_STATUS_OK);
	/* One that expires in flight: DEADLINE_EXCEEDED or done, never anything
	 * else; its write may still complete: wait for it (see the next test). */
	c.account_id = "late2";
	n = protobuf_c_message_pack(&c.base, buf);
	rel_call_raw(s.ch, REL_DIR "CreateAccount", s.key, NULL, 0, buf, n, 1, &r);
	CU_ASSERT(r.status == GRPC_STATUS_DEADLINE_EXCEEDED || r.status == GRPC_STATUS_OK);
	rel_result_free(&r);
	for (int i = 0; i < 100 && get_account(&s, "late2") != GRPC_STATUS_OK; i++)
		sleep_ms(20);
	CU_ASSERT_EQUAL(get_account(&s, "vendor"), GRPC_STATUS_OK);
	stop(&s);
}

/*
 * Writes whose callers gave up (deadline) are still in the writer when
 * SIGTERM comes: billingd must answer them before shutting its completion
 * queues, and exit cleanly. (grpc's server shutdown does not wait for calls
 * the application still holds; billingd used to abort in grpc, call.cc
 * "assertion failed: grpc_cq_begin_op".) A separate ctest:
 * `test_limits <billingd> shutdown`.
 */
static void create_batch(rel_server *s, int k, int first, int count, int deadline_ms,
			 rel_result *r);

static void test_shutdown_with_writes_in_flight_exits_cleanly(void)
{
	Smartplus__Billing__V1__CreateProjectRequest p =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	rel_server s;
	rel_result r;

	for (int round = 0; round < 5; round++) {
		char name[32];
		snprintf(name, sizeof(name), "inflight%d", round);
		if (start(&s, name, NULL) != 0)
			return;
		create_account(&s, "d1", V1(ROLE__ROLE_DISTRIBUTOR), "vendor");
		create_account(&s, "i1", V1(ROLE__ROLE_INSTALLER), "d1");
		p.project_id = "p1";
		p.installer_id = "i1";
		p.type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
		rel_call(s.ch, REL_DIR "CreateProject", s.key, &p.base, &r);
		rel_result_free(&r);
		/* Big writes the client gives up on at once: still queued at SIGTERM. */
		for (int k = 0; k < 4; k++) {
			create_batch(&s, k, 0, 1000, 5, &r);
			rel_result_free(&r);
		}
		stop(&s);
	}
}

/* ------------------------------------------------------------------------ */
/* Map full                                                                  */

#define BATCH 500
#define LABEL_LEN 256

/* CreateItems of ids "it<k>_<j>", first <= j < first + count. */
static void create_batch(rel_server *s, int k, int first, int count, int deadline_ms, rel_result *r)
{
	Smartplus__Billing__V1__CreateItemsRequest q =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ItemSpec *specs = calloc((size_t)count, sizeof(*specs));
	Smartplus__Billing__V1__ItemSpec **ptrs = calloc((size_t)count, sizeof(*ptrs));
	char(*ids)[32] = calloc((size_t)count, sizeof(*ids));
	char label[LABEL_LEN + 1];

	memset(label, 'l', LABEL_LEN);
	label[LABEL_LEN] = 0;
	for (int j = 0; j < count; j++) {
		smartplus__billing__v1__item_spec__init(&specs[j]);
		snprintf(ids[j], sizeof(ids[j]), "it%d_%d", k, first + j);
		specs[j].item_id = ids[j];
		specs[j].service_type = V1(SERVICE_TYPE__SERVICE_TYPE_APP);
		specs[j].label = label;
		ptrs[j] = &specs[j];
	}
	q.project_id = "p1";
	q.n_items = (size_t)count;
	q.items = ptrs;
	if (deadline_ms) {
		size_t n = protobuf_c_message_get_packed_size(&q.base);
		uint8_t *buf = malloc(n);
		protobuf_c_message_pack(&q.base, buf);
		rel_call_raw(s->ch, REL_DIR "CreateItems", s->key, NULL, 0, buf, n, deadline_ms, r);
		free(buf);
	} else {
		rel_call(s->ch, REL_DIR "CreateItems", s->key, &q.base, r);
	}
	free(specs);
	free(ptrs);
	free(ids);
}

/* Items of p1 by ListItems, or -1 when ListItems is not there yet. */
static long count_items(rel_server *s)
{
	Smartplus__Billing__V1__ListItemsRequest q =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	grpc_status_code st;
	long n;
	q.project_id = "p1";
	q.page_size = 1000;
	n = rel_list_count(s, REL_BILLING "ListItems", &q.base,
			   &smartplus__billing__v1__list_items_response__descriptor, "items", &st);
	if (n < 0 && st != GRPC_STATUS_UNIMPLEMENTED) {
		fprintf(stderr, "\n  ListItems: %s\n", rel_status_name(st));
		return -2;
	}
	return n;
}

static void test_map_full_is_storage_full_and_nothing_half_written(void)
{
	static const char *const extra[] = {"--map-size", "2097152", NULL};
	Smartplus__Billing__V1__CreateProjectRequest p =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__GetProjectRequest gp =
		SMARTPLUS__BILLING__V1__GET_PROJECT_REQUEST__INIT;
	rel_server s;
	rel_result r;
	long acked = 0, listed;
	int k, full_k = -1;

	if (start(&s, "full", extra) != 0)
		return;
	CU_ASSERT_EQUAL_FATAL(create_account(&s, "d1", V1(ROLE__ROLE_DISTRIBUTOR), "vendor"),
			      GRPC_STATUS_OK);
	CU_ASSERT_EQUAL_FATAL(create_account(&s, "i1", V1(ROLE__ROLE_INSTALLER), "d1"),
			      GRPC_STATUS_OK);
	p.project_id = "p1";
	p.installer_id = "i1";
	p.type = V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY);
	rel_call(s.ch, REL_DIR "CreateProject", s.key, &p.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_OK);
	rel_result_free(&r);

	for (k = 0; k < 100; k++) {
		create_batch(&s, k, 0, BATCH, 0, &r);
		rel_result_free(&r);
		if (r.status == GRPC_STATUS_OK) {
			acked += BATCH;
			continue;
		}
		EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
		if (strcmp(r.reason, "STORAGE_FULL") != 0)
			fprintf(stderr, "\n  map full: reason '%s', want STORAGE_FULL\n", r.reason);
		CU_ASSERT_STRING_EQUAL(r.reason, "STORAGE_FULL");
		full_k = k;
		break;
	}
	CU_ASSERT_FATAL(full_k > 0); /* some batches fit, then the map filled */
	printf("\n  map full after %ld items in %d batches of %d\n", acked, full_k, BATCH);

	/* Reads still answered. */
	CU_ASSERT_EQUAL(get_account(&s, "i1"), GRPC_STATUS_OK);
	gp.project_id = "p1";
	rel_call(s.ch, REL_DIR "GetProject", s.key, &gp.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_OK);
	rel_result_free(&r);
	/* Nothing of the refused batch: every acknowledged item, no other. */
	listed = count_items(&s);
	if (listed != -1)
		CU_ASSERT_EQUAL(listed, acked);
	/* Its first and last ids are free: each is created now or refused as
	 * full, never ALREADY_EXISTS. */
	create_batch(&s, full_k, 0, 1, 0, &r);
	CU_ASSERT(r.status == GRPC_STATUS_OK || r.status == GRPC_STATUS_RESOURCE_EXHAUSTED);
	rel_result_free(&r);
	create_batch(&s, full_k, BATCH - 1, 1, 0, &r);
	CU_ASSERT(r.status == GRPC_STATUS_OK || r.status == GRPC_STATUS_RESOURCE_EXHAUSTED);
	rel_result_free(&r);
	/* The rest of it, again: still too big. */
	create_batch(&s, full_k, 1, BATCH - 2, 0, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
	rel_result_free(&r);
	/* A clean stop and a restart on the full store, which still serves. */
	stop(&s);
	if (start(&s, "full", extra) != 0)
		return;
	CU_ASSERT_EQUAL(get_account(&s, "i1"), GRPC_STATUS_OK);
	rel_call(s.ch, REL_DIR "GetProject", s.key, &gp.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_OK);
	rel_result_free(&r);
	stop(&s);
}

int main(int argc, char **argv)
{
	CU_pSuite suite;
	unsigned failures;

	if (argc != 2 && !(argc == 3 && strcmp(argv[2], "shutdown") == 0)) {
		fprintf(stderr, "usage: test_limits <billingd> [shutdown]\n");
		return 2;
	}
	billingd_path = argv[1];
	if (rel_tmpdir(tmp, sizeof(tmp)) != 0)
		return 1;
	grpc_init();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("limits", NULL, NULL);
	if (argc == 3) {
		CU_add_test(suite, "shutdown with writes in flight exits cleanly",
			    test_shutdown_with_writes_in_flight_exits_cleanly);
		goto run;
	}
	CU_add_test(suite, "request over max receive is RESOURCE_EXHAUSTED",
		    test_request_over_max_receive_is_resource_exhausted);
	CU_add_test(suite, "oversize metadata is refused", test_oversize_metadata_is_refused);
	CU_add_test(suite, "deadline already past is DEADLINE_EXCEEDED",
		    test_deadline_already_past_is_deadline_exceeded);
	CU_add_test(suite, "map full is STORAGE_FULL and nothing half-written",
		    test_map_full_is_storage_full_and_nothing_half_written);
run:
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	grpc_shutdown();
	if (failures == 0)
		rel_rmtree(tmp);
	else
		fprintf(stderr, "kept %s for inspection\n", tmp);
	return failures ? 1 : 0;
}
