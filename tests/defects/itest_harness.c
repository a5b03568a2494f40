/* harness.c: see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

const char *itest_billingd;

int itest_main_args(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <path to billingd>\n", argc > 0 ? argv[0] : "test");
		return -1;
	}
	itest_billingd = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

char *itest_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = 0;
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Server life                                                               */

static int spawn(itest_server *s)
{
	char *argv[ITEST_MAX_ARGS + 16];
	int argc = 0;
	pid_t pid;

	unlink(s->port_file);
	argv[argc++] = s->bin;
	argv[argc++] = (char *)"--listen";
	argv[argc++] = (char *)"127.0.0.1:0";
	argv[argc++] = (char *)"--port-file";
	argv[argc++] = s->port_file;
	argv[argc++] = (char *)"--data-dir";
	argv[argc++] = s->data_dir;
	for (int i = 0; i < s->n_extra; i++)
		argv[argc++] = s->extra[i];
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int devnull = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		if (devnull >= 0)
			dup2(devnull, 0);
		execv(s->bin, argv);
		_exit(127);
	}
	s->pid = pid;
	return 0;
}

/* Waits (bounded) for the port file and admin.key. */
static int wait_ready(itest_server *s)
{
	for (int i = 0; i < 1000; i++) { /* 10 s */
		int status;
		char *port = itest_read_file(s->port_file);
		if (port && port[0]) {
			char path[PATH_MAX + 16];
			char *key;
			s->port = (int)strtol(port, NULL, 10);
			free(port);
			snprintf(path, sizeof(path), "%s/admin.key", s->data_dir);
			key = itest_read_file(path);
			if (!key) {
				fprintf(stderr, "harness: no %s\n", path);
				return -1;
			}
			key[strcspn(key, "\r\n")] = 0;
			snprintf(s->admin_key, sizeof(s->admin_key), "%s", key);
			free(key);
			snprintf(s->target, sizeof(s->target), "127.0.0.1:%d", s->port);
			return s->port > 0 ? 0 : -1;
		}
		free(port);
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			fprintf(stderr, "harness: billingd exited early (status %d); log %s\n",
				status, s->log_path);
			s->pid = 0;
			return -1;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "harness: billingd did not write %s\n", s->port_file);
	return -1;
}

int itest_start(itest_server *s, const char *bin, const char *const *extra)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->bin, sizeof(s->bin), "%s", bin);
	snprintf(s->dir, sizeof(s->dir), "/tmp/spb-itest.XXXXXX");
	if (!mkdtemp(s->dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(s->data_dir, sizeof(s->data_dir), "%s/data", s->dir);
	snprintf(s->port_file, sizeof(s->port_file), "%s/port", s->dir);
	snprintf(s->log_path, sizeof(s->log_path), "%s/billingd.log", s->dir);
	for (; extra && extra[s->n_extra] && s->n_extra < ITEST_MAX_ARGS; s->n_extra++)
		s->extra[s->n_extra] = strdup(extra[s->n_extra]);
	if (spawn(s) != 0)
		return -1;
	return wait_ready(s);
}

int itest_restart(itest_server *s)
{
	if (s->pid)
		itest_kill9(s);
	if (spawn(s) != 0)
		return -1;
	return wait_ready(s);
}

int itest_stop(itest_server *s)
{
	int status;
	if (!s->pid)
		return -1;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 2000; i++) { /* 20 s */
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			fprintf(stderr, "harness: billingd died from signal %d\n",
				WIFSIGNALED(status) ? WTERMSIG(status) : -1);
			return -1;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "harness: billingd ignored SIGTERM for 20 s; killing it\n");
	itest_kill9(s);
	return -1;
}

int itest_alive(itest_server *s)
{
	int status;
	if (!s->pid)
		return 0;
	if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
		fprintf(stderr, "harness: billingd is gone (%s %d); log %s\n",
			WIFSIGNALED(status) ? "signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), s->log_path);
		s->pid = 0;
		return 0;
	}
	return 1;
}

void itest_kill9(itest_server *s)
{
	if (!s->pid)
		return;
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void itest_cleanup(itest_server *s)
{
	itest_kill9(s);
	if (s->dir[0] && !getenv("SPB_ITEST_KEEP"))
		nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int i = 0; i < s->n_extra; i++)
		free(s->extra[i]);
	s->n_extra = 0;
	s->dir[0] = 0;
}

spb_client *itest_client(const itest_server *s, const char *key)
{
	spb_client_options o = SPB_CLIENT_OPTIONS_INIT;
	spb_client *c;
	if (!key)
		o.api_key = s->admin_key;
	else if (key[0])
		o.api_key = key;
	o.default_deadline_ms = 10000;
	o.max_retries = 0; /* a test wants the first answer, and fails fast on a dead server */
	c = spb_client_new(s->target, &o);
	if (!c)
		fprintf(stderr, "harness: spb_client_new: %s\n", spb_error_last()->message);
	return c;
}

int itest_run_exit_code(const char *bin, const char *const *args, int timeout_ms)
{
	char *argv[32];
	int argc = 0, status;
	pid_t pid;
	argv[argc++] = (char *)bin;
	for (; args && args[argc - 1] && argc < 31; argc++)
		argv[argc] = (char *)args[argc - 1];
	argv[argc] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execv(bin, argv);
		_exit(127);
	}
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

int itest_log_find_last(const itest_server *s, const char *needle, char *buf, size_t cap)
{
	char *log = itest_read_file(s->log_path), *line, *save = NULL;
	int found = -1;
	if (!log)
		return -1;
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, needle)) {
			snprintf(buf, cap, "%s", line);
			found = 0;
		}
	free(log);
	return found;
}

/* ------------------------------------------------------------------------ */
/* The tree                                                                  */

int itest_create_account(spb_client *c, const spb_call_options *o, const char *id, int role,
			 const char *parent)
{
	Smartplus__Billing__V1__CreateAccountRequest req =
		SMARTPLUS__BILLING__V1__CREATE_ACCOUNT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateAccountResponse *resp = NULL;
	int rc;
	req.account_id = (char *)id;
	req.role = role;
	req.parent_id = (char *)parent;
	req.display_name = (char *)id;
	rc = spb_directory_create_account(c, &req, &resp, o);
	spb_message_free(resp);
	return rc;
}

int itest_create_key(spb_client *c, const spb_call_options *o, const char *account, int scope,
		     char *key, char *key_id)
{
	Smartplus__Billing__V1__CreateApiKeyRequest req =
		SMARTPLUS__BILLING__V1__CREATE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__CreateApiKeyResponse *resp = NULL;
	int rc;
	req.account_id = (char *)account;
	req.scope = scope;
	req.display_name = (char *)"itest";
	rc = spb_directory_create_api_key(c, &req, &resp, o);
	if (rc == 0 && resp) {
		if (key)
			snprintf(key, ITEST_KEY_MAX, "%s", resp->secret);
		if (key_id && resp->api_key)
			snprintf(key_id, 17, "%s", resp->api_key->key_id);
	}
	spb_message_free(resp);
	return rc;
}

int itest_create_project(spb_client *c, const spb_call_options *o, const char *id,
			 const char *installer, int type, const char *pm, int pms_integrated)
{
	Smartplus__Billing__V1__CreateProjectRequest req =
		SMARTPLUS__BILLING__V1__CREATE_PROJECT_REQUEST__INIT;
	Smartplus__Billing__V1__CreateProjectResponse *resp = NULL;
	int rc;
	req.project_id = (char *)id;
	req.installer_id = (char *)installer;
	req.type = type;
	req.property_manager_id = (char *)(pm ? pm : "");
	req.pms_integrated = pms_integrated;
	req.display_name = (char *)id;
	rc = spb_directory_create_project(c, &req, &resp, o);
	spb_message_free(resp);
	return rc;
}

int itest_create_item(spb_client *c, const spb_call_options *o, const char *project,
		      const char *item_id, int service_type)
{
	Smartplus__Billing__V1__CreateItemsRequest req =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ItemSpec spec = SMARTPLUS__BILLING__V1__ITEM_SPEC__INIT;
	Smartplus__Billing__V1__ItemSpec *specs[1] = {&spec};
	Smartplus__Billing__V1__CreateItemsResponse *resp = NULL;
	int rc;
	spec.item_id = (char *)item_id;
	spec.service_type = service_type;
	spec.label = (char *)item_id;
	req.project_id = (char *)project;
	req.n_items = 1;
	req.items = specs;
	rc = spb_directory_create_items(c, &req, &resp, o);
	spb_message_free(resp);
	return rc;
}

int itest_build_tree(spb_client *vendor, itest_account *accts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc;
		if (accts[i].role != SMARTPLUS__BILLING__V1__ROLE__ROLE_VENDOR) {
			rc = itest_create_account(vendor, NULL, accts[i].id, accts[i].role,
						  accts[i].parent);
			if (rc != 0) {
				fprintf(stderr, "harness: CreateAccount %s: %s\n", accts[i].id,
					spb_error_last()->message);
				return -1;
			}
		}
		rc = itest_create_key(vendor, NULL, accts[i].id,
				      SMARTPLUS__BILLING__V1__API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT,
				      accts[i].key, accts[i].key_id);
		if (rc != 0) {
			fprintf(stderr, "harness: CreateApiKey %s: %s\n", accts[i].id,
				spb_error_last()->message);
			return -1;
		}
	}
	return 0;
}

void itest_unique_id(char *buf, size_t cap, const char *prefix)
{
	static unsigned long counter;
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	unsigned long n;
	pthread_mutex_lock(&mu);
	n = ++counter;
	pthread_mutex_unlock(&mu);
	snprintf(buf, cap, "%s%lu", prefix, n);
}

/* ------------------------------------------------------------------------ */
/* Raw calls                                                                 */

static void reason_of(const grpc_metadata_array *trailers, char *reason, size_t cap)
{
	reason[0] = 0;
	for (size_t i = 0; i < trailers->count; i++) {
		const grpc_metadata *m = &trailers->metadata[i];
		Google__Rpc__Status *st;
		if (grpc_slice_str_cmp(m->key, "grpc-status-details-bin") != 0)
			continue;
		st = google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(m->value),
						 GRPC_SLICE_START_PTR(m->value));
		if (!st)
			return;
		for (size_t d = 0; d < st->n_details; d++) {
			const Google__Protobuf__Any *any = st->details[d];
			const char *suffix = "google.rpc.ErrorInfo";
			size_t tl = strlen(any->type_url), sl = strlen(suffix);
			if (tl >= sl && strcmp(any->type_url + tl - sl, suffix) == 0) {
				Google__Rpc__ErrorInfo *ei = google__rpc__error_info__unpack(
					NULL, any->value.len, any->value.data);
				if (ei) {
					snprintf(reason, cap, "%s", ei->reason);
					google__rpc__error_info__free_unpacked(ei, NULL);
				}
				break;
			}
		}
		google__rpc__status__free_unpacked(st, NULL);
		return;
	}
}

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;
static void grpc_start(void)
{
	grpc_init();
}

int itest_raw_call(const char *target, const char *path, const void *req, size_t req_len,
		   const char *const *md, itest_raw_result *out)
{
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata mds[8];
	size_t nmd = 0;
	grpc_slice method, body, details;
	grpc_byte_buffer *send, *recv = NULL;
	grpc_metadata_array initial, trailing;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_op ops[6];
	grpc_event ev;
	gpr_timespec deadline;
	int rc = -1, started = 0;

	memset(out, 0, sizeof(*out));
	out->status = -1;
	pthread_once(&grpc_once, grpc_start);

	creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
				gpr_time_from_millis(5000, GPR_TIMESPAN));
	method = grpc_slice_from_copied_string(path);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
					deadline, NULL);
	grpc_slice_unref(method);

	for (; md && md[2 * nmd] && nmd < 8; nmd++) {
		mds[nmd].key = grpc_slice_from_copied_string(md[2 * nmd]);
		mds[nmd].value = grpc_slice_from_copied_string(md[2 * nmd + 1]);
	}
	body = grpc_slice_from_copied_buffer((const char *)(req ? req : ""), req_len);
	send = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	details = grpc_empty_slice();

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	ops[0].data.send_initial_metadata.metadata = nmd ? mds : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;

	if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) == GRPC_CALL_OK) {
		started = 1;
		ev = grpc_completion_queue_pluck(
			cq, (void *)1,
			gpr_time_add(deadline, gpr_time_from_millis(2000, GPR_TIMESPAN)), NULL);
		if (ev.type == GRPC_OP_COMPLETE) {
			rc = 0;
			out->status = (int)status;
			snprintf(out->message, sizeof(out->message), "%.*s",
				 (int)GRPC_SLICE_LENGTH(details),
				 (const char *)GRPC_SLICE_START_PTR(details));
			reason_of(&trailing, out->reason, sizeof(out->reason));
			if (recv) {
				grpc_byte_buffer_reader r;
				if (grpc_byte_buffer_reader_init(&r, recv)) {
					grpc_slice all = grpc_byte_buffer_reader_readall(&r);
					out->body_len = GRPC_SLICE_LENGTH(all);
					out->body = malloc(out->body_len + 1);
					memcpy(out->body, GRPC_SLICE_START_PTR(all), out->body_len);
					grpc_slice_unref(all);
					grpc_byte_buffer_reader_destroy(&r);
				}
			}
		} else {
			grpc_call_cancel(call, NULL);
		}
	}

	if (started && rc != 0) /* let the batch finish before freeing what it points at */
		grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME),
					    NULL);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	for (size_t i = 0; i < nmd; i++) {
		grpc_slice_unref(mds[i].key);
		grpc_slice_unref(mds[i].value);
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	return rc;
}

void itest_raw_free(itest_raw_result *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
