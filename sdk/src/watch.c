/*
 * watch.c - spb_events_watch_*: the SDK's one streaming call
 * (EventService.WatchEvents), with reconnection.
 *
 * One stream at a time per watch, on its own pluck completion queue. Three
 * kinds of batch: the request (metadata, message, half-close), the status
 * (started at once, so the stream's end is never missed), and one message
 * receive at a time. A receive that times out stays pending and is plucked
 * by the next call. When the stream ends with a status that says "try
 * again" (UNAVAILABLE, CANCELLED by the other side, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN), a new stream is opened with
 * after_sequence = the last event handed out: the server replays from
 * there, so nothing is missed and nothing handed out twice.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "smartplus/billing/v1/event_service.pb-c.h"
#include "spb_internal.h"

#define WATCH_PATH "/smartplus.billing.v1.EventService/WatchEvents"
#define BACKOFF_MS 50
#define BACKOFF_MAX_MS 2000

typedef Smartplus__Billing__V1__WatchEventsRequest watch_request;
typedef Smartplus__Billing__V1__WatchEventsResponse watch_response;

struct spb_event_watch {
	spb_client *client;
	char *api_key; /* NULL: the client's */
	char *acting;  /* NULL: none */
	char **kinds;
	size_t n_kinds;
	char *subject, *account_id;
	long long pos;
	int max_reconnects;
	int failures;          /* broken streams in a row */
	gpr_timespec retry_at; /* when the next stream may open (failures > 0) */
	int caught_up;
	int cancelled;         /* atomic */
	watch_response *batch; /* received, not all handed out yet */
	size_t batch_next;

	pthread_mutex_t lock; /* call, for spb_events_watch_cancel() */
	grpc_call *call;
	grpc_completion_queue *cq;
	int recv_pending;
	int first_recv;
	grpc_byte_buffer *recv_bb;
	grpc_metadata_array initial, trailing;
	grpc_status_code status;
	grpc_slice details;
	char tag_send, tag_recv, tag_status; /* their addresses are the tags */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int spb_watch_options_init(spb_watch_options *opts, unsigned int version)
{
	static const spb_watch_options defaults = SPB_WATCH_OPTIONS_INIT;

	if (!opts || version != SPB_WATCH_OPTIONS_VERSION)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "spb_watch_options: unsupported version %u", version);
	*opts = defaults;
	return 0;
}

static int check_options(const spb_watch_options *o)
{
	if (o->version != SPB_WATCH_OPTIONS_VERSION)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "unsupported spb_watch_options version %u", o->version);
	if (o->after_sequence < 0)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "after_sequence is negative");
	if (o->n_kinds && !o->kinds)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "n_kinds is set but kinds is NULL");
	for (size_t i = 0; i < o->n_kinds; i++)
		if (!o->kinds[i])
			return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
					      "kinds[%zu] is NULL", i);
	if (o->call && o->call->version != 1 && o->call->version != SPB_CALL_OPTIONS_VERSION)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "unsupported spb_call_options version %u", o->call->version);
	if (o->call && o->call->api_key && !spb__header_value_ok(o->call->api_key, 4096))
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "api_key must be printable ASCII");
	if (o->call && o->call->acting_account &&
	    !spb__header_value_ok(o->call->acting_account, 255))
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "acting_account must be 1..255 printable ASCII characters");
	return 0;
}

int spb_events_watch_open(spb_event_watch **out, spb_client *client, const spb_watch_options *opts)
{
	spb_watch_options defaults = SPB_WATCH_OPTIONS_INIT;
	spb_event_watch *w = NULL;
	int error = -1;

	spb__error_reset();
	if (!out || !client)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "out and client must not be NULL");
	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (check_options(opts) < 0)
		return SPB_EINVALID;
	w = calloc(1, sizeof(*w));
	if (!w)
		goto done;
	w->client = client;
	w->pos = opts->after_sequence;
	w->max_reconnects = opts->max_reconnects;
	w->details = grpc_empty_slice();
	pthread_mutex_init(&w->lock, NULL);
	if (opts->call &&
	    ((opts->call->api_key && !(w->api_key = strdup(opts->call->api_key))) ||
	     (opts->call->acting_account && !(w->acting = strdup(opts->call->acting_account)))))
		goto done;
	if ((opts->subject && !(w->subject = strdup(opts->subject))) ||
	    (opts->account_id && !(w->account_id = strdup(opts->account_id))))
		goto done;
	if (opts->n_kinds) {
		w->kinds = calloc(opts->n_kinds, sizeof(char *));
		if (!w->kinds)
			goto done;
		for (; w->n_kinds < opts->n_kinds; w->n_kinds++)
			if (!(w->kinds[w->n_kinds] = dup_or_null(opts->kinds[w->n_kinds])))
				goto done;
	}
	error = 0;
	*out = w;
done:
	if (error < 0) {
		spb_events_watch_free(w);
		return spb__error_set(GRPC_STATUS_INTERNAL, NULL, "out of memory");
	}
	return 0;
}

/* Ends the current stream (if any) and releases everything it holds. */
static void close_stream(spb_event_watch *w)
{
	grpc_call *call;

	pthread_mutex_lock(&w->lock);
	call = w->call;
	w->call = NULL;
	pthread_mutex_unlock(&w->lock);
	if (!call)
		return;
	if (w->recv_pending) {
		/* a receive is still out: end the call, then collect it */
		grpc_call_cancel(call, NULL);
		grpc_completion_queue_pluck(w->cq, &w->tag_recv, gpr_inf_future(GPR_CLOCK_REALTIME),
					    NULL);
		w->recv_pending = 0;
	}
	if (w->recv_bb) {
		grpc_byte_buffer_destroy(w->recv_bb);
		w->recv_bb = NULL;
	}
	grpc_call_cancel(call, NULL);
	grpc_completion_queue_pluck(w->cq, &w->tag_status, gpr_inf_future(GPR_CLOCK_REALTIME),
				    NULL);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(w->cq);
	grpc_completion_queue_destroy(w->cq);
	w->cq = NULL;
	grpc_metadata_array_destroy(&w->initial);
	grpc_metadata_array_destroy(&w->trailing);
	grpc_slice_unref(w->details);
	w->details = grpc_empty_slice();
}

/* Opens a stream after w->pos. 0, or -1 (the detail recorded). */
static int open_stream(spb_event_watch *w)
{
	watch_request req = SMARTPLUS__BILLING__V1__WATCH_EVENTS_REQUEST__INIT;
	const char *key = w->api_key ? w->api_key : spb__client_api_key(w->client);
	grpc_metadata md[2];
	size_t n_md = 0, len, i;
	grpc_byte_buffer *bb = NULL;
	grpc_slice slice;
	grpc_op ops[3];
	grpc_call *call;
	uint8_t *buf;
	int error = -1;

	req.after_sequence = w->pos;
	req.n_kinds = w->n_kinds;
	req.kinds = w->kinds;
	req.subject = w->subject ? w->subject : "";
	req.account_id = w->account_id ? w->account_id : "";
	len = protobuf_c_message_get_packed_size(&req.base);
	buf = malloc(len ? len : 1);
	if (!buf)
		return spb__error_set(GRPC_STATUS_INTERNAL, NULL, "out of memory");
	protobuf_c_message_pack(&req.base, buf);
	slice = grpc_slice_from_copied_buffer((const char *)buf, len);
	free(buf);
	bb = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);

	if (key)
		spb__add_metadata(md, &n_md, "authorization", "Bearer ", key);
	if (w->acting)
		spb__add_metadata(md, &n_md, "x-acting-account", "", w->acting);
	grpc_metadata_array_init(&w->initial);
	grpc_metadata_array_init(&w->trailing);
	w->cq = grpc_completion_queue_create_for_pluck(NULL);
	slice = grpc_slice_from_static_string(WATCH_PATH);
	call = grpc_channel_create_call(spb__client_channel(w->client), NULL,
					GRPC_PROPAGATE_DEFAULTS, w->cq, slice, NULL,
					gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	pthread_mutex_lock(&w->lock);
	w->call = call;
	pthread_mutex_unlock(&w->lock);
	w->first_recv = 1;
	w->caught_up = 0;

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = n_md;
	ops[0].data.send_initial_metadata.metadata = md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	if (grpc_call_start_batch(call, ops, 3, &w->tag_send, NULL) != GRPC_CALL_OK)
		goto done;
	grpc_completion_queue_pluck(w->cq, &w->tag_send, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &w->trailing;
	ops[0].data.recv_status_on_client.status = &w->status;
	ops[0].data.recv_status_on_client.status_details = &w->details;
	if (grpc_call_start_batch(call, ops, 1, &w->tag_status, NULL) != GRPC_CALL_OK)
		goto done;
	error = 0;
done:
	for (i = 0; i < n_md; i++) {
		grpc_slice_unref(md[i].key);
		grpc_slice_unref(md[i].value);
	}
	grpc_byte_buffer_destroy(bb);
	if (error < 0) {
		/* the status batch was not started: nothing to collect */
		pthread_mutex_lock(&w->lock);
		w->call = NULL;
		pthread_mutex_unlock(&w->lock);
		grpc_call_cancel(call, NULL);
		grpc_call_unref(call);
		grpc_completion_queue_shutdown(w->cq);
		grpc_completion_queue_destroy(w->cq);
		w->cq = NULL;
		grpc_metadata_array_destroy(&w->initial);
		grpc_metadata_array_destroy(&w->trailing);
		return spb__error_set(GRPC_STATUS_INTERNAL, NULL, "cannot start %s", WATCH_PATH);
	}
	return 0;
}

static int start_recv(spb_event_watch *w)
{
	grpc_op ops[2];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (w->first_recv) {
		ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[n++].data.recv_initial_metadata.recv_initial_metadata = &w->initial;
	}
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n++].data.recv_message.recv_message = &w->recv_bb;
	if (grpc_call_start_batch(w->call, ops, n, &w->tag_recv, NULL) != GRPC_CALL_OK)
		return -1;
	w->first_recv = 0;
	w->recv_pending = 1;
	return 0;
}

/* 1 for a status after which the stream is opened again. */
static int retryable(grpc_status_code st)
{
	return st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_CANCELLED ||
	       st == GRPC_STATUS_DEADLINE_EXCEEDED || st == GRPC_STATUS_RESOURCE_EXHAUSTED ||
	       st == GRPC_STATUS_INTERNAL || st == GRPC_STATUS_UNKNOWN;
}

/* Sleeps until the time set for the next reconnection, or until the
 * deadline if that comes first (then returns -1), waking early on cancel. */
static int wait_retry(spb_event_watch *w, gpr_timespec deadline)
{
	gpr_timespec until = w->retry_at;
	int early = gpr_time_cmp(deadline, until) < 0;

	if (early)
		until = deadline;
	while (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) < 0 &&
	       !__atomic_load_n(&w->cancelled, __ATOMIC_ACQUIRE))
		gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_millis(10, GPR_TIMESPAN)));
	return early ? -1 : 0;
}

/* A stream broke: the next one opens after a pause growing with the
 * number of breaks in a row. */
static void schedule_retry(spb_event_watch *w)
{
	int ms = BACKOFF_MS << (w->failures < 6 ? w->failures - 1 : 5);

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	w->retry_at = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				   gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Hands out the next event of the message received last, if any: 1 with
 * *event, 0 when there is none left. */
static int take_buffered(spb_event_watch *w, Smartplus__Billing__V1__Event **event)
{
	if (w->batch && w->batch_next < w->batch->n_events) {
		*event = w->batch->events[w->batch_next];
		w->batch->events[w->batch_next++] = NULL; /* the caller's now */
		w->pos = (*event)->sequence;
		return 1;
	}
	if (w->batch)
		smartplus__billing__v1__watch_events_response__free_unpacked(w->batch, NULL);
	w->batch = NULL;
	w->batch_next = 0;
	return 0;
}

/* Decodes a received message into w->batch (its events are handed out by
 * take_buffered()). 0, or -1 for garbage (recorded). */
static int take_message(spb_event_watch *w)
{
	grpc_byte_buffer_reader reader;
	watch_response *r = NULL;
	grpc_slice s;

	if (grpc_byte_buffer_reader_init(&reader, w->recv_bb)) {
		s = grpc_byte_buffer_reader_readall(&reader);
		grpc_byte_buffer_reader_destroy(&reader);
		r = smartplus__billing__v1__watch_events_response__unpack(
			NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_destroy(w->recv_bb);
	w->recv_bb = NULL;
	if (!r)
		return spb__error_set(GRPC_STATUS_INTERNAL, NULL, "malformed WatchEventsResponse");
	w->caught_up = w->caught_up || r->caught_up;
	w->batch = r;
	w->batch_next = 0;
	return 0;
}

int spb_events_watch_next(spb_event_watch *w, Smartplus__Billing__V1__Event **event, int timeout_ms)
{
	gpr_timespec deadline = timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
					       : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
							      gpr_time_from_millis(timeout_ms,
										   GPR_TIMESPAN));

	spb__error_reset();
	if (!w || !event)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL,
				      "watch and event must not be NULL");
	*event = NULL;
	if (!__atomic_load_n(&w->cancelled, __ATOMIC_ACQUIRE) && take_buffered(w, event))
		return 0;
	for (;;) {
		grpc_event ev;
		grpc_status_code st;

		if (__atomic_load_n(&w->cancelled, __ATOMIC_ACQUIRE)) {
			close_stream(w);
			return spb__error_set(GRPC_STATUS_CANCELLED, NULL,
					      "the watch was cancelled");
		}
		if (!w->call) {
			if (w->failures && wait_retry(w, deadline) < 0)
				return spb__error_set(GRPC_STATUS_DEADLINE_EXCEEDED, NULL,
						      "no event within %d ms (reconnecting)",
						      timeout_ms);
			if (__atomic_load_n(&w->cancelled, __ATOMIC_ACQUIRE))
				continue;
			if (open_stream(w) < 0)
				return SPB_ERROR;
		}
		if (!w->recv_pending && start_recv(w) < 0) {
			close_stream(w);
			w->failures++;
			schedule_retry(w);
			continue;
		}
		ev = grpc_completion_queue_pluck(w->cq, &w->tag_recv, deadline, NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			return spb__error_set(GRPC_STATUS_DEADLINE_EXCEEDED, NULL,
					      "no event within %d ms", timeout_ms);
		w->recv_pending = 0;
		if (ev.success && w->recv_bb) {
			if (take_message(w) < 0) {
				close_stream(w);
				return SPB_ERROR;
			}
			w->failures = 0;
			if (take_buffered(w, event))
				return 0;
			continue; /* the caught-up marker */
		}
		/* the stream is over: why? */
		grpc_completion_queue_pluck(w->cq, &w->tag_status,
					    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		st = w->status;
		spb__record_status(st == GRPC_STATUS_OK ? GRPC_STATUS_UNAVAILABLE : st, w->details,
				   &w->trailing);
		/* the status batch is collected: close without plucking it again */
		pthread_mutex_lock(&w->lock);
		grpc_call_unref(w->call);
		w->call = NULL;
		pthread_mutex_unlock(&w->lock);
		grpc_completion_queue_shutdown(w->cq);
		grpc_completion_queue_destroy(w->cq);
		w->cq = NULL;
		grpc_metadata_array_destroy(&w->initial);
		grpc_metadata_array_destroy(&w->trailing);
		grpc_slice_unref(w->details);
		w->details = grpc_empty_slice();
		if (__atomic_load_n(&w->cancelled, __ATOMIC_ACQUIRE))
			continue; /* reported above */
		if (st != GRPC_STATUS_OK && !retryable(st))
			return spb__code_from_status(st);
		w->failures++;
		schedule_retry(w);
		if (w->max_reconnects >= 0 && w->failures > w->max_reconnects) {
			char reason[128], msg[256];
			snprintf(reason, sizeof(reason), "%s", spb_error_last()->reason);
			snprintf(msg, sizeof(msg), "%s", spb_error_last()->message);
			return spb__error_set(GRPC_STATUS_UNAVAILABLE, reason,
					      "the watch broke %d times in a row: %s", w->failures,
					      msg);
		}
	}
}

long long spb_events_watch_position(const spb_event_watch *w)
{
	return w ? w->pos : 0;
}

int spb_events_watch_caught_up(const spb_event_watch *w)
{
	return w ? w->caught_up : 0;
}

void spb_events_watch_cancel(spb_event_watch *w)
{
	if (!w)
		return;
	__atomic_store_n(&w->cancelled, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&w->lock);
	if (w->call)
		grpc_call_cancel(w->call, NULL);
	pthread_mutex_unlock(&w->lock);
}

void spb_events_watch_free(spb_event_watch *w)
{
	if (!w)
		return;
	if (w->cq)
		close_stream(w);
	if (w->batch)
		smartplus__billing__v1__watch_events_response__free_unpacked(w->batch, NULL);
	for (size_t i = 0; i < w->n_kinds; i++)
		free(w->kinds[i]);
	free(w->kinds);
	free(w->subject);
	free(w->account_id);
	free(w->api_key);
	free(w->acting);
	grpc_slice_unref(w->details);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int spb_events_watch(spb_client *client, const spb_watch_options *opts, spb_event_cb cb,
		     void *payload)
{
	spb_event_watch *w = NULL;
	Smartplus__Billing__V1__Event *ev = NULL;
	int rc;

	if (!cb)
		return spb__error_set(GRPC_STATUS_INVALID_ARGUMENT, NULL, "cb must not be NULL");
	rc = spb_events_watch_open(&w, client, opts);
	while (rc == 0 && (rc = spb_events_watch_next(w, &ev, -1)) == 0) {
		rc = cb(ev, payload);
		spb_message_free(ev);
		if (rc)
			break;
	}
	spb_events_watch_free(w);
	return rc;
}
