/*
 * lmdb_commit: the durability limit. Commits to a fresh LMDB environment,
 * opened like billingd's store (MDB_NOTLS, default sync: every commit is
 * flushed to disk before mdb_txn_commit returns), for a fixed duration per
 * mode, and prints:
 *
 *   lmdb 1 put/commit: <commits>/s (<records>/s), mean commit <us> us
 *   lmdb 100 puts/commit: <commits>/s (<records>/s), mean commit <us> us
 *
 *   lmdb_commit --dir DIR [--seconds S] [--value-bytes N] [--batch B ...]
 *
 * DIR must not exist or be empty; it is left behind for the caller to delete.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>

#define MAX_MODES 8

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check(int rc, const char *what)
{
	if (rc != MDB_SUCCESS) {
		fprintf(stderr, "lmdb_commit: %s: %s\n", what, mdb_strerror(rc));
		exit(1);
	}
	return rc;
}

/* Big-endian sequence number: keys append at the end, as ledger entries do. */
static void put_key(unsigned char *k, uint64_t seq)
{
	for (int i = 7; i >= 0; i--) {
		k[i] = (unsigned char)(seq & 0xff);
		seq >>= 8;
	}
}

static void run_mode(MDB_env *env, MDB_dbi dbi, int batch, double seconds, size_t value_bytes,
		     uint64_t *seq)
{
	unsigned char key[8];
	unsigned char *value = malloc(value_bytes);
	uint64_t commits = 0, records = 0;
	double start = now_s(), end = start + seconds, t;

	if (!value)
		exit(1);
	for (size_t i = 0; i < value_bytes; i++)
		value[i] = (unsigned char)(i * 131 + 7);
	do {
		MDB_txn *txn;
		check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
		for (int i = 0; i < batch; i++) {
			MDB_val k = {sizeof(key), key}, v = {value_bytes, value};
			put_key(key, (*seq)++);
			memcpy(value, key, sizeof(key) < value_bytes ? sizeof(key) : value_bytes);
			check(mdb_put(txn, dbi, &k, &v, MDB_APPEND), "mdb_put");
		}
		check(mdb_txn_commit(txn), "mdb_txn_commit");
		commits++;
		records += (uint64_t)batch;
		t = now_s();
	} while (t < end);
	printf("lmdb %d put%s/commit: %.0f commits/s (%.0f records/s), mean commit %.0f us\n",
	       batch, batch == 1 ? "" : "s", (double)commits / (t - start),
	       (double)records / (t - start), (t - start) * 1e6 / (double)commits);
	fflush(stdout);
	free(value);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, 0, 'd'},
		{"seconds", required_argument, 0, 's'},
		{"value-bytes", required_argument, 0, 'v'},
		{"batch", required_argument, 0, 'b'},
		{0, 0, 0, 0},
	};
	const char *dir = NULL;
	double seconds = 3;
	size_t value_bytes = 200;
	int batches[MAX_MODES], nbatches = 0, o;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint64_t seq = 0;
	char *end;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 's':
			seconds = strtod(optarg, &end);
			if (end == optarg || *end)
				seconds = -1; /* not a number: refused below */
			break;
		case 'v': value_bytes = (size_t)strtoul(optarg, NULL, 10); break;
		case 'b':
			if (nbatches < MAX_MODES)
				batches[nbatches++] = (int)strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: lmdb_commit --dir DIR [--seconds S] "
					"[--value-bytes N] [--batch B ...]\n");
			return 2;
		}
	}
	if (!dir || seconds <= 0 || seconds > 600 || value_bytes < 8 || value_bytes > 4096) {
		fprintf(stderr, "usage: lmdb_commit --dir DIR [--seconds S (0..600)] "
				"[--value-bytes N (8..4096)] [--batch B ...]\n");
		return 2;
	}
	if (nbatches == 0) {
		batches[nbatches++] = 1;
		batches[nbatches++] = 100;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	check(mdb_env_create(&env), "mdb_env_create");
	check(mdb_env_set_mapsize(env, (size_t)4 << 30), "mdb_env_set_mapsize");
	check(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
	check(mdb_env_open(env, dir, MDB_NOTLS, 0600), "mdb_env_open");
	check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	check(mdb_dbi_open(txn, "bench", MDB_CREATE, &dbi), "mdb_dbi_open");
	check(mdb_txn_commit(txn), "mdb_txn_commit");
	for (int i = 0; i < nbatches; i++)
		if (batches[i] >= 1 && batches[i] <= 100000)
			run_mode(env, dbi, batches[i], seconds, value_bytes, &seq);
	mdb_env_close(env);
	return 0;
}
