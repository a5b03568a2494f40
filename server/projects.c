/*
 * projects.c: DirectoryService CreateProject, UpdateProject, GetProject,
 * ListProjects. A project belongs to an installer and may name a property
 * manager of the installer's tree; a PMS-integrated community project has
 * one INTEGRATION item (R5), created and removed with the flag in the same
 * write. Readable by the installer's ancestors and the project's property
 * manager (auth_may_read_project).
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
#include "handler.h"
#include "items.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"

/* Loads an account and checks its role; fails the call with INVALID_ARGUMENT
 * naming `field` otherwise. Returns 0 when it is there with that role. */
static int expect_role(rpc_call *call, store_txn *txn, const char *field, const char *id, int role)
{
	store_account *acct = NULL;
	int rc = store_account_get(txn, id, &acct);
	int ok = rc == 0 && acct->role == role;
	store_record_free(acct);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		return -1;
	}
	if (!ok) {
		BAD_ARG(call, "%s: '%s' is not a %s", field, id, conv_role_name(role));
		return -1;
	}
	return 0;
}

/*
 * A property manager may serve a project when it hangs under the project's
 * installer or under one of the installer's ancestors. Anything else named
 * in `field` (missing, another tree's, not a property manager) is answered
 * by what the caller may see of it (AIP-211): an account outside the
 * caller's reach gets the one denial text whether or not it exists; only
 * one the caller may act on is told why it does not fit.
 */
static int check_property_manager(rpc_call *call, store_txn *txn, const char *field,
				  const char *pm_id, const char *installer_id)
{
	store_account *pm = NULL;
	int related = 0, may = 0, is_pm = 0;
	int rc = store_account_get(txn, pm_id, &pm);
	if (rc == 0) {
		is_pm = pm->role == ROLE(PROPERTY_MANAGER);
		rc = store_account_is_self_or_ancestor(txn, pm->parent_id, installer_id, &related);
	}
	if (rc == 0 && !(is_pm && related))
		may = auth_may_act(txn, rpc_call_caller(call), pm_id);
	store_record_free(pm);
	if ((rc != 0 && rc != STORE_NOTFOUND) || may < 0) {
		handler_fail_store(call, rc ? rc : may);
		return -1;
	}
	if (rc == 0 && is_pm && related)
		return 0;
	if (auth_deny(call, may, field))
		return -1;
	if (!is_pm)
		BAD_ARG(call, "%s: '%s' is not a %s", field, pm_id,
			conv_role_name(ROLE(PROPERTY_MANAGER)));
	else
		BAD_ARG(call, "%s: '%s' is not in the installer's branch of the tree", field,
			pm_id);
	return -1;
}

typedef struct project_write {
	rpc_write w;
	store_project rec;
	store_project *loaded; /* UpdateProject: the record read in apply */
	char integration_id[ITEMS_REF_MAX];
	Smartplus__Billing__V1__Project *update; /* UpdateProject input */
	int mask_pms, mask_free, mask_pm, mask_name;
} project_write;

/* Creates or removes the INTEGRATION item to match p->pms_integrated; an
 * existing one is never reset, and is removed only when items_guard_removal
 * lets it go (else turning integration off is refused). */
static int sync_integration(store_txn *txn, project_write *c, const store_project *p)
{
	store_item it, *existing = NULL;
	int rc;
	items_integration_init(&it, p, c->integration_id, clock_now_us());
	rc = store_item_get(txn, it.item_id, &existing);
	if (!p->pms_integrated && rc == 0) {
		rc = items_guard_removal(txn, &c->w, existing, "project.pms_integrated");
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

	if (handler_check_id(call, "project_id", req->project_id))
		return;
	if (handler_check_id(call, "installer_id", req->installer_id))
		return;
	if (!catalog_valid_project_type(req->type)) {
		BAD_ARG(call, "type: must be COMMUNITY, SINGLE_FAMILY_HOUSE or COMMERCIAL");
		return;
	}
	if (req->pms_integrated && req->type != PTYPE(COMMUNITY)) {
		BAD_ARG(call, "pms_integrated: only community projects integrate with a PMS");
		return;
	}
	if (req->free_additional_apps < 0 || req->free_additional_apps > 1000) {
		BAD_ARG(call, "free_additional_apps: must be 0..1000");
		return;
	}
	if (req->property_manager_id[0] &&
	    handler_check_id(call, "property_manager_id", req->property_manager_id))
		return;
	if (strlen(req->display_name) > HANDLER_MAX_LABEL) {
		BAD_ARG(call, "display_name: longer than %d bytes", HANDLER_MAX_LABEL);
		return;
	}
	created_at = conv_us(req->created_at, &ok);
	if (!ok) {
		BAD_ARG(call, "created_at: out of range");
		return;
	}
	/* created_at and free_additional_apps lower charges: the dispatcher's
	 * validator lets only the vendor or a SERVICE key set them. */
	if (handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), req->installer_id),
		      "installer_id"))
		goto done;
	if (expect_role(call, txn, "installer_id", req->installer_id, ROLE(INSTALLER)))
		goto done;
	if (req->property_manager_id[0] &&
	    check_property_manager(call, txn, "property_manager_id", req->property_manager_id,
				   req->installer_id))
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
	if (c->mask_pm)
		store_str_set(&p->property_manager_id, c->update->property_manager_id);
	if (c->mask_name)
		store_str_set(&p->display_name, c->update->display_name);
	if (p->pms_integrated && p->type != PTYPE(COMMUNITY))
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
	int pms = 0, fr = 0, pm = 0, name = 0;

	if (handler_check_id(call, "project.project_id", in ? in->project_id : NULL))
		return;
	if (!req->update_mask || req->update_mask->n_paths == 0) {
		BAD_ARG(call, "update_mask: name the fields to change");
		return;
	}
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
		else {
			BAD_ARG(call, "update_mask: '%s' cannot be changed", f);
			return;
		}
	}
	if (fr && (in->free_additional_apps < 0 || in->free_additional_apps > 1000)) {
		BAD_ARG(call, "project.free_additional_apps: must be 0..1000");
		return;
	}
	if (pm && in->property_manager_id[0] &&
	    handler_check_id(call, "project.property_manager_id", in->property_manager_id))
		return;
	if (name && strlen(in->display_name) > HANDLER_MAX_LABEL) {
		BAD_ARG(call, "project.display_name: longer than %d bytes", HANDLER_MAX_LABEL);
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	if (auth_load_project(call, txn, "project.project_id", in->project_id, &p))
		goto done;
	if (pm && in->property_manager_id[0] &&
	    check_property_manager(call, txn, "project.property_manager_id",
				   in->property_manager_id, p->installer_id))
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

void rpc_DirectoryService_GetProject(struct rpc_call *call,
				     const Smartplus__Billing__V1__GetProjectRequest *req)
{
	store_txn *txn;
	store_project *p = NULL;
	arena *a = NULL;
	Smartplus__Billing__V1__GetProjectResponse r =
		SMARTPLUS__BILLING__V1__GET_PROJECT_RESPONSE__INIT;
	int rc;

	if (handler_check_id(call, "project_id", req->project_id))
		return;
	if (handler_read_begin(call, &txn))
		return;
	rc = store_project_get(txn, req->project_id, &p);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (auth_deny(call, rc == 0 ? auth_may_read_project(txn, rpc_call_caller(call), p) : 0,
		      "project_id"))
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
	const char *installer = req->installer_id[0] ? req->installer_id
						     : rpc_call_caller(call)->account_id;
	store_txn *txn;
	store_list list = {0};
	arena *a = NULL;
	Smartplus__Billing__V1__ListProjectsResponse r =
		SMARTPLUS__BILLING__V1__LIST_PROJECTS_RESPONSE__INIT;
	int rc;

	if (handler_check_id(call, "installer_id", installer))
		return;
	if (req->type && !catalog_valid_project_type(req->type)) {
		BAD_ARG(call, "type: unknown project type %d", req->type);
		return;
	}
	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), installer), "installer_id"))
		goto done;
	rc = store_project_list_by_installer(txn, installer, req->type, req->page_size,
					     req->page_token, &list);
	if (rc != 0) {
		handler_fail_store(call, rc);
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
