/*
 * Automatic renewal through the SDK against the real billingd with the test
 * clock (lead time: the default 24 h). Every scenario uses its own payer so
 * ListOrders shows only its orders; the clock is shared, so scenarios run in
 * sequence and switch their items off (or let them end) when done.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- the AUTO_RENEWAL orders of a payer ---- */

typedef struct ord {
	char item[80];
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
		d->period = h_ts(o->lines[0]->current_expires_at);
	}
	d->status = o->status;
	d->created = h_ts(o->create_time);
	d->total = o->total;
	d->credits = o->credits_total;
	snprintf(d->reason, sizeof(d->reason), "%s", o->failure_reason);
	snprintf(d->id, sizeof(d->id), "%s", o->order_id);
}

static int count(const ords *s, const char *item, int status)
{
	int n = 0;
	for (int i = 0; i < s->n; i++)
		n += strcmp(s->v[i].item, item) == 0 && (!status || s->v[i].status == status);
	return n;
}

static void load(const char *payer, ords *s)
{
	s->n = 0;
	CHECK(h_orders(payer, T_AUTO, collect, s) == 0, "ListOrders %s", payer);
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
	CHECK(h_account(d, R_DISTRIBUTOR, "vendor") == 0, "account %s", d);
	if (with_sub)
		CHECK(h_account(s, R_SUBDIST, d) == 0, "account %s", s);
	CHECK(h_account(i, R_INSTALLER, with_sub ? s : d) == 0, "account %s", i);
	if (with_pm)
		CHECK(h_account(pm, R_PM, i) == 0, "account %s", pm);
	CHECK(h_project(p, i, ptype, with_pm ? pm : NULL) == 0, "project %s", p);
	CHECK(h_items(p, stype, prefix, n) == 0, "items %s", prefix);
}

/* The seed: "renewal occurs every 30 days and extends the upcoming
 * expiration date by 30 days". Activated for one month at T0, the item
 * expires at E0 = T0 + 30 d; with the 24 h lead, renewal k (k = 0, 1, ...)
 * runs at E0 + 30k d - 1 d = T0 + (29 + 30k) d. So by T0+30d one renewal has
 * run, by T0+60d two, and by T0+365d twelve (the 12th at day 359; the 13th
 * is due at day 389): 12, not 13. */
static void s_counts(void)
{
	char *ids[1] = {"a_000"};
	int64_t t0 = 0, now = 0, e0;
	h_item_state st;
	ords os;
	int ran = 0;
	static const struct {
		int64_t to_day;
		int renewals;
	} steps[] = {{30, 1}, {60, 2}, {365, 12}};

	h_begin("30, 60, 365 days on AUTO: 1, 2, 12 renewals and the matching expiry");
	world("pa", 0, 0, COMM, S_APP, "a_", 1);
	CHECK(h_activate("pa", "pa_i", COMM, "pa_p", 1, STRIPE, "pm_card_visa", &t0) == 0,
	      "activate");
	e0 = t0 + MONTH;
	CHECK(h_item("pa_p", "a_000", &st) && st.expires_at == e0 && st.status == I_ACTIVE,
	      "activated to T0+30d");
	CHECK(h_auto(ids, 1, 1, "pa", STRIPE, "pm_card_visa", 0, 0) == 0, "SetAutoRenew on");
	CHECK(h_item("pa_p", "a_000", &st) && st.auto_on &&
		      st.renew_mode == V1(RENEW_MODE__RENEW_MODE_AUTO),
	      "item shows AUTO");
	now = t0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		CHECK(h_advance(t0 + steps[i].to_day * DAY - now, &now, &ran) == 0, "advance");
		CHECK(now == t0 + steps[i].to_day * DAY, "clock at T0+%lldd",
		      (long long)steps[i].to_day);
		load("pa", &os);
		CHECK(count(&os, "a_000", O_SUCCEEDED) == steps[i].renewals &&
			      os.n == steps[i].renewals,
		      "day %lld: %d renewals, got %d (%d orders)", (long long)steps[i].to_day,
		      steps[i].renewals, count(&os, "a_000", O_SUCCEEDED), os.n);
		CHECK(h_item("pa_p", "a_000", &st) &&
			      st.expires_at == e0 + steps[i].renewals * MONTH &&
			      st.status == I_ACTIVE && st.cycles_done == steps[i].renewals,
		      "day %lld: expiry E0 + %d x 30d (got E0 %+lld s), cycles_done %d",
		      (long long)steps[i].to_day, steps[i].renewals,
		      (long long)((st.expires_at - e0 - steps[i].renewals * MONTH) / 1000000),
		      st.cycles_done);
	}
	qsort(os.v, (size_t)os.n, sizeof(ord), cmp_created);
	for (int k = 0; k < os.n; k++) {
		CHECK(os.v[k].period == e0 + k * MONTH, "renewal %d extends E0 + %d x 30d", k, k);
		CHECK(os.v[k].created == e0 + k * MONTH - DAY, "renewal %d ran 24 h before", k);
		CHECK(os.v[k].total == 500 && strncmp(os.v[k].id, "ord_ar_", 7) == 0,
		      "500 USD, ord_ar_ id");
	}
	CHECK(h_auto(ids, 1, 0, NULL, 0, NULL, 0, 0) == 0, "SetAutoRenew off");
	CHECK(h_item("pa_p", "a_000", &st) && !st.auto_on &&
		      st.renew_mode == V1(RENEW_MODE__RENEW_MODE_MANUAL),
	      "off clears it");
	CHECK(h_advance(60 * DAY, &now, &ran) == 0 && ran == 0, "no renewal once off (ran %d)",
	      ran);
	CHECK(h_item("pa_p", "a_000", &st) && st.expires_at == e0 + 12 * MONTH, "expiry unchanged");
	h_end();
}

/* A credit-paid COMMERCIAL project (created after the cut-over): the oldest
 * door is free (R4) and renews at 0; the other costs 5 credits a month. */
static void s_credits(void)
{
	char *ids[2] = {"d_000", "d_001"};
	int64_t t0 = 0, now;
	h_item_state st;
	ords os;
	int64_t free_credits = 0, paid_credits = 0;

	h_begin("auto-renew in credits debits exactly; free door renews at 0; 3 cycles then off");
	world("pc", 1, 0, COMMERCIAL, S_DOOR, "d_", 2);
	CHECK(h_assign_credits("pc_s", 100) == 0, "vendor assigns 100 credits");
	CHECK(h_activate("pc_s", "pc_i", COMMERCIAL, "pc_p", 1, CREDITS, NULL, &t0) == 0,
	      "activate");
	CHECK(h_balance("pc_s") == 95, "activation cost 5, balance %lld",
	      (long long)h_balance("pc_s"));
	CHECK(h_auto(ids, 2, 1, "pc_s", STRIPE, "pm_card_visa", 0, 3) == SPB_EPRECONDITION,
	      "STRIPE refused on a credit-paid project");
	CHECK(h_auto(ids, 2, 1, "pc_s", CREDITS, NULL, 0, 3) == 0,
	      "SetAutoRenew CREDITS, 3 cycles");
	CHECK(h_advance(150 * DAY, &now, NULL) == 0, "advance 150 days");
	load("pc_s", &os);
	for (int i = 0; i < os.n; i++) {
		if (strcmp(os.v[i].item, "d_000") == 0)
			free_credits += os.v[i].credits;
		else
			paid_credits += os.v[i].credits;
	}
	CHECK(count(&os, "d_000", O_SUCCEEDED) == 3 && count(&os, "d_001", O_SUCCEEDED) == 3 &&
		      os.n == 6,
	      "3 renewals each, got %d and %d", count(&os, "d_000", O_SUCCEEDED),
	      count(&os, "d_001", O_SUCCEEDED));
	CHECK(free_credits == 0 && paid_credits == 15, "free 0, paid 3 x 5 (got %lld, %lld)",
	      (long long)free_credits, (long long)paid_credits);
	CHECK(h_balance("pc_s") == 80, "balance 95 - 15 = 80, got %lld",
	      (long long)h_balance("pc_s"));
	CHECK(h_item("pc_p", "d_001", &st) && st.expires_at == t0 + 4 * MONTH && !st.auto_on &&
		      st.status == I_EXPIRED,
	      "E0 + 3 x 30d, then off and expired");
	h_end();
}

/* The project's property manager pays in credits (R11) and runs out: the
 * first renewal takes its last 5 credits, the next period fails
 * insufficient_credits four times (first attempt and days 1, 2, 4) and
 * auto-renew stops; nothing is debited for the failures. */
static void s_credits_run_out(void)
{
	char *ids[1] = {"k_001"};
	int64_t t0 = 0, now;
	h_item_state st;
	ords os;
	int failed_ok = 0;

	h_begin("property manager pays in credits until they run out: FAILED insufficient_credits, "
		"off");
	world("pk", 0, 1, COMMERCIAL, S_DOOR, "k_", 2); /* k_000 free, k_001 paid */
	CHECK(h_assign_credits("pk_pm", 10) == 0, "vendor assigns 10 credits to the PM");
	CHECK(h_activate("pk_pm", "pk_i", COMMERCIAL, "pk_p", 1, CREDITS, NULL, &t0) == 0,
	      "activate");
	CHECK(h_balance("pk_pm") == 5, "balance 5 after activation, got %lld",
	      (long long)h_balance("pk_pm"));
	CHECK(h_auto(ids, 1, 1, "pk_pm", CREDITS, NULL, 0, 0) == 0,
	      "SetAutoRenew CREDITS by the PM");
	CHECK(h_advance(80 * DAY, &now, NULL) == 0, "advance 80 days");
	load("pk_pm", &os);
	for (int i = 0; i < os.n; i++)
		failed_ok += os.v[i].status == O_FAILED &&
			     strcmp(os.v[i].reason, "insufficient_credits") == 0 &&
			     os.v[i].period == t0 + 2 * MONTH;
	CHECK(count(&os, "k_001", O_SUCCEEDED) == 1 && failed_ok == 4 && os.n == 5,
	      "1 renewal, then 4 FAILED insufficient_credits (got %d orders, %d failed)", os.n,
	      failed_ok);
	CHECK(h_balance("pk_pm") == 0, "balance 0, got %lld", (long long)h_balance("pk_pm"));
	CHECK(h_item("pk_p", "k_001", &st) && st.expires_at == t0 + 2 * MONTH && !st.auto_on &&
		      st.status == I_EXPIRED,
	      "expired at E0 + 30d, auto-renew off");
	h_end();
}

/* Declined card: attempts at E0-1d (first), then days 1, 2 and 4 after it,
 * each a FAILED order; then auto-renew stops and the item expires at E0. */
static void s_declined(void)
{
	char *ids[1] = {"x_000"};
	int64_t t0 = 0, now, e0, first;
	h_item_state st;
	ords os;
	static const int days[] = {0, 1, 2, 4};

	h_begin("declined card retries on days 1, 2 and 4 then expires");
	world("pd", 0, 0, COMM, S_APP, "x_", 1);
	CHECK(h_activate("pd", "pd_i", COMM, "pd_p", 1, STRIPE, "pm_card_visa", &t0) == 0,
	      "activate");
	e0 = t0 + MONTH;
	first = e0 - DAY;
	CHECK(h_auto(ids, 1, 1, "pd", STRIPE, "pm_card_chargeDeclined", 0, 0) == 0, "SetAutoRenew");
	CHECK(h_advance(first + DAY + DAY / 2 - t0, &now, NULL) == 0, "advance to day 1.5");
	CHECK(h_item("pd_p", "x_000", &st) && st.auto_on && st.failed_attempts == 2 &&
		      st.status == I_EXPIRED,
	      "two failed attempts so far: past E0 so EXPIRED, still retrying (failed %d)",
	      st.failed_attempts);
	CHECK(h_advance(40 * DAY, &now, NULL) == 0, "advance 40 days");
	load("pd", &os);
	qsort(os.v, (size_t)os.n, sizeof(ord), cmp_created);
	CHECK(os.n == 4 && count(&os, "x_000", O_FAILED) == 4, "4 FAILED orders, got %d", os.n);
	for (int k = 0; k < os.n && k < 4; k++) {
		CHECK(os.v[k].created == first + days[k] * DAY,
		      "attempt %d on day %d (got %+lld s)", k, days[k],
		      (long long)((os.v[k].created - first) / 1000000));
		CHECK(strcmp(os.v[k].reason, "card_declined") == 0 && os.v[k].period == e0,
		      "declined, for the period at E0");
	}
	CHECK(h_item("pd_p", "x_000", &st) && st.status == I_EXPIRED && st.expires_at == e0 &&
		      !st.auto_on,
	      "expired on its date, auto-renew off");
	h_end();
}

/* "until a date": the term ends at E0 + 65 d, so two renewals fit (to E0+30d
 * and E0+60d); a third would end after it. */
static void s_until(void)
{
	char *ids[1] = {"u_000"};
	int64_t t0 = 0, now, e0;
	h_item_state st;
	ords os;

	h_begin("until a date stops on time");
	world("pu", 0, 0, COMM, S_APP, "u_", 1);
	CHECK(h_activate("pu", "pu_i", COMM, "pu_p", 1, STRIPE, "pm_card_visa", &t0) == 0,
	      "activate");
	e0 = t0 + MONTH;
	CHECK(h_auto(ids, 1, 1, "pu", STRIPE, "pm_card_visa", e0 + 65 * DAY, 0) == 0,
	      "SetAutoRenew until");
	CHECK(h_advance(200 * DAY, &now, NULL) == 0, "advance 200 days");
	load("pu", &os);
	CHECK(os.n == 2 && count(&os, "u_000", O_SUCCEEDED) == 2, "2 renewals, got %d", os.n);
	CHECK(h_item("pu_p", "u_000", &st) && st.expires_at == e0 + 2 * MONTH && !st.auto_on &&
		      st.status == I_EXPIRED,
	      "expires at E0+60d, auto-renew off");
	h_end();
}

/* An item that expired before it was put on AUTO is renewed at once, from
 * the time of the attempt (as a manual renewal of an EXPIRED item, R8),
 * not back-dated to its old expiry. */
static void s_expired_item(void)
{
	char *ids[1] = {"e_000"};
	int64_t t0 = 0, now, at;
	h_item_state st;
	ords os;

	h_begin("EXPIRED item put on AUTO renews from the attempt, not from its old expiry");
	world("pe", 0, 0, COMM, S_APP, "e_", 1);
	CHECK(h_activate("pe", "pe_i", COMM, "pe_p", 1, STRIPE, "pm_card_visa", &t0) == 0,
	      "activate");
	CHECK(h_advance(40 * DAY, &at, NULL) == 0, "advance 40 days");
	CHECK(h_item("pe_p", "e_000", &st) && st.status == I_EXPIRED, "EXPIRED (derived on read)");
	CHECK(h_auto(ids, 1, 1, "pe", STRIPE, "pm_card_visa", 0, 1) == 0, "SetAutoRenew, 1 cycle");
	CHECK(h_advance(HOUR_US, &now, NULL) == 0, "advance an hour");
	load("pe", &os);
	CHECK(os.n == 1 && count(&os, "e_000", O_SUCCEEDED) == 1 && os.v[0].created == at,
	      "one renewal, run at once");
	CHECK(h_item("pe_p", "e_000", &st) && st.status == I_ACTIVE &&
		      st.expires_at == at + MONTH && !st.auto_on,
	      "ACTIVE to attempt + 30d; 1 cycle done, off");
	h_end();
}

/* SetAutoRenew is validated like an order (R2, R8, R11). */
static void s_validation(void)
{
	char *ids[1] = {"v_000"}, *missing[1] = {"nope"};

	h_begin("SetAutoRenew validation (R2, R8, R11)");
	world("pv", 0, 1, COMM, S_APP, "v_", 1);
	CHECK(h_account("pv_other", R_DISTRIBUTOR, "vendor") == 0, "account");
	CHECK(h_activate("pv", "pv_i", COMM, "pv_p", 1, STRIPE, "pm_card_visa", NULL) == 0,
	      "activate");
	CHECK(h_auto(ids, 1, 1, "pv", STRIPE, NULL, 0, 0) == SPB_EINVALID,
	      "STRIPE without a saved card");
	CHECK(h_auto(ids, 1, 1, "pv", CREDITS, NULL, 0, 0) == SPB_EPRECONDITION,
	      "CREDITS on a regular project");
	CHECK(h_auto(ids, 1, 1, "pv", V1(PAYMENT_METHOD__PAYMENT_METHOD_PAYPAL), NULL, 0, 0) ==
		      SPB_EINVALID,
	      "PAYPAL cannot auto-renew");
	CHECK(h_auto(ids, 1, 1, "pv_other", STRIPE, "pm_card_visa", 0, 0) == SPB_EPERM,
	      "a payer outside the tree");
	CHECK(h_auto(ids, 1, 1, "pv_i", STRIPE, "pm_card_visa", 0, 0) == SPB_EPERM,
	      "the installer without a payment policy");
	CHECK(h_auto(ids, 1, 1, "pv_pm", STRIPE, "pm_card_visa", 0, 0) == SPB_EPERM,
	      "the property manager with a card");
	CHECK(h_auto(missing, 1, 1, "pv", STRIPE, "pm_card_visa", 0, 0) == SPB_EPERM,
	      "unknown item: PERMISSION_DENIED (AIP-211)");
	CHECK(h_auto(ids, 1, 1, "pv", STRIPE, "pm_card_visa", 0, -1) == SPB_EINVALID, "cycles < 1");
	CHECK(h_auto(ids, 1, 1, "pv", STRIPE, "pm_card_visa", 1000000, 0) == SPB_EINVALID,
	      "until in the past");
	h_end();
}

/* An item never activated cannot go on AUTO. */
static void s_inactive(void)
{
	char *ids[2] = {"w_000", "w_001"};
	h_item_state st;

	h_begin("only activated items go on AUTO; the request is all or nothing");
	world("pw", 0, 0, COMM, S_APP, "w_", 1);
	CHECK(h_activate("pw", "pw_i", COMM, "pw_p", 1, STRIPE, "pm_card_visa", NULL) == 0,
	      "activate");
	{
		/* w_001 is created after the activation: INACTIVE */
		Smartplus__Billing__V1__CreateItemsRequest r =
			SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
		Smartplus__Billing__V1__CreateItemsResponse *resp = NULL;
		Smartplus__Billing__V1__ItemSpec spec = SMARTPLUS__BILLING__V1__ITEM_SPEC__INIT,
						 *sp = &spec;
		spec.item_id = "w_001";
		spec.service_type = S_APP;
		spec.label = "w_001";
		r.project_id = "pw_p";
		r.n_items = 1;
		r.items = &sp;
		CHECK(spb_directory_create_items(h_cli, &r, &resp, NULL) == 0, "create w_001");
		spb_message_free(resp);
	}
	CHECK(h_auto(ids, 2, 1, "pw", STRIPE, "pm_card_visa", 0, 0) == SPB_EPRECONDITION &&
		      strcmp(spb_error_last()->reason, "ITEM_STATE") == 0,
	      "INACTIVE item refused (ITEM_STATE)");
	CHECK(h_item("pw_p", "w_000", &st) && !st.auto_on, "nothing changed on the other item");
	h_end();
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s BILLINGD\n", argv[0]);
		return 2;
	}
	if (h_init(argv[1]) != 0 || h_start() != 0) {
		fprintf(stderr, "cannot start billingd\n");
		return 1;
	}
	CHECK(h_price(COMM, S_APP, 500, 5) == 0, "price");
	CHECK(h_price(COMMERCIAL, S_DOOR, 1000, 5) == 0, "price");
	s_validation();
	s_inactive();
	s_counts();
	s_credits();
	s_credits_run_out();
	s_declined();
	s_until();
	s_expired_item();
	h_stop(15);
	h_cleanup();
	return h_report();
}
