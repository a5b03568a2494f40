#ifndef SPB_PAYMENTS_REFUND_H
#define SPB_PAYMENTS_REFUND_H

/*
 * refund.h: giving money back at the provider an order was paid with
 * (issue 17). Called by the refund engine (refunds.c) between its phase-1
 * transaction (the credit note is committed PENDING with its number) and
 * its phase-3 transaction (the answer is recorded), on a refund worker or
 * the refund reconciler, with NO storage transaction held.
 *
 * Idempotency: the credit note number is the key at the provider — Stripe
 * `Idempotency-Key` on POST /v1/refunds, PayPal `PayPal-Request-Id` on POST
 * /v2/payments/captures/{capture_id}/refund — so asking again for one
 * credit note (a retry after a lost answer, the reconciler after a crash)
 * replays the first refund and never refunds twice — inside the key
 * window only (Stripe 24 hours, PayPal refunds 45 days): after it the note
 * is left to an operator rather than risk a second refund. Once Stripe has
 * given the refund's id, it is read back with GET /v1/refunds/{id}.
 * The requests themselves are the payment engine's (live.h stripe_refund,
 * paypal_refund).
 *
 * Specs: /work/specs/stripe-spec3-2023-09-12.yaml (paths /v1/refunds,
 * /v1/refunds/{refund}; schema `refund`: status pending, requires_action,
 * succeeded, failed, canceled) and paypal-payments_payment_v2.json (paths
 * /v2/payments/captures/{capture_id}/refund with header PayPal-Request-Id,
 * /v2/payments/refunds/{refund_id}; schema refund_status: CANCELLED,
 * FAILED, PENDING, COMPLETED).
 */

#include <stdint.h>

typedef enum refund_status {
	REFUND_SUCCEEDED = 1, /* the money went back */
	REFUND_PENDING,       /* accepted, not final: ask again later */
	REFUND_FAILED,        /* refused or failed: nothing went back */
	REFUND_UNAVAILABLE,   /* no answer (timeout, 5xx, 429): ask again later */
} refund_status;

typedef struct refund_request {
	const char *key;      /* the credit note number */
	const char *order_id; /* for metadata and logs */
	int method;           /* PaymentMethod: STRIPE or PAYPAL */
	int64_t amount;       /* minor units, > 0 */
	const char *currency; /* ISO-4217 */
	const char *reason;   /* note to the payer */
	const char *stripe_payment_intent_id;
	const char *paypal_order_id;
	const char *paypal_capture_id; /* "" = read it from the PayPal order */
	const char *refund_id;         /* known from an earlier answer: read back */
	int64_t key_age_us;            /* now - the credit note's creation */
	int sandbox;                   /* the order was paid through the sandbox */
} refund_request;

typedef struct refund_result {
	refund_status status;
	char refund_id[128];  /* re_... (Stripe) or the PayPal refund id */
	char capture_id[128]; /* PayPal: the capture refunded (learnt on the way) */
	char failure[256];    /* why it failed, or what went wrong talking */
} refund_result;

/* Asks the provider (sandbox or live, as the order was paid) to refund, or
 * what became of the refund asked for before. Blocking, bounded by
 * cfg.provider_timeout_ms. Thread-safe. */
void refund_call(const refund_request *req, refund_result *out);

#endif
