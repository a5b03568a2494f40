/* clock_record.c: which clock a store runs on. See clock_record.h. */
#include "clock_record.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "billingd.h"
#include "clock.h"
#include "log.h"
#include "store.h"
#include "testclock.h"

#define META_CLOCK_KIND "clock_kind"
#define META_TEST_CLOCK "test_clock_us" /* testclock.c */
#define KIND_REAL 1
#define KIND_TEST 2

static int apply_kind(store_txn *w, void *arg)
{
	return store_meta_set(w, META_CLOCK_KIND, *(uint64_t *)arg);
}

/* "YYYY-MM-DDTHH:MM:SSZ" of unix micros. */
static const char *iso(int64_t us, char buf[32])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, 32, "%lld us", (long long)us);
	return buf;
}

static int64_t real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int clock_record_start(int test_clock, int convert)
{
	const char *dir = billingd.cfg.data_dir;
	uint64_t stored = 0, kind, high = 0, test_us = 0, want;
	int64_t now = real_now(), latest;
	char a[32], b[32];
	store_txn *txn;

	if (test_clock && convert) {
		log_error("--convert-test-clock turns a test-clock store into a real-clock one; it "
			  "does not go with --test-clock");
		return -1;
	}
	if (store_read_begin(billingd.store, &txn) != 0)
		return -1;
	store_meta_get(txn, META_CLOCK_KIND, &stored);
	store_meta_get(txn, STORE_META_CLOCK_HIGH, &high);
	store_meta_get(txn, META_TEST_CLOCK, &test_us);
	store_read_end(txn);
	kind = stored;
	if (!kind) /* written before this record existed, or a new store */
		kind = test_us || test_clock ? KIND_TEST : KIND_REAL;
	latest = (int64_t)(test_us > high ? test_us : high);
	want = kind;

	if (kind == KIND_TEST && !test_clock) {
		if (!convert) {
			log_error("the store in %s runs on a test clock (now %s; the real time is "
				  "%s): start billingd with --test-clock, or convert the store to "
				  "the real clock with --convert-test-clock",
				  dir, iso(latest, a), iso(now, b));
			return -1;
		}
		if (latest > now) {
			log_error("the store in %s runs on a test clock %lld s ahead of the real "
				  "clock (%s, real %s): converting it would move time backwards; "
				  "start it with --test-clock",
				  dir, (long long)((latest - now) / 1000000), iso(latest, a),
				  iso(now, b));
			return -1;
		}
		want = KIND_REAL;
		log_info("converting the store in %s from its test clock (%s) to the real clock",
			 dir, iso(latest, a));
	} else if (kind == KIND_REAL && test_clock) {
		log_error("the store in %s runs on the real clock: a test clock cannot be used on "
			  "it (start billingd without --test-clock)",
			  dir);
		return -1;
	}
	if (want == KIND_REAL) {
		clock_set_floor(latest);
		if (latest > now)
			log_warn("the system clock is %lld s behind the store's last write (%s): "
				 "the server's clock waits there rather than going back",
				 (long long)((latest - now) / 1000000), iso(latest, a));
	}
	if (want != stored && store_write_sync(billingd.store, apply_kind, &want) != 0) {
		log_error("cannot record the store's clock");
		return -1;
	}
	return want == KIND_TEST ? testclock_start() : 0;
}
