/*
 * transport/transport.h — the provider interface.
 *
 * A provider adapter is one file in transport/ that fills one const
 * struct sgw_transport_ops, listed in transport/registry.c. Adding a
 * provider touches no actor.
 *
 * The interface is asynchronous so one sender thread drives many calls at
 * once and never sleeps per message: submit() starts a send and returns at
 * once; poll() hands back finished outcomes (send results and, later,
 * delivery reports); next_deadline() says when poll has work next. Each
 * sender thread owns its own connection objects (conn), so an adapter needs
 * no locks; no other thread may touch a conn.
 *
 * Outcomes are not errors: SGW_SEND_OK, SGW_SEND_RETRY (timeout,
 * connection error, 5xx, 429: worth another attempt), SGW_SEND_PERMANENT
 * (the message fails), SGW_SEND_REJECTED (refused before reaching a
 * carrier: invalid number, blocked recipient).
 *
 * Besides answers about our messages, a provider may hand back an inbound
 * SMS (SGW_TR_INBOUND): the sender forwards it to the status actor, which
 * stores it as a `received` message (deduplicated by provider and provider
 * message id) and publishes sms_inbound. The inbound webhook receivers
 * (RingCentral, Twilio) are to use the same outcome and the same path.
 */
#ifndef SGW_TRANSPORT_H
#define SGW_TRANSPORT_H

#include <stdint.h>

#include "bus/cfg.h"
#include "bus/err.h"

typedef enum {
    SGW_SEND_OK = 0,
    SGW_SEND_RETRY,
    SGW_SEND_PERMANENT,
    SGW_SEND_REJECTED,
} sgw_send_result;

/* What a provider needs to send one message. Borrowed for the call. */
typedef struct sgw_tr_sms {
    const char *id;
    const char *tenant;
    const char *to;
    const char *from;
    const char *body;
    int attempt;          /* 1 for the first attempt */
    int test;
    /* The tenant's connection to this provider (a JSON object with its
     * secrets: store/store.h sgw_store_conn_account), for providers with
     * SGW_TR_NEEDS_ACCOUNT; NULL otherwise. account_version changes when
     * the connection is replaced: an adapter drops what it derived from an
     * older one (tokens, number maps). */
    const char *account;
    int64_t account_version;
} sgw_tr_sms;

enum { SGW_TR_SEND_DONE = 1, SGW_TR_REPORT = 2, SGW_TR_INBOUND = 3 };

typedef struct sgw_tr_outcome {
    int kind;                     /* SGW_TR_SEND_DONE, SGW_TR_REPORT or SGW_TR_INBOUND */
    char id[24];                  /* our message id; INBOUND: the outbound message it
                                     answers, "" if unknown */
    sgw_send_result result;       /* for a report: OK = delivered; INBOUND: OK */
    char provider_msg_id[64];     /* INBOUND: the provider's id of the inbound SMS (dedup key) */
    char error_code[48];
    char error_message[256];
    int64_t retry_after_ms;       /* the provider asked us to wait (0: no) */
    int64_t started_ms, finished_ms;
    int attempt;
    /* INBOUND only ("" / NULL otherwise): the receiving tenant ("" when id
     * names the answered message: its tenant is taken), the sender and the
     * recipient of the inbound SMS, and its text. body is a heap string
     * owned by the outcome: whoever consumes the outcome (the sender after
     * forwarding it) frees it. */
    char tenant[32];
    char from[24], to[24];
    char *body;
    /* Set by the sender, not by adapters (0 from an adapter): */
    int flags;                    /* SGW_TR_FAILOVER | SGW_TR_DEFERRED */
} sgw_tr_outcome;

/* outcome flags */
enum {
    /* a retryable failure with another provider of the message's route
     * after this one: it is tried there at once, without backoff */
    SGW_TR_FAILOVER = 1,
    /* not an attempt: every provider of the route has its circuit open;
     * the message waits retry_after_ms, still queued, nothing recorded */
    SGW_TR_DEFERRED = 2,
    SGW_TR_FLAGS_ALL = 3,
};

enum {
    SGW_TR_SUPPORTS_QUERY = 1, /* query() asks for a delivery report */
    SGW_TR_NEEDS_ACCOUNT = 2,  /* sends need the tenant's connection */
};

struct pollfd;

/* What the process offers adapters (given to create; outlives the conn). */
typedef struct sgw_tr_host {
    void *ctx;
    /* Keep secret fields the provider rotated (a refresh token) in the
     * tenant's stored connection; patch is a JSON object. */
    void (*save_secret)(void *ctx, const char *tenant, const char *provider, const char *patch);
} sgw_tr_host;

struct sgw_transport_ops {
    const char *name;          /* config group transport.<name>, metrics, providerAttempts */
    const char *title;         /* for people: "RingCentral" */
    unsigned supports;
    sgw_err (*create)(void **conn, const sgw_cfg *cfg, const sgw_tr_host *host);
    void (*destroy)(void *conn);
    /* Start sending; the outcome comes from poll(). SGW_EBUSY when the
     * adapter cannot take more now (the caller retries later). */
    sgw_err (*submit)(void *conn, const sgw_tr_sms *sms);
    /* Ask the provider for the delivery report of a sent message; the
     * answer comes from poll() as SGW_TR_REPORT (if SUPPORTS_QUERY). */
    sgw_err (*query)(void *conn, const sgw_tr_sms *sms, const char *provider_msg_id);
    /* Finished outcomes, at most max; returns how many. now: wall ms. */
    int (*poll)(void *conn, int64_t now_ms, sgw_tr_outcome *out, int max);
    /* Wall ms when poll() will next have something, or -1. */
    int64_t (*next_deadline)(void *conn);
    /* Calls under way (submitted, outcome not yet polled). */
    int (*inflight)(void *conn);
    /* Optional: the sockets the adapter waits on (at most max); the
     * sender's thread polls them with its inputs and calls poll() as soon
     * as one is ready. Returns how many it wrote. */
    int (*fds)(void *conn, struct pollfd *pfd, int max);
    /* Optional: check a connection before it is stored (blocking, from an
     * HTTP worker thread). SGW_OK with *info a heap JSON object of facts
     * learnt (account id, usable numbers), or SGW_EINVAL (rejected) /
     * SGW_EIO (unreachable) with a sentence for people in why. */
    sgw_err (*verify)(const sgw_cfg *cfg, const char *account, char **info, char *why,
                      size_t whysz);
};

/* The registry: by name, or NULL. */
const struct sgw_transport_ops *sgw_transport_find(const char *name);
/* All providers, NULL-terminated. */
const struct sgw_transport_ops *const *sgw_transport_all(void);

#endif
