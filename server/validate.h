#ifndef SPB_VALIDATE_H
#define SPB_VALIDATE_H

/*
 * validate.h: the one request validator, run by the dispatcher (runtime.c)
 * on every request before its handler, so no handler can forget a check.
 *
 * It walks the request's wire bytes with the protoc-c descriptor of its
 * type and the (rules) options of the API (proto field_rules.proto, turned
 * into rpc_rules[] by tools/gen/spb_gen.c), and refuses:
 *   - a string that is not UTF-8, holds a NUL or is longer than its
 *     max_len (the bytes on the wire are checked: protobuf-c would cut a
 *     string at its first NUL);
 *   - an enum value the enum does not define (proto3 keeps unknown ones);
 *   - a google.protobuf.Timestamp outside 0001-01-01..9999-12-31 or with
 *     nanos outside 0..999,999,999; a google.protobuf.Duration beyond
 *     +-10,000 years, with |nanos| >= 1 s or nanos of the other sign;
 *   - a repeated field with more than max_items elements, or a repeated
 *     string or enum field holding one value twice (a selection never
 *     names a thing twice);
 * with INVALID_ARGUMENT and a message that starts with the field path
 * ("items[3].label: ..."); and a charge-lowering field (R2, R4) set by a
 * caller other than the vendor or a SERVICE key with PERMISSION_DENIED
 * naming it (in a request with an update_mask the mask decides what is
 * set). Unknown fields are skipped.
 */

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

/* The (rules) of one field (rpc_rules.c, generated). */
typedef struct rpc_field_rule {
	int number;          /* field number; 0 ends a list */
	unsigned max_len;    /* strings: bytes */
	unsigned max_items;  /* repeated fields of requests */
	int charge_lowering; /* vendor or SERVICE key only */
	int secret;          /* responses: shown once, never stored */
} rpc_field_rule;

typedef struct rpc_message_rules {
	const ProtobufCMessageDescriptor *desc;
	const rpc_field_rule *fields; /* ends with number 0 */
	size_t n_fields;
	int request; /* reachable from a request type */
} rpc_message_rules;

/* What the validator covers: the messages requests carry (well-known types
 * included) and their fields. */
typedef struct rpc_rules_coverage {
	unsigned messages, fields, string_limits, repeated_limits, charge_lowering;
} rpc_rules_coverage;

extern const rpc_message_rules rpc_rules[];
extern const size_t rpc_rules_count;
extern const rpc_rules_coverage rpc_rules_covered;

/*
 * Validates the packed request `buf` (len bytes) of type `d` (already known
 * to decode). may_lower_charges: the caller is the vendor or holds a
 * SERVICE key. Returns GRPC_STATUS_OK, or INVALID_ARGUMENT /
 * PERMISSION_DENIED with a client-safe message in msg.
 */
grpc_status_code rpc_validate_request(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
				      size_t len, int may_lower_charges, char *msg, size_t cap);

/*
 * The packed response buf (len bytes) of type d with every (rules).secret
 * string emptied, at any depth: what the R17 record of a call may keep.
 * Returns 1 with the copy in *out (malloc'd, *out_len bytes; caller frees),
 * 0 when d carries no secret (nothing allocated), -1 when buf does not
 * decode.
 */
int rpc_strip_secrets(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		      uint8_t **out, size_t *out_len);

#endif
