/* backup.c - hot compacting copy of the store. See store_backup.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_backup.h"
#include "store_int.h"
#include "xalloc.h"

int store_backup_fd(store_env *env, int fd, uint64_t *bytes)
{
	struct stat st;
	int mrc;

	if (bytes)
		*bytes = 0;
	if (!env || fd < 0)
		return STORE_INVALID;
	mrc = mdb_env_copyfd2(env->mdb, fd, MDB_CP_COMPACT);
	if (mrc == ENOSPC || mrc == EDQUOT)
		return STORE_FULL;
	if (mrc != 0)
		return mrc == MDB_READERS_FULL ? STORE_READERS_FULL : STORE_IO;
	if (fsync(fd) != 0)
		return errno == ENOSPC || errno == EDQUOT ? STORE_FULL : STORE_IO;
	if (fstat(fd, &st) != 0)
		return STORE_IO;
	if (bytes)
		*bytes = (uint64_t)st.st_size;
	return STORE_OK;
}

int store_backup_open(const char *path, store_env **out, char *err, size_t errlen)
{
	char scratch[256];
	store_env *env;
	int mrc;

	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	*out = NULL;
	if (!path)
		return STORE_INVALID;
	env = xcalloc(1, sizeof(*env));
	/* What store_close() expects of any env. */
	env->tail = &env->head;
	pthread_mutex_init(&env->rlock, NULL);
	pthread_mutex_init(&env->wlock, NULL);
	pthread_cond_init(&env->wcond, NULL);
	mrc = mdb_env_create(&env->mdb);
	if (mrc == 0)
		mrc = mdb_env_set_maxdbs(env->mdb, DB_COUNT);
	/* No mapsize: LMDB takes the one recorded in the file. */
	if (mrc == 0)
		mrc = mdb_env_open(env->mdb, path, MDB_RDONLY | MDB_NOTLS, 0600);
	if (mrc != 0) {
		snprintf(err, errlen, "opening the store in %s: %s", path, mdb_strerror(mrc));
		store_close(env);
		return mrc == ENOENT ? STORE_NOTFOUND : store_err(mrc);
	}
	*out = env;
	return STORE_OK;
}
