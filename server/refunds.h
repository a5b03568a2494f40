#ifndef SPB_REFUNDS_H
#define SPB_REFUNDS_H

/*
 * refunds.h: credit notes and refunds (issue 17). InvoiceService
 * RefundOrder, GetCreditNote and ListCreditNotes are served by refunds.c;
 * this header gives the refund reconciler's life (server.c) and the one
 * entry that records a provider's answer about a refund (the reconciler,
 * and provider webhooks such as Stripe charge.refunded / refund.updated or
 * PayPal PAYMENT.CAPTURE.REFUNDED once they are received).
 *
 * A refund runs in atomic phases like a payment (DESIGN §5):
 *   1. a write transaction checks what may still be refunded, takes the
 *      credit note's number from its gapless sequence, reserves the amount
 *      on the invoice and commits the note — SUCCEEDED at once when no
 *      money moves at a provider (an order paid with credits: a REFUND
 *      transfer in the ledger; a zero amount), else PENDING;
 *   2. with no transaction held, a refund worker asks the provider
 *      (payments/refund.h), keyed by the credit note number;
 *   3. a second write transaction records the answer: SUCCEEDED applies
 *      the effects (the refunded lines' items lose the refunded days, never
 *      below now, and stop renewing automatically); FAILED gives the
 *      reservation back (the note stays, void, its number used); PENDING or
 *      no answer leaves it for the reconciler.
 * A credit purchase refunded takes its credits back from the beneficiary
 * (in proportion, rounded up) in phase 1, and returns them if the money
 * refund fails.
 */

#include <stdint.h>

#include "payments/refund.h"
#include "store.h"

/*
 * Records the provider's answer res about credit note `number` in write
 * txn w at `now` (phase 3): SUCCEEDED applies the effects, FAILED releases
 * the reservation, PENDING and UNAVAILABLE keep it pending (with the
 * refund id when one is given). A note no longer PENDING is left alone
 * (duplicate or late answers change nothing). *outcome (may be NULL): the
 * refund_status applied, 0 when nothing was to settle. 0 or a STORE_* code.
 */
int refunds_settle_answer(store_txn *w, const char *number, const refund_result *res, int64_t now,
			  int *outcome);

/*
 * A provider said something about the refunds of order_id (a webhook such
 * as Stripe charge.refunded or PayPal PAYMENT.CAPTURE.REFUNDED: a hint,
 * never the truth): asks the provider about each of its PENDING credit
 * notes, with no transaction held, and records the answers. Blocking.
 * 0 when every note of the order is settled or was asked about, -1 when
 * one could not be asked now (claimed elsewhere, no answer: the caller
 * should have the event delivered again; the reconciler also keeps asking).
 */
int refunds_settle_order(const char *order_id);

/*
 * The refund reconciler: every interval_ms (<= 0: cfg.reconcile_interval_ms,
 * or 5 s) a thread asks the provider again about the credit notes that were
 * PENDING in its previous round too (at start: all of them, the crash
 * recovery), with the same key, and records the answers. start/stop are
 * idempotent; stop joins the thread. refunds_reconcile_once() is one round
 * over every PENDING note (tests): the number of notes settled, or a
 * negative STORE_* code.
 */
int refunds_reconciler_start(long interval_ms);
void refunds_reconciler_stop(void);
int refunds_reconcile_once(void);

#endif
