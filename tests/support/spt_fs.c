/* spt_fs.c - see spt_fs.h. */
#define _GNU_SOURCE /* nftw */
#include "spt_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int spt_tmpdir(char *dir, size_t cap, const char *prefix)
{
	const char *t = getenv("TMPDIR");
	int n = snprintf(dir, cap, "%s/spb-%s.XXXXXX", t && *t ? t : "/tmp", prefix);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "spt_tmpdir: path too long\n");
		return -1;
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "spt_tmpdir: mkdtemp %s: %s\n", dir, strerror(errno));
		dir[0] = 0;
		return -1;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int spt_rmtree(const char *path)
{
	if (!path || !path[0])
		return 0;
	if (access(path, F_OK) != 0)
		return 0;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int spt_tmpdir_remove(const char *dir)
{
	if (!dir || !dir[0])
		return 0;
	if (getenv("SPT_KEEP")) {
		fprintf(stderr, "kept %s (SPT_KEEP)\n", dir);
		return 0;
	}
	if (spt_rmtree(dir) != 0) {
		fprintf(stderr, "cannot remove %s\n", dir);
		return -1;
	}
	return 0;
}

char *spt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t got;
		if (cap - n < 4096) {
			char *nb = realloc(buf, cap * 2 + 4096);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = cap * 2 + 4096;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

int spt_read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	int ok;

	buf[0] = 0;
	if (!f)
		return -1;
	ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (!ok)
		buf[0] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	return buf[0] ? 0 : -1;
}

int spt_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	const char *p = data;
	int rc = 0;

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = -1;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

int spt_copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = spt_read_file(from, &len);
	int rc;

	if (!data)
		return -1;
	rc = spt_write_file(to, data, len, 0600);
	free(data);
	return rc;
}

void spt_print_tail(const char *path, int lines)
{
	char *text = spt_read_file(path, NULL);
	const char *p;
	int seen = 0;

	if (!text) {
		fprintf(stderr, "spt: no file %s\n", path);
		return;
	}
	p = text + strlen(text);
	while (p > text && seen <= lines)
		if (*--p == '\n')
			seen++;
	if (*p == '\n')
		p++;
	fprintf(stderr, "---- last lines of %s ----\n%s---- end of %s ----\n", path, p, path);
	free(text);
}

char *spt_path(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
	return buf;
}
