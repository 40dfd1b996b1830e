/*
 * http/h_ws.c — the WebSocket on the HTTP port (SPEC section 8): POST
 * /v1/ws/token and civetweb's handlers for /ws. Sessions, tokens and the
 * fan-out are ws/hub.c's.
 *
 * The first frame must be {"type":"auth","token":"wst_..."} or
 * {"type":"auth","apiKey":"sgw_..."}; the answer is {"type":"auth_ok"} or
 * {"type":"auth_error","error":...} and close 1008:
 *   "Invalid JSON"             not JSON
 *   "Send auth first"          JSON, but not an object with type "auth";
 *                              also when no auth frame came within
 *                              ws.auth_timeout_ms
 *   "Invalid or expired token" a token that is unknown, used or expired
 *                              (token wins when both are given)
 *   "Invalid API key"          an unknown key, no token or apiKey string, or
 *                              an app key whose tenant is not active
 * Frames after auth_ok are ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "http/http.h"
#include "ws/auth_frame.h"
#include "ws/ws.h"

void h_ws_token(sgw_req *r)
{
    if (!r->srv->ws) {
        sgw_reply_error(r, 503, "unavailable", "Starting");
        return;
    }
    sgw_ws_who who = { .admin = r->auth.role == SGW_ROLE_ADMIN, .test = r->auth.test };
    snprintf(who.app, sizeof who.app, "%s", r->auth.app);
    snprintf(who.tenant, sizeof who.tenant, "%s", r->auth.tenant);
    char tok[72];
    sgw_err rv = sgw_ws_token_issue(r->srv->ws, &who, tok);
    if (rv == SGW_EBUSY) {
        sgw_reply_error(r, 503, "unavailable", "Too many outstanding WebSocket tokens");
        return;
    }
    if (rv != SGW_OK) {
        sgw_reply_error(r, 500, "internal", "Could not create a token");
        return;
    }
    sgw_reply_json(r, 200, json_pack("{s:s, s:I}", "token", tok, "expiresIn",
                                     (json_int_t)sgw_ws_token_ttl_s(r->srv->ws)));
}

static int ws_connect(const struct mg_connection *conn, void *cbdata)
{
    (void)conn;
    (void)cbdata;
    return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
    sgw_http *h = cbdata;
    sgw_ws_conn *c = sgw_ws_open(h->ws, conn);
    mg_set_user_connection_data(conn, c);
    if (!c)
        sgw_ws_send_close(conn, 1001);
}

static int auth_error(struct mg_connection *conn, sgw_ws_conn *c, const char *error)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "{\"type\":\"auth_error\",\"error\":\"%s\"}", error);
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, buf, (size_t)n);
    sgw_ws_send_close(conn, 1008);
    sgw_ws_auth_failed(c);
    return 0; /* civetweb closes the connection */
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
    sgw_http *h = cbdata;
    sgw_ws_conn *c = mg_get_user_connection_data(conn);
    int op = bits & 0x0f;
    if (!c || op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
        return 0;
    if (op != MG_WEBSOCKET_OPCODE_TEXT && op != MG_WEBSOCKET_OPCODE_BINARY)
        return 1; /* ping, pong, continuation */
    if (sgw_ws_is_authed(c))
        return 1;
    json_t *o; /* holds cred */
    const char *cred;
    sgw_ws_frame_kind kind = sgw_ws_auth_frame(data, len, &o, &cred);
    if (kind != SGW_WS_FRAME_TOKEN && kind != SGW_WS_FRAME_API_KEY)
        return auth_error(conn, c, sgw_ws_auth_frame_error(kind));
    sgw_ws_who who = { 0 };
    if (kind == SGW_WS_FRAME_TOKEN) {
        int ok = sgw_ws_token_redeem(h->ws, cred, &who);
        json_decref(o);
        if (!ok || (!who.admin && sgw_store_tenant_active(h->deps.store, who.tenant) != 1))
            return auth_error(conn, c, "Invalid or expired token");
    } else {
        sgw_auth a = { 0 };
        int found = sgw_auth_lookup(h, cred, &a);
        json_decref(o);
        if (!found || (a.role == SGW_ROLE_APP &&
                       sgw_store_tenant_active(h->deps.store, a.tenant) != 1))
            return auth_error(conn, c, "Invalid API key");
        who.admin = a.role == SGW_ROLE_ADMIN;
        who.test = a.test;
        snprintf(who.app, sizeof who.app, "%s", a.app);
        snprintf(who.tenant, sizeof who.tenant, "%s", a.tenant);
    }
    if (!sgw_ws_authed(c, &who)) {
        sgw_ws_send_close(conn, 1001);
        return 0;
    }
    return 1;
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    sgw_ws_close(mg_get_user_connection_data(conn));
    mg_set_user_connection_data(conn, NULL);
}

sgw_err sgw_ws_http_start(sgw_http *h, char *why, size_t whysz)
{
    if (!mg_check_feature(MG_FEATURES_WEBSOCKET)) {
        snprintf(why, whysz, "civetweb was built without WebSocket support");
        return SGW_ECONFIG;
    }
    sgw_err rv = sgw_ws_hub_new(h->deps.cfg, &h->ws, why, whysz);
    if (rv != SGW_OK)
        return rv;
    mg_set_websocket_handler(h->ctx, "/ws", ws_connect, ws_ready, ws_data, ws_close, h);
    return SGW_OK;
}

void sgw_ws_http_shutdown(sgw_http *h)
{
    sgw_ws_hub_shutdown(h->ws);
}

void sgw_ws_http_free(sgw_http *h)
{
    sgw_ws_hub_destroy(&h->ws);
}
