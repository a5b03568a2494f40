/*
 * drive.c: runs a history against billingd and checks it (drive.h).
 *
 * For every step: the model predicts (model_step), the driver encodes the
 * op as the real request (with its credentials, x-acting-account and
 * idempotency-key), calls, and compares: the status with the model's set
 * of acceptable errors and their ErrorInfo reasons, then the answer's
 * fields. What the server names (quote tokens, order ids, the INTEGRATION
 * items' ids) is learnt from the answers. Then, every K steps, the whole
 * observable state is read back through the API and compared, and the
 * ledger invariants are checked.
 *
 * R17 is checked here, outside the model: the driver keeps the first
 * answer under every key, and a replay must return it byte for byte; a
 * reuse with another request must be IDEMPOTENCY_KEY_REUSED.
 *
 * Concurrent groups are sent from threads at once; the outcome must equal
 * the model's outcome for some serial order of the group.
 *
 * A refusal for a reference into another tree is sent again with a
 * reference that does not exist (a "twin"): the status and the message
 * (with the id masked) must be identical (AIP-211).
 */
#include "drive.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/status.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "smartplus/billing/v1/admin_service.pb-c.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "smartplus/billing/v1/directory_service.pb-c.h"
#include "gen.h"
#include "util.h"

#define DIR_ "/smartplus.billing.v1.DirectoryService/"
#define BILL_ "/smartplus.billing.v1.BillingService/"
#define ADMIN_ "/smartplus.billing.v1.AdminService/"
#define MAX_STEPS 4096
#define T(x) Smartplus__Billing__V1__##x
#define D(x) smartplus__billing__v1__##x##__descriptor

int sim_hostile_ok(int kind, int h);

/* The first answer under an idempotency key (R17). */
typedef struct idem_rec {
	int used;
	sim_caller who;
	char key[64];
	char path[96];
	uint8_t *req;
	size_t len;
	int64_t time;
	int no_write; /* answered without a write: a refusal, ConfirmOrder of a settled order */
	int pre_r17;  /* refused before it ran (authentication, vendor-only, the validator) */
	int admin;
	sim_reply reply;
} idem_rec;

/* A built request. */
typedef struct built {
	const char *path;
	const ProtobufCMessageDescriptor *out;
	uint8_t *bytes;
	size_t len;
	sim_auth auth;
	char idem[64];
	char acting[64];
} built;

typedef struct drv {
	sim_transport *t;
	const drive_opts *o;
	drive_result *res;
	const op *ops;
	const int *orig;
	int n, step;
	model cur, next, perm_a, perm_b, perm_c;
	char key[NACC][160];
	char service_key[160];
	char *quote_tok[MAX_QUOTES];
	char order_id[MAX_ORDERS][64];
	char integ_id[NPROJ][80];
	idem_rec rec[MAX_STEPS];
	int64_t version_offset;
	int have_version;
	sim_arena a;
	rng kill_rng;
	int kill_at[64], nkill;
	int killing;     /* a deliberate kill is armed for this step */
	int call_failed; /* recover() after a lost answer: wait for the dying process */
} drv;

static drv D_;

/* ------------------------------------------------------------------------ */
/* Reporting                                                                 */

static void report(drv *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(drv *d, const char *fmt, ...)
{
	size_t n = strlen(d->res->report);
	va_list ap;
	if (n + 2 >= sizeof(d->res->report))
		return;
	va_start(ap, fmt);
	vsnprintf(d->res->report + n, sizeof(d->res->report) - n, fmt, ap);
	va_end(ap);
}

static const char *status_name(int s)
{
	static const char *n[] = {"OK",
				  "CANCELLED",
				  "UNKNOWN",
				  "INVALID_ARGUMENT",
				  "DEADLINE_EXCEEDED",
				  "NOT_FOUND",
				  "ALREADY_EXISTS",
				  "PERMISSION_DENIED",
				  "RESOURCE_EXHAUSTED",
				  "FAILED_PRECONDITION",
				  "ABORTED",
				  "OUT_OF_RANGE",
				  "UNIMPLEMENTED",
				  "INTERNAL",
				  "UNAVAILABLE",
				  "DATA_LOSS",
				  "UNAUTHENTICATED"};
	return s >= 0 && s <= 16 ? n[s] : "?";
}

static void describe_expect(char *buf, size_t cap, const m_expect *e)
{
	size_t n = 0;
	buf[0] = 0;
	if (e->nerr == 0 || e->ok_too)
		n += (size_t)snprintf(buf + n, cap - n, "OK%s", e->nerr ? " or " : "");
	for (int i = 0; i < e->nerr && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s", i ? " | " : "",
				      status_name(e->err[i].code), e->err[i].reason ? "/" : "",
				      e->err[i].reason ? e->err[i].reason : "");
	if (e->why[0] && n < cap)
		snprintf(buf + n, cap - n, "  (model: %s)", e->why);
}

/* Starts a mismatch report for step `step` of op o. */
static void mismatch(drv *d, const op *o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void mismatch(drv *d, const op *o, const char *fmt, ...)
{
	char desc[600], msg[2048];
	va_list ap;
	if (d->res->failed)
		return;
	d->res->failed = 1;
	d->res->step = d->step;
	d->res->st.mismatches++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o)
		sim_op_describe(o, desc, sizeof(desc));
	else
		snprintf(desc, sizeof(desc), "(state check)");
	report(d, "step %d (history index %d): %s\n  %s\n", d->step,
	       d->orig && d->step < d->n ? d->orig[d->step] : -1, desc, msg);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                     */

static const char *acc_name(int a)
{
	return a < 0 || a >= NACC ? "nobody" : sim_acc_name[a];
}

static const char *proj_name(int p)
{
	return p < 0 || p >= NPROJ ? "p-none" : sim_proj_name[p];
}

static const char *item_name(drv *d, int i)
{
	if (i < 0)
		return "x-none";
	if (i < NXITEM)
		return sim_item_name[i];
	return d->integ_id[i - NXITEM][0] ? d->integ_id[i - NXITEM] : "pms-none";
}

/* The model's item slot of a server item id, or -1. */
static int item_slot(drv *d, const char *id)
{
	for (int i = 0; i < NXITEM; i++)
		if (strcmp(id, sim_item_name[i]) == 0)
			return i;
	for (int p = 0; p < NPROJ; p++)
		if (d->integ_id[p][0] && strcmp(id, d->integ_id[p]) == 0)
			return INTEG_SLOT(p);
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Building requests                                                         */

static void *new_msg(drv *d, const ProtobufCMessageDescriptor *desc)
{
	void *p = sa_alloc(&d->a, desc->sizeof_message);
	protobuf_c_message_init(desc, p);
	return p;
}

#define NEW(type, desc) ((T(type) *)new_msg(d, &D(desc)))

static Google__Protobuf__Timestamp *ts(drv *d, int64_t us)
{
	Google__Protobuf__Timestamp *t = new_msg(d, &google__protobuf__timestamp__descriptor);
	t->seconds = us / SEC_US;
	t->nanos = (int32_t)(us % SEC_US) * 1000;
	return t;
}

static char *long_string(drv *d)
{
	char *s = sa_alloc(&d->a, 70001);
	memset(s, 'x', 70000);
	return s;
}

#define BAD_UTF8 "\xff\xfe\xc0"
#define NUL_MARK "nu\x01l"

static T(BillingInfo) * billing(drv *d, int variant, int hostile)
{
	T(BillingInfo) * b;
	if (variant == 4)
		return NULL;
	b = NEW(BillingInfo, billing_info);
	b->name = variant == 1 ? "" : hostile == H_BAD_UTF8 ? BAD_UTF8 : "Ann Buyer";
	b->email = variant == 2 ? "nope" : "ann@example.com";
	b->company = hostile == H_LONG_STRING ? long_string(d) : "ACME";
	b->address = "1 Main St";
	b->country = variant == 3 ? "Germany" : "DE";
	b->tax_id = "DE123";
	return b;
}

static char **strv(drv *d, int n)
{
	return sa_alloc(&d->a, (size_t)(n + 1) * sizeof(char *));
}

/* The quote id an op sends: the token of the quote it names, or a
 * tampered/forged/garbled one. */
static char *quote_token(drv *d, const model *m, const op *o)
{
	const m_quote *q = model_quote(m, o->u.place.qref);
	char *tok;
	size_t n;
	if (o->u.place.tamper == 2)
		return "quo_000000000000000000000000.AAAA.AAAA";
	if (o->u.place.tamper == 3)
		return "not-a-quote";
	if (!q || !d->quote_tok[q->seq % MAX_QUOTES])
		return "quo_000000000000000000000000.BBBB.BBBB";
	tok = sa_strdup(&d->a, d->quote_tok[q->seq % MAX_QUOTES]);
	if (o->u.place.tamper == 1 && (n = strlen(tok)) > 8) {
		/* one character of the signature changed */
		tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
	}
	return tok;
}

static const char *order_ref(drv *d, const model *m, int oref)
{
	int k;
	if (oref == -2)
		return "bogus";
	k = oref >= 0 ? model_placed_order(m, oref) : -1;
	if (k < 0 || !d->order_id[k][0])
		return "ord_000000000000000000000000";
	return d->order_id[k];
}

/* Builds the request of op o on state m into b (arena-backed). */
static void build(drv *d, const model *m, const op *o, built *b)
{
	ProtobufCMessage *msg = NULL;
	int h = o->hostile;
	memset(b, 0, sizeof(*b));
	switch (o->kind) {
	case OP_CREATE_ACCOUNT: {
		T(CreateAccountRequest) *r = NEW(CreateAccountRequest, create_account_request);
		r->account_id = h == H_NUL_IN_ID ? NUL_MARK : (char *)acc_name(o->u.acct.acc);
		r->role = o->u.acct.role;
		r->parent_id = (char *)acc_name(o->u.acct.parent);
		r->display_name = h == H_BAD_UTF8 ? BAD_UTF8
				  : h == H_LONG_STRING
					  ? long_string(d)
					  : sa_printf(&d->a, "account %s", acc_name(o->u.acct.acc));
		b->path = DIR_ "CreateAccount";
		b->out = &D(create_account_response);
		msg = &r->base;
		break;
	}
	case OP_CREATE_PROJECT: {
		T(CreateProjectRequest) *r = NEW(CreateProjectRequest, create_project_request);
		r->project_id = h == H_NUL_IN_ID ? NUL_MARK : (char *)proj_name(o->u.proj.proj);
		r->installer_id = (char *)acc_name(o->u.proj.inst);
		r->type = o->u.proj.ptype;
		if (o->u.proj.created == 1)
			r->created_at = ts(d, SIM_CUTOVER_US - 30 * DAY_US);
		else if (o->u.proj.created == 2)
			r->created_at = ts(d, SIM_CUTOVER_US + 30 * DAY_US);
		if (h == H_BAD_TIME) {
			r->created_at = ts(d, 0);
			r->created_at->seconds = INT64_C(253402300800); /* year 10000 */
		}
		r->pms_integrated = o->u.proj.pms;
		r->free_additional_apps = o->u.proj.free_apps;
		r->property_manager_id = o->u.proj.pm >= 0 ? (char *)acc_name(o->u.proj.pm) : "";
		r->display_name = h == H_BAD_UTF8 ? BAD_UTF8 : "site";
		b->path = DIR_ "CreateProject";
		b->out = &D(create_project_response);
		msg = &r->base;
		break;
	}
	case OP_UPDATE_PROJECT: {
		T(UpdateProjectRequest) *r = NEW(UpdateProjectRequest, update_project_request);
		T(Project) *p = NEW(Project, project);
		Google__Protobuf__FieldMask *fm = new_msg(
			d, &google__protobuf__field_mask__descriptor);
		fm->paths = strv(d, 5);
		p->project_id = (char *)proj_name(o->u.upd.proj);
		p->pms_integrated = o->u.upd.pms;
		p->free_additional_apps = o->u.upd.free_apps;
		p->property_manager_id = o->u.upd.pm >= 0 ? (char *)acc_name(o->u.upd.pm) : "";
		p->display_name = "renamed";
		if (o->u.upd.mask & 1)
			fm->paths[fm->n_paths++] = "pms_integrated";
		if (o->u.upd.mask & 2)
			fm->paths[fm->n_paths++] = "free_additional_apps";
		if (o->u.upd.mask & 4)
			fm->paths[fm->n_paths++] = "property_manager_id";
		if (o->u.upd.mask & 8)
			fm->paths[fm->n_paths++] = "display_name";
		if (o->u.upd.mask & 16)
			fm->paths[fm->n_paths++] = "installer_id";
		r->project = p;
		r->update_mask = fm;
		b->path = DIR_ "UpdateProject";
		b->out = &D(update_project_response);
		msg = &r->base;
		break;
	}
	case OP_CREATE_ITEMS: {
		T(CreateItemsRequest) *r = NEW(CreateItemsRequest, create_items_request);
		r->project_id = (char *)proj_name(o->u.items.proj);
		r->items = sa_alloc(&d->a, 4 * sizeof(*r->items));
		for (int i = 0; i < o->u.items.n; i++) {
			T(ItemSpec) *s = NEW(ItemSpec, item_spec);
			int nf = 0;
			s->item_id = (char *)item_name(d, o->u.items.item[i]);
			s->service_type = o->u.items.stype[i];
			s->label = "unit";
			s->premium_features = sa_alloc(&d->a, 12 * sizeof(*s->premium_features));
			for (int f = 1; f <= 9; f++)
				if (o->u.items.feat[i] & (1u << f))
					s->premium_features[nf++] = f;
			if (i == 0 && h == H_BAD_ENUM)
				s->premium_features[nf++] = 55;
			s->n_premium_features = (size_t)nf;
			if (i == 0 && h == H_NUL_IN_ID)
				s->item_id = NUL_MARK;
			if (i == 0 && h == H_BAD_UTF8)
				s->label = BAD_UTF8;
			if (i == 0 && h == H_LONG_STRING)
				s->label = long_string(d);
			r->items[r->n_items++] = s;
		}
		b->path = DIR_ "CreateItems";
		b->out = &D(create_items_response);
		msg = &r->base;
		break;
	}
	case OP_DELETE_ITEM: {
		T(DeleteItemRequest) *r = NEW(DeleteItemRequest, delete_item_request);
		r->item_id = h == H_NUL_IN_ID ? NUL_MARK : (char *)item_name(d, o->u.del.item);
		b->path = DIR_ "DeleteItem";
		b->out = &D(delete_item_response);
		msg = &r->base;
		break;
	}
	case OP_SET_PRICE: {
		T(SetPriceRequest) *r = NEW(SetPriceRequest, set_price_request);
		r->project_type = o->u.price.ptype;
		r->service_type = o->u.price.stype;
		r->monthly_amount = o->u.price.amount;
		r->monthly_credits = o->u.price.credits;
		r->currency = (char *)(o->u.price.cur >= 0 ? sim_currency[(int)o->u.price.cur]
							   : "usd");
		b->path = ADMIN_ "SetPrice";
		b->out = &D(set_price_response);
		msg = &r->base;
		break;
	}
	case OP_SET_CREDIT_PRICE: {
		T(SetCreditPriceRequest) *r = NEW(SetCreditPriceRequest, set_credit_price_request);
		r->unit_amount = o->u.cprice.unit;
		r->currency = (char *)sim_currency[(int)o->u.cprice.cur];
		b->path = ADMIN_ "SetCreditPrice";
		b->out = &D(set_credit_price_response);
		msg = &r->base;
		break;
	}
	case OP_CREATE_COUPON: {
		T(CreateCouponRequest) *r = NEW(CreateCouponRequest, create_coupon_request);
		T(Coupon) *c = NEW(Coupon, coupon);
		c->code = (char *)sim_coupon_name[(int)o->u.coupon.code];
		c->percent_off = o->u.coupon.pct;
		c->amount_off = o->u.coupon.amount;
		c->currency = o->u.coupon.amount ? (char *)sim_currency[(int)o->u.coupon.cur] : "";
		c->max_redemptions = o->u.coupon.maxr;
		if (o->u.coupon.expires_s)
			c->expires_at = ts(d, m->now + (int64_t)o->u.coupon.expires_s * SEC_US);
		c->project_types = sa_alloc(&d->a, 4 * sizeof(*c->project_types));
		for (int t = 1; t <= 3; t++)
			if (o->u.coupon.ptypes & (1u << t))
				c->project_types[c->n_project_types++] = t;
		c->service_types = sa_alloc(&d->a, 12 * sizeof(*c->service_types));
		for (int t = 1; t < NST; t++)
			if (o->u.coupon.stypes & (1u << t))
				c->service_types[c->n_service_types++] = t;
		c->credit_purchases_only = o->u.coupon.credit_only;
		r->coupon = c;
		b->path = ADMIN_ "CreateCoupon";
		b->out = &D(create_coupon_response);
		msg = &r->base;
		break;
	}
	case OP_DISABLE_COUPON: {
		T(DisableCouponRequest) *r = NEW(DisableCouponRequest, disable_coupon_request);
		r->code = (char *)sim_coupon_name[(int)o->u.coupon.code];
		b->path = ADMIN_ "DisableCoupon";
		b->out = &D(disable_coupon_response);
		msg = &r->base;
		break;
	}
	case OP_SET_POLICY: {
		T(SetInstallerPaymentPolicyRequest) *r = NEW(SetInstallerPaymentPolicyRequest,
							     set_installer_payment_policy_request);
		r->installer_id = (char *)acc_name(o->u.pol.inst);
		r->pay_by_installer = o->u.pol.pay;
		r->allowed_methods = sa_alloc(&d->a, 6 * sizeof(*r->allowed_methods));
		for (int i = 0; i < o->u.pol.n; i++)
			r->allowed_methods[r->n_allowed_methods++] = o->u.pol.methods[i];
		if (h == H_BAD_ENUM)
			r->allowed_methods[r->n_allowed_methods++] = 9;
		b->path = BILL_ "SetInstallerPaymentPolicy";
		b->out = &D(set_installer_payment_policy_response);
		msg = &r->base;
		break;
	}
	case OP_QUOTE: {
		T(QuoteServicesRequest) *r = NEW(QuoteServicesRequest, quote_services_request);
		r->action = o->u.quote.action;
		r->payer_id = o->u.quote.payer >= 0 ? (char *)acc_name(o->u.quote.payer) : "";
		r->installer_id = (char *)acc_name(o->u.quote.inst);
		r->project_type = o->u.quote.ptype;
		r->all_projects = o->u.quote.all;
		r->project_ids = strv(d, QMAX_PROJ);
		for (int i = 0; i < o->u.quote.nproj; i++)
			r->project_ids[r->n_project_ids++] = (char *)proj_name(o->u.quote.proj[i]);
		r->service_types = sa_alloc(&d->a, QMAX_ST * sizeof(*r->service_types));
		for (int i = 0; i < o->u.quote.nst; i++)
			r->service_types[r->n_service_types++] = o->u.quote.st[i];
		r->item_ids = strv(d, QMAX_ITEM);
		for (int i = 0; i < o->u.quote.nitem; i++)
			r->item_ids[r->n_item_ids++] = (char *)item_name(d, o->u.quote.item[i]);
		r->months = o->u.quote.months;
		if (o->u.quote.until_s)
			r->renew_until = ts(d, m->now + (int64_t)o->u.quote.until_s * SEC_US);
		if (h == H_BAD_TIME) {
			r->renew_until = ts(d, m->now + DAY_US);
			r->renew_until->nanos = 1500000000;
		}
		r->renew_mode = h == H_BAD_ENUM ? 9 : o->u.quote.mode;
		r->coupon_code = o->u.quote.coupon >= 0
					 ? (char *)sim_coupon_name[(int)o->u.quote.coupon]
					 : "";
		if (o->u.quote.mode == RM_(AUTO) && o->u.quote.art) {
			T(AutoRenewTerm) *t = NEW(AutoRenewTerm, auto_renew_term);
			if (o->u.quote.art == 1) {
				t->end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL;
				t->until = ts(d, m->now + (int64_t)o->u.quote.art_until_s * SEC_US);
			} else if (o->u.quote.art == 2) {
				t->end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_CYCLES;
				t->cycles = o->u.quote.art_cycles;
			} else {
				t->end_case =
					SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
				t->until_turned_off = 1;
			}
			r->auto_renew_term = t;
		}
		b->path = BILL_ "QuoteServices";
		b->out = &D(quote_services_response);
		msg = &r->base;
		break;
	}
	case OP_PLACE: {
		/* ActivateServicesRequest and RenewServicesRequest have one layout */
		int act = o->u.place.action == QA_(ACTIVATE);
		T(ActivateServicesRequest) *r = act ? NEW(ActivateServicesRequest,
							  activate_services_request)
						    : (T(ActivateServicesRequest) *)NEW(
							      RenewServicesRequest,
							      renew_services_request);
		r->quote_id = quote_token(d, m, o);
		r->payment_method = o->u.place.method;
		r->billing_info = billing(d, o->u.place.bill, h);
		r->terms_accepted = o->u.place.terms;
		r->stripe_payment_method_id = (char *)sim_pm_name[(int)o->u.place.pm];
		r->stripe_customer_id = o->u.place.cus ? "cus_sim1" : "";
		b->path = act ? BILL_ "ActivateServices" : BILL_ "RenewServices";
		b->out = act ? &D(activate_services_response) : &D(renew_services_response);
		msg = &r->base;
		break;
	}
	case OP_CONFIRM:
	case OP_CANCEL:
	case OP_GET_ORDER: {
		T(GetOrderRequest) *r = o->kind == OP_CONFIRM
						? (T(GetOrderRequest) *)NEW(ConfirmOrderRequest,
									    confirm_order_request)
					: o->kind == OP_CANCEL
						? (T(GetOrderRequest) *)NEW(CancelOrderRequest,
									    cancel_order_request)
						: NEW(GetOrderRequest, get_order_request);
		r->order_id = (char *)order_ref(d, m, o->u.ord.oref);
		b->path = o->kind == OP_CONFIRM  ? BILL_ "ConfirmOrder"
			  : o->kind == OP_CANCEL ? BILL_ "CancelOrder"
						 : BILL_ "GetOrder";
		b->out = o->kind == OP_CONFIRM  ? &D(confirm_order_response)
			 : o->kind == OP_CANCEL ? &D(cancel_order_response)
						: &D(get_order_response);
		msg = &r->base;
		break;
	}
	case OP_PURCHASE: {
		T(PurchaseCreditsRequest) *r = NEW(PurchaseCreditsRequest,
						   purchase_credits_request);
		r->account_id = o->u.buy.bene >= 0 ? (char *)acc_name(o->u.buy.bene) : "";
		r->payer_id = o->u.buy.payer >= 0 ? (char *)acc_name(o->u.buy.payer) : "";
		r->credits = o->u.buy.credits;
		r->payment_method = o->u.buy.method;
		r->billing_info = billing(d, o->u.buy.bill, h);
		r->terms_accepted = o->u.buy.terms;
		r->coupon_code = o->u.buy.coupon >= 0
					 ? (char *)sim_coupon_name[(int)o->u.buy.coupon]
					 : "";
		r->stripe_payment_method_id = (char *)sim_pm_name[(int)o->u.buy.pm];
		b->path = BILL_ "PurchaseCredits";
		b->out = &D(purchase_credits_response);
		msg = &r->base;
		break;
	}
	case OP_ASSIGN: {
		T(AssignCreditsRequest) *r = NEW(AssignCreditsRequest, assign_credits_request);
		r->account_id = o->u.asg.from >= 0 ? (char *)acc_name(o->u.asg.from) : "";
		r->to_account_id = (char *)acc_name(o->u.asg.to);
		r->credits = o->u.asg.credits;
		b->path = BILL_ "AssignCredits";
		b->out = &D(assign_credits_response);
		msg = &r->base;
		break;
	}
	case OP_SET_AUTO_RENEW: {
		T(SetAutoRenewRequest) *r = NEW(SetAutoRenewRequest, set_auto_renew_request);
		r->item_ids = strv(d, 3);
		for (int i = 0; i < o->u.ar.n; i++)
			r->item_ids[r->n_item_ids++] = (char *)item_name(d, o->u.ar.item[i]);
		r->enabled = o->u.ar.enabled;
		r->payer_id = o->u.ar.payer >= 0 ? (char *)acc_name(o->u.ar.payer) : "";
		r->payment_method = o->u.ar.method;
		r->stripe_customer_id = o->u.ar.cus ? "cus_sim1" : "";
		r->stripe_payment_method_id = (char *)sim_pm_name[(int)o->u.ar.pm];
		if (o->u.ar.term) {
			T(AutoRenewTerm) *t = NEW(AutoRenewTerm, auto_renew_term);
			if (o->u.ar.term == 1) {
				t->end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL;
				t->until = ts(d, m->now + (int64_t)o->u.ar.until_s * SEC_US);
			} else if (o->u.ar.term == 2) {
				t->end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_CYCLES;
				t->cycles = o->u.ar.cycles;
			} else {
				t->end_case =
					SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
				t->until_turned_off = 1;
			}
			r->term = t;
		}
		b->path = BILL_ "SetAutoRenew";
		b->out = &D(set_auto_renew_response);
		msg = &r->base;
		break;
	}
	case OP_ADVANCE: {
		T(AdvanceClockRequest) *r = NEW(AdvanceClockRequest, advance_clock_request);
		Google__Protobuf__Duration *du = new_msg(d,
							 &google__protobuf__duration__descriptor);
		du->seconds = o->u.adv.secs;
		du->nanos = o->u.adv.nanos;
		if (h == H_BAD_TIME) {
			du->seconds = 1;
			du->nanos = 2000000000;
		}
		r->duration = du;
		b->path = ADMIN_ "AdvanceClock";
		b->out = &D(advance_clock_response);
		msg = &r->base;
		break;
	}
	case OP_GET_PROJECT: {
		T(GetProjectRequest) *r = NEW(GetProjectRequest, get_project_request);
		r->project_id = h == H_NUL_IN_ID ? NUL_MARK : (char *)proj_name(o->u.rd.proj);
		b->path = DIR_ "GetProject";
		b->out = &D(get_project_response);
		msg = &r->base;
		break;
	}
	case OP_LIST_ITEMS: {
		T(ListItemsRequest) *r = NEW(ListItemsRequest, list_items_request);
		r->project_id = (char *)proj_name(o->u.rd.proj);
		r->page_size = 1000;
		if (h == H_BAD_ENUM)
			r->status = 77;
		b->path = BILL_ "ListItems";
		b->out = &D(list_items_response);
		msg = &r->base;
		break;
	}
	case OP_LIST_ORDERS: {
		T(ListOrdersRequest) *r = NEW(ListOrdersRequest, list_orders_request);
		r->payer_id = (char *)acc_name(o->u.rd.acc);
		r->status = o->u.rd.status;
		r->type = o->u.rd.type;
		r->page_size = 1000;
		if (h == H_BAD_ENUM)
			r->status = 77;
		if (h == H_BAD_TIME) {
			r->start_time = ts(d, 0);
			r->start_time->seconds = INT64_C(253402300800);
		}
		b->path = BILL_ "ListOrders";
		b->out = &D(list_orders_response);
		msg = &r->base;
		break;
	}
	case OP_BALANCE:
	default: {
		T(GetCreditBalanceRequest) *r = NEW(GetCreditBalanceRequest,
						    get_credit_balance_request);
		r->account_id = h == H_NUL_IN_ID ? NUL_MARK : (char *)acc_name(o->u.rd.acc);
		b->path = BILL_ "GetCreditBalance";
		b->out = &D(get_credit_balance_response);
		msg = &r->base;
		break;
	}
	}
	b->len = protobuf_c_message_get_packed_size(msg);
	b->bytes = sa_alloc(&d->a, b->len + 1);
	protobuf_c_message_pack(msg, b->bytes);
	if (h == H_NUL_IN_ID) /* "nu\1l" becomes "nu\0l" in the wire bytes */
		for (size_t i = 0; i + 4 <= b->len; i++)
			if (memcmp(b->bytes + i, NUL_MARK, 4) == 0)
				b->bytes[i + 2] = 0;
	/* credentials */
	if (o->who.acc == 0 || !o->who.service) {
		b->auth.bearer = o->who.acc >= 0 && o->who.acc < NACC && d->key[(int)o->who.acc][0]
					 ? d->key[(int)o->who.acc]
					 : "spb_0000000000000000_00";
	} else {
		b->auth.bearer = d->service_key;
		snprintf(b->acting, sizeof(b->acting), "%s", acc_name(o->who.acc));
		b->auth.acting = b->acting;
	}
}

/* ------------------------------------------------------------------------ */
/* Comparing answers                                                         */

typedef struct cmp {
	char *why;
	size_t cap;
	int bad;
} cmp;

static void diff(cmp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff(cmp *c, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(c->why);
	c->bad = 1;
	if (n + 4 >= c->cap)
		return;
	va_start(ap, fmt);
	vsnprintf(c->why + n, c->cap - n, fmt, ap);
	va_end(ap);
	n = strlen(c->why);
	if (n + 2 < c->cap)
		memcpy(c->why + n, "; ", 3);
}

#define EQI(c, what, model_v, server_v)                                            \
	do {                                                                       \
		long long mv_ = (long long)(model_v), sv_ = (long long)(server_v); \
		if (mv_ != sv_)                                                    \
			diff(c, "%s: model %lld, server %lld", what, mv_, sv_);    \
	} while (0)
#define EQS(c, what, model_v, server_v)                                            \
	do {                                                                       \
		const char *mv_ = (model_v), *sv_ = (server_v) ? (server_v) : "";  \
		if (strcmp(mv_, sv_) != 0)                                         \
			diff(c, "%s: model '%s', server '%.60s'", what, mv_, sv_); \
	} while (0)

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * SEC_US + t->nanos / 1000 : 0;
}

static const char *cur_name(int c)
{
	return c >= 0 && c < NCUR ? sim_currency[c] : "";
}

static void cmp_line(cmp *c, drv *d, const m_line *l, const T(QuoteLine) * s, int credits,
		     int check_new)
{
	(void)d;
	EQS(c, "line.project_id", proj_name(l->proj), s->project_id);
	EQI(c, "line.service_type", l->stype, s->service_type);
	EQI(c, "line.current_expires_at", l->cur_exp, ts_us(s->current_expires_at));
	if (check_new)
		EQI(c, "line.new_expires_at", l->new_exp, ts_us(s->new_expires_at));
	EQI(c, "line.months", l->months, s->months);
	EQI(c, "line.days", l->days, s->days);
	EQI(c, "line.free", l->free, s->free);
	if (credits) {
		EQI(c, "line.unit_credits", l->unit, s->unit_credits);
		EQI(c, "line.credits", l->amount, s->credits);
		EQI(c, "line.amount", 0, s->amount);
	} else {
		EQI(c, "line.unit_amount", l->unit, s->unit_amount);
		EQI(c, "line.amount", l->amount, s->amount);
		EQI(c, "line.credits", 0, s->credits);
	}
}

static void cmp_lines(cmp *c, drv *d, const m_line *ml, int n, T(QuoteLine) * *sl, size_t sn,
		      int credits, int check_new)
{
	if ((size_t)n != sn) {
		diff(c, "lines: model %d, server %zu", n, sn);
		return;
	}
	for (size_t i = 0; i < sn; i++) {
		int slot = item_slot(d, sl[i]->item_id), found = 0;
		for (int k = 0; k < n; k++)
			if (ml[k].item == slot) {
				cmp_line(c, d, &ml[k], sl[i], credits, check_new);
				found = 1;
			}
		if (!found)
			diff(c, "line for item '%s' the model does not price", sl[i]->item_id);
	}
}

static void cmp_version(cmp *c, drv *d, const model *m, int64_t server)
{
	if (!d->have_version) {
		d->version_offset = server - m->price_version;
		d->have_version = 1;
	} else {
		EQI(c, "price_list_version", m->price_version + d->version_offset, server);
	}
}

static void cmp_quote(cmp *c, drv *d, const model *m, const m_quote *q, const T(Quote) * s)
{
	unsigned methods = 0, avail = 0;
	if (!s) {
		diff(c, "no quote in the answer");
		return;
	}
	EQI(c, "action", q->in.u.quote.action, s->action);
	EQS(c, "payer_id", acc_name(q->payer), s->payer_id);
	EQS(c, "installer_id", acc_name(q->in.u.quote.inst), s->installer_id);
	EQI(c, "project_type", q->in.u.quote.ptype, s->project_type);
	cmp_lines(c, d, q->lines, q->nlines, s->lines, s->n_lines, q->credits_model, 1);
	if ((size_t)q->nskip != s->n_skipped)
		diff(c, "skipped: model %d, server %zu", q->nskip, s->n_skipped);
	else
		for (size_t i = 0; i < s->n_skipped; i++) {
			int slot = item_slot(d, s->skipped[i]->item_id), found = 0;
			for (int k = 0; k < q->nskip; k++)
				if (q->skip[k].item == slot &&
				    q->skip[k].reason == (int)s->skipped[i]->reason)
					found = 1;
			if (!found)
				diff(c, "skipped item '%s' reason %d not in the model",
				     s->skipped[i]->item_id, s->skipped[i]->reason);
		}
	EQI(c, "subtotal", q->subtotal, s->subtotal);
	EQI(c, "discount", q->discount, s->discount);
	EQI(c, "total", q->total, s->total);
	EQI(c, "credits_total", q->credits_model ? q->subtotal : 0, s->credits_total);
	EQS(c, "currency", q->credits_model ? "" : cur_name(q->cur), s->currency);
	EQI(c, "payment_model", q->credits_model ? MODEL_(CREDITS) : MODEL_(REGULAR),
	    s->payment_model);
	for (size_t i = 0; i < s->n_allowed_methods; i++)
		methods |= 1u << s->allowed_methods[i];
	EQI(c, "allowed_methods (mask)", q->methods, methods);
	EQS(c, "coupon_code", q->coupon >= 0 ? sim_coupon_name[(int)q->coupon] : "",
	    s->coupon_code);
	for (size_t i = 0; i < s->n_available_coupons; i++)
		for (int k = 0; k < NCOUP; k++)
			if (strcmp(s->available_coupons[i], sim_coupon_name[k]) == 0)
				avail |= 1u << k;
	EQI(c, "available_coupons (mask)", q->avail, avail);
	EQI(c, "expire_time", q->expire, ts_us(s->expire_time));
	EQI(c, "renew_mode", q->in.u.quote.mode ? q->in.u.quote.mode : RM_(MANUAL), s->renew_mode);
	cmp_version(c, d, m, s->price_list_version);
}

static void cmp_order(cmp *c, drv *d, const model *m, int k, const T(Order) * s)
{
	const m_order *o = &m->orders[k];
	if (!s) {
		diff(c, "no order in the answer");
		return;
	}
	if (d->order_id[k][0])
		EQS(c, "order_id", d->order_id[k], s->order_id);
	EQI(c, "status", model_order_status(m, k), s->status);
	EQI(c, "type", o->type, s->type);
	EQS(c, "payer_id", acc_name(o->payer), s->payer_id);
	EQI(c, "payment_method", o->method, s->payment_method);
	EQI(c, "subtotal", o->subtotal, s->subtotal);
	EQI(c, "discount", o->discount, s->discount);
	EQI(c, "total", o->total, s->total);
	EQS(c, "coupon_code", o->coupon >= 0 ? sim_coupon_name[(int)o->coupon] : "",
	    s->coupon_code);
	if (o->type == OT_(CREDIT_PURCHASE)) {
		EQI(c, "credits_quantity", o->credits_qty, s->credits_quantity);
		EQS(c, "beneficiary_id", acc_name(o->bene), s->beneficiary_id);
		EQS(c, "currency", cur_name(o->cur), s->currency);
		return;
	}
	EQS(c, "installer_id", acc_name(o->inst), s->installer_id);
	EQI(c, "project_type", o->ptype, s->project_type);
	EQI(c, "credits_total", o->credits_model ? o->subtotal : 0, s->credits_total);
	if (o->type != OT_(AUTO_RENEWAL)) {
		EQS(c, "currency", o->credits_model ? "" : cur_name(o->cur), s->currency);
		EQI(c, "create_time", o->create_time, ts_us(s->create_time));
		EQI(c, "renew_mode", o->renew_auto ? RM_(AUTO) : RM_(MANUAL), s->renew_mode);
	}
	cmp_lines(c, d, &m->lines[o->line0], o->nlines, s->lines, s->n_lines, o->credits_model,
		  model_order_status(m, k) == OS_(SUCCEEDED) || o->type != OT_(AUTO_RENEWAL));
}

static void cmp_item(cmp *c, drv *d, const model *m, int i, const T(Item) * s)
{
	const m_item *it = &m->item[i];
	int status = model_item_status(m, i);
	(void)d;
	EQS(c, "item.project_id", proj_name(it->proj), s->project_id);
	EQI(c, "item.service_type", it->stype, s->service_type);
	EQI(c, "item.status", status, s->status);
	EQI(c, "item.expires_at", it->active ? it->expires : 0, ts_us(s->expires_at));
	EQI(c, "item.free", model_item_free(m, i), s->free);
	EQI(c, "item.renew_mode", it->ar.enabled ? RM_(AUTO) : RM_(MANUAL), s->renew_mode);
	if (it->ar.enabled) {
		if (!s->auto_renew) {
			diff(c, "item.auto_renew: model on, server none");
		} else {
			EQI(c, "item.auto_renew.enabled", 1, s->auto_renew->enabled);
			EQS(c, "item.auto_renew.payer_id", acc_name(it->ar.payer),
			    s->auto_renew->payer_id);
			EQI(c, "item.auto_renew.payment_method", it->ar.method,
			    s->auto_renew->payment_method);
			EQI(c, "item.auto_renew.cycles_done", it->ar.cycles_done,
			    s->auto_renew->cycles_done);
			EQI(c, "item.auto_renew.failed_attempts", it->ar.failed,
			    s->auto_renew->failed_attempts);
		}
	} else if (s->auto_renew && s->auto_renew->enabled) {
		diff(c, "item.auto_renew: model off, server on");
	}
	{
		unsigned f = 0;
		for (size_t k = 0; k < s->n_premium_features; k++)
			f |= 1u << s->premium_features[k];
		EQI(c, "item.premium_features (mask)", it->feat, f);
	}
}

static void cmp_project(cmp *c, const model *m, int p, const T(Project) * s)
{
	const m_proj *pr = &m->proj[p];
	if (!s) {
		diff(c, "no project in the answer");
		return;
	}
	EQS(c, "project_id", proj_name(p), s->project_id);
	EQS(c, "installer_id", acc_name(pr->inst), s->installer_id);
	EQI(c, "type", pr->type, s->type);
	EQI(c, "created_at", pr->created_at, ts_us(s->created_at));
	EQI(c, "pms_integrated", pr->pms, s->pms_integrated);
	EQI(c, "free_additional_apps", pr->free_apps, s->free_additional_apps);
	EQS(c, "property_manager_id", pr->pm >= 0 ? acc_name(pr->pm) : "", s->property_manager_id);
	EQI(c, "integration_status",
	    pr->pms ? V1(INTEGRATION_STATUS__INTEGRATION_STATUS_INTEGRATED)
		    : V1(INTEGRATION_STATUS__INTEGRATION_STATUS_NORMAL),
	    s->integration_status);
	EQI(c, "payment_model", model_proj_model(m, p), s->payment_model);
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */

static int call(drv *d, const built *b, sim_reply *r)
{
	d->res->st.calls++;
	return d->t->call(d->t, b->path, &b->auth, b->bytes, b->len, r);
}

/* A read by the vendor, for checks: returns the unpacked answer or NULL
 * (with a mismatch recorded). */
static ProtobufCMessage *vendor_read(drv *d, const char *path, const ProtobufCMessage *req,
				     const ProtobufCMessageDescriptor *out)
{
	built b;
	sim_reply r;
	ProtobufCMessage *m = NULL;
	memset(&b, 0, sizeof(b));
	b.path = path;
	b.len = protobuf_c_message_get_packed_size(req);
	b.bytes = sa_alloc(&d->a, b.len + 1);
	protobuf_c_message_pack(req, b.bytes);
	b.auth.bearer = d->key[0];
	for (int attempt = 0; attempt < 3; attempt++) {
		if (call(d, &b, &r) != 0) {
			if (d->t->restart && d->t->restart(d->t, NULL) == 0)
				continue;
			mismatch(d, NULL, "billingd unreachable for a check read of %s", path);
			return NULL;
		}
		break;
	}
	if (r.status != GRPC_STATUS_OK) {
		mismatch(d, NULL, "check read %s failed: %s %s", path, status_name(r.status),
			 r.msg);
		sim_reply_clear(&r);
		return NULL;
	}
	m = protobuf_c_message_unpack(out, NULL, r.len, r.body);
	if (!m)
		mismatch(d, NULL, "check read %s: undecodable answer", path);
	sim_reply_clear(&r);
	return m;
}

/* Learns the id of project p's INTEGRATION item from the server. */
static void learn_integration(drv *d, model *m, int p)
{
	T(ListItemsRequest) *r = NEW(ListItemsRequest, list_items_request);
	T(ListItemsResponse) * l;
	r->project_id = (char *)proj_name(p);
	r->page_size = 1000;
	l = (T(ListItemsResponse) *)vendor_read(d, BILL_ "ListItems", &r->base,
						&D(list_items_response));
	if (!l)
		return;
	for (size_t i = 0; i < l->n_items; i++)
		if (l->items[i]->service_type == ST_(INTEGRATION)) {
			snprintf(d->integ_id[p], sizeof(d->integ_id[p]), "%s",
				 l->items[i]->item_id);
			snprintf(m->item_id[INTEG_SLOT(p)], sizeof(m->item_id[0]), "%s",
				 l->items[i]->item_id);
		}
	protobuf_c_message_free_unpacked(&l->base, NULL);
}

/* An order placed by a call that failed (a declined card): its id is
 * found in the payer's order list as the one the driver does not know
 * and whose fields are the model's order k. */
static void learn_failed_order(drv *d, const model *m, int k)
{
	T(ListOrdersRequest) *r = NEW(ListOrdersRequest, list_orders_request);
	T(ListOrdersResponse) * l;
	r->payer_id = (char *)acc_name(m->orders[k].payer);
	r->page_size = 1000;
	l = (T(ListOrdersResponse) *)vendor_read(d, BILL_ "ListOrders", &r->base,
						 &D(list_orders_response));
	if (!l)
		return;
	for (size_t i = 0; i < l->n_orders; i++) {
		int known = 0;
		const T(Order) *o = l->orders[i];
		if (o->type == OT_(AUTO_RENEWAL))
			continue;
		for (int j = 0; j < m->norders && !known; j++)
			known = strcmp(d->order_id[j], o->order_id) == 0;
		if (!known && o->status == OS_(FAILED)) {
			char why[1024] = "";
			cmp c = {why, sizeof(why), 0};
			cmp_order(&c, d, m, k, o);
			if (c.bad)
				continue;
			snprintf(d->order_id[k], sizeof(d->order_id[k]), "%s", o->order_id);
			break;
		}
	}
	protobuf_c_message_free_unpacked(&l->base, NULL);
}

/* Compares the OK answer of op o with the model (next, e); learn != 0
 * also records what the server named. */
static void cmp_answer(cmp *c, drv *d, model *next, const op *o, const m_expect *e,
		       const sim_reply *r, const ProtobufCMessageDescriptor *out, int learn)
{
	ProtobufCMessage *msg = protobuf_c_message_unpack(out, NULL, r->len, r->body);
	if (!msg) {
		diff(c, "undecodable answer");
		return;
	}
	switch (o->kind) {
	case OP_CREATE_ACCOUNT: {
		const T(Account) *a = ((T(CreateAccountResponse) *)msg)->account;
		if (!a) {
			diff(c, "no account");
			break;
		}
		EQS(c, "account_id", acc_name(o->u.acct.acc), a->account_id);
		EQI(c, "role", o->u.acct.role, a->role);
		EQS(c, "parent_id", acc_name(o->u.acct.parent), a->parent_id);
		break;
	}
	case OP_CREATE_PROJECT:
	case OP_UPDATE_PROJECT: {
		int p = o->kind == OP_CREATE_PROJECT ? o->u.proj.proj : o->u.upd.proj;
		cmp_project(c, next, p, ((T(CreateProjectResponse) *)msg)->project);
		if (learn && next->item[INTEG_SLOT(p)].exists && !d->integ_id[p][0])
			learn_integration(d, next, p);
		break;
	}
	case OP_CREATE_ITEMS: {
		const T(CreateItemsResponse) *x = (T(CreateItemsResponse) *)msg;
		if (x->n_items != (size_t)o->u.items.n)
			diff(c, "items: model %d, server %zu", o->u.items.n, x->n_items);
		for (size_t i = 0; i < x->n_items; i++) {
			int slot = item_slot(d, x->items[i]->item_id);
			if (slot < 0)
				diff(c, "unknown item '%s'", x->items[i]->item_id);
			else {
				EQS(c, "item.project_id", proj_name(next->item[slot].proj),
				    x->items[i]->project_id);
				EQI(c, "item.service_type", next->item[slot].stype,
				    x->items[i]->service_type);
				EQI(c, "item.status", IS_(INACTIVE), x->items[i]->status);
			}
		}
		break;
	}
	case OP_DELETE_ITEM: {
		const T(Item) *it = ((T(DeleteItemResponse) *)msg)->item;
		if (!it || strcmp(it->item_id, item_name(d, o->u.del.item)) != 0)
			diff(c, "the deleted item is not the one named");
		break;
	}
	case OP_SET_PRICE: {
		const T(SetPriceResponse) *x = (T(SetPriceResponse) *)msg;
		if (!x->price)
			diff(c, "no price");
		else {
			EQI(c, "monthly_amount", o->u.price.amount, x->price->monthly_amount);
			EQI(c, "monthly_credits", o->u.price.credits, x->price->monthly_credits);
		}
		cmp_version(c, d, next, x->price_list_version);
		break;
	}
	case OP_SET_CREDIT_PRICE:
		cmp_version(c, d, next, ((T(SetCreditPriceResponse) *)msg)->price_list_version);
		break;
	case OP_CREATE_COUPON:
	case OP_DISABLE_COUPON: {
		const T(Coupon) *cp = ((T(CreateCouponResponse) *)msg)->coupon;
		const m_coupon *mc = &next->coupon[(int)o->u.coupon.code];
		if (!cp) {
			diff(c, "no coupon");
			break;
		}
		EQS(c, "code", sim_coupon_name[(int)o->u.coupon.code], cp->code);
		EQI(c, "redemptions", mc->redemptions, cp->redemptions);
		EQI(c, "reserved", mc->reserved, cp->reserved);
		EQI(c, "disabled", mc->disabled, cp->disabled);
		break;
	}
	case OP_SET_POLICY: {
		const T(InstallerPaymentPolicy) *p =
			((T(SetInstallerPaymentPolicyResponse) *)msg)->policy;
		unsigned mask = 0;
		if (!p) {
			diff(c, "no policy");
			break;
		}
		for (size_t i = 0; i < p->n_allowed_methods; i++)
			mask |= 1u << p->allowed_methods[i];
		EQI(c, "pay_by_installer", o->u.pol.pay, p->pay_by_installer);
		EQI(c, "allowed_methods (mask)", next->acc[(int)o->u.pol.inst].pol_mask, mask);
		break;
	}
	case OP_QUOTE: {
		const T(Quote) *q = ((T(QuoteServicesResponse) *)msg)->quote;
		cmp_quote(c, d, next, &next->quotes[e->new_quote], q);
		if (learn && q && !c->bad) {
			int slot = e->new_quote;
			free(d->quote_tok[slot]);
			d->quote_tok[slot] = strdup(q->quote_id);
		}
		break;
	}
	case OP_PLACE:
	case OP_CONFIRM:
	case OP_CANCEL:
	case OP_GET_ORDER:
	case OP_PURCHASE: {
		const T(Order) *ord = ((T(GetOrderResponse) *)msg)->order;
		if (e->new_order < 0) {
			diff(c, "the model placed no order");
			break;
		}
		if (learn && ord && !d->order_id[e->new_order][0])
			snprintf(d->order_id[e->new_order], sizeof(d->order_id[0]), "%s",
				 ord->order_id);
		cmp_order(c, d, next, e->new_order, ord);
		break;
	}
	case OP_ASSIGN: {
		const T(AssignCreditsResponse) *x = (T(AssignCreditsResponse) *)msg;
		const m_xfer *t = &next->xfers[e->new_xfer];
		EQI(c, "from_balance", t->bal_from, x->from_balance);
		EQI(c, "to_balance", t->bal_to, x->to_balance);
		if (strncmp(x->transfer_id, "trf_", 4) != 0)
			diff(c, "transfer_id '%s' without trf_", x->transfer_id);
		break;
	}
	case OP_SET_AUTO_RENEW: {
		const T(SetAutoRenewResponse) *x = (T(SetAutoRenewResponse) *)msg;
		if (x->n_items != (size_t)o->u.ar.n)
			diff(c, "items: model %d, server %zu", o->u.ar.n, x->n_items);
		for (size_t i = 0; i < x->n_items; i++) {
			int slot = item_slot(d, x->items[i]->item_id);
			if (slot >= 0)
				cmp_item(c, d, next, slot, x->items[i]);
		}
		break;
	}
	case OP_ADVANCE: {
		const T(AdvanceClockResponse) *x = (T(AdvanceClockResponse) *)msg;
		EQI(c, "now", next->now, ts_us(x->now));
		EQI(c, "renewals_run", next->renewals_run, x->renewals_run);
		break;
	}
	case OP_GET_PROJECT:
		cmp_project(c, next, o->u.rd.proj, ((T(GetProjectResponse) *)msg)->project);
		break;
	case OP_LIST_ITEMS: {
		const T(ListItemsResponse) *x = (T(ListItemsResponse) *)msg;
		int n = 0;
		for (int i = 0; i < NITEM; i++)
			n += next->item[i].exists && next->item[i].proj == o->u.rd.proj;
		if ((size_t)n != x->n_items)
			diff(c, "items of %s: model %d, server %zu", proj_name(o->u.rd.proj), n,
			     x->n_items);
		for (size_t i = 0; i < x->n_items; i++) {
			int slot = item_slot(d, x->items[i]->item_id);
			if (slot < 0 || !next->item[slot].exists)
				diff(c, "item '%s' the model does not have", x->items[i]->item_id);
			else
				cmp_item(c, d, next, slot, x->items[i]);
		}
		break;
	}
	case OP_LIST_ORDERS: {
		const T(ListOrdersResponse) *x = (T(ListOrdersResponse) *)msg;
		int n = 0;
		for (int k = 0; k < next->norders; k++) {
			const m_order *mo = &next->orders[k];
			if (mo->payer != o->u.rd.acc ||
			    (o->u.rd.status && model_order_status(next, k) != o->u.rd.status) ||
			    (o->u.rd.type && mo->type != o->u.rd.type))
				continue;
			n++;
		}
		if ((size_t)n != x->n_orders)
			diff(c, "orders of %s (status %d type %d): model %d, server %zu",
			     acc_name(o->u.rd.acc), o->u.rd.status, o->u.rd.type, n, x->n_orders);
		for (size_t i = 1; i < x->n_orders; i++)
			if (ts_us(x->orders[i]->create_time) > ts_us(x->orders[i - 1]->create_time))
				diff(c, "ListOrders not newest first");
		break;
	}
	case OP_BALANCE:
		EQI(c, "credits", next->acc[(int)o->u.rd.acc].balance,
		    ((T(GetCreditBalanceResponse) *)msg)->credits);
		break;
	default: break;
	}
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* Does reply r fit expectation e? *commit: the state changes (success or
 * a committing error). */
static int outcome_fits(const m_expect *e, const sim_reply *r, int *commit)
{
	*commit = 0;
	if (r->status == GRPC_STATUS_OK) {
		*commit = 1;
		return e->nerr == 0 || e->ok_too;
	}
	if (!r->reason[0]) /* ErrorInfo on every failure */
		return 0;
	/* a failed payment names its order in ErrorInfo metadata (issue 13.6) */
	if ((strcmp(r->reason, "PAYMENT_DECLINED") == 0 ||
	     strcmp(r->reason, "PROVIDER_REJECTED") == 0) &&
	    strncmp(r->order_id, "ord_", 4) != 0)
		return 0;
	for (int i = 0; i < e->nerr; i++)
		if (e->err[i].code == r->status &&
		    (!e->err[i].reason || strcmp(e->err[i].reason, r->reason) == 0)) {
			*commit = e->err[i].commit;
			return 1;
		}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The full state check                                                      */

/* Inserts "[what id] " before why[from..]. */
static void tag_tail(char *why, size_t cap, size_t from, const char *what, const char *id)
{
	char tag[120];
	size_t tl, n = strlen(why);
	snprintf(tag, sizeof(tag), "[%s %s] ", what, id);
	tl = strlen(tag);
	if (n + tl + 1 > cap)
		return;
	memmove(why + from + tl, why + from, n - from + 1);
	memcpy(why + from, tag, tl);
}

/* Compares the observable state with model m. quiet 1: all but the orders
 * (which the driver cannot name yet), quiet 2: everything but the ledger
 * invariants; both return 1 when it differs instead of recording a
 * mismatch (to tell apart the serial orders of a concurrent group: the
 * order of two ledger transfers, of two item creations, which order is
 * which). */
static int check_state_of(drv *d, const model *m, int quiet)
{
	char why[4096] = "";
	cmp c = {why, sizeof(why), 0};
	d->res->st.checks++;
	for (int p = 0; p < NPROJ && !d->res->failed; p++) {
		T(GetProjectRequest) *gp = NEW(GetProjectRequest, get_project_request);
		T(ListItemsRequest) *li = NEW(ListItemsRequest, list_items_request);
		T(GetProjectResponse) * pr;
		T(ListItemsResponse) * l;
		int seen[NITEM] = {0};
		if (!m->proj[p].exists)
			continue;
		gp->project_id = (char *)proj_name(p);
		pr = (T(GetProjectResponse) *)vendor_read(d, DIR_ "GetProject", &gp->base,
							  &D(get_project_response));
		if (!pr)
			return 1;
		cmp_project(&c, m, p, pr->project);
		protobuf_c_message_free_unpacked(&pr->base, NULL);
		li->project_id = (char *)proj_name(p);
		li->page_size = 1000;
		l = (T(ListItemsResponse) *)vendor_read(d, BILL_ "ListItems", &li->base,
							&D(list_items_response));
		if (!l)
			return 1;
		for (size_t i = 0; i < l->n_items; i++) {
			int slot = item_slot(d, l->items[i]->item_id);
			if (slot < 0 || !m->item[slot].exists || m->item[slot].proj != p) {
				diff(&c, "project %s: server item '%s' the model does not have",
				     proj_name(p), l->items[i]->item_id);
				continue;
			}
			seen[slot] = 1;
			{
				size_t before = strlen(why);
				cmp_item(&c, d, m, slot, l->items[i]);
				if (strlen(why) != before)
					tag_tail(why, sizeof(why), before, "item",
						 l->items[i]->item_id);
			}
		}
		for (int i = 0; i < NITEM; i++)
			if (m->item[i].exists && m->item[i].proj == p && !seen[i])
				diff(&c, "project %s: model item %s missing on the server",
				     proj_name(p), item_name(d, i));
		protobuf_c_message_free_unpacked(&l->base, NULL);
	}
	/* balances and credit logs (R15) */
	for (int a = 0; a < NACC && !d->res->failed; a++) {
		T(GetCreditBalanceRequest) * gb;
		T(GetCreditBalanceResponse) * b;
		T(ListCreditLogsRequest) * lr;
		T(ListCreditLogsResponse) * l;
		int nx = 0;
		if (!m->acc[a].exists)
			continue;
		gb = NEW(GetCreditBalanceRequest, get_credit_balance_request);
		gb->account_id = (char *)acc_name(a);
		b = (T(GetCreditBalanceResponse) *)vendor_read(
			d, BILL_ "GetCreditBalance", &gb->base, &D(get_credit_balance_response));
		if (!b)
			return 1;
		if (b->credits != m->acc[a].balance)
			diff(&c, "balance of %s: model %lld, server %lld", acc_name(a),
			     (long long)m->acc[a].balance, (long long)b->credits);
		protobuf_c_message_free_unpacked(&b->base, NULL);
		for (int x = 0; x < m->nxfers; x++)
			nx += m->xfers[x].from == a || m->xfers[x].to == a;
		if (!nx)
			continue;
		lr = NEW(ListCreditLogsRequest, list_credit_logs_request);
		lr->account_id = (char *)acc_name(a);
		lr->page_size = 1000;
		l = (T(ListCreditLogsResponse) *)vendor_read(d, BILL_ "ListCreditLogs", &lr->base,
							     &D(list_credit_logs_response));
		if (!l)
			return 1;
		if (l->n_entries != (size_t)nx) {
			diff(&c, "credit log of %s: model %d entries, server %zu", acc_name(a), nx,
			     l->n_entries);
		} else {
			/* newest first; entries of one instant in any order */
			size_t e = 0;
			int x = m->nxfers - 1;
			char used[MAX_XFERS];
			memset(used, 0, sizeof(used));
			for (; e < l->n_entries; e++) {
				const T(CreditLogEntry) *s = l->entries[e];
				int found = -1;
				for (int y = m->nxfers - 1; y >= 0 && found < 0; y--) {
					const m_xfer *t = &m->xfers[y];
					int in = t->to == a;
					if (used[y] || (t->from != a && t->to != a))
						continue;
					if (ts_us(s->create_time) != t->time)
						continue;
					if (s->delta == (in ? t->amount : -t->amount) &&
					    s->balance_after == (in ? t->bal_to : t->bal_from) &&
					    (int)s->kind == t->kind &&
					    strcmp(s->counterparty_id,
						   acc_name(in ? t->from : t->to)) == 0 &&
					    (t->order < 0 || !d->order_id[t->order][0] ||
					     strcmp(s->order_id, d->order_id[t->order]) == 0))
						found = y;
				}
				if (found < 0) {
					for (int y = m->nxfers - 1; y >= 0; y--) {
						const m_xfer *t = &m->xfers[y];
						if (!used[y] && (t->from == a || t->to == a)) {
							diff(&c,
							     "(model's next: %s->%s %lld kind %d "
							     "at %lld)",
							     acc_name(t->from), acc_name(t->to),
							     (long long)t->amount, t->kind,
							     (long long)t->time);
							break;
						}
					}
					diff(&c,
					     "credit log of %s, entry %zu: server %+lld (after "
					     "%lld, kind %d, with "
					     "%s, order %s, at %lld) is not a model transfer of "
					     "that instant",
					     acc_name(a), e, (long long)s->delta,
					     (long long)s->balance_after, s->kind,
					     s->counterparty_id, s->order_id,
					     (long long)ts_us(s->create_time));
					break;
				}
				used[found] = 1;
				if (e > 0 &&
				    ts_us(s->create_time) > ts_us(l->entries[e - 1]->create_time))
					diff(&c, "credit log of %s not newest first", acc_name(a));
			}
			(void)x;
		}
		protobuf_c_message_free_unpacked(&l->base, NULL);
	}
	/* orders, by payer */
	for (int a = 0; a < NACC && !d->res->failed && quiet != 1; a++) {
		T(ListOrdersRequest) * lr;
		T(ListOrdersResponse) * l;
		int nm = 0, nauto = 0, sauto = 0;
		long long msum = 0, ssum = 0;
		for (int k = 0; k < m->norders; k++)
			if (m->orders[k].payer == a) {
				nm++;
				if (!m->orders[k].placed) {
					nauto++;
					/* what a failed attempt would have charged is not specified */
					msum += model_order_status(m, k) * 1000003LL +
						(model_order_status(m, k) == OS_(SUCCEEDED)
							 ? m->orders[k].subtotal * 7
							 : 0);
				}
			}
		if (!m->acc[a].exists || !nm)
			continue;
		lr = NEW(ListOrdersRequest, list_orders_request);
		lr->payer_id = (char *)acc_name(a);
		lr->page_size = 1000;
		l = (T(ListOrdersResponse) *)vendor_read(d, BILL_ "ListOrders", &lr->base,
							 &D(list_orders_response));
		if (!l)
			return 1;
		if (l->n_orders != (size_t)nm)
			diff(&c, "orders of payer %s: model %d, server %zu", acc_name(a), nm,
			     l->n_orders);
		for (size_t i = 0; i < l->n_orders; i++) {
			const T(Order) *s = l->orders[i];
			int k = -1;
			if (s->type == OT_(AUTO_RENEWAL)) {
				sauto++;
				ssum += s->status * 1000003LL +
					(s->status == OS_(SUCCEEDED)
						 ? (s->credits_total ? s->credits_total
								     : s->total) *
							   7
						 : 0);
				continue;
			}
			for (int j = 0; j < m->norders && k < 0; j++)
				if (m->orders[j].placed && strcmp(d->order_id[j], s->order_id) == 0)
					k = j;
			if (k < 0) {
				diff(&c,
				     "payer %s: server order %s (type %d, status %d) the model "
				     "does not have",
				     acc_name(a), s->order_id, s->type, s->status);
				continue;
			}
			{
				size_t before = strlen(why);
				cmp_order(&c, d, m, k, s);
				if (strlen(why) != before)
					tag_tail(why, sizeof(why), before, "order", s->order_id);
			}
		}
		if (nauto != sauto || msum != ssum)
			diff(&c,
			     "auto-renewal orders of %s: model %d (sum %lld), server %d (sum %lld)",
			     acc_name(a), nauto, msum, sauto, ssum);
		protobuf_c_message_free_unpacked(&l->base, NULL);
	}
	/* installer payment policies (R12) */
	for (int a = 0; a < NACC && !d->res->failed; a++) {
		T(GetInstallerPaymentPolicyRequest) * pr;
		T(GetInstallerPaymentPolicyResponse) * x;
		unsigned mask = 0;
		if (!m->acc[a].exists || m->acc[a].role != ROLE_(INSTALLER))
			continue;
		pr = NEW(GetInstallerPaymentPolicyRequest, get_installer_payment_policy_request);
		pr->installer_id = (char *)acc_name(a);
		x = (T(GetInstallerPaymentPolicyResponse) *)vendor_read(
			d, BILL_ "GetInstallerPaymentPolicy", &pr->base,
			&D(get_installer_payment_policy_response));
		if (!x)
			return 1;
		if (x->policy)
			for (size_t i = 0; i < x->policy->n_allowed_methods; i++)
				mask |= 1u << x->policy->allowed_methods[i];
		if (!x->policy ||
		    x->policy->pay_by_installer != (m->acc[a].pol_set && m->acc[a].pol_pay) ||
		    mask != (m->acc[a].pol_set ? m->acc[a].pol_mask : 0))
			diff(&c,
			     "payment policy of %s: model pay %d methods %x, server pay %d methods "
			     "%x",
			     acc_name(a), m->acc[a].pol_set && m->acc[a].pol_pay,
			     m->acc[a].pol_set ? m->acc[a].pol_mask : 0,
			     x->policy ? x->policy->pay_by_installer : -1, mask);
		protobuf_c_message_free_unpacked(&x->base, NULL);
	}
	/* coupons (R16) */
	if (!d->res->failed) {
		T(ListCouponsRequest) *lr = NEW(ListCouponsRequest, list_coupons_request);
		T(ListCouponsResponse) * l;
		int nm = 0;
		lr->include_disabled = 1;
		lr->page_size = 1000;
		l = (T(ListCouponsResponse) *)vendor_read(d, ADMIN_ "ListCoupons", &lr->base,
							  &D(list_coupons_response));
		if (!l)
			return 1;
		for (int k = 0; k < NCOUP; k++)
			nm += m->coupon[k].exists;
		if (l->n_coupons != (size_t)nm)
			diff(&c, "coupons: model %d, server %zu", nm, l->n_coupons);
		for (size_t i = 0; i < l->n_coupons; i++) {
			const T(Coupon) *s = l->coupons[i];
			int k = -1;
			for (int j = 0; j < NCOUP; j++)
				if (strcmp(s->code, sim_coupon_name[j]) == 0)
					k = j;
			if (k < 0 || !m->coupon[k].exists) {
				diff(&c, "coupon %s the model does not have", s->code);
				continue;
			}
			if (s->redemptions != m->coupon[k].redemptions ||
			    s->reserved != m->coupon[k].reserved ||
			    s->disabled != m->coupon[k].disabled)
				diff(&c,
				     "coupon %s: model redemptions %d reserved %d disabled %d, "
				     "server %d %d %d",
				     s->code, m->coupon[k].redemptions, m->coupon[k].reserved,
				     m->coupon[k].disabled, s->redemptions, s->reserved,
				     s->disabled);
		}
		protobuf_c_message_free_unpacked(&l->base, NULL);
	}
	if (!d->res->failed && d->t->ledger && !quiet) {
		char rep[512] = "";
		int rc = d->t->ledger(d->t, rep, sizeof(rep));
		if (rc == 1)
			diff(&c, "ledger_check: %s", rep);
	}
	if (c.bad && !d->res->failed && !quiet)
		mismatch(d, NULL, "state differs from the model: %s", why);
	return c.bad;
}

static void check_state(drv *d)
{
	check_state_of(d, &d->cur, 0);
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                     */

static int is_mutating(int kind)
{
	return kind != OP_QUOTE && kind != OP_GET_ORDER && kind < OP_GET_PROJECT && kind != OP_NONE;
}

static int is_admin(int kind)
{
	return kind == OP_SET_PRICE || kind == OP_SET_CREDIT_PRICE || kind == OP_CREATE_COUPON ||
	       kind == OP_DISABLE_COUPON || kind == OP_ADVANCE;
}

/* Masks every occurrence of id in s (copied into out). */
static void mask_id(const char *s, const char *id, char *out, size_t cap)
{
	size_t n = 0, il = strlen(id);
	while (*s && n + 6 < cap) {
		if (il && strncmp(s, id, il) == 0) {
			memcpy(out + n, "<ID>", 4);
			n += 4;
			s += il;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = 0;
}

/* The reference of op o that a twin replaces with a missing one, or 0. */
static int twin_of(drv *d, const model *m, const op *o, op *tw, const char **orig_id,
		   const char **missing_id)
{
	*tw = *o;
	tw->idem = 0;
	switch (o->kind) {
	case OP_GET_PROJECT:
	case OP_LIST_ITEMS:
		if (o->u.rd.proj < 0 || !m->proj[(int)o->u.rd.proj].exists ||
		    model_may_act(m, o->who.acc, m->proj[(int)o->u.rd.proj].inst) ||
		    m->proj[(int)o->u.rd.proj].pm == o->who.acc)
			return 0;
		*orig_id = proj_name(o->u.rd.proj);
		tw->u.rd.proj = -1;
		*missing_id = proj_name(-1);
		return 1;
	case OP_LIST_ORDERS:
	case OP_BALANCE:
		if (o->u.rd.acc < 0 || !m->acc[(int)o->u.rd.acc].exists ||
		    model_may_act(m, o->who.acc, o->u.rd.acc))
			return 0;
		*orig_id = acc_name(o->u.rd.acc);
		tw->u.rd.acc = -1;
		*missing_id = acc_name(-1);
		return 1;
	case OP_UPDATE_PROJECT: return 0; /* the pool has no spare project to twin with */
	case OP_CREATE_ITEMS:
		if (!m->proj[(int)o->u.items.proj].exists)
			return 0;
		return 0;
	case OP_DELETE_ITEM:
		if (o->u.del.item < 0 || !m->item[(int)o->u.del.item].exists ||
		    model_may_act(m, o->who.acc,
				  m->proj[(int)m->item[(int)o->u.del.item].proj].inst))
			return 0;
		*orig_id = item_name(d, o->u.del.item);
		tw->u.del.item = -1;
		*missing_id = item_name(d, -1);
		return 1;
	case OP_QUOTE:
		for (int i = 0; i < o->u.quote.nproj; i++) {
			int p = o->u.quote.proj[i];
			if (p >= 0 && m->proj[p].exists &&
			    !model_may_act(m, o->who.acc, m->proj[p].inst) &&
			    m->proj[p].pm != o->who.acc) {
				*orig_id = proj_name(p);
				tw->u.quote.proj[i] = -1;
				*missing_id = proj_name(-1);
				return 1;
			}
		}
		if (o->u.quote.all && o->u.quote.inst >= 0 && m->acc[(int)o->u.quote.inst].exists &&
		    !model_may_act(m, o->who.acc, o->u.quote.inst)) {
			*orig_id = acc_name(o->u.quote.inst);
			tw->u.quote.inst = -1;
			*missing_id = acc_name(-1);
			return 1;
		}
		return 0;
	case OP_ASSIGN:
		if (o->u.asg.to < 0 || !m->acc[(int)o->u.asg.to].exists ||
		    model_may_act(m, o->who.acc, o->u.asg.to))
			return 0;
		*orig_id = acc_name(o->u.asg.to);
		tw->u.asg.to = -1;
		*missing_id = acc_name(-1);
		return 1;
	case OP_SET_POLICY:
		if (o->u.pol.inst < 0 || !m->acc[(int)o->u.pol.inst].exists ||
		    model_may_act(m, o->who.acc, o->u.pol.inst))
			return 0;
		*orig_id = acc_name(o->u.pol.inst);
		tw->u.pol.inst = -1;
		*missing_id = acc_name(-1);
		return 1;
	case OP_CONFIRM:
	case OP_CANCEL:
	case OP_GET_ORDER: {
		int k = o->u.ord.oref >= 0 ? model_placed_order(m, o->u.ord.oref) : -1;
		if (k < 0 || model_may_act(m, o->who.acc, m->orders[k].payer))
			return 0;
	}
		*orig_id = order_ref(d, m, o->u.ord.oref);
		tw->u.ord.oref = -1;
		*missing_id = order_ref(d, m, -1);
		return 1;
	case OP_SET_AUTO_RENEW:
		if (o->u.ar.item[0] < 0 || !m->item[(int)o->u.ar.item[0]].exists ||
		    model_may_act(m, o->who.acc,
				  m->proj[(int)m->item[(int)o->u.ar.item[0]].proj].inst) ||
		    m->proj[(int)m->item[(int)o->u.ar.item[0]].proj].pm == o->who.acc)
			return 0;
		*orig_id = item_name(d, o->u.ar.item[0]);
		tw->u.ar.item[0] = -1;
		*missing_id = item_name(d, -1);
		return 1;
	default: return 0;
	}
}

/* AIP-211: a PERMISSION_DENIED about an existing resource must read the
 * same as one about a missing resource. */
static void check_twin(drv *d, const op *o, const sim_reply *r)
{
	op tw;
	const char *oid = NULL, *mid = NULL;
	built b;
	sim_reply r2;
	m_expect e;
	char a[600], b2[600];
	if (r->status != GRPC_STATUS_PERMISSION_DENIED || !twin_of(d, &d->cur, o, &tw, &oid, &mid))
		return;
	memcpy(&d->perm_a, &d->cur, sizeof(d->cur));
	model_step(&d->cur, &d->perm_a, &tw, &e);
	if (e.nerr != 1 || e.err[0].code != GRPC_STATUS_PERMISSION_DENIED)
		return;
	build(d, &d->cur, &tw, &b);
	if (call(d, &b, &r2) != 0)
		return;
	d->res->st.twins++;
	mask_id(r->msg, oid, a, sizeof(a));
	mask_id(r2.msg, mid, b2, sizeof(b2));
	if (r2.status != r->status || strcmp(a, b2) != 0 || strcmp(r->reason, r2.reason) != 0)
		mismatch(d, o,
			 "AIP-211: a foreign '%s' and a missing '%s' are told apart:\n"
			 "    existing: %s %s \"%s\"\n    missing:  %s %s \"%s\"",
			 oid, mid, status_name(r->status), r->reason, r->msg,
			 status_name(r2.status), r2.reason, r2.msg);
	sim_reply_clear(&r2);
}

/* After a kill or a fault: the ledger of the dead server's store, then a
 * restart on the same data directory. 0, or -1 when it did not come back. */
static int recover(drv *d, const op *o)
{
	char rep[512] = "";
	if (!d->t->died || !d->t->died(d->t, d->call_failed ? 300 : 0)) {
		d->killing = 0; /* the kill landed after billingd had answered: none */
		return 0;
	}
	d->killing = 0;
	if (d->t->crash && d->t->crash(d->t)) {
		int sig = d->t->crash(d->t);
		FILE *f = d->t->logfile[0] ? fopen(d->t->logfile, "r") : NULL;
		char line[400];
		mismatch(d, o, "billingd crashed (%s %d)", sig > 0 ? "signal" : "exit status",
			 sig > 0 ? sig : -sig);
		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "ERROR") || strstr(line, "runtime error") ||
			    strstr(line, "Sanitizer") || strstr(line, "    #"))
				report(d, "  billingd log: %s", line);
		if (f)
			fclose(f);
		return -1;
	}
	if (d->t->ledger && d->t->ledger(d->t, rep, sizeof(rep)) == 1)
		mismatch(d, o, "ledger_check after kill -9: %s", rep);
	if (!d->t->restart || d->t->restart(d->t, NULL) != 0) {
		mismatch(d, o, "billingd did not come back after a kill");
		return -1;
	}
	return 0;
}

/* Runs built request b, retrying under its key across kills/faults. */
static int call_with_retry(drv *d, const op *o, const built *b, sim_reply *r)
{
	for (int attempt = 0; attempt < 6; attempt++) {
		int dead;
		if (call(d, b, r) == 0)
			return 0;
		dead = d->t->died && d->t->died(d->t, 300);
		if (dead && !d->killing)
			d->res->st.faults++; /* a fault point fired */
		d->call_failed = 1;
		if (recover(d, o) != 0)
			return -1;
		d->call_failed = 0;
		if (is_mutating(o->kind) && !b->auth.idem) {
			mismatch(d, o,
				 "a call without an idempotency key was lost (%s \"%s\", billingd "
				 "%s): "
				 "outcome unknown",
				 status_name(r->status), r->msg, dead ? "died" : "alive");
			return -1;
		}
	}
	mismatch(d, o, "no answer after 6 attempts");
	return -1;
}

typedef struct conc_job {
	drv *d;
	const built *b;
	sim_reply r;
	int rc;
} conc_job;

static void *conc_main(void *arg)
{
	conc_job *j = arg;
	j->rc = j->d->t->call(j->d->t, j->b->path, &j->b->auth, j->b->bytes, j->b->len, &j->r);
	return NULL;
}

static void key_for(drv *d, int step, char *out, size_t cap)
{
	snprintf(out, cap, "sim-%016" PRIx64 "-%d", d->o->seed, d->orig ? d->orig[step] : step);
}

/* Checks reply r of op o against the model from state from (into to);
 * 1 if consistent. why: the first discrepancy. */
static int judge(drv *d, const model *from, model *to, const op *o, const built *b,
		 const sim_reply *r, m_expect *e, int learn, char *why, size_t cap)
{
	int commit;
	char exp[600];
	cmp c = {why, cap, 0};
	memcpy(to, from, sizeof(*from));
	model_step(from, to, o, e);
	why[0] = 0;
	if (e->skip)
		return 1;
	if (!outcome_fits(e, r, &commit)) {
		describe_expect(exp, sizeof(exp), e);
		snprintf(why, cap, "model: %s\n  server: %s%s%s \"%s\"", exp,
			 status_name(r->status), r->reason[0] ? "/" : "", r->reason, r->msg);
		return 0;
	}
	if (r->status == GRPC_STATUS_OK)
		cmp_answer(&c, d, to, o, e, r, b->out, learn);
	if (c.bad)
		return 0;
	if (!commit)
		memcpy(to, from, sizeof(*from));
	else if (learn && r->status != GRPC_STATUS_OK && e->new_order >= 0)
		learn_failed_order(d, to, e->new_order);
	return 1;
}

static void writer_barrier(drv *d);

/* A refusal for a field only the vendor or a SERVICE key may set (the
 * validator's, before R17). */
static int priv_refusal(const m_expect *e, const sim_reply *r)
{
	for (int i = 0; i < e->nerr; i++)
		if (e->err[i].code == r->status && e->err[i].why &&
		    strstr(e->err[i].why, "only the vendor or a SERVICE key"))
			return 1;
	return 0;
}

/* Whether op o was refused before it ran (authentication, the vendor-only
 * rule, the validator: malformed fields, fields only the vendor sets), so
 * that nothing was recorded under its key. */
static int pre_r17(const model *m, const op *o, const m_expect *e, const sim_reply *r)
{
	return r->status != GRPC_STATUS_OK &&
	       (o->hostile || r->status == GRPC_STATUS_UNAUTHENTICATED ||
		r->status == GRPC_STATUS_INVALID_ARGUMENT ||
		(is_admin(o->kind) && o->who.acc != 0) || !m->acc[(int)o->who.acc].exists ||
		priv_refusal(e, r));
}

/* Whether the server answered op o (order k, for ConfirmOrder) without a
 * write: a refusal (a declined card is recorded with its failed order), or
 * ConfirmOrder of an order that is no longer pending. */
static int no_write(const model *m, const op *o, const sim_reply *r, int k)
{
	if (r->status != GRPC_STATUS_OK && strcmp(r->reason, "PAYMENT_DECLINED") != 0)
		return 1;
	return o->kind == OP_CONFIRM && k >= 0 && model_order_status(m, k) != OS_(PENDING_PAYMENT);
}

/* Whether op o can run now: its references exist (shrinking may have
 * removed what it named) and it stays out of disabled areas. */
static int runnable(drv *d, const op *o)
{
	m_expect e;
	if (d->o->gen && !gen_allowed(d->o->gen, &d->cur, o))
		return 0;
	memcpy(&d->perm_a, &d->cur, sizeof(d->cur));
	model_step(&d->cur, &d->perm_a, o, &e);
	return !e.skip;
}

/* A reused key with a request that is refused on its own: refusing it for
 * its own fault (the dispatcher's validator or access rule may run before
 * R17) is also correct, provided nothing ran. */
static int refused_anyway(drv *d, const op *o, const sim_reply *r)
{
	m_expect e;
	int commit;
	memcpy(&d->perm_a, &d->cur, sizeof(d->cur));
	model_step(&d->cur, &d->perm_a, o, &e);
	return r->status != GRPC_STATUS_OK && e.nerr && outcome_fits(&e, r, &commit) && !commit;
}

static int run_single(drv *d, const op *o)
{
	built b;
	sim_reply r;
	m_expect e;
	char why[4096];
	idem_rec *rec = NULL, *ref = NULL;
	int i = d->step, orig = d->orig ? d->orig[i] : i;

	/* R17: a replay or a reuse names an earlier step's key */
	if (o->idem >= 2 && o->ref >= 0 && o->ref < MAX_STEPS && d->rec[o->ref].used &&
	    d->cur.now - d->rec[o->ref].time < 23 * HOUR_US)
		ref = &d->rec[o->ref];
	/* a key whose area is known not to honour R17 yet (toggles) */
	if (ref && d->o->gen &&
	    ((ref->no_write && !d->o->gen->on[T_IDEM_REFUSED]) ||
	     (ref->admin && !d->o->gen->on[T_IDEM_ADMIN]))) {
		d->res->st.skipped++;
		return 0;
	}
	if (o->idem == 2 && ref) {
		memset(&b, 0, sizeof(b));
		b.path = ref->path;
		b.bytes = ref->req;
		b.len = ref->len;
		build(d, &d->cur, o, &b); /* for the credentials only */
		b.path = ref->path;
		b.bytes = ref->req;
		b.len = ref->len;
		b.auth.idem = ref->key;
		if (call_with_retry(d, o, &b, &r) != 0)
			return -1;
		d->res->st.replays++;
		if (r.status != ref->reply.status || strcmp(r.reason, ref->reply.reason) != 0 ||
		    strcmp(r.msg, ref->reply.msg) != 0 || r.len != ref->reply.len ||
		    (r.len && memcmp(r.body, ref->reply.body, r.len) != 0))
			mismatch(d, o,
				 "R17 replay of step %d under key %s: first answer %s%s%s \"%s\" "
				 "(%zu "
				 "bytes), replay %s%s%s \"%s\" (%zu bytes)%s",
				 o->ref, ref->key, status_name(ref->reply.status),
				 ref->reply.reason[0] ? "/" : "", ref->reply.reason, ref->reply.msg,
				 ref->reply.len, status_name(r.status), r.reason[0] ? "/" : "",
				 r.reason, r.msg, r.len,
				 r.len == ref->reply.len ? " (bodies differ)" : "");
		sim_reply_clear(&r);
		return 0;
	}
	build(d, &d->cur, o, &b);
	if (o->idem == 3 && ref && ref->pre_r17) {
		/* the first request was refused before it ran: nothing was
		 * recorded under its key, which may serve again (MODEL.md) */
		b.auth.idem = ref->key;
		if (call_with_retry(d, o, &b, &r) != 0)
			return -1;
		d->res->st.replays++;
		if (r.status == GRPC_STATUS_FAILED_PRECONDITION &&
		    strcmp(r.reason, "IDEMPOTENCY_KEY_REUSED") == 0) {
			sim_reply_clear(&r);
			return 0;
		}
		if (!judge(d, &d->cur, &d->next, o, &b, &r, &e, 1, why, sizeof(why)))
			mismatch(d, o, "%s", why);
		else
			memcpy(&d->cur, &d->next, sizeof(d->cur));
		sim_reply_clear(&r);
		return 0;
	}
	if (o->idem == 3 && ref) {
		b.auth.idem = ref->key;
		if (call_with_retry(d, o, &b, &r) != 0)
			return -1;
		d->res->st.replays++;
		if (strcmp(b.path, ref->path) == 0 && b.len == ref->len &&
		    memcmp(b.bytes, ref->req, b.len) == 0) {
			/* the same request after all: a replay */
			if (r.status != ref->reply.status || r.len != ref->reply.len)
				mismatch(d, o,
					 "R17: the same request under key %s answered differently",
					 ref->key);
		} else if ((r.status != GRPC_STATUS_FAILED_PRECONDITION ||
			    strcmp(r.reason, "IDEMPOTENCY_KEY_REUSED") != 0) &&
			   !refused_anyway(d, o, &r)) {
			mismatch(d, o,
				 "R17: key %s of step %d (%s, first answer %s) reused for another "
				 "request: "
				 "model FAILED_PRECONDITION/IDEMPOTENCY_KEY_REUSED, server %s%s%s "
				 "\"%s\"",
				 ref->key, o->ref, ref->path, status_name(ref->reply.status),
				 status_name(r.status), r.reason[0] ? "/" : "", r.reason, r.msg);
		}
		sim_reply_clear(&r);
		return 0;
	}
	if (o->idem || (d->o->kill_mode && is_mutating(o->kind) && !is_admin(o->kind))) {
		/* over gRPC with kills every mutation carries a key, or a lost
		 * answer could not be retried */
		rec = orig < MAX_STEPS ? &d->rec[orig] : NULL;
		if (rec) {
			key_for(d, i, rec->key, sizeof(rec->key));
			b.auth.idem = rec->key;
		}
	}
	if (call_with_retry(d, o, &b, &r) != 0)
		return -1;
	if (!judge(d, &d->cur, &d->next, o, &b, &r, &e, 1, why, sizeof(why))) {
		mismatch(d, o, "%s", why);
		sim_reply_clear(&r);
		return 0;
	}
	if (e.skip) {
		sim_reply_clear(&r);
		return 0;
	}
	d->res->st.refusals += r.status != GRPC_STATUS_OK;
	if (d->o->verbose)
		fprintf(stderr, "    -> %s%s%s %.100s\n", status_name(r.status),
			r.reason[0] ? "/" : "", r.reason, r.msg);
	if (d->o->twins && e.nerr == 1 && e.err[0].code == GRPC_STATUS_PERMISSION_DENIED &&
	    !e.ok_too)
		check_twin(d, o, &r);
	if (rec) {
		int k = o->kind == OP_CONFIRM ? model_placed_order(&d->cur, o->u.ord.oref) : -1;
		rec->no_write = no_write(&d->cur, o, &r, k);
		rec->pre_r17 = pre_r17(&d->cur, o, &e, &r);
		rec->admin = is_admin(o->kind);
	}
	/* sim S3: a placing call's provider claim is released after its answer */
	if (!d->o->confirm_race && (o->kind == OP_PLACE || o->kind == OP_PURCHASE))
		writer_barrier(d);
	memcpy(&d->cur, &d->next, sizeof(d->cur));
	if (rec && is_mutating(o->kind)) {
		rec->used = 1;
		rec->who = o->who;
		snprintf(rec->path, sizeof(rec->path), "%s", b.path);
		free(rec->req);
		rec->req = malloc(b.len + 1);
		memcpy(rec->req, b.bytes, b.len);
		rec->len = b.len;
		rec->time = d->cur.now;
		sim_reply_clear(&rec->reply);
		rec->reply = r;
		return 0;
	}
	sim_reply_clear(&r);
	return 0;
}

/* A group of g ops sent at once: must match the model for some serial
 * order. */
static int run_group(drv *d, const op *ops, int g)
{
	built b[4];
	conc_job j[4];
	pthread_t th[4];
	int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	int nperm = g == 2 ? 2 : 6, ok = -1, fits[6], nfits = 0;
	static char saved_ids[MAX_ORDERS][64];
	char why[4096] = "", first_why[4096] = "";
	static int perm2[2][3] = {{0, 1, 2}, {1, 0, 2}};
	d->res->st.groups++;
	for (int k = 0; k < g; k++) {
		build(d, &d->cur, &ops[k], &b[k]);
		if (ops[k].idem ||
		    (d->o->kill_mode && is_mutating(ops[k].kind) && !is_admin(ops[k].kind))) {
			idem_rec *rec = &d->rec[d->orig ? d->orig[d->step + k] : d->step + k];
			key_for(d, d->step + k, rec->key, sizeof(rec->key));
			b[k].auth.idem = rec->key;
		}
		j[k].d = d;
		j[k].b = &b[k];
		memset(&j[k].r, 0, sizeof(j[k].r));
	}
	for (int k = 0; k < g; k++)
		pthread_create(&th[k], NULL, conc_main, &j[k]);
	for (int k = 0; k < g; k++)
		pthread_join(th[k], NULL);
	d->res->st.calls += g;
	/* calls lost to a kill or a fault are retried under their keys */
	for (int k = 0; k < g; k++)
		if (j[k].rc != 0) {
			sim_reply_clear(&j[k].r);
			if (call_with_retry(d, &ops[k], &b[k], &j[k].r) != 0)
				goto done;
			j[k].rc = 0;
		}
	for (int p = 0; p < nperm; p++) {
		const int *pi = g == 2 ? perm2[p] : perm[p];
		int good = 1;
		memcpy(&d->perm_a, &d->cur, sizeof(d->cur));
		for (int k = 0; k < g && good; k++) {
			m_expect e;
			int x = pi[k];
			good = judge(d, &d->perm_a, &d->perm_b, &ops[x], &b[x], &j[x].r, &e, 0, why,
				     sizeof(why));
			if (good)
				memcpy(&d->perm_a, &d->perm_b, sizeof(d->cur));
			else if (p == 0)
				snprintf(first_why, sizeof(first_why),
					 "(in the order listed, op %d) %s", x, why);
		}
		if (!good)
			continue;
		fits[nfits++] = p;
		if (ok < 0) {
			ok = p;
			memcpy(&d->perm_c, &d->perm_a, sizeof(d->cur));
		} else if (memcmp(&d->perm_c, &d->perm_a, sizeof(d->cur)) != 0) {
			/* two serial orders fit the answers but leave different states
			 * (the order of two ledger transfers): the state decides */
			if (check_state_of(d, &d->perm_c, 1) && !check_state_of(d, &d->perm_a, 1)) {
				ok = p;
				memcpy(&d->perm_c, &d->perm_a, sizeof(d->cur));
			}
		}
	}
	/* Two orders placed at once that the answers cannot tell apart: which
	 * server id is which model order shows in the ledger and the orders
	 * once the ids are bound; try the fitting serial orders until the
	 * state (orders included) agrees. */
	if (nfits > 1) {
		memcpy(&d->perm_b, &d->cur, sizeof(d->cur));
		memcpy(saved_ids, d->order_id, sizeof(d->order_id));
		for (int f = 0; f < nfits; f++) {
			const int *pi = g == 2 ? perm2[fits[f]] : perm[fits[f]];
			memcpy(&d->cur, &d->perm_b, sizeof(d->cur));
			memcpy(d->order_id, saved_ids, sizeof(d->order_id));
			for (int k = 0; k < g; k++) {
				m_expect e;
				judge(d, &d->cur, &d->next, &ops[pi[k]], &b[pi[k]], &j[pi[k]].r, &e,
				      1, why, sizeof(why));
				memcpy(&d->cur, &d->next, sizeof(d->cur));
			}
			if (!check_state_of(d, &d->cur, 2)) {
				ok = fits[f];
				break;
			}
		}
		memcpy(&d->cur, &d->perm_b, sizeof(d->cur));
		memcpy(d->order_id, saved_ids, sizeof(d->order_id));
	}
	if (ok < 0) {
		mismatch(d, &ops[0],
			 "no serial order of the %d concurrent calls matches the model: %s", g,
			 first_why);
		for (int k = 0; k < g; k++) {
			char desc[600];
			sim_op_describe(&ops[k], desc, sizeof(desc));
			report(d, "    concurrent op %d: %s -> %s%s%s \"%s\"\n", k, desc,
			       status_name(j[k].r.status), j[k].r.reason[0] ? "/" : "",
			       j[k].r.reason, j[k].r.msg);
		}
		goto done;
	}
	/* adopt the matching order, learning ids */
	{
		const int *pi = g == 2 ? perm2[ok] : perm[ok];
		for (int k = 0; k < g; k++) {
			m_expect e;
			int x = pi[k];
			int ko = ops[x].kind == OP_CONFIRM
					 ? model_placed_order(&d->cur, ops[x].u.ord.oref)
					 : -1;
			int nw = no_write(&d->cur, &ops[x], &j[x].r, ko);
			judge(d, &d->cur, &d->next, &ops[x], &b[x], &j[x].r, &e, 1, why,
			      sizeof(why));
			memcpy(&d->cur, &d->next, sizeof(d->cur));
			if (b[x].auth.idem && is_mutating(ops[x].kind)) {
				idem_rec *rec =
					&d->rec[d->orig ? d->orig[d->step + x] : d->step + x];
				rec->no_write = nw;
				rec->admin = is_admin(ops[x].kind);
				rec->pre_r17 = pre_r17(&d->cur, &ops[x], &e, &j[x].r);
				rec->used = 1;
				rec->who = ops[x].who;
				snprintf(rec->path, sizeof(rec->path), "%s", b[x].path);
				free(rec->req);
				rec->req = malloc(b[x].len + 1);
				memcpy(rec->req, b[x].bytes, b[x].len);
				rec->len = b[x].len;
				rec->time = d->cur.now;
				sim_reply_clear(&rec->reply);
				rec->reply = j[x].r;
				memset(&j[x].r, 0, sizeof(j[x].r));
			}
		}
	}
done:
	for (int k = 0; k < g; k++)
		sim_reply_clear(&j[k].r);
	return 0;
}

/* Mints an ACCOUNT key for account a (after its creation). */
static void mint_key(drv *d, int a, int scope, char *out, size_t cap)
{
	T(CreateApiKeyRequest) *r = NEW(CreateApiKeyRequest, create_api_key_request);
	built b;
	sim_reply rep;
	T(CreateApiKeyResponse) * k;
	memset(&b, 0, sizeof(b));
	r->account_id = (char *)acc_name(a);
	r->scope = scope;
	r->display_name = "sim";
	b.path = DIR_ "CreateApiKey";
	b.len = protobuf_c_message_get_packed_size(&r->base);
	b.bytes = sa_alloc(&d->a, b.len + 1);
	protobuf_c_message_pack(&r->base, b.bytes);
	b.auth.bearer = d->key[0];
	/* a key the model does not see: a lost answer is simply asked again
	 * (an extra key does no harm) */
	for (int attempt = 0;; attempt++) {
		int rc = call(d, &b, &rep);
		if (rc == 0 && rep.status == GRPC_STATUS_OK)
			break;
		if (rc != 0 && attempt < 5) {
			d->call_failed = 1;
			if (recover(d, NULL) != 0)
				return;
			d->call_failed = 0;
			continue;
		}
		mismatch(d, NULL, "CreateApiKey for %s failed: %s", acc_name(a), rep.msg);
		sim_reply_clear(&rep);
		return;
	}
	k = smartplus__billing__v1__create_api_key_response__unpack(NULL, rep.len, rep.body);
	if (k) {
		snprintf(out, cap, "%s", k->secret);
		smartplus__billing__v1__create_api_key_response__free_unpacked(k, NULL);
	}
	sim_reply_clear(&rep);
}

/* Waits until the writer has finished what it did for the previous call
 * (toggle confirm_race off, sim S3: the placing call's provider claim is
 * released after its answer): a write that changes nothing the model
 * sees (a throwaway API key of the vendor) completes only after that. */
static void writer_barrier(drv *d)
{
	char tmp[160];
	mint_key(d, 0, V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT), tmp, sizeof(tmp));
}

/* Moves the server's test clock to SIM_EPOCH_US. */
static int clock_to_epoch(drv *d)
{
	op o;
	built b;
	sim_reply r;
	T(AdvanceClockResponse) * x;
	int64_t now;
	memset(&o, 0, sizeof(o));
	o.kind = OP_ADVANCE;
	o.u.adv.secs = 1;
	build(d, &d->cur, &o, &b);
	if (call(d, &b, &r) != 0 || r.status != GRPC_STATUS_OK)
		return -1;
	x = smartplus__billing__v1__advance_clock_response__unpack(NULL, r.len, r.body);
	now = x ? ts_us(x->now) : 0;
	if (x)
		smartplus__billing__v1__advance_clock_response__free_unpacked(x, NULL);
	sim_reply_clear(&r);
	if (!now || now >= SIM_EPOCH_US)
		return -1;
	o.u.adv.secs = (SIM_EPOCH_US - now) / SEC_US;
	o.u.adv.nanos = (int32_t)((SIM_EPOCH_US - now) % SEC_US) * 1000;
	build(d, &d->cur, &o, &b);
	if (call(d, &b, &r) != 0 || r.status != GRPC_STATUS_OK)
		return -1;
	sim_reply_clear(&r);
	return 0;
}

int drive_run(sim_transport *t, const op *ops, const int *orig, int n, const drive_opts *opts,
	      drive_result *res)
{
	drv *d = &D_;
	int rc = 0;
	for (int s = 0; s < MAX_QUOTES; s++)
		free(d->quote_tok[s]);
	for (int s = 0; s < MAX_STEPS; s++) {
		free(d->rec[s].req);
		sim_reply_clear(&d->rec[s].reply);
	}
	sa_free(&d->a);
	memset(d, 0, sizeof(*d));
	memset(res, 0, sizeof(*res));
	d->t = t;
	d->o = opts;
	d->res = res;
	d->ops = ops;
	d->orig = orig;
	d->n = n;
	model_init(&d->cur);
	snprintf(d->key[0], sizeof(d->key[0]), "%s", t->admin_key);
	rng_seed(&d->kill_rng, opts->seed ^ 0x6b696c6cu);
	if (clock_to_epoch(d) != 0) {
		snprintf(res->report, sizeof(res->report),
			 "cannot move the test clock to the epoch\n");
		return -1;
	}
	mint_key(d, 0, V1(API_KEY_SCOPE__API_KEY_SCOPE_SERVICE), d->service_key,
		 sizeof(d->service_key));
	/* the kill schedule: steps after which billingd is killed mid-call */
	for (int k = 0; k < opts->kills && k < 64 && n > opts->nsetup + 1; k++)
		d->kill_at[d->nkill++] = opts->nsetup +
					 (int)rng_below(&d->kill_rng, (uint64_t)(n - opts->nsetup));
	for (d->step = 0; d->step < n && !res->failed; d->step++) {
		const op *o = &ops[d->step];
		int g = o->conc > 1 && d->step + o->conc <= n ? o->conc : 1;
		/* after shrinking, only the group's members still there (they follow
		 * it in the original history) run with it */
		for (int k = 1; k < g; k++)
			if (orig && orig[d->step + k] != orig[d->step] + k) {
				g = k;
				break;
			}
		sa_reset(&d->a);
		res->st.steps++;
		if (opts->verbose) {
			char desc[600];
			sim_op_describe(o, desc, sizeof(desc));
			fprintf(stderr, "[%d] %s\n", d->step, desc);
		}
		for (int k = 0; k < d->nkill; k++)
			if (d->kill_at[k] == d->step && t->kill && !is_admin(o->kind)) {
				t->kill(t); /* lands during this step's call, or just after it */
				d->killing = 1;
				res->st.kills++;
			}
		if (g > 1) {
			int all = 1;
			for (int k = 0; k < g; k++)
				all &= runnable(d, &ops[d->step + k]);
			if (all) {
				run_group(d, o, g);
				if (!d->o->confirm_race)
					writer_barrier(d);
			} else { /* one cannot run: the others one by one */
				for (int k = 0; k < g && !res->failed; k++) {
					int save = d->step;
					d->step += k;
					if (runnable(d, &ops[d->step]))
						run_single(d, &ops[d->step]);
					else
						res->st.skipped++;
					d->step = save;
				}
			}
			d->step += g - 1;
		} else if (!runnable(d, o)) {
			res->st.skipped++;
		} else if (run_single(d, o) < 0) {
			rc = -1;
			break;
		}
		if (d->killing || (t->died && t->died(t, 0))) {
			d->killing = 0;
			if (recover(d, o) != 0) {
				rc = -1;
				break;
			}
		}
		/* a created account gets its own key */
		for (int k = 0; k < g && !res->failed; k++) {
			const op *x = &ops[d->step - (g - 1) + k];
			if (x->kind == OP_CREATE_ACCOUNT && d->cur.acc[(int)x->u.acct.acc].exists &&
			    !d->key[(int)x->u.acct.acc][0])
				mint_key(d, x->u.acct.acc, V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT),
					 d->key[(int)x->u.acct.acc], sizeof(d->key[0]));
		}
		if (!res->failed && opts->check_every > 0 && d->step >= opts->nsetup &&
		    (d->step + 1) % opts->check_every == 0)
			check_state(d);
	}
	for (int k = 0; k < d->cur.norders; k++) {
		int st = model_order_status(&d->cur, k);
		res->st.orders++;
		res->st.succeeded += st == OS_(SUCCEEDED);
		res->st.failed += st == OS_(FAILED);
		res->st.timed_out += st == OS_(TIMED_OUT);
		res->st.canceled += st == OS_(CANCELED);
		res->st.pending += st == OS_(PENDING_PAYMENT);
		res->st.renewals += d->cur.orders[k].type == OT_(AUTO_RENEWAL);
	}
	res->st.transfers = d->cur.nxfers;
	for (int c = 0; c < NCOUP; c++)
		res->st.redemptions += d->cur.coupon[c].redemptions;
	if (!res->failed && rc == 0) {
		d->step = n;
		check_state(d);
		if (!res->failed && t->kill) { /* the ledger of the final store */
			char rep[512] = "";
			t->kill(t);
			t->died(t, 0);
			if (t->ledger(t, rep, sizeof(rep)) == 1)
				mismatch(d, NULL, "ledger_check at the end: %s", rep);
		}
	}
	return res->failed ? 1 : rc;
}
