#ifndef SPB_CLOCK_RECORD_H
#define SPB_CLOCK_RECORD_H

/*
 * clock_record.h: which clock a store runs on (R18 across restarts).
 *
 * A store records its clock (meta "clock_kind": real or test) and, through
 * store_options.clock, the time of its last write (STORE_META_CLOCK_HIGH).
 * Starting a store on the other clock would move time: a test clock a year
 * ahead, started on the real clock, would make expired items active again,
 * new records older than old ones and test-clock quotes valid. So:
 *   - a test store started without --test-clock is refused;
 *   - with --convert-test-clock it becomes a real-clock store, but only
 *     when the real time has passed its test clock and last write (never
 *     backwards in time); there is no way back;
 *   - a real store started with --test-clock is refused;
 *   - on the real clock, the server's clock never answers less than the
 *     store's last write (clock_set_floor), so time never goes back across
 *     restarts even when the system clock does.
 * A store written before this record exists is taken as a test store when
 * it has a saved test clock, else as what it is started with.
 */

/* Checks and records the clock of billingd.store for a start with
 * test_clock / convert (the flags), then starts that clock (the test
 * clock where it was left). 0, or -1 with the reason logged. */
int clock_record_start(int test_clock, int convert);

#endif
