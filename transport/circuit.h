/*
 * transport/circuit.h — circuit breakers, one per provider connection.
 *
 * A provider connection is (provider, tenant) for a provider that sends
 * with the tenant's own account (SGW_TR_NEEDS_ACCOUNT: RingCentral,
 * Twilio), and (provider, "") for one shared by every tenant (the
 * simulator). One process-wide table, shared by every sender thread.
 *
 * States (the value of smsgw_provider_circuit_state):
 *   closed (0)     calls go through; each answer is counted in a window of
 *                  transport.circuit.window_s seconds (10 buckets). When the
 *                  window holds at least min_calls answers and the share of
 *                  failures is at least failure_ratio, the circuit opens.
 *   half_open (1)  open_s after opening: at most probes calls go through;
 *                  `probes` successes close it, one failure opens it again.
 *                  (A probe that never answers frees its place after open_s.)
 *   open (2)       no call goes through: the sender takes the route's next
 *                  provider, or, when every provider of the route is open,
 *                  puts the message back until the first one half-opens
 *                  (not counted as an attempt).
 * A failure is a retryable outcome (timeout, connection error, 5xx, 429);
 * any other answer (sent, rejected, permanent failure) shows the provider
 * alive and counts as a success.
 */
#ifndef SGW_CIRCUIT_H
#define SGW_CIRCUIT_H

#include <stdint.h>

#include "bus/cfg.h"
#include "bus/err.h"

typedef enum { SGW_CIRCUIT_CLOSED = 0, SGW_CIRCUIT_HALF_OPEN = 1, SGW_CIRCUIT_OPEN = 2 } sgw_circuit_state;

typedef struct sgw_circuits sgw_circuits;

/* The settings of transport.circuit (defaults when absent). */
sgw_err sgw_circuits_new(const sgw_cfg *cfg, sgw_circuits **out);
void sgw_circuits_free(sgw_circuits *c);

/* May a call go to this connection now? 1: yes (in half-open, a probe's
 * place is taken: the caller must record its answer); 0: no, and *until_ms
 * (if not NULL) is the wall ms at which it half-opens. */
int sgw_circuit_allow(sgw_circuits *c, const char *provider, const char *tenant, int64_t now_ms,
                      int64_t *until_ms);
/* Give back a place taken by allow() whose call was not made. */
void sgw_circuit_release(sgw_circuits *c, const char *provider, const char *tenant);
/* The answer of a call that allow() let through: ok = 0 for a failure. */
void sgw_circuit_record(sgw_circuits *c, const char *provider, const char *tenant, int ok,
                        int64_t now_ms);

/* For /metrics: each known connection, in no particular order. Returns how
 * many were visited. */
typedef void (*sgw_circuit_visit_fn)(void *ctx, const char *provider, const char *tenant,
                                     sgw_circuit_state state, uint64_t opened_total,
                                     uint64_t calls, uint64_t failures);
int sgw_circuits_each(sgw_circuits *c, int64_t now_ms, sgw_circuit_visit_fn fn, void *ctx);

const char *sgw_circuit_state_name(sgw_circuit_state s);

#endif
