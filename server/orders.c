/*
 * orders.c: placing orders from quotes (ActivateServices, RenewServices),
 * reading them (GetOrder, ListOrders), settling them (ConfirmOrder,
 * CancelOrder, lazy 24 h time-out), and the payments worker that runs phase
 * 2 of a payment off the writer and off the completion-queue threads.
 */
#include "fault.h"
#include "quote_token.h"
#include "orders.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "convert.h"
#include "log.h"
#include "payments/provider.h"
#include "pricing.h"
#include "quote.h"
#include "rpc_handlers.h"
#include "write.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define METHOD(x) V1(PAYMENT_METHOD__PAYMENT_METHOD_##x)
#define OSTATUS(x) V1(ORDER_STATUS__ORDER_STATUS_##x)
#define OTYPE(x) V1(ORDER_TYPE__ORDER_TYPE_##x)
#define ACTION(x) V1(QUOTE_ACTION__QUOTE_ACTION_##x)
#define AUTO_MODE V1(RENEW_MODE__RENEW_MODE_AUTO)
#define MANUAL_MODE V1(RENEW_MODE__RENEW_MODE_MANUAL)
#define PAY_WORKERS 2

#define BAD_ARG(call, ...) rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL, __VA_ARGS__)

/* The credits ledger, when linked in (credits module). */
int credits_spend(store_txn *w, const char *payer_id, int64_t credits, const char *order_id,
		  const char *actor_id, char transfer_id[40]) __attribute__((weak));
int credits_grant(store_txn *w, const char *beneficiary_id, int64_t credits, const char *order_id,
		  const char *actor_id, char transfer_id[40]) __attribute__((weak));
/* The auto-renewal scheduler's bookkeeping for AUTO_RENEWAL orders, when
 * linked in (scheduler.c): called in the txn that settles the order. */
int autorenew_order_settled(store_txn *w, const store_order *o, int succeeded, int64_t now)
	__attribute__((weak));

static const char *method_name(int m)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&smartplus__billing__v1__payment_method__descriptor, m);
	return v ? v->name + strlen("PAYMENT_METHOD_") : "UNSPECIFIED";
}

static int overdue(const store_order *o, int64_t now)
{
	return o->status == OSTATUS(PENDING_PAYMENT) && now - o->create_time >= ORDER_PAY_WINDOW_US;
}

/* ------------------------------------------------------------------------ */
/* Effects                                                                   */

/*
 * Line identity (R9): a line applies only to exactly the item it priced,
 * the same id in the same project with the same service type and creation
 * sequence (a deleted and re-created id is another item). Returns 1 when
 * the item is still that one, 0 when it is gone or another, or STORE_*.
 */
static int line_matches(store_txn *txn, const store_line *l)
{
	store_item *it = NULL;
	int rc = store_item_get(txn, l->item_id, &it), same;
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	same = strcmp(it->project_id, l->project_id) == 0 && it->service_type == l->service_type &&
	       (!l->item_create_seq || it->create_seq == l->item_create_seq);
	store_record_free(it);
	return same;
}

/* 1 when every line of o still designates its item, 0 if one does not,
 * or STORE_*. */
static int lines_match(store_txn *txn, const store_order *o)
{
	for (size_t i = 0; i < o->n_lines; i++) {
		int m = line_matches(txn, o->lines[i]);
		if (m != 1)
			return m;
	}
	return 1;
}

int orders_item_held(store_txn *txn, const char *item_id, int64_t now)
{
	store_list l = {0};
	int rc = store_order_holding(txn, item_id, 64, &l), held = 0;
	for (size_t i = 0; rc == 0 && i < l.n && !held; i++) {
		const store_order *o = l.items[i];
		held = (o->status == OSTATUS(PROCESSING) ||
			o->status == OSTATUS(PENDING_PAYMENT)) &&
		       !overdue(o, now);
	}
	store_list_free(&l);
	return rc ? rc : held;
}

static int apply_line(store_txn *w, const store_order *o, store_line *l, int64_t now)
{
	store_item *it = NULL;
	store_auto_renew ar = STORE_AUTO_RENEW_INIT, *orig;
	int64_t base, nexp;
	int rc = store_item_get(w, l->item_id, &it);

	if (rc)
		return rc; /* lines_match() saw it a moment ago */
	if (it->status != STORE_ITEM_ACTIVE)
		base = now;
	else
		base = it->expires_at > now ? it->expires_at : now;
	if (l->months > 0)
		rc = pricing_add_months(base, l->months, &nexp) ? STORE_INVALID : 0;
	else
		nexp = l->new_expires_at > base ? l->new_expires_at : base;
	orig = it->auto_renew;
	if (rc == 0) {
		it->status = STORE_ITEM_ACTIVE;
		it->expires_at = nexp;
		l->new_expires_at = nexp;
		if (o->renew_mode)
			it->renew_mode = o->renew_mode;
		if (o->renew_mode == AUTO_MODE) {
			ar.enabled = 1;
			ar.payer_id = o->payer_id;
			ar.payment_method = o->payment_method;
			ar.stripe_customer_id = o->stripe_customer_id;
			ar.stripe_payment_method_id = o->stripe_payment_method_id;
			ar.until = o->auto_renew_kind == 1 ? o->auto_renew_until : 0;
			ar.cycles = o->auto_renew_kind == 2 ? o->auto_renew_cycles : 0;
			ar.next_attempt = nexp;
			it->auto_renew = &ar;
		} else if (o->renew_mode == MANUAL_MODE && orig) {
			orig->enabled = 0;
		}
		rc = store_item_put(w, it, 0);
	}
	it->auto_renew = orig;
	store_record_free(it);
	return rc;
}

/* The credits a CREDIT_PURCHASE order bought: issuance -> beneficiary. */
static int grant_credits(store_txn *w, const store_order *o)
{
	int rc;
	if (!credits_grant || o->credits_quantity <= 0)
		return STORE_INVALID;
	rc = credits_grant(w, o->beneficiary_id, o->credits_quantity, o->order_id, o->actor_id,
			   NULL);
	return rc > 0 ? STORE_INVALID : rc;
}

/* What the payer gave for o, if anything: a card or PayPal charge, or the
 * credits debited. */
static int money_taken(const store_order *o)
{
	if (o->payment_method == METHOD(CREDITS))
		return o->credits_total > 0;
	return (o->payment_method == METHOD(STRIPE) || o->payment_method == METHOD(PAYPAL)) &&
	       o->total > 0;
}

int orders_succeed(store_txn *w, store_order *o, int64_t now)
{
	int rc = lines_match(w, o);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* An item changed under the order: nothing is applied, and what
		 * was paid is owed back (never silently kept). */
		o->needs_refund = money_taken(o);
		log_warn("order %s: an item it priced was deleted or replaced before settlement; "
			 "the order fails%s",
			 o->order_id, o->needs_refund ? " and is flagged for refund" : "");
		return orders_end(w, o, OSTATUS(FAILED), "item_changed", now);
	}
	rc = 0;
	if (o->type == OTYPE(CREDIT_PURCHASE))
		rc = grant_credits(w, o);
	for (size_t i = 0; rc == 0 && i < o->n_lines; i++)
		rc = apply_line(w, o, o->lines[i], now);
	if (rc == 0 && o->coupon_reserved) {
		rc = coupon_settle(w, o->coupon_code, o->payer_id, 1, now);
		o->coupon_reserved = 0;
	}
	if (rc == 0 && o->type == OTYPE(AUTO_RENEWAL) && autorenew_order_settled)
		rc = autorenew_order_settled(w, o, 1, now);
	o->status = OSTATUS(SUCCEEDED);
	o->update_time = now;
	return rc;
}

int orders_end(store_txn *w, store_order *o, int status, const char *why, int64_t now)
{
	int rc = 0;
	if (o->coupon_reserved) {
		rc = coupon_settle(w, o->coupon_code, o->payer_id, 0, now);
		o->coupon_reserved = 0;
	}
	o->status = status;
	o->update_time = now;
	if (why)
		o->failure_reason = (char *)why;
	if (rc == 0 && o->type == OTYPE(AUTO_RENEWAL) && autorenew_order_settled)
		rc = autorenew_order_settled(w, o, 0, now);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                   */

static Smartplus__Billing__V1__Order *conv_order(arena *a, const store_order *o, int64_t now)
{
	Smartplus__Billing__V1__Order *m = arena_alloc(a, sizeof(*m));
	Smartplus__Billing__V1__BillingInfo *b = arena_alloc(a, sizeof(*b));
	smartplus__billing__v1__order__init(m);
	smartplus__billing__v1__billing_info__init(b);
	m->order_id = o->order_id;
	m->type = o->type;
	m->status = overdue(o, now) ? OSTATUS(TIMED_OUT) : o->status;
	m->payer_id = o->payer_id;
	m->installer_id = o->installer_id;
	m->project_type = o->project_type;
	m->lines = arena_alloc(a, (o->n_lines + 1) * sizeof(*m->lines));
	for (size_t i = 0; i < o->n_lines; i++)
		m->lines[m->n_lines++] = quote_conv_line(a, o->lines[i]);
	m->subtotal = o->subtotal;
	m->discount = o->discount;
	m->total = o->total;
	m->currency = o->currency;
	m->credits_total = o->credits_total;
	m->coupon_code = o->coupon_code;
	m->payment_method = o->payment_method;
	b->name = o->bill_name;
	b->email = o->bill_email;
	b->company = o->bill_company;
	b->address = o->bill_address;
	b->country = o->bill_country;
	b->tax_id = o->bill_tax_id;
	m->billing_info = b;
	m->terms_accepted = o->terms_accepted;
	m->stripe_payment_intent_id = o->stripe_payment_intent_id;
	m->stripe_client_secret = o->stripe_client_secret;
	m->paypal_order_id = o->paypal_order_id;
	m->paypal_approval_url = o->paypal_approval_url;
	m->sandbox = o->sandbox;
	m->create_time = conv_ts(a, o->create_time);
	m->update_time = conv_ts(a, o->update_time);
	m->failure_reason = o->failure_reason;
	m->credits_quantity = o->credits_quantity;
	m->beneficiary_id = o->beneficiary_id;
	m->quote_id = o->quote_id;
	m->renew_mode = o->renew_mode;
	m->needs_refund = o->needs_refund;
	if (o->auto_renew_kind) {
		Smartplus__Billing__V1__AutoRenewTerm *t = arena_alloc(a, sizeof(*t));
		smartplus__billing__v1__auto_renew_term__init(t);
		if (o->auto_renew_kind == 1) {
			t->end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL;
			t->until = conv_ts(a, o->auto_renew_until);
		} else if (o->auto_renew_kind == 2) {
			t->end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_CYCLES;
			t->cycles = o->auto_renew_cycles;
		} else {
			t->end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
			t->until_turned_off = 1;
		}
		m->auto_renew_term = t;
	}
	return m;
}

/*
 * Replies with the order as the call's response. Every response these
 * handlers send (Activate/Renew/Confirm/Cancel/GetOrder/PurchaseCredits)
 * is a message whose only field is `Order order = 1`, so one layout serves.
 */
static void reply_order(rpc_call *call, const store_order *o)
{
	const ProtobufCMessageDescriptor *d = rpc_call_method(call)->output;
	Smartplus__Billing__V1__GetOrderResponse *r = calloc(1, d->sizeof_message);
	arena *a = arena_new();
	protobuf_c_message_init(d, r);
	r->order = conv_order(a, o, clock_now_us());
	rpc_reply(call, &r->base);
	arena_free(a);
	free(r);
}

int orders_pack(const store_order *o, uint8_t **buf, size_t *len)
{
	free(*buf);
	*len = protobuf_c_message_get_packed_size(&o->base);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		return STORE_IO;
	protobuf_c_message_pack(&o->base, *buf);
	return 0;
}

static store_order *unpack_order(const uint8_t *buf, size_t len)
{
	return smartplus__billing__store__v1__order_record__unpack(NULL, len, buf);
}

/* ------------------------------------------------------------------------ */
/* Phase 2: the payments worker                                              */

typedef struct pay_job {
	struct pay_job *next;
	rpc_call *call;
	store_order *order; /* owned */
	int confirm;
} pay_job;

static pthread_once_t pay_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pay_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pay_cond = PTHREAD_COND_INITIALIZER;
static pay_job *pay_head, **pay_tail = &pay_head;

static void submit_settle(rpc_call *call, const store_order *o, const pay_result *res, int confirm,
			  int claimed);

/* ---- one provider conversation per order ----
 * A payment call and the recording of its answer must not interleave with
 * another call for the same order (ConfirmOrder, the payments worker, the
 * reconciler): a capture declined here while another succeeds there would
 * fail an order whose money was taken. The claim is held from before the
 * provider call until its answer is durable. */
typedef struct claim {
	struct claim *next;
	char id[QUOTE_ID_MAX];
} claim;
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;
static claim *claims;

int orders_claim(const char *order_id)
{
	claim *c;
	pthread_mutex_lock(&claim_lock);
	for (c = claims; c; c = c->next)
		if (strcmp(c->id, order_id) == 0) {
			pthread_mutex_unlock(&claim_lock);
			return 0;
		}
	c = malloc(sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", order_id);
	c->next = claims;
	claims = c;
	pthread_mutex_unlock(&claim_lock);
	return 1;
}

void orders_release(const char *order_id)
{
	claim **p;
	pthread_mutex_lock(&claim_lock);
	for (p = &claims; *p; p = &(*p)->next)
		if (strcmp((*p)->id, order_id) == 0) {
			claim *c = *p;
			*p = c->next;
			free(c);
			break;
		}
	pthread_mutex_unlock(&claim_lock);
}

/* 1 if the stored order is still open to a provider answer. */
int orders_still_open(const char *order_id)
{
	store_txn *txn;
	store_order *o = NULL;
	int open = 0;
	if (store_read_begin(billingd.store, &txn) != 0)
		return 1; /* cannot tell: let phase 3 decide */
	if (store_order_get(txn, order_id, &o) == 0)
		open = o->status == OSTATUS(PROCESSING) || o->status == OSTATUS(PENDING_PAYMENT);
	store_record_free(o);
	store_read_end(txn);
	return open;
}

void orders_pay_request(const store_order *o, pay_request *req)
{
	memset(req, 0, sizeof(*req));
	req->order_id = o->order_id;
	req->provider_key = o->provider_key && o->provider_key[0] ? o->provider_key : o->order_id;
	req->method = o->payment_method;
	req->amount = o->total;
	req->currency = o->currency;
	req->description = o->order_id;
	req->stripe_payment_method_id = o->stripe_payment_method_id;
	req->stripe_customer_id = o->stripe_customer_id;
	req->stripe_payment_intent_id = o->stripe_payment_intent_id;
	req->paypal_order_id = o->paypal_order_id;
}

/* 1 unless an item of o was deleted or replaced (or the store cannot say). */
static int items_unchanged(const store_order *o)
{
	store_txn *txn;
	int m = 1;
	if (store_read_begin(billingd.store, &txn) != 0)
		return 1; /* cannot tell: settlement checks again */
	m = lines_match(txn, o);
	store_read_end(txn);
	return m != 0;
}

static void run_job(pay_job *j)
{
	const pay_provider *p = pay_provider_current();
	store_order *o = j->order;
	pay_result res;
	pay_request req;

	int claimed = orders_claim(o->order_id);

	orders_pay_request(o, &req);
	memset(&res, 0, sizeof(res));
	/* Busy elsewhere, or settled meanwhile: no provider call; phase 3 then
	 * answers with the order as it stands (PROCESSING -> UNAVAILABLE). */
	if (!p || !claimed || !orders_still_open(o->order_id))
		res.status = PAY_UNAVAILABLE;
	else if (!items_unchanged(o) && (!j->confirm || o->payment_method != METHOD(STRIPE))) {
		/* An item changed under the order: fail it before any money is
		 * taken (a create, or a PayPal capture). A card the buyer may
		 * have confirmed already is asked about; settlement then flags a
		 * captured payment for refund. */
		res.status = PAY_DECLINED;
		snprintf(res.decline_code, sizeof(res.decline_code), "item_changed");
	} else if (j->confirm)
		p->confirm(&req, &res);
	else
		p->create(&req, &res);
	FAULT_POINT("payments.after_provider"); /* crash tests: answer lost */
	submit_settle(j->call, o, &res, j->confirm, claimed);
	store_record_free(o);
	free(j);
}

static void *pay_worker(void *arg)
{
	(void)arg;
	for (;;) {
		pay_job *j;
		pthread_mutex_lock(&pay_lock);
		while (!pay_head)
			pthread_cond_wait(&pay_cond, &pay_lock);
		j = pay_head;
		pay_head = j->next;
		if (!pay_head)
			pay_tail = &pay_head;
		pthread_mutex_unlock(&pay_lock);
		run_job(j);
	}
	return NULL;
}

static void pay_start(void)
{
	for (int i = 0; i < PAY_WORKERS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, pay_worker, NULL) == 0)
			pthread_detach(t);
	}
}

/* Hands phase 2 of `o` (owned by the job from now on) to a worker. */
static void pay_enqueue(rpc_call *call, store_order *o, int confirm)
{
	pay_job *j = calloc(1, sizeof(*j));
	pthread_once(&pay_once, pay_start);
	j->call = call;
	j->order = o;
	j->confirm = confirm;
	pthread_mutex_lock(&pay_lock);
	*pay_tail = j;
	pay_tail = &j->next;
	pthread_cond_signal(&pay_cond);
	pthread_mutex_unlock(&pay_lock);
}

/* ------------------------------------------------------------------------ */
/* Phase 3: recording the provider's answer                                  */

typedef struct settle_write {
	rpc_write w;
	char order_id[QUOTE_ID_MAX];
	pay_result res;
	int confirm;
	int claimed; /* holds the order's provider claim until done */
	int outcome; /* pay_status applied, 0 if the order was already settled */
	uint8_t *packed;
	size_t packed_len;
} settle_write;

static void copy_if(char **dst, const char *src)
{
	if (src[0])
		*dst = (char *)src;
}

/* The strings of a stored order that settling may point elsewhere (into
 * the provider's answer, or at static text): saved before, put back before
 * the record is freed, so it frees exactly what its unpacking allocated. */
typedef struct order_strings {
	char *pi, *secret, *pp_id, *pp_url, *why;
} order_strings;

static order_strings save_strings(const store_order *o)
{
	order_strings k = {o->stripe_payment_intent_id, o->stripe_client_secret, o->paypal_order_id,
			   o->paypal_approval_url, o->failure_reason};
	return k;
}

static void restore_strings(store_order *o, const order_strings *k)
{
	o->stripe_payment_intent_id = k->pi;
	o->stripe_client_secret = k->secret;
	o->paypal_order_id = k->pp_id;
	o->paypal_approval_url = k->pp_url;
	o->failure_reason = k->why;
}

static int apply_settle(store_txn *txn, rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	store_order *o = NULL;
	int64_t now = clock_now_us();
	int rc = store_order_get(txn, s->order_id, &o);
	order_strings orig;

	s->outcome = 0;
	if (rc)
		return rc;
	orig = save_strings(o);
	if (o->status == OSTATUS(PROCESSING) || o->status == OSTATUS(PENDING_PAYMENT)) {
		copy_if(&o->stripe_payment_intent_id, s->res.stripe_payment_intent_id);
		copy_if(&o->stripe_client_secret, s->res.stripe_client_secret);
		copy_if(&o->paypal_order_id, s->res.paypal_order_id);
		copy_if(&o->paypal_approval_url, s->res.paypal_approval_url);
		s->outcome = s->res.status;
		switch (s->res.status) {
		case PAY_SUCCEEDED: rc = orders_succeed(txn, o, now); break;
		case PAY_REQUIRES_ACTION:
		case PAY_PENDING_APPROVAL:
			rc = lines_match(txn, o);
			if (rc == 0) { /* not paid yet, and nothing to pay for */
				s->outcome = PAY_DECLINED;
				rc = orders_end(txn, o, OSTATUS(FAILED), "item_changed", now);
				break;
			}
			rc = rc < 0 ? rc : 0;
			o->status = OSTATUS(PENDING_PAYMENT);
			o->update_time = now;
			break;
		case PAY_DECLINED:
			rc = orders_end(txn, o, OSTATUS(FAILED), s->res.decline_code, now);
			break;
		default:
			if (overdue(o, now))
				rc = orders_end(txn, o, OSTATUS(TIMED_OUT),
						"not paid within 24 hours", now);
			break;
		}
		if (rc == 0)
			rc = store_order_put(txn, o, 0);
	}
	if (rc == 0)
		rc = orders_pack(o, &s->packed, &s->packed_len);
	restore_strings(o, &orig);
	store_record_free(o);
	return rc;
}

static void reply_settle(rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	store_order *o = unpack_order(s->packed, s->packed_len);
	if (!o) {
		rpc_fail(w->call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		return;
	}
	if (s->outcome && o->status == OSTATUS(FAILED) &&
	    strcmp(o->failure_reason, "item_changed") == 0)
		rpc_fail(w->call, GRPC_STATUS_FAILED_PRECONDITION, "ITEM_STATE",
			 "order %s failed: an item it priced was deleted or replaced, so nothing "
			 "was applied%s",
			 o->order_id,
			 o->needs_refund ? "; the payment already taken is flagged for refund"
					 : " and nothing was charged");
	else if (s->outcome == PAY_DECLINED)
		rpc_fail(w->call, GRPC_STATUS_FAILED_PRECONDITION, "PAYMENT_DECLINED",
			 "the payment was declined (%s); order %s failed and nothing was applied",
			 o->failure_reason, o->order_id);
	else if (s->outcome == PAY_UNAVAILABLE && o->status == OSTATUS(PROCESSING))
		rpc_fail(w->call, GRPC_STATUS_UNAVAILABLE, "PROVIDER_UNAVAILABLE",
			 "the payment provider could not be reached; order %s stays PROCESSING and "
			 "will be settled",
			 o->order_id);
	else
		reply_order(w->call, o);
	store_record_free(o);
}

static void cleanup_settle(rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	if (s->claimed)
		orders_release(s->order_id);
	free(s->packed);
}

int orders_settle_answer(store_txn *w, const char *order_id, const pay_result *res, int *outcome)
{
	settle_write s;
	int rc;

	memset(&s, 0, sizeof(s));
	snprintf(s.order_id, sizeof(s.order_id), "%s", order_id);
	s.res = *res;
	s.confirm = 1;
	rc = apply_settle(w, &s.w);
	free(s.packed);
	if (outcome)
		*outcome = s.outcome;
	return rc;
}

/* apply_settle borrows strings from s->res and restores the record's own
 * before freeing it (store_record_free frees what unpacking allocated). */
static void submit_settle(rpc_call *call, const store_order *o, const pay_result *res, int confirm,
			  int claimed)
{
	settle_write *s = write_new(call, sizeof(*s));
	snprintf(s->order_id, sizeof(s->order_id), "%s", o->order_id);
	s->res = *res;
	s->confirm = confirm;
	s->claimed = claimed;
	s->w.apply = apply_settle;
	s->w.reply = reply_settle;
	s->w.cleanup = cleanup_settle;
	write_submit(&s->w);
}

/* ------------------------------------------------------------------------ */
/* Phase 1: placing an order from a quote                                    */

typedef struct place_write {
	rpc_write w;
	rpc_caller caller;
	int action;
	const char *quote_id;
	int method;
	const Smartplus__Billing__V1__BillingInfo *bill;
	const char *stripe_pm, *stripe_cus;
	char order_id[QUOTE_ID_MAX];
	int need_provider;
	uint8_t *packed;
	size_t packed_len;
} place_write;

void orders_set_billing(store_order *o, const Smartplus__Billing__V1__BillingInfo *b)
{
	o->bill_name = b->name;
	o->bill_email = b->email;
	o->bill_company = b->company;
	o->bill_address = b->address;
	o->bill_country = b->country;
	o->bill_tax_id = b->tax_id;
	o->terms_accepted = 1;
}

int orders_resume(store_txn *txn, rpc_write *w, const char *order_id, int method, char *id_out,
		  size_t id_cap, int *pay, uint8_t **buf, size_t *len, int *rc)
{
	store_order *prev = NULL;
	int resumed = 0;
	*rc = store_order_get(txn, order_id, &prev);
	if (*rc == STORE_NOTFOUND) {
		*rc = 0;
		return 0;
	}
	if (*rc != 0)
		return 1;
	if (prev->status == OSTATUS(PROCESSING) || prev->status == OSTATUS(PENDING_PAYMENT) ||
	    prev->status == OSTATUS(SUCCEEDED)) {
		resumed = 1;
		if (prev->payment_method != method) {
			*rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "ORDER_STATE",
					 "order %s is already paying for this with another method",
					 prev->order_id);
		} else {
			snprintf(id_out, id_cap, "%s", prev->order_id);
			*pay = prev->status == OSTATUS(PROCESSING) &&
			       (method == METHOD(STRIPE) || method == METHOD(PAYPAL));
			w->intermediate = *pay;
			if (*pay)
				snprintf(w->resume_ref, sizeof(w->resume_ref), "%s",
					 prev->order_id);
			*rc = orders_pack(prev, buf, len);
		}
	}
	store_record_free(prev);
	return resumed;
}

int orders_open(store_txn *txn, rpc_write *w, store_order *o, int64_t now, int paid, int *pay,
		uint8_t **buf, size_t *len)
{
	const pay_provider *prov;
	int rc = 0;

	*pay = 0;
	if (paid) {
		rc = orders_succeed(txn, o, now);
	} else {
		prov = pay_provider_current();
		if (!prov)
			return write_fail(w, GRPC_STATUS_UNAVAILABLE, "PROVIDER_UNAVAILABLE",
					  "no payment provider is configured");
		o->sandbox = prov->sandbox;
		*pay = 1;
		w->intermediate = 1; /* phase 3 ends the call */
		/* R17: a retry with the same key resumes this order. */
		snprintf(w->resume_ref, sizeof(w->resume_ref), "%s", o->order_id);
	}
	if (rc == 0)
		rc = store_order_put(txn, o, 1);
	if (rc == 0)
		rc = orders_pack(o, buf, len);
	return rc;
}

static int check_method(store_txn *txn, rpc_write *w, const store_quote *q, int method)
{
	char allowed[64];
	int anc = 0, rc;
	/* R11 before R2 for a payer limited by R11 (the installer by its policy,
	 * the property manager to CREDITS): a method outside its own set is a
	 * matter of permission, whatever the projects' payment model says. */
	rc = store_account_is_self_or_ancestor(txn, q->input->payer_id, q->input->installer_id,
					       &anc);
	if (rc < 0 && rc != STORE_NOTFOUND)
		return rc;
	if ((rc != 0 || !anc || strcmp(q->input->payer_id, q->input->installer_id) == 0) &&
	    !(q->method_mask & (1u << method))) {
		quote_methods_text(q->method_mask, allowed, sizeof(allowed));
		return write_fail(w, GRPC_STATUS_PERMISSION_DENIED, "METHOD_NOT_ALLOWED",
				  "payment_method: payer '%s' may not pay with %s; allowed: %s",
				  q->input->payer_id, method_name(method), allowed);
	}
	if (!catalog_model_allows(q->payment_model, method)) {
		uint32_t mm = 0;
		for (int i = METHOD(STRIPE); i <= METHOD(CREDITS); i++)
			if (catalog_model_allows(q->payment_model, i))
				mm |= 1u << i;
		quote_methods_text(mm, allowed, sizeof(allowed));
		return write_fail(
			w, GRPC_STATUS_FAILED_PRECONDITION, "METHOD_NOT_ALLOWED",
			"payment_method: %s is not allowed for these projects; allowed: %s",
			method_name(method), allowed);
	}
	if (!(q->method_mask & (1u << method))) {
		quote_methods_text(q->method_mask, allowed, sizeof(allowed));
		return write_fail(w, GRPC_STATUS_PERMISSION_DENIED, "METHOD_NOT_ALLOWED",
				  "payment_method: payer '%s' may not pay with %s; allowed: %s",
				  q->input->payer_id, method_name(method), allowed);
	}
	return 0;
}

static int apply_place(store_txn *txn, rpc_write *w)
{
	place_write *p = (place_write *)w;
	store_quote *q = NULL, *bound = NULL;
	char short_id[QUOTE_SHORT_ID_LEN + 1];
	unsigned char digest[32];
	quote_calc calc = {0};
	quote_err err = {0};
	store_order o = STORE_ORDER_INIT;
	int64_t now = clock_now_us();
	char transfer[40] = "";
	int rc;

	p->need_provider = 0;
	rc = 0;
	/* The quote id is a signed token (quote_token.h); a forged, foreign or
	 * garbled one gets the same answer (AIP-211). */
	if (quote_token_open(p->quote_id, &q, short_id) != 0 ||
	    (rc = auth_may_act(txn, &p->caller, q->input->payer_id)) != 1) {
		if (rc >= 0 || !q)
			rc = write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
					"quote_id");
		goto done;
	}
	rc = store_quote_get(txn, short_id, &bound);
	if (rc == 0 && bound->order_id[0]) {
		/* The quote was paid from before (a retry after a crash, a second
		 * click): the order placed from it — unless it ended unpaid. */
		int resumed = orders_resume(txn, w, bound->order_id, p->method, p->order_id,
					    sizeof(p->order_id), &p->need_provider, &p->packed,
					    &p->packed_len, &rc);
		if (resumed)
			goto done;
	} else if (rc != 0 && rc != STORE_NOTFOUND) {
		goto done;
	}
	rc = 0;
	if (q->input->action != p->action) {
		rc = write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				"quote_id: '%s' is a%s quote", p->quote_id,
				q->input->action == ACTION(ACTIVATE) ? "n ACTIVATE" : " RENEW");
		goto done;
	}
	if (now >= q->expire_time) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "QUOTE_STALE",
				"quote %.28s expired; ask for a new quote", p->quote_id);
		goto done;
	}
	rc = quote_compute(txn, &p->caller, q->input, now, &calc, &err);
	if (rc > 0) {
		rc = write_fail(w, err.code, err.reason, "%s", err.msg);
		goto done;
	}
	if (rc)
		goto done;
	if (calc.rec.price_list_version != q->price_list_version) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "QUOTE_STALE",
				"the price list changed since quote %.28s; ask for a new quote",
				p->quote_id);
		goto done;
	}
	if (q->coupon_code[0] && calc.coupon_lost) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE", "%s",
				calc.coupon_note);
		goto done;
	}
	quote_charge_digest(&calc.rec, digest);
	if (memcmp(digest, q->charge_digest.data, sizeof(digest)) != 0) {
		rc = write_fail(
			w, GRPC_STATUS_FAILED_PRECONDITION, "QUOTE_STALE",
			"the items or amounts changed since quote %.28s; ask for a new quote",
			p->quote_id);
		goto done;
	}
	calc.rec.method_mask = calc.rec.method_mask; /* the payer rules as of now */
	q->method_mask = calc.rec.method_mask;
	if ((rc = check_method(txn, w, q, p->method)) != 0)
		goto done;
	if (calc.rec.n_lines == 0) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, NULL,
				"quote %.28s has no items to pay for", p->quote_id);
		goto done;
	}
	if (p->method == METHOD(COUPON) && (q->total != 0 || !q->coupon_code[0])) {
		rc = write_fail(
			w, GRPC_STATUS_FAILED_PRECONDITION, "COUPON_NOT_APPLICABLE",
			"payment_method: COUPON needs a coupon covering the total (%lld %s left "
			"to pay)",
			(long long)q->total, q->currency);
		goto done;
	}
	if (q->input->renew_mode == AUTO_MODE && p->method != METHOD(CREDITS) &&
	    !(p->method == METHOD(STRIPE) && p->stripe_pm[0] && p->stripe_cus[0])) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "METHOD_NOT_ALLOWED",
				"renew_mode AUTO needs CREDITS or a saved card (STRIPE with "
				"stripe_customer_id and stripe_payment_method_id)");
		goto done;
	}

	o.order_id = p->order_id;
	o.type = p->action == ACTION(ACTIVATE) ? OTYPE(ACTIVATION) : OTYPE(RENEWAL);
	o.status = OSTATUS(PROCESSING);
	o.payer_id = q->input->payer_id;
	o.installer_id = q->input->installer_id;
	o.project_type = q->input->project_type;
	o.n_lines = calc.rec.n_lines; /* the same charge as quoted: digest checked */
	o.lines = calc.rec.lines;
	o.subtotal = q->subtotal;
	o.discount = q->discount;
	o.total = q->total;
	o.currency = q->currency;
	o.credits_total = q->credits_total;
	o.coupon_code = q->coupon_code;
	o.payment_method = p->method;
	orders_set_billing(&o, p->bill);
	o.provider_key = p->order_id;
	o.stripe_payment_method_id = (char *)p->stripe_pm;
	o.stripe_customer_id = (char *)p->stripe_cus;
	o.create_time = now;
	o.update_time = now;
	o.quote_id = (char *)p->quote_id;
	o.renew_mode = q->input->renew_mode ? q->input->renew_mode : MANUAL_MODE;
	o.action = q->input->action;
	o.auto_renew_kind = q->input->auto_renew_kind;
	o.auto_renew_until = q->input->auto_renew_until;
	o.auto_renew_cycles = q->input->auto_renew_cycles;
	o.actor_id = p->caller.account_id;
	o.transfer_id = transfer;
	/* projects touched, for ListOrders' filter */
	o.project_ids = calloc(calc.rec.n_lines + 1, sizeof(char *));
	for (size_t i = 0; i < calc.rec.n_lines; i++) {
		size_t k = 0;
		while (k < o.n_project_ids &&
		       strcmp(o.project_ids[k], calc.rec.lines[i]->project_id))
			k++;
		if (k == o.n_project_ids)
			o.project_ids[o.n_project_ids++] = calc.rec.lines[i]->project_id;
	}
	if (q->coupon_code[0]) {
		rc = coupon_reserve(txn, q->coupon_code, o.payer_id, o.order_id, now);
		if (rc)
			goto done;
		o.coupon_reserved = 1;
	}
	/* A free-only order (R4) costs 0 credits: nothing moves in the ledger. */
	if (p->method == METHOD(CREDITS) && q->credits_total > 0) {
		if (!credits_spend) {
			rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, NULL,
					"credits are not available");
			goto done;
		}
		rc = credits_spend(txn, o.payer_id, q->credits_total, o.order_id,
				   p->caller.account_id, transfer);
		if (rc > 0) {
			rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "INSUFFICIENT_CREDITS",
					"payer '%s' has fewer than %lld credits", o.payer_id,
					(long long)q->credits_total);
			goto done;
		}
		if (rc)
			goto done;
	}
	/* The quote remembers its order, in the order's own transaction. */
	rc = (store_str_set(&q->order_id, p->order_id) || store_str_set(&q->quote_id, short_id))
		     ? STORE_IO
		     : store_quote_put(txn, q, 0);
	if (rc == 0)
		rc = orders_open(txn, w, &o, now, p->method == METHOD(CREDITS) || q->total == 0,
				 &p->need_provider, &p->packed, &p->packed_len);
done:
	free(o.project_ids);
	quote_calc_free(&calc);
	store_record_free(bound);
	store_record_free(q);
	return rc;
}

void orders_reply_placed(rpc_call *call, const uint8_t *buf, size_t len, int pay)
{
	store_order *o = unpack_order(buf, len);
	if (!o) {
		rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		return;
	}
	if (pay) {
		pay_enqueue(call, o, 0); /* phase 2; the job owns o */
		return;
	}
	reply_order(call, o);
	store_record_free(o);
}

static void reply_place(rpc_write *w)
{
	place_write *p = (place_write *)w;
	orders_reply_placed(w->call, p->packed, p->packed_len, p->need_provider);
}

static void cleanup_place(rpc_write *w)
{
	free(((place_write *)w)->packed);
}

static int fail_arg(rpc_call *call, const char *msg)
{
	BAD_ARG(call, "%s", msg);
	return 1;
}

int orders_check_payment_args(rpc_call *call, int method,
			      const Smartplus__Billing__V1__BillingInfo *bill, int terms,
			      const char *pm, const char *cus)
{
	if (!valid_enum(&smartplus__billing__v1__payment_method__descriptor, method))
		return fail_arg(call, "payment_method: required");
	if (!bill)
		return fail_arg(call, "billing_info: required");
	if (!bill->name[0])
		return fail_arg(call, "billing_info.name: required");
	if (!bill->email[0] || !strchr(bill->email, '@'))
		return fail_arg(call, "billing_info.email: a valid email address is required");
	if (strlen(bill->country) != 2)
		return fail_arg(call, "billing_info.country: an ISO-3166 alpha-2 code is required");
	if (!terms) {
		rpc_fail(call, GRPC_STATUS_FAILED_PRECONDITION, "TERMS_NOT_ACCEPTED",
			 "terms_accepted: the terms and conditions must be accepted");
		return 1;
	}
	if (method != METHOD(STRIPE) && (pm[0] || cus[0]))
		return fail_arg(call, "stripe_payment_method_id: only with payment_method STRIPE");
	return 0;
}

static void place(rpc_call *call, int action, const char *quote_id, int method,
		  const Smartplus__Billing__V1__BillingInfo *bill, int terms, const char *pm,
		  const char *cus)
{
	place_write *p;

	if (strncmp(quote_id, "quo_", 4) != 0 || strlen(quote_id) >= QUOTE_TOKEN_MAX)
		return BAD_ARG(call, "quote_id: not a quote id");
	if (orders_check_payment_args(call, method, bill, terms, pm, cus))
		return;
	p = write_new(call, sizeof(*p));
	p->caller = *rpc_call_caller(call);
	p->action = action;
	p->quote_id = quote_id;
	p->method = method;
	p->bill = bill;
	p->stripe_pm = pm;
	p->stripe_cus = cus;
	if (quote_new_id("ord_", p->order_id) != 0) {
		free(p);
		return rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
	}
	p->w.apply = apply_place;
	p->w.reply = reply_place;
	p->w.cleanup = cleanup_place;
	write_submit(&p->w);
}

void rpc_BillingService_ActivateServices(struct rpc_call *call,
					 const Smartplus__Billing__V1__ActivateServicesRequest *req)
{
	place(call, ACTION(ACTIVATE), req->quote_id, req->payment_method, req->billing_info,
	      req->terms_accepted, req->stripe_payment_method_id, req->stripe_customer_id);
}

void rpc_BillingService_RenewServices(struct rpc_call *call,
				      const Smartplus__Billing__V1__RenewServicesRequest *req)
{
	place(call, ACTION(RENEW), req->quote_id, req->payment_method, req->billing_info,
	      req->terms_accepted, req->stripe_payment_method_id, req->stripe_customer_id);
}

/* ------------------------------------------------------------------------ */
/* Reading and settling orders                                               */

/* Loads an order the caller may see (it may act on the payer). Fails the
 * call and returns nonzero otherwise. */
static int load_order(rpc_call *call, const char *order_id, store_order **out)
{
	store_txn *txn = NULL;
	int rc, may = 0;

	*out = NULL;
	if (strncmp(order_id, "ord_", 4) != 0 || strlen(order_id) >= QUOTE_ID_MAX) {
		BAD_ARG(call, "order_id: not an order id");
		return 1;
	}
	rc = store_read_begin(billingd.store, &txn);
	if (rc == 0)
		rc = store_order_get(txn, order_id, out);
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), (*out)->payer_id);
	store_read_end(txn);
	if (rc && rc != STORE_NOTFOUND) {
		write_fail_store(call, rc);
		return 1;
	}
	if (may < 0) {
		write_fail_store(call, may);
	} else if (may == 0) {
		rpc_fail(call, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED, "order_id");
	} else {
		return 0;
	}
	store_record_free(*out);
	*out = NULL;
	return 1;
}

enum { OP_TIMEOUT, OP_CANCEL };

typedef struct op_write {
	rpc_write w;
	char order_id[QUOTE_ID_MAX];
	int op;
	uint8_t *packed;
	size_t packed_len;
} op_write;

static int apply_op(store_txn *txn, rpc_write *w)
{
	op_write *s = (op_write *)w;
	store_order *o = NULL;
	int64_t now = clock_now_us();
	int rc = store_order_get(txn, s->order_id, &o), changed = 0;
	order_strings orig;

	if (rc)
		return rc;
	orig = save_strings(o);
	if (overdue(o, now)) {
		rc = orders_end(txn, o, OSTATUS(TIMED_OUT), "not paid within 24 hours", now);
		changed = 1;
	}
	if (rc == 0 && s->op == OP_CANCEL) {
		if (o->status != OSTATUS(PENDING_PAYMENT)) {
			const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
				&smartplus__billing__v1__order_status__descriptor, o->status);
			rc = write_fail(
				w, GRPC_STATUS_FAILED_PRECONDITION, "ORDER_STATE",
				"order '%s' is %s; only PENDING_PAYMENT orders can be canceled",
				o->order_id, v ? v->name + strlen("ORDER_STATUS_") : "?");
			changed = 0;
		} else {
			rc = orders_end(txn, o, OSTATUS(CANCELED), NULL, now);
			changed = 1;
		}
	}
	if (rc == 0 && changed)
		rc = store_order_put(txn, o, 0);
	if (rc == 0)
		rc = orders_pack(o, &s->packed, &s->packed_len);
	restore_strings(o, &orig); /* failure_reason may be static text */
	store_record_free(o);
	return rc;
}

static void reply_op(rpc_write *w)
{
	op_write *s = (op_write *)w;
	store_order *o = unpack_order(s->packed, s->packed_len);
	if (!o) {
		rpc_fail(w->call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		return;
	}
	reply_order(w->call, o);
	store_record_free(o);
}

static void cleanup_op(rpc_write *w)
{
	free(((op_write *)w)->packed);
}

static void submit_op(rpc_call *call, const char *order_id, int op)
{
	op_write *s = write_new(call, sizeof(*s));
	snprintf(s->order_id, sizeof(s->order_id), "%s", order_id);
	s->op = op;
	s->w.apply = apply_op;
	s->w.reply = reply_op;
	s->w.cleanup = cleanup_op;
	write_submit(&s->w);
}

void rpc_BillingService_GetOrder(struct rpc_call *call,
				 const Smartplus__Billing__V1__GetOrderRequest *req)
{
	store_order *o;
	if (load_order(call, req->order_id, &o))
		return;
	if (overdue(o, clock_now_us()))
		submit_op(call, o->order_id, OP_TIMEOUT);
	else
		reply_order(call, o);
	store_record_free(o);
}

void rpc_BillingService_CancelOrder(struct rpc_call *call,
				    const Smartplus__Billing__V1__CancelOrderRequest *req)
{
	store_order *o;
	if (load_order(call, req->order_id, &o))
		return;
	submit_op(call, o->order_id, OP_CANCEL);
	store_record_free(o);
}

void rpc_BillingService_ConfirmOrder(struct rpc_call *call,
				     const Smartplus__Billing__V1__ConfirmOrderRequest *req)
{
	store_order *o;
	if (load_order(call, req->order_id, &o))
		return;
	if (overdue(o, clock_now_us())) {
		submit_op(call, o->order_id, OP_TIMEOUT);
	} else if (o->status == OSTATUS(PENDING_PAYMENT) || o->status == OSTATUS(PROCESSING)) {
		pay_enqueue(call, o, 1); /* the job owns o */
		return;
	} else {
		reply_order(call, o);
	}
	store_record_free(o);
}

static int order_matches(const store_order *o, const Smartplus__Billing__V1__ListOrdersRequest *req,
			 int64_t from, int64_t to, int64_t now)
{
	int status = overdue(o, now) ? OSTATUS(TIMED_OUT) : o->status;
	int found = !req->project_id[0];
	if (req->status && status != (int)req->status)
		return 0;
	if (req->type && o->type != (int)req->type)
		return 0;
	if (from && o->create_time < from)
		return 0;
	if (to && o->create_time >= to)
		return 0;
	for (size_t i = 0; !found && i < o->n_project_ids; i++)
		found = strcmp(o->project_ids[i], req->project_id) == 0;
	return found;
}

void rpc_BillingService_ListOrders(struct rpc_call *call,
				   const Smartplus__Billing__V1__ListOrdersRequest *req)
{
	const char *payer = req->payer_id[0] ? req->payer_id : rpc_call_caller(call)->account_id;
	Smartplus__Billing__V1__ListOrdersResponse r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_RESPONSE__INIT;
	store_list l = {0};
	store_txn *txn = NULL;
	arena *a = NULL;
	int64_t now = clock_now_us(), from, to;
	int ok = 1, rc;

	if (!valid_id(payer))
		return BAD_ARG(call, "payer_id: must match [A-Za-z0-9_.-]{1,64}");
	if (req->page_size < 0 || req->page_size > STORE_PAGE_MAX)
		return BAD_ARG(call, "page_size: must be 0..%d", STORE_PAGE_MAX);
	from = conv_us(req->start_time, &ok);
	to = conv_us(req->end_time, &ok);
	if (!ok)
		return BAD_ARG(call, "start_time/end_time: out of range");
	rc = store_read_begin(billingd.store, &txn);
	if (rc) {
		write_fail_store(call, rc);
		return;
	}
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), payer), "payer_id"))
		goto done;
	rc = store_order_list_by_payer(txn, payer, req->page_size ? req->page_size : 50,
				       req->page_token, &l);
	if (rc) {
		write_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.orders = arena_alloc(a, (l.n + 1) * sizeof(*r.orders));
	for (size_t i = 0; i < l.n; i++)
		if (order_matches(l.items[i], req, from, to, now))
			r.orders[r.n_orders++] = conv_order(a, l.items[i], now);
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&l);
	store_read_end(txn);
}

/* ------------------------------------------------------------------------ */
/* The time-out sweeper                                                      */

#define SWEEP_BATCH 128

typedef struct sweep_pass {
	int64_t now;
	char ids[SWEEP_BATCH][QUOTE_ID_MAX];
	size_t n;
	int timed_out;
} sweep_pass;

static int apply_sweep(store_txn *w, void *arg)
{
	sweep_pass *p = arg;
	int rc = 0;

	p->timed_out = 0; /* apply may run twice */
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		store_order *o = NULL;
		order_strings orig;
		rc = store_order_get(w, p->ids[i], &o);
		if (rc == STORE_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		orig = save_strings(o);
		if (overdue(o, p->now)) { /* still pending: not paid or canceled since the scan */
			rc = orders_end(w, o, OSTATUS(TIMED_OUT), "not paid within 24 hours",
					p->now);
			if (rc == 0)
				rc = store_order_put(w, o, 0);
			if (rc == 0)
				p->timed_out++;
		}
		restore_strings(o, &orig);
		store_record_free(o);
	}
	return rc;
}

int orders_sweep(store_env *env, int64_t now)
{
	sweep_pass *p = calloc(1, sizeof(*p));
	int total = 0, rc = 0;

	if (!p)
		return STORE_IO;
	for (;;) {
		store_txn *txn = NULL;
		store_list l = {0};
		rc = store_read_begin(env, &txn);
		if (rc)
			break;
		rc = store_order_pending_before(txn, now - ORDER_PAY_WINDOW_US + 1, SWEEP_BATCH,
						&l);
		store_read_end(txn);
		if (rc)
			break;
		p->now = now;
		p->n = 0;
		for (size_t i = 0; i < l.n; i++)
			snprintf(p->ids[p->n++], QUOTE_ID_MAX, "%s",
				 ((store_order *)l.items[i])->order_id);
		store_list_free(&l);
		if (p->n == 0)
			break;
		rc = store_write_sync(env, apply_sweep, p);
		if (rc)
			break;
		total += p->timed_out;
		if (p->n < SWEEP_BATCH || p->timed_out == 0)
			break;
	}
	free(p);
	return rc ? rc : total;
}

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running, stop;
} sweeper = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *sweeper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sweeper.lock);
	while (!sweeper.stop) {
		struct timespec until;
		int n;
		pthread_mutex_unlock(&sweeper.lock);
		n = orders_sweep(billingd.store, clock_now_us());
		if (n > 0)
			log_info("orders: %d pending order(s) timed out after 24 h", n);
		else if (n < 0)
			log_error("orders: time-out sweep failed: %s", store_strerror(n));
		pthread_mutex_lock(&sweeper.lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ORDER_SWEEP_INTERVAL_S;
		while (!sweeper.stop &&
		       pthread_cond_timedwait(&sweeper.cond, &sweeper.lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&sweeper.lock);
	return NULL;
}

void orders_sweeper_start(void)
{
	if (sweeper.running)
		return;
	sweeper.stop = 0;
	sweeper.running = pthread_create(&sweeper.thread, NULL, sweeper_main, NULL) == 0;
}

void orders_sweeper_stop(void)
{
	if (!sweeper.running)
		return;
	pthread_mutex_lock(&sweeper.lock);
	sweeper.stop = 1;
	pthread_cond_signal(&sweeper.cond);
	pthread_mutex_unlock(&sweeper.lock);
	pthread_join(sweeper.thread, NULL);
	sweeper.running = 0;
}
