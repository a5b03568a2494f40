/*
 * ledger_check - verify the credit ledger (DESIGN R15) of a stopped
 * billingd data directory.
 *
 *   ledger_check <data-dir>
 *
 * Prints "ledger ok: N transfers, M accounts, sum 0" and exits 0, or the
 * first violation found and exits 1; 2 for usage or storage errors. Open
 * only a directory no billingd is serving: the check reads the whole ledger
 * in one read transaction, and a live server would keep writing under it.
 */
#include <stdio.h>
#include <unistd.h>

#include "store_ledger.h"
#include "store.h"

static void quiet_log(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

int main(int argc, char **argv)
{
	store_options opts = STORE_OPTIONS_INIT;
	store_env *env = NULL;
	store_txn *txn = NULL;
	char report[512], err[256];
	int rc, status = 2;

	if (argc != 2) {
		fprintf(stderr, "usage: ledger_check <data-dir>\n");
		return 2;
	}
	/* store_open() would create an empty store: refuse a wrong path. */
	snprintf(err, sizeof(err), "%s/data.mdb", argv[1]);
	if (access(err, R_OK) != 0) {
		fprintf(stderr, "ledger_check: %s is not a billingd data directory\n", argv[1]);
		goto done;
	}
	opts.path = argv[1];
	opts.log = quiet_log;
	rc = store_open(&opts, &env, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "ledger_check: cannot open %s: %s\n", argv[1], err);
		goto done;
	}
	rc = store_read_begin(env, &txn);
	if (rc != 0) {
		fprintf(stderr, "ledger_check: %s\n", store_strerror(rc));
		goto done;
	}
	rc = ledger_check(txn, report, sizeof(report));
	printf("%s\n", report);
	status = rc == 0 ? 0 : rc > 0 ? 1 : 2;
done:
	store_read_end(txn);
	store_close(env);
	return status;
}
