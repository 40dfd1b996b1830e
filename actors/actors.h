/*
 * actors/actors.h — the pipeline's actors and what they share.
 *
 *   http -> ingress -> validator -(durable write, 202)-> ratelimit
 *        -> sender -> provider; sender -> status -> store + events;
 *   scheduler (sendAt, backoff, rate-limit waits, leases) -> ratelimit
 *
 * Each actor is one file with one const ops table (bus/actor.h). They share
 * nothing but the store (through store/store.h) and the bus. sgw_app is the
 * process's shared, read-mostly context handed to every actor as env->app.
 */
#ifndef SGW_ACTORS_H
#define SGW_ACTORS_H

#include <stdatomic.h>
#include <stdint.h>

#include "bus/actor.h"
#include "bus/cfg.h"
#include "store/store.h"
#include "transport/circuit.h"
#include "transport/transport.h"

#define SGW_MAX_PROVIDERS 8

/* Outcomes of one provider's calls (transport/registry.c order), counted by
 * the status actor, read by /metrics. */
typedef struct sgw_provider_stats {
    atomic_uint_fast64_t attempts, ok, retryable, permanent, latency_ms_sum;
} sgw_provider_stats;

/* RingCentral webhooks (actors/rcwebhook.c, http/h_rcwebhook.c), for /metrics. */
struct sgw_rcwh_stats {
    atomic_uint_fast64_t notifications; /* authenticated and valid, handed on */
    atomic_uint_fast64_t rejected;      /* 401: no or a wrong Verification-Token */
    atomic_uint_fast64_t invalid;       /* 4xx: malformed */
    atomic_uint_fast64_t ignored;       /* events of no interest (not SMS, not ours) */
    atomic_uint_fast64_t inbound, duplicates;  /* inbound SMS stored / heard again */
    atomic_uint_fast64_t reports;       /* delivery outcomes found and handed to status */
    atomic_uint_fast64_t unknown;       /* message-store records that are none of ours */
    atomic_uint_fast64_t syncs;         /* message-store look-ups */
    atomic_uint_fast64_t subs_created, subs_renewed, subs_deleted, sub_errors;
};

typedef struct sgw_app {
    sgw_store *store;
    const sgw_cfg *cfg;
    int64_t boot_ms;        /* wall ms before the store was opened */
    atomic_int draining;    /* set on SIGTERM: ingress answers 503 */
    /* status changes published, by new status (sgw_status) */
    atomic_uint_fast64_t status_events[SGW_ST_MAX];
    /* events the webhooks actor never got (it was stuck; actors/status.c) */
    atomic_uint_fast64_t webhook_events_lost;
    sgw_provider_stats providers[SGW_MAX_PROVIDERS];
    struct sgw_rcwh_stats rcwh;  /* RingCentral webhooks (actors/rcwebhook.c) */
    struct sgw_circuits *circuits; /* per provider connection (transport/circuit.h) */
} sgw_app;

extern const struct sgw_actor_ops sgw_actor_ingress;
extern const struct sgw_actor_ops sgw_actor_validator;
extern const struct sgw_actor_ops sgw_actor_scheduler;
extern const struct sgw_actor_ops sgw_actor_ratelimit;
extern const struct sgw_actor_ops sgw_actor_sender;
extern const struct sgw_actor_ops sgw_actor_status;
extern const struct sgw_actor_ops sgw_actor_webhooks; /* actors/webhooks.c */
extern const struct sgw_actor_ops sgw_actor_rcwebhook; /* actors/rcwebhook.c */
extern const struct sgw_actor_ops sgw_actor_twwebhook; /* actors/twwebhook.c */

/* Pipeline order, upstream first: start them in reverse, stop in order. */
extern const struct sgw_actor_ops *const sgw_pipeline[];
#define SGW_PIPELINE_LEN 9

/* The answer r (REPLY, its routing bytes in r->reply) to the HTTP request
 * waiting on ingress's raw rep0 socket; callable from any actor thread once
 * ingress runs (the validator answers this way). */
sgw_err sgw_ingress_reply(const sgw_msg *r);

/* Where the HTTP side dials its req0 socket (ingress's raw rep0). */
#define SGW_INGRESS_REQ_URL "inproc://sgw/ingress.req"
/* Where the HTTP side dials req0 for RingCentral notifications (the
 * rcwebhook actor's raw rep0), and the codes of what it sends there (a
 * RESULT) or to the actor's input (an EVENT). */
#define SGW_RCWH_REQ_URL "inproc://sgw/rcwebhook.req"
enum {
    SGW_RCWH_INBOUND = 1,      /* RESULT, body: an encoded INBOUND outcome */
    SGW_RCWH_SYNC = 2,         /* RESULT: a message-store change of msg.tenant */
    SGW_RCWH_CONNECTED = 3,    /* EVENT: msg.tenant's RingCentral connection was stored */
    SGW_RCWH_DISCONNECTED = 4, /* EVENT: it was replaced or removed; body: the old
                                  connection (account JSON), to unsubscribe with */
};
/* Where the HTTP side dials req0 for Twilio webhooks (the twwebhook
 * actor's raw rep0), and what it sends there (a RESULT). */
#define SGW_TWWH_REQ_URL "inproc://sgw/twwebhook.req"
enum {
    SGW_TWWH_INBOUND = 1,      /* body: an encoded INBOUND outcome */
    SGW_TWWH_REPORT = 2,       /* body: an encoded REPORT outcome (MessageSid, tenant) */
};
/* Where the status actor publishes stored changes (pub0): JSON events. */
#define SGW_EVENTS_URL "inproc://sgw/events"
/* Where the webhooks actor's pull0 listens; the status actor's push0 dials
 * it at its start (the webhooks actor starts first), so not one event
 * published after the gateway is ready misses the webhooks' outbox. */
#define SGW_WEBHOOK_EVENTS_URL "inproc://sgw/events.webhooks"

/* SUBMIT flags */
enum { SGW_SUBMIT_TEST = 1, SGW_SUBMIT_ADMIN = 2 };

/* RESULT codes (msg.code) */
enum {
    SGW_RES_OUTCOME = 1,  /* body: an encoded sgw_tr_outcome + provider name */
    SGW_RES_PUBLISH = 2,  /* already stored status change: publish only; body: record */
};

/* Pipeline bodies are lists: one bus message carries a batch of items (each
 * an encoded record or outcome), so a hop costs one nng transfer per batch,
 * not per message. A list body is a msgpack array of bin items. */
typedef struct sgw_list {
    char *buf;        /* items, each a msgpack bin header + bytes */
    size_t len, cap;
    int n;
} sgw_list;
sgw_err sgw_list_add(sgw_list *l, const void *item, size_t len);
/* Send l as the body of a message of type/code, then empty it. Nothing is
 * sent for an empty list. */
sgw_err sgw_list_send(const sgw_actor_env *env, nng_socket sock, sgw_msg_type type, int code,
                      sgw_list *l, int timeout_ms);
void sgw_list_free(sgw_list *l);
/* Iterate a list body: *off starts at 0; returns 1 and the next item, 0 at
 * the end or on malformed input. */
int sgw_list_next(const void *body, size_t len, size_t *off, const void **item,
                  size_t *ilen);

/* A provider outcome on the bus (RESULT body). */
sgw_err sgw_outcome_encode(const sgw_tr_outcome *o, const char *provider, void **out,
                           size_t *len);
sgw_err sgw_outcome_decode(const void *buf, size_t len, sgw_tr_outcome *o, char provider[24]);

/* Routes: the providers a message tries, in order (SPEC section 10).
 * Test keys use transport.test_route; live keys their tenant's route (PUT
 * /v1/tenants/:id/route, kept in the tenant document), or
 * transport.default_route when the tenant has none. */
#define SGW_ROUTE_MAX 8
typedef struct sgw_route {
    int n;                          /* at least 1 */
    char name[SGW_ROUTE_MAX][24];
} sgw_route;
/* The configured route of a test (test != 0) or live message. */
void sgw_route_load(const sgw_cfg *cfg, int test, sgw_route *out);
/* The failover rule: where in route r m's next attempt starts. After a
 * failed attempt (a non-terminal message's failures are all retryable) it
 * is the position after that attempt's provider, or that provider again if
 * it is the route's last; otherwise (a first attempt, or a provider no
 * longer in the route) the route's first. The sender then skips providers
 * whose circuit is open (actors/sender.c). */
int sgw_route_start(const sgw_sms *m, const sgw_route *r);

/* The sms_status event JSON of a record (SPEC section 8); heap string. */
char *sgw_event_json(const sgw_sms *sms);
/* The id of an inbound SMS (status and rcwebhook actors): msg_ + 12 hex of
 * SHA-256("tenant/provider/pmid/k"), the first k whose id is free (*dup = 0)
 * or holds this very SMS (*dup = 1: heard before), so the same SMS heard
 * twice is stored once. Not SGW_OK: the store failed (or 8 collisions). */
sgw_err sgw_inbound_id(sgw_store *store, const char *tenant, const char *provider,
                       const char *pmid, char id[24], int *dup);

/* What the webhook actors (actors/rcwebhook.c, actors/twwebhook.c) do
 * alike; defined in actors/rcwebhook.c. */
/* Answer req, which came on the raw rep0 socket rep. */
void sgw_rep_reply(nng_socket rep, const sgw_msg *req, int code, const char *json);
/* Open a raw rep0 socket listening on url as the actor's input 1 (who:
 * the actor, for the log). */
sgw_err sgw_rep_listen(const sgw_actor_env *env, nng_socket *rep, const char *url,
                       const char *who);
/* Where an inbound SMS from a provider's webhook goes. */
typedef struct sgw_inbound_to {
    const sgw_actor_env *env;
    nng_socket rep;             /* the request is answered on it */
    nng_socket to_status;       /* the status actor publishes the stored SMS */
    const char *provider;       /* "ringcentral", "twilio" */
    const char *who;            /* the actor, for the log */
    atomic_uint_fast64_t *stored, *duplicates; /* counted before answering; NULL: not */
} sgw_inbound_to;
/* m: a RESULT whose body is an encoded INBOUND outcome. Stored as a
 * `received` message once (its id: sgw_inbound_id), answered 200
 * {messageId, duplicate} (400 malformed, 503 not stored), then handed to
 * the status actor (PUBLISH: sms_inbound). */
void sgw_inbound_take(const sgw_inbound_to *to, const sgw_msg *m);

#endif
