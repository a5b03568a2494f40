/*
 * Concurrent streams per connection: billingd advertises at most 256
 * (GRPC_ARG_MAX_CONCURRENT_STREAMS). 300 long-lived Health/Watch streams on
 * one connection: no more than 256 are served at once, the rest wait; when
 * some end, the waiting ones are served.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "spt_billingd.h"
#include "spt_run.h"

#define STREAMS 300
#define LIMIT 256

static spt_billingd srv;

typedef struct watch {
	grpc_call *call;
	grpc_byte_buffer *msg;
	grpc_metadata_array md_in, trailers;
	grpc_status_code status;
	grpc_slice details;
	int got_first, done_first;
} watch;

static gpr_timespec in_ms(int ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Drains completions for `ms`; counts streams that got their first message. */
static int pump(grpc_completion_queue *cq, watch *w, int ms)
{
	int got = 0;
	gpr_timespec until = in_ms(ms);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(cq, until, NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		watch *x = &w[(intptr_t)ev.tag / 2];
		if ((intptr_t)ev.tag % 2 == 0 && ev.success && x->msg) {
			x->got_first = 1;
			got++;
		}
	}
	return got;
}

static void test_at_most_256_streams_are_served_at_once_the_rest_wait(void)
{
	grpc_channel *ch;
	grpc_channel_credentials *creds;
	grpc_completion_queue *cq;
	watch *w = calloc(STREAMS, sizeof(*w));
	grpc_slice req = grpc_empty_slice();
	int served = 0, later = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(srv.target, creds, NULL);
	grpc_channel_credentials_release(creds);
	cq = grpc_completion_queue_create_for_next(NULL);
	for (int i = 0; i < STREAMS; i++) {
		grpc_op ops[4];
		grpc_slice method = grpc_slice_from_static_string("/grpc.health.v1.Health/Watch");
		grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&req, 0);
		memset(ops, 0, sizeof(ops));
		grpc_metadata_array_init(&w[i].md_in);
		grpc_metadata_array_init(&w[i].trailers);
		w[i].call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
						     NULL, gpr_inf_future(GPR_CLOCK_REALTIME),
						     NULL);
		ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
		ops[1].op = GRPC_OP_SEND_MESSAGE;
		ops[1].data.send_message.send_message = bb;
		ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[3].data.recv_initial_metadata.recv_initial_metadata = &w[i].md_in;
		grpc_call_start_batch(w[i].call, ops, 4, (void *)(intptr_t)(2 * i + 1), NULL);
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &w[i].msg;
		grpc_call_start_batch(w[i].call, ops, 1, (void *)(intptr_t)(2 * i), NULL);
		grpc_byte_buffer_destroy(bb);
	}
	served = pump(cq, w, 3000);
	SPT_CHECK(served > 0 && served <= LIMIT,
		  "%d of %d streams on one connection served at once (limit %d)", served, STREAMS,
		  LIMIT);
	/* End 60 served streams: waiting ones get their turn. */
	for (int i = 0, ended = 0; i < STREAMS && ended < 60; i++)
		if (w[i].got_first) {
			grpc_call_cancel(w[i].call, NULL);
			ended++;
		}
	later = pump(cq, w, 3000);
	SPT_CHECK(served + later == STREAMS,
		  "after 60 ended, the waiting streams were served (%d more, %d in all)", later,
		  served + later);
	for (int i = 0; i < STREAMS; i++) {
		grpc_call_cancel(w[i].call, NULL);
	}
	pump(cq, w, 1000);
	for (int i = 0; i < STREAMS; i++) {
		if (w[i].msg)
			grpc_byte_buffer_destroy(w[i].msg);
		grpc_metadata_array_destroy(&w[i].md_in);
		grpc_metadata_array_destroy(&w[i].trailers);
		grpc_call_unref(w[i].call);
	}
	grpc_channel_destroy(ch);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	free(w);
}

static void test_billingd_stops_cleanly(void)
{
	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0);
}

static int suite_init(void)
{
	grpc_init();
	return spt_billingd_start(&srv, NULL);
}

static int suite_clean(void)
{
	spt_billingd_free(&srv);
	grpc_shutdown();
	return 0;
}

static CU_TestInfo tests[] = {
	{"at most 256 streams on one connection are served at once, the rest wait their turn",
	 test_at_most_256_streams_are_served_at_once_the_rest_wait},
	{"billingd stops cleanly", test_billingd_stops_cleanly},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"streams", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
