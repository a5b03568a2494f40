/*
 * payment_requests.c: BillingService RequestPayment, ApprovePaymentRequest,
 * DeclinePaymentRequest, ListPaymentRequests, and the expiry of requests
 * with their quote (see payment_requests.h).
 *
 * Who may do what: a request is made by the account that quoted (the
 * quote's caller), to a strict ancestor that is the quote's payer; it is
 * answered by whoever may act for that payer (it, or an account above it);
 * it is listed by whoever may act for the requester (outgoing) or the payer
 * (incoming). Anything else is the AIP-211 PERMISSION_DENIED, whether or
 * not the request exists.
 */
#include "payment_requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "events.h"
#include "handler.h"
#include "log.h"
#include "order_place.h"
#include "quote.h"
#include "quote_token.h"
#include "rpc_handlers.h"
#include "store_renewal.h"
#include "write.h"
#include "xalloc.h"

#define EXPIRE_BATCH 128

/* The status a request reads as at now: PENDING past its quote's expiry
 * is EXPIRED (the scheduler records it soon after). */
static int status_at(const store_payreq *r, int64_t now)
{
	if (r->status == PRSTATUS(PENDING) && now >= r->expire_time)
		return PRSTATUS(EXPIRED);
	return r->status;
}

/* payment_request.* for r: subject "paymentRequests/<id>", seen by the
 * requester's and the payer's paths; one per request and kind. */
static int payreq_event(store_txn *w, const char *kind, const store_payreq *r, const char *actor)
{
	char subject[80];
	snprintf(subject, sizeof(subject), "paymentRequests/%s", r->request_id);
	return events_emit(w, kind, subject, r->request_id, actor, r->requester_id, r->payer_id,
			   NULL);
}

static Smartplus__Billing__V1__PaymentRequest *conv(arena *a, const store_payreq *r, int64_t now)
{
	Smartplus__Billing__V1__PaymentRequest *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__payment_request__init(m);
	m->payment_request_id = r->request_id;
	m->requester_id = r->requester_id;
	m->payer_id = r->payer_id;
	m->quote_id = r->quote_id;
	m->status = status_at(r, now);
	m->action = r->action;
	m->installer_id = r->installer_id;
	m->project_type = r->project_type;
	m->lines = arena_alloc(a, (r->n_lines + 1) * sizeof(*m->lines));
	for (size_t i = 0; i < r->n_lines; i++)
		m->lines[m->n_lines++] = quote_conv_line(a, r->lines[i]);
	m->total = r->total;
	m->currency = r->currency;
	m->credits_total = r->credits_total;
	m->note = r->note;
	m->decline_reason = r->decline_reason;
	m->order_id = r->order_id;
	m->create_time = conv_ts(a, r->create_time);
	m->expire_time = conv_ts(a, r->expire_time);
	m->update_time = conv_ts(a, r->update_time);
	return m;
}

/* A write that answers with one request, packed at apply time (R17). */
typedef struct payreq_write {
	rpc_write w;
	rpc_caller caller;
	const char *id;         /* Approve/Decline: the request */
	const char *quote_id;   /* RequestPayment */
	const char *to_account; /* RequestPayment */
	const char *text;       /* note, or decline reason */
	uint8_t *packed;
	size_t packed_len;
} payreq_write;

static int pack(payreq_write *s, const store_payreq *r, int64_t now)
{
	Smartplus__Billing__V1__RequestPaymentResponse resp =
		SMARTPLUS__BILLING__V1__REQUEST_PAYMENT_RESPONSE__INIT;
	arena *a = arena_new();
	resp.payment_request = conv(a, r, now);
	free(s->packed);
	s->packed_len = protobuf_c_message_get_packed_size(&resp.base);
	s->packed = xmalloc(s->packed_len ? s->packed_len : 1);
	protobuf_c_message_pack(&resp.base, s->packed);
	arena_free(a);
	return 0;
}

/* Every response here is { PaymentRequest payment_request = 1; }: the
 * packed RequestPaymentResponse is read as the RPC's own output type. */
static void reply_packed(rpc_write *w)
{
	payreq_write *s = (payreq_write *)w;
	const ProtobufCMessageDescriptor *d = rpc_call_method(w->call)->output;
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, s->packed_len, s->packed);
	if (!m) {
		handler_fail_internal(w->call, "the packed request does not unpack");
		return;
	}
	rpc_reply(w->call, m);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void cleanup_packed(rpc_write *w)
{
	free(((payreq_write *)w)->packed);
}

/* ------------------------------------------------------------------------ */
/* RequestPayment                                                            */

static int apply_request(store_txn *txn, rpc_write *w)
{
	payreq_write *s = (payreq_write *)w;
	store_payreq r = STORE_PAYREQ_INIT;
	store_quote *q = NULL;
	quote_calc calc = {0};
	quote_err err = {0};
	unsigned char digest[32];
	char short_id[QUOTE_SHORT_ID_LEN + 1], id[QUOTE_ID_MAX];
	int64_t now = clock_now_us();
	const char *requester;
	int rc = 0, anc = 0, may = 0;

	/* A forged or garbled token, and the quote of an account the caller
	 * may not act for, read alike. */
	if (quote_token_open(s->quote_id, &q, short_id) != 0 ||
	    (may = auth_may_act(txn, &s->caller, q->caller_id)) == 0) {
		rc = write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED, "quote_id");
		goto done;
	}
	if (may < 0) {
		rc = may;
		goto done;
	}
	requester = q->caller_id;
	rc = store_account_is_self_or_ancestor(txn, s->to_account, requester, &anc);
	if (rc < 0 && rc != STORE_NOTFOUND)
		goto done;
	if (rc == 0 && (!anc || strcmp(s->to_account, requester) == 0) &&
	    (may = auth_may_act(txn, &s->caller, s->to_account)) != 0) {
		/* the requester itself or an account the caller sees below */
		rc = may < 0 ? may
			     : write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, NULL,
					  "to_account_id: '%s' is not an account above the "
					  "requester '%s'",
					  s->to_account, requester);
		goto done;
	}
	if (rc == STORE_NOTFOUND || !anc) {
		rc = write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
				"to_account_id");
		goto done;
	}
	if (strcmp(q->input->payer_id, s->to_account) != 0) {
		rc = write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				"quote_id: quoted for payer '%s'; quote with payer_id '%s' to ask "
				"it",
				q->input->payer_id, s->to_account);
		goto done;
	}
	if (now >= q->expire_time) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_QUOTE_STALE,
				"quote %.28s expired; ask for a new quote", s->quote_id);
		goto done;
	}
	/* The lines, as of now, as the requester sees them; they must be what
	 * was quoted. */
	rc = quote_compute(txn, &s->caller, q->input, now, &calc, &err);
	if (rc > 0) {
		rc = write_fail(w, err.code, err.reason, "%s", err.msg);
		goto done;
	}
	if (rc)
		goto done;
	quote_charge_digest(&calc.rec, digest);
	if (calc.rec.price_list_version != q->price_list_version ||
	    memcmp(digest, q->charge_digest.data, sizeof(digest)) != 0) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_QUOTE_STALE,
				"the items or amounts changed since quote %.28s; ask for a new "
				"quote",
				s->quote_id);
		goto done;
	}
	if (quote_new_id("prq_", id) != 0) {
		rc = STORE_IO;
		goto done;
	}
	r.request_id = id;
	r.requester_id = (char *)requester;
	r.payer_id = (char *)s->to_account;
	r.quote_id = (char *)s->quote_id;
	r.status = PRSTATUS(PENDING);
	r.action = q->input->action;
	r.installer_id = q->input->installer_id;
	r.project_type = q->input->project_type;
	r.total = q->total;
	r.currency = q->currency;
	r.credits_total = q->credits_total;
	r.note = (char *)s->text;
	r.create_time = now;
	r.update_time = now;
	r.expire_time = q->expire_time;
	r.lines = calc.rec.lines;
	r.n_lines = calc.rec.n_lines;
	rc = store_payreq_put(txn, &r, 1);
	if (rc == 0)
		rc = payreq_event(txn, EV_PAYMENT_REQUEST_CREATED, &r, s->caller.account_id);
	if (rc == 0)
		rc = pack(s, &r, now);
done:
	quote_calc_free(&calc);
	store_record_free(q);
	return rc;
}

void rpc_BillingService_RequestPayment(struct rpc_call *call,
				       const Smartplus__Billing__V1__RequestPaymentRequest *req)
{
	payreq_write *s;

	if (strncmp(req->quote_id, "quo_", 4) != 0) {
		BAD_ARG(call, "quote_id: not a quote id");
		return;
	}
	if (handler_check_id(call, "to_account_id", req->to_account_id))
		return;
	s = write_new(call, sizeof(*s));
	s->caller = *rpc_call_caller(call);
	s->quote_id = req->quote_id;
	s->to_account = req->to_account_id;
	s->text = req->note;
	s->w.apply = apply_request;
	s->w.reply = reply_packed;
	s->w.cleanup = cleanup_packed;
	write_submit(&s->w);
}

/* ------------------------------------------------------------------------ */
/* Answering                                                                 */

/* Loads request id for an answer by s->caller: the caller may act for its
 * payer, and it is PENDING. 0 with *out, or a write_fail() code / STORE_*. */
static int load_pending(store_txn *txn, rpc_write *w, const rpc_caller *caller, const char *id,
			int64_t now, store_payreq **out)
{
	int rc = store_payreq_get(txn, id, out), may = 0;
	if (rc == 0)
		may = auth_may_act(txn, caller, (*out)->payer_id);
	if (rc == STORE_NOTFOUND || (rc == 0 && may == 0))
		rc = write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
				"payment_request_id");
	else if (rc == 0 && may < 0)
		rc = may;
	else if (rc == 0 && status_at(*out, now) != PRSTATUS(PENDING)) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			&smartplus__billing__v1__payment_request_status__descriptor,
			status_at(*out, now));
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_PAYMENT_REQUEST_STATE,
				"payment request '%s' is %s; only a PENDING request can be "
				"answered",
				id, v ? v->name + strlen("PAYMENT_REQUEST_STATUS_") : "?");
	}
	if (rc) {
		store_record_free(*out);
		*out = NULL;
	}
	return rc;
}

/* The order placed from the request's quote (orders_place_quote's `then`,
 * in its transaction): the request is APPROVED with it. */
static int approved(store_txn *txn, rpc_write *w, const char *order_id, const char *request_id)
{
	const rpc_caller *caller = rpc_call_caller(w->call);
	int64_t now = clock_now_us();
	store_payreq *r = NULL;
	int rc = store_payreq_get(txn, request_id, &r);

	if (rc == 0 && r->status == PRSTATUS(APPROVED) && strcmp(r->order_id, order_id) == 0) {
		store_record_free(r); /* found again: a retry */
		return 0;
	}
	store_record_free(r);
	r = NULL;
	rc = load_pending(txn, w, caller, request_id, now, &r);
	if (rc)
		return rc;
	r->status = PRSTATUS(APPROVED);
	store_str_set(&r->order_id, order_id);
	r->update_time = now;
	rc = store_payreq_put(txn, r, 0);
	if (rc == 0)
		rc = payreq_event(txn, EV_PAYMENT_REQUEST_APPROVED, r, caller->account_id);
	store_record_free(r);
	return rc;
}

void rpc_BillingService_ApprovePaymentRequest(
	struct rpc_call *call, const Smartplus__Billing__V1__ApprovePaymentRequestRequest *req)
{
	const rpc_caller *caller = rpc_call_caller(call);
	store_txn *txn = NULL;
	store_payreq *r = NULL;
	int rc, may = 0;

	if (handler_check_id(call, "payment_request_id", req->payment_request_id))
		return;
	if (orders_check_payment_args(call, req->payment_method, req->billing_info,
				      req->terms_accepted, req->stripe_payment_method_id,
				      req->stripe_customer_id))
		return;
	if (handler_read_begin(call, &txn))
		return;
	rc = store_payreq_get(txn, req->payment_request_id, &r);
	if (rc == 0)
		may = auth_may_act(txn, caller, r->payer_id);
	store_read_end(txn);
	if (rc && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
	} else if (rc == STORE_NOTFOUND || may <= 0) {
		auth_deny(call, rc == STORE_NOTFOUND ? 0 : may, "payment_request_id");
	} else if (status_at(r, clock_now_us()) == PRSTATUS(DECLINED) ||
		   status_at(r, clock_now_us()) == PRSTATUS(EXPIRED)) {
		/* answered or lapsed: said before anything about its quote (an
		 * APPROVED one goes on: a retry finds its order again) */
		rpc_fail(call, GRPC_STATUS_FAILED_PRECONDITION, REASON_PAYMENT_REQUEST_STATE,
			 "payment request '%s' is %s; only a PENDING request can be approved",
			 r->request_id,
			 status_at(r, clock_now_us()) == PRSTATUS(DECLINED) ? "DECLINED"
									    : "EXPIRED");
	} else {
		/* The order is placed from the quote as its payer's own renewal or
		 * activation would be; `approved` records the answer with it. */
		orders_place_quote(call, r->action, r->quote_id, req->payment_method,
				   req->billing_info, req->terms_accepted,
				   req->stripe_payment_method_id, req->stripe_customer_id, approved,
				   r->request_id);
	}
	store_record_free(r);
}

static int apply_decline(store_txn *txn, rpc_write *w)
{
	payreq_write *s = (payreq_write *)w;
	int64_t now = clock_now_us();
	store_payreq *r = NULL;
	int rc = load_pending(txn, w, &s->caller, s->id, now, &r);

	if (rc)
		return rc;
	r->status = PRSTATUS(DECLINED);
	store_str_set(&r->decline_reason, s->text);
	r->update_time = now;
	rc = store_payreq_put(txn, r, 0);
	if (rc == 0)
		rc = payreq_event(txn, EV_PAYMENT_REQUEST_DECLINED, r, s->caller.account_id);
	if (rc == 0)
		rc = pack(s, r, now);
	store_record_free(r);
	return rc;
}

void rpc_BillingService_DeclinePaymentRequest(
	struct rpc_call *call, const Smartplus__Billing__V1__DeclinePaymentRequestRequest *req)
{
	payreq_write *s;

	if (handler_check_id(call, "payment_request_id", req->payment_request_id))
		return;
	s = write_new(call, sizeof(*s));
	s->caller = *rpc_call_caller(call);
	s->id = req->payment_request_id;
	s->text = req->reason;
	s->w.apply = apply_decline;
	s->w.reply = reply_packed;
	s->w.cleanup = cleanup_packed;
	write_submit(&s->w);
}

/* ------------------------------------------------------------------------ */
/* ListPaymentRequests                                                       */

void rpc_BillingService_ListPaymentRequests(
	struct rpc_call *call, const Smartplus__Billing__V1__ListPaymentRequestsRequest *req)
{
	const rpc_caller *caller = rpc_call_caller(call);
	const char *account = req->account_id[0] ? req->account_id : caller->account_id;
	int outgoing =
		req->direction ==
		SMARTPLUS__BILLING__V1__PAYMENT_REQUEST_DIRECTION__PAYMENT_REQUEST_DIRECTION_OUTGOING;
	Smartplus__Billing__V1__ListPaymentRequestsResponse resp =
		SMARTPLUS__BILLING__V1__LIST_PAYMENT_REQUESTS_RESPONSE__INIT;
	int64_t now = clock_now_us();
	store_txn *txn = NULL;
	store_list l = {0};
	arena *a;
	int rc, may;

	if (req->account_id[0] && handler_check_id(call, "account_id", req->account_id))
		return;
	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	may = auth_may_act(txn, caller, account);
	if (may <= 0) {
		store_read_end(txn);
		auth_deny(call, may, "account_id");
		return;
	}
	rc = outgoing ? store_payreq_list_by_requester(txn, account, req->page_size,
						       req->page_token, &l)
		      : store_payreq_list_by_payer(txn, account, req->page_size, req->page_token,
						   &l);
	store_read_end(txn);
	if (rc) {
		handler_fail_store(call, rc);
		return;
	}
	a = arena_new();
	resp.payment_requests = arena_alloc(a, (l.n + 1) * sizeof(*resp.payment_requests));
	for (size_t i = 0; i < l.n; i++) {
		const store_payreq *r = l.items[i];
		if (req->status && status_at(r, now) != (int)req->status)
			continue; /* the filter applies within the page */
		resp.payment_requests[resp.n_payment_requests++] = conv(a, r, now);
	}
	resp.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &resp.base);
	arena_free(a);
	store_list_free(&l);
}

/* ------------------------------------------------------------------------ */
/* Expiry                                                                    */

typedef struct expiry {
	int64_t now;
	store_list *due;
	int marked;
} expiry;

static int apply_expire(store_txn *w, void *arg)
{
	expiry *e = arg;
	int rc = 0;
	e->marked = 0;
	for (size_t i = 0; rc == 0 && i < e->due->n; i++) {
		store_payreq *r = NULL;
		rc = store_payreq_get(w, ((store_payreq *)e->due->items[i])->request_id, &r);
		if (rc == 0 && r->status == PRSTATUS(PENDING) && r->expire_time <= e->now) {
			r->status = PRSTATUS(EXPIRED);
			r->update_time = e->now;
			rc = store_payreq_put(w, r, 0);
			if (rc == 0)
				rc = payreq_event(w, EV_PAYMENT_REQUEST_EXPIRED, r, NULL);
			e->marked++;
		}
		if (rc == STORE_NOTFOUND)
			rc = 0;
		store_record_free(r);
	}
	return rc;
}

int payreq_expire_due(int64_t now)
{
	int total = 0;
	for (;;) {
		store_txn *txn = NULL;
		store_list l = {0};
		expiry e = {.now = now, .due = &l};
		int rc = store_read_begin(billingd.store, &txn);
		if (rc == 0)
			rc = store_payreq_expiring(txn, now, EXPIRE_BATCH, &l);
		store_read_end(txn);
		if (rc == 0 && l.n)
			rc = store_write_sync(billingd.store, apply_expire, &e);
		store_list_free(&l);
		if (rc)
			return rc;
		total += e.marked;
		if (e.marked < EXPIRE_BATCH)
			break;
	}
	if (total)
		log_info("payment requests: %d expired with their quote", total);
	return total;
}

int64_t payreq_next_expiry(store_txn *txn)
{
	store_list l = {0};
	int64_t t = 0;
	if (store_payreq_expiring(txn, INT64_MAX, 1, &l) == 0 && l.n)
		t = ((store_payreq *)l.items[0])->expire_time;
	store_list_free(&l);
	return t;
}
