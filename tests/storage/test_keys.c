/*
 * test_keys.c - key encoding order and page tokens (white box).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "spt_run.h"
#include "spt_store.h"

static int key_cmp(const store_key *a, const store_key *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->b, b->b, n);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void test_big_endian_ints_sort_numerically(void)
{
	unsigned seed = 7;
	store_key a, b;
	int i, bad = 0;

	for (i = 0; i < 10000; i++) {
		uint64_t x = (uint64_t)rand_r(&seed) << 33 ^ (uint64_t)rand_r(&seed);
		uint64_t y = (uint64_t)rand_r(&seed) << (i % 40);

		key_init(&a, 'E');
		key_u64(&a, x);
		key_init(&b, 'E');
		key_u64(&b, y);
		bad += (x < y) != (key_cmp(&a, &b) < 0);
		key_init(&a, 'E');
		key_u32(&a, (uint32_t)x);
		key_init(&b, 'E');
		key_u32(&b, (uint32_t)y);
		bad += ((uint32_t)x < (uint32_t)y) != (key_cmp(&a, &b) < 0);
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* 256 sorts after 255, as a host-endian key would not */
	key_init(&a, 'E');
	key_u64(&a, 255);
	key_init(&b, 'E');
	key_u64(&b, 256);
	CU_ASSERT(key_cmp(&a, &b) < 0);
	CU_ASSERT_EQUAL(get_be64(a.b + 1), 255);
}

static void test_composite_keys_sort_by_first_component(void)
{
	store_key a, b;

	/* ("a", "z") < ("ab", "a"): the NUL ends the first id */
	key_init(&a, 'P');
	key_str(&a, "a");
	key_str(&a, "z");
	key_init(&b, 'P');
	key_str(&b, "ab");
	key_str(&b, "a");
	CU_ASSERT(key_cmp(&a, &b) < 0);
	/* a prefix for "a" does not cover "ab"'s entries */
	key_init(&a, 'P');
	key_str(&a, "a");
	CU_ASSERT(memcmp(b.b, a.b, a.len) != 0);
	/* class byte first */
	key_init(&a, 'A');
	key_str(&a, "zzz");
	key_init(&b, 'B');
	key_str(&b, "a");
	CU_ASSERT(key_cmp(&a, &b) < 0);
}

static void test_overlong_key_is_invalid(void)
{
	char id[600];
	store_key k;

	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	key_init(&k, 'A');
	key_str(&k, id);
	CU_ASSERT_EQUAL(key_ok(&k), STORE_INVALID);
	key_init(&k, 'A');
	key_str(&k, NULL);
	CU_ASSERT_EQUAL(key_ok(&k), STORE_INVALID);
	key_init(&k, 'A');
	key_str(&k, "ok");
	CU_ASSERT_EQUAL(key_ok(&k), STORE_OK);
}

static void test_token_round_trip_is_url_safe(void)
{
	unsigned seed = 99;
	store_key k, d;
	size_t len, i;
	int bad = 0;

	for (len = 1; len <= STORE_KEY_MAX; len++) {
		char *tok;

		k.len = len;
		for (i = 0; i < len; i++)
			k.b[i] = (uint8_t)rand_r(&seed);
		tok = store_token_encode(k.b, k.len);
		bad += strpbrk(tok, "+/=") != NULL;
		bad += store_token_decode(tok, &d) != 0;
		bad += d.len != k.len || memcmp(d.b, k.b, len) != 0;
		free(tok);
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void test_bad_tokens_are_invalid(void)
{
	const char *bad[] = {"", "a", "!!!!", "ab=c", "abc+", "abc/", "QUJD\n", "QUJD QUJD"};
	char big[1024];
	store_key d;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(store_token_decode(bad[i], &d), STORE_INVALID);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(store_token_decode(big, &d), STORE_INVALID);
}

static CU_TestInfo tests[] = {
	{"big-endian ints sort numerically", test_big_endian_ints_sort_numerically},
	{"composite keys sort by first component", test_composite_keys_sort_by_first_component},
	{"overlong key is invalid", test_overlong_key_is_invalid},
	{"token round trip is url-safe", test_token_round_trip_is_url_safe},
	{"bad tokens are invalid", test_bad_tokens_are_invalid},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"storage_keys", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
