#ifndef SPB_QUOTE_TOKEN_H
#define SPB_QUOTE_TOKEN_H

/*
 * Quote ids are self-contained signed tokens, so QuoteServices writes
 * nothing (it is a read, as the API declares) and a quote stays valid for its
 * 15 minutes across restarts:
 *
 *   quo_<24 hex: short id>.<base64url: QuoteRecord without lines>.<base64url: tag>
 *
 * The record carries the request, the payer, the times, the price-list
 * version, the totals and a digest of every charged line; the tag is an
 * HMAC-SHA256 under a 256-bit key made at first start and kept in the store.
 * An order placed from a quote recomputes it and must match the digest
 * (else QUOTE_STALE); the short id keys the record that binds a quote to the
 * order paid from it.
 */

#include <stddef.h>

#include "store_order.h"
#include "store.h"

#define QUOTE_TOKEN_MAX 8192
#define QUOTE_SHORT_ID_LEN 28 /* "quo_" + 24 hex */

/* Loads (or creates) the signing key; call once at start-up. 0 or -1. */
int quote_token_init(store_env *env);

/* SHA-256 of what a computed quote charges: lines (without their new expiry,
 * which moves with the clock), totals, currency, coupon, payment model, and
 * the tax (rate, inclusive or not, total, each line's share): a SetTaxRate
 * that changes what the quote charges makes it QUOTE_STALE. */
void quote_charge_digest(const store_quote *q, unsigned char out[32]);

/* Builds the token for computed quote q (its lines are not included; q's
 * charge_digest is set from its lines first). Returns a malloc'd string, its
 * short id in short_id[QUOTE_SHORT_ID_LEN + 1]; NULL on failure. */
char *quote_token_make(store_quote *q, char short_id[QUOTE_SHORT_ID_LEN + 1]);

/* Verifies and decodes a token: 0 with *out (no lines; free with
 * store_record_free) and its short id, or -1 for anything not a token we
 * signed. */
int quote_token_open(const char *token, store_quote **out, char short_id[QUOTE_SHORT_ID_LEN + 1]);

#endif
