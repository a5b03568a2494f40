#ifndef SPB_LEDGER_INT_H
#define SPB_LEDGER_INT_H

/*
 * ledger_int.h - the ledger's key layout, shared by ledger.c (the tables)
 * and ledger_check.c (the checker); not part of storage's interface.
 */

#include <stdint.h>

#include "store_int.h"
#include "store_ledger.h"

/* Meta counter of transfer sequence numbers. */
#define LEDGER_SEQ_COUNTER "transfer_seq"

/* The credit-log key of account's entry for transfer seq at time_us: newest
 * first (time, then sequence, descending). */
void ledger_log_key(store_key *k, const char *account, int64_t time_us, uint64_t seq);

/* The transfer id of sequence number seq: "trf_" + 16 hex digits. */
void ledger_format_id(char id[LEDGER_ID_MAX], uint64_t seq);

/* 1 if kind is a known transfer kind (LEDGER_PURCHASE..LEDGER_REFUND). */
int ledger_valid_kind(int kind);

#endif
