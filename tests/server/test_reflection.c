/* Unit tests of server/reflection.c: requests are built with the protobuf-c
 * grpc.reflection v1 and v1alpha types, answered against the embedded
 * descriptor set (and a few small hand-made sets), and the answers decoded
 * and checked. Exits non-zero if any assertion failed. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_run.h"

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "reflection.h"

extern const unsigned char spb_descriptor_set[];
extern const size_t spb_descriptor_set_len;

typedef Grpc__Reflection__V1__ServerReflectionRequest Req;
typedef Grpc__Reflection__V1__ServerReflectionResponse Resp;
typedef Grpc__Reflection__V1alpha__ServerReflectionRequest AReq;
typedef Grpc__Reflection__V1alpha__ServerReflectionResponse AResp;

#define RQ(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##x
#define RS(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##x

static reflection_index *g_idx;

static const char *const k_services[] = {
	"smartplus.billing.v1.BillingService",
	"smartplus.billing.v1.DirectoryService",
	"smartplus.billing.v1.AdminService",
	"smartplus.billing.v1.EventService",
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
};
#define N_SERVICES (sizeof k_services / sizeof k_services[0])

#define BILLING "smartplus/billing/v1/billing_service.proto"
#define TYPES "smartplus/billing/v1/types.proto"
#define TIMESTAMP "google/protobuf/timestamp.proto"
#define RULES "smartplus/billing/v1/field_rules.proto"
#define DESCRIPTOR "google/protobuf/descriptor.proto"
#define HEALTH "grpc/health/v1/health.proto"

/* ------------------------------------------------------------- helpers --- */

/* Packs rq, answers it with idx, decodes the v1 answer (NULL on failure). */
static Resp *ask_idx(const reflection_index *idx, const Req *rq)
{
	size_t n = grpc__reflection__v1__server_reflection_request__get_packed_size(rq);
	unsigned char *buf = malloc(n ? n : 1);
	if (!buf)
		return NULL;
	grpc__reflection__v1__server_reflection_request__pack(rq, buf);
	unsigned char *out = NULL;
	size_t out_len = 0;
	int rc = reflection_answer(idx, buf, n, &out, &out_len);
	free(buf);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		return NULL;
	CU_ASSERT_PTR_NOT_NULL(out);
	Resp *rs = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
	free(out);
	CU_ASSERT_PTR_NOT_NULL(rs);
	return rs;
}

static Resp *ask(const Req *rq)
{
	return ask_idx(g_idx, rq);
}

static void resp_free(Resp *rs)
{
	if (rs)
		grpc__reflection__v1__server_reflection_response__free_unpacked(rs, NULL);
}

static Resp *ask_symbol(const char *sym)
{
	Req rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	rq.message_request_case = RQ(FILE_CONTAINING_SYMBOL);
	rq.file_containing_symbol = (char *)sym;
	return ask(&rq);
}

static Resp *ask_file(const reflection_index *idx, const char *file)
{
	Req rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	rq.message_request_case = RQ(FILE_BY_FILENAME);
	rq.file_by_filename = (char *)file;
	return ask_idx(idx, &rq);
}

static int is_error(const Resp *rs, int code)
{
	return rs && rs->message_response_case == RS(ERROR_RESPONSE) && rs->error_response &&
	       rs->error_response->error_code == code && rs->error_response->error_message &&
	       rs->error_response->error_message[0] != '\0';
}

/* Checks that rs is a file_descriptor_response whose first file is
 * `first`, that holds exactly the files in `want` (first included), each
 * once, each a verbatim FileDescriptorProto of `set` when set != NULL. */
static void check_files(const Resp *rs, const char *first, const char *const *want, size_t nwant,
			const unsigned char *set, size_t set_len)
{
	CU_ASSERT_PTR_NOT_NULL(rs);
	if (!rs)
		return;
	CU_ASSERT_EQUAL(rs->message_response_case, RS(FILE_DESCRIPTOR_RESPONSE));
	if (rs->message_response_case != RS(FILE_DESCRIPTOR_RESPONSE)) {
		if (rs->message_response_case == RS(ERROR_RESPONSE))
			fprintf(stderr, "\n  unexpected error: %s\n",
				rs->error_response->error_message);
		return;
	}
	const Grpc__Reflection__V1__FileDescriptorResponse *fdr = rs->file_descriptor_response;
	CU_ASSERT_EQUAL(fdr->n_file_descriptor_proto, nwant);
	int *hits = calloc(nwant ? nwant : 1, sizeof *hits);
	for (size_t i = 0; i < fdr->n_file_descriptor_proto; i++) {
		const ProtobufCBinaryData *b = &fdr->file_descriptor_proto[i];
		Google__Protobuf__FileDescriptorProto *f =
			google__protobuf__file_descriptor_proto__unpack(NULL, b->len, b->data);
		CU_ASSERT_PTR_NOT_NULL(f);
		if (!f)
			continue;
		if (set)
			CU_ASSERT_PTR_NOT_NULL(memmem(set, set_len, b->data, b->len));
		if (i == 0)
			CU_ASSERT_STRING_EQUAL(f->name, first);
		int known = 0;
		for (size_t j = 0; j < nwant; j++)
			if (strcmp(f->name, want[j]) == 0) {
				hits[j]++;
				known = 1;
			}
		SPT_CHECK(known, "unexpected file %s", f->name);
		google__protobuf__file_descriptor_proto__free_unpacked(f, NULL);
	}
	for (size_t j = 0; j < nwant; j++) {
		SPT_CHECK(hits[j] == 1, "%s served %d times", want[j], hits[j]);
	}
	free(hits);
}

/* The name of the first file of a file_descriptor_response, or NULL. */
static char *first_file_name(const Resp *rs)
{
	if (!rs || rs->message_response_case != RS(FILE_DESCRIPTOR_RESPONSE) ||
	    rs->file_descriptor_response->n_file_descriptor_proto == 0)
		return NULL;
	const ProtobufCBinaryData *b = &rs->file_descriptor_response->file_descriptor_proto[0];
	Google__Protobuf__FileDescriptorProto *f = google__protobuf__file_descriptor_proto__unpack(
		NULL, b->len, b->data);
	if (!f)
		return NULL;
	char *name = strdup(f->name);
	google__protobuf__file_descriptor_proto__free_unpacked(f, NULL);
	return name;
}

static void check_services(char **names, size_t n)
{
	CU_ASSERT_EQUAL(n, N_SERVICES);
	for (size_t j = 0; j < N_SERVICES; j++) {
		int hits = 0;
		for (size_t i = 0; i < n; i++)
			if (names[i] && strcmp(names[i], k_services[j]) == 0)
				hits++;
		SPT_CHECK(hits == 1, "service %s listed %d times", k_services[j], hits);
	}
}

/* --------------------------------------------------------------- tests --- */

static void test_list_services_v1(void)
{
	Req rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	rq.host = "billing.example:443";
	rq.message_request_case = RQ(LIST_SERVICES);
	rq.list_services = "*";
	Resp *rs = ask(&rq);
	CU_ASSERT_PTR_NOT_NULL(rs);
	if (!rs)
		return;
	CU_ASSERT_STRING_EQUAL(rs->valid_host, "billing.example:443");
	CU_ASSERT_PTR_NOT_NULL(rs->original_request);
	if (rs->original_request) {
		CU_ASSERT_STRING_EQUAL(rs->original_request->host, "billing.example:443");
		CU_ASSERT_EQUAL(rs->original_request->message_request_case, RQ(LIST_SERVICES));
		if (rs->original_request->message_request_case == RQ(LIST_SERVICES))
			CU_ASSERT_STRING_EQUAL(rs->original_request->list_services, "*");
	}
	CU_ASSERT_EQUAL(rs->message_response_case, RS(LIST_SERVICES_RESPONSE));
	if (rs->message_response_case == RS(LIST_SERVICES_RESPONSE)) {
		const Grpc__Reflection__V1__ListServiceResponse *l = rs->list_services_response;
		char **names = calloc(l->n_service + 1, sizeof *names);
		for (size_t i = 0; i < l->n_service; i++)
			names[i] = l->service[i]->name;
		check_services(names, l->n_service);
		free(names);
	}
	resp_free(rs);
}

/* The same through the v1alpha types: one wire format. */
static void test_list_services_v1alpha(void)
{
	AReq rq = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
	rq.host = "alpha-host";
	rq.message_request_case =
		GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
	rq.list_services = "";
	size_t n = grpc__reflection__v1alpha__server_reflection_request__get_packed_size(&rq);
	unsigned char *buf = malloc(n ? n : 1);
	grpc__reflection__v1alpha__server_reflection_request__pack(&rq, buf);
	unsigned char *out = NULL;
	size_t out_len = 0;
	int rc = reflection_answer(g_idx, buf, n, &out, &out_len);
	free(buf);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		return;
	AResp *rs = grpc__reflection__v1alpha__server_reflection_response__unpack(NULL, out_len,
										  out);
	free(out);
	CU_ASSERT_PTR_NOT_NULL(rs);
	if (!rs)
		return;
	CU_ASSERT_STRING_EQUAL(rs->valid_host, "alpha-host");
	CU_ASSERT_PTR_NOT_NULL(rs->original_request);
	if (rs->original_request)
		CU_ASSERT_EQUAL(
			rs->original_request->message_request_case,
			GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES);
	CU_ASSERT_EQUAL(
		rs->message_response_case,
		GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
	if (rs->message_response_case ==
	    GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE) {
		const Grpc__Reflection__V1alpha__ListServiceResponse *l =
			rs->list_services_response;
		char **names = calloc(l->n_service + 1, sizeof *names);
		for (size_t i = 0; i < l->n_service; i++)
			names[i] = l->service[i]->name;
		check_services(names, l->n_service);
		free(names);
	}
	grpc__reflection__v1alpha__server_reflection_response__free_unpacked(rs, NULL);
}

/* v1alpha file_containing_symbol, decoded with the v1alpha types. */
static void test_symbol_v1alpha(void)
{
	AReq rq = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
	rq.message_request_case =
		GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
	rq.file_containing_symbol = "grpc.health.v1.Health";
	size_t n = grpc__reflection__v1alpha__server_reflection_request__get_packed_size(&rq);
	unsigned char *buf = malloc(n ? n : 1);
	grpc__reflection__v1alpha__server_reflection_request__pack(&rq, buf);
	unsigned char *out = NULL;
	size_t out_len = 0;
	int rc = reflection_answer(g_idx, buf, n, &out, &out_len);
	free(buf);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		return;
	AResp *rs = grpc__reflection__v1alpha__server_reflection_response__unpack(NULL, out_len,
										  out);
	free(out);
	CU_ASSERT_PTR_NOT_NULL(rs);
	if (!rs)
		return;
	CU_ASSERT_EQUAL(
		rs->message_response_case,
		GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
	if (rs->message_response_case ==
	    GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE) {
		const Grpc__Reflection__V1alpha__FileDescriptorResponse *f =
			rs->file_descriptor_response;
		CU_ASSERT_EQUAL(f->n_file_descriptor_proto, 1);
		if (f->n_file_descriptor_proto >= 1) {
			Google__Protobuf__FileDescriptorProto *fd =
				google__protobuf__file_descriptor_proto__unpack(
					NULL, f->file_descriptor_proto[0].len,
					f->file_descriptor_proto[0].data);
			CU_ASSERT_PTR_NOT_NULL(fd);
			if (fd) {
				CU_ASSERT_STRING_EQUAL(fd->name, HEALTH);
				google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
			}
		}
	}
	grpc__reflection__v1alpha__server_reflection_response__free_unpacked(rs, NULL);
}

static void test_file_by_filename(void)
{
	static const char *const want[] = {BILLING, TYPES, TIMESTAMP, RULES, DESCRIPTOR};
	Resp *rs = ask_file(g_idx, BILLING);
	check_files(rs, BILLING, want, 5, spb_descriptor_set, spb_descriptor_set_len);
	CU_ASSERT_PTR_NOT_NULL(rs ? rs->original_request : NULL);
	if (rs && rs->original_request &&
	    rs->original_request->message_request_case == RQ(FILE_BY_FILENAME))
		CU_ASSERT_STRING_EQUAL(rs->original_request->file_by_filename, BILLING);
	CU_ASSERT_STRING_EQUAL(rs ? rs->valid_host : "", ""); /* empty host echoed */
	resp_free(rs);

	/* directory_service imports timestamp directly and through types. */
	static const char *const want2[] = {"smartplus/billing/v1/directory_service.proto",
					    TYPES,
					    TIMESTAMP,
					    "google/protobuf/field_mask.proto",
					    RULES,
					    DESCRIPTOR};
	rs = ask_file(g_idx, want2[0]);
	check_files(rs, want2[0], want2, 6, spb_descriptor_set, spb_descriptor_set_len);
	resp_free(rs);

	/* A file without imports comes alone. */
	static const char *const want3[] = {TIMESTAMP};
	rs = ask_file(g_idx, TIMESTAMP);
	check_files(rs, TIMESTAMP, want3, 1, spb_descriptor_set, spb_descriptor_set_len);
	resp_free(rs);
}

static void test_file_by_filename_unknown(void)
{
	Resp *rs = ask_file(g_idx, "smartplus/billing/v1/nope.proto");
	CU_ASSERT(is_error(rs, 5));
	resp_free(rs);
	rs = ask_file(g_idx, "");
	CU_ASSERT(is_error(rs, 5));
	resp_free(rs);
}

static void test_file_containing_symbol(void)
{
	static const struct {
		const char *sym, *file;
	} cases[] = {
		/* service, method */
		{"smartplus.billing.v1.BillingService", BILLING},
		{"smartplus.billing.v1.BillingService.GetCatalog", BILLING},
		{"smartplus.billing.v1.AdminService", "smartplus/billing/v1/admin_service.proto"},
		{"smartplus.billing.v1.EventService.WatchEvents",
		 "smartplus/billing/v1/event_service.proto"},
		{"grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo",
		 "grpc/reflection/v1alpha/reflection.proto"},
		{"grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto"},
		/* messages */
		{"smartplus.billing.v1.GetCatalogRequest", BILLING},
		{"google.protobuf.Timestamp", TIMESTAMP},
		{"grpc.health.v1.HealthCheckResponse", HEALTH},
		/* a field */
		{"smartplus.billing.v1.ServiceOffering.service_type", BILLING},
		{"google.protobuf.Timestamp.seconds", TIMESTAMP},
		/* a oneof */
		{"grpc.reflection.v1.ServerReflectionRequest.message_request",
		 "grpc/reflection/v1/reflection.proto"},
		/* enums, nested enum, enum values (protobuf scoping and enum-qualified) */
		{"smartplus.billing.v1.ServiceType", TYPES},
		{"smartplus.billing.v1.SERVICE_TYPE_APP", TYPES},
		{"smartplus.billing.v1.ServiceType.SERVICE_TYPE_APP", TYPES},
		{"grpc.health.v1.HealthCheckResponse.ServingStatus", HEALTH},
		{"grpc.health.v1.HealthCheckResponse.SERVING", HEALTH},
		{"grpc.health.v1.HealthCheckResponse.ServingStatus.NOT_SERVING", HEALTH},
		/* leading dot, as in type references */
		{".smartplus.billing.v1.BillingService", BILLING},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Resp *rs = ask_symbol(cases[i].sym);
		char *name = first_file_name(rs);
		SPT_CHECK(name && strcmp(name, cases[i].file) == 0, "%s: got %s, want %s",
			  cases[i].sym, name ? name : "(none)", cases[i].file);
		free(name);
		resp_free(rs);
	}

	/* The full closure for a service. */
	static const char *const want[] = {BILLING, TYPES, TIMESTAMP, RULES, DESCRIPTOR};
	Resp *rs = ask_symbol("smartplus.billing.v1.BillingService");
	check_files(rs, BILLING, want, 5, spb_descriptor_set, spb_descriptor_set_len);
	resp_free(rs);
}

static void test_file_containing_symbol_unknown(void)
{
	static const char *const bad[] = {
		"smartplus.billing.v1.NoSuchService",
		"smartplus.billing.v1.BillingService.NoSuchMethod",
		"smartplus.billing.v1.BillingService.GetCatalog.x",
		"smartplus.billing.v1.billingservice",
		"smartplus.billing.v1.BillingServic",
		"BillingService",
		"",
		".",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		Resp *rs = ask_symbol(bad[i]);
		SPT_CHECK(is_error(rs, 5), "%s: not NOT_FOUND", bad[i]);
		if (rs && rs->message_response_case == RS(ERROR_RESPONSE) && bad[i][0])
			CU_ASSERT_PTR_NOT_NULL(strstr(rs->error_response->error_message, bad[i]));
		resp_free(rs);
	}
}

static void test_extensions(void)
{
	Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
	ext.containing_type = "smartplus.billing.v1.GetCatalogRequest";
	ext.extension_number = 1000;
	Req rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	rq.message_request_case = RQ(FILE_CONTAINING_EXTENSION);
	rq.file_containing_extension = &ext;
	Resp *rs = ask(&rq);
	CU_ASSERT(is_error(rs, 5));
	resp_free(rs);

	Req rq2 = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	rq2.message_request_case = RQ(ALL_EXTENSION_NUMBERS_OF_TYPE);
	rq2.all_extension_numbers_of_type = "smartplus.billing.v1.GetCatalogRequest";
	rs = ask(&rq2);
	CU_ASSERT_PTR_NOT_NULL(rs);
	if (rs) {
		CU_ASSERT_EQUAL(rs->message_response_case, RS(ALL_EXTENSION_NUMBERS_RESPONSE));
		if (rs->message_response_case == RS(ALL_EXTENSION_NUMBERS_RESPONSE)) {
			CU_ASSERT_STRING_EQUAL(rs->all_extension_numbers_response->base_type_name,
					       "smartplus.billing.v1.GetCatalogRequest");
			CU_ASSERT_EQUAL(rs->all_extension_numbers_response->n_extension_number, 0);
		}
	}
	resp_free(rs);

	/* Not a message (a service, an enum) or unknown: NOT_FOUND. */
	static const char *const bad[] = {"smartplus.billing.v1.BillingService",
					  "smartplus.billing.v1.ServiceType",
					  "smartplus.billing.v1.Nope"};
	for (size_t i = 0; i < 3; i++) {
		rq2.all_extension_numbers_of_type = (char *)bad[i];
		rs = ask(&rq2);
		CU_ASSERT(is_error(rs, 5));
		resp_free(rs);
	}
}

static void test_bad_requests(void)
{
	static const unsigned char truncated[] = {0x1a, 0x10, 'a',
						  'b'}; /* field 3, len 16, 2 bytes */
	static const unsigned char overlong[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
						 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const unsigned char bad_wire[] = {0x1d, 1, 2, 3, 4}; /* field 3 as fixed32 */
	static const unsigned char group[] = {0x0b, 0x0c};          /* field 1 start group */
	const struct {
		const unsigned char *p;
		size_t n;
	} cases[] = {{truncated, sizeof truncated},
		     {overlong, sizeof overlong},
		     {bad_wire, sizeof bad_wire},
		     {group, 1}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned char *out = (unsigned char *)"untouched";
		size_t out_len = 12345;
		CU_ASSERT_EQUAL(reflection_answer(g_idx, cases[i].p, cases[i].n, &out, &out_len),
				-1);
		CU_ASSERT_EQUAL(out_len, 12345);
	}
	unsigned char *out = NULL;
	size_t out_len = 0;
	CU_ASSERT_EQUAL(reflection_answer(NULL, truncated, 0, &out, &out_len), -1);
	CU_ASSERT_EQUAL(reflection_answer(g_idx, NULL, 3, &out, &out_len), -1);
	CU_ASSERT_EQUAL(reflection_answer(g_idx, truncated, 0, NULL, &out_len), -1);

	/* An empty request decodes but asks nothing: INVALID_ARGUMENT. */
	CU_ASSERT_EQUAL(reflection_answer(g_idx, NULL, 0, &out, &out_len), 0);
	if (out) {
		Resp *rs = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len,
										    out);
		CU_ASSERT(is_error(rs, 3));
		CU_ASSERT_PTR_NOT_NULL(rs ? rs->original_request : NULL);
		resp_free(rs);
		free(out);
	}
}

static void test_service_accessors(void)
{
	size_t n = reflection_service_count(g_idx);
	char **names = calloc(n + 1, sizeof *names);
	for (size_t i = 0; i < n; i++) {
		names[i] = (char *)reflection_service_name(g_idx, i);
		CU_ASSERT_PTR_NOT_NULL(names[i]);
	}
	check_services(names, n);
	free(names);
	CU_ASSERT_PTR_NULL(reflection_service_name(g_idx, n));
	CU_ASSERT_PTR_NULL(reflection_service_name(NULL, 0));
	CU_ASSERT_EQUAL(reflection_service_count(NULL), 0);
	/* In set order, as the list above. */
	if (n == N_SERVICES)
		for (size_t i = 0; i < n; i++)
			CU_ASSERT_STRING_EQUAL(reflection_service_name(g_idx, i), k_services[i]);
}

/* ------------------------------------------------- hand-made sets --- */

/* Serializes a FileDescriptorSet of the given files (malloc'd). */
static unsigned char *pack_set(Google__Protobuf__FileDescriptorProto **files, size_t n, size_t *len)
{
	Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
	set.n_file = n;
	set.file = files;
	*len = google__protobuf__file_descriptor_set__get_packed_size(&set);
	unsigned char *buf = malloc(*len ? *len : 1);
	google__protobuf__file_descriptor_set__pack(&set, buf);
	return buf;
}

/* nest.proto (package t.n): Outer { Inner { enum Color { RED } }, f } and
 * service S { M }; top.proto (no package) imports it: Top, enum E { E0 }. */
static void test_nested_and_packageless(void)
{
	Google__Protobuf__EnumValueDescriptorProto red =
		GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT;
	red.name = "RED";
	Google__Protobuf__EnumValueDescriptorProto *redp = &red;
	Google__Protobuf__EnumDescriptorProto color = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT;
	color.name = "Color";
	color.n_value = 1;
	color.value = &redp;
	Google__Protobuf__EnumDescriptorProto *colorp = &color;
	Google__Protobuf__DescriptorProto inner = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
	inner.name = "Inner";
	inner.n_enum_type = 1;
	inner.enum_type = &colorp;
	Google__Protobuf__DescriptorProto *innerp = &inner;
	Google__Protobuf__FieldDescriptorProto f = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
	f.name = "f";
	Google__Protobuf__FieldDescriptorProto *fp = &f;
	Google__Protobuf__DescriptorProto outer = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
	outer.name = "Outer";
	outer.n_nested_type = 1;
	outer.nested_type = &innerp;
	outer.n_field = 1;
	outer.field = &fp;
	Google__Protobuf__DescriptorProto *outerp = &outer;
	Google__Protobuf__MethodDescriptorProto m = GOOGLE__PROTOBUF__METHOD_DESCRIPTOR_PROTO__INIT;
	m.name = "M";
	Google__Protobuf__MethodDescriptorProto *mp = &m;
	Google__Protobuf__ServiceDescriptorProto s =
		GOOGLE__PROTOBUF__SERVICE_DESCRIPTOR_PROTO__INIT;
	s.name = "S";
	s.n_method = 1;
	s.method = &mp;
	Google__Protobuf__ServiceDescriptorProto *sp = &s;
	Google__Protobuf__FileDescriptorProto nest = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
	nest.name = "x/nest.proto";
	nest.package = "t.n";
	nest.n_message_type = 1;
	nest.message_type = &outerp;
	nest.n_service = 1;
	nest.service = &sp;

	Google__Protobuf__EnumValueDescriptorProto e0 =
		GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT;
	e0.name = "E0";
	Google__Protobuf__EnumValueDescriptorProto *e0p = &e0;
	Google__Protobuf__EnumDescriptorProto en = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT;
	en.name = "E";
	en.n_value = 1;
	en.value = &e0p;
	Google__Protobuf__EnumDescriptorProto *enp = &en;
	Google__Protobuf__DescriptorProto top = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
	top.name = "Top";
	Google__Protobuf__DescriptorProto *topp = &top;
	char *deps[] = {"x/nest.proto"};
	Google__Protobuf__FileDescriptorProto topf = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
	topf.name = "top.proto";
	topf.n_dependency = 1;
	topf.dependency = deps;
	topf.n_message_type = 1;
	topf.message_type = &topp;
	topf.n_enum_type = 1;
	topf.enum_type = &enp;

	/* Importer first: the index must not depend on the set's order. */
	Google__Protobuf__FileDescriptorProto *files[] = {&topf, &nest};
	size_t len;
	unsigned char *buf = pack_set(files, 2, &len);
	reflection_index *idx = reflection_index_new(buf, len);
	CU_ASSERT_PTR_NOT_NULL(idx);
	if (!idx) {
		free(buf);
		return;
	}
	free(buf); /* the index keeps its own copy */

	CU_ASSERT_EQUAL(reflection_service_count(idx), 1);
	CU_ASSERT_STRING_EQUAL(reflection_service_name(idx, 0), "t.n.S");

	static const struct {
		const char *sym, *file;
	} cases[] = {
		{"t.n.Outer", "x/nest.proto"},
		{"t.n.Outer.Inner", "x/nest.proto"},
		{"t.n.Outer.Inner.Color", "x/nest.proto"},
		{"t.n.Outer.Inner.RED", "x/nest.proto"},
		{"t.n.Outer.Inner.Color.RED", "x/nest.proto"},
		{"t.n.Outer.f", "x/nest.proto"},
		{"t.n.S", "x/nest.proto"},
		{"t.n.S.M", "x/nest.proto"},
		{"Top", "top.proto"},
		{"E", "top.proto"},
		{"E0", "top.proto"},
		{"t.n.Inner", NULL},
		{"t.n.Outer.RED", NULL},
		{"Outer", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Req rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
		rq.message_request_case = RQ(FILE_CONTAINING_SYMBOL);
		rq.file_containing_symbol = (char *)cases[i].sym;
		Resp *rs = ask_idx(idx, &rq);
		if (cases[i].file) {
			char *name = first_file_name(rs);
			SPT_CHECK(name && strcmp(name, cases[i].file) == 0, "%s: got %s, want %s",
				  cases[i].sym, name ? name : "(none)", cases[i].file);
			free(name);
		} else {
			SPT_CHECK(is_error(rs, 5), "%s: not NOT_FOUND", cases[i].sym);
		}
		resp_free(rs);
	}

	static const char *const want[] = {"top.proto", "x/nest.proto"};
	Resp *rs = ask_file(idx, "top.proto");
	check_files(rs, "top.proto", want, 2, NULL, 0);
	resp_free(rs);

	Req rq = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	rq.message_request_case = RQ(ALL_EXTENSION_NUMBERS_OF_TYPE);
	rq.all_extension_numbers_of_type = "t.n.Outer.Inner";
	rs = ask_idx(idx, &rq);
	CU_ASSERT(rs && rs->message_response_case == RS(ALL_EXTENSION_NUMBERS_RESPONSE));
	resp_free(rs);

	reflection_index_free(idx);

	/* A missing import or a repeated file name is refused. */
	Google__Protobuf__FileDescriptorProto *only_top[] = {&topf};
	buf = pack_set(only_top, 1, &len);
	CU_ASSERT_PTR_NULL(reflection_index_new(buf, len));
	free(buf);
	Google__Protobuf__FileDescriptorProto *twice[] = {&nest, &nest};
	buf = pack_set(twice, 2, &len);
	CU_ASSERT_PTR_NULL(reflection_index_new(buf, len));
	free(buf);
}

static void test_index_new_errors(void)
{
	static const unsigned char garbage[] = {0x0a, 0x50, 0x01, 0x02};
	CU_ASSERT_PTR_NULL(reflection_index_new(garbage, sizeof garbage));
	static const unsigned char not_a_file[] = {0x0a, 0x02, 0xff, 0xff};
	CU_ASSERT_PTR_NULL(reflection_index_new(not_a_file, sizeof not_a_file));
	CU_ASSERT_PTR_NULL(reflection_index_new(NULL, 5));
	CU_ASSERT_PTR_NULL(reflection_index_new(spb_descriptor_set, spb_descriptor_set_len - 1));
	reflection_index_free(NULL);

	/* An empty set is a valid (empty) index. */
	reflection_index *idx = reflection_index_new(NULL, 0);
	CU_ASSERT_PTR_NOT_NULL(idx);
	if (idx) {
		CU_ASSERT_EQUAL(reflection_service_count(idx), 0);
		Resp *rs = ask_file(idx, TIMESTAMP);
		CU_ASSERT(is_error(rs, 5));
		resp_free(rs);
		reflection_index_free(idx);
	}
}

/* ---------------------------------------------------------------- main --- */

static int suite_init(void)
{
	g_idx = reflection_index_new(spb_descriptor_set, spb_descriptor_set_len);
	if (!g_idx)
		fprintf(stderr, "reflection_index_new failed on the embedded descriptor set\n");
	return g_idx ? 0 : -1;
}

static int suite_clean(void)
{
	reflection_index_free(g_idx);
	g_idx = NULL;
	return 0;
}

static CU_TestInfo tests[] = {
	{"list_services v1", test_list_services_v1},
	{"list_services v1alpha", test_list_services_v1alpha},
	{"file_containing_symbol v1alpha", test_symbol_v1alpha},
	{"file_by_filename", test_file_by_filename},
	{"file_by_filename unknown", test_file_by_filename_unknown},
	{"file_containing_symbol", test_file_containing_symbol},
	{"file_containing_symbol unknown", test_file_containing_symbol_unknown},
	{"extensions", test_extensions},
	{"bad requests", test_bad_requests},
	{"service accessors", test_service_accessors},
	{"nested and package-less", test_nested_and_packageless},
	{"index_new errors", test_index_new_errors},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"server_reflection", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
