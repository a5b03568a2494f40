/*
 * project.c - projects table and the (installer, type, project) index.
 */
#include "store_int.h"

static void installer_prefix(store_key *k, const char *installer_id)
{
	key_init(k, KC_PROJECT_INST);
	key_str(k, installer_id);
}

static int project_index(const ProtobufCMessage *m, store_key *keys)
{
	const store_project *p = (const store_project *)m;

	installer_prefix(&keys[0], p->installer_id);
	key_u32(&keys[0], (uint32_t)p->type);
	key_str(&keys[0], p->project_id);
	return 1;
}

static const store_table projects = {
	.db = DB_PROJECTS,
	.rec_class = KC_PROJECT,
	.desc = &smartplus__billing__store__v1__project_record__descriptor,
	.index_keys = project_index,
};

int store_project_put(store_txn *w, const store_project *rec, int create)
{
	if (!rec->installer_id || !rec->installer_id[0])
		return STORE_INVALID;
	return store_table_put(w, &projects, rec->project_id, &rec->base, create);
}

int store_project_get(store_txn *txn, const char *project_id, store_project **out)
{
	return store_table_get(txn, &projects, project_id, (ProtobufCMessage **)out);
}

int store_project_list_by_installer(store_txn *txn, const char *installer_id, int32_t type,
				    int page_size, const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s;

	installer_prefix(&prefix, installer_id);
	if (type != 0)
		key_u32(&prefix, (uint32_t)type);
	store_table_scan(&projects, &prefix, &s);
	return store_scan_page(txn, &s, page_size, page_token, out);
}
