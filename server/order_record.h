#ifndef SPB_ORDER_RECORD_H
#define SPB_ORDER_RECORD_H

/*
 * order_record.h: the order record as every file of the order engine sees it
 * (orders.h lists them): when it times out, how it is packed between a write
 * and its reply, and how it becomes the API's Order.
 */

#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "rpc.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "order_window.h" /* ORDER_PAY_WINDOW_US, orders_overdue() */
#include "store_order.h"

/* "STRIPE", "CREDITS"... for messages; "UNSPECIFIED" for an unknown one. */
const char *orders_method_name(int method);

/* Packs o into *buf (malloc'd, freeing what was there); 0 or STORE_IO. */
int orders_pack(const store_order *o, uint8_t **buf, size_t *len);

/* Unpacks what orders_pack() wrote (free with store_record_free()), or
 * NULL. */
store_order *orders_unpack(const uint8_t *buf, size_t len);

/* The API Order for o at now (an overdue one reads TIMED_OUT), built in
 * arena a; strings borrowed from o. */
Smartplus__Billing__V1__Order *orders_conv(arena *a, const store_order *o, int64_t now);

/* Finishes the call with o as its response. Every response of the order
 * RPCs (Activate/Renew/Confirm/Cancel/GetOrder/PurchaseCredits,
 * ApprovePaymentRequest) is a message whose only field is `Order order =
 * 1`, so one layout serves; RecoverRenewal's adds what the buyer must do
 * next (orders_recovery_step) and the client secret. */
void orders_reply(rpc_call *call, const store_order *o);

/* What the buyer must do about a renewal-group order (RecoveryStep):
 * NONE once paid, WAIT while at the provider, AUTHENTICATE after 3-D
 * Secure was asked for, NEW_PAYMENT_METHOD after a decline. */
int orders_recovery_step(const store_order *o);

/* The strings of a stored order that settling may point elsewhere (into
 * the provider's answer, or at static text): saved before, put back before
 * the record is freed, so it frees exactly what its unpacking allocated. */
typedef struct orders_strings {
	char *pi, *secret, *pp_id, *pp_url, *why, *pp_capture;
} orders_strings;

orders_strings orders_strings_save(const store_order *o);
void orders_strings_restore(store_order *o, const orders_strings *k);

#endif
