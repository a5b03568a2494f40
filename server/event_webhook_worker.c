/*
 * event_webhook_worker.c: the thread that delivers events to webhook endpoints.
 * See event_webhooks.h for the protocol.
 *
 * Why nothing is lost or sent for nothing: the fan-out writes the
 * deliveries of a run of events and the new outbox position in one
 * mutation, so after a crash it resumes exactly there (re-creating nothing:
 * a delivery that exists is left alone). The HTTP call runs with no
 * transaction held; its outcome is recorded by a second mutation, which
 * re-reads the delivery and leaves it alone if it changed meanwhile (a
 * redelivery). A crash between the call and that record repeats the call
 * later with the same event id, which is what at-least-once promises.
 *
 * The fan-out position lives in memory too: when no delivery is due to be
 * created (no endpoint, or none wants these events) it moves without a
 * write, and is persisted with the next deliveries or every
 * CURSOR_PERSIST_US; after a crash the older persisted position is re-read,
 * which at worst re-examines some events.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "billingd.h"
#include "xalloc.h"
#include "clock.h"
#include "convert.h"
#include "events.h"
#include "log.h"
#include "payments/http.h"
#include "pbjson.h"
#include "store_webhook.h"
#include "event_webhooks.h"

#define FANOUT_EVENTS 200
#define FANOUT_MAX 2000 /* deliveries created by one mutation, at most */
#define DUE_BATCH 32
#define POLL_MS 1000
#define CURSOR_PERSIST_US (INT64_C(10) * 1000000)
#define MAX_BACKOFF_US (INT64_C(12) * 3600 * 1000000)

static struct {
	int64_t retry_base_us;
	long timeout_ms;
} cfg = {INT64_C(60) * 1000000, 10000};

void evhooks_configure(const evhooks_options *o)
{
	if (o->retry_base_us > 0)
		cfg.retry_base_us = o->retry_base_us;
	if (o->timeout_ms > 0)
		cfg.timeout_ms = o->timeout_ms;
}

int evhooks_sign(const char *secret, int64_t t, const char *body, size_t body_len, char *out,
		 size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char prefix[32];
	size_t plen;
	char *msg;
	int n;

	/* the signed payload: "<t>.<body>" */
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);
	msg = xmalloc(plen + body_len + 1);
	memcpy(msg, prefix, plen);
	memcpy(msg + plen, body, body_len);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
		  plen + body_len, md, &mdlen)) {
		free(msg);
		return -1;
	}
	free(msg);
	n = snprintf(out, cap, "t=%" PRId64 ",v1=", t);
	if (n < 0 || (size_t)n + 2 * mdlen + 1 > cap)
		return -1;
	for (unsigned i = 0; i < mdlen; i++) {
		out[n + 2 * i] = hex[md[i] >> 4];
		out[n + 2 * i + 1] = hex[md[i] & 0xf];
	}
	out[n + 2 * mdlen] = '\0';
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Fan-out                                                                   */

typedef struct planned {
	char endpoint_id[65];
	char account_id[65];
	char event_id[STORE_EVENT_ID_LEN + 1];
	uint64_t seq;
} planned;

typedef struct fanout {
	planned *p;
	size_t n;
	uint64_t to; /* the position after these */
	int64_t now;
	int nobody;     /* no endpoint at all: the position moves without a write */
	size_t created; /* out */
} fanout;

static uint64_t cursor_mem;     /* worker thread only */
static int64_t cursor_saved_at; /* when cursor_mem was last persisted */

static int wants(const store_endpoint *e, const store_event *ev)
{
	events_filter f;

	if (ev->seq <= e->start_seq || strcmp(ev->kind, EV_WEBHOOK_TEST) == 0)
		return 0; /* test events go to their one endpoint */
	memset(&f, 0, sizeof(f));
	snprintf(f.root, sizeof(f.root), "%s", e->account_id);
	f.kinds = e->kinds;
	f.n_kinds = e->n_kinds;
	return events_filter_keep(ev, &f);
}

static int apply_fanout(store_txn *w, void *arg)
{
	fanout *f = arg;
	uint64_t saved = 0;
	int rc = 0;

	f->created = 0;
	for (size_t i = 0; rc == 0 && i < f->n; i++) {
		store_delivery d = STORE_DELIVERY_INIT, *old = NULL;
		store_endpoint *e = NULL;

		rc = store_delivery_get(w, f->p[i].endpoint_id, f->p[i].seq, &old);
		store_record_free(old);
		if (rc == 0)
			continue; /* made before a crash: leave it */
		if (rc != STORE_NOTFOUND)
			break;
		rc = store_endpoint_get(w, f->p[i].endpoint_id, &e);
		store_record_free(e);
		if (rc == STORE_NOTFOUND) {
			rc = 0; /* deleted since */
			continue;
		}
		if (rc != 0)
			break;
		d.endpoint_id = f->p[i].endpoint_id;
		d.event_id = f->p[i].event_id;
		d.seq = f->p[i].seq;
		d.status = STORE_DELIVERY_PENDING;
		d.next_attempt_time = f->now;
		d.create_time = f->now;
		d.retry_from = f->now;
		d.account_id = f->p[i].account_id;
		rc = store_delivery_put(w, &d);
		f->created++;
	}
	if (rc == 0)
		rc = store_meta_get(w, STORE_WEBHOOK_CURSOR, &saved);
	if (rc == 0 && f->to > saved)
		rc = store_meta_set(w, STORE_WEBHOOK_CURSOR, f->to);
	return rc;
}

/* Plans the deliveries of the events after cursor_mem (one bounded run)
 * in a read transaction. Returns 1 when more events may follow, 0 when
 * caught up, or a STORE_* code. */
static int plan(fanout *f)
{
	store_event_query q = {0};
	store_list eps = {0}, evs = {0};
	store_txn *txn = NULL;
	uint64_t saved = 0, last;
	/* before the snapshot: an endpoint committed after it starts later */
	uint64_t head = store_event_last_seq(billingd.store);
	int more = 0, rc;

	f->n = 0;
	f->nobody = 0;
	rc = store_read_begin(billingd.store, &txn);
	if (rc == 0)
		rc = store_meta_get(txn, STORE_WEBHOOK_CURSOR, &saved);
	if (rc != 0)
		goto done;
	if (saved > cursor_mem)
		cursor_mem = saved;
	f->to = cursor_mem;
	rc = store_endpoint_list_all(txn, STORE_PAGE_MAX, NULL, &eps);
	if (rc != 0)
		goto done;
	if (eps.n == 0) { /* nobody to tell: just move on */
		if (head > f->to)
			f->to = head;
		f->nobody = 1;
		goto done;
	}
	q.after = cursor_mem;
	q.limit = FANOUT_EVENTS;
	q.max_scan = FANOUT_EVENTS;
	rc = store_event_scan(txn, &q, &evs, &last, &more);
	if (rc != 0)
		goto done;
	for (size_t i = 0; i < evs.n && f->n < FANOUT_MAX; i++) {
		const store_event *ev = evs.items[i];
		for (size_t k = 0; k < eps.n && f->n < FANOUT_MAX; k++) {
			const store_endpoint *e = eps.items[k];
			planned *p = &f->p[f->n];
			if (!wants(e, ev))
				continue;
			snprintf(p->endpoint_id, sizeof(p->endpoint_id), "%s", e->endpoint_id);
			snprintf(p->account_id, sizeof(p->account_id), "%s", e->account_id);
			snprintf(p->event_id, sizeof(p->event_id), "%s", ev->event_id);
			p->seq = ev->seq;
			f->n++;
		}
		f->to = ev->seq;
		if (f->n == FANOUT_MAX)
			more = 1; /* the rest of this run next time */
	}
done:
	store_read_end(txn);
	store_list_free(&eps);
	store_list_free(&evs);
	return rc != 0 ? rc : more;
}

static void fan_out(void)
{
	fanout f = {0};
	int more;

	f.p = xcalloc(FANOUT_MAX, sizeof(*f.p));
	do {
		int64_t now = clock_now_us();

		if (store_event_last_seq(billingd.store) <= cursor_mem)
			break;
		more = plan(&f);
		if (more < 0)
			break;
		f.now = now;
		if (f.n || (!f.nobody && now - cursor_saved_at >= CURSOR_PERSIST_US)) {
			int rc = store_write_sync(billingd.store, apply_fanout, &f);
			if (rc != 0) {
				log_error("webhooks: fan-out: %s", store_strerror(rc));
				break;
			}
			cursor_saved_at = now;
		}
		cursor_mem = f.to;
	} while (more);
	free(f.p);
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                  */

typedef struct outcome {
	char endpoint_id[65];
	uint64_t seq;
	int64_t tried_at; /* the next_attempt_time this attempt was for */
	int64_t now;
	int dead_reason; /* 1: endpoint gone, 2: event gone (no attempt) */
	long http_status;
	char error[160];
} outcome;

static int apply_outcome(store_txn *w, void *arg)
{
	outcome *o = arg;
	store_delivery *d = NULL;
	int rc = store_delivery_get(w, o->endpoint_id, o->seq, &d);

	if (rc == STORE_NOTFOUND)
		return 0; /* pruned meanwhile */
	if (rc != 0)
		return rc;
	if (d->status != STORE_DELIVERY_PENDING || d->next_attempt_time != o->tried_at)
		goto done; /* redelivered or settled meanwhile: theirs wins */
	if (o->dead_reason) {
		d->status = STORE_DELIVERY_DEAD;
		store_str_set(&d->last_error, o->dead_reason == 1 ? "the endpoint was deleted"
								  : "the event is no longer kept");
		rc = store_delivery_put(w, d);
		goto done;
	}
	d->attempts++;
	d->last_attempt_time = o->now;
	if (!d->first_attempt_time)
		d->first_attempt_time = o->now;
	d->last_http_status = (int32_t)o->http_status;
	if (o->http_status >= 200 && o->http_status < 300) {
		d->status = STORE_DELIVERY_DELIVERED;
		d->delivered_time = o->now;
		store_str_set(&d->last_error, "");
	} else {
		int shift = d->attempts - 1 < 30 ? d->attempts - 1 : 30;
		int64_t delay = cfg.retry_base_us,
			deadline = d->retry_from + EVHOOKS_RETRY_WINDOW_US;

		while (shift-- > 0 && delay < MAX_BACKOFF_US)
			delay *= 2;
		if (delay > MAX_BACKOFF_US)
			delay = MAX_BACKOFF_US;
		if (o->now >= deadline) {
			d->status = STORE_DELIVERY_DEAD;
		} else {
			d->next_attempt_time = o->now + delay;
			if (d->next_attempt_time > deadline)
				d->next_attempt_time = deadline; /* one last try at the end */
		}
		store_str_set(&d->last_error, o->error);
	}
	rc = store_delivery_put(w, d);
done:
	store_record_free(d);
	return rc;
}

/* The request body and the endpoint's url and secret, read in one short
 * transaction. *dead: 1 endpoint gone, 2 event gone. */
static int prepare(const store_delivery *d, char **body, char **url, char **secret, int *dead)
{
	store_endpoint *e = NULL;
	store_event *ev = NULL;
	store_txn *txn = NULL;
	int rc;

	*body = *url = *secret = NULL;
	*dead = 0;
	rc = store_read_begin(billingd.store, &txn);
	if (rc == 0)
		rc = store_endpoint_get(txn, d->endpoint_id, &e);
	if (rc == STORE_NOTFOUND) {
		*dead = 1;
		rc = 0;
		goto done;
	}
	if (rc == 0)
		rc = store_event_get(txn, d->seq, &ev);
	if (rc == STORE_NOTFOUND) {
		*dead = 2;
		rc = 0;
		goto done;
	}
	if (rc == 0) {
		Smartplus__Billing__V1__Event *api = NULL;
		ProtobufCMessage *payload = NULL;
		arena *a = arena_new();

		rc = a ? events_to_api(a, ev, &api, &payload) : STORE_IO;
		if (rc == 0 && !(*body = pbjson_dumps(&api->base)))
			rc = STORE_IO;
		if (payload)
			protobuf_c_message_free_unpacked(payload, NULL);
		arena_free(a);
	}
	if (rc == 0) {
		*url = xstrdup(e->url);
		*secret = xstrdup(e->secret);
	}
done:
	store_read_end(txn);
	store_record_free(e);
	store_record_free(ev);
	return rc;
}

static void deliver_one(const store_delivery *d)
{
	outcome o;
	char *body = NULL, *url = NULL, *secret = NULL;
	char sig[160], sig_h[200], id_h[80];
	const char *headers[5];
	http_timeouts t = {3000, cfg.timeout_ms};
	http_response resp;
	int rc;

	memset(&o, 0, sizeof(o));
	snprintf(o.endpoint_id, sizeof(o.endpoint_id), "%s", d->endpoint_id);
	o.seq = d->seq;
	o.tried_at = d->next_attempt_time;
	rc = prepare(d, &body, &url, &secret, &o.dead_reason);
	if (rc != 0) {
		log_error("webhooks: reading delivery %s/%" PRIu64 ": %s", d->endpoint_id, d->seq,
			  store_strerror(rc));
		goto done;
	}
	if (!o.dead_reason) {
		if (evhooks_sign(secret, (int64_t)time(NULL), body, strlen(body), sig,
				 sizeof(sig)) != 0)
			goto done;
		snprintf(sig_h, sizeof(sig_h), "Smartplus-Signature: %s", sig);
		snprintf(id_h, sizeof(id_h), "Smartplus-Event-Id: %s", d->event_id);
		headers[0] = "Content-Type: application/json";
		headers[1] = sig_h;
		headers[2] = id_h;
		headers[3] = NULL;
		/* no transaction is held here */
		if (http_request("POST", url, headers, body, &t, &resp) == 0) {
			o.http_status = resp.status;
			if (resp.status < 200 || resp.status >= 300)
				snprintf(o.error, sizeof(o.error), "HTTP %ld", resp.status);
			http_response_free(&resp);
		} else {
			snprintf(o.error, sizeof(o.error), "%s", resp.error);
		}
	}
	o.now = clock_now_us();
	rc = store_write_sync(billingd.store, apply_outcome, &o);
	if (rc != 0)
		log_error("webhooks: recording delivery %s/%" PRIu64 ": %s", d->endpoint_id, d->seq,
			  store_strerror(rc));
done:
	free(body);
	free(url);
	free(secret);
}

/* Delivers what is due; returns 1 when a full batch was due (look again). */
static int deliver_due(void)
{
	store_list l = {0};
	store_txn *txn = NULL;
	int rc = store_read_begin(billingd.store, &txn);

	if (rc == 0)
		rc = store_delivery_due(txn, clock_now_us(), DUE_BATCH, &l);
	store_read_end(txn);
	if (rc != 0) {
		log_error("webhooks: due deliveries: %s", store_strerror(rc));
		return 0;
	}
	for (size_t i = 0; i < l.n; i++)
		deliver_one(l.items[i]);
	rc = l.n == DUE_BATCH;
	store_list_free(&l);
	return rc;
}

/* How long to sleep: until the next due delivery, at most POLL_MS (the
 * test clock may jump meanwhile; a kick ends the sleep too). */
static long sleep_ms(void)
{
	store_txn *txn = NULL;
	int64_t next = 0, now = clock_now_us();
	long ms = POLL_MS;

	if (store_read_begin(billingd.store, &txn) == 0 &&
	    store_delivery_next_due(txn, &next) == 0 && next) {
		int64_t d = (next - now) / 1000;
		ms = d < 0 ? 0 : d < POLL_MS ? (long)d : POLL_MS;
	}
	store_read_end(txn);
	return ms;
}

/* ------------------------------------------------------------------------ */
/* The thread                                                                */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_t thr;
static int running, stopping, kicked, listening;

void evhooks_kick(void)
{
	pthread_mutex_lock(&lock);
	kicked = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

static void on_commit(void *arg, uint64_t last_seq)
{
	(void)arg;
	(void)last_seq;
	evhooks_kick();
}

static void *worker_main(void *arg)
{
	(void)arg;
	cursor_saved_at = clock_now_us();
	pthread_mutex_lock(&lock);
	while (!stopping) {
		long ms;
		struct timespec ts;

		kicked = 0;
		pthread_mutex_unlock(&lock);
		fan_out();
		while (deliver_due() && !__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
			;
		ms = sleep_ms();
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&lock);
		while (!stopping && !kicked && ms > 0 &&
		       pthread_cond_timedwait(&cond, &lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&lock);
	http_thread_cleanup();
	return NULL;
}

int evhooks_start(void)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (!listening) {
		listening = 1;
		events_listen(on_commit, NULL);
	}
	stopping = 0;
	if (!running) {
		if (pthread_create(&thr, NULL, worker_main, NULL) == 0)
			running = 1;
		else
			rc = -1;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void evhooks_stop(void)
{
	pthread_mutex_lock(&lock);
	if (!running) {
		pthread_mutex_unlock(&lock);
		return;
	}
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(thr, NULL);
	running = 0;
}
