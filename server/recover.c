/*
 * recover.c: BillingService.RecoverRenewal — paying a failed automatic
 * renewal with the buyer present (issue 16).
 *
 * A renewal group's order whose off-session attempt was declined or needed
 * 3-D Secure stays PENDING_PAYMENT and recoverable, with its one
 * PaymentIntent. RecoverRenewal confirms that same intent again, on-session
 * (so Stripe may ask for 3-D Secure; with stripe_payment_method_id, with
 * another card of the group's customer), under the attempt's own key, as a
 * payment-engine job whose phase 3 answers the call: the order, what the
 * buyer must do next (RecoveryStep) and the client secret. Once the buyer
 * has authenticated, ConfirmOrder (or the provider's webhook) settles it,
 * and the order's effects extend every line's item exactly once. A credits
 * renewal is simply spent again. The retry schedule goes on meanwhile; a
 * retry waits an hour after the buyer's last RecoverRenewal so as not to
 * undo a 3-D Secure challenge in progress.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "credits.h"
#include "enums.h"
#include "handler.h"
#include "order_effects.h"
#include "order_payment.h"
#include "order_record.h"
#include "quote.h"
#include "rpc_handlers.h"
#include "write.h"

#define RESUME_US (10 * 60 * INT64_C(1000000))

typedef struct recover_write {
	rpc_write w;
	rpc_caller caller;
	const char *order_id;
	const char *pm;
	int job; /* phase 2 follows: the write is intermediate */
	uint8_t *packed;
	size_t packed_len;
} recover_write;

static const char *status_name(int status)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&smartplus__billing__v1__order_status__descriptor, status);
	return v ? v->name + strlen("ORDER_STATUS_") : "?";
}

/* A credits renewal: the credits spent now, or nothing changed. */
static int recover_credits(store_txn *txn, recover_write *s, store_order *o, int64_t now)
{
	char transfer[40] = "", *kept = o->transfer_id;
	int rc;

	o->transfer_id = transfer;
	rc = credits_spend(txn, o->payer_id, o->credits_total, o->order_id, s->caller.account_id,
			   transfer);
	if (rc == LEDGER_INSUFFICIENT) {
		rpc_error_meta(s->w.call, "requested", "%lld", (long long)o->credits_total);
		rc = write_fail(&s->w, GRPC_STATUS_FAILED_PRECONDITION, REASON_INSUFFICIENT_CREDITS,
				"payer '%s' has fewer than the %lld credits this renewal costs",
				o->payer_id, (long long)o->credits_total);
	} else if (rc == 0) {
		o->attempts++;
		rc = orders_succeed(txn, o, now);
	}
	if (rc == 0)
		rc = store_order_put(txn, o, 0);
	if (rc == 0)
		rc = orders_pack(o, &s->packed, &s->packed_len);
	o->transfer_id = kept;
	return rc;
}

static int apply_recover(store_txn *txn, rpc_write *w)
{
	recover_write *s = (recover_write *)w;
	store_order *o = NULL;
	orders_strings orig;
	int64_t now = clock_now_us();
	char key[QUOTE_ID_MAX + 16];
	int rc = store_order_get(txn, s->order_id, &o), may = 0;

	s->job = 0;
	w->intermediate = 0;
	if (rc == 0)
		may = auth_may_act(txn, &s->caller, o->payer_id);
	if (rc == STORE_NOTFOUND || (rc == 0 && may == 0)) {
		store_record_free(o);
		return write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED, "order_id");
	}
	if (rc || may < 0) {
		store_record_free(o);
		return rc ? rc : may;
	}
	orig = orders_strings_save(o);
	if (o->type != OTYPE(AUTO_RENEWAL) || !o->group_id[0]) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
				"order_id: order %s is not a renewal group's automatic renewal",
				o->order_id);
	} else if (o->status == OSTATUS(SUCCEEDED) || o->status == OSTATUS(PROCESSING) ||
		   (o->status == OSTATUS(PENDING_PAYMENT) && o->session == PAY_SESSION_ON &&
		    !s->pm[0] && strcmp(o->failure_reason, "authentication_required") == 0)) {
		/* paid, at the provider now, or waiting for the buyer's 3-D
		 * Secure: as it stands */
		rc = orders_pack(o, &s->packed, &s->packed_len);
	} else if (o->status != OSTATUS(PENDING_PAYMENT)) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
				"order %s is %s: its items are no longer renewed automatically; "
				"renew them by hand",
				o->order_id, status_name(o->status));
	} else if (o->n_lines == 0) {
		rc = write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ORDER_STATE,
				"order %s has nothing left to pay: its items were renewed or "
				"removed otherwise",
				o->order_id);
	} else if (o->payment_method == METHOD(CREDITS)) {
		rc = s->pm[0] ? write_fail(w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
					   "stripe_payment_method_id: order %s is paid in credits",
					   o->order_id)
			      : recover_credits(txn, s, o, now);
	} else {
		o->attempts++;
		snprintf(key, sizeof(key), "%s-v%d", o->order_id, o->attempts);
		store_str_set(&o->attempt_key, key);
		store_str_set(&o->attempt_method_id, s->pm);
		o->session = PAY_SESSION_ON;
		o->status = OSTATUS(PROCESSING);
		o->recover_time = now;
		o->update_time = now;
		o->next_attempt = now + RESUME_US;
		rc = store_order_put(txn, o, 0);
		if (rc == 0) {
			s->job = 1;
			w->intermediate = 1; /* the payment job's phase 3 answers */
			snprintf(w->resume_ref, sizeof(w->resume_ref), "%s", o->order_id);
		}
	}
	orders_strings_restore(o, &orig);
	store_record_free(o);
	return rc;
}

static void reply_recover(rpc_write *w)
{
	recover_write *s = (recover_write *)w;
	store_order *o;
	if (s->job) {
		pay_engine_call(w->call, s->order_id, PAY_OP_RECOVER); /* phases 2 and 3 */
		return;
	}
	o = orders_unpack(s->packed, s->packed_len);
	if (!o) {
		handler_fail_internal(w->call, "the packed order does not unpack");
		return;
	}
	orders_reply(w->call, o);
	store_record_free(o);
}

static void cleanup_recover(rpc_write *w)
{
	free(((recover_write *)w)->packed);
}

void rpc_BillingService_RecoverRenewal(struct rpc_call *call,
				       const Smartplus__Billing__V1__RecoverRenewalRequest *req)
{
	recover_write *s;

	if (strncmp(req->order_id, "ord_", 4) != 0 || strlen(req->order_id) >= QUOTE_ID_MAX) {
		BAD_ARG(call, "order_id: not an order id");
		return;
	}
	if (req->stripe_payment_method_id[0] && strncmp(req->stripe_payment_method_id, "pm_", 3)) {
		BAD_ARG(call, "stripe_payment_method_id: a Stripe payment method id (pm_...)");
		return;
	}
	s = write_new(call, sizeof(*s));
	s->caller = *rpc_call_caller(call);
	s->order_id = req->order_id;
	s->pm = req->stripe_payment_method_id;
	s->w.apply = apply_recover;
	s->w.reply = reply_recover;
	s->w.cleanup = cleanup_recover;
	write_submit(&s->w);
}
