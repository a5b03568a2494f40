/* http.c: libcurl for the payment providers. See http.h. */
#include "http.h"
#include "xalloc.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

static __thread CURL *handle;
/* The same handle under a key whose destructor releases it when a thread
 * that made a request exits (a joined reconciler, the webhook listener's
 * polling thread), so no thread has to remember http_thread_cleanup. */
static pthread_key_t handle_key;

typedef struct sink {
	char *buf;
	size_t len;
	int overflow;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	sink *s = arg;
	size_t add = size * n;
	if (s->len + add > HTTP_MAX_RESPONSE) {
		s->overflow = 1;
		return 0; /* aborts the transfer */
	}
	s->buf = xrealloc(s->buf, s->len + add + 1);
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = 0;
	return add;
}

/* Matches "Name:" case-insensitively at the start of a header line and
 * returns the trimmed value (copied into val), or NULL. */
static const char *header_value(const char *line, size_t n, const char *name, char *val, size_t cap)
{
	size_t k = strlen(name), v = 0;
	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return NULL;
	line += k + 1;
	n -= k + 1;
	while (n && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	for (; v + 1 < cap && v < n; v++)
		val[v] = line[v];
	val[v] = 0;
	return val;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	http_response *r = arg;
	size_t len = size * n;
	char v[80];
	if (header_value(p, len, "Request-Id", v, sizeof(v)) ||
	    header_value(p, len, "Paypal-Debug-Id", v, sizeof(v)))
		snprintf(r->request_id, sizeof(r->request_id), "%s", v);
	else if (header_value(p, len, "Retry-After", v, sizeof(v)) && isdigit((unsigned char)v[0]))
		r->retry_after_s = strtol(v, NULL, 10); /* an HTTP-date is ignored */
	else if (header_value(p, len, "Stripe-Should-Retry", v, sizeof(v)))
		r->should_retry = strcasecmp(v, "true") == 0;
	else if (header_value(p, len, "Idempotent-Replayed", v, sizeof(v)))
		r->replayed = strcasecmp(v, "true") == 0;
	else if (header_value(p, len, "Date", v, sizeof(v)))
		r->date_s = (int64_t)curl_getdate(v, NULL);
	return len;
}

int http_url_allowed(const char *url)
{
	if (strncmp(url, "https://", 8) == 0)
		return 1;
	return strncmp(url, "http://127.", 11) == 0 || strncmp(url, "http://localhost", 16) == 0 ||
	       strncmp(url, "http://[::1]", 12) == 0;
}

static void release_handle(void *h)
{
	curl_easy_cleanup(h);
	handle = NULL;
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pthread_key_create(&handle_key, release_handle) != 0)
		abort();
}

static CURL *get_handle(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, global_init);
	if (!handle) {
		handle = curl_easy_init();
		pthread_setspecific(handle_key, handle);
	} else
		curl_easy_reset(handle); /* keeps the connection cache */
	return handle;
}

void http_thread_cleanup(void)
{
	if (handle) {
		pthread_setspecific(handle_key, NULL);
		curl_easy_cleanup(handle);
	}
	handle = NULL;
}

int http_request(const char *method, const char *url, const char *const *headers, const char *body,
		 const http_timeouts *t, http_response *resp)
{
	CURL *c;
	struct curl_slist *hl = NULL;
	sink s = {0};
	CURLcode rc;
	int ret = -1;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	resp->date_s = -1;
	resp->should_retry = -1;
	if (!http_url_allowed(url)) {
		resp->transport = 1;
		snprintf(resp->error, sizeof(resp->error), "refusing a non-TLS provider URL");
		return -1;
	}
	c = get_handle();
	if (!c) {
		resp->transport = 1;
		snprintf(resp->error, sizeof(resp->error), "curl unavailable");
		return -1;
	}
	for (const char *const *h = headers; h && *h; h++)
		hl = curl_slist_append(hl, *h);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	/* A POST never goes on a reused keep-alive connection: when one dies
	 * before any answer ("Connection died, retrying a fresh connect"),
	 * libcurl sends the request again by itself. The provider may have
	 * executed the first (a charge whose answer was lost), and if its key
	 * was pruned meanwhile the silent second one charges again. On a fresh
	 * connection the loss reaches the caller, which searches before any
	 * replay (live_provider.c). */
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, strcmp(method, "POST") == 0 ? 1L : 0L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, t && t->connect_ms ? t->connect_ms : 3000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t && t->total_ms ? t->total_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "smartplus-billingd/0.1");
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->body = s.buf;
		resp->len = s.len;
		s.buf = NULL;
		ret = 0;
	} else {
		resp->transport = 1;
		snprintf(resp->error, sizeof(resp->error), "%s",
			 s.overflow ? "response too large" : curl_easy_strerror(rc));
	}
	free(s.buf);
	curl_slist_free_all(hl);
	return ret;
}

void http_response_free(http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
}
