#ifndef SPB_LOG_H
#define SPB_LOG_H

/*
 * Logging for billingd: one line per event on stderr, in time order.
 *
 * Every line goes through one sink: a buffer behind a mutex. The timestamp
 * is taken under that mutex, so lines come out in the order of their
 * timestamps whatever thread wrote them. Events (log_info ...) are written
 * out at once; call lines stay in the buffer until it fills or a thread
 * calls log_flush() (the completion-queue threads do so whenever they idle,
 * and shutdown does), so logging a call costs no system call.
 *
 * Two formats (--log-format): text,
 *   2026-01-02T03:04:05.123456Z INFO message
 *   2026-01-02T03:04:05.123456Z CALL BillingService/GetCatalog OK 120us account=vendor ...
 * and json, one object per line with "ts", "level" and "msg" (events) or
 * "call" fields (calls). gRPC core's own logs come through the same sink
 * (log_capture_grpc). Never log secrets.
 */

#include <stdint.h>

typedef enum {
	LOG_DEBUG = 0,
	LOG_INFO = 1,
	LOG_WARN = 2,
	LOG_ERROR = 3,
} log_level;

typedef enum {
	LOG_TEXT = 0,
	LOG_JSON = 1,
} log_format;

/* Sets the format and the lowest level written (default text, info). Call
 * before the threads start. */
void log_configure(log_format format, log_level level);
/* Parses "text"/"json" and "debug"/"info"/"warn"/"error"; -1 if neither. */
int log_format_parse(const char *s);
int log_level_parse(const char *s);

/* Routes gRPC core's logs (gpr_log) into this sink, at the verbosity that
 * matches the level: gRPC's debug and info lines only at --log-level debug,
 * its errors always. */
void log_capture_grpc(void);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What one finished call says; every string may be NULL or "" (left out). */
typedef struct log_call_info {
	const char *method; /* "BillingService/GetCatalog" */
	int status;         /* gRPC status code */
	int64_t micros;     /* from arrival to the status sent */
	const char *reason; /* ErrorInfo reason of a failure */
	const char *message;
	const char *peer; /* "ipv4:127.0.0.1:5555" */
	const char *key_id;
	const char *account; /* the account acted as */
	const char *idempotency_key;
	const char *order_id;
	const char *request_id; /* x-request-id, if the client sent one */
	const char *detail;     /* free text ("stream closed") */
} log_call_info;

/* The message of a call line is quoted and cut to this many bytes. */
#define LOG_MESSAGE_MAX 200

/* One finished call (at info level). */
void log_call_line(const log_call_info *call);

/* Short form: method, status, elapsed microseconds, optional detail. */
void log_call(const char *method, int status, int64_t micros, const char *detail);

/* Writes out the buffered call lines. */
void log_flush(void);

/* Turns per-call lines off (--quiet-calls); events are still logged. */
void log_set_calls(int enabled);

/* The name of a gRPC status code ("NOT_FOUND"), "?" outside 0..16. */
const char *log_status_name(int status);

#endif
