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

static void parse(void)
{
	const char *spec = getenv("SPB_FAULT");
	char buf[512], *save = NULL, *tok;
	seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
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
