#ifndef SPB_PAY_CURRENCY_H
#define SPB_PAY_CURRENCY_H

/*
 * currency.h: which currencies and amounts each payment provider can charge.
 *
 * billingd keeps every amount as an integer in the currency's smallest unit
 * as Stripe counts it (docs.stripe.com/currencies): two decimals by
 * default, none for Stripe's zero-decimal currencies (JPY, KRW, ...), three
 * for BHD, JOD, KWD, OMR and TND. That unit is the "minor unit" everywhere in
 * the store and the API.
 *
 * Stripe (docs.stripe.com/currencies; stripe/openapi spec3.yaml
 * PostPaymentIntents `amount`): one of its presentment currencies; an
 * amount of at most eight digits; a three-decimal amount must end in 0
 * ("round to the nearest ten").
 *
 * PayPal (developer.paypal.com/docs/api/reference/currency-codes/, which
 * paypal-rest-api-specifications checkout_orders_v2.json
 * components.schemas.money.value refers to): its own table of 24
 * currencies; HUF, JPY and TWD take no decimals (a decimal amount is an
 * error), the others two; KWD, BHD, JOD, OMR and TND are not supported. A
 * HUF or TWD amount is chargeable at PayPal only when it is whole units
 * (a multiple of 100 minor units).
 *
 * Pure functions over constant tables: any thread.
 */

#include <stddef.h>
#include <stdint.h>

typedef enum pay_provider_kind {
	PAY_KIND_STRIPE = 1,
	PAY_KIND_PAYPAL = 2,
} pay_provider_kind;

/* The exponent of billingd's minor unit for an ISO-4217 code (upper or
 * lower case): 0, 2 or 3 (Stripe's table; 2 for codes Stripe does not
 * list). -1 when the code is not three letters. */
int currency_exponent(const char *currency);

/* 1 when the provider accepts the currency at all. */
int currency_supported(pay_provider_kind provider, const char *currency);

/* 0 when the provider can charge exactly `amount` minor units of
 * `currency`; otherwise -1 with a sentence saying why in `why` (for an
 * INVALID_ARGUMENT message or a log). */
int currency_chargeable(pay_provider_kind provider, const char *currency, int64_t amount, char *why,
			size_t cap);

/* The decimal string the provider expects for `amount` minor units
 * (PayPal's `value`: "12.34", "1234" for HUF 1234.00). -1 when
 * currency_chargeable() says no or the buffer is too small. */
int currency_format(pay_provider_kind provider, const char *currency, int64_t amount, char *out,
		    size_t cap);

/* Parses a provider's decimal string back into billingd's minor units,
 * exactly (no rounding): PayPal "1234" HUF -> 123400. -1 on anything but
 * digits with at most the provider's decimals. */
int currency_parse(pay_provider_kind provider, const char *currency, const char *decimal,
		   int64_t *amount);

#endif
