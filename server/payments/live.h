#ifndef SPB_PAY_LIVE_H
#define SPB_PAY_LIVE_H

/*
 * live.h: the live payment providers over HTTP — Stripe PaymentIntents
 * (API version 2023-09-12, stripe/openapi spec3.yaml) and PayPal Orders v2
 * / Payments v2 (paypal-rest-api-specifications) — as plain request/answer
 * functions. They hold no store transaction and keep no order state: the
 * order engine calls them between its phase-1 and phase-3 transactions
 * (DESIGN §5), with the order id as the provider idempotency key, and
 * records what they answer.
 *
 * Each returns 0 with *out filled, whatever the provider said; the answer
 * is out->state, and for errors out->http_status, out->code and
 * out->request_id (Stripe `Request-Id`, PayPal `debug_id`) for the log.
 *
 * How answers are classified (docs.stripe.com/error-low-level,
 * docs.stripe.com/api/errors, PayPal's responses in the specs):
 *   LIVE_UNKNOWN   the outcome could not be learnt or the provider asks us
 *                  to come back: network failure, 409 (lock_timeout,
 *                  idempotency_key_in_use), 424, 429, 5xx, or any answer
 *                  with `Stripe-Should-Retry: true`. Retry later with the
 *                  SAME key, not before out->retry_after_ms (Retry-After).
 *                  A 500 Stripe saved under the key is replayed for 24 h:
 *                  retrying the create cannot learn more then; search.
 *   LIVE_AUTH      401/403: our own credentials are wrong — an operator
 *                  error, never the buyer's; nothing was charged.
 *   LIVE_ERROR     the provider rejected the request itself (400, 404,
 *                  PayPal 422 other than the payer states below): nothing
 *                  was done by this request.
 *   LIVE_DECLINED  a card error (Stripe 402 card_error, PayPal
 *                  TRANSACTION_REFUSED): `code` is the decline code;
 *                  `authentication_required` off-session keeps the intent
 *                  and client secret so the buyer can authenticate later.
 *   LIVE_PENDING   waiting for the buyer: Stripe requires_payment_method /
 *                  _confirmation; PayPal CREATED, APPROVED (not captured),
 *                  PAYER_ACTION_REQUIRED, and the capture answers
 *                  PAYER_ACTION_REQUIRED / INSTRUMENT_DECLINED / ORDER_NOT_
 *                  APPROVED, which send the buyer back to PayPal (link in
 *                  approval_url).
 *   LIVE_REQUIRES_ACTION  Stripe 3-D Secure on-session: client_secret and
 *                  next_action for the buyer's app.
 *   LIVE_SUCCEEDED captured for exactly the expected amount and currency.
 *   LIVE_CANCELED  canceled (Stripe) / VOIDED (PayPal): no money.
 *   LIVE_NOT_FOUND search: the provider has no payment for this order.
 */

#include <stddef.h>
#include <stdint.h>

#include "http.h"

typedef enum live_state {
	LIVE_SUCCEEDED = 1,
	LIVE_REQUIRES_ACTION,
	LIVE_PENDING,
	LIVE_DECLINED,
	LIVE_CANCELED,
	LIVE_UNKNOWN,
	LIVE_ERROR,
	LIVE_AUTH,
	LIVE_NOT_FOUND,
} live_state;

typedef struct live_result {
	live_state state;
	char provider_id[96];    /* Stripe PaymentIntent id / PayPal order id */
	char capture_id[96];     /* Stripe latest charge / PayPal capture id */
	char client_secret[200]; /* Stripe */
	char next_action[32];    /* Stripe next_action.type */
	char approval_url[300];  /* PayPal approve / payer-action / redirect link */
	char code[64];           /* decline or error code (or PayPal status) */
	char message[200];       /* provider's text, for logs */
	char request_id[80];     /* Stripe Request-Id / PayPal debug_id */
	char order_ref[64];      /* Stripe metadata.order_id / PayPal custom_id */
	long http_status;        /* 0 when no answer arrived */
	long retry_after_ms;     /* LIVE_UNKNOWN: earliest retry, 0 = no advice */
	int replayed;            /* Stripe: an idempotent replay */
	int64_t provider_date_s; /* the answer's Date (provider's clock), -1 */
	int64_t amount;          /* as the provider reports it, minor units */
	char currency[4];        /* upper case */
} live_result;

typedef struct live_config {
	const char *stripe_url; /* e.g. https://api.stripe.com */
	const char *stripe_key; /* sk_... (secret) */
	const char *paypal_url; /* e.g. https://api-m.paypal.com */
	const char *paypal_client_id;
	const char *paypal_secret;
	http_timeouts timeouts;
} live_config;

/* What a Stripe charge asks for. `key` is the Idempotency-Key (the order
 * id) and metadata[order_id] is order_id, so a lost answer can be found by
 * search. With payment_method the intent is confirmed at once:
 * off_session for automatic renewals (no buyer: 3-D Secure ends in 402
 * authentication_required), otherwise on-session with use_stripe_sdk and
 * return_url (when set) so the buyer can authenticate. */
typedef struct stripe_charge {
	const char *key;
	const char *order_id;
	int64_t amount;
	const char *currency;
	const char *customer;       /* NULL/"" for none */
	const char *payment_method; /* NULL/"": the buyer's app confirms */
	int off_session;
	const char *return_url; /* on-session redirect target, NULL/"" for none */
	const char *description;
} stripe_charge;

/* Stripe: creates (and maybe confirms) a PaymentIntent. */
int stripe_create(const live_config *c, const stripe_charge *ch, live_result *out);
/* Stripe: the PaymentIntent's truth; SUCCEEDED only with the expected
 * amount and currency. */
int stripe_retrieve(const live_config *c, const char *intent_id, int64_t amount,
		    const char *currency, live_result *out);
/* Stripe: cancels an intent (POST /v1/payment_intents/{id}/cancel, key
 * "<key>"; reason one of abandoned/requested_by_customer/duplicate). An
 * intent that already succeeded (400 payment_intent_unexpected_state) is
 * reported as it is: LIVE_SUCCEEDED when its amount matches. */
int stripe_cancel(const live_config *c, const char *intent_id, const char *key, const char *reason,
		  int64_t amount, const char *currency, live_result *out);
/* Stripe: sets an intent's amount (POST /v1/payment_intents/{id}, key
 * "<key>"), which Stripe allows until it is confirmed successfully. The
 * intent as it is afterwards (checked against the new amount). */
int stripe_update_amount(const live_config *c, const char *intent_id, const char *key,
			 int64_t amount, const char *currency, live_result *out);
/* Stripe: confirms an existing intent again (POST
 * /v1/payment_intents/{id}/confirm, key "<key>") with payment_method,
 * off_session, or on-session use_stripe_sdk and return_url (ch->key,
 * amount, currency, payment_method, off_session, return_url are used). */
int stripe_confirm(const live_config *c, const char *intent_id, const stripe_charge *ch,
		   live_result *out);
/* Stripe: GET /v1/payment_intents/search?query=metadata['order_id']:'<id>'.
 * The intent that took money when there is one, else the newest live one;
 * LIVE_NOT_FOUND when there is none. Search lags writes ("less than a
 * minute", up to an hour in outages), so an empty answer only proves
 * something about intents created long before. *count gets the number
 * of intents found (more than one is an incident). */
int stripe_search(const live_config *c, const char *order_id, int64_t amount, const char *currency,
		  live_result *out, int *count);
/* Stripe: refunds `amount` (0: all that is left) of an intent's charge
 * (POST /v1/refunds, Idempotency-Key `key`). SUCCEEDED with the refund id
 * in capture_id and the refunded amount in amount. */
int stripe_refund(const live_config *c, const char *intent_id, int64_t amount, const char *currency,
		  const char *key, live_result *out);

/* What a PayPal order asks for: intent CAPTURE, PayPal-Request-Id = key,
 * custom_id and reference_id = order_id; with return_url/cancel_url, a
 * payment_source.paypal.experience_context (PAY_NOW, NO_SHIPPING) so a
 * redirect flow has somewhere to come back to. */
typedef struct paypal_charge {
	const char *key;
	const char *order_id;
	int64_t amount;
	const char *currency;
	const char *return_url;
	const char *cancel_url;
} paypal_charge;

/* PayPal: creates an order; PENDING with the approval link. */
int paypal_create(const live_config *c, const paypal_charge *ch, live_result *out);
/* PayPal: captures an approved order (PayPal-Request-Id = request_id);
 * SUCCEEDED only when the capture is COMPLETED for the expected amount.
 * An order captured before (a lost answer) is read back. */
int paypal_capture(const live_config *c, const char *paypal_order_id, const char *request_id,
		   int64_t amount, const char *currency, live_result *out);
/* PayPal: the order's truth. */
int paypal_get(const live_config *c, const char *paypal_order_id, int64_t amount,
	       const char *currency, live_result *out);
/* PayPal: refunds `amount` (0: all) of a capture
 * (POST /v2/payments/captures/{id}/refund, PayPal-Request-Id `request_id`). */
int paypal_refund(const live_config *c, const char *capture_id, int64_t amount,
		  const char *currency, const char *request_id, live_result *out);

/* PayPal: verifies a webhook delivery through
 * POST /v1/notifications/verify-webhook-signature
 * (notifications_webhooks_v1.json): the five PAYPAL-* headers, our webhook
 * id and the event exactly as received. *verified = 1 on SUCCESS. Returns
 * 0 when PayPal answered, -1 when it could not be asked (then the event
 * must be refused with a retryable status). */
typedef struct paypal_transmission {
	const char *auth_algo, *cert_url, *transmission_id, *transmission_sig, *transmission_time;
} paypal_transmission;
int paypal_verify_webhook(const live_config *c, const paypal_transmission *t,
			  const char *webhook_id, const char *event_json, int *verified);

/* Releases the cached PayPal access token (tests switching credentials). */
void paypal_forget_token(void);

/* One authenticated PayPal request (OAuth2 token cached, renewed once on
 * 401): path below paypal_url, PayPal-Request-Id when request_id is not
 * NULL. 0 with *r the answer (free with http_response_free), or -1 with
 * out->state set when no token could be had. Used by refund_live.c. */
int live_paypal_call(const live_config *c, const char *method, const char *path,
		     const char *request_id, const char *body, http_response *r, live_result *out);

#endif
