/*
 * errors.c - the per-thread error of spb_error_last(), the mapping of gRPC
 * statuses to SPB_E* codes, and the ErrorInfo reason of a status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <grpc/status.h>

#include "spb_internal.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

/*
 * Fixed buffers rather than heap strings: nothing to free when a thread
 * ends, and spb_error_last() can never fail. Long messages are truncated.
 */
struct error_state {
	spb_error pub;
	char message[1024];
	char reason[128];
	char key[SPB__IDEMPOTENCY_KEY_MAX + 1];
	char order_id[128];
};

static _Thread_local struct error_state tls_error;

static struct error_state *state(void)
{
	struct error_state *st = &tls_error;

	if (!st->pub.message) {
		st->pub.message = st->message;
		st->pub.reason = st->reason;
		st->pub.idempotency_key = st->key;
		st->pub.order_id = st->order_id;
	}
	return st;
}

const spb_error *spb_error_last(void)
{
	return &state()->pub;
}

void spb__error_reset(void)
{
	struct error_state *st = state();

	st->pub.grpc_code = GRPC_STATUS_OK;
	st->message[0] = '\0';
	st->reason[0] = '\0';
	st->order_id[0] = '\0';
}

void spb__error_set_order(const char *order_id)
{
	snprintf(state()->order_id, sizeof(state()->order_id), "%s", order_id ? order_id : "");
}

int spb__error_set(int grpc_code, const char *reason, const char *fmt, ...)
{
	struct error_state *st = state();
	va_list ap;

	st->pub.grpc_code = grpc_code;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	snprintf(st->reason, sizeof(st->reason), "%s", reason ? reason : "");
	return spb__code_from_status(grpc_code);
}

void spb__error_set_key(const char *key)
{
	struct error_state *st = state();

	snprintf(st->key, sizeof(st->key), "%s", key ? key : "");
}

int spb__code_from_status(int grpc_code)
{
	switch (grpc_code) {
	case GRPC_STATUS_OK: return SPB_OK;
	case GRPC_STATUS_INVALID_ARGUMENT:
	case GRPC_STATUS_OUT_OF_RANGE: return SPB_EINVALID;
	case GRPC_STATUS_NOT_FOUND: return SPB_ENOTFOUND;
	case GRPC_STATUS_ALREADY_EXISTS: return SPB_EEXISTS;
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_UNAUTHENTICATED: return SPB_EPERM;
	case GRPC_STATUS_FAILED_PRECONDITION: return SPB_EPRECONDITION;
	case GRPC_STATUS_ABORTED: return SPB_ECONFLICT;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return SPB_EUNAVAILABLE;
	case GRPC_STATUS_DEADLINE_EXCEEDED: return SPB_ETIMEOUT;
	default: /* CANCELLED, UNKNOWN, UNIMPLEMENTED, INTERNAL, DATA_LOSS */ return SPB_ERROR;
	}
}

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *spb_status_name(int grpc_code)
{
	if (grpc_code < 0 || (size_t)grpc_code >= sizeof(status_names) / sizeof(status_names[0]))
		return "UNKNOWN_STATUS";
	return status_names[grpc_code];
}

/* True when an Any's type_url names google.rpc.ErrorInfo, whatever its
 * host part ("type.googleapis.com/google.rpc.ErrorInfo"). */
static int is_error_info(const char *type_url)
{
	static const char suffix[] = "/google.rpc.ErrorInfo";
	size_t len = type_url ? strlen(type_url) : 0;

	return len >= sizeof(suffix) - 1 &&
	       strcmp(type_url + len - (sizeof(suffix) - 1), suffix) == 0;
}

int spb__status_reason(const uint8_t *data, size_t len, char *reason, size_t reason_size)
{
	Google__Rpc__Status *status = NULL;
	Google__Rpc__ErrorInfo *info = NULL;
	int error = SPB_ENOTFOUND;
	size_t i;

	if (reason_size > 0)
		reason[0] = '\0';
	status = google__rpc__status__unpack(NULL, len, data);
	if (!status) {
		error = SPB_EINVALID;
		goto done;
	}
	for (i = 0; i < status->n_details; i++) {
		const Google__Protobuf__Any *any = status->details[i];

		if (!is_error_info(any->type_url))
			continue;
		info = google__rpc__error_info__unpack(NULL, any->value.len, any->value.data);
		if (!info) {
			error = SPB_EINVALID;
			goto done;
		}
		if (reason_size > 0)
			snprintf(reason, reason_size, "%s", info->reason);
		error = 0;
		goto done;
	}

done:
	if (info)
		google__rpc__error_info__free_unpacked(info, NULL);
	if (status)
		google__rpc__status__free_unpacked(status, NULL);
	return error;
}

int spb__status_metadata(const uint8_t *data, size_t len, const char *key, char *out, size_t cap)
{
	Google__Rpc__Status *status = google__rpc__status__unpack(NULL, len, data);
	int error = SPB_ENOTFOUND;

	if (cap > 0)
		out[0] = '\0';
	if (!status)
		return SPB_EINVALID;
	for (size_t i = 0; i < status->n_details && error == SPB_ENOTFOUND; i++) {
		const Google__Protobuf__Any *any = status->details[i];
		Google__Rpc__ErrorInfo *info;

		if (!is_error_info(any->type_url))
			continue;
		info = google__rpc__error_info__unpack(NULL, any->value.len, any->value.data);
		if (!info) {
			error = SPB_EINVALID;
			break;
		}
		for (size_t k = 0; k < info->n_metadata; k++)
			if (info->metadata[k]->key && strcmp(info->metadata[k]->key, key) == 0) {
				snprintf(out, cap, "%s", info->metadata[k]->value);
				error = 0;
			}
		google__rpc__error_info__free_unpacked(info, NULL);
	}
	google__rpc__status__free_unpacked(status, NULL);
	return error;
}
