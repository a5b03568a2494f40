/* dtest.c: see dtest.h. */
#include "dtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

Smartplus__Billing__V1__BillingInfo dt_bill = {
	PROTOBUF_C_MESSAGE_INIT(&smartplus__billing__v1__billing_info__descriptor),
	"Defect Tester",
	"tester@example.com",
	"Outside Testing Ltd",
	"1 Test Street",
	"US",
	"",
	"" /* region */};

int dt_status(int sdk_rc)
{
	return sdk_rc == 0 ? 0 : spb_error_last()->grpc_code;
}

spb_call_options dt_as(const char *key)
{
	spb_call_options o = SPB_CALL_OPTIONS_INIT;
	o.api_key = key;
	return o;
}

int dt_set_price(spb_client *vendor, int ptype, int stype, int64_t amount, int64_t credits)
{
	Smartplus__Billing__V1__SetPriceRequest r = SMARTPLUS__BILLING__V1__SET_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetPriceResponse *out = NULL;
	int rc;
	r.project_type = ptype;
	r.service_type = stype;
	r.monthly_amount = amount;
	r.currency = "USD";
	r.monthly_credits = credits;
	rc = spb_admin_set_price(vendor, &r, &out, NULL);
	if (rc)
		fprintf(stderr, "dtest: SetPrice: %s\n", spb_error_last()->message);
	spb_message_free(out);
	return rc;
}

int dt_create_item(spb_client *c, const spb_call_options *o, const char *project,
		   const char *item_id, int stype)
{
	Smartplus__Billing__V1__CreateItemsRequest r =
		SMARTPLUS__BILLING__V1__CREATE_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ItemSpec spec = SMARTPLUS__BILLING__V1__ITEM_SPEC__INIT,
					 *sp = &spec;
	Smartplus__Billing__V1__CreateItemsResponse *out = NULL;
	int rc;
	spec.item_id = (char *)item_id;
	spec.service_type = stype;
	spec.label = (char *)item_id;
	r.project_id = (char *)project;
	r.n_items = 1;
	r.items = &sp;
	rc = spb_directory_create_items(c, &r, &out, o);
	spb_message_free(out);
	return rc;
}

int dt_quote(spb_client *c, const spb_call_options *o, const dt_quote_req *q,
	     Smartplus__Billing__V1__QuoteServicesResponse **out)
{
	Smartplus__Billing__V1__QuoteServicesRequest r =
		SMARTPLUS__BILLING__V1__QUOTE_SERVICES_REQUEST__INIT;
	Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	r.action = q->action;
	r.payer_id = (char *)(q->payer ? q->payer : "");
	r.installer_id = (char *)q->installer;
	r.project_type = q->ptype;
	r.project_ids = (char **)q->projects;
	r.n_project_ids = q->n_projects;
	r.all_projects = q->all_projects;
	r.item_ids = (char **)q->items;
	r.n_item_ids = q->n_items;
	r.months = q->months;
	if (q->renew_until_s) {
		until.seconds = q->renew_until_s;
		r.renew_until = &until;
	}
	r.renew_mode = q->renew_mode;
	*out = NULL;
	return spb_billing_quote_services(c, &r, out, o);
}

int dt_place(spb_client *c, const spb_call_options *o, int action, const char *quote_id, int method,
	     const char *stripe_pm, Smartplus__Billing__V1__Order **order_out)
{
	int rc;
	if (order_out)
		*order_out = NULL;
	if (action == ACTIVATE) {
		Smartplus__Billing__V1__ActivateServicesRequest r =
			SMARTPLUS__BILLING__V1__ACTIVATE_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__ActivateServicesResponse *out = NULL;
		r.quote_id = (char *)quote_id;
		r.payment_method = method;
		r.billing_info = &dt_bill;
		r.terms_accepted = 1;
		r.stripe_payment_method_id = (char *)(stripe_pm ? stripe_pm : "");
		rc = spb_billing_activate_services(c, &r, &out, o);
		if (rc == 0 && order_out) {
			*order_out = out->order;
			out->order = NULL;
		}
		spb_message_free(out);
	} else {
		Smartplus__Billing__V1__RenewServicesRequest r =
			SMARTPLUS__BILLING__V1__RENEW_SERVICES_REQUEST__INIT;
		Smartplus__Billing__V1__RenewServicesResponse *out = NULL;
		r.quote_id = (char *)quote_id;
		r.payment_method = method;
		r.billing_info = &dt_bill;
		r.terms_accepted = 1;
		r.stripe_payment_method_id = (char *)(stripe_pm ? stripe_pm : "");
		rc = spb_billing_renew_services(c, &r, &out, o);
		if (rc == 0 && order_out) {
			*order_out = out->order;
			out->order = NULL;
		}
		spb_message_free(out);
	}
	return rc;
}

int dt_quote_and_place(spb_client *c, const spb_call_options *o, const dt_quote_req *q, int method,
		       const char *stripe_pm, Smartplus__Billing__V1__Order **order_out)
{
	Smartplus__Billing__V1__QuoteServicesResponse *qr = NULL;
	int rc = dt_quote(c, o, q, &qr);
	if (order_out)
		*order_out = NULL;
	if (rc == 0)
		rc = dt_place(c, o, q->action, qr->quote->quote_id, method, stripe_pm, order_out);
	spb_message_free(qr);
	return rc;
}

Smartplus__Billing__V1__Item *dt_get_item(spb_client *vendor, const char *project,
					  const char *item_id)
{
	Smartplus__Billing__V1__ListItemsRequest r =
		SMARTPLUS__BILLING__V1__LIST_ITEMS_REQUEST__INIT;
	Smartplus__Billing__V1__ListItemsResponse *out = NULL;
	Smartplus__Billing__V1__Item *found = NULL;
	r.project_id = (char *)project;
	r.page_size = 1000;
	if (spb_billing_list_items(vendor, &r, &out, NULL) != 0)
		return NULL;
	for (size_t i = 0; i < out->n_items; i++)
		if (strcmp(out->items[i]->item_id, item_id) == 0) {
			found = out->items[i];
			out->items[i] = out->items[--out->n_items];
			break;
		}
	spb_message_free(out);
	return found;
}

int dt_advance(spb_client *vendor, int64_t seconds)
{
	Smartplus__Billing__V1__AdvanceClockRequest r =
		SMARTPLUS__BILLING__V1__ADVANCE_CLOCK_REQUEST__INIT;
	Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
	Smartplus__Billing__V1__AdvanceClockResponse *out = NULL;
	int rc;
	d.seconds = seconds;
	r.duration = &d;
	rc = spb_admin_advance_clock(vendor, &r, &out, NULL);
	spb_message_free(out);
	return rc;
}

int dt_buy_credits(spb_client *c, const spb_call_options *o, const char *payer,
		   const char *beneficiary, int64_t n)
{
	Smartplus__Billing__V1__PurchaseCreditsRequest r =
		SMARTPLUS__BILLING__V1__PURCHASE_CREDITS_REQUEST__INIT;
	Smartplus__Billing__V1__PurchaseCreditsResponse *out = NULL;
	int rc;
	r.account_id = (char *)beneficiary;
	r.payer_id = (char *)payer;
	r.credits = n;
	r.payment_method = METHOD(STRIPE);
	r.billing_info = &dt_bill;
	r.terms_accepted = 1;
	r.stripe_payment_method_id = "pm_card_visa";
	rc = spb_billing_purchase_credits(c, &r, &out, o);
	if (rc == 0 && out->order->status != OSTATUS(SUCCEEDED)) {
		fprintf(stderr, "dtest: PurchaseCredits left order %s in status %d\n",
			out->order->order_id, out->order->status);
		rc = -1;
	}
	spb_message_free(out);
	return rc;
}

int64_t dt_balance(spb_client *c, const spb_call_options *o, const char *account)
{
	Smartplus__Billing__V1__GetCreditBalanceRequest r =
		SMARTPLUS__BILLING__V1__GET_CREDIT_BALANCE_REQUEST__INIT;
	Smartplus__Billing__V1__GetCreditBalanceResponse *out = NULL;
	int64_t v = -1;
	r.account_id = (char *)account;
	if (spb_billing_get_credit_balance(c, &r, &out, o) == 0)
		v = out->credits;
	spb_message_free(out);
	return v;
}

int dt_run_capture(const char *bin, const char *const *args, int timeout_ms, char *out, size_t cap)
{
	char *argv[32];
	char tmpl[] = "/tmp/spb-dtest-out-XXXXXX";
	int argc = 0, status = 0, fd = mkstemp(tmpl), code = -1;
	pid_t pid;
	ssize_t n;

	if (cap)
		out[0] = 0;
	if (fd < 0)
		return -1;
	unlink(tmpl);
	argv[argc++] = (char *)bin;
	for (int i = 0; args && args[i] && argc < 31; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	pid = fork();
	if (pid < 0) {
		close(fd);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(fd, 1);
		dup2(fd, 2);
		if (devnull >= 0)
			dup2(devnull, 0);
		execv(bin, argv);
		_exit(127);
	}
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			break;
		}
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			code = -1;
			break;
		}
		usleep(10 * 1000);
	}
	if (cap && lseek(fd, 0, SEEK_SET) == 0) {
		n = read(fd, out, cap - 1);
		out[n > 0 ? n : 0] = 0;
	}
	close(fd);
	return code;
}

/* Inodes of the sockets in LISTEN state (TCP over IPv4 and IPv6). */
static int listen_inodes(unsigned long *inodes, int cap)
{
	static const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	int n = 0;
	for (size_t f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "r");
		char line[512];
		if (!fp)
			continue;
		if (!fgets(line, sizeof(line), fp)) { /* header */
			fclose(fp);
			continue;
		}
		while (fgets(line, sizeof(line), fp) && n < cap) {
			char local[128], remote[128];
			unsigned st;
			unsigned long inode;
			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, "%*s %127s %127s %x %*s %*s %*s %*s %*s %lu", local,
				   remote, &st, &inode) == 4 &&
			    st == 0x0A)
				inodes[n++] = inode;
		}
		fclose(fp);
	}
	return n;
}

int dt_listen_sockets(int pid)
{
	unsigned long inodes[4096];
	int n = listen_inodes(inodes, 4096), count = 0;
	char dir[64];
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[320], target[128];
		ssize_t len;
		unsigned long ino;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		if (sscanf(target, "socket:[%lu]", &ino) != 1)
			continue;
		for (int i = 0; i < n; i++)
			if (inodes[i] == ino) {
				count++;
				break;
			}
	}
	closedir(d);
	return count;
}

void dt_set_extra(itest_server *s, const char *const *extra)
{
	for (int i = 0; i < s->n_extra; i++)
		free(s->extra[i]);
	s->n_extra = 0;
	for (; extra && extra[s->n_extra] && s->n_extra < ITEST_MAX_ARGS; s->n_extra++)
		s->extra[s->n_extra] = strdup(extra[s->n_extra]);
}

int dt_run_billingd(const itest_server *s, const char *const *extra, int timeout_ms, char *out,
		    size_t cap)
{
	const char *args[32] = {"--listen", "127.0.0.1:0", "--data-dir", s->data_dir};
	int n = 4;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	return dt_run_capture(s->bin, args, timeout_ms, out, cap);
}

/* ---- protobuf bytes ---- */

static void pb_reserve(dt_pb *p, size_t more)
{
	if (p->n + more <= p->cap)
		return;
	p->cap = (p->n + more) * 2 + 64;
	p->b = realloc(p->b, p->cap);
}

void dt_pb_varint(dt_pb *p, uint64_t v)
{
	pb_reserve(p, 10);
	do {
		uint8_t byte = v & 0x7f;
		v >>= 7;
		p->b[p->n++] = byte | (v ? 0x80 : 0);
	} while (v);
}

void dt_pb_int(dt_pb *p, uint32_t num, uint64_t v)
{
	dt_pb_varint(p, (uint64_t)num << 3);
	dt_pb_varint(p, v);
}

void dt_pb_bytes(dt_pb *p, uint32_t num, const void *data, size_t len)
{
	dt_pb_varint(p, ((uint64_t)num << 3) | 2);
	dt_pb_varint(p, len);
	pb_reserve(p, len);
	memcpy(p->b + p->n, data, len);
	p->n += len;
}

void dt_pb_str(dt_pb *p, uint32_t num, const char *s)
{
	dt_pb_bytes(p, num, s, strlen(s));
}

void dt_pb_msg(dt_pb *p, uint32_t num, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	protobuf_c_message_pack(m, buf);
	dt_pb_bytes(p, num, buf, len);
	free(buf);
}

void dt_pb_append_msg(dt_pb *p, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	pb_reserve(p, len);
	protobuf_c_message_pack(m, p->b + p->n);
	p->n += len;
}

void dt_pb_free(dt_pb *p)
{
	free(p->b);
	memset(p, 0, sizeof(*p));
}

int dt_raw(const itest_server *s, const char *key, const char *idem_key, const char *path,
	   const dt_pb *req, itest_raw_result *out)
{
	char auth[ITEST_KEY_MAX + 16];
	const char *md[7] = {"authorization", auth, NULL, NULL, NULL};
	snprintf(auth, sizeof(auth), "Bearer %s", key);
	if (idem_key) {
		md[2] = "idempotency-key";
		md[3] = idem_key;
	}
	return itest_raw_call(s->target, path, req->b ? req->b : (const uint8_t *)"", req->n, md,
			      out);
}

int dt_main(int argc, char **argv, const char *suite, int (*init)(void), int (*clean)(void),
	    const dt_test *tests)
{
	CU_pSuite s;
	unsigned fails;
	if (itest_main_args(argc, argv) != 0)
		return 2;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite(suite, init, clean);
	for (const dt_test *t = tests; t->name; t++)
		CU_add_test(s, t->name, t->fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}

int dt_start(itest_server *s, spb_client **vendor, const char *const *extra, itest_account *accts,
	     size_t n)
{
	*vendor = NULL;
	if (itest_start(s, itest_billingd, extra) != 0)
		return -1;
	*vendor = itest_client(s, NULL);
	if (!*vendor || (n && itest_build_tree(*vendor, accts, n) != 0))
		return -1;
	return 0;
}

int dt_stop(itest_server *s, spb_client **vendor)
{
	int rc;
	spb_client_free(*vendor);
	*vendor = NULL;
	rc = itest_stop(s);
	itest_cleanup(s);
	return rc == 0 ? 0 : -1;
}

int dt_set_credit_price(spb_client *vendor, int64_t unit_amount)
{
	Smartplus__Billing__V1__SetCreditPriceRequest r =
		SMARTPLUS__BILLING__V1__SET_CREDIT_PRICE_REQUEST__INIT;
	Smartplus__Billing__V1__SetCreditPriceResponse *out = NULL;
	int rc;
	r.unit_amount = unit_amount;
	r.currency = "USD";
	rc = spb_admin_set_credit_price(vendor, &r, &out, NULL);
	spb_message_free(out);
	return rc;
}
