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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <grpc/grpc.h>

#include "rel.h"
#include "smartplus/billing/v1/admin_service.pb-c.h"
#include "smartplus/billing/v1/billing_service.pb-c.h"
#include "smartplus/billing/v1/directory_service.pb-c.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define WRITERS 4
#define MAX_ACKS 200000

static const char *billingd_path, *ledger_check_path;
static char tmp[512];

static struct {
	pthread_mutex_t lock;
	char (*ids)[32]; /* acknowledged, in order of acknowledgement */
	size_t n;
	int stop;
	int errors;
} acks = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct writer {
	pthread_t thread;
	rel_server *s;
	int index;
} writer;

static void *writer_main(void *arg)
{
	writer *w = arg;
	for (int i = 0; !__atomic_load_n(&acks.stop, __ATOMIC_ACQUIRE); i++) {
		Smartplus__Billing__V1__CreateAccountRequest q =
			SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
		char id[32];
		rel_result r;
		snprintf(id, sizeof(id), "w%d_%d", w->index, i);
		q.account_id = id;
		q.role = V1(ROLE__ROLE_DISTRIBUTOR);
		q.parent_id = "vendor";
		rel_call(w->s->ch, REL_DIR "CreateAccount", w->s->key, &q.base, &r);
		rel_result_free(&r);
		pthread_mutex_lock(&acks.lock);
		if (r.status == GRPC_STATUS_OK && acks.n < MAX_ACKS)
			snprintf(acks.ids[acks.n++], sizeof(acks.ids[0]), "%s", id);
		else if (r.status != GRPC_STATUS_OK && acks.errors++ < 5)
			fprintf(stderr, "\n  CreateAccount %s: %s %s\n", id,
				rel_status_name(r.status), r.message);
		pthread_mutex_unlock(&acks.lock);
		if (r.status == GRPC_STATUS_OK) {
			Smartplus__Billing__V1__AssignCreditsRequest a =
				SMARTPLUS__BILLING__V1__ASSIGN_CREDITS_REQUEST__INIT;
			a.account_id = "vendor";
			a.to_account_id = id;
			a.credits = 10 + i % 7;
			rel_call(w->s->ch, REL_BILLING "AssignCredits", w->s->key, &a.base, &r);
			rel_result_free(&r);
			pthread_mutex_lock(&acks.lock);
			if (r.status != GRPC_STATUS_OK && acks.errors++ < 5)
				fprintf(stderr, "\n  AssignCredits %s: %s %s\n", id,
					rel_status_name(r.status), r.message);
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

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
	char buf[65536];
	size_t n;
	int ok = in && out;
	while (ok && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		ok = fwrite(buf, 1, n, out) == n;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* Runs `billingd backup --data-dir dir --out file`; its exit status. */
static int run_backup_command(const char *dir, const char *file)
{
	int status;
	pid_t pid = fork();
	if (pid == 0) {
		execl(billingd_path, billingd_path, "backup", "--data-dir", dir, "--out", file,
		      (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Children of vendor in the restored store. */
static long count_accounts(rel_server *s)
{
	Smartplus__Billing__V1__ListAccountsRequest q =
		SMARTPLUS__BILLING__V1__LIST_ACCOUNTS_REQUEST__INIT;
	grpc_status_code st;
	long n;
	q.parent_id = "vendor";
	q.page_size = 1000;
	n = rel_list_count(s, REL_DIR "ListAccounts", &q.base,
			   &smartplus__billing__v1__list_accounts_response__descriptor, "accounts",
			   &st);
	if (n < 0)
		fprintf(stderr, "\n  ListAccounts: %s\n", rel_status_name(st));
	return n;
}

/*
 * Restores the copy `file` into <tmp>/<name> with the vendor key of `from`,
 * serves it and checks the accounts: ids[0..before) all there, at most
 * `after` accounts in all.
 */
static void check_restore(const char *file, const char *name, const rel_server *from, size_t before,
			  size_t after)
{
	char dir[600], path[700], key[700];
	size_t missing = 0;
	long n;
	rel_server s;

	snprintf(dir, sizeof(dir), "%s/%s", tmp, name);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	snprintf(key, sizeof(key), "%s/admin.key", from->data_dir);
	CU_ASSERT_EQUAL_FATAL(copy_file(file, path), 0);
	snprintf(path, sizeof(path), "%s/admin.key", dir);
	CU_ASSERT_EQUAL_FATAL(copy_file(key, path), 0);
	chmod(path, 0600);
	if (rel_start(&s, billingd_path, dir, NULL) != 0) {
		CU_FAIL("billingd does not start on the restored copy");
		return;
	}
	for (size_t i = 0; i < before; i++) {
		Smartplus__Billing__V1__GetAccountRequest q =
			SMARTPLUS__BILLING__V1__GET_ACCOUNT_REQUEST__INIT;
		rel_result r;
		q.account_id = acks.ids[i];
		rel_call(s.ch, REL_DIR "GetAccount", s.key, &q.base, &r);
		rel_result_free(&r);
		if (r.status != GRPC_STATUS_OK && missing++ < 5)
			fprintf(stderr, "\n  %s: acknowledged account %s missing (%s)\n", name,
				acks.ids[i], rel_status_name(r.status));
	}
	n = count_accounts(&s);
	printf("\n  %s: %zu acknowledged before the backup, %ld restored, %zu acknowledged by its "
	       "end\n",
	       name, before, n, after);
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT(n >= (long)before && n <= (long)(after + WRITERS));
	CU_ASSERT_EQUAL(rel_stop(&s), 0);
	if (ledger_check_path) {
		char cmd[1500];
		int rc;
		snprintf(cmd, sizeof(cmd), "'%s' '%s'", ledger_check_path, dir);
		rc = system(cmd);
		if (rc != 0)
			fprintf(stderr, "\n  %s: ledger_check failed (%d)\n", name, rc);
		CU_ASSERT_EQUAL(rc, 0);
	}
}

static void test_backups_under_writes_restore_every_acknowledged_account(void)
{
	Smartplus__Billing__V1__BackupRequest b = SMARTPLUS__BILLING__V1__BACKUP_REQUEST__INIT;
	Smartplus__Billing__V1__BackupResponse *resp = NULL;
	writer w[WRITERS];
	char dir[600], cli_file[700], rpc_file[700];
	size_t rpc_before, rpc_after, cli_before, cli_after;
	rel_server s;
	rel_result r;
	int cli_rc;

	snprintf(dir, sizeof(dir), "%s/live", tmp);
	if (rel_start(&s, billingd_path, dir, NULL) != 0) {
		CU_FAIL("billingd did not start");
		return;
	}
	for (int i = 0; i < WRITERS; i++) {
		w[i].s = &s;
		w[i].index = i;
		pthread_create(&w[i].thread, NULL, writer_main, &w[i]);
	}
	sleep_ms(400);

	rpc_before = acked();
	b.name = "b1";
	rel_call(s.ch, REL_ADMIN "Backup", s.key, &b.base, &r);
	rpc_after = acked();
	if (r.status != GRPC_STATUS_OK)
		fprintf(stderr, "\n  Backup: %s %s\n", rel_status_name(r.status), r.message);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_OK);
	if (r.status == GRPC_STATUS_OK)
		resp = smartplus__billing__v1__backup_response__unpack(NULL, r.len, r.body);
	rel_result_free(&r);
	CU_ASSERT_PTR_NOT_NULL(resp);
	if (resp)
		CU_ASSERT(resp->size_bytes > 0);
	smartplus__billing__v1__backup_response__free_unpacked(resp, NULL);
	sleep_ms(200);

	cli_before = acked();
	snprintf(cli_file, sizeof(cli_file), "%s/cli.mdb", tmp);
	cli_rc = run_backup_command(dir, cli_file);
	cli_after = acked();
	CU_ASSERT_EQUAL(cli_rc, 0);
	sleep_ms(200);

	__atomic_store_n(&acks.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i].thread, NULL);
	printf("\n  %zu accounts acknowledged in all, %d errors\n", acks.n, acks.errors);
	CU_ASSERT_EQUAL(acks.errors, 0);

	/* The name is taken now; bad names and other callers are refused. */
	rel_call(s.ch, REL_ADMIN "Backup", s.key, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_ALREADY_EXISTS);
	rel_result_free(&r);
	b.name = "../escape";
	rel_call(s.ch, REL_ADMIN "Backup", s.key, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_INVALID_ARGUMENT);
	rel_result_free(&r);
	b.name = "..";
	rel_call(s.ch, REL_ADMIN "Backup", s.key, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_INVALID_ARGUMENT);
	rel_result_free(&r);
	b.name = "b2";
	rel_call(s.ch, REL_ADMIN "Backup", NULL, &b.base, &r);
	CU_ASSERT_EQUAL(r.status, GRPC_STATUS_UNAUTHENTICATED);
	rel_result_free(&r);
	/* `billingd backup` never overwrites. */
	CU_ASSERT_NOT_EQUAL(run_backup_command(dir, cli_file), 0);
	CU_ASSERT_EQUAL(rel_stop(&s), 0);

	snprintf(rpc_file, sizeof(rpc_file), "%s/backups/b1/data.mdb", dir);
	check_restore(rpc_file, "restore-rpc", &s, rpc_before, rpc_after);
	check_restore(cli_file, "restore-cli", &s, cli_before, cli_after);
}

int main(int argc, char **argv)
{
	CU_pSuite suite;
	unsigned failures;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: test_backup <billingd> [<ledger_check>]\n");
		return 2;
	}
	billingd_path = argv[1];
	ledger_check_path = argc == 3 ? argv[2] : NULL;
	if (rel_tmpdir(tmp, sizeof(tmp)) != 0)
		return 1;
	acks.ids = calloc(MAX_ACKS, sizeof(*acks.ids));
	grpc_init();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("backup", NULL, NULL);
	CU_add_test(suite, "backups under writes restore every acknowledged account",
		    test_backups_under_writes_restore_every_acknowledged_account);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	grpc_shutdown();
	free(acks.ids);
	if (failures == 0)
		rel_rmtree(tmp);
	else
		fprintf(stderr, "kept %s for inspection\n", tmp);
	return failures ? 1 : 0;
}
