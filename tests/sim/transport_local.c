/*
 * transport_local.c: billingd in this process. The store lives in a fresh
 * directory (on /dev/shm when writable: fsync is then free), the server
 * runs with the test clock (R18), sandbox payments and every background
 * thread it normally has; calls go through rpc_local_call_reason(), the
 * dispatcher clients reach over gRPC.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "billingd.h"
#include "errors.h"
#include "store_ledger.h"
#include "log.h"
#include "rpc.h"
#include "server.h"
#include "sim.h"
#include "store.h"
#include "transport.h"

billingd_state billingd;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

void sim_reply_clear(sim_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* The reason as a client sees it in ErrorInfo: rpc_fail_meta()'s
 * "REASON\x1fkey=value" split into reason and metadata, and the generic
 * reason of the status on a failure that names none (as the wire does). */
static void local_reason(sim_reply *out, const char *raw)
{
	const char *meta = strchr(raw, RPC_REASON_META);
	size_t n = meta ? (size_t)(meta - raw) : strlen(raw);
	if (meta && strncmp(meta + 1, "order_id=", 9) == 0)
		snprintf(out->order_id, sizeof(out->order_id), "%s", meta + 10);
	if (out->status == GRPC_STATUS_OK)
		out->reason[0] = 0;
	else if (n == 0)
		snprintf(out->reason, sizeof(out->reason), "%s",
			 errors_default_reason((grpc_status_code)out->status));
	else
		snprintf(out->reason, sizeof(out->reason), "%.*s", (int)n, raw);
}

static int local_call(sim_transport *t, const char *path, const sim_auth *a, const uint8_t *req,
		      size_t len, sim_reply *out)
{
	grpc_metadata md[4];
	grpc_metadata_array arr;
	char bearer[200], reason[192];
	size_t n = 0;
	(void)t;
	memset(out, 0, sizeof(*out));
	if (a->bearer) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", a->bearer);
		md[n].key = grpc_slice_from_static_string("authorization");
		md[n++].value = grpc_slice_from_copied_string(bearer);
	}
	if (a->acting) {
		md[n].key = grpc_slice_from_static_string("x-acting-account");
		md[n++].value = grpc_slice_from_copied_string(a->acting);
	}
	if (a->idem) {
		md[n].key = grpc_slice_from_static_string("idempotency-key");
		md[n++].value = grpc_slice_from_copied_string(a->idem);
	}
	memset(&arr, 0, sizeof(arr));
	arr.count = arr.capacity = n;
	arr.metadata = md;
	out->status = rpc_local_call_reason(path, &arr, req, len, &out->body, &out->len, out->msg,
					    sizeof(out->msg), reason, sizeof(reason));
	local_reason(out, reason);
	for (size_t i = 0; i < n; i++) {
		grpc_slice_unref(md[i].key);
		grpc_slice_unref(md[i].value);
	}
	return 0;
}

static int local_ledger(sim_transport *t, char *report, size_t cap)
{
	store_txn *txn = NULL;
	int rc;
	(void)t;
	if (store_read_begin(billingd.store, &txn) != 0) {
		snprintf(report, cap, "cannot open a read transaction");
		return -1;
	}
	rc = ledger_check(txn, report, cap);
	store_read_end(txn);
	return rc == 0 ? 0 : rc > 0 ? 1 : -1;
}

static void local_close(sim_transport *t)
{
	server_close(&billingd);
	nftw(t->datadir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
}

sim_transport *sim_local_open(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	sim_transport *t = calloc(1, sizeof(*t));
	char path[600];
	FILE *f;
	if (!t)
		return NULL;
	snprintf(t->datadir, sizeof(t->datadir), "%s/spb-sim.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(t->datadir)) {
		free(t);
		return NULL;
	}
	grpc_init();
	log_set_calls(0);
	billingd.cfg.listen = "local";
	billingd.cfg.data_dir = t->datadir;
	billingd.cfg.threads = 1;
	billingd.cfg.cutover_us = SIM_CUTOVER_US;
	billingd.cfg.test_clock = 1;
	billingd.cfg.payments = "sandbox";
	billingd.cfg.stripe_url = "https://api.stripe.com";
	billingd.cfg.paypal_url = "https://api-m.paypal.com";
	billingd.cfg.provider_timeout_ms = 10000;
	billingd.cfg.reconcile_interval_ms = 5000;
	billingd.cfg.renew_lead_us = 24 * HOUR_US;
	billingd.cfg.renew_interval_s = 60;
	billingd.cfg.max_receive_bytes = 4 << 20;
	billingd.cfg.map_size = 256u << 20;
	billingd.cfg.quiet_calls = 1;
	if (server_open(&billingd) != 0) {
		nftw(t->datadir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(t);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/admin.key", t->datadir);
	f = fopen(path, "r");
	if (!f || !fgets(t->admin_key, sizeof(t->admin_key), f)) {
		if (f)
			fclose(f);
		local_close(t);
		return NULL;
	}
	fclose(f);
	t->admin_key[strcspn(t->admin_key, "\r\n")] = 0;
	t->call = local_call;
	t->ledger = local_ledger;
	t->close = local_close;
	return t;
}
