/*
 * test_single_instance.c - class: one data directory, one port, one
 * instance (issue 12, defect 7).
 *
 * A second billingd on the same --data-dir must exit 1 with "data directory
 * in use by pid N" (N the running one); a second billingd on another data
 * directory but the same port must fail to bind instead of sharing the
 * port through SO_REUSEPORT; --listen 127.0.0.1:0 binds exactly one port.
 *
 * usage: defects_single_instance <billingd>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "dtest.h"
#include "spt_proc.h"

static spt_billingd srv;

static int suite_init(void)
{
	return spt_billingd_start(&srv, NULL);
}

static int suite_clean(void)
{
	int rc = spt_billingd_stop(&srv);
	spt_billingd_free(&srv);
	return rc == 0 ? 0 : -1;
}

static void test_second_instance_same_data_dir(void)
{
	char out[4096], want[64], port_file[PATH_MAX + 16];
	const char *args[] = {"--listen",    "127.0.0.1:0", "--data-dir", srv.data_dir,
			      "--port-file", port_file,     NULL};
	int code;

	snprintf(port_file, sizeof(port_file), "%s/second.port", srv.dir);
	code = dt_run_capture(spt_arg("billingd"), args, 5000, out, sizeof(out));
	CU_ASSERT_EQUAL(code, 1);
	snprintf(want, sizeof(want), "data directory in use by pid %d", (int)srv.pid);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	if (code != 1 || !strstr(out, want))
		printf("\n    second instance: exit %d, output: %.300s\n", code, out);
	/* The first instance is untouched. */
	CU_ASSERT_TRUE(spt_billingd_alive(&srv));
}

static void test_second_instance_same_port(void)
{
	char out[4096], listen[64], dir[PATH_MAX + 16];
	const char *args[] = {"--listen", listen, "--data-dir", dir, NULL};
	int code;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", srv.port);
	snprintf(dir, sizeof(dir), "%s/other-data", srv.dir);
	code = dt_run_capture(spt_arg("billingd"), args, 5000, out, sizeof(out));
	CU_ASSERT_EQUAL(code, 1);
	if (code != 1)
		printf("\n    a second billingd on port %d: exit %d (-1: it kept running), "
		       "output: %.300s\n",
		       srv.port, code, out);
	CU_ASSERT_TRUE(spt_billingd_alive(&srv));
}

static void test_port_zero_binds_one_port(void)
{
	int n = spt_listen_sockets(srv.pid);
	CU_ASSERT_EQUAL(n, 1);
	if (n != 1)
		printf("\n    billingd --listen 127.0.0.1:0 holds %d listening sockets\n", n);
}

static CU_TestInfo tests[] = {
	{"a second instance on the data directory exits 1 naming the pid",
	 test_second_instance_same_data_dir},
	{"a second instance on the port cannot bind it", test_second_instance_same_port},
	{"port 0 binds exactly one port", test_port_zero_binds_one_port},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"single instance", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
