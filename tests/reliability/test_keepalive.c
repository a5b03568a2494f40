/*
 * Keepalive enforcement: billingd accepts a client ping at most every 10 s
 * while no call is active (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS)
 * and sends a client that pings faster away (GOAWAY too_many_pings), so idle
 * connections cannot keep the server busy. A client with default settings
 * on the same server stays connected.
 */
#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "spt_billingd.h"
#include "spt_raw.h"
#include "spt_run.h"
#include "spt_time.h"

static spt_billingd srv;
static grpc_channel *greedy, *polite;

static grpc_channel *channel(const char *target, int aggressive)
{
	grpc_arg args[4];
	grpc_channel_args ca = {0, args};
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch;
	memset(args, 0, sizeof(args));
	if (aggressive) {
		args[0].type = GRPC_ARG_INTEGER;
		args[0].key = GRPC_ARG_KEEPALIVE_TIME_MS;
		args[0].value.integer = 100;
		args[1].type = GRPC_ARG_INTEGER;
		args[1].key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
		args[1].value.integer = 1000;
		args[2].type = GRPC_ARG_INTEGER;
		args[2].key = GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS;
		args[2].value.integer = 1;
		args[3].type = GRPC_ARG_INTEGER;
		args[3].key = GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA;
		args[3].value.integer = 0;
		ca.num_args = 4;
	}
	ch = grpc_channel_create(target, creds, &ca);
	grpc_channel_credentials_release(creds);
	return ch;
}

/* Calls health once (to connect), then watches the connection for `secs`:
 * 1 if it left READY at some point. */
static int leaves_ready(grpc_channel *ch, int secs)
{
	spt_raw_result r;
	int left = 0;
	spt_raw_call(ch, "/grpc.health.v1.Health/Check", NULL, NULL, 0, "", 0, 5000, &r);
	spt_raw_free(&r);
	if (r.status != GRPC_STATUS_OK)
		return -1;
	for (int i = 0; i < secs * 20 && !left; i++) {
		spt_sleep_ms(50);
		left = grpc_channel_check_connectivity_state(ch, 0) != GRPC_CHANNEL_READY;
	}
	return left;
}

static int suite_init(void)
{
	grpc_init();
	return spt_billingd_start(&srv, NULL);
}

static int suite_clean(void)
{
	if (greedy)
		grpc_channel_destroy(greedy);
	if (polite)
		grpc_channel_destroy(polite);
	spt_billingd_free(&srv);
	grpc_shutdown();
	return 0;
}

static void test_a_client_pinging_too_often_is_sent_away(void)
{
	greedy = channel(srv.target, 1);
	CU_ASSERT_EQUAL(leaves_ready(greedy, 6), 1);
}

static void test_a_client_with_default_keepalive_stays_connected(void)
{
	polite = channel(srv.target, 0);
	CU_ASSERT_EQUAL(leaves_ready(polite, 3), 0);
}

static void test_billingd_stops_cleanly(void)
{
	grpc_channel_destroy(greedy);
	grpc_channel_destroy(polite);
	greedy = polite = NULL;
	CU_ASSERT_EQUAL(spt_billingd_stop(&srv), 0);
}

static CU_TestInfo tests[] = {
	{"a client pinging every 100 ms without calls is sent away (too_many_pings)",
	 test_a_client_pinging_too_often_is_sent_away},
	{"a client with default keepalive stays connected",
	 test_a_client_with_default_keepalive_stays_connected},
	{"billingd stops cleanly", test_billingd_stops_cleanly},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"keepalive", suite_init, suite_clean, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "BILLINGD", suites);
}
