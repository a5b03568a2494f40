#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <grpc/status.h>

#define CALL_BUF 16384

static int calls_enabled = 1;
static __thread char call_buf[CALL_BUF];
static __thread size_t call_len;

static const char *status_names[] = {
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

static size_t stamp(char *buf, size_t cap)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	return strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm) +
	       (size_t)snprintf(buf + 19, cap - 19, ".%06ldZ", (long)tv.tv_usec);
}

static void vlog(const char *level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = stamp(line, sizeof(line));
	int m = snprintf(line + n, sizeof(line) - n, " %s ", level);
	if (m > 0)
		n += (size_t)m;
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m > 0)
		n += (size_t)m;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report it. */
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
DEFINE_LOG(log_info, "INFO")
DEFINE_LOG(log_warn, "WARN")
DEFINE_LOG(log_error, "ERROR")

void log_set_calls(int enabled)
{
	calls_enabled = enabled;
}

void log_flush(void)
{
	size_t off = 0;
	while (off < call_len) {
		ssize_t w = write(STDERR_FILENO, call_buf + off, call_len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	call_len = 0;
}

void log_call(const char *method, int status, int64_t micros, const char *detail)
{
	char line[512];
	size_t n;
	int m;
	if (!calls_enabled)
		return;
	n = stamp(line, sizeof(line));
	m = snprintf(line + n, sizeof(line) - n, " CALL %s %s %lldus%s%s\n", method,
		     status >= 0 && status <= 16 ? status_names[status] : "?", (long long)micros,
		     detail && *detail ? " " : "", detail ? detail : "");
	if (m < 0)
		return;
	n += (size_t)m;
	if (n > sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (call_len + n > CALL_BUF)
		log_flush();
	memcpy(call_buf + call_len, line, n);
	call_len += n;
}
