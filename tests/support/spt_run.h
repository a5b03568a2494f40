/*
 * spt_run.h - the test runner: one main for every CUnit program, its
 * arguments, and assertions that explain themselves.
 *
 * A test program is one file (tests/<component>/test_<module>.c) with one
 * suite, ending in
 *
 *	static CU_TestInfo tests[] = {{"refused writes change nothing", test_refused}, ...,
 *				      CU_TEST_INFO_NULL};
 *	static CU_SuiteInfo suites[] = {{"ledger", init, clean, NULL, NULL, tests},
 *					CU_SUITE_INFO_NULL};
 *	int main(int argc, char **argv)
 *	{
 *		return spt_main(argc, argv, "BILLINGD [LEDGER_CHECK] [--kills N]", suites);
 *	}
 *
 * spt_main() registers the suites, runs them (all, or the ones --suite and
 * --test name), prints every failure again at the end, and returns 0 when
 * nothing failed, 1 when an assertion, a test, a suite's init or cleanup
 * failed (or a test was stopped), 2 on a usage or CUnit error. SIGPIPE is
 * ignored (a dead server must not kill the test).
 *
 * The usage string declares the program's arguments: upper-case words are
 * positional (required; in brackets optional), "[--name V]" an option with a
 * value, "[--name]" a flag. They are read with spt_arg() by their lower-case
 * name ("BILLINGD" -> spt_arg("billingd"), "LEDGER_CHECK" ->
 * spt_arg("ledger_check")). Always accepted: --suite S, --test T (run only
 * those; T is a test's name as registered), --skip T (run all but T; may
 * be repeated), --list (print the names).
 *
 * Not thread-safe except where said: CUnit keeps its counters in globals.
 */
#ifndef SPT_RUN_H
#define SPT_RUN_H

#include <stddef.h>

#include <CUnit/CUnit.h>

/* Registers and runs suites (a CU_SUITE_INFO_NULL-terminated array); the
 * process exit code. */
int spt_main(int argc, char **argv, const char *usage, CU_SuiteInfo *suites);

/* The value of a declared argument or option, or NULL when it was not given
 * (or not declared). Valid for the life of the process. */
const char *spt_arg(const char *name);
/* The value of an option as a number, or dflt when absent. A value that is
 * not a whole number ends the program with the usage line. */
long spt_arg_long(const char *name, long dflt);
/* 1 when the flag (or an option with a value) was given. */
int spt_flag(const char *name);

/*
 * SPT_CHECK(cond, fmt, ...) - CU_ASSERT(cond) whose failure record carries
 * the printf-formatted explanation (and what the context hook adds, e.g.
 * the SDK's last error), so the final failure list says what went wrong.
 * Safe to call from any thread (it takes a lock around CUnit).
 *
 * SPT_REQUIRE(cond, fmt, ...) - the same, fatal: the test stops here (the
 * test's own thread only).
 */
#define SPT_CHECK(cond, ...) spt_check(!!(cond), 0, #cond, __FILE__, __LINE__, __VA_ARGS__)
#define SPT_REQUIRE(cond, ...) spt_check(!!(cond), 1, #cond, __FILE__, __LINE__, __VA_ARGS__)

/*
 * SPT_SEED(expr) - a setup step that returns 0 on success (an SDK code, a
 * helper's 0/-1). On failure the test stops with a failure and so does the
 * rest of the run: every test not yet run is marked inactive, which CUnit
 * counts as failed. A test never goes on from a half-built world.
 */
#define SPT_SEED(expr) spt_seed((expr), #expr, __FILE__, __LINE__)

void spt_check(int ok, int fatal, const char *cond, const char *file, int line, const char *fmt,
	       ...) __attribute__((format(printf, 6, 7)));
void spt_seed(int rc, const char *expr, const char *file, int line);

/* Marks every test that has not run yet inactive (counted as failed) and
 * says why on stderr. */
void spt_stop_run(const char *why);

/*
 * A hook that appends context to a failure's explanation (buf has cap
 * bytes, NUL-terminated on return). spt_sdk.c installs one that names the
 * SDK's last error. NULL removes it.
 */
void spt_set_failure_context(void (*fn)(char *buf, size_t cap));

/* Number of failures recorded so far (assertions, tests, suites). */
unsigned spt_failures(void);

/* Registers fn to run once when spt_main() has run the suites (before it
 * returns), e.g. to kill children a fatal assertion left behind. At most 8. */
void spt_at_end(void (*fn)(void));

#endif
