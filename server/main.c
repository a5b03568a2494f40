/*
 * billingd: the SmartPlus Billing server.
 *
 *   billingd [--listen HOST:PORT] [--data-dir DIR] [--threads N] [--port-file F]
 *            [--tls-cert F --tls-key F [--tls-client-ca F]] [--cutover RFC3339]
 *            [--test-clock | --convert-test-clock] [--payments sandbox|live] [--max-receive-bytes N]
 *            [--map-size BYTES] [--quiet-calls]
 *   billingd backup --data-dir DIR --out FILE
 *   billingd admin-key --data-dir DIR
 *
 * Defaults: 127.0.0.1:50051, ./data, sandbox payments. Plaintext is allowed on
 * loopback addresses only. SIGINT/SIGTERM stop it cleanly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "billingd.h"
#include "invoices.h"
#include "log.h"
#include "payments/http.h"
#include "rpc.h"
#include "server.h"
#include "stream.h"
#include "xalloc.h"

billingd_state billingd;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: billingd [options]\n"
		"  --listen HOST:PORT       address to serve (default 127.0.0.1:50051; port 0 "
		"picks one)\n"
		"  --data-dir DIR           LMDB store and admin.key (default ./data)\n"
		"  --threads N              completion-queue threads (default: number of CPUs)\n"
		"  --port-file FILE         write the bound port here once listening\n"
		"  --tls-cert FILE          PEM certificate chain (required off loopback)\n"
		"  --tls-key FILE           PEM private key\n"
		"  --tls-client-ca FILE     require client certificates signed by this CA (mutual "
		"TLS)\n"
		"  --cutover TIME           R2 credit cut-over, RFC 3339 UTC (default "
		"2025-06-01T00:00:00Z)\n"
		"  --test-clock             start a test clock moved only by "
		"AdminService.AdvanceClock\n"
		"                           (a store keeps the clock it was created with)\n"
		"  --convert-test-clock     move a test-clock store onto the real clock (only "
		"forward in time)\n"
		"  --payments MODE          sandbox (default) or live\n"
		"  --stripe-url URL         live Stripe API base (default https://api.stripe.com)\n"
		"  --paypal-url URL         live PayPal API base (default "
		"https://api-m.paypal.com)\n"
		"  --provider-timeout-ms N  total time for one provider call (default 10000)\n"
		"  --reconcile-interval-ms N  how often PROCESSING orders are settled (default "
		"5000)\n"
		"  --renew-lead-hours N     auto-renew this long before expiry (default 24)\n"
		"  --renew-interval-seconds N  how often the renewal scheduler looks (default 60)\n"
		"  --renew-retry-days LIST  retries after a failed renewal (default 1,2,4)\n"
		"                           live keys come from the environment, never argv:\n"
		"                           STRIPE_SECRET_KEY, PAYPAL_CLIENT_ID, "
		"PAYPAL_CLIENT_SECRET\n"
		"                           (or NAME_FILE holding the path of a file with the "
		"value)\n"
		"  --max-receive-bytes N    largest request accepted (default 4194304)\n"
		"  --map-size BYTES         LMDB map size (default 32 GiB)\n"
		"  --quiet-calls            no per-call log lines\n"
		"  --seller-name S, --seller-address S, --seller-country CC, --seller-region R,\n"
		"  --seller-tax-id S, --seller-email S   the legal entity printed on invoices\n"
		"  --invoice-prefix P       invoice numbers P-<year>-<seq> (default INV)\n"
		"  --credit-tax RULE        purchase (default: credits taxed when bought) or\n"
		"                           advance (credit purchases are advance payments)\n"
		"       billingd backup --data-dir DIR --out FILE\n"
		"  writes a consistent copy of the store (hot: a server may run on DIR)\n"
		"       billingd admin-key --data-dir DIR\n"
		"  with billingd stopped: a new vendor key in DIR/admin.key (mode 0600)\n");
}

/* Parses "YYYY-MM-DDTHH:MM:SSZ" into unix micros; -1 on error. */
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

static int parse_args(int argc, char **argv, billingd_config *c)
{
	enum {
		O_LISTEN = 1000,
		O_DATA,
		O_THREADS,
		O_PORTFILE,
		O_CERT,
		O_KEY,
		O_CA,
		O_CUTOVER,
		O_TESTCLOCK,
		O_PAYMENTS,
		O_MAXRECV,
		O_MAPSIZE,
		O_QUIET,
		O_HELP,
		O_STRIPE,
		O_PAYPAL,
		O_PTIMEOUT,
		O_RECONCILE,
		O_RLEAD,
		O_RINTERVAL,
		O_RRETRY,
		O_INVOICING,
		O_CONVERT
	};
	static const struct option opts[] = {
		{"listen", required_argument, 0, O_LISTEN},
		{"data-dir", required_argument, 0, O_DATA},
		{"threads", required_argument, 0, O_THREADS},
		{"port-file", required_argument, 0, O_PORTFILE},
		{"tls-cert", required_argument, 0, O_CERT},
		{"tls-key", required_argument, 0, O_KEY},
		{"tls-client-ca", required_argument, 0, O_CA},
		{"cutover", required_argument, 0, O_CUTOVER},
		{"test-clock", no_argument, 0, O_TESTCLOCK},
		{"convert-test-clock", no_argument, 0, O_CONVERT},
		{"payments", required_argument, 0, O_PAYMENTS},
		{"max-receive-bytes", required_argument, 0, O_MAXRECV},
		{"map-size", required_argument, 0, O_MAPSIZE},
		{"quiet-calls", no_argument, 0, O_QUIET},
		{"stripe-url", required_argument, 0, O_STRIPE},
		{"paypal-url", required_argument, 0, O_PAYPAL},
		{"provider-timeout-ms", required_argument, 0, O_PTIMEOUT},
		{"reconcile-interval-ms", required_argument, 0, O_RECONCILE},
		{"renew-lead-hours", required_argument, 0, O_RLEAD},
		{"renew-interval-seconds", required_argument, 0, O_RINTERVAL},
		{"renew-retry-days", required_argument, 0, O_RRETRY},
		{"help", no_argument, 0, O_HELP},
		{"seller-name", required_argument, 0, O_INVOICING},
		{"seller-address", required_argument, 0, O_INVOICING},
		{"seller-country", required_argument, 0, O_INVOICING},
		{"seller-region", required_argument, 0, O_INVOICING},
		{"seller-tax-id", required_argument, 0, O_INVOICING},
		{"seller-email", required_argument, 0, O_INVOICING},
		{"invoice-prefix", required_argument, 0, O_INVOICING},
		{"credit-tax", required_argument, 0, O_INVOICING},
		{0, 0, 0, 0},
	};
	int o, li = 0;
	char *end;
	long n;

	c->listen = "127.0.0.1:50051";
	c->data_dir = "data";
	c->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	c->cutover_us = BILLINGD_DEFAULT_CUTOVER_US;
	c->payments = "sandbox";
	c->max_receive_bytes = 4 << 20;
	c->map_size = UINT64_C(32) << 30;
	c->stripe_url = "https://api.stripe.com";
	c->paypal_url = "https://api-m.paypal.com";
	c->provider_timeout_ms = 10000;
	c->reconcile_interval_ms = 5000;
	c->renew_lead_us = INT64_C(24) * 3600 * 1000000;
	c->renew_interval_s = 60;
	c->renew_retries = 3;
	c->renew_retry_us[0] = INT64_C(1) * 86400 * 1000000;
	c->renew_retry_us[1] = INT64_C(2) * 86400 * 1000000;
	c->renew_retry_us[2] = INT64_C(4) * 86400 * 1000000;
	invoice_config_defaults(&c->invoicing);
	while ((o = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (o) {
		case O_INVOICING:
			if (invoice_config_set(&c->invoicing, opts[li].name, optarg) != 0)
				return -1;
			break;
		case O_LISTEN: c->listen = optarg; break;
		case O_DATA: c->data_dir = optarg; break;
		case O_THREADS:
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 64) {
				fprintf(stderr, "billingd: --threads must be 1..64\n");
				return -1;
			}
			c->threads = (int)n;
			break;
		case O_PORTFILE: c->port_file = optarg; break;
		case O_CERT: c->tls_cert = optarg; break;
		case O_KEY: c->tls_key = optarg; break;
		case O_CA: c->tls_client_ca = optarg; break;
		case O_CUTOVER:
			c->cutover_us = parse_time(optarg);
			if (c->cutover_us < 0) {
				fprintf(stderr, "billingd: --cutover wants YYYY-MM-DDTHH:MM:SSZ\n");
				return -1;
			}
			break;
		case O_TESTCLOCK: c->test_clock = 1; break;
		case O_CONVERT: c->convert_test_clock = 1; break;
		case O_PAYMENTS:
			if (strcmp(optarg, "sandbox") != 0 && strcmp(optarg, "live") != 0) {
				fprintf(stderr, "billingd: --payments is sandbox or live\n");
				return -1;
			}
			c->payments = optarg;
			break;
		case O_MAXRECV:
			n = strtol(optarg, &end, 10);
			if (*end || n < 1024 || n > (64L << 20)) {
				fprintf(stderr,
					"billingd: --max-receive-bytes must be 1024..67108864\n");
				return -1;
			}
			c->max_receive_bytes = (size_t)n;
			break;
		case O_MAPSIZE: {
			unsigned long long v = strtoull(optarg, &end, 10);
			if (*end || v < (1ULL << 20)) {
				fprintf(stderr, "billingd: --map-size must be at least 1048576\n");
				return -1;
			}
			c->map_size = v;
			break;
		}
		case O_QUIET: c->quiet_calls = 1; break;
		case O_STRIPE: c->stripe_url = optarg; break;
		case O_PAYPAL: c->paypal_url = optarg; break;
		case O_PTIMEOUT:
			n = strtol(optarg, &end, 10);
			if (*end || n < 100 || n > 120000) {
				fprintf(stderr,
					"billingd: --provider-timeout-ms must be 100..120000\n");
				return -1;
			}
			c->provider_timeout_ms = n;
			break;
		case O_RECONCILE:
			n = strtol(optarg, &end, 10);
			if (*end || n < 10 || n > 86400000) {
				fprintf(stderr,
					"billingd: --reconcile-interval-ms must be 10..86400000\n");
				return -1;
			}
			c->reconcile_interval_ms = n;
			break;
		case O_RLEAD:
			n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > 24 * 29) {
				fprintf(stderr, "billingd: --renew-lead-hours must be 0..696\n");
				return -1;
			}
			c->renew_lead_us = (int64_t)n * 3600 * 1000000;
			break;
		case O_RINTERVAL:
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 86400) {
				fprintf(stderr,
					"billingd: --renew-interval-seconds must be 1..86400\n");
				return -1;
			}
			c->renew_interval_s = (int)n;
			break;
		case O_RRETRY: {
			char *p = optarg;
			c->renew_retries = 0;
			while (*p) {
				n = strtol(p, &end, 10);
				if (end == p || n < 1 || n > 60 || c->renew_retries == 8 ||
				    (*end && *end != ',')) {
					fprintf(stderr, "billingd: --renew-retry-days wants up to "
							"8 days, e.g. 1,2,4\n");
					return -1;
				}
				c->renew_retry_us[c->renew_retries++] = (int64_t)n * 86400 *
									1000000;
				p = *end ? end + 1 : end;
			}
			break;
		}
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "billingd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
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
	return 0;
}

/* A secret from NAME, or from the file named by NAME_FILE (trailing newline
 * dropped). NULL when neither is set; exits on an unreadable file. */
static char *secret_from_env(const char *name)
{
	char file_var[64], buf[4096];
	const char *v = getenv(name), *path;
	FILE *f;
	size_t n;
	if (v && *v)
		return xstrdup(v);
	snprintf(file_var, sizeof(file_var), "%s_FILE", name);
	path = getenv(file_var);
	if (!path || !*path)
		return NULL;
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "billingd: %s: cannot read %s\n", file_var, path);
		exit(2);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	return xstrdup(buf);
}

/* Live keys from the environment; sandbox refused when live keys are set. */
static int load_payment_keys(billingd_config *c)
{
	c->stripe_key = secret_from_env("STRIPE_SECRET_KEY");
	c->paypal_client_id = secret_from_env("PAYPAL_CLIENT_ID");
	c->paypal_secret = secret_from_env("PAYPAL_CLIENT_SECRET");
	if (strcmp(c->payments, "sandbox") == 0) {
		if ((c->stripe_key && strncmp(c->stripe_key, "sk_live_", 8) == 0) ||
		    (c->paypal_client_id && c->paypal_secret)) {
			fprintf(stderr,
				"billingd: live payment keys are set in the environment; refusing "
				"--payments sandbox (unset them or use --payments live)\n");
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

static int write_port_file(const char *path, int port)
{
	char tmp[PATH_MAX];
	FILE *f;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	sigset_t sigs;
	int sig, port;
	rpc_server_options ro;

	if (argc > 1 && strcmp(argv[1], "backup") == 0)
		return backup_command(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "admin-key") == 0)
		return server_admin_key_command(argc - 1, argv + 1);
	if (parse_args(argc, argv, &billingd.cfg) != 0 || load_payment_keys(&billingd.cfg) != 0)
		return 2;
	log_set_calls(!billingd.cfg.quiet_calls);

	/* Signals go to sigwait() below, never to a worker thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (server_open(&billingd) != 0)
		return 1;
	if (health_register() != 0 || reflection_service_register() != 0)
		return 1;

	memset(&ro, 0, sizeof(ro));
	ro.listen = billingd.cfg.listen;
	ro.threads = billingd.cfg.threads;
	ro.max_receive_bytes = billingd.cfg.max_receive_bytes;
	ro.tls_cert_file = billingd.cfg.tls_cert;
	ro.tls_key_file = billingd.cfg.tls_key;
	ro.tls_client_ca_file = billingd.cfg.tls_client_ca;
	port = rpc_server_start(&ro);
	if (port < 0) {
		server_close(&billingd);
		return 1;
	}
	if (billingd.cfg.port_file && write_port_file(billingd.cfg.port_file, port) != 0) {
		log_error("cannot write port file %s: %s", billingd.cfg.port_file, strerror(errno));
		rpc_server_stop();
		server_close(&billingd);
		return 1;
	}
	log_info("payments: %s (%s%s%s)", billingd.cfg.payments,
		 strcmp(billingd.cfg.payments, "sandbox") == 0
			 ? "in-process sandbox, orders marked sandbox"
			 : "Stripe ",
		 strcmp(billingd.cfg.payments, "sandbox") == 0 ? ""
		 : billingd.cfg.stripe_key                     ? billingd.cfg.stripe_url
							       : "off",
		 strcmp(billingd.cfg.payments, "sandbox") == 0 ? ""
		 : billingd.cfg.paypal_secret                  ? ", PayPal on"
							       : ", PayPal off");
	log_info("billingd listening on %s (port %d, %s, %d threads), data in %s, payments %s%s",
		 billingd.cfg.listen, port,
		 billingd.cfg.tls_cert ? (billingd.cfg.tls_client_ca ? "mutual TLS" : "TLS")
				       : "plaintext",
		 billingd.cfg.threads, billingd.cfg.data_dir, billingd.cfg.payments,
		 billingd.cfg.test_clock ? ", test clock" : "");

	while (sigwait(&sigs, &sig) != 0)
		;
	log_info("signal %d: shutting down", sig);
	rpc_server_stop();
	reflection_service_shutdown();
	server_close(&billingd);
	log_info("billingd stopped");
	return 0;
}
