#ifndef SPB_PAYMENTS_PROVIDER_H
#define SPB_PAYMENTS_PROVIDER_H

/*
 * provider.h: the one interface every payment provider implements (DESIGN
 * §5). The order engine calls it in phase 2 of a payment, on a payments
 * worker thread, with NO storage transaction held: phase 1 has already
 * committed the order (PROCESSING) with its provider key (= order id),
 * and phase 3 records the answer in a new write transaction.
 *
 * The providers' own rules, which every implementation keeps:
 *  - create() twice for one key charges at most once — but only while the
 *    provider remembers the key: Stripe prunes Idempotency-Keys after 24 h
 *    and replays the first saved answer (500s included) until then; PayPal
 *    keeps PayPal-Request-Id 6 h. So a create is replayed only within
 *    PAY_STRIPE_REPLAY_US / PAY_PAYPAL_REPLAY_US of the order's creation
 *    (req->key_age_us); after that a lost answer is found by search(),
 *    never by a second create. Even inside the window a create that may
 *    have been sent before (confirm(), or create() with req->resend) is
 *    sent again only when a search finds no payment for the order: the
 *    window is billingd's clock, the key's life the provider's, and they
 *    may disagree by more than the window's margin.
 *  - confirm() asks for the truth about an order created earlier
 *    (ConfirmOrder, the reconciler, webhooks) and may capture (PayPal).
 *  - cancel() cancels the payment at the provider before billingd cancels
 *    or times out the order; if the provider says the money was already
 *    taken it answers PAY_SUCCEEDED and the order must succeed instead.
 *  - search() finds the order's payment by the order id the create left
 *    in the provider's records (Stripe metadata['order_id']).
 *  - reconfirm() confirms a payment created earlier once more (a renewal
 *    group's retry off-session, or the buyer's recovery on-session) under
 *    the attempt's own idempotency key, so a lost answer is replayed and
 *    one payment serves every attempt of a period; with update_amount it
 *    first sets the payment's amount (lines dropped out since).
 *
 * All may block (network) and honour billingd.cfg.provider_timeout_ms; a
 * timeout or lost answer is PAY_UNAVAILABLE, which leaves the order
 * PROCESSING. All are called from several threads.
 */

#include <stddef.h>
#include <stdint.h>

typedef enum pay_status {
	PAY_SUCCEEDED = 1,    /* money taken: apply the effects */
	PAY_REQUIRES_ACTION,  /* Stripe: the buyer must confirm / authenticate (client_secret) */
	PAY_PENDING_APPROVAL, /* PayPal: the buyer must (re)approve (approval_url) */
	PAY_DECLINED,         /* refused; decline_code says why */
	PAY_UNAVAILABLE,      /* outcome unknown, or "come back later": same key, retry_after_ms */
	PAY_CANCELED,         /* canceled at the provider: no money can be taken */
	PAY_NOT_FOUND,        /* search(): no payment for this order took money */
	PAY_REJECTED,         /* the provider refused our request itself (400): nothing charged */
	PAY_OPERATOR_ERROR,   /* our credentials failed (401/403): nothing charged, logged ERROR */
} pay_status;

/* Confirmation with a saved payment method. LEGACY (0, callers that do not
 * say): off-session when a customer is given, as before. */
typedef enum pay_session {
	PAY_SESSION_LEGACY = 0,
	PAY_SESSION_ON,  /* the buyer is present (Activate/Renew/Purchase): 3-D Secure asked */
	PAY_SESSION_OFF, /* automatic renewal: nobody to authenticate */
} pay_session;

/* How long after an order's creation its provider key may still be
 * replayed: an hour inside Stripe's 24 h, an hour inside PayPal's 6 h. */
#define PAY_STRIPE_REPLAY_US (INT64_C(23) * 3600 * 1000000)
#define PAY_PAYPAL_REPLAY_US (INT64_C(5) * 3600 * 1000000)

typedef struct pay_request {
	const char *order_id;
	const char *provider_key; /* idempotency key at the provider */
	int method;               /* PaymentMethod: STRIPE or PAYPAL */
	int64_t amount;           /* minor units (currency.h) */
	const char *currency;     /* ISO-4217 */
	const char *description;
	int64_t key_age_us; /* now - the order's creation (replay window) */
	int64_t now_us;     /* billingd's clock when the request was built */
	pay_session session;
	const char *cancel_reason; /* cancel(): Stripe cancellation_reason */
	int update_amount;         /* reconfirm(): set the payment's amount to `amount` first */
	int resend;                /* create(): one may have been sent before, its answer lost
		     * (a resumed attempt): searched for first, as confirm() does */
	/* Stripe */
	const char *stripe_payment_method_id; /* "" = client confirms */
	const char *stripe_customer_id;
	const char *stripe_payment_intent_id; /* from create(), when known */
	/* PayPal */
	const char *paypal_order_id; /* from create(), when known */
} pay_request;

typedef struct pay_result {
	pay_status status;
	char decline_code[64]; /* DECLINED / REJECTED: the provider's code */
	char stripe_payment_intent_id[128];
	char stripe_client_secret[256];
	char stripe_next_action[32]; /* use_stripe_sdk, redirect_to_url */
	char paypal_order_id[128];
	char paypal_approval_url[512];
	char capture_id[96]; /* Stripe charge / PayPal capture (refunds) */
	char request_id[80]; /* provider Request-Id / debug_id of the answer */
	long retry_after_ms; /* UNAVAILABLE: not before this long */
	int intents_found;   /* search(): how many (more than one: an incident) */
	char order_ref[64];  /* the order id the payment carries (Stripe metadata.order_id,
			      * PayPal custom_id) */
} pay_result;

typedef struct pay_provider {
	const char *name;
	int sandbox; /* orders paid through it are marked sandbox */
	void (*create)(const pay_request *req, pay_result *out);
	void (*confirm)(const pay_request *req, pay_result *out);
	void (*cancel)(const pay_request *req, pay_result *out);
	void (*search)(const pay_request *req, pay_result *out);
	/* reconfirm(): Stripe only (automatic renewals are STRIPE or CREDITS);
	 * without a known intent id it is create(). */
	void (*reconfirm)(const pay_request *req, pay_result *out);
	/* lookup(): which order a payment belongs to (a webhook naming only
	 * the intent / PayPal order): order_ref, SUCCEEDED when found,
	 * NOT_FOUND, or UNAVAILABLE. */
	void (*lookup)(const pay_request *req, pay_result *out);
} pay_provider;

/* The in-process sandbox (sandbox.c). */
extern const pay_provider pay_sandbox_provider;

/* The live providers (Stripe + PayPal over libcurl). */
extern const pay_provider pay_live_provider;

/* The provider chosen by billingd.cfg.payments (never NULL). */
const pay_provider *pay_provider_current(void);

/* Whether the configured provider of `method` (STRIPE or PAYPAL) can
 * charge exactly `amount` minor units of `currency` (payments/currency.h):
 * 0, or -1 with a sentence in why. Other methods: 0. (accept.c) */
int pay_can_charge(int method, const char *currency, int64_t amount, char *why, size_t cap);

/* Whether some configured provider accepts `currency` at all: 0 or -1
 * with why. SetPrice and SetCreditPrice refuse prices nobody can charge. */
int pay_accepts_currency(const char *currency, char *why, size_t cap);

/* A name for logs ("SUCCEEDED", "UNAVAILABLE", ...). */
const char *pay_status_name(pay_status s);

#endif
