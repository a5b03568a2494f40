#ifndef SPB_SIM_TRANSPORT_H
#define SPB_SIM_TRANSPORT_H

/*
 * How the driver reaches billingd: in process through the real dispatcher
 * (rpc_local_call_reason: decoding, authentication, access rule, R17,
 * handler, writer; no network), or over gRPC to a billingd process that
 * can be killed with SIGKILL and restarted on the same data directory.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct sim_auth {
	const char *bearer; /* "spb_..." or NULL */
	const char *acting; /* x-acting-account or NULL */
	const char *idem;   /* idempotency-key or NULL */
} sim_auth;

typedef struct sim_reply {
	int status; /* grpc_status_code */
	char msg[512];
	char reason[64];   /* ErrorInfo reason; every failure has one */
	char order_id[64]; /* ErrorInfo metadata `order_id` (issue 13.6), "" if none */
	uint8_t *body;     /* malloc'd (status OK) */
	size_t len;
} sim_reply;

typedef struct sim_transport sim_transport;
struct sim_transport {
	/* 0 with *out filled, or -1 when billingd did not answer (killed,
	 * unreachable): the call's outcome is unknown. */
	int (*call)(sim_transport *t, const char *path, const sim_auth *a, const uint8_t *req,
		    size_t len, sim_reply *out);
	/* R15 invariants of the store: 0 clean, 1 violated (report says how),
	 * -1 could not run. */
	int (*ledger)(sim_transport *t, char *report, size_t cap);
	/* gRPC only: kill -9 billingd now (0), or restart it (0/-1). NULL in
	 * process. */
	int (*kill)(sim_transport *t);
	int (*restart)(sim_transport *t, const char *fault);
	/* Whether billingd is down (killed, or a fault point fired); after a
	 * failed call wait_ms gives a dying process time to be reaped. */
	int (*died)(sim_transport *t, int wait_ms);
	/* After a death: 0 if it was SIGKILL (a kill or a fault point), else
	 * the signal (or minus the exit status) of a crash, e.g. a sanitizer. */
	int (*crash)(sim_transport *t);
	void (*close)(sim_transport *t);
	char admin_key[160];
	char datadir[512];
	char logfile[512]; /* billingd's log (gRPC), "" in process */
	void *impl;
};

void sim_reply_clear(sim_reply *r);

/* In process: a fresh store in a temporary directory, test clock at
 * SIM_EPOCH_US. NULL on failure. */
sim_transport *sim_local_open(void);

/* Over gRPC: starts `billingd` (--test-clock, sandbox payments) on a new
 * data directory, with SPB_FAULT=fault (may be NULL). NULL on failure. */
sim_transport *sim_grpc_open(const char *billingd, const char *ledger_check, const char *fault);

#endif
