/*
 * recon_shim.c: billingd (the real main.c and handlers) with the payment
 * reconciler started and stopped around the store, linked with
 * -Wl,--wrap=server_open,--wrap=server_close. This is the wiring server.c
 * is to get (reconciler_start() at the end of server_open, reconciler_stop()
 * first in server_close); reconciler_start() is idempotent, so the shim
 * stays harmless once server.c does it. The interval comes from
 * SPB_TEST_RECONCILE_MS (the flag main.c is to get).
 */
#include <stdlib.h>

#include "billingd.h"
#include "reconciler.h"
#include "server.h"

int __real_server_open(billingd_state *s);
void __real_server_close(billingd_state *s);
int __wrap_server_open(billingd_state *s);
void __wrap_server_close(billingd_state *s);

int __wrap_server_open(billingd_state *s)
{
	const char *ms = getenv("SPB_TEST_RECONCILE_MS");
	int rc = __real_server_open(s);
	if (rc == 0 && reconciler_start(ms ? strtol(ms, NULL, 10) : 0) != 0) {
		__real_server_close(s);
		return -1;
	}
	return rc;
}

void __wrap_server_close(billingd_state *s)
{
	reconciler_stop();
	__real_server_close(s);
}
