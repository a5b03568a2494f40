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
#include "rpc_handlers.h"
#include "write.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define BAD_ARG(call, ...) rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL, __VA_ARGS__)

static int listed(const store_list *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(((const store_item *)l->items[i])->item_id, id) == 0)
			return 1;
	return 0;
}

void rpc_BillingService_ListItems(struct rpc_call *call,
				  const Smartplus__Billing__V1__ListItemsRequest *req)
{
	const rpc_caller *c = rpc_call_caller(call);
	Smartplus__Billing__V1__ListItemsResponse r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_RESPONSE__INIT;
	store_list items = {0}, doors = {0}, apps = {0};
	store_project *p = NULL;
	store_txn *txn = NULL;
	arena *a = NULL;
	int64_t now = clock_now_us();
	int rc, may = 0;

	if (!valid_id(req->project_id))
		return BAD_ARG(call, "project_id: must match [A-Za-z0-9_.-]{1,64}");
	if (req->service_type &&
	    !valid_enum(&smartplus__billing__v1__service_type__descriptor, req->service_type))
		return BAD_ARG(call, "service_type: unknown value %d", req->service_type);
	if (req->status &&
	    !valid_enum(&smartplus__billing__v1__item_status__descriptor, req->status))
		return BAD_ARG(call, "status: unknown value %d", req->status);
	if (req->page_size < 0 || req->page_size > STORE_PAGE_MAX)
		return BAD_ARG(call, "page_size: must be 0..%d", STORE_PAGE_MAX);
	rc = store_read_begin(billingd.store, &txn);
	if (rc) {
		write_fail_store(call, rc);
		return;
	}
	rc = store_project_get(txn, req->project_id, &p);
	if (rc && rc != STORE_NOTFOUND) {
		write_fail_store(call, rc);
		goto done;
	}
	if (rc == 0)
		may = (p->property_manager_id[0] &&
		       strcmp(p->property_manager_id, c->account_id) == 0)
			      ? 1
			      : auth_may_act(txn, c, p->installer_id);
	if (auth_deny(call, may, "project_id"))
		goto done;
	rc = store_item_list_by_project(txn, p->project_id, req->page_size, req->page_token,
					&items);
	if (rc == 0 && p->type == V1(PROJECT_TYPE__PROJECT_TYPE_COMMERCIAL))
		rc = store_item_oldest(txn, p->project_id, V1(SERVICE_TYPE__SERVICE_TYPE_DOOR), 1,
				       &doors);
	if (rc == 0 && p->free_additional_apps > 0)
		rc = store_item_oldest(txn, p->project_id,
				       V1(SERVICE_TYPE__SERVICE_TYPE_ADDITIONAL_APP),
				       (size_t)p->free_additional_apps, &apps);
	if (rc) {
		write_fail_store(call, rc);
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
		r.items[r.n_items++] = conv_item(
			a, it, now, listed(&doors, it->item_id) || listed(&apps, it->item_id));
	}
	r.next_page_token = items.next_page_token ? items.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&items);
	store_list_free(&doors);
	store_list_free(&apps);
	store_record_free(p);
	store_read_end(txn);
}
