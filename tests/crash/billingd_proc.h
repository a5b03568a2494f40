/*
 * billingd_proc.h - starting, killing and stopping a real billingd for the
 * crash harness and the isolation sweep: port 0 with a port file, a data
 * directory that outlives restarts, an optional SPB_FAULT for the child.
 * Not thread-safe: one thread (the supervisor) drives a proc.
 */
#ifndef SPB_TEST_BILLINGD_PROC_H
#define SPB_TEST_BILLINGD_PROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bproc {
	const char *bin;  /* billingd */
	char workdir[64]; /* mkdtemp'd; data/, port, billingd.log */
	char datadir[96];
	char portfile[96];
	char logfile[96];
	char target[64];     /* "127.0.0.1:<port>" of the running instance */
	char admin_key[160]; /* from data/admin.key */
	pid_t pid;           /* 0 when not running */
} bproc;

/* Creates the work directory under /tmp (prefix names it). 0 or -1. */
int bproc_init(bproc *p, const char *bin, const char *prefix);

/* Starts billingd on the data directory; fault (may be NULL) becomes
 * SPB_FAULT of the child; extra (NULL-terminated, may be NULL) are more
 * arguments. Waits for the port (and admin.key). 0 or -1. */
int bproc_start(bproc *p, const char *fault, const char *const *extra);

/* SIGKILL and reap. */
void bproc_kill(bproc *p);

/* Non-blocking: 1 when the process has died (reaped; *sig = the signal or
 * -exit status), 0 while it runs. */
int bproc_died(bproc *p, int *sig);

/* SIGTERM and wait; 0 when it exited with status 0. */
int bproc_stop(bproc *p);

/* Runs ledger_check on the data directory (billingd must be stopped);
 * returns its exit status, its first output line in out. */
int bproc_ledger_check(const bproc *p, const char *ledger_check, char *out, size_t cap);

/* rm -rf of the work directory. */
void bproc_cleanup(bproc *p);

#endif
