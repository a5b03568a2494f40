/*
 * accept.c: which amounts the configured providers can charge (provider.h:
 * pay_can_charge, pay_accepts_currency), from the per-provider tables of
 * currency.h. Live: only a provider whose keys are configured counts;
 * sandbox: both tables, so demos fail where production would.
 */
#include <stdio.h>
#include <string.h>

#include "billingd.h"
#include "currency.h"
#include "provider.h"
#include "smartplus/billing/v1/types.pb-c.h"

#define METHOD(x) SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x

static int live(void)
{
	return billingd.cfg.payments && strcmp(billingd.cfg.payments, "live") == 0;
}

static int configured(int method)
{
	if (!live())
		return 1;
	if (method == METHOD(STRIPE))
		return billingd.cfg.stripe_key && billingd.cfg.stripe_key[0];
	return billingd.cfg.paypal_client_id && billingd.cfg.paypal_secret;
}

int pay_can_charge(int method, const char *currency, int64_t amount, char *why, size_t cap)
{
	pay_provider_kind kind = method == METHOD(PAYPAL) ? PAY_KIND_PAYPAL : PAY_KIND_STRIPE;
	if (method != METHOD(STRIPE) && method != METHOD(PAYPAL))
		return 0; /* not a provider payment */
	if (!configured(method)) {
		snprintf(why, cap, "%s is not configured on this server",
			 kind == PAY_KIND_PAYPAL ? "PayPal" : "Stripe");
		return -1;
	}
	return currency_chargeable(kind, currency, amount, why, cap);
}

int pay_accepts_currency(const char *currency, char *why, size_t cap)
{
	int any = 0;
	if ((configured(METHOD(STRIPE)) && currency_supported(PAY_KIND_STRIPE, currency)) ||
	    (configured(METHOD(PAYPAL)) && currency_supported(PAY_KIND_PAYPAL, currency)))
		return 0;
	any = configured(METHOD(STRIPE)) || configured(METHOD(PAYPAL));
	snprintf(why, cap,
		 any ? "no configured payment provider accepts %s (Stripe's and PayPal's "
		       "currency tables)"
		     : "no payment provider is configured to charge %s",
		 currency);
	return -1;
}
