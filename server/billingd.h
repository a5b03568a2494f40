#ifndef SPB_BILLINGD_H
#define SPB_BILLINGD_H

/*
 * Process-wide state of billingd: its configuration (set once by main before
 * the server starts, read-only afterwards) and the handles the handlers
 * share. Handlers reach it through `billingd`.
 */

#include <stddef.h>
#include <stdint.h>

struct store_env;
struct store_lock;

/* The seller printed on invoices and how they are numbered (issue 17;
 * invoices.h, flags --seller-* --invoice-prefix --credit-tax). */
typedef struct billingd_invoicing {
	const char *seller_name;
	const char *seller_address;
	const char *seller_country; /* ISO-3166 alpha-2; decides the tax rules */
	const char *seller_region;
	const char *seller_tax_id;
	const char *seller_email;
	const char *prefix; /* invoice numbers "<prefix>-<year>-<seq>" */
	int credit_tax;     /* tax_credit_rule (tax.h) */
} billingd_invoicing;

typedef struct billingd_config {
	const char *listen;    /* default 127.0.0.1:50051 */
	const char *data_dir;  /* default ./data */
	int threads;           /* completion-queue threads */
	const char *port_file; /* bound port written here once listening */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_client_ca;
	int64_t cutover_us;            /* R2 credit cut-over, unix micros */
	int test_clock;                /* R18 */
	int convert_test_clock;        /* a test-clock store goes onto the real clock */
	const char *payments;          /* "sandbox" or "live" */
	const char *stripe_url;        /* live: Stripe API base URL */
	const char *paypal_url;        /* live: PayPal API base URL */
	char *stripe_key;              /* live: from STRIPE_SECRET_KEY(_FILE), never argv */
	char *paypal_client_id;        /* live: PAYPAL_CLIENT_ID(_FILE) */
	char *paypal_secret;           /* live: PAYPAL_CLIENT_SECRET(_FILE) */
	long provider_timeout_ms;      /* total time allowed for one provider call */
	const char *stripe_return_url; /* on-session confirmation return_url */
	const char *paypal_return_url; /* experience_context.return_url */
	const char *paypal_cancel_url; /* experience_context.cancel_url */
	const char *webhook_listen;    /* provider webhooks: host:port, NULL = off */
	char *stripe_webhook_secret;   /* STRIPE_WEBHOOK_SECRET(_FILE): whsec_..[,whsec_..] */
	char *paypal_webhook_id;       /* PAYPAL_WEBHOOK_ID(_FILE) */
	long reconcile_interval_ms;    /* reconciler round period (live payments) */
	int64_t renew_lead_us;         /* auto-renewal runs this long before expiry */
	int renew_interval_s;          /* real-clock scheduler period */
	int64_t renew_retry_us[8];     /* retry offsets after a failed renewal */
	size_t renew_retries;
	int64_t renew_grace_us[16];   /* GRACE per service type; [0] the default; -1 unset */
	int64_t renew_upcoming_us[4]; /* renewal.upcoming leads */
	size_t renew_upcomings;
	int renew_grace_parsed; /* the two above were set (else grace.h's defaults) */
	size_t max_receive_bytes;
	uint64_t map_size;
	int quiet_calls;
	long shutdown_grace_s;      /* SIGTERM: drain this long (default provider timeout + 5 s) */
	const char *health_listen;  /* health-only port (plaintext, any address) */
	const char *metrics_listen; /* Prometheus /metrics: loopback host:port, NULL = off */
	long writer_stall_s;        /* a write batch longer than this: NOT_SERVING */
	int log_format;             /* log_format of log.h */
	int log_level;              /* log_level of log.h */
	/* events and webhooks (issue 15); 0 = the defaults */
	int64_t event_retention_us;   /* default 30 days */
	int64_t expiring_soon_us;     /* item.expiring_soon warning window, 7 days */
	int events_off;               /* --events off: record none (measurements) */
	int64_t evhook_retry_base_us; /* event webhooks: first retry, 60 s */
	long evhook_timeout_ms;       /* one delivery request, 10000 */
	billingd_invoicing invoicing;
} billingd_config;

typedef struct billingd_state {
	billingd_config cfg;
	struct store_env *store;
	struct store_lock *lock; /* the data directory, held while running */
} billingd_state;

extern billingd_state billingd;

/* Default R2 cut-over: 2025-06-01T00:00:00Z. */
#define BILLINGD_DEFAULT_CUTOVER_US (INT64_C(1748736000) * 1000000)

#endif
