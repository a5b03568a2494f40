/*
 * runtime.c: billingd's gRPC runtime on grpc C core. See rpc.h.
 *
 * Life of a unary call:
 *   request_slot()   asks grpc for the next call of one method on one queue;
 *   on_request()     the call arrived: re-arm a slot, then dispatch();
 *   dispatch()       limits, authentication, decoding, access, handler;
 *   finish()         one batch sends metadata, message, status (+ ErrorInfo)
 *                    and waits for the close; on_sent() logs and frees.
 *
 * A stream (a server_streaming row) is dispatched the same way; just before
 * its handler runs, stream_begin() starts the batch that waits for the
 * close, so a client that goes away is noticed while the stream is idle.
 * Its sends, wakes, the close and the final status each hold a reference;
 * the call is freed when the last one is done (stream_unref()). Streaming
 * rows are served by a completion queue and thread of their own (the last
 * worker), so a stream's wake-up is not queued behind unary calls.
 */
#include "rpc.h"

#include <inttypes.h>
#include <stddef.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "errors.h"
#include "idem.h"
#include "log.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "validate.h"
#include "xalloc.h"

#define SLOTS_PER_METHOD 4 /* outstanding requests per method per queue */
#define MAX_RAW 8

enum call_kind { CALL_TABLE, CALL_RAW, CALL_UNKNOWN };

typedef struct worker {
	pthread_t thread;
	grpc_completion_queue *cq;
} worker;

struct rpc_call {
	rpc_tag tag;
	enum call_kind kind;
	const rpc_method *method;
	rpc_raw_method *raw;
	worker *w;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details; /* CALL_UNKNOWN only */
	grpc_byte_buffer *payload;
	ProtobufCMessage *request;
	/* reply */
	grpc_byte_buffer *reply;
	grpc_status_code status;
	grpc_slice status_msg;
	grpc_metadata trailer;
	int has_trailer;
	int cancelled;
	int finished;
	struct timespec start;
	rpc_caller caller;
	idem_state idem;
	struct local_wait *local; /* rpc_local_call(): no grpc_call */
	/* for the error details and the log line */
	char order_id[64]; /* the order the call is about, once known */
	char reason[64];   /* ErrorInfo reason sent */
	char message[LOG_MESSAGE_MAX + 8];
	int n_meta;
	char meta_key[ERRORS_MAX_META][32];
	char meta_value[ERRORS_MAX_META][96];
	/* streams (server_streaming rows), see rpc.h */
	int streaming; /* the close batch is started */
	int md_sent;   /* initial metadata went out with the first message */
	int refs;      /* handler/final status + close + sends + wakes; atomic */
	rpc_tag close_tag, send_tag, wake_tag;
	rpc_stream_cb on_close, on_send, on_wake;
	void *close_arg, *send_arg, *wake_arg;
	grpc_byte_buffer *send_bb;
	struct rpc_call *snext, **sprev; /* rt.streams, while open */
};

/* The outcome of a local call, handed from finish() to its waiter. */
struct local_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	grpc_status_code status;
	char msg[512];
	char reason[64]; /* ErrorInfo reason, "" if none */
	uint8_t *body;
	size_t len;
};

static struct {
	grpc_server *server;
	worker *workers;
	int nworkers;
	size_t max_receive;
	long grace_ms; /* rpc_server_stop(): how long calls get */
	rpc_auth_fn auth;
	rpc_raw_method *raw[MAX_RAW];
	int nraw;
	rpc_tag shutdown_tag;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int shut_down;
	long live;                /* dispatched table calls not yet freed (under lock) */
	struct rpc_call *streams; /* open streams, cancelled at shutdown (under lock) */
} rt = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* A dispatched call may be finished from another thread (the writer) at any
 * time, so the queues are shut down only when none is left (rpc_server_stop). */
static void live_add(long d)
{
	pthread_mutex_lock(&rt.lock);
	rt.live += d;
	if (rt.live == 0)
		pthread_cond_broadcast(&rt.cond);
	pthread_mutex_unlock(&rt.lock);
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */

static const rpc_method **sorted;

static int cmp_path(const void *a, const void *b)
{
	return strcmp((*(const rpc_method *const *)a)->path, (*(const rpc_method *const *)b)->path);
}

static void bind_all(void)
{
	sorted = xcalloc(rpc_method_count, sizeof(*sorted));
	for (size_t i = 0; i < rpc_method_count; i++) {
		rpc_method *m = &rpc_methods[i];
		const ProtobufCMethodDescriptor *d = &m->service->methods[m->method_index];
		m->input = d->input;
		m->output = d->output;
		m->access = strcmp(m->service->short_name, "AdminService") == 0
				    ? RPC_ACCESS_VENDOR
				    : RPC_ACCESS_ACCOUNT;
		sorted[i] = m;
	}
	qsort(sorted, rpc_method_count, sizeof(*sorted), cmp_path);
}

void rpc_table_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, bind_all);
}

const rpc_method *rpc_table_find(const char *path)
{
	size_t lo = 0, hi = rpc_method_count;
	rpc_table_init();
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(path, sorted[mid]->path);
		if (c == 0)
			return sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void rpc_register_raw(rpc_raw_method *m)
{
	if (rt.nraw < MAX_RAW)
		rt.raw[rt.nraw++] = m;
}

void rpc_set_authenticator(rpc_auth_fn fn)
{
	rt.auth = fn;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */

const rpc_method *rpc_call_method(const rpc_call *c)
{
	return c->method;
}

idem_state *rpc_call_idem(rpc_call *c)
{
	return &c->idem;
}

const rpc_caller *rpc_call_caller(const rpc_call *c)
{
	return &c->caller;
}

int64_t rpc_call_deadline_us(const rpc_call *c)
{
	gpr_timespec d = gpr_convert_clock_type(c->deadline, GPR_CLOCK_REALTIME);
	if (d.tv_sec >= INT64_MAX / 1000000 - 1)
		return INT64_MAX;
	return d.tv_sec * 1000000 + d.tv_nsec / 1000;
}

static int md_find(const grpc_metadata_array *md, const char *key, char *buf, size_t cap)
{
	for (size_t i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, key) != 0)
			continue;
		size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
		if (n + 1 > cap)
			return -1;
		memcpy(buf, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
		buf[n] = 0;
		return (int)n;
	}
	return -1;
}

int rpc_call_metadata(const rpc_call *c, const char *key, char *buf, size_t cap)
{
	return md_find(&c->md, key, buf, cap);
}

/* ------------------------------------------------------------------------ */
/* Finishing calls                                                           */

static void on_sent(rpc_tag *t, int ok);
static void stream_unref(rpc_call *c);
static void request_slot(worker *w, const rpc_method *m, rpc_raw_method *raw);

static grpc_byte_buffer *bytes_to_bb(const uint8_t *p, size_t n)
{
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)p, n);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static grpc_byte_buffer *pack_bb(const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;
	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static rpc_observer observer;

void rpc_set_observer(const rpc_observer *o)
{
	if (o)
		observer = *o;
}

/* Remembers the order a call is about: a request or response message's
 * `order_id`, or its `order.order_id`. */
static void note_order(rpc_call *c, const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f;
	const char *id = NULL;
	if (!m || c->order_id[0])
		return;
	f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "order_id");
	if (f && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
		id = *(char *const *)((const char *)m + f->offset);
	} else {
		f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "order");
		if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    f->label != PROTOBUF_C_LABEL_REPEATED) {
			const ProtobufCMessage *o = *(ProtobufCMessage *const *)((const char *)m +
										 f->offset);
			note_order(c, o);
			return;
		}
	}
	if (id && *id)
		snprintf(c->order_id, sizeof(c->order_id), "%s", id);
}

void rpc_error_meta(rpc_call *c, const char *key, const char *fmt, ...)
{
	va_list ap;
	int i = 0;
	/* the same key again (a write's apply may run twice) replaces it */
	while (i < c->n_meta && strcmp(c->meta_key[i], key) != 0)
		i++;
	if (i == c->n_meta && c->n_meta >= ERRORS_MAX_META - 2) /* room for field and order_id */
		return;
	snprintf(c->meta_key[i], sizeof(c->meta_key[0]), "%s", key);
	va_start(ap, fmt);
	vsnprintf(c->meta_value[i], sizeof(c->meta_value[0]), fmt, ap);
	va_end(ap);
	if (i == c->n_meta)
		c->n_meta++;
}

/* Appends "\x1fkey=value" to buf (length *n) if it fits whole. */
static void append_pair(char *buf, size_t cap, size_t *n, const char *key, const char *value)
{
	size_t need = 1 + strlen(key) + 1 + strlen(value);
	if (strchr(value, RPC_REASON_META) || *n + need >= cap)
		return;
	snprintf(buf + *n, cap - *n, "%c%s=%s", RPC_REASON_META, key, value);
	*n += need;
}

const char *rpc_reason_to_record(const rpc_call *c, const char *reason, char *buf, size_t cap)
{
	size_t n;
	char have[40];
	if (!c || (c->n_meta == 0 && !c->order_id[0]))
		return reason;
	n = (size_t)snprintf(buf, cap, "%s", reason ? reason : "");
	if (n >= cap)
		n = cap - 1;
	for (int i = 0; i < c->n_meta; i++) {
		snprintf(have, sizeof(have), "%c%s=", RPC_REASON_META, c->meta_key[i]);
		if (!strstr(buf, have))
			append_pair(buf, cap, &n, c->meta_key[i], c->meta_value[i]);
	}
	snprintf(have, sizeof(have), "%corder_id=", RPC_REASON_META);
	if (c->order_id[0] && !strstr(buf, have))
		append_pair(buf, cap, &n, "order_id", c->order_id);
	return buf;
}

static void finish(rpc_call *c, grpc_status_code code, const char *message, const char *reason,
		   grpc_byte_buffer *reply);

/* A claimed call's outcome on its way to the store (R17), finished once
 * durable. */
typedef struct deferred_finish {
	rpc_call *c;
	grpc_status_code code;
	char message[512];
	char reason[IDEM_REASON_MAX]; /* with every metadata pair (rpc_reason_to_record) */
	grpc_byte_buffer *reply;
} deferred_finish;

static void on_recorded(void *arg, int rc)
{
	deferred_finish *d = arg;
	(void)rc; /* not recorded: the answer goes out all the same */
	d->c->idem.recorded = 1;
	finish(d->c, d->code, d->message, d->reason[0] ? d->reason : NULL, d->reply);
	free(d);
}

/*
 * R17 for every mutating RPC: a call that claimed an idempotency key and
 * ends with an answer no write has stored (a handler that answers by
 * itself, a refusal before any write) has that answer stored first, then
 * sent. Returns 1 when the call will be finished by on_recorded().
 */
static int record_then_finish(rpc_call *c, grpc_status_code code, const char *message,
			      const char *reason, grpc_byte_buffer *reply)
{
	deferred_finish *d;
	grpc_slice body = grpc_empty_slice();
	int rc;

	if (!c->idem.active || c->idem.recorded || idem_transient(code) || !c->method)
		return 0;
	d = xcalloc(1, sizeof(*d));
	if (reply) {
		grpc_byte_buffer_reader r;
		if (grpc_byte_buffer_reader_init(&r, reply)) {
			body = grpc_byte_buffer_reader_readall(&r);
			grpc_byte_buffer_reader_destroy(&r);
		}
	}
	d->c = c;
	d->code = code;
	snprintf(d->message, sizeof(d->message), "%s", message ? message : "");
	if (code != GRPC_STATUS_OK)
		reason = rpc_reason_to_record(c, reason, d->reason, sizeof(d->reason));
	if (reason != d->reason)
		snprintf(d->reason, sizeof(d->reason), "%s", reason ? reason : "");
	d->reply = reply;
	rc = idem_record_async(&c->idem, c->method->path, code, d->message, d->reason,
			       GRPC_SLICE_START_PTR(body), GRPC_SLICE_LENGTH(body), on_recorded, d);
	grpc_slice_unref(body);
	if (rc != 0) {
		free(d);
		return 0;
	}
	return 1;
}

static void finish(rpc_call *c, grpc_status_code code, const char *message, const char *reason,
		   grpc_byte_buffer *reply)
{
	grpc_op ops[4];
	size_t n = 0;
	grpc_call_error err;

	if (c->idem.capture) { /* recording the outcome for R17 (write.c) */
		char full[IDEM_REASON_MAX];
		grpc_slice s = grpc_empty_slice();
		if (reply) {
			grpc_byte_buffer_reader r;
			grpc_byte_buffer_reader_init(&r, reply);
			s = grpc_byte_buffer_reader_readall(&r);
			grpc_byte_buffer_reader_destroy(&r);
			grpc_byte_buffer_destroy(reply);
		}
		idem_capture(&c->idem, code, message,
			     code == GRPC_STATUS_OK
				     ? reason
				     : rpc_reason_to_record(c, reason, full, sizeof(full)),
			     reply ? GRPC_SLICE_START_PTR(s) : NULL, GRPC_SLICE_LENGTH(s));
		grpc_slice_unref(s);
		return;
	}
	if (record_then_finish(c, code, message, reason, reply))
		return;
	if (__atomic_exchange_n(&c->finished, 1, __ATOMIC_ACQ_REL)) {
		log_error("%s: call finished twice", c->method ? c->method->name : "?");
		if (reply)
			grpc_byte_buffer_destroy(reply);
		return;
	}
	if (c->idem.active)
		idem_release(&c->idem);
	if (c->local) {
		struct local_wait *lw = c->local;
		pthread_mutex_lock(&lw->lock);
		lw->status = code;
		snprintf(lw->msg, sizeof(lw->msg), "%s", message ? message : "");
		snprintf(lw->reason, sizeof(lw->reason), "%s",
			 code != GRPC_STATUS_OK && reason ? reason : "");
		if (reply) {
			grpc_byte_buffer_reader r;
			grpc_slice s;
			grpc_byte_buffer_reader_init(&r, reply);
			s = grpc_byte_buffer_reader_readall(&r);
			grpc_byte_buffer_reader_destroy(&r);
			lw->len = GRPC_SLICE_LENGTH(s);
			lw->body = xmalloc(lw->len);
			memcpy(lw->body, GRPC_SLICE_START_PTR(s), lw->len);
			grpc_slice_unref(s);
			grpc_byte_buffer_destroy(reply);
		}
		lw->done = 1;
		pthread_cond_signal(&lw->cond);
		pthread_mutex_unlock(&lw->lock);
		return;
	}
	c->status = code;
	c->reply = reply;
	c->status_msg = grpc_slice_from_copied_string(message ? message : "");
	if (code != GRPC_STATUS_OK) { /* every failure carries an ErrorInfo */
		errors_meta meta[ERRORS_MAX_META];
		size_t nm = 0, nr = 0;
		char mkey[ERRORS_MAX_META][32], mval[ERRORS_MAX_META][128];
		const char *rmeta = reason ? strchr(reason, RPC_REASON_META) : NULL;
		/* The pairs after the reason first: rpc_fail_meta()'s one, or every
		 * pair of a failure as R17 recorded it (rpc_reason_to_record, in
		 * this same order); then rpc_error_meta()'s not among them. */
		for (const char *p = rmeta; p && nr < ERRORS_MAX_META - 1;
		     p = strchr(p + 1, RPC_REASON_META)) {
			const char *end = strchr(p + 1, RPC_REASON_META), *eq = strchr(p + 1, '=');
			size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
			if (!eq || (end && eq > end))
				continue;
			snprintf(mkey[nr], sizeof(mkey[0]), "%.*s", (int)(eq - p - 1), p + 1);
			snprintf(mval[nr], sizeof(mval[0]), "%.*s", (int)(len - (size_t)(eq - p)),
				 eq + 1);
			if (strcmp(mkey[nr], "order_id") == 0) {
				if (!c->order_id[0])
					snprintf(c->order_id, sizeof(c->order_id), "%s", mval[nr]);
				continue;
			}
			meta[nm++] = (errors_meta){mkey[nr], mval[nr]};
			nr++;
		}
		for (int i = 0; i < c->n_meta && nm < ERRORS_MAX_META - 1; i++) {
			int dup = 0;
			for (size_t j = 0; j < nm && !dup; j++)
				dup = strcmp(meta[j].key, c->meta_key[i]) == 0;
			if (!dup)
				meta[nm++] = (errors_meta){c->meta_key[i], c->meta_value[i]};
		}
		if (c->order_id[0] && nm < ERRORS_MAX_META)
			meta[nm++] = (errors_meta){"order_id", c->order_id};
		if (rmeta && rmeta > reason)
			snprintf(c->reason, sizeof(c->reason), "%.*s", (int)(rmeta - reason),
				 reason);
		else
			snprintf(c->reason, sizeof(c->reason), "%s",
				 reason && *reason && !rmeta ? reason
							     : errors_default_reason(code));
		snprintf(c->message, sizeof(c->message), "%s", message ? message : "");
		c->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
		c->trailer.value = errors_status_details(code, message, c->reason, meta, nm);
		c->has_trailer = 1;
	}
	memset(ops, 0, sizeof(ops));
	if (!c->md_sent)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (reply) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = reply;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details = &c->status_msg;
	ops[n].data.send_status_from_server.trailing_metadata_count = c->has_trailer ? 1 : 0;
	ops[n++].data.send_status_from_server.trailing_metadata = c->has_trailer ? &c->trailer
										 : NULL;
	if (!c->streaming) { /* a stream's close batch is already waiting */
		ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
		ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	}
	c->tag.fn = on_sent;
	err = grpc_call_start_batch(c->call, ops, n, &c->tag, NULL);
	if (err != GRPC_CALL_OK) {
		log_error("start_batch failed: %d", err);
		on_sent(&c->tag, 0);
	}
}

void rpc_reply(rpc_call *c, const ProtobufCMessage *resp)
{
	note_order(c, resp);
	finish(c, GRPC_STATUS_OK, NULL, NULL, pack_bb(resp));
}

void rpc_fail(rpc_call *c, grpc_status_code code, const char *reason, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	finish(c, code, msg, reason, NULL);
}

void rpc_fail_meta(rpc_call *c, grpc_status_code code, const char *reason, const char *key,
		   const char *value, const char *fmt, ...)
{
	char msg[512], full[IDEM_REASON_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s%c%s=%s", reason, RPC_REASON_META, key, value);
	finish(c, code, msg, full, NULL);
}

void rpc_finish_raw(rpc_call *c, grpc_status_code code, const char *message, const char *reason,
		    const uint8_t *body, size_t body_len)
{
	finish(c, code, message, reason,
	       code == GRPC_STATUS_OK ? bytes_to_bb(body, body_len) : NULL);
}

static int64_t elapsed_us(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - start->tv_sec) * 1000000 +
	       (now.tv_nsec - start->tv_nsec) / 1000;
}

static void free_call(rpc_call *c)
{
	if (c->kind == CALL_TABLE && c->call && !c->local)
		live_add(-1);
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	if (c->request)
		protobuf_c_message_free_unpacked(c->request, NULL);
	free(c->idem.captured);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->reply)
		grpc_byte_buffer_destroy(c->reply);
	if (c->has_trailer) {
		grpc_slice_unref(c->trailer.key);
		grpc_slice_unref(c->trailer.value);
	}
	if (c->finished)
		grpc_slice_unref(c->status_msg);
	grpc_metadata_array_destroy(&c->md);
	if (c->kind == CALL_UNKNOWN)
		grpc_call_details_destroy(&c->details);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
}

static void on_sent(rpc_tag *t, int ok)
{
	rpc_call *c = (rpc_call *)t;
	log_call_info li;
	char path[256], idem_key[256] = "", request_id[128] = "";
	char *peer = c->call ? grpc_call_get_peer(c->call) : NULL;
	memset(&li, 0, sizeof(li));
	li.status = ok ? (int)c->status : GRPC_STATUS_CANCELLED;
	li.micros = elapsed_us(&c->start);
	li.reason = c->reason;
	li.message = c->message;
	li.peer = peer;
	if (c->kind == CALL_UNKNOWN) {
		size_t n = GRPC_SLICE_LENGTH(c->details.method);
		if (n >= sizeof(path))
			n = sizeof(path) - 1;
		memcpy(path, GRPC_SLICE_START_PTR(c->details.method), n);
		path[n] = 0;
		li.method = path;
		li.status = c->status;
	} else {
		li.method = c->method->name;
		li.key_id = c->caller.key_id;
		li.account = c->caller.account_id;
		li.order_id = c->order_id;
		if (rpc_call_metadata(c, "idempotency-key", idem_key, sizeof(idem_key)) > 0)
			li.idempotency_key = idem_key;
		if (rpc_call_metadata(c, "x-request-id", request_id, sizeof(request_id)) > 0)
			li.request_id = request_id;
	}
	log_call_line(&li);
	if (c->kind == CALL_TABLE && !c->local && observer.handled)
		observer.handled(c->method, li.status, (double)li.micros / 1e6);
	gpr_free(peer);
	if (c->streaming)
		stream_unref(c);
	else
		free_call(c);
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

#define CALL_OF(tag, member) ((rpc_call *)((char *)(tag)-offsetof(rpc_call, member)))

static void stream_unref(rpc_call *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free_call(c);
}

static void stream_ref(rpc_call *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
}

/* The client went away, the deadline passed, the server cancelled it, or
 * (after the final status) the call simply ended. */
static void on_stream_closed(rpc_tag *t, int ok)
{
	rpc_call *c = CALL_OF(t, close_tag);

	pthread_mutex_lock(&rt.lock);
	if (c->sprev) {
		*c->sprev = c->snext;
		if (c->snext)
			c->snext->sprev = c->sprev;
		c->sprev = NULL;
	}
	pthread_mutex_unlock(&rt.lock);
	if (!__atomic_load_n(&c->finished, __ATOMIC_ACQUIRE)) {
		if (c->on_close)
			c->on_close(c, 0, c->close_arg);
		else
			rpc_fail(c, GRPC_STATUS_CANCELLED, NULL, "stream closed");
	}
	stream_unref(c);
}

/* Makes c a stream: two references (the final status, the close), and the
 * batch that waits for the close. 0, or -1 (c stays a plain call). */
static int stream_begin(rpc_call *c)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	c->close_tag.fn = on_stream_closed;
	c->refs = 2;
	c->streaming = 1;
	pthread_mutex_lock(&rt.lock);
	c->snext = rt.streams;
	if (rt.streams)
		rt.streams->sprev = &c->snext;
	rt.streams = c;
	c->sprev = &rt.streams;
	pthread_mutex_unlock(&rt.lock);
	if (grpc_call_start_batch(c->call, &op, 1, &c->close_tag, NULL) == GRPC_CALL_OK)
		return 0;
	pthread_mutex_lock(&rt.lock);
	*c->sprev = c->snext;
	if (c->snext)
		c->snext->sprev = c->sprev;
	c->sprev = NULL;
	pthread_mutex_unlock(&rt.lock);
	c->streaming = 0;
	c->refs = 0;
	return -1;
}

static void on_stream_sent(rpc_tag *t, int ok)
{
	rpc_call *c = CALL_OF(t, send_tag);
	rpc_stream_cb fn = c->on_send;

	grpc_byte_buffer_destroy(c->send_bb);
	c->send_bb = NULL;
	if (fn)
		fn(c, ok, c->send_arg);
	stream_unref(c);
}

int rpc_stream_send(rpc_call *c, const ProtobufCMessage *msg, rpc_stream_cb sent, void *arg)
{
	grpc_op ops[2];
	size_t n = 0;

	if (!c->streaming || c->finished || c->send_bb)
		return -1;
	c->send_bb = pack_bb(msg);
	c->on_send = sent;
	c->send_arg = arg;
	memset(ops, 0, sizeof(ops));
	if (!c->md_sent)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = c->send_bb;
	c->send_tag.fn = on_stream_sent;
	stream_ref(c);
	if (grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL) != GRPC_CALL_OK) {
		grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
		stream_unref(c);
		return -1;
	}
	c->md_sent = 1;
	return 0;
}

void rpc_stream_on_close(rpc_call *c, rpc_stream_cb closed, void *arg)
{
	c->on_close = closed;
	c->close_arg = arg;
}

static void on_stream_woken(rpc_tag *t, int ok)
{
	rpc_call *c = CALL_OF(t, wake_tag);
	rpc_stream_cb fn = c->on_wake;

	if (fn)
		fn(c, 1, c->wake_arg);
	stream_unref(c);
}

int rpc_stream_wake(rpc_call *c, rpc_stream_cb fn, void *arg)
{
	if (!c->streaming)
		return -1;
	c->on_wake = fn;
	c->wake_arg = arg;
	c->wake_tag.fn = on_stream_woken;
	stream_ref(c);
	/* A batch of no operations completes at once on the call's queue: the
	 * documented way to post a tag to it from any thread. */
	if (grpc_call_start_batch(c->call, NULL, 0, &c->wake_tag, NULL) != GRPC_CALL_OK) {
		stream_unref(c);
		return -1;
	}
	return 0;
}

void rpc_stream_end(rpc_call *c)
{
	finish(c, GRPC_STATUS_OK, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */

/* R2/R4: who may set a field that lowers what is charged. */
static int may_lower_charges(const rpc_caller *c)
{
	return strcmp(c->key_account_id, "vendor") == 0 ||
	       c->scope == SMARTPLUS__BILLING__V1__API_KEY_SCOPE__API_KEY_SCOPE_SERVICE;
}

static void dispatch(rpc_call *c)
{
	const rpc_method *m = c->method;
	grpc_byte_buffer_reader reader;
	grpc_slice body;
	char msg[600] = "";
	grpc_status_code st;

	if (!c->local && observer.started)
		observer.started(m);
	if (gpr_time_cmp(gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC),
			 gpr_now(GPR_CLOCK_MONOTONIC)) < 0) {
		rpc_fail(c, GRPC_STATUS_DEADLINE_EXCEEDED, NULL,
			 "deadline passed before the call ran");
		return;
	}
	st = rt.auth ? rt.auth(&c->md, &c->caller, msg, sizeof(msg)) : GRPC_STATUS_UNAUTHENTICATED;
	if (st != GRPC_STATUS_OK) {
		rpc_fail(c, st, NULL, "%s", msg[0] ? msg : "missing or invalid credentials");
		return;
	}
	if (m->access == RPC_ACCESS_VENDOR && strcmp(c->caller.account_id, "vendor") != 0) {
		rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED, NULL, "%s is for the vendor only",
			 m->name);
		return;
	}
	if (!c->payload) {
		rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, NULL, "missing request message");
		return;
	}
	if (!grpc_byte_buffer_reader_init(&reader, c->payload)) {
		rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, NULL, "unreadable request message");
		return;
	}
	body = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	if (GRPC_SLICE_LENGTH(body) > rt.max_receive) {
		grpc_slice_unref(body);
		rpc_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL, "request larger than %zu bytes",
			 rt.max_receive);
		return;
	}
	c->request = protobuf_c_message_unpack(m->input, NULL, GRPC_SLICE_LENGTH(body),
					       GRPC_SLICE_START_PTR(body));
	if (!c->request) {
		grpc_slice_unref(body);
		rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, NULL, "request does not decode as %s",
			 m->input->name);
		return;
	}
	/* One validator for every request (validate.h): nothing a handler
	 * sees is malformed, and nothing malformed is stored. */
	st = rpc_validate_request(m->input, GRPC_SLICE_START_PTR(body), GRPC_SLICE_LENGTH(body),
				  may_lower_charges(&c->caller), msg, sizeof(msg));
	if (st != GRPC_STATUS_OK) {
		grpc_slice_unref(body);
		rpc_fail(c, st, NULL, "%s", msg);
		return;
	}
	/* R17: replay, refuse or claim the key before the handler runs. */
	if (m->mutates) {
		idem_answer a;
		idem_verdict v = idem_begin(&c->md, c->caller.key_account_id, c->caller.account_id,
					    m->path, GRPC_SLICE_START_PTR(body),
					    GRPC_SLICE_LENGTH(body), &c->idem, &a);
		if (v == IDEM_ANSWER) {
			grpc_slice_unref(body);
			rpc_finish_raw(c, a.code, a.message, a.reason, a.body, a.body_len);
			free(a.body);
			return;
		}
	}
	grpc_slice_unref(body);
	note_order(c, c->request);
	if (m->server_streaming) {
		if (c->local) {
			rpc_fail(c, GRPC_STATUS_UNIMPLEMENTED, NULL,
				 "%s streams: not available as a local call", m->name);
			return;
		}
		if (stream_begin(c) != 0) {
			rpc_fail(c, GRPC_STATUS_INTERNAL, NULL, "internal error");
			return;
		}
	}
	m->handler(c, c->request);
}

static void on_request(rpc_tag *t, int ok)
{
	rpc_call *c = (rpc_call *)t;
	if (!ok) { /* server shutting down: the slot was never matched */
		c->call = NULL;
		free_call(c);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	request_slot(c->w, c->method, c->raw);
	switch (c->kind) {
	case CALL_TABLE:
		live_add(1);
		dispatch(c);
		break;
	case CALL_RAW: {
		grpc_call *call = c->call;
		grpc_byte_buffer *payload = c->payload;
		rpc_raw_method *raw = c->raw;
		grpc_completion_queue *cq = c->w->cq;
		c->call = NULL;
		c->payload = NULL;
		free_call(c);
		raw->start(call, cq, payload);
		break;
	}
	case CALL_UNKNOWN:
		c->method = NULL;
		finish(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method", NULL, NULL);
		break;
	}
}

/* Asks for the next call of `m` (or `raw`, or of any unregistered method when
 * both are NULL) on worker w's queue. */
static void request_slot(worker *w, const rpc_method *m, rpc_raw_method *raw)
{
	rpc_call *c = xcalloc(1, sizeof(*c));
	grpc_call_error err;
	c->tag.fn = on_request;
	c->w = w;
	c->method = m;
	c->raw = raw;
	grpc_metadata_array_init(&c->md);
	if (m || raw) {
		c->kind = m ? CALL_TABLE : CALL_RAW;
		err = grpc_server_request_registered_call(
			rt.server, m ? m->registered : raw->registered, &c->call, &c->deadline,
			&c->md, (m || raw->read_payload) ? &c->payload : NULL, w->cq, w->cq,
			&c->tag);
	} else {
		c->kind = CALL_UNKNOWN;
		grpc_call_details_init(&c->details);
		err = grpc_server_request_call(rt.server, &c->call, &c->details, &c->md, w->cq,
					       w->cq, &c->tag);
	}
	if (err != GRPC_CALL_OK) {
		log_error("request call failed: %d", err);
		c->call = NULL;
		free_call(c);
	}
}

grpc_status_code rpc_local_call(const char *path, const grpc_metadata_array *md, const uint8_t *req,
				size_t len, uint8_t **out, size_t *out_len, char *msg,
				size_t msgcap)
{
	char reason[64];
	return rpc_local_call_reason(path, md, req, len, out, out_len, msg, msgcap, reason,
				     sizeof(reason));
}

grpc_status_code rpc_local_call_reason(const char *path, const grpc_metadata_array *md,
				       const uint8_t *req, size_t len, uint8_t **out,
				       size_t *out_len, char *msg, size_t msgcap, char *reason,
				       size_t reasoncap)
{
	struct local_wait lw = {.lock = PTHREAD_MUTEX_INITIALIZER,
				.cond = PTHREAD_COND_INITIALIZER};
	rpc_call *c;
	const rpc_method *m = rpc_table_find(path);
	*out = NULL;
	*out_len = 0;
	if (reasoncap)
		reason[0] = 0;
	if (!m) {
		snprintf(msg, msgcap, "unknown method");
		return GRPC_STATUS_UNIMPLEMENTED;
	}
	if (!rt.max_receive)
		rt.max_receive = 4 << 20;
	c = xcalloc(1, sizeof(*c));
	c->kind = CALL_TABLE;
	c->method = m;
	c->local = &lw;
	c->deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
	c->md = *md; /* borrowed: not destroyed below */
	{
		grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, len);
		c->payload = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
	}
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	dispatch(c);
	pthread_mutex_lock(&lw.lock);
	while (!lw.done)
		pthread_cond_wait(&lw.cond, &lw.lock);
	pthread_mutex_unlock(&lw.lock);
	grpc_metadata_array_init(&c->md);
	free_call(c);
	snprintf(msg, msgcap, "%s", lw.msg);
	snprintf(reason, reasoncap, "%s", lw.reason);
	*out = lw.body;
	*out_len = lw.len;
	return lw.status;
}

/* ------------------------------------------------------------------------ */
/* Threads and life                                                          */

static void *worker_main(void *arg)
{
	worker *w = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			w->cq,
			gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				     gpr_time_from_millis(200, GPR_TIMESPAN)),
			NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			log_flush();
			continue;
		}
		((rpc_tag *)ev.tag)->fn((rpc_tag *)ev.tag, ev.success);
	}
	log_flush();
	return NULL;
}

static void on_shutdown(rpc_tag *t, int ok)
{
	pthread_mutex_lock(&rt.lock);
	rt.shut_down = 1;
	pthread_cond_broadcast(&rt.cond);
	pthread_mutex_unlock(&rt.lock);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = xmalloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[n] = 0;
		}
	}
	fclose(f);
	return buf;
}

static grpc_server_credentials *make_credentials(const rpc_server_options *o)
{
	grpc_ssl_pem_key_cert_pair pair;
	grpc_server_credentials *creds;
	char *cert, *key, *ca = NULL;
	if (!o->tls_cert_file)
		return grpc_insecure_server_credentials_create();
	cert = read_file(o->tls_cert_file);
	key = read_file(o->tls_key_file);
	if (o->tls_client_ca_file)
		ca = read_file(o->tls_client_ca_file);
	if (!cert || !key || (o->tls_client_ca_file && !ca)) {
		log_error("cannot read the TLS certificate, key or client CA file");
		free(cert);
		free(key);
		free(ca);
		return NULL;
	}
	pair.cert_chain = cert;
	pair.private_key = key;
	creds = grpc_ssl_server_credentials_create_ex(
		ca, &pair, 1,
		ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
		   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
		NULL);
	free(cert);
	free(key);
	free(ca);
	return creds;
}

int rpc_server_start(const rpc_server_options *o)
{
	grpc_arg args[5];
	grpc_channel_args cargs;
	grpc_server_credentials *creds;
	int port;

	rpc_table_init();
	grpc_init();
	rt.max_receive = o->max_receive_bytes ? o->max_receive_bytes : 4 << 20;
	rt.grace_ms = o->shutdown_grace_ms > 0 ? o->shutdown_grace_ms : 2000;
	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)rt.max_receive;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_MAX_CONCURRENT_STREAMS;
	args[1].value.integer = 256;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_MAX_METADATA_SIZE;
	args[2].value.integer = 16 * 1024;
	args[3].type = GRPC_ARG_INTEGER;
	args[3].key = GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS;
	args[3].value.integer = 10000;
	/* One process per port: without this grpc sets SO_REUSEPORT, so a
	 * second billingd (another data directory) would bind the same port and
	 * the kernel would split connections between two databases. */
	args[4].type = GRPC_ARG_INTEGER;
	args[4].key = GRPC_ARG_ALLOW_REUSEPORT;
	args[4].value.integer = 0;
	cargs.num_args = 5;
	cargs.args = args;
	rt.server = grpc_server_create(&cargs, NULL);

	rt.nworkers = o->threads > 0 ? o->threads : 2;
	/* and one more, for the streams: their wake-ups and sends do not
	 * queue behind a loaded server's unary calls */
	rt.workers = xcalloc((size_t)rt.nworkers + 1, sizeof(worker));
	for (int i = 0; i <= rt.nworkers; i++) {
		rt.workers[i].cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(rt.server, rt.workers[i].cq, NULL);
	}
	for (size_t i = 0; i < rpc_method_count; i++)
		rpc_methods[i].registered = grpc_server_register_method(
			rt.server, rpc_methods[i].path, NULL,
			GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	for (int i = 0; i < rt.nraw; i++)
		rt.raw[i]->registered = grpc_server_register_method(
			rt.server, rt.raw[i]->path, NULL,
			rt.raw[i]->read_payload ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
						: GRPC_SRM_PAYLOAD_NONE,
			0);

	log_info("request validator: %u fields of %u messages (%u strings with a maximum length, "
		 "%u repeated fields with a maximum count, %u charge-lowering)",
		 rpc_rules_covered.fields, rpc_rules_covered.messages,
		 rpc_rules_covered.string_limits, rpc_rules_covered.repeated_limits,
		 rpc_rules_covered.charge_lowering);
	creds = make_credentials(o);
	if (!creds)
		return -1;
	port = grpc_server_add_http2_port(rt.server, o->listen, creds);
	grpc_server_credentials_release(creds);
	if (port <= 0) {
		log_error("cannot listen on %s (address in use, or not an address of this host)",
			  o->listen);
		return -1;
	}
	grpc_server_start(rt.server);

	for (int i = 0; i <= rt.nworkers; i++) {
		worker *w = &rt.workers[i];
		int streams = i == rt.nworkers; /* the stream worker */
		for (size_t k = 0; k < rpc_method_count; k++)
			for (int s = 0; s < SLOTS_PER_METHOD; s++)
				if (!rpc_methods[k].server_streaming == !streams)
					request_slot(w, &rpc_methods[k], NULL);
		if (streams) {
			pthread_create(&w->thread, NULL, worker_main, w);
			continue;
		}
		for (int k = 0; k < rt.nraw; k++)
			for (int s = 0; s < SLOTS_PER_METHOD; s++)
				request_slot(w, NULL, rt.raw[k]);
		for (int s = 0; s < SLOTS_PER_METHOD; s++)
			request_slot(w, NULL, NULL);
		pthread_create(&w->thread, NULL, worker_main, w);
	}
	return port;
}

void rpc_server_stop(void)
{
	struct timespec until;
	if (!rt.server)
		return;
	rt.shutdown_tag.fn = on_shutdown;
	grpc_server_shutdown_and_notify(rt.server, rt.workers[0].cq, &rt.shutdown_tag);
	/* Streams never end by themselves: end them now (their clients see
	 * UNAVAILABLE and resume elsewhere or after the restart). */
	pthread_mutex_lock(&rt.lock);
	for (rpc_call *c = rt.streams; c; c = c->snext)
		grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE,
					     "server shutting down", NULL);
	pthread_mutex_unlock(&rt.lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += rt.grace_ms / 1000;
	until.tv_nsec += (rt.grace_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&rt.lock);
	while (!rt.shut_down)
		if (pthread_cond_timedwait(&rt.cond, &rt.lock, &until) != 0 && !rt.shut_down) {
			log_info("cancelling calls still open after the grace period");
			grpc_server_cancel_all_calls(rt.server);
			until.tv_sec += 3600;
		}
	/* Calls waiting on the writer still answer on their queues. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	while (rt.live > 0)
		if (pthread_cond_timedwait(&rt.cond, &rt.lock, &until) != 0) {
			log_error("%ld calls still unanswered after 30 s; shutting down anyway",
				  rt.live);
			break;
		}
	pthread_mutex_unlock(&rt.lock);
	for (int i = 0; i <= rt.nworkers; i++)
		grpc_completion_queue_shutdown(rt.workers[i].cq);
	for (int i = 0; i <= rt.nworkers; i++)
		pthread_join(rt.workers[i].thread, NULL);
	grpc_server_destroy(rt.server);
	for (int i = 0; i <= rt.nworkers; i++)
		grpc_completion_queue_destroy(rt.workers[i].cq);
	free(rt.workers);
	rt.workers = NULL;
	rt.server = NULL;
	grpc_shutdown();
}
