/*
 * A fake gRPC server for the SDK's tests, on grpc C core: it listens on
 * 127.0.0.1:<ephemeral port>, answers every call with the status it was
 * told to (and, for OK, a GetCatalogResponse echoing the request's project
 * type), and records the metadata (and :authority) each call carried.
 */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <grpc/status.h>
#include <pthread.h>

#define FAKE_MAX_CALLS 16

struct fake_call {
	char method[128];
	char authorization[128];
	char idempotency_key[256];
	char acting_account[128];
	char traceparent[128];
	char request_id[128]; /* x-request-id */
	char host[128];       /* the call's :authority */
};

typedef struct fake_server fake_server;

/* Starts the server answering `status`; with reason, a non-OK status also
 * carries a google.rpc.ErrorInfo with that reason. NULL on failure. */
fake_server *fake_server_start(grpc_status_code status, const char *reason);

/* "127.0.0.1:<port>", valid until fake_server_stop(). */
const char *fake_server_target(const fake_server *fake);

/* How many calls it has answered; copies the first `max` of them to calls. */
int fake_server_calls(fake_server *fake, struct fake_call *calls, int max);

/* Shuts down, drains and frees everything. NULL does nothing. */
void fake_server_stop(fake_server *fake);

#endif
