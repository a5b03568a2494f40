/* spt_store.c - see spt_store.h. */
#include "spt_store.h"

#include <stdio.h>
#include <string.h>

static void log_line(void *arg, const char *line)
{
	spt_store *s = arg;
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof(s->log) - n, "%s\n", line);
}

static int open_at(spt_store *s, size_t map_size, unsigned max_readers, char *err, size_t errlen)
{
	store_options o = STORE_OPTIONS_INIT;

	o.path = s->dir;
	o.map_size = map_size;
	o.max_readers = max_readers;
	o.log = log_line;
	o.log_arg = s;
	return store_open(&o, &s->env, err, errlen);
}

int spt_store_open(spt_store *s, size_t map_size, unsigned max_readers)
{
	char err[256] = "";
	int rc;

	memset(s, 0, sizeof(*s));
	if (spt_tmpdir(s->dir, sizeof(s->dir), "store") != 0)
		return STORE_IO;
	s->own_dir = 1;
	rc = open_at(s, map_size, max_readers, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "spt_store_open %s: %s\n", s->dir, err);
	return rc;
}

int spt_store_reopen(spt_store *s, size_t map_size, char *err, size_t errlen)
{
	return open_at(s, map_size, 0, err, errlen);
}

int spt_store_open_dir(spt_store *s, const char *dir)
{
	char err[256] = "";
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	rc = open_at(s, 0, 0, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "spt_store_open_dir %s: %s\n", dir, err);
	return rc;
}

int spt_store_close(spt_store *s)
{
	int rc = 0;

	store_close(s->env);
	s->env = NULL;
	if (s->own_dir)
		rc = spt_tmpdir_remove(s->dir);
	s->own_dir = 0;
	s->dir[0] = 0;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Synchronous single-record writes                                          */

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

int spt_store_put_account(store_env *env, const char *id, const char *parent)
{
	struct put_args a = {.id = id, .parent = parent};

	return store_write_sync(env, apply_account, &a);
}

int spt_store_put_project(store_env *env, const char *id, const char *installer, int32_t type)
{
	struct put_args a = {.id = id, .parent = installer, .type = type};

	return store_write_sync(env, apply_project, &a);
}

int spt_store_put_item(store_env *env, const char *id, const char *project, int32_t stype,
		       int64_t expires_at)
{
	struct put_args a = {.id = id, .parent = project, .type = stype, .expires_at = expires_at};

	return store_write_sync(env, apply_item, &a);
}
