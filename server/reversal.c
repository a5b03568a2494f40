/*
 * reversal.c: InvoiceService.ReverseAllocation — a parent takes back
 * credits it assigned with AssignCredits.
 *
 * The ledger stays append-only: the original ALLOCATION is never changed;
 * a correcting ALLOCATION from the receiver back to the sender names it,
 * and a running total per original (ledger.h, 'R') caps what can ever be
 * taken back at what it moved. The receiver's balance is read and debited
 * inside the writer's transaction (ledger_reverse), so a reversal racing a
 * spend or a further assignment by the receiver takes only what is still
 * unspent when it runs, and never makes a balance negative.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "store_ledger.h"
#include "enums.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"

typedef struct reverse_write {
	rpc_write w;
	char transfer_id[LEDGER_ID_MAX];
	int64_t credits;
	char actor[65];
	ledger_result res;
	int64_t moved, remaining;
} reverse_write;

static int apply_reverse(store_txn *txn, rpc_write *w)
{
	reverse_write *r = (reverse_write *)w;
	ledger_transfer_rec *t = NULL;
	int64_t taken = 0;
	int rc = ledger_reverse(txn, r->transfer_id, r->credits, r->actor, clock_now_us(), &r->res,
				&r->remaining);

	if (rc == 0) {
		ledger_transfer_rec *nt = NULL;
		rc = ledger_transfer_get(txn, r->res.transfer_id, &nt);
		if (rc == 0)
			r->moved = nt->credits;
		store_record_free(nt);
		return rc;
	}
	if (rc != LEDGER_NOT_REVERSIBLE && rc != LEDGER_INSUFFICIENT)
		return rc;
	if (ledger_transfer_get(txn, r->transfer_id, &t) != 0 ||
	    ledger_reversed(txn, r->transfer_id, &taken) != 0) {
		store_record_free(t);
		return STORE_IO;
	}
	if (rc == LEDGER_NOT_REVERSIBLE)
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, NULL,
				"transfer_id: %s is %s; only an ALLOCATION can be reversed",
				r->transfer_id,
				t->reverses[0] ? "itself a correction" : "not an ALLOCATION");
	else if (taken >= t->credits)
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_INSUFFICIENT_CREDITS,
				"all %" PRId64 " credits of %s were taken back already", t->credits,
				r->transfer_id);
	else
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_INSUFFICIENT_CREDITS,
				"'%s' has no unspent credits to give back", t->to_id);
	store_record_free(t);
	return rc;
}

static void reply_reverse(rpc_write *w)
{
	reverse_write *r = (reverse_write *)w;
	Smartplus__Billing__V1__ReverseAllocationResponse resp =
		SMARTPLUS__BILLING__V1__REVERSE_ALLOCATION_RESPONSE__INIT;

	resp.transfer_id = r->res.transfer_id;
	resp.credits = r->moved;
	resp.to_balance = r->res.to_balance;
	resp.from_balance = r->res.from_balance;
	resp.remaining = r->remaining;
	rpc_reply(w->call, &resp.base);
}

void rpc_InvoiceService_ReverseAllocation(
	struct rpc_call *call, const Smartplus__Billing__V1__ReverseAllocationRequest *req)
{
	const rpc_caller *me = rpc_call_caller(call);
	ledger_transfer_rec *t = NULL;
	reverse_write *r;
	store_txn *txn;
	int rc, may = 0;

	if (strncmp(req->transfer_id, "trf_", 4) != 0 ||
	    strlen(req->transfer_id) >= LEDGER_ID_MAX || !valid_id(req->transfer_id)) {
		BAD_ARG(call, "transfer_id: not a transfer id (trf_...)");
		return;
	}
	if (req->credits < 0) {
		BAD_ARG(call, "credits: must be 0 (as many as possible) or more");
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	/* The sender, or an account acting above it, may take back. */
	rc = ledger_transfer_get(txn, req->transfer_id, &t);
	if (rc == 0)
		may = auth_may_act(txn, me, t->from_id);
	store_read_end(txn);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, may, "transfer_id"))
		goto done;
	r = write_new(call, sizeof(*r));
	snprintf(r->transfer_id, sizeof(r->transfer_id), "%s", req->transfer_id);
	r->credits = req->credits;
	snprintf(r->actor, sizeof(r->actor), "%s", me->account_id);
	r->w.apply = apply_reverse;
	r->w.reply = reply_reverse;
	write_submit(&r->w);
done:
	store_record_free(t);
}
