/*
 * spt_fs.h - temporary directories and small file helpers for tests.
 *
 * Every temporary directory of a test is made by spt_tmpdir() under $TMPDIR
 * (or /tmp) and removed by spt_tmpdir_remove(), which keeps it instead when
 * the environment has SPT_KEEP set (and says where it is), for a look after
 * a failure.
 */
#ifndef SPT_FS_H
#define SPT_FS_H

#include <stddef.h>
#include <sys/types.h>

#define SPT_PATH_MAX 512

/* Creates <$TMPDIR or /tmp>/spb-<prefix>.XXXXXX and writes its path to
 * dir[cap]. 0, or -1 (printed). */
int spt_tmpdir(char *dir, size_t cap, const char *prefix);

/* Removes dir and everything below it, unless SPT_KEEP is set. NULL or ""
 * does nothing. 0, or -1 (printed) when something could not be removed. */
int spt_tmpdir_remove(const char *dir);

/* rm -rf path (always). 0, or -1 if something could not be removed. */
int spt_rmtree(const char *path);

/* The whole file, NUL-terminated, malloc'ed (caller frees); *len (may be
 * NULL) its length. NULL if it cannot be read. */
char *spt_read_file(const char *path, size_t *len);

/* The first line of a file without its line end, in buf[cap]. 0, or -1 when
 * the file is missing or that line is empty. */
int spt_read_line(const char *path, char *buf, size_t cap);

/* Writes len bytes to path (created or truncated) with mode. 0 or -1. */
int spt_write_file(const char *path, const void *data, size_t len, mode_t mode);

/* Copies a file byte for byte (the copy gets mode 0600). 0 or -1. */
int spt_copy_file(const char *from, const char *to);

/* Prints the last `lines` lines of a file to stderr, between markers. */
void spt_print_tail(const char *path, int lines);

/* snprintf(buf, cap, "%s/%s", dir, name); returns buf. */
char *spt_path(char *buf, size_t cap, const char *dir, const char *name);

#endif
