/*
 * Automatic renewal through the SDK against the real billingd with the test
 * clock (lead time: the default 24 h). Every scenario uses its own payer so
 * ListOrders shows only its orders; the clock is shared, so scenarios run in
 * sequence and switch their items off (or let them end) when done.
 */
#include <stdlib.h>
#include <string.h>

#include "spt_billingd.h"
#include "spt_run.h"
#include "spt_sdk.h"

static spt_billingd srv;
static spb_client *cli; /* the vendor */

/* How many events of kind the vendor sees on subject (one page is plenty
 * here). -1 when ListEvents fails. */
static int events_of(const char *subject, const char *kind)
{
	Smartplus__Billing__V1__ListEventsRequest r =
		SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
	Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
	char *kinds[] = {(char *)kind};
	int n = 0;
	r.subject = (char *)subject;
	r.n_kinds = 1;
	r.kinds = kinds;
	r.page_size = 100;
	if (spb_event_list_events(cli, &r, &resp, NULL) != 0)
		return -1;
	for (size_t i = 0; i < resp->n_events; i++)
		n += strcmp(resp->events[i]->subject, subject) == 0 &&
		     strcmp(resp->events[i]->kind, kind) == 0;
	spb_message_free(resp);
	return n;
}

/* ---- the AUTO_RENEWAL orders of a payer ---- */

#define ORD_LINES 8

typedef struct ord {
	char item[80]; /* the first line's item */
	char items[ORD_LINES][80];
	int64_t line_credits[ORD_LINES];
	int n_items;
	int attempts, recoverable;
	int64_t new_expiry; /* the first line's */
	int status;
	int64_t created, period; /* period: the expires_at it extends */
	int64_t total, credits;
	char reason[64];
	char id[48];
} ord;

typedef struct ords {
	ord v[64];
	int n;
} ords;

static void collect(const Smartplus__Billing__V1__Order *o, void *arg)
{
	ords *s = arg;
	ord *d;
	if (s->n >= 64)
		return;
	d = &s->v[s->n++];
	memset(d, 0, sizeof(*d));
	if (o->n_lines) {
		snprintf(d->item, sizeof(d->item), "%s", o->lines[0]->item_id);
		d->period = spt_ts_us(o->lines[0]->current_expires_at);
		d->new_expiry = spt_ts_us(o->lines[0]->new_expires_at);
	}
	for (size_t k = 0; k < o->n_lines && k < ORD_LINES; k++, d->n_items++) {
		snprintf(d->items[k], sizeof(d->items[k]), "%s", o->lines[k]->item_id);
		d->line_credits[k] = o->lines[k]->credits;
	}
	d->attempts = o->attempts;
	d->recoverable = o->recoverable;
	d->status = o->status;
	d->created = spt_ts_us(o->create_time);
	d->total = o->total;
	d->credits = o->credits_total;
	snprintf(d->reason, sizeof(d->reason), "%s", o->failure_reason);
	snprintf(d->id, sizeof(d->id), "%s", o->order_id);
}

static int holds(const ord *o, const char *item)
{
	for (int k = 0; k < o->n_items; k++)
		if (strcmp(o->items[k], item) == 0)
			return 1;
	return 0;
}

/* The orders with a line for item (in the given status, if any). */
static int count(const ords *s, const char *item, int status)
{
	int n = 0;
	for (int i = 0; i < s->n; i++)
		n += holds(&s->v[i], item) && (!status || s->v[i].status == status);
	return n;
}

static void load(const char *payer, ords *s)
{
	s->n = 0;
	SPT_CHECK(spt_each_order(cli, payer, OTYPE(AUTO_RENEWAL), collect, s) == 0, "ListOrders %s",
		  payer);
}

static int cmp_created(const void *a, const void *b)
{
	const ord *x = a, *y = b;
	return x->created < y->created ? -1 : x->created > y->created;
}

/* ---- scenarios ---- */

/* A scenario's own tree: distributor d, optionally sub-distributor "<d>_s",
 * installer "<d>_i", optionally property manager "<d>_pm"; project "<d>_p"
 * of ptype with n items "<prefix>NNN" of stype. */
static void world(const char *d, int with_sub, int with_pm, int ptype, int stype,
		  const char *prefix, int n)
{
	char s[32], i[32], pm[32], p[32];
	snprintf(s, sizeof(s), "%s_s", d);
	snprintf(i, sizeof(i), "%s_i", d);
	snprintf(pm, sizeof(pm), "%s_pm", d);
	snprintf(p, sizeof(p), "%s_p", d);
	SPT_SEED(spt_create_account(cli, NULL, d, ROLE(DISTRIBUTOR), "vendor"));
	if (with_sub)
		SPT_SEED(spt_create_account(cli, NULL, s, ROLE(SUB_DISTRIBUTOR), d));
	SPT_SEED(spt_create_account(cli, NULL, i, ROLE(INSTALLER), with_sub ? s : d));
	if (with_pm)
		SPT_SEED(spt_create_account(cli, NULL, pm, ROLE(PROPERTY_MANAGER), i));
	SPT_SEED(spt_create_project(cli, NULL, p, i, ptype, with_pm ? pm : NULL, 0));
	SPT_SEED(spt_create_items(cli, NULL, p, stype, prefix, n));
}

/* The seed: "renewal occurs every 30 days and extends the upcoming
 * expiration date by 30 days". Activated for one month at T0, the item
 * expires at E0 = T0 + 30 d; with the 24 h lead, renewal k (k = 0, 1, ...)
 * runs at E0 + 30k d - 1 d = T0 + (29 + 30k) d. So by T0+30d one renewal has
 * run, by T0+60d two, and by T0+365d twelve (the 12th at day 359; the 13th
 * is due at day 389): 12, not 13. */
static void test_counts(void)
{
	char *ids[1] = {"a_000"};
	int64_t t0 = 0, now = 0, e0;
	spt_item_state st;
	ords os;
	int ran = 0;
	static const struct {
		int64_t to_day;
		int renewals;
	} steps[] = {{30, 1}, {60, 2}, {365, 12}};

	world("pa", 0, 0, PTYPE(COMMUNITY), STYPE(APP), "a_", 1);
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pa", "pa_i", PTYPE(COMMUNITY), "pa_p", 1,
					 METHOD(STRIPE), "pm_card_visa", &t0) == 0,
		    "activate");
	e0 = t0 + SPT_MONTH_US;
	SPT_CHECK(spt_item_state_of(cli, "pa_p", "a_000", &st) && st.expires_at == e0 &&
			  st.status == ISTATUS(ACTIVE),
		  "activated to T0+30d");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pa", METHOD(STRIPE), "pm_card_visa", 0, 0) ==
			  0,
		  "SetAutoRenew on");
	SPT_CHECK(spt_item_state_of(cli, "pa_p", "a_000", &st) && st.auto_on &&
			  st.renew_mode == RENEW(AUTO),
		  "item shows AUTO");
	now = t0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		SPT_CHECK(spt_advance_clock(cli, t0 + steps[i].to_day * SPT_DAY_US - now, &now,
					    &ran) == 0,
			  "advance");
		SPT_CHECK(now == t0 + steps[i].to_day * SPT_DAY_US, "clock at T0+%lldd",
			  (long long)steps[i].to_day);
		load("pa", &os);
		SPT_CHECK(count(&os, "a_000", OSTATUS(SUCCEEDED)) == steps[i].renewals &&
				  os.n == steps[i].renewals,
			  "day %lld: %d renewals, got %d (%d orders)", (long long)steps[i].to_day,
			  steps[i].renewals, count(&os, "a_000", OSTATUS(SUCCEEDED)), os.n);
		SPT_CHECK(spt_item_state_of(cli, "pa_p", "a_000", &st) &&
				  st.expires_at == e0 + steps[i].renewals * SPT_MONTH_US &&
				  st.status == ISTATUS(ACTIVE) &&
				  st.cycles_done == steps[i].renewals,
			  "day %lld: expiry E0 + %d x 30d (got E0 %+lld s), cycles_done %d",
			  (long long)steps[i].to_day, steps[i].renewals,
			  (long long)((st.expires_at - e0 - steps[i].renewals * SPT_MONTH_US) /
				      1000000),
			  st.cycles_done);
	}
	qsort(os.v, (size_t)os.n, sizeof(ord), cmp_created);
	for (int k = 0; k < os.n; k++) {
		SPT_CHECK(os.v[k].period == e0 + k * SPT_MONTH_US,
			  "renewal %d extends E0 + %d x 30d", k, k);
		SPT_CHECK(os.v[k].created == e0 + k * SPT_MONTH_US - SPT_DAY_US,
			  "renewal %d ran 24 h before", k);
		SPT_CHECK(os.v[k].total == 500 && strncmp(os.v[k].id, "ord_ar_", 7) == 0,
			  "500 USD, ord_ar_ id");
	}
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 0, NULL, 0, NULL, 0, 0) == 0, "SetAutoRenew off");
	SPT_CHECK(spt_item_state_of(cli, "pa_p", "a_000", &st) && !st.auto_on &&
			  st.renew_mode == RENEW(MANUAL),
		  "off clears it");
	SPT_CHECK(spt_advance_clock(cli, 60 * SPT_DAY_US, &now, &ran) == 0 && ran == 0,
		  "no renewal once off (ran %d)", ran);
	SPT_CHECK(spt_item_state_of(cli, "pa_p", "a_000", &st) &&
			  st.expires_at == e0 + 12 * SPT_MONTH_US,
		  "expiry unchanged");
}

/* A credit-paid PTYPE(COMMERCIAL) project (created after the cut-over): the oldest
 * door is free (R4) and renews at 0; the other costs 5 credits a month. */
static void test_credits(void)
{
	char *ids[2] = {"d_000", "d_001"};
	int64_t t0 = 0, now;
	spt_item_state st;
	ords os;
	int64_t free_credits = 0, paid_credits = 0;

	world("pc", 1, 0, PTYPE(COMMERCIAL), STYPE(DOOR), "d_", 2);
	SPT_SEED(spt_assign_credits(cli, NULL, "vendor", "pc_s", 100));
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pc_s", "pc_i", PTYPE(COMMERCIAL), "pc_p", 1,
					 METHOD(CREDITS), NULL, &t0) == 0,
		    "activate");
	SPT_CHECK(spt_credit_balance(cli, NULL, "pc_s") == 95, "activation cost 5, balance %lld",
		  (long long)spt_credit_balance(cli, NULL, "pc_s"));
	SPT_CHECK(spt_set_auto_renew(cli, ids, 2, 1, "pc_s", METHOD(STRIPE), "pm_card_visa", 0,
				     3) == SPB_EPRECONDITION,
		  "STRIPE refused on a credit-paid project");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 2, 1, "pc_s", METHOD(CREDITS), NULL, 0, 3) == 0,
		  "SetAutoRenew CREDITS, 3 cycles");
	SPT_CHECK(spt_advance_clock(cli, 150 * SPT_DAY_US, &now, NULL) == 0, "advance 150 days");
	load("pc_s", &os);
	for (int i = 0; i < os.n; i++)
		for (int k = 0; k < os.v[i].n_items; k++) {
			if (strcmp(os.v[i].items[k], "d_000") == 0)
				free_credits += os.v[i].line_credits[k];
			else
				paid_credits += os.v[i].line_credits[k];
		}
	/* one renewal group (payer, CREDITS, day): one order of two lines per
	 * period */
	SPT_CHECK(count(&os, "d_000", OSTATUS(SUCCEEDED)) == 3 &&
			  count(&os, "d_001", OSTATUS(SUCCEEDED)) == 3 && os.n == 3,
		  "3 renewal orders holding both doors, got %d and %d of %d",
		  count(&os, "d_000", OSTATUS(SUCCEEDED)), count(&os, "d_001", OSTATUS(SUCCEEDED)),
		  os.n);
	SPT_CHECK(free_credits == 0 && paid_credits == 15, "free 0, paid 3 x 5 (got %lld, %lld)",
		  (long long)free_credits, (long long)paid_credits);
	SPT_CHECK(spt_credit_balance(cli, NULL, "pc_s") == 80, "balance 95 - 15 = 80, got %lld",
		  (long long)spt_credit_balance(cli, NULL, "pc_s"));
	SPT_CHECK(spt_item_state_of(cli, "pc_p", "d_001", &st) &&
			  st.expires_at == t0 + 4 * SPT_MONTH_US && !st.auto_on &&
			  st.status == ISTATUS(EXPIRED),
		  "E0 + 3 x 30d, then off and expired");
}

/* The project's property manager pays in credits (R11) and runs out: the
 * first renewal takes its last 5 credits, the next period's order fails
 * insufficient_credits four times (first attempt and days 1, 2, 4: one
 * order, four attempts), FAILED once the grace is over, and auto-renew
 * stops; nothing is debited for the failures. */
static void test_credits_run_out(void)
{
	char *ids[1] = {"k_001"};
	int64_t t0 = 0, now;
	spt_item_state st;
	ords os;
	int failed_ok = 0;

	world("pk", 0, 1, PTYPE(COMMERCIAL), STYPE(DOOR), "k_", 2); /* k_000 free, k_001 paid */
	SPT_SEED(spt_assign_credits(cli, NULL, "vendor", "pk_pm", 10));
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pk_pm", "pk_i", PTYPE(COMMERCIAL), "pk_p", 1,
					 METHOD(CREDITS), NULL, &t0) == 0,
		    "activate");
	SPT_CHECK(spt_credit_balance(cli, NULL, "pk_pm") == 5,
		  "balance 5 after activation, got %lld",
		  (long long)spt_credit_balance(cli, NULL, "pk_pm"));
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pk_pm", METHOD(CREDITS), NULL, 0, 0) == 0,
		  "SetAutoRenew CREDITS by the PM");
	SPT_CHECK(spt_advance_clock(cli, 80 * SPT_DAY_US, &now, NULL) == 0, "advance 80 days");
	load("pk_pm", &os);
	for (int i = 0; i < os.n; i++)
		failed_ok += os.v[i].status == OSTATUS(FAILED) &&
			     strcmp(os.v[i].reason, "insufficient_credits") == 0 &&
			     os.v[i].period == t0 + 2 * SPT_MONTH_US && os.v[i].attempts == 4;
	SPT_CHECK(count(&os, "k_001", OSTATUS(SUCCEEDED)) == 1 && failed_ok == 1 && os.n == 2,
		  "1 renewal, then 1 FAILED insufficient_credits after 4 attempts (got %d orders, "
		  "%d failed)",
		  os.n, failed_ok);
	SPT_CHECK(spt_credit_balance(cli, NULL, "pk_pm") == 0, "balance 0, got %lld",
		  (long long)spt_credit_balance(cli, NULL, "pk_pm"));
	SPT_CHECK(spt_item_state_of(cli, "pk_p", "k_001", &st) &&
			  st.expires_at == t0 + 2 * SPT_MONTH_US && !st.auto_on &&
			  st.status == ISTATUS(EXPIRED),
		  "expired at E0 + 30d, auto-renew off");
}

/* Declined card: one order for the period, attempts at E0-1d (first), then
 * days 1, 2 and 4 after it; the item is in GRACE (APP: 7 days) from E0 while
 * the order waits, recoverable; then the order FAILS, auto-renew stops and
 * the item is EXPIRED at E0. */
static void test_declined(void)
{
	char *ids[1] = {"x_000"};
	int64_t t0 = 0, now, e0, first;
	spt_item_state st;
	ords os;
	static const int days[] = {0, 1, 2, 4};

	world("pd", 0, 0, PTYPE(COMMUNITY), STYPE(APP), "x_", 1);
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pd", "pd_i", PTYPE(COMMUNITY), "pd_p", 1,
					 METHOD(STRIPE), "pm_card_visa", &t0) == 0,
		    "activate");
	e0 = t0 + SPT_MONTH_US;
	first = e0 - SPT_DAY_US;
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pd", METHOD(STRIPE), "pm_card_chargeDeclined",
				     0, 0) == 0,
		  "SetAutoRenew");
	SPT_CHECK(spt_advance_clock(cli, first + SPT_DAY_US + SPT_DAY_US / 2 - t0, &now, NULL) == 0,
		  "advance to day 1.5");
	SPT_CHECK(spt_item_state_of(cli, "pd_p", "x_000", &st) && st.auto_on &&
			  st.failed_attempts == 2 && st.status == ISTATUS(GRACE),
		  "two failed attempts so far: past E0 so GRACE, still retrying (failed %d, "
		  "status %d)",
		  st.failed_attempts, st.status);
	load("pd", &os);
	SPT_CHECK(os.n == 1 && os.v[0].status == OSTATUS(PENDING_PAYMENT) &&
			  os.v[0].attempts == 2 && os.v[0].recoverable &&
			  os.v[0].created == first && os.v[0].period == e0,
		  "one order for the period, waiting, 2 attempts, recoverable (n %d status %d "
		  "attempts %d)",
		  os.n, os.n ? os.v[0].status : 0, os.n ? os.v[0].attempts : 0);
	(void)days;
	/* the retries (days 1, 2, 4 after the first attempt) are done; an hour
	 * before the APP grace (7 days) ends it is still GRACE and waiting */
	SPT_CHECK(spt_advance_clock(cli, e0 + 7 * SPT_DAY_US - SPT_HOUR_US - now, &now, NULL) == 0,
		  "to E0 + 7 d - 1 h");
	load("pd", &os);
	SPT_CHECK(os.n == 1 && os.v[0].status == OSTATUS(PENDING_PAYMENT) && os.v[0].attempts == 4,
		  "4 attempts, still waiting in grace (status %d, attempts %d)",
		  os.n ? os.v[0].status : 0, os.n ? os.v[0].attempts : 0);
	SPT_CHECK(spt_item_state_of(cli, "pd_p", "x_000", &st) && st.status == ISTATUS(GRACE) &&
			  st.auto_on,
		  "GRACE until E0 + 7 d");
	SPT_CHECK(spt_advance_clock(cli, 2 * SPT_HOUR_US, &now, NULL) == 0, "past the grace");
	SPT_CHECK(spt_item_state_of(cli, "pd_p", "x_000", &st) && st.status == ISTATUS(EXPIRED) &&
			  !st.auto_on,
		  "EXPIRED once the grace is over, auto-renew off");
	{
		char sub[96];
		snprintf(sub, sizeof(sub), "orders/%s", os.v[0].id);
		SPT_CHECK(events_of(sub, "renewal.failed") == 4,
			  "one renewal.failed per attempt (%d)", events_of(sub, "renewal.failed"));
		SPT_CHECK(events_of(sub, "order.failed") == 1,
			  "order.failed once the grace is over");
		SPT_CHECK(events_of("items/x_000", "item.grace_started") == 1,
			  "item.grace_started");
	}
	SPT_CHECK(spt_advance_clock(cli, 40 * SPT_DAY_US, &now, NULL) == 0, "advance 40 days");
	load("pd", &os);
	SPT_CHECK(os.n == 1 && count(&os, "x_000", OSTATUS(FAILED)) == 1 && os.v[0].attempts == 4 &&
			  !os.v[0].recoverable && strcmp(os.v[0].reason, "card_declined") == 0,
		  "1 FAILED order after 4 attempts, got %d orders (attempts %d, reason %s)", os.n,
		  os.n ? os.v[0].attempts : 0, os.n ? os.v[0].reason : "");
	SPT_CHECK(spt_item_state_of(cli, "pd_p", "x_000", &st) && st.status == ISTATUS(EXPIRED) &&
			  st.expires_at == e0 && !st.auto_on,
		  "expired on its date, auto-renew off");
}

/* "until a date": the term ends at E0 + 65 d, so two renewals fit (to E0+30d
 * and E0+60d); a third would end after it. */
static void test_until(void)
{
	char *ids[1] = {"u_000"};
	int64_t t0 = 0, now, e0;
	spt_item_state st;
	ords os;

	world("pu", 0, 0, PTYPE(COMMUNITY), STYPE(APP), "u_", 1);
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pu", "pu_i", PTYPE(COMMUNITY), "pu_p", 1,
					 METHOD(STRIPE), "pm_card_visa", &t0) == 0,
		    "activate");
	e0 = t0 + SPT_MONTH_US;
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pu", METHOD(STRIPE), "pm_card_visa",
				     e0 + 65 * SPT_DAY_US, 0) == 0,
		  "SetAutoRenew until");
	SPT_CHECK(spt_advance_clock(cli, 200 * SPT_DAY_US, &now, NULL) == 0, "advance 200 days");
	load("pu", &os);
	SPT_CHECK(os.n == 2 && count(&os, "u_000", OSTATUS(SUCCEEDED)) == 2, "2 renewals, got %d",
		  os.n);
	SPT_CHECK(spt_item_state_of(cli, "pu_p", "u_000", &st) &&
			  st.expires_at == e0 + 2 * SPT_MONTH_US && !st.auto_on &&
			  st.status == ISTATUS(EXPIRED),
		  "expires at E0+60d, auto-renew off");
}

/* An item that expired before it was put on AUTO is renewed at once, from
 * the time of the attempt (as a manual renewal of an EXPIRED item, R8),
 * not back-dated to its old expiry. */
static void test_expired_item(void)
{
	char *ids[1] = {"e_000"};
	int64_t t0 = 0, now, at;
	spt_item_state st;
	ords os;

	world("pe", 0, 0, PTYPE(COMMUNITY), STYPE(APP), "e_", 1);
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pe", "pe_i", PTYPE(COMMUNITY), "pe_p", 1,
					 METHOD(STRIPE), "pm_card_visa", &t0) == 0,
		    "activate");
	SPT_CHECK(spt_advance_clock(cli, 40 * SPT_DAY_US, &at, NULL) == 0, "advance 40 days");
	SPT_CHECK(spt_item_state_of(cli, "pe_p", "e_000", &st) && st.status == ISTATUS(EXPIRED),
		  "EXPIRED (derived on read)");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pe", METHOD(STRIPE), "pm_card_visa", 0, 1) ==
			  0,
		  "SetAutoRenew, 1 cycle");
	SPT_CHECK(spt_advance_clock(cli, SPT_HOUR_US, &now, NULL) == 0, "advance an hour");
	load("pe", &os);
	SPT_CHECK(os.n == 1 && count(&os, "e_000", OSTATUS(SUCCEEDED)) == 1 &&
			  os.v[0].created == at,
		  "one renewal, run at once");
	/* a group of its own anchored at the SetAutoRenew: a full month,
	 * which counts as the cycle */
	SPT_CHECK(spt_item_state_of(cli, "pe_p", "e_000", &st) && st.status == ISTATUS(ACTIVE) &&
			  st.expires_at == at + SPT_MONTH_US && !st.auto_on,
		  "ACTIVE to attempt + 30d; 1 cycle done, off");
}

/* SetAutoRenew is validated like an order (R2, R8, R11). */
static void test_validation(void)
{
	char *ids[1] = {"v_000"}, *missing[1] = {"nope"};

	world("pv", 0, 1, PTYPE(COMMUNITY), STYPE(APP), "v_", 1);
	SPT_SEED(spt_create_account(cli, NULL, "pv_other", ROLE(DISTRIBUTOR), "vendor"));
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pv", "pv_i", PTYPE(COMMUNITY), "pv_p", 1,
					 METHOD(STRIPE), "pm_card_visa", NULL) == 0,
		    "activate");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv", METHOD(STRIPE), NULL, 0, 0) ==
			  SPB_EINVALID,
		  "STRIPE without a saved card");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv", METHOD(CREDITS), NULL, 0, 0) ==
			  SPB_EPRECONDITION,
		  "CREDITS on a regular project");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv", METHOD(PAYPAL), NULL, 0, 0) ==
			  SPB_EINVALID,
		  "PAYPAL cannot auto-renew");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv_other", METHOD(STRIPE), "pm_card_visa", 0,
				     0) == SPB_EPERM,
		  "a payer outside the tree");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv_i", METHOD(STRIPE), "pm_card_visa", 0,
				     0) == SPB_EPERM,
		  "the installer without a payment policy");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv_pm", METHOD(STRIPE), "pm_card_visa", 0,
				     0) == SPB_EPERM,
		  "the property manager with a card");
	SPT_CHECK(spt_set_auto_renew(cli, missing, 1, 1, "pv", METHOD(STRIPE), "pm_card_visa", 0,
				     0) == SPB_EPERM,
		  "unknown item: PERMISSION_DENIED (AIP-211)");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv", METHOD(STRIPE), "pm_card_visa", 0, -1) ==
			  SPB_EINVALID,
		  "cycles < 1");
	SPT_CHECK(spt_set_auto_renew(cli, ids, 1, 1, "pv", METHOD(STRIPE), "pm_card_visa", 1000000,
				     0) == SPB_EINVALID,
		  "until in the past");
}

/* An item never activated cannot go on AUTO. */
static void test_inactive(void)
{
	char *ids[2] = {"w_000", "w_001"};
	spt_item_state st;

	world("pw", 0, 0, PTYPE(COMMUNITY), STYPE(APP), "w_", 1);
	SPT_REQUIRE(spt_activate_project(cli, NULL, "pw", "pw_i", PTYPE(COMMUNITY), "pw_p", 1,
					 METHOD(STRIPE), "pm_card_visa", NULL) == 0,
		    "activate");
	/* w_001 is created after the activation: INACTIVE */
	SPT_SEED(spt_create_item(cli, NULL, "pw_p", "w_001", STYPE(APP)));
	SPT_CHECK(spt_set_auto_renew(cli, ids, 2, 1, "pw", METHOD(STRIPE), "pm_card_visa", 0, 0) ==
				  SPB_EPRECONDITION &&
			  strcmp(spb_error_last()->reason, "ITEM_STATE") == 0,
		  "INACTIVE item refused (ITEM_STATE)");
	SPT_CHECK(spt_item_state_of(cli, "pw_p", "w_000", &st) && !st.auto_on,
		  "nothing changed on the other item");
}

static int suite_init(void)
{
	static const char *const args[] = {"--test-clock", NULL};
	SPT_INIT(spt_billingd_start(&srv, args));
	cli = spt_client_to(srv.target, srv.admin_key, 600000);
	SPT_INIT(cli ? 0 : -1);
	SPT_INIT(spt_set_price(cli, PTYPE(COMMUNITY), STYPE(APP), 500, 5));
	SPT_INIT(spt_set_price(cli, PTYPE(COMMERCIAL), STYPE(DOOR), 1000, 5));
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(cli);
	cli = NULL;
	spt_billingd_free(&srv);
	return 0;
}

static void test_billingd_stops_cleanly(void)
{
	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0);
}

/* The clock is shared: the scenarios run in this order. */
static CU_TestInfo tests[] = {
	{"SetAutoRenew validation (R2, R8, R11)", test_validation},
	{"only activated items go on AUTO; the request is all or nothing", test_inactive},
	{"30, 60, 365 days on AUTO: 1, 2, 12 renewals and the matching expiry", test_counts},
	{"auto-renew in credits debits exactly; free door renews at 0; 3 cycles then off",
	 test_credits},
	{"property manager pays in credits until they run out: FAILED insufficient_credits, off",
	 test_credits_run_out},
	{"declined card retries on days 1, 2 and 4 then expires", test_declined},
	{"until a date stops on time", test_until},
	{"EXPIRED item put on AUTO renews from the attempt, not from its old expiry",
	 test_expired_item},
	{"billingd stops cleanly after the renewal runs", test_billingd_stops_cleanly},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"renewal scenarios", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
