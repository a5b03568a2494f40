#ifndef SPB_WEBHOOKS_H
#define SPB_WEBHOOKS_H

/*
 * webhooks.h: provider webhooks in (DESIGN R10, issue 13), on the httpd.h
 * listener started with --webhook-listen:
 *
 *   POST /webhooks/stripe  payment_intent.succeeded / .payment_failed /
 *                          .canceled / .requires_action, charge.refunded,
 *                          charge.dispute.created. Verified by the
 *                          Stripe-Signature header (docs.stripe.com/webhooks
 *                          #verify-manually): t=<unix time>, one or more
 *                          v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>,
 *                          other schemes ignored; any v1 matching any of
 *                          the configured secrets (STRIPE_WEBHOOK_SECRET,
 *                          comma-separated while a secret is rolled) within
 *                          5 minutes of billingd's clock.
 *   POST /webhooks/paypal  CHECKOUT.ORDER.APPROVED, PAYMENT.CAPTURE.COMPLETED
 *                          / .DENIED / .REFUNDED. Verified by PayPal itself:
 *                          POST /v1/notifications/verify-webhook-signature
 *                          with the PAYPAL-* headers, PAYPAL_WEBHOOK_ID and
 *                          the event as received (notifications_webhooks_v1
 *                          .json).
 *
 * An event is a hint, never the truth: a verified event is handed to the
 * sink, which settles the order by asking the provider (so duplicates and
 * out-of-order deliveries change nothing). Answers: 200 when handled or
 * ignored (other event types, duplicates), 400 when the signature or body
 * is bad (the provider stops retrying only after many days; nothing is
 * lost: polling stays as the fallback), 503 when it could not be handled
 * now (the provider redelivers).
 */

#include <stddef.h>
#include <stdint.h>

typedef enum webhook_kind {
	WEBHOOK_PAYMENT = 1, /* the payment's state may have changed */
	WEBHOOK_REFUND,      /* money given back */
	WEBHOOK_DISPUTE,     /* a chargeback was opened */
} webhook_kind;

/* A verified event, as much as it says (strings never NULL, "" when the
 * event does not carry them); valid during the sink call only. */
typedef struct webhook_event {
	int method; /* PaymentMethod: STRIPE or PAYPAL */
	webhook_kind kind;
	const char *event_id;   /* evt_... / WH-... */
	const char *type;       /* payment_intent.succeeded, PAYMENT.CAPTURE.COMPLETED ... */
	const char *order_id;   /* billingd's: Stripe metadata.order_id, PayPal custom_id */
	const char *payment_id; /* Stripe PaymentIntent / PayPal order id */
	const char *capture_id; /* Stripe charge / dispute's charge, PayPal capture / refund */
	int64_t amount;         /* minor units of the event's object, -1 unknown */
	char currency[4];
} webhook_event;

/* Handles one verified event: 0 done (200), -1 try again later (503). */
typedef int (*webhook_sink)(const webhook_event *ev);

/* Starts the listener on cfg.webhook_listen with the routes whose secrets
 * are configured (Stripe: cfg.stripe_webhook_secret; PayPal:
 * cfg.paypal_webhook_id). *port gets the bound port. 0 or -1 (logged). */
int webhooks_start(webhook_sink sink, int *port);
void webhooks_stop(void);

typedef struct webhook_counts {
	uint64_t received, verified, rejected, duplicates, handled, deferred, ignored;
} webhook_counts;
void webhooks_counts_get(webhook_counts *out);

/* Verifies a Stripe-Signature header over the raw payload against the
 * comma-separated secrets at `now_s` with `tolerance_s`. 0 when valid,
 * else -1 with the reason in `why`. (Exported for tests.) */
int webhooks_stripe_verify(const char *header, const char *payload, size_t len, const char *secrets,
			   int64_t now_s, int64_t tolerance_s, char *why, size_t cap);

#define WEBHOOK_TOLERANCE_S 300

#endif
