/* server.c: billingd's state at start-up and shut-down. See server.h. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "clock_record.h"
#include "enums.h"
#include "event_sources.h"
#include "events.h"
#include "idem.h"
#include "observe.h"
#include "orders.h"
#include "quote_token.h"
#include "reconciler.h"
#include "refunds.h"
#include "grace.h"
#include "scheduler.h"
#include "log.h"
#include "rpc.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "store.h"
#include "event_webhooks.h"

#define VENDOR_ID "vendor"

static void store_log(void *arg, const char *line)
{
	log_info("store: %s", line);
}

typedef struct bootstrap {
	store_account vendor;
	store_apikey key;
} bootstrap;

static int apply_bootstrap(store_txn *w, void *arg)
{
	bootstrap *b = arg;
	int rc = store_account_put(w, &b->vendor, 1);
	if (rc == 0)
		rc = store_apikey_put(w, &b->key, 1);
	return rc;
}

/* Writes the token to <data-dir>/admin.key, mode 0600, atomically. */
static int write_admin_key(const char *dir, const char *token)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, ok;
	snprintf(path, sizeof(path), "%s/admin.key", dir);
	snprintf(tmp, sizeof(tmp), "%s/admin.key.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, token, strlen(token)) == (ssize_t)strlen(token) && write(fd, "\n", 1) == 1 &&
	     fsync(fd) == 0;
	if (close(fd) != 0 || !ok)
		return -1;
	return rename(tmp, path);
}

/* On an empty store: the vendor account and its first key, in admin.key. */
static int bootstrap_vendor(billingd_state *s)
{
	store_txn *txn;
	store_account *existing = NULL;
	bootstrap b = {STORE_ACCOUNT_INIT, STORE_APIKEY_INIT};
	char key_id[17], token[AUTH_TOKEN_MAX];
	unsigned char hash[32];
	int rc;

	if (store_read_begin(s->store, &txn) != 0)
		return -1;
	rc = store_account_get(txn, VENDOR_ID, &existing);
	store_record_free(existing);
	store_read_end(txn);
	if (rc == 0)
		return 0;
	b.vendor.account_id = VENDOR_ID;
	b.vendor.role = ROLE(VENDOR);
	b.vendor.parent_id = "";
	b.vendor.display_name = "Vendor";
	b.vendor.create_time = clock_now_us();
	if (auth_mint_key(VENDOR_ID, SCOPE(ACCOUNT), &b.key, key_id, hash, token) != 0) {
		log_error("cannot generate the admin key: no randomness");
		return -1;
	}
	b.key.display_name = "admin.key";
	/* The file first: a crash before the commit just repeats this. */
	if (write_admin_key(s->cfg.data_dir, token) != 0) {
		log_error("cannot write %s/admin.key: %s", s->cfg.data_dir, strerror(errno));
		return -1;
	}
	rc = store_write_sync(s->store, apply_bootstrap, &b);
	if (rc != 0) {
		log_error("cannot create the vendor account: %s", store_strerror(rc));
		return -1;
	}
	log_info("empty store: created account 'vendor' and wrote its key to %s/admin.key (mode "
		 "0600)",
		 s->cfg.data_dir);
	return 0;
}

/* Events (issue 15): settings, then the events thread (expiry sweep,
 * retention) and the webhook worker. */
static int events_open(const billingd_config *c)
{
	events_options eo = {c->event_retention_us, c->expiring_soon_us, c->events_off};
	evhooks_options wo = {c->evhook_retry_base_us, c->evhook_timeout_ms};

	events_configure(&eo);
	evhooks_configure(&wo);
	return events_start() != 0 || evhooks_start() != 0 ? -1 : 0;
}

/* The data directory for this process alone; -1 (logged) if another has it. */
static int lock_data_dir(const char *dir, store_lock **lock)
{
	char err[256] = "";
	long holder = 0;
	int rc = store_dir_lock(dir, lock, &holder, err, sizeof(err));
	if (rc == STORE_EXISTS)
		log_error("data directory in use by pid %ld: %s (one billingd per data directory)",
			  holder, dir);
	else if (rc != 0)
		log_error("cannot lock data directory %s: %s", dir,
			  err[0] ? err : store_strerror(rc));
	return rc == 0 ? 0 : -1;
}

static int apply_put_key(store_txn *w, void *arg)
{
	return store_apikey_put(w, arg, 1);
}

int server_admin_key_command(int argc, char **argv)
{
	static const struct option opts[] = {{"data-dir", required_argument, 0, 'd'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	store_options so = STORE_OPTIONS_INIT;
	store_apikey key = STORE_APIKEY_INIT;
	store_lock *lock = NULL;
	store_env *env = NULL;
	store_account *vendor = NULL;
	store_txn *txn;
	const char *dir = NULL;
	char err[256] = "", key_id[17], token[AUTH_TOKEN_MAX];
	unsigned char hash[32];
	long holder = 0;
	int o, rc, code = 1, bad = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'd')
			dir = optarg;
		else
			bad = 1;
	}
	if (bad || !dir || optind != argc) {
		fprintf(stderr, "usage: billingd admin-key --data-dir DIR\n"
				"  with billingd stopped: mints a new vendor key and writes it to "
				"DIR/admin.key (mode 0600)\n");
		return 2;
	}
	rc = store_dir_lock(dir, &lock, &holder, err, sizeof(err));
	if (rc == STORE_EXISTS) {
		fprintf(stderr,
			"billingd admin-key: data directory in use by pid %ld: %s; stop billingd "
			"first\n",
			holder, dir);
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "billingd admin-key: %s\n", err[0] ? err : store_strerror(rc));
		return 1;
	}
	so.path = dir;
	rc = store_open(&so, &env, err, sizeof(err));
	if (rc == 0 && (rc = store_read_begin(env, &txn)) == 0) {
		rc = store_account_get(txn, VENDOR_ID, &vendor);
		store_read_end(txn);
	}
	if (rc == STORE_NOTFOUND) {
		fprintf(stderr,
			"billingd admin-key: %s holds no billingd store (no vendor account)\n",
			dir);
		goto done;
	}
	if (rc != 0) {
		fprintf(stderr, "billingd admin-key: cannot open the store in %s: %s\n", dir,
			err[0] ? err : store_strerror(rc));
		goto done;
	}
	if (auth_mint_key(VENDOR_ID, SMARTPLUS__BILLING__V1__API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT,
			  &key, key_id, hash, token) != 0) {
		fprintf(stderr, "billingd admin-key: no randomness\n");
		goto done;
	}
	key.display_name = "admin.key (billingd admin-key)";
	key.create_time = clock_now_us();
	/* The key first: a crash before the file is written leaves an unused
	 * key, never an admin.key naming a key that does not exist. */
	rc = store_write_sync(env, apply_put_key, &key);
	if (rc != 0) {
		fprintf(stderr, "billingd admin-key: cannot store the key: %s\n",
			store_strerror(rc));
		goto done;
	}
	if (write_admin_key(dir, token) != 0) {
		fprintf(stderr, "billingd admin-key: cannot write %s/admin.key: %s\n", dir,
			strerror(errno));
		goto done;
	}
	printf("billingd admin-key: new vendor key %s written to %s/admin.key (mode 0600)\n",
	       key_id, dir);
	code = 0;
done:
	memset(token, 0, sizeof(token));
	store_record_free(vendor);
	store_close(env);
	store_dir_unlock(lock);
	return code;
}

int server_open(billingd_state *s)
{
	store_options o = STORE_OPTIONS_INIT;
	char err[256] = "";
	int rc;

	if (mkdir(s->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create data directory %s: %s", s->cfg.data_dir, strerror(errno));
		return -1;
	}
	if (lock_data_dir(s->cfg.data_dir, &s->lock) != 0)
		return -1;
	o.path = s->cfg.data_dir;
	o.map_size = s->cfg.map_size;
	o.log = store_log;
	observe_init();
	o.on_batch = observe_on_batch;
	o.clock = clock_now_us;
	rc = store_open(&o, &s->store, err, sizeof(err));
	if (rc != 0) {
		log_error("cannot open the store in %s: %s", s->cfg.data_dir,
			  err[0] ? err : store_strerror(rc));
		store_dir_unlock(s->lock);
		s->lock = NULL;
		return -1;
	}
	if (clock_record_start(s->cfg.test_clock, s->cfg.convert_test_clock) != 0 ||
	    bootstrap_vendor(s) != 0 || quote_token_init(s->store) != 0) {
		store_close(s->store);
		s->store = NULL;
		store_dir_unlock(s->lock);
		s->lock = NULL;
		return -1;
	}
	if (observe_start(s->store, s->cfg.writer_stall_s * 1000) != 0) {
		store_close(s->store);
		s->store = NULL;
		store_dir_unlock(s->lock);
		s->lock = NULL;
		return -1;
	}
	{
		static const rpc_observer calls = {observe_call_started, observe_call_handled};
		rpc_set_observer(&calls);
	}
	rpc_set_authenticator(auth_authenticate);
	scheduler_init(); /* before the sweeper or reconciler settles an order */
	idem_janitor_start();
	orders_sweeper_start();
	if (reconciler_start(s->cfg.reconcile_interval_ms) != 0) {
		log_error("cannot start the payment reconciler");
		orders_sweeper_stop();
		idem_janitor_stop();
		store_close(s->store);
		s->store = NULL;
		store_dir_unlock(s->lock);
		s->lock = NULL;
		return -1;
	}
	if (refunds_reconciler_start(s->cfg.reconcile_interval_ms) != 0)
		log_warn("the refund reconciler did not start; pending refunds settle on their "
			 "next call");
	scheduler_set_lead(s->cfg.renew_lead_us);
	scheduler_set_interval(s->cfg.renew_interval_s);
	if (s->cfg.renew_retries)
		scheduler_set_retries(s->cfg.renew_retry_us, s->cfg.renew_retries);
	if (s->cfg.renew_grace_parsed) {
		grace_configure(s->cfg.renew_grace_us);
		grace_set_notices(s->cfg.renew_upcoming_us, s->cfg.renew_upcomings);
	}
	if (scheduler_start() != 0)
		log_warn("the renewal scheduler did not start; auto-renewals run only on "
			 "AdvanceClock");
	if (events_open(&s->cfg) != 0)
		log_warn("the events thread or the webhook worker did not start");
	return 0;
}

void server_close(billingd_state *s)
{
	evhooks_stop();
	events_stop();
	scheduler_stop();
	refunds_reconciler_stop();
	reconciler_stop();
	orders_sweeper_stop();
	idem_janitor_stop();
	observe_stop();
	store_close(s->store);
	s->store = NULL;
	store_dir_unlock(s->lock);
	s->lock = NULL;
}
