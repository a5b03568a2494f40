/*
 * orders.c: BillingService GetOrder, ListOrders, CancelOrder, ConfirmOrder.
 * An order is visible to whoever may act on its payer. A read of an overdue
 * PENDING_PAYMENT order has the payment engine (order_payment.c) cancel it
 * at the provider and time it out first (the sweeper does the same for the
 * rest); ConfirmOrder and CancelOrder are payment-engine jobs, whose
 * phase-3 write answers the call.
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

void rpc_BillingService_GetOrder(struct rpc_call *call,
				 const Smartplus__Billing__V1__GetOrderRequest *req)
{
	store_order *o;
	if (load_order(call, req->order_id, &o))
		return;
	if (orders_overdue(o, clock_now_us()))
		pay_engine_call(call, o->order_id,
				PAY_OP_EXPIRE); /* cancel at the provider first */
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
	/* Under the order's claim: the provider's cancel first; a payment that
	 * already succeeded makes the order SUCCEEDED instead. */
	pay_engine_call(call, o->order_id, PAY_OP_CANCEL);
	store_record_free(o);
}

void rpc_BillingService_ConfirmOrder(struct rpc_call *call,
				     const Smartplus__Billing__V1__ConfirmOrderRequest *req)
{
	store_order *o;
	if (load_order(call, req->order_id, &o))
		return;
	if (orders_overdue(o, clock_now_us()))
		pay_engine_call(call, o->order_id, PAY_OP_EXPIRE);
	else if (o->status == OSTATUS(PENDING_PAYMENT) || o->status == OSTATUS(PROCESSING))
		pay_engine_call(call, o->order_id, PAY_OP_CONFIRM);
	else if (pay_engine_closed_unpaid(o)) /* paid at the provider after it ended? */
		pay_engine_call(call, o->order_id, PAY_OP_CLOSE);
	else
		orders_reply(call, o);
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
