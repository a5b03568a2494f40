/* auth.c: API keys and the tree rule. See auth.h. */
#include "auth.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "billingd.h"
#include "clock.h"
#include "enums.h"
#include "handler.h"
#include "log.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "write.h"

#define KEY_ID_HEX 16
#define SECRET_HEX 64

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int auth_mint_key(const char *account_id, int scope, store_apikey *rec, char key_id[17],
		  unsigned char hash[32], char token[AUTH_TOKEN_MAX])
{
	unsigned char id[KEY_ID_HEX / 2], secret[SECRET_HEX / 2];
	char secret_hex[SECRET_HEX + 1];
	if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1)
		return -1;
	hex(id, sizeof(id), key_id);
	hex(secret, sizeof(secret), secret_hex);
	SHA256((const unsigned char *)secret_hex, SECRET_HEX, hash);
	snprintf(token, AUTH_TOKEN_MAX, "spb_%s_%s", key_id, secret_hex);
	rec->key_id = key_id;
	rec->account_id = (char *)account_id;
	rec->scope = scope;
	rec->secret_sha256.data = hash;
	rec->secret_sha256.len = 32;
	rec->revoked = 0;
	rec->create_time = clock_now_us();
	OPENSSL_cleanse(secret_hex, sizeof(secret_hex));
	return 0;
}

/*
 * A small per-thread cache of authenticated keys, so a read does not cost
 * two store lookups. An entry is only used while no write transaction has
 * committed since the data it was built from was read (store_commit_count),
 * so a revoked key, a new key or a changed account take effect at once; the
 * presented secret is still hashed and compared in constant time.
 */
#define AUTH_CACHE 16

typedef struct auth_entry {
	char key_id[KEY_ID_HEX + 1];
	char acting[65];
	unsigned char hash[32];
	uint64_t commits;
	rpc_caller caller;
	int used;
} auth_entry;

static __thread auth_entry auth_cache[AUTH_CACHE];
static __thread unsigned auth_next;

static int cache_lookup(const char *key_id, const unsigned char hash[32], const char *acting,
			rpc_caller *caller)
{
	uint64_t now = store_commit_count(billingd.store);
	for (int i = 0; i < AUTH_CACHE; i++) {
		auth_entry *e = &auth_cache[i];
		if (!e->used || e->commits != now || memcmp(e->key_id, key_id, KEY_ID_HEX) != 0 ||
		    strcmp(e->acting, acting) != 0)
			continue;
		if (CRYPTO_memcmp(e->hash, hash, 32) != 0)
			return 0;
		*caller = e->caller;
		return 1;
	}
	return 0;
}

static void cache_store(const char *key_id, const unsigned char hash[32], const char *acting,
			const rpc_caller *caller, uint64_t commits)
{
	auth_entry *e = &auth_cache[auth_next++ % AUTH_CACHE];
	memcpy(e->key_id, key_id, KEY_ID_HEX);
	e->key_id[KEY_ID_HEX] = 0;
	snprintf(e->acting, sizeof(e->acting), "%s", acting);
	memcpy(e->hash, hash, 32);
	e->commits = commits;
	e->caller = *caller;
	e->used = 1;
}

static grpc_status_code unauth(char *msg, size_t cap, const char *why)
{
	snprintf(msg, cap, "%s", why);
	return GRPC_STATUS_UNAUTHENTICATED;
}

grpc_status_code auth_authenticate(const grpc_metadata_array *md, rpc_caller *caller, char *msg,
				   size_t msgcap)
{
	char value[160] = "", acting[65] = "";
	const char *token, *key_id, *secret;
	unsigned char hash[32];
	store_txn *txn = NULL;
	store_apikey *key = NULL;
	store_account *acct = NULL;
	grpc_status_code st = GRPC_STATUS_UNAUTHENTICATED;
	int found_auth = 0, found_acting = 0, rc;
	uint64_t commits;

	for (size_t i = 0; i < md->count; i++) {
		const grpc_metadata *m = &md->metadata[i];
		size_t n = GRPC_SLICE_LENGTH(m->value);
		if (grpc_slice_str_cmp(m->key, "authorization") == 0 && !found_auth) {
			found_auth = 1;
			if (n >= sizeof(value))
				return unauth(msg, msgcap, "authorization: malformed bearer key");
			memcpy(value, GRPC_SLICE_START_PTR(m->value), n);
			value[n] = 0;
		} else if (grpc_slice_str_cmp(m->key, "x-acting-account") == 0 && !found_acting) {
			found_acting = 1;
			if (n == 0 || n > 64)
				return unauth(msg, msgcap, "x-acting-account: not an account id");
			memcpy(acting, GRPC_SLICE_START_PTR(m->value), n);
			acting[n] = 0;
		}
	}
	if (!found_auth)
		return unauth(msg, msgcap, "missing authorization: Bearer <key>");
	if (strncmp(value, "Bearer ", 7) != 0)
		return unauth(msg, msgcap, "authorization: expected 'Bearer <key>'");
	token = value + 7;
	/* spb_<16 hex>_<64 hex> */
	if (strlen(token) != 4 + KEY_ID_HEX + 1 + SECRET_HEX || strncmp(token, "spb_", 4) != 0 ||
	    token[4 + KEY_ID_HEX] != '_' || !is_hex(token + 4, KEY_ID_HEX) ||
	    !is_hex(token + 5 + KEY_ID_HEX, SECRET_HEX))
		return unauth(msg, msgcap, "authorization: malformed bearer key");
	key_id = token + 4;
	secret = token + 5 + KEY_ID_HEX;
	SHA256((const unsigned char *)secret, SECRET_HEX, hash);
	if (cache_lookup(key_id, hash, found_acting ? acting : "", caller))
		return GRPC_STATUS_OK;
	commits = store_commit_count(billingd.store);
	{
		char id[KEY_ID_HEX + 1];
		memcpy(id, key_id, KEY_ID_HEX);
		id[KEY_ID_HEX] = 0;
		rc = store_read_begin(billingd.store, &txn);
		if (rc != 0) {
			snprintf(msg, msgcap, "server busy");
			return GRPC_STATUS_UNAVAILABLE;
		}
		rc = store_apikey_get(txn, id, &key);
	}
	if (rc != 0 || key->secret_sha256.len != 32 ||
	    CRYPTO_memcmp(hash, key->secret_sha256.data, 32) != 0) {
		unauth(msg, msgcap, "unknown or invalid key");
		goto done;
	}
	if (key->revoked) {
		unauth(msg, msgcap, "key revoked");
		goto done;
	}
	snprintf(caller->key_id, sizeof(caller->key_id), "%s", key->key_id);
	snprintf(caller->key_account_id, sizeof(caller->key_account_id), "%s", key->account_id);
	caller->scope = key->scope;
	if (found_acting && key->scope != SCOPE(SERVICE)) {
		snprintf(msg, msgcap, "x-acting-account needs a SERVICE key");
		st = GRPC_STATUS_PERMISSION_DENIED;
		goto done;
	}
	snprintf(caller->account_id, sizeof(caller->account_id), "%s",
		 found_acting ? acting : key->account_id);
	if (store_account_get(txn, caller->account_id, &acct) != 0) {
		if (found_acting) {
			snprintf(msg, msgcap, "x-acting-account: no such account");
			st = GRPC_STATUS_PERMISSION_DENIED;
		} else {
			unauth(msg, msgcap, "the key's account no longer exists");
		}
		goto done;
	}
	caller->role = acct->role;
	st = GRPC_STATUS_OK;
	cache_store(key_id, hash, found_acting ? acting : "", caller, commits);
done:
	store_record_free(acct);
	store_record_free(key);
	store_read_end(txn);
	return st;
}

int auth_may_act(store_txn *txn, const rpc_caller *caller, const char *target)
{
	int result = 0;
	int rc = store_account_is_self_or_ancestor(txn, caller->account_id, target, &result);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	return result ? 1 : 0;
}

int auth_may_read_project(store_txn *txn, const rpc_caller *caller, const store_project *p)
{
	if (p->property_manager_id[0] && strcmp(p->property_manager_id, caller->account_id) == 0)
		return 1;
	return auth_may_act(txn, caller, p->installer_id);
}

int auth_load_project(rpc_call *call, store_txn *txn, const char *field, const char *project_id,
		      store_project **p)
{
	int rc = store_project_get(txn, project_id, p), may = 0;
	if (rc == 0)
		may = auth_may_act(txn, rpc_call_caller(call), (*p)->installer_id);
	else if (rc != STORE_NOTFOUND)
		may = rc;
	if (!auth_deny(call, may, field))
		return 0;
	store_record_free(*p);
	*p = NULL;
	return 1;
}

int auth_deny(rpc_call *call, int may, const char *field)
{
	if (may == 1)
		return 0;
	if (may < 0)
		handler_fail_store(call, may);
	else
		rpc_fail(call, GRPC_STATUS_PERMISSION_DENIED, NULL, AUTH_DENIED, field);
	return 1;
}
