/*
 * pbmsg.c: reading, printing and setting protobuf-c message fields through
 * their descriptors (see pbmsg.h).
 */
#include "pbmsg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "spbilling.h"

/* ------------------------------------------------------------------------ */
/* Arena                                                                     */

struct pbm_arena {
	void **blocks;
	size_t n, cap;
};

pbm_arena *pbm_arena_new(void)
{
	pbm_arena *a = calloc(1, sizeof(*a));
	if (!a) {
		fprintf(stderr, "billingctl: out of memory\n");
		exit(70);
	}
	return a;
}

void *pbm_alloc(pbm_arena *a, size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p || (a->n == a->cap && !(a->blocks = realloc(a->blocks, (a->cap = a->cap * 2 + 16) *
									      sizeof(void *))))) {
		fprintf(stderr, "billingctl: out of memory\n");
		exit(70);
	}
	a->blocks[a->n++] = p;
	return p;
}

char *pbm_strdup(pbm_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(pbm_alloc(a, n), s, n);
}

void pbm_arena_free(pbm_arena *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->blocks[i]);
	free(a->blocks);
	free(a);
}

ProtobufCMessage *pbm_new(pbm_arena *a, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = pbm_alloc(a, d->sizeof_message);
	protobuf_c_message_init(d, m);
	return m;
}

/* ------------------------------------------------------------------------ */
/* Field access                                                              */

#define AT(m, off) ((char *)(m) + (off))

int pbm_is_money(const ProtobufCFieldDescriptor *f)
{
	static const char *const names[] = {"monthly_amount", "unit_amount", "amount", "amount_off",
					    "subtotal",       "discount",    "total"};
	if (f->type != PROTOBUF_C_TYPE_INT64)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(f->name, names[i]) == 0)
			return 1;
	return 0;
}

const ProtobufCFieldDescriptor *pbm_field(const ProtobufCMessageDescriptor *d, const char *name)
{
	return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM: return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return 8;
	case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* 1 when a singular value differs from its type's zero. */
static int nonzero(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: return *(char *const *)p && **(char *const *)p;
	case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)p != NULL;
	case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len > 0;
	case PROTOBUF_C_TYPE_FLOAT: return *(const float *)p != 0;
	case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)p != 0;
	default: {
		static const char zero[8];
		return memcmp(p, zero, value_size(f)) != 0;
	}
	}
}

size_t pbm_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *p = AT(m, f->offset);
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)AT(m, f->quantifier_offset);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)AT(m, f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		return *(const protobuf_c_boolean *)AT(m, f->quantifier_offset) != 0;
	return nonzero(f, p);
}

const void *pbm_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(char *const *)AT(m, f->offset) + i * value_size(f);
	return AT(m, f->offset);
}

const char *pbm_string(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = pbm_field(m->descriptor, name);
	const char *s;
	if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return "";
	s = *(char *const *)AT(m, f->offset);
	return s ? s : "";
}

const char *pbm_enum_short(const ProtobufCEnumDescriptor *e, int value, char *buf, size_t cap)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(e, value);
	const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(e, 0);
	size_t prefix = 0;
	if (!v) {
		snprintf(buf, cap, "%d", value);
		return buf;
	}
	/* FOO_BAR_UNSPECIFIED -> "FOO_BAR_" */
	if (zero && strlen(zero->name) > 11 &&
	    strcmp(zero->name + strlen(zero->name) - 11, "UNSPECIFIED") == 0)
		prefix = strlen(zero->name) - 11;
	if (prefix && strncmp(v->name, zero->name, prefix) == 0 && v->name[prefix])
		return v->name + prefix;
	return v->name;
}

/* ------------------------------------------------------------------------ */
/* Well-known types                                                          */

static int is_type(const ProtobufCFieldDescriptor *f, const char *full_name)
{
	return f->type == PROTOBUF_C_TYPE_MESSAGE &&
	       strcmp(((const ProtobufCMessageDescriptor *)f->descriptor)->name, full_name) == 0;
}

static int64_t get_i64(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = pbm_field(m->descriptor, name);
	return f ? *(const int64_t *)AT(m, f->offset) : 0;
}

static int32_t get_i32(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = pbm_field(m->descriptor, name);
	return f ? *(const int32_t *)AT(m, f->offset) : 0;
}

/* Nanoseconds as the canonical JSON fraction: "", ".123", ".123456" or
 * ".123456789". */
static void fraction(int32_t nanos, char *buf, size_t cap)
{
	if (nanos <= 0)
		buf[0] = 0;
	else if (nanos % 1000000 == 0)
		snprintf(buf, cap, ".%03d", nanos / 1000000);
	else if (nanos % 1000 == 0)
		snprintf(buf, cap, ".%06d", nanos / 1000);
	else
		snprintf(buf, cap, ".%09d", nanos);
}

static void format_timestamp(const ProtobufCMessage *ts, char *buf, size_t cap)
{
	time_t t = (time_t)get_i64(ts, "seconds");
	struct tm tm;
	char frac[16], date[32];
	fraction(get_i32(ts, "nanos"), frac, sizeof(frac));
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s%sZ", date, frac);
}

static void format_duration(const ProtobufCMessage *d, char *buf, size_t cap)
{
	int64_t s = get_i64(d, "seconds");
	int32_t n = get_i32(d, "nanos");
	char frac[16];
	fraction(n < 0 ? -n : n, frac, sizeof(frac));
	snprintf(buf, cap, "%s%" PRId64 "%ss", (s < 0 || n < 0) && s == 0 ? "-" : "", s, frac);
}

/* ------------------------------------------------------------------------ */
/* Text                                                                      */

void pbm_format(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i,
		const char *currency, char *buf, size_t cap)
{
	const void *p = pbm_value(m, f, i);
	char tmp[32];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: snprintf(buf, cap, "%" PRId32, *(const int32_t *)p); break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: snprintf(buf, cap, "%" PRIu32, *(const uint32_t *)p); break;
	case PROTOBUF_C_TYPE_INT64:
		if (pbm_is_money(f) && currency && *currency)
			spb_money_format(*(const int64_t *)p, currency, buf, cap);
		else
			snprintf(buf, cap, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: snprintf(buf, cap, "%" PRId64, *(const int64_t *)p); break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: snprintf(buf, cap, "%" PRIu64, *(const uint64_t *)p); break;
	case PROTOBUF_C_TYPE_FLOAT: snprintf(buf, cap, "%g", (double)*(const float *)p); break;
	case PROTOBUF_C_TYPE_DOUBLE: snprintf(buf, cap, "%g", *(const double *)p); break;
	case PROTOBUF_C_TYPE_BOOL:
		snprintf(buf, cap, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM:
		snprintf(buf, cap, "%s",
			 pbm_enum_short(f->descriptor, *(const int32_t *)p, tmp, sizeof(tmp)));
		break;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		snprintf(buf, cap, "%s", s ? s : "");
		break;
	}
	case PROTOBUF_C_TYPE_BYTES:
		snprintf(buf, cap, "(%zu bytes)", ((const ProtobufCBinaryData *)p)->len);
		break;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		if (!sub)
			snprintf(buf, cap, "-");
		else if (is_type(f, "google.protobuf.Timestamp"))
			format_timestamp(sub, buf, cap);
		else if (is_type(f, "google.protobuf.Duration"))
			format_duration(sub, buf, cap);
		else
			snprintf(buf, cap, "{...}");
		break;
	}
	}
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */

void pbm_json_name(const char *name, char *buf, size_t cap)
{
	size_t n = 0;
	int up = 0;
	for (; *name && n + 1 < cap; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		buf[n++] = up ? (char)toupper((unsigned char)*name) : *name;
		up = 0;
	}
	buf[n] = 0;
}

static json_t *value_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t i)
{
	const void *p = pbm_value(m, f, i);
	char buf[64];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)p);
		return json_string(buf);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)p);
		return json_string(buf);
	case PROTOBUF_C_TYPE_FLOAT: return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE: return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			f->descriptor, *(const int32_t *)p);
		return v ? json_string(v->name) : json_integer(*(const int32_t *)p);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return json_string(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		char *enc = malloc(4 * ((b->len + 2) / 3) + 1);
		json_t *j;
		if (!enc)
			return json_null();
		EVP_EncodeBlock((unsigned char *)enc, b->data, (int)b->len);
		j = json_string(enc);
		free(enc);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		char text[64];
		if (!sub)
			return json_null();
		if (is_type(f, "google.protobuf.Timestamp") ||
		    is_type(f, "google.protobuf.Duration")) {
			pbm_format(m, f, i, NULL, text, sizeof(text));
			return json_string(text);
		}
		if (is_type(f, "google.protobuf.FieldMask")) {
			const ProtobufCFieldDescriptor *pf = pbm_field(sub->descriptor, "paths");
			char joined[1024] = "", camel[256];
			size_t len = 0;
			for (size_t k = 0; pf && k < pbm_count(sub, pf) && len < sizeof(joined);
			     k++) {
				pbm_json_name(*(char *const *)pbm_value(sub, pf, k), camel,
					      sizeof(camel));
				len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%s",
							k ? "," : "", camel);
			}
			return json_string(joined);
		}
		return pbm_to_json(sub);
	}
	}
	return json_null();
}

json_t *pbm_to_json(const ProtobufCMessage *m)
{
	json_t *o = json_object();
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t n = pbm_count(m, f);
		char name[128];
		if (n == 0)
			continue;
		pbm_json_name(f->name, name, sizeof(name));
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			json_t *a = json_array();
			for (size_t k = 0; k < n; k++)
				json_array_append_new(a, value_json(m, f, k));
			json_object_set_new(o, name, a);
		} else {
			json_object_set_new(o, name, value_json(m, f, 0));
		}
	}
	return o;
}

/* ------------------------------------------------------------------------ */
/* Setting from text                                                         */

static int err_set(char *err, size_t cap, const char *what, const char *text)
{
	snprintf(err, cap, "'%s': %s", text, what);
	return -1;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_enum(const ProtobufCEnumDescriptor *e, const char *s, int32_t *out)
{
	char buf[32];
	for (unsigned i = 0; i < e->n_values; i++) {
		const ProtobufCEnumValue *v = &e->values[i];
		if (v->value == 0)
			continue; /* *_UNSPECIFIED is never a choice */
		if (strcasecmp(s, v->name) == 0 ||
		    strcasecmp(s, pbm_enum_short(e, v->value, buf, sizeof(buf))) == 0) {
			*out = v->value;
			return 0;
		}
	}
	return -1;
}

static void enum_choices(const ProtobufCEnumDescriptor *e, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "one of");
	char tmp[32];
	for (unsigned i = 0; i < e->n_values && n < cap; i++)
		if (e->values[i].value != 0)
			n += (size_t)snprintf(
				buf + n, cap - n, " %s",
				pbm_enum_short(e, e->values[i].value, tmp, sizeof(tmp)));
}

static int parse_time(const char *s, int64_t *secs)
{
	struct tm tm;
	const char *end;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || (*end && strcmp(end, "Z") != 0))
		return -1;
	*secs = (int64_t)timegm(&tm);
	return 0;
}

static int parse_duration(const char *s, int64_t *secs)
{
	char *end;
	long long v;
	int64_t unit = 1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end == 'd')
		unit = 86400;
	else if (*end && *end != 's')
		return -1;
	if (*end && end[1])
		return -1;
	if (__builtin_mul_overflow((int64_t)v, unit, secs))
		return -1;
	return 0;
}

ProtobufCMessage *pbm_submessage(pbm_arena *a, ProtobufCMessage *m,
				 const ProtobufCFieldDescriptor *f)
{
	ProtobufCMessage **slot = (ProtobufCMessage **)AT(m, f->offset);
	if (!*slot)
		*slot = pbm_new(a, f->descriptor);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)AT(m, f->quantifier_offset) = f->id;
	return *slot;
}

/* Parses one value of f into the storage at p (value_size(f) bytes). */
static int set_one(pbm_arena *a, const ProtobufCFieldDescriptor *f, void *p, const char *s,
		   const char *currency, char *err, size_t cap)
{
	int64_t v;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (parse_i64(s, INT32_MIN, INT32_MAX, &v))
			return err_set(err, cap, "not a 32-bit integer", s);
		*(int32_t *)p = (int32_t)v;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (parse_i64(s, 0, UINT32_MAX, &v))
			return err_set(err, cap, "not an unsigned 32-bit integer", s);
		*(uint32_t *)p = (uint32_t)v;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
		if (pbm_is_money(f)) {
			if (!currency || !*currency)
				return err_set(err, cap, "an amount needs --currency", s);
			if (spb_money_parse(s, currency, &v) != 0) {
				snprintf(err, cap, "'%s': not an amount of %s (%d decimals)", s,
					 currency, spb_currency_exponent(currency));
				return -1;
			}
			*(int64_t *)p = v;
			return 0;
		}
		/* fall through */
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (parse_i64(s, INT64_MIN, INT64_MAX, &v))
			return err_set(err, cap, "not an integer", s);
		*(int64_t *)p = v;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (parse_i64(s, 0, INT64_MAX, &v))
			return err_set(err, cap, "not an unsigned integer", s);
		*(uint64_t *)p = (uint64_t)v;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		char *end;
		double d = strtod(s, &end);
		if (!*s || *end)
			return err_set(err, cap, "not a number", s);
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)p = (float)d;
		else
			*(double *)p = d;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"))
			*(protobuf_c_boolean *)p = 1;
		else if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no"))
			*(protobuf_c_boolean *)p = 0;
		else
			return err_set(err, cap, "not true or false", s);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (parse_enum(f->descriptor, s, (int32_t *)p) != 0) {
			char choices[512];
			enum_choices(f->descriptor, choices, sizeof(choices));
			return err_set(err, cap, choices, s);
		}
		return 0;
	case PROTOBUF_C_TYPE_STRING: *(char **)p = pbm_strdup(a, s); return 0;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		b->len = strlen(s);
		b->data = (uint8_t *)pbm_strdup(a, s);
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sub;
		int is_ts = is_type(f, "google.protobuf.Timestamp");
		if (!is_ts && !is_type(f, "google.protobuf.Duration"))
			return err_set(err, cap, "a message cannot be given as text", s);
		if (is_ts ? parse_time(s, &v) : parse_duration(s, &v))
			return err_set(err, cap,
				       is_ts ? "not a time (YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD)"
					     : "not a duration (e.g. 90s, 15m, 2h, 30d)",
				       s);
		sub = pbm_new(a, f->descriptor);
		*(int64_t *)AT(sub, pbm_field(sub->descriptor, "seconds")->offset) = v;
		*(ProtobufCMessage **)p = sub;
		return 0;
	}
	}
	return err_set(err, cap, "unsupported field type", s);
}

int pbm_set(pbm_arena *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *text,
	    const char *currency, char *err, size_t cap)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		char *copy = pbm_strdup(a, text), *item = copy, *next;
		size_t *n = (size_t *)AT(m, f->quantifier_offset), size = value_size(f);
		char **arr = (char **)AT(m, f->offset);
		do {
			char *grown;
			next = strchr(item, ',');
			if (next)
				*next++ = 0;
			grown = pbm_alloc(a, (*n + 1) * size);
			if (*n)
				memcpy(grown, *arr, *n * size);
			if (set_one(a, f, grown + *n * size, item, currency, err, cap) != 0)
				return -1;
			*arr = grown;
			(*n)++;
			item = next;
		} while (item);
		return 0;
	}
	if (set_one(a, f, AT(m, f->offset), text, currency, err, cap) != 0)
		return -1;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)AT(m, f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		 f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)AT(m, f->quantifier_offset) = 1;
	return 0;
}
