/*
 * scheduler.c: the renewal scheduler (see scheduler.h). A run works in
 * rounds; a round, at one time `now`:
 *   1. the open renewal orders whose next_attempt has come (retries, grace,
 *      the end, an attempt left in flight by a crash): one mutation each;
 *   2. the groups whose renewal.upcoming notice is due, and the payment
 *      requests whose quote expired;
 *   3. the AUTO items due (expires_at - lead), grouped into units — a
 *      group and an expiry — one mutation each, which places (or adds to)
 *      the group's order for that period, or a join;
 * all submitted together (one group commit), then the payment jobs they
 * asked for run through the payment engine (phases 2 and 3) and are waited
 * for. The test clock's jump moves the clock to the next due time before
 * each round, so everything runs in time order.
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
#include "grace.h"
#include "items.h"
#include "log.h"
#include "observe.h"
#include "order_effects.h"
#include "order_payment.h"
#include "order_record.h"
#include "payment_requests.h"
#include "payments/provider.h"
#include "pricing.h"
#include "quote.h"
#include "renewal_groups.h"
#include "store_renewal.h"
#include "xalloc.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define ROUND_MAX 256                          /* units and order steps per round */
#define UNIT_MAX_LINES 5000                    /* lines of one order (an answer stays small) */
#define RESUME_US (10 * 60 * INT64_C(1000000)) /* an attempt in flight is resumed after */
#define RECOVER_HOLD_US HOUR_US /* a retry waits this long after the buyer's RecoverRenewal */
#define ITEM_REF_MAX 80

static int64_t lead_us = 24 * HOUR_US;
static int64_t retry_us[SCHEDULER_MAX_RETRIES] = {PRICING_DAY_US, 2 * PRICING_DAY_US,
						  4 * PRICING_DAY_US};
static size_t n_retry = 3;
static int interval_s = 60;

/* One run at a time: the thread's scan and AdvanceClock's jump. */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;
static scheduler_counts counts;

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

void scheduler_counts_get(scheduler_counts *out)
{
	pthread_mutex_lock(&counts_lock);
	*out = counts;
	pthread_mutex_unlock(&counts_lock);
}

static void count_add(uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&counts_lock);
	*field += n;
	pthread_mutex_unlock(&counts_lock);
}

void scheduler_order_id(const char *group_id, int kind, int64_t start, int64_t end, char out[48])
{
	unsigned char in[GROUPS_ID_MAX + 20], md[SHA256_DIGEST_LENGTH];
	size_t n = strnlen(group_id, GROUPS_ID_MAX - 1);
	static const char hex[] = "0123456789abcdef";

	memcpy(in, group_id, n);
	in[n++] = 0;
	in[n++] = (unsigned char)kind;
	for (int i = 7; i >= 0; i--)
		in[n++] = (unsigned char)((uint64_t)start >> (8 * i));
	for (int i = 7; i >= 0; i--)
		in[n++] = (unsigned char)((uint64_t)end >> (8 * i));
	SHA256(in, n, md);
	memcpy(out, "ord_ar_", 7);
	for (int i = 0; i < 16; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[39] = 0;
}

static void set_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static int is_group_order(const store_order *o)
{
	return o->type == OTYPE(AUTO_RENEWAL) && o->group_id && o->group_id[0];
}

/* ------------------------------------------------------------------------ */
/* Item state                                                                */

/* Has the chosen term ended before a period from expires_at to end? */
static int term_over(const store_auto_renew *ar, int64_t expires_at, int64_t end)
{
	(void)expires_at;
	return (ar->cycles > 0 && ar->cycles_done >= ar->cycles) ||
	       (ar->until > 0 && end > ar->until);
}

/* Auto-renew off: the item leaves its group, keeps its expiry and simply
 * expires. */
static void switch_off(store_item *it)
{
	store_auto_renew *ar = it->auto_renew;
	ar->enabled = 0;
	ar->next_attempt = 0;
	ar->failed_attempts = 0;
	ar->unpaid_since = 0;
	store_str_set(&ar->group_id, "");
	store_str_set(&ar->order_id, "");
	it->renew_mode = RENEW(MANUAL);
}

/* When the scheduler acts on open group order o next: its retry, the start
 * of its grace (item.grace_started), the end of it. */
static int64_t next_step(const store_order *o)
{
	int64_t t = o->final_time;
	if (o->retry_at > 0 && o->retry_at < t)
		t = o->retry_at;
	if (!o->grace_noted && o->period_start > 0 && o->period_start < t)
		t = o->period_start;
	return t;
}

/* The time retry `k` (0-based) of o runs, from now. */
static int64_t retry_time(const store_order *o, size_t k, int64_t now)
{
	int64_t gap = retry_us[k] - (k ? retry_us[k - 1] : 0);
	int64_t at = o->period_start + retry_us[k] - lead_us;
	return at > now + gap ? at : now + gap;
}

/* The settle hook of a renewal-group order: its items' auto-renew state in
 * the settling transaction. succeeded 1: each applied line's item has moved
 * to the period's end (order_effects.c); cycle counted, retries and grace
 * cleared, the term checked. -1: the attempt failed and the order waits:
 * its next retry, the items in GRACE from their expiry. 0: the order ended
 * without paying (its grace is over, or it was canceled): its items leave
 * auto-renew. */
static int group_settled(store_txn *w, store_order *o, int succeeded, int64_t now)
{
	char cause[GROUPS_ORDER_ID_MAX + 16];
	int rc = 0;

	if (succeeded < 0) {
		size_t k = (size_t)o->retries;
		if (o->session == PAY_SESSION_ON && o->retry_at > 0)
			; /* the buyer's attempt failed: the schedule stays */
		else
			o->retry_at = k < n_retry ? retry_time(o, k, now) : 0;
		o->next_attempt = next_step(o);
		log_info("auto-renew: order %s attempt %d failed (%s); %s", o->order_id,
			 o->attempts, o->failure_reason,
			 o->retry_at ? "retry scheduled" : "no retry left");
		/* one renewal.failed per failed attempt (and renewal.requires_action
		 * when the card wants the buyer: 3-D Secure), in this transaction */
		snprintf(cause, sizeof(cause), "%s/a%d", o->order_id, o->attempts);
		if (o->failure_reason && strcmp(o->failure_reason, "authentication_required") == 0)
			rc = events_order_as(w, EV_RENEWAL_REQUIRES_ACTION, o, cause);
		if (rc == 0)
			rc = events_order_as(w, EV_RENEWAL_FAILED, o, cause);
	}
	for (size_t i = 0; rc == 0 && i < o->n_lines; i++) {
		const store_line *l = o->lines[i];
		store_item *it = NULL;
		store_auto_renew *ar;
		rc = store_item_get(w, l->item_id, &it);
		if (rc == STORE_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		ar = it->auto_renew;
		if (!ar || strcmp(ar->order_id, o->order_id) != 0) {
			store_record_free(it);
			continue; /* not held by this order any more */
		}
		if (succeeded > 0) {
			store_str_set(&ar->order_id, "");
			if (it->expires_at == l->new_expires_at) {
				/* a period, or a join of a whole month (an item
				 * restarting a group of its own), is a cycle */
				if (o->renewal_kind == SCHEDULER_PERIOD ||
				    l->days >= PRICING_MONTH_DAYS)
					ar->cycles_done++;
				count_add(&counts.items_extended, 1);
			}
			ar->failed_attempts = 0;
			ar->next_attempt = 0;
			ar->unpaid_since = 0;
			if (ar->enabled &&
			    term_over(ar, it->expires_at, it->expires_at + PRICING_MONTH_US))
				switch_off(it);
		} else if (succeeded < 0) {
			ar->failed_attempts = o->attempts;
			ar->unpaid_since = l->current_expires_at;
			ar->next_attempt = o->retry_at > 0 ? o->retry_at + lead_us : 0;
		} else {
			switch_off(it);
		}
		rc = store_item_put(w, it, 0);
		store_record_free(it);
	}
	return rc;
}

/* The same for an AUTO_RENEWAL order of one item placed before renewal
 * groups (its line's item alone): succeeded, retried, or off. */
static int legacy_settled(store_txn *w, store_order *o, int succeeded, int64_t now)
{
	const store_line *l = o->n_lines ? o->lines[0] : NULL;
	store_item *it = NULL;
	store_auto_renew *ar;
	int rc;

	if (!l)
		return 0;
	rc = store_item_get(w, l->item_id, &it);
	if (rc)
		return rc == STORE_NOTFOUND ? 0 : rc;
	ar = it->auto_renew;
	if (!ar || !ar->enabled)
		goto done;
	if (succeeded > 0) {
		ar->cycles_done++;
		ar->failed_attempts = 0;
		ar->next_attempt = 0;
		if (term_over(ar, it->expires_at, it->expires_at + PRICING_MONTH_US))
			switch_off(it);
	} else if (it->expires_at == l->current_expires_at) {
		size_t k = (size_t)ar->failed_attempts++;
		if (k >= n_retry) {
			switch_off(it);
		} else {
			int64_t gap = retry_us[k] - (k ? retry_us[k - 1] : 0);
			int64_t at = it->expires_at + retry_us[k];
			ar->next_attempt = at > now + lead_us + gap ? at : now + lead_us + gap;
		}
	} else {
		goto done;
	}
	rc = store_item_put(w, it, 0);
done:
	store_record_free(it);
	return rc;
}

/* The order engine's settle hook (registered by scheduler_init()). */
static int order_settled(store_txn *w, store_order *o, int succeeded, int64_t now)
{
	if (o->type != OTYPE(AUTO_RENEWAL))
		return 0;
	return is_group_order(o) ? group_settled(w, o, succeeded, now)
				 : legacy_settled(w, o, succeeded, now);
}

/* ------------------------------------------------------------------------ */
/* Work items: one mutation each, then maybe a payment job                   */

typedef struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t pending;
} batch;

enum { WORK_UNIT = 1, WORK_ORDER, WORK_NOTICE };

#define WORK_JOBS 2

typedef struct work {
	store_mutation m;
	batch *b;
	int kind;
	char ref[ITEM_REF_MAX]; /* UNIT: the item that led here; ORDER: order id; NOTICE: group */
	char group_id[GROUPS_ID_MAX];
	int64_t expires_at;
	int64_t now;
	/* outputs, reset by every apply */
	int rc;
	int progress; /* something moved on (else skipped for the rest of the run) */
	int attempts; /* payment attempts made (placements, retries) */
	int placed, joins, lines;
	int n_jobs;
	pay_op op[WORK_JOBS];
	char order_id[WORK_JOBS][GROUPS_ORDER_ID_MAX];
	int settled[WORK_JOBS]; /* the job's order left PROCESSING */
	pay_result res[WORK_JOBS];
} work;

static void want_job(work *u, pay_op op, const char *order_id)
{
	if (u->n_jobs >= WORK_JOBS)
		return;
	u->op[u->n_jobs] = op;
	set_str(u->order_id[u->n_jobs], GROUPS_ORDER_ID_MAX, order_id);
	u->n_jobs++;
}

static void reset_outputs(work *u)
{
	u->rc = u->progress = u->attempts = u->placed = u->joins = u->lines = u->n_jobs = 0;
}

/* ---- pricing the members of a unit ---- */

/* What a unit knows of one project of its members. */
typedef struct proj_info {
	store_project *p;
	int model;
	int payer_ok; /* R11 for the group's payer and method */
	items_free fr;
} proj_info;

typedef struct unit_ctx {
	store_txn *w;
	work *u;
	const store_group *g;
	int64_t now;
	arena *a;
	proj_info *projects;
	size_t n_projects, cap_projects;
	store_price *prices[4][16];
	unsigned char price_read[4][16];
	const char *currency; /* of the order's first money line */
	/* billed and taxed as the order that turned auto-renewal on for the
	 * first member priced (issue 17): name, email, company, address,
	 * country, region, tax id, from arena a */
	const char *bill[7];
	int bill_set;
} unit_ctx;

static void ctx_free(unit_ctx *c)
{
	for (size_t i = 0; i < c->n_projects; i++) {
		store_record_free(c->projects[i].p);
		items_free_release(&c->projects[i].fr);
	}
	free(c->projects);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 16; j++)
			store_record_free(c->prices[i][j]);
	arena_free(c->a);
}

static int project_of(unit_ctx *c, const char *project_id, proj_info **out)
{
	proj_info *pi;
	char why[200];
	int rc;

	for (size_t i = 0; i < c->n_projects; i++)
		if (strcmp(c->projects[i].p->project_id, project_id) == 0) {
			*out = &c->projects[i];
			return 0;
		}
	if (c->n_projects == c->cap_projects) {
		c->cap_projects = c->cap_projects ? 2 * c->cap_projects : 8;
		c->projects = xrealloc(c->projects, c->cap_projects * sizeof(*c->projects));
	}
	pi = &c->projects[c->n_projects];
	memset(pi, 0, sizeof(*pi));
	rc = store_project_get(c->w, project_id, &pi->p);
	if (rc)
		return rc;
	c->n_projects++;
	pi->model = catalog_payment_model(pi->p->type, pi->p->created_at, billingd.cfg.cutover_us);
	rc = autorenew_payer_allowed(c->w, pi->p, c->g->payer_id, c->g->payment_method, why,
				     sizeof(why));
	if (rc < 0)
		return rc;
	pi->payer_ok = rc;
	rc = items_free_load(c->w, pi->p, &pi->fr);
	*out = pi;
	return rc;
}

static int price_of(unit_ctx *c, int ptype, int stype, store_price **out)
{
	int rc = 0;
	*out = NULL;
	if (ptype < 0 || ptype >= 4 || stype < 0 || stype >= 16)
		return 0;
	if (!c->price_read[ptype][stype]) {
		rc = store_price_get(c->w, ptype, stype, &c->prices[ptype][stype]);
		if (rc == STORE_NOTFOUND)
			rc = 0;
		c->price_read[ptype][stype] = 1;
	}
	*out = c->prices[ptype][stype];
	return rc;
}

/*
 * The line of member it moving from its expiry (or, late: from now) to
 * end, into *l (strings borrowed from it and the context). Returns 0 with
 * *why NULL, 0 with *why set when the item cannot renew with its group (it
 * is switched off), or a STORE_* code.
 */
static int price_member(unit_ctx *c, const store_item *it, int kind, int64_t base, int64_t end,
			store_line *l, const char **why)
{
	const store_group *g = c->g;
	proj_info *pi = NULL;
	store_price *price = NULL;
	int64_t days = PRICING_MONTH_DAYS, unit, amount = 0;
	int rc, is_free, prc = 0;

	*why = NULL;
	if (term_over(it->auto_renew, it->expires_at, end)) {
		*why = "term_over";
		return 0;
	}
	if (!c->bill_set && it->auto_renew) {
		const store_auto_renew *ar = it->auto_renew;
		const char *from[7] = {ar->bill_name,    ar->bill_email,   ar->bill_company,
				       ar->bill_address, ar->bill_country, ar->bill_region,
				       ar->bill_tax_id};
		for (int i = 0; i < 7; i++)
			c->bill[i] = arena_strdup(c->a, from[i] ? from[i] : "");
		c->bill_set = 1;
	}
	rc = project_of(c, it->project_id, &pi);
	if (rc)
		return rc;
	if ((g->payment_method != METHOD(STRIPE) && g->payment_method != METHOD(CREDITS)) ||
	    !catalog_model_allows(pi->model, g->payment_method)) {
		*why = "method_not_allowed";
		return 0;
	}
	if (!pi->payer_ok) {
		*why = "payer_not_permitted";
		return 0;
	}
	if (g->payment_method == METHOD(STRIPE) &&
	    (!g->stripe_payment_method_id[0] || !g->stripe_customer_id[0])) {
		*why = "no_saved_payment_method";
		return 0;
	}
	is_free = items_free_has(&pi->fr, it->item_id);
	rc = price_of(c, pi->p->type, it->service_type, &price);
	if (rc)
		return rc;
	if (!price && !is_free) {
		*why = "no_price";
		return 0;
	}
	if (pi->model != MODEL(CREDITS) && price && price->currency[0]) {
		if (!c->currency)
			c->currency = price->currency;
		else if (strcmp(c->currency, price->currency) != 0) {
			*why = "currency_mismatch";
			return 0;
		}
	}
	if (kind == SCHEDULER_JOIN)
		prc = pricing_days_between(base, end, &days);
	unit = price ? (pi->model == MODEL(CREDITS) ? price->monthly_credits
						    : price->monthly_amount)
		     : 0;
	if (!prc && kind == SCHEDULER_PERIOD)
		amount = unit;
	else if (!prc)
		prc = pi->model == MODEL(CREDITS) ? pricing_days_credits(unit, days, &amount)
						  : pricing_days(unit, days, &amount);
	if (prc) {
		*why = "amount_out_of_range";
		return 0;
	}
	l->item_id = it->item_id;
	l->project_id = it->project_id;
	l->service_type = it->service_type;
	l->item_create_seq = it->create_seq;
	l->current_expires_at = it->expires_at;
	l->new_expires_at = end;
	l->days = (int32_t)days;
	l->free = is_free;
	if (pi->model == MODEL(CREDITS)) {
		l->unit_credits = unit;
		l->credits = is_free ? 0 : amount;
	} else {
		l->unit_amount = unit;
		l->amount = is_free ? 0 : amount;
	}
	return 0;
}

/* ---- placing ---- */

/* The members of one placement, and their lines. */
typedef struct placement {
	store_item **items;
	size_t n, cap;
} placement;

static void placement_add(placement *p, store_item *it)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->items = xrealloc(p->items, p->cap * sizeof(*p->items));
	}
	p->items[p->n++] = it;
}

/* When an order of lines from base fails for good: after its last retry,
 * and not before the longest grace of its lines' service types. */
static int64_t final_time_of(int64_t base, store_line **lines, size_t n)
{
	int64_t last = n_retry ? retry_us[n_retry - 1] : 0, f = base + last + HOUR_US;
	for (size_t i = 0; i < n; i++) {
		int64_t g = base + grace_of(lines[i]->service_type);
		if (g > f)
			f = g;
	}
	return f;
}

/* The tax of a renewal-group order over its lines (invoices.h), added to
 * what it charges when prices exclude it; the place of supply is kept in
 * arena a (o points at it). */
static int group_tax(store_txn *w, arena *a, store_order *o, int credits)
{
	char *place = arena_alloc(a, 2 * TAX_REGION_LEN);
	int64_t tax = 0, charged = 0;
	tax_decision d;
	int rc = invoice_tax_decide(w, OTYPE(AUTO_RENEWAL), o->payment_method, o->bill_country,
				    o->bill_region, o->bill_tax_id, &d);

	if (rc != 0)
		return rc;
	if (invoice_tax_apply(&d, o->lines, o->n_lines, credits, 0, &tax, &charged) != 0)
		return STORE_INVALID;
	snprintf(place, TAX_REGION_LEN, "%s", d.country);
	snprintf(place + TAX_REGION_LEN, TAX_REGION_LEN, "%s", d.region);
	o->tax_treatment = d.treatment;
	o->tax_rate_bp = d.rate_bp;
	o->tax_inclusive = d.inclusive;
	o->tax_country = place;
	o->tax_region = place + TAX_REGION_LEN;
	o->tax_total = tax;
	if (credits)
		o->credits_total = charged;
	else
		o->total = charged;
	return 0;
}

/* Sums lines into o's totals (money or credits). */
static void total_lines(store_order *o, int credits)
{
	int64_t sum = 0;
	for (size_t i = 0; i < o->n_lines; i++)
		sum += credits ? o->lines[i]->credits : o->lines[i]->amount;
	o->subtotal = sum;
	o->total = credits ? 0 : sum;
	o->credits_total = credits ? sum : 0;
}

/* The projects the lines touch (ListOrders' filter), from arena a. */
static void set_projects(arena *a, store_order *o)
{
	o->project_ids = arena_alloc(a, (o->n_lines + 1) * sizeof(char *));
	o->n_project_ids = 0;
	for (size_t i = 0; i < o->n_lines; i++) {
		const char *pid = o->lines[i]->project_id;
		size_t k = 0;
		while (k < o->n_project_ids && strcmp(o->project_ids[k], pid))
			k++;
		if (k == o->n_project_ids)
			o->project_ids[o->n_project_ids++] = (char *)pid;
	}
}

/* Prices the members in p for a placement of `kind` to `end` (late: from
 * now), switching off those that cannot renew with the group; the lines
 * from arena c->a into *lines. 0 or STORE_*. */
static int price_all(unit_ctx *c, placement *p, int kind, int late, int64_t end,
		     store_line ***lines, size_t *n_lines)
{
	store_line **ls = arena_alloc(c->a, (p->n + 1) * sizeof(*ls));
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < p->n && n < UNIT_MAX_LINES; i++) {
		store_item *it = p->items[i];
		store_line *l = arena_alloc(c->a, sizeof(*l));
		const char *why = NULL;
		smartplus__billing__store__v1__line_record__init(l);
		rc = price_member(c, it, kind, late ? c->now : it->expires_at, end, l, &why);
		if (rc)
			break;
		if (why) {
			log_warn("auto-renew: item %s cannot renew with group %s (%s); auto-renew "
				 "switched off",
				 it->item_id, c->g->group_id, why);
			switch_off(it);
			rc = store_item_put(c->w, it, 0);
			c->u->progress = 1;
			continue;
		}
		ls[n++] = l;
	}
	*lines = ls;
	*n_lines = n;
	return rc;
}

/* Marks the members that got a line as held by order_id. */
static int hold_members(unit_ctx *c, store_line **lines, size_t n, placement *p,
			const char *order_id)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		store_item *it = p->items[i];
		int has = 0;
		for (size_t k = 0; k < n && !has; k++)
			has = lines[k]->item_id == it->item_id;
		if (!has)
			continue;
		store_str_set(&it->auto_renew->order_id, order_id);
		rc = store_item_put(c->w, it, 0);
	}
	return rc;
}

/* Phase 1 of a new order of the group for lines moving from start (late:
 * from now) to end: the order PROCESSING, its items held, and either
 * settled at once (nothing to pay; credits) or a CREATE job. */
static int place_new(unit_ctx *c, placement *p, const char *id, int kind, int64_t start,
		     int64_t end, store_line **lines, size_t n, int late)
{
	const store_group *g = c->g;
	store_order o = STORE_ORDER_INIT;
	int credits = g->payment_method == METHOD(CREDITS);
	char transfer[40] = "";
	int64_t base = late ? c->now : start;
	int rc;

	o.order_id = (char *)id;
	o.type = OTYPE(AUTO_RENEWAL);
	o.status = OSTATUS(PROCESSING);
	o.payer_id = g->payer_id;
	o.lines = lines;
	o.n_lines = n;
	o.currency = (char *)(c->currency && !credits ? c->currency : "");
	total_lines(&o, credits);
	o.payment_method = g->payment_method;
	o.provider_key = (char *)id;
	o.stripe_payment_method_id = g->stripe_payment_method_id;
	o.stripe_customer_id = g->stripe_customer_id;
	o.create_time = c->now;
	o.update_time = c->now;
	o.action = ACTION(RENEW);
	o.actor_id = "scheduler";
	o.transfer_id = transfer;
	if (c->bill_set) {
		o.bill_name = (char *)c->bill[0];
		o.bill_email = (char *)c->bill[1];
		o.bill_company = (char *)c->bill[2];
		o.bill_address = (char *)c->bill[3];
		o.bill_country = (char *)c->bill[4];
		o.bill_region = (char *)c->bill[5];
		o.bill_tax_id = (char *)c->bill[6];
	}
	rc = group_tax(c->w, c->a, &o, credits);
	if (rc)
		return rc;
	/* one installer and type when the lines agree (a group may span many) */
	o.installer_id = "";
	for (size_t i = 0; i < c->n_projects; i++) {
		const store_project *pr = c->projects[i].p;
		if (i == 0) {
			o.installer_id = pr->installer_id;
			o.project_type = pr->type;
		} else if (strcmp(o.installer_id, pr->installer_id) || o.project_type != pr->type) {
			o.installer_id = "";
			o.project_type = 0;
			break;
		}
	}
	set_projects(c->a, &o);
	o.group_id = g->group_id;
	o.renewal_kind = kind;
	o.period_start = start;
	o.period_end = end;
	o.attempts = 1;
	o.session = PAY_SESSION_OFF;
	o.attempt_key = (char *)id;
	o.provider_amount = o.total;
	o.final_time = final_time_of(base, lines, n);
	o.next_attempt = c->now + RESUME_US;
	o.grace_noted = late; /* a late item has no grace to start */
	rc = hold_members(c, lines, n, p, id);
	if (rc)
		return rc;
	c->u->placed++;
	c->u->joins += kind == SCHEDULER_JOIN;
	c->u->lines += (int)n;
	c->u->attempts++;
	c->u->progress = 1;
	rc = events_order(c->w, EV_ORDER_CREATED, &o); /* before it settles */
	if (rc) {
		/* order.created not recorded: the placement rolls back */
	} else if (o.total == 0 && o.credits_total == 0) {
		rc = orders_succeed(c->w, &o, c->now);
	} else if (credits) {
		rc = credits_spend(c->w, o.payer_id, o.credits_total, o.order_id, o.actor_id,
				   transfer);
		if (rc == LEDGER_INSUFFICIENT)
			rc = orders_attempt_failed(c->w, &o, "insufficient_credits", c->now);
		else if (rc == 0)
			rc = orders_succeed(c->w, &o, c->now);
	} else {
		o.sandbox = pay_provider_current()->sandbox;
		want_job(c->u, PAY_OP_CREATE, id);
	}
	if (rc == 0)
		rc = store_order_put(c->w, &o, 1);
	return rc;
}

/* Adds lines to open order o waiting between attempts (PENDING_PAYMENT):
 * its totals go up; the provider's payment is set to them before the next
 * attempt (provider_amount differs). */
static int add_lines(unit_ctx *c, placement *p, store_order *o, store_line **lines, size_t n)
{
	store_line **old = o->lines, **all;
	size_t n_old = o->n_lines;
	char **old_projects = o->project_ids;
	size_t n_old_projects = o->n_project_ids;
	int credits = o->payment_method == METHOD(CREDITS), rc;

	if (n == 0)
		return 0;
	if (n_old + n > UNIT_MAX_LINES)
		n = n_old < UNIT_MAX_LINES ? UNIT_MAX_LINES - n_old : 0;
	if (n == 0)
		return 0;
	all = arena_alloc(c->a, (n_old + n) * sizeof(*all));
	memcpy(all, old, n_old * sizeof(*all));
	memcpy(all + n_old, lines, n * sizeof(*all));
	o->lines = all;
	o->n_lines = n_old + n;
	total_lines(o, credits);
	rc = group_tax(c->w, c->a, o, credits);
	if (rc) {
		o->lines = old;
		o->n_lines = n_old;
		return rc;
	}
	set_projects(c->a, o);
	if (!credits && c->currency && !o->currency[0])
		o->currency = (char *)c->currency;
	o->update_time = c->now;
	rc = hold_members(c, lines, n, p, o->order_id);
	if (rc == 0)
		rc = store_order_put(c->w, o, 0);
	o->lines = old;
	o->n_lines = n_old;
	o->project_ids = old_projects;
	o->n_project_ids = n_old_projects;
	c->u->lines += (int)n;
	c->u->progress = 1;
	log_info("auto-renew: order %s: %zu item(s) added while it waits for its next attempt",
		 o->order_id, n);
	return rc;
}

/* Places the members in p (all with expiry start, due) into the group's
 * order of `kind` up to end: a new order, or the open one between its
 * attempts; none while that one is at the provider. An order that already
 * ended without them makes them join up to the next renewal time. */
static int place_into(unit_ctx *c, placement *p, int kind, int64_t start, int64_t end, int late)
{
	char id[GROUPS_ORDER_ID_MAX];
	store_order *o = NULL;
	store_line **lines = NULL;
	size_t n = 0;
	int rc = 0;

	for (int tries = 0; tries < 4; tries++) {
		scheduler_order_id(c->g->group_id, kind, start, end, id);
		rc = store_order_get(c->w, id, &o);
		if (rc == STORE_NOTFOUND) {
			rc = price_all(c, p, kind, late, end, &lines, &n);
			if (rc == 0 && n > 0)
				rc = place_new(c, p, id, kind, start, end, lines, n, late);
			return rc;
		}
		if (rc)
			return rc;
		if (o->status == OSTATUS(PENDING_PAYMENT)) {
			rc = price_all(c, p, kind, late, end, &lines, &n);
			if (rc == 0)
				rc = add_lines(c, p, o, lines, n);
			store_record_free(o);
			return rc;
		}
		if (o->status == OSTATUS(PROCESSING)) {
			store_record_free(o);
			return 0; /* at the provider: these wait for its outcome */
		}
		store_record_free(o);
		o = NULL;
		/* it ended without them: they join up to the next renewal time */
		kind = SCHEDULER_JOIN;
		end = groups_boundary_after(c->g, end > c->now + lead_us ? end : c->now + lead_us);
	}
	log_error("auto-renew: group %s: no order could be placed for the items expiring at "
		  "%lld",
		  c->g->group_id, (long long)start);
	return 0;
}

/* An item is due when its index says so and nothing else holds it (a
 * manual renewal's open order: it waits for that one). */
static int member_due(store_txn *w, const store_item *it, int64_t now, int *due)
{
	store_list l = {0};
	int64_t t = store_item_auto_due(it);
	int rc;

	*due = 0;
	if (!t || t - lead_us > now || it->status != STORE_ITEM_ACTIVE)
		return 0;
	rc = store_order_holding(w, it->item_id, 8, &l);
	*due = rc == 0 && l.n == 0;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		const store_order *o = l.items[i];
		if (o->status != OSTATUS(PROCESSING) && o->status != OSTATUS(PENDING_PAYMENT))
			*due = 1; /* a stale hold */
	}
	store_list_free(&l);
	return rc;
}

/* Gives a member without a group (auto-renew turned on by an order, or
 * before renewal groups) the group SetAutoRenew would have chosen. */
static int attach(store_txn *w, store_item *it, int64_t now, char group_id[GROUPS_ID_MAX])
{
	const store_auto_renew *ar = it->auto_renew;
	groups_want want = {
		.payer_id = ar->payer_id,
		.method = ar->payment_method,
		.stripe_customer_id = ar->stripe_customer_id,
		.stripe_payment_method_id = ar->stripe_payment_method_id,
		.first_expiry = it->expires_at,
	};
	store_group *g = NULL;
	char why[200];
	int rc = groups_choose(w, &want, now, &g, why, sizeof(why));
	if (rc == 0) {
		set_str(group_id, GROUPS_ID_MAX, g->group_id);
		store_str_set(&it->auto_renew->group_id, g->group_id);
		rc = store_item_put(w, it, 0);
	} else if (rc > 0) {
		rc = 0; /* cannot happen without a group id asked for */
	}
	store_record_free(g);
	return rc;
}

/*
 * Phase 1 of a unit: the group's members expiring at u->expires_at that are
 * due, placed into the group's order for that period — or a join up to its
 * next renewal time when that expiry is not one of the group's renewal
 * times. Members past their expiry and not in grace (put on auto after
 * expiring) restart from now, as a manual renewal would (R8).
 */
static int apply_unit(store_txn *w, void *arg)
{
	work *u = arg;
	unit_ctx c = {.w = w, .u = u, .now = u->now};
	placement on_time = {0}, late = {0};
	store_group *g = NULL;
	store_list l = {0};
	char *token = NULL;
	int rc = 0;

	reset_outputs(u);
	if (!u->group_id[0]) {
		store_item *it = NULL;
		int due = 0;
		rc = store_item_get(w, u->ref, &it);
		if (rc == 0)
			rc = member_due(w, it, u->now, &due);
		if (rc == 0 && due && !it->auto_renew->group_id[0]) {
			/* only attached in this round: the next round finds every
			 * member attached meanwhile together, in one order */
			rc = attach(w, it, u->now, u->group_id);
			u->progress = rc == 0;
			store_record_free(it);
			return rc;
		} else if (rc == 0 && due) {
			set_str(u->group_id, GROUPS_ID_MAX, it->auto_renew->group_id);
		}
		if (rc == 0 && due)
			u->expires_at = it->expires_at;
		store_record_free(it);
		if (rc || !u->group_id[0])
			return rc == STORE_NOTFOUND ? 0 : rc;
	}
	rc = store_group_get(w, u->group_id, &g);
	if (rc)
		return rc == STORE_NOTFOUND ? 0 : rc;
	c.g = g;
	c.a = arena_new();
	do {
		store_list_free(&l);
		rc = store_item_list_by_group(w, g->group_id, STORE_PAGE_MAX, token, &l);
		free(token);
		token = NULL;
		for (size_t i = 0; rc == 0 && i < l.n; i++) {
			store_item *it = l.items[i];
			int64_t gend;
			int due = 0;
			if (it->expires_at != u->expires_at || !it->auto_renew->enabled)
				continue;
			rc = member_due(w, it, u->now, &due);
			if (rc || !due)
				continue;
			l.items[i] = NULL; /* kept by the placement */
			if (it->expires_at > u->now ||
			    grace_status(it->service_type, it->expires_at,
					 it->auto_renew->unpaid_since, u->now,
					 &gend) == ISTATUS(GRACE))
				placement_add(&on_time, it);
			else
				placement_add(&late, it);
		}
		if (rc == 0 && l.next_page_token)
			token = xstrdup(l.next_page_token);
	} while (rc == 0 && token);
	store_list_free(&l);
	free(token);
	if (rc == 0 && on_time.n) {
		int64_t e = u->expires_at;
		if (groups_on_boundary(g, e))
			rc = place_into(&c, &on_time, SCHEDULER_PERIOD, e, e + PRICING_MONTH_US, 0);
		else
			rc = place_into(&c, &on_time, SCHEDULER_JOIN, e,
					groups_boundary_after(
						g, e > u->now + lead_us ? e : u->now + lead_us),
					0);
	}
	if (rc == 0 && late.n) {
		c.currency = NULL;
		rc = place_into(&c, &late, SCHEDULER_JOIN, u->expires_at,
				groups_boundary_after(g, u->now + lead_us), 1);
	}
	for (size_t i = 0; i < on_time.n; i++)
		store_record_free(on_time.items[i]);
	for (size_t i = 0; i < late.n; i++)
		store_record_free(late.items[i]);
	free(on_time.items);
	free(late.items);
	ctx_free(&c);
	store_record_free(g);
	return rc;
}

/* ---- the steps of an open order ---- */

/* item.grace_started for each item o still holds. */
static int grace_started(store_txn *w, const store_order *o)
{
	char cause[GROUPS_ORDER_ID_MAX + 16];
	int rc = 0;

	snprintf(cause, sizeof(cause), "%s/grace", o->order_id);
	for (size_t i = 0; rc == 0 && i < o->n_lines; i++) {
		store_item *it = NULL;
		rc = store_item_get(w, o->lines[i]->item_id, &it);
		if (rc == STORE_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc == 0 && it->auto_renew && strcmp(it->auto_renew->order_id, o->order_id) == 0)
			rc = events_item(w, EV_ITEM_GRACE_STARTED, it, cause, NULL);
		store_record_free(it);
	}
	return rc;
}

/*
 * Phase 1 of an open group order's next step at u->now: an attempt left in
 * flight is resumed with its own key; an order left without lines is
 * canceled; past its final time it fails for good (its payment canceled at
 * the provider first); at its period's start its items' grace begins; at
 * its retry time it is confirmed again (credits: spent again).
 */
static int apply_order(store_txn *w, void *arg)
{
	work *u = arg;
	store_order *o = NULL;
	orders_strings orig;
	int64_t now = u->now;
	char key[GROUPS_ORDER_ID_MAX + 16];
	int rc, credits;

	reset_outputs(u);
	rc = store_order_get(w, u->ref, &o);
	if (rc)
		return rc == STORE_NOTFOUND ? 0 : rc;
	orig = orders_strings_save(o);
	credits = o->payment_method == METHOD(CREDITS);
	if (!is_group_order(o) || o->next_attempt <= 0 || o->next_attempt > now ||
	    (o->status != OSTATUS(PROCESSING) && o->status != OSTATUS(PENDING_PAYMENT)))
		goto done;
	u->progress = 1;
	if (o->status == OSTATUS(PROCESSING)) {
		/* crashed or unanswered: the same attempt again, same key (a
		 * first attempt searches for its intent before it creates one
		 * again: PAY_OP_RESUME) */
		want_job(u,
			 o->session == PAY_SESSION_ON ? PAY_OP_RECOVER
			 : o->attempts <= 1           ? PAY_OP_RESUME
						      : PAY_OP_RETRY,
			 o->order_id);
		o->next_attempt = now + RESUME_US;
		rc = store_order_put(w, o, 0);
		goto done;
	}
	if (o->n_lines == 0 || now >= o->final_time) {
		const char *why = o->n_lines == 0 ? "nothing left to renew" : o->failure_reason;
		if (credits) {
			rc = orders_end(w, o, o->n_lines ? OSTATUS(FAILED) : OSTATUS(CANCELED), why,
					now);
		} else {
			want_job(u, o->n_lines ? PAY_OP_EXPIRE : PAY_OP_CANCEL, o->order_id);
			o->next_attempt = now + RESUME_US;
		}
		if (rc == 0)
			rc = store_order_put(w, o, 0);
		goto done;
	}
	if (!o->grace_noted && now >= o->period_start) {
		o->grace_noted = 1;
		/* unpaid at its period's start: each line's item is in GRACE
		 * (until period_start + grace_of(its service type)) */
		rc = grace_started(w, o);
		if (rc)
			goto done;
	}
	if (o->retry_at > 0 && now >= o->retry_at) {
		if (o->recover_time > 0 && now < o->recover_time + RECOVER_HOLD_US) {
			o->retry_at = o->recover_time + RECOVER_HOLD_US; /* the buyer is at it */
		} else {
			o->attempts++;
			o->retries++;
			o->retry_at = 0;
			u->attempts++;
			if (credits) {
				char transfer[40] = "", *kept = o->transfer_id;
				o->transfer_id = transfer;
				rc = credits_spend(w, o->payer_id, o->credits_total, o->order_id,
						   "scheduler", transfer);
				if (rc == LEDGER_INSUFFICIENT)
					rc = orders_attempt_failed(w, o, "insufficient_credits",
								   now);
				else if (rc == 0)
					rc = orders_succeed(w, o, now);
				if (rc == 0)
					rc = store_order_put(w, o, 0);
				o->transfer_id = kept;
				goto done;
			}
			snprintf(key, sizeof(key), "%s-a%d", o->order_id, o->attempts);
			store_str_set(&o->attempt_key, key);
			store_str_set(&o->attempt_method_id, "");
			o->session = PAY_SESSION_OFF;
			o->status = OSTATUS(PROCESSING);
			o->update_time = now;
			o->next_attempt = now + RESUME_US;
			want_job(u, PAY_OP_RETRY, o->order_id);
			rc = store_order_put(w, o, 0);
			goto done;
		}
	}
	o->next_attempt = next_step(o);
	rc = store_order_put(w, o, 0);
done:
	orders_strings_restore(o, &orig);
	store_record_free(o);
	return rc;
}

/* ---- renewal.upcoming ---- */

/* The notices due for group u->ref at u->now: for its next renewal time,
 * each lead not sent yet whose time has come; then the next one's time. */
static int apply_notice(store_txn *w, void *arg)
{
	work *u = arg;
	store_group *g = NULL;
	const int64_t *leads;
	size_t n = grace_notices(&leads), members = 0;
	int64_t b, next = 0;
	int rc;

	reset_outputs(u);
	rc = store_group_get(w, u->ref, &g);
	if (rc)
		return rc == STORE_NOTFOUND ? 0 : rc;
	if (g->notice_due <= 0 || g->notice_due > u->now)
		goto done;
	u->progress = 1;
	b = groups_boundary_after(g, u->now);
	if (g->upcoming_sent != b) {
		g->upcoming_sent = b;
		g->upcoming_mask = 0;
	}
	rc = store_item_count_by_group(w, g->group_id, &members);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (g->upcoming_mask & (1 << i))
			continue;
		if (u->now >= b - leads[i]) {
			g->upcoming_mask |= 1 << i;
			if (members) {
				char subject[GROUPS_ID_MAX + 16], cause[GROUPS_ID_MAX + 48];
				log_info("auto-renew: group %s renews in %lld h (%zu items)",
					 g->group_id, (long long)((b - u->now) / HOUR_US), members);
				snprintf(subject, sizeof(subject), "renewalGroups/%s", g->group_id);
				snprintf(cause, sizeof(cause), "%s/%lld/%lld", g->group_id,
					 (long long)b, (long long)leads[i]);
				rc = events_emit(w, EV_RENEWAL_UPCOMING, subject, cause, NULL,
						 g->payer_id, NULL, NULL);
			}
		} else if (!next || b - leads[i] < next) {
			next = b - leads[i];
		}
	}
	g->notice_due = next ? next : (n ? b + PRICING_MONTH_US - leads[0] : 0);
	g->update_time = u->now;
	if (rc == 0)
		rc = store_group_put(w, g, 0);
done:
	store_record_free(g);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Rounds                                                                    */

static void work_done(void *arg, int rc)
{
	work *u = arg;
	batch *b = u->b;
	u->rc = rc;
	pthread_mutex_lock(&b->lock);
	if (--b->pending == 0)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static int apply_work(store_txn *w, void *arg)
{
	work *u = arg;
	switch (u->kind) {
	case WORK_UNIT: return apply_unit(w, u);
	case WORK_ORDER: return apply_order(w, u);
	case WORK_NOTICE: return apply_notice(w, u);
	}
	return STORE_INVALID;
}

/* Submits every work item at once (the writer group-commits them, each in
 * its own nested transaction) and waits. */
static void run_batch(work *ws, size_t n)
{
	batch b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n};

	for (size_t i = 0; i < n; i++) {
		work *u = &ws[i];
		memset(&u->m, 0, sizeof(u->m));
		u->m.apply = apply_work;
		u->m.done = work_done;
		u->m.arg = u;
		u->b = &b;
		if (store_submit(billingd.store, &u->m) != 0)
			work_done(u, STORE_INVALID);
	}
	pthread_mutex_lock(&b.lock);
	while (b.pending > 0)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
}

typedef struct job_ref {
	work *u;
	int k;
} job_ref;

/* A job's phases 2 and 3 are over (a payment-engine worker, or the writer
 * thread): the answer, and whether the order left PROCESSING. */
static void charged(void *arg, void *item, const pay_outcome *out)
{
	job_ref *j = item;
	(void)arg;
	j->u->res[j->k] = out->res;
	if (out->rc)
		j->u->rc = out->rc;
	j->u->settled[j->k] = out->rc == 0 && out->asked && out->status != OSTATUS(PROCESSING);
}

/* Phases 2 and 3 of every job the round's phase 1 asked for, through the
 * payment engine, waited for. */
static void charge_all(work *ws, size_t n, int64_t now)
{
	size_t total = 0, m = 0;
	job_ref *refs;
	pay_batch b;

	for (size_t i = 0; i < n; i++)
		total += ws[i].rc == 0 ? (size_t)ws[i].n_jobs : 0;
	if (!total)
		return;
	refs = xcalloc(total, sizeof(*refs));
	pay_batch_init(&b, charged, NULL);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; ws[i].rc == 0 && k < ws[i].n_jobs; k++) {
			refs[m].u = &ws[i];
			refs[m].k = k;
			if (pay_batch_submit_at(&b, ws[i].order_id[k], ws[i].op[k], now,
						&refs[m]) != 0)
				ws[i].rc = STORE_IO;
			m++;
		}
	pay_batch_wait(&b);
	free(refs);
}

/* Ids that made no progress in this run (a provider that did not answer,
 * an order at the provider, a storage error): not looked at again before
 * the next run. */
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
	if (skipped(s, id))
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		s->ids = xrealloc(s->ids, cap * sizeof(*s->ids));
		s->cap = cap;
	}
	set_str(s->ids[s->n++], ITEM_REF_MAX, id);
}

/* Drops the skipped records of a list (item or order ids at `off`). */
static void drop_skipped(store_list *l, const skipset *s, size_t max, int orders)
{
	size_t j = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *id = orders ? ((store_order *)l->items[i])->order_id
					: ((store_item *)l->items[i])->item_id;
		if (skipped(s, id) || j >= max)
			store_record_free(l->items[i]);
		else
			l->items[j++] = l->items[i];
	}
	l->n = j;
}

/* What is due at or before now, read in one transaction. */
typedef struct due_set {
	store_list orders, items, notices;
} due_set;

static int read_due(int64_t now, size_t max, const skipset *s, due_set *d)
{
	store_txn *txn = NULL;
	int rc = store_read_begin(billingd.store, &txn);
	memset(d, 0, sizeof(*d));
	if (rc == 0)
		rc = store_order_auto_due_before(txn, now + 1, max + s->n, &d->orders);
	if (rc == 0)
		rc = store_group_notice_due(txn, now, max, &d->notices);
	if (rc == 0)
		rc = store_item_auto_due_before(txn, now + lead_us + 1, max + s->n, &d->items);
	store_read_end(txn);
	drop_skipped(&d->orders, s, max, 1);
	drop_skipped(&d->items, s, max, 0);
	return rc;
}

static void due_free(due_set *d)
{
	store_list_free(&d->orders);
	store_list_free(&d->items);
	store_list_free(&d->notices);
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The unit of a due item: its group and expiry (an item without a group
 * yet is a unit of its own, keyed by its id). */
static int same_unit(const work *u, const store_item *it)
{
	const char *g = it->auto_renew ? it->auto_renew->group_id : "";
	if (!g[0])
		return !u->group_id[0] && strcmp(u->ref, it->item_id) == 0;
	return strcmp(u->group_id, g) == 0 && u->expires_at == it->expires_at;
}

/* Runs one round at `now`. Returns the payment attempts made, or a
 * negative STORE_* code; *moved says whether anything made progress. */
static int run_round(int64_t now, skipset *s, int *moved)
{
	due_set d;
	work *ws;
	size_t n = 0, cap;
	int attempts = 0, placed = 0, joins = 0, lines = 0;
	int64_t t0 = mono_us();
	int rc = read_due(now, ROUND_MAX, s, &d);

	*moved = 0;
	if (rc) {
		due_free(&d);
		return rc;
	}
	cap = d.orders.n + d.notices.n + d.items.n + 1;
	ws = xcalloc(cap, sizeof(*ws));
	for (size_t i = 0; i < d.orders.n; i++, n++) {
		ws[n].kind = WORK_ORDER;
		set_str(ws[n].ref, ITEM_REF_MAX, ((store_order *)d.orders.items[i])->order_id);
	}
	for (size_t i = 0; i < d.notices.n; i++, n++) {
		ws[n].kind = WORK_NOTICE;
		set_str(ws[n].ref, ITEM_REF_MAX, ((store_group *)d.notices.items[i])->group_id);
	}
	for (size_t i = 0; i < d.items.n; i++) {
		const store_item *it = d.items.items[i];
		size_t k = 0;
		while (k < n && !(ws[k].kind == WORK_UNIT && same_unit(&ws[k], it)))
			k++;
		if (k < n)
			continue;
		ws[n].kind = WORK_UNIT;
		set_str(ws[n].ref, ITEM_REF_MAX, it->item_id);
		set_str(ws[n].group_id, GROUPS_ID_MAX, it->auto_renew->group_id);
		ws[n].expires_at = it->expires_at;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		ws[i].now = now;
	if (n)
		run_batch(ws, n);
	for (size_t i = 0; i < n; i++)
		if (ws[i].rc != 0)
			ws[i].n_jobs = 0;
	charge_all(ws, n, now);
	for (size_t i = 0; i < n; i++) {
		work *u = &ws[i];
		int unanswered = 0;
		for (int k = 0; k < u->n_jobs; k++) {
			if (u->res[k].status == PAY_DECLINED)
				observe_renewal("declined");
			else if (!u->settled[k]) {
				unanswered = 1;
				observe_renewal("unknown");
				log_warn("auto-renew: order %s has no answer from the provider; it "
					 "stays PROCESSING and is resumed",
					 u->order_id[k]);
			} else
				observe_renewal("succeeded");
		}
		if (u->rc != 0) {
			log_error("auto-renew (%s): %s", u->ref, store_strerror(u->rc));
			observe_renewal("error");
		}
		attempts += u->rc == 0 ? u->attempts : 0;
		placed += u->rc == 0 ? u->placed : 0;
		joins += u->rc == 0 ? u->joins : 0;
		lines += u->rc == 0 ? u->lines : 0;
		if (u->rc != 0 || !u->progress || unanswered) {
			if (u->kind == WORK_UNIT) {
				/* every item of the unit waits for the next run */
				for (size_t j = 0; j < d.items.n; j++)
					if (same_unit(u, d.items.items[j]))
						skip_add(s,
							 ((store_item *)d.items.items[j])->item_id);
			} else if (u->kind == WORK_ORDER) {
				skip_add(s, u->ref);
			}
			if (u->kind == WORK_ORDER && unanswered)
				for (int k = 0; k < u->n_jobs; k++)
					skip_add(s, u->order_id[k]);
		}
		if (u->kind == WORK_UNIT && unanswered)
			for (int k = 0; k < u->n_jobs; k++)
				skip_add(s, u->order_id[k]);
		if (u->rc == 0 && u->progress)
			*moved = 1;
	}
	free(ws);
	due_free(&d);
	if (payreq_expire_due(now) > 0)
		*moved = 1;
	pthread_mutex_lock(&counts_lock);
	counts.orders_placed += (uint64_t)placed;
	counts.joins += (uint64_t)joins;
	counts.attempts += (uint64_t)attempts;
	counts.lines += (uint64_t)lines;
	counts.rounds++;
	counts.busy_us += (uint64_t)(mono_us() - t0);
	pthread_mutex_unlock(&counts_lock);
	return attempts;
}

void scheduler_init(void)
{
	orders_set_settle_hook(order_settled);
}

int scheduler_run_due(int64_t now)
{
	skipset s = {0};
	int ran = 0, n = 0, moved = 1;

	scheduler_init();
	pthread_mutex_lock(&run_lock);
	while (moved && (n = run_round(now, &s, &moved)) >= 0)
		ran += n;
	pthread_mutex_unlock(&run_lock);
	free(s.ids);
	return n < 0 ? n : ran;
}

/* The next time anything is due after the skipped ids (INT64_MAX: none). */
static int64_t next_due(const skipset *s)
{
	store_txn *txn = NULL;
	store_list l = {0};
	int64_t t = INT64_MAX, x;

	if (store_read_begin(billingd.store, &txn) != 0)
		return t;
	if (store_order_auto_due_before(txn, INT64_MAX, 1 + s->n, &l) == 0) {
		drop_skipped(&l, s, 1, 1);
		if (l.n && ((store_order *)l.items[0])->next_attempt < t)
			t = ((store_order *)l.items[0])->next_attempt;
	}
	store_list_free(&l);
	if (store_item_auto_due_before(txn, INT64_MAX, 1 + s->n, &l) == 0) {
		drop_skipped(&l, s, 1, 0);
		if (l.n && (x = store_item_auto_due(l.items[0]) - lead_us) < t)
			t = x;
	}
	store_list_free(&l);
	if (store_group_notice_due(txn, INT64_MAX, 1, &l) == 0 && l.n &&
	    ((store_group *)l.items[0])->notice_due < t)
		t = ((store_group *)l.items[0])->notice_due;
	store_list_free(&l);
	x = payreq_next_expiry(txn);
	if (x > 0 && x < t)
		t = x;
	store_read_end(txn);
	return t;
}

int scheduler_advance(int64_t from_us, int64_t to_us)
{
	skipset s = {0};
	int ran = 0;
	int64_t t0 = mono_us();
	scheduler_counts c0, c1;

	(void)from_us;
	scheduler_init();
	pthread_mutex_lock(&run_lock);
	scheduler_counts_get(&c0);
	for (int stalled = 0;;) {
		int64_t now = clock_now_us(), at = next_due(&s);
		int n, moved = 0;

		if (at > to_us)
			break;
		if (at > now)
			now = clock_advance(at - now);
		events_sweep(now); /* expiries before this round, in time order */
		n = run_round(now, &s, &moved);
		if (n < 0)
			break;
		ran += n;
		/* what made no progress is skipped for the rest of the run, so
		 * this only guards against a bug spinning here */
		stalled = moved ? 0 : stalled + 1;
		if (stalled > 3) {
			log_error("auto-renew: the clock's jump stalled at %lld", (long long)now);
			break;
		}
	}
	scheduler_counts_get(&c1);
	pthread_mutex_unlock(&run_lock);
	free(s.ids);
	if (c1.orders_placed > c0.orders_placed || ran > 0)
		log_info("auto-renew: clock jump: %d attempts, %llu orders placed (%llu joins), "
			 "%llu "
			 "lines, %llu items extended, in %lld ms",
			 ran, (unsigned long long)(c1.orders_placed - c0.orders_placed),
			 (unsigned long long)(c1.joins - c0.joins),
			 (unsigned long long)(c1.lines - c0.lines),
			 (unsigned long long)(c1.items_extended - c0.items_extended),
			 (long long)((mono_us() - t0) / 1000));
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
