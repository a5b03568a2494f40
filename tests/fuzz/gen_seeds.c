/*
 * gen_seeds OUTDIR: writes seed corpora for the fuzz targets, generated from
 * the descriptors so that every RPC gets valid requests, new RPCs included:
 *
 *   OUTDIR/rpc/<Service>.<Method>.<variant>   fuzz_rpc inputs (see fuzz_rpc.c)
 *   OUTDIR/store_decode/<Record>.<variant>    fuzz_store_decode inputs
 *
 * A "filled" message has every field set (one element per repeated field,
 * the first member of each oneof, nested messages three levels deep), with
 * values chosen by field name to hit the tree fuzz_local.h builds: project_id
 * "fz_p1", installer_id "fz_i1", item ids "fz_it1", currency "USD"...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_records.h"
#include "rpc.h"

#define MAX_DEPTH 3

/* Everything allocated for one message, freed together. */
typedef struct pool {
	void **p;
	size_t n, cap;
} pool;

static void *pool_alloc(pool *pl, size_t size)
{
	void *p = calloc(1, size ? size : 1);
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 32;
		pl->p = realloc(pl->p, pl->cap * sizeof(*pl->p));
	}
	pl->p[pl->n++] = p;
	return p;
}

static void pool_free(pool *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		free(pl->p[i]);
	free(pl->p);
	memset(pl, 0, sizeof(*pl));
}

static int has(const char *name, const char *part)
{
	return strstr(name, part) != NULL;
}

static const char *string_for(const char *f)
{
	if (has(f, "project_id"))
		return "fz_p1";
	if (has(f, "installer_id"))
		return "fz_i1";
	if (has(f, "item_id") || has(f, "item_ref"))
		return "fz_it1";
	if (has(f, "parent_id"))
		return "fz_d1";
	if (has(f, "property_manager_id"))
		return "";
	if (has(f, "account_id") || has(f, "payer_id"))
		return "fz_i1";
	if (has(f, "currency"))
		return "USD";
	if (has(f, "key_id"))
		return "0123456789abcdef";
	if (has(f, "code"))
		return "FZ10";
	if (has(f, "page_token"))
		return "";
	if (has(f, "quote_id"))
		return "quo_1";
	if (has(f, "order_id"))
		return "ord_1";
	if (has(f, "payment_method_id"))
		return "pm_card_visa";
	if (has(f, "customer_id"))
		return "cus_1";
	if (strcmp(f, "name") == 0)
		return "b1";
	if (has(f, "email"))
		return "fz@example.com";
	return "fz";
}

static int64_t int_for(const char *f)
{
	if (has(f, "page_size"))
		return 10;
	if (has(f, "percent_off"))
		return 10;
	if (has(f, "amount") || has(f, "credits"))
		return 100;
	if (has(f, "seconds"))
		return 3600;
	return 1;
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE: return 8;
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	default: return 4;
	}
}

static ProtobufCMessage *fill(pool *pl, const ProtobufCMessageDescriptor *d, int depth);

/* Writes one value of field f at p. */
static void set_value(pool *pl, const ProtobufCFieldDescriptor *f, void *p, int depth)
{
	int64_t v = int_for(f->name);
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: memcpy(p, &v, 8); break;
	case PROTOBUF_C_TYPE_DOUBLE: {
		double x = (double)v;
		memcpy(p, &x, 8);
		break;
	}
	case PROTOBUF_C_TYPE_FLOAT: {
		float x = (float)v;
		memcpy(p, &x, 4);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = 1; break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		int32_t x = e->n_values > 1 ? e->values[1].value : e->values[0].value;
		memcpy(p, &x, 4);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: *(const char **)p = string_for(f->name); break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		b->data = (uint8_t *)"fz";
		b->len = 2;
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)p = fill(pl, f->descriptor, depth + 1);
		break;
	default: {
		int32_t x = (int32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	}
}

static ProtobufCMessage *fill(pool *pl, const ProtobufCMessageDescriptor *d, int depth)
{
	ProtobufCMessage *m = pool_alloc(pl, d->sizeof_message);
	protobuf_c_message_init(d, m);
	if (depth >= MAX_DEPTH)
		return m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *base = (char *)m;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			void *arr = pool_alloc(pl, elem_size(f->type));
			set_value(pl, f, arr, depth);
			*(size_t *)(base + f->quantifier_offset) = 1;
			*(void **)(base + f->offset) = arr;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *cs = (uint32_t *)(base + f->quantifier_offset);
			if (*cs)
				continue;
			*cs = f->id;
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
			   f->type != PROTOBUF_C_TYPE_MESSAGE &&
			   f->type != PROTOBUF_C_TYPE_STRING && f->quantifier_offset) {
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
		}
		set_value(pl, f, base + f->offset, depth);
	}
	return m;
}

static int write_seed(const char *dir, const char *name, const uint8_t *head, size_t hn,
		      const ProtobufCMessage *msg)
{
	char path[1024];
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(hn + n + 1);
	FILE *f;
	int ok;
	memcpy(buf, head, hn);
	protobuf_c_message_pack(msg, buf + hn);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ok = f && fwrite(buf, 1, hn + n, f) == hn + n;
	if (f && fclose(f) != 0)
		ok = 0;
	free(buf);
	if (!ok)
		fprintf(stderr, "gen_seeds: cannot write %s\n", path);
	return ok ? 0 : -1;
}

static int make_dir(const char *p)
{
	return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int main(int argc, char **argv)
{
	/* byte 1 of fuzz_rpc inputs: credentials and idempotency-key. */
	static const struct {
		const char *name;
		uint8_t b;
	} auths[] = {
		{"vendor", 0}, {"installer", 4},      {"service", 5},
		{"nokey", 6},  {"vendor-idem", 0x80}, {"installer-idem", 0x94},
	};
	char rpc_dir[900], store_dir[900], name[1200];
	int bad = 0, seeds = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds OUTDIR\n");
		return 2;
	}
	snprintf(rpc_dir, sizeof(rpc_dir), "%s/rpc", argv[1]);
	snprintf(store_dir, sizeof(store_dir), "%s/store_decode", argv[1]);
	if (make_dir(argv[1]) || make_dir(rpc_dir) || make_dir(store_dir)) {
		perror(argv[1]);
		return 1;
	}
	rpc_table_init();
	for (size_t i = 0; i < rpc_method_count; i++) {
		const rpc_method *m = &rpc_methods[i];
		const char *short_name = strchr(m->name, '/') ? strchr(m->name, '/') + 1 : m->name;
		pool pl = {0};
		ProtobufCMessage *empty = fill(&pl, m->input, MAX_DEPTH);
		ProtobufCMessage *full = fill(&pl, m->input, 0);
		for (size_t a = 0; a < sizeof(auths) / sizeof(auths[0]); a++) {
			uint8_t head[2] = {(uint8_t)i, auths[a].b};
			snprintf(name, sizeof(name), "%s.%s.filled.%s", m->service->short_name,
				 short_name, auths[a].name);
			bad |= write_seed(rpc_dir, name, head, 2, full);
			seeds++;
		}
		{
			uint8_t head[2] = {(uint8_t)i, 0};
			snprintf(name, sizeof(name), "%s.%s.empty.vendor", m->service->short_name,
				 short_name);
			bad |= write_seed(rpc_dir, name, head, 2, empty);
			seeds++;
		}
		pool_free(&pl);
	}
	for (size_t i = 0; i < FUZZ_RECORD_COUNT; i++) {
		pool pl = {0};
		ProtobufCMessage *full = fill(&pl, fuzz_records[i], 0);
		size_t n = store_codec_size(full);
		uint8_t *buf = malloc(n + 1);
		buf[0] = (uint8_t)i;
		store_codec_encode(full, buf + 1);
		snprintf(name, sizeof(name), "%s/%s.filled", store_dir,
			 fuzz_records[i]->short_name);
		{
			FILE *f = fopen(name, "wb");
			if (!f || fwrite(buf, 1, n + 1, f) != n + 1 || fclose(f) != 0) {
				fprintf(stderr, "gen_seeds: cannot write %s\n", name);
				bad = 1;
			}
		}
		seeds++;
		free(buf);
		pool_free(&pl);
	}
	printf("gen_seeds: %d seeds in %s\n", seeds, argv[1]);
	return bad ? 1 : 0;
}
