/*
 * live_provider.c: the order engine's provider interface (provider.h) over
 * the live Stripe and PayPal clients (live.h), configured from billingd.cfg.
 *
 * create():
 *   STRIPE with a payment method: a PaymentIntent confirmed at once —
 *          on-session (use_stripe_sdk, return_url) when the buyer is
 *          present, off_session for automatic renewals; without one: the
 *          intent's client secret, REQUIRES_ACTION (the client confirms).
 *          When the intent id is already known, the intent is read instead
 *          (never a second create for a known intent).
 *   PAYPAL: an order (intent CAPTURE, experience_context return/cancel
 *          URLs when configured), PENDING_APPROVAL with its link.
 * confirm() asks for the truth with the SAME ids, never a new key:
 *   STRIPE: retrieves the intent (exact amount and currency). When create()
 *          never learnt the intent id: the intent is searched for by
 *          metadata['order_id'] first; only when the search finds none, and
 *          inside the replay window (23 h of Stripe's 24 h), the create is
 *          replayed under its Idempotency-Key, which returns the original
 *          answer (see stripe_truth: never a create on billingd's clock
 *          alone). create() with req->resend (an attempt resumed after a
 *          lost answer) does the same.
 *   PAYPAL: reads the order; only an APPROVED one (or one that could not be
 *          read) is captured, with PayPal-Request-Id "<key>-capture"; when
 *          the capture's answer is not definitive, reads it back. An order
 *          whose id create() never learnt is re-created with the same
 *          PayPal-Request-Id inside 5 h of PayPal's 6 h; after that nothing
 *          can have taken money (only billingd captures, and the buyer never
 *          got an approval link): NOT_FOUND.
 * cancel(): STRIPE cancels the intent (found by search when its id was
 *   never learnt); an intent that already succeeded is SUCCEEDED. PAYPAL
 *   has no cancel for an uncaptured order: money moves only when billingd
 *   captures, so cancel reads the order (COMPLETED -> SUCCEEDED, anything
 *   else -> CANCELED: billingd will not capture it).
 * search(): STRIPE search by metadata['order_id']; PAYPAL reads the order
 *   when its id is known, else NOT_FOUND (PayPal has no search; see above).
 *
 * live_state -> pay_status:
 *   SUCCEEDED -> SUCCEEDED; REQUIRES_ACTION -> REQUIRES_ACTION; PENDING ->
 *   REQUIRES_ACTION (Stripe) / PENDING_APPROVAL (PayPal); DECLINED ->
 *   DECLINED (provider's code; authentication_required keeps the intent
 *   and client secret for a later on-session attempt); CANCELED ->
 *   CANCELED; NOT_FOUND -> NOT_FOUND; UNKNOWN -> UNAVAILABLE (with
 *   Retry-After); AUTH -> OPERATOR_ERROR, logged as ERROR; ERROR -> in
 *   create(), when the provider rejected the request itself (400/404/422):
 *   REJECTED, logged with the provider's Request-Id / debug_id; everywhere
 *   else — an idempotency conflict, a success for another amount, an answer
 *   we cannot read — UNAVAILABLE and logged for an operator, rather than
 *   failed while money may have moved.
 *
 * An UNKNOWN answer that came with a short Retry-After (or none) and was
 * not an idempotent replay is tried once more inside the call when the
 * time budget allows; otherwise the caller retries later with the same key.
 * A Stripe create is never tried again blind: it may have executed, and the
 * provider may have pruned its key since (its clock moved past 24 h); the
 * second try is stripe_truth (search first). The replay window is checked
 * on both clocks: billingd's and the provider's Date header (within_both).
 * The whole operation gets cfg.provider_timeout_ms: each HTTP request gets
 * what is left of it. Secrets are never logged.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "billingd.h"
#include "live.h"
#include "log.h"
#include "provider.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x
#define CONNECT_MS 3000L
#define MIN_MS 100L
#define INCALL_RETRY_MAX_MS 2000L
#define INCALL_RETRY_DEFAULT_MS 250L

typedef struct op {
	live_config cfg;
	int64_t deadline_ms; /* CLOCK_MONOTONIC */
} op;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The timeouts of the next request; 0 when the budget is spent. */
static int op_next(op *o)
{
	int64_t left = o->deadline_ms - mono_ms();
	if (left < MIN_MS)
		return 0;
	o->cfg.timeouts.total_ms = (long)left;
	o->cfg.timeouts.connect_ms = left < CONNECT_MS ? (long)left : CONNECT_MS;
	return 1;
}

/* Starts the operation's time budget; 0 when no time is left (never). */
static int op_begin(op *o)
{
	long total = billingd.cfg.provider_timeout_ms > 0 ? billingd.cfg.provider_timeout_ms
							  : 10000;
	memset(o, 0, sizeof(*o));
	o->cfg.stripe_url = billingd.cfg.stripe_url;
	o->cfg.stripe_key = billingd.cfg.stripe_key;
	o->cfg.paypal_url = billingd.cfg.paypal_url;
	o->cfg.paypal_client_id = billingd.cfg.paypal_client_id;
	o->cfg.paypal_secret = billingd.cfg.paypal_secret;
	o->deadline_ms = mono_ms() + total;
	return op_next(o);
}

/* Waits before an in-call retry when the answer allows one and the budget
 * has room for the wait and a request after it. */
static int op_retry(op *o, const live_result *r, int *tries)
{
	long wait = r->retry_after_ms > 0 ? r->retry_after_ms : INCALL_RETRY_DEFAULT_MS;
	if (r->state != LIVE_UNKNOWN || r->replayed || (*tries)++ > 0 ||
	    wait > INCALL_RETRY_MAX_MS || o->deadline_ms - mono_ms() < wait + 500)
		return 0;
	usleep((useconds_t)wait * 1000);
	return op_next(o);
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static int set(const char *s)
{
	return s && *s;
}

static int is_stripe(const pay_request *req)
{
	return req->method == METHOD(STRIPE);
}

static const char *pname(const pay_request *req)
{
	return is_stripe(req) ? "Stripe" : "PayPal";
}

static int configured(const pay_request *req)
{
	if (is_stripe(req))
		return set(billingd.cfg.stripe_key);
	return billingd.cfg.paypal_client_id && billingd.cfg.paypal_secret;
}

/* Maps a live answer onto out. create = the answer to our own create (a
 * rejection then means nothing was charged). */
static void map(const pay_request *req, const live_result *r, int create, pay_result *out)
{
	const char *rid = r->request_id[0] ? r->request_id : "none";
	if (is_stripe(req)) {
		if (r->provider_id[0])
			copy(out->stripe_payment_intent_id, sizeof(out->stripe_payment_intent_id),
			     r->provider_id);
		copy(out->stripe_client_secret, sizeof(out->stripe_client_secret),
		     r->client_secret);
		copy(out->stripe_next_action, sizeof(out->stripe_next_action), r->next_action);
	} else {
		if (r->provider_id[0])
			copy(out->paypal_order_id, sizeof(out->paypal_order_id), r->provider_id);
		copy(out->paypal_approval_url, sizeof(out->paypal_approval_url), r->approval_url);
	}
	copy(out->capture_id, sizeof(out->capture_id), r->capture_id);
	copy(out->request_id, sizeof(out->request_id), r->request_id);
	copy(out->order_ref, sizeof(out->order_ref), r->order_ref);
	switch (r->state) {
	case LIVE_SUCCEEDED: out->status = PAY_SUCCEEDED; break;
	case LIVE_REQUIRES_ACTION: out->status = PAY_REQUIRES_ACTION; break;
	case LIVE_PENDING:
		out->status = is_stripe(req) ? PAY_REQUIRES_ACTION : PAY_PENDING_APPROVAL;
		copy(out->decline_code, sizeof(out->decline_code), r->code);
		break;
	case LIVE_DECLINED:
		out->status = PAY_DECLINED;
		copy(out->decline_code, sizeof(out->decline_code),
		     r->code[0] ? r->code : "declined");
		break;
	case LIVE_CANCELED: out->status = PAY_CANCELED; break;
	case LIVE_NOT_FOUND: out->status = PAY_NOT_FOUND; break;
	case LIVE_AUTH:
		out->status = PAY_OPERATOR_ERROR;
		log_error(
			"payments: %s refused billingd's credentials (HTTP %ld %s, request id %s) "
			"for order %s: check the %s keys; the order stays PROCESSING",
			pname(req), r->http_status, r->code, rid, req->order_id,
			is_stripe(req) ? "STRIPE_SECRET_KEY" : "PAYPAL_CLIENT_ID/SECRET");
		break;
	case LIVE_ERROR:
		if (create && strcmp(r->code, "idempotency_error") != 0 &&
		    strcmp(r->code, "amount_mismatch") != 0) {
			out->status = PAY_REJECTED;
			copy(out->decline_code, sizeof(out->decline_code),
			     r->code[0] ? r->code : "rejected");
			log_warn("payments: %s rejected the request for order %s (HTTP %ld %s, "
				 "request id %s): %s",
				 pname(req), req->order_id, r->http_status, r->code, rid,
				 r->message);
			break;
		}
		out->status = PAY_UNAVAILABLE;
		log_error("payments: %s answer for order %s needs attention (left PROCESSING): "
			  "HTTP %ld %s (request id %s) %s",
			  pname(req), req->order_id, r->http_status, r->code, rid, r->message);
		break;
	default:
		out->status = PAY_UNAVAILABLE;
		out->retry_after_ms = r->retry_after_ms;
		log_warn("payments: %s outcome for order %s unknown (HTTP %ld, request id %s): %s",
			 pname(req), req->order_id, r->http_status, rid, r->message);
		break;
	}
}

static int unavailable(const pay_request *req, pay_result *out, const char *why)
{
	out->status = PAY_UNAVAILABLE;
	log_warn("payments: order %s: %s", req->order_id, why);
	return 0;
}

static int within(const pay_request *req, int64_t window)
{
	return req->key_age_us < window;
}

/* within(), also on the provider's clock as its last answer's Date header
 * tells it (live_result.provider_date_s): the key's life is measured there.
 * The key was first used at the order's creation; a provider clock ahead
 * of billingd's (a host clock behind, one half of a test clock's jump done)
 * makes the key older than billingd believes, and a create sent then would
 * execute anew once the provider pruned the key. An answer without a Date
 * leaves billingd's own clock as the only measure. */
static int within_both(const pay_request *req, const live_result *last, int64_t window)
{
	int64_t created_us = req->now_us - req->key_age_us;
	if (!within(req, window))
		return 0;
	if (last->provider_date_s <= 0 || req->now_us <= 0)
		return 1;
	if (last->provider_date_s * 1000000 - created_us < window)
		return 1;
	log_warn("payments: order %s: the provider's clock (Date %lld) puts its key %lld s "
		 "past creation, billingd's %lld s: no create replayed",
		 req->order_id, (long long)last->provider_date_s,
		 (long long)(last->provider_date_s - created_us / 1000000),
		 (long long)(req->key_age_us / 1000000));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Stripe                                                                    */

static void stripe_create_for(op *o, const pay_request *req, live_result *r)
{
	const char *pm = req->stripe_payment_method_id ? req->stripe_payment_method_id : "";
	const char *cus = req->stripe_customer_id ? req->stripe_customer_id : "";
	int off = req->session == PAY_SESSION_OFF ||
		  (req->session == PAY_SESSION_LEGACY && pm[0] && cus[0]);
	stripe_charge ch = {
		.key = req->provider_key,
		.order_id = req->order_id,
		.amount = req->amount,
		.currency = req->currency,
		.customer = cus,
		.payment_method = pm,
		.off_session = off,
		.return_url = billingd.cfg.stripe_return_url,
		.description = req->description,
	};
	/* One attempt, never a blind second one: an answer lost after the
	 * provider executed it (a dropped connection, a time-out) is found
	 * by search before any replay (live_create), since the key may be
	 * gone by then. */
	stripe_create(&o->cfg, &ch, r);
}

static void stripe_read(op *o, const pay_request *req, const char *intent, live_result *r)
{
	int tries = 0;
	do
		stripe_retrieve(&o->cfg, intent, req->amount, req->currency, r);
	while (op_retry(o, r, &tries));
}

static void stripe_find(op *o, const pay_request *req, live_result *r, int *found)
{
	int tries = 0;
	do
		stripe_search(&o->cfg, req->order_id, req->amount, req->currency, r, found);
	while (op_retry(o, r, &tries));
	if (*found > 1)
		log_error("payments: Stripe holds %d PaymentIntents for order %s (one expected); "
			  "using %s",
			  *found, req->order_id, r->provider_id[0] ? r->provider_id : "none");
}

/* The truth about an order's payment when a create may have been sent
 * before (its answer lost). A create is sent again only when the
 * provider's own records show no intent for the order: billingd's replay
 * window is measured on its own clock from the order's creation, the key's
 * life on the provider's, and a provider clock more than the window's hour
 * ahead (a host clock behind, one half of a test's clock jump done) would
 * execute a "replay" anew — a second intent, a second charge. So: search
 * first; a found intent is the truth, a failed search says nothing (ask
 * again later, never create on it); only "no intent" inside the window
 * replays the create, whose answer is then the first one's (or its first
 * execution, when the first never ran). The window is checked on the
 * search answer's Date as well (within_both), so a provider clock ahead by
 * more than the window's margin stops the replay too. Left open: the
 * provider's clock jumping between the search's answer and the create. */
static void stripe_truth(op *o, const pay_request *req, pay_result *out)
{
	live_result r;
	int found = 0;
	if (set(req->stripe_payment_intent_id)) {
		stripe_read(o, req, req->stripe_payment_intent_id, &r);
		map(req, &r, 0, out);
		return;
	}
	stripe_find(o, req, &r, &found);
	out->intents_found = found;
	if (r.state != LIVE_NOT_FOUND || !within_both(req, &r, PAY_STRIPE_REPLAY_US) ||
	    !op_next(o)) {
		map(req, &r, 0, out);
		return;
	}
	/* The same key replays the first answer: the intent, a decline, or a
	 * saved 500 (which teaches nothing: UNAVAILABLE, searched next time). */
	stripe_create_for(o, req, &r);
	if (r.provider_id[0] && r.state != LIVE_SUCCEEDED && op_next(o)) {
		/* The replay is the first answer; the intent may have moved
		 * since (the buyer confirmed it). */
		char intent[sizeof(r.provider_id)];
		copy(intent, sizeof(intent), r.provider_id);
		stripe_read(o, req, intent, &r);
	}
	map(req, &r, 0, out);
}

static void stripe_cancel_for(op *o, const pay_request *req, pay_result *out)
{
	live_result r;
	char key[200];
	int found = 0, tries = 0;
	const char *intent = req->stripe_payment_intent_id;
	if (!set(intent)) {
		stripe_find(o, req, &r, &found);
		out->intents_found = found;
		if (r.state != LIVE_SUCCEEDED && r.state != LIVE_PENDING &&
		    r.state != LIVE_REQUIRES_ACTION && r.state != LIVE_DECLINED) {
			map(req, &r, 0, out); /* NOT_FOUND, CANCELED, UNKNOWN, ... */
			return;
		}
		if (r.state == LIVE_SUCCEEDED || !op_next(o)) {
			map(req, &r, 0, out);
			return;
		}
		intent = r.provider_id;
	}
	snprintf(key, sizeof(key), "%s-cancel", req->provider_key);
	do
		stripe_cancel(&o->cfg, intent, key,
			      set(req->cancel_reason) ? req->cancel_reason : "abandoned",
			      req->amount, req->currency, &r);
	while (op_retry(o, &r, &tries));
	if (!r.provider_id[0])
		copy(r.provider_id, sizeof(r.provider_id), intent);
	map(req, &r, 0, out);
}

/* A renewal group's next attempt on its one intent: the amount first
 * when it changed (key "<attempt key>-amount"), then the confirmation
 * (key "<attempt key>"). Both keys are the attempt's own, so a resumed
 * attempt replays instead of confirming twice. */
static void stripe_reconfirm_for(op *o, const pay_request *req, pay_result *out)
{
	const char *pm = req->stripe_payment_method_id ? req->stripe_payment_method_id : "";
	stripe_charge ch = {
		.key = req->provider_key,
		.order_id = req->order_id,
		.amount = req->amount,
		.currency = req->currency,
		.payment_method = pm,
		.off_session = req->session != PAY_SESSION_ON,
		.return_url = billingd.cfg.stripe_return_url,
	};
	char key[200];
	live_result r;
	int tries = 0;

	if (req->update_amount) {
		snprintf(key, sizeof(key), "%s-amount", req->provider_key);
		do
			stripe_update_amount(&o->cfg, req->stripe_payment_intent_id, key,
					     req->amount, req->currency, &r);
		while (op_retry(o, &r, &tries));
		if (r.state == LIVE_UNKNOWN || r.state == LIVE_AUTH || r.state == LIVE_SUCCEEDED ||
		    r.state == LIVE_CANCELED || !op_next(o)) {
			map(req, &r, 0, out);
			return;
		}
		tries = 0;
	}
	do
		stripe_confirm(&o->cfg, req->stripe_payment_intent_id, &ch, &r);
	while (op_retry(o, &r, &tries));
	if (!r.provider_id[0])
		copy(r.provider_id, sizeof(r.provider_id), req->stripe_payment_intent_id);
	map(req, &r, 0, out);
}

/* ------------------------------------------------------------------------ */
/* PayPal                                                                    */

static void paypal_create_for(op *o, const pay_request *req, live_result *r)
{
	paypal_charge ch = {
		.key = req->provider_key,
		.order_id = req->order_id,
		.amount = req->amount,
		.currency = req->currency,
		.return_url = billingd.cfg.paypal_return_url,
		.cancel_url = billingd.cfg.paypal_cancel_url,
	};
	int tries = 0;
	do
		paypal_create(&o->cfg, &ch, r);
	while (op_retry(o, r, &tries));
}

static void paypal_read(op *o, const pay_request *req, live_result *r)
{
	int tries = 0;
	do
		paypal_get(&o->cfg, req->paypal_order_id, req->amount, req->currency, r);
	while (op_retry(o, r, &tries));
}

static void paypal_confirm(op *o, const pay_request *req, pay_result *out)
{
	char rid[160];
	live_result cap, truth;
	int tries = 0;

	if (!set(req->paypal_order_id)) {
		if (!within(req, PAY_PAYPAL_REPLAY_US)) {
			/* Never re-create after the request id is gone: that would be a
			 * second PayPal order. The first one was never shown to the
			 * buyer, and only billingd captures: no money moved. */
			out->status = PAY_NOT_FOUND;
			return;
		}
		paypal_create_for(o, req, &cap);
		map(req, &cap, 0, out);
		return;
	}
	/* Read first: only an APPROVED order is worth a capture (an unreadable
	 * one is tried: the capture is idempotent under its request id). */
	paypal_read(o, req, &truth);
	if (truth.state == LIVE_SUCCEEDED || truth.state == LIVE_CANCELED ||
	    truth.state == LIVE_AUTH ||
	    (truth.state == LIVE_PENDING && strcmp(truth.code, "APPROVED") != 0) || !op_next(o)) {
		map(req, &truth, 0, out);
		return;
	}
	snprintf(rid, sizeof(rid), "%s-capture", req->provider_key);
	do
		paypal_capture(&o->cfg, req->paypal_order_id, rid, req->amount, req->currency,
			       &cap);
	while (op_retry(o, &cap, &tries));
	if (cap.state == LIVE_SUCCEEDED || cap.state == LIVE_DECLINED ||
	    cap.state == LIVE_PENDING || cap.state == LIVE_AUTH || !op_next(o)) {
		map(req, &cap, 0, out);
		return;
	}
	/* Not definitive (lost answer, 5xx, an error): the order's truth. */
	paypal_read(o, req, &truth);
	if (truth.state == LIVE_SUCCEEDED || truth.state == LIVE_CANCELED)
		map(req, &truth, 0, out);
	else
		map(req, &cap, 0, out); /* captured nothing yet: try again later */
	if (!out->paypal_order_id[0])
		copy(out->paypal_order_id, sizeof(out->paypal_order_id), req->paypal_order_id);
}

/* ------------------------------------------------------------------------ */
/* The interface                                                             */

/* Common entry: method and configuration checks, the time budget. */
static int begin(const pay_request *req, op *o, pay_result *out, int creating)
{
	memset(out, 0, sizeof(*out));
	if (req->method != METHOD(STRIPE) && req->method != METHOD(PAYPAL)) {
		if (creating) {
			out->status = PAY_REJECTED;
			copy(out->decline_code, sizeof(out->decline_code), "unsupported_method");
			return 0;
		}
		return unavailable(req, out, "not paid through a provider");
	}
	if (!configured(req)) {
		if (creating) {
			out->status = PAY_REJECTED;
			copy(out->decline_code, sizeof(out->decline_code),
			     "provider_not_configured");
			return 0;
		}
		return unavailable(req, out, "provider not configured; cannot learn the outcome");
	}
	if (!op_begin(o))
		return unavailable(req, out, "no time left for the provider");
	return 1;
}

static void live_create(const pay_request *req, pay_result *out)
{
	op o;
	live_result r;
	int tries = 0;

	if (!begin(req, &o, out, 1))
		return;
	if (is_stripe(req)) {
		if (set(req->stripe_payment_intent_id)) {
			stripe_read(&o, req, req->stripe_payment_intent_id, &r);
			map(req, &r, 0, out);
			return;
		}
		if (req->resend || !within(req, PAY_STRIPE_REPLAY_US)) {
			stripe_truth(&o, req, out); /* maybe sent before: search first */
			return;
		}
		stripe_create_for(&o, req, &r);
		if (op_retry(&o, &r, &tries)) {
			/* The answer was lost and it may have executed: the truth
			 * (search, then a replay only inside the key's window on
			 * both clocks), never the create sent blind again. */
			stripe_truth(&o, req, out);
			return;
		}
	} else {
		if (set(req->paypal_order_id)) {
			paypal_read(&o, req, &r);
			map(req, &r, 0, out);
			return;
		}
		if (!within(req, PAY_PAYPAL_REPLAY_US)) {
			out->status = PAY_NOT_FOUND; /* see paypal_confirm */
			return;
		}
		paypal_create_for(&o, req, &r);
	}
	map(req, &r, 1, out);
}

static void live_confirm(const pay_request *req, pay_result *out)
{
	op o;
	if (!begin(req, &o, out, 0))
		return;
	if (is_stripe(req))
		stripe_truth(&o, req, out);
	else
		paypal_confirm(&o, req, out);
}

static void live_cancel(const pay_request *req, pay_result *out)
{
	op o;
	live_result r;
	if (!begin(req, &o, out, 0))
		return;
	if (is_stripe(req)) {
		stripe_cancel_for(&o, req, out);
		return;
	}
	if (!set(req->paypal_order_id)) {
		out->status = PAY_CANCELED; /* never created, or never shown: see paypal_confirm */
		return;
	}
	paypal_read(&o, req, &r);
	map(req, &r, 0, out);
	if (out->status == PAY_PENDING_APPROVAL || out->status == PAY_DECLINED)
		out->status = PAY_CANCELED; /* billingd will not capture it */
}

static void live_search(const pay_request *req, pay_result *out)
{
	op o;
	live_result r;
	int found = 0;
	if (!begin(req, &o, out, 0))
		return;
	if (is_stripe(req)) {
		stripe_find(&o, req, &r, &found);
		out->intents_found = found;
		map(req, &r, 0, out);
	} else if (set(req->paypal_order_id)) {
		paypal_read(&o, req, &r);
		map(req, &r, 0, out);
	} else {
		out->status = PAY_NOT_FOUND;
	}
}

static void live_reconfirm(const pay_request *req, pay_result *out)
{
	op o;
	if (!is_stripe(req) || !set(req->stripe_payment_intent_id)) {
		/* No intent learnt yet: the first attempt's create, under the
		 * order's own key (it replays a create whose answer was lost). */
		pay_request c = *req;
		c.provider_key = req->order_id;
		c.update_amount = 0;
		live_create(&c, out);
		return;
	}
	if (!begin(req, &o, out, 0))
		return;
	stripe_reconfirm_for(&o, req, out);
}

static void live_lookup(const pay_request *req, pay_result *out)
{
	op o;
	live_result r;
	if (!begin(req, &o, out, 0))
		return;
	if (is_stripe(req) && set(req->stripe_payment_intent_id))
		stripe_retrieve(&o.cfg, req->stripe_payment_intent_id, 0, "", &r);
	else if (!is_stripe(req) && set(req->paypal_order_id))
		paypal_get(&o.cfg, req->paypal_order_id, 0, "", &r);
	else {
		out->status = PAY_NOT_FOUND;
		return;
	}
	/* The amount is not checked here: only the order it names is wanted. */
	copy(out->order_ref, sizeof(out->order_ref), r.order_ref);
	out->status = r.state == LIVE_UNKNOWN ? PAY_UNAVAILABLE
		      : r.state == LIVE_AUTH  ? PAY_OPERATOR_ERROR
		      : r.order_ref[0]        ? PAY_SUCCEEDED
					      : PAY_NOT_FOUND;
}

const pay_provider pay_live_provider = {
	.name = "live",
	.sandbox = 0,
	.create = live_create,
	.confirm = live_confirm,
	.cancel = live_cancel,
	.search = live_search,
	.reconfirm = live_reconfirm,
	.lookup = live_lookup,
};
