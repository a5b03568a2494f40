/*
 * spb_internal.h - what the SDK's sources (and the generated stubs in
 * spb_rpc.c) share, hidden from the library's users.
 */
#ifndef SPB_INTERNAL_H
#define SPB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "spbilling.h"

/** Length of a generated idempotency key: 16 random bytes in hex. */
#define SPB__IDEMPOTENCY_KEY_LEN 32
/** Longest idempotency key the server accepts (R17). */
#define SPB__IDEMPOTENCY_KEY_MAX 255

/**
 * One synchronous unary call of service->methods[method_index]: packs
 * request, sends it with the call options' metadata, waits, and unpacks
 * the answer into *out (owned by the caller). mutating: the call carries an
 * idempotency key (given or generated). UNAVAILABLE is retried up to the
 * client's max_retries within the deadline. Returns 0 or a negative SPB_E*
 * code with spb_error_last() filled. Called by every generated stub.
 */
int spb__unary(spb_client *client, const ProtobufCServiceDescriptor *service, unsigned method_index,
	       int mutating, const ProtobufCMessage *request, ProtobufCMessage **out,
	       const spb_call_options *opts);

/* errors.c */

/** Clears grpc_code, message and reason of this thread's error. */
void spb__error_reset(void);

/**
 * Records a failure on this thread: grpc_code, a printf-style message and
 * the ErrorInfo reason (NULL for none). Returns spb__code_from_status().
 */
int spb__error_set(int grpc_code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Records the idempotency key of the current mutating call. */
void spb__error_set_key(const char *key);

/** Maps a gRPC status code to its SPB_E* code (0 for OK). */
int spb__code_from_status(int grpc_code);

/**
 * Finds the google.rpc.ErrorInfo reason in a serialized google.rpc.Status
 * (the value of the `grpc-status-details-bin` trailer) and copies it,
 * truncated and NUL-terminated, into reason. Returns 0 when found,
 * SPB_ENOTFOUND when the Status holds no ErrorInfo, SPB_EINVALID when the
 * bytes are not a Status. reason is "" unless 0 is returned.
 */
int spb__status_reason(const uint8_t *data, size_t len, char *reason, size_t reason_size);

/* The value of ErrorInfo metadata `key` in a packed google.rpc.Status into
 * out ("" when absent): 0, SPB_ENOTFOUND or SPB_EINVALID. */
int spb__status_metadata(const uint8_t *data, size_t len, const char *key, char *out, size_t cap);

/* Sets the order id of the last error ("" for none). */
void spb__error_set_order(const char *order_id);

/* client.c */

/** The client's channel and default bearer key (NULL: none); both live
 *  as long as the client. */
grpc_channel *spb__client_channel(spb_client *client);
const char *spb__client_api_key(spb_client *client);

/** 1 if value is 1..max_len printable ASCII characters (a metadata value). */
int spb__header_value_ok(const char *value, size_t max_len);

/** Appends "key: prefix value" to md[*n] (the value copied into a new
 *  slice, which the caller unrefs) and increments *n. */
void spb__add_metadata(grpc_metadata *md, size_t *n, const char *key, const char *prefix,
		       const char *value);

/** Records a non-OK status in the thread's error: its message and the
 *  ErrorInfo reason from the grpc-status-details-bin trailer. Returns
 *  status. */
grpc_status_code spb__record_status(grpc_status_code status, grpc_slice details,
				    const grpc_metadata_array *trailers);

/**
 * Writes a fresh random idempotency key (SPB__IDEMPOTENCY_KEY_LEN lowercase
 * hex characters and a NUL) into key. Returns 0, or SPB_ERROR when the
 * random generator fails.
 */
int spb__idempotency_key_new(char key[SPB__IDEMPOTENCY_KEY_LEN + 1]);

#endif /* SPB_INTERNAL_H */
