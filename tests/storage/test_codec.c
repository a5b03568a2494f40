/*
 * test_codec.c - stored value encoding: round trip, version byte, garbage.
 */
#include <stdlib.h>
#include <string.h>

#include "spt_run.h"
#include "spt_store.h"

#define ITEM_DESC (&smartplus__billing__store__v1__item_record__descriptor)

/* Encode a representative item into a malloc'd buffer. */
static uint8_t *sample_item(size_t *len)
{
	static int32_t features[] = {3, 5, 8};
	store_item it = STORE_ITEM_INIT;
	store_auto_renew ar = STORE_AUTO_RENEW_INIT;
	uint8_t *buf;

	it.item_id = "item-1";
	it.project_id = "proj-1";
	it.service_type = 5;
	it.label = "Flat 12";
	it.status = STORE_ITEM_ACTIVE;
	it.expires_at = 1767225600000000LL;
	it.n_premium_features = 3;
	it.premium_features = features;
	it.create_seq = 42;
	it.renew_mode = 2;
	ar.enabled = 1;
	ar.payer_id = "inst-1";
	ar.stripe_customer_id = "cus_123";
	ar.cycles = 12;
	ar.next_attempt = -5;
	it.auto_renew = &ar;
	*len = store_codec_size(&it.base);
	buf = malloc(*len);
	store_codec_encode(&it.base, buf);
	return buf;
}

static void test_round_trip_keeps_every_field(void)
{
	size_t len;
	uint8_t *buf = sample_item(&len);
	ProtobufCMessage *m = NULL;
	store_item *it;

	CU_ASSERT_EQUAL(buf[0], STORE_CODEC_VERSION);
	CU_ASSERT_EQUAL_FATAL(store_codec_decode(ITEM_DESC, buf, len, &m), 0);
	it = (store_item *)m;
	CU_ASSERT_STRING_EQUAL(it->item_id, "item-1");
	CU_ASSERT_STRING_EQUAL(it->label, "Flat 12");
	CU_ASSERT_EQUAL(it->expires_at, 1767225600000000LL);
	CU_ASSERT_EQUAL(it->create_seq, 42);
	CU_ASSERT_EQUAL(it->n_premium_features, 3);
	if (it->n_premium_features == 3)
		CU_ASSERT_EQUAL(it->premium_features[2], 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(it->auto_renew);
	CU_ASSERT_STRING_EQUAL(it->auto_renew->stripe_customer_id, "cus_123");
	CU_ASSERT_EQUAL(it->auto_renew->cycles, 12);
	CU_ASSERT_EQUAL(it->auto_renew->next_attempt, -5);
	store_record_free(m);
	free(buf);
}

static void test_unknown_version_is_corrupt(void)
{
	size_t len;
	uint8_t *buf = sample_item(&len);
	ProtobufCMessage *m = (ProtobufCMessage *)1;
	uint8_t v[] = {0, 2, 0x7f, 0xff};
	size_t i;

	for (i = 0; i < sizeof(v); i++) {
		buf[0] = v[i];
		CU_ASSERT_EQUAL(store_codec_decode(ITEM_DESC, buf, len, &m), STORE_CORRUPT);
		CU_ASSERT_PTR_NULL(m);
	}
	free(buf);
}

static void test_empty_and_null_are_corrupt(void)
{
	ProtobufCMessage *m;
	uint8_t one = STORE_CODEC_VERSION;

	CU_ASSERT_EQUAL(store_codec_decode(ITEM_DESC, &one, 0, &m), STORE_CORRUPT);
	CU_ASSERT_EQUAL(store_codec_decode(ITEM_DESC, NULL, 5, &m), STORE_CORRUPT);
	CU_ASSERT_EQUAL(store_codec_decode(NULL, &one, 1, &m), STORE_CORRUPT);
	/* a bare version byte is a valid, empty record */
	CU_ASSERT_EQUAL(store_codec_decode(ITEM_DESC, &one, 1, &m), 0);
	store_record_free(m);
}

static void test_truncations_never_crash(void)
{
	size_t len, cut;
	uint8_t *buf = sample_item(&len);
	ProtobufCMessage *m;
	int corrupt = 0, rc;

	for (cut = 0; cut < len; cut++) {
		rc = store_codec_decode(ITEM_DESC, buf, cut, &m);
		CU_ASSERT(rc == 0 || rc == STORE_CORRUPT);
		corrupt += rc == STORE_CORRUPT;
		store_record_free(m);
	}
	CU_ASSERT(corrupt > 0);
	free(buf);
}

static void test_random_garbage_never_crashes(void)
{
	const ProtobufCMessageDescriptor *descs[] = {
		&smartplus__billing__store__v1__account_record__descriptor,
		&smartplus__billing__store__v1__project_record__descriptor,
		ITEM_DESC,
		&smartplus__billing__store__v1__price_record__descriptor,
		&smartplus__billing__store__v1__credit_price_record__descriptor,
		&smartplus__billing__store__v1__api_key_record__descriptor,
	};
	uint8_t buf[256];
	ProtobufCMessage *m;
	unsigned seed = 12345;
	int i, rc, bad = 0;
	size_t j, len;

	for (i = 0; i < 20000; i++) {
		len = (size_t)(rand_r(&seed) % sizeof(buf));
		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		if (len)
			buf[0] = STORE_CODEC_VERSION;
		rc = store_codec_decode(descs[i % 6], buf, len, &m);
		bad += rc != 0 && rc != STORE_CORRUPT;
		store_record_free(m);
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void test_strerror_covers_every_code(void)
{
	int rc;

	for (rc = STORE_IO; rc <= STORE_OK; rc++)
		CU_ASSERT_STRING_NOT_EQUAL(store_strerror(rc), "unknown error");
	CU_ASSERT_STRING_EQUAL(store_strerror(12345), "unknown error");
}

static CU_TestInfo tests[] = {
	{"round trip keeps every field", test_round_trip_keeps_every_field},
	{"unknown version is corrupt", test_unknown_version_is_corrupt},
	{"empty and null are corrupt", test_empty_and_null_are_corrupt},
	{"truncations never crash", test_truncations_never_crash},
	{"random garbage never crashes", test_random_garbage_never_crashes},
	{"strerror covers every code", test_strerror_covers_every_code},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"storage_codec", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
