#ifndef SPB_PAYMENTS_PROVIDER_H
#define SPB_PAYMENTS_PROVIDER_H

/*
 * provider.h: the one interface every payment provider implements (DESIGN
 * §5). The order engine calls it in phase 2 of a payment, on a payments
 * worker thread, with NO storage transaction held: phase 1 has already
 * committed the order (PROCESSING) with its provider key (= order id),
 * and phase 3 records the answer in a new write transaction.
 *
 * A provider must be idempotent on req->provider_key: create() called
 * twice for one key charges at most once (Stripe Idempotency-Key, PayPal
 * PayPal-Request-Id). confirm() asks the provider for the truth about an
 * order created earlier (ConfirmOrder, the reconciler) and may capture
 * (PayPal). Both may block (network) and must honour their own timeouts;
 * a timeout or lost answer is PAY_UNAVAILABLE, which leaves the order
 * PROCESSING for the reconciler. Both are called from several threads.
 */

#include <stdint.h>

typedef enum pay_status {
	PAY_SUCCEEDED = 1,    /* money taken: apply the effects */
	PAY_REQUIRES_ACTION,  /* Stripe: the client must confirm (client_secret) */
	PAY_PENDING_APPROVAL, /* PayPal: the buyer must approve (approval_url) */
	PAY_DECLINED,         /* refused; decline_code says why */
	PAY_UNAVAILABLE,      /* provider unreachable / unknown outcome */
} pay_status;

typedef struct pay_request {
	const char *order_id;
	const char *provider_key; /* idempotency key at the provider */
	int method;               /* PaymentMethod: STRIPE or PAYPAL */
	int64_t amount;           /* minor units */
	const char *currency;     /* ISO-4217 */
	const char *description;
	/* Stripe */
	const char *stripe_payment_method_id; /* "" = client confirms */
	const char *stripe_customer_id;
	const char *stripe_payment_intent_id; /* confirm(): from create() */
	/* PayPal */
	const char *paypal_order_id; /* confirm(): from create() */
} pay_request;

typedef struct pay_result {
	pay_status status;
	char decline_code[64];
	char stripe_payment_intent_id[128];
	char stripe_client_secret[256];
	char paypal_order_id[128];
	char paypal_approval_url[512];
} pay_result;

typedef struct pay_provider {
	const char *name;
	int sandbox; /* orders paid through it are marked sandbox */
	void (*create)(const pay_request *req, pay_result *out);
	void (*confirm)(const pay_request *req, pay_result *out);
} pay_provider;

/* The in-process sandbox (sandbox.c). */
extern const pay_provider pay_sandbox_provider;

/* The live providers (Stripe + PayPal over libcurl, live_provider.c). */
extern const pay_provider pay_live_provider;

/* The provider chosen by billingd.cfg.payments; never NULL. */
const pay_provider *pay_provider_current(void);

#endif
