/*
 * policy.c (storage) - installers' payment policies. See store_policy.h.
 */
#include "store_policy.h"
#include "store_int.h"

static void policy_key(store_key *k, const char *installer_id)
{
	key_init(k, POLICY_KC_RECORD);
	key_str(k, installer_id);
}

int policy_get(store_txn *txn, const char *installer_id, policy_record **out)
{
	store_key k;

	*out = NULL;
	policy_key(&k, installer_id);
	return store_rec_get(txn, DB_POLICIES, &k,
			     &smartplus__billing__store__v1__payment_policy_record__descriptor,
			     (ProtobufCMessage **)out);
}

int policy_put(store_txn *w, const policy_record *rec)
{
	store_key k;

	policy_key(&k, rec->installer_id);
	return store_rec_put(w, DB_POLICIES, &k, &rec->base, 0);
}
