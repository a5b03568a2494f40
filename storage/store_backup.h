/*
 * store_backup.h - consistent hot copies of the store.
 *
 * The copy is LMDB's compacting copy (mdb_env_copyfd2 with MDB_CP_COMPACT):
 * it runs in its own read transaction, so it sees exactly one committed
 * state however many writes the writer thread commits meanwhile, and it
 * never blocks the writer. Free pages are left out and the pages are
 * renumbered, so the copy is usually smaller than data.mdb.
 *
 * Caveats: the copy holds a read transaction (one reader slot) for as long
 * as it runs, which pins the pages of that snapshot: a long copy under heavy
 * writes makes the map grow. The restored file is a complete environment:
 * put it in an empty directory as data.mdb and open it (LMDB recreates the
 * lock file).
 */
#ifndef SPB_STORE_BACKUP_H
#define SPB_STORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * Write a compacted copy of env to the open file descriptor fd (a regular
 * file, positioned at 0, empty), fsync it, and set *bytes (may be NULL) to
 * its size. The fd stays the caller's. Returns 0, STORE_FULL (no space on
 * the target), STORE_READERS_FULL, or STORE_IO.
 */
int store_backup_fd(store_env *env, int fd, uint64_t *bytes);

/*
 * Open the store in directory path read-only, for store_backup_fd() from
 * another process than the server (`billingd backup`), which may be running
 * on it: no write transaction, no writer thread, no schema check, and the
 * map size the server set is kept (a different one written by a second
 * process would make the server's map stale). Only store_backup_fd() and
 * store_close() may be used on *out. Returns 0, STORE_NOTFOUND (no store
 * there), STORE_CORRUPT (not an LMDB environment) or STORE_IO, with a
 * description in err[errlen] (may be NULL).
 */
int store_backup_open(const char *path, store_env **out, char *err, size_t errlen);

#endif /* SPB_STORE_BACKUP_H */
