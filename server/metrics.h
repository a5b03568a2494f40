#ifndef SPB_METRICS_H
#define SPB_METRICS_H

/*
 * metrics.h: billingd's metrics registry and its Prometheus text exposition
 * (format 0.0.4, what /metrics serves and `promtool check metrics` reads).
 *
 * A family is a metric name with its help, type and label names; a series
 * is one set of label values of a family. Families are defined at start
 * (metrics_family); series are made on first use (metrics_series) and never
 * freed, so callers may keep the pointer and update it from any thread
 * without a lock: counters and histogram buckets are atomics, a gauge is an
 * atomic double. Only finding or creating a series takes the registry's
 * mutex, so hot paths look their series up once (e.g. per RPC at start).
 *
 * Gauges that are cheaper to read than to track (LMDB map use, orders by
 * status) are filled by collectors, run at the start of every exposition.
 *
 * Names and label names must match Prometheus' grammar; label values are
 * escaped on output. Every string given to a family must outlive the
 * registry (static strings); label values are copied.
 */

#include <stddef.h>
#include <stdint.h>

typedef enum {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
} metric_type;

typedef struct metric_family metric_family;
typedef struct metric_series metric_series;

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 24

/*
 * Defines a family: `labels` is NULL-terminated (NULL for none), `buckets`
 * the ascending upper bounds of a histogram (+Inf is implicit; NULL for
 * other types). The same name twice returns the first definition. Returns
 * NULL for an invalid name, label or bucket list (a programming error,
 * also logged).
 */
metric_family *metrics_family(const char *name, const char *help, metric_type type,
			      const char *const *labels, const double *buckets, size_t n_buckets);

/* The series of `f` with these label values (as many as the family has
 * labels; NULL when it has none), created at 0 on first use. NULL only for
 * f NULL (memory exhaustion aborts: xalloc.h). */
metric_series *metrics_series(metric_family *f, const char *const *values);

/* Counter: adds n. */
void metrics_add(metric_series *s, uint64_t n);
/* Gauge: sets v. */
void metrics_set(metric_series *s, double v);
/* Histogram: counts one observation of v. */
void metrics_observe(metric_series *s, double v);
/* Every function above accepts s NULL and does nothing. */

/* Reads back (tests): a counter's value, a gauge's value, a histogram's
 * count. */
double metrics_value(const metric_series *s);

/* Adds a function run before each exposition (to set gauges). */
void metrics_add_collector(void (*fn)(void *arg), void *arg);

/* The whole registry in the Prometheus text format, malloc'ed and
 * NUL-terminated (caller frees); *len gets its length. */
char *metrics_render(size_t *len);

/* Forgets every family, series and collector (tests only: no series
 * pointer may be used afterwards). */
void metrics_reset(void);

/* Histogram buckets used by billingd: latencies in seconds (100 µs .. 30 s)
 * and sizes (1 .. 4096). */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_n;
extern const double metrics_size_buckets[];
extern const size_t metrics_size_buckets_n;

#endif
