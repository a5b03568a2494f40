/*
 * log.c: billingd's log sink (log.h).
 *
 * One buffer behind one mutex. A line is formatted outside the lock except
 * its timestamp, which is taken and written under the lock just before the
 * line is appended: so the file's order is the timestamps' order. Events are
 * written out at once (they are rare and an operator wants them now); call
 * lines wait in the buffer for log_flush() or a full buffer.
 */
#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <grpc/status.h>
#include <grpc/support/log.h>

#define SINK_BUF 65536
#define LINE_MAX_BYTES 4096

static int calls_enabled = 1;
static log_format fmt_out = LOG_TEXT;
static log_level min_level = LOG_INFO;

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static char sink[SINK_BUF];
static size_t sink_len;

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};

const char *log_status_name(int status)
{
	return status >= 0 && status <= 16 ? status_names[status] : "?";
}

void log_configure(log_format format, log_level level)
{
	fmt_out = format;
	min_level = level;
}

int log_format_parse(const char *s)
{
	return strcmp(s, "text") == 0 ? LOG_TEXT : strcmp(s, "json") == 0 ? LOG_JSON : -1;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_json[i]) == 0)
			return i;
	return strcasecmp(s, "warning") == 0 ? LOG_WARN : -1;
}

void log_set_calls(int enabled)
{
	calls_enabled = enabled;
}

/* ------------------------------------------------------------------------ */
/* The sink                                                                  */

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w <= 0)
			return; /* nowhere left to report it */
		p += w;
		n -= (size_t)w;
	}
}

/* Under sink_lock. */
static void flush_locked(void)
{
	write_all(sink, sink_len);
	sink_len = 0;
}

void log_flush(void)
{
	pthread_mutex_lock(&sink_lock);
	flush_locked();
	pthread_mutex_unlock(&sink_lock);
}

static size_t stamp(char *buf, size_t cap)
{
	struct timeval tv;
	struct tm tm;
	size_t n;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	return n + (size_t)snprintf(buf + n, cap - n, ".%06ldZ", (long)tv.tv_usec);
}

/*
 * Appends one line: text lines are "<ts> <body>\n"; JSON lines are the
 * object `body` ("{...}") with "ts" and "level" put first. now: write the
 * buffer out (events) instead of waiting for log_flush().
 */
static void emit(log_level level, const char *body, size_t len, int now)
{
	char ts[40], head[96];
	size_t hn;
	pthread_mutex_lock(&sink_lock);
	stamp(ts, sizeof(ts));
	if (fmt_out == LOG_JSON)
		hn = (size_t)snprintf(head, sizeof(head), "{\"ts\":\"%s\",\"level\":\"%s\"%s", ts,
				      level_json[level], len > 2 ? "," : "");
	else
		hn = (size_t)snprintf(head, sizeof(head), "%s ", ts);
	if (fmt_out == LOG_JSON) { /* drop the body's own "{" */
		body++;
		len--;
	}
	if (sink_len + hn + len + 1 > SINK_BUF)
		flush_locked();
	if (hn + len + 1 > SINK_BUF) { /* cannot happen: lines are capped */
		pthread_mutex_unlock(&sink_lock);
		return;
	}
	memcpy(sink + sink_len, head, hn);
	memcpy(sink + sink_len + hn, body, len);
	sink_len += hn + len;
	sink[sink_len++] = '\n';
	if (now)
		flush_locked();
	pthread_mutex_unlock(&sink_lock);
}

/* A jansson object as one compact line, handed to emit(). */
static void emit_json(log_level level, json_t *o, int now)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	if (s) {
		emit(level, s, strlen(s), now);
		free(s);
	}
	json_decref(o);
}

static void vlog(log_level level, const char *fmt, va_list ap)
{
	char msg[LINE_MAX_BYTES];
	int n;
	if (level < min_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	if (fmt_out == LOG_JSON) {
		json_t *o = json_object();
		/* json_stringn keeps invalid UTF-8 out: fall back to a marker */
		json_t *m = json_stringn(msg, (size_t)n);
		json_object_set_new(o, "msg", m ? m : json_string("(not UTF-8)"));
		emit_json(level, o, 1);
	} else {
		char line[LINE_MAX_BYTES + 16];
		int m = snprintf(line, sizeof(line), "%s %.*s", level_names[level], n, msg);
		emit(level, line, (size_t)(m < (int)sizeof(line) ? m : (int)sizeof(line) - 1), 1);
	}
}

#define DEFINE_LOG(fn, level)         \
	void fn(const char *fmt, ...) \
	{                             \
		va_list ap;           \
		va_start(ap, fmt);    \
		vlog(level, fmt, ap); \
		va_end(ap);           \
	}
DEFINE_LOG(log_debug, LOG_DEBUG)
DEFINE_LOG(log_info, LOG_INFO)
DEFINE_LOG(log_warn, LOG_WARN)
DEFINE_LOG(log_error, LOG_ERROR)

/* ------------------------------------------------------------------------ */
/* Call lines                                                                */

/* The first LOG_MESSAGE_MAX bytes of s, not cutting a UTF-8 sequence, with
 * "..." when cut. */
static void truncate_message(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s);
	if (n <= LOG_MESSAGE_MAX) {
		snprintf(buf, cap, "%s", s);
		return;
	}
	n = LOG_MESSAGE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	snprintf(buf, cap, "%.*s...", (int)n, s);
}

/* " key=value", the value quoted (\" \\ escaped, controls as \xNN) unless
 * it is one plain word. */
static size_t put_kv(char *buf, size_t cap, size_t n, const char *key, const char *v, int quote)
{
	const char *p;
	if (!v || !*v || n >= cap)
		return n;
	if (!quote)
		for (p = v; *p; p++)
			if (*p <= ' ' || *p == '"' || *p == '\\' || *p == '=' ||
			    (unsigned char)*p >= 0x7f)
				quote = 1;
	n += (size_t)snprintf(buf + n, cap - n, " %s=%s", key, quote ? "\"" : "");
	for (p = v; *p && n + 5 < cap; p++) {
		unsigned char c = (unsigned char)*p;
		if (!quote)
			buf[n++] = (char)c;
		else if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	if (quote && n + 1 < cap)
		buf[n++] = '"';
	buf[n < cap ? n : cap - 1] = 0;
	return n < cap ? n : cap - 1;
}

static void set_str(json_t *o, const char *key, const char *v)
{
	json_t *s;
	if (!v || !*v)
		return;
	s = json_string(v);
	json_object_set_new(o, key, s ? s : json_string("(not UTF-8)"));
}

void log_call_line(const log_call_info *c)
{
	char msg[LOG_MESSAGE_MAX + 8] = "";
	if (!calls_enabled || LOG_INFO < min_level)
		return;
	if (c->message && *c->message)
		truncate_message(c->message, msg, sizeof(msg));
	if (fmt_out == LOG_JSON) {
		json_t *o = json_object();
		json_object_set_new(o, "msg", json_string("call"));
		set_str(o, "method", c->method);
		json_object_set_new(o, "status", json_string(log_status_name(c->status)));
		json_object_set_new(o, "code", json_integer(c->status));
		json_object_set_new(o, "micros", json_integer(c->micros));
		set_str(o, "reason", c->reason);
		set_str(o, "message", msg);
		set_str(o, "peer", c->peer);
		set_str(o, "key_id", c->key_id);
		set_str(o, "account", c->account);
		set_str(o, "idempotency_key", c->idempotency_key);
		set_str(o, "order_id", c->order_id);
		set_str(o, "request_id", c->request_id);
		set_str(o, "detail", c->detail);
		emit_json(LOG_INFO, o, 0);
	} else {
		char line[LINE_MAX_BYTES];
		size_t n = (size_t)snprintf(line, sizeof(line), "CALL %s %s %lldus",
					    c->method ? c->method : "?", log_status_name(c->status),
					    (long long)c->micros);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		n = put_kv(line, sizeof(line), n, "reason", c->reason, 0);
		n = put_kv(line, sizeof(line), n, "msg", msg, 1);
		n = put_kv(line, sizeof(line), n, "peer", c->peer, 0);
		n = put_kv(line, sizeof(line), n, "key", c->key_id, 0);
		n = put_kv(line, sizeof(line), n, "account", c->account, 0);
		n = put_kv(line, sizeof(line), n, "idem", c->idempotency_key, 0);
		n = put_kv(line, sizeof(line), n, "order", c->order_id, 0);
		n = put_kv(line, sizeof(line), n, "req", c->request_id, 0);
		if (c->detail && *c->detail && n + 2 < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", c->detail);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		emit(LOG_INFO, line, n, 0);
	}
}

void log_call(const char *method, int status, int64_t micros, const char *detail)
{
	log_call_info c = {.method = method, .status = status, .micros = micros, .detail = detail};
	log_call_line(&c);
}

/* ------------------------------------------------------------------------ */
/* gRPC core                                                                 */

static void on_gpr_log(gpr_log_func_args *args)
{
	log_level level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LOG_ERROR
			  : args->severity == GPR_LOG_SEVERITY_INFO ? LOG_INFO
								    : LOG_DEBUG;
	const char *file = strrchr(args->file, '/');
	if (level < min_level)
		return;
	if (fmt_out == LOG_JSON) {
		json_t *o = json_object();
		char where[256];
		set_str(o, "msg", args->message);
		json_object_set_new(o, "source", json_string("grpc"));
		snprintf(where, sizeof(where), "%s:%d", file ? file + 1 : args->file, args->line);
		set_str(o, "at", where);
		emit_json(level, o, 1);
	} else {
		char line[LINE_MAX_BYTES];
		int n = snprintf(line, sizeof(line), "%s grpc %s:%d: %s", level_names[level],
				 file ? file + 1 : args->file, args->line, args->message);
		if (n < 0)
			return;
		emit(level, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1, 1);
	}
}

void log_capture_grpc(void)
{
	gpr_set_log_function(on_gpr_log);
	gpr_set_log_verbosity(min_level == LOG_DEBUG ? GPR_LOG_SEVERITY_DEBUG
						     : GPR_LOG_SEVERITY_ERROR);
}
