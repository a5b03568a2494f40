/*
 * errors.c: google.rpc.Status details of failed calls (errors.h).
 */
#include "errors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "rpc_reasons.h"
#include "xalloc.h"

const char *errors_default_reason(grpc_status_code code)
{
	switch (code) {
	case GRPC_STATUS_CANCELLED: return REASON_CANCELLED;
	case GRPC_STATUS_INVALID_ARGUMENT: return REASON_INVALID_ARGUMENT;
	case GRPC_STATUS_DEADLINE_EXCEEDED: return REASON_DEADLINE_EXCEEDED;
	case GRPC_STATUS_NOT_FOUND: return REASON_NOT_FOUND;
	case GRPC_STATUS_ALREADY_EXISTS: return REASON_ALREADY_EXISTS;
	case GRPC_STATUS_PERMISSION_DENIED: return REASON_PERMISSION_DENIED;
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return REASON_RESOURCE_EXHAUSTED;
	case GRPC_STATUS_FAILED_PRECONDITION: return REASON_FAILED_PRECONDITION;
	case GRPC_STATUS_ABORTED: return REASON_ABORTED;
	case GRPC_STATUS_OUT_OF_RANGE: return REASON_OUT_OF_RANGE;
	case GRPC_STATUS_UNIMPLEMENTED: return REASON_UNIMPLEMENTED;
	case GRPC_STATUS_INTERNAL: return REASON_INTERNAL;
	case GRPC_STATUS_UNAVAILABLE: return REASON_UNAVAILABLE;
	case GRPC_STATUS_DATA_LOSS: return REASON_DATA_LOSS;
	case GRPC_STATUS_UNAUTHENTICATED: return REASON_UNAUTHENTICATED;
	default: return REASON_UNKNOWN;
	}
}

int errors_field(const char *message, char *buf, size_t cap)
{
	size_t n = 0;
	if (!message)
		return -1;
	while (message[n] && (isalnum((unsigned char)message[n]) || strchr("_.[]", message[n])))
		n++;
	if (n == 0 || n >= cap || message[n] != ':' || !isalpha((unsigned char)message[0]))
		return -1;
	memcpy(buf, message, n);
	buf[n] = 0;
	return 0;
}

/* Packs m into a fresh Any with the type URL of its full name. */
static void pack_any(const ProtobufCMessage *m, Google__Protobuf__Any *any, char *url, size_t cap)
{
	google__protobuf__any__init(any);
	snprintf(url, cap, "type.googleapis.com/%s", m->descriptor->name);
	any->type_url = url;
	any->value.data = xmalloc(protobuf_c_message_get_packed_size(m) + 1);
	any->value.len = protobuf_c_message_pack(m, any->value.data);
}

grpc_slice errors_status_details(grpc_status_code code, const char *message, const char *reason,
				 const errors_meta *meta, size_t n_meta)
{
	Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
	Google__Rpc__ErrorInfo__MetadataEntry entries[ERRORS_MAX_META + 1],
		*ep[ERRORS_MAX_META + 1];
	Google__Rpc__BadRequest bad = GOOGLE__RPC__BAD_REQUEST__INIT;
	Google__Rpc__BadRequest__FieldViolation
		fv = GOOGLE__RPC__BAD_REQUEST__FIELD_VIOLATION__INIT,
		*fvp[1] = {&fv};
	Google__Protobuf__Any anys[2], *ap[2] = {&anys[0], &anys[1]};
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	char field[128], url0[96], url1[96];
	size_t n = 0;
	grpc_slice out;
	int has_field = code == GRPC_STATUS_INVALID_ARGUMENT &&
			errors_field(message, field, sizeof(field)) == 0;

	for (size_t i = 0; i < n_meta && n < ERRORS_MAX_META; i++) {
		google__rpc__error_info__metadata_entry__init(&entries[n]);
		entries[n].key = (char *)meta[i].key;
		entries[n].value = (char *)meta[i].value;
		ep[n] = &entries[n];
		n++;
	}
	if (has_field) {
		google__rpc__error_info__metadata_entry__init(&entries[n]);
		entries[n].key = "field";
		entries[n].value = field;
		ep[n] = &entries[n];
		n++;
	}
	info.reason = (char *)(reason && *reason ? reason : errors_default_reason(code));
	info.domain = ERRORS_DOMAIN;
	info.n_metadata = n;
	info.metadata = ep;
	pack_any(&info.base, &anys[0], url0, sizeof(url0));
	st.n_details = 1;
	if (has_field) {
		const char *d = message + strlen(field) + 1;
		fv.field = field;
		fv.description = (char *)(d + strspn(d, " "));
		bad.n_field_violations = 1;
		bad.field_violations = fvp;
		pack_any(&bad.base, &anys[1], url1, sizeof(url1));
		st.n_details = 2;
	}
	st.code = code;
	st.message = (char *)(message ? message : "");
	st.details = ap;
	out = grpc_slice_malloc(protobuf_c_message_get_packed_size(&st.base));
	protobuf_c_message_pack(&st.base, GRPC_SLICE_START_PTR(out));
	for (size_t i = 0; i < st.n_details; i++)
		free(anys[i].value.data);
	return out;
}
