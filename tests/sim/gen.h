#ifndef SPB_SIM_GEN_H
#define SPB_SIM_GEN_H

/*
 * The history generator: seeded (splitmix64), reproducible, biased by the
 * model's state toward steps that mean something (existing items, the
 * newest quote, payers that may pay) with a share of faults.
 *
 * Every operation class and hostile-input class is a toggle, so that a
 * class with a known, not yet fixed defect can be left out of the short
 * run; tests/sim/KNOWN.md names the defect each disabled toggle waits for.
 */

#include <stdint.h>

#include "model.h"
#include "sim.h"

enum toggle {
	T_DIRECTORY,         /* accounts, projects, items: create, update, delete */
	T_RECREATE,          /* delete and re-create item ids, across trees */
	T_DELETE_HELD,       /* DeleteItem of an item held by an open order (12.1) */
	T_PMS_OFF_PAID,      /* pms_integrated off with a paid/held INTEGRATION item (22.1) */
	T_DUP_SELECT,        /* duplicates in quote selections (12.2) */
	T_ZERO_CREDIT,       /* credit-paid orders of free items only, 0 credits (12.3) */
	T_CREDIT_PRORATE,    /* renew-until on credit-paid projects (12.3 rounding) */
	T_FOREIGN,           /* references into another tree, message twins (12.4) */
	T_PRIV_FIELDS,       /* free_additional_apps/created_at by other callers (12.5) */
	T_BAD_UTF8,          /* 12.6 */
	T_NUL_ID,            /* 12.6 */
	T_BAD_ENUM,          /* 12.6 */
	T_BAD_TIME,          /* 12.6: timestamps out of range, Duration nanos */
	T_PAST_UNTIL,        /* 12.6: renew_until before now */
	T_LONG_STRING,       /* 22.2 */
	T_IDEM_REPLAY,       /* R17: same key, same request */
	T_IDEM_REUSE,        /* R17: same key, another request */
	T_IDEM_ADMIN,        /* R17 on AdminService (AdvanceClock, SetPrice...) (22.3) */
	T_PRICES,            /* SetPrice / SetCreditPrice during the history */
	T_COUPONS,           /* coupons near their limits */
	T_POLICY,            /* installer payment policies, changed between quote and order */
	T_CREDITS,           /* purchase, assign, spend near zero */
	T_STRIPE,            /* card payments incl. declines */
	T_PAYPAL,            /* PayPal approval on ConfirmOrder */
	T_ORDER_OPS,         /* ConfirmOrder / CancelOrder / GetOrder in every state */
	T_STALE,             /* stale, expired, tampered, re-used quotes */
	T_AUTO_RENEW,        /* SetAutoRenew, RENEW_MODE_AUTO, renewals in AdvanceClock */
	T_CLOCK,             /* AdvanceClock across renewal/retry/timeout/expiry boundaries */
	T_CONCURRENT,        /* groups of concurrent calls */
	T_READS,             /* reads by callers of every tree */
	T_IDEM_REFUSED,      /* R17 replays/reuses of a key whose call was answered without a
			    write: a refusal, ConfirmOrder of a settled order (22.3) */
	T_REQUOTE_TIMED_OUT, /* placing again from a quote whose order timed out (sim S1) */
	T_TIMEOUT_COUPON,    /* a coupon held by a pending order across its 24 h timeout (sim S2) */
	T_CONFIRM_RACE,      /* ConfirmOrder right after the placing call's answer (sim S3) */
	T_CONC_SAME_QUOTE,   /* one quote placed twice at once (sim S4) */
	T_POLICY_R2_METHOD,  /* a limited payer's own method that R2 refuses (sim S5) */
	T_CONC_SAME_ITEM,    /* one item deleted twice, or priced by two orders, at once (S6, S7) */
	T_VENDOR_CREDITS,    /* the vendor (the issuance account) paying with credits (sim S8) */
	T_CANCEL_OVERDUE,    /* CancelOrder of a pending order past its 24 h (sim S9) */
	T_COUNT
};

extern const char *const toggle_name[T_COUNT];

typedef struct gen_config {
	uint8_t on[T_COUNT];
	int kill_mode; /* every mutating call carries an idempotency key */
} gen_config;

/*
 * Whether op o, on state m, stays out of every area whose toggle is off.
 * The generator steers by its own model, but concurrent groups (any
 * serial order) and shrinking can lead the run elsewhere: the driver asks
 * again before each step and skips what a disabled toggle excludes.
 */
int gen_allowed(const gen_config *c, const model *m, const op *o);

/* All toggles on. */
void gen_config_all(gen_config *c);
/* Parses "name,name" (or "all"/"none") into on/off; -1 on an unknown name. */
int gen_config_set(gen_config *c, const char *list, int on);

/* The fixed setup prefix (accounts, keys are minted by the driver,
 * prices, a credit price, credits for the distributors). Returns the
 * number of ops written (at most cap). */
int gen_setup(op *out, int cap);

/*
 * Generates the random part of a history of n steps after the setup
 * prefix, from seed, on a model that has run the setup. out[0..n-1];
 * base is the index of out[0] in the whole history (R17 references name
 * steps by that index).
 */
void gen_history(uint64_t seed, const gen_config *c, const model *after_setup, op *out, int n,
		 int base);

#endif
