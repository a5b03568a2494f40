#ifndef SPB_CREDITS_H
#define SPB_CREDITS_H

/*
 * credits.h: prepaid credits in billingd (DESIGN R13-R15).
 *
 * This file serves AssignCredits, GetCreditBalance and ListCreditLogs, and
 * gives the order engine the two ledger moves it makes when an order is
 * applied. Both run inside the caller's write transaction (a mutation's
 * apply() on the writer thread), so the debit or credit commits or rolls
 * back with the order it belongs to; they never block and never touch
 * anything outside w. They may be re-run with the mutation (group-commit
 * retry): each run appends a fresh transfer inside the fresh transaction.
 *
 * Return codes: 0; LEDGER_INSUFFICIENT (positive, from store_ledger.h: the
 * payer's balance is short and nothing was written); or a negative STORE_*
 * code (STORE_INVALID for credits <= 0, an empty or invalid id, payer ==
 * "vendor", or a balance that would overflow). On any non-zero return the
 * caller's apply() must fail too, so its nested transaction is rolled back.
 *
 * transfer_id, when not NULL, receives the new transfer's id
 * ("trf_<16 hex>", NUL-terminated) on success, and "" otherwise.
 */

#include <stdint.h>

#include "store_ledger.h"
#include "store.h"

/* Debits payer_id `credits` for order_id: a SPEND transfer payer -> the
 * issuance account "vendor", time clock_now_us(). actor_id is the account
 * that placed the order (may be NULL). */
int credits_spend(store_txn *w, const char *payer_id, int64_t credits, const char *order_id,
		  const char *actor_id, char transfer_id[40]);

/* 1 when a grant of `credits` (> 0) to beneficiary_id fits both balances
 * (the issuance account's going down, the beneficiary's up, neither past
 * int64), 0 when it does not, or STORE_* (STORE_INVALID for credits <= 0 or
 * an invalid id). Checked when a purchase is placed
 * and again when it settles, so paid credits always land. */
int credits_grant_fits(store_txn *txn, const char *beneficiary_id, int64_t credits);

/* Credits beneficiary_id `credits` bought by order_id: a PURCHASE transfer
 * "vendor" -> beneficiary (the issuance account may go below zero), time
 * clock_now_us(). */
int credits_grant(store_txn *w, const char *beneficiary_id, int64_t credits, const char *order_id,
		  const char *actor_id, char transfer_id[40]);

#endif
