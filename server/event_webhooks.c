/*
 * event_webhooks.c: EventService CreateWebhookEndpoint, ListWebhookEndpoints,
 * DeleteWebhookEndpoint, SendTestEvent, ListDeliveries, RedeliverEvent.
 * The worker that delivers is event_webhook_worker.c; see event_webhooks.h.
 *
 * An endpoint belongs to an account and receives what that account sees.
 * Who may act on the account (itself, an ancestor) manages its endpoints;
 * anyone else gets PERMISSION_DENIED, whether or not the endpoint exists.
 * The signing secret is kept in the store (the worker signs with it) and
 * is shown once, in the creation's answer.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "events.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "store_webhook.h"
#include "event_webhooks.h"
#include "write.h"

#define MAX_ENDPOINTS 32 /* per account */
#define URL_MAX 2048
#define DESCRIPTION_MAX 256
#define DSTATUS(x) SMARTPLUS__BILLING__V1__DELIVERY_STATUS__DELIVERY_STATUS_##x

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

int evhooks_url_allowed(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *user = NULL;
	int ok = 0;

	if (!url || !url[0] || strlen(url) > URL_MAX || !(u = curl_url()))
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] &&
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER) {
		if (strcmp(scheme, "https") == 0) {
			ok = 1;
		} else if (strcmp(scheme, "http") == 0) {
			struct in_addr a4;
			ok = strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
			     (inet_pton(AF_INET, host, &a4) == 1 &&
			      (ntohl(a4.s_addr) >> 24) == 127);
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

/* prefix + 2 * n random hex digits into out. 0 or -1. */
static int random_id(const char *prefix, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[32];
	size_t p = strlen(prefix);

	if (n > sizeof(b) || p + 2 * n + 1 > cap || RAND_bytes(b, (int)n) != 1)
		return -1;
	memcpy(out, prefix, p);
	for (size_t i = 0; i < n; i++) {
		out[p + 2 * i] = hex[b[i] >> 4];
		out[p + 2 * i + 1] = hex[b[i] & 0xf];
	}
	out[p + 2 * n] = '\0';
	return 0;
}

static Smartplus__Billing__V1__WebhookEndpoint *conv_endpoint(arena *a, const store_endpoint *e)
{
	Smartplus__Billing__V1__WebhookEndpoint *m = arena_alloc(a, sizeof(*m));

	smartplus__billing__v1__webhook_endpoint__init(m);
	m->endpoint_id = e->endpoint_id;
	m->account_id = e->account_id;
	m->url = e->url;
	m->n_kinds = e->n_kinds;
	m->kinds = e->kinds;
	m->description = e->description;
	m->create_time = conv_ts(a, e->create_time);
	return m;
}

static Smartplus__Billing__V1__Delivery *conv_delivery(arena *a, const store_delivery *d)
{
	Smartplus__Billing__V1__Delivery *m = arena_alloc(a, sizeof(*m));

	smartplus__billing__v1__delivery__init(m);
	m->endpoint_id = d->endpoint_id;
	m->event_id = d->event_id;
	m->sequence = (int64_t)d->seq;
	m->status = d->status; /* same values as DeliveryStatus */
	m->attempts = d->attempts;
	if (d->status == STORE_DELIVERY_PENDING)
		m->next_attempt_time = conv_ts(a, d->next_attempt_time);
	m->last_attempt_time = conv_ts(a, d->last_attempt_time);
	m->last_http_status = d->last_http_status;
	m->last_error = d->last_error;
	m->delivered_time = conv_ts(a, d->delivered_time);
	m->create_time = conv_ts(a, d->create_time);
	return m;
}

/* The account a request names (account_id, or the caller's), checked:
 * fails the call and returns NULL unless the caller may act on it. */
static const char *request_account(rpc_call *call, const char *account_id)
{
	const rpc_caller *me = rpc_call_caller(call);
	store_txn *txn;
	int may;

	if (!account_id || !account_id[0])
		return me->account_id;
	if (handler_check_id(call, "account_id", account_id) != 0)
		return NULL;
	if (handler_read_begin(call, &txn) != 0)
		return NULL;
	may = auth_may_act(txn, me, account_id);
	store_read_end(txn);
	return auth_deny(call, may, "account_id") ? NULL : account_id;
}

/* The endpoint of a request, if the caller may manage it; else the call
 * is failed (PERMISSION_DENIED also for a missing one) and NULL is
 * returned. The caller frees the record. */
static store_endpoint *request_endpoint(rpc_call *call, const char *endpoint_id)
{
	store_endpoint *e = NULL;
	store_txn *txn;
	int rc, may = 0;

	if (!endpoint_id || strncmp(endpoint_id, "whe_", 4) != 0 || !valid_id(endpoint_id)) {
		BAD_ARG(call, "endpoint_id: an id from CreateWebhookEndpoint (\"whe_...\")");
		return NULL;
	}
	if (handler_read_begin(call, &txn) != 0)
		return NULL;
	rc = store_endpoint_get(txn, endpoint_id, &e);
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), e->account_id);
	store_read_end(txn);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		return NULL;
	}
	if (auth_deny(call, rc == 0 ? may : 0, "endpoint_id")) {
		store_record_free(e);
		return NULL;
	}
	return e;
}

static int check_kinds(rpc_call *call, char **kinds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!events_kind_known(kinds[i])) {
			BAD_ARG(call, "kinds[%zu]: unknown kind '%.64s'", i, kinds[i]);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(kinds[i], kinds[j]) == 0) {
				BAD_ARG(call, "kinds[%zu]: listed twice", i);
				return -1;
			}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* CreateWebhookEndpoint                                                     */

typedef struct create_write {
	rpc_write w;
	store_endpoint rec; /* strings into the request or below */
	char id[32], secret[80], account[65], actor[65];
} create_write;

static int apply_create(store_txn *txn, rpc_write *w)
{
	create_write *c = (create_write *)w;
	store_list l = {0};
	uint64_t seq = 0;
	int rc = store_endpoint_list_by_account(txn, c->rec.account_id, MAX_ENDPOINTS + 1, NULL,
						&l);
	size_t n = l.n;

	store_list_free(&l);
	if (rc != 0)
		return rc;
	if (n >= MAX_ENDPOINTS)
		return write_fail(w, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL,
				  "account '%s' has %d webhook endpoints, the most allowed",
				  c->rec.account_id, MAX_ENDPOINTS);
	/* events committed from now on are delivered */
	rc = store_meta_get(txn, "event_seq", &seq);
	if (rc != 0)
		return rc;
	c->rec.start_seq = seq;
	return store_endpoint_put(txn, &c->rec, 1);
}

static void reply_create(rpc_write *w)
{
	create_write *c = (create_write *)w;
	Smartplus__Billing__V1__CreateWebhookEndpointResponse r =
		SMARTPLUS__BILLING__V1__CREATE_WEBHOOK_ENDPOINT_RESPONSE__INIT;
	arena *a = arena_new();

	r.endpoint = conv_endpoint(a, &c->rec);
	r.signing_secret = c->secret;
	rpc_reply(w->call, &r.base);
	arena_free(a);
}

static int check_create(rpc_call *call,
			const Smartplus__Billing__V1__CreateWebhookEndpointRequest *req)
{
	if (!req->url[0])
		return BAD_ARG(call, "url: required");
	if (!evhooks_url_allowed(req->url))
		return BAD_ARG(call,
			       "url: must be https://, or http:// to a loopback address "
			       "(127.0.0.0/8, [::1], localhost), without user information, at "
			       "most %d characters",
			       URL_MAX);
	if (check_kinds(call, req->kinds, req->n_kinds) != 0)
		return 1;
	if (strlen(req->description) > DESCRIPTION_MAX)
		return BAD_ARG(call, "description: at most %d characters", DESCRIPTION_MAX);
	return 0;
}

void rpc_EventService_CreateWebhookEndpoint(
	struct rpc_call *call, const Smartplus__Billing__V1__CreateWebhookEndpointRequest *req)
{
	const char *account;
	create_write *c;

	/* who first: a foreign account is PERMISSION_DENIED whatever else */
	account = request_account(call, req->account_id);
	if (!account || check_create(call, req) != 0)
		return;
	c = write_new(call, sizeof(*c));
	if (random_id("whe_", 12, c->id, sizeof(c->id)) != 0 ||
	    random_id("whsec_", 32, c->secret, sizeof(c->secret)) != 0) {
		free(c);
		handler_fail_internal(call, "no randomness for an endpoint id or secret");
		return;
	}
	snprintf(c->account, sizeof(c->account), "%s", account);
	snprintf(c->actor, sizeof(c->actor), "%s", rpc_call_caller(call)->account_id);
	smartplus__billing__store__v1__webhook_endpoint_record__init(&c->rec);
	c->rec.endpoint_id = c->id;
	c->rec.account_id = c->account;
	c->rec.url = req->url;
	c->rec.n_kinds = req->n_kinds;
	c->rec.kinds = req->kinds;
	c->rec.secret = c->secret;
	c->rec.description = req->description;
	c->rec.create_time = clock_now_us();
	c->rec.created_by = c->actor;
	c->w.apply = apply_create;
	c->w.reply = reply_create;
	write_submit(&c->w);
}

/* ------------------------------------------------------------------------ */
/* ListWebhookEndpoints                                                      */

void rpc_EventService_ListWebhookEndpoints(
	struct rpc_call *call, const Smartplus__Billing__V1__ListWebhookEndpointsRequest *req)
{
	Smartplus__Billing__V1__ListWebhookEndpointsResponse r =
		SMARTPLUS__BILLING__V1__LIST_WEBHOOK_ENDPOINTS_RESPONSE__INIT;
	const char *account;
	store_list l = {0};
	store_txn *txn;
	arena *a;
	int rc;

	if (handler_check_page_size(call, req->page_size) != 0)
		return;
	account = request_account(call, req->account_id);
	if (!account || handler_read_begin(call, &txn) != 0)
		return;
	rc = store_endpoint_list_by_account(txn, account, req->page_size, req->page_token, &l);
	store_read_end(txn);
	if (rc != 0) {
		handler_fail_store(call, rc);
		return;
	}
	a = arena_new();
	r.n_endpoints = l.n;
	r.endpoints = arena_alloc(a, (l.n + 1) * sizeof(*r.endpoints));
	for (size_t i = 0; i < l.n; i++)
		r.endpoints[i] = conv_endpoint(a, l.items[i]);
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
	arena_free(a);
	store_list_free(&l);
}

/* ------------------------------------------------------------------------ */
/* DeleteWebhookEndpoint                                                     */

typedef struct endpoint_write {
	rpc_write w;
	store_endpoint *e; /* as read before the write */
	uint64_t seq;      /* RedeliverEvent: the event */
	char cause[48];
	char actor[65];
	store_delivery d; /* RedeliverEvent: the delivery written */
	store_event *ev;  /* SendTestEvent: the event recorded */
} endpoint_write;

static void cleanup_endpoint_write(rpc_write *w)
{
	endpoint_write *x = (endpoint_write *)w;
	store_record_free(x->e);
	store_record_free(x->ev);
}

/* The endpoint is still there (and still the caller's account's): it may
 * have been deleted since it was checked. */
static int still_there(store_txn *txn, rpc_write *w, const store_endpoint *e)
{
	store_endpoint *now = NULL;
	int rc = store_endpoint_get(txn, e->endpoint_id, &now);

	store_record_free(now);
	if (rc == STORE_NOTFOUND)
		return write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED,
				  "endpoint_id");
	return rc;
}

static int apply_delete(store_txn *txn, rpc_write *w)
{
	endpoint_write *x = (endpoint_write *)w;
	int rc = still_there(txn, w, x->e);

	return rc ? rc : store_endpoint_delete(txn, x->e->endpoint_id);
}

static void reply_delete(rpc_write *w)
{
	endpoint_write *x = (endpoint_write *)w;
	Smartplus__Billing__V1__DeleteWebhookEndpointResponse r =
		SMARTPLUS__BILLING__V1__DELETE_WEBHOOK_ENDPOINT_RESPONSE__INIT;
	arena *a = arena_new();

	r.endpoint = conv_endpoint(a, x->e);
	rpc_reply(w->call, &r.base);
	arena_free(a);
}

static endpoint_write *endpoint_write_new(rpc_call *call, store_endpoint *e,
					  int (*apply)(store_txn *, rpc_write *),
					  void (*reply)(rpc_write *))
{
	endpoint_write *x = write_new(call, sizeof(*x));

	x->e = e;
	snprintf(x->actor, sizeof(x->actor), "%s", rpc_call_caller(call)->account_id);
	x->w.apply = apply;
	x->w.reply = reply;
	x->w.cleanup = cleanup_endpoint_write;
	return x;
}

void rpc_EventService_DeleteWebhookEndpoint(
	struct rpc_call *call, const Smartplus__Billing__V1__DeleteWebhookEndpointRequest *req)
{
	store_endpoint *e = request_endpoint(call, req->endpoint_id);

	if (e)
		write_submit(&endpoint_write_new(call, e, apply_delete, reply_delete)->w);
}

/* ------------------------------------------------------------------------ */
/* SendTestEvent                                                             */

static int apply_test(store_txn *txn, rpc_write *w)
{
	endpoint_write *x = (endpoint_write *)w;
	char subject[64];
	uint64_t seq = 0;
	arena *a;
	int64_t now = clock_now_us();
	int rc = still_there(txn, w, x->e);

	if (rc != 0)
		return rc;
	store_record_free(x->ev);
	x->ev = NULL;
	snprintf(subject, sizeof(subject), "webhookEndpoints/%s", x->e->endpoint_id);
	a = arena_new();
	rc = a ? events_emit_seq(txn, EV_WEBHOOK_TEST, subject, x->cause, x->actor,
				 x->e->account_id, NULL, &conv_endpoint(a, x->e)->base, &seq)
	       : STORE_IO;
	arena_free(a);
	if (rc == 0)
		rc = seq ? store_event_get(txn, seq, &x->ev) : STORE_NOTFOUND;
	if (rc == STORE_NOTFOUND) /* events are switched off */
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, NULL,
				  "events are switched off on this server");
	if (rc != 0)
		return rc;
	smartplus__billing__store__v1__delivery_record__init(&x->d);
	x->d.endpoint_id = x->e->endpoint_id;
	x->d.event_id = x->ev->event_id;
	x->d.seq = x->ev->seq;
	x->d.status = STORE_DELIVERY_PENDING;
	x->d.next_attempt_time = now;
	x->d.create_time = now;
	x->d.retry_from = now;
	x->d.account_id = x->e->account_id;
	return store_delivery_put(txn, &x->d);
}

static void reply_test(rpc_write *w)
{
	endpoint_write *x = (endpoint_write *)w;
	Smartplus__Billing__V1__SendTestEventResponse r =
		SMARTPLUS__BILLING__V1__SEND_TEST_EVENT_RESPONSE__INIT;
	ProtobufCMessage *payload = NULL;
	arena *a = arena_new();

	if (events_to_api(a, x->ev, &r.event, &payload) == 0)
		rpc_reply(w->call, &r.base);
	else
		handler_fail_internal(w->call, "test event %s: undecodable", x->ev->event_id);
	if (payload)
		protobuf_c_message_free_unpacked(payload, NULL);
	arena_free(a);
	evhooks_kick();
}

void rpc_EventService_SendTestEvent(struct rpc_call *call,
				    const Smartplus__Billing__V1__SendTestEventRequest *req)
{
	store_endpoint *e = request_endpoint(call, req->endpoint_id);
	endpoint_write *x;

	if (!e)
		return;
	x = endpoint_write_new(call, e, apply_test, reply_test);
	/* each test is a new event: a random cause */
	if (random_id("test:", 16, x->cause, sizeof(x->cause)) != 0) {
		cleanup_endpoint_write(&x->w);
		free(x);
		handler_fail_internal(call, "no randomness for a test event");
		return;
	}
	write_submit(&x->w);
}

/* ------------------------------------------------------------------------ */
/* ListDeliveries                                                            */

void rpc_EventService_ListDeliveries(struct rpc_call *call,
				     const Smartplus__Billing__V1__ListDeliveriesRequest *req)
{
	Smartplus__Billing__V1__ListDeliveriesResponse r =
		SMARTPLUS__BILLING__V1__LIST_DELIVERIES_RESPONSE__INIT;
	store_endpoint *e;
	store_list l = {0};
	store_txn *txn;
	arena *a;
	int rc;

	if (handler_check_page_size(call, req->page_size) != 0)
		return;
	if (req->status &&
	    !valid_enum(&smartplus__billing__v1__delivery_status__descriptor, req->status)) {
		BAD_ARG(call, "status: unknown value %d", req->status);
		return;
	}
	e = request_endpoint(call, req->endpoint_id);
	if (!e)
		return;
	if (handler_read_begin(call, &txn) != 0) {
		store_record_free(e);
		return;
	}
	rc = store_delivery_list(txn, e->endpoint_id, req->page_size, req->page_token, &l);
	store_read_end(txn);
	store_record_free(e);
	if (rc != 0) {
		handler_fail_store(call, rc);
		return;
	}
	a = arena_new();
	r.deliveries = arena_alloc(a, (l.n + 1) * sizeof(*r.deliveries));
	for (size_t i = 0; i < l.n; i++) {
		const store_delivery *d = l.items[i];
		if (!req->status || d->status == (int32_t)req->status)
			r.deliveries[r.n_deliveries++] = conv_delivery(a, d);
	}
	r.next_page_token = l.next_page_token ? l.next_page_token : "";
	rpc_reply(call, &r.base);
	arena_free(a);
	store_list_free(&l);
}

/* ------------------------------------------------------------------------ */
/* RedeliverEvent                                                            */

static int apply_redeliver(store_txn *txn, rpc_write *w)
{
	endpoint_write *x = (endpoint_write *)w;
	events_filter f;
	store_delivery *old = NULL;
	int64_t now = clock_now_us();
	int rc = still_there(txn, w, x->e);

	if (rc != 0)
		return rc;
	store_record_free(x->ev);
	x->ev = NULL;
	rc = store_event_get(txn, x->seq, &x->ev);
	memset(&f, 0, sizeof(f));
	snprintf(f.root, sizeof(f.root), "%s", x->e->account_id);
	/* an event the endpoint's account does not see is as good as absent */
	if (rc == STORE_NOTFOUND || (rc == 0 && !events_filter_keep(x->ev, &f)))
		return write_fail(w, GRPC_STATUS_NOT_FOUND, NULL,
				  "sequence: no event %" PRIu64 " that this endpoint's account "
				  "sees is kept (events are kept for the retention period)",
				  x->seq);
	if (rc != 0)
		return rc;
	rc = store_delivery_get(txn, x->e->endpoint_id, x->ev->seq, &old);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return rc;
	smartplus__billing__store__v1__delivery_record__init(&x->d);
	x->d.endpoint_id = x->e->endpoint_id;
	x->d.event_id = x->ev->event_id;
	x->d.seq = x->ev->seq;
	x->d.status = STORE_DELIVERY_PENDING;
	x->d.next_attempt_time = now;
	x->d.retry_from = now;
	x->d.account_id = x->e->account_id;
	x->d.create_time = old ? old->create_time : now;
	x->d.attempts = old ? old->attempts : 0;
	x->d.first_attempt_time = old ? old->first_attempt_time : 0;
	x->d.last_attempt_time = old ? old->last_attempt_time : 0;
	x->d.last_http_status = old ? old->last_http_status : 0;
	x->d.last_error = "";
	rc = store_delivery_put(txn, &x->d);
	store_record_free(old);
	return rc;
}

static void reply_redeliver(rpc_write *w)
{
	endpoint_write *x = (endpoint_write *)w;
	Smartplus__Billing__V1__RedeliverEventResponse r =
		SMARTPLUS__BILLING__V1__REDELIVER_EVENT_RESPONSE__INIT;
	arena *a = arena_new();

	r.delivery = conv_delivery(a, &x->d);
	rpc_reply(w->call, &r.base);
	arena_free(a);
	evhooks_kick();
}

void rpc_EventService_RedeliverEvent(struct rpc_call *call,
				     const Smartplus__Billing__V1__RedeliverEventRequest *req)
{
	store_endpoint *e;
	endpoint_write *x;

	e = request_endpoint(call, req->endpoint_id);
	if (!e)
		return;
	if (req->sequence < 1) {
		store_record_free(e);
		BAD_ARG(call, "sequence: the event's sequence number (>= 1)");
		return;
	}
	x = endpoint_write_new(call, e, apply_redeliver, reply_redeliver);
	x->seq = (uint64_t)req->sequence;
	write_submit(&x->w);
}
