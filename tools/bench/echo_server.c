/*
 * echo_server: the transport limit. A bare grpc C core unary server that
 * answers every call of its one registered method with the request's payload,
 * the same way billingd's runtime does (registered method, payload read with
 * the call, one batch for metadata + message + status + close), and nothing
 * else: no authentication, no decoding, no storage.
 *
 *   echo_server [--listen HOST:PORT] [--port-file F] [--threads N]
 *               [--method /bench.v1.EchoService/Echo]
 *
 * Runs until SIGINT/SIGTERM. Loopback addresses only (plaintext).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#define SLOTS_PER_THREAD 16

typedef struct worker {
	pthread_t thread;
	grpc_completion_queue *cq;
} worker;

typedef struct echo_call {
	int stage; /* 0: waiting for a call, 1: reply sent */
	worker *w;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
	grpc_slice status_msg;
	int cancelled;
} echo_call;

static grpc_server *server;
static void *method_handle;
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void request_slot(worker *w)
{
	echo_call *c = calloc(1, sizeof(*c));
	grpc_call_error err;

	if (!c)
		abort();
	c->w = w;
	grpc_metadata_array_init(&c->md);
	err = grpc_server_request_registered_call(server, method_handle, &c->call, &c->deadline,
						  &c->md, &c->payload, w->cq, w->cq, c);
	if (err != GRPC_CALL_OK) {
		fprintf(stderr, "echo_server: request_registered_call: %d\n", err);
		grpc_metadata_array_destroy(&c->md);
		free(c);
	}
}

static void free_call(echo_call *c)
{
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	grpc_metadata_array_destroy(&c->md);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
}

static void on_event(echo_call *c, int ok)
{
	grpc_op ops[4];
	size_t n = 0;

	if (c->stage == 1 || !ok) {
		free_call(c);
		return;
	}
	request_slot(c->w);
	c->stage = 1;
	c->status_msg = grpc_empty_slice();
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (c->payload) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->payload;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
	ops[n++].data.send_status_from_server.status_details = &c->status_msg;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK)
		free_call(c);
}

static void *worker_main(void *arg)
{
	worker *w = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE && ev.tag)
			on_event(ev.tag, ev.success);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_server [--listen HOST:PORT] [--port-file F] [--threads N] "
			"[--method PATH]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, 0, 'l'},
		{"port-file", required_argument, 0, 'p'},
		{"threads", required_argument, 0, 't'},
		{"method", required_argument, 0, 'm'},
		{0, 0, 0, 0},
	};
	const char *listen_addr = "127.0.0.1:0", *port_file = NULL,
		   *method = "/bench.v1.EchoService/Echo";
	int nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN), port, o;
	grpc_server_credentials *creds;
	grpc_arg arg;
	grpc_channel_args cargs;
	worker *workers;
	grpc_completion_queue *shutdown_cq;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_addr = optarg; break;
		case 'p': port_file = optarg; break;
		case 't': nthreads = (int)strtol(optarg, NULL, 10); break;
		case 'm': method = optarg; break;
		default: usage(); return 2;
		}
	}
	if (nthreads < 1 || nthreads > 64 || strncmp(listen_addr, "127.", 4) != 0) {
		usage();
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	grpc_init();
	/* Same stream limit as billingd. */
	memset(&arg, 0, sizeof(arg));
	arg.type = GRPC_ARG_INTEGER;
	arg.key = GRPC_ARG_MAX_CONCURRENT_STREAMS;
	arg.value.integer = 256;
	cargs.num_args = 1;
	cargs.args = &arg;
	server = grpc_server_create(&cargs, NULL);
	workers = calloc((size_t)nthreads, sizeof(*workers));
	for (int i = 0; i < nthreads; i++) {
		workers[i].cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(server, workers[i].cq, NULL);
	}
	method_handle = grpc_server_register_method(server, method, NULL,
						    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(server, listen_addr, creds);
	grpc_server_credentials_release(creds);
	if (port <= 0) {
		fprintf(stderr, "echo_server: cannot listen on %s\n", listen_addr);
		return 1;
	}
	grpc_server_start(server);
	for (int i = 0; i < nthreads; i++) {
		for (int s = 0; s < SLOTS_PER_THREAD; s++)
			request_slot(&workers[i]);
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	}
	if (port_file) {
		char tmp[4096];
		FILE *f;
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
		    rename(tmp, port_file) != 0) {
			fprintf(stderr, "echo_server: cannot write %s\n", port_file);
			return 1;
		}
	}
	fprintf(stderr, "echo_server: listening on port %d, %d threads, method %s\n", port,
		nthreads, method);

	while (!stop_flag)
		usleep(50 * 1000);

	shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_server_shutdown_and_notify(server, shutdown_cq, NULL);
	grpc_server_cancel_all_calls(server);
	grpc_completion_queue_pluck(shutdown_cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(shutdown_cq);
	for (int i = 0; i < nthreads; i++)
		grpc_completion_queue_shutdown(workers[i].cq);
	for (int i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	grpc_server_destroy(server);
	for (int i = 0; i < nthreads; i++)
		grpc_completion_queue_destroy(workers[i].cq);
	free(workers);
	grpc_shutdown();
	return 0;
}
