#ifndef SPB_TESTS_RENEWAL_HARNESS_H
#define SPB_TESTS_RENEWAL_HARNESS_H

/*
 * harness.h: the renewal tests' world. A real billingd (--test-clock, port
 * 0, its own data directory) driven only through the SDK; it can be killed
 * and restarted on the same data. Checks are counted; a failed check is
 * reported and the program goes on, exiting 1 at the end.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "spbilling.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define DAY (INT64_C(86400) * 1000000)
#define MONTH (30 * DAY)
#define HOUR_US (INT64_C(3600) * 1000000)

#define COMM V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY)
#define COMMERCIAL V1(PROJECT_TYPE__PROJECT_TYPE_COMMERCIAL)
#define STRIPE V1(PAYMENT_METHOD__PAYMENT_METHOD_STRIPE)
#define CREDITS V1(PAYMENT_METHOD__PAYMENT_METHOD_CREDITS)
#define S_APP V1(SERVICE_TYPE__SERVICE_TYPE_APP)
#define S_DOOR V1(SERVICE_TYPE__SERVICE_TYPE_DOOR)
#define I_ACTIVE V1(ITEM_STATUS__ITEM_STATUS_ACTIVE)
#define I_EXPIRED V1(ITEM_STATUS__ITEM_STATUS_EXPIRED)
#define O_SUCCEEDED V1(ORDER_STATUS__ORDER_STATUS_SUCCEEDED)
#define O_FAILED V1(ORDER_STATUS__ORDER_STATUS_FAILED)
#define O_PROCESSING V1(ORDER_STATUS__ORDER_STATUS_PROCESSING)
#define T_AUTO V1(ORDER_TYPE__ORDER_TYPE_AUTO_RENEWAL)
#define R_DISTRIBUTOR V1(ROLE__ROLE_DISTRIBUTOR)
#define R_SUBDIST V1(ROLE__ROLE_SUB_DISTRIBUTOR)
#define R_INSTALLER V1(ROLE__ROLE_INSTALLER)
#define R_PM V1(ROLE__ROLE_PROPERTY_MANAGER)

extern int h_checks, h_failures;
extern spb_client *h_cli;

#define CHECK(cond, ...)                                                                        \
	do {                                                                                    \
		h_checks++;                                                                     \
		if (!(cond)) {                                                                  \
			h_failures++;                                                           \
			h_scenario_failed();                                                    \
			fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, h_scenario, \
				#cond);                                                         \
			fprintf(stderr, __VA_ARGS__);                                           \
			fprintf(stderr, " (last error: %s %s %s)\n",                            \
				spb_status_name(spb_error_last()->grpc_code),                   \
				spb_error_last()->reason, spb_error_last()->message);           \
		}                                                                               \
	} while (0)

extern const char *h_scenario;
void h_begin(const char *name);
void h_end(void);
void h_scenario_failed(void);
/* Prints the PASS/FAIL lines and the totals; returns the exit code. */
int h_report(void);

/* A fresh data directory; billingd binary path. 0 or -1. */
int h_init(const char *billingd);
/* Runs billingd with --payments live against the fake provider at
 * stripe_url (STRIPE_SECRET_KEY is set to a test key) from now on. */
void h_use_live(const char *stripe_url);
/* Starts the fake provider (node provider.js); *url gets its base URL.
 * 0 or -1. Stopped by h_cleanup(). */
int h_fake_start(const char *node, const char *provider_js, char url[64]);
/* Starts billingd on the data directory (fresh or not) and connects. */
int h_start(void);
/* Sends sig to billingd and reaps it; frees the client. */
void h_stop(int sig);
/* billingd's pid (0 when not running). */
pid_t h_pid(void);
/* Lines of billingd's logs (all runs) containing `needle`, summed over
 * the number found in the first %d of each line ("resumed %d orders"). */
int h_log_sum(const char *needle);
/* Removes the data directory. */
void h_cleanup(void);

int64_t h_ts(const Google__Protobuf__Timestamp *t);

/* Seeding through the API (vendor key). Each returns the SDK code. */
int h_account(const char *id, int role, const char *parent);
int h_project(const char *id, const char *installer, int type, const char *pm);
/* n items "<prefix>NNN" of one service type. */
int h_items(const char *project, int stype, const char *prefix, int n);
int h_price(int ptype, int stype, int64_t amount, int64_t credits);
int h_assign_credits(const char *to, int64_t credits);
int64_t h_balance(const char *account);
/* Quotes ACTIVATE of every item of project (months) and pays it; returns the
 * SDK code; *now_out (may be NULL) gets the server's now. */
int h_activate(const char *payer, const char *installer, int ptype, const char *project, int months,
	       int method, const char *pm, int64_t *now_out);
/* SetAutoRenew. until/cycles 0: until turned off. */
int h_auto(char **item_ids, size_t n, int enabled, const char *payer, int method, const char *pm,
	   int64_t until, int cycles);
/* AdvanceClock by us; *now_out the new now, *ran the renewals run. */
int h_advance(int64_t us, int64_t *now_out, int *ran);

typedef struct h_item_state {
	int status;
	int64_t expires_at;
	int renew_mode;
	int auto_on;
	int cycles_done;
	int failed_attempts;
} h_item_state;
int h_item(const char *project, const char *item_id, h_item_state *st);
/* Calls fn for every item of project. Returns the SDK code. */
int h_list_items(const char *project, void (*fn)(const Smartplus__Billing__V1__Item *, void *),
		 void *arg);

/* Calls fn for every order of payer of `type` (0 = all), oldest last. */
int h_orders(const char *payer, int type, void (*fn)(const Smartplus__Billing__V1__Order *, void *),
	     void *arg);

#endif
