/*
 * spt_fake.h - the fake payment provider (tests/fakes/provider.js, which
 * speaks Stripe's and PayPal's wire formats) as a child of the test, on
 * 127.0.0.1 with a port file, and its control endpoints: /_control sets
 * faults and approves PayPal orders, /_stats counts charges per
 * idempotency key.
 */
#ifndef SPT_FAKE_H
#define SPT_FAKE_H

#include <sys/types.h>

#include <jansson.h>

#include "spt_fs.h"

typedef struct spt_fake {
	pid_t pid;
	char dir[SPT_PATH_MAX]; /* port file and log */
	char url[64];           /* "http://127.0.0.1:<port>" */
} spt_fake;

/* Starts `node provider_js` (NULL, NULL: spt_arg("node") and
 * spt_arg("provider_js")). 0, or -1 (printed). */
int spt_fake_start(spt_fake *f, const char *node, const char *provider_js);

/* Stops it and removes its directory. A zeroed f is fine. */
void spt_fake_stop(spt_fake *f);

/* One HTTP request to the fake (body NULL: none; auth: a bearer token, and
 * the body is form-encoded; else JSON). The parsed JSON answer (caller
 * json_decref()s), or NULL. */
json_t *spt_fake_request(const spt_fake *f, const char *method, const char *path, const char *body,
			 const char *auth);

/* POST /_control with a JSON body ({"fault":"500","times":1}, {"approve":
 * "<paypal order id>"}). 0 when it answered. */
int spt_fake_control(const spt_fake *f, const char *json);

/* GET /_stats (caller json_decref()s), or NULL. */
json_t *spt_fake_stats(const spt_fake *f);

/* Successful charges the fake counted for one idempotency key. */
int spt_fake_charges(const spt_fake *f, const char *key);

#endif
