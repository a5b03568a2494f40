/*
 * account.c - accounts table and the children index (parent, child).
 */
#include <string.h>

#include "store_int.h"

#define MAX_DEPTH 6

static void children_prefix(store_key *k, const char *parent_id)
{
	key_init(k, KC_ACCOUNT_CHILD);
	key_str(k, parent_id);
}

static int account_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_account *a = (const store_account *)m;

	if (!a->parent_id || !a->parent_id[0])
		return 0;
	children_prefix(&keys[0], a->parent_id);
	key_str(&keys[0], a->account_id);
	return 1;
}

static const store_table accounts = {
	.db = DB_ACCOUNTS,
	.rec_class = KC_ACCOUNT,
	.desc = &smartplus__billing__store__v1__account_record__descriptor,
	.index_keys = account_index,
};

int store_account_put(store_txn *w, const store_account *rec, int create)
{
	return store_table_put(w, &accounts, rec->account_id, &rec->base, create);
}

int store_account_get(store_txn *txn, const char *account_id, store_account **out)
{
	return store_table_get(txn, &accounts, account_id, (ProtobufCMessage **)out);
}

int store_account_list_children(store_txn *txn, const char *parent_id, int page_size,
				const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	children_prefix(&prefix, parent_id);
	store_table_scan(&accounts, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_account_is_self_or_ancestor(store_txn *txn, const char *ancestor_id,
				      const char *descendant_id, int *result)
{
	store_account *a = NULL, *parent = NULL;
	int rc, depth;

	*result = 0;
	if (!ancestor_id || !descendant_id)
		return STORE_INVALID;
	rc = store_account_get(txn, descendant_id, &a);
	for (depth = 0; rc == 0; depth++) {
		if (strcmp(a->account_id, ancestor_id) == 0) {
			*result = 1;
			break;
		}
		if (!a->parent_id || !a->parent_id[0])
			break; /* reached the root */
		if (depth == MAX_DEPTH) {
			rc = STORE_CORRUPT; /* deeper than the tree allows */
			break;
		}
		rc = store_account_get(txn, a->parent_id, &parent);
		store_record_free(a);
		a = parent;
		parent = NULL;
		/* a dangling parent id is corruption, not "no such account" */
		if (rc == STORE_NOTFOUND)
			rc = STORE_CORRUPT;
	}
	store_record_free(a);
	return rc;
}
