#ifndef SPB_FUZZ_LOCAL_H
#define SPB_FUZZ_LOCAL_H

/*
 * A billingd without the network for fuzzing and seed generation: a store in
 * a fresh temporary directory (on /dev/shm when there is one: fsync is then
 * free), the vendor bootstrapped, and a small tree to aim at:
 *
 *   vendor ─ fz_d1 (DISTRIBUTOR) ─ fz_i1 (INSTALLER) ─ project fz_p1
 *            (COMMUNITY) holding item fz_it1 (APP); prices, a credit price,
 *            1000 credits on fz_i1, a coupon FZ10 (where those handlers exist).
 *
 * Keys: the vendor's (admin.key), an ACCOUNT key of fz_i1 and a SERVICE key
 * minted by the vendor. Everything runs through rpc_local_call().
 */

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

/* Which credentials a call carries. */
enum fuzz_auth {
	FUZZ_AUTH_VENDOR,
	FUZZ_AUTH_INSTALLER, /* fz_i1's ACCOUNT key */
	FUZZ_AUTH_SERVICE,   /* SERVICE key with x-acting-account: fz_i1 */
	FUZZ_AUTH_NONE,
	FUZZ_AUTH_BAD, /* the vendor's key with a wrong secret */
	FUZZ_AUTH_COUNT
};

/* Opens the store and builds the tree; exits the process on failure. Call
 * once. The directory is removed by fuzz_local_close() (also run atexit). */
void fuzz_local_open(void);
void fuzz_local_close(void);
const char *fuzz_local_dir(void);

/* One call of `path` with the request bytes; idem_key (may be NULL) is sent
 * as idempotency-key. Returns the status; *out (caller frees) on OK. */
grpc_status_code fuzz_local_call(const char *path, enum fuzz_auth auth, const char *idem_key,
				 const uint8_t *req, size_t len, uint8_t **out, size_t *out_len,
				 char *msg, size_t msgcap);

/* Packs msg and calls; frees nothing of msg. */
grpc_status_code fuzz_local_call_msg(const char *path, enum fuzz_auth auth,
				     const ProtobufCMessage *msg, uint8_t **out, size_t *out_len,
				     char *err, size_t errcap);

#endif
