/*
 * items.c: the items of a project. DirectoryService CreateItems (a batch of
 * up to 1000, all or nothing) and DeleteItem, by whoever may act on the
 * project's installer; BillingService.ListItems, with each item's status
 * (EXPIRED derived from expires_at at the server's now), expiry, renewal
 * settings and R4 free flag, readable by the installer's ancestors and the
 * project's property manager. Also the R4 free-item rule and the R5
 * integration item (items.h), shared with quotes, renewals and projects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "events.h"
#include "handler.h"
#include "items.h"
#include "renewal_groups.h"
#include "order_window.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"
#include "xalloc.h"

#define MAX_ITEMS_PER_CALL 1000

static int listed(const store_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(((const store_item *)l->items[i])->item_id, id) == 0)
			return 1;
	return 0;
}

int items_free_load(store_txn *txn, const store_project *p, items_free *out)
{
	int rc = 0;
	if (p->type == PTYPE(COMMERCIAL))
		rc = store_item_oldest(txn, p->project_id, STYPE(DOOR), 1, &out->doors);
	if (rc == 0 && p->free_additional_apps > 0)
		rc = store_item_oldest(txn, p->project_id, STYPE(ADDITIONAL_APP),
				       (size_t)p->free_additional_apps, &out->apps);
	return rc;
}

int items_free_has(const items_free *f, const char *item_id)
{
	return listed(&f->doors, item_id) || listed(&f->apps, item_id);
}

void items_free_release(items_free *f)
{
	store_list_free(&f->doors);
	store_list_free(&f->apps);
}

int items_is_free(store_txn *txn, const store_project *p, const store_item *it, int *out)
{
	store_list l = {0};
	int rc = 0;

	*out = 0;
	if (it->service_type == STYPE(DOOR) && p->type == PTYPE(COMMERCIAL))
		rc = store_item_oldest(txn, p->project_id, STYPE(DOOR), 1, &l);
	else if (it->service_type == STYPE(ADDITIONAL_APP) && p->free_additional_apps > 0)
		rc = store_item_oldest(txn, p->project_id, STYPE(ADDITIONAL_APP),
				       (size_t)p->free_additional_apps, &l);
	if (rc == 0)
		*out = listed(&l, it->item_id);
	store_list_free(&l);
	return rc;
}

void rpc_BillingService_ListItems(struct rpc_call *call,
				  const Smartplus__Billing__V1__ListItemsRequest *req)
{
	const rpc_caller *c = rpc_call_caller(call);
	Smartplus__Billing__V1__ListItemsResponse r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_RESPONSE__INIT;
	store_list items = {0};
	items_free fr = ITEMS_FREE_INIT;
	store_project *p = NULL;
	store_txn *txn = NULL;
	arena *a = NULL;
	int64_t now = clock_now_us();
	int rc, may = 0;

	if (handler_check_id(call, "project_id", req->project_id))
		return;
	if (req->service_type &&
	    !valid_enum(&smartplus__billing__v1__service_type__descriptor, req->service_type)) {
		BAD_ARG(call, "service_type: unknown value %d", req->service_type);
		return;
	}
	if (req->status &&
	    !valid_enum(&smartplus__billing__v1__item_status__descriptor, req->status)) {
		BAD_ARG(call, "status: unknown value %d", req->status);
		return;
	}
	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	rc = store_project_get(txn, req->project_id, &p);
	if (rc && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (rc == 0)
		may = auth_may_read_project(txn, c, p);
	if (auth_deny(call, may, "project_id"))
		goto done;
	rc = store_item_list_by_project(txn, p->project_id, req->page_size, req->page_token,
					&items);
	if (rc == 0)
		rc = items_free_load(txn, p, &fr);
	if (rc) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.items = arena_alloc(a, (items.n + 1) * sizeof(*r.items));
	for (size_t i = 0; i < items.n; i++) {
		const store_item *it = items.items[i];
		if (req->service_type && it->service_type != (int32_t)req->service_type)
			continue;
		if (req->status && conv_item_status(it, now) != (int)req->status)
			continue;
		r.items[r.n_items++] = conv_item(a, it, now, items_free_has(&fr, it->item_id));
	}
	r.next_page_token = items.next_page_token ? items.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&items);
	items_free_release(&fr);
	store_record_free(p);
	store_read_end(txn);
}

int items_valid_ref(const char *s)
{
	size_t n = strlen(ITEMS_INTEGRATION_PREFIX);
	return valid_id(s) ||
	       (s && strncmp(s, ITEMS_INTEGRATION_PREFIX, n) == 0 && valid_id(s + n));
}

void items_integration_init(store_item *it, const store_project *p, char id[ITEMS_REF_MAX],
			    int64_t now)
{
	smartplus__billing__store__v1__item_record__init(it);
	snprintf(id, ITEMS_REF_MAX, ITEMS_INTEGRATION_PREFIX "%s", p->project_id);
	it->item_id = id;
	it->project_id = p->project_id;
	it->service_type = STYPE(INTEGRATION);
	it->label = "PMS integration";
	it->status = STORE_ITEM_INACTIVE;
	it->create_time = now;
}

typedef struct create_items {
	rpc_write w;
	size_t n;
	store_item *recs;
} create_items;

static int apply_create_items(store_txn *txn, rpc_write *w)
{
	create_items *c = (create_items *)w;
	store_project *p = NULL;
	int rc = store_project_get(txn, c->recs[0].project_id, &p);
	store_record_free(p);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < c->n; i++) {
		c->recs[i].create_seq = 0; /* apply may run twice */
		rc = store_item_put(txn, &c->recs[i], 1);
		if (rc == STORE_EXISTS)
			return write_fail(w, GRPC_STATUS_ALREADY_EXISTS, NULL,
					  "items[%zu].item_id: '%s' is taken", i,
					  c->recs[i].item_id);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void reply_items(rpc_write *w)
{
	create_items *c = (create_items *)w;
	arena *a = arena_new();
	Smartplus__Billing__V1__CreateItemsResponse r =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_RESPONSE__INIT;
	int64_t now = clock_now_us();
	r.items = arena_alloc(a, c->n * sizeof(*r.items));
	for (size_t i = 0; i < c->n; i++)
		r.items[r.n_items++] = conv_item(a, &c->recs[i], now, 0);
	rpc_reply(w->call, &r.base);
	arena_free(a);
}

static void cleanup_items(rpc_write *w)
{
	free(((create_items *)w)->recs);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks every spec of a CreateItems request against the project's type. */
static int check_item_specs(rpc_call *call, const Smartplus__Billing__V1__CreateItemsRequest *req,
			    int type)
{
	char **ids;
	int bad = 0;
	for (size_t i = 0; i < req->n_items; i++) {
		const Smartplus__Billing__V1__ItemSpec *s = req->items[i];
		if (!valid_id(s->item_id)) {
			BAD_ARG(call, "items[%zu].item_id: " HANDLER_ID_RULE, i);
			return -1;
		}
		if (strncmp(s->item_id, ITEMS_INTEGRATION_PREFIX,
			    strlen(ITEMS_INTEGRATION_PREFIX)) == 0) {
			BAD_ARG(call,
				"items[%zu].item_id: the prefix '" ITEMS_INTEGRATION_PREFIX
				"' is reserved",
				i);
			return -1;
		}
		if (!valid_enum(&smartplus__billing__v1__service_type__descriptor,
				s->service_type)) {
			BAD_ARG(call, "items[%zu].service_type: unknown service type %d", i,
				s->service_type);
			return -1;
		}
		if (s->service_type == STYPE(INTEGRATION)) {
			BAD_ARG(call,
				"items[%zu].service_type: INTEGRATION items follow the project's "
				"pms_integrated",
				i);
			return -1;
		}
		if (!catalog_offers(type, s->service_type)) {
			BAD_ARG(call, "items[%zu].service_type: %s is not offered for %s projects",
				i, catalog_service_name(s->service_type),
				catalog_project_type_name(type));
			return -1;
		}
		if (strlen(s->label) > HANDLER_MAX_LABEL) {
			BAD_ARG(call, "items[%zu].label: longer than %d bytes", i,
				HANDLER_MAX_LABEL);
			return -1;
		}
		if (s->n_premium_features && !catalog_takes_features(s->service_type)) {
			BAD_ARG(call,
				"items[%zu].premium_features: %s items take no premium features", i,
				catalog_service_name(s->service_type));
			return -1;
		}
		for (size_t f = 0; f < s->n_premium_features; f++) {
			if (!catalog_feature_allowed(type, s->service_type,
						     s->premium_features[f])) {
				BAD_ARG(call,
					"items[%zu].premium_features[%zu]: feature %d is not "
					"available for %s projects",
					i, f, s->premium_features[f],
					catalog_project_type_name(type));
				return -1;
			}
			for (size_t g = 0; g < f; g++)
				if (s->premium_features[g] == s->premium_features[f]) {
					BAD_ARG(call,
						"items[%zu].premium_features[%zu]: listed twice", i,
						f);
					return -1;
				}
		}
	}
	ids = xmalloc(req->n_items * sizeof(*ids));
	for (size_t i = 0; i < req->n_items; i++)
		ids[i] = req->items[i]->item_id;
	qsort(ids, req->n_items, sizeof(*ids), cmp_str);
	for (size_t i = 1; i < req->n_items && !bad; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0) {
			BAD_ARG(call, "items: item_id '%s' appears twice", ids[i]);
			bad = 1;
		}
	free(ids);
	return bad ? -1 : 0;
}

void rpc_DirectoryService_CreateItems(struct rpc_call *call,
				      const Smartplus__Billing__V1__CreateItemsRequest *req)
{
	store_txn *txn;
	store_project *p = NULL;
	create_items *c;
	int64_t now = clock_now_us();

	if (handler_check_id(call, "project_id", req->project_id))
		return;
	if (req->n_items < 1 || req->n_items > MAX_ITEMS_PER_CALL) {
		BAD_ARG(call, "items: give 1..%d items", MAX_ITEMS_PER_CALL);
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	if (auth_load_project(call, txn, "project_id", req->project_id, &p))
		goto done;
	if (check_item_specs(call, req, p->type))
		goto done;
	c = write_new(call, sizeof(*c));
	c->n = req->n_items;
	c->recs = xcalloc(c->n, sizeof(*c->recs));
	for (size_t i = 0; i < c->n; i++) {
		const Smartplus__Billing__V1__ItemSpec *s = req->items[i];
		store_item *it = &c->recs[i];
		smartplus__billing__store__v1__item_record__init(it);
		it->item_id = s->item_id;
		it->project_id = req->project_id;
		it->service_type = s->service_type;
		it->label = s->label;
		it->status = STORE_ITEM_INACTIVE;
		it->n_premium_features = s->n_premium_features;
		it->premium_features = (int32_t *)s->premium_features;
		it->create_time = now;
		it->renew_mode = RENEW(MANUAL);
	}
	c->w.apply = apply_create_items;
	c->w.reply = reply_items;
	c->w.cleanup = cleanup_items;
	write_submit(&c->w);
done:
	store_record_free(p);
	store_read_end(txn);
}

typedef struct delete_item {
	rpc_write w;
	const char *item_id;
	store_item *item; /* as it was */
} delete_item;

/* store_order_holding keeps one entry per line of a PENDING_PAYMENT or
 * PROCESSING order; a PENDING_PAYMENT one past its pay window holds no more. */
int items_held_by_open_order(store_txn *txn, const char *item_id, int64_t now)
{
	store_list l = {0};
	int rc = store_order_holding(txn, item_id, 64, &l), held = 0;
	for (size_t i = 0; rc == 0 && i < l.n && !held; i++)
		held = orders_holds_items(l.items[i], now);
	store_list_free(&l);
	return rc ? rc : held;
}

int items_guard_removal(store_txn *txn, rpc_write *w, const store_item *it, const char *field)
{
	int64_t now = clock_now_us();
	int held;
	if (conv_item_status(it, now) == ISTATUS(ACTIVE))
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ITEM_STATE,
				  "%s: item '%s' is ACTIVE (paid until it expires); it can be "
				  "removed once it has expired",
				  field, it->item_id);
	held = items_held_by_open_order(txn, it->item_id, now);
	if (held < 0)
		return held;
	if (held)
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ITEM_IN_OPEN_ORDER,
				  "%s: item '%s' is held by an open order (PENDING_PAYMENT or "
				  "PROCESSING); it can be removed once that order has ended",
				  field, it->item_id);
	return 0;
}

/* 1 when the caller of w may act on the project of it, 0 if not, STORE_*. */
static int may_act_on_item(store_txn *txn, rpc_write *w, const store_item *it)
{
	store_project *p = NULL;
	int rc = store_project_get(txn, it->project_id, &p), may;
	if (rc != 0)
		return rc == STORE_NOTFOUND ? 0 : rc;
	may = auth_may_act(txn, rpc_call_caller(w->call), p->installer_id);
	store_record_free(p);
	return may;
}

static int apply_delete_item(store_txn *txn, rpc_write *w)
{
	delete_item *d = (delete_item *)w;
	int rc, may;
	store_record_free(d->item);
	d->item = NULL;
	rc = store_item_get(txn, d->item_id, &d->item);
	if (rc != 0)
		return rc == STORE_NOTFOUND ? write_fail(w, GRPC_STATUS_NOT_FOUND, NULL,
							 "item '%s' is gone", d->item_id)
					    : rc;
	/* Permission again, on the item that holds the id now: the one
	 * checked on the read may have been deleted since and the id taken by
	 * another tree's item (AIP-211: the same denial as for a missing one). */
	may = may_act_on_item(txn, w, d->item);
	if (may < 0)
		return may;
	if (!may)
		return write_fail(w, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED, "item_id");
	if (d->item->service_type == STYPE(INTEGRATION))
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, REASON_ITEM_STATE,
				  "the integration item follows the project's pms_integrated; "
				  "update the project");
	if (conv_item_status(d->item, clock_now_us()) != ISTATUS(ACTIVE)) {
		/* A deleted item drops out of the renewal order waiting to charge
		 * it (one at the provider now still holds it: refused below). */
		char busy[GROUPS_ORDER_ID_MAX];
		rc = groups_release_item(txn, d->item_id, clock_now_us(), busy);
		if (rc < 0)
			return rc;
		store_record_free(d->item);
		d->item = NULL;
		rc = store_item_get(txn, d->item_id, &d->item);
		if (rc)
			return rc;
	}
	rc = items_guard_removal(txn, w, d->item, "item_id");
	if (rc == 0)
		rc = store_item_delete(txn, d->item_id);
	return rc ? rc
		  : events_item_emit(txn, EV_ITEM_DELETED, d->item, 0, NULL,
				     rpc_call_caller(w->call)->account_id);
}

static void reply_deleted(rpc_write *w)
{
	delete_item *d = (delete_item *)w;
	arena *a = arena_new();
	Smartplus__Billing__V1__DeleteItemResponse r =
		SMARTPLUS__BILLING__V1__DELETE_ITEM_RESPONSE__INIT;
	r.item = conv_item(a, d->item, clock_now_us(), 0);
	rpc_reply(w->call, &r.base);
	arena_free(a);
}

static void cleanup_deleted(rpc_write *w)
{
	store_record_free(((delete_item *)w)->item);
}

/* Loads an item and its project and checks the caller may act on them;
 * fails the call (PERMISSION_DENIED also for a missing item) and returns -1
 * otherwise. */
static int load_item_for_write(rpc_call *call, store_txn *txn, const char *item_id)
{
	store_item *it = NULL;
	store_project *p = NULL;
	int rc = store_item_get(txn, item_id, &it), may = 0;
	if (rc == 0)
		rc = store_project_get(txn, it->project_id, &p);
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), p->installer_id);
	else if (rc != STORE_NOTFOUND)
		may = rc;
	store_record_free(it);
	store_record_free(p);
	return auth_deny(call, may, "item_id") ? -1 : 0;
}

void rpc_DirectoryService_DeleteItem(struct rpc_call *call,
				     const Smartplus__Billing__V1__DeleteItemRequest *req)
{
	store_txn *txn;
	delete_item *d;
	if (!items_valid_ref(req->item_id)) {
		BAD_ARG(call, "item_id: " HANDLER_ID_RULE);
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	if (load_item_for_write(call, txn, req->item_id) == 0) {
		d = write_new(call, sizeof(*d));
		d->item_id = req->item_id;
		d->w.apply = apply_delete_item;
		d->w.reply = reply_deleted;
		d->w.cleanup = cleanup_deleted;
		write_submit(&d->w);
	}
	store_read_end(txn);
}
