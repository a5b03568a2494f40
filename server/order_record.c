/* order_record.c: the order record in the API and between phases. See
 * order_record.h. */
#include "order_record.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "enums.h"
#include "quote.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "store.h"
#include "xalloc.h"

const char *orders_method_name(int m)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&smartplus__billing__v1__payment_method__descriptor, m);
	return v ? v->name + strlen("PAYMENT_METHOD_") : "UNSPECIFIED";
}

Smartplus__Billing__V1__Order *orders_conv(arena *a, const store_order *o, int64_t now)
{
	Smartplus__Billing__V1__Order *m = arena_alloc(a, sizeof(*m));
	Smartplus__Billing__V1__BillingInfo *b = arena_alloc(a, sizeof(*b));
	smartplus__billing__v1__order__init(m);
	smartplus__billing__v1__billing_info__init(b);
	m->order_id = o->order_id;
	m->type = o->type;
	m->status = !orders_overdue(o, now)         ? o->status
		    : o->group_id && o->group_id[0] ? OSTATUS(FAILED)
						    : OSTATUS(TIMED_OUT);
	m->payer_id = o->payer_id;
	m->installer_id = o->installer_id;
	m->project_type = o->project_type;
	m->lines = arena_alloc(a, (o->n_lines + 1) * sizeof(*m->lines));
	for (size_t i = 0; i < o->n_lines; i++)
		m->lines[m->n_lines++] = quote_conv_line(a, o->lines[i]);
	m->subtotal = o->subtotal;
	m->discount = o->discount;
	m->total = o->total;
	m->currency = o->currency;
	m->credits_total = o->credits_total;
	m->coupon_code = o->coupon_code;
	m->payment_method = o->payment_method;
	b->name = o->bill_name;
	b->email = o->bill_email;
	b->company = o->bill_company;
	b->address = o->bill_address;
	b->country = o->bill_country;
	b->tax_id = o->bill_tax_id;
	b->region = o->bill_region;
	m->billing_info = b;
	m->tax_total = o->tax_total;
	m->tax_treatment = o->tax_treatment;
	m->tax_rate_bp = o->tax_rate_bp;
	m->tax_inclusive = o->tax_inclusive;
	m->terms_accepted = o->terms_accepted;
	m->stripe_payment_intent_id = o->stripe_payment_intent_id;
	m->stripe_client_secret = o->stripe_client_secret;
	m->paypal_order_id = o->paypal_order_id;
	m->paypal_approval_url = o->paypal_approval_url;
	m->sandbox = o->sandbox;
	m->create_time = conv_ts(a, o->create_time);
	m->update_time = conv_ts(a, o->update_time);
	m->failure_reason = o->failure_reason;
	m->disputed = o->disputed;
	m->credits_quantity = o->credits_quantity;
	m->beneficiary_id = o->beneficiary_id;
	m->quote_id = o->quote_id;
	m->renew_mode = o->renew_mode;
	m->needs_refund = o->needs_refund;
	if (o->group_id && o->group_id[0]) {
		m->renewal_group_id = o->group_id;
		m->period_start = conv_ts(a, o->period_start);
		m->period_end = conv_ts(a, o->period_end);
		m->attempts = o->attempts;
		m->recoverable = o->recoverable && o->status == OSTATUS(PENDING_PAYMENT);
		if (o->status == OSTATUS(PENDING_PAYMENT) && o->retry_at > 0)
			m->next_attempt_time = conv_ts(a, o->retry_at);
	}
	if (o->auto_renew_kind) {
		Smartplus__Billing__V1__AutoRenewTerm *t = arena_alloc(a, sizeof(*t));
		smartplus__billing__v1__auto_renew_term__init(t);
		if (o->auto_renew_kind == 1) {
			t->end_case = TERM(UNTIL);
			t->until = conv_ts(a, o->auto_renew_until);
		} else if (o->auto_renew_kind == 2) {
			t->end_case = TERM(CYCLES);
			t->cycles = o->auto_renew_cycles;
		} else {
			t->end_case = TERM(UNTIL_TURNED_OFF);
			t->until_turned_off = 1;
		}
		m->auto_renew_term = t;
	}
	return m;
}

void orders_reply(rpc_call *call, const store_order *o)
{
	const ProtobufCMessageDescriptor *d = rpc_call_method(call)->output;
	Smartplus__Billing__V1__GetOrderResponse *r = xcalloc(1, d->sizeof_message);
	arena *a = arena_new();
	protobuf_c_message_init(d, r);
	r->order = orders_conv(a, o, clock_now_us());
	if (d == &smartplus__billing__v1__recover_renewal_response__descriptor) {
		Smartplus__Billing__V1__RecoverRenewalResponse *rr = (void *)r;
		rr->next_step = orders_recovery_step(o);
		if (rr->next_step == RSTEP(AUTHENTICATE) ||
		    rr->next_step == RSTEP(NEW_PAYMENT_METHOD))
			rr->client_secret = o->stripe_client_secret;
	}
	rpc_reply(call, &r->base);
	arena_free(a);
	free(r);
}

int orders_recovery_step(const store_order *o)
{
	if (o->status == OSTATUS(SUCCEEDED))
		return RSTEP(NONE);
	if (o->status == OSTATUS(PROCESSING))
		return RSTEP(WAIT);
	if (o->status != OSTATUS(PENDING_PAYMENT))
		return RSTEP(UNSPECIFIED);
	if (o->failure_reason && strcmp(o->failure_reason, "authentication_required") == 0)
		return RSTEP(AUTHENTICATE);
	return RSTEP(NEW_PAYMENT_METHOD);
}

int orders_pack(const store_order *o, uint8_t **buf, size_t *len)
{
	free(*buf);
	*len = protobuf_c_message_get_packed_size(&o->base);
	*buf = xmalloc(*len ? *len : 1);
	protobuf_c_message_pack(&o->base, *buf);
	return 0;
}

store_order *orders_unpack(const uint8_t *buf, size_t len)
{
	return smartplus__billing__store__v1__order_record__unpack(NULL, len, buf);
}

orders_strings orders_strings_save(const store_order *o)
{
	orders_strings k = {o->stripe_payment_intent_id, o->stripe_client_secret,
			    o->paypal_order_id,          o->paypal_approval_url,
			    o->failure_reason,           o->paypal_capture_id};
	return k;
}

void orders_strings_restore(store_order *o, const orders_strings *k)
{
	o->stripe_payment_intent_id = k->pi;
	o->stripe_client_secret = k->secret;
	o->paypal_order_id = k->pp_id;
	o->paypal_approval_url = k->pp_url;
	o->failure_reason = k->why;
	o->paypal_capture_id = k->pp_capture;
}
