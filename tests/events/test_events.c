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
 *   - the other kinds the API's actions make, each once with its payload:
 *     price.changed, policy.changed, credits.purchased, coupon.redeemed,
 *     credits.spent, order.failed, order.canceled, item.deleted, and
 *     order.timed_out (25 hours later, the sweeper run by a restart);
 *   - retention: after 30 days more, the old events are gone.
 *
 * Usage: test_events BILLINGD (one suite; the scenarios share the test clock
 * and run in order).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spt_billingd.h"
#include "spt_enums.h"
#include "spt_run.h"
#include "spt_sdk.h"
#include "spt_time.h"

#define EV(x) SMARTPLUS__BILLING__V1__##x
#define DAY SPT_DAY_US
#define MONTH SPT_MONTH_US

static spt_billingd srv;
static spb_client *h_cli;
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
	SPT_CHECK(spt_create_account(h_cli, NULL, d, ROLE(DISTRIBUTOR), "vendor") == 0,
		  "account %s", d);
	SPT_CHECK(spt_create_account(h_cli, NULL, i, ROLE(INSTALLER), d) == 0, "account %s", i);
	SPT_CHECK(spt_create_project(h_cli, NULL, p, i, PTYPE(COMMUNITY), NULL, 0) == 0,
		  "project %s", p);
	SPT_CHECK(spt_create_items(h_cli, NULL, p, STYPE(APP), prefix, n) == 0, "items %s", prefix);
}

/* ---- scenarios ---- */

static int64_t t_act; /* when ea's item was activated */

static void s_activation(void)
{
	evlist l = {.n = 0};
	spt_item_state st;
	const event *ev, *oc, *os;
	long long before = head();

	world("ea", "ea_", 1);
	SPT_CHECK(spt_activate_project(h_cli, NULL, "ea", "ea_i", PTYPE(COMMUNITY), "ea_p", 1,
				       METHOD(STRIPE), "pm_card_visa", &t_act) == 0,
		  "activate");
	SPT_CHECK(spt_item_state_of(h_cli, "ea_p", "ea_000", &st) && st.status == ISTATUS(ACTIVE),
		  "item active");
	SPT_CHECK(list_events(NULL, before, NULL, &l) == 0, "ListEvents");
	SPT_CHECK(count_kind(&l, "item.activated", "items/ea_000") == 1, "one item.activated (%d)",
		  count_kind(&l, "item.activated", "items/ea_000"));
	ev = find(&l, "item.activated", "items/ea_000");
	oc = find(&l, "order.created", NULL);
	os = find(&l, "order.succeeded", NULL);
	SPT_CHECK(ev && ev->data_case == EV(EVENT__DATA_ITEM) &&
			  spt_ts_us(ev->item->expires_at) == st.expires_at,
		  "its Item has the item's expiry");
	SPT_CHECK(ev && spt_ts_us(ev->item->expires_at) == t_act + MONTH,
		  "expiry = activation + 30 days");
	SPT_CHECK(ev && spt_ts_us(ev->create_time) == t_act, "time on the test clock");
	SPT_CHECK(ev && ev->subject_version == 1 && strcmp(ev->account_id, "ea_i") == 0,
		  "first version of the subject, owned by the installer");
	SPT_CHECK(ev && strncmp(ev->event_id, "evt_", 4) == 0 && strlen(ev->event_id) == 36,
		  "event id evt_ + 32 hex");
	SPT_CHECK(oc && os && ev && oc->sequence < os->sequence && os->sequence < ev->sequence,
		  "order.created, order.succeeded, item.activated in that order");
	SPT_CHECK(os && os->data_case == EV(EVENT__DATA_ORDER) && ev &&
			  strcmp(os->order->order_id, ev->cause) == 0,
		  "the item's event names its order as cause");
	for (int i = 1; i < l.n; i++)
		SPT_CHECK(l.v[i]->sequence == l.v[i - 1]->sequence + 1, "no gap at %lld",
			  (long long)l.v[i]->sequence);
	evlist_free(&l);
}

static void s_auto_renew(void)
{
	char *ids[1] = {"ea_000"};
	evlist l = {.n = 0};
	spt_item_state st;
	const event *os = NULL, *rn = NULL, *prev = NULL;
	long long before;
	int64_t now;

	SPT_CHECK(spt_set_auto_renew(h_cli, ids, 1, 1, "ea", METHOD(STRIPE), "pm_card_visa", 0,
				     0) == 0,
		  "SetAutoRenew on");
	before = head();
	SPT_CHECK(spt_advance_clock(h_cli, 31 * DAY, &now, NULL) == 0, "advance 31 days");
	SPT_CHECK(list_events(NULL, before, NULL, &l) == 0, "ListEvents");
	for (int i = 0; i < l.n; i++) {
		const event *e = l.v[i];
		if (strcmp(e->kind, "order.succeeded") == 0 &&
		    e->order->type == OTYPE(AUTO_RENEWAL))
			os = e;
		if (strcmp(e->kind, "item.renewed") == 0 && strcmp(e->subject, "items/ea_000") == 0)
			rn = e;
		if (strcmp(e->subject, "items/ea_000") == 0 && !rn)
			prev = e;
	}
	SPT_CHECK(count_kind(&l, "item.renewed", "items/ea_000") == 1, "one item.renewed");
	SPT_CHECK(os && rn && os->sequence < rn->sequence, "order.succeeded before item.renewed");
	SPT_CHECK(os && rn && strcmp(rn->cause, os->order->order_id) == 0 &&
			  strncmp(rn->cause, "ord_ar_", 7) == 0,
		  "caused by the AUTO_RENEWAL order");
	SPT_CHECK(rn && prev && rn->subject_version == prev->subject_version + 1,
		  "item.renewed is the subject's next version (%lld after %lld)",
		  rn ? (long long)rn->subject_version : -1,
		  prev ? (long long)prev->subject_version : -1);
	SPT_CHECK(count_kind(&l, "item.expiring_soon", "items/ea_000") == 1,
		  "one item.expiring_soon before the renewal");
	SPT_CHECK(spt_item_state_of(h_cli, "ea_p", "ea_000", &st) && rn &&
			  spt_ts_us(rn->item->expires_at) == st.expires_at &&
			  st.expires_at == t_act + 2 * MONTH,
		  "renewed expiry = old + 30 days");
	SPT_CHECK(count_kind(&l, "item.expired", "items/ea_000") == 0, "not expired");
	SPT_CHECK(spt_set_auto_renew(h_cli, ids, 1, 0, NULL, 0, NULL, 0, 0) == 0,
		  "SetAutoRenew off");
	evlist_free(&l);
}

static void s_expiry(void)
{
	evlist l = {.n = 0};
	const event *ev;
	long long before = head();
	int64_t t0 = 0, now;

	world("ex", "ex_", 1);
	SPT_CHECK(spt_activate_project(h_cli, NULL, "ex", "ex_i", PTYPE(COMMUNITY), "ex_p", 1,
				       METHOD(STRIPE), "pm_card_visa", &t0) == 0,
		  "activate");
	SPT_CHECK(spt_advance_clock(h_cli, 29 * DAY, &now, NULL) == 0, "advance 29 days");
	SPT_CHECK(list_events(NULL, before, "items/ex_000", &l) == 0, "ListEvents by subject");
	SPT_CHECK(count_kind(&l, "item.expired", NULL) == 0, "not before the expiry");
	SPT_CHECK(count_kind(&l, "item.expiring_soon", NULL) == 1, "one item.expiring_soon");
	evlist_free(&l);
	SPT_CHECK(spt_advance_clock(h_cli, 2 * DAY, &now, NULL) == 0, "advance past the expiry");
	SPT_CHECK(spt_advance_clock(h_cli, 20 * DAY, &now, NULL) == 0,
		  "and 20 days more (retention keeps 30)");
	SPT_CHECK(list_events(NULL, before, "items/ex_000", &l) == 0, "ListEvents by subject");
	SPT_CHECK(count_kind(&l, "item.expired", NULL) == 1, "exactly one item.expired (%d)",
		  count_kind(&l, "item.expired", NULL));
	SPT_CHECK(count_kind(&l, "item.expiring_soon", NULL) == 1, "still one item.expiring_soon");
	SPT_CHECK(count_kind(&l, "item.activated", NULL) == 0,
		  "the activation, 51 days old, pruned");
	ev = find(&l, "item.expired", NULL);
	SPT_CHECK(ev && spt_ts_us(ev->item->expires_at) == t0 + MONTH &&
			  spt_ts_us(ev->create_time) >= t0 + MONTH &&
			  ev->item->status == ISTATUS(EXPIRED),
		  "after the expiry, as EXPIRED");
	for (int i = 0; i < l.n; i++)
		SPT_CHECK(strcmp(l.v[i]->subject, "items/ex_000") == 0 &&
				  (i == 0 ||
				   l.v[i]->subject_version == l.v[i - 1]->subject_version + 1),
			  "subject filter, consecutive versions");
	evlist_free(&l);
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

	world("t1", "t1_", 1);
	world("t2", "t2_", 1);
	SPT_CHECK(spt_create_key(h_cli, NULL, "t1", SCOPE(ACCOUNT), key1, NULL) == 0 &&
			  spt_create_key(h_cli, NULL, "t2", SCOPE(ACCOUNT), key2, NULL) == 0 &&
			  spt_create_key(h_cli, NULL, "t1_i", SCOPE(ACCOUNT), keyi1, NULL) == 0,
		  "keys");
	SPT_CHECK(spt_activate_project(h_cli, NULL, "t1", "t1_i", PTYPE(COMMUNITY), "t1_p", 1,
				       METHOD(STRIPE), "pm_card_visa", NULL) == 0,
		  "activate t1");
	SPT_CHECK(spt_activate_project(h_cli, NULL, "t2", "t2_i", PTYPE(COMMUNITY), "t2_p", 1,
				       METHOD(STRIPE), "pm_card_visa", NULL) == 0,
		  "activate t2");
	SPT_CHECK(spt_assign_credits(h_cli, NULL, "vendor", "t2", 7) == 0, "credits to t2");

	SPT_CHECK(list_events(key1, before, NULL, &l) == 0, "t1 lists");
	for (int i = 0; i < l.n; i++)
		foreign += strstr(l.v[i]->subject, "t2") != NULL ||
			   strstr(l.v[i]->account_id, "t2") != NULL;
	SPT_CHECK(l.n >= 3 && foreign == 0, "t1 sees its %d events and none of t2's (%d)", l.n,
		  foreign);
	evlist_free(&l);
	SPT_CHECK(list_events(key2, before, NULL, &l) == 0, "t2 lists");
	SPT_CHECK(count_kind(&l, "credits.assigned", "accounts/t2") == 1 &&
			  count_kind(&l, "item.activated", "items/t1_000") == 0,
		  "t2 sees its credits, not t1's item");
	evlist_free(&l);
	SPT_CHECK(list_events(keyi1, 0, "items/t2_000", &l) == 0 && l.n == 0,
		  "naming another tree's subject shows nothing");
	evlist_free(&l);
	SPT_CHECK(list_events(NULL, before, NULL, &l) == 0 &&
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
		SPT_CHECK(spb_event_list_events(h_cli, &r, &resp, &co) == SPB_EPERM,
			  "ListEvents of a sibling's subtree: PERMISSION_DENIED");
		spb_message_free(resp);
	}

	/* the watch, from the start, with t1's key */
	wo.call = &co;
	wo.after_sequence = before;
	SPT_CHECK(spb_events_watch_open(&w, h_cli, &wo) == 0, "watch open");
	while (!spb_events_watch_caught_up(w) &&
	       ((rc = spb_events_watch_next(w, &ev, 200)) == 0 || rc == SPB_ETIMEOUT)) {
		if (rc)
			continue;
		seen++;
		foreign += strstr(ev->subject, "t2") != NULL;
		spb_message_free(ev);
	}
	SPT_CHECK(seen >= 3 && foreign == 0, "t1's watch: %d events, none of t2's", seen);
	spb_events_watch_free(w);
	w = NULL;
	wo.account_id = "t2";
	SPT_CHECK(spb_events_watch_open(&w, h_cli, &wo) == 0, "watch open (t2's subtree)");
	SPT_CHECK(spb_events_watch_next(w, &ev, 5000) == SPB_EPERM,
		  "WatchEvents of a sibling's subtree: PERMISSION_DENIED");
	spb_events_watch_free(w);
}

/* ---- 1,000 events to a watcher while writes go on ---- */

#define N_LIVE 1000

static void *assign_many(void *arg)
{
	int *failed = arg;
	for (int i = 0; i < N_LIVE; i++)
		if (spt_assign_credits(h_cli, NULL, "vendor", "lv", 1) != 0)
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

	SPT_CHECK(spt_create_account(h_cli, NULL, "lv", ROLE(DISTRIBUTOR), "vendor") == 0,
		  "account lv");
	wo.after_sequence = head();
	wo.kinds = kinds;
	wo.n_kinds = 1;
	wo.subject = "accounts/lv";
	SPT_CHECK(spb_events_watch_open(&w, h_cli, &wo) == 0, "watch open");
	/* live first: the caught-up marker comes before any write */
	while (!spb_events_watch_caught_up(w) && spb_events_watch_next(w, &ev, 200) == SPB_ETIMEOUT)
		;
	SPT_CHECK(spb_events_watch_caught_up(w), "watch caught up");
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
	SPT_CHECK(failed == 0, "%d AssignCredits failed", failed);
	SPT_CHECK(got == N_LIVE && dup_or_gap == 0,
		  "%d of %d, each once, in order (%d out of order)", got, N_LIVE, dup_or_gap);
	SPT_CHECK(spb_events_watch_next(w, &ev, 300) == SPB_ETIMEOUT, "and nothing more");
	SPT_CHECK(spt_credit_balance(h_cli, NULL, "lv") == N_LIVE, "balance %lld",
		  (long long)spt_credit_balance(h_cli, NULL, "lv"));
	spb_events_watch_free(w);
}

/* The event of kind on subject among l, with one check that there is
 * exactly one. */
static const event *one(const evlist *l, const char *kind, const char *subject)
{
	int n = count_kind(l, kind, subject);
	SPT_CHECK(n == 1, "one %s on %s (%d)", kind, subject ? subject : "any subject", n);
	return find(l, kind, subject);
}

/* The other kinds the API's own actions make, each through billingd once,
 * on its subject, with its payload: price.changed (price and credit
 * price), policy.changed, credits.purchased with coupon.redeemed,
 * credits.spent by a CREDITS activation, order.failed (a declined card),
 * order.canceled (CancelOrder of a pending PayPal order), item.deleted. */
static void s_kinds(void)
{
	Smartplus__Billing__V1__PurchaseCreditsRequest pc =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *pcr = NULL;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyRequest pol =
		SMARTPLUS__BILLING__V1__SET_INSTALLER_PAYMENT_POLICY_REQUEST__INIT;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse *polr = NULL;
	Smartplus__Billing__V1__PaymentMethod methods[1] = {METHOD(STRIPE)};
	Smartplus__Billing__V1__CancelOrderRequest cr =
		SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__CancelOrderResponse *crr = NULL;
	Smartplus__Billing__V1__DeleteItemRequest dr =
		SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
	Smartplus__Billing__V1__DeleteItemResponse *drr = NULL;
	Smartplus__Billing__V1__QuoteServicesResponse *q = NULL;
	Smartplus__Billing__V1__Order *po = NULL;
	spt_quote_spec qs = {.action = ACTION(ACTIVATE),
			     .payer = "ek",
			     .installer = "ek_i",
			     .ptype = PTYPE(COMMUNITY),
			     .project = "ek_q",
			     .months = 1};
	void *keep = NULL;
	char purchase[64] = "", pending[64] = "", subject[96];
	evlist l = {.n = 0};
	const event *e;
	long long before = head();

	world("ek", "ek_", 1);
	SPT_CHECK(spt_create_account(h_cli, NULL, "ek_j", ROLE(INSTALLER), "ek") == 0, "ek_j");
	SPT_CHECK(spt_create_project(h_cli, NULL, "ek_q", "ek_i", PTYPE(COMMUNITY), NULL, 0) == 0,
		  "project ek_q");
	SPT_CHECK(spt_create_items(h_cli, NULL, "ek_q", STYPE(APP), "ekq_", 1) == 0, "ekq_000");
	SPT_CHECK(spt_create_project(h_cli, NULL, "ek_m", "ek_i", PTYPE(COMMERCIAL), NULL, 0) == 0,
		  "project ek_m (COMMERCIAL: CREDITS only)");
	SPT_CHECK(spt_create_items(h_cli, NULL, "ek_m", STYPE(DOOR), "ekm_", 2) == 0, "two doors");
	SPT_CHECK(spt_set_price(h_cli, PTYPE(COMMERCIAL), STYPE(DOOR), 1000, 5) == 0,
		  "SetPrice DOOR");

	SPT_CHECK(spt_set_price(h_cli, PTYPE(COMMUNITY), STYPE(APP), 500, 5) == 0, "SetPrice");
	SPT_CHECK(spt_set_credit_price(h_cli, 50) == 0, "SetCreditPrice");
	SPT_CHECK(spt_create_coupon(h_cli, "EK_TEN", 10, 1, 0) == 0, "CreateCoupon");

	pol.installer_id = "ek_j";
	pol.pay_by_installer = 1;
	pol.n_allowed_methods = 1;
	pol.allowed_methods = methods;
	SPT_CHECK(spb_billing_set_installer_payment_policy(h_cli, &pol, &polr, NULL) == 0,
		  "SetInstallerPaymentPolicy");
	spb_message_free(polr);

	pc.account_id = "ek";
	pc.payer_id = "ek";
	pc.credits = 100;
	pc.payment_method = METHOD(STRIPE);
	pc.stripe_payment_method_id = "pm_card_visa";
	pc.billing_info = spt_billing_info();
	pc.terms_accepted = 1;
	pc.coupon_code = "EK_TEN";
	SPT_CHECK(spb_billing_purchase_credits(h_cli, &pc, &pcr, NULL) == 0 && pcr->order &&
			  pcr->order->status == OSTATUS(SUCCEEDED),
		  "PurchaseCredits 100 with EK_TEN");
	if (pcr && pcr->order)
		snprintf(purchase, sizeof(purchase), "%s", pcr->order->order_id);
	spb_message_free(pcr);

	SPT_CHECK(spt_activate_project(h_cli, NULL, "ek", "ek_i", PTYPE(COMMERCIAL), "ek_m", 1,
				       METHOD(CREDITS), NULL, NULL) == 0,
		  "activate ek_m with credits");
	SPT_CHECK(spt_activate_project(h_cli, NULL, "ek", "ek_i", PTYPE(COMMUNITY), "ek_q", 1,
				       METHOD(STRIPE), "pm_card_chargeDeclined", NULL) != 0,
		  "a declined card: the order does not succeed");

	SPT_CHECK(spt_quote(h_cli, NULL, &qs, &q) == 0, "quote ek_q");
	SPT_CHECK(q &&
			  spt_place_order(h_cli, NULL, ACTION(ACTIVATE), q->quote->quote_id,
					  METHOD(PAYPAL), NULL, &po, &keep) == 0 &&
			  po && po->status == OSTATUS(PENDING_PAYMENT),
		  "a PayPal order waits for approval");
	if (po)
		snprintf(pending, sizeof(pending), "%s", po->order_id);
	spb_message_free(keep);
	spb_message_free(q);
	cr.order_id = pending;
	SPT_CHECK(spb_billing_cancel_order(h_cli, &cr, &crr, NULL) == 0 && crr->order &&
			  crr->order->status == OSTATUS(CANCELED),
		  "CancelOrder");
	spb_message_free(crr);

	SPT_CHECK(spt_create_item(h_cli, NULL, "ek_q", "ekd_000", STYPE(APP)) == 0, "ekd_000");
	dr.item_id = "ekd_000";
	SPT_CHECK(spb_directory_delete_item(h_cli, &dr, &drr, NULL) == 0, "DeleteItem");
	spb_message_free(drr);

	SPT_CHECK(list_events(NULL, before, NULL, &l) == 0, "ListEvents");

	e = NULL;
	for (int i = 0; i < l.n; i++)
		if (strcmp(l.v[i]->kind, "price.changed") == 0 &&
		    l.v[i]->data_case == EV(EVENT__DATA_PRICE) &&
		    l.v[i]->price->project_type == PTYPE(COMMUNITY) &&
		    l.v[i]->price->service_type == STYPE(APP))
			e = l.v[i];
	SPT_CHECK(e && strncmp(e->subject, "prices/", 7) == 0 && e->price->monthly_amount == 500,
		  "price.changed carries the Price");
	e = one(&l, "price.changed", "creditPrices/USD");
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_CREDIT_PRICE) &&
			  e->credit_price->unit_amount == 50,
		  "price.changed carries the CreditPrice");

	e = one(&l, "policy.changed", "installers/ek_j/paymentPolicy");
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_POLICY) && e->policy->pay_by_installer &&
			  e->policy->n_allowed_methods == 1 &&
			  e->policy->allowed_methods[0] == METHOD(STRIPE),
		  "policy.changed carries the policy as set");

	e = NULL;
	for (int i = 0; i < l.n; i++)
		if (strcmp(l.v[i]->kind, "credits.purchased") == 0 &&
		    strcmp(l.v[i]->subject, "accounts/ek") == 0)
			e = l.v[i];
	SPT_CHECK(count_kind(&l, "credits.purchased", "accounts/ek") == 1, "one credits.purchased");
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_TRANSFER) && e->transfer->credits == 100 &&
			  e->transfer->kind ==
				  SMARTPLUS__BILLING__V1__TRANSFER_KIND__TRANSFER_KIND_PURCHASE &&
			  strcmp(e->transfer->order_id, purchase) == 0 &&
			  strcmp(e->transfer->to_account_id, "ek") == 0,
		  "credits.purchased: 100 credits to ek by the purchase order");
	e = one(&l, "coupon.redeemed", "coupons/EK_TEN");
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_REDEMPTION) &&
			  strcmp(e->redemption->order_id, purchase) == 0 &&
			  strcmp(e->redemption->payer_id, "ek") == 0,
		  "coupon.redeemed names the purchase and its payer");

	e = NULL;
	for (int i = 0; i < l.n; i++)
		if (strcmp(l.v[i]->kind, "credits.spent") == 0 &&
		    strcmp(l.v[i]->subject, "accounts/ek") == 0)
			e = l.v[i];
	SPT_CHECK(count_kind(&l, "credits.spent", "accounts/ek") == 1, "one credits.spent");
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_TRANSFER) && e->transfer->credits == 5 &&
			  e->transfer->from_balance == 95 &&
			  e->transfer->kind ==
				  SMARTPLUS__BILLING__V1__TRANSFER_KIND__TRANSFER_KIND_SPEND,
		  "credits.spent: one door at 5 credits (the oldest is free), 95 left");
	SPT_CHECK(count_kind(&l, "item.activated", "items/ekm_000") == 1 &&
			  count_kind(&l, "item.activated", "items/ekm_001") == 1,
		  "the credits activation activated both doors");

	e = NULL;
	for (int i = 0; i < l.n; i++)
		if (strcmp(l.v[i]->kind, "order.failed") == 0 &&
		    l.v[i]->data_case == EV(EVENT__DATA_ORDER))
			e = l.v[i];
	SPT_CHECK(count_kind(&l, "order.failed", NULL) == 1, "one order.failed");
	SPT_CHECK(e && e->order->status == OSTATUS(FAILED) &&
			  count_kind(&l, "item.activated", "items/ekq_000") == 0,
		  "order.failed: the declined order, nothing activated");

	snprintf(subject, sizeof(subject), "orders/%s", pending);
	e = one(&l, "order.canceled", subject);
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_ORDER) &&
			  e->order->status == OSTATUS(CANCELED) &&
			  count_kind(&l, "order.created", subject) == 1,
		  "order.canceled after its order.created");

	e = one(&l, "item.deleted", "items/ekd_000");
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_ITEM) &&
			  strcmp(e->item->item_id, "ekd_000") == 0 &&
			  strcmp(e->account_id, "ek_i") == 0,
		  "item.deleted carries the item as it was, owned by the installer");
	evlist_free(&l);
}

/* order.timed_out: a PayPal order never approved, 25 hours later on the
 * test clock; the time-out sweeper runs when billingd starts (then every
 * minute), so billingd is restarted on its store to run it now. */
static void s_timed_out(void)
{
	Smartplus__Billing__V1__QuoteServicesResponse *q = NULL;
	Smartplus__Billing__V1__Order *po = NULL;
	spt_quote_spec qs = {.action = ACTION(ACTIVATE),
			     .payer = "ek",
			     .installer = "ek_i",
			     .ptype = PTYPE(COMMUNITY),
			     .project = "ek_q",
			     .months = 1};
	void *keep = NULL;
	char subject[96] = "orders/";
	evlist l = {.n = 0};
	const event *e = NULL;
	long long before = head();
	int64_t now;

	SPT_CHECK(spt_quote(h_cli, NULL, &qs, &q) == 0, "quote ek_q");
	SPT_CHECK(q &&
			  spt_place_order(h_cli, NULL, ACTION(ACTIVATE), q->quote->quote_id,
					  METHOD(PAYPAL), NULL, &po, &keep) == 0 &&
			  po && po->status == OSTATUS(PENDING_PAYMENT),
		  "a PayPal order waits for approval");
	if (po)
		snprintf(subject, sizeof(subject), "orders/%s", po->order_id);
	spb_message_free(keep);
	spb_message_free(q);
	SPT_CHECK(spt_advance_clock(h_cli, 25 * SPT_HOUR_US, &now, NULL) == 0, "advance 25 hours");
	spb_client_free(h_cli);
	h_cli = NULL;
	SPT_CHECK(spt_billingd_stop(&srv) == 0, "stop");
	SPT_REQUIRE(spt_billingd_restart(&srv) == 0, "start again on the same store");
	h_cli = spt_client(&srv, NULL);
	SPT_REQUIRE(h_cli != NULL, "client");
	/* the sweep commits soon after the start: bounded polling */
	for (int i = 0; i < 100 && !e; i++) {
		evlist_free(&l);
		SPT_CHECK(list_events(NULL, before, subject, &l) == 0, "ListEvents");
		e = find(&l, "order.timed_out", subject);
		if (!e)
			usleep(50 * 1000);
	}
	SPT_CHECK(count_kind(&l, "order.timed_out", subject) == 1, "one order.timed_out");
	SPT_CHECK(e && e->data_case == EV(EVENT__DATA_ORDER) &&
			  e->order->status == OSTATUS(TIMED_OUT) &&
			  spt_ts_us(e->create_time) >= now,
		  "the order as TIMED_OUT, at the test clock's time");
	SPT_CHECK(count_kind(&l, "order.created", subject) == 1, "after its order.created");
	evlist_free(&l);
}

static void s_stop(void)
{
	SPT_CHECK(spt_billingd_stop(&srv) == 0, "SIGTERM: a clean exit");
}

static void s_retention(void)
{
	evlist l = {.n = 0};
	int64_t now;

	SPT_CHECK(spt_advance_clock(h_cli, 31 * DAY, &now, NULL) == 0, "advance 31 days");
	SPT_CHECK(list_events(NULL, 0, "items/ea_000", &l) == 0, "ListEvents");
	SPT_CHECK(count_kind(&l, "item.activated", NULL) == 0, "the activation's events are gone");
	for (int i = 0; i < l.n; i++)
		SPT_CHECK(spt_ts_us(l.v[i]->create_time) >= now - 30 * DAY,
			  "only the last 30 days");
	evlist_free(&l);
}

static int suite_init(void)
{
	static const char *const args[] = {"--test-clock", NULL};

	SPT_INIT(spt_billingd_start(&srv, args));
	h_cli = spt_client(&srv, NULL);
	SPT_INIT(h_cli ? 0 : -1);
	SPT_INIT(spt_set_price(h_cli, PTYPE(COMMUNITY), STYPE(APP), 500, 5));
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(h_cli);
	h_cli = NULL;
	spt_billingd_free(&srv);
	return 0;
}

static CU_TestInfo tests[] = {
	{"activation: exactly one item.activated with the item's expiry", s_activation},
	{"auto-renew over 31 days: order.succeeded then item.renewed, version + 1", s_auto_renew},
	{"auto-renew off: exactly one item.expired after the expiry", s_expiry},
	{"a sibling tree never sees another tree's events", s_isolation},
	{"1,000 events streamed to a watcher while writes go on", s_stream},
	{"prices, policy, credits, coupon, failed and canceled orders, item deletion", s_kinds},
	{"a pending order not paid within 24 hours: one order.timed_out", s_timed_out},
	{"retention: events older than 30 days are pruned", s_retention},
	{"billingd stops cleanly", s_stop},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"events", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
