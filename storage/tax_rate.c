/*
 * tax_rate.c - the tax rates set with SetTaxRate (DB_INVOICES, class 'T'),
 * keyed by country then region so a list comes out ordered. See store_invoice.h.
 */
#include <string.h>

#include "store_invoice.h"
#include "store_int.h"

#define KC_TAX_RATE 'T'
#define TAX_VERSION "tax_version"

static const store_table rates = {
	.db = DB_INVOICES,
	.rec_class = KC_TAX_RATE,
	.desc = &smartplus__billing__store__v1__tax_rate_record__descriptor,
};

static void rate_key(store_key *k, const char *country, const char *region)
{
	key_init(k, KC_TAX_RATE);
	key_str(k, country);
	key_str(k, region ? region : "");
	if (!country || !country[0])
		k->overflow = 1;
}

int store_tax_rate_put(store_txn *w, const store_tax_rate *rec)
{
	store_key k;
	uint64_t v;
	int rc = store_writable(w);

	if (rc != 0)
		return rc;
	rate_key(&k, rec->country, rec->region);
	rc = store_rec_put(w, DB_INVOICES, &k, &rec->base, 0);
	if (rc == 0)
		rc = store_meta_next(w, TAX_VERSION, &v);
	return rc;
}

int store_tax_rate_get(store_txn *txn, const char *country, const char *region,
		       store_tax_rate **out)
{
	store_key k;

	*out = NULL;
	rate_key(&k, country, region);
	return store_rec_get(txn, DB_INVOICES, &k, rates.desc, (ProtobufCMessage **)out);
}

int store_tax_rate_list(store_txn *txn, int page_size, const char *page_token, store_list *out)
{
	store_key prefix;
	store_scan s = {0};

	key_init(&prefix, KC_TAX_RATE);
	s.db = DB_INVOICES;
	s.prefix = &prefix;
	s.desc = rates.desc;
	return store_scan_page(txn, &s, page_size, page_token, out);
}

int store_tax_version(store_txn *txn, uint64_t *version)
{
	return store_meta_get(txn, TAX_VERSION, version);
}
