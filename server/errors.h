#ifndef SPB_ERRORS_H
#define SPB_ERRORS_H

/*
 * errors.h: the details every failed call carries (runtime.c sends them in
 * the grpc-status-details-bin trailer as a google.rpc.Status):
 *
 *  - a google.rpc.ErrorInfo, always: domain "billing.smartplus", the reason
 *    the handler gave or else the generic one of the status (REASON_NOT_FOUND
 *    ...: rpc_reasons.h, generated from the proto's ErrorReason), and
 *    metadata: what the handler attached (rpc_error_meta: balance,
 *    requested ...), `field` for INVALID_ARGUMENT, `order_id` when the call
 *    is about one order;
 *  - a google.rpc.BadRequest with one field violation on INVALID_ARGUMENT
 *    whose message names its field ("months: must be 1..60").
 */

#include <stddef.h>

#include <grpc/grpc.h>

#define ERRORS_DOMAIN "billing.smartplus"
#define ERRORS_MAX_META 6

typedef struct errors_meta {
	const char *key;
	const char *value;
} errors_meta;

/* The generic reason of a status (never NULL for a non-OK code). */
const char *errors_default_reason(grpc_status_code code);

/* The field an INVALID_ARGUMENT message is about: its leading
 * "name[.name...]:" (letters, digits, '_', '.', '[', ']'), copied into buf;
 * 0, or -1 when the message does not start with one. */
int errors_field(const char *message, char *buf, size_t cap);

/* The serialized google.rpc.Status for a failed call (caller unrefs). */
grpc_slice errors_status_details(grpc_status_code code, const char *message, const char *reason,
				 const errors_meta *meta, size_t n_meta);

#endif
