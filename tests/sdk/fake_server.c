/* The fake gRPC server of fake_server.h. One call at a time, one thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "fake_server.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"

enum { TAG_NEW = 1, TAG_READ, TAG_REPLY, TAG_SHUTDOWN };
#define TAG(t) ((void *)(intptr_t)(t))

struct fake_server {
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t thread;
	char target[32];
	grpc_status_code status;
	const char *reason;

	/* The call in flight. */
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array request_md;
	grpc_byte_buffer *request, *response;
	grpc_slice details_bin;
	grpc_slice message;
	grpc_metadata trailer;
	int cancelled;

	pthread_mutex_t lock; /* guards n_calls and calls */
	int n_calls;
	struct fake_call calls[FAKE_MAX_CALLS];
};

static void copy_slice(char *dst, size_t size, grpc_slice s)
{
	snprintf(dst, size, "%.*s", (int)GRPC_SLICE_LENGTH(s),
		 (const char *)GRPC_SLICE_START_PTR(s));
}

static void record(fake_server *f)
{
	struct fake_call c;
	size_t i;

	memset(&c, 0, sizeof(c));
	copy_slice(c.method, sizeof(c.method), f->details.method);
	copy_slice(c.host, sizeof(c.host), f->details.host);
	for (i = 0; i < f->request_md.count; i++) {
		grpc_metadata *md = &f->request_md.metadata[i];

		if (grpc_slice_str_cmp(md->key, "authorization") == 0)
			copy_slice(c.authorization, sizeof(c.authorization), md->value);
		else if (grpc_slice_str_cmp(md->key, "idempotency-key") == 0)
			copy_slice(c.idempotency_key, sizeof(c.idempotency_key), md->value);
		else if (grpc_slice_str_cmp(md->key, "x-acting-account") == 0)
			copy_slice(c.acting_account, sizeof(c.acting_account), md->value);
		else if (grpc_slice_str_cmp(md->key, "traceparent") == 0)
			copy_slice(c.traceparent, sizeof(c.traceparent), md->value);
		else if (grpc_slice_str_cmp(md->key, "x-request-id") == 0)
			copy_slice(c.request_id, sizeof(c.request_id), md->value);
	}
	pthread_mutex_lock(&f->lock);
	if (f->n_calls < FAKE_MAX_CALLS)
		f->calls[f->n_calls] = c;
	f->n_calls++;
	pthread_mutex_unlock(&f->lock);
}

/* The google.rpc.Status trailer of a failed call, with its ErrorInfo. */
static grpc_slice status_details(const fake_server *f)
{
	Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
	Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT, *details[1] = {&any};
	uint8_t info_bytes[256];
	grpc_slice out;

	info.reason = (char *)f->reason;
	info.domain = (char *)"billing.smartplus";
	any.type_url = (char *)"type.googleapis.com/google.rpc.ErrorInfo";
	any.value.len = google__rpc__error_info__pack(&info, info_bytes);
	any.value.data = info_bytes;
	status.code = f->status;
	status.message = (char *)"fake failure";
	status.n_details = 1;
	status.details = details;
	out = grpc_slice_malloc(google__rpc__status__get_packed_size(&status));
	google__rpc__status__pack(&status, GRPC_SLICE_START_PTR(out));
	return out;
}

/* A GetCatalogResponse with one commercial catalog holding a door, for the
 * project type the request asked about. */
static grpc_byte_buffer *catalog_response(grpc_byte_buffer *request)
{
	Smartplus__Billing__V1__GetCatalogRequest *req = NULL;
	Smartplus__Billing__V1__GetCatalogResponse resp =
		SMARTPLUS__BILLING__V1__GET_CATALOG_RESPONSE__INIT;
	Smartplus__Billing__V1__ProjectTypeCatalog
		cat = SMARTPLUS__BILLING__V1__PROJECT_TYPE_CATALOG__INIT,
		*cats[1] = {&cat};
	Smartplus__Billing__V1__ServiceOffering
		door = SMARTPLUS__BILLING__V1__SERVICE_OFFERING__INIT,
		*services[1] = {&door};
	grpc_byte_buffer_reader reader;
	grpc_byte_buffer *bb;
	grpc_slice in, out;

	if (request && grpc_byte_buffer_reader_init(&reader, request)) {
		in = grpc_byte_buffer_reader_readall(&reader);
		grpc_byte_buffer_reader_destroy(&reader);
		req = smartplus__billing__v1__get_catalog_request__unpack(
			NULL, GRPC_SLICE_LENGTH(in), GRPC_SLICE_START_PTR(in));
		grpc_slice_unref(in);
	}
	cat.project_type = req ? req->project_type : 0;
	cat.display_name = (char *)"Commercial";
	cat.n_services = 1;
	cat.services = services;
	door.service_type = SMARTPLUS__BILLING__V1__SERVICE_TYPE__SERVICE_TYPE_DOOR;
	door.display_name = (char *)"Door";
	resp.n_project_types = 1;
	resp.project_types = cats;
	out = grpc_slice_malloc(
		smartplus__billing__v1__get_catalog_response__get_packed_size(&resp));
	smartplus__billing__v1__get_catalog_response__pack(&resp, GRPC_SLICE_START_PTR(out));
	bb = grpc_raw_byte_buffer_create(&out, 1);
	grpc_slice_unref(out);
	if (req)
		smartplus__billing__v1__get_catalog_request__free_unpacked(req, NULL);
	return bb;
}

static void request_call(fake_server *f)
{
	grpc_call_details_init(&f->details);
	grpc_metadata_array_init(&f->request_md);
	if (grpc_server_request_call(f->server, &f->call, &f->details, &f->request_md, f->cq, f->cq,
				     TAG(TAG_NEW)) != GRPC_CALL_OK) {
		grpc_call_details_destroy(&f->details);
		grpc_metadata_array_destroy(&f->request_md);
	}
}

/* Step 1 of a call: read the request, send the answer, all in one batch. */
static void reply(fake_server *f)
{
	grpc_op ops[4];
	size_t n = 0;

	record(f);
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n++].data.recv_message.recv_message = &f->request;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &f->cancelled;
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = f->status;
	if (f->status != GRPC_STATUS_OK && f->reason) {
		f->details_bin = status_details(f);
		f->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
		f->trailer.value = f->details_bin;
		ops[n].data.send_status_from_server.trailing_metadata_count = 1;
		ops[n].data.send_status_from_server.trailing_metadata = &f->trailer;
	}
	f->message = grpc_slice_from_static_string("fake failure");
	ops[n++].data.send_status_from_server.status_details = &f->message;
	grpc_call_start_batch(f->call, ops, n, TAG(TAG_REPLY), NULL);
}

/* An OK answer needs the request first: a second batch sends the message
 * before the status, so the reply is split in two for OK. */
static void reply_ok(fake_server *f)
{
	grpc_op ops[2];

	record(f);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_MESSAGE;
	ops[0].data.recv_message.recv_message = &f->request;
	grpc_call_start_batch(f->call, ops, 1, TAG(TAG_READ), NULL);
}

static void finish_ok(fake_server *f)
{
	grpc_op ops[4];

	f->response = catalog_response(f->request);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = f->response;
	ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[2].data.recv_close_on_server.cancelled = &f->cancelled;
	ops[3].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[3].data.send_status_from_server.status = GRPC_STATUS_OK;
	grpc_call_start_batch(f->call, ops, 4, TAG(TAG_REPLY), NULL);
}

static void end_call(fake_server *f)
{
	if (f->request)
		grpc_byte_buffer_destroy(f->request);
	if (f->response)
		grpc_byte_buffer_destroy(f->response);
	f->request = f->response = NULL;
	grpc_slice_unref(f->details_bin);
	f->details_bin = grpc_empty_slice();
	grpc_call_unref(f->call);
	f->call = NULL;
	grpc_call_details_destroy(&f->details);
	grpc_metadata_array_destroy(&f->request_md);
}

static void *serve(void *arg)
{
	fake_server *f = arg;
	int stopping = 0;

	request_call(f);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			f->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		switch ((intptr_t)ev.tag) {
		case TAG_NEW:
			if (!ev.success) { /* shutting down */
				grpc_call_details_destroy(&f->details);
				grpc_metadata_array_destroy(&f->request_md);
				break;
			}
			if (f->status == GRPC_STATUS_OK)
				reply_ok(f);
			else
				reply(f);
			break;
		case TAG_READ: finish_ok(f); break;
		case TAG_REPLY:
			end_call(f);
			if (!stopping)
				request_call(f);
			break;
		case TAG_SHUTDOWN:
			stopping = 1;
			grpc_completion_queue_shutdown(f->cq);
			break;
		}
	}
	return NULL;
}

fake_server *fake_server_start(grpc_status_code status, const char *reason)
{
	fake_server *f = calloc(1, sizeof(*f));
	grpc_server_credentials *creds;
	int port;

	if (!f)
		return NULL;
	grpc_init();
	f->status = status;
	f->reason = reason;
	f->details_bin = grpc_empty_slice();
	pthread_mutex_init(&f->lock, NULL);
	f->cq = grpc_completion_queue_create_for_next(NULL);
	f->server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(f->server, f->cq, NULL);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(f->server, "127.0.0.1:0", creds);
	grpc_server_credentials_release(creds);
	snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", port);
	if (port <= 0) {
		fprintf(stderr, "fake_server: cannot listen on 127.0.0.1\n");
		abort();
	}
	grpc_server_start(f->server);
	if (pthread_create(&f->thread, NULL, serve, f) != 0)
		abort();
	return f;
}

const char *fake_server_target(const fake_server *f)
{
	return f->target;
}

int fake_server_calls(fake_server *f, struct fake_call *calls, int max)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->n_calls;
	if (max > n)
		max = n;
	if (max > FAKE_MAX_CALLS)
		max = FAKE_MAX_CALLS;
	memcpy(calls, f->calls, sizeof(*calls) * (size_t)max);
	pthread_mutex_unlock(&f->lock);
	return n;
}

void fake_server_stop(fake_server *f)
{
	if (!f)
		return;
	grpc_server_shutdown_and_notify(f->server, f->cq, TAG(TAG_SHUTDOWN));
	grpc_server_cancel_all_calls(f->server);
	pthread_join(f->thread, NULL);
	grpc_server_destroy(f->server);
	grpc_completion_queue_destroy(f->cq);
	pthread_mutex_destroy(&f->lock);
	free(f);
	grpc_shutdown_blocking();
}
