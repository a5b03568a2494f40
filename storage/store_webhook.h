/*
 * store_webhook.h - webhook endpoints and the delivery state of each event to
 * each endpoint (DB_WEBHOOKS). Same conventions as store.h.
 *
 * A delivery is created when the delivery worker fans an event out to the
 * endpoints that want it; the worker's position in the outbox is the meta
 * counter "webhook_cursor", moved in the same transaction as the deliveries
 * it created, so a crash neither skips nor doubles one. A PENDING delivery
 * is in the due index under its next attempt time; DELIVERED and DEAD ones
 * are not.
 *
 * Layout in the "webhooks" database:
 *
 *   'W' endpoint_id\0                          -> WebhookEndpointRecord
 *   'A' account\0 endpoint_id\0                -> endpoint_id
 *   'D' endpoint_id\0 seq(be64)                -> DeliveryRecord
 *   'N' next_attempt(be64) endpoint_id\0 seq(be64) -> "" (PENDING only)
 */
#ifndef SPB_STORE_WEBHOOK_H
#define SPB_STORE_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "event.pb-c.h"
#include "store.h"

typedef Smartplus__Billing__Store__V1__WebhookEndpointRecord store_endpoint;
typedef Smartplus__Billing__Store__V1__DeliveryRecord store_delivery;

#define STORE_ENDPOINT_INIT SMARTPLUS__BILLING__STORE__V1__WEBHOOK_ENDPOINT_RECORD__INIT
#define STORE_DELIVERY_INIT SMARTPLUS__BILLING__STORE__V1__DELIVERY_RECORD__INIT

/* DeliveryRecord.status */
#define STORE_DELIVERY_PENDING 1
#define STORE_DELIVERY_DELIVERED 2
#define STORE_DELIVERY_DEAD 3

/* The fan-out position (a meta counter): events up to it have their
 * deliveries. */
#define STORE_WEBHOOK_CURSOR "webhook_cursor"

/* create != 0: STORE_EXISTS if the id is taken. */
int store_endpoint_put(store_txn *w, const store_endpoint *rec, int create);
int store_endpoint_get(store_txn *txn, const char *endpoint_id, store_endpoint **out);
/* Deletes the endpoint (its deliveries are removed later, in bounded
 * batches, by store_delivery_prune). STORE_NOTFOUND if absent. */
int store_endpoint_delete(store_txn *w, const char *endpoint_id);
/* Endpoints of one account, by id. */
int store_endpoint_list_by_account(store_txn *txn, const char *account_id, int page_size,
				   const char *page_token, store_list *out);
/* Every endpoint, by id (the fan-out reads them all; there are few). */
int store_endpoint_list_all(store_txn *txn, int page_size, const char *page_token, store_list *out);

/* Insert or replace the delivery (endpoint_id, seq), keeping the due index
 * in step with its status and next_attempt_time. */
int store_delivery_put(store_txn *w, const store_delivery *rec);
int store_delivery_get(store_txn *txn, const char *endpoint_id, uint64_t seq, store_delivery **out);
/* Deliveries of an endpoint, in event order. */
int store_delivery_list(store_txn *txn, const char *endpoint_id, int page_size,
			const char *page_token, store_list *out);
/* Up to n PENDING deliveries whose next attempt is at or before t, soonest
 * first. */
int store_delivery_due(store_txn *txn, int64_t t, size_t n, store_list *out);
/* The earliest next attempt of any PENDING delivery; 0 when none. */
int store_delivery_next_due(store_txn *txn, int64_t *t);

/*
 * Deletes up to max deliveries that are no longer needed: all those of
 * endpoints that were deleted, and DELIVERED or DEAD ones of events older
 * than before_seq (pruned by retention). *deleted counts them; *more is 1
 * when more may remain.
 */
int store_delivery_prune(store_txn *w, uint64_t before_seq, size_t max, size_t *deleted, int *more);

#endif /* SPB_STORE_WEBHOOK_H */
