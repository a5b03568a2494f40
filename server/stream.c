/* stream.c: shared plumbing of the raw services. */
#include "stream.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>

#include "log.h"
#include "rpc.h"
#include "xalloc.h"

grpc_byte_buffer *stream_pack(const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;
	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

grpc_slice stream_read_all(grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return grpc_empty_slice();
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	return s;
}

typedef struct unary_done {
	rpc_tag tag;
	grpc_call *call;
	const char *method;
	grpc_byte_buffer *reply;
	grpc_slice details;
	grpc_status_code code;
	int cancelled;
	struct timespec start;
} unary_done;

static void on_unary_done(rpc_tag *t, int ok)
{
	unary_done *u = (unary_done *)t;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	log_call(u->method, ok ? (int)u->code : GRPC_STATUS_CANCELLED,
		 (int64_t)(now.tv_sec - u->start.tv_sec) * 1000000 +
			 (now.tv_nsec - u->start.tv_nsec) / 1000,
		 NULL);
	if (u->reply)
		grpc_byte_buffer_destroy(u->reply);
	grpc_slice_unref(u->details);
	grpc_call_unref(u->call);
	free(u);
}

void stream_unary_finish(grpc_call *call, const char *method, grpc_byte_buffer *reply,
			 grpc_status_code code, const char *message)
{
	unary_done *u = xcalloc(1, sizeof(*u));
	grpc_op ops[4];
	size_t n = 0;
	clock_gettime(CLOCK_MONOTONIC, &u->start);
	u->tag.fn = on_unary_done;
	u->call = call;
	u->method = method;
	u->reply = reply;
	u->code = code;
	u->details = grpc_slice_from_copied_string(message ? message : "");
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (reply) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = reply;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n++].data.send_status_from_server.status_details = &u->details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &u->cancelled;
	if (grpc_call_start_batch(call, ops, n, &u->tag, NULL) != GRPC_CALL_OK)
		on_unary_done(&u->tag, 0);
}
