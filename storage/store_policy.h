/*
 * store_policy.h - installers' payment policies (DESIGN R12) in the
 * "policies" database: one record per installer, at 'P' installer_id\0.
 *
 * The storage layer keeps what it is given; the rules (who may set it, the
 * installer's role, the allowed methods) are the server's (server/policy.c).
 * An installer without a record has the default policy: pay_by_installer
 * false, no methods.
 *
 * Memory: records come back as fresh messages the caller frees with
 * store_record_free(); nothing points into the LMDB map.
 * Errors: 0 or a negative STORE_* code.
 */
#ifndef SPB_STORE_POLICY_H
#define SPB_STORE_POLICY_H

#include "policy.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__PaymentPolicyRecord policy_record;

#define POLICY_RECORD_INIT SMARTPLUS__BILLING__STORE__V1__PAYMENT_POLICY_RECORD__INIT

/* Key class of a policy record in the policies database. */
#define POLICY_KC_RECORD 'P'

/* The stored policy of installer_id in *out (caller frees), or
 * STORE_NOTFOUND (*out = NULL) when none was ever set. */
int policy_get(store_txn *txn, const char *installer_id, policy_record **out);

/* Insert or replace the policy of rec->installer_id. Write txn only, else
 * STORE_INVALID; STORE_INVALID also for an id that is not a valid key. */
int policy_put(store_txn *w, const policy_record *rec);

#endif /* SPB_STORE_POLICY_H */
