/*
 * validate.c: the request validator of the dispatcher. See validate.h.
 *
 * One pass over the wire bytes, recursive per sub-message, with the field's
 * path kept in a buffer ("billing_info.email", "items[3].label") so every
 * refusal names what it refuses. The per-field rules come from the
 * generated rpc_rules[] (found by descriptor through a sorted index);
 * messages without rules (the well-known types) are checked by hand.
 */
#include "validate.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "xalloc.h"

#define MAX_DEPTH 32
#define MASK_MAX_PATHS 64
#define MASK_MAX_PATH_LEN 256
#define TS_MIN INT64_C(-62135596800)  /* 0001-01-01T00:00:00Z */
#define TS_MAX INT64_C(253402300799)  /* 9999-12-31T23:59:59Z */
#define DUR_MAX INT64_C(315576000000) /* 10,000 years */

/* ------------------------------------------------------------------------ */
/* Rules by descriptor                                                       */

static const rpc_message_rules **by_desc;

static int cmp_desc(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)(*(const rpc_message_rules *const *)a)->desc;
	uintptr_t y = (uintptr_t)(*(const rpc_message_rules *const *)b)->desc;
	return x < y ? -1 : x > y;
}

static void index_rules(void)
{
	by_desc = xcalloc(rpc_rules_count, sizeof(*by_desc));
	for (size_t i = 0; i < rpc_rules_count; i++)
		by_desc[i] = &rpc_rules[i];
	qsort(by_desc, rpc_rules_count, sizeof(*by_desc), cmp_desc);
}

static const rpc_message_rules *rules_of(const ProtobufCMessageDescriptor *d)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	size_t lo = 0, hi = rpc_rules_count;
	pthread_once(&once, index_rules);
	while (by_desc && lo < hi) {
		size_t mid = (lo + hi) / 2;
		uintptr_t k = (uintptr_t)by_desc[mid]->desc;
		if (k == (uintptr_t)d)
			return by_desc[mid];
		if (k < (uintptr_t)d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const rpc_field_rule *rule_of(const rpc_message_rules *r, int number)
{
	for (size_t i = 0; r && i < r->n_fields; i++)
		if (r->fields[i].number == number)
			return &r->fields[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Wire format                                                               */

static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

static int rd_len(const uint8_t **p, const uint8_t *end, const uint8_t **data, size_t *n)
{
	uint64_t len;
	if (rd_varint(p, end, &len) != 0 || len > (uint64_t)(end - *p))
		return -1;
	*data = *p;
	*n = (size_t)len;
	*p += len;
	return 0;
}

static int skip(const uint8_t **p, const uint8_t *end, int wt)
{
	uint64_t v;
	const uint8_t *d;
	size_t n;
	switch (wt) {
	case 0: return rd_varint(p, end, &v);
	case 1:
		if (end - *p < 8)
			return -1;
		*p += 8;
		return 0;
	case 2: return rd_len(p, end, &d, &n);
	case 5:
		if (end - *p < 4)
			return -1;
		*p += 4;
		return 0;
	default: return -1;
	}
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                  */

typedef struct vctx {
	char path[512];
	size_t plen;
	int failed;
	grpc_status_code code;
	char *msg;
	size_t cap;
	char charge[800]; /* first charge-lowering field set, or "" */
	int update;       /* the request has an update_mask: the mask decides */
	const uint8_t *mask[MASK_MAX_PATHS];
	size_t mask_len[MASK_MAX_PATHS], n_mask;
	uint8_t **owned; /* joined sub-messages, freed at the end (mask points in) */
	size_t n_owned;
} vctx;

static void fail(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(vctx *c, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	if (c->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	c->failed = 1;
	c->code = GRPC_STATUS_INVALID_ARGUMENT;
	snprintf(c->msg, c->cap, "%s: %s", c->plen ? c->path : "request", text);
}

/* Appends ".name" (or "name") and "[index]" when index >= 0; returns the
 * length to pop back to. */
static size_t push(vctx *c, const char *name, long index)
{
	size_t old = c->plen;
	int n;
	if (index >= 0)
		n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s[%ld]",
			     c->plen ? "." : "", name, index);
	else
		n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s",
			     c->plen ? "." : "", name);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
								: sizeof(c->path) - 1;
	return old;
}

static void pop(vctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = 0;
}

/* NULL when s[0..n) is UTF-8 without NUL, else what is wrong. */
static const char *utf8_problem(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = s[i];
		size_t len, k;
		uint32_t cp, min;
		if (b == 0)
			return "holds a NUL byte";
		if (b < 0x80) {
			i++;
			continue;
		}
		if ((b & 0xE0) == 0xC0) {
			len = 2, cp = b & 0x1F, min = 0x80;
		} else if ((b & 0xF0) == 0xE0) {
			len = 3, cp = b & 0x0F, min = 0x800;
		} else if ((b & 0xF8) == 0xF0) {
			len = 4, cp = b & 0x07, min = 0x10000;
		} else {
			return "is not valid UTF-8";
		}
		if (n - i < len)
			return "is not valid UTF-8";
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return "is not valid UTF-8";
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return "is not valid UTF-8";
		i += len;
	}
	return NULL;
}

static void check_string(vctx *c, const rpc_field_rule *r, const uint8_t *s, size_t n)
{
	const char *why = utf8_problem(s, n);
	if (r && r->max_len && n > r->max_len)
		fail(c, "longer than %u bytes", r->max_len);
	else if (why)
		fail(c, "%s", why);
}

/* seconds (field 1) and nanos (field 2) of a Timestamp or Duration. */
static int seconds_nanos(const uint8_t *p, size_t n, int64_t *sec, int64_t *nanos)
{
	const uint8_t *end = p + n;
	*sec = *nanos = 0;
	while (p < end) {
		uint64_t tag, v;
		if (rd_varint(&p, end, &tag) != 0)
			return -1;
		if ((tag >> 3) == 1 && (tag & 7) == 0) {
			if (rd_varint(&p, end, &v) != 0)
				return -1;
			*sec = (int64_t)v;
		} else if ((tag >> 3) == 2 && (tag & 7) == 0) {
			if (rd_varint(&p, end, &v) != 0)
				return -1;
			*nanos = (int64_t)v;
		} else if (skip(&p, end, (int)(tag & 7)) != 0) {
			return -1;
		}
	}
	return 0;
}

static void check_timestamp(vctx *c, const uint8_t *p, size_t n)
{
	int64_t s, ns;
	if (seconds_nanos(p, n, &s, &ns) != 0 || s < TS_MIN || s > TS_MAX || ns < 0 ||
	    ns > 999999999)
		fail(c, "not a valid time (0001-01-01..9999-12-31 UTC, nanos 0..999999999)");
}

static void check_duration(vctx *c, const uint8_t *p, size_t n)
{
	int64_t s, ns;
	if (seconds_nanos(p, n, &s, &ns) != 0 || s < -DUR_MAX || s > DUR_MAX || ns < -999999999 ||
	    ns > 999999999 || (s > 0 && ns < 0) || (s < 0 && ns > 0))
		fail(c, "not a valid duration (|seconds| <= 315576000000, |nanos| < 1 s, both of "
			"one sign)");
}

/* google.protobuf.FieldMask: paths, remembered for the charge rule. */
static void check_mask(vctx *c, const uint8_t *p, size_t n, int top)
{
	const uint8_t *end = p + n;
	size_t count = 0;
	while (p < end && !c->failed) {
		uint64_t tag;
		const uint8_t *s;
		size_t len, old;
		if (rd_varint(&p, end, &tag) != 0) {
			fail(c, "malformed");
			return;
		}
		if ((tag >> 3) != 1 || (tag & 7) != 2) {
			if (skip(&p, end, (int)(tag & 7)) != 0) {
				fail(c, "malformed");
				return;
			}
			continue;
		}
		if (rd_len(&p, end, &s, &len) != 0) {
			fail(c, "malformed");
			return;
		}
		old = push(c, "paths", (long)count);
		if (len > MASK_MAX_PATH_LEN)
			fail(c, "longer than %d bytes", MASK_MAX_PATH_LEN);
		else if (utf8_problem(s, len))
			fail(c, "%s", utf8_problem(s, len));
		for (size_t i = 0; i < c->n_mask && top && !c->failed; i++)
			if (c->mask_len[i] == len && memcmp(c->mask[i], s, len) == 0)
				fail(c, "the same path as paths[%zu]", i);
		if (top && c->n_mask < MASK_MAX_PATHS) {
			c->mask[c->n_mask] = s;
			c->mask_len[c->n_mask++] = len;
		}
		pop(c, old);
		if (++count > MASK_MAX_PATHS) {
			fail(c, "more than %d paths", MASK_MAX_PATHS);
			return;
		}
	}
}

/* Values seen in one repeated field of one message, for duplicates. */
typedef struct seen {
	size_t count;
	size_t cap;
	const uint8_t **s; /* strings */
	size_t *n;
	int64_t *e; /* enums */
} seen;

static void remember(seen *v, const uint8_t *s, size_t n, int64_t e)
{
	if (v->count == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 8;
		v->s = xrealloc(v->s, v->cap * sizeof(*v->s));
		v->n = xrealloc(v->n, v->cap * sizeof(*v->n));
		v->e = xrealloc(v->e, v->cap * sizeof(*v->e));
	}
	v->s[v->count] = s;
	v->n[v->count] = n;
	v->e[v->count] = e;
	v->count++;
}

static void walk(vctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		 int masked, int depth);

static void enum_value(vctx *c, const ProtobufCFieldDescriptor *f, const rpc_field_rule *r,
		       uint64_t raw, size_t index, seen *sv, int masked)
{
	int64_t v = (int64_t)raw;
	int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
	size_t old = push(c, f->name, repeated ? (long)index : -1);
	if (v != (int32_t)v ||
	    !protobuf_c_enum_descriptor_get_value(f->descriptor, (int)(int32_t)v))
		fail(c, "%" PRId64 " is not a value of %s", v,
		     ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name);
	if (repeated)
		remember(sv, NULL, 0, v);
	if (r && r->charge_lowering && v && !masked && !c->charge[0])
		snprintf(c->charge, sizeof(c->charge), "%s", c->path);
	pop(c, old);
}

/* One sub-message value of field f (its path pushed): the well-known
 * types by hand, ours by walking it. */
static void message_value(vctx *c, const ProtobufCFieldDescriptor *f, const rpc_field_rule *r,
			  const uint8_t *data, size_t n, int masked, int depth)
{
	const ProtobufCMessageDescriptor *sd = f->descriptor;
	int is_mask = sd == &google__protobuf__field_mask__descriptor;
	if (sd == &google__protobuf__timestamp__descriptor)
		check_timestamp(c, data, n);
	else if (sd == &google__protobuf__duration__descriptor)
		check_duration(c, data, n);
	else if (is_mask)
		check_mask(c, data, n, depth == 0 && c->update);
	else
		walk(c, sd, data, n, masked || (depth == 0 && c->update), depth + 1);
	if (r && r->charge_lowering && !masked && !(depth == 0 && c->update) && !c->charge[0])
		snprintf(c->charge, sizeof(c->charge), "%s", c->path);
}

/*
 * A singular sub-message given more than once is one value to the decoder,
 * the occurrences merged (protobuf-c concatenates their repeated fields,
 * the last scalar wins), so it is checked as one: the concatenation of its
 * occurrences, which parses as exactly that merge. Checked one by one, a
 * repeated field split across two copies of its message would escape the
 * count and duplicate rules.
 */
static void singular_message(vctx *c, const ProtobufCFieldDescriptor *f, const rpc_field_rule *r,
			     const seen *sv, int masked, int depth)
{
	size_t old, total = 0;
	uint8_t *joined;
	if (sv->count == 0 || c->failed)
		return;
	old = push(c, f->name, -1);
	if (sv->count == 1) {
		message_value(c, f, r, sv->s[0], sv->n[0], masked, depth);
		pop(c, old);
		return;
	}
	for (size_t i = 0; i < sv->count; i++)
		total += sv->n[i];
	joined = xmalloc(total ? total : 1);
	total = 0;
	for (size_t i = 0; i < sv->count; i++) {
		memcpy(joined + total, sv->s[i], sv->n[i]);
		total += sv->n[i];
	}
	c->owned = xrealloc(c->owned, (c->n_owned + 1) * sizeof(*c->owned));
	c->owned[c->n_owned++] = joined;
	message_value(c, f, r, joined, total, masked, depth);
	pop(c, old);
}

static void walk_field(vctx *c, const ProtobufCMessageDescriptor *d,
		       const ProtobufCFieldDescriptor *f, const rpc_field_rule *r, int wt,
		       const uint8_t **pp, const uint8_t *end, seen *sv, int masked, int depth)
{
	int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
	const uint8_t *data;
	size_t n, old;
	uint64_t v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (wt != 2 || rd_len(pp, end, &data, &n) != 0) {
			fail(c, "malformed");
			return;
		}
		old = push(c, f->name, repeated ? (long)sv->count : -1);
		check_string(c, r, data, n);
		if (repeated)
			remember(sv, data, n, 0);
		if (r && r->charge_lowering && n && !masked && !c->charge[0])
			snprintf(c->charge, sizeof(c->charge), "%s", c->path);
		pop(c, old);
		return;
	case PROTOBUF_C_TYPE_ENUM:
		if (wt == 0) {
			if (rd_varint(pp, end, &v) != 0) {
				fail(c, "malformed");
				return;
			}
			enum_value(c, f, r, v, sv->count, sv, masked);
			return;
		}
		if (wt != 2 || rd_len(pp, end, &data, &n) != 0) {
			fail(c, "malformed");
			return;
		}
		for (const uint8_t *q = data; q < data + n && !c->failed;) {
			if (rd_varint(&q, data + n, &v) != 0) {
				fail(c, "malformed");
				return;
			}
			enum_value(c, f, r, v, sv->count, sv, masked);
		}
		return;
	case PROTOBUF_C_TYPE_MESSAGE:
		if (wt != 2 || rd_len(pp, end, &data, &n) != 0) {
			fail(c, "malformed");
			return;
		}
		if (!repeated) { /* checked once, joined, after the message (walk) */
			remember(sv, data, n, 0);
			return;
		}
		old = push(c, f->name, (long)sv->count);
		remember(sv, NULL, 0, 0); /* counted only */
		message_value(c, f, r, data, n, masked, depth);
		pop(c, old);
		return;
	default:
		if (wt == 0) {
			if (rd_varint(pp, end, &v) != 0) {
				fail(c, "malformed");
				return;
			}
			if (repeated)
				remember(sv, NULL, 0, 0);
			if (r && r->charge_lowering && v && !masked && !c->charge[0]) {
				old = push(c, f->name, -1);
				snprintf(c->charge, sizeof(c->charge), "%s", c->path);
				pop(c, old);
			}
			return;
		}
		if (skip(pp, end, wt) != 0) {
			fail(c, "malformed");
			return;
		}
		if (repeated && wt != 2)
			remember(sv, NULL, 0, 0);
		(void)d;
		return;
	}
}

/* After a message: counts and duplicates of its repeated fields. */
static void check_repeated(vctx *c, const ProtobufCFieldDescriptor *f, const rpc_field_rule *r,
			   const seen *sv)
{
	size_t old;
	if (f->label != PROTOBUF_C_LABEL_REPEATED || !sv->count || c->failed)
		return;
	if (r && r->max_items && sv->count > r->max_items) {
		old = push(c, f->name, -1);
		fail(c, "more than %u elements", r->max_items);
		pop(c, old);
		return;
	}
	if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_ENUM)
		return;
	for (size_t j = 1; j < sv->count; j++)
		for (size_t i = 0; i < j; i++) {
			int same = f->type == PROTOBUF_C_TYPE_ENUM
					   ? sv->e[i] == sv->e[j]
					   : sv->n[i] == sv->n[j] &&
						     memcmp(sv->s[i], sv->s[j], sv->n[i]) == 0;
			if (same) {
				old = push(c, f->name, (long)j);
				fail(c, "the same value as %s[%zu]; name each one once", f->name,
				     i);
				pop(c, old);
				return;
			}
		}
}

static void walk(vctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		 int masked, int depth)
{
	const rpc_message_rules *rules = rules_of(d);
	const uint8_t *end = p + len;
	seen *sv;

	if (depth > MAX_DEPTH) {
		fail(c, "nested too deeply");
		return;
	}
	sv = xcalloc(d->n_fields ? d->n_fields : 1, sizeof(*sv));
	while (p < end && !c->failed) {
		uint64_t tag;
		const ProtobufCFieldDescriptor *f;
		if (rd_varint(&p, end, &tag) != 0) {
			fail(c, "malformed");
			break;
		}
		f = tag >> 3 <= INT32_MAX
			    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
			    : NULL;
		if (!f) {
			if (skip(&p, end, (int)(tag & 7)) != 0)
				fail(c, "malformed");
			continue;
		}
		walk_field(c, d, f, rule_of(rules, (int)f->id), (int)(tag & 7), &p, end,
			   &sv[f - d->fields], masked, depth);
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED)
			singular_message(c, f, rule_of(rules, (int)f->id), &sv[i], masked, depth);
		else
			check_repeated(c, f, rule_of(rules, (int)f->id), &sv[i]);
		free(sv[i].s);
		free(sv[i].n);
		free(sv[i].e);
	}
	free(sv);
}

/* In an update request, the mask names what is set: a charge-lowering
 * field of the resource named by a path counts as set. */
static void masked_charge(vctx *c, const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < d->n_fields && !c->charge[0]; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const rpc_message_rules *rr;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
		    f->descriptor == &google__protobuf__field_mask__descriptor)
			continue;
		rr = rules_of(f->descriptor);
		for (size_t k = 0; k < c->n_mask && !c->charge[0]; k++) {
			char name[MASK_MAX_PATH_LEN + 1];
			const ProtobufCFieldDescriptor *rf;
			const rpc_field_rule *r;
			size_t n = c->mask_len[k];
			const uint8_t *dot = memchr(c->mask[k], '.', n);
			if (dot)
				n = (size_t)(dot - c->mask[k]);
			memcpy(name, c->mask[k], n);
			name[n] = 0;
			rf = protobuf_c_message_descriptor_get_field_by_name(f->descriptor, name);
			r = rf ? rule_of(rr, (int)rf->id) : NULL;
			if (r && r->charge_lowering)
				snprintf(c->charge, sizeof(c->charge), "%s.%s", f->name, name);
		}
	}
}

grpc_status_code rpc_validate_request(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
				      size_t len, int may_lower_charges, char *msg, size_t cap)
{
	vctx *c = xcalloc(1, sizeof(*c));
	const ProtobufCFieldDescriptor *mask = protobuf_c_message_descriptor_get_field_by_name(
		d, "update_mask");
	grpc_status_code st = GRPC_STATUS_OK;

	c->msg = msg;
	c->cap = cap;
	c->update = mask && mask->type == PROTOBUF_C_TYPE_MESSAGE &&
		    mask->descriptor == &google__protobuf__field_mask__descriptor;
	walk(c, d, buf, len, 0, 0);
	if (!c->failed && c->update)
		masked_charge(c, d);
	if (c->failed) {
		st = c->code;
	} else if (c->charge[0] && !may_lower_charges) {
		st = GRPC_STATUS_PERMISSION_DENIED;
		snprintf(msg, cap,
			 "%s: only the vendor or a SERVICE key may set it (it lowers what is "
			 "charged)",
			 c->charge);
	}
	for (size_t i = 0; i < c->n_owned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Secrets out of stored answers                                             */

/* Whether a (rules).secret string is reachable from d: a search over the
 * message types, each visited once (types, *n of cap; more types than cap:
 * assume one is). */
static int reach_secret(const ProtobufCMessageDescriptor *d,
			const ProtobufCMessageDescriptor **types, size_t *n, size_t cap)
{
	const rpc_message_rules *rules = rules_of(d);
	for (size_t i = 0; i < *n; i++)
		if (types[i] == d)
			return 0;
	if (*n == cap)
		return 1;
	types[(*n)++] = d;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const rpc_field_rule *r = rule_of(rules, (int)f->id);
		if (f->type == PROTOBUF_C_TYPE_STRING && r && r->secret)
			return 1;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    reach_secret(f->descriptor, types, n, cap))
			return 1;
	}
	return 0;
}

/* 1 when answers of type d can hold a secret (from the descriptors alone,
 * remembered per type: most answers are never unpacked). */
static int may_hold_secret(const ProtobufCMessageDescriptor *d)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct {
		const ProtobufCMessageDescriptor *d;
		int v;
	} memo[128];
	static size_t n_memo;
	const ProtobufCMessageDescriptor *types[256];
	size_t n_types = 0;
	int v = -1;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_memo && v < 0; i++)
		if (memo[i].d == d)
			v = memo[i].v;
	if (v < 0) {
		v = reach_secret(d, types, &n_types, sizeof(types) / sizeof(types[0]));
		if (n_memo < sizeof(memo) / sizeof(memo[0])) {
			memo[n_memo].d = d;
			memo[n_memo++].v = v;
		}
	}
	pthread_mutex_unlock(&lock);
	return v;
}

/* Empties the secret strings of m and below; 1 if it met any. A member of
 * a oneof is read only when it is the one set (the members share their
 * storage: another one's bytes are not a pointer). */
static int strip(ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int depth)
{
	const rpc_message_rules *rules = rules_of(d);
	int any = 0;
	if (depth > MAX_DEPTH)
		return 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const rpc_field_rule *r = rule_of(rules, (int)f->id);
		int rep = f->label == PROTOBUF_C_LABEL_REPEATED;
		size_t n = rep ? *(size_t *)((char *)m + f->quantifier_offset) : 1;
		void *member = (char *)m + f->offset;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
			continue;
		if (f->type == PROTOBUF_C_TYPE_STRING && r && r->secret) {
			char **s = rep ? *(char ***)member : (char **)member;
			any = 1;
			for (size_t k = 0; s && k < n; k++) {
				free(s[k]); /* protobuf-c unpacked it with malloc */
				s[k] = xmemdup("", 1);
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			ProtobufCMessage **sub = rep ? *(ProtobufCMessage ***)member
						     : (ProtobufCMessage **)member;
			for (size_t k = 0; sub && k < n; k++)
				if (sub[k])
					any |= strip(sub[k], f->descriptor, depth + 1);
		}
	}
	return any;
}

int rpc_strip_secrets(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		      uint8_t **out, size_t *out_len)
{
	ProtobufCMessage *m;
	int any;
	if (!may_hold_secret(d))
		return 0;
	m = protobuf_c_message_unpack(d, NULL, len, buf);
	if (!m)
		return -1;
	any = strip(m, d, 0);
	if (any) {
		*out_len = protobuf_c_message_get_packed_size(m);
		*out = xmalloc(*out_len ? *out_len : 1);
		protobuf_c_message_pack(m, *out);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return any;
}
