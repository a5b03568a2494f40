/*
 * store.h - billingd storage: one LMDB environment, domain-level tables.
 *
 * Caveats, read these first:
 *
 *  - Threads. Reads run on the calling thread: store_read_begin() hands out
 *    a read transaction cached per thread (MDB_NOTLS, reset/renewed). Writes
 *    never run on the calling thread: they are submitted to the single writer
 *    thread (store_submit) which group-commits them. A read never waits for
 *    the writer and never sees a half-applied mutation.
 *  - Keep read transactions short: a long reader pins old pages and makes the
 *    map grow. Never hold one across a network call.
 *  - Memory. Nothing returned by this API points into the LMDB map. Every
 *    record handed out is a fresh protobuf-c message owned by the caller and
 *    released with store_record_free() (or store_list_free() for lists).
 *  - fork(). Never use a store_env in a child process; open a new one.
 *  - Errors. Every function returns 0 or one of the negative STORE_* codes
 *    below. LMDB codes are translated once, here; callers never see them.
 */
#ifndef SPB_STORE_H
#define SPB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store.pb-c.h"

/* Record types (the storage proto, not the API messages). */
typedef Smartplus__Billing__Store__V1__AccountRecord store_account;
typedef Smartplus__Billing__Store__V1__ProjectRecord store_project;
typedef Smartplus__Billing__Store__V1__ItemRecord store_item;
typedef Smartplus__Billing__Store__V1__ItemRecord__AutoRenew store_auto_renew;
typedef Smartplus__Billing__Store__V1__PriceRecord store_price;
typedef Smartplus__Billing__Store__V1__CreditPriceRecord store_credit_price;
typedef Smartplus__Billing__Store__V1__ApiKeyRecord store_apikey;

#define STORE_ACCOUNT_INIT SMARTPLUS__BILLING__STORE__V1__ACCOUNT_RECORD__INIT
#define STORE_PROJECT_INIT SMARTPLUS__BILLING__STORE__V1__PROJECT_RECORD__INIT
#define STORE_ITEM_INIT SMARTPLUS__BILLING__STORE__V1__ITEM_RECORD__INIT
#define STORE_AUTO_RENEW_INIT SMARTPLUS__BILLING__STORE__V1__ITEM_RECORD__AUTO_RENEW__INIT
#define STORE_PRICE_INIT SMARTPLUS__BILLING__STORE__V1__PRICE_RECORD__INIT
#define STORE_CREDIT_PRICE_INIT SMARTPLUS__BILLING__STORE__V1__CREDIT_PRICE_RECORD__INIT
#define STORE_APIKEY_INIT SMARTPLUS__BILLING__STORE__V1__API_KEY_RECORD__INIT

/* Item status as stored; EXPIRED is derived by readers from expires_at. */
#define STORE_ITEM_INACTIVE 1
#define STORE_ITEM_ACTIVE 2

/*
 * Error codes. All negative, so a mutation's apply() may return its own
 * positive codes and have them passed through to its done() untouched.
 */
enum {
	STORE_OK = 0,
	STORE_NOTFOUND = -1,     /* no such record */
	STORE_EXISTS = -2,       /* create of a record that already exists */
	STORE_FULL = -3,         /* map full (MDB_MAP_FULL, MDB_TXN_FULL) */
	STORE_READERS_FULL = -4, /* no free reader slot (MDB_READERS_FULL) */
	STORE_CORRUPT = -5,      /* undecodable value, unknown codec version */
	STORE_INVALID = -6,      /* bad argument, bad page token, read-only txn */
	STORE_IO = -7,           /* anything else: I/O, fsync, commit failure */
};

/* Static English text for a STORE_* code (or "unknown error"); never NULL. */
const char *store_strerror(int rc);

/* Schema version this build writes and the newest it can open. */
#define STORE_SCHEMA_VERSION 1

typedef struct store_env store_env;
typedef struct store_txn store_txn;

/* ------------------------------------------------------------------------
 * Environment
 */

/* What one write batch did (store_options.on_batch). */
typedef struct store_batch_info {
	size_t mutations; /* in the batch */
	size_t ok;        /* applied and committed */
	size_t full;      /* refused STORE_FULL (the map or the disk) */
	double seconds;   /* applying and committing it, fsync included */
} store_batch_info;

typedef struct store_options {
	const char *path;     /* directory; created (0700) if missing; its
			       * parent must exist */
	size_t map_size;      /* bytes; 0 = 32 GiB */
	unsigned max_readers; /* 0 = 256 */
	/* Optional log sink for one-line operational messages (stale readers
	 * cleared, writer statistics). NULL = fprintf(stderr). Called from the
	 * thread doing the work (open, close). */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* Optional observer of every write batch (metrics, health), called on
	 * the writer thread after the commit and before any done(). Keep it
	 * short and non-blocking. */
	void (*on_batch)(void *arg, const store_batch_info *batch);
	void *on_batch_arg;
	/* Optional: the server's clock (unix micros). When set, every write
	 * transaction also records it as meta STORE_META_CLOCK_HIGH, so the
	 * store knows the latest time anything in it was written at (the
	 * server's clock never goes back across restarts). */
	int64_t (*clock)(void);
} store_options;

#define STORE_OPTIONS_INIT                               \
	{                                                \
		NULL, 0, 0, NULL, NULL, NULL, NULL, NULL \
	}

/* Meta value: the store_options.clock of the last write transaction. */
#define STORE_META_CLOCK_HIGH "clock_high_us"

/*
 * Open (creating if needed) the store in opts->path, run the stale-reader
 * check, check or write the schema version, start the writer thread.
 * On success *out is the new environment (free with store_close()). On
 * failure returns a STORE_* code, *out is NULL and, if err is not NULL, a
 * NUL-terminated description (e.g. "store schema version 3 is newer than
 * this billingd supports (1)") is written to err[errlen].
 */
int store_open(const store_options *opts, store_env **out, char *err, size_t errlen);

/*
 * Drain the writer queue (every submitted mutation is applied and its done()
 * called), join the writer, release cached read transactions, close LMDB and
 * log the writer statistics. Every other thread must have stopped using env
 * (and ended its reads) first. NULL does nothing.
 */
void store_close(store_env *env);

/*
 * One process per data directory. A process that serves or rewrites the
 * store (billingd, `billingd admin-key`) holds an exclusive lock on
 * <path>/billingd.lock (an open-file-description fcntl lock: released when
 * the process exits, however it exits, or by store_dir_unlock) with its pid
 * written in the file. Readers that may run beside a server (hot backup,
 * tests inspecting a store) do not take it. Creates path (0700) if missing.
 * Returns 0 with *out set; STORE_EXISTS when another holder has it, with
 * *holder = its pid (0 if the file names none); STORE_IO otherwise, with a
 * description in err (may be NULL).
 */
typedef struct store_lock store_lock;
int store_dir_lock(const char *path, store_lock **out, long *holder, char *err, size_t errlen);
/* Releases the lock and frees l. NULL does nothing. */
void store_dir_unlock(store_lock *l);

/* ------------------------------------------------------------------------
 * Reads
 */

/*
 * Begin a read transaction on the calling thread; it sees the last committed
 * state and never blocks on the writer. The handle is only valid on this
 * thread until store_read_end(). Nested begin on one thread is allowed (the
 * inner one gets a fresh LMDB transaction). Errors: STORE_READERS_FULL,
 * STORE_IO.
 */
int store_read_begin(store_env *env, store_txn **out);

/* End a read transaction from store_read_begin(). NULL does nothing. */
void store_read_end(store_txn *txn);

/* ------------------------------------------------------------------------
 * Writes: one writer thread, group commit
 */

/*
 * A mutation. The caller allocates it (typically embedded in its own
 * request struct), fills apply/done/arg and submits it; it must stay valid
 * and untouched until done() is called. After done() returns the writer
 * never touches it again, so done() may free it.
 *
 * apply(wtxn, arg) runs on the writer thread inside its own nested
 * transaction; it uses the table functions below with wtxn. Return 0 to
 * keep its writes, anything else (a STORE_* code or the caller's own
 * positive code) to roll back exactly its writes. apply may be run more
 * than once (after a map-full in its batch, the innocent mutations are
 * re-applied in a fresh transaction), so it must have no effect outside
 * wtxn (nor change its inputs). It must not block on anything slow (no
 * network) and must never wait for another mutation (store_write_sync from
 * apply or done deadlocks; store_submit from done is fine).
 *
 * done(arg, rc) runs on the writer thread after the batch commit has
 * returned (durable, fsynced), with rc = apply's code, or the commit's
 * error (STORE_FULL, STORE_IO) when the commit failed. Keep it short: hand
 * the result to the waiting thread.
 */
typedef struct store_mutation {
	int (*apply)(store_txn *wtxn, void *arg);
	void (*done)(void *arg, int rc);
	void *arg;
	/* Optional: after apply returned a positive code and its writes were
	 * rolled back, failed(wtxn, arg, rc) runs in a fresh nested txn of the
	 * same batch; its writes are kept when it returns 0. Used to record a
	 * refusal durably with the batch (idempotent replay). */
	int (*failed)(store_txn *wtxn, void *arg, int rc);
	/* writer-private */
	struct store_mutation *next;
	int rc;
	int final;
} store_mutation;

/*
 * Queue m for the writer. Returns 0, or STORE_INVALID when the store is
 * closing (done() is then never called).
 */
int store_submit(store_env *env, store_mutation *m);

/* Submit apply(arg) and wait for it to be durable; returns its rc. */
int store_write_sync(store_env *env, int (*apply)(store_txn *wtxn, void *arg), void *arg);

typedef struct store_writer_counts {
	uint64_t batches;   /* committed (or failed) write transactions */
	uint64_t mutations; /* mutations completed */
	uint64_t max_batch; /* largest batch seen */
} store_writer_counts;

/* Number of write transactions committed since store_open(). It moves after
 * a commit and before that batch's done() callbacks, so anything read before
 * a given value was observed is still current while the count has not moved
 * (used to cache derived data such as authenticated keys). */
uint64_t store_commit_count(store_env *env);

/* Snapshot of the writer's counters since store_open(). */
void store_writer_stats(store_env *env, store_writer_counts *st);

/* The LMDB environment's size and readers (metrics). */
typedef struct store_env_stats {
	uint64_t map_size;   /* bytes reserved (--map-size) */
	uint64_t used_bytes; /* pages in use times the page size */
	unsigned max_readers;
	unsigned readers; /* reader slots in use */
} store_env_stats;
int store_env_stats_get(store_env *env, store_env_stats *out);

/* How long the batch the writer is working on has run, in microseconds
 * (0 when it is idle): a stalled disk shows here first. Any thread. */
int64_t store_writer_busy_us(store_env *env);

/* ------------------------------------------------------------------------
 * Records and lists
 */

/* Replaces a string field of a record returned by a getter with a copy of
 * v (the record keeps owning it; store_record_free releases it). Knows that
 * protobuf-c shares one static "" for absent strings. */
void store_str_set(char **field, const char *v);

/* Free any record returned by a getter. NULL does nothing. */
void store_record_free(void *rec);

/*
 * The result of a List: items[0..n) are records of the list's type, owned
 * by the list. next_page_token is a malloc'd opaque string to pass back as
 * page_token for the next page, or NULL when there is no next page.
 */
typedef struct store_list {
	void **items;
	size_t n;
	char *next_page_token;
} store_list;

/* Free the records, the array and the token; leaves *l empty. */
void store_list_free(store_list *l);

/*
 * Every List takes page_size (<= 0 means 100; capped at 1000) and
 * page_token (NULL or "" for the first page). A token that is not one this
 * same list (same table, same parent, same filter) produced gives
 * STORE_INVALID. On error *out is left empty.
 *
 * A page also ends early, with a next_page_token, once the records in it
 * reach STORE_PAGE_BYTES encoded (at least one record per page): the answer
 * a List handler builds from a page then stays far below the 4 MiB a
 * default gRPC client accepts, whatever the records hold.
 */
#define STORE_PAGE_DEFAULT 100
#define STORE_PAGE_MAX 1000
#define STORE_PAGE_BYTES (1024 * 1024)

/* ------------------------------------------------------------------------
 * Accounts
 *
 * All *_put functions need a write transaction (apply's wtxn), else
 * STORE_INVALID; getters take either. Getters return STORE_NOTFOUND when
 * absent and set *out to a record the caller frees with store_record_free().
 */

/* Insert or replace; with create != 0, STORE_EXISTS if the id is taken.
 * Keeps the children index in step when parent_id changes. */
int store_account_put(store_txn *w, const store_account *rec, int create);
int store_account_get(store_txn *txn, const char *account_id, store_account **out);
/* Children of parent_id, ordered by account id. */
int store_account_list_children(store_txn *txn, const char *parent_id, int page_size,
				const char *page_token, store_list *out);
/* *result = 1 if ancestor_id is descendant_id or one of its ancestors
 * (following parent ids, at most 6 hops), else 0. STORE_NOTFOUND if
 * descendant_id does not exist, STORE_CORRUPT on a deeper chain (a cycle). */
int store_account_is_self_or_ancestor(store_txn *txn, const char *ancestor_id,
				      const char *descendant_id, int *result);

/* ------------------------------------------------------------------------
 * Projects
 */

int store_project_put(store_txn *w, const store_project *rec, int create);
int store_project_get(store_txn *txn, const char *project_id, store_project **out);
/* Projects of an installer, ordered by (type, project id); type 0 = all. */
int store_project_list_by_installer(store_txn *txn, const char *installer_id, int32_t type,
				    int page_size, const char *page_token, store_list *out);

/* ------------------------------------------------------------------------
 * Items
 */

/*
 * Insert or replace an item; keeps the project, creation-order and expiry
 * indexes in step. create_seq belongs to the store and rec->create_seq is
 * ignored: an insert takes the next value of the meta counter "item_seq",
 * an update keeps the stored one (read it back with store_item_get()).
 * create != 0: STORE_EXISTS if the id is taken. Changing an item's project
 * or service type is allowed and moves its index entries.
 */
int store_item_put(store_txn *w, const store_item *rec, int create);
int store_item_get(store_txn *txn, const char *item_id, store_item **out);
/* Delete an item and its index entries; STORE_NOTFOUND if absent. */
int store_item_delete(store_txn *w, const char *item_id);
/* Items of a project ordered by item id. */
int store_item_list_by_project(store_txn *txn, const char *project_id, int page_size,
			       const char *page_token, store_list *out);
/* Number of items in a project. */
int store_item_count(store_txn *txn, const char *project_id, size_t *count);
/* The n oldest (by create_seq) items of one service type in a project,
 * oldest first; fewer if there are fewer. out->next_page_token is NULL. */
int store_item_oldest(store_txn *txn, const char *project_id, int32_t service_type, size_t n,
		      store_list *out);
/* The time an AUTO item's next renewal attempt is due: its next_attempt if
 * set (a retry), else its expires_at; 0 when auto-renew is off or an open
 * renewal order holds it (auto_renew.order_id: that order's own schedule
 * applies). The caller renews it once this time minus the lead time has
 * come. */
int64_t store_item_auto_due(const store_item *it);
/* Up to n AUTO items whose due time is < t, soonest first: the scheduler's
 * scan, through an index holding AUTO items only. */
int store_item_auto_due_before(store_txn *txn, int64_t t, size_t n, store_list *out);
/* The members of a renewal group (items whose auto_renew.group_id is
 * group_id, whether auto-renew is on or not), ordered by item id. */
int store_item_list_by_group(store_txn *txn, const char *group_id, int page_size,
			     const char *page_token, store_list *out);
/* The number of members of a renewal group. */
int store_item_count_by_group(store_txn *txn, const char *group_id, size_t *count);
/* Items with 0 < expires_at < t, soonest first (for the renewal scan). */
int store_item_expiring_before(store_txn *txn, int64_t t, int page_size, const char *page_token,
			       store_list *out);
/* Up to n (<= STORE_PAGE_MAX) items with from <= expires_at < to, soonest
 * first, then by id; with after_id, only those after (from, after_id) in
 * that order, so a bounded walk resumes where it stopped (the expiry sweep
 * of the events). */
int store_item_expiring_range(store_txn *txn, int64_t from, const char *after_id, int64_t to,
			      size_t n, store_list *out);

/* ------------------------------------------------------------------------
 * Prices. Every put bumps the price-list version in the same transaction.
 */

int store_price_put(store_txn *w, const store_price *rec);
int store_price_get(store_txn *txn, int32_t project_type, int32_t service_type, store_price **out);
/* Prices ordered by (project type, service type); project_type 0 = all. */
int store_price_list(store_txn *txn, int32_t project_type, int page_size, const char *page_token,
		     store_list *out);
int store_credit_price_put(store_txn *w, const store_credit_price *rec);
int store_credit_price_get(store_txn *txn, const char *currency, store_credit_price **out);
/* The credit price set last (whatever its currency); STORE_NOTFOUND if
 * none was ever set. */
int store_credit_price_current(store_txn *txn, store_credit_price **out);
/* Current price-list version: 0 before any price was written. */
int store_price_version(store_txn *txn, uint64_t *version);

/* ------------------------------------------------------------------------
 * API keys
 */

int store_apikey_put(store_txn *w, const store_apikey *rec, int create);
int store_apikey_get(store_txn *txn, const char *key_id, store_apikey **out);
/* Keys of an account ordered by key id. */
int store_apikey_list_by_account(store_txn *txn, const char *account_id, int page_size,
				 const char *page_token, store_list *out);

/* ------------------------------------------------------------------------
 * Meta: schema version and named counters
 */

/* Schema version recorded in the store. */
int store_meta_schema_version(store_txn *txn, uint32_t *version);
/* Increment counter name (created at 0) and set *value to the new value:
 * the first call returns 1. Write transaction only. */
int store_meta_next(store_txn *w, const char *name, uint64_t *value);
/* Sets a named value (a counter or a setting such as the test clock). Write
 * transaction only. */
int store_meta_set(store_txn *w, const char *name, uint64_t value);
/* Current value of a counter, 0 if never incremented. */
int store_meta_get(store_txn *txn, const char *name, uint64_t *value);

/* ------------------------------------------------------------------------
 * Codec (exposed for fuzzing and tools)
 */

#define STORE_CODEC_VERSION 1

/*
 * Decode a stored value (version byte + packed message of type desc) from
 * arbitrary bytes. Never crashes on any input. Returns 0 and a message the
 * caller frees with store_record_free(), or STORE_CORRUPT (empty, unknown
 * version, malformed message) with *out = NULL.
 */
int store_codec_decode(const ProtobufCMessageDescriptor *desc, const void *data, size_t len,
		       ProtobufCMessage **out);

/* Size of the encoded value of msg, and encode it into buf (which must hold
 * store_codec_size(msg) bytes). */
size_t store_codec_size(const ProtobufCMessage *msg);
void store_codec_encode(const ProtobufCMessage *msg, uint8_t *buf);

#endif /* SPB_STORE_H */
