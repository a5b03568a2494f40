/*
 * items.c: BillingService.ListItems — the items of a project with their
 * status (EXPIRED derived from expires_at at the server's now), expiry,
 * renewal settings and R4 free flag. Readable by the installer's ancestors
 * (the installer included) and the project's property manager.
 */
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "handler.h"
#include "items.h"
#include "rpc_handlers.h"
#include "write.h"

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
		may = (p->property_manager_id[0] &&
		       strcmp(p->property_manager_id, c->account_id) == 0)
			      ? 1
			      : auth_may_act(txn, c, p->installer_id);
	if (auth_deny(call, may, "project", req->project_id))
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
