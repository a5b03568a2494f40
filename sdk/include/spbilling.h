/*
 * spbilling.h - the C SDK of SmartPlus Billing (libspbilling).
 *
 * This is the only header a program includes. It declares the client
 * handle, its options, the error model, at its end (spb_rpc.h) one typed
 * synchronous function per unary RPC of BillingService, DirectoryService,
 * AdminService and EventService, generated from the .proto files, and the
 * event watch (the one streaming call):
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

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Watching events (EventService.WatchEvents)
 *
 * The first streaming call of the SDK. A watch receives the platform's
 * events in sequence order: first those after a sequence number, then each
 * new one as the server commits it. When the stream breaks (the server
 * restarts, the network drops, the server ends it with UNAVAILABLE), the
 * watch reconnects by itself and resumes after the last event it handed
 * out, so the caller sees every event once, in order, with no gap.
 *
 *     spb_watch_options wo = SPB_WATCH_OPTIONS_INIT;
 *     spb_event_watch *w = NULL;
 *     Smartplus__Billing__V1__Event *ev = NULL;
 *     wo.after_sequence = last_seen;          // 0: from the oldest kept
 *     if (spb_events_watch_open(&w, client, &wo) < 0)
 *         return -1;
 *     while (spb_events_watch_next(w, &ev, -1) == 0) {
 *         handle(ev);                          // ev->sequence, ev->kind ...
 *         last_seen = ev->sequence;
 *         spb_message_free(ev);
 *     }
 *     spb_events_watch_free(w);
 *
 * or, with a callback, spb_events_watch(client, &wo, on_event, payload).
 *
 * Threads: one watch is used by one thread at a time, except
 * spb_events_watch_cancel(), which any thread may call.
 */

/** A watch of events. Opaque; see spb_events_watch_open(). */
typedef struct spb_event_watch spb_event_watch;

#define SPB_WATCH_OPTIONS_VERSION 1

/**
 * What to watch. The strings and arrays need only live for the duration
 * of spb_events_watch_open() / spb_events_watch(): the watch keeps copies.
 */
typedef struct spb_watch_options {
	unsigned int version;
	/** Deliver the events after this sequence number; 0: from the
	 *  oldest one the server keeps. */
	long long after_sequence;
	/** Only these kinds ("item.activated", ...); n_kinds 0: all. */
	const char *const *kinds;
	size_t n_kinds;
	/** Only events about this subject ("items/door-1"); NULL: all. */
	const char *subject;
	/** Only this account's subtree (the caller's own or a descendant);
	 *  NULL: the caller's. */
	const char *account_id;
	/** Bearer key and x-acting-account, as for unary calls (version 1 or
	 *  2); the deadline, idempotency key, metadata and authority are
	 *  ignored. NULL: the client's defaults. */
	const spb_call_options *call;
	/** How many times in a row a broken stream is reconnected before
	 *  spb_events_watch_next() gives up with SPB_EUNAVAILABLE; -1: for
	 *  ever. Pauses between attempts grow from 50 ms to 2 s. Default -1. */
	int max_reconnects;
} spb_watch_options;

#define SPB_WATCH_OPTIONS_INIT                                              \
	{                                                                   \
		SPB_WATCH_OPTIONS_VERSION, 0, NULL, 0, NULL, NULL, NULL, -1 \
	}

/**
 * Fills opts with the defaults, as SPB_WATCH_OPTIONS_INIT does. Returns 0,
 * or SPB_EINVALID when opts is NULL or version is not
 * SPB_WATCH_OPTIONS_VERSION.
 */
SPB_EXTERN int spb_watch_options_init(spb_watch_options *opts, unsigned int version);

/**
 * Creates a watch on client (which must outlive it) and stores it in
 * *out, owned by the caller (spb_events_watch_free()). Nothing is sent
 * yet: the stream opens on the first spb_events_watch_next(). opts NULL
 * means the defaults. Returns 0, or SPB_EINVALID for bad options (with
 * *out NULL and the detail in spb_error_last()).
 */
SPB_EXTERN int spb_events_watch_open(spb_event_watch **out, spb_client *client,
				     const spb_watch_options *opts);

/**
 * Waits up to timeout_ms (negative: without limit) for the next event and
 * stores it in *event, owned by the caller (spb_message_free()).
 *
 * Returns 0 with an event; SPB_ETIMEOUT when none came in time (the watch
 * goes on: call again); or another negative code when the watch is over:
 * SPB_EPERM / SPB_EINVALID as the server answered (a foreign account_id,
 * an unknown kind), SPB_EUNAVAILABLE after max_reconnects failed
 * reconnections, SPB_ERROR after spb_events_watch_cancel(). *event is NULL
 * unless 0 is returned.
 */
SPB_EXTERN int spb_events_watch_next(spb_event_watch *watch, Smartplus__Billing__V1__Event **event,
				     int timeout_ms);

/**
 * The sequence number of the last event handed out (after_sequence before
 * the first): what a later watch resumes after.
 */
SPB_EXTERN long long spb_events_watch_position(const spb_event_watch *watch);

/**
 * 1 once the current stream has replayed everything committed before it
 * opened (what follows is live), else 0. Reset by a reconnection.
 */
SPB_EXTERN int spb_events_watch_caught_up(const spb_event_watch *watch);

/**
 * Ends the watch from any thread: a spb_events_watch_next() in progress
 * returns SPB_ERROR, and so does every later one. NULL does nothing.
 */
SPB_EXTERN void spb_events_watch_cancel(spb_event_watch *watch);

/** Closes the stream and frees the watch. NULL does nothing. */
SPB_EXTERN void spb_events_watch_free(spb_event_watch *watch);

/**
 * A callback for spb_events_watch(): return 0 to go on, anything else to
 * stop watching. The event belongs to the watch (copy what you keep).
 */
typedef int (*spb_event_cb)(const Smartplus__Billing__V1__Event *event, void *payload);

/**
 * Watches with a callback: calls cb for every event, in order, until it
 * returns non-zero (then returns that value) or the watch is over (then
 * returns the negative code spb_events_watch_next() gave).
 */
SPB_EXTERN int spb_events_watch(spb_client *client, const spb_watch_options *opts, spb_event_cb cb,
				void *payload);

#ifdef __cplusplus
}
#endif

#endif /* SPBILLING_H */
