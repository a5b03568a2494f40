/*
 * spt_raw.h - raw unary calls on grpc C core, for tests that must send what
 * the SDK never would: arbitrary bytes, metadata, sizes and deadlines. Each
 * returns the status, its message, the google.rpc.ErrorInfo reason and the
 * response bytes. Safe from any thread; grpc is initialised on first use.
 */
#ifndef SPT_RAW_H
#define SPT_RAW_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#define SPT_DIRECTORY "/smartplus.billing.v1.DirectoryService/"
#define SPT_ADMIN "/smartplus.billing.v1.AdminService/"
#define SPT_BILLING "/smartplus.billing.v1.BillingService/"

typedef struct spt_raw_result {
	int status; /* grpc_status_code, or -1 when the call did not complete */
	char message[512];
	char reason[128]; /* ErrorInfo.reason from grpc-status-details-bin, or "" */
	char meta[512];   /* its metadata as "key=value" lines sorted by key, or "" */
	uint8_t *body;    /* response bytes (malloc'ed) or NULL; spt_raw_free */
	size_t len;
} spt_raw_result;

typedef struct spt_md {
	const char *key;
	const char *value;
	size_t value_len; /* 0: strlen(value) */
} spt_md;

/* An insecure channel to target with its own subchannel pool (no
 * connection shared with a server stopped before on a reused port).
 * grpc_channel_destroy() it. */
grpc_channel *spt_raw_channel(const char *target);

/*
 * One unary call of path on ch: req[len] as the only message, metadata
 * md[nmd] (plus "authorization: Bearer <bearer>" when bearer is not NULL),
 * a deadline deadline_ms from now (0: none; negative: already past).
 * Always fills r (free with spt_raw_free).
 */
void spt_raw_call(grpc_channel *ch, const char *path, const char *bearer, const spt_md *md,
		  size_t nmd, const void *req, size_t len, int deadline_ms, spt_raw_result *r);

/* Packs msg and calls with a 10 s deadline. */
void spt_raw_call_msg(grpc_channel *ch, const char *path, const char *bearer,
		      const ProtobufCMessage *msg, spt_raw_result *r);

/* One call on a channel of its own: md is a NULL-terminated list of key,
 * value, key, value, ... (may be NULL); 5 s deadline. 0 when the call
 * completed (whatever its status), -1 otherwise. */
int spt_raw_once(const char *target, const char *path, const void *req, size_t len,
		 const char *const *md, spt_raw_result *r);

void spt_raw_free(spt_raw_result *r);

/*
 * Pages through a List RPC (bearer's key) and counts the elements of the
 * response's repeated field `items`. req has its filter set; its
 * page_token is used, then reset to "". The count, or -1 with *status (may
 * be NULL) set when a page failed.
 */
long spt_raw_list_count(grpc_channel *ch, const char *bearer, const char *path,
			ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
			const char *items, int *status);

/* "OK", "PERMISSION_DENIED", ... (spb_status_name; -1: "UNKNOWN_STATUS"). */
const char *spt_status_name(int code);

#endif
