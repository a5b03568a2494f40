#ifndef SPB_REL_H
#define SPB_REL_H

/*
 * Helpers of the reliability tests: the real billingd as a child process on
 * 127.0.0.1:0 with a fresh data directory, and a raw grpc C core client
 * that sets exactly the metadata, size and deadline a test needs and reads
 * back the status, message and ErrorInfo reason.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#define REL_DIR "/smartplus.billing.v1.DirectoryService/"
#define REL_ADMIN "/smartplus.billing.v1.AdminService/"
#define REL_BILLING "/smartplus.billing.v1.BillingService/"

typedef struct rel_server {
	pid_t pid;
	int port;
	char target[64];
	char data_dir[512];
	char log[600];
	char key[160]; /* the vendor's admin.key */
	grpc_channel *ch;
} rel_server;

/* A fresh temporary directory (under $TMPDIR or /tmp) in buf. 0 or -1. */
int rel_tmpdir(char *buf, size_t cap);
/* rm -rf */
void rel_rmtree(const char *path);

/*
 * Starts `billingd` (path from the BILLINGD environment variable or argv
 * of the test) on 127.0.0.1:0 with --data-dir data_dir --quiet-calls and the
 * NULL-terminated extra arguments, waits for its port, reads admin.key and
 * opens a channel. 0, or -1 (printed) if it did not come up.
 */
int rel_start(rel_server *s, const char *billingd, const char *data_dir, const char *const *extra);
/* SIGTERM and wait; returns its exit status (0 clean), -1 if it had to be
 * killed. Closes the channel. */
int rel_stop(rel_server *s);

typedef struct rel_result {
	grpc_status_code status;
	char message[512];
	char reason[128]; /* ErrorInfo reason or "" */
	uint8_t *body;    /* response bytes on OK (free with rel_result_free) */
	size_t len;
} rel_result;

typedef struct rel_md {
	const char *key;
	const char *value;
	size_t value_len; /* 0: strlen(value) */
} rel_md;

/*
 * One unary call on ch: request bytes req[len], metadata md[nmd] (plus
 * `authorization: Bearer <bearer>` when bearer is not NULL), deadline in ms
 * from now (0: none; negative: already past by that much).
 */
void rel_call_raw(grpc_channel *ch, const char *path, const char *bearer, const rel_md *md,
		  size_t nmd, const uint8_t *req, size_t len, int deadline_ms, rel_result *r);
/* Packs msg and calls with 10 s deadline. */
void rel_call(grpc_channel *ch, const char *path, const char *bearer, const ProtobufCMessage *msg,
	      rel_result *r);
void rel_result_free(rel_result *r);

/*
 * Pages through a List RPC with the vendor key and counts the elements of
 * the response's repeated field `items`. req is the request with its filter
 * set (its page_token field is used, then reset to ""). Returns the count,
 * or -1 with *status set (may be NULL) when a page failed.
 */
long rel_list_count(rel_server *s, const char *path, ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, const char *items,
		    grpc_status_code *status);

/* Short name of a status for messages. */
const char *rel_status_name(grpc_status_code c);

#endif
