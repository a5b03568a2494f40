/* fault.c: crash-test fault points. See store_fault.h. */
#include "store_fault.h"

#ifdef SPB_FAULTS
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_POINTS 8

static struct {
	char name[48];
	unsigned long one_in;
} points[MAX_POINTS];
static int npoints;
static unsigned int seed;

/* SPB_FAULT_STALL=<point>:<ms>[:<times>]: each pass through the point
 * sleeps ms (the first `times` passes; default every one): a slow disk. */
static struct {
	char name[48];
	unsigned long ms;
	long times;
} stall;

static void parse(void)
{
	const char *spec = getenv("SPB_FAULT");
	char buf[512], *save = NULL, *tok;
	const char *st = getenv("SPB_FAULT_STALL");
	seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	if (st && *st) {
		char sb[128], *c1, *c2;
		snprintf(sb, sizeof(sb), "%s", st);
		c1 = strchr(sb, ':');
		if (c1) {
			*c1++ = 0;
			c2 = strchr(c1, ':');
			if (c2)
				*c2++ = 0;
			snprintf(stall.name, sizeof(stall.name), "%.47s", sb);
			stall.ms = strtoul(c1, NULL, 10);
			stall.times = c2 ? strtol(c2, NULL, 10) : -1;
		}
	}
	if (!spec || !*spec)
		return;
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ",", &save); tok && npoints < MAX_POINTS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		unsigned long n = 1;
		if (colon) {
			*colon = 0;
			n = strtoul(colon + 1, NULL, 10);
		}
		snprintf(points[npoints].name, sizeof(points[npoints].name), "%s", tok);
		points[npoints++].one_in = n ? n : 1;
	}
}

void fault_point(const char *name)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, parse);
	if (stall.ms && strcmp(stall.name, name) == 0 &&
	    (stall.times < 0 || __atomic_fetch_sub(&stall.times, 1, __ATOMIC_ACQ_REL) > 0)) {
		struct timespec ts = {(time_t)(stall.ms / 1000), (long)(stall.ms % 1000) * 1000000};
		fprintf(stderr, "fault point %s: stalling %lu ms\n", name, stall.ms);
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < npoints; i++) {
		if (strcmp(points[i].name, name) != 0)
			continue;
		if ((unsigned long)rand_r(&seed) % points[i].one_in == 0) {
			fprintf(stderr, "fault point %s: killing the process\n", name);
			kill(getpid(), SIGKILL);
		}
	}
}
#else
/* ISO C wants a declaration in every translation unit. */
typedef int store_fault_points_off;
#endif
