#ifndef SPB_STREAM_H
#define SPB_STREAM_H

/*
 * Helpers for the raw (non-table) services: health and reflection. Each
 * stream is bound to one completion queue, so its tags fire on one thread in
 * turn and need no locking.
 */

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

/* Packs a message into a new byte buffer (caller destroys it). */
grpc_byte_buffer *stream_pack(const ProtobufCMessage *msg);
/* Copies a byte buffer into one contiguous slice (caller unrefs it). */
grpc_slice stream_read_all(grpc_byte_buffer *bb);

/* Finishes a unary raw call: sends `reply` (taken over; may be NULL) with
 * `code`/`message`, then frees everything and unrefs the call. */
void stream_unary_finish(grpc_call *call, const char *method, grpc_byte_buffer *reply,
			 grpc_status_code code, const char *message);

/* Registers reflection (v1 and v1alpha); health is in health.h. */
int reflection_service_register(void);
/* 1 if the embedded descriptor set has a service of that full name (health
 * answers SERVING for it), else 0. */
int reflection_knows_service(const char *name);
void reflection_service_shutdown(void);

#endif
