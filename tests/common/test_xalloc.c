/*
 * test_xalloc.c: the allocation policy (common/xalloc.h): the wrappers
 * return usable memory (zero sizes included) and an allocation that cannot
 * be satisfied aborts the process with "out of memory" on stderr instead of
 * returning NULL.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "xalloc.h"

static void test_sizes(void)
{
	unsigned char *z = xcalloc(16, 4);
	char *s = xstrndup("abcdef", 3), *d = xstrdup("");
	void *zero = xmalloc(0), *m;
	int all_zero = 1;

	CU_ASSERT_PTR_NOT_NULL(zero);
	for (size_t i = 0; i < 64; i++)
		all_zero &= z[i] == 0;
	CU_ASSERT(all_zero);
	z[63] = 7;
	z = xrealloc(z, 1 << 20);
	CU_ASSERT_EQUAL(z[63], 7);
	CU_ASSERT_STRING_EQUAL(s, "abc");
	CU_ASSERT_STRING_EQUAL(d, "");
	m = xmemdup("xyz", 4);
	CU_ASSERT_STRING_EQUAL(m, "xyz");
	zero = xrealloc(zero, 0);
	CU_ASSERT_PTR_NOT_NULL(zero);
	free(zero);
	free(z);
	free(s);
	free(d);
	free(m);
}

/* Runs fn in a child with stderr on a pipe: its wait status and what it
 * wrote. */
static int in_child(void (*fn)(void), char *err, size_t cap)
{
	int p[2], st = 0;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		fn();
		_exit(0); /* not reached when fn aborts */
	}
	close(p[1]);
	while (got + 1 < cap && (n = read(p[0], err + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = 0;
	close(p[0]);
	waitpid(pid, &st, 0);
	return st;
}

static void overflowing_calloc(void)
{
	volatile size_t n = SIZE_MAX / 2;
	(void)xcalloc(n, 4); /* n * 4 overflows size_t */
}

static void test_exhaustion_aborts(void)
{
	char err[512];
	int st = in_child(overflowing_calloc, err, sizeof(err));
	CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of memory"));
}

int main(void)
{
	CU_pSuite s;
	unsigned fails;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("xalloc", NULL, NULL);
	CU_add_test(s, "wrappers return usable memory, zero sizes included", test_sizes);
	CU_add_test(s, "an allocation that cannot be made aborts with a message",
		    test_exhaustion_aborts);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
