/*
 * test_tables.c - accounts, projects, items, prices, api keys, meta:
 * indexes in step with records, pagination, tampered tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "spt_run.h"
#include "spt_store.h"

#define ADDITIONAL_APP 3
#define DOOR 11

/* ------------------------------------------------------------------------
 * Helpers
 */

/* Bulk writes in one mutation: n records named prefix + %05d. */
struct bulk {
	const char *prefix, *parent;
	int n;
	int32_t (*type_of)(int i);
	int kind; /* 0 project, 1 item */
};

static int32_t type_cycle(int i)
{
	return 1 + i % 3;
}

static int apply_bulk(store_txn *w, void *arg)
{
	struct bulk *b = arg;
	char id[64];
	int i, rc = 0;

	for (i = 0; rc == 0 && i < b->n; i++) {
		snprintf(id, sizeof(id), "%s%05d", b->prefix, i);
		if (b->kind == 0) {
			store_project p = STORE_PROJECT_INIT;

			p.project_id = id;
			p.installer_id = (char *)b->parent;
			p.type = b->type_of ? b->type_of(i) : 1;
			rc = store_project_put(w, &p, 1);
		} else {
			store_item it = STORE_ITEM_INIT;

			it.item_id = id;
			it.project_id = (char *)b->parent;
			it.service_type = 1;
			rc = store_item_put(w, &it, 1);
		}
	}
	return rc;
}

static int bulk(store_env *env, int kind, const char *prefix, const char *parent, int n,
		int32_t (*type_of)(int))
{
	struct bulk b = {prefix, parent, n, type_of, kind};

	return store_write_sync(env, apply_bulk, &b);
}

typedef int (*list_fn)(store_txn *txn, const char *parent, int32_t filter, int page_size,
		       const char *token, store_list *out);

static int list_projects(store_txn *txn, const char *parent, int32_t filter, int page_size,
			 const char *token, store_list *out)
{
	return store_project_list_by_installer(txn, parent, filter, page_size, token, out);
}

static int list_items(store_txn *txn, const char *parent, int32_t filter, int page_size,
		      const char *token, store_list *out)
{
	return store_item_list_by_project(txn, parent, page_size, token, out);
}

/* Projects of an installer come ordered by (type, id). */
static const char *project_order(void *rec)
{
	static char buf[80];
	store_project *p = rec;

	snprintf(buf, sizeof(buf), "%d/%s", p->type, p->project_id);
	return buf;
}

static const char *item_id(void *rec)
{
	return ((store_item *)rec)->item_id;
}

/*
 * Walk every page; check each page is full but the last and that the
 * order keys (id_of) strictly increase across pages. Returns the number of
 * records, or -1 on an error.
 */
static int walk(store_env *env, list_fn list, const char *parent, int32_t filter, int page_size,
		const char *(*id_of)(void *))
{
	store_txn *r = NULL;
	store_list l;
	char *token = NULL, prev[64] = "";
	int total = 0, pages = 0, disorder = 0;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(store_read_begin(env, &r), 0);
	do {
		if (list(r, parent, filter, page_size, token, &l) != 0) {
			total = -1;
			break;
		}
		free(token);
		token = l.next_page_token;
		l.next_page_token = NULL;
		if (token) /* full pages, capped at the maximum */
			CU_ASSERT_EQUAL(l.n, page_size > STORE_PAGE_MAX ? STORE_PAGE_MAX
									: (size_t)page_size);
		for (i = 0; i < l.n; i++) {
			const char *id = id_of(l.items[i]);

			disorder += strcmp(prev, id) >= 0;
			snprintf(prev, sizeof(prev), "%s", id);
		}
		total += (int)l.n;
		pages++;
		store_list_free(&l);
	} while (token && pages < 10000);
	free(token);
	store_read_end(r);
	CU_ASSERT_EQUAL(disorder, 0);
	return total;
}

static int read_rc(store_env *env, list_fn list, const char *parent, const char *token)
{
	store_txn *r = NULL;
	store_list l;
	int rc;

	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	rc = list(r, parent, 0, 10, token, &l);
	if (rc != 0) /* nothing leaks out on an error */
		CU_ASSERT_PTR_NULL(l.items);
	store_list_free(&l);
	store_read_end(r);
	return rc;
}

/* First-page token of a list (malloc'd). */
static char *first_token(store_env *env, list_fn list, const char *parent)
{
	store_txn *r = NULL;
	store_list l;
	char *tok;

	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	CU_ASSERT_EQUAL(list(r, parent, 0, 1, NULL, &l), 0);
	tok = l.next_page_token;
	l.next_page_token = NULL;
	store_list_free(&l);
	store_read_end(r);
	return tok;
}

/* ------------------------------------------------------------------------
 * Accounts
 */

/* A record put: id, its parent (account parent, key's account), create. */
struct put {
	const char *id, *parent;
	int create;
};

static int apply_acc(store_txn *w, void *arg)
{
	struct put *a = arg;
	store_account rec = STORE_ACCOUNT_INIT;

	rec.account_id = (char *)a->id;
	rec.parent_id = (char *)a->parent;
	rec.role = 2;
	return store_account_put(w, &rec, a->create);
}

static void children(store_env *env, const char *parent, char *out, size_t len)
{
	store_txn *r = NULL;
	store_list l;
	size_t i, n = 0;

	out[0] = '\0';
	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	CU_ASSERT_EQUAL(store_account_list_children(r, parent, 0, NULL, &l), 0);
	for (i = 0; i < l.n; i++)
		n += snprintf(out + n, len - n, "%s%s", i ? "," : "",
			      ((store_account *)l.items[i])->account_id);
	store_list_free(&l);
	store_read_end(r);
}

static void test_accounts_children_follow_parent_changes(void)
{
	struct put tree[] = {
		{"vendor", "", 1},     {"dist-b", "vendor", 1}, {"dist-a", "vendor", 1},
		{"inst", "dist-a", 1}, {"pm", "inst", 1},
	};
	struct put again = {"dist-a", "vendor", 1};
	struct put move = {"inst", "dist-b", 0};
	char buf[256];
	spt_store s;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	for (i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		CU_ASSERT_EQUAL(store_write_sync(s.env, apply_acc, &tree[i]), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_acc, &again), STORE_EXISTS);
	children(s.env, "vendor", buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "dist-a,dist-b");
	children(s.env, "dist-a", buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "inst");
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_acc, &move), 0);
	children(s.env, "dist-a", buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "");
	children(s.env, "dist-b", buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "inst");
	spt_store_close(&s);
}

static void test_accounts_ancestry(void)
{
	store_txn *r = NULL;
	spt_store s;
	int res = -1;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	SPT_SEED(spt_store_put_account(s.env, "vendor", NULL));
	SPT_SEED(spt_store_put_account(s.env, "dist", "vendor"));
	SPT_SEED(spt_store_put_account(s.env, "dist2", "vendor"));
	SPT_SEED(spt_store_put_account(s.env, "sub", "dist"));
	SPT_SEED(spt_store_put_account(s.env, "inst", "sub"));
	SPT_SEED(spt_store_put_account(s.env, "pm", "inst"));
	SPT_SEED(spt_store_put_account(s.env, "loop1", "loop2"));
	SPT_SEED(spt_store_put_account(s.env, "loop2", "loop1"));
	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_account_is_self_or_ancestor(r, "vendor", "pm", &res), 0);
	CU_ASSERT_EQUAL(res, 1);
	CU_ASSERT_EQUAL(store_account_is_self_or_ancestor(r, "pm", "pm", &res), 0);
	CU_ASSERT_EQUAL(res, 1);
	CU_ASSERT_EQUAL(store_account_is_self_or_ancestor(r, "sub", "inst", &res), 0);
	CU_ASSERT_EQUAL(res, 1);
	CU_ASSERT_EQUAL(store_account_is_self_or_ancestor(r, "dist2", "pm", &res), 0);
	CU_ASSERT_EQUAL(res, 0);
	CU_ASSERT_EQUAL(store_account_is_self_or_ancestor(r, "pm", "vendor", &res), 0);
	CU_ASSERT_EQUAL(res, 0);
	CU_ASSERT_EQUAL(store_account_is_self_or_ancestor(r, "vendor", "nobody", &res),
			STORE_NOTFOUND);
	CU_ASSERT_EQUAL(store_account_is_self_or_ancestor(r, "vendor", "loop1", &res),
			STORE_CORRUPT);
	CU_ASSERT_EQUAL(res, 0);
	store_read_end(r);
	spt_store_close(&s);
}

/* ------------------------------------------------------------------------
 * Pagination
 */

static void test_lists_paginate_across_pages(void)
{
	static const struct {
		list_fn list;
		const char *parent;
		int32_t filter;
		int page_size;
		const char *(*id_of)(void *);
		int want;
	} cases[] = {
		{list_projects, "inst-1", 0, 1000, project_order, 2500},
		{list_projects, "inst-1", 0, 333, project_order, 2500},
		{list_projects, "inst-1", 1, 1000, project_order, 834},
		{list_projects, "inst-1", 2, 333, project_order, 833},
		{list_projects, "inst-1", 3, 7, project_order, 833},
		{list_projects, "inst-10", 1, 1000, project_order, 50},
		{list_projects, "inst-2", 0, 1000, project_order, 0},
		{list_items, "p1", 0, 1000, item_id, 2500},
		{list_items, "p1", 0, 333, item_id, 2500},
		{list_items, "p1", 0, 2500, item_id, 2500},
		{list_items, "p10", 0, 1, item_id, 100},
	};
	spt_store s;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 0, "p-", "inst-1", 2500, type_cycle), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 0, "q-", "inst-10", 50, NULL), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 0, "r-", "inst-0", 50, NULL), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 1, "i-", "p1", 2500, NULL), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 1, "j-", "p0", 100, NULL), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 1, "k-", "p10", 100, NULL), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(walk(s.env, cases[i].list, cases[i].parent, cases[i].filter,
				     cases[i].page_size, cases[i].id_of),
				cases[i].want);
	spt_store_close(&s);
}

static void test_tampered_tokens_are_invalid(void)
{
	char *other, *child_tok, *own, *forged;
	store_key k;
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 1, "i-", "p1", 20, NULL), 0);
	CU_ASSERT_EQUAL(bulk(s.env, 1, "k-", "p10", 20, NULL), 0);
	SPT_SEED(spt_store_put_account(s.env, "a", "root"));
	SPT_SEED(spt_store_put_account(s.env, "b", "root"));
	own = first_token(s.env, list_items, "p1");
	other = first_token(s.env, list_items, "p10");
	CU_ASSERT_PTR_NOT_NULL_FATAL(own);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	CU_ASSERT_EQUAL(read_rc(s.env, list_items, "p1", own), 0);
	/* another project's items */
	CU_ASSERT_EQUAL(read_rc(s.env, list_items, "p1", other), STORE_INVALID);
	/* another table's key */
	{
		store_txn *r = NULL;
		store_list l;

		CU_ASSERT_EQUAL(store_read_begin(s.env, &r), 0);
		CU_ASSERT_EQUAL(store_account_list_children(r, "root", 1, NULL, &l), 0);
		child_tok = l.next_page_token;
		l.next_page_token = NULL;
		store_list_free(&l);
		store_read_end(r);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(child_tok);
	CU_ASSERT_EQUAL(read_rc(s.env, list_items, "p1", child_tok), STORE_INVALID);
	/* a record key of the same database, and garbage */
	key_init(&k, KC_ITEM);
	key_str(&k, "i-00003");
	forged = store_token_encode(k.b, k.len);
	CU_ASSERT_EQUAL(read_rc(s.env, list_items, "p1", forged), STORE_INVALID);
	CU_ASSERT_EQUAL(read_rc(s.env, list_items, "p1", "!!not-base64!!"), STORE_INVALID);
	CU_ASSERT_EQUAL(read_rc(s.env, list_items, "p1", "AAAA"), STORE_INVALID);
	/* a truncated token decodes to a shorter, out-of-range key */
	own[4] = '\0';
	CU_ASSERT_EQUAL(read_rc(s.env, list_items, "p1", own), STORE_INVALID);
	free(own);
	free(other);
	free(child_tok);
	free(forged);
	spt_store_close(&s);
}

/* ------------------------------------------------------------------------
 * Items: creation order, expiry, count, delete
 */

static void oldest(store_env *env, const char *project, int32_t stype, size_t n, char *out,
		   size_t len)
{
	store_txn *r = NULL;
	store_list l;
	size_t i, o = 0;

	out[0] = '\0';
	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	CU_ASSERT_EQUAL(store_item_oldest(r, project, stype, n, &l), 0);
	CU_ASSERT_PTR_NULL(l.next_page_token);
	for (i = 0; i < l.n; i++)
		o += snprintf(out + o, len - o, "%s%s", i ? "," : "",
			      ((store_item *)l.items[i])->item_id);
	store_list_free(&l);
	store_read_end(r);
}

struct item_spec {
	const char *id, *project;
	int32_t stype;
	int64_t expires_at;
};

/* Put items in order, one mutation each, until a NULL id. */
static void put_items(store_env *env, const struct item_spec *it)
{
	for (; it->id; it++)
		SPT_SEED(spt_store_put_item(env, it->id, it->project, it->stype, it->expires_at));
}

static uint64_t item_seq(store_env *env, const char *id)
{
	store_txn *r = NULL;
	store_item *it = NULL;
	uint64_t seq = 0;

	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	CU_ASSERT_EQUAL(store_item_get(r, id, &it), 0);
	if (it)
		seq = it->create_seq;
	store_record_free(it);
	store_read_end(r);
	return seq;
}

static size_t item_count(store_env *env, const char *project)
{
	store_txn *r = NULL;
	size_t n = 99;

	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	CU_ASSERT_EQUAL(store_item_count(r, project, &n), 0);
	store_read_end(r);
	return n;
}

static int apply_delete(store_txn *w, void *arg)
{
	return store_item_delete(w, arg);
}

static void test_items_oldest_by_creation_order(void)
{
	char buf[256];
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	/* ids deliberately not in creation order */
	put_items(s.env, (const struct item_spec[]){{"z-app", "c1", ADDITIONAL_APP, 0},
						    {"door-2", "c1", DOOR, 0},
						    {"a-app", "c1", ADDITIONAL_APP, 0},
						    {"door-1", "c1", DOOR, 0},
						    {"m-app", "c1", ADDITIONAL_APP, 0},
						    {"other", "c2", ADDITIONAL_APP, 0},
						    {NULL}});
	oldest(s.env, "c1", ADDITIONAL_APP, 2, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "z-app,a-app");
	CU_ASSERT_EQUAL(item_seq(s.env, "a-app"), 3);
	oldest(s.env, "c1", DOOR, 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "door-2");
	oldest(s.env, "c1", ADDITIONAL_APP, 10, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "z-app,a-app,m-app");
	/* an update keeps the item's place */
	SPT_SEED(spt_store_put_item(s.env, "z-app", "c1", ADDITIONAL_APP, 12345));
	oldest(s.env, "c1", ADDITIONAL_APP, 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "z-app");
	/* delete removes it from every index */
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_delete, "z-app"), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_delete, "z-app"), STORE_NOTFOUND);
	oldest(s.env, "c1", ADDITIONAL_APP, 2, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "a-app,m-app");
	CU_ASSERT_EQUAL(item_count(s.env, "c1"), 4);
	CU_ASSERT_EQUAL(item_count(s.env, "c"), 0);
	spt_store_close(&s);
}

/* All items expiring before t, via pages of page_size, as "id,id,...". */
static void expiring(store_env *env, int64_t t, int page_size, char *out, size_t len)
{
	store_txn *r = NULL;
	store_list l;
	char *token = NULL;
	size_t i, o = 0;

	out[0] = '\0';
	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	do {
		if (store_item_expiring_before(r, t, page_size, token, &l) != 0)
			break;
		free(token);
		token = l.next_page_token;
		l.next_page_token = NULL;
		for (i = 0; i < l.n; i++)
			o += snprintf(out + o, len - o, "%s%s", o ? "," : "",
				      ((store_item *)l.items[i])->item_id);
		store_list_free(&l);
	} while (token);
	free(token);
	store_read_end(r);
}

static void test_items_expiry_index_follows_updates(void)
{
	char buf[256];
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	put_items(s.env, (const struct item_spec[]){{"never", "p", 1, 0},
						    {"late", "p", 1, 400},
						    {"b300", "p", 1, 300},
						    {"a300", "q", 1, 300},
						    {"soon", "p", 1, 100},
						    {"mid", "q", 1, 200},
						    {"big", "q", 1, (int64_t)1 << 40},
						    {NULL}});
	expiring(s.env, 350, 100, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "soon,mid,a300,b300");
	expiring(s.env, 350, 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "soon,mid,a300,b300");
	expiring(s.env, 300, 3, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "soon,mid");
	expiring(s.env, (int64_t)1 << 41, 3, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "soon,mid,a300,b300,late,big");
	/* renewed: moves; cleared: leaves the index */
	CU_ASSERT_EQUAL(spt_store_put_item(s.env, "soon", "p", 1, 500), 0);
	CU_ASSERT_EQUAL(spt_store_put_item(s.env, "mid", "q", 1, 0), 0);
	expiring(s.env, 1000, 2, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "a300,b300,late,soon");
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_delete, "late"), 0);
	expiring(s.env, 1000, 2, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "a300,b300,soon");
	spt_store_close(&s);
}

static void test_item_move_between_projects(void)
{
	char buf[256];
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(spt_store_put_item(s.env, "x", "p1", DOOR, 0), 0);
	CU_ASSERT_EQUAL(spt_store_put_item(s.env, "x", "p2", DOOR, 0), 0);
	CU_ASSERT_EQUAL(item_count(s.env, "p1"), 0);
	CU_ASSERT_EQUAL(item_count(s.env, "p2"), 1);
	oldest(s.env, "p1", DOOR, 5, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "");
	oldest(s.env, "p2", DOOR, 5, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "x");
	spt_store_close(&s);
}

/* ------------------------------------------------------------------------
 * Prices, api keys, meta
 */

static int apply_prices(store_txn *w, void *arg)
{
	static const int32_t pairs[][2] = {{2, 1}, {1, 2}, {1, 1}};
	store_price p = STORE_PRICE_INIT;
	store_credit_price c = STORE_CREDIT_PRICE_INIT;
	size_t i;
	int rc = 0;

	p.currency = "EUR";
	for (i = 0; rc == 0 && i < 3; i++) {
		p.project_type = pairs[i][0];
		p.service_type = pairs[i][1];
		p.monthly_amount = 100 * (int64_t)(i + 1);
		p.monthly_credits = (int64_t)i;
		rc = store_price_put(w, &p);
	}
	c.currency = "EUR";
	c.unit_amount = 95;
	if (rc == 0)
		rc = store_credit_price_put(w, &c);
	p.project_type = 0;
	if (rc == 0 && store_price_put(w, &p) != STORE_INVALID)
		rc = -100;
	return rc;
}

static void test_prices_are_versioned(void)
{
	store_txn *r = NULL;
	store_price *p = NULL;
	store_credit_price *c = NULL;
	store_list l;
	uint64_t v = 0;
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_price_version(r, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	store_read_end(r);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_prices, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_price_version(r, &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT_EQUAL(store_price_get(r, 1, 2, &p), 0);
	if (p)
		CU_ASSERT_EQUAL(p->monthly_amount, 200);
	store_record_free(p);
	CU_ASSERT_EQUAL(store_price_get(r, 3, 3, &p), STORE_NOTFOUND);
	CU_ASSERT_EQUAL(store_price_list(r, 0, 2, NULL, &l), 0);
	CU_ASSERT_EQUAL(l.n, 2);
	CU_ASSERT_PTR_NOT_NULL(l.next_page_token);
	if (l.n == 2) {
		CU_ASSERT_EQUAL(((store_price *)l.items[0])->service_type, 1);
		CU_ASSERT_EQUAL(((store_price *)l.items[1])->service_type, 2);
	}
	store_list_free(&l);
	CU_ASSERT_EQUAL(store_price_list(r, 2, 0, NULL, &l), 0);
	CU_ASSERT_EQUAL(l.n, 1);
	CU_ASSERT_PTR_NULL(l.next_page_token);
	store_list_free(&l);
	CU_ASSERT_EQUAL(store_credit_price_get(r, "EUR", &c), 0);
	if (c)
		CU_ASSERT_EQUAL(c->unit_amount, 95);
	store_record_free(c);
	CU_ASSERT_EQUAL(store_credit_price_get(r, "USD", &c), STORE_NOTFOUND);
	store_read_end(r);
	spt_store_close(&s);
}

static int apply_key(store_txn *w, void *arg)
{
	struct put *k = arg;
	store_apikey rec = STORE_APIKEY_INIT;
	uint8_t sha[32];

	memset(sha, 0xab, sizeof(sha));
	sha[0] = 0; /* bytes, not a string */
	rec.key_id = (char *)k->id;
	rec.account_id = (char *)k->parent;
	rec.secret_sha256.data = sha;
	rec.secret_sha256.len = sizeof(sha);
	rec.scope = 1;
	return store_apikey_put(w, &rec, k->create);
}

static size_t keys_of(store_env *env, const char *account)
{
	store_txn *r = NULL;
	store_list l;
	size_t n;

	CU_ASSERT_EQUAL(store_read_begin(env, &r), 0);
	CU_ASSERT_EQUAL(store_apikey_list_by_account(r, account, 0, NULL, &l), 0);
	n = l.n;
	store_list_free(&l);
	store_read_end(r);
	return n;
}

static void test_api_keys(void)
{
	struct put puts[] = {{"k1", "acct", 1}, {"k2", "acct", 1}, {"k3", "other", 1}};
	struct put dup = {"k1", "other", 1}, move = {"k1", "other", 0};
	store_txn *r = NULL;
	store_apikey *k = NULL;
	spt_store s;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(store_write_sync(s.env, apply_key, &puts[i]), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_key, &dup), STORE_EXISTS);
	CU_ASSERT_EQUAL(keys_of(s.env, "acct"), 2);
	CU_ASSERT_EQUAL(keys_of(s.env, "other"), 1);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_key, &move), 0);
	CU_ASSERT_EQUAL(keys_of(s.env, "acct"), 1);
	CU_ASSERT_EQUAL(keys_of(s.env, "other"), 2);
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_apikey_get(r, "k1", &k), 0);
	if (k) {
		CU_ASSERT_EQUAL(k->secret_sha256.len, 32);
		CU_ASSERT_EQUAL(k->secret_sha256.data[0], 0);
		CU_ASSERT_EQUAL(k->secret_sha256.data[31], 0xab);
	}
	store_record_free(k);
	store_read_end(r);
	spt_store_close(&s);
}

static int apply_counters(store_txn *w, void *arg)
{
	uint64_t *v = arg;
	int rc = store_meta_next(w, "a", &v[0]);

	if (rc == 0)
		rc = store_meta_next(w, "a", &v[1]);
	if (rc == 0)
		rc = store_meta_next(w, "b", &v[2]);
	return rc;
}

static void test_meta_counters(void)
{
	uint64_t v[3] = {0}, cur = 0;
	store_txn *r = NULL;
	spt_store s;

	CU_ASSERT_EQUAL_FATAL(spt_store_open(&s, 0, 0), 0);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_counters, v), 0);
	CU_ASSERT_EQUAL(v[0], 1);
	CU_ASSERT_EQUAL(v[1], 2);
	CU_ASSERT_EQUAL(v[2], 1);
	CU_ASSERT_EQUAL(store_write_sync(s.env, apply_counters, v), 0);
	CU_ASSERT_EQUAL(v[1], 4);
	CU_ASSERT_EQUAL(store_read_begin(s.env, &r), 0);
	CU_ASSERT_EQUAL(store_meta_get(r, "b", &cur), 0);
	CU_ASSERT_EQUAL(cur, 2);
	CU_ASSERT_EQUAL(store_meta_get(r, "none", &cur), 0);
	CU_ASSERT_EQUAL(cur, 0);
	store_read_end(r);
	spt_store_close(&s);
}

static CU_TestInfo tests[] = {
	{"accounts: children follow parent changes", test_accounts_children_follow_parent_changes},
	{"accounts: ancestry", test_accounts_ancestry},
	{"lists paginate across pages", test_lists_paginate_across_pages},
	{"tampered tokens are invalid", test_tampered_tokens_are_invalid},
	{"items: oldest by creation order", test_items_oldest_by_creation_order},
	{"items: expiry index follows updates", test_items_expiry_index_follows_updates},
	{"items: move between projects", test_item_move_between_projects},
	{"prices are versioned", test_prices_are_versioned},
	{"api keys", test_api_keys},
	{"meta counters", test_meta_counters},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"storage_tables", NULL, NULL, NULL, NULL, tests},
				CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
