#ifndef SPB_HANDLER_H
#define SPB_HANDLER_H

/*
 * handler.h: what every RPC handler needs besides rpc.h and write.h, written
 * once: the argument checks with their client-facing messages, the read
 * transaction, and the translation of a storage error into a call status.
 *
 * Every function that fails a call finishes it (rpc_fail), so after a
 * non-zero return the handler only releases what it holds and returns.
 *
 * Errors (STYLE §2): a bad argument is INVALID_ARGUMENT with a message
 * naming the field; a storage error is translated by handler_fail_store();
 * anything the client cannot act on is INTERNAL "internal error", logged
 * with its cause (handler_fail_internal). ErrorInfo reasons are the
 * REASON_* constants generated from the proto's ErrorReason enum
 * (rpc_reasons.h), never typed by hand.
 */

#include <stdint.h>

#include "rpc.h"
#include "rpc_reasons.h"
#include "store.h"

/* The longest display name or label accepted, in bytes. */
#define HANDLER_MAX_LABEL 256

/* The shape of an account, project, installer... id, as messages say it. */
#define HANDLER_ID_RULE "must match [A-Za-z0-9_.-]{1,64}"

/* Fails the call INVALID_ARGUMENT with the formatted message, which starts
 * with the field it is about ("display_name: longer than 256 bytes").
 * Returns 1, so a check function can `return BAD_ARG(...)`. */
int handler_bad_arg(rpc_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define BAD_ARG(call, ...) handler_bad_arg(call, __VA_ARGS__)

/* 0 if `value` of `field` is an id (valid_id()); else fails the call with
 * "<field>: must match [A-Za-z0-9_.-]{1,64}" and returns 1. */
int handler_check_id(rpc_call *call, const char *field, const char *value);

/* 0 if a List request's page_size is 0..STORE_PAGE_MAX (0: the server's
 * default); else fails the call and returns 1. */
int handler_check_page_size(rpc_call *call, int32_t page_size);

/* Begins a read transaction (*txn, to be ended with store_read_end()) and
 * returns 0, or fails the call with the storage error translated and
 * returns non-zero. */
int handler_read_begin(rpc_call *call, store_txn **txn);

/*
 * Fails the call for a negative STORE_* code rc:
 *   STORE_FULL          RESOURCE_EXHAUSTED, reason STORAGE_FULL;
 *   STORE_READERS_FULL  RESOURCE_EXHAUSTED "too many concurrent readers";
 *   STORE_INVALID       in a List RPC (rpc_method.paged) the page token is
 *                       the only argument storage checks: INVALID_ARGUMENT
 *                       "page_token: not a token of this list";
 *   anything else       (STORE_INVALID outside a List, NOTFOUND a handler
 *                       did not expect, CORRUPT, IO...) INTERNAL, logged
 *                       with the method and the storage error.
 * A positive rc is a refusal that did not go through write_fail(): a bug,
 * answered INTERNAL and logged.
 */
void handler_fail_store(rpc_call *call, int rc);

/* Fails the call INTERNAL "internal error" (nothing of the cause reaches
 * the client) and logs "<method>: <cause>" at error level. */
void handler_fail_internal(rpc_call *call, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
