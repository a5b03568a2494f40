/* tmp_store.c - see tmp_store.h. */
#include "tmp_store.h"

#include <stdio.h>
#include <stdlib.h>

static void quiet(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

store_env *tmp_store_open(char dir[64], const char *prefix)
{
	store_options o = STORE_OPTIONS_INIT;
	store_env *env = NULL;
	char err[256];

	snprintf(dir, 64, "/tmp/%s.XXXXXX", prefix);
	if (!mkdtemp(dir))
		return NULL;
	o.path = dir;
	o.map_size = 64u << 20;
	o.log = quiet;
	if (store_open(&o, &env, err, sizeof(err)) != 0)
		fprintf(stderr, "store_open %s: %s\n", dir, err);
	return env;
}

int tmp_store_close(store_env *env, const char dir[64])
{
	char cmd[128];

	store_close(env);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}
