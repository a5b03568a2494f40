#ifndef SPB_WRITE_H
#define SPB_WRITE_H

/*
 * write.h: how a handler performs a mutation and answers once it is durable.
 *
 * A handler allocates a struct that starts with `rpc_write` (its own state
 * after it), fills `apply` and `reply`, and calls write_submit(). On the
 * writer thread, apply() runs inside its own nested transaction; it returns
 * 0 to keep its writes, or fails with write_fail() (a gRPC status, a reason,
 * a message; it returns WRITE_REFUSED) or a negative STORE_* code, which
 * roll back exactly its writes. No other positive code may come out of
 * apply(): module codes such as LEDGER_INSUFFICIENT are turned into a
 * write_fail() by the handler that understands them; one that leaks through
 * is answered INTERNAL and logged, never OK (write.c checks).
 * After the batch is durable, reply() builds the response from the state
 * (rc == 0 only); the call is then finished and the struct freed with
 * free(). reply may be NULL for an empty response of the RPC's output type.
 *
 * R17: when the call holds an idempotency key, reply() is also run inside
 * apply's transaction in capture mode, so its outcome (a response or an
 * error) is stored with the effect; reply() must therefore only build an
 * answer from the state, unless the write is `intermediate`.
 */

#include <grpc/grpc.h>

#include "rpc.h"
#include "store.h"

typedef struct rpc_write rpc_write;

struct rpc_write {
	store_mutation m;
	rpc_call *call;
	int (*apply)(store_txn *w, rpc_write *self);
	void (*reply)(rpc_write *self);
	void (*cleanup)(rpc_write *self); /* optional: frees handler state */
	/* Set by apply() when this write does not end the call: a later phase
	 * (another write) will. Its reply() then runs only after the commit and
	 * nothing is recorded for R17 here; the final phase records it. */
	int intermediate;
	/* With `intermediate`: what a retry with the same idempotency key
	 * resumes (an order id), recorded as a pending R17 entry. */
	char resume_ref[64];
	/* set by write_fail() */
	grpc_status_code code;
	const char *reason;
	char message[256];
};

/* Allocates a zeroed write of `size` bytes (>= sizeof(rpc_write)). */
void *write_new(rpc_call *call, size_t size);

/* Queues the write; on a closing store the call fails UNAVAILABLE. */
void write_submit(rpc_write *w);

/* What write_fail() returns: a refusal with its status in the write. Not
 * 1, so it cannot be mistaken for a module's own positive code. */
#define WRITE_REFUSED 0x7246

/* Records a refusal (code must not be OK) and returns WRITE_REFUSED, which
 * apply() returns. */
int write_fail(rpc_write *w, grpc_status_code code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The order a retry with the call's idempotency key resumes (recorded by an
 * `intermediate` write of the first attempt), or "" (a first attempt, or no
 * key). */
const char *write_resume_ref(rpc_write *w);

#endif
