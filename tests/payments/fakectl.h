#ifndef SPB_TEST_FAKECTL_H
#define SPB_TEST_FAKECTL_H

/*
 * fakectl.h: starting tests/fakes/provider.js and talking to it (its
 * provider API and its /_control, /_stats, /_ledger, /_requests,
 * /_webhooks endpoints), for the payment tests. One fake per process.
 */

#include <jansson.h>
#include <sys/types.h>

/* Starts `node provider.js` (tests/support spt_fake.h; extra must be
 * NULL). Fills fakectl_base ("http://127.0.0.1:N"). 0 or -1. */
int fakectl_start(const char *node, const char *js, const char *const *extra);
void fakectl_stop(void);
extern char fakectl_base[64];

/* One request to the fake: auth is a bearer token (a form body when it
 * starts with sk_, else JSON), extra one more header line; *status gets
 * the HTTP status. The parsed JSON answer (the caller's), NULL on none. */
json_t *fakectl_call(const char *method, const char *path, const char *body, const char *auth,
		     const char *extra_header, long *status);

/* POST /_control with a JSON text; the answer's JSON (caller's). */
json_t *fakectl_control(const char *json);
/* fakectl_control, answer dropped. */
void fakectl_ctl(const char *json);
/* A top-level integer of /_stats (0 when absent); a nested one with path
 * "webhooks.delivered". */
long fakectl_stat(const char *path);

#endif
