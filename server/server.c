/* server.c: billingd's state at start-up and shut-down. See server.h. */
#include "server.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

int server_open(billingd_state *s)
{
	if (mkdir(s->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create data directory %s: %s", s->cfg.data_dir, strerror(errno));
		return -1;
	}
	return 0;
}

void server_close(billingd_state *s)
{
}
