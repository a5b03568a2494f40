/*
 * Renewal groups (issue 16) through the SDK against the real billingd with
 * the test clock (sandbox payments, lead time 24 h):
 *
 *  - a group of N items (default 500) renews in ONE AUTO_RENEWAL order per
 *    period holding every item as a line, one provider charge each, for M
 *    periods (default 3); an item joining mid-period gets a prorated first
 *    order up to the group's renewal time (to the day, R3), then rides the
 *    group's next order;
 *  - co-terming: ACTIVATE until the group's renewal time, prorated by day,
 *    the quote showing the aligned expiry; put on AUTO it is a line of the
 *    group's next order (no join);
 *  - payment requests up the tree: an installer that may not pay asks its
 *    distributor; one approved (the order placed with the distributor's
 *    card), one declined, one expiring with its quote.
 *
 * The long run (by hand, figures in the report): SPB_GROUPS=50
 * SPB_GROUP_ITEMS=100 SPB_GROUP_MONTHS=12 renewal_groups <billingd> prints
 * orders placed vs groups x periods + joins, provider charges, items
 * extended, and the AdvanceClock wall time per period.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spt_billingd.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define DAY SPT_DAY_US
#define MONTH SPT_MONTH_US
#define HOUR SPT_HOUR_US
#define PRSTATUS(x) V1(PAYMENT_REQUEST_STATUS__PAYMENT_REQUEST_STATUS_##x)

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

static int env_int(const char *name, int dflt, int lo, int hi)
{
	const char *v = getenv(name);
	char *end;
	long n;
	if (!v || !*v)
		return dflt;
	n = strtol(v, &end, 10);
	return *end || n < lo || n > hi ? dflt : (int)n;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- what the orders of a payer say ---- */

typedef struct tally {
	int orders, succeeded, joins, other;
	int64_t lines;
	int bad_pi, bad_total;
	/* the join seen: */
	int join_days;
	int64_t join_amount, join_new_expiry;
	char join_group[64];
	int64_t max_lines;
} tally;

static void on_order(const Smartplus__Billing__V1__Order *o, void *arg)
{
	tally *t = arg;
	char pi[96];
	int64_t sum = 0;
	t->orders++;
	if (o->status != OSTATUS(SUCCEEDED)) {
		t->other++;
		return;
	}
	t->succeeded++;
	t->lines += (int64_t)o->n_lines;
	if ((int64_t)o->n_lines > t->max_lines)
		t->max_lines = (int64_t)o->n_lines;
	for (size_t i = 0; i < o->n_lines; i++)
		sum += o->lines[i]->amount;
	if (sum != o->total)
		t->bad_total++;
	snprintf(pi, sizeof(pi), "pi_sandbox_%s", o->order_id);
	if (strcmp(o->stripe_payment_intent_id, pi) != 0)
		t->bad_pi++;
	/* a join: its line moves an expiry that is not a group renewal time,
	 * for fewer than 30 days */
	if (o->n_lines == 1 && o->lines[0]->days > 0 && o->lines[0]->days < 30) {
		t->joins++;
		t->join_days = o->lines[0]->days;
		t->join_amount = o->lines[0]->amount;
		t->join_new_expiry = spt_ts_us(o->lines[0]->new_expires_at);
		snprintf(t->join_group, sizeof(t->join_group), "%s", o->renewal_group_id);
	}
}

static void tally_of(const char *payer, tally *t)
{
	memset(t, 0, sizeof(*t));
	SPT_CHECK(spt_each_order(cli, payer, OTYPE(AUTO_RENEWAL), on_order, t) == 0,
		  "ListOrders %s", payer);
}

typedef struct expiries {
	int64_t want;
	int n, at_want;
} expiries;

static void on_item(const Smartplus__Billing__V1__Item *it, void *arg)
{
	expiries *e = arg;
	int64_t x = spt_ts_us(it->expires_at);
	e->n++;
	e->at_want += x == e->want;
}

/* The renewal group of payer (the first listed) into id[64]; its items. */
static int64_t group_of(const char *payer, char id[64], int64_t *next_renewal)
{
	Smartplus__Billing__V1__ListRenewalGroupsRequest r =
		SMARTPLUS__BILLING__V1__LIST_RENEWAL_GROUPS_REQUEST__INIT;
	Smartplus__Billing__V1__ListRenewalGroupsResponse *resp = NULL;
	int64_t n = -1;
	id[0] = 0;
	r.payer_id = (char *)payer;
	if (spb_billing_list_renewal_groups(cli, &r, &resp, NULL) != 0)
		return -1;
	if (resp->n_renewal_groups == 1) {
		snprintf(id, 64, "%s", resp->renewal_groups[0]->renewal_group_id);
		n = resp->renewal_groups[0]->items;
		if (next_renewal)
			*next_renewal = spt_ts_us(resp->renewal_groups[0]->next_renewal_time);
	}
	spb_message_free(resp);
	return n;
}

/* SetAutoRenew of item_ids with payer's card, into group_id if given. */
static int auto_on(char **ids, size_t n, const char *payer, const char *group_id)
{
	Smartplus__Billing__V1__SetAutoRenewRequest req =
		SMARTPLUS__BILLING__V1__SET_AUTO_RENEW_REQUEST__INIT;
	Smartplus__Billing__V1__SetAutoRenewResponse *resp = NULL;
	Smartplus__Billing__V1__AutoRenewTerm t = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__INIT;
	int rc;
	req.item_ids = ids;
	req.n_item_ids = n;
	req.enabled = 1;
	req.payer_id = (char *)payer;
	req.payment_method = METHOD(STRIPE);
	req.stripe_customer_id = "cus_test";
	req.stripe_payment_method_id = "pm_card_visa";
	req.renewal_group_id = (char *)(group_id ? group_id : "");
	t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
	t.until_turned_off = 1;
	req.term = &t;
	rc = spb_billing_set_auto_renew(cli, &req, &resp, NULL);
	if (rc == 0 && (resp->n_items != n || !resp->renewal_group))
		rc = SPB_ERROR;
	spb_message_free(resp);
	return rc;
}

/* A world: distributor d, installer "<d>_i", project "<d>_p" of n APP items
 * "<d>_NNN", activated for a month and put on AUTO together. */
static int64_t world(const char *d, int n)
{
	char i[64], p[64], pre[64];
	char **ids = calloc((size_t)n, sizeof(*ids));
	char(*buf)[96] = calloc((size_t)n, sizeof(*buf));
	int64_t t0 = 0;
	snprintf(i, sizeof(i), "%.40s_i", d);
	snprintf(p, sizeof(p), "%.40s_p", d);
	snprintf(pre, sizeof(pre), "%.40s_", d);
	SPT_SEED(spt_create_account(cli, NULL, d, ROLE(DISTRIBUTOR), "vendor"));
	SPT_SEED(spt_create_account(cli, NULL, i, ROLE(INSTALLER), d));
	SPT_SEED(spt_create_project(cli, NULL, p, i, PTYPE(COMMUNITY), NULL, 0));
	SPT_SEED(spt_create_items(cli, NULL, p, STYPE(APP), pre, n));
	SPT_SEED(spt_activate_project(cli, NULL, d, i, PTYPE(COMMUNITY), p, 1, METHOD(STRIPE),
				      "pm_card_visa", &t0));
	for (int k = 0; k < n; k++) {
		snprintf(buf[k], sizeof(buf[k]), "%s%03d", pre, k);
		ids[k] = buf[k];
	}
	SPT_SEED(auto_on(ids, (size_t)n, d, NULL));
	free(ids);
	free(buf);
	return t0;
}

/* One item "<d>_late" created, activated for a month now and put on AUTO
 * with the group (a join). */
static void late_item(const char *d, const char *group_id)
{
	char p[64], id[64], i[64];
	char *ids[1] = {id};
	spt_quote_spec q = {.action = ACTION(ACTIVATE), .ptype = PTYPE(COMMUNITY), .months = 1};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	void *keep = NULL;
	snprintf(p, sizeof(p), "%.40s_p", d);
	snprintf(i, sizeof(i), "%.40s_i", d);
	snprintf(id, sizeof(id), "%.40s_late", d);
	SPT_SEED(spt_create_item(cli, NULL, p, id, STYPE(APP)));
	q.payer = d;
	q.installer = i;
	q.project = p;
	q.item_id = id;
	SPT_SEED(spt_quote(cli, NULL, &q, &qr));
	SPT_SEED(spt_place_order(cli, NULL, ACTION(ACTIVATE), qr->quote->quote_id, METHOD(STRIPE),
				 "pm_card_visa", &o, &keep));
	spb_message_free(qr);
	spb_message_free(keep);
	SPT_SEED(auto_on(ids, 1, d, group_id));
}

/*
 * G groups (one distributor each) of N items, M periods, one item joining
 * each group 10 days into its first period. Checks one order per group and
 * period plus the joins, one charge each, every item extended every
 * period, the join prorated to the day.
 */
static void run_groups(int groups, int per_group, int months)
{
	char names[64][16], gid[64][64];
	int64_t t0 = 0, e0, now = 0, next = 0;
	double per_period[64] = {0}, t;
	int64_t orders = 0, charges = 0, lines = 0, joins = 0, bad = 0;
	int ran = 0;

	for (int g = 0; g < groups; g++) {
		int64_t tw;
		snprintf(names[g], sizeof(names[g]), "rg%02d", g);
		tw = world(names[g], per_group);
		if (g == 0)
			t0 = tw;
		SPT_CHECK(group_of(names[g], gid[g], &next) == per_group,
			  "%s: one renewal group of %d items", names[g], per_group);
	}
	e0 = t0 + MONTH; /* the groups renew at E0 + k x 30 d (created within the second) */
	SPT_CHECK(next >= e0 && next < e0 + 60 * SPT_SECOND_US, "the group renews at E0");
	/* 10 days into the first period an item joins each group: it expires
	 * at now + 30 d, 20 days before the group's second renewal. */
	SPT_CHECK(spt_advance_clock(cli, e0 + 10 * DAY - t0, &now, &ran) == 0, "to E0 + 10 d");
	for (int g = 0; g < groups; g++)
		late_item(names[g], gid[g]);
	for (int k = 1; k < months; k++) {
		double t1 = mono_s();
		SPT_CHECK(spt_advance_clock(cli, e0 + k * MONTH - HOUR - now, &now, &ran) == 0,
			  "to period %d", k);
		per_period[k < 64 ? k : 63] = mono_s() - t1;
	}
	for (int g = 0; g < groups; g++) {
		tally tl;
		expiries ex = {.want = e0 + (int64_t)months * MONTH};
		char p[64];
		tally_of(names[g], &tl);
		orders += tl.orders;
		charges += tl.succeeded;
		lines += tl.lines;
		joins += tl.joins;
		bad += tl.bad_pi + tl.bad_total + tl.other;
		snprintf(p, sizeof(p), "%.16s_p", names[g]);
		SPT_CHECK(spt_each_item(cli, p, on_item, &ex) == 0, "ListItems %s", p);
		/* periods E0, E0+30, ... E0+(months-1)x30 renewed, plus the join */
		SPT_CHECK(tl.orders == months + 1 && tl.succeeded == months + 1 && tl.joins == 1,
			  "%s: %d period orders + 1 join, got %d orders (%d succeeded, %d joins)",
			  names[g], months, tl.orders, tl.succeeded, tl.joins);
		SPT_CHECK(tl.max_lines == per_group + 1,
			  "%s: the last period's order holds every item and the joiner (%lld)",
			  names[g], (long long)tl.max_lines);
		SPT_CHECK(tl.bad_pi == 0 && tl.bad_total == 0,
			  "%s: one sandbox PaymentIntent per order (%d bad), totals = lines (%d)",
			  names[g], tl.bad_pi, tl.bad_total);
		SPT_CHECK(ex.n == per_group + 1 && ex.at_want == per_group + 1,
			  "%s: every item expires at E0 + %d x 30 d (%d of %d)", names[g], months,
			  ex.at_want, ex.n);
		/* the joiner expired at E0 + 40 d: 20 days up to E0 + 60 d at
		 * 500 x 20 / 30 = 333.33 -> 333 */
		SPT_CHECK(tl.join_days == 20 && tl.join_amount == 333 &&
				  tl.join_new_expiry == e0 + 2 * MONTH &&
				  strcmp(tl.join_group, gid[g]) == 0,
			  "%s: the join is prorated to the day: %d days, %lld, to E0 + %+lld s",
			  names[g], tl.join_days, (long long)tl.join_amount,
			  (long long)((tl.join_new_expiry - e0) / SPT_SECOND_US));
	}
	/* every line of a SUCCEEDED order extended its item once: each item
	 * per period, the joiner by its join and the periods after it */
	printf("\nrenewal groups: %d groups x %d items (+1 joining each), %d periods: orders "
	       "placed %lld (groups x periods + joins = %d), provider charges %lld, items "
	       "extended %lld (want %lld), joins %lld, bad %lld\n",
	       groups, per_group, months, (long long)orders, groups * months + groups,
	       (long long)charges, (long long)lines,
	       (long long)groups * ((long long)per_group * months + 1 + (months - 2)),
	       (long long)joins, (long long)bad);
	SPT_CHECK(lines == (int64_t)groups * ((int64_t)per_group * months + 1 + (months - 2)),
		  "items extended %lld", (long long)lines);
	t = 0;
	for (int k = 1; k < months && k < 64; k++) {
		printf("  AdvanceClock to period %d: %.3f s\n", k, per_period[k]);
		t += per_period[k];
	}
	if (months > 1)
		printf("  mean per period: %.3f s\n", t / (months - 1));
}

static void test_groups(void)
{
	run_groups(env_int("SPB_GROUPS", 1, 1, 64), env_int("SPB_GROUP_ITEMS", 500, 1, 1000),
		   env_int("SPB_GROUP_MONTHS", 3, 3, 60));
}

/* Co-terming: a new item activated until the group's renewal time (by the
 * day), then on AUTO with the group: a line of the group's next order. */
static void test_coterm(void)
{
	char gid[64], *ids[1] = {"ct_new"}, subject[96];
	int64_t t0 = 0, e0, now = 0, next = 0;
	spt_quote_spec q = {.action = ACTION(ACTIVATE),
			    .payer = "ct",
			    .installer = "ct_i",
			    .ptype = PTYPE(COMMUNITY),
			    .project = "ct_p",
			    .item_id = "ct_new"};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	void *keep = NULL;
	spt_item_state st;
	tally tl;

	t0 = world("ct", 3);
	e0 = t0 + MONTH;
	SPT_REQUIRE(group_of("ct", gid, &next) == 3, "a group of 3");
	SPT_SEED(spt_create_item(cli, NULL, "ct_p", "ct_new", STYPE(APP)));
	/* 12 days before the group renews: activate until its renewal time */
	SPT_CHECK(spt_advance_clock(cli, next - 12 * DAY - t0, &now, NULL) == 0, "advance");
	q.until_us = next;
	SPT_REQUIRE(spt_quote(cli, NULL, &q, &qr) == 0 && qr->quote->n_lines == 1,
		    "ACTIVATE until the group's renewal time quoted");
	SPT_CHECK(spt_ts_us(qr->quote->lines[0]->new_expires_at) == next &&
			  qr->quote->lines[0]->days == 12 && qr->quote->lines[0]->amount == 200,
		  "aligned expiry, 12 days at 500 x 12 / 30 = 200 (days %d, amount %lld)",
		  qr->quote->lines[0]->days, (long long)qr->quote->lines[0]->amount);
	SPT_CHECK(spt_place_order(cli, NULL, ACTION(ACTIVATE), qr->quote->quote_id, METHOD(STRIPE),
				  "pm_card_visa", &o, &keep) == 0 &&
			  o->status == OSTATUS(SUCCEEDED),
		  "activated");
	spb_message_free(qr);
	spb_message_free(keep);
	SPT_CHECK(spt_item_state_of(cli, "ct_p", "ct_new", &st) && st.expires_at == next,
		  "expires with the group");
	SPT_CHECK(auto_on(ids, 1, "ct", gid) == 0, "on AUTO with the group");
	SPT_CHECK(spt_advance_clock(cli, next - HOUR - now, &now, NULL) == 0, "to the renewal");
	tally_of("ct", &tl);
	SPT_CHECK(tl.orders == 1 && tl.succeeded == 1 && tl.max_lines == 4 && tl.joins == 0,
		  "one order of 4 lines, no join (orders %d, lines %lld, joins %d)", tl.orders,
		  (long long)tl.max_lines, tl.joins);
	SPT_CHECK(spt_item_state_of(cli, "ct_p", "ct_new", &st) && st.expires_at == next + MONTH,
		  "renewed with the group");
	snprintf(subject, sizeof(subject), "renewalGroups/%s", gid);
	SPT_CHECK(events_of(subject, "renewal.upcoming") == 2,
		  "renewal.upcoming 7 days and 1 day before (%d)",
		  events_of(subject, "renewal.upcoming"));
	(void)e0;
}

/* ---- payment requests ---- */

static int request_payment(spb_client *c, const char *quote_id, const char *to, char id[64])
{
	Smartplus__Billing__V1__RequestPaymentRequest r =
		SMARTPLUS__BILLING__V1__REQUEST_PAYMENT_REQUEST__INIT;
	Smartplus__Billing__V1__RequestPaymentResponse *resp = NULL;
	int rc;
	r.quote_id = (char *)quote_id;
	r.to_account_id = (char *)to;
	r.note = "please renew the lobby door";
	rc = spb_billing_request_payment(c, &r, &resp, NULL);
	if (rc == 0) {
		snprintf(id, 64, "%s", resp->payment_request->payment_request_id);
		if (resp->payment_request->status != PRSTATUS(PENDING))
			rc = SPB_ERROR;
	}
	spb_message_free(resp);
	return rc;
}

static int approve(spb_client *c, const char *id, int64_t *order_total, int *order_status)
{
	Smartplus__Billing__V1__ApprovePaymentRequestRequest r =
		SMARTPLUS__BILLING__V1__APPROVE_PAYMENT_REQUEST_REQUEST__INIT;
	Smartplus__Billing__V1__ApprovePaymentRequestResponse *resp = NULL;
	int rc;
	r.payment_request_id = (char *)id;
	r.payment_method = METHOD(STRIPE);
	r.billing_info = spt_billing_info();
	r.terms_accepted = 1;
	r.stripe_payment_method_id = "pm_card_visa";
	rc = spb_billing_approve_payment_request(c, &r, &resp, NULL);
	if (rc == 0) {
		*order_total = resp->order->total;
		*order_status = resp->order->status;
	}
	spb_message_free(resp);
	return rc;
}

/* The status of request id as account lists it (INCOMING). */
static int listed_status(spb_client *c, const char *account, const char *id, char order[64])
{
	Smartplus__Billing__V1__ListPaymentRequestsRequest r =
		SMARTPLUS__BILLING__V1__LIST_PAYMENT_REQUESTS_REQUEST__INIT;
	Smartplus__Billing__V1__ListPaymentRequestsResponse *resp = NULL;
	int st = -1;
	r.account_id = (char *)account;
	if (spb_billing_list_payment_requests(c, &r, &resp, NULL) != 0)
		return -1;
	for (size_t i = 0; i < resp->n_payment_requests; i++)
		if (strcmp(resp->payment_requests[i]->payment_request_id, id) == 0) {
			st = resp->payment_requests[i]->status;
			if (order)
				snprintf(order, 64, "%s", resp->payment_requests[i]->order_id);
		}
	spb_message_free(resp);
	return st;
}

static void test_payment_requests(void)
{
	char ikey[SPT_KEY_MAX], dkey[SPT_KEY_MAX], r1[64], r2[64], r3[64], oid[64];
	spb_client *inst, *dist;
	spt_quote_spec q = {.action = ACTION(RENEW),
			    .payer = "pq",
			    .installer = "pq_i",
			    .ptype = PTYPE(COMMUNITY),
			    .project = "pq_p",
			    .months = 1};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__DeclinePaymentRequestRequest dr =
		SMARTPLUS__BILLING__V1__DECLINE_PAYMENT_REQUEST_REQUEST__INIT;
	Smartplus__Billing__V1__DeclinePaymentRequestResponse *dresp = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	void *keep = NULL;
	spt_item_state st;
	int64_t total = 0, e;
	int status = 0;

	SPT_SEED(spt_create_account(cli, NULL, "pq", ROLE(DISTRIBUTOR), "vendor"));
	SPT_SEED(spt_create_account(cli, NULL, "pq_i", ROLE(INSTALLER), "pq"));
	SPT_SEED(spt_create_project(cli, NULL, "pq_p", "pq_i", PTYPE(COMMUNITY), NULL, 0));
	SPT_SEED(spt_create_items(cli, NULL, "pq_p", STYPE(APP), "pq_", 1));
	SPT_SEED(spt_activate_project(cli, NULL, "pq", "pq_i", PTYPE(COMMUNITY), "pq_p", 1,
				      METHOD(STRIPE), "pm_card_visa", NULL));
	SPT_SEED(spt_create_key(cli, NULL, "pq_i", SCOPE(ACCOUNT), ikey, NULL));
	SPT_SEED(spt_create_key(cli, NULL, "pq", SCOPE(ACCOUNT), dkey, NULL));
	inst = spt_client(&srv, ikey);
	dist = spt_client(&srv, dkey);
	SPT_REQUIRE(inst && dist, "clients");
	SPT_REQUIRE(spt_item_state_of(cli, "pq_p", "pq_000", &st), "item");
	e = st.expires_at;

	/* 1: the installer quotes with its distributor as payer and asks it;
	 * it cannot place that quote itself */
	SPT_REQUIRE(spt_quote(inst, NULL, &q, &qr) == 0, "the installer quotes for pq");
	SPT_CHECK(spt_place_order(inst, NULL, ACTION(RENEW), qr->quote->quote_id, METHOD(STRIPE),
				  "pm_card_visa", &o, &keep) == SPB_EPERM,
		  "the installer may not pay for its distributor");
	spb_message_free(keep);
	keep = NULL;
	SPT_CHECK(request_payment(inst, qr->quote->quote_id, "pq", r1) == 0, "RequestPayment");
	SPT_CHECK(listed_status(dist, "pq", r1, NULL) == PRSTATUS(PENDING), "pq sees it PENDING");
	SPT_CHECK(approve(inst, r1, &total, &status) == SPB_EPERM,
		  "the installer cannot approve its own request");
	SPT_CHECK(approve(dist, r1, &total, &status) == 0 && status == OSTATUS(SUCCEEDED) &&
			  total == qr->quote->total,
		  "approved: the quoted total charged to pq's card (status %d, total %lld)", status,
		  (long long)total);
	SPT_CHECK(listed_status(dist, "pq", r1, oid) == PRSTATUS(APPROVED) &&
			  strncmp(oid, "ord_", 4) == 0,
		  "APPROVED with its order");
	SPT_CHECK(spt_item_state_of(cli, "pq_p", "pq_000", &st) && st.expires_at == e + MONTH,
		  "renewed one month");
	/* approving again finds the same order (a retry): nothing more is
	 * charged */
	SPT_CHECK(approve(dist, r1, &total, &status) == 0 && status == OSTATUS(SUCCEEDED),
		  "approved once: the same order again");
	SPT_CHECK(spt_item_state_of(cli, "pq_p", "pq_000", &st) && st.expires_at == e + MONTH,
		  "still one month");
	spb_message_free(qr);
	qr = NULL;

	/* 2: declined */
	SPT_REQUIRE(spt_quote(inst, NULL, &q, &qr) == 0, "quote 2");
	SPT_CHECK(request_payment(inst, qr->quote->quote_id, "pq", r2) == 0, "RequestPayment 2");
	dr.payment_request_id = r2;
	dr.reason = "not this month";
	SPT_CHECK(spb_billing_decline_payment_request(dist, &dr, &dresp, NULL) == 0 &&
			  dresp->payment_request->status == PRSTATUS(DECLINED) &&
			  strcmp(dresp->payment_request->decline_reason, "not this month") == 0,
		  "declined with its reason");
	spb_message_free(dresp);
	SPT_CHECK(listed_status(inst, "pq_i", r2, NULL) == -1 ||
			  listed_status(dist, "pq", r2, NULL) == PRSTATUS(DECLINED),
		  "DECLINED");
	SPT_CHECK(approve(dist, r2, &total, &status) == SPB_EPRECONDITION &&
			  strcmp(spb_error_last()->reason, "PAYMENT_REQUEST_STATE") == 0,
		  "a declined request cannot be approved");
	spb_message_free(qr);
	qr = NULL;

	/* 3: expires with its quote (15 minutes) */
	SPT_REQUIRE(spt_quote(inst, NULL, &q, &qr) == 0, "quote 3");
	SPT_CHECK(request_payment(inst, qr->quote->quote_id, "pq", r3) == 0, "RequestPayment 3");
	SPT_CHECK(spt_advance_clock(cli, 16 * 60 * SPT_SECOND_US, NULL, NULL) == 0, "16 minutes");
	SPT_CHECK(listed_status(dist, "pq", r3, NULL) == PRSTATUS(EXPIRED), "EXPIRED");
	{
		char sub[96];
		const char *const want[][2] = {
			{r1, "payment_request.created"}, {r1, "payment_request.approved"},
			{r2, "payment_request.created"}, {r2, "payment_request.declined"},
			{r3, "payment_request.created"}, {r3, "payment_request.expired"}};
		for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			snprintf(sub, sizeof(sub), "paymentRequests/%s", want[k][0]);
			SPT_CHECK(events_of(sub, want[k][1]) == 1, "one %s for %s", want[k][1],
				  want[k][0]);
		}
		snprintf(sub, sizeof(sub), "paymentRequests/%s", r2);
		SPT_CHECK(events_of(sub, "payment_request.approved") == 0, "none approved for r2");
	}
	SPT_CHECK(approve(dist, r3, &total, &status) == SPB_EPRECONDITION &&
			  strcmp(spb_error_last()->reason, "PAYMENT_REQUEST_STATE") == 0,
		  "an expired request cannot be approved");
	SPT_CHECK(spt_item_state_of(cli, "pq_p", "pq_000", &st) && st.expires_at == e + MONTH,
		  "charged once in all");
	spb_message_free(qr);
	spb_client_free(inst);
	spb_client_free(dist);
}

static int suite_init(void)
{
	static const char *const args[] = {"--test-clock", NULL};
	SPT_INIT(spt_billingd_start(&srv, args));
	cli = spt_client_to(srv.target, srv.admin_key, 600000);
	SPT_INIT(cli ? 0 : -1);
	SPT_INIT(spt_set_price(cli, PTYPE(COMMUNITY), STYPE(APP), 500, 5));
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

/* The clock is shared: in this order. */
static CU_TestInfo tests[] = {
	{"payment requests: approved, declined, expiring", test_payment_requests},
	{"co-terming: activated until the group's renewal time, then one of its lines",
	 test_coterm},
	{"a group renews in one order per period; a join is prorated to the day", test_groups},
	{"billingd stops cleanly", test_billingd_stops_cleanly},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"renewal groups", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
