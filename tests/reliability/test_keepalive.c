/*
 * Keepalive enforcement: billingd accepts a client ping at most every 10 s
 * while no call is active (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS)
 * and sends a client that pings faster away (GOAWAY too_many_pings), so idle
 * connections cannot keep the server busy. A client with default settings
 * on the same server stays connected.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "rel.h"

static int fails;

#define CHECK(cond, what)                           \
	do {                                        \
		if (cond) {                         \
			printf("ok: %s\n", what);   \
		} else {                            \
			printf("FAIL: %s\n", what); \
			fails++;                    \
		}                                   \
	} while (0)

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
	rel_result r;
	int left = 0;
	rel_call_raw(ch, "/grpc.health.v1.Health/Check", NULL, NULL, 0, (const uint8_t *)"", 0,
		     5000, &r);
	rel_result_free(&r);
	if (r.status != GRPC_STATUS_OK)
		return -1;
	for (int i = 0; i < secs * 20 && !left; i++) {
		usleep(50000);
		left = grpc_channel_check_connectivity_state(ch, 0) != GRPC_CHANNEL_READY;
	}
	return left;
}

int main(int argc, char **argv)
{
	rel_server s;
	char dir[512];
	grpc_channel *greedy, *polite;
	int rc;

	if (argc < 2 || rel_tmpdir(dir, sizeof(dir)) != 0)
		return 1;
	grpc_init();
	if (rel_start(&s, argv[1], dir, NULL) != 0)
		return 1;
	greedy = channel(s.target, 1);
	rc = leaves_ready(greedy, 6);
	CHECK(rc == 1, "a client pinging every 100 ms without calls is sent away (too_many_pings)");
	polite = channel(s.target, 0);
	rc = leaves_ready(polite, 3);
	CHECK(rc == 0, "a client with default keepalive stays connected");
	grpc_channel_destroy(greedy);
	grpc_channel_destroy(polite);
	CHECK(rel_stop(&s) == 0, "billingd stops cleanly");
	rel_rmtree(dir);
	grpc_shutdown();
	printf("%d failed\n", fails);
	return fails ? 1 : 0;
}
