/*
 * policy.c: BillingService SetInstallerPaymentPolicy and
 * GetInstallerPaymentPolicy (DESIGN R12), and the policy lookup of the
 * quote and order code.
 *
 * Any strict ancestor of an installer may set its policy; the installer
 * itself (and its ancestors) may read it. The tree checks run on the calling
 * thread (the tree only grows); the record is written through the writer.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "billingd.h"
#include "clock.h"
#include "convert.h"
#include "enums.h"
#include "events.h"
#include "handler.h"
#include "policy.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "store_policy.h"
#include "write.h"

int policy_allowed_methods(store_txn *txn, const char *installer_id, int *pay_by_installer,
			   uint32_t *method_mask)
{
	policy_record *rec = NULL;
	int rc;

	*pay_by_installer = 0;
	*method_mask = 0;
	rc = policy_get(txn, installer_id, &rec);
	if (rc == STORE_NOTFOUND) {
		rc = 0;
		goto done;
	}
	if (rc != 0 || !rec->pay_by_installer)
		goto done;
	*pay_by_installer = 1;
	for (size_t i = 0; i < rec->n_allowed_methods; i++) {
		int m = rec->allowed_methods[i];
		if (m > 0 && m < 32)
			*method_mask |= 1u << m;
	}
done:
	store_record_free(rec);
	return rc;
}

/* The API message for a stored policy, or the default one when rec is
 * NULL. Strings point into rec / installer_id. */
static Smartplus__Billing__V1__InstallerPaymentPolicy *conv_policy(arena *a,
								   const char *installer_id,
								   const policy_record *rec)
{
	Smartplus__Billing__V1__InstallerPaymentPolicy *p = arena_alloc(a, sizeof(*p));

	smartplus__billing__v1__installer_payment_policy__init(p);
	p->installer_id = (char *)installer_id;
	if (!rec)
		return p;
	p->pay_by_installer = rec->pay_by_installer;
	p->n_allowed_methods = rec->n_allowed_methods;
	p->allowed_methods = arena_alloc(a, (rec->n_allowed_methods + 1) *
						    sizeof(*p->allowed_methods));
	for (size_t i = 0; i < rec->n_allowed_methods; i++)
		p->allowed_methods[i] = rec->allowed_methods[i];
	p->updated_by = rec->updated_by;
	p->update_time = conv_ts(a, rec->update_time);
	return p;
}

/* Checks that the caller may reach installer_id (strictly above it when
 * `set`) and that it is an installer; fails the call and returns -1 if not. */
static int check_installer(rpc_call *call, store_txn *txn, const char *installer_id, int set)
{
	const rpc_caller *me = rpc_call_caller(call);
	store_account *acct = NULL;
	int rc, err = -1;

	if (auth_deny(call, auth_may_act(txn, me, installer_id), "installer_id"))
		goto done;
	if (set && strcmp(me->account_id, installer_id) == 0) {
		rpc_fail(call, GRPC_STATUS_PERMISSION_DENIED, NULL,
			 "an installer's payment policy is set by its ancestors, not by the "
			 "installer");
		goto done;
	}
	rc = store_account_get(txn, installer_id, &acct);
	if (rc != 0) {
		handler_fail_store(call, rc);
		goto done;
	}
	if (acct->role != ROLE(INSTALLER)) {
		BAD_ARG(call, "installer_id: '%s' is not an installer", installer_id);
		goto done;
	}
	err = 0;
done:
	store_record_free(acct);
	return err;
}

typedef struct policy_write {
	rpc_write w;
	policy_record rec; /* strings into the request, valid until the call ends */
	char updated_by[65];
} policy_write;

static int apply_policy(store_txn *txn, rpc_write *w)
{
	policy_write *p = (policy_write *)w;
	arena *a = arena_new();
	int rc = a ? policy_put(txn, &p->rec) : STORE_IO;
	if (rc == 0)
		rc = events_policy(txn, p->rec.installer_id,
				   conv_policy(a, p->rec.installer_id, &p->rec), p->updated_by);
	arena_free(a);
	return rc;
}

static void reply_policy(rpc_write *w)
{
	policy_write *p = (policy_write *)w;
	Smartplus__Billing__V1__SetInstallerPaymentPolicyResponse r =
		SMARTPLUS__BILLING__V1__SET_INSTALLER_PAYMENT_POLICY_RESPONSE__INIT;
	arena *a = arena_new();

	r.policy = conv_policy(a, p->rec.installer_id, &p->rec);
	rpc_reply(w->call, &r.base);
	arena_free(a);
}

void rpc_BillingService_SetInstallerPaymentPolicy(
	struct rpc_call *call, const Smartplus__Billing__V1__SetInstallerPaymentPolicyRequest *req)
{
	store_txn *txn;
	policy_write *p;

	if (handler_check_id(call, "installer_id", req->installer_id))
		return;
	if (req->pay_by_installer && req->n_allowed_methods == 0) {
		BAD_ARG(call,
			"allowed_methods: name at least one method when pay_by_installer is true");
		return;
	}
	for (size_t i = 0; i < req->n_allowed_methods; i++) {
		int m = req->allowed_methods[i];
		if (m != METHOD(STRIPE) && m != METHOD(PAYPAL) && m != METHOD(COUPON) &&
		    m != METHOD(CREDITS)) {
			BAD_ARG(call,
				"allowed_methods[%zu]: must be STRIPE, PAYPAL, COUPON or CREDITS",
				i);
			return;
		}
		for (size_t j = 0; j < i; j++)
			if (req->allowed_methods[j] == req->allowed_methods[i]) {
				BAD_ARG(call, "allowed_methods[%zu]: listed twice", i);
				return;
			}
	}
	if (handler_read_begin(call, &txn))
		return;
	if (check_installer(call, txn, req->installer_id, 1) == 0) {
		p = write_new(call, sizeof(*p));
		smartplus__billing__store__v1__payment_policy_record__init(&p->rec);
		snprintf(p->updated_by, sizeof(p->updated_by), "%s",
			 rpc_call_caller(call)->account_id);
		p->rec.installer_id = req->installer_id;
		p->rec.pay_by_installer = req->pay_by_installer;
		p->rec.n_allowed_methods = req->n_allowed_methods;
		p->rec.allowed_methods = (int32_t *)req->allowed_methods;
		p->rec.updated_by = p->updated_by;
		p->rec.update_time = clock_now_us();
		p->w.apply = apply_policy;
		p->w.reply = reply_policy;
		write_submit(&p->w);
	}
	store_read_end(txn);
}

void rpc_BillingService_GetInstallerPaymentPolicy(
	struct rpc_call *call, const Smartplus__Billing__V1__GetInstallerPaymentPolicyRequest *req)
{
	Smartplus__Billing__V1__GetInstallerPaymentPolicyResponse r =
		SMARTPLUS__BILLING__V1__GET_INSTALLER_PAYMENT_POLICY_RESPONSE__INIT;
	policy_record *rec = NULL;
	arena *a = NULL;
	store_txn *txn;
	int rc;

	if (handler_check_id(call, "installer_id", req->installer_id))
		return;
	if (handler_read_begin(call, &txn))
		return;
	if (check_installer(call, txn, req->installer_id, 0) != 0)
		goto done;
	rc = policy_get(txn, req->installer_id, &rec);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		handler_fail_store(call, rc);
		goto done;
	}
	a = arena_new();
	r.policy = conv_policy(a, req->installer_id, rec);
	rpc_reply(call, &r.base);
done:
	arena_free(a);
	store_record_free(rec);
	store_read_end(txn);
}
