/* rel.c: helpers of the reliability tests. See rel.h. */
#define _GNU_SOURCE
#include "rel.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

int rel_tmpdir(char *buf, size_t cap)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, cap, "%s/spb-rel.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(buf) ? 0 : -1;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

void rel_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	int ok;
	if (!f)
		return -1;
	ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\r\n")] = 0;
	return 0;
}

int rel_start(rel_server *s, const char *billingd, const char *data_dir, const char *const *extra)
{
	char port_file[600], portbuf[32], key_file[600];
	const char *argv[64];
	int n = 0, status;

	memset(s, 0, sizeof(*s));
	snprintf(s->data_dir, sizeof(s->data_dir), "%s", data_dir);
	snprintf(port_file, sizeof(port_file), "%s.port", data_dir);
	snprintf(s->log, sizeof(s->log), "%s.log", data_dir);
	unlink(port_file);
	argv[n++] = billingd;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	argv[n++] = "--data-dir";
	argv[n++] = data_dir;
	argv[n++] = "--quiet-calls";
	argv[n++] = "--threads";
	argv[n++] = "2";
	for (; extra && *extra && n < 62; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		FILE *f = freopen(s->log, "a", stderr);
		(void)f;
		execv(billingd, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) { /* 20 s: slow under valgrind or ASan */
		if (read_line(port_file, portbuf, sizeof(portbuf)) == 0 && portbuf[0])
			break;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			fprintf(stderr, "billingd exited at start (status %d), log %s\n", status,
				s->log);
			s->pid = 0;
			return -1;
		}
		sleep_ms(50);
	}
	s->port = (int)strtol(portbuf, NULL, 10);
	if (s->port <= 0) {
		fprintf(stderr, "billingd did not write its port\n");
		rel_stop(s);
		return -1;
	}
	snprintf(key_file, sizeof(key_file), "%s/admin.key", data_dir);
	if (read_line(key_file, s->key, sizeof(s->key)) != 0)
		fprintf(stderr, "no %s\n", key_file);
	snprintf(s->target, sizeof(s->target), "127.0.0.1:%d", s->port);
	{
		grpc_channel_credentials *c = grpc_insecure_credentials_create();
		grpc_arg arg;
		grpc_channel_args args;
		/* A fresh connection per server: no shared subchannel between
		 * a stopped server and the next one on a reused port. */
		arg.type = GRPC_ARG_INTEGER;
		arg.key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
		arg.value.integer = 1;
		args.num_args = 1;
		args.args = &arg;
		s->ch = grpc_channel_create(s->target, c, &args);
		grpc_channel_credentials_release(c);
	}
	return 0;
}

int rel_stop(rel_server *s)
{
	int status = 0, rc = -1;
	if (s->ch) {
		grpc_channel_destroy(s->ch);
		s->ch = NULL;
	}
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 600; i++) { /* 30 s */
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			break;
		}
		sleep_ms(50);
	}
	if (rc < 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	s->pid = 0;
	return rc;
}

static void parse_reason(const grpc_metadata_array *trail, char *reason, size_t cap)
{
	reason[0] = 0;
	for (size_t i = 0; i < trail->count; i++) {
		Google__Rpc__Status *st;
		if (grpc_slice_str_cmp(trail->metadata[i].key, "grpc-status-details-bin") != 0)
			continue;
		st = google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(trail->metadata[i].value),
						 GRPC_SLICE_START_PTR(trail->metadata[i].value));
		if (!st)
			return;
		for (size_t k = 0; k < st->n_details; k++) {
			Google__Rpc__ErrorInfo *info = google__rpc__error_info__unpack(
				NULL, st->details[k]->value.len, st->details[k]->value.data);
			if (info) {
				snprintf(reason, cap, "%s", info->reason);
				google__rpc__error_info__free_unpacked(info, NULL);
				break;
			}
		}
		google__rpc__status__free_unpacked(st, NULL);
		return;
	}
}

void rel_call_raw(grpc_channel *ch, const char *path, const char *bearer, const rel_md *md,
		  size_t nmd, const uint8_t *req, size_t len, int deadline_ms, rel_result *r)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_metadata send_md[16];
	grpc_metadata_array init_md, trail_md;
	grpc_byte_buffer *send_bb, *recv_bb = NULL;
	grpc_slice details, method, s;
	grpc_op ops[6];
	grpc_call *call;
	gpr_timespec deadline;
	char auth[256];
	size_t n = 0;

	memset(r, 0, sizeof(*r));
	if (deadline_ms == 0)
		deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
	else
		deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
	if (bearer) {
		snprintf(auth, sizeof(auth), "Bearer %s", bearer);
		send_md[n].key = grpc_slice_from_static_string("authorization");
		send_md[n++].value = grpc_slice_from_copied_string(auth);
	}
	for (size_t i = 0; i < nmd && n < 16; i++) {
		send_md[n].key = grpc_slice_from_copied_string(md[i].key);
		send_md[n++].value = grpc_slice_from_copied_buffer(
			md[i].value, md[i].value_len ? md[i].value_len : strlen(md[i].value));
	}
	s = grpc_slice_from_copied_buffer((const char *)req, len);
	send_bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	method = grpc_slice_from_copied_string(path);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
					deadline, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = n;
	ops[0].data.send_initial_metadata.metadata = send_md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[5].data.recv_status_on_client.status = &r->status;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, ops, 6, ops, NULL) != GRPC_CALL_OK) {
		r->status = GRPC_STATUS_INTERNAL;
		snprintf(r->message, sizeof(r->message), "start_batch failed");
	} else {
		grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		snprintf(r->message, sizeof(r->message), "%.*s", (int)GRPC_SLICE_LENGTH(details),
			 (const char *)GRPC_SLICE_START_PTR(details));
		grpc_slice_unref(details);
		parse_reason(&trail_md, r->reason, sizeof(r->reason));
		if (recv_bb) {
			grpc_byte_buffer_reader rd;
			grpc_slice all;
			grpc_byte_buffer_reader_init(&rd, recv_bb);
			all = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			r->len = GRPC_SLICE_LENGTH(all);
			r->body = malloc(r->len ? r->len : 1);
			memcpy(r->body, GRPC_SLICE_START_PTR(all), r->len);
			grpc_slice_unref(all);
			grpc_byte_buffer_destroy(recv_bb);
		}
	}
	grpc_call_unref(call);
	grpc_slice_unref(method);
	grpc_byte_buffer_destroy(send_bb);
	for (size_t i = 0; i < n; i++) {
		grpc_slice_unref(send_md[i].key);
		grpc_slice_unref(send_md[i].value);
	}
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

void rel_call(grpc_channel *ch, const char *path, const char *bearer, const ProtobufCMessage *msg,
	      rel_result *r)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	protobuf_c_message_pack(msg, buf);
	rel_call_raw(ch, path, bearer, NULL, 0, buf, n, 10000, r);
	free(buf);
}

void rel_result_free(rel_result *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

const char *rel_status_name(grpc_status_code c)
{
	static const char *const names[] = {"OK",
					    "CANCELLED",
					    "UNKNOWN",
					    "INVALID_ARGUMENT",
					    "DEADLINE_EXCEEDED",
					    "NOT_FOUND",
					    "ALREADY_EXISTS",
					    "PERMISSION_DENIED",
					    "RESOURCE_EXHAUSTED",
					    "FAILED_PRECONDITION",
					    "ABORTED",
					    "OUT_OF_RANGE",
					    "UNIMPLEMENTED",
					    "INTERNAL",
					    "UNAVAILABLE",
					    "DATA_LOSS",
					    "UNAUTHENTICATED"};
	return (unsigned)c < 17 ? names[c] : "?";
}

long rel_list_count(rel_server *s, const char *path, ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, const char *items,
		    grpc_status_code *status)
{
	const ProtobufCFieldDescriptor *tok_in = protobuf_c_message_descriptor_get_field_by_name(
		req->descriptor, "page_token");
	const ProtobufCFieldDescriptor *tok_out = protobuf_c_message_descriptor_get_field_by_name(
		resp_desc, "next_page_token");
	const ProtobufCFieldDescriptor *list = protobuf_c_message_descriptor_get_field_by_name(
		resp_desc, items);
	char **in = tok_in ? (char **)((char *)req + tok_in->offset) : NULL;
	char token[512] = "";
	long total = 0;

	if (status)
		*status = GRPC_STATUS_OK;
	if (!in || !tok_out || !list || list->label != PROTOBUF_C_LABEL_REPEATED)
		return -1;
	for (;;) {
		ProtobufCMessage *resp;
		rel_result r;
		*in = token;
		rel_call(s->ch, path, s->key, req, &r);
		*in = (char *)"";
		if (status)
			*status = r.status;
		resp = r.status == GRPC_STATUS_OK
			       ? protobuf_c_message_unpack(resp_desc, NULL, r.len, r.body)
			       : NULL;
		rel_result_free(&r);
		if (!resp)
			return -1;
		total += (long)*(size_t *)((char *)resp + list->quantifier_offset);
		snprintf(token, sizeof(token), "%s", *(char **)((char *)resp + tok_out->offset));
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!token[0])
			return total;
	}
}
