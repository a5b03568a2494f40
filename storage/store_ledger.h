/*
 * store_ledger.h - the prepaid-credit ledger (DESIGN R15): append-only,
 * double-entry transfers between accounts, with balances kept in the same
 * transaction.
 *
 * Read these first:
 *
 *  - Every credit movement is one transfer: from, to, credits (> 0), kind,
 *    order, actor, time and the balance of each side after it. Transfers
 *    are never changed or deleted. Their sum over all accounts is zero.
 *  - The issuance account LEDGER_ISSUER ("vendor") is the only one allowed
 *    below zero: credits enter the tree by moving out of it. Every other
 *    debit needs a balance that covers it, checked inside the write
 *    transaction that makes the debit; since the single writer serialises
 *    those transactions, concurrent debits of one balance cannot overdraw it.
 *  - The ledger does not look at the accounts table: callers check that the
 *    accounts exist and may trade (roles, tree).
 *  - Memory: nothing returned points into the LMDB map. Records come back as
 *    fresh messages the caller frees with store_record_free() / lists with
 *    store_list_free().
 *  - Errors: 0, a negative STORE_* code, or the positive LEDGER_INSUFFICIENT.
 *
 * Layout in the "ledger" database (documented for tools and white-box tests;
 * other code goes through the functions):
 *
 *   'T' transfer_id\0                     -> TransferRecord
 *   'B' account\0                         -> BalanceRecord
 *   'L' account\0 ~time(be64) ~seq(be64)  -> transfer_id (no NUL)
 *   'R' transfer_id\0                     -> be64 credits of that
 *                                           ALLOCATION taken back so far
 *
 * Transfer ids are "trf_" + 16 lower-case hex digits of a meta counter, so
 * the 'T' records sort in the order they were written. The 'L' entries are
 * each account's credit log: a range scan gives it newest first (by time,
 * then by seq), and a time window is a key range.
 */
#ifndef SPB_STORE_LEDGER_H
#define SPB_STORE_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__TransferRecord ledger_transfer_rec;
typedef Smartplus__Billing__Store__V1__BalanceRecord ledger_balance_rec;

/* The issuance account: the only balance allowed below zero. */
#define LEDGER_ISSUER "vendor"

/* Transfer kinds: the values of smartplus.billing.v1.TransferKind. */
enum {
	LEDGER_PURCHASE = 1,
	LEDGER_ALLOCATION = 2,
	LEDGER_SPEND = 3,
	LEDGER_REFUND = 4,
};

/* The debited account's balance is below the amount; nothing was written.
 * Positive, so a mutation's apply() may pass it through to its done(). */
#define LEDGER_INSUFFICIENT 1

/* The transfer cannot be reversed: not an ALLOCATION, or itself a
 * correction. Positive, like LEDGER_INSUFFICIENT. */
#define LEDGER_NOT_REVERSIBLE 2

/* Key classes in the ledger database (see the layout above). */
#define LEDGER_KC_REVERSED 'R'
#define LEDGER_KC_TRANSFER 'T'
#define LEDGER_KC_BALANCE 'B'
#define LEDGER_KC_LOG 'L'

/* Length of a transfer id buffer: "trf_" + 16 hex digits + NUL fits. */
#define LEDGER_ID_MAX 40

/* What ledger_transfer() did. */
typedef struct ledger_result {
	char transfer_id[LEDGER_ID_MAX]; /* "trf_<16 hex>" */
	uint64_t seq;
	int64_t from_balance; /* balances after the transfer */
	int64_t to_balance;
	int64_t time_us;
} ledger_result;

/*
 * Move `credits` from `from` to `to` in the write transaction w: append the
 * transfer (id from the meta counter "transfer_seq"), update both balances
 * and add the transfer to both accounts' credit logs, all in w.
 *
 * kind is one of LEDGER_PURCHASE..LEDGER_REFUND; order_id and actor_id may
 * be NULL or "" (stored as ""); now_us is the transfer's time (unix micros,
 * >= 0). out may be NULL; on success it receives the id and both balances.
 *
 * Returns 0; LEDGER_INSUFFICIENT when from is not LEDGER_ISSUER and its
 * balance is below credits (nothing written); STORE_INVALID for a read-only
 * txn, credits <= 0, from == to, an unknown kind, an id that is not a valid
 * key, or a balance that would overflow int64 (nothing written); or another
 * STORE_* code from LMDB (then w's nested transaction must be rolled back,
 * which the writer does when apply() returns it).
 */
int ledger_transfer(store_txn *w, const char *from, const char *to, int64_t credits, int kind,
		    const char *order_id, const char *actor_id, int64_t now_us, ledger_result *out);

/*
 * Take back credits of the ALLOCATION transfer_id in w: a correcting
 * ALLOCATION from its receiver back to its sender, naming it in
 * `reverses`, of min(credits (0 = no limit), what of it was not taken back
 * yet, the receiver's balance) credits. out as for ledger_transfer();
 * *remaining (may be NULL) gets what of the original is still not taken
 * back after it. Returns 0; LEDGER_NOT_REVERSIBLE (not an ALLOCATION, or a
 * correction itself); LEDGER_INSUFFICIENT when nothing can be taken (all
 * taken back already, or the receiver has spent everything); STORE_NOTFOUND
 * for an unknown transfer; STORE_INVALID for credits < 0; or another
 * STORE_* code. Nothing is written unless it returns 0.
 */
int ledger_reverse(store_txn *w, const char *transfer_id, int64_t credits, const char *actor_id,
		   int64_t now_us, ledger_result *out, int64_t *remaining);

/* Credits of ALLOCATION transfer_id taken back so far (0 if none). */
int ledger_reversed(store_txn *txn, const char *transfer_id, int64_t *out);

/* Balance of account in *out: 0 for an account that never had a transfer.
 * Read or write txn. Returns 0 or a STORE_* code (*out = 0 then). */
int ledger_balance(store_txn *txn, const char *account, int64_t *out);

/* The transfer with this id (caller frees with store_record_free()), or
 * STORE_NOTFOUND. */
int ledger_transfer_get(store_txn *txn, const char *transfer_id, ledger_transfer_rec **out);

/* Which part of a credit log to list. */
typedef struct ledger_filter {
	int kind;         /* 0 = every kind */
	int64_t start_us; /* at or after; 0 = from the beginning */
	int64_t end_us;   /* before; 0 = no end */
} ledger_filter;

#define LEDGER_FILTER_INIT \
	{                  \
		0, 0, 0    \
	}

/*
 * One page of account's credit log, newest first: out->items are
 * ledger_transfer_rec * (the transfers, in which account is from_id or
 * to_id), owned by the list (store_list_free()). f may be NULL (everything).
 * page_size <= 0 means STORE_PAGE_DEFAULT, capped at STORE_PAGE_MAX. The
 * next_page_token is bound to account and filter: given back with another
 * account or filter it is STORE_INVALID. Returns 0 or a STORE_* code (out
 * left empty).
 */
int ledger_list_logs(store_txn *txn, const char *account, const ledger_filter *f, int page_size,
		     const char *page_token, store_list *out);

/*
 * Verify every R15 invariant over the whole ledger in txn:
 *  - each transfer is well formed (id matches seq, credits > 0, from != to,
 *    known kind) and the seqs strictly increase;
 *  - replaying the transfers in seq order, each side's balance_after is the
 *    previous balance_after of that account -/+ credits (the chains);
 *  - no balance but LEDGER_ISSUER's is ever negative, after any transfer;
 *  - each stored balance equals the sum of its transfers, and counts and
 *    last_seq match; every account with a transfer has a balance record;
 *  - all balances sum to zero;
 *  - every transfer is listed in both accounts' logs (key matching its time
 *    and seq), and no log holds any other entry;
 *  - every correcting transfer reverses an earlier ALLOCATION between the
 *    same two accounts the other way, no ALLOCATION is taken back beyond
 *    its credits, and each 'R' total is the sum of its corrections.
 * Returns 0 with report = "ledger ok: N transfers, M accounts, sum 0"; 1
 * with report describing the first violation found; or a negative STORE_*
 * code (report says which). report is always NUL-terminated when cap > 0.
 * Reads the whole ledger: run it on a quiet store
 * (a stopped data directory, a test), not on a serving billingd.
 */
int ledger_check(store_txn *txn, char *report, size_t cap);

#endif /* SPB_STORE_LEDGER_H */
