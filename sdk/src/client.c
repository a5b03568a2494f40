/*
 * client.c - the client handle (one gRPC channel) and spb__unary(), the one
 * synchronous unary call behind every generated RPC function.
 *
 * Each call plucks its own completion queue, so any number of threads can
 * call through one channel at once without sharing anything mutable.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <openssl/rand.h>

#include "spb_internal.h"

/* Largest response the client accepts (a long List page, a Backup). */
#define MAX_RECEIVE_BYTES (64 * 1024 * 1024)
/* First pause before retrying an UNAVAILABLE call; doubles each time. */
#define RETRY_BACKOFF_MS 50
#define RETRY_BACKOFF_MAX_MS 1000

struct spb_client {
	grpc_channel *channel;
	char *api_key; /* NULL: none */
	int default_deadline_ms;
	int max_retries;
};

/* What every attempt of one call sends, prepared once. */
struct call_plan {
	char path[256];
	gpr_timespec deadline;
	const char *api_key;
	const char *idempotency_key; /* NULL for read-only calls */
	const char *acting_account;
	const spb_metadata *metadata; /* the caller's extra entries, checked */
	size_t metadata_count;
	const char *authority; /* NULL: the channel's */
	uint8_t *request;
	size_t request_len;
	const ProtobufCMessageDescriptor *output;
};

/* Metadata the SDK sends itself, or that HTTP/2 and gRPC reserve. */
static const char *const reserved_keys[] = {
	"authorization", "idempotency-key", "x-acting-account", "content-type", "te", "user-agent",
	"host",          "connection",      "accept-encoding",
};

/* The size of an options struct of a given version (older versions are a
 * prefix of the current one); 0 for a version this library does not know. */
static size_t client_options_size(unsigned int version)
{
	switch (version) {
	case 1: return offsetof(spb_client_options, tls_server_name);
	case SPB_CLIENT_OPTIONS_VERSION: return sizeof(spb_client_options);
	default: return 0;
	}
}

static size_t call_options_size(unsigned int version)
{
	switch (version) {
	case 1: return offsetof(spb_call_options, metadata);
	case SPB_CALL_OPTIONS_VERSION: return sizeof(spb_call_options);
	default: return 0;
	}
}

/* Metadata values must be printable ASCII (no "-bin" keys here). */
int spb__header_value_ok(const char *value, size_t max_len)
{
	size_t len = 0;

	for (; value[len]; len++) {
		if ((unsigned char)value[len] < 0x20 || (unsigned char)value[len] > 0x7e)
			return 0;
	}
	return len > 0 && len <= max_len;
}

/* The *_options_init() functions: copy the first `size` bytes of the
 * defaults into opts (size 0: a version this library does not know) and
 * set the caller's version. */
static int options_init(void *opts, const void *defaults, size_t size, unsigned int version,
			const char *what)
{
	if (!opts || size == 0)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "%s: unsupported version %u", what, version);
	memcpy(opts, defaults, size);
	*(unsigned int *)opts = version;
	return 0;
}

int spb_client_options_init(spb_client_options *opts, unsigned int version)
{
	static const spb_client_options defaults = SPB_CLIENT_OPTIONS_INIT;

	return options_init(opts, &defaults, client_options_size(version), version,
			    "spb_client_options");
}

int spb_call_options_init(spb_call_options *opts, unsigned int version)
{
	static const spb_call_options defaults = SPB_CALL_OPTIONS_INIT;

	return options_init(opts, &defaults, call_options_size(version), version,
			    "spb_call_options");
}

/* Checks the extra metadata of a call: names and values a server and the
 * HTTP/2 layer accept, nothing the SDK sets itself. */
static int check_metadata(const spb_metadata *md, size_t count)
{
	size_t i, j, len;

	if (count > SPB_CALL_METADATA_MAX)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "metadata: at most %d entries", SPB_CALL_METADATA_MAX);
	if (count && !md)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "metadata is NULL with metadata_count %zu", count);
	for (i = 0; i < count; i++) {
		const char *key = md[i].key;

		if (!key || !md[i].value)
			return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
					      "metadata[%zu]: key and value must not be NULL", i);
		len = strlen(key);
		if (len == 0 || len > 128 ||
		    strspn(key, "0123456789abcdefghijklmnopqrstuvwxyz_.-") != len)
			return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
					      "metadata[%zu]: key must match [0-9a-z_.-]{1,128}",
					      i);
		if (strncmp(key, "grpc-", 5) == 0 ||
		    (len >= 4 && strcmp(key + len - 4, "-bin") == 0))
			return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
					      "metadata[%zu]: '%s' is reserved (grpc-*) or binary "
					      "(-bin)",
					      i, key);
		for (j = 0; j < sizeof(reserved_keys) / sizeof(reserved_keys[0]); j++)
			if (strcmp(key, reserved_keys[j]) == 0)
				return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
						      "metadata[%zu]: '%s' is set by the SDK or "
						      "the transport",
						      i, key);
		if (md[i].value[0] && !spb__header_value_ok(md[i].value, 4096))
			return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
					      "metadata[%zu]: value of '%s' must be 0..4096 "
					      "printable ASCII characters",
					      i, key);
	}
	return 0;
}

static int check_client_options(const char *target, const spb_client_options *opts)
{
	if (!target || !*target)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL, "target is empty");
	if (opts->api_key && !spb__header_value_ok(opts->api_key, 4096))
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "api_key must be printable ASCII");
	if (!opts->tls.client_cert_pem != !opts->tls.client_key_pem)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "tls.client_cert_pem and tls.client_key_pem go together");
	if (opts->tls.client_cert_pem && !opts->tls.root_certs_pem)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "mutual TLS needs tls.root_certs_pem");
	if (opts->max_retries < 0)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "max_retries is negative");
	if (opts->tls_server_name &&
	    (!opts->tls.root_certs_pem || !spb__header_value_ok(opts->tls_server_name, 255)))
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "tls_server_name needs tls.root_certs_pem and 1..255 "
				      "printable ASCII characters");
	return 0;
}

spb_client *spb_client_new(const char *target, const spb_client_options *given)
{
	spb_client_options copy = SPB_CLIENT_OPTIONS_INIT, *opts = &copy;
	grpc_channel_credentials *creds = NULL;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_arg arg_list[4];
	grpc_channel_args args;
	spb_client *client = NULL;
	int error = -1;

	spb__error_reset();
	if (given) {
		size_t size = client_options_size(given->version);

		if (size == 0) {
			spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				       "unsupported spb_client_options version %u", given->version);
			return NULL;
		}
		memcpy(opts, given, size); /* an older version: the rest stays default */
	}
	if (check_client_options(target, opts) < 0)
		return NULL;

	client = calloc(1, sizeof(*client));
	if (!client || (opts->api_key && !(client->api_key = strdup(opts->api_key)))) {
		spb__error_set(GRPC_STATUS_INTERNAL, NULL, "out of memory");
		goto done;
	}
	client->default_deadline_ms = opts->default_deadline_ms;
	client->max_retries = opts->max_retries;

	grpc_init();
	if (opts->tls.root_certs_pem) {
		pair.private_key = opts->tls.client_key_pem;
		pair.cert_chain = opts->tls.client_cert_pem;
		creds = grpc_ssl_credentials_create(opts->tls.root_certs_pem,
						    opts->tls.client_cert_pem ? &pair : NULL, NULL,
						    NULL);
	} else {
		creds = grpc_insecure_credentials_create();
	}
	if (!creds) {
		spb__error_set(GRPC_STATUS_INTERNAL, NULL, "cannot set up channel credentials");
		goto done_grpc;
	}

	memset(arg_list, 0, sizeof(arg_list));
	arg_list[0].type = GRPC_ARG_INTEGER;
	arg_list[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	arg_list[0].value.integer = MAX_RECEIVE_BYTES;
	arg_list[1].type = GRPC_ARG_STRING;
	arg_list[1].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
	arg_list[1].value.string = (char *)"spbilling-c/0.1.0";
	args.num_args = 2;
	if (opts->tls_server_name) {
		arg_list[2].type = GRPC_ARG_STRING;
		arg_list[2].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
		arg_list[2].value.string = (char *)opts->tls_server_name;
		arg_list[3].type = GRPC_ARG_STRING;
		arg_list[3].key = (char *)GRPC_ARG_DEFAULT_AUTHORITY;
		arg_list[3].value.string = (char *)opts->tls_server_name;
		args.num_args = 4;
	}
	args.args = arg_list;

	client->channel = grpc_channel_create(target, creds, &args);
	if (!client->channel) {
		spb__error_set(GRPC_STATUS_INTERNAL, NULL, "cannot create a channel to %s", target);
		goto done_grpc;
	}
	error = 0;

done_grpc:
	if (creds)
		grpc_channel_credentials_release(creds);
	if (error < 0)
		grpc_shutdown_blocking();
done:
	if (error < 0 && client) {
		free(client->api_key);
		free(client);
		client = NULL;
	}
	return client;
}

grpc_channel *spb__client_channel(spb_client *client)
{
	return client->channel;
}

const char *spb__client_api_key(spb_client *client)
{
	return client->api_key;
}

void spb_client_free(spb_client *client)
{
	if (!client)
		return;
	grpc_channel_destroy(client->channel);
	free(client->api_key);
	free(client);
	grpc_shutdown_blocking();
}

void spb_message_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

int spb__idempotency_key_new(char key[SPB__IDEMPOTENCY_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bytes[SPB__IDEMPOTENCY_KEY_LEN / 2];
	size_t i;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
		key[0] = '\0';
		return spb__error_set(GRPC_STATUS_INTERNAL, NULL, "random generator failed");
	}
	for (i = 0; i < sizeof(bytes); i++) {
		key[2 * i] = hex[bytes[i] >> 4];
		key[2 * i + 1] = hex[bytes[i] & 0xf];
	}
	key[SPB__IDEMPOTENCY_KEY_LEN] = '\0';
	return 0;
}

/* Appends key: prefix value to md (key and value copied into new slices). */
void spb__add_metadata(grpc_metadata *md, size_t *n, const char *key, const char *prefix,
		       const char *value)
{
	size_t plen = strlen(prefix), vlen = strlen(value);
	grpc_slice slice = grpc_slice_malloc(plen + vlen);

	memcpy(GRPC_SLICE_START_PTR(slice), prefix, plen);
	memcpy(GRPC_SLICE_START_PTR(slice) + plen, value, vlen);
	memset(&md[*n], 0, sizeof(md[*n]));
	md[*n].key = grpc_slice_from_copied_string(key);
	md[*n].value = slice;
	(*n)++;
}

/* Records a non-OK status: its message and the ErrorInfo reason from the
 * grpc-status-details-bin trailer. Returns status. */
grpc_status_code spb__record_status(grpc_status_code status, grpc_slice details,
				    const grpc_metadata_array *trailers)
{
	char reason[128] = "", order_id[128] = "";
	size_t i;

	for (i = 0; i < trailers->count; i++) {
		const grpc_metadata *md = &trailers->metadata[i];

		if (grpc_slice_str_cmp(md->key, "grpc-status-details-bin") == 0) {
			spb__status_reason(GRPC_SLICE_START_PTR(md->value),
					   GRPC_SLICE_LENGTH(md->value), reason, sizeof(reason));
			spb__status_metadata(GRPC_SLICE_START_PTR(md->value),
					     GRPC_SLICE_LENGTH(md->value), "order_id", order_id,
					     sizeof(order_id));
			break;
		}
	}
	if (GRPC_SLICE_LENGTH(details) > 0)
		spb__error_set(status, reason, "%.*s", (int)GRPC_SLICE_LENGTH(details),
			       (const char *)GRPC_SLICE_START_PTR(details));
	else
		spb__error_set(status, reason, "%s", spb_status_name(status));
	spb__error_set_order(order_id);
	return status;
}

/* Unpacks the response of an OK call into *out. Returns the call's final
 * status: OK, or INTERNAL when the answer is missing or malformed. */
static grpc_status_code decode_response(grpc_byte_buffer *bb,
					const ProtobufCMessageDescriptor *output,
					ProtobufCMessage **out)
{
	grpc_byte_buffer_reader reader;
	grpc_slice slice;

	if (!bb || !grpc_byte_buffer_reader_init(&reader, bb)) {
		spb__error_set(GRPC_STATUS_INTERNAL, NULL, "server sent no response message");
		return GRPC_STATUS_INTERNAL;
	}
	slice = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	*out = protobuf_c_message_unpack(output, NULL, GRPC_SLICE_LENGTH(slice),
					 GRPC_SLICE_START_PTR(slice));
	grpc_slice_unref(slice);
	if (!*out) {
		spb__error_set(GRPC_STATUS_INTERNAL, NULL, "malformed %s from server",
			       output->name);
		return GRPC_STATUS_INTERNAL;
	}
	return GRPC_STATUS_OK;
}

/* One attempt of a call: one batch with every op, on its own completion
 * queue. Returns the gRPC status; a non-OK status is recorded in the
 * thread's error. */
static grpc_status_code attempt(spb_client *client, const struct call_plan *plan,
				ProtobufCMessage **out)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call *call = NULL;
	grpc_metadata send_md[3 + SPB_CALL_METADATA_MAX];
	grpc_slice host;
	size_t n_md = 0, i;
	grpc_metadata_array recv_initial, recv_trailing;
	grpc_byte_buffer *send_bb = NULL, *recv_bb = NULL;
	grpc_slice details = grpc_empty_slice(), slice;
	const char *error_string = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_op ops[6];
	grpc_event ev;

	grpc_metadata_array_init(&recv_initial);
	grpc_metadata_array_init(&recv_trailing);
	if (plan->api_key)
		spb__add_metadata(send_md, &n_md, "authorization", "Bearer ", plan->api_key);
	if (plan->idempotency_key)
		spb__add_metadata(send_md, &n_md, "idempotency-key", "", plan->idempotency_key);
	if (plan->acting_account)
		spb__add_metadata(send_md, &n_md, "x-acting-account", "", plan->acting_account);
	for (i = 0; i < plan->metadata_count; i++)
		spb__add_metadata(send_md, &n_md, plan->metadata[i].key, "",
				  plan->metadata[i].value);

	slice = grpc_slice_from_copied_string(plan->path);
	host = plan->authority ? grpc_slice_from_copied_string(plan->authority)
			       : grpc_empty_slice();
	call = grpc_channel_create_call(client->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, slice,
					plan->authority ? &host : NULL, plan->deadline, NULL);
	grpc_slice_unref(slice);
	grpc_slice_unref(host);
	slice = grpc_slice_from_copied_buffer((const char *)plan->request, plan->request_len);
	send_bb = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = n_md;
	ops[0].data.send_initial_metadata.metadata = send_md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &recv_initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &recv_trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	ops[5].data.recv_status_on_client.error_string = &error_string;

	if (grpc_call_start_batch(call, ops, 6, ops, NULL) != GRPC_CALL_OK) {
		status = GRPC_STATUS_INTERNAL;
		spb__error_set(status, NULL, "cannot start the call %s", plan->path);
		goto done;
	}
	ev = grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (ev.type != GRPC_OP_COMPLETE) {
		status = GRPC_STATUS_INTERNAL;
		spb__error_set(status, NULL, "call %s did not complete", plan->path);
		goto done;
	}
	/* Trailers are owned by the call: read them before unref'ing it. */
	if (status == GRPC_STATUS_OK)
		status = decode_response(recv_bb, plan->output, out);
	else
		spb__record_status(status, details, &recv_trailing);

done:
	for (i = 0; i < n_md; i++) {
		grpc_slice_unref(send_md[i].key);
		grpc_slice_unref(send_md[i].value);
	}
	if (send_bb)
		grpc_byte_buffer_destroy(send_bb);
	if (recv_bb)
		grpc_byte_buffer_destroy(recv_bb);
	grpc_slice_unref(details);
	gpr_free((void *)error_string);
	grpc_metadata_array_destroy(&recv_initial);
	grpc_metadata_array_destroy(&recv_trailing);
	if (call)
		grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	return status;
}

/* Checks the call options and fills what every attempt sends. key is the
 * buffer the idempotency key lives in. */
static int plan_call(spb_client *client, const ProtobufCServiceDescriptor *service,
		     unsigned method_index, int mutating, const spb_call_options *opts,
		     struct call_plan *plan, char key[SPB__IDEMPOTENCY_KEY_MAX + 1])
{
	const ProtobufCMethodDescriptor *method = &service->methods[method_index];
	int deadline_ms;

	plan->api_key = opts->api_key ? opts->api_key : client->api_key;
	if (plan->api_key && !spb__header_value_ok(plan->api_key, 4096))
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "api_key must be printable ASCII");
	plan->acting_account = opts->acting_account;
	if (plan->acting_account && !spb__header_value_ok(plan->acting_account, 255))
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "acting_account must be 1..255 printable ASCII characters");
	if (check_metadata(opts->metadata, opts->metadata_count) < 0)
		return SPB_EINVALID;
	plan->metadata = opts->metadata;
	plan->metadata_count = opts->metadata_count;
	if (opts->authority && !spb__header_value_ok(opts->authority, 255))
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "authority must be 1..255 printable ASCII characters");
	plan->authority = opts->authority;

	plan->idempotency_key = NULL;
	if (mutating) {
		if (opts->idempotency_key) {
			if (!spb__header_value_ok(opts->idempotency_key, SPB__IDEMPOTENCY_KEY_MAX))
				return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
						      "idempotency_key must be 1..255 printable "
						      "ASCII characters");
			snprintf(key, SPB__IDEMPOTENCY_KEY_MAX + 1, "%s", opts->idempotency_key);
		} else if (spb__idempotency_key_new(key) < 0) {
			return SPB_ERROR;
		}
		spb__error_set_key(key);
		plan->idempotency_key = key;
	}

	if ((size_t)snprintf(plan->path, sizeof(plan->path), "/%s/%s", service->name,
			     method->name) >= sizeof(plan->path))
		return spb__error_set(GRPC_STATUS_INTERNAL, NULL, "method name too long");
	deadline_ms = opts->deadline_ms ? opts->deadline_ms : client->default_deadline_ms;
	plan->deadline = deadline_ms > 0
				 ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						gpr_time_from_millis(deadline_ms, GPR_TIMESPAN))
				 : gpr_inf_future(GPR_CLOCK_MONOTONIC);
	plan->output = method->output;
	return 0;
}

/* Sleeps before retry number `retry` (0-based). Returns 0, or -1 when the
 * pause would end past the deadline (no point retrying then). */
static int backoff(int retry, gpr_timespec deadline)
{
	int ms = RETRY_BACKOFF_MS << (retry < 5 ? retry : 5);
	gpr_timespec wake;

	if (ms > RETRY_BACKOFF_MAX_MS)
		ms = RETRY_BACKOFF_MAX_MS;
	wake = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
	if (gpr_time_cmp(wake, deadline) >= 0)
		return -1;
	gpr_sleep_until(wake);
	return 0;
}

int spb__unary(spb_client *client, const ProtobufCServiceDescriptor *service, unsigned method_index,
	       int mutating, const ProtobufCMessage *request, ProtobufCMessage **out,
	       const spb_call_options *opts)
{
	spb_call_options given = SPB_CALL_OPTIONS_INIT;
	char key[SPB__IDEMPOTENCY_KEY_MAX + 1];
	struct call_plan plan;
	grpc_status_code status;
	int retry, error = -1;

	spb__error_reset();
	memset(&plan, 0, sizeof(plan));
	if (out)
		*out = NULL;
	if (!client || !service || method_index >= service->n_methods || !request || !out)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "client, request and out must not be NULL");
	if (request->descriptor != service->methods[method_index].input)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL, "%s takes a %s, not a %s",
				      service->methods[method_index].name,
				      service->methods[method_index].input->name,
				      request->descriptor->name);
	if (opts) {
		size_t size = call_options_size(opts->version);

		if (size == 0)
			return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
					      "unsupported spb_call_options version %u",
					      opts->version);
		memcpy(&given, opts, size); /* an older version: the rest stays default */
	}
	if ((error = plan_call(client, service, method_index, mutating, &given, &plan, key)) < 0)
		goto done;

	plan.request_len = protobuf_c_message_get_packed_size(request);
	plan.request = malloc(plan.request_len ? plan.request_len : 1);
	if (!plan.request) {
		error = spb__error_set(GRPC_STATUS_INTERNAL, NULL, "out of memory");
		goto done;
	}
	protobuf_c_message_pack(request, plan.request);

	for (retry = 0;; retry++) {
		status = attempt(client, &plan, out);
		if (status != GRPC_STATUS_UNAVAILABLE || retry >= client->max_retries ||
		    backoff(retry, plan.deadline) < 0)
			break;
	}
	error = spb__code_from_status(status);

done:
	free(plan.request);
	return error;
}
