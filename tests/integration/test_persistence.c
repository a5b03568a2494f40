/*
 * test_persistence.c: durability of acknowledged writes.
 *
 *  (a) creates accounts, projects, items, keys (and revokes one), kill -9,
 *      restart on the same data dir: everything acknowledged is there, the
 *      keys still authenticate, the revoked one still does not;
 *  (b) 8 threads x 100 CreateAccount/CreateItems calls at once, kill -9,
 *      restart: every acknowledged one is there. A second concurrent round
 *      is stopped with SIGTERM (exit 0) and the writer's log line
 *      "writer: N mutations in M batches (mean X, max Y)" shows mean > 1
 *      (group commit); it is printed.
 *
 * usage: itest_persistence <path to billingd>
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_billingd.h"
#include "spt_fs.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_sdk.h"

#define THREADS 8
#define CALLS 100

static spt_billingd srv;
static spb_client *vendor;

static int suite_init(void)
{
	static const char *const args[] = {"--threads", "4", NULL};
	SPT_INIT(spt_billingd_start(&srv, args));
	vendor = spt_client(&srv, NULL);
	SPT_INIT(vendor ? 0 : -1);
	return 0;
}

static int suite_clean(void)
{
	spb_client_free(vendor);
	spt_billingd_free(&srv);
	return 0;
}

static int restart_after_kill9(void)
{
	char old_key[SPT_KEY_MAX];
	snprintf(old_key, sizeof(old_key), "%s", srv.admin_key);
	spb_client_free(vendor);
	vendor = NULL;
	spt_billingd_kill(&srv);
	if (spt_billingd_restart(&srv) != 0)
		return -1;
	/* the vendor's key survives; no new admin.key on a non-empty dir */
	CU_ASSERT_STRING_EQUAL(srv.admin_key, old_key);
	vendor = spt_client(&srv, NULL);
	return vendor ? 0 : -1;
}

static int get_account_status(spb_client *c, const char *id)
{
	Smartplus__Billing__V1__GetAccountRequest req =
		SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__GetAccountResponse *resp = NULL;
	int rc;
	req.account_id = (char *)id;
	rc = spb_directory_get_account(c, &req, &resp, NULL);
	spb_message_free(resp);
	return rc == 0 ? 0 : spb_error_last()->grpc_code;
}

/* Does item `id` exist? A CreateItems probe answering ALREADY_EXISTS. */
static int item_exists(spb_client *c, const char *project, const char *id)
{
	int rc = spt_create_item(c, NULL, project, id, STYPE(APP));
	if (rc == 0)
		return 0;
	return spb_error_last()->grpc_code == 6 ? 1 : -1;
}

static void test_kill9_restart(void)
{
	char key[SPT_KEY_MAX], revoked[SPT_KEY_MAX], revoked_id[17];
	Smartplus__Billing__V1__GetProjectRequest gp =
		SMARTPLUS__BILLING__V1__GET_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__GetProjectResponse *gpr = NULL;
	Smartplus__Billing__V1__RevokeApiKeyRequest rv =
		SMARTPLUS__BILLING__V1__REVOKE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__RevokeApiKeyResponse *rvr = NULL;
	spb_client *c;

	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "a_d", ROLE(DISTRIBUTOR), "vendor"),
			      0);
	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "a_i", ROLE(INSTALLER), "a_d"), 0);
	CU_ASSERT_EQUAL_FATAL(
		spt_create_account(vendor, NULL, "a_pm", ROLE(PROPERTY_MANAGER), "a_i"), 0);
	CU_ASSERT_EQUAL_FATAL(
		spt_create_project(vendor, NULL, "a_p", "a_i", PTYPE(COMMUNITY), "a_pm", 1), 0);
	CU_ASSERT_EQUAL_FATAL(spt_create_item(vendor, NULL, "a_p", "a_item1", STYPE(APP)), 0);
	CU_ASSERT_EQUAL_FATAL(spt_create_key(vendor, NULL, "a_i", SCOPE(ACCOUNT), key, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(
		spt_create_key(vendor, NULL, "a_i", SCOPE(ACCOUNT), revoked, revoked_id), 0);
	rv.key_id = revoked_id;
	CU_ASSERT_EQUAL_FATAL(spb_directory_revoke_api_key(vendor, &rv, &rvr, NULL), 0);
	spb_message_free(rvr);

	CU_ASSERT_EQUAL_FATAL(restart_after_kill9(), 0);

	CU_ASSERT_EQUAL(get_account_status(vendor, "a_d"), 0);
	CU_ASSERT_EQUAL(get_account_status(vendor, "a_i"), 0);
	CU_ASSERT_EQUAL(get_account_status(vendor, "a_pm"), 0);
	gp.project_id = (char *)"a_p";
	CU_ASSERT_EQUAL(spb_directory_get_project(vendor, &gp, &gpr, NULL), 0);
	if (gpr && gpr->project) {
		CU_ASSERT_STRING_EQUAL(gpr->project->installer_id, "a_i");
		CU_ASSERT_STRING_EQUAL(gpr->project->property_manager_id, "a_pm");
		CU_ASSERT(gpr->project->pms_integrated);
	}
	spb_message_free(gpr);
	CU_ASSERT_EQUAL(item_exists(vendor, "a_p", "a_item1"), 1);
	/* the INTEGRATION item too: the vendor may not delete it (ITEM_STATE) */
	{
		Smartplus__Billing__V1__DeleteItemRequest d =
			SMARTPLUS__BILLING__V1__DELETE_ITEM_REQUEST__INIT;
		Smartplus__Billing__V1__DeleteItemResponse *dr = NULL;
		d.item_id = (char *)"pms_a_p";
		CU_ASSERT_NOT_EQUAL(spb_directory_delete_item(vendor, &d, &dr, NULL), 0);
		CU_ASSERT_STRING_EQUAL(spb_error_last()->reason, "ITEM_STATE");
		spb_message_free(dr);
	}
	/* keys: the live one works, the revoked one stays revoked */
	c = spt_client(&srv, key);
	CU_ASSERT_EQUAL(get_account_status(c, "a_i"), 0);
	spb_client_free(c);
	c = spt_client(&srv, revoked);
	CU_ASSERT_EQUAL(get_account_status(c, "a_i"), 16);
	spb_client_free(c);
	/* and a missing thing is still missing */
	CU_ASSERT_EQUAL(item_exists(vendor, "a_p", "a_never"), 0);
}

/* ---- concurrent load ---- */

typedef struct worker {
	int index, round;
	spb_client *client;
	int acked_accounts[CALLS], acked_items[CALLS];
	int n_acked, n_failed;
	char first_error[256];
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	for (int i = 0; i < CALLS; i++) {
		char id[64];
		int rc;
		w->acked_accounts[i] = w->acked_items[i] = 0;
		if (i % 2 == 0) {
			snprintf(id, sizeof(id), "r%d_t%d_a%d", w->round, w->index, i);
			rc = spt_create_account(w->client, NULL, id, ROLE(INSTALLER), "l_d");
			if (rc == 0)
				w->acked_accounts[i] = 1;
		} else {
			snprintf(id, sizeof(id), "r%d_t%d_i%d", w->round, w->index, i);
			rc = spt_create_item(w->client, NULL, "l_p", id, STYPE(APP));
			if (rc == 0)
				w->acked_items[i] = 1;
		}
		if (rc == 0) {
			w->n_acked++;
		} else {
			if (!w->n_failed)
				snprintf(w->first_error, sizeof(w->first_error), "%s",
					 spb_error_last()->message);
			w->n_failed++;
		}
	}
	return NULL;
}

/* Runs THREADS x CALLS concurrent creates; returns the number acked. */
static int run_load(worker *ws, int round)
{
	pthread_t th[THREADS];
	int acked = 0;
	for (int t = 0; t < THREADS; t++) {
		ws[t].index = t;
		ws[t].round = round;
		ws[t].n_acked = ws[t].n_failed = 0;
		ws[t].client = spt_client(&srv, NULL);
		pthread_create(&th[t], NULL, work, &ws[t]);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		spb_client_free(ws[t].client);
		acked += ws[t].n_acked;
		CU_ASSERT_EQUAL(ws[t].n_failed, 0);
		if (ws[t].n_failed)
			printf("\n    thread %d: %d failed, first: %s", t, ws[t].n_failed,
			       ws[t].first_error);
	}
	return acked;
}

/* Every acknowledged create of the round is visible; returns how many. */
static int verify_round(worker *ws)
{
	int seen = 0;
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < CALLS; i++) {
			char id[64];
			if (ws[t].acked_accounts[i]) {
				snprintf(id, sizeof(id), "r%d_t%d_a%d", ws[t].round, t, i);
				CU_ASSERT_EQUAL(get_account_status(vendor, id), 0);
				seen += get_account_status(vendor, id) == 0;
			}
			if (ws[t].acked_items[i]) {
				snprintf(id, sizeof(id), "r%d_t%d_i%d", ws[t].round, t, i);
				CU_ASSERT_EQUAL(item_exists(vendor, "l_p", id), 1);
				seen++;
			}
		}
	}
	return seen;
}

static worker round1[THREADS], round2[THREADS];

static void test_concurrent_kill9(void)
{
	int acked, seen;
	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "l_d", ROLE(DISTRIBUTOR), "vendor"),
			      0);
	CU_ASSERT_EQUAL_FATAL(spt_create_account(vendor, NULL, "l_i", ROLE(INSTALLER), "l_d"), 0);
	CU_ASSERT_EQUAL_FATAL(
		spt_create_project(vendor, NULL, "l_p", "l_i", PTYPE(COMMUNITY), NULL, 0), 0);
	acked = run_load(round1, 1);
	CU_ASSERT_EQUAL(acked, THREADS * CALLS);
	CU_ASSERT_EQUAL_FATAL(restart_after_kill9(), 0);
	seen = verify_round(round1);
	CU_ASSERT_EQUAL(seen, acked);
	printf("\n    round 1: %d acknowledged, %d visible after kill -9 + restart\n", acked, seen);
}

static void test_group_commit_stats(void)
{
	char line[512] = "";
	unsigned long long mutations = 0, batches = 0, max = 0;
	double mean = 0;
	const char *p;
	int acked, seen;

	/* a fresh process, so the writer's counters cover only this round */
	spb_client_free(vendor);
	vendor = NULL;
	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&srv), 0);
	acked = run_load(round2, 2);
	CU_ASSERT_EQUAL(acked, THREADS * CALLS);
	spb_client_free(vendor);
	vendor = NULL;
	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0); /* SIGTERM: clean exit */
	CU_ASSERT_EQUAL_FATAL(spt_billingd_log_last(&srv, "writer: ", line, sizeof(line)), 0);
	p = strstr(line, "writer: ");
	CU_ASSERT_EQUAL_FATAL(sscanf(p,
				     "writer: %llu mutations in %llu batches (mean %lf, max %llu)",
				     &mutations, &batches, &mean, &max),
			      4);
	printf("\n    %s\n", p);
	CU_ASSERT(mutations >= (unsigned long long)acked);
	CU_ASSERT(batches > 0 && batches < mutations);
	CU_ASSERT(mean > 1.0);
	CU_ASSERT(max > 1);
	/* and round 2 is there after a clean restart as well */
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&srv), 0);
	vendor = spt_client(&srv, NULL);
	seen = verify_round(round2);
	CU_ASSERT_EQUAL(seen, acked);
	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0);
}

static CU_TestInfo tests[] = {
	{"acknowledged writes survive kill -9", test_kill9_restart},
	{"8 threads x 100 creates survive kill -9", test_concurrent_kill9},
	{"group commit: writer stats after SIGTERM", test_group_commit_stats},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"persistence", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
