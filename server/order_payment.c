/*
 * order_payment.c: phases 2 and 3 of a payment (see order_payment.h and
 * orders.h). A fixed pool of PAY_WORKERS threads takes jobs from a queue and
 * calls the provider under the order's claim; each answer is recorded by a
 * settle write (apply_settle) that moves the order on and applies its
 * effects on success, and whose reply finishes the call.
 */
#include "order_payment.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billingd.h"
#include "clock.h"
#include "enums.h"
#include "handler.h"
#include "order_effects.h"
#include "order_record.h"
#include "payments/provider.h"
#include "quote.h"
#include "store_fault.h"
#include "write.h"
#include "xalloc.h"

#define PAY_WORKERS 2

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
	c = xmalloc(sizeof(*c));
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
	int m;
	if (store_read_begin(billingd.store, &txn) != 0)
		return 1; /* cannot tell: settlement checks again */
	m = orders_lines_match(txn, o);
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
	if (!claimed || !orders_still_open(o->order_id)) {
		res.status = PAY_UNAVAILABLE;
	} else if (!items_unchanged(o) && (!j->confirm || o->payment_method != METHOD(STRIPE))) {
		/* An item changed under the order: fail it before any money is
		 * taken (a create, or a PayPal capture). A card the buyer may
		 * have confirmed already is asked about; settlement then flags a
		 * captured payment for refund. */
		res.status = PAY_DECLINED;
		snprintf(res.decline_code, sizeof(res.decline_code), "%s", ORDERS_ITEM_CHANGED);
	} else if (j->confirm) {
		p->confirm(&req, &res);
	} else {
		p->create(&req, &res);
	}
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
void orders_pay_start(rpc_call *call, store_order *o, int confirm)
{
	pay_job *j = xcalloc(1, sizeof(*j));
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

static int apply_settle(store_txn *txn, rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	store_order *o = NULL;
	int64_t now = clock_now_us();
	int rc = store_order_get(txn, s->order_id, &o);
	orders_strings orig;

	s->outcome = 0;
	if (rc)
		return rc;
	orig = orders_strings_save(o);
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
			rc = orders_lines_match(txn, o);
			if (rc == 0) { /* not paid yet, and nothing left to pay for */
				s->outcome = PAY_DECLINED;
				rc = orders_end(txn, o, OSTATUS(FAILED), ORDERS_ITEM_CHANGED, now);
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
			if (orders_overdue(o, now))
				rc = orders_end(txn, o, OSTATUS(TIMED_OUT),
						"not paid within 24 hours", now);
			break;
		}
		if (rc == 0)
			rc = store_order_put(txn, o, 0);
	}
	if (rc == 0)
		rc = orders_pack(o, &s->packed, &s->packed_len);
	orders_strings_restore(o, &orig);
	store_record_free(o);
	return rc;
}

static void reply_settle(rpc_write *w)
{
	settle_write *s = (settle_write *)w;
	store_order *o = orders_unpack(s->packed, s->packed_len);
	if (!o) {
		handler_fail_internal(w->call, "the packed order does not unpack");
		return;
	}
	if (s->outcome && o->status == OSTATUS(FAILED) &&
	    strcmp(o->failure_reason, ORDERS_ITEM_CHANGED) == 0)
		rpc_fail(w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON_ITEM_STATE,
			 "order %s failed: an item it priced was deleted or replaced, so nothing "
			 "was applied%s",
			 o->order_id,
			 o->needs_refund ? "; the payment already taken is flagged for refund"
					 : " and nothing was charged");
	else if (s->outcome == PAY_DECLINED)
		rpc_fail(w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON_PAYMENT_DECLINED,
			 "the payment was declined (%s); order %s failed and nothing was applied",
			 o->failure_reason, o->order_id);
	else if (s->outcome == PAY_UNAVAILABLE && o->status == OSTATUS(PROCESSING))
		rpc_fail(w->call, GRPC_STATUS_UNAVAILABLE, REASON_PROVIDER_UNAVAILABLE,
			 "the payment provider could not be reached; order %s stays PROCESSING and "
			 "will be settled",
			 o->order_id);
	else
		orders_reply(w->call, o);
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

void orders_reply_placed(rpc_call *call, const uint8_t *buf, size_t len, int pay)
{
	store_order *o = orders_unpack(buf, len);
	if (!o) {
		handler_fail_internal(call, "the packed order does not unpack");
		return;
	}
	if (pay) {
		orders_pay_start(call, o, 0); /* phase 2; the job owns o */
		return;
	}
	orders_reply(call, o);
	store_record_free(o);
}
