/* spt_raw.c - see spt_raw.h. */
#include "spt_raw.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "spbilling.h"

#define MAX_MD 16

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

static void grpc_start(void)
{
	grpc_init();
}

grpc_channel *spt_raw_channel(const char *target)
{
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	grpc_arg arg;
	grpc_channel_args args;

	pthread_once(&grpc_once, grpc_start);
	arg.type = GRPC_ARG_INTEGER;
	arg.key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
	arg.value.integer = 1;
	args.num_args = 1;
	args.args = &arg;
	creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(target, creds, &args);
	grpc_channel_credentials_release(creds);
	return ch;
}

static int cmp_entry(const void *a, const void *b)
{
	const Google__Rpc__ErrorInfo__MetadataEntry *const *x = a, *const *y = b;
	return strcmp((*x)->key, (*y)->key);
}

/* The ErrorInfo reason in grpc-status-details-bin and its metadata
 * ("key=value\n" sorted by key), or "". */
static void reason_of(const grpc_metadata_array *trailers, char *reason, size_t cap, char *meta,
		      size_t mcap)
{
	reason[0] = 0;
	meta[0] = 0;
	for (size_t i = 0; i < trailers->count; i++) {
		const grpc_metadata *m = &trailers->metadata[i];
		Google__Rpc__Status *st;
		if (grpc_slice_str_cmp(m->key, "grpc-status-details-bin") != 0)
			continue;
		st = google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(m->value),
						 GRPC_SLICE_START_PTR(m->value));
		if (!st)
			return;
		for (size_t d = 0; d < st->n_details; d++) {
			const Google__Protobuf__Any *any = st->details[d];
			const char *suffix = "google.rpc.ErrorInfo";
			size_t tl = strlen(any->type_url), sl = strlen(suffix);
			Google__Rpc__ErrorInfo *ei;
			if (tl < sl || strcmp(any->type_url + tl - sl, suffix) != 0)
				continue;
			ei = google__rpc__error_info__unpack(NULL, any->value.len, any->value.data);
			if (ei) {
				size_t n = 0;
				snprintf(reason, cap, "%s", ei->reason);
				if (ei->n_metadata) /* NULL with none: not for qsort */
					qsort(ei->metadata, ei->n_metadata, sizeof(ei->metadata[0]),
					      cmp_entry);
				for (size_t k = 0; k < ei->n_metadata && n < mcap; k++)
					n += (size_t)snprintf(meta + n, mcap - n, "%s=%s\n",
							      ei->metadata[k]->key,
							      ei->metadata[k]->value);
				google__rpc__error_info__free_unpacked(ei, NULL);
			}
			break;
		}
		google__rpc__status__free_unpacked(st, NULL);
		return;
	}
}

void spt_raw_call(grpc_channel *ch, const char *path, const char *bearer, const spt_md *md,
		  size_t nmd, const void *req, size_t len, int deadline_ms, spt_raw_result *r)
{
	grpc_completion_queue *cq;
	grpc_metadata send_md[MAX_MD];
	grpc_metadata_array init_md, trail_md;
	grpc_byte_buffer *send_bb, *recv_bb = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice(), method, body;
	grpc_op ops[6];
	grpc_call *call;
	gpr_timespec deadline, wait;
	char auth[256];
	size_t n = 0;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	pthread_once(&grpc_once, grpc_start);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	if (deadline_ms == 0) {
		deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
		wait = deadline;
	} else {
		deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
		wait = gpr_time_add(deadline, gpr_time_from_millis(10000, GPR_TIMESPAN));
	}
	if (bearer) {
		snprintf(auth, sizeof(auth), "Bearer %s", bearer);
		send_md[n].key = grpc_slice_from_static_string("authorization");
		send_md[n++].value = grpc_slice_from_copied_string(auth);
	}
	for (size_t i = 0; i < nmd && n < MAX_MD; i++) {
		send_md[n].key = grpc_slice_from_copied_string(md[i].key);
		send_md[n++].value = grpc_slice_from_copied_buffer(
			md[i].value, md[i].value_len ? md[i].value_len : strlen(md[i].value));
	}
	body = grpc_slice_from_copied_buffer((const char *)(req ? req : ""), len);
	send_bb = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	method = grpc_slice_from_copied_string(path);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
					deadline, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = n;
	ops[0].data.send_initial_metadata.metadata = n ? send_md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, ops, 6, ops, NULL) != GRPC_CALL_OK) {
		snprintf(r->message, sizeof(r->message), "grpc_call_start_batch failed");
	} else {
		grpc_event ev = grpc_completion_queue_pluck(cq, ops, wait, NULL);
		if (ev.type != GRPC_OP_COMPLETE) {
			/* let the batch finish before freeing what it points at */
			grpc_call_cancel(call, NULL);
			grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME),
						    NULL);
			snprintf(r->message, sizeof(r->message), "the call did not complete");
		} else {
			r->status = (int)status;
			snprintf(r->message, sizeof(r->message), "%.*s",
				 (int)GRPC_SLICE_LENGTH(details),
				 (const char *)GRPC_SLICE_START_PTR(details));
			reason_of(&trail_md, r->reason, sizeof(r->reason), r->meta,
				  sizeof(r->meta));
		}
		if (recv_bb) {
			grpc_byte_buffer_reader rd;
			if (r->status >= 0 && grpc_byte_buffer_reader_init(&rd, recv_bb)) {
				grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
				r->len = GRPC_SLICE_LENGTH(all);
				r->body = malloc(r->len + 1);
				if (r->body)
					memcpy(r->body, GRPC_SLICE_START_PTR(all), r->len);
				else
					r->len = 0;
				grpc_slice_unref(all);
				grpc_byte_buffer_reader_destroy(&rd);
			}
			grpc_byte_buffer_destroy(recv_bb);
		}
	}
	grpc_call_unref(call);
	grpc_slice_unref(method);
	grpc_slice_unref(details);
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

void spt_raw_call_msg(grpc_channel *ch, const char *path, const char *bearer,
		      const ProtobufCMessage *msg, spt_raw_result *r)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);

	if (!buf) {
		memset(r, 0, sizeof(*r));
		r->status = -1;
		return;
	}
	protobuf_c_message_pack(msg, buf);
	spt_raw_call(ch, path, bearer, NULL, 0, buf, n, 10000, r);
	free(buf);
}

int spt_raw_once(const char *target, const char *path, const void *req, size_t len,
		 const char *const *md, spt_raw_result *r)
{
	spt_md mds[MAX_MD];
	size_t nmd = 0;
	grpc_channel *ch = spt_raw_channel(target);

	for (; md && md[2 * nmd] && nmd < MAX_MD; nmd++) {
		mds[nmd].key = md[2 * nmd];
		mds[nmd].value = md[2 * nmd + 1];
		mds[nmd].value_len = 0;
	}
	spt_raw_call(ch, path, NULL, mds, nmd, req, len, 5000, r);
	grpc_channel_destroy(ch);
	return r->status >= 0 ? 0 : -1;
}

void spt_raw_free(spt_raw_result *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

const char *spt_status_name(int c)
{
	return spb_status_name(c);
}

long spt_raw_list_count(grpc_channel *ch, const char *bearer, const char *path,
			ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
			const char *items, int *status)
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
		spt_raw_result r;
		*in = token;
		spt_raw_call_msg(ch, path, bearer, req, &r);
		*in = (char *)"";
		if (status)
			*status = r.status;
		resp = r.status == GRPC_STATUS_OK
			       ? protobuf_c_message_unpack(resp_desc, NULL, r.len, r.body)
			       : NULL;
		spt_raw_free(&r);
		if (!resp)
			return -1;
		total += (long)*(size_t *)((char *)resp + list->quantifier_offset);
		snprintf(token, sizeof(token), "%s", *(char **)((char *)resp + tok_out->offset));
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!token[0])
			return total;
	}
}
