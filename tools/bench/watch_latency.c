/*
 * watch_latency: how long events take from their commit to a watcher
 * (issue 15, BENCHMARKS.md). Watches with the SDK (spb_events_watch_*)
 * from the newest event on, and for every event received takes its
 * latency: the time of receipt minus the event's create_time (set on the
 * server's clock inside the write transaction, so this includes the group
 * commit's fsync, the wake-up and the stream). Server and watcher share
 * the machine's clock; billingd must run on the real clock.
 *
 *   watch_latency --target HOST:PORT --key-file F [--kind K] [--seconds N]
 *                 [--stop-file F]
 *
 * Ends after N seconds (default 10) or as soon as F exists, and prints one
 * line: "watch events N p50_us X p99_us Y max_us Z gaps G" (G: sequence
 * numbers skipped among the events of that kind; 0 unless something else
 * wrote events meanwhile).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "spbilling.h"

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, 0, 't'},    {"key-file", required_argument, 0, 'k'},
		{"kind", required_argument, 0, 'K'},      {"seconds", required_argument, 0, 's'},
		{"stop-file", required_argument, 0, 'f'}, {0, 0, 0, 0},
	};
	const char *target = NULL, *key_file = NULL, *kind = "credits.assigned", *stop = NULL;
	spb_client_options co = SPB_CLIENT_OPTIONS_INIT;
	spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
	Smartplus__Billing__V1__ListEventsRequest lr =
		SMARTPLUS__BILLING__V1__LIST_EVENTS_REQUEST__INIT;
	Smartplus__Billing__V1__ListEventsResponse *lresp = NULL;
	Smartplus__Billing__V1__Event *ev = NULL;
	spb_event_watch *w = NULL;
	long long *lat = NULL, last = 0, gaps = 0, end;
	size_t n = 0, cap = 0;
	char key[256] = "";
	double seconds = 10;
	spb_client *c;
	struct stat st;
	FILE *f;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': target = optarg; break;
		case 'k': key_file = optarg; break;
		case 'K': kind = optarg; break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'f': stop = optarg; break;
		default: return 2;
		}
	}
	if (!target || !key_file || !(f = fopen(key_file, "r"))) {
		fprintf(stderr, "usage: watch_latency --target HOST:PORT --key-file F [--kind K] "
				"[--seconds N] [--stop-file F]\n");
		return 2;
	}
	if (!fgets(key, sizeof(key), f))
		key[0] = '\0';
	fclose(f);
	key[strcspn(key, "\r\n")] = '\0';
	co.api_key = key;
	c = spb_client_new(target, &co);
	if (!c)
		return 1;
	/* from the newest event on: only what is committed while we watch */
	lr.page_size = 1;
	lr.subject = "none/none";
	if (spb_event_list_events(c, &lr, &lresp, NULL) != 0) {
		fprintf(stderr, "watch_latency: ListEvents: %s\n", spb_error_last()->message);
		return 1;
	}
	wo.after_sequence = lresp->head_sequence;
	spb_message_free(lresp);
	wo.kinds = &kind;
	wo.n_kinds = 1;
	if (spb_events_watch_open(&w, c, &wo) != 0)
		return 1;
	end = mono_us() + (long long)(seconds * 1e6);
	while (mono_us() < end && !(stop && stat(stop, &st) == 0)) {
		rc = spb_events_watch_next(w, &ev, 100);
		if (rc == SPB_ETIMEOUT)
			continue;
		if (rc != 0) {
			fprintf(stderr, "watch_latency: %s\n", spb_error_last()->message);
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			lat = realloc(lat, cap * sizeof(*lat));
			if (!lat)
				return 1;
		}
		lat[n++] = now_us() - ((long long)ev->create_time->seconds * 1000000 +
				       ev->create_time->nanos / 1000);
		if (last && ev->sequence != last + 1)
			gaps += ev->sequence - last - 1;
		last = ev->sequence;
		spb_message_free(ev);
	}
	spb_events_watch_free(w);
	spb_client_free(c);
	if (n)
		qsort(lat, n, sizeof(*lat), cmp);
	printf("watch events %zu p50_us %lld p99_us %lld max_us %lld gaps %lld\n", n,
	       n ? lat[n / 2] : 0, n ? lat[(size_t)(n * 0.99)] : 0, n ? lat[n - 1] : 0, gaps);
	free(lat);
	return 0;
}
