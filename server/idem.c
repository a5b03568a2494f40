/* idem.c: R17 in the dispatcher. See idem.h. */
#include "idem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "billingd.h"
#include "clock.h"
#include "rpc_reasons.h"
#include "store_idempotency.h"
#include "log.h"
#include "xalloc.h"

/* ---- keys in flight: a small chained hash set under one mutex ---- */

#define BUCKETS 1024

typedef struct flight {
	struct flight *next;
	char id[400];
} flight;

static struct {
	pthread_mutex_t lock;
	flight *b[BUCKETS];
} inflight = {.lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned hash_str(const char *s)
{
	unsigned h = 2166136261u; /* FNV-1a: bucket choice only */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % BUCKETS;
}

/* 1 if claimed, 0 if already in flight. */
static int claim(const char *id)
{
	unsigned h = hash_str(id);
	flight *f;
	pthread_mutex_lock(&inflight.lock);
	for (f = inflight.b[h]; f; f = f->next)
		if (strcmp(f->id, id) == 0) {
			pthread_mutex_unlock(&inflight.lock);
			return 0;
		}
	f = xmalloc(sizeof(*f));
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->next = inflight.b[h];
	inflight.b[h] = f;
	pthread_mutex_unlock(&inflight.lock);
	return 1;
}

void idem_release(idem_state *st)
{
	unsigned h = hash_str(st->id);
	flight **p;
	pthread_mutex_lock(&inflight.lock);
	for (p = &inflight.b[h]; *p; p = &(*p)->next)
		if (strcmp((*p)->id, st->id) == 0) {
			flight *f = *p;
			*p = f->next;
			free(f);
			break;
		}
	pthread_mutex_unlock(&inflight.lock);
	st->active = 0;
}

static int valid_key(const char *k, size_t n)
{
	if (n < 1 || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (k[i] < 0x21 || k[i] > 0x7e)
			return 0;
	return 1;
}

/* The first value of `key` in md copied into buf (NUL-terminated): its
 * length, -1 if absent, -2 if longer than cap - 1. */
static int md_value(const grpc_metadata_array *md, const char *key, char *buf, size_t cap)
{
	for (size_t i = 0; i < md->count; i++) {
		size_t n;
		if (grpc_slice_str_cmp(md->metadata[i].key, key) != 0)
			continue;
		n = GRPC_SLICE_LENGTH(md->metadata[i].value);
		if (n + 1 > cap)
			return -2;
		memcpy(buf, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
		buf[n] = 0;
		return (int)n;
	}
	return -1;
}

static idem_verdict answer_with(idem_answer *a, grpc_status_code code, const char *reason,
				const char *message)
{
	a->code = code;
	snprintf(a->message, sizeof(a->message), "%s", message);
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
	return IDEM_ANSWER;
}

idem_verdict idem_begin(const grpc_metadata_array *md, const char *key_account_id,
			const char *account_id, const char *path, const uint8_t *req, size_t len,
			idem_state *st, idem_answer *answer)
{
	char key[256];
	EVP_MD_CTX *sha;
	store_txn *txn;
	store_idem *rec = NULL;
	int n = md_value(md, "idempotency-key", key, sizeof(key)), rc;
	idem_verdict v = IDEM_RUN;

	memset(answer, 0, sizeof(*answer));
	if (n == -1)
		return IDEM_RUN; /* absent is fine; present but over-long is not */
	if (n < 0 || !valid_key(key, (size_t)n))
		return answer_with(answer, GRPC_STATUS_INVALID_ARGUMENT, NULL,
				   "idempotency-key: 1..255 printable ASCII characters");
	snprintf(st->id, sizeof(st->id), "%s/%s/%s", key_account_id, account_id, key);
	sha = EVP_MD_CTX_new();
	if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(sha, path, strlen(path) + 1) != 1 ||
	    EVP_DigestUpdate(sha, req, len) != 1 || EVP_DigestFinal_ex(sha, st->hash, NULL) != 1) {
		EVP_MD_CTX_free(sha);
		log_error("%s: idempotency: SHA-256 failed", path);
		return answer_with(answer, GRPC_STATUS_INTERNAL, NULL, "internal error");
	}
	EVP_MD_CTX_free(sha);

	if (!claim(st->id))
		return answer_with(
			answer, GRPC_STATUS_ABORTED, NULL,
			"a request with this idempotency-key is still running; retry later");
	st->active = 1;
	rc = store_read_begin(billingd.store, &txn);
	if (rc != 0) /* finishing the call releases the claim */
		return answer_with(answer, GRPC_STATUS_UNAVAILABLE, NULL, "server busy");
	rc = store_idem_get(txn, st->id, &rec);
	if (rc == 0 && rec->create_time + IDEM_TTL_US > clock_now_us()) {
		if (rec->request_sha256.len != 32 ||
		    memcmp(rec->request_sha256.data, st->hash, 32) != 0) {
			st->recorded = 1; /* the stored outcome stays */
			v = answer_with(answer, GRPC_STATUS_FAILED_PRECONDITION,
					REASON_IDEMPOTENCY_KEY_REUSED,
					"idempotency-key was used before with a different request");
		} else if (rec->status == IDEM_PENDING) {
			/* The first call left an order with the provider: run again
			 * and resume it (see orders_resume). */
			snprintf(st->resume_ref, sizeof(st->resume_ref), "%s", rec->message);
		} else {
			st->recorded = 1; /* a replay */
			/* The recorded outcome, byte for byte. */
			v = answer_with(answer, (grpc_status_code)rec->status, rec->reason,
					rec->message);
			if (rec->status == GRPC_STATUS_OK) {
				answer->body = xmalloc(rec->response.len);
				memcpy(answer->body, rec->response.data, rec->response.len);
				answer->body_len = rec->response.len;
			}
		}
	} else if (rc != 0 && rc != STORE_NOTFOUND) {
		log_error("%s: idempotency: reading the record: %s", path, store_strerror(rc));
		v = answer_with(answer, GRPC_STATUS_INTERNAL, NULL, "internal error");
	}
	store_record_free(rec);
	store_read_end(txn);
	return v;
}

void idem_capture(idem_state *st, grpc_status_code code, const char *message, const char *reason,
		  const uint8_t *body, size_t body_len)
{
	free(st->captured);
	st->captured = NULL;
	st->captured_len = 0;
	st->has_capture = 1;
	st->captured_status = code;
	snprintf(st->captured_message, sizeof(st->captured_message), "%s", message ? message : "");
	snprintf(st->captured_reason, sizeof(st->captured_reason), "%s", reason ? reason : "");
	if (body) {
		st->captured = xmalloc(body_len);
		memcpy(st->captured, body, body_len);
		st->captured_len = body_len;
	}
}

int idem_record(store_txn *w, const idem_state *st, const char *path, int status,
		const char *message, const char *reason)
{
	store_idem rec = STORE_IDEM_INIT;
	rec.id = (char *)st->id;
	rec.method = (char *)path;
	rec.request_sha256.data = (uint8_t *)st->hash;
	rec.request_sha256.len = 32;
	rec.status = status;
	rec.message = (char *)(message ? message : "");
	rec.reason = (char *)(reason ? reason : "");
	if (status == 0 && st->captured) { /* st->captured: the packed response */
		rec.response.data = st->captured;
		rec.response.len = st->captured_len;
	}
	rec.create_time = clock_now_us();
	return store_idem_put(w, &rec);
}

int idem_transient(int status)
{
	switch (status) {
	case GRPC_STATUS_CANCELLED:
	case GRPC_STATUS_UNKNOWN:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
	case GRPC_STATUS_ABORTED:
	case GRPC_STATUS_INTERNAL:
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DATA_LOSS: return 1;
	default: return 0;
	}
}

typedef struct async_record {
	store_mutation m;
	idem_state st; /* a copy: id, hash and the outcome */
	char path[256];
	int status;
	char message[512];
	char reason[IDEM_REASON_MAX];
	void (*done)(void *arg, int rc);
	void *arg;
} async_record;

static int apply_async(store_txn *w, void *arg)
{
	async_record *a = arg;
	return idem_record(w, &a->st, a->path, a->status, a->message, a->reason);
}

static void done_async(void *arg, int rc)
{
	async_record *a = arg;
	if (rc != 0)
		log_error("idempotency: cannot record the outcome of %s: %s", a->path,
			  store_strerror(rc));
	a->done(a->arg, rc);
	free(a->st.captured);
	free(a);
}

int idem_record_async(const idem_state *st, const char *path, int status, const char *message,
		      const char *reason, const uint8_t *body, size_t len,
		      void (*done)(void *arg, int rc), void *arg)
{
	async_record *a = xcalloc(1, sizeof(*a));
	memcpy(a->st.id, st->id, sizeof(a->st.id));
	memcpy(a->st.hash, st->hash, sizeof(a->st.hash));
	if (status == GRPC_STATUS_OK) {
		a->st.captured = xmemdup(body, len);
		a->st.captured_len = len;
	}
	snprintf(a->path, sizeof(a->path), "%s", path);
	a->status = status;
	snprintf(a->message, sizeof(a->message), "%s", message ? message : "");
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
	a->done = done;
	a->arg = arg;
	a->m.apply = apply_async;
	a->m.done = done_async;
	a->m.arg = a;
	if (store_submit(billingd.store, &a->m) != 0) {
		free(a->st.captured);
		free(a);
		return -1;
	}
	return 0;
}

/* ---- janitor ---- */

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running, stop;
} jan = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int apply_prune(store_txn *w, void *arg)
{
	size_t *pruned = arg;
	return store_idem_prune(w, clock_now_us() - IDEM_TTL_US, 1000, pruned);
}

static void *janitor_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&jan.lock);
	while (!jan.stop) {
		struct timespec until;
		size_t pruned = 0;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 60;
		pthread_cond_timedwait(&jan.cond, &jan.lock, &until);
		if (jan.stop)
			break;
		pthread_mutex_unlock(&jan.lock);
		if (store_write_sync(billingd.store, apply_prune, &pruned) == 0 && pruned)
			log_info("idempotency: pruned %zu records older than 24 h", pruned);
		pthread_mutex_lock(&jan.lock);
	}
	pthread_mutex_unlock(&jan.lock);
	return NULL;
}

void idem_janitor_start(void)
{
	jan.stop = 0;
	jan.running = pthread_create(&jan.thread, NULL, janitor_main, NULL) == 0;
}

void idem_janitor_stop(void)
{
	if (!jan.running)
		return;
	pthread_mutex_lock(&jan.lock);
	jan.stop = 1;
	pthread_cond_signal(&jan.cond);
	pthread_mutex_unlock(&jan.lock);
	pthread_join(jan.thread, NULL);
	jan.running = 0;
}
