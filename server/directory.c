/*
 * directory.c: DirectoryService — accounts, projects, items, API keys.
 *
 * Reads run on the calling thread in a read transaction. Writes check the
 * caller's rights against the tree first (the tree only grows, so the check
 * stays true), then go through the group-commit writer (write.h), where the
 * record-level checks that depend on current state (ids taken, item status)
 * are made again inside the write transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "catalog.h"
#include "clock.h"
#include "convert.h"
#include "log.h"
#include "orders.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define ROLE(x) SMARTPLUS__BILLING__V1__ROLE__ROLE_##x
#define INTEGRATION_PREFIX "pms_"
#define MAX_LABEL 256
#define MAX_ITEMS_PER_CALL 1000

#define BAD_ARG(call, ...) rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL, __VA_ARGS__)

static const char *caller_id(rpc_call *call)
{
	return rpc_call_caller(call)->account_id;
}

/* ------------------------------------------------------------------------ */
/* Accounts                                                                  */

/* Which roles may sit directly under which (DESIGN §2). */
static int role_fits(int parent, int child)
{
	switch (parent) {
	case ROLE(VENDOR): return child == ROLE(DISTRIBUTOR);
	case ROLE(DISTRIBUTOR):
		return child == ROLE(SUB_DISTRIBUTOR) || child == ROLE(INSTALLER) ||
		       child == ROLE(PROPERTY_MANAGER);
	case ROLE(SUB_DISTRIBUTOR): return child == ROLE(INSTALLER);
	case ROLE(INSTALLER): return child == ROLE(PROPERTY_MANAGER);
	default: return 0;
	}
}

static const char *role_name(int role)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&smartplus__billing__v1__role__descriptor, role);
	return v ? v->name : "ROLE_UNSPECIFIED";
}

typedef struct create_account {
	rpc_write w;
	store_account rec;
} create_account;

static int apply_create_account(store_txn *txn, rpc_write *w)
{
	create_account *c = (create_account *)w;
	int rc = store_account_put(txn, &c->rec, 1);
	if (rc == STORE_EXISTS)
		return write_fail(w, GRPC_STATUS_ALREADY_EXISTS, NULL, "account_id: '%s' is taken",
				  c->rec.account_id);
	return rc;
}

static void reply_account(rpc_write *w)
{
	create_account *c = (create_account *)w;
	arena *a = arena_new();
	Smartplus__Billing__V1__CreateAccountResponse r =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_RESPONSE__INIT;
	r.account = conv_account(a, &c->rec);
	rpc_reply(w->call, &r.base);
	arena_free(a);
}

void rpc_DirectoryService_CreateAccount(struct rpc_call *call,
					const Smartplus__Billing__V1__CreateAccountRequest *req)
{
	store_txn *txn;
	store_account *parent = NULL;
	create_account *c;
	int may;

	if (!valid_id(req->account_id))
		return BAD_ARG(call, "account_id: must match [A-Za-z0-9_.-]{1,64}");
	if (!valid_enum(&smartplus__billing__v1__role__descriptor, req->role) ||
	    req->role == ROLE(VENDOR))
		return BAD_ARG(call, "role: must be DISTRIBUTOR, SUB_DISTRIBUTOR, INSTALLER or "
				     "PROPERTY_MANAGER");
	if (!valid_id(req->parent_id))
		return BAD_ARG(call, "parent_id: must match [A-Za-z0-9_.-]{1,64}");
	if (strlen(req->display_name) > MAX_LABEL)
		return BAD_ARG(call, "display_name: longer than %d bytes", MAX_LABEL);
	if (write_read_begin(call, &txn))
		return;
	may = auth_may_act(txn, rpc_call_caller(call), req->parent_id);
	if (auth_deny(call, may, "parent_id"))
		goto done;
	if (store_account_get(txn, req->parent_id, &parent) != 0) {
		rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
		goto done;
	}
	if (!role_fits(parent->role, req->role)) {
		BAD_ARG(call, "role: a %s cannot be placed under a %s", role_name(req->role),
			role_name(parent->role));
		goto done;
	}
	c = write_new(call, sizeof(*c));
	smartplus__billing__store__v1__account_record__init(&c->rec);
	c->rec.account_id = req->account_id;
	c->rec.role = req->role;
	c->rec.parent_id = req->parent_id;
	c->rec.display_name = req->display_name;
	c->rec.create_time = clock_now_us();
	c->w.apply = apply_create_account;
	c->w.reply = reply_account;
	write_submit(&c->w);
done:
	store_record_free(parent);
	store_read_end(txn);
}

void rpc_DirectoryService_GetAccount(struct rpc_call *call,
				     const Smartplus__Billing__V1__GetAccountRequest *req)
{
	store_txn *txn;
	store_account *acct = NULL;
	arena *a = NULL;
	Smartplus__Billing__V1__GetAccountResponse r =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_RESPONSE__INIT;
	int rc;

	if (!valid_id(req->account_id))
		return BAD_ARG(call, "account_id: must match [A-Za-z0-9_.-]{1,64}");
	if (write_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), req->account_id),
		      "account_id"))
		goto done;
	rc = store_account_get(txn, req->account_id, &acct);
	if (rc != 0) {
		write_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.account = conv_account(a, acct);
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_record_free(acct);
	store_read_end(txn);
}

void rpc_DirectoryService_ListAccounts(struct rpc_call *call,
				       const Smartplus__Billing__V1__ListAccountsRequest *req)
{
	const char *parent = req->parent_id[0] ? req->parent_id : caller_id(call);
	store_txn *txn;
	store_list list = {0};
	arena *a = NULL;
	Smartplus__Billing__V1__ListAccountsResponse r =
		SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_RESPONSE__INIT;
	int rc;

	if (!valid_id(parent))
		return BAD_ARG(call, "parent_id: must match [A-Za-z0-9_.-]{1,64}");
	if (req->role && !valid_enum(&smartplus__billing__v1__role__descriptor, req->role))
		return BAD_ARG(call, "role: unknown role %d", req->role);
	if (req->page_size < 0 || req->page_size > STORE_PAGE_MAX)
		return BAD_ARG(call, "page_size: must be 0..%d", STORE_PAGE_MAX);
	if (write_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), parent), "parent_id"))
		goto done;
	rc = store_account_list_children(txn, parent, req->page_size, req->page_token, &list);
	if (rc != 0) {
		write_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.accounts = arena_alloc(a, (list.n + 1) * sizeof(*r.accounts));
	for (size_t i = 0; i < list.n; i++) {
		const store_account *acct = list.items[i];
		if (!req->role || acct->role == (int32_t)req->role)
			r.accounts[r.n_accounts++] = conv_account(a, acct);
	}
	r.next_page_token = list.next_page_token ? list.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&list);
	store_read_end(txn);
}

/* ------------------------------------------------------------------------ */
/* Projects                                                                  */

/* Loads an account and checks its role; fails the call with INVALID_ARGUMENT
 * naming `field` otherwise. Returns 0 when it is there with that role. */
static int expect_role(rpc_call *call, store_txn *txn, const char *field, const char *id, int role)
{
	store_account *acct = NULL;
	int rc = store_account_get(txn, id, &acct);
	int ok = rc == 0 && acct->role == role;
	store_record_free(acct);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		write_fail_store(call, rc);
		return -1;
	}
	if (!ok) {
		BAD_ARG(call, "%s: '%s' is not a %s", field, id, role_name(role));
		return -1;
	}
	return 0;
}

/* A property manager may serve a project when it hangs under the project's
 * installer or under one of the installer's ancestors. */
static int check_property_manager(rpc_call *call, store_txn *txn, const char *pm_id,
				  const char *installer_id)
{
	store_account *pm = NULL;
	int related = 0, rc;
	if (expect_role(call, txn, "property_manager_id", pm_id, ROLE(PROPERTY_MANAGER)))
		return -1;
	rc = store_account_get(txn, pm_id, &pm);
	if (rc == 0)
		rc = store_account_is_self_or_ancestor(txn, pm->parent_id, installer_id, &related);
	store_record_free(pm);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		write_fail_store(call, rc);
		return -1;
	}
	if (!related) {
		BAD_ARG(call,
			"property_manager_id: '%s' is not in the installer's branch of the tree",
			pm_id);
		return -1;
	}
	return 0;
}

/* The INTEGRATION item of a project (R5). */
static void integration_item(store_item *it, const store_project *p, char id[80], int64_t now)
{
	smartplus__billing__store__v1__item_record__init(it);
	snprintf(id, 80, INTEGRATION_PREFIX "%s", p->project_id);
	it->item_id = id;
	it->project_id = p->project_id;
	it->service_type = V1(SERVICE_TYPE__SERVICE_TYPE_INTEGRATION);
	it->label = "PMS integration";
	it->status = STORE_ITEM_INACTIVE;
	it->create_time = now;
}

/*
 * No path deletes or resets an item that is paid for or about to be (R9):
 * an ACTIVE item keeps running until it expires, and an item held by an
 * open order stays until that order has ended. Every removal (DeleteItem,
 * turning a project's integration off) asks here first. `field` names the
 * request field that asked. Returns 0 when it may go, a write_fail() code,
 * or a STORE_* code.
 */
static int item_guard_removal(store_txn *txn, rpc_write *w, const store_item *it, const char *field)
{
	int64_t now = clock_now_us();
	int held;
	if (conv_item_status(it, now) == V1(ITEM_STATUS__ITEM_STATUS_ACTIVE))
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "ITEM_STATE",
				  "%s: item '%s' is ACTIVE (paid until it expires); it can be "
				  "removed once it has expired",
				  field, it->item_id);
	held = orders_item_held(txn, it->item_id, now);
	if (held < 0)
		return held;
	if (held)
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "ITEM_IN_OPEN_ORDER",
				  "%s: item '%s' is held by an open order (PENDING_PAYMENT or "
				  "PROCESSING); it can be removed once that order has ended",
				  field, it->item_id);
	return 0;
}

typedef struct project_write {
	rpc_write w;
	store_project rec;
	store_project *loaded; /* UpdateProject: the record read in apply */
	char integration_id[80];
	Smartplus__Billing__V1__Project *update; /* UpdateProject input */
	int mask_pms, mask_free, mask_pm, mask_name;
} project_write;

/* Creates or removes the INTEGRATION item to match p->pms_integrated; an
 * existing one is never reset, and is removed only when item_guard_removal
 * lets it go (else turning integration off is refused). */
static int sync_integration(store_txn *txn, project_write *c, const store_project *p)
{
	store_item it, *existing = NULL;
	int rc;
	integration_item(&it, p, c->integration_id, clock_now_us());
	rc = store_item_get(txn, it.item_id, &existing);
	if (!p->pms_integrated && rc == 0) {
		rc = item_guard_removal(txn, &c->w, existing, "project.pms_integrated");
		store_record_free(existing);
		return rc ? rc : store_item_delete(txn, it.item_id);
	}
	store_record_free(existing);
	if (p->pms_integrated && rc == STORE_NOTFOUND) {
		rc = store_item_put(txn, &it, 1);
		if (rc == STORE_EXISTS)
			return write_fail(&c->w, GRPC_STATUS_ALREADY_EXISTS, NULL,
					  "item id '%s' needed for the integration item is taken",
					  it.item_id);
		return rc;
	}
	return rc == STORE_NOTFOUND ? 0 : rc;
}

static int apply_create_project(store_txn *txn, rpc_write *w)
{
	project_write *c = (project_write *)w;
	int rc = store_project_put(txn, &c->rec, 1);
	if (rc == STORE_EXISTS)
		return write_fail(w, GRPC_STATUS_ALREADY_EXISTS, NULL, "project_id: '%s' is taken",
				  c->rec.project_id);
	if (rc == 0)
		rc = sync_integration(txn, c, &c->rec);
	return rc;
}

static void reply_project(rpc_write *w)
{
	project_write *c = (project_write *)w;
	arena *a = arena_new();
	/* CreateProjectResponse and UpdateProjectResponse share one layout. */
	Smartplus__Billing__V1__CreateProjectResponse r =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_RESPONSE__INIT;
	Smartplus__Billing__V1__UpdateProjectResponse u =
		SMARTPLUS__BILLING__V1__UPDATE_PROJECT_RESPONSE__INIT;
	const store_project *p = c->loaded ? c->loaded : &c->rec;
	if (c->update) {
		u.project = conv_project(a, p, billingd.cfg.cutover_us);
		rpc_reply(w->call, &u.base);
	} else {
		r.project = conv_project(a, p, billingd.cfg.cutover_us);
		rpc_reply(w->call, &r.base);
	}
	arena_free(a);
}

static void cleanup_project(rpc_write *w)
{
	store_record_free(((project_write *)w)->loaded);
}

void rpc_DirectoryService_CreateProject(struct rpc_call *call,
					const Smartplus__Billing__V1__CreateProjectRequest *req)
{
	store_txn *txn;
	project_write *c;
	int64_t created_at;
	int ok;

	if (!valid_id(req->project_id))
		return BAD_ARG(call, "project_id: must match [A-Za-z0-9_.-]{1,64}");
	if (!valid_id(req->installer_id))
		return BAD_ARG(call, "installer_id: must match [A-Za-z0-9_.-]{1,64}");
	if (!catalog_valid_project_type(req->type))
		return BAD_ARG(call, "type: must be COMMUNITY, SINGLE_FAMILY_HOUSE or COMMERCIAL");
	if (req->pms_integrated && req->type != V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY))
		return BAD_ARG(call,
			       "pms_integrated: only community projects integrate with a PMS");
	if (req->free_additional_apps < 0 || req->free_additional_apps > 1000)
		return BAD_ARG(call, "free_additional_apps: must be 0..1000");
	if (req->property_manager_id[0] && !valid_id(req->property_manager_id))
		return BAD_ARG(call, "property_manager_id: must match [A-Za-z0-9_.-]{1,64}");
	if (strlen(req->display_name) > MAX_LABEL)
		return BAD_ARG(call, "display_name: longer than %d bytes", MAX_LABEL);
	created_at = conv_us(req->created_at, &ok);
	if (!ok)
		return BAD_ARG(call, "created_at: out of range");
	/* created_at and free_additional_apps lower charges: the dispatcher's
	 * validator lets only the vendor or a SERVICE key set them. */
	if (write_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), req->installer_id),
		      "installer_id"))
		goto done;
	if (expect_role(call, txn, "installer_id", req->installer_id, ROLE(INSTALLER)))
		goto done;
	if (req->property_manager_id[0] &&
	    check_property_manager(call, txn, req->property_manager_id, req->installer_id))
		goto done;
	c = write_new(call, sizeof(*c));
	smartplus__billing__store__v1__project_record__init(&c->rec);
	c->rec.project_id = req->project_id;
	c->rec.installer_id = req->installer_id;
	c->rec.type = req->type;
	c->rec.created_at = req->created_at ? created_at : clock_now_us();
	c->rec.pms_integrated = req->pms_integrated;
	c->rec.free_additional_apps = req->free_additional_apps;
	c->rec.property_manager_id = req->property_manager_id;
	c->rec.display_name = req->display_name;
	c->rec.update_time = clock_now_us();
	c->w.apply = apply_create_project;
	c->w.reply = reply_project;
	write_submit(&c->w);
done:
	store_read_end(txn);
}

static int apply_update_project(store_txn *txn, rpc_write *w)
{
	project_write *c = (project_write *)w;
	store_project *p = NULL;
	int rc = store_project_get(txn, c->update->project_id, &p);
	if (rc != 0)
		return rc;
	store_record_free(c->loaded); /* apply may run twice */
	c->loaded = p;
	if (c->mask_pms)
		p->pms_integrated = c->update->pms_integrated;
	if (c->mask_free)
		p->free_additional_apps = c->update->free_additional_apps;
	/* p owns its strings (protobuf-c unpack, malloc): replace, not borrow. */
	if ((c->mask_pm &&
	     store_str_set(&p->property_manager_id, c->update->property_manager_id)) ||
	    (c->mask_name && store_str_set(&p->display_name, c->update->display_name)))
		return STORE_IO;
	if (p->pms_integrated && p->type != V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY))
		return write_fail(
			w, GRPC_STATUS_INVALID_ARGUMENT, NULL,
			"project.pms_integrated: only community projects integrate with a PMS");
	p->update_time = clock_now_us();
	rc = store_project_put(txn, p, 0);
	if (rc == 0 && c->mask_pms)
		rc = sync_integration(txn, c, p);
	return rc;
}

void rpc_DirectoryService_UpdateProject(struct rpc_call *call,
					const Smartplus__Billing__V1__UpdateProjectRequest *req)
{
	const Smartplus__Billing__V1__Project *in = req->project;
	store_txn *txn;
	store_project *p = NULL;
	project_write *c;
	int pms = 0, fr = 0, pm = 0, name = 0, rc;

	if (!in || !valid_id(in->project_id))
		return BAD_ARG(call, "project.project_id: must match [A-Za-z0-9_.-]{1,64}");
	if (!req->update_mask || req->update_mask->n_paths == 0)
		return BAD_ARG(call, "update_mask: name the fields to change");
	for (size_t i = 0; i < req->update_mask->n_paths; i++) {
		const char *f = req->update_mask->paths[i];
		if (strcmp(f, "pms_integrated") == 0)
			pms = 1;
		else if (strcmp(f, "free_additional_apps") == 0)
			fr = 1;
		else if (strcmp(f, "property_manager_id") == 0)
			pm = 1;
		else if (strcmp(f, "display_name") == 0)
			name = 1;
		else
			return BAD_ARG(call, "update_mask: '%s' cannot be changed", f);
	}
	if (fr && (in->free_additional_apps < 0 || in->free_additional_apps > 1000))
		return BAD_ARG(call, "project.free_additional_apps: must be 0..1000");
	if (pm && in->property_manager_id[0] && !valid_id(in->property_manager_id))
		return BAD_ARG(call,
			       "project.property_manager_id: must match [A-Za-z0-9_.-]{1,64}");
	if (name && strlen(in->display_name) > MAX_LABEL)
		return BAD_ARG(call, "project.display_name: longer than %d bytes", MAX_LABEL);
	if (write_read_begin(call, &txn))
		return;
	rc = store_project_get(txn, in->project_id, &p);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		write_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, rc == 0 ? auth_may_act(txn, rpc_call_caller(call), p->installer_id) : 0,
		      "project.project_id"))
		goto done;
	if (pm && in->property_manager_id[0] &&
	    check_property_manager(call, txn, in->property_manager_id, p->installer_id))
		goto done;
	c = write_new(call, sizeof(*c));
	c->update = (Smartplus__Billing__V1__Project *)in;
	c->mask_pms = pms;
	c->mask_free = fr;
	c->mask_pm = pm;
	c->mask_name = name;
	c->w.apply = apply_update_project;
	c->w.reply = reply_project;
	c->w.cleanup = cleanup_project;
	write_submit(&c->w);
done:
	store_record_free(p);
	store_read_end(txn);
}

/* May the caller read project p: the installer's ancestors, or its PM. */
static int may_read_project(store_txn *txn, rpc_call *call, const store_project *p)
{
	const rpc_caller *c = rpc_call_caller(call);
	if (p->property_manager_id[0] && strcmp(p->property_manager_id, c->account_id) == 0)
		return 1;
	return auth_may_act(txn, c, p->installer_id);
}

void rpc_DirectoryService_GetProject(struct rpc_call *call,
				     const Smartplus__Billing__V1__GetProjectRequest *req)
{
	store_txn *txn;
	store_project *p = NULL;
	arena *a = NULL;
	Smartplus__Billing__V1__GetProjectResponse r =
		SMARTPLUS__BILLING__V1__GET_PROJECT_RESPONSE__INIT;
	int rc;

	if (!valid_id(req->project_id))
		return BAD_ARG(call, "project_id: must match [A-Za-z0-9_.-]{1,64}");
	if (write_read_begin(call, &txn))
		return;
	rc = store_project_get(txn, req->project_id, &p);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		write_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, rc == 0 ? may_read_project(txn, call, p) : 0, "project_id"))
		goto done;
	a = arena_new();
	r.project = conv_project(a, p, billingd.cfg.cutover_us);
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_record_free(p);
	store_read_end(txn);
}

void rpc_DirectoryService_ListProjects(struct rpc_call *call,
				       const Smartplus__Billing__V1__ListProjectsRequest *req)
{
	const char *installer = req->installer_id[0] ? req->installer_id : caller_id(call);
	store_txn *txn;
	store_list list = {0};
	arena *a = NULL;
	Smartplus__Billing__V1__ListProjectsResponse r =
		SMARTPLUS__BILLING__V1__LIST_PROJECTS_RESPONSE__INIT;
	int rc;

	if (!valid_id(installer))
		return BAD_ARG(call, "installer_id: must match [A-Za-z0-9_.-]{1,64}");
	if (req->type && !catalog_valid_project_type(req->type))
		return BAD_ARG(call, "type: unknown project type %d", req->type);
	if (req->page_size < 0 || req->page_size > STORE_PAGE_MAX)
		return BAD_ARG(call, "page_size: must be 0..%d", STORE_PAGE_MAX);
	if (write_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), installer), "installer_id"))
		goto done;
	rc = store_project_list_by_installer(txn, installer, req->type, req->page_size,
					     req->page_token, &list);
	if (rc != 0) {
		write_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.projects = arena_alloc(a, (list.n + 1) * sizeof(*r.projects));
	for (size_t i = 0; i < list.n; i++)
		r.projects[r.n_projects++] = conv_project(a, list.items[i],
							  billingd.cfg.cutover_us);
	r.next_page_token = list.next_page_token ? list.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&list);
	store_read_end(txn);
}

/* ------------------------------------------------------------------------ */
/* Items                                                                     */

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
			BAD_ARG(call, "items[%zu].item_id: must match [A-Za-z0-9_.-]{1,64}", i);
			return -1;
		}
		if (strncmp(s->item_id, INTEGRATION_PREFIX, strlen(INTEGRATION_PREFIX)) == 0) {
			BAD_ARG(call,
				"items[%zu].item_id: the prefix '" INTEGRATION_PREFIX
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
		if (s->service_type == V1(SERVICE_TYPE__SERVICE_TYPE_INTEGRATION)) {
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
		if (strlen(s->label) > MAX_LABEL) {
			BAD_ARG(call, "items[%zu].label: longer than %d bytes", i, MAX_LABEL);
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
	ids = malloc(req->n_items * sizeof(*ids));
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
	int rc;

	if (!valid_id(req->project_id))
		return BAD_ARG(call, "project_id: must match [A-Za-z0-9_.-]{1,64}");
	if (req->n_items < 1 || req->n_items > MAX_ITEMS_PER_CALL)
		return BAD_ARG(call, "items: give 1..%d items", MAX_ITEMS_PER_CALL);
	if (write_read_begin(call, &txn))
		return;
	rc = store_project_get(txn, req->project_id, &p);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		write_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, rc == 0 ? auth_may_act(txn, rpc_call_caller(call), p->installer_id) : 0,
		      "project_id"))
		goto done;
	if (check_item_specs(call, req, p->type))
		goto done;
	c = write_new(call, sizeof(*c));
	c->n = req->n_items;
	c->recs = calloc(c->n, sizeof(*c->recs));
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
		it->renew_mode = V1(RENEW_MODE__RENEW_MODE_MANUAL);
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

static int apply_delete_item(store_txn *txn, rpc_write *w)
{
	delete_item *d = (delete_item *)w;
	int rc;
	store_record_free(d->item);
	d->item = NULL;
	rc = store_item_get(txn, d->item_id, &d->item);
	if (rc != 0)
		return rc == STORE_NOTFOUND ? write_fail(w, GRPC_STATUS_NOT_FOUND, NULL,
							 "item '%s' is gone", d->item_id)
					    : rc;
	if (d->item->service_type == V1(SERVICE_TYPE__SERVICE_TYPE_INTEGRATION))
		return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "ITEM_STATE",
				  "the integration item follows the project's pms_integrated; "
				  "update the project");
	rc = item_guard_removal(txn, w, d->item, "item_id");
	return rc ? rc : store_item_delete(txn, d->item_id);
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
	if (!valid_item_ref(req->item_id))
		return BAD_ARG(call, "item_id: must match [A-Za-z0-9_.-]{1,64}");
	if (write_read_begin(call, &txn))
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

/* ------------------------------------------------------------------------ */
/* API keys                                                                  */

typedef struct key_write {
	rpc_write w;
	store_apikey rec;
	store_apikey *loaded; /* RevokeApiKey */
	char key_id[17];
	unsigned char hash[32];
	char token[AUTH_TOKEN_MAX];
	char account_id[65];
	char display_name[MAX_LABEL + 1];
} key_write;

static int apply_create_key(store_txn *txn, rpc_write *w)
{
	key_write *k = (key_write *)w;
	int rc = store_apikey_put(txn, &k->rec, 1);
	if (rc == STORE_EXISTS) /* 64 random bits collided: ask again */
		return write_fail(w, GRPC_STATUS_ABORTED, NULL, "key id collision; retry");
	return rc;
}

static void reply_key(rpc_write *w)
{
	key_write *k = (key_write *)w;
	arena *a = arena_new();
	Smartplus__Billing__V1__CreateApiKeyResponse r =
		SMARTPLUS__BILLING__V1__CREATE_API_KEY_RESPONSE__INIT;
	Smartplus__Billing__V1__RevokeApiKeyResponse v =
		SMARTPLUS__BILLING__V1__REVOKE_API_KEY_RESPONSE__INIT;
	if (k->loaded) {
		v.api_key = conv_apikey(a, k->loaded);
		rpc_reply(w->call, &v.base);
	} else {
		r.api_key = conv_apikey(a, &k->rec);
		r.secret = k->token;
		rpc_reply(w->call, &r.base);
	}
	arena_free(a);
}

static void cleanup_key(rpc_write *w)
{
	key_write *k = (key_write *)w;
	store_record_free(k->loaded);
	memset(k->token, 0, sizeof(k->token));
}

void rpc_DirectoryService_CreateApiKey(struct rpc_call *call,
				       const Smartplus__Billing__V1__CreateApiKeyRequest *req)
{
	const rpc_caller *me = rpc_call_caller(call);
	const char *account = req->account_id[0] ? req->account_id : me->account_id;
	int scope = req->scope ? req->scope : V1(API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT);
	store_txn *txn;
	key_write *k;

	if (!valid_id(account))
		return BAD_ARG(call, "account_id: must match [A-Za-z0-9_.-]{1,64}");
	if (!valid_enum(&smartplus__billing__v1__api_key_scope__descriptor, scope))
		return BAD_ARG(call, "scope: unknown scope %d", scope);
	if (strlen(req->display_name) > MAX_LABEL)
		return BAD_ARG(call, "display_name: longer than %d bytes", MAX_LABEL);
	if (scope == V1(API_KEY_SCOPE__API_KEY_SCOPE_SERVICE) &&
	    (strcmp(me->account_id, "vendor") != 0 || strcmp(account, "vendor") != 0))
		return rpc_fail(call, GRPC_STATUS_PERMISSION_DENIED, NULL,
				"only the vendor mints SERVICE keys, for itself");
	if (write_read_begin(call, &txn))
		return;
	if (!auth_deny(call, auth_may_act(txn, me, account), "account_id")) {
		k = write_new(call, sizeof(*k));
		snprintf(k->account_id, sizeof(k->account_id), "%s", account);
		snprintf(k->display_name, sizeof(k->display_name), "%s", req->display_name);
		smartplus__billing__store__v1__api_key_record__init(&k->rec);
		if (auth_mint_key(k->account_id, scope, &k->rec, k->key_id, k->hash, k->token) !=
		    0) {
			rpc_fail(call, GRPC_STATUS_INTERNAL, NULL, "internal error");
			free(k);
		} else {
			k->rec.display_name = k->display_name;
			k->w.apply = apply_create_key;
			k->w.reply = reply_key;
			k->w.cleanup = cleanup_key;
			write_submit(&k->w);
		}
	}
	store_read_end(txn);
}

/* Active keys of account_id other than key_id: 1 if there is one, 0 if
 * none, or STORE_*. */
static int other_active_key(store_txn *txn, const char *account_id, const char *key_id)
{
	char *token = NULL;
	int rc, found = 0;
	do {
		store_list l = {0};
		rc = store_apikey_list_by_account(txn, account_id, STORE_PAGE_MAX, token, &l);
		free(token);
		token = NULL;
		for (size_t i = 0; rc == 0 && i < l.n && !found; i++) {
			const store_apikey *k = l.items[i];
			found = !k->revoked && strcmp(k->key_id, key_id) != 0;
		}
		if (rc == 0 && !found && l.next_page_token)
			token = strdup(l.next_page_token);
		store_list_free(&l);
	} while (token);
	return rc ? rc : found;
}

static int apply_revoke_key(store_txn *txn, rpc_write *w)
{
	key_write *k = (key_write *)w;
	int rc;
	store_record_free(k->loaded);
	k->loaded = NULL;
	rc = store_apikey_get(txn, k->key_id, &k->loaded);
	if (rc != 0)
		return rc;
	/* The vendor never locks itself out: its last active key stays (the
	 * offline way back is `billingd admin-key`). */
	if (!k->loaded->revoked && strcmp(k->loaded->account_id, "vendor") == 0) {
		rc = other_active_key(txn, "vendor", k->key_id);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION, "LAST_VENDOR_KEY",
					  "key_id: the vendor's last active key cannot be revoked; "
					  "create another one first");
	}
	k->loaded->revoked = 1;
	return store_apikey_put(txn, k->loaded, 0);
}

void rpc_DirectoryService_RevokeApiKey(struct rpc_call *call,
				       const Smartplus__Billing__V1__RevokeApiKeyRequest *req)
{
	store_txn *txn;
	store_apikey *key = NULL;
	key_write *k;
	int rc, may = 0;

	if (strlen(req->key_id) != 16)
		return BAD_ARG(call, "key_id: 16 hexadecimal digits");
	if (write_read_begin(call, &txn))
		return;
	rc = store_apikey_get(txn, req->key_id, &key);
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), key->account_id);
	else if (rc != STORE_NOTFOUND)
		may = rc;
	if (!auth_deny(call, may, "key_id")) {
		k = write_new(call, sizeof(*k));
		snprintf(k->key_id, sizeof(k->key_id), "%s", req->key_id);
		k->w.apply = apply_revoke_key;
		k->w.reply = reply_key;
		k->w.cleanup = cleanup_key;
		write_submit(&k->w);
	}
	store_record_free(key);
	store_read_end(txn);
}
