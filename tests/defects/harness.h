#ifndef SPB_ITEST_HARNESS_H
#define SPB_ITEST_HARNESS_H

/*
 * harness.h: the integration-test harness.
 *
 * Starts the real billingd (path given on the command line by ctest) on
 * 127.0.0.1:0 with a fresh mkdtemp data directory, waits for its port file,
 * reads the vendor's admin.key and hands out SDK clients. It stops the
 * server with SIGTERM (reporting its exit status), kills it with SIGKILL, and
 * restarts it on the same data directory. billingd's stderr goes to a log
 * file in the temp directory (itest_server.log_path).
 *
 * Also: helpers to build a reseller tree and mint a key per account through
 * the SDK, and a raw unary call on grpc C core (one batch) that sends
 * arbitrary bytes to any method path and returns the status, message,
 * google.rpc.ErrorInfo reason and response bytes.
 *
 * Every wait is bounded. Nothing here calls abort() on a failure: functions
 * return -1 and print why to stderr, so a CUnit test can assert on them.
 */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spbilling.h"

#define ITEST_MAX_ARGS 16
#define ITEST_KEY_MAX 128

typedef struct itest_server {
	char bin[PATH_MAX];
	char dir[256]; /* mkdtemp root: data/, port, billingd.log */
	char data_dir[PATH_MAX];
	char port_file[PATH_MAX];
	char log_path[PATH_MAX];
	char *extra[ITEST_MAX_ARGS]; /* extra billingd args (owned copies) */
	int n_extra;
	pid_t pid; /* 0 when not running */
	int port;
	char target[64]; /* "127.0.0.1:<port>" */
	char admin_key[ITEST_KEY_MAX];
} itest_server;

/* The billingd path of this test program (argv[1]); set by itest_main_args. */
extern const char *itest_billingd;

/* Reads argv[1] as the billingd path; returns 0, or -1 with a usage line. */
int itest_main_args(int argc, char **argv);

/* Starts billingd on a fresh temp data dir; extra is NULL-terminated (may be
 * NULL). 0 on success. */
int itest_start(itest_server *s, const char *bin, const char *const *extra);
/* Starts it again on the same data dir (after a stop or a kill). */
int itest_restart(itest_server *s);
/* SIGTERM, waits (bounded: 20 s, then SIGKILL) and returns the exit code
 * (0 = clean), or -1 if it did not exit by itself / died from a signal. */
int itest_stop(itest_server *s);
/* 1 while billingd runs; 0 (and a line on stderr) once it has died. */
int itest_alive(itest_server *s);
/* SIGKILL and reap. */
void itest_kill9(itest_server *s);
/* Stops it if running (SIGKILL) and removes the temp directory. */
void itest_cleanup(itest_server *s);

/* A client for the server with `key` as its default bearer key (NULL: the
 * admin key; "" : none). */
spb_client *itest_client(const itest_server *s, const char *key);

/* Runs `bin` with argv (NULL-terminated, argv[0] not included), stdout and
 * stderr to /dev/null; returns its exit code, or -1 if it did not exit
 * within timeout_ms (it is then killed) or died from a signal. */
int itest_run_exit_code(const char *bin, const char *const *args, int timeout_ms);

/* The last line of the server log containing `needle`, copied into buf
 * (NUL-terminated). 0 found, -1 not. */
int itest_log_find_last(const itest_server *s, const char *needle, char *buf, size_t cap);

/* Reads a whole file into a malloc'ed, NUL-terminated string, or NULL. */
char *itest_read_file(const char *path);

/* ---- the tree ---- */

typedef struct itest_account {
	const char *id;
	int role; /* Role enum value */
	const char *parent;
	char key[ITEST_KEY_MAX]; /* filled by itest_build_tree */
	char key_id[17];
} itest_account;

/* Creates every account (in order; parents first) through `vendor` and mints
 * an ACCOUNT key for each. 0 on success. */
int itest_build_tree(spb_client *vendor, itest_account *accts, size_t n);

/* CreateAccount through `c` with options `o` (may be NULL). Returns the SDK
 * code (0 ok). */
int itest_create_account(spb_client *c, const spb_call_options *o, const char *id, int role,
			 const char *parent);

/* CreateApiKey for `account` through `c`; copies the secret into key[] and
 * the key id into key_id[17] (either may be NULL). Returns the SDK code. */
int itest_create_key(spb_client *c, const spb_call_options *o, const char *account, int scope,
		     char *key, char *key_id);

/* CreateProject of a COMMUNITY (or `type`) project. Returns the SDK code. */
int itest_create_project(spb_client *c, const spb_call_options *o, const char *id,
			 const char *installer, int type, const char *pm, int pms_integrated);

/* CreateItems with one item of service_type. Returns the SDK code. */
int itest_create_item(spb_client *c, const spb_call_options *o, const char *project,
		      const char *item_id, int service_type);

/* ---- raw calls ---- */

typedef struct itest_raw_result {
	int status; /* grpc_status_code, or -1 when the call failed locally */
	char message[512];
	char reason[128]; /* ErrorInfo.reason from grpc-status-details-bin, or "" */
	uint8_t *body;    /* response bytes (malloc'ed) or NULL */
	size_t body_len;
} itest_raw_result;

/* One unary call on grpc C core: initial metadata from md (NULL-terminated
 * list of key, value, key, value, ...; may be NULL), `req` bytes as the only
 * message, one batch with every op, 5 s deadline. 0 if the call completed
 * (whatever its status), -1 otherwise. Free with itest_raw_free. */
int itest_raw_call(const char *target, const char *path, const void *req, size_t req_len,
		   const char *const *md, itest_raw_result *out);
void itest_raw_free(itest_raw_result *r);

/* A unique id with a prefix (process-wide counter): "<prefix><n>". */
void itest_unique_id(char *buf, size_t cap, const char *prefix);

#endif
