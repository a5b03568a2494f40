/*
 * fuzz_rpc: arbitrary bytes as the request of every RPC, through the real
 * dispatcher and handlers (rpc_local_call) on a temporary store created once
 * per process (fuzz_local.h).
 *
 * Input: byte 0 picks the row of rpc_methods[] (modulo their number); byte 1
 * the credentials (bits 0-2: 0-3 vendor, 4 installer, 5 SERVICE key acting
 * for the installer, 6 none, 7 a wrong secret) and, with bit 7 set, an
 * idempotency-key "fz-<bits 4-6>"; the rest is the request message.
 *
 * Beyond crashes and sanitizer reports, it aborts on: a status outside
 * 0..16, an OK answer that does not decode as the RPC's response type, and
 * INTERNAL (a handler that cannot cope with its input; set
 * SPB_FUZZ_ALLOW_INTERNAL=1 to tolerate it). SPB_FUZZ_TRACE=1 prints a line
 * per call.
 *
 * The store keeps what earlier inputs wrote, so a finding may need the
 * inputs before it: rerun the crash file alone first, then with -runs and the
 * corpus if it does not reproduce.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_local.h"
#include "rpc.h"

static int allow_internal, trace;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *e = getenv("SPB_FUZZ_ALLOW_INTERNAL");
	allow_internal = e && *e == '1';
	trace = getenv("SPB_FUZZ_TRACE") != NULL; /* one line per call on stderr */
	fuzz_local_open();
	return 0;
}

/* Backup writes a copy per call: remove them so a long run fits on disk. */
static void clear_backups(void)
{
	char path[512], file[800];
	struct dirent *e;
	DIR *d;
	snprintf(path, sizeof(path), "%s/backups", fuzz_local_dir());
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s/data.mdb", path, e->d_name);
		remove(file);
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		remove(file);
	}
	closedir(d);
}

static enum fuzz_auth auth_of(uint8_t b)
{
	switch (b & 7) {
	case 4: return FUZZ_AUTH_INSTALLER;
	case 5: return FUZZ_AUTH_SERVICE;
	case 6: return FUZZ_AUTH_NONE;
	case 7: return FUZZ_AUTH_BAD;
	default: return FUZZ_AUTH_VENDOR;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const rpc_method *m;
	char idem[16], msg[600];
	uint8_t *out = NULL;
	size_t out_len = 0;
	grpc_status_code st;

	if (size < 2)
		return 0;
	m = &rpc_methods[data[0] % rpc_method_count];
	if (data[1] & 0x80)
		snprintf(idem, sizeof(idem), "fz-%u", (unsigned)(data[1] >> 4) & 7);
	st = fuzz_local_call(m->path, auth_of(data[1]), (data[1] & 0x80) ? idem : NULL, data + 2,
			     size - 2, &out, &out_len, msg, sizeof(msg));
	if (trace)
		fprintf(stderr, "fuzz_rpc: %s auth %u -> %d %s\n", m->path, data[1] & 7u, (int)st,
			msg);
	if ((int)st < 0 || (int)st > 16) {
		fprintf(stderr, "fuzz_rpc: %s answered status %d\n", m->path, (int)st);
		abort();
	}
	if (st == GRPC_STATUS_INTERNAL && !allow_internal) {
		fprintf(stderr, "fuzz_rpc: %s answered INTERNAL: %s\n", m->path, msg);
		abort();
	}
	if (st == GRPC_STATUS_OK) {
		ProtobufCMessage *resp = protobuf_c_message_unpack(m->output, NULL, out_len, out);
		if (!resp) {
			fprintf(stderr, "fuzz_rpc: %s answered OK with %zu bytes that are no %s\n",
				m->path, out_len, m->output->name);
			abort();
		}
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	free(out);
	if (strstr(m->path, "/Backup"))
		clear_backups();
	return 0;
}
