/*
 * http/cli_tail.c — `smsgw tail`: live events from the gateway's WebSocket
 * (/ws, README "Live events"), one line each, until SIGINT or SIGTERM.
 *
 * Authentication: a single-use token from POST /v1/ws/token (the key goes
 * only in that request's header), sent as {"type":"auth","token"}; or, with
 * --auth key, the key itself as {"type":"auth","apiKey"}.
 *
 * Threads: civetweb's WebSocket client (mg_connect_websocket_client) reads
 * frames on its own thread and calls on_data/on_close, which print events
 * and record the outcome in atomics. The main thread blocks SIGINT and
 * SIGTERM (the reader inherits the mask) and waits for them with
 * sigtimedwait, checking the outcome between waits; no signal handler.
 *
 * Exit: 0 on SIGINT/SIGTERM; 1 auth_error or close 1008; 3 no connection,
 * no answer to the auth frame, close 1001/1013 or a dropped connection.
 */
#include <civetweb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/util.h"
#include "http/cli.h"

#define AUTH_WAIT_MS 15000

typedef struct tail {
    int json;
    const char *url;       /* for the "listening" line */
    atomic_int authed;     /* auth_ok came */
    atomic_int closed;     /* the connection ended */
    atomic_int close_code; /* of the server's close frame, or 0 */
    atomic_int refused;    /* auth_error came: error holds why */
    char error[256];
} tail;

/* ------------------------------------------------------- the reader */

static void print_event(const json_t *ev)
{
    const char *type = sgw_cli_str(ev, "type");
    if (strcmp(type, "sms_inbound") == 0) {
        printf("%s  %s  received  %s -> %s: %s\n", sgw_cli_str(ev, "timestamp"),
               sgw_cli_str(ev, "messageId"), sgw_cli_str(ev, "from"), sgw_cli_str(ev, "to"),
               sgw_cli_str(ev, "body"));
        return;
    }
    const char *rc = sgw_cli_str(ev, "rcMessageId"), *err = sgw_cli_str(ev, "error");
    printf("%s  %s  %s%s%s%s%s\n", sgw_cli_str(ev, "timestamp"), sgw_cli_str(ev, "messageId"),
           sgw_cli_str(ev, "status"), *rc ? "  " : "", rc, *err ? "  " : "", err);
}

static int on_text(tail *t, const char *data, size_t len)
{
    json_t *ev = json_loadb(data, len, 0, NULL);
    const char *type = sgw_cli_str(ev, "type");
    if (strcmp(type, "auth_ok") == 0) {
        atomic_store(&t->authed, 1);
        fprintf(stderr, "smsgw tail: listening on %s/ws (Ctrl-C to stop)\n", t->url);
    } else if (strcmp(type, "auth_error") == 0) {
        snprintf(t->error, sizeof t->error, "%s", sgw_cli_str(ev, "error"));
        atomic_store(&t->refused, 1);
    } else if (strcmp(type, "sms_status") == 0 || strcmp(type, "sms_inbound") == 0) {
        if (t->json)
            printf("%.*s\n", (int)len, data);
        else
            print_event(ev);
        fflush(stdout);
    } /* ping and anything new: ignored */
    json_decref(ev);
    return 1;
}

static int on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *ud)
{
    tail *t = ud;
    int op = bits & 0xf;
    if (op == MG_WEBSOCKET_OPCODE_TEXT)
        return on_text(t, data, len);
    if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) {
        if (len >= 2)
            atomic_store(&t->close_code, ((unsigned char)data[0] << 8) | (unsigned char)data[1]);
        return 0;
    }
    return 1; /* pings, pongs, binary */
}

static void on_close(const struct mg_connection *conn, void *ud)
{
    atomic_store(&((tail *)ud)->closed, 1);
}

/* ---------------------------------------------------- the main thread */

typedef struct ws_addr {
    char host[256], path[1024];
    int port, tls;
} ws_addr;

static int ws_address(const char *url, ws_addr *a)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
    if (ok) {
        a->tls = strcmp(scheme, "https") == 0;
        a->port = atoi(port);
        size_t hl = strlen(host);
        if (host[0] == '[' && hl > 2) /* IPv6 literal: civetweb wants it bare */
            snprintf(a->host, sizeof a->host, "%.*s", (int)(hl - 2), host + 1);
        else
            snprintf(a->host, sizeof a->host, "%s", host);
        size_t pl = strlen(path);
        while (pl && path[pl - 1] == '/')
            pl--;
        snprintf(a->path, sizeof a->path, "%.*s/ws", (int)pl, path);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return ok;
}

/* The first frame: a fresh token's, or the key's (--auth key). */
static int auth_frame(const sgw_cli *c, char **frame)
{
    const char *how = sgw_cli_opt(c, "auth");
    if (how && strcmp(how, "key") == 0) {
        json_t *f = json_pack("{s:s, s:s}", "type", "auth", "apiKey", c->key);
        *frame = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        return SGW_CLI_OK;
    }
    if (how && strcmp(how, "token") != 0)
        return sgw_cli_usage_error(c, "--auth is token or key, not '%s'", how);
    sgw_cli_resp r;
    sgw_cli_http(c, "POST", "/v1/ws/token", NULL, NULL, &r);
    int rc = sgw_cli_outcome(c, &r);
    if (rc == SGW_CLI_OK) {
        json_t *f = json_pack("{s:s, s:s}", "type", "auth", "token", sgw_cli_str(r.json, "token"));
        *frame = json_dumps(f, JSON_COMPACT);
        json_decref(f);
    }
    sgw_cli_resp_fini(&r);
    return rc;
}

static int closed_why(const sgw_cli *c, tail *t)
{
    int code = atomic_load(&t->close_code);
    if (atomic_load(&t->refused) || code == 1008) {
        fprintf(stderr, "smsgw tail: the server refused the WebSocket authentication%s%s "
                        "(close 1008, policy violation)\n",
                t->error[0] ? ": " : "", t->error);
        return SGW_CLI_REFUSED;
    }
    if (code == 1013)
        fprintf(stderr, "smsgw tail: the server dropped this subscriber: it fell too far "
                        "behind the events (close 1013, try again later)\n");
    else if (code == 1001)
        fprintf(stderr, "smsgw tail: the server is going away: it is shutting down "
                        "(close 1001)\n");
    else if (code)
        fprintf(stderr, "smsgw tail: the server closed the WebSocket (close %d)\n", code);
    else
        fprintf(stderr, "smsgw tail: the connection to %s was lost\n", c->url);
    return SGW_CLI_UNREACHABLE;
}

/* Wait for a signal (0) or the end of the session (its exit code). */
static int follow(const sgw_cli *c, tail *t, const sigset_t *sigs)
{
    int64_t t0 = sgw_mono_ms();
    for (;;) {
        struct timespec tick = { 0, 100 * 1000000L };
        if (sigtimedwait(sigs, NULL, &tick) > 0)
            return SGW_CLI_OK;
        if (atomic_load(&t->closed) || atomic_load(&t->refused))
            return closed_why(c, t);
        if (!atomic_load(&t->authed) && sgw_mono_ms() - t0 > AUTH_WAIT_MS) {
            fprintf(stderr, "smsgw tail: no answer to the WebSocket authentication in %d s\n",
                    AUTH_WAIT_MS / 1000);
            return SGW_CLI_UNREACHABLE;
        }
    }
}

static int run_tail(sgw_cli *c)
{
    ws_addr a;
    if (!ws_address(c->url, &a))
        return sgw_cli_usage_error(c, "cannot make a WebSocket address of '%s'", c->url);
    char *frame = NULL;
    int rc = auth_frame(c, &frame);
    if (rc != SGW_CLI_OK)
        return rc;
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old); /* civetweb's reader inherits it */
    tail t = { .json = c->json, .url = c->url };
    char ebuf[256] = "";
    mg_init_library(a.tls ? MG_FEATURES_TLS : 0);
    struct mg_connection *conn = mg_connect_websocket_client(
        a.host, a.port, a.tls, ebuf, sizeof ebuf, a.path, NULL, on_data, on_close, &t);
    if (!conn) {
        fprintf(stderr, "smsgw tail: cannot open the WebSocket at %s%s: %s\n", c->url, "/ws",
                ebuf[0] ? ebuf : "connection failed");
        rc = SGW_CLI_UNREACHABLE;
    } else if (mg_websocket_client_write(conn, MG_WEBSOCKET_OPCODE_TEXT, frame,
                                         strlen(frame)) <= 0) {
        fprintf(stderr, "smsgw tail: the WebSocket closed before authentication\n");
        rc = SGW_CLI_UNREACHABLE;
    } else {
        rc = follow(c, &t, &sigs);
        if (rc == SGW_CLI_OK && !atomic_load(&t.closed)) {
            static const char bye[2] = { 1000 >> 8, (char)(1000 & 0xff) };
            mg_websocket_client_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, bye, 2);
        }
    }
    if (conn)
        mg_close_connection(conn);
    mg_exit_library();
    memset(frame, 0, strlen(frame));
    free(frame);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static const sgw_cli_flag tail_flags[] = {
    { "auth", "HOW", "token (default: a single-use token from POST /v1/ws/token) or key" },
    { NULL, NULL, NULL },
};

const sgw_cli_cmd sgw_cli_tail_cmds[] = {
    { .path = "tail", .args = "",
      .summary = "print live sms_status and sms_inbound events (WebSocket /ws)",
      .details = "One line per event: time, message id, status, then the provider's message id\n"
      "or the error (inbound: from -> to: text); --json prints each event as it came.\n"
      "Pings are ignored. Runs until SIGINT or SIGTERM (exit 0). An app key sees its\n"
      "app's messages and its tenant's inbound ones; an admin key sees everything.\n"
      "A refused authentication exits 1 (close 1008); a lost connection, a server\n"
      "shutting down (1001) or a subscriber dropped for falling behind (1013) exit 3.\n",
      .flags = tail_flags, .run = run_tail },
    { .path = NULL },
};
