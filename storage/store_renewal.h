/*
 * store_renewal.h - renewal groups and payment requests (issue 16), in
 * DB_ORDERS. Same conventions as store.h: 0 or a negative STORE_* code;
 * getters give a fresh record the caller frees with store_record_free();
 * puts need the writer's transaction (else STORE_INVALID).
 *
 * Keys (DB_ORDERS):
 *   'G' group_id\0                     -> RenewalGroupRecord
 *   'g' payer\0 group_id\0             -> group id (a payer's groups)
 *   'n' be64(notice_due) group_id\0    -> group id, notice_due > 0 only
 *                                         (renewal.upcoming notices)
 *   'R' request_id\0                   -> PaymentRequestRecord
 *   'r' payer\0 be64(~create) id\0     -> request id (asked to pay, newest first)
 *   's' requester\0 be64(~create) id\0 -> request id (made, newest first)
 *   'x' be64(expire_time) id\0         -> request id, PENDING requests only
 *
 * The members of a group are an index of the items table
 * (store_item_list_by_group in store.h).
 */
#ifndef SPB_STORE_RENEWAL_H
#define SPB_STORE_RENEWAL_H

#include "renewal.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__RenewalGroupRecord store_group;
typedef Smartplus__Billing__Store__V1__PaymentRequestRecord store_payreq;

#define STORE_GROUP_INIT SMARTPLUS__BILLING__STORE__V1__RENEWAL_GROUP_RECORD__INIT
#define STORE_PAYREQ_INIT SMARTPLUS__BILLING__STORE__V1__PAYMENT_REQUEST_RECORD__INIT

/* PaymentRequestRecord.status of a request waiting for an answer (the
 * API's PAYMENT_REQUEST_STATUS_PENDING); such requests are indexed by
 * expiry. */
#define STORE_PAYREQ_PENDING 1

/* Groups. create != 0: STORE_EXISTS if the id is taken. payer_id never
 * changes. */
int store_group_put(store_txn *w, const store_group *rec, int create);
int store_group_get(store_txn *txn, const char *group_id, store_group **out);
/* A payer's groups ordered by group id. */
int store_group_list_by_payer(store_txn *txn, const char *payer_id, int page_size,
			      const char *page_token, store_list *out);
/* Up to n groups whose notice_due is in (0, t], soonest first. */
int store_group_notice_due(store_txn *txn, int64_t t, size_t n, store_list *out);

/* Payment requests. create != 0: STORE_EXISTS if the id is taken;
 * requester, payer and create_time never change. */
int store_payreq_put(store_txn *w, const store_payreq *rec, int create);
int store_payreq_get(store_txn *txn, const char *request_id, store_payreq **out);
/* Requests asked of payer_id (incoming) or made by requester_id (outgoing),
 * newest first. */
int store_payreq_list_by_payer(store_txn *txn, const char *payer_id, int page_size,
			       const char *page_token, store_list *out);
int store_payreq_list_by_requester(store_txn *txn, const char *requester_id, int page_size,
				   const char *page_token, store_list *out);
/* Up to n PENDING requests whose expire_time is <= t, soonest first. */
int store_payreq_expiring(store_txn *txn, int64_t t, size_t n, store_list *out);

#endif /* SPB_STORE_RENEWAL_H */
