/* spt_sdk.c - see spt_sdk.h. */
#include "spt_sdk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_run.h"

/* ------------------------------------------------------------------------ */
/* Clients and errors                                                        */

const char *spt_last_error(char *buf, size_t cap)
{
	const spb_error *e = spb_error_last();
	snprintf(buf, cap, "last SDK error: %s %s: %s", spb_status_name(e->grpc_code), e->reason,
		 e->message);
	return buf;
}

static void sdk_context(char *buf, size_t cap)
{
	if (spb_error_last()->grpc_code != 0)
		spt_last_error(buf, cap);
	else
		buf[0] = 0;
}

void spt_init_failed(const char *expr, int rc, const char *file, int line)
{
	char err[512];
	fprintf(stderr, "\n  SUITE INIT FAILED %s:%d: %s returned %d (%s)\n", file, line, expr, rc,
		spt_last_error(err, sizeof(err)));
}

spb_client *spt_client_to(const char *target, const char *key, int deadline_ms)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	spb_client *c;

	spt_set_failure_context(sdk_context);
	o.api_key = key && key[0] ? key : NULL;
	o.default_deadline_ms = deadline_ms;
	o.max_retries = 0;
	c = spb_client_new(target, &o);
	if (!c)
		fprintf(stderr, "spt: spb_client_new(%s): %s\n", target, spb_error_last()->message);
	return c;
}

spb_client *spt_client(const spt_billingd *b, const char *key)
{
	return spt_client_to(b->target, key ? key : b->admin_key, 10000);
}

spb_call_options spt_as(const char *api_key, const char *idem_key)
{
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	o.api_key = api_key;
	o.idempotency_key = idem_key;
	return o;
}

/* ------------------------------------------------------------------------ */
/* The directory                                                             */

int spt_create_account(spb_client *c, const spb_call_options *o, const char *id, int role,
		       const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest req =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateAccountResponse *resp = NULL;
	int rc;

	req.account_id = (char *)id;
	req.role = role;
	req.parent_id = (char *)(parent ? parent : "");
	req.display_name = (char *)id;
	rc = spb_directory_create_account(c, &req, &resp, o);
	spb_message_free(resp);
	return rc;
}

int spt_create_key(spb_client *c, const spb_call_options *o, const char *account, int scope,
		   char *key, char *key_id)
{
	Smartplus__Billing__V1__CreateApiKeyRequest req =
		SMARTPLUS__BILLING__V1__CREATE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__CreateApiKeyResponse *resp = NULL;
	int rc;

	req.account_id = (char *)account;
	req.scope = scope;
	req.display_name = (char *)"test";
	rc = spb_directory_create_api_key(c, &req, &resp, o);
	if (rc == 0 && resp) {
		if (key)
			snprintf(key, SPT_KEY_MAX, "%s", resp->secret);
		if (key_id && resp->api_key)
			snprintf(key_id, SPT_KEY_ID_MAX, "%s", resp->api_key->key_id);
	}
	spb_message_free(resp);
	return rc;
}

int spt_create_tree(spb_client *vendor, spt_account *accts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = 0;
		if (accts[i].role != ROLE(VENDOR))
			rc = spt_create_account(vendor, NULL, accts[i].id, accts[i].role,
						accts[i].parent);
		if (rc == 0)
			rc = spt_create_key(vendor, NULL, accts[i].id, SCOPE(ACCOUNT), accts[i].key,
					    accts[i].key_id);
		if (rc != 0)
			return rc;
	}
	return 0;
}

const char *spt_key_of(const spt_account *accts, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(accts[i].id, id) == 0)
			return accts[i].key;
	return NULL;
}

int spt_create_project_spec(spb_client *c, const spb_call_options *o, const spt_project *p)
{
	Smartplus__Billing__V1__CreateProjectRequest req =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *resp = NULL;
	Google__Protobuf__Timestamp created = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int rc;

	req.project_id = (char *)p->id;
	req.installer_id = (char *)p->installer;
	req.type = p->type;
	req.property_manager_id = (char *)(p->pm ? p->pm : "");
	req.pms_integrated = p->pms_integrated;
	req.free_additional_apps = p->free_additional_apps;
	req.display_name = (char *)p->id;
	if (p->created_at_us) {
		spt_set_ts(&created, p->created_at_us);
		req.created_at = &created;
	}
	rc = spb_directory_create_project(c, &req, &resp, o);
	spb_message_free(resp);
	return rc;
}

int spt_create_project(spb_client *c, const spb_call_options *o, const char *id,
		       const char *installer, int type, const char *pm, int pms_integrated)
{
	spt_project p = {id, installer, type, pm, pms_integrated, 0, 0};
	return spt_create_project_spec(c, o, &p);
}

int spt_create_items(spb_client *c, const spb_call_options *o, const char *project,
		     int service_type, const char *prefix, int n)
{
	Smartplus__Billing__V1__CreateItemsRequest req =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__CreateItemsResponse *resp = NULL;
	Smartplus__Billing__V1__ItemSpec *specs = calloc((size_t)n, sizeof(*specs));
	Smartplus__Billing__V1__ItemSpec **ptrs = calloc((size_t)n, sizeof(*ptrs));
	char(*ids)[80] = calloc((size_t)n, sizeof(*ids));
	int rc = SPB_ERROR;

	if (n > 0 && specs && ptrs && ids) {
		for (int i = 0; i < n; i++) {
			smartplus__billing__v1__item_spec__init(&specs[i]);
			snprintf(ids[i], sizeof(ids[i]), "%s%03d", prefix, i);
			specs[i].item_id = ids[i];
			specs[i].service_type = service_type;
			specs[i].label = ids[i];
			ptrs[i] = &specs[i];
		}
		req.project_id = (char *)project;
		req.n_items = (size_t)n;
		req.items = ptrs;
		rc = spb_directory_create_items(c, &req, &resp, o);
		spb_message_free(resp);
	}
	free(specs);
	free(ptrs);
	free(ids);
	return rc;
}

int spt_create_item(spb_client *c, const spb_call_options *o, const char *project,
		    const char *item_id, int service_type)
{
	Smartplus__Billing__V1__CreateItemsRequest req =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ItemSpec spec = SMARTPLUS__BILLING__V1__ITEM_SPEC__INIT;
	Smartplus__Billing__V1__ItemSpec *specs[1] = {&spec};
	Smartplus__Billing__V1__CreateItemsResponse *resp = NULL;
	int rc;

	spec.item_id = (char *)item_id;
	spec.service_type = service_type;
	spec.label = (char *)item_id;
	req.project_id = (char *)project;
	req.n_items = 1;
	req.items = specs;
	rc = spb_directory_create_items(c, &req, &resp, o);
	spb_message_free(resp);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Prices, coupons, credits                                                  */

int spt_set_price(spb_client *c, int ptype, int stype, int64_t monthly_amount,
		  int64_t monthly_credits)
{
	Smartplus__Billing__V1__SetPriceRequest req =
		SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetPriceResponse *resp = NULL;
	int rc;

	req.project_type = ptype;
	req.service_type = stype;
	req.monthly_amount = monthly_amount;
	req.currency = (char *)"USD";
	req.monthly_credits = monthly_credits;
	rc = spb_admin_set_price(c, &req, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

int spt_set_credit_price(spb_client *c, int64_t unit_amount)
{
	Smartplus__Billing__V1__SetCreditPriceRequest req =
		SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetCreditPriceResponse *resp = NULL;
	int rc;

	req.unit_amount = unit_amount;
	req.currency = (char *)"USD";
	rc = spb_admin_set_credit_price(c, &req, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

int spt_create_coupon(spb_client *c, const char *code, int percent_off, int credit_only,
		      int max_redemptions)
{
	Smartplus__Billing__V1__CreateCouponRequest req =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
	Smartplus__Billing__V1__Coupon cp = SMARTPLUS__BILLING__V1__COUPON__INIT;
	Smartplus__Billing__V1__CreateCouponResponse *resp = NULL;
	int rc;

	cp.code = (char *)code;
	cp.percent_off = percent_off;
	cp.credit_purchases_only = credit_only;
	cp.max_redemptions = max_redemptions;
	req.coupon = &cp;
	rc = spb_admin_create_coupon(c, &req, &resp, NULL);
	spb_message_free(resp);
	return rc;
}

int spt_assign_credits(spb_client *c, const spb_call_options *o, const char *from, const char *to,
		       int64_t credits)
{
	Smartplus__Billing__V1__AssignCreditsRequest req =
		SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__AssignCreditsResponse *resp = NULL;
	int rc;

	req.account_id = (char *)(from ? from : "");
	req.to_account_id = (char *)to;
	req.credits = credits;
	rc = spb_billing_assign_credits(c, &req, &resp, o);
	spb_message_free(resp);
	return rc;
}

int64_t spt_credit_balance(spb_client *c, const spb_call_options *o, const char *account)
{
	Smartplus__Billing__V1__GetCreditBalanceRequest req =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditBalanceResponse *resp = NULL;
	int64_t v = -1;

	req.account_id = (char *)account;
	if (spb_billing_get_credit_balance(c, &req, &resp, o) == 0)
		v = resp->credits;
	spb_message_free(resp);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Orders and the clock                                                      */

Smartplus__Billing__V1__BillingInfo *spt_billing_info(void)
{
	static Smartplus__Billing__V1__BillingInfo bill = {
		PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
		"Ada Buyer",
		"ada@example.com",
		"Ada Ltd",
		"1 Main St",
		"US",
		"",
		"" /* region */};
	return &bill;
}

int spt_quote(spb_client *c, const spb_call_options *o, const spt_quote_spec *q,
	      Smartplus__Billing__V1__QuoteServicesResponse **out)
{
	int rc;
	Smartplus__Billing__V1__QuoteServicesRequest r =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char *projects[1] = {(char *)q->project};
	char *items[1] = {(char *)q->item_id};
	Smartplus__Billing__V1__ServiceType st[1] = {q->stype};

	r.action = q->action;
	r.payer_id = (char *)(q->payer ? q->payer : "");
	r.installer_id = (char *)q->installer;
	r.project_type = q->ptype;
	r.n_project_ids = 1;
	r.project_ids = projects;
	if (q->stype) {
		r.n_service_types = 1;
		r.service_types = st;
	}
	if (q->item_id) {
		r.n_item_ids = 1;
		r.item_ids = items;
	}
	r.months = q->months;
	if (q->until_us) {
		spt_set_ts(&until, q->until_us);
		r.renew_until = &until;
	}
	r.coupon_code = (char *)(q->coupon ? q->coupon : "");
	*out = NULL;
	rc = spb_billing_quote_services(c, &r, out, o);
	if (rc != 0) {
		spb_message_free(*out);
		*out = NULL;
	}
	return rc;
}

int spt_place_order(spb_client *c, const spb_call_options *o, int action, const char *quote_id,
		    int method, const char *pm, Smartplus__Billing__V1__Order **order, void **keep)
{
	return spt_place_order_for(c, o, action, quote_id, method, pm, NULL, order, keep);
}

int spt_place_order_for(spb_client *c, const spb_call_options *o, int action, const char *quote_id,
			int method, const char *pm, const char *customer,
			Smartplus__Billing__V1__Order **order, void **keep)
{
	int rc;

	*order = NULL;
	*keep = NULL;
	if (action == ACTION(ACTIVATE)) {
		Smartplus__Billing__V1__ActivateServicesRequest r =
			SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__ActivateServicesResponse *resp = NULL;
		r.quote_id = (char *)quote_id;
		r.payment_method = method;
		r.billing_info = spt_billing_info();
		r.terms_accepted = 1;
		r.stripe_payment_method_id = (char *)(pm ? pm : "");
		r.stripe_customer_id = (char *)(customer ? customer : "");
		rc = spb_billing_activate_services(c, &r, &resp, o);
		if (rc == 0) {
			*order = resp->order;
			*keep = resp;
		} else {
			spb_message_free(resp);
		}
	} else {
		Smartplus__Billing__V1__RenewServicesRequest r =
			SMARTPLUS__BILLING__V1__RENEW_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__RenewServicesResponse *resp = NULL;
		r.quote_id = (char *)quote_id;
		r.payment_method = method;
		r.billing_info = spt_billing_info();
		r.terms_accepted = 1;
		r.stripe_payment_method_id = (char *)(pm ? pm : "");
		r.stripe_customer_id = (char *)(customer ? customer : "");
		rc = spb_billing_renew_services(c, &r, &resp, o);
		if (rc == 0) {
			*order = resp->order;
			*keep = resp;
		} else {
			spb_message_free(resp);
		}
	}
	return rc;
}

int spt_activate_project(spb_client *c, const spb_call_options *o, const char *payer,
			 const char *installer, int ptype, const char *project, int months,
			 int method, const char *pm, int64_t *now_us)
{
	spt_quote_spec q = {ACTION(ACTIVATE), payer, installer, ptype, project, 0, NULL,
			    months,           0,     NULL};
	Smartplus__Billing__V1__QuoteServicesResponse *qr;
	Smartplus__Billing__V1__Order *order;
	void *keep;
	int rc;

	rc = spt_quote(c, o, &q, &qr);
	if (rc)
		return rc;
	if (now_us)
		*now_us = spt_ts_us(qr->quote->expire_time) - 15 * 60 * SPT_SECOND_US;
	rc = spt_place_order_for(c, o, ACTION(ACTIVATE), qr->quote->quote_id, method,
				 method == METHOD(STRIPE) ? pm : NULL,
				 method == METHOD(STRIPE) ? "cus_test" : NULL, &order, &keep);
	if (rc == 0 && order->status != OSTATUS(SUCCEEDED))
		rc = SPB_ERROR;
	spb_message_free(keep);
	spb_message_free(qr);
	return rc;
}

int spt_advance_clock(spb_client *c, int64_t us, int64_t *now_us, int *ran)
{
	Smartplus__Billing__V1__AdvanceClockRequest req =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *resp = NULL;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	int rc;

	d.seconds = us / SPT_SECOND_US;
	d.nanos = (int32_t)(us % SPT_SECOND_US) * 1000;
	req.duration = &d;
	rc = spb_admin_advance_clock(c, &req, &resp, NULL);
	if (rc == 0) {
		if (now_us)
			*now_us = spt_ts_us(resp->now);
		if (ran)
			*ran = resp->renewals_run;
	}
	spb_message_free(resp);
	return rc;
}

int spt_set_auto_renew(spb_client *c, char **item_ids, size_t n, int enabled, const char *payer,
		       int method, const char *pm, int64_t until_us, int cycles)
{
	Smartplus__Billing__V1__SetAutoRenewRequest req =
		SMARTPLUS__BILLING__V1__SET_AUTO_RENEW_REQUEST__INIT;
	Smartplus__Billing__V1__SetAutoRenewResponse *resp = NULL;
	Smartplus__Billing__V1__AutoRenewTerm t = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int rc;

	req.item_ids = item_ids;
	req.n_item_ids = n;
	req.enabled = enabled;
	req.payer_id = (char *)(payer ? payer : "");
	req.payment_method = method;
	if (method == METHOD(STRIPE)) {
		req.stripe_customer_id = (char *)"cus_test";
		req.stripe_payment_method_id = (char *)(pm ? pm : "");
	}
	if (until_us) {
		spt_set_ts(&ts, until_us);
		t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL;
		t.until = &ts;
	} else if (cycles) {
		t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_CYCLES;
		t.cycles = cycles;
	} else {
		t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
		t.until_turned_off = 1;
	}
	req.term = &t;
	rc = spb_billing_set_auto_renew(c, &req, &resp, NULL);
	if (rc == 0 && resp->n_items != n)
		rc = SPB_ERROR;
	spb_message_free(resp);
	return rc;
}

typedef struct item_query {
	const char *id;
	spt_item_state *st;
	int found;
} item_query;

static void on_item(const Smartplus__Billing__V1__Item *it, void *arg)
{
	item_query *q = arg;
	if (strcmp(it->item_id, q->id) != 0)
		return;
	q->st->status = it->status;
	q->st->expires_at = spt_ts_us(it->expires_at);
	q->st->renew_mode = it->renew_mode;
	q->st->auto_on = it->auto_renew && it->auto_renew->enabled;
	q->st->cycles_done = it->auto_renew ? it->auto_renew->cycles_done : 0;
	q->st->failed_attempts = it->auto_renew ? it->auto_renew->failed_attempts : 0;
	q->st->is_free = it->free;
	q->found = 1;
}

int spt_item_state_of(spb_client *c, const char *project, const char *item_id, spt_item_state *st)
{
	item_query q = {item_id, st, 0};
	memset(st, 0, sizeof(*st));
	return spt_each_item(c, project, on_item, &q) == 0 && q.found;
}

int spt_each_item(spb_client *c, const char *project,
		  void (*fn)(const Smartplus__Billing__V1__Item *, void *), void *arg)
{
	Smartplus__Billing__V1__ListItemsRequest req =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	char token[512] = "";
	int rc;

	req.project_id = (char *)project;
	req.page_size = 1000;
	do {
		Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
		req.page_token = token;
		rc = spb_billing_list_items(c, &req, &resp, NULL);
		if (rc)
			break;
		for (size_t i = 0; i < resp->n_items; i++)
			fn(resp->items[i], arg);
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
	} while (token[0]);
	return rc;
}

int spt_each_order(spb_client *c, const char *payer, int type,
		   void (*fn)(const Smartplus__Billing__V1__Order *, void *), void *arg)
{
	Smartplus__Billing__V1__ListOrdersRequest req =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	char token[512] = "";
	int rc;

	req.payer_id = (char *)payer;
	req.type = type;
	req.page_size = 1000;
	do {
		Smartplus__Billing__V1__ListOrdersResponse *resp = NULL;
		req.page_token = token;
		rc = spb_billing_list_orders(c, &req, &resp, NULL);
		if (rc)
			break;
		for (size_t i = 0; i < resp->n_orders; i++)
			fn(resp->orders[i], arg);
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
	} while (token[0]);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */

int64_t spt_ts_us(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * SPT_SECOND_US + t->nanos / 1000 : 0;
}

void spt_set_ts(Google__Protobuf__Timestamp *t, int64_t us)
{
	t->seconds = us / SPT_SECOND_US;
	t->nanos = (int32_t)(us % SPT_SECOND_US) * 1000;
}

void spt_unique_id(char *buf, size_t cap, const char *prefix)
{
	static unsigned long counter;
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	unsigned long n;

	pthread_mutex_lock(&mu);
	n = ++counter;
	pthread_mutex_unlock(&mu);
	snprintf(buf, cap, "%s%lu", prefix, n);
}
