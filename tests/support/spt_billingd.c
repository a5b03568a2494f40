/* spt_billingd.c - see spt_billingd.h. */
#include "spt_billingd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_proc.h"
#include "spt_run.h"

#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 30000

static int spawn_and_wait(spt_billingd *b, const char *fault, const char *const *more)
{
	const char *argv[SPT_BILLINGD_MAX_ARGS * 2 + 16];
	const char *env[16];
	char fault_env[300];
	int n = 0, ne = 0, port;

	argv[n++] = b->bin;
	for (int i = 0; i < b->n_args; i++)
		argv[n++] = b->args[i];
	argv[n++] = "--port-file";
	argv[n++] = b->port_file;
	argv[n++] = "--data-dir";
	argv[n++] = b->data_dir;
	for (int i = 0; more && more[i] && i < SPT_BILLINGD_MAX_ARGS; i++)
		argv[n++] = more[i];
	argv[n] = NULL;
	for (int i = 0; i < b->n_env; i++)
		env[ne++] = b->env[i];
	snprintf(fault_env, sizeof(fault_env), "SPB_FAULT=%s", fault ? fault : "");
	env[ne++] = fault_env;
	env[ne] = NULL;

	remove(b->port_file);
	b->port = 0;
	b->target[0] = 0;
	b->pid = spt_spawn(argv, env, b->log_path);
	if (b->pid < 0) {
		b->pid = 0;
		return -1;
	}
	port = spt_wait_port_file(b->port_file, b->pid, START_TIMEOUT_MS);
	if (port < 0) {
		int how = 0;
		if (spt_exited(&b->pid, &how))
			fprintf(stderr, "spt: billingd exited while starting (%s %d); log %s\n",
				how > 0 ? "signal" : "status", how > 0 ? how : -how, b->log_path);
		else
			fprintf(stderr, "spt: billingd wrote no port in %d ms; log %s\n",
				START_TIMEOUT_MS, b->log_path);
		spt_kill(&b->pid);
		return -1;
	}
	b->port = port;
	snprintf(b->target, sizeof(b->target), "127.0.0.1:%d", port);
	{
		char path[SPT_PATH_MAX + 16], key[SPT_KEY_MAX];
		snprintf(path, sizeof(path), "%s/admin.key", b->data_dir);
		if (spt_read_line(path, key, sizeof(key)) == 0)
			snprintf(b->admin_key, sizeof(b->admin_key), "%s", key);
	}
	return 0;
}

int spt_billingd_start_opts(spt_billingd *b, const spt_billingd_options *o)
{
	static const spt_billingd_options none = SPT_BILLINGD_OPTIONS_INIT;
	const char *bin;

	if (!o)
		o = &none;
	memset(b, 0, sizeof(*b));
	b->failures_at_start = spt_failures();
	bin = o->bin ? o->bin : spt_arg("billingd");
	if (!bin) {
		fprintf(stderr, "spt: no billingd binary (argument BILLINGD)\n");
		b->start_failed = 1;
		return -1;
	}
	snprintf(b->bin, sizeof(b->bin), "%s", bin);
	if (spt_tmpdir(b->dir, sizeof(b->dir), "billingd") != 0) {
		b->start_failed = 1;
		return -1;
	}
	if (o->data_dir)
		snprintf(b->data_dir, sizeof(b->data_dir), "%s", o->data_dir);
	else
		spt_path(b->data_dir, sizeof(b->data_dir), b->dir, "data");
	spt_path(b->port_file, sizeof(b->port_file), b->dir, "port");
	spt_path(b->log_path, sizeof(b->log_path), b->dir, "billingd.log");

	b->args[b->n_args++] = strdup("--listen");
	b->args[b->n_args++] = strdup(o->listen ? o->listen : "127.0.0.1:0");
	if (!o->log_calls)
		b->args[b->n_args++] = strdup("--quiet-calls");
	b->n_fixed = b->n_args;
	for (int i = 0; o->args && o->args[i]; i++) {
		if (b->n_args == SPT_BILLINGD_MAX_ARGS) {
			fprintf(stderr, "spt: too many billingd arguments\n");
			b->start_failed = 1;
			return -1;
		}
		b->args[b->n_args++] = strdup(o->args[i]);
	}
	for (int i = 0; o->env && o->env[i] && b->n_env < 8; i++)
		b->env[b->n_env++] = strdup(o->env[i]);
	if (spawn_and_wait(b, NULL, NULL) != 0) {
		b->start_failed = 1;
		spt_billingd_print_log(b, 40);
		return -1;
	}
	return 0;
}

int spt_billingd_start(spt_billingd *b, const char *const *args)
{
	spt_billingd_options o = SPT_BILLINGD_OPTIONS_INIT;
	o.args = args;
	return spt_billingd_start_opts(b, &o);
}

int spt_billingd_restart_with(spt_billingd *b, const char *fault, const char *const *more)
{
	if (!b->bin[0])
		return -1;
	spt_kill(&b->pid);
	return spawn_and_wait(b, fault, more);
}

int spt_billingd_set_args(spt_billingd *b, const char *const *args)
{
	int n = 0;
	while (args && args[n])
		n++;
	if (b->n_fixed + n > SPT_BILLINGD_MAX_ARGS) {
		fprintf(stderr, "spt: too many billingd arguments\n");
		return -1;
	}
	while (b->n_args > b->n_fixed)
		free(b->args[--b->n_args]);
	for (int i = 0; i < n; i++)
		b->args[b->n_args++] = strdup(args[i]);
	return 0;
}

int spt_billingd_restart(spt_billingd *b)
{
	return spt_billingd_restart_with(b, NULL, NULL);
}

int spt_billingd_stop(spt_billingd *b)
{
	int rc;
	if (b->pid <= 0)
		return -1;
	rc = spt_terminate(&b->pid, STOP_TIMEOUT_MS);
	if (rc >= 128) {
		fprintf(stderr, "spt: billingd died from signal %d on SIGTERM; log %s\n", rc - 128,
			b->log_path);
		return -1;
	}
	return rc;
}

void spt_billingd_kill(spt_billingd *b)
{
	spt_kill(&b->pid);
}

int spt_billingd_exited(spt_billingd *b, int *how)
{
	return spt_exited(&b->pid, how);
}

int spt_billingd_alive(spt_billingd *b)
{
	int how = 0;
	if (b->pid > 0 && !spt_exited(&b->pid, &how))
		return 1;
	fprintf(stderr, "spt: billingd is gone (%s %d); log %s\n", how > 0 ? "signal" : "exit",
		how > 0 ? how : -how, b->log_path);
	return 0;
}

void spt_billingd_print_log(const spt_billingd *b, int lines)
{
	spt_print_tail(b->log_path, lines);
}

void spt_billingd_free(spt_billingd *b)
{
	if (!b->dir[0])
		return;
	spt_kill(&b->pid);
	if (b->start_failed || spt_failures() > b->failures_at_start)
		spt_billingd_print_log(b, 60);
	spt_tmpdir_remove(b->dir);
	for (int i = 0; i < b->n_args; i++)
		free(b->args[i]);
	for (int i = 0; i < b->n_env; i++)
		free(b->env[i]);
	memset(b, 0, sizeof(*b));
}

int spt_billingd_log_last(const spt_billingd *b, const char *needle, char *buf, size_t cap)
{
	char *log = spt_read_file(b->log_path, NULL), *line, *next;
	int found = -1;

	if (!log)
		return -1;
	for (line = log; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (strstr(line, needle)) {
			snprintf(buf, cap, "%s", line);
			found = 0;
		}
	}
	free(log);
	return found;
}

long spt_billingd_log_sum(const spt_billingd *b, const char *needle)
{
	char *log = spt_read_file(b->log_path, NULL);
	const char *p;
	long sum = 0;

	if (!log)
		return 0;
	for (p = strstr(log, needle); p; p = strstr(p, needle)) {
		p += strlen(needle);
		sum += strtol(p, NULL, 10);
	}
	free(log);
	return sum;
}

int spt_billingd_check_data(const spt_billingd *b, const char *tool, char *out, size_t cap)
{
	const char *argv[] = {tool, b->data_dir, NULL};
	return spt_run_cmd(argv, 120000, out, cap);
}
