/*
 * test_events_crash.c - kill -9 between the commit of an event and its
 * delivery (issue 15): billingd runs with SPB_FAULT=writer.after_commit:1,
 * so the first write transaction kills the process right after it is
 * durable, before any watcher is woken and before the caller is answered.
 * A watcher (the SDK's event watch, in its own thread) is open from the
 * last sequence it saw; billingd is restarted on the same port; then:
 *
 *   - the watch reconnects by itself and yields the event exactly once,
 *     with the next sequence number, nothing before it, nothing after;
 *   - the event id is the one derived from its cause (the transfer), and
 *     the caller's retry with its idempotency key gets that transfer back
 *     (R17): the effect and its event exist once;
 *   - ListEvents and a fresh watch from the same point agree.
 *
 * Usage: test_events_crash BILLINGD.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "spbilling.h"
#include "spt_billingd.h"
#include "spt_enums.h"
#include "spt_run.h"
#include "spt_sdk.h"

static spt_billingd srv;

static spb_client *client(void)
{
	spb_client_options co = SPB_CLIENT_OPTIONS_INIT;
	co.api_key = srv.admin_key;
	co.max_retries = 0; /* the test decides when to retry */
	co.default_deadline_ms = 5000;
	return spb_client_new(srv.target, &co);
}

static int assign(spb_client *c, const char *key, char transfer[64])
{
	Smartplus__Billing__V1__AssignCreditsRequest r =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	int rc;

	o.idempotency_key = key;
	r.account_id = "vendor";
	r.to_account_id = "k1";
	r.credits = 1;
	rc = spb_billing_assign_credits(c, &r, &resp, &o);
	if (rc == 0 && transfer)
		snprintf(transfer, 64, "%s", resp->transfer_id);
	spb_message_free(resp);
	return rc;
}

/* The id billingd derives: "evt_" + hex of the first 16 bytes of
 * SHA-256(cause NUL subject NUL kind), computed here independently. */
static void derived_id(const char *cause, const char *subject, const char *kind, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, cause, strlen(cause) + 1);
	EVP_DigestUpdate(c, subject, strlen(subject) + 1);
	EVP_DigestUpdate(c, kind, strlen(kind) + 1);
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	memcpy(out, "evt_", 4);
	for (int i = 0; i < 16; i++) {
		out[4 + 2 * i] = hex[md[i] >> 4];
		out[5 + 2 * i] = hex[md[i] & 0xf];
	}
	out[36] = '\0';
}

/* The watcher thread: collects events until cancelled. */
typedef struct watcher {
	spb_event_watch *w;
	pthread_mutex_t lock;
	Smartplus__Billing__V1__Event *got[8];
	int n;
	int caught_up;
	int end_rc;
} watcher;

static void *watch_main(void *arg)
{
	watcher *wt = arg;
	Smartplus__Billing__V1__Event *ev = NULL;
	int rc;

	while ((rc = spb_events_watch_next(wt->w, &ev, 100)) == 0 || rc == SPB_ETIMEOUT) {
		pthread_mutex_lock(&wt->lock);
		wt->caught_up = wt->caught_up || spb_events_watch_caught_up(wt->w);
		if (rc == 0 && wt->n < 8)
			wt->got[wt->n++] = ev;
		else if (rc == 0)
			spb_message_free(ev);
		pthread_mutex_unlock(&wt->lock);
	}
	wt->end_rc = rc;
	return NULL;
}

static int watcher_count(watcher *wt, int *caught_up)
{
	int n;
	pthread_mutex_lock(&wt->lock);
	n = wt->n;
	if (caught_up)
		*caught_up = wt->caught_up;
	pthread_mutex_unlock(&wt->lock);
	return n;
}

/* Events of accounts/k1 after `after`, by a fresh watch until caught up. */
static int watch_once(spb_client *c, long long after, Smartplus__Billing__V1__Event **first)
{
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	spb_event_watch *w = NULL;
	Smartplus__Billing__V1__Event *ev = NULL;
	int n = 0, rc = 0;

	wo.after_sequence = after;
	wo.subject = "accounts/k1";
	if (spb_events_watch_open(&w, c, &wo) != 0)
		return -1;
	for (int i = 0; i < 100 && !spb_events_watch_caught_up(w); i++) {
		rc = spb_events_watch_next(w, &ev, 100);
		if (rc == 0 && n++ == 0 && first)
			*first = ev;
		else if (rc == 0)
			spb_message_free(ev);
	}
	spb_events_watch_free(w);
	return n;
}

static void test_kill9_between_commit_and_delivery(void)
{
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	watcher wt = {.lock = PTHREAD_MUTEX_INITIALIZER};
	Smartplus__Billing__V1__Event *first = NULL, *again = NULL;
	char transfer[64] = "", retried[64] = "", id[37], listen[64];
	const char *same_port[3] = {"--listen", listen, NULL};
	spb_client *c;
	long long pos = 0;
	int caught_up = 0, n, sig = 0;
	pthread_t t;

	SPT_REQUIRE(spt_billingd_start(&srv, NULL) == 0, "billingd starts");
	c = client();
	{
		Smartplus__Billing__V1__CreateAccountRequest r =
			SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
		Smartplus__Billing__V1__CreateAccountResponse *resp = NULL;
		r.account_id = "k1";
		r.role = V1(ROLE__ROLE_DISTRIBUTOR);
		r.parent_id = "vendor";
		r.display_name = "k1";
		SPT_CHECK(spb_directory_create_account(c, &r, &resp, NULL) == 0, "account k1");
		spb_message_free(resp);
	}
	SPT_CHECK(assign(c, "first", NULL) == 0, "a first credit");
	SPT_CHECK(watch_once(c, 0, &first) == 1 && first, "the watcher saw its event");
	pos = first ? first->sequence : 0;
	spb_message_free(first);
	first = NULL;
	spb_client_free(c);
	SPT_CHECK(spt_billingd_stop(&srv) == 0, "stop");

	/* the next commit kills billingd right after it is durable */
	SPT_REQUIRE(spt_billingd_restart_with(&srv, "writer.after_commit:1", NULL) == 0,
		    "start with the fault");
	snprintf(listen, sizeof(listen), "%s", srv.target);
	c = client();
	wo.after_sequence = pos;
	wo.subject = "accounts/k1";
	SPT_CHECK(spb_events_watch_open(&wt.w, c, &wo) == 0, "watch from the last sequence seen");
	pthread_create(&t, NULL, watch_main, &wt);
	for (int i = 0; i < 100 && (watcher_count(&wt, &caught_up), !caught_up); i++)
		usleep(50 * 1000);
	SPT_CHECK(caught_up && watcher_count(&wt, NULL) == 0, "watching live, nothing new yet");

	SPT_CHECK(assign(c, "crash-1", NULL) == SPB_EUNAVAILABLE, "the call is never answered");
	for (int i = 0; i < 100 && !spt_billingd_exited(&srv, &sig); i++)
		usleep(20 * 1000);
	SPT_CHECK(sig == 9, "billingd was killed by the fault point (signal %d)", sig);
	SPT_CHECK(watcher_count(&wt, NULL) == 0, "the event did not reach the watcher before");

	SPT_REQUIRE(spt_billingd_restart_with(&srv, NULL, same_port) == 0,
		    "restart on the same port");
	for (int i = 0; i < 200 && watcher_count(&wt, NULL) == 0; i++)
		usleep(50 * 1000);
	usleep(500 * 1000); /* time for a duplicate, if there were one */
	n = watcher_count(&wt, NULL);
	SPT_CHECK(n == 1, "after the restart the watch yields the event once (%d)", n);
	spb_events_watch_cancel(wt.w);
	pthread_join(t, NULL);
	SPT_CHECK(wt.end_rc == SPB_ERROR, "the watch ends when cancelled");
	spb_events_watch_free(wt.w);

	SPT_CHECK(assign(c, "crash-1", retried) == 0, "the retry with the same key is answered");
	if (n >= 1) {
		Smartplus__Billing__V1__Event *ev = wt.got[0];
		SPT_CHECK(ev->sequence == pos + 1, "the next sequence (%lld after %lld)",
			  (long long)ev->sequence, pos);
		SPT_CHECK(strcmp(ev->kind, "credits.assigned") == 0 &&
				  ev->data_case == V1(EVENT__DATA_TRANSFER),
			  "credits.assigned");
		SPT_CHECK(strcmp(ev->transfer->transfer_id, retried) == 0 &&
				  strcmp(ev->cause, retried) == 0,
			  "the transfer the retry got back (%s, %s)", ev->transfer->transfer_id,
			  retried);
		derived_id(retried, "accounts/k1", "credits.assigned", id);
		SPT_CHECK(strcmp(ev->event_id, id) == 0,
			  "the id derived from (cause, subject, kind)");
		snprintf(transfer, sizeof(transfer), "%s", ev->event_id);
	}
	SPT_CHECK(watch_once(c, pos, &again) == 1 && again &&
			  strcmp(again->event_id, transfer) == 0,
		  "a fresh watch from the same point: the same one event");
	spb_message_free(again);
	{
		Smartplus__Billing__V1__ListEventsRequest r =
			SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
		Smartplus__Billing__V1__ListEventsResponse *resp = NULL;
		Smartplus__Billing__V1__GetCreditBalanceRequest b =
			SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
		Smartplus__Billing__V1__GetCreditBalanceResponse *br = NULL;
		r.after_sequence = pos;
		SPT_CHECK(spb_event_list_events(c, &r, &resp, NULL) == 0 && resp->n_events == 1 &&
				  strcmp(resp->events[0]->event_id, transfer) == 0,
			  "ListEvents agrees: one event after %lld", pos);
		spb_message_free(resp);
		b.account_id = "k1";
		SPT_CHECK(spb_billing_get_credit_balance(c, &b, &br, NULL) == 0 && br->credits == 2,
			  "the credit was applied once");
		spb_message_free(br);
	}
	for (int i = 0; i < wt.n; i++)
		spb_message_free(wt.got[i]);
	spb_client_free(c);
	SPT_CHECK(spt_billingd_stop(&srv) == 0, "stop");
	spt_billingd_free(&srv);
}

static CU_TestInfo tests[] = {
	{"kill -9 between commit and delivery: after the restart the watch yields the event once, "
	 "same id",
	 test_kill9_between_commit_and_delivery},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"events crash", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
