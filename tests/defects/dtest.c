/* dtest.c: see dtest.h. */
#include "dtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_proc.h"
#include <CUnit/Basic.h>

Smartplus__Billing__V1__BillingInfo dt_bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Defect Tester",
	"tester@example.com",
	"Outside Testing Ltd",
	"1 Test Street",
	"US",
	"",
	"" /* region */};

int dt_status(int sdk_rc)
{
	return sdk_rc == 0 ? 0 : spb_error_last()->grpc_code;
}

int dt_quote(spb_client *c, const spb_call_options *o, const dt_quote_req *q,
	     Smartplus__Billing__V1__QuoteServicesResponse **out)
{
	Smartplus__Billing__V1__QuoteServicesRequest r =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	r.action = q->action;
	r.payer_id = (char *)(q->payer ? q->payer : "");
	r.installer_id = (char *)q->installer;
	r.project_type = q->ptype;
	r.project_ids = (char **)q->projects;
	r.n_project_ids = q->n_projects;
	r.all_projects = q->all_projects;
	r.item_ids = (char **)q->items;
	r.n_item_ids = q->n_items;
	r.months = q->months;
	if (q->renew_until_s) {
		until.seconds = q->renew_until_s;
		r.renew_until = &until;
	}
	r.renew_mode = q->renew_mode;
	*out = NULL;
	return spb_billing_quote_services(c, &r, out, o);
}

int dt_place(spb_client *c, const spb_call_options *o, int action, const char *quote_id, int method,
	     const char *stripe_pm, Smartplus__Billing__V1__Order **order_out)
{
	Smartplus__Billing__V1__Order *order = NULL;
	void *keep = NULL;
	int rc = spt_place_order(c, o, action, quote_id, method,
				 stripe_pm && stripe_pm[0] ? stripe_pm : NULL, &order, &keep);
	if (order_out) {
		*order_out = NULL;
		if (rc == 0) {
			/* detach the order from the response that holds it */
			ProtobufCMessage *resp = keep;
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field_by_name(resp->descriptor,
										"order");
			*(Smartplus__Billing__V1__Order **)((char *)resp + f->offset) = NULL;
			*order_out = order;
		}
	}
	spb_message_free(keep);
	return rc;
}

int dt_quote_and_place(spb_client *c, const spb_call_options *o, const dt_quote_req *q, int method,
		       const char *stripe_pm, Smartplus__Billing__V1__Order **order_out)
{
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	int rc = dt_quote(c, o, q, &qr);
	if (order_out)
		*order_out = NULL;
	if (rc == 0)
		rc = dt_place(c, o, q->action, qr->quote->quote_id, method, stripe_pm, order_out);
	spb_message_free(qr);
	return rc;
}

Smartplus__Billing__V1__Item *dt_get_item(spb_client *vendor, const char *project,
					  const char *item_id)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *out = NULL;
	Smartplus__Billing__V1__Item *found = NULL;
	r.project_id = (char *)project;
	r.page_size = 1000;
	if (spb_billing_list_items(vendor, &r, &out, NULL) != 0)
		return NULL;
	for (size_t i = 0; i < out->n_items; i++)
		if (strcmp(out->items[i]->item_id, item_id) == 0) {
			found = out->items[i];
			out->items[i] = out->items[--out->n_items];
			break;
		}
	spb_message_free(out);
	return found;
}

int dt_buy_credits(spb_client *c, const spb_call_options *o, const char *payer,
		   const char *beneficiary, int64_t n)
{
	Smartplus__Billing__V1__PurchaseCreditsRequest r =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *out = NULL;
	int rc;
	r.account_id = (char *)beneficiary;
	r.payer_id = (char *)payer;
	r.credits = n;
	r.payment_method = METHOD(STRIPE);
	r.billing_info = spt_billing_info();
	r.terms_accepted = 1;
	r.stripe_payment_method_id = "pm_card_visa";
	rc = spb_billing_purchase_credits(c, &r, &out, o);
	if (rc == 0 && out->order->status != OSTATUS(SUCCEEDED)) {
		fprintf(stderr, "dtest: PurchaseCredits left order %s in status %d\n",
			out->order->order_id, out->order->status);
		rc = -1;
	}
	spb_message_free(out);
	return rc;
}

int dt_start(spt_billingd *b, spb_client **vendor, const char *const *args, spt_account *accts,
	     size_t n)
{
	*vendor = NULL;
	if (spt_billingd_start(b, args) != 0)
		return -1;
	*vendor = spt_client(b, NULL);
	if (!*vendor || (n && spt_create_tree(*vendor, accts, n) != 0))
		return -1;
	return 0;
}

int dt_stop(spt_billingd *b, spb_client **vendor)
{
	int rc;
	spb_client_free(*vendor);
	*vendor = NULL;
	rc = spt_billingd_stop(b);
	spt_billingd_free(b);
	return rc == 0 ? 0 : -1;
}

int dt_run_capture(const char *bin, const char *const *args, int timeout_ms, char *out, size_t cap)
{
	const char *argv[40] = {bin};
	int n = 1;
	for (int i = 0; args && args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return spt_run_output(argv, timeout_ms, out, cap);
}

int dt_run_billingd(const spt_billingd *b, const char *const *extra, int timeout_ms, char *out,
		    size_t cap)
{
	const char *argv[40] = {b->bin, "--listen", "127.0.0.1:0", "--data-dir", b->data_dir};
	int n = 5;
	for (int i = 0; extra && extra[i] && n < 39; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return spt_run_output(argv, timeout_ms, out, cap);
}

int dt_raw(const spt_billingd *b, const char *key, const char *idem_key, const char *path,
	   const spt_pb *req, spt_raw_result *out)
{
	char auth[SPT_KEY_MAX + 16];
	const char *md[7] = {"authorization", auth, NULL, NULL, NULL};
	snprintf(auth, sizeof(auth), "Bearer %s", key);
	if (idem_key) {
		md[2] = "idempotency-key";
		md[3] = idem_key;
	}
	return spt_raw_once(b->target, path, req->b ? req->b : (const uint8_t *)"", req->n, md,
			    out);
}
