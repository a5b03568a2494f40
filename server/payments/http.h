#ifndef SPB_PAY_HTTP_H
#define SPB_PAY_HTTP_H

/*
 * http.h: the HTTP client the live payment providers use (libcurl).
 *
 * One CURL easy handle per thread, reused across calls (connection reuse);
 * TLS verification always on; connect and total timeouts; responses larger
 * than HTTP_MAX_RESPONSE are cut off and reported as an error. Plain http://
 * is accepted for loopback hosts only (tests point the providers at a local
 * fake). Nothing here logs headers or bodies: they carry secrets.
 */

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_RESPONSE (1 << 20)

typedef struct http_response {
	long status; /* HTTP status; 0 when no response arrived */
	char *body;  /* NUL-terminated, malloc'd; NULL when none */
	size_t len;
	int transport;   /* 1: connect/timeout/drop: the outcome is unknown */
	char error[160]; /* transport error text (never contains secrets) */
	/* The response headers the providers' error handling needs (empty /
	 * -1 when absent): Stripe `Request-Id` or PayPal `Paypal-Debug-Id`
	 * (logged with every rejection), `Retry-After` in seconds,
	 * `Stripe-Should-Retry` (1 true, 0 false), `Idempotent-Replayed`, and
	 * `Date` (the provider's clock, RFC 9110 section 6.6.1: an origin server
	 * with a clock sends it in every response; parsed by curl_getdate). */
	char request_id[80];
	long retry_after_s;
	int should_retry;
	int replayed;
	int64_t date_s; /* seconds since the epoch; -1 when absent */
} http_response;

typedef struct http_timeouts {
	long connect_ms; /* default 3000 */
	long total_ms;   /* default 10000 */
} http_timeouts;

/* Performs one request. `headers` is a NULL-terminated list of "Name: value"
 * strings; body may be NULL. Returns 0 when a response arrived (any status),
 * -1 on a transport failure (resp->transport = 1). resp->body is the
 * caller's to free (http_response_free). */
int http_request(const char *method, const char *url, const char *const *headers, const char *body,
		 const http_timeouts *t, http_response *resp);

void http_response_free(http_response *resp);

/* 1 if url is https://, or http:// to 127.0.0.0/8, localhost or [::1]. */
int http_url_allowed(const char *url);

/* Releases this thread's handle now (a thread's handle is released when
 * it exits in any case). */
void http_thread_cleanup(void);

#endif
