/* write.c: handler mutations through the group-commit writer. See write.h. */
#include "write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "billingd.h"
#include "handler.h"
#include "idem.h"
#include "log.h"
#include "xalloc.h"

void *write_new(rpc_call *call, size_t size)
{
	rpc_write *w = xcalloc(1, size);
	w->call = call;
	return w;
}

int write_fail(rpc_write *w, grpc_status_code code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	if (code == GRPC_STATUS_OK) { /* a refusal that would answer OK */
		log_error("%s: write_fail() with status OK", rpc_call_method(w->call)->name);
		code = GRPC_STATUS_INTERNAL;
	}
	w->code = code;
	w->reason = reason;
	va_start(ap, fmt);
	vsnprintf(w->message, sizeof(w->message), fmt, ap);
	va_end(ap);
	return WRITE_REFUSED;
}

/* A refusal made with write_fail(): anything else positive is a module's
 * code that leaked out of apply() without one. */
static int refused(const rpc_write *w, int rc)
{
	return rc == WRITE_REFUSED && w->code != GRPC_STATUS_OK;
}

/* Sends (or, while recording for R17, captures) the success response. */
static void send_reply(rpc_write *w)
{
	if (w->reply) {
		w->reply(w);
	} else {
		const ProtobufCMessageDescriptor *d = rpc_call_method(w->call)->output;
		ProtobufCMessage *empty = xmalloc(d->sizeof_message);
		protobuf_c_message_init(d, empty);
		rpc_reply(w->call, empty);
		free(empty);
	}
}

const char *write_resume_ref(rpc_write *w)
{
	return rpc_call_idem(w->call)->resume_ref;
}

static int apply_thunk(store_txn *txn, void *arg)
{
	rpc_write *w = arg;
	idem_state *st = rpc_call_idem(w->call);
	int rc;
	w->intermediate = 0; /* apply may run twice */
	w->resume_ref[0] = 0;
	w->code = GRPC_STATUS_OK;
	w->reason = NULL;
	w->message[0] = 0;
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

/* A refusal from apply (its writes undone) is recorded for replay too; a
 * leaked positive code (a bug, answered INTERNAL) is not: a retry runs
 * again. */
static int failed_thunk(store_txn *txn, void *arg, int rc)
{
	rpc_write *w = arg;
	char reason[IDEM_REASON_MAX];
	if (!refused(w, rc))
		return 0;
	rpc_call_idem(w->call)->recorded = 1;
	return idem_record(txn, rpc_call_idem(w->call), rpc_call_method(w->call)->path, w->code,
			   w->message,
			   rpc_reason_to_record(w->call, w->reason, reason, sizeof(reason)));
}

static void done_thunk(void *arg, int rc)
{
	rpc_write *w = arg;
	idem_state *st = rpc_call_idem(w->call);
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
	} else if (refused(w, rc)) {
		rpc_fail(w->call, w->code, w->reason, "%s", w->message);
	} else {
		handler_fail_store(w->call, rc); /* negative, or a leaked code */
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
