/*
 * health.c: grpc.health.v1.Health. Check answers SERVING for the empty name
 * and every service billingd serves, NOT_FOUND for others. Watch sends the
 * status once and holds the stream until the client leaves or the server
 * stops. No credentials needed.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "rpc.h"
#include "stream.h"
#include "xalloc.h"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_t;

static serving_t status_of(grpc_byte_buffer *payload, int *known)
{
	grpc_slice s = payload ? stream_read_all(payload) : grpc_empty_slice();
	Grpc__Health__V1__HealthCheckRequest *req = grpc__health__v1__health_check_request__unpack(
		NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	serving_t st = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
	grpc_slice_unref(s);
	*known = 0;
	if (!req)
		return st;
	if (req->service[0] == 0 || reflection_knows_service(req->service)) {
		*known = 1;
		st = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	}
	grpc__health__v1__health_check_request__free_unpacked(req, NULL);
	return st;
}

static void check_start(grpc_call *call, grpc_completion_queue *cq, grpc_byte_buffer *payload)
{
	int known;
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	resp.status = status_of(payload, &known);
	if (payload)
		grpc_byte_buffer_destroy(payload);
	if (!known)
		stream_unary_finish(call, "Health/Check", NULL, GRPC_STATUS_NOT_FOUND,
				    "unknown service");
	else
		stream_unary_finish(call, "Health/Check", stream_pack(&resp.base), GRPC_STATUS_OK,
				    NULL);
}

/* Watch: one batch sends the status, another waits for the close. */
typedef struct watch {
	rpc_tag sent, closed;
	grpc_call *call;
	grpc_byte_buffer *msg;
	int cancelled;
	int pending;
	grpc_slice details;
} watch;

static void watch_release(watch *w)
{
	if (--w->pending > 0)
		return;
	if (w->msg)
		grpc_byte_buffer_destroy(w->msg);
	grpc_slice_unref(w->details);
	grpc_call_unref(w->call);
	free(w);
}

static void on_watch_sent(rpc_tag *t, int ok)
{
	watch *w = (watch *)((char *)t - offsetof(watch, sent));
	watch_release(w);
}

static void on_watch_closed(rpc_tag *t, int ok)
{
	watch *w = (watch *)((char *)t - offsetof(watch, closed));
	log_call("Health/Watch", GRPC_STATUS_OK, 0, "stream closed");
	watch_release(w);
}

static void watch_start(grpc_call *call, grpc_completion_queue *cq, grpc_byte_buffer *payload)
{
	watch *w = xcalloc(1, sizeof(*w));
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	grpc_op ops[2];
	int known;
	w->call = call;
	w->sent.fn = on_watch_sent;
	w->closed.fn = on_watch_closed;
	w->details = grpc_empty_slice();
	resp.status = status_of(payload, &known);
	if (payload)
		grpc_byte_buffer_destroy(payload);
	w->msg = stream_pack(&resp.base);
	w->pending = 2;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = w->msg;
	if (grpc_call_start_batch(call, ops, 2, &w->sent, NULL) != GRPC_CALL_OK)
		watch_release(w);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[0].data.recv_close_on_server.cancelled = &w->cancelled;
	if (grpc_call_start_batch(call, ops, 1, &w->closed, NULL) != GRPC_CALL_OK)
		watch_release(w);
}

static rpc_raw_method check = {"/grpc.health.v1.Health/Check", 1, check_start, NULL};
static rpc_raw_method watch_m = {"/grpc.health.v1.Health/Watch", 1, watch_start, NULL};

int health_register(void)
{
	rpc_register_raw(&check);
	rpc_register_raw(&watch_m);
	return 0;
}
