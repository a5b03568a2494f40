/*
 * spbilling.h - the C SDK of SmartPlus Billing (libspbilling).
 *
 * This is the only header a program includes. It declares the client
 * handle, its options, the error model and, at its end (spb_rpc.h), one
 * typed synchronous function per RPC of BillingService, DirectoryService
 * and AdminService, generated from the .proto files:
 *
 *     spb_client *client = spb_client_new("127.0.0.1:50051", &opts);
 *     Smartplus__Billing__V1__GetCatalogRequest req =
 *         SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
 *     Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;
 *     if (spb_billing_get_catalog(client, &req, &resp, NULL) < 0)
 *         fprintf(stderr, "%s\n", spb_error_last()->message);
 *     spb_message_free(resp);
 *     spb_client_free(client);
 *
 * Conventions (as in libgit2):
 *  - Functions that can fail return 0 on success or a negative SPB_E* code.
 *    The detail (gRPC status, message, ErrorInfo reason) is in
 *    spb_error_last(), which is per thread.
 *  - What a function stores through an `**out` parameter belongs to the
 *    caller: free messages with spb_message_free().
 *  - Option structs carry a `version`; initialise them with their _INIT
 *    macro (or *_options_init()) and then set the fields you need.
 *  - Every *_free() function accepts NULL.
 *
 * Language: this header is C99; the generated protobuf-c messages it
 * includes use anonymous unions for oneofs, so a program needs C11 (or
 * C99 with GNU extensions, the default of gcc and clang).
 *
 * Threads: one spb_client may be used by any number of threads at once.
 * Each call blocks the calling thread until it completes or its deadline
 * passes. spb_client_free() must not run while a call on that client is
 * still in progress.
 *
 * Retries and idempotency (design R17): mutating RPCs carry an
 * `idempotency-key`. The SDK generates one (32 hex characters) unless the
 * call options give one, and when a call ends with UNAVAILABLE it retries
 * it up to `max_retries` times with the same key, so the server runs the
 * mutation at most once. Read-only RPCs are retried the same way. Other
 * statuses are never retried.
 */
#ifndef SPBILLING_H
#define SPBILLING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the SDK's public functions; everything else is hidden. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define SPB_EXTERN __attribute__((visibility("default")))
#else
#define SPB_EXTERN
#endif

/** SDK version, as in the project's CMake version. */
#define SPB_VERSION_MAJOR 0
#define SPB_VERSION_MINOR 1
#define SPB_VERSION_PATCH 0

/*
 * Error codes
 */

/**
 * Return codes. Every gRPC status maps to exactly one of them (see
 * spb_error_last() for the status itself):
 *
 *   SPB_EINVALID       INVALID_ARGUMENT, OUT_OF_RANGE; also bad arguments
 *                      detected by the SDK before sending anything
 *   SPB_ENOTFOUND      NOT_FOUND
 *   SPB_EEXISTS        ALREADY_EXISTS
 *   SPB_EPERM          PERMISSION_DENIED, UNAUTHENTICATED
 *   SPB_EPRECONDITION  FAILED_PRECONDITION (see the reason: QUOTE_STALE,
 *                      INSUFFICIENT_CREDITS, IDEMPOTENCY_KEY_REUSED, ...)
 *   SPB_ECONFLICT      ABORTED: a concurrent call (e.g. the first call with
 *                      the same idempotency key) is still running; retry
 *                      later with the same key
 *   SPB_EUNAVAILABLE   UNAVAILABLE (after the SDK's own retries),
 *                      RESOURCE_EXHAUSTED
 *   SPB_ETIMEOUT       DEADLINE_EXCEEDED; a mutation may or may not have
 *                      run: repeat it with the same idempotency key
 *   SPB_ERROR          everything else: CANCELLED, UNKNOWN, UNIMPLEMENTED,
 *                      INTERNAL, DATA_LOSS, and local failures (memory,
 *                      encoding, a malformed response)
 */
typedef enum {
	SPB_OK = 0,
	SPB_ERROR = -1,
	SPB_EINVALID = -2,
	SPB_ENOTFOUND = -3,
	SPB_EEXISTS = -4,
	SPB_EPERM = -5,
	SPB_EPRECONDITION = -6,
	SPB_ECONFLICT = -7,
	SPB_EUNAVAILABLE = -8,
	SPB_ETIMEOUT = -9
} spb_error_code;

/**
 * The detail of the last error on this thread.
 *
 * Every RPC function resets grpc_code, message and reason when it starts
 * and fills them when it fails. idempotency_key is set by every mutating
 * call (success or not) and kept until the next one, so it can be logged
 * or reused to repeat a mutation whose outcome is unknown.
 *
 * The strings are never NULL ("" when there is nothing to say) and stay
 * valid until the next SDK call on the same thread.
 */
typedef struct spb_error {
	/** gRPC status code (0 OK ... 16 UNAUTHENTICATED). For failures
	 *  detected by the SDK itself: INVALID_ARGUMENT for bad arguments,
	 *  INTERNAL otherwise. */
	int grpc_code;
	/** The status message, or the SDK's own explanation. */
	const char *message;
	/** The google.rpc.ErrorInfo reason sent by the server, or "". */
	const char *reason;
	/** The idempotency key of the last mutating call on this thread. */
	const char *idempotency_key;
	/** The order a failed payment call concerns (ErrorInfo metadata
	 *  `order_id`: PAYMENT_DECLINED, PROVIDER_REJECTED,
	 *  PROVIDER_UNAVAILABLE ...), or "". GetOrder / ConfirmOrder /
	 *  CancelOrder take it. */
	const char *order_id;
} spb_error;

/**
 * Returns the last error of the calling thread. Never NULL; the struct
 * and its strings stay valid until the next SDK call on this thread.
 */
SPB_EXTERN const spb_error *spb_error_last(void);

/**
 * Returns the name of a gRPC status code ("OK", "NOT_FOUND", ...), or
 * "UNKNOWN_STATUS" for a value outside 0..16. Static storage.
 */
SPB_EXTERN const char *spb_status_name(int grpc_code);

/*
 * Client
 */

/** A connection to billingd. Opaque; thread-safe. */
typedef struct spb_client spb_client;

#define SPB_CLIENT_OPTIONS_VERSION 2

/**
 * How to connect. The strings need only live for the duration of
 * spb_client_new(): the client keeps copies.
 *
 * Version 2 added tls_server_name. A program built against a version 1
 * header still works: its struct is read up to max_retries only.
 */
typedef struct spb_client_options {
	unsigned int version;
	/** Default bearer key (`spb_<id>_<secret>`), sent as
	 *  `authorization: Bearer <key>`; NULL sends none. */
	const char *api_key;
	/** Deadline of a call when its options give none, in milliseconds;
	 *  0 or negative: no deadline. Default 30000: above billingd's
	 *  provider timeout (--provider-timeout-ms, default 10000) plus the
	 *  writes around it, so a payment call ends with the server's answer
	 *  (an order, or UNAVAILABLE with the order id) rather than a client
	 *  timeout that leaves the caller without the order id. */
	int default_deadline_ms;
	/** TLS. root_certs_pem NULL: plaintext (billingd accepts plaintext on
	 *  loopback only). client_cert_pem and client_key_pem, both set: mutual
	 *  TLS. */
	struct {
		const char *root_certs_pem;
		const char *client_cert_pem;
		const char *client_key_pem;
	} tls;
	/** How many times a call that ended with UNAVAILABLE is repeated,
	 *  within its deadline. Default 2. */
	int max_retries;
	/** (version 2) TLS only: the name the server's certificate must carry
	 *  when it is not the target's host (a target given as an IP address,
	 *  a tunnel, a load balancer's address); it is also the channel's
	 *  default :authority. NULL: the target's host. */
	const char *tls_server_name;
} spb_client_options;

#define SPB_CLIENT_OPTIONS_INIT                                                      \
	{                                                                            \
		SPB_CLIENT_OPTIONS_VERSION, NULL, 30000, {NULL, NULL, NULL}, 2, NULL \
	}

/**
 * Fills opts with the defaults, as SPB_CLIENT_OPTIONS_INIT does (for
 * bindings that cannot use the macro). Returns 0, or SPB_EINVALID when
 * opts is NULL or version is not 1..SPB_CLIENT_OPTIONS_VERSION (a version 1
 * struct is filled up to max_retries).
 */
SPB_EXTERN int spb_client_options_init(spb_client_options *opts, unsigned int version);

/**
 * Creates a client for target ("host:port", or any gRPC target URI).
 * Connects lazily: an unreachable server shows up as SPB_EUNAVAILABLE on
 * the first call, not here. opts NULL means the defaults.
 *
 * Returns the client, owned by the caller (spb_client_free()), or NULL on
 * error (bad arguments or options version, TLS setup) with the detail in
 * spb_error_last().
 */
SPB_EXTERN spb_client *spb_client_new(const char *target, const spb_client_options *opts);

/**
 * Closes the client's channel and frees it. NULL does nothing. No call on
 * this client may be in progress.
 */
SPB_EXTERN void spb_client_free(spb_client *client);

/*
 * Calls
 */

#define SPB_CALL_OPTIONS_VERSION 2

/** Most entries spb_call_options.metadata may hold. */
#define SPB_CALL_METADATA_MAX 16

/** One request metadata entry (an HTTP/2 header of the call). */
typedef struct spb_metadata {
	/** Lower-case name: [0-9a-z_.-]{1,128}, not starting with "grpc-"
	 *  and not ending with "-bin" (binary values are not supported). */
	const char *key;
	/** Printable ASCII, 0..4096 characters. */
	const char *value;
} spb_metadata;

/**
 * Per-call options; pass NULL to the RPC functions for the defaults. The
 * strings are read during the call only.
 *
 * Version 2 added metadata, metadata_count and authority. A program built
 * against a version 1 header still works: its struct is read up to
 * acting_account only.
 */
typedef struct spb_call_options {
	unsigned int version;
	/** Deadline in milliseconds for the whole call, retries included;
	 *  0: the client's default_deadline_ms; negative: none. */
	int deadline_ms;
	/** Bearer key for this call instead of the client's. */
	const char *api_key;
	/** Idempotency key of a mutating call (1..255 printable ASCII
	 *  characters); NULL: the SDK generates one. Read-only calls send
	 *  none. Give the key of spb_error_last() to repeat a mutation whose
	 *  outcome is unknown. */
	const char *idempotency_key;
	/** Account to act for, sent as `x-acting-account` (needs a
	 *  SERVICE-scope key); NULL: act as the key's own account. */
	const char *acting_account;
	/** (version 2) Extra request metadata sent with every attempt of the
	 *  call, e.g. `traceparent` (W3C trace context) or `x-request-id`:
	 *  metadata_count entries (at most SPB_CALL_METADATA_MAX). The names
	 *  the SDK sets itself (authorization, idempotency-key,
	 *  x-acting-account) and HTTP/2 or gRPC reserved ones (content-type,
	 *  te, user-agent, host, grpc-*) are refused with SPB_EINVALID. */
	const spb_metadata *metadata;
	size_t metadata_count;
	/** (version 2) The call's :authority instead of the channel's (the
	 *  target, or tls_server_name). Over TLS the server's certificate must
	 *  be valid for it, or the call fails without being sent. NULL: the
	 *  channel's. */
	const char *authority;
} spb_call_options;

#define SPB_CALL_OPTIONS_INIT                                                \
	{                                                                    \
		SPB_CALL_OPTIONS_VERSION, 0, NULL, NULL, NULL, NULL, 0, NULL \
	}

/**
 * Fills opts with the defaults, as SPB_CALL_OPTIONS_INIT does. Returns 0,
 * or SPB_EINVALID when opts is NULL or version is not
 * 1..SPB_CALL_OPTIONS_VERSION (a version 1 struct is filled up to
 * acting_account).
 */
SPB_EXTERN int spb_call_options_init(spb_call_options *opts, unsigned int version);

/**
 * Frees a message returned by an RPC function (any protobuf-c message
 * unpacked by the SDK). NULL does nothing.
 */
SPB_EXTERN void spb_message_free(void *msg);

/*
 * Money
 *
 * The API carries money as an int64 amount in minor units plus an ISO-4217
 * currency code; how many minor units make a major one depends on the
 * currency (USD 2, JPY 0, KWD 3).
 */

/**
 * Returns the number of decimals of an ISO-4217 currency: 0 (JPY, KRW,
 * CLP, ...), 3 (BHD, JOD, KWD, OMR, TND) or 2 for every other code.
 */
SPB_EXTERN int spb_currency_exponent(const char *currency);

/**
 * Writes `minor` units of `currency` as "21.00 USD" (decimals per
 * spb_currency_exponent(), a leading '-' for negative amounts) into buf,
 * NUL-terminated. With currency NULL or "" writes the bare number (credit
 * amounts). Returns 0, or SPB_EINVALID when buf is NULL or too small.
 */
SPB_EXTERN int spb_money_format(int64_t minor, const char *currency, char *buf, size_t size);

/**
 * Parses a decimal amount in major units ("21", "21.5", "21.00") of
 * `currency` into minor units: at most as many decimals as the currency
 * has, optional leading '-'. Returns 0, or SPB_EINVALID for anything else
 * (including overflow), leaving *minor unchanged.
 */
SPB_EXTERN int spb_money_parse(const char *text, const char *currency, int64_t *minor);

#ifdef __cplusplus
}
#endif

/* One function per RPC, generated from proto/. */
#include "spb_rpc.h"

#endif /* SPBILLING_H */
