/*
 * event_service.c: EventService ListEvents and WatchEvents (issue 15); the
 * webhook RPCs are in webhooks.c.
 *
 * A watch is a state machine on its call's completion-queue thread: it
 * reads a page of events in a short read transaction, sends them in one
 * message, reads the next page, and when it has reached the newest
 * committed event it goes idle. Going idle and being woken meet under one lock: a
 * watch re-checks store_event_last_seq() under it before it joins the idle
 * list, and the writer's commit hook, which publishes that number before it
 * runs, takes every idle watch that is behind off the list and wakes it on
 * its own queue (rpc_stream_wake). So no commit can slip between the check
 * and the sleep, no read transaction is held while idle, and the writer
 * only pays for a list walk.
 *
 * A watch resumes from a sequence number: the events after it are read in
 * order, each once, so a client that reconnects with the last sequence it
 * received gets everything after it exactly once, also across a restart
 * (the outbox is durable; the numbers are the commit order).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "billingd.h"
#include "xalloc.h"
#include "convert.h"
#include "events.h"
#include "handler.h"
#include "log.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"

#define PAGE 100
#define WATCH_PAGE 256     /* events in one WatchEvents message, at most */
#define SCAN_PER_PAGE 5000 /* events examined per ListEvents page / watch read */

/* ------------------------------------------------------------------------ */
/* ListEvents                                                                */

/* A page token: "<hex seq>.<hex 8 of the filter's hash>", bound to the
 * filter so it cannot be replayed with another. */
static void filter_tag(const events_filter *f, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE] = {0};
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, f->root, strlen(f->root) + 1);
		EVP_DigestUpdate(c, f->subject, strlen(f->subject) + 1);
		for (size_t i = 0; i < f->n_kinds; i++)
			EVP_DigestUpdate(c, f->kinds[i], strlen(f->kinds[i]) + 1);
		EVP_DigestFinal_ex(c, md, NULL);
	}
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[16] = '\0';
}

static int token_parse(const char *tok, const events_filter *f, uint64_t *seq)
{
	char tag[17], *end;
	unsigned long long v;

	if (!tok[0] || tok[0] == '-')
		return -1;
	v = strtoull(tok, &end, 16);
	if (*end != '.' || strlen(end + 1) != 16)
		return -1;
	filter_tag(f, tag);
	if (strcmp(end + 1, tag) != 0)
		return -1;
	*seq = v;
	return 0;
}

/* Packs the events of l as the Events of resp (built in a); payloads go to
 * *payloads (freed by the caller). */
static int convert_all(arena *a, const store_list *l, Smartplus__Billing__V1__Event ***out,
		       ProtobufCMessage ***payloads)
{
	*out = arena_alloc(a, (l->n ? l->n : 1) * sizeof(**out));
	*payloads = xcalloc(l->n ? l->n : 1, sizeof(**payloads));
	for (size_t i = 0; i < l->n; i++) {
		int rc = events_to_api(a, l->items[i], &(*out)[i], &(*payloads)[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void free_payloads(ProtobufCMessage **p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		if (p[i])
			protobuf_c_message_free_unpacked(p[i], NULL);
	free(p);
}

void rpc_EventService_ListEvents(struct rpc_call *call,
				 const Smartplus__Billing__V1__ListEventsRequest *req)
{
	Smartplus__Billing__V1__ListEventsResponse r =
		SMARTPLUS__BILLING__V1__LIST_EVENTS_RESPONSE__INIT;
	store_event_query q = {0};
	ProtobufCMessage **payloads = NULL;
	events_filter f;
	store_list l = {0};
	store_txn *txn = NULL;
	char token[64];
	uint64_t last;
	int more, rc;
	arena *a = NULL;

	if (handler_check_page_size(call, req->page_size) != 0)
		return;
	if (req->after_sequence < 0) {
		BAD_ARG(call, "after_sequence: >= 0");
		return;
	}
	if (events_filter_init(call, &f, req->kinds, req->n_kinds, req->subject, req->account_id) !=
	    0)
		return;
	q.after = (uint64_t)req->after_sequence;
	if (req->page_token[0] && token_parse(req->page_token, &f, &q.after) != 0) {
		BAD_ARG(call, "page_token: not one this list (with these filters) returned");
		return;
	}
	q.subject = f.subject;
	q.keep = events_filter_keep;
	q.keep_arg = &f;
	q.limit = req->page_size ? (size_t)req->page_size : PAGE;
	q.max_scan = SCAN_PER_PAGE;
	r.head_sequence = (int64_t)store_event_last_seq(billingd.store);
	if (handler_read_begin(call, &txn) != 0)
		return;
	rc = store_event_scan(txn, &q, &l, &last, &more);
	store_read_end(txn);
	a = arena_new();
	if (rc == 0 && !a)
		rc = STORE_IO;
	if (rc == 0)
		rc = convert_all(a, &l, &r.events, &payloads);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	r.n_events = l.n;
	if (more) {
		char tag[17];
		filter_tag(&f, tag);
		snprintf(token, sizeof(token), "%" PRIx64 ".%s", last, tag);
		r.next_page_token = token;
	}
	rpc_reply(call, &r.base);
done:
	free_payloads(payloads, l.n);
	store_list_free(&l);
	arena_free(a);
}

/* ------------------------------------------------------------------------ */
/* WatchEvents                                                               */

typedef struct watch {
	rpc_call *call;
	events_filter f;
	char **kinds; /* copies (the request outlives the watch, but be plain) */
	uint64_t pos; /* events up to here have been examined */
	store_list page;
	size_t next; /* page.items[next] is the next to send */
	int caught_up_sent;
	/* on the call's queue thread only */
	int sending, closing;
	/* under idle_lock */
	int woken; /* a wake is in flight */
	struct watch *idle_next, **idle_prev;
} watch;

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static watch *idle;
static int listening;

static void pump(watch *w);
static void on_woken(rpc_call *call, int ok, void *arg);

static void watch_free(watch *w)
{
	store_list_free(&w->page);
	for (size_t i = 0; i < w->f.n_kinds; i++)
		free(w->kinds[i]);
	free(w->kinds);
	free(w);
}

/* Ends the call and frees w; only when no send or wake is in flight. */
static void watch_end(watch *w)
{
	rpc_fail(w->call, GRPC_STATUS_CANCELLED, NULL, "watch ended");
	watch_free(w);
}

/* The writer's commit hook: wake every idle watch that is behind. */
static void on_commit(void *arg, uint64_t last_seq)
{
	watch *w, *next;

	(void)arg;
	pthread_mutex_lock(&idle_lock);
	for (w = idle; w; w = next) {
		next = w->idle_next;
		if (w->pos >= last_seq)
			continue;
		*w->idle_prev = w->idle_next;
		if (w->idle_next)
			w->idle_next->idle_prev = w->idle_prev;
		w->idle_prev = NULL;
		w->woken = 1;
		if (rpc_stream_wake(w->call, on_woken, w) != 0)
			w->woken = 0; /* cannot happen on a live stream */
	}
	pthread_mutex_unlock(&idle_lock);
}

static void on_woken(rpc_call *call, int ok, void *arg)
{
	watch *w = arg;

	(void)call;
	(void)ok;
	pthread_mutex_lock(&idle_lock);
	w->woken = 0;
	pthread_mutex_unlock(&idle_lock);
	if (w->closing)
		watch_end(w);
	else
		pump(w);
}

/* Caught up: sleep unless something was committed since the last read. */
static void go_idle(watch *w)
{
	pthread_mutex_lock(&idle_lock);
	if (store_event_last_seq(billingd.store) > w->pos) {
		pthread_mutex_unlock(&idle_lock);
		pump(w);
		return;
	}
	w->idle_next = idle;
	if (idle)
		idle->idle_prev = &w->idle_next;
	idle = w;
	w->idle_prev = &idle;
	pthread_mutex_unlock(&idle_lock);
}

static void on_sent(rpc_call *call, int ok, void *arg)
{
	watch *w = arg;

	(void)call;
	w->sending = 0;
	if (w->closing) {
		watch_end(w);
		return;
	}
	if (!ok)
		return; /* the client is gone: the close callback follows */
	pump(w);
}

/* The client went away (or the server is stopping). */
static void on_closed(rpc_call *call, int ok, void *arg)
{
	watch *w = arg;
	int woken;

	(void)call;
	(void)ok;
	w->closing = 1;
	pthread_mutex_lock(&idle_lock);
	if (w->idle_prev) {
		*w->idle_prev = w->idle_next;
		if (w->idle_next)
			w->idle_next->idle_prev = w->idle_prev;
		w->idle_prev = NULL;
	}
	woken = w->woken;
	pthread_mutex_unlock(&idle_lock);
	if (!w->sending && !woken)
		watch_end(w);
	/* else the send or wake callback ends it */
}

/* Sends one message: the events of the page not sent yet (all of them:
 * one message per page, so a busy stream costs one send per commit rather
 * than one per event), or, with none, the caught-up marker. */
static int send_page(watch *w)
{
	Smartplus__Billing__V1__WatchEventsResponse r =
		SMARTPLUS__BILLING__V1__WATCH_EVENTS_RESPONSE__INIT;
	size_t n = w->page.n - w->next, k = 0;
	ProtobufCMessage **payloads = NULL;
	arena *a = NULL;
	int rc = 0;

	if (n) {
		a = arena_new();
		payloads = xcalloc(n, sizeof(*payloads));
		r.events = arena_alloc(a, n * sizeof(*r.events));
		for (; rc == 0 && k < n; k++)
			rc = events_to_api(a, w->page.items[w->next + k], &r.events[k],
					   &payloads[k]);
		r.n_events = n;
		w->next += n;
	} else {
		r.caught_up = 1;
	}
	if (rc == 0) {
		w->sending = 1;
		if (rpc_stream_send(w->call, &r.base, on_sent, w) != 0) {
			w->sending = 0;
			rc = STORE_IO;
		}
	}
	for (size_t i = 0; payloads && i < k; i++)
		if (payloads[i])
			protobuf_c_message_free_unpacked(payloads[i], NULL);
	free(payloads);
	arena_free(a);
	return rc;
}

/* The next step: send the next event, read the next page, send the
 * caught-up marker once, or go idle. */
static void pump(watch *w)
{
	int rc = 0;

	while (w->next >= w->page.n) {
		store_event_query q = {0};
		store_txn *txn = NULL;
		int more = 0;

		store_list_free(&w->page);
		w->next = 0;
		q.after = w->pos;
		q.subject = w->f.subject;
		q.keep = events_filter_keep;
		q.keep_arg = &w->f;
		q.limit = WATCH_PAGE;
		q.max_scan = SCAN_PER_PAGE;
		rc = store_read_begin(billingd.store, &txn);
		if (rc == 0)
			rc = store_event_scan(txn, &q, &w->page, &w->pos, &more);
		store_read_end(txn);
		if (rc != 0 || w->page.n)
			break;
		if (more)
			continue; /* nothing kept in a bounded read: read on */
		if (!w->caught_up_sent) {
			w->caught_up_sent = 1;
			rc = send_page(w);
		} else {
			go_idle(w);
		}
		goto check;
	}
	if (rc == 0)
		rc = send_page(w);
check:
	if (rc != 0) {
		log_error("WatchEvents: %s", store_strerror(rc));
		w->closing = 1;
		if (!w->sending) {
			rpc_fail(w->call, GRPC_STATUS_UNAVAILABLE, NULL,
				 "cannot read events now; resume after the last sequence received");
			watch_free(w);
		}
	}
}

void rpc_EventService_WatchEvents(struct rpc_call *call,
				  const Smartplus__Billing__V1__WatchEventsRequest *req)
{
	watch *w;

	if (req->after_sequence < 0) {
		BAD_ARG(call, "after_sequence: >= 0");
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->kinds = xcalloc(req->n_kinds ? req->n_kinds : 1, sizeof(char *));
	for (size_t i = 0; i < req->n_kinds; i++)
		w->kinds[i] = xstrdup(req->kinds[i]);
	if (events_filter_init(call, &w->f, w->kinds, req->n_kinds, req->subject,
			       req->account_id) != 0) {
		w->f.n_kinds = req->n_kinds;
		watch_free(w);
		return;
	}
	w->call = call;
	w->pos = (uint64_t)req->after_sequence;
	pthread_mutex_lock(&idle_lock);
	if (!listening) {
		listening = 1;
		events_listen(on_commit, NULL);
	}
	pthread_mutex_unlock(&idle_lock);
	rpc_stream_on_close(call, on_closed, w);
	pump(w);
}
