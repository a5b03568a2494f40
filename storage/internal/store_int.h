/*
 * store_int.h - internals shared by the storage modules (and white-box
 * tests). Not part of the storage API: server code includes store.h only.
 */
#ifndef SPB_STORE_INT_H
#define SPB_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "store.h"

/* Named databases, one per table family. */
enum store_db {
	DB_META,
	DB_ACCOUNTS,
	DB_PROJECTS,
	DB_ITEMS,
	DB_PRICES,
	DB_APIKEYS,
	DB_ORDERS,      /* orders, quotes, coupons (order engine) */
	DB_LEDGER,      /* credit transfers, balances (ledger) */
	DB_POLICIES,    /* installer payment policies */
	DB_IDEMPOTENCY, /* R17 idempotency records */
	DB_INVOICES,    /* invoices, credit notes, tax rates (store_invoice.h) */
	DB_EVENTS,      /* the outbox (store_event.h) */
	DB_WEBHOOKS,    /* webhook endpoints and deliveries (store_webhook.h) */
	DB_COUNT
};

/*
 * Key classes (first key byte) inside each database. Records are
 * class + id + NUL; index entries end with the referenced id and their
 * value is that id (no NUL), so a scan can fetch the record.
 */
#define KC_META_SCHEMA 'S'    /* meta: schema version (be32) */
#define KC_META_COUNTER 'C'   /* meta: name\0 -> be64 */
#define KC_ACCOUNT 'A'        /* accounts: id\0 -> AccountRecord */
#define KC_ACCOUNT_CHILD 'C'  /* accounts: parent\0 child\0 -> child */
#define KC_PROJECT 'P'        /* projects: id\0 -> ProjectRecord */
#define KC_PROJECT_INST 'I'   /* projects: inst\0 type project\0 -> project */
#define KC_ITEM 'I'           /* items: id\0 -> ItemRecord */
#define KC_ITEM_PROJECT 'P'   /* items: project\0 item\0 -> item */
#define KC_ITEM_SEQ 'S'       /* items: project\0 stype seq -> item */
#define KC_ITEM_EXPIRY 'E'    /* items: expires_at item\0 -> item */
#define KC_ITEM_AUTO_DUE 'A'  /* items: due item\0 -> item (AUTO items only) */
#define KC_ITEM_GROUP 'G'     /* items: group\0 item\0 -> item (renewal group members) */
#define KC_PRICE 'R'          /* prices: ptype stype -> PriceRecord */
#define KC_CREDIT_PRICE 'C'   /* prices: currency\0 -> CreditPriceRecord */
#define KC_APIKEY 'K'         /* apikeys: id\0 -> ApiKeyRecord */
#define KC_APIKEY_ACCOUNT 'A' /* apikeys: account\0 key\0 -> key */

struct store_txn {
	store_env *env;
	MDB_txn *txn;
	int rdonly;
	int cached;             /* this thread's cached read txn (reset, not aborted) */
	int in_use;             /* cached txn currently handed out */
	struct store_txn *next; /* env->readers list of cached txns */
};

struct store_env {
	MDB_env *mdb;
	MDB_dbi dbi[DB_COUNT];
	void (*log)(void *arg, const char *line);
	void *log_arg;
	void (*on_batch)(void *arg, const store_batch_info *batch);
	void *on_batch_arg;
	int64_t busy_since_us;  /* monotonic start of the running batch, 0 idle; atomic */
	int64_t (*clock)(void); /* store_options.clock */

	/* per-thread cached read transactions */
	pthread_key_t rkey;
	int rkey_ok;
	pthread_mutex_t rlock; /* protects readers */
	struct store_txn *readers;

	/* writer queue; wlock protects everything below */
	pthread_t writer;
	int writer_started;
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	store_mutation *head;
	store_mutation **tail;
	int stopping;
	store_writer_counts stats;
	uint64_t commits; /* successful commits; atomic (store_commit_count) */

	/* the outbox (event.c): set by the writer thread only */
	int batch_events;   /* the batch being applied appended events */
	uint64_t event_seq; /* last committed event seq; atomic */
	void (*commit_hook)(void *arg, uint64_t last_seq);
	void *commit_hook_arg;
};

/* env.c */
int store_err(int mdb_rc);
void store_log(store_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int store_writable(const store_txn *txn);

/* writer.c */
int store_writer_start(store_env *env);
void store_writer_stop(store_env *env);

/* keys.c: building keys. Overflow is sticky and checked by key_ok(). */
#define STORE_KEY_MAX 511
typedef struct store_key {
	uint8_t b[STORE_KEY_MAX];
	size_t len;
	int overflow;
} store_key;

void key_init(store_key *k, uint8_t cls);
void key_u32(store_key *k, uint32_t v);
void key_u64(store_key *k, uint64_t v);
/* Append s and its NUL (ids never contain NUL, so ranges sort by id). */
void key_str(store_key *k, const char *s);
/* Append one NUL byte: k + "\0" is the first possible key after k. */
void key_nul(store_key *k);
/* 0, or STORE_INVALID on overflow or a NULL id. */
int key_ok(const store_key *k);
uint64_t get_be64(const uint8_t *p);
void put_be32(uint8_t *p, uint32_t v);
void put_be64(uint8_t *p, uint64_t v);
uint32_t get_be32(const uint8_t *p);
MDB_val key_val(const store_key *k);

/* Page tokens: base64url (no padding) of a key. */
char *store_token_encode(const void *key, size_t len);
int store_token_decode(const char *tok, store_key *k);

/*
 * A range scan over the keys starting with prefix, in key order, one page.
 * rec_class = 0: the values are records; otherwise the values are ids of
 * records stored at rec_class + id + NUL in the same database. stop (may be
 * NULL) ends the range early when it returns nonzero for a key.
 * limit = number of records; want_token = produce next_page_token.
 */
typedef struct store_scan {
	enum store_db db;
	const store_key *prefix;
	uint8_t rec_class;
	const ProtobufCMessageDescriptor *desc;
	int (*stop)(const MDB_val *key, void *arg);
	void *stop_arg;
} store_scan;

int store_scan_page(store_txn *txn, const store_scan *s, int page_size, const char *page_token,
		    store_list *out);
int store_scan_n(store_txn *txn, const store_scan *s, size_t n, store_list *out);
/* Number of keys starting with prefix. */
int store_scan_count(store_txn *txn, enum store_db db, const store_key *prefix, size_t *count);

/* codec.c: records in a table */
int store_rec_get(store_txn *txn, enum store_db db, const store_key *k,
		  const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out);
/* create != 0: STORE_EXISTS if the key is taken. */
int store_rec_put(store_txn *w, enum store_db db, const store_key *k, const ProtobufCMessage *msg,
		  int create);
int store_raw_get(store_txn *txn, enum store_db db, const store_key *k, MDB_val *val);
int store_raw_put(store_txn *w, enum store_db db, const store_key *k, const void *val, size_t len);
/* Index entry whose value is the id (as string, no NUL). */
int store_idx_put(store_txn *w, enum store_db db, const store_key *k, const char *id);
/* Delete; a missing key is not an error. */
int store_raw_del(store_txn *w, enum store_db db, const store_key *k);

/*
 * A table: records at rec_class + id + NUL in db, each with up to
 * STORE_MAX_INDEX index entries (value = the record's id) derived from the
 * record by index_keys(), so put and delete keep them in step.
 */
#define STORE_MAX_INDEX 5
typedef struct store_table {
	enum store_db db;
	uint8_t rec_class;
	const ProtobufCMessageDescriptor *desc;
	/* Fill keys[] for rec; return how many (0..STORE_MAX_INDEX). */
	int (*index_keys)(const ProtobufCMessage *rec, store_key *keys);
} store_table;

void store_table_key(const store_table *t, const char *id, store_key *k);
int store_table_get(store_txn *txn, const store_table *t, const char *id, ProtobufCMessage **out);
int store_table_put(store_txn *w, const store_table *t, const char *id, const ProtobufCMessage *rec,
		    int create);
int store_table_delete(store_txn *w, const store_table *t, const char *id);
/* The scan of index entries (prefix) resolving to records of t. */
void store_table_scan(const store_table *t, const store_key *prefix, store_scan *s);

/* event.c: reads the committed event_seq at open; after a batch that
 * appended events, its last seq from the batch's top-level txn. */
int store_event_open(store_env *env, store_txn *txn);
int store_event_batch_seq(store_txn *top, uint64_t *seq);

/* meta.c: white-box hook for tests (a newer schema version). */
int store_meta_set_schema(store_txn *w, uint32_t version);

#endif /* SPB_STORE_INT_H */
