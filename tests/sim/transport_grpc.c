/*
 * transport_grpc.c: billingd as a separate process, called over gRPC
 * (grpc C core, one persistent channel), killed with SIGKILL and
 * restarted on the same data directory (tests/support/spt_billingd.h).
 * The ledger check runs on the data directory while billingd is down.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>

#include "spt_billingd.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "transport.h"
#include "util.h"

typedef struct gt {
	spt_billingd p;
	const char *ledger_check;
	char fault[128];
	int has_fault;
	grpc_channel *ch;
	pthread_t killer;
	int killer_on;
	long delay_us;
	rng r;        /* kill delays (timing, not part of a history) */
	int last_sig; /* how the last instance ended (spt_billingd_exited) */
} gt;

static void open_channel(gt *g)
{
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	if (g->ch)
		grpc_channel_destroy(g->ch);
	g->ch = grpc_channel_create(g->p.target, creds, NULL);
	grpc_channel_credentials_release(creds);
}

/* The ErrorInfo reason in grpc-status-details-bin, if any. */
static void reason_of(const grpc_metadata_array *md, char *out, size_t cap, char *order_id,
		      size_t ocap)
{
	out[0] = 0;
	order_id[0] = 0;
	for (size_t i = 0; i < md->count; i++) {
		Google__Rpc__Status *st;
		if (grpc_slice_str_cmp(md->metadata[i].key, "grpc-status-details-bin") != 0)
			continue;
		st = google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(md->metadata[i].value),
						 GRPC_SLICE_START_PTR(md->metadata[i].value));
		if (!st)
			return;
		for (size_t k = 0; k < st->n_details; k++) {
			const Google__Protobuf__Any *a = st->details[k];
			const char *suffix = "/google.rpc.ErrorInfo";
			size_t n = strlen(a->type_url), sn = strlen(suffix);
			Google__Rpc__ErrorInfo *ei;
			if (n < sn || strcmp(a->type_url + n - sn, suffix) != 0)
				continue;
			ei = google__rpc__error_info__unpack(NULL, a->value.len, a->value.data);
			if (ei) {
				snprintf(out, cap, "%s", ei->reason);
				for (size_t j = 0; j < ei->n_metadata; j++)
					if (strcmp(ei->metadata[j]->key, "order_id") == 0)
						snprintf(order_id, ocap, "%s",
							 ei->metadata[j]->value);
				google__rpc__error_info__free_unpacked(ei, NULL);
			}
		}
		google__rpc__status__free_unpacked(st, NULL);
	}
}

/* Whether billingd runs. A process that was just killed (by us, or by a
 * fault point) may not be reaped yet: up to wait_ms for it to go. */
static int alive_wait(gt *g, int wait_ms)
{
	int sig;
	for (int i = 0; g->p.pid > 0; i++) {
		if (spt_billingd_exited(&g->p, &sig)) {
			g->last_sig = sig;
			return 0;
		}
		if (i * 5 >= wait_ms)
			return 1;
		usleep(5000);
	}
	return 0;
}

static int alive(gt *g)
{
	return alive_wait(g, 0);
}

static int grpc_call_one(sim_transport *t, const char *path, const sim_auth *a, const uint8_t *req,
			 size_t len, sim_reply *out)
{
	gt *g = t->impl;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(5000, GPR_TIMESPAN));
	grpc_slice method = grpc_slice_from_copied_string(path), body, details = grpc_empty_slice();
	grpc_call *call;
	grpc_metadata md[3];
	char bearer[200];
	size_t nmd = 0;
	grpc_byte_buffer *send, *recv = NULL;
	grpc_metadata_array initial, trailing;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_op ops[6];
	grpc_event ev;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	call = grpc_channel_create_call(g->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
					deadline, NULL);
	grpc_slice_unref(method);
	if (a->bearer) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", a->bearer);
		md[nmd].key = grpc_slice_from_static_string("authorization");
		md[nmd++].value = grpc_slice_from_copied_string(bearer);
	}
	if (a->acting) {
		md[nmd].key = grpc_slice_from_static_string("x-acting-account");
		md[nmd++].value = grpc_slice_from_copied_string(a->acting);
	}
	if (a->idem) {
		md[nmd].key = grpc_slice_from_static_string("idempotency-key");
		md[nmd++].value = grpc_slice_from_copied_string(a->idem);
	}
	body = grpc_slice_from_copied_buffer((const char *)req, len);
	send = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY; /* through a restart's reconnect */
	ops[0].data.send_initial_metadata.count = nmd;
	ops[0].data.send_initial_metadata.metadata = nmd ? md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) == GRPC_CALL_OK) {
		/* wait, watching the process: a billingd that dies between calls
		 * (a fault point in a background thread) must not cost a deadline */
		for (;;) {
			ev = grpc_completion_queue_pluck(
				cq, (void *)1,
				gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(50, GPR_TIMESPAN)),
				NULL);
			if (ev.type != GRPC_QUEUE_TIMEOUT)
				break;
			if (!alive(g)) {
				grpc_call_cancel(call, NULL);
				grpc_completion_queue_pluck(
					cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
				break;
			}
		}
		if (ev.type == GRPC_OP_COMPLETE) {
			out->status = (int)status;
			snprintf(out->msg, sizeof(out->msg), "%.*s",
				 (int)GRPC_SLICE_LENGTH(details),
				 (const char *)GRPC_SLICE_START_PTR(details));
			reason_of(&trailing, out->reason, sizeof(out->reason), out->order_id,
				  sizeof(out->order_id));
			if (recv) {
				grpc_byte_buffer_reader r;
				if (grpc_byte_buffer_reader_init(&r, recv)) {
					grpc_slice all = grpc_byte_buffer_reader_readall(&r);
					out->len = GRPC_SLICE_LENGTH(all);
					out->body = malloc(out->len + 1);
					memcpy(out->body, GRPC_SLICE_START_PTR(all), out->len);
					grpc_slice_unref(all);
					grpc_byte_buffer_reader_destroy(&r);
				}
			}
			rc = 0;
		}
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	for (size_t i = 0; i < nmd; i++)
		grpc_slice_unref(md[i].value);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_past(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	if (getenv("SIM_TRACE"))
		fprintf(stderr, "sim-trace %ld.%06ld %s pid %d -> %d %s\n", (long)time(NULL),
			(long)(gpr_now(GPR_CLOCK_REALTIME).tv_nsec / 1000), path, (int)g->p.pid,
			rc == 0 ? out->status : -1, out->msg);
	/* a broken connection or a dead server: the outcome is unknown */
	if (rc == 0 &&
	    (out->status == GRPC_STATUS_UNAVAILABLE ||
	     out->status == GRPC_STATUS_DEADLINE_EXCEEDED || out->status == GRPC_STATUS_CANCELLED ||
	     out->status == GRPC_STATUS_UNKNOWN) &&
	    !out->reason[0]) {
		free(out->body);
		out->body = NULL;
		rc = -1;
	}
	return rc;
}

static void *killer_main(void *arg)
{
	gt *g = arg;
	struct timespec d = {0, g->delay_us * 1000};
	nanosleep(&d, NULL);
	if (g->p.pid > 0)
		kill(g->p.pid, SIGKILL);
	return NULL;
}

/* Arms a kill -9 delay_us from now (the call in flight dies with it). */
static int grpc_kill(sim_transport *t)
{
	gt *g = t->impl;
	if (g->killer_on) {
		pthread_join(g->killer, NULL);
		g->killer_on = 0;
	}
	g->delay_us = (long)rng_below(&g->r, 3000);
	g->killer_on = pthread_create(&g->killer, NULL, killer_main, g) == 0;
	return 0;
}

static int grpc_restart(sim_transport *t, const char *fault)
{
	gt *g = t->impl;
	(void)fault;
	if (g->killer_on) {
		pthread_join(g->killer, NULL);
		g->killer_on = 0;
	}
	if (alive(g))
		return 0;
	spt_billingd_kill(&g->p);
	for (int i = 0; i < 5; i++) /* a fault point may kill it while it starts */
		if (spt_billingd_restart_with(&g->p, g->has_fault ? g->fault : NULL, NULL) == 0) {
			open_channel(g);
			return 0;
		}
	return -1;
}

static int grpc_died(sim_transport *t, int wait_ms)
{
	gt *g = t->impl;
	if (g->killer_on) { /* our kill -9 has landed once this returns */
		pthread_join(g->killer, NULL);
		g->killer_on = 0;
		if (alive_wait(g, 0)) {
			spt_billingd_kill(&g->p);
			g->last_sig = SIGKILL;
		}
		return 1;
	}
	return !alive_wait(g, wait_ms);
}

static int grpc_crash(sim_transport *t)
{
	gt *g = t->impl;
	return g->last_sig == SIGKILL || g->last_sig == 0 ? 0 : g->last_sig;
}

static int grpc_ledger(sim_transport *t, char *report, size_t cap)
{
	gt *g = t->impl;
	int rc;
	if (alive(g) || !g->ledger_check)
		return -1;
	rc = spt_billingd_check_data(&g->p, g->ledger_check, report, cap);
	return rc == 0 ? 0 : rc == 1 ? 1 : -1;
}

static void grpc_close(sim_transport *t)
{
	gt *g = t->impl;
	if (g->killer_on)
		pthread_join(g->killer, NULL);
	if (g->ch)
		grpc_channel_destroy(g->ch);
	spt_billingd_free(&g->p);
	free(g);
	free(t);
}

sim_transport *sim_grpc_open(const char *billingd, const char *ledger_check, const char *fault)
{
	sim_transport *t = calloc(1, sizeof(*t));
	gt *g = calloc(1, sizeof(*g));
	spt_billingd_options o = SPT_BILLINGD_OPTIONS_INIT;
	static const char *const args[] = {"--test-clock", "--threads", "2", NULL};
	char env0[160];
	const char *env[2] = {NULL, NULL};
	if (!t || !g)
		goto fail;
	grpc_init();
	g->ledger_check = ledger_check;
	rng_seed(&g->r, (uint64_t)getpid() ^ (uint64_t)time(NULL));
	if (fault && *fault) {
		snprintf(g->fault, sizeof(g->fault), "%s", fault);
		g->has_fault = 1;
		snprintf(env0, sizeof(env0), "SPB_FAULT=%s", fault);
		env[0] = env0;
	}
	o.bin = billingd;
	o.args = args;
	o.env = env;
	t->impl = g;
	/* a fault point may kill it while it starts */
	if (spt_billingd_start_opts(&g->p, &o) != 0 && grpc_restart(t, NULL) != 0)
		goto fail;
	open_channel(g);
	snprintf(t->admin_key, sizeof(t->admin_key), "%s", g->p.admin_key);
	snprintf(t->datadir, sizeof(t->datadir), "%s", g->p.data_dir);
	snprintf(t->logfile, sizeof(t->logfile), "%s", g->p.log_path);
	t->call = grpc_call_one;
	t->ledger = grpc_ledger;
	t->kill = grpc_kill;
	t->restart = grpc_restart;
	t->died = grpc_died;
	t->crash = grpc_crash;
	t->close = grpc_close;
	return t;
fail:
	if (g)
		spt_billingd_free(&g->p);
	free(g);
	free(t);
	return NULL;
}
