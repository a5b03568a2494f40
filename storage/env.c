/*
 * env.c - the LMDB environment: open/close, error translation, per-thread
 * cached read transactions, the data-directory lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_OFD_SETLK */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_order.h"
#include "store_int.h"
#include "xalloc.h"

#define DEFAULT_MAP_SIZE (32ull << 30)
#define DEFAULT_MAX_READERS 256

static const char *const db_names[DB_COUNT] = {
	[DB_META] = "meta",         [DB_ACCOUNTS] = "accounts",
	[DB_PROJECTS] = "projects", [DB_ITEMS] = "items",
	[DB_PRICES] = "prices",     [DB_APIKEYS] = "apikeys",
	[DB_ORDERS] = "orders",     [DB_LEDGER] = "ledger",
	[DB_POLICIES] = "policies", [DB_IDEMPOTENCY] = "idempotency",
	[DB_EVENTS] = "events",     [DB_WEBHOOKS] = "webhooks",
};

/* The one place LMDB (and errno) codes become STORE_* codes. */
int store_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return STORE_OK;
	case MDB_NOTFOUND: return STORE_NOTFOUND;
	case MDB_KEYEXIST: return STORE_EXISTS;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case ENOSPC: /* the disk, not the map: the same answer, nothing committed */
	case EDQUOT: return STORE_FULL;
	case MDB_READERS_FULL: return STORE_READERS_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH: return STORE_CORRUPT;
	case MDB_BAD_VALSIZE:
	case MDB_BAD_TXN:
	case EINVAL: return STORE_INVALID;
	default: return STORE_IO;
	}
}

const char *store_strerror(int rc)
{
	switch (rc) {
	case STORE_OK: return "success";
	case STORE_NOTFOUND: return "not found";
	case STORE_EXISTS: return "already exists";
	case STORE_FULL: return "storage full";
	case STORE_READERS_FULL: return "too many concurrent readers";
	case STORE_CORRUPT: return "stored data is corrupt or of an unknown version";
	case STORE_INVALID: return "invalid argument";
	case STORE_IO: return "storage I/O error";
	default: return "unknown error";
	}
}

void store_log(store_env *env, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (env->log)
		env->log(env->log_arg, line);
	else
		fprintf(stderr, "store: %s\n", line);
}

int store_writable(const store_txn *txn)
{
	return txn && !txn->rdonly ? STORE_OK : STORE_INVALID;
}

/* Thread exit: release that thread's cached read transaction. */
static void reader_dtor(void *p)
{
	store_txn *t = p, **pp;
	store_env *env = t->env;

	pthread_mutex_lock(&env->rlock);
	for (pp = &env->readers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&env->rlock);
	mdb_txn_abort(t->txn);
	free(t);
}

int store_read_begin(store_env *env, store_txn **out)
{
	store_txn *t = pthread_getspecific(env->rkey);
	int rc;

	*out = NULL;
	if (t && !t->in_use) {
		rc = mdb_txn_renew(t->txn);
		if (rc != 0)
			return store_err(rc);
		t->in_use = 1;
		*out = t;
		return STORE_OK;
	}
	t = xcalloc(1, sizeof(*t));
	rc = mdb_txn_begin(env->mdb, NULL, MDB_RDONLY, &t->txn);
	if (rc != 0) {
		free(t);
		return store_err(rc);
	}
	t->env = env;
	t->rdonly = 1;
	t->in_use = 1;
	/* The first read on a thread becomes its cached one; a nested one
	 * stays private and is aborted at its end. */
	if (!pthread_getspecific(env->rkey) && pthread_setspecific(env->rkey, t) == 0) {
		t->cached = 1;
		pthread_mutex_lock(&env->rlock);
		t->next = env->readers;
		env->readers = t;
		pthread_mutex_unlock(&env->rlock);
	}
	*out = t;
	return STORE_OK;
}

void store_read_end(store_txn *t)
{
	if (!t)
		return;
	if (t->cached) {
		mdb_txn_reset(t->txn);
		t->in_use = 0;
		return;
	}
	mdb_txn_abort(t->txn);
	free(t);
}

static int open_dbs(store_env *env, char *err, size_t errlen)
{
	store_txn w = {.env = env};
	uint32_t version = 0;
	int rc, i;

	rc = store_err(mdb_txn_begin(env->mdb, NULL, 0, &w.txn));
	for (i = 0; rc == 0 && i < DB_COUNT; i++)
		rc = store_err(mdb_dbi_open(w.txn, db_names[i], MDB_CREATE, &env->dbi[i]));
	if (rc == 0) {
		rc = store_meta_schema_version(&w, &version);
		if (rc == STORE_NOTFOUND)
			rc = store_meta_set_schema(&w, STORE_SCHEMA_VERSION);
	}
	if (rc == 0 && version <= STORE_SCHEMA_VERSION)
		rc = store_order_build_holds(&w);
	if (rc == 0)
		rc = store_event_open(env, &w);
	if (rc == 0 && version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "store schema version %u is newer than this billingd "
			 "supports (%u)",
			 (unsigned)version, (unsigned)STORE_SCHEMA_VERSION);
		rc = STORE_INVALID;
		goto done;
	}
	if (rc == 0) {
		rc = store_err(mdb_txn_commit(w.txn));
		w.txn = NULL;
	}
	if (rc != 0)
		snprintf(err, errlen, "initialising databases: %s", store_strerror(rc));
done:
	if (w.txn)
		mdb_txn_abort(w.txn);
	return rc;
}

/* ------------------------------------------------------------------------
 * The data-directory lock
 */

#define LOCK_FILE "billingd.lock"

struct store_lock {
	int fd;
};

/* "<what> <path>: <errno text>" into err. */
static void lock_err(char *err, size_t errlen, const char *what, const char *path, int e)
{
	if (err && errlen)
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
}

int store_dir_lock(const char *path, store_lock **out, long *holder, char *err, size_t errlen)
{
	char file[4096], pid[32];
	struct flock fl;
	ssize_t n;
	int fd;

	*out = NULL;
	if (holder)
		*holder = 0;
	if (snprintf(file, sizeof(file), "%s/" LOCK_FILE, path) >= (int)sizeof(file))
		return STORE_INVALID;
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		lock_err(err, errlen, "creating", path, errno);
		return STORE_IO;
	}
	fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		lock_err(err, errlen, "opening", file, errno);
		return STORE_IO;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		int e = errno;
		if (e == EACCES || e == EAGAIN) {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = 0;
			if (holder)
				*holder = strtol(pid, NULL, 10);
			close(fd);
			return STORE_EXISTS;
		}
		lock_err(err, errlen, "locking", file, e);
		close(fd);
		return STORE_IO;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		lock_err(err, errlen, "writing", file, errno);
		close(fd);
		return STORE_IO;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->fd = fd;
	return STORE_OK;
}

void store_dir_unlock(store_lock *l)
{
	if (!l)
		return;
	/* The pid goes first: a reader never sees a stale holder after this. */
	if (ftruncate(l->fd, 0) != 0) {
		/* nothing to do: closing releases the lock all the same */
	}
	close(l->fd);
	free(l);
}

int store_open(const store_options *opts, store_env **out, char *err, size_t errlen)
{
	char scratch[256];
	store_env *env = NULL;
	int rc, dead = 0, mrc;

	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	*out = NULL;
	if (!opts || !opts->path) {
		snprintf(err, errlen, "no store path");
		return STORE_INVALID;
	}
	if (mkdir(opts->path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "creating %s: %s", opts->path, strerror(errno));
		return STORE_IO;
	}
	env = xcalloc(1, sizeof(*env));
	env->log = opts->log;
	env->log_arg = opts->log_arg;
	env->on_batch = opts->on_batch;
	env->on_batch_arg = opts->on_batch_arg;
	env->clock = opts->clock;
	env->tail = &env->head;
	pthread_mutex_init(&env->rlock, NULL);
	pthread_mutex_init(&env->wlock, NULL);
	pthread_cond_init(&env->wcond, NULL);
	if (pthread_key_create(&env->rkey, reader_dtor) != 0) {
		snprintf(err, errlen, "pthread_key_create failed");
		rc = STORE_IO;
		goto done;
	}
	env->rkey_ok = 1;

	mrc = mdb_env_create(&env->mdb);
	if (mrc == 0)
		mrc = mdb_env_set_mapsize(env->mdb,
					  opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE);
	if (mrc == 0)
		mrc = mdb_env_set_maxreaders(env->mdb, opts->max_readers ? opts->max_readers
									 : DEFAULT_MAX_READERS);
	if (mrc == 0)
		mrc = mdb_env_set_maxdbs(env->mdb, DB_COUNT);
	/* Durable defaults: no NOSYNC, NOMETASYNC or WRITEMAP. */
	if (mrc == 0)
		mrc = mdb_env_open(env->mdb, opts->path, MDB_NOTLS, 0600);
	if (mrc != 0) {
		snprintf(err, errlen, "opening %s: %s", opts->path, mdb_strerror(mrc));
		rc = store_err(mrc);
		goto done;
	}
	mrc = mdb_reader_check(env->mdb, &dead);
	if (mrc != 0) {
		snprintf(err, errlen, "reader check: %s", mdb_strerror(mrc));
		rc = store_err(mrc);
		goto done;
	}
	if (dead > 0)
		store_log(env, "cleared %d stale reader%s", dead, dead == 1 ? "" : "s");
	rc = open_dbs(env, err, errlen);
	if (rc != 0)
		goto done;
	rc = store_writer_start(env);
	if (rc != 0)
		snprintf(err, errlen, "starting writer thread failed");
done:
	if (rc != 0) {
		store_close(env);
		return rc;
	}
	*out = env;
	return STORE_OK;
}

void store_close(store_env *env)
{
	store_txn *t, *next;

	if (!env)
		return;
	store_writer_stop(env);
	pthread_mutex_lock(&env->rlock);
	for (t = env->readers; t; t = next) {
		next = t->next;
		mdb_txn_abort(t->txn);
		free(t);
	}
	env->readers = NULL;
	pthread_mutex_unlock(&env->rlock);
	if (env->rkey_ok) {
		/* The closing thread's own slot: avoid a dangling value. */
		pthread_setspecific(env->rkey, NULL);
		pthread_key_delete(env->rkey);
	}
	if (env->mdb)
		mdb_env_close(env->mdb);
	pthread_cond_destroy(&env->wcond);
	pthread_mutex_destroy(&env->wlock);
	pthread_mutex_destroy(&env->rlock);
	free(env);
}

/* mdb_reader_list() calls this once per line: a header, then one line
 * per reader slot in use (or "(no active readers)"). */
static int count_reader(const char *msg, void *ctx)
{
	if (!strstr(msg, "pid") && !strstr(msg, "no active"))
		(*(unsigned *)ctx)++;
	return 0;
}

int store_env_stats_get(store_env *env, store_env_stats *out)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc = mdb_env_info(env->mdb, &info);
	if (rc == 0)
		rc = mdb_env_stat(env->mdb, &st);
	if (rc != 0)
		return store_err(rc);
	out->map_size = info.me_mapsize;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	out->max_readers = info.me_maxreaders;
	out->readers = 0;
	if (mdb_reader_list(env->mdb, count_reader, &out->readers) < 0)
		out->readers = info.me_numreaders; /* the high-water mark, then */
	return 0;
}
