#ifndef SPB_AUTH_H
#define SPB_AUTH_H

/*
 * Authentication (API keys) and authorisation (the reseller tree).
 *
 * Keys are "spb_<key id>_<secret>": a 16-hex-digit id and a 64-hex-digit
 * secret. Only SHA-256(secret) is stored; it is compared in constant time.
 * A SERVICE-scope key may act for any account through x-acting-account.
 */

#include <stddef.h>

#include "rpc.h"
#include "store.h"

#define AUTH_TOKEN_MAX 96

/* The dispatcher's authenticator (see rpc_auth_fn). */
grpc_status_code auth_authenticate(const grpc_metadata_array *md, rpc_caller *caller, char *msg,
				   size_t msgcap);

/* Mints a new key for `account_id`: fills rec (key_id, account_id, scope,
 * secret_sha256; key_id and the hash point into the caller's buffers) and writes the bearer
 * token into token[AUTH_TOKEN_MAX]. 0, or -1 if the RNG failed. */
int auth_mint_key(const char *account_id, int scope, store_apikey *rec, char key_id[17],
		  unsigned char hash[32], char token[AUTH_TOKEN_MAX]);

/*
 * The one rule of the tree: may the caller act on account `target`? That is,
 * is the caller's (acted-for) account `target` itself or one of its
 * ancestors. Returns 1 yes, 0 no (also when target does not exist, so a
 * caller cannot probe for ids: AIP-211), or a negative STORE_* code.
 */
int auth_may_act(store_txn *txn, const rpc_caller *caller, const char *target);

/* May the caller read project p: an ancestor of its installer (the
 * installer included), or its property manager. 1, 0, or a negative STORE_*
 * code, as auth_may_act(). */
int auth_may_read_project(store_txn *txn, const rpc_caller *caller, const store_project *p);

/* Reads project `project_id` into *p (free with store_record_free()) when
 * the caller may act on its installer and returns 0; otherwise fails the
 * call (AUTH_DENIED for the request field `field` whether or not it exists,
 * or the storage error) and returns 1. */
int auth_load_project(rpc_call *call, store_txn *txn, const char *field, const char *project_id,
		      store_project **p);

/*
 * AIP-211: the one answer to a reference outside the caller's subtree,
 * whether or not the resource exists. It names the request field (a path
 * such as "item_ids[2]"), never the id or anything about the resource, so
 * an existing foreign resource and a missing one read byte for byte alike.
 * Use it as the format with the field as its only argument.
 */
#define AUTH_DENIED "%s: permission denied (it does not exist, or you may not act on it)"

/* Fails the call with PERMISSION_DENIED AUTH_DENIED for `field` (or the
 * storage error) for an auth_may_act() result that is not 1. Returns 1
 * when it failed the call. */
int auth_deny(rpc_call *call, int may, const char *field);

#endif
