/* write.c: handler mutations through the group-commit writer. See write.h. */
#include "write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "billingd.h"
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
		rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL, "page_token: not a token of this list");
		break;
	default:
		log_error("%s: storage error: %s", rpc_call_method(call)->name, store_strerror(rc));
		rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		break;
	}
}

static int apply_thunk(store_txn *txn, void *arg)
{
	rpc_write *w = arg;
	return w->apply(txn, w);
}

static void done_thunk(void *arg, int rc)
{
	rpc_write *w = arg;
	if (rc == 0) {
		if (w->reply) {
			w->reply(w);
		} else {
			ProtobufCMessage *empty = malloc(rpc_call_method(w->call)->output->sizeof_message);
			protobuf_c_message_init(rpc_call_method(w->call)->output, empty);
			rpc_reply(w->call, empty);
			free(empty);
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
	if (store_submit(billingd.store, &w->m) != 0) {
		rpc_fail(w->call, GRPC_STATUS_UNAVAILABLE, NULL, "the server is shutting down");
		if (w->cleanup)
			w->cleanup(w);
		free(w);
	}
}
