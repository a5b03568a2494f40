#ifndef SPB_SERVER_H
#define SPB_SERVER_H

/*
 * Start-up and shut-down of billingd's state: the data directory, the store,
 * the vendor account and its first key, and the authenticator.
 */

#include "billingd.h"

/* Creates the data directory if needed, opens the store, bootstraps an empty
 * one, installs the authenticator. 0 or -1 (logged). */
int server_open(billingd_state *s);

/* Closes the store (after rpc_server_stop()). */
void server_close(billingd_state *s);

#endif
