#ifndef SPB_EVENT_WEBHOOKS_H
#define SPB_EVENT_WEBHOOKS_H

/*
 * event_webhooks.h: events pushed to HTTPS endpoints (issue 15): the endpoint
 * RPCs of EventService (event_webhooks.c) and the delivery worker
 * (event_webhook_worker.c).
 *
 * Delivery. One worker thread. It fans each new event out to the endpoints
 * that want it (their account sees it, the kinds filter passes, the event
 * is newer than the endpoint), creating one PENDING delivery per (endpoint,
 * event) in a write mutation that also moves its position in the outbox
 * (meta "webhook_cursor"). Then, with no transaction held, it POSTs each
 * due delivery and records the answer in another mutation: 2xx is
 * DELIVERED; anything else is retried with exponential backoff (base
 * doubling per attempt, at most 12 h apart) until 72 h after the delivery
 * was scheduled, then it is DEAD (dead-lettered; RedeliverEvent revives
 * it). Times are the server clock, so the test clock moves retries too.
 *
 * Each request:
 *   POST <url>
 *   Content-Type: application/json
 *   Smartplus-Event-Id: evt_...
 *   Smartplus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *   body: the smartplus.billing.v1.Event in the proto3 JSON mapping
 * (Stripe's signature scheme, so its verifiers can be reused; t is the real
 * time of signing, for the receiver's replay window). Delivery is at least
 * once: a receiver deduplicates on the event id, the same in every retry.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct evhooks_options {
	int64_t retry_base_us; /* first retry after this; default 60 s */
	long timeout_ms;       /* one request; default 10000 */
} evhooks_options;

void evhooks_configure(const evhooks_options *o);

/* How long a delivery is retried before it is dead-lettered. */
#define EVHOOKS_RETRY_WINDOW_US (INT64_C(72) * 3600 * 1000000)

/* 1 if url may receive webhooks: https://, or http:// to a loopback host
 * (127.0.0.0/8, ::1, localhost); at most 2048 characters, with a host and
 * no user information. Parsed by libcurl's URL API. */
int evhooks_url_allowed(const char *url);

/* The signature header value for body signed at unix time t with secret,
 * into out[cap]: "t=<t>,v1=<64 hex>". 0, or -1 if it does not fit. */
int evhooks_sign(const char *secret, int64_t t, const char *body, size_t body_len, char *out,
		 size_t cap);

/* Starts / stops the delivery worker (billingd.store open). */
int evhooks_start(void);
void evhooks_stop(void);

/* Wakes the worker: new deliveries, or the clock jumped. Any thread. */
void evhooks_kick(void);

#endif
