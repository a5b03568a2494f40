/*
 * test_events.c - events (issue 15) through the real billingd with the test
 * clock, driven by the SDK only (ListEvents and the spb_events_watch_*
 * streaming call):
 *
 *   - an activation yields exactly one item.activated, with the expiry the
 *     item has, after order.created and order.succeeded;
 *   - AdvanceClock 31 days with auto-renew: order.succeeded, then
 *     item.renewed at the subject's next version, expiry + 30 days;
 *   - auto-renew off: exactly one item.expired after the expiry (and one
 *     item.expiring_soon before it), not repeated by later jumps;
 *   - a sibling tree never sees another tree's events (ListEvents and
 *     WatchEvents, with its own key; a foreign account_id is
 *     PERMISSION_DENIED); the vendor sees both;
 *   - 1,000 events streamed to a watcher while the writes that make them go
 *     on: each once, in order, no gap;
 *   - retention: after 30 days more, the old events are gone.
 *
 * Usage: test_events <billingd>. Checks are counted; exit 1 if any failed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ev_util.h"
#include "harness.h"

#define EV(x) SMARTPLUS__BILLING__V1__##x
typedef Smartplus__Billing__V1__Event event;

/* ---- reading events ---- */

typedef struct evlist {
	event *v[4096];
	int n;
} evlist;

static void evlist_free(evlist *l)
{
	for (int i = 0; i < l->n; i++)
		spb_message_free(l->v[i]);
	l->n = 0;
}

/* Every event after `after` the key (NULL: vendor) sees, optionally only
 * of one subject, through ListEvents pages. Returns the SDK code. */
static int list_events(const char *key, long long after, const char *subject, evlist *out)
{
	Smartplus__Billing__V1__ListEventsRequest r =
		SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	char token[128] = "";
	int rc;

	o.api_key = key;
	r.after_sequence = after;
	r.subject = (char *)(subject ? subject : "");
	r.page_size = 50;
	do {
		Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
		r.page_token = token;
		rc = spb_event_list_events(h_cli, &r, &resp, &o);
		if (rc)
			return rc;
		for (size_t i = 0; i < resp->n_events && out->n < 4096; i++) {
			out->v[out->n++] = resp->events[i];
			resp->events[i] = NULL;
		}
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
	} while (token[0]);
	return 0;
}

static int count_kind(const evlist *l, const char *kind, const char *subject)
{
	int n = 0;
	for (int i = 0; i < l->n; i++)
		n += strcmp(l->v[i]->kind, kind) == 0 &&
		     (!subject || strcmp(l->v[i]->subject, subject) == 0);
	return n;
}

static const event *find(const evlist *l, const char *kind, const char *subject)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->v[i]->kind, kind) == 0 &&
		    (!subject || strcmp(l->v[i]->subject, subject) == 0))
			return l->v[i];
	return NULL;
}

static long long head(void)
{
	Smartplus__Billing__V1__ListEventsRequest r =
		SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
	Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
	long long h = -1;

	r.page_size = 1;
	r.subject = "none/none";
	if (spb_event_list_events(h_cli, &r, &resp, NULL) == 0)
		h = resp->head_sequence;
	spb_message_free(resp);
	return h;
}

static void world(const char *d, const char *prefix, int n)
{
	char i[32], p[32];
	snprintf(i, sizeof(i), "%s_i", d);
	snprintf(p, sizeof(p), "%s_p", d);
	CHECK(h_account(d, R_DISTRIBUTOR, "vendor") == 0, "account %s", d);
	CHECK(h_account(i, R_INSTALLER, d) == 0, "account %s", i);
	CHECK(h_project(p, i, COMM, NULL) == 0, "project %s", p);
	CHECK(h_items(p, S_APP, prefix, n) == 0, "items %s", prefix);
}

/* ---- scenarios ---- */

static int64_t t_act; /* when ea's item was activated */

static void s_activation(void)
{
	evlist l = {.n = 0};
	h_item_state st;
	const event *ev, *oc, *os;
	long long before = head();

	h_begin("activation: exactly one item.activated with the item's expiry");
	world("ea", "ea_", 1);
	CHECK(h_activate("ea", "ea_i", COMM, "ea_p", 1, STRIPE, "pm_card_visa", &t_act) == 0,
	      "activate");
	CHECK(h_item("ea_p", "ea_000", &st) && st.status == I_ACTIVE, "item active");
	CHECK(list_events(NULL, before, NULL, &l) == 0, "ListEvents");
	CHECK(count_kind(&l, "item.activated", "items/ea_000") == 1, "one item.activated (%d)",
	      count_kind(&l, "item.activated", "items/ea_000"));
	ev = find(&l, "item.activated", "items/ea_000");
	oc = find(&l, "order.created", NULL);
	os = find(&l, "order.succeeded", NULL);
	CHECK(ev && ev->data_case == EV(EVENT__DATA_ITEM) &&
		      h_ts(ev->item->expires_at) == st.expires_at,
	      "its Item has the item's expiry");
	CHECK(ev && h_ts(ev->item->expires_at) == t_act + MONTH, "expiry = activation + 30 days");
	CHECK(ev && h_ts(ev->create_time) == t_act, "time on the test clock");
	CHECK(ev && ev->subject_version == 1 && strcmp(ev->account_id, "ea_i") == 0,
	      "first version of the subject, owned by the installer");
	CHECK(ev && strncmp(ev->event_id, "evt_", 4) == 0 && strlen(ev->event_id) == 36,
	      "event id evt_ + 32 hex");
	CHECK(oc && os && ev && oc->sequence < os->sequence && os->sequence < ev->sequence,
	      "order.created, order.succeeded, item.activated in that order");
	CHECK(os && os->data_case == EV(EVENT__DATA_ORDER) && ev &&
		      strcmp(os->order->order_id, ev->cause) == 0,
	      "the item's event names its order as cause");
	for (int i = 1; i < l.n; i++)
		CHECK(l.v[i]->sequence == l.v[i - 1]->sequence + 1, "no gap at %lld",
		      (long long)l.v[i]->sequence);
	evlist_free(&l);
	h_end();
}

static void s_auto_renew(void)
{
	char *ids[1] = {"ea_000"};
	evlist l = {.n = 0};
	h_item_state st;
	const event *os = NULL, *rn = NULL, *prev = NULL;
	long long before;
	int64_t now;

	h_begin("auto-renew over 31 days: order.succeeded then item.renewed, version + 1");
	CHECK(h_auto(ids, 1, 1, "ea", STRIPE, "pm_card_visa", 0, 0) == 0, "SetAutoRenew on");
	before = head();
	CHECK(h_advance(31 * DAY, &now, NULL) == 0, "advance 31 days");
	CHECK(list_events(NULL, before, NULL, &l) == 0, "ListEvents");
	for (int i = 0; i < l.n; i++) {
		const event *e = l.v[i];
		if (strcmp(e->kind, "order.succeeded") == 0 && e->order->type == T_AUTO)
			os = e;
		if (strcmp(e->kind, "item.renewed") == 0 && strcmp(e->subject, "items/ea_000") == 0)
			rn = e;
		if (strcmp(e->subject, "items/ea_000") == 0 && !rn)
			prev = e;
	}
	CHECK(count_kind(&l, "item.renewed", "items/ea_000") == 1, "one item.renewed");
	CHECK(os && rn && os->sequence < rn->sequence, "order.succeeded before item.renewed");
	CHECK(os && rn && strcmp(rn->cause, os->order->order_id) == 0 &&
		      strncmp(rn->cause, "ord_ar_", 7) == 0,
	      "caused by the AUTO_RENEWAL order");
	CHECK(rn && prev && rn->subject_version == prev->subject_version + 1,
	      "item.renewed is the subject's next version (%lld after %lld)",
	      rn ? (long long)rn->subject_version : -1,
	      prev ? (long long)prev->subject_version : -1);
	CHECK(count_kind(&l, "item.expiring_soon", "items/ea_000") == 1,
	      "one item.expiring_soon before the renewal");
	CHECK(h_item("ea_p", "ea_000", &st) && rn && h_ts(rn->item->expires_at) == st.expires_at &&
		      st.expires_at == t_act + 2 * MONTH,
	      "renewed expiry = old + 30 days");
	CHECK(count_kind(&l, "item.expired", "items/ea_000") == 0, "not expired");
	CHECK(h_auto(ids, 1, 0, NULL, 0, NULL, 0, 0) == 0, "SetAutoRenew off");
	evlist_free(&l);
	h_end();
}

static void s_expiry(void)
{
	evlist l = {.n = 0};
	const event *ev;
	long long before = head();
	int64_t t0 = 0, now;

	h_begin("auto-renew off: exactly one item.expired after the expiry");
	world("ex", "ex_", 1);
	CHECK(h_activate("ex", "ex_i", COMM, "ex_p", 1, STRIPE, "pm_card_visa", &t0) == 0,
	      "activate");
	CHECK(h_advance(29 * DAY, &now, NULL) == 0, "advance 29 days");
	CHECK(list_events(NULL, before, "items/ex_000", &l) == 0, "ListEvents by subject");
	CHECK(count_kind(&l, "item.expired", NULL) == 0, "not before the expiry");
	CHECK(count_kind(&l, "item.expiring_soon", NULL) == 1, "one item.expiring_soon");
	evlist_free(&l);
	CHECK(h_advance(2 * DAY, &now, NULL) == 0, "advance past the expiry");
	CHECK(h_advance(20 * DAY, &now, NULL) == 0, "and 20 days more (retention keeps 30)");
	CHECK(list_events(NULL, before, "items/ex_000", &l) == 0, "ListEvents by subject");
	CHECK(count_kind(&l, "item.expired", NULL) == 1, "exactly one item.expired (%d)",
	      count_kind(&l, "item.expired", NULL));
	CHECK(count_kind(&l, "item.expiring_soon", NULL) == 1, "still one item.expiring_soon");
	CHECK(count_kind(&l, "item.activated", NULL) == 0, "the activation, 51 days old, pruned");
	ev = find(&l, "item.expired", NULL);
	CHECK(ev && h_ts(ev->item->expires_at) == t0 + MONTH &&
		      h_ts(ev->create_time) >= t0 + MONTH && ev->item->status == I_EXPIRED,
	      "after the expiry, as EXPIRED");
	for (int i = 0; i < l.n; i++)
		CHECK(strcmp(l.v[i]->subject, "items/ex_000") == 0 &&
			      (i == 0 ||
			       l.v[i]->subject_version == l.v[i - 1]->subject_version + 1),
		      "subject filter, consecutive versions");
	evlist_free(&l);
	h_end();
}

static void s_isolation(void)
{
	char key1[160] = "", key2[160] = "", keyi1[160] = "";
	evlist l = {.n = 0};
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	spb_call_options co = SPB_CALL_OPTIONS_INIT;
	spb_event_watch *w = NULL;
	Smartplus__Billing__V1__Event *ev = NULL;
	long long before = head();
	int rc, seen = 0, foreign = 0;

	h_begin("a sibling tree never sees another tree's events");
	world("t1", "t1_", 1);
	world("t2", "t2_", 1);
	CHECK(ev_mint_key(h_cli, "t1", key1) == 0 && ev_mint_key(h_cli, "t2", key2) == 0 &&
		      ev_mint_key(h_cli, "t1_i", keyi1) == 0,
	      "keys");
	CHECK(h_activate("t1", "t1_i", COMM, "t1_p", 1, STRIPE, "pm_card_visa", NULL) == 0,
	      "activate t1");
	CHECK(h_activate("t2", "t2_i", COMM, "t2_p", 1, STRIPE, "pm_card_visa", NULL) == 0,
	      "activate t2");
	CHECK(h_assign_credits("t2", 7) == 0, "credits to t2");

	CHECK(list_events(key1, before, NULL, &l) == 0, "t1 lists");
	for (int i = 0; i < l.n; i++)
		foreign += strstr(l.v[i]->subject, "t2") != NULL ||
			   strstr(l.v[i]->account_id, "t2") != NULL;
	CHECK(l.n >= 3 && foreign == 0, "t1 sees its %d events and none of t2's (%d)", l.n,
	      foreign);
	evlist_free(&l);
	CHECK(list_events(key2, before, NULL, &l) == 0, "t2 lists");
	CHECK(count_kind(&l, "credits.assigned", "accounts/t2") == 1 &&
		      count_kind(&l, "item.activated", "items/t1_000") == 0,
	      "t2 sees its credits, not t1's item");
	evlist_free(&l);
	CHECK(list_events(keyi1, 0, "items/t2_000", &l) == 0 && l.n == 0,
	      "naming another tree's subject shows nothing");
	evlist_free(&l);
	CHECK(list_events(NULL, before, NULL, &l) == 0 &&
		      count_kind(&l, "item.activated", "items/t1_000") == 1 &&
		      count_kind(&l, "item.activated", "items/t2_000") == 1,
	      "the vendor sees both");
	evlist_free(&l);
	{
		Smartplus__Billing__V1__ListEventsRequest r =
			SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
		co.api_key = key1;
		r.account_id = "t2";
		CHECK(spb_event_list_events(h_cli, &r, &resp, &co) == SPB_EPERM,
		      "ListEvents of a sibling's subtree: PERMISSION_DENIED");
		spb_message_free(resp);
	}

	/* the watch, from the start, with t1's key */
	wo.call = &co;
	wo.after_sequence = before;
	CHECK(spb_events_watch_open(&w, h_cli, &wo) == 0, "watch open");
	while (!spb_events_watch_caught_up(w) &&
	       ((rc = spb_events_watch_next(w, &ev, 200)) == 0 || rc == SPB_ETIMEOUT)) {
		if (rc)
			continue;
		seen++;
		foreign += strstr(ev->subject, "t2") != NULL;
		spb_message_free(ev);
	}
	CHECK(seen >= 3 && foreign == 0, "t1's watch: %d events, none of t2's", seen);
	spb_events_watch_free(w);
	w = NULL;
	wo.account_id = "t2";
	CHECK(spb_events_watch_open(&w, h_cli, &wo) == 0, "watch open (t2's subtree)");
	CHECK(spb_events_watch_next(w, &ev, 5000) == SPB_EPERM,
	      "WatchEvents of a sibling's subtree: PERMISSION_DENIED");
	spb_events_watch_free(w);
	h_end();
}

/* ---- 1,000 events to a watcher while writes go on ---- */

#define N_LIVE 1000

static void *assign_many(void *arg)
{
	int *failed = arg;
	for (int i = 0; i < N_LIVE; i++)
		if (h_assign_credits("lv", 1) != 0)
			(*failed)++;
	return NULL;
}

static void s_stream(void)
{
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	const char *kinds[1] = {"credits.assigned"};
	spb_event_watch *w = NULL;
	Smartplus__Billing__V1__Event *ev = NULL;
	long long last = 0;
	int got = 0, dup_or_gap = 0, failed = 0, rc = 0;
	pthread_t t;

	h_begin("1,000 events streamed to a watcher while writes go on");
	CHECK(h_account("lv", R_DISTRIBUTOR, "vendor") == 0, "account lv");
	wo.after_sequence = head();
	wo.kinds = kinds;
	wo.n_kinds = 1;
	wo.subject = "accounts/lv";
	CHECK(spb_events_watch_open(&w, h_cli, &wo) == 0, "watch open");
	/* live first: the caught-up marker comes before any write */
	while (!spb_events_watch_caught_up(w) && spb_events_watch_next(w, &ev, 200) == SPB_ETIMEOUT)
		;
	CHECK(spb_events_watch_caught_up(w), "watch caught up");
	pthread_create(&t, NULL, assign_many, &failed);
	while (got < N_LIVE && (rc = spb_events_watch_next(w, &ev, 20000)) == 0) {
		if (last && ev->sequence != last + 1)
			dup_or_gap++;
		last = ev->sequence;
		got += strcmp(ev->kind, "credits.assigned") == 0 &&
		       ev->transfer->to_account_id[0] == 'l' && ev->transfer->credits == 1;
		spb_message_free(ev);
	}
	pthread_join(t, NULL);
	CHECK(failed == 0, "%d AssignCredits failed", failed);
	CHECK(got == N_LIVE && dup_or_gap == 0, "%d of %d, each once, in order (%d out of order)",
	      got, N_LIVE, dup_or_gap);
	CHECK(spb_events_watch_next(w, &ev, 300) == SPB_ETIMEOUT, "and nothing more");
	CHECK(h_balance("lv") == N_LIVE, "balance %lld", (long long)h_balance("lv"));
	spb_events_watch_free(w);
	h_end();
}

static void s_retention(void)
{
	evlist l = {.n = 0};
	int64_t now;

	h_begin("retention: events older than 30 days are pruned");
	CHECK(h_advance(31 * DAY, &now, NULL) == 0, "advance 31 days");
	CHECK(list_events(NULL, 0, "items/ea_000", &l) == 0, "ListEvents");
	CHECK(count_kind(&l, "item.activated", NULL) == 0, "the activation's events are gone");
	for (int i = 0; i < l.n; i++)
		CHECK(h_ts(l.v[i]->create_time) >= now - 30 * DAY, "only the last 30 days");
	evlist_free(&l);
	h_end();
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <billingd>\n", argv[0]);
		return 2;
	}
	if (h_init(argv[1]) != 0 || h_start() != 0) {
		fprintf(stderr, "billingd does not start\n");
		return 1;
	}
	CHECK(h_price(COMM, S_APP, 500, 5) == 0, "price");
	s_activation();
	s_auto_renew();
	s_expiry();
	s_isolation();
	s_stream();
	s_retention();
	h_stop(15);
	h_cleanup();
	return h_report();
}
