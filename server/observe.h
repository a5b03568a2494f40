#ifndef SPB_OBSERVE_H
#define SPB_OBSERVE_H

/*
 * observe.h: what billingd tells about itself, wired in one place. It
 * defines the metric families (metrics.h), feeds them from the writer
 * (store_options.on_batch) and the call runtime, fills the gauges that are
 * read rather than counted (LMDB map, readers) at each exposition, and
 * keeps the health causes of the storage true (health.h): a batch refused
 * for a full store sets HEALTH_STORE_FULL until a batch commits again; a
 * batch running longer than the stall limit sets HEALTH_WRITER_STALLED
 * (a monitor thread looks every 250 ms) until it finishes.
 */

#include <stdint.h>

#include "rpc.h"
#include "store.h"

/* Defines the families; before anything is observed. */
void observe_init(void);

/* store_options.on_batch of billingd's store. */
void observe_on_batch(void *arg, const store_batch_info *batch);

/* A table call arrived / was answered (runtime.c): the conventional gRPC
 * server metrics, by service and method (and code). */
void observe_call_started(const rpc_method *m);
void observe_call_handled(const rpc_method *m, int code, double seconds);

/* An automatic renewal attempt ended: "succeeded", "declined", "unknown"
 * (no answer from the provider yet) or "error". */
void observe_renewal(const char *outcome);

/*
 * Left for the features still to land here: provider calls by provider,
 * operation and outcome with latency (billingd_provider_calls_total,
 * billingd_provider_call_seconds) once the payments branch's provider
 * interface is in main; the event backlog and webhook deliveries with the
 * events feature; /metrics itself is served through server/httpd.[ch]
 * (--metrics-listen) once that lands.
 */

/* Starts the writer-stall monitor on env (stall_ms: how long a batch may
 * run) and registers the collectors. 0 or -1. */
int observe_start(store_env *env, long stall_ms);
/* Stops the monitor; before the store closes. */
void observe_stop(void);

#endif
