/*
 * store_event.h - the outbox (DB_EVENTS): every change that matters, written in
 * the same write transaction as the effect it describes.
 *
 * Read these first:
 *
 *  - Exactly once. An event's id is derived from (cause, subject, kind)
 *    (store_event_id()), and store_event_append() writes nothing when one of
 *    the subject's last STORE_EVENT_DEDUPE events has that id: an effect
 *    that is retried or resumed (a sweep over the same date, a resumed
 *    settlement) yields the same id and is recorded once. An effect applied
 *    once (in the transaction of its change) yields its event once anyway.
 *    There is deliberately no index by id: its keys are random, and a
 *    random insert per event costs a page per event at every commit.
 *  - Order. Each appended event takes the next value of the meta counter
 *    "event_seq" in the same transaction, so sequence numbers follow commit
 *    order with no gap (a rolled-back mutation rolls its numbers back too);
 *    the only gaps a reader sees are events pruned by retention. Within a
 *    subject, subject_version counts 1, 2, ... and never restarts, even
 *    after the subject's old events were pruned.
 *  - Waking readers. After every commit that appended events, the writer
 *    publishes the last sequence number (store_event_last_seq()) and then
 *    calls the commit hook, if one is set, on the writer thread. A reader
 *    that waits for events compares its position with that number and never
 *    holds a read transaction while waiting.
 *  - Memory and errors as in store.h: records come back as fresh messages
 *    the caller frees with store_record_free() or store_list_free().
 *
 * Layout in the "events" database (for tools and white-box tests):
 *
 *   'E' seq(be64)                 -> EventRecord
 *   'V' subject\0 version(be64)   -> seq(be64) event_id (36 bytes); the
 *                                    newest one of each subject stays
 *                                    after pruning, so versions go on
 *                                    from it
 */
#ifndef SPB_STORE_EVENT_H
#define SPB_STORE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "event.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__EventRecord store_event;

#define STORE_EVENT_INIT SMARTPLUS__BILLING__STORE__V1__EVENT_RECORD__INIT

/* "evt_" + 32 lower-case hex digits. */
#define STORE_EVENT_ID_LEN 36

/* How many of a subject's newest events a repeat is recognised among. */
#define STORE_EVENT_DEDUPE 32

/* The id of the event of `kind` about `subject` caused by `cause`: "evt_"
 * and the first 16 bytes of SHA-256(cause NUL subject NUL kind) in hex,
 * into out[STORE_EVENT_ID_LEN + 1]. NULL strings count as "". */
void store_event_id(const char *cause, const char *subject, const char *kind,
		    char out[STORE_EVENT_ID_LEN + 1]);

/*
 * Appends rec (write transaction only). rec->event_id, kind and subject
 * must be set; the store fills rec->seq (the next "event_seq") and
 * rec->subject_version (one more than the subject's last). Returns 0, or
 * STORE_EXISTS when one of the subject's last STORE_EVENT_DEDUPE events has
 * rec->event_id (nothing is written and rec->seq is set to that event's
 * number), STORE_INVALID for a malformed id or a missing kind or subject,
 * or another STORE_* code.
 */
int store_event_append(store_txn *w, store_event *rec);

/* The same without looking for a repeat: for a caller that knows no event
 * with this id can exist (its cause was made in this transaction, such as
 * a new transfer). */
int store_event_append_new(store_txn *w, store_event *rec);

/* The event numbered seq. STORE_NOTFOUND when absent (never written, or
 * pruned). */
int store_event_get(store_txn *txn, uint64_t seq, store_event **out);

/*
 * A bounded scan of the events after a sequence number, in sequence order.
 * With subject set only that subject's events are examined (through the
 * 'V' index). keep (may be NULL) decides which examined events are
 * returned. The scan stops after `limit` kept events or `max_scan` examined
 * ones (0 = no bound), whichever comes first.
 */
typedef struct store_event_query {
	uint64_t after;      /* events with seq > after */
	const char *subject; /* NULL or "": every subject */
	int (*keep)(const store_event *ev, void *arg);
	void *keep_arg;
	size_t limit;    /* 0 = STORE_PAGE_DEFAULT */
	size_t max_scan; /* 0 = no bound */
} store_event_query;

/*
 * Runs q. out->items are the kept events (store_event *), in order;
 * out->next_page_token is always NULL. *last gets the sequence number of
 * the last examined event (q->after when none was), the position to resume
 * from; *more is 1 when the scan stopped on a bound with events possibly
 * left after *last, 0 when it reached the end.
 */
int store_event_scan(store_txn *txn, const store_event_query *q, store_list *out, uint64_t *last,
		     int *more);

/* The last sequence number committed (0 before any event); any thread. */
uint64_t store_event_last_seq(store_env *env);

/* Sequence number of the oldest stored event, 0 when there is none. */
int store_event_first_seq(store_txn *txn, uint64_t *seq);

/*
 * Deletes up to max of the oldest events whose create_time is < before,
 * with their index entries (write transaction only). *deleted gets how
 * many were; *more is 1 when older ones may remain.
 */
int store_event_prune(store_txn *w, int64_t before, size_t max, size_t *deleted, int *more);

/*
 * Sets the function the writer calls after each commit that appended
 * events, with the new store_event_last_seq(). It runs on the writer
 * thread, before the batch's done() callbacks: it must be short and must
 * not submit or wait for writes (waking a waiter is the intended use).
 * NULL removes it. Set it before the first write, or while no write runs.
 */
void store_set_commit_hook(store_env *env, void (*fn)(void *arg, uint64_t last_seq), void *arg);

#endif /* SPB_STORE_EVENT_H */
