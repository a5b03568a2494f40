/*
 * test_events.c - the outbox (event.h) and the webhook tables (webhook.h):
 * deterministic ids, once-only append, sequence and subject versions,
 * rollback of numbers, bounded scans, retention pruning, the commit hook,
 * deliveries and their due index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_event.h"
#include "spt_run.h"
#include "spt_store.h"
#include "store_webhook.h"

/* ------------------------------------------------------------------------
 * Helpers
 */

struct ev_in {
	const char *cause, *subject, *kind;
	int64_t time;
	uint64_t seq, version; /* out */
	int rc;                /* out: store_event_append's */
};

static struct ev_in ev(const char *cause, const char *subject, const char *kind, int64_t time)
{
	struct ev_in e;

	memset(&e, 0, sizeof(e));
	e.cause = cause;
	e.subject = subject;
	e.kind = kind;
	e.time = time;
	return e;
}

static int apply_append(store_txn *w, void *arg)
{
	struct ev_in *e = arg;
	store_event rec = STORE_EVENT_INIT;
	char id[STORE_EVENT_ID_LEN + 1];
	char *owners[2] = {"vendor", "d1"};

	store_event_id(e->cause, e->subject, e->kind, id);
	rec.event_id = id;
	rec.kind = (char *)e->kind;
	rec.subject = (char *)e->subject;
	rec.cause = (char *)e->cause;
	rec.create_time = e->time;
	rec.n_owners = 2;
	rec.owners = owners;
	e->rc = store_event_append(w, &rec);
	e->seq = rec.seq;
	e->version = rec.subject_version;
	return e->rc == STORE_EXISTS ? 0 : e->rc;
}

static int append(store_env *env, struct ev_in *e)
{
	return store_write_sync(env, apply_append, e);
}

/* Appends, then fails: the mutation is rolled back. */
static int apply_append_then_fail(store_txn *w, void *arg)
{
	int rc = apply_append(w, arg);
	return rc ? rc : 42;
}

static store_event *get(store_env *env, uint64_t seq)
{
	store_txn *r = NULL;
	store_event *rec = NULL;

	if (store_read_begin(env, &r) == 0)
		store_event_get(r, seq, &rec);
	store_read_end(r);
	return rec;
}

/* ------------------------------------------------------------------------
 * Tests
 */

static void test_event_id_is_derived_from_cause_subject_kind(void)
{
	char a[STORE_EVENT_ID_LEN + 1], b[STORE_EVENT_ID_LEN + 1], c[STORE_EVENT_ID_LEN + 1];

	store_event_id("ord_1", "items/x", "item.activated", a);
	store_event_id("ord_1", "items/x", "item.activated", b);
	CU_ASSERT_STRING_EQUAL(a, b);
	CU_ASSERT_EQUAL(strlen(a), STORE_EVENT_ID_LEN);
	CU_ASSERT_EQUAL(strncmp(a, "evt_", 4), 0);
	store_event_id("ord_1", "items/x", "item.renewed", c);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	/* the separators keep the parts apart */
	store_event_id("ord_1i", "tems/x", "item.activated", c);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
}

static void test_append_once_with_sequence_and_versions(void)
{
	struct ev_in e1 = ev("ord_1", "items/a", "item.activated", 100),
		     e2 = ev("ord_1", "items/b", "item.activated", 100),
		     e3 = ev("ord_2", "items/a", "item.renewed", 200),
		     again = ev("ord_1", "items/a", "item.activated", 300);
	store_event *got;
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(store_event_last_seq(s.env), 0);
	CU_ASSERT_EQUAL(append(s.env, &e1), 0);
	CU_ASSERT_EQUAL(append(s.env, &e2), 0);
	CU_ASSERT_EQUAL(append(s.env, &e3), 0);
	CU_ASSERT_EQUAL(e1.seq, 1);
	CU_ASSERT_EQUAL(e2.seq, 2);
	CU_ASSERT_EQUAL(e3.seq, 3);
	CU_ASSERT_EQUAL(e1.version, 1);
	CU_ASSERT_EQUAL(e2.version, 1);
	CU_ASSERT_EQUAL(e3.version, 2);
	CU_ASSERT_EQUAL(store_event_last_seq(s.env), 3);

	/* the same effect again: nothing new, the first one's number */
	CU_ASSERT_EQUAL(append(s.env, &again), 0);
	CU_ASSERT_EQUAL(again.rc, STORE_EXISTS);
	CU_ASSERT_EQUAL(again.seq, 1);
	CU_ASSERT_EQUAL(store_event_last_seq(s.env), 3);

	got = get(s.env, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got->subject, "items/a");
	CU_ASSERT_EQUAL(got->create_time, 100);
	CU_ASSERT_EQUAL(got->n_owners, 2);
	store_record_free(got);

	/* survives a reopen: the counter, and last_seq read at open */
	store_close(s.env);
	s.env = NULL;
	CU_ASSERT_EQUAL_FATAL(spt_store_reopen(&s, 0, NULL, 0), 0);
	CU_ASSERT_EQUAL(store_event_last_seq(s.env), 3);
	spt_store_close(&s);
}

static void test_repeat_is_recognised_among_recent_events(void)
{
	struct ev_in first = ev("c0", "items/z", "item.expired", 1), again;
	spt_store s;
	int i;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(append(s.env, &first), 0);
	/* other events of the subject after it, fewer than the window */
	for (i = 1; i < STORE_EVENT_DEDUPE; i++) {
		char cause[16];
		struct ev_in e;
		snprintf(cause, sizeof(cause), "c%d", i);
		e = ev(cause, "items/z", "item.renewed", i + 1);
		CU_ASSERT_EQUAL(append(s.env, &e), 0);
	}
	/* and events of other subjects do not push it out */
	for (i = 0; i < 100; i++) {
		char cause[16];
		struct ev_in e;
		snprintf(cause, sizeof(cause), "o%d", i);
		e = ev(cause, "items/other", "item.renewed", 100 + i);
		CU_ASSERT_EQUAL(append(s.env, &e), 0);
	}
	again = ev("c0", "items/z", "item.expired", 500);
	CU_ASSERT_EQUAL(append(s.env, &again), 0);
	CU_ASSERT_EQUAL(again.rc, STORE_EXISTS);
	CU_ASSERT_EQUAL(again.seq, first.seq);
	spt_store_close(&s);
}

static void test_rolled_back_mutation_leaves_no_gap(void)
{
	struct ev_in bad = ev("c1", "items/a", "item.deleted", 1),
		     good = ev("c2", "items/a", "k", 2);
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_append_then_fail, &bad), 42);
	CU_ASSERT_EQUAL(store_event_last_seq(s.env), 0);
	CU_ASSERT_EQUAL(append(s.env, &good), 0);
	CU_ASSERT_EQUAL(good.seq, 1);
	CU_ASSERT_EQUAL(good.version, 1);
	spt_store_close(&s);
}

static void test_append_validates(void)
{
	struct ev_in e = ev("c", "", "item.activated", 1);
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(append(s.env, &e), STORE_INVALID);
	spt_store_close(&s);
}

static int keep_kind(const store_event *ev, void *arg)
{
	return strcmp(ev->kind, arg) == 0;
}

static void test_scan_bounded_and_by_subject(void)
{
	store_event_query q = {0};
	store_list l = {0};
	store_txn *r = NULL;
	uint64_t last;
	int more, i;
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	for (i = 0; i < 30; i++) {
		char cause[16], subject[16];
		struct ev_in e = ev(cause, subject, i % 3 == 0 ? "a.x" : "b.y", i);
		snprintf(cause, sizeof(cause), "c%d", i);
		snprintf(subject, sizeof(subject), "s/%d", i % 5);
		CU_ASSERT_EQUAL(append(s.env, &e), 0);
	}
	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);

	/* a page of 7 after 10 */
	q.after = 10;
	q.limit = 7;
	CU_ASSERT_EQUAL(store_event_scan(r, &q, &l, &last, &more), 0);
	CU_ASSERT_EQUAL(l.n, 7);
	CU_ASSERT_EQUAL(((store_event *)l.items[0])->seq, 11);
	CU_ASSERT_EQUAL(last, 17);
	CU_ASSERT_EQUAL(more, 1);
	store_list_free(&l);

	/* the end */
	q.after = 25;
	CU_ASSERT_EQUAL(store_event_scan(r, &q, &l, &last, &more), 0);
	CU_ASSERT_EQUAL(l.n, 5);
	CU_ASSERT_EQUAL(last, 30);
	CU_ASSERT_EQUAL(more, 0);
	store_list_free(&l);

	/* a filter, bounded by what is examined */
	q.after = 0;
	q.limit = 100;
	q.keep = keep_kind;
	q.keep_arg = "a.x";
	q.max_scan = 12;
	CU_ASSERT_EQUAL(store_event_scan(r, &q, &l, &last, &more), 0);
	CU_ASSERT_EQUAL(l.n, 4); /* seqs 1, 4, 7, 10 */
	CU_ASSERT_EQUAL(last, 12);
	CU_ASSERT_EQUAL(more, 1);
	store_list_free(&l);

	/* one subject: s/2 is events 3, 8, 13, ... */
	memset(&q, 0, sizeof(q));
	q.subject = "s/2";
	q.after = 8;
	CU_ASSERT_EQUAL(store_event_scan(r, &q, &l, &last, &more), 0);
	CU_ASSERT_EQUAL(l.n, 4);
	CU_ASSERT_EQUAL(((store_event *)l.items[0])->seq, 13);
	CU_ASSERT_EQUAL(((store_event *)l.items[0])->subject_version, 3);
	CU_ASSERT_EQUAL(more, 0);
	store_list_free(&l);

	/* a subject that is a prefix of none */
	q.subject = "s/";
	CU_ASSERT_EQUAL(store_event_scan(r, &q, &l, &last, &more), 0);
	CU_ASSERT_EQUAL(l.n, 0);
	store_list_free(&l);
	store_read_end(r);
	spt_store_close(&s);
}

struct prune_arg {
	int64_t before;
	size_t max, deleted;
	int more;
};

static int apply_prune(store_txn *w, void *arg)
{
	struct prune_arg *p = arg;
	return store_event_prune(w, p->before, p->max, &p->deleted, &p->more);
}

static void test_prune_keeps_versions_going(void)
{
	struct prune_arg p = {1000, 3, 0, 0};
	struct ev_in e = ev(NULL, NULL, NULL, 0);
	store_txn *r = NULL;
	store_event *rec = NULL;
	uint64_t first;
	int i;
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	for (i = 0; i < 5; i++) {
		char cause[16];
		snprintf(cause, sizeof(cause), "old%d", i);
		e = ev(cause, "items/p", "item.renewed", 500 + i);
		CU_ASSERT_EQUAL(append(s.env, &e), 0);
	}
	e = ev("new", "items/q", "item.renewed", 2000);
	CU_ASSERT_EQUAL(append(s.env, &e), 0);

	/* bounded: 3, then the other 2, then nothing (the new one stays) */
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_prune, &p), 0);
	CU_ASSERT_EQUAL(p.deleted, 3);
	CU_ASSERT_EQUAL(p.more, 1);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_prune, &p), 0);
	CU_ASSERT_EQUAL(p.deleted, 2);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_prune, &p), 0);
	CU_ASSERT_EQUAL(p.deleted, 0);
	CU_ASSERT_EQUAL(p.more, 0);

	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_event_first_seq(r, &first), 0);
	CU_ASSERT_EQUAL(first, 6);
	CU_ASSERT_EQUAL(store_event_get(r, 1, &rec), STORE_NOTFOUND);
	store_read_end(r);

	/* the subject's versions go on after its events were pruned */
	e = ev("later", "items/p", "item.renewed", 3000);
	CU_ASSERT_EQUAL(append(s.env, &e), 0);
	CU_ASSERT_EQUAL(e.version, 6);
	CU_ASSERT_EQUAL(e.seq, 7);
	spt_store_close(&s);
}

static uint64_t hook_seen;
static int hook_calls;

static void hook(void *arg, uint64_t last)
{
	(void)arg;
	hook_seen = last;
	hook_calls++;
}

static int apply_nothing(store_txn *w, void *arg)
{
	(void)w;
	(void)arg;
	return 0;
}

static void test_commit_hook_after_event_batches_only(void)
{
	struct ev_in e = ev("c", "s/1", "k", 1);
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	store_set_commit_hook(s.env, hook, NULL);
	hook_calls = 0;
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_nothing, NULL), 0);
	CU_ASSERT_EQUAL(hook_calls, 0);
	CU_ASSERT_EQUAL(append(s.env, &e), 0);
	CU_ASSERT_EQUAL(hook_calls, 1);
	CU_ASSERT_EQUAL(hook_seen, 1);
	/* a duplicate appends nothing: no wake-up */
	CU_ASSERT_EQUAL(append(s.env, &e), 0);
	CU_ASSERT_EQUAL(hook_calls, 1);
	store_set_commit_hook(s.env, NULL, NULL);
	spt_store_close(&s);
}

/* ---- webhooks ---- */

struct wh {
	store_endpoint e;
	store_delivery d[4];
	int nd;
};

static int apply_wh(store_txn *w, void *arg)
{
	struct wh *x = arg;
	int rc = x->e.endpoint_id ? store_endpoint_put(w, &x->e, 0) : 0;
	for (int i = 0; rc == 0 && i < x->nd; i++)
		rc = store_delivery_put(w, &x->d[i]);
	return rc;
}

static int apply_delete_endpoint(store_txn *w, void *arg)
{
	return store_endpoint_delete(w, arg);
}

struct dprune {
	uint64_t before;
	size_t max, deleted;
	int more;
};

static int apply_dprune(store_txn *w, void *arg)
{
	struct dprune *p = arg;
	return store_delivery_prune(w, p->before, p->max, &p->deleted, &p->more);
}

static store_delivery delivery(const char *ep, uint64_t seq, int status, int64_t next)
{
	store_delivery d = STORE_DELIVERY_INIT;
	d.endpoint_id = (char *)ep;
	d.event_id = "evt_x";
	d.seq = seq;
	d.status = status;
	d.next_attempt_time = next;
	return d;
}

static void test_deliveries_due_index_and_prune(void)
{
	struct wh a, b;
	struct dprune p = {3, 100, 0, 0};
	store_list l = {0};
	store_txn *r = NULL;
	int64_t next;
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	smartplus__billing__store__v1__webhook_endpoint_record__init(&a.e);
	smartplus__billing__store__v1__webhook_endpoint_record__init(&b.e);
	a.e.endpoint_id = "whe_a";
	a.e.account_id = "d1";
	a.e.url = "https://example.com/a";
	a.d[0] = delivery("whe_a", 1, STORE_DELIVERY_DELIVERED, 0);
	a.d[1] = delivery("whe_a", 2, STORE_DELIVERY_PENDING, 500);
	a.d[2] = delivery("whe_a", 5, STORE_DELIVERY_PENDING, 100);
	a.nd = 3;
	b.e.endpoint_id = "whe_b";
	b.e.account_id = "d2";
	b.e.url = "https://example.com/b";
	b.d[0] = delivery("whe_b", 1, STORE_DELIVERY_DEAD, 0);
	b.d[1] = delivery("whe_b", 4, STORE_DELIVERY_PENDING, 300);
	b.nd = 2;
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_wh, &a), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_wh, &b), 0);

	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_delivery_due(r, 300, 10, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_EQUAL(((store_delivery *)l.items[0])->seq, 5);
	CU_ASSERT_STRING_EQUAL(((store_delivery *)l.items[1])->endpoint_id, "whe_b");
	store_list_free(&l);
	CU_ASSERT_EQUAL(store_delivery_next_due(r, &next), 0);
	CU_ASSERT_EQUAL(next, 100);
	CU_ASSERT_EQUAL(store_endpoint_list_by_account(r, "d1", 0, NULL, &l), 0);
	CU_ASSERT_EQUAL(l.n, 1);
	store_list_free(&l);
	store_read_end(r);

	/* delivered: out of the due index */
	a.d[0] = delivery("whe_a", 5, STORE_DELIVERY_DELIVERED, 0);
	a.nd = 1;
	a.e.endpoint_id = NULL;
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_wh, &a), 0);
	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_delivery_due(r, 1000, 10, &l), 0);
	CU_ASSERT_EQUAL(l.n, 2); /* whe_b/4 at 300, whe_a/2 at 500 */
	store_list_free(&l);
	store_read_end(r);

	/* prune: whe_b deleted (all its deliveries go, the pending one's due
	 * entry too); whe_a keeps its pending one and those at/after seq 3 */
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_delete_endpoint, "whe_b"), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_dprune, &p), 0);
	CU_ASSERT_EQUAL(p.deleted, 3); /* whe_a/1, whe_b/1, whe_b/4 */
	CU_ASSERT_EQUAL(p.more, 0);
	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_delivery_list(r, "whe_a", 0, NULL, &l), 0);
	CU_ASSERT_EQUAL(l.n, 2);
	store_list_free(&l);
	CU_ASSERT_EQUAL(store_delivery_due(r, 1000, 10, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_STRING_EQUAL(((store_delivery *)l.items[0])->endpoint_id, "whe_a");
	store_list_free(&l);
	store_read_end(r);
	spt_store_close(&s);
}

static CU_TestInfo tests[] = {
	{"event id is derived from cause, subject, kind",
	 test_event_id_is_derived_from_cause_subject_kind},
	{"append once, with sequence and versions", test_append_once_with_sequence_and_versions},
	{"a repeat is recognised among the subject's recent events",
	 test_repeat_is_recognised_among_recent_events},
	{"rolled-back mutation leaves no gap", test_rolled_back_mutation_leaves_no_gap},
	{"append validates", test_append_validates},
	{"scan: bounded, filtered, by subject", test_scan_bounded_and_by_subject},
	{"prune keeps versions going", test_prune_keeps_versions_going},
	{"commit hook after event batches only", test_commit_hook_after_event_batches_only},
	{"deliveries: due index and prune", test_deliveries_due_index_and_prune},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"storage_events", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
