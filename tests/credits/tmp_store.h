/*
 * tmp_store.h - a fresh store in a temporary directory per test, removed
 * afterwards (the unit tests of tests/credits share it).
 */
#ifndef SPB_TEST_TMP_STORE_H
#define SPB_TEST_TMP_STORE_H

#include "store.h"

/* Creates /tmp/<prefix>.XXXXXX in dir[64] and opens a store there (64 MiB
 * map, log lines dropped). Returns the environment or NULL. */
store_env *tmp_store_open(char dir[64], const char *prefix);

/* Closes env (NULL ok) and removes dir with everything in it. Returns 0. */
int tmp_store_close(store_env *env, const char dir[64]);

#endif
