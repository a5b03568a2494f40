/*
 * reflection_service.c: the grpc.reflection.v1 and v1alpha ServerReflection
 * bidi streams, answered from reflection.c's index of the descriptor set the
 * build embeds. No credentials needed.
 *
 * Per stream: RECV_CLOSE_ON_SERVER is started at once; then the loop
 * RECV_MESSAGE -> answer -> SEND_MESSAGE -> RECV_MESSAGE ... until the client
 * half-closes (status OK) or sends something undecodable (INVALID_ARGUMENT).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reflection.h"
#include "rpc.h"
#include "stream.h"
#include "xalloc.h"

extern const unsigned char spb_descriptor_set[];
extern const size_t spb_descriptor_set_len;

static reflection_index *idx;

enum refl_state { ST_READ, ST_WRITE, ST_STATUS, ST_DONE };

typedef struct refl_stream {
	rpc_tag io, closed;
	grpc_call *call;
	grpc_byte_buffer *in, *out;
	grpc_slice details;
	enum refl_state state;
	int cancelled;
	int refs; /* batches in flight */
	int sent_metadata;
} refl_stream;

int reflection_knows_service(const char *name)
{
	for (size_t i = 0; idx && i < reflection_service_count(idx); i++)
		if (strcmp(reflection_service_name(idx, i), name) == 0)
			return 1;
	return 0;
}

static void maybe_free(refl_stream *s)
{
	if (s->refs > 0)
		return;
	if (s->in)
		grpc_byte_buffer_destroy(s->in);
	if (s->out)
		grpc_byte_buffer_destroy(s->out);
	grpc_slice_unref(s->details);
	grpc_call_unref(s->call);
	free(s);
}

static void start(refl_stream *s, grpc_op *ops, size_t n, enum refl_state next)
{
	s->state = next;
	if (grpc_call_start_batch(s->call, ops, n, &s->io, NULL) == GRPC_CALL_OK)
		s->refs++;
	else
		s->state = ST_DONE;
}

static void read_next(refl_stream *s)
{
	grpc_op ops[2];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	if (!s->sent_metadata) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		s->sent_metadata = 1;
	}
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n++].data.recv_message.recv_message = &s->in;
	start(s, ops, n, ST_READ);
}

static void send_status(refl_stream *s, grpc_status_code code, const char *msg)
{
	grpc_op op;
	memset(&op, 0, sizeof(op));
	grpc_slice_unref(s->details);
	s->details = grpc_slice_from_copied_string(msg);
	op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	op.data.send_status_from_server.status = code;
	op.data.send_status_from_server.status_details = &s->details;
	start(s, &op, 1, ST_STATUS);
}

/* Answers the request in s->in with one SEND_MESSAGE. */
static void answer(refl_stream *s)
{
	grpc_slice body = stream_read_all(s->in);
	unsigned char *bytes = NULL;
	size_t len = 0;
	int rc = reflection_answer(idx, GRPC_SLICE_START_PTR(body), GRPC_SLICE_LENGTH(body), &bytes,
				   &len);
	grpc_op op;
	grpc_slice out;

	grpc_slice_unref(body);
	grpc_byte_buffer_destroy(s->in);
	s->in = NULL;
	if (rc != 0) {
		send_status(s, GRPC_STATUS_INVALID_ARGUMENT, "undecodable ServerReflectionRequest");
		return;
	}
	out = grpc_slice_new(bytes, len, free);
	s->out = grpc_raw_byte_buffer_create(&out, 1);
	grpc_slice_unref(out);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = s->out;
	start(s, &op, 1, ST_WRITE);
}

static void on_io(rpc_tag *t, int ok)
{
	refl_stream *s = (refl_stream *)((char *)t - offsetof(refl_stream, io));
	s->refs--;
	switch (s->state) {
	case ST_READ:
		if (!ok)
			s->state = ST_DONE;
		else if (!s->in)
			send_status(s, GRPC_STATUS_OK, ""); /* client half-closed */
		else
			answer(s);
		break;
	case ST_WRITE:
		grpc_byte_buffer_destroy(s->out);
		s->out = NULL;
		if (ok)
			read_next(s);
		else
			s->state = ST_DONE;
		break;
	default: s->state = ST_DONE; break;
	}
	maybe_free(s);
}

static void on_closed(rpc_tag *t, int ok)
{
	refl_stream *s = (refl_stream *)((char *)t - offsetof(refl_stream, closed));
	s->refs--;
	log_call("ServerReflection/ServerReflectionInfo", GRPC_STATUS_OK, 0, "stream closed");
	maybe_free(s);
}

static void stream_start(grpc_call *call, grpc_completion_queue *cq, grpc_byte_buffer *payload)
{
	refl_stream *s = xcalloc(1, sizeof(*s));
	grpc_op op;
	s->call = call;
	s->io.fn = on_io;
	s->closed.fn = on_closed;
	s->details = grpc_empty_slice();
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &s->cancelled;
	if (grpc_call_start_batch(call, &op, 1, &s->closed, NULL) == GRPC_CALL_OK)
		s->refs++;
	read_next(s);
	maybe_free(s);
}

static rpc_raw_method v1 = {"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", 0,
			    stream_start, NULL};
static rpc_raw_method v1alpha = {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
				 0, stream_start, NULL};

int reflection_service_register(void)
{
	idx = reflection_index_new(spb_descriptor_set, spb_descriptor_set_len);
	if (!idx) {
		log_error("the embedded descriptor set does not parse");
		return -1;
	}
	rpc_register_raw(&v1);
	rpc_register_raw(&v1alpha);
	return 0;
}

void reflection_service_shutdown(void)
{
	reflection_index_free(idx);
	idx = NULL;
}
