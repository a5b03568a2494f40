/* payworld.c: see payworld.h. */
#include "payworld.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakectl.h"
#include "spt_sdk.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define COMM V1(PROJECT_TYPE__PROJECT_TYPE_COMMUNITY)
#define S_APP V1(SERVICE_TYPE__SERVICE_TYPE_APP)

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = 0;
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static spb_client *client(pw_world *w)
{
	return spt_client_to(w->srv.target, w->srv.admin_key, 30000);
}

void pw_hooks(pw_world *w)
{
	char cfg[400];
	snprintf(cfg, sizeof(cfg),
		 "{\"webhooks\":{\"stripe_url\":\"http://127.0.0.1:%d/webhooks/stripe\","
		 "\"stripe_secrets\":[\"whsec_truths\"],\"paypal_url\":\"http://127.0.0.1:%d/"
		 "webhooks/paypal\",\"paypal_webhook_id\":\"WHTRUTHS\"}}",
		 w->hook_port, w->hook_port);
	fakectl_ctl(cfg);
}

int pw_start(pw_world *w, const char *billingd, const char *node, const char *fake_js,
	     const char *const *extra)
{
	char listen[32];
	const char *args[SPT_BILLINGD_MAX_ARGS];
	static const char *const env[] = {
		"STRIPE_SECRET_KEY=sk_test_truths", "STRIPE_WEBHOOK_SECRET=whsec_truths",
		"PAYPAL_CLIENT_ID=client",          "PAYPAL_CLIENT_SECRET=secret",
		"PAYPAL_WEBHOOK_ID=WHTRUTHS",       NULL};
	spt_billingd_options so = SPT_BILLINGD_OPTIONS_INIT;
	int n = 0;
	pw_outcome o;

	memset(w, 0, sizeof(*w));
	if (fakectl_start(node, fake_js, NULL) != 0)
		return -1;
	w->hook_port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", w->hook_port);
	args[n++] = "--payments";
	args[n++] = "live";
	args[n++] = "--stripe-url";
	args[n++] = fakectl_base;
	args[n++] = "--paypal-url";
	args[n++] = fakectl_base;
	args[n++] = "--test-clock";
	args[n++] = "--webhook-listen";
	args[n++] = listen;
	args[n++] = "--reconcile-interval-ms";
	args[n++] = "200";
	args[n++] = "--provider-timeout-ms";
	args[n++] = "3000";
	args[n++] = "--stripe-return-url";
	args[n++] = "https://app.example/3ds-done";
	args[n++] = "--paypal-return-url";
	args[n++] = "https://app.example/paypal/return";
	args[n++] = "--paypal-cancel-url";
	args[n++] = "https://app.example/paypal/cancel";
	for (; extra && *extra && n < SPT_BILLINGD_MAX_ARGS - 4; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	so.bin = billingd;
	so.args = args;
	so.env = env;
	if (spt_billingd_start_opts(&w->srv, &so) != 0)
		return -1;
	w->cli = client(w);
	pw_hooks(w);
	if (!w->cli ||
	    spt_create_account(w->cli, NULL, "d1", V1(ROLE__ROLE_DISTRIBUTOR), "vendor") != 0 ||
	    spt_create_account(w->cli, NULL, "i1", V1(ROLE__ROLE_INSTALLER), "d1") != 0 ||
	    pw_set_price(w, PW_PRICE, "USD", &o) != 0)
		return -1;
	return 0;
}

void pw_stop(pw_world *w, int keep)
{
	spb_client_free(w->cli);
	w->cli = NULL;
	spt_billingd_stop(&w->srv);
	fakectl_stop();
	if (!keep)
		spt_billingd_free(&w->srv);
}

int pw_kill_restart(pw_world *w)
{
	spb_client_free(w->cli);
	w->cli = NULL;
	if (spt_billingd_restart(&w->srv) != 0)
		return -1;
	w->cli = client(w);
	return w->cli ? 0 : -1;
}

int pw_project(pw_world *w, const char *project_id)
{
	char item[96];
	snprintf(item, sizeof(item), "%s_app", project_id);
	if (spt_create_project(w->cli, NULL, project_id, "i1", COMM, NULL, 0) != 0)
		return -1;
	return spt_create_item(w->cli, NULL, project_id, item, S_APP) == 0 ? 0 : -1;
}

/* ---- calls ---- */

void pw_outcome_free(pw_outcome *o)
{
	spb_message_free(o->keep);
	memset(o, 0, sizeof(*o));
}

static int failed(pw_outcome *o)
{
	const spb_error *e = spb_error_last();
	o->code = e->grpc_code ? e->grpc_code : -1;
	snprintf(o->reason, sizeof(o->reason), "%s", e->reason);
	snprintf(o->message, sizeof(o->message), "%s", e->message);
	if (e->order_id[0])
		snprintf(o->order_id, sizeof(o->order_id), "%s", e->order_id);
	return o->code;
}

static int got(pw_outcome *o, void *resp, Smartplus__Billing__V1__Order *order)
{
	o->keep = resp;
	o->order = order;
	if (order)
		snprintf(o->order_id, sizeof(o->order_id), "%s", order->order_id);
	return 0;
}

static Smartplus__Billing__V1__BillingInfo bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Ada Buyer",
	"ada@example.com",
	"Ada Ltd",
	"1 Main St",
	"US",
	""};

static int quote(pw_world *w, const char *project, int renew, int autorenew,
		 Smartplus__Billing__V1__QuoteServicesResponse **qr, pw_outcome *out)
{
	Smartplus__Billing__V1__QuoteServicesRequest q =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__AutoRenewTerm term = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__INIT;
	char *projects[1] = {(char *)project};
	q.action = renew ? V1(QUOTE_ACTION__QUOTE_ACTION_RENEW)
			 : V1(QUOTE_ACTION__QUOTE_ACTION_ACTIVATE);
	q.payer_id = "d1";
	q.installer_id = "i1";
	q.project_type = COMM;
	q.n_project_ids = 1;
	q.project_ids = projects;
	q.months = 1;
	q.coupon_code = "";
	if (autorenew) {
		q.renew_mode = V1(RENEW_MODE__RENEW_MODE_AUTO);
		term.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
		term.until_turned_off = 1;
		q.auto_renew_term = &term;
	}
	if (spb_billing_quote_services(w->cli, &q, qr, NULL) != 0)
		return failed(out);
	return 0;
}

int pw_quote(pw_world *w, const char *project, int64_t *total, uint32_t *methods, pw_outcome *out)
{
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	memset(out, 0, sizeof(*out));
	if (quote(w, project, 0, 0, &qr, out) != 0)
		return out->code;
	*total = qr->quote->total;
	*methods = 0;
	for (size_t i = 0; i < qr->quote->n_allowed_methods; i++)
		*methods |= 1u << qr->quote->allowed_methods[i];
	spb_message_free(qr);
	return 0;
}

int pw_checkout(pw_world *w, const char *project, int method, const char *pm, const char *cus,
		int autorenew, pw_outcome *out)
{
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__ActivateServicesRequest a =
		SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__ActivateServicesResponse *ar = NULL;
	memset(out, 0, sizeof(*out));
	if (quote(w, project, 0, 0, &qr, out) != 0)
		return out->code;
	(void)autorenew;
	a.quote_id = qr->quote->quote_id;
	a.payment_method = method;
	a.billing_info = &bill;
	a.terms_accepted = 1;
	a.stripe_payment_method_id = (char *)(pm ? pm : "");
	a.stripe_customer_id = (char *)(cus ? cus : "");
	if (spb_billing_activate_services(w->cli, &a, &ar, NULL) == 0)
		got(out, ar, ar->order);
	else
		failed(out);
	spb_message_free(qr);
	return out->code;
}

int pw_renew(pw_world *w, const char *project, int method, const char *pm, const char *cus,
	     int autorenew, pw_outcome *out)
{
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__RenewServicesRequest a =
		SMARTPLUS__BILLING__V1__RENEW_SERVICES_REQUEST__INIT;
	Smartplus__Billing__V1__RenewServicesResponse *ar = NULL;
	memset(out, 0, sizeof(*out));
	if (quote(w, project, 1, autorenew, &qr, out) != 0)
		return out->code;
	a.quote_id = qr->quote->quote_id;
	a.payment_method = method;
	a.billing_info = &bill;
	a.terms_accepted = 1;
	a.stripe_payment_method_id = (char *)(pm ? pm : "");
	a.stripe_customer_id = (char *)(cus ? cus : "");
	if (spb_billing_renew_services(w->cli, &a, &ar, NULL) == 0)
		got(out, ar, ar->order);
	else
		failed(out);
	spb_message_free(qr);
	return out->code;
}

int pw_confirm(pw_world *w, const char *order_id, pw_outcome *out)
{
	Smartplus__Billing__V1__ConfirmOrderRequest r =
		SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__ConfirmOrderResponse *resp = NULL;
	memset(out, 0, sizeof(*out));
	r.order_id = (char *)order_id;
	if (spb_billing_confirm_order(w->cli, &r, &resp, NULL) == 0)
		return got(out, resp, resp->order);
	return failed(out);
}

int pw_cancel(pw_world *w, const char *order_id, pw_outcome *out)
{
	Smartplus__Billing__V1__CancelOrderRequest r =
		SMARTPLUS__BILLING__V1__CANCEL_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__CancelOrderResponse *resp = NULL;
	memset(out, 0, sizeof(*out));
	r.order_id = (char *)order_id;
	if (spb_billing_cancel_order(w->cli, &r, &resp, NULL) == 0)
		return got(out, resp, resp->order);
	return failed(out);
}

int pw_get(pw_world *w, const char *order_id, pw_outcome *out)
{
	Smartplus__Billing__V1__GetOrderRequest r = SMARTPLUS__BILLING__V1__GET_ORDER_REQUEST__INIT;
	Smartplus__Billing__V1__GetOrderResponse *resp = NULL;
	memset(out, 0, sizeof(*out));
	r.order_id = (char *)order_id;
	if (spb_billing_get_order(w->cli, &r, &resp, NULL) == 0)
		return got(out, resp, resp->order);
	return failed(out);
}

int pw_status(pw_world *w, const char *order_id)
{
	pw_outcome o;
	int st = pw_get(w, order_id, &o) == 0 ? (int)o.order->status : 0;
	pw_outcome_free(&o);
	return st;
}

int pw_wait_status(pw_world *w, const char *order_id, int status, long ms)
{
	int st = 0;
	for (long waited = 0; waited <= ms; waited += 50) {
		st = pw_status(w, order_id);
		if (st == status)
			break;
		usleep(50 * 1000);
	}
	return st;
}

size_t pw_project_orders(pw_world *w, const char *project, char ids[][64], size_t max)
{
	Smartplus__Billing__V1__ListOrdersRequest r =
		SMARTPLUS__BILLING__V1__LIST_ORDERS_REQUEST__INIT;
	char token[256] = "";
	size_t n = 0;
	r.payer_id = "d1";
	r.project_id = (char *)project;
	r.page_size = 1000;
	/* The project filter applies within each page of the payer's orders:
	 * every page is read. */
	for (int pages = 0; pages < 10000; pages++) {
		Smartplus__Billing__V1__ListOrdersResponse *resp = NULL;
		r.page_token = token;
		if (spb_billing_list_orders(w->cli, &r, &resp, NULL) != 0)
			break;
		for (size_t i = 0; i < resp->n_orders; i++, n++)
			if (n < max)
				snprintf(ids[n], 64, "%s", resp->orders[i]->order_id);
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		spb_message_free(resp);
		if (!token[0])
			break;
	}
	return n;
}

int pw_item_active(pw_world *w, const char *project, int64_t *expires_at)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *resp = NULL;
	int active = 0;
	r.project_id = (char *)project;
	if (spb_billing_list_items(w->cli, &r, &resp, NULL) != 0)
		return 0;
	if (resp->n_items) {
		active = resp->items[0]->status == V1(ITEM_STATUS__ITEM_STATUS_ACTIVE);
		if (expires_at)
			*expires_at = resp->items[0]->expires_at
					      ? resp->items[0]->expires_at->seconds * 1000000
					      : 0;
	}
	spb_message_free(resp);
	return active;
}

int pw_set_price(pw_world *w, int64_t amount, const char *currency, pw_outcome *out)
{
	Smartplus__Billing__V1__SetPriceRequest r = SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetPriceResponse *resp = NULL;
	memset(out, 0, sizeof(*out));
	r.project_type = COMM;
	r.service_type = S_APP;
	r.monthly_amount = amount;
	r.currency = (char *)currency;
	r.monthly_credits = 5;
	if (spb_admin_set_price(w->cli, &r, &resp, NULL) == 0) {
		spb_message_free(resp);
		return 0;
	}
	return failed(out);
}

int pw_advance_fake(int64_t seconds)
{
	char body[64];
	json_t *c;
	int64_t before, after = 0;
	c = fakectl_call("GET", "/_clock", NULL, NULL, NULL, NULL);
	before = (int64_t)json_integer_value(json_object_get(c, "offset_ms"));
	json_decref(c);
	snprintf(body, sizeof(body), "{\"advance_s\":%lld}", (long long)seconds);
	/* A control request lost on a dropped keep-alive connection would
	 * leave the two clocks a jump apart: check the fake moved. */
	for (int tries = 0; tries < 5 && after < before + seconds * 1000; tries++) {
		json_decref(fakectl_call("POST", "/_clock", body, NULL, NULL, NULL));
		c = fakectl_call("GET", "/_clock", NULL, NULL, NULL, NULL); /* did it land? */
		after = (int64_t)json_integer_value(json_object_get(c, "offset_ms"));
		json_decref(c);
	}
	return after < before + seconds * 1000 ? -1 : 0;
}

int pw_advance_billingd(pw_world *w, int64_t seconds, int64_t *now_us)
{
	Smartplus__Billing__V1__AdvanceClockRequest r =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *resp = NULL;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	d.seconds = seconds;
	r.duration = &d;
	o.deadline_ms = 120000; /* renewals due in the jump run inside it */
	if (spb_admin_advance_clock(w->cli, &r, &resp, &o) != 0)
		return -1;
	if (now_us)
		*now_us = resp->now ? resp->now->seconds * 1000000 + resp->now->nanos / 1000 : 0;
	spb_message_free(resp);
	return 0;
}

int pw_advance(pw_world *w, int64_t seconds)
{
	if (pw_advance_fake(seconds) != 0)
		return -1;
	return pw_advance_billingd(w, seconds, NULL);
}

/* ---- the fake's records ---- */

int pw_captures(const char *order_id)
{
	json_t *l = fakectl_call("GET", "/_ledger", NULL, NULL, NULL, NULL), *c;
	size_t i;
	int n = 0;
	json_array_foreach(json_object_get(l, "captures"), i, c)
	{
		const char *o = json_string_value(json_object_get(c, "order_id"));
		if (o && strcmp(o, order_id) == 0 &&
		    json_integer_value(json_object_get(c, "refunded")) <
			    json_integer_value(json_object_get(c, "amount")))
			n++;
	}
	json_decref(l);
	return n;
}

int pw_creates(const char *key, int64_t *last_ms)
{
	json_t *s = fakectl_call("GET", "/_requests", NULL, NULL, NULL, NULL), *r;
	size_t i;
	int n = 0;
	if (last_ms)
		*last_ms = 0;
	json_array_foreach(json_object_get(s, "requests"), i, r)
	{
		const char *p = json_string_value(json_object_get(r, "path"));
		const char *m = json_string_value(json_object_get(r, "method"));
		const char *k = json_string_value(json_object_get(r, "key"));
		if (p && m && k && strcmp(p, "/v1/payment_intents") == 0 &&
		    strcmp(m, "POST") == 0 && strcmp(k, key) == 0) {
			n++;
			if (last_ms)
				*last_ms = (int64_t)json_integer_value(
					json_object_get(r, "time_ms"));
		}
	}
	json_decref(s);
	return n;
}

int64_t pw_fake_now_ms(void)
{
	json_t *c = fakectl_call("GET", "/_clock", NULL, NULL, NULL, NULL);
	int64_t t = (int64_t)json_integer_value(json_object_get(c, "now_ms"));
	json_decref(c);
	return t;
}

void pw_webhooks_idle(void)
{
	for (int i = 0; i < 200 && fakectl_stat("webhooks.in_flight") > 0; i++)
		usleep(25 * 1000);
}

int pw_log_has(pw_world *w, const char *needle)
{
	char line[512];
	return spt_billingd_log_last(&w->srv, needle, line, sizeof(line)) == 0;
}
