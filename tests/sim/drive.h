#ifndef SPB_SIM_DRIVE_H
#define SPB_SIM_DRIVE_H

/*
 * The driver and checker: runs a history against billingd through a
 * transport, predicting every step with the model, comparing status,
 * reason and answer, and every K steps the whole observable state (items,
 * balances, credit logs, orders, coupons) and the ledger invariants.
 */

#include <stdint.h>

#include "model.h"
#include "sim.h"
#include "transport.h"

typedef struct drive_opts {
	int check_every;  /* full state check every K steps; 0: at the end only */
	int verbose;      /* print every step */
	int kills;        /* gRPC: kill -9 billingd at this many random steps */
	int kill_mode;    /* gRPC transport: retry unanswered calls under their keys */
	uint64_t seed;    /* for the kill schedule */
	int nsetup;       /* ops[0..nsetup-1] are the setup prefix */
	int twins;        /* AIP-211 message twins (toggle foreign) */
	int confirm_race; /* 0: pause after placing calls (toggle confirm_race, sim S3) */
	const struct gen_config *gen; /* toggles: steps in disabled areas are skipped */
} drive_opts;

typedef struct drive_stats {
	long steps, calls, checks, kills, faults, twins, replays, groups, mismatches, skipped;
	/* coverage, from the final model of each run */
	long orders, succeeded, failed, timed_out, canceled, pending, renewals, transfers, refusals,
		redemptions;
} drive_stats;

typedef struct drive_result {
	int failed;
	int step; /* index into ops of the failing step */
	char report[16384];
	drive_stats st;
} drive_result;

/*
 * Runs ops[0..n-1] on t from a fresh store. orig[i] is the index op i had
 * in the full generated history (R17 references name those). Stops at the
 * first mismatch. 0 when everything matched, 1 on a mismatch (r->report),
 * -1 when the run could not proceed (transport failure).
 */
int drive_run(sim_transport *t, const op *ops, const int *orig, int n, const drive_opts *o,
	      drive_result *r);

#endif
