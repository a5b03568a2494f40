#ifndef SPB_LOG_H
#define SPB_LOG_H

/*
 * Logging for billingd: one line per event on stderr, prefixed with a UTC
 * timestamp and a level. log_call() records one finished RPC; it appends to
 * a per-thread buffer that is written out when it fills or when the thread
 * calls log_flush() (the completion-queue threads do so whenever they idle),
 * so per-call logging costs no system call per call. Never log secrets.
 */

#include <stdint.h>

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One finished call: method name, gRPC status, elapsed microseconds, and an
 * optional short detail (caller account, reason). */
void log_call(const char *method, int status, int64_t micros, const char *detail);

/* Writes out this thread's buffered call lines. */
void log_flush(void);

/* Turns per-call lines off (--quiet-calls); events are still logged. */
void log_set_calls(int enabled);

#endif
