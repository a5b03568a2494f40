/*
 * scheduler.c: the renewal scheduler (see scheduler.h). A run works in
 * rounds: a round takes the AUTO items whose attempt time (due - lead) has
 * come, from the due-time index, soonest first; runs phase 1 for all of
 * them as separate mutations submitted together (one group commit), and
 * hands those that need a charge to the payment engine (order_payment.h:
 * phases 2 and 3, off-session), waiting for them. The test clock's jump moves the clock to the
 * next attempt time before each round, so attempts run in time order.
 */
#include "scheduler.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autorenew.h"
#include "billingd.h"
#include "invoices.h"
#include "catalog.h"
#include "clock.h"
#include "credits.h"
#include "enums.h"
#include "event_sources.h"
#include "items.h"
#include "log.h"
#include "order_effects.h"
#include "order_payment.h"
#include "observe.h"
#include "payments/provider.h"
#include "pricing.h"
#include "quote.h"
#include "xalloc.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define ROUND_MAX 256   /* items per round */
#define ATTEMPTS_MAX 64 /* derived ids tried for one period */
#define ITEM_REF_MAX 80

static int64_t lead_us = 24 * HOUR_US;
static int64_t retry_us[SCHEDULER_MAX_RETRIES] = {PRICING_DAY_US, 2 * PRICING_DAY_US,
						  4 * PRICING_DAY_US};
static size_t n_retry = 3;
static int interval_s = 60;

/* One run at a time: the thread's scan and AdvanceClock's jump. */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

void scheduler_set_lead(int64_t us)
{
	lead_us = us > 0 ? us : 0;
}

int64_t scheduler_lead(void)
{
	return lead_us;
}

void scheduler_set_retries(const int64_t *offsets_us, size_t n)
{
	n_retry = n < SCHEDULER_MAX_RETRIES ? n : SCHEDULER_MAX_RETRIES;
	for (size_t i = 0; i < n_retry; i++)
		retry_us[i] = offsets_us[i];
}

void scheduler_set_interval(int seconds)
{
	interval_s = seconds > 0 ? seconds : 1;
}

void scheduler_order_id(const char *item_id, int64_t expires_at, int attempt, char out[48])
{
	unsigned char in[ITEM_REF_MAX + 13], md[SHA256_DIGEST_LENGTH];
	size_t n = strnlen(item_id, ITEM_REF_MAX);
	static const char hex[] = "0123456789abcdef";

	memcpy(in, item_id, n);
	in[n++] = 0;
	for (int i = 7; i >= 0; i--)
		in[n++] = (unsigned char)((uint64_t)expires_at >> (8 * i));
	for (int i = 3; i >= 0; i--)
		in[n++] = (unsigned char)((uint32_t)attempt >> (8 * i));
	SHA256(in, n, md);
	memcpy(out, "ord_ar_", 7);
	for (int i = 0; i < 16; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[39] = 0;
}

/* ------------------------------------------------------------------------ */
/* Item state                                                                */

/* Has the chosen term ended before the period starting at expires_at? */
static int term_over(const store_auto_renew *ar, int64_t expires_at)
{
	return (ar->cycles > 0 && ar->cycles_done >= ar->cycles) ||
	       (ar->until > 0 && expires_at + PRICING_MONTH_US > ar->until);
}

/* Auto-renew off: the item keeps its expiry and simply expires. */
static void switch_off(store_item *it)
{
	it->auto_renew->enabled = 0;
	it->auto_renew->next_attempt = 0;
	it->renew_mode = RENEW(MANUAL);
}

/* The order engine's settle hook (registered by scheduler_init()): keeps an
 * item's auto-renew state in step with the outcome of its AUTO_RENEWAL
 * order, in the transaction that settles it. succeeded != 0: cycle done,
 * retries cleared, end conditions checked; else a failed attempt: the next
 * retry scheduled or auto-renew off. Other orders are left alone. 0 or a
 * STORE_* code. */
static int order_settled(store_txn *w, const store_order *o, int succeeded, int64_t now)
{
	const store_line *l = o->n_lines ? o->lines[0] : NULL;
	store_item *it = NULL;
	store_auto_renew *ar;
	int rc;

	if (o->type != OTYPE(AUTO_RENEWAL) || !l)
		return 0;
	rc = store_item_get(w, l->item_id, &it);
	if (rc)
		return rc == STORE_NOTFOUND ? 0 : rc;
	ar = it->auto_renew;
	if (!ar || !ar->enabled)
		goto done;
	if (succeeded) {
		ar->cycles_done++;
		ar->failed_attempts = 0;
		ar->next_attempt = 0;
		if (term_over(ar, it->expires_at))
			switch_off(it);
	} else if (it->expires_at == l->current_expires_at) {
		size_t k = (size_t)ar->failed_attempts++;
		if (k >= n_retry) {
			switch_off(it);
		} else {
			/* Retry k is due retry_us[k] after the period's due time, and
			 * never sooner than the gap between two retries from now (a
			 * late first attempt keeps its spacing). */
			int64_t gap = retry_us[k] - (k ? retry_us[k - 1] : 0);
			int64_t at = it->expires_at + retry_us[k];
			ar->next_attempt = at > now + lead_us + gap ? at : now + lead_us + gap;
		}
	} else {
		goto done; /* the item was renewed since: this failure is moot */
	}
	rc = store_item_put(w, it, 0);
done:
	store_record_free(it);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* One attempt                                                               */

typedef struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t pending;
} batch;

typedef struct attempt {
	store_mutation m;
	batch *b;
	char item_id[ITEM_REF_MAX];
	int64_t now;
	/* outputs, reset by every apply */
	int rc;
	int ran;      /* an attempt (order) was made or resumed */
	int progress; /* the item moved on in the index (settled, off) */
	int charge;   /* phase 2 needed */
	int resumed;  /* the order was found in flight (crash, lost answer) */
	char order_id[QUOTE_ID_MAX];
	pay_result res;
} attempt;

static void set_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* The order needs phases 2 and 3 (the payment engine reads it). */
static void want_charge(attempt *a, const store_order *o)
{
	(void)o;
	a->ran = 1;
	a->charge = 1;
}

/* Why the renewal of `it` cannot be charged (NULL if it can), and its price. */
static int price_attempt(store_txn *w, const store_project *p, const store_item *it, int model,
			 store_line *l, char currency[8], const char **why)
{
	const store_auto_renew *ar = it->auto_renew;
	store_price *price = NULL;
	char note[160];
	int rc, free_item = 0, ok;

	*why = NULL;
	if ((ar->payment_method != METHOD(STRIPE) && ar->payment_method != METHOD(CREDITS)) ||
	    !catalog_model_allows(model, ar->payment_method)) {
		*why = "method_not_allowed";
		return 0;
	}
	ok = autorenew_payer_allowed(w, p, ar->payer_id, ar->payment_method, note, sizeof(note));
	if (ok < 0)
		return ok;
	if (!ok) {
		*why = "payer_not_permitted";
		return 0;
	}
	if (ar->payment_method == METHOD(STRIPE) &&
	    (!ar->stripe_payment_method_id[0] || !ar->stripe_customer_id[0])) {
		*why = "no_saved_payment_method";
		return 0;
	}
	rc = items_is_free(w, p, it, &free_item);
	if (rc == 0)
		rc = store_price_get(w, p->type, it->service_type, &price);
	if (rc == STORE_NOTFOUND && free_item)
		rc = 0;
	else if (rc == STORE_NOTFOUND)
		*why = "no_price";
	if (rc)
		return rc == STORE_NOTFOUND ? 0 : rc;
	l->free = free_item;
	if (model == MODEL(CREDITS)) {
		l->unit_credits = price ? price->monthly_credits : 0;
		l->credits = free_item ? 0 : l->unit_credits;
	} else {
		l->unit_amount = price ? price->monthly_amount : 0;
		l->amount = free_item ? 0 : l->unit_amount;
		set_str(currency, 8, price ? price->currency : "");
	}
	store_record_free(price);
	return 0;
}

/* The tax of a renewal's one line (invoices.h), added to what it charges
 * when prices exclude it; place[0..1] hold the place of supply. */
static int attempt_tax(store_txn *w, store_order *o, store_line *line, int credits,
		       char place[2][TAX_REGION_LEN])
{
	store_line *lines[1] = {line};
	int64_t tax = 0, charged = 0;
	tax_decision d;
	int rc = invoice_tax_decide(w, OTYPE(AUTO_RENEWAL), o->payment_method, o->bill_country,
				    o->bill_region, o->bill_tax_id, &d);

	if (rc != 0)
		return rc;
	if (invoice_tax_apply(&d, lines, 1, credits, 0, &tax, &charged) != 0)
		return STORE_INVALID;
	snprintf(place[0], TAX_REGION_LEN, "%s", d.country);
	snprintf(place[1], TAX_REGION_LEN, "%s", d.region);
	o->tax_treatment = d.treatment;
	o->tax_rate_bp = d.rate_bp;
	o->tax_inclusive = d.inclusive;
	o->tax_country = place[0];
	o->tax_region = place[1];
	o->tax_total = tax;
	if (credits)
		o->credits_total = charged;
	else
		o->total = charged;
	return 0;
}

/* Phase 1 for a new attempt: creates order `a->order_id` for the period
 * starting at it->expires_at and settles it at once unless it needs a
 * provider call. */
static int place_attempt(store_txn *w, attempt *a, const store_item *it)
{
	const store_auto_renew *ar = it->auto_renew;
	store_order o = STORE_ORDER_INIT;
	store_line line = STORE_LINE_INIT, *lines[1] = {&line};
	store_project *p = NULL;
	char *projects[1], transfer[40] = "", currency[8] = "";
	char tax_place[2][TAX_REGION_LEN];
	const char *why = NULL;
	int64_t base;
	int model, rc;

	rc = store_project_get(w, it->project_id, &p);
	if (rc)
		return rc;
	model = catalog_payment_model(p->type, p->created_at, billingd.cfg.cutover_us);
	/* On time (or a retry within the period): the period starts at the
	 * expiry. An item that expired before auto-renew reached it restarts
	 * from now, as a manual renewal would (R8). */
	base = it->expires_at;
	if ((base <= a->now && ar->failed_attempts == 0) || base + PRICING_MONTH_US <= a->now)
		base = a->now;
	line.item_id = it->item_id;
	line.project_id = it->project_id;
	line.service_type = it->service_type;
	line.item_create_seq = it->create_seq;
	line.current_expires_at = it->expires_at;
	line.new_expires_at = base + PRICING_MONTH_US;
	line.days = PRICING_MONTH_DAYS;
	rc = price_attempt(w, p, it, model, &line, currency, &why);
	if (rc)
		goto done;
	o.currency = currency;
	o.order_id = a->order_id;
	o.type = OTYPE(AUTO_RENEWAL);
	o.status = OSTATUS(PROCESSING);
	o.payer_id = ar->payer_id;
	o.installer_id = p->installer_id;
	o.project_type = p->type;
	o.n_lines = 1;
	o.lines = lines;
	o.subtotal = o.total = model == MODEL(CREDITS) ? line.credits : line.amount;
	o.credits_total = model == MODEL(CREDITS) ? line.credits : 0;
	if (model == MODEL(CREDITS))
		o.total = 0;
	/* billed and taxed as the order that turned auto-renewal on */
	o.bill_name = ar->bill_name;
	o.bill_email = ar->bill_email;
	o.bill_company = ar->bill_company;
	o.bill_address = ar->bill_address;
	o.bill_country = ar->bill_country;
	o.bill_region = ar->bill_region;
	o.bill_tax_id = ar->bill_tax_id;
	if (!why && (rc = attempt_tax(w, &o, &line, model == MODEL(CREDITS), tax_place)) != 0)
		goto done;
	o.payment_method = ar->payment_method;
	o.provider_key = a->order_id;
	o.stripe_payment_method_id = ar->stripe_payment_method_id;
	o.stripe_customer_id = ar->stripe_customer_id;
	o.create_time = a->now;
	o.update_time = a->now;
	o.action = ACTION(RENEW);
	projects[0] = it->project_id;
	o.project_ids = projects;
	o.n_project_ids = 1;
	o.actor_id = "scheduler";
	o.transfer_id = transfer;
	a->ran = 1;
	rc = events_order(w, EV_ORDER_CREATED, &o);
	if (rc) {
		/* order.created not recorded: the attempt rolls back */
	} else if (why) {
		rc = orders_end(w, &o, OSTATUS(FAILED), why, a->now);
		a->progress = 1;
	} else if (o.total == 0 && o.credits_total == 0) {
		rc = orders_succeed(w, &o, a->now);
		a->progress = 1;
	} else if (o.payment_method == METHOD(CREDITS)) {
		rc = credits_spend(w, o.payer_id, o.credits_total, o.order_id, o.actor_id,
				   transfer);
		if (rc == LEDGER_INSUFFICIENT)
			rc = orders_end(w, &o, OSTATUS(FAILED), "insufficient_credits", a->now);
		else if (rc == 0)
			rc = orders_succeed(w, &o, a->now);
		a->progress = 1;
	} else {
		o.sandbox = pay_provider_current()->sandbox;
		want_charge(a, &o);
	}
	if (rc == 0)
		rc = store_order_put(w, &o, 1);
done:
	store_record_free(p);
	return rc;
}

/* Phase 1: everything that can be decided in one write transaction. */
static int apply_begin(store_txn *w, void *arg)
{
	attempt *a = arg;
	store_item *it = NULL;
	store_order *o = NULL;
	int64_t due;
	int rc, k;

	a->ran = a->progress = a->charge = a->resumed = 0;
	rc = store_item_get(w, a->item_id, &it);
	if (rc)
		return rc == STORE_NOTFOUND ? 0 : rc;
	due = store_item_auto_due(it);
	if (!due || due - lead_us > a->now)
		goto done; /* no longer due: renewed or switched off meanwhile */
	if (it->status != STORE_ITEM_ACTIVE || term_over(it->auto_renew, it->expires_at)) {
		switch_off(it);
		rc = store_item_put(w, it, 0);
		a->progress = 1;
		goto done;
	}
	/* The first attempt of this period not already ended; an attempt in
	 * flight (a crash or a lost answer between phases) is resumed. */
	for (k = 0; k < ATTEMPTS_MAX; k++) {
		scheduler_order_id(it->item_id, it->expires_at, k, a->order_id);
		rc = store_order_get(w, a->order_id, &o);
		if (rc == STORE_NOTFOUND)
			break;
		if (rc)
			goto done;
		if (o->status == OSTATUS(PROCESSING) || o->status == OSTATUS(PENDING_PAYMENT)) {
			want_charge(a, o);
			a->resumed = 1;
			goto done;
		}
		if (o->status == OSTATUS(SUCCEEDED)) {
			/* Cannot happen: success moves expires_at in the same txn. */
			log_error("auto-renew: order %s of item %s succeeded but the item was not "
				  "extended; auto-renew switched off",
				  o->order_id, it->item_id);
			k = ATTEMPTS_MAX;
			break;
		}
		store_record_free(o);
		o = NULL;
	}
	if (k == ATTEMPTS_MAX) {
		switch_off(it);
		rc = store_item_put(w, it, 0);
		a->progress = 1;
		goto done;
	}
	rc = place_attempt(w, a, it);
done:
	store_record_free(o);
	store_record_free(it);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Rounds                                                                    */

static void attempt_done(void *arg, int rc)
{
	attempt *a = arg;
	batch *b = a->b;
	a->rc = rc;
	pthread_mutex_lock(&b->lock);
	if (--b->pending == 0)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Submits apply for every attempt at once (the writer group-commits them,
 * each in its own nested transaction) and waits. */
static void run_batch(attempt *as, size_t n, int (*apply)(store_txn *, void *))
{
	batch b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n};

	for (size_t i = 0; i < n; i++) {
		attempt *a = &as[i];
		memset(&a->m, 0, sizeof(a->m));
		a->m.apply = apply;
		a->m.done = attempt_done;
		a->m.arg = a;
		a->b = &b;
		if (store_submit(billingd.store, &a->m) != 0)
			attempt_done(a, STORE_INVALID);
	}
	pthread_mutex_lock(&b.lock);
	while (b.pending > 0)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
}

/* A renewal's phases 2 and 3 are over (a payment-engine worker, or the
 * writer thread): the answer, and whether the order settled. */
static void charged(void *arg, void *item, const pay_outcome *out)
{
	attempt *a = item;
	(void)arg;
	a->res = out->res;
	if (out->rc)
		a->rc = out->rc;
	a->progress = out->rc == 0 && out->status != OSTATUS(PROCESSING) &&
		      out->status != OSTATUS(PENDING_PAYMENT);
}

/* Phases 2 and 3 of every attempt that needs a charge, through the payment
 * engine (off-session: payments/provider.h, order_payment.h), waited for. */
static void charge_all(attempt *as, size_t n)
{
	pay_batch b;
	pay_batch_init(&b, charged, NULL);
	for (size_t i = 0; i < n; i++)
		if (as[i].charge &&
		    pay_batch_submit_at(&b, as[i].order_id,
					as[i].resumed ? PAY_OP_RESUME : PAY_OP_CREATE, as[i].now,
					&as[i]) != 0)
			as[i].rc = STORE_IO;
	pay_batch_wait(&b);
}

/* Item ids that made no progress in this run (a provider that did not
 * answer, a storage error): not retried before the next run. */
typedef struct skipset {
	char (*ids)[ITEM_REF_MAX];
	size_t n, cap;
} skipset;

static int skipped(const skipset *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0)
			return 1;
	return 0;
}

static void skip_add(skipset *s, const char *id)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		s->ids = xrealloc(s->ids, cap * sizeof(*s->ids));
		s->cap = cap;
	}
	set_str(s->ids[s->n++], ITEM_REF_MAX, id);
}

/* Due items (due time < before), soonest first, minus the skipped ones. */
static int due_items(int64_t before, size_t max, const skipset *s, store_list *out)
{
	store_txn *txn = NULL;
	int rc = store_read_begin(billingd.store, &txn);
	if (rc == 0)
		rc = store_item_auto_due_before(txn, before, max + s->n, out);
	store_read_end(txn);
	if (rc)
		return rc;
	for (size_t i = 0, j = 0; i < out->n; i++) {
		store_item *it = out->items[i];
		if (skipped(s, it->item_id) || j >= max)
			store_record_free(it);
		else
			out->items[j++] = it;
		if (i + 1 == out->n) {
			out->n = j;
			break;
		}
	}
	return 0;
}

/* Runs one round at `now`: every attempt whose time has come, up to
 * ROUND_MAX. Returns the attempts that ran, or a negative STORE_* code. */
static int run_round(int64_t now, skipset *s)
{
	store_list l = {0};
	attempt *as;
	int ran = 0, resumed = 0, rc = due_items(now + lead_us + 1, ROUND_MAX, s, &l);

	if (rc || l.n == 0) {
		store_list_free(&l);
		return rc;
	}
	as = xcalloc(l.n, sizeof(*as));
	for (size_t i = 0; i < l.n; i++) {
		set_str(as[i].item_id, ITEM_REF_MAX, ((store_item *)l.items[i])->item_id);
		as[i].now = now;
	}
	run_batch(as, l.n, apply_begin);
	for (size_t i = 0; i < l.n; i++)
		if (as[i].rc != 0)
			as[i].charge = 0;
	charge_all(as, l.n);
	for (size_t i = 0; i < l.n; i++) {
		attempt *a = &as[i];
		if (a->rc != 0) {
			log_error("auto-renew of item %s: %s", a->item_id, store_strerror(a->rc));
			observe_renewal("error");
		} else if (a->charge && a->res.status == PAY_DECLINED) {
			log_info("auto-renew of item %s: order %s declined (%s)", a->item_id,
				 a->order_id, a->res.decline_code);
			observe_renewal("declined");
		} else if (a->charge && !a->progress) {
			log_warn("auto-renew of item %s: order %s has no answer from the provider; "
				 "it stays PROCESSING and is resumed on the next run",
				 a->item_id, a->order_id);
			observe_renewal("unknown");
		} else if (a->ran) {
			observe_renewal("succeeded");
		}
		ran += a->ran && a->rc == 0;
		resumed += a->resumed && a->rc == 0;
		if (a->rc != 0 || !a->progress)
			skip_add(s, a->item_id);
	}
	if (resumed)
		log_info("auto-renew: resumed %d orders found in flight (same ids, same provider "
			 "keys)",
			 resumed);
	free(as);
	store_list_free(&l);
	return ran;
}

void scheduler_init(void)
{
	orders_set_settle_hook(order_settled);
}

int scheduler_run_due(int64_t now)
{
	skipset s = {0};
	int ran = 0, n;

	scheduler_init();
	pthread_mutex_lock(&run_lock);
	while ((n = run_round(now, &s)) > 0)
		ran += n;
	pthread_mutex_unlock(&run_lock);
	free(s.ids);
	return n < 0 ? n : ran;
}

int scheduler_advance(int64_t from_us, int64_t to_us)
{
	skipset s = {0};
	int ran = 0;

	(void)from_us;
	scheduler_init();
	pthread_mutex_lock(&run_lock);
	for (;;) {
		store_list l = {0};
		int64_t now = clock_now_us(), at;
		int n;

		if (due_items(to_us + lead_us + 1, 1, &s, &l) != 0 || l.n == 0) {
			store_list_free(&l);
			break;
		}
		at = store_item_auto_due(l.items[0]) - lead_us;
		store_list_free(&l);
		if (at > now)
			now = clock_advance(at - now);
		events_sweep(now); /* expiries before this round, in time order */
		n = run_round(now, &s);
		if (n < 0)
			break;
		ran += n;
	}
	pthread_mutex_unlock(&run_lock);
	free(s.ids);
	return ran;
}

/* ------------------------------------------------------------------------ */
/* The thread                                                                */

static pthread_mutex_t thr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thr_cond = PTHREAD_COND_INITIALIZER;
static pthread_t thr;
static int thr_running, thr_stop;

static void *scheduler_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&thr_lock);
	while (!thr_stop) {
		struct timespec ts;
		pthread_mutex_unlock(&thr_lock);
		if (!clock_is_test()) {
			int n = scheduler_run_due(clock_now_us());
			if (n > 0)
				log_info("auto-renew: %d attempts", n);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += interval_s;
		pthread_mutex_lock(&thr_lock);
		while (!thr_stop && pthread_cond_timedwait(&thr_cond, &thr_lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&thr_lock);
	return NULL;
}

int scheduler_start(void)
{
	int rc = 0;
	scheduler_init();
	pthread_mutex_lock(&thr_lock);
	if (!thr_running) {
		thr_stop = 0;
		rc = pthread_create(&thr, NULL, scheduler_main, NULL) == 0 ? 0 : -1;
		thr_running = rc == 0;
	}
	pthread_mutex_unlock(&thr_lock);
	if (rc == 0)
		log_info("auto-renew scheduler: lead %lld h, scan every %d s%s",
			 (long long)(lead_us / HOUR_US), interval_s,
			 clock_is_test() ? " (test clock: runs in AdvanceClock)" : "");
	return rc;
}

void scheduler_stop(void)
{
	int running;
	pthread_mutex_lock(&thr_lock);
	running = thr_running;
	thr_stop = 1;
	thr_running = 0;
	pthread_cond_broadcast(&thr_cond);
	pthread_mutex_unlock(&thr_lock);
	if (running)
		pthread_join(thr, NULL);
}
