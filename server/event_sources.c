/*
 * event_sources.c: the emitters that need the item and order modules (the
 * free flag of an item, the API Order), and the expiry sweep with the
 * events thread. See events.h.
 *
 * Why each expiry date is announced once: the sweep walks the expiry index
 * from a watermark (meta "expiry_swept_us", "expiring_swept_us") up to now
 * (or now + the warning window), moves the watermark in the mutation that
 * finishes the window, and emits with cause "expiry:<date>" /
 * "expiring:<date>", so an overlapping or repeated sweep (a crash between
 * two bounded steps) finds the events recorded and adds nothing. A date
 * set behind the soon watermark (an item activated for less than the
 * window) gets its item.expiring_soon from events_item() at once.
 */
#include "event_sources.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billingd.h"
#include "clock.h"
#include "enums.h"
#include "events.h"
#include "items.h"
#include "log.h"
#include "order_record.h"

#define SUBJECT_MAX 200
#define SWEEP_BATCH 500
#define THREAD_PERIOD_S 60

#define META_EXPIRED_SWEPT "expiry_swept_us"    /* expired: dates < it are done */
#define META_EXPIRING_SWEPT "expiring_swept_us" /* expiring_soon: dates < it done */

/* An expiry date already behind the expiring_soon watermark: announce it
 * now, as the sweep will not come back for it. */
static int expiring_now(store_txn *w, const store_item *it, int is_free)
{
	uint64_t swept = 0;
	char cause[48];
	int rc = store_meta_get(w, META_EXPIRING_SWEPT, &swept);

	if (rc != 0 || it->expires_at <= 0 || it->expires_at >= (int64_t)swept)
		return rc;
	snprintf(cause, sizeof(cause), "expiring:%" PRId64, it->expires_at);
	return events_item_emit(w, EV_ITEM_EXPIRING_SOON, it, is_free, cause, NULL);
}

int events_item(store_txn *w, const char *kind, const store_item *it, const char *cause,
		const char *actor)
{
	store_project *p = NULL;
	int is_free = 0, rc;

	if (!events_enabled())
		return 0;
	rc = store_project_get(w, it->project_id, &p);
	if (rc == 0)
		rc = items_is_free(w, p, it, &is_free);
	store_record_free(p);
	if (rc == STORE_NOTFOUND)
		rc = STORE_CORRUPT; /* an item's project is always there */
	if (rc == 0)
		rc = events_item_emit(w, kind, it, is_free, cause, actor);
	if (rc == 0 && (strcmp(kind, EV_ITEM_ACTIVATED) == 0 || strcmp(kind, EV_ITEM_RENEWED) == 0))
		rc = expiring_now(w, it, is_free);
	return rc;
}

int events_order_as(store_txn *w, const char *kind, const store_order *o, const char *cause)
{
	char subject[SUBJECT_MAX + 1];
	int credit = o->type == OTYPE(CREDIT_PURCHASE), rc;
	int group = o->group_id && o->group_id[0];
	const char *owner = credit ? o->beneficiary_id : o->installer_id;
	arena *a;

	if (!events_enabled())
		return 0;
	if (strncmp(kind, "renewal.", 8) == 0 && o->n_lines && !group)
		snprintf(subject, sizeof(subject), "items/%s", o->lines[0]->item_id);
	else
		snprintf(subject, sizeof(subject), "orders/%s", o->order_id);
	if (!owner || !owner[0])
		owner = o->payer_id; /* a renewal group's order across installers */
	a = arena_new();
	if (!a)
		return STORE_IO;
	rc = events_emit(w, kind, subject, cause, o->actor_id, owner, o->payer_id,
			 &orders_conv(a, o, clock_now_us())->base);
	arena_free(a);
	return rc;
}

int events_order(store_txn *w, const char *kind, const store_order *o)
{
	return events_order_as(w, kind, o, o->order_id);
}

static int coupon_redeemed(store_txn *w, const store_order *o)
{
	Smartplus__Billing__V1__CouponRedemption r =
		SMARTPLUS__BILLING__V1__COUPON_REDEMPTION__INIT;
	char subject[SUBJECT_MAX + 1];

	snprintf(subject, sizeof(subject), "coupons/%s", o->coupon_code);
	r.code = o->coupon_code;
	r.payer_id = o->payer_id;
	r.order_id = o->order_id;
	r.discount = o->discount;
	return events_emit(w, EV_COUPON_REDEEMED, subject, o->order_id, o->actor_id, o->payer_id,
			   o->installer_id[0] ? o->installer_id : NULL, &r.base);
}

int events_order_settled(store_txn *w, const store_order *o)
{
	int autorenew = o->type == OTYPE(AUTO_RENEWAL), rc = 0;
	const char *kind = o->status == OSTATUS(SUCCEEDED)   ? EV_ORDER_SUCCEEDED
			   : o->status == OSTATUS(FAILED)    ? EV_ORDER_FAILED
			   : o->status == OSTATUS(CANCELED)  ? EV_ORDER_CANCELED
			   : o->status == OSTATUS(TIMED_OUT) ? EV_ORDER_TIMED_OUT
							     : NULL;

	if (!events_enabled() || !kind)
		return 0;
	rc = events_order(w, kind, o);
	/* An off-session renewal the card wants authenticated (3-D Secure): the
	 * provider's requires_action, or Stripe's 402 authentication_required
	 * decline, both recorded as this reason. The payer must act. */
	/* (a renewal group's order has its renewal.* at each failed attempt:
	 * the scheduler's settle hook) */
	if (o->group_id && o->group_id[0])
		autorenew = 0;
	if (rc == 0 && autorenew && o->status == OSTATUS(FAILED) && o->failure_reason &&
	    strcmp(o->failure_reason, "authentication_required") == 0)
		rc = events_order(w, EV_RENEWAL_REQUIRES_ACTION, o);
	if (rc == 0 && autorenew &&
	    (o->status == OSTATUS(FAILED) || o->status == OSTATUS(TIMED_OUT)))
		rc = events_order(w, EV_RENEWAL_FAILED, o);
	if (o->status != OSTATUS(SUCCEEDED))
		return rc;
	/* the items as the order left them, after the order itself */
	for (size_t i = 0; rc == 0 && i < o->n_lines; i++) {
		store_item *it = NULL;
		rc = store_item_get(w, o->lines[i]->item_id, &it);
		if (rc == 0)
			rc = events_item(w,
					 o->type == OTYPE(ACTIVATION) ? EV_ITEM_ACTIVATED
								      : EV_ITEM_RENEWED,
					 it, o->order_id, o->actor_id);
		else if (rc == STORE_NOTFOUND)
			rc = 0; /* deleted since: nothing was extended */
		store_record_free(it);
	}
	if (rc == 0 && o->coupon_code[0])
		rc = coupon_redeemed(w, o);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The expiry sweep                                                          */

/* One bounded step of a sweep window. apply() may run twice (after a full
 * map), so it reads only the inputs and writes only the outputs. */
typedef struct sweep_step {
	/* in */
	int64_t now;
	int soon;       /* 0: item.expired, 1: item.expiring_soon */
	int resuming;   /* 0: start at the watermark; 1: at (pos, after) */
	int64_t pos;    /* resume at this date ... */
	char after[65]; /* ... after this item */
	/* out */
	int done;    /* the window is finished and the watermark moved */
	int emitted; /* events recorded (or found recorded) */
	int64_t next_pos;
	char next_after[65];
} sweep_step;

static int apply_sweep(store_txn *w, void *arg)
{
	sweep_step *s = arg;
	const char *meta = s->soon ? META_EXPIRING_SWEPT : META_EXPIRED_SWEPT;
	const char *kind = s->soon ? EV_ITEM_EXPIRING_SOON : EV_ITEM_EXPIRED;
	int64_t from, to = s->soon ? s->now + events_expiring_soon_us() + 1 : s->now + 1;
	store_list l = {0};
	uint64_t mark = 0;
	int rc;

	s->done = 0;
	s->emitted = 0;
	rc = store_meta_get(w, meta, &mark);
	if (rc != 0)
		return rc;
	from = s->resuming ? s->pos : (int64_t)mark;
	if (from >= to) {
		s->done = 1;
		return 0;
	}
	rc = store_item_expiring_range(w, from, s->resuming ? s->after : NULL, to, SWEEP_BATCH, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		const store_item *it = l.items[i];
		char cause[48];

		if (it->status != STORE_ITEM_ACTIVE || it->expires_at <= 0)
			continue;
		/* expiring soon only while it has not expired yet */
		if (s->soon && it->expires_at <= s->now)
			continue;
		snprintf(cause, sizeof(cause), "%s:%" PRId64, s->soon ? "expiring" : "expiry",
			 it->expires_at);
		rc = events_item(w, kind, it, cause, NULL);
		s->emitted++;
	}
	if (rc == 0 && l.n < SWEEP_BATCH) {
		if ((int64_t)mark < to)
			rc = store_meta_set(w, meta, (uint64_t)to);
		s->done = 1;
	} else if (rc == 0) {
		const store_item *last = l.items[l.n - 1];
		s->next_pos = last->expires_at;
		snprintf(s->next_after, sizeof(s->next_after), "%s", last->item_id);
	}
	store_list_free(&l);
	return rc;
}

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1 when no item expires in the step's window (a read: an idle sweep
 * writes nothing, so the watermark may lag behind; the dates it skips hold
 * no item, and new expiry dates are never in the past). */
static int window_empty(const sweep_step *s)
{
	const char *meta = s->soon ? META_EXPIRING_SWEPT : META_EXPIRED_SWEPT;
	int64_t to = s->soon ? s->now + events_expiring_soon_us() + 1 : s->now + 1;
	store_list l = {0};
	store_txn *txn = NULL;
	uint64_t mark = 0;
	int rc = store_read_begin(billingd.store, &txn), empty = 0;

	if (rc == 0)
		rc = store_meta_get(txn, meta, &mark);
	if (rc == 0)
		rc = store_item_expiring_range(txn, (int64_t)mark, NULL, to, 1, &l);
	empty = rc == 0 && l.n == 0;
	store_list_free(&l);
	store_read_end(txn);
	return empty;
}

int events_sweep(int64_t now)
{
	int total = 0, rc = 0;

	if (!events_enabled() || !billingd.store)
		return 0;
	pthread_mutex_lock(&sweep_lock);
	for (int soon = 0; rc == 0 && soon < 2; soon++) {
		sweep_step s;
		memset(&s, 0, sizeof(s));
		s.now = now;
		s.soon = soon;
		if (window_empty(&s))
			continue; /* nothing to announce: no write at all */
		for (;;) {
			rc = store_write_sync(billingd.store, apply_sweep, &s);
			if (rc != 0)
				break;
			total += s.emitted;
			if (s.done)
				break;
			/* stopped on the batch bound: resume after its last item */
			s.resuming = 1;
			s.pos = s.next_pos;
			memcpy(s.after, s.next_after, sizeof(s.after));
		}
	}
	pthread_mutex_unlock(&sweep_lock);
	if (rc != 0)
		log_error("events: expiry sweep: %s", store_strerror(rc));
	return rc != 0 ? rc : total;
}

/* Watermarks start at the first start-up's clock: dates before it are not
 * announced (a store upgraded to events does not replay its history). */
static int apply_init_marks(store_txn *w, void *arg)
{
	int64_t now = *(int64_t *)arg;
	uint64_t v = 0;
	int rc = store_meta_get(w, META_EXPIRED_SWEPT, &v);

	if (rc == 0 && v == 0)
		rc = store_meta_set(w, META_EXPIRED_SWEPT, (uint64_t)now);
	if (rc == 0)
		rc = store_meta_get(w, META_EXPIRING_SWEPT, &v);
	if (rc == 0 && v == 0)
		rc = store_meta_set(w, META_EXPIRING_SWEPT, (uint64_t)now);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The events thread                                                         */

void events_after_jump(int64_t now)
{
	events_sweep(now);
	events_prune(now);
}

static pthread_mutex_t thr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thr_cond = PTHREAD_COND_INITIALIZER;
static pthread_t thr;
static int thr_running, thr_stop;

static void *events_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&thr_lock);
	while (!thr_stop) {
		struct timespec ts;
		pthread_mutex_unlock(&thr_lock);
		if (!clock_is_test()) {
			int64_t now = clock_now_us();
			events_sweep(now);
			events_prune(now);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += THREAD_PERIOD_S;
		pthread_mutex_lock(&thr_lock);
		while (!thr_stop && pthread_cond_timedwait(&thr_cond, &thr_lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&thr_lock);
	return NULL;
}

/* 1 when both watermarks are set (a store that ran with events before). */
static int marks_set(void)
{
	store_txn *txn = NULL;
	uint64_t a = 0, b = 0;
	int rc = store_read_begin(billingd.store, &txn);

	if (rc == 0)
		rc = store_meta_get(txn, META_EXPIRED_SWEPT, &a);
	if (rc == 0)
		rc = store_meta_get(txn, META_EXPIRING_SWEPT, &b);
	store_read_end(txn);
	return rc == 0 && a && b;
}

int events_start(void)
{
	int64_t now = clock_now_us();

	/* no write at all on a store that has them (start-up writes nothing) */
	if (!marks_set() && store_write_sync(billingd.store, apply_init_marks, &now) != 0)
		return -1;
	events_hook_commits(billingd.store, 1);
	pthread_mutex_lock(&thr_lock);
	thr_stop = 0;
	if (!thr_running && pthread_create(&thr, NULL, events_main, NULL) == 0)
		thr_running = 1;
	pthread_mutex_unlock(&thr_lock);
	return thr_running ? 0 : -1;
}

void events_stop(void)
{
	pthread_mutex_lock(&thr_lock);
	if (!thr_running) {
		pthread_mutex_unlock(&thr_lock);
		return;
	}
	thr_stop = 1;
	pthread_cond_broadcast(&thr_cond);
	pthread_mutex_unlock(&thr_lock);
	pthread_join(thr, NULL);
	thr_running = 0;
	if (billingd.store)
		events_hook_commits(billingd.store, 0);
}
