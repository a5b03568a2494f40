/* write.c: handler mutations through the group-commit writer. See write.h. */
#include "write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "billingd.h"
#include "idem.h"
#include "log.h"

void *write_new(rpc_call *call, size_t size)
{
	rpc_write *w = calloc(1, size);
	w->call = call;
	return w;
}

int write_fail(rpc_write *w, grpc_status_code code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	w->code = code;
	w->reason = reason;
	va_start(ap, fmt);
	vsnprintf(w->message, sizeof(w->message), fmt, ap);
	va_end(ap);
	return 1;
}

void write_fail_store(rpc_call *call, int rc)
{
	switch (rc) {
	case STORE_FULL:
		rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "STORAGE_FULL",
			 "the store is full; nothing was written");
		break;
	case STORE_READERS_FULL:
		rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL, "too many concurrent readers");
		break;
	case STORE_INVALID:
		/* Only a List has a page token to blame; anywhere else an invalid
		 * argument to the store is a server bug. */
		if (protobuf_c_message_descriptor_get_field_by_name(rpc_call_method(call)->input,
								    "page_token")) {
			rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				 "page_token: not a token of this list");
			break;
		}
		log_error("%s: storage error: %s", rpc_call_method(call)->name, store_strerror(rc));
		rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		break;
	default:
		log_error("%s: storage error: %s", rpc_call_method(call)->name, store_strerror(rc));
		rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		break;
	}
}

/* Sends (or, while recording for R17, captures) the success response. */
static void send_reply(rpc_write *w)
{
	if (w->reply) {
		w->reply(w);
	} else {
		const ProtobufCMessageDescriptor *d = rpc_call_method(w->call)->output;
		ProtobufCMessage *empty = malloc(d->sizeof_message);
		protobuf_c_message_init(d, empty);
		rpc_reply(w->call, empty);
		free(empty);
	}
}

int write_read_begin(rpc_call *call, store_txn **txn)
{
	int rc = store_read_begin(billingd.store, txn);
	if (rc != 0)
		write_fail_store(call, rc);
	return rc;
}

static int apply_thunk(store_txn *txn, void *arg)
{
	rpc_write *w = arg;
	rpc_idem *st = rpc_call_idem(w->call);
	int rc;
	w->intermediate = 0; /* apply may run twice */
	w->resume_ref[0] = 0;
	rc = w->apply(txn, w);
	if (rc != 0 || !st->active)
		return rc;
	if (w->intermediate) /* a later phase ends the call; a retry resumes */
		return w->resume_ref[0] ? idem_record(txn, st, rpc_call_method(w->call)->path,
						      IDEM_PENDING, w->resume_ref, NULL)
					: 0;
	/* The outcome is recorded in the same transaction as the effect. */
	st->has_capture = 0;
	st->capture = 1;
	send_reply(w);
	st->capture = 0;
	if (!st->has_capture)
		return 0;
	st->recorded = 1;
	return idem_record(txn, st, rpc_call_method(w->call)->path, st->captured_status,
			   st->captured_message, st->captured_reason);
}

/* A refusal from apply (its writes undone) is recorded for replay too. */
static int failed_thunk(store_txn *txn, void *arg, int rc)
{
	rpc_write *w = arg;
	rpc_call_idem(w->call)->recorded = 1;
	return idem_record(txn, rpc_call_idem(w->call), rpc_call_method(w->call)->path, w->code,
			   w->message, w->reason);
}

static void done_thunk(void *arg, int rc)
{
	rpc_write *w = arg;
	rpc_idem *st = rpc_call_idem(w->call);
	if (rc == 0) {
		if (st->active && st->has_capture) {
			st->has_capture = 0;
			if (st->captured_status == GRPC_STATUS_OK)
				rpc_finish_raw(w->call, GRPC_STATUS_OK, NULL, NULL, st->captured,
					       st->captured_len);
			else
				rpc_finish_raw(w->call, st->captured_status, st->captured_message,
					       st->captured_reason[0] ? st->captured_reason : NULL,
					       NULL, 0);
		} else {
			send_reply(w);
		}
	} else if (rc > 0) {
		rpc_fail(w->call, w->code, w->reason, "%s", w->message);
	} else {
		write_fail_store(w->call, rc);
	}
	if (w->cleanup)
		w->cleanup(w);
	free(w);
}

void write_submit(rpc_write *w)
{
	w->m.apply = apply_thunk;
	w->m.done = done_thunk;
	w->m.arg = w;
	if (rpc_call_idem(w->call)->active)
		w->m.failed = failed_thunk;
	if (store_submit(billingd.store, &w->m) != 0) {
		rpc_fail(w->call, GRPC_STATUS_UNAVAILABLE, NULL, "the server is shutting down");
		if (w->cleanup)
			w->cleanup(w);
		free(w);
	}
}
