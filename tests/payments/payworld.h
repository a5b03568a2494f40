#ifndef SPB_TEST_PAYWORLD_H
#define SPB_TEST_PAYWORLD_H

/*
 * payworld.h: the real billingd on --payments live against the provider
 * fake (fakectl.h), for the payment tests: both started, the webhooks of
 * the fake pointed at billingd's --webhook-listen port, a reseller tree
 * (d1 distributor -> i1 installer) and a price, SDK clients (the vendor's
 * key; the vendor may pay for anyone below it), and the calls a checkout
 * needs. Both clocks are moved together (pw_advance): the fake's (its key
 * windows) and billingd's test clock (AdvanceClock).
 *
 * One world per process; not thread-safe except the call helpers, which
 * may run on several threads (each thread has its own SDK error state).
 */

#include <stddef.h>
#include <stdint.h>

#include "spbilling.h"
#include "spt_billingd.h"

#define PW_PRICE 1000 /* COMMUNITY APP, USD minor units a month */

typedef struct pw_world {
	spt_billingd srv;
	spb_client *cli; /* the vendor's key, no SDK retries (each UNAVAILABLE is seen) */
	int hook_port;
} pw_world;

/* Starts the fake (node provider.js) and billingd (test clock, webhooks,
 * reconciler every 200 ms, provider timeout 3 s, return URLs), then seeds
 * the tree and the price. extra: more billingd arguments (NULL-terminated,
 * may be NULL). 0 or -1. */
int pw_start(pw_world *w, const char *billingd, const char *node, const char *fake_js,
	     const char *const *extra);
/* Stops billingd (SIGTERM) and the fake; keeps billingd's work directory
 * (data, log) when keep != 0, else frees it (spt_billingd_free). */
void pw_stop(pw_world *w, int keep);
/* Points the fake's webhooks at billingd again (after a test moved them). */
void pw_hooks(pw_world *w);
/* SIGKILL and restart on the same data directory; the client is renewed. */
int pw_kill_restart(pw_world *w);

/* A COMMUNITY project of i1 with one APP item "<project>_app". 0 or -1. */
int pw_project(pw_world *w, const char *project_id);

/* The outcome of an order call. */
typedef struct pw_outcome {
	int code;          /* gRPC status (0 OK) */
	char reason[64];   /* ErrorInfo reason */
	char order_id[64]; /* the order (the response's, or ErrorInfo order_id) */
	char message[256];
	Smartplus__Billing__V1__Order *order; /* NULL unless OK */
	void *keep;
} pw_outcome;
void pw_outcome_free(pw_outcome *o);

/* Quote one month of the project's app and ActivateServices with method,
 * saved card pm / customer cus (NULL for none). The gRPC code. (autorenew
 * is ignored: R8 allows AUTO on renewals only.) */
int pw_checkout(pw_world *w, const char *project, int method, const char *pm, const char *cus,
		int autorenew, pw_outcome *out);
/* The same with RenewServices of the active item, AUTO when autorenew. */
int pw_renew(pw_world *w, const char *project, int method, const char *pm, const char *cus,
	     int autorenew, pw_outcome *out);
/* The quote only: 0 with *total and *methods (bit per PaymentMethod), or
 * the gRPC code (message in out). */
int pw_quote(pw_world *w, const char *project, int64_t *total, uint32_t *methods, pw_outcome *out);
int pw_confirm(pw_world *w, const char *order_id, pw_outcome *out);
int pw_cancel(pw_world *w, const char *order_id, pw_outcome *out);
int pw_get(pw_world *w, const char *order_id, pw_outcome *out);

/* The order's status (0 when it cannot be read). */
int pw_status(pw_world *w, const char *order_id);
/* Waits (bounded by ms) for the order to reach `status`; its last status. */
int pw_wait_status(pw_world *w, const char *order_id, int status, long ms);
/* The project's orders (every page of ListOrders), how many; up to max
 * ids copied. */
size_t pw_project_orders(pw_world *w, const char *project, char ids[][64], size_t max);
/* Whether the project's item is ACTIVE, and its expiry. */
int pw_item_active(pw_world *w, const char *project, int64_t *expires_at);

/* SetPrice of COMMUNITY APP. The gRPC code (message in out). */
int pw_set_price(pw_world *w, int64_t amount, const char *currency, pw_outcome *out);

/* Moves both clocks forward by `seconds` (the fake's, then billingd's test
 * clock, which runs the renewals due in the jump). 0 or -1. */
int pw_advance(pw_world *w, int64_t seconds);
/* Its two halves: the fake's clock only (its key windows), billingd's test
 * clock only (*now_us, may be NULL: billingd's clock after it). Between
 * them the provider's clock is ahead of billingd's. */
int pw_advance_fake(int64_t seconds);
int pw_advance_billingd(pw_world *w, int64_t seconds, int64_t *now_us);

/* Money the fake captured for our order id (Stripe metadata / PayPal
 * custom_id), not refunded. */
int pw_captures(const char *order_id);
/* POST /v1/payment_intents (create) requests the fake logged with
 * Idempotency-Key `key`, and the latest fake-clock time of one. */
int pw_creates(const char *key, int64_t *last_ms);
/* The fake's clock (ms). */
int64_t pw_fake_now_ms(void);
/* Waits (bounded) until the fake has no webhook delivery in flight. */
void pw_webhooks_idle(void);
/* Whether billingd's log has a line containing needle. */
int pw_log_has(pw_world *w, const char *needle);

#endif
