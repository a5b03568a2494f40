/* Server reflection (grpc.reflection.v1 / v1alpha) over an embedded
 * serialized FileDescriptorSet. See reflection.h.
 *
 * The index keeps a private copy of the set and serves every file's
 * FileDescriptorProto as the exact byte slice it occupies in the set (found
 * by walking the set's field-1 length-delimited entries). Each file is also
 * decoded once, at build time, to collect its name, its imports and the
 * fully-qualified names of everything it defines; files and symbols are then
 * sorted so that each request is answered with binary searches. */
#include "reflection.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "xalloc.h"

enum { GRPC_INVALID_ARGUMENT = 3, GRPC_NOT_FOUND = 5 };

enum sym_kind {
	SYM_MESSAGE,
	SYM_ENUM,
	SYM_ENUM_VALUE,
	SYM_FIELD,
	SYM_ONEOF,
	SYM_EXTENSION,
	SYM_SERVICE,
	SYM_METHOD,
};

typedef struct {
	char *name;      /* e.g. "smartplus/billing/v1/types.proto" */
	size_t off, len; /* the FileDescriptorProto's bytes in idx->set */
	size_t *deps;    /* indices of the files it imports */
	size_t ndeps;
} refl_file;

typedef struct {
	char *name;  /* fully qualified, no leading dot */
	size_t file; /* defining file's index */
	size_t seq;  /* insertion order: the first definition wins on clashes */
	unsigned char kind;
	unsigned char alias; /* secondary spelling (pkg.Enum.VALUE) */
} refl_symbol;

struct reflection_index {
	unsigned char *set;
	size_t set_len;
	refl_file *files;
	size_t nfiles;
	size_t *by_name;   /* file indices sorted by file name */
	refl_symbol *syms; /* sorted by name, unique */
	size_t nsyms, syms_cap;
	char **services; /* fully-qualified, in set order */
	size_t nservices, services_cap;
};

/* ---------------------------------------------------------------- wire --- */

/* Reads a varint at *p (< end); 0 on success. */
static int read_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		unsigned char b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* Calls fn for every field-1 (length-delimited) entry of a message; other
 * fields are skipped. 0 on success, -1 on malformed input or if fn fails. */
static int walk_set(const unsigned char *buf, size_t len,
		    int (*fn)(void *ctx, size_t off, size_t n), void *ctx)
{
	const unsigned char *p = buf, *end = buf + len;
	while (p < end) {
		uint64_t tag, n;
		if (read_varint(&p, end, &tag) != 0)
			return -1;
		if ((tag >> 3) == 0)
			return -1;
		switch (tag & 7) {
		case 0:
			if (read_varint(&p, end, &n) != 0)
				return -1;
			break;
		case 1:
			if ((size_t)(end - p) < 8)
				return -1;
			p += 8;
			break;
		case 2:
			if (read_varint(&p, end, &n) != 0)
				return -1;
			if (n > (uint64_t)(end - p))
				return -1;
			if ((tag >> 3) == 1 && fn(ctx, (size_t)(p - buf), (size_t)n) != 0)
				return -1;
			p += n;
			break;
		case 5:
			if ((size_t)(end - p) < 4)
				return -1;
			p += 4;
			break;
		default: /* groups (3/4) do not occur in a FileDescriptorSet */ return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- building --- */

static char *join(const char *scope, const char *name)
{
	size_t a = scope ? strlen(scope) : 0, b = strlen(name);
	char *s = xmalloc(a + b + 2);
	if (a) {
		memcpy(s, scope, a);
		s[a++] = '.';
	}
	memcpy(s + a, name, b + 1);
	return s;
}

/* Records scope.name; returns the stored full name (stable). */
static const char *add_sym(reflection_index *idx, const char *scope, const char *name,
			   enum sym_kind kind, int alias, size_t file)
{
	if (idx->nsyms == idx->syms_cap) {
		size_t cap = idx->syms_cap ? idx->syms_cap * 2 : 256;
		idx->syms = xrealloc(idx->syms, cap * sizeof *idx->syms);
		idx->syms_cap = cap;
	}
	char *full = join(scope, name);
	refl_symbol *s = &idx->syms[idx->nsyms];
	s->name = full;
	s->file = file;
	s->seq = idx->nsyms;
	s->kind = (unsigned char)kind;
	s->alias = (unsigned char)(alias != 0);
	idx->nsyms++;
	return full;
}

static int add_enum(reflection_index *idx, const char *scope,
		    const Google__Protobuf__EnumDescriptorProto *e, size_t file)
{
	const char *full;
	if (!e->name)
		return 0;
	full = add_sym(idx, scope, e->name, SYM_ENUM, 0, file);
	for (size_t i = 0; i < e->n_value; i++) {
		const char *v = e->value[i]->name;
		if (!v)
			continue;
		/* protobuf scopes enum values like C++: siblings of their enum
     * (pkg.Msg.VALUE); also accept the spelling pkg.Msg.Enum.VALUE. */
		add_sym(idx, scope, v, SYM_ENUM_VALUE, 0, file);
		add_sym(idx, full, v, SYM_ENUM_VALUE, 1, file);
	}
	return 0;
}

static int add_message(reflection_index *idx, const char *scope,
		       const Google__Protobuf__DescriptorProto *m, size_t file, unsigned depth)
{
	const char *full;
	if (!m->name)
		return 0;
	if (depth > 100)
		return -1; /* nonsense nesting */
	full = add_sym(idx, scope, m->name, SYM_MESSAGE, 0, file);
	for (size_t i = 0; i < m->n_field; i++)
		if (m->field[i]->name)
			add_sym(idx, full, m->field[i]->name, SYM_FIELD, 0, file);
	for (size_t i = 0; i < m->n_oneof_decl; i++)
		if (m->oneof_decl[i]->name)
			add_sym(idx, full, m->oneof_decl[i]->name, SYM_ONEOF, 0, file);
	for (size_t i = 0; i < m->n_extension; i++)
		if (m->extension[i]->name)
			add_sym(idx, full, m->extension[i]->name, SYM_EXTENSION, 0, file);
	for (size_t i = 0; i < m->n_enum_type; i++)
		if (add_enum(idx, full, m->enum_type[i], file) != 0)
			return -1;
	for (size_t i = 0; i < m->n_nested_type; i++)
		if (add_message(idx, full, m->nested_type[i], file, depth + 1) != 0)
			return -1;
	return 0;
}

static void add_service_name(reflection_index *idx, const char *full)
{
	if (idx->nservices == idx->services_cap) {
		size_t cap = idx->services_cap ? idx->services_cap * 2 : 8;
		idx->services = xrealloc(idx->services, cap * sizeof *idx->services);
		idx->services_cap = cap;
	}
	idx->services[idx->nservices++] = xstrdup(full);
}

static int add_file_symbols(reflection_index *idx, const Google__Protobuf__FileDescriptorProto *f,
			    size_t file)
{
	const char *pkg = f->package && *f->package ? f->package : NULL;
	for (size_t i = 0; i < f->n_message_type; i++)
		if (add_message(idx, pkg, f->message_type[i], file, 0) != 0)
			return -1;
	for (size_t i = 0; i < f->n_enum_type; i++)
		if (add_enum(idx, pkg, f->enum_type[i], file) != 0)
			return -1;
	for (size_t i = 0; i < f->n_extension; i++)
		if (f->extension[i]->name)
			add_sym(idx, pkg, f->extension[i]->name, SYM_EXTENSION, 0, file);
	for (size_t i = 0; i < f->n_service; i++) {
		const Google__Protobuf__ServiceDescriptorProto *s = f->service[i];
		const char *full;
		if (!s->name)
			continue;
		full = add_sym(idx, pkg, s->name, SYM_SERVICE, 0, file);
		add_service_name(idx, full);
		for (size_t j = 0; j < s->n_method; j++)
			if (s->method[j]->name)
				add_sym(idx, full, s->method[j]->name, SYM_METHOD, 0, file);
	}
	return 0;
}

typedef struct {
	reflection_index *idx;
	size_t cap;
} collect_ctx;

static int collect_file(void *vctx, size_t off, size_t n)
{
	collect_ctx *c = vctx;
	reflection_index *idx = c->idx;
	if (idx->nfiles == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		idx->files = xrealloc(idx->files, cap * sizeof *idx->files);
		c->cap = cap;
	}
	refl_file *f = &idx->files[idx->nfiles];
	memset(f, 0, sizeof *f);
	f->off = off;
	f->len = n;
	idx->nfiles++;
	return 0;
}

static int cmp_sym(const void *a, const void *b)
{
	const refl_symbol *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	if (x->alias != y->alias)
		return x->alias < y->alias ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* File-name sort: qsort has no context argument, so sort (name, index)
 * pairs rather than bare indices. */
typedef struct {
	const char *name;
	size_t i;
} name_ref;

static int cmp_name_ref(const void *a, const void *b)
{
	return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static long find_file(const reflection_index *idx, const char *name)
{
	size_t lo = 0, hi = idx->nfiles;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, idx->files[idx->by_name[mid]].name);
		if (c == 0)
			return (long)idx->by_name[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static const refl_symbol *find_sym(const reflection_index *idx, const char *name)
{
	if (name && *name == '.')
		name++; /* tolerate ".pkg.Msg" */
	if (!name || !*name)
		return NULL;
	size_t lo = 0, hi = idx->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, idx->syms[mid].name);
		if (c == 0)
			return &idx->syms[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

reflection_index *reflection_index_new(const unsigned char *set, size_t len)
{
	if (!set && len)
		return NULL;
	reflection_index *idx = xcalloc(1, sizeof *idx);
	Google__Protobuf__FileDescriptorProto **fdp = NULL;
	name_ref *refs = NULL;

	idx->set = xmalloc(len);
	if (len)
		memcpy(idx->set, set, len);
	idx->set_len = len;

	collect_ctx cc = {idx, 0};
	if (walk_set(idx->set, len, collect_file, &cc) != 0)
		goto fail;

	/* Decode every file once: names, imports, symbols. */
	fdp = xcalloc(idx->nfiles, sizeof *fdp);
	for (size_t i = 0; i < idx->nfiles; i++) {
		refl_file *f = &idx->files[i];
		fdp[i] = google__protobuf__file_descriptor_proto__unpack(NULL, f->len,
									 idx->set + f->off);
		if (!fdp[i] || !fdp[i]->name || !*fdp[i]->name)
			goto fail;
		f->name = xstrdup(fdp[i]->name);
		if (add_file_symbols(idx, fdp[i], i) != 0)
			goto fail;
	}

	/* Files by name; a name may appear only once. */
	idx->by_name = xcalloc(idx->nfiles, sizeof *idx->by_name);
	refs = xcalloc(idx->nfiles, sizeof *refs);
	for (size_t i = 0; i < idx->nfiles; i++) {
		refs[i].name = idx->files[i].name;
		refs[i].i = i;
	}
	if (idx->nfiles > 1)
		qsort(refs, idx->nfiles, sizeof *refs, cmp_name_ref);
	for (size_t i = 0; i < idx->nfiles; i++) {
		if (i && strcmp(refs[i - 1].name, refs[i].name) == 0)
			goto fail;
		idx->by_name[i] = refs[i].i;
	}

	/* Resolve imports to indices; every import must be in the set. */
	for (size_t i = 0; i < idx->nfiles; i++) {
		refl_file *f = &idx->files[i];
		size_t n = fdp[i]->n_dependency;
		if (!n)
			continue;
		f->deps = xcalloc(n, sizeof *f->deps);
		for (size_t j = 0; j < n; j++) {
			long d = fdp[i]->dependency[j] ? find_file(idx, fdp[i]->dependency[j]) : -1;
			if (d < 0)
				goto fail;
			f->deps[f->ndeps++] = (size_t)d;
		}
	}

	/* Symbols: sort, then drop repeats (keeping the primary, first spelling). */
	if (idx->nsyms > 1)
		qsort(idx->syms, idx->nsyms, sizeof *idx->syms, cmp_sym);
	size_t w = 0;
	for (size_t r = 0; r < idx->nsyms; r++) {
		if (w && strcmp(idx->syms[w - 1].name, idx->syms[r].name) == 0) {
			free(idx->syms[r].name);
			continue;
		}
		idx->syms[w++] = idx->syms[r];
	}
	idx->nsyms = w;

	for (size_t i = 0; i < idx->nfiles; i++)
		google__protobuf__file_descriptor_proto__free_unpacked(fdp[i], NULL);
	free(fdp);
	free(refs);
	return idx;

fail:
	if (fdp) {
		for (size_t i = 0; i < idx->nfiles; i++)
			if (fdp[i])
				google__protobuf__file_descriptor_proto__free_unpacked(fdp[i],
										       NULL);
		free(fdp);
	}
	free(refs);
	reflection_index_free(idx);
	return NULL;
}

void reflection_index_free(reflection_index *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->nfiles; i++) {
		free(idx->files[i].name);
		free(idx->files[i].deps);
	}
	free(idx->files);
	free(idx->by_name);
	for (size_t i = 0; i < idx->nsyms; i++)
		free(idx->syms[i].name);
	free(idx->syms);
	for (size_t i = 0; i < idx->nservices; i++)
		free(idx->services[i]);
	free(idx->services);
	free(idx->set);
	free(idx);
}

size_t reflection_service_count(const reflection_index *idx)
{
	return idx ? idx->nservices : 0;
}

const char *reflection_service_name(const reflection_index *idx, size_t i)
{
	return idx && i < idx->nservices ? idx->services[i] : NULL;
}

/* ------------------------------------------------------------ answering --- */

/* Fills fdr with file `root` followed by its transitive imports, each once
 * (breadth first). `slots` must hold idx->nfiles entries. */
static void fill_files(const reflection_index *idx, size_t root, ProtobufCBinaryData *slots,
		       Grpc__Reflection__V1__FileDescriptorResponse *fdr)
{
	size_t n = idx->nfiles;
	unsigned char *seen = xcalloc(n, 1);
	size_t *queue = xcalloc(n, sizeof *queue);
	size_t head = 0, tail = 0;
	queue[tail++] = root;
	seen[root] = 1;
	while (head < tail) {
		const refl_file *f = &idx->files[queue[head++]];
		for (size_t j = 0; j < f->ndeps; j++)
			if (!seen[f->deps[j]]) {
				seen[f->deps[j]] = 1;
				queue[tail++] = f->deps[j];
			}
	}
	for (size_t i = 0; i < tail; i++) {
		const refl_file *f = &idx->files[queue[i]];
		slots[i].data = idx->set + f->off;
		slots[i].len = f->len;
	}
	fdr->n_file_descriptor_proto = tail;
	fdr->file_descriptor_proto = slots;
	free(seen);
	free(queue);
}

static char *fmt2(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = xmalloc(la + lb + 1);
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

int reflection_answer(const reflection_index *idx, const unsigned char *req, size_t len,
		      unsigned char **out, size_t *out_len)
{
	if (!idx || !out || !out_len || (!req && len))
		return -1;
	static const unsigned char empty[1];
	Grpc__Reflection__V1__ServerReflectionRequest *rq =
		grpc__reflection__v1__server_reflection_request__unpack(NULL, len,
									req ? req : empty);
	if (!rq)
		return -1;

	Grpc__Reflection__V1__ServerReflectionResponse rs =
		GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
	Grpc__Reflection__V1__FileDescriptorResponse fdr =
		GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
	Grpc__Reflection__V1__ExtensionNumberResponse enr =
		GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
	Grpc__Reflection__V1__ListServiceResponse lsr =
		GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
	Grpc__Reflection__V1__ErrorResponse err = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
	ProtobufCBinaryData *slots = NULL;
	Grpc__Reflection__V1__ServiceResponse *svc = NULL;
	Grpc__Reflection__V1__ServiceResponse **svcp = NULL;
	char *msg = NULL;
	unsigned char *buf = NULL;
	int rc = -1;

	rs.valid_host = rq->host;
	rs.original_request = rq;

	long file = -1;
	const char *missing = NULL;
	switch (rq->message_request_case) {
	case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
		file = rq->file_by_filename ? find_file(idx, rq->file_by_filename) : -1;
		if (file < 0)
			missing = "file not found: ";
		break;
	case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL: {
		const refl_symbol *s = find_sym(idx, rq->file_containing_symbol);
		if (s)
			file = (long)s->file;
		else
			missing = "symbol not found: ";
		break;
	}
	case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION: {
		/* The served set declares no extensions. */
		const Grpc__Reflection__V1__ExtensionRequest *e = rq->file_containing_extension;
		char num[32];
		snprintf(num, sizeof num, "(%d)", e ? (int)e->extension_number : 0);
		char *t = fmt2("extension not found: ",
			       e && e->containing_type ? e->containing_type : "");
		msg = fmt2(t, num);
		free(t);
		break;
	}
	case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE: {
		const refl_symbol *s = find_sym(idx, rq->all_extension_numbers_of_type);
		if (s && s->kind == SYM_MESSAGE) {
			enr.base_type_name = s->name;
			rs.message_response_case =
				GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
			rs.all_extension_numbers_response = &enr;
		} else {
			missing = "type not found: ";
		}
		break;
	}
	case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES: {
		size_t n = idx->nservices;
		svc = xcalloc(n, sizeof *svc);
		svcp = xcalloc(n, sizeof *svcp);
		for (size_t i = 0; i < n; i++) {
			Grpc__Reflection__V1__ServiceResponse init =
				GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
			svc[i] = init;
			svc[i].name = idx->services[i];
			svcp[i] = &svc[i];
		}
		lsr.n_service = n;
		lsr.service = svcp;
		rs.message_response_case =
			GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
		rs.list_services_response = &lsr;
		break;
	}
	default:
		err.error_code = GRPC_INVALID_ARGUMENT;
		err.error_message = "no message_request set (or an unknown one)";
		break;
	}

	if (file >= 0) {
		slots = xcalloc(idx->nfiles, sizeof *slots);
		fill_files(idx, (size_t)file, slots, &fdr);
		rs.message_response_case =
			GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
		rs.file_descriptor_response = &fdr;
	} else if (missing) {
		/* The oneof's string member is what was looked up. */
		const char *what = rq->file_by_filename ? rq->file_by_filename : "";
		msg = fmt2(missing, what);
	}
	if (msg) {
		err.error_code = GRPC_NOT_FOUND;
		err.error_message = msg;
	}
	if (err.error_code) {
		rs.message_response_case =
			GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
		rs.error_response = &err;
	}

	size_t n = grpc__reflection__v1__server_reflection_response__get_packed_size(&rs);
	buf = xmalloc(n);
	if (grpc__reflection__v1__server_reflection_response__pack(&rs, buf) != n) {
		free(buf);
		goto done;
	}
	*out = buf;
	*out_len = n;
	rc = 0;

done:
	free(msg);
	free(slots);
	free(svc);
	free(svcp);
	grpc__reflection__v1__server_reflection_request__free_unpacked(rq, NULL);
	return rc;
}
