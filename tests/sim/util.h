#ifndef SPB_SIM_UTIL_H
#define SPB_SIM_UTIL_H

/* Small helpers of the simulator: a seeded generator (splitmix64, so a
 * seed means the same history on every machine) and a bump arena for
 * building request messages. */

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
	uint64_t s;
} rng;

static inline void rng_seed(rng *r, uint64_t seed)
{
	r->s = seed ^ UINT64_C(0x9e3779b97f4a7c15);
}

static inline uint64_t rng_next(rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t rng_below(rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* True with probability pct/100. */
static inline int rng_chance(rng *r, int pct)
{
	return (int)rng_below(r, 100) < pct;
}

/* A bump allocator: every allocation lives until arena_reset(). */
typedef struct sim_arena {
	char *buf;
	size_t cap, used;
	struct sim_arena *next; /* overflow blocks */
} sim_arena;

void *sa_alloc(sim_arena *a, size_t n); /* zeroed; never NULL (aborts) */
char *sa_strdup(sim_arena *a, const char *s);
char *sa_printf(sim_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sa_reset(sim_arena *a);
void sa_free(sim_arena *a);

#endif
