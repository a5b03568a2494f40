/* xalloc.c: allocations that abort on exhaustion. See xalloc.h. */
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No allocation here: stderr is unbuffered and fprintf of a number does not
 * allocate in glibc. */
static void oom(size_t size)
{
	fprintf(stderr, "%s: out of memory allocating %zu bytes; aborting\n",
		program_invocation_short_name, size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		oom(size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p;
	if (size && n > (size_t)-1 / size)
		oom((size_t)-1);
	p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		oom(size);
	return q;
}

char *xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = xmalloc(len + 1);
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

void *xmemdup(const void *p, size_t len)
{
	void *d = xmalloc(len);
	if (len)
		memcpy(d, p, len);
	return d;
}
