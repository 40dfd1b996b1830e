/*
 * ws/ws.h — WebSocket sessions (SPEC section 8): single-use tokens, the
 * session registry and the fan-out of the status actor's events.
 *
 * The hub owns one thread that subscribes (nng sub0) to SGW_EVENTS_URL and
 * hands each event to the authenticated sessions that may see it (an app
 * key: its app's sms_status and its tenant's sms_inbound; an admin key:
 * everything), and sends {"type":"ping"} every ws.ping_s.
 *
 * Threads. civetweb runs each open WebSocket on one of its worker threads
 * (its read loop calls the data handler); that thread never writes events.
 * Each authenticated session has its own writer thread that drains the
 * session's bounded queue (ws.queue_max) with mg_websocket_write, so a slow
 * peer blocks only its own writer. The hub only enqueues: a session whose
 * queue is full is dropped (close 1013) and counted. A session that must go
 * (dropped, auth deadline, shutdown) and does not close by itself has its
 * socket shut down after a short grace, which ends civetweb's read loop.
 *
 * The connection handlers (http/h_ws.c) call sgw_ws_open on ready,
 * sgw_ws_authed after a good auth frame and sgw_ws_close from the close
 * handler; after sgw_ws_close returns, the hub and the writer no longer
 * touch the connection.
 */
#ifndef SGW_WS_H
#define SGW_WS_H

#include <civetweb.h>
#include <stdint.h>

#include "bus/cfg.h"
#include "bus/err.h"

typedef struct sgw_ws_hub sgw_ws_hub;
typedef struct sgw_ws_conn sgw_ws_conn;

/* Who a session (or a token) acts for. */
typedef struct sgw_ws_who {
    int admin;          /* sees every event */
    int test;           /* a sgw_test_ key */
    char app[32];
    char tenant[32];
} sgw_ws_who;

typedef struct sgw_ws_stats {
    uint64_t connections;      /* open now (authenticated or not) */
    uint64_t authenticated;    /* open and authenticated now */
    uint64_t connections_total;
    uint64_t auth_failures_total;
    uint64_t drops_total;      /* slow subscribers disconnected (1013) */
    uint64_t events_total;     /* events received from the status actor */
    uint64_t sent_total;       /* messages written to sessions (events and pings) */
    uint64_t tokens;           /* outstanding tokens */
} sgw_ws_stats;

/* Config group `ws`; subscribes to SGW_EVENTS_URL (the status actor must be
 * listening). why gets the reason on failure. */
sgw_err sgw_ws_hub_new(const sgw_cfg *cfg, sgw_ws_hub **out, char *why, size_t whysz);
/* SIGTERM: refuse new sessions, send close 1001 to every session, wait a
 * little for the writers, then shut the rest down. Call before mg_stop. */
void sgw_ws_hub_shutdown(sgw_ws_hub *h);
/* Stop the thread and free. Every session must be closed (after mg_stop).
 * NULL-safe. */
void sgw_ws_hub_destroy(sgw_ws_hub **h);
void sgw_ws_hub_stats(sgw_ws_hub *h, sgw_ws_stats *out);
int64_t sgw_ws_token_ttl_s(const sgw_ws_hub *h);

/* A new single-use token (wst_ + 64 hex) for who; stored as its SHA-256.
 * SGW_EBUSY when ws.tokens_max tokens are outstanding. */
sgw_err sgw_ws_token_issue(sgw_ws_hub *h, const sgw_ws_who *who, char token[72]);
/* Consume a token: 1 and who if it was issued, unused and unexpired. */
int sgw_ws_token_redeem(sgw_ws_hub *h, const char *token, sgw_ws_who *who);

/* Sessions (from civetweb's websocket handlers). */
sgw_ws_conn *sgw_ws_open(sgw_ws_hub *h, struct mg_connection *conn); /* NULL: refuse */
/* Start receiving events; {"type":"auth_ok"} is the first message written.
 * 0 if the session could not be started. */
int sgw_ws_authed(sgw_ws_conn *c, const sgw_ws_who *who);
int sgw_ws_is_authed(sgw_ws_conn *c);
/* Count a failed authentication (the handler closes the connection). */
void sgw_ws_auth_failed(sgw_ws_conn *c);
void sgw_ws_close(sgw_ws_conn *c);

/* Write a close frame with code (and no reason). From any thread. */
int sgw_ws_send_close(struct mg_connection *conn, int code);

#endif
