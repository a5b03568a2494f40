/*
 * fuzz_store_decode: arbitrary bytes as a stored value of every record type,
 * through store_codec_decode(), which promises never to crash.
 *
 * Input: byte 0 picks the record descriptor, the rest is the value. A value
 * that decodes must re-encode and decode again to the same bytes (the codec
 * round trip the tables rely on); one that does not must give STORE_CORRUPT
 * and no message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *encode(const ProtobufCMessage *msg, size_t *n)
{
	uint8_t *buf;
	*n = store_codec_size(msg);
	buf = malloc(*n ? *n : 1);
	store_codec_encode(msg, buf);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *msg = NULL, *again = NULL;
	uint8_t *b1, *b2;
	size_t n1, n2;
	int rc;

	if (size < 1)
		return 0;
	d = fuzz_records[data[0] % FUZZ_RECORD_COUNT];
	rc = store_codec_decode(d, data + 1, size - 1, &msg);
	if (rc != 0) {
		if (rc != STORE_CORRUPT || msg) {
			fprintf(stderr, "fuzz_store_decode: %s: rc %d, message %p\n", d->name, rc, (void *)msg);
			abort();
		}
		return 0;
	}
	if (!msg || msg->descriptor != d) {
		fprintf(stderr, "fuzz_store_decode: %s: decoded to the wrong type\n", d->name);
		abort();
	}
	b1 = encode(msg, &n1);
	rc = store_codec_decode(d, b1, n1, &again);
	if (rc != 0) {
		fprintf(stderr, "fuzz_store_decode: %s: re-encoded value does not decode (%d)\n", d->name, rc);
		abort();
	}
	b2 = encode(again, &n2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
		fprintf(stderr, "fuzz_store_decode: %s: round trip changed the value (%zu -> %zu bytes)\n",
			d->name, n1, n2);
		abort();
	}
	free(b1);
	free(b2);
	store_record_free(msg);
	store_record_free(again);
	return 0;
}
