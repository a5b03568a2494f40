/*
 * test_support.c - the test support library itself: temporary directories
 * and files, child processes (environment, port files, time-outs), bounded
 * polls, and billingd's start, restart on the same data and stop.
 *
 * usage: test_support BILLINGD
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spt_billingd.h"
#include "spt_fs.h"
#include "spt_proc.h"
#include "spt_run.h"
#include "spt_sdk.h"
#include "spt_time.h"

static void test_tmpdir_is_made_and_removed(void)
{
	char dir[SPT_PATH_MAX], file[SPT_PATH_MAX + 8];
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(spt_tmpdir(dir, sizeof(dir), "selftest"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(dir, "/spb-selftest."));
	CU_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	spt_path(file, sizeof(file), dir, "f");
	CU_ASSERT_EQUAL(spt_write_file(file, "x", 1, 0600), 0);
	CU_ASSERT_EQUAL(spt_tmpdir_remove(dir), 0);
	CU_ASSERT_NOT_EQUAL(stat(dir, &st), 0);
}

static void test_files_round_trip(void)
{
	char dir[SPT_PATH_MAX], a[SPT_PATH_MAX + 8], b[SPT_PATH_MAX + 8], line[16];
	size_t len = 0;
	char *text;

	CU_ASSERT_EQUAL_FATAL(spt_tmpdir(dir, sizeof(dir), "selftest"), 0);
	spt_path(a, sizeof(a), dir, "a");
	spt_path(b, sizeof(b), dir, "b");
	CU_ASSERT_EQUAL(spt_write_file(a, "4242\nrest\n", 10, 0600), 0);
	CU_ASSERT_EQUAL(spt_copy_file(a, b), 0);
	text = spt_read_file(b, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(len, 10);
	CU_ASSERT_STRING_EQUAL(text, "4242\nrest\n");
	free(text);
	CU_ASSERT_EQUAL(spt_read_line(b, line, sizeof(line)), 0);
	CU_ASSERT_STRING_EQUAL(line, "4242");
	spt_path(b, sizeof(b), dir, "missing");
	CU_ASSERT_EQUAL(spt_read_line(b, line, sizeof(line)), -1);
	CU_ASSERT_PTR_NULL(spt_read_file(b, NULL));
	spt_tmpdir_remove(dir);
}

static void test_run_cmd_gives_exit_status_output_and_time_out(void)
{
	const char *ok[] = {"/bin/sh", "-c", "echo hello; echo more; exit 3", NULL};
	const char *slow[] = {"/bin/sleep", "5", NULL};
	const char *missing[] = {"/nonexistent/tool", NULL};
	char out[64];

	CU_ASSERT_EQUAL(spt_run_cmd(ok, 5000, out, sizeof(out)), 3);
	CU_ASSERT_STRING_EQUAL(out, "hello");
	CU_ASSERT_EQUAL(spt_run_cmd(slow, 100, NULL, 0), -1);
	CU_ASSERT_EQUAL(spt_run_cmd(missing, 5000, NULL, 0), 127);
}

static void test_spawn_sets_and_removes_environment(void)
{
	char dir[SPT_PATH_MAX], log[SPT_PATH_MAX + 8], line[64];
	const char *argv[] = {"/bin/sh", "-c", "echo \"${SPT_SELFTEST:-unset}/${HOME:-none}\"",
			      NULL};
	const char *env[] = {"SPT_SELFTEST=set", "HOME=", NULL};
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(spt_tmpdir(dir, sizeof(dir), "selftest"), 0);
	spt_path(log, sizeof(log), dir, "log");
	pid = spt_spawn(argv, env, log);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(spt_wait_exit(&pid, 5000), 0);
	CU_ASSERT_EQUAL(pid, 0);
	CU_ASSERT_EQUAL(spt_read_line(log, line, sizeof(line)), 0);
	CU_ASSERT_STRING_EQUAL(line, "set/none");
	spt_tmpdir_remove(dir);
}

static void test_port_file_is_waited_for_and_a_dead_child_noticed(void)
{
	char dir[SPT_PATH_MAX], pf[SPT_PATH_MAX + 8], script[SPT_PATH_MAX * 2];
	const char *writes[] = {"/bin/sh", "-c", script, NULL};
	const char *dies[] = {"/bin/sh", "-c", "exit 1", NULL};
	int how = 0;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(spt_tmpdir(dir, sizeof(dir), "selftest"), 0);
	spt_path(pf, sizeof(pf), dir, "port");
	snprintf(script, sizeof(script), "sleep 0.2; echo 4321 > '%s'; sleep 5", pf);
	pid = spt_spawn(writes, NULL, NULL);
	CU_ASSERT_EQUAL(spt_wait_port_file(pf, pid, 5000), 4321);
	CU_ASSERT_EQUAL(spt_exited(&pid, NULL), 0); /* still running */
	CU_ASSERT_EQUAL(spt_terminate(&pid, 5000), 128 + 15);
	remove(pf);
	pid = spt_spawn(dies, NULL, NULL);
	CU_ASSERT_EQUAL(spt_wait_port_file(pf, pid, 5000), -1);
	/* left for the caller to reap, with its status */
	CU_ASSERT_EQUAL(spt_exited(&pid, &how), 1);
	CU_ASSERT_EQUAL(how, -1);
	spt_tmpdir_remove(dir);
}

static void test_poll_stops_on_the_condition_or_the_time_out(void)
{
	int n = 0, ok;

	SPT_POLL(ok, ++n == 3, 5000, 1);
	CU_ASSERT_EQUAL(ok, 1);
	CU_ASSERT_EQUAL(n, 3);
	SPT_POLL(ok, 0, 50, 10);
	CU_ASSERT_EQUAL(ok, 0);
}

static void test_billingd_restarts_on_its_data_and_stops_cleanly(void)
{
	spt_billingd b;
	spb_client *c;
	char key[SPT_KEY_MAX], line[256];

	CU_ASSERT_EQUAL_FATAL(spt_billingd_start(&b, NULL), 0);
	CU_ASSERT(b.port > 0 && b.pid > 0 && b.admin_key[0]);
	CU_ASSERT_EQUAL(spt_billingd_alive(&b), 1);
	c = spt_client(&b, NULL);
	CU_ASSERT_EQUAL(spt_create_account(c, NULL, "st_d", ROLE(DISTRIBUTOR), "vendor"), 0);
	spb_client_free(c);
	snprintf(key, sizeof(key), "%s", b.admin_key);
	spt_billingd_kill(&b);
	CU_ASSERT_EQUAL(b.pid, 0);
	CU_ASSERT_EQUAL_FATAL(spt_billingd_restart(&b), 0);
	CU_ASSERT_STRING_EQUAL(b.admin_key, key); /* the same data directory */
	c = spt_client(&b, NULL);
	/* the account survived the kill: creating it again is ALREADY_EXISTS */
	CU_ASSERT_EQUAL(spt_create_account(c, NULL, "st_d", ROLE(DISTRIBUTOR), "vendor"),
			SPB_EEXISTS);
	spb_client_free(c);
	CU_ASSERT_EQUAL(spt_billingd_stop(&b), 0);
	CU_ASSERT_EQUAL(spt_billingd_stop(&b), -1); /* not running */
	CU_ASSERT_EQUAL(spt_billingd_log_last(&b, "writer: ", line, sizeof(line)), 0);
	CU_ASSERT(spt_billingd_log_sum(&b, "writer: ") >= 0);
	spt_billingd_free(&b);
	CU_ASSERT_EQUAL(b.dir[0], 0);
}

static CU_TestInfo tests[] = {
	{"temporary directories are made and removed", test_tmpdir_is_made_and_removed},
	{"files written, copied and read back", test_files_round_trip},
	{"a command gives its exit status and first line, or -1 past its time-out",
	 test_run_cmd_gives_exit_status_output_and_time_out},
	{"a child gets the environment it is given, without what is removed",
	 test_spawn_sets_and_removes_environment},
	{"a port file is waited for; a child that dies without writing one gives -1",
	 test_port_file_is_waited_for_and_a_dead_child_noticed},
	{"a poll stops on its condition or at its time-out",
	 test_poll_stops_on_the_condition_or_the_time_out},
	{"billingd restarts on its data directory and stops cleanly",
	 test_billingd_restarts_on_its_data_and_stops_cleanly},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"test support", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
