#ifndef SPB_HEALTH_H
#define SPB_HEALTH_H

/*
 * health.h: what grpc.health.v1.Health reports, and the health-only port.
 *
 * billingd is SERVING unless one of the causes below holds; then every
 * service it knows is NOT_SERVING. Check answers the current status; every
 * Watch stream gets the status at once and again at every change. Causes
 * are set by whoever sees them (main on SIGTERM, the writer's observer on a
 * full store or a stalled batch) from any thread.
 *
 * The health-only port (--health-listen) is a second gRPC server that
 * serves Health/Check and Health/Watch and nothing else (any other method is
 * UNIMPLEMENTED), in plaintext on any address: it reveals nothing but the
 * status, and it is what Kubernetes' native gRPC probe can reach.
 */

typedef enum {
	HEALTH_DRAINING = 1,       /* SIGTERM: shutting down */
	HEALTH_STORE_FULL = 2,     /* the last commit failed: the store is full */
	HEALTH_WRITER_STALLED = 4, /* a write batch has been running too long */
} health_cause;

/* Sets or clears a cause; pushes the new status to every Watch when the
 * status changes. Thread-safe. */
void health_set(health_cause cause, int on);

/* The causes now set (0: SERVING). */
unsigned health_causes(void);

/* Registers Check and Watch on the main server (before rpc_server_start). */
int health_register(void);

/*
 * Shutdown, step one: sets HEALTH_DRAINING, so every watcher is told
 * NOT_SERVING; then the main server's Watch streams are finished (status
 * OK) so they do not hold up the drain. The health-only port keeps its
 * streams and answers NOT_SERVING until health_listen_stop().
 */
void health_drain(void);

/* Starts the health-only server on addr (host:port; port 0 picks one).
 * Returns the bound port, or -1. */
int health_listen_start(const char *addr);

/* Stops it (its Watch streams are cancelled). Nothing if not started. */
void health_listen_stop(void);

#endif
