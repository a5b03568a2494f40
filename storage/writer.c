/*
 * writer.c - the single writer thread and group commit.
 *
 * The writer takes every mutation queued so far as one batch, applies each
 * in its own nested transaction inside one write transaction, commits once
 * (one fsync for the whole batch) and only then calls the done() callbacks.
 * A mutation that hits a full map is failed alone: the batch transaction is
 * thrown away and the others are re-applied in a fresh one, so nothing is
 * half-written and innocent mutations still succeed.
 */
#include <stdio.h>

#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "store_fault.h"
#include "store_int.h"

#define BATCH_MAX 4096

/* 1 when the filesystem holding the store has less than 16 MiB left: an
 * I/O error on commit is then the disk being full. */
static int disk_nearly_full(store_env *env)
{
	const char *path = NULL;
	struct statvfs st;
	if (mdb_env_get_path(env->mdb, &path) != MDB_SUCCESS || !path || statvfs(path, &st) != 0)
		return 0;
	return (uint64_t)st.f_bavail * st.f_frsize < (UINT64_C(16) << 20);
}

/* attempt() result: some mutation hit STORE_FULL; the txn was aborted. */
#define RETRY 1

/*
 * Apply the pending (non-final) mutations of batch, or only `only` if set,
 * in one write transaction and commit it. Each mutation's m->rc gets its
 * apply result. Returns the commit's STORE_* code or RETRY.
 */
static int attempt(store_env *env, store_mutation *batch, store_mutation *only)
{
	store_txn w = {.env = env};
	store_mutation *m;
	MDB_txn *txn = NULL;
	uint64_t event_seq = 0;
	int rc, full = 0;

	env->batch_events = 0;
	rc = store_err(mdb_txn_begin(env->mdb, NULL, 0, &txn));
	if (rc != 0)
		goto done;
	for (m = batch; m; m = m->next) {
		if (m->final || (only && m != only))
			continue;
		m->rc = store_err(mdb_txn_begin(env->mdb, txn, 0, &w.txn));
		if (m->rc == 0) {
			m->rc = m->apply(&w, m->arg);
			if (m->rc == 0)
				m->rc = store_err(mdb_txn_commit(w.txn));
			else
				mdb_txn_abort(w.txn);
		}
		if (m->rc > 0 && m->failed &&
		    mdb_txn_begin(env->mdb, txn, 0, &w.txn) == MDB_SUCCESS) {
			/* Record the refusal (e.g. for idempotent replay) in
			 * a fresh nested txn; the failed writes stay undone. */
			int frc = m->failed(&w, m->arg, m->rc);
			if (frc == 0)
				frc = store_err(mdb_txn_commit(w.txn));
			else
				mdb_txn_abort(w.txn);
			if (frc == STORE_FULL) {
				m->rc = STORE_FULL;
			}
		}
		if (m->rc == STORE_FULL) {
			/* LMDB may leave the parent unusable after MAP_FULL
			 * in a child: fail this one, redo the others. */
			m->final = 1;
			full = 1;
		}
	}
	if (full) {
		rc = RETRY;
		goto done;
	}
	if (env->batch_events) {
		/* read from the top-level txn: rolled-back mutations' events
		 * are not in it */
		store_txn top = {.env = env, .txn = txn};
		rc = store_event_batch_seq(&top, &event_seq);
		if (rc != 0)
			goto done;
	}
	if (env->clock) {
		/* The time of this write, for the next start (store.h). A failure
		 * here leaves the transaction unusable and the commit reports it. */
		store_txn top = {.env = env, .txn = txn};
		(void)store_meta_set(&top, STORE_META_CLOCK_HIGH, (uint64_t)env->clock());
	}
	FAULT_POINT("writer.before_commit");
	rc = store_err(mdb_txn_commit(txn));
	txn = NULL;
	if (rc == STORE_IO && disk_nearly_full(env))
		rc = STORE_FULL; /* LMDB reports a short write on a full disk as EIO */
	if (rc == 0) {
		/* Before any done(): a caller told "done" sees the new count. */
		__atomic_add_fetch(&env->commits, 1, __ATOMIC_RELEASE);
		FAULT_POINT("writer.after_commit");
		if (env->batch_events) {
			/* readers may see the new events from now on */
			__atomic_store_n(&env->event_seq, event_seq, __ATOMIC_RELEASE);
			if (env->commit_hook)
				env->commit_hook(env->commit_hook_arg, event_seq);
		}
	}
done:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

/* Set m->rc and m->final for every mutation of the batch. */
static void run_batch(store_env *env, store_mutation *batch)
{
	store_mutation *m;
	size_t pending;
	int rc;

	do {
		rc = attempt(env, batch, NULL);
		for (pending = 0, m = batch; m; m = m->next)
			pending += !m->final;
	} while (rc == RETRY && pending > 0);

	if (rc == STORE_FULL && pending > 1) {
		/* The commit itself ran out of space: give each its own
		 * transaction so the small ones still go through. */
		for (m = batch; m; m = m->next) {
			if (m->final)
				continue;
			rc = attempt(env, batch, m);
			if (rc != 0 && rc != RETRY)
				m->rc = rc;
			m->final = 1;
		}
		return;
	}
	for (m = batch; m; m = m->next) {
		if (!m->final && rc != 0 && rc != RETRY)
			m->rc = rc;
		m->final = 1;
	}
}

/*
 * Detach up to BATCH_MAX queued mutations (everything, normally). The cap
 * bounds one transaction's dirty pages (MDB_TXN_FULL) and the latency of
 * its first mutation. Called with wlock held.
 */
static store_mutation *take_batch(store_env *env)
{
	store_mutation *batch = env->head, *m = batch;
	size_t n;

	for (n = 1; n < BATCH_MAX && m->next; n++)
		m = m->next;
	env->head = m->next;
	m->next = NULL;
	if (!env->head)
		env->tail = &env->head;
	return batch;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t store_writer_busy_us(store_env *env)
{
	int64_t since = __atomic_load_n(&env->busy_since_us, __ATOMIC_ACQUIRE);
	return since ? mono_us() - since : 0;
}

static void *writer_main(void *arg)
{
	store_env *env = arg;
	store_mutation *batch, *m, *next;
	store_batch_info info;
	int64_t started;
	uint64_t n;

	pthread_mutex_lock(&env->wlock);
	for (;;) {
		while (!env->head && !env->stopping)
			pthread_cond_wait(&env->wcond, &env->wlock);
		if (!env->head)
			break; /* stopping and drained */
		batch = take_batch(env);
		pthread_mutex_unlock(&env->wlock);

		started = mono_us();
		__atomic_store_n(&env->busy_since_us, started, __ATOMIC_RELEASE);
		run_batch(env, batch);
		memset(&info, 0, sizeof(info));
		for (n = 0, m = batch; m; m = m->next) {
			n++;
			info.ok += m->rc == 0;
			info.full += m->rc == STORE_FULL;
		}
		info.mutations = n;
		info.seconds = (double)(mono_us() - started) / 1e6;
		__atomic_store_n(&env->busy_since_us, 0, __ATOMIC_RELEASE);
		if (env->on_batch)
			env->on_batch(env->on_batch_arg, &info);
		/* counted before any done(), so a caller sees its own */
		pthread_mutex_lock(&env->wlock);
		env->stats.batches++;
		env->stats.mutations += n;
		if (n > env->stats.max_batch)
			env->stats.max_batch = n;
		pthread_mutex_unlock(&env->wlock);

		/* durable now: complete; done() may free m */
		for (m = batch; m; m = next) {
			next = m->next;
			m->done(m->arg, m->rc);
		}
		pthread_mutex_lock(&env->wlock);
	}
	pthread_mutex_unlock(&env->wlock);
	return NULL;
}

int store_submit(store_env *env, store_mutation *m)
{
	int rc = STORE_OK;

	if (!m || !m->apply || !m->done)
		return STORE_INVALID;
	m->next = NULL;
	m->rc = 0;
	m->final = 0;
	pthread_mutex_lock(&env->wlock);
	if (env->stopping) {
		rc = STORE_INVALID;
	} else {
		*env->tail = m;
		env->tail = &m->next;
		pthread_cond_signal(&env->wcond);
	}
	pthread_mutex_unlock(&env->wlock);
	return rc;
}

/* store_write_sync(): the mutation's arg is this, which wraps the caller's. */
struct sync_wait {
	store_mutation m;
	int (*apply)(store_txn *wtxn, void *arg);
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int rc;
};

static int sync_apply(store_txn *wtxn, void *arg)
{
	struct sync_wait *w = arg;

	return w->apply(wtxn, w->arg);
}

static void sync_done(void *arg, int rc)
{
	struct sync_wait *w = arg;

	pthread_mutex_lock(&w->lock);
	w->rc = rc;
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int store_write_sync(store_env *env, int (*apply)(store_txn *wtxn, void *arg), void *arg)
{
	struct sync_wait w = {.apply = apply, .arg = arg};
	int rc;

	w.m.apply = sync_apply;
	w.m.done = sync_done;
	w.m.arg = &w;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	rc = apply ? store_submit(env, &w.m) : STORE_INVALID;
	if (rc != 0)
		goto done;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	rc = w.rc;
done:
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

void store_writer_stats(store_env *env, store_writer_counts *st)
{
	pthread_mutex_lock(&env->wlock);
	*st = env->stats;
	pthread_mutex_unlock(&env->wlock);
}

int store_writer_start(store_env *env)
{
	if (pthread_create(&env->writer, NULL, writer_main, env) != 0)
		return STORE_IO;
	env->writer_started = 1;
	return STORE_OK;
}

void store_writer_stop(store_env *env)
{
	store_writer_counts st;

	pthread_mutex_lock(&env->wlock);
	env->stopping = 1;
	pthread_cond_broadcast(&env->wcond);
	pthread_mutex_unlock(&env->wlock);
	if (!env->writer_started)
		return;
	pthread_join(env->writer, NULL);
	env->writer_started = 0;
	store_writer_stats(env, &st);
	store_log(env, "writer: %llu mutations in %llu batches (mean %.1f, max %llu)",
		  (unsigned long long)st.mutations, (unsigned long long)st.batches,
		  st.batches ? (double)st.mutations / (double)st.batches : 0.0,
		  (unsigned long long)st.max_batch);
}

uint64_t store_commit_count(store_env *env)
{
	return __atomic_load_n(&env->commits, __ATOMIC_ACQUIRE);
}
