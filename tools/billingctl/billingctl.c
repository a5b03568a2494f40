/*
 * billingctl: the administration CLI of SmartPlus Billing, on libspbilling.
 *
 *   billingctl [global options] <noun> [<verb>] [args] [--field value ...]
 *
 * commands[] is the whole CLI: one row per command naming its RPC, the
 * request fields taken as positional arguments and the response field it
 * prints. Every other flag of a command is derived from its request message
 * (pbmsg.h): field `parent_id` is `--parent-id`, a nested message's fields
 * are `--billing-info.email`, enums take their value names with or without
 * the prefix (`--role installer`), amounts are in major units of the
 * message's currency (`--monthly-amount 21.00 --currency USD`). So a field
 * added to the proto is a flag at the next build.
 *
 * Output is a table or "field: value" lines (render.h), or with -o json the
 * response in protobuf canonical JSON. List commands follow next_page_token
 * to the end unless --page-size or --page-token is given. The exit status
 * is the gRPC status code of the failed call (0 on success); 64 for a usage
 * error found before any call.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "pbmsg.h"
#include "render.h"
#include "spbilling.h"

#define EXIT_USAGE 64
#define MAX_FLAGS 96
#define MAX_PAGES 100000 /* a List that never ends is a server bug: stop */
#define MAX_HEADERS SPB_CALL_METADATA_MAX

#define V1(x) smartplus__billing__v1__##x
#define T(x) Smartplus__Billing__V1__##x

typedef int (*rpc_fn)(spb_client *c, const ProtobufCMessage *req, ProtobufCMessage **out,
		      const spb_call_options *o);

/* A generic-signature wrapper for each generated SDK function used. */
#define STUB(fn, Type)                                                                           \
	static int call_##fn(spb_client *c, const ProtobufCMessage *req, ProtobufCMessage **out, \
			     const spb_call_options *o)                                          \
	{                                                                                        \
		return spb_##fn(c, (const T(Type##Request) *)req, (T(Type##Response) **)out, o); \
	}
STUB(directory_create_account, CreateAccount)
STUB(directory_get_account, GetAccount)
STUB(directory_list_accounts, ListAccounts)
STUB(directory_create_api_key, CreateApiKey)
STUB(directory_list_api_keys, ListApiKeys)
STUB(directory_revoke_api_key, RevokeApiKey)
STUB(directory_create_project, CreateProject)
STUB(directory_get_project, GetProject)
STUB(directory_list_projects, ListProjects)
STUB(directory_update_project, UpdateProject)
STUB(directory_create_items, CreateItems)
STUB(directory_delete_item, DeleteItem)
STUB(billing_list_items, ListItems)
STUB(billing_get_catalog, GetCatalog)
STUB(admin_set_price, SetPrice)
STUB(admin_list_prices, ListPrices)
STUB(admin_set_credit_price, SetCreditPrice)
STUB(admin_create_coupon, CreateCoupon)
STUB(admin_list_coupons, ListCoupons)
STUB(admin_disable_coupon, DisableCoupon)
STUB(admin_backup, Backup)
STUB(billing_quote_services, QuoteServices)
STUB(billing_activate_services, ActivateServices)
STUB(billing_renew_services, RenewServices)
STUB(billing_list_orders, ListOrders)
STUB(billing_get_order, GetOrder)
STUB(billing_cancel_order, CancelOrder)
STUB(billing_confirm_order, ConfirmOrder)
STUB(billing_purchase_credits, PurchaseCredits)
STUB(billing_get_credit_balance, GetCreditBalance)
STUB(billing_assign_credits, AssignCredits)
STUB(billing_list_credit_logs, ListCreditLogs)
STUB(billing_get_installer_payment_policy, GetInstallerPaymentPolicy)
STUB(billing_set_installer_payment_policy, SetInstallerPaymentPolicy)
STUB(event_list_events, ListEvents)
STUB(event_create_webhook_endpoint, CreateWebhookEndpoint)
STUB(event_list_webhook_endpoints, ListWebhookEndpoints)
STUB(event_delete_webhook_endpoint, DeleteWebhookEndpoint)
STUB(event_send_test_event, SendTestEvent)
STUB(event_list_deliveries, ListDeliveries)
STUB(event_redeliver_event, RedeliverEvent)

struct command;
typedef struct call_ctx call_ctx;
/* Extra request building for a command (after the flags are set). Returns
 * 0, or -1 after printing why. */
typedef int (*prepare_fn)(const struct command *cmd, call_ctx *ctx, int argc, char **argv);

typedef struct command {
	const char *noun, *verb; /* verb NULL: the noun alone is the command */
	const ProtobufCServiceDescriptor *service;
	const char *method;
	rpc_fn call;
	const char *positional; /* request fields taken in order; "?" suffix: optional */
	const char *flatten;    /* a message field whose fields are flags of their own */
	const char *show;       /* response field to print; NULL: the whole response */
	const char *columns;    /* table columns of a repeated `show`; NULL: all set */
	prepare_fn prepare;
	const char *summary;
} command;

/* The state of one command invocation. */
struct call_ctx {
	pbm_arena *arena;
	ProtobufCMessage *req;
	const ProtobufCFieldDescriptor *flag_parent[MAX_FLAGS]; /* NULL: top level */
	const ProtobufCFieldDescriptor *flag_field[MAX_FLAGS];
	char flag_name[MAX_FLAGS][96];
	int given[MAX_FLAGS];
	size_t n_flags;
};

static int prepare_items(const command *cmd, call_ctx *ctx, int argc, char **argv);
static int prepare_update_mask(const command *cmd, call_ctx *ctx, int argc, char **argv);

#define DIR_SVC &V1(directory_service__descriptor)
#define BILL_SVC &V1(billing_service__descriptor)
#define ADMIN_SVC &V1(admin_service__descriptor)
#define EVENT_SVC &V1(event_service__descriptor)

static const command commands[] = {
	{"account", "create", DIR_SVC, "CreateAccount", call_directory_create_account, "account_id",
	 NULL, "account", NULL, NULL, "create an account under --parent-id"},
	{"account", "get", DIR_SVC, "GetAccount", call_directory_get_account, "account_id", NULL,
	 "account", NULL, NULL, "show an account"},
	{"account", "list", DIR_SVC, "ListAccounts", call_directory_list_accounts, "parent_id?",
	 NULL, "accounts", "account_id,role,parent_id,display_name,create_time", NULL,
	 "list the children of an account (default: the caller)"},
	{"key", "create", DIR_SVC, "CreateApiKey", call_directory_create_api_key, "account_id?",
	 NULL, NULL, NULL, NULL, "mint an API key (the secret is shown once)"},
	{"key", "list", DIR_SVC, "ListApiKeys", call_directory_list_api_keys, "account_id?", NULL,
	 "api_keys", "key_id,account_id,scope,display_name,create_time,revoked", NULL,
	 "list an account's API keys (never their secrets)"},
	{"key", "revoke", DIR_SVC, "RevokeApiKey", call_directory_revoke_api_key, "key_id", NULL,
	 "api_key", NULL, NULL, "revoke an API key at once"},
	{"project", "create", DIR_SVC, "CreateProject", call_directory_create_project, "project_id",
	 NULL, "project", NULL, NULL, "create a project for --installer-id"},
	{"project", "get", DIR_SVC, "GetProject", call_directory_get_project, "project_id", NULL,
	 "project", NULL, NULL, "show a project"},
	{"project", "list", DIR_SVC, "ListProjects", call_directory_list_projects, "installer_id?",
	 NULL, "projects", "project_id,installer_id,type,display_name,pms_integrated,create_time",
	 NULL, "list an installer's projects"},
	{"project", "update", DIR_SVC, "UpdateProject", call_directory_update_project, "project_id",
	 "project", "project", NULL, prepare_update_mask,
	 "change a project's display name, integration, free apps or property manager"},
	{"item", "create", DIR_SVC, "CreateItems", call_directory_create_items, "project_id", NULL,
	 "items", "item_id,service_type,label,status", prepare_items,
	 "create items: ITEM_ID:SERVICE_TYPE[:LABEL] ..."},
	{"item", "list", BILL_SVC, "ListItems", call_billing_list_items, "project_id", NULL,
	 "items", "item_id,service_type,label,status,expires_at,is_free", NULL,
	 "list a project's items"},
	{"item", "delete", DIR_SVC, "DeleteItem", call_directory_delete_item, "item_id", NULL,
	 "item", NULL, NULL, "delete an INACTIVE or EXPIRED item"},
	{"catalog", NULL, BILL_SVC, "GetCatalog", call_billing_get_catalog, NULL, NULL, NULL, NULL,
	 NULL, "the services of each project type"},
	{"price", "set", ADMIN_SVC, "SetPrice", call_admin_set_price, NULL, NULL, "price", NULL,
	 NULL, "set the monthly price of a service type"},
	{"price", "list", ADMIN_SVC, "ListPrices", call_admin_list_prices, NULL, NULL, "prices",
	 NULL, NULL, "list prices and the credit price"},
	{"credit-price", "set", ADMIN_SVC, "SetCreditPrice", call_admin_set_credit_price, NULL,
	 NULL, "credit_price", NULL, NULL, "set the price of one credit"},
	{"coupon", "create", ADMIN_SVC, "CreateCoupon", call_admin_create_coupon, "code", "coupon",
	 "coupon", NULL, NULL, "create a coupon (--percent-off, or --amount-off and --currency)"},
	{"coupon", "list", ADMIN_SVC, "ListCoupons", call_admin_list_coupons, NULL, NULL, "coupons",
	 "code,percent_off,amount_off,max_redemptions,redemptions,expires_at,disabled", NULL,
	 "list coupons"},
	{"coupon", "disable", ADMIN_SVC, "DisableCoupon", call_admin_disable_coupon, "code", NULL,
	 "coupon", NULL, NULL, "disable a coupon"},
	{"quote", NULL, BILL_SVC, "QuoteServices", call_billing_quote_services, NULL, NULL, "quote",
	 NULL, NULL, "price an activation or renewal (valid 15 minutes)"},
	{"order", "activate", BILL_SVC, "ActivateServices", call_billing_activate_services,
	 "quote_id", NULL, "order", NULL, NULL, "place an activation order from a quote"},
	{"order", "renew", BILL_SVC, "RenewServices", call_billing_renew_services, "quote_id", NULL,
	 "order", NULL, NULL, "place a renewal order from a quote"},
	{"order", "list", BILL_SVC, "ListOrders", call_billing_list_orders, NULL, NULL, "orders",
	 "order_id,type,status,payer_id,total,payment_method,create_time", NULL, "list orders"},
	{"order", "get", BILL_SVC, "GetOrder", call_billing_get_order, "order_id", NULL, "order",
	 NULL, NULL, "show an order"},
	{"order", "cancel", BILL_SVC, "CancelOrder", call_billing_cancel_order, "order_id", NULL,
	 "order", NULL, NULL, "cancel an unpaid order"},
	{"order", "confirm", BILL_SVC, "ConfirmOrder", call_billing_confirm_order, "order_id", NULL,
	 "order", NULL, NULL, "settle an order with its provider (PayPal capture)"},
	{"credits", "balance", BILL_SVC, "GetCreditBalance", call_billing_get_credit_balance,
	 "account_id?", NULL, NULL, NULL, NULL, "an account's credit balance"},
	{"credits", "assign", BILL_SVC, "AssignCredits", call_billing_assign_credits,
	 "to_account_id", NULL, NULL, NULL, NULL, "pass --credits N down the tree"},
	{"credits", "buy", BILL_SVC, "PurchaseCredits", call_billing_purchase_credits, NULL, NULL,
	 "order", NULL, NULL, "buy credits"},
	{"credits", "log", BILL_SVC, "ListCreditLogs", call_billing_list_credit_logs, "account_id?",
	 NULL, "entries", NULL, NULL, "an account's credit transfers"},
	{"policy", "get", BILL_SVC, "GetInstallerPaymentPolicy",
	 call_billing_get_installer_payment_policy, "installer_id", NULL, "policy", NULL, NULL,
	 "an installer's payment policy"},
	{"policy", "set", BILL_SVC, "SetInstallerPaymentPolicy",
	 call_billing_set_installer_payment_policy, "installer_id", NULL, "policy", NULL, NULL,
	 "set an installer's payment policy"},
	{"backup", NULL, ADMIN_SVC, "Backup", call_admin_backup, "name", NULL, NULL, NULL, NULL,
	 "hot backup into <data-dir>/backups/NAME on the server"},
	{"events", "list", EVENT_SVC, "ListEvents", call_event_list_events, NULL, NULL, "events",
	 "sequence,create_time,kind,subject,account_id", NULL,
	 "list kept events (--after-sequence, --kinds, --subject, --account-id)"},
	/* no call: a stream (tail_events) */
	{"events", "tail", EVENT_SVC, "WatchEvents", NULL, NULL, NULL, NULL, NULL, NULL,
	 "follow new events as they commit (--after-sequence N: from there; --count N)"},
	{"webhook", "create", EVENT_SVC, "CreateWebhookEndpoint",
	 call_event_create_webhook_endpoint, "url", NULL, NULL, NULL, NULL,
	 "add an endpoint for events (the signing secret is shown once)"},
	{"webhook", "list", EVENT_SVC, "ListWebhookEndpoints", call_event_list_webhook_endpoints,
	 "account_id?", NULL, "endpoints", "endpoint_id,account_id,url,kinds,create_time", NULL,
	 "list an account's webhook endpoints"},
	{"webhook", "delete", EVENT_SVC, "DeleteWebhookEndpoint",
	 call_event_delete_webhook_endpoint, "endpoint_id", NULL, "endpoint", NULL, NULL,
	 "delete a webhook endpoint"},
	{"webhook", "test", EVENT_SVC, "SendTestEvent", call_event_send_test_event, "endpoint_id",
	 NULL, "event", NULL, NULL, "send a webhook.test event to an endpoint"},
	{"webhook", "deliveries", EVENT_SVC, "ListDeliveries", call_event_list_deliveries,
	 "endpoint_id", NULL, "deliveries",
	 "sequence,event_id,status,attempts,last_http_status,next_attempt_time,last_error", NULL,
	 "an endpoint's deliveries (--status pending|delivered|dead)"},
	{"webhook", "redeliver", EVENT_SVC, "RedeliverEvent", call_event_redeliver_event,
	 "endpoint_id", NULL, "delivery", NULL, NULL,
	 "deliver event --sequence N to an endpoint again"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* ------------------------------------------------------------------------ */
/* Global options                                                            */

typedef struct globals {
	const char *target;
	const char *key_file;
	int key_file_given;
	const char *tls_ca, *tls_cert, *tls_key, *tls_server_name;
	const char *authority;
	const char *acting_account;
	const char *idempotency_key;
	int deadline_ms;
	int json;
	spb_metadata headers[MAX_HEADERS];
	size_t n_headers;
} globals;

static void usage(FILE *f)
{
	fprintf(f, "usage: billingctl [options] <command> [args] [--field value ...]\n\n"
		   "options (or the environment variable):\n"
		   "  -t, --target HOST:PORT     BILLINGCTL_TARGET (default 127.0.0.1:50051)\n"
		   "  -k, --key-file FILE        BILLINGCTL_KEY_FILE (default data/admin.key);\n"
		   "                             BILLINGCTL_KEY may hold the key itself\n"
		   "      --tls-ca FILE          BILLINGCTL_TLS_CA: TLS, trusting this CA\n"
		   "      --tls-cert FILE        BILLINGCTL_TLS_CERT: client certificate (mutual "
		   "TLS)\n"
		   "      --tls-key FILE         BILLINGCTL_TLS_KEY: its private key\n"
		   "      --tls-server-name NAME BILLINGCTL_TLS_SERVER_NAME: name the server's\n"
		   "                             certificate must carry, if not the target's host\n"
		   "      --authority NAME       :authority of the calls\n"
		   "  -a, --acting-account ID    BILLINGCTL_ACTING_ACCOUNT (SERVICE keys)\n"
		   "      --idempotency-key KEY  of a mutating call (default: a new one)\n"
		   "  -H, --header 'NAME: VALUE' extra metadata, e.g. 'x-request-id: 42'\n"
		   "      --deadline-ms N        BILLINGCTL_DEADLINE_MS (default 10000)\n"
		   "  -o, --output table|json    BILLINGCTL_OUTPUT (default table)\n\n"
		   "commands (billingctl <command> --help for its flags):\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s%s%s", commands[i].noun,
			 commands[i].verb ? " " : "", commands[i].verb ? commands[i].verb : "");
		fprintf(f, "  %-22s %s\n", name, commands[i].summary);
	}
	fprintf(f, "\nexit status: 0, the gRPC status code of a failed call (e.g. 5 NOT_FOUND),\n"
		   "or 64 for a usage error.\n");
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

static int parse_globals(int argc, char **argv, globals *g)
{
	static const struct option opts[] = {
		{"target", required_argument, 0, 't'},
		{"key-file", required_argument, 0, 'k'},
		{"tls-ca", required_argument, 0, 1},
		{"tls-cert", required_argument, 0, 2},
		{"tls-key", required_argument, 0, 3},
		{"tls-server-name", required_argument, 0, 4},
		{"authority", required_argument, 0, 5},
		{"acting-account", required_argument, 0, 'a'},
		{"idempotency-key", required_argument, 0, 6},
		{"header", required_argument, 0, 'H'},
		{"deadline-ms", required_argument, 0, 7},
		{"output", required_argument, 0, 'o'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *output = env_or("BILLINGCTL_OUTPUT", "table"), *deadline;
	char *end;
	int o;

	g->target = env_or("BILLINGCTL_TARGET", "127.0.0.1:50051");
	g->key_file = env_or("BILLINGCTL_KEY_FILE", NULL);
	g->key_file_given = g->key_file != NULL;
	if (!g->key_file)
		g->key_file = "data/admin.key";
	g->tls_ca = env_or("BILLINGCTL_TLS_CA", NULL);
	g->tls_cert = env_or("BILLINGCTL_TLS_CERT", NULL);
	g->tls_key = env_or("BILLINGCTL_TLS_KEY", NULL);
	g->tls_server_name = env_or("BILLINGCTL_TLS_SERVER_NAME", NULL);
	g->acting_account = env_or("BILLINGCTL_ACTING_ACCOUNT", NULL);
	deadline = env_or("BILLINGCTL_DEADLINE_MS", "10000");
	/* "+": stop at the command; its flags are its own */
	while ((o = getopt_long(argc, argv, "+t:k:a:H:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 't': g->target = optarg; break;
		case 'k':
			g->key_file = optarg;
			g->key_file_given = 1;
			break;
		case 1: g->tls_ca = optarg; break;
		case 2: g->tls_cert = optarg; break;
		case 3: g->tls_key = optarg; break;
		case 4: g->tls_server_name = optarg; break;
		case 5: g->authority = optarg; break;
		case 'a': g->acting_account = optarg; break;
		case 6: g->idempotency_key = optarg; break;
		case 'H': {
			char *colon = strchr(optarg, ':');
			if (!colon || g->n_headers == MAX_HEADERS) {
				fprintf(stderr,
					"billingctl: --header wants 'name: value' (at most "
					"%d)\n",
					MAX_HEADERS);
				return -1;
			}
			*colon = 0;
			g->headers[g->n_headers].key = optarg;
			g->headers[g->n_headers++].value = colon + 1 + strspn(colon + 1, " \t");
			break;
		}
		case 7: deadline = optarg; break;
		case 'o': output = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (strcmp(output, "json") != 0 && strcmp(output, "table") != 0) {
		fprintf(stderr, "billingctl: --output is table or json\n");
		return -1;
	}
	g->json = strcmp(output, "json") == 0;
	errno = 0;
	g->deadline_ms = (int)strtol(deadline, &end, 10);
	if (!*deadline || *end || errno || g->deadline_ms < 1) {
		fprintf(stderr, "billingctl: --deadline-ms must be a positive number\n");
		return -1;
	}
	if ((g->tls_cert || g->tls_key || g->tls_server_name) && !g->tls_ca) {
		fprintf(stderr, "billingctl: --tls-cert, --tls-key and --tls-server-name need "
				"--tls-ca\n");
		return -1;
	}
	return 0;
}

/* A whole file, NUL-terminated; NULL with a message on failure. */
static char *read_file(const char *what, const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	if (!f) {
		fprintf(stderr, "billingctl: %s %s: %s\n", what, path, strerror(errno));
		return NULL;
	}
	do {
		if (len + 4096 + 1 > cap && !(buf = realloc(buf, cap = (len + 4096 + 1) * 2))) {
			fclose(f);
			return NULL;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = 0;
	return buf;
}

/* The bearer key: BILLINGCTL_KEY, else the key file (a missing default file
 * means no key: the server will say UNAUTHENTICATED). */
static int load_key(const globals *g, char **key)
{
	const char *k = getenv("BILLINGCTL_KEY");
	*key = NULL;
	if (k && *k) {
		*key = strdup(k);
		return 0;
	}
	if (!g->key_file_given) { /* the default file: fine if absent */
		FILE *probe = fopen(g->key_file, "r");
		if (!probe)
			return 0;
		fclose(probe);
	}
	*key = read_file("--key-file", g->key_file);
	if (!*key)
		return -1;
	(*key)[strcspn(*key, " \t\r\n")] = 0;
	if (!**key) { /* an empty file: no key */
		free(*key);
		*key = NULL;
	}
	return 0;
}

static spb_client *connect_client(const globals *g, const char *key)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	char *ca = NULL, *cert = NULL, *pkey = NULL;
	spb_client *c = NULL;
	o.api_key = key;
	o.default_deadline_ms = g->deadline_ms;
	o.tls_server_name = g->tls_server_name;
	if (g->tls_ca && !(ca = read_file("--tls-ca", g->tls_ca)))
		goto done;
	if (g->tls_cert && !(cert = read_file("--tls-cert", g->tls_cert)))
		goto done;
	if (g->tls_key && !(pkey = read_file("--tls-key", g->tls_key)))
		goto done;
	o.tls.root_certs_pem = ca;
	o.tls.client_cert_pem = cert;
	o.tls.client_key_pem = pkey;
	c = spb_client_new(g->target, &o);
	if (!c)
		fprintf(stderr, "billingctl: %s\n", spb_error_last()->message);
done:
	free(ca);
	free(cert);
	free(pkey);
	return c;
}

/* ------------------------------------------------------------------------ */
/* Command flags from the request message                                    */

static int is_plain_message(const ProtobufCFieldDescriptor *f)
{
	const char *n;
	if (f->type != PROTOBUF_C_TYPE_MESSAGE)
		return 0;
	n = ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
	return strncmp(n, "google.protobuf.", 16) != 0;
}

static void add_flag(call_ctx *ctx, const ProtobufCFieldDescriptor *parent,
		     const ProtobufCFieldDescriptor *f, const char *prefix)
{
	size_t n = ctx->n_flags, len;
	if (n == MAX_FLAGS)
		return;
	ctx->flag_parent[n] = parent;
	ctx->flag_field[n] = f;
	len = (size_t)snprintf(ctx->flag_name[n], sizeof(ctx->flag_name[n]), "%s%s", prefix,
			       f->name);
	for (size_t i = 0; i < len && i < sizeof(ctx->flag_name[n]); i++)
		if (ctx->flag_name[n][i] == '_')
			ctx->flag_name[n][i] = '-';
	ctx->n_flags++;
}

/* Flags for every field of the request: scalars, enums, strings, times and
 * repeated scalars at the top; the fields of singular nested messages as
 * "--parent.field" (or bare for the command's flatten field). Repeated
 * messages have no flags (a command's prepare step fills them). */
static void build_flags(const command *cmd, call_ctx *ctx)
{
	const ProtobufCMessageDescriptor *d = ctx->req->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!is_plain_message(f)) {
			add_flag(ctx, NULL, f, "");
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		{
			const ProtobufCMessageDescriptor *sd = f->descriptor;
			int flat = cmd->flatten && strcmp(cmd->flatten, f->name) == 0;
			char prefix[96];
			snprintf(prefix, sizeof(prefix), "%s.", f->name);
			for (unsigned k = 0; k < sd->n_fields; k++)
				if (!is_plain_message(&sd->fields[k]))
					add_flag(ctx, f, &sd->fields[k], flat ? "" : prefix);
		}
	}
}

static void type_hint(const ProtobufCFieldDescriptor *f, char *buf, size_t cap)
{
	char tmp[32];
	size_t n;
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL: snprintf(buf, cap, "[=true|false]"); return;
	case PROTOBUF_C_TYPE_STRING: snprintf(buf, cap, "TEXT"); break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		n = 0;
		for (unsigned i = 0; i < e->n_values && n < cap; i++)
			if (e->values[i].value)
				n += (size_t)snprintf(
					buf + n, cap - n, "%s%s", n ? "|" : "",
					pbm_enum_short(e, e->values[i].value, tmp, sizeof(tmp)));
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		snprintf(buf, cap,
			 strcmp(((const ProtobufCMessageDescriptor *)f->descriptor)->name,
				"google.protobuf.Timestamp") == 0
				 ? "TIME"
				 : "DURATION");
		break;
	default: snprintf(buf, cap, pbm_is_money(f) ? "AMOUNT" : "N"); break;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n = strlen(buf);
		snprintf(buf + n, cap - n, ",...");
	}
}

static void command_usage(const command *cmd, call_ctx *ctx, FILE *f)
{
	char pos[128] = "";
	size_t n = 0;
	if (cmd->positional) {
		const char *p = cmd->positional;
		while (*p && n + 1 < sizeof(pos)) {
			size_t len = strcspn(p, " ");
			int opt = len && p[len - 1] == '?';
			n += (size_t)snprintf(pos + n, sizeof(pos) - n, " %s", opt ? "[" : "");
			for (size_t i = 0; i < len - (size_t)opt && n + 1 < sizeof(pos); i++)
				pos[n++] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
			pos[n] = 0;
			if (opt)
				n += (size_t)snprintf(pos + n, sizeof(pos) - n, "]");
			p += len + (p[len] == ' ');
		}
	}
	fprintf(f, "usage: billingctl %s%s%s%s%s [flags]\n  %s (%s.%s)\n\nflags:\n", cmd->noun,
		cmd->verb ? " " : "", cmd->verb ? cmd->verb : "", pos,
		cmd->prepare == prepare_items ? " ITEM_ID:SERVICE_TYPE[:LABEL] ..." : "",
		cmd->summary, cmd->service->short_name, cmd->method);
	for (size_t i = 0; i < ctx->n_flags; i++) {
		char hint[512], flag[160];
		type_hint(ctx->flag_field[i], hint, sizeof(hint));
		snprintf(flag, sizeof(flag), "--%s", ctx->flag_name[i]);
		fprintf(f, "  %-32s %s\n", flag, hint);
	}
	if (!cmd->call)
		fprintf(f,
			"  %-32s %s\n\nWithout --after-sequence only events committed from now on "
			"are shown;\n--after-sequence 0 replays every kept one first. A broken "
			"stream resumes\nafter the last event shown.\n",
			"--count N", "stop after N events (default: follow until interrupted)");
	if (pbm_field(ctx->req->descriptor, "page_token"))
		fprintf(f,
			"\nEvery page is fetched unless --page-size or --page-token is given.\n");
}

/* The message a flag's field lives in (created for nested fields). */
static ProtobufCMessage *flag_target(call_ctx *ctx, size_t i)
{
	if (!ctx->flag_parent[i])
		return ctx->req;
	return pbm_submessage(ctx->arena, ctx->req, ctx->flag_parent[i]);
}

/* Sets the flags collected in values[] (money after the rest, so the
 * currency is known), then the positional arguments. */
static int apply_flags(const command *cmd, call_ctx *ctx, char **values, int argc, char **argv)
{
	char err[512];
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ctx->n_flags; i++) {
			ProtobufCMessage *m;
			if (!values[i] || pbm_is_money(ctx->flag_field[i]) != pass)
				continue;
			m = flag_target(ctx, i);
			if (pbm_set(ctx->arena, m, ctx->flag_field[i], values[i],
				    pbm_string(m, "currency"), err, sizeof(err)) != 0) {
				fprintf(stderr, "billingctl: --%s %s\n", ctx->flag_name[i], err);
				return -1;
			}
		}
	if (cmd->positional) {
		const char *p = cmd->positional;
		int arg = 0;
		while (*p) {
			char name[64];
			size_t len = strcspn(p, " ");
			int opt = len && p[len - 1] == '?';
			const ProtobufCFieldDescriptor *f;
			ProtobufCMessage *m = ctx->req;
			snprintf(name, sizeof(name), "%.*s", (int)(len - (size_t)opt), p);
			p += len + (p[len] == ' ');
			if (arg >= argc) {
				if (opt)
					break;
				fprintf(stderr, "billingctl: %s %s: missing %s\n", cmd->noun,
					cmd->verb ? cmd->verb : "", name);
				return -1;
			}
			f = pbm_field(m->descriptor, name);
			if (!f && cmd->flatten) { /* e.g. coupon create CODE */
				m = pbm_submessage(ctx->arena, ctx->req,
						   pbm_field(ctx->req->descriptor, cmd->flatten));
				f = pbm_field(m->descriptor, name);
			}
			if (!f || pbm_set(ctx->arena, m, f, argv[arg], pbm_string(m, "currency"),
					  err, sizeof(err)) != 0) {
				fprintf(stderr, "billingctl: %s: %s\n", name,
					f ? err : "no such field");
				return -1;
			}
			arg++;
		}
		if (arg < argc && !cmd->prepare) {
			fprintf(stderr, "billingctl: unexpected argument '%s'\n", argv[arg]);
			return -1;
		}
		return arg;
	}
	if (argc > 0 && !cmd->prepare) {
		fprintf(stderr, "billingctl: unexpected argument '%s'\n", argv[0]);
		return -1;
	}
	return 0;
}

/* item create PROJECT ITEM_ID:SERVICE_TYPE[:LABEL] ... */
static int prepare_items(const command *cmd, call_ctx *ctx, int argc, char **argv)
{
	const ProtobufCFieldDescriptor *items = pbm_field(ctx->req->descriptor, "items");
	size_t *n = (size_t *)((char *)ctx->req + items->quantifier_offset);
	ProtobufCMessage ***arr = (ProtobufCMessage ***)((char *)ctx->req + items->offset);
	char err[512];
	if (argc == 0) {
		fprintf(stderr, "billingctl: item create: give ITEM_ID:SERVICE_TYPE[:LABEL] ...\n");
		return -1;
	}
	*arr = pbm_alloc(ctx->arena, (size_t)argc * sizeof(**arr));
	for (int i = 0; i < argc; i++) {
		char *spec = pbm_strdup(ctx->arena, argv[i]), *type = strchr(spec, ':'), *label;
		ProtobufCMessage *it = pbm_new(ctx->arena, items->descriptor);
		if (!type) {
			fprintf(stderr, "billingctl: '%s': want ITEM_ID:SERVICE_TYPE[:LABEL]\n",
				argv[i]);
			return -1;
		}
		*type++ = 0;
		label = strchr(type, ':');
		if (label)
			*label++ = 0;
		if (pbm_set(ctx->arena, it, pbm_field(it->descriptor, "item_id"), spec, NULL, err,
			    sizeof(err)) != 0 ||
		    pbm_set(ctx->arena, it, pbm_field(it->descriptor, "service_type"), type, NULL,
			    err, sizeof(err)) != 0 ||
		    (label && pbm_set(ctx->arena, it, pbm_field(it->descriptor, "label"), label,
				      NULL, err, sizeof(err)) != 0)) {
			fprintf(stderr, "billingctl: %s: %s\n", argv[i], err);
			return -1;
		}
		(*arr)[(*n)++] = it;
	}
	(void)cmd;
	return 0;
}

/* project update: the mask names the project fields given as flags. */
static int prepare_update_mask(const command *cmd, call_ctx *ctx, int argc, char **argv)
{
	const ProtobufCFieldDescriptor *mf = pbm_field(ctx->req->descriptor, "update_mask");
	ProtobufCMessage *mask = pbm_submessage(ctx->arena, ctx->req, mf);
	const ProtobufCFieldDescriptor *paths = pbm_field(mask->descriptor, "paths");
	char err[256];
	for (size_t i = 0; i < ctx->n_flags; i++)
		if (ctx->given[i] && ctx->flag_parent[i] &&
		    strcmp(ctx->flag_parent[i]->name, cmd->flatten) == 0 &&
		    pbm_set(ctx->arena, mask, paths, ctx->flag_field[i]->name, NULL, err,
			    sizeof(err)) != 0)
			return -1;
	if (pbm_count(mask, paths) == 0) {
		fprintf(stderr, "billingctl: project update: nothing to change\n");
		return -1;
	}
	(void)argc;
	(void)argv;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Running a command                                                         */

static const command *find_command(int argc, char **argv, int *used)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const command *c = &commands[i];
		if (argc < 1 || strcmp(argv[0], c->noun) != 0)
			continue;
		if (!c->verb) {
			*used = 1;
			return c;
		}
		if (argc >= 2 && strcmp(argv[1], c->verb) == 0) {
			*used = 2;
			return c;
		}
	}
	return NULL;
}

static void print_error(void)
{
	const spb_error *e = spb_error_last();
	fprintf(stderr, "billingctl: %s: %s%s%s%s\n", spb_status_name(e->grpc_code), e->message,
		e->reason[0] ? " (" : "", e->reason, e->reason[0] ? ")" : "");
	/* a mutation whose outcome the client does not know (the SDK sets the
	 * key for mutating calls only): say how to repeat it safely */
	if (e->idempotency_key[0] &&
	    (e->grpc_code == 4 /* DEADLINE_EXCEEDED */ || e->grpc_code == 14 /* UNAVAILABLE */))
		fprintf(stderr, "billingctl: repeat with --idempotency-key %s\n",
			e->idempotency_key);
}

/* Prints the responses (several for a List followed across pages). */
static void print_responses(const command *cmd, const globals *g, ProtobufCMessage **pages,
			    size_t n)
{
	const ProtobufCFieldDescriptor *show = cmd->show
						       ? pbm_field(pages[0]->descriptor, cmd->show)
						       : NULL;
	if (g->json) {
		json_t *j = pbm_to_json(pages[0]);
		char *text;
		if (show && show->label == PROTOBUF_C_LABEL_REPEATED) {
			char name[128];
			json_t *all = json_array();
			pbm_json_name(show->name, name, sizeof(name));
			for (size_t i = 0; i < n; i++) {
				json_t *pj = pbm_to_json(pages[i]),
				       *arr = json_object_get(pj, name);
				if (arr)
					json_array_extend(all, arr);
				json_decref(pj);
			}
			json_object_set_new(j, name, all);
			if (n > 1)
				json_object_del(j, "nextPageToken");
		}
		text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", text);
		free(text);
		json_decref(j);
		return;
	}
	if (show && show->label == PROTOBUF_C_LABEL_REPEATED &&
	    show->type == PROTOBUF_C_TYPE_MESSAGE) {
		render_table(stdout, (const ProtobufCMessage *const *)pages, n, show, cmd->columns,
			     "");
		for (size_t i = 0; i < n; i++) {
			/* a List's other fields (e.g. ListPrices' credit price) */
			const ProtobufCMessageDescriptor *d = pages[i]->descriptor;
			for (unsigned k = 0; i == 0 && k < d->n_fields; k++)
				if (&d->fields[k] != show &&
				    d->fields[k].type == PROTOBUF_C_TYPE_MESSAGE &&
				    pbm_count(pages[i], &d->fields[k]) &&
				    d->fields[k].label != PROTOBUF_C_LABEL_REPEATED) {
					printf("\n%s:\n", d->fields[k].name);
					render_message(stdout,
						       *(ProtobufCMessage *const *)pbm_value(
							       pages[i], &d->fields[k], 0),
						       "", 0);
				}
		}
		if (pbm_string(pages[n - 1], "next_page_token")[0])
			fprintf(stderr, "next page: --page-token %s\n",
				pbm_string(pages[n - 1], "next_page_token"));
		return;
	}
	if (show && pbm_count(pages[0], show))
		render_message(stdout, *(ProtobufCMessage *const *)pbm_value(pages[0], show, 0), "",
			       0);
	else
		render_message(stdout, pages[0], "", 1);
}

/* ------------------------------------------------------------------------ */
/* events tail: EventService.WatchEvents through the SDK's watch             */

/* A stream that breaks is reopened by the watch (resuming after the last
 * event shown); after this many failures in a row (~15 s) billingctl exits
 * with UNAVAILABLE. */
#define TAIL_RECONNECTS 10

/* One event: a table row, or one line of canonical JSON. */
static void print_event(const globals *g, const T(Event) * ev)
{
	if (g->json) {
		json_t *j = pbm_to_json(&ev->base);
		char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(j);
	} else {
		char when[64];
		pbm_format(&ev->base, pbm_field(ev->base.descriptor, "create_time"), 0, NULL, when,
			   sizeof(when));
		printf("%-9lld %-27s %-22s %-30s %s\n", (long long)ev->sequence, when, ev->kind,
		       ev->subject, ev->account_id);
	}
	fflush(stdout);
}

/* The newest sequence number (ListEvents' head): where a tail without
 * --after-sequence starts. 0, or -1 with the error recorded. */
static int events_head(spb_client *client, const T(WatchEventsRequest) * w,
		       const spb_call_options *co, long long *head)
{
	T(ListEventsRequest) req = SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
	T(ListEventsResponse) *resp = NULL;
	req.page_size = 1;
	req.account_id = w->account_id;
	if (spb_event_list_events(client, &req, &resp, co) != 0)
		return -1;
	*head = (long long)resp->head_sequence;
	spb_message_free(resp);
	return 0;
}

/* Prints events as they come, count of them (0: until interrupted). The
 * exit status. */
static int tail_events(const globals *g, spb_client *client, const T(WatchEventsRequest) * req,
		       int from_given, long long count, const spb_call_options *co)
{
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	spb_event_watch *w = NULL;
	long long shown = 0;
	int status = 0;

	wo.after_sequence = (long long)req->after_sequence;
	if (!from_given && events_head(client, req, co, &wo.after_sequence) != 0) {
		print_error();
		return spb_error_last()->grpc_code;
	}
	wo.kinds = (const char *const *)req->kinds;
	wo.n_kinds = req->n_kinds;
	wo.subject = req->subject && *req->subject ? req->subject : NULL;
	wo.account_id = req->account_id && *req->account_id ? req->account_id : NULL;
	wo.call = co;
	wo.max_reconnects = TAIL_RECONNECTS;
	if (spb_events_watch_open(&w, client, &wo) != 0) {
		print_error();
		return spb_error_last()->grpc_code;
	}
	if (!g->json) {
		printf("%-9s %-27s %-22s %-30s %s\n", "SEQUENCE", "CREATE_TIME", "KIND", "SUBJECT",
		       "ACCOUNT_ID");
		fflush(stdout);
	}
	while (count <= 0 || shown < count) {
		T(Event) *ev = NULL;
		if (spb_events_watch_next(w, &ev, -1) != 0) {
			print_error();
			status = spb_error_last()->grpc_code;
			break;
		}
		print_event(g, ev);
		spb_message_free(ev);
		shown++;
	}
	spb_events_watch_free(w);
	return status;
}

static int run(const command *cmd, globals *g, spb_client *client, int argc, char **argv)
{
	const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(
		cmd->service, cmd->method);
	struct option opts[MAX_FLAGS + 4];
	char *values[MAX_FLAGS] = {0};
	call_ctx ctx;
	spb_call_options co = SPB_CALL_OPTIONS_INIT;
	ProtobufCMessage *pages[64], **all = pages;
	size_t n_pages = 0, cap_pages = 64;
	const ProtobufCFieldDescriptor *token_f;
	int o, follow, status = 0, used, streaming = cmd->call == NULL, from_given = 0;
	long long count = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.arena = pbm_arena_new();
	ctx.req = pbm_new(ctx.arena, md->input);
	build_flags(cmd, &ctx);
	for (size_t i = 0; i < ctx.n_flags; i++) {
		opts[i].name = ctx.flag_name[i];
		opts[i].has_arg = ctx.flag_field[i]->type == PROTOBUF_C_TYPE_BOOL &&
						  ctx.flag_field[i]->label !=
							  PROTOBUF_C_LABEL_REPEATED
					  ? optional_argument
					  : required_argument;
		opts[i].flag = NULL;
		opts[i].val = 1000 + (int)i;
	}
	opts[ctx.n_flags] = (struct option){"help", no_argument, NULL, 'h'};
	opts[ctx.n_flags + 1] = (struct option){"output", required_argument, NULL, 'o'};
	opts[ctx.n_flags + 2] = streaming ? (struct option){"count", required_argument, NULL, 'n'}
					  : (struct option){0, 0, 0, 0};
	opts[ctx.n_flags + 3] = (struct option){0, 0, 0, 0};
	optind = 0; /* a new argv: reinitialise GNU getopt */
	argv[0] = (char *)"billingctl";
	while ((o = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		size_t i = (size_t)(o - 1000);
		if (o == 'h') {
			command_usage(cmd, &ctx, stdout);
			pbm_arena_free(ctx.arena);
			return 0;
		}
		if (o == 'o') { /* also accepted after the command */
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
				fprintf(stderr, "billingctl: --output is table or json\n");
				pbm_arena_free(ctx.arena);
				return EXIT_USAGE;
			}
			g->json = strcmp(optarg, "json") == 0;
			continue;
		}
		if (o == 'n') { /* events tail: stop after N events */
			char *end;
			errno = 0;
			count = strtoll(optarg, &end, 10);
			if (!*optarg || *end || errno || count < 1) {
				fprintf(stderr, "billingctl: --count must be a positive number\n");
				pbm_arena_free(ctx.arena);
				return EXIT_USAGE;
			}
			continue;
		}
		if (o < 1000 || i >= ctx.n_flags) {
			command_usage(cmd, &ctx, stderr);
			pbm_arena_free(ctx.arena);
			return EXIT_USAGE;
		}
		if (values[i] && ctx.flag_field[i]->label == PROTOBUF_C_LABEL_REPEATED) {
			/* repeated flag: join, pbm_set splits on commas */
			size_t len = strlen(values[i]) + strlen(optarg) + 2;
			char *joined = pbm_alloc(ctx.arena, len);
			snprintf(joined, len, "%s,%s", values[i], optarg);
			values[i] = joined;
		} else {
			values[i] = optarg ? optarg : (char *)"true";
		}
		ctx.given[i] = 1;
		if (strcmp(ctx.flag_field[i]->name, "after_sequence") == 0)
			from_given = 1;
	}
	used = apply_flags(cmd, &ctx, values, argc - optind, argv + optind);
	if (used < 0 ||
	    (cmd->prepare && cmd->prepare(cmd, &ctx, argc - optind - used, argv + optind + used))) {
		pbm_arena_free(ctx.arena);
		return EXIT_USAGE;
	}

	co.acting_account = g->acting_account;
	co.idempotency_key = g->idempotency_key;
	co.authority = g->authority;
	co.metadata = g->headers;
	co.metadata_count = g->n_headers;
	if (streaming) {
		status = tail_events(g, client, (const T(WatchEventsRequest) *)ctx.req, from_given,
				     count, &co);
		pbm_arena_free(ctx.arena);
		return status;
	}

	token_f = pbm_field(md->input, "page_token");
	follow = token_f != NULL;
	for (size_t i = 0; i < ctx.n_flags; i++)
		if (values[i] && (strcmp(ctx.flag_field[i]->name, "page_token") == 0 ||
				  strcmp(ctx.flag_field[i]->name, "page_size") == 0))
			follow = 0;
	for (;;) {
		ProtobufCMessage *resp = NULL;
		const char *next;
		if (cmd->call(client, ctx.req, &resp, &co) != 0) {
			print_error();
			status = spb_error_last()->grpc_code;
			break;
		}
		if (n_pages == cap_pages) {
			ProtobufCMessage **grown = malloc(2 * cap_pages * sizeof(*grown));
			if (!grown) {
				spb_message_free(resp);
				status = 13;
				break;
			}
			memcpy(grown, all, n_pages * sizeof(*grown));
			if (all != pages)
				free(all);
			all = grown;
			cap_pages *= 2;
		}
		all[n_pages++] = resp;
		next = pbm_string(resp, "next_page_token");
		if (!follow || !*next || n_pages >= MAX_PAGES)
			break;
		*(const char **)((char *)ctx.req + token_f->offset) = next;
	}
	if (status == 0 && n_pages)
		print_responses(cmd, g, all, n_pages);
	for (size_t i = 0; i < n_pages; i++)
		spb_message_free(all[i]);
	if (all != pages)
		free(all);
	pbm_arena_free(ctx.arena);
	return status;
}

int main(int argc, char **argv)
{
	globals g;
	const command *cmd;
	spb_client *client;
	char *key = NULL;
	int used = 0, rc;

	memset(&g, 0, sizeof(g));
	if (parse_globals(argc, argv, &g) != 0)
		return EXIT_USAGE;
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		usage(stdout);
		return 0;
	}
	cmd = find_command(argc - optind, argv + optind, &used);
	if (!cmd) {
		fprintf(stderr,
			"billingctl: unknown command '%s%s%s' (billingctl --help lists them)\n",
			argv[optind], optind + 1 < argc ? " " : "",
			optind + 1 < argc ? argv[optind + 1] : "");
		return EXIT_USAGE;
	}
	if (load_key(&g, &key) != 0)
		return EXIT_USAGE;
	client = connect_client(&g, key);
	if (!client) {
		free(key);
		return EXIT_USAGE;
	}
	/* the command's own argv: argv[0] is its name, for getopt */
	rc = run(cmd, &g, client, argc - optind - used + 1, argv + optind + used - 1);
	spb_client_free(client);
	free(key);
	return rc;
}
