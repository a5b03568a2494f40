/*
 * test_env.c - opening, schema version, stale readers, read transactions.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_int.h"
#include "spt_run.h"
#include "spt_store.h"

static void test_open_creates_directory_and_schema(void)
{
	spt_store s;
	store_txn *r = NULL;
	uint32_t v = 0;
	char sub[SPT_PATH_MAX + 8];
	store_options o = STORE_OPTIONS_INIT;
	store_env *env = NULL;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_meta_schema_version(r, &v), 0);
	CU_ASSERT_EQUAL(v, STORE_SCHEMA_VERSION);
	store_read_end(r);
	/* a missing directory is created */
	snprintf(sub, sizeof(sub), "%s/sub", s.dir);
	o.path = sub;
	o.log = NULL;
	CU_ASSERT_EQUAL(store_open(&o, &env, NULL, 0), 0);
	CU_ASSERT_EQUAL(access(sub, F_OK), 0);
	store_close(env);
	spt_store_close(&s);
}

static int apply_newer_schema(store_txn *w, void *arg)
{
	return store_meta_set_schema(w, STORE_SCHEMA_VERSION + 1);
}

static void test_newer_schema_is_refused(void)
{
	spt_store s;
	char err[256] = "", want[256];

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_newer_schema, NULL), 0);
	store_close(s.env);
	s.env = NULL;
	CU_ASSERT_NOT_EQUAL(spt_store_reopen(&s, 0, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(s.env);
	snprintf(want, sizeof(want),
		 "store schema version %d is newer than this billingd "
		 "supports (%d)",
		 STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
	CU_ASSERT_STRING_EQUAL(err, want);
	spt_store_close(&s);
}

static void test_reopen_keeps_data(void)
{
	spt_store s;
	store_txn *r = NULL;
	store_account *a = NULL;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(spt_store_put_account(s.env, "vendor", NULL), 0);
	store_close(s.env);
	CU_ASSERT_EQUAL_FATAL(spt_store_reopen(&s, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_account_get(r, "vendor", &a), 0);
	store_record_free(a);
	store_read_end(r);
	spt_store_close(&s);
}

/* In a child: open the store, then hold a reader (and die holding it), or
 * keep the environment open until the pipe closes. */
static void child(const char *dir, int die_reading, int fd)
{
	store_options o = STORE_OPTIONS_INIT;
	store_env *env;
	store_txn *r;
	char c;

	o.path = dir;
	if (store_open(&o, &env, NULL, 0) != 0)
		_exit(1);
	if (die_reading)
		_exit(store_read_begin(env, &r) == 0 ? 0 : 1);
	if (write(fd, "x", 1) != 1)
		_exit(1);
	while (read(fd, &c, 1) > 0)
		;
	store_close(env);
	_exit(0);
}

static void test_stale_reader_is_cleared_at_open(void)
{
	spt_store s;
	pid_t holder, dier;
	int status = -1, fds[2];
	char err[256], c;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	store_close(s.env);
	s.env = NULL;
	/* LMDB resets the reader table when the first process opens it, so
	 * one child keeps it open while another dies holding a reader. */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	holder = fork();
	if (holder == 0) {
		close(fds[0]);
		child(s.dir, 0, fds[1]);
	}
	close(fds[1]);
	CU_ASSERT_EQUAL(read(fds[0], &c, 1), 1);
	dier = fork();
	if (dier == 0)
		child(s.dir, 1, -1);
	CU_ASSERT_FATAL(holder > 0 && dier > 0);
	waitpid(dier, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	s.log[0] = '\0';
	CU_ASSERT_EQUAL(spt_store_reopen(&s, 0, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.log, "cleared 1 stale reader"));
	close(fds[0]);
	waitpid(holder, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	spt_store_close(&s);
}

static void test_nested_reads_and_reader_limit(void)
{
	spt_store s;
	store_txn *r1 = NULL, *r2 = NULL, *r3 = NULL;
	int i;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 2), 0);
	/* the cached transaction is reused many times over */
	for (i = 0; i < 1000; i++) {
		CU_ASSERT_EQUAL(store_read_begin(s.env, &r1), 0);
		store_read_end(r1);
	}
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r1), 0);
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r2), 0);
	CU_ASSERT_PTR_NOT_EQUAL(r1, r2);
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r3), STORE_READERS_FULL);
	CU_ASSERT_PTR_NULL(r3);
	store_read_end(r2);
	store_read_end(r1);
	spt_store_close(&s);
}

static void test_read_txn_refuses_writes(void)
{
	spt_store s;
	store_txn *r = NULL;
	store_account a = STORE_ACCOUNT_INIT;
	uint64_t v;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	a.account_id = "x";
	CU_ASSERT_EQUAL(store_account_put(r, &a, 1), STORE_INVALID);
	CU_ASSERT_EQUAL(store_meta_next(r, "c", &v), STORE_INVALID);
	CU_ASSERT_EQUAL(store_item_delete(r, "x"), STORE_INVALID);
	store_read_end(r);
	spt_store_close(&s);
}

static void test_close_logs_writer_stats(void)
{
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(spt_store_put_account(s.env, "a", NULL), 0);
	store_close(s.env);
	s.env = NULL;
	CU_ASSERT_PTR_NOT_NULL(strstr(s.log, "writer: 1 mutations in 1 batches (mean 1.0, max 1)"));
	spt_store_close(&s);
}

static CU_TestInfo tests[] = {
	{"open creates directory and schema", test_open_creates_directory_and_schema},
	{"newer schema is refused", test_newer_schema_is_refused},
	{"reopen keeps data", test_reopen_keeps_data},
	{"stale reader is cleared at open", test_stale_reader_is_cleared_at_open},
	{"nested reads and reader limit", test_nested_reads_and_reader_limit},
	{"read txn refuses writes", test_read_txn_refuses_writes},
	{"close logs writer stats", test_close_logs_writer_stats},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"storage_env", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
