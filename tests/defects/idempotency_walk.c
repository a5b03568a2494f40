/*
 * idempotency_walk.c - class: every mutating RPC honours R17, the vendor's
 * included (issue 22, defect 3).
 *
 * The walk is generated from the descriptors: the API's descriptor set
 * (with its idempotency_level options) names the mutating RPCs, the
 * protoc-c service descriptors give their request types, so a new RPC is
 * walked without anyone adding it here. For each mutating RPC a valid
 * request (from a recipe by method name; an empty request for an RPC
 * without one) is sent three times with one idempotency key:
 *   1. it runs, and its answer is not a transient one;
 *   2. the same bytes again: the same status, message, reason and response
 *      bytes, and nothing runs twice (AdvanceClock is also checked by the
 *      clock it leaves);
 *   3. another body (the same request plus an unknown field) with the same
 *      key: FAILED_PRECONDITION, reason IDEMPOTENCY_KEY_REUSED.
 * AdvanceClock repeated by the SDK's own retry moved the clock twice;
 * Backup with another name simply ran.
 *
 * A response field marked (rules).secret (an API key's bearer token, shown
 * once; only its SHA-256 is kept) is not stored by R17 either: the replay
 * is the first answer with that field empty, and the token's bytes are
 * nowhere in the data file (the R17 record kept the whole answer, so every
 * key made through the SDK, which always sends a key, sat in data.mdb and
 * in every backup for 24 h).
 *
 * usage: defects_idempotency_walk <billingd> <descriptor set (protoc
 *        --descriptor_set_out) of the API>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "dtest.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "smartplus/billing/v1/invoice_service.pb-c.h"

#define API_PACKAGE "smartplus.billing.v1"

/* the API's descriptor set: spt_arg("descriptor_set") */
static spt_billingd srv;
static spb_client *vendor;
static spt_account accts[] = {
	{"vendor", ROLE(VENDOR), NULL, "", ""},
	{"d1", ROLE(DISTRIBUTOR), "vendor", "", ""},
	{"i1", ROLE(INSTALLER), "d1", "", ""},
};

/* State the recipes use, made at setup. */
static char quote_activate[8192], quote_renew[8192], pending1[64], pending2[64];
static char revoke_key_id[17];
static char endpoint_del[64], endpoint_test[64];
static int64_t test_event_seq;
static int walked, mutating_total, without_recipe, n_secret_rpcs;

static const ProtobufCServiceDescriptor *services[] = {
	&smartplus__billing__v1__billing_service__descriptor,
	&smartplus__billing__v1__directory_service__descriptor,
	&smartplus__billing__v1__admin_service__descriptor,
	&smartplus__billing__v1__event_service__descriptor,
	&smartplus__billing__v1__invoice_service__descriptor,
};

/* A webhook endpoint of d1 (closed loopback port: deliveries fail
 * locally) into id[64]. 0 or -1. */
static int walk_endpoint(char id[64])
{
	Smartplus__Billing__V1__CreateWebhookEndpointRequest r =
		SMARTPLUS__BILLING__V1__CREATE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateWebhookEndpointResponse *resp = NULL;
	r.account_id = "d1";
	r.url = "http://127.0.0.1:9/walk";
	if (spb_event_create_webhook_endpoint(vendor, &r, &resp, NULL) != 0 || !resp ||
	    !resp->endpoint)
		return -1;
	snprintf(id, 64, "%s", resp->endpoint->endpoint_id);
	spb_message_free(resp);
	return 0;
}

/* A test event to endpoint_test: its sequence for RedeliverEvent. */
static int walk_test_event(void)
{
	Smartplus__Billing__V1__SendTestEventRequest r =
		SMARTPLUS__BILLING__V1__SEND_TEST_EVENT_REQUEST__INIT;
	Smartplus__Billing__V1__SendTestEventResponse *resp = NULL;
	r.endpoint_id = endpoint_test;
	if (spb_event_send_test_event(vendor, &r, &resp, NULL) != 0 || !resp || !resp->event)
		return -1;
	test_event_seq = resp->event->sequence;
	spb_message_free(resp);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Which methods mutate: the descriptor set's idempotency_level            */

static Google__Protobuf__FileDescriptorSet *load_set(void)
{
	FILE *f = fopen(spt_arg("descriptor_set"), "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, r;
	Google__Protobuf__FileDescriptorSet *set;
	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 1 << 16;
			buf = realloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	set = google__protobuf__file_descriptor_set__unpack(NULL, n, buf);
	free(buf);
	return set;
}

/* 1 mutating, 0 not, -1 not in the set. */
static int method_mutates(const Google__Protobuf__FileDescriptorSet *set, const char *service,
			  const char *method)
{
	for (size_t fi = 0; fi < set->n_file; fi++) {
		const Google__Protobuf__FileDescriptorProto *f = set->file[fi];
		if (!f->package || strcmp(f->package, API_PACKAGE) != 0)
			continue;
		for (size_t si = 0; si < f->n_service; si++) {
			if (strcmp(f->service[si]->name, service) != 0)
				continue;
			for (size_t mi = 0; mi < f->service[si]->n_method; mi++) {
				const Google__Protobuf__MethodDescriptorProto *m =
					f->service[si]->method[mi];
				if (strcmp(m->name, method) != 0)
					continue;
				return !(
					m->options && m->options->has_idempotency_level &&
					m->options->idempotency_level ==
						GOOGLE__PROTOBUF__METHOD_OPTIONS__IDEMPOTENCY_LEVEL__NO_SIDE_EFFECTS);
			}
		}
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Secrets: the (rules).secret option of the descriptor set                 */

static Google__Protobuf__FileDescriptorSet *api_set;

#define RULES_EXTENSION 51200

/* 1 when field `field` of the API message `full` ("smartplus.billing.v1.X")
 * carries (rules).secret. */
static int field_is_secret(const char *full, const char *field)
{
	for (size_t fi = 0; api_set && fi < api_set->n_file; fi++) {
		const Google__Protobuf__FileDescriptorProto *f = api_set->file[fi];
		if (!f->package || strcmp(f->package, API_PACKAGE) != 0 ||
		    strncmp(full, API_PACKAGE ".", strlen(API_PACKAGE) + 1) != 0)
			continue;
		for (size_t mi = 0; mi < f->n_message_type; mi++) {
			const Google__Protobuf__DescriptorProto *m = f->message_type[mi];
			if (strcmp(m->name, full + strlen(API_PACKAGE) + 1) != 0)
				continue;
			for (size_t k = 0; k < m->n_field; k++) {
				const ProtobufCMessage *o = m->field[k]->options
								    ? &m->field[k]->options->base
								    : NULL;
				if (strcmp(m->field[k]->name, field) != 0)
					continue;
				for (unsigned u = 0; o && u < o->n_unknown_fields; u++) {
					const ProtobufCMessageUnknownField *x =
						&o->unknown_fields[u];
					Smartplus__Billing__V1__FieldRules *r;
					size_t skip = 0;
					int secret;
					if (x->tag != RULES_EXTENSION)
						continue;
					while (skip < x->len && (x->data[skip] & 0x80))
						skip++;
					skip++;
					if (skip > x->len)
						return 0;
					r = smartplus__billing__v1__field_rules__unpack(
						NULL, x->len - skip, x->data + skip);
					secret = r && r->secret;
					if (r)
						smartplus__billing__v1__field_rules__free_unpacked(
							r, NULL);
					return secret;
				}
			}
		}
	}
	return 0;
}

/* Empties the secret strings of m and below; *nonempty counts those that
 * held something. The number of secret fields met. */
static int clear_secrets(ProtobufCMessage *m, int *nonempty)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int n_secret = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void *member = (char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			continue; /* none in the API */
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
			continue; /* another member of the oneof is set */
		if (f->type == PROTOBUF_C_TYPE_STRING && field_is_secret(d->name, f->name)) {
			char **str = member;
			n_secret++;
			if (*str && (*str)[0]) {
				(*nonempty)++;
				free(*str);
				*str = strdup("");
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)member) {
			n_secret += clear_secrets(*(ProtobufCMessage **)member, nonempty);
		}
	}
	return n_secret;
}

/* The replay r2 of answer r1 (type d): r1 with its secrets emptied, byte
 * for byte, and none left in r2. 1 when so; *secrets counts the secret
 * fields of d. */
static int replay_without_secrets(const ProtobufCMessageDescriptor *d, const spt_raw_result *r1,
				  const spt_raw_result *r2, int *secrets)
{
	ProtobufCMessage *a = protobuf_c_message_unpack(d, NULL, r1->len, r1->body);
	ProtobufCMessage *b = protobuf_c_message_unpack(d, NULL, r2->len, r2->body);
	int ok = 0, first = 0, again = 0;
	*secrets = 0;
	if (a && b) {
		size_t na, nb;
		uint8_t *pa, *pb;
		*secrets = clear_secrets(a, &first);
		clear_secrets(b, &again);
		na = protobuf_c_message_get_packed_size(a);
		nb = protobuf_c_message_get_packed_size(b);
		pa = malloc(na + 1);
		pb = malloc(nb + 1);
		protobuf_c_message_pack(a, pa);
		protobuf_c_message_pack(b, pb);
		ok = first > 0 && again == 0 && na == nb && memcmp(pa, pb, na) == 0;
		free(pa);
		free(pb);
	}
	if (a)
		protobuf_c_message_free_unpacked(a, NULL);
	if (b)
		protobuf_c_message_free_unpacked(b, NULL);
	return ok;
}

/* 1 when the bytes of s are somewhere in the file at path. */
static int file_holds(const char *path, const char *s)
{
	size_t len = 0, n = strlen(s);
	char *all = spt_read_file(path, &len);
	int found = 0;
	for (size_t i = 0; all && n && i + n <= len && !found; i++)
		found = memcmp(all + i, s, n) == 0;
	free(all);
	return found;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                    */

/* A quote for one item of p1 paid by the vendor: its token into out; with
 * pending, an order from it left PENDING_PAYMENT (card, no payment method)
 * and its id into out instead. */
static int walk_quote(const char *item, int action, int pending, char *out, size_t cap)
{
	dt_quote_req q = {.action = action,
			  .payer = "vendor",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"p1"},
			  .n_items = 1,
			  .items = {item},
			  .months = 1};
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	Smartplus__Billing__V1__Order *o = NULL;
	int rc = dt_quote(vendor, NULL, &q, &qr);
	if (rc == 0 && !pending)
		snprintf(out, cap, "%s", qr->quote->quote_id);
	if (rc == 0 && pending)
		rc = dt_place(vendor, NULL, action, qr->quote->quote_id, METHOD(STRIPE), NULL, &o);
	if (rc == 0 && pending)
		snprintf(out, cap, "%s", o->order_id);
	if (rc)
		fprintf(stderr, "walk setup: %s: %s\n", item, spb_error_last()->message);
	spb_message_free(o);
	spb_message_free(qr);
	return rc;
}

static int suite_init(void)
{
	static const char *const extra[] = {"--test-clock", NULL};
	static const char *const items[] = {"w_act", "w_ren", "w_del", "w_pend1", "w_pend2"};
	Smartplus__Billing__V1__CreateCouponRequest cc =
		SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT;
	Smartplus__Billing__V1__Coupon coupon = SMARTPLUS__BILLING__V1__COUPON__INIT;
	Smartplus__Billing__V1__CreateCouponResponse *ccr = NULL;
	dt_quote_req q = {.action = ACTION(ACTIVATE),
			  .payer = "vendor",
			  .installer = "i1",
			  .ptype = PTYPE(COMMUNITY),
			  .n_projects = 1,
			  .projects = {"p1"},
			  .n_items = 1,
			  .items = {"w_ren"},
			  .months = 1};
	char key[SPT_KEY_MAX];

	if (dt_start(&srv, &vendor, extra, accts, 3) != 0 ||
	    spt_set_price(vendor, PTYPE(COMMUNITY), STYPE(APP), 1000, 10) != 0 ||
	    spt_create_project(vendor, NULL, "p1", "i1", PTYPE(COMMUNITY), NULL, 0) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		if (spt_create_item(vendor, NULL, "p1", items[i], STYPE(APP)) != 0)
			return -1;
	coupon.code = "WALKCPN";
	coupon.percent_off = 10;
	cc.coupon = &coupon;
	if (spt_set_credit_price(vendor, 100) != 0 ||
	    spb_admin_create_coupon(vendor, &cc, &ccr, NULL) != 0)
		return -1;
	spb_message_free(ccr);
	if (dt_quote_and_place(vendor, NULL, &q, METHOD(STRIPE), "pm_card_visa", NULL) != 0 ||
	    dt_buy_credits(vendor, NULL, "d1", "d1", 10) != 0 ||
	    walk_quote("w_pend1", ACTION(ACTIVATE), 1, pending1, sizeof(pending1)) != 0 ||
	    walk_quote("w_pend2", ACTION(ACTIVATE), 1, pending2, sizeof(pending2)) != 0 ||
	    walk_quote("w_act", ACTION(ACTIVATE), 0, quote_activate, sizeof(quote_activate)) != 0 ||
	    walk_quote("w_ren", ACTION(RENEW), 0, quote_renew, sizeof(quote_renew)) != 0 ||
	    spt_create_key(vendor, NULL, "i1", SCOPE(ACCOUNT), key, revoke_key_id) != 0 ||
	    walk_endpoint(endpoint_del) != 0 || walk_endpoint(endpoint_test) != 0 ||
	    walk_test_event() != 0)
		return -1;
	return 0;
}

static int suite_clean(void)
{
	return dt_stop(&srv, &vendor);
}

/* ------------------------------------------------------------------------ */
/* Recipes: a valid request per mutating RPC, packed into p                 */

static void fresh(char *buf, size_t cap, const char *prefix)
{
	spt_unique_id(buf, cap, prefix);
}

static int recipe(const char *method, spt_pb *p)
{
	char id[64];
#define PACK(T, init, fill)                    \
	do {                                   \
		T r = init;                    \
		fill;                          \
		spt_pb_append_msg(p, &r.base); \
	} while (0)
	if (strcmp(method, "ActivateServices") == 0 || strcmp(method, "RenewServices") == 0) {
		/* both requests share one layout */
		PACK(Smartplus__Billing__V1__ActivateServicesRequest,
		     SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT, {
			     r.quote_id = method[0] == 'A' ? quote_activate : quote_renew;
			     r.payment_method = METHOD(STRIPE);
			     r.billing_info = spt_billing_info();
			     r.terms_accepted = 1;
			     r.stripe_payment_method_id = "pm_card_visa";
		     });
	} else if (strcmp(method, "SetAutoRenew") == 0) {
		static char *items[1] = {"w_ren"};
		static Smartplus__Billing__V1__AutoRenewTerm t =
			SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__INIT;
		t.end_case = SMARTPLUS__BILLING__V1__AUTO_RENEW_TERM__END_UNTIL_TURNED_OFF;
		t.until_turned_off = 1;
		PACK(Smartplus__Billing__V1__SetAutoRenewRequest,
		     SMARTPLUS__BILLING__V1__SET_AUTO_RENEW_REQUEST__INIT, {
			     r.n_item_ids = 1;
			     r.item_ids = items;
			     r.enabled = 1;
			     r.payer_id = "vendor";
			     r.payment_method = METHOD(STRIPE);
			     r.stripe_customer_id = "cus_walk";
			     r.stripe_payment_method_id = "pm_card_visa";
			     r.term = &t;
		     });
	} else if (strcmp(method, "ConfirmOrder") == 0 || strcmp(method, "CancelOrder") == 0) {
		PACK(Smartplus__Billing__V1__ConfirmOrderRequest,
		     SMARTPLUS__BILLING__V1__CONFIRM_ORDER_REQUEST__INIT,
		     r.order_id = method[0] == 'C' && method[1] == 'o' ? pending1 : pending2);
	} else if (strcmp(method, "PurchaseCredits") == 0) {
		PACK(Smartplus__Billing__V1__PurchaseCreditsRequest,
		     SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT, {
			     r.account_id = "d1";
			     r.payer_id = "d1";
			     r.credits = 5;
			     r.payment_method = METHOD(STRIPE);
			     r.billing_info = spt_billing_info();
			     r.terms_accepted = 1;
			     r.stripe_payment_method_id = "pm_card_visa";
		     });
	} else if (strcmp(method, "AssignCredits") == 0) {
		PACK(Smartplus__Billing__V1__AssignCreditsRequest,
		     SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT, {
			     r.account_id = "d1";
			     r.to_account_id = "i1";
			     r.credits = 1;
		     });
	} else if (strcmp(method, "SetInstallerPaymentPolicy") == 0) {
		static Smartplus__Billing__V1__PaymentMethod m[1] = {METHOD(STRIPE)};
		PACK(Smartplus__Billing__V1__SetInstallerPaymentPolicyRequest,
		     SMARTPLUS__BILLING__V1__SET_INSTALLER_PAYMENT_POLICY_REQUEST__INIT, {
			     r.installer_id = "i1";
			     r.pay_by_installer = 1;
			     r.n_allowed_methods = 1;
			     r.allowed_methods = m;
		     });
	} else if (strcmp(method, "CreateAccount") == 0) {
		fresh(id, sizeof(id), "walkacct");
		PACK(Smartplus__Billing__V1__CreateAccountRequest,
		     SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT, {
			     r.account_id = id;
			     r.role = ROLE(DISTRIBUTOR);
			     r.parent_id = "vendor";
			     r.display_name = "walk";
		     });
	} else if (strcmp(method, "CreateProject") == 0) {
		fresh(id, sizeof(id), "walkprj");
		PACK(Smartplus__Billing__V1__CreateProjectRequest,
		     SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT, {
			     r.project_id = id;
			     r.installer_id = "i1";
			     r.type = PTYPE(COMMUNITY);
		     });
	} else if (strcmp(method, "UpdateProject") == 0) {
		static Smartplus__Billing__V1__Project pr = SMARTPLUS__BILLING__V1__PROJECT__INIT;
		static Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
		static char *paths[1] = {"display_name"};
		pr.project_id = "p1";
		pr.display_name = "walked";
		m.n_paths = 1;
		m.paths = paths;
		PACK(Smartplus__Billing__V1__UpdateProjectRequest,
		     SMARTPLUS__BILLING__V1__UPDATE_PROJECT_REQUEST__INIT, {
			     r.project = &pr;
			     r.update_mask = &m;
		     });
	} else if (strcmp(method, "CreateItems") == 0) {
		static Smartplus__Billing__V1__ItemSpec s = SMARTPLUS__BILLING__V1__ITEM_SPEC__INIT;
		static Smartplus__Billing__V1__ItemSpec *sp[1] = {&s};
		fresh(id, sizeof(id), "walkitem");
		s.item_id = id;
		s.service_type = STYPE(APP);
		PACK(Smartplus__Billing__V1__CreateItemsRequest,
		     SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT, {
			     r.project_id = "p1";
			     r.n_items = 1;
			     r.items = sp;
		     });
	} else if (strcmp(method, "DeleteItem") == 0) {
		PACK(Smartplus__Billing__V1__DeleteItemRequest,
		     SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT, r.item_id = "w_del");
	} else if (strcmp(method, "CreateApiKey") == 0) {
		PACK(Smartplus__Billing__V1__CreateApiKeyRequest,
		     SMARTPLUS__BILLING__V1__CREATE_API_KEY_REQUEST__INIT, {
			     r.account_id = "i1";
			     r.scope = SCOPE(ACCOUNT);
		     });
	} else if (strcmp(method, "RevokeApiKey") == 0) {
		PACK(Smartplus__Billing__V1__RevokeApiKeyRequest,
		     SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT,
		     r.key_id = revoke_key_id);
	} else if (strcmp(method, "SetPrice") == 0) {
		PACK(Smartplus__Billing__V1__SetPriceRequest,
		     SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT, {
			     r.project_type = PTYPE(COMMUNITY);
			     r.service_type = STYPE(PM_APP);
			     r.monthly_amount = 700;
			     r.currency = "USD";
			     r.monthly_credits = 7;
		     });
	} else if (strcmp(method, "SetCreditPrice") == 0) {
		PACK(Smartplus__Billing__V1__SetCreditPriceRequest,
		     SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_REQUEST__INIT, {
			     r.unit_amount = 100;
			     r.currency = "USD";
		     });
	} else if (strcmp(method, "CreateCoupon") == 0) {
		static Smartplus__Billing__V1__Coupon c = SMARTPLUS__BILLING__V1__COUPON__INIT;
		static char code[64];
		fresh(code, sizeof(code), "WALK");
		c.code = code;
		c.percent_off = 5;
		PACK(Smartplus__Billing__V1__CreateCouponRequest,
		     SMARTPLUS__BILLING__V1__CREATE_COUPON_REQUEST__INIT, r.coupon = &c);
	} else if (strcmp(method, "DisableCoupon") == 0) {
		PACK(Smartplus__Billing__V1__DisableCouponRequest,
		     SMARTPLUS__BILLING__V1__DISABLE_COUPON_REQUEST__INIT, r.code = "WALKCPN");
	} else if (strcmp(method, "AdvanceClock") == 0) {
		static Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
		d.seconds = 3600;
		PACK(Smartplus__Billing__V1__AdvanceClockRequest,
		     SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT, r.duration = &d);
	} else if (strcmp(method, "CreateWebhookEndpoint") == 0) {
		PACK(Smartplus__Billing__V1__CreateWebhookEndpointRequest,
		     SMARTPLUS__BILLING__V1__CREATE_WEBHOOK_ENDPOINT_REQUEST__INIT, {
			     r.account_id = "d1";
			     r.url = "http://127.0.0.1:9/walked";
		     });
	} else if (strcmp(method, "DeleteWebhookEndpoint") == 0 ||
		   strcmp(method, "SendTestEvent") == 0) {
		/* both requests are one endpoint_id */
		PACK(Smartplus__Billing__V1__DeleteWebhookEndpointRequest,
		     SMARTPLUS__BILLING__V1__DELETE_WEBHOOK_ENDPOINT_REQUEST__INIT,
		     r.endpoint_id = method[0] == 'D' ? endpoint_del : endpoint_test);
	} else if (strcmp(method, "RedeliverEvent") == 0) {
		PACK(Smartplus__Billing__V1__RedeliverEventRequest,
		     SMARTPLUS__BILLING__V1__REDELIVER_EVENT_REQUEST__INIT, {
			     r.endpoint_id = endpoint_test;
			     r.sequence = test_event_seq;
		     });
	} else if (strcmp(method, "RecoverRenewal") == 0) {
		/* ids that do not exist: refusals, which R17 keeps too */
		PACK(Smartplus__Billing__V1__RecoverRenewalRequest,
		     SMARTPLUS__BILLING__V1__RECOVER_RENEWAL_REQUEST__INIT,
		     r.order_id = "ord_walk_missing");
	} else if (strcmp(method, "RequestPayment") == 0) {
		PACK(Smartplus__Billing__V1__RequestPaymentRequest,
		     SMARTPLUS__BILLING__V1__REQUEST_PAYMENT_REQUEST__INIT, {
			     r.quote_id = quote_activate;
			     r.to_account_id = "d1";
		     });
	} else if (strcmp(method, "ApprovePaymentRequest") == 0) {
		PACK(Smartplus__Billing__V1__ApprovePaymentRequestRequest,
		     SMARTPLUS__BILLING__V1__APPROVE_PAYMENT_REQUEST_REQUEST__INIT, {
			     r.payment_request_id = "preq_walk_missing";
			     r.payment_method = METHOD(CREDITS);
			     r.terms_accepted = 1;
		     });
	} else if (strcmp(method, "DeclinePaymentRequest") == 0) {
		PACK(Smartplus__Billing__V1__DeclinePaymentRequestRequest,
		     SMARTPLUS__BILLING__V1__DECLINE_PAYMENT_REQUEST_REQUEST__INIT,
		     r.payment_request_id = "preq_walk_missing");
	} else if (strcmp(method, "SetTaxRate") == 0) {
		PACK(Smartplus__Billing__V1__SetTaxRateRequest,
		     SMARTPLUS__BILLING__V1__SET_TAX_RATE_REQUEST__INIT, {
			     r.country = "DE";
			     r.rate_bp = 1900;
		     });
	} else if (strcmp(method, "RefundOrder") == 0) {
		/* an order that does not exist: a refusal, which R17 keeps too */
		PACK(Smartplus__Billing__V1__RefundOrderRequest,
		     SMARTPLUS__BILLING__V1__REFUND_ORDER_REQUEST__INIT, {
			     r.order_id = "ord_walk_missing";
			     r.amount = 100;
			     r.reason = "walk";
		     });
	} else if (strcmp(method, "ReverseAllocation") == 0) {
		PACK(Smartplus__Billing__V1__ReverseAllocationRequest,
		     SMARTPLUS__BILLING__V1__REVERSE_ALLOCATION_REQUEST__INIT, {
			     r.transfer_id = "trf_walk_missing";
			     r.credits = 1;
		     });
	} else if (strcmp(method, "Backup") == 0) {
		fresh(id, sizeof(id), "walkbackup");
		PACK(Smartplus__Billing__V1__BackupRequest,
		     SMARTPLUS__BILLING__V1__BACKUP_REQUEST__INIT, r.name = id);
	} else {
		return -1; /* walked with an empty request */
	}
#undef PACK
	return 0;
}

/* ------------------------------------------------------------------------ */

static int transient(int status)
{
	/* CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
	 * INTERNAL, UNAVAILABLE, DATA_LOSS: not an answer R17 keeps. */
	return status == 1 || status == 2 || status == 4 || status == 8 || status == 10 ||
	       status == 13 || status == 14 || status == 15;
}

static int64_t clock_now(void)
{
	Smartplus__Billing__V1__AdvanceClockRequest r =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *out = NULL;
	int64_t now = 0;
	d.seconds = 1;
	r.duration = &d;
	if (spb_admin_advance_clock(vendor, &r, &out, NULL) == 0 && out->now)
		now = out->now->seconds - 1;
	spb_message_free(out);
	return now;
}

static void walk_one(const ProtobufCServiceDescriptor *svc, const ProtobufCMethodDescriptor *m)
{
	char path[256], key[64];
	spt_pb p = {0};
	spt_raw_result r1, r2, r3;
	int64_t before = 0;
	int same;

	snprintf(path, sizeof(path), "/%s/%s", svc->name, m->name);
	fresh(key, sizeof(key), "walk-key-");
	if (recipe(m->name, &p) != 0) {
		without_recipe++;
		printf("\n    %s: no recipe, walked with an empty request", path);
	}
	if (strcmp(m->name, "AdvanceClock") == 0)
		before = clock_now();
	CU_ASSERT_EQUAL_FATAL(dt_raw(&srv, srv.admin_key, key, path, &p, &r1), 0);
	CU_ASSERT_EQUAL_FATAL(dt_raw(&srv, srv.admin_key, key, path, &p, &r2), 0);
	CU_ASSERT_FALSE(transient(r1.status));
	same = r1.status == r2.status && strcmp(r1.message, r2.message) == 0 &&
	       strcmp(r1.reason, r2.reason) == 0 && r1.len == r2.len &&
	       (r1.len == 0 || memcmp(r1.body, r2.body, r1.len) == 0);
	if (r1.status == DT_OK && r2.status == DT_OK) {
		/* a secret shown once is not replayed */
		int secrets = 0, ok = replay_without_secrets(m->output, &r1, &r2, &secrets);
		if (secrets) {
			n_secret_rpcs++;
			same = ok;
			SPT_CHECK(ok,
				  "%s replayed: the answer must be the first one with its "
				  "secret fields empty",
				  path);
		}
	}
	CU_ASSERT_TRUE(same);
	if (!same || transient(r1.status))
		printf("\n    %s replayed: first %d '%s' (%zu bytes), again %d '%s' (%zu bytes)",
		       path, r1.status, r1.message, r1.len, r2.status, r2.message, r2.len);
	if (before) {
		/* one hour, once: the next 1 s jump starts at before + 3600 */
		int64_t after = clock_now();
		CU_ASSERT_EQUAL(after, before + 1 + 3600);
		if (after != before + 1 + 3600)
			printf("\n    AdvanceClock(1 h) sent twice moved the clock %lld s",
			       (long long)(after - before - 1));
	}
	/* Another body under the same key. */
	spt_pb_int(&p, 4095, 1);
	CU_ASSERT_EQUAL_FATAL(dt_raw(&srv, srv.admin_key, key, path, &p, &r3), 0);
	CU_ASSERT_EQUAL(r3.status, DT_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(r3.reason, "IDEMPOTENCY_KEY_REUSED");
	if (r3.status != DT_FAILED_PRECONDITION)
		printf("\n    %s with the key reused for another body: %d '%s'", path, r3.status,
		       r3.message);
	spt_raw_free(&r1);
	spt_raw_free(&r2);
	spt_raw_free(&r3);
	spt_pb_free(&p);
	walked++;
}

static void test_walk_every_mutating_rpc(void)
{
	Google__Protobuf__FileDescriptorSet *set = load_set();
	CU_ASSERT_PTR_NOT_NULL_FATAL(set);
	api_set = set;
	/* every service of the API is walked: a new one cannot be missed */
	for (size_t fi = 0; fi < set->n_file; fi++)
		for (size_t si = 0;
		     set->file[fi]->package && strcmp(set->file[fi]->package, API_PACKAGE) == 0 &&
		     si < set->file[fi]->n_service;
		     si++) {
			int listed = 0;
			for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
				listed |= strcmp(services[s]->short_name,
						 set->file[fi]->service[si]->name) == 0;
			SPT_CHECK(listed, "service %s is not walked",
				  set->file[fi]->service[si]->name);
		}
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		for (unsigned mi = 0; mi < services[s]->n_methods; mi++) {
			const ProtobufCMethodDescriptor *m = &services[s]->methods[mi];
			int mut = method_mutates(set, services[s]->short_name, m->name);
			CU_ASSERT_NOT_EQUAL(mut, -1);
			if (mut != 1)
				continue;
			mutating_total++;
			walk_one(services[s], m);
		}
	api_set = NULL;
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	printf("\n    idempotency walk: %d mutating RPCs walked (%d without a recipe, %d with "
	       "a secret answer)\n",
	       walked, without_recipe, n_secret_rpcs);
	CU_ASSERT_TRUE(n_secret_rpcs >= 1); /* CreateApiKey */
	CU_ASSERT_EQUAL(walked, mutating_total);
	CU_ASSERT_EQUAL(without_recipe, 0);
	CU_ASSERT_TRUE(walked > 0);
}

/* CreateApiKey through the SDK (which sends an idempotency key): the
 * token's bytes are not in data.mdb. */
static void test_secret_not_stored(void)
{
	char key[SPT_KEY_MAX], idem[64], path[SPT_PATH_MAX + 16];
	spb_call_options o;
	fresh(idem, sizeof(idem), "secret-key-");
	o = spt_as(NULL, idem);
	CU_ASSERT_EQUAL_FATAL(spt_create_key(vendor, &o, "i1", SCOPE(ACCOUNT), key, NULL), 0);
	CU_ASSERT_TRUE_FATAL(strlen(key) > 20);
	spt_path(path, sizeof(path), srv.data_dir, "data.mdb");
	SPT_CHECK(!file_holds(path, key + 21), "the secret of key %.20s... is in %s", key, path);
}

static CU_TestInfo tests[] = {
	{"every mutating RPC: replay answers the same, reuse is refused",
	 test_walk_every_mutating_rpc},
	{"an API key's secret is not stored by R17", test_secret_not_stored},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"idempotency walk", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD DESCRIPTOR_SET", suites);
}
