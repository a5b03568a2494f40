#ifndef SPB_SIM_H
#define SPB_SIM_H

/*
 * The billing simulator (tests/sim/README.md): a seeded generator of
 * histories, an independent reference model of the rules (model.c), a
 * driver that runs each step against billingd (in process through
 * rpc_local_call, or over gRPC with kill -9) and a checker that compares
 * answers and state.
 *
 * This header is what the three share: the fixed pools of names the
 * histories draw from, and the step ("op") record. An op is plain data:
 * every entity is named by its pool index, never by an id the server
 * assigned (quotes and orders are named by recency), so removing steps
 * from a history (shrinking) leaves every remaining op well-defined.
 *
 * Enum values are the proto's (the contract), spelled with the generated
 * protobuf-c names; the model includes no server or storage header.
 */

#include <stddef.h>
#include <stdint.h>

#include "smartplus/billing/v1/types.pb-c.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define ROLE_(x) V1(ROLE__ROLE_##x)
#define PT_(x) V1(PROJECT_TYPE__PROJECT_TYPE_##x)
#define ST_(x) V1(SERVICE_TYPE__SERVICE_TYPE_##x)
#define PM_(x) V1(PAYMENT_METHOD__PAYMENT_METHOD_##x)
#define OS_(x) V1(ORDER_STATUS__ORDER_STATUS_##x)
#define OT_(x) V1(ORDER_TYPE__ORDER_TYPE_##x)
#define IS_(x) V1(ITEM_STATUS__ITEM_STATUS_##x)
#define TK_(x) V1(TRANSFER_KIND__TRANSFER_KIND_##x)
#define SK_(x) V1(SKIP_REASON__SKIP_REASON_##x)
#define QA_(x) V1(QUOTE_ACTION__QUOTE_ACTION_##x)
#define RM_(x) V1(RENEW_MODE__RENEW_MODE_##x)
#define MODEL_(x) V1(PAYMENT_MODEL__PAYMENT_MODEL_##x)

/* ---- time ---- */
#define SEC_US INT64_C(1000000)
#define MIN_US (60 * SEC_US)
#define HOUR_US (60 * MIN_US)
#define DAY_US (24 * HOUR_US)
#define MONTH_US (30 * DAY_US) /* one month of service is 30 days (DESIGN §2) */
/* The R2 cut-over billingd runs with (its default, 2025-06-01T00:00:00Z). */
#define SIM_CUTOVER_US (INT64_C(1748736000) * SEC_US)
/* Every history starts at this instant of the test clock (2030-01-01), so
 * runs are reproducible whatever day they run on. */
#define SIM_EPOCH_US (INT64_C(1893456000) * SEC_US)

/* ---- pools ---- */
/* Accounts: 0..NACC_SETUP-1 exist from the start (the setup prefix of
 * every history); the rest are created by the history. */
#define NACC 18
#define NACC_SETUP 12
#define NPROJ 6
#define NXITEM 12              /* caller-named items x0..x11 */
#define NITEM (NXITEM + NPROJ) /* + one INTEGRATION item slot per project */
#define INTEG_SLOT(p) (NXITEM + (p))
#define NCOUP 5
#define NCUR 2

extern const char *const sim_acc_name[NACC];
extern const char *const sim_proj_name[NPROJ];
extern const char *const sim_item_name[NXITEM];
extern const char *const sim_coupon_name[NCOUP];
extern const char *const sim_currency[NCUR];
/* Setup roles and parents (index into sim_acc_name); -1 for none. */
extern const int sim_setup_role[NACC_SETUP];
extern const int sim_setup_parent[NACC_SETUP];

/* ---- steps ---- */
enum op_kind {
	OP_NONE = 0,
	OP_CREATE_ACCOUNT,
	OP_CREATE_PROJECT,
	OP_UPDATE_PROJECT,
	OP_CREATE_ITEMS,
	OP_DELETE_ITEM,
	OP_SET_PRICE,
	OP_SET_CREDIT_PRICE,
	OP_CREATE_COUPON,
	OP_DISABLE_COUPON,
	OP_SET_POLICY,
	OP_QUOTE,
	OP_PLACE,
	OP_CONFIRM,
	OP_CANCEL,
	OP_GET_ORDER,
	OP_PURCHASE,
	OP_ASSIGN,
	OP_SET_AUTO_RENEW,
	OP_ADVANCE,
	OP_GET_PROJECT,
	OP_LIST_ITEMS,
	OP_LIST_ORDERS,
	OP_BALANCE,
	OP_KINDS
};

extern const char *const sim_op_name[OP_KINDS];

/* Who calls: the account's own ACCOUNT key, or the SERVICE key acting for
 * it (x-acting-account). The vendor always uses its own key. */
typedef struct sim_caller {
	int8_t acc;
	int8_t service;
} sim_caller;

/* Hostile variants of a request (what the generator can poison). */
enum hostile {
	H_NONE = 0,
	H_BAD_UTF8,    /* a string field holds FF FE C0 */
	H_NUL_IN_ID,   /* an id holds a NUL byte ("a\0b") */
	H_BAD_ENUM,    /* an enum field holds an undefined value */
	H_BAD_TIME,    /* a Timestamp in year 10000, or nanos 1.5e9 */
	H_LONG_STRING, /* a string field of 70,000 bytes */
	H_PAST_TIME,   /* renew_until before the epoch (1969) */
};

/* Selection of a quote's lines. item refs: 0..NXITEM-1 are x0..x11,
 * INTEG_SLOT(p) the INTEGRATION item of project p, -1 an id that never
 * exists. */
#define QMAX_PROJ 4
#define QMAX_ST 4
#define QMAX_ITEM 6

typedef struct op {
	uint8_t kind;
	uint8_t conc; /* > 1: this op and the next conc-1 run concurrently */
	uint8_t idem; /* 0 no key, 1 fresh key, 2 replay step `ref` (same key, same
			   request), 3 step `ref`'s key with this request */
	uint8_t hostile;
	int16_t ref; /* replays: how many steps back */
	sim_caller who;
	union {
		struct {
			int8_t acc, role, parent;
		} acct;
		struct {
			int8_t proj, inst, ptype, created, pms, pm; /* created: 0 unset, 1 before
								       the cut-over, 2 after */
			int16_t free_apps;
		} proj;
		struct {
			int8_t proj, mask, pms, pm; /* mask: 1 pms, 2 free apps, 4 pm, 8 name, 16 an
						       unknown path */
			int16_t free_apps;
		} upd;
		struct {
			int8_t proj, n;
			int8_t item[4], stype[4];
			uint16_t feat[4]; /* bit f: PremiumFeature f */
		} items;
		struct {
			int8_t item;
		} del;
		struct {
			int8_t ptype, stype, cur;
			int32_t amount, credits;
		} price;
		struct {
			int8_t cur;
			int32_t unit;
		} cprice;
		struct {
			int8_t code, pct, cur, maxr, credit_only;
			uint8_t ptypes;  /* bit t: ProjectType t */
			uint16_t stypes; /* bit s: ServiceType s */
			int32_t amount;
			int32_t expires_s; /* seconds from now; 0: never */
		} coupon;
		struct {
			int8_t inst, pay, n;
			int8_t methods[5];
		} pol;
		struct {
			int8_t action, payer, inst, ptype, all, nproj, nst, nitem, months, mode,
				coupon, art, art_cycles;
			int8_t proj[QMAX_PROJ], st[QMAX_ST], item[QMAX_ITEM];
			int32_t until_s;     /* renew_until, seconds from now; 0: months */
			int32_t art_until_s; /* auto-renew term "until", seconds from now */
		} quote;
		struct {
			int8_t qref, action, method, pm, cus, bill, terms, tamper;
		} place;
		struct {
			int8_t oref;
		} ord;
		struct {
			int8_t payer, bene, method, pm, coupon, bill, terms;
			int32_t credits;
		} buy;
		struct {
			int8_t from, to;
			int32_t credits;
		} asg;
		struct {
			int8_t n, enabled, payer, method, pm, cus, term, cycles;
			int8_t item[3];
			int32_t until_s;
		} ar;
		struct {
			int64_t secs;
			int32_t nanos;
		} adv;
		struct {
			int8_t proj, acc, status, type;
		} rd;
	} u;
} op;

/* Stripe payment methods the generator uses (sandbox: visa succeeds,
 * chargeDeclined declines, anything else is an invalid method). */
enum sim_pm { SPM_NONE = 0, SPM_VISA, SPM_DECLINED, SPM_BOGUS };
extern const char *const sim_pm_name[4];

/* Billing information variants: 0 complete, 1 no name, 2 bad email, 3 bad
 * country, 4 absent. */
#define BILL_OK 0

/* Renders one op as a line of text (for reports). */
void sim_op_describe(const op *o, char *buf, size_t cap);

#endif
