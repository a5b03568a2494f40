#ifndef SPB_RECONCILER_H
#define SPB_RECONCILER_H

/*
 * reconciler.h: settles payments whose outcome billingd does not know
 * (DESIGN §5, R10). A thread wakes every interval (and once right at start:
 * the crash recovery), finds the live orders left PROCESSING (a timeout, a
 * lost answer, a crash between the phases) and the PENDING_PAYMENT ones
 * that have a provider id (3-D Secure or a PayPal approval done elsewhere),
 * asks the provider about each with the SAME ids (pay_provider.confirm:
 * never a new charge, never a new key; after the key window, a search) as
 * CONFIRM jobs of the payment engine (order_payment.h), whose workers hold
 * no transaction and record each answer in its own write transaction. An
 * order the provider asked to be left alone (Retry-After) waits its turn.
 *
 * Sandbox orders are never touched (the sandbox settles in the call), and
 * with --payments sandbox the thread does nothing. PROCESSING orders are
 * asked about only once they were seen in the previous round too (or were
 * there at start), so a call still in flight is left alone.
 */

#include "billingd.h"

#define RECONCILER_DEFAULT_INTERVAL_MS 5000

/* Starts the thread (once; later calls do nothing): interval_ms <= 0 means
 * RECONCILER_DEFAULT_INTERVAL_MS. Call after the store is open. 0 or -1. */
int reconciler_start(long interval_ms);

/* Stops and joins it (a round in progress finishes its provider calls,
 * each bounded by cfg.provider_timeout_ms). Call before closing the store. */
void reconciler_stop(void);

typedef struct reconciler_counts {
	uint64_t rounds;  /* rounds completed */
	uint64_t asked;   /* provider confirm() calls */
	uint64_t settled; /* orders moved to SUCCEEDED / FAILED / TIMED_OUT */
	uint64_t updated; /* orders moved PROCESSING -> PENDING_PAYMENT */
	uint64_t unknown; /* answers still unknown (left as they were) */
} reconciler_counts;

void reconciler_counts_get(reconciler_counts *out);

#endif
