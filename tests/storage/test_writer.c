/*
 * test_writer.c - the writer thread: nested rollback, group commit,
 * map full, reads during a write.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spt_run.h"
#include "spt_store.h"

/* A mutation that holds the writer until opened, so the test can queue a
 * whole batch behind it. */
struct gate {
	store_mutation m;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int entered, open;
};

static int gate_apply(store_txn *w, void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->lock);
	g->entered = 1;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void gate_done(void *arg, int rc)
{
}

static void gate_shut(store_env *env, struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->m.apply = gate_apply;
	g->m.done = gate_done;
	g->m.arg = g;
	CU_ASSERT_EQUAL(store_submit(env, &g->m), 0);
	pthread_mutex_lock(&g->lock);
	while (!g->entered)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static int apply_nothing(store_txn *w, void *arg)
{
	return 0;
}

/* Wait until every mutation submitted so far is done (the queue is FIFO). */
static void barrier(store_env *env)
{
	CU_ASSERT_EQUAL(store_write_sync(env, apply_nothing, NULL), 0);
}

/* An account put that may fail on purpose after writing, or be huge. */
struct acc_mut {
	store_mutation m;
	char id[32];
	int fail;
	char *big;
	int rc;
	int done;
};

static int acc_apply(store_txn *w, void *arg)
{
	struct acc_mut *a = arg;
	store_account rec = STORE_ACCOUNT_INIT;
	int rc;

	rec.account_id = a->id;
	rec.parent_id = "root";
	if (a->big)
		rec.display_name = a->big;
	rc = store_account_put(w, &rec, 1);
	return rc == 0 && a->fail ? 7 : rc;
}

static void acc_done(void *arg, int rc)
{
	struct acc_mut *a = arg;

	a->rc = rc;
	a->done++;
}

static void acc_submit(store_env *env, struct acc_mut *a, int i)
{
	snprintf(a->id, sizeof(a->id), "acc-%03d", i);
	a->m.apply = acc_apply;
	a->m.done = acc_done;
	a->m.arg = a;
	CU_ASSERT_EQUAL(store_submit(env, &a->m), 0);
}

static size_t count_children(store_env *env)
{
	store_txn *r = NULL;
	store_list l;
	size_t n = 0;

	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	CU_ASSERT_EQUAL(store_account_list_children(r, "root", 1000, NULL, &l), 0);
	n = l.n;
	store_list_free(&l);
	store_read_end(r);
	return n;
}

static int account_exists(store_env *env, const char *id)
{
	store_txn *r = NULL;
	store_account *a = NULL;
	int rc;

	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	rc = store_account_get(r, id, &a);
	store_record_free(a);
	store_read_end(r);
	return rc == 0;
}

static void test_failing_mutation_rolls_back_alone(void)
{
	struct acc_mut muts[100];
	struct gate g;
	store_writer_counts st;
	spt_store s;
	int i, bad = 0;

	memset(muts, 0, sizeof(muts));
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	gate_shut(s.env, &g);
	for (i = 0; i < 100; i++) {
		muts[i].fail = i == 50;
		acc_submit(s.env, &muts[i], i);
	}
	/* reads never wait for the writer, which is mid-transaction */
	CU_ASSERT_EQUAL(count_children(s.env), 0);
	gate_open(&g);
	barrier(s.env);
	for (i = 0; i < 100; i++)
		bad += muts[i].done != 1 || muts[i].rc != (i == 50 ? 7 : 0);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_FALSE(account_exists(s.env, "acc-050"));
	CU_ASSERT_TRUE(account_exists(s.env, "acc-049"));
	CU_ASSERT_TRUE(account_exists(s.env, "acc-051"));
	/* no orphan index entry either */
	CU_ASSERT_EQUAL(count_children(s.env), 99);
	store_writer_stats(s.env, &st);
	CU_ASSERT(st.max_batch >= 100);
	spt_store_close(&s);
}

static void test_duplicate_create_fails_in_batch(void)
{
	struct acc_mut muts[3];
	struct gate g;
	spt_store s;

	memset(muts, 0, sizeof(muts));
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	gate_shut(s.env, &g);
	acc_submit(s.env, &muts[0], 1);
	acc_submit(s.env, &muts[1], 1); /* same id: create fails */
	acc_submit(s.env, &muts[2], 2);
	gate_open(&g);
	barrier(s.env);
	CU_ASSERT_EQUAL(muts[0].rc, 0);
	CU_ASSERT_EQUAL(muts[1].rc, STORE_EXISTS);
	CU_ASSERT_EQUAL(muts[2].rc, 0);
	CU_ASSERT_EQUAL(count_children(s.env), 2);
	spt_store_close(&s);
}

static void test_batches_are_capped(void)
{
	struct acc_mut *muts = calloc(5000, sizeof(*muts));
	store_writer_counts st;
	struct gate g;
	spt_store s;
	int i, bad = 0;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	gate_shut(s.env, &g);
	for (i = 0; i < 5000; i++)
		acc_submit(s.env, &muts[i], i);
	gate_open(&g);
	barrier(s.env);
	for (i = 0; i < 5000; i++)
		bad += muts[i].done != 1 || muts[i].rc != 0;
	CU_ASSERT_EQUAL(bad, 0);
	store_writer_stats(s.env, &st);
	CU_ASSERT_EQUAL(st.max_batch, 4096);
	CU_ASSERT_EQUAL(st.mutations, 5002);
	free(muts);
	spt_store_close(&s);
}

#define THREADS 8
#define PER_THREAD 500

struct writer_arg {
	store_env *env;
	int t;
	int failures;
};

static void *writer_thread(void *p)
{
	struct writer_arg *a = p;
	char id[32], project[32];
	int i;

	snprintf(project, sizeof(project), "proj-%d", a->t);
	for (i = 0; i < PER_THREAD; i++) {
		snprintf(id, sizeof(id), "t%d-%04d", a->t, i);
		a->failures += spt_store_put_item(a->env, id, project, 3, 0) != 0;
	}
	return NULL;
}

static void test_group_commit_batches_and_is_durable(void)
{
	struct writer_arg args[THREADS];
	pthread_t th[THREADS];
	store_writer_counts st;
	store_txn *r = NULL;
	char err[256], project[32];
	size_t n;
	spt_store s;
	int t;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	for (t = 0; t < THREADS; t++) {
		args[t] = (struct writer_arg){.env = s.env, .t = t};
		pthread_create(&th[t], NULL, writer_thread, &args[t]);
	}
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		CU_ASSERT_EQUAL(args[t].failures, 0);
	}
	store_writer_stats(s.env, &st);
	CU_ASSERT_EQUAL(st.mutations, THREADS * PER_THREAD);
	CU_ASSERT(st.batches < st.mutations); /* mean batch > 1 */
	CU_ASSERT(st.max_batch > 1);
	fprintf(stderr, "\n  group commit: %llu mutations in %llu batches\n",
		(unsigned long long)st.mutations, (unsigned long long)st.batches);
	store_close(s.env);
	s.env = NULL;
	CU_ASSERT_EQUAL_FATAL(spt_store_reopen(&s, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r), 0);
	for (t = 0; t < THREADS; t++) {
		snprintf(project, sizeof(project), "proj-%d", t);
		CU_ASSERT_EQUAL(store_item_count(r, project, &n), 0);
		CU_ASSERT_EQUAL(n, PER_THREAD);
	}
	store_read_end(r);
	spt_store_close(&s);
}

static void test_map_full_fails_only_the_big_mutation(void)
{
	struct acc_mut muts[21];
	struct gate g;
	size_t big = 2u << 20;
	spt_store s;
	int i, bad = 0;

	memset(muts, 0, sizeof(muts));
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 1u << 20, 0), 0);
	muts[10].big = malloc(big + 1);
	memset(muts[10].big, 'x', big);
	muts[10].big[big] = '\0';
	gate_shut(s.env, &g);
	for (i = 0; i < 21; i++)
		acc_submit(s.env, &muts[i], i);
	gate_open(&g);
	barrier(s.env);
	for (i = 0; i < 21; i++)
		bad += muts[i].rc != (i == 10 ? STORE_FULL : 0);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(muts[10].done, 1);
	CU_ASSERT_FALSE(account_exists(s.env, "acc-010"));
	CU_ASSERT_EQUAL(count_children(s.env), 20);
	/* still usable */
	CU_ASSERT_EQUAL(spt_store_put_account(s.env, "after", "root"), 0);
	CU_ASSERT_EQUAL(count_children(s.env), 21);
	free(muts[10].big);
	spt_store_close(&s);
}

static void test_filling_the_map_leaves_nothing_half_written(void)
{
	struct acc_mut a;
	char *blob = malloc(20001);
	char err[256];
	int i, rc = 0, ok = 0;
	spt_store s;

	memset(blob, 'y', 20000);
	blob[20000] = '\0';
	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 1u << 20, 0), 0);
	for (i = 0; i < 1000 && rc == 0; i++) {
		memset(&a, 0, sizeof(a));
		snprintf(a.id, sizeof(a.id), "acc-%03d", i);
		a.big = blob;
		rc = store_write_sync(s.env, acc_apply, &a);
		ok += rc == 0;
	}
	CU_ASSERT_EQUAL(rc, STORE_FULL);
	CU_ASSERT(ok > 10);
	/* the failed one left neither record nor index entry */
	CU_ASSERT_FALSE(account_exists(s.env, a.id));
	CU_ASSERT_EQUAL(count_children(s.env), (size_t)ok);
	store_close(s.env);
	s.env = NULL;
	CU_ASSERT_EQUAL_FATAL(spt_store_reopen(&s, 1u << 20, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(count_children(s.env), (size_t)ok);
	free(blob);
	spt_store_close(&s);
}

static CU_TestInfo tests[] = {
	{"failing mutation rolls back alone", test_failing_mutation_rolls_back_alone},
	{"duplicate create fails in batch", test_duplicate_create_fails_in_batch},
	{"batches are capped", test_batches_are_capped},
	{"group commit batches and is durable", test_group_commit_batches_and_is_durable},
	{"map full fails only the big mutation", test_map_full_fails_only_the_big_mutation},
	{"filling the map leaves nothing half written",
	 test_filling_the_map_leaves_nothing_half_written},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"storage_writer", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
