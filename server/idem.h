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

#include <grpc/grpc.h>

#include "store.h"

/* Room for a recorded reason with every ErrorInfo metadata pair of the
 * failure ("REASON\x1fkey=value\x1fkey=value...", rpc.h RPC_REASON_META). */
#define IDEM_REASON_MAX 640

#define IDEM_TTL_US (INT64_C(24) * 3600 * 1000000)
/* Status of a record whose call ended only its first phase (an order left to
 * the provider): a retry runs again with st->resume_ref set, never replays. */
#define IDEM_PENDING (-1)

/* The R17 state of one mutating call, embedded in the call (runtime.c) and
 * reached by write.c through rpc_call_idem(). Touched by one thread at a
 * time: the dispatcher, then the writer thread, then the answering one. */
typedef struct idem_state {
	int active;             /* a key was given; this call owns it in flight */
	char id[400];           /* "<key account>/<acting account>/<key>" */
	unsigned char hash[32]; /* SHA-256 of path + request bytes */
	int capture;            /* finishing the call records it here instead */
	int has_capture;        /* a response or error was captured */
	int captured_status;
	char captured_message[512];
	char captured_reason[IDEM_REASON_MAX]; /* with its metadata (rpc.h RPC_REASON_META) */
	uint8_t *captured; /* packed response (status OK); freed with the call */
	size_t captured_len;
	char resume_ref[64]; /* from a pending record: what a retry resumes */
	/* The call's final outcome is stored (by the write that ended it, or it
	 * is a replay / refusal of the stored one): finishing the call records
	 * nothing more. Otherwise the dispatcher records it when the call ends
	 * (idem_record_async), so no mutating RPC can forget R17. */
	int recorded;
} idem_state;

/* What idem_begin() decided. */
typedef enum idem_verdict {
	IDEM_RUN = 0,    /* run the handler (st->active set if a key was claimed) */
	IDEM_ANSWER = 1, /* finish the call with *answer; the handler does not run */
} idem_verdict;

/* The answer of a call idem_begin() refused or replays: a gRPC status, its
 * message and reason ("" for none) and, for status OK, the recorded packed
 * response (body, malloc'd: the caller frees it). */
typedef struct idem_answer {
	grpc_status_code code;
	char message[512];
	char reason[IDEM_REASON_MAX];
	uint8_t *body;
	size_t body_len;
} idem_answer;

/*
 * Before the handler of a mutating call: reads "idempotency-key" from md,
 * scopes it to the caller (key_account_id, account_id), hashes path + the
 * request bytes, and refuses, replays or claims it (see above). Fills *st;
 * on IDEM_ANSWER also *answer.
 */
idem_verdict idem_begin(const grpc_metadata_array *md, const char *key_account_id,
			const char *account_id, const char *path, const uint8_t *req, size_t len,
			idem_state *st, idem_answer *answer);

/* Drops the in-flight claim (the dispatcher calls it when the call ends). */
void idem_release(idem_state *st);

/* Capture mode (st->capture): records how the call would have been finished
 * (status, message, reason, and for OK the packed body) instead of sending
 * it, so write.c can store it with the effect. */
void idem_capture(idem_state *st, grpc_status_code code, const char *message, const char *reason,
		  const uint8_t *body, size_t body_len);

/* Stores the outcome of a claimed call inside write txn w: status OK with
 * st->captured, or an error. */
int idem_record(store_txn *w, const idem_state *st, const char *path, int status,
		const char *message, const char *reason);

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
int idem_record_async(const idem_state *st, const char *path, int status, const char *message,
		      const char *reason, const uint8_t *body, size_t len,
		      void (*done)(void *arg, int rc), void *arg);

/* Starts / stops the janitor thread that prunes old records. */
void idem_janitor_start(void);
void idem_janitor_stop(void);

#endif
