/* spt_run.c - see spt_run.h. */
#include "spt_run.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#define MAX_ARGS 32

/* The declared arguments and what the command line gave them. */
static struct decl {
	char name[40];
	int positional, optional, takes_value;
	const char *value; /* NULL: not given; "" for a given flag */
} decls[MAX_ARGS];
static int n_decls;
static const char *prog = "test", *usage_line = "";

static pthread_mutex_t cu_lock = PTHREAD_MUTEX_INITIALIZER;
static int run_stopped;
static void (*at_end[8])(void);
static int n_at_end;

void spt_at_end(void (*fn)(void))
{
	for (int i = 0; i < n_at_end; i++)
		if (at_end[i] == fn)
			return;
	if (n_at_end < 8)
		at_end[n_at_end++] = fn;
}
static void (*context_fn)(char *, size_t);

static void usage_exit(const char *why)
{
	if (why)
		fprintf(stderr, "%s: %s\n", prog, why);
	fprintf(stderr, "usage: %s %s [--suite S] [--test T] [--skip T]... [--list]\n", prog,
		usage_line);
	exit(2);
}

static void declare(const char *name, size_t len, int positional, int optional, int takes_value)
{
	struct decl *d;
	if (n_decls == MAX_ARGS || len == 0 || len >= sizeof(decls[0].name))
		return;
	d = &decls[n_decls++];
	for (size_t i = 0; i < len; i++)
		d->name[i] = (char)tolower((unsigned char)name[i]);
	d->name[len] = 0;
	d->positional = positional;
	d->optional = optional;
	d->takes_value = takes_value;
}

/* "BILLINGD [LEDGER_CHECK] [--kills N] [--verbose]" -> decls. */
static void parse_usage(const char *u)
{
	const char *p = u;
	while (*p) {
		const char *start, *end;
		int bracket;
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		bracket = *p == '[';
		start = p + bracket;
		end = start;
		while (*end && *end != ' ' && *end != ']')
			end++;
		if (start[0] == '-' && start[1] == '-') {
			const char *q = end;
			int value = *q == ' ';
			declare(start + 2, (size_t)(end - start - 2), 0, 1, value);
			while (*q && *q != ']')
				q++;
			p = *q ? q + 1 : q;
		} else {
			declare(start, (size_t)(end - start), 1, bracket, 0);
			p = *end == ']' ? end + 1 : end;
		}
	}
}

static struct decl *find(const char *name, int positional)
{
	for (int i = 0; i < n_decls; i++)
		if (decls[i].positional == positional && strcmp(decls[i].name, name) == 0)
			return &decls[i];
	return NULL;
}

const char *spt_arg(const char *name)
{
	struct decl *d = find(name, 1);
	if (!d)
		d = find(name, 0);
	return d ? d->value : NULL;
}

long spt_arg_long(const char *name, long dflt)
{
	const char *v = spt_arg(name);
	char *end;
	long n;
	if (!v)
		return dflt;
	n = strtol(v, &end, 10);
	if (end == v || *end)
		usage_exit("a number expected");
	return n;
}

int spt_flag(const char *name)
{
	return spt_arg(name) != NULL;
}

void spt_set_failure_context(void (*fn)(char *buf, size_t cap))
{
	context_fn = fn;
}

unsigned spt_failures(void)
{
	unsigned n;
	pthread_mutex_lock(&cu_lock);
	n = CU_get_number_of_failure_records() + CU_get_number_of_tests_failed() +
	    CU_get_number_of_suites_failed();
	pthread_mutex_unlock(&cu_lock);
	return n;
}

void spt_check(int ok, int fatal, const char *cond, const char *file, int line, const char *fmt,
	       ...)
{
	char msg[1024], ctx[512] = "";
	va_list ap;
	int n;

	if (ok) {
		pthread_mutex_lock(&cu_lock);
		CU_assertImplementation(CU_TRUE, (unsigned)line, cond, file, "", CU_FALSE);
		pthread_mutex_unlock(&cu_lock);
		return;
	}
	n = snprintf(msg, sizeof(msg), "%s -- ", cond);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (context_fn) {
		context_fn(ctx, sizeof(ctx));
		if (ctx[0]) {
			size_t len = strlen(msg);
			snprintf(msg + len, sizeof(msg) - len, " (%s)", ctx);
		}
	}
	fprintf(stderr, "\n  FAIL %s:%d: %s\n", file, line, msg);
	if (fatal) /* longjmps out of the test: no lock held across it */
		CU_assertImplementation(CU_FALSE, (unsigned)line, msg, file, "", CU_TRUE);
	pthread_mutex_lock(&cu_lock);
	CU_assertImplementation(CU_FALSE, (unsigned)line, msg, file, "", CU_FALSE);
	pthread_mutex_unlock(&cu_lock);
}

void spt_stop_run(const char *why)
{
	CU_pTestRegistry reg = CU_get_registry();
	CU_pSuite cur_suite = CU_get_current_suite();
	CU_pTest cur_test = CU_get_current_test();
	int after = 0;

	fprintf(stderr, "\n  STOP: %s: the remaining tests are not run (counted as failed)\n", why);
	run_stopped = 1;
	CU_set_fail_on_inactive(CU_TRUE);
	if (!reg)
		return;
	for (CU_pSuite s = reg->pSuite; s; s = s->pNext) {
		if (s == cur_suite && !cur_test)
			after = 1; /* stopped in the suite's init: all of it */
		for (CU_pTest t = s->pTest; t; t = t->pNext) {
			if (after)
				CU_set_test_active(t, CU_FALSE);
			if (t == cur_test)
				after = 1;
		}
		if (s == cur_suite)
			after = 1;
	}
}

void spt_seed(int rc, const char *expr, const char *file, int line)
{
	char why[512];
	if (rc == 0) {
		CU_assertImplementation(CU_TRUE, (unsigned)line, expr, file, "", CU_FALSE);
		return;
	}
	snprintf(why, sizeof(why), "seed failed: %s returned %d", expr, rc);
	spt_stop_run(why);
	spt_check(0, 1, expr, file, line, "seed step failed (returned %d)", rc);
}

static void list_tests(CU_SuiteInfo *suites)
{
	for (CU_SuiteInfo *s = suites; s->pName; s++)
		for (CU_TestInfo *t = s->pTests; t && t->pName; t++)
			printf("%s: %s\n", s->pName, t->pName);
}

int spt_main(int argc, char **argv, const char *usage, CU_SuiteInfo *suites)
{
	const char *only_suite = NULL, *only_test = NULL, *skip[16];
	int listing = 0, npos = 0, rc = 0, n_skip = 0;
	CU_pSuite suite = NULL;
	CU_pTest test = NULL;

	prog = argc > 0 ? argv[0] : "test";
	usage_line = usage ? usage : "";
	parse_usage(usage_line);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--suite") == 0 || strcmp(a, "--test") == 0) {
			if (i + 1 >= argc)
				usage_exit("a name expected");
			*(a[2] == 's' ? &only_suite : &only_test) = argv[++i];
		} else if (strcmp(a, "--skip") == 0) {
			if (i + 1 >= argc || n_skip == 16)
				usage_exit("a name expected");
			skip[n_skip++] = argv[++i];
		} else if (strcmp(a, "--list") == 0) {
			listing = 1;
		} else if (a[0] == '-' && a[1] == '-') {
			struct decl *d = find(a + 2, 0);
			if (!d)
				usage_exit("unknown option");
			if (d->takes_value) {
				if (i + 1 >= argc)
					usage_exit("a value expected");
				d->value = argv[++i];
			} else {
				d->value = "";
			}
		} else {
			int k = 0;
			for (int j = 0; j < n_decls; j++)
				if (decls[j].positional && k++ == npos) {
					decls[j].value = a;
					break;
				}
			if (k <= npos)
				usage_exit("too many arguments");
			npos++;
		}
	}
	if (listing) {
		list_tests(suites);
		return 0;
	}
	for (int j = 0; j < n_decls; j++)
		if (decls[j].positional && !decls[j].optional && !decls[j].value)
			usage_exit("missing argument");

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "%s: %s\n", prog, CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (n_skip) /* skipped on purpose: not a failure */
		CU_set_fail_on_inactive(CU_FALSE);
	for (int k = 0; k < n_skip; k++) {
		CU_pTest t = NULL;
		for (CU_pSuite s = CU_get_registry()->pSuite; s && !t; s = s->pNext)
			t = CU_get_test(s, skip[k]);
		if (!t)
			usage_exit("no such test to skip");
		CU_set_test_active(t, CU_FALSE);
	}
	if (only_suite && !(suite = CU_get_suite(only_suite)))
		usage_exit("no such suite");
	if (only_test) {
		for (CU_pSuite s = suite ? suite : CU_get_registry()->pSuite; s && !test;
		     s = suite ? NULL : s->pNext)
			if ((test = CU_get_test(s, only_test)))
				suite = s;
		if (!test)
			usage_exit("no such test");
		CU_basic_run_test(suite, test);
	} else if (suite) {
		CU_basic_run_suite(suite);
	} else {
		CU_basic_run_tests();
	}
	for (int i = 0; i < n_at_end; i++)
		at_end[i]();
	if (spt_failures() || run_stopped) {
		rc = 1;
		printf("\nFAILURES of %s:", prog);
		CU_basic_show_failures(CU_get_failure_list());
		printf("\n");
	}
	CU_cleanup_registry();
	return rc;
}
