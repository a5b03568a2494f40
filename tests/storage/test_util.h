/*
 * test_util.h - shared fixtures for the storage tests.
 */
#ifndef SPB_TEST_STORAGE_UTIL_H
#define SPB_TEST_STORAGE_UTIL_H

#include <CUnit/CUnit.h>

#include "store.h"

/* A fresh store in a new mkdtemp directory. */
typedef struct tu_store {
	char dir[64];
	store_env *env;
	char log[1024]; /* log lines, newline-separated */
} tu_store;

/* Create the directory and open a store with map_size (0 = default) and
 * max_readers (0 = default). Returns 0 or the store_open error. */
int tu_open(tu_store *s, size_t map_size, unsigned max_readers);
/* Re-open the same directory (after store_close(s->env)). */
int tu_reopen(tu_store *s, size_t map_size, char *err, size_t errlen);
/* Close (if open) and remove the directory. */
void tu_close(tu_store *s);

/* Register the suite, run it, return nonzero if anything failed. */
int tu_run(const char *suite, CU_TestInfo *tests);

/* Synchronous single-record writes (through the writer). */
int tu_put_account(store_env *env, const char *id, const char *parent);
int tu_put_project(store_env *env, const char *id, const char *installer, int32_t type);
int tu_put_item(store_env *env, const char *id, const char *project, int32_t stype,
		int64_t expires_at);

#endif
