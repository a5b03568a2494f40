/*
 * billingd: the SmartPlus Billing server.
 *
 *   billingd [--config FILE] [options]     (billingd --help lists them)
 *   billingd backup --data-dir DIR --out FILE
 *   billingd restore --from FILE --data-dir DIR   (with billingd stopped)
 *   billingd admin-key --data-dir DIR      (with billingd stopped)
 *   billingd --version
 *
 * Settings come from flags, BILLINGD_* variables and the config file
 * (config.h). Defaults: 127.0.0.1:50051, ./data, sandbox payments.
 * Plaintext is allowed on loopback addresses only. SIGINT/SIGTERM stop it
 * cleanly.
 */
#include <errno.h>
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
#include "config.h"
#include "health.h"
#include "log.h"
#include "observe.h"
#include "order_payment.h"
#include "payments/http.h"
#include "rpc.h"
#include "server.h"
#include "stream.h"
#include "webhooks.h"
#include "xalloc.h"

billingd_state billingd;

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
	int sig, port, hport, rc, wport = 0;
	rpc_server_options ro;
	char summary[4096];

	if (argc > 1 && strcmp(argv[1], "backup") == 0)
		return backup_command(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "restore") == 0)
		return restore_command(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "admin-key") == 0)
		return server_admin_key_command(argc - 1, argv + 1);
	rc = config_load(argc, argv, &billingd.cfg);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	log_configure(billingd.cfg.log_format, billingd.cfg.log_level);
	log_capture_grpc();
	log_set_calls(!billingd.cfg.quiet_calls);
	config_summary(&billingd.cfg, summary, sizeof(summary));
	log_info("%s starting: %s", config_version_string(), summary);

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
	ro.shutdown_grace_ms = billingd.cfg.shutdown_grace_s * 1000;
	port = rpc_server_start(&ro);
	if (port < 0) {
		server_close(&billingd);
		return 1;
	}
	if (billingd.cfg.health_listen) {
		hport = health_listen_start(billingd.cfg.health_listen);
		if (hport < 0) {
			rpc_server_stop();
			server_close(&billingd);
			return 1;
		}
		log_info("health-only port on %s (port %d, plaintext, grpc.health.v1 only)",
			 billingd.cfg.health_listen, hport);
	}
	if (billingd.cfg.port_file && write_port_file(billingd.cfg.port_file, port) != 0) {
		log_error("cannot write port file %s: %s", billingd.cfg.port_file, strerror(errno));
		health_listen_stop();
		rpc_server_stop();
		server_close(&billingd);
		return 1;
	}
	if (webhooks_start(pay_engine_webhook, &wport) != 0 ||
	    observe_listen_start(billingd.cfg.metrics_listen) < 0) {
		webhooks_stop();
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
	/* NOT_SERVING first, so probes and balancers stop sending; then calls in
	 * flight get the grace period (above the provider timeout, so a payment
	 * call can finish and be recorded) before they are cancelled. */
	log_info("signal %d: NOT_SERVING, draining (calls in flight get up to %ld s)", sig,
		 billingd.cfg.shutdown_grace_s);
	health_drain();
	webhooks_stop();
	rpc_server_stop();
	observe_listen_stop();
	health_listen_stop();
	reflection_service_shutdown();
	server_close(&billingd);
	log_info("billingd stopped");
	return 0;
}
