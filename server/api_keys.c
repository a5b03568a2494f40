/*
 * api_keys.c: DirectoryService CreateApiKey and RevokeApiKey. A caller mints
 * ACCOUNT keys for itself or a descendant; only the vendor mints SERVICE
 * keys (which may act for any account), for itself. The secret is shown
 * once, in the CreateApiKey answer; only its hash is stored (auth.h).
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
#include "xalloc.h"

typedef struct key_write {
	rpc_write w;
	store_apikey rec;
	store_apikey *loaded; /* RevokeApiKey */
	char key_id[17];
	unsigned char hash[32];
	char token[AUTH_TOKEN_MAX];
	char account_id[65];
	char display_name[HANDLER_MAX_LABEL + 1];
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
	int scope = req->scope ? req->scope : SCOPE(ACCOUNT);
	store_txn *txn;
	key_write *k;

	if (handler_check_id(call, "account_id", account))
		return;
	if (!valid_enum(&smartplus__billing__v1__api_key_scope__descriptor, scope)) {
		BAD_ARG(call, "scope: unknown scope %d", scope);
		return;
	}
	if (strlen(req->display_name) > HANDLER_MAX_LABEL) {
		BAD_ARG(call, "display_name: longer than %d bytes", HANDLER_MAX_LABEL);
		return;
	}
	if (scope == SCOPE(SERVICE) &&
	    (strcmp(me->account_id, "vendor") != 0 || strcmp(account, "vendor") != 0)) {
		rpc_fail(call, GRPC_STATUS_PERMISSION_DENIED, NULL,
			 "only the vendor mints SERVICE keys, for itself");
		return;
	}
	if (handler_read_begin(call, &txn))
		return;
	if (!auth_deny(call, auth_may_act(txn, me, account), "account_id")) {
		k = write_new(call, sizeof(*k));
		snprintf(k->account_id, sizeof(k->account_id), "%s", account);
		snprintf(k->display_name, sizeof(k->display_name), "%s", req->display_name);
		smartplus__billing__store__v1__api_key_record__init(&k->rec);
		if (auth_mint_key(k->account_id, scope, &k->rec, k->key_id, k->hash, k->token) !=
		    0) {
			handler_fail_internal(call, "cannot mint an API key");
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
			token = xstrdup(l.next_page_token);
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
			return write_fail(w, GRPC_STATUS_FAILED_PRECONDITION,
					  REASON_LAST_VENDOR_KEY,
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

	if (strlen(req->key_id) != 16) {
		BAD_ARG(call, "key_id: 16 hexadecimal digits");
		return;
	}
	if (handler_read_begin(call, &txn))
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

/* ListApiKeys: the public halves of an account's keys (revoked ones included,
 * so an operator can find a key whose id was lost and see that it is revoked),
 * by key id. Only a SHA-256 of a secret is stored, and it is not part of the
 * API message. The tree rule of every Directory RPC applies. */
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
	if (auth_deny(call, auth_may_act(txn, me, account), "account_id"))
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
