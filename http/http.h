/*
 * http/http.h — the HTTP API: civetweb, one routing table, JSON in and out,
 * authentication and the REST handlers. Handlers know no RocksDB: they use
 * store/store.h and hand send requests to the pipeline over the bus.
 *
 * Threads: civetweb's worker threads run the handlers concurrently. A
 * handler touches no actor state; shared state here (rate-limit windows)
 * has its own locks.
 */
#ifndef SGW_HTTP_H
#define SGW_HTTP_H

#include <civetweb.h>
#include <jansson.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>

#include "actors/actors.h"
#include "bus/actor.h"
#include "bus/cfg.h"
#include "store/store.h"

typedef struct sgw_http sgw_http;

/* What the server needs from the process. Borrowed while it runs. */
typedef struct sgw_http_deps {
    const sgw_cfg *cfg;
    sgw_store *store;
    sgw_app *app;
    sgw_actor **actors;   /* the pipeline, for /readyz and /metrics */
    int nactors;
} sgw_http_deps;

/* Listen on cfg "listen"; why gets civetweb's reason on failure. */
sgw_err sgw_http_start(const sgw_http_deps *deps, sgw_http **out, char *why, size_t whysz);
/* Stop accepting, wait for handlers under way, free. NULL-safe. */
void sgw_http_stop(sgw_http **h);

/* ---- internal to http/: shared by the handler files ---- */

enum { SGW_ROLE_NONE = 0, SGW_ROLE_APP = 1, SGW_ROLE_ADMIN = 2 };

typedef struct sgw_auth {
    int role;
    int test;             /* a sgw_test_ key */
    char app[32];
    char tenant[32];      /* "" for admin keys */
    char key_hash[65];
} sgw_auth;

typedef struct sgw_req {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    sgw_http *srv;
    const char *method;
    const char *path;
    const char *param[3];   /* path parameters, in order */
    char parambuf[3][128];
    char *body;             /* NUL-terminated copy of the body */
    size_t body_len;
    sgw_auth auth;
    char extra_headers[512];  /* added to the answer (rate-limit headers) */
    int status;             /* the answer's status, for metrics */
    const char *route;      /* the route's pattern, for metrics */
} sgw_req;

#define SGW_HTTP_ROUTES_MAX 96
#define SGW_HTTP_NCODES 19
/* The statuses counted one by one in by_route; others share the last slot. */
extern const int sgw_http_codes[SGW_HTTP_NCODES - 1];
/* Route i's method and pattern ("" and "unmatched" for the last slot); 0
 * past the end of the table. */
int sgw_http_route_label(int i, const char **method, const char **pattern);

struct sgw_http {
    struct mg_context *ctx;
    sgw_http_deps deps;
    nng_socket req;         /* req0 to ingress; one context per request */
    int64_t max_body, request_timeout_ms;
    char admin_key_hash[65];  /* of SMSGW_ADMIN_KEY / admin_key, or "" */
    struct sgw_limits *limits;
    struct sgw_rc_flow *rc_flow;  /* h_rc.c: connect tokens and OAuth states */
    struct sgw_ws_hub *ws;        /* h_ws.c, ws/: WebSocket tokens and sessions */
    atomic_int handlers_set;      /* 0 until every handler is registered: 503 */
    atomic_uint_fast64_t requests, by_class[6]; /* 1xx..5xx */
    /* by route (index in server.c's table; SGW_HTTP_ROUTES_MAX - 1: no
     * route) and status (SGW_HTTP_CODES, the last slot: any other) */
    atomic_uint_fast64_t by_route[SGW_HTTP_ROUTES_MAX][SGW_HTTP_NCODES];
    atomic_uint_fast64_t route_us[SGW_HTTP_ROUTES_MAX]; /* time in handlers, µs */
};

/* Answers. json is consumed (decref'd). */
void sgw_reply_json(sgw_req *r, int status, json_t *json);
void sgw_reply_raw(sgw_req *r, int status, const char *json, size_t len);
/* The status line and headers of a JSON answer of len bytes, which the
 * caller then writes (mg_write) itself. */
void sgw_reply_head(sgw_req *r, int status, size_t len);
void sgw_reply_error(sgw_req *r, int status, const char *code, const char *error);
void sgw_reply_html(sgw_req *r, int status, const char *html);
void sgw_reply_redirect(sgw_req *r, const char *location);
/* Parse the body as a JSON object; on failure answers 400 and returns NULL. */
json_t *sgw_req_json_object(sgw_req *r);
/* A query parameter into out (URL-decoded); 1 if present. */
int sgw_req_query(sgw_req *r, const char *name, char *out, size_t outsz);

/* auth.c: authenticate; on failure answers (401/403/429) and returns 0. */
int sgw_auth_check(sgw_req *r);
int sgw_auth_ip_blocked(sgw_req *r);   /* answers 429 and returns 1 if blocked */
sgw_err sgw_limits_new(const sgw_cfg *cfg, struct sgw_limits **out);
void sgw_limits_destroy(struct sgw_limits **l);
/* A new API key ("sgw_" or "sgw_test_" + 32 hex) and its hash. */
sgw_err sgw_key_new(int test, char key[48], char hash[65]);

/* h_admin.c: a URL smsgw may call: https://, or http:// to loopback
 * (development); at most 2000 characters. */
int sgw_url_ok(const char *u);
/* The tenant named by param[0] if the caller may see it (admin: any; app:
 * its own), as its document; else answers 400/404 and returns NULL. */
json_t *sgw_tenant_visible(sgw_req *r);
/* The tenant the caller acts for: an app key's own; an admin names one
 * (tenantId in body or the query). Answers 400/404 and returns 0 if none. */
int sgw_req_tenant(sgw_req *r, json_t *body, char tenant[32]);

/* render.c */
json_t *sgw_render_status(const sgw_sms *m);  /* Gravity's status object */
json_t *sgw_render_message(const sgw_sms *m); /* the full object */

/* handlers: each returns nothing and always answers */
void h_health(sgw_req *r);
void h_readyz(sgw_req *r);
void h_metrics(sgw_req *r);
void h_openapi(sgw_req *r);
void h_sms_send(sgw_req *r);
void h_sms_status(sgw_req *r);
void h_sms_get(sgw_req *r);
void h_sms_list(sgw_req *r);
void h_sms_cancel(sgw_req *r);
void h_tenants_create(sgw_req *r);
void h_tenants_list(sgw_req *r);
void h_tenants_get(sgw_req *r);
void h_tenants_patch(sgw_req *r);
/* A tenant's provider route (SPEC section 10), kept in its document. */
#define SGW_HTTP_ROUTE_PROVIDERS_MAX 8
void h_tenants_route_get(sgw_req *r);
void h_tenants_route_put(sgw_req *r);
void h_tenants_route_delete(sgw_req *r);
void h_apps_register(sgw_req *r);
void h_apps_list(sgw_req *r);
void h_apps_get(sgw_req *r);
void h_apps_put(sgw_req *r);
void h_apps_delete(sgw_req *r);
void h_apps_rotate(sgw_req *r);
void h_conn_put(sgw_req *r);
void h_conn_get(sgw_req *r);
void h_conn_delete(sgw_req *r);
sgw_err sgw_rc_flow_new(const sgw_cfg *cfg, struct sgw_rc_flow **out);
void sgw_rc_flow_destroy(struct sgw_rc_flow **f);
void h_templates_create(sgw_req *r);
void h_templates_list(sgw_req *r);
void h_templates_get(sgw_req *r);
void h_templates_put(sgw_req *r);
void h_templates_delete(sgw_req *r);
void h_templates_render(sgw_req *r);
void h_sender_ids_create(sgw_req *r);
void h_sender_ids_list(sgw_req *r);
void h_sender_ids_get(sgw_req *r);
void h_sender_ids_patch(sgw_req *r);
void h_sender_ids_delete(sgw_req *r);
void h_rc_connect_token(sgw_req *r);
void h_rc_connect_page(sgw_req *r);
void h_rc_connect(sgw_req *r);
void h_rc_callback(sgw_req *r);
void h_rc_status(sgw_req *r);
void h_rc_disconnect(sgw_req *r);
/* h_conn.c: store a verified connection (public and secret JSON objects,
 * consumed). Answers 503 and returns 0 on a store failure. */
int sgw_conn_store(sgw_req *r, const char *tenant, const char *provider, json_t *pub,
                   json_t *sec);


/* ======================================================== idempotency (http/idempotency.c)
 * The Idempotency-Key header for POST handlers. Use, after the checks that
 * come before any effect (role, draining):
 *
 *     sgw_idem *idem;
 *     if (!sgw_idem_begin(r, orphan_fn_or_NULL, &idem))
 *         return;                       // answered: 400, 409, replay, 503
 *     ...
 *     sgw_idem_reply(r, idem, status, json, len);  // every answer from here
 *
 * With no header, idem is NULL and sgw_idem_reply is sgw_reply_raw. With
 * one, the handler must answer exactly once through sgw_idem_reply or
 * sgw_idem_reply_error: 2xx and 4xx answers are stored (durably, before
 * they are sent) and replayed to the same request with
 * "Idempotent-Replay: true"; 5xx answers release the key. */
typedef struct sgw_idem sgw_idem;
/* A claim left by a request that never finished (the process died): 1 if
 * that request certainly had no effect (this one then runs), 0 if it may
 * have (409). NULL: always 0. */
typedef int (*sgw_idem_orphan_fn)(sgw_req *r, const sgw_idem_rec *claim);
int sgw_idem_begin(sgw_req *r, sgw_idem_orphan_fn orphan, sgw_idem **out);
/* For a handler that reads the body itself: 0 (answered 400) if the
 * request has an Idempotency-Key that is not 1-255 printable ASCII; then,
 * once the body is read, sgw_idem_begin_hashed with its SHA-256 (hex) and
 * ref, the id of what the request will make (kept in the claim). */
int sgw_idem_key_check(sgw_req *r);
int sgw_idem_begin_hashed(sgw_req *r, const char hash[65], const char *ref,
                          sgw_idem_orphan_fn orphan, sgw_idem **out);
void sgw_idem_reply(sgw_req *r, sgw_idem *t, int status, const char *json, size_t len);
void sgw_idem_reply_error(sgw_req *r, sgw_idem *t, int status, const char *code,
                          const char *error);
/* Leave the claim as it is (its effect happened but its answer is lost: a
 * retry is resolved by the orphan function) and release the key in this
 * process; the handler answers by itself. NULL-safe. */
void sgw_idem_abandon(sgw_idem *t);
/* For sends: no message of the claiming app was created within the
 * claim's request_timeout_ms window. */
int sgw_idem_orphan_sms(sgw_req *r, const sgw_idem_rec *claim);
/* For batches: the claim's ref (the batch id) was never committed. */
int sgw_idem_orphan_batch(sgw_req *r, const sgw_idem_rec *claim);
/* ======================================================== end idempotency */

/* One-way messages to an actor's bus input (http/tell.c): a push0 socket
 * per actor, opened on first use. */
sgw_err sgw_http_tell(const char *actor, sgw_msg *m, int timeout_ms);
sgw_err sgw_http_tell_list(const char *actor, sgw_msg_type type, int code, sgw_list *l,
                           int timeout_ms);
/* Send m on req (a req0 socket) and wait up to timeout_ms for the actor's
 * REPLY, decoded into ans (whose body points into *reply: free *reply,
 * when not NULL, after using ans). 0 ok, an nng error when there was no
 * answer, -1 when m could not be encoded or the answer is not a REPLY. */
int sgw_http_ask(nng_socket req, const sgw_msg *m, int timeout_ms, nng_msg **reply,
                 sgw_msg *ans);

/* ======================================================== webhooks (http/h_webhooks.c) */
void h_webhooks_dead(sgw_req *r);
void h_webhooks_replay(sgw_req *r);
void h_apps_test_webhook(sgw_req *r);
/* ======================================================== end webhooks */

/* ======================================================== RingCentral webhooks (http/h_rcwebhook.c) */
void h_rc_webhook(sgw_req *r);  /* POST /v1/webhooks/ringcentral */
/* Around a change of a tenant's RingCentral connection (stored, replaced,
 * removed): before reads the old one (heap, or NULL); after (which frees
 * it) tells the rcwebhook actor, if stored, to delete the old
 * subscription and (connected) to subscribe for the new one. */
char *sgw_rcwh_conn_before(sgw_req *r, const char *tenant);
void sgw_rcwh_conn_after(sgw_req *r, const char *tenant, char *old, int stored, int connected);
/* Add "webhook": {subscribed, subscriptionId, expiresAt} to a connection answer. */
void sgw_rcwh_describe(sgw_req *r, const char *tenant, json_t *answer);
/* The rcwebhook counters as Prometheus text (heap). */
char *sgw_rcwh_metrics(const sgw_app *app);
/* ======================================================== end RingCentral webhooks */

/* Twilio webhooks (http/h_twwebhook.c): status callbacks and inbound SMS. */
void h_tw_webhook(sgw_req *r);  /* POST /v1/webhooks/twilio/:tenantId */

/* A webhook actor (rcwebhook, twwebhook) as the webhook handlers ask it:
 * a req0 socket to its raw rep0, dialled on first use and kept (one
 * context per request). A static one, set with SGW_WEBHOOK_PEER. */
typedef struct sgw_webhook_peer {
    const char *url;        /* the actor's rep0: SGW_RCWH_REQ_URL, SGW_TWWH_REQ_URL */
    const char *actor;      /* for the log: "rcwebhook" */
    const char *what;       /* for the log: "RingCentral notification" */
    const char *id_prefix;  /* of the requests' ids: "rcn_" */
    pthread_mutex_t lock;
    nng_socket sock;
    int open;
} sgw_webhook_peer;
#define SGW_WEBHOOK_PEER(url, actor, what, id_prefix) \
    { (url), (actor), (what), (id_prefix), PTHREAD_MUTEX_INITIALIZER, NNG_SOCKET_INITIALIZER, 0 }
/* Hand a checked webhook request to p's actor (a RESULT of code for
 * tenant, with body) and wait up to http.request_timeout_ms: 0 with its
 * answer in *ans (whose body points into *reply: free *reply, when not
 * NULL, after using ans), or -1 after answering 503. In h_rcwebhook.c. */
int sgw_webhook_ask(sgw_req *r, sgw_webhook_peer *p, int code, const char *tenant,
                    const void *body, size_t len, nng_msg **reply, sgw_msg *ans);

/* ======================================================== batches (http/h_batches.c) */
void h_batches_create(sgw_req *r);    /* POST /v1/sms/batches (reads its body itself) */
void h_batches_list(sgw_req *r);
void h_batches_get(sgw_req *r);       /* GET /v1/sms/batches/:id */
void h_batches_messages(sgw_req *r);  /* GET /v1/sms/batches/:id/messages */
/* ======================================================== end batches */

/* ======================================================== websocket (http/h_ws.c, ws/) */
/* The key's identity (role, test, app, tenant, key_hash) without limits or
 * answers: 2 the operator's admin key, 1 a stored key, 0 unknown. */
int sgw_auth_lookup(sgw_http *srv, const char *key, sgw_auth *out);
void h_ws_token(sgw_req *r);   /* POST /v1/ws/token */
/* Start the hub and register /ws with civetweb; stop: SIGTERM (close 1001)
 * before mg_stop, free after. */
sgw_err sgw_ws_http_start(sgw_http *h, char *why, size_t whysz);
void sgw_ws_http_shutdown(sgw_http *h);
void sgw_ws_http_free(sgw_http *h);
/* ======================================================== end websocket */

/* ======================================================== web console (http/h_console.c) */
void h_console_index(sgw_req *r);  /* GET / */
void h_console_asset(sgw_req *r);  /* GET /console/:file */
/* ======================================================== end web console */

#endif
