/*
 * spt_sdk.h - SDK clients for a running billingd, and seeding through its
 * API: accounts, API keys, a reseller tree, projects, items, prices, the
 * credit price, coupons, credits, activations, the test clock.
 *
 * Every helper makes one or a few real RPCs through libspbilling and
 * returns the SDK code (0 = OK; the detail in spb_error_last()). They do
 * not print: a test wraps a setup step in SPT_SEED() (spt_run.h), whose
 * failure names the step and the SDK's last error; a suite's init uses
 * SPT_INIT(). Safe from any thread for distinct clients (spb_client is
 * thread-safe as the SDK documents).
 */
#ifndef SPT_SDK_H
#define SPT_SDK_H

#include <stddef.h>
#include <stdint.h>

#include "spbilling.h"
#include "spt_billingd.h"
#include "spt_enums.h"
#include "spt_time.h"

/* billingd's default --cutover, 2025-06-01T00:00:00Z (R2). */
#define SPT_CUTOVER_US (INT64_C(1748736000) * SPT_SECOND_US)

#define SPT_KEY_ID_MAX 24

/*
 * SPT_INIT(expr) - in a suite's init function: when expr (an SDK code or
 * 0/-1) is not 0, prints it with the SDK's last error and returns -1 from
 * the init (CUnit then fails the suite and runs none of its tests).
 */
#define SPT_INIT(expr)                                                            \
	do {                                                                      \
		int spt_init_rc_ = (expr);                                        \
		if (spt_init_rc_ != 0) {                                          \
			spt_init_failed(#expr, spt_init_rc_, __FILE__, __LINE__); \
			return -1;                                                \
		}                                                                 \
	} while (0)
void spt_init_failed(const char *expr, int rc, const char *file, int line);

/* ---- clients ---- */

/* A client for b with key as its default bearer (NULL: the vendor's admin
 * key; "": none), a 10 s default deadline and no retries (a test wants the
 * first answer). NULL (printed) on failure. spb_client_free() it. */
spb_client *spt_client(const spt_billingd *b, const char *key);
/* The same with another default deadline, to any target. */
spb_client *spt_client_to(const char *target, const char *key, int deadline_ms);

/* Call options with an API key (NULL: the client's) and an idempotency key
 * (NULL: none). */
spb_call_options spt_as(const char *api_key, const char *idem_key);

/* The SDK's last error as "STATUS reason: message" in buf[cap]. */
const char *spt_last_error(char *buf, size_t cap);

/* ---- the directory ---- */

int spt_create_account(spb_client *c, const spb_call_options *o, const char *id, int role,
		       const char *parent);

/* CreateApiKey for account; the secret into key[SPT_KEY_MAX] and the key id
 * into key_id[SPT_KEY_ID_MAX] (either may be NULL). */
int spt_create_key(spb_client *c, const spb_call_options *o, const char *account, int scope,
		   char *key, char *key_id);

/* One account of a tree: filled with its ACCOUNT key by spt_create_tree. */
typedef struct spt_account {
	const char *id;
	int role;
	const char *parent;
	char key[SPT_KEY_MAX];
	char key_id[SPT_KEY_ID_MAX];
} spt_account;

/* Creates every account in order (parents first; a ROLE(VENDOR) row is
 * not created, only given a key) through vendor and mints an ACCOUNT key
 * for each. 0 or the first failing SDK code. */
int spt_create_tree(spb_client *vendor, spt_account *accts, size_t n);

/* The key of id in accts, or NULL. */
const char *spt_key_of(const spt_account *accts, size_t n, const char *id);

typedef struct spt_project {
	const char *id;
	const char *installer;
	int type;       /* PTYPE(...) */
	const char *pm; /* property manager or NULL */
	int pms_integrated;
	int free_additional_apps;
	int64_t created_at_us; /* 0: the server's now (vendor and SERVICE keys only) */
} spt_project;

/* CreateProject with every field of p. */
int spt_create_project_spec(spb_client *c, const spb_call_options *o, const spt_project *p);
/* CreateProject of type (pm may be NULL), created now. */
int spt_create_project(spb_client *c, const spb_call_options *o, const char *id,
		       const char *installer, int type, const char *pm, int pms_integrated);

/* CreateItems with one item. */
int spt_create_item(spb_client *c, const spb_call_options *o, const char *project,
		    const char *item_id, int service_type);
/* CreateItems with n items "<prefix>000", "<prefix>001", ... in one call. */
int spt_create_items(spb_client *c, const spb_call_options *o, const char *project,
		     int service_type, const char *prefix, int n);

/* ---- prices, coupons, credits ---- */

/* SetPrice in USD. */
int spt_set_price(spb_client *c, int ptype, int stype, int64_t monthly_amount,
		  int64_t monthly_credits);
/* SetCreditPrice in USD. */
int spt_set_credit_price(spb_client *c, int64_t unit_amount);
/* CreateCoupon: percent off, for credit purchases only or not, max
 * redemptions (0: unlimited). */
int spt_create_coupon(spb_client *c, const char *code, int percent_off, int credit_only,
		      int max_redemptions);

/* AssignCredits from (NULL: the caller) to `to`. */
int spt_assign_credits(spb_client *c, const spb_call_options *o, const char *from, const char *to,
		       int64_t credits);
/* GetCreditBalance, or -1 when the call fails. */
int64_t spt_credit_balance(spb_client *c, const spb_call_options *o, const char *account);

/* ---- orders and the clock ---- */

/* The billing details every test order carries. */
Smartplus__Billing__V1__BillingInfo *spt_billing_info(void);

/* What to quote: one project, all its items or one item or one service
 * type, for months or until a date, with a coupon. */
typedef struct spt_quote_spec {
	int action; /* ACTION(ACTIVATE) or ACTION(RENEW) */
	const char *payer, *installer;
	int ptype;
	const char *project;
	int stype;           /* 0: every service type */
	const char *item_id; /* NULL: every item */
	int months;
	int64_t until_us; /* renew until (0: months) */
	const char *coupon;
} spt_quote_spec;

/* QuoteServices; the SDK code, *out the response (caller frees; NULL on
 * failure), its quote in (*out)->quote. */
int spt_quote(spb_client *c, const spb_call_options *o, const spt_quote_spec *q,
	      Smartplus__Billing__V1__QuoteServicesResponse **out);

/* ActivateServices (action ACTIVATE) or RenewServices (RENEW) of quote_id
 * with method (pm: the Stripe payment method, or NULL), terms accepted,
 * spt_billing_info(). The SDK code; on OK *order is the order inside *keep,
 * which the caller frees (both NULL on failure). */
int spt_place_order(spb_client *c, const spb_call_options *o, int action, const char *quote_id,
		    int method, const char *pm, Smartplus__Billing__V1__Order **order, void **keep);
/* The same with a Stripe customer id (NULL: none). */
int spt_place_order_for(spb_client *c, const spb_call_options *o, int action, const char *quote_id,
			int method, const char *pm, const char *customer,
			Smartplus__Billing__V1__Order **order, void **keep);

/*
 * Quotes ACTIVATE of every item of `project` for `months` (payer,
 * installer, ptype as QuoteServices wants them) and pays the quote with
 * method (pm: the Stripe payment method, e.g. "pm_card_visa"). 0 only when
 * the order SUCCEEDED; *now_us (may be NULL) gets the server's now at the
 * quote (its expiry less 15 minutes).
 */
int spt_activate_project(spb_client *c, const spb_call_options *o, const char *payer,
			 const char *installer, int ptype, const char *project, int months,
			 int method, const char *pm, int64_t *now_us);

/* AdvanceClock by us (billingd --test-clock); *now_us the new now, *ran the
 * renewals run (either may be NULL). */
int spt_advance_clock(spb_client *c, int64_t us, int64_t *now_us, int *ran);

/*
 * SetAutoRenew of n items: on or off, the payer (NULL: ""), the method (for
 * METHOD(STRIPE): customer "cus_test" and the card pm), and the term: until
 * until_us, else `cycles` renewals, else until turned off. 0 only when the
 * answer lists all n items.
 */
int spt_set_auto_renew(spb_client *c, char **item_ids, size_t n, int enabled, const char *payer,
		       int method, const char *pm, int64_t until_us, int cycles);

/* What tests look at of an item. */
typedef struct spt_item_state {
	int status; /* ISTATUS(...) */
	int64_t expires_at;
	int renew_mode;
	int auto_on;
	int cycles_done;
	int failed_attempts;
	int is_free;
} spt_item_state;

/* The state of item_id of project (ListItems): 1 when found, 0 when not or
 * when the call failed (*st zeroed). */
int spt_item_state_of(spb_client *c, const char *project, const char *item_id, spt_item_state *st);

/* Every item of project (paging), fn called for each. */
int spt_each_item(spb_client *c, const char *project,
		  void (*fn)(const Smartplus__Billing__V1__Item *, void *), void *arg);
/* Every order of payer of type (0: all), fn called for each. */
int spt_each_order(spb_client *c, const char *payer, int type,
		   void (*fn)(const Smartplus__Billing__V1__Order *, void *), void *arg);

/* ---- values ---- */

/* Microseconds of a Timestamp (NULL: 0), and back. */
int64_t spt_ts_us(const Google__Protobuf__Timestamp *t);
void spt_set_ts(Google__Protobuf__Timestamp *t, int64_t us);

/* "<prefix><n>" with a process-wide counter (thread-safe). */
void spt_unique_id(char *buf, size_t cap, const char *prefix);

#endif
