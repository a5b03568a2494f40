/*
 * order_payment.c: the payment engine (see order_payment.h).
 *
 * The life of a job: a worker takes it from the queue, claims the order
 * (one provider conversation per order), reads it, decides whether the
 * provider must be asked, asks it (no transaction held), then submits the
 * phase-3 write — an rpc_write when a handler's call waits for the answer,
 * a plain store mutation otherwise — whose apply is record(): the one place
 * a provider answer becomes an order status. The claim is released once
 * that write is durable.
 */
#include "order_payment.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "billingd.h"
#include "clock.h"
#include "enums.h"
#include "event_sources.h"
#include "handler.h"
#include "log.h"
#include "observe.h"
#include "order_effects.h"
#include "order_record.h"
#include "quote.h"
#include "refunds.h"
#include "store_fault.h"
#include "write.h"
#include "xalloc.h"

#define PAY_ENGINE_WORKERS 8
/* How long a handler's job waits for an order's claim held by another job. */
#define CLAIM_WAIT_MS 5000
/* Stripe search "can be up to an hour behind during outages": a PROCESSING
 * order whose intent id billingd never learnt is canceled on an empty
 * search only this long after it was created. */
#define SEARCH_TRUST_US (INT64_C(3600) * 1000000)

static struct {
	pthread_mutex_t lock;
	pay_engine_counts counts;
} stats = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void count(uint64_t *field)
{
	pthread_mutex_lock(&stats.lock);
	(*field)++;
	pthread_mutex_unlock(&stats.lock);
}

void pay_engine_counts_get(pay_engine_counts *out)
{
	pthread_mutex_lock(&stats.lock);
	*out = stats.counts;
	pthread_mutex_unlock(&stats.lock);
}

/* ------------------------------------------------------------------------ */
/* Claims and Retry-After                                                    */

/* A payment call and the recording of its answer must not interleave with
 * another call for the same order: a capture declined here while another
 * succeeds there would fail an order whose money was taken, and a cancel
 * recorded after a capture landed would cancel a paid order. */
typedef struct claim {
	struct claim *next;
	char id[QUOTE_ID_MAX];
	int64_t not_before; /* a claim-less entry when only this is set */
	int held;
} claim;
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;
static claim *claims;

/* Retry-After is real time, whatever the server clock (a test clock only
 * moves on AdvanceClock): CLOCK_MONOTONIC microseconds. */
static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static claim *find_claim(const char *id)
{
	for (claim *c = claims; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static claim *add_claim(const char *id)
{
	claim *c = xcalloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->next = claims;
	claims = c;
	return c;
}

static void drop_if_idle(claim *c, int64_t now)
{
	if (c->held || c->not_before > now)
		return;
	for (claim **p = &claims; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			free(c);
			return;
		}
}

static int claim_take(const char *id)
{
	claim *c;
	int ok = 0;
	pthread_mutex_lock(&claim_lock);
	c = find_claim(id);
	if (!c)
		c = add_claim(id);
	if (c && !c->held)
		ok = c->held = 1;
	pthread_mutex_unlock(&claim_lock);
	return ok;
}

static int claim_wait(const char *id, long ms)
{
	for (long waited = 0;; waited += 50) {
		if (claim_take(id))
			return 1;
		if (waited >= ms)
			return 0;
		usleep(50 * 1000);
	}
}

static void claim_release(const char *id)
{
	claim *c;
	pthread_mutex_lock(&claim_lock);
	c = find_claim(id);
	if (c) {
		c->held = 0;
		drop_if_idle(c, mono_us());
	}
	pthread_mutex_unlock(&claim_lock);
}

static void set_not_before(const char *id, int64_t until)
{
	claim *c;
	pthread_mutex_lock(&claim_lock);
	c = find_claim(id);
	if (!c)
		c = add_claim(id);
	if (c)
		c->not_before = until;
	pthread_mutex_unlock(&claim_lock);
}

int64_t pay_engine_not_before(const char *id)
{
	claim *c;
	int64_t t = 0, now = mono_us();
	pthread_mutex_lock(&claim_lock);
	c = find_claim(id);
	if (c && c->not_before > now)
		t = c->not_before;
	else if (c) {
		c->not_before = 0;
		drop_if_idle(c, now);
	}
	pthread_mutex_unlock(&claim_lock);
	return t;
}

/* ------------------------------------------------------------------------ */
/* Phase 3: recording an answer                                              */

/* What phase 2 learnt and phase 3 records; shared by both write kinds. */
typedef struct record_state {
	char order_id[QUOTE_ID_MAX];
	pay_op op;
	int64_t now; /* the job's time (the sweep's, or the clock's) */
	int asked;   /* the provider answered res (else nothing to record) */
	int busy;    /* the claim was taken by another job */
	pay_result res;
	char why[128]; /* failure reason written into the order */
	/* outputs of record(), reset by each apply */
	int applied;
	int status_after;
	int was_open;
	int prev_status;
	int close_after; /* the order just ended unpaid with a provider payment */
	int flagged;     /* CLOSE: money taken for a closed order, flagged */
	uint8_t *packed;
	size_t packed_len;
} record_state;

static void copy_if(char **dst, const char *src)
{
	if (src[0])
		*dst = (char *)src;
}

static int is_open(const store_order *o)
{
	return o->status == OSTATUS(PROCESSING) || o->status == OSTATUS(PENDING_PAYMENT);
}

static int has_provider_id(const store_order *o)
{
	return (o->stripe_payment_intent_id && o->stripe_payment_intent_id[0]) ||
	       (o->paypal_order_id && o->paypal_order_id[0]);
}

int pay_engine_closed_unpaid(const store_order *o)
{
	return !is_open(o) && o->status != OSTATUS(SUCCEEDED) && !o->needs_refund &&
	       (o->payment_method == METHOD(STRIPE) || o->payment_method == METHOD(PAYPAL)) &&
	       has_provider_id(o);
}

/* Whether "the provider has no payment for this order" can be believed:
 * after the key window nothing can create one any more; a cancel needs the
 * search to have caught up with the create. */
static int not_found_trusted(const store_order *o, pay_op op, int64_t now)
{
	int64_t age = now - o->create_time;
	if (op == PAY_OP_CANCEL || op == PAY_OP_EXPIRE)
		return has_provider_id(o) || o->payment_method == METHOD(PAYPAL) ||
		       age >= SEARCH_TRUST_US;
	return age >=
	       (o->payment_method == METHOD(PAYPAL) ? PAY_PAYPAL_REPLAY_US : PAY_STRIPE_REPLAY_US);
}

/* A renewal-group order (group_id set): one order per group and period,
 * whose attempts are confirmations of one payment. */
static int is_group(const store_order *o)
{
	return o->group_id && o->group_id[0];
}

/* A group order's answer to an attempt (CREATE, RETRY, RECOVER) that did
 * not pay: the attempt failed, and the order waits for its next retry or
 * the buyer (orders_attempt_failed); the buyer's on-session attempt that
 * needs 3-D Secure waits for the buyer. Any other job's news of the same
 * failure (a webhook's CONFIRM) changes nothing. */
static int group_not_paid(store_txn *txn, store_order *o, record_state *s, const char *why,
			  int64_t now)
{
	int attempt = s->op == PAY_OP_CREATE || s->op == PAY_OP_RETRY || s->op == PAY_OP_RECOVER;
	if (!attempt || o->status != OSTATUS(PROCESSING)) {
		s->applied = 0;
		return 0;
	}
	if (s->op == PAY_OP_RECOVER && s->res.status == PAY_REQUIRES_ACTION) {
		o->status = OSTATUS(PENDING_PAYMENT);
		o->recoverable = 1;
		o->failure_reason = "authentication_required";
		o->update_time = now;
		return 0;
	}
	return orders_attempt_failed(txn, o, why, now);
}

/* Moves open order o on according to the provider's answer to op. */
static int settle(store_txn *txn, store_order *o, record_state *s, int64_t now)
{
	const pay_result *res = &s->res;
	int cancel = s->op == PAY_OP_CANCEL || s->op == PAY_OP_EXPIRE, rc = 0;
	/* R9: a CancelOrder that finds the order past its pay window (the
	 * sweeper has not run yet) times it out, as GetOrder and ConfirmOrder
	 * at that instant would; its answer says so (sim S9) */
	int expire = s->op == PAY_OP_EXPIRE || (s->op == PAY_OP_CANCEL && orders_overdue(o, now));
	int end_status = expire ? OSTATUS(TIMED_OUT) : OSTATUS(CANCELED);
	const char *end_why = expire ? "not paid within 24 hours" : NULL;

	if (is_group(o) && s->op == PAY_OP_EXPIRE) {
		/* its retries and grace are over: the renewal failed */
		end_status = OSTATUS(FAILED);
		end_why = o->failure_reason && o->failure_reason[0] ? o->failure_reason
								    : "renewal_not_paid";
	}
	s->applied = res->status;
	switch (res->status) {
	case PAY_SUCCEEDED: return orders_succeed(txn, o, now);
	case PAY_REQUIRES_ACTION:
	case PAY_PENDING_APPROVAL:
		if (cancel)
			break; /* not canceled: unchanged, try again */
		if (is_group(o))
			return group_not_paid(txn, o, s, "authentication_required", now);
		if (o->type == OTYPE(AUTO_RENEWAL)) /* off-session: nobody to act */
			return orders_end(txn, o, OSTATUS(FAILED), "authentication_required", now);
		rc = orders_lines_match(txn, o);
		if (rc < 0)
			return rc;
		if (rc == 0) { /* not paid yet, and nothing left to pay for */
			s->applied = PAY_DECLINED;
			return orders_end(txn, o, OSTATUS(FAILED), ORDERS_ITEM_CHANGED, now);
		}
		rc = 0;
		o->status = OSTATUS(PENDING_PAYMENT);
		o->update_time = now;
		return 0;
	case PAY_DECLINED:
		if (cancel)
			break;
		snprintf(s->why, sizeof(s->why), "%s",
			 res->decline_code[0] ? res->decline_code : "declined");
		if (is_group(o))
			return group_not_paid(txn, o, s, s->why, now);
		return orders_end(txn, o, OSTATUS(FAILED), s->why, now);
	case PAY_REJECTED:
		if (cancel)
			break;
		snprintf(s->why, sizeof(s->why), "provider_rejected: %s",
			 res->decline_code[0] ? res->decline_code : "request refused");
		if (is_group(o))
			return group_not_paid(txn, o, s, s->why, now);
		return orders_end(txn, o, OSTATUS(FAILED), s->why, now);
	case PAY_CANCELED:
		if (cancel)
			return orders_end(txn, o, end_status, end_why, now);
		return orders_end(txn, o, OSTATUS(CANCELED), "canceled at the provider", now);
	case PAY_NOT_FOUND:
		if (!not_found_trusted(o, s->op, now))
			break;
		if (cancel)
			return orders_end(txn, o, end_status, end_why, now);
		return orders_end(txn, o, OSTATUS(FAILED), "no payment was made at the provider",
				  now);
	default: break; /* UNAVAILABLE, OPERATOR_ERROR: unchanged */
	}
	s->applied = 0;
	return rc;
}

/* The phase-3 apply of every job. w is the handler's write (NULL for a
 * background job): refusals that must be recorded with the call (R17) go
 * through write_fail. */
static int record(store_txn *txn, record_state *s, rpc_write *w)
{
	store_order *o = NULL;
	int64_t now = s->now;
	int rc = store_order_get(txn, s->order_id, &o);
	orders_strings orig;

	s->applied = s->status_after = s->was_open = s->prev_status = 0;
	s->close_after = s->flagged = 0;
	if (rc == STORE_NOTFOUND)
		return w ? write_fail(w, GRPC_STATUS_NOT_FOUND, NULL, "no order '%s'", s->order_id)
			 : 0;
	if (rc)
		return rc;
	orig = orders_strings_save(o);
	s->was_open = is_open(o);
	s->prev_status = o->status;
	if (w && s->op == PAY_OP_CANCEL && s->busy) {
		rc = write_fail(w, GRPC_STATUS_ABORTED, REASON_ORDER_STATE,
				"a payment for order '%s' is in progress; try again", o->order_id);
		goto done;
	}
	if (w && s->op == PAY_OP_CANCEL && !s->was_open) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			&smartplus__billing__v1__order_status__descriptor, o->status);
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
				"order '%s' is %s; only PENDING_PAYMENT and PROCESSING orders can "
				"be canceled",
				o->order_id, v ? v->name + strlen("ORDER_STATUS_") : "?");
		goto done;
	}
	if (s->was_open && s->asked) {
		copy_if(&o->stripe_payment_intent_id, s->res.stripe_payment_intent_id);
		copy_if(&o->stripe_client_secret, s->res.stripe_client_secret);
		copy_if(&o->paypal_order_id, s->res.paypal_order_id);
		copy_if(&o->paypal_approval_url, s->res.paypal_approval_url);
		if (o->payment_method == METHOD(PAYPAL)) /* what a refund refunds */
			copy_if(&o->paypal_capture_id, s->res.capture_id);
		if ((s->op == PAY_OP_RETRY || s->op == PAY_OP_RECOVER) &&
		    s->res.status != PAY_UNAVAILABLE && s->res.status != PAY_OPERATOR_ERROR)
			o->provider_amount = o->total; /* the attempt set it */
		rc = settle(txn, o, s, now);
		/* Ended unpaid with a payment at the provider (a decline leaves a
		 * Stripe intent payable): a CLOSE job cancels it there. */
		s->close_after = rc == 0 && pay_engine_closed_unpaid(o);
		if (rc == 0)
			rc = store_order_put(txn, o, 0);
	} else if (s->op == PAY_OP_CLOSE && s->asked && s->res.status == PAY_SUCCEEDED &&
		   pay_engine_closed_unpaid(o)) {
		/* Paid at the provider after the order ended: owed back, never
		 * kept silently. The order's status stays what it was. */
		o->needs_refund = 1;
		o->update_time = now;
		s->flagged = 1;
		log_warn("payments: order %s is %s but its payment %s was taken at the provider; "
			 "flagged for refund",
			 o->order_id,
			 o->status == OSTATUS(FAILED)     ? "FAILED"
			 : o->status == OSTATUS(CANCELED) ? "CANCELED"
							  : "TIMED_OUT",
			 s->res.stripe_payment_intent_id[0] ? s->res.stripe_payment_intent_id
			 : s->res.paypal_order_id[0]        ? s->res.paypal_order_id
							    : "?");
		rc = store_order_put(txn, o, 0);
	}
	s->status_after = o->status;
	if (rc == 0 && w)
		rc = orders_pack(o, &s->packed, &s->packed_len);
done:
	orders_strings_restore(o, &orig);
	store_record_free(o);
	return rc;
}

/* ---- a handler's job: the write that answers the call ---- */

typedef struct call_write {
	rpc_write w;
	record_state s;
} call_write;

static int apply_call(store_txn *txn, rpc_write *w)
{
	call_write *c = (call_write *)w;
	free(c->s.packed);
	c->s.packed = NULL;
	return record(txn, &c->s, w);
}

static void reply_call(rpc_write *w)
{
	call_write *c = (call_write *)w;
	record_state *s = &c->s;
	store_order *o = orders_unpack(s->packed, s->packed_len);
	const char *id = s->order_id;
	if (!o) {
		handler_fail_internal(w->call, "the packed order does not unpack");
		return;
	}
	if (s->applied && o->status == OSTATUS(FAILED) && o->failure_reason &&
	    strcmp(o->failure_reason, ORDERS_ITEM_CHANGED) == 0) {
		rpc_fail_meta(
			w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON_ITEM_STATE, "order_id", id,
			"order %s failed: an item it priced was deleted or replaced, so nothing "
			"was applied%s",
			id,
			o->needs_refund ? "; the payment already taken is flagged for refund"
					: " and nothing was charged");
	} else if (s->op == PAY_OP_CANCEL && s->applied == PAY_SUCCEEDED) {
		rpc_fail_meta(w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
			      "order_id", id,
			      "order %s was paid before it could be canceled: it SUCCEEDED", id);
	} else if (s->op == PAY_OP_CANCEL && o->status == OSTATUS(TIMED_OUT)) {
		rpc_fail_meta(
			w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE, "order_id",
			id,
			"order %s was not paid within 24 hours: it is TIMED_OUT and cannot be "
			"canceled",
			id);
	} else if (s->op == PAY_OP_CANCEL && o->status != OSTATUS(CANCELED) && is_open(o)) {
		rpc_fail_meta(w->call, GRPC_STATUS_UNAVAILABLE, REASON_PROVIDER_UNAVAILABLE,
			      "order_id", id,
			      "the payment of order %s could not be canceled at the provider now; "
			      "the order is unchanged, try again",
			      id);
	} else if (s->op == PAY_OP_CANCEL) {
		orders_reply(w->call, o);
	} else if (s->applied == PAY_DECLINED) {
		rpc_fail_meta(w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON_PAYMENT_DECLINED,
			      "order_id", id,
			      "the payment was declined (%s); order %s failed and nothing was "
			      "applied",
			      o->failure_reason, id);
	} else if (s->applied == PAY_REJECTED) {
		rpc_fail_meta(w->call, GRPC_STATUS_FAILED_PRECONDITION, REASON_PROVIDER_REJECTED,
			      "order_id", id,
			      "the payment provider refused the request (%s); order %s failed and "
			      "nothing was charged",
			      o->failure_reason, id);
	} else if (o->status == OSTATUS(PROCESSING)) {
		rpc_fail_meta(w->call, GRPC_STATUS_UNAVAILABLE, REASON_PROVIDER_UNAVAILABLE,
			      "order_id", id,
			      "the payment's outcome is not known yet; order %s stays PROCESSING "
			      "and will be settled",
			      id);
	} else {
		orders_reply(w->call, o);
	}
	store_record_free(o);
}

static int enqueue(const char *order_id, pay_op op, rpc_call *call, pay_done_fn done, void *arg,
		   int urgent, int64_t now);

static void cleanup_call(rpc_write *w)
{
	call_write *c = (call_write *)w;
	if (!c->s.busy)
		claim_release(c->s.order_id);
	if (c->s.close_after) /* a write that failed left it open: CLOSE skips it */
		enqueue(c->s.order_id, PAY_OP_CLOSE, NULL, NULL, NULL, 1, 0);
	if (c->s.flagged)
		count(&stats.counts.flagged_closed);
	free(c->s.packed);
}

/* ---- a background job: a mutation and a done callback ---- */

typedef struct bg_write {
	store_mutation m;
	record_state s;
	pay_done_fn done;
	void *arg;
} bg_write;

static int apply_bg(store_txn *txn, void *arg)
{
	return record(txn, &((bg_write *)arg)->s, NULL);
}

static void done_bg(void *arg, int rc)
{
	bg_write *b = arg;
	pay_outcome out = {.rc = rc,
			   .asked = b->s.asked,
			   .applied = rc == 0 ? b->s.applied : 0,
			   .status = b->s.status_after,
			   .res = b->s.res};
	claim_release(b->s.order_id);
	if (rc == 0 && b->s.close_after)
		enqueue(b->s.order_id, PAY_OP_CLOSE, NULL, NULL, NULL, 1, 0);
	if (rc == 0 && b->s.flagged)
		count(&stats.counts.flagged_closed);
	if (rc == 0 && b->s.applied && b->s.status_after != OSTATUS(PROCESSING) &&
	    b->s.status_after != OSTATUS(PENDING_PAYMENT))
		count(&stats.counts.settled);
	if (rc != 0)
		log_error("payments: cannot record the answer for order %s: %s", b->s.order_id,
			  store_strerror(rc));
	if (b->done)
		b->done(b->arg, &out);
	free(b);
}

/* ------------------------------------------------------------------------ */
/* Phase 2: the workers                                                      */

typedef struct pay_job {
	struct pay_job *next;
	char order_id[QUOTE_ID_MAX];
	pay_op op;
	rpc_call *call;
	pay_done_fn done;
	void *arg;
	int urgent;  /* a webhook's news: ask even inside a Retry-After */
	int64_t now; /* 0: the clock's when the job runs */
} pay_job;

static pthread_once_t pay_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pay_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pay_cond = PTHREAD_COND_INITIALIZER;
static pay_job *pay_head, **pay_tail = &pay_head;

void orders_pay_request(const store_order *o, int64_t now, pay_op op, pay_request *req)
{
	int attempt = op == PAY_OP_RETRY || op == PAY_OP_RECOVER;
	memset(req, 0, sizeof(*req));
	req->order_id = o->order_id;
	req->provider_key = o->provider_key && o->provider_key[0] ? o->provider_key : o->order_id;
	req->method = o->payment_method;
	req->amount = o->total;
	req->currency = o->currency;
	req->description = o->order_id;
	req->key_age_us = now - o->create_time;
	req->now_us = now;
	req->session = o->type == OTYPE(AUTO_RENEWAL) ? PAY_SESSION_OFF : PAY_SESSION_ON;
	if (o->session)
		req->session = o->session;
	req->stripe_payment_method_id = o->stripe_payment_method_id;
	req->stripe_customer_id = o->stripe_customer_id;
	req->stripe_payment_intent_id = o->stripe_payment_intent_id;
	req->paypal_order_id = o->paypal_order_id;
	if (attempt) {
		if (o->attempt_key && o->attempt_key[0])
			req->provider_key = o->attempt_key;
		if (o->attempt_method_id && o->attempt_method_id[0])
			req->stripe_payment_method_id = o->attempt_method_id;
		req->update_amount = o->provider_amount > 0 && o->provider_amount != o->total;
	} else if (o->provider_amount > 0) {
		req->amount = o->provider_amount; /* the payment as the provider holds it */
	}
}

/* Whether the provider must be asked about o for op. */
static int worth_asking(const store_order *o, const pay_job *j, int64_t now)
{
	switch (j->op) {
	case PAY_OP_CREATE:
	case PAY_OP_RESUME:
	case PAY_OP_CONFIRM:
		return is_open(o) &&
		       (j->call || j->urgent || pay_engine_not_before(o->order_id) == 0);
	case PAY_OP_CANCEL: return is_open(o);
	case PAY_OP_EXPIRE: return orders_overdue(o, now);
	case PAY_OP_CLOSE: return pay_engine_closed_unpaid(o);
	case PAY_OP_RETRY:
	case PAY_OP_RECOVER: return o->status == OSTATUS(PROCESSING);
	}
	return 0;
}

/* Every provider call of the engine goes through here: counted by
 * provider, operation and outcome, and timed (observe.h). */
static void provider_call(const pay_provider *p, const char *op,
			  void (*fn)(const pay_request *, pay_result *), const pay_request *req,
			  pay_result *res)
{
	int64_t t0 = mono_us();
	fn(req, res);
	observe_provider_call(p->sandbox                      ? "sandbox"
			      : req->method == METHOD(STRIPE) ? "stripe"
							      : "paypal",
			      op, pay_status_name(res->status), (double)(mono_us() - t0) / 1e6);
}

/* Phase 2 for one job, with the claim held: the provider's answer in s. */
static void ask(pay_job *j, record_state *s)
{
	store_txn *txn = NULL;
	store_order *o = NULL;
	pay_request req;
	const pay_provider *p;
	int64_t now = s->now;

	if (store_read_begin(billingd.store, &txn) != 0)
		return;
	if (store_order_get(txn, j->order_id, &o) != 0) {
		store_read_end(txn);
		return;
	}
	if (!worth_asking(o, j, now)) {
		store_read_end(txn);
		store_record_free(o);
		return;
	}
	/* An item changed under the order (deleted, re-created, moved): fail
	 * it before any money is taken (a create, or a PayPal capture). A card
	 * the buyer may have confirmed already is asked about; settlement then
	 * flags a captured payment for refund (orders_succeed). */
	if ((j->op == PAY_OP_CREATE || j->op == PAY_OP_RESUME || j->op == PAY_OP_RETRY ||
	     j->op == PAY_OP_RECOVER ||
	     (j->op == PAY_OP_CONFIRM && o->payment_method != METHOD(STRIPE))) &&
	    orders_lines_match(txn, o) == 0) {
		store_read_end(txn);
		s->res.status = PAY_DECLINED;
		snprintf(s->res.decline_code, sizeof(s->res.decline_code), "%s",
			 ORDERS_ITEM_CHANGED);
		s->asked = 1;
		store_record_free(o);
		return;
	}
	store_read_end(txn);
	if (o->payment_method != METHOD(STRIPE) && o->payment_method != METHOD(PAYPAL)) {
		/* No provider payment: nothing to ask, nothing to cancel. */
		s->res.status = j->op == PAY_OP_CANCEL || j->op == PAY_OP_EXPIRE ? PAY_CANCELED
										 : PAY_UNAVAILABLE;
		s->asked = 1;
		store_record_free(o);
		return;
	}
	/* A sandbox order is never sent to a live provider. */
	p = o->sandbox ? &pay_sandbox_provider : pay_provider_current();
	orders_pay_request(o, now, j->op, &req);
	if (j->op == PAY_OP_CANCEL)
		req.cancel_reason = "requested_by_customer";
	else if (j->op == PAY_OP_EXPIRE || j->op == PAY_OP_CLOSE)
		req.cancel_reason = "abandoned";
	req.resend = j->op == PAY_OP_RESUME;
	count(&stats.counts.asked);
	switch (j->op) {
	case PAY_OP_CREATE:
	case PAY_OP_RESUME: provider_call(p, "create", p->create, &req, &s->res); break;
	case PAY_OP_CONFIRM: provider_call(p, "confirm", p->confirm, &req, &s->res); break;
	case PAY_OP_RETRY:
	case PAY_OP_RECOVER: provider_call(p, "reconfirm", p->reconfirm, &req, &s->res); break;
	case PAY_OP_CANCEL:
	case PAY_OP_EXPIRE:
	case PAY_OP_CLOSE: /* never captures: a read, or a cancel */
		provider_call(p, "cancel", p->cancel, &req, &s->res);
		break;
	}
	s->asked = 1;
	if (s->res.status == PAY_UNAVAILABLE && s->res.retry_after_ms > 0)
		set_not_before(j->order_id, mono_us() + (int64_t)s->res.retry_after_ms * 1000);
	store_record_free(o);
	FAULT_POINT("payments.after_provider"); /* crash tests: answer lost */
}

static void run_job(pay_job *j)
{
	record_state s;
	int claimed;

	memset(&s, 0, sizeof(s));
	snprintf(s.order_id, sizeof(s.order_id), "%s", j->order_id);
	s.op = j->op;
	s.now = j->now ? j->now : clock_now_us();
	count(&stats.counts.jobs);
	claimed = j->call ? claim_wait(j->order_id, CLAIM_WAIT_MS) : claim_take(j->order_id);
	if (!claimed) {
		count(&stats.counts.busy);
		s.busy = 1;
	} else {
		ask(j, &s);
	}
	if (j->call) {
		call_write *c = write_new(j->call, sizeof(*c));
		c->s = s;
		c->w.apply = apply_call;
		c->w.reply = reply_call;
		c->w.cleanup = cleanup_call;
		write_submit(&c->w);
	} else if (!claimed) {
		pay_outcome out = {.asked = 0};
		if (j->done)
			j->done(j->arg, &out);
	} else {
		bg_write *b = xcalloc(1, sizeof(*b));
		if (!b ||
		    (b->s = s, b->done = j->done, b->arg = j->arg, b->m.apply = apply_bg,
		     b->m.done = done_bg, b->m.arg = b, store_submit(billingd.store, &b->m) != 0)) {
			pay_outcome out = {.rc = STORE_IO, .asked = s.asked, .res = s.res};
			free(b);
			claim_release(j->order_id);
			if (j->done)
				j->done(j->arg, &out);
		}
	}
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
	for (int i = 0; i < PAY_ENGINE_WORKERS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, pay_worker, NULL) == 0)
			pthread_detach(t);
	}
}

static int enqueue(const char *order_id, pay_op op, rpc_call *call, pay_done_fn done, void *arg,
		   int urgent, int64_t now)
{
	pay_job *j = xcalloc(1, sizeof(*j));
	if (!j)
		return -1;
	pthread_once(&pay_once, pay_start);
	snprintf(j->order_id, sizeof(j->order_id), "%s", order_id);
	j->op = op;
	j->call = call;
	j->done = done;
	j->arg = arg;
	j->urgent = urgent;
	j->now = now;
	pthread_mutex_lock(&pay_lock);
	*pay_tail = j;
	pay_tail = &j->next;
	pthread_cond_signal(&pay_cond);
	pthread_mutex_unlock(&pay_lock);
	return 0;
}

int pay_engine_submit(const char *order_id, pay_op op, pay_done_fn done, void *arg)
{
	return enqueue(order_id, op, NULL, done, arg, 0, 0);
}

void pay_engine_call(rpc_call *call, const char *order_id, pay_op op)
{
	if (enqueue(order_id, op, call, NULL, NULL, 0, 0) != 0)
		handler_fail_internal(call, "cannot queue the payment job");
}

/* ------------------------------------------------------------------------ */
/* Batches                                                                   */

typedef struct batch_impl {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t pending;
} batch_impl;

void pay_batch_init(pay_batch *b, pay_each_fn each, void *arg)
{
	batch_impl *i = xcalloc(1, sizeof(*i));
	if (i) {
		pthread_mutex_init(&i->lock, NULL);
		pthread_cond_init(&i->cond, NULL);
	}
	b->impl = i;
	b->each = each;
	b->arg = arg;
}

typedef struct batch_item {
	pay_batch *b;
	void *item;
} batch_item;

static void batch_done(void *arg, const pay_outcome *out)
{
	batch_item *bi = arg;
	pay_batch *b = bi->b;
	batch_impl *i = b->impl;
	if (b->each)
		b->each(b->arg, bi->item, out);
	free(bi);
	pthread_mutex_lock(&i->lock);
	if (--i->pending == 0)
		pthread_cond_broadcast(&i->cond);
	pthread_mutex_unlock(&i->lock);
}

int pay_batch_submit(pay_batch *b, const char *order_id, pay_op op, void *item)
{
	return pay_batch_submit_at(b, order_id, op, 0, item);
}

int pay_batch_submit_at(pay_batch *b, const char *order_id, pay_op op, int64_t now, void *item)
{
	batch_impl *i = b->impl;
	batch_item *bi = xmalloc(sizeof(*bi));
	if (!i || !bi) {
		free(bi);
		return -1;
	}
	bi->b = b;
	bi->item = item;
	pthread_mutex_lock(&i->lock);
	i->pending++;
	pthread_mutex_unlock(&i->lock);
	if (enqueue(order_id, op, NULL, batch_done, bi, 0, now) != 0) {
		free(bi);
		pthread_mutex_lock(&i->lock);
		i->pending--;
		pthread_mutex_unlock(&i->lock);
		return -1;
	}
	return 0;
}

void pay_batch_wait(pay_batch *b)
{
	batch_impl *i = b->impl;
	if (!i)
		return;
	pthread_mutex_lock(&i->lock);
	while (i->pending > 0)
		pthread_cond_wait(&i->cond, &i->lock);
	pthread_mutex_unlock(&i->lock);
	pthread_mutex_destroy(&i->lock);
	pthread_cond_destroy(&i->cond);
	free(i);
	b->impl = NULL;
}

/* ------------------------------------------------------------------------ */
/* Placing and webhooks                                                      */

void orders_reply_placed(rpc_call *call, const uint8_t *buf, size_t len, int pay)
{
	store_order *o = orders_unpack(buf, len);
	if (!o) {
		handler_fail_internal(call, "the packed order does not unpack");
		return;
	}
	if (pay)
		pay_engine_call(call, o->order_id, PAY_OP_CREATE); /* phases 2 and 3 */
	else
		orders_reply(call, o);
	store_record_free(o);
}

static int apply_dispute(store_txn *w, void *arg)
{
	store_order *o = NULL;
	int rc = store_order_get(w, arg, &o);
	if (rc == 0 && !o->disputed) {
		o->disputed = 1;
		o->update_time = clock_now_us();
		rc = store_order_put(w, o, 0);
		if (rc == 0)
			rc = events_order(w, EV_ORDER_DISPUTED, o);
	}
	store_record_free(o);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

int pay_engine_webhook(const webhook_event *ev)
{
	char id[64] = "";
	store_txn *txn = NULL;
	store_order *o = NULL;
	int rc, ours, closed;

	if (ev->order_id[0]) {
		snprintf(id, sizeof(id), "%s", ev->order_id);
	} else if (ev->payment_id[0]) {
		/* A charge or dispute event names the intent: its metadata names
		 * the order. */
		pay_request req = {.method = ev->method, .order_id = "", .currency = ""};
		pay_result res;
		if (ev->method == METHOD(STRIPE))
			req.stripe_payment_intent_id = ev->payment_id;
		else
			req.paypal_order_id = ev->payment_id;
		memset(&res, 0, sizeof(res));
		provider_call(pay_provider_current(), "lookup", pay_provider_current()->lookup,
			      &req, &res);
		if (res.status == PAY_UNAVAILABLE || res.status == PAY_OPERATOR_ERROR)
			return -1; /* cannot tell now: deliver again */
		snprintf(id, sizeof(id), "%s", res.order_ref);
	}
	if (strncmp(id, "ord_", 4) != 0 || strlen(id) >= QUOTE_ID_MAX)
		return 0; /* not one of billingd's payments */
	if (store_read_begin(billingd.store, &txn) != 0)
		return -1;
	rc = store_order_get(txn, id, &o);
	store_read_end(txn);
	ours = rc == 0 && o->payment_method == ev->method;
	closed = ours && pay_engine_closed_unpaid(o);
	store_record_free(o);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return -1;
	if (!ours)
		return 0;
	switch (ev->kind) {
	case WEBHOOK_PAYMENT: /* an ended order's payment moved: paid after all? */
		return enqueue(id, closed ? PAY_OP_CLOSE : PAY_OP_CONFIRM, NULL, NULL, NULL, 1, 0);
	case WEBHOOK_DISPUTE:
		rc = store_write_sync(billingd.store, apply_dispute, id);
		if (rc == 0) {
			count(&stats.counts.flagged_disputes);
			log_warn("payments: dispute %s opened on order %s (%lld %s)",
				 ev->capture_id, id, (long long)ev->amount, ev->currency);
		}
		return rc == 0 ? 0 : -1;
	case WEBHOOK_REFUND:
		log_info("payments: %s refunded %lld %s of order %s", ev->capture_id,
			 (long long)ev->amount, ev->currency, id);
		/* a hint: its credit notes still PENDING ask the provider */
		return refunds_settle_order(id);
	}
	return 0;
}
