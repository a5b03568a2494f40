/*
 * health.c: grpc.health.v1.Health (health.h), on the main server and on the
 * optional health-only port. No credentials needed.
 *
 * Check answers the current status for the empty name and every service
 * billingd serves, NOT_FOUND for others. Watch sends the status at once and
 * again whenever it changes, until the client leaves or the server stops.
 *
 * Watchers are in one list behind `watchers_lock`; each has its own lock
 * for its send state. Lock order: watchers_lock, then a watcher's lock. A
 * watcher has at most one message in flight: a change during a send marks
 * it dirty and the completion sends the newest status. It is freed when its
 * last batch completes (reference count), unlinked under watchers_lock so
 * health_set() never sees a freed watcher.
 */
#include "health.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "rpc.h"
#include "stream.h"
#include "xalloc.h"

#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

static unsigned causes; /* atomic */

unsigned health_causes(void)
{
	return __atomic_load_n(&causes, __ATOMIC_ACQUIRE);
}

/* The status reported for a service name ("" is the server as a whole). */
static int status_for(const char *service)
{
	if (service[0] && !reflection_knows_service(service))
		return SERVICE_UNKNOWN;
	return health_causes() ? NOT_SERVING : SERVING;
}

/* The requested service name of a HealthCheckRequest, into buf; -1 when
 * the payload is not one. */
static int requested_service(grpc_byte_buffer *payload, char *buf, size_t cap)
{
	grpc_slice s = payload ? stream_read_all(payload) : grpc_empty_slice();
	Grpc__Health__V1__HealthCheckRequest *req = grpc__health__v1__health_check_request__unpack(
		NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!req)
		return -1;
	snprintf(buf, cap, "%s", req->service);
	grpc__health__v1__health_check_request__free_unpacked(req, NULL);
	return 0;
}

static void check_start(grpc_call *call, grpc_completion_queue *cq, grpc_byte_buffer *payload)
{
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	char service[256];
	int rc = requested_service(payload, service, sizeof(service));
	if (payload)
		grpc_byte_buffer_destroy(payload);
	if (rc != 0) {
		stream_unary_finish(call, "Health/Check", NULL, GRPC_STATUS_INVALID_ARGUMENT,
				    "not a HealthCheckRequest");
		return;
	}
	resp.status = status_for(service);
	if (resp.status == SERVICE_UNKNOWN)
		stream_unary_finish(call, "Health/Check", NULL, GRPC_STATUS_NOT_FOUND,
				    "unknown service");
	else
		stream_unary_finish(call, "Health/Check", stream_pack(&resp.base), GRPC_STATUS_OK,
				    NULL);
}

/* ------------------------------------------------------------------------ */
/* Watch                                                                     */

typedef struct watcher {
	rpc_tag sent, closed, finished;
	struct watcher *next;
	grpc_call *call;
	char service[256];
	int on_main;   /* finished by health_drain() */
	int refs;      /* batches in flight */
	int sending;   /* a message is in flight */
	int dirty;     /* the status changed during that send */
	int last;      /* status last sent; -1 none yet */
	int headers;   /* initial metadata sent */
	int finish;    /* end the stream once nothing is in flight */
	int finishing; /* the status batch is in flight */
	int dead;      /* the client left or a batch failed: send nothing more */
	int cancelled;
	grpc_byte_buffer *msg;
	grpc_slice details;
	pthread_mutex_t lock;
} watcher;

static pthread_mutex_t watchers_lock = PTHREAD_MUTEX_INITIALIZER;
static watcher *watchers;

static void release(watcher *w)
{
	int last;
	pthread_mutex_lock(&watchers_lock);
	pthread_mutex_lock(&w->lock);
	last = --w->refs == 0;
	if (last)
		for (watcher **pp = &watchers; *pp; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_unlock(&watchers_lock);
	if (!last)
		return;
	if (w->msg)
		grpc_byte_buffer_destroy(w->msg);
	grpc_slice_unref(w->details);
	grpc_call_unref(w->call);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* Under w->lock: sends the current status if it differs from the last one
 * sent, or ends the stream when asked to and idle. */
static void push_locked(watcher *w)
{
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	grpc_op ops[2];
	size_t n = 0;
	int st;
	if (w->dead || w->finishing)
		return;
	if (w->sending) {
		w->dirty = 1;
		return;
	}
	st = status_for(w->service);
	if (st != w->last) {
		resp.status = st;
		w->msg = stream_pack(&resp.base);
		memset(ops, 0, sizeof(ops));
		if (!w->headers) {
			ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
			w->headers = 1;
		}
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = w->msg;
		w->refs++;
		w->sending = 1;
		w->last = st;
		if (grpc_call_start_batch(w->call, ops, n, &w->sent, NULL) != GRPC_CALL_OK) {
			w->refs--;
			w->sending = 0;
			w->dead = 1;
		}
		return;
	}
	if (w->finish) {
		memset(ops, 0, sizeof(ops));
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
		ops[n++].data.send_status_from_server.status_details = &w->details;
		w->refs++;
		w->finishing = 1;
		if (grpc_call_start_batch(w->call, ops, n, &w->finished, NULL) != GRPC_CALL_OK) {
			w->refs--;
			w->dead = 1;
		}
	}
}

static void on_sent(rpc_tag *t, int ok)
{
	watcher *w = (watcher *)((char *)t - offsetof(watcher, sent));
	pthread_mutex_lock(&w->lock);
	w->sending = 0;
	grpc_byte_buffer_destroy(w->msg);
	w->msg = NULL;
	if (!ok)
		w->dead = 1;
	w->dirty = 0;
	push_locked(w); /* the newest status, or the end */
	pthread_mutex_unlock(&w->lock);
	release(w);
}

static void on_closed(rpc_tag *t, int ok)
{
	watcher *w = (watcher *)((char *)t - offsetof(watcher, closed));
	pthread_mutex_lock(&w->lock);
	w->dead = 1;
	pthread_mutex_unlock(&w->lock);
	log_call("Health/Watch", GRPC_STATUS_OK, 0, "stream closed");
	release(w);
}

static void on_finished(rpc_tag *t, int ok)
{
	release((watcher *)((char *)t - offsetof(watcher, finished)));
}

static void watch_begin(grpc_call *call, grpc_byte_buffer *payload, int on_main)
{
	watcher *w = xcalloc(1, sizeof(*w));
	grpc_op op;
	int rc = requested_service(payload, w->service, sizeof(w->service));
	if (payload)
		grpc_byte_buffer_destroy(payload);
	w->call = call;
	w->on_main = on_main;
	w->last = -1;
	w->sent.fn = on_sent;
	w->closed.fn = on_closed;
	w->finished.fn = on_finished;
	w->details = grpc_empty_slice();
	w->refs = 1; /* the RECV_CLOSE batch */
	pthread_mutex_init(&w->lock, NULL);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &w->cancelled;
	if (grpc_call_start_batch(call, &op, 1, &w->closed, NULL) != GRPC_CALL_OK) {
		grpc_call_unref(call);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return;
	}
	pthread_mutex_lock(&watchers_lock);
	w->next = watchers;
	watchers = w;
	pthread_mutex_lock(&w->lock);
	if (rc != 0)
		w->dead = 1; /* not a request: the close ends it */
	if (on_main && (health_causes() & HEALTH_DRAINING))
		w->finish = 1; /* started during the drain: tell and end */
	push_locked(w);
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_unlock(&watchers_lock);
}

static void watch_start(grpc_call *call, grpc_completion_queue *cq, grpc_byte_buffer *payload)
{
	watch_begin(call, payload, 1);
}

/* Every watcher gets the new status (and, with finish_main, the main
 * server's ones end after it). */
static void push_all(int finish_main)
{
	pthread_mutex_lock(&watchers_lock);
	for (watcher *w = watchers; w; w = w->next) {
		pthread_mutex_lock(&w->lock);
		if (finish_main && w->on_main)
			w->finish = 1;
		push_locked(w);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_unlock(&watchers_lock);
}

void health_set(health_cause cause, int on)
{
	unsigned before = on ? __atomic_fetch_or(&causes, (unsigned)cause, __ATOMIC_ACQ_REL)
			     : __atomic_fetch_and(&causes, ~(unsigned)cause, __ATOMIC_ACQ_REL);
	unsigned after = on ? before | (unsigned)cause : before & ~(unsigned)cause;
	if (!before != !after) {
		/* NOT_SERVING names its causes; SERVING the ones that went away */
		unsigned shown = after ? after : before;
		char why[64];
		snprintf(why, sizeof(why), "%s%s%s", shown & HEALTH_DRAINING ? " draining" : "",
			 shown & HEALTH_STORE_FULL ? " store-full" : "",
			 shown & HEALTH_WRITER_STALLED ? " writer-stalled" : "");
		log_info("health: %s (%s%s)", after ? "NOT_SERVING" : "SERVING",
			 after ? "" : "no longer", after ? why + 1 : why);
		push_all(0);
	}
}

void health_drain(void)
{
	health_set(HEALTH_DRAINING, 1);
	push_all(1);
}

static rpc_raw_method check = {"/grpc.health.v1.Health/Check", 1, check_start, NULL};
static rpc_raw_method watch_m = {"/grpc.health.v1.Health/Watch", 1, watch_start, NULL};

int health_register(void)
{
	rpc_register_raw(&check);
	rpc_register_raw(&watch_m);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The health-only port                                                      */

typedef struct slot {
	rpc_tag tag;
	int kind; /* 0 Check, 1 Watch, 2 anything else */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details;
	grpc_byte_buffer *payload;
} slot;

static struct {
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t thread;
	void *check, *watch;
	rpc_tag shutdown;
	int running, shut_down;
	pthread_mutex_t lock;
	pthread_cond_t cond;
} hs = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void request(int kind);

static void on_call(rpc_tag *t, int ok)
{
	slot *s = (slot *)t;
	if (ok) {
		request(s->kind); /* the next one */
		if (s->kind == 0)
			check_start(s->call, hs.cq, s->payload);
		else if (s->kind == 1)
			watch_begin(s->call, s->payload, 0);
		else
			stream_unary_finish(s->call, "(health port)", NULL,
					    GRPC_STATUS_UNIMPLEMENTED,
					    "only grpc.health.v1.Health is served on this port");
	} else if (s->payload) {
		grpc_byte_buffer_destroy(s->payload);
	}
	grpc_metadata_array_destroy(&s->md);
	if (s->kind == 2)
		grpc_call_details_destroy(&s->details);
	free(s);
}

static void request(int kind)
{
	slot *s = xcalloc(1, sizeof(*s));
	grpc_call_error err;
	s->tag.fn = on_call;
	s->kind = kind;
	grpc_metadata_array_init(&s->md);
	if (kind < 2) {
		err = grpc_server_request_registered_call(hs.server, kind ? hs.watch : hs.check,
							  &s->call, &s->deadline, &s->md,
							  &s->payload, hs.cq, hs.cq, &s->tag);
	} else {
		grpc_call_details_init(&s->details);
		err = grpc_server_request_call(hs.server, &s->call, &s->details, &s->md, hs.cq,
					       hs.cq, &s->tag);
	}
	if (err != GRPC_CALL_OK) {
		grpc_metadata_array_destroy(&s->md);
		if (kind == 2)
			grpc_call_details_destroy(&s->details);
		free(s);
	}
}

static void *health_thread(void *arg)
{
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			hs.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		((rpc_tag *)ev.tag)->fn((rpc_tag *)ev.tag, ev.success);
	}
	return NULL;
}

static void on_health_shutdown(rpc_tag *t, int ok)
{
	pthread_mutex_lock(&hs.lock);
	hs.shut_down = 1;
	pthread_cond_broadcast(&hs.cond);
	pthread_mutex_unlock(&hs.lock);
}

int health_listen_start(const char *addr)
{
	grpc_server_credentials *creds;
	int port;
	grpc_init();
	hs.server = grpc_server_create(NULL, NULL);
	hs.cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(hs.server, hs.cq, NULL);
	hs.check = grpc_server_register_method(hs.server, check.path, NULL,
					       GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	hs.watch = grpc_server_register_method(hs.server, watch_m.path, NULL,
					       GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(hs.server, addr, creds);
	grpc_server_credentials_release(creds);
	if (port <= 0) {
		log_error("cannot listen on %s (health port)", addr);
		grpc_server_destroy(hs.server);
		grpc_completion_queue_shutdown(hs.cq);
		grpc_completion_queue_destroy(hs.cq);
		hs.server = NULL;
		grpc_shutdown();
		return -1;
	}
	grpc_server_start(hs.server);
	for (int i = 0; i < 4; i++) {
		request(0);
		request(1);
		request(2);
	}
	pthread_create(&hs.thread, NULL, health_thread, NULL);
	hs.running = 1;
	return port;
}

void health_listen_stop(void)
{
	if (!hs.running)
		return;
	hs.shutdown.fn = on_health_shutdown;
	grpc_server_shutdown_and_notify(hs.server, hs.cq, &hs.shutdown);
	grpc_server_cancel_all_calls(hs.server);
	/* every call has ended once the shutdown tag came: only then may the
	 * queue shut down (no batch can be started on it after that) */
	pthread_mutex_lock(&hs.lock);
	while (!hs.shut_down)
		pthread_cond_wait(&hs.cond, &hs.lock);
	pthread_mutex_unlock(&hs.lock);
	pthread_mutex_lock(&watchers_lock);
	for (watcher *w = watchers; w; w = w->next)
		if (!w->on_main) {
			pthread_mutex_lock(&w->lock);
			w->dead = 1;
			pthread_mutex_unlock(&w->lock);
		}
	pthread_mutex_unlock(&watchers_lock);
	grpc_completion_queue_shutdown(hs.cq);
	pthread_join(hs.thread, NULL);
	grpc_server_destroy(hs.server);
	grpc_completion_queue_destroy(hs.cq);
	hs.server = NULL;
	hs.running = 0;
	grpc_shutdown();
}
