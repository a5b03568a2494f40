/*
 * spt_store.h - temporary stores: the one way a test opens an LMDB store.
 *
 * spt_store_open() makes a fresh directory (spt_tmpdir) and opens a store
 * there; spt_store_close() closes it and removes the directory. The store's
 * log lines are kept in s->log (newline-separated, the last ones dropped
 * when it is full) for tests that check them.
 *
 * spt_store_open_dir() opens an existing directory instead, for reading a
 * stopped billingd's data; that directory is never removed. Never open the
 * data directory of a billingd that still runs: that would be a second
 * environment with its own writer on a live store.
 */
#ifndef SPT_STORE_H
#define SPT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "spt_fs.h"
#include "store.h"

typedef struct spt_store {
	char dir[SPT_PATH_MAX];
	store_env *env; /* NULL when closed */
	char log[4096];
	int own_dir; /* the directory is removed by spt_store_close */
} spt_store;

/* A fresh directory and a store in it: map_size 0 and max_readers 0 are the
 * store's defaults. 0, or the store_open error (printed). */
int spt_store_open(spt_store *s, size_t map_size, unsigned max_readers);

/* Opens the same directory again (after store_close(s->env); s->env =
 * NULL). 0 or the store_open error, its text in err[errlen]. */
int spt_store_reopen(spt_store *s, size_t map_size, char *err, size_t errlen);

/* Opens the store in an existing directory (a stopped billingd's data).
 * 0, or the store_open error (printed). */
int spt_store_open_dir(spt_store *s, const char *dir);

/* Closes the store (if open) and removes the directory it made. 0, or -1
 * when the directory could not be removed. */
int spt_store_close(spt_store *s);

/* One record each, written synchronously through the writer (unit tests of
 * the layers above storage): an account under parent (NULL: a root), a
 * project of installer, an ACTIVE item of project. 0 or the store error. */
int spt_store_put_account(store_env *env, const char *id, const char *parent);
int spt_store_put_project(store_env *env, const char *id, const char *installer, int32_t type);
int spt_store_put_item(store_env *env, const char *id, const char *project, int32_t stype,
		       int64_t expires_at);

#endif
