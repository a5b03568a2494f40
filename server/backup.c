/* backup.c: hot backups, AdminService.Backup. See backup.h. */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "billingd.h"
#include "convert.h"
#include "handler.h"
#include "log.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "store.h"
#include "store_backup.h"

/* fsyncs the directory holding path, so a new name in it is durable. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int backup_copy(struct store_env *env, const char *path, uint64_t *bytes)
{
	char tmp[PATH_MAX];
	int fd = -1, rc = STORE_OK, n;

	if (bytes)
		*bytes = 0;
	if (!env || !path || !*path)
		return STORE_INVALID;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return STORE_INVALID;
	if (access(path, F_OK) == 0)
		return STORE_EXISTS; /* early answer; link() below decides */
	fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		log_error("backup: cannot create %s: %s", tmp, strerror(e));
		return e == ENOSPC || e == EDQUOT ? STORE_FULL : STORE_IO;
	}
	rc = store_backup_fd(env, fd, bytes);
	if (rc != STORE_OK) {
		log_error("backup: copying the store to %s: %s", tmp, store_strerror(rc));
		goto done;
	}
	/* link() never replaces an existing file, unlike rename(). */
	if (link(tmp, path) != 0) {
		int e = errno;
		if (e == EEXIST) {
			rc = STORE_EXISTS;
		} else {
			log_error("backup: cannot create %s: %s", path, strerror(e));
			rc = e == ENOSPC || e == EDQUOT ? STORE_FULL : STORE_IO;
		}
		goto done;
	}
	if (sync_parent(path) != 0) {
		log_error("backup: cannot sync the directory of %s: %s", path, strerror(errno));
		unlink(path);
		rc = STORE_IO;
	}
done:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (rc != STORE_OK && bytes)
		*bytes = 0;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* AdminService.Backup                                                       */

static int make_dir(const char *path)
{
	return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

void rpc_AdminService_Backup(struct rpc_call *call,
			     const Smartplus__Billing__V1__BackupRequest *req)
{
	Smartplus__Billing__V1__BackupResponse r = SMARTPLUS__BILLING__V1__BACKUP_RESPONSE__INIT;
	char dir[PATH_MAX], file[PATH_MAX];
	uint64_t bytes = 0;
	int rc, n;

	/* "." and ".." match the id pattern but name no new directory. */
	if (!valid_id(req->name) || strcmp(req->name, ".") == 0 || strcmp(req->name, "..") == 0) {
		rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL,
			 "name: " HANDLER_ID_RULE " and not be '.' or '..'");
		return;
	}
	n = snprintf(dir, sizeof(dir), "%s/backups", billingd.cfg.data_dir);
	if (n < 0 || (size_t)n >= sizeof(dir) || make_dir(dir) != 0) {
		handler_fail_internal(call, "cannot create %s/backups: %s", billingd.cfg.data_dir,
				      n < 0 || (size_t)n >= sizeof(dir) ? "path too long"
									: strerror(errno));
		return;
	}
	n = snprintf(dir, sizeof(dir), "%s/backups/%s", billingd.cfg.data_dir, req->name);
	if (n > 0 && (size_t)n < sizeof(dir))
		n = snprintf(file, sizeof(file), "%s/data.mdb", dir);
	if (n < 0 || (size_t)n >= sizeof(file)) {
		handler_fail_internal(call, "path of backup '%s' too long", req->name);
		return;
	}
	/* mkdir is the claim on the name: two calls never share a directory. */
	if (mkdir(dir, 0700) != 0) {
		int e = errno;
		if (e == EEXIST) {
			rpc_fail(call, GRPC_STATUS_ALREADY_EXISTS, NULL,
				 "name: backup '%s' already exists", req->name);
		} else if (e == ENOSPC || e == EDQUOT) {
			rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON_STORAGE_FULL,
				 "no space for the backup");
		} else {
			handler_fail_internal(call, "cannot create %s: %s", dir, strerror(e));
		}
		return;
	}
	rc = backup_copy(billingd.store, file, &bytes);
	if (rc != STORE_OK) {
		rmdir(dir);
		if (rc == STORE_FULL)
			rpc_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, REASON_STORAGE_FULL,
				 "no space for the backup");
		else
			handler_fail_store(call, rc);
		return;
	}
	log_info("backup '%s': %llu bytes in %s", req->name, (unsigned long long)bytes, dir);
	r.path = dir;
	r.size_bytes = (int64_t)bytes;
	rpc_reply(call, &r.base);
}

/* ------------------------------------------------------------------------ */
/* billingd backup                                                           */

static void backup_usage(FILE *f)
{
	fprintf(f, "usage: billingd backup --data-dir DIR --out FILE\n"
		   "  Writes a consistent compacted copy of the store in DIR (a running\n"
		   "  billingd may be using it) to FILE, which must not exist. To restore,\n"
		   "  copy FILE to data.mdb in an empty data directory.\n");
}

int backup_command(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data-dir", required_argument, 0, 'd'},
		{"out", required_argument, 0, 'o'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *data_dir = "data", *out = NULL;
	struct store_env *env = NULL;
	char err[512];
	uint64_t bytes = 0;
	int o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': data_dir = optarg; break;
		case 'o': out = optarg; break;
		case 'h': backup_usage(stdout); return 0;
		default: backup_usage(stderr); return 2;
		}
	}
	if (optind < argc || !out) {
		backup_usage(stderr);
		return 2;
	}
	rc = store_backup_open(data_dir, &env, err, sizeof(err));
	if (rc != STORE_OK) {
		fprintf(stderr, "billingd backup: %s\n", err[0] ? err : store_strerror(rc));
		return 1;
	}
	rc = backup_copy(env, out, &bytes);
	store_close(env);
	if (rc == STORE_EXISTS) {
		fprintf(stderr, "billingd backup: %s already exists\n", out);
		return 1;
	}
	if (rc != STORE_OK) {
		fprintf(stderr, "billingd backup: cannot write %s: %s\n", out, store_strerror(rc));
		return 1;
	}
	printf("billingd backup: %llu bytes written to %s\n", (unsigned long long)bytes, out);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* billingd restore                                                          */

static void restore_usage(FILE *f)
{
	fprintf(f, "usage: billingd restore --from FILE --data-dir DIR\n"
		   "  Puts the backup FILE (from billingctl backup or billingd backup) in\n"
		   "  place as DIR/data.mdb, after checking that it is a billingd store this\n"
		   "  build can serve. DIR must hold no store and no running billingd.\n"
		   "  admin.key is not in a backup: keep the old one, or mint a new key with\n"
		   "  billingd admin-key --data-dir DIR.\n");
}

/* Copies the regular file `from` to the new file `to` (mode 0600), fsynced.
 * 0, or -1 with errno set. */
static int copy_file(const char *from, const char *to, uint64_t *bytes)
{
	char buf[1 << 16];
	struct stat st;
	int in, out = -1, rc = -1, e = 0;

	*bytes = 0;
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	if (fstat(in, &st) != 0)
		goto done;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto done;
	}
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		goto done;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf)), off = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto done;
		if (n == 0)
			break;
		while (off < n) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto done;
			off += w;
		}
		*bytes += (uint64_t)n;
	}
	if (fsync(out) != 0)
		goto done;
	rc = 0;
done:
	e = errno;
	if (out >= 0 && close(out) != 0 && rc == 0) {
		e = errno;
		rc = -1;
	}
	close(in);
	errno = e;
	return rc;
}

/* Removes the staging directory of an earlier restore (ours: the data
 * directory is locked). 0, or -1 with errno set. */
static int remove_staging(const char *stage)
{
	char path[PATH_MAX];
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", stage, files[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			return -1;
	}
	return rmdir(stage) == 0 || errno == ENOENT ? 0 : -1;
}

/* Opens the staged copy as billingd would and checks that it is a billingd
 * store: 0, or -1 after printing why. */
static int check_staged(const char *stage, const char *from, uint32_t *schema)
{
	store_options so = STORE_OPTIONS_INIT;
	store_env *env = NULL;
	store_account *vendor = NULL;
	store_txn *txn = NULL;
	char err[512] = "";
	int rc;

	so.path = stage;
	rc = store_open(&so, &env, err, sizeof(err));
	if (rc != STORE_OK) {
		fprintf(stderr, "billingd restore: %s is not a store this billingd can open: %s\n",
			from, err[0] ? err : store_strerror(rc));
		return -1;
	}
	rc = store_read_begin(env, &txn);
	if (rc == STORE_OK) {
		rc = store_meta_schema_version(txn, schema);
		if (rc == STORE_OK)
			rc = store_account_get(txn, "vendor", &vendor);
		store_read_end(txn);
	}
	store_record_free(vendor);
	store_close(env);
	if (rc == STORE_NOTFOUND) {
		fprintf(stderr,
			"billingd restore: %s holds no billingd store (no vendor account)\n", from);
		return -1;
	}
	if (rc != STORE_OK) {
		fprintf(stderr, "billingd restore: cannot read %s: %s\n", from, store_strerror(rc));
		return -1;
	}
	return 0;
}

int restore_command(int argc, char **argv)
{
	static const struct option opts[] = {
		{"from", required_argument, 0, 'f'},
		{"data-dir", required_argument, 0, 'd'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *from = NULL, *dir = NULL;
	char stage[PATH_MAX], staged[PATH_MAX], target[PATH_MAX], err[256] = "";
	store_lock *lock = NULL;
	uint64_t bytes = 0;
	uint32_t schema = 0;
	long holder = 0;
	int o, rc, code = 1;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'f': from = optarg; break;
		case 'd': dir = optarg; break;
		case 'h': restore_usage(stdout); return 0;
		default: restore_usage(stderr); return 2;
		}
	}
	if (optind < argc || !from || !dir || !*from || !*dir) {
		restore_usage(stderr);
		return 2;
	}
	if ((size_t)snprintf(target, sizeof(target), "%s/data.mdb", dir) >= sizeof(target) ||
	    (size_t)snprintf(stage, sizeof(stage), "%s/restore.tmp", dir) >= sizeof(stage) ||
	    (size_t)snprintf(staged, sizeof(staged), "%s/data.mdb", stage) >= sizeof(staged)) {
		fprintf(stderr, "billingd restore: --data-dir: path too long\n");
		return 2;
	}
	if (access(from, R_OK) != 0) {
		fprintf(stderr, "billingd restore: --from %s: %s\n", from, strerror(errno));
		return 1;
	}
	rc = store_dir_lock(dir, &lock, &holder, err, sizeof(err));
	if (rc == STORE_EXISTS) {
		fprintf(stderr,
			"billingd restore: data directory in use by pid %ld: %s; stop billingd "
			"first\n",
			holder, dir);
		return 1;
	}
	if (rc != STORE_OK) {
		fprintf(stderr, "billingd restore: %s\n", err[0] ? err : store_strerror(rc));
		return 1;
	}
	if (access(target, F_OK) == 0) {
		fprintf(stderr,
			"billingd restore: %s already holds a store (%s); restore into an empty "
			"data directory\n",
			dir, target);
		goto done;
	}
	if (remove_staging(stage) != 0 || mkdir(stage, 0700) != 0) {
		fprintf(stderr, "billingd restore: cannot prepare %s: %s\n", stage,
			strerror(errno));
		goto done;
	}
	if (copy_file(from, staged, &bytes) != 0) {
		fprintf(stderr, "billingd restore: cannot copy %s to %s: %s\n", from, staged,
			strerror(errno));
		goto cleanup;
	}
	if (check_staged(stage, from, &schema) != 0)
		goto cleanup;
	/* The checked copy into place; nothing was at target (the lock keeps
	 * it so). */
	if (rename(staged, target) != 0 || sync_parent(target) != 0) {
		fprintf(stderr, "billingd restore: cannot put %s in place: %s\n", target,
			strerror(errno));
		goto cleanup;
	}
	printf("billingd restore: %s (%llu bytes, schema %u) restored to %s; start billingd with "
	       "--data-dir %s (admin.key is not in a backup: keep yours, or run billingd "
	       "admin-key --data-dir %s)\n",
	       from, (unsigned long long)bytes, schema, target, dir, dir);
	code = 0;
cleanup:
	if (remove_staging(stage) != 0)
		fprintf(stderr, "billingd restore: cannot remove %s: %s\n", stage, strerror(errno));
done:
	store_dir_unlock(lock);
	return code;
}
