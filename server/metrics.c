/*
 * metrics.c: the metrics registry and its text exposition (metrics.h).
 *
 * Families live in a list in definition order, series in a list per family
 * in creation order; both only grow, so a reader that walks them under the
 * mutex sees a consistent list and updates never need it. Exposition
 * renders into a growing buffer, cumulating histogram buckets as the format
 * wants ("le" counts include everything below).
 */
#include "metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

const double metrics_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					  0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
					  1,      2.5,     5,      10,    30};
const size_t metrics_latency_buckets_n = sizeof(metrics_latency_buckets) /
					 sizeof(metrics_latency_buckets[0]);
const double metrics_size_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
const size_t metrics_size_buckets_n = sizeof(metrics_size_buckets) /
				      sizeof(metrics_size_buckets[0]);

struct metric_series {
	struct metric_series *next;
	const struct metric_family *family;
	char *values[METRICS_MAX_LABELS];
	_Atomic uint64_t count;    /* counter value, histogram count */
	_Atomic uint64_t bits;     /* gauge value / histogram sum, as double bits */
	_Atomic uint64_t *buckets; /* histogram: per bucket (not cumulative) */
};

struct metric_family {
	struct metric_family *next;
	const char *name, *help;
	metric_type type;
	const char *labels[METRICS_MAX_LABELS];
	size_t n_labels;
	double buckets[METRICS_MAX_BUCKETS];
	size_t n_buckets;
	metric_series *series, **tail;
};

typedef struct collector {
	struct collector *next;
	void (*fn)(void *arg);
	void *arg;
} collector;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static metric_family *families, **families_tail = &families;
static collector *collectors;

static double from_bits(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t to_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (label names: no ':' and no "__" prefix). */
static int valid_name(const char *s, int label)
{
	if (!s || !*s || isdigit((unsigned char)*s) || (label && strncmp(s, "__", 2) == 0))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && (label || *s != ':'))
			return 0;
	return 1;
}

metric_family *metrics_family(const char *name, const char *help, metric_type type,
			      const char *const *labels, const double *buckets, size_t n_buckets)
{
	metric_family *f;
	size_t n = 0;

	if (!valid_name(name, 0) || (type == METRIC_HISTOGRAM) != (buckets != NULL) ||
	    n_buckets > METRICS_MAX_BUCKETS) {
		log_error("metrics: bad definition of %s", name ? name : "(null)");
		return NULL;
	}
	for (size_t i = 1; i < n_buckets; i++)
		if (!(buckets[i] > buckets[i - 1])) {
			log_error("metrics: %s: buckets must ascend", name);
			return NULL;
		}
	for (; labels && labels[n]; n++)
		if (n == METRICS_MAX_LABELS || !valid_name(labels[n], 1) ||
		    (type == METRIC_HISTOGRAM && strcmp(labels[n], "le") == 0)) {
			log_error("metrics: %s: bad label list", name);
			return NULL;
		}
	pthread_mutex_lock(&lock);
	for (f = families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			break;
	if (!f) {
		f = xcalloc(1, sizeof(*f));
		f->name = name;
		f->help = help ? help : "";
		f->type = type;
		for (size_t i = 0; i < n; i++)
			f->labels[i] = labels[i];
		f->n_labels = n;
		if (n_buckets)
			memcpy(f->buckets, buckets, n_buckets * sizeof(double));
		f->n_buckets = n_buckets;
		f->tail = &f->series;
		*families_tail = f;
		families_tail = &f->next;
	}
	pthread_mutex_unlock(&lock);
	return f;
}

static int same_values(const metric_series *s, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i] ? values[i] : "") != 0)
			return 0;
	return 1;
}

metric_series *metrics_series(metric_family *f, const char *const *values)
{
	metric_series *s;
	if (!f)
		return NULL;
	pthread_mutex_lock(&lock);
	for (s = f->series; s; s = s->next)
		if (same_values(s, values, f->n_labels))
			break;
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->family = f;
		for (size_t i = 0; i < f->n_labels; i++)
			s->values[i] = xstrdup(values[i] ? values[i] : "");
		if (f->type == METRIC_HISTOGRAM)
			s->buckets = xcalloc(f->n_buckets + 1, sizeof(*s->buckets));
		*f->tail = s;
		f->tail = &s->next;
	}
	pthread_mutex_unlock(&lock);
	return s;
}

void metrics_add(metric_series *s, uint64_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->count, n, memory_order_relaxed);
}

void metrics_set(metric_series *s, double v)
{
	if (s)
		atomic_store_explicit(&s->bits, to_bits(v), memory_order_relaxed);
}

void metrics_observe(metric_series *s, double v)
{
	const metric_family *f;
	uint64_t old, want;
	size_t i;
	if (!s || !s->buckets)
		return;
	f = s->family;
	for (i = 0; i < f->n_buckets && v > f->buckets[i]; i++)
		;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	old = atomic_load_explicit(&s->bits, memory_order_relaxed);
	do
		want = to_bits(from_bits(old) + v);
	while (!atomic_compare_exchange_weak_explicit(&s->bits, &old, want, memory_order_relaxed,
						      memory_order_relaxed));
}

double metrics_value(const metric_series *s)
{
	if (!s)
		return 0;
	if (s->family->type == METRIC_GAUGE)
		return from_bits(atomic_load(&s->bits));
	return (double)atomic_load(&s->count);
}

void metrics_add_collector(void (*fn)(void *arg), void *arg)
{
	collector *c = xcalloc(1, sizeof(*c));
	c->fn = fn;
	c->arg = arg;
	pthread_mutex_lock(&lock);
	c->next = collectors;
	collectors = c;
	pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------------------ */
/* Exposition                                                                */

typedef struct out {
	char *buf;
	size_t len, cap;
	int failed;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		o->cap = (o->cap + (size_t)n + 1) * 2;
		o->buf = xrealloc(o->buf, o->cap);
	}
}

/* A label value or help text with \, " (values only) and newlines escaped. */
static void put_escaped(out *o, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '\n')
			put(o, "\\n");
		else if (quote && *s == '"')
			put(o, "\\\"");
		else
			put(o, "%c", *s);
	}
}

/* {a="x",b="y"[,le="0.5"]} or nothing. */
static void put_labels(out *o, const metric_family *f, const metric_series *s, const char *le)
{
	if (!f->n_labels && !le)
		return;
	put(o, "{");
	for (size_t i = 0; i < f->n_labels; i++) {
		put(o, "%s%s=\"", i ? "," : "", f->labels[i]);
		put_escaped(o, s->values[i], 1);
		put(o, "\"");
	}
	if (le)
		put(o, "%sle=\"%s\"", f->n_labels ? "," : "", le);
	put(o, "}");
}

/* The shortest of %.15g..%.17g that reads back as v (0.1, not
 * 0.10000000000000001). */
static void format_double(double v, char *buf, size_t cap)
{
	if (isnan(v)) {
		snprintf(buf, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static void put_double(out *o, double v)
{
	char buf[40];
	format_double(v, buf, sizeof(buf));
	put(o, "%s", buf);
}

static void render_family(out *o, const metric_family *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	if (!f->series)
		return; /* a family with no series says nothing */
	put(o, "# HELP %s ", f->name);
	put_escaped(o, f->help, 0);
	put(o, "\n# TYPE %s %s\n", f->name, types[f->type]);
	for (const metric_series *s = f->series; s; s = s->next) {
		if (f->type == METRIC_COUNTER) {
			put(o, "%s", f->name);
			put_labels(o, f, s, NULL);
			put(o, " %llu\n", (unsigned long long)atomic_load(&s->count));
		} else if (f->type == METRIC_GAUGE) {
			put(o, "%s", f->name);
			put_labels(o, f, s, NULL);
			put(o, " ");
			put_double(o, from_bits(atomic_load(&s->bits)));
			put(o, "\n");
		} else {
			uint64_t cum = 0, count;
			char le[32];
			for (size_t i = 0; i <= f->n_buckets; i++) {
				cum += atomic_load(&s->buckets[i]);
				format_double(i < f->n_buckets ? f->buckets[i] : INFINITY, le,
					      sizeof(le));
				put(o, "%s_bucket", f->name);
				put_labels(o, f, s, le);
				put(o, " %llu\n", (unsigned long long)cum);
			}
			/* the count is the +Inf bucket, read once, so they agree */
			count = cum;
			put(o, "%s_sum", f->name);
			put_labels(o, f, s, NULL);
			put(o, " ");
			put_double(o, from_bits(atomic_load(&s->bits)));
			put(o, "\n%s_count", f->name);
			put_labels(o, f, s, NULL);
			put(o, " %llu\n", (unsigned long long)count);
		}
	}
}

char *metrics_render(size_t *len)
{
	out o = {0};
	collector *c;
	pthread_mutex_lock(&lock);
	c = collectors;
	pthread_mutex_unlock(&lock);
	for (; c; c = c->next) /* collectors only get prepended: this list is stable */
		c->fn(c->arg);
	pthread_mutex_lock(&lock);
	put(&o, "%s", "");
	for (const metric_family *f = families; f; f = f->next)
		render_family(&o, f);
	pthread_mutex_unlock(&lock);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.buf;
}

void metrics_reset(void)
{
	pthread_mutex_lock(&lock);
	while (families) {
		metric_family *f = families;
		families = f->next;
		while (f->series) {
			metric_series *s = f->series;
			f->series = s->next;
			for (size_t i = 0; i < f->n_labels; i++)
				free(s->values[i]);
			free(s->buckets);
			free(s);
		}
		free(f);
	}
	families_tail = &families;
	while (collectors) {
		collector *c = collectors;
		collectors = c->next;
		free(c);
	}
	pthread_mutex_unlock(&lock);
}
