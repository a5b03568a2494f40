/*
 * test_util.c - shared fixtures for the storage tests.
 */
#define _GNU_SOURCE /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "test_util.h"

static void log_line(void *arg, const char *line)
{
	tu_store *s = arg;
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof(s->log) - n, "%s\n", line);
}

static int open_at(tu_store *s, size_t map_size, unsigned max_readers, char *err, size_t errlen)
{
	store_options o = STORE_OPTIONS_INIT;

	o.path = s->dir;
	o.map_size = map_size;
	o.max_readers = max_readers;
	o.log = log_line;
	o.log_arg = s;
	return store_open(&o, &s->env, err, errlen);
}

int tu_open(tu_store *s, size_t map_size, unsigned max_readers)
{
	const char *tmp = getenv("TMPDIR");
	char err[256];
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "%s/spbstore.XXXXXX",
		 tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(s->dir))
		return STORE_IO;
	rc = open_at(s, map_size, max_readers, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "tu_open: %s\n", err);
	return rc;
}

int tu_reopen(tu_store *s, size_t map_size, char *err, size_t errlen)
{
	return open_at(s, map_size, 0, err, errlen);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void tu_close(tu_store *s)
{
	store_close(s->env);
	s->env = NULL;
	if (s->dir[0])
		nftw(s->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int tu_run(const char *suite, CU_TestInfo *tests)
{
	CU_SuiteInfo suites[] = {{suite, NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * Synchronous writes
 */

struct put_args {
	const char *id, *parent;
	int32_t type;
	int64_t expires_at;
};

static int apply_account(store_txn *w, void *arg)
{
	struct put_args *a = arg;
	store_account rec = STORE_ACCOUNT_INIT;

	rec.account_id = (char *)a->id;
	rec.parent_id = (char *)(a->parent ? a->parent : "");
	rec.display_name = (char *)a->id;
	return store_account_put(w, &rec, 0);
}

static int apply_project(store_txn *w, void *arg)
{
	struct put_args *a = arg;
	store_project rec = STORE_PROJECT_INIT;

	rec.project_id = (char *)a->id;
	rec.installer_id = (char *)a->parent;
	rec.type = a->type;
	return store_project_put(w, &rec, 0);
}

static int apply_item(store_txn *w, void *arg)
{
	struct put_args *a = arg;
	store_item rec = STORE_ITEM_INIT;

	rec.item_id = (char *)a->id;
	rec.project_id = (char *)a->parent;
	rec.service_type = a->type;
	rec.status = STORE_ITEM_ACTIVE;
	rec.expires_at = a->expires_at;
	return store_item_put(w, &rec, 0);
}

int tu_put_account(store_env *env, const char *id, const char *parent)
{
	struct put_args a = {.id = id, .parent = parent};

	return store_write_sync(env, apply_account, &a);
}

int tu_put_project(store_env *env, const char *id, const char *installer, int32_t type)
{
	struct put_args a = {.id = id, .parent = installer, .type = type};

	return store_write_sync(env, apply_project, &a);
}

int tu_put_item(store_env *env, const char *id, const char *project, int32_t stype,
		int64_t expires_at)
{
	struct put_args a = {.id = id, .parent = project, .type = stype, .expires_at = expires_at};

	return store_write_sync(env, apply_item, &a);
}
