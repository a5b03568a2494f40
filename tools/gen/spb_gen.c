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
 *                                 page_token field: a List RPC);
 *   rpc_reasons.h                 the ErrorInfo reasons of the ErrorReason
 *                                 enum, as REASON_<NAME> string constants, so
 *                                 no reason is typed by hand;
 *   spb_rpc.h / spb_rpc.c         the SDK: one typed synchronous function per
 *                                 RPC, documented with the proto's comment.
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

#define API_PACKAGE "smartplus.billing.v1"

typedef Google__Protobuf__FileDescriptorProto file_t;
typedef Google__Protobuf__ServiceDescriptorProto service_t;
typedef Google__Protobuf__MethodDescriptorProto method_t;

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
					if (m->client_streaming || m->server_streaming)
						die("%s/%s: streaming RPCs are not supported", full,
						    m->name);
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
							".handler = thunk_%s_%s },\n",
							full, m->name, s->name, m->name, svc_lower,
							mi, mutates(m), paged(set, m), s->name,
							m->name);
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
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	free(buf);
	return 0;
}
