#ifndef BILLINGCTL_PBMSG_H
#define BILLINGCTL_PBMSG_H

/*
 * pbmsg: protobuf-c messages driven by their descriptors, for billingctl.
 *
 *  - Reading: the value of a field as text (enum names without their
 *    prefix, timestamps in RFC 3339, money as "21.00 USD"), and a whole
 *    message as protobuf canonical JSON (lowerCamelCase names, int64 as
 *    strings, enums by name, well-known types in their JSON forms, fields
 *    at their default left out), built with jansson.
 *  - Writing: setting a request field from command-line text, through the
 *    same descriptors, so every RPC's flags follow its proto and no field
 *    list is written twice.
 *
 * Requests built here allocate from a pbm_arena, never from protobuf-c's
 * allocator: free them with pbm_arena_free(), not
 * protobuf_c_message_free_unpacked().
 */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct pbm_arena pbm_arena;

pbm_arena *pbm_arena_new(void);
/* Zeroed memory that lives until pbm_arena_free(); exits on OOM. */
void *pbm_alloc(pbm_arena *a, size_t n);
char *pbm_strdup(pbm_arena *a, const char *s);
void pbm_arena_free(pbm_arena *a);

/* A new message of type d, initialised, from the arena. */
ProtobufCMessage *pbm_new(pbm_arena *a, const ProtobufCMessageDescriptor *d);

/* 1 for int64 fields that hold money in minor units (monthly_amount,
 * unit_amount, amount, amount_off, subtotal, discount, total): shown and
 * parsed with the message's currency. */
int pbm_is_money(const ProtobufCFieldDescriptor *f);

/* The enum value name without the enum's common prefix: ROLE_INSTALLER ->
 * INSTALLER. Static storage of the descriptor; the number as text in buf
 * for an unknown value. */
const char *pbm_enum_short(const ProtobufCEnumDescriptor *e, int value, char *buf, size_t cap);

/* Field `name` of message m (NULL if none). */
const ProtobufCFieldDescriptor *pbm_field(const ProtobufCMessageDescriptor *d, const char *name);

/* How many values a field holds: n for repeated, 0/1 for the others (0 when
 * at its default: proto3 presence). */
size_t pbm_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* Pointer to value i of a field (i < pbm_count, or 0 for a singular field
 * whatever its value): a pointer to the scalar, the char *, the
 * ProtobufCMessage *, or the ProtobufCBinaryData. */
const void *pbm_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i);

/* Value i of field f of m as text into buf (truncated). currency: the
 * currency money fields are shown in ("" or NULL: bare numbers). Nested
 * messages other than the well-known types print as "{...}". */
void pbm_format(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i,
		const char *currency, char *buf, size_t cap);

/* The string value of field `name`, or "" (also for non-string fields). */
const char *pbm_string(const ProtobufCMessage *m, const char *name);

/* Protobuf canonical JSON of m (new reference). */
json_t *pbm_to_json(const ProtobufCMessage *m);

/* lowerCamelCase JSON name of a field name into buf. */
void pbm_json_name(const char *name, char *buf, size_t cap);

/*
 * Sets field f of m from text (appends for repeated fields; a comma-separated
 * list appends each element). Strings as is; integers in decimal; money
 * with spb_money_parse() in `currency`; bools true/false/1/0/yes/no; enums
 * by full or short name in any case; Timestamps in RFC 3339
 * (YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD); Durations as a number with s, m,
 * h or d. Returns 0, or -1 with why in err.
 */
int pbm_set(pbm_arena *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *text,
	    const char *currency, char *err, size_t cap);

/* The sub-message of a singular message field, created (from the arena) if
 * it is not set yet. */
ProtobufCMessage *pbm_submessage(pbm_arena *a, ProtobufCMessage *m,
				 const ProtobufCFieldDescriptor *f);

#endif
