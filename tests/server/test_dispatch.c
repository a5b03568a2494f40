/*
 * test_dispatch.c: the dispatch table of billingd (rpc_methods[], generated
 * from the protoc-c service descriptors) against those descriptors: one row
 * per RPC of BillingService, DirectoryService, AdminService and
 * EventService, with its full path, lookup by path, the `mutates` flag (0
 * exactly for Get*, List*, Watch*, QuoteServices), the server-streaming flag
 * (WatchEvents only), vendor-only access for AdminService,
 * request/response descriptors, and a handler on every row.
 */
#include <stdio.h>
#include <string.h>

#include "spt_run.h"

#include "billingd.h"
#include "rpc.h"
#include "smartplus/billing/v1/admin_service.pb-c.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "smartplus/billing/v1/directory_service.pb-c.h"
#include "smartplus/billing/v1/invoice_service.pb-c.h"
#include "smartplus/billing/v1/event_service.pb-c.h"

/* main.c is not in spb_server_core: the process state lives here. */
billingd_state billingd;

static const ProtobufCServiceDescriptor *const services[] = {
	&smartplus__billing__v1__billing_service__descriptor,
	&smartplus__billing__v1__directory_service__descriptor,
	&smartplus__billing__v1__admin_service__descriptor,
	&smartplus__billing__v1__invoice_service__descriptor,
	&smartplus__billing__v1__event_service__descriptor,
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

static void path_of(const ProtobufCServiceDescriptor *s, unsigned m, char *buf, size_t cap)
{
	snprintf(buf, cap, "/%s/%s", s->name, s->methods[m].name);
}

static void test_one_row_per_rpc(void)
{
	size_t total = 0;
	for (size_t s = 0; s < N_SERVICES; s++)
		total += services[s]->n_methods;
	CU_ASSERT_EQUAL(rpc_method_count, total);
	/* DESIGN §4: 16 + 11 + 8; issue 15: 8; issue 16: 6 more in Billing
	 * (ListRenewalGroups, RecoverRenewal, the four payment requests) */
	CU_ASSERT_EQUAL(services[0]->n_methods, 22);
	CU_ASSERT_EQUAL(services[1]->n_methods, 12);
	CU_ASSERT_EQUAL(services[2]->n_methods, 8);
	CU_ASSERT_EQUAL(services[3]->n_methods, 9); /* issue 17 */
	CU_ASSERT_EQUAL(services[4]->n_methods, 8); /* issue 15 */
	for (size_t s = 0; s < N_SERVICES; s++) {
		for (unsigned m = 0; m < services[s]->n_methods; m++) {
			char path[256];
			int found = 0;
			path_of(services[s], m, path, sizeof(path));
			for (size_t i = 0; i < rpc_method_count; i++)
				if (strcmp(rpc_methods[i].path, path) == 0) {
					found++;
					CU_ASSERT_PTR_EQUAL(rpc_methods[i].service, services[s]);
					CU_ASSERT_EQUAL(rpc_methods[i].method_index, m);
				}
			SPT_CHECK(found == 1, "%s: %d rows", path, found);
		}
	}
	/* and every row is one of those */
	for (size_t i = 0; i < rpc_method_count; i++) {
		const rpc_method *r = &rpc_methods[i];
		char path[256], name[256];
		CU_ASSERT_FATAL(r->method_index < r->service->n_methods);
		path_of(r->service, r->method_index, path, sizeof(path));
		CU_ASSERT_STRING_EQUAL(r->path, path);
		snprintf(name, sizeof(name), "%s/%s", r->service->short_name,
			 r->service->methods[r->method_index].name);
		CU_ASSERT_STRING_EQUAL(r->name, name);
	}
}

static void test_find(void)
{
	static const char *unknown[] = {
		"",
		"/",
		"/smartplus.billing.v1.BillingService/",
		"/smartplus.billing.v1.BillingService/NoSuchMethod",
		"/smartplus.billing.v1.BillingService/GetCatalogX",
		"/smartplus.billing.v1.BillingService/GetCatalo",
		"/smartplus.billing.v1.billingservice/GetCatalog",
		"smartplus.billing.v1.BillingService/GetCatalog",
		"/grpc.health.v1.Health/Check",
		"/zzz",
		"/AAA",
	};
	rpc_table_init();
	for (size_t s = 0; s < N_SERVICES; s++)
		for (unsigned m = 0; m < services[s]->n_methods; m++) {
			char path[256];
			const rpc_method *r;
			path_of(services[s], m, path, sizeof(path));
			r = rpc_table_find(path);
			CU_ASSERT_PTR_NOT_NULL(r);
			if (r)
				CU_ASSERT_STRING_EQUAL(r->path, path);
		}
	for (size_t i = 0; i < rpc_method_count; i++)
		CU_ASSERT_PTR_EQUAL(rpc_table_find(rpc_methods[i].path), &rpc_methods[i]);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		CU_ASSERT_PTR_NULL(rpc_table_find(unknown[i]));
}

static void test_mutates(void)
{
	for (size_t i = 0; i < rpc_method_count; i++) {
		const char *m = rpc_methods[i].service->methods[rpc_methods[i].method_index].name;
		int read_only = strncmp(m, "Get", 3) == 0 || strncmp(m, "List", 4) == 0 ||
				strncmp(m, "Watch", 5) == 0 || strcmp(m, "QuoteServices") == 0;
		SPT_CHECK(rpc_methods[i].mutates == !read_only, "%s: mutates=%d",
			  rpc_methods[i].name, rpc_methods[i].mutates);
		SPT_CHECK(rpc_methods[i].server_streaming == (strcmp(m, "WatchEvents") == 0),
			  "%s: server_streaming=%d", rpc_methods[i].name,
			  rpc_methods[i].server_streaming);
	}
	CU_ASSERT_EQUAL(rpc_table_find("/smartplus.billing.v1.BillingService/GetCatalog")->mutates,
			0);
	CU_ASSERT_EQUAL(
		rpc_table_find("/smartplus.billing.v1.DirectoryService/CreateItems")->mutates, 1);
	CU_ASSERT_EQUAL(rpc_table_find("/smartplus.billing.v1.AdminService/AdvanceClock")->mutates,
			1);
}

static void test_access_and_descriptors(void)
{
	rpc_table_init();
	for (size_t i = 0; i < rpc_method_count; i++) {
		const rpc_method *r = &rpc_methods[i];
		const ProtobufCMethodDescriptor *d = &r->service->methods[r->method_index];
		int admin = r->service == &smartplus__billing__v1__admin_service__descriptor;
		CU_ASSERT_EQUAL(r->access, admin ? RPC_ACCESS_VENDOR : RPC_ACCESS_ACCOUNT);
		CU_ASSERT_PTR_EQUAL(r->input, d->input);
		CU_ASSERT_PTR_EQUAL(r->output, d->output);
		/* request/response naming of DESIGN §4 */
		CU_ASSERT(strstr(r->input->short_name, "Request") != NULL);
	}
}

static void test_handlers_linked(void)
{
	/* every row has its handler: the generated table refers to each one
	 * strongly, so a missing handler fails the link before this runs */
	rpc_table_init();
	for (size_t i = 0; i < rpc_method_count; i++)
		CU_ASSERT_PTR_NOT_NULL(rpc_methods[i].handler);
}

static CU_TestInfo tests[] = {
	{"one row per RPC, paths from the descriptors", test_one_row_per_rpc},
	{"rpc_table_find", test_find},
	{"mutates: 0 exactly for Get*/List*/Watch*/QuoteServices; streaming", test_mutates},
	{"access and descriptors", test_access_and_descriptors},
	{"handlers linked", test_handlers_linked},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"dispatch", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
