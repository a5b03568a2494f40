/* httpd.c: the route table over libmicrohttpd. See httpd.h. */
#include "httpd.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "xalloc.h"

#define DEFAULT_MAX_BODY (1u << 20)
#define DEFAULT_THREADS 2
#define CONNECTION_TIMEOUT_S 30

struct httpd {
	struct MHD_Daemon *d;
	httpd_route *routes;
	size_t n_routes;
	size_t max_body;
	int port;
};

/* One request, from its first callback to MHD_OPTION_NOTIFY_COMPLETED. */
struct httpd_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *body;
	size_t len, cap;
	int too_big;
};

const char *httpd_method(const httpd_request *r)
{
	return r->method;
}

const char *httpd_path(const httpd_request *r)
{
	return r->path;
}

const char *httpd_body(const httpd_request *r, size_t *body_len)
{
	if (body_len)
		*body_len = r->len;
	return r->body ? r->body : "";
}

const char *httpd_header(const httpd_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void httpd_reply(httpd_response *resp, int status, const char *content_type, const char *text)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = xstrdup(text ? text : "");
	resp->body_len = resp->body ? strlen(resp->body) : 0;
}

static enum MHD_Result send_response(struct MHD_Connection *c, httpd_response *r)
{
	struct MHD_Response *m;
	enum MHD_Result ok;
	if (!r->body) {
		r->body = xstrdup("");
		r->body_len = 0;
	}
	m = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
	if (!m) {
		free(r->body);
		return MHD_NO;
	}
	MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type ? r->content_type : "text/plain; charset=utf-8");
	ok = MHD_queue_response(c, (unsigned)r->status, m);
	MHD_destroy_response(m);
	return ok;
}

static const httpd_route *find(const httpd *h, const char *path)
{
	for (size_t i = 0; i < h->n_routes; i++)
		if (strcmp(h->routes[i].path, path) == 0)
			return &h->routes[i];
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	httpd *h = cls;
	httpd_request *r = *con_cls;
	httpd_response resp = {0};
	const httpd_route *route;
	(void)version;

	if (!r) {
		r = xcalloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->conn = conn;
		r->method = method;
		r->path = url;
		*con_cls = r;
		return MHD_YES;
	}
	if (*data_size) {
		if (!r->too_big && r->len + *data_size > h->max_body) {
			r->too_big = 1;
		} else if (!r->too_big) {
			if (r->len + *data_size + 1 > r->cap) {
				size_t cap = (r->len + *data_size + 1) * 2;
				char *nb = xrealloc(r->body,
						    cap > h->max_body + 1 ? h->max_body + 1 : cap);
				if (!nb)
					return MHD_NO;
				r->body = nb;
				r->cap = cap > h->max_body + 1 ? h->max_body + 1 : cap;
			}
			memcpy(r->body + r->len, data, *data_size);
			r->len += *data_size;
			r->body[r->len] = 0;
		}
		*data_size = 0;
		return MHD_YES;
	}
	if (r->too_big) {
		httpd_reply(&resp, 413, NULL, "request body too large\n");
	} else if (!(route = find(h, url))) {
		httpd_reply(&resp, 404, NULL, "no such path\n");
	} else {
		resp.status = 500;
		route->handler(r, &resp, route->arg);
	}
	return send_response(conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	httpd_request *r = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (r) {
		free(r->body);
		free(r);
	}
	*con_cls = NULL;
}

/* "host:port" / "[v6]:port" -> a loopback socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, int *v6,
			char *err, size_t errcap)
{
	char host[256];
	const char *colon, *port_s;
	struct addrinfo hints = {0}, *ai = NULL;
	int rc;
	if (!listen || !*listen) {
		snprintf(err, errcap, "no listen address");
		return -1;
	}
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errcap, "%s: want [ADDR]:PORT", listen);
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(close - listen - 1), listen + 1);
		port_s = close + 2;
	} else {
		colon = strrchr(listen, ':');
		if (!colon) {
			snprintf(err, errcap, "%s: want HOST:PORT", listen);
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
		port_s = colon + 1;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port_s, &hints, &ai);
	if (rc != 0 || !ai) {
		snprintf(err, errcap, "%s: %s", listen, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	if (*v6 ? !IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ss)->sin6_addr)
		: (ntohl(((struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) != 127) {
		snprintf(err, errcap,
			 "%s is not a loopback address: the HTTP listener is plaintext; put a "
			 "TLS proxy in front of it",
			 listen);
		return -1;
	}
	return 0;
}

httpd *httpd_start(const httpd_options *o, char *err, size_t errcap)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int v6;
	const union MHD_DaemonInfo *info;
	httpd *h;

	if (parse_listen(o->listen, &ss, &sl, &v6, err, errcap) != 0)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	if (!h || !(h->routes = xcalloc(o->n_routes ? o->n_routes : 1, sizeof(*h->routes)))) {
		free(h);
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	memcpy(h->routes, o->routes, o->n_routes * sizeof(*h->routes));
	h->n_routes = o->n_routes;
	h->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
					(v6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
				(unsigned)(o->threads > 0 ? o->threads : DEFAULT_THREADS),
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errcap, "%s: cannot listen (address in use?)", o->listen);
		free(h->routes);
		free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	return h;
}

int httpd_port(const httpd *h)
{
	return h ? h->port : 0;
}

void httpd_stop(httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h->routes);
	free(h);
}
