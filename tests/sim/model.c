/*
 * model.c: the reference model (model.h). Each op_* function reads the
 * rules off DESIGN R1-R18 and the proto comments; MODEL.md lists the
 * places where the text leaves a choice and what the model chose.
 *
 * Conventions: errors are collected into e (all the true ones: the server
 * may report any); "phase" gates keep attribute-revealing checks behind
 * the permission checks (AIP-211: nothing about a foreign resource may be
 * learnt from an error). Success effects are written into `n` (next).
 */
#include "model.h"

#include <stdio.h>
#include <string.h>

#include <grpc/status.h>

#define LEAD_US (24 * HOUR_US) /* --renew-lead-hours default */
#define QUOTE_TTL_US (15 * MIN_US)
#define PAY_WINDOW_US (24 * HOUR_US)
#define MAX_JUMP_S (INT64_C(3660) * 86400)
static const int64_t retry_us[3] = {1 * DAY_US, 2 * DAY_US, 4 * DAY_US};

#define VENDOR 0
#define ALL_METHODS \
	((1u << PM_(STRIPE)) | (1u << PM_(PAYPAL)) | (1u << PM_(COUPON)) | (1u << PM_(CREDITS)))
#define REGULAR_METHODS ((1u << PM_(STRIPE)) | (1u << PM_(PAYPAL)) | (1u << PM_(COUPON)))
#define CREDIT_METHODS (1u << PM_(CREDITS))

/* ------------------------------------------------------------------------ */
/* The catalog (R1) and the tree (DESIGN §2)                                 */

static int offers(int ptype, int stype)
{
	switch (ptype) {
	case PT_(COMMUNITY): return stype >= ST_(APP) && stype <= ST_(INTEGRATION);
	case PT_(SINGLE_FAMILY_HOUSE):
		return stype == ST_(APP) || stype == ST_(ADDITIONAL_APP) ||
		       stype == ST_(THIRD_PARTY_LOCK) || stype == ST_(PREMIUM_PLAN) ||
		       stype == ST_(SENSOR_ALERT);
	case PT_(COMMERCIAL):
		return stype == ST_(DOOR) || stype == ST_(PERSONNEL_APP) ||
		       stype == ST_(ADMIN_APP) || stype == ST_(PREMIUM_FEATURES) ||
		       stype == ST_(SENSOR_ALERT);
	default: return 0;
	}
}

/* Premium features a service of a project type may enable (bit f). */
static unsigned features_allowed(int ptype, int stype)
{
	if (ptype == PT_(COMMUNITY) && stype == ST_(PREMIUM_PLAN))
		return 0x1fe; /* 1..8 */
	if (ptype == PT_(SINGLE_FAMILY_HOUSE) && stype == ST_(PREMIUM_PLAN))
		return (1u << 8) | (1u << 2) | (1u << 6) | (1u << 7);
	if (ptype == PT_(COMMERCIAL) && stype == ST_(PREMIUM_FEATURES))
		return (1u << 9) | (1u << 4);
	return 0;
}

static int role_fits(int parent, int child)
{
	switch (parent) {
	case ROLE_(VENDOR): return child == ROLE_(DISTRIBUTOR);
	case ROLE_(DISTRIBUTOR):
		return child == ROLE_(SUB_DISTRIBUTOR) || child == ROLE_(INSTALLER) ||
		       child == ROLE_(PROPERTY_MANAGER);
	case ROLE_(SUB_DISTRIBUTOR): return child == ROLE_(INSTALLER);
	case ROLE_(INSTALLER): return child == ROLE_(PROPERTY_MANAGER);
	default: return 0;
	}
}

int model_may_act(const model *m, int a, int b)
{
	if (a < 0 || b < 0 || a >= NACC || b >= NACC || !m->acc[a].exists || !m->acc[b].exists)
		return 0;
	for (int x = b; x >= 0; x = m->acc[x].parent)
		if (x == a)
			return 1;
	return 0;
}

static int strict_ancestor(const model *m, int a, int b)
{
	return a != b && model_may_act(m, a, b);
}

/* R2: the payment model of project p. */
static int proj_model(const m_proj *p)
{
	return p->type == PT_(COMMERCIAL) && p->created_at >= SIM_CUTOVER_US ? MODEL_(CREDITS)
									     : MODEL_(REGULAR);
}

static unsigned model_methods(int pmodel)
{
	return pmodel == MODEL_(CREDITS) ? CREDIT_METHODS : REGULAR_METHODS;
}

/* Who may see (read) project p: the installer and its ancestors, and the
 * project's property manager. */
static int proj_visible(const model *m, int caller, int p)
{
	const m_proj *pr = &m->proj[p];
	if (!pr->exists)
		return 0;
	return model_may_act(m, caller, pr->inst) || (pr->pm >= 0 && pr->pm == caller);
}

static int proj_mutable(const model *m, int caller, int p)
{
	return m->proj[p].exists && model_may_act(m, caller, m->proj[p].inst);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

static void err3(m_expect *e, int code, const char *reason, int commit, const char *why)
{
	if (e->nerr < (int)(sizeof(e->err) / sizeof(e->err[0]))) {
		e->err[e->nerr].code = code;
		e->err[e->nerr].reason = reason;
		e->err[e->nerr].commit = commit;
		e->err[e->nerr].why = why;
		e->nerr++;
	}
	if (!e->why[0])
		snprintf(e->why, sizeof(e->why), "%s", why);
}

static void err(m_expect *e, int code, const char *reason, const char *why)
{
	err3(e, code, reason, 0, why);
}

#define INV(e, why) err(e, GRPC_STATUS_INVALID_ARGUMENT, NULL, why)
#define DENY(e, why) err(e, GRPC_STATUS_PERMISSION_DENIED, NULL, why)
#define FP(e, reason, why) err(e, GRPC_STATUS_FAILED_PRECONDITION, reason, why)

/* ------------------------------------------------------------------------ */
/* State helpers                                                             */

void model_init(model *m)
{
	memset(m, 0, sizeof(*m));
	m->now = SIM_EPOCH_US;
	m->acc[VENDOR].exists = 1;
	m->acc[VENDOR].role = ROLE_(VENDOR);
	m->acc[VENDOR].parent = -1;
	for (int a = 1; a < NACC; a++)
		m->acc[a].parent = -1;
	for (int p = 0; p < NPROJ; p++)
		m->proj[p].pm = -1;
	for (int i = 0; i < NXITEM; i++)
		snprintf(m->item_id[i], sizeof(m->item_id[i]), "%s", sim_item_name[i]);
	for (int p = 0; p < NPROJ; p++)
		snprintf(m->item_id[INTEG_SLOT(p)], sizeof(m->item_id[0]), "~%s", sim_proj_name[p]);
}

int model_item_status(const model *m, int i)
{
	const m_item *it = &m->item[i];
	if (!it->active)
		return IS_(INACTIVE);
	return it->expires > m->now ? IS_(ACTIVE) : IS_(EXPIRED);
}

/* R4: the oldest DOOR of a COMMERCIAL project, and the free_additional_apps
 * oldest ADDITIONAL_APPs of any project, are free. */
int model_item_free(const model *m, int i)
{
	const m_item *it = &m->item[i];
	const m_proj *p = &m->proj[(int)it->proj];
	int limit, older = 0;
	if (!it->exists)
		return 0;
	if (it->stype == ST_(DOOR) && p->type == PT_(COMMERCIAL))
		limit = 1;
	else if (it->stype == ST_(ADDITIONAL_APP))
		limit = p->free_apps;
	else
		return 0;
	for (int j = 0; j < NITEM; j++) {
		const m_item *o = &m->item[j];
		if (j != i && o->exists && o->proj == it->proj && o->stype == it->stype &&
		    o->seq < it->seq)
			older++;
	}
	return older < limit;
}

int model_order_status(const model *m, int k)
{
	const m_order *o = &m->orders[k];
	if (o->status == OS_(PENDING_PAYMENT) && m->now - o->create_time >= PAY_WINDOW_US)
		return OS_(TIMED_OUT);
	return o->status;
}

const m_quote *model_quote(const model *m, int qref)
{
	int seq = m->nquotes - 1 - qref;
	const m_quote *q;
	if (qref < 0 || seq < 0 || seq <= m->nquotes - 1 - MAX_QUOTES)
		return NULL;
	q = &m->quotes[seq % MAX_QUOTES];
	return q->used && q->seq == seq ? q : NULL;
}

int model_placed_order(const model *m, int oref)
{
	int k = m->nplaced - 1 - oref;
	if (oref < 0 || k < 0)
		return -1;
	return m->placed[k];
}

static int order_open(const model *m, int k)
{
	int s = model_order_status(m, k);
	return s == OS_(PENDING_PAYMENT) || s == OS_(PROCESSING);
}

/* Is item slot i (its current incarnation) on a line of an open order? */
static int item_held(const model *m, int i)
{
	for (int k = 0; k < m->norders; k++) {
		const m_order *o = &m->orders[k];
		if (!order_open(m, k))
			continue;
		for (int l = 0; l < o->nlines; l++) {
			const m_line *ln = &m->lines[o->line0 + l];
			if (ln->item == i && ln->gen == m->item[i].gen)
				return 1;
		}
	}
	return 0;
}

int model_item_held(const model *m, int i)
{
	return item_held(m, i);
}

int model_proj_model(const model *m, int p)
{
	return proj_model(&m->proj[p]);
}

static int64_t ceil_div(int64_t a, int64_t b)
{
	return (a + b - 1) / b;
}

/* ------------------------------------------------------------------------ */
/* Coupons (R16)                                                             */

typedef struct coupon_ctx {
	int payer, ptype, credits_model, purchase, cur; /* cur: -1 no currency */
	const m_line *lines;
	int nlines;
	int64_t subtotal;
} coupon_ctx;

/* The discount of coupon c in ctx, or -1 when it does not apply. */
static int64_t coupon_discount(const model *m, int c, const coupon_ctx *x)
{
	const m_coupon *cp = &m->coupon[c];
	int64_t base = 0;
	if (!cp->exists || cp->disabled)
		return -1;
	if (cp->expires && m->now >= cp->expires)
		return -1;
	if (cp->maxr > 0 && cp->redemptions + cp->reserved >= cp->maxr)
		return -1;
	if (x->credits_model)
		return -1;
	if (cp->credit_only && !x->purchase)
		return -1;
	if (!x->purchase && cp->ptypes && !(cp->ptypes & (1u << x->ptype)))
		return -1;
	if (cp->amount && cp->cur != x->cur)
		return -1;
	if (x->purchase) {
		base = x->subtotal;
	} else {
		for (int l = 0; l < x->nlines; l++)
			if (!cp->stypes || (cp->stypes & (1u << x->lines[l].stype)))
				base += x->lines[l].amount;
	}
	if (base <= 0)
		return -1;
	if (cp->use[x->payer])
		return -1;
	if (cp->pct)
		return (base * cp->pct + 50) / 100;
	return cp->amount < base ? cp->amount : base;
}

static void coupon_reserve(model *n, int c, int payer)
{
	n->coupon[c].reserved++;
	n->coupon[c].use[payer] = 1;
}

static void coupon_settle(model *n, int c, int payer, int redeemed)
{
	m_coupon *cp = &n->coupon[c];
	if (cp->reserved > 0)
		cp->reserved--;
	if (redeemed) {
		cp->redemptions++;
		cp->use[payer] = 2;
	} else {
		cp->use[payer] = 0;
	}
}

/* ------------------------------------------------------------------------ */
/* Ledger (R15)                                                              */

static int xfer(model *n, int from, int to, int kind, int order, int64_t amount)
{
	m_xfer *x;
	if (n->nxfers >= MAX_XFERS)
		return -1;
	x = &n->xfers[n->nxfers];
	n->acc[from].balance -= amount;
	n->acc[to].balance += amount;
	x->from = (int8_t)from;
	x->to = (int8_t)to;
	x->kind = (int8_t)kind;
	x->order = order;
	x->amount = amount;
	x->bal_from = n->acc[from].balance;
	x->bal_to = n->acc[to].balance;
	x->time = n->now;
	return n->nxfers++;
}

/* ------------------------------------------------------------------------ */
/* Orders: effects (R9)                                                      */

/* Applies line l of order k at time t: the item it priced gets its new
 * expiry. Returns 0, or -1 when the item is no longer the one priced. */
static int apply_line(model *n, const m_order *o, m_line *l, int64_t t)
{
	m_item *it = &n->item[(int)l->item];
	int64_t base, nexp;
	if (!it->exists || it->gen != l->gen)
		return -1;
	base = it->active ? (it->expires > t ? it->expires : t) : t;
	if (l->months > 0)
		nexp = base + l->months * MONTH_US;
	else
		nexp = l->new_exp > base ? l->new_exp : base;
	it->active = 1;
	it->expires = nexp;
	l->new_exp = nexp;
	if (o->type == OT_(AUTO_RENEWAL))
		return 0;
	if (o->renew_auto) {
		memset(&it->ar, 0, sizeof(it->ar));
		it->ar.enabled = 1;
		it->ar.payer = o->payer;
		it->ar.method = o->method;
		it->ar.pm = o->pm;
		it->ar.cus = o->cus;
		it->ar.term = o->art ? o->art : 3;
		it->ar.until = o->art == 1 ? o->art_until : 0;
		it->ar.cycles = o->art == 2 ? o->art_cycles : 0;
		it->renew_auto = 1;
	} else {
		it->ar.enabled = 0;
		it->renew_auto = 0;
	}
	return 0;
}

static void order_end(model *n, int k, int status, int64_t t);

/* Marks order k SUCCEEDED at t and applies its effects exactly once. */
static void order_succeed(model *n, int k, int64_t t)
{
	m_order *o = &n->orders[k];
	for (int l = 0; l < o->nlines; l++)
		if (apply_line(n, o, &n->lines[o->line0 + l], t) != 0) {
			/* issue 12.1: never applied to another item; fails before money */
			order_end(n, k, OS_(FAILED), t);
			return;
		}
	if (o->type == OT_(CREDIT_PURCHASE))
		xfer(n, VENDOR, o->bene, TK_(PURCHASE), k, o->credits_qty);
	if (o->coupon >= 0)
		coupon_settle(n, o->coupon, o->payer, 1);
	o->status = OS_(SUCCEEDED);
	o->update_time = t;
}

static void order_end(model *n, int k, int status, int64_t t)
{
	m_order *o = &n->orders[k];
	if (o->coupon >= 0)
		coupon_settle(n, o->coupon, o->payer, 0);
	o->status = (int8_t)status;
	o->update_time = t;
}

static int new_order(model *n, int type)
{
	m_order *o;
	if (n->norders >= MAX_ORDERS)
		return -1;
	o = &n->orders[n->norders];
	memset(o, 0, sizeof(*o));
	o->type = (int8_t)type;
	o->coupon = -1;
	o->bene = -1;
	o->quote_seq = -1;
	o->create_time = o->update_time = n->now;
	o->line0 = n->nlines;
	return n->norders++;
}

static void mark_placed(model *n, int k)
{
	n->orders[k].placed = 1;
	n->placed[n->nplaced++] = (int16_t)k;
}

/* ------------------------------------------------------------------------ */
/* Accounts, projects, items                                                 */

static int valid_caller(const model *m, const op *o, m_expect *e)
{
	int a = o->who.acc;
	if (a < 0 || a >= NACC || !m->acc[a].exists) {
		/* a valid SERVICE key acting for an account that does not exist: a
		 * reference to a missing resource (AIP-211); no key: UNAUTHENTICATED */
		if (o->who.service)
			DENY(e, "x-acting-account: no such account");
		else
			err(e, GRPC_STATUS_UNAUTHENTICATED, NULL, "the account has no key");
		return 0;
	}
	return 1;
}

static int privileged(const op *o)
{
	return o->who.acc == VENDOR || o->who.service;
}

static void op_create_account(const model *m, model *n, const op *o, m_expect *e)
{
	int a = o->u.acct.acc, role = o->u.acct.role, parent = o->u.acct.parent;
	int ph1 = 0;
	if (role != ROLE_(DISTRIBUTOR) && role != ROLE_(SUB_DISTRIBUTOR) &&
	    role != ROLE_(INSTALLER) && role != ROLE_(PROPERTY_MANAGER))
		INV(e, "role must be DISTRIBUTOR, SUB_DISTRIBUTOR, INSTALLER or PROPERTY_MANAGER"),
			ph1 = 1;
	if (parent < 0 || !model_may_act(m, o->who.acc, parent)) {
		DENY(e, "the caller may not act on the parent");
		return;
	}
	if (ph1)
		return;
	if (!role_fits(m->acc[parent].role, role))
		INV(e, "the role does not fit under the parent");
	if (m->acc[a].exists)
		err(e, GRPC_STATUS_ALREADY_EXISTS, NULL, "the account id is taken");
	if (e->nerr)
		return;
	n->acc[a].exists = 1;
	n->acc[a].role = (int8_t)role;
	n->acc[a].parent = (int8_t)parent;
}

/* Creates the INTEGRATION item of project p in n (R5). */
static void make_integration(model *n, int p)
{
	m_item *it = &n->item[INTEG_SLOT(p)];
	memset(it, 0, sizeof(*it));
	it->exists = 1;
	it->proj = (int8_t)p;
	it->stype = ST_(INTEGRATION);
	it->gen = ++n->gen_seq;
	it->seq = ++n->item_seq;
	it->proj_gen = n->proj[p].gen;
}

/* A property manager serves a project when it hangs under the project's
 * installer or one of the installer's ancestors. One that does not fit is
 * PERMISSION_DENIED when the caller may not act on it (missing or another
 * tree's: one answer, AIP-211, issue 12.4), INVALID_ARGUMENT only when the
 * caller may see it. */
static void check_pm(const model *m, const op *o, int pm, int inst, m_expect *e)
{
	if (m->acc[pm].exists && m->acc[pm].role == ROLE_(PROPERTY_MANAGER) &&
	    model_may_act(m, m->acc[pm].parent, inst))
		return;
	if (!model_may_act(m, o->who.acc, pm))
		DENY(e, "property_manager_id: out of the caller's reach");
	else
		INV(e, "property_manager_id: not a property manager of the installer's branch");
}

static void op_create_project(const model *m, model *n, const op *o, m_expect *e)
{
	int p = o->u.proj.proj, inst = o->u.proj.inst, type = o->u.proj.ptype;
	int pm = o->u.proj.pm, ph1 = 0;
	if (type < PT_(COMMUNITY) || type > PT_(COMMERCIAL))
		INV(e, "type: unknown"), ph1 = 1;
	if (o->u.proj.pms && type != PT_(COMMUNITY))
		INV(e, "pms_integrated: community only"), ph1 = 1;
	if (o->u.proj.free_apps < 0 || o->u.proj.free_apps > 1000)
		INV(e, "free_additional_apps: 0..1000"), ph1 = 1;
	/* R4 / issue 12.5: what lowers the charge is the vendor's or a SERVICE key's. */
	if (!privileged(o) && o->u.proj.created)
		DENY(e, "created_at: only the vendor or a SERVICE key may set it"), ph1 = 1;
	if (!privileged(o) && o->u.proj.free_apps > 0)
		DENY(e, "free_additional_apps: only the vendor or a SERVICE key may set it"),
			ph1 = 1;
	if (inst < 0 || !model_may_act(m, o->who.acc, inst)) {
		DENY(e, "the caller may not act on the installer");
		return;
	}
	if (ph1)
		return;
	if (m->acc[inst].role != ROLE_(INSTALLER))
		INV(e, "installer_id: not an installer");
	if (pm >= 0)
		check_pm(m, o, pm, inst, e);
	if (m->proj[p].exists)
		err(e, GRPC_STATUS_ALREADY_EXISTS, NULL, "project id taken");
	if (e->nerr)
		return;
	n->proj[p].exists = 1;
	n->proj[p].gen++;
	n->proj[p].inst = (int8_t)inst;
	n->proj[p].type = (int8_t)type;
	n->proj[p].pms = o->u.proj.pms;
	n->proj[p].pm = (int8_t)pm;
	n->proj[p].free_apps = o->u.proj.free_apps;
	n->proj[p].created_at = o->u.proj.created == 1   ? SIM_CUTOVER_US - 30 * DAY_US
				: o->u.proj.created == 2 ? SIM_CUTOVER_US + 30 * DAY_US
							 : m->now;
	if (o->u.proj.pms)
		make_integration(n, p);
}

static void op_update_project(const model *m, model *n, const op *o, m_expect *e)
{
	int p = o->u.upd.proj, mask = o->u.upd.mask, pm = o->u.upd.pm, ph1 = 0;
	const m_proj *pr = &m->proj[p];
	if (!mask)
		INV(e, "update_mask: empty"), ph1 = 1;
	if (mask & 16)
		INV(e, "update_mask: unknown path"), ph1 = 1;
	if ((mask & 2) && (o->u.upd.free_apps < 0 || o->u.upd.free_apps > 1000))
		INV(e, "free_additional_apps: 0..1000"), ph1 = 1;
	if ((mask & 2) && !privileged(o))
		DENY(e, "free_additional_apps: only the vendor or a SERVICE key"), ph1 = 1;
	if (!proj_mutable(m, o->who.acc, p)) {
		DENY(e, "project not the caller's");
		return;
	}
	if (ph1)
		return;
	if ((mask & 1) && o->u.upd.pms && pr->type != PT_(COMMUNITY))
		INV(e, "pms_integrated: community only");
	if ((mask & 4) && pm >= 0)
		check_pm(m, o, pm, pr->inst, e);
	if (e->nerr)
		return;
	if (mask & 1) {
		int slot = INTEG_SLOT(p);
		n->proj[p].pms = o->u.upd.pms;
		if (o->u.upd.pms && !m->item[slot].exists) {
			make_integration(n, p);
		} else if (!o->u.upd.pms && m->item[slot].exists) {
			/* issue 22.1: no path deletes an item that is ACTIVE or held by an
			 * open order. The fix may refuse the change or keep the item: both
			 * are correct until the proto documents the choice. */
			if (model_item_status(m, slot) == IS_(ACTIVE) || item_held(m, slot)) {
				FP(e, NULL, "turning integration off would destroy a paid item");
				e->ok_too = 1;
			} else {
				n->item[slot].exists = 0;
			}
		}
	}
	if (mask & 2)
		n->proj[p].free_apps = o->u.upd.free_apps;
	if (mask & 4)
		n->proj[p].pm = (int8_t)pm;
}

static void op_create_items(const model *m, model *n, const op *o, m_expect *e)
{
	int p = o->u.items.proj, cnt = o->u.items.n, ph1 = 0;
	if (cnt < 1)
		INV(e, "items: 1..1000"), ph1 = 1;
	for (int i = 0; i < cnt; i++)
		for (int j = 0; j < i; j++)
			if (o->u.items.item[i] == o->u.items.item[j])
				INV(e, "items: an id twice"), ph1 = 1;
	for (int i = 0; i < cnt; i++)
		if (o->u.items.stype[i] < 1 || o->u.items.stype[i] >= NST)
			INV(e, "service_type: unknown"), ph1 = 1;
	if (!proj_mutable(m, o->who.acc, p)) {
		DENY(e, "project not the caller's");
		return;
	}
	if (ph1)
		return;
	for (int i = 0; i < cnt; i++) {
		int st = o->u.items.stype[i];
		unsigned f = o->u.items.feat[i];
		if (st == ST_(INTEGRATION))
			INV(e, "INTEGRATION items follow pms_integrated");
		else if (!offers(m->proj[p].type, st))
			INV(e, "service type not offered for the project type");
		if (f & ~features_allowed(m->proj[p].type, st))
			INV(e, "premium feature not available");
		if (m->item[(int)o->u.items.item[i]].exists)
			err(e, GRPC_STATUS_ALREADY_EXISTS, NULL, "item id taken");
	}
	if (e->nerr)
		return;
	for (int i = 0; i < cnt; i++) {
		m_item *it = &n->item[(int)o->u.items.item[i]];
		memset(it, 0, sizeof(*it));
		it->exists = 1;
		it->proj = (int8_t)p;
		it->proj_gen = m->proj[p].gen;
		it->stype = o->u.items.stype[i];
		it->feat = o->u.items.feat[i];
		it->gen = ++n->gen_seq;
		it->seq = ++n->item_seq;
	}
}

static void op_delete_item(const model *m, model *n, const op *o, m_expect *e)
{
	int i = o->u.del.item;
	if (i < 0 || !m->item[i].exists || !proj_mutable(m, o->who.acc, m->item[i].proj)) {
		DENY(e, "item not the caller's (or missing)");
		return;
	}
	if (m->item[i].stype == ST_(INTEGRATION))
		FP(e, "ITEM_STATE", "the integration item follows pms_integrated");
	if (model_item_status(m, i) == IS_(ACTIVE))
		FP(e, "ITEM_STATE", "only INACTIVE or EXPIRED items can be deleted");
	if (item_held(m, i))
		FP(e, "ITEM_IN_OPEN_ORDER", "the item is held by an open order (issue 12.1)");
	if (e->nerr)
		return;
	n->item[i].exists = 0;
}

/* ------------------------------------------------------------------------ */
/* Prices, coupons, policies                                                 */

static int vendor_only(const op *o, m_expect *e)
{
	if (o->who.acc != VENDOR) {
		DENY(e, "AdminService is for the vendor only");
		return 0;
	}
	return 1;
}

static void op_set_price(const model *m, model *n, const op *o, m_expect *e)
{
	int pt = o->u.price.ptype, st = o->u.price.stype;
	(void)m;
	if (!vendor_only(o, e))
		return;
	if (pt < 1 || pt > 3)
		INV(e, "project_type: unknown");
	else if (!offers(pt, st))
		INV(e, "service_type: not offered");
	if (o->u.price.amount < 0 || o->u.price.credits < 0)
		INV(e, "amounts >= 0");
	if (o->u.price.cur < 0)
		INV(e, "currency: ISO-4217");
	if (e->nerr)
		return;
	n->price[pt][st].set = 1;
	n->price[pt][st].amount = o->u.price.amount;
	n->price[pt][st].credits = o->u.price.credits;
	n->price[pt][st].cur = o->u.price.cur;
	n->price_version++;
}

static void op_set_credit_price(const model *m, model *n, const op *o, m_expect *e)
{
	(void)m;
	if (!vendor_only(o, e))
		return;
	if (o->u.cprice.unit < 1)
		INV(e, "unit_amount >= 1");
	if (o->u.cprice.cur < 0)
		INV(e, "currency");
	if (e->nerr)
		return;
	n->credit_price.set = 1;
	n->credit_price.amount = o->u.cprice.unit;
	n->credit_price.cur = o->u.cprice.cur;
	n->price_version++;
}

static void op_create_coupon(const model *m, model *n, const op *o, m_expect *e)
{
	int c = o->u.coupon.code;
	if (!vendor_only(o, e))
		return;
	if ((o->u.coupon.pct == 0) == (o->u.coupon.amount == 0))
		INV(e, "exactly one of percent_off and amount_off");
	if (o->u.coupon.pct < 0 || o->u.coupon.pct > 100)
		INV(e, "percent_off 1..100");
	if (o->u.coupon.amount < 0)
		INV(e, "amount_off >= 0");
	if (o->u.coupon.maxr < 0)
		INV(e, "max_redemptions >= 0");
	if (e->nerr)
		return;
	if (m->coupon[c].exists) {
		err(e, GRPC_STATUS_ALREADY_EXISTS, NULL, "coupon code taken");
		return;
	}
	memset(&n->coupon[c], 0, sizeof(n->coupon[c]));
	n->coupon[c].exists = 1;
	n->coupon[c].pct = o->u.coupon.pct;
	n->coupon[c].amount = o->u.coupon.amount;
	n->coupon[c].cur = o->u.coupon.cur;
	n->coupon[c].maxr = o->u.coupon.maxr;
	n->coupon[c].credit_only = o->u.coupon.credit_only;
	n->coupon[c].ptypes = o->u.coupon.ptypes;
	n->coupon[c].stypes = o->u.coupon.stypes;
	n->coupon[c].expires = o->u.coupon.expires_s ? m->now + o->u.coupon.expires_s * SEC_US : 0;
}

static void op_disable_coupon(const model *m, model *n, const op *o, m_expect *e)
{
	int c = o->u.coupon.code;
	if (!vendor_only(o, e))
		return;
	if (!m->coupon[c].exists) {
		err(e, GRPC_STATUS_NOT_FOUND, NULL, "no such coupon");
		return;
	}
	n->coupon[c].disabled = 1;
}

static void op_set_policy(const model *m, model *n, const op *o, m_expect *e)
{
	int inst = o->u.pol.inst, ph1 = 0;
	unsigned mask = 0;
	if (o->u.pol.pay && o->u.pol.n == 0)
		INV(e, "allowed_methods: required when pay_by_installer"), ph1 = 1;
	for (int i = 0; i < o->u.pol.n; i++) {
		int me = o->u.pol.methods[i];
		if (me < PM_(STRIPE) || me > PM_(CREDITS))
			INV(e, "allowed_methods: unknown method"), ph1 = 1;
		else if (mask & (1u << me))
			INV(e, "allowed_methods: listed twice"), ph1 = 1;
		else
			mask |= 1u << me;
	}
	/* R12: set by any ancestor of the installer (not by itself). */
	if (inst < 0 || !strict_ancestor(m, o->who.acc, inst)) {
		DENY(e, "only an ancestor sets an installer's policy");
		return;
	}
	if (ph1)
		return;
	if (m->acc[inst].role != ROLE_(INSTALLER)) {
		INV(e, "installer_id: not an installer");
		return;
	}
	n->acc[inst].pol_set = 1;
	n->acc[inst].pol_pay = o->u.pol.pay;
	n->acc[inst].pol_mask = (uint8_t)mask;
}

/* ------------------------------------------------------------------------ */
/* Quotes (R3-R8, R11, R12, R16)                                             */

/* R11/R12: the methods payer may use on project p, or 0 with an error. */
static unsigned payer_mask(const model *m, int payer, int p, m_expect *e)
{
	const m_proj *pr = &m->proj[p];
	const m_acc *in = &m->acc[(int)pr->inst];
	if (payer == pr->inst) {
		if (in->pol_set && in->pol_pay && in->pol_mask)
			return in->pol_mask;
		err(e, GRPC_STATUS_PERMISSION_DENIED, "PAYMENT_NOT_PERMITTED",
		    "the installer's payment policy does not let it pay");
		return 0;
	}
	if (strict_ancestor(m, payer, pr->inst))
		return ALL_METHODS;
	if (pr->pm >= 0 && pr->pm == payer)
		return CREDIT_METHODS;
	DENY(e, "payer is neither an ancestor, the installer, nor the property manager");
	return 0;
}

static int in_list8(const int8_t *v, int n, int x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static int has_dup8(const int8_t *v, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			if (v[i] == v[j])
				return 1;
	return 0;
}

/* Computes the quote of request `in` (payer resolved) by `caller` on state
 * m into q; errors into e. Used by QuoteServices and again when an order
 * is placed. */
static void compute_quote(const model *m, const op *in, int caller, int64_t until, m_quote *q,
			  m_expect *e)
{
	int action = in->u.quote.action, ptype = in->u.quote.ptype, payer = in->u.quote.payer;
	int inst = in->u.quote.inst, nerr0 = e->nerr, pmodel = 0, nproj = 0;
	int projs[NPROJ], seen_item[QMAX_ITEM] = {0};
	unsigned mask = ALL_METHODS, pmask_all;
	int cur = -1, ph1, for_anc = 0;

	memset(q, 0, sizeof(*q));
	q->coupon = -1;
	q->order = -1;
	/* phase 1: the request itself */
	if (action != QA_(ACTIVATE) && action != QA_(RENEW))
		INV(e, "action: ACTIVATE or RENEW");
	if (inst < 0)
		INV(e, "installer_id: required");
	if (ptype < PT_(COMMUNITY) || ptype > PT_(COMMERCIAL))
		INV(e, "project_type: required");
	if (!in->u.quote.all && in->u.quote.nproj == 0)
		INV(e, "project_ids: name the projects or set all_projects");
	if (in->u.quote.all && in->u.quote.nproj)
		INV(e, "project_ids: either project_ids or all_projects");
	if (has_dup8(in->u.quote.proj, in->u.quote.nproj))
		INV(e, "project_ids: listed twice (issue 12.2)");
	if (has_dup8(in->u.quote.item, in->u.quote.nitem))
		INV(e, "item_ids: listed twice (issue 12.2)");
	if (has_dup8(in->u.quote.st, in->u.quote.nst))
		INV(e, "service_types: listed twice (issue 12.2)");
	for (int i = 0; i < in->u.quote.nst; i++)
		if (!offers(ptype, in->u.quote.st[i]))
			INV(e, "service_types: not offered for the project type");
	if (until) {
		if (action != QA_(RENEW))
			INV(e, "renew_until: RENEW only");
		if (in->u.quote.months)
			INV(e, "months: either months or renew_until");
		if (until <= m->now)
			INV(e, "renew_until: must be in the future (issue 12.6)");
	} else if (in->u.quote.months < 1 || in->u.quote.months > 60) {
		INV(e, "months: 1..60");
	}
	if (in->u.quote.mode < 0 || in->u.quote.mode > RM_(AUTO))
		INV(e, "renew_mode: unknown");
	if (in->u.quote.mode == RM_(AUTO) && action != QA_(RENEW))
		INV(e, "renew_mode: AUTO is for RENEW");
	if (in->u.quote.mode == RM_(AUTO) && in->u.quote.art == 2 && in->u.quote.art_cycles < 1)
		INV(e, "auto_renew_term.cycles >= 1");
	ph1 = e->nerr > nerr0;
	/* phase 2: may the caller act for the payer; or (issue 16, payment
	 * requests up the tree) quote for an ancestor to pay, for the caller's
	 * own installer only: priced as the payer's own, without the payer's
	 * list of available coupons */
	for_anc = 0;
	if (!model_may_act(m, caller, payer)) {
		if (model_may_act(m, payer, caller) && model_may_act(m, caller, inst)) {
			for_anc = 1;
		} else {
			DENY(e, "the caller may not act on the payer");
			return;
		}
	}
	if (ph1)
		return;
	/* phase 3: the projects */
	if (in->u.quote.all) {
		for (int p = 0; p < NPROJ; p++)
			if (m->proj[p].exists && m->proj[p].inst == inst &&
			    m->proj[p].type == ptype)
				projs[nproj++] = p;
		/* all of an installer's projects: the caller acts on the installer
		 * (a property manager names its projects) */
		if (!model_may_act(m, caller, inst)) {
			DENY(e, "installer not the caller's");
			return;
		}
		if (nproj == 0) {
			FP(e, NULL, "the installer has no projects of that type");
			return;
		}
	} else {
		for (int i = 0; i < in->u.quote.nproj; i++) {
			int p = in->u.quote.proj[i], ok = 1;
			if (p < 0 || !proj_visible(m, caller, p)) {
				DENY(e, "project not visible (or missing)");
				continue;
			}
			if (m->proj[p].inst != inst) {
				DENY(e, "project not the installer's");
				INV(e, "project not the installer's");
				ok = 0;
			}
			if (m->proj[p].type != ptype) {
				INV(e, "project_ids: another project type");
				ok = 0;
			}
			if (ok)
				projs[nproj++] = p;
		}
		/* a project refused above leaves the others: their errors (about
		 * the caller's own items) are correct answers too */
	}
	for (int pi = 0; pi < nproj; pi++) {
		int p = projs[pi], pm = proj_model(&m->proj[p]);
		unsigned pmask;
		if (pmodel && pm != pmodel)
			FP(e, NULL, "projects with different payment models");
		pmodel = pm;
		pmask = payer_mask(m, payer, p, e);
		mask &= pmask;
		for (int i = 0; i < NITEM; i++) {
			const m_item *it = &m->item[i];
			int forced, named, ni = -1, status, isfree;
			const m_price *pr;
			m_line *l;
			int64_t base, unit;
			if (!it->exists || it->proj != p)
				continue;
			forced = it->stype == ST_(INTEGRATION) &&
				 m->proj[p].type == PT_(COMMUNITY) && m->proj[p].pms;
			for (int k = 0; k < in->u.quote.nitem; k++)
				if (in->u.quote.item[k] == i)
					ni = k;
			if (ni >= 0)
				seen_item[ni] = 1;
			named = in->u.quote.nitem == 0 || ni >= 0;
			if (!named && !forced)
				continue;
			if (!forced && in->u.quote.nst &&
			    !in_list8(in->u.quote.st, in->u.quote.nst, it->stype)) {
				if (ni >= 0 && q->nskip < MAX_SKIP) {
					q->skip[q->nskip].item = (int8_t)i;
					q->skip[q->nskip++].reason = SK_(SERVICE_TYPE_NOT_SELECTED);
				}
				continue;
			}
			status = model_item_status(m, i);
			if (action == QA_(ACTIVATE) && status != IS_(INACTIVE)) {
				if (ni >= 0 && !forced)
					FP(e, "ITEM_STATE",
					   "an item named for activation is active");
				else if (q->nskip < MAX_SKIP) {
					q->skip[q->nskip].item = (int8_t)i;
					q->skip[q->nskip++].reason = SK_(ALREADY_ACTIVE);
				}
				continue;
			}
			if (action == QA_(RENEW) && status == IS_(INACTIVE)) {
				if (ni >= 0 && !forced)
					FP(e, "ITEM_STATE",
					   "an item named for renewal was never activated");
				else if (q->nskip < MAX_SKIP) {
					q->skip[q->nskip].item = (int8_t)i;
					q->skip[q->nskip++].reason = SK_(NOT_ACTIVATED);
				}
				continue;
			}
			isfree = model_item_free(m, i);
			pr = &m->price[m->proj[p].type][(int)it->stype];
			if (!pr->set && !isfree) {
				if (q->nskip < MAX_SKIP) {
					q->skip[q->nskip].item = (int8_t)i;
					q->skip[q->nskip++].reason = SK_(NO_PRICE);
				}
				continue;
			}
			base = (action == QA_(ACTIVATE) || status == IS_(INACTIVE) ||
				it->expires < m->now)
				       ? m->now
				       : it->expires;
			if (until && until <= base) {
				if (q->nskip < MAX_SKIP) {
					q->skip[q->nskip].item = (int8_t)i;
					q->skip[q->nskip++].reason = SK_(ALREADY_COVERED);
				}
				continue;
			}
			if (q->nlines >= MAX_QLINES)
				continue;
			l = &q->lines[q->nlines++];
			memset(l, 0, sizeof(*l));
			l->item = (int8_t)i;
			l->gen = it->gen;
			l->proj = (int8_t)p;
			l->stype = it->stype;
			l->free = (int8_t)isfree;
			l->cur_exp = it->active ? it->expires : 0;
			unit = !pr->set ? 0 : pm == MODEL_(CREDITS) ? pr->credits : pr->amount;
			l->unit = unit;
			if (until) {
				int64_t days = ceil_div(until - base, DAY_US);
				l->days = (int32_t)days;
				l->new_exp = until;
				/* R3: money half-up; credits up (issue 12.3) */
				l->amount = pm == MODEL_(CREDITS) ? ceil_div(unit * days, 30)
								  : (unit * days + 15) / 30;
			} else {
				l->months = in->u.quote.months;
				l->new_exp = base + in->u.quote.months * MONTH_US;
				l->amount = unit * in->u.quote.months;
			}
			if (isfree)
				l->amount = 0;
			if (pm != MODEL_(CREDITS) && pr->set) {
				if (cur < 0)
					cur = pr->cur;
				else if (cur != pr->cur)
					FP(e, NULL, "the items are priced in different currencies");
			}
		}
	}
	for (int k = 0; k < in->u.quote.nitem; k++)
		if (!seen_item[k]) {
			INV(e, "item_ids: not an item of the selected projects");
			DENY(e, "item_ids: not an item of the selected projects");
		}
	if (e->nerr > nerr0)
		return;
	pmask_all = mask;
	mask &= model_methods(pmodel);
	if (!mask) {
		DENY(e, "the payer may use none of the methods of these projects");
		return;
	}
	q->methods = (uint8_t)mask;
	q->pmask = (uint8_t)pmask_all;
	q->credits_model = pmodel == MODEL_(CREDITS);
	q->cur = (int8_t)cur;
	for (int l = 0; l < q->nlines; l++)
		q->subtotal += q->lines[l].amount;
	if (!q->credits_model) {
		coupon_ctx x = {.payer = payer,
				.ptype = ptype,
				.credits_model = 0,
				.purchase = 0,
				.cur = cur,
				.lines = q->lines,
				.nlines = q->nlines};
		for (int c = 0; c < NCOUP && !for_anc; c++)
			if (coupon_discount(m, c, &x) >= 0)
				q->avail |= (uint8_t)(1u << c);
		if (in->u.quote.coupon >= 0) {
			int64_t d = coupon_discount(m, in->u.quote.coupon, &x);
			if (d >= 0) {
				q->coupon = in->u.quote.coupon;
				q->discount = d;
			}
		}
		q->total = q->subtotal - q->discount;
	}
	q->payer = (int8_t)payer;
	q->caller = (int8_t)caller;
	q->price_version = m->price_version;
	q->expire = m->now + QUOTE_TTL_US;
	q->until = until;
	q->in = *in;
}

/* What an order placed from a quote must charge: the quote's lines and
 * totals as the quote showed them (R6; new expiries excepted, they follow
 * the time of payment). */
static int same_charge(const m_quote *a, const m_quote *b)
{
	if (a->nlines != b->nlines || a->subtotal != b->subtotal || a->discount != b->discount ||
	    a->total != b->total || a->cur != b->cur || a->coupon != b->coupon ||
	    a->credits_model != b->credits_model)
		return 0;
	for (int i = 0; i < a->nlines; i++) {
		const m_line *x = &a->lines[i], *y = NULL;
		for (int j = 0; j < b->nlines; j++)
			if (b->lines[j].item == x->item)
				y = &b->lines[j];
		if (!y || y->gen != x->gen || y->proj != x->proj || y->stype != x->stype ||
		    y->cur_exp != x->cur_exp || y->unit != x->unit || y->months != x->months ||
		    y->days != x->days || y->amount != x->amount || y->free != x->free)
			return 0;
	}
	return 1;
}

static void op_quote(const model *m, model *n, const op *o, m_expect *e)
{
	op in = *o;
	m_quote q;
	if (in.u.quote.payer < 0)
		in.u.quote.payer = o->who.acc;
	compute_quote(m, &in, o->who.acc,
		      in.u.quote.until_s ? m->now + (int64_t)in.u.quote.until_s * SEC_US : 0, &q,
		      e);
	if (e->nerr)
		return;
	/* the quote id is the quote's content signed: the same request by the
	 * same caller at the same instant on the same prices is the same quote,
	 * bound to the same order */
	for (int k = 0; k < MAX_QUOTES && k < m->nquotes; k++) {
		const m_quote *p = &m->quotes[k];
		if (p->used && p->caller == q.caller && p->expire == q.expire &&
		    p->price_version == q.price_version && p->until == q.until &&
		    memcmp(&p->in.u.quote, &q.in.u.quote, sizeof(q.in.u.quote)) == 0 &&
		    same_charge(p, &q) && p->order > q.order)
			q.order = p->order;
	}
	q.used = 1;
	q.seq = n->nquotes;
	n->quotes[n->nquotes % MAX_QUOTES] = q;
	e->new_quote = n->nquotes % MAX_QUOTES;
	n->nquotes++;
}

static int bill_check(const model *m, int bill, int terms, int method, int pm, int cus, m_expect *e)
{
	int nerr0 = e->nerr;
	(void)m;
	if (method < PM_(STRIPE) || method > PM_(CREDITS))
		INV(e, "payment_method: required");
	if (bill == 4)
		INV(e, "billing_info: required");
	else if (bill == 1)
		INV(e, "billing_info.name: required");
	else if (bill == 2)
		INV(e, "billing_info.email: required");
	else if (bill == 3)
		INV(e, "billing_info.country: alpha-2");
	if (!terms)
		FP(e, "TERMS_NOT_ACCEPTED", "terms_accepted must be true");
	if (method != PM_(STRIPE) && (pm || cus))
		INV(e, "stripe ids only with STRIPE");
	return e->nerr > nerr0;
}

/* Ends phase 1 of placed order k: settles it at once, or leaves it
 * PENDING_PAYMENT for the buyer, or fails it (declined). */
static void pay_now(model *n, int k, m_expect *e)
{
	m_order *o = &n->orders[k];
	if (o->method == PM_(CREDITS) || (o->total == 0 && !o->credits_model) ||
	    (o->credits_model && o->total == 0 && o->method == PM_(CREDITS))) {
		order_succeed(n, k, n->now);
		return;
	}
	if (n->provider_down && (o->method == PM_(STRIPE) || o->method == PM_(PAYPAL))) {
		o->fate = (int8_t)(o->method == PM_(PAYPAL) || o->pm == SPM_NONE || o->pm == SPM_3DS
					   ? OS_(PENDING_PAYMENT)
				   : o->pm == SPM_VISA ? OS_(SUCCEEDED)
						       : OS_(FAILED));
		o->status = OS_(PROCESSING);
		err3(e, GRPC_STATUS_UNAVAILABLE, "PROVIDER_UNAVAILABLE", 1,
		     "the provider did not answer: the order stays PROCESSING (R10)");
		return;
	}
	if (o->method == PM_(STRIPE)) {
		if (o->pm == SPM_VISA) {
			order_succeed(n, k, n->now);
		} else if (o->pm == SPM_NONE || (n->live && o->pm == SPM_3DS)) {
			/* the buyer pays with the client secret, or finishes
			 * 3-D Secure on-session (R10): then ConfirmOrder */
			o->status = OS_(PENDING_PAYMENT);
		} else if (n->live && o->pm == SPM_BOGUS) {
			/* Stripe answers 400 resource_missing: a refusal, not a
			 * decline (issue 13) */
			order_end(n, k, OS_(FAILED), n->now);
			err3(e, GRPC_STATUS_FAILED_PRECONDITION, "PROVIDER_REJECTED", 1,
			     "the provider refused the request (no such payment method)");
		} else {
			order_end(n, k, OS_(FAILED), n->now);
			err3(e, GRPC_STATUS_FAILED_PRECONDITION, "PAYMENT_DECLINED", 1,
			     "the card was declined");
		}
		return;
	}
	/* PAYPAL: approved by the buyer, captured on ConfirmOrder */
	o->status = OS_(PENDING_PAYMENT);
}

int model_order_in_doubt(const model *m, int k)
{
	return k >= 0 && k < m->norders && m->orders[k].fate &&
	       m->orders[k].status == OS_(PROCESSING);
}

int model_settle(model *m, int k, int status)
{
	m_order *o = &m->orders[k];
	int fate = o->fate;
	if (!model_order_in_doubt(m, k))
		return -1;
	if (status == OS_(SUCCEEDED) && fate == OS_(SUCCEEDED)) {
		order_succeed(m, k, m->now);
	} else if (status == OS_(FAILED)) {
		order_end(m, k, OS_(FAILED), m->now);
	} else if (fate == OS_(PENDING_PAYMENT) &&
		   (status == OS_(PENDING_PAYMENT) || status == OS_(TIMED_OUT) ||
		    status == OS_(CANCELED))) {
		if (status == OS_(PENDING_PAYMENT))
			o->status = OS_(PENDING_PAYMENT);
		else
			order_end(m, k, status, m->now);
	} else {
		return -1;
	}
	return 0;
}

static void op_place(const model *m, model *n, const op *o, m_expect *e)
{
	const m_quote *q = model_quote(m, o->u.place.qref);
	int method = o->u.place.method, caller = o->who.acc, bad;
	int action = o->u.place.action;
	m_quote r;
	m_expect tmp;
	int k, nerr0;
	unsigned mask;

	if (!q && o->u.place.tamper < 2) {
		e->skip = 1; /* the quote it names was shrunk away */
		return;
	}
	bad = bill_check(m, o->u.place.bill, o->u.place.terms, method, o->u.place.pm,
			 o->u.place.cus, e);
	if (o->u.place.tamper == 3) {
		INV(e, "quote_id: not a quote id");
		return;
	}
	if (o->u.place.tamper == 1 || o->u.place.tamper == 2) {
		DENY(e, "a forged or garbled quote token");
		return;
	}
	if (!model_may_act(m, caller, q->payer)) {
		DENY(e, "the quote's payer is not the caller's");
		return;
	}
	if (bad)
		return;
	if (q->order >= 0) {
		int s = model_order_status(m, q->order);
		if (s == OS_(PENDING_PAYMENT) || s == OS_(PROCESSING) || s == OS_(SUCCEEDED)) {
			/* a second placement of a quote is the order placed from it */
			if (m->orders[q->order].method != method)
				FP(e, "ORDER_STATE", "the quote's order pays with another method");
			else
				e->new_order = q->order;
			return;
		}
	}
	if (q->in.u.quote.action != action) {
		INV(e, "quote_id: a quote of the other action");
		return;
	}
	if (m->now >= q->expire) {
		FP(e, "QUOTE_STALE", "the quote expired");
		return;
	}
	nerr0 = e->nerr;
	compute_quote(m, &q->in, caller, q->until, &r, e);
	if (e->nerr > nerr0)
		return;
	if (r.price_version != q->price_version) {
		FP(e, "QUOTE_STALE", "the price list changed");
		return;
	}
	if (q->coupon >= 0 && r.coupon < 0) {
		FP(e, "COUPON_NOT_APPLICABLE", "the coupon no longer applies");
		return;
	}
	if (!same_charge(q, &r)) {
		FP(e, "QUOTE_STALE", "the items or amounts changed");
		return;
	}
	mask = r.pmask;
	{
		int inst = q->in.u.quote.inst, payer = q->payer;
		int limited = payer == inst || !strict_ancestor(m, payer, inst);
		unsigned mm = model_methods(r.credits_model ? MODEL_(CREDITS) : MODEL_(REGULAR));
		if (limited && !(mask & (1u << method)))
			err(e, GRPC_STATUS_PERMISSION_DENIED, "METHOD_NOT_ALLOWED",
			    "the payer may not use this method (R11)");
		if (!(mm & (1u << method)))
			FP(e, "METHOD_NOT_ALLOWED",
			   "the method is not of the project's model (R2)");
	}
	if (e->nerr)
		return;
	if (r.nlines == 0) {
		FP(e, NULL, "the quote has no items to pay for");
		return;
	}
	if (method == PM_(COUPON) && (q->total != 0 || q->coupon < 0)) {
		FP(e, "COUPON_NOT_APPLICABLE", "COUPON needs a coupon covering the total");
		return;
	}
	if (q->in.u.quote.mode == RM_(AUTO) && method != PM_(CREDITS) &&
	    !(method == PM_(STRIPE) && o->u.place.pm && o->u.place.cus)) {
		FP(e, "METHOD_NOT_ALLOWED", "AUTO needs CREDITS or a saved card");
		return;
	}
	/* the issuance account cannot spend credits to itself (sim S8: billingd
	 * answers INTERNAL; the rules leave the refusal's code open) */
	if (method == PM_(CREDITS) && q->payer == VENDOR && q->subtotal > 0) {
		INV(e, "the vendor does not pay with credits");
		FP(e, NULL, "the vendor does not pay with credits");
		DENY(e, "the vendor does not pay with credits");
		return;
	}
	if (method == PM_(CREDITS) && q->payer != VENDOR &&
	    m->acc[(int)q->payer].balance < q->subtotal) {
		FP(e, "INSUFFICIENT_CREDITS", "the payer has too few credits");
		return;
	}
	/* issue 12.1: no second activation of an item an open order holds
	 * (two activations from two quotes would both charge); renewals are
	 * two periods asked for and are placed */
	for (int l = 0; action == QA_(ACTIVATE) && l < r.nlines; l++)
		if (item_held(m, r.lines[l].item)) {
			FP(e, "ITEM_IN_OPEN_ORDER",
			   "an activation of an item held by an open order");
			return;
		}
	if (n->nlines + r.nlines > MAX_LINES || n->norders >= MAX_ORDERS) {
		e->skip = 1;
		return;
	}
	memset(&tmp, 0, sizeof(tmp));
	k = new_order(n, action == QA_(ACTIVATE) ? OT_(ACTIVATION) : OT_(RENEWAL));
	{
		m_order *ord = &n->orders[k];
		m_quote *nq = &n->quotes[q->seq % MAX_QUOTES];
		ord->status = OS_(PROCESSING);
		ord->payer = q->payer;
		ord->inst = q->in.u.quote.inst;
		ord->ptype = q->in.u.quote.ptype;
		ord->method = (int8_t)method;
		ord->pm = o->u.place.pm;
		ord->cus = o->u.place.cus;
		ord->coupon = (int8_t)q->coupon;
		ord->credits_model = q->credits_model;
		ord->cur = q->cur;
		ord->renew_auto = q->in.u.quote.mode == RM_(AUTO);
		ord->art = q->in.u.quote.mode == RM_(AUTO) ? q->in.u.quote.art : 0;
		ord->art_cycles = q->in.u.quote.art_cycles;
		ord->art_until = q->in.u.quote.art_until_s
					 ? q->expire - QUOTE_TTL_US +
						   (int64_t)q->in.u.quote.art_until_s * SEC_US
					 : 0;
		ord->subtotal = q->subtotal;
		ord->discount = q->discount;
		ord->total = q->credits_model ? 0 : q->total;
		ord->quote_seq = q->seq;
		ord->nlines = r.nlines;
		memcpy(&n->lines[n->nlines], r.lines, (size_t)r.nlines * sizeof(m_line));
		n->nlines += r.nlines;
		nq->order = k;
		mark_placed(n, k);
		if (ord->coupon >= 0)
			coupon_reserve(n, ord->coupon, ord->payer);
		if (method == PM_(CREDITS) && q->subtotal > 0)
			xfer(n, q->payer, VENDOR, TK_(SPEND), k, q->subtotal);
	}
	pay_now(n, k, e);
	e->new_order = k;
}

static void op_order(const model *m, model *n, const op *o, m_expect *e)
{
	int k = o->u.ord.oref >= 0 ? model_placed_order(m, o->u.ord.oref) : -1;
	int s;
	if (o->u.ord.oref >= 0 && k < 0) {
		e->skip = 1;
		return;
	}
	if (o->u.ord.oref == -2) {
		INV(e, "order_id: not an order id");
		return;
	}
	if (k < 0 || !model_may_act(m, o->who.acc, m->orders[k].payer)) {
		DENY(e, "order not the caller's (or missing)");
		return;
	}
	s = model_order_status(m, k);
	e->new_order = k;
	if (s == OS_(TIMED_OUT) && m->orders[k].status != OS_(TIMED_OUT))
		order_end(n, k, OS_(TIMED_OUT), m->now);
	switch (o->kind) {
	case OP_CONFIRM:
		if (s == OS_(PENDING_PAYMENT))
			order_succeed(n, k,
				      m->now); /* sandbox: client confirmed, PayPal approved */
		break;
	case OP_CANCEL:
		if (s != OS_(PENDING_PAYMENT)) {
			FP(e, "ORDER_STATE", "only PENDING_PAYMENT orders can be canceled");
			e->new_order = -1;
		} else {
			order_end(n, k, OS_(CANCELED), m->now);
		}
		break;
	default: break;
	}
}

static void op_purchase(const model *m, model *n, const op *o, m_expect *e)
{
	int payer = o->u.buy.payer >= 0 ? o->u.buy.payer : o->who.acc;
	int bene = o->u.buy.bene >= 0 ? o->u.buy.bene : payer;
	int method = o->u.buy.method, bad = 0, k, c = o->u.buy.coupon;
	int64_t subtotal, discount = 0;
	if (o->u.buy.credits < 1)
		INV(e, "credits >= 1"), bad = 1;
	if (method == PM_(CREDITS))
		FP(e, "METHOD_NOT_ALLOWED", "credits are not bought with credits"), bad = 1;
	bad |= bill_check(m, o->u.buy.bill, o->u.buy.terms, method, o->u.buy.pm, 0, e);
	if (!model_may_act(m, o->who.acc, payer)) {
		DENY(e, "the caller may not act on the payer");
		return;
	}
	if (bad)
		return;
	if (payer == VENDOR) {
		INV(e, "the vendor issues credits");
		return;
	}
	if (!model_may_act(m, payer, bene)) {
		DENY(e, "the beneficiary is not the payer or a descendant");
		return;
	}
	if (!m->credit_price.set) {
		FP(e, NULL, "no credit price");
		return;
	}
	subtotal = m->credit_price.amount * o->u.buy.credits;
	if (c >= 0) {
		coupon_ctx x = {.payer = payer,
				.purchase = 1,
				.cur = m->credit_price.cur,
				.subtotal = subtotal};
		/* a coupon on a credit purchase must be restricted to credit purchases */
		discount = m->coupon[c].exists && m->coupon[c].credit_only
				   ? coupon_discount(m, c, &x)
				   : -1;
		if (discount < 0) {
			FP(e, "COUPON_NOT_APPLICABLE", "the coupon does not apply");
			return;
		}
	}
	if (method == PM_(COUPON) && (subtotal - discount != 0 || c < 0)) {
		FP(e, "COUPON_NOT_APPLICABLE", "COUPON needs a coupon covering the total");
		return;
	}
	k = new_order(n, OT_(CREDIT_PURCHASE));
	if (k < 0) {
		e->skip = 1;
		return;
	}
	n->orders[k].status = OS_(PROCESSING);
	n->orders[k].payer = (int8_t)payer;
	n->orders[k].bene = (int8_t)bene;
	n->orders[k].inst = -1;
	n->orders[k].method = (int8_t)method;
	n->orders[k].pm = o->u.buy.pm;
	n->orders[k].coupon = (int8_t)c;
	n->orders[k].cur = m->credit_price.cur;
	n->orders[k].credits_qty = o->u.buy.credits;
	n->orders[k].subtotal = subtotal;
	n->orders[k].discount = discount;
	n->orders[k].total = subtotal - discount;
	mark_placed(n, k);
	if (c >= 0)
		coupon_reserve(n, c, payer);
	pay_now(n, k, e);
	e->new_order = k;
}

static void op_assign(const model *m, model *n, const op *o, m_expect *e)
{
	int from = o->u.asg.from >= 0 ? o->u.asg.from : o->who.acc, to = o->u.asg.to;
	int bad = 0, r;
	if (o->u.asg.credits < 1)
		INV(e, "credits >= 1"), bad = 1;
	if (!model_may_act(m, o->who.acc, from)) {
		DENY(e, "the caller may not act on the sender");
		return;
	}
	if (from == to)
		INV(e, "to_account_id: not the sender itself"), bad = 1;
	else if (to < 0 || !model_may_act(m, o->who.acc, to)) {
		DENY(e, "the caller may not act on the receiver");
		return;
	}
	if (bad)
		return;
	if (!strict_ancestor(m, from, to)) {
		INV(e, "to_account_id: a strict descendant of the sender");
		return;
	}
	/* R14 (and the issuance account, which may assign to any descendant:
	 * MODEL.md) */
	if (from != VENDOR && m->acc[to].role != ROLE_(SUB_DISTRIBUTOR) &&
	    m->acc[to].role != ROLE_(INSTALLER) && m->acc[to].role != ROLE_(PROPERTY_MANAGER)) {
		INV(e, "to_account_id: sub-distributors, installers and property managers");
		return;
	}
	if (from != VENDOR && m->acc[from].balance < o->u.asg.credits) {
		FP(e, "INSUFFICIENT_CREDITS", "the sender has too few credits");
		return;
	}
	r = xfer(n, from, to, TK_(ALLOCATION), -1, o->u.asg.credits);
	if (r < 0)
		e->skip = 1;
	e->new_xfer = r;
}

/* R8/R11 for automatic renewals: may payer renew project p with method. */
static int auto_payer_ok(const model *m, int p, int payer, int method, int *policy)
{
	const m_proj *pr = &m->proj[p];
	const m_acc *in = &m->acc[(int)pr->inst];
	*policy = 0;
	if (payer == pr->inst) {
		*policy = 1;
		return in->pol_set && in->pol_pay && (in->pol_mask & (1u << method));
	}
	if (strict_ancestor(m, payer, pr->inst))
		return 1;
	if (pr->pm >= 0 && pr->pm == payer) {
		*policy = 1;
		return method == PM_(CREDITS);
	}
	return 0;
}

static void op_set_auto_renew(const model *m, model *n, const op *o, m_expect *e)
{
	int payer = o->u.ar.payer >= 0 ? o->u.ar.payer : o->who.acc, bad = 0;
	int on = o->u.ar.enabled, method = o->u.ar.method;
	int64_t until = o->u.ar.term == 1 ? m->now + (int64_t)o->u.ar.until_s * SEC_US : 0;
	if (o->u.ar.n < 1)
		INV(e, "item_ids: 1..1000"), bad = 1;
	if (on) {
		if (method == PM_(STRIPE)) {
			if (!o->u.ar.cus || !o->u.ar.pm)
				INV(e, "STRIPE needs a saved card"), bad = 1;
		} else if (method == PM_(CREDITS)) {
			if (o->u.ar.cus || o->u.ar.pm)
				INV(e, "stripe ids only with STRIPE"), bad = 1;
		} else {
			INV(e, "payment_method: STRIPE or CREDITS"), bad = 1;
		}
		if (o->u.ar.term == 1 && until <= m->now)
			INV(e, "term.until: in the future"), bad = 1;
		if (o->u.ar.term == 2 && o->u.ar.cycles < 1)
			INV(e, "term.cycles >= 1"), bad = 1;
	}
	if (bad)
		return;
	if (on && !model_may_act(m, o->who.acc, payer)) {
		DENY(e, "the caller may not act on the payer");
		return;
	}
	if (on && payer == VENDOR && method == PM_(CREDITS)) { /* sim S8, as in op_place */
		INV(e, "the vendor does not pay with credits");
		FP(e, NULL, "the vendor does not pay with credits");
		DENY(e, "the vendor does not pay with credits");
		return;
	}
	for (int k = 0; k < o->u.ar.n; k++) {
		int i = o->u.ar.item[k], p, pol;
		if (i < 0 || !m->item[i].exists || !proj_visible(m, o->who.acc, m->item[i].proj)) {
			DENY(e, "item not the caller's (or missing)");
			return;
		}
		if (!on)
			continue;
		p = m->item[i].proj;
		if (!m->item[i].active)
			FP(e, "ITEM_STATE", "only activated items renew automatically");
		if (!(model_methods(proj_model(&m->proj[p])) & (1u << method)))
			FP(e, "METHOD_NOT_ALLOWED", "the method is not of the project's model");
		if (!auto_payer_ok(m, p, payer, method, &pol)) {
			if (pol)
				err(e, GRPC_STATUS_PERMISSION_DENIED, "PAYMENT_NOT_PERMITTED",
				    "the payer's policy does not allow it");
			else
				DENY(e, "the payer may not pay for the project");
		}
	}
	if (e->nerr)
		return;
	for (int k = 0; k < o->u.ar.n; k++) {
		m_item *it = &n->item[(int)o->u.ar.item[k]];
		memset(&it->ar, 0, sizeof(it->ar));
		it->renew_auto = (int8_t)on;
		if (!on)
			continue;
		it->ar.enabled = 1;
		it->ar.payer = (int8_t)payer;
		it->ar.method = (int8_t)method;
		it->ar.pm = o->u.ar.pm;
		it->ar.cus = o->u.ar.cus;
		it->ar.term = o->u.ar.term ? o->u.ar.term : 3;
		it->ar.until = until;
		it->ar.cycles = o->u.ar.term == 2 ? o->u.ar.cycles : 0;
	}
}

/* ------------------------------------------------------------------------ */
/* The clock and automatic renewal (R8, R18)                                 */

static int64_t auto_due(const m_item *it)
{
	if (!it->exists || !it->ar.enabled)
		return 0;
	return it->ar.next_attempt ? it->ar.next_attempt : it->expires;
}

static int term_over(const m_auto *ar, int64_t expires)
{
	return (ar->cycles > 0 && ar->cycles_done >= ar->cycles) ||
	       (ar->until > 0 && expires + MONTH_US > ar->until);
}

static void switch_off(m_item *it)
{
	it->ar.enabled = 0;
	it->ar.next_attempt = 0;
	it->renew_auto = 0;
}

/* One renewal attempt of item i at n->now: one AUTO_RENEWAL order for one
 * 30-day period, paid off-session (sandbox saved card) or in credits. */
static void renew_attempt(model *n, int i)
{
	m_item *it = &n->item[i];
	m_auto *ar = &it->ar;
	const m_proj *p = &n->proj[(int)it->proj];
	int pm = proj_model(p), pol, k, ok;
	const m_price *pr = &n->price[(int)p->type][(int)it->stype];
	int64_t base, t = n->now, amount;
	m_line *l;

	if (!it->active || term_over(ar, it->expires)) {
		switch_off(it);
		return;
	}
	base = it->expires;
	if ((base <= t && ar->failed == 0) || base + MONTH_US <= t)
		base = t;
	k = new_order(n, OT_(AUTO_RENEWAL));
	if (k < 0 || n->nlines >= MAX_LINES)
		return;
	n->renewals_run++;
	l = &n->lines[n->nlines++];
	memset(l, 0, sizeof(*l));
	l->item = (int8_t)i;
	l->gen = it->gen;
	l->proj = it->proj;
	l->stype = it->stype;
	l->cur_exp = it->expires;
	l->new_exp = base + MONTH_US;
	l->days = 30;
	l->free = (int8_t)model_item_free(n, i);
	{
		m_order *o = &n->orders[k];
		o->nlines = 1;
		o->payer = ar->payer;
		o->inst = p->inst;
		o->ptype = p->type;
		o->method = ar->method;
		o->pm = ar->pm;
		o->credits_model = pm == MODEL_(CREDITS);
		o->cur = pr->cur;
		o->status = OS_(PROCESSING);
	}
	ok = auto_payer_ok(n, it->proj, ar->payer, ar->method, &pol) && (pr->set || l->free);
	amount = l->free || !pr->set ? 0 : pm == MODEL_(CREDITS) ? pr->credits : pr->amount;
	l->unit = pr->set ? (pm == MODEL_(CREDITS) ? pr->credits : pr->amount) : 0;
	l->amount = amount;
	n->orders[k].subtotal = amount;
	n->orders[k].total = pm == MODEL_(CREDITS) ? 0 : amount;
	if (ok && amount > 0) {
		if (ar->method == PM_(CREDITS)) {
			if (n->acc[(int)ar->payer].balance >= amount)
				xfer(n, ar->payer, VENDOR, TK_(SPEND), k, amount);
			else
				ok = 0;
		} else {
			ok = ar->pm == SPM_VISA;
		}
	}
	if (ok) {
		order_succeed(n, k, t);
		ar->cycles_done++;
		ar->failed = 0;
		ar->next_attempt = 0;
		if (term_over(ar, it->expires))
			switch_off(it);
	} else {
		int f = ar->failed++;
		order_end(n, k, OS_(FAILED), t);
		if (f >= 3) {
			switch_off(it);
		} else {
			int64_t gap = retry_us[f] - (f ? retry_us[f - 1] : 0);
			int64_t at = it->expires + retry_us[f];
			ar->next_attempt = at > t + LEAD_US + gap ? at : t + LEAD_US + gap;
		}
	}
}

static void op_advance(const model *m, model *n, const op *o, m_expect *e)
{
	int64_t secs = o->u.adv.secs, to;
	int32_t nanos = o->u.adv.nanos;
	(void)m;
	if (!vendor_only(o, e))
		return;
	if (secs < 0 || nanos < 0 || (secs == 0 && nanos == 0) || secs > MAX_JUMP_S ||
	    nanos > 999999999) {
		INV(e, "duration: positive, well-formed, at most ten years");
		return;
	}
	to = n->now + secs * SEC_US + nanos / 1000;
	n->renewals_run = 0;
	for (;;) {
		int best = -1;
		int64_t best_at = 0;
		for (int i = 0; i < NITEM; i++) {
			int64_t due = auto_due(&n->item[i]);
			if (!due)
				continue;
			if (best < 0 || due - LEAD_US < best_at ||
			    (due - LEAD_US == best_at &&
			     strcmp(n->item_id[i], n->item_id[best]) < 0)) {
				best = i;
				best_at = due - LEAD_US;
			}
		}
		if (best < 0 || best_at > to)
			break;
		if (best_at > n->now)
			n->now = best_at;
		renew_attempt(n, best);
		if (n->renewals_run > 400)
			break;
	}
	n->now = to;
	for (int k = 0; k < n->norders; k++)
		if (n->orders[k].status == OS_(PENDING_PAYMENT) &&
		    n->now - n->orders[k].create_time >= PAY_WINDOW_US)
			order_end(n, k, OS_(TIMED_OUT), n->orders[k].create_time + PAY_WINDOW_US);
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                     */

static void op_read(const model *m, const op *o, m_expect *e)
{
	switch (o->kind) {
	case OP_GET_PROJECT:
	case OP_LIST_ITEMS:
		if (o->u.rd.proj < 0 || !proj_visible(m, o->who.acc, o->u.rd.proj))
			DENY(e, "project not visible (or missing)");
		break;
	case OP_LIST_ORDERS:
	case OP_BALANCE:
		if (o->u.rd.acc < 0 || !model_may_act(m, o->who.acc, o->u.rd.acc))
			DENY(e, "account not the caller's (or missing)");
		break;
	default: break;
	}
}

/* ------------------------------------------------------------------------ */

void model_step(const model *cur, model *next, const op *o, m_expect *e)
{
	memset(e, 0, sizeof(*e));
	e->new_quote = e->new_order = e->new_xfer = -1;
	if (o->hostile && o->hostile != H_PAST_TIME) {
		/* issue 12.6: one validator before any handler (the dispatcher's
		 * authentication and vendor-only rule may come first) */
		INV(e, "a hostile field value (UTF-8, NUL, enum, timestamp, length)");
		valid_caller(cur, o, e);
		if (o->kind == OP_SET_PRICE || o->kind == OP_SET_CREDIT_PRICE ||
		    o->kind == OP_CREATE_COUPON || o->kind == OP_DISABLE_COUPON ||
		    o->kind == OP_ADVANCE)
			vendor_only(o, e);
		return;
	}
	if (!valid_caller(cur, o, e))
		return;
	switch (o->kind) {
	case OP_CREATE_ACCOUNT: op_create_account(cur, next, o, e); break;
	case OP_CREATE_PROJECT: op_create_project(cur, next, o, e); break;
	case OP_UPDATE_PROJECT: op_update_project(cur, next, o, e); break;
	case OP_CREATE_ITEMS: op_create_items(cur, next, o, e); break;
	case OP_DELETE_ITEM: op_delete_item(cur, next, o, e); break;
	case OP_SET_PRICE: op_set_price(cur, next, o, e); break;
	case OP_SET_CREDIT_PRICE: op_set_credit_price(cur, next, o, e); break;
	case OP_CREATE_COUPON: op_create_coupon(cur, next, o, e); break;
	case OP_DISABLE_COUPON: op_disable_coupon(cur, next, o, e); break;
	case OP_SET_POLICY: op_set_policy(cur, next, o, e); break;
	case OP_QUOTE: op_quote(cur, next, o, e); break;
	case OP_PLACE: op_place(cur, next, o, e); break;
	case OP_CONFIRM:
	case OP_CANCEL:
	case OP_GET_ORDER: op_order(cur, next, o, e); break;
	case OP_PURCHASE: op_purchase(cur, next, o, e); break;
	case OP_ASSIGN: op_assign(cur, next, o, e); break;
	case OP_SET_AUTO_RENEW: op_set_auto_renew(cur, next, o, e); break;
	case OP_ADVANCE: op_advance(cur, next, o, e); break;
	default: op_read(cur, o, e); break;
	}
}
