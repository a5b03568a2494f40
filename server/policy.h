#ifndef SPB_POLICY_H
#define SPB_POLICY_H

/*
 * policy.h: installers' payment policies in billingd (DESIGN R11, R12).
 *
 * This file serves SetInstallerPaymentPolicy and GetInstallerPaymentPolicy,
 * and gives the quote and order code the policy of an installer. The
 * stored records live in storage (storage/store_policy.h).
 */

#include <stdint.h>

#include "store.h"

/*
 * The payment policy of installer_id as of txn (read or write txn):
 * *pay_by_installer = 1 when the installer may pay for its own projects,
 * and *method_mask has bit (1u << m) set for every allowed PaymentMethod
 * value m (STRIPE 1, PAYPAL 2, COUPON 3, CREDITS 4). The mask is 0
 * whenever pay_by_installer is 0 (nothing is allowed then, whatever methods
 * were stored). An installer whose policy was never set gets the default:
 * 0 and 0.
 * Does not check that installer_id exists or is an installer.
 * Returns 0, or a negative STORE_* code (both outputs 0 then).
 */
int policy_allowed_methods(store_txn *txn, const char *installer_id, int *pay_by_installer,
			   uint32_t *method_mask);

#endif
