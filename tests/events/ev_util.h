#ifndef SPB_TESTS_EVENTS_EV_UTIL_H
#define SPB_TESTS_EVENTS_EV_UTIL_H

/*
 * ev_util.h: what the events tests share: a counted CHECK that reports and
 * goes on (for the programs that drive billingd as a process), and an API
 * key for an account.
 */

#include <stdio.h>

#include "spbilling.h"

extern int ev_checks, ev_failures;

#define EV_CHECK(cond, ...)                                                            \
	do {                                                                           \
		ev_checks++;                                                           \
		if (!(cond)) {                                                         \
			ev_failures++;                                                 \
			fprintf(stderr, "FAIL %s:%d %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                  \
			fprintf(stderr, " (last error: %s %s)\n",                      \
				spb_status_name(spb_error_last()->grpc_code),          \
				spb_error_last()->message);                            \
		}                                                                      \
	} while (0)

/* CreateApiKey (ACCOUNT scope) for account through c with its default key;
 * the bearer secret into key[160]. Returns the SDK code. */
int ev_mint_key(spb_client *c, const char *account, char key[160]);

#endif
