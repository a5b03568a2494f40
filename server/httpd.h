#ifndef SPB_HTTPD_H
#define SPB_HTTPD_H

/*
 * httpd.h: a small HTTP/1.1 listener for what billingd serves beside gRPC
 * (provider webhooks, Prometheus /metrics), on libmicrohttpd.
 *
 * A table of routes (exact path -> handler) is given at start; the listener
 * reads each request's body whole (up to max_body bytes, else 413), then
 * calls the route's handler on one of libmicrohttpd's threads with the
 * method, path, headers and body, and sends what the handler filled in.
 * Unknown paths are 404; handlers check the method themselves (and answer
 * 405). Plain HTTP only, so the address must be a loopback one (a TLS proxy
 * in front carries outside traffic, as for the plaintext gRPC port).
 *
 * Threads: handlers run concurrently on up to `threads` threads and may
 * block (a provider call, a store write); nothing here holds a lock while
 * a handler runs. Everything a handler is given lives until it returns.
 */

#include <stddef.h>

typedef struct httpd httpd;
typedef struct httpd_request httpd_request;

/* What a handler answers: status, and a body it malloc'd (the listener
 * frees it; NULL for none) with its content type (a static string;
 * NULL = "text/plain; charset=utf-8"). */
typedef struct httpd_response {
	int status;
	char *body;
	size_t body_len;
	const char *content_type;
} httpd_response;

typedef void (*httpd_handler)(const httpd_request *req, httpd_response *resp, void *arg);

typedef struct httpd_route {
	const char *path; /* exact match, e.g. "/webhooks/stripe" */
	httpd_handler handler;
	void *arg;
} httpd_route;

typedef struct httpd_options {
	const char *listen;        /* "127.0.0.1:8081", "[::1]:8081", "localhost:0" */
	const httpd_route *routes; /* copied at start */
	size_t n_routes;
	size_t max_body; /* default 1 MiB */
	int threads;     /* default 2 */
} httpd_options;

/* Starts listening. NULL on failure, with the reason in err. */
httpd *httpd_start(const httpd_options *o, char *err, size_t errcap);

/* The bound port (useful with port 0). */
int httpd_port(const httpd *h);

/* Stops accepting, waits for running handlers, frees. NULL does nothing. */
void httpd_stop(httpd *h);

/* The request's method ("POST"), path, body (NUL-terminated; body_len
 * bytes) and a header by name (case-insensitive; NULL when absent). */
const char *httpd_method(const httpd_request *r);
const char *httpd_path(const httpd_request *r);
const char *httpd_body(const httpd_request *r, size_t *body_len);
const char *httpd_header(const httpd_request *r, const char *name);

/* Fills resp with a status and a copy of `text` (any content type). */
void httpd_reply(httpd_response *resp, int status, const char *content_type, const char *text);

#endif
