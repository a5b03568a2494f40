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

/* `billingd admin-key --data-dir DIR`: offline recovery of the vendor's
 * access. With no billingd running on DIR (its lock is taken, else exit 1),
 * mints a new ACCOUNT key for the vendor and writes it to DIR/admin.key
 * (mode 0600). Returns the exit code (0, 1 failure, 2 usage). */
int server_admin_key_command(int argc, char **argv);

/* Closes the store (after rpc_server_stop()). */
void server_close(billingd_state *s);

#endif
