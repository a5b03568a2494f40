/*
 * api_keys_list.c: DirectoryService.ListApiKeys.
 *
 * Lists the public halves of an account's keys (revoked ones included, so an
 * operator can find a key whose id was lost and see that it is revoked), by
 * key id, from the (account, key) index. The secret is never stored, only
 * its SHA-256, and the hash is not part of the API message either. The tree
 * rule is the one of every Directory RPC: the caller's own account or a
 * descendant, anything else PERMISSION_DENIED whether or not it exists.
 */
#include "auth.h"
#include "convert.h"
#include "handler.h"
#include "rpc.h"
#include "rpc_handlers.h"

void rpc_DirectoryService_ListApiKeys(struct rpc_call *call,
				      const Smartplus__Billing__V1__ListApiKeysRequest *req)
{
	const rpc_caller *me = rpc_call_caller(call);
	const char *account = req->account_id[0] ? req->account_id : me->account_id;
	Smartplus__Billing__V1__ListApiKeysResponse r =
		SMARTPLUS__BILLING__V1__LIST_API_KEYS_RESPONSE__INIT;
	store_list list = {0};
	store_txn *txn;
	arena *a = NULL;
	int rc;

	if (handler_check_id(call, "account_id", account) ||
	    handler_check_page_size(call, req->page_size) || handler_read_begin(call, &txn))
		return;
	if (auth_deny(call, auth_may_act(txn, me, account), "account", account))
		goto done;
	rc = store_apikey_list_by_account(txn, account, req->page_size, req->page_token, &list);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.api_keys = arena_alloc(a, (list.n + 1) * sizeof(*r.api_keys));
	for (size_t i = 0; i < list.n; i++)
		r.api_keys[r.n_api_keys++] = conv_apikey(a, list.items[i]);
	r.next_page_token = list.next_page_token ? list.next_page_token : "";
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_list_free(&list);
	store_read_end(txn);
}
