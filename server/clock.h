#ifndef SPB_CLOCK_H
#define SPB_CLOCK_H

/*
 * The server's clock (R18). Real time by default; with --test-clock it starts
 * at the real time of start-up (or where a previous test-clock run left it)
 * and moves only through clock_advance().
 */

#include <stdint.h>

/* Unix microseconds, UTC. Thread-safe. The real clock never answers less
 * than it answered before, nor less than clock_set_floor(). */
int64_t clock_now_us(void);

/* The real clock answers at least floor_us from now on (the time of the
 * store's last write, at start-up: time never goes back across restarts). */
void clock_set_floor(int64_t floor_us);

/* Switches to the test clock starting at `start_us`. */
void clock_use_test(int64_t start_us);
int clock_is_test(void);

/* Moves the test clock forward by `delta_us` (> 0); returns the new now. */
int64_t clock_advance(int64_t delta_us);

#endif
