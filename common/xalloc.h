#ifndef SPB_XALLOC_H
#define SPB_XALLOC_H

/*
 * xalloc.h: the allocation policy of billingd and its storage layer. Memory
 * exhaustion is not an error a request can recover from: an allocation that
 * fails logs "out of memory" with its size on stderr and aborts the process
 * (redis' zmalloc does the same), so callers never check for NULL and no
 * half-built state is left behind a failed call. The store's durability
 * does not depend on the process surviving (every acknowledged write is
 * fsynced before its answer).
 *
 * Every allocation in server/ and storage/ goes through these; the SDK
 * (sdk/) does not: a library returns an error to its caller instead.
 * What they return is released with free().
 */

#include <stddef.h>

/* Never NULL. xmalloc(0) and xcalloc(n, 0) return a unique pointer. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size); /* aborts on n * size overflow too */
void *xrealloc(void *p, size_t size); /* xrealloc(p, 0) returns a 1-byte block */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A copy of len bytes at p (p may be NULL when len is 0). */
void *xmemdup(const void *p, size_t len);

#endif
