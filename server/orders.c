/*
 * orders.c: BillingService GetOrder, ListOrders, CancelOrder, ConfirmOrder.
 * An order is visible to whoever may act on its payer. A read of an overdue
 * PENDING_PAYMENT order times it out in a write first (the sweeper does the
 * same for the rest); ConfirmOrder hands a pending or processing order to
 * the payments worker (order_payment.c), whose settle write answers.
 */
#include "orders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "handler.h"
#include "quote.h"
#include "rpc_handlers.h"
#include "write.h"

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
		handler_fail_store(call, rc);
		return 1;
	}
	if (may < 0) {
		handler_fail_store(call, may);
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
	orders_strings orig;

	if (rc)
		return rc;
	orig = orders_strings_save(o);
	if (orders_overdue(o, now)) {
		rc = orders_end(txn, o, OSTATUS(TIMED_OUT), "not paid within 24 hours", now);
		changed = 1;
	}
	if (rc == 0 && s->op == OP_CANCEL) {
		if (o->status != OSTATUS(PENDING_PAYMENT)) {
			const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
				&smartplus__billing__v1__order_status__descriptor, o->status);
			rc = write_fail(
				w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
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
	orders_strings_restore(o, &orig); /* failure_reason may be static text */
	store_record_free(o);
	return rc;
}

static void reply_op(rpc_write *w)
{
	op_write *s = (op_write *)w;
	store_order *o = orders_unpack(s->packed, s->packed_len);
	if (!o) {
		handler_fail_internal(w->call, "the packed order does not unpack");
		return;
	}
	orders_reply(w->call, o);
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
	if (orders_overdue(o, clock_now_us()))
		submit_op(call, o->order_id, OP_TIMEOUT);
	else
		orders_reply(call, o);
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
	if (orders_overdue(o, clock_now_us())) {
		submit_op(call, o->order_id, OP_TIMEOUT);
	} else if (o->status == OSTATUS(PENDING_PAYMENT) || o->status == OSTATUS(PROCESSING)) {
		orders_pay_start(call, o, 1); /* the job owns o */
		return;
	} else {
		orders_reply(call, o);
	}
	store_record_free(o);
}

static int order_matches(const store_order *o, const Smartplus__Billing__V1__ListOrdersRequest *req,
			 int64_t from, int64_t to, int64_t now)
{
	int status = orders_overdue(o, now) ? OSTATUS(TIMED_OUT) : o->status;
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

	if (handler_check_id(call, "payer_id", payer))
		return;
	if (handler_check_page_size(call, req->page_size))
		return;
	from = conv_us(req->start_time, &ok);
	to = conv_us(req->end_time, &ok);
	if (!ok) {
		BAD_ARG(call, "start_time/end_time: out of range");
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), payer), "payer_id"))
		goto done;
	rc = store_order_list_by_payer(txn, payer, req->page_size ? req->page_size : 50,
				       req->page_token, &l);
	if (rc) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.orders = arena_alloc(a, (l.n + 1) * sizeof(*r.orders));
	for (size_t i = 0; i < l.n; i++)
		if (order_matches(l.items[i], req, from, to, now))
			r.orders[r.n_orders++] = orders_conv(a, l.items[i], now);
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&l);
	store_read_end(txn);
}
