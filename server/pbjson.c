/* pbjson.c: protobuf-c messages in the proto3 JSON mapping. See pbjson.h. */
#include "pbjson.h"
#include "xalloc.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define TS_MIN INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define TS_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define DUR_MAX INT64_C(315576000000)

static json_t *message(const ProtobufCMessage *m);

/* The default json_name of a proto field: lowerCamelCase. */
static void json_name(const char *name, char *out, size_t cap)
{
	size_t o = 0;
	int upper = 0;

	for (; *name && o + 1 < cap; name++) {
		if (*name == '_') {
			upper = 1;
			continue;
		}
		out[o++] = upper ? (char)toupper((unsigned char)*name) : *name;
		upper = 0;
	}
	out[o] = '\0';
}

/* ".s" with 0, 3, 6 or 9 digits of nanos (>= 0), or "" for none. */
static void frac(int32_t nanos, char *out, size_t cap)
{
	if (nanos == 0)
		out[0] = '\0';
	else if (nanos % 1000000 == 0)
		snprintf(out, cap, ".%03d", nanos / 1000000);
	else if (nanos % 1000 == 0)
		snprintf(out, cap, ".%06d", nanos / 1000);
	else
		snprintf(out, cap, ".%09d", nanos);
}

static json_t *timestamp(int64_t seconds, int32_t nanos)
{
	char buf[64], f[16];
	struct tm tm;
	time_t t = (time_t)seconds;

	if (seconds < TS_MIN || seconds > TS_MAX || nanos < 0 || nanos > 999999999 ||
	    !gmtime_r(&t, &tm))
		return NULL;
	frac(nanos, f, sizeof(f));
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f);
	return json_string(buf);
}

static json_t *duration(int64_t seconds, int32_t nanos)
{
	char buf[64], f[16];
	int neg = seconds < 0 || nanos < 0;

	if (seconds < -DUR_MAX || seconds > DUR_MAX || nanos < -999999999 || nanos > 999999999 ||
	    (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0))
		return NULL;
	frac(nanos < 0 ? -nanos : nanos, f, sizeof(f));
	snprintf(buf, sizeof(buf), "%s%" PRId64 "%ss", neg ? "-" : "",
		 seconds < 0 ? -seconds : seconds, f);
	return json_string(buf);
}

static json_t *i64(int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static json_t *u64(uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static json_t *real(double v)
{
	if (isnan(v))
		return json_string("NaN");
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

static json_t *bytes(const ProtobufCBinaryData *b)
{
	char *out = xmalloc(4 * ((b->len + 2) / 3) + 1);
	json_t *j;

	EVP_EncodeBlock((unsigned char *)out, b->data, (int)b->len);
	j = json_string(out);
	free(out);
	return j;
}

static json_t *enum_value(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	return ev ? json_string(ev->name) : json_integer(v);
}

/* One value of field f stored at p (an element, for repeated fields). */
static json_t *value(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: return i64(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return u64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT: return real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE: return real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: return enum_value(f->descriptor, *(const int *)p);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return json_string(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES: return bytes(p);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
		return m ? message(m) : json_null();
	}
	}
	return NULL;
}

/* 1 if the singular field holds its type's default value. */
static int is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: return *(const uint32_t *)p == 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return *(const uint64_t *)p == 0;
	case PROTOBUF_C_TYPE_FLOAT: return *(const float *)p == 0 && !signbit(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)p == 0 && !signbit(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL: return !*(const protobuf_c_boolean *)p;
	case PROTOBUF_C_TYPE_ENUM: return *(const int *)p == 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return !s || !s[0];
	}
	case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)p == NULL;
	}
	return 1;
}

/* Bytes one repeated element takes in its array. */
static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return 8;
	case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* Whether a singular field is written: oneof members when their case is
 * theirs, present `optional` fields, the rest when not at their default. */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL || f->label == PROTOBUF_C_LABEL_REQUIRED) {
		if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
			return *(void *const *)(base + f->offset) != NULL;
		if (f->quantifier_offset)
			return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
		return 1;
	}
	return !is_default(f, base + f->offset);
}

static int named(const ProtobufCMessageDescriptor *d, const char *name)
{
	return strcmp(d->name, name) == 0;
}

/* The well-known types with a JSON form of their own; *handled = 0 for
 * the others. */
static json_t *well_known(const ProtobufCMessage *m, int *handled)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;

	*handled = 1;
	if (named(d, "google.protobuf.Timestamp") || named(d, "google.protobuf.Duration")) {
		const ProtobufCFieldDescriptor *s = protobuf_c_message_descriptor_get_field(d, 1);
		const ProtobufCFieldDescriptor *n = protobuf_c_message_descriptor_get_field(d, 2);
		int64_t secs = *(const int64_t *)(base + s->offset);
		int32_t nanos = *(const int32_t *)(base + n->offset);
		return d->name[16] == 'T' ? timestamp(secs, nanos) : duration(secs, nanos);
	}
	if (named(d, "google.protobuf.FieldMask")) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, 1);
		size_t n = *(const size_t *)(base + f->quantifier_offset), len = 0, o = 0;
		char *const *paths = *(char *const *const *)(base + f->offset);
		char *out = NULL, name[256];
		json_t *j;

		for (size_t i = 0; i < n; i++)
			len += strlen(paths[i]) + 1;
		out = xcalloc(1, len + 1);
		for (size_t i = 0; i < n; i++) {
			size_t k;
			json_name(paths[i], name, sizeof(name));
			k = strlen(name);
			if (i)
				out[o++] = ',';
			memcpy(out + o, name, k); /* a camel name is never longer */
			o += k;
		}
		out[o] = '\0';
		j = json_string(out);
		free(out);
		return j;
	}
	if (strncmp(d->name, "google.protobuf.", 16) == 0 && strlen(d->name) > 21 &&
	    strcmp(d->name + strlen(d->name) - 5, "Value") == 0 && d->n_fields == 1 &&
	    strcmp(d->fields[0].name, "value") == 0)
		return value(&d->fields[0], base + d->fields[0].offset); /* a wrapper */
	*handled = 0;
	return NULL;
}

static json_t *message(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	json_t *obj, *wk;
	int handled;

	wk = well_known(m, &handled);
	if (handled)
		return wk;
	obj = json_object();
	for (unsigned i = 0; obj && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char name[256];
		json_t *v;

		json_name(f->name, name, sizeof(name));
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(const char *const *)(base + f->offset);

			if (n == 0)
				continue;
			v = json_array();
			for (size_t k = 0; v && k < n; k++)
				if (json_array_append_new(v, value(f, arr + k * elem_size(f))) !=
				    0) {
					json_decref(v);
					v = NULL;
				}
		} else {
			if (!present(m, f))
				continue;
			v = value(f, base + f->offset);
		}
		if (!v || json_object_set_new(obj, name, v) != 0) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

json_t *pbjson_encode(const ProtobufCMessage *msg)
{
	return msg ? message(msg) : NULL;
}

char *pbjson_dumps(const ProtobufCMessage *msg)
{
	json_t *j = pbjson_encode(msg);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(j);
	return s;
}
