/*
 * test_webhooks.c - event webhooks (issue 15) from the real billingd to a
 * local HTTP receiver (libmicrohttpd, 127.0.0.1 only):
 *
 *   - URL rules: https, or http to loopback only, no user information;
 *   - an endpoint answering 500 twice then 200 gets the event once more and
 *     then never again, with the same event id every time; each request's
 *     signature is checked by an independent implementation (`openssl dgst
 *     -sha256 -hmac`), and the body is the proto3 JSON that buf curl (Go's
 *     protojson) gives for the same event;
 *   - the kinds filter and the account's subtree decide what an endpoint
 *     receives (a sibling's endpoint receives nothing of the other tree);
 *   - SendTestEvent reaches its endpoint only; RedeliverEvent sends an
 *     event again with its id; deleting an endpoint stops its deliveries;
 *     a sibling cannot manage another's endpoint;
 *   - with the test clock, a delivery failing for 72 hours is dead-lettered,
 *     and RedeliverEvent revives it.
 *
 * Usage: test_webhooks BILLINGD BUF (the buf binary, for its curl).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "spbilling.h"
#include "spt_billingd.h"
#include "spt_enums.h"
#include "spt_run.h"
#include "spt_sdk.h"

/* ------------------------------------------------------------------------ */
/* The receiver                                                              */

#define MAX_REQ 64

typedef struct request {
	char path[16];
	char signature[256];
	char event_id[64];
	char *body;
	int answered; /* the status we answered */
} request;

static struct {
	pthread_mutex_t lock;
	request req[MAX_REQ];
	int n;
	int a_seen; /* requests on /a so far: 500, 500, then 200 */
} rx = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct upload {
	char *buf;
	size_t len;
} upload;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	upload *u = *con_cls;
	struct MHD_Response *resp;
	const char *h;
	int status = 200;
	enum MHD_Result ok;

	(void)cls;
	(void)method;
	(void)version;
	if (!u) {
		*con_cls = calloc(1, sizeof(upload));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*size) {
		char *nb = realloc(u->buf, u->len + *size + 1);
		if (!nb)
			return MHD_NO;
		u->buf = nb;
		memcpy(u->buf + u->len, data, *size);
		u->len += *size;
		u->buf[u->len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&rx.lock);
	if (strcmp(url, "/a") == 0)
		status = rx.a_seen++ < 2 ? 500 : 200;
	else if (strcmp(url, "/c") == 0)
		status = 500; /* the dead-letter endpoint never accepts */
	if (rx.n < MAX_REQ) {
		request *r = &rx.req[rx.n++];
		snprintf(r->path, sizeof(r->path), "%s", url);
		h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Smartplus-Signature");
		snprintf(r->signature, sizeof(r->signature), "%s", h ? h : "");
		h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Smartplus-Event-Id");
		snprintf(r->event_id, sizeof(r->event_id), "%s", h ? h : "");
		r->body = u->buf ? u->buf : strdup("");
		u->buf = NULL;
		r->answered = status;
	}
	pthread_mutex_unlock(&rx.lock);
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	ok = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	upload *u = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (u) {
		free(u->buf);
		free(u);
		*con_cls = NULL;
	}
}

static int count_path(const char *path)
{
	int n = 0;
	pthread_mutex_lock(&rx.lock);
	for (int i = 0; i < rx.n; i++)
		n += strcmp(rx.req[i].path, path) == 0;
	pthread_mutex_unlock(&rx.lock);
	return n;
}

/* Waits (at most ms) until path has had n requests; returns the count. */
static int wait_path(const char *path, int n, int ms)
{
	int got;
	while ((got = count_path(path)) < n && ms > 0) {
		usleep(50 * 1000);
		ms -= 50;
	}
	return got;
}

/* The k-th request (0-based) on path, or NULL. */
static request *nth(const char *path, int k)
{
	for (int i = 0; i < rx.n; i++)
		if (strcmp(rx.req[i].path, path) == 0 && k-- == 0)
			return &rx.req[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Independent checks                                                           */

/* HMAC-SHA256 of "<t>.<body>" keyed with secret, by the openssl command
 * line tool, in hex into out[65]. 0 or -1. */
static int openssl_hmac(const char *secret, const char *t, const char *body, char out[65])
{
	char path[] = "/tmp/spb-whsig.XXXXXX", cmd[512], line[512];
	FILE *f, *p;
	int fd = mkstemp(path), rc = -1;
	char *eq;

	if (fd < 0 || !(f = fdopen(fd, "w")))
		return -1;
	fprintf(f, "%s.%s", t, body);
	fclose(f);
	/* the secret is [a-z0-9_] only: safe on a command line */
	snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -hmac '%s' '%s'", secret, path);
	p = popen(cmd, "r");
	if (p && fgets(line, sizeof(line), p) && (eq = strstr(line, "= ")) &&
	    strlen(eq + 2) >= 64) {
		memcpy(out, eq + 2, 64);
		out[64] = '\0';
		rc = 0;
	}
	if (p)
		pclose(p);
	unlink(path);
	return rc;
}

/* Splits "t=<t>,v1=<hex>" into t and v1. 0 or -1. */
static int parse_signature(const char *h, char t[32], char v1[80])
{
	const char *comma = strchr(h, ',');
	if (strncmp(h, "t=", 2) != 0 || !comma || comma - h - 2 >= 32 || strncmp(comma, ",v1=", 4))
		return -1;
	memcpy(t, h + 2, (size_t)(comma - h - 2));
	t[comma - h - 2] = '\0';
	snprintf(v1, 80, "%s", comma + 4);
	return 0;
}

/* The event `event_id` as buf curl (protojson) renders it from ListEvents
 * with this subject, or NULL. */
static json_t *buf_curl_event(const char *buf, const spt_billingd *p, const char *subject,
			      const char *event_id)
{
	char cmd[1024];
	json_t *all, *found = NULL, *events;
	json_error_t err;
	FILE *f;
	size_t i;

	snprintf(cmd, sizeof(cmd),
		 "'%s' curl --protocol grpc --http2-prior-knowledge -H 'authorization: Bearer %s' "
		 "-d '{\"subject\":\"%s\"}' http://%s/smartplus.billing.v1.EventService/ListEvents",
		 buf, p->admin_key, subject, p->target);
	f = popen(cmd, "r");
	if (!f)
		return NULL;
	all = json_loadf(f, 0, &err);
	pclose(f);
	events = json_object_get(all, "events");
	for (i = 0; i < json_array_size(events); i++) {
		json_t *e = json_array_get(events, i);
		if (strcmp(json_string_value(json_object_get(e, "eventId")) ?: "", event_id) == 0)
			found = json_incref(e);
	}
	json_decref(all);
	return found;
}

/* ------------------------------------------------------------------------ */
/* SDK helpers                                                               */

static spb_client *cli;
static spt_billingd srv;
static int rx_port;

static spb_call_options as(const char *key)
{
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	o.api_key = key;
	return o;
}

static int account(const char *id, const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateAccountResponse *resp = NULL;
	int rc;
	r.account_id = (char *)id;
	r.role = V1(ROLE__ROLE_DISTRIBUTOR);
	r.parent_id = (char *)parent;
	r.display_name = (char *)id;
	rc = spb_directory_create_account(cli, &r, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

static int assign(const char *to, int64_t credits)
{
	Smartplus__Billing__V1__AssignCreditsRequest r =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
	int rc;
	r.account_id = "vendor";
	r.to_account_id = (char *)to;
	r.credits = credits;
	rc = spb_billing_assign_credits(cli, &r, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

/* CreateWebhookEndpoint: the id into id[64] and the secret into secret[96]
 * (either may be NULL). Returns the SDK code. */
static int endpoint(const char *account_id, const char *url, const char *kind, char *id,
		    char *secret)
{
	Smartplus__Billing__V1__CreateWebhookEndpointRequest r =
		SMARTPLUS__BILLING__V1__CREATE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateWebhookEndpointResponse *resp = NULL;
	char *kinds[1] = {(char *)kind};
	int rc;

	r.account_id = (char *)(account_id ? account_id : "");
	r.url = (char *)url;
	r.n_kinds = kind ? 1 : 0;
	r.kinds = kinds;
	rc = spb_event_create_webhook_endpoint(cli, &r, &resp, NULL);
	if (rc == 0 && id)
		snprintf(id, 64, "%s", resp->endpoint->endpoint_id);
	if (rc == 0 && secret)
		snprintf(secret, 96, "%s", resp->signing_secret);
	spb_message_free(resp);
	return rc;
}

static void url_of(const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "http://127.0.0.1:%d%s", rx_port, path);
}

/* The newest event of kind about subject, as the vendor lists it (caller
 * frees), or NULL. */
static Smartplus__Billing__V1__Event *last_event(const char *subject, const char *kind)
{
	Smartplus__Billing__V1__ListEventsRequest r =
		SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
	Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
	Smartplus__Billing__V1__Event *ev = NULL;

	r.subject = (char *)subject;
	r.page_size = 1000;
	if (spb_event_list_events(cli, &r, &resp, NULL) == 0)
		for (size_t i = resp->n_events; i-- > 0 && !ev;)
			if (strcmp(resp->events[i]->kind, kind) == 0) {
				ev = resp->events[i];
				resp->events[i] = NULL;
			}
	spb_message_free(resp);
	return ev;
}

/* The delivery of seq to endpoint id (caller frees), or NULL. */
static Smartplus__Billing__V1__Delivery *delivery(const char *id, const char *key, long long seq)
{
	Smartplus__Billing__V1__ListDeliveriesRequest r =
		SMARTPLUS__BILLING__V1__LIST_DELIVERIES_REQUEST__INIT;
	Smartplus__Billing__V1__ListDeliveriesResponse *resp = NULL;
	Smartplus__Billing__V1__Delivery *d = NULL;
	spb_call_options o = as(key);

	r.endpoint_id = (char *)id;
	if (spb_event_list_deliveries(cli, &r, &resp, &o) == 0)
		for (size_t i = 0; i < resp->n_deliveries && !d; i++)
			if (resp->deliveries[i]->sequence == seq) {
				d = resp->deliveries[i];
				resp->deliveries[i] = NULL;
			}
	spb_message_free(resp);
	return d;
}

static int start(const char *const *extra)
{
	if (spt_billingd_start(&srv, extra) != 0)
		return -1;
	cli = spt_client(&srv, NULL);
	return cli ? 0 : -1;
}

static void stop(void)
{
	spb_client_free(cli);
	cli = NULL;
	SPT_CHECK(spt_billingd_stop(&srv) == 0, "billingd stops cleanly (log %s)", srv.log_path);
	spt_billingd_free(&srv);
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                 */

static void s_urls(void)
{
	static const char *bad[] = {"",
				    "http://example.com/hook",
				    "http://10.0.0.1/hook",
				    "https://user:pw@example.com/hook",
				    "ftp://127.0.0.1/hook",
				    "not a url",
				    "http://127.0.0.1.example.com/hook"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		SPT_CHECK(endpoint(NULL, bad[i], NULL, NULL, NULL) == SPB_EINVALID &&
				  strstr(spb_error_last()->message, "url"),
			  "'%s' refused, naming url", bad[i]);
	SPT_CHECK(endpoint(NULL, "https://hooks.example.com/in", "no.such_kind", NULL, NULL) ==
			  SPB_EINVALID,
		  "an unknown kind refused");
}

static void s_deliveries(const char *buf)
{
	char a_id[64], b_id[64], a_secret[96], url[128], d2_key[160];
	Smartplus__Billing__V1__Event *e1 = NULL, *e2 = NULL;
	Smartplus__Billing__V1__Delivery *d = NULL;
	json_t *theirs;
	int n;

	SPT_CHECK(account("d1", "vendor") == 0 && account("d2", "vendor") == 0, "accounts");
	SPT_CHECK(spt_create_key(cli, NULL, "d2", SCOPE(ACCOUNT), d2_key, NULL) == 0,
		  "a key of d2");
	url_of("/a", url, sizeof(url));
	SPT_CHECK(endpoint("d1", url, "credits.assigned", a_id, a_secret) == 0, "endpoint A (d1)");
	SPT_CHECK(strncmp(a_secret, "whsec_", 6) == 0 && strlen(a_secret) == 70,
		  "signing secret whsec_ + 64 hex");
	url_of("/b", url, sizeof(url));
	SPT_CHECK(endpoint("d2", url, NULL, b_id, NULL) == 0, "endpoint B (d2, every kind)");

	SPT_CHECK(assign("d1", 5) == 0, "credits to d1");
	e1 = last_event("accounts/d1", "credits.assigned");
	SPT_CHECK(e1 != NULL, "the credits.assigned event");
	n = wait_path("/a", 3, 20000);
	SPT_CHECK(n == 3, "A answered 500, 500, 200: 3 requests (%d)", n);
	for (int k = 0; e1 && k < n; k++) {
		request *r = nth("/a", k);
		char t[32], v1[80], mine[65];
		json_error_t err;
		json_t *body = json_loads(r->body, 0, &err);

		SPT_CHECK(r->answered == (k < 2 ? 500 : 200), "answer %d", r->answered);
		SPT_CHECK(strcmp(r->event_id, e1->event_id) == 0, "request %d: the same event id",
			  k);
		SPT_CHECK(body && strcmp(json_string_value(json_object_get(body, "eventId")) ?: "",
					 e1->event_id) == 0,
			  "the body is the event");
		SPT_CHECK(parse_signature(r->signature, t, v1) == 0, "signature header '%s'",
			  r->signature);
		SPT_CHECK(openssl_hmac(a_secret, t, r->body, mine) == 0 && strcmp(mine, v1) == 0,
			  "request %d: openssl dgst -sha256 -hmac agrees with v1", k);
		if (k == 2 && body) {
			theirs = buf_curl_event(buf, &srv, "accounts/d1", e1->event_id);
			SPT_CHECK(theirs && json_equal(theirs, body),
				  "the body is the proto3 JSON buf curl gives for the event");
			json_decref(theirs);
		}
		json_decref(body);
	}
	usleep(1000 * 1000);
	SPT_CHECK(count_path("/a") == 3, "delivered once: no request after the 200");
	d = e1 ? delivery(a_id, NULL, e1->sequence) : NULL;
	SPT_CHECK(d && d->status == V1(DELIVERY_STATUS__DELIVERY_STATUS_DELIVERED) &&
			  d->attempts == 3 && d->last_http_status == 200,
		  "ListDeliveries: DELIVERED after 3 attempts");
	spb_message_free(d);
	SPT_CHECK(count_path("/b") == 0, "d2's endpoint got nothing of d1's tree");

	SPT_CHECK(assign("d2", 2) == 0, "credits to d2");
	SPT_CHECK(wait_path("/b", 1, 10000) == 1, "d2's endpoint gets d2's event");
	e2 = last_event("accounts/d2", "credits.assigned");
	SPT_CHECK(e2 && strcmp(nth("/b", 0)->event_id, e2->event_id) == 0, "with its id");
	usleep(300 * 1000);
	SPT_CHECK(count_path("/a") == 3, "A: nothing of d2's tree");

	{
		Smartplus__Billing__V1__SendTestEventRequest r =
			SMARTPLUS__BILLING__V1__SEND_TEST_EVENT_REQUEST__INIT;
		Smartplus__Billing__V1__SendTestEventResponse *resp = NULL;
		r.endpoint_id = a_id;
		SPT_CHECK(spb_event_send_test_event(cli, &r, &resp, NULL) == 0 &&
				  strcmp(resp->event->kind, "webhook.test") == 0,
			  "SendTestEvent");
		SPT_CHECK(wait_path("/a", 4, 10000) == 4 && resp &&
				  strcmp(nth("/a", 3)->event_id, resp->event->event_id) == 0,
			  "the test event reached A");
		spb_message_free(resp);
		usleep(300 * 1000);
		SPT_CHECK(count_path("/b") == 1, "and not B");
	}
	{
		Smartplus__Billing__V1__RedeliverEventRequest r =
			SMARTPLUS__BILLING__V1__REDELIVER_EVENT_REQUEST__INIT;
		Smartplus__Billing__V1__RedeliverEventResponse *resp = NULL;
		spb_call_options o = as(d2_key);
		r.endpoint_id = a_id;
		r.sequence = e1 ? e1->sequence : 0;
		SPT_CHECK(spb_event_redeliver_event(cli, &r, &resp, &o) == SPB_EPERM,
			  "a sibling may not redeliver to A");
		SPT_CHECK(spb_event_redeliver_event(cli, &r, &resp, NULL) == 0 &&
				  resp->delivery->status ==
					  V1(DELIVERY_STATUS__DELIVERY_STATUS_PENDING),
			  "RedeliverEvent");
		spb_message_free(resp);
		SPT_CHECK(wait_path("/a", 5, 10000) == 5 && e1 &&
				  strcmp(nth("/a", 4)->event_id, e1->event_id) == 0,
			  "redelivered with the same event id");
		r.endpoint_id = b_id; /* d2's endpoint does not see d1's event */
		SPT_CHECK(spb_event_redeliver_event(cli, &r, &resp, NULL) == SPB_ENOTFOUND,
			  "an event the endpoint's account does not see: NOT_FOUND");
	}
	{
		Smartplus__Billing__V1__DeleteWebhookEndpointRequest r =
			SMARTPLUS__BILLING__V1__DELETE_WEBHOOK_ENDPOINT_REQUEST__INIT;
		Smartplus__Billing__V1__DeleteWebhookEndpointResponse *resp = NULL;
		Smartplus__Billing__V1__ListWebhookEndpointsRequest l =
			SMARTPLUS__BILLING__V1__LIST_WEBHOOK_ENDPOINTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListWebhookEndpointsResponse *lr = NULL;
		spb_call_options o = as(d2_key);
		r.endpoint_id = a_id;
		SPT_CHECK(spb_event_delete_webhook_endpoint(cli, &r, &resp, &o) == SPB_EPERM,
			  "a sibling may not delete A");
		r.endpoint_id = "whe_000000000000000000000000";
		SPT_CHECK(spb_event_delete_webhook_endpoint(cli, &r, &resp, &o) == SPB_EPERM,
			  "nor a missing one (PERMISSION_DENIED either way)");
		r.endpoint_id = a_id;
		SPT_CHECK(spb_event_delete_webhook_endpoint(cli, &r, &resp, NULL) == 0, "delete A");
		spb_message_free(resp);
		l.account_id = "d1";
		SPT_CHECK(spb_event_list_webhook_endpoints(cli, &l, &lr, NULL) == 0 &&
				  lr->n_endpoints == 0,
			  "d1 has no endpoint left");
		spb_message_free(lr);
		SPT_CHECK(assign("d1", 1) == 0, "credits to d1");
		usleep(1500 * 1000);
		SPT_CHECK(count_path("/a") == 5, "nothing to a deleted endpoint");
	}
	spb_message_free(e1);
	spb_message_free(e2);
}

/* With the test clock: a delivery failing for 72 hours is dead-lettered. */
static void s_dead_letter(void)
{
	Smartplus__Billing__V1__AdvanceClockRequest ar =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *aresp = NULL;
	Google__Protobuf__Duration du = GOOGLE__PROTOBUF__DURATION__INIT;
	Smartplus__Billing__V1__Event *ev;
	Smartplus__Billing__V1__Delivery *d = NULL;
	char c_id[64], url[128];
	int dead = 0;

	SPT_CHECK(account("d3", "vendor") == 0, "account");
	url_of("/c", url, sizeof(url));
	SPT_CHECK(endpoint(NULL, url, NULL, c_id, NULL) == 0, "endpoint C (always 500)");
	SPT_CHECK(assign("d3", 1) == 0, "credits to d3");
	ev = last_event("accounts/d3", "credits.assigned");
	SPT_CHECK(ev && wait_path("/c", 1, 10000) == 1, "first attempt");
	du.seconds = 73 * 3600;
	ar.duration = &du;
	SPT_CHECK(spb_admin_advance_clock(cli, &ar, &aresp, NULL) == 0, "AdvanceClock 73 h");
	spb_message_free(aresp);
	for (int i = 0; ev && i < 100 && !dead; i++) {
		usleep(100 * 1000);
		spb_message_free(d);
		d = delivery(c_id, NULL, ev->sequence);
		dead = d && d->status == V1(DELIVERY_STATUS__DELIVERY_STATUS_DEAD);
	}
	SPT_CHECK(dead && d->attempts == 2 && d->last_http_status == 500,
		  "DEAD after the attempt past 72 h (attempts %d)", d ? d->attempts : -1);
	spb_message_free(d);
	d = NULL;
	{
		Smartplus__Billing__V1__RedeliverEventRequest r =
			SMARTPLUS__BILLING__V1__REDELIVER_EVENT_REQUEST__INIT;
		Smartplus__Billing__V1__RedeliverEventResponse *resp = NULL;
		r.endpoint_id = c_id;
		r.sequence = ev ? ev->sequence : 0;
		SPT_CHECK(spb_event_redeliver_event(cli, &r, &resp, NULL) == 0, "RedeliverEvent");
		spb_message_free(resp);
	}
	SPT_CHECK(wait_path("/c", 3, 10000) == 3, "tried again");
	for (int i = 0; ev && i < 50; i++) {
		spb_message_free(d);
		d = delivery(c_id, NULL, ev->sequence);
		if (d && d->attempts == 3)
			break;
		usleep(100 * 1000);
	}
	SPT_CHECK(d && d->attempts == 3 &&
			  d->status == V1(DELIVERY_STATUS__DELIVERY_STATUS_PENDING),
		  "revived: PENDING again, retried with backoff");
	spb_message_free(d);
	spb_message_free(ev);
}

static struct MHD_Daemon *mhd;

static int suite_init(void)
{
	static const char *const fast[] = {"--events-webhook-retry-ms", "200", NULL};
	struct sockaddr_in addr;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
			       MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED,
			       on_completed, NULL, MHD_OPTION_END);
	SPT_INIT(mhd ? 0 : -1);
	rx_port = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
	SPT_INIT(start(fast));
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(cli);
	cli = NULL;
	spt_billingd_free(&srv);
	if (mhd)
		MHD_stop_daemon(mhd);
	for (int i = 0; i < rx.n; i++)
		free(rx.req[i].body);
	return 0;
}

static void test_urls(void)
{
	s_urls();
}

static void test_deliveries(void)
{
	s_deliveries(spt_arg("buf"));
	stop();
}

static void test_dead_letter(void)
{
	static const char *const clocked[] = {"--test-clock", NULL};

	SPT_REQUIRE(start(clocked) == 0, "billingd with the test clock");
	s_dead_letter();
	stop();
}

static CU_TestInfo tests[] = {
	{"URLs: https, or http to loopback only", test_urls},
	{"500, 500, 200: delivered once more, same id, signed, protojson body; filters; test, "
	 "redeliver, delete",
	 test_deliveries},
	{"72 hours of failures: dead-lettered, then revived by RedeliverEvent", test_dead_letter},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"event webhooks", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD BUF", suites);
}
