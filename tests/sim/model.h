#ifndef SPB_SIM_MODEL_H
#define SPB_SIM_MODEL_H

/*
 * The reference model: the billing rules (DESIGN R1-R18, the proto's
 * comments, and the corrections of issues 12, 13 and 22) as a small state
 * machine over plain arrays. It calls no server or storage code: it is
 * written from the rules so that it can disagree with the server.
 * tests/sim/MODEL.md says, rule by rule, how the model reads the text and
 * where the text left a choice open.
 *
 * A step: model_step(cur, next, op, ...) predicts the outcome of op on
 * state cur: either success (next is the state after it and the fields of
 * the answer are in next's records) or a set of errors, any of which is
 * a correct answer (a request breaking two rules may be refused for
 * either; none of them changes anything, unless flagged `commit`). The
 * driver copies cur to next before the call, so a refused op leaves cur.
 *
 * The state is one flat struct (memcpy-able): the driver clones it to try
 * the serial orders of concurrent calls.
 */

#include <stdint.h>

#include "sim.h"

#define MAX_ORDERS 320
#define MAX_LINES 1600
#define MAX_XFERS 700
#define MAX_QUOTES 32 /* a ring: older quotes are forgotten */
#define MAX_QLINES 24
#define MAX_SKIP 24
#define NPT 4  /* project types 1..3 */
#define NST 12 /* service types 1..11 */

typedef struct m_acc {
	int8_t exists, role, parent;
	int8_t pol_set, pol_pay;
	uint8_t pol_mask; /* bit m: PaymentMethod m */
	int64_t balance;
} m_acc;

typedef struct m_proj {
	int8_t exists, inst, type, pms, pm; /* pm: account or -1 */
	int16_t free_apps;
	int32_t gen;
	int64_t created_at;
} m_proj;

typedef struct m_auto {
	int8_t enabled, payer, method, pm, cus, term; /* term: 1 until, 2 cycles, 3 until
							 turned off */
	int32_t cycles, cycles_done, failed;
	int64_t until, next_attempt;
} m_auto;

typedef struct m_item {
	int8_t exists, proj, stype, active; /* active: activated at least once */
	int32_t gen;                        /* identity: bumped by every creation */
	int32_t seq;                        /* creation order, for R4's "oldest" */
	int32_t proj_gen;
	uint16_t feat;
	int8_t renew_auto;
	int64_t expires;
	m_auto ar;
} m_item;

/* A priced line of a quote or order. unit/amount are money (minor units)
 * or credits, following the quote's payment model. */
typedef struct m_line {
	int8_t item, proj, stype, free;
	int32_t gen;
	int32_t months, days;
	int64_t cur_exp; /* 0 for INACTIVE items */
	int64_t new_exp;
	int64_t unit, amount;
} m_line;

typedef struct m_skip {
	int8_t item, reason;
} m_skip;

typedef struct m_quote {
	int8_t used;
	int8_t caller, payer, credits_model, coupon, cur; /* coupon -1: none applied */
	int32_t seq;                                      /* ordinal among quotes obtained */
	int32_t nlines, nskip;
	int32_t order;   /* the order placed from it, or -1 */
	uint8_t methods; /* allowed methods (bit mask) */
	uint8_t pmask;   /* the payer's own R11/R12 methods, before R2 */
	uint8_t avail;   /* available coupons (bit c) */
	int64_t subtotal, discount, total;
	int64_t price_version, expire;
	int64_t until; /* renew_until as asked (absolute), 0 for months */
	op in;         /* the request, with payer resolved */
	m_line lines[MAX_QLINES];
	m_skip skip[MAX_SKIP];
} m_quote;

typedef struct m_order {
	int8_t type, status, payer, inst, ptype, method, pm, cus, coupon, credits_model, renew_auto,
		bene, cur;
	int8_t placed; /* placed by a call (its id is known), not by the scheduler */
	int8_t art;    /* auto-renew term kind chosen with RENEW_MODE_AUTO */
	int32_t art_cycles;
	int64_t art_until;
	int32_t line0, nlines;
	int32_t quote_seq; /* the quote it was placed from, or -1 */
	int64_t subtotal, discount, total, credits_qty;
	int64_t create_time, update_time;
} m_order;

typedef struct m_xfer {
	int8_t from, to, kind;
	int32_t order; /* -1: none */
	int64_t amount;
	int64_t bal_from, bal_to; /* balances after */
	int64_t time;
} m_xfer;

typedef struct m_coupon {
	int8_t exists, pct, cur, credit_only, disabled;
	uint8_t ptypes;
	uint16_t stypes;
	int32_t maxr, redemptions, reserved;
	int64_t amount, expires;
	int8_t use[NACC]; /* 0 none, 1 reserved by an open order, 2 redeemed */
} m_coupon;

typedef struct m_price {
	int8_t set, cur;
	int64_t amount, credits;
} m_price;

typedef struct model {
	int64_t now;
	int64_t price_version;
	int32_t item_seq, gen_seq;
	int32_t nquotes; /* quotes obtained so far (ring index = seq % MAX_QUOTES) */
	int32_t norders, nlines, nxfers;
	int32_t nplaced; /* orders whose ids the driver knows */
	m_acc acc[NACC];
	m_proj proj[NPROJ];
	m_item item[NITEM];
	m_coupon coupon[NCOUP];
	m_price price[NPT][NST];
	m_price credit_price;
	m_quote quotes[MAX_QUOTES];
	m_order orders[MAX_ORDERS];
	m_line lines[MAX_LINES];
	m_xfer xfers[MAX_XFERS];
	int16_t placed[MAX_ORDERS]; /* order index of the k-th placed order */
	int32_t renewals_run;       /* by the last AdvanceClock */
	/* Item ids, for the order of renewals due at the same instant (the
	 * rules leave it open; the model takes them in id order). The driver
	 * fills in the ids of INTEGRATION items, which the server names. */
	char item_id[NITEM][24];
} model;

/* One acceptable error. */
typedef struct m_err {
	int code;           /* grpc_status_code */
	const char *reason; /* ErrorInfo reason that must be sent; NULL: not compared */
	int commit;         /* the step's state change happens although it fails */
	const char *why;    /* the rule, for reports (a string constant) */
} m_err;

/* Model-side rule areas with a known defect the fix of which is pending:
 * the generator does not drive them when their toggle is off (gen.h). */
typedef struct m_expect {
	int nerr;
	m_err err[12];
	int ok_too;    /* success is also correct (with next's state) */
	int new_quote; /* success: the quote's ring slot, else -1 */
	int new_order; /* success (or commit): the order's index, else -1 */
	int new_xfer;  /* AssignCredits: the transfer, else -1 */
	int skip;      /* the op cannot be built (dangling reference): not run */
	char why[160]; /* the model's reasoning for the expected error (reports) */
} m_expect;

/* A fresh model at SIM_EPOCH_US with only the vendor. */
void model_init(model *m);

/*
 * Predicts op o on cur. next must hold a copy of cur on entry; on return
 * it is the state after a success (or after a committing error). e gets
 * the expected outcome. Deterministic.
 */
void model_step(const model *cur, model *next, const op *o, m_expect *e);

/* Status of item i at now (IS_ value), and of order k (derived: a
 * PENDING_PAYMENT order is TIMED_OUT 24 h after it was placed). */
int model_item_status(const model *m, int i);
int model_item_free(const model *m, int i);
int model_order_status(const model *m, int k);
const m_quote *model_quote(const model *m, int qref); /* qref: 0 newest; NULL */
int model_placed_order(const model *m, int oref);     /* order index or -1 */

/* Whether item slot i is on a line of an open (PENDING_PAYMENT or
 * PROCESSING) order. */
int model_item_held(const model *m, int i);
/* R2 payment model of project p (MODEL_ value). */
int model_proj_model(const model *m, int p);

/* Whether account a may act on account b (b is a or a descendant). */
int model_may_act(const model *m, int a, int b);

#endif
