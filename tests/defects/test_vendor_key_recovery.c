/*
 * test_vendor_key_recovery.c - class: the vendor cannot lock itself out,
 * and an offline recovery exists (issue 22, defect 5).
 *
 * Revoking the vendor's last active key is FAILED_PRECONDITION; with
 * another active key it is allowed. `billingd admin-key --data-dir D`
 * writes a new vendor key to D/admin.key (mode 0600) while the server is
 * stopped, and refuses while a running billingd holds D.
 *
 * usage: defects_vendor_key_recovery <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <CUnit/CUnit.h>

#include "dtest.h"

static spt_billingd srv;

static int suite_init(void)
{
	return spt_billingd_start(&srv, NULL);
}

static int suite_clean(void)
{
	spt_billingd_stop(&srv);
	spt_billingd_free(&srv);
	return 0;
}

/* "spb_<16 hex>_<secret>" -> the key id. */
static void key_id_of(const char *token, char id[17])
{
	snprintf(id, 17, "%.16s", strlen(token) > 20 ? token + 4 : "");
}

static int revoke(spb_client *c, const char *key, const char *key_id)
{
	Smartplus__Billing__V1__RevokeApiKeyRequest r =
		SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__RevokeApiKeyResponse *out = NULL;
	spb_call_options o = spt_as(key, NULL);
	int rc;
	r.key_id = (char *)key_id;
	rc = spb_directory_revoke_api_key(c, &r, &out, &o);
	spb_message_free(out);
	return dt_status(rc);
}

static int catalog_with(const char *key)
{
	spb_client *c = spt_client(&srv, key);
	Smartplus__Billing__V1__GetCatalogRequest r =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	Smartplus__Billing__V1__GetCatalogResponse *out = NULL;
	int rc = c ? dt_status(spb_billing_get_catalog(c, &r, &out, NULL)) : -1;
	spb_message_free(out);
	spb_client_free(c);
	return rc;
}

static void test_last_vendor_key_cannot_be_revoked(void)
{
	spb_client *v = spt_client(&srv, NULL);
	char admin_id[17], second[SPT_KEY_MAX], second_id[17];
	int st;

	key_id_of(srv.admin_key, admin_id);
	st = revoke(v, srv.admin_key, admin_id);
	CU_ASSERT_EQUAL(st, DT_FAILED_PRECONDITION);
	if (st != DT_FAILED_PRECONDITION)
		printf("\n    revoking the vendor's only key: status %d (%s)\n", st,
		       spb_error_last()->message);
	CU_ASSERT_EQUAL(catalog_with(srv.admin_key), DT_OK);

	/* With a second key, the first may go; the second is then the last. */
	CU_ASSERT_EQUAL_FATAL(spt_create_key(v, NULL, "vendor", SCOPE(ACCOUNT), second, second_id),
			      0);
	if (catalog_with(srv.admin_key) == DT_OK)
		CU_ASSERT_EQUAL(revoke(v, srv.admin_key, admin_id), DT_OK);
	CU_ASSERT_EQUAL(catalog_with(second), DT_OK);
	CU_ASSERT_EQUAL(revoke(v, second, second_id), DT_FAILED_PRECONDITION);
	CU_ASSERT_EQUAL(catalog_with(second), DT_OK);
	spb_client_free(v);
}

static void test_offline_admin_key(void)
{
	char out[4096], path[PATH_MAX + 16], old_key[SPT_KEY_MAX];
	const char *args[] = {"admin-key", "--data-dir", srv.data_dir, NULL};
	struct stat st;
	int code;

	snprintf(old_key, sizeof(old_key), "%s", srv.admin_key);
	/* Refused while the server runs on the directory. */
	code = dt_run_capture(spt_arg("billingd"), args, 5000, out, sizeof(out));
	CU_ASSERT_EQUAL(code, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "in use by pid"));
	if (code != 1)
		printf("\n    admin-key while running: exit %d: %.300s\n", code, out);

	CU_ASSERT_EQUAL_FATAL(spt_billingd_stop(&srv), 0);
	code = dt_run_capture(spt_arg("billingd"), args, 10000, out, sizeof(out));
	CU_ASSERT_EQUAL(code, 0);
	if (code != 0)
		printf("\n    admin-key on a stopped store: exit %d: %.300s\n", code, out);
	snprintf(path, sizeof(path), "%s/admin.key", srv.data_dir);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);

	/* itest_restart reads admin.key again. */
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&srv), 0);
	CU_ASSERT_STRING_NOT_EQUAL(srv.admin_key, old_key);
	CU_ASSERT_EQUAL(catalog_with(srv.admin_key), DT_OK);
}

static CU_TestInfo tests[] = {
	{"the vendor's last active key cannot be revoked", test_last_vendor_key_cannot_be_revoked},
	{"billingd admin-key: offline, refused while running, mode 0600", test_offline_admin_key},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"vendor key recovery", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
