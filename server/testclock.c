/*
 * testclock.c: AdminService.AdvanceClock and the persistence of the test
 * clock (R18). With --test-clock the clock starts where the last run left it
 * (meta "test_clock_us"), or at the real time on a new store, and moves only
 * here (clock_record.c decides whether a store may start on it). Renewals falling due inside the jump are run, in time order, by the
 * scheduler before the call returns.
 */
#include <pthread.h>
#include <stdint.h>

#include "billingd.h"
#include "clock.h"
#include "event_sources.h"
#include "handler.h"
#include "log.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "scheduler.h"
#include "testclock.h"
#include "write.h"

#define META_TEST_CLOCK "test_clock_us"
#define MAX_JUMP_US (INT64_C(3660) * 86400 * 1000000) /* ten years */

static int apply_set_clock(store_txn *w, void *arg)
{
	return store_meta_set(w, META_TEST_CLOCK, (uint64_t) * (int64_t *)arg);
}

int testclock_start(void)
{
	store_txn *txn;
	uint64_t saved = 0;
	int64_t now = clock_now_us();
	if (store_read_begin(billingd.store, &txn) != 0)
		return -1;
	store_meta_get(txn, META_TEST_CLOCK, &saved);
	store_read_end(txn);
	if ((int64_t)saved > 0)
		now = (int64_t)saved;
	else if (store_write_sync(billingd.store, apply_set_clock, &now) != 0)
		return -1;
	clock_use_test(now);
	log_info("test clock at %lld us (moves only with AdminService.AdvanceClock)",
		 (long long)now);
	return 0;
}

/* Serialises AdvanceClock calls: one jump at a time. */
static pthread_mutex_t jump_lock = PTHREAD_MUTEX_INITIALIZER;

void rpc_AdminService_AdvanceClock(struct rpc_call *call,
				   const Smartplus__Billing__V1__AdvanceClockRequest *req)
{
	Smartplus__Billing__V1__AdvanceClockResponse r =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int64_t delta, from, to;
	int rc;

	if (!clock_is_test()) {
		rpc_fail(call, GRPC_STATUS_FAILED_PRECONDITION, REASON_TEST_CLOCK_DISABLED,
			 "billingd runs on the real clock; start it with --test-clock");
		return;
	}
	if (!req->duration || req->duration->seconds < 0 || req->duration->nanos < 0 ||
	    req->duration->seconds > MAX_JUMP_US / 1000000 ||
	    (req->duration->seconds == 0 && req->duration->nanos == 0)) {
		rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL,
			 "duration: positive, at most ten years");
		return;
	}
	delta = req->duration->seconds * 1000000 + req->duration->nanos / 1000;
	pthread_mutex_lock(&jump_lock);
	from = clock_now_us();
	to = from + delta;
	r.renewals_run = scheduler_advance(from, to);
	clock_advance(to - clock_now_us());
	events_after_jump(to);
	rc = store_write_sync(billingd.store, apply_set_clock, &to);
	pthread_mutex_unlock(&jump_lock);
	if (rc != 0) {
		handler_fail_store(call, rc);
		return;
	}
	ts.seconds = to / 1000000;
	ts.nanos = (int32_t)(to % 1000000) * 1000;
	r.now = &ts;
	rpc_reply(call, &r.base);
}
