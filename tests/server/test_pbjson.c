/*
 * test_pbjson.c - the proto3 JSON mapping of server/pbjson.c: names,
 * omitted defaults, 64-bit integers as strings, enums by name, oneofs,
 * bytes, Timestamp / Duration / FieldMask forms, bad values.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "billingd.h"
#include "event.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "pbjson.h"
#include "smartplus/billing/v1/event_service.pb-c.h"
#include "spt_run.h"

/* main.c is not in spb_server_core: the process state lives here. */
billingd_state billingd;

#define V1(x) SMARTPLUS__BILLING__V1__##x

static void expect(const ProtobufCMessage *m, const char *want)
{
	char *got = pbjson_dumps(m);

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, want);
	if (strcmp(got, want) != 0)
		printf("\n    got  %s\n    want %s\n", got, want);
	free(got);
}

static void test_event_with_item(void)
{
	Smartplus__Billing__V1__Event e = SMARTPLUS__BILLING__V1__EVENT__INIT;
	Smartplus__Billing__V1__Item it = SMARTPLUS__BILLING__V1__ITEM__INIT;
	Google__Protobuf__Timestamp created = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
				    expires = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Smartplus__Billing__V1__PremiumFeature feats[1] = {
		V1(PREMIUM_FEATURE__PREMIUM_FEATURE_TIME_ATTENDANCE)};

	created.seconds = 1700000000; /* 2023-11-14T22:13:20Z */
	expires.seconds = 1700000000;
	expires.nanos = 500000000;
	it.item_id = "door-1";
	it.project_id = "p1";
	it.service_type = V1(SERVICE_TYPE__SERVICE_TYPE_DOOR);
	it.status = V1(ITEM_STATUS__ITEM_STATUS_ACTIVE);
	it.expires_at = &expires;
	it.n_premium_features = 1;
	it.premium_features = feats;
	it.free = 1;
	e.event_id = "evt_x";
	e.sequence = 42;
	e.kind = "item.activated";
	e.subject = "items/door-1";
	e.subject_version = 1;
	e.create_time = &created;
	e.data_case = SMARTPLUS__BILLING__V1__EVENT__DATA_ITEM;
	e.item = &it;
	expect(&e.base,
	       "{\"eventId\":\"evt_x\",\"sequence\":\"42\",\"kind\":\"item.activated\","
	       "\"subject\":\"items/door-1\",\"subjectVersion\":\"1\","
	       "\"createTime\":\"2023-11-14T22:13:20Z\",\"item\":{\"itemId\":\"door-1\","
	       "\"projectId\":\"p1\",\"serviceType\":\"SERVICE_TYPE_DOOR\","
	       "\"status\":\"ITEM_STATUS_ACTIVE\",\"expiresAt\":\"2023-11-14T22:13:20.500Z\","
	       "\"premiumFeatures\":[\"PREMIUM_FEATURE_TIME_ATTENDANCE\"],\"free\":true}}");
}

static void test_defaults_are_left_out(void)
{
	Smartplus__Billing__V1__Event e = SMARTPLUS__BILLING__V1__EVENT__INIT;
	Smartplus__Billing__V1__CreditTransfer t = SMARTPLUS__BILLING__V1__CREDIT_TRANSFER__INIT;

	expect(&e.base, "{}");
	/* a oneof member is written when set, even at its default */
	e.data_case = SMARTPLUS__BILLING__V1__EVENT__DATA_TRANSFER;
	e.transfer = &t;
	expect(&e.base, "{\"transfer\":{}}");
	t.credits = -5;
	t.from_balance = INT64_MIN;
	expect(&t.base, "{\"credits\":\"-5\",\"fromBalance\":\"-9223372036854775808\"}");
}

static void test_oneof_scalar_at_default(void)
{
	Smartplus__Billing__V1__AutoRenewTerm t = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__INIT;

	t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_CYCLES;
	t.cycles = 0;
	expect(&t.base, "{\"cycles\":0}");
	t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
	t.until_turned_off = 1;
	expect(&t.base, "{\"untilTurnedOff\":true}");
}

static void test_uint64_bytes_unknown_enum(void)
{
	Smartplus__Billing__Store__V1__EventRecord r =
		SMARTPLUS__BILLING__STORE__V1__EVENT_RECORD__INIT;
	Smartplus__Billing__V1__Item it = SMARTPLUS__BILLING__V1__ITEM__INIT;
	uint8_t data[2] = {0x00, 0xff};

	r.seq = UINT64_MAX;
	r.data.data = data;
	r.data.len = 2;
	expect(&r.base, "{\"seq\":\"18446744073709551615\",\"data\":\"AP8=\"}");
	it.status = 77; /* not a value of ItemStatus: its number */
	expect(&it.base, "{\"status\":77}");
}

static void test_timestamp_forms(void)
{
	static const struct {
		int64_t s;
		int32_t n;
		const char *want;
	} cases[] = {
		{0, 0, "\"1970-01-01T00:00:00Z\""},
		{0, 1000, "\"1970-01-01T00:00:00.000001Z\""},
		{0, 123456789, "\"1970-01-01T00:00:00.123456789Z\""},
		{-1, 999000000, "\"1969-12-31T23:59:59.999Z\""},
		{253402300799, 0, "\"9999-12-31T23:59:59Z\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		json_t *j;
		char *s;
		t.seconds = cases[i].s;
		t.nanos = cases[i].n;
		j = pbjson_encode(&t.base);
		CU_ASSERT_PTR_NOT_NULL_FATAL(j);
		s = json_dumps(j, JSON_ENCODE_ANY);
		CU_ASSERT_STRING_EQUAL(s, cases[i].want);
		free(s);
		json_decref(j);
	}
}

static void test_out_of_range_fails(void)
{
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Smartplus__Billing__V1__Item it = SMARTPLUS__BILLING__V1__ITEM__INIT;

	t.seconds = 253402300800; /* year 10000 */
	it.expires_at = &t;
	CU_ASSERT_PTR_NULL(pbjson_encode(&it.base));
	t.seconds = 0;
	t.nanos = -1;
	CU_ASSERT_PTR_NULL(pbjson_encode(&it.base));
}

static void test_duration_and_field_mask(void)
{
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[2] = {"display_name", "free_additional_apps"};
	char *s;

	d.seconds = -1;
	d.nanos = -500000000;
	s = pbjson_dumps(&d.base);
	CU_ASSERT_STRING_EQUAL(s, "\"-1.500s\"");
	free(s);
	d.seconds = 0;
	d.nanos = -5000;
	s = pbjson_dumps(&d.base);
	CU_ASSERT_STRING_EQUAL(s, "\"-0.000005s\"");
	free(s);
	d.seconds = 3;
	d.nanos = 0;
	s = pbjson_dumps(&d.base);
	CU_ASSERT_STRING_EQUAL(s, "\"3s\"");
	free(s);
	d.nanos = -1; /* signs disagree */
	CU_ASSERT_PTR_NULL(pbjson_encode(&d.base));
	fm.n_paths = 2;
	fm.paths = paths;
	s = pbjson_dumps(&fm.base);
	CU_ASSERT_STRING_EQUAL(s, "\"displayName,freeAdditionalApps\"");
	free(s);
}

static void test_strings_are_escaped(void)
{
	Smartplus__Billing__V1__CouponRedemption r =
		SMARTPLUS__BILLING__V1__COUPON_REDEMPTION__INIT;

	r.code = "a\"b\\c\n\xc3\xa9";
	expect(&r.base, "{\"code\":\"a\\\"b\\\\c\\n\xc3\xa9\"}");
}

static CU_TestInfo tests[] = {
	{"an Event with an Item", test_event_with_item},
	{"defaults are left out", test_defaults_are_left_out},
	{"a oneof scalar at its default is written", test_oneof_scalar_at_default},
	{"uint64, bytes, an unknown enum value", test_uint64_bytes_unknown_enum},
	{"Timestamp forms", test_timestamp_forms},
	{"out-of-range values fail", test_out_of_range_fails},
	{"Duration and FieldMask", test_duration_and_field_mask},
	{"strings are escaped", test_strings_are_escaped},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"pbjson", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
