/* convert.c: records to API messages, and input checks. See convert.h. */
#include "convert.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "enums.h"
#include "grace.h"
#include "xalloc.h"

#define CHUNK 16384

struct arena {
	struct arena *next; /* older chunks */
	size_t used, cap;
	unsigned char *mem;
};

arena *arena_new(void)
{
	arena *a = xcalloc(1, sizeof(*a));
	a->cap = CHUNK;
	a->mem = xmalloc(a->cap);
	return a;
}

void *arena_alloc(arena *a, size_t n)
{
	void *p;
	n = (n + 15) & ~(size_t)15;
	if (a->used + n > a->cap) {
		/* Move the current chunk behind a new one. */
		arena *old = xmalloc(sizeof(*old));
		*old = *a;
		a->next = old;
		a->cap = n > CHUNK ? n : CHUNK;
		a->mem = xmalloc(a->cap);
		a->used = 0;
	}
	p = a->mem + a->used;
	a->used += n;
	memset(p, 0, n);
	return p;
}

char *arena_strdup(arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	memcpy(p, s, n);
	return p;
}

void arena_free(arena *a)
{
	while (a) {
		arena *next = a->next;
		free(a->mem);
		free(a);
		a = next;
	}
}

Google__Protobuf__Timestamp *conv_ts(arena *a, int64_t us)
{
	Google__Protobuf__Timestamp *t;
	if (!us)
		return NULL;
	t = arena_alloc(a, sizeof(*t));
	google__protobuf__timestamp__init(t);
	t->seconds = us / 1000000;
	t->nanos = (int32_t)(us % 1000000) * 1000;
	if (t->nanos < 0) {
		t->nanos += 1000000000;
		t->seconds -= 1;
	}
	return t;
}

int64_t conv_us(const Google__Protobuf__Timestamp *ts, int *ok)
{
	*ok = 1;
	if (!ts)
		return 0;
	/* 0001-01-01 .. 9999-12-31, as google.protobuf.Timestamp allows. */
	if (ts->seconds < -62135596800LL || ts->seconds > 253402300799LL || ts->nanos < 0 ||
	    ts->nanos > 999999999) {
		*ok = 0;
		return 0;
	}
	return ts->seconds * 1000000 + ts->nanos / 1000;
}

Smartplus__Billing__V1__Account *conv_account(arena *a, const store_account *r)
{
	Smartplus__Billing__V1__Account *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__account__init(m);
	m->account_id = r->account_id;
	m->role = r->role;
	m->parent_id = r->parent_id;
	m->display_name = r->display_name;
	m->create_time = conv_ts(a, r->create_time);
	return m;
}

Smartplus__Billing__V1__Project *conv_project(arena *a, const store_project *r, int64_t cutover_us)
{
	Smartplus__Billing__V1__Project *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__project__init(m);
	m->project_id = r->project_id;
	m->installer_id = r->installer_id;
	m->type = r->type;
	m->created_at = conv_ts(a, r->created_at);
	m->pms_integrated = r->pms_integrated;
	m->free_additional_apps = r->free_additional_apps;
	m->property_manager_id = r->property_manager_id;
	m->display_name = r->display_name;
	m->integration_status = r->pms_integrated ? INTEG(INTEGRATED) : INTEG(NORMAL);
	m->payment_model = catalog_payment_model(r->type, r->created_at, cutover_us);
	return m;
}

const char *conv_role_name(int role)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&smartplus__billing__v1__role__descriptor, role);
	return v ? v->name : "ROLE_UNSPECIFIED";
}

int conv_item_status(const store_item *r, int64_t now)
{
	int64_t end;
	if (r->status != STORE_ITEM_ACTIVE)
		return ISTATUS(INACTIVE);
	return grace_status(r->service_type, r->expires_at,
			    r->auto_renew ? r->auto_renew->unpaid_since : 0, now, &end);
}

Smartplus__Billing__V1__Item *conv_item(arena *a, const store_item *r, int64_t now, int is_free)
{
	Smartplus__Billing__V1__Item *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__item__init(m);
	m->item_id = r->item_id;
	m->project_id = r->project_id;
	m->service_type = r->service_type;
	m->label = r->label;
	m->status = conv_item_status(r, now);
	m->expires_at = conv_ts(a, r->expires_at);
	m->n_premium_features = r->n_premium_features;
	m->premium_features = (Smartplus__Billing__V1__PremiumFeature *)r->premium_features;
	m->renew_mode = r->renew_mode ? r->renew_mode : RENEW(MANUAL);
	m->create_time = conv_ts(a, r->create_time);
	m->free = is_free;
	if (r->auto_renew && r->auto_renew->enabled) {
		const store_auto_renew *s = r->auto_renew;
		Smartplus__Billing__V1__AutoRenewSettings *ar = arena_alloc(a, sizeof(*ar));
		Smartplus__Billing__V1__AutoRenewTerm *t = arena_alloc(a, sizeof(*t));
		smartplus__billing__v1__auto_renew_settings__init(ar);
		smartplus__billing__v1__auto_renew_term__init(t);
		ar->enabled = 1;
		ar->payer_id = s->payer_id;
		ar->payment_method = s->payment_method;
		ar->stripe_customer_id = s->stripe_customer_id;
		ar->stripe_payment_method_id = s->stripe_payment_method_id;
		ar->cycles_done = s->cycles_done;
		ar->failed_attempts = s->failed_attempts;
		ar->next_attempt_time = conv_ts(a, s->next_attempt);
		ar->renewal_group_id = s->group_id;
		if (m->status == ISTATUS(GRACE)) {
			int64_t end;
			grace_status(r->service_type, r->expires_at, s->unpaid_since, now, &end);
			ar->grace_end_time = conv_ts(a, end);
		}
		if (s->until) {
			t->end_case = TERM(UNTIL);
			t->until = conv_ts(a, s->until);
		} else if (s->cycles) {
			t->end_case = TERM(CYCLES);
			t->cycles = s->cycles;
		} else {
			t->end_case = TERM(UNTIL_TURNED_OFF);
			t->until_turned_off = 1;
		}
		ar->term = t;
		m->auto_renew = ar;
	}
	return m;
}

Smartplus__Billing__V1__ApiKey *conv_apikey(arena *a, const store_apikey *r)
{
	Smartplus__Billing__V1__ApiKey *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__api_key__init(m);
	m->key_id = r->key_id;
	m->account_id = r->account_id;
	m->scope = r->scope;
	m->display_name = r->display_name;
	m->create_time = conv_ts(a, r->create_time);
	m->revoked = r->revoked;
	return m;
}

Smartplus__Billing__V1__Price *conv_price(arena *a, const store_price *r)
{
	Smartplus__Billing__V1__Price *m = arena_alloc(a, sizeof(*m));
	smartplus__billing__v1__price__init(m);
	m->project_type = r->project_type;
	m->service_type = r->service_type;
	m->monthly_amount = r->monthly_amount;
	m->currency = r->currency;
	m->monthly_credits = r->monthly_credits;
	return m;
}

int valid_id(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= 64;
}

int valid_enum(const ProtobufCEnumDescriptor *d, int v)
{
	return v != 0 && protobuf_c_enum_descriptor_get_value(d, v) != NULL;
}

int valid_currency(const char *s)
{
	return s && strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
	       s[2] >= 'A' && s[2] <= 'Z';
}
