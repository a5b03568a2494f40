/*
 * spb_gen: generates, from a FileDescriptorSet of the API protos,
 *   rpc_handlers.h / rpc_table.c  the server's dispatch table: one row per RPC
 *                                 with its path, its protoc-c service descriptor
 *                                 and method index, whether it mutates (every
 *                                 RPC not marked idempotency_level =
 *                                 NO_SIDE_EFFECTS) and a thunk to its handler,
 *                                 declared strong: an RPC without a handler
 *                                 is a link error;
 *                                 and whether it is paged (its request has a
 *                                 page_token field: a List RPC); server-
 *                                 streaming RPCs are rows too
 *                                 (.server_streaming);
 *   rpc_reasons.h                 the ErrorInfo reasons of the ErrorReason
 *                                 enum, as REASON_<NAME> string constants, so
 *                                 no reason is typed by hand;
 *   spb_rpc.h / spb_rpc.c         the SDK: one typed synchronous function per
 *                                 unary RPC, documented with the proto's
 *                                 comment (streaming calls are written by
 *                                 hand in sdk/src/);
 *   rpc_rules.c                   the request validator's tables
 *                                 (server/validate.h): per API message, the
 *                                 (rules) options of its fields
 *                                 (field_rules.proto). The build fails when a
 *                                 string field has no max_len or a repeated
 *                                 field of a request no max_items, so no new
 *                                 field goes unchecked.
 *
 * Usage: spb_gen <descriptor-set-with-source-info> <output-dir>
 * Only services of package smartplus.billing.v1 are generated.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "smartplus/billing/v1/field_rules.pb-c.h"

#define API_PACKAGE "smartplus.billing.v1"

typedef Google__Protobuf__FileDescriptorProto file_t;
typedef Google__Protobuf__ServiceDescriptorProto service_t;
typedef Google__Protobuf__MethodDescriptorProto method_t;
typedef Google__Protobuf__DescriptorProto message_t;
typedef Google__Protobuf__FieldDescriptorProto field_t;

/* The number of the (rules) extension of google.protobuf.FieldOptions. */
#define RULES_EXTENSION 51200

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("spb_gen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, r;
	if (!f)
		die("%s: %s", path, strerror(errno));
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return buf;
}

/* protoc-c's C type name: ".a.b.FooBar" -> "A__B__FooBar". */
static void c_type_name(const char *full, char *out, size_t cap)
{
	size_t o = 0;
	int start = 1;
	if (*full == '.')
		full++;
	for (; *full && o + 3 < cap; full++) {
		if (*full == '.') {
			out[o++] = '_';
			out[o++] = '_';
			start = 1;
			continue;
		}
		out[o++] = start ? (char)toupper((unsigned char)*full) : *full;
		start = 0;
	}
	out[o] = 0;
}

/* protoc-c's lower-case name: ".a.b.FooBar" -> "a__b__foo_bar". */
static void c_lower_name(const char *full, char *out, size_t cap)
{
	size_t o = 0;
	int start = 1;
	if (*full == '.')
		full++;
	for (; *full && o + 3 < cap; full++) {
		if (*full == '.') {
			out[o++] = '_';
			out[o++] = '_';
			start = 1;
			continue;
		}
		if (isupper((unsigned char)*full)) {
			if (!start)
				out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)*full);
		} else {
			out[o++] = *full;
		}
		start = 0;
	}
	out[o] = 0;
}

/* "GetCatalog" -> "get_catalog". */
static void snake(const char *camel, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; camel[i] && o + 2 < cap; i++) {
		if (isupper((unsigned char)camel[i])) {
			if (i)
				out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)camel[i]);
		} else {
			out[o++] = camel[i];
		}
	}
	out[o] = 0;
}

/* The leading comment of method `mi` of service `si`, or NULL. */
static const char *method_comment(const file_t *f, size_t si, size_t mi)
{
	if (!f->source_code_info)
		return NULL;
	for (size_t i = 0; i < f->source_code_info->n_location; i++) {
		const Google__Protobuf__SourceCodeInfo__Location *l =
			f->source_code_info->location[i];
		if (l->n_path == 4 && l->path[0] == 6 && l->path[1] == (int)si && l->path[2] == 2 &&
		    l->path[3] == (int)mi)
			return l->leading_comments;
	}
	return NULL;
}

/* The message ".smartplus.billing.v1.Foo" of the set, or NULL. */
static const Google__Protobuf__DescriptorProto *find_message(
	const Google__Protobuf__FileDescriptorSet *set, const char *full)
{
	for (size_t fi = 0; fi < set->n_file; fi++) {
		const file_t *f = set->file[fi];
		size_t pl = f->package ? strlen(f->package) : 0;
		if (!pl || full[0] != '.' || strncmp(full + 1, f->package, pl) != 0 ||
		    full[pl + 1] != '.')
			continue;
		for (size_t i = 0; i < f->n_message_type; i++)
			if (strcmp(f->message_type[i]->name, full + pl + 2) == 0)
				return f->message_type[i];
	}
	return NULL;
}

/* A List RPC: its request carries a page_token. */
static int paged(const Google__Protobuf__FileDescriptorSet *set, const method_t *m)
{
	const Google__Protobuf__DescriptorProto *d = find_message(set, m->input_type);
	if (!d)
		die("%s: request type not in the descriptor set", m->input_type);
	for (size_t i = 0; i < d->n_field; i++)
		if (strcmp(d->field[i]->name, "page_token") == 0)
			return 1;
	return 0;
}

/* rpc_reasons.h: one REASON_<NAME> per value of the API's ErrorReason enum
 * but UNSPECIFIED, the string being the value's name without its prefix. */
static void emit_reasons(const Google__Protobuf__FileDescriptorSet *set, FILE *o)
{
	static const char prefix[] = "ERROR_REASON_";
	const Google__Protobuf__EnumDescriptorProto *e = NULL;
	size_t n = 0;
	for (size_t fi = 0; fi < set->n_file && !e; fi++) {
		const file_t *f = set->file[fi];
		if (!f->package || strcmp(f->package, API_PACKAGE) != 0)
			continue;
		for (size_t i = 0; i < f->n_enum_type; i++)
			if (strcmp(f->enum_type[i]->name, "ErrorReason") == 0)
				e = f->enum_type[i];
	}
	if (!e)
		die("enum %s.ErrorReason not found", API_PACKAGE);
	fprintf(o,
		"#ifndef SPB_RPC_REASONS_H\n#define SPB_RPC_REASONS_H\n\n"
		"/* The google.rpc.ErrorInfo reasons billingd answers with: the values\n"
		" * of smartplus.billing.v1.ErrorReason (types.proto) without their\n"
		" * \"%s\" prefix. */\n\n",
		prefix);
	for (size_t i = 0; i < e->n_value; i++) {
		const char *name = e->value[i]->name;
		if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
			die("ErrorReason.%s: not prefixed %s", name, prefix);
		name += sizeof(prefix) - 1;
		if (strcmp(name, "UNSPECIFIED") == 0)
			continue;
		fprintf(o, "#define REASON_%s \"%s\"\n", name, name);
		n++;
	}
	fprintf(o, "\n/* How many reasons there are. */\n#define REASON_COUNT %zu\n\n#endif\n", n);
}

static int mutates(const method_t *m)
{
	return !(m->options && m->options->has_idempotency_level &&
		 m->options->idempotency_level ==
			 GOOGLE__PROTOBUF__METHOD_OPTIONS__IDEMPOTENCY_LEVEL__NO_SIDE_EFFECTS);
}

/* Writes `comment` as " * " lines. */
static void emit_comment(FILE *o, const char *comment)
{
	const char *p = comment;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		while (n && p[0] == ' ') {
			p++;
			n--;
		}
		fprintf(o, " *%s%.*s\n", n ? " " : "", (int)n, p);
		p = nl ? nl + 1 : NULL;
	}
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "/* Generated by tools/gen/spb_gen.c from proto/; do not edit. */\n");
	return f;
}

/* ------------------------------------------------------------------------ */
/* Validation rules                                                          */

typedef struct msg_entry {
	char full[512]; /* ".smartplus.billing.v1.Foo" */
	const message_t *m;
	int reachable; /* from a request type */
} msg_entry;

static msg_entry *msgs;
static size_t n_msgs, cap_msgs;

static void add_messages(const char *prefix, const message_t *const *ms, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		msg_entry *e;
		if (n_msgs == cap_msgs) {
			cap_msgs = cap_msgs ? 2 * cap_msgs : 64;
			msgs = realloc(msgs, cap_msgs * sizeof(*msgs));
			if (!msgs)
				die("out of memory");
		}
		e = &msgs[n_msgs++];
		snprintf(e->full, sizeof(e->full), "%s.%s", prefix, ms[i]->name);
		e->m = ms[i];
		e->reachable = 0;
		add_messages(e->full, (const message_t *const *)ms[i]->nested_type,
			     ms[i]->n_nested_type);
	}
}

static msg_entry *find_msg(const char *full)
{
	for (size_t i = 0; i < n_msgs; i++)
		if (strcmp(msgs[i].full, full) == 0)
			return &msgs[i];
	return NULL;
}

/* The (rules) option of f, or NULL; the caller frees it. */
static Smartplus__Billing__V1__FieldRules *field_rules(const field_t *f)
{
	const ProtobufCMessage *o = f->options ? &f->options->base : NULL;
	for (unsigned i = 0; o && i < o->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &o->unknown_fields[i];
		size_t skip = 0;
		if (u->tag != RULES_EXTENSION ||
		    u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			continue;
		/* protobuf-c keeps an unknown field's bytes with their length
		 * prefix: skip the varint. */
		while (skip < u->len && (u->data[skip] & 0x80))
			skip++;
		if (++skip > u->len)
			die("%s: malformed (rules) option", f->name);
		return smartplus__billing__v1__field_rules__unpack(NULL, u->len - skip,
								   u->data + skip);
	}
	return NULL;
}

static void mark_reachable(msg_entry *e)
{
	if (!e || e->reachable)
		return;
	e->reachable = 1;
	for (size_t i = 0; i < e->m->n_field; i++) {
		const field_t *f = e->m->field[i];
		if (f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE)
			mark_reachable(find_msg(f->type_name));
	}
}

/* Well-known types a request may carry, checked by the validator itself. */
static unsigned wkt_fields(const char *full)
{
	if (strcmp(full, ".google.protobuf.Timestamp") == 0 ||
	    strcmp(full, ".google.protobuf.Duration") == 0)
		return 2;
	if (strcmp(full, ".google.protobuf.FieldMask") == 0)
		return 1;
	return 0;
}

static void emit_rules(const Google__Protobuf__FileDescriptorSet *set, const char *dir)
{
	FILE *o = open_out(dir, "rpc_rules.c");
	unsigned cov_msgs = 0, cov_fields = 0, cov_strings = 0, cov_repeated = 0, cov_charge = 0;
	unsigned all_strings = 0;
	unsigned wkt_seen[3] = {0, 0, 0};
	static const char *wkt[3] = {".google.protobuf.Timestamp", ".google.protobuf.Duration",
				     ".google.protobuf.FieldMask"};
	int bad = 0;

	for (size_t fi = 0; fi < set->n_file; fi++) {
		const file_t *f = set->file[fi];
		char prefix[512];
		if (!f->package || strcmp(f->package, API_PACKAGE) != 0)
			continue;
		snprintf(prefix, sizeof(prefix), ".%s", f->package);
		add_messages(prefix, (const message_t *const *)f->message_type, f->n_message_type);
	}
	for (size_t fi = 0; fi < set->n_file; fi++) {
		const file_t *f = set->file[fi];
		if (!f->package || strcmp(f->package, API_PACKAGE) != 0)
			continue;
		for (size_t si = 0; si < f->n_service; si++)
			for (size_t mi = 0; mi < f->service[si]->n_method; mi++)
				mark_reachable(find_msg(f->service[si]->method[mi]->input_type));
	}

	fprintf(o, "#include <stddef.h>\n\n#include \"validate.h\"\n");
	for (size_t fi = 0; fi < set->n_file; fi++) {
		const file_t *f = set->file[fi];
		char inc[512], *dot;
		if (!f->package || strcmp(f->package, API_PACKAGE) != 0)
			continue;
		snprintf(inc, sizeof(inc), "%s", f->name);
		dot = strrchr(inc, '.');
		if (dot)
			*dot = 0;
		fprintf(o, "#include \"%s.pb-c.h\"\n", inc);
	}
	fprintf(o, "\n");
	for (size_t i = 0; i < n_msgs; i++) {
		const msg_entry *e = &msgs[i];
		char lower[512];
		c_lower_name(e->full, lower, sizeof(lower));
		if (e->reachable)
			cov_msgs++;
		fprintf(o, "static const rpc_field_rule rules_%s[] = {\n", lower);
		for (size_t k = 0; k < e->m->n_field; k++) {
			const field_t *f = e->m->field[k];
			Smartplus__Billing__V1__FieldRules *r = field_rules(f);
			int is_string = f->type ==
					GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING;
			int repeated =
				f->label ==
				GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
			unsigned max_len = r ? r->max_len : 0, max_items = r ? r->max_items : 0;
			int charge = r ? r->charge_lowering : 0;
			all_strings += is_string && max_len;
			if (is_string && !max_len) {
				fprintf(stderr,
					"spb_gen: %s.%s: a string field needs [(rules).max_len = "
					"N]\n",
					e->full + 1, f->name);
				bad = 1;
			}
			if (repeated && e->reachable && !max_items) {
				fprintf(stderr,
					"spb_gen: %s.%s: a repeated field of a request needs "
					"[(rules).max_items = N]\n",
					e->full + 1, f->name);
				bad = 1;
			}
			if (e->reachable) {
				cov_fields++;
				cov_strings += is_string && max_len;
				cov_repeated += repeated && max_items;
				cov_charge += charge != 0;
				if (f->type_name)
					for (int w = 0; w < 3; w++)
						wkt_seen[w] |= strcmp(f->type_name, wkt[w]) == 0;
			}
			fprintf(o, "\t{%d, %u, %u, %d}, /* %s */\n", f->number, max_len, max_items,
				charge, f->name);
			if (r)
				smartplus__billing__v1__field_rules__free_unpacked(r, NULL);
		}
		fprintf(o, "\t{0, 0, 0, 0}\n};\n");
	}
	if (bad)
		die("fields without rules (see field_rules.proto)");
	for (int w = 0; w < 3; w++)
		if (wkt_seen[w]) {
			cov_msgs++;
			cov_fields += wkt_fields(wkt[w]);
		}
	fprintf(o, "\nconst rpc_message_rules rpc_rules[] = {\n");
	for (size_t i = 0; i < n_msgs; i++) {
		char lower[512];
		c_lower_name(msgs[i].full, lower, sizeof(lower));
		fprintf(o, "\t{&%s__descriptor, rules_%s, %zu, %d},\n", lower, lower,
			msgs[i].m->n_field, msgs[i].reachable);
	}
	fprintf(o,
		"};\n\nconst size_t rpc_rules_count = sizeof(rpc_rules) / sizeof(rpc_rules[0]);\n");
	fprintf(o,
		"\n/* Requests and everything they carry: %u messages (well-known types "
		"included), %u fields;\n * %u string fields with a maximum length, %u repeated "
		"fields with a maximum count,\n * %u charge-lowering fields. */\n"
		"const rpc_rules_coverage rpc_rules_covered = {%u, %u, %u, %u, %u};\n",
		cov_msgs, cov_fields, cov_strings, cov_repeated, cov_charge, cov_msgs, cov_fields,
		cov_strings, cov_repeated, cov_charge);
	fclose(o);
	printf("spb_gen: the request validator covers %u fields of %u messages (%u strings with "
	       "a maximum length, %u repeated fields with a maximum count, %u charge-lowering); "
	       "%u string fields of the API carry a maximum length\n",
	       cov_fields, cov_msgs, cov_strings, cov_repeated, cov_charge, all_strings);
	free(msgs);
}

int main(int argc, char **argv)
{
	size_t len;
	unsigned char *buf;
	Google__Protobuf__FileDescriptorSet *set;
	FILE *hh, *tc, *sh, *sc, *rh;

	if (argc != 3)
		die("usage: spb_gen <descriptor-set> <output-dir>");
	buf = read_all(argv[1], &len);
	set = google__protobuf__file_descriptor_set__unpack(NULL, len, buf);
	if (!set)
		die("%s: not a FileDescriptorSet", argv[1]);

	hh = open_out(argv[2], "rpc_handlers.h");
	tc = open_out(argv[2], "rpc_table.c");
	sh = open_out(argv[2], "spb_rpc.h");
	sc = open_out(argv[2], "spb_rpc.c");
	rh = open_out(argv[2], "rpc_reasons.h");
	emit_reasons(set, rh);
	fclose(rh);

	fprintf(hh, "#ifndef SPB_RPC_HANDLERS_H\n#define SPB_RPC_HANDLERS_H\n\n"
		    "/* One handler per RPC, named rpc_<Service>_<Method>; the dispatch\n"
		    " * table refers to every one, so a missing handler is a link\n"
		    " * error. */\n\nstruct rpc_call;\n\n");
	fprintf(tc, "#include <stddef.h>\n#include \"rpc.h\"\n#include \"rpc_handlers.h\"\n\n");
	fprintf(sh, "#ifndef SPB_RPC_H\n#define SPB_RPC_H\n\n#include \"spbilling.h\"\n");
	fprintf(sc, "#include \"spb_internal.h\"\n#include \"spb_rpc.h\"\n\n");

	for (size_t fi = 0; fi < set->n_file; fi++) {
		const file_t *f = set->file[fi];
		if (!f->package || strcmp(f->package, API_PACKAGE) != 0)
			continue;
		{
			char inc[512];
			snprintf(inc, sizeof(inc), "%s", f->name);
			char *dot = strrchr(inc, '.');
			if (dot)
				*dot = 0;
			fprintf(hh, "#include \"%s.pb-c.h\"\n", inc);
			fprintf(sh, "#include \"%s.pb-c.h\"\n", inc);
		}
	}
	fprintf(hh, "\n");
	fprintf(sh, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");

	/* Thunks first, then the table. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			fprintf(tc, "\nrpc_method rpc_methods[] = {\n");
		for (size_t fi = 0; fi < set->n_file; fi++) {
			const file_t *f = set->file[fi];
			if (!f->package || strcmp(f->package, API_PACKAGE) != 0)
				continue;
			for (size_t si = 0; si < f->n_service; si++) {
				const service_t *s = f->service[si];
				char full[512], svc_lower[512], short_lower[256];
				snprintf(full, sizeof(full), "%s.%s", f->package, s->name);
				c_lower_name(full, svc_lower, sizeof(svc_lower));
				snprintf(short_lower, sizeof(short_lower), "%s", s->name);
				char *suffix = strstr(short_lower, "Service");
				if (suffix && suffix[7] == 0)
					*suffix = 0;
				{
					char tmp[256];
					snake(short_lower, tmp, sizeof(tmp));
					snprintf(short_lower, sizeof(short_lower), "%s", tmp);
				}
				for (size_t mi = 0; mi < s->n_method; mi++) {
					const method_t *m = s->method[mi];
					char in[512], out[512], msnake[256];
					int streaming = m->has_server_streaming &&
							m->server_streaming;
					if (m->client_streaming)
						die("%s/%s: client-streaming RPCs are not "
						    "supported",
						    full, m->name);
					c_type_name(m->input_type, in, sizeof(in));
					c_type_name(m->output_type, out, sizeof(out));
					snake(m->name, msnake, sizeof(msnake));
					if (pass == 0) {
						fprintf(hh,
							"void rpc_%s_%s(struct rpc_call "
							"*call,\n\tconst %s *req);\n",
							s->name, m->name, in);
						fprintf(tc,
							"static void thunk_%s_%s(struct rpc_call "
							"*call, const ProtobufCMessage *req)\n"
							"{\n\trpc_%s_%s(call, (const %s "
							"*)req);\n}\n",
							s->name, m->name, s->name, m->name, in);
						if (streaming)
							continue; /* SDK: by hand */
						/* SDK */
						fprintf(sh, "/**\n * %s.%s\n *\n", s->name,
							m->name);
						emit_comment(sh, method_comment(f, si, mi));
						fprintf(sh,
							" *\n * On success returns 0 and stores a "
							"response in *out that the caller\n"
							" * frees with spb_message_free(). On "
							"failure returns a negative SPB_E*\n"
							" * code; spb_error_last() tells the gRPC "
							"status, message and reason.%s\n */\n",
							mutates(m) ? "\n * Mutating: an "
								     "idempotency key is generated "
								     "unless opts gives one."
								   : "");
						fprintf(sh,
							"SPB_EXTERN int spb_%s_%s(spb_client "
							"*client,\n\tconst %s *request,\n\t%s "
							"**out,\n\tconst spb_call_options "
							"*opts);\n\n",
							short_lower, msnake, in, out);
						fprintf(sc,
							"int spb_%s_%s(spb_client "
							"*client,\n\tconst %s *request,\n\t%s "
							"**out,\n\tconst spb_call_options "
							"*opts)\n{\n"
							"\treturn spb__unary(client, "
							"&%s__descriptor, %zu, %d,\n\t\t(const "
							"ProtobufCMessage *)request, "
							"(ProtobufCMessage **)out, opts);\n}\n\n",
							short_lower, msnake, in, out, svc_lower, mi,
							mutates(m));
					} else {
						fprintf(tc,
							"\t{ .path = \"/%s/%s\", .name = "
							"\"%s/%s\",\n\t  .service = "
							"&%s__descriptor, .method_index = %zu, "
							".mutates = %d, .paged = %d,\n\t  "
							".server_streaming = %d, .handler = "
							"thunk_%s_%s },\n",
							full, m->name, s->name, m->name, svc_lower,
							mi, mutates(m), paged(set, m), streaming,
							s->name, m->name);
					}
				}
			}
		}
	}
	fprintf(tc, "};\n\nconst size_t rpc_method_count = sizeof(rpc_methods) / "
		    "sizeof(rpc_methods[0]);\n");
	fprintf(hh, "\n#endif\n");
	fprintf(sh, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
	fclose(hh);
	fclose(tc);
	fclose(sh);
	fclose(sc);
	emit_rules(set, argv[2]);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	free(buf);
	return 0;
}
