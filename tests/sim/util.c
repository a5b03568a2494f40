/* util.c: the arena of util.h. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (256 * 1024)

void *sa_alloc(sim_arena *a, size_t n)
{
	void *p;
	n = (n + 15) & ~(size_t)15;
	if (!a->buf || a->used + n > a->cap) {
		sim_arena *old;
		size_t cap = n > BLOCK ? n : BLOCK;
		if (a->buf) {
			old = malloc(sizeof(*old));
			if (!old)
				abort();
			*old = *a;
			a->next = old;
		}
		a->buf = malloc(cap);
		if (!a->buf)
			abort();
		a->cap = cap;
		a->used = 0;
	}
	p = a->buf + a->used;
	a->used += n;
	memset(p, 0, n);
	return p;
}

char *sa_strdup(sim_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = sa_alloc(a, n);
	memcpy(p, s, n);
	return p;
}

char *sa_printf(sim_arena *a, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return sa_strdup(a, tmp);
}

void sa_reset(sim_arena *a)
{
	sim_arena *b = a->next;
	while (b) {
		sim_arena *n = b->next;
		free(b->buf);
		free(b);
		b = n;
	}
	a->next = NULL;
	a->used = 0;
}

void sa_free(sim_arena *a)
{
	sa_reset(a);
	free(a->buf);
	memset(a, 0, sizeof(*a));
}
