#ifndef SPB_QUOTE_H
#define SPB_QUOTE_H

/*
 * quote.h: pricing a selection of items (R3-R8, R11, R16) from the current
 * state of a transaction. The same computation serves QuoteServices (read
 * transaction) and ActivateServices/RenewServices, which recompute inside
 * the writer transaction and compare with the stored quote (QUOTE_STALE).
 * Coupon evaluation lives in coupons.c and is declared here too.
 */

#include <grpc/grpc.h>
#include <stdint.h>

#include "convert.h"
#include "store_coupon.h"
#include "store_order.h"
#include "rpc.h"
#include "store.h"

#define QUOTE_TTL_US (INT64_C(15) * 60 * 1000000)
#define QUOTE_ID_MAX 48

/* A domain error: a gRPC status, an ErrorInfo reason (static, may be NULL)
 * and a client-safe message. */
typedef struct quote_err {
	grpc_status_code code;
	const char *reason;
	char msg[256];
} quote_err;

/* Sets *e and returns 1 (the "domain error" return of the functions here). */
int quote_fail(quote_err *e, grpc_status_code code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

typedef struct quote_skip {
	const char *item_id;
	const char *project_id;
	int service_type;
	int reason; /* SkipReason */
} quote_skip;

/*
 * The result of a computation. rec is a QuoteRecord (quote_id, caller,
 * times left for the caller to fill) whose strings and arrays live in the
 * calc's arena, as do skipped and available coupons.
 */
typedef struct quote_calc {
	arena *a;
	store_quote rec;
	store_quote_input input;
	quote_skip *skipped;
	size_t n_skipped;
	char **available;
	size_t n_available;
	char coupon_note[256];
	int coupon_lost;  /* a coupon was asked for and does not apply */
	int for_ancestor; /* quoted by a descendant of the payer (RequestPayment) */
	/* Prices read once per computation, by (project type, service type). */
	store_price *prices[4][16];
	unsigned char price_read[4][16];
} quote_calc;

/*
 * Prices `in` for `caller` at `now` in txn (read or write). Returns 0 with
 * *out filled (free with quote_calc_free()), 1 with *err filled for a
 * domain error, or a negative STORE_* code. *out is always initialised.
 */
int quote_compute(store_txn *txn, const rpc_caller *caller, const store_quote_input *in,
		  int64_t now, quote_calc *out, quote_err *err);
void quote_calc_free(quote_calc *c);

/* Allowed methods of a mask, as a readable list ("STRIPE, PAYPAL"). */
void quote_methods_text(uint32_t mask, char *buf, size_t cap);

/* API message of a stored line / quote (strings borrowed). */
Smartplus__Billing__V1__QuoteLine *quote_conv_line(arena *a, const store_line *l);

/* "<prefix><24 hex>" from the RNG; 0 or -1. */
int quote_new_id(const char *prefix, char out[QUOTE_ID_MAX]);

/* ---- coupons.c ---- */

/* What a coupon is being applied to. */
typedef struct coupon_ctx {
	const char *payer_id;
	int project_type; /* 0 for credit purchases */
	int credit_purchase;
	int payment_model; /* PaymentModel; CREDITS takes no coupons */
	const char *currency;
	store_line **lines; /* NULL for credit purchases */
	size_t n_lines;
	int64_t subtotal; /* used for credit purchases */
	int64_t now;
} coupon_ctx;

/*
 * Does coupon c apply to ctx? Returns 1 with *discount set, 0 with a reason
 * in note, or a negative STORE_* code.
 */
int coupon_evaluate(store_txn *txn, const store_coupon *c, const coupon_ctx *ctx, int64_t *discount,
		    char *note, size_t cap);

/* Codes of every coupon that applies to ctx (at most 50), from arena a. */
int coupon_available(store_txn *txn, arena *a, const coupon_ctx *ctx, char ***codes, size_t *n);

/* Reserves `code` for an order of payer (writer txn); 0 or STORE_*. */
int coupon_reserve(store_txn *w, const char *code, const char *payer_id, const char *order_id,
		   int64_t now);
/* Ends a reservation: redeemed != 0 counts a redemption, else releases it. */
int coupon_settle(store_txn *w, const char *code, const char *payer_id, int redeemed, int64_t now);

#endif
