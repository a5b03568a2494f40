#ifndef SPB_EVENTS_H
#define SPB_EVENTS_H

/*
 * events.h: the platform's events (issue 15) on top of the outbox
 * (storage/store_event.h): the emission API used by every change, the reader
 * rule of EventService, retention. The emitters that need the item and
 * order modules, the expiry sweep and the events thread are in
 * event_sources.h (so that the modules they read can still emit here).
 *
 * Emitting. A change records its event with one call inside its own write
 * transaction (apply(), on the writer thread): the event commits with the
 * change or not at all. Its id is derived from (cause, subject, kind):
 * emitting again for the same cause (a retried or resumed effect, a second
 * sweep) records nothing, so every change yields its event exactly once.
 * Time is the server clock (the test clock included); the owners are the
 * accounts on the path from the subject's owning account up to the vendor.
 *
 * For a new change site (another module): call events_emit() in the same
 * apply() that writes the change, after the write, and return its code
 * (non-zero rolls the whole change back). For example, a renewal module
 * recording that an item was renewed by order o:
 *
 *     rc = store_item_put(w, it, 0);
 *     if (rc == 0)
 *             rc = events_emit(w, EV_ITEM_RENEWED, "items/it_1", o->order_id,
 *                              o->actor_id, o->installer_id, NULL, &api_item->base);
 *
 * (events_item() and events_order() of event_sources.h build the subject,
 * owners and payload of item.* and order.* / renewal.* events for you.) A
 * new kind: add its EV_* define here and to the `kinds` table of events.c;
 * a new payload type: add it to the `data` oneof of Event in
 * event_service.proto (events_emit() finds the field by its type).
 *
 * Reading. A caller acting as account A sees an event when A is one of its
 * owners; the vendor (also a SERVICE key not acting for anyone) sees all.
 *
 * The expiry sweep. item.expired is emitted once per item per expiry date
 * when the clock passes it, item.expiring_soon once per item per expiry date
 * when the date comes within the warning window (default 7 days). The sweep
 * walks the expiry index from where the last one stopped (meta
 * "expiry_swept_us"), so each date is looked at once; it runs on a timer
 * with the real clock and inside AdminService.AdvanceClock (in time order
 * with the renewals) with the test clock.
 *
 * Retention: events older than the retention period (default 30 days) are
 * deleted in bounded batches by write mutations of the events thread, with
 * the deliveries that no longer matter.
 */

#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "store_event.h"
#include "rpc.h"
#include "smartplus/billing/v1/event_service.pb-c.h"
#include "store.h"
#include "store_ledger.h"

/* The kinds. */
#define EV_ITEM_ACTIVATED "item.activated"
#define EV_ITEM_RENEWED "item.renewed"
#define EV_ITEM_EXPIRING_SOON "item.expiring_soon"
#define EV_ITEM_EXPIRED "item.expired"
#define EV_ITEM_DELETED "item.deleted"
#define EV_ORDER_CREATED "order.created"
#define EV_ORDER_SUCCEEDED "order.succeeded"
#define EV_ORDER_FAILED "order.failed"
#define EV_ORDER_CANCELED "order.canceled"
#define EV_ORDER_TIMED_OUT "order.timed_out"
#define EV_ORDER_DISPUTED "order.disputed"
#define EV_RENEWAL_FAILED "renewal.failed"
#define EV_RENEWAL_REQUIRES_ACTION "renewal.requires_action"
/* renewal groups (issue 16) */
#define EV_RENEWAL_UPCOMING "renewal.upcoming"
#define EV_ITEM_GRACE_STARTED "item.grace_started"
#define EV_PAYMENT_REQUEST_CREATED "payment_request.created"
#define EV_PAYMENT_REQUEST_APPROVED "payment_request.approved"
#define EV_PAYMENT_REQUEST_DECLINED "payment_request.declined"
#define EV_PAYMENT_REQUEST_EXPIRED "payment_request.expired"
#define EV_CREDITS_PURCHASED "credits.purchased"
#define EV_CREDITS_ASSIGNED "credits.assigned"
#define EV_CREDITS_SPENT "credits.spent"
#define EV_CREDITS_REFUNDED "credits.refunded"
#define EV_POLICY_CHANGED "policy.changed"
#define EV_PRICE_CHANGED "price.changed"
#define EV_COUPON_REDEEMED "coupon.redeemed"
#define EV_WEBHOOK_TEST "webhook.test"

/* 1 if kind is one of the kinds above, else 0. */
int events_kind_known(const char *kind);

/* Settings; call before events_start(). 0 keeps the default. */
typedef struct events_options {
	int64_t retention_us;     /* default 30 days */
	int64_t expiring_soon_us; /* default 7 days */
	int disabled;             /* 1: events_emit() records nothing (measurements) */
} events_options;
void events_configure(const events_options *o);

/*
 * Records an event in w, the write transaction of the change.
 *   kind      one of EV_*
 *   subject   "items/<id>", "orders/<id>", ... (at most 200 bytes)
 *   cause     what made it happen; with the subject and kind it makes the
 *             event's id. NULL: this change itself, whatever it is (a
 *             fresh cause: the event's sequence number).
 *   actor     the acting account, NULL or "" for the server
 *   owner     the account owning the subject; it and its ancestors see the
 *             event
 *   also      another account whose ancestors' path also sees it (a
 *             project's property manager, a payer outside the owner's
 *             path), or NULL
 *   data      the payload: an API message of one of the types of
 *             smartplus.billing.v1.Event's `data` oneof, or NULL
 * Returns 0 (also when this event was recorded before) or a STORE_* code
 * (STORE_INVALID for a kind or payload type the Event cannot carry).
 */
int events_emit(store_txn *w, const char *kind, const char *subject, const char *cause,
		const char *actor, const char *owner, const char *also,
		const ProtobufCMessage *data);
/* The same, and *seq gets the event's sequence number (that of the event
 * recorded before, for a repeat; 0 when events are switched off). */
int events_emit_seq(store_txn *w, const char *kind, const char *subject, const char *cause,
		    const char *actor, const char *owner, const char *also,
		    const ProtobufCMessage *data, uint64_t *seq);

/*
 * One-call helpers for the change sites that need no other module (the
 * ones that do are in event_sources.h). Each reads what it needs in w and
 * builds subject, owners and payload; the state recorded is the one in w
 * when called, so call them after the change is written.
 */

/* item.*: subject "items/<id>", owner the project's installer (also its
 * property manager), payload the Item at the server clock with its R4
 * `free` flag as given (events_item() in event_sources.h works it out). */
int events_item_emit(store_txn *w, const char *kind, const store_item *it, int is_free,
		     const char *cause, const char *actor);

/* The owners of an event about `account` (it and its ancestors), read in
 * any transaction. A handler may read them before its write and hand them
 * to the emitter (events_credits), so the writer thread does not: the tree
 * only grows and accounts never move, so a path read before stays true. */
#define EVENTS_PATH_MAX 16
typedef struct events_path {
	char id[EVENTS_PATH_MAX][65];
	size_t n;
} events_path;
int events_path_of(store_txn *txn, const char *account, events_path *out);

/* credits.* for the transfer r just made in w (kind from its TransferKind:
 * purchased, assigned, spent, refunded): subject "accounts/<the side that
 * is not the issuer>", cause the transfer id, payload a CreditTransfer.
 * path: its owners read beforehand (events_path_of() of that side; it must
 * also cover the other side, as a sender above its receiver is), or NULL
 * to read them here. */
int events_credits(store_txn *w, const ledger_result *r, const char *from, const char *to,
		   int64_t credits, int kind, const char *order_id, const char *actor,
		   const events_path *path);

/* policy.changed: installer_id's policy as now stored, given as its API
 * message (subject "installers/<id>/paymentPolicy"). */
int events_policy(store_txn *w, const char *installer_id,
		  const Smartplus__Billing__V1__InstallerPaymentPolicy *policy, const char *actor);

/* price.changed: a price ("prices/<ProjectType>/<ServiceType>") or the
 * credit price ("creditPrices/<currency>"); the vendor's events. */
int events_price(store_txn *w, const store_price *p, const char *actor);
int events_credit_price(store_txn *w, const store_credit_price *p, const char *actor);

/* ------------------------------------------------------------------------
 * Readers (EventService)
 */

/* Copies what a reader may see: the subtree root (the caller's account, or
 * a descendant it chose) and the filters. */
typedef struct events_filter {
	char root[65]; /* "" or "vendor": everything */
	char **kinds;  /* NULL-free array, n_kinds long; empty = all */
	size_t n_kinds;
	char subject[201]; /* "" = all */
} events_filter;

/* 1 if ev passes f (visibility and filters), else 0. */
int events_filter_keep(const store_event *ev, void *f);

/*
 * Checks and copies the common request fields of ListEvents / WatchEvents
 * into f (f->kinds points into the request, which must outlive f): kinds
 * known, subject short and printable, account_id one the caller may act on.
 * Fails the call (INVALID_ARGUMENT naming the field, PERMISSION_DENIED,
 * storage errors) and returns -1, else 0.
 */
int events_filter_init(rpc_call *call, events_filter *f, char **kinds, size_t n_kinds,
		       const char *subject, const char *account_id);

/* The API Event of ev, built in arena a (strings point into ev, which must
 * outlive it). Its payload is unpacked into *payload, which the caller frees
 * with protobuf_c_message_free_unpacked() once the Event is no longer used
 * (NULL when there is none). 0, or STORE_CORRUPT for an undecodable
 * payload. */
int events_to_api(arena *a, const store_event *ev, Smartplus__Billing__V1__Event **out,
		  ProtobufCMessage **payload);

/*
 * Tailing: fn(arg, last_seq) is called on the writer thread after each
 * commit that appended events (see store_set_commit_hook; keep it short).
 * Up to 4 listeners (WatchEvents, the webhook worker).
 */
void events_listen(void (*fn)(void *arg, uint64_t last_seq), void *arg);

/* ------------------------------------------------------------------------
 * Settings and life
 */

/* 1 unless events are switched off (--events off). */
int events_enabled(void);
/* The item.expiring_soon warning window. */
int64_t events_expiring_soon_us(void);

/* Installs (on) or removes the commit hook that runs the listeners. */
void events_hook_commits(store_env *env, int on);

/* Deletes, in bounded batches, the events older than the retention
 * period at `now` and the deliveries that no longer matter. Returns how
 * many events were deleted, or a negative STORE_* code. */
int events_prune(int64_t now);

#endif
