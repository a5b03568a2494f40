/* order_sweeper.c: the 24 h time-out of PENDING_PAYMENT orders. See
 * order_sweeper.h. */
#include "order_sweeper.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "billingd.h"
#include "clock.h"
#include "enums.h"
#include "log.h"
#include "order_payment.h"
#include "order_record.h"
#include "quote.h"
#include "xalloc.h"

#define SWEEP_BATCH 128

/* Counts the orders a pass timed out. */
static void expired(void *arg, void *item, const pay_outcome *out)
{
	(void)item;
	if (out->rc == 0 && out->applied && out->status == OSTATUS(TIMED_OUT))
		__atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

/* Each pass hands up to SWEEP_BATCH overdue orders to the payment engine
 * (EXPIRE: cancel at the provider first; one that was paid meanwhile
 * SUCCEEDS instead) and waits for them. */
int orders_sweep(store_env *env, int64_t now)
{
	int total = 0, rc = 0;

	for (;;) {
		store_txn *txn = NULL;
		store_list l = {0};
		pay_batch b;
		int timed_out = 0;
		size_t n;
		rc = store_read_begin(env, &txn);
		if (rc)
			break;
		rc = store_order_pending_before(txn, now - ORDER_PAY_WINDOW_US + 1, SWEEP_BATCH,
						&l);
		store_read_end(txn);
		if (rc)
			break;
		n = l.n;
		pay_batch_init(&b, expired, &timed_out);
		for (size_t i = 0; i < l.n; i++)
			pay_batch_submit_at(&b, ((store_order *)l.items[i])->order_id,
					    PAY_OP_EXPIRE, now, NULL);
		store_list_free(&l);
		pay_batch_wait(&b);
		total += timed_out;
		if (n < SWEEP_BATCH || timed_out == 0)
			break;
	}
	return rc ? rc : total;
}

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running, stop;
} sweeper = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *sweeper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sweeper.lock);
	while (!sweeper.stop) {
		struct timespec until;
		int n;
		pthread_mutex_unlock(&sweeper.lock);
		n = orders_sweep(billingd.store, clock_now_us());
		if (n > 0)
			log_info("orders: %d pending order(s) timed out after 24 h", n);
		else if (n < 0)
			log_error("orders: time-out sweep failed: %s", store_strerror(n));
		pthread_mutex_lock(&sweeper.lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ORDER_SWEEP_INTERVAL_S;
		while (!sweeper.stop &&
		       pthread_cond_timedwait(&sweeper.cond, &sweeper.lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&sweeper.lock);
	return NULL;
}

void orders_sweeper_start(void)
{
	if (sweeper.running)
		return;
	sweeper.stop = 0;
	sweeper.running = pthread_create(&sweeper.thread, NULL, sweeper_main, NULL) == 0;
}

void orders_sweeper_stop(void)
{
	if (!sweeper.running)
		return;
	pthread_mutex_lock(&sweeper.lock);
	sweeper.stop = 1;
	pthread_cond_signal(&sweeper.cond);
	pthread_mutex_unlock(&sweeper.lock);
	pthread_join(sweeper.thread, NULL);
	sweeper.running = 0;
}
