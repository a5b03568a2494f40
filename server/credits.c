/*
 * credits.c: BillingService AssignCredits, GetCreditBalance, ListCreditLogs
 * (DESIGN R14, R15), and the ledger moves of the order engine.
 *
 * The tree checks of AssignCredits run on the calling thread in a read
 * transaction (the tree only grows, so they stay true); the balance check
 * runs inside the writer's transaction, in ledger_transfer(), so two
 * assignments racing for one balance can never both take the last credits.
 *
 * The issuance account "vendor" may assign from its (negative) balance to
 * any descendant, a DISTRIBUTOR included: R14 names sub-distributors,
 * installers and property managers as receivers, but until PurchaseCredits
 * is served this is how credits enter the tree. Every other sender assigns
 * only to a strict descendant that is a SUB_DISTRIBUTOR, INSTALLER or
 * PROPERTY_MANAGER.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "credits.h"
#include "enums.h"
#include "events.h"
#include "handler.h"
#include "store_ledger.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"

#define LOG_PAGE_DEFAULT 50

/* ------------------------------------------------------------------------ */
/* For the order engine                                                      */

static int move(store_txn *w, const char *from, const char *to, int64_t credits, int kind,
		const char *order_id, const char *actor_id, char transfer_id[40])
{
	ledger_result res;
	int rc;

	if (transfer_id)
		transfer_id[0] = '\0';
	rc = ledger_transfer(w, from, to, credits, kind, order_id, actor_id, clock_now_us(), &res);
	if (rc == 0)
		rc = events_credits(w, &res, from, to, credits, kind, order_id, actor_id, NULL);
	if (rc == 0 && transfer_id)
		snprintf(transfer_id, 40, "%s", res.transfer_id);
	return rc;
}

int credits_spend(store_txn *w, const char *payer_id, int64_t credits, const char *order_id,
		  const char *actor_id, char transfer_id[40])
{
	if (!payer_id || !valid_id(payer_id))
		return STORE_INVALID;
	return move(w, payer_id, LEDGER_ISSUER, credits, LEDGER_SPEND, order_id, actor_id,
		    transfer_id);
}

int credits_grant(store_txn *w, const char *beneficiary_id, int64_t credits, const char *order_id,
		  const char *actor_id, char transfer_id[40])
{
	if (!beneficiary_id || !valid_id(beneficiary_id))
		return STORE_INVALID;
	return move(w, LEDGER_ISSUER, beneficiary_id, credits, LEDGER_PURCHASE, order_id, actor_id,
		    transfer_id);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* May `sender` assign credits to an account of role `role`? */
static int receiver_role_ok(const char *sender, int role)
{
	if (role == ROLE(SUB_DISTRIBUTOR) || role == ROLE(INSTALLER) ||
	    role == ROLE(PROPERTY_MANAGER))
		return 1;
	return role == ROLE(DISTRIBUTOR) && strcmp(sender, LEDGER_ISSUER) == 0;
}

/* ------------------------------------------------------------------------ */
/* AssignCredits                                                             */

typedef struct assign_write {
	rpc_write w;
	const char *from; /* into the request, valid until the call is finished */
	const char *to;
	int64_t credits;
	char actor[65];
	ledger_result res;
	events_path path; /* of `to`: its event's owners, read with the checks */
} assign_write;

static int apply_assign(store_txn *txn, rpc_write *w)
{
	assign_write *a = (assign_write *)w;
	int64_t balance = 0;
	int rc = ledger_transfer(txn, a->from, a->to, a->credits, LEDGER_ALLOCATION, "", a->actor,
				 clock_now_us(), &a->res);

	if (rc == LEDGER_INSUFFICIENT) {
		rc = ledger_balance(txn, a->from, &balance);
		if (rc != 0)
			return rc;
		rpc_error_meta(w->call, "balance", "%" PRId64, balance);
		rpc_error_meta(w->call, "requested", "%" PRId64, a->credits);
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_INSUFFICIENT_CREDITS,
				  "account '%s' has %" PRId64 " credits; %" PRId64
				  " were asked for",
				  a->from, balance, a->credits);
	}
	if (rc == STORE_INVALID)
		return write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				  "credits: %" PRId64 " would overflow the balance of '%s'",
				  a->credits, a->to);
	return rc ? rc
		  : events_credits(txn, &a->res, a->from, a->to, a->credits, LEDGER_ALLOCATION, "",
				   a->actor, &a->path);
}

static void reply_assign(rpc_write *w)
{
	assign_write *a = (assign_write *)w;
	Smartplus__Billing__V1__AssignCreditsResponse r =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_RESPONSE__INIT;

	r.transfer_id = a->res.transfer_id;
	r.from_balance = a->res.from_balance;
	r.to_balance = a->res.to_balance;
	rpc_reply(w->call, &r.base);
}

/* The tree checks of R14 on the calling thread; fails the call and returns
 * -1 unless `to` may receive credits from `from` on the caller's behalf.
 * Fills *path with the owners of the transfer's event (those of `to`, from
 * among them), so the writer does not read them. */
static int check_assign(rpc_call *call, store_txn *txn, const char *from, const char *to,
			events_path *path)
{
	const rpc_caller *me = rpc_call_caller(call);
	store_account *acct = NULL;
	int below = 0, rc, err = -1;

	if (auth_deny(call, auth_may_act(txn, me, from), "account_id"))
		goto done;
	if (strcmp(from, to) == 0) {
		BAD_ARG(call,
			"to_account_id: must be a strict descendant of '%s', not the sender itself",
			from);
		goto done;
	}
	if (auth_deny(call, auth_may_act(txn, me, to), "to_account_id"))
		goto done;
	rc = store_account_is_self_or_ancestor(txn, from, to, &below);
	if (rc == 0)
		rc = store_account_get(txn, to, &acct);
	if (rc == 0)
		rc = events_path_of(txn, to, path);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (!below) {
		BAD_ARG(call, "to_account_id: '%s' must be a strict descendant of '%s'", to, from);
		goto done;
	}
	if (!receiver_role_ok(from, acct->role)) {
		BAD_ARG(call,
			"to_account_id: '%s' is a %s; credits are assigned to sub-distributors, "
			"installers and property managers",
			to, conv_role_name(acct->role));
		goto done;
	}
	err = 0;
done:
	store_record_free(acct);
	return err;
}

void rpc_BillingService_AssignCredits(struct rpc_call *call,
				      const Smartplus__Billing__V1__AssignCreditsRequest *req)
{
	const rpc_caller *me = rpc_call_caller(call);
	const char *from = req->account_id[0] ? req->account_id : me->account_id;
	store_txn *txn;
	assign_write *a;

	if (handler_check_id(call, "account_id", from))
		return;
	if (handler_check_id(call, "to_account_id", req->to_account_id))
		return;
	if (req->credits < 1) {
		BAD_ARG(call, "credits: must be at least 1");
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	a = write_new(call, sizeof(*a));
	if (check_assign(call, txn, from, req->to_account_id, &a->path) != 0) {
		free(a);
	} else {
		a->from = from;
		a->to = req->to_account_id;
		a->credits = req->credits;
		snprintf(a->actor, sizeof(a->actor), "%s", me->account_id);
		a->w.apply = apply_assign;
		a->w.reply = reply_assign;
		write_submit(&a->w);
	}
	store_read_end(txn);
}

/* ------------------------------------------------------------------------ */
/* GetCreditBalance                                                          */

void rpc_BillingService_GetCreditBalance(struct rpc_call *call,
					 const Smartplus__Billing__V1__GetCreditBalanceRequest *req)
{
	const rpc_caller *me = rpc_call_caller(call);
	const char *account = req->account_id[0] ? req->account_id : me->account_id;
	Smartplus__Billing__V1__GetCreditBalanceResponse r =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_RESPONSE__INIT;
	store_txn *txn;
	int64_t balance;
	int rc;

	if (handler_check_id(call, "account_id", account))
		return;
	if (handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, me, account), "account_id"))
		goto done;
	rc = ledger_balance(txn, account, &balance);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	r.account_id = (char *)account;
	r.credits = balance;
	rpc_reply(call, &r.base);
done:
	store_read_end(txn);
}

/* ------------------------------------------------------------------------ */
/* ListCreditLogs                                                            */

/* One transfer as seen from `account`'s credit log. */
static Smartplus__Billing__V1__CreditLogEntry *conv_log_entry(arena *a, const char *account,
							      const ledger_transfer_rec *t)
{
	Smartplus__Billing__V1__CreditLogEntry *e = arena_alloc(a, sizeof(*e));
	int out = strcmp(t->from_id, account) == 0;

	smartplus__billing__v1__credit_log_entry__init(e);
	e->transfer_id = t->transfer_id;
	e->account_id = (char *)account;
	e->counterparty_id = out ? t->to_id : t->from_id;
	e->delta = out ? -t->credits : t->credits;
	e->balance_after = out ? t->from_balance_after : t->to_balance_after;
	e->kind = t->kind;
	e->order_id = t->order_id;
	e->actor_id = t->actor_id;
	e->create_time = conv_ts(a, t->create_time);
	return e;
}

void rpc_BillingService_ListCreditLogs(struct rpc_call *call,
				       const Smartplus__Billing__V1__ListCreditLogsRequest *req)
{
	const rpc_caller *me = rpc_call_caller(call);
	const char *account = req->account_id[0] ? req->account_id : me->account_id;
	Smartplus__Billing__V1__ListCreditLogsResponse r =
		SMARTPLUS__BILLING__V1__LIST_CREDIT_LOGS_RESPONSE__INIT;
	ledger_filter f = LEDGER_FILTER_INIT;
	store_list list = {0};
	arena *a = NULL;
	store_txn *txn;
	int ok_start, ok_end, rc;

	if (handler_check_id(call, "account_id", account))
		return;
	if (req->kind &&
	    !valid_enum(&smartplus__billing__v1__transfer_kind__descriptor, req->kind)) {
		BAD_ARG(call, "kind: unknown transfer kind %d", req->kind);
		return;
	}
	if (handler_check_page_size(call, req->page_size))
		return;
	f.kind = req->kind;
	f.start_us = conv_us(req->start_time, &ok_start);
	f.end_us = conv_us(req->end_time, &ok_end);
	if (!ok_start) {
		BAD_ARG(call, "start_time: out of range");
		return;
	}
	if (!ok_end) {
		BAD_ARG(call, "end_time: out of range");
		return;
	}
	if (req->start_time && req->end_time && f.end_us <= f.start_us) {
		BAD_ARG(call, "end_time: must be later than start_time");
		return;
	}
	if (f.start_us < 0) /* nothing happened before 1970 */
		f.start_us = 0;
	if (handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, me, account), "account_id"))
		goto done;
	if (req->end_time && f.end_us <= 0) { /* a window that ends by 1970 */
		r.next_page_token = "";
		rpc_reply(call, &r.base);
		goto done;
	}
	rc = ledger_list_logs(txn, account, &f, req->page_size ? req->page_size : LOG_PAGE_DEFAULT,
			      req->page_token, &list);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.entries = arena_alloc(a, (list.n + 1) * sizeof(*r.entries));
	for (size_t i = 0; i < list.n; i++)
		r.entries[r.n_entries++] = conv_log_entry(a, account, list.items[i]);
	r.next_page_token = list.next_page_token ? list.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&list);
	store_read_end(txn);
}
