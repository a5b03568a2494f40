/*
 * config.c: billingd's settings (see config.h for the sources and their
 * precedence).
 *
 * settings[] is the one list: --help, the environment names, the config
 * file keys and the start-up summary all come from it. Each source only
 * records a text value per setting (the highest-precedence one wins); the
 * values are parsed once, at the end, by the setting's own parser, so a
 * value means the same whether it came from a flag, a variable or a file.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "log.h"
#include "invoices.h"
#include "payments/http.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "store.h"
#include "xalloc.h"

#define ENV_PREFIX "BILLINGD_"
#define ERR_MAX 256

typedef int (*setting_parse)(billingd_config *c, const char *v, char *err, size_t cap);

typedef struct setting {
	const char *name; /* flag without "--", file key; BILLINGD_<NAME> */
	const char *arg;  /* metavariable in --help; NULL: a switch */
	const char *def;  /* default as text, parsed like any value; NULL: unset */
	const char *help;
	setting_parse parse;
} setting;

/* ------------------------------------------------------------------------ */
/* Value parsers                                                             */

static int fail(char *err, size_t cap, const char *why)
{
	snprintf(err, cap, "%s", why);
	return -1;
}

/* A decimal integer in [min, max]. */
static int parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	long n;
	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

/* "YYYY-MM-DDTHH:MM:SSZ" into unix micros; -1 on error. */
static int64_t parse_time(const char *s)
{
	struct tm tm;
	const char *end;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (strcmp(end, "Z") != 0 && strcmp(end, "") != 0))
		return -1;
	return (int64_t)timegm(&tm) * 1000000;
}

/* Text settings keep the pointer: values live as long as the process. */
#define TEXT_SETTING(fn, field)                                                 \
	static int fn(billingd_config *c, const char *v, char *err, size_t cap) \
	{                                                                       \
		if (!*v)                                                        \
			return fail(err, cap, "must not be empty");             \
		c->field = v;                                                   \
		return 0;                                                       \
	}
TEXT_SETTING(set_listen, listen)
TEXT_SETTING(set_data_dir, data_dir)
TEXT_SETTING(set_port_file, port_file)
TEXT_SETTING(set_tls_cert, tls_cert)
TEXT_SETTING(set_tls_key, tls_key)
TEXT_SETTING(set_tls_client_ca, tls_client_ca)
TEXT_SETTING(set_stripe_url, stripe_url)
TEXT_SETTING(set_paypal_url, paypal_url)
TEXT_SETTING(set_health_listen, health_listen)
TEXT_SETTING(set_stripe_return_url, stripe_return_url)
TEXT_SETTING(set_paypal_return_url, paypal_return_url)
TEXT_SETTING(set_paypal_cancel_url, paypal_cancel_url)
TEXT_SETTING(set_webhook_listen, webhook_listen)
TEXT_SETTING(set_metrics_listen, metrics_listen)

#define SWITCH_SETTING(fn, field)                                               \
	static int fn(billingd_config *c, const char *v, char *err, size_t cap) \
	{                                                                       \
		if (parse_bool(v, &c->field) != 0)                              \
			return fail(err, cap, "must be true or false");         \
		return 0;                                                       \
	}
SWITCH_SETTING(set_test_clock, test_clock)
SWITCH_SETTING(set_convert_test_clock, convert_test_clock)
SWITCH_SETTING(set_quiet_calls, quiet_calls)

/* The seller and numbering of invoices (invoices.h checks the values). */
#define INVOICING_SETTING(fn, name)                                             \
	static int fn(billingd_config *c, const char *v, char *err, size_t cap) \
	{                                                                       \
		return invoice_config_set(&c->invoicing, name, v, err, cap);    \
	}
INVOICING_SETTING(set_seller_name, "seller-name")
INVOICING_SETTING(set_seller_address, "seller-address")
INVOICING_SETTING(set_seller_country, "seller-country")
INVOICING_SETTING(set_seller_region, "seller-region")
INVOICING_SETTING(set_seller_tax_id, "seller-tax-id")
INVOICING_SETTING(set_seller_email, "seller-email")
INVOICING_SETTING(set_invoice_prefix, "invoice-prefix")
INVOICING_SETTING(set_credit_tax, "credit-tax")

static int set_threads(billingd_config *c, const char *v, char *err, size_t cap)
{
	long n;
	if (strcmp(v, "auto") == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		c->threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
		return 0;
	}
	if (parse_long(v, 1, 64, &n) != 0)
		return fail(err, cap, "must be 1..64 or auto");
	c->threads = (int)n;
	return 0;
}

static int set_cutover(billingd_config *c, const char *v, char *err, size_t cap)
{
	c->cutover_us = parse_time(v);
	return c->cutover_us < 0 ? fail(err, cap, "wants YYYY-MM-DDTHH:MM:SSZ") : 0;
}

static int set_payments(billingd_config *c, const char *v, char *err, size_t cap)
{
	if (strcmp(v, "sandbox") != 0 && strcmp(v, "live") != 0)
		return fail(err, cap, "is sandbox or live");
	c->payments = v;
	return 0;
}

static int set_provider_timeout(billingd_config *c, const char *v, char *err, size_t cap)
{
	if (parse_long(v, 100, 120000, &c->provider_timeout_ms) != 0)
		return fail(err, cap, "must be 100..120000");
	return 0;
}

static int set_reconcile_interval(billingd_config *c, const char *v, char *err, size_t cap)
{
	if (parse_long(v, 10, 86400000, &c->reconcile_interval_ms) != 0)
		return fail(err, cap, "must be 10..86400000");
	return 0;
}

static int set_renew_lead(billingd_config *c, const char *v, char *err, size_t cap)
{
	long n;
	if (parse_long(v, 0, 24 * 29, &n) != 0)
		return fail(err, cap, "must be 0..696");
	c->renew_lead_us = (int64_t)n * 3600 * 1000000;
	return 0;
}

static int set_renew_interval(billingd_config *c, const char *v, char *err, size_t cap)
{
	long n;
	if (parse_long(v, 1, 86400, &n) != 0)
		return fail(err, cap, "must be 1..86400");
	c->renew_interval_s = (int)n;
	return 0;
}

static int set_renew_retry_days(billingd_config *c, const char *v, char *err, size_t cap)
{
	const char *p = v;
	char *end;
	long n;
	c->renew_retries = 0;
	while (*p) {
		errno = 0;
		n = strtol(p, &end, 10);
		if (end == p || errno || n < 1 || n > 60 || c->renew_retries == 8 ||
		    (*end && *end != ','))
			return fail(err, cap, "wants up to 8 days of 1..60, e.g. 1,2,4");
		c->renew_retry_us[c->renew_retries++] = (int64_t)n * 86400 * 1000000;
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* "7,SENSOR_ALERT=14": a default and per-service-type grace days. */
static int set_renew_grace_days(billingd_config *c, const char *v, char *err, size_t cap)
{
	const char *p = v;
	c->renew_grace_parsed = 1;
	for (int t = 0; t < 16; t++)
		c->renew_grace_us[t] = -1;
	while (*p) {
		char name[48] = "SERVICE_TYPE_", *end;
		const char *eq = strchr(p, '='), *comma = strchr(p, ',');
		int type = 0;
		long n;
		if (eq && (!comma || eq < comma)) {
			const ProtobufCEnumValue *ev;
			size_t len = (size_t)(eq - p), at = strlen(name);
			if (len == 0 || at + len >= sizeof(name))
				return fail(
					err, cap,
					"wants DAYS or SERVICE_TYPE=DAYS, e.g. 7,SENSOR_ALERT=14");
			for (size_t i = 0; i < len; i++)
				name[at + i] = (char)toupper((unsigned char)p[i]);
			name[at + len] = 0;
			ev = protobuf_c_enum_descriptor_get_value_by_name(
				&smartplus__billing__v1__service_type__descriptor, name);
			if (!ev || ev->value <= 0 || ev->value >= 16)
				return fail(err, cap, "names an unknown service type");
			type = ev->value;
			p = eq + 1;
		}
		errno = 0;
		n = strtol(p, &end, 10);
		if (end == p || errno || n < 0 || n > 365 || (*end && *end != ','))
			return fail(
				err, cap,
				"wants DAYS (0..365) or SERVICE_TYPE=DAYS, e.g. 7,SENSOR_ALERT=14");
		c->renew_grace_us[type] = (int64_t)n * 86400 * 1000000;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int set_renew_upcoming_days(billingd_config *c, const char *v, char *err, size_t cap)
{
	const char *p = v;
	char *end;
	long n;
	c->renew_upcomings = 0;
	if (strcmp(v, "none") == 0)
		return 0;
	while (*p) {
		errno = 0;
		n = strtol(p, &end, 10);
		if (end == p || errno || n < 1 || n > 29 || c->renew_upcomings == 4 ||
		    (*end && *end != ','))
			return fail(err, cap, "wants up to 4 days of 1..29 (e.g. 7,1) or none");
		c->renew_upcoming_us[c->renew_upcomings++] = (int64_t)n * 86400 * 1000000;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int set_shutdown_grace(billingd_config *c, const char *v, char *err, size_t cap)
{
	if (strcmp(v, "auto") == 0) { /* resolved once the provider timeout is known */
		c->shutdown_grace_s = 0;
		return 0;
	}
	if (parse_long(v, 1, 3600, &c->shutdown_grace_s) != 0)
		return fail(err, cap, "must be 1..3600 or auto");
	return 0;
}

static int set_writer_stall(billingd_config *c, const char *v, char *err, size_t cap)
{
	if (parse_long(v, 1, 3600, &c->writer_stall_s) != 0)
		return fail(err, cap, "must be 1..3600");
	return 0;
}

static int set_log_format(billingd_config *c, const char *v, char *err, size_t cap)
{
	c->log_format = log_format_parse(v);
	return c->log_format < 0 ? fail(err, cap, "is text or json") : 0;
}

static int set_log_level(billingd_config *c, const char *v, char *err, size_t cap)
{
	c->log_level = log_level_parse(v);
	return c->log_level < 0 ? fail(err, cap, "is debug, info, warn or error") : 0;
}

static int set_max_receive(billingd_config *c, const char *v, char *err, size_t cap)
{
	long n;
	if (parse_long(v, 1024, 64L << 20, &n) != 0)
		return fail(err, cap, "must be 1024..67108864");
	c->max_receive_bytes = (size_t)n;
	return 0;
}

static int set_map_size(billingd_config *c, const char *v, char *err, size_t cap)
{
	char *end;
	unsigned long long n;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || n < (1ULL << 20))
		return fail(err, cap, "must be at least 1048576");
	c->map_size = n;
	return 0;
}

/* Events (issue 15). */
static int set_days(int64_t *out, const char *v, char *err, size_t cap)
{
	long n;
	if (parse_long(v, 1, 3660, &n) != 0)
		return fail(err, cap, "must be 1..3660 days");
	*out = (int64_t)n * 86400 * 1000000;
	return 0;
}

static int set_event_retention(billingd_config *c, const char *v, char *err, size_t cap)
{
	return set_days(&c->event_retention_us, v, err, cap);
}

static int set_expiring_soon(billingd_config *c, const char *v, char *err, size_t cap)
{
	return set_days(&c->expiring_soon_us, v, err, cap);
}

static int set_evhook_retry(billingd_config *c, const char *v, char *err, size_t cap)
{
	long n;
	if (parse_long(v, 10, 86400000, &n) != 0)
		return fail(err, cap, "must be 10..86400000");
	c->evhook_retry_base_us = (int64_t)n * 1000;
	return 0;
}

static int set_evhook_timeout(billingd_config *c, const char *v, char *err, size_t cap)
{
	if (parse_long(v, 100, 120000, &c->evhook_timeout_ms) != 0)
		return fail(err, cap, "must be 100..120000");
	return 0;
}

static int set_events(billingd_config *c, const char *v, char *err, size_t cap)
{
	int on;
	if (parse_bool(v, &on) != 0)
		return fail(err, cap, "is on or off");
	c->events_off = !on;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */

static const setting settings[] = {
	{"listen", "HOST:PORT", "127.0.0.1:50051", "address to serve; port 0 picks a free one",
	 set_listen},
	{"data-dir", "DIR", "data", "LMDB store and admin.key", set_data_dir},
	{"threads", "N", "auto", "completion-queue threads, 1..64 (auto: one per CPU)",
	 set_threads},
	{"port-file", "FILE", NULL, "write the bound port here once listening", set_port_file},
	{"tls-cert", "FILE", NULL, "PEM certificate chain (required off loopback)", set_tls_cert},
	{"tls-key", "FILE", NULL, "PEM private key of --tls-cert", set_tls_key},
	{"tls-client-ca", "FILE", NULL, "mutual TLS: client certificates signed by this CA",
	 set_tls_client_ca},
	{"cutover", "TIME", "2025-06-01T00:00:00Z",
	 "R2 credit cut-over (commercial projects created at/after it pay in credits)",
	 set_cutover},
	{"test-clock", NULL, "false", "a clock moved only by AdminService.AdvanceClock",
	 set_test_clock},
	{"convert-test-clock", NULL, "false",
	 "move a test-clock store onto the real clock (only forward in time)",
	 set_convert_test_clock},
	{"payments", "MODE", "sandbox", "sandbox or live payment providers", set_payments},
	{"stripe-url", "URL", "https://api.stripe.com", "live Stripe API base", set_stripe_url},
	{"paypal-url", "URL", "https://api-m.paypal.com", "live PayPal API base", set_paypal_url},
	{"provider-timeout-ms", "N", "10000", "total time for one provider call",
	 set_provider_timeout},
	{"stripe-return-url", "URL", NULL, "return_url for on-session (3-D Secure) confirmation",
	 set_stripe_return_url},
	{"paypal-return-url", "URL", NULL, "PayPal experience_context return_url",
	 set_paypal_return_url},
	{"paypal-cancel-url", "URL", NULL, "PayPal experience_context cancel_url",
	 set_paypal_cancel_url},
	{"webhook-listen", "HOST:PORT", NULL,
	 "provider webhooks on loopback (/webhooks/stripe, /webhooks/paypal; secrets "
	 "STRIPE_WEBHOOK_SECRET, PAYPAL_WEBHOOK_ID)",
	 set_webhook_listen},
	{"reconcile-interval-ms", "N", "5000", "how often PROCESSING orders are settled",
	 set_reconcile_interval},
	{"renew-lead-hours", "N", "24", "auto-renewal runs this long before expiry",
	 set_renew_lead},
	{"renew-interval-seconds", "N", "60", "how often the renewal scheduler looks",
	 set_renew_interval},
	{"renew-retry-days", "LIST", "1,2,4", "retries after a failed auto-renewal",
	 set_renew_retry_days},
	{"renew-grace-days", "LIST", "7,SENSOR_ALERT=14",
	 "GRACE after an unpaid auto-renewal's expiry: days, and per service type",
	 set_renew_grace_days},
	{"renew-upcoming-days", "LIST", "7,1", "renewal.upcoming notices this long before",
	 set_renew_upcoming_days},
	{"max-receive-bytes", "N", "4194304", "largest request accepted", set_max_receive},
	{"map-size", "BYTES", "34359738368", "LMDB map size (sparse)", set_map_size},
	{"shutdown-grace-seconds", "N", "auto",
	 "SIGTERM: NOT_SERVING, then calls in flight get this long (auto: provider timeout + 5)",
	 set_shutdown_grace},
	{"health-listen", "HOST:PORT", NULL,
	 "health-only port (grpc.health.v1 only, plaintext allowed on any address)",
	 set_health_listen},
	{"metrics-listen", "HOST:PORT", NULL,
	 "Prometheus /metrics on a loopback address (plaintext; off when unset)",
	 set_metrics_listen},
	{"writer-stall-seconds", "N", "10",
	 "a write batch running longer than this makes health NOT_SERVING", set_writer_stall},
	{"event-retention-days", "N", "30", "keep events this long (then pruned)",
	 set_event_retention},
	{"expiring-soon-days", "N", "7", "item.expiring_soon this long before expiry",
	 set_expiring_soon},
	{"events-webhook-retry-ms", "N", "60000",
	 "first retry of a failed event webhook delivery (doubling, for up to 72 h)",
	 set_evhook_retry},
	{"events-webhook-timeout-ms", "N", "10000", "one event webhook request",
	 set_evhook_timeout},
	{"events", "on|off", "on", "record events (off only to measure their cost)", set_events},
	{"quiet-calls", NULL, "false", "no per-call log lines", set_quiet_calls},
	{"log-format", "FORMAT", "text", "text, or json (one object per line)", set_log_format},
	{"log-level", "LEVEL", "info", "debug, info, warn or error (gRPC core's debug logs too)",
	 set_log_level},
	{"seller-name", "TEXT", NULL, "the seller printed on invoices: legal name",
	 set_seller_name},
	{"seller-address", "TEXT", NULL, "the seller's postal address", set_seller_address},
	{"seller-country", "CC", NULL, "the seller's ISO-3166 country (decides the tax rules)",
	 set_seller_country},
	{"seller-region", "CODE", NULL, "the seller's region, if any", set_seller_region},
	{"seller-tax-id", "TEXT", NULL, "the seller's VAT id", set_seller_tax_id},
	{"seller-email", "TEXT", NULL, "the seller's billing email", set_seller_email},
	{"invoice-prefix", "P", "INV", "invoice numbers P-<year>-<seq>, credit notes P-CN-...",
	 set_invoice_prefix},
	{"credit-tax", "RULE", "purchase",
	 "purchase (credits taxed when bought) or advance (credit purchases are advance payments)",
	 set_credit_tax},
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* What each source said; the highest precedence wins. */
static struct {
	const char *value;
	config_source source;
	int line; /* CONFIG_FILE */
} chosen[N_SETTINGS];
static const char *config_path;

static const char *const source_names[] = {"default", "file", "env", "flag"};

static int find_setting(const char *name)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* BILLINGD_<NAME with '-' as '_', upper case>. */
static void env_name(const char *name, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "%s", ENV_PREFIX);
	for (; *name && n + 1 < cap; name++)
		buf[n++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
	buf[n] = 0;
}

static void choose(int i, const char *value, config_source src, int line)
{
	if (src >= chosen[i].source) {
		chosen[i].value = value;
		chosen[i].source = src;
		chosen[i].line = line;
	}
}

/* ------------------------------------------------------------------------ */
/* Sources                                                                   */

/* The file is handed to inih line by line (ini_parse_stream) so that the
 * handler knows the line it is called for (Debian's inih is built without
 * INI_HANDLER_LINENO). */
typedef struct file_state {
	const char *path;
	const char *text; /* the whole file, NUL-terminated */
	size_t pos;
	int line; /* of the last line handed out */
	char err[ERR_MAX];
	int seen[N_SETTINGS];
} file_state;

static char *next_line(char *str, int num, void *stream)
{
	file_state *f = stream;
	size_t n = 0;
	if (!f->text[f->pos])
		return NULL;
	while (f->text[f->pos] && n + 1 < (size_t)num) {
		str[n++] = f->text[f->pos++];
		if (str[n - 1] == '\n')
			break;
	}
	str[n] = 0;
	f->line++;
	return str;
}

static int on_file_entry(void *user, const char *section, const char *name, const char *value)
{
	file_state *f = user;
	int i, line = f->line;
	if (f->err[0])
		return 1; /* report the first error only */
	if (section[0]) {
		snprintf(f->err, sizeof(f->err), "%s:%d: sections are not supported ([%s])",
			 f->path, line, section);
		return 0;
	}
	i = find_setting(name);
	if (i < 0) {
		snprintf(f->err, sizeof(f->err), "%s:%d: no such setting '%s'", f->path, line,
			 name);
		return 0;
	}
	if (f->seen[i]++) {
		snprintf(f->err, sizeof(f->err),
			 "%s:%d: '%s' given twice (or continued on an indented line)", f->path,
			 line, name);
		return 0;
	}
	if (chosen[i].source <= CONFIG_FILE) /* a flag or variable wins: keep nothing */
		choose(i, xstrdup(value), CONFIG_FILE, line);
	return 1;
}

/* Reads the config file: the whole file first, so over-long lines (which
 * inih would split) are refused instead of misread. */
static int read_file(const char *path)
{
	file_state f = {.path = path};
	FILE *fp = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0, col = 0, n;
	int line = 1, rc;
	char chunk[4096];

	if (!fp) {
		fprintf(stderr, "billingd: --config %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			text = xrealloc(text, cap);
		}
		memcpy(text + len, chunk, n);
		len += n;
	}
	fclose(fp);
	if (!text)
		return 0; /* empty file */
	text[len] = 0;
	for (size_t i = 0; i < len; i++, col++) {
		if (text[i] == '\n') {
			line++;
			col = (size_t)-1;
		} else if (text[i] == 0 || col >= INI_MAX_LINE - 1) {
			fprintf(stderr, "billingd: %s:%d: %s\n", path, line,
				text[i] ? "line longer than 199 characters" : "NUL byte");
			free(text);
			return -1;
		}
	}
	f.text = text;
	rc = ini_parse_stream(next_line, &f, on_file_entry, &f);
	free(text);
	if (f.err[0]) {
		fprintf(stderr, "billingd: %s\n", f.err);
		return -1;
	}
	if (rc != 0) {
		fprintf(stderr, "billingd: %s:%d: not a 'key = value' line\n", path, rc);
		return -1;
	}
	return 0;
}

/* Every BILLINGD_* variable must name a setting (a typo is an error, not a
 * silently ignored value). */
static int read_env(void)
{
	extern char **environ;
	char name[96];
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		int found = -1;
		if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 || !eq)
			continue;
		if (strncmp(*e, ENV_PREFIX "CONFIG=", strlen(ENV_PREFIX "CONFIG=")) == 0)
			continue;
		for (size_t i = 0; i < N_SETTINGS && found < 0; i++) {
			env_name(settings[i].name, name, sizeof(name));
			if (strlen(name) == (size_t)(eq - *e) &&
			    strncmp(*e, name, strlen(name)) == 0)
				found = (int)i;
		}
		if (found < 0) {
			fprintf(stderr, "billingd: %.*s: no such setting (see billingd --help)\n",
				(int)(eq - *e), *e);
			return -1;
		}
		choose(found, eq + 1, CONFIG_ENV, 0);
	}
	return 0;
}

static void usage(FILE *f)
{
	char env[96];
	fprintf(f, "usage: billingd [--config FILE] [options]\n"
		   "       billingd backup --data-dir DIR --out FILE\n"
		   "       billingd restore --from FILE --data-dir DIR\n"
		   "       billingd admin-key --data-dir DIR\n"
		   "       billingd --version | --help\n\n"
		   "Every option is also BILLINGD_<NAME> in the environment and `name = value`\n"
		   "in the --config file (or BILLINGD_CONFIG); flag > env > file > default.\n\n");
	for (size_t i = 0; i < N_SETTINGS; i++) {
		char flag[64];
		const setting *s = &settings[i];
		env_name(s->name, env, sizeof(env));
		snprintf(flag, sizeof(flag), "--%s%s%s", s->name, s->arg ? " " : "",
			 s->arg ? s->arg : "");
		fprintf(f, "  %-30s %s\n  %-30s (%s%s%s)\n", flag, s->help, "", env,
			s->def ? ", default " : "", s->def ? s->def : "");
	}
	fprintf(f, "\nLive payment keys never come from argv: STRIPE_SECRET_KEY,\n"
		   "PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET (webhooks: STRIPE_WEBHOOK_SECRET,\n"
		   "PAYPAL_WEBHOOK_ID), or NAME_FILE naming a file, or\n"
		   "$CREDENTIALS_DIRECTORY/<name in lower case> (systemd LoadCredential=).\n"
		   "`billingd backup` writes a consistent copy of the store (hot); `billingd\n"
		   "restore` puts one into an empty data directory (billingd stopped).\n");
}

/* 1 for host:port on a loopback address (127.0.0.0/8 as a numeric address,
 * localhost, [::1]) or a unix socket. */
static int is_loopback(const char *listen)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	struct in_addr a4;
	size_t n;
	if (strncmp(listen, "unix:", 5) == 0)
		return 1;
	if (!colon || (n = (size_t)(colon - listen)) == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, listen, n);
	host[n] = 0;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* ------------------------------------------------------------------------ */
/* Secrets                                                                   */

static char *read_secret_file(const char *what, const char *path, int *failed)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;
	if (!f) {
		fprintf(stderr, "billingd: %s: cannot read %s: %s\n", what, path, strerror(errno));
		*failed = 1;
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	return n ? xstrdup(buf) : NULL; /* empty: unset (the unit's SetCredential= default) */
}

char *config_secret(const char *name, int *failed)
{
	char file_var[64], cred[64], path[4096];
	const char *v = getenv(name), *file, *dir = getenv("CREDENTIALS_DIRECTORY");
	size_t i;
	if (v && *v)
		return xstrdup(v);
	snprintf(file_var, sizeof(file_var), "%s_FILE", name);
	file = getenv(file_var);
	if (file && *file)
		return read_secret_file(file_var, file, failed);
	if (!dir || !*dir)
		return NULL;
	for (i = 0; name[i] && i + 1 < sizeof(cred); i++)
		cred[i] = (char)tolower((unsigned char)name[i]);
	cred[i] = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, cred);
	if (access(path, F_OK) != 0)
		return NULL;
	return read_secret_file("CREDENTIALS_DIRECTORY", path, failed);
}

/* Live keys; sandbox refused when live keys are set. */
static int load_payment_keys(billingd_config *c)
{
	int failed = 0;
	c->stripe_key = config_secret("STRIPE_SECRET_KEY", &failed);
	c->paypal_client_id = config_secret("PAYPAL_CLIENT_ID", &failed);
	c->paypal_secret = config_secret("PAYPAL_CLIENT_SECRET", &failed);
	c->stripe_webhook_secret = config_secret("STRIPE_WEBHOOK_SECRET", &failed);
	c->paypal_webhook_id = config_secret("PAYPAL_WEBHOOK_ID", &failed);
	if (failed)
		return -1;
	if (strcmp(c->payments, "sandbox") == 0) {
		if ((c->stripe_key && strncmp(c->stripe_key, "sk_live_", 8) == 0) ||
		    (c->paypal_client_id && c->paypal_secret)) {
			fprintf(stderr, "billingd: live payment keys are set; refusing --payments "
					"sandbox (unset them or use --payments live)\n");
			return -1;
		}
		return 0;
	}
	if (!c->stripe_key && !(c->paypal_client_id && c->paypal_secret)) {
		fprintf(stderr, "billingd: --payments live needs STRIPE_SECRET_KEY and/or "
				"PAYPAL_CLIENT_ID + PAYPAL_CLIENT_SECRET\n");
		return -1;
	}
	if (!http_url_allowed(c->stripe_url) || !http_url_allowed(c->paypal_url)) {
		fprintf(stderr,
			"billingd: provider URLs must be https:// (plain http only on loopback)\n");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */

enum { O_CONFIG = 1, O_HELP, O_VERSION, O_FIRST_SETTING = 100 };

int config_load(int argc, char **argv, billingd_config *c)
{
	struct option opts[N_SETTINGS + 4];
	char err[ERR_MAX], env[96];
	int o;

	memset(c, 0, sizeof(*c));
	memset(chosen, 0, sizeof(chosen));
	for (size_t i = 0; i < N_SETTINGS; i++) {
		opts[i].name = settings[i].name;
		opts[i].has_arg = settings[i].arg ? required_argument : no_argument;
		opts[i].flag = NULL;
		opts[i].val = O_FIRST_SETTING + (int)i;
		chosen[i].value = settings[i].def;
	}
	opts[N_SETTINGS] = (struct option){"config", required_argument, NULL, O_CONFIG};
	opts[N_SETTINGS + 1] = (struct option){"help", no_argument, NULL, O_HELP};
	opts[N_SETTINGS + 2] = (struct option){"version", no_argument, NULL, O_VERSION};
	opts[N_SETTINGS + 3] = (struct option){0, 0, 0, 0};

	config_path = getenv(ENV_PREFIX "CONFIG");
	if (config_path && !*config_path)
		config_path = NULL;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == O_HELP) {
			usage(stdout);
			return 1;
		}
		if (o == O_VERSION) {
			printf("%s\n", config_version_string());
			return 1;
		}
		if (o == O_CONFIG) {
			config_path = optarg;
		} else if (o >= O_FIRST_SETTING && o < O_FIRST_SETTING + (int)N_SETTINGS) {
			int i = o - O_FIRST_SETTING;
			choose(i, settings[i].arg ? optarg : "true", CONFIG_FLAG, 0);
		} else {
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "billingd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (read_env() != 0 || (config_path && read_file(config_path) != 0))
		return -1;

	for (size_t i = 0; i < N_SETTINGS; i++) {
		if (!chosen[i].value)
			continue;
		err[0] = 0;
		if (settings[i].parse(c, chosen[i].value, err, sizeof(err)) == 0)
			continue;
		switch (chosen[i].source) {
		case CONFIG_FLAG:
			fprintf(stderr, "billingd: --%s: %s\n", settings[i].name, err);
			break;
		case CONFIG_ENV:
			env_name(settings[i].name, env, sizeof(env));
			fprintf(stderr, "billingd: %s: %s\n", env, err);
			break;
		case CONFIG_FILE:
			fprintf(stderr, "billingd: %s:%d: %s: %s\n", config_path, chosen[i].line,
				settings[i].name, err);
			break;
		default: fprintf(stderr, "billingd: default of --%s: %s\n", settings[i].name, err);
		}
		return -1;
	}
	if (c->shutdown_grace_s == 0)
		c->shutdown_grace_s = (c->provider_timeout_ms + 999) / 1000 + 5;
	if (!c->tls_cert && !is_loopback(c->listen)) {
		fprintf(stderr,
			"billingd: %s is not a loopback address: --tls-cert and --tls-key are "
			"required\n",
			c->listen);
		return -1;
	}
	if (!!c->tls_cert != !!c->tls_key || (c->tls_client_ca && !c->tls_cert)) {
		fprintf(stderr, "billingd: --tls-cert and --tls-key go together (and "
				"--tls-client-ca needs both)\n");
		return -1;
	}
	return load_payment_keys(c);
}

void config_summary(const billingd_config *c, char *buf, size_t cap)
{
	size_t n = 0;
	int m;
	buf[0] = 0;
	if (config_path) {
		m = snprintf(buf, cap, "config=%s", config_path);
		n = m > 0 ? (size_t)m : 0;
	}
	for (size_t i = 0; i < N_SETTINGS && n < cap; i++) {
		if (!chosen[i].value)
			continue;
		m = snprintf(buf + n, cap - n, "%s%s=%s(%s)", n ? " " : "", settings[i].name,
			     chosen[i].value, source_names[chosen[i].source]);
		n += m > 0 ? (size_t)m : 0;
	}
	if (n < cap)
		snprintf(buf + n, cap - n, " stripe-key=%s paypal-keys=%s",
			 c->stripe_key ? "set" : "unset",
			 c->paypal_client_id && c->paypal_secret ? "set" : "unset");
}

const char *config_version_string(void)
{
	static char s[256];
	if (!s[0])
		snprintf(s, sizeof(s), "billingd %s (schema %d, build %s, %s)", SPB_BUILD_VERSION,
			 STORE_SCHEMA_VERSION, SPB_BUILD_DESCRIBE, SPB_BUILD_TYPE);
	return s;
}
