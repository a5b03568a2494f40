/*
 * events.c: the core of the events: emission, the reader rule, the commit
 * listeners, retention. See events.h (the emitters that need the order and
 * item modules, and the expiry sweep, are event_sources.c).
 *
 * Why an event can be neither lost nor doubled: events_emit() runs inside
 * the mutation that makes the change, so the outbox row commits with it or
 * rolls back with it; and the row's id is a hash of (cause, subject, kind),
 * checked by store_event_append() in the same transaction, so running the
 * same effect again (a resumed order, an overlapping sweep) finds the row
 * and adds nothing.
 */
#include "events.h"
#include "xalloc.h"
#include "handler.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "enums.h"
#include "billingd.h"
#include "clock.h"
#include "store_ledger.h"
#include "log.h"
#include "store_webhook.h"

#define DAY_US (INT64_C(86400) * 1000000)
#define MAX_OWNERS 16
#define SUBJECT_MAX 200
#define PRUNE_BATCH 1000

static const char *const kinds[] = {
	EV_ITEM_ACTIVATED,
	EV_ITEM_RENEWED,
	EV_ITEM_EXPIRING_SOON,
	EV_ITEM_EXPIRED,
	EV_ITEM_DELETED,
	EV_ORDER_CREATED,
	EV_ORDER_SUCCEEDED,
	EV_ORDER_FAILED,
	EV_ORDER_CANCELED,
	EV_ORDER_TIMED_OUT,
	EV_ORDER_DISPUTED,
	EV_RENEWAL_FAILED,
	EV_RENEWAL_REQUIRES_ACTION,
	EV_RENEWAL_UPCOMING,
	EV_ITEM_GRACE_STARTED,
	EV_PAYMENT_REQUEST_CREATED,
	EV_PAYMENT_REQUEST_APPROVED,
	EV_PAYMENT_REQUEST_DECLINED,
	EV_PAYMENT_REQUEST_EXPIRED,
	EV_CREDITS_PURCHASED,
	EV_CREDITS_ASSIGNED,
	EV_CREDITS_SPENT,
	EV_CREDITS_REFUNDED,
	EV_POLICY_CHANGED,
	EV_PRICE_CHANGED,
	EV_COUPON_REDEEMED,
	EV_WEBHOOK_TEST,
};

static struct {
	int64_t retention_us;
	int64_t soon_us;
	int disabled;
} cfg = {30 * DAY_US, 7 * DAY_US, 0};

int events_kind_known(const char *kind)
{
	for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return 1;
	return 0;
}

int events_enabled(void)
{
	return !cfg.disabled;
}

int64_t events_expiring_soon_us(void)
{
	return cfg.soon_us;
}

void events_configure(const events_options *o)
{
	if (o->retention_us > 0)
		cfg.retention_us = o->retention_us;
	if (o->expiring_soon_us > 0)
		cfg.soon_us = o->expiring_soon_us;
	cfg.disabled = o->disabled;
}

/* ------------------------------------------------------------------------ */
/* Emitting                                                                  */

typedef struct owners {
	char *id[MAX_OWNERS];
	size_t n;
} owners;

static int owners_has(const owners *o, const char *id)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->id[i], id) == 0)
			return 1;
	return 0;
}

/* Adds account and its ancestors (read in w). An unknown account adds
 * only itself: the event is then visible to the vendor, always added. */
static int owners_add_path(store_txn *w, owners *o, const char *account)
{
	char *cur = account && account[0] ? xstrdup(account) : NULL;
	int rc = 0;

	for (int hops = 0; cur && hops < 8; hops++) {
		store_account *a = NULL;
		char *parent = NULL;

		if (owners_has(o, cur) || o->n == MAX_OWNERS) {
			free(cur);
			cur = NULL;
			break;
		}
		o->id[o->n++] = cur;
		rc = store_account_get(w, cur, &a);
		if (rc == 0 && a->parent_id[0])
			parent = xstrdup(a->parent_id);
		store_record_free(a);
		if (rc == STORE_NOTFOUND)
			rc = 0;
		cur = parent;
		if (rc != 0)
			break;
	}
	free(cur);
	return rc;
}

static void owners_free(owners *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->id[i]);
	o->n = 0;
}

/* The field of Event's `data` oneof that carries a message of type d. */
static const ProtobufCFieldDescriptor *payload_field(const ProtobufCMessageDescriptor *d)
{
	const ProtobufCMessageDescriptor *ev = &smartplus__billing__v1__event__descriptor;

	for (unsigned i = 0; i < ev->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &ev->fields[i];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    f->type == PROTOBUF_C_TYPE_MESSAGE && f->descriptor == d)
			return f;
	}
	return NULL;
}

/* events_emit_seq(); fresh: the cause was made in this transaction (no
 * repeat to look for). */
static int emit(store_txn *w, const char *kind, const char *subject, const char *cause,
		const char *actor, const char *owner, const char *also,
		const ProtobufCMessage *data, int fresh, const events_path *path, uint64_t *seq);

int events_emit(store_txn *w, const char *kind, const char *subject, const char *cause,
		const char *actor, const char *owner, const char *also,
		const ProtobufCMessage *data)
{
	return emit(w, kind, subject, cause, actor, owner, also, data, 0, NULL, NULL);
}

int events_emit_seq(store_txn *w, const char *kind, const char *subject, const char *cause,
		    const char *actor, const char *owner, const char *also,
		    const ProtobufCMessage *data, uint64_t *seq)
{
	return emit(w, kind, subject, cause, actor, owner, also, data, 0, NULL, seq);
}

static int emit(store_txn *w, const char *kind, const char *subject, const char *cause,
		const char *actor, const char *owner, const char *also,
		const ProtobufCMessage *data, int fresh, const events_path *path, uint64_t *seq)
{
	store_event rec = STORE_EVENT_INIT;
	char id[STORE_EVENT_ID_LEN + 1], own_cause[32];
	const ProtobufCFieldDescriptor *f = NULL;
	owners o = {{0}, 0};
	uint8_t *buf = NULL;
	int rc;

	if (seq)
		*seq = 0;
	if (cfg.disabled)
		return 0;
	if (!events_kind_known(kind) || !subject || !subject[0] || strlen(subject) > SUBJECT_MAX ||
	    (data && !(f = payload_field(data->descriptor))))
		return STORE_INVALID;
	if (!cause) {
		/* this change itself: nothing else has its next sequence number */
		uint64_t next = 0;
		rc = store_meta_get(w, "event_seq", &next);
		if (rc != 0)
			return rc;
		snprintf(own_cause, sizeof(own_cause), "seq:%" PRIu64, next + 1);
		cause = own_cause;
		fresh = 1;
	}
	if (path) { /* read before the write: the tree only grows */
		for (size_t i = 0; i < path->n && i < MAX_OWNERS; i++)
			o.id[o.n++] = xstrdup(path->id[i]);
	} else {
		rc = owners_add_path(w, &o, owner);
		if (rc == 0 && also)
			rc = owners_add_path(w, &o, also);
	}
	if (rc == 0 && !owners_has(&o, "vendor") && o.n < MAX_OWNERS)
		o.id[o.n++] = xstrdup("vendor");
	if (rc != 0)
		goto done;
	store_event_id(cause, subject, kind, id);
	rec.event_id = id;
	rec.kind = (char *)kind;
	rec.subject = (char *)subject;
	rec.cause = (char *)cause;
	rec.create_time = clock_now_us();
	rec.actor_id = (char *)(actor ? actor : "");
	rec.account_id = (char *)(owner ? owner : "");
	rec.n_owners = o.n;
	rec.owners = o.id;
	if (data) {
		size_t n = protobuf_c_message_get_packed_size(data);
		buf = xmalloc(n);
		protobuf_c_message_pack(data, buf);
		rec.data_field = (int32_t)f->id;
		rec.data.data = buf;
		rec.data.len = n;
	}
	rc = fresh ? store_event_append_new(w, &rec) : store_event_append(w, &rec);
	if (rc == STORE_EXISTS)
		rc = 0; /* recorded before: exactly once */
	if (rc == 0 && seq)
		*seq = rec.seq;
done:
	free(buf);
	owners_free(&o);
	return rc;
}

int events_item_emit(store_txn *w, const char *kind, const store_item *it, int is_free,
		     const char *cause, const char *actor)
{
	store_project *p = NULL;
	char subject[SUBJECT_MAX + 1];
	int rc;
	arena *a;

	if (cfg.disabled)
		return 0;
	rc = store_project_get(w, it->project_id, &p);
	if (rc != 0)
		return rc == STORE_NOTFOUND ? STORE_CORRUPT : rc;
	a = arena_new();
	if (!a) {
		store_record_free(p);
		return STORE_IO;
	}
	snprintf(subject, sizeof(subject), "items/%s", it->item_id);
	rc = events_emit(w, kind, subject, cause, actor, p->installer_id,
			 p->property_manager_id[0] ? p->property_manager_id : NULL,
			 &conv_item(a, it, clock_now_us(), is_free)->base);
	arena_free(a);
	store_record_free(p);
	return rc;
}

int events_policy(store_txn *w, const char *installer_id,
		  const Smartplus__Billing__V1__InstallerPaymentPolicy *policy, const char *actor)
{
	char subject[SUBJECT_MAX + 1];

	if (cfg.disabled)
		return 0;
	snprintf(subject, sizeof(subject), "installers/%s/paymentPolicy", installer_id);
	return events_emit(w, EV_POLICY_CHANGED, subject, NULL, actor, installer_id, NULL,
			   &policy->base);
}

int events_path_of(store_txn *txn, const char *account, events_path *out)
{
	owners o = {{0}, 0};
	int rc = owners_add_path(txn, &o, account);

	out->n = 0;
	for (size_t i = 0; rc == 0 && i < o.n && out->n < EVENTS_PATH_MAX; i++)
		snprintf(out->id[out->n++], sizeof(out->id[0]), "%s", o.id[i]);
	owners_free(&o);
	return rc;
}

int events_credits(store_txn *w, const ledger_result *r, const char *from, const char *to,
		   int64_t credits, int kind, const char *order_id, const char *actor,
		   const events_path *path)
{
	Smartplus__Billing__V1__CreditTransfer t = SMARTPLUS__BILLING__V1__CREDIT_TRANSFER__INIT;
	static const char *const by_kind[] = {
		[LEDGER_PURCHASE] = EV_CREDITS_PURCHASED,
		[LEDGER_ALLOCATION] = EV_CREDITS_ASSIGNED,
		[LEDGER_SPEND] = EV_CREDITS_SPENT,
		[LEDGER_REFUND] = EV_CREDITS_REFUNDED,
	};
	char subject[SUBJECT_MAX + 1];
	const char *owner, *other;

	if (cfg.disabled)
		return 0;
	if (kind < LEDGER_PURCHASE || kind > LEDGER_REFUND)
		return STORE_INVALID;
	/* the side that is not the issuance account owns it */
	owner = strcmp(to, LEDGER_ISSUER) == 0 ? from : to;
	other = owner == to ? from : to;
	snprintf(subject, sizeof(subject), "accounts/%s", owner);
	t.transfer_id = (char *)r->transfer_id;
	t.from_account_id = (char *)from;
	t.to_account_id = (char *)to;
	t.credits = credits;
	t.kind = kind;
	t.order_id = (char *)(order_id ? order_id : "");
	t.from_balance = r->from_balance;
	t.to_balance = r->to_balance;
	/* a transfer is made once: its event is new */
	return emit(w, by_kind[kind], subject, r->transfer_id, actor, owner,
		    strcmp(other, LEDGER_ISSUER) == 0 ? NULL : other, &t.base, 1, path, NULL);
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
	return ev ? ev->name : "UNSPECIFIED";
}

int events_price(store_txn *w, const store_price *p, const char *actor)
{
	char subject[SUBJECT_MAX + 1];
	arena *a;
	int rc;

	if (cfg.disabled)
		return 0;
	a = arena_new();
	if (!a)
		return STORE_IO;
	snprintf(subject, sizeof(subject), "prices/%s/%s",
		 enum_name(&smartplus__billing__v1__project_type__descriptor, p->project_type),
		 enum_name(&smartplus__billing__v1__service_type__descriptor, p->service_type));
	rc = events_emit(w, EV_PRICE_CHANGED, subject, NULL, actor, "vendor", NULL,
			 &conv_price(a, p)->base);
	arena_free(a);
	return rc;
}

int events_credit_price(store_txn *w, const store_credit_price *p, const char *actor)
{
	Smartplus__Billing__V1__CreditPrice cp = SMARTPLUS__BILLING__V1__CREDIT_PRICE__INIT;
	char subject[SUBJECT_MAX + 1];

	if (cfg.disabled)
		return 0;
	snprintf(subject, sizeof(subject), "creditPrices/%s", p->currency);
	cp.unit_amount = p->unit_amount;
	cp.currency = p->currency;
	return events_emit(w, EV_PRICE_CHANGED, subject, NULL, actor, "vendor", NULL, &cp.base);
}

/* ------------------------------------------------------------------------ */
/* Readers                                                                   */

int events_filter_keep(const store_event *ev, void *arg)
{
	const events_filter *f = arg;
	int seen = 0;

	if (f->root[0] && strcmp(f->root, "vendor") != 0) {
		for (size_t i = 0; i < ev->n_owners && !seen; i++)
			seen = strcmp(ev->owners[i], f->root) == 0;
		if (!seen)
			return 0;
	}
	if (f->n_kinds) {
		seen = 0;
		for (size_t i = 0; i < f->n_kinds && !seen; i++)
			seen = strcmp(ev->kind, f->kinds[i]) == 0;
		if (!seen)
			return 0;
	}
	return !f->subject[0] || strcmp(ev->subject, f->subject) == 0;
}

int events_filter_init(rpc_call *call, events_filter *f, char **kinds_in, size_t n_kinds,
		       const char *subject, const char *account_id)
{
	const rpc_caller *caller = rpc_call_caller(call);
	size_t n = subject ? strlen(subject) : 0;

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < n_kinds; i++)
		if (!events_kind_known(kinds_in[i])) {
			BAD_ARG(call, "kinds[%zu]: unknown kind '%.64s'", i, kinds_in[i]);
			return -1;
		}
	f->kinds = kinds_in;
	f->n_kinds = n_kinds;
	if (n > SUBJECT_MAX) {
		BAD_ARG(call, "subject: at most %d characters", SUBJECT_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)subject[i] < 0x21 || (unsigned char)subject[i] > 0x7e) {
			BAD_ARG(call, "subject: printable ASCII without spaces");
			return -1;
		}
	if (n)
		memcpy(f->subject, subject, n + 1);
	if (account_id && account_id[0]) {
		store_txn *txn;
		int may;

		if (handler_check_id(call, "account_id", account_id) != 0)
			return -1;
		if (handler_read_begin(call, &txn) != 0)
			return -1;
		may = auth_may_act(txn, caller, account_id);
		store_read_end(txn);
		if (auth_deny(call, may, "account_id"))
			return -1;
		snprintf(f->root, sizeof(f->root), "%s", account_id);
	} else {
		snprintf(f->root, sizeof(f->root), "%s", caller->account_id);
	}
	return 0;
}

int events_to_api(arena *a, const store_event *ev, Smartplus__Billing__V1__Event **out,
		  ProtobufCMessage **payload)
{
	Smartplus__Billing__V1__Event *e = arena_alloc(a, sizeof(*e));
	const ProtobufCFieldDescriptor *f = NULL;

	*payload = NULL;
	*out = e;
	smartplus__billing__v1__event__init(e);
	e->event_id = ev->event_id;
	e->sequence = (int64_t)ev->seq;
	e->kind = ev->kind;
	e->subject = ev->subject;
	e->subject_version = (int64_t)ev->subject_version;
	e->create_time = conv_ts(a, ev->create_time);
	e->actor_id = ev->actor_id;
	e->cause = ev->cause;
	e->account_id = ev->account_id;
	if (!ev->data_field)
		return 0;
	f = protobuf_c_message_descriptor_get_field(&smartplus__billing__v1__event__descriptor,
						    (unsigned)ev->data_field);
	if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return STORE_CORRUPT;
	*payload = protobuf_c_message_unpack(f->descriptor, NULL, ev->data.len, ev->data.data);
	if (!*payload)
		return STORE_CORRUPT;
	/* the oneof: its case, then the member */
	*(uint32_t *)((char *)e + f->quantifier_offset) = f->id;
	*(ProtobufCMessage **)((char *)e + f->offset) = *payload;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Listeners of commits                                                      */

#define MAX_LISTENERS 4

static struct {
	void (*fn)(void *arg, uint64_t last_seq);
	void *arg;
} listeners[MAX_LISTENERS];
static int n_listeners; /* set before the store sees writes */

void events_listen(void (*fn)(void *arg, uint64_t last_seq), void *arg)
{
	if (n_listeners < MAX_LISTENERS) {
		listeners[n_listeners].fn = fn;
		listeners[n_listeners].arg = arg;
		__atomic_store_n(&n_listeners, n_listeners + 1, __ATOMIC_RELEASE);
	}
}

static void on_commit(void *arg, uint64_t last_seq)
{
	int n = __atomic_load_n(&n_listeners, __ATOMIC_ACQUIRE);

	(void)arg;
	for (int i = 0; i < n; i++)
		listeners[i].fn(listeners[i].arg, last_seq);
}

void events_hook_commits(store_env *env, int on)
{
	store_set_commit_hook(env, on ? on_commit : NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Retention                                                                 */

typedef struct prune_step {
	int64_t before;
	size_t deleted;
	int more;
} prune_step;

static int apply_prune_events(store_txn *w, void *arg)
{
	prune_step *p = arg;
	return store_event_prune(w, p->before, PRUNE_BATCH, &p->deleted, &p->more);
}

static int apply_prune_deliveries(store_txn *w, void *arg)
{
	prune_step *p = arg;
	uint64_t first = 0;
	int rc = store_event_first_seq(w, &first);

	if (rc == 0 && first == 0) {
		/* no event kept: every delivery is of a pruned one */
		rc = store_meta_get(w, "event_seq", &first);
		first++;
	}
	if (rc != 0)
		return rc;
	return store_delivery_prune(w, first, PRUNE_BATCH / 2, &p->deleted, &p->more);
}

/* Whether pruning has work (read first, so an idle store is not written):
 * the oldest event is past retention, or an hour has passed since the
 * deliveries were last looked at (deleted endpoints leave theirs). */
static int prune_due(int64_t before, int64_t now)
{
	static int64_t deliveries_at;
	store_event *ev = NULL;
	store_txn *txn = NULL;
	uint64_t first = 0;
	int due = 0;

	if (!deliveries_at)
		deliveries_at = now;
	if (now - deliveries_at >= INT64_C(3600) * 1000000) {
		deliveries_at = now;
		return 1;
	}
	if (store_read_begin(billingd.store, &txn) == 0 &&
	    store_event_first_seq(txn, &first) == 0 && first &&
	    store_event_get(txn, first, &ev) == 0)
		due = ev->create_time < before;
	store_record_free(ev);
	store_read_end(txn);
	return due;
}

int events_prune(int64_t now)
{
	prune_step p = {now - cfg.retention_us, 0, 0};
	long total = 0;
	int rc;

	if (!billingd.store || !prune_due(p.before, now))
		return 0;
	do {
		rc = store_write_sync(billingd.store, apply_prune_events, &p);
		total += rc == 0 ? (long)p.deleted : 0;
	} while (rc == 0 && p.more);
	while (rc == 0) {
		rc = store_write_sync(billingd.store, apply_prune_deliveries, &p);
		if (rc != 0 || !p.more)
			break;
	}
	if (rc != 0)
		log_error("events: retention: %s", store_strerror(rc));
	else if (total)
		log_info("events: %ld events past retention deleted", total);
	return rc != 0 ? rc : (int)(total > INT32_MAX ? INT32_MAX : total);
}
