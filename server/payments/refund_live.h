#ifndef SPB_PAYMENTS_REFUND_LIVE_H
#define SPB_PAYMENTS_REFUND_LIVE_H

/*
 * refund_live.h: refunds at the live providers over HTTP (refund.h says
 * which endpoints and why the credit note number is the key). Stripe: POST
 * /v1/refunds (form: payment_intent, amount, reason=requested_by_customer,
 * metadata[credit_note], metadata[order_id]) with Idempotency-Key, or GET
 * /v1/refunds/{id} once the id is known. PayPal: the capture id (read from
 * GET /v2/checkout/orders/{id} when the order did not record it), then POST
 * /v2/payments/captures/{capture_id}/refund (JSON: amount {value,
 * currency_code}, invoice_id, note_to_payer) with PayPal-Request-Id, or GET
 * /v2/payments/refunds/{id}.
 *
 * Answers: a refund object's status decides (Stripe succeeded / pending,
 * requires_action / failed, canceled; PayPal COMPLETED / PENDING / FAILED,
 * CANCELLED). An error the provider is sure of (a 4xx error object other
 * than an idempotency conflict or our own credentials) is FAILED with its
 * code; a transport failure, 5xx, 429, 409, 401/403 or an unreadable
 * answer is UNAVAILABLE (asked again later, same key).
 */

#include "refund.h"

void refund_live(const refund_request *req, refund_result *out);

#endif
