/*
 * observe.c: metrics and storage health (observe.h).
 */
#include "observe.h"

#include <pthread.h>
#include <time.h>

#include "health.h"
#include "log.h"
#include "metrics.h"

static metric_series *batch_size, *batch_seconds, *batches_full;

void observe_init(void)
{
	batch_size = metrics_series(
		metrics_family("billingd_writer_batch_mutations",
			       "Mutations per write transaction (group commit).", METRIC_HISTOGRAM,
			       NULL, metrics_size_buckets, metrics_size_buckets_n),
		NULL);
	batch_seconds = metrics_series(
		metrics_family("billingd_writer_commit_seconds",
			       "Time to apply and commit one write batch, fsync included.",
			       METRIC_HISTOGRAM, NULL, metrics_latency_buckets,
			       metrics_latency_buckets_n),
		NULL);
	batches_full = metrics_series(metrics_family("billingd_writer_store_full_total",
						     "Mutations refused because the store is full.",
						     METRIC_COUNTER, NULL, NULL, 0),
				      NULL);
}

void observe_on_batch(void *arg, const store_batch_info *b)
{
	metrics_observe(batch_size, (double)b->mutations);
	metrics_observe(batch_seconds, b->seconds);
	metrics_add(batches_full, b->full);
	if (b->full)
		health_set(HEALTH_STORE_FULL, 1);
	else if (b->ok)
		health_set(HEALTH_STORE_FULL, 0);
}

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running, stop;
	store_env *env;
	long stall_ms;
} mon = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *monitor(void *arg)
{
	struct timespec until;
	pthread_mutex_lock(&mon.lock);
	while (!mon.stop) {
		int64_t busy = store_writer_busy_us(mon.env);
		health_set(HEALTH_WRITER_STALLED, busy > (int64_t)mon.stall_ms * 1000);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&mon.cond, &mon.lock, &until);
	}
	pthread_mutex_unlock(&mon.lock);
	return NULL;
}

int observe_start(store_env *env, long stall_ms)
{
	mon.env = env;
	mon.stall_ms = stall_ms;
	mon.stop = 0;
	if (pthread_create(&mon.thread, NULL, monitor, NULL) != 0) {
		log_error("cannot start the writer monitor");
		return -1;
	}
	mon.running = 1;
	return 0;
}

void observe_stop(void)
{
	if (!mon.running)
		return;
	pthread_mutex_lock(&mon.lock);
	mon.stop = 1;
	pthread_cond_broadcast(&mon.cond);
	pthread_mutex_unlock(&mon.lock);
	pthread_join(mon.thread, NULL);
	mon.running = 0;
}
