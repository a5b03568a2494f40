/*
 * spt_billingd.h - the real billingd as a child of the test: the one way
 * tests start, stop, kill and restart it.
 *
 * spt_billingd_start() makes a work directory (spt_tmpdir: data/, port,
 * billingd.log), runs the binary (spt_arg("billingd") unless an option
 * names another) on 127.0.0.1:0 with --port-file and --data-dir (and
 * --quiet-calls unless log_calls), waits (at most 30 s: ASan and valgrind
 * are slow) for the port, and reads the vendor's admin.key. stdout and
 * stderr go to billingd.log, appended across restarts. Restarts reuse the
 * data directory and the arguments. spt_billingd_free() kills what still
 * runs, prints the end of the log when anything failed since the start (or
 * the start itself failed), and removes the work directory (SPT_KEEP keeps
 * it).
 *
 * Tests talk to it only through its API (spt_sdk.h, spt_raw.h): no second
 * store environment on a live data directory. A stopped one's directory may
 * be opened (spt_store_open_dir) or given to ledger_check.
 *
 * Not thread-safe: one thread drives an spt_billingd (another may read its
 * target and admin_key once started).
 */
#ifndef SPT_BILLINGD_H
#define SPT_BILLINGD_H

#include <stddef.h>
#include <sys/types.h>

#include "spt_fs.h"

#define SPT_KEY_MAX 160
#define SPT_BILLINGD_MAX_ARGS 32

typedef struct spt_billingd_options {
	const char *bin;         /* NULL: spt_arg("billingd") */
	const char *data_dir;    /* NULL: a fresh <dir>/data; else this one (not removed) */
	const char *const *args; /* more arguments, NULL-terminated; copied */
	const char *const *env;  /* NAME=VALUE for the child (see spt_spawn); copied */
	int log_calls;           /* 0: --quiet-calls */
	const char *listen;      /* NULL: 127.0.0.1:0 */
} spt_billingd_options;

#define SPT_BILLINGD_OPTIONS_INIT \
	{                         \
		0                 \
	}

typedef struct spt_billingd {
	char dir[SPT_PATH_MAX]; /* the work directory */
	char data_dir[SPT_PATH_MAX];
	char port_file[SPT_PATH_MAX];
	char log_path[SPT_PATH_MAX];
	char target[64]; /* "127.0.0.1:<port>" of the running instance */
	int port;
	char admin_key[SPT_KEY_MAX]; /* the vendor's key ("" when there is none) */
	pid_t pid;                   /* 0 when not running */

	/* private */
	char bin[SPT_PATH_MAX];
	char *args[SPT_BILLINGD_MAX_ARGS];
	int n_args;
	char *env[8];
	int n_env;
	unsigned failures_at_start;
	int start_failed;
} spt_billingd;

/* Starts billingd on a fresh data directory with args (NULL-terminated, may
 * be NULL) after the defaults. 0, or -1 (printed, with the log). */
int spt_billingd_start(spt_billingd *b, const char *const *args);
int spt_billingd_start_opts(spt_billingd *b, const spt_billingd_options *o);

/* Starts it again on the same data directory with the same arguments,
 * SIGKILLing a running instance first. 0 or -1. */
int spt_billingd_restart(spt_billingd *b);

/* The same with SPB_FAULT=fault (NULL: none) and more arguments (may be
 * NULL) for this start only. 0, or -1 (also when a fault point killed it
 * before it listened). */
int spt_billingd_restart_with(spt_billingd *b, const char *fault, const char *const *more);

/* SIGTERM, then waits (30 s; then SIGKILL). The exit status (0: a clean
 * shutdown), or -1 when it died from a signal, had to be killed, or was
 * not running. */
int spt_billingd_stop(spt_billingd *b);

/* SIGKILL and reap (nothing when not running). */
void spt_billingd_kill(spt_billingd *b);

/* Non-blocking: 1 when it has exited (reaped; *how: the signal, or
 * -(exit status); how may be NULL), 0 while it runs. */
int spt_billingd_exited(spt_billingd *b, int *how);

/* 1 while it runs; 0 (and a line on stderr) once it has died. */
int spt_billingd_alive(spt_billingd *b);

/* Kills it if running, prints the log's end when something failed, removes
 * the work directory. A zeroed or already freed b is fine. */
void spt_billingd_free(spt_billingd *b);

/* The last log line containing needle, in buf[cap]. 0, or -1 when none. */
int spt_billingd_log_last(const spt_billingd *b, const char *needle, char *buf, size_t cap);

/* Over every log line containing needle: the sum of the numbers that
 * follow it ("resumed 3 orders" with needle "resumed "). */
long spt_billingd_log_sum(const spt_billingd *b, const char *needle);

/* Prints the last `lines` lines of the log to stderr. */
void spt_billingd_print_log(const spt_billingd *b, int lines);

/* Runs tool (e.g. ledger_check) with the data directory as its argument
 * (billingd must be stopped): its exit status, its first output line in
 * out[cap] (may be NULL). */
int spt_billingd_check_data(const spt_billingd *b, const char *tool, char *out, size_t cap);

#endif
