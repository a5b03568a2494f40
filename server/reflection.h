/* Server reflection (grpc.reflection.v1 and v1alpha) over an embedded
 * serialized google.protobuf.FileDescriptorSet.
 *
 * This module does no gRPC I/O: the server feeds it each message read from
 * the ServerReflectionInfo bidi stream and writes back what it returns.
 * grpc.reflection.v1 and v1alpha share one wire format, so one function
 * serves both services.
 *
 * An index is immutable once built; reflection_answer() and the accessors
 * may be called from any number of threads at once. */
#ifndef SPB_SERVER_REFLECTION_H
#define SPB_SERVER_REFLECTION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct reflection_index reflection_index;

/* Builds the index from a serialized FileDescriptorSet (copied; the caller's
 * buffer need not outlive the index). NULL on error: the set or one of its
 * files does not decode, a file name appears twice, a file imports a file
 * that is not in the set (build with protoc --include_imports). Memory
 * exhaustion aborts (xalloc.h). */
reflection_index *reflection_index_new(const unsigned char *set, size_t len);

/* NULL ok. */
void reflection_index_free(reflection_index *idx);

/* Answers one serialized ServerReflectionRequest with a serialized
 * ServerReflectionResponse (malloc'd, caller frees; *out is never NULL on
 * success, even for a zero-length answer). grpc.reflection.v1 and v1alpha
 * share one wire format, so this serves both.
 *
 * valid_host echoes the request's host and original_request is the request.
 * Unknown file / symbol / type -> error_response {5 NOT_FOUND, message};
 * file_containing_extension -> NOT_FOUND (the set declares no extensions);
 * a request with no recognised message_request -> error_response
 * {3 INVALID_ARGUMENT}.
 *
 * Returns 0, or -1 when the request does not decode (or on bad arguments);
 * on -1 *out and *out_len are left untouched. */
int reflection_answer(const reflection_index *idx, const unsigned char *req, size_t len,
		      unsigned char **out, size_t *out_len);

/* Number / fully-qualified names of the services in the set, in set order
 * (for health and logs). reflection_service_name returns NULL when i is out
 * of range; the string lives as long as the index. */
size_t reflection_service_count(const reflection_index *idx);
const char *reflection_service_name(const reflection_index *idx, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* SPB_SERVER_REFLECTION_H */
