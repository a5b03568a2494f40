/*
 * test_backup: hot backups while writes go on, restored and served.
 *
 *   test_backup <billingd> [<ledger_check>]
 *
 * Writer threads create accounts as fast as billingd acknowledges them, and
 * assign each new account credits from the vendor (ledger transfers). In
 * the middle, AdminService.Backup and `billingd backup` each take a copy.
 * Each copy is restored into a fresh data directory (data.mdb + the
 * vendor's admin.key) and served by a new billingd, which must have every
 * account acknowledged before that backup started, and no more than were
 * acknowledged or in flight when it ended; and, given ledger_check, the
 * restored ledger passes the R15 check.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <grpc/grpc.h>

#include "smartplus/billing/v1/admin_service.pb-c.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "smartplus/billing/v1/directory_service.pb-c.h"
#include "spt_billingd.h"
#include "spt_enums.h"
#include "spt_fs.h"
#include "spt_proc.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_time.h"

#define WRITERS 4
#define MAX_ACKS 200000

static char tmp[SPT_PATH_MAX]; /* the restored copies */

static struct {
	pthread_mutex_t lock;
	char (*ids)[32]; /* acknowledged, in order of acknowledgement */
	size_t n;
	int stop;
	int errors;
} acks = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct writer {
	pthread_t thread;
	grpc_channel *ch;
	const char *key;
	int index;
} writer;

static void *writer_main(void *arg)
{
	writer *w = arg;
	for (int i = 0; !__atomic_load_n(&acks.stop, __ATOMIC_ACQUIRE); i++) {
		Smartplus__Billing__V1__CreateAccountRequest q =
			SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
		char id[32];
		spt_raw_result r;
		snprintf(id, sizeof(id), "w%d_%d", w->index, i);
		q.account_id = id;
		q.role = ROLE(DISTRIBUTOR);
		q.parent_id = "vendor";
		spt_raw_call_msg(w->ch, SPT_DIRECTORY "CreateAccount", w->key, &q.base, &r);
		spt_raw_free(&r);
		pthread_mutex_lock(&acks.lock);
		if (r.status == GRPC_STATUS_OK && acks.n < MAX_ACKS)
			snprintf(acks.ids[acks.n++], sizeof(acks.ids[0]), "%s", id);
		else if (r.status != GRPC_STATUS_OK && acks.errors++ < 5)
			fprintf(stderr, "\n  CreateAccount %s: %s %s\n", id,
				spt_status_name(r.status), r.message);
		pthread_mutex_unlock(&acks.lock);
		if (r.status == GRPC_STATUS_OK) {
			Smartplus__Billing__V1__AssignCreditsRequest a =
				SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
			a.account_id = "vendor";
			a.to_account_id = id;
			a.credits = 10 + i % 7;
			spt_raw_call_msg(w->ch, SPT_BILLING "AssignCredits", w->key, &a.base, &r);
			spt_raw_free(&r);
			pthread_mutex_lock(&acks.lock);
			if (r.status != GRPC_STATUS_OK && acks.errors++ < 5)
				fprintf(stderr, "\n  AssignCredits %s: %s %s\n", id,
					spt_status_name(r.status), r.message);
			pthread_mutex_unlock(&acks.lock);
		}
	}
	return NULL;
}

static size_t acked(void)
{
	size_t n;
	pthread_mutex_lock(&acks.lock);
	n = acks.n;
	pthread_mutex_unlock(&acks.lock);
	return n;
}

/* Runs `billingd backup --data-dir dir --out file`; its exit status. */
static int run_backup_command(const char *dir, const char *file)
{
	const char *argv[] = {
		spt_arg("billingd"), "backup", "--data-dir", dir, "--out", file, NULL};
	return spt_run_cmd(argv, 60000, NULL, 0);
}

/* Children of vendor in the restored store. */
static long count_accounts(grpc_channel *ch, const char *key)
{
	Smartplus__Billing__V1__ListAccountsRequest q =
		SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_REQUEST__INIT;
	int st;
	long n;
	q.parent_id = "vendor";
	q.page_size = 1000;
	n = spt_raw_list_count(ch, key, SPT_DIRECTORY "ListAccounts", &q.base,
			       &smartplus__billing__v1__list_accounts_response__descriptor,
			       "accounts", &st);
	if (n < 0)
		fprintf(stderr, "\n  ListAccounts: %s\n", spt_status_name(st));
	return n;
}

/*
 * Restores the copy `file` into <tmp>/<name> with the vendor key of `from`,
 * serves it and checks the accounts: ids[0..before) all there, at most
 * `after` accounts in all.
 */
static void check_restore(const char *file, const char *name, const spt_billingd *from,
			  size_t before, size_t after)
{
	spt_billingd_options o = SPT_BILLINGD_OPTIONS_INIT;
	char dir[SPT_PATH_MAX + 32], path[SPT_PATH_MAX + 64], key[SPT_PATH_MAX + 16];
	const char *ledger_check = spt_arg("ledger_check");
	size_t missing = 0;
	grpc_channel *ch;
	spt_billingd s;
	long n;

	snprintf(dir, sizeof(dir), "%s/%s", tmp, name);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	snprintf(key, sizeof(key), "%s/admin.key", from->data_dir);
	CU_ASSERT_EQUAL_FATAL(spt_copy_file(file, path), 0);
	snprintf(path, sizeof(path), "%s/admin.key", dir);
	CU_ASSERT_EQUAL_FATAL(spt_copy_file(key, path), 0);
	o.data_dir = dir;
	if (spt_billingd_start_opts(&s, &o) != 0) {
		CU_FAIL("billingd does not start on the restored copy");
		spt_billingd_free(&s);
		return;
	}
	ch = spt_raw_channel(s.target);
	for (size_t i = 0; i < before; i++) {
		Smartplus__Billing__V1__GetAccountRequest q =
			SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
		spt_raw_result r;
		q.account_id = acks.ids[i];
		spt_raw_call_msg(ch, SPT_DIRECTORY "GetAccount", s.admin_key, &q.base, &r);
		spt_raw_free(&r);
		if (r.status != GRPC_STATUS_OK && missing++ < 5)
			fprintf(stderr, "\n  %s: acknowledged account %s missing (%s)\n", name,
				acks.ids[i], spt_status_name(r.status));
	}
	n = count_accounts(ch, s.admin_key);
	printf("\n  %s: %zu acknowledged before the backup, %ld restored, %zu acknowledged by its "
	       "end\n",
	       name, before, n, after);
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT(n >= (long)before && n <= (long)(after + WRITERS));
	grpc_channel_destroy(ch);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);
	if (ledger_check) {
		char out[256];
		int rc = spt_billingd_check_data(&s, ledger_check, out, sizeof(out));
		SPT_CHECK(rc == 0, "%s: ledger_check exit %d: %s", name, rc, out);
	}
	spt_billingd_free(&s);
}

static void test_backups_under_writes_restore_every_acknowledged_account(void)
{
	Smartplus__Billing__V1__BackupRequest b = SMARTPLUS__BILLING__V1__BACKUP_REQUEST__INIT;
	Smartplus__Billing__V1__BackupResponse *resp = NULL;
	writer w[WRITERS];
	char cli_file[SPT_PATH_MAX + 16], rpc_file[SPT_PATH_MAX + 32];
	size_t rpc_before, rpc_after, cli_before, cli_after;
	grpc_channel *ch;
	spt_billingd s;
	spt_raw_result r;
	int cli_rc;

	if (spt_billingd_start(&s, NULL) != 0) {
		CU_FAIL("billingd did not start");
		spt_billingd_free(&s);
		return;
	}
	ch = spt_raw_channel(s.target);
	for (int i = 0; i < WRITERS; i++) {
		w[i].ch = ch;
		w[i].key = s.admin_key;
		w[i].index = i;
		pthread_create(&w[i].thread, NULL, writer_main, &w[i]);
	}
	spt_sleep_ms(400);

	rpc_before = acked();
	b.name = "b1";
	spt_raw_call_msg(ch, SPT_ADMIN "Backup", s.admin_key, &b.base, &r);
	rpc_after = acked();
	SPT_CHECK(r.status == GRPC_STATUS_OK, "Backup: %s %s", spt_status_name(r.status),
		  r.message);
	if (r.status == GRPC_STATUS_OK)
		resp = smartplus__billing__v1__backup_response__unpack(NULL, r.len, r.body);
	spt_raw_free(&r);
	CU_ASSERT_PTR_NOT_NULL(resp);
	if (resp)
		CU_ASSERT(resp->size_bytes > 0);
	smartplus__billing__v1__backup_response__free_unpacked(resp, NULL);
	spt_sleep_ms(200);

	cli_before = acked();
	snprintf(cli_file, sizeof(cli_file), "%s/cli.mdb", tmp);
	cli_rc = run_backup_command(s.data_dir, cli_file);
	cli_after = acked();
	CU_ASSERT_EQUAL(cli_rc, 0);
	spt_sleep_ms(200);

	__atomic_store_n(&acks.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i].thread, NULL);
	printf("\n  %zu accounts acknowledged in all, %d errors\n", acks.n, acks.errors);
	CU_ASSERT_EQUAL(acks.errors, 0);

	/* The name is taken now; bad names and other callers are refused. */
	spt_raw_call_msg(ch, SPT_ADMIN "Backup", s.admin_key, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_ALREADY_EXISTS);
	spt_raw_free(&r);
	b.name = "../escape";
	spt_raw_call_msg(ch, SPT_ADMIN "Backup", s.admin_key, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_INVALID_ARGUMENT);
	spt_raw_free(&r);
	b.name = "..";
	spt_raw_call_msg(ch, SPT_ADMIN "Backup", s.admin_key, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_INVALID_ARGUMENT);
	spt_raw_free(&r);
	b.name = "b2";
	spt_raw_call_msg(ch, SPT_ADMIN "Backup", NULL, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_UNAUTHENTICATED);
	spt_raw_free(&r);
	/* `billingd backup` never overwrites. */
	CU_ASSERT_NOT_EQUAL(run_backup_command(s.data_dir, cli_file), 0);
	grpc_channel_destroy(ch);
	CU_ASSERT_EQUAL(spt_billingd_stop(&s), 0);

	snprintf(rpc_file, sizeof(rpc_file), "%s/backups/b1/data.mdb", s.data_dir);
	check_restore(rpc_file, "restore-rpc", &s, rpc_before, rpc_after);
	check_restore(cli_file, "restore-cli", &s, cli_before, cli_after);
	spt_billingd_free(&s);
}

static int suite_init(void)
{
	acks.ids = calloc(MAX_ACKS, sizeof(*acks.ids));
	grpc_init();
	return acks.ids ? spt_tmpdir(tmp, sizeof(tmp), "backup") : -1;
}

static int suite_clean(void)
{
	if (spt_failures() == 0)
		spt_tmpdir_remove(tmp);
	else
		fprintf(stderr, "kept %s for inspection\n", tmp);
	grpc_shutdown();
	free(acks.ids);
	return 0;
}

static CU_TestInfo tests[] = {
	{"backups under writes restore every acknowledged account",
	 test_backups_under_writes_restore_every_acknowledged_account},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"backup", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD [LEDGER_CHECK]", suites);
}
