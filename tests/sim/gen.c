/*
 * gen.c: the history generator (gen.h). Each gen_* function builds one op
 * of its kind from the generator's own model of the state: mostly steps
 * that should work, plus a share of faults (foreign references, stale
 * quotes, wrong methods, amounts one past the balance...).
 */
#include "gen.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

const char *const toggle_name[T_COUNT] = {
	[T_DIRECTORY] = "directory",
	[T_RECREATE] = "recreate",
	[T_DELETE_HELD] = "delete_held",
	[T_PMS_OFF_PAID] = "pms_off_paid",
	[T_DUP_SELECT] = "dup_select",
	[T_ZERO_CREDIT] = "zero_credit",
	[T_CREDIT_PRORATE] = "credit_prorate",
	[T_FOREIGN] = "foreign",
	[T_PRIV_FIELDS] = "priv_fields",
	[T_BAD_UTF8] = "bad_utf8",
	[T_NUL_ID] = "nul_id",
	[T_BAD_ENUM] = "bad_enum",
	[T_BAD_TIME] = "bad_time",
	[T_PAST_UNTIL] = "past_until",
	[T_LONG_STRING] = "long_string",
	[T_IDEM_REPLAY] = "idem_replay",
	[T_IDEM_REUSE] = "idem_reuse",
	[T_IDEM_ADMIN] = "idem_admin",
	[T_PRICES] = "prices",
	[T_COUPONS] = "coupons",
	[T_POLICY] = "policy",
	[T_CREDITS] = "credits",
	[T_STRIPE] = "stripe",
	[T_PAYPAL] = "paypal",
	[T_ORDER_OPS] = "order_ops",
	[T_STALE] = "stale",
	[T_AUTO_RENEW] = "auto_renew",
	[T_CLOCK] = "clock",
	[T_CONCURRENT] = "concurrent",
	[T_READS] = "reads",
	[T_IDEM_REFUSED] = "idem_no_write",
	[T_REQUOTE_TIMED_OUT] = "requote_timed_out",
	[T_TIMEOUT_COUPON] = "timeout_coupon",
	[T_CONFIRM_RACE] = "confirm_race",
	[T_CONC_SAME_QUOTE] = "conc_same_quote",
	[T_POLICY_R2_METHOD] = "policy_r2_method",
	[T_CONC_SAME_ITEM] = "conc_same_item",
	[T_VENDOR_CREDITS] = "vendor_credits",
	[T_CANCEL_OVERDUE] = "cancel_overdue",
};

void gen_config_all(gen_config *c)
{
	memset(c, 0, sizeof(*c));
	for (int t = 0; t < T_COUNT; t++)
		c->on[t] = 1;
}

int gen_config_set(gen_config *c, const char *list, int on)
{
	char buf[512], *save = NULL, *tok;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int found = 0;
		if (strcmp(tok, "all") == 0 || strcmp(tok, "none") == 0) {
			for (int t = 0; t < T_COUNT; t++)
				c->on[t] = strcmp(tok, "all") == 0 ? (uint8_t)on : (uint8_t)!on;
			continue;
		}
		for (int t = 0; t < T_COUNT; t++)
			if (strcmp(tok, toggle_name[t]) == 0) {
				c->on[t] = (uint8_t)on;
				found = 1;
			}
		if (!found)
			return -1;
	}
	return 0;
}

int gen_allowed(const gen_config *c, const model *m, const op *o)
{
	switch (o->kind) {
	case OP_DELETE_ITEM:
		return c->on[T_DELETE_HELD] || o->u.del.item < 0 ||
		       !model_item_held(m, o->u.del.item);
	case OP_UPDATE_PROJECT: {
		int slot = INTEG_SLOT(o->u.upd.proj);
		return c->on[T_PMS_OFF_PAID] || !(o->u.upd.mask & 1) || o->u.upd.pms ||
		       !m->item[slot].exists ||
		       (model_item_status(m, slot) != IS_(ACTIVE) && !model_item_held(m, slot));
	}
	case OP_PLACE: {
		const m_quote *q = model_quote(m, o->u.place.qref);
		int method = o->u.place.method;
		if (!q)
			return 1;
		if (!c->on[T_ZERO_CREDIT] && q->credits_model && q->subtotal == 0)
			return 0;
		if (!c->on[T_REQUOTE_TIMED_OUT] && q->order >= 0 &&
		    model_order_status(m, q->order) == OS_(TIMED_OUT))
			return 0;
		if (!c->on[T_TIMEOUT_COUPON] && q->coupon >= 0 &&
		    (method == PM_(PAYPAL) || (method == PM_(STRIPE) && o->u.place.pm == SPM_NONE)))
			return 0;
		if (!c->on[T_VENDOR_CREDITS] && q->payer == 0 && method == PM_(CREDITS) &&
		    q->subtotal > 0)
			return 0;
		if (!c->on[T_POLICY_R2_METHOD] && method >= 1 && method <= 4) {
			/* the limited payer's own methods as they are now */
			int inst = q->in.u.quote.inst, payer = q->payer;
			unsigned own = 0, r2 = q->credits_model
						       ? 1u << PM_(CREDITS)
						       : (1u << PM_(STRIPE)) | (1u << PM_(PAYPAL)) |
								 (1u << PM_(COUPON));
			if (payer == inst && m->acc[inst].pol_set && m->acc[inst].pol_pay)
				own = m->acc[inst].pol_mask;
			else if (m->acc[payer].role == ROLE_(PROPERTY_MANAGER))
				own = 1u << PM_(CREDITS);
			if ((own & (1u << method)) && !(r2 & (1u << method)))
				return 0;
		}
		return 1;
	}
	case OP_CANCEL: {
		int k = o->u.ord.oref >= 0 ? model_placed_order(m, o->u.ord.oref) : -1;
		return c->on[T_CANCEL_OVERDUE] || k < 0 ||
		       model_order_status(m, k) != OS_(TIMED_OUT);
	}
	case OP_SET_AUTO_RENEW: {
		int payer = o->u.ar.payer >= 0 ? o->u.ar.payer : o->who.acc;
		return c->on[T_VENDOR_CREDITS] || !o->u.ar.enabled || payer != 0 ||
		       o->u.ar.method != PM_(CREDITS);
	}
	case OP_PURCHASE:
		return c->on[T_TIMEOUT_COUPON] || o->u.buy.coupon < 0 ||
		       !(o->u.buy.method == PM_(PAYPAL) ||
			 (o->u.buy.method == PM_(STRIPE) && o->u.buy.pm == SPM_NONE));
	case OP_QUOTE:
		if (!c->on[T_FOREIGN] && !model_may_act(m, o->who.acc, o->u.quote.inst)) {
			if (o->u.quote.all)
				return 0;
			for (int j = 0; j < o->u.quote.nproj; j++) {
				int p = o->u.quote.proj[j];
				if (p < 0 || !m->proj[p].exists || m->proj[p].pm != o->who.acc)
					return 0;
			}
		}
		return 1;
	default: return 1;
	}
}

/* ------------------------------------------------------------------------ */
/* The setup prefix                                                          */

int gen_setup(op *out, int cap)
{
	int n = 0;
	op o;
#define PUSH()                        \
	do {                          \
		if (n < cap)          \
			out[n++] = o; \
	} while (0)
	for (int a = 1; a < NACC_SETUP; a++) {
		memset(&o, 0, sizeof(o));
		o.kind = OP_CREATE_ACCOUNT;
		o.u.acct.acc = (int8_t)a;
		o.u.acct.role = (int8_t)sim_setup_role[a];
		o.u.acct.parent = (int8_t)sim_setup_parent[a];
		PUSH();
	}
	for (int pt = 1; pt <= 3; pt++)
		for (int st = 1; st < NST; st++) {
			memset(&o, 0, sizeof(o));
			o.kind = OP_SET_PRICE;
			o.u.price.ptype = (int8_t)pt;
			o.u.price.stype = (int8_t)st;
			/* not round, so that rounding shows */
			o.u.price.amount = 100 * (st + 2 * pt) + 45 * (st % 2) + 10 * pt;
			o.u.price.credits = 1 + (st + pt) % 4;
			/* one service left unpriced: SKIP_REASON_NO_PRICE */
			if (pt == PT_(SINGLE_FAMILY_HOUSE) && st == ST_(SENSOR_ALERT))
				continue;
			if ((pt == PT_(COMMUNITY) && st > ST_(INTEGRATION)) ||
			    (pt == PT_(SINGLE_FAMILY_HOUSE) &&
			     (st == ST_(PM_APP) || st >= ST_(INTEGRATION))) ||
			    (pt == PT_(COMMERCIAL) && st < ST_(DOOR) && st != ST_(SENSOR_ALERT)))
				continue;
			PUSH();
		}
	memset(&o, 0, sizeof(o));
	o.kind = OP_SET_CREDIT_PRICE;
	o.u.cprice.unit = 100;
	PUSH();
	/* credits enter the tree by purchase (R13) */
	for (int a = 1; a <= 2; a++) {
		memset(&o, 0, sizeof(o));
		o.kind = OP_PURCHASE;
		o.who.acc = (int8_t)a;
		o.u.buy.payer = -1;
		o.u.buy.bene = -1;
		o.u.buy.coupon = -1;
		o.u.buy.credits = 60;
		o.u.buy.method = PM_(STRIPE);
		o.u.buy.pm = SPM_VISA;
		o.u.buy.terms = 1;
		PUSH();
	}
	memset(&o, 0, sizeof(o));
	o.kind = OP_CREATE_COUPON;
	o.u.coupon.code = 0;
	o.u.coupon.pct = 10;
	o.u.coupon.maxr = 0; /* unlimited: once per payer is all that holds it */
	PUSH();
	memset(&o, 0, sizeof(o));
	o.kind = OP_CREATE_COUPON;
	o.u.coupon.code = 1;
	o.u.coupon.amount = 100000; /* covers most totals: COUPON payments */
	o.u.coupon.maxr = 2;
	PUSH();
	memset(&o, 0, sizeof(o));
	o.kind = OP_CREATE_COUPON;
	o.u.coupon.code = 2;
	o.u.coupon.pct = 100;
	o.u.coupon.credit_only = 1;
	o.u.coupon.maxr = 2;
	PUSH();
#undef PUSH
	return n;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

typedef struct gstate {
	rng r;
	const gen_config *c;
	model *g; /* the generator's view of the state */
	int64_t step_time[4096];
	int step_refused[4096]; /* the model refused the step */
	int follow;             /* the last step was an accepted quote */
	int nsteps;
	const op *hist;
} gstate;

#define ON(gs, t) ((gs)->c->on[t])

static int pick(rng *r, const int *v, int n)
{
	return n ? v[rng_below(r, (uint64_t)n)] : -1;
}

/* Existing accounts of a role (0: any). */
static int accounts(const model *g, int role, int *out)
{
	int n = 0;
	for (int a = 0; a < NACC; a++)
		if (g->acc[a].exists && (!role || g->acc[a].role == role))
			out[n++] = a;
	return n;
}

/* Ancestors of a (a included). */
static int ancestors(const model *g, int a, int *out)
{
	int n = 0;
	for (int x = a; x >= 0 && g->acc[x].exists; x = g->acc[x].parent)
		out[n++] = x;
	return n;
}

static int descendants(const model *g, int a, int strict, int *out)
{
	int n = 0;
	for (int b = 0; b < NACC; b++)
		if (g->acc[b].exists && model_may_act(g, a, b) && (!strict || a != b))
			out[n++] = b;
	return n;
}

/* A caller that may act on `target` (an ancestor or itself), sometimes
 * one of another tree; through the SERVICE key a quarter of the time. */
static sim_caller caller_for(gstate *s, int target)
{
	int v[NACC], n;
	sim_caller c = {0, 0};
	if (rng_chance(&s->r, 6) || target < 0) {
		c.acc = 0;
		return c;
	}
	if (ON(s, T_FOREIGN) && rng_chance(&s->r, 8))
		n = accounts(s->g, 0, v);
	else
		n = ancestors(s->g, target, v);
	c.acc = (int8_t)(n ? pick(&s->r, v, n) : 0);
	c.service = c.acc != 0 && rng_chance(&s->r, 25);
	return c;
}

static int privileged(const sim_caller *c)
{
	return c->acc == 0 || c->service;
}

static int proj_list(const model *g, int inst, int type, int *out)
{
	int n = 0;
	for (int p = 0; p < NPROJ; p++)
		if (g->proj[p].exists && (inst < 0 || g->proj[p].inst == inst) &&
		    (!type || g->proj[p].type == type))
			out[n++] = p;
	return n;
}

static int items_of(const model *g, int p, int *out)
{
	int n = 0;
	for (int i = 0; i < NITEM; i++)
		if (g->item[i].exists && g->item[i].proj == p)
			out[n++] = i;
	return n;
}

static int offered_types(int pt, int *out)
{
	static const int com[] = {1, 2, 3, 4, 5, 6}, sfh[] = {1, 3, 4, 5, 6},
			 comm[] = {8, 9, 10, 11, 6};
	const int *t = pt == 1 ? com : pt == 2 ? sfh : comm;
	int n = pt == 1 ? 6 : 5;
	memcpy(out, t, (size_t)n * sizeof(int));
	return n;
}

static uint16_t features_for(rng *r, int pt, int st)
{
	uint16_t allowed = 0, f = 0;
	if (pt == 1 && st == 5)
		allowed = 0x1fe;
	else if (pt == 2 && st == 5)
		allowed = (1u << 8) | (1u << 2) | (1u << 6) | (1u << 7);
	else if (pt == 3 && st == 11)
		allowed = (1u << 9) | (1u << 4);
	for (int b = 1; b <= 9; b++)
		if ((allowed & (1u << b)) && rng_chance(r, 40))
			f |= (uint16_t)(1u << b);
	if (rng_chance(r, 3))
		f |= (uint16_t)(1u << (1 + rng_below(r, 9))); /* maybe not allowed */
	return f;
}

static int pick_pm(gstate *s, int inst)
{
	int v[NACC], n = 0;
	for (int a = 0; a < NACC; a++)
		if (s->g->acc[a].exists && s->g->acc[a].role == ROLE_(PROPERTY_MANAGER) &&
		    (rng_chance(&s->r, 5) || model_may_act(s->g, s->g->acc[a].parent, inst)))
			v[n++] = a;
	return n ? pick(&s->r, v, n) : -1;
}

static int stripe_pm(gstate *s)
{
	int x = (int)rng_below(&s->r, 100);
	return x < 50 ? SPM_VISA : x < 80 ? SPM_NONE : x < 95 ? SPM_DECLINED : SPM_BOGUS;
}

static int bill_variant(gstate *s)
{
	return rng_chance(&s->r, 95) ? BILL_OK : 1 + (int)rng_below(&s->r, 4);
}

/* ------------------------------------------------------------------------ */
/* One generator per kind. Each returns 0 when it cannot build an op.       */

static int gen_create_account(gstate *s, op *o)
{
	int v[NACC], n = 0, role;
	o->kind = OP_CREATE_ACCOUNT;
	o->u.acct.acc = (int8_t)(rng_chance(&s->r, 85)
					 ? NACC_SETUP + (int)rng_below(&s->r, NACC - NACC_SETUP)
					 : (int)rng_below(&s->r, NACC));
	role = rng_chance(&s->r, 4) ? (int)rng_below(&s->r, 2) : 2 + (int)rng_below(&s->r, 4);
	o->u.acct.role = (int8_t)role;
	for (int a = 0; a < NACC; a++) {
		const m_acc *p = &s->g->acc[a];
		int fits = (p->role == ROLE_(VENDOR) && role == ROLE_(DISTRIBUTOR)) ||
			   (p->role == ROLE_(DISTRIBUTOR) && role >= ROLE_(SUB_DISTRIBUTOR)) ||
			   (p->role == ROLE_(SUB_DISTRIBUTOR) && role == ROLE_(INSTALLER)) ||
			   (p->role == ROLE_(INSTALLER) && role == ROLE_(PROPERTY_MANAGER));
		if (p->exists && (fits || rng_chance(&s->r, 5)))
			v[n++] = a;
	}
	o->u.acct.parent = (int8_t)(n ? pick(&s->r, v, n) : 0);
	o->who = caller_for(s, o->u.acct.parent);
	return 1;
}

static int gen_create_project(gstate *s, op *o)
{
	int v[NACC], n = accounts(s->g, ROLE_(INSTALLER), v), inst, type;
	if (!n)
		return 0;
	o->kind = OP_CREATE_PROJECT;
	inst = pick(&s->r, v, n);
	type = 1 + (int)rng_below(&s->r, 3);
	o->u.proj.proj = (int8_t)rng_below(&s->r, NPROJ);
	for (int t = 0; t < 4 && s->g->proj[(int)o->u.proj.proj].exists && rng_chance(&s->r, 85);
	     t++)
		o->u.proj.proj = (int8_t)rng_below(&s->r, NPROJ);
	o->u.proj.inst = (int8_t)inst;
	o->u.proj.ptype = (int8_t)type;
	o->u.proj.pms = type == 1 ? rng_chance(&s->r, 50) : rng_chance(&s->r, 3);
	o->u.proj.pm = (int8_t)(rng_chance(&s->r, 45) ? pick_pm(s, inst) : -1);
	o->who = caller_for(s, inst);
	if (privileged(&o->who)) {
		o->u.proj.created = (int8_t)rng_below(&s->r, 3);
		o->u.proj.free_apps = (int16_t)rng_below(&s->r, 3);
	} else if (ON(s, T_PRIV_FIELDS) && rng_chance(&s->r, 10)) {
		o->u.proj.created = (int8_t)(1 + rng_below(&s->r, 2));
		o->u.proj.free_apps = (int16_t)rng_below(&s->r, 3);
	}
	if (rng_chance(&s->r, 2))
		o->u.proj.free_apps = 1001;
	return 1;
}

static int integ_paid(const model *g, int p)
{
	int slot = INTEG_SLOT(p);
	return g->item[slot].exists &&
	       (model_item_status(g, slot) == IS_(ACTIVE) || model_item_held(g, slot));
}

static int gen_update_project(gstate *s, op *o)
{
	int v[NPROJ], n = proj_list(s->g, -1, 0, v), p;
	if (!n)
		return 0;
	p = rng_chance(&s->r, 95) ? pick(&s->r, v, n) : (int)rng_below(&s->r, NPROJ);
	o->kind = OP_UPDATE_PROJECT;
	o->u.upd.proj = (int8_t)p;
	o->u.upd.mask = (int8_t)(1 + rng_below(&s->r, 7));
	o->u.upd.pms = rng_chance(&s->r, 50);
	o->u.upd.free_apps = (int16_t)rng_below(&s->r, 4);
	o->u.upd.pm = (int8_t)(rng_chance(&s->r, 70) ? pick_pm(s, s->g->proj[p].inst) : -1);
	if (rng_chance(&s->r, 2))
		o->u.upd.mask |= 16;
	o->who = caller_for(s, s->g->proj[p].exists ? s->g->proj[p].inst : 0);
	if (!privileged(&o->who) && !ON(s, T_PRIV_FIELDS))
		o->u.upd.mask &= ~2;
	if (!o->u.upd.mask)
		o->u.upd.mask = 8;
	if ((o->u.upd.mask & 1) && !o->u.upd.pms && !ON(s, T_PMS_OFF_PAID) &&
	    s->g->proj[p].exists && integ_paid(s->g, p))
		o->u.upd.pms = 1;
	return 1;
}

static int gen_create_items(gstate *s, op *o)
{
	int v[NPROJ], n = proj_list(s->g, -1, 0, v), p, types[8], nt;
	if (!n)
		return 0;
	p = pick(&s->r, v, n);
	nt = offered_types(s->g->proj[p].type, types);
	o->kind = OP_CREATE_ITEMS;
	o->u.items.proj = (int8_t)p;
	o->u.items.n = (int8_t)(1 + rng_below(&s->r, 3));
	for (int k = 0; k < o->u.items.n; k++) {
		int id = (int)rng_below(&s->r, NXITEM), st;
		for (int t = 0; t < 6 && (s->g->item[id].exists && rng_chance(&s->r, 90)); t++)
			id = (int)rng_below(&s->r, NXITEM);
		for (int j = 0; j < k; j++)
			if (o->u.items.item[j] == id && rng_chance(&s->r, 90))
				id = (id + 1) % NXITEM;
		st = rng_chance(&s->r, 94) ? pick(&s->r, types, nt) : 1 + (int)rng_below(&s->r, 11);
		o->u.items.item[k] = (int8_t)id;
		o->u.items.stype[k] = (int8_t)st;
		o->u.items.feat[k] = features_for(&s->r, s->g->proj[p].type, st);
	}
	o->who = caller_for(s, s->g->proj[p].inst);
	return 1;
}

static int gen_delete_item(gstate *s, op *o)
{
	int v[NITEM], n = 0, i;
	for (int k = 0; k < NITEM; k++)
		if (s->g->item[k].exists && (ON(s, T_DELETE_HELD) || !model_item_held(s->g, k)))
			v[n++] = k;
	if (!n)
		return 0;
	i = pick(&s->r, v, n);
	o->kind = OP_DELETE_ITEM;
	o->u.del.item = (int8_t)i;
	o->who = caller_for(s, s->g->proj[(int)s->g->item[i].proj].inst);
	return 1;
}

static int gen_set_price(gstate *s, op *o)
{
	int types[8], pt = 1 + (int)rng_below(&s->r, 3);
	o->kind = OP_SET_PRICE;
	o->u.price.ptype = (int8_t)pt;
	o->u.price.stype = (int8_t)(rng_chance(&s->r, 95)
					    ? pick(&s->r, types, offered_types(pt, types))
					    : 1 + (int)rng_below(&s->r, 11));
	o->u.price.amount = (int32_t)(100 * rng_below(&s->r, 40) +
				      (rng_chance(&s->r, 50) ? rng_below(&s->r, 100) : 0));
	o->u.price.credits = (int32_t)rng_below(&s->r, 8);
	o->u.price.cur = (int8_t)(rng_chance(&s->r, 5) ? 1 : 0);
	if (rng_chance(&s->r, 4))
		o->who = caller_for(s, 1);
	return 1;
}

static int gen_coupon(gstate *s, op *o)
{
	o->u.coupon.code = (int8_t)rng_below(&s->r, NCOUP);
	if (rng_chance(&s->r, 25)) {
		o->kind = OP_DISABLE_COUPON;
		return 1;
	}
	o->kind = OP_CREATE_COUPON;
	if (rng_chance(&s->r, 50))
		o->u.coupon.pct = (int8_t)(rng_chance(&s->r, 20) ? 100 : 5 + rng_below(&s->r, 90));
	else
		o->u.coupon.amount = (int32_t)(100 * (1 + rng_below(&s->r, 80)));
	o->u.coupon.cur = (int8_t)(rng_chance(&s->r, 10) ? 1 : 0);
	o->u.coupon.maxr = (int8_t)rng_below(&s->r, 3);
	o->u.coupon.credit_only = rng_chance(&s->r, 20);
	if (rng_chance(&s->r, 20))
		o->u.coupon.ptypes = (uint8_t)(1u << (1 + rng_below(&s->r, 3)));
	if (rng_chance(&s->r, 20))
		o->u.coupon.stypes = (uint16_t)(1u << (1 + rng_below(&s->r, 11)));
	if (rng_chance(&s->r, 30))
		o->u.coupon.expires_s = (int32_t)(600 + rng_below(&s->r, 3 * 86400));
	if (rng_chance(&s->r, 4))
		o->u.coupon.pct = 0, o->u.coupon.amount = 0;
	return 1;
}

static int gen_set_policy(gstate *s, op *o)
{
	int v[NACC], n = accounts(s->g, ROLE_(INSTALLER), v), inst, anc[NACC], na;
	if (!n)
		return 0;
	inst = pick(&s->r, v, n);
	o->kind = OP_SET_POLICY;
	o->u.pol.inst = (int8_t)(rng_chance(&s->r, 95) ? inst : (int)rng_below(&s->r, NACC));
	o->u.pol.pay = rng_chance(&s->r, 70);
	o->u.pol.n = (int8_t)(o->u.pol.pay ? 1 + rng_below(&s->r, 2) : rng_below(&s->r, 2));
	for (int k = 0; k < o->u.pol.n; k++)
		o->u.pol.methods[k] = (int8_t)(1 + rng_below(&s->r, 4));
	if (o->u.pol.n == 2 && o->u.pol.methods[0] == o->u.pol.methods[1] && rng_chance(&s->r, 80))
		o->u.pol.methods[1] = (int8_t)(1 + o->u.pol.methods[0] % 4);
	if (rng_chance(&s->r, 2))
		o->u.pol.methods[0] = 7;
	/* any ancestor; sometimes the installer itself */
	na = ancestors(s->g, inst, anc);
	o->who.acc = (int8_t)(na > 1 && rng_chance(&s->r, 92)
				      ? anc[1 + rng_below(&s->r, (uint64_t)na - 1)]
				      : inst);
	o->who.service = o->who.acc != 0 && rng_chance(&s->r, 25);
	if (ON(s, T_FOREIGN) && rng_chance(&s->r, 5))
		o->who = caller_for(s, -1), o->who.acc = (int8_t)rng_below(&s->r, NACC_SETUP);
	return 1;
}

/* Removes repeated values (the toggle dup_select is off). */
static void dedupe(int8_t *v, int8_t *n)
{
	int k = 0;
	for (int i = 0; i < *n; i++) {
		int dup = 0;
		for (int j = 0; j < k; j++)
			dup |= v[j] == v[i];
		if (!dup)
			v[k++] = v[i];
	}
	*n = (int8_t)k;
}

/* A payer for the projects of installer inst: an ancestor, the installer,
 * or a project's property manager. */
static int quote_payer(gstate *s, int inst, const int *projs, int np)
{
	int anc[NACC], na = ancestors(s->g, inst, anc), x = (int)rng_below(&s->r, 100);
	if (x < 15)
		return inst;
	if (x < 28) {
		for (int k = 0; k < np; k++)
			if (s->g->proj[projs[k]].pm >= 0)
				return s->g->proj[projs[k]].pm;
	}
	if (ON(s, T_FOREIGN) && x > 96)
		return (int)rng_below(&s->r, NACC_SETUP);
	/* a strict ancestor, not the vendor (credits would come from the issuer) */
	if (na > 2)
		return anc[1 + rng_below(&s->r, (uint64_t)na - 2)];
	return inst;
}

static int gen_quote(gstate *s, op *o)
{
	const model *g = s->g;
	int v[NACC], n = 0, inst, projs[NPROJ], np, type, sel[NPROJ], ns = 0, inactive = 0;
	int payer, items[NITEM], ni = 0, renewable = 0;
	for (int a = 0; a < NACC; a++)
		if (g->acc[a].exists && g->acc[a].role == ROLE_(INSTALLER) &&
		    proj_list(g, a, 0, projs))
			v[n++] = a;
	if (!n)
		return 0;
	inst = pick(&s->r, v, n);
	np = proj_list(g, inst, 0, projs);
	type = g->proj[projs[rng_below(&s->r, (uint64_t)np)]].type;
	np = proj_list(g, inst, type, projs);
	o->kind = OP_QUOTE;
	o->u.quote.inst = (int8_t)inst;
	o->u.quote.ptype = (int8_t)type;
	o->u.quote.coupon = -1;
	if (rng_chance(&s->r, 30)) {
		o->u.quote.all = 1;
		memcpy(sel, projs, sizeof(int) * (size_t)np);
		ns = np;
	} else {
		int k = 1 + (int)rng_below(&s->r, np > 1 ? 2 : 1);
		for (int j = 0; j < k && j < np; j++)
			sel[ns++] = projs[(j + (int)rng_below(&s->r, (uint64_t)np)) % np];
		if (ns == 2 && sel[0] == sel[1])
			ns = 1;
		for (int j = 0; j < ns; j++)
			o->u.quote.proj[j] = (int8_t)sel[j];
		o->u.quote.nproj = (int8_t)ns;
		if (ON(s, T_FOREIGN) && rng_chance(&s->r, 6) && ns < QMAX_PROJ)
			o->u.quote.proj[o->u.quote.nproj++] =
				(int8_t)(rng_chance(&s->r, 20) ? -1 : (int)rng_below(&s->r, NPROJ));
		if (ON(s, T_DUP_SELECT) && rng_chance(&s->r, 5) && o->u.quote.nproj < QMAX_PROJ)
			o->u.quote.proj[(int)o->u.quote.nproj] = o->u.quote.proj[0],
			o->u.quote.nproj++;
	}
	for (int j = 0; j < ns; j++) {
		int it[NITEM], k = items_of(g, sel[j], it);
		for (int q = 0; q < k; q++) {
			items[ni++] = it[q];
			inactive += model_item_status(g, it[q]) == IS_(INACTIVE);
			renewable += model_item_status(g, it[q]) != IS_(INACTIVE);
		}
	}
	o->u.quote.action = (int8_t)(inactive && (!renewable || rng_chance(&s->r, 50))
					     ? QA_(ACTIVATE)
					     : QA_(RENEW));
	if (rng_chance(&s->r, 2))
		o->u.quote.action = 0;
	if (ni && rng_chance(&s->r, 40)) {
		int k = 1 + (int)rng_below(&s->r, 3);
		for (int j = 0; j < k && o->u.quote.nitem < QMAX_ITEM; j++) {
			int it = items[rng_below(&s->r, (uint64_t)ni)], dup = 0;
			for (int q = 0; q < o->u.quote.nitem; q++)
				dup |= o->u.quote.item[q] == it;
			if (!dup)
				o->u.quote.item[o->u.quote.nitem++] = (int8_t)it;
		}
		if (ON(s, T_FOREIGN) && rng_chance(&s->r, 8) && o->u.quote.nitem < QMAX_ITEM)
			o->u.quote.item[o->u.quote.nitem++] =
				(int8_t)(rng_chance(&s->r, 30) ? -1 : (int)rng_below(&s->r, NITEM));
		if (ON(s, T_DUP_SELECT) && rng_chance(&s->r, 5) && o->u.quote.nitem < QMAX_ITEM)
			o->u.quote.item[(int)o->u.quote.nitem] = o->u.quote.item[0],
			o->u.quote.nitem++;
	}
	if (rng_chance(&s->r, 25)) {
		int types[8], nt = offered_types(type, types), k = 1 + (int)rng_below(&s->r, 2);
		for (int j = 0; j < k; j++) {
			int st = pick(&s->r, types, nt), dup = 0;
			for (int q = 0; q < o->u.quote.nst; q++)
				dup |= o->u.quote.st[q] == st;
			if (!dup)
				o->u.quote.st[o->u.quote.nst++] = (int8_t)st;
		}
		if (rng_chance(&s->r, 4))
			o->u.quote.st[0] = (int8_t)(1 + rng_below(&s->r, 11));
		if (ON(s, T_DUP_SELECT) && rng_chance(&s->r, 5) && o->u.quote.nst < QMAX_ST)
			o->u.quote.st[(int)o->u.quote.nst] = o->u.quote.st[0], o->u.quote.nst++;
	}
	o->u.quote.months = (int8_t)(rng_chance(&s->r, 85) ? 1 + rng_below(&s->r, 12)
							   : 1 + rng_below(&s->r, 60));
	if (rng_chance(&s->r, 2))
		o->u.quote.months = (int8_t)(rng_chance(&s->r, 50) ? 0 : 61);
	if (o->u.quote.action == QA_(RENEW) && rng_chance(&s->r, 30) &&
	    (ON(s, T_CREDIT_PRORATE) || model_proj_model(g, sel[0]) != MODEL_(CREDITS))) {
		o->u.quote.months = 0;
		o->u.quote.until_s = (int32_t)(3600 + rng_below(&s->r, 150 * 86400));
		if (ON(s, T_PAST_UNTIL) && rng_chance(&s->r, 10))
			o->u.quote.until_s = rng_chance(&s->r, 50) ? -1893542400 : -3600;
	}
	if (o->u.quote.action == QA_(RENEW) && ON(s, T_AUTO_RENEW) && rng_chance(&s->r, 20)) {
		o->u.quote.mode = RM_(AUTO);
		o->u.quote.art = (int8_t)(1 + rng_below(&s->r, 3));
		o->u.quote.art_cycles = (int8_t)(1 + rng_below(&s->r, 3));
		o->u.quote.art_until_s = (int32_t)(20 * 86400 + rng_below(&s->r, 200 * 86400));
	} else if (rng_chance(&s->r, 30)) {
		o->u.quote.mode = RM_(MANUAL);
	}
	if (ON(s, T_COUPONS) && rng_chance(&s->r, 35)) {
		o->u.quote.coupon = (int8_t)rng_below(&s->r, NCOUP);
		for (int t = 0; t < 3 && !g->coupon[(int)o->u.quote.coupon].exists; t++)
			o->u.quote.coupon = (int8_t)rng_below(&s->r, NCOUP);
	}
	payer = quote_payer(s, inst, sel, ns);
	/* once per payer (R16): try again a coupon this payer used */
	if (ON(s, T_COUPONS) && rng_chance(&s->r, 50))
		for (int c = 0; c < NCOUP; c++)
			if (g->coupon[c].exists && g->coupon[c].use[payer])
				o->u.quote.coupon = (int8_t)c;
	o->who = caller_for(s, payer);
	o->u.quote.payer = (int8_t)(o->who.acc == payer && rng_chance(&s->r, 70) ? -1 : payer);
	if (s->g->acc[payer].role == ROLE_(PROPERTY_MANAGER) && rng_chance(&s->r, 70)) {
		o->who.acc = (int8_t)payer;
		o->u.quote.payer = -1;
	}
	if (!ON(s, T_DUP_SELECT)) {
		dedupe(o->u.quote.proj, &o->u.quote.nproj);
		dedupe(o->u.quote.st, &o->u.quote.nst);
		dedupe(o->u.quote.item, &o->u.quote.nitem);
	}
	/* a property manager sees only its own projects: naming others, or all
	 * of the installer's, is a reference outside its subtree */
	if (!ON(s, T_FOREIGN) && !model_may_act(g, o->who.acc, inst)) {
		int k = 0;
		if (o->u.quote.all)
			return 0;
		for (int j = 0; j < o->u.quote.nproj; j++) {
			int p = o->u.quote.proj[j];
			if (p >= 0 && g->proj[p].exists && g->proj[p].pm == o->who.acc)
				o->u.quote.proj[k++] = (int8_t)p;
		}
		o->u.quote.nproj = (int8_t)k;
		if (!k)
			return 0;
		for (int j = 0; j < o->u.quote.nitem; j++)
			if (o->u.quote.item[j] < 0 || !g->item[(int)o->u.quote.item[j]].exists ||
			    g->proj[(int)g->item[(int)o->u.quote.item[j]].proj].pm != o->who.acc)
				o->u.quote.nitem = 0;
	}
	return 1;
}

static int method_on(gstate *s, int m)
{
	return (m != PM_(STRIPE) || ON(s, T_STRIPE)) && (m != PM_(PAYPAL) || ON(s, T_PAYPAL));
}

static int gen_place(gstate *s, op *o, int qref)
{
	const m_quote *q = model_quote(s->g, qref);
	int methods[5], nm = 0;
	if (!q)
		return 0;
	if (!ON(s, T_ZERO_CREDIT) && q->credits_model && q->subtotal == 0)
		return 0;
	if (q->nlines == 0 && rng_chance(&s->r, 80))
		return 0; /* nothing to pay for: sometimes */
	if (!ON(s, T_REQUOTE_TIMED_OUT) && q->order >= 0 &&
	    model_order_status(s->g, q->order) == OS_(TIMED_OUT))
		return 0;
	o->kind = OP_PLACE;
	o->u.place.qref = (int8_t)qref;
	o->u.place.action = rng_chance(&s->r, 97) ? q->in.u.quote.action : 3 - q->in.u.quote.action;
	for (int m = 1; m <= 4; m++)
		if ((q->methods & (1u << m)) && method_on(s, m))
			methods[nm++] = m;
	o->u.place.method = (int8_t)(nm && rng_chance(&s->r, 90) ? pick(&s->r, methods, nm)
								 : 1 + (int)rng_below(&s->r, 4));
	if (!method_on(s, o->u.place.method))
		return 0;
	/* sim S5: the installer/PM's own method outside R2 is answered as R11 */
	if (!ON(s, T_POLICY_R2_METHOD) && !(q->methods & (1u << o->u.place.method)) &&
	    (q->pmask & (1u << o->u.place.method)) &&
	    (q->payer == q->in.u.quote.inst ||
	     s->g->acc[(int)q->payer].role == ROLE_(PROPERTY_MANAGER)))
		return 0;
	if (o->u.place.method == PM_(COUPON) && q->total != 0 && rng_chance(&s->r, 70))
		o->u.place.method = PM_(STRIPE);
	if (o->u.place.method == PM_(STRIPE)) {
		o->u.place.pm = (int8_t)stripe_pm(s);
		if (q->in.u.quote.mode == RM_(AUTO) && o->u.place.pm == SPM_NONE)
			o->u.place.pm = SPM_VISA;
		o->u.place.cus = o->u.place.pm != SPM_NONE && rng_chance(&s->r, 70);
		if (q->in.u.quote.mode == RM_(AUTO) && rng_chance(&s->r, 90))
			o->u.place.cus = 1;
	}
	/* sim S2: a coupon held by an order left pending is not released at
	 * its timeout until the sweeper runs */
	if (!ON(s, T_TIMEOUT_COUPON) && q->coupon >= 0 &&
	    (o->u.place.method == PM_(PAYPAL) ||
	     (o->u.place.method == PM_(STRIPE) && o->u.place.pm == SPM_NONE)))
		return 0;
	o->u.place.bill = (int8_t)bill_variant(s);
	o->u.place.terms = rng_chance(&s->r, 97);
	if (ON(s, T_STALE) && rng_chance(&s->r, 3))
		o->u.place.tamper = (int8_t)(1 + rng_below(&s->r, 3));
	o->who.acc = q->caller;
	o->who.service = q->caller != 0 && rng_chance(&s->r, 25);
	if (rng_chance(&s->r, 15))
		o->who = caller_for(s, q->payer);
	return 1;
}

static int gen_order_op(gstate *s, op *o)
{
	int k, x = (int)rng_below(&s->r, 100), oref;
	if (!s->g->nplaced)
		return 0;
	o->kind = x < 45 ? OP_CONFIRM : x < 70 ? OP_CANCEL : OP_GET_ORDER;
	oref = (int)rng_below(&s->r, (uint64_t)(s->g->nplaced < 4 ? s->g->nplaced : 4));
	if (rng_chance(&s->r, 15))
		oref = (int)rng_below(&s->r, (uint64_t)s->g->nplaced);
	if (rng_chance(&s->r, 3))
		oref = rng_chance(&s->r, 50) ? -1 : -2;
	o->u.ord.oref = (int8_t)(oref > 120 ? 120 : oref);
	k = oref >= 0 ? model_placed_order(s->g, o->u.ord.oref) : -1;
	/* sim S9: CancelOrder cancels a pending order past its 24 h */
	if (!ON(s, T_CANCEL_OVERDUE) && o->kind == OP_CANCEL && k >= 0 &&
	    model_order_status(s->g, k) == OS_(TIMED_OUT))
		return 0;
	o->who = caller_for(s, k >= 0 ? s->g->orders[k].payer : -1);
	return 1;
}

static int gen_purchase(gstate *s, op *o)
{
	int v[NACC], n = 0, payer, d[NACC], nd, x;
	for (int a = 1; a < NACC; a++)
		if (s->g->acc[a].exists)
			v[n++] = a;
	payer = rng_chance(&s->r, 97) ? pick(&s->r, v, n) : 0;
	o->kind = OP_PURCHASE;
	o->who = caller_for(s, payer);
	o->u.buy.payer = (int8_t)(o->who.acc == payer && rng_chance(&s->r, 60) ? -1 : payer);
	nd = descendants(s->g, payer, 1, d);
	o->u.buy.bene = (int8_t)(nd && rng_chance(&s->r, 35) ? pick(&s->r, d, nd) : -1);
	if (ON(s, T_FOREIGN) && rng_chance(&s->r, 5))
		o->u.buy.bene = (int8_t)rng_below(&s->r, NACC_SETUP);
	o->u.buy.credits = (int32_t)(1 + rng_below(&s->r, 60));
	x = (int)rng_below(&s->r, 100);
	o->u.buy.method = (int8_t)(x < 60   ? PM_(STRIPE)
				   : x < 85 ? PM_(PAYPAL)
				   : x < 96 ? PM_(COUPON)
					    : PM_(CREDITS));
	if (!method_on(s, o->u.buy.method))
		return 0;
	if (o->u.buy.method == PM_(STRIPE))
		o->u.buy.pm = (int8_t)stripe_pm(s);
	o->u.buy.coupon = (int8_t)(ON(s, T_COUPONS) && (o->u.buy.method == PM_(COUPON) ||
							rng_chance(&s->r, 20))
					   ? (int)rng_below(&s->r, NCOUP)
					   : -1);
	if (!ON(s, T_TIMEOUT_COUPON) &&
	    (o->u.buy.method == PM_(PAYPAL) ||
	     (o->u.buy.method == PM_(STRIPE) && o->u.buy.pm == SPM_NONE)))
		o->u.buy.coupon = -1;
	o->u.buy.bill = (int8_t)bill_variant(s);
	o->u.buy.terms = rng_chance(&s->r, 97);
	return 1;
}

static int gen_assign(gstate *s, op *o)
{
	int v[NACC], n = 0, from, d[NACC], nd, to;
	int64_t bal;
	for (int a = 1; a < NACC; a++)
		if (s->g->acc[a].exists && s->g->acc[a].balance > 0)
			v[n++] = a;
	from = n && rng_chance(&s->r, 90) ? pick(&s->r, v, n) : (int)rng_below(&s->r, NACC_SETUP);
	nd = descendants(s->g, from, 1, d);
	to = nd && rng_chance(&s->r, 88) ? pick(&s->r, d, nd) : (int)rng_below(&s->r, NACC_SETUP);
	bal = s->g->acc[from].balance;
	o->kind = OP_ASSIGN;
	o->who = caller_for(s, from);
	o->u.asg.from = (int8_t)(o->who.acc == from && rng_chance(&s->r, 60) ? -1 : from);
	o->u.asg.to = (int8_t)to;
	switch (rng_below(&s->r, 5)) {
	case 0: o->u.asg.credits = (int32_t)bal; break;
	case 1: o->u.asg.credits = (int32_t)bal + 1; break;
	case 2: o->u.asg.credits = 1; break;
	default:
		o->u.asg.credits = (int32_t)(bal > 0 ? 1 + rng_below(&s->r, (uint64_t)bal) : 1);
		break;
	}
	if (from == 0)
		o->u.asg.credits = (int32_t)(1 + rng_below(&s->r, 30));
	if (rng_chance(&s->r, 2))
		o->u.asg.credits = 0;
	return 1;
}

static int gen_set_auto_renew(gstate *s, op *o)
{
	int v[NITEM], n = 0, i, p, payer;
	for (int k = 0; k < NITEM; k++)
		if (s->g->item[k].exists && (s->g->item[k].active || rng_chance(&s->r, 10)))
			v[n++] = k;
	if (!n)
		return 0;
	o->kind = OP_SET_AUTO_RENEW;
	o->u.ar.n = 1;
	o->u.ar.item[0] = (int8_t)(i = pick(&s->r, v, n));
	if (n > 1 && rng_chance(&s->r, 25)) {
		int j = pick(&s->r, v, n);
		if (j != i && s->g->item[j].proj == s->g->item[i].proj)
			o->u.ar.item[o->u.ar.n++] = (int8_t)j;
	}
	p = s->g->item[i].proj;
	o->u.ar.enabled = rng_chance(&s->r, 75);
	payer = quote_payer(s, s->g->proj[p].inst, &p, 1);
	o->who = caller_for(s, payer);
	o->u.ar.payer = (int8_t)(o->who.acc == payer && rng_chance(&s->r, 60) ? -1 : payer);
	o->u.ar.method = (int8_t)(model_proj_model(s->g, p) == MODEL_(CREDITS) ? PM_(CREDITS)
									       : PM_(STRIPE));
	if (rng_chance(&s->r, 8))
		o->u.ar.method = (int8_t)(1 + rng_below(&s->r, 4));
	if (o->u.ar.method == PM_(STRIPE)) {
		o->u.ar.pm = (int8_t)(rng_chance(&s->r, 70) ? SPM_VISA : SPM_DECLINED);
		o->u.ar.cus = rng_chance(&s->r, 97);
	}
	o->u.ar.term = (int8_t)(1 + rng_below(&s->r, 3));
	o->u.ar.cycles = (int8_t)(1 + rng_below(&s->r, 3));
	o->u.ar.until_s = (int32_t)(10 * 86400 + rng_below(&s->r, 200 * 86400));
	return 1;
}

/* A jump to just before, at or after an interesting instant, or a random
 * one. */
static int gen_advance(gstate *s, op *o)
{
	const model *g = s->g;
	int64_t cand[64], t;
	int nc = 0;
	for (int i = 0; i < NITEM && nc < 60; i++) {
		const m_item *it = &g->item[i];
		if (!it->exists)
			continue;
		if (it->ar.enabled)
			cand[nc++] = (it->ar.next_attempt ? it->ar.next_attempt : it->expires) -
				     24 * HOUR_US;
		if (it->active)
			cand[nc++] = it->expires;
	}
	for (int k = g->norders - 1; k >= 0 && k > g->norders - 10 && nc < 62; k--)
		if (g->orders[k].status == OS_(PENDING_PAYMENT))
			cand[nc++] = g->orders[k].create_time + 24 * HOUR_US;
	if (g->nquotes && nc < 63)
		cand[nc++] = g->quotes[(g->nquotes - 1) % MAX_QUOTES].expire;
	o->kind = OP_ADVANCE;
	t = 0;
	if (nc && rng_chance(&s->r, 65)) {
		int64_t c = cand[rng_below(&s->r, (uint64_t)nc)];
		c += (int64_t)(rng_below(&s->r, 3) - 1) * SEC_US;
		if (c > g->now)
			t = c - g->now;
	}
	if (!t) {
		switch (rng_below(&s->r, 4)) {
		case 0: t = (int64_t)(1 + rng_below(&s->r, 3600)) * SEC_US; break;
		case 1: t = (int64_t)(1 + rng_below(&s->r, 48)) * HOUR_US; break;
		case 2: t = (int64_t)(1 + rng_below(&s->r, 40)) * DAY_US; break;
		default: t = 16 * MIN_US; break;
		}
	}
	o->u.adv.secs = t / SEC_US;
	o->u.adv.nanos = (int32_t)(t % SEC_US) * 1000;
	if (rng_chance(&s->r, 3))
		o->u.adv.secs = -o->u.adv.secs;
	if (rng_chance(&s->r, 3))
		o->who = caller_for(s, 1);
	return 1;
}

static int gen_read(gstate *s, op *o)
{
	int x = (int)rng_below(&s->r, 4);
	o->kind = x == 0   ? OP_GET_PROJECT
		  : x == 1 ? OP_LIST_ITEMS
		  : x == 2 ? OP_LIST_ORDERS
			   : OP_BALANCE;
	o->u.rd.proj = (int8_t)(rng_chance(&s->r, 5) ? -1 : (int)rng_below(&s->r, NPROJ));
	o->u.rd.acc = (int8_t)(rng_chance(&s->r, 5) ? -1 : (int)rng_below(&s->r, NACC));
	if (o->kind == OP_LIST_ORDERS && rng_chance(&s->r, 30))
		o->u.rd.status = (int8_t)(1 + rng_below(&s->r, 6));
	if (o->kind == OP_LIST_ORDERS && rng_chance(&s->r, 20))
		o->u.rd.type = (int8_t)(1 + rng_below(&s->r, 4));
	if (ON(s, T_FOREIGN) && rng_chance(&s->r, 40)) {
		o->who.acc = (int8_t)rng_below(&s->r, NACC);
		if (!s->g->acc[(int)o->who.acc].exists)
			o->who.acc = (int8_t)rng_below(&s->r, NACC_SETUP);
		o->who.service = rng_chance(&s->r, 25);
	} else {
		int p = o->u.rd.proj;
		o->who = caller_for(s, (o->kind <= OP_LIST_ITEMS && p >= 0 && s->g->proj[p].exists)
					       ? s->g->proj[p].inst
					       : o->u.rd.acc);
	}
	return 1;
}

/* Which hostile classes each kind can carry (the driver injects them). */
int sim_hostile_ok(int kind, int h);

static int is_mutating(int kind)
{
	return kind != OP_QUOTE && kind != OP_GET_ORDER && kind < OP_GET_PROJECT && kind != OP_NONE;
}

static int is_admin(int kind)
{
	return kind == OP_SET_PRICE || kind == OP_SET_CREDIT_PRICE || kind == OP_CREATE_COUPON ||
	       kind == OP_DISABLE_COUPON || kind == OP_ADVANCE;
}

static void maybe_hostile(gstate *s, op *o)
{
	/* billing info absent: no billing string to poison */
	if ((o->kind == OP_PLACE && o->u.place.bill == 4) ||
	    (o->kind == OP_PURCHASE && o->u.buy.bill == 4))
		return;
	static const int cls[] = {H_BAD_UTF8, H_NUL_IN_ID, H_BAD_ENUM, H_BAD_TIME, H_LONG_STRING};
	static const int tog[] = {T_BAD_UTF8, T_NUL_ID, T_BAD_ENUM, T_BAD_TIME, T_LONG_STRING};
	int k;
	if (!rng_chance(&s->r, 5))
		return;
	k = (int)rng_below(&s->r, 5);
	if (ON(s, tog[k]) && sim_hostile_ok(o->kind, cls[k]))
		o->hostile = (uint8_t)cls[k];
}

/* Builds one op of a random kind; 0 if the chosen kind had nothing to do. */
static int gen_one(gstate *s, op *o, int conc_family)
{
	int x;
	memset(o, 0, sizeof(*o));
	if (conc_family == 1) {
		x = (int)rng_below(&s->r, 3);
		return x == 0   ? (ON(s, T_CREDITS) && gen_assign(s, o))
		       : x == 1 ? (ON(s, T_CREDITS) && gen_purchase(s, o))
				: gen_place(s, o, (int)rng_below(&s->r, 2));
	}
	if (conc_family == 2) {
		x = (int)rng_below(&s->r, 5);
		return x == 0   ? (ON(s, T_CREDITS) && gen_assign(s, o))
		       : x == 1 ? (ON(s, T_ORDER_OPS) && gen_order_op(s, o))
		       : x == 2 ? gen_delete_item(s, o)
		       : x == 3 ? gen_create_items(s, o)
				: (ON(s, T_POLICY) && gen_set_policy(s, o));
	}
	x = (int)rng_below(&s->r, 1000);
	if (x < 40)
		return ON(s, T_DIRECTORY) && gen_create_account(s, o);
	if (x < 90)
		return ON(s, T_DIRECTORY) && gen_create_project(s, o);
	if (x < 120)
		return ON(s, T_DIRECTORY) && gen_update_project(s, o);
	if (x < 200)
		return ON(s, T_DIRECTORY) && gen_create_items(s, o);
	if (x < 240)
		return ON(s, T_DIRECTORY) && ON(s, T_RECREATE) && gen_delete_item(s, o);
	if (x < 250)
		return ON(s, T_PRICES) && gen_set_price(s, o);
	if (x < 260)
		return gen_quote(s, o);
	if (x < 265) {
		if (!ON(s, T_PRICES))
			return 0;
		o->kind = OP_SET_CREDIT_PRICE;
		o->u.cprice.unit = (int32_t)(50 + rng_below(&s->r, 150));
		return 1;
	}
	if (x < 290)
		return ON(s, T_COUPONS) && gen_coupon(s, o);
	if (x < 320)
		return ON(s, T_POLICY) && gen_set_policy(s, o);
	if (x < 500)
		return gen_quote(s, o);
	if (x < 620)
		return gen_place(
			s, o,
			ON(s, T_STALE) && rng_chance(&s->r, 15) ? 1 + (int)rng_below(&s->r, 3) : 0);
	if (x < 690)
		return ON(s, T_ORDER_OPS) && gen_order_op(s, o);
	if (x < 730)
		return ON(s, T_CREDITS) && gen_purchase(s, o);
	if (x < 790)
		return ON(s, T_CREDITS) && gen_assign(s, o);
	if (x < 830)
		return ON(s, T_AUTO_RENEW) && gen_set_auto_renew(s, o);
	if (x < 900)
		return ON(s, T_CLOCK) && gen_advance(s, o);
	return ON(s, T_READS) && gen_read(s, o);
}

/* Whether two quotes (by recency) price a common item. */
static int quotes_share_item(const model *g, int qa, int qb)
{
	const m_quote *a = model_quote(g, qa), *b = model_quote(g, qb);
	if (!a || !b)
		return 0;
	for (int i = 0; i < a->nlines; i++)
		for (int j = 0; j < b->nlines; j++)
			if (a->lines[i].item == b->lines[j].item)
				return 1;
	return 0;
}

/* Runs o on the generator's model (assuming the model is right); 1 when
 * the model refuses it. */
static int advance_model(gstate *s, const op *o, model *tmp)
{
	m_expect e;
	memcpy(tmp, s->g, sizeof(*tmp));
	model_step(s->g, tmp, o, &e);
	if (e.skip)
		return 0;
	if (e.nerr == 0 || e.ok_too || e.err[0].commit)
		memcpy(s->g, tmp, sizeof(*tmp));
	return e.nerr > 0 && !e.ok_too;
}

static int model_skips(gstate *s, const op *o, model *tmp)
{
	m_expect e;
	memcpy(tmp, s->g, sizeof(*tmp));
	model_step(s->g, tmp, o, &e);
	return e.skip;
}

void gen_history(uint64_t seed, const gen_config *c, const model *after_setup, op *out, int n,
		 int base)
{
	static model g, tmp;
	static gstate s;
	int i = 0;
	memset(&s, 0, sizeof(s));
	rng_seed(&s.r, seed);
	s.c = c;
	memcpy(&g, after_setup, sizeof(g));
	s.g = &g;
	s.hist = out;
	while (i < n) {
		op *o = &out[i];
		int tries = 0, ok = 0, group = 1, family = 0;
		if (ON(&s, T_CONCURRENT) && i + 3 < n && rng_chance(&s.r, 5)) {
			group = 2 + (int)rng_below(&s.r, 2);
			family = 1 + (int)rng_below(&s.r, 2);
		}
		/* R17 replays and reuses of an earlier keyed step */
		if (group == 1 && (ON(&s, T_IDEM_REPLAY) || ON(&s, T_IDEM_REUSE)) && i > 0 &&
		    rng_chance(&s.r, 7)) {
			int j = (int)rng_below(&s.r, (uint64_t)i);
			const op *p = &out[j];
			if (p->idem == 1 && is_mutating(p->kind) && !p->conc &&
			    (ON(&s, T_IDEM_ADMIN) || !is_admin(p->kind)) &&
			    (ON(&s, T_IDEM_REFUSED) || !s.step_refused[j]) &&
			    g.now - s.step_time[j] < 23 * HOUR_US) {
				if (ON(&s, T_IDEM_REPLAY) && rng_chance(&s.r, 60)) {
					*o = *p;
					o->idem = 2;
					o->ref = (int16_t)(base + j);
					s.step_time[i] = g.now;
					i++;
					continue;
				}
				if (ON(&s, T_IDEM_REUSE)) {
					for (tries = 0; tries < 20 && !ok; tries++)
						ok = gen_one(&s, o, 0) && is_mutating(o->kind) &&
						     (ON(&s, T_IDEM_ADMIN) || !is_admin(o->kind)) &&
						     !model_skips(&s, o, &tmp);
					if (ok) {
						o->who = p->who;
						o->idem = 3;
						o->ref = (int16_t)(base + j);
						/* expected IDEMPOTENCY_KEY_REUSED: nothing runs */
						s.step_time[i] = g.now;
						s.step_refused[i] = 1;
						i++;
						continue;
					}
				}
			}
		}
		for (int k = 0; k < group && i < n; k++) {
			o = &out[i];
			ok = 0;
			/* a buyer pays soon after quoting (quotes live 15 minutes);
			 * sometimes the policy or a price changes in between */
			if (group == 1 && s.follow && rng_chance(&s.r, 12)) {
				const m_quote *q = model_quote(&g, 0);
				memset(o, 0, sizeof(*o));
				if (q && ON(&s, T_POLICY) && rng_chance(&s.r, 50)) {
					ok = gen_set_policy(&s, o);
					if (ok &&
					    g.acc[(int)q->in.u.quote.inst].role == ROLE_(INSTALLER))
						o->u.pol.inst = q->in.u.quote.inst;
				} else if (q && q->nlines && ON(&s, T_PRICES)) {
					ok = gen_set_price(&s, o);
					o->who.acc = 0;
					o->who.service = 0;
					o->u.price.ptype = q->in.u.quote.ptype;
					o->u.price.stype = q->lines[0].stype;
				}
				if (ok && model_skips(&s, o, &tmp))
					ok = 0;
				if (ok) {
					s.step_time[i] = g.now;
					s.step_refused[i] = advance_model(&s, o, &tmp);
					i++;
					continue; /* s.follow stays: the payment comes next */
				}
			}
			if (group == 1 && s.follow && rng_chance(&s.r, 75)) {
				memset(o, 0, sizeof(*o));
				ok = gen_place(&s, o, 0) && !model_skips(&s, o, &tmp);
			}
			s.follow = 0;
			for (tries = 0; tries < 30 && !ok; tries++) {
				ok = gen_one(&s, o, family);
				if (ok)
					maybe_hostile(&s, o);
				if (ok && model_skips(&s, o, &tmp))
					ok = 0;
			}
			if (!ok) {
				memset(o, 0, sizeof(*o));
				o->kind = OP_BALANCE;
				o->u.rd.acc = 1;
				o->who.acc = 1;
			}
			if (is_mutating(o->kind) && (c->kill_mode || rng_chance(&s.r, 50)) &&
			    (ON(&s, T_IDEM_ADMIN) || !is_admin(o->kind)))
				o->idem = 1;
			/* sim S4/S6: two placements of one quote, two deletions of one
			 * item, at once */
			if (ok && k > 0 && (o->kind == OP_PLACE || o->kind == OP_DELETE_ITEM))
				for (int q = 1; q <= k; q++)
					if ((!ON(&s, T_CONC_SAME_QUOTE) && o->kind == OP_PLACE &&
					     out[i - q].kind == OP_PLACE &&
					     out[i - q].u.place.qref == o->u.place.qref) ||
					    (!ON(&s, T_CONC_SAME_ITEM) &&
					     o->kind == OP_DELETE_ITEM &&
					     out[i - q].kind == OP_DELETE_ITEM &&
					     out[i - q].u.del.item == o->u.del.item) ||
					    (!ON(&s, T_CONC_SAME_ITEM) && o->kind == OP_PLACE &&
					     out[i - q].kind == OP_PLACE &&
					     quotes_share_item(&g, o->u.place.qref,
							       out[i - q].u.place.qref))) {
						memset(o, 0, sizeof(*o));
						o->kind = OP_BALANCE;
						o->u.rd.acc = 1;
						o->who.acc = 1;
					}
			if (group > 1 && k == 0)
				o->conc = (uint8_t)group;
			s.step_time[i] = g.now;
			{
				int ko = o->kind == OP_CONFIRM
						 ? model_placed_order(&g, o->u.ord.oref)
						 : -1;
				int settled = ko >= 0 &&
					      model_order_status(&g, ko) != OS_(PENDING_PAYMENT);
				s.step_refused[i] = advance_model(&s, o, &tmp) || settled;
				s.follow = o->kind == OP_QUOTE && !s.step_refused[i];
			}
			i++;
		}
	}
}
