#ifndef SPB_OBSERVE_H
#define SPB_OBSERVE_H

/*
 * observe.h: what billingd tells about itself, wired in one place. It
 * defines the metric families (metrics.h), feeds them from the writer
 * (store_options.on_batch), the call runtime, the payment engine and the
 * webhook receiver, fills the gauges that are read rather than counted
 * (LMDB map, readers, orders) at each exposition, serves them on
 * --metrics-listen, and keeps the health causes of the storage true
 * (health.h): a batch refused for a full store sets HEALTH_STORE_FULL until a batch commits again; a
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

/* A payment provider call ended (the payment engine, order_payment.c):
 * provider "stripe", "paypal" or "sandbox"; operation "create", "confirm",
 * "cancel" or "lookup"; its pay_status name (provider.h), counted
 * lower-case as the outcome; how long it took. */
void observe_provider_call(const char *provider, const char *operation, const char *status,
			   double seconds);

/* A provider webhook delivery (webhooks.c) of provider "stripe" or
 * "paypal": `what` is a stage ("received", "verified") or its answer
 * ("handled", "duplicate", "ignored", "refused", "deferred"). */
void observe_webhook(const char *provider, const char *what);

/*
 * Serves GET /metrics (the registry in Prometheus' text format) on listen
 * through the HTTP listener of httpd.h (loopback addresses only). NULL:
 * nothing. The bound port, 0 when listen is NULL, or -1 (logged). Stop it
 * before the store closes (the collectors read it).
 */
int observe_listen_start(const char *listen);
void observe_listen_stop(void);

/* Left for the events feature: the event backlog and outgoing webhook
 * deliveries. */

/* Starts the writer-stall monitor on env (stall_ms: how long a batch may
 * run) and registers the collectors. 0 or -1. */
int observe_start(store_env *env, long stall_ms);
/* Stops the monitor; before the store closes. */
void observe_stop(void);

#endif
