#ifndef SPB_IDEM_H
#define SPB_IDEM_H

/*
 * Idempotency of mutating RPCs (R17), done once in the dispatcher.
 *
 * A mutating call carrying "idempotency-key" (1..255 printable ASCII) is
 * scoped to its caller (key account + acting account). Before the handler:
 *   - the same key still running          -> ABORTED;
 *   - a record < 24 h old, other request  -> FAILED_PRECONDITION
 *                                            IDEMPOTENCY_KEY_REUSED;
 *   - a record < 24 h old, same request   -> its response, status included,
 *                                            byte for byte;
 *   - otherwise the call claims the key and runs. write.c then stores the
 *     response (or the refusal) in the same transaction as the effect.
 * A janitor prunes records older than 24 h.
 */

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "store.h"

#define IDEM_TTL_US (INT64_C(24) * 3600 * 1000000)
/* Status of a record whose call ended only its first phase (an order left to
 * the provider): a retry runs again with st->resume_ref set, never replays. */
#define IDEM_PENDING (-1)

/* Returns 1 when it finished the call itself, 0 to run the handler (with
 * *st->active set when a key was claimed). */
int idem_begin(rpc_call *call, const grpc_metadata_array *md, const rpc_caller *caller,
	       const char *path, const uint8_t *req, size_t len, rpc_idem *st);

/* Drops the in-flight claim (the dispatcher calls it when the call ends). */
void idem_release(rpc_idem *st);

/* Stores the outcome of a claimed call inside write txn w: status OK with
 * st->captured, or an error. */
int idem_record(store_txn *w, const rpc_idem *st, const char *path, int status, const char *message,
		const char *reason);

/* 1 for a status R17 does not keep (the call may simply be retried):
 * CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
 * INTERNAL, UNAVAILABLE, DATA_LOSS. */
int idem_transient(int status);

/*
 * Records the outcome of a claimed call that ended without a write doing
 * it (a handler that answers directly: AdvanceClock, Backup, a refusal
 * before any write): submits a mutation storing status, message, reason
 * and body (the packed response, status OK) under st, then calls
 * done(arg, rc) on the writer thread once it is durable. Returns 0, or -1
 * when the store is closing (done is then never called).
 */
int idem_record_async(const rpc_idem *st, const char *path, int status, const char *message,
		      const char *reason, const uint8_t *body, size_t len,
		      void (*done)(void *arg, int rc), void *arg);

/* Starts / stops the janitor thread that prunes old records. */
void idem_janitor_start(void);
void idem_janitor_stop(void);

#endif
