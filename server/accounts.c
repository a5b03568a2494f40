/*
 * accounts.c: the reseller tree (DirectoryService CreateAccount, GetAccount,
 * ListAccounts). A caller creates accounts under itself or a descendant, in
 * the places DESIGN §2 allows (role_fits), and reads itself and its
 * descendants only; anything else is PERMISSION_DENIED whether or not it
 * exists. The tree only grows, so a rights check made on the calling
 * thread stays true when the write lands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "write.h"

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
	int may, rc;

	if (handler_check_id(call, "account_id", req->account_id))
		return;
	if (!valid_enum(&smartplus__billing__v1__role__descriptor, req->role) ||
	    req->role == ROLE(VENDOR)) {
		BAD_ARG(call, "role: must be DISTRIBUTOR, SUB_DISTRIBUTOR, INSTALLER or "
			      "PROPERTY_MANAGER");
		return;
	}
	if (handler_check_id(call, "parent_id", req->parent_id))
		return;
	if (strlen(req->display_name) > HANDLER_MAX_LABEL) {
		BAD_ARG(call, "display_name: longer than %d bytes", HANDLER_MAX_LABEL);
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	may = auth_may_act(txn, rpc_call_caller(call), req->parent_id);
	if (auth_deny(call, may, "parent_id"))
		goto done;
	rc = store_account_get(txn, req->parent_id, &parent);
	if (rc != 0) { /* NOTFOUND too: auth_may_act() just found it */
		handler_fail_store(call, rc);
		goto done;
	}
	if (!role_fits(parent->role, req->role)) {
		BAD_ARG(call, "role: a %s cannot be placed under a %s", conv_role_name(req->role),
			conv_role_name(parent->role));
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

	if (handler_check_id(call, "account_id", req->account_id))
		return;
	if (handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), req->account_id),
		      "account_id"))
		goto done;
	rc = store_account_get(txn, req->account_id, &acct);
	if (rc != 0) {
		handler_fail_store(call, rc);
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
	const char *parent = req->parent_id[0] ? req->parent_id : rpc_call_caller(call)->account_id;
	store_txn *txn;
	store_list list = {0};
	arena *a = NULL;
	Smartplus__Billing__V1__ListAccountsResponse r =
		SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_RESPONSE__INIT;
	int rc;

	if (handler_check_id(call, "parent_id", parent))
		return;
	if (req->role && !valid_enum(&smartplus__billing__v1__role__descriptor, req->role)) {
		BAD_ARG(call, "role: unknown role %d", req->role);
		return;
	}
	if (handler_check_page_size(call, req->page_size))
		return;
	if (handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, rpc_call_caller(call), parent), "parent_id"))
		goto done;
	rc = store_account_list_children(txn, parent, req->page_size, req->page_token, &list);
	if (rc != 0) {
		handler_fail_store(call, rc);
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
