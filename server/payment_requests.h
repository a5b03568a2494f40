#ifndef SPB_PAYMENT_REQUESTS_H
#define SPB_PAYMENT_REQUESTS_H

/*
 * payment_requests.h: payment requests up the reseller tree (issue 16;
 * payment_requests.c serves RequestPayment, ApprovePaymentRequest,
 * DeclinePaymentRequest and ListPaymentRequests).
 *
 * In the vendor's own flow a distributor renews at the request of an
 * installer that may not pay. The installer quotes with the ancestor as
 * payer (QuoteServices allows an ancestor of the caller as payer for this),
 * and RequestPayment(quote_id, to_account_id) records a PENDING request.
 * The ancestor (or any account above it) lists it and either approves it —
 * the order is placed from the quote exactly as RenewServices or
 * ActivateServices would place it, with the ancestor's own payment method,
 * the quote's 15 minutes and staleness rules applying, and the request
 * becomes APPROVED in the same transaction — or declines it. A request
 * expires with its quote: it reads EXPIRED from then on, and the renewal
 * scheduler records that (payreq_expire_due) so each step is one event.
 */

#include <stdint.h>

#include "store.h"

/* Marks EXPIRED the PENDING requests whose quote expired at or before now.
 * The number marked, or a negative STORE_* code. */
int payreq_expire_due(int64_t now);

/* The soonest expiry of a PENDING request (0: none), read in txn. */
int64_t payreq_next_expiry(store_txn *txn);

#endif
