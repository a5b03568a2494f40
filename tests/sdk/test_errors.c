/* Tests of sdk/src/errors.c: spb_error_last(), status mapping, ErrorInfo. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "sdk_tests.h"
#include "spb_internal.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

static void *read_error_in_thread(void *arg)
{
	const spb_error *err = spb_error_last();

	(void)arg;
	return (err && err->grpc_code == 0 && err->message && !*err->message && err->reason &&
		!*err->reason && err->idempotency_key && !*err->idempotency_key)
		       ? (void *)err
		       : NULL;
}

static void test_error_last_is_never_null_and_per_thread(void)
{
	pthread_t thread;
	void *other = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(spb_error_last());
	CU_ASSERT_EQUAL(spb__error_set(GRPC_STATUS_NOT_FOUND, "NO_SUCH", "no %s", "thing"),
			SPB_ENOTFOUND);
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, GRPC_STATUS_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->message, "no thing");
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "NO_SUCH");

	/* A fresh thread sees a clean, non-NULL error of its own. */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, read_error_in_thread, NULL), 0);
	pthread_join(thread, &other);
	CU_ASSERT_PTR_NOT_NULL(other);
	CU_ASSERT_PTR_NOT_EQUAL(other, spb_error_last());
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "NO_SUCH");

	spb__error_reset();
	CU_ASSERT_EQUAL(spb_error_last()->grpc_code, 0);
	CU_ASSERT_STRING_EQUAL(spb_error_last()->message, "");
	CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "");
}

static void test_long_messages_are_truncated(void)
{
	char big[4096];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	spb__error_set(GRPC_STATUS_INTERNAL, big, "%s", big);
	CU_ASSERT(strlen(spb_error_last()->message) > 0);
	CU_ASSERT(strlen(spb_error_last()->message) < sizeof(big) - 1);
	CU_ASSERT(strlen(spb_error_last()->reason) < sizeof(big) - 1);
	spb__error_reset();
}

static void test_every_status_maps_to_one_code(void)
{
	static const struct {
		int status, code;
	} table[] = {
		{GRPC_STATUS_OK, SPB_OK},
		{GRPC_STATUS_CANCELLED, SPB_ERROR},
		{GRPC_STATUS_UNKNOWN, SPB_ERROR},
		{GRPC_STATUS_INVALID_ARGUMENT, SPB_EINVALID},
		{GRPC_STATUS_DEADLINE_EXCEEDED, SPB_ETIMEOUT},
		{GRPC_STATUS_NOT_FOUND, SPB_ENOTFOUND},
		{GRPC_STATUS_ALREADY_EXISTS, SPB_EEXISTS},
		{GRPC_STATUS_PERMISSION_DENIED, SPB_EPERM},
		{GRPC_STATUS_RESOURCE_EXHAUSTED, SPB_EUNAVAILABLE},
		{GRPC_STATUS_FAILED_PRECONDITION, SPB_EPRECONDITION},
		{GRPC_STATUS_ABORTED, SPB_ECONFLICT},
		{GRPC_STATUS_OUT_OF_RANGE, SPB_EINVALID},
		{GRPC_STATUS_UNIMPLEMENTED, SPB_ERROR},
		{GRPC_STATUS_INTERNAL, SPB_ERROR},
		{GRPC_STATUS_UNAVAILABLE, SPB_EUNAVAILABLE},
		{GRPC_STATUS_DATA_LOSS, SPB_ERROR},
		{GRPC_STATUS_UNAUTHENTICATED, SPB_EPERM},
		{99, SPB_ERROR},
		{-1, SPB_ERROR},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		CU_ASSERT_EQUAL(spb__code_from_status(table[i].status), table[i].code);
}

static void test_status_names(void)
{
	CU_ASSERT_STRING_EQUAL(spb_status_name(GRPC_STATUS_OK), "OK");
	CU_ASSERT_STRING_EQUAL(spb_status_name(GRPC_STATUS_FAILED_PRECONDITION),
			       "FAILED_PRECONDITION");
	CU_ASSERT_STRING_EQUAL(spb_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
	CU_ASSERT_STRING_EQUAL(spb_status_name(17), "UNKNOWN_STATUS");
	CU_ASSERT_STRING_EQUAL(spb_status_name(-3), "UNKNOWN_STATUS");
}

/* Packs a google.rpc.Status whose details are, in order, an unrelated Any
 * and (when reason is not NULL) an ErrorInfo. Returns a malloc'd buffer. */
static uint8_t *pack_status(const char *type_url, const char *reason, size_t *len)
{
	Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
	Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
	Google__Protobuf__Any other = GOOGLE__PROTOBUF__ANY__INIT,
			      any = GOOGLE__PROTOBUF__ANY__INIT;
	Google__Protobuf__Any *details[2] = {&other, &any};
	uint8_t info_bytes[256], *out;

	other.type_url = (char *)"type.googleapis.com/google.rpc.RetryInfo";
	other.value.data = (uint8_t *)"\x0a\x02\x08\x01";
	other.value.len = 4;
	info.reason = (char *)reason;
	info.domain = (char *)"billing.smartplus";
	any.type_url = (char *)type_url;
	if (reason) {
		any.value.len = google__rpc__error_info__pack(&info, info_bytes);
		any.value.data = info_bytes;
	}
	status.code = GRPC_STATUS_FAILED_PRECONDITION;
	status.message = (char *)"quote is stale";
	status.n_details = reason ? 2 : 1;
	status.details = details;
	*len = google__rpc__status__get_packed_size(&status);
	out = malloc(*len);
	google__rpc__status__pack(&status, out);
	return out;
}

static void test_error_info_reason_is_parsed(void)
{
	char reason[64];
	size_t len;
	uint8_t *bytes = pack_status("type.googleapis.com/google.rpc.ErrorInfo", "QUOTE_STALE",
				     &len);

	CU_ASSERT_EQUAL(spb__status_reason(bytes, len, reason, sizeof(reason)), 0);
	CU_ASSERT_STRING_EQUAL(reason, "QUOTE_STALE");
	/* Truncated, still terminated. */
	CU_ASSERT_EQUAL(spb__status_reason(bytes, len, reason, 6), 0);
	CU_ASSERT_STRING_EQUAL(reason, "QUOTE");
	free(bytes);

	/* Any host part will do: only the type name counts. */
	bytes = pack_status("example.com/x/google.rpc.ErrorInfo", "INSUFFICIENT_CREDITS", &len);
	CU_ASSERT_EQUAL(spb__status_reason(bytes, len, reason, sizeof(reason)), 0);
	CU_ASSERT_STRING_EQUAL(reason, "INSUFFICIENT_CREDITS");
	free(bytes);
}

static void test_status_without_error_info_has_no_reason(void)
{
	char reason[64] = "junk";
	size_t len;
	uint8_t *bytes = pack_status("", NULL, &len);

	CU_ASSERT_EQUAL(spb__status_reason(bytes, len, reason, sizeof(reason)), SPB_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(reason, "");
	free(bytes);

	/* A type that merely ends like ErrorInfo is not one. */
	bytes = pack_status("type.googleapis.com/my.google.rpc.ErrorInfoX", "NOPE", &len);
	CU_ASSERT_EQUAL(spb__status_reason(bytes, len, reason, sizeof(reason)), SPB_ENOTFOUND);
	free(bytes);
	bytes = pack_status("type.googleapis.com/notgoogle.rpc.ErrorInfo", "NOPE", &len);
	CU_ASSERT_EQUAL(spb__status_reason(bytes, len, reason, sizeof(reason)), SPB_ENOTFOUND);
	free(bytes);
}

static void test_garbage_status_is_rejected(void)
{
	/* Field 2 (message) claims 127 bytes and has one. */
	static const uint8_t garbage[] = {0x12, 0x7f, 'a'};
	char reason[64] = "junk";

	CU_ASSERT_EQUAL(spb__status_reason(garbage, sizeof(garbage), reason, sizeof(reason)),
			SPB_EINVALID);
	CU_ASSERT_STRING_EQUAL(reason, "");
	CU_ASSERT_EQUAL(spb__status_reason(NULL, 0, reason, sizeof(reason)), SPB_ENOTFOUND);
}

CU_TestInfo sdk_errors_tests[] = {
	{"error_last_is_never_null_and_per_thread", test_error_last_is_never_null_and_per_thread},
	{"long_messages_are_truncated", test_long_messages_are_truncated},
	{"every_status_maps_to_one_code", test_every_status_maps_to_one_code},
	{"status_names", test_status_names},
	{"error_info_reason_is_parsed", test_error_info_reason_is_parsed},
	{"status_without_error_info_has_no_reason", test_status_without_error_info_has_no_reason},
	{"garbage_status_is_rejected", test_garbage_status_is_rejected},
	CU_TEST_INFO_NULL,
};
