/* names.c: the pools of sim.h, and ops as text. */
#include <stdio.h>
#include <string.h>

#include "sim.h"

const char *const sim_acc_name[NACC] = {"vendor", "d1", "d2", "s1", "i1", "i2", "i3", "m1", "m2",
					"m3",     "s2", "i4", "a0", "a1", "a2", "a3", "a4", "a5"};
/* vendor ─ d1 ─ s1 ─ i2          vendor ─ d2 ─ i3 ─ m3
 *          d1 ─ i1 ─ m1                   d2 ─ m2 (a PM under a distributor)
 *                                         d2 ─ s2 ─ i4 */
const int sim_setup_role[NACC_SETUP] = {
	ROLE_(VENDOR),           ROLE_(DISTRIBUTOR),      ROLE_(DISTRIBUTOR),
	ROLE_(SUB_DISTRIBUTOR),  ROLE_(INSTALLER),        ROLE_(INSTALLER),
	ROLE_(INSTALLER),        ROLE_(PROPERTY_MANAGER), ROLE_(PROPERTY_MANAGER),
	ROLE_(PROPERTY_MANAGER), ROLE_(SUB_DISTRIBUTOR),  ROLE_(INSTALLER)};
const int sim_setup_parent[NACC_SETUP] = {-1, 0, 0, 1, 1, 3, 2, 4, 2, 6, 2, 10};
const char *const sim_proj_name[NPROJ] = {"p0", "p1", "p2", "p3", "p4", "p5"};
const char *const sim_item_name[NXITEM] = {"x0", "x1", "x2", "x3", "x4",  "x5",
					   "x6", "x7", "x8", "x9", "x10", "x11"};
const char *const sim_coupon_name[NCOUP] = {"C0", "C1", "C2", "C3", "C4"};
const char *const sim_currency[NCUR] = {"USD", "EUR"};
const char *const sim_pm_name[4] = {"", "pm_card_visa", "pm_card_chargeDeclined", "pm_card_bogus"};

const char *const sim_op_name[OP_KINDS] = {
	[OP_NONE] = "none",
	[OP_CREATE_ACCOUNT] = "CreateAccount",
	[OP_CREATE_PROJECT] = "CreateProject",
	[OP_UPDATE_PROJECT] = "UpdateProject",
	[OP_CREATE_ITEMS] = "CreateItems",
	[OP_DELETE_ITEM] = "DeleteItem",
	[OP_SET_PRICE] = "SetPrice",
	[OP_SET_CREDIT_PRICE] = "SetCreditPrice",
	[OP_CREATE_COUPON] = "CreateCoupon",
	[OP_DISABLE_COUPON] = "DisableCoupon",
	[OP_SET_POLICY] = "SetInstallerPaymentPolicy",
	[OP_QUOTE] = "QuoteServices",
	[OP_PLACE] = "Activate/RenewServices",
	[OP_CONFIRM] = "ConfirmOrder",
	[OP_CANCEL] = "CancelOrder",
	[OP_GET_ORDER] = "GetOrder",
	[OP_PURCHASE] = "PurchaseCredits",
	[OP_ASSIGN] = "AssignCredits",
	[OP_SET_AUTO_RENEW] = "SetAutoRenew",
	[OP_ADVANCE] = "AdvanceClock",
	[OP_GET_PROJECT] = "GetProject",
	[OP_LIST_ITEMS] = "ListItems",
	[OP_LIST_ORDERS] = "ListOrders",
	[OP_BALANCE] = "GetCreditBalance",
};

/* Which hostile classes the driver can inject into each kind. */
int sim_hostile_ok(int kind, int h)
{
	switch (h) {
	case H_BAD_UTF8:
		return kind == OP_CREATE_ACCOUNT || kind == OP_CREATE_PROJECT ||
		       kind == OP_CREATE_ITEMS || kind == OP_PLACE || kind == OP_PURCHASE;
	case H_NUL_IN_ID:
		return kind == OP_CREATE_ACCOUNT || kind == OP_CREATE_PROJECT ||
		       kind == OP_CREATE_ITEMS || kind == OP_GET_PROJECT || kind == OP_BALANCE ||
		       kind == OP_DELETE_ITEM;
	case H_BAD_ENUM:
		return kind == OP_LIST_ORDERS || kind == OP_LIST_ITEMS || kind == OP_CREATE_ITEMS ||
		       kind == OP_QUOTE || kind == OP_SET_POLICY;
	case H_BAD_TIME:
		return kind == OP_LIST_ORDERS || kind == OP_ADVANCE || kind == OP_QUOTE ||
		       kind == OP_CREATE_PROJECT;
	case H_LONG_STRING:
		return kind == OP_PLACE || kind == OP_PURCHASE || kind == OP_CREATE_ACCOUNT ||
		       kind == OP_CREATE_ITEMS;
	default: return 0;
	}
}

static const char *acc(int a)
{
	return a < 0 ? "-" : a < NACC ? sim_acc_name[a] : "?";
}

static const char *hostile_name(int h)
{
	static const char *n[] = {"",         "bad_utf8",    "nul_in_id", "bad_enum",
				  "bad_time", "long_string", "past_time"};
	return h >= 0 && h <= H_PAST_TIME ? n[h] : "?";
}

void sim_op_describe(const op *o, char *buf, size_t cap)
{
	size_t n = 0;
#define P(...) (n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__))
	P("%s by %s%s", o->kind < OP_KINDS ? sim_op_name[o->kind] : "?", acc(o->who.acc),
	  o->who.service ? " (SERVICE key)" : "");
	switch (o->kind) {
	case OP_CREATE_ACCOUNT:
		P(": %s role=%d parent=%s", acc(o->u.acct.acc), o->u.acct.role,
		  acc(o->u.acct.parent));
		break;
	case OP_CREATE_PROJECT:
		P(": %s inst=%s type=%d created=%d pms=%d pm=%s free=%d",
		  sim_proj_name[o->u.proj.proj], acc(o->u.proj.inst), o->u.proj.ptype,
		  o->u.proj.created, o->u.proj.pms, acc(o->u.proj.pm), o->u.proj.free_apps);
		break;
	case OP_UPDATE_PROJECT:
		P(": %s mask=%d pms=%d free=%d pm=%s", sim_proj_name[o->u.upd.proj], o->u.upd.mask,
		  o->u.upd.pms, o->u.upd.free_apps, acc(o->u.upd.pm));
		break;
	case OP_CREATE_ITEMS:
		P(": %s", sim_proj_name[o->u.items.proj]);
		for (int i = 0; i < o->u.items.n; i++)
			P(" %s:%d",
			  o->u.items.item[i] >= 0 && o->u.items.item[i] < NXITEM
				  ? sim_item_name[(int)o->u.items.item[i]]
				  : "?",
			  o->u.items.stype[i]);
		break;
	case OP_DELETE_ITEM: P(": item#%d", o->u.del.item); break;
	case OP_SET_PRICE:
		P(": %d/%d %d %s %d cr", o->u.price.ptype, o->u.price.stype, o->u.price.amount,
		  o->u.price.cur >= 0 ? sim_currency[(int)o->u.price.cur] : "?",
		  o->u.price.credits);
		break;
	case OP_SET_CREDIT_PRICE: P(": %d", o->u.cprice.unit); break;
	case OP_CREATE_COUPON:
		P(": %s pct=%d amount=%d max=%d credit_only=%d ptypes=%x stypes=%x exp=%ds",
		  sim_coupon_name[o->u.coupon.code], o->u.coupon.pct, o->u.coupon.amount,
		  o->u.coupon.maxr, o->u.coupon.credit_only, o->u.coupon.ptypes, o->u.coupon.stypes,
		  o->u.coupon.expires_s);
		break;
	case OP_DISABLE_COUPON: P(": %s", sim_coupon_name[o->u.coupon.code]); break;
	case OP_SET_POLICY:
		P(": %s pay=%d methods=", acc(o->u.pol.inst), o->u.pol.pay);
		for (int i = 0; i < o->u.pol.n; i++)
			P("%d,", o->u.pol.methods[i]);
		break;
	case OP_QUOTE:
		P(": action=%d payer=%s inst=%s type=%d %s", o->u.quote.action,
		  acc(o->u.quote.payer), acc(o->u.quote.inst), o->u.quote.ptype,
		  o->u.quote.all ? "all" : "projects=");
		for (int i = 0; i < o->u.quote.nproj; i++)
			P("%d,", o->u.quote.proj[i]);
		P(" st=");
		for (int i = 0; i < o->u.quote.nst; i++)
			P("%d,", o->u.quote.st[i]);
		P(" items=");
		for (int i = 0; i < o->u.quote.nitem; i++)
			P("%d,", o->u.quote.item[i]);
		P(" months=%d until=%ds mode=%d coupon=%d art=%d", o->u.quote.months,
		  o->u.quote.until_s, o->u.quote.mode, o->u.quote.coupon, o->u.quote.art);
		break;
	case OP_PLACE:
		P(": quote-%d action=%d method=%d pm=%s cus=%d bill=%d terms=%d tamper=%d",
		  o->u.place.qref, o->u.place.action, o->u.place.method,
		  sim_pm_name[(int)o->u.place.pm], o->u.place.cus, o->u.place.bill,
		  o->u.place.terms, o->u.place.tamper);
		break;
	case OP_CONFIRM:
	case OP_CANCEL:
	case OP_GET_ORDER: P(": order-%d", o->u.ord.oref); break;
	case OP_PURCHASE:
		P(": payer=%s bene=%s credits=%d method=%d pm=%s coupon=%d bill=%d terms=%d",
		  acc(o->u.buy.payer), acc(o->u.buy.bene), o->u.buy.credits, o->u.buy.method,
		  sim_pm_name[(int)o->u.buy.pm], o->u.buy.coupon, o->u.buy.bill, o->u.buy.terms);
		break;
	case OP_ASSIGN:
		P(": %s -> %s %d", acc(o->u.asg.from), acc(o->u.asg.to), o->u.asg.credits);
		break;
	case OP_SET_AUTO_RENEW:
		P(": items=");
		for (int i = 0; i < o->u.ar.n; i++)
			P("%d,", o->u.ar.item[i]);
		P(" on=%d payer=%s method=%d pm=%s cus=%d term=%d cycles=%d until=%ds",
		  o->u.ar.enabled, acc(o->u.ar.payer), o->u.ar.method, sim_pm_name[(int)o->u.ar.pm],
		  o->u.ar.cus, o->u.ar.term, o->u.ar.cycles, o->u.ar.until_s);
		break;
	case OP_ADVANCE: P(": %llds %dns", (long long)o->u.adv.secs, o->u.adv.nanos); break;
	default:
		P(": project=%d account=%s status=%d type=%d", o->u.rd.proj, acc(o->u.rd.acc),
		  o->u.rd.status, o->u.rd.type);
		break;
	}
	if (o->idem)
		P(" [idem=%d ref=%d]", o->idem, o->ref);
	if (o->hostile)
		P(" [hostile=%s]", hostile_name(o->hostile));
	if (o->conc)
		P(" [concurrent x%d]", o->conc);
#undef P
}
