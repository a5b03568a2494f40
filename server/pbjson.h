#ifndef SPB_PBJSON_H
#define SPB_PBJSON_H

/*
 * pbjson.h: any protobuf-c message in the proto3 canonical JSON mapping
 * (https://protobuf.dev/programming-guides/proto3/#json), driven by its
 * descriptor alone, written with jansson. protobuf-c has no JSON of its own.
 *
 * The rules implemented:
 *  - field names in lowerCamelCase (the default json_name);
 *  - fields at their default value are left out (proto3 implicit
 *    presence), except members of a oneof that is set and proto3 `optional`
 *    fields that are present;
 *  - int64, uint64, sint64, fixed64, sfixed64 as decimal strings; the
 *    32-bit integers as numbers; float/double as numbers, or "NaN",
 *    "Infinity", "-Infinity";
 *  - enums by value name (an unknown value as its number);
 *  - bytes in standard base64 with padding;
 *  - repeated fields as arrays;
 *  - google.protobuf.Timestamp as RFC 3339 in UTC with "Z" and 0, 3, 6 or
 *    9 fractional digits; Duration as "<seconds>[.<frac>]s"; FieldMask as
 *    its paths in lowerCamelCase joined by commas; the wrapper types as
 *    their value.
 * Strings must be UTF-8 (they are written as such). Not handled (no API
 * message uses them): map fields (written as arrays of
 * {key, value}), Any, Struct, Value, ListValue. A Timestamp or Duration out
 * of its valid range makes the encoding fail.
 */

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new JSON object for msg (the caller json_decref()s it), or NULL when
 * out of memory or msg holds a value JSON cannot carry. */
json_t *pbjson_encode(const ProtobufCMessage *msg);

/* msg as compact JSON text (malloc'd, NUL-terminated; the caller frees
 * it), or NULL as above. */
char *pbjson_dumps(const ProtobufCMessage *msg);

#endif
