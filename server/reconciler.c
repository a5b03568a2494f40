/*
 * reconciler.c: the payment reconciler thread. See reconciler.h.
 *
 * A round: read pages of orders (short read transactions), pick the
 * candidates, then hand each to the payment engine (order_payment.h) as a
 * CONFIRM job and wait for the round's jobs: the engine's one worker pool
 * asks the provider (no transaction held) and records the answer. Nothing
 * here blocks quotes or reads: they never wait for a provider call.
 */
#include "reconciler.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "enums.h"
#include "log.h"
#include "order_payment.h"
#include "store_order_scan.h"
#include "payments/provider.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "xalloc.h"

#define RECON_PAGE 500
#define RECON_MAX_PER_ROUND 4000

typedef struct candidate {
	store_order *o;
} candidate;

typedef struct round {
	candidate *c;
	size_t n;
	pthread_mutex_t lock;
} round;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int started;
	int stopping;
	long interval_ms;
	int64_t start_us;
	char **seen; /* PROCESSING ids of the previous round, sorted */
	size_t n_seen;
	reconciler_counts counts;
} rec = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int stopping(void)
{
	int s;
	pthread_mutex_lock(&rec.lock);
	s = rec.stopping;
	pthread_mutex_unlock(&rec.lock);
	return s;
}

static void count(uint64_t *field)
{
	pthread_mutex_lock(&rec.lock);
	(*field)++;
	pthread_mutex_unlock(&rec.lock);
}

void reconciler_counts_get(reconciler_counts *out)
{
	pthread_mutex_lock(&rec.lock);
	*out = rec.counts;
	pthread_mutex_unlock(&rec.lock);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int seen_before(const char *id)
{
	return rec.seen && bsearch(&id, rec.seen, rec.n_seen, sizeof(char *), cmp_str) != NULL;
}

static void seen_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static int has_provider_id(const store_order *o)
{
	return (o->stripe_payment_intent_id && o->stripe_payment_intent_id[0]) ||
	       (o->paypal_order_id && o->paypal_order_id[0]);
}

/* ------------------------------------------------------------------------ */
/* Asking: payment-engine jobs                                               */

/* Counts one answered job of a round. */
static void answered(void *arg, void *item, const pay_outcome *out)
{
	(void)arg;
	(void)item;
	count(&rec.counts.asked);
	if (!out->asked || out->rc != 0 || !out->applied)
		count(&rec.counts.unknown);
	else if (out->status == OSTATUS(PENDING_PAYMENT))
		count(&rec.counts.updated);
	else if (out->status != OSTATUS(PROCESSING))
		count(&rec.counts.settled);
}

/* ------------------------------------------------------------------------ */
/* A round                                                                   */

/* Reads the candidates into r (and the PROCESSING ids into *ids). */
static int collect(round *r, int first, char ***ids, size_t *n_ids)
{
	char *token = NULL;
	size_t cap = 0, icap = 0;
	int rc = 0;

	for (int page = 0; page < 100000 && r->n < RECON_MAX_PER_ROUND; page++) {
		store_txn *txn = NULL;
		store_list l = {0};
		rc = store_read_begin(billingd.store, &txn);
		if (rc == 0)
			rc = store_order_scan(txn, RECON_PAGE, token, &l);
		store_read_end(txn);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < l.n; i++) {
			store_order *o = l.items[i];
			int processing = o->status == OSTATUS(PROCESSING);
			int eligible;
			if (o->sandbox || (o->payment_method != METHOD(STRIPE) &&
					   o->payment_method != METHOD(PAYPAL)))
				continue;
			if (processing) {
				if (*n_ids == icap) {
					icap = icap ? icap * 2 : 64;
					*ids = xrealloc(*ids, icap * sizeof(char *));
				}
				(*ids)[(*n_ids)++] = xstrdup(o->order_id);
				eligible = first ? o->update_time <= rec.start_us
						 : seen_before(o->order_id);
			} else {
				eligible = o->status == OSTATUS(PENDING_PAYMENT) &&
					   has_provider_id(o);
			}
			if (!eligible || r->n >= RECON_MAX_PER_ROUND)
				continue;
			if (r->n == cap) {
				cap = cap ? cap * 2 : 64;
				r->c = xrealloc(r->c, cap * sizeof(*r->c));
			}
			r->c[r->n++].o = o;
			l.items[i] = NULL; /* now the round's */
		}
		if (l.next_page_token)
			token = xstrdup(l.next_page_token);
		store_list_free(&l);
		if (!token)
			break;
	}
	free(token);
	return rc;
}

static void run_round(int first)
{
	round r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	const pay_provider *p = pay_provider_current();
	char **ids = NULL;
	size_t n_ids = 0, asked = 0;
	pay_batch b;

	if (p->sandbox || !billingd.store)
		return;
	if (collect(&r, first, &ids, &n_ids) != 0)
		log_warn("reconciler: cannot scan the orders; will try again");
	if (ids)
		qsort(ids, n_ids, sizeof(char *), cmp_str);
	seen_free(rec.seen, rec.n_seen);
	rec.seen = ids;
	rec.n_seen = n_ids;
	if (r.n && first)
		log_info("reconciler: start-up: %zu unsettled order(s) to ask the provider about",
			 r.n);
	/* The payment engine's workers ask (one pool for every client); an
	 * order the provider asked us to leave alone a while is skipped. */
	pay_batch_init(&b, answered, NULL);
	for (size_t i = 0; i < r.n && !stopping(); i++) {
		const char *id = r.c[i].o->order_id;
		if (pay_engine_not_before(id))
			continue;
		if (pay_batch_submit(&b, id, PAY_OP_CONFIRM, NULL) == 0)
			asked++;
	}
	pay_batch_wait(&b);
	for (size_t i = 0; i < r.n; i++)
		store_record_free(r.c[i].o);
	free(r.c);
	pthread_mutex_destroy(&r.lock);
	count(&rec.counts.rounds);
	(void)asked;
}

static void *reconciler_main(void *arg)
{
	int first = 1;
	(void)arg;
	for (;;) {
		struct timespec until;
		if (stopping())
			break;
		run_round(first);
		first = 0;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += rec.interval_ms / 1000;
		until.tv_nsec += (rec.interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&rec.lock);
		while (!rec.stopping) {
			if (pthread_cond_timedwait(&rec.cond, &rec.lock, &until) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&rec.lock);
	}
	return NULL;
}

int reconciler_start(long interval_ms)
{
	pthread_condattr_t ca;
	int rc;

	pthread_mutex_lock(&rec.lock);
	if (rec.started) {
		pthread_mutex_unlock(&rec.lock);
		return 0;
	}
	rec.interval_ms = interval_ms > 0 ? interval_ms : RECONCILER_DEFAULT_INTERVAL_MS;
	rec.start_us = clock_now_us();
	rec.stopping = 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&rec.cond);
	pthread_cond_init(&rec.cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&rec.thread, NULL, reconciler_main, NULL);
	rec.started = rc == 0;
	pthread_mutex_unlock(&rec.lock);
	if (rc != 0) {
		log_error("reconciler: cannot start its thread");
		return -1;
	}
	log_info("reconciler: every %ld ms (and now, for orders left unsettled)", rec.interval_ms);
	return 0;
}

void reconciler_stop(void)
{
	pthread_mutex_lock(&rec.lock);
	if (!rec.started) {
		pthread_mutex_unlock(&rec.lock);
		return;
	}
	rec.stopping = 1;
	pthread_cond_broadcast(&rec.cond);
	pthread_mutex_unlock(&rec.lock);
	pthread_join(rec.thread, NULL);
	pthread_mutex_lock(&rec.lock);
	rec.started = 0;
	seen_free(rec.seen, rec.n_seen);
	rec.seen = NULL;
	rec.n_seen = 0;
	pthread_mutex_unlock(&rec.lock);
}
