/*
 * bus/actor.h — the actor runtime.
 *
 * An actor is one const ops table (actors/<name>.c) run by N threads. Each
 * thread has its own zeroed state (ops->state_size bytes) and shares the
 * actor's input: a pull0 socket listening on inproc://sgw/<name> (or more
 * inputs that init adds). The runtime owns the threads, the sockets, the
 * start handshake, batching, ticks, metrics and the orderly stop:
 *
 *   loop: wait (poll) until an input is readable, the next tick is due or
 *         a stop is asked; take up to batch_max messages; call handle for
 *         the batch (each message borrowed for the call only, then freed);
 *         call tick when due.
 *
 * Start:  sgw_actor_start() returns only after every thread's init has
 *         succeeded (or the first failure), like czmq's handshake.
 * Stop:   sgw_actor_stop() asks the threads to stop taking input; a thread
 *         then calls ops->drain until it reports nothing is in flight, then
 *         (if ops->drain_input) keeps handling what is already queued until
 *         the input stays empty, calls fini and exits; stop joins them.
 *         sgw_actor_destroy() then closes the actor's outputs and frees it.
 *         Outputs stay open between the two because closing an nng socket
 *         discards what it still buffers: stop every actor of a pipeline in
 *         order first, then destroy them all, and nothing sent is lost.
 *
 * Actor code takes no locks: its state is its thread's. Outputs are push0
 * sockets made with sgw_actor_connect() in init; the runtime owns them
 * (fini must not close them).
 */
#ifndef SGW_ACTOR_H
#define SGW_ACTOR_H

#include <nng/nng.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bus/cfg.h"
#include "bus/err.h"
#include "bus/msg.h"

typedef struct sgw_actor sgw_actor;
typedef struct sgw_actor_env sgw_actor_env;

/* What an actor's threads are given. Borrowed; valid while it runs. */
struct sgw_actor_env {
    const char *name;
    int thread_index;          /* 0 .. threads-1 */
    const sgw_cfg *cfg;
    void *app;                 /* the process's shared objects (store, ...) */
    sgw_actor *actor;
};

struct sgw_actor_ops {
    const char *name;          /* config group actors.<name>, log tag, metric label */
    size_t state_size;
    /* Called on the actor's thread before it takes input. */
    sgw_err (*init)(void *st, const sgw_actor_env *env);
    /* A batch of n >= 1 messages, borrowed for the call. */
    void (*handle)(void *st, const sgw_msg *msgs, int n);
    /* Optional: called when the deadline it last returned has passed (and
     * once at start); returns the next deadline in monotonic ms, or -1. */
    int64_t (*tick)(void *st, int64_t now_mono_ms);
    /* Optional: called repeatedly during stop; return 1 when nothing is in
     * flight any more. May return a deadline via tick as usual. */
    int (*drain)(void *st);
    void (*fini)(void *st);
    /* Optional: more file descriptors to wait on (at most max) besides the
     * inputs, asked before each wait; when one is ready, tick is called at
     * once. For actors that drive I/O of their own (the sender's
     * providers). Returns how many it wrote. */
    int (*fds)(void *st, struct pollfd *pfd, int max);
    /* 1: during stop, handle everything already queued before exiting */
    int drain_input;
};

/* Per-actor counters, updated with relaxed atomics, read by /metrics. */
typedef struct sgw_actor_stats {
    atomic_uint_fast64_t in;          /* messages handled */
    atomic_uint_fast64_t out;         /* messages sent on by sgw_actor_send */
    atomic_uint_fast64_t send_fail;   /* sends that failed (full or closed) */
    atomic_uint_fast64_t batches;
    atomic_uint_fast64_t latency_us_sum;  /* bus latency: sent_ms -> handled */
    atomic_uint_fast64_t lat_buckets[8];  /* <=1,2,5,10,50,100,1000,+Inf ms */
} sgw_actor_stats;

/* Start ops's threads (actors.<name>.threads) with env fields cfg and app.
 * Binds the input inproc://sgw/<name>. */
sgw_err sgw_actor_start(const struct sgw_actor_ops *ops, const sgw_cfg *cfg, void *app,
                        sgw_actor **out);
/* Stop as described above and join the threads; closes the inputs.
 * NULL-safe; safe to call twice. */
void sgw_actor_stop(sgw_actor *a);
/* Stop if running, close the outputs, free. NULL-safe. */
void sgw_actor_destroy(sgw_actor **a);
int sgw_actor_running(const sgw_actor *a);
const sgw_actor_stats *sgw_actor_get_stats(const sgw_actor *a);
const char *sgw_actor_name(const sgw_actor *a);
/* What the operator set for the actor (actors.<name>.*), as in force. */
typedef struct sgw_actor_tune {
    int threads, queue_depth, batch_max;
    int64_t linger_us;
} sgw_actor_tune;
void sgw_actor_tuning(const sgw_actor *a, sgw_actor_tune *out);
/* Messages waiting in the actor's input (approximate). */
int64_t sgw_actor_queue_depth(const sgw_actor *a);

/* From init: add another input socket (already opened, bound or dialed);
 * its messages arrive with msg->input set to the returned index (>= 1). If
 * raw != 0, each message's nng header is passed as msg->route. The runtime
 * closes it at stop. Only thread 0 may add inputs. */
int sgw_actor_add_input(const sgw_actor_env *env, nng_socket sock, int raw);

/* From init: a push0 socket dialed to actor `to`'s input, with its send
 * buffer from actors.<to>.queue_depth. */
sgw_err sgw_actor_connect(const sgw_actor_env *env, const char *to, nng_socket *out);

/* Encode and send m on sock. timeout_ms: 0 never waits (SGW_EBUSY when
 * full), -1 waits as long as it takes, else up to that long (SGW_EBUSY
 * then). Counts in the calling actor's stats when env is not NULL. */
sgw_err sgw_actor_send(const sgw_actor_env *env, nng_socket sock, sgw_msg *m, int timeout_ms);

/* Send m (with a routing header) on a raw socket: the answer to a request
 * that arrived with msg->route. */
sgw_err sgw_bus_send_routed(nng_socket sock, const sgw_msg *m, const void *route,
                            size_t route_len);

/* The inproc URL of actor name: "inproc://sgw/<name>". */
void sgw_bus_url(char *out, size_t outsz, const char *name);

#endif
