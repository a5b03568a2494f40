#ifndef SPB_DTEST_H
#define SPB_DTEST_H

/*
 * dtest.h: what the defect-class programs of tests/defects/ share beyond
 * tests/support (spt_*.h, which they are written on): quotes naming several
 * projects and items, placing an order with a copy of it, an item as the
 * vendor sees it, a sandbox credit purchase, a second billingd run on a
 * data directory, raw calls with hand-made bytes.
 *
 * One program per class of defect found by outside testing (issues 12 and
 * 22), each driving the real billingd over gRPC (SDK or raw grpc core
 * calls) and written to fail on a server that still has the defect.
 * Helpers report by return value (the SDK code, 0 = OK), never by
 * aborting, so the CUnit assertions decide.
 */

#include <stddef.h>
#include <stdint.h>

#include "spbilling.h"
#include "spt_billingd.h"
#include "spt_enums.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_sdk.h"

/* gRPC status codes */
enum {
	DT_OK = 0,
	DT_INVALID_ARGUMENT = 3,
	DT_NOT_FOUND = 5,
	DT_ALREADY_EXISTS = 6,
	DT_PERMISSION_DENIED = 7,
	DT_FAILED_PRECONDITION = 9,
	DT_UNAUTHENTICATED = 16,
};

/* The status of the last SDK call on this thread (0 after a success). */
int dt_status(int sdk_rc);

/* A quote request: fill what you need, then dt_quote(). */
typedef struct dt_quote_req {
	int action;
	const char *payer, *installer;
	int ptype;
	const char *projects[8];
	size_t n_projects;
	int all_projects;
	const char *items[8];
	size_t n_items;
	int months;
	int64_t renew_until_s; /* 0: months */
	int renew_mode;
} dt_quote_req;

/* QuoteServices; *out owned by the caller (spb_message_free). SDK code. */
int dt_quote(spb_client *c, const spb_call_options *o, const dt_quote_req *q,
	     Smartplus__Billing__V1__QuoteServicesResponse **out);

/* ActivateServices (action ACTIVATE) or RenewServices of quote_id with
 * method (stripe_pm: the Stripe payment method, NULL or "" for none); the
 * order in *order_out (spb_message_free) when not NULL. SDK code. */
int dt_place(spb_client *c, const spb_call_options *o, int action, const char *quote_id, int method,
	     const char *stripe_pm, Smartplus__Billing__V1__Order **order_out);

/* Quote then place; the order in *order_out (may be NULL). SDK code of the
 * first call that failed. */
int dt_quote_and_place(spb_client *c, const spb_call_options *o, const dt_quote_req *q, int method,
		       const char *stripe_pm, Smartplus__Billing__V1__Order **order_out);

/* The item as ListItems shows it to the vendor (copied), or NULL. */
Smartplus__Billing__V1__Item *dt_get_item(spb_client *vendor, const char *project,
					  const char *item_id);

/* PurchaseCredits: `payer` (options o) buys n credits for `beneficiary`,
 * paid by the sandbox card; 0 only when the order SUCCEEDED. */
int dt_buy_credits(spb_client *c, const spb_call_options *o, const char *payer,
		   const char *beneficiary, int64_t n);

/* Starts billingd (args NULL-terminated, may be NULL) into *b, a client
 * with the admin key into *vendor and, when n > 0, the tree accts
 * (spt_create_tree). 0 on success. */
int dt_start(spt_billingd *b, spb_client **vendor, const char *const *args, spt_account *accts,
	     size_t n);

/* Frees *vendor, stops billingd (0 for a clean exit, else -1) and removes
 * its directory. */
int dt_stop(spt_billingd *b, spb_client **vendor);

/* Runs another billingd on b's data directory (127.0.0.1:0) with extra
 * args to completion (at most timeout_ms), its whole output into out[cap]:
 * the exit status, or -1 when it was still running (then killed). */
int dt_run_billingd(const spt_billingd *b, const char *const *extra, int timeout_ms, char *out,
		    size_t cap);

/* Runs bin with args (NULL-terminated, argv[0] not included) to completion
 * (at most timeout_ms), its whole output into out[cap]: the exit status,
 * or -1 when it was still running (then killed) or died from a signal. */
int dt_run_capture(const char *bin, const char *const *args, int timeout_ms, char *out, size_t cap);

/* A raw unary call of path with the bearer key (and an idempotency key
 * unless NULL) on a channel of its own: see spt_raw_once. */
int dt_raw(const spt_billingd *b, const char *key, const char *idem_key, const char *path,
	   const spt_pb *req, spt_raw_result *out);

#endif
