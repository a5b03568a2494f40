/* quote_token.c: signed, self-contained quote ids. See quote_token.h. */
#include "quote_token.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define KEY_BYTES 32
#define TAG_BYTES 32

static unsigned char key[KEY_BYTES];
static int have_key;

static int apply_key(store_txn *w, void *arg)
{
	const unsigned char *k = arg;
	int rc = 0;
	for (int i = 0; rc == 0 && i < KEY_BYTES / 8; i++) {
		char name[32];
		uint64_t v;
		memcpy(&v, k + 8 * i, 8);
		snprintf(name, sizeof(name), "quote_key_%d", i);
		rc = store_meta_set(w, name, v);
	}
	return rc;
}

int quote_token_init(store_env *env)
{
	store_txn *txn;
	uint64_t v[KEY_BYTES / 8];
	int set = 0;
	if (store_read_begin(env, &txn) != 0)
		return -1;
	for (int i = 0; i < KEY_BYTES / 8; i++) {
		char name[32];
		snprintf(name, sizeof(name), "quote_key_%d", i);
		v[i] = 0;
		store_meta_get(txn, name, &v[i]);
		set |= v[i] != 0;
	}
	store_read_end(txn);
	if (set) {
		memcpy(key, v, KEY_BYTES);
	} else {
		if (RAND_bytes(key, KEY_BYTES) != 1 || store_write_sync(env, apply_key, key) != 0)
			return -1;
	}
	OPENSSL_cleanse(v, sizeof(v));
	have_key = 1;
	return 0;
}

/* base64url without padding. */
static char *b64url(const unsigned char *in, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	int len;
	len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = 0;
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return out;
}

/* Decodes base64url (no padding) into a malloc'd buffer; NULL on bad input. */
static unsigned char *unb64url(const char *in, size_t n, size_t *out_len)
{
	size_t padded = (n + 3) / 4 * 4;
	char *tmp = xmalloc(padded + 1);
	unsigned char *out = xmalloc(padded / 4 * 3 + 1);
	int len;
	if (n % 4 == 1)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9')))
			goto bad;
		tmp[i] = c;
	}
	for (size_t i = n; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = 0;
	len = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
	if (len < 0)
		goto bad;
	*out_len = (size_t)len - (padded - n); /* DecodeBlock counts padding */
	free(tmp);
	return out;
bad:
	free(tmp);
	free(out);
	return NULL;
}

/* A growing byte buffer for the digest input. */
typedef struct dbuf {
	unsigned char *p;
	size_t n, cap;
} dbuf;

static void put(dbuf *d, const void *src, size_t n)
{
	if (d->n + n > d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		while (cap < d->n + n)
			cap *= 2;
		d->p = xrealloc(d->p, cap);
		d->cap = cap;
	}
	memcpy(d->p + d->n, src, n);
	d->n += n;
}

static void put64(dbuf *d, int64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
	put(d, b, 8);
}

static void putstr(dbuf *d, const char *s)
{
	put(d, s ? s : "", (s ? strlen(s) : 0) + 1);
}

void quote_charge_digest(const store_quote *q, unsigned char out[32])
{
	dbuf d = {0};
	put64(&d, (int64_t)q->n_lines);
	put64(&d, q->subtotal);
	put64(&d, q->discount);
	put64(&d, q->total);
	put64(&d, q->credits_total);
	putstr(&d, q->currency);
	putstr(&d, q->coupon_code);
	put64(&d, q->payment_model);
	/* The tax charged: a rate set or changed, or a buyer taxed otherwise,
	 * changes it. (Which rule gave it, and where, is not a charge: an order
	 * records its own decision for its invoice.) */
	put64(&d, q->tax_rate_bp);
	put64(&d, q->tax_inclusive);
	put64(&d, q->tax_total);
	for (size_t i = 0; i < q->n_lines; i++) {
		const store_line *l = q->lines[i];
		putstr(&d, l->item_id);
		putstr(&d, l->project_id);
		put64(&d, l->service_type);
		put64(&d, (int64_t)l->item_create_seq); /* a re-created id is another item */
		put64(&d, l->current_expires_at);
		put64(&d, l->unit_amount);
		put64(&d, l->unit_credits);
		put64(&d, l->months);
		put64(&d, l->days);
		put64(&d, l->amount);
		put64(&d, l->credits);
		put64(&d, l->free);
		put64(&d, l->discount);
		put64(&d, l->tax);
		put64(&d, l->tax_rate_bp);
	}
	SHA256(d.p, d.n, out);
	free(d.p);
}

static void short_id_of(const unsigned char tag[TAG_BYTES], char out[QUOTE_SHORT_ID_LEN + 1])
{
	static const char hexd[] = "0123456789abcdef";
	memcpy(out, "quo_", 4);
	for (int i = 0; i < 12; i++) {
		out[4 + 2 * i] = hexd[tag[i] >> 4];
		out[5 + 2 * i] = hexd[tag[i] & 15];
	}
	out[QUOTE_SHORT_ID_LEN] = 0;
}

char *quote_token_make(store_quote *q, char short_id[QUOTE_SHORT_ID_LEN + 1])
{
	unsigned char digest[32], tag[TAG_BYTES];
	unsigned int tag_len = 0;
	store_quote copy = *q;
	uint8_t *packed;
	size_t n, len;
	char *body, *sig, *out;

	if (!have_key)
		return NULL;
	quote_charge_digest(q, digest);
	copy.n_lines = 0;
	copy.lines = NULL;
	copy.quote_id = "";
	copy.order_id = "";
	copy.charge_digest.data = digest;
	copy.charge_digest.len = sizeof(digest);
	n = protobuf_c_message_get_packed_size(&copy.base);
	packed = xmalloc(n);
	protobuf_c_message_pack(&copy.base, packed);
	HMAC(EVP_sha256(), key, KEY_BYTES, packed, n, tag, &tag_len);
	body = b64url(packed, n);
	sig = b64url(tag, TAG_BYTES);
	short_id_of(tag, short_id);
	len = QUOTE_SHORT_ID_LEN + strlen(body) + strlen(sig) + 3;
	out = xmalloc(len);
	snprintf(out, len, "%s.%s.%s", short_id, body, sig);
	if (strlen(out) >= QUOTE_TOKEN_MAX) { /* the token would not fit a request */
		free(out);
		out = NULL;
	}
	free(packed);
	free(body);
	free(sig);
	return out;
}

int quote_token_open(const char *token, store_quote **out, char short_id[QUOTE_SHORT_ID_LEN + 1])
{
	const char *dot1, *dot2;
	unsigned char *body = NULL, *sig = NULL, tag[TAG_BYTES];
	size_t body_len = 0, sig_len = 0;
	unsigned int tag_len = 0;
	int rc = -1;

	*out = NULL;
	if (!have_key || strlen(token) >= QUOTE_TOKEN_MAX || strncmp(token, "quo_", 4) != 0)
		return -1;
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot1 || !dot2 || (size_t)(dot1 - token) != QUOTE_SHORT_ID_LEN)
		return -1;
	body = unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &body_len);
	sig = unb64url(dot2 + 1, strlen(dot2 + 1), &sig_len);
	if (!body || !sig || sig_len != TAG_BYTES)
		goto done;
	HMAC(EVP_sha256(), key, KEY_BYTES, body, body_len, tag, &tag_len);
	if (CRYPTO_memcmp(tag, sig, TAG_BYTES) != 0)
		goto done;
	short_id_of(tag, short_id);
	if (memcmp(short_id, token, QUOTE_SHORT_ID_LEN) != 0)
		goto done;
	*out = smartplus__billing__store__v1__quote_record__unpack(NULL, body_len, body);
	if (*out && (*out)->input && (*out)->charge_digest.len == 32)
		rc = 0;
	else if (*out) {
		store_record_free(*out);
		*out = NULL;
	}
done:
	free(body);
	free(sig);
	return rc;
}
