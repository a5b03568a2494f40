/*
 * test_tls.c: transport security.
 *
 * Makes a CA, a server certificate for 127.0.0.1 (subjectAltName IP) and a
 * client certificate with the openssl command line in a temp dir; billingd
 * with --tls-cert/--tls-key answers GetCatalog over TLS through the SDK (and
 * a plaintext client gets nothing); with --tls-client-ca a client without a
 * certificate is refused and one with the client certificate succeeds; and
 * billingd refuses to start plaintext on a non-loopback address. The SDK's
 * name overrides: tls_server_name (the certificate is for billing.test as
 * well) and a per-call :authority, both checked against the certificate.
 *
 * usage: itest_tls <path to billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_billingd.h"
#include "spt_fs.h"
#include "spt_proc.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_sdk.h"

static char dir[256];
static char ca_crt[320], srv_crt[320], srv_key[320], cli_crt[320], cli_key[320];
static char *ca_pem, *cli_crt_pem, *cli_key_pem, *other_ca_pem;

/* Runs `script` with the temp dir as its working directory. */
static int sh(const char *script, const char *in)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "cd '%s' && %s", in, script);
	return system(cmd);
}

static int make_certs(void)
{
	if (spt_tmpdir(dir, sizeof(dir), "tls") != 0)
		return -1;
	snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", dir);
	snprintf(srv_crt, sizeof(srv_crt), "%s/server.crt", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/server.key", dir);
	snprintf(cli_crt, sizeof(cli_crt), "%s/client.crt", dir);
	snprintf(cli_key, sizeof(cli_key), "%s/client.key", dir);
	if (sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
	       "-subj /CN=spb-itest-ca -keyout ca.key -out ca.crt 2>/dev/null && "
	       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
	       "-subj /CN=spb-other-ca -keyout other.key -out other.crt 2>/dev/null && "
	       "printf "
	       "'subjectAltName=IP:127.0.0.1,DNS:billing.test\\nextendedKeyUsage=serverAuth\\n' > "
	       "server.ext "
	       "&& "
	       "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
	       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	       "-subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null && "
	       "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
	       "-extfile server.ext -out server.crt 2>/dev/null && "
	       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	       "-subj /CN=spb-itest-client -keyout client.key -out client.csr 2>/dev/null && "
	       "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
	       "-extfile client.ext -out client.crt 2>/dev/null",
	       dir) != 0)
		return -1;
	ca_pem = spt_read_file(ca_crt, NULL);
	cli_crt_pem = spt_read_file(cli_crt, NULL);
	cli_key_pem = spt_read_file(cli_key, NULL);
	{
		char other[320];
		snprintf(other, sizeof(other), "%s/other.crt", dir);
		other_ca_pem = spt_read_file(other, NULL);
	}
	return ca_pem && cli_crt_pem && cli_key_pem && other_ca_pem ? 0 : -1;
}

static int suite_init(void)
{
	return make_certs();
}

static int suite_clean(void)
{
	free(ca_pem);
	free(cli_crt_pem);
	free(cli_key_pem);
	free(other_ca_pem);
	spt_tmpdir_remove(dir);
	return 0;
}

/* GetCatalog through a client with the given TLS settings; gRPC status. */
static int catalog_over(const spt_billingd *s, const char *root, const char *cert, const char *key)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
	spb_client *c;
	int st;
	o.api_key = s->admin_key;
	o.default_deadline_ms = 3000;
	o.max_retries = 0;
	o.tls.root_certs_pem = root;
	o.tls.client_cert_pem = cert;
	o.tls.client_key_pem = key;
	c = spb_client_new(s->target, &o);
	if (!c)
		return -1;
	st = spb_billing_get_catalog(c, &req, &resp, NULL) == 0 ? 0 : spb_error_last()->grpc_code;
	if (st == 0) {
		CU_ASSERT_EQUAL(resp->n_project_types, 3);
	} else {
		printf("\n    (GetCatalog: %s: %s)", spb_status_name(st),
		       spb_error_last()->message);
	}
	spb_message_free(resp);
	spb_client_free(c);
	return st;
}

static void test_tls(void)
{
	spt_billingd s;
	const char *args[] = {"--tls-cert", srv_crt, "--tls-key", srv_key, NULL};
	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&s, args), 0);
	CU_ASSERT_EQUAL(catalog_over(&s, ca_pem, NULL, NULL), 0);
	/* a client that trusts another CA does not get through */
	CU_ASSERT_NOT_EQUAL(catalog_over(&s, other_ca_pem, NULL, NULL), 0);
	/* plaintext to a TLS port gets nothing */
	CU_ASSERT_NOT_EQUAL(catalog_over(&s, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	spt_billingd_free(&s);
}

static void test_mutual_tls(void)
{
	spt_billingd s;
	const char *args[] = {"--tls-cert",      srv_crt, "--tls-key", srv_key,
			      "--tls-client-ca", ca_crt,  NULL};
	int st;
	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&s, args), 0);
	/* no client certificate: refused at the handshake */
	st = catalog_over(&s, ca_pem, NULL, NULL);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT(st == 14 /* UNAVAILABLE */ || st == 16 || st == 7 || st == 4 /* DEADLINE */);
	/* with the client certificate: served */
	CU_ASSERT_EQUAL(catalog_over(&s, ca_pem, cli_crt_pem, cli_key_pem), 0);
	/* a certificate the CA did not sign (the server's own key pair is
	 * signed by the same CA but for serverAuth only) */
	{
		char *srv_crt_pem = spt_read_file(srv_crt, NULL),
		     *srv_key_pem = spt_read_file(srv_key, NULL);
		char other_key[320], other_crt[320];
		char *ocrt, *okey;
		snprintf(other_crt, sizeof(other_crt), "%s/other.crt", dir);
		snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
		ocrt = spt_read_file(other_crt, NULL);
		okey = spt_read_file(other_key, NULL);
		/* self-signed by another CA: refused */
		CU_ASSERT_NOT_EQUAL(catalog_over(&s, ca_pem, ocrt, okey), 0);
		free(srv_crt_pem);
		free(srv_key_pem);
		free(ocrt);
		free(okey);
	}
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	spt_billingd_free(&s);
}

/* GetCatalog with a TLS server name on the client and an authority on the
 * call (either may be NULL); gRPC status. */
static int catalog_named(const spt_billingd *s, const char *server_name, const char *authority)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	spb_call_options co = SPB_CALL_OPTIONS_INIT;
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
	spb_client *c;
	int st;
	o.api_key = s->admin_key;
	o.default_deadline_ms = 3000;
	o.max_retries = 0;
	o.tls.root_certs_pem = ca_pem;
	o.tls_server_name = server_name;
	co.authority = authority;
	c = spb_client_new(s->target, &o);
	if (!c)
		return -1;
	st = spb_billing_get_catalog(c, &req, &resp, &co) == 0 ? 0 : spb_error_last()->grpc_code;
	spb_message_free(resp);
	spb_client_free(c);
	return st;
}

static void test_tls_names(void)
{
	spt_billingd s;
	const char *args[] = {"--tls-cert", srv_crt, "--tls-key", srv_key, NULL};
	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&s, args), 0);
	/* the certificate names 127.0.0.1 and billing.test */
	CU_ASSERT_EQUAL(catalog_named(&s, "billing.test", NULL), 0);
	CU_ASSERT_NOT_EQUAL(catalog_named(&s, "other.test", NULL), 0);
	CU_ASSERT_EQUAL(catalog_named(&s, NULL, "billing.test"), 0);
	CU_ASSERT_EQUAL(catalog_named(&s, "billing.test", "billing.test:443"), 0);
	/* an authority the certificate does not name is refused before sending */
	CU_ASSERT_NOT_EQUAL(catalog_named(&s, NULL, "evil.test"), 0);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	spt_billingd_free(&s);
}

static void test_refuses_plaintext_off_loopback(void)
{
	char data[320];
	const char *bin = spt_arg("billingd");
	const char *args[] = {bin, "--listen", "0.0.0.0:0", "--data-dir", data, NULL};
	const char *args6[] = {bin, "--listen", "[::]:0", "--data-dir", data, NULL};
	const char *half[] = {bin,  "--listen",   "127.0.0.1:0", "--data-dir",
			      data, "--tls-cert", srv_crt,       NULL};
	snprintf(data, sizeof(data), "%s/never", dir);
	CU_ASSERT_NOT_EQUAL(spt_run_cmd(args, 10000, NULL, 0), 0);
	CU_ASSERT_NOT_EQUAL(spt_run_cmd(args6, 10000, NULL, 0), 0);
	/* --tls-cert without --tls-key */
	CU_ASSERT_NOT_EQUAL(spt_run_cmd(half, 10000, NULL, 0), 0);
}

static CU_TestInfo tests[] = {
	{"TLS: GetCatalog with the SDK", test_tls},
	{"mutual TLS: client certificate required", test_mutual_tls},
	{"TLS server name and per-call authority", test_tls_names},
	{"no plaintext off loopback", test_refuses_plaintext_off_loopback},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"tls", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
