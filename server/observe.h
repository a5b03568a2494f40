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

#include "store.h"

/* Defines the families; before anything is observed. */
void observe_init(void);

/* store_options.on_batch of billingd's store. */
void observe_on_batch(void *arg, const store_batch_info *batch);

/* Starts the writer-stall monitor on env (stall_ms: how long a batch may
 * run) and registers the collectors. 0 or -1. */
int observe_start(store_env *env, long stall_ms);
/* Stops the monitor; before the store closes. */
void observe_stop(void);

#endif
