#ifndef SPB_BACKUP_H
#define SPB_BACKUP_H

/*
 * Hot backups of the store: AdminService.Backup and `billingd backup`.
 *
 * A backup is one file, a compacted LMDB environment (storage/store_backup.h) of
 * one committed state, taken while the server keeps writing. To restore it,
 * put it as data.mdb in an empty data directory (with a key file of your
 * choice: admin.key is not part of the store) and start billingd there.
 *
 * `billingd restore --from FILE --data-dir DIR` does that with checks: DIR
 * must hold no store and no running billingd, and FILE must open as a
 * billingd store this build can serve.
 *
 * AdminService.Backup{name} writes <data-dir>/backups/<name>/data.mdb (both
 * directories mode 0700) and answers its path and size; ALREADY_EXISTS if
 * <name> is taken. The copy runs on the completion-queue thread of the call.
 */

#include <stdint.h>

struct store_env;

/*
 * Writes a consistent compacted copy of env to the file `path` (mode 0600),
 * never replacing an existing file: the copy goes to a temporary file next
 * to it, is fsynced, then linked into place, and the directory is fsynced.
 * On success *bytes (may be NULL) is the file's size. Returns 0 or a
 * negative STORE_* code: STORE_EXISTS (path taken), STORE_FULL (no space),
 * STORE_READERS_FULL, STORE_INVALID (bad arguments, path too long), STORE_IO
 * (anything else, logged with detail). Nothing is left behind on failure.
 */
int backup_copy(struct store_env *env, const char *path, uint64_t *bytes);

/*
 * `billingd backup --data-dir D --out FILE`: copies the store in D (which a
 * server may be running on) to FILE, which must not exist, then exits.
 * argv[0] is "backup". Returns the process exit code: 0, 1 (failure,
 * printed on stderr) or 2 (usage).
 */
int backup_command(int argc, char **argv);

/*
 * `billingd restore --from FILE --data-dir DIR`: puts the backup FILE in
 * place as DIR/data.mdb (DIR is created 0700 if missing). Refused when a
 * billingd holds DIR, when DIR already has a data.mdb (a store is never
 * overwritten), or when FILE is not a billingd store this build can open
 * (not LMDB, a newer schema, no vendor account). The copy is staged in
 * DIR/restore.tmp/, opened and checked there, fsynced, then renamed into
 * place and the directory fsynced: a crash leaves either no data.mdb or the
 * whole one. admin.key is not part of a backup: keep the old one or mint a
 * new key with `billingd admin-key --data-dir DIR`. argv[0] is "restore".
 * Returns 0, 1 (refused or failed, printed on stderr) or 2 (usage).
 */
int restore_command(int argc, char **argv);

#endif
