#ifndef SPB_PAY_LIVE_H
#define SPB_PAY_LIVE_H

/*
 * live.h: the live payment providers over HTTP — Stripe PaymentIntents and
 * PayPal Orders v2 — as plain request/answer functions. They hold no store
 * transaction and keep no order state: the order engine calls them between
 * its phase-1 and phase-3 transactions (DESIGN §5), passing the order id as
 * the provider idempotency key, and records what they answer.
 *
 * Each returns 0 with *out filled, whatever the provider said; the answer is
 * out->state. LIVE_UNKNOWN means the outcome could not be learnt (timeout,
 * dropped connection, 5xx, 429): the order stays PROCESSING and the
 * reconciler asks again later with the same ids — never a new charge.
 */

#include <stddef.h>
#include <stdint.h>

#include "http.h"

typedef enum live_state {
	LIVE_SUCCEEDED = 1,   /* captured; amount and currency checked */
	LIVE_REQUIRES_ACTION, /* the buyer must authenticate (client_secret) */
	LIVE_PENDING,         /* waiting for a payment method or PayPal approval */
	LIVE_DECLINED,        /* refused; decline code in `code` */
	LIVE_CANCELED,        /* canceled at the provider */
	LIVE_UNKNOWN,         /* no answer: reconcile later */
	LIVE_ERROR,           /* the provider rejected the request itself */
} live_state;

typedef struct live_result {
	live_state state;
	char provider_id[96];    /* Stripe PaymentIntent id / PayPal order id */
	char client_secret[200]; /* Stripe */
	char approval_url[300];  /* PayPal */
	char code[64];           /* decline or error code */
	char message[200];       /* provider's text, for logs */
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

/* Minor units <-> the decimal string of the currency's exponent (USD 2, JPY
 * 0, KWD 3): 1234 USD -> "12.34". Exact; -1 on a bad value. */
int live_amount_decimal(int64_t minor, const char *currency, char *out, size_t cap);
int live_amount_parse(const char *decimal, const char *currency, int64_t *minor);
int live_currency_exponent(const char *currency);

/* Stripe: creates a PaymentIntent for the order (Idempotency-Key = order_id,
 * metadata[order_id]); with payment_method (and customer) it confirms at
 * once, off_session when asked. */
int stripe_create(const live_config *c, const char *order_id, int64_t amount, const char *currency,
		  const char *customer, const char *payment_method, int off_session,
		  live_result *out);
/* Stripe: the PaymentIntent's truth; SUCCEEDED only with the expected amount
 * and currency. */
int stripe_retrieve(const live_config *c, const char *intent_id, int64_t amount,
		    const char *currency, live_result *out);

/* PayPal: creates an order (intent CAPTURE, PayPal-Request-Id = order_id);
 * PENDING with the approval link. */
int paypal_create(const live_config *c, const char *order_id, int64_t amount, const char *currency,
		  live_result *out);
/* PayPal: captures an approved order (PayPal-Request-Id = request_id);
 * SUCCEEDED only when the capture is COMPLETED for the expected amount. */
int paypal_capture(const live_config *c, const char *paypal_order_id, const char *request_id,
		   int64_t amount, const char *currency, live_result *out);
/* PayPal: the order's truth (reconciliation). */
int paypal_get(const live_config *c, const char *paypal_order_id, int64_t amount,
	       const char *currency, live_result *out);

/* One authenticated PayPal request (OAuth2 token cached, renewed once on
 * 401): path below paypal_url, PayPal-Request-Id when request_id is not
 * NULL. 0 with *r the answer (free with http_response_free), or -1 with
 * out->state set when no token could be had. Used by refund_live.c. */
int live_paypal_call(const live_config *c, const char *method, const char *path,
		     const char *request_id, const char *body, http_response *r, live_result *out);

#endif
