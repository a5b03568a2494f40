#ifndef SPB_TESTCLOCK_H
#define SPB_TESTCLOCK_H

/*
 * testclock.h: the persistent test clock (R18) behind --test-clock; its RPC,
 * AdminService.AdvanceClock, is in testclock.c too.
 */

/* Switches the process clock to the test clock, starting where the last run
 * left it (meta "test_clock_us") or at the real time on a new store, which
 * is then recorded. Needs billingd.store open; call before serving. 0 or -1
 * (a storage error). */
int testclock_start(void);

#endif
