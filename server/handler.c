/* handler.c: the handlers' toolkit. See handler.h. */
#include "handler.h"

#include <stdarg.h>
#include <stdio.h>

#include "billingd.h"
#include "convert.h"
#include "log.h"

int handler_bad_arg(rpc_call *call, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL, "%s", msg);
	return 1;
}

int handler_check_id(rpc_call *call, const char *field, const char *value)
{
	if (valid_id(value))
		return 0;
	return handler_bad_arg(call, "%s: " HANDLER_ID_RULE, field);
}

int handler_check_page_size(rpc_call *call, int32_t page_size)
{
	if (page_size >= 0 && page_size <= STORE_PAGE_MAX)
		return 0;
	return handler_bad_arg(call, "page_size: must be 0..%d", STORE_PAGE_MAX);
}

int handler_read_begin(rpc_call *call, store_txn **txn)
{
	int rc = store_read_begin(billingd.store, txn);
	if (rc != 0)
		handler_fail_store(call, rc);
	return rc;
}

void handler_fail_internal(rpc_call *call, const char *fmt, ...)
{
	char cause[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	log_error("%s: %s", rpc_call_method(call)->name, cause);
	rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
}

void handler_fail_store(rpc_call *call, int rc)
{
	switch (rc) {
	case STORE_FULL:
		rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON_STORAGE_FULL,
			 "the store is full; nothing was written");
		break;
	case STORE_READERS_FULL:
		log_warn("%s: %s", rpc_call_method(call)->name, store_strerror(rc));
		rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL, "too many concurrent readers");
		break;
	case STORE_INVALID:
		if (rpc_call_method(call)->paged) {
			rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				 "page_token: not a token of this list");
			break;
		}
		handler_fail_internal(call, "storage error: %s", store_strerror(rc));
		break;
	default:
		if (rc > 0)
			handler_fail_internal(call, "refusal code %d without write_fail()", rc);
		else
			handler_fail_internal(call, "storage error: %s", store_strerror(rc));
		break;
	}
}
