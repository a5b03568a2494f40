#ifndef SPB_DTEST_H
#define SPB_DTEST_H

/*
 * dtest.h: helpers shared by the defect-class tests in tests/defects/ (one
 * program per class of defect found by outside testing, issues 12 and 22).
 * Each test drives the real billingd over gRPC, through the SDK or raw
 * grpc-core calls (tests/integration/harness.h), and is written to fail on
 * a server that still has the defect.
 *
 * Everything here reports failures by return value (and a line on
 * stderr), never by aborting, so CUnit assertions decide.
 */

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "spbilling.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define PTYPE(x) V1(PROJECT_TYPE__PROJECT_TYPE_##x)
#define STYPE(x) V1(SERVICE_TYPE__SERVICE_TYPE_##x)
#define ROLE(x) V1(ROLE__ROLE_##x)
#define METHOD(x) V1(PAYMENT_METHOD__PAYMENT_METHOD_##x)
#define OSTATUS(x) V1(ORDER_STATUS__ORDER_STATUS_##x)
#define ISTATUS(x) V1(ITEM_STATUS__ITEM_STATUS_##x)
#define ACTIVATE V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE)
#define RENEW V1(QUOTE_ACTION__QUOTE_ACTION_RENEW)
#define SCOPE(x) V1(API_KEY_SCOPE__API_KEY_SCOPE_##x)

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

/* Call options with `key` as the bearer key (NULL: the client's). */
spb_call_options dt_as(const char *key);

/* A billing address good enough for any order. */
extern Smartplus__Billing__V1__BillingInfo dt_bill;

/* SetPrice(project type, service type, amount USD, credits) as the vendor. */
int dt_set_price(spb_client *vendor, int ptype, int stype, int64_t amount, int64_t credits);

/* CreateItems of one item with a label through c (options o). SDK code. */
int dt_create_item(spb_client *c, const spb_call_options *o, const char *project,
		   const char *item_id, int stype);

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

/* ActivateServices (action ACTIVATE) or RenewServices from quote_id with
 * method (stripe_pm only with STRIPE; NULL or "" for none). The order is
 * copied into *order_out (spb_message_free) when not NULL. SDK code. */
int dt_place(spb_client *c, const spb_call_options *o, int action, const char *quote_id, int method,
	     const char *stripe_pm, Smartplus__Billing__V1__Order **order_out);

/* Quote then place; the order in *order_out (may be NULL). SDK code of the
 * first call that failed. */
int dt_quote_and_place(spb_client *c, const spb_call_options *o, const dt_quote_req *q, int method,
		       const char *stripe_pm, Smartplus__Billing__V1__Order **order_out);

/* The item as ListItems shows it to the vendor (copied), or NULL. */
Smartplus__Billing__V1__Item *dt_get_item(spb_client *vendor, const char *project,
					  const char *item_id);

/* AdvanceClock by `seconds` as the vendor. SDK code. */
int dt_advance(spb_client *vendor, int64_t seconds);

/* PurchaseCredits: `payer` (options o) buys n credits for `beneficiary`,
 * paid by the sandbox card. SDK code. */
int dt_buy_credits(spb_client *c, const spb_call_options *o, const char *payer,
		   const char *beneficiary, int64_t n);

/* Credit balance of account as seen by c/o; -1 on error. */
int64_t dt_balance(spb_client *c, const spb_call_options *o, const char *account);

/*
 * Runs bin with args (NULL-terminated, argv[0] not included), stdout and
 * stderr captured into out (NUL-terminated, truncated to cap). Returns the
 * exit code, or -1 when it did not exit within timeout_ms (it is then
 * killed) or died from a signal.
 */
int dt_run_capture(const char *bin, const char *const *args, int timeout_ms, char *out, size_t cap);

/* Number of listening TCP sockets held by process pid (/proc). -1 on error. */
int dt_listen_sockets(int pid);

/* Replaces the extra billingd arguments used by the next itest_restart(). */
void dt_set_extra(itest_server *s, const char *const *extra);

/* Runs billingd on s's data directory (127.0.0.1:0, no port file) with the
 * extra args, output captured as dt_run_capture() does. */
int dt_run_billingd(const itest_server *s, const char *const *extra, int timeout_ms, char *out,
		    size_t cap);

/* ---- hand-made protobuf bytes, for requests the SDK would not send ---- */

typedef struct dt_pb {
	uint8_t *b;
	size_t n, cap;
} dt_pb;

void dt_pb_varint(dt_pb *p, uint64_t v);
/* Field `num` as a varint (enums, ints, bools). */
void dt_pb_int(dt_pb *p, uint32_t num, uint64_t v);
/* Field `num` length-delimited (strings, bytes, sub-messages). */
void dt_pb_bytes(dt_pb *p, uint32_t num, const void *data, size_t len);
void dt_pb_str(dt_pb *p, uint32_t num, const char *s);
/* A packed message as field `num`. */
void dt_pb_msg(dt_pb *p, uint32_t num, const ProtobufCMessage *m);
/* Appends a packed message's bytes (its fields at this level). */
void dt_pb_append_msg(dt_pb *p, const ProtobufCMessage *m);
void dt_pb_free(dt_pb *p);

/* A raw unary call with the bearer key (and an idempotency key unless
 * NULL): see itest_raw_call. */
int dt_raw(const itest_server *s, const char *key, const char *idem_key, const char *path,
	   const dt_pb *req, itest_raw_result *out);

/* ---- the frame of every defect test ---- */

/* One CUnit test of a suite. */
typedef struct dt_test {
	const char *name;
	void (*fn)(void);
} dt_test;

/* The main() of a defect test program: argv[1] is billingd; one suite of
 * `tests` (ended by a {NULL, NULL} row) with init/clean, run verbosely.
 * Returns the exit status: 0, 1 when anything failed, 2 on a usage error. */
int dt_main(int argc, char **argv, const char *suite, int (*init)(void), int (*clean)(void),
	    const dt_test *tests);

/* Starts billingd (extra args, NULL-terminated, may be NULL) into *s, a
 * client with the admin key into *vendor and, when n > 0, the tree accts
 * (itest_build_tree). 0 on success. */
int dt_start(itest_server *s, spb_client **vendor, const char *const *extra, itest_account *accts,
	     size_t n);

/* Frees *vendor, stops billingd (a clean exit, else -1) and removes its
 * directory. */
int dt_stop(itest_server *s, spb_client **vendor);

/* SetCreditPrice(unit_amount USD) as the vendor. SDK code. */
int dt_set_credit_price(spb_client *vendor, int64_t unit_amount);

#endif
