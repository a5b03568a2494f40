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

#include <grpc/grpc.h>

#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "smartplus/billing/v1/directory_service.pb-c.h"
#include "spt_billingd.h"
#include "spt_enums.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_time.h"

#define MAX_RECEIVE 4096

/* A billingd and a raw channel to it. */
typedef struct server {
	spt_billingd b;
	grpc_channel *ch;
} server;

/* Asserts a status, with the server's message when it is another. */
#define EXPECT_STATUS(r, want)                                                                 \
	SPT_CHECK((r)->status == (want), "got %s (%s), want %s", spt_status_name((r)->status), \
		  (r)->message, spt_status_name(want))

static int get_account(server *s, const char *id)
{
	Smartplus__Billing__V1__GetAccountRequest q =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	spt_raw_result r;
	q.account_id = (char *)id;
	spt_raw_call_msg(s->ch, SPT_DIRECTORY "GetAccount", s->b.admin_key, &q.base, &r);
	spt_raw_free(&r);
	return r.status;
}

static int create_account(server *s, const char *id, int role, const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest q =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	spt_raw_result r;
	q.account_id = (char *)id;
	q.role = role;
	q.parent_id = (char *)parent;
	spt_raw_call_msg(s->ch, SPT_DIRECTORY "CreateAccount", s->b.admin_key, &q.base, &r);
	if (r.status != GRPC_STATUS_OK)
		fprintf(stderr, "\n  CreateAccount %s: %s %s\n", id, spt_status_name(r.status),
			r.message);
	spt_raw_free(&r);
	return r.status;
}

static int start(server *s, const char *const *extra)
{
	if (spt_billingd_start(&s->b, extra) != 0) {
		CU_FAIL("billingd did not start");
		spt_billingd_free(&s->b);
		return -1;
	}
	s->ch = spt_raw_channel(s->b.target);
	return 0;
}

/* SIGTERM: a clean exit is asserted. The data directory stays. */
static void stop(server *s)
{
	int rc;
	grpc_channel_destroy(s->ch);
	s->ch = NULL;
	rc = spt_billingd_stop(&s->b);
	SPT_CHECK(rc == 0, "billingd exit status %d (log %s)", rc, s->b.log_path);
}

/* stop() and remove everything. */
static void finish(server *s)
{
	stop(s);
	spt_billingd_free(&s->b);
}

/* ------------------------------------------------------------------------ */

static void test_request_over_max_receive_is_resource_exhausted(void)
{
	static const char *const extra[] = {"--max-receive-bytes", "4096", NULL};
	Smartplus__Billing__V1__GetAccountRequest q =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	char *big = malloc(2 * MAX_RECEIVE + 1);
	server s;
	spt_raw_result r;

	if (start(&s, extra) != 0)
		goto done;
	memset(big, 'a', 2 * MAX_RECEIVE);
	big[2 * MAX_RECEIVE] = 0;
	q.account_id = big;
	spt_raw_call_msg(s.ch, SPT_DIRECTORY "GetAccount", s.b.admin_key, &q.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
	spt_raw_free(&r);
	/* Just under the limit reaches the handler (which refuses the id). */
	big[MAX_RECEIVE - 64] = 0;
	spt_raw_call_msg(s.ch, SPT_DIRECTORY "GetAccount", s.b.admin_key, &q.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_INVALID_ARGUMENT);
	spt_raw_free(&r);
	CU_ASSERT_EQUAL(get_account(&s, "vendor"), GRPC_STATUS_OK);
	finish(&s);
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
	spt_md md[1];
	server s;
	spt_raw_result r;
	size_t n;

	if (start(&s, NULL) != 0)
		goto done;
	memset(pad, 'p', pad_len);
	pad[pad_len] = 0;
	md[0].key = "x-padding";
	md[0].value = pad;
	md[0].value_len = pad_len;
	q.account_id = "vendor";
	n = protobuf_c_message_pack(&q.base, buf);
	spt_raw_call(s.ch, SPT_DIRECTORY "GetAccount", s.b.admin_key, md, 1, buf, n, 10000, &r);
	/* grpc refuses headers over GRPC_ARG_MAX_METADATA_SIZE before dispatch. */
	if (r.status != GRPC_STATUS_RESOURCE_EXHAUSTED && r.status != GRPC_STATUS_INTERNAL &&
	    r.status != GRPC_STATUS_UNAVAILABLE)
		fprintf(stderr, "\n  oversize metadata: %s (%s)\n", spt_status_name(r.status),
			r.message);
	CU_ASSERT_NOT_EQUAL(r.status, GRPC_STATUS_OK);
	EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
	spt_raw_free(&r);
	/* An oversize key in the authorization header itself. */
	spt_raw_call(s.ch, SPT_DIRECTORY "GetAccount", pad, NULL, 0, buf, n, 10000, &r);
	CU_ASSERT_NOT_EQUAL(r.status, GRPC_STATUS_OK);
	spt_raw_free(&r);
	CU_ASSERT_EQUAL(get_account(&s, "vendor"), GRPC_STATUS_OK);
	finish(&s);
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
	server s;
	spt_raw_result r;
	size_t n;
	int written; /* late2's write may complete after its deadline */

	if (start(&s, NULL) != 0)
		return;
	q.account_id = "vendor";
	n = protobuf_c_message_pack(&q.base, buf);
	spt_raw_call(s.ch, SPT_DIRECTORY "GetAccount", s.b.admin_key, NULL, 0, buf, n, -1000, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_DEADLINE_EXCEEDED);
	spt_raw_free(&r);
	/* A mutation past its deadline: refused, and nothing written. */
	c.account_id = "late1";
	c.role = ROLE(DISTRIBUTOR);
	c.parent_id = "vendor";
	n = protobuf_c_message_pack(&c.base, buf);
	spt_raw_call(s.ch, SPT_DIRECTORY "CreateAccount", s.b.admin_key, NULL, 0, buf, n, -1000,
		     &r);
	EXPECT_STATUS(&r, GRPC_STATUS_DEADLINE_EXCEEDED);
	spt_raw_free(&r);
	CU_ASSERT_NOT_EQUAL(get_account(&s, "late1"), GRPC_STATUS_OK);
	/* One that expires in flight: DEADLINE_EXCEEDED or done, never anything
	 * else; its write may still complete: wait for it (see the next test). */
	c.account_id = "late2";
	n = protobuf_c_message_pack(&c.base, buf);
	spt_raw_call(s.ch, SPT_DIRECTORY "CreateAccount", s.b.admin_key, NULL, 0, buf, n, 1, &r);
	CU_ASSERT(r.status == GRPC_STATUS_DEADLINE_EXCEEDED || r.status == GRPC_STATUS_OK);
	spt_raw_free(&r);
	SPT_POLL(written, get_account(&s, "late2") == GRPC_STATUS_OK, 2000, 20);
	CU_ASSERT_EQUAL(get_account(&s, "vendor"), GRPC_STATUS_OK);
	finish(&s);
}

/*
 * Writes whose callers gave up (deadline) are still in the writer when
 * SIGTERM comes: billingd must answer them before shutting its completion
 * queues, and exit cleanly. (grpc's server shutdown does not wait for calls
 * the application still holds; billingd used to abort in grpc, call.cc
 * "assertion failed: grpc_cq_begin_op".) A separate ctest:
 * `test_limits <billingd> --test "shutdown with writes in flight exits cleanly"`.
 */
static void create_batch(server *s, int k, int first, int count, int deadline_ms,
			 spt_raw_result *r);

static void test_shutdown_with_writes_in_flight_exits_cleanly(void)
{
	Smartplus__Billing__V1__CreateProjectRequest p =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	server s;
	spt_raw_result r;

	for (int round = 0; round < 5; round++) {
		char name[32];
		snprintf(name, sizeof(name), "inflight%d", round);
		if (start(&s, NULL) != 0)
			return;
		SPT_SEED(create_account(&s, "d1", ROLE(DISTRIBUTOR), "vendor"));
		SPT_SEED(create_account(&s, "i1", ROLE(INSTALLER), "d1"));
		p.project_id = "p1";
		p.installer_id = "i1";
		p.type = PTYPE(COMMUNITY);
		spt_raw_call_msg(s.ch, SPT_DIRECTORY "CreateProject", s.b.admin_key, &p.base, &r);
		spt_raw_free(&r);
		SPT_SEED(r.status);
		/* Big writes the client gives up on at once: still queued at SIGTERM. */
		for (int k = 0; k < 4; k++) {
			create_batch(&s, k, 0, 1000, 5, &r);
			spt_raw_free(&r);
		}
		finish(&s);
	}
}

/* ------------------------------------------------------------------------ */
/* Map full                                                                  */

#define BATCH 500
#define LABEL_LEN 256

/* CreateItems of ids "it<k>_<j>", first <= j < first + count. */
static void create_batch(server *s, int k, int first, int count, int deadline_ms, spt_raw_result *r)
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
		specs[j].service_type = STYPE(APP);
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
		spt_raw_call(s->ch, SPT_DIRECTORY "CreateItems", s->b.admin_key, NULL, 0, buf, n,
			     deadline_ms, r);
		free(buf);
	} else {
		spt_raw_call_msg(s->ch, SPT_DIRECTORY "CreateItems", s->b.admin_key, &q.base, r);
	}
	free(specs);
	free(ptrs);
	free(ids);
}

/* Items of p1 by ListItems, or -1 when ListItems is not there yet. */
static long count_items(server *s)
{
	Smartplus__Billing__V1__ListItemsRequest q =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	int st;
	long n;
	q.project_id = "p1";
	q.page_size = 1000;
	n = spt_raw_list_count(s->ch, s->b.admin_key, SPT_BILLING "ListItems", &q.base,
			       &smartplus__billing__v1__list_items_response__descriptor, "items",
			       &st);
	if (n < 0 && st != GRPC_STATUS_UNIMPLEMENTED) {
		fprintf(stderr, "\n  ListItems: %s\n", spt_status_name(st));
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
	server s;
	spt_raw_result r;
	long acked = 0, listed;
	int k, full_k = -1;

	if (start(&s, extra) != 0)
		return;
	CU_ASSERT_EQUAL_FATAL(create_account(&s, "d1", ROLE(DISTRIBUTOR), "vendor"),
			      GRPC_STATUS_OK);
	CU_ASSERT_EQUAL_FATAL(create_account(&s, "i1", ROLE(INSTALLER), "d1"), GRPC_STATUS_OK);
	p.project_id = "p1";
	p.installer_id = "i1";
	p.type = PTYPE(COMMUNITY);
	spt_raw_call_msg(s.ch, SPT_DIRECTORY "CreateProject", s.b.admin_key, &p.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_OK);
	spt_raw_free(&r);

	for (k = 0; k < 100; k++) {
		create_batch(&s, k, 0, BATCH, 0, &r);
		spt_raw_free(&r);
		if (r.status == GRPC_STATUS_OK) {
			acked += BATCH;
			continue;
		}
		EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
		SPT_CHECK(strcmp(r.reason, "STORAGE_FULL") == 0, "map full: reason '%s'", r.reason);
		full_k = k;
		break;
	}
	CU_ASSERT_FATAL(full_k > 0); /* some batches fit, then the map filled */
	printf("\n  map full after %ld items in %d batches of %d\n", acked, full_k, BATCH);

	/* Reads still answered. */
	CU_ASSERT_EQUAL(get_account(&s, "i1"), GRPC_STATUS_OK);
	gp.project_id = "p1";
	spt_raw_call_msg(s.ch, SPT_DIRECTORY "GetProject", s.b.admin_key, &gp.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_OK);
	spt_raw_free(&r);
	/* Nothing of the refused batch: every acknowledged item, no other. */
	listed = count_items(&s);
	if (listed != -1)
		CU_ASSERT_EQUAL(listed, acked);
	/* Its first and last ids are free: each is created now or refused as
	 * full, never ALREADY_EXISTS. */
	create_batch(&s, full_k, 0, 1, 0, &r);
	CU_ASSERT(r.status == GRPC_STATUS_OK || r.status == GRPC_STATUS_RESOURCE_EXHAUSTED);
	spt_raw_free(&r);
	create_batch(&s, full_k, BATCH - 1, 1, 0, &r);
	CU_ASSERT(r.status == GRPC_STATUS_OK || r.status == GRPC_STATUS_RESOURCE_EXHAUSTED);
	spt_raw_free(&r);
	/* The rest of it, again: still too big. */
	create_batch(&s, full_k, 1, BATCH - 2, 0, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_RESOURCE_EXHAUSTED);
	spt_raw_free(&r);
	/* A clean stop and a restart on the full store, which still serves. */
	stop(&s);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&s.b), 0);
	s.ch = spt_raw_channel(s.b.target);
	CU_ASSERT_EQUAL(get_account(&s, "i1"), GRPC_STATUS_OK);
	spt_raw_call_msg(s.ch, SPT_DIRECTORY "GetProject", s.b.admin_key, &gp.base, &r);
	EXPECT_STATUS(&r, GRPC_STATUS_OK);
	spt_raw_free(&r);
	finish(&s);
}

static CU_TestInfo tests[] = {
	{"request over max receive is RESOURCE_EXHAUSTED",
	 test_request_over_max_receive_is_resource_exhausted},
	{"oversize metadata is refused", test_oversize_metadata_is_refused},
	{"deadline already past is DEADLINE_EXCEEDED",
	 test_deadline_already_past_is_deadline_exceeded},
	{"map full is STORAGE_FULL and nothing half-written",
	 test_map_full_is_storage_full_and_nothing_half_written},
	{"shutdown with writes in flight exits cleanly",
	 test_shutdown_with_writes_in_flight_exits_cleanly},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"limits", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
