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
#include "order_effects.h"
#include "order_record.h"
#include "quote.h"
#include "xalloc.h"

#define SWEEP_BATCH 128

typedef struct sweep_pass {
	int64_t now;
	char ids[SWEEP_BATCH][QUOTE_ID_MAX];
	size_t n;
	int timed_out;
} sweep_pass;

static int apply_sweep(store_txn *w, void *arg)
{
	sweep_pass *p = arg;
	int rc = 0;

	p->timed_out = 0; /* apply may run twice */
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		store_order *o = NULL;
		orders_strings orig;
		rc = store_order_get(w, p->ids[i], &o);
		if (rc == STORE_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		orig = orders_strings_save(o);
		if (orders_overdue(
			    o, p->now)) { /* still pending: not paid or canceled since the scan */
			rc = orders_end(w, o, OSTATUS(TIMED_OUT), "not paid within 24 hours",
					p->now);
			if (rc == 0)
				rc = store_order_put(w, o, 0);
			if (rc == 0)
				p->timed_out++;
		}
		orders_strings_restore(o, &orig);
		store_record_free(o);
	}
	return rc;
}

int orders_sweep(store_env *env, int64_t now)
{
	sweep_pass *p = xcalloc(1, sizeof(*p));
	int total = 0, rc = 0;

	for (;;) {
		store_txn *txn = NULL;
		store_list l = {0};
		rc = store_read_begin(env, &txn);
		if (rc)
			break;
		rc = store_order_pending_before(txn, now - ORDER_PAY_WINDOW_US + 1, SWEEP_BATCH,
						&l);
		store_read_end(txn);
		if (rc)
			break;
		p->now = now;
		p->n = 0;
		for (size_t i = 0; i < l.n; i++)
			snprintf(p->ids[p->n++], QUOTE_ID_MAX, "%s",
				 ((store_order *)l.items[i])->order_id);
		store_list_free(&l);
		if (p->n == 0)
			break;
		rc = store_write_sync(env, apply_sweep, p);
		if (rc)
			break;
		total += p->timed_out;
		if (p->n < SWEEP_BATCH || p->timed_out == 0)
			break;
	}
	free(p);
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
