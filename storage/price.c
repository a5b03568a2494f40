/*
 * price.c - price list (per project type, service type) and credit prices.
 * Every change bumps the "price_version" counter in the same transaction,
 * so a quote can tell that it was priced on an older list.
 */
#include <string.h>

#include "store_int.h"

#define PRICE_VERSION_COUNTER "price_version"

static void price_key(store_key *k, int32_t ptype, int32_t stype)
{
	key_init(k, KC_PRICE);
	key_u32(k, (uint32_t)ptype);
	key_u32(k, (uint32_t)stype);
}

static void credit_key(store_key *k, const char *currency)
{
	key_init(k, KC_CREDIT_PRICE);
	key_str(k, currency);
	if (currency && !currency[0])
		k->overflow = 1;
}

/* Put a price-list record and bump the version. */
static int put_versioned(store_txn *w, const store_key *k, const ProtobufCMessage *rec)
{
	uint64_t version;
	int rc = store_rec_put(w, DB_PRICES, k, rec, 0);

	if (rc == 0)
		rc = store_meta_next(w, PRICE_VERSION_COUNTER, &version);
	return rc;
}

int store_price_put(store_txn *w, const store_price *rec)
{
	store_key k;

	if (rec->project_type <= 0 || rec->service_type <= 0)
		return STORE_INVALID;
	price_key(&k, rec->project_type, rec->service_type);
	return put_versioned(w, &k, &rec->base);
}

int store_price_get(store_txn *txn, int32_t project_type, int32_t service_type, store_price **out)
{
	store_key k;

	price_key(&k, project_type, service_type);
	return store_rec_get(txn, DB_PRICES, &k,
			     &smartplus__billing__store__v1__price_record__descriptor,
			     (ProtobufCMessage **)out);
}

int store_price_list(store_txn *txn, int32_t project_type, int page_size, const char *page_token,
		     store_list *out)
{
	store_key prefix;
	store_scan s;

	memset(&s, 0, sizeof(s));
	key_init(&prefix, KC_PRICE);
	if (project_type != 0)
		key_u32(&prefix, (uint32_t)project_type);
	s.db = DB_PRICES;
	s.prefix = &prefix;
	s.desc = &smartplus__billing__store__v1__price_record__descriptor;
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_credit_price_put(store_txn *w, const store_credit_price *rec)
{
	store_key k;

	credit_key(&k, rec->currency);
	return put_versioned(w, &k, &rec->base);
}

int store_credit_price_get(store_txn *txn, const char *currency, store_credit_price **out)
{
	store_key k;

	credit_key(&k, currency);
	return store_rec_get(txn, DB_PRICES, &k,
			     &smartplus__billing__store__v1__credit_price_record__descriptor,
			     (ProtobufCMessage **)out);
}

int store_price_version(store_txn *txn, uint64_t *version)
{
	return store_meta_get(txn, PRICE_VERSION_COUNTER, version);
}

int store_credit_price_current(store_txn *txn, store_credit_price **out)
{
	store_key prefix;
	store_scan s = {0};
	store_list l = {0};
	int rc;
	size_t best = 0;

	*out = NULL;
	key_init(&prefix, KC_CREDIT_PRICE);
	s.db = DB_PRICES;
	s.prefix = &prefix;
	s.desc = &smartplus__billing__store__v1__credit_price_record__descriptor;
	rc = store_scan_n(txn, &s, STORE_PAGE_MAX, &l);
	if (rc == 0 && l.n == 0)
		rc = STORE_NOTFOUND;
	if (rc == 0) {
		for (size_t i = 1; i < l.n; i++)
			if (((store_credit_price *)l.items[i])->update_time >
			    ((store_credit_price *)l.items[best])->update_time)
				best = i;
		*out = l.items[best];
		l.items[best] = NULL;
	}
	store_list_free(&l);
	return rc;
}
