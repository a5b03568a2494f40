#ifndef SPB_CLOCK_H
#define SPB_CLOCK_H

/*
 * The server's clock (R18). Real time by default; with --test-clock it starts
 * at the real time of start-up (or where a previous test-clock run left it)
 * and moves only through clock_advance().
 */

#include <stdint.h>

/* Unix microseconds, UTC. Thread-safe. */
int64_t clock_now_us(void);

/* Switches to the test clock starting at `start_us`. */
void clock_use_test(int64_t start_us);
int clock_is_test(void);

/* Moves the test clock forward by `delta_us` (> 0); returns the new now. */
int64_t clock_advance(int64_t delta_us);

#endif
